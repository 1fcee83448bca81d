/* attn/generate.h - the text generation loop: prefill the prompt, then sample one token at a
 * time, stream decoded text through stop-string and UTF-8 handling, and report timings.
 * Shared by `attn generate`, `attn bench` and `attn chat` (the server batches its own loop). */
#ifndef ATTN_PUBLIC_GENERATE_H
#define ATTN_PUBLIC_GENERATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <attn/model.h>
#include <attn/sampler.h>
#include <attn/tokenizer.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    int max_tokens;                 /* tokens to generate at most */
    attn_sampler_params sampling;
    const char *const *stops;       /* stop strings (not printed) */
    int n_stops;
    bool ignore_eos;                /* keep going past end-of-text */
    /* Append the prompt after the positions already in the model's cache (sequence 0) instead
     * of starting over: a chat feeds only what follows the turns the cache holds. The
     * penalties then see only this prompt and what is generated. */
    bool keep_cache;
    /* Called with text as it becomes final (whole UTF-8 characters, never part of a stop
     * string). May be NULL. Returning non-zero stops generation (e.g. the client left). */
    int (*on_text)(void *user, const char *text, size_t len);
    void *user;
} attn_generate_params;

typedef struct {
    int n_prompt, n_generated;
    double prompt_s, gen_s;         /* prefill time; time of the sampled tokens after the first */
    const char *finish_reason;      /* "length", "stop" (stop string or end-of-text), "cancelled", "error" (out of memory) */
    int32_t *tokens;                /* generated ids (malloc'd: attn_generate_result_free) */
    char *text;                     /* final text (malloc'd: attn_generate_result_free) */
    size_t text_len;
} attn_generate_result;

void attn_generate_defaults(attn_generate_params *p);

/* Resets the model's cache (unless keep_cache), runs the prompt and generates. tok may be
 * NULL (then no text, only token ids). Returns 0, or -1 with an error (context overflow, bad ids...). */
int attn_generate(attn_model *m, const attn_tokenizer *tok, const int32_t *prompt, int n_prompt,
                  const attn_generate_params *p, attn_generate_result *r);
/* Frees what attn_generate allocated in r (tokens, text) and clears them; r itself is the caller's. */
void attn_generate_result_free(attn_generate_result *r);

#ifdef __cplusplus
}
#endif

#endif
