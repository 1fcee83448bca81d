/* attention.h - scaled dot-product attention over a KV cache: causal (decoder
 * self-attention), with multi-head and grouped-query layouts. Per layer, values are rows
 * [n_kv_heads][max_pos][head_dim] (a head's values one contiguous stream); keys are stored
 * transposed in blocks of ATTN_KV_BLOCK positions, [n_kv_heads][blocks][head_dim][ATTN_KV_BLOCK],
 * so scores for a block come out of plain vector FMAs; only the positions in use are ever
 * touched (RSS grows with the context actually used). The attention call stores a pass's new rows, then attends. A cache
 * holds f32 or f16 (half the memory and half the bytes each decoding step streams). */
#ifndef ATTN_NN_ATTENTION_H
#define ATTN_NN_ATTENTION_H

#include <stddef.h>
#include <stdint.h>
#include "core/tensor.h"

typedef struct {
    int n_heads, n_kv_heads, head_dim;
    float scale; /* usually 1/sqrt(head_dim) */
} attn_attention_shape;

/* A model's whole cache: keys and values of max_pos positions for each (layer, sequence).
 * One anonymous mapping, so pages are touched only as positions fill: reserving many
 * sequences costs address space, not memory. */
typedef struct {
    char *base;
    size_t bytes;
    attn_dtype type; /* ATTN_F32 or ATTN_F16 */
    int n_layers, n_seqs;
    int64_t max_pos, k_elems, v_elems; /* per (layer, sequence) */
} attn_kv_cache;

/* Maps a zeroed cache of `type` (ATTN_F32 or ATTN_F16); -1 with an error (and *c untouched)
 * when it cannot. */
int attn_kv_cache_init(attn_kv_cache *c, attn_dtype type, int n_layers, int n_seqs, int64_t max_pos, int n_kv_heads,
                       int head_dim);
void attn_kv_cache_free(attn_kv_cache *c);
static inline void *attn_kv_keys(const attn_kv_cache *c, int layer, int seq) {
    return c->base + ((int64_t)layer * c->n_seqs + seq) * (c->k_elems + c->v_elems) * (int64_t)attn_dtype_size(c->type);
}
static inline void *attn_kv_values(const attn_kv_cache *c, int layer, int seq) {
    return (char *)attn_kv_keys(c, layer, seq) + c->k_elems * (int64_t)attn_dtype_size(c->type);
}

/* One sequence's part of a batched pass: its T new rows of keys and values (row stride
 * new_stride) go into its cache at positions pos0.., then its T queries (rows of stride
 * q_stride) attend to the cache; out is [T][n_heads*hd]. */
typedef struct {
    float *out;
    const float *q;
    int64_t q_stride;
    void *k_cache, *v_cache; /* of the type given to attn_attention_causal_many */
    const float *k_new, *v_new;
    int64_t new_stride;
    int64_t pos0, T;
} attn_attention_seq;

#define ATTN_ATTENTION_MAX_SEQS 64

/* out[t][h*hd..] = softmax(scale * q_t · K[0..pos0+t]) · V (causal) for every query of n <=
 * ATTN_ATTENTION_MAX_SEQS sequences, as one parallel job: a batch of single decoding rows
 * does not wait for the threads once per row. */
void attn_attention_causal_many(const attn_attention_seq *seqs, int n, int64_t max_pos, attn_dtype kv_type,
                                const attn_attention_shape *shape);

/* Per-thread score buffer length the caller must allow for: positions attended at most. */
int attn_attention_reserve(int64_t max_pos);

#endif
