/* convert.h - rewrites a safetensors file with its floating-point tensors in another dtype
 * (e.g. an f32 training checkpoint as f16 for shipping), keeping names, shapes and
 * metadata; tensors of dtypes attn cannot load are refused. */
#ifndef ATTN_FORMAT_CONVERT_H
#define ATTN_FORMAT_CONVERT_H

#include "core/tensor.h"

/* Reads `in`, writes `out` atomically with every F32/F16/BF16 tensor converted to `to`. */
int attn_safetensors_convert(const char *in, const char *out, attn_dtype to);

#endif
