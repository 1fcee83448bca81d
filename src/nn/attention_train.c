/* attention_train.c - causal attention with saved probabilities, and its backward.
 * Work is split by (sequence, key/value head): a unit owns the key and value columns of
 * its head, and the query columns of every query head that shares them, so the backward's
 * += into dK and dV never races and sums in a fixed order (bit-identical for any thread
 * count). Softmax backward per row: ds = p ⊙ (dp - p·dp), with dp = dout · Vᵀ. */
#include "attention_train.h"

#include <string.h>
#include "core/common.h"
#include "core/kernels.h"
#include "core/matmul.h"
#include "core/threadpool.h"

#define ROW_SLOT 2 /* per-thread scratch slot for one row of dp (attention.c's score slot) */

typedef struct {
    float *out, *probs_out, *dqkv; /* forward writes out and probs_out; backward dqkv */
    const float *dout, *qkv, *probs;
    int64_t B, T;
    const attn_attention_shape *s;
    const attn_kernels *K;
} attn_train_job;

/* Column offsets inside one qkv row. */
static int64_t row_width(const attn_attention_shape *s) {
    return (int64_t)(s->n_heads + 2 * s->n_kv_heads) * s->head_dim;
}
static int64_t k_col(const attn_attention_shape *s, int g) { return (int64_t)(s->n_heads + g) * s->head_dim; }
static int64_t v_col(const attn_attention_shape *s, int g) {
    return (int64_t)(s->n_heads + s->n_kv_heads + g) * s->head_dim;
}

/* Query head h of sequence b, position t: probabilities and output row. */
static void forward_row(const attn_train_job *j, int64_t b, int h, int g, int64_t t) {
    const attn_attention_shape *s = j->s;
    const attn_kernels *K = j->K;
    int hd = s->head_dim;
    int64_t ld = row_width(s), T = j->T, n = t + 1;
    const float *rows = j->qkv + b * T * ld, *q = rows + t * ld + (int64_t)h * hd;
    float *p = j->probs_out + ((b * s->n_heads + h) * T + t) * T;
    for (int64_t u = 0; u < n; u++) p[u] = s->scale * K->dot(q, rows + u * ld + k_col(s, g), hd);
    float sum = K->exp_sum(p, K->max(p, n), n);
    K->scale(p, 1.0f / sum, n);
    float *o = j->out + (b * T + t) * (int64_t)s->n_heads * hd + (int64_t)h * hd;
    memset(o, 0, (size_t)hd * sizeof(float));
    for (int64_t u = 0; u < n; u++) K->axpy(o, p[u], rows + u * ld + v_col(s, g), hd);
}

static void forward_task(void *ctx, int64_t begin, int64_t end, int thread) {
    (void)thread;
    const attn_train_job *j = ctx;
    int kv = j->s->n_kv_heads, group = j->s->n_heads / kv;
    for (int64_t i = begin; i < end; i++) {
        int64_t b = i / kv;
        int g = (int)(i % kv);
        for (int h = g * group; h < (g + 1) * group; h++)
            for (int64_t t = 0; t < j->T; t++) forward_row(j, b, h, g, t);
    }
}

void attn_attention_train_forward(float *out, float *probs, const float *qkv, int64_t B, int64_t T,
                                  const attn_attention_shape *shape) {
    attn_train_job j = {.out = out, .probs_out = probs, .qkv = qkv, .B = B, .T = T, .s = shape,
                        .K = attn_kernels_get()};
    attn_parallel_for(B * shape->n_kv_heads, 1, forward_task, &j);
}

/* The backward of forward_row; dp is scratch for t + 1 floats. */
static void backward_row(const attn_train_job *j, int64_t b, int h, int g, int64_t t, float *dp) {
    const attn_attention_shape *s = j->s;
    const attn_kernels *K = j->K;
    int hd = s->head_dim;
    int64_t ld = row_width(s), T = j->T, n = t + 1;
    const float *rows = j->qkv + b * T * ld, *q = rows + t * ld + (int64_t)h * hd;
    float *drows = j->dqkv + b * T * ld, *dq = drows + t * ld + (int64_t)h * hd;
    const float *p = j->probs + ((b * s->n_heads + h) * T + t) * T;
    const float *dout = j->dout + (b * T + t) * (int64_t)s->n_heads * hd + (int64_t)h * hd;
    for (int64_t u = 0; u < n; u++) {
        dp[u] = K->dot(dout, rows + u * ld + v_col(s, g), hd);
        K->axpy(drows + u * ld + v_col(s, g), p[u], dout, hd); /* dV += p · dout */
    }
    float pdp = K->dot(p, dp, n);
    for (int64_t u = 0; u < n; u++) {
        float ds = p[u] * (dp[u] - pdp) * s->scale; /* d score, through the scale */
        K->axpy(dq, ds, rows + u * ld + k_col(s, g), hd);
        K->axpy(drows + u * ld + k_col(s, g), ds, q, hd);
    }
}

static void backward_task(void *ctx, int64_t begin, int64_t end, int thread) {
    const attn_train_job *j = ctx;
    float *dp = attn_scratch(thread, ROW_SLOT, 0); /* reserved by attn_attention_backward */
    int kv = j->s->n_kv_heads, group = j->s->n_heads / kv;
    for (int64_t i = begin; i < end; i++) {
        int64_t b = i / kv;
        int g = (int)(i % kv);
        for (int h = g * group; h < (g + 1) * group; h++)
            for (int64_t t = 0; t < j->T; t++) backward_row(j, b, h, g, t, dp);
    }
}

int attn_attention_backward(float *dqkv, const float *dout, const float *qkv, const float *probs, int64_t B,
                            int64_t T, const attn_attention_shape *shape) {
    for (int t = 0; t < attn_threads_count(); t++)
        if (!attn_scratch(t, ROW_SLOT, (size_t)T)) return attn_error("out of memory for attention backward rows");
    attn_train_job j = {.dqkv = dqkv, .dout = dout, .qkv = qkv, .probs = probs, .B = B, .T = T, .s = shape,
                        .K = attn_kernels_get()};
    attn_parallel_for(B * shape->n_kv_heads, 1, backward_task, &j);
    return 0;
}
