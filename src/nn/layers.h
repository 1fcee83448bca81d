/* layers.h - forward passes of the layers shared by every model: norms, embeddings,
 * residuals, activations. Shapes are explicit: rows x dim, row-major. Parameters that the
 * file stores as f16/bf16 stay in that dtype where they are large (embedding tables) and
 * are widened to f32 at load where they are small (norm weights, biases). */
#ifndef ATTN_NN_LAYERS_H
#define ATTN_NN_LAYERS_H

#include <stdint.h>
#include "core/tensor.h"

/* out[r] = (x[r] - mean) / sqrt(var + eps) * w + b, over `dim`; out may equal x. */
void attn_layernorm(float *out, const float *x, const float *w, const float *b, int64_t rows, int64_t dim, float eps);
/* One row of it; mean_out and rstd_out (may be NULL) get what the backward needs. */
void attn_layernorm_row(float *out, const float *x, const float *w, const float *b, int64_t dim, float eps,
                        float *mean_out, float *rstd_out);


/* y += x over n elements. */
void attn_add(float *y, const float *x, int64_t n);

/* GPT-2's tanh-approximated GELU, in place. */
void attn_gelu_tanh(float *x, int64_t n);

/* log sum exp(x[i]) over n > 0 values (a row of logits): the log-softmax of x[i] is x[i] minus
 * it. Vector exponentials a chunk at a time, the chunks' sums added in double. */
float attn_log_sum_exp(const float *x, int64_t n);

#endif
