/* attention_train.h - causal self-attention for training: a forward that keeps only each
 * row's softmax log-sum-exp, and the backward that recomputes the probabilities from it
 * (FlashAttention's trade: one extra QKᵀ product per head instead of B·H·T² saved floats,
 * 2.4 GB for GPT-2 124M at B=4, T=1024). Multi-head and grouped-query layouts.
 *
 * qkv holds B*T rows of [q: n_heads*hd | k: n_kv_heads*hd | v: n_kv_heads*hd] (GPT-2's
 * fused c_attn output when n_kv_heads == n_heads); out is [B*T][n_heads*hd]; lse is
 * [B][n_heads][T]. */
#ifndef ATTN_NN_ATTENTION_TRAIN_H
#define ATTN_NN_ATTENTION_TRAIN_H

#include <stdint.h>
#include "attention.h"

void attn_attention_train_forward(float *out, float *lse, const float *qkv, int64_t B, int64_t T,
                                  const attn_attention_shape *shape);

/* dqkv += the gradient of out with respect to qkv, given dout and the forward's out and
 * lse. Returns -1 only if its per-thread buffers cannot be allocated. */
int attn_attention_backward(float *dqkv, const float *dout, const float *out, const float *qkv, const float *lse,
                            int64_t B, int64_t T, const attn_attention_shape *shape);

#endif
