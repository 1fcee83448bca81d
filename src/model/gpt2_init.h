/* gpt2_init.h - writes a randomly initialised GPT-2 checkpoint in Hugging Face's layout
 * (config.json + model.safetensors with transformer.* names and Conv1D [in][out]
 * matrices), initialised as HF does: N(0, 0.02) matrices and embeddings, zero biases,
 * unit LayerNorms. Used for the default model before a trained one exists, and for tests. */
#ifndef ATTN_MODEL_GPT2_INIT_H
#define ATTN_MODEL_GPT2_INIT_H

#include <stdint.h>
#include "core/tensor.h"

#include "gpt2_config.h"

/* Creates `dir` if needed and writes config.json and model.safetensors atomically, the
 * weights in cfg->dtype. */
int attn_gpt2_write_random(const char *dir, const attn_gpt2_config *cfg, uint64_t seed);

#endif
