/* gemm_dot.c - products of a few to a few hundred activation rows with weights stored
 * [N][K] (nn.Linear: GGUF and Hugging Face LLaMA matrices, tied LM heads) as dot products.
 * A register tile of 4 activation rows x 4 weight rows keeps 16 accumulators of 16 lanes
 * over the whole of K, and one transpose-and-add tree turns them into the tile's 16 sums.
 * Both operands are read where they lie, so nothing is packed: the packed GEMM (gemm.c)
 * spent a fifth of a 1.1B f16 prompt transposing weights into its panels, and a tenth of
 * SmolLM2's f32 one. f16 and bf16 weights are widened as they are loaded.
 * AVX-512 only: AVX2's 16 registers do not hold the tile (its builds keep the packed GEMM). */
#include "core/common.h"
#include "core/kernels.h"
#include "simd.h"

#if defined(ATTN_SIMD_AVX512)

#define TM 4 /* activation rows per tile */
#define TN 4 /* weight rows per tile */
#define INLINE static inline __attribute__((always_inline))

/* 16 vectors to one whose lane i is the sum of v[i]'s lanes: 15 adds and 30 shuffles where
 * 16 separate reductions would take 16 x 8. */
INLINE __m512 sum16(const __m512 v[16]) {
    __m512 t[8], u[4], w[2];
    for (int i = 0; i < 8; i++)
        t[i] = _mm512_add_ps(_mm512_unpacklo_ps(v[2 * i], v[2 * i + 1]), _mm512_unpackhi_ps(v[2 * i], v[2 * i + 1]));
    for (int i = 0; i < 4; i++)
        u[i] = _mm512_add_ps(_mm512_shuffle_ps(t[2 * i], t[2 * i + 1], _MM_SHUFFLE(1, 0, 1, 0)),
                             _mm512_shuffle_ps(t[2 * i], t[2 * i + 1], _MM_SHUFFLE(3, 2, 3, 2)));
    for (int i = 0; i < 2; i++)
        w[i] = _mm512_add_ps(_mm512_shuffle_f32x4(u[2 * i], u[2 * i + 1], 0x88),
                             _mm512_shuffle_f32x4(u[2 * i], u[2 * i + 1], 0xdd));
    return _mm512_add_ps(_mm512_shuffle_f32x4(w[0], w[1], 0x88), _mm512_shuffle_f32x4(w[0], w[1], 0xdd));
}

/* 16 weights from element `at` as f32; lanes off in m read as zero (and are never touched). */
INLINE __m512 load_w(const void *w, const attn_dtype dt, int64_t at, __mmask16 m) {
    if (dt == ATTN_F16) return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, (const uint16_t *)w + at));
    if (dt == ATTN_BF16)
        return _mm512_castsi512_ps(
            _mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(m, (const uint16_t *)w + at)), 16));
    return _mm512_maskz_loadu_ps(m, (const float *)w + at);
}

/* acc[4i + j] += a_i[k..k+16) * w_j[k..k+16) lane by lane; with pf, the same columns of the
 * next tile's weight rows are asked for. */
INLINE void step(__m512 acc[16], const float *const a[TM], const void *w, const attn_dtype dt, const int64_t wrow[TN],
                 int64_t k, __mmask16 m, const int64_t *pf) {
    __m512 b[TN];
    const int es = dt == ATTN_F32 ? 4 : 2;
    for (int j = 0; pf && j < TN; j++) _mm_prefetch((const char *)w + (pf[j] + k) * es, _MM_HINT_T0);
    for (int j = 0; j < TN; j++) b[j] = load_w(w, dt, wrow[j] + k, m);
    for (int i = 0; i < TM; i++) {
        const __m512 x = _mm512_maskz_loadu_ps(m, a[i] + k);
        for (int j = 0; j < TN; j++) acc[TM * i + j] = _mm512_fmadd_ps(x, b[j], acc[TM * i + j]);
    }
}

/* One tile: rows of a (the last repeated past `rows`) against weight rows wrow (the last
 * repeated past `cols`); only rows x cols sums are stored, plus the bias. */
INLINE void tile(const float *const a[TM], const void *w, const attn_dtype dt, const int64_t wrow[TN], int64_t K,
                 float *c, int64_t ldc, int rows, int cols, const float *bias, const int64_t *pf) {
    __m512 acc[16];
    for (int i = 0; i < 16; i++) acc[i] = _mm512_setzero_ps();
    int64_t k = 0;
    for (; k + 16 <= K; k += 16) step(acc, a, w, dt, wrow, k, (__mmask16)0xFFFF, pf);
    if (k < K) step(acc, a, w, dt, wrow, k, (__mmask16)((1u << (K - k)) - 1), pf);
    _Alignas(64) float s[16];
    _mm512_store_ps(s, sum16(acc));
    for (int i = 0; i < rows; i++)
        for (int j = 0; j < cols; j++) c[i * ldc + j] = s[TM * i + j] + (bias ? bias[j] : 0.0f);
}

/* Weight rows [n0, n1) against all M rows of a: activation rows go in chunks of about 1 MB
 * (L2), each passed by every weight tile of the range, so a weight tile is read from
 * memory once per chunk and its rows stay in L1 while the chunk's row tiles use them. */
INLINE void gemm_dt(float *c, int64_t ldc, const float *a, int64_t lda, int64_t M, const void *w, const attn_dtype dt,
                    int64_t K, int64_t n0, int64_t n1, const float *bias) {
    int64_t mc = ((int64_t)1 << 20) / (4 * ATTN_MAX(K, (int64_t)1)) / TM * TM;
    mc = ATTN_MAX(mc, (int64_t)16);
    for (int64_t m0 = 0; m0 < M; m0 += mc) {
        const int64_t m1 = ATTN_MIN(M, m0 + mc);
        for (int64_t n = n0; n < n1; n += TN) {
            const int cols = (int)ATTN_MIN((int64_t)TN, n1 - n);
            int64_t wrow[TN], next[TN];
            for (int j = 0; j < TN; j++) {
                wrow[j] = (n + ATTN_MIN(j, cols - 1)) * K;
                next[j] = ATTN_MIN(n + TN + j, n1 - 1) * K;
            }
            for (int64_t m = m0; m < m1; m += TM) {
                const int rows = (int)ATTN_MIN((int64_t)TM, m1 - m);
                const float *ar[TM];
                for (int i = 0; i < TM; i++) ar[i] = a + (m + ATTN_MIN(i, rows - 1)) * lda;
                /* the last row tile asks for the next weight tile: rows of a few KB each, from
                 * memory, too short for the hardware prefetchers to follow */
                tile(ar, w, dt, wrow, K, c + m * ldc + n, ldc, rows, cols, bias ? bias + n : NULL,
                     m + TM >= m1 && n + TN < n1 ? next : NULL);
            }
        }
    }
}

void attn_gemm_nk_dot_avx512(float *c, int64_t ldc, const float *a, int64_t lda, int64_t M, const void *w,
                             attn_dtype dt, int64_t K, int64_t n0, int64_t n1, const float *bias) {
    switch (dt) { /* one instantiation per dtype: no branch on it inside the k loop */
    case ATTN_F16: gemm_dt(c, ldc, a, lda, M, w, ATTN_F16, K, n0, n1, bias); break;
    case ATTN_BF16: gemm_dt(c, ldc, a, lda, M, w, ATTN_BF16, K, n0, n1, bias); break;
    default: gemm_dt(c, ldc, a, lda, M, w, ATTN_F32, K, n0, n1, bias); break;
    }
}

#else
typedef int attn_gemm_dot_avx2_has_none; /* an empty translation unit is not ISO C */
#endif
