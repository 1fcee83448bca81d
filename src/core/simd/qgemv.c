/* qgemv.c - GEMV over block-quantized weights stored [N][K] (GGUF's row-major matrices: each
 * row a run of blocks), compiled once per SIMD set like kernels.c. Each block is decoded in
 * registers (bytes widened to 32-bit lanes, nibbles masked/shifted, converted to f32, scaled
 * exactly as quant.c's dequantizer scales them) and FMAed with the f32 activations, so the
 * result equals dequantize-then-dot up to summation order. Types without a register decoder
 * here go through a block-sized stack buffer filled by quant.c's dequantizer. For several
 * input rows at once (attn_qgemv_rows_nk, at the end) each row of W is decoded once into an
 * f32 buffer and every input row is dotted with it. */
#include <stdlib.h>
#include <string.h>
#include "core/quant.h"
#include "core/tensor.h"
#include "simd.h"

#if defined(ATTN_SIMD_AVX512)
typedef __m512i vi;
/* VL (16) bytes widened to 32-bit lanes */
#define vload_u8(p) _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(const void *)(p)))
#define vload_i8(p) _mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(const void *)(p)))
#define vi_and(a, m) _mm512_and_si512((a), _mm512_set1_epi32(m))
#define vi_srl(a, s) _mm512_srli_epi32((a), (s))
#define vi_or(a, b) _mm512_or_si512((a), (b))
#define vi_sll(a, s) _mm512_slli_epi32((a), (s))
#define vi_tof(a) _mm512_cvtepi32_ps(a)
#define vi_srlv(a, n) _mm512_srlv_epi32((a), (n))
#define vi_srlc(a, s) _mm512_srl_epi32((a), _mm_cvtsi32_si128(s)) /* count not a constant */
#define vi_set1(x) _mm512_set1_epi32(x)
#define vi_add(a, b) _mm512_add_epi32((a), (b))
#define vi_iota() _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15)
#else
typedef __m256i vi;
/* VL (8) bytes widened to 32-bit lanes */
#define vload_u8(p) _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(const void *)(p)))
#define vload_i8(p) _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(const void *)(p)))
#define vi_and(a, m) _mm256_and_si256((a), _mm256_set1_epi32(m))
#define vi_srl(a, s) _mm256_srli_epi32((a), (s))
#define vi_or(a, b) _mm256_or_si256((a), (b))
#define vi_sll(a, s) _mm256_slli_epi32((a), (s))
#define vi_tof(a) _mm256_cvtepi32_ps(a)
#define vi_srlv(a, n) _mm256_srlv_epi32((a), (n))
#define vi_srlc(a, s) _mm256_srl_epi32((a), _mm_cvtsi32_si128(s)) /* count not a constant */
#define vi_set1(x) _mm256_set1_epi32(x)
#define vi_add(a, b) _mm256_add_epi32((a), (b))
#define vi_iota() _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7)
#endif

/* F16C's conversion: exact for every half, one instruction instead of tensor.h's bit code. */
static inline float half_at(const uint8_t *p) {
    uint16_t h;
    memcpy(&h, p, 2);
    return _cvtsh_ss(h);
}

/* The kernels factor each block's scale out of its sum: sum_k (d*q_k + m) x_k =
 * d * sum_k q_k x_k + m * sum_k x_k, with the sums of x over every 16 values (xs) computed
 * once per call and shared by all rows. That leaves one conversion and one FMA per value;
 * only the rounding order differs from dequantize-then-dot. */

/* Q8_0 {d; int8 qs[32]}: w = q * d. */
static float dot_q8_0(const uint8_t *b, const float *x, int64_t K) {
    vf acc = vzero();
    for (int64_t i = 0; i < K / 32; i++, b += 34, x += 32) {
        vf blk = vzero();
        for (int j = 0; j < 32; j += VL) blk = vfma(vi_tof(vload_i8(b + 2 + j)), vload(x + j), blk);
        acc = vfma(vset1(half_at(b)), blk, acc);
    }
    return vsum(acc);
}

/* Q4_0 {d; qs[16]}: w = (q - 8) * d; low nibbles are values 0..15, high ones 16..31. */
static float dot_q4_0(const uint8_t *b, const float *x, const float *xs, int64_t K) {
    vf acc = vzero();
    float off = 0;
    for (int64_t i = 0; i < K / 32; i++, b += 18, x += 32) {
        vf blk = vzero();
        for (int j = 0; j < 16; j += VL) {
            vi q = vload_u8(b + 2 + j);
            blk = vfma(vi_tof(vi_and(q, 15)), vload(x + j), blk);
            blk = vfma(vi_tof(vi_srl(q, 4)), vload(x + 16 + j), blk);
        }
        float d = half_at(b);
        acc = vfma(vset1(d), blk, acc);
        off += d * (xs[2 * i] + xs[2 * i + 1]);
    }
    return vsum(acc) - 8.0f * off;
}

/* Q4_1 {d; m; qs[16]}: w = q * d + m. */
static float dot_q4_1(const uint8_t *b, const float *x, const float *xs, int64_t K) {
    vf acc = vzero();
    float off = 0;
    for (int64_t i = 0; i < K / 32; i++, b += 20, x += 32) {
        vf blk = vzero();
        for (int j = 0; j < 16; j += VL) {
            vi q = vload_u8(b + 4 + j);
            blk = vfma(vi_tof(vi_and(q, 15)), vload(x + j), blk);
            blk = vfma(vi_tof(vi_srl(q, 4)), vload(x + 16 + j), blk);
        }
        acc = vfma(vset1(half_at(b)), blk, acc);
        off += half_at(b + 2) * (xs[2 * i] + xs[2 * i + 1]);
    }
    return vsum(acc) + off;
}

/* Q4_K: 8 groups of 32; per 64 values 32 bytes, low nibbles then high; w = d*s*q - dmin*m. */
static float dot_q4_K(const uint8_t *b, const float *x, const float *xs, int64_t K) {
    vf acc = vzero();
    float off = 0;
    for (int64_t i = 0; i < K / 256; i++, b += 144) {
        const float d = half_at(b), dmin = half_at(b + 2);
        const uint8_t *q = b + 16;
        for (int is = 0; is < 8; is += 2, q += 32, x += 64, xs += 4) {
            int s1, m1, s2, m2;
            attn_q4k_scale_min(is, b + 4, &s1, &m1);
            attn_q4k_scale_min(is + 1, b + 4, &s2, &m2);
            vf lo = vzero(), hi = vzero();
            for (int l = 0; l < 32; l += VL) {
                vi v = vload_u8(q + l);
                lo = vfma(vi_tof(vi_and(v, 15)), vload(x + l), lo);
                hi = vfma(vi_tof(vi_srl(v, 4)), vload(x + 32 + l), hi);
            }
            acc = vfma(vset1(d * (float)s1), lo, acc);
            acc = vfma(vset1(d * (float)s2), hi, acc);
            off += dmin * (float)m1 * (xs[0] + xs[1]) + dmin * (float)m2 * (xs[2] + xs[3]);
        }
    }
    return vsum(acc) - off;
}

/* Q6_K: ql[128], qh[64], int8 scales[16], d; w = (d*scale)*(q-32): 16 groups of 16. */
static float dot_q6_K(const uint8_t *b, const float *x, const float *xs, int64_t K) {
    vf acc = vzero();
    float off = 0;
    for (int64_t i = 0; i < K / 256; i++, b += 210) {
        const float d = half_at(b + 208);
        const uint8_t *ql = b, *qh = b + 128;
        const int8_t *sc = (const int8_t *)(b + 192);
        for (int half = 0; half < 2; half++, x += 128, xs += 8, ql += 64, qh += 32, sc += 8) {
            for (int l = 0; l < 32; l += VL) {
                int is = l / 16; /* VL divides 16, so one scale per vector */
                vi lo = vload_u8(ql + l), hi = vload_u8(ql + l + 32), h = vload_u8(qh + l);
                vf q1 = vi_tof(vi_or(vi_and(lo, 15), vi_sll(vi_and(h, 3), 4)));
                vf q2 = vi_tof(vi_or(vi_and(hi, 15), vi_sll(vi_and(vi_srl(h, 2), 3), 4)));
                vf q3 = vi_tof(vi_or(vi_srl(lo, 4), vi_sll(vi_and(vi_srl(h, 4), 3), 4)));
                vf q4 = vi_tof(vi_or(vi_srl(hi, 4), vi_sll(vi_srl(h, 6), 4)));
                acc = vfma(vset1(d * (float)sc[is]), vmul(q1, vload(x + l)), acc);
                acc = vfma(vset1(d * (float)sc[is + 2]), vmul(q2, vload(x + l + 32)), acc);
                acc = vfma(vset1(d * (float)sc[is + 4]), vmul(q3, vload(x + l + 64)), acc);
                acc = vfma(vset1(d * (float)sc[is + 6]), vmul(q4, vload(x + l + 96)), acc);
            }
            for (int g = 0; g < 8; g++) off += d * (float)sc[g] * xs[g]; /* scale g covers values 16g..16g+15 */
        }
    }
    return vsum(acc) - 32.0f * off;
}

/* The fifth bits of Q5_0/Q5_1 values j..j+VL-1 and j+16..: bit (j+lane) of the word qh,
 * moved to bit 4. */
static inline vi q5_high(uint32_t qh, int j) {
    return vi_sll(vi_and(vi_srlv(vi_set1((int)qh), vi_add(vi_iota(), vi_set1(j))), 1), 4);
}

/* Sum over one Q5_0/Q5_1 block of q*x (q the 5-bit value, no offset or scale). */
static inline vf q5_block(const uint8_t *qs, uint32_t qh, const float *x) {
    vf blk = vzero();
    for (int j = 0; j < 16; j += VL) {
        vi q = vload_u8(qs + j);
        blk = vfma(vi_tof(vi_or(vi_and(q, 15), q5_high(qh, j))), vload(x + j), blk);
        blk = vfma(vi_tof(vi_or(vi_srl(q, 4), q5_high(qh, j + 16))), vload(x + 16 + j), blk);
    }
    return blk;
}

/* Q5_0 {d; u32 qh; qs[16]}: w = d*(q - 16). */
static float dot_q5_0(const uint8_t *b, const float *x, const float *xs, int64_t K) {
    vf acc = vzero();
    float off = 0;
    for (int64_t i = 0; i < K / 32; i++, b += 22, x += 32) {
        uint32_t qh;
        memcpy(&qh, b + 2, 4);
        float d = half_at(b);
        acc = vfma(vset1(d), q5_block(b + 6, qh, x), acc);
        off += d * (xs[2 * i] + xs[2 * i + 1]);
    }
    return vsum(acc) - 16.0f * off;
}

/* Q5_1 {d; m; u32 qh; qs[16]}: w = d*q + m. */
static float dot_q5_1(const uint8_t *b, const float *x, const float *xs, int64_t K) {
    vf acc = vzero();
    float off = 0;
    for (int64_t i = 0; i < K / 32; i++, b += 24, x += 32) {
        uint32_t qh;
        memcpy(&qh, b + 4, 4);
        acc = vfma(vset1(half_at(b)), q5_block(b + 8, qh, x), acc);
        off += half_at(b + 2) * (xs[2 * i] + xs[2 * i + 1]);
    }
    return vsum(acc) + off;
}

/* Q5_K: as Q4_K plus qh[32]: bit 2k / 2k+1 of qh[l] is the fifth bit of value l of group
 * 2k / 2k+1. */
static float dot_q5_K(const uint8_t *b, const float *x, const float *xs, int64_t K) {
    vf acc = vzero();
    float off = 0;
    for (int64_t i = 0; i < K / 256; i++, b += 176) {
        const float d = half_at(b), dmin = half_at(b + 2);
        const uint8_t *qh = b + 16, *q = b + 48;
        for (int is = 0; is < 8; is += 2, q += 32, x += 64, xs += 4) {
            int s1, m1, s2, m2;
            attn_q4k_scale_min(is, b + 4, &s1, &m1);
            attn_q4k_scale_min(is + 1, b + 4, &s2, &m2);
            vf lo = vzero(), hi = vzero();
            for (int l = 0; l < 32; l += VL) {
                vi v = vload_u8(q + l), h = vload_u8(qh + l);
                vi h1 = vi_sll(vi_and(vi_srlc(h, is), 1), 4), h2 = vi_sll(vi_and(vi_srlc(h, is + 1), 1), 4);
                lo = vfma(vi_tof(vi_or(vi_and(v, 15), h1)), vload(x + l), lo);
                hi = vfma(vi_tof(vi_or(vi_srl(v, 4), h2)), vload(x + 32 + l), hi);
            }
            acc = vfma(vset1(d * (float)s1), lo, acc);
            acc = vfma(vset1(d * (float)s2), hi, acc);
            off += dmin * (float)m1 * (xs[0] + xs[1]) + dmin * (float)m2 * (xs[2] + xs[3]);
        }
    }
    return vsum(acc) - off;
}

/* Q2_K: scales[16] (scale nibble, min nibble per group of 16), qs[64], d, dmin; each
 * 128-value half reads 32 bytes of qs four times at shifts 0, 2, 4, 6. w = d*sc*q - dmin*mn. */
static float dot_q2_K(const uint8_t *b, const float *x, const float *xs, int64_t K) {
    vf acc = vzero();
    float off = 0;
    for (int64_t i = 0; i < K / 256; i++, b += 84) {
        const float d = half_at(b + 80), dmin = half_at(b + 82);
        const uint8_t *q = b + 16;
        int is = 0;
        for (int half = 0; half < 2; half++, q += 32)
            for (int shift = 0; shift < 8; shift += 2)
                for (int g = 0; g < 2; g++, is++, x += 16) {
                    vf grp = vzero();
                    for (int l = 0; l < 16; l += VL)
                        grp = vfma(vi_tof(vi_and(vi_srlc(vload_u8(q + 16 * g + l), shift), 3)), vload(x + l), grp);
                    acc = vfma(vset1(d * (float)(b[is] & 0x0F)), grp, acc);
                    off += dmin * (float)(b[is] >> 4) * xs[is];
                }
        xs += 16;
    }
    return vsum(acc) - off;
}

/* Q3_K's 16 six-bit signed scales (quant.c's q3k_scales). */
static void q3k_scales(const uint8_t s[12], int out[16]) {
    for (int i = 0; i < 16; i++) {
        const int lo = (s[i % 8] >> (4 * (i / 8))) & 0x0F, hi = (s[8 + i % 4] >> (2 * (i / 4))) & 3;
        out[i] = (lo | hi << 4) - 32;
    }
}

/* Q3_K: hmask[32], qs[64] (as Q2_K), scales[12], d. w = d*sc*(q - (hbit ? 0 : 4)) =
 * d*sc*((q | hbit<<2) - 4). */
static float dot_q3_K(const uint8_t *b, const float *x, const float *xs, int64_t K) {
    vf acc = vzero();
    float off = 0;
    for (int64_t i = 0; i < K / 256; i++, b += 110) {
        const float d = half_at(b + 108);
        const uint8_t *q = b + 32;
        int sc[16], is = 0, bit = 0;
        q3k_scales(b + 96, sc);
        for (int half = 0; half < 2; half++, q += 32)
            for (int shift = 0; shift < 8; shift += 2, bit++)
                for (int g = 0; g < 2; g++, is++, x += 16) {
                    vf grp = vzero();
                    for (int l = 0; l < 16; l += VL) {
                        vi lo = vi_and(vi_srlc(vload_u8(q + 16 * g + l), shift), 3);
                        vi hb = vi_sll(vi_and(vi_srlc(vload_u8(b + 16 * g + l), bit), 1), 2);
                        grp = vfma(vi_tof(vi_or(lo, hb)), vload(x + l), grp);
                    }
                    float dl = d * (float)sc[is];
                    acc = vfma(vset1(dl), grp, acc);
                    off += dl * xs[is];
                }
        xs += 16;
    }
    return vsum(acc) - 4.0f * off;
}

/* Any other dequantizable type: a chunk of whole blocks through a stack buffer. */
static float dot_buffered(attn_qtype t, const uint8_t *row, const float *x, int64_t K) {
    enum { CHUNK = 256 }; /* a multiple of every block size */
    float buf[CHUNK];
    const attn_qtype_info *info = attn_qtype_get(t);
    vf acc = vzero();
    float tail = 0;
    for (int64_t k0 = 0; k0 < K; k0 += CHUNK) {
        int64_t n = K - k0 < CHUNK ? K - k0 : CHUNK;
        attn_dequantize_row(t, row + k0 / info->block * info->bytes, buf, n);
        int64_t j = 0;
        for (; j + VL <= n; j += VL) acc = vfma(vload(buf + j), vload(x + k0 + j), acc);
        for (; j < n; j++) tail += buf[j] * x[k0 + j];
    }
    return vsum(acc) + tail;
}

/* xs[g] = sum of x[16g .. 16g+15]: the block offsets' share of every row's dot. */
static void group_sums(float *xs, const float *x, int64_t K) {
    for (int64_t g = 0; g < K / 16; g++) {
        float t = 0;
        for (int j = 0; j < 16; j++) t += x[16 * g + j];
        xs[g] = t;
    }
}

static float dot_row(attn_qtype t, const uint8_t *row, const float *x, const float *xs, int64_t K) {
    switch (t) {
    case ATTN_QT_Q8_0: return dot_q8_0(row, x, K);
    case ATTN_QT_Q4_0: return dot_q4_0(row, x, xs, K);
    case ATTN_QT_Q4_1: return dot_q4_1(row, x, xs, K);
    case ATTN_QT_Q4_K: return dot_q4_K(row, x, xs, K);
    case ATTN_QT_Q6_K: return dot_q6_K(row, x, xs, K);
    case ATTN_QT_Q5_0: return dot_q5_0(row, x, xs, K);
    case ATTN_QT_Q5_1: return dot_q5_1(row, x, xs, K);
    case ATTN_QT_Q5_K: return dot_q5_K(row, x, xs, K);
    case ATTN_QT_Q2_K: return dot_q2_K(row, x, xs, K);
    case ATTN_QT_Q3_K: return dot_q3_K(row, x, xs, K);
    default: return dot_buffered(t, row, x, K);
    }
}

/* y[n] = W[n][:] . x for n in [n0, n1). */
void SFX(attn_qgemv_nk)(float *y, const float *x, const void *w, attn_qtype t, int64_t K, int64_t n0, int64_t n1) {
    enum { XS_STACK = 2048 }; /* rows up to 32768 values keep their group sums on the stack */
    float stack_xs[XS_STACK], *xs = K / 16 <= XS_STACK ? stack_xs : malloc((size_t)(K / 16 + 1) * sizeof(float));
    size_t rb = attn_quant_row_bytes(t, K);
    if (!xs) { /* out of memory: the buffered path needs no sums */
        for (int64_t n = n0; n < n1; n++) y[n] = dot_buffered(t, (const uint8_t *)w + (size_t)n * rb, x, K);
        return;
    }
    group_sums(xs, x, K);
    for (int64_t n = n0; n < n1; n++) y[n] = dot_row(t, (const uint8_t *)w + (size_t)n * rb, x, xs, K);
    if (xs != stack_xs) free(xs);
}

/* ---- several input rows: each block decoded once, then FMAed with every row ----------
 * Decoding is the costly part of a quantized GEMV; with M rows (a batch of decoding
 * sequences) each weight row is decoded once into an f32 buffer that stays in L1 and every
 * input row streams over it. The decoders compute exactly what quant.c's dequantizer does
 * (same products and sums, unfused), so only the summation order differs from
 * dequantize-then-dot. */

/* Q8_0: q * d. */
static void decode_q8_0(const uint8_t *b, float *w) {
    vf d = vset1(half_at(b));
    for (int j = 0; j < 32; j += VL) vstore(w + j, vmul(vi_tof(vload_i8(b + 2 + j)), d));
}

/* Q4_0: (q - 8) * d. */
static void decode_q4_0(const uint8_t *b, float *w) {
    vf d = vset1(half_at(b)), eight = vset1(8.0f);
    for (int j = 0; j < 16; j += VL) {
        vi q = vload_u8(b + 2 + j);
        vstore(w + j, vmul(vsub(vi_tof(vi_and(q, 15)), eight), d));
        vstore(w + 16 + j, vmul(vsub(vi_tof(vi_srl(q, 4)), eight), d));
    }
}

/* Q4_1: q * d + m. */
static void decode_q4_1(const uint8_t *b, float *w) {
    vf d = vset1(half_at(b)), m = vset1(half_at(b + 2));
    for (int j = 0; j < 16; j += VL) {
        vi q = vload_u8(b + 4 + j);
        vstore(w + j, vadd(vmul(vi_tof(vi_and(q, 15)), d), m));
        vstore(w + 16 + j, vadd(vmul(vi_tof(vi_srl(q, 4)), d), m));
    }
}

/* Q5_0: (q - 16) * d, q with its fifth bit from qh. */
static void decode_q5_0(const uint8_t *b, float *w) {
    uint32_t qh;
    memcpy(&qh, b + 2, 4);
    vf d = vset1(half_at(b)), sixteen = vset1(16.0f);
    for (int j = 0; j < 16; j += VL) {
        vi q = vload_u8(b + 6 + j);
        vstore(w + j, vmul(vsub(vi_tof(vi_or(vi_and(q, 15), q5_high(qh, j))), sixteen), d));
        vstore(w + 16 + j, vmul(vsub(vi_tof(vi_or(vi_srl(q, 4), q5_high(qh, j + 16))), sixteen), d));
    }
}

/* Q5_1: q * d + m. */
static void decode_q5_1(const uint8_t *b, float *w) {
    uint32_t qh;
    memcpy(&qh, b + 4, 4);
    vf d = vset1(half_at(b)), m = vset1(half_at(b + 2));
    for (int j = 0; j < 16; j += VL) {
        vi q = vload_u8(b + 8 + j);
        vstore(w + j, vadd(vmul(vi_tof(vi_or(vi_and(q, 15), q5_high(qh, j))), d), m));
        vstore(w + 16 + j, vadd(vmul(vi_tof(vi_or(vi_srl(q, 4), q5_high(qh, j + 16))), d), m));
    }
}

/* Q2_K: d*sc * q - dmin*mn per group of 16. */
static void decode_q2_K(const uint8_t *b, float *w) {
    const float d = half_at(b + 80), dmin = half_at(b + 82);
    const uint8_t *q = b + 16;
    int is = 0;
    for (int half = 0; half < 2; half++, q += 32)
        for (int shift = 0; shift < 8; shift += 2)
            for (int g = 0; g < 2; g++, is++, w += 16) {
                vf dl = vset1(d * (float)(b[is] & 0x0F)), ml = vset1(dmin * (float)(b[is] >> 4));
                for (int l = 0; l < 16; l += VL)
                    vstore(w + l, vsub(vmul(dl, vi_tof(vi_and(vi_srlc(vload_u8(q + 16 * g + l), shift), 3))), ml));
            }
}

/* Q3_K: d*sc * (q - 4), q's third bit from hmask. */
static void decode_q3_K(const uint8_t *b, float *w) {
    const float d = half_at(b + 108);
    const uint8_t *q = b + 32;
    int sc[16], is = 0, bit = 0;
    q3k_scales(b + 96, sc);
    for (int half = 0; half < 2; half++, q += 32)
        for (int shift = 0; shift < 8; shift += 2, bit++)
            for (int g = 0; g < 2; g++, is++, w += 16) {
                vf dl = vset1(d * (float)sc[is]);
                for (int l = 0; l < 16; l += VL) {
                    vi lo = vi_and(vi_srlc(vload_u8(q + 16 * g + l), shift), 3);
                    vi hb = vi_sll(vi_and(vi_srlc(vload_u8(b + 16 * g + l), bit), 1), 2);
                    vstore(w + l, vmul(dl, vi_tof(vi_add(vi_or(lo, hb), vi_set1(-4)))));
                }
            }
}

/* Q4_K and Q5_K: d*s * q - dmin*m per group of 32 (qh: Q5_K's fifth bits, else NULL). */
static void decode_q45_K(const uint8_t *b, const uint8_t *qh, const uint8_t *q, float *w) {
    const float d = half_at(b), dmin = half_at(b + 2);
    for (int is = 0; is < 8; is += 2, q += 32, w += 64) {
        int s1, m1, s2, m2;
        attn_q4k_scale_min(is, b + 4, &s1, &m1);
        attn_q4k_scale_min(is + 1, b + 4, &s2, &m2);
        vf d1 = vset1(d * (float)s1), c1 = vset1(dmin * (float)m1);
        vf d2 = vset1(d * (float)s2), c2 = vset1(dmin * (float)m2);
        for (int l = 0; l < 32; l += VL) {
            vi v = vload_u8(q + l), lo = vi_and(v, 15), hi = vi_srl(v, 4);
            if (qh) {
                vi h = vload_u8(qh + l);
                lo = vi_or(lo, vi_sll(vi_and(vi_srlc(h, is), 1), 4));
                hi = vi_or(hi, vi_sll(vi_and(vi_srlc(h, is + 1), 1), 4));
            }
            vstore(w + l, vsub(vmul(d1, vi_tof(lo)), c1));
            vstore(w + 32 + l, vsub(vmul(d2, vi_tof(hi)), c2));
        }
    }
}
static void decode_q4_K(const uint8_t *b, float *w) { decode_q45_K(b, NULL, b + 16, w); }
static void decode_q5_K(const uint8_t *b, float *w) { decode_q45_K(b, b + 16, b + 48, w); }

/* Q6_K: d*sc * (q - 32) per group of 16. */
static void decode_q6_K(const uint8_t *b, float *w) {
    const float d = half_at(b + 208);
    const uint8_t *ql = b, *qh = b + 128;
    const int8_t *sc = (const int8_t *)(b + 192);
    vi off = vi_set1(-32);
    for (int half = 0; half < 2; half++, w += 128, ql += 64, qh += 32, sc += 8)
        for (int l = 0; l < 32; l += VL) {
            int is = l / 16;
            vi lo = vload_u8(ql + l), hi = vload_u8(ql + l + 32), h = vload_u8(qh + l);
            vi q1 = vi_or(vi_and(lo, 15), vi_sll(vi_and(h, 3), 4));
            vi q2 = vi_or(vi_and(hi, 15), vi_sll(vi_and(vi_srl(h, 2), 3), 4));
            vi q3 = vi_or(vi_srl(lo, 4), vi_sll(vi_and(vi_srl(h, 4), 3), 4));
            vi q4 = vi_or(vi_srl(hi, 4), vi_sll(vi_srl(h, 6), 4));
            vstore(w + l, vmul(vset1(d * (float)sc[is]), vi_tof(vi_add(q1, off))));
            vstore(w + l + 32, vmul(vset1(d * (float)sc[is + 2]), vi_tof(vi_add(q2, off))));
            vstore(w + l + 64, vmul(vset1(d * (float)sc[is + 4]), vi_tof(vi_add(q3, off))));
            vstore(w + l + 96, vmul(vset1(d * (float)sc[is + 6]), vi_tof(vi_add(q4, off))));
        }
}

typedef void (*block_decoder)(const uint8_t *b, float *w);

static block_decoder decoder_for(attn_qtype t) {
    switch (t) {
    case ATTN_QT_Q8_0: return decode_q8_0;
    case ATTN_QT_Q4_0: return decode_q4_0;
    case ATTN_QT_Q4_1: return decode_q4_1;
    case ATTN_QT_Q5_0: return decode_q5_0;
    case ATTN_QT_Q5_1: return decode_q5_1;
    case ATTN_QT_Q2_K: return decode_q2_K;
    case ATTN_QT_Q3_K: return decode_q3_K;
    case ATTN_QT_Q4_K: return decode_q4_K;
    case ATTN_QT_Q5_K: return decode_q5_K;
    case ATTN_QT_Q6_K: return decode_q6_K;
    default: return NULL;
    }
}

/* n values (whole blocks) of a row from `src` into w. */
static void decode_values(attn_qtype t, block_decoder dec, const uint8_t *src, float *w, int64_t n) {
    const attn_qtype_info *info = attn_qtype_get(t);
    if (!dec) {
        attn_dequantize_row(t, src, w, n);
        return;
    }
    for (int64_t i = 0; i < n / info->block; i++) dec(src + i * info->bytes, w + i * info->block);
}

/* The dequantizing GEMM's panel packer decodes through this (same values as quant.c's). */
void SFX(attn_qdecode_row)(attn_qtype t, const void *src, float *dst, int64_t n) {
    decode_values(t, decoder_for(t), src, dst, n);
}

enum { ROWS_GROUP = 8, ROW_CHUNK = 4096 }; /* rows per register group; values decoded at a time */

/* y[r*ldy] += w[0:n] . x[r*ldx + 0:n] for R rows (R a constant after inlining, so the
 * accumulators live in registers). n is a multiple of VL or the tail goes scalar. */
static inline __attribute__((always_inline)) void dot_rows(float *y, int64_t ldy, const float *w, const float *x,
                                                           int64_t ldx, int64_t n, const int R) {
    vf acc[ROWS_GROUP];
    for (int r = 0; r < R; r++) acc[r] = vzero();
    int64_t j = 0;
    for (; j + VL <= n; j += VL) {
        vf wv = vload(w + j);
        for (int r = 0; r < R; r++) acc[r] = vfma(wv, vload(x + r * ldx + j), acc[r]);
    }
    for (int r = 0; r < R; r++) {
        float tail = 0;
        for (int64_t k = j; k < n; k++) tail += w[k] * x[r * ldx + k];
        y[r * ldy] += vsum(acc[r]) + tail;
    }
}

static void dot_group(float *y, int64_t ldy, const float *w, const float *x, int64_t ldx, int64_t n, int R) {
    switch (R) {
    case 1: dot_rows(y, ldy, w, x, ldx, n, 1); break;
    case 2: dot_rows(y, ldy, w, x, ldx, n, 2); break;
    case 3: dot_rows(y, ldy, w, x, ldx, n, 3); break;
    case 4: dot_rows(y, ldy, w, x, ldx, n, 4); break;
    case 5: dot_rows(y, ldy, w, x, ldx, n, 5); break;
    case 6: dot_rows(y, ldy, w, x, ldx, n, 6); break;
    case 7: dot_rows(y, ldy, w, x, ldx, n, 7); break;
    default: dot_rows(y, ldy, w, x, ldx, n, 8); break;
    }
}

/* y[r*ldy + n] = W[n][:] . x[r*ldx + :] for rows r < M and n in [n0, n1). */
void SFX(attn_qgemv_rows_nk)(float *y, int64_t ldy, const float *x, int64_t ldx, int64_t M, const void *w,
                             attn_qtype t, int64_t K, int64_t n0, int64_t n1) {
    float wbuf[ROW_CHUNK]; /* a multiple of every block size */
    const attn_qtype_info *info = attn_qtype_get(t);
    block_decoder dec = decoder_for(t);
    size_t rb = attn_quant_row_bytes(t, K);
    for (int64_t n = n0; n < n1; n++) {
        const uint8_t *row = (const uint8_t *)w + (size_t)n * rb;
        for (int64_t r = 0; r < M; r++) y[r * ldy + n] = 0.0f;
        for (int64_t k0 = 0; k0 < K; k0 += ROW_CHUNK) {
            int64_t len = K - k0 < ROW_CHUNK ? K - k0 : ROW_CHUNK;
            decode_values(t, dec, row + k0 / info->block * info->bytes, wbuf, len);
            for (int64_t r0 = 0; r0 < M; r0 += ROWS_GROUP)
                dot_group(y + r0 * ldy + n, ldy, wbuf, x + r0 * ldx + k0, ldx, len,
                          (int)(M - r0 < ROWS_GROUP ? M - r0 : ROWS_GROUP));
        }
    }
}
