/* attention_train.h - causal self-attention for training: a forward that keeps the
 * attention probabilities and the backward that uses them (llm.c's attention pair).
 * Memory is O(T²) per head (the saved probabilities); fine for the sequence lengths attn
 * trains on today. Multi-head and grouped-query layouts.
 *
 * qkv holds B*T rows of [q: n_heads*hd | k: n_kv_heads*hd | v: n_kv_heads*hd] (GPT-2's
 * fused c_attn output when n_kv_heads == n_heads); out is [B*T][n_heads*hd]; probs is
 * [B][n_heads][T][T]: row t holds positions 0..t and zeros after them. */
#ifndef ATTN_NN_ATTENTION_TRAIN_H
#define ATTN_NN_ATTENTION_TRAIN_H

#include <stdint.h>
#include "attention.h"

void attn_attention_train_forward(float *out, float *probs, const float *qkv, int64_t B, int64_t T,
                                  const attn_attention_shape *shape);

/* dqkv += the gradient of out with respect to qkv, given dout. Returns -1 only if its
 * per-thread row buffers cannot be allocated. */
int attn_attention_backward(float *dqkv, const float *dout, const float *qkv, const float *probs, int64_t B,
                            int64_t T, const attn_attention_shape *shape);

#endif
