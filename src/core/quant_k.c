/* quant_k.c - the K-quant quantizers (Q2_K, Q3_K, Q4_K, Q5_K, Q6_K): ggml's reference
 * quantizers (quantize_row_*_ref, what llama-quantize runs without an importance matrix),
 * redone operation by operation so that the bytes come out the same. Block layouts are in
 * quant.h and beside the dequantizers in quant.c.
 *
 * Each super-block of 256 values is cut into groups (16 of 16 values, or 8 of 32). A search
 * picks each group's scale (and, for the "x1" types Q2_K/Q4_K/Q5_K, its minimum), then the
 * group scales are themselves quantized to 4, 6 or 8 bits against one f16 super-scale, and
 * finally every value is re-rounded against the scale it will really be decoded with.
 *
 * Exactness: llama.cpp builds these functions into ggml-base, which gets no -march flags, so
 * no FMA is ever used and every float operation rounds on its own; the expressions below
 * keep ggml's evaluation order (a*b*c is (a*b)*c, sums run first to last) and contraction is
 * off for this file. Rounding to the nearest int uses ggml's trick (add 1.5*2^23, read the
 * mantissa): round-half-even, and defined behaviour for any input. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "core/quant.h"
#include "core/tensor.h"

#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

/* Below this a group's or super-block's largest magnitude counts as zero (ggml's GROUP_MAX_EPS). */
#define GROUP_EPS 1e-15f

static inline int nearest_int(float f) {
    const float v = f + 12582912.0f;
    int32_t i;
    memcpy(&i, &v, sizeof i);
    return (i & 0x007fffff) - 0x00400000;
}

static inline int clamp_int(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }

static inline void st_half(uint8_t *p, float f) {
    const uint16_t h = attn_f32_to_f16(f);
    p[0] = (uint8_t)h;
    p[1] = (uint8_t)(h >> 8);
}

/* The f16 super-scale as the decoder will read it back. */
static inline float half_back(const uint8_t *p) { return attn_f16_to_f32((uint16_t)(p[0] | p[1] << 8)); }

/* ---- group searches ---------------------------------------------------------------- */

/* Sum of w*x*l and w*l*l for the grid 1/iscale, weights w = x^2, into L (offset by nmax
 * when `store`). ggml's make_qx_quants inner loop, rmse_type 1. */
static void qx_sums(int n, int nmax, const float *x, float iscale, int8_t *L, float *sumlx, float *suml2) {
    float slx = 0, sl2 = 0;
    for (int i = 0; i < n; i++) {
        const int l = clamp_int(nearest_int(iscale * x[i]), -nmax, nmax - 1);
        if (L) L[i] = (int8_t)(l + nmax);
        const float w = x[i] * x[i];
        slx += w * x[i] * (float)l;
        sl2 += w * (float)l * (float)l;
    }
    *sumlx = slx, *suml2 = sl2;
}

/* Symmetric signed grid [-nmax, nmax-1] (Q6_K): start from the scale that maps the signed
 * absmax to -nmax, then try 18 nearby grids and keep the one with the best weighted least
 * squares fit (x^2 weights). L gets l + nmax; returns the scale. make_qx_quants(.., 1, NULL). */
static float make_qx_quants(int n, int nmax, const float *x, int8_t *L) {
    float max = 0, amax = 0;
    for (int i = 0; i < n; i++) {
        const float ax = fabsf(x[i]);
        if (ax > amax) amax = ax, max = x[i];
    }
    if (amax < GROUP_EPS) {
        memset(L, 0, (size_t)n);
        return 0.0f;
    }
    float sumlx, suml2;
    qx_sums(n, nmax, x, (float)-nmax / max, L, &sumlx, &suml2);
    float scale = suml2 != 0.0f ? sumlx / suml2 : 0.0f, best = scale * sumlx;
    for (int is = -9; is <= 9; is++) {
        if (is == 0) continue;
        const float iscale = -((float)nmax + 0.1f * (float)is) / max;
        qx_sums(n, nmax, x, iscale, NULL, &sumlx, &suml2);
        if (suml2 > 0 && sumlx * sumlx > best * suml2) {
            qx_sums(n, nmax, x, iscale, L, &sumlx, &suml2);
            scale = sumlx / suml2;
            best = scale * sumlx;
        }
    }
    return scale;
}

/* Signed grid [-nmax, nmax-1] (Q3_K): round against the absmax scale, then up to 5 passes
 * that move single values to the level the least-squares scale wants when that lowers the
 * x^2-weighted error. L gets l + nmax; returns the fitted scale. make_q3_quants(.., true). */
static float make_q3_quants(int n, int nmax, const float *x, int8_t *L) {
    float max = 0, amax = 0;
    for (int i = 0; i < n; i++) {
        const float ax = fabsf(x[i]);
        if (ax > amax) amax = ax, max = x[i];
    }
    if (amax < GROUP_EPS) {
        memset(L, 0, (size_t)n);
        return 0.0f;
    }
    const float iscale = (float)-nmax / max;
    float sumlx = 0, suml2 = 0;
    for (int i = 0; i < n; i++) {
        const int l = clamp_int(nearest_int(iscale * x[i]), -nmax, nmax - 1);
        L[i] = (int8_t)l;
        const float w = x[i] * x[i];
        sumlx += w * x[i] * (float)l;
        suml2 += w * (float)l * (float)l;
    }
    for (int itry = 0; itry < 5; itry++) {
        int n_changed = 0;
        for (int i = 0; i < n; i++) {
            const float w = x[i] * x[i];
            float slx = sumlx - w * x[i] * (float)L[i];
            if (!(slx > 0)) continue;
            float sl2 = suml2 - w * (float)L[i] * (float)L[i];
            const int new_l = clamp_int(nearest_int(x[i] * sl2 / slx), -nmax, nmax - 1);
            if (new_l == L[i]) continue;
            slx += w * x[i] * (float)new_l;
            sl2 += w * (float)new_l * (float)new_l;
            if (sl2 > 0 && slx * slx * suml2 > sumlx * sumlx * sl2) {
                L[i] = (int8_t)new_l, sumlx = slx, suml2 = sl2;
                n_changed++;
            }
        }
        if (!n_changed) break;
    }
    for (int i = 0; i < n; i++) L[i] = (int8_t)(L[i] + nmax);
    return suml2 > 0.0f ? sumlx / suml2 : 0.0f;
}

/* Error of x against scale*L + min under the weights: absolute (mad) or squared. */
static float grid_error(int n, const float *x, const float *w, const uint8_t *L, float scale, float min, bool mad) {
    float err = 0;
    for (int i = 0; i < n; i++) {
        float diff = scale * (float)L[i] + min - x[i];
        diff = mad ? fabsf(diff) : diff * diff;
        err += w[i] * diff;
    }
    return err;
}

typedef struct {
    float rmin, rdelta; /* grid i maps the range to nmax + rmin + rdelta*i levels */
    int nstep;          /* grids 0..nstep */
    bool mad;           /* absolute instead of squared error */
} qkx2_search;

/* Asymmetric grid x ~ scale*l - m, l in [0, nmax], m >= 0 (Q2_K, Q4_K, Q5_K): starting from
 * min/max, try nstep+1 grid spacings; for each, round, solve the weighted least squares
 * for scale and min, and keep the fit with the lowest weighted error. L gets the levels,
 * *the_min = m; returns the scale. ggml's make_qkx2_quants. */
static float make_qkx2_quants(int n, int nmax, const float *x, const float *w, uint8_t *L, float *the_min,
                              uint8_t *Laux, const qkx2_search *s) {
    float min = x[0], max = x[0], sum_w = w[0], sum_x = sum_w * x[0];
    for (int i = 1; i < n; i++) {
        if (x[i] < min) min = x[i];
        if (x[i] > max) max = x[i];
        sum_w += w[i];
        sum_x += w[i] * x[i];
    }
    if (min > 0) min = 0;
    if (max == min) {
        memset(L, 0, (size_t)n);
        *the_min = -min;
        return 0.0f;
    }
    float iscale = (float)nmax / (max - min), scale = 1 / iscale;
    for (int i = 0; i < n; i++) L[i] = (uint8_t)clamp_int(nearest_int(iscale * (x[i] - min)), 0, nmax);
    float best_error = grid_error(n, x, w, L, scale, min, s->mad);
    for (int is = 0; is <= s->nstep; is++) {
        iscale = (s->rmin + s->rdelta * (float)is + (float)nmax) / (max - min);
        float sum_l = 0, sum_l2 = 0, sum_xl = 0;
        for (int i = 0; i < n; i++) {
            const int l = clamp_int(nearest_int(iscale * (x[i] - min)), 0, nmax);
            Laux[i] = (uint8_t)l;
            sum_l += w[i] * (float)l;
            sum_l2 += w[i] * (float)l * (float)l;
            sum_xl += w[i] * (float)l * x[i];
        }
        const float D = sum_w * sum_l2 - sum_l * sum_l;
        if (!(D > 0)) continue;
        float this_scale = (sum_w * sum_xl - sum_x * sum_l) / D;
        float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / D;
        if (this_min > 0) {
            this_min = 0;
            this_scale = sum_xl / sum_l2;
        }
        const float cur_error = grid_error(n, x, w, Laux, this_scale, this_min, s->mad);
        if (cur_error < best_error) {
            memcpy(L, Laux, (size_t)n);
            best_error = cur_error;
            scale = this_scale;
            min = this_min;
        }
    }
    *the_min = -min;
    return scale;
}

/* ---- packing helpers --------------------------------------------------------------- */

/* 2-bit fields of 256 levels into 64 bytes: per 128-value half, byte l holds values l, l+32,
 * l+64, l+96 at bits 0, 2, 4, 6 (Q2_K's qs, Q3_K's low bits). */
static void pack_2bit(const uint8_t *L, uint8_t *qs) {
    for (int j = 0; j < 256; j += 128)
        for (int l = 0; l < 32; l++)
            qs[j / 4 + l] = (uint8_t)(L[j + l] | L[j + l + 32] << 2 | L[j + l + 64] << 4 | L[j + l + 96] << 6);
}

void attn_q4k_pack_scale_min(const uint8_t ls[8], const uint8_t lm[8], uint8_t *sc) {
    for (int j = 0; j < 8; j++) {
        if (j < 4) {
            sc[j] = ls[j];
            sc[j + 4] = lm[j];
        } else {
            sc[j + 4] = (uint8_t)((ls[j] & 0x0F) | (lm[j] & 0x0F) << 4);
            sc[j - 4] |= (uint8_t)((ls[j] >> 4) << 6);
            sc[j] |= (uint8_t)((lm[j] >> 4) << 6);
        }
    }
}

/* Largest value of v[0..n) and >= 0 (the group scales and mins of the x1 types are >= 0 by
 * construction; ggml starts its maximum at 0 too). */
static float max_nonneg(const float *v, int n) {
    float m = 0;
    for (int j = 0; j < n; j++)
        if (v[j] > m) m = v[j];
    return m;
}

/* ---- Q2_K -------------------------------------------------------------------------- */

/* 16 groups of 16: 2-bit levels, a 4-bit scale and a 4-bit min per group (|x| weights,
 * mean absolute error), d = max scale / 15, dmin = max min / 15. */
static void q2_K_block(const float *x, uint8_t *b) {
    static const qkx2_search search = {-0.5f, 0.1f, 15, true};
    uint8_t L[256], Laux[16], *sc = b, *qs = b + 16;
    float w[16], mins[16], scales[16];
    for (int j = 0; j < 16; j++) {
        for (int l = 0; l < 16; l++) w[l] = fabsf(x[16 * j + l]);
        scales[j] = make_qkx2_quants(16, 3, x + 16 * j, w, L + 16 * j, &mins[j], Laux, &search);
    }
    const float max_scale = max_nonneg(scales, 16), max_min = max_nonneg(mins, 16);
    memset(sc, 0, 16);
    if (max_scale > 0) {
        const float iscale = 15.0f / max_scale;
        for (int j = 0; j < 16; j++) sc[j] = (uint8_t)nearest_int(iscale * scales[j]);
    }
    st_half(b + 80, max_scale > 0 ? max_scale / 15.0f : 0.0f);
    if (max_min > 0) {
        const float iscale = 15.0f / max_min;
        for (int j = 0; j < 16; j++) sc[j] |= (uint8_t)((unsigned)nearest_int(iscale * mins[j]) << 4);
    }
    st_half(b + 82, max_min > 0 ? max_min / 15.0f : 0.0f);
    for (int j = 0; j < 16; j++) {
        const float d = half_back(b + 80) * (float)(sc[j] & 0x0F);
        if (d == 0.0f) continue;
        const float dm = half_back(b + 82) * (float)(sc[j] >> 4);
        for (int i = 0; i < 16; i++) L[16 * j + i] = (uint8_t)clamp_int(nearest_int((x[16 * j + i] + dm) / d), 0, 3);
    }
    pack_2bit(L, qs);
}

void attn_quantize_row_q2_K(const float *x, void *dst, int64_t n) {
    uint8_t *b = dst;
    for (int64_t i = 0; i < n / 256; i++) q2_K_block(x + 256 * i, b + 84 * i);
}

/* ---- Q3_K -------------------------------------------------------------------------- */

/* Scale i (0..63, stored +32) into the 12-byte layout quant.c's q3k_scales reads. */
static void q3_K_put_scale(uint8_t *s, int i, int l) {
    if (i < 8) s[i] = (uint8_t)(l & 0x0F);
    else s[i - 8] |= (uint8_t)((l & 0x0F) << 4);
    s[8 + i % 4] |= (uint8_t)((l >> 4) << (2 * (i / 4)));
}

static int q3_K_get_scale(const uint8_t *s, int i) {
    const int lo = i < 8 ? s[i] & 0x0F : s[i - 8] >> 4;
    return (lo | ((s[8 + i % 4] >> (2 * (i / 4))) & 3) << 4) - 32;
}

/* 16 groups of 16: 3-bit signed levels (low 2 bits in qs, the third in hmask), 6-bit
 * signed group scales against d = max|scale| / 32. */
static void q3_K_block(const float *x, uint8_t *b) {
    uint8_t *hmask = b, *qs = b + 32, *sc = b + 96;
    int8_t L[256];
    float scales[16], max_scale = 0, amax = 0;
    for (int j = 0; j < 16; j++) {
        scales[j] = make_q3_quants(16, 4, x + 16 * j, L + 16 * j);
        const float a = fabsf(scales[j]);
        if (a > amax) amax = a, max_scale = scales[j];
    }
    memset(sc, 0, 12);
    if (max_scale != 0.0f) {
        const float iscale = -32.0f / max_scale;
        for (int j = 0; j < 16; j++) {
            const int8_t l = (int8_t)nearest_int(iscale * scales[j]);
            q3_K_put_scale(sc, j, clamp_int(l, -32, 31) + 32);
        }
        st_half(b + 108, 1 / iscale);
    } else {
        st_half(b + 108, 0.0f);
    }
    for (int j = 0; j < 16; j++) {
        const float d = half_back(b + 108) * (float)q3_K_get_scale(sc, j);
        if (d == 0.0f) continue;
        for (int i = 0; i < 16; i++) L[16 * j + i] = (int8_t)(clamp_int(nearest_int(x[16 * j + i] / d), -4, 3) + 4);
    }
    /* the third bit of value j goes to bit j/32 of hmask[j%32]; 2 bits remain */
    uint8_t low[256];
    memset(hmask, 0, 32);
    for (int j = 0; j < 256; j++) {
        const int l = L[j];
        if (l > 3) hmask[j % 32] |= (uint8_t)(1 << (j / 32));
        low[j] = (uint8_t)(l > 3 ? l - 4 : l);
    }
    pack_2bit(low, qs);
}

void attn_quantize_row_q3_K(const float *x, void *dst, int64_t n) {
    uint8_t *b = dst;
    for (int64_t i = 0; i < n / 256; i++) q3_K_block(x + 256 * i, b + 110 * i);
}

/* ---- Q4_K and Q5_K ----------------------------------------------------------------- */

/* The shared part of Q4_K and Q5_K: 8 groups of 32 with weights rms(group) + |x|, levels
 * 0..nmax; 6-bit scales and mins against d = max scale / 63, dmin = max min / 63, written
 * to b[0..16); L gets the final levels. */
static void q45_K_scales(const float *x, int nmax, const qkx2_search *search, uint8_t *b, uint8_t L[256]) {
    uint8_t Laux[32], ls[8], lm[8];
    float w[32], mins[8], scales[8];
    for (int j = 0; j < 8; j++) {
        const float *g = x + 32 * j;
        float sum_x2 = 0;
        for (int l = 0; l < 32; l++) sum_x2 += g[l] * g[l];
        const float av_x = sqrtf(sum_x2 / 32);
        for (int l = 0; l < 32; l++) w[l] = av_x + fabsf(g[l]);
        scales[j] = make_qkx2_quants(32, nmax, g, w, L + 32 * j, &mins[j], Laux, search);
    }
    const float max_scale = max_nonneg(scales, 8), max_min = max_nonneg(mins, 8);
    const float inv_scale = max_scale > 0 ? 63.0f / max_scale : 0.0f;
    const float inv_min = max_min > 0 ? 63.0f / max_min : 0.0f;
    for (int j = 0; j < 8; j++) {
        /* ggml stores nearest_int into a uint8_t before capping: keep that wrap-around */
        const uint8_t s = (uint8_t)nearest_int(inv_scale * scales[j]), m = (uint8_t)nearest_int(inv_min * mins[j]);
        ls[j] = s < 63 ? s : 63;
        lm[j] = m < 63 ? m : 63;
    }
    attn_q4k_pack_scale_min(ls, lm, b + 4);
    st_half(b, max_scale / 63.0f);
    st_half(b + 2, max_min / 63.0f);
    for (int j = 0; j < 8; j++) {
        int s, m;
        attn_q4k_scale_min(j, b + 4, &s, &m);
        const float d = half_back(b) * (float)s;
        if (d == 0.0f) continue;
        const float dm = half_back(b + 2) * (float)m;
        for (int i = 0; i < 32; i++)
            L[32 * j + i] = (uint8_t)clamp_int(nearest_int((x[32 * j + i] + dm) / d), 0, nmax);
    }
}

/* Q4_K: levels 0..15; per 64 values, 32 bytes with the first 32 in the low nibbles. */
void attn_quantize_row_q4_K(const float *x, void *dst, int64_t n) {
    static const qkx2_search search = {-1.0f, 0.1f, 20, false};
    uint8_t *b = dst, L[256];
    for (int64_t i = 0; i < n / 256; i++, x += 256, b += 144) {
        q45_K_scales(x, 15, &search, b, L);
        uint8_t *q = b + 16;
        for (int j = 0; j < 256; j += 64, q += 32)
            for (int l = 0; l < 32; l++) q[l] = (uint8_t)(L[j + l] | L[j + l + 32] << 4);
    }
}

/* Q5_K: levels 0..31; low nibbles as Q4_K, bit 4 of value l of group 2k (2k+1) in bit 2k
 * (2k+1) of qh[l]. */
void attn_quantize_row_q5_K(const float *x, void *dst, int64_t n) {
    static const qkx2_search search = {-0.5f, 0.1f, 15, false};
    uint8_t *b = dst, L[256];
    for (int64_t i = 0; i < n / 256; i++, x += 256, b += 176) {
        q45_K_scales(x, 31, &search, b, L);
        uint8_t *qh = b + 16, *ql = b + 48;
        memset(qh, 0, 32);
        for (int g = 0; g < 4; g++, ql += 32) {
            for (int j = 0; j < 32; j++) {
                const int l1 = L[64 * g + j], l2 = L[64 * g + j + 32];
                qh[j] |= (uint8_t)((l1 >> 4) << (2 * g) | (l2 >> 4) << (2 * g + 1));
                ql[j] = (uint8_t)((l1 & 0x0F) | (l2 & 0x0F) << 4);
            }
        }
    }
}

/* ---- Q6_K -------------------------------------------------------------------------- */

/* 16 groups of 16: 6-bit signed levels (stored +32), 8-bit signed group scales against
 * d = -max_scale / 128 where max_scale is the group scale of largest magnitude. */
static void q6_K_block(const float *x, uint8_t *b) {
    int8_t L[256];
    float scales[16], max_scale = 0, max_abs = 0;
    for (int j = 0; j < 16; j++) {
        scales[j] = make_qx_quants(16, 32, x + 16 * j, L + 16 * j);
        const float a = fabsf(scales[j]);
        if (a > max_abs) max_abs = a, max_scale = scales[j];
    }
    memset(b, 0, 210);
    if (max_abs < GROUP_EPS) return; /* all zero: d = 0 */
    int8_t *sc = (int8_t *)(b + 192);
    const float iscale = -128.0f / max_scale;
    st_half(b + 208, 1 / iscale);
    for (int j = 0; j < 16; j++) {
        const int l = nearest_int(iscale * scales[j]);
        sc[j] = (int8_t)(l < 127 ? l : 127);
    }
    for (int j = 0; j < 16; j++) {
        const float d = half_back(b + 208) * (float)sc[j];
        if (d == 0.0f) continue;
        for (int i = 0; i < 16; i++)
            L[16 * j + i] = (int8_t)(clamp_int(nearest_int(x[16 * j + i] / d), -32, 31) + 32);
    }
    uint8_t *ql = b, *qh = b + 128;
    for (int j = 0; j < 256; j += 128, ql += 64, qh += 32) {
        for (int l = 0; l < 32; l++) {
            const uint8_t q1 = (uint8_t)L[j + l], q2 = (uint8_t)L[j + l + 32];
            const uint8_t q3 = (uint8_t)L[j + l + 64], q4 = (uint8_t)L[j + l + 96];
            ql[l] = (uint8_t)((q1 & 0x0F) | (q3 & 0x0F) << 4);
            ql[l + 32] = (uint8_t)((q2 & 0x0F) | (q4 & 0x0F) << 4);
            qh[l] = (uint8_t)(q1 >> 4 | (q2 >> 4) << 2 | (q3 >> 4) << 4 | (q4 >> 4) << 6);
        }
    }
}

void attn_quantize_row_q6_K(const float *x, void *dst, int64_t n) {
    uint8_t *b = dst;
    for (int64_t i = 0; i < n / 256; i++) q6_K_block(x + 256 * i, b + 210 * i);
}
