/* attn/sampler.h - turns one step's logits into the next token: the sampler chain (penalties,
 * top-k, temperature, top-p, min-p, a weighted draw).
 *
 * The chain, in this exact order (llama.cpp's default order):
 *   1. penalties, in place on the logits, over the last repeat_last_n accepted tokens:
 *        repeat:   logit > 0 ? logit / repeat_penalty : logit * repeat_penalty  (once per
 *                  distinct token, however often it occurs);
 *        then      logit -= count * frequency_penalty + (count > 0) * presence_penalty.
 *   2. temperature <= 0: greedy. Returns the exact argmax of the penalized logits (the lowest
 *      id among equal maxima); steps 3-7 are skipped and no random number is drawn.
 *   3. drop tokens whose logit is -inf or NaN (they can never be drawn); +inf counts as the
 *      largest finite float.
 *   4. top_k (k > 0): keep the k largest logits, by a size-k heap during one pass (no sort);
 *      ties at the boundary keep the lower id.
 *   5. softmax(logit / temperature) over what is left.
 *   6. top_p (< 1): keep the smallest set, in order of probability (ties: lower id first),
 *      whose probability reaches top_p; found by popping a heap, so only the kept tokens pay
 *      log n each. Then min_p (> 0): keep tokens with p >= min_p * p_max. The two filters keep
 *      prefixes of the same order, so they commute; the code applies min_p first (a linear pass)
 *      to shrink the heap, with the result of the order written here.
 *   7. draw one token from the survivors, renormalized, with one attn_rng_uniform().
 * If every logit is -inf or NaN, token 0 is returned with probability 0.
 *
 * All scratch is allocated by attn_sampler_new(); sample/accept never allocate. A sampler is
 * not thread-safe: use one per generation stream. */
#ifndef ATTN_PUBLIC_SAMPLER_H
#define ATTN_PUBLIC_SAMPLER_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    float temperature;    /* 0 => greedy (argmax, lowest id wins ties) */
    int top_k;            /* 0 (or < 0) => off */
    float top_p;          /* >= 1.0 => off */
    float min_p;          /* 0 => off; keep tokens with p >= min_p * p_max */
    float repeat_penalty; /* 1.0 => off; CTRL style, see the chain above */
    int repeat_last_n;    /* window for all three penalties; 0 => no penalties; < 0 => whole history */
    float presence_penalty, frequency_penalty; /* OpenAI style, 0 => off */
    uint64_t seed;
} attn_sampler_params;

/* temperature 0.8, top_k 40, top_p 0.95, min_p 0.05, repeat_penalty 1.0, repeat_last_n 64,
 * presence/frequency 0, seed 0xA77A5EED (a fixed value: the library never reads the clock;
 * the CLI replaces it with a time-based seed unless the user passes one). */
#define ATTN_SAMPLER_DEFAULT_SEED 0xA77A5EEDULL
void attn_sampler_defaults(attn_sampler_params *p);

typedef struct attn_sampler attn_sampler;

/* Copies *p (NULL => defaults) and allocates all scratch for vocab_size tokens.
 * Returns NULL and sets attn_last_error() on bad arguments or out of memory. */
attn_sampler *attn_sampler_new(const attn_sampler_params *p, int vocab_size);
void attn_sampler_free(attn_sampler *s);
/* Forgets the penalty history and reseeds the RNG from params.seed. */
void attn_sampler_reset(attn_sampler *s);
/* Records a token (prompt or generated) for the penalties; ids outside [0, vocab) are ignored. */
void attn_sampler_accept(attn_sampler *s, int32_t token);
/* Runs the chain on logits[0..vocab) (modified in place: the penalties are written there) and
 * returns the chosen token. Does not accept it: call attn_sampler_accept() with it. */
int32_t attn_sampler_sample(attn_sampler *s, float *logits);
/* Probability the chosen token had after the chain: in the sampling path, its renormalized
 * probability among the survivors; in the greedy path, softmax(penalized logits) at
 * temperature 1 (the model's own confidence, as logprobs want). */
float attn_sampler_last_prob(const attn_sampler *s);
/* The tokens that survived the chain in the last sample() and their renormalized
 * probabilities (sum 1), in no particular order; valid until the next sample(). Greedy
 * reports one candidate, the chosen token with last_prob. Returns the count. Not const: the
 * draw leaves weights, made probabilities here on the first call (most callers never ask). */
int attn_sampler_last_candidates(attn_sampler *s, const int32_t **ids, const float **probs);

#ifdef __cplusplus
}
#endif

#endif
