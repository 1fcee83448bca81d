/* test_gemm_bf16.c - the GEMM's bf16 precision (core/amx.h: AMX tiles where the CPU has them,
 * and AVX512-BF16 dot products, so both kernels run on an AMX machine) against a double
 * product of the operands rounded to bf16: A row-major and transposed, B in every layout
 * and dtype, edges, several slices of the reduction, C = bias + A·B and C += A·B, every
 * band, C's rows further apart than N (ldc), 1 and 2 threads, the shared operand in slabs, and
 * the serial (per-head) entry.
 * bf16 x bf16 products are exact in f32, so the only error is the f32 summation's.
 * Skips where the CPU has no AVX512-BF16. */
#include "core/amx.h"
#include "core/common.h"
#include "core/cpu.h"
#include "core/gemm.h"
#include "core/hpanel.h"
#include "core/matmul.h"
#include "core/qpanel.h"
#include "core/quant.h"
#include "core/tensor.h"
#include "core/threadpool.h"
#include "test.h"

static float frand(unsigned *s) {
    *s = *s * 1103515245u + 12345u;
    return (float)((*s >> 9) & 0xffff) / 32768.0f - 1.0f;
}

static float to_bf16(float x) { return attn_bf16_to_f32(attn_f32_to_bf16(x)); }

/* Is C(m, n) produced by this band (the rest is left unspecified)? */
static bool wanted(attn_gemm_band band, int64_t m, int64_t n) {
    return band == ATTN_BAND_C_LOWER ? n <= m : band == ATTN_BAND_C_UPPER ? n >= m : true;
}

/* The band's zeros put into the operands, as callers guarantee them. */
static float a_value(attn_gemm_band band, int64_t m, int64_t k, float v) {
    if ((band == ATTN_BAND_A_LOWER && k > m) || (band == ATTN_BAND_A_UPPER && k < m)) return 0.0f;
    return v;
}

typedef struct {
    int64_t M, K, N;
    bool a_trans, overwrite, bias, serial;
    int64_t pad; /* C's rows N + pad apart (attn_gemm.ldc); the pad columns must stay as they were */
    attn_dtype dt;
    bool in_major;
    attn_gemm_band band;
} gemm_case;

static void check_case(const gemm_case *t, const char *what) {
    int64_t M = t->M, K = t->K, N = t->N, ldc = N + t->pad;
    unsigned seed = (unsigned)(M * 7919 + K * 131 + N * 17 + t->band * 3 + t->a_trans);
    float *a = malloc(M * K * sizeof *a), *wf = malloc(K * N * sizeof *wf), *c = malloc(M * ldc * sizeof *c);
    float *c0 = malloc(M * ldc * sizeof *c0), *bias = malloc(N * sizeof *bias);
    void *w = malloc(K * N * sizeof(float));
    for (int64_t m = 0; m < M; m++)
        for (int64_t k = 0; k < K; k++) {
            float v = a_value(t->band, m, k, frand(&seed));
            a[t->a_trans ? k * M + m : m * K + k] = v;
        }
    for (int64_t i = 0; i < K * N; i++) wf[i] = frand(&seed);
    if (t->band == ATTN_BAND_B_UPPER) /* B(k, n) = 0 for k > n */
        for (int64_t k = 0; k < K; k++)
            for (int64_t n = 0; n < N && n < k; n++) wf[t->in_major ? k * N + n : n * K + k] = 0.0f;
    attn_from_f32(w, wf, t->dt, K * N);
    attn_to_f32(wf, w, t->dt, K * N);
    for (int64_t i = 0; i < M * ldc; i++) c[i] = c0[i] = frand(&seed);
    for (int64_t i = 0; i < N; i++) bias[i] = frand(&seed);
    attn_weight b = {.data = w, .dtype = t->dt, .n_in = K, .n_out = N, .in_major = t->in_major};
    attn_gemm g = {.c = c, .ldc = t->pad ? ldc : 0, .M = M, .N = N, .K = K, .a = a, .lda = t->a_trans ? M : K, .a_trans = t->a_trans,
                   .b = &b, .overwrite = t->overwrite, .bias = t->bias ? bias : NULL, .band = t->band};
    if (t->serial) {
        float *scratch = malloc(attn_gemm_serial_scratch(M) * sizeof(float));
        attn_gemm_serial(&g, scratch);
        free(scratch);
    } else {
        CHECK(attn_gemm_run(&g) == 0, "%s: %s", what, attn_last_error());
    }
    double worst = 0, moved = 0;
    for (int64_t m = 0; m < M; m++)
        for (int64_t n = 0; n < N; n++) {
            if (!wanted(t->band, m, n)) continue;
            double ref = t->overwrite ? (t->bias ? bias[n] : 0.0) : c0[m * ldc + n], mag = fabs(ref), exact = ref;
            for (int64_t k = 0; k < K; k++) {
                float av = t->a_trans ? a[k * M + m] : a[m * K + k];
                float bv = t->in_major ? wf[k * N + n] : wf[n * K + k];
                ref += (double)to_bf16(av) * to_bf16(bv);
                exact += (double)av * bv;
                mag += fabs((double)av * bv);
            }
            /* f32 sums of K terms: a few ulps of the magnitude per 32-deep step */
            double err = fabs(c[m * ldc + n] - ref) / (mag * 2e-6 * (1 + K / 256.0) + 1e-7);
            worst = fmax(worst, err);
            moved = fmax(moved, fabs(c[m * ldc + n] - exact));
        }
    for (int64_t m = 0; m < M; m++)
        for (int64_t n = N; n < ldc; n++) CHECK(c[m * ldc + n] == c0[m * ldc + n], "%s: C's pad column %lld of row %lld written", what, (long long)n, (long long)m);
    CHECK(worst <= 1.0, "%s M=%lld K=%lld N=%lld a_trans=%d %s %s band=%d overwrite=%d bias=%d: error %.3g of tolerance",
          what, (long long)M, (long long)K, (long long)N, t->a_trans, attn_dtype_name(t->dt),
          t->in_major ? "[K][N]" : "[N][K]", t->band, t->overwrite, t->bias, worst);
    /* bf16 rounding must show against the f32 product once K is large enough to matter */
    if (K >= 64 && t->dt == ATTN_F32 && t->band == ATTN_BAND_NONE)
        CHECK(moved > 1e-4, "%s: bf16 product equals the f32 one (%.3g): bf16 path not taken?", what, moved);
    free(a), free(wf), free(c), free(c0), free(bias), free(w);
}

/* Each element is summed in a fixed order: 1 and 2 threads give the same bits (training runs
 * repeat exactly), whichever operand is shared. */
static void check_threads(int64_t M, int64_t K, int64_t N) {
    unsigned seed = 99;
    float *a = malloc(M * K * sizeof *a), *w = malloc(K * N * sizeof *w);
    float *c[2] = {malloc(M * N * sizeof(float)), malloc(M * N * sizeof(float))};
    for (int64_t i = 0; i < M * K; i++) a[i] = frand(&seed);
    for (int64_t i = 0; i < K * N; i++) w[i] = frand(&seed);
    attn_weight b = {.data = w, .dtype = ATTN_F32, .n_in = K, .n_out = N, .in_major = true};
    for (int t = 0; t < 2; t++) {
        attn_threads_init(t + 1);
        attn_gemm g = {.c = c[t], .M = M, .N = N, .K = K, .a = a, .lda = K, .b = &b, .overwrite = true};
        CHECK(attn_gemm_run(&g) == 0, "%s", attn_last_error());
    }
    CHECK(memcmp(c[0], c[1], M * N * sizeof(float)) == 0, "bf16 %lldx%lldx%lld: 1 and 2 threads differ", (long long)M,
          (long long)K, (long long)N);
    free(a), free(w), free(c[0]), free(c[1]);
}

/* The default precision (AUTO): f32 weights give exactly the f32 path's bits; quantized
 * weights (rows or 16-row panels) go through the tiles: the bf16-rounded product of x and
 * the dequantized weights; or, where gemm.h says so, the integer kernels (test_qdot checks
 * them bit for bit): K-quant panels with x rounded to one byte in 32-blocks (|error| <= d/2 =
 * amax/254 a value), other panels up to 64 rows with two bytes (d/256), each bound times
 * the weights. M = 40 and 100 rows: both sides of the 64. */
static void check_auto(attn_qtype t, bool panels, int64_t M) {
    int64_t K = 512, N = 48;
    unsigned seed = 7 + t;
    float *x = malloc(M * K * sizeof *x), *wf = malloc(K * N * sizeof *wf), *wd = malloc(K * N * sizeof *wd);
    float *c = malloc(M * N * sizeof *c), *c32 = malloc(M * N * sizeof *c32);
    for (int64_t i = 0; i < M * K; i++) x[i] = frand(&seed);
    for (int64_t i = 0; i < K * N; i++) wf[i] = frand(&seed);
    size_t rb = attn_quant_row_bytes(t, K);
    uint8_t *q = malloc(rb * N), *p = malloc(attn_qpanel_bytes(t, K, N));
    for (int64_t n = 0; n < N; n++) {
        attn_quantize_row(t, wf + n * K, q + n * rb, K);
        attn_dequantize_row(t, q + n * rb, wd + n * K, K);
    }
    attn_weight w = {.data = q, .qtype = t, .n_in = K, .n_out = N};
    if (panels) attn_qpanel_pack(p, q, t, K, N), w.panels = p;
    attn_weight f = {.data = wd, .dtype = ATTN_F32, .n_in = K, .n_out = N};
    attn_gemm_set_precision(ATTN_MATMUL_AUTO);
    const bool int8 = attn_gemm_int8_prompts(panels && attn_qtype_get(t)->block == 256);
    const bool two = !int8 && panels && M <= 64 && attn_gemm_integer_short_prompts();
    const double per_amax = int8 ? 1.0 / 254 : (1.0 / 256 + 1e-4) / 127; /* a value's rounding bound / block amax */
    CHECK(attn_matmul(c, x, M, &w, NULL) == 0 && attn_matmul(c32, x, M, &f, NULL) == 0, "%s", attn_last_error());
    double worst = 0, moved = 0;
    for (int64_t m = 0; m < M; m++)
        for (int64_t n = 0; n < N; n++) {
            double ref = 0, mag = 0, exact = 0, bound = 0;
            for (int64_t k = 0; k < K; k++) {
                float amax = 0;
                for (int64_t j = k / 32 * 32; j < k / 32 * 32 + 32; j++) amax = fmaxf(amax, fabsf(x[m * K + j]));
                ref += (double)to_bf16(x[m * K + k]) * to_bf16(wd[n * K + k]);
                mag += fabs((double)x[m * K + k] * wd[n * K + k]);
                exact += (double)x[m * K + k] * wd[n * K + k];
                bound += fabs((double)wd[n * K + k]) * amax * per_amax;
            }
            worst = fmax(worst, int8 || two ? fabs(c[m * N + n] - exact) / (bound * 1.0001 + mag * 4e-6 + 1e-7)
                                            : fabs(c[m * N + n] - ref) / (mag * 4e-6 + 1e-7));
            moved = fmax(moved, fabs(c[m * N + n] - c32[m * N + n]));
        }
    const char *path = int8 ? " (int8)" : two ? " (two bytes)" : "";
    CHECK(worst <= 1.0, "auto %s%s M=%lld%s: error %.3g of tolerance", attn_qtype_get(t)->name,
          panels ? " panels" : "", (long long)M, path, worst);
    CHECK(moved > (two ? 0 : 1e-4), "auto %s M=%lld%s: same as the f32 product", attn_qtype_get(t)->name,
          (long long)M, path);
    float *again = malloc(M * N * sizeof *again);
    attn_gemm_set_precision(ATTN_MATMUL_F32);
    CHECK(attn_matmul(again, x, M, &f, NULL) == 0, "%s", attn_last_error());
    CHECK(memcmp(again, c32, M * N * sizeof *c32) == 0, "auto: f32 weights not on the exact path");
    free(x), free(wf), free(wd), free(c), free(c32), free(q), free(p), free(again);
}

/* --matmul bf16 holds for f16 weights in 32-row panels (core/hpanel.h) too: their products
 * are the bits the same weights in rows give, below and above the panels' own 512 rows. */
static void check_hpanels(int64_t M) {
    const int64_t K = 300, N = 64;
    unsigned seed = 5;
    float *x = malloc(M * K * sizeof *x), *wf = malloc(K * N * sizeof *wf);
    float *c[2] = {malloc(M * N * sizeof(float)), malloc(M * N * sizeof(float))};
    uint16_t *w = malloc(K * N * sizeof *w), *p = malloc(K * N * sizeof *p);
    for (int64_t i = 0; i < M * K; i++) x[i] = frand(&seed);
    for (int64_t i = 0; i < K * N; i++) wf[i] = frand(&seed);
    attn_from_f32(w, wf, ATTN_F16, K * N);
    attn_hpanel_pack(p, w, ATTN_F16, K, 0, N);
    attn_weight rows = {.data = w, .dtype = ATTN_F16, .n_in = K, .n_out = N}, panels = rows;
    panels.panels = p, panels.data = NULL;
    attn_gemm_set_precision(ATTN_MATMUL_BF16);
    CHECK(attn_matmul(c[0], x, M, &rows, NULL) == 0 && attn_matmul(c[1], x, M, &panels, NULL) == 0, "%s",
          attn_last_error());
    CHECK(memcmp(c[0], c[1], M * N * sizeof(float)) == 0, "bf16, f16 weights in panels, M=%lld: not the rows' bits",
          (long long)M);
    free(x), free(wf), free(c[0]), free(c[1]), free(w), free(p);
}

/* Every case once with the current bf16 engine. */
static void check_engine(void) {
    const char *engine = attn_gemm_bf16_engine();
    attn_gemm_set_precision(ATTN_MATMUL_BF16);
    static const int64_t shapes[][3] = {{1, 1, 1},     {32, 32, 32},  {33, 65, 31},  {7, 300, 129}, {64, 256, 64},
                                        {100, 513, 70}, {256, 768, 96}, {40, 17, 300}, {65, 1000, 33},
                                        {300, 2100, 40}, {33, 2100, 70}};
    static const attn_dtype dts[] = {ATTN_F32, ATTN_F16, ATTN_BF16};
    for (int threads = 1; threads <= 2; threads++) {
        attn_threads_init(threads);
        char what[48];
        snprintf(what, sizeof what, "bf16 %s %dt", engine, threads);
        for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++)
            for (int v = 0; v < 8; v++) {
                gemm_case t = {shapes[s][0], shapes[s][1], shapes[s][2], .a_trans = v & 1, .overwrite = v >> 1 & 1,
                               .bias = v >> 2 & 1, .dt = dts[(s + v) % 3], .in_major = (v + s) & 1,
                               .pad = (s + v) % 4 == 1 ? 7 : 0};
                check_case(&t, what);
            }
        for (int band = ATTN_BAND_C_LOWER; band <= ATTN_BAND_B_UPPER; band++)
            for (int serial = 0; serial <= 1; serial++) {
                gemm_case t = {70, 70, 70, .a_trans = band & 1, .overwrite = serial, .dt = ATTN_F32,
                               .in_major = serial, .band = (attn_gemm_band)band, .serial = serial, .pad = 3 * serial};
                check_case(&t, what);
                t.M = t.K = t.N = 200;
                check_case(&t, what);
            }
    }
    check_threads(600, 2100, 70); /* rows handed out */
    check_threads(70, 2100, 600); /* columns handed out */
    attn_threads_init(2);
    static const attn_qtype qtypes[] = {ATTN_QT_Q8_0, ATTN_QT_Q4_0, ATTN_QT_Q4_1, ATTN_QT_Q5_0, ATTN_QT_Q4_K,
                                        ATTN_QT_Q6_K, ATTN_QT_Q3_K};
    for (size_t i = 0; i < sizeof qtypes / sizeof *qtypes; i++)
        for (int panels = 0; panels <= 1; panels++)
            if (!panels || attn_qpanel_ok(qtypes[i], 512, 48)) check_auto(qtypes[i], panels, 40), check_auto(qtypes[i], panels, 100);
    attn_gemm_set_precision(ATTN_MATMUL_BF16);
    /* slabs of one slice of the shared operand: C = bias first, then adds slab by slab */
    attn_gemm_set_shared_limit(1);
    gemm_case slabs[] = {{65, 1100, 33, .overwrite = true, .bias = true, .dt = ATTN_F32},
                         {300, 600, 40, .a_trans = true, .dt = ATTN_F16, .in_major = true}};
    for (size_t i = 0; i < sizeof slabs / sizeof *slabs; i++) check_case(&slabs[i], "bf16 slabs");
    attn_gemm_set_shared_limit(0);
    check_hpanels(40), check_hpanels(100), check_hpanels(600);
    attn_gemm_set_precision(ATTN_MATMUL_F32);
}

int main(void) {
    if (attn_gemm_set_precision(ATTN_MATMUL_BF16) != 0)
        TEST_SKIP("bf16 GEMM not tested: %s", attn_last_error());
    printf("bf16 engine: %s\n", attn_gemm_bf16_engine());
    check_engine();
    if (attn_amx_usable()) { /* and the dot products Zen 4 runs, on the same packed operands */
        attn_amx_set_enabled(false);
        printf("bf16 engine: %s\n", attn_gemm_bf16_engine());
        check_engine();
    }
    return test_finish("test_gemm_bf16");
}
