/* attn/model.h - one interface for every decoder model attn runs (GPT-2, LLaMA, Mistral,
 * Qwen2, from safetensors, GGUF or llama2.c files): load from a checkpoint, then feed tokens
 * and read logits. A model keeps its own KV cache; forward appends at the current position,
 * so prefill and decode are the same call. One call at a time, in the whole process: the
 * kernels inside a call run on the library's one pool of threads (<attn/core.h>). */
#ifndef ATTN_PUBLIC_MODEL_H
#define ATTN_PUBLIC_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <attn/core.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct attn_model attn_model;

typedef struct {
    const char *family; /* "gpt2", "llama", "mistral", "qwen2" */
    int64_t n_ctx, vocab_size, n_layer, n_embd, n_head;
    int64_t n_params;
    size_t weight_bytes; /* bytes of the weights as stored */
    size_t decode_bytes; /* of those, the bytes a decoding step reads: all but an untied embedding
                            table (and GPT-2's position table), of which it reads a row */
    bool quantized;      /* the large matrices are block-quantized (weight_type names the type) */
    attn_dtype dtype;    /* dtype of the large matrices (when not block-quantized) */
    const char *weight_type; /* how the large matrices are stored, for people: "F32", "Q4_1"... */
    const char *origin;  /* a note from the checkpoint's metadata (e.g. "random weights"), or NULL */
    const char *chat_template; /* the checkpoint's Jinja chat template (GGUF tokenizer.chat_template or
                                  HF chat_template.jinja / tokenizer_config.json), or NULL; a loader
                                  sets a malloc'd copy, attn_model_free frees it */
} attn_model_info;

/* path: a directory with config.json and model.safetensors (or a sharded checkpoint's
 * model.safetensors.index.json), the weights file with config.json beside it, or a
 * llama- or gpt2-architecture .gguf file, or a llama2.c .bin checkpoint. NULL with an error naming the
 * file and field on failure. */
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

/* ---- several sequences in one model (continuous batching) ----
 * A model starts with one sequence (number 0), the one the calls above use. Each sequence
 * has its own KV cache and position; a batch runs tokens of several sequences through one
 * forward, so every weight matrix is read once for all of them. */
typedef struct {
    int seq;               /* 0 .. n_seq-1; at most one item per sequence in a batch */
    const int32_t *tokens; /* appended at the sequence's current position */
    int64_t n;             /* >= 1 */
    float *logits;         /* [vocab] floats for the item's last token, or NULL */
    bool all_logits;       /* logits is [n][vocab]: every token's (scoring a prompt) */
} attn_batch_item;

/* Makes room for n_seq sequences (>= 1), each holding up to n_ctx positions (0: the model's
 * context). Forgets every cached position. Cache pages are touched only as positions fill. */
int attn_model_set_sequences(attn_model *m, int n_seq, int64_t n_ctx);
int attn_model_n_sequences(const attn_model *m);
int64_t attn_model_seq_n_past(const attn_model *m, int seq); /* 0 for a sequence that does not exist */
int attn_model_seq_truncate(attn_model *m, int seq, int64_t n_past); /* 0 frees the sequence */
/* The KV cache's element type: ATTN_F32, or ATTN_F16 (half the memory, and decoding streams
 * half the bytes per cached position: at a few thousand positions the cache outweighs a small
 * model; llama.cpp's default). A model starts in f16 when its large matrices are
 * block-quantized (their rounding is far larger than f16's), else in f32 (exact). Setting it
 * keeps the sequences and their room but forgets every cached position; other types are
 * refused (-1). */
int attn_model_set_kv_type(attn_model *m, attn_dtype type);
attn_dtype attn_model_kv_type(const attn_model *m);
/* Runs every item (validated first: sequence numbers, ids, context room; an error changes
 * nothing). Results equal running each item alone with attn_model_forward, to float rounding:
 * stacked rows are summed in another order (a single item takes the very same path); with
 * block-quantized weights and the integer dot products (core/quant_matmul.h), a matmul of up
 * to 16 rows quantizes its activations and a larger one does not, so a row's logits also
 * depend on how many rows share its pass (~1e-4 of the largest logit; ATTN_QDOT=f32 removes
 * that). Items may mix prompt chunks and single decode tokens, in any order. */
int attn_model_forward_batch(attn_model *m, const attn_batch_item *items, int n_items);

#ifdef __cplusplus
}
#endif

#endif
