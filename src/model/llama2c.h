/* llama2c.h - a LLaMA source over a llama2.c checkpoint (Karpathy's run.c format, the legacy
 * "version 0" .bin of export.py): a 7-int32 header, then every weight as f32 arrays in a fixed
 * order. The header gives the config; RoPE is interleaved (export.py permutes HF's q/k rows
 * back to Meta's order), theta 10000, RMSNorm eps 1e-5; a negative vocab_size means a separate
 * classifier follows, a positive one that the head is the embedding. See llama_source.h. */
#ifndef ATTN_MODEL_LLAMA2C_H
#define ATTN_MODEL_LLAMA2C_H

#include "llama_config.h"
#include "llama_source.h"

/* Maps the file and checks the header and the file size against each other before any
 * tensor is handed out. NULL with a one-line error naming the file on failure. */
attn_llama_source *attn_llama_source_llama2c(const char *path, attn_llama_config *c);

#endif
