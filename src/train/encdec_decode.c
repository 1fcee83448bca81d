/* encdec_decode.c - greedy and beam-search decoding of the encoder-decoder (see encdec.h).
 *
 * A batch of sentences is encoded once, on the tape (the training forward's encoder, dropout
 * off). Each decoder layer's cross-attention keys and values are computed from that output
 * once; its self-attention keeps a cache of every earlier position's keys and values, so a
 * step feeds only the newest token of each row (n sentences x beam rows). The step is the
 * tape decoder's arithmetic row by row (same LayerNorm, matmuls, softmax), so its logits
 * match the training forward's to rounding (test_encdec checks it). Beam search reorders the
 * caches along the surviving hypotheses' parents after each step. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "core/common.h"
#include "core/kernels.h"
#include "core/matmul.h"
#include "core/threadpool.h"
#include "encdec_internal.h"
#include "nn/layers.h"

typedef struct {
    attn_encdec *m;
    int n, beam;      /* sentences, hypotheses per sentence */
    int64_t R, L, S;  /* rows (n·beam), cached positions per row, padded source length */
    const int32_t *src_len;
    float *cross_kv;  /* per layer [n][S][2d]: keys then values */
    float *self_kv;   /* per layer [R][L][2d]: keys then values of every cached position */
    float *spare_kv;  /* the same size: the reordered cache before it is swapped in */
    float *x, *h, *qkv, *att, *tmp, *ff, *logits, *scores;
} decoder;

attn_encdec_search attn_encdec_search_defaults(void) {
    return (attn_encdec_search){.beam = 4, .alpha = 0.6f, .max_extra = 50};
}

static void decoder_free(decoder *d) {
    free(d->cross_kv), free(d->self_kv), free(d->spare_kv), free(d->x);
    *d = (decoder){0};
}

static float *param_data(const attn_encdec *m, int i) { return m->params[i].data; }

static attn_weight matrix(const float *w, int64_t n_in, int64_t n_out) {
    return (attn_weight){.data = w, .dtype = ATTN_F32, .n_in = n_in, .n_out = n_out, .in_major = false};
}

/* Encodes n sources (padded to S) and computes every layer's cross-attention keys and values. */
static int decoder_init(decoder *d, attn_encdec *m, int n, int beam, const int32_t *src, const int32_t *src_len,
                        int64_t S, int64_t L) {
    int64_t D = m->c.d_model, layers = m->c.n_decoder_layers, R = (int64_t)n * beam;
    int64_t scores = ATTN_MAX(L, S) * attn_threads_count();
    *d = (decoder){.m = m, .n = n, .beam = beam, .R = R, .L = L, .S = S, .src_len = src_len};
    d->cross_kv = malloc(sizeof(float) * (size_t)(layers * n * S * 2 * D));
    d->self_kv = malloc(sizeof(float) * (size_t)(layers * R * L * 2 * D));
    d->spare_kv = beam > 1 ? malloc(sizeof(float) * (size_t)(layers * R * L * 2 * D)) : NULL;
    size_t row_floats = (size_t)(D * 8 + m->c.d_ff + m->c.vocab);
    d->x = malloc(sizeof(float) * (row_floats * (size_t)R + (size_t)scores));
    if (!d->cross_kv || !d->self_kv || (beam > 1 && !d->spare_kv) || !d->x) {
        decoder_free(d);
        return attn_error("out of memory for decoding %d sentences (beam %d, %lld positions)", n, beam, (long long)L);
    }
    d->h = d->x + R * D, d->qkv = d->h + R * D, d->att = d->qkv + R * 3 * D, d->tmp = d->att + R * D;
    d->ff = d->tmp + R * D, d->logits = d->ff + R * m->c.d_ff, d->scores = d->logits + R * m->c.vocab;
    attn_tvar mem = attn_encdec_encode(m, src, src_len, n, S);
    if (attn_tape_status(m->tape)) {
        decoder_free(d);
        return -1;
    }
    for (int64_t l = 0; l < layers; l++) {
        int at = m->dec_layer[l] + DEC_CA;
        attn_weight w = matrix(param_data(m, at + IN_W) + D * D, D, 2 * D);
        if (attn_matmul(d->cross_kv + l * n * S * 2 * D, mem.val, n * S, &w, param_data(m, at + IN_B) + D)) {
            decoder_free(d);
            return -1;
        }
    }
    return 0;
}

/* ---- One step ---- */

typedef struct {
    const decoder *d;
    const float *q, *kv; /* q rows [R][d]; kv: the self cache of this layer, or its cross keys/values */
    float *out;
    int64_t t;           /* self-attention: attend positions 0..t; cross: -1 */
    const attn_kernels *K;
} attend_job;

/* softmax(scale · q·k_u) · v over n keys at k (stride ld), v = k + D: one query of one head. */
static void attend_one(float *out, const float *q, const float *k, int64_t ld, int64_t D, int64_t n, int hd,
                       float scale, float *s, const attn_kernels *K) {
    for (int64_t u = 0; u < n; u++) s[u] = K->dot(q, k + u * ld, hd);
    K->scale(s, scale, n);
    float max = K->max(s, n), sum = K->exp_sum(s, max, n);
    K->scale(s, 1.0f / sum, n);
    memset(out, 0, (size_t)hd * sizeof(float));
    for (int64_t u = 0; u < n; u++) K->axpy(out, s[u], k + D + u * ld, hd);
}

static void attend_task(void *ctx, int64_t begin, int64_t end, int thread) {
    const attend_job *j = ctx;
    const decoder *d = j->d;
    attn_attention_shape s = encdec_shape(d->m);
    int64_t D = d->m->c.d_model, hd = s.head_dim;
    float *scores = d->scores + (int64_t)thread * ATTN_MAX(d->L, d->S);
    for (int64_t i = begin; i < end; i++) {
        int64_t r = i / s.n_heads, h = i % s.n_heads, sentence = r / d->beam;
        const float *k = j->t >= 0 ? j->kv + r * d->L * 2 * D : j->kv + sentence * d->S * 2 * D;
        int64_t n = j->t >= 0 ? j->t + 1 : d->src_len[sentence];
        attend_one(j->out + r * D + h * hd, j->q + r * D + h * hd, k + h * hd, 2 * D, D, n, (int)hd, s.scale, scores,
                   j->K);
    }
}

static void attend(const decoder *d, const float *q, const float *kv, int64_t t, float *out) {
    attend_job j = {.d = d, .q = q, .kv = kv, .out = out, .t = t, .K = attn_kernels_get()};
    attn_parallel_for(d->R * d->m->c.n_heads, 1, attend_task, &j);
}

static void layernorm_rows(const decoder *d, float *out, const float *x, int norm) {
    const attn_encdec *m = d->m;
    attn_layernorm(out, x, param_data(m, norm), param_data(m, norm + 1), d->R, m->c.d_model, m->c.eps);
}

/* A sub-layer's input: LN(x) (pre-LN) or x. */
static const float *sublayer_in(const decoder *d, int norm) {
    if (!d->m->c.pre_ln) return d->x;
    layernorm_rows(d, d->h, d->x, norm);
    return d->h;
}

/* x <- x + y (pre-LN) or LN(x + y) (post-LN). */
static void sublayer_out(const decoder *d, const float *y, int norm) {
    attn_add(d->x, y, d->R * d->m->c.d_model);
    if (!d->m->c.pre_ln) layernorm_rows(d, d->x, d->x, norm);
}

static int linear_rows(const decoder *d, float *y, const float *x, const float *w, const float *b, int64_t n_in,
                       int64_t n_out) {
    attn_weight wt = matrix(w, n_in, n_out);
    return attn_matmul(y, x, d->R, &wt, b);
}

/* The logits [R][vocab] of position t given each row's token there. */
static int decoder_step(decoder *d, const int32_t *tokens, int64_t t) {
    attn_encdec *m = d->m;
    int64_t D = m->c.d_model, F = m->c.d_ff, R = d->R;
    const float *E = param_data(m, 0), *pe = m->pe + t * D;
    float scale = sqrtf((float)D);
    for (int64_t r = 0; r < R; r++)
        for (int64_t i = 0; i < D; i++) d->x[r * D + i] = scale * E[(int64_t)tokens[r] * D + i] + pe[i];
    for (int64_t l = 0; l < m->c.n_decoder_layers; l++) {
        int at = m->dec_layer[l];
        float *cache = d->self_kv + l * R * d->L * 2 * D;
        /* causal self-attention: this position's keys and values join the cache */
        const float *h = sublayer_in(d, at + DEC_NORM1);
        if (linear_rows(d, d->qkv, h, param_data(m, at + DEC_SA + IN_W), param_data(m, at + DEC_SA + IN_B), D, 3 * D))
            return -1;
        for (int64_t r = 0; r < R; r++)
            memcpy(cache + (r * d->L + t) * 2 * D, d->qkv + r * 3 * D + D, sizeof(float) * (size_t)(2 * D));
        for (int64_t r = 0; r < R; r++) memmove(d->qkv + r * D, d->qkv + r * 3 * D, sizeof(float) * (size_t)D);
        attend(d, d->qkv, cache, t, d->att);
        if (linear_rows(d, d->tmp, d->att, param_data(m, at + DEC_SA + OUT_W), param_data(m, at + DEC_SA + OUT_B), D, D))
            return -1;
        sublayer_out(d, d->tmp, at + DEC_NORM1);
        /* cross-attention over the encoder output */
        h = sublayer_in(d, at + DEC_NORM2);
        if (linear_rows(d, d->qkv, h, param_data(m, at + DEC_CA + IN_W), param_data(m, at + DEC_CA + IN_B), D, D))
            return -1;
        attend(d, d->qkv, d->cross_kv + l * d->n * d->S * 2 * D, -1, d->att);
        if (linear_rows(d, d->tmp, d->att, param_data(m, at + DEC_CA + OUT_W), param_data(m, at + DEC_CA + OUT_B), D, D))
            return -1;
        sublayer_out(d, d->tmp, at + DEC_NORM2);
        /* feed-forward */
        h = sublayer_in(d, at + DEC_NORM3);
        if (linear_rows(d, d->ff, h, param_data(m, at + DEC_FF + FF1_W), param_data(m, at + DEC_FF + FF1_B), D, F))
            return -1;
        for (int64_t i = 0; i < R * F; i++) d->ff[i] = d->ff[i] > 0.0f ? d->ff[i] : 0.0f;
        if (linear_rows(d, d->tmp, d->ff, param_data(m, at + DEC_FF + FF2_W), param_data(m, at + DEC_FF + FF2_B), F, D))
            return -1;
        sublayer_out(d, d->tmp, at + DEC_NORM3);
    }
    const float *y = d->x;
    if (m->c.pre_ln) layernorm_rows(d, d->h, d->x, m->dec_norm), y = d->h;
    return linear_rows(d, d->logits, y, E, NULL, D, m->c.vocab);
}

/* Row r's logits -> log-probabilities, in place. */
static void log_softmax(float *z, int64_t V, const attn_kernels *K) {
    float max = K->max(z, V);
    double sum = 0;
    for (int64_t v = 0; v < V; v++) sum += exp((double)(z[v] - max));
    float lse = max + (float)log(sum);
    for (int64_t v = 0; v < V; v++) z[v] -= lse;
}

/* ---- Sentence batches ---- */

/* Sentences [first, first + count) padded into one source batch that fits the model's
 * plan; returns count (at least 1) or -1 when sentence `first` alone does not fit. */
static int next_chunk(const attn_encdec *m, int n, int first, const int32_t *src_n, int max_rows) {
    int64_t S = 0;
    int count = 0;
    while (first + count < n && count < max_rows) {
        int64_t s = ATTN_MAX(S, (int64_t)src_n[first + count] + 1);
        if (s > m->c.max_len || (int64_t)(count + 1) * s > m->B * m->S || count + 1 > m->B) break;
        S = s, count++;
    }
    if (count == 0)
        return attn_error("source sentence %d has %d tokens: the model takes at most %lld (with EOS)", first,
                          src_n[first], (long long)ATTN_MIN(m->c.max_len, m->B * m->S));
    return count;
}

typedef struct {
    int32_t *ids, *lens;
    int64_t S;
} source_batch;

static int build_sources(source_batch *sb, const attn_encdec_config *c, int n, const int32_t *const *src,
                         const int32_t *src_n) {
    attn_encdec_batch_buf buf = {0};
    if (attn_encdec_batch_build(&buf, c, n, src, src_n, NULL, NULL)) return -1;
    sb->ids = buf.mem, sb->lens = buf.mem + buf.b.B * buf.b.S, sb->S = buf.b.S;
    memmove(sb->lens, buf.b.src_len, sizeof(int32_t) * (size_t)n); /* the lens follow the ids */
    return 0;
}

/* The most tokens sentence i may get. */
static int64_t length_limit(const attn_encdec *m, int32_t src_n, int max_extra, int64_t out_cap) {
    return ATTN_MAX(1, ATTN_MIN(ATTN_MIN((int64_t)src_n + max_extra, out_cap), m->c.max_len));
}

typedef int (*chunk_fn)(attn_encdec *m, const source_batch *sb, int n, const int32_t *src_n, void *ctx, int first);

/* Runs fn on each batch of sentences that fits the plan. */
static int for_each_chunk(attn_encdec *m, int n, const int32_t *const *src, const int32_t *src_n, int beam,
                          int max_extra, int64_t out_cap, chunk_fn fn, void *ctx) {
    if (n < 0 || (n > 0 && (!src || !src_n))) return attn_error("decode: no sources");
    if (max_extra < 0 || out_cap < 1) return attn_error("decode: need max_extra >= 0 and room for an output token");
    int max_rows = (int)ATTN_MAX(1, ATTN_MIN(m->B, 256 / beam));
    for (int first = 0; first < n;) {
        int count = next_chunk(m, n, first, src_n, max_rows);
        if (count < 0) return -1;
        source_batch sb;
        if (build_sources(&sb, &m->c, count, src + first, src_n + first)) return -1;
        int rc = fn(m, &sb, count, src_n + first, ctx, first);
        free(sb.ids);
        if (rc) return -1;
        first += count;
    }
    return 0;
}

/* ---- Greedy ---- */

typedef struct {
    int max_extra;
    int32_t *out;
    int64_t out_cap;
    int32_t *out_n;
    float *score;
    float alpha;
    int beam;
} output;

static int greedy_chunk(attn_encdec *m, const source_batch *sb, int n, const int32_t *src_n, void *ctx, int first) {
    output *o = ctx;
    int64_t V = m->c.vocab, L = 1;
    for (int i = 0; i < n; i++) L = ATTN_MAX(L, length_limit(m, src_n[i], o->max_extra, o->out_cap));
    decoder d;
    if (decoder_init(&d, m, n, 1, sb->ids, sb->lens, sb->S, L)) return -1;
    int32_t *tokens = malloc(sizeof(int32_t) * (size_t)n);
    bool *done = calloc((size_t)n, sizeof(bool));
    int rc = tokens && done ? 0 : attn_error("out of memory");
    for (int i = 0; i < n && !rc; i++) tokens[i] = m->c.bos_id, o->out_n[first + i] = 0;
    const attn_kernels *K = attn_kernels_get();
    int live = n;
    for (int64_t t = 0; t < L && live > 0 && !rc; t++) {
        if ((rc = decoder_step(&d, tokens, t))) break;
        for (int i = 0; i < n; i++) {
            if (done[i]) continue;
            float *z = d.logits + (int64_t)i * V;
            log_softmax(z, V, K);
            int32_t best = 0;
            for (int64_t v = 1; v < V; v++)
                if (z[v] > z[best]) best = (int32_t)v;
            int32_t *len = &o->out_n[first + i];
            if (best == m->c.eos_id) done[i] = true, live--;
            else o->out[(int64_t)(first + i) * o->out_cap + (*len)++] = tokens[i] = best;
            if (!done[i] && *len >= length_limit(m, src_n[i], o->max_extra, o->out_cap)) done[i] = true, live--;
        }
    }
    free(tokens), free(done);
    decoder_free(&d);
    return rc;
}

int attn_encdec_greedy(attn_encdec *m, int n, const int32_t *const *src, const int32_t *src_n, int max_extra,
                       int32_t *out, int64_t out_cap, int32_t *out_n) {
    output o = {.max_extra = max_extra, .out = out, .out_cap = out_cap, .out_n = out_n};
    return for_each_chunk(m, n, src, src_n, 1, max_extra, out_cap, greedy_chunk, &o);
}

/* ---- Beam search ---- */

typedef struct {
    float score, logp; /* the hypothesis' log-probability with this token, and the token's own */
    int beam;
    int32_t token;
} candidate;

/* a ranks before b: higher score; on a tie the likelier token, then the lower beam and id. */
static bool better(const candidate *a, const candidate *b) {
    if (a->score != b->score) return a->score > b->score;
    if (a->logp != b->logp) return a->logp > b->logp;
    return a->beam != b->beam ? a->beam < b->beam : a->token < b->token;
}

/* Keeps the k best in top[0..*n) sorted, best first. */
static void offer(candidate *top, int *n, int k, candidate c) {
    if (*n == k && !better(&c, &top[k - 1])) return;
    int i = *n < k ? (*n)++ : k - 1;
    while (i > 0 && better(&c, &top[i - 1])) top[i] = top[i - 1], i--;
    top[i] = c;
}

typedef struct {
    output *o;
    decoder *d;
    int K;
    float *score;      /* [R] live hypotheses' log-probabilities (-inf: none) */
    int32_t *hist;     /* [R][L] their tokens */
    int32_t *spare;    /* [R][L] the next step's */
    int32_t *tokens;   /* [R] newest token */
    int *parent;       /* [R] */
    int *finished;     /* [n] hypotheses ended */
    float *best;       /* [n] best normalised score so far */
    bool *done;        /* [n] */
} beam_state;

static float length_penalty(int64_t len, float alpha) { return powf((5.0f + (float)len) / 6.0f, alpha); }

/* A hypothesis of len tokens (the last its EOS, or cut at the limit) ends with log-prob score. */
static void finish(beam_state *b, int i, int first, const int32_t *toks, int64_t n_toks, int64_t len, float score) {
    output *o = b->o;
    float norm = score / length_penalty(len, o->alpha);
    b->finished[i]++;
    if (b->finished[i] > 1 && norm <= b->best[i]) return;
    b->best[i] = norm;
    memcpy(o->out + (int64_t)(first + i) * o->out_cap, toks, sizeof(int32_t) * (size_t)n_toks);
    o->out_n[first + i] = (int32_t)n_toks;
    if (o->score) o->score[first + i] = norm;
}

/* The best normalised score any of sentence i's live hypotheses can still reach: log-probs
 * only fall as a hypothesis grows and the length penalty is largest at the limit. Ending
 * the sentence as soon as `beam` hypotheses have ended (fairseq's rule alone) can stop
 * before the best one ends: poor beams ending early (their EOS is among the `beam` best
 * candidates when the rest of the vocabulary is poorer still) fill the count. */
static float best_live_bound(const beam_state *b, int i, int kept, int64_t limit) {
    float best = -INFINITY;
    for (int64_t r = (int64_t)i * b->K; r < (int64_t)i * b->K + kept; r++)
        best = ATTN_MAX(best, b->score[r] / length_penalty(limit, b->o->alpha));
    return best;
}

/* Sentence i's candidates after step t: ended hypotheses recorded, the K best live ones
 * become its rows (parents and tokens set). */
static void beam_select(beam_state *b, int i, int first, int64_t t, int64_t limit, int32_t eos) {
    decoder *d = b->d;
    int K = b->K, n_top = 0;
    int64_t V = d->m->c.vocab, L = d->L;
    candidate top[2 * 64];
    for (int k = 0; k < K; k++) {
        int64_t r = (int64_t)i * K + k;
        if (b->score[r] == -INFINITY) continue;
        const float *lp = d->logits + r * V;
        for (int64_t v = 0; v < V; v++)
            offer(top, &n_top, 2 * K, (candidate){.score = b->score[r] + lp[v], .logp = lp[v], .beam = k,
                                                  .token = (int32_t)v});
    }
    int kept = 0;
    for (int j = 0; j < n_top && kept < K; j++) {
        const candidate *c = &top[j];
        int64_t from = (int64_t)i * K + c->beam;
        if (c->token == eos) {
            if (j < K) finish(b, i, first, b->hist + from * L, t, t + 1, c->score);
            continue;
        }
        int64_t r = (int64_t)i * K + kept++;
        b->parent[r] = (int)from;
        memcpy(b->spare + r * L, b->hist + from * L, sizeof(int32_t) * (size_t)t);
        b->spare[r * L + t] = b->tokens[r] = c->token;
        b->score[r] = c->score;
    }
    for (int64_t r = (int64_t)i * K + kept; r < (int64_t)(i + 1) * K; r++)
        b->score[r] = -INFINITY, b->parent[r] = (int)r; /* fewer than K live: empty rows */
    if (b->finished[i] >= K && best_live_bound(b, i, kept, limit) <= b->best[i]) b->done[i] = true;
    else if (t + 1 >= limit) { /* at the limit: the live hypotheses end here */
        for (int64_t r = (int64_t)i * K; r < (int64_t)i * K + kept; r++)
            finish(b, i, first, b->spare + r * L, t + 1, t + 1, b->score[r]);
        b->done[i] = true;
    }
}

/* The self-attention caches (positions 0..t) and histories follow each row's parent. With
 * one hypothesis per sentence every row is its own parent: only the histories swap. */
static void beam_reorder(beam_state *b, int64_t t) {
    decoder *d = b->d;
    int64_t D = d->m->c.d_model, row = d->L * 2 * D;
    for (int64_t l = 0; l < d->m->c.n_decoder_layers && b->K > 1; l++) {
        float *from = d->self_kv + l * d->R * row, *to = d->spare_kv + l * d->R * row;
        for (int64_t r = 0; r < d->R; r++)
            memcpy(to + r * row, from + b->parent[r] * row, sizeof(float) * (size_t)((t + 1) * 2 * D));
    }
    if (b->K > 1) {
        float *kv = d->self_kv;
        d->self_kv = d->spare_kv, d->spare_kv = kv;
    }
    int32_t *h = b->hist;
    b->hist = b->spare, b->spare = h;
}

static void beam_free(beam_state *b) {
    free(b->score), free(b->hist), free(b->spare), free(b->tokens), free(b->parent), free(b->finished), free(b->best);
    free(b->done);
}

static int beam_alloc(beam_state *b, int n, int64_t R, int64_t L) {
    b->score = malloc(sizeof(float) * (size_t)R), b->tokens = malloc(sizeof(int32_t) * (size_t)R);
    b->hist = calloc((size_t)(R * L), sizeof(int32_t)), b->spare = calloc((size_t)(R * L), sizeof(int32_t));
    b->parent = malloc(sizeof(int) * (size_t)R), b->finished = calloc((size_t)n, sizeof(int));
    b->best = malloc(sizeof(float) * (size_t)n), b->done = calloc((size_t)n, sizeof(bool));
    bool ok = b->score && b->tokens && b->hist && b->spare && b->parent && b->finished && b->best && b->done;
    return ok ? 0 : attn_error("out of memory for beam search");
}

static int beam_chunk(attn_encdec *m, const source_batch *sb, int n, const int32_t *src_n, void *ctx, int first) {
    output *o = ctx;
    int K = o->beam;
    int64_t V = m->c.vocab, R = (int64_t)n * K, L = 1;
    for (int i = 0; i < n; i++) L = ATTN_MAX(L, length_limit(m, src_n[i], o->max_extra, o->out_cap));
    decoder d;
    if (decoder_init(&d, m, n, K, sb->ids, sb->lens, sb->S, L)) return -1;
    beam_state b = {.o = o, .d = &d, .K = K};
    int rc = beam_alloc(&b, n, R, L);
    for (int64_t r = 0; r < R && !rc; r++) b.score[r] = r % K ? -INFINITY : 0.0f, b.tokens[r] = m->c.bos_id;
    for (int i = 0; i < n && !rc; i++) o->out_n[first + i] = 0;
    const attn_kernels *K_ = attn_kernels_get();
    for (int64_t t = 0; t < L && !rc; t++) {
        if ((rc = decoder_step(&d, b.tokens, t))) break;
        int live = 0;
        for (int64_t r = 0; r < R; r++) b.parent[r] = (int)r;
        for (int i = 0; i < n; i++) {
            if (b.done[i]) continue;
            for (int64_t r = (int64_t)i * K; r < (int64_t)(i + 1) * K; r++) log_softmax(d.logits + r * V, V, K_);
            beam_select(&b, i, first, t, length_limit(m, src_n[i], o->max_extra, o->out_cap), m->c.eos_id);
            live += !b.done[i];
        }
        if (!live) break;
        beam_reorder(&b, t);
    }
    beam_free(&b);
    decoder_free(&d);
    return rc;
}

int attn_encdec_beam(attn_encdec *m, int n, const int32_t *const *src, const int32_t *src_n,
                     const attn_encdec_search *s, int32_t *out, int64_t out_cap, int32_t *out_n, float *score) {
    if (s->beam < 1 || s->beam > 64 || 2 * (int64_t)s->beam > m->c.vocab)
        return attn_error("beam %d: need 1..64 and at most half the vocabulary", s->beam);
    if (!(s->alpha >= 0.0f)) return attn_error("beam search: alpha must be >= 0");
    output o = {.max_extra = s->max_extra, .out = out, .out_cap = out_cap, .out_n = out_n, .score = score,
                .alpha = s->alpha, .beam = s->beam};
    return for_each_chunk(m, n, src, src_n, s->beam, s->max_extra, out_cap, beam_chunk, &o);
}

/* ---- Teacher forcing, for tests ---- */

int attn_encdec_decoder_logits(attn_encdec *m, const attn_encdec_batch *b, float *logits) {
    if (b->B < 1 || b->B > m->B || b->B * b->S > m->B * m->S || b->T < 1 || b->T > m->c.max_len)
        return attn_error("decoder logits: the batch does not fit the model's plan");
    for (int64_t i = 0; i < b->B * b->T; i++)
        if (b->tgt_in[i] < 0 || b->tgt_in[i] >= m->c.vocab) return attn_error("decoder logits: token id out of range");
    decoder d;
    if (decoder_init(&d, m, (int)b->B, 1, b->src, b->src_len, b->S, b->T)) return -1;
    int32_t *tokens = malloc(sizeof(int32_t) * (size_t)b->B);
    int rc = tokens ? 0 : attn_error("out of memory");
    int64_t V = m->c.vocab;
    for (int64_t t = 0; t < b->T && !rc; t++) {
        for (int64_t r = 0; r < b->B; r++) tokens[r] = t < b->tgt_len[r] ? b->tgt_in[r * b->T + t] : m->c.pad_id;
        if ((rc = decoder_step(&d, tokens, t))) break;
        for (int64_t r = 0; r < b->B; r++)
            memcpy(logits + (r * b->T + t) * V, d.logits + r * V, sizeof(float) * (size_t)V);
    }
    free(tokens);
    decoder_free(&d);
    return rc;
}
