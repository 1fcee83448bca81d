/* quantize.h - `attn quantize`: writes a GGUF whose weights are converted to a block-quantized
 * (or f16/bf16/f32) type, as llama.cpp's llama-quantize does, so that llama.cpp and attn both
 * load the result.
 *
 * Input: a GGUF of any tensor types attn can dequantize (quantized tensors are dequantized
 * first, i.e. requantized), or a Hugging Face checkpoint folder of a LLaMA-family (llama,
 * mistral) or GPT-2 model, which is first converted the way llama.cpp's convert_hf_to_gguf.py
 * does (ggml names, q/k rows permuted for LLaMA, Conv1D weights transposed for GPT-2,
 * hyperparameters and tokenizer as metadata).
 *
 * Types are named like llama-quantize's: each name is one of llama.cpp's llama_ftype values.
 * Which tensors change, and to what, follows llama-quantize (llama.cpp c392e50):
 *   - only 2-D (or higher) tensors whose name ends in "weight" are converted, except norms
 *     ("_norm.weight"), position embeddings, token-type embeddings and MoE gate inputs; all
 *     others keep their type and bytes (the 1-D norms and biases stay F32);
 *   - without `pure`, llama_tensor_get_type's policy picks per-tensor types: output.weight (or
 *     a tied token_embd.weight) becomes Q6_K (Q8_0 when its rows are not whole 256-blocks)
 *     unless the type is Q8_0; Q4_K_M / Q5_K_M give Q6_K to attn_v and ffn_down on the layers
 *     of use_more_bits (the first and last eighth, and every third in between); Q2_K and the
 *     Q3_K mixes raise attn_v, attn_output, ffn_down as llama.cpp does. q3_k, q4_k and q5_k are
 *     llama-quantize's aliases of q3_k_m, q4_k_m and q5_k_m;
 *   - with `pure`, every converted tensor gets the named type;
 *   - a row length that is not a multiple of the type's block falls back as llama.cpp does
 *     (Q4_K -> Q5_0, Q5_K -> Q5_1, Q6_K -> Q8_0; Q2_K/Q3_K -> Q4_0 where llama.cpp uses
 *     IQ4_NL, which attn cannot write; F16 when even that does not fit, also for the legacy
 *     types, which llama.cpp refuses): the progress note says so.
 * Metadata is copied in order; general.quantization_version (2) and general.file_type (the
 * ftype number) are moved to the end, and tensors are sorted like llama.cpp's loader (global
 * tensors by name, then each layer's by name), so re-quantizing a llama.cpp f32 file gives
 * llama-quantize's file byte for byte. The output is written atomically. */
#ifndef ATTN_FORMAT_QUANTIZE_H
#define ATTN_FORMAT_QUANTIZE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "core/quant.h"

typedef struct {
    const char *name; /* "q4_k_m" */
    int ftype;        /* llama.cpp's llama_ftype number, written as general.file_type */
    attn_qtype base;  /* the type of converted tensors before the policy */
} attn_quant_ftype;

/* The --type name (case-insensitive, aliases included); NULL if unknown. */
const attn_quant_ftype *attn_quant_ftype_find(const char *name);
/* Every accepted name, comma-separated, for messages and help. */
const char *attn_quant_ftype_names(void);

/* One tensor done (or kept). */
typedef struct {
    int index, count; /* 1-based position in the output, number of tensors */
    const char *name;
    int n_dims;
    const int64_t *ne; /* GGUF order, fastest first */
    attn_qtype from, to;
    size_t bytes_in, bytes_out;
    const char *note; /* why `to` is not the asked type (a fallback), else NULL */
} attn_quant_progress;

typedef struct {
    const attn_quant_ftype *ftype;
    bool pure;
    const char *vocab; /* a GGUF whose tokenizer.* metadata a Hugging Face input takes, or NULL */
    void (*progress)(void *user, const attn_quant_progress *p); /* may be NULL */
    void *user;
} attn_quant_params;

typedef struct {
    int n_tensors, n_converted, n_fallback;
    size_t bytes_in, bytes_out; /* tensor data only */
    bool no_tokenizer;          /* a checkpoint folder without any tokenizer: the GGUF has none, so
                                 * attn runs it on token ids but llama.cpp will not load it */
} attn_quant_stats;

/* Reads `in` (a .gguf file or a checkpoint folder), writes `out`. 0, or -1 with
 * attn_last_error() naming the file, tensor or key at fault. stats may be NULL. */
int attn_quantize_model(const char *in, const char *out, const attn_quant_params *p, attn_quant_stats *stats);

#endif
