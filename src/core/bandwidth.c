/* bandwidth.c - see bandwidth.h. */
#include "bandwidth.h"

#include <stdlib.h>
#include "common.h"
#include "kernels.h"
#include "threadpool.h"

#define BW_ROW 1024 /* floats a row of the buffer read as a matrix */

struct attn_bw_probe {
    float *buf;
    size_t n; /* floats */
    float x[BW_ROW], sink[512];
};

attn_bw_probe *attn_bw_probe_new(size_t bytes) {
    attn_bw_probe *p = calloc(1, sizeof *p); /* 4 KB of x: off the stack */
    if (!p) {
        attn_error("out of memory for a bandwidth probe");
        return NULL;
    }
    p->n = bytes / sizeof(float) / BW_ROW * BW_ROW;
    if (!(p->buf = attn_alloc_stream(p->n * sizeof(float)))) {
        free(p);
        return NULL;
    }
    for (size_t i = 0; i < p->n; i++) p->buf[i] = (float)(i & 1023);
    for (int i = 0; i < BW_ROW; i++) p->x[i] = 1.0f;
    return p;
}

/* Reads [b, e) once, as the decoding GEMV reads a matrix: rows in order, one sequential
 * stream, asked for ahead (two streams read 25% slower on Zen 4; without its prefetches the
 * 2-vCPU EPYC read ~20% less than f32 decoding then did), so the bound is the best a kernel
 * of ours reads. */
static void bw_task(void *ctx, int64_t b, int64_t e, int t) {
    attn_bw_probe *p = ctx;
    const attn_kernels *k = attn_kernels_get();
    float y[64];
    for (int64_t at = b; at < e; at += 64 * BW_ROW) {
        int64_t rows = ATTN_MIN((int64_t)64, (e - at) / BW_ROW);
        k->gemv_nk(y, p->x, p->buf + at, ATTN_F32, BW_ROW, 0, rows);
        p->sink[t & 511] += y[0];
    }
}

double attn_bw_probe_run(attn_bw_probe *p, int reps) {
    double best = 1e30;
    for (int r = 0; r < reps; r++) {
        double t0 = attn_time_s();
        attn_parallel_for((int64_t)p->n, 1 << 16, bw_task, p);
        double dt = attn_time_s() - t0;
        best = dt < best ? dt : best;
    }
    return p->n * sizeof(float) / best / 1e9;
}

void attn_bw_probe_free(attn_bw_probe *p) {
    if (!p) return;
    attn_free_stream(p->buf, p->n * sizeof(float));
    free(p);
}
