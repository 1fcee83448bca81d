/* layers.c - norms, embeddings, residual adds and activations. */
#include "layers.h"

#include <math.h>
#include "core/kernels.h"
#include "core/threadpool.h"

typedef struct {
    float *out;
    const float *x, *w, *b;
    int64_t dim;
    float eps;
} ln_job;

/* Sums in double (the variance of large, offset rows stays exact) over LN_LANES interleaved
 * partial sums: independent chains the compiler can vectorize, in the same order on every
 * CPU, where one running sum waited on each add's latency. */
#define LN_LANES 8

static double lane_sum(const double *s) {
    double t = 0;
    for (int l = 0; l < LN_LANES; l++) t += s[l];
    return t;
}

void attn_layernorm_row(float *out, const float *x, const float *w, const float *b, int64_t dim, float eps,
                        float *mean_out, float *rstd_out) {
    double s[LN_LANES] = {0}, q[LN_LANES] = {0};
    int64_t body = dim / LN_LANES * LN_LANES;
    for (int64_t i = 0; i < body; i += LN_LANES)
        for (int l = 0; l < LN_LANES; l++) s[l] += x[i + l];
    double sum = lane_sum(s);
    for (int64_t i = body; i < dim; i++) sum += x[i];
    double mean = sum / dim;
    for (int64_t i = 0; i < body; i += LN_LANES)
        for (int l = 0; l < LN_LANES; l++) q[l] += (x[i + l] - mean) * (x[i + l] - mean);
    double sq = lane_sum(q);
    for (int64_t i = body; i < dim; i++) sq += (x[i] - mean) * (x[i] - mean);
    float inv = (float)(1.0 / sqrt(sq / dim + eps)), m = (float)mean;
    for (int64_t i = 0; i < dim; i++) out[i] = (x[i] - m) * inv * w[i] + b[i];
    if (mean_out) *mean_out = m;
    if (rstd_out) *rstd_out = inv;
}

static void layernorm_rows(void *ctx, int64_t r0, int64_t r1, int thread) {
    (void)thread;
    const ln_job *j = ctx;
    for (int64_t r = r0; r < r1; r++)
        attn_layernorm_row(j->out + r * j->dim, j->x + r * j->dim, j->w, j->b, j->dim, j->eps, NULL, NULL);
}

void attn_layernorm(float *out, const float *x, const float *w, const float *b, int64_t rows, int64_t dim, float eps) {
    ln_job j = {.out = out, .x = x, .w = w, .b = b, .dim = dim, .eps = eps};
    attn_parallel_for(rows, 8, layernorm_rows, &j); /* a single row (decoding) runs inline */
}

void attn_add(float *y, const float *x, int64_t n) { attn_kernels_get()->axpy(y, 1.0f, x, n); }

typedef struct {
    float *x;
    const attn_kernels *k;
} gelu_job;

static void gelu_task(void *ctx, int64_t b, int64_t e, int thread) {
    (void)thread;
    gelu_job *j = ctx;
    j->k->gelu_tanh(j->x + b, e - b);
}

void attn_gelu_tanh(float *x, int64_t n) {
    gelu_job j = {.x = x, .k = attn_kernels_get()};
    attn_parallel_for(n, 4096, gelu_task, &j);
}

enum { LSE_CHUNK = 1024 }; /* exp of a row goes through a stack buffer this long */

float attn_log_sum_exp(const float *x, int64_t n) {
    const attn_kernels *k = attn_kernels_get();
    float buf[LSE_CHUNK], max = k->max(x, n);
    double sum = 0;
    for (int64_t i = 0; i < n; i += LSE_CHUNK) {
        int64_t len = ATTN_MIN((int64_t)LSE_CHUNK, n - i);
        memcpy(buf, x + i, (size_t)len * sizeof(float));
        sum += k->exp_sum(buf, max, len);
    }
    return max + (float)log(sum);
}
