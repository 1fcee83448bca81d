/* attention_train.h - attention for training: a forward that keeps only each row's softmax
 * log-sum-exp, and the backward that recomputes the probabilities from it
 * (FlashAttention's trade: one extra QKᵀ product per head instead of B·H·Tq·Tk saved
 * floats, 2.4 GB for GPT-2 124M at B=4, T=1024). Multi-head and grouped-query layouts.
 *
 * The general form (attn_attention_args) covers every attention of the 2017 Transformer:
 *   - decoder self-attention: causal, queries and keys from one fused qkv tensor;
 *   - encoder self-attention: not causal;
 *   - cross-attention: queries from the decoder rows, keys/values from the encoder output;
 * each over B sequences padded to Tq (queries) and Tk (keys), with per-sequence valid
 * lengths. Query t of sequence b (t < q_len[b]) sees the keys u < k_len[b], and only
 * u <= t when causal. Padding rows (t >= q_len[b]) output zeros and get no gradient: a
 * model whose loss ignores them (targets -1, keys masked) has exactly the gradients of one
 * that computed them. Work skips the padding. */
#ifndef ATTN_NN_ATTENTION_TRAIN_H
#define ATTN_NN_ATTENTION_TRAIN_H

#include <stdbool.h>
#include <stdint.h>
#include "attention.h"

typedef struct {
    /* Query row t of sequence b starts at q + (b·Tq + t)·q_ld and holds head h at columns
     * [h·hd, (h+1)·hd); key and value rows likewise at k, v + (b·Tk + u)·kv_ld, kv head g
     * at [g·hd, (g+1)·hd). The gradients passed to the backward use the same layout. */
    const float *q, *k, *v;
    int64_t q_ld, kv_ld;
    int64_t B, Tq, Tk;
    const int32_t *q_len, *k_len; /* [B] valid lengths (1..Tq, 1..Tk), or NULL: all rows valid */
    bool causal;
    attn_attention_shape shape;
} attn_attention_args;

/* out [B·Tq][n_heads·hd], lse [B][n_heads][Tq] (0 on padding rows). */
void attn_attention_forward_args(float *out, float *lse, const attn_attention_args *a);
/* dq, dk, dv += the gradients of out, given dout and the forward's out and lse (any of
 * them NULL: not wanted). Returns -1 only if its per-thread buffers cannot be allocated. */
int attn_attention_backward_args(float *dq, float *dk, float *dv, const float *dout, const float *out,
                                 const float *lse, const attn_attention_args *a);

/* The fused causal self-attention GPT-2 trains with: qkv holds B*T rows of
 * [q: n_heads*hd | k: n_kv_heads*hd | v: n_kv_heads*hd] (GPT-2's c_attn output when
 * n_kv_heads == n_heads); out is [B*T][n_heads*hd]; lse is [B][n_heads][T]. */
attn_attention_args attn_attention_fused(const float *qkv, int64_t B, int64_t T, const int32_t *lens, bool causal,
                                         const attn_attention_shape *shape);
void attn_attention_train_forward(float *out, float *lse, const float *qkv, int64_t B, int64_t T,
                                  const attn_attention_shape *shape);
/* dqkv += the gradient of out with respect to qkv. */
int attn_attention_backward(float *dqkv, const float *dout, const float *out, const float *qkv, const float *lse,
                            int64_t B, int64_t T, const attn_attention_shape *shape);

#endif
