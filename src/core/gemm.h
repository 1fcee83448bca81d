/* gemm.h - the packed, threaded matrix product behind attn_matmul (prompts, training
 * forward) and the accumulating products of backward passes (gemm_acc.h):
 * C[M][N] (+)= A[M][K] · B[K][N], A f32 (row-major or transposed), B any attn_weight. */
#ifndef ATTN_GEMM_H
#define ATTN_GEMM_H

#include <stdbool.h>
#include <stdint.h>
#include "matmul.h"

/* Zeros the caller guarantees (causal attention), so that tiles, or parts of their
 * reduction, can be skipped. */
typedef enum {
    ATTN_BAND_NONE,
    ATTN_BAND_C_LOWER, /* only C(m, n) with n <= m is wanted; the rest is left as it is */
    ATTN_BAND_C_UPPER, /* only C(m, n) with n >= m is wanted */
    ATTN_BAND_A_LOWER, /* A(m, k) = 0 for k > m */
    ATTN_BAND_A_UPPER, /* A(m, k) = 0 for k < m */
    ATTN_BAND_B_UPPER, /* B(k, n) = 0 for k > n */
} attn_gemm_band;

typedef struct {
    float *c;                 /* [M][N], row-major, rows ldc apart */
    int64_t ldc;              /* 0: N (C contiguous); more: C is columns of a wider matrix */
    int64_t M, N, K;
    const float *a;           /* A(m, k) = a_trans ? a[k * lda + m] : a[m * lda + k] */
    int64_t lda;
    bool a_trans;
    const attn_weight *b;     /* B(k, n) as the kernels' pack_b reads it: n_in = K, n_out = N */
    bool overwrite;           /* C = bias + A·B (bias may be NULL); else C += A·B */
    const float *bias;
    attn_gemm_band band;
} attn_gemm;

/* -1 only when packing buffers cannot be allocated. Each element of C is summed in a fixed
 * order, so the result is the same for any thread count. */
int attn_gemm_run(const attn_gemm *g);

/* The same product on the calling thread alone, for work already split across threads
 * (e.g. per attention head); scratch holds attn_gemm_serial_scratch(M) floats. */
void attn_gemm_serial(const attn_gemm *g, float *scratch);
size_t attn_gemm_serial_scratch(int64_t M);

/* How products are computed. F32: IEEE f32 multiply-adds. BF16: operands rounded to bf16,
 * products summed in f32 (PyTorch's bf16 autocast), on AMX tiles where the OS grants them,
 * else with AVX512-BF16 dot products (Zen 4: twice the f32 FMA rate). INT8: prompt products
 * on quantized weights multiply the weights' integers by activations rounded to one byte in
 * blocks of 32 (VNNI vpdpbusd does twice vdpbf16ps's products a cycle), as llama.cpp does for
 * every product (whose K-quants' blocks are 256); other products are F32. AUTO (the
 * default): prompts on quantized weights in BF16 on AMX tiles; else, where the AVX-512
 * kernels run, INT8 for K-quant weights in panels, and for the others the decoding kernels'
 * two-byte integers up to 64 rows (faster than the bf16 GEMM's packing there, and closer to
 * exact), then BF16 (for their 32-value blocks one byte is llama.cpp's own rounding, and bf16
 * is 2-3x closer to exact); without those kernels F32. All other products are F32, so
 * f32/f16 models and training stay exact. On llama.cpp's reference files every one of these
 * stays closer to the float64 logits than llama.cpp (test_llama_gguf). ATTN_MATMUL=
 * f32|bf16|int8|auto sets the starting value; the setting is process-wide. Setting BF16
 * fails (-1, with error) on CPUs without the AVX-512 kernels (which need AVX512-BF16). */
typedef enum { ATTN_MATMUL_F32, ATTN_MATMUL_BF16, ATTN_MATMUL_AUTO, ATTN_MATMUL_INT8 } attn_matmul_precision;
int attn_gemm_set_precision(attn_matmul_precision p);
/* The starting value where ATTN_MATMUL does not set one (AUTO unless a command that knows its
 * work better says: `attn serve` batches, so INT8). Before the first attn_gemm_precision(). */
void attn_gemm_set_default_precision(attn_matmul_precision p);
/* "f32", "bf16", "int8" or "auto" -> the setting; -1 (with error naming the choices) otherwise. */
int attn_matmul_precision_parse(const char *name, attn_matmul_precision *out);
const char *attn_matmul_precision_name(attn_matmul_precision p);
attn_matmul_precision attn_gemm_precision(void);
bool attn_gemm_bf16_available(void); /* bf16 products possible here (AUTO uses them) */
const char *attn_gemm_bf16_engine(void); /* "AMX tiles", "AVX512-BF16" or NULL (none) */
/* Whether prompt products on quantized weights take the integer kernels: always in INT8; in
 * AUTO for K-quant weights in panels (`kquant_panels`) where bf16 would not run on AMX. */
bool attn_gemm_int8_prompts(bool kquant_panels);
/* Whether short prompts (matmul.c's SHORT_PROMPT_ROWS) on quantized weights in panels take
 * the decoding kernels (ATTN_QDOT's mode): in AUTO where bf16 would not run on AMX. */
bool attn_gemm_integer_short_prompts(void);

/* Tests: the most bytes of packed operand shared by all threads at once (larger ones are
 * done in slabs of the reduction); 0 restores the default. */
void attn_gemm_set_shared_limit(size_t bytes);

#endif
