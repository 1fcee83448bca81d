/* batch.h - continuous batching: several generations advanced together, one model forward
 * per step for all of them, so every weight matrix is read once for N sequences instead of N
 * times. The server's scheduler drives it; any program that serves several prompts can.
 *
 * A batch has N slots; slot i owns the model's sequence i (attn_model_set_sequences). A
 * request added to a free slot is prefilled in chunks (a long prompt does not stall the slots
 * that are decoding), then decoded a token per step. Each slot has its own sampler (seed,
 * penalties), stop strings and UTF-8-safe text stream (src/generate/stream.h), token budget
 * and callbacks. When a slot finishes, its cache is kept: the next request whose prompt starts
 * the same way (a chat's next turn) reuses it and prefills only the rest.
 *
 * A request may also score its prompt: the log-probability of each prompt token given those
 * before it (the prompt logprobs of OpenAI's echo, what lm-evaluation-harness reads), from
 * prefill chunks whose every row's logits the model returns.
 *
 * Single-threaded: one thread adds, cancels and steps (the server's scheduler thread); the
 * callbacks run on that thread, inside attn_batch_step() / attn_batch_cancel(). */
#ifndef ATTN_BATCH_H
#define ATTN_BATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "generate/sampler.h"
#include "model/model.h"
#include "tokenizer/bpe.h"

#define ATTN_BATCH_MAX_TOP_LOGPROBS 20

/* One sampled token with its log-probabilities: log softmax of the model's logits at
 * temperature 1 before penalties (what OpenAI's logprobs report: independent of sampling). */
typedef struct {
    int32_t token;
    float logprob;
    int n_top;                 /* alternatives asked for, most likely first */
    const int32_t *top_ids;
    const float *top_logprobs;
} attn_batch_token;

typedef struct {
    const char *finish_reason; /* "stop" (stop string or end-of-text), "length", "cancelled", "error" */
    const char *error;         /* for "error": the message */
    int n_prompt;              /* prompt tokens */
    int n_reused;              /* of those, found in the slot's cache and not recomputed */
    int n_generated;
} attn_batch_done;

typedef struct {
    int max_tokens;                /* 0: the prompt is only fed (and scored, with prompt_logprobs) */
    attn_sampler_params sampling;
    const char *const *stops;      /* copied; not printed */
    int n_stops;
    bool ignore_eos;
    int top_logprobs;              /* < 0: no logprobs; 0..ATTN_BATCH_MAX_TOP_LOGPROBS alternatives */
    bool prompt_logprobs;          /* with top_logprobs >= 0: also every prompt token's, through
                                    * on_prompt_token in order, the first with none (logprob NaN,
                                    * no alternatives); the whole prompt is computed (no cache reuse) */
    /* Text as it becomes final (whole UTF-8 characters, never part of a stop string); returning
     * non-zero cancels. on_token: each sampled token (with logprobs when asked); on_prompt_token:
     * each prompt token, with prompt_logprobs, all before the first sampled one. on_done: once,
     * at the end; the slot is free when it returns. Any may be NULL. */
    int (*on_text)(void *user, const char *text, size_t len);
    void (*on_token)(void *user, const attn_batch_token *t);
    void (*on_prompt_token)(void *user, const attn_batch_token *t);
    void (*on_done)(void *user, const attn_batch_done *d);
    void *user;
} attn_batch_params;

typedef struct attn_batch attn_batch;

/* Makes n_slots sequences of n_ctx positions each in m (0: the model's context), forgetting
 * its cache. prefill_chunk: the most prompt tokens one step feeds (all slots together).
 * tok may be NULL (no text, only tokens). NULL with the error set on failure. */
attn_batch *attn_batch_new(attn_model *m, const attn_tokenizer *tok, int n_slots, int64_t n_ctx, int prefill_chunk);
/* Steps that score a prompt compute with this attn_matmul_precision (core/gemm.h), then the
 * process's setting comes back: `attn serve` scores with AUTO where its one-byte default for
 * decoding stands (per-token logprobs ~80x closer to exact). -1 (the start): the process's. */
void attn_batch_set_scoring_precision(attn_batch *b, int precision);

/* Cancels what still runs (on_done "cancelled"), then frees. */
void attn_batch_free(attn_batch *b);

int attn_batch_n_slots(const attn_batch *b);
int attn_batch_n_active(const attn_batch *b);
int64_t attn_batch_n_ctx(const attn_batch *b);

/* Starts a generation in a free slot (the one whose cache shares the longest prefix with the
 * prompt). Returns the slot, or -1 with the error set: no free slot, an empty prompt or one
 * that leaves no room to generate in n_ctx, bad parameters, out of memory. The prompt is
 * copied. */
int attn_batch_add(attn_batch *b, const int32_t *prompt, int n_prompt, const attn_batch_params *p);

/* Ends the slot's generation now (on_done with "cancelled"). Nothing if the slot is free. */
void attn_batch_cancel(attn_batch *b, int slot);

/* One forward over every active slot, then samples the slots whose prompt is in and emits
 * their text. Returns the number of slots still active, or -1 with the error set when the
 * forward failed (those slots end with "error"). */
int attn_batch_step(attn_batch *b);

#endif
