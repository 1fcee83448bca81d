/* quant_matmul.h - matrix products with block-quantized weights (core/quant.h types) stored
 * [N][K] as GGUF stores matrices: row n is K/block blocks. attn_matmul routes an attn_weight
 * with a nonzero qtype here. Decoding multiplies integer weights by quantized activations
 * (simd/qdot.c, below; matrices repacked into 16-row panels by core/qpanel.h take
 * simd/qpanel.c instead); the exact path decodes blocks to f32 in registers (simd/qgemv.c);
 * the prompt GEMM dequantizes a kc x nr panel into the packing buffer and reuses the f32
 * register tile. */
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

/* ---- integer dot products -----------------------------------------------------------
 * As llama.cpp does, a matmul can quantize each activation row once and multiply integer
 * weights by integer activations (VNNI vpdpbusd / vpdpwssd on AVX-512, maddubs on AVX2):
 * several times fewer instructions than decoding every weight to f32.
 *
 * Activations are cut into blocks of the weight type's size: 32 values for Q8_0, Q4_0, Q4_1,
 * Q5_0, Q5_1, 256 for the K-quants. Each block gets a scale d and bytes hi with llama.cpp's
 * rounding (round to nearest even):
 *   32-blocks (its Q8_0):  d = amax/127,  hi = round(x * (127/amax))
 *   256-blocks (its Q8_K): d = 1/s, s = -127/v with v the value of largest magnitude (the
 *                          first one), hi = min(127, round(x * s))
 * d stays f32 (llama.cpp rounds the Q8_0 scale to f16). ATTN_QDOT_Q8 uses x ~ d*hi, as
 * llama.cpp does. ATTN_QDOT_Q8X2 adds a second byte per value that rounds the residual:
 *   lo = clamp(round((x - d*hi) * 256/d), -127, 127),  x ~ d*(hi + lo/256),
 * so each value is off by at most |d|/256 (|d|/2 with one byte): a 15-bit activation for one
 * more integer product per weight. ATTN_QDOT_F32 keeps the exact dequantize-and-FMA path.
 * The mode comes from $ATTN_QDOT (f32, q8 or q8x2) or attn_qdot_set_mode. ATTN_QDOT_Q8_32
 * (prompts in INT8 precision, gemm.h) is one byte in 32-blocks for the K-quants too: eight
 * scales where llama.cpp's Q8_K has one, so a block's largest value coarsens 32 values, not
 * 256 (only the panel kernels take K-quant rows so cut). */
typedef enum { ATTN_QDOT_F32 = 0, ATTN_QDOT_Q8 = 1, ATTN_QDOT_Q8X2 = 2, ATTN_QDOT_Q8_32 = 3 } attn_qdot_mode;

attn_qdot_mode attn_qdot_get_mode(void);
void attn_qdot_set_mode(attn_qdot_mode mode);
/* Whether $ATTN_QDOT or attn_qdot_set_mode chose the mode (matmul.c lets that win over the
 * decoding that --matmul f32 and int8 imply). */
bool attn_qdot_mode_chosen(void);
const char *attn_qdot_mode_name(attn_qdot_mode mode);

/* Quantized activation rows, each plane [rows][per row]. lo is NULL with one byte. The
 * block arrays are padded with zeros to a multiple of 8 blocks, so kernels may load 8 at a
 * time; sum[] holds sum(x~) over each block, bsum_hi/bsum_lo the sums of hi and lo over each
 * 16 values (the offsets and minimums of the weight types need them).
 *
 * 32-blocks also get the same bytes in quads of 4 blocks (the AVX-512 kernels read these):
 * per quad, the first 16 values of each of its 4 blocks, then the last 16 of each. A 4-bit
 * weight byte holds value j in its low nibble and j+16 in its high one, so the nibbles of 4
 * blocks line up with a quad's two halves after one byte shuffle, and each block's products
 * land in 4 neighbouring 32-bit lanes. Per lane of a quad, dq holds the block's dx (times
 * 1/256 with two bytes) and sq a quarter of its sum(x~). A partial last quad is zero-padded. */
typedef struct {
    int64_t K, rows;
    int block;       /* 32 or 256 */
    int64_t nb_pad;  /* K/block rounded up to a multiple of 8 */
    int8_t *hi, *lo; /* [rows][K] */
    float *d, *sum;  /* [rows][nb_pad] */
    int16_t *bsum_hi, *bsum_lo; /* [rows][K/16] */
    int64_t quads;            /* 32-blocks: K/128 rounded up; 0 for K-quants */
    int8_t *quad_hi, *quad_lo; /* [rows][quads*128] */
    float *dq, *sq;            /* [rows][quads*16] */
} attn_qx;

/* Bytes attn_qx_init needs for `rows` rows of K values meant for weights of type t,
 * quantized in `mode` (not ATTN_QDOT_F32). */
size_t attn_qx_bytes(attn_qtype t, int64_t K, int64_t rows, attn_qdot_mode mode);
/* Lays the planes out in mem (64-byte aligned, attn_qx_bytes long). */
void attn_qx_init(attn_qx *qx, void *mem, attn_qtype t, int64_t K, int64_t rows, attn_qdot_mode mode);
/* Quantizes qx->rows rows of x (row stride ldx) into qx with the routines of `isa` (every
 * ISA gives the same bytes). */
void attn_qx_quantize_isa(attn_isa isa, attn_qx *qx, const float *x, int64_t ldx);

/* y[r*ldy + n] = W[n][0:K] . x~[r] for r < qx->rows, n in [n0, n1), with integer products
 * (ATTN_ISA_SCALAR: the reference in plain C). Only float summation order differs between
 * the ISAs; the difference to the exact product is sum |w| times the activations' error. */
void attn_qdot_rows_nk_isa(attn_isa isa, float *y, int64_t ldy, const attn_qx *qx, const void *w, attn_qtype t,
                           int64_t n0, int64_t n1);
void attn_qdot_rows_nk(float *y, int64_t ldy, const attn_qx *qx, const void *w, attn_qtype t, int64_t n0,
                       int64_t n1);

/* The scalar reference's term of weight block b (its bytes at `block`, as GGUF stores them)
 * in row r's dot product; core/qpanel.c's reference feeds it blocks unpacked from panels. */
float attn_qdot_ref_block(const attn_qx *qx, int64_t r, int64_t b, const void *block, attn_qtype t);

/* M rows of x (row stride ldx) quantized for weights of type t in `mode` (decoding takes
 * attn_qdot_get_mode(), prompts in INT8 precision ATTN_QDOT_Q8), in a buffer of the calling
 * thread that stays valid until its next call; `quads`: also the quad planes the AVX-512 row
 * kernels read (weights in panels, core/qpanel.h, need none). NULL when the mode is
 * ATTN_QDOT_F32 or memory is short (the caller then takes the exact path). */
const attn_qx *attn_qx_rows(const float *x, int64_t ldx, int64_t M, int64_t K, attn_qtype t, bool quads,
                            attn_qdot_mode mode);

/* Whole blocks of a row to f32: attn_dequantize_row's values bit for bit, through the vector
 * block decoders of `isa` (the packer of the dequantizing GEMM uses the current one). */
void attn_qdecode_row_isa(attn_isa isa, attn_qtype t, const void *src, float *dst, int64_t n);

/* Packs B(k, n) = W[n][k] for k in [k0, k0+kc), n in [n0, n0+nr) into dst[kc][nr] as f32,
 * zero for n >= N, nr being the current kernels' tile width (attn_kernels_get()->nr, at
 * most 32). k0 and kc must be whole blocks (or kc reach K). */
void attn_qpack_b(float *dst, const void *w, attn_qtype t, int64_t K, int64_t N, int64_t k0, int64_t kc, int64_t n0);

#endif
