/* llama_source.h - where a LLaMA-family model's tensors come from. The model asks for
 * tensors by logical name (the token embedding, layer 3's query projection...) and checks
 * their shapes; a source maps those names to one file format's names and layouts. Today's
 * source reads Hugging Face safetensors (single file or sharded); a GGUF source adds its own
 * name table ("blk.3.attn_q.weight"...), reverses GGUF's innermost-first dimensions into the
 * row-major order below, and tells the model to use the interleaved rope layout where
 * llama.cpp's converter permuted q/k. */
#ifndef ATTN_MODEL_LLAMA_SOURCE_H
#define ATTN_MODEL_LLAMA_SOURCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "core/tensor.h"

typedef enum {
    /* one per model */
    ATTN_LT_TOKEN_EMBD, ATTN_LT_OUTPUT_NORM, ATTN_LT_OUTPUT,
    /* one per layer */
    ATTN_LT_ATTN_NORM, ATTN_LT_Q, ATTN_LT_K, ATTN_LT_V, ATTN_LT_O,
    ATTN_LT_Q_BIAS, ATTN_LT_K_BIAS, ATTN_LT_V_BIAS, ATTN_LT_O_BIAS,
    ATTN_LT_FFN_NORM, ATTN_LT_GATE, ATTN_LT_UP, ATTN_LT_DOWN,
    ATTN_LT_GATE_BIAS, ATTN_LT_UP_BIAS, ATTN_LT_DOWN_BIAS,
    ATTN_LT_COUNT
} attn_llama_tensor;

/* A tensor as the model sees it: row-major, outermost dimension first, so a matrix is
 * [out][in] (nn.Linear's layout) whatever the file's convention. */
typedef struct {
    char name[200];         /* as the file names it (also filled when absent, for messages) */
    const char *file;       /* the file holding it */
    bool loadable;          /* a dtype attn computes with */
    const char *dtype_name; /* as the file names it */
    attn_dtype dtype;
    int qtype;              /* 0, or a block-quantized attn_qtype (core/quant.h); dtype is then unused */
    int ndim;
    int64_t shape[ATTN_MAX_DIMS];
    const void *data; /* may be misaligned: read through attn_to_f32 or the kernels */
    size_t nbytes;
} attn_tensor_ref;

typedef struct attn_llama_source attn_llama_source;
struct attn_llama_source {
    /* 1: found, *out filled; 0: the checkpoint has no such tensor (out->name says what was
     * looked for). `layer` is ignored for the per-model tensors. */
    int (*find)(const attn_llama_source *s, attn_llama_tensor id, int layer, attn_tensor_ref *out);
    void (*close)(attn_llama_source *s);
    /* Optional: the model no longer reads a tensor's bytes (it keeps a copy of its own), so
     * a mapped file's pages may leave memory. */
    void (*release)(const attn_llama_source *s, const void *data, size_t nbytes);
    const char *path;   /* the weights file or index, for messages */
    const char *origin; /* a note from the checkpoint's metadata (attn.origin), or NULL */
    char *chat_template; /* a GGUF's tokenizer.chat_template (malloc'd), or NULL; the model takes
                          * it over as info.chat_template (model.c reads HF's beside safetensors) */
    void *impl;
};

/* Hugging Face safetensors: a .safetensors file or a model.safetensors.index.json. Names
 * with or without the "model." prefix (LlamaForCausalLM or a bare LlamaModel). */
attn_llama_source *attn_llama_source_hf(const char *weights_path);

static inline void attn_llama_source_close(attn_llama_source *s) {
    if (s) s->close(s);
}

#endif
