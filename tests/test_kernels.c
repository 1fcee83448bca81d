/* test_kernels.c - every SIMD kernel table against the scalar reference (and GEMM/GEMV
 * against a double-precision product), on awkward shapes, all weight dtypes and both
 * layouts, with 1 and 2 threads. Tolerance: float accumulation in a different order, so
 * relative to sum|x*w| with a margin of 1e-5 (f32 epsilon 6e-8 times a few thousand terms). */
#include <stdlib.h>
#include <string.h>
#include "core/cpu.h"
#include "core/gemm.h"
#include "core/hpanel.h"
#include "core/kernels.h"
#include "core/matmul.h"
#include "core/qpanel.h"
#include "core/quant.h"
#include "core/threadpool.h"
#include "test.h"

static float frand(unsigned *s) {
    *s = *s * 1103515245u + 12345u;
    return ((*s >> 8) & 0xffff) / 32768.0f - 1.0f;
}

static void *make_weight(attn_dtype dt, int64_t n, float *as_f32, unsigned *seed) {
    void *w = malloc((size_t)n * attn_dtype_size(dt));
    for (int64_t i = 0; i < n; i++) as_f32[i] = frand(seed);
    attn_from_f32(w, as_f32, dt, n);
    attn_to_f32(as_f32, w, dt, n); /* the rounded values are the truth */
    return w;
}

/* in_major: W stored [K][N]; else [N][K], and with panels (N a multiple of 32)
 * repacked into core/hpanel.h's 32-row panels, which every product then reads instead. */
static void check_matmul_as(const char *isa, int64_t M, int64_t K, int64_t N, attn_dtype dt, bool in_major,
                            bool panels) {
    unsigned seed = (unsigned)(M * 131 + K * 7 + N + dt * 1000 + in_major);
    float *wf = malloc((size_t)(K * N) * sizeof(float));
    void *w = make_weight(dt, K * N, wf, &seed);
    float *x = malloc((size_t)(M * K) * sizeof(float)), *y = malloc((size_t)(M * N) * sizeof(float));
    float *bias = malloc((size_t)N * sizeof(float));
    for (int64_t i = 0; i < M * K; i++) x[i] = frand(&seed);
    for (int64_t i = 0; i < N; i++) bias[i] = frand(&seed);
    attn_weight wt = {.data = w, .dtype = dt, .n_in = K, .n_out = N, .in_major = in_major};
    void *hp = panels ? malloc((size_t)(K * N) * attn_dtype_size(dt)) : NULL;
    if (hp) attn_hpanel_pack(hp, w, dt, K, 0, N), wt.panels = hp, wt.data = NULL; /* nothing may read the rows */
    CHECK(attn_matmul(y, x, M, &wt, bias) == 0, "matmul failed: %s", attn_last_error());
    if (hp) { /* a tied table's lookups read the rows back out of the panels */
        float *row = malloc((size_t)K * sizeof(float));
        for (int64_t n = 0; n < N; n += N / 3 + 1) {
            attn_weight_row(row, &wt, n);
            CHECK(memcmp(row, wf + n * K, (size_t)K * sizeof(float)) == 0, "%s row %lld from panels", attn_dtype_name(dt),
                  (long long)n);
        }
        free(row);
    }
    double worst = 0;
    for (int64_t m = 0; m < M; m++)
        for (int64_t n = 0; n < N; n++) {
            double ref = bias[n], mag = fabs(bias[n]);
            for (int64_t k = 0; k < K; k++) {
                double wv = in_major ? wf[k * N + n] : wf[n * K + k];
                ref += (double)x[m * K + k] * wv;
                mag += fabs((double)x[m * K + k] * wv);
            }
            double err = fabs(y[m * N + n] - ref) / (mag * 1e-5 + 1e-6);
            if (err > worst) worst = err;
        }
    CHECK(worst <= 1.0, "%s matmul M=%lld K=%lld N=%lld %s %s: error %.3g of tolerance", isa, (long long)M,
          (long long)K, (long long)N, attn_dtype_name(dt), in_major ? "[K][N]" : panels ? "panels" : "[N][K]", worst);
    free(wf), free(w), free(x), free(y), free(bias), free(hp);
}

static void check_matmul(const char *isa, int64_t M, int64_t K, int64_t N, attn_dtype dt, bool in_major) {
    check_matmul_as(isa, M, K, N, dt, in_major, false);
}

/* AdamW must give the reference's bits on every instruction set (training runs repeat
 * exactly whatever the CPU). */
static void check_adamw(const attn_kernels *k, const char *isa, const float *a, const float *b, int64_t n) {
    float *p[2], *g[2], *m[2], *v[2];
    for (int t = 0; t < 2; t++) {
        p[t] = malloc(n * sizeof(float)), g[t] = malloc(n * sizeof(float));
        m[t] = malloc(n * sizeof(float)), v[t] = malloc(n * sizeof(float));
        for (int64_t i = 0; i < n; i++) p[t][i] = a[i], g[t][i] = b[i], m[t][i] = 0.1f * a[i], v[t][i] = b[i] * b[i];
    }
    attn_adamw_coef c = {.decay_keep = 0.999f, .one_minus_beta1 = 0.1f, .beta2 = 0.999f, .one_minus_beta2 = 0.001f,
                         .eps = 1e-8f, .grad_scale = 0.5f, .step_size = 1e-3f, .inv_bc2_sqrt = 3.0f};
    k->adamw(p[0], g[0], m[0], v[0], n, &c);
    attn_kernels_ref.adamw(p[1], g[1], m[1], v[1], n, &c);
    int same = 1;
    for (int64_t i = 0; i < n; i++) same &= p[0][i] == p[1][i] && m[0][i] == m[1][i] && v[0][i] == v[1][i];
    CHECK(same, "%s adamw n=%lld: bits differ from the reference", isa, (long long)n);
    for (int t = 0; t < 2; t++) free(p[t]), free(g[t]), free(m[t]), free(v[t]);
}

static void check_vector_ops(const attn_kernels *k, const char *isa) {
    unsigned seed = 99;
    int64_t sizes[] = {1, 7, 15, 16, 17, 33, 64, 65, 1000};
    for (size_t si = 0; si < sizeof sizes / sizeof *sizes; si++) {
        int64_t n = sizes[si];
        float *a = malloc(n * sizeof(float)), *b = malloc(n * sizeof(float));
        float *c = malloc(n * sizeof(float)), *d = malloc(n * sizeof(float));
        for (int64_t i = 0; i < n; i++) a[i] = 4 * frand(&seed), b[i] = 4 * frand(&seed);
        float mag = 0;
        for (int64_t i = 0; i < n; i++) mag += fabsf(a[i] * b[i]);
        CHECK_NEAR(k->dot(a, b, n), attn_kernels_ref.dot(a, b, n), 1e-5 * mag + 1e-6, isa);
        CHECK(k->max(a, n) == attn_kernels_ref.max(a, n), "%s max n=%lld", isa, (long long)n);
        memcpy(c, a, n * sizeof(float)), memcpy(d, a, n * sizeof(float));
        float s1 = k->exp_sum(c, 4.0f, n), s2 = attn_kernels_ref.exp_sum(d, 4.0f, n);
        CHECK_NEAR(s1, s2, 1e-6 * s2, "exp_sum");
        for (int64_t i = 0; i < n; i++) CHECK_NEAR(c[i], d[i], 2e-7 * d[i] + 1e-30, "exp element");
        memcpy(c, a, n * sizeof(float)), memcpy(d, a, n * sizeof(float));
        k->gelu_tanh(c, n), attn_kernels_ref.gelu_tanh(d, n);
        for (int64_t i = 0; i < n; i++) CHECK_NEAR(c[i], d[i], 1e-6 * (1 + fabsf(d[i])), "gelu element");
        memcpy(c, a, n * sizeof(float)), memcpy(d, a, n * sizeof(float));
        k->swiglu(c, b, n), attn_kernels_ref.swiglu(d, b, n);
        for (int64_t i = 0; i < n; i++) CHECK_NEAR(c[i], d[i], 1e-6 * (1 + fabsf(d[i])), "swiglu element");
        memcpy(c, b, n * sizeof(float)), memcpy(d, b, n * sizeof(float));
        k->gelu_tanh_backward(c, a, b, n), attn_kernels_ref.gelu_tanh_backward(d, a, b, n);
        for (int64_t i = 0; i < n; i++) CHECK_NEAR(c[i], d[i], 2e-6 * (1 + fabsf(d[i])), "gelu backward element");
        memcpy(c, b, n * sizeof(float)), memcpy(d, b, n * sizeof(float));
        k->axpy(c, 0.5f, a, n), attn_kernels_ref.axpy(d, 0.5f, a, n);
        k->scale(c, 3.0f, n), attn_kernels_ref.scale(d, 3.0f, n);
        for (int64_t i = 0; i < n; i++) CHECK_NEAR(c[i], d[i], 1e-6 * (1 + fabsf(d[i])), "axpy/scale");
        CHECK(k->sum_squares(a, n) == attn_kernels_ref.sum_squares(a, n), "%s sum_squares n=%lld: bits differ", isa,
              (long long)n);
        CHECK(k->sum(a, n) == attn_kernels_ref.sum(a, n), "%s sum n=%lld: bits differ", isa, (long long)n);
        double plain = 0;
        for (int64_t i = 0; i < n; i++) plain += a[i];
        CHECK_NEAR(k->sum(a, n), plain, 1e-9 * (1 + fabs(plain)), "sum against a plain loop");
        check_adamw(k, isa, a, b, n);
        free(a), free(b), free(c), free(d);
    }
    /* extreme inputs: exp must not overflow to inf/NaN, gelu and silu saturate */
    static const float extreme[17] = {-1000, -100, -88, -87, 0, 1e-8f, 50, 88, 100, 1000, -5, 5, -20, 20, 3, -3, 0.5f};
    float big[17], big2[17], ones[17];
    memcpy(big, extreme, sizeof big), memcpy(big2, extreme, sizeof big);
    k->gelu_tanh(big, 17), attn_kernels_ref.gelu_tanh(big2, 17);
    for (int i = 0; i < 17; i++) CHECK_NEAR(big[i], big2[i], 1e-5 * (1 + fabsf(big2[i])), "gelu extreme");
    memcpy(big, extreme, sizeof big), memcpy(big2, extreme, sizeof big);
    for (int i = 0; i < 17; i++) ones[i] = 1.0f;
    k->swiglu(big, ones, 17), attn_kernels_ref.swiglu(big2, ones, 17);
    for (int i = 0; i < 17; i++) CHECK_NEAR(big[i], big2[i], 1e-5 * (1 + fabsf(big2[i])), "swiglu extreme");
}

/* Scores from the blocked transposed key cache and the weighted value sums, 1..4 queries,
 * over f32 and f16 caches: each kernel against the reference on the same cache, and the f16
 * cache's results against the f32 ones within f16's rounding (2^-11 of each element). */
static void check_attention_ops(const attn_kernels *k, const char *isa) {
    unsigned seed = 5;
    int hds[] = {8, 12, 64, 80};
    int64_t ns[] = {1, 17, 64, 65, 200};
    for (size_t a = 0; a < sizeof hds / sizeof *hds; a++)
        for (size_t b = 0; b < sizeof ns / sizeof *ns; b++)
            for (int nq = 1; nq <= ATTN_MAX_NQ; nq++) {
                int hd = hds[a];
                int64_t n = ns[b], blocks = (n + ATTN_KV_BLOCK - 1) / ATTN_KV_BLOCK, stride = hd + 3;
                int64_t ls = blocks * ATTN_KV_BLOCK, lq = hd + 5, lo = hd + 1, nk = blocks * hd * ATTN_KV_BLOCK;
                float *q = malloc(nq * lq * sizeof(float)), *kb = malloc(nk * sizeof(float));
                float *s1 = malloc(nq * ls * sizeof(float)), *s2 = malloc(nq * ls * sizeof(float));
                float *s3 = malloc(nq * ls * sizeof(float)), *v = malloc(n * stride * sizeof(float));
                float *o1 = malloc(nq * lo * sizeof(float)), *o2 = malloc(nq * lo * sizeof(float));
                float *o3 = malloc(nq * lo * sizeof(float));
                uint16_t *kh = malloc(nk * sizeof(uint16_t)), *vh = malloc(n * stride * sizeof(uint16_t));
                for (int64_t i = 0; i < nq * lq; i++) q[i] = frand(&seed);
                for (int64_t i = 0; i < nk; i++) kb[i] = frand(&seed), kh[i] = attn_f32_to_f16(kb[i]);
                for (int64_t i = 0; i < n * stride; i++) v[i] = frand(&seed), vh[i] = attn_f32_to_f16(v[i]);
                for (int f16 = 0; f16 <= 1; f16++) {
                    attn_dtype t = f16 ? ATTN_F16 : ATTN_F32;
                    const void *kc = f16 ? (const void *)kh : kb, *vc = f16 ? (const void *)vh : v;
                    float *sk = f16 ? s3 : s1; /* f32: s1; f16: s3 (s1 keeps the f32 result) */
                    k->attn_scores(sk, ls, q, lq, nq, kc, t, hd, n, 0.125f);
                    attn_kernels_ref.attn_scores(s2, ls, q, lq, nq, kc, t, hd, n, 0.125f);
                    for (int r = 0; r < nq; r++)
                        for (int64_t p = 0; p < n; p++) CHECK_NEAR(sk[r * ls + p], s2[r * ls + p], 1e-5 * hd, isa);
                    float *ok = f16 ? o3 : o1;
                    k->attn_values(ok, lo, s1, ls, nq, vc, t, stride, hd, n);
                    attn_kernels_ref.attn_values(o2, lo, s1, ls, nq, vc, t, stride, hd, n);
                    for (int r = 0; r < nq; r++)
                        for (int d = 0; d < hd; d++) CHECK_NEAR(ok[r * lo + d], o2[r * lo + d], 1e-5 * n, isa);
                }
                /* |q|, |k|, |v| <= 1 and f16 rounds each to 2^-11 of itself */
                for (int r = 0; r < nq; r++) {
                    double wsum = 0;
                    for (int64_t p = 0; p < n; p++) {
                        CHECK_NEAR(s3[r * ls + p], s1[r * ls + p], 0.125 * hd * 0x1p-11 + 1e-5 * hd, "f16 keys");
                        wsum += fabs(s1[r * ls + p]);
                    }
                    for (int d = 0; d < hd; d++)
                        CHECK_NEAR(o3[r * lo + d], o1[r * lo + d], wsum * 0x1p-11 + 1e-5 * n, "f16 values");
                }
                free(q), free(kb), free(s1), free(s2), free(s3), free(v), free(o1), free(o2), free(o3), free(kh), free(vh);
            }
}

/* f16 rounding of KV cache rows equals attn_f32_to_f16 bit for bit, ties, subnormals,
 * overflow and infinities included, contiguous and strided. */
static void check_to_f16(const attn_kernels *k, const char *isa) {
    float x[53];
    unsigned seed = 9;
    for (int i = 0; i < 53; i++) x[i] = frand(&seed) * 70000.0f;
    const float special[] = {0.0f, -0.0f, 1.0f + 0x1p-11f, 1.0f + 3 * 0x1p-11f, 0x1p-20f, -0x1p-24f, 0x1p-25f,
                             65504.0f, 65520.0f, 1e30f, INFINITY, -INFINITY, 6.1e-5f, 3.0e-8f};
    memcpy(x, special, sizeof special);
    for (int stride = 1; stride <= 64; stride += 63) {
        uint16_t got[53 * 64], want[53 * 64];
        memset(got, 0, sizeof got), memset(want, 0, sizeof want);
        k->to_f16(got, stride, x, 53);
        for (int i = 0; i < 53; i++) want[i * stride] = attn_f32_to_f16(x[i]);
        CHECK(memcmp(got, want, sizeof got) == 0, "%s to_f16 stride %d", isa, stride);
    }
}

/* attn_weight_row on quantized rows and on their 16-row panels: the same floats. */
static void check_quant_rows(void) {
    const int64_t K = 256, N = 32;
    unsigned seed = 11;
    float *wf = malloc((size_t)(K * N) * sizeof(float)), *a = malloc((size_t)K * sizeof(float)),
          *b = malloc((size_t)K * sizeof(float));
    for (int64_t i = 0; i < K * N; i++) wf[i] = frand(&seed);
    const attn_qtype ts[] = {ATTN_QT_Q8_0, ATTN_QT_Q4_1, ATTN_QT_Q4_K};
    for (size_t i = 0; i < sizeof ts / sizeof *ts; i++) {
        size_t rb = attn_quant_row_bytes(ts[i], K);
        uint8_t *q = malloc(rb * N), *p = malloc(attn_qpanel_bytes(ts[i], K, N));
        for (int64_t n = 0; n < N; n++) attn_quantize_row(ts[i], wf + n * K, q + n * rb, K);
        attn_qpanel_pack(p, q, ts[i], K, N);
        attn_weight rows = {.data = q, .qtype = ts[i], .n_in = K, .n_out = N}, panels = rows;
        panels.panels = p, panels.data = NULL;
        for (int64_t n = 0; n < N; n += 7) {
            attn_weight_row(a, &rows, n), attn_weight_row(b, &panels, n);
            CHECK(memcmp(a, b, (size_t)K * sizeof(float)) == 0, "%s row %lld from panels", attn_qtype_get(ts[i])->name,
                  (long long)n);
        }
        free(q), free(p);
    }
    free(wf), free(a), free(b);
}

int main(void) {
    check_quant_rows();
    int64_t ms[] = {1, 2, 3, 4, 7, 13, 33};
    int64_t ks[] = {1, 7, 33, 65, 300};
    int64_t ns[] = {1, 7, 33, 65, 129};
    for (int isa = 0; isa < ATTN_ISA_COUNT; isa++) {
        if (!attn_isa_supported((attn_isa)isa) || !attn_kernels_for((attn_isa)isa)) {
            printf("note: %s not supported on this CPU, not tested\n", attn_isa_name((attn_isa)isa));
            continue;
        }
        attn_isa_set((attn_isa)isa);
        const char *name = attn_isa_name((attn_isa)isa);
        check_vector_ops(attn_kernels_get(), name);
        check_attention_ops(attn_kernels_get(), name);
        check_to_f16(attn_kernels_get(), name);
        for (int threads = 1; threads <= 2; threads++) {
            attn_threads_init(threads);
            for (int dt = 0; dt < ATTN_DTYPE_COUNT; dt++)
                for (int lay = 0; lay < 3; lay++) /* [K][N]; [N][K] as dot products; [N][K] on the GEMM */
                    for (size_t a = 0; a < sizeof ms / sizeof *ms; a++)
                        for (size_t b = 0; b < sizeof ks / sizeof *ks; b++)
                            for (size_t c = 0; c < sizeof ns / sizeof *ns; c++) {
                                attn_matmul_set_dot(lay != 2);
                                check_matmul(name, ms[a], ks[b], ns[c], (attn_dtype)dt, lay == 0);
                            }
            attn_matmul_set_dot(true);
            /* large shapes: several kc slices, many tiles, odd edges */
            check_matmul(name, 65, 4097, 33, ATTN_F32, true);
            check_matmul(name, 1, 4097, 4097, ATTN_F16, false);
            check_matmul(name, 37, 768, 2304, ATTN_BF16, true);
            check_matmul(name, 2, 768, 1000, ATTN_F32, false);
            /* [N][K] dot products: activation rows in chunks of 12 at K=20000 (1 MB / 80 KB a
             * row, rounded to the 4-row tile), the last of 10 rows; and past the dot form's
             * rows, the packed GEMM again */
            check_matmul(name, 46, 20000, 9, ATTN_F32, false);
            check_matmul(name, 122, 4097, 9, ATTN_F32, false);
            check_matmul(name, 513, 40, 37, ATTN_BF16, false);
            /* the LM head's shape, smaller: C updated slice by slice in groups of column tiles
             * (8 at 256 rows), 13 groups, the last one short */
            check_matmul(name, 256, 600, 3300, ATTN_F32, false);
            /* the shared packed operand in slabs of one slice: C = bias first, then adds up */
            attn_gemm_set_shared_limit(1);
            check_matmul(name, 65, 4097, 33, ATTN_F32, true);
            check_matmul(name, 37, 768, 2304, ATTN_BF16, true);
            check_matmul(name, 300, 600, 40, ATTN_F16, false);
            attn_gemm_set_shared_limit(0);
            /* every dtype in 32-row panels: one row (GEMV), register tiles of every height (6
             * rows on two panels side by side, 12 on a last odd one: 96 columns take both),
             * and past 512 rows the packed GEMM widening from the panels */
            int64_t pm[] = {1, 2, 4, 5, 9, 12, 13, 35, 513}, pk[] = {7, 33, 300};
            for (int dt = 0; dt < ATTN_DTYPE_COUNT; dt++)
                for (size_t a = 0; a < sizeof pm / sizeof *pm; a++)
                    for (size_t b = 0; b < sizeof pk / sizeof *pk; b++) {
                        check_matmul_as(name, pm[a], pk[b], 32, (attn_dtype)dt, false, true);
                        check_matmul_as(name, pm[a], pk[b], 96, (attn_dtype)dt, false, true);
                    }
        }
    }
    return test_finish("test_kernels");
}
