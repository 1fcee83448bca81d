/* qpanel.c - the AVX-512 kernels of the 16-row weight panels (core/qpanel.h): integer dot
 * products with quantized activation rows, and the panels' decoding for the f32 GEMM. Only
 * the AVX-512 build has them: panels are made only where that set runs (the AVX2 build's
 * 256-bit lanes would hold 8 rows; its row kernels stay). */
#include <string.h>
#include "core/common.h"
#include "core/qpanel.h"
#include "core/quant.h"
#include "core/quant_matmul.h"
#include "simd.h"

#if defined(ATTN_SIMD_AVX512)

#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off") /* the decoder must round like attn_dequantize_row */
#endif

#define INLINE static inline __attribute__((always_inline))
/* How the prefetches ask for the lines (prefetch_span): into L2 (T1), each line more than
 * once: at `ahead` bytes and again at evenly nearer distances, Q8_0 4 times, the other
 * 32-blocks 3, the K-quants 2. On a 2-vCPU Zen 4 EPYC (one process alternating settings,
 * 2 threads, 16-40 runs of 8-32 tokens, the memory mostly in its slow phase, ~35 GB/s),
 * asking twice rather than once decoded the 1.1B Q4_0 at 1.07x, its Q4_K_M 1.10x, SmolLM2
 * Q4_0 1.05x, Q4_1 1.04x, Q5_0 1.06x; the 1.1B Q4_0 1.11-1.12x while the memory was fast.
 * Q8_0, non-temporal and once until then (L2 was slower once), asked twice into L2 decoded
 * the 1.1B at 1.02x, SmolLM2 at 1.06x. Then these counts against twice for all: the 1.1B
 * Q8_0 1.035x, Q4_0 1.036x, SmolLM2 Q8_0 1.044x, Q4_0 1.045x, Q5_0 1.050x, Q4_1 (3 times)
 * 1.045x; but 3 times was 0.97x on the 1.1B Q4_K_M and 4 times 0.96x on the 1.1B Q4_0 (fast
 * memory). Likely why it helps: a software prefetch that finds the core's queue of misses
 * full is dropped, and a later one asks again before the kernel needs the line; a kernel
 * with more arithmetic between its loads drops fewer. Asked once, a further distance (up to
 * 256 KB), the next product's first lines asked early, T2, or one-byte activations gained
 * nothing. Without software prefetch the 1.1B Q4_0 decodes at half the speed; 4 KB ahead,
 * at 0.82. The f16 GEMV, with less work between its loads, was not faster asking twice
 * (kernels.c). */
/* How far ahead the kernel asks for the panel stream (prefetch_span): an eighth of the bytes
 * this call streams, at least 4 KB (16 KB for K-quants, whose
 * super-blocks are 2-3 KB) and at most 64 KB. Far ahead pays on long streams: one Zen 4
 * thread reads a 16384x4096 matrix's Q4_0/Q4_1/Q5_0 panels at 19-22 GB/s with 64 KB against
 * 17-18 with 4 KB, Q4_K/Q6_K at 18-20 against 15-18 with 16 KB; 2 threads decode the 1.1B
 * Q4_K_M ~7% faster, Q4_0 ~5%. A fixed 64 KB was 8% slower on SmolLM2 Q8_0 in one of two
 * alternated runs: its calls stream ~60 KB each, so those prefetches fetch what the other
 * thread reads. K-quant panels ask for a group's lines at a time (32 prefetches in a burst
 * stalled on the line-fill buffers: a third of a profile). Since decoding splits its rows as
 * streams (threadpool.h), a call's next bytes are mostly its own thread's next piece. A fixed
 * 64 KB then measured level with this rule at ~48 GB/s and 1.4-5% faster on the 1.1B Q4_K_M
 * at ~76 (5 alternated pairs), but 11-22% slower on SmolLM2 Q4_1/Q8_0 (whose 128 KB calls take
 * 16 KB here), and still 15-20% slower with the requests clipped at the end of the thread's
 * share: the distance itself costs there, not reads past the share. */
#define PF_MIN 4096
#define PF_MIN_K 16384
#define PF_MAX 65536

/* How many times a line is asked for (see above): the more bytes a kernel reads for its work,
 * the more. */
INLINE int prefetch_asks(const attn_qtype t) {
    return t == ATTN_QT_Q8_0 ? 4 : t == ATTN_QT_Q4_K || t == ATTN_QT_Q5_K || t == ATTN_QT_Q6_K ? 2 : 3;
}

/* The panel stream's lines at [from, from + len), asked for at `ahead` bytes ahead and again
 * at evenly nearer distances (none when ahead is 0). Panels follow one another and each is
 * one run of bytes, so a call's rows are one run: block b of a panel whose blocks take `span`
 * bytes each (values and scales) asks for [b * span, (b + 1) * span) of that run, ahead. */
INLINE void prefetch_span(const attn_qtype t, const uint8_t *panel, int64_t from, int64_t len, int ahead) {
    if (!ahead) return;
    const int asks = prefetch_asks(t);
    for (int64_t o = from & ~(int64_t)63; o < from + len; o += 64)
        for (int a = asks; a >= 1; a--) _mm_prefetch((const char *)panel + o + (int64_t)ahead * a / asks, _MM_HINT_T1);
}

/* 4 activation bytes at p in every 32-bit lane (vpdpbusd folds the load as a broadcast). */
INLINE __m512i bcast4(const int8_t *p) {
    int32_t v;
    memcpy(&v, p, 4);
    return _mm512_set1_epi32(v);
}


/* Per lane (a row's 32-bit word of fifth bits), byte i's bit 4 = bit `first` + i of the word
 * (vpmultishiftqb picks each byte's 8 bits at any offset of its 64-bit word, wrapping). */
INLINE __m512i fifth_bits(__m512i qh, int first) {
    uint64_t ctrl = 0;
    for (int k = 0; k < 8; k++) ctrl |= (uint64_t)((32 * (k / 4) + first + k % 4 - 4) & 63) << (8 * k);
    return _mm512_multishift_epi64_epi8(_mm512_set1_epi64((long long)ctrl), qh);
}

/* The activation offset each of block_values' vectors pairs with: Q8_0's run in order, the
 * 4-bit types' alternate between a block's first and last 16 values (low, high nibbles). */
static const int in_order[8] = {0, 4, 8, 12, 16, 20, 24, 28}, by_nibble[8] = {0, 16, 4, 20, 8, 24, 12, 28};
#define ACT_AT(t) ((t) == ATTN_QT_Q8_0 ? in_order : by_nibble)

/* A block's weights as 8 vectors of unsigned bytes, vector j against activations 4j..4j+3
 * (Q4: even j from the low nibbles, odd from the high ones, see ACT_AT). */
INLINE void block_values(const attn_qtype t, const uint8_t *v, __m512i wv[8]) {
    if (t == ATTN_QT_Q8_0) {
        for (int j = 0; j < 8; j++) wv[j] = _mm512_loadu_si512(v + 64 * j);
        return;
    }
    const __m512i m4 = _mm512_set1_epi8(15);
    for (int j = 0; j < 4; j++) {
        const __m512i w = _mm512_loadu_si512(v + 64 * j);
        wv[2 * j] = _mm512_and_si512(w, m4);
        wv[2 * j + 1] = _mm512_and_si512(_mm512_srli_epi16(w, 4), m4);
    }
    if (t == ATTN_QT_Q5_0 || t == ATTN_QT_Q5_1) {
        const __m512i qh = _mm512_loadu_si512(v + 256), sixteen = _mm512_set1_epi8(16);
        for (int j = 0; j < 8; j++) /* value a's fifth bit is bit a of the lane's word */
            wv[j] = _mm512_ternarylogic_epi32(wv[j], fifth_bits(qh, by_nibble[j]), sixteen, 0xF8);
    }
}

/* Per lane, the products of n weight vectors with activation bytes x + at[j], in two chains
 * (8 dependent vpdpbusd are 40 cycles: too long to hide behind the other rows). */
INLINE __m512i group_dot(const __m512i *wv, const int n, const int8_t *x, const int *at) {
    __m512i s0 = _mm512_dpbusd_epi32(_mm512_setzero_si512(), wv[0], bcast4(x + at[0]));
    __m512i s1 = _mm512_dpbusd_epi32(_mm512_setzero_si512(), wv[1], bcast4(x + at[1]));
#pragma GCC unroll 8
    for (int j = 2; j < n; j += 2) {
        s0 = _mm512_dpbusd_epi32(s0, wv[j], bcast4(x + at[j]));
        s1 = _mm512_dpbusd_epi32(s1, wv[j + 1], bcast4(x + at[j + 1]));
    }
    return _mm512_add_epi32(s0, s1);
}

/* The same with one activation row's hi bytes, times 256 plus its lo bytes' with two. */
INLINE __m512i group_ints(const __m512i *wv, const int n, const int8_t *hi, const int8_t *lo, const int *at,
                          const int two) {
    __m512i a = group_dot(wv, n, hi, at);
    return two ? _mm512_add_epi32(_mm512_slli_epi32(a, 8), group_dot(wv, n, lo, at)) : a;
}

/* Activation rows r0 .. r0+R-1 against one panel: y[r*ldy + n] for its 16 rows n (the
 * first `cols` stored). Per block and row: 8 vpdpbusd per activation byte, one conversion,
 * one multiply and two FMAs for 16 weight rows; the constant terms (offset or minimum
 * times sum(x~)) go to a second accumulator, multiplied by the offset at the end. */
INLINE void panel_rows(const attn_qtype t, const int R, const int two, const uint8_t *panel, const attn_qx *qx,
                       int64_t r0, float *y, int64_t ldy, __mmask16 cols, int prefetch) { /* bytes ahead; 0: none */
    const int64_t K = qx->K, nb = K / 32;
    const int q5 = t == ATTN_QT_Q5_0 || t == ATTN_QT_Q5_1, minimum = t == ATTN_QT_Q4_1 || t == ATTN_QT_Q5_1;
    const int vb = t == ATTN_QT_Q8_0 ? 512 : q5 ? 320 : 256, sb = minimum ? 64 : 32;
    const float off = t == ATTN_QT_Q4_0 ? -8.0f : t == ATTN_QT_Q5_0 ? -16.0f : t == ATTN_QT_Q8_0 ? -128.0f : 1.0f;
    const int8_t *h[8], *l[8];
    const float *dx[8], *sx[8];
    __m512 acc[8], cacc[8];
    for (int r = 0; r < R; r++) {
        h[r] = qx->hi + (r0 + r) * K, l[r] = two ? qx->lo + (r0 + r) * K : NULL;
        dx[r] = qx->d + (r0 + r) * qx->nb_pad, sx[r] = qx->sum + (r0 + r) * qx->nb_pad;
        acc[r] = cacc[r] = _mm512_setzero_ps();
    }
    for (int64_t b = 0; b < nb; b++) {
        int64_t vo, so;
        attn_qpanel_offsets(vb, sb, nb, b, &vo, &so);
        const uint8_t *v = panel + vo, *s = panel + so;
        prefetch_span(t, panel, b * (vb + sb), vb + sb, prefetch);
        __m512i wv[8];
        block_values(t, v, wv);
        const __m512 dw = vload_f16(s), c = minimum ? vload_f16(s + 32) : dw;
#pragma GCC unroll 8 /* keeps the accumulators in registers */
        for (int r = 0; r < R; r++) {
            const __m512i a = group_ints(wv, 8, h[r] + 32 * b, two ? l[r] + 32 * b : NULL, ACT_AT(t), two);
            acc[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(a), _mm512_mul_ps(dw, _mm512_set1_ps(dx[r][b])), acc[r]);
            cacc[r] = _mm512_fmadd_ps(c, _mm512_set1_ps(sx[r][b]), cacc[r]);
        }
    }
    const __m512 unit = _mm512_set1_ps(two ? 1.0f / 256 : 1.0f);
    for (int r = 0; r < R; r++)
        _mm512_mask_storeu_ps(y + r * ldy, cols,
                              _mm512_fmadd_ps(cacc[r], _mm512_set1_ps(off), _mm512_mul_ps(acc[r], unit)));
}

/* 16 bytes as 16 lanes of f32 times f. */
INLINE __m512 bytes16(const uint8_t *p, const int is_signed, __m512 f) {
    const __m128i b = _mm_loadu_si128((const __m128i *)(const void *)p);
    return _mm512_mul_ps(_mm512_cvtepi32_ps(is_signed ? _mm512_cvtepi8_epi32(b) : _mm512_cvtepu8_epi32(b)), f);
}

/* Row r's activation sums over the 16 runs of 16 values of a super-block: hi (times 256,
 * plus lo, with two bytes), as floats. */
INLINE void run_sums(const attn_qx *qx, int64_t r, int64_t b, float out[16]) {
    const int16_t *h = qx->bsum_hi + r * (qx->K / 16) + 16 * b;
    __m512i s = _mm512_cvtepi16_epi32(_mm256_loadu_si256((const __m256i *)(const void *)h));
    if (qx->lo) {
        const int16_t *l = qx->bsum_lo + r * (qx->K / 16) + 16 * b;
        const __m512i sl = _mm512_cvtepi16_epi32(_mm256_loadu_si256((const __m256i *)(const void *)l));
        s = _mm512_add_epi32(_mm512_slli_epi32(s, 8), sl);
    }
    _mm512_storeu_ps(out, _mm512_cvtepi32_ps(s));
}

/* Q5_K: bit g of qh byte 4c+i (vector 32+c of the super-block) moved to bit 4 of byte i of
 * each lane, other bits left for the caller to mask (16-bit shifts stay within the byte's
 * bit 4 for g <= 7). */
INLINE __m512i fifth_of_group(const uint8_t *v, int c, int g) {
    const __m512i qh = _mm512_loadu_si512(v + 64 * (32 + c));
    return g <= 4 ? _mm512_slli_epi16(qh, 4 - g) : _mm512_srli_epi16(qh, g - 4);
}

/* K-quant panels (Q4_K, Q5_K, Q6_K), rows r0 .. r0+R-1: per super-block and row, each group's
 * integer sums are converted and multiplied by its 16 rows' scales (d*sc), its minimum
 * (Q4_K: dmin*m) or offset (Q6_K: 32*d*sc) times the activations' run sums is taken off,
 * and the super-block's total is scaled by the activations' d. `act`: ACT_ONE or ACT_TWO
 * bytes in 256-blocks, or ACT_FINE, one byte in 32-blocks: then the group's scales take
 * its block's d (one multiply more per row and group), the minimum its block's sum(x~), and
 * Q6_K's offset 32 comes off the integer sums (a float operation fewer: vpdpbusd and the
 * float work share the FMA pipes, so every float operation a group costs ~1/8 of its time). */
enum { ACT_ONE, ACT_TWO, ACT_FINE };
INLINE void kpanel_rows(const attn_qtype t, const int R, const int act, const uint8_t *panel, const attn_qx *qx,
                        int64_t r0, float *y, int64_t ldy, __mmask16 cols, int prefetch) {
    const int two = act == ACT_TWO, fine = act == ACT_FINE;
    const int64_t K = qx->K, nb = K / 256;
    const int x1 = t == ATTN_QT_Q4_K || t == ATTN_QT_Q5_K; /* w = d*sc*q - dmin*m */
    const int vb = t == ATTN_QT_Q4_K ? 2048 : t == ATTN_QT_Q5_K ? 2560 : 3072, sb = x1 ? 320 : 288;
    const __m512i m4 = _mm512_set1_epi8(15), top2 = _mm512_set1_epi8(0x30), sixteen = _mm512_set1_epi8(16);
    __m512 acc[8];
    for (int r = 0; r < R; r++) acc[r] = _mm512_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        int64_t vo, so;
        attn_qpanel_offsets(vb, sb, nb, b, &vo, &so);
        const uint8_t *v = panel + vo, *s = panel + so;
        const __m512 d = vload_f16(s);
        _Alignas(64) float runs[8][16];
        __m512 part[8];
        for (int r = 0; r < R; r++) {
            if (!fine) run_sums(qx, r0 + r, b, runs[r]);
            part[r] = _mm512_setzero_ps();
        }
        if (x1) {
            const __m512 dmin = vload_f16(s + 32);
            for (int g = 0; g < 8; g++) {
                prefetch_span(t, panel, b * (vb + sb) + (vb + sb) * g / 8, (vb + sb) / 8, prefetch);
                const __m512 sc = bytes16(s + 64 + 16 * g, 0, d), mn = bytes16(s + 192 + 16 * g, 0, dmin);
                __m512i wv[8];
                for (int c = 0; c < 8; c++) {
                    const __m512i w = _mm512_loadu_si512(v + 64 * (8 * (g / 2) + c));
                    wv[c] = _mm512_and_si512(g % 2 ? _mm512_srli_epi16(w, 4) : w, m4);
                    if (t == ATTN_QT_Q5_K) /* wv | (fifth bits & 16) */
                        wv[c] = _mm512_ternarylogic_epi32(wv[c], fifth_of_group(v, c, g), sixteen, 0xF8);
                }
#pragma GCC unroll 8
                for (int r = 0; r < R; r++) {
                    const int64_t k = (r0 + r) * K + 256 * b + 32 * g, xb = (r0 + r) * qx->nb_pad + 8 * b + g;
                    const __m512i a = group_ints(wv, 8, qx->hi + k, two ? qx->lo + k : NULL, in_order, two);
                    const __m512 scx = fine ? _mm512_mul_ps(sc, _mm512_set1_ps(qx->d[xb])) : sc;
                    part[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(a), scx, part[r]);
                    part[r] = _mm512_fnmadd_ps(
                        mn, _mm512_set1_ps(fine ? qx->sum[xb] : runs[r][2 * g] + runs[r][2 * g + 1]), part[r]);
                }
            }
        } else {
            for (int j16 = 0; j16 < 16; j16++) { /* values 128h + 32j + 16u + l */
                prefetch_span(t, panel, b * (vb + sb) + (vb + sb) * j16 / 16, (vb + sb) / 16, prefetch);
                const int h = j16 / 8, j = j16 % 8 / 2, u = j16 % 2;
                const __m512 sc = bytes16(s + 32 + 16 * j16, 1, d);
                __m512i wv[4];
                for (int c = 0; c < 4; c++) {
                    const __m512i ql = _mm512_loadu_si512(v + 64 * (24 * h + 8 * (j % 2) + 4 * u + c));
                    const __m512i qh = _mm512_loadu_si512(v + 64 * (24 * h + 16 + 4 * u + c));
                    const __m512i lo4 = _mm512_and_si512(j / 2 ? _mm512_srli_epi16(ql, 4) : ql, m4);
                    const __m512i hi2 = j == 0 ? _mm512_slli_epi16(qh, 4) : j == 1 ? _mm512_slli_epi16(qh, 2)
                                      : j == 2 ? qh : _mm512_srli_epi16(qh, 2);
                    wv[c] = _mm512_ternarylogic_epi32(lo4, hi2, top2, 0xF8); /* lo4 | (hi2 & top2) */
                }
#pragma GCC unroll 8
                for (int r = 0; r < R; r++) {
                    const int64_t k = (r0 + r) * K + 256 * b + 128 * h + 32 * j + 16 * u;
                    __m512i a = group_ints(wv, 4, qx->hi + k, two ? qx->lo + k : NULL, in_order, two);
                    if (fine) { /* q - 32 in integers: one float operation fewer */
                        a = _mm512_sub_epi32(a, _mm512_set1_epi32(32 * qx->bsum_hi[(r0 + r) * (K / 16) + 16 * b + j16]));
                        const __m512 scx = _mm512_mul_ps(sc, _mm512_set1_ps(qx->d[(r0 + r) * qx->nb_pad + 8 * b + 4 * h + j]));
                        part[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(a), scx, part[r]);
                    } else {
                        part[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(a), sc, part[r]);
                        part[r] = _mm512_fnmadd_ps(sc, _mm512_set1_ps(32.0f * runs[r][j16]), part[r]);
                    }
                }
            }
        }
        for (int r = 0; r < R; r++)
            acc[r] = fine ? _mm512_add_ps(acc[r], part[r])
                          : _mm512_fmadd_ps(part[r], _mm512_set1_ps(qx->d[(r0 + r) * qx->nb_pad + b] * (two ? 1.0f / 256 : 1.0f)),
                                            acc[r]);
    }
    for (int r = 0; r < R; r++) _mm512_mask_storeu_ps(y + r * ldy, cols, acc[r]);
}

typedef void (*panel_fn)(const uint8_t *panel, const attn_qx *qx, int64_t r0, float *y, int64_t ldy, __mmask16 cols,
                         int prefetch);

#define PANEL_FN(T, kernel, R, TWO)                                                                                 \
    static void panel_##T##_##R##_##TWO(const uint8_t *panel, const attn_qx *qx, int64_t r0, float *y, int64_t ldy, \
                                        __mmask16 cols, int prefetch) {                                              \
        kernel(ATTN_QT_##T, R, TWO, panel, qx, r0, y, ldy, cols, prefetch);                                         \
    }
#define PANEL_FNS(T, kernel, TWO)                                                                         \
    PANEL_FN(T, kernel, 1, TWO) PANEL_FN(T, kernel, 2, TWO) PANEL_FN(T, kernel, 3, TWO) PANEL_FN(T, kernel, 4, TWO)
#define PANEL_ROW(T, A) {panel_##T##_1_##A, panel_##T##_2_##A, panel_##T##_3_##A, panel_##T##_4_##A, panel_##T##_8_##A}
/* The 32-block types' one byte is already in 32-blocks: ACT_FINE takes the ACT_ONE kernels. */
#define PANEL_TABLE(T) {PANEL_ROW(T, 0), PANEL_ROW(T, 1), PANEL_ROW(T, 0)}
#define K_PANEL_TABLE(T) {PANEL_ROW(T, 0), PANEL_ROW(T, 1), PANEL_ROW(T, 2)}

#define LEGACY_PANEL_FNS(T, TWO) PANEL_FNS(T, panel_rows, TWO) PANEL_FN(T, panel_rows, 8, TWO)
LEGACY_PANEL_FNS(Q8_0, 0) LEGACY_PANEL_FNS(Q8_0, 1) LEGACY_PANEL_FNS(Q4_0, 0) LEGACY_PANEL_FNS(Q4_0, 1)
LEGACY_PANEL_FNS(Q4_1, 0) LEGACY_PANEL_FNS(Q4_1, 1) LEGACY_PANEL_FNS(Q5_0, 0) LEGACY_PANEL_FNS(Q5_0, 1)
LEGACY_PANEL_FNS(Q5_1, 0) LEGACY_PANEL_FNS(Q5_1, 1)
#define K_PANEL_FNS(T) \
    PANEL_FNS(T, kpanel_rows, 0) PANEL_FN(T, kpanel_rows, 8, 0) PANEL_FNS(T, kpanel_rows, 1) \
    PANEL_FN(T, kpanel_rows, 8, 1) PANEL_FNS(T, kpanel_rows, 2) PANEL_FN(T, kpanel_rows, 8, 2)
K_PANEL_FNS(Q4_K) K_PANEL_FNS(Q5_K) K_PANEL_FNS(Q6_K)

/* [type][ACT_ONE, ACT_TWO or ACT_FINE][1, 2, 3, 4 or 8 rows]. */
static const panel_fn panel_fns[8][3][5] = {PANEL_TABLE(Q8_0), PANEL_TABLE(Q4_0), PANEL_TABLE(Q4_1), PANEL_TABLE(Q5_0),
                                            PANEL_TABLE(Q5_1), K_PANEL_TABLE(Q4_K), K_PANEL_TABLE(Q5_K), K_PANEL_TABLE(Q6_K)};

void SFX(attn_qpanel_dot)(float *y, int64_t ldy, const attn_qx *qx, const void *panels, attn_qtype t, int64_t n0,
                          int64_t n1) {
    const int ti = t == ATTN_QT_Q8_0 ? 0 : t == ATTN_QT_Q4_0 ? 1 : t == ATTN_QT_Q4_1 ? 2 : t == ATTN_QT_Q5_0 ? 3
                 : t == ATTN_QT_Q5_1 ? 4 : t == ATTN_QT_Q4_K ? 5 : t == ATTN_QT_Q5_K ? 6 : 7;
    const int act = qx->lo ? ACT_TWO : qx->block == 32 ? ACT_FINE : ACT_ONE;
    const size_t pb = attn_qpanel_bytes(t, qx->K, ATTN_QPANEL_ROWS);
    const int64_t stream = (n1 - n0 + ATTN_QPANEL_ROWS - 1) / ATTN_QPANEL_ROWS * (int64_t)pb;
    const int ahead = (int)ATTN_MIN(PF_MAX, ATTN_MAX(ti >= 5 ? PF_MIN_K : PF_MIN, stream / 8));
    for (int64_t n = n0; n < n1; n += ATTN_QPANEL_ROWS) {
        const uint8_t *panel = (const uint8_t *)panels + (size_t)(n / ATTN_QPANEL_ROWS) * pb;
        const __mmask16 cols = n1 - n < 16 ? (__mmask16)((1u << (n1 - n)) - 1) : (__mmask16)0xFFFF;
        for (int64_t r0 = 0, step; r0 < qx->rows; r0 += step) { /* the first group streams the panel */
            const int64_t left = qx->rows - r0;
            step = left >= 8 ? 8 : left >= 4 ? 4 : left;
            panel_fns[ti][act][step == 8 ? 4 : step - 1](panel, qx, r0, y + r0 * ldy + n, ldy, cols,
                                                          r0 == 0 ? ahead : 0);
        }
    }
}

/* Lane n's value i (of 4) of a vector as a signed 32-bit integer: Q8_0's bytes (stored
 * plus 128), or a nibble (`shift` 0 or 4) of the Q4 types. */
INLINE __m512i q8_lane(__m512i w, int i) { return _mm512_srai_epi32(_mm512_slli_epi32(w, 24 - 8 * i), 24); }
INLINE __m512i q4_lane(__m512i w, int i, int shift) {
    return _mm512_and_si512(_mm512_srli_epi32(w, 8 * i + shift), _mm512_set1_epi32(15));
}

/* One panel's block b as 32 rows of 16 floats at dst (row stride nr), with the expressions of
 * attn_dequantize_row (no FMA: Q4_1/Q5_1 are q*d, then + m). */
INLINE void decode_block(const attn_qtype t, const uint8_t *v, const uint8_t *s, float *dst, int nr) {
    const __m512 d = vload_f16(s);
    if (t == ATTN_QT_Q8_0) {
        for (int j = 0; j < 8; j++) {
            const __m512i w = _mm512_xor_si512(_mm512_loadu_si512(v + 64 * j), _mm512_set1_epi8(-128));
            for (int i = 0; i < 4; i++)
                _mm512_storeu_ps(dst + (4 * j + i) * nr, _mm512_mul_ps(_mm512_cvtepi32_ps(q8_lane(w, i)), d));
        }
        return;
    }
    const int q5 = t == ATTN_QT_Q5_0 || t == ATTN_QT_Q5_1, minimum = t == ATTN_QT_Q4_1 || t == ATTN_QT_Q5_1;
    const __m512 m = minimum ? vload_f16(s + 32) : d;
    const __m512i off = _mm512_set1_epi32(t == ATTN_QT_Q4_0 ? 8 : t == ATTN_QT_Q5_0 ? 16 : 0), one = _mm512_set1_epi32(1);
    const __m512i qh = q5 ? _mm512_loadu_si512(v + 256) : _mm512_setzero_si512();
    for (int j = 0; j < 4; j++) {
        const __m512i w = _mm512_loadu_si512(v + 64 * j);
        for (int half = 0; half < 2; half++)
            for (int i = 0; i < 4; i++) {
                __m512i q = q4_lane(w, i, 4 * half);
                if (q5) { /* bit 16*half + 4j + i of the lane's word */
                    const __m512i bit = _mm512_and_si512(_mm512_srli_epi32(qh, 16 * half + 4 * j + i), one);
                    q = _mm512_or_si512(q, _mm512_slli_epi32(bit, 4));
                }
                __m512 x = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(q, off)), d);
                if (minimum) x = _mm512_add_ps(x, m);
                _mm512_storeu_ps(dst + (16 * half + 4 * j + i) * nr, x);
            }
    }
}

/* A K-quant panel's super-block as 256 rows of 16 floats at dst (row stride nr), with the
 * expressions of attn_dequantize_row: Q4_K/Q5_K (d*sc)*q - dmin*m, Q6_K (d*sc)*(q-32). */
INLINE void decode_superblock(const attn_qtype t, const uint8_t *v, const uint8_t *s, float *dst, int nr) {
    const __m512 d = vload_f16(s);
    if (t == ATTN_QT_Q4_K || t == ATTN_QT_Q5_K) {
        const __m512 dmin = vload_f16(s + 32);
        const __m512i one = _mm512_set1_epi32(1);
        for (int g = 0; g < 8; g++) {
            const __m512 sc = bytes16(s + 64 + 16 * g, 0, d), mn = bytes16(s + 192 + 16 * g, 0, dmin);
            for (int c = 0; c < 8; c++) {
                const __m512i w = _mm512_loadu_si512(v + 64 * (8 * (g / 2) + c));
                const __m512i qh = t == ATTN_QT_Q5_K ? _mm512_loadu_si512(v + 64 * (32 + c)) : _mm512_setzero_si512();
                for (int i = 0; i < 4; i++) {
                    __m512i q = q4_lane(w, i, 4 * (g % 2));
                    if (t == ATTN_QT_Q5_K) /* bit g of byte i */
                        q = _mm512_or_si512(q, _mm512_slli_epi32(_mm512_and_si512(_mm512_srli_epi32(qh, 8 * i + g), one), 4));
                    const __m512 x = _mm512_sub_ps(_mm512_mul_ps(sc, _mm512_cvtepi32_ps(q)), mn);
                    _mm512_storeu_ps(dst + (32 * g + 4 * c + i) * nr, x);
                }
            }
        }
        return;
    }
    const __m512i three = _mm512_set1_epi32(3), off = _mm512_set1_epi32(32);
    for (int j16 = 0; j16 < 16; j16++) {
        const int h = j16 / 8, j = j16 % 8 / 2, u = j16 % 2;
        const __m512 sc = bytes16(s + 32 + 16 * j16, 1, d);
        for (int c = 0; c < 4; c++) {
            const __m512i ql = _mm512_loadu_si512(v + 64 * (24 * h + 8 * (j % 2) + 4 * u + c));
            const __m512i qh = _mm512_loadu_si512(v + 64 * (24 * h + 16 + 4 * u + c));
            for (int i = 0; i < 4; i++) {
                const __m512i hi2 = _mm512_and_si512(_mm512_srli_epi32(qh, 8 * i + 2 * j), three);
                const __m512i q = _mm512_or_si512(q4_lane(ql, i, 4 * (j / 2)), _mm512_slli_epi32(hi2, 4));
                _mm512_storeu_ps(dst + (128 * h + 32 * j + 16 * u + 4 * c + i) * nr,
                                 _mm512_mul_ps(sc, _mm512_cvtepi32_ps(_mm512_sub_epi32(q, off))));
            }
        }
    }
}

void SFX(attn_qpanel_pack_b)(float *dst, int nr, const void *panels, attn_qtype t, int64_t K, int64_t N, int64_t k0,
                             int64_t kc, int64_t n0) {
    const int64_t B = attn_qtype_get(t)->block, nb = K / B;
    const int vb = attn_qpanel_value_bytes(t), sb = attn_qpanel_scale_bytes(t);
    const size_t pb = attn_qpanel_bytes(t, K, ATTN_QPANEL_ROWS);
    for (int c0 = 0; c0 < nr; c0 += ATTN_QPANEL_ROWS) {
        const int64_t n = n0 + c0;
        if (n >= N) {
            for (int64_t k = 0; k < kc; k++) _mm512_storeu_ps(dst + k * nr + c0, _mm512_setzero_ps());
            continue;
        }
        const uint8_t *panel = (const uint8_t *)panels + (size_t)(n / ATTN_QPANEL_ROWS) * pb;
        for (int64_t b = k0 / B; b * B < k0 + kc; b++) {
            int64_t vo, so;
            attn_qpanel_offsets(vb, sb, nb, b, &vo, &so);
            const uint8_t *v = panel + vo, *s = panel + so;
            float *out = dst + (b * B - k0) * nr + c0;
            switch (t) {
            case ATTN_QT_Q8_0: decode_block(ATTN_QT_Q8_0, v, s, out, nr); break;
            case ATTN_QT_Q4_0: decode_block(ATTN_QT_Q4_0, v, s, out, nr); break;
            case ATTN_QT_Q4_1: decode_block(ATTN_QT_Q4_1, v, s, out, nr); break;
            case ATTN_QT_Q5_0: decode_block(ATTN_QT_Q5_0, v, s, out, nr); break;
            case ATTN_QT_Q5_1: decode_block(ATTN_QT_Q5_1, v, s, out, nr); break;
            case ATTN_QT_Q4_K: decode_superblock(ATTN_QT_Q4_K, v, s, out, nr); break;
            case ATTN_QT_Q5_K: decode_superblock(ATTN_QT_Q5_K, v, s, out, nr); break;
            default: decode_superblock(ATTN_QT_Q6_K, v, s, out, nr); break;
            }
        }
    }
}

#else
typedef int attn_qpanel_avx2_has_no_kernels; /* an empty translation unit is not ISO C */
#endif
