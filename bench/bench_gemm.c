/* bench_gemm.c - GFLOP/s of the packed GEMM (src/core/gemm.c) at the training step's shapes,
 * in f32 and in bf16 (AMX tiles or AVX512-BF16): forward y = x W, dX += dY Wᵀ, dW = Xᵀ dY
 * (written, as a training step's backward does; best of --reps), with W stored as the model
 * stores it: [K][N] (GPT-2's Conv1D) or [N][K] (the tied LM head, the embedding table).
 * Usage: bench_gemm [-t threads] [--reps 8] [--bf16] [--shape M,K,N,kn|nk]. Shapes: the
 * small model of bench_train.py (1024 tokens, width 384) and GPT-2 124M at B=4, T=64 (256
 * tokens), or the one --shape gives. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "core/common.h"
#include "core/gemm.h"
#include "core/gemm_acc.h"
#include "core/matmul.h"
#include "core/threadpool.h"

static void fill(float *p, size_t n) {
    for (size_t i = 0; i < n; i++) p[i] = (float)((i * 2654435761u) % 1000) / 1000.0f - 0.5f;
}

enum { FORWARD, DX, DW };

static double gflops(int kind, int64_t M, int64_t K, int64_t N, bool in_major, int reps) {
    float *x = malloc(M * K * sizeof(float)), *w = malloc(K * N * sizeof(float));
    float *y = malloc(M * N * sizeof(float)), *dw = calloc(K * N, sizeof(float));
    if (!x || !w || !y || !dw) return 0;
    fill(x, M * K), fill(w, K * N), fill(y, M * N);
    attn_weight wt = {.data = w, .dtype = ATTN_F32, .n_in = K, .n_out = N, .in_major = in_major};
    attn_weight back = {.data = w, .dtype = ATTN_F32, .n_in = N, .n_out = K, .in_major = !in_major};
    double best = 1e30;
    for (int r = -1; r < reps; r++) { /* r = -1 warms up: first touches of C fault pages in */
        double t0 = attn_time_s();
        int rc = kind == FORWARD ? attn_matmul(y, x, M, &wt, NULL)
                 : kind == DX    ? attn_matmul_acc(x, y, M, &back)
                 : in_major      ? attn_matmul_tn(dw, x, y, M, K, N, false)
                                 : attn_matmul_tn(dw, y, x, M, N, K, false);
        double t = attn_time_s() - t0;
        if (rc == 0 && r >= 0 && t < best) best = t;
    }
    free(x), free(w), free(y), free(dw);
    return 2.0 * (double)M * K * N / best / 1e9;
}

int main(int argc, char **argv) {
    int threads = 0, reps = 8;
    bool bf16 = false;
    int64_t shapes[][4] = {{1024, 384, 1152, 1}, {1024, 384, 384, 1}, {1024, 384, 1536, 1}, {1024, 1536, 384, 1},
                           {1024, 384, 65, 0},   {256, 768, 2304, 1}, {256, 768, 3072, 1},  {256, 3072, 768, 1},
                           {256, 768, 50257, 0}};
    size_t n_shapes = sizeof shapes / sizeof *shapes;
    for (int i = 1; i < argc; i++) {
        long long m, k, n;
        char layout[3] = "";
        if (strcmp(argv[i], "-t") == 0 && i + 1 < argc) threads = atoi(argv[++i]);
        else if (strcmp(argv[i], "--reps") == 0 && i + 1 < argc) reps = atoi(argv[++i]);
        else if (strcmp(argv[i], "--bf16") == 0) bf16 = true;
        else if (strcmp(argv[i], "--shape") == 0 && i + 1 < argc &&
                 sscanf(argv[++i], "%lld,%lld,%lld,%2s", &m, &k, &n, layout) == 4 && m > 0 && k > 0 && n > 0 &&
                 (strcmp(layout, "kn") == 0 || strcmp(layout, "nk") == 0)) {
            shapes[0][0] = m, shapes[0][1] = k, shapes[0][2] = n, shapes[0][3] = layout[0] == 'k';
            n_shapes = 1;
        } else {
            fprintf(stderr, "usage: bench_gemm [-t threads] [--reps 8] [--bf16] [--shape M,K,N,kn|nk]\n");
            return 2;
        }
    }
    attn_threads_init(threads);
    if (bf16 && attn_gemm_set_precision(ATTN_MATMUL_BF16)) {
        fprintf(stderr, "bench_gemm: %s\n", attn_last_error());
        return 1;
    }
    printf("%s%s, %d threads: GFLOP/s (best of %d)\n", bf16 ? "bf16 on " : "", bf16 ? attn_gemm_bf16_engine() : "f32", attn_threads_count(), reps);
    printf("| M | K | N | W | forward | dX | dW |\n|---:|---:|---:|---|---:|---:|---:|\n");
    for (size_t s = 0; s < n_shapes; s++) {
        int64_t M = shapes[s][0], K = shapes[s][1], N = shapes[s][2];
        bool km = shapes[s][3];
        int r = N > 10000 ? ATTN_MAX(2, reps / 3) : reps;
        printf("| %lld | %lld | %lld | %s | %.0f | %.0f | %.0f |\n", (long long)M, (long long)K, (long long)N,
               km ? "[K][N]" : "[N][K]", gflops(FORWARD, M, K, N, km, r), gflops(DX, M, K, N, km, r),
               gflops(DW, M, K, N, km, r));
    }
    return 0;
}
