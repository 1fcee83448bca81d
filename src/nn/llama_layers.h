/* llama_layers.h - the two layers LLaMA-family models add to the shared set in layers.h:
 * RMSNorm (Zhang & Sennrich 2019) and the SwiGLU gate of the feed-forward block (Shazeer
 * 2020). Shapes are explicit: rows x dim, row-major, f32. */
#ifndef ATTN_NN_LLAMA_LAYERS_H
#define ATTN_NN_LLAMA_LAYERS_H

#include <stdint.h>

/* out[r] = w * (x[r] / sqrt(mean(x[r]^2) + eps)) over `dim`, the product order HF uses; out
 * may equal x. */
void attn_rmsnorm(float *out, const float *x, const float *w, int64_t rows, int64_t dim, float eps);

/* gate[i] = silu(gate[i]) * up[i] over n elements, silu(g) = g / (1 + exp(-g)). */
void attn_swiglu(float *gate, const float *up, int64_t n);

#endif
