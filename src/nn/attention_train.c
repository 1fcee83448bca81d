/* attention_train.c - causal attention with saved probabilities, and its backward.
 * Work is split by (sequence, key/value head): a unit owns the key and value columns of
 * its head, and the query columns of every query head that shares them, so the backward's
 * += into dK and dV never races and sums in a fixed order (bit-identical for any thread
 * count). Each head's products are whole-matrix GEMMs on contiguous copies of Q, K, V
 * (attn_matmul_serial): the causal half they compute in vain costs far less than
 * row-by-row dot products would. Softmax backward per row: ds = p ⊙ (dp - p·dp). */
#include "attention_train.h"

#include <string.h>
#include "core/common.h"
#include "core/kernels.h"
#include "core/matmul.h"
#include "core/threadpool.h"

#define WORK_SLOT 3 /* per-thread scratch slot for one unit's copies and products */

typedef struct {
    float *out, *probs_out, *dqkv; /* forward writes out and probs_out; backward dqkv */
    const float *dout, *qkv, *probs;
    int64_t B, T;
    const attn_attention_shape *s;
    const attn_kernels *K;
} attn_train_job;

/* One thread's workspace: seven [T][hd] matrices, two [T][T] ones, GEMM packing space. */
typedef struct {
    float *q, *k, *v, *dout, *tmp, *dk, *dv, *sq, *sq_t, *gemm;
} workspace;

static size_t workspace_floats(int64_t T, int hd) {
    return (size_t)(7 * T * hd + 2 * T * T) + attn_matmul_serial_scratch(T);
}

static workspace carve(float *base, int64_t T, int hd) {
    workspace w;
    float **parts[] = {&w.q, &w.k, &w.v, &w.dout, &w.tmp, &w.dk, &w.dv};
    for (int i = 0; i < 7; i++) *parts[i] = base + (int64_t)i * T * hd;
    w.sq = base + 7 * T * hd, w.sq_t = w.sq + T * T, w.gemm = w.sq_t + T * T;
    return w;
}

/* Column offsets inside one qkv row. */
static int64_t row_width(const attn_attention_shape *s) {
    return (int64_t)(s->n_heads + 2 * s->n_kv_heads) * s->head_dim;
}
static int64_t k_col(const attn_attention_shape *s, int g) { return (int64_t)(s->n_heads + g) * s->head_dim; }
static int64_t v_col(const attn_attention_shape *s, int g) {
    return (int64_t)(s->n_heads + s->n_kv_heads + g) * s->head_dim;
}

/* dst[T][hd] <- columns [col, col+hd) of T rows with stride ld, or back (+=) when add. */
static void gather(float *dst, const float *src, int64_t T, int64_t ld, int hd) {
    for (int64_t t = 0; t < T; t++) memcpy(dst + t * hd, src + t * ld, (size_t)hd * sizeof(float));
}
static void scatter_add(float *dst, const float *src, int64_t T, int64_t ld, int hd, const attn_kernels *K) {
    for (int64_t t = 0; t < T; t++) K->axpy(dst + t * ld, 1.0f, src + t * hd, hd);
}
static void transpose(float *dst, const float *src, int64_t T) {
    for (int64_t i = 0; i < T; i++)
        for (int64_t j = 0; j < T; j++) dst[j * T + i] = src[i * T + j];
}

static attn_weight mat(const float *data, int64_t n_in, int64_t n_out, bool in_major) {
    return (attn_weight){.data = data, .dtype = ATTN_F32, .n_in = n_in, .n_out = n_out, .in_major = in_major};
}

/* Row t of the scores -> probabilities over positions 0..t; the rest become 0. */
static void softmax_causal(float *p, int64_t T, float scale, const attn_kernels *K) {
    for (int64_t t = 0; t < T; t++) {
        float *row = p + t * T;
        int64_t n = t + 1;
        K->scale(row, scale, n);
        float sum = K->exp_sum(row, K->max(row, n), n);
        K->scale(row, 1.0f / sum, n);
        memset(row + n, 0, (size_t)(T - n) * sizeof(float));
    }
}

static void forward_unit(const attn_train_job *j, int64_t b, int g, workspace *w) {
    const attn_attention_shape *s = j->s;
    int hd = s->head_dim, group = s->n_heads / s->n_kv_heads;
    int64_t ld = row_width(s), T = j->T, out_ld = (int64_t)s->n_heads * hd;
    const float *rows = j->qkv + b * T * ld;
    gather(w->k, rows + k_col(s, g), T, ld, hd);
    gather(w->v, rows + v_col(s, g), T, ld, hd);
    attn_weight kt = mat(w->k, hd, T, false), v = mat(w->v, T, hd, true);
    for (int h = g * group; h < (g + 1) * group; h++) {
        float *p = j->probs_out + (b * s->n_heads + h) * T * T, *out = j->out + b * T * out_ld + (int64_t)h * hd;
        gather(w->q, rows + (int64_t)h * hd, T, ld, hd);
        attn_matmul_serial(p, w->q, T, &kt, false, w->gemm); /* scores = Q K^T */
        softmax_causal(p, T, s->scale, j->K);
        attn_matmul_serial(w->tmp, p, T, &v, false, w->gemm); /* out = P V */
        for (int64_t t = 0; t < T; t++) memcpy(out + t * out_ld, w->tmp + t * hd, (size_t)hd * sizeof(float));
    }
}

static void forward_task(void *ctx, int64_t begin, int64_t end, int thread) {
    const attn_train_job *j = ctx;
    workspace w = carve(attn_scratch(thread, WORK_SLOT, 0), j->T, j->s->head_dim); /* reserved by the caller */
    for (int64_t i = begin; i < end; i++) forward_unit(j, i / j->s->n_kv_heads, (int)(i % j->s->n_kv_heads), &w);
}

static int reserve(int64_t T, int hd) {
    if (attn_scratch_reserve(WORK_SLOT, workspace_floats(T, hd)))
        return attn_error("out of memory for the attention workspace (T = %lld)", (long long)T);
    return 0;
}

void attn_attention_train_forward(float *out, float *probs, const float *qkv, int64_t B, int64_t T,
                                  const attn_attention_shape *shape) {
    attn_train_job j = {.out = out, .probs_out = probs, .qkv = qkv, .B = B, .T = T, .s = shape,
                        .K = attn_kernels_get()};
    if (reserve(T, shape->head_dim) != 0) return; /* the tape's planned memory makes this unreachable */
    attn_parallel_for(B * shape->n_kv_heads, 1, forward_task, &j);
}

/* dS = P ⊙ (dP - rowsum(P ⊙ dP)) · scale, in place over dp; zero above the diagonal. */
static void softmax_backward(float *dp, const float *p, int64_t T, float scale, const attn_kernels *K) {
    for (int64_t t = 0; t < T; t++) {
        float *d = dp + t * T;
        const float *pr = p + t * T;
        int64_t n = t + 1;
        float pdp = K->dot(pr, d, n);
        for (int64_t u = 0; u < n; u++) d[u] = pr[u] * (d[u] - pdp) * scale;
        memset(d + n, 0, (size_t)(T - n) * sizeof(float));
    }
}

static void backward_head(const attn_train_job *j, int64_t b, int h, workspace *w) {
    const attn_attention_shape *s = j->s;
    int hd = s->head_dim;
    int64_t ld = row_width(s), T = j->T, out_ld = (int64_t)s->n_heads * hd;
    const float *p = j->probs + (b * s->n_heads + h) * T * T;
    gather(w->q, j->qkv + b * T * ld + (int64_t)h * hd, T, ld, hd);
    gather(w->dout, j->dout + b * T * out_ld + (int64_t)h * hd, T, out_ld, hd);
    attn_weight vt = mat(w->v, hd, T, false), dout = mat(w->dout, T, hd, true);
    attn_weight k = mat(w->k, T, hd, true), q = mat(w->q, T, hd, true);
    attn_matmul_serial(w->sq, w->dout, T, &vt, false, w->gemm); /* dP = dO V^T */
    softmax_backward(w->sq, p, T, s->scale, j->K);             /* dS */
    transpose(w->sq_t, p, T);
    attn_matmul_serial(w->dv, w->sq_t, T, &dout, true, w->gemm); /* dV += P^T dO */
    attn_matmul_serial(w->tmp, w->sq, T, &k, false, w->gemm);    /* dQ = dS K */
    scatter_add(j->dqkv + b * T * ld + (int64_t)h * hd, w->tmp, T, ld, hd, j->K);
    transpose(w->sq_t, w->sq, T);
    attn_matmul_serial(w->dk, w->sq_t, T, &q, true, w->gemm); /* dK += dS^T Q */
}

static void backward_task(void *ctx, int64_t begin, int64_t end, int thread) {
    const attn_train_job *j = ctx;
    const attn_attention_shape *s = j->s;
    int hd = s->head_dim, group = s->n_heads / s->n_kv_heads;
    int64_t T = j->T, ld = row_width(s);
    workspace w = carve(attn_scratch(thread, WORK_SLOT, 0), T, hd); /* reserved by the caller */
    for (int64_t i = begin; i < end; i++) {
        int64_t b = i / s->n_kv_heads;
        int g = (int)(i % s->n_kv_heads);
        const float *rows = j->qkv + b * T * ld;
        gather(w.k, rows + k_col(s, g), T, ld, hd);
        gather(w.v, rows + v_col(s, g), T, ld, hd);
        memset(w.dk, 0, (size_t)(T * hd) * sizeof(float));
        memset(w.dv, 0, (size_t)(T * hd) * sizeof(float));
        for (int h = g * group; h < (g + 1) * group; h++) backward_head(j, b, h, &w);
        scatter_add(j->dqkv + b * T * ld + k_col(s, g), w.dk, T, ld, hd, j->K);
        scatter_add(j->dqkv + b * T * ld + v_col(s, g), w.dv, T, ld, hd, j->K);
    }
}

int attn_attention_backward(float *dqkv, const float *dout, const float *qkv, const float *probs, int64_t B,
                            int64_t T, const attn_attention_shape *shape) {
    if (reserve(T, shape->head_dim) != 0) return -1;
    attn_train_job j = {.dqkv = dqkv, .dout = dout, .qkv = qkv, .probs = probs, .B = B, .T = T, .s = shape,
                        .K = attn_kernels_get()};
    attn_parallel_for(B * shape->n_kv_heads, 1, backward_task, &j);
    return 0;
}
