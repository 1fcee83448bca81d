/* attention_train.c - causal attention saving the log-sum-exp, and its backward.
 * Work is split by (sequence, key/value head): a unit owns the key and value columns of
 * its head, and the query columns of every query head that shares them, so the backward's
 * += into dK and dV never races and sums in a fixed order (bit-identical for any thread
 * count). Each head's products are whole-matrix GEMMs on contiguous copies of Q, K, V
 * (attn_matmul_serial): the causal half they compute in vain costs far less than
 * row-by-row dot products would. The backward works on transposed scores Sᵀ = K Qᵀ, so
 * Pᵀ, dPᵀ and dSᵀ come straight out of GEMMs and feed dV = Pᵀ dO and dK = dSᵀ Q without a
 * T×T transpose; softmax backward uses D[t] = dO[t]·O[t] (= Σ_u P dP). */
#include "attention_train.h"

#include <math.h>
#include <string.h>
#include "core/common.h"
#include "core/kernels.h"
#include "core/matmul.h"
#include "core/threadpool.h"

#define WORK_SLOT 3 /* per-thread scratch slot for one unit's copies and products */

typedef struct {
    float *out, *lse_out, *dqkv; /* forward writes out and lse_out; backward dqkv */
    const float *dout, *o, *qkv, *lse;
    int64_t B, T;
    const attn_attention_shape *s;
    const attn_kernels *K;
} attn_train_job;

/* One thread's workspace: nine [T][hd] matrices (kt is [hd][T], dqt [hd][T]), two [T][T]
 * ones, a [T] row, GEMM packing space. */
typedef struct {
    float *q, *k, *v, *kt, *dout, *o, *dqt, *dk, *dv, *s, *ds, *d, *gemm;
} workspace;

static size_t workspace_floats(int64_t T, int hd) {
    return (size_t)(9 * T * hd + 2 * T * T + T) + attn_matmul_serial_scratch(ATTN_MAX(T, hd));
}

static workspace carve(float *base, int64_t T, int hd) {
    workspace w;
    float **parts[] = {&w.q, &w.k, &w.v, &w.kt, &w.dout, &w.o, &w.dqt, &w.dk, &w.dv};
    for (int i = 0; i < 9; i++) *parts[i] = base + (int64_t)i * T * hd;
    w.s = base + 9 * T * hd, w.ds = w.s + T * T, w.d = w.ds + T * T, w.gemm = w.d + T;
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

/* dst[T][hd] <- columns [col, col+hd) of T rows with stride ld, or back (+=). */
static void gather(float *dst, const float *src, int64_t T, int64_t ld, int hd) {
    for (int64_t t = 0; t < T; t++) memcpy(dst + t * hd, src + t * ld, (size_t)hd * sizeof(float));
}
static void scatter_add(float *dst, const float *src, int64_t T, int64_t ld, int hd, const attn_kernels *K) {
    for (int64_t t = 0; t < T; t++) K->axpy(dst + t * ld, 1.0f, src + t * hd, hd);
}

static attn_weight mat(const float *data, int64_t n_in, int64_t n_out, bool in_major) {
    return (attn_weight){.data = data, .dtype = ATTN_F32, .n_in = n_in, .n_out = n_out, .in_major = in_major};
}

/* Row t of the scores -> probabilities over positions 0..t (the rest become 0), and its
 * log-sum-exp (of the scaled scores) into lse[t]. */
static void softmax_causal(float *p, float *lse, int64_t T, float scale, const attn_kernels *K) {
    for (int64_t t = 0; t < T; t++) {
        float *row = p + t * T;
        int64_t n = t + 1;
        K->scale(row, scale, n);
        float max = K->max(row, n), sum = K->exp_sum(row, max, n);
        lse[t] = max + logf(sum);
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
        float *out = j->out + b * T * out_ld + (int64_t)h * hd;
        gather(w->q, rows + (int64_t)h * hd, T, ld, hd);
        attn_matmul_serial(w->s, w->q, T, &kt, false, w->gemm); /* scores = Q K^T */
        softmax_causal(w->s, j->lse_out + (b * s->n_heads + h) * T, T, s->scale, j->K);
        attn_matmul_serial(w->o, w->s, T, &v, false, w->gemm); /* out = P V */
        for (int64_t t = 0; t < T; t++) memcpy(out + t * out_ld, w->o + t * hd, (size_t)hd * sizeof(float));
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

void attn_attention_train_forward(float *out, float *lse, const float *qkv, int64_t B, int64_t T,
                                  const attn_attention_shape *shape) {
    attn_train_job j = {.out = out, .lse_out = lse, .qkv = qkv, .B = B, .T = T, .s = shape,
                        .K = attn_kernels_get()};
    if (reserve(T, shape->head_dim) != 0) return; /* the tape's planned memory makes this unreachable */
    attn_parallel_for(B * shape->n_kv_heads, 1, forward_task, &j);
}

/* Sᵀ (in place) -> Pᵀ: Pᵀ[u][t] = exp(scale·Sᵀ[u][t] - lse[t]) for the queries t >= u that
 * see key u, 0 for the rest. */
static void probs_transposed(float *st, const float *lse, int64_t T, float scale, const attn_kernels *K) {
    for (int64_t u = 0; u < T; u++) {
        float *row = st + u * T;
        memset(row, 0, (size_t)u * sizeof(float));
        for (int64_t t = u; t < T; t++) row[t] = scale * row[t] - lse[t];
        K->exp_sum(row + u, 0.0f, T - u);
    }
}

/* dPᵀ (in place) -> dSᵀ = Pᵀ ⊙ (dPᵀ - D[t]) · scale. */
static void softmax_backward_transposed(float *dpt, const float *pt, const float *d, int64_t T, float scale) {
    for (int64_t u = 0; u < T; u++) {
        float *row = dpt + u * T;
        const float *p = pt + u * T;
        memset(row, 0, (size_t)u * sizeof(float));
        for (int64_t t = u; t < T; t++) row[t] = p[t] * (row[t] - d[t]) * scale;
    }
}

static void transpose(float *dst, const float *src, int64_t rows, int64_t cols) {
    for (int64_t i = 0; i < rows; i++)
        for (int64_t c = 0; c < cols; c++) dst[c * rows + i] = src[i * cols + c];
}

static void backward_head(const attn_train_job *j, int64_t b, int h, workspace *w) {
    const attn_attention_shape *s = j->s;
    int hd = s->head_dim;
    int64_t ld = row_width(s), T = j->T, out_ld = (int64_t)s->n_heads * hd, at = b * T * out_ld + (int64_t)h * hd;
    const float *lse = j->lse + (b * s->n_heads + h) * T;
    gather(w->q, j->qkv + b * T * ld + (int64_t)h * hd, T, ld, hd);
    gather(w->dout, j->dout + at, T, out_ld, hd);
    gather(w->o, j->o + at, T, out_ld, hd);
    for (int64_t t = 0; t < T; t++) w->d[t] = j->K->dot(w->dout + t * hd, w->o + t * hd, hd);
    attn_weight qt = mat(w->q, hd, T, false), q = mat(w->q, T, hd, true);
    attn_weight doutt = mat(w->dout, hd, T, false), dout = mat(w->dout, T, hd, true), dst = mat(w->ds, T, T, true);
    attn_matmul_serial(w->s, w->k, T, &qt, false, w->gemm); /* Sᵀ = K Qᵀ */
    probs_transposed(w->s, lse, T, s->scale, j->K);         /* Pᵀ */
    attn_matmul_serial(w->dv, w->s, T, &dout, true, w->gemm); /* dV += Pᵀ dO */
    attn_matmul_serial(w->ds, w->v, T, &doutt, false, w->gemm); /* dPᵀ = V dOᵀ */
    softmax_backward_transposed(w->ds, w->s, w->d, T, s->scale); /* dSᵀ */
    attn_matmul_serial(w->dk, w->ds, T, &q, true, w->gemm);      /* dK += dSᵀ Q */
    attn_matmul_serial(w->dqt, w->kt, hd, &dst, false, w->gemm); /* dQᵀ = Kᵀ dSᵀ */
    float *dq = j->dqkv + b * T * ld + (int64_t)h * hd;
    for (int64_t t = 0; t < T; t++)
        for (int c = 0; c < hd; c++) dq[t * ld + c] += w->dqt[c * T + t];
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
        transpose(w.kt, w.k, T, hd);
        memset(w.dk, 0, (size_t)(T * hd) * sizeof(float));
        memset(w.dv, 0, (size_t)(T * hd) * sizeof(float));
        for (int h = g * group; h < (g + 1) * group; h++) backward_head(j, b, h, &w);
        scatter_add(j->dqkv + b * T * ld + k_col(s, g), w.dk, T, ld, hd, j->K);
        scatter_add(j->dqkv + b * T * ld + v_col(s, g), w.dv, T, ld, hd, j->K);
    }
}

int attn_attention_backward(float *dqkv, const float *dout, const float *out, const float *qkv, const float *lse,
                            int64_t B, int64_t T, const attn_attention_shape *shape) {
    if (reserve(T, shape->head_dim) != 0) return -1;
    attn_train_job j = {.dqkv = dqkv, .dout = dout, .o = out, .qkv = qkv, .lse = lse, .B = B, .T = T,
                        .s = shape, .K = attn_kernels_get()};
    attn_parallel_for(B * shape->n_kv_heads, 1, backward_task, &j);
    return 0;
}
