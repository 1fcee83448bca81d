/* test_quant_kernels.c - quantized GEMV/GEMM/embedding against dequantize-then-f32: every
 * block type, every instruction set this machine has, awkward shapes (one block, odd block
 * counts, single rows, odd row counts for the several-rows GEMV, row strides wider than the
 * rows, column ranges that do not start at 0), with ATTN_QDOT=f32's exact path in attn_matmul
 * (test_qdot tests the integer dot products). Tolerance: float summation
 * order, i.e. a few ulps of sum |w*x|. ATTN_QBENCH=1 also prints single-thread GEMV GB/s and
 * 8 rows in one pass against 8 single-row calls (shape ATTN_QBENCH_N x ATTN_QBENCH_K). */
#include <stdint.h>
#include <time.h>
#include "core/common.h"
#include "core/cpu.h"
#include "core/gemm.h"
#include "core/matmul.h"
#include "core/quant.h"
#include "core/quant_matmul.h"
#include "core/tensor.h"
#include "core/threadpool.h"
#include "nn/layers.h"
#include "quant_random.h"
#include "test.h"

static const attn_qtype types[] = {ATTN_QT_Q8_0, ATTN_QT_Q4_0, ATTN_QT_Q4_1, ATTN_QT_Q5_0, ATTN_QT_Q5_1,
                                   ATTN_QT_Q2_K, ATTN_QT_Q3_K, ATTN_QT_Q4_K, ATTN_QT_Q5_K, ATTN_QT_Q6_K};




/* Exact-ish reference: dequantize row n, dot in double; also sum |w*x| for the tolerance. */
static double ref_dot(attn_qtype t, const uint8_t *w, const float *x, int64_t K, int64_t n, double *mag) {
    float *row = malloc((size_t)K * sizeof(float));
    attn_dequantize_row(t, w + (size_t)n * attn_quant_row_bytes(t, K), row, K);
    double acc = 0, m = 0;
    for (int64_t k = 0; k < K; k++) acc += (double)row[k] * x[k], m += fabs((double)row[k] * x[k]);
    free(row);
    *mag = m;
    return acc;
}

static double tol_for(double mag, int64_t K) { return 4e-7 * mag * (1 + log2((double)K)) + 1e-6; }

static void check_gemv(attn_qtype t, int64_t N, int64_t K) {
    uint8_t *w = random_matrix(t, N, K);
    float *x = malloc((size_t)K * sizeof(float)), *y = malloc((size_t)N * sizeof(float));
    for (int64_t k = 0; k < K; k++) x[k] = uniform();
    int64_t n0 = N > 2 ? 1 : 0; /* a range that does not start at row 0 */
    for (int isa = 0; isa < ATTN_ISA_COUNT; isa++) {
        if (!attn_isa_supported((attn_isa)isa)) continue;
        for (int64_t n = 0; n < N; n++) y[n] = -12345.0f;
        attn_qgemv_nk_isa((attn_isa)isa, y, x, w, t, K, n0, N);
        double worst = 0;
        for (int64_t n = 0; n < N; n++) {
            if (n < n0) {
                CHECK(y[n] == -12345.0f, "%s %s wrote row %lld outside its range", attn_qtype_name(t),
                      attn_isa_name((attn_isa)isa), (long long)n);
                continue;
            }
            double mag, r = ref_dot(t, w, x, K, n, &mag), err = fabs(y[n] - r) / tol_for(mag, K);
            worst = err > worst ? err : worst;
        }
        CHECK(worst <= 1.0, "%s %s N=%lld K=%lld: error %.3g x tolerance", attn_qtype_name(t),
              attn_isa_name((attn_isa)isa), (long long)N, (long long)K, worst);
    }
    free(w), free(x), free(y);
}

/* The several-rows GEMV: M rows of x (row stride K+3) against columns [n0, N), into y with
 * row stride N+2; nothing outside the range written. */
static void check_gemv_rows(attn_qtype t, int64_t M, int64_t N, int64_t K) {
    int64_t ldx = K + 3, ldy = N + 2, n0 = N > 2 ? 1 : 0;
    uint8_t *w = random_matrix(t, N, K);
    float *x = malloc((size_t)(M * ldx) * sizeof(float)), *y = malloc((size_t)(M * ldy) * sizeof(float));
    for (int64_t i = 0; i < M * ldx; i++) x[i] = uniform();
    for (int isa = 0; isa < ATTN_ISA_COUNT; isa++) {
        if (!attn_isa_supported((attn_isa)isa)) continue;
        for (int64_t i = 0; i < M * ldy; i++) y[i] = -12345.0f;
        attn_qgemv_rows_nk_isa((attn_isa)isa, y, ldy, x, ldx, M, w, t, K, n0, N);
        double worst = 0;
        int outside = 0;
        for (int64_t m = 0; m < M; m++)
            for (int64_t n = 0; n < ldy; n++) {
                if (n < n0 || n >= N) {
                    outside += y[m * ldy + n] != -12345.0f;
                    continue;
                }
                double mag, r = ref_dot(t, w, x + m * ldx, K, n, &mag), err = fabs(y[m * ldy + n] - r) / tol_for(mag, K);
                worst = err > worst ? err : worst;
            }
        CHECK(outside == 0, "rows %s %s: %d values written outside the range", attn_qtype_name(t),
              attn_isa_name((attn_isa)isa), outside);
        CHECK(worst <= 1.0, "rows %s %s M=%lld N=%lld K=%lld: error %.3g x tolerance", attn_qtype_name(t),
              attn_isa_name((attn_isa)isa), (long long)M, (long long)N, (long long)K, worst);
    }
    free(w), free(x), free(y);
}

/* attn_matmul with M rows (GEMV for 1, the several-rows GEMV up to 16, packed GEMM beyond)
 * and a bias. */
static void check_matmul(attn_qtype t, int64_t M, int64_t N, int64_t K) {
    uint8_t *w = random_matrix(t, N, K);
    float *x = malloc((size_t)(M * K) * sizeof(float)), *y = malloc((size_t)(M * N) * sizeof(float));
    float *bias = malloc((size_t)N * sizeof(float));
    for (int64_t i = 0; i < M * K; i++) x[i] = uniform();
    for (int64_t n = 0; n < N; n++) bias[n] = uniform();
    attn_weight wt = {.data = w, .dtype = ATTN_F32, .n_in = K, .n_out = N, .qtype = t};
    CHECK(attn_matmul(y, x, M, &wt, bias) == 0, "matmul");
    double worst = 0;
    for (int64_t m = 0; m < M; m++)
        for (int64_t n = 0; n < N; n++) {
            double mag, r = ref_dot(t, w, x + m * K, K, n, &mag) + bias[n];
            double err = fabs(y[m * N + n] - r) / tol_for(mag + fabs(bias[n]), K);
            worst = err > worst ? err : worst;
        }
    CHECK(worst <= 1.0, "matmul %s M=%lld N=%lld K=%lld: error %.3g x tolerance", attn_qtype_name(t), (long long)M,
          (long long)N, (long long)K, worst);
    free(w), free(x), free(y), free(bias);
}

static void check_embed(attn_qtype t) {
    int64_t V = 7, D = attn_qtype_get(t)->block * 3;
    uint8_t *w = random_matrix(t, V, D);
    int32_t ids[3] = {6, 0, 3};
    float *out = malloc((size_t)(3 * D) * sizeof(float)), *row = malloc((size_t)D * sizeof(float));
    attn_weight table = {.data = w, .qtype = t, .n_in = D, .n_out = V};
    for (int i = 0; i < 3; i++) attn_weight_row(out + i * D, &table, ids[i]);
    int bad = 0;
    for (int i = 0; i < 3; i++) {
        attn_dequantize_row(t, w + (size_t)ids[i] * attn_quant_row_bytes(t, D), row, D);
        bad += memcmp(row, out + i * D, (size_t)D * sizeof(float)) != 0;
    }
    CHECK(bad == 0, "embed %s: %d rows differ", attn_qtype_name(t), bad);
    free(w), free(out), free(row);
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Weight bytes read per second by one thread, 4096 x 4096 (too large for the caches) or
 * ATTN_QBENCH_N x ATTN_QBENCH_K. */
static void bench(attn_qtype t) {
    int64_t N = getenv("ATTN_QBENCH_N") ? atoll(getenv("ATTN_QBENCH_N")) : 4096;
    int64_t K = getenv("ATTN_QBENCH_K") ? atoll(getenv("ATTN_QBENCH_K")) : 4096;
    uint8_t *w = random_matrix(t, N, K);
    float *x = malloc((size_t)K * sizeof(float)), *y = malloc((size_t)N * sizeof(float));
    for (int64_t k = 0; k < K; k++) x[k] = uniform();
    double bytes = (double)attn_quant_row_bytes(t, K) * (double)N;
    printf("gemv %-5s", attn_qtype_name(t));
    for (int isa = 0; isa < ATTN_ISA_COUNT; isa++) {
        if (!attn_isa_supported((attn_isa)isa)) continue;
        double best = 1e9;
        for (int rep = 0; rep < (isa ? 20 : 1); rep++) {
            double t0 = now();
            attn_qgemv_nk_isa((attn_isa)isa, y, x, w, t, K, 0, N);
            double dt = now() - t0;
            best = dt < best ? dt : best;
        }
        printf("  %s %6.2f GB/s", attn_isa_name((attn_isa)isa), bytes / best / 1e9);
    }
    printf("\n");
    free(w), free(x), free(y);
}

/* One thread: 8 input rows through the several-rows GEMV against 8 single-row calls. */
static void bench_rows(attn_qtype t) {
    int64_t N = getenv("ATTN_QBENCH_N") ? atoll(getenv("ATTN_QBENCH_N")) : 4096;
    int64_t K = getenv("ATTN_QBENCH_K") ? atoll(getenv("ATTN_QBENCH_K")) : 4096;
    uint8_t *w = random_matrix(t, N, K);
    float *x = malloc((size_t)(8 * K) * sizeof(float)), *y = malloc((size_t)(8 * N) * sizeof(float));
    for (int64_t i = 0; i < 8 * K; i++) x[i] = uniform();
    double best_rows = 1e9, best_single = 1e9;
    for (int rep = 0; rep < 10; rep++) {
        double t0 = now();
        attn_qgemv_rows_nk(y, N, x, K, 8, w, t, K, 0, N);
        double t1 = now();
        for (int m = 0; m < 8; m++) attn_qgemv_nk(y + m * N, x + m * K, w, t, K, 0, N);
        double t2 = now();
        best_rows = fmin(best_rows, t1 - t0), best_single = fmin(best_single, t2 - t1);
    }
    printf("8 rows %-5s %s: one pass %8.1f us, 8 single-row calls %8.1f us\n", attn_qtype_name(t),
           attn_isa_name(attn_isa_current()), best_rows * 1e6, best_single * 1e6);
    free(w), free(x), free(y);
}

/* The packer's vector decoders give attn_dequantize_row's floats bit for bit. */
static void check_decode(attn_qtype t) {
    enum { N = 1024 };
    static float x[N], ref[N], got[N];
    static uint8_t q[N * 2];
    for (int s = 0; s < 8; s++) {
        for (int i = 0; i < N; i++) x[i] = (float)((i * 7919 + s * 104729) % 20001 - 10000) / (500.0f * (float)(1 + s));
        attn_quantize_row(t, x, q, N);
        attn_dequantize_row(t, q, ref, N);
        for (int isa = 0; isa < ATTN_ISA_COUNT; isa++) {
            if (!attn_isa_supported((attn_isa)isa)) continue;
            attn_qdecode_row_isa((attn_isa)isa, t, q, got, N);
            CHECK(memcmp(ref, got, sizeof ref) == 0, "%s decode on %s differs from the dequantizer", attn_qtype_name(t),
                  attn_isa_name((attn_isa)isa));
        }
    }
}

int main(void) {
    rng = 88172645463325252ull; /* this test's own stream, as before the shared header */
    attn_threads_init(2);
    attn_qdot_set_mode(ATTN_QDOT_F32); /* the exact path; test_qdot covers the integer one */
    attn_gemm_set_precision(ATTN_MATMUL_F32); /* and f32 prompts: test_gemm_bf16 covers the bf16 one */
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        attn_qtype t = types[i];
        int64_t B = attn_qtype_get(t)->block;
        CHECK(attn_qtype_matmul_ok(t), "%s accepted", attn_qtype_name(t));
        check_decode(t);
        check_gemv(t, 1, B);
        check_gemv(t, 3, 3 * B);
        check_gemv(t, 17, 7 * B);
        check_gemv(t, 5, B == 32 ? 4096 : 2048);
        check_matmul(t, 1, 19, 2 * B);
        check_matmul(t, 3, 40, B == 32 ? 96 : 512);
        check_matmul(t, 5, 33, B == 32 ? 320 : 768); /* kc slices of 256 and a partial one */
        check_matmul(t, 13, 70, 2 * B);
        check_matmul(t, 16, 21, 2 * B);
        check_matmul(t, 17, 21, 2 * B);
        for (int64_t M = 1; M <= 17; M += 2) check_gemv_rows(t, M, 11, 3 * B);
        check_gemv_rows(t, 8, 5, B == 32 ? 4096 + 96 : 4096 + 256); /* past one decoded chunk */
        check_embed(t);
    }
    CHECK(!attn_qtype_matmul_ok(ATTN_QT_F32) && !attn_qtype_matmul_ok(ATTN_QT_IQ2_XS), "plain/unsupported refused");
    if (getenv("ATTN_QBENCH"))
        for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) bench(types[i]), bench_rows(types[i]);
    return test_finish("test_quant_kernels");
}
