/* qpanel.h - block-quantized weights repacked into panels of 16 rows for the integer dot
 * products of AVX-512 (what llama.cpp calls repacking).
 *
 * Row-major blocks (GGUF's layout) put one weight row's values side by side, so every
 * product of a row with an activation row ends in a horizontal sum, and the scales of each
 * block must be spread over the lanes that hold its values. In a panel, 32-bit lane n of a
 * vector holds 4 consecutive values of row n for 16 rows at once: vpdpbusd against 4
 * activation bytes broadcast to every lane adds 4 products to each of 16 rows' sums, and a
 * block's 16 scales are one vector. Nothing is reduced across lanes; a panel's 16 results
 * are one store.
 *
 * A panel (rows 16p .. 16p+15, K/32 blocks) takes exactly the bytes its 16 rows took:
 *   values: per block, 64-byte vectors j of 16 lanes of 4 bytes. Q4_0/Q4_1: 4 vectors,
 *           lane n's byte i of vector j is the block's byte 4j+i (values 4j+i in the low
 *           nibble, 16+4j+i in the high one). Q8_0: 8 vectors, byte i of vector j is value
 *           4j+i plus 128 (unsigned, as vpdpbusd wants; the offset goes to the sums).
 *   scales: per block the 16 rows' d as f16, then (Q4_1) the 16 m.
 * Q4_0, Q4_1 and Q8_0 only (the types of SmolLM2's files and of most small GGUFs), and
 * only with N a multiple of 16. */
#ifndef ATTN_QPANEL_H
#define ATTN_QPANEL_H

#include <stdbool.h>
#include <stdint.h>
#include "cpu.h"
#include "quant.h"
#include "quant_matmul.h"

#define ATTN_QPANEL_ROWS 16

/* True when a [N][K] matrix of type t can be repacked (its bytes: attn_quant_row_bytes * N). */
bool attn_qpanel_ok(attn_qtype t, int64_t K, int64_t N);

/* Whether the kernels of `isa` gain from panels (AVX-512 does; the other sets keep rows). */
bool attn_qpanel_wanted(attn_isa isa);

/* Repacks W (GGUF rows) into dst, attn_quant_row_bytes(t, K) * N bytes, 64-byte aligned for speed (any alignment works). */
void attn_qpanel_pack(void *dst, const void *w, attn_qtype t, int64_t K, int64_t N);

/* y[r*ldy + n] = W[n] . x~[r] for r < qx->rows, n in [n0, n1), n0 a multiple of 16 and n1
 * one too or N: what attn_qdot_rows_nk gives from the rows, up to float summation order
 * (ATTN_ISA_SCALAR: the reference in plain C). */
void attn_qpanel_dot_isa(attn_isa isa, float *y, int64_t ldy, const attn_qx *qx, const void *panels, attn_qtype t,
                         int64_t n0, int64_t n1);
void attn_qpanel_dot(float *y, int64_t ldy, const attn_qx *qx, const void *panels, attn_qtype t, int64_t n0,
                     int64_t n1);

/* attn_qpack_b from panels: B(k, n) = W[n][k] for k in [k0, k0+kc), n in [n0, n0+nr) into
 * dst[kc][nr] as f32, zero for n >= N; nr a multiple of 16, n0 of nr, k0 and kc whole
 * blocks (or kc reaching K). The values are attn_dequantize_row's, bit for bit. */
void attn_qpanel_pack_b_isa(attn_isa isa, float *dst, int nr, const void *panels, attn_qtype t, int64_t K, int64_t N,
                            int64_t k0, int64_t kc, int64_t n0);
void attn_qpanel_pack_b(float *dst, int nr, const void *panels, attn_qtype t, int64_t K, int64_t N, int64_t k0,
                        int64_t kc, int64_t n0);

/* Bytes of a panel's block values (256 or 512) and of its scales (32 or 64) per block. */
int attn_qpanel_value_bytes(attn_qtype t);
int attn_qpanel_scale_bytes(attn_qtype t);

#endif
