/* quantize_src.h - what `attn quantize` reads, whatever the input format: the tensors as the
 * GGUF will hold them (ggml names and shapes), a way to get each one as f32 in GGUF layout,
 * the metadata to copy, and the few hyperparameters llama.cpp's type policy looks at.
 * quantize.c drives it; quantize_gguf (in quantize.c) and quantize_hf.c implement it. */
#ifndef ATTN_FORMAT_QUANTIZE_SRC_H
#define ATTN_FORMAT_QUANTIZE_SRC_H

#include <stdbool.h>
#include <stdint.h>
#include "format/gguf.h"

typedef struct {
    char name[ATTN_GGUF_MAX_NAME + 1];
    int n_dims;
    int64_t ne[ATTN_GGUF_MAX_DIMS]; /* fastest first; 1 beyond n_dims */
    int64_t n_elements;
    attn_qtype type; /* as the output would hold it unconverted */
    const void *raw; /* its bytes in GGUF layout when they can be copied as they are, else NULL */
    size_t nbytes;   /* its size in the input (that of raw when raw is set) */
} qsrc_tensor;

typedef struct qsrc qsrc;
struct qsrc {
    const char *path;
    char arch[32];                /* general.architecture */
    int64_t n_layer, n_head, n_head_kv, n_expert;
    bool no_tokenizer;            /* the input has none: the output gets none either */
    qsrc_tensor *t;
    int n;
    /* Every metadata key but general.file_type and general.quantization_version. */
    int (*put_meta)(const qsrc *s, attn_gguf_writer *w);
    /* Tensor i as n_elements floats in GGUF layout. */
    int (*to_f32)(const qsrc *s, int i, float *dst);
    void (*close)(qsrc *s);
    void *impl;
};

/* A Hugging Face checkpoint folder (llama/mistral or gpt2 config.json). `vocab`: a GGUF whose
 * tokenizer.* keys to copy instead of converting the folder's tokenizer.json (may be NULL). */
qsrc *qsrc_open_hf(const char *dir, const char *vocab);
/* Copies every tokenizer.* key of the GGUF `path` (for HF inputs whose tokenizer attn cannot
 * convert, e.g. SentencePiece's tokenizer.model); checks the token count against n_vocab. */
int qsrc_copy_vocab(const char *path, int64_t n_vocab, attn_gguf_writer *w);

#endif
