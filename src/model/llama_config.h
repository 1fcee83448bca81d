/* llama_config.h - the hyperparameters of a LLaMA-family decoder (LLaMA 1-3, Mistral,
 * Qwen2, and the many models shaped like them), whatever file they come from: read here
 * from a Hugging Face config.json; a GGUF loader fills the same struct from its metadata and
 * calls attn_llama_config_check. */
#ifndef ATTN_MODEL_LLAMA_CONFIG_H
#define ATTN_MODEL_LLAMA_CONFIG_H

#include <stdbool.h>
#include <stdint.h>
#include "nn/rope.h"

typedef struct {
    char arch[16];           /* "llama", "mistral", "qwen2": for messages and info */
    int64_t n_layer, n_embd, n_ff, vocab;
    int64_t n_head, n_kv_head, head_dim; /* head_dim need not be n_embd / n_head */
    int64_t n_ctx;           /* positions the KV cache holds */
    float rms_eps;
    attn_rope_params rope;
    bool qkv_bias, o_bias, mlp_bias; /* which projections carry a bias (Qwen2: qkv) */
    bool tie_embeddings;     /* the LM head is the token embedding */
} attn_llama_config;

/* Reads a Hugging Face config.json (path to the file) whose model_type is llama, mistral or
 * qwen2; every field is type- and range-checked, and unsupported options (other activations,
 * rope scaling types, quantization_config) are refused with a message naming the key. */
int attn_llama_config_read(const char *path, attn_llama_config *c);

/* Checks the shape fields and their combinations; `what` names the source in messages. */
int attn_llama_config_check(const attn_llama_config *c, const char *what);

#endif
