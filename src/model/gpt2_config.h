/* gpt2_config.h - GPT-2's hyperparameters and their config.json form, read and written in
 * one place for inference (gpt2.c), random checkpoints (gpt2_init.c) and training
 * (src/train/). Reading checks every field's type and range and the combinations. */
#ifndef ATTN_MODEL_GPT2_CONFIG_H
#define ATTN_MODEL_GPT2_CONFIG_H

#include <stdbool.h>
#include <stdint.h>
#include "core/tensor.h"

typedef struct {
    int64_t n_layer, n_head, n_embd, n_inner, n_ctx, vocab; /* n_inner 0 => 4 * n_embd */
    float eps;                                             /* LayerNorm epsilon (1e-5) */
    bool scale_attn_weights;                               /* 1/sqrt(head_dim); GPT-2: true */
    bool scale_attn_by_inverse_layer_idx;                  /* HF option; GPT-2 itself: false */
    /* written to config.json, informational when read */
    float dropout;    /* embd_pdrop = resid_pdrop */
    int64_t eos_id;   /* bos/eos token id, -1 = none */
    attn_dtype dtype; /* torch_dtype of the weights */
} attn_gpt2_config;

/* GPT-2 small's values with the given shape fields left as they are set by the caller. */
void attn_gpt2_config_defaults(attn_gpt2_config *c);
/* Reads a config.json (path to the file); fills every field. */
int attn_gpt2_config_read(const char *path, attn_gpt2_config *c);
/* Writes dir/config.json atomically in Hugging Face's GPT2LMHeadModel form. */
int attn_gpt2_config_write(const char *dir, const attn_gpt2_config *c);
/* Checks the shape fields (positive, width divisible by heads); fills n_inner if 0. */
int attn_gpt2_config_check(attn_gpt2_config *c, const char *what);

#endif
