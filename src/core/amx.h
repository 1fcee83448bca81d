/* amx.h - bf16 products on AMX tiles (Sapphire Rapids and later), or with AVX512-BF16 dot
 * products on the same packed operands (Zen 4; Intel with AMX turned off): the GEMM's
 * reduced-precision path (attn_gemm_set_precision): both operands rounded to bf16 (to
 * nearest even), products summed in f32, like PyTorch's bf16 autocast. One tile step
 * multiplies a 32-row block of A by a 32-column panel of B over 32 values of the reduction.
 *
 * Packed layouts, per 32-deep chunk q of a kc-deep slice (kc rounded up to 32, zero padded):
 *   A block: 32 rows x 32 bf16, row i = A(i, 32q .. 32q+31)                (two A tiles)
 *   B panel: 2 halves x 16 pairs x 16 columns x 2: [h][p][n][e] = B(32q+2p+e, 16h+n) (VNNI)
 * each chunk 1024 bf16, 2 KB. */
#ifndef ATTN_AMX_H
#define ATTN_AMX_H

#include <stdbool.h>
#include <stdint.h>

#define ATTN_AMX_MR 32
#define ATTN_AMX_NR 32
#define ATTN_AMX_K 32 /* reduction per tile step */

#if defined(__x86_64__) && defined(__linux__)
/* The CPU has AMX-BF16 and the OS grants this process the tile state (asked for once), and
 * neither attn_amx_set_enabled(false) nor ATTN_AMX=0 turned the tiles off. */
bool attn_amx_usable(void);
void attn_amx_set_enabled(bool on);

/* One 32-row block of A, rows [0, rows) real, from a row-major A (a[i * lda + k]) or a
 * transposed one (a[k * lda + i]), depth kc. */
void attn_amx_pack_a(uint16_t *dst, const float *a, int64_t lda, bool trans, int rows, int64_t kc);
/* A B panel from f32 rows: B(k, j) = src[k * ld + j] for j < cols (<= 32), zero beyond: an
 * f32 [K][N] matrix directly, or any weight through its f32 packing (ld = cols = 32). */
void attn_amx_pack_b(uint16_t *dst, const float *src, int64_t ld, int cols, int64_t kc);
/* C[rows][cols] (row stride ldc) += Ap * Bp over depth kc, or = init[j] + Ap * Bp when init
 * is not NULL (C not read). */
void attn_amx_tile(int64_t kc, const uint16_t *ap, const uint16_t *bp, float *c, int64_t ldc, int rows, int cols,
                   const float *init);
/* The same as attn_amx_tile with AVX512-BF16 dot products (every CPU the AVX-512 kernels
 * run on has them): the bf16 path where there are no tiles, at up to twice the f32 FMA rate. */
void attn_bf16_dot_tile(int64_t kc, const uint16_t *ap, const uint16_t *bp, float *c, int64_t ldc, int rows, int cols,
                        const float *init);
#else /* other machines (ARM64): never usable, so gemm.c never calls the rest */
static inline bool attn_amx_usable(void) { return false; }
static inline void attn_amx_set_enabled(bool on) { (void)on; }
static inline void attn_amx_pack_a(uint16_t *d, const float *a, int64_t l, bool t, int r, int64_t k) {
    (void)d, (void)a, (void)l, (void)t, (void)r, (void)k;
}
static inline void attn_amx_pack_b(uint16_t *d, const float *s, int64_t l, int c, int64_t k) {
    (void)d, (void)s, (void)l, (void)c, (void)k;
}
static inline void attn_amx_tile(int64_t k, const uint16_t *a, const uint16_t *b, float *c, int64_t l, int r, int n,
                                 const float *i) {
    (void)k, (void)a, (void)b, (void)c, (void)l, (void)r, (void)n, (void)i;
}
static inline void attn_bf16_dot_tile(int64_t k, const uint16_t *a, const uint16_t *b, float *c, int64_t l, int r,
                                      int n, const float *i) {
    (void)k, (void)a, (void)b, (void)c, (void)l, (void)r, (void)n, (void)i;
}
#endif

#endif
