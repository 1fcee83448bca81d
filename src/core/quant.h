/* quant.h - ggml's tensor element types, above all the block-quantized ones (Q8_0, Q4_0,
 * Q4_1, Q5_0, Q5_1 and the K-quants Q2_K..Q6_K), as GGUF files store them: block sizes and
 * bytes, and scalar reference conversions to and from f32 that reproduce ggml's own
 * results bit for bit (dequantize_row_* and quantize_row_*_ref in ggml-quants.c).
 *
 * The type ids are ggml's (`enum ggml_type`), since GGUF stores them as is. Every id ggml
 * defines has a size entry, so a GGUF file with, say, IQ2_XS tensors still opens; only some
 * types can be converted (attn_qtype_info's `dequant` and `quant` flags).
 *
 * A block of `block` values takes `bytes` bytes; a row of n values must hold whole blocks.
 * Block layouts (little-endian; d, dmin, m are IEEE halfs):
 *   Q8_0  {d; int8 qs[32]}                      x = d * q
 *   Q4_0  {d; u8 qs[16]}                        x[j] = d*(lo4(qs[j]) - 8), x[j+16] = d*(hi4 - 8)
 *   Q4_1  {d; m; u8 qs[16]}                     x = d*q4 + m
 *   Q5_0  {d; u32 qh; u8 qs[16]}                5-bit q = nibble | bit of qh << 4, x = d*(q - 16)
 *   Q5_1  {d; m; u32 qh; u8 qs[16]}             x = d*q5 + m
 *   Q2_K  {u8 scales[16]; u8 qs[64]; d; dmin}   16 groups of 16: 4-bit scale, 4-bit min
 *   Q3_K  {u8 hmask[32]; u8 qs[64]; u8 scales[12]; d}          16 groups, 6-bit signed scales
 *   Q4_K  {d; dmin; u8 scales[12]; u8 qs[128]}                 8 groups of 32, 6-bit scale+min
 *   Q5_K  {d; dmin; u8 scales[12]; u8 qh[32]; u8 qs[128]}      as Q4_K plus a high bit
 *   Q6_K  {u8 ql[128]; u8 qh[64]; int8 scales[16]; d}          16 groups, 6-bit q - 32
 * The comments in quant.c spell out each packing.
 *
 * Rounding: the quantizers copy ggml's arithmetic operation by operation, with no fused
 * multiply-add (quant.c is compiled with FP contraction off), so quantizing llama.cpp's f32
 * tensors gives byte-identical blocks. Inputs must be finite: ggml gives NaN and Inf no
 * meaning in blocks either (attn's quantizers still never invoke undefined behaviour). */
#ifndef ATTN_QUANT_H
#define ATTN_QUANT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ggml's type ids. Gaps (4, 5, 31-33, 36-38) are types ggml removed. */
typedef enum {
    ATTN_QT_F32 = 0,
    ATTN_QT_F16 = 1,
    ATTN_QT_Q4_0 = 2,
    ATTN_QT_Q4_1 = 3,
    ATTN_QT_Q5_0 = 6,
    ATTN_QT_Q5_1 = 7,
    ATTN_QT_Q8_0 = 8,
    ATTN_QT_Q8_1 = 9,
    ATTN_QT_Q2_K = 10,
    ATTN_QT_Q3_K = 11,
    ATTN_QT_Q4_K = 12,
    ATTN_QT_Q5_K = 13,
    ATTN_QT_Q6_K = 14,
    ATTN_QT_Q8_K = 15,
    ATTN_QT_IQ2_XXS = 16,
    ATTN_QT_IQ2_XS = 17,
    ATTN_QT_IQ3_XXS = 18,
    ATTN_QT_IQ1_S = 19,
    ATTN_QT_IQ4_NL = 20,
    ATTN_QT_IQ3_S = 21,
    ATTN_QT_IQ2_S = 22,
    ATTN_QT_IQ4_XS = 23,
    ATTN_QT_I8 = 24,
    ATTN_QT_I16 = 25,
    ATTN_QT_I32 = 26,
    ATTN_QT_I64 = 27,
    ATTN_QT_F64 = 28,
    ATTN_QT_IQ1_M = 29,
    ATTN_QT_BF16 = 30,
    ATTN_QT_TQ1_0 = 34,
    ATTN_QT_TQ2_0 = 35,
    ATTN_QT_MXFP4 = 39,
    ATTN_QT_NVFP4 = 40,
    ATTN_QT_Q1_0 = 41,
    ATTN_QT_COUNT = 42 /* ids are < ATTN_QT_COUNT; not every id below it is defined */
} attn_qtype;

/* Super-block size of the K-quants. */
#define ATTN_QK_K 256

typedef struct {
    const char *name; /* ggml's name: "f32", "q8_0", "q4_K", "iq2_xs", "bf16"... */
    int block;        /* values per block (1 for plain types) */
    int bytes;        /* bytes per block */
    bool dequant;     /* attn_dequantize_row supports it */
    bool quant;       /* attn_quantize_row supports it */
} attn_qtype_info;

/* The type's sizes and name; NULL for an id ggml does not define (out of range or removed). */
const attn_qtype_info *attn_qtype_get(int type);
/* ggml's name, or "unknown" for an undefined id. */
const char *attn_qtype_name(int type);
/* Looks a type up by name, ignoring case ("Q4_K", "q4_k" and "q4_K" all work). -1 if none. */
int attn_qtype_from_name(const char *name);

/* Bytes of a row of n values: n / block * bytes. 0 if the type is undefined, n < 0, or n is
 * not a multiple of the block size (callers validate with attn_quant_row_ok first). */
size_t attn_quant_row_bytes(attn_qtype t, int64_t n);
/* True when the type is defined and n >= 0 is a whole number of its blocks. */
bool attn_quant_row_ok(attn_qtype t, int64_t n);

/* Converts a row of n values (a whole number of blocks) to f32. Returns 0, or -1 with
 * attn_last_error() set when the type has no dequantizer or n is not whole blocks.
 * Supported: F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K. */
int attn_dequantize_row(attn_qtype t, const void *src, float *dst, int64_t n);
/* Converts n f32 values to the type, like ggml's reference quantizers. Supported: F32, F16,
 * BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q2_K..Q6_K. Returns 0 or -1 with attn_last_error() set. */
int attn_quantize_row(attn_qtype t, const float *src, void *dst, int64_t n);

/* The per-type routines behind the two dispatchers; n is a multiple of the block size.
 * src/dst need no alignment. */
void attn_dequantize_row_q8_0(const void *src, float *dst, int64_t n);
void attn_dequantize_row_q4_0(const void *src, float *dst, int64_t n);
void attn_dequantize_row_q4_1(const void *src, float *dst, int64_t n);
void attn_dequantize_row_q5_0(const void *src, float *dst, int64_t n);
void attn_dequantize_row_q5_1(const void *src, float *dst, int64_t n);
void attn_dequantize_row_q2_K(const void *src, float *dst, int64_t n);
void attn_dequantize_row_q3_K(const void *src, float *dst, int64_t n);
void attn_dequantize_row_q4_K(const void *src, float *dst, int64_t n);
void attn_dequantize_row_q5_K(const void *src, float *dst, int64_t n);
void attn_dequantize_row_q6_K(const void *src, float *dst, int64_t n);

void attn_quantize_row_q8_0(const float *src, void *dst, int64_t n);
void attn_quantize_row_q4_0(const float *src, void *dst, int64_t n);
void attn_quantize_row_q4_1(const float *src, void *dst, int64_t n);
void attn_quantize_row_q5_0(const float *src, void *dst, int64_t n);
void attn_quantize_row_q5_1(const float *src, void *dst, int64_t n);

/* The K-quants (quant_k.c): ggml's quantize_row_q*_K_ref, the path llama-quantize takes
 * without an importance matrix, with the same searches and float operations. */
void attn_quantize_row_q2_K(const float *src, void *dst, int64_t n);
void attn_quantize_row_q3_K(const float *src, void *dst, int64_t n);
void attn_quantize_row_q4_K(const float *src, void *dst, int64_t n);
void attn_quantize_row_q5_K(const float *src, void *dst, int64_t n);
void attn_quantize_row_q6_K(const float *src, void *dst, int64_t n);

/* Q4_K/Q5_K's six-bit scale and minimum of group j (of 8) from their 12 packed bytes q: for
 * j < 4 the low 6 bits of bytes j (scale) and j+4 (min); for j >= 4 a nibble of byte j+4
 * plus the top 2 bits of bytes j-4 (scale) and j (min). ggml's get_scale_min_k4. */
static inline void attn_q4k_scale_min(int j, const uint8_t *q, int *sc, int *mn) {
    if (j < 4) {
        *sc = q[j] & 63, *mn = q[j + 4] & 63;
    } else {
        *sc = (q[j + 4] & 0x0F) | (q[j - 4] >> 6) << 4;
        *mn = (q[j + 4] >> 4) | (q[j] >> 6) << 4;
    }
}

/* The inverse: 8 six-bit scales and mins into their 12 bytes. */
void attn_q4k_pack_scale_min(const uint8_t ls[8], const uint8_t lm[8], uint8_t *sc);

#endif
