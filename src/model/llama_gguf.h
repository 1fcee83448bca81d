/* llama_gguf.h - a LLaMA-family source over a GGUF file (llama.cpp's "llama" architecture):
 * opens and validates the file, fills the config from its metadata, and binds tensors by
 * ggml name, quantized ones included (see llama_source.h). */
#ifndef ATTN_MODEL_LLAMA_GGUF_H
#define ATTN_MODEL_LLAMA_GGUF_H

#include "llama_config.h"
#include "llama_source.h"

/* NULL with an error naming the file and metadata key on failure. */
attn_llama_source *attn_llama_source_gguf(const char *path, attn_llama_config *c);
/* The ggml name of a tensor as a printf format ("blk.%d.attn_q.weight"; %d is the layer),
 * for writers of llama-architecture GGUF files (attn quantize). */
const char *attn_llama_gguf_name(attn_llama_tensor id);

/* The GGUF tensor `name` as the models see tensors (row-major dims, plain dtype or block
 * type, loadable when attn computes with its type): 1 found, 0 absent (out->name set). */
struct attn_gguf;
int attn_gguf_tensor_ref(const struct attn_gguf *g, const char *name, attn_tensor_ref *out);

#endif
