/* model.h - what model families implement behind the public model interface
 * (<attn/model.h>: load, forward, batches): the ops table, the shell every family fills, and
 * the family loaders attn_model_load dispatches to. */
#ifndef ATTN_MODEL_H
#define ATTN_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <attn/model.h>
#include "core/tensor.h"

/* For writers of new model families (src/model/ only). model.c validates every call first,
 * so a family sees only items with distinct sequences, ids in the vocabulary and room in
 * their caches. */
typedef struct {
    /* Runs the items, each appended at n_past[item.seq] (model.c advances the positions after
     * success). */
    int (*forward)(attn_model *m, const attn_batch_item *items, int n_items);
    /* Replaces the caches with room for n_seq sequences of n_ctx positions (<= info.n_ctx);
     * on failure the old ones stay. */
    int (*set_sequences)(attn_model *m, int n_seq, int64_t n_ctx);
    void (*free)(attn_model *m); /* the family's state (impl), not m */
} attn_model_ops;

struct attn_model {
    attn_model_info info;
    int n_seq;        /* sequences the caches hold */
    int64_t seq_ctx;  /* positions each sequence can hold */
    attn_dtype kv_type; /* of the caches (attn_model_set_kv_type); families pass it to attn_kv_cache_init */
    int64_t *n_past;  /* [n_seq]: positions each sequence holds; sequence 0 is attn_model_forward's */
    struct attn_batch_segment *segs; /* [n_seq]: room for one pass's segments (batch_rows.h) */
    const attn_model_ops *ops;
    void *impl;
};

/* A family's model shell (NULL with an error when out of memory). Once info is filled the
 * family calls attn_model_default_kv(m), then attn_model_set_sequences(m, 1, 0);
 * attn_model_free(m) releases it at any point. */
attn_model *attn_model_new(const attn_model_ops *ops, void *impl);
/* The starting cache type (see attn_model_set_kv_type): f16 where info.quantized. */
void attn_model_default_kv(attn_model *m);

attn_model *attn_gpt2_load(const char *dir, const char *weights_path);
/* LLaMA-family (model_type llama, mistral, qwen2); weights_path may be missing when
 * dir/model.safetensors.index.json names the shards. */
attn_model *attn_llama_load(const char *dir, const char *weights_path);
/* Decoding lanes of LLaMA-family models (llama.c; on unless ATTN_LANES=0): tests compare
 * the two ways. */
void attn_llama_set_lanes(bool on);
/* A llama.cpp GGUF file of the "llama" architecture (any supported tensor types). */
attn_model *attn_llama_load_gguf(const char *path);
/* A llama.cpp GGUF file of the "gpt2" architecture (gpt2_gguf.h). */
attn_model *attn_gpt2_load_gguf(const char *path);
/* A llama2.c checkpoint (run.c's legacy .bin: header, then f32 weights). */
attn_model *attn_llama_load_llama2c(const char *path);

#endif
