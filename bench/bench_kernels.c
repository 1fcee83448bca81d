/* bench_kernels.c - throughput of the matmul paths at GPT-2 124M shapes, and the memory read
 * bandwidth that bounds decoding. Usage: bench_kernels [threads]. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "core/common.h"
#include "core/cpu.h"
#include "core/kernels.h"
#include "core/matmul.h"
#include "core/threadpool.h"

static void fill(float *p, size_t n) {
    for (size_t i = 0; i < n; i++) p[i] = (float)((i * 2654435761u) % 1000) / 1000.0f - 0.5f;
}

typedef struct { const float *p; size_t n; float out[512]; } bw_job;
static void bw_task(void *ctx, int64_t b, int64_t e, int t) {
    bw_job *j = ctx;
    float s = 0;
    const attn_kernels *k = attn_kernels_get();
    for (int64_t i = b; i < e; i += 4096) s += k->max(j->p + i, ATTN_MIN(4096, e - i));
    j->out[t] = s;
}

int main(int argc, char **argv) {
    int threads = argc > 1 ? atoi(argv[1]) : 0;
    attn_threads_init(threads);
    printf("isa %s, %d threads\n", attn_isa_name(attn_isa_current()), attn_threads_count());
    /* read bandwidth over 1 GiB */
    size_t n = (size_t)1 << 28;
    float *big = attn_alloc(n * 4);
    fill(big, n);
    bw_job bj = {.p = big, .n = n};
    double best = 1e9;
    for (int r = 0; r < 5; r++) {
        double t0 = attn_time_s();
        attn_parallel_for((int64_t)n, 4096, bw_task, &bj);
        double dt = attn_time_s() - t0;
        if (dt < best) best = dt;
    }
    printf("read bandwidth: %.1f GB/s\n", n * 4 / best / 1e9);
    attn_free(big);
    int64_t shapes[][2] = {{768, 2304}, {768, 768}, {768, 3072}, {3072, 768}};
    for (int s = 0; s < 4; s++) {
        int64_t K = shapes[s][0], N = shapes[s][1], M = 512;
        float *w = attn_alloc(K * N * 4), *x = attn_alloc(M * K * 4), *y = attn_alloc(M * N * 4);
        fill(w, K * N), fill(x, M * K);
        attn_weight wt = {.data = w, .dtype = ATTN_F32, .n_in = K, .n_out = N, .in_major = true};
        double tb = 1e9, tv = 1e9;
        for (int r = 0; r < 5; r++) {
            double t0 = attn_time_s();
            attn_matmul(y, x, M, &wt, NULL);
            double dt = attn_time_s() - t0;
            if (dt < tb) tb = dt;
        }
        for (int r = 0; r < 50; r++) {
            double t0 = attn_time_s();
            attn_matmul(y, x, 1, &wt, NULL);
            double dt = attn_time_s() - t0;
            if (dt < tv) tv = dt;
        }
        printf("K=%lld N=%lld: GEMM M=512 %.1f GFLOP/s; GEMV %.1f GB/s\n", (long long)K, (long long)N,
               2.0 * M * N * K / tb / 1e9, K * N * 4 / tv / 1e9);
        attn_free(w), attn_free(x), attn_free(y);
    }
    return 0;
}
