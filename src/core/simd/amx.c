/* simd/amx.c - the bf16 AMX tile kernel and its packers (see core/amx.h). Built only in the
 * AVX-512 pass; gemm.c calls it only where attn_amx_usable() says the tiles work. */
#if defined(ATTN_SIMD_AVX512) && defined(__linux__)
#pragma GCC target("amx-tile,amx-bf16")
#include "core/amx.h"

#include <stdatomic.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "core/common.h"
#include "simd.h"

#define ARCH_REQ_XCOMP_PERM 0x1023
#define XFEATURE_XTILEDATA 18
#define CHUNK (ATTN_AMX_MR * ATTN_AMX_K) /* bf16 per packed 32-deep chunk */

static _Atomic int amx_on = -1; /* ATTN_AMX (see attn_switch_on); off: AVX512-BF16 instead */

void attn_amx_set_enabled(bool on) { atomic_store_explicit(&amx_on, on, memory_order_relaxed); }

bool attn_amx_usable(void) {
    static int state = -1;
    if (!attn_switch_on(&amx_on, "ATTN_AMX")) return false;
    if (state < 0) {
        unsigned a, b, c, d;
        __asm__("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(7), "c"(0));
        bool cpu = (d >> 22 & 1) && (d >> 24 & 1); /* AMX-BF16, AMX-TILE */
        /* Linux hands out the 8 KB of tile data only to processes that ask */
        state = cpu && syscall(SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) == 0;
    }
    return state;
}

/* Every tile 16 rows of 64 bytes: C tiles 0-3 (16x16 f32), A tiles 4-5, B tiles 6-7. */
static void configure_tiles(void) {
    static _Thread_local bool done;
    if (done) return;
    struct {
        uint8_t palette, start_row, reserved[14];
        uint16_t colsb[16];
        uint8_t rows[16];
    } cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.palette = 1;
    for (int t = 0; t < 8; t++) cfg.colsb[t] = 64, cfg.rows[t] = 16;
    _tile_loadconfig(&cfg);
    done = true;
}

/* 16 f32 of x0 and x1 to bf16 pairs: word 2n = x0[n], word 2n + 1 = x1[n]. */
static inline __m512i pairs(__m512 x0, __m512 x1) {
    static const uint16_t order[32] = {0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23,
                                       8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31};
    __m512i both = (__m512i)_mm512_cvtne2ps_pbh(x1, x0); /* x0's 16 words, then x1's */
    return _mm512_permutexvar_epi16(_mm512_loadu_si512(order), both);
}

static inline __m512 load_masked(const float *p, __mmask16 m) { return _mm512_maskz_loadu_ps(m, p); }

/* The first n of 16 lanes (none for n <= 0). */
static inline __mmask16 lanes(int64_t n) { return (__mmask16)(n >= 16 ? 0xffff : n > 0 ? (1u << n) - 1 : 0); }

/* Rows k and k+1 of an f32 matrix (row at src, the next ld floats on), the lanes of m, as
 * bf16 pairs; rows at or past kc read as zeros. A B panel's 16 pairs of one step, or (once
 * transposed) a transposed A's. */
static inline __m512i row_pairs(const float *src, int64_t ld, __mmask16 m, int64_t k, int64_t kc) {
    __m512 x0 = k < kc ? load_masked(src, m) : _mm512_setzero_ps();
    __m512 x1 = k + 1 < kc ? load_masked(src + ld, m) : _mm512_setzero_ps();
    return pairs(x0, x1);
}

void attn_amx_pack_a(uint16_t *dst, const float *a, int64_t lda, bool trans, int rows, int64_t kc) {
    int64_t chunks = (kc + ATTN_AMX_K - 1) / ATTN_AMX_K;
    if (!trans) {
        for (int64_t q = 0; q < chunks; q++) {
            int64_t k0 = q * ATTN_AMX_K;
            __mmask16 m0 = lanes(kc - k0), m1 = lanes(kc - k0 - 16);
            for (int i = 0; i < ATTN_AMX_MR; i++) {
                __m512i v = _mm512_setzero_si512();
                if (i < rows) {
                    const float *src = a + i * lda + k0;
                    v = (__m512i)_mm512_cvtne2ps_pbh(load_masked(src + 16, m1), load_masked(src, m0));
                }
                _mm512_storeu_si512(dst + q * CHUNK + i * ATTN_AMX_K, v);
            }
        }
        return;
    }
    /* a[k * lda + i]: pairs of stored rows (k, k+1) become 16 dwords across i; a 16x16
     * dword transpose turns them into row i's 16 pairs. */
    for (int64_t q = 0; q < chunks; q++)
        for (int h = 0; h < 2; h++) {
            __m512 r[16];
            for (int p = 0; p < 16; p++) {
                int64_t k = q * ATTN_AMX_K + 2 * p;
                r[p] = _mm512_castsi512_ps(row_pairs(a + k * lda + 16 * h, lda, lanes(rows - 16 * h), k, kc));
            }
            transpose16(r);
            for (int i = 0; i < 16; i++) _mm512_storeu_ps(dst + q * CHUNK + (16 * h + i) * ATTN_AMX_K, r[i]);
        }
}

void attn_amx_pack_b(uint16_t *dst, const float *src, int64_t ld, int cols, int64_t kc) {
    int64_t chunks = (kc + ATTN_AMX_K - 1) / ATTN_AMX_K;
    for (int64_t q = 0; q < chunks; q++)
        for (int p = 0; p < 16; p++) {
            int64_t k = q * ATTN_AMX_K + 2 * p;
            for (int h = 0; h < 2; h++)
                _mm512_storeu_si512(dst + q * CHUNK + h * (CHUNK / 2) + p * 32,
                                    row_pairs(src + k * ld + 16 * h, ld, lanes(cols - 16 * h), k, kc));
        }
}

void attn_amx_tile(int64_t kc, const uint16_t *ap, const uint16_t *bp, float *c, int64_t ldc, int rows, int cols,
                   const float *init) {
    configure_tiles();
    bool full = rows == ATTN_AMX_MR && cols == ATTN_AMX_NR;
    size_t stride = (size_t)ldc * sizeof(float);
    if (full && !init) {
        _tile_loadd(0, c, stride);
        _tile_loadd(1, c + 16, stride);
        _tile_loadd(2, c + 16 * ldc, stride);
        _tile_loadd(3, c + 16 * ldc + 16, stride);
    } else if (full) { /* a stride of 0 repeats the bias row down the tile */
        _tile_loadd(0, init, 0);
        _tile_loadd(1, init + 16, 0);
        _tile_loadd(2, init, 0);
        _tile_loadd(3, init + 16, 0);
    } else {
        _tile_zero(0);
        _tile_zero(1);
        _tile_zero(2);
        _tile_zero(3);
    }
    for (int64_t q = 0, chunks = (kc + ATTN_AMX_K - 1) / ATTN_AMX_K; q < chunks; q++) {
        const uint16_t *a = ap + q * CHUNK, *b = bp + q * CHUNK;
        /* each load just before its first use: tile registers are not renamed, so the next
         * step's A0 load waits only for the two products that read A0 */
        _tile_loadd(4, a, 64);
        _tile_loadd(6, b, 64);
        _tile_dpbf16ps(0, 4, 6);
        _tile_loadd(7, b + CHUNK / 2, 64);
        _tile_dpbf16ps(1, 4, 7);
        _tile_loadd(5, a + CHUNK / 2, 64);
        _tile_dpbf16ps(2, 5, 6);
        _tile_dpbf16ps(3, 5, 7);
    }
    if (full) {
        _tile_stored(0, c, stride);
        _tile_stored(1, c + 16, stride);
        _tile_stored(2, c + 16 * ldc, stride);
        _tile_stored(3, c + 16 * ldc + 16, stride);
        return;
    }
    _Alignas(64) float t[ATTN_AMX_MR * ATTN_AMX_NR];
    _tile_stored(0, t, ATTN_AMX_NR * sizeof(float));
    _tile_stored(1, t + 16, ATTN_AMX_NR * sizeof(float));
    _tile_stored(2, t + 16 * ATTN_AMX_NR, ATTN_AMX_NR * sizeof(float));
    _tile_stored(3, t + 16 * ATTN_AMX_NR + 16, ATTN_AMX_NR * sizeof(float));
    for (int i = 0; i < rows; i++)
        for (int j = 0; j < cols; j++) c[i * ldc + j] = (init ? init[j] : c[i * ldc + j]) + t[i * ATTN_AMX_NR + j];
}

/* The same product without tiles (Zen 4, or AMX off): vdpbf16ps adds a pair of products per
 * f32 lane, so a packed B step (16 pairs x 16 columns) is one vector and a packed A row's
 * pair one broadcast dword. 8 rows x 32 columns at a time: 16 accumulators, B's two
 * vectors reused by 8 rows. Rows past `rows` are the packer's zeros; they are not stored. */
void attn_bf16_dot_tile(int64_t kc, const uint16_t *ap, const uint16_t *bp, float *c, int64_t ldc, int rows, int cols,
                        const float *init) {
    const int64_t chunks = (kc + ATTN_AMX_K - 1) / ATTN_AMX_K;
    const __mmask16 m0 = lanes(cols), m1 = lanes(cols - 16);
    for (int r0 = 0; r0 < rows; r0 += 8) {
        __m512 acc[8][2];
        for (int i = 0; i < 8; i++) acc[i][0] = acc[i][1] = _mm512_setzero_ps();
        for (int64_t q = 0; q < chunks; q++) {
            const uint16_t *a = ap + q * CHUNK + r0 * ATTN_AMX_K, *b = bp + q * CHUNK;
            for (int p = 0; p < 16; p++) {
                const __m512bh b0 = (__m512bh)_mm512_loadu_si512(b + 32 * p);
                const __m512bh b1 = (__m512bh)_mm512_loadu_si512(b + CHUNK / 2 + 32 * p);
#pragma GCC unroll 8
                for (int i = 0; i < 8; i++) {
                    int32_t pair;
                    memcpy(&pair, a + i * ATTN_AMX_K + 2 * p, 4);
                    const __m512bh ai = (__m512bh)_mm512_set1_epi32(pair);
                    acc[i][0] = _mm512_dpbf16_ps(acc[i][0], ai, b0);
                    acc[i][1] = _mm512_dpbf16_ps(acc[i][1], ai, b1);
                }
            }
        }
        for (int i = 0; i < 8 && r0 + i < rows; i++) {
            float *ci = c + (int64_t)(r0 + i) * ldc;
            const float *base = init ? init : ci;
            _mm512_mask_storeu_ps(ci, m0, _mm512_add_ps(load_masked(base, m0), acc[i][0]));
            _mm512_mask_storeu_ps(ci + 16, m1, _mm512_add_ps(load_masked(base + 16, m1), acc[i][1]));
        }
    }
}
#else
typedef int attn_amx_not_built; /* AVX2 pass, or not Linux: gemm.c never calls in */
#endif
