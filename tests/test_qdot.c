/* test_qdot.c - the integer dot products (quant_matmul.h): activation quantizer and kernels.
 *
 * Quantizer: every ISA gives the reference's bytes, scales and sums; each value is within
 * its bound (|d|/2 with one byte, |d|/256 with two); llama.cpp's conventions hold (Q8_K's
 * largest-magnitude value becomes -127, a zero block has d = 0).
 *
 * Kernels, for every weight type, both activation modes and every ISA, against the weights
 * dequantized by quant.c and dotted in double with the unquantized x. The tolerance is
 * derived, not tuned: with x~ within e_b of x in activation block b,
 *     |W.x~ - W.x| <= sum_k |w_k| e_b(k),
 * plus float rounding: a few ulps (times log2 K) of the largest partial products, bounded
 * by sum_k |x_k| * 2 max|w| over k's group of 16 (the scale and offset terms of a weight are
 * each at most about its group's largest |w|). The ISAs must also agree with the scalar
 * reference within an eighth of that rounding term (they differ only in summation order;
 * seen: under 1/100 of it), tight enough to catch a 1/255 where 1/256 belongs. Shapes: one block, odd block counts, more than 8
 * blocks (the gathered scales), 1..17 rows (kernel groups of 4), column ranges not starting
 * at 0, output strides wider than the rows; attn_matmul for 1..17 rows in each mode. The
 * same for weights repacked into 16-row panels (qpanel.h), which must unpack to the original
 * bytes and whose GEMM decoder must give attn_qpack_b's values. */
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <time.h>
#include "core/common.h"
#include "core/cpu.h"
#include "core/gemm.h"
#include "core/kernels.h"
#include "core/matmul.h"
#include "core/quant.h"
#include "core/qpanel.h"
#include "core/quant_matmul.h"
#include "core/tensor.h"
#include "core/threadpool.h"
#include "quant_random.h"
#include "test.h"

static const attn_qtype types[] = {ATTN_QT_Q8_0, ATTN_QT_Q4_0, ATTN_QT_Q4_1, ATTN_QT_Q5_0, ATTN_QT_Q5_1,
                                   ATTN_QT_Q2_K, ATTN_QT_Q3_K, ATTN_QT_Q4_K, ATTN_QT_Q5_K, ATTN_QT_Q6_K};


/* Activations with a spread of magnitudes (some blocks tiny, some large, a zero block). */
static void fill_x(float *x, int64_t n) {
    for (int64_t i = 0; i < n; i++) x[i] = uniform() * (i / 32 % 5 == 3 ? 0.01f : 1.0f + (float)(i / 32 % 3));
    if (n >= 64) memset(x + 32, 0, 32 * sizeof(float));
}



static attn_qx *new_qx(attn_qtype t, int64_t K, int64_t rows, attn_qdot_mode mode, void **mem) {
    static attn_qx qx[4];
    static int next;
    *mem = attn_alloc(attn_qx_bytes(t, K, rows, mode));
    attn_qx *q = &qx[next++ % 4];
    attn_qx_init(q, *mem, t, K, rows, mode);
    return q;
}

/* ---- quantizer ------------------------------------------------------------------------ */

static bool same_qx(const attn_qx *a, const attn_qx *b) {
    int64_t n = a->rows * a->K, nb = a->rows * a->nb_pad, ns = a->rows * (a->K / 16);
    bool same = memcmp(a->hi, b->hi, (size_t)n) == 0 && memcmp(a->d, b->d, (size_t)nb * 4) == 0 &&
                memcmp(a->sum, b->sum, (size_t)nb * 4) == 0 && memcmp(a->bsum_hi, b->bsum_hi, (size_t)ns * 2) == 0;
    if (a->lo) same = same && memcmp(a->lo, b->lo, (size_t)n) == 0 && memcmp(a->bsum_lo, b->bsum_lo, (size_t)ns * 2) == 0;
    return same;
}

/* |x - x~| within the bound of the mode, for every value; per-16 sums and block sums right. */
static void check_bounds(const attn_qx *q, const float *x, int64_t ldx, const char *what) {
    int bad = 0, bad_sums = 0;
    for (int64_t r = 0; r < q->rows; r++)
        for (int64_t b = 0; b < q->K / q->block; b++) {
            float d = q->d[r * q->nb_pad + b];
            double bound = fabs(d) * (q->lo ? 1.0 / 256 + 1e-4 : 0.5 + 1e-4), sum = 0;
            for (int64_t k = b * q->block; k < (b + 1) * q->block; k++) {
                double xt = d * (q->hi[r * q->K + k] + (q->lo ? q->lo[r * q->K + k] / 256.0 : 0));
                bad += fabs(xt - x[r * ldx + k]) > bound + 1e-30;
                sum += xt;
            }
            bad_sums += fabs(sum - q->sum[r * q->nb_pad + b]) > 1e-6 * (fabs(sum) + fabs(d) * q->block * 128);
        }
    for (int64_t r = 0; r < q->rows; r++)
        for (int64_t g = 0; g < q->K / 16; g++) {
            int s1 = 0, s2 = 0;
            for (int k = 0; k < 16; k++) s1 += q->hi[r * q->K + 16 * g + k], s2 += q->lo ? q->lo[r * q->K + 16 * g + k] : 0;
            bad_sums += s1 != q->bsum_hi[r * (q->K / 16) + g] || (q->lo && s2 != q->bsum_lo[r * (q->K / 16) + g]);
        }
    CHECK(bad == 0, "%s: %d values outside the bound", what, bad);
    CHECK(bad_sums == 0, "%s: %d wrong sums", what, bad_sums);
}

static void check_quantizer(attn_qtype t, int64_t K, int64_t rows, attn_qdot_mode mode) {
    char what[96];
    snprintf(what, sizeof what, "quantize for %s K=%lld rows=%lld %s", attn_qtype_name(t), (long long)K,
             (long long)rows, attn_qdot_mode_name(mode));
    int64_t ldx = K + 5;
    float *x = malloc((size_t)(rows * ldx) * sizeof(float));
    fill_x(x, rows * ldx);
    void *m_ref, *m_isa;
    attn_qx *ref = new_qx(t, K, rows, mode, &m_ref), *q = new_qx(t, K, rows, mode, &m_isa);
    attn_qx_quantize_isa(ATTN_ISA_SCALAR, ref, x, ldx);
    check_bounds(ref, x, ldx, what);
    for (int isa = 1; isa < ATTN_ISA_COUNT; isa++) {
        if (!attn_isa_supported((attn_isa)isa)) continue;
        memset(m_isa, 0x5A, attn_qx_bytes(t, K, rows, mode));
        attn_qx_init(q, m_isa, t, K, rows, mode);
        attn_qx_quantize_isa((attn_isa)isa, q, x, ldx);
        CHECK(same_qx(ref, q), "%s: %s differs from the reference", what, attn_isa_name((attn_isa)isa));
    }
    int64_t nb = K / ref->block, pad_bad = 0;
    for (int64_t r = 0; r < rows; r++)
        for (int64_t b = nb; b < ref->nb_pad; b++) pad_bad += ref->d[r * ref->nb_pad + b] != 0 || ref->sum[r * ref->nb_pad + b] != 0;
    CHECK(pad_bad == 0, "%s: padding blocks not zero", what);
    free(x), attn_free(m_ref), attn_free(m_isa);
}

/* llama.cpp's conventions on hand-made blocks. */
static void check_conventions(void) {
    float x[256];
    for (int i = 0; i < 256; i++) x[i] = 0.01f * (float)(i % 17) - 0.05f;
    x[77] = 3.0f, x[200] = -3.0f; /* equal magnitudes: the first one sets the sign */
    void *mem;
    for (int isa = 0; isa < ATTN_ISA_COUNT; isa++) {
        if (!attn_isa_supported((attn_isa)isa)) continue;
        attn_qx *q = new_qx(ATTN_QT_Q4_K, 256, 1, ATTN_QDOT_Q8, &mem);
        attn_qx_quantize_isa((attn_isa)isa, q, x, 256);
        CHECK(q->hi[77] == -127 && q->hi[200] == 127 && fabsf(q->d[0] + 3.0f / 127) < 1e-7f,
              "%s Q8_K: max -> %d, d %g", attn_isa_name((attn_isa)isa), q->hi[77], (double)q->d[0]);
        attn_free(mem);
        q = new_qx(ATTN_QT_Q8_0, 64, 1, ATTN_QDOT_Q8X2, &mem);
        float z[64] = {0};
        z[33] = -2.0f, z[40] = 1.0f;
        attn_qx_quantize_isa((attn_isa)isa, q, z, 64);
        CHECK(q->d[0] == 0 && q->hi[0] == 0 && q->lo[5] == 0 && q->sum[0] == 0, "%s: zero block", attn_isa_name((attn_isa)isa));
        CHECK(q->hi[33] == -127 && q->hi[40] == 64 && q->d[1] == 2.0f / 127, "%s Q8_0: %d %d %g", attn_isa_name((attn_isa)isa),
              q->hi[33], q->hi[40], (double)q->d[1]); /* 63.5 rounds to even */
        attn_free(mem);
    }
}

/* ---- kernels -------------------------------------------------------------------------- */

/* Dequantized row n; |w| maximum per 16 values in gmax. */
static void weights_row(attn_qtype t, const uint8_t *w, int64_t K, int64_t n, float *row, float *gmax) {
    attn_dequantize_row(t, w + (size_t)n * attn_quant_row_bytes(t, K), row, K);
    for (int64_t g = 0; g < K / 16; g++) {
        gmax[g] = 0;
        for (int k = 0; k < 16; k++) gmax[g] = fmaxf(gmax[g], fabsf(row[16 * g + k]));
    }
}

typedef struct {
    double exact, quant_bound, round_bound;
} ref_dot;

static ref_dot reference(const float *row, const float *gmax, const float *x, const attn_qx *q, int64_t r) {
    ref_dot o = {0};
    double lnK = 1 + log2((double)q->K);
    for (int64_t k = 0; k < q->K; k++) {
        double e = fabs(q->d[r * q->nb_pad + k / q->block]) * (q->lo ? 1.0 / 256 + 1e-4 : 0.5 + 1e-4);
        o.exact += (double)row[k] * x[k];
        o.quant_bound += fabs(row[k]) * e;
        o.round_bound += 4e-7 * lnK * 2 * gmax[k / 16] * (fabs(x[k]) + e);
    }
    o.round_bound += 1e-6;
    return o;
}

/* An ISA's product y (columns [n0, N) of M rows, row stride ldy, the rest preset to
 * -12345) against the exact dot of x with W's dequantized rows and against the scalar
 * reference yref: nothing written outside [n0, N), within the quantization and rounding
 * bound, and within an eighth of the rounding term of yref (`exact`: equal to it). */
static void judge(const char *what, attn_isa isa, attn_qtype t, const uint8_t *w, const float *x, int64_t ldx,
                  const attn_qx *q, const float *y, const float *yref, int64_t ldy, int64_t N, int64_t n0, bool exact) {
    const int64_t M = q->rows, K = q->K;
    float *row = malloc((size_t)K * sizeof(float)), *gmax = malloc((size_t)(K / 16) * sizeof(float));
    double worst = 0, worst_ref = 0;
    int outside = 0;
    for (int64_t n = 0; n < ldy; n++) {
        if (n < n0 || n >= N) {
            for (int64_t m = 0; m < M; m++) outside += y[m * ldy + n] != -12345.0f;
            continue;
        }
        weights_row(t, w, K, n, row, gmax);
        for (int64_t m = 0; m < M; m++) {
            ref_dot o = reference(row, gmax, x + m * ldx, q, m);
            double got = y[m * ldy + n], d = fabs(got - yref[m * ldy + n]);
            worst = fmax(worst, fabs(got - o.exact) / (o.quant_bound + o.round_bound));
            worst_ref = fmax(worst_ref, exact ? d : d / (o.round_bound / 8));
        }
    }
    const char *name = attn_isa_name(isa), *mode = q->lo ? "q8x2" : q->block < attn_qtype_get(t)->block ? "q8_32" : "q8";
    CHECK(outside == 0, "%s %s %s: %d values written outside the range", what, attn_qtype_name(t), name, outside);
    CHECK(worst <= 1.0, "%s %s %s %s M=%lld N=%lld K=%lld: error %.3g x bound", what, attn_qtype_name(t), name, mode,
          (long long)M, (long long)N, (long long)K, worst);
    CHECK(exact ? worst_ref == 0 : worst_ref <= 1.0, "%s %s %s %s M=%lld K=%lld: %.3g %s the scalar reference", what,
          attn_qtype_name(t), name, mode, (long long)M, (long long)K, worst_ref, exact ? "from" : "x rounding from");
    free(row), free(gmax);
}

/* M rows, columns [n0, N) into y with row stride N+2, for every ISA. */
static void check_kernel(attn_qtype t, attn_qdot_mode mode, int64_t M, int64_t N, int64_t K) {
    int64_t ldx = K + 3, ldy = N + 2, n0 = N > 2 ? 1 : 0;
    uint8_t *w = random_matrix(t, N, K);
    float *x = malloc((size_t)(M * ldx) * sizeof(float)), *y = malloc((size_t)(M * ldy) * sizeof(float));
    float *yref = malloc((size_t)(M * ldy) * sizeof(float));
    fill_x(x, M * ldx);
    void *mem;
    attn_qx *q = new_qx(t, K, M, mode, &mem);
    attn_qx_quantize_isa(ATTN_ISA_SCALAR, q, x, ldx);
    attn_qdot_rows_nk_isa(ATTN_ISA_SCALAR, yref, ldy, q, w, t, n0, N);
    for (int isa = 0; isa < ATTN_ISA_COUNT; isa++) {
        if (!attn_isa_supported((attn_isa)isa)) continue;
        for (int64_t i = 0; i < M * ldy; i++) y[i] = -12345.0f;
        attn_qdot_rows_nk_isa((attn_isa)isa, y, ldy, q, w, t, n0, N);
        judge("rows", (attn_isa)isa, t, w, x, ldx, q, y, yref, ldy, N, n0, false);
    }
    attn_free(mem);
    free(w), free(x), free(y), free(yref);
}

/* Weights repacked into 16-row panels (qpanel.h), N a multiple of 16: every block unpacks to
 * its original bytes; every ISA's panel kernel passes check_kernel's checks for columns
 * [n0, N), n0 each multiple of 16 (the scalar path, the row reference on unpacked blocks,
 * gives yref exactly); the panels decoded for the GEMM are attn_qpack_b's values bit for bit. */
static void check_panels(attn_qtype t, attn_qdot_mode mode, int64_t M, int64_t N, int64_t K) {
    const int64_t ldx = K + 3, ldy = N + 2, B = attn_qtype_get(t)->block, bytes = attn_qtype_get(t)->bytes;
    uint8_t *w = random_matrix(t, N, K), *panels = attn_alloc(attn_qpanel_bytes(t, K, N));
    float *x = malloc((size_t)(M * ldx) * sizeof(float)), *y = malloc((size_t)(M * ldy) * sizeof(float));
    float *yref = malloc((size_t)(M * ldy) * sizeof(float));
    fill_x(x, M * ldx);
    attn_qpanel_pack(panels, w, t, K, N);
    int differ = 0;
    for (int64_t n = 0; n < N; n++)
        for (int64_t b = 0; b < K / B; b++) {
            uint8_t blk[ATTN_QPANEL_MAX_BLOCK];
            attn_qpanel_unpack_block(blk, panels, t, K, n, b);
            differ += memcmp(blk, w + (size_t)(n * (K / B) + b) * (size_t)bytes, (size_t)bytes) != 0;
        }
    CHECK(differ == 0, "panels %s: %d blocks do not unpack to their bytes", attn_qtype_name(t), differ);
    void *mem;
    attn_qx *q = new_qx(t, K, M, mode, &mem);
    attn_qx_quantize_isa(ATTN_ISA_SCALAR, q, x, ldx);
    for (int64_t n0 = 0; n0 < N; n0 += 16) {
        attn_qdot_rows_nk_isa(ATTN_ISA_SCALAR, yref, ldy, q, w, t, n0, N);
        for (int isa = 0; isa < ATTN_ISA_COUNT; isa++) {
            if (!attn_isa_supported((attn_isa)isa)) continue;
            for (int64_t i = 0; i < M * ldy; i++) y[i] = -12345.0f;
            attn_qpanel_dot_isa((attn_isa)isa, y, ldy, q, panels, t, n0, N);
            judge("panels", (attn_isa)isa, t, w, x, ldx, q, y, yref, ldy, N, n0, isa == ATTN_ISA_SCALAR);
        }
    }
    const int nr = attn_kernels_get()->nr;
    float *a = malloc((size_t)(K * nr) * sizeof(float)), *b = malloc((size_t)(K * nr) * sizeof(float));
    for (int64_t n0 = 0; n0 < N; n0 += nr)
        for (int64_t k0 = 0, step = B == 32 ? 64 : 256; k0 < K; k0 += step) {
            int64_t kc = K - k0 < step ? K - k0 : step;
            attn_qpack_b(a, w, t, K, N, k0, kc, n0);
            for (int isa = 0; isa < ATTN_ISA_COUNT; isa++) {
                if (!attn_isa_supported((attn_isa)isa) || (isa == ATTN_ISA_AVX512 && nr % 16)) continue;
                memset(b, 0x55, (size_t)(kc * nr) * sizeof(float));
                attn_qpanel_pack_b_isa((attn_isa)isa, b, nr, panels, t, K, N, k0, kc, n0);
                CHECK(memcmp(a, b, (size_t)(kc * nr) * sizeof(float)) == 0, "panels %s %s: GEMM panel n0=%lld k0=%lld",
                      attn_qtype_name(t), attn_isa_name((attn_isa)isa), (long long)n0, (long long)k0);
            }
        }
    attn_free(mem), attn_free(panels);
    free(w), free(x), free(y), free(yref), free(a), free(b);
}

/* The second byte must buy what it promises: errors far below one byte's. */
static void check_two_bytes_help(attn_qtype t) {
    int64_t K = 1024, N = 64;
    uint8_t *w = random_matrix(t, N, K);
    float *x = malloc((size_t)K * sizeof(float)), *y = malloc((size_t)N * sizeof(float));
    float *row = malloc((size_t)K * sizeof(float)), *gmax = malloc((size_t)(K / 16) * sizeof(float));
    fill_x(x, K);
    double err[2] = {0, 0};
    for (int two = 0; two < 2; two++) {
        void *mem;
        attn_qx *q = new_qx(t, K, 1, two ? ATTN_QDOT_Q8X2 : ATTN_QDOT_Q8, &mem);
        attn_qx_quantize_isa(attn_isa_best(), q, x, K);
        attn_qdot_rows_nk_isa(attn_isa_best(), y, N, q, w, t, 0, N);
        for (int64_t n = 0; n < N; n++) {
            weights_row(t, w, K, n, row, gmax);
            err[two] += fabs(y[n] - reference(row, gmax, x, q, 0).exact);
        }
        attn_free(mem);
    }
    CHECK(err[1] * 50 < err[0], "%s: two bytes' error %.3g vs one byte's %.3g", attn_qtype_name(t), err[1], err[0]);
    free(w), free(x), free(y), free(row), free(gmax);
}

/* attn_matmul with M rows and a bias, in the given mode, from rows or (panels) from the
 * matrix repacked into panels. */
static void check_matmul(attn_qtype t, attn_qdot_mode mode, int64_t M, int64_t N, int64_t K, bool panels) {
    uint8_t *w = random_matrix(t, N, K), *pw = panels ? attn_alloc(attn_qpanel_bytes(t, K, N)) : NULL;
    if (pw) attn_qpanel_pack(pw, w, t, K, N);
    float *x = malloc((size_t)(M * K) * sizeof(float)), *y = malloc((size_t)(M * N) * sizeof(float));
    float *bias = malloc((size_t)N * sizeof(float)), *row = malloc((size_t)K * sizeof(float));
    float *gmax = malloc((size_t)(K / 16) * sizeof(float));
    fill_x(x, M * K);
    for (int64_t n = 0; n < N; n++) bias[n] = uniform();
    attn_qdot_set_mode(mode);
    attn_weight wt = {.data = w, .dtype = ATTN_F32, .n_in = K, .n_out = N, .qtype = t, .panels = pw};
    CHECK(attn_matmul(y, x, M, &wt, bias) == 0, "matmul");
    /* prompts (over 16 rows) in INT8 precision: one byte, in 32-blocks from panels */
    const bool int8 = M > 16 && attn_gemm_int8_prompts(pw && attn_qtype_get(t)->block == 256);
    const attn_qdot_mode used = M <= 16 ? mode : !int8 ? ATTN_QDOT_F32 : pw ? ATTN_QDOT_Q8_32 : ATTN_QDOT_Q8;
    void *mem;
    attn_qx *q = new_qx(t, K, M, used == ATTN_QDOT_Q8X2 || used == ATTN_QDOT_Q8_32 ? used : ATTN_QDOT_Q8, &mem);
    attn_qx_quantize_isa(ATTN_ISA_SCALAR, q, x, K);
    if (int8) { /* the kernel on those rows, bit for bit: the path was taken */
        float *yk = malloc((size_t)(M * N) * sizeof(float));
        if (pw) attn_qpanel_dot(yk, N, q, pw, t, 0, N);
        else attn_qdot_rows_nk(yk, N, q, w, t, 0, N);
        int64_t differ = 0;
        for (int64_t i = 0; i < M * N; i++) differ += yk[i] + bias[i % N] != y[i];
        CHECK(differ == 0, "matmul %s int8%s M=%lld: %lld values not the integer kernel's", attn_qtype_name(t),
              pw ? " panels" : "", (long long)M, (long long)differ);
        free(yk);
    }
    double worst = 0;
    for (int64_t n = 0; n < N; n++) {
        weights_row(t, w, K, n, row, gmax);
        for (int64_t m = 0; m < M; m++) {
            ref_dot o = reference(row, gmax, x + m * K, q, m);
            double bound = (used == ATTN_QDOT_F32 ? 0 : o.quant_bound) + o.round_bound + 1e-6 * fabs(bias[n]);
            worst = fmax(worst, fabs(y[m * N + n] - (o.exact + bias[n])) / bound);
        }
    }
    CHECK(worst <= 1.0, "matmul %s %s%s M=%lld N=%lld K=%lld: error %.3g x bound", attn_qtype_name(t),
          attn_qdot_mode_name(used), pw ? " panels" : "", (long long)M, (long long)N, (long long)K, worst);
    attn_free(mem), attn_free(pw);
    free(w), free(x), free(y), free(bias), free(row), free(gmax);
}

/* attn_matmul_many gives what one attn_matmul per weight gives, bit for bit (each output
 * row is the same kernel on the same quantized rows), with and without panels, for weights of
 * one block size, of two (done one by one), plain f32 ones around a quantized one (ATTN_QT_F32:
 * the quantized one keeps its integer rows) and for prompts (the GEMM). */
static void check_matmul_many(attn_qtype t0, attn_qtype t1, int64_t M, bool panels) {
    const int64_t K = 512, N[3] = {64, t0 ? 32 : 64, t0 ? 48 : 128}; /* plain ones: whole GEMV units */
    const attn_qtype ts[3] = {t0, t1, t0};
    uint8_t *w[3], *pw[3];
    attn_weight wt[3];
    float *ys[3], *yref[3], *bias[3], *x = malloc((size_t)(M * K) * sizeof(float));
    fill_x(x, M * K);
    for (int i = 0; i < 3; i++) {
        if (ts[i] == ATTN_QT_F32) {
            float *f = malloc((size_t)(N[i] * K) * sizeof(float));
            fill_x(f, N[i] * K);
            w[i] = (uint8_t *)f;
        } else {
            w[i] = random_matrix(ts[i], N[i], K);
        }
        pw[i] = ts[i] && panels && attn_qpanel_ok(ts[i], K, N[i]) ? attn_alloc(attn_qpanel_bytes(ts[i], K, N[i])) : NULL;
        if (pw[i]) attn_qpanel_pack(pw[i], w[i], ts[i], K, N[i]);
        wt[i] = (attn_weight){.data = w[i], .dtype = ATTN_F32, .n_in = K, .n_out = N[i], .qtype = ts[i], .panels = pw[i]};
        ys[i] = malloc((size_t)(M * N[i]) * sizeof(float)), yref[i] = malloc((size_t)(M * N[i]) * sizeof(float));
        bias[i] = i == 1 ? NULL : malloc((size_t)N[i] * sizeof(float));
        for (int64_t n = 0; bias[i] && n < N[i]; n++) bias[i][n] = uniform();
        CHECK(attn_matmul(yref[i], x, M, &wt[i], bias[i]) == 0, "matmul");
    }
    const attn_weight *const ws[] = {&wt[0], &wt[1], &wt[2]};
    const float *const bs[] = {bias[0], bias[1], bias[2]};
    CHECK(attn_matmul_many(3, ys, x, M, ws, bs) == 0, "matmul_many");
    for (int i = 0; i < 3; i++) {
        CHECK(memcmp(ys[i], yref[i], (size_t)(M * N[i]) * sizeof(float)) == 0, "matmul_many %s+%s%s M=%lld: product %d",
              attn_qtype_name(t0), attn_qtype_name(t1), panels ? " panels" : "", (long long)M, i);
        attn_free(pw[i]), free(w[i]), free(ys[i]), free(yref[i]), free(bias[i]);
    }
    free(x);
}

/* ATTN_QBENCH=1: one thread, best of 30, M rows of an N x K matrix (ATTN_QBENCH_N/K/M,
 * default SmolLM2's 1536 x 576, one row): the exact f32 path against the integer one in each
 * mode, weight bytes per second, activation quantization included; with M > 1 also the
 * panels with one-byte rows (the type's blocks, and INT8 prompts' 32-blocks), in integer
 * multiply-adds a second (x2). */
static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts); /* the machine may be shared */
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void bench(attn_qtype t) {
    int64_t N = getenv("ATTN_QBENCH_N") ? atoll(getenv("ATTN_QBENCH_N")) : 1536;
    int64_t K = getenv("ATTN_QBENCH_K") ? atoll(getenv("ATTN_QBENCH_K")) : 576;
    int64_t M = getenv("ATTN_QBENCH_M") ? atoll(getenv("ATTN_QBENCH_M")) : 1;
    if (K % attn_qtype_get(t)->block) return;
    uint8_t *w = random_matrix(t, N, K);
    float *x = malloc((size_t)(M * K) * sizeof(float)), *y = malloc((size_t)(M * N) * sizeof(float));
    fill_x(x, M * K);
    double gb = (double)attn_quant_row_bytes(t, K) * (double)N / 1e9;
    printf("%-5s %lldx%lld M=%lld:", attn_qtype_name(t), (long long)N, (long long)K, (long long)M);
    for (int mode = ATTN_QDOT_F32; mode <= ATTN_QDOT_Q8X2; mode++) {
        double best = 1e9;
        for (int rep = 0; rep < 30; rep++) {
            double t0 = now();
            if (mode == ATTN_QDOT_F32 && M == 1) { /* what attn_matmul runs */
                attn_qgemv_nk(y, x, w, t, K, 0, N);
            } else if (mode == ATTN_QDOT_F32) {
                attn_qgemv_rows_nk(y, N, x, K, M, w, t, K, 0, N);
            } else {
                attn_qdot_set_mode((attn_qdot_mode)mode);
                attn_qdot_rows_nk(y, N, attn_qx_rows(x, K, M, K, t, true, attn_qdot_get_mode()), w, t, 0, N);
            }
            best = fmin(best, now() - t0);
        }
        printf("  %s %6.2f GB/s", attn_qdot_mode_name((attn_qdot_mode)mode), gb / best);
    }
    if (attn_qpanel_ok(t, K, N)) { /* rows and panels alternated, in the default mode */
        uint8_t *pw = attn_alloc(attn_qpanel_bytes(t, K, N));
        attn_qpanel_pack(pw, w, t, K, N);
        double best[2] = {1e9, 1e9};
        for (int rep = 0; rep < 60; rep++) {
            const attn_qx *q = attn_qx_rows(x, K, M, K, t, true, attn_qdot_get_mode());
            double t0 = now();
            if (rep % 2) attn_qpanel_dot(y, N, q, pw, t, 0, N);
            else attn_qdot_rows_nk(y, N, q, w, t, 0, N);
            best[rep % 2] = fmin(best[rep % 2], now() - t0);
        }
        printf("  | %s rows %6.2f panels %6.2f GB/s (%.2fx)", attn_qdot_mode_name(attn_qdot_get_mode()),
               gb / best[0], gb / best[1], best[0] / best[1]);
        for (int m = ATTN_QDOT_Q8; M > 1 && m <= ATTN_QDOT_Q8_32; m += ATTN_QDOT_Q8_32 - ATTN_QDOT_Q8) {
            double b = 1e9; /* prompts: one byte (INT8's 32-blocks, or the type's), integer multiply-adds */
            for (int rep = 0; rep < 30; rep++) {
                const attn_qx *q = attn_qx_rows(x, K, M, K, t, false, (attn_qdot_mode)m);
                double t0 = now();
                attn_qpanel_dot(y, N, q, pw, t, 0, N);
                b = fmin(b, now() - t0);
            }
            printf("  | %s panels %.0f GOP/s", attn_qdot_mode_name((attn_qdot_mode)m), 2.0 * (double)(M * N * K) / b / 1e9);
        }
        attn_free(pw);
    }
    printf("\n");
    free(w), free(x), free(y);
}

/* The kernels must not read past a weight matrix: its last byte sits just before a page
 * that faults (17 and 18 blocks end on a partial quad of 4, 24 on a whole one). */
static void check_matrix_end(attn_qtype t, int64_t K) {
    const size_t page = (size_t)sysconf(_SC_PAGESIZE), rb = attn_quant_row_bytes(t, K), N = 3;
    const size_t span = (N * rb + page - 1) / page * page;
    uint8_t *map = mmap(NULL, span + page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK(map != MAP_FAILED && mprotect(map + span, page, PROT_NONE) == 0, "guard page");
    if (map == MAP_FAILED) return;
    uint8_t *src = random_matrix(t, (int64_t)N, K), *w = map + span - N * rb;
    memcpy(w, src, N * rb);
    float x[1024], y[3], yref[3];
    fill_x(x, K);
    void *mem;
    attn_qx *q = new_qx(t, K, 1, true, &mem);
    attn_qx_quantize_isa(ATTN_ISA_SCALAR, q, x, K);
    attn_qdot_rows_nk_isa(ATTN_ISA_SCALAR, yref, 3, q, w, t, 0, (int64_t)N);
    for (int isa = 1; isa < ATTN_ISA_COUNT; isa++) {
        if (!attn_isa_supported((attn_isa)isa)) continue;
        attn_qdot_rows_nk_isa((attn_isa)isa, y, 3, q, w, t, 0, (int64_t)N); /* a fault ends the test */
        CHECK(fabsf(y[N - 1] - yref[N - 1]) <= 1e-3f * (1 + fabsf(yref[N - 1])), "%s %s K=%lld: last row %g vs %g",
              attn_qtype_name(t), attn_isa_name((attn_isa)isa), (long long)K, y[N - 1], yref[N - 1]);
    }
    attn_free(mem);
    free(src);
    munmap(map, span + page);
}

/* The panels' memory (attn_alloc_stream): 2 MB-aligned, all of it writable, and a size that
 * cannot be mapped is an error, not a wrapped-around small mapping. */
static void check_stream_alloc(void) {
    const size_t bytes = (3u << 20) + 5;
    uint8_t *p = attn_alloc_stream(bytes);
    CHECK(p && (uintptr_t)p % (2u << 20) == 0, "stream buffer %p not 2 MB-aligned", (void *)p);
    if (p) {
        memset(p, 0x5a, bytes);
        CHECK(p[0] == 0x5a && p[bytes - 1] == 0x5a, "stream buffer not writable to its end");
        attn_free_stream(p, bytes);
    }
    CHECK(attn_alloc_stream(SIZE_MAX - 10) == NULL && strstr(attn_last_error(), "overflows"),
          "a size past SIZE_MAX: '%s'", attn_last_error());
    /* rounds to a whole number of huge pages, but the huge page of slack mapped to align it would wrap */
    CHECK(attn_alloc_stream(SIZE_MAX - (3u << 20) + 1) == NULL && strstr(attn_last_error(), "overflows"),
          "a size just under SIZE_MAX: '%s'", attn_last_error());
}

int main(void) {
    if (getenv("ATTN_QBENCH")) {
        for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) bench(types[i]);
        return 0;
    }
    attn_threads_init(2);
    check_stream_alloc();
    attn_gemm_set_precision(ATTN_MATMUL_F32); /* many-row products exact: test_gemm_bf16 covers bf16 */
    check_conventions();
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        attn_qtype t = types[i];
        int64_t B = attn_qtype_get(t)->block;
        for (int m = ATTN_QDOT_Q8; m <= ATTN_QDOT_Q8_32; m++) {
            const attn_qdot_mode mode = (attn_qdot_mode)m;
            if (B == 32 || t == ATTN_QT_Q2_K) { /* one quantizer per block size */
                check_quantizer(t, B, 1, mode);
                check_quantizer(t, 9 * B, 3, mode);
            }
            if (mode == ATTN_QDOT_Q8_32) continue; /* panels only */
            check_kernel(t, mode, 1, 1, B);
            check_kernel(t, mode, 1, 5, 3 * B);
            check_kernel(t, mode, 2, 9, 9 * B);
            check_kernel(t, mode, 1, 3, B == 32 ? 576 : 1536);
            check_kernel(t, mode, 5, 37, B == 32 ? 17 * B : 2 * B);
            check_kernel(t, mode, 3, 7, B == 32 ? 129 * B : 9 * B); /* the AVX-512 kernel's passes of 64 blocks, odd tail */
            for (int64_t M = 1; M <= 17; M++) check_kernel(t, mode, M, 6, 2 * B);
        }
        check_two_bytes_help(t);
        if (attn_qpanel_ok(t, B, 16))
            for (int m = ATTN_QDOT_Q8; m <= ATTN_QDOT_Q8_32; m++) {
                const attn_qdot_mode mode = (attn_qdot_mode)m;
                check_panels(t, mode, 1, 16, B);
                check_panels(t, mode, 3, 48, B == 32 ? 576 : 1536);
                check_panels(t, mode, 17, 32, 9 * B);
                for (int64_t M = 1; M <= 9; M++) check_panels(t, mode, M, 32, 3 * B);
            }
        if (B == 32) check_matrix_end(t, 17 * B), check_matrix_end(t, 18 * B), check_matrix_end(t, 24 * B);
        for (int mode = ATTN_QDOT_F32; mode <= ATTN_QDOT_Q8X2; mode++)
            for (int64_t M = 1; M <= 17; M += 4) {
                check_matmul(t, (attn_qdot_mode)mode, M, 35, 3 * B, false);
                if (attn_qpanel_ok(t, 3 * B, 48)) check_matmul(t, (attn_qdot_mode)mode, M, 48, 3 * B, true);
            }
        attn_gemm_set_precision(ATTN_MATMUL_INT8); /* prompts with one-byte activations */
        for (int64_t M = 17; M <= 41; M += 24) {
            check_matmul(t, ATTN_QDOT_Q8X2, M, 35, 3 * B, false);
            if (attn_qpanel_ok(t, 3 * B, 48)) check_matmul(t, ATTN_QDOT_Q8X2, M, 48, 3 * B, true);
        }
        attn_gemm_set_precision(ATTN_MATMUL_F32);
    }
    for (int int8 = 0; int8 < 2; int8++) {
        attn_gemm_set_precision(int8 ? ATTN_MATMUL_INT8 : ATTN_MATMUL_F32);
        for (int panels = 0; panels < 2; panels++)
            for (int64_t M = 1; M <= 33; M += 8) {
                check_matmul_many(ATTN_QT_Q4_0, ATTN_QT_Q4_0, M, panels);
                check_matmul_many(ATTN_QT_Q4_K, ATTN_QT_Q6_K, M, panels);
                check_matmul_many(ATTN_QT_Q4_K, ATTN_QT_Q8_0, M, panels); /* two block sizes */
                check_matmul_many(ATTN_QT_F32, ATTN_QT_Q8_0, M, panels);
            }
    }
    attn_matmul_precision p = ATTN_MATMUL_F32;
    CHECK(attn_matmul_precision_parse("int8", &p) == 0 && p == ATTN_MATMUL_INT8 &&
              attn_gemm_int8_prompts(false) && attn_matmul_precision_parse("int4", &p) != 0,
          "int8 precision");
    attn_qdot_set_mode(ATTN_QDOT_Q8X2);
    CHECK(strcmp(attn_qdot_mode_name(ATTN_QDOT_Q8), "q8") == 0 && attn_qdot_get_mode() == ATTN_QDOT_Q8X2, "mode names");
    return test_finish("test_qdot");
}
