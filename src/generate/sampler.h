/* sampler.h - the seedable RNG the sampler draws from (also weight init and dropout); the
 * sampler chain itself is public: <attn/sampler.h>. */
#ifndef ATTN_SAMPLER_H
#define ATTN_SAMPLER_H

#include <stdint.h>
#include <attn/sampler.h>

/* RNG: xoshiro256** (Blackman & Vigna), its state seeded with four splitmix64 outputs.
 * Pure 64-bit integer arithmetic: the same seed gives the same sequence on every platform. */
typedef struct { uint64_t s[4]; } attn_rng;
void attn_rng_seed(attn_rng *r, uint64_t seed);
uint64_t attn_rng_next(attn_rng *r);
float attn_rng_uniform(attn_rng *r); /* [0,1): the top 24 bits of next() times 2^-24 */
float attn_rng_normal(attn_rng *r);  /* N(0,1) by Box-Muller from two draws, for weight init */

#endif
