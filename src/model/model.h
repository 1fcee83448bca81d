/* model.h - one interface for every decoder model attn runs: load from a checkpoint, then
 * feed tokens and read logits. A model keeps its own KV cache; forward appends at the
 * current position, so prefill and decode are the same call. */
#ifndef ATTN_MODEL_H
#define ATTN_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "core/tensor.h"

typedef struct attn_model attn_model;

typedef struct {
    const char *family; /* "gpt2", "llama", "mistral", "qwen2" */
    int64_t n_ctx, vocab_size, n_layer, n_embd, n_head;
    int64_t n_params;
    size_t weight_bytes; /* bytes of the weights as stored (what decoding reads) */
    attn_dtype dtype;    /* dtype of the large matrices (when not block-quantized) */
    const char *weight_type; /* how the large matrices are stored, for people: "F32", "Q4_1"... */
    const char *origin;  /* a note from the checkpoint's metadata (e.g. "random weights"), or NULL */
} attn_model_info;

/* path: a directory with config.json and model.safetensors (or a sharded checkpoint's
 * model.safetensors.index.json), the weights file with config.json beside it, or a
 * llama-architecture .gguf file. NULL with an error naming the file and field on failure. */
attn_model *attn_model_load(const char *path);
void attn_model_free(attn_model *m);
const attn_model_info *attn_model_get_info(const attn_model *m);

int64_t attn_model_n_past(const attn_model *m);
void attn_model_reset(attn_model *m);
int attn_model_truncate(attn_model *m, int64_t n_past); /* forget positions >= n_past */

/* Runs n tokens at positions n_past.. and appends them to the cache. logits receives
 * [vocab] floats for the last token, or [n][vocab] when all is true (may be NULL to only
 * fill the cache). Errors: token ids out of range, context overflow. */
int attn_model_forward(attn_model *m, const int32_t *tokens, int64_t n, float *logits, bool all);

/* For writers of new model families (src/model/ only). */
typedef struct {
    int (*forward)(attn_model *m, const int32_t *tokens, int64_t n, float *logits, bool all);
    void (*free)(attn_model *m);
} attn_model_ops;

struct attn_model {
    attn_model_info info;
    int64_t n_past;
    const attn_model_ops *ops;
    void *impl;
};

attn_model *attn_gpt2_load(const char *dir, const char *weights_path);
/* LLaMA-family (model_type llama, mistral, qwen2); weights_path may be missing when
 * dir/model.safetensors.index.json names the shards. */
attn_model *attn_llama_load(const char *dir, const char *weights_path);
/* A llama.cpp GGUF file of the "llama" architecture (any supported tensor types). */
attn_model *attn_llama_load_gguf(const char *path);

#endif
