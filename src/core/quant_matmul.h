/* quant_matmul.h - matrix products with block-quantized weights (core/quant.h types) stored
 * [N][K] as GGUF stores matrices: row n is K/block blocks. attn_matmul routes an attn_weight
 * with a nonzero qtype here. GEMV decodes blocks in registers (simd/qgemv.c); the prompt GEMM
 * dequantizes a kc x nr panel into the packing buffer and reuses the f32 register tile. */
#ifndef ATTN_QUANT_MATMUL_H
#define ATTN_QUANT_MATMUL_H

#include <stdbool.h>
#include <stdint.h>
#include "cpu.h"
#include "quant.h"

/* True for the block-quantized types the matmul path accepts (Q8_0, Q4_0, Q4_1, Q5_0, Q5_1,
 * Q2_K..Q6_K). */
bool attn_qtype_matmul_ok(int t);

/* y[n] = dot(W[n][0:K], x) for n in [n0, n1) with the kernels of `isa` (ATTN_ISA_SCALAR: the
 * reference, which dequantizes each row with attn_dequantize_row and dots in f32). */
void attn_qgemv_nk_isa(attn_isa isa, float *y, const float *x, const void *w, attn_qtype t, int64_t K, int64_t n0,
                       int64_t n1);
/* The same for attn_isa_current(). */
void attn_qgemv_nk(float *y, const float *x, const void *w, attn_qtype t, int64_t K, int64_t n0, int64_t n1);

/* Several input rows at once: y[r*ldy + n] = dot(W[n][0:K], x[r*ldx + 0:K]) for rows r < M
 * and n in [n0, n1), each block of W decoded once for all M rows (ATTN_ISA_SCALAR: the
 * reference, one attn_qgemv_nk_isa per row). For small batches, where the packed GEMM's
 * dequantized panels cost more than they save. */
void attn_qgemv_rows_nk_isa(attn_isa isa, float *y, int64_t ldy, const float *x, int64_t ldx, int64_t M,
                            const void *w, attn_qtype t, int64_t K, int64_t n0, int64_t n1);
void attn_qgemv_rows_nk(float *y, int64_t ldy, const float *x, int64_t ldx, int64_t M, const void *w, attn_qtype t,
                        int64_t K, int64_t n0, int64_t n1);

/* Packs B(k, n) = W[n][k] for k in [k0, k0+kc), n in [n0, n0+nr) into dst[kc][nr] as f32,
 * zero for n >= N. k0 and kc must be whole blocks (or kc reach K). */
void attn_qpack_b(float *dst, const void *w, attn_qtype t, int64_t K, int64_t N, int64_t k0, int64_t kc, int64_t n0,
                  int nr);

#endif
