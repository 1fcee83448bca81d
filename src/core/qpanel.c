/* qpanel.c - the panel repacker, the scalar references of the panel kernels and the per-ISA
 * dispatch (see qpanel.h; the AVX-512 kernels are in simd/qpanel.c). */
#include "qpanel.h"

#include <string.h>
#include "quant_matmul.h"
#include "tensor.h"

#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off") /* the references must round like attn_dequantize_row */
#endif

#if defined(__x86_64__)
void attn_qpanel_dot_avx512(float *y, int64_t ldy, const attn_qx *qx, const void *panels, attn_qtype t, int64_t n0,
                            int64_t n1);
void attn_qpanel_pack_b_avx512(float *dst, int nr, const void *panels, attn_qtype t, int64_t K, int64_t N, int64_t k0,
                               int64_t kc, int64_t n0);
#endif

enum { P = ATTN_QPANEL_ROWS };

static bool kquant(attn_qtype t) { return t == ATTN_QT_Q4_K || t == ATTN_QT_Q5_K || t == ATTN_QT_Q6_K; }

bool attn_qpanel_ok(attn_qtype t, int64_t K, int64_t N) {
    bool legacy = t == ATTN_QT_Q4_0 || t == ATTN_QT_Q4_1 || t == ATTN_QT_Q5_0 || t == ATTN_QT_Q5_1 || t == ATTN_QT_Q8_0;
    return (legacy || kquant(t)) && K > 0 && K % attn_qtype_get(t)->block == 0 && N > 0 && N % P == 0;
}

bool attn_qpanel_wanted(attn_isa isa) { return isa == ATTN_ISA_AVX512; }

int attn_qpanel_value_bytes(attn_qtype t) {
    switch (t) {
    case ATTN_QT_Q8_0: return 512;
    case ATTN_QT_Q5_0: case ATTN_QT_Q5_1: return 320; /* nibbles, then each row's 32 fifth bits */
    case ATTN_QT_Q4_K: return 2048;
    case ATTN_QT_Q5_K: return 2560; /* Q4_K's, then 8 vectors of qh */
    case ATTN_QT_Q6_K: return 3072;
    default: return 256;
    }
}

int attn_qpanel_scale_bytes(attn_qtype t) {
    return t == ATTN_QT_Q4_1 || t == ATTN_QT_Q5_1 ? 64 : t == ATTN_QT_Q4_K || t == ATTN_QT_Q5_K ? 320
         : t == ATTN_QT_Q6_K                        ? 288
                                                    : 32;
}

size_t attn_qpanel_bytes(attn_qtype t, int64_t K, int64_t N) {
    return (size_t)(N / P) * (size_t)(K / attn_qtype_get(t)->block) *
           (size_t)(attn_qpanel_value_bytes(t) + attn_qpanel_scale_bytes(t));
}

/* Panel p's start. */
static const uint8_t *panel_at(const void *panels, attn_qtype t, int64_t K, int64_t p) {
    return (const uint8_t *)panels + (size_t)p * attn_qpanel_bytes(t, K, P);
}

/* Where a 32-block keeps its minimum m (Q4_1, Q5_1), else 0. */
static int minimum_at(attn_qtype t) { return t == ATTN_QT_Q4_1 || t == ATTN_QT_Q5_1 ? 2 : 0; }

/* 4 bytes from src to lane n of vector v of a block's values, xor x. */
static void put4(uint8_t *vals, int v, int n, const uint8_t *src, uint32_t x) {
    uint32_t w;
    memcpy(&w, src, 4);
    w ^= x;
    memcpy(vals + 64 * v + 4 * n, &w, 4);
}

/* Row n's block blk into a panel's block (values vals, scales sc). */
static void pack_block(attn_qtype t, const uint8_t *blk, int n, uint8_t *vals, uint8_t *sc) {
    switch (t) {
    case ATTN_QT_Q4_K:
    case ATTN_QT_Q5_K: { /* vector v: bytes 4v.. of qs (Q5_K: then of qh); d, dmin, per group the scales and mins */
        const int qs = t == ATTN_QT_Q5_K ? 48 : 16;
        for (int v = 0; v < 32; v++) put4(vals, v, n, blk + qs + 4 * v, 0);
        for (int v = 0; t == ATTN_QT_Q5_K && v < 8; v++) put4(vals, 32 + v, n, blk + 16 + 4 * v, 0);
        memcpy(sc + 2 * n, blk, 2), memcpy(sc + 32 + 2 * n, blk + 2, 2);
        for (int g = 0; g < 8; g++) {
            int s, m;
            attn_q4k_scale_min(g, blk + 4, &s, &m);
            sc[64 + 16 * g + n] = (uint8_t)s, sc[192 + 16 * g + n] = (uint8_t)m;
        }
        return;
    }
    case ATTN_QT_Q6_K: /* per half h: ql[64h..] (8 vectors), ql[64h+32..] (8), qh[32h..] (8); d, int8 scales */
        for (int h = 0; h < 2; h++)
            for (int c = 0; c < 8; c++) {
                put4(vals, 24 * h + c, n, blk + 64 * h + 4 * c, 0);
                put4(vals, 24 * h + 8 + c, n, blk + 64 * h + 32 + 4 * c, 0);
                put4(vals, 24 * h + 16 + c, n, blk + 128 + 32 * h + 4 * c, 0);
            }
        memcpy(sc + 2 * n, blk + 208, 2);
        for (int j = 0; j < 16; j++) sc[32 + 16 * j + n] = blk[192 + j];
        return;
    default: { /* 4 values a lane: Q8_0's signed bytes plus 128; Q5's fifth bits as a 5th vector */
        const int qs = t == ATTN_QT_Q5_1 ? 8 : t == ATTN_QT_Q5_0 ? 6 : t == ATTN_QT_Q4_1 ? 4 : 2, m = minimum_at(t);
        for (int v = 0; v < (t == ATTN_QT_Q8_0 ? 8 : 4); v++)
            put4(vals, v, n, blk + qs + 4 * v, t == ATTN_QT_Q8_0 ? 0x80808080u : 0);
        if (t == ATTN_QT_Q5_0 || t == ATTN_QT_Q5_1) put4(vals, 4, n, blk + qs - 4, 0);
        memcpy(sc + 2 * n, blk, 2);                 /* d */
        if (m) memcpy(sc + 32 + 2 * n, blk + m, 2); /* m */
        return;
    }
    }
}

void attn_qpanel_pack(void *dst, const void *w, attn_qtype t, int64_t K, int64_t N) {
    const int64_t nb = K / attn_qtype_get(t)->block, bytes = attn_qtype_get(t)->bytes, rb = nb * bytes;
    const int vb = attn_qpanel_value_bytes(t), sb = attn_qpanel_scale_bytes(t);
    for (int64_t p = 0; p < N / P; p++) {
        uint8_t *vals = (uint8_t *)dst + (size_t)p * (size_t)(nb * (vb + sb)), *scales = vals + nb * vb;
        for (int n = 0; n < P; n++)
            for (int64_t b = 0; b < nb; b++)
                pack_block(t, (const uint8_t *)w + (size_t)(p * P + n) * rb + b * bytes, n, vals + b * vb, scales + b * sb);
    }
}

static float half_at(const uint8_t *p) { return attn_f16_to_f32((uint16_t)(p[0] | p[1] << 8)); }

/* Row n of a panel's block as the scalar reference's integers (attn_qref_legacy_ints and
 * attn_qref_kquant_ints give the same from the row's bytes). */
static void panel_ints(attn_qtype t, const uint8_t *vals, const uint8_t *sc, int n, int *q, int *s16, int *m16,
                       float *d, float *c) {
    const uint8_t *lane = vals + 4 * n; /* byte i of lane n of vector v: lane[64 * v + i] */
    *d = half_at(sc + 2 * n);
    switch (t) {
    case ATTN_QT_Q4_K:
    case ATTN_QT_Q5_K:
        for (int k = 0; k < 256; k++) { /* value 32g + l: byte l of qs's 32 for pair g/2, nibble g%2 */
            int g = k / 32, l = k % 32, v = 8 * (g / 2) + l / 4;
            q[k] = (lane[64 * v + l % 4] >> (4 * (g % 2))) & 15;
            if (t == ATTN_QT_Q5_K) q[k] |= ((lane[64 * (32 + l / 4) + l % 4] >> g) & 1) << 4; /* bit g of qh[l] */
        }
        for (int j = 0; j < 16; j++) s16[j] = sc[64 + 16 * (j / 2) + n], m16[j] = sc[192 + 16 * (j / 2) + n];
        *c = -half_at(sc + 32 + 2 * n);
        return;
    case ATTN_QT_Q6_K:
        for (int k = 0; k < 256; k++) { /* value 128h + 32j + l */
            int h = k / 128, j = k % 128 / 32, l = k % 32, at = 64 * (24 * h + l / 4) + l % 4;
            int lo4 = (lane[at + 64 * 8 * (j % 2)] >> (4 * (j / 2))) & 15, hi2 = (lane[at + 64 * 16] >> (2 * j)) & 3;
            q[k] = lo4 | hi2 << 4;
        }
        for (int j = 0; j < 16; j++) s16[j] = m16[j] = (int8_t)sc[32 + 16 * j + n];
        *c = -32.0f * *d;
        return;
    default: {
        uint32_t qh = 0;
        if (t == ATTN_QT_Q5_0 || t == ATTN_QT_Q5_1) memcpy(&qh, lane + 64 * 4, 4);
        for (int j = 0; j < (t == ATTN_QT_Q8_0 ? 8 : 4); j++)
            for (int i = 0; i < 4; i++) {
                uint8_t v = lane[64 * j + i];
                int a = 4 * j + i;
                if (t == ATTN_QT_Q8_0) q[a] = (int8_t)(v ^ 0x80);
                else q[a] = (v & 15) | (int)(qh >> a & 1) << 4, q[16 + a] = (v >> 4) | (int)(qh >> (16 + a) & 1) << 4;
            }
        *c = minimum_at(t)        ? half_at(sc + 32 + 2 * n)
             : t == ATTN_QT_Q4_0 ? -8.0f * *d
             : t == ATTN_QT_Q5_0 ? -16.0f * *d
                                 : 0.0f;
        return;
    }
    }
}

/* The scalar reference's sums, from a panel. */
static float panel_dot_ref(const attn_qx *qx, int64_t r, const uint8_t *panel, attn_qtype t, int n) {
    const int64_t nb = qx->K / qx->block;
    const int vb = attn_qpanel_value_bytes(t), sb = attn_qpanel_scale_bytes(t);
    float y = 0;
    for (int64_t b = 0; b < nb; b++) {
        int q[256], s16[16], m16[16];
        float d, c;
        panel_ints(t, panel + b * vb, panel + nb * vb + b * sb, n, q, s16, m16, &d, &c);
        y += attn_qref_block(qx, r, b, q, s16, m16, d, c);
    }
    return y;
}

void attn_qpanel_dot_isa(attn_isa isa, float *y, int64_t ldy, const attn_qx *qx, const void *panels, attn_qtype t,
                         int64_t n0, int64_t n1) {
#if defined(__x86_64__)
    if (isa == ATTN_ISA_AVX512) {
        attn_qpanel_dot_avx512(y, ldy, qx, panels, t, n0, n1);
        return;
    }
#endif
    for (int64_t n = n0; n < n1; n++)
        for (int64_t r = 0; r < qx->rows; r++)
            y[r * ldy + n] = panel_dot_ref(qx, r, panel_at(panels, t, qx->K, n / P), t, (int)(n % P));
}

void attn_qpanel_dot(float *y, int64_t ldy, const attn_qx *qx, const void *panels, attn_qtype t, int64_t n0,
                     int64_t n1) {
    attn_qpanel_dot_isa(attn_isa_current(), y, ldy, qx, panels, t, n0, n1);
}

/* One value as attn_dequantize_row computes it from panel_ints' pieces (same operations in
 * the same order: the GEMM's panels must not depend on the layout). */
static float dequantized(attn_qtype t, int q, int s16, int m16, float d, float c) {
    switch (t) {
    case ATTN_QT_Q4_0: return (float)(q - 8) * d;
    case ATTN_QT_Q5_0: return (float)(q - 16) * d;
    case ATTN_QT_Q4_1: case ATTN_QT_Q5_1: return (float)q * d + c;
    case ATTN_QT_Q4_K: case ATTN_QT_Q5_K: return d * (float)s16 * (float)q - -c * (float)m16; /* d1*q - dmin*m */
    case ATTN_QT_Q6_K: return d * (float)s16 * (float)(q - 32);
    default: return (float)q * d;
    }
}

void attn_qpanel_pack_b_isa(attn_isa isa, float *dst, int nr, const void *panels, attn_qtype t, int64_t K, int64_t N,
                            int64_t k0, int64_t kc, int64_t n0) {
#if defined(__x86_64__)
    if (isa == ATTN_ISA_AVX512) {
        attn_qpanel_pack_b_avx512(dst, nr, panels, t, K, N, k0, kc, n0);
        return;
    }
#endif
    const int B = attn_qtype_get(t)->block;
    const int64_t nb = K / B;
    const int vb = attn_qpanel_value_bytes(t), sb = attn_qpanel_scale_bytes(t);
    for (int64_t c = 0; c < nr; c++) {
        const int64_t n = n0 + c;
        const uint8_t *panel = n < N ? panel_at(panels, t, K, n / P) : NULL;
        for (int64_t b = k0 / B; b * B < k0 + kc; b++) {
            int q[256], s16[16], m16[16];
            float d, e;
            if (panel) panel_ints(t, panel + b * vb, panel + nb * vb + b * sb, (int)(n % P), q, s16, m16, &d, &e);
            for (int j = 0; j < B; j++)
                dst[(b * B + j - k0) * nr + c] = panel ? dequantized(t, q[j], s16[j / 16], m16[j / 16], d, e) : 0.0f;
        }
    }
}

void attn_qpanel_pack_b(float *dst, int nr, const void *panels, attn_qtype t, int64_t K, int64_t N, int64_t k0,
                        int64_t kc, int64_t n0) {
    attn_qpanel_pack_b_isa(attn_isa_current(), dst, nr, panels, t, K, N, k0, kc, n0);
}

void attn_qpanel_row(float *dst, const void *panels, attn_qtype t, int64_t K, int64_t n) {
    const int B = attn_qtype_get(t)->block;
    const int64_t nb = K / B;
    const int vb = attn_qpanel_value_bytes(t), sb = attn_qpanel_scale_bytes(t);
    const uint8_t *panel = panel_at(panels, t, K, n / P);
    for (int64_t b = 0; b < nb; b++) {
        int q[256], s16[16], m16[16];
        float d, c;
        panel_ints(t, panel + b * vb, panel + nb * vb + b * sb, (int)(n % P), q, s16, m16, &d, &c);
        for (int j = 0; j < B; j++) dst[b * B + j] = dequantized(t, q[j], s16[j / 16], m16[j / 16], d, c);
    }
}
