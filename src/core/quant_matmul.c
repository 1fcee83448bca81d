/* quant_matmul.c - the scalar reference of the quantized GEMV (one row and several), the
 * per-ISA dispatch, the panel packer of the quantized GEMM, and the integer dot products'
 * activation quantizer and scalar reference (see quant_matmul.h). */
#include "quant_matmul.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include "common.h"
#include "kernels.h"
#include "tensor.h"
#include "threadpool.h"

#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off") /* the quantizer must round like the SIMD one */
#endif

#if defined(__x86_64__)
void attn_qgemv_nk_avx2(float *y, const float *x, const void *w, attn_qtype t, int64_t K, int64_t n0, int64_t n1);
void attn_qgemv_nk_avx512(float *y, const float *x, const void *w, attn_qtype t, int64_t K, int64_t n0, int64_t n1);
void attn_qdecode_row_avx2(attn_qtype t, const void *src, float *dst, int64_t n);
void attn_qdecode_row_avx512(attn_qtype t, const void *src, float *dst, int64_t n);
void attn_qgemv_rows_nk_avx2(float *y, int64_t ldy, const float *x, int64_t ldx, int64_t M, const void *w,
                             attn_qtype t, int64_t K, int64_t n0, int64_t n1);
void attn_qgemv_rows_nk_avx512(float *y, int64_t ldy, const float *x, int64_t ldx, int64_t M, const void *w,
                               attn_qtype t, int64_t K, int64_t n0, int64_t n1);
void attn_qx_quantize_row_avx2(const float *x, int64_t K, int block, float *d, int8_t *hi, int8_t *lo);
void attn_qx_quantize_row_avx512(const float *x, int64_t K, int block, float *d, int8_t *hi, int8_t *lo);
void attn_qdot_rows_nk_avx2(float *y, int64_t ldy, const attn_qx *qx, const void *w, attn_qtype t, int64_t n0,
                            int64_t n1);
void attn_qdot_rows_nk_avx512(float *y, int64_t ldy, const attn_qx *qx, const void *w, attn_qtype t, int64_t n0,
                              int64_t n1);
#endif

bool attn_qtype_matmul_ok(int t) {
    switch (t) {
    case ATTN_QT_Q8_0: case ATTN_QT_Q4_0: case ATTN_QT_Q4_1: case ATTN_QT_Q5_0: case ATTN_QT_Q5_1:
    case ATTN_QT_Q2_K: case ATTN_QT_Q3_K: case ATTN_QT_Q4_K: case ATTN_QT_Q5_K: case ATTN_QT_Q6_K:
        return true;
    default:
        return false;
    }
}

/* Dequantize a row chunk, then an f32 dot: the yardstick the SIMD kernels are held to. */
static void qgemv_ref(float *y, const float *x, const void *w, attn_qtype t, int64_t K, int64_t n0, int64_t n1) {
    enum { CHUNK = 256 };
    float buf[CHUNK];
    const attn_qtype_info *info = attn_qtype_get(t);
    size_t rb = attn_quant_row_bytes(t, K);
    for (int64_t n = n0; n < n1; n++) {
        const uint8_t *row = (const uint8_t *)w + (size_t)n * rb;
        float acc = 0;
        for (int64_t k0 = 0; k0 < K; k0 += CHUNK) {
            int64_t m = K - k0 < CHUNK ? K - k0 : CHUNK;
            attn_dequantize_row(t, row + k0 / info->block * info->bytes, buf, m);
            for (int64_t j = 0; j < m; j++) acc += buf[j] * x[k0 + j];
        }
        y[n] = acc;
    }
}

void attn_qgemv_nk_isa(attn_isa isa, float *y, const float *x, const void *w, attn_qtype t, int64_t K, int64_t n0,
                       int64_t n1) {
    switch (isa) {
#if defined(__x86_64__)
    case ATTN_ISA_AVX512: attn_qgemv_nk_avx512(y, x, w, t, K, n0, n1); return;
    case ATTN_ISA_AVX2: attn_qgemv_nk_avx2(y, x, w, t, K, n0, n1); return;
#endif
    default: qgemv_ref(y, x, w, t, K, n0, n1); return;
    }
}

void attn_qgemv_nk(float *y, const float *x, const void *w, attn_qtype t, int64_t K, int64_t n0, int64_t n1) {
    attn_qgemv_nk_isa(attn_isa_current(), y, x, w, t, K, n0, n1);
}

void attn_qgemv_rows_nk_isa(attn_isa isa, float *y, int64_t ldy, const float *x, int64_t ldx, int64_t M,
                            const void *w, attn_qtype t, int64_t K, int64_t n0, int64_t n1) {
    switch (isa) {
#if defined(__x86_64__)
    case ATTN_ISA_AVX512: attn_qgemv_rows_nk_avx512(y, ldy, x, ldx, M, w, t, K, n0, n1); return;
    case ATTN_ISA_AVX2: attn_qgemv_rows_nk_avx2(y, ldy, x, ldx, M, w, t, K, n0, n1); return;
#endif
    default:
        for (int64_t r = 0; r < M; r++) qgemv_ref(y + r * ldy, x + r * ldx, w, t, K, n0, n1);
        return;
    }
}

void attn_qgemv_rows_nk(float *y, int64_t ldy, const float *x, int64_t ldx, int64_t M, const void *w, attn_qtype t,
                        int64_t K, int64_t n0, int64_t n1) {
    attn_qgemv_rows_nk_isa(attn_isa_current(), y, ldy, x, ldx, M, w, t, K, n0, n1);
}

void attn_qdecode_row_isa(attn_isa isa, attn_qtype t, const void *src, float *dst, int64_t n) {
    switch (isa) {
#if defined(__x86_64__)
    case ATTN_ISA_AVX512: attn_qdecode_row_avx512(t, src, dst, n); return;
    case ATTN_ISA_AVX2: attn_qdecode_row_avx2(t, src, dst, n); return;
#endif
    default: attn_dequantize_row(t, src, dst, n); return;
    }
}

/* Each of the panel's rows is decoded whole into rows[j][0:kc] (the block decoders write
 * contiguous values), then the f32 packer turns that small [nr][kc] matrix into [kc][nr]
 * with its register transposes: scattering value by value cost more than the decoding. */
void attn_qpack_b(float *dst, const void *w, attn_qtype t, int64_t K, int64_t N, int64_t k0, int64_t kc, int64_t n0) {
    enum { KC_MAX = 256, NR_MAX = 32 };
    float rows[NR_MAX * KC_MAX];
    const attn_qtype_info *info = attn_qtype_get(t);
    const attn_kernels *kern = attn_kernels_get();
    size_t rb = attn_quant_row_bytes(t, K);
    int64_t cols = N - n0 < kern->nr ? N - n0 : kern->nr;
    for (int64_t c0 = 0; c0 < kc; c0 += KC_MAX) { /* the GEMM's slices are up to 768 deep */
        int64_t m = kc - c0 < KC_MAX ? kc - c0 : KC_MAX;
        for (int64_t j = 0; j < cols; j++) {
            const uint8_t *src = (const uint8_t *)w + (size_t)(n0 + j) * rb + (k0 + c0) / info->block * info->bytes;
            attn_qdecode_row_isa(attn_isa_current(), t, src, rows + j * m, m);
        }
        kern->pack_b(dst + c0 * kern->nr, rows, ATTN_F32, false, m, cols, 0, m, 0);
    }
}

/* ---- integer dot products: the mode, the activation quantizer, the scalar reference ---- */

static int qdot_mode = -1;
static bool qdot_chosen; /* by $ATTN_QDOT or attn_qdot_set_mode, not the default */

attn_qdot_mode attn_qdot_get_mode(void) {
    if (qdot_mode < 0) {
        const char *env = getenv("ATTN_QDOT");
        qdot_mode = ATTN_QDOT_Q8X2;
        for (int m = 0; env && m <= ATTN_QDOT_Q8X2; m++)
            if (strcmp(env, attn_qdot_mode_name((attn_qdot_mode)m)) == 0) qdot_mode = m, qdot_chosen = true;
    }
    return (attn_qdot_mode)qdot_mode;
}

bool attn_qdot_mode_chosen(void) {
    attn_qdot_get_mode(); /* reads $ATTN_QDOT once */
    return qdot_chosen;
}

void attn_qdot_set_mode(attn_qdot_mode mode) { qdot_mode = (int)mode, qdot_chosen = true; }

const char *attn_qdot_mode_name(attn_qdot_mode mode) {
    static const char *names[] = {"f32", "q8", "q8x2", "q8_32"};
    return (unsigned)mode <= ATTN_QDOT_Q8_32 ? names[mode] : "?";
}

static bool legacy(attn_qtype t) { return attn_qtype_get(t)->block == 32; }
static int act_block(attn_qtype t, attn_qdot_mode mode) { return legacy(t) || mode == ATTN_QDOT_Q8_32 ? 32 : 256; }
static size_t align64(size_t n) { return (n + 63) & ~(size_t)63; }

/* Only the row kernels of the 32-block types read quads. */
static int64_t act_quads(attn_qtype t, int64_t K) { return legacy(t) ? (K / 32 + 3) / 4 : 0; }

size_t attn_qx_bytes(attn_qtype t, int64_t K, int64_t rows, attn_qdot_mode mode) {
    const bool two = mode == ATTN_QDOT_Q8X2;
    size_t nb_pad = (size_t)((K / act_block(t, mode) + 7) / 8 * 8), r = (size_t)rows, quads = (size_t)act_quads(t, K);
    return (align64(r * (size_t)K) + align64(r * quads * 128)) * (two ? 2 : 1) +
           2 * align64(r * nb_pad * sizeof(float)) + 2 * align64(r * quads * 16 * sizeof(float)) +
           align64(r * (size_t)(K / 16) * sizeof(int16_t)) * (two ? 2 : 1);
}

void attn_qx_init(attn_qx *qx, void *mem, attn_qtype t, int64_t K, int64_t rows, attn_qdot_mode mode) {
    const bool two = mode == ATTN_QDOT_Q8X2;
    uint8_t *p = mem;
    size_t r = (size_t)rows;
    *qx = (attn_qx){.K = K, .rows = rows, .block = act_block(t, mode)};
    qx->nb_pad = (K / qx->block + 7) / 8 * 8;
    qx->hi = (int8_t *)p, p += align64(r * (size_t)K);
    if (two) qx->lo = (int8_t *)p, p += align64(r * (size_t)K);
    qx->d = (float *)(void *)p, p += align64(r * (size_t)qx->nb_pad * sizeof(float));
    qx->sum = (float *)(void *)p, p += align64(r * (size_t)qx->nb_pad * sizeof(float));
    qx->bsum_hi = (int16_t *)(void *)p, p += align64(r * (size_t)(K / 16) * sizeof(int16_t));
    if (two) qx->bsum_lo = (int16_t *)(void *)p, p += align64(r * (size_t)(K / 16) * sizeof(int16_t));
    qx->quads = act_quads(t, K);
    if (!qx->quads) return;
    size_t qb = (size_t)qx->quads * 128, qf = (size_t)qx->quads * 16 * sizeof(float);
    qx->quad_hi = (int8_t *)p, p += align64(r * qb);
    if (two) qx->quad_lo = (int8_t *)p, p += align64(r * qb);
    qx->dq = (float *)(void *)p, p += align64(r * qf);
    qx->sq = (float *)(void *)p;
}

/* Rounded to nearest even and clamped to [-127, 127] (NaN gives -127, as in the SIMD code). */
static int8_t round_q8(float v) { return (int8_t)fminf(fmaxf(rintf(v), -127.0f), 127.0f); }

/* One block's scale d and multiplier s (hi = round(x*s)); see quant_matmul.h. */
static void block_scale(const float *x, int n, float *d, float *s) {
    float amax = 0, v = 0;
    for (int j = 0; j < n; j++)
        if (fabsf(x[j]) > amax) amax = fabsf(x[j]), v = x[j];
    if (amax == 0.0f) {
        *d = *s = 0.0f;
    } else if (n == 32) {
        *d = amax / 127.0f, *s = 127.0f / amax;
    } else {
        *s = -127.0f / v, *d = 1.0f / *s;
    }
}

/* The reference quantizer of one row (the SIMD ones give the same bytes). */
static void quantize_row_ref(const float *x, int64_t K, int block, float *d, int8_t *hi, int8_t *lo) {
    for (int64_t b = 0; b < K / block; b++, x += block, hi += block) {
        float s;
        block_scale(x, block, &d[b], &s);
        for (int j = 0; j < block; j++) {
            hi[j] = round_q8(x[j] * s);
            if (lo) lo[j] = round_q8((x[j] - d[b] * (float)hi[j]) * (s * 256.0f));
        }
        if (lo) lo += block;
    }
}

static void sums16(const int8_t *q, int64_t K, int16_t *out) {
    for (int64_t g = 0; g < K / 16; g++, q += 16) {
        int t = 0;
        for (int j = 0; j < 16; j++) t += q[j];
        out[g] = (int16_t)t;
    }
}

/* Row r's per-16 sums, and sum(x~) over each block from them (exact integers, one rounding). */
static void row_sums(attn_qx *qx, int64_t r) {
    int64_t K = qx->K, nb = K / qx->block, per = qx->block / 16;
    const float *d = qx->d + r * qx->nb_pad;
    int16_t *b1 = qx->bsum_hi + r * (K / 16), *b2 = qx->lo ? qx->bsum_lo + r * (K / 16) : NULL;
    float *sum = qx->sum + r * qx->nb_pad;
    sums16(qx->hi + r * K, K, b1);
    if (b2) sums16(qx->lo + r * K, K, b2);
    for (int64_t b = 0; b < nb; b++) {
        int32_t s1 = 0, s2 = 0;
        for (int64_t g = b * per; g < (b + 1) * per; g++) s1 += b1[g], s2 += b2 ? b2[g] : 0;
        sum[b] = b2 ? (d[b] * (1.0f / 256)) * (float)(256 * s1 + s2) : d[b] * (float)s1;
    }
}

/* Row r's bytes, scales and sums in quads (see attn_qx). */
static void quad_planes(attn_qx *qx, int64_t r) {
    const int64_t K = qx->K, nb = K / 32, qb = qx->quads * 128, qf = qx->quads * 16;
    const float *d = qx->d + r * qx->nb_pad, *sum = qx->sum + r * qx->nb_pad;
    float *dq = qx->dq + r * qf, *sq = qx->sq + r * qf;
    for (int plane = 0; plane < (qx->lo ? 2 : 1); plane++) {
        const int8_t *src = (plane ? qx->lo : qx->hi) + r * K;
        int8_t *dst = (plane ? qx->quad_lo : qx->quad_hi) + r * qb;
        memset(dst, 0, (size_t)qb);
        for (int64_t b = 0; b < nb; b++) /* block b is block b%4 of quad b/4 */
            for (int half = 0; half < 2; half++)
                memcpy(dst + b / 4 * 128 + 64 * half + 16 * (b % 4), src + 32 * b + 16 * half, 16);
    }
    for (int64_t l = 0; l < qf; l++) {
        const int64_t b = l / 4;
        dq[l] = b < nb ? d[b] * (qx->lo ? 1.0f / 256 : 1.0f) : 0.0f;
        sq[l] = b < nb ? sum[b] * 0.25f : 0.0f;
    }
}

typedef struct {
    attn_isa isa;
    attn_qx *qx;
    const float *x;
    int64_t ldx;
} quantize_job;

static void quantize_rows(void *ctx, int64_t r0, int64_t r1, int thread) {
    (void)thread;
    const quantize_job *j = ctx;
    attn_qx *qx = j->qx;
    int64_t K = qx->K, nb = K / qx->block;
    for (int64_t r = r0; r < r1; r++) {
        float *d = qx->d + r * qx->nb_pad;
        int8_t *hi = qx->hi + r * K, *lo = qx->lo ? qx->lo + r * K : NULL;
        switch (j->isa) {
#if defined(__x86_64__)
        case ATTN_ISA_AVX512: attn_qx_quantize_row_avx512(j->x + r * j->ldx, K, qx->block, d, hi, lo); break;
        case ATTN_ISA_AVX2: attn_qx_quantize_row_avx2(j->x + r * j->ldx, K, qx->block, d, hi, lo); break;
#endif
        default: quantize_row_ref(j->x + r * j->ldx, K, qx->block, d, hi, lo); break;
        }
        for (int64_t b = nb; b < qx->nb_pad; b++) d[b] = 0.0f;
        memset(qx->sum + r * qx->nb_pad + nb, 0, (size_t)(qx->nb_pad - nb) * sizeof(float));
        row_sums(qx, r);
        if (qx->quads) quad_planes(qx, r);
    }
}

/* Rows spread over the threads: with several sequences decoding, the rows of every matrix
 * product are quantized while the other threads would otherwise wait for them. */
void attn_qx_quantize_isa(attn_isa isa, attn_qx *qx, const float *x, int64_t ldx) {
    quantize_job j = {.isa = isa, .qx = qx, .x = x, .ldx = ldx};
    attn_parallel_for(qx->rows, 1, quantize_rows, &j);
}

/* The scalar reference writes every block as integers and scales:
 *   32-blocks:  w = d*q + c for the block's 32 values (c the offset or minimum);
 *   K-quants:   w = d*sc[g]*q + cm*mn[g] for the 16 values of group g,
 * and the dot of a block with x~ = dx*(hi + lo/256) follows from integer sums. The SIMD
 * kernels use the same decomposition. */
static float half_le(const uint8_t *p) { return attn_f16_to_f32((uint16_t)(p[0] | p[1] << 8)); }

static void legacy_ints(attn_qtype t, const uint8_t *b, int q[32], float *d, float *c) {
    const int qs_at[] = {[ATTN_QT_Q4_0] = 2, [ATTN_QT_Q4_1] = 4, [ATTN_QT_Q5_0] = 6, [ATTN_QT_Q5_1] = 8};
    uint32_t qh = 0;
    *d = half_le(b);
    if (t == ATTN_QT_Q8_0) {
        for (int j = 0; j < 32; j++) q[j] = (int8_t)b[2 + j];
        *c = 0;
        return;
    }
    if (t == ATTN_QT_Q5_0 || t == ATTN_QT_Q5_1) memcpy(&qh, b + (t == ATTN_QT_Q5_0 ? 2 : 4), 4);
    const uint8_t *qs = b + qs_at[t];
    for (int j = 0; j < 16; j++) {
        q[j] = (qs[j] & 15) | (int)((qh >> j) & 1) << 4;
        q[j + 16] = (qs[j] >> 4) | (int)((qh >> (j + 16)) & 1) << 4;
    }
    *c = t == ATTN_QT_Q4_0 ? -8.0f * *d : t == ATTN_QT_Q5_0 ? -16.0f * *d : half_le(b + 2);
}

static void kquant_ints(attn_qtype t, const uint8_t *b, int q[256], int sc[16], int mn[16], float *d, float *cm) {
    switch (t) {
    case ATTN_QT_Q2_K:
    case ATTN_QT_Q3_K: /* 2-bit values: byte l of each 32 of qs, shifted by 2j for group j */
        for (int k = 0; k < 256; k++) {
            int h = k / 128, j = k % 128 / 32, l = k % 32, g = 4 * h + j;
            q[k] = (b[(t == ATTN_QT_Q2_K ? 16 : 32) + 32 * h + l] >> (2 * j)) & 3;
            if (t == ATTN_QT_Q3_K) q[k] |= ((b[l] >> g) & 1) << 2;
        }
        if (t == ATTN_QT_Q2_K) {
            for (int g = 0; g < 16; g++) sc[g] = b[g] & 15, mn[g] = b[g] >> 4;
            *d = half_le(b + 80), *cm = -half_le(b + 82);
        } else {
            const uint8_t *s = b + 96;
            for (int g = 0; g < 16; g++)
                sc[g] = mn[g] = (((s[g % 8] >> (4 * (g / 8))) & 15) | ((s[8 + g % 4] >> (2 * (g / 4))) & 3) << 4) - 32;
            *d = half_le(b + 108), *cm = -4.0f * *d;
        }
        return;
    case ATTN_QT_Q4_K:
    case ATTN_QT_Q5_K: { /* 32 bytes per 64 values: low nibbles group 2i, high 2i+1 */
        const uint8_t *qs = b + (t == ATTN_QT_Q4_K ? 16 : 48);
        for (int k = 0; k < 256; k++) {
            int g = k / 32, l = k % 32;
            q[k] = (qs[32 * (g / 2) + l] >> (4 * (g % 2))) & 15;
            if (t == ATTN_QT_Q5_K) q[k] |= ((b[16 + l] >> g) & 1) << 4;
        }
        for (int g = 0; g < 16; g++) attn_q4k_scale_min(g / 2, b + 4, &sc[g], &mn[g]);
        *d = half_le(b), *cm = -half_le(b + 2);
        return;
    }
    default: /* Q6_K: per 128 values ql[64], qh[32]; l, l+32, l+64, l+96 share ql[l], ql[l+32], qh[l] */
        for (int k = 0; k < 256; k++) {
            int h = k / 128, j = k % 128 / 32, l = k % 32;
            int lo4 = (b[64 * h + l + 32 * (j % 2)] >> (4 * (j / 2))) & 15, hi2 = (b[128 + 32 * h + l] >> (2 * j)) & 3;
            q[k] = lo4 | hi2 << 4;
        }
        for (int g = 0; g < 16; g++) sc[g] = mn[g] = (int8_t)b[192 + g];
        *d = half_le(b + 208), *cm = -32.0f * *d;
        return;
    }
}

float attn_qdot_ref_block(const attn_qx *qx, int64_t r, int64_t b, const void *block, attn_qtype t) {
    const int64_t K = qx->K, k0 = b * attn_qtype_get(t)->block;
    const int8_t *hi = qx->hi + r * K, *lo = qx->lo ? qx->lo + r * K : NULL;
    int q[256], sc[16], mn[16];
    float d, c;
    if (legacy(t)) {
        legacy_ints(t, block, q, &d, &c);
        int32_t s = 0;
        for (int j = 0; j < 32; j++) s += q[j] * (lo ? 256 * hi[k0 + j] + lo[k0 + j] : hi[k0 + j]);
        const float dx = qx->d[r * qx->nb_pad + b];
        return (float)s * (d * dx * (lo ? 1.0f / 256 : 1.0f)) + c * qx->sum[r * qx->nb_pad + b];
    }
    /* K-quants: integer sums over each activation block (the whole super-block, or 32 values
     * with ATTN_QDOT_Q8_32), scaled by its dx when it ends */
    kquant_ints(t, block, q, sc, mn, &d, &c);
    const int16_t *b1 = qx->bsum_hi + r * (K / 16), *b2 = lo ? qx->bsum_lo + r * (K / 16) : NULL;
    int64_t s1 = 0, s2 = 0, m1 = 0, m2 = 0;
    float y = 0;
    for (int g = 0; g < 16; g++) {
        int64_t p1 = 0, p2 = 0;
        for (int j = 16 * g; j < 16 * g + 16; j++) p1 += q[j] * hi[k0 + j], p2 += lo ? q[j] * lo[k0 + j] : 0;
        s1 += sc[g] * p1, s2 += sc[g] * p2;
        m1 += mn[g] * b1[k0 / 16 + g], m2 += b2 ? mn[g] * b2[k0 / 16 + g] : 0;
        if (16 * (g + 1) % qx->block) continue;
        const float dx = qx->d[r * qx->nb_pad + (k0 + 16 * g) / qx->block];
        y += (float)s1 * (d * dx) + (float)m1 * (c * dx);
        if (lo) y += (float)s2 * (d * dx * (1.0f / 256)) + (float)m2 * (c * dx * (1.0f / 256));
        s1 = s2 = m1 = m2 = 0;
    }
    return y;
}

/* Row r of qx against one weight row. */
static float qdot_ref(const attn_qx *qx, int64_t r, const uint8_t *w, attn_qtype t) {
    const int64_t bytes = attn_qtype_get(t)->bytes;
    float y = 0;
    for (int64_t b = 0; b < qx->K / attn_qtype_get(t)->block; b++, w += bytes) y += attn_qdot_ref_block(qx, r, b, w, t);
    return y;
}

void attn_qdot_rows_nk_isa(attn_isa isa, float *y, int64_t ldy, const attn_qx *qx, const void *w, attn_qtype t,
                           int64_t n0, int64_t n1) {
    switch (isa) {
#if defined(__x86_64__)
    case ATTN_ISA_AVX512: attn_qdot_rows_nk_avx512(y, ldy, qx, w, t, n0, n1); return;
    case ATTN_ISA_AVX2: attn_qdot_rows_nk_avx2(y, ldy, qx, w, t, n0, n1); return;
#endif
    default: {
        size_t rb = attn_quant_row_bytes(t, qx->K);
        for (int64_t n = n0; n < n1; n++)
            for (int64_t r = 0; r < qx->rows; r++) y[r * ldy + n] = qdot_ref(qx, r, (const uint8_t *)w + (size_t)n * rb, t);
        return;
    }
    }
}

void attn_qdot_rows_nk(float *y, int64_t ldy, const attn_qx *qx, const void *w, attn_qtype t, int64_t n0,
                       int64_t n1) {
    attn_qdot_rows_nk_isa(attn_isa_current(), y, ldy, qx, w, t, n0, n1);
}

/* Each thread's activation buffer, grown on demand and kept (every matmul of a layer
 * reuses it). A thread that exits (the server's scheduler, say) frees its own through the
 * key's destructor. */
static _Thread_local void *qx_mem;
static _Thread_local size_t qx_cap;
static _Thread_local attn_qx qx_rows;
static pthread_key_t qx_key;
static pthread_once_t qx_key_once = PTHREAD_ONCE_INIT;

static void qx_free(void *p) { attn_free(p); }
static void qx_make_key(void) { pthread_key_create(&qx_key, qx_free); }

const attn_qx *attn_qx_rows(const float *x, int64_t ldx, int64_t M, int64_t K, attn_qtype t, bool quads,
                            attn_qdot_mode mode) {
    if (mode == ATTN_QDOT_F32) return NULL;
    size_t need = attn_qx_bytes(t, K, M, mode);
    if (need > qx_cap) {
        attn_free(qx_mem);
        qx_mem = attn_alloc(need);
        qx_cap = qx_mem ? need : 0;
        pthread_once(&qx_key_once, qx_make_key);
        pthread_setspecific(qx_key, qx_mem);
        if (!qx_mem) return NULL;
    }
    attn_qx_init(&qx_rows, qx_mem, t, K, M, mode);
    if (!quads) qx_rows.quads = 0; /* nothing will read them: skip building them */
    attn_qx_quantize_isa(attn_isa_current(), &qx_rows, x, ldx);
    return &qx_rows;
}
