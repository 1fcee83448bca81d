/* backward.h - training passes of the layers every model shares: a forward that keeps what
 * its backward needs, and the backward itself, side by side (llm.c's layer_forward /
 * layer_backward pairs). Shapes are explicit, tensors f32 row-major.
 *
 * Convention: every backward ADDS into the gradients it produces (dx += ..., dw += ...).
 * An activation read by two layers (the residual stream) and a parameter over several
 * micro-batches then sum their gradients with no extra code; whoever starts a new sum
 * zeroes the buffer. A NULL gradient pointer means "not wanted" and is skipped.
 *
 * Causal attention's pair lives in attention_train.h. */
#ifndef ATTN_NN_BACKWARD_H
#define ATTN_NN_BACKWARD_H

#include <stdint.h>
#include "core/matmul.h"

/* LayerNorm over `dim`, also storing each row's mean and 1/sqrt(var + eps). */
void attn_layernorm_train(float *out, float *mean, float *rstd, const float *x, const float *w, const float *b,
                          int64_t rows, int64_t dim, float eps);
void attn_layernorm_backward(float *dx, float *dw, float *db, const float *dout, const float *x, const float *w,
                             const float *mean, const float *rstd, int64_t rows, int64_t dim);

/* out[b*T + t] = wte[ids[b*T + t]] + wpe[t] (wpe may be NULL: no learned positions).
 * ids must already be range-checked. */
void attn_embed_train(float *out, const int32_t *ids, const float *wte, const float *wpe, int64_t B, int64_t T,
                      int64_t C);
void attn_embed_backward(float *dwte, float *dwpe, const float *dout, const int32_t *ids, int64_t B, int64_t T,
                         int64_t C);
/* The same with the token rows scaled: out = scale·wte[id] + wpe[t] (the 2017 Transformer
 * multiplies its embeddings by sqrt(d_model)); the backward adds scale·dout into dwte. */
void attn_embed_scaled_train(float *out, const int32_t *ids, const float *wte, float scale, const float *wpe,
                             int64_t B, int64_t T, int64_t C);
void attn_embed_scaled_backward(float *dwte, float *dwpe, const float *dout, const int32_t *ids, float scale,
                                int64_t B, int64_t T, int64_t C);

/* y[rows][n_out] = x · W + b (b may be NULL), W any attn_weight layout. The backward wants
 * W as f32: dx += dy · Wᵀ, dW += xᵀ · dy in W's own layout (dW = xᵀ · dy with write_dw),
 * db += Σ_rows dy. */
int attn_linear_forward(float *y, const float *x, int64_t rows, const attn_weight *w, const float *b);
int attn_linear_backward(float *dx, float *dw, float *db, const float *dy, const float *x, int64_t rows,
                         const attn_weight *w, bool write_dw);

/* out = gelu_tanh(x) (GPT-2's gelu_new); the backward needs the input x. */
void attn_gelu_tanh_train(float *out, const float *x, int64_t n);
void attn_gelu_tanh_backward(float *dx, const float *x, const float *dout, int64_t n);

/* out = max(x, 0); dx += dout where x > 0 (torch's relu backward). */
void attn_relu_train(float *out, const float *x, int64_t n);
void attn_relu_backward(float *dx, const float *x, const float *dout, int64_t n);

/* Residual: out = a + b; da += dout, db += dout. */
void attn_add_train(float *out, const float *a, const float *b, int64_t n);
void attn_add_backward(float *da, float *db, const float *dout, int64_t n);

/* Inverted dropout: each element is kept with probability 1 - p (mask[i] = 1) and scaled
 * by 1/(1 - p), else zeroed. The mask is a pure function of (seed, i), so a step repeats
 * exactly from its seed, whatever the thread count. 0 <= p < 1. */
void attn_dropout_forward(float *out, uint8_t *mask, const float *x, int64_t n, float p, uint64_t seed);
void attn_dropout_backward(float *dx, const float *dout, const uint8_t *mask, int64_t n, float p);

/* Softmax cross-entropy of each row of logits[rows][V] against targets (-1 = ignored
 * row). With label smoothing s the target distribution is (1 - s)·onehot + s/V, as in
 * PyTorch's cross_entropy(label_smoothing=s). Stores each row's loss (0 for ignored
 * rows) and log-sum-exp of its logits; returns the number of counted rows. */
int64_t attn_cross_entropy_forward(float *row_loss, float *lse, const float *logits, const int32_t *targets,
                                   int64_t rows, int64_t V, float smoothing);
/* dlogits += drow · (softmax(logits) - target distribution) for counted rows (or = when
 * dlogits is logits itself: the logits are then overwritten, ignored rows zeroed), where drow
 * is the gradient of each counted row's loss (d mean / d row = dloss / count). */
void attn_cross_entropy_backward(float *dlogits, const float *logits, const float *lse, const int32_t *targets,
                                 int64_t rows, int64_t V, float smoothing, float drow);

#endif
