/* llama_layers.c - RMSNorm and SwiGLU (see llama_layers.h), split across the thread pool. */
#include "llama_layers.h"

#include <math.h>
#include "core/kernels.h"
#include "core/threadpool.h"

typedef struct {
    float *out;
    const float *x, *w;
    int64_t dim;
    float eps;
} rms_job;

static void rmsnorm_rows(void *ctx, int64_t r0, int64_t r1, int thread) {
    (void)thread;
    const rms_job *j = ctx;
    for (int64_t r = r0; r < r1; r++) {
        const float *xr = j->x + r * j->dim;
        float *o = j->out + r * j->dim;
        /* a double sum (the mean of squares is then exact to f32 for any width), in the
         * kernels' eight lanes: the same bits on every ISA, and no chain of dependent adds
         * for the thread pool to wait on while decoding */
        double sq = attn_kernels_get()->sum_squares(xr, j->dim);
        float inv = (float)(1.0 / sqrt(sq / (double)j->dim + j->eps));
        for (int64_t i = 0; i < j->dim; i++) o[i] = j->w[i] * (xr[i] * inv);
    }
}

void attn_rmsnorm(float *out, const float *x, const float *w, int64_t rows, int64_t dim, float eps) {
    rms_job j = {.out = out, .x = x, .w = w, .dim = dim, .eps = eps};
    attn_parallel_for(rows, 8, rmsnorm_rows, &j); /* a single row (decoding) runs inline */
}

typedef struct {
    float *gate;
    const float *up;
} swiglu_job;

static void swiglu_task(void *ctx, int64_t b, int64_t e, int thread) {
    (void)thread;
    const swiglu_job *j = ctx;
    attn_kernels_get()->swiglu(j->gate + b, j->up + b, e - b);
}

void attn_swiglu(float *gate, const float *up, int64_t n) {
    swiglu_job j = {.gate = gate, .up = up};
    attn_parallel_for(n, 4096, swiglu_task, &j);
}
