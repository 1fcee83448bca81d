/* encdec_batch.c - the encoder-decoder's batches: padded layout of token lists, and
 * token-count batches from length-sorted buckets (see encdec.h). */
#include <stdlib.h>
#include <string.h>
#include "core/common.h"
#include "encdec.h"
#include "generate/sampler.h"

static int64_t longest(const int32_t *n, int count, int extra) {
    int64_t best = 1;
    for (int i = 0; i < count; i++) best = ATTN_MAX(best, (int64_t)n[i] + extra);
    return best;
}

int attn_encdec_batch_build(attn_encdec_batch_buf *buf, const attn_encdec_config *c, int n,
                            const int32_t *const *src, const int32_t *src_n, const int32_t *const *tgt,
                            const int32_t *tgt_n) {
    if (n < 1) return attn_error("encoder-decoder batch: no sequences");
    for (int i = 0; i < n; i++)
        if (src_n[i] < 0 || (tgt && tgt_n[i] < 0)) return attn_error("encoder-decoder batch: negative length");
    int64_t S = longest(src_n, n, 1), T = tgt ? longest(tgt_n, n, 1) : 0;
    size_t need = (size_t)(n * S + 3 * n * T + 2 * n);
    if (need > buf->cap) {
        int32_t *mem = realloc(buf->mem, need * sizeof(int32_t));
        if (!mem) return attn_error("out of memory for a batch of %d sequences", n);
        buf->mem = mem, buf->cap = need;
    }
    int32_t *s = buf->mem, *ti = s + n * S, *to = ti + n * T, *sl = to + n * T, *tl = sl + n;
    for (int i = 0; i < n; i++) {
        int32_t *row = s + (int64_t)i * S;
        memcpy(row, src[i], (size_t)src_n[i] * sizeof(int32_t));
        row[src_n[i]] = c->eos_id;
        for (int64_t k = src_n[i] + 1; k < S; k++) row[k] = c->pad_id;
        sl[i] = src_n[i] + 1;
        if (!tgt) continue;
        int32_t *in = ti + (int64_t)i * T, *out = to + (int64_t)i * T;
        in[0] = c->bos_id;
        memcpy(in + 1, tgt[i], (size_t)tgt_n[i] * sizeof(int32_t));
        memcpy(out, tgt[i], (size_t)tgt_n[i] * sizeof(int32_t));
        out[tgt_n[i]] = c->eos_id;
        for (int64_t k = tgt_n[i] + 1; k < T; k++) in[k] = c->pad_id, out[k] = -1;
        tl[i] = tgt_n[i] + 1;
    }
    buf->b = (attn_encdec_batch){.B = n, .S = S, .T = T, .src = s, .src_len = sl, .tgt_in = tgt ? ti : NULL,
                                 .tgt_out = tgt ? to : NULL, .tgt_len = tgt ? tl : NULL};
    return 0;
}

void attn_encdec_batch_free(attn_encdec_batch_buf *buf) {
    free(buf->mem);
    *buf = (attn_encdec_batch_buf){0};
}

/* ---- Token-count batches ---- */

typedef struct {
    int32_t src_n, tgt_n;
    int index;
} pair_length;

static int by_length(const void *a, const void *b) {
    const pair_length *x = a, *y = b;
    if (x->src_n != y->src_n) return x->src_n < y->src_n ? -1 : 1;
    if (x->tgt_n != y->tgt_n) return x->tgt_n < y->tgt_n ? -1 : 1;
    return x->index < y->index ? -1 : x->index > y->index; /* stable: one order on every platform */
}

/* The padded width a pair needs: its source with EOS, or BOS + target. */
static int64_t width(const pair_length *p) { return ATTN_MAX((int64_t)p->src_n, (int64_t)p->tgt_n) + 1; }

/* Cuts the sorted pairs into batches: one grows while count x widest stays within max_tokens. */
static int cut(const pair_length *p, int n, int64_t max_tokens, int max_sentences, int *starts) {
    int nb = 0;
    int64_t widest = 0;
    starts[0] = 0;
    for (int i = 0; i < n; i++) {
        int64_t w = ATTN_MAX(widest, width(&p[i])), count = i - starts[nb] + 1;
        if (count > 1 && (count * w > max_tokens || count > max_sentences)) starts[++nb] = i, w = width(&p[i]);
        widest = w;
    }
    starts[++nb] = n;
    return nb;
}

int attn_encdec_token_batches(int n, const int32_t *src_n, const int32_t *tgt_n, int64_t max_tokens,
                              int max_sentences, uint64_t seed, int *order, int *starts, int *n_batches) {
    if (n < 1 || max_tokens < 1 || max_sentences < 1) return attn_error("token batches: nothing to batch");
    pair_length *p = malloc(sizeof *p * (size_t)n);
    int *spans = malloc(sizeof(int) * 2 * ((size_t)n + 1));
    int rc = p && spans ? 0 : attn_error("out of memory");
    for (int i = 0; i < n && rc == 0; i++) {
        p[i] = (pair_length){.src_n = src_n[i], .tgt_n = tgt_n[i], .index = i};
        if (src_n[i] < 0 || tgt_n[i] < 0) rc = attn_error("token batches: pair %d has a negative length", i);
        else if (width(&p[i]) > max_tokens)
            rc = attn_error("token batches: pair %d needs %lld tokens, more than a batch holds (%lld)", i,
                            (long long)width(&p[i]), (long long)max_tokens);
    }
    if (rc == 0) {
        qsort(p, (size_t)n, sizeof *p, by_length);
        int nb = cut(p, n, max_tokens, max_sentences, starts);
        for (int b = 0; b < nb; b++) spans[2 * b] = starts[b], spans[2 * b + 1] = starts[b + 1];
        attn_rng r; /* Fisher-Yates over the batches; each keeps its pairs together */
        attn_rng_seed(&r, seed);
        for (int b = nb - 1; b > 0; b--) {
            int j = (int)(attn_rng_next(&r) % (uint64_t)(b + 1)), s0 = spans[2 * b], s1 = spans[2 * b + 1];
            spans[2 * b] = spans[2 * j], spans[2 * b + 1] = spans[2 * j + 1], spans[2 * j] = s0, spans[2 * j + 1] = s1;
        }
        for (int b = 0, at = 0; b < nb; b++) {
            starts[b] = at;
            for (int k = spans[2 * b]; k < spans[2 * b + 1]; k++) order[at++] = p[k].index;
        }
        *n_batches = nb;
    }
    free(p), free(spans);
    return rc;
}
