/* gemm_acc.h - the matrix products of backward passes. attn_matmul overwrites its output;
 * gradients add up (several consumers of one activation, micro-batches of one step), so
 * these add into C instead, through gemm.c's packed GEMM (its micro-kernels accumulate into
 * C by design, so no temporary C is needed), unless told that C holds nothing yet (a weight
 * gradient's first writer: then C is written without being read). Each output element is
 * summed in a fixed order whatever the thread count, so results are bit-identical from 1
 * to N threads. */
#ifndef ATTN_GEMM_ACC_H
#define ATTN_GEMM_ACC_H

#include <stdbool.h>
#include <stdint.h>
#include "matmul.h"

/* y[M][n_out] += x[M][n_in] · W, for any layout and dtype attn_weight describes. With W
 * described in/out swapped and in_major flipped, this is dX += dY · Wᵀ. */
int attn_matmul_acc(float *y, const float *x, int64_t M, const attn_weight *w);

/* c[R][N] += aᵀ · b (with add; else c = aᵀ · b, c never read), where a is [M][R] and b is
 * [M][N] (f32, row-major): the weight gradient of a linear layer, summed over the M rows of
 * a batch. */
int attn_matmul_tn(float *c, const float *a, const float *b, int64_t M, int64_t R, int64_t N, bool add);

#endif
