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
 * A panel (rows 16p .. 16p+15) stores its blocks in order, each block's values followed by
 * its scales, so that a panel is read as one run of bytes, which the hardware prefetchers
 * follow (values and scales apart, a second run at the panel's end, read 24% slower on the
 * 2-vCPU EPYC). Where a block's scales are not whole 64-byte lines (Q8_0, Q4_0, Q5_0: 32
 * bytes; Q6_K: 288), blocks go in pairs, both blocks' values then both blocks' scales,
 * which keeps every vector on one line (attn_qpanel_offsets). Lane n of 64-byte vector v
 * holds 4 bytes of row n:
 *   Q4_0/Q4_1: 4 vectors, byte i of vector v is the block's value byte 4v+i (value 4v+i in
 *     the low nibble, 16+4v+i in the high one); scales: the 16 d as f16, then (Q4_1) the m.
 *   Q5_0/Q5_1: as Q4_0/Q4_1, then a 5th vector whose lane n is row n's 32 fifth bits.
 *   Q8_0: 8 vectors, byte i of vector v is value 4v+i plus 128 (unsigned, as vpdpbusd
 *     wants; the offset goes to the sums); scales: the 16 d.
 *   Q4_K: 32 vectors, vector v is qs bytes 4v.. (values 32g+l of groups 2(v/8) and
 *     2(v/8)+1 in its nibbles, l = 4(v%8)+i); scales: d, dmin (f16), then per group of 32
 *     the 16 rows' 6-bit scales as bytes, then their mins (320 bytes, 64 more than the rows).
 *   Q5_K: as Q4_K, then 8 vectors of qh bytes 4v.. (bit g: the fifth bit of group g).
 *   Q6_K: per half h, 8 vectors of ql[64h..], 8 of ql[64h+32..], 8 of qh[32h..]; scales: d,
 *     then per 16 values the 16 rows' int8 scales.
 * Q4_K and Q5_K panels take 3% and 2% more bytes than their rows, the others exactly as
 * many. N must be a multiple of 16. */
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

/* Bytes of a [N][K] matrix of type t as panels (N a multiple of 16). */
size_t attn_qpanel_bytes(attn_qtype t, int64_t K, int64_t N);

/* Repacks W (GGUF rows) into dst, attn_qpanel_bytes long; 64-byte aligned is fastest. */
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

/* Block b of row n back to the bytes GGUF stores (the inverse of attn_qpanel_pack), at most
 * ATTN_QPANEL_MAX_BLOCK of them: the scalar references run on these. */
#define ATTN_QPANEL_MAX_BLOCK 210
void attn_qpanel_unpack_block(void *blk, const void *panels, attn_qtype t, int64_t K, int64_t n, int64_t b);

/* Row n of the matrix to f32 (K values) through attn_dequantize_row: a tied embedding
 * table's lookups read the panels instead of the file. */
void attn_qpanel_row(float *dst, const void *panels, attn_qtype t, int64_t K, int64_t n);

/* Bytes of a panel's values and of its scales per block (or super-block) of the type. */
int attn_qpanel_value_bytes(attn_qtype t);
int attn_qpanel_scale_bytes(attn_qtype t);

/* Where block b of a panel of nb blocks keeps its values (*v) and scales (*s), in bytes from
 * the panel's start, for a type whose blocks take vb and sb bytes (see the layout above). */
static inline void attn_qpanel_offsets(int vb, int sb, int64_t nb, int64_t b, int64_t *v, int64_t *s) {
    const int64_t pair = sb % 64 ? 2 : 1, first = b / pair * pair, together = nb - first < pair ? nb - first : pair;
    *v = first * (vb + sb) + (b - first) * vb;
    *s = first * (vb + sb) + together * vb + (b - first) * sb;
}

#endif
