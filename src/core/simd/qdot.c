/* qdot.c - integer dot products of block-quantized weights with quantized activations
 * (attn_qx, core/quant_matmul.h) and the activation quantizer; compiled once per SIMD set
 * like kernels.c.
 *
 * The integer work runs on 256-bit vectors in both builds: a 32-value block is one vector,
 * which keeps the per-block scaling simple. The AVX-512 build brings VNNI (cpu.c requires it
 * for that ISA): vpdpbusd (4 u8*s8 products per 32-bit lane, accumulated) and vpdpwssd (2
 * s16*s16 products) on ymm registers. AVX2 does the same with vpmaddubsw + vpmaddwd.
 *
 * Weights become unsigned bytes (their offsets and minimums are moved onto the activation
 * sums, like llama.cpp does). Q8_0's signed bytes: VNNI takes q + 128 and the offset, like
 * Q4_0's 8; AVX2's maddubs would saturate on bytes above 128, so there they give their signs
 * to the activations instead.
 *   32-blocks (Q8_0, Q4_0, Q4_1, Q5_0, Q5_1): w = d*q + c per block. One vector of 32 q
 *     against the block's hi (and lo) gives an integer sum, converted and scaled by d*dx;
 *     c*sum(x~) comes from the activation sums. The scales of 8 blocks are gathered at once.
 *   K-quants: w = d*sc*q + cm*mn per group of 16. maddubs gives 16-bit pair sums per group
 *     pair, and vpdpwssd multiplies them by the group scales while accumulating in 32 bits:
 *     one conversion per super-block. The minimums come from the per-16 activation sums.
 * With the second activation byte (lo: x~ = dx*(hi + lo/256)) a 32-block sums q*(256*hi +
 * lo) in one integer (at most 32*128*127*257 < 2^31); the K-quants keep hi and lo apart.
 *
 * One weight row is dotted with up to 4 activation rows at a time (each vector of weights
 * decoded once for all of them); more rows go in groups of 4 over a chunk of 16 weight rows
 * that stays in L1. */
#include <string.h>
#include "core/quant.h"
#include "core/quant_matmul.h"
#include "simd.h"

#define INLINE static inline __attribute__((always_inline))

/* ---- products --------------------------------------------------------------------- */

/* acc + the sums of 2 products of 16-bit lanes per 32-bit lane. */
INLINE __m256i dot_s16(__m256i acc, __m256i a, __m256i b) {
#if defined(ATTN_SIMD_AVX512)
    return _mm256_dpwssd_epi32(acc, a, b);
#else
    return _mm256_add_epi32(acc, _mm256_madd_epi16(a, b));
#endif
}

/* Per 32-bit lane, the 4 products of u (unsigned bytes, at most 128) with hi, times 256
 * plus those with lo when `two`. */
INLINE __m256i dot_block(__m256i u, __m256i hi, __m256i lo, const int two) {
#if defined(ATTN_SIMD_AVX512)
    __m256i a = _mm256_dpbusd_epi32(_mm256_setzero_si256(), u, hi);
    return two ? _mm256_dpbusd_epi32(_mm256_slli_epi32(a, 8), u, lo) : a;
#else /* pair sums stay within 16 bits: 2*128*127 */
    __m256i a = _mm256_madd_epi16(_mm256_maddubs_epi16(u, hi), _mm256_set1_epi16(two ? 256 : 1));
    return two ? _mm256_add_epi32(a, _mm256_madd_epi16(_mm256_maddubs_epi16(u, lo), _mm256_set1_epi16(1))) : a;
#endif
}

static inline float hsum8(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

static inline float half_at(const uint8_t *p) {
    uint16_t h;
    memcpy(&h, p, 2);
    return _cvtsh_ss(h);
}

INLINE __m256i load32(const void *p) { return _mm256_loadu_si256((const __m256i *)p); }

/* One activation row's planes. */
typedef struct {
    const int8_t *hi, *lo;
    const float *d, *sum;
    const int16_t *b1, *b2;
} xrow;

static inline xrow x_row(const attn_qx *qx, int64_t r) {
    int64_t K = qx->K;
    return (xrow){qx->hi + r * K,           qx->lo ? qx->lo + r * K : NULL,
                  qx->d + r * qx->nb_pad,   qx->sum + r * qx->nb_pad,
                  qx->bsum_hi + r * (K / 16), qx->lo ? qx->bsum_lo + r * (K / 16) : NULL};
}

/* ---- 32-blocks ---------------------------------------------------------------------- */

INLINE int legacy_bytes(const attn_qtype t) {
    switch (t) {
    case ATTN_QT_Q8_0: return 34;
    case ATTN_QT_Q4_0: return 18;
    case ATTN_QT_Q4_1: return 20;
    case ATTN_QT_Q5_0: return 22;
    default: return 24;
    }
}

/* 16 bytes of nibbles as 32 bytes: the low nibbles (values 0-15), then the high ones. */
INLINE __m256i nibbles32(const uint8_t *p) {
    __m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
    return _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(v, 4), v), _mm256_set1_epi8(15));
}

/* Byte j is 16 where bit j of the 32-bit word at p is set: Q5_0/Q5_1's fifth bits. */
INLINE __m256i bits_as_16(const uint8_t *p) {
    uint32_t m;
    memcpy(&m, p, 4);
#if defined(ATTN_SIMD_AVX512)
    return _mm256_maskz_mov_epi8(_cvtu32_mask32(m), _mm256_set1_epi8(16));
#else
    const __m256i spread = _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 3,
                                            3, 3, 3, 3, 3, 3, 3);
    const __m256i bit = _mm256_set1_epi64x(0x8040201008040201LL);
    __m256i v = _mm256_and_si256(_mm256_shuffle_epi8(_mm256_set1_epi32((int)m), spread), bit);
    return _mm256_and_si256(_mm256_cmpeq_epi8(v, bit), _mm256_set1_epi8(16));
#endif
}

/* Q8_0 through the offset (q + 128) rather than the activations' signs. */
#if defined(ATTN_SIMD_AVX512)
#define Q8_0_OFFSET 1
#else
#define Q8_0_OFFSET 0
#endif

/* The block's 32 values q (Q8_0: signed, the others unsigned). */
INLINE __m256i legacy_values(const attn_qtype t, const uint8_t *b) {
    switch (t) {
    case ATTN_QT_Q8_0: return load32(b + 2);
    case ATTN_QT_Q4_0: return nibbles32(b + 2);
    case ATTN_QT_Q4_1: return nibbles32(b + 4);
    case ATTN_QT_Q5_0: return _mm256_or_si256(nibbles32(b + 6), bits_as_16(b + 2));
    default: return _mm256_or_si256(nibbles32(b + 8), bits_as_16(b + 4));
    }
}

/* The halves at offsets 0 (d) and 2 (m, where the type has one) of n <= 8 blocks. */
INLINE void legacy_scales8(const uint8_t *b, const int bytes, int n, __m256 *d, __m256 *m) {
    const __m256i iota = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    const __m256i at = _mm256_setr_epi32(0, bytes, 2 * bytes, 3 * bytes, 4 * bytes, 5 * bytes, 6 * bytes, 7 * bytes);
    __m256i v = _mm256_mask_i32gather_epi32(_mm256_setzero_si256(), (const int *)(const void *)b, at,
                                            _mm256_cmpgt_epi32(_mm256_set1_epi32(n), iota), 1);
    /* [d0-3 m0-3 | d4-7 m4-7] as 16-bit, then the 64-bit quarters reordered */
    __m256i p = _mm256_packus_epi32(_mm256_and_si256(v, _mm256_set1_epi32(0xFFFF)), _mm256_srli_epi32(v, 16));
    p = _mm256_permute4x64_epi64(p, 0xD8);
    *d = _mm256_cvtph_ps(_mm256_castsi256_si128(p));
    *m = _mm256_cvtph_ps(_mm256_extracti128_si256(p, 1));
}

/* Block i of a group: acc[r] += its products with row r, scaled by scale[r][i]. */
INLINE void legacy_block(const attn_qtype t, const int R, const int two, const uint8_t *blk, const xrow *x, int64_t k,
                         const float (*scale)[8], int i, __m256 *acc) {
    const int signs = t == ATTN_QT_Q8_0 && !Q8_0_OFFSET;
    __m256i q = legacy_values(t, blk), u = q;
    if (t == ATTN_QT_Q8_0) u = signs ? _mm256_abs_epi8(q) : _mm256_xor_si256(q, _mm256_set1_epi8(-128));
    for (int r = 0; r < R; r++) {
        __m256i h = load32(x[r].hi + k), l = two ? load32(x[r].lo + k) : h;
        if (signs) h = _mm256_sign_epi8(h, q), l = _mm256_sign_epi8(l, q);
        acc[r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot_block(u, h, l, two)), _mm256_broadcast_ss(&scale[r][i]), acc[r]);
    }
}

#if defined(ATTN_SIMD_AVX512)
/* Byte shuffles (vpermt2b, indexing both of two 64-byte loads at the quad's start) that
 * gather a quad (4 blocks) of weights: QS, the 16 value bytes at byte `at` of each block; D,
 * the half at byte `at` of each block, once for each of the block's 4 lanes; QH, Q5's 32-bit
 * words of fifth bits as 16-bit halves, the 4 low ones then the 4 high ones. */
#define QS4(b, at, k, j) b * k + at + j, b * k + at + j + 1, b * k + at + j + 2, b * k + at + j + 3
#define QS16(b, at, k) QS4(b, at, k, 0), QS4(b, at, k, 4), QS4(b, at, k, 8), QS4(b, at, k, 12)
#define QS_INDEX(b, at) {QS16(b, at, 0), QS16(b, at, 1), QS16(b, at, 2), QS16(b, at, 3)}
#define H(b, at, k) b * k + at, b * k + at + 1
#define D4(b, at, k) H(b, at, k), H(b, at, k), H(b, at, k), H(b, at, k)
#define D_INDEX(b, at) {D4(b, at, 0), D4(b, at, 1), D4(b, at, 2), D4(b, at, 3)}
#define QH_INDEX(b, at) \
    {H(b, at, 0), H(b, at, 1), H(b, at, 2), H(b, at, 3), H(b, at + 2, 0), H(b, at + 2, 1), H(b, at + 2, 2), H(b, at + 2, 3)}

typedef struct {
    _Alignas(64) uint8_t qs[64], d[64], m[64], qh[64];
} quad_index;

static const quad_index quad_q8_0 = {QS_INDEX(34, 2), D_INDEX(34, 0), {0}, {0}};
static const quad_index quad_q4_0 = {QS_INDEX(18, 2), D_INDEX(18, 0), {0}, {0}};
static const quad_index quad_q4_1 = {QS_INDEX(20, 4), D_INDEX(20, 0), D_INDEX(20, 2), {0}};
static const quad_index quad_q5_0 = {QS_INDEX(22, 6), D_INDEX(22, 0), {0}, QH_INDEX(22, 2)};
static const quad_index quad_q5_1 = {QS_INDEX(24, 8), D_INDEX(24, 0), D_INDEX(24, 2), QH_INDEX(24, 4)};

static inline __mmask64 first_bytes(int64_t n) { return n >= 64 ? ~(__mmask64)0 : n <= 0 ? 0 : ((__mmask64)1 << n) - 1; }

/* 64 bytes at p, of which only the first n exist (the rest read as zeros). */
INLINE __m512i load_upto(const uint8_t *p, int64_t n, const int whole) {
    return whole ? _mm512_loadu_si512(p) : _mm512_maskz_loadu_epi8(first_bytes(n), p);
}

/* One quad of a weight row: its values as unsigned bytes (Q8_0 offset by 128) in the
 * activations' quad order, lo = the blocks' first 16 values, hi = their last 16; dw = each
 * lane's block scale, c = its minimum (types with one) or its scale again. `n` bytes of the
 * row remain from b; with `whole` the loads read 128 bytes (Q8_0: 144) past b, which must lie
 * in the row, else masked loads read only the n. */
INLINE void quad_values(const attn_qtype t, const quad_index *ix, const uint8_t *b, int64_t n, const int whole,
                        __m512i *lo, __m512i *hi, __m512 *dw, __m512 *c) {
    const __m512i z0 = load_upto(b, n, whole), z1 = load_upto(b + 64, n - 64, whole);
    const __m512i qs = _mm512_load_si512(ix->qs);
    *dw = _mm512_cvtph_ps(_mm512_castsi512_si256(_mm512_permutex2var_epi8(z0, _mm512_load_si512(ix->d), z1)));
    *c = *dw;
    if (t == ATTN_QT_Q4_1 || t == ATTN_QT_Q5_1)
        *c = _mm512_cvtph_ps(_mm512_castsi512_si256(_mm512_permutex2var_epi8(z0, _mm512_load_si512(ix->m), z1)));
    if (t == ATTN_QT_Q8_0) { /* a block's last 16 values lie 16 bytes further on */
        const __m512i s = _mm512_set1_epi8(-128);
        *lo = _mm512_xor_si512(_mm512_permutex2var_epi8(z0, qs, z1), s);
        *hi = _mm512_xor_si512(
            _mm512_permutex2var_epi8(load_upto(b + 16, n - 16, whole), qs, load_upto(b + 80, n - 80, whole)), s);
        return;
    }
    const __m512i q = _mm512_permutex2var_epi8(z0, qs, z1), m4 = _mm512_set1_epi8(15);
    *lo = _mm512_and_si512(q, m4);
    *hi = _mm512_and_si512(_mm512_srli_epi16(q, 4), m4);
    if (t == ATTN_QT_Q5_0 || t == ATTN_QT_Q5_1) { /* bit j of a block's qh: value j's fifth bit */
        const __m128i h = _mm512_castsi512_si128(_mm512_permutex2var_epi8(z0, _mm512_load_si512(ix->qh), z1));
        const __m512i sixteen = _mm512_set1_epi8(16);
        *lo = _mm512_mask_add_epi8(*lo, _cvtu64_mask64((uint64_t)_mm_cvtsi128_si64(h)), *lo, sixteen);
        *hi = _mm512_mask_add_epi8(*hi, _cvtu64_mask64((uint64_t)_mm_extract_epi64(h, 1)), *hi, sixteen);
    }
}

/* legacy_rows for AVX-512, a quad of blocks at a time (see attn_qx): per activation row, 2
 * vpdpbusd per activation byte, one conversion and one FMA for 4 blocks; the constant terms
 * (offset or minimum times sum(x~)) go to a second accumulator, multiplied by the offset at
 * the end. */
INLINE void legacy_rows_q(const attn_qtype t, const int R, const int two, const uint8_t *w, const attn_qx *qx,
                          int64_t r0, float *y, int64_t ldy) {
    const quad_index *ix = t == ATTN_QT_Q8_0 ? &quad_q8_0 : t == ATTN_QT_Q4_0 ? &quad_q4_0 : t == ATTN_QT_Q4_1 ? &quad_q4_1
                          : t == ATTN_QT_Q5_0 ? &quad_q5_0 : &quad_q5_1;
    const int bytes = legacy_bytes(t);
    const float off = t == ATTN_QT_Q4_0 ? -8.0f : t == ATTN_QT_Q5_0 ? -16.0f : t == ATTN_QT_Q8_0 ? -128.0f : 1.0f;
    const int64_t row_bytes = qx->K / 32 * bytes, qb = qx->quads * 128, qf = qx->quads * 16;
    const int64_t reach = t == ATTN_QT_Q8_0 ? 144 : 128; /* bytes quad_values loads from a quad's start */
    const int8_t *h[8], *l[8];
    const float *dq[8], *sq[8];
    __m512 acc[8], cacc[8];
    for (int r = 0; r < R; r++) {
        h[r] = qx->quad_hi + (r0 + r) * qb, l[r] = two ? qx->quad_lo + (r0 + r) * qb : NULL;
        dq[r] = qx->dq + (r0 + r) * qf, sq[r] = qx->sq + (r0 + r) * qf;
        acc[r] = cacc[r] = _mm512_setzero_ps();
    }
    for (int64_t g = 0; g < qx->quads; g++) {
        __m512i lo, hi;
        __m512 dw, c;
        const int64_t at = g * 4 * bytes;
        if (row_bytes - at >= reach) quad_values(t, ix, w + at, row_bytes - at, 1, &lo, &hi, &dw, &c);
        else quad_values(t, ix, w + at, row_bytes - at, 0, &lo, &hi, &dw, &c);
        for (int r = 0; r < R; r++) { /* hi and lo bytes in two chains: a is 256 hi + lo */
            const int8_t *hq = h[r] + g * 128, *lq = two ? l[r] + g * 128 : NULL;
            __m512i a = _mm512_dpbusd_epi32(_mm512_setzero_si512(), lo, _mm512_load_si512(hq));
            a = _mm512_dpbusd_epi32(a, hi, _mm512_load_si512(hq + 64));
            if (two) {
                __m512i b = _mm512_dpbusd_epi32(_mm512_setzero_si512(), lo, _mm512_load_si512(lq));
                b = _mm512_dpbusd_epi32(b, hi, _mm512_load_si512(lq + 64));
                a = _mm512_add_epi32(_mm512_slli_epi32(a, 8), b);
            }
            acc[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(a), _mm512_mul_ps(dw, _mm512_load_ps(dq[r] + g * 16)), acc[r]);
            cacc[r] = _mm512_fmadd_ps(c, _mm512_load_ps(sq[r] + g * 16), cacc[r]);
        }
    }
    for (int r = 0; r < R; r++) y[r * ldy] = _mm512_reduce_add_ps(_mm512_fmadd_ps(cacc[r], _mm512_set1_ps(off), acc[r]));
}
#endif

/* y[r*ldy] = W row . x~[r0 + r] for r < R. */
INLINE void legacy_rows(const attn_qtype t, const int R, const int two, const uint8_t *w, const attn_qx *qx, int64_t r0,
                        float *y, int64_t ldy) {
    const int bytes = legacy_bytes(t);
    const int64_t nb = qx->K / 32;
    xrow x[4];
    __m256 even[4], odd[4]; /* two chains per row: a block's FMA need not wait for the previous one */
    for (int r = 0; r < R; r++) x[r] = x_row(qx, r0 + r), even[r] = odd[r] = _mm256_setzero_ps();
    for (int64_t b0 = 0; b0 < nb; b0 += 8) {
        const int n = nb - b0 < 8 ? (int)(nb - b0) : 8;
        __m256 d8, m8, c8;
        legacy_scales8(w + b0 * bytes, bytes, n, &d8, &m8);
        /* c: each block's constant term (m, or -8d, -16d, -128d), times sum(x~) */
        const float off = t == ATTN_QT_Q4_0 ? -8.0f : t == ATTN_QT_Q5_0 ? -16.0f : -128.0f;
        c8 = t == ATTN_QT_Q4_1 || t == ATTN_QT_Q5_1 ? m8 : _mm256_mul_ps(d8, _mm256_set1_ps(off));
        const int constant = t != ATTN_QT_Q8_0 || Q8_0_OFFSET;
        float scale[4][8];
        for (int r = 0; r < R; r++) {
            __m256 s = _mm256_mul_ps(_mm256_mul_ps(d8, _mm256_loadu_ps(x[r].d + b0)), _mm256_set1_ps(two ? 1.0f / 256 : 1.0f));
            _mm256_storeu_ps(scale[r], s);
            if (constant) odd[r] = _mm256_fmadd_ps(c8, _mm256_loadu_ps(x[r].sum + b0), odd[r]);
        }
        const uint8_t *blk = w + b0 * bytes;
        int i = 0;
        for (; i + 1 < n; i += 2, blk += 2 * bytes) {
            legacy_block(t, R, two, blk, x, (b0 + i) * 32, scale, i, even);
            legacy_block(t, R, two, blk + bytes, x, (b0 + i + 1) * 32, scale, i + 1, odd);
        }
        if (i < n) legacy_block(t, R, two, blk, x, (b0 + i) * 32, scale, i, even);
    }
    for (int r = 0; r < R; r++) y[r * ldy] = hsum8(_mm256_add_ps(even[r], odd[r]));
}

/* ---- K-quants ------------------------------------------------------------------------ */

/* Bit `from` of every byte moved to bit `to`, the rest cleared. */
INLINE __m256i bit_to(__m256i v, int from, int to) {
    v = from >= to ? _mm256_srl_epi16(v, _mm_cvtsi32_si128(from - to)) : _mm256_sll_epi16(v, _mm_cvtsi32_si128(to - from));
    return _mm256_and_si256(v, _mm256_set1_epi8((char)(1 << to)));
}

/* The 4 groups of 32 values of half h (values 128h .. 128h+127) as unsigned bytes. */
INLINE void kq_values(const attn_qtype t, const uint8_t *b, int h, __m256i v[4]) {
    const __m256i m2 = _mm256_set1_epi8(3), m4 = _mm256_set1_epi8(15), top2 = _mm256_set1_epi8(0x30);
    switch (t) {
    case ATTN_QT_Q2_K:
    case ATTN_QT_Q3_K: { /* group j: bits 2j of 32 bytes; Q3_K's third bit is bit 4h+j of hmask */
        __m256i q = load32(b + (t == ATTN_QT_Q2_K ? 16 : 32) + 32 * h);
        for (int j = 0; j < 4; j++) {
            v[j] = _mm256_and_si256(_mm256_srl_epi16(q, _mm_cvtsi32_si128(2 * j)), m2);
            if (t == ATTN_QT_Q3_K) v[j] = _mm256_or_si256(v[j], bit_to(load32(b), 4 * h + j, 2));
        }
        return;
    }
    case ATTN_QT_Q4_K:
    case ATTN_QT_Q5_K: { /* 32 bytes per 2 groups: low nibbles, then high; Q5_K: bit g of qh */
        const uint8_t *qs = b + (t == ATTN_QT_Q4_K ? 16 : 48) + 64 * h;
        for (int j = 0; j < 4; j++) {
            __m256i q = load32(qs + 32 * (j / 2));
            v[j] = _mm256_and_si256(j % 2 ? _mm256_srli_epi16(q, 4) : q, m4);
            if (t == ATTN_QT_Q5_K) v[j] = _mm256_or_si256(v[j], bit_to(load32(b + 16), 4 * h + j, 4));
        }
        return;
    }
    default: { /* Q6_K: low nibbles from ql[l] / ql[l+32], bit pairs of qh[l] above them */
        __m256i l0 = load32(b + 64 * h), l1 = load32(b + 64 * h + 32), hb = load32(b + 128 + 32 * h);
        v[0] = _mm256_or_si256(_mm256_and_si256(l0, m4), _mm256_and_si256(_mm256_slli_epi16(hb, 4), top2));
        v[1] = _mm256_or_si256(_mm256_and_si256(l1, m4), _mm256_and_si256(_mm256_slli_epi16(hb, 2), top2));
        v[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), m4), _mm256_and_si256(hb, top2));
        v[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m4),
                               _mm256_and_si256(_mm256_srli_epi16(hb, 2), top2));
        return;
    }
    }
}

/* The super-block's per-16 scales sc and minimum multipliers mn (16-bit), d and cm:
 * w = d*sc*q + cm*mn. */
INLINE void kq_scales(const attn_qtype t, const uint8_t *b, __m256i *sc, __m256i *mn, float *d, float *cm) {
    switch (t) {
    case ATTN_QT_Q2_K: { /* a byte per group: scale nibble, min nibble */
        __m128i s = _mm_loadu_si128((const __m128i *)(const void *)b);
        *sc = _mm256_cvtepu8_epi16(_mm_and_si128(s, _mm_set1_epi8(15)));
        *mn = _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(s, 4), _mm_set1_epi8(15)));
        *d = half_at(b + 80), *cm = -half_at(b + 82);
        return;
    }
    case ATTN_QT_Q3_K: { /* 6-bit, minus 32: scale g's low nibble is nibble g/8 of byte g%8,
                           * its top bits are bits 2(g/4) of byte 8 + g%4 */
        uint32_t top;
        memcpy(&top, b + 104, 4);
        __m128i lo = _mm_loadl_epi64((const __m128i *)(const void *)(b + 96));
        lo = _mm_and_si128(_mm_unpacklo_epi64(lo, _mm_srli_epi16(lo, 4)), _mm_set1_epi8(15));
        __m128i hi = _mm_srlv_epi32(_mm_set1_epi32((int)top), _mm_setr_epi32(0, 2, 4, 6)); /* dword k: g = 4k.. */
        hi = _mm_slli_epi16(_mm_and_si128(hi, _mm_set1_epi8(3)), 4);
        *sc = *mn = _mm256_sub_epi16(_mm256_cvtepu8_epi16(_mm_or_si128(lo, hi)), _mm256_set1_epi16(32));
        *d = half_at(b + 108), *cm = -4.0f * *d;
        return;
    }
    case ATTN_QT_Q4_K:
    case ATTN_QT_Q5_K: { /* 8 six-bit scales and mins in 12 bytes (see quant.c) */
        uint32_t w[3];
        memcpy(w, b + 4, 12);
        const uint32_t s03 = w[0] & 0x3f3f3f3f, m03 = w[1] & 0x3f3f3f3f;
        const uint32_t s47 = (w[2] & 0x0f0f0f0f) | ((w[0] >> 6) & 0x03030303) << 4;
        const uint32_t m47 = ((w[2] >> 4) & 0x0f0f0f0f) | ((w[1] >> 6) & 0x03030303) << 4;
        __m128i v = _mm_setr_epi32((int)s03, (int)s47, (int)m03, (int)m47);
        *sc = _mm256_cvtepu8_epi16(_mm_unpacklo_epi8(v, v)); /* a group of 32 is two of 16 */
        *mn = _mm256_cvtepu8_epi16(_mm_unpackhi_epi8(v, v));
        *d = half_at(b), *cm = -half_at(b + 2);
        return;
    }
    default: /* Q6_K: int8 scales; q - 32 */
        *sc = *mn = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(const void *)(b + 192)));
        *d = half_at(b + 208), *cm = -32.0f * *d;
        return;
    }
}

INLINE int kq_bytes(const attn_qtype t) {
    switch (t) {
    case ATTN_QT_Q2_K: return 84;
    case ATTN_QT_Q3_K: return 110;
    case ATTN_QT_Q4_K: return 144;
    case ATTN_QT_Q5_K: return 176;
    default: return 210;
    }
}

/* Group g's scales as 16-bit lanes: sc[2g] for its first 16 values, sc[2g+1] for the rest,
 * matching maddubs' pair sums. */
INLINE __m256i group_scales(__m256i sc, int g) {
    __m256i pair = _mm256_permutevar8x32_epi32(sc, _mm256_set1_epi32(g));
    return _mm256_shuffle_epi8(pair, _mm256_setr_epi8(0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 2, 3, 2, 3, 2, 3,
                                                      2, 3, 2, 3, 2, 3, 2, 3, 2, 3));
}

INLINE void kquant_rows(const attn_qtype t, const int R, const int two, const uint8_t *w, const attn_qx *qx,
                        int64_t r0, float *y, int64_t ldy) {
    const int bytes = kq_bytes(t);
    xrow x[4];
    __m256 acc[4];
    for (int r = 0; r < R; r++) x[r] = x_row(qx, r0 + r), acc[r] = _mm256_setzero_ps();
    for (int64_t s = 0; s < qx->K / 256; s++, w += bytes) {
        __m256i sc, mn, i1[4][2], i2[4][2]; /* per row and byte, two chains (even and odd groups) */
        float d, cm;
        kq_scales(t, w, &sc, &mn, &d, &cm);
        for (int r = 0; r < R; r++) i1[r][0] = i1[r][1] = i2[r][0] = i2[r][1] = _mm256_setzero_si256();
        for (int h = 0; h < 2; h++) {
            __m256i v[4];
            kq_values(t, w, h, v);
            for (int j = 0; j < 4; j++) {
                const int g = 4 * h + j;
                const int64_t k = s * 256 + 32 * g;
                __m256i gs = group_scales(sc, g);
                for (int r = 0; r < R; r++) {
                    i1[r][j % 2] = dot_s16(i1[r][j % 2], _mm256_maddubs_epi16(v[j], load32(x[r].hi + k)), gs);
                    if (two) i2[r][j % 2] = dot_s16(i2[r][j % 2], _mm256_maddubs_epi16(v[j], load32(x[r].lo + k)), gs);
                }
            }
        }
        for (int r = 0; r < R; r++) {
            const float dx = x[r].d[s];
            __m256i m1 = _mm256_madd_epi16(mn, load32(x[r].b1 + s * 16));
            acc[r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_add_epi32(i1[r][0], i1[r][1])), _mm256_set1_ps(d * dx), acc[r]);
            acc[r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(m1), _mm256_set1_ps(cm * dx), acc[r]);
            if (two) {
                __m256i m2 = _mm256_madd_epi16(mn, load32(x[r].b2 + s * 16));
                acc[r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_add_epi32(i2[r][0], i2[r][1])),
                                         _mm256_set1_ps(d * dx * (1.0f / 256)), acc[r]);
                acc[r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(m2), _mm256_set1_ps(cm * dx * (1.0f / 256)), acc[r]);
            }
        }
    }
    for (int r = 0; r < R; r++) y[r * ldy] = hsum8(acc[r]);
}

/* ---- one function per type, row count (1-4) and activation bytes (1-2) ---------------- */

typedef void (*rows_fn)(const uint8_t *w, const attn_qx *qx, int64_t r0, float *y, int64_t ldy);

#define ROWS_FN(T, kernel, R, TWO)                                                          \
    static void T##_##R##_##TWO(const uint8_t *w, const attn_qx *qx, int64_t r0, float *y, int64_t ldy) { \
        kernel(ATTN_QT_##T, R, TWO - 1, w, qx, r0, y, ldy);                                  \
    }
#define ROWS_FNS(T, kernel)                                                                           \
    ROWS_FN(T, kernel, 1, 1) ROWS_FN(T, kernel, 2, 1) ROWS_FN(T, kernel, 3, 1) ROWS_FN(T, kernel, 4, 1) \
    ROWS_FN(T, kernel, 1, 2) ROWS_FN(T, kernel, 2, 2) ROWS_FN(T, kernel, 3, 2) ROWS_FN(T, kernel, 4, 2) \
    static const rows_fn T##_fns[2][4] = {{T##_1_1, T##_2_1, T##_3_1, T##_4_1}, {T##_1_2, T##_2_2, T##_3_2, T##_4_2}};
#if defined(ATTN_SIMD_AVX512)
#define LEGACY_FNS(T) ROWS_FNS(T, legacy_rows_q) ROWS_FN(T, legacy_rows_q, 8, 2)
#else
#define LEGACY_FNS(T) ROWS_FNS(T, legacy_rows)
#endif

LEGACY_FNS(Q8_0)
LEGACY_FNS(Q4_0)
LEGACY_FNS(Q4_1)
LEGACY_FNS(Q5_0)
LEGACY_FNS(Q5_1)
ROWS_FNS(Q2_K, kquant_rows)
ROWS_FNS(Q3_K, kquant_rows)
ROWS_FNS(Q4_K, kquant_rows)
ROWS_FNS(Q5_K, kquant_rows)
ROWS_FNS(Q6_K, kquant_rows)

static rows_fn wide_fn(attn_qtype t, int two) {
#if defined(ATTN_SIMD_AVX512)
    if (two) switch (t) {
        case ATTN_QT_Q8_0: return Q8_0_8_2;
        case ATTN_QT_Q4_0: return Q4_0_8_2;
        case ATTN_QT_Q4_1: return Q4_1_8_2;
        case ATTN_QT_Q5_0: return Q5_0_8_2;
        case ATTN_QT_Q5_1: return Q5_1_8_2;
        default: break;
        }
#endif
    (void)t, (void)two;
    return NULL;
}

static const rows_fn *rows_fns(attn_qtype t, int two) {
    switch (t) {
    case ATTN_QT_Q8_0: return Q8_0_fns[two];
    case ATTN_QT_Q4_0: return Q4_0_fns[two];
    case ATTN_QT_Q4_1: return Q4_1_fns[two];
    case ATTN_QT_Q5_0: return Q5_0_fns[two];
    case ATTN_QT_Q5_1: return Q5_1_fns[two];
    case ATTN_QT_Q2_K: return Q2_K_fns[two];
    case ATTN_QT_Q3_K: return Q3_K_fns[two];
    case ATTN_QT_Q4_K: return Q4_K_fns[two];
    case ATTN_QT_Q5_K: return Q5_K_fns[two];
    default: return Q6_K_fns[two];
    }
}

/* Decoding streams each weight row from memory once (in a chunk's first group of
 * activation rows; the others find it in L1): asking for a row a few rows ahead keeps more
 * cache-line requests in flight than the hardware prefetcher alone. (Past the last row it
 * prefetches bytes it never reads: prefetches do not fault.) */
static inline void prefetch_row(const uint8_t *row, size_t rb) {
    for (size_t o = 0; o < rb; o += 64) _mm_prefetch((const char *)row + o, _MM_HINT_T0);
}

void SFX(attn_qdot_rows_nk)(float *y, int64_t ldy, const attn_qx *qx, const void *w, attn_qtype t, int64_t n0,
                            int64_t n1) {
    enum { ROWS = 4, CHUNK = 16 }; /* activation rows per kernel call; weight rows kept in L1 */
    const rows_fn *fns = rows_fns(t, qx->lo != NULL);
    const size_t rb = attn_quant_row_bytes(t, qx->K), ahead = (1 + 4096 / rb) * rb; /* whole rows, >= 4 KB */
    for (int64_t c0 = n0; c0 < n1; c0 += CHUNK) {
        const int64_t c1 = n1 - c0 < CHUNK ? n1 : c0 + CHUNK;
        for (int64_t r0 = 0, step = ROWS; r0 < qx->rows; r0 += step) {
            rows_fn fn = fns[(qx->rows - r0 < ROWS ? qx->rows - r0 : ROWS) - 1];
            const rows_fn wide = wide_fn(t, qx->lo != NULL);
            step = wide && qx->rows - r0 >= 8 ? 8 : ROWS;
            if (step == 8) fn = wide;
            for (int64_t n = c0; n < c1; n++) {
                if (r0 == 0) prefetch_row((const uint8_t *)w + (size_t)n * rb + ahead, rb);
                fn((const uint8_t *)w + (size_t)n * rb, qx, r0, y + r0 * ldy + n, ldy);
            }
        }
    }
}

/* ---- the activation quantizer (same operations as quant_matmul.c's reference) ---------- */

static inline vf vabs(vf v) {
#if defined(ATTN_SIMD_AVX512)
    return _mm512_abs_ps(v);
#else
    return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), v);
#endif
}

/* Lanes equal to a, as bits. */
static inline unsigned lanes_equal(vf v, float a) {
#if defined(ATTN_SIMD_AVX512)
    return _mm512_cmp_ps_mask(v, _mm512_set1_ps(a), _CMP_EQ_OQ);
#else
    return (unsigned)_mm256_movemask_ps(_mm256_cmp_ps(v, _mm256_set1_ps(a), _CMP_EQ_OQ));
#endif
}

/* Rounded to nearest even, clamped to [-127, 127]; NaN gives -127 (max returns its second
 * operand then), like the reference. */
static inline vf round_q8(vf v) { return vmin(vmax(vround(v), vset1(-127.0f)), vset1(127.0f)); }

static inline void store_q8(int8_t *dst, vf q) {
#if defined(ATTN_SIMD_AVX512)
    _mm_storeu_si128((__m128i *)(void *)dst, _mm512_cvtepi32_epi8(_mm512_cvtps_epi32(q)));
#else
    __m256i i = _mm256_cvtps_epi32(q);
    __m128i p = _mm_packs_epi32(_mm256_castsi256_si128(i), _mm256_extracti128_si256(i, 1));
    _mm_storel_epi64((__m128i *)(void *)dst, _mm_packs_epi16(p, p));
#endif
}

/* The first value of magnitude amax (there is one: amax is the largest). */
static float first_of_magnitude(const float *x, int n, float amax) {
    for (int j = 0; j < n; j += VL) {
        unsigned eq = lanes_equal(vabs(vload(x + j)), amax);
        if (eq) return x[j + __builtin_ctz(eq)];
    }
    return amax;
}

void SFX(attn_qx_quantize_row)(const float *x, int64_t K, int block, float *d, int8_t *hi, int8_t *lo) {
    for (int64_t b = 0; b < K / block; b++, x += block, hi += block) {
        vf m = vzero();
        for (int j = 0; j < block; j += VL) m = vmax(vabs(vload(x + j)), m); /* NaN lanes keep m */
        const float amax = vhmax(m);
        float s = 0.0f;
        d[b] = 0.0f;
        if (amax != 0.0f && block == 32) d[b] = amax / 127.0f, s = 127.0f / amax;
        else if (amax != 0.0f) s = -127.0f / first_of_magnitude(x, block, amax), d[b] = 1.0f / s;
        const vf vs = vset1(s), vd = vset1(d[b]), vs256 = vset1(s * 256.0f);
        for (int j = 0; j < block; j += VL) {
            vf v = vload(x + j), q = round_q8(vmul(v, vs));
            store_q8(hi + j, q);
            if (lo) store_q8(lo + j, round_q8(vmul(vsub(v, vmul(vd, q)), vs256)));
        }
        if (lo) lo += block;
    }
}
