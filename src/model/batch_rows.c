/* batch_rows.c - cutting a batch into passes of stacked rows, and the logits a pass owes
 * (see batch_rows.h). */
#include "batch_rows.h"

#include <math.h>
#include <stdint.h>
#include <string.h>
#include "core/common.h"

bool attn_batch_next_pass(attn_batch_pass *p, const attn_model *m, const attn_batch_item *items, int n_items,
                          int64_t max_rows) {
    if (!p->segs) p->segs = m->segs;
    p->n_segs = 0, p->rows = 0;
    while (p->item < n_items && p->rows < max_rows) {
        const attn_batch_item *it = &items[p->item];
        int64_t n = ATTN_MIN(it->n - p->done, max_rows - p->rows);
        bool ends = p->done + n == it->n;
        float *logits = !it->logits         ? NULL
                        : it->all_logits ? it->logits + p->done * m->info.vocab_size
                        : ends           ? it->logits
                                         : NULL;
        p->segs[p->n_segs++] = (attn_batch_segment){.seq = it->seq, .tokens = it->tokens + p->done, .row = p->rows,
                                                    .n = n, .pos = m->n_past[it->seq] + p->done, .logits = logits,
                                                    .all = it->all_logits};
        p->rows += n;
        p->done = ends ? 0 : p->done + n;
        p->item += ends;
    }
    return p->n_segs > 0;
}

/* NaN or Inf logits come from broken weights or hyperparameters (a NaN norm weight, say);
 * passed on, they are sampled as token 0 or reported as "perplexity nan" with success. The
 * exponent test is an OR over integers in 16 independent lanes, which the baseline x86-64
 * build vectorizes (8 us for SmolLM2's 49,152 logits, against 14 with one accumulator). */
static int check_finite(const float *logits, int64_t rows, int64_t vocab) {
    const int64_t n = rows * vocab;
    uint32_t acc[16] = {0}, bad = 0;
    int64_t i = 0;
    for (; i + 16 <= n; i += 16)
        for (int k = 0; k < 16; k++) {
            uint32_t u;
            memcpy(&u, &logits[i + k], sizeof u);
            acc[k] |= (u & 0x7f800000u) + 0x00800000u; /* carries into bit 31 only for exponent 0xff */
        }
    for (int k = 0; k < 16; k++) bad |= acc[k];
    for (; i < n; i++) bad |= isfinite(logits[i]) ? 0 : 0x80000000u;
    if (!(bad & 0x80000000u)) return 0;
    for (i = 0; isfinite(logits[i]); i++) {}
    return attn_error("the model computed a logit of %g (token %lld): its weights or hyperparameters are broken",
                      (double)logits[i], (long long)(i % vocab));
}

/* Multiplies k normed rows by the head into their places: straight there when they follow
 * one another in memory (a batch's slots decoding in order), else through buf. */
static int flush(float *const *dst, int k, const float *h, const attn_weight *head, float *buf) {
    bool in_order = true;
    for (int i = 1; i < k; i++) in_order = in_order && dst[i] == dst[0] + i * head->n_out;
    if (in_order) return attn_matmul(dst[0], h, k, head, NULL) || check_finite(dst[0], k, head->n_out) ? -1 : 0;
    if (attn_matmul(buf, h, k, head, NULL) != 0 || check_finite(buf, k, head->n_out) != 0) return -1;
    for (int i = 0; i < k; i++) memcpy(dst[i], buf + i * head->n_out, (size_t)head->n_out * sizeof(float));
    return 0;
}

int attn_batch_logits(const attn_batch_pass *p, const float *x, int64_t dim, float *h, const attn_weight *head,
                      attn_final_norm norm, const void *family, float *buf) {
    for (int i = 0; i < p->n_segs; i++) { /* segments owing every row's: straight into place */
        const attn_batch_segment *s = &p->segs[i];
        if (!s->logits || !s->all) continue;
        norm(family, h, x + s->row * dim, s->n);
        if (attn_matmul(s->logits, h, s->n, head, NULL) || check_finite(s->logits, s->n, head->n_out)) return -1;
    }
    float *dst[ATTN_BATCH_LOGIT_ROWS];
    int k = 0;
    for (int i = 0; i < p->n_segs; i++) {
        const attn_batch_segment *s = &p->segs[i];
        if (!s->logits || s->all) continue;
        norm(family, h + k * dim, x + (s->row + s->n - 1) * dim, 1);
        dst[k++] = s->logits;
        if (k == ATTN_BATCH_LOGIT_ROWS) {
            if (flush(dst, k, h, head, buf) != 0) return -1;
            k = 0;
        }
    }
    return k ? flush(dst, k, h, head, buf) : 0;
}

void attn_batch_attend(const attn_batch_pass *p, const attn_kv_cache *cache, int layer, float *att, int64_t att_ld,
                       const float *q, int64_t q_ld, const float *k, const float *v, int64_t kv_ld,
                       const attn_attention_shape *shape) {
    int64_t max_pos = cache->max_pos;
    for (int i0 = 0; i0 < p->n_segs; i0 += ATTN_ATTENTION_MAX_SEQS) {
        attn_attention_seq seqs[ATTN_ATTENTION_MAX_SEQS];
        int n = ATTN_MIN(ATTN_ATTENTION_MAX_SEQS, p->n_segs - i0);
        for (int i = 0; i < n; i++) {
            const attn_batch_segment *g = &p->segs[i0 + i];
            void *kc = attn_kv_keys(cache, layer, g->seq), *vc = attn_kv_values(cache, layer, g->seq);
            seqs[i] = (attn_attention_seq){.out = att + g->row * att_ld, .q = q + g->row * q_ld, .q_stride = q_ld,
                                           .k_cache = kc, .v_cache = vc, .k_new = k + g->row * kv_ld,
                                           .v_new = v + g->row * kv_ld, .new_stride = kv_ld, .pos0 = g->pos, .T = g->n};
        }
        attn_attention_causal_many(seqs, n, max_pos, cache->type, shape);
    }
}
