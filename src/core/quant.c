/* quant.c - ggml's block formats: the type table, and scalar reference conversions that
 * follow ggml-quants.c operation by operation so the floats (dequantize) and bytes
 * (quantize) are exactly ggml's. Blocks are read through byte pointers and memcpy, so
 * rows need no alignment (GGUF blocks of 18 or 22 bytes misalign every other half).
 *
 * Exactness needs every float operation rounded on its own, as ggml's build did: with
 * x*id + 8.5f fused into an FMA, one Q4_0 block of tiny-llama-f32.gguf already comes out
 * different (test_gguf catches it). The pragmas below keep GCC and clang from contracting,
 * whatever the flags. */
#include "core/quant.h"

#include <float.h>
#include <math.h>
#include <string.h>
#include <strings.h>

#include "core/common.h"
#include "core/tensor.h"

#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off") /* holds even if CFLAGS ask for -ffp-contract=fast */
#endif

/* ---- the type table ---------------------------------------------------------------- */

#define T(id, nm, blk, by, dq, q) [id] = {nm, blk, by, dq, q}
static const attn_qtype_info qtypes[ATTN_QT_COUNT] = {
    T(ATTN_QT_F32, "f32", 1, 4, true, true),
    T(ATTN_QT_F16, "f16", 1, 2, true, true),
    T(ATTN_QT_Q4_0, "q4_0", 32, 18, true, true),
    T(ATTN_QT_Q4_1, "q4_1", 32, 20, true, true),
    T(ATTN_QT_Q5_0, "q5_0", 32, 22, true, true),
    T(ATTN_QT_Q5_1, "q5_1", 32, 24, true, true),
    T(ATTN_QT_Q8_0, "q8_0", 32, 34, true, true),
    /* ggml's block_q8_1 is {half d, half s, int8 qs[32]}: 36 bytes (gguf-py still says 40) */
    T(ATTN_QT_Q8_1, "q8_1", 32, 36, false, false),
    T(ATTN_QT_Q2_K, "q2_K", 256, 84, true, true),
    T(ATTN_QT_Q3_K, "q3_K", 256, 110, true, true),
    T(ATTN_QT_Q4_K, "q4_K", 256, 144, true, true),
    T(ATTN_QT_Q5_K, "q5_K", 256, 176, true, true),
    T(ATTN_QT_Q6_K, "q6_K", 256, 210, true, true),
    T(ATTN_QT_Q8_K, "q8_K", 256, 292, false, false),
    T(ATTN_QT_IQ2_XXS, "iq2_xxs", 256, 66, false, false),
    T(ATTN_QT_IQ2_XS, "iq2_xs", 256, 74, false, false),
    T(ATTN_QT_IQ3_XXS, "iq3_xxs", 256, 98, false, false),
    T(ATTN_QT_IQ1_S, "iq1_s", 256, 50, false, false),
    T(ATTN_QT_IQ4_NL, "iq4_nl", 32, 18, false, false),
    T(ATTN_QT_IQ3_S, "iq3_s", 256, 110, false, false),
    T(ATTN_QT_IQ2_S, "iq2_s", 256, 82, false, false),
    T(ATTN_QT_IQ4_XS, "iq4_xs", 256, 136, false, false),
    T(ATTN_QT_I8, "i8", 1, 1, false, false),
    T(ATTN_QT_I16, "i16", 1, 2, false, false),
    T(ATTN_QT_I32, "i32", 1, 4, false, false),
    T(ATTN_QT_I64, "i64", 1, 8, false, false),
    T(ATTN_QT_F64, "f64", 1, 8, false, false),
    T(ATTN_QT_IQ1_M, "iq1_m", 256, 56, false, false),
    T(ATTN_QT_BF16, "bf16", 1, 2, true, true),
    T(ATTN_QT_TQ1_0, "tq1_0", 256, 54, false, false),
    T(ATTN_QT_TQ2_0, "tq2_0", 256, 66, false, false),
    T(ATTN_QT_MXFP4, "mxfp4", 32, 17, false, false),
    T(ATTN_QT_NVFP4, "nvfp4", 64, 36, false, false),
    T(ATTN_QT_Q1_0, "q1_0", 128, 18, false, false),
};
#undef T

const attn_qtype_info *attn_qtype_get(int type) {
    if (type < 0 || type >= ATTN_QT_COUNT || !qtypes[type].name) return NULL;
    return &qtypes[type];
}

const char *attn_qtype_name(int type) {
    const attn_qtype_info *q = attn_qtype_get(type);
    return q ? q->name : "unknown";
}

int attn_qtype_from_name(const char *name) {
    for (int t = 0; name && t < ATTN_QT_COUNT; t++)
        if (qtypes[t].name && strcasecmp(name, qtypes[t].name) == 0) return t;
    return -1;
}

bool attn_quant_row_ok(attn_qtype t, int64_t n) {
    const attn_qtype_info *q = attn_qtype_get((int)t);
    return q && n >= 0 && n % q->block == 0;
}

size_t attn_quant_row_bytes(attn_qtype t, int64_t n) {
    if (!attn_quant_row_ok(t, n)) return 0;
    const attn_qtype_info *q = attn_qtype_get((int)t);
    return (size_t)(n / q->block) * (size_t)q->bytes;
}

/* ---- little helpers ---------------------------------------------------------------- */

static inline float ld_half(const uint8_t *p) { return attn_f16_to_f32((uint16_t)(p[0] | p[1] << 8)); }

static inline void st_half(uint8_t *p, float f) {
    uint16_t h = attn_f32_to_f16(f);
    p[0] = (uint8_t)h;
    p[1] = (uint8_t)(h >> 8);
}

static inline uint32_t ld_u32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* ggml converts with `(int8_t)(v)` or `(uint8_t)(v)` then MIN(hi, .): truncation toward
 * zero. For every finite block the value lies in [0, hi+1), where this gives the same
 * result; the guards only keep NaN and huge inputs from being undefined behaviour. */
static inline int trunc_clamp(float v, int hi) {
    if (!(v > 0.0f)) return 0;
    if (v >= (float)hi) return hi;
    return (int)v;
}

/* ---- dequantizers: the legacy 32-value blocks -------------------------------------- */

/* Q8_0: d, then 32 signed bytes; x = q * d. */
void attn_dequantize_row_q8_0(const void *src, float *y, int64_t n) {
    const uint8_t *b = src;
    for (int64_t i = 0; i < n / 32; i++, b += 34, y += 32) {
        const float d = ld_half(b);
        for (int j = 0; j < 32; j++) y[j] = (float)(int8_t)b[2 + j] * d;
    }
}

/* Q4_0: d, then 16 bytes; value j is the low nibble of byte j, value j+16 the high one,
 * both offset by 8. */
void attn_dequantize_row_q4_0(const void *src, float *y, int64_t n) {
    const uint8_t *b = src;
    for (int64_t i = 0; i < n / 32; i++, b += 18, y += 32) {
        const float d = ld_half(b);
        for (int j = 0; j < 16; j++) {
            y[j] = (float)((b[2 + j] & 0x0F) - 8) * d;
            y[j + 16] = (float)((b[2 + j] >> 4) - 8) * d;
        }
    }
}

/* Q4_1: d, m (the block minimum), then nibbles as Q4_0 without the offset: x = q*d + m. */
void attn_dequantize_row_q4_1(const void *src, float *y, int64_t n) {
    const uint8_t *b = src;
    for (int64_t i = 0; i < n / 32; i++, b += 20, y += 32) {
        const float d = ld_half(b), m = ld_half(b + 2);
        for (int j = 0; j < 16; j++) {
            y[j] = (float)(b[4 + j] & 0x0F) * d + m;
            y[j + 16] = (float)(b[4 + j] >> 4) * d + m;
        }
    }
}

/* Q5_0: d, a 32-bit word whose bit j is the fifth bit of value j, then nibbles as Q4_0;
 * values are offset by 16. */
void attn_dequantize_row_q5_0(const void *src, float *y, int64_t n) {
    const uint8_t *b = src;
    for (int64_t i = 0; i < n / 32; i++, b += 22, y += 32) {
        const float d = ld_half(b);
        const uint32_t qh = ld_u32(b + 2);
        for (int j = 0; j < 16; j++) {
            const int h0 = (int)((qh >> j) << 4 & 0x10), h1 = (int)((qh >> (j + 12)) & 0x10);
            y[j] = (float)(((b[6 + j] & 0x0F) | h0) - 16) * d;
            y[j + 16] = (float)(((b[6 + j] >> 4) | h1) - 16) * d;
        }
    }
}

/* Q5_1: d, m, the high-bit word, nibbles; x = q*d + m. */
void attn_dequantize_row_q5_1(const void *src, float *y, int64_t n) {
    const uint8_t *b = src;
    for (int64_t i = 0; i < n / 32; i++, b += 24, y += 32) {
        const float d = ld_half(b), m = ld_half(b + 2);
        const uint32_t qh = ld_u32(b + 4);
        for (int j = 0; j < 16; j++) {
            const int h0 = (int)((qh >> j) << 4 & 0x10), h1 = (int)((qh >> (j + 12)) & 0x10);
            y[j] = (float)((b[8 + j] & 0x0F) | h0) * d + m;
            y[j + 16] = (float)((b[8 + j] >> 4) | h1) * d + m;
        }
    }
}

/* ---- dequantizers: K-quants (super-blocks of 256) ---------------------------------- */

/* Q2_K: scales[16] (low nibble: scale, high nibble: min of each group of 16), qs[64] (2-bit
 * values), d, dmin. Each 128-value half uses 32 bytes of qs: pass `shift` (0,2,4,6) takes
 * two groups of 16, from bytes 0-15 and 16-31. x = d*scale*q - dmin*min. */
void attn_dequantize_row_q2_K(const void *src, float *y, int64_t n) {
    const uint8_t *b = src;
    for (int64_t i = 0; i < n / 256; i++, b += 84) {
        const uint8_t *sc = b, *q = b + 16;
        const float d = ld_half(b + 80), dmin = ld_half(b + 82);
        int is = 0;
        for (int half = 0; half < 2; half++, q += 32) {
            for (int shift = 0; shift < 8; shift += 2) {
                for (int g = 0; g < 2; g++, is++) {
                    const float dl = d * (float)(sc[is] & 0x0F), ml = dmin * (float)(sc[is] >> 4);
                    for (int l = 0; l < 16; l++) *y++ = dl * (float)((q[16 * g + l] >> shift) & 3) - ml;
                }
            }
        }
    }
}

/* Q3_K's 16 six-bit scales: the low 4 bits of scale i are nibble i/8 of byte i%8, the high
 * 2 bits are bits 2*(i/4).. of byte 8 + i%4 (ggml's kmask shuffle, written per scale). */
static void q3k_scales(const uint8_t s[12], int out[16]) {
    for (int i = 0; i < 16; i++) {
        const int lo = (s[i % 8] >> (4 * (i / 8))) & 0x0F, hi = (s[8 + i % 4] >> (2 * (i / 4))) & 3;
        out[i] = (lo | hi << 4) - 32;
    }
}

/* Q3_K: hmask[32] (the third bit, cleared meaning "subtract 4"), qs[64] (low 2 bits, laid out
 * as Q2_K), scales[12], d. x = d*(scale-32)*(q - (hbit ? 0 : 4)). */
void attn_dequantize_row_q3_K(const void *src, float *y, int64_t n) {
    const uint8_t *b = src;
    for (int64_t i = 0; i < n / 256; i++, b += 110) {
        const uint8_t *hm = b, *q = b + 32;
        const float d_all = ld_half(b + 108);
        int scales[16], is = 0;
        q3k_scales(b + 96, scales);
        uint8_t m = 1;
        for (int half = 0; half < 2; half++, q += 32) {
            for (int shift = 0; shift < 8; shift += 2, m = (uint8_t)(m << 1)) {
                for (int g = 0; g < 2; g++, is++) {
                    const float dl = d_all * (float)scales[is];
                    for (int l = 16 * g; l < 16 * g + 16; l++)
                        *y++ = dl * (float)(((q[l] >> shift) & 3) - ((hm[l] & m) ? 0 : 4));
                }
            }
        }
    }
}

/* Q4_K: d, dmin, scales[12], qs[128]. Each 64 values use 32 bytes: low nibbles first (group
 * 2k), then high nibbles (group 2k+1). x = d*scale*q - dmin*min. */
void attn_dequantize_row_q4_K(const void *src, float *y, int64_t n) {
    const uint8_t *b = src;
    for (int64_t i = 0; i < n / 256; i++, b += 144) {
        const float d = ld_half(b), dmin = ld_half(b + 2);
        const uint8_t *sc = b + 4, *q = b + 16;
        for (int is = 0; is < 8; is += 2, q += 32) {
            int s, m;
            attn_q4k_scale_min(is, sc, &s, &m);
            const float d1 = d * (float)s, m1 = dmin * (float)m;
            attn_q4k_scale_min(is + 1, sc, &s, &m);
            const float d2 = d * (float)s, m2 = dmin * (float)m;
            for (int l = 0; l < 32; l++) *y++ = d1 * (float)(q[l] & 0x0F) - m1;
            for (int l = 0; l < 32; l++) *y++ = d2 * (float)(q[l] >> 4) - m2;
        }
    }
}

/* Q5_K: as Q4_K with qh[32] before qs: bit 2k of qh[l] is the fifth bit of value l of group
 * 2k, bit 2k+1 that of group 2k+1. */
void attn_dequantize_row_q5_K(const void *src, float *y, int64_t n) {
    const uint8_t *b = src;
    for (int64_t i = 0; i < n / 256; i++, b += 176) {
        const float d = ld_half(b), dmin = ld_half(b + 2);
        const uint8_t *sc = b + 4, *qh = b + 16, *ql = b + 48;
        unsigned u1 = 1, u2 = 2;
        for (int is = 0; is < 8; is += 2, ql += 32, u1 <<= 2, u2 <<= 2) {
            int s, m;
            attn_q4k_scale_min(is, sc, &s, &m);
            const float d1 = d * (float)s, m1 = dmin * (float)m;
            attn_q4k_scale_min(is + 1, sc, &s, &m);
            const float d2 = d * (float)s, m2 = dmin * (float)m;
            for (int l = 0; l < 32; l++) *y++ = d1 * (float)((ql[l] & 0x0F) + (qh[l] & u1 ? 16 : 0)) - m1;
            for (int l = 0; l < 32; l++) *y++ = d2 * (float)((ql[l] >> 4) + (qh[l] & u2 ? 16 : 0)) - m2;
        }
    }
}

/* Q6_K: ql[128] (low 4 bits), qh[64] (high 2 bits), int8 scales[16], d. Each 128-value half
 * uses 64 bytes of ql, 32 of qh and 8 scales; position l (0..31) gives four values l, l+32,
 * l+64, l+96 from the nibbles of ql[l], ql[l+32] and the bit pairs of qh[l].
 * x = (d*scale)*(q-32), multiplied in that order as ggml does. */
void attn_dequantize_row_q6_K(const void *src, float *y, int64_t n) {
    const uint8_t *b = src;
    for (int64_t i = 0; i < n / 256; i++, b += 210) {
        const float d = ld_half(b + 208);
        const uint8_t *ql = b, *qh = b + 128;
        const int8_t *sc = (const int8_t *)(b + 192);
        for (int half = 0; half < 2; half++, y += 128, ql += 64, qh += 32, sc += 8) {
            for (int l = 0; l < 32; l++) {
                const int is = l / 16;
                const int q1 = ((ql[l] & 0x0F) | ((qh[l] >> 0) & 3) << 4) - 32;
                const int q2 = ((ql[l + 32] & 0x0F) | ((qh[l] >> 2) & 3) << 4) - 32;
                const int q3 = ((ql[l] >> 4) | ((qh[l] >> 4) & 3) << 4) - 32;
                const int q4 = ((ql[l + 32] >> 4) | ((qh[l] >> 6) & 3) << 4) - 32;
                y[l] = d * (float)sc[is] * (float)q1;
                y[l + 32] = d * (float)sc[is + 2] * (float)q2;
                y[l + 64] = d * (float)sc[is + 4] * (float)q3;
                y[l + 96] = d * (float)sc[is + 6] * (float)q4;
            }
        }
    }
}

/* ---- quantizers (ggml's quantize_row_*_ref) ----------------------------------------- */

/* The value of largest magnitude, keeping its sign (the first one on ties, as ggml). */
static float signed_absmax(const float *x, int n) {
    float amax = 0.0f, max = 0.0f;
    for (int j = 0; j < n; j++) {
        if (amax < fabsf(x[j])) {
            amax = fabsf(x[j]);
            max = x[j];
        }
    }
    return max;
}

static void min_max(const float *x, int n, float *mn, float *mx) {
    float lo = FLT_MAX, hi = -FLT_MAX;
    for (int j = 0; j < n; j++) {
        if (x[j] < lo) lo = x[j];
        if (x[j] > hi) hi = x[j];
    }
    *mn = lo;
    *mx = hi;
}

/* Q8_0: d = absmax/127, q = round-half-away(x/d) computed as x * (1/d). */
void attn_quantize_row_q8_0(const float *x, void *dst, int64_t n) {
    uint8_t *b = dst;
    for (int64_t i = 0; i < n / 32; i++, x += 32, b += 34) {
        float amax = 0.0f;
        for (int j = 0; j < 32; j++) amax = ATTN_MAX(amax, fabsf(x[j]));
        const float d = amax / 127.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
        st_half(b, d);
        for (int j = 0; j < 32; j++) {
            float r = roundf(x[j] * id);
            r = r != r ? 0.0f : ATTN_MAX(-128.0f, ATTN_MIN(127.0f, r));
            b[2 + j] = (uint8_t)(int8_t)r;
        }
    }
}

/* Q4_0: the signed absmax maps to -8: d = max/-8, q = trunc(x*(1/d) + 8.5) capped at 15.
 * The product is rounded to float before the add (no FMA): that is what llama-quantize did. */
void attn_quantize_row_q4_0(const float *x, void *dst, int64_t n) {
    uint8_t *b = dst;
    for (int64_t i = 0; i < n / 32; i++, x += 32, b += 18) {
        const float d = signed_absmax(x, 32) / -8.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
        st_half(b, d);
        for (int j = 0; j < 16; j++) {
            const float x0 = x[j] * id, x1 = x[j + 16] * id;
            b[2 + j] = (uint8_t)(trunc_clamp(x0 + 8.5f, 15) | trunc_clamp(x1 + 8.5f, 15) << 4);
        }
    }
}

/* Q4_1: d = (max-min)/15, m = min, q = trunc((x-min)*(1/d) + 0.5) capped at 15. */
void attn_quantize_row_q4_1(const float *x, void *dst, int64_t n) {
    uint8_t *b = dst;
    for (int64_t i = 0; i < n / 32; i++, x += 32, b += 20) {
        float mn, mx;
        min_max(x, 32, &mn, &mx);
        const float d = (mx - mn) / 15.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
        st_half(b, d);
        st_half(b + 2, mn);
        for (int j = 0; j < 16; j++) {
            const float x0 = (x[j] - mn) * id, x1 = (x[j + 16] - mn) * id;
            b[4 + j] = (uint8_t)(trunc_clamp(x0 + 0.5f, 15) | trunc_clamp(x1 + 0.5f, 15) << 4);
        }
    }
}

/* Packs 32 five-bit values into qh (bit j = bit 4 of value j) and the 16 nibble bytes. */
static void pack_q5(const int q[32], uint8_t *qh_out, uint8_t *qs) {
    uint32_t qh = 0;
    for (int j = 0; j < 16; j++) {
        qs[j] = (uint8_t)((q[j] & 0x0F) | (q[j + 16] & 0x0F) << 4);
        qh |= (uint32_t)((q[j] & 0x10) >> 4) << j;
        qh |= (uint32_t)((q[j + 16] & 0x10) >> 4) << (j + 16);
    }
    for (int k = 0; k < 4; k++) qh_out[k] = (uint8_t)(qh >> (8 * k));
}

/* Q5_0: d = max/-16, q = trunc(x*(1/d) + 16.5) capped at 31. */
void attn_quantize_row_q5_0(const float *x, void *dst, int64_t n) {
    uint8_t *b = dst;
    for (int64_t i = 0; i < n / 32; i++, x += 32, b += 22) {
        const float d = signed_absmax(x, 32) / -16.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
        st_half(b, d);
        int q[32];
        for (int j = 0; j < 32; j++) {
            const float xs = x[j] * id;
            q[j] = trunc_clamp(xs + 16.5f, 31);
        }
        pack_q5(q, b + 2, b + 6);
    }
}

/* Q5_1: d = (max-min)/31, m = min, q = trunc((x-min)*(1/d) + 0.5). */
void attn_quantize_row_q5_1(const float *x, void *dst, int64_t n) {
    uint8_t *b = dst;
    for (int64_t i = 0; i < n / 32; i++, x += 32, b += 24) {
        float mn, mx;
        min_max(x, 32, &mn, &mx);
        const float d = (mx - mn) / 31.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
        st_half(b, d);
        st_half(b + 2, mn);
        int q[32];
        for (int j = 0; j < 32; j++) {
            const float xs = (x[j] - mn) * id;
            q[j] = trunc_clamp(xs + 0.5f, 31);
        }
        pack_q5(q, b + 4, b + 8);
    }
}

/* ---- dispatch ---------------------------------------------------------------------- */

static void to_f32_plain(const void *src, float *y, int64_t n) { memcpy(y, src, (size_t)n * 4); }
static void f16_to_f32(const void *src, float *y, int64_t n) {
    const uint8_t *p = src;
    for (int64_t i = 0; i < n; i++) y[i] = ld_half(p + 2 * i);
}
static void bf16_to_f32(const void *src, float *y, int64_t n) {
    const uint8_t *p = src;
    for (int64_t i = 0; i < n; i++) y[i] = attn_bf16_to_f32((uint16_t)(p[2 * i] | p[2 * i + 1] << 8));
}
static void f32_to_plain(const float *x, void *dst, int64_t n) { memcpy(dst, x, (size_t)n * 4); }
static void f32_to_f16(const float *x, void *dst, int64_t n) {
    uint8_t *p = dst;
    for (int64_t i = 0; i < n; i++) st_half(p + 2 * i, x[i]);
}
static void f32_to_bf16(const float *x, void *dst, int64_t n) {
    uint8_t *p = dst;
    for (int64_t i = 0; i < n; i++) {
        uint16_t h = attn_f32_to_bf16(x[i]);
        p[2 * i] = (uint8_t)h;
        p[2 * i + 1] = (uint8_t)(h >> 8);
    }
}

typedef void (*dequant_fn)(const void *, float *, int64_t);
typedef void (*quant_fn)(const float *, void *, int64_t);

static dequant_fn dequant_for(attn_qtype t) {
    switch (t) {
    case ATTN_QT_F32: return to_f32_plain;
    case ATTN_QT_F16: return f16_to_f32;
    case ATTN_QT_BF16: return bf16_to_f32;
    case ATTN_QT_Q8_0: return attn_dequantize_row_q8_0;
    case ATTN_QT_Q4_0: return attn_dequantize_row_q4_0;
    case ATTN_QT_Q4_1: return attn_dequantize_row_q4_1;
    case ATTN_QT_Q5_0: return attn_dequantize_row_q5_0;
    case ATTN_QT_Q5_1: return attn_dequantize_row_q5_1;
    case ATTN_QT_Q2_K: return attn_dequantize_row_q2_K;
    case ATTN_QT_Q3_K: return attn_dequantize_row_q3_K;
    case ATTN_QT_Q4_K: return attn_dequantize_row_q4_K;
    case ATTN_QT_Q5_K: return attn_dequantize_row_q5_K;
    case ATTN_QT_Q6_K: return attn_dequantize_row_q6_K;
    default: return NULL;
    }
}

static quant_fn quant_for(attn_qtype t) {
    switch (t) {
    case ATTN_QT_F32: return f32_to_plain;
    case ATTN_QT_F16: return f32_to_f16;
    case ATTN_QT_BF16: return f32_to_bf16;
    case ATTN_QT_Q8_0: return attn_quantize_row_q8_0;
    case ATTN_QT_Q4_0: return attn_quantize_row_q4_0;
    case ATTN_QT_Q4_1: return attn_quantize_row_q4_1;
    case ATTN_QT_Q5_0: return attn_quantize_row_q5_0;
    case ATTN_QT_Q5_1: return attn_quantize_row_q5_1;
    case ATTN_QT_Q2_K: return attn_quantize_row_q2_K;
    case ATTN_QT_Q3_K: return attn_quantize_row_q3_K;
    case ATTN_QT_Q4_K: return attn_quantize_row_q4_K;
    case ATTN_QT_Q5_K: return attn_quantize_row_q5_K;
    case ATTN_QT_Q6_K: return attn_quantize_row_q6_K;
    default: return NULL;
    }
}

/* The shared argument checks of the two dispatchers. */
static int check_row(const char *op, attn_qtype t, int64_t n, bool have_fn) {
    const attn_qtype_info *q = attn_qtype_get((int)t);
    if (!q) return attn_error("%s: unknown tensor type %d", op, (int)t);
    if (!have_fn) return attn_error("%s: type %s is not supported", op, q->name);
    if (n < 0 || n % q->block != 0)
        return attn_error("%s: %lld values are not a whole number of %s blocks of %d", op, (long long)n,
                          q->name, q->block);
    return 0;
}

int attn_dequantize_row(attn_qtype t, const void *src, float *dst, int64_t n) {
    dequant_fn f = dequant_for(t);
    if (check_row("dequantize", t, n, f != NULL) != 0) return -1;
    if (n > 0) f(src, dst, n);
    return 0;
}

int attn_quantize_row(attn_qtype t, const float *src, void *dst, int64_t n) {
    quant_fn f = quant_for(t);
    if (check_row("quantize", t, n, f != NULL) != 0) return -1;
    if (n > 0) f(src, dst, n);
    return 0;
}
