/* rope.h - rotary position embeddings (Su et al. 2021, "RoFormer"): each pair of a head's
 * dimensions is rotated by angle pos * inv_freq[i]. Two pairings exist in the wild:
 *   - NEOX (Hugging Face's rotate_half): dimension i pairs with i + dim/2; every HF LLaMA,
 *     Mistral and Qwen2 checkpoint expects it;
 *   - INTERLEAVED (GPT-J, Meta's original LLaMA, llama.cpp's GGUF "norm" rope): dimension 2i
 *     pairs with 2i+1; llama.cpp's converter permutes the q/k rows of LLaMA checkpoints into
 *     this order, so a GGUF LLaMA needs it.
 * Frequencies come from rope_theta, optionally rescaled for long contexts ("linear",
 * Llama-3's "llama3"). Angles and tables are computed in f32 exactly as HF does (inv_freq in
 * f32, pos * inv_freq as an f32 product), so logits agree to float rounding. */
#ifndef ATTN_NN_ROPE_H
#define ATTN_NN_ROPE_H

#include <stdint.h>

typedef enum { ATTN_ROPE_NEOX = 0, ATTN_ROPE_INTERLEAVED = 1 } attn_rope_layout;

typedef enum { ATTN_ROPE_SCALE_NONE = 0, ATTN_ROPE_SCALE_LINEAR, ATTN_ROPE_SCALE_LLAMA3 } attn_rope_scaling;

typedef struct {
    int dim;                  /* rotated dimensions per head (even; = head_dim for LLaMA) */
    double theta;             /* rope_theta, the base of the wavelengths */
    attn_rope_layout layout;
    attn_rope_scaling scaling;
    double factor;            /* linear and llama3: how much longer the context became */
    double low_freq_factor, high_freq_factor; /* llama3 */
    int64_t original_ctx;     /* llama3: original_max_position_embeddings */
} attn_rope_params;

/* Checks the parameters (one-line error naming `what`). */
int attn_rope_check(const attn_rope_params *p, const char *what);

/* inv_freq[dim/2] for the parameters, scaling included. */
void attn_rope_inv_freq(float *inv_freq, const attn_rope_params *p);

/* cos/sin tables [T][dim/2] for positions pos0 .. pos0+T-1, computed once per forward chunk
 * and shared by every layer. */
void attn_rope_table(float *cos_t, float *sin_t, const float *inv_freq, int dim, int64_t pos0, int64_t T);

/* Rotates, in place, the first `dim` dimensions of each of n_heads heads (head_dim apart) in
 * T rows of x (row stride `stride`), row t by the angles of table row t. */
void attn_rope_apply(float *x, int64_t stride, int64_t T, int n_heads, int head_dim, const float *cos_t,
                     const float *sin_t, int dim, attn_rope_layout layout);

#endif
