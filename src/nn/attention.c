/* attention.c - causal attention, parallel over (query, head) pairs. Each pair computes
 * its scores into a per-thread buffer, a max-subtracted softmax, and the weighted sum of
 * values; memory is O(positions) per thread. */
#include "attention.h"

#include <string.h>
#include "core/common.h"
#include "core/kernels.h"
#include "core/matmul.h"
#include "core/threadpool.h"

#define SCORE_SLOT 2

void attn_kv_store(float *k_cache, float *v_cache, const float *k, const float *v, int64_t src_stride, int64_t pos0,
                   int64_t T, int64_t kv_dim) {
    for (int64_t t = 0; t < T; t++) {
        memcpy(k_cache + (pos0 + t) * kv_dim, k + t * src_stride, (size_t)kv_dim * sizeof(float));
        memcpy(v_cache + (pos0 + t) * kv_dim, v + t * src_stride, (size_t)kv_dim * sizeof(float));
    }
}

int attn_attention_reserve(int64_t max_pos) {
    for (int t = 0; t < attn_threads_count(); t++)
        if (!attn_scratch(t, SCORE_SLOT, (size_t)max_pos + 16)) return -1;
    return 0;
}

typedef struct {
    float *out;
    const float *q, *k, *v;
    int64_t q_stride, pos0, T;
    const attn_attention_shape *s;
    const attn_kernels *kern;
} attn_job;

static void attend_one(const attn_job *j, int64_t t, int h, float *scores) {
    const attn_attention_shape *s = j->s;
    int hd = s->head_dim, group = s->n_heads / s->n_kv_heads;
    int64_t kv_dim = (int64_t)s->n_kv_heads * hd, n = j->pos0 + t + 1;
    const float *q = j->q + t * j->q_stride + (int64_t)h * hd;
    const float *k = j->k + (int64_t)(h / group) * hd, *v = j->v + (int64_t)(h / group) * hd;
    float *o = j->out + t * (int64_t)s->n_heads * hd + (int64_t)h * hd;
    for (int64_t p = 0; p < n; p++) scores[p] = j->kern->dot(q, k + p * kv_dim, hd) * s->scale;
    float sum = j->kern->exp_sum(scores, j->kern->max(scores, n), n);
    memset(o, 0, (size_t)hd * sizeof(float));
    for (int64_t p = 0; p < n; p++) j->kern->axpy(o, scores[p], v + p * kv_dim, hd);
    j->kern->scale(o, 1.0f / sum, hd);
}

static void attn_task(void *ctx, int64_t b, int64_t e, int thread) {
    const attn_job *j = ctx;
    float *scores = attn_scratch(thread, SCORE_SLOT, 0); /* reserved by the caller */
    /* head-major order: a contiguous range covers whole heads, so causal work balances */
    for (int64_t i = b; i < e; i++) attend_one(j, i % j->T, (int)(i / j->T), scores);
}

void attn_attention_causal(float *out, const float *q, int64_t q_stride, const float *k_cache, const float *v_cache,
                           int64_t pos0, int64_t T, const attn_attention_shape *shape) {
    attn_job j = {.out = out, .q = q, .k = k_cache, .v = v_cache, .q_stride = q_stride, .pos0 = pos0, .T = T,
                  .s = shape, .kern = attn_kernels_get()};
    attn_parallel_for(T * shape->n_heads, 1, attn_task, &j);
}
