/* gpt2_gguf.h - GPT-2 in a llama.cpp GGUF file (architecture "gpt2", as convert_hf_to_gguf.py
 * and attn quantize write it): the hyperparameters from gpt2.* metadata, and Hugging Face
 * tensor names mapped to ggml's. Unlike HF's Conv1D [in][out] weights, the matrices there are
 * [out][in] (nn.Linear's layout) and may be block-quantized; the head is output.weight. */
#ifndef ATTN_MODEL_GPT2_GGUF_H
#define ATTN_MODEL_GPT2_GGUF_H

#include <stddef.h>
#include "format/gguf.h"
#include "gpt2_config.h"
#include "llama_source.h"

/* Fills c from the metadata (llama.cpp's keys, its defaults for absent optional ones). */
int attn_gpt2_gguf_config(const attn_gguf *g, attn_gpt2_config *c);

/* ggml's name of a HF GPT-2 tensor name without the "transformer." prefix ("h.3.ln_1.bias" ->
 * "blk.3.attn_norm.bias", "wte.weight" -> "token_embd.weight", "lm_head.weight" ->
 * "output.weight"). 0, or -1 when the name is not one of GPT-2's. */
int attn_gpt2_gguf_name(const char *hf_name, char *out, size_t cap);

/* The tensor named by its HF name (see above): 1 found, 0 absent (out->name says what was
 * looked for). */
int attn_gpt2_gguf_find(const attn_gguf *g, const char *hf_name, attn_tensor_ref *out);

#endif
