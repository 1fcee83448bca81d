/* perplexity.h - perplexity of a model on a token stream, by llama.cpp's method: the stream
 * is cut into chunks of n_ctx tokens, each chunk runs from an empty cache, and only the
 * second half of each chunk is scored: tokens n_ctx/2 + 1 .. n_ctx - 1, each seeing at least
 * n_ctx/2 tokens of context (llama-perplexity's count, n_ctx - 1 - n_ctx/2 per chunk). PPL = exp(mean negative log-likelihood of the scored tokens). */
#ifndef ATTN_GENERATE_PERPLEXITY_H
#define ATTN_GENERATE_PERPLEXITY_H

#include <stdint.h>
#include "model/model.h"

typedef struct {
    double nll_sum;   /* sum of -log p over the scored tokens */
    int64_t scored;   /* how many tokens were scored */
    int64_t chunks;   /* chunks of n_ctx tokens */
    double ppl;       /* exp(nll_sum / scored) */
} attn_perplexity_result;

/* Called after each chunk with the running result (may be NULL). */
typedef void (*attn_perplexity_progress)(void *user, int64_t chunk, int64_t n_chunks, const attn_perplexity_result *r);

/* n_ctx: tokens per chunk (2 ... the model's context). Needs at least one whole chunk.
 * bos: -1, or the id that replaces the first token of every chunk as the model reads it (what
 * llama.cpp's perplexity does when the vocabulary adds BOS; that token is never scored). */
int attn_perplexity(attn_model *m, const int32_t *tokens, int64_t n, int64_t n_ctx, int32_t bos,
                    attn_perplexity_progress progress, void *user, attn_perplexity_result *out);

#endif
