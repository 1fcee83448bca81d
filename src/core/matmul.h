/* matmul.h - y = x · W + b for every weight layout and dtype the models use. One call
 * picks the path: GEMV (streams W once per row; decoding), dot products (a prompt's rows
 * with a plain [N][K] matrix) or packed GEMM (the rest of prompts, training), split across
 * the thread pool. */
#ifndef ATTN_MATMUL_H
#define ATTN_MATMUL_H

#include <stdbool.h>
#include <stdint.h>
#include "tensor.h"

typedef struct {
    const void *data;
    attn_dtype dtype;
    int64_t n_in, n_out; /* K and N */
    bool in_major;       /* stored [n_in][n_out] (HF Conv1D); else [n_out][n_in] (nn.Linear) */
    int qtype;           /* 0: plain `dtype`; else a block-quantized attn_qtype (core/quant.h), stored
                          * [n_out][n_in] in rows of blocks as GGUF does (in_major must be false) */
    const void *panels;  /* NULL, or the same quantized matrix repacked by attn_qpanel_pack (core/qpanel.h),
                          * which the integer kernels and the GEMM's packer then read instead of data;
                          * for a plain one, its 32-row panels (core/hpanel.h), read instead of data
                          * by every product */
} attn_weight;

/* Row n of W [n_out][n_in] as f32, whichever layout holds it (rows, quantized or plain
 * panels): a tied embedding table's lookups. */
void attn_weight_row(float *dst, const attn_weight *w, int64_t n);

/* Bytes of one of w's rows as the file stores it (its panels hold about as many). */
size_t attn_weight_row_bytes(const attn_weight *w);

/* y[M][n_out] = x[M][n_in] · W + bias (bias may be NULL). x and y do not overlap.
 * Returns -1 only when its packing buffers cannot be allocated. */
int attn_matmul(float *y, const float *x, int64_t M, const attn_weight *w, const float *bias);

/* How decoding multiplies quantized weights, for the logs: "exact f32", "one-byte integer
 * activations" or "two-byte integer activations" (--matmul and ATTN_QDOT decide). */
const char *attn_matmul_decoding_desc(void);

/* Products of 2-512 rows with f32/f16/bf16 matrices stored [N][K] run as dot products where
 * the ISA has them (kernels.h's gemm_nk_dot; ATTN_DOT=0 turns that off for a run); false
 * sends them to the packed GEMM. Both are exact f32. */
void attn_matmul_set_dot(bool on);

/* ys[i] = x · ws[i] + biases[i] for n <= 4 weights with the same n_in (the query, key and
 * value projections; gate and up): what n attn_matmul calls give, but while decoding with
 * quantized weights of one block size x is quantized once and the rows of all n products
 * are shared out among the threads in one job (one wait instead of n). */
int attn_matmul_many(int n, float *const *ys, const float *x, int64_t M, const attn_weight *const *ws,
                     const float *const *biases);

/* Per-thread scratch memory that grows on demand and is reused, so steady-state calls do
 * not allocate. `slot` separates independent buffers of one thread: 0, 1 and 4 the GEMM's
 * packing, 2 and 3 attention's. NULL if out of memory. */
float *attn_scratch(int thread, int slot, size_t floats);
/* Grows `slot` to `floats` for every thread the next job can run on; -1 if out of memory. */
int attn_scratch_reserve(int slot, size_t floats);

#endif
