/* hpanel.h - f32/f16/bf16 matrices [N][K] repacked into panels of 32 rows, [N/32][K][32]:
 * value (32p + j, k) at element (p*K + k)*32 + j. Prompts then run register tiles that read
 * each panel where it lies, 32 contiguous values a k (kernels.h gemm_hpanel), where the row
 * layout needed its weights transposed into the packed GEMM's panels first (12-16% of the
 * 1.1B f16's pp128), and decoding's GEMV reads each panel as one stream, x[k] broadcast
 * against 32 rows. Made at load where the AVX-512 kernels run (model/llama.c). */
#ifndef ATTN_HPANEL_H
#define ATTN_HPANEL_H

#include <stdbool.h>
#include <stdint.h>
#include "cpu.h"
#include "kernels.h"
#include "tensor.h"

/* Whether an [N][K] matrix of dtype dt is worth panels on isa. */
bool attn_hpanel_ok(attn_isa isa, attn_dtype dt, int64_t K, int64_t N);

/* Rows [r0, r0 + rows) of w (rows and r0 multiples of 32) into their panels in dst (the
 * whole matrix's panels), elements of dt's size. */
void attn_hpanel_pack(void *dst, const void *w, attn_dtype dt, int64_t K, int64_t r0, int64_t rows);

/* Row n as f32 (a tied embedding table's lookups). */
void attn_hpanel_row(float *dst, const void *panels, attn_dtype dt, int64_t K, int64_t n);

#endif
