/* simd/kernels.c - the hot kernels written once over simd.h and compiled per SIMD set.
 * GEMV streams the weights once (decoding is memory-bound); the GEMM tile is a register-
 * blocked MR x NR outer-product kernel over packed panels (prompt processing is
 * FLOP-bound). f16/bf16 weights are widened to f32 as they are loaded. */
#include <math.h>
#include <string.h>
#include "core/kernels.h"
#include "simd.h"

#if defined(ATTN_SIMD_AVX512)
#define MR 12
#define NR 32
#else
#define MR 6
#define NR 16
#endif
#define NRV (NR / VL)

static inline float f16_scalar(uint16_t h) { return _cvtsh_ss(h); }
static inline float bf16_scalar(uint16_t h) { return attn_bf16_to_f32(h); }
static inline float f32_scalar(float f) { return f; }

/* ---- GEMV, W stored [N][K]: one row at a time, four vectors per step. ---- */
/* Decoding streams the weights once from memory. One row at a time is one sequential
 * stream per thread, which the hardware prefetchers follow best: on Zen 4, four rows read
 * side by side (sharing each load of x, with software prefetches) read 15-23 GB/s where one
 * row read 26-31 (2 threads, a 566 MB matrix, 6 runs each). Four accumulators hide the FMA latency.
 * The stream is also asked for GEMV_AHEAD bytes ahead, into L2: on a 2-vCPU AMD EPYC whose
 * prefetchers alone left SmolLM2 f32 decoding at 70-74 tok/s, 2 KB ahead gave 88-92, 4 KB
 * 89-91, 8 KB 87-91 (f16: 172-176 -> 177-183), and into L2 a little more than into L1
 * (alternated, attn bench -n 64 -t 2). Past the thread's rows it asks for lines the next
 * rows' owner reads: prefetches do not fault. The 32-row panels (gemv_hpanel) ask for theirs
 * non-temporally: on a later 2-vCPU Zen 4 EPYC, one process alternating the hints (20-30
 * runs of 2-16 tokens), the 1.1B f16 decoded at 27.9 tok/s against 20.7 into L2 while the
 * memory was fast and 16.6 against 15.3 while it was slow (no prefetch: 16.4), SmolLM2 f16
 * at 115 against 104, f32 95.5 against 95.3; the 1.1B f32 level. 4 KB and 8 KB ahead were
 * level, 1-2 KB 5-7% slower. Asking for each line twice, as the quantized panels do
 * (simd/qpanel.c), decoded SmolLM2 f16 at 0.84x (again at 2 KB, or at 8 KB into L2) while
 * the memory was fast, the 1.1B f16 at 0.99-1.01x while it was slow. */
#define GEMV_AHEAD 4096
#define gemv_ahead(p) \
    for (int q_ = 0; q_ < 4 * VL * (int)sizeof *(p); q_ += 64) _mm_prefetch((const char *)(p) + GEMV_AHEAD + q_, _MM_HINT_T1)
#define DEF_GEMV_NK(SUF, T, LOADW, TOF)                                                            \
    static void gemv_nk_##SUF(float *y, const float *x, const T *w, int64_t K, int64_t n0, int64_t n1) { \
        for (int64_t n = n0; n < n1; n++) {                                                        \
            const T *wn = w + n * K;                                                               \
            vf a0 = vzero(), a1 = vzero(), a2 = vzero(), a3 = vzero();                             \
            int64_t k = 0;                                                                         \
            for (; k + 4 * VL <= K; k += 4 * VL) {                                                 \
                gemv_ahead(wn + k);                                                                \
                a0 = vfma(LOADW(wn + k), vload(x + k), a0);                                        \
                a1 = vfma(LOADW(wn + k + VL), vload(x + k + VL), a1);                              \
                a2 = vfma(LOADW(wn + k + 2 * VL), vload(x + k + 2 * VL), a2);                      \
                a3 = vfma(LOADW(wn + k + 3 * VL), vload(x + k + 3 * VL), a3);                      \
            }                                                                                      \
            for (; k + VL <= K; k += VL) a0 = vfma(LOADW(wn + k), vload(x + k), a0);               \
            float s = vsum(vadd(vadd(a0, a1), vadd(a2, a3)));                                      \
            for (; k < K; k++) s += TOF(wn[k]) * x[k];                                             \
            y[n] = s;                                                                              \
        }                                                                                          \
    }

/* ---- GEMV, W stored [K][N]: y[n0:n1] stays in L1 while rows of W stream past. ---- */
/* Four rows' short runs at once are streams the hardware prefetchers barely follow: the
 * same columns KN_AHEAD rows down are asked for too (GPT-2 124M f32 decoding on the EPYC
 * host, alternated: 79.5-82.2 tok/s without, 83.8-86.8 with 8-16 rows ahead). */
#define KN_AHEAD 16
#define kn_ahead(r, N, n) _mm_prefetch((const char *)((r) + KN_AHEAD * (N) + (n)), _MM_HINT_T1)
#define DEF_GEMV_KN(SUF, T, LOADW, TOF)                                                            \
    static void gemv_kn_##SUF(float *y, const float *x, const T *w, int64_t K, int64_t N, int64_t n0, \
                              int64_t n1) {                                                        \
        for (int64_t n = n0; n < n1; n++) y[n] = 0;                                                \
        int64_t k = 0;                                                                             \
        for (; k + 4 <= K; k += 4) {                                                               \
            const T *r0 = w + k * N, *r1 = r0 + N, *r2 = r1 + N, *r3 = r2 + N;                     \
            vf x0 = vset1(x[k]), x1 = vset1(x[k + 1]), x2 = vset1(x[k + 2]), x3 = vset1(x[k + 3]); \
            int64_t n = n0;                                                                        \
            const bool ahead = k + KN_AHEAD + 4 <= K;                                             \
            for (; n + VL <= n1; n += VL) {                                                        \
                if (ahead) kn_ahead(r0, N, n), kn_ahead(r1, N, n), kn_ahead(r2, N, n), kn_ahead(r3, N, n); \
                vf acc = vload(y + n);                                                             \
                acc = vfma(LOADW(r0 + n), x0, acc);                                                \
                acc = vfma(LOADW(r1 + n), x1, acc);                                                \
                acc = vfma(LOADW(r2 + n), x2, acc);                                                \
                acc = vfma(LOADW(r3 + n), x3, acc);                                                \
                vstore(y + n, acc);                                                                \
            }                                                                                      \
            for (; n < n1; n++)                                                                    \
                y[n] += TOF(r0[n]) * x[k] + TOF(r1[n]) * x[k + 1] + TOF(r2[n]) * x[k + 2] +        \
                        TOF(r3[n]) * x[k + 3];                                                     \
        }                                                                                          \
        for (; k < K; k++) {                                                                       \
            const T *r0 = w + k * N;                                                               \
            vf x0 = vset1(x[k]);                                                                   \
            int64_t n = n0;                                                                        \
            for (; n + VL <= n1; n += VL) vstore(y + n, vfma(LOADW(r0 + n), x0, vload(y + n)));   \
            for (; n < n1; n++) y[n] += TOF(r0[n]) * x[k];                                         \
        }                                                                                          \
    }

DEF_GEMV_NK(f32, float, vload, f32_scalar)
DEF_GEMV_NK(f16, uint16_t, vload_f16, f16_scalar)
DEF_GEMV_NK(bf16, uint16_t, vload_bf16, bf16_scalar)
DEF_GEMV_KN(f32, float, vload, f32_scalar)
DEF_GEMV_KN(f16, uint16_t, vload_f16, f16_scalar)
DEF_GEMV_KN(bf16, uint16_t, vload_bf16, bf16_scalar)

static void SFX(gemv_nk)(float *y, const float *x, const void *w, attn_dtype dt, int64_t K, int64_t n0, int64_t n1) {
    switch (dt) {
    case ATTN_F16: gemv_nk_f16(y, x, w, K, n0, n1); break;
    case ATTN_BF16: gemv_nk_bf16(y, x, w, K, n0, n1); break;
    default: gemv_nk_f32(y, x, w, K, n0, n1); break;
    }
}

static void SFX(gemv_kn)(float *y, const float *x, const void *w, attn_dtype dt, int64_t K, int64_t N, int64_t n0,
                         int64_t n1) {
    switch (dt) {
    case ATTN_F16: gemv_kn_f16(y, x, w, K, N, n0, n1); break;
    case ATTN_BF16: gemv_kn_bf16(y, x, w, K, N, n0, n1); break;
    default: gemv_kn_f32(y, x, w, K, N, n0, n1); break;
    }
}

/* ---- Matrices in [N/32][K][32] panels (core/hpanel.h), f32 or widened from f16/bf16. ---- */
#define HP ATTN_HPANEL_ROWS
#define HPV (HP / VL)

/* One value, or VL values, of a plain matrix from element i, as f32. Inlined, so that where
 * dt is a constant no branch on it is left. */
static float load_one(const void *w, attn_dtype dt, int64_t i) {
    switch (dt) {
    case ATTN_F16: return f16_scalar(((const uint16_t *)w)[i]);
    case ATTN_BF16: return bf16_scalar(((const uint16_t *)w)[i]);
    default: return ((const float *)w)[i];
    }
}

static inline __attribute__((always_inline)) vf load_vec(const void *w, const attn_dtype dt, int64_t i) {
    switch (dt) {
    case ATTN_F16: return vload_f16((const uint16_t *)w + i);
    case ATTN_BF16: return vload_bf16((const uint16_t *)w + i);
    default: return vload((const float *)w + i);
    }
}

/* The register tile every product here runs (the packed GEMM's, plain panels', attention's):
 * acc[i][v] += A(i, k) * B(k, v) for k < K, i < R, v < nv, where A(i, k) = a[i*ai + k*ak]
 * and B(k, v) is vector v % pv from element b0 + k*bk + (v / pv)*bp of b (dt, widened as
 * loaded): b's vectors come pv at a time from runs bp elements apart (plain panels side by
 * side), or all from one run (pv = nv). R, nv, pv, the strides of a and dt are constants at
 * each call site, so the loops unroll and acc stays in registers. */
#define TILE_MAX_V 8
static inline __attribute__((always_inline)) void tile_acc(vf acc[][TILE_MAX_V], const int R, const int nv, int64_t K,
                                                           const float *a, const int64_t ai, const int64_t ak,
                                                           const void *b, const attn_dtype dt, int64_t b0, int64_t bk,
                                                           const int pv, int64_t bp) {
    for (int64_t k = 0; k < K; k++) {
        vf bv[TILE_MAX_V];
#pragma GCC unroll 8
        for (int v = 0; v < nv; v++) bv[v] = load_vec(b, dt, b0 + k * bk + v / pv * bp + v % pv * VL);
#pragma GCC unroll 16
        for (int i = 0; i < R; i++) {
            const vf x = vset1(a[i * ai + k * ak]);
#pragma GCC unroll 8
            for (int v = 0; v < nv; v++) acc[i][v] = vfma(x, bv[v], acc[i][v]);
        }
    }
}

static inline __attribute__((always_inline)) void tile_zero(vf acc[][TILE_MAX_V], const int R, const int nv) {
#pragma GCC unroll 16
    for (int i = 0; i < R; i++)
#pragma GCC unroll 8
        for (int v = 0; v < nv; v++) acc[i][v] = vzero();
}

/* GEMV: one contiguous stream a panel, x[k] broadcast against its 32 rows' values, four k at
 * a time in separate accumulators to hide the FMA latency. */
static inline __attribute__((always_inline)) void gemv_hpanel_dt(float *y, const float *x, const void *panels,
                                                                 const attn_dtype dt, int64_t K, int64_t n0, int64_t n1) {
    const int es = dt == ATTN_F32 ? 4 : 2;
    for (int64_t n = n0; n < n1; n += HP) {
        const int64_t base = n * K; /* element index of the panel's start */
        const char *bytes = (const char *)panels + base * es;
        vf acc[4][HPV];
        for (int u = 0; u < 4; u++)
            for (int v = 0; v < HPV; v++) acc[u][v] = vzero();
        int64_t k = 0;
        for (; k + 4 <= K; k += 4) {
            for (int q = 0; q < 4 * HP * es; q += 64) /* the 4 rows' lines, GEMV_AHEAD on */
                _mm_prefetch(bytes + k * HP * es + GEMV_AHEAD + q, _MM_HINT_NTA);
#pragma GCC unroll 4
            for (int u = 0; u < 4; u++) {
                vf xk = vset1(x[k + u]);
#pragma GCC unroll 4
                for (int v = 0; v < HPV; v++) acc[u][v] = vfma(load_vec(panels, dt, base + (k + u) * HP + v * VL), xk, acc[u][v]);
            }
        }
        for (; k < K; k++)
            for (int v = 0; v < HPV; v++) acc[0][v] = vfma(load_vec(panels, dt, base + k * HP + v * VL), vset1(x[k]), acc[0][v]);
        for (int v = 0; v < HPV; v++) vstore(y + n + v * VL, vadd(vadd(acc[0][v], acc[1][v]), vadd(acc[2][v], acc[3][v])));
    }
}

static void SFX(gemv_hpanel)(float *y, const float *x, const void *panels, attn_dtype dt, int64_t K, int64_t n0,
                             int64_t n1) {
    switch (dt) { /* one instantiation per dtype: no branch on it inside the k loop */
    case ATTN_F16: gemv_hpanel_dt(y, x, panels, ATTN_F16, K, n0, n1); break;
    case ATTN_BF16: gemv_hpanel_dt(y, x, panels, ATTN_BF16, K, n0, n1); break;
    default: gemv_hpanel_dt(y, x, panels, ATTN_F32, K, n0, n1); break;
    }
}

/* R rows of a (lda apart) against np panels side by side from element `base`: R x 32np sums
 * over all of K in registers. The first row block of a panel streams it from memory (the
 * hardware prefetcher follows one contiguous run), the others find it in L2. Two panels at a
 * time take 6 rows (24 accumulators, 4 panel vectors and a broadcast in 29 of the 32
 * registers), one takes 12: on a Zen 4 EPYC core (one thread, 128 rows x K x 1024, the two
 * alternated, 117 GFLOP/s peak) 6 x 64 ran f16 panels at 106-114 GFLOP/s where 12 x 32 ran
 * 92-104 (K = 576, 1536, 2048), f32 at 103-112 against 98-103 at K = 2048 and level at 576
 * and 1536 (100-114 against 102-115). Likely the 12 rows of A, 8 KB apart at each k when K
 * is 2048, are more streams than L1 and its prefetchers keep (12 x 32 broadcasts 12 values
 * for 24 FMAs, 6 x 64 six). */
#define HP_MR (MR < 12 ? MR : 12)
#define HP2_MR 6
static inline __attribute__((always_inline)) void hpanel_tile(float *c, int64_t ldc, const float *a, int64_t lda,
                                                              const void *p, int64_t base, const attn_dtype dt,
                                                              int64_t K, const float *bias, const int R, const int np) {
    vf acc[HP_MR][TILE_MAX_V];
    tile_zero(acc, R, np * HPV);
    tile_acc(acc, R, np * HPV, K, a, lda, 1, p, dt, base, HP, HPV, HP * K);
#pragma GCC unroll 12
    for (int i = 0; i < R; i++)
#pragma GCC unroll 8
        for (int v = 0; v < np * HPV; v++)
            vstore(c + i * ldc + v * VL, bias ? vadd(acc[i][v], vload(bias + v * VL)) : acc[i][v]);
}

#define HP_TILE(R, NP) hpanel_tile(c + m * ldc + n, ldc, a + m * lda, lda, panels, n * K, dt, K, b, R, NP)
static inline __attribute__((always_inline)) void gemm_hpanel_dt(float *c, int64_t ldc, const float *a, int64_t lda,
                                                                 int64_t M, const void *panels, const attn_dtype dt,
                                                                 int64_t K, int64_t n0, int64_t n1, const float *bias) {
    for (int64_t n = n0; n < n1;) {
        const float *b = bias ? bias + n : NULL;
        int64_t m = 0;
        if (n + 2 * HP <= n1) {
            for (; m + HP2_MR <= M; m += HP2_MR) HP_TILE(HP2_MR, 2);
            switch (M - m) { /* the last rows: a tile of their own size */
            case 1: HP_TILE(1, 2); break;
            case 2: HP_TILE(2, 2); break;
            case 3: HP_TILE(3, 2); break;
            case 4: HP_TILE(4, 2); break;
            case 5: HP_TILE(5, 2); break;
            default: break;
            }
            n += 2 * HP;
            continue;
        }
        for (; m + HP_MR <= M; m += HP_MR) HP_TILE(HP_MR, 1); /* a last, odd panel */
        switch (M - m) {
        case 1: HP_TILE(1, 1); break;
        case 2: HP_TILE(2, 1); break;
        case 3: HP_TILE(3, 1); break;
        case 4: HP_TILE(4, 1); break;
        case 5: HP_TILE(5, 1); break;
#if HP_MR > 6
        case 6: HP_TILE(6, 1); break;
        case 7: HP_TILE(7, 1); break;
        case 8: HP_TILE(8, 1); break;
        case 9: HP_TILE(9, 1); break;
        case 10: HP_TILE(10, 1); break;
        case 11: HP_TILE(11, 1); break;
#endif
        default: break;
        }
        n += HP;
    }
}

static void SFX(gemm_hpanel)(float *c, int64_t ldc, const float *a, int64_t lda, int64_t M, const void *panels,
                             attn_dtype dt, int64_t K, int64_t n0, int64_t n1, const float *bias) {
    switch (dt) {
    case ATTN_F16: gemm_hpanel_dt(c, ldc, a, lda, M, panels, ATTN_F16, K, n0, n1, bias); break;
    case ATTN_BF16: gemm_hpanel_dt(c, ldc, a, lda, M, panels, ATTN_BF16, K, n0, n1, bias); break;
    default: gemm_hpanel_dt(c, ldc, a, lda, M, panels, ATTN_F32, K, n0, n1, bias); break;
    }
}

/* The prompt GEMM's B panel is a straight (widening) copy: no transposing. */
static void SFX(pack_b_hpanel)(float *dst, const void *panels, attn_dtype dt, int64_t K, int64_t k0, int64_t kc,
                               int64_t n0) {
    const int64_t base = attn_hpanel_index(K, n0, k0);
    for (int64_t k = 0; k < kc; k++)
#pragma GCC unroll 4
        for (int v = 0; v < NRV; v++) vstore(dst + k * NR + v * VL, load_vec(panels, dt, base + k * HP + v * VL));
}

/* ---- Packing B into [kc][NR] f32 panels. ---- */

#if defined(ATTN_SIMD_AVX512)
/* Packs a full-width panel of an [N][K] matrix (the transposed case: dX = dY W^T, the tied
 * LM head, and every GGUF matrix; f32, f16 or bf16 widened) 16x16 blocks at a time; returns
 * how many k were done. */
static int64_t pack_nk_blocks(float *dst, const void *w, attn_dtype dt, int64_t K, int64_t k0, int64_t kc, int64_t n0) {
    int64_t done = kc / 16 * 16;
    for (int jb = 0; jb < NR / 16; jb++)
        for (int64_t kk = 0; kk < done; kk += 16) {
            __m512 r[16];
            for (int i = 0; i < 16; i++) {
                int64_t at = (n0 + jb * 16 + i) * K + k0 + kk;
                r[i] = dt == ATTN_F16    ? vload_f16((const uint16_t *)w + at)
                       : dt == ATTN_BF16 ? vload_bf16((const uint16_t *)w + at)
                                         : _mm512_loadu_ps((const float *)w + at);
            }
            transpose16(r);
            for (int i = 0; i < 16; i++) _mm512_storeu_ps(dst + (kk + i) * NR + jb * 16, r[i]);
        }
    return done;
}
#endif

static void SFX(pack_b)(float *dst, const void *w, attn_dtype dt, bool in_major, int64_t K, int64_t N, int64_t k0,
                        int64_t kc, int64_t n0) {
    int64_t cols = ATTN_MIN((int64_t)NR, N - n0), k_first = 0;
    if (in_major && cols == NR && dt == ATTN_F32) { /* the common case (training): no dtype switch per vector */
        const float *src = (const float *)w + k0 * N + n0;
        for (int64_t k = 0; k < kc; k++)
#pragma GCC unroll 4
            for (int v = 0; v < NRV; v++) vstore(dst + k * NR + v * VL, vload(src + k * N + v * VL));
        return;
    }
    if (in_major && cols == NR) {
        for (int64_t k = 0; k < kc; k++)
            for (int v = 0; v < NRV; v++) vstore(dst + k * NR + v * VL, load_vec(w, dt, (k0 + k) * N + n0 + v * VL));
        return;
    }
    if (in_major) {
        for (int64_t k = 0; k < kc; k++)
            for (int j = 0; j < NR; j++) dst[k * NR + j] = j < cols ? load_one(w, dt, (k0 + k) * N + n0 + j) : 0.0f;
        return;
    }
#if defined(ATTN_SIMD_AVX512)
    if (cols == NR) k_first = pack_nk_blocks(dst, w, dt, K, k0, kc, n0);
#endif
    for (int j = 0; j < NR; j++) {
        if (j >= cols) {
            for (int64_t k = 0; k < kc; k++) dst[k * NR + j] = 0.0f;
            continue;
        }
        int64_t row = (n0 + j) * K + k0;
        if (dt == ATTN_F32) { /* the common case (gradients): no per-element dtype switch */
            const float *src = (const float *)w + row;
            for (int64_t k = k_first; k < kc; k++) dst[k * NR + j] = src[k];
        } else {
            for (int64_t k = k_first; k < kc; k++) dst[k * NR + j] = load_one(w, dt, row + k);
        }
    }
}

/* ---- Packing a row block of A into [kc][MR]. ---- */
static void SFX(pack_a)(float *dst, const float *a, int64_t lda, int64_t rows, int64_t kc) {
    int64_t k = 0;
#if defined(ATTN_SIMD_AVX512)
    /* MR (12) rows plus 4 zero rows make a 16x16 block; the masked store keeps MR lanes */
    if (rows == MR)
        for (; k + 16 <= kc; k += 16) {
            __m512 r[16];
            for (int i = 0; i < 16; i++) r[i] = i < MR ? _mm512_loadu_ps(a + i * lda + k) : _mm512_setzero_ps();
            transpose16(r);
            for (int i = 0; i < 16; i++) _mm512_mask_storeu_ps(dst + (k + i) * MR, (__mmask16)((1u << MR) - 1), r[i]);
        }
#endif
    for (int i = 0; i < MR; i++)
        for (int64_t kk = k; kk < kc; kk++) dst[kk * MR + i] = i < rows ? a[i * lda + kk] : 0.0f;
}

/* Rows of A are contiguous here: one masked load and store per k (the load's masked-off
 * lanes read as zeros, which pads a short block, and never fault past the matrix). */
static void SFX(pack_a_t)(float *dst, const float *a, int64_t lda, int64_t rows, int64_t kc) {
#if defined(ATTN_SIMD_AVX512)
    const __mmask16 load = (__mmask16)((1u << rows) - 1), store = (__mmask16)((1u << MR) - 1);
    for (int64_t k = 0; k < kc; k++) _mm512_mask_storeu_ps(dst + k * MR, store, _mm512_maskz_loadu_ps(load, a + k * lda));
#else
    const __m256i iota = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    const __m256i load = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)rows), iota);
    const __m256i store = _mm256_cmpgt_epi32(_mm256_set1_epi32(MR), iota);
    for (int64_t k = 0; k < kc; k++) _mm256_maskstore_ps(dst + k * MR, store, _mm256_maskload_ps(a + k * lda, load));
#endif
}

/* ---- The GEMM register tile: R x NR accumulators (R <= MR, a constant at each call site
 * below) live in registers for the whole kc loop. Columns past `cols` go through a stack row,
 * so an edge tile never touches C beyond the matrix. ---- */
static inline __attribute__((always_inline)) void tile_rows(int64_t kc, const float *ap, const float *bp, float *c,
                                                            int64_t ldc, const int R, int cols, const float *init) {
    vf acc[MR][TILE_MAX_V];
    /* C is read only after the k loop: ask for its lines now, so they arrive meanwhile */
    for (int i = 0; i < R; i++)
        for (int v = 0; v < NR; v += 16) _mm_prefetch((const char *)(c + i * ldc + v), _MM_HINT_T0);
    tile_zero(acc, R, NRV);
    tile_acc(acc, R, NRV, kc, ap, 1, MR, bp, ATTN_F32, 0, NR, NRV, 0);
#pragma GCC unroll 16
    for (int i = 0; i < R; i++) {
        float *ci = c + i * ldc;
        if (cols == NR) {
#pragma GCC unroll 4
            for (int v = 0; v < NRV; v++) vstore(ci + v * VL, vadd(vload((init ? init : ci) + v * VL), acc[i][v]));
            continue;
        }
        float row[NR];
        for (int v = 0; v < NRV; v++) vstore(row + v * VL, acc[i][v]);
        for (int j = 0; j < cols; j++) ci[j] = (init ? init[j] : ci[j]) + row[j];
    }
}

static void SFX(gemm_tile)(int64_t kc, const float *ap, const float *bp, float *c, int64_t ldc, const float *init) {
    tile_rows(kc, ap, bp, c, ldc, MR, NR, init);
}

static void SFX(gemm_tile_edge)(int64_t kc, const float *ap, const float *bp, float *c, int64_t ldc, int rows,
                                int cols, const float *init) {
    switch (rows) {
    case 1: tile_rows(kc, ap, bp, c, ldc, 1, cols, init); break;
    case 2: tile_rows(kc, ap, bp, c, ldc, 2, cols, init); break;
    case 3: tile_rows(kc, ap, bp, c, ldc, 3, cols, init); break;
    case 4: tile_rows(kc, ap, bp, c, ldc, 4, cols, init); break;
    case 5: tile_rows(kc, ap, bp, c, ldc, 5, cols, init); break;
#if MR > 6
    case 6: tile_rows(kc, ap, bp, c, ldc, 6, cols, init); break;
    case 7: tile_rows(kc, ap, bp, c, ldc, 7, cols, init); break;
    case 8: tile_rows(kc, ap, bp, c, ldc, 8, cols, init); break;
    case 9: tile_rows(kc, ap, bp, c, ldc, 9, cols, init); break;
    case 10: tile_rows(kc, ap, bp, c, ldc, 10, cols, init); break;
    case 11: tile_rows(kc, ap, bp, c, ldc, 11, cols, init); break;
#endif
    default: tile_rows(kc, ap, bp, c, ldc, MR, cols, init); break;
    }
}

/* ---- Vector helpers for attention, norms and activations. ---- */
static float SFX(dot)(const float *a, const float *b, int64_t n) {
    vf s0 = vzero(), s1 = vzero();
    int64_t i = 0;
    for (; i + 2 * VL <= n; i += 2 * VL) {
        s0 = vfma(vload(a + i), vload(b + i), s0);
        s1 = vfma(vload(a + i + VL), vload(b + i + VL), s1);
    }
    for (; i + VL <= n; i += VL) s0 = vfma(vload(a + i), vload(b + i), s0);
    float s = vsum(vadd(s0, s1));
    for (; i < n; i++) s += a[i] * b[i];
    return s;
}

static void SFX(axpy)(float *y, float a, const float *x, int64_t n) {
    vf av = vset1(a);
    int64_t i = 0;
    for (; i + VL <= n; i += VL) vstore(y + i, vfma(av, vload(x + i), vload(y + i)));
    for (; i < n; i++) y[i] += a * x[i];
}

static void SFX(scale)(float *y, float a, int64_t n) {
    vf av = vset1(a);
    int64_t i = 0;
    for (; i + VL <= n; i += VL) vstore(y + i, vmul(av, vload(y + i)));
    for (; i < n; i++) y[i] *= a;
}

static float SFX(exp_sum)(float *x, float max, int64_t n) {
    vf m = vset1(max), s = vzero();
    int64_t i = 0;
    for (; i + VL <= n; i += VL) {
        vf e = vexp(vsub(vload(x + i), m));
        vstore(x + i, e);
        s = vadd(s, e);
    }
    float sum = vsum(s);
    for (; i < n; i++) {
        x[i] = expf(x[i] - max);
        sum += x[i];
    }
    return sum;
}

static float SFX(max)(const float *x, int64_t n) {
    float m = -INFINITY;
    int64_t i = 0;
    if (n >= VL) {
        vf mv = vload(x);
        for (i = VL; i + VL <= n; i += VL) mv = vmax(mv, vload(x + i));
        m = vhmax(mv);
    }
    for (; i < n; i++) m = x[i] > m ? x[i] : m;
    return m;
}

/* gelu_new(x) = 0.5x(1+tanh(u)) = x * sigmoid(2u), u = sqrt(2/pi)(x + 0.044715x^3). */
static void SFX(gelu_tanh)(float *x, int64_t n) {
    const float s2 = 2.0f * 0.7978845608028654f;
    int64_t i = 0;
    for (; i + VL <= n; i += VL) {
        vf v = vload(x + i);
        vf u = vmul(vset1(s2), vfma(vmul(vset1(0.044715f), vmul(v, v)), v, v));
        vf e = vexp(vsub(vzero(), u));
        vstore(x + i, vdiv(v, vadd(vset1(1.0f), e)));
    }
    for (; i < n; i++) {
        float v = x[i];
        x[i] = 0.5f * v * (1.0f + tanhf(0.7978845608028654f * (v + 0.044715f * v * v * v)));
    }
}

static void SFX(swiglu)(float *gate, const float *up, int64_t n) {
    int64_t i = 0;
    for (; i + VL <= n; i += VL) {
        vf g = vload(gate + i);
        vstore(gate + i, vmul(vdiv(g, vadd(vset1(1.0f), vexp(vsub(vzero(), g)))), vload(up + i)));
    }
    if (i < n) attn_kernels_ref.swiglu(gate + i, up + i, n - i);
}

/* ---- Attention over the blocked, transposed key cache: scores are computed for a whole
 * block of positions at once, so no horizontal reductions are needed. ---- */
#define KVV (ATTN_KV_BLOCK / VL)

/* A cache vector: f16 caches (half the bytes to stream) widen as they load. */
#define KV_LOAD(p, i, F16) ((F16) ? vload_f16((const uint16_t *)(p) + (i)) : vload((const float *)(p) + (i)))
/* `call` with R = nq (1..ATTN_MAX_NQ queries) and F16 = whether the cache is f16, both
 * compile-time constants, so each instantiation keeps its accumulators in registers and its
 * loads branch-free. */
#define WITH_KV_TYPE(t, call)               \
    do {                                    \
        if ((t) == ATTN_F16) {              \
            enum { F16 = 1 };               \
            call;                           \
        } else {                            \
            enum { F16 = 0 };               \
            call;                           \
        }                                   \
    } while (0)
#define BY_NQ_AND_TYPE(nq, t, call)                                  \
    switch (nq) {                                                    \
    case 4: { enum { R = 4 }; WITH_KV_TYPE(t, call); } break;        \
    case 3: { enum { R = 3 }; WITH_KV_TYPE(t, call); } break;        \
    case 2: { enum { R = 2 }; WITH_KV_TYPE(t, call); } break;        \
    default: { enum { R = 1 }; WITH_KV_TYPE(t, call); } break;       \
    }

static inline __attribute__((always_inline)) void scores_r(float *s, int64_t ls, const float *q, int64_t lq,
                                                           const int R, const void *kb, const int F16, int hd,
                                                           int64_t n, float scale) {
    for (int64_t p0 = 0; p0 < n; p0 += ATTN_KV_BLOCK) {
        const int64_t blk = (p0 / ATTN_KV_BLOCK) * hd * ATTN_KV_BLOCK;
        vf acc[ATTN_MAX_NQ][TILE_MAX_V];
        tile_zero(acc, R, KVV);
        tile_acc(acc, R, KVV, hd, q, lq, 1, kb, F16 ? ATTN_F16 : ATTN_F32, blk, ATTN_KV_BLOCK, KVV, 0);
#pragma GCC unroll 4
        for (int r = 0; r < R; r++)
#pragma GCC unroll 8
            for (int i = 0; i < KVV; i++) vstore(s + r * ls + p0 + i * VL, vmul(acc[r][i], vset1(scale)));
    }
}

static void SFX(attn_scores)(float *s, int64_t ls, const float *q, int64_t lq, int nq, const void *kb, attn_dtype kt,
                             int hd, int64_t n, float scale) {
    BY_NQ_AND_TYPE(nq, kt, scores_r(s, ls, q, lq, R, kb, F16, hd, n, scale));
}

/* Values, 64 dims at a time for every query; a remainder of hd falls to narrower loops. */
static inline __attribute__((always_inline)) void values_r(float *o, int64_t lo, const float *w, int64_t lw,
                                                           const int R, const void *v, const int F16,
                                                           int64_t v_stride, int hd, int64_t n) {
    int d0 = 0;
    for (; d0 + KVV * VL <= hd; d0 += KVV * VL) {
        vf acc[ATTN_MAX_NQ][TILE_MAX_V];
        tile_zero(acc, R, KVV);
        tile_acc(acc, R, KVV, n, w, lw, 1, v, F16 ? ATTN_F16 : ATTN_F32, d0, v_stride, KVV, 0);
#pragma GCC unroll 4
        for (int r = 0; r < R; r++)
#pragma GCC unroll 8
            for (int i = 0; i < KVV; i++) vstore(o + r * lo + d0 + i * VL, acc[r][i]);
    }
    for (int r = 0; r < R; r++) {
        int d = d0;
        for (; d + VL <= hd; d += VL) {
            vf a0 = vzero();
            for (int64_t p = 0; p < n; p++) a0 = vfma(vset1(w[r * lw + p]), KV_LOAD(v, p * v_stride + d, F16), a0);
            vstore(o + r * lo + d, a0);
        }
        for (; d < hd; d++) {
            float a = 0;
            for (int64_t p = 0; p < n; p++)
                a += w[r * lw + p] * (F16 ? f16_scalar(((const uint16_t *)v)[p * v_stride + d])
                                          : ((const float *)v)[p * v_stride + d]);
            o[r * lo + d] = a;
        }
    }
}

static void SFX(attn_values)(float *o, int64_t lo, const float *w, int64_t lw, int nq, const void *v, attn_dtype vt,
                             int64_t v_stride, int hd, int64_t n) {
    BY_NQ_AND_TYPE(nq, vt, values_r(o, lo, w, lw, R, v, F16, v_stride, hd, n));
}

/* Same operations in the same order as the reference (mul, then add: no FMA), so the
 * result is bit-identical to it. */
static void SFX(adamw)(float *p, const float *g, float *m, float *v, int64_t n, const attn_adamw_coef *c) {
    vf scale = vset1(c->grad_scale), keep = vset1(c->decay_keep), w1 = vset1(c->one_minus_beta1);
    vf b2 = vset1(c->beta2), w2 = vset1(c->one_minus_beta2), inv_bc2 = vset1(c->inv_bc2_sqrt), eps = vset1(c->eps);
    vf step = vset1(-c->step_size);
    int64_t i = 0;
    for (; i + VL <= n; i += VL) {
        vf gi = vmul(vload(g + i), scale);
        vf pi = vmul(vload(p + i), keep);
        vf mi = vload(m + i);
        mi = vadd(mi, vmul(w1, vsub(gi, mi)));
        vf vi = vadd(vmul(vload(v + i), b2), vmul(vmul(w2, gi), gi));
        vf denom = vadd(vmul(vsqrt(vi), inv_bc2), eps);
        pi = vadd(pi, vmul(step, vdiv(mi, denom)));
        vstore(m + i, mi), vstore(v + i, vi), vstore(p + i, pi);
    }
    if (i < n) attn_kernels_ref.adamw(p + i, g + i, m + i, v + i, n - i, c);
}

/* Lane u of the double accumulators sums x[i + u] (or its square) for i = 0, 8, 16...: the
 * reference's eight sums, added in its order with no FMA, so every instruction set gives the
 * same bits. */
static inline __attribute__((always_inline)) double sum8(const float *x, int64_t n, const int squares) {
    double s[8];
    int64_t i = 0;
#if defined(ATTN_SIMD_AVX512)
    __m512d acc = _mm512_setzero_pd();
    for (; i + 8 <= n; i += 8) {
        __m512d d = _mm512_cvtps_pd(_mm256_loadu_ps(x + i));
        acc = _mm512_add_pd(acc, squares ? _mm512_mul_pd(d, d) : d);
    }
    _mm512_storeu_pd(s, acc);
#else
    __m256d lo = _mm256_setzero_pd(), hi = _mm256_setzero_pd();
    for (; i + 8 <= n; i += 8) {
        __m256d a = _mm256_cvtps_pd(_mm_loadu_ps(x + i)), b = _mm256_cvtps_pd(_mm_loadu_ps(x + i + 4));
        lo = _mm256_add_pd(lo, squares ? _mm256_mul_pd(a, a) : a), hi = _mm256_add_pd(hi, squares ? _mm256_mul_pd(b, b) : b);
    }
    _mm256_storeu_pd(s, lo), _mm256_storeu_pd(s + 4, hi);
#endif
    for (; i < n; i++) s[0] += squares ? (double)x[i] * x[i] : (double)x[i];
    return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
}

static double SFX(sum_squares)(const float *x, int64_t n) { return sum8(x, n, 1); }

/* F16C rounds to nearest even, as attn_f32_to_f16 does; strided rows go through a buffer. */
static void SFX(to_f16)(uint16_t *dst, int64_t stride, const float *x, int64_t n) {
    int64_t i = 0;
    if (stride == 1)
        for (; i + VL <= n; i += VL) vstore_f16(dst + i, vload(x + i));
    for (; i + VL <= n; i += VL) {
        _Alignas(64) uint16_t h[VL];
        vstore_f16(h, vload(x + i));
        for (int j = 0; j < VL; j++) dst[(i + j) * stride] = h[j];
    }
    if (i < n) attn_kernels_ref.to_f16(dst + i * stride, stride, x + i, n - i);
}

static double SFX(sum)(const float *x, int64_t n) { return sum8(x, n, 0); }

/* tanh(u) = 1 - 2 / (1 + exp(2u)); u is clamped where tanh is +-1 in float anyway. */
static void SFX(gelu_tanh_backward)(float *dx, const float *x, const float *dout, int64_t n) {
    const float c = 0.7978845608028654f;
    int64_t i = 0;
    for (; i + VL <= n; i += VL) {
        vf v = vload(x + i), v2 = vmul(v, v);
        vf u = vmul(vset1(c), vfma(vmul(vset1(0.044715f), v2), v, v));
        u = vmin(vmax(u, vset1(-10.0f)), vset1(10.0f));
        vf t = vsub(vset1(1.0f), vdiv(vset1(2.0f), vadd(vset1(1.0f), vexp(vadd(u, u)))));
        vf left = vmul(vset1(0.5f), vadd(vset1(1.0f), t));
        vf slope = vmul(vset1(c), vfma(vset1(3.0f * 0.044715f), v2, vset1(1.0f)));
        vf right = vmul(vmul(vmul(vset1(0.5f), v), vsub(vset1(1.0f), vmul(t, t))), slope);
        vstore(dx + i, vfma(vadd(left, right), vload(dout + i), vload(dx + i)));
    }
    if (i < n) attn_kernels_ref.gelu_tanh_backward(dx + i, x + i, dout + i, n - i);
}

#if defined(ATTN_SIMD_AVX512)
void attn_gemm_nk_dot_avx512(float *c, int64_t ldc, const float *a, int64_t lda, int64_t M, const void *w,
                             attn_dtype dt, int64_t K, int64_t n0, int64_t n1, const float *bias);
#endif

const attn_kernels SFX(attn_kernels) = {
#if defined(ATTN_SIMD_AVX512)
    .name = "avx512",
    .gemm_nk_dot = attn_gemm_nk_dot_avx512,
#else
    .name = "avx2",
#endif
    .mr = MR,
    .nr = NR,
    .gemv_nk = SFX(gemv_nk),
    .gemv_hpanel = SFX(gemv_hpanel),
    .pack_b_hpanel = SFX(pack_b_hpanel),
    .gemm_hpanel = SFX(gemm_hpanel),
    .gemv_kn = SFX(gemv_kn),
    .pack_b = SFX(pack_b),
    .pack_a = SFX(pack_a),
    .pack_a_t = SFX(pack_a_t),
    .gemm_tile = SFX(gemm_tile),
    .gemm_tile_edge = SFX(gemm_tile_edge),
    .dot = SFX(dot),
    .axpy = SFX(axpy),
    .scale = SFX(scale),
    .exp_sum = SFX(exp_sum),
    .max = SFX(max),
    .gelu_tanh = SFX(gelu_tanh),
    .swiglu = SFX(swiglu),
    .attn_scores = SFX(attn_scores),
    .attn_values = SFX(attn_values),
    .adamw = SFX(adamw),
    .sum_squares = SFX(sum_squares),
    .to_f16 = SFX(to_f16),
    .sum = SFX(sum),
    .gelu_tanh_backward = SFX(gelu_tanh_backward),
};
