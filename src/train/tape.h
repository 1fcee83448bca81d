/* tape.h - records a training forward pass layer by layer so the backward pass is the
 * same records replayed in reverse: a model writes only its forward.
 *
 * A value on the tape is an attn_tvar: n floats and, beside them, their gradient. Each
 * attn_tape_<layer>() call runs the layer (src/nn/), pushes its output from the tape's
 * planned memory, and records what the backward needs (inputs, parameters, saved
 * statistics, attention probabilities, dropout masks). Parameters are tvars the model
 * owns (its flat parameter and gradient buffers).
 *
 * Memory is planned like core/arena.h: a new tape is measuring; the model records one
 * forward at its largest (B, T) (layers do not compute then and return tvars with NULL
 * data), attn_tape_plan() allocates exactly that, and every later forward reuses it
 * (attn_tape_begin rewinds it), so nothing allocates inside a training step.
 *
 * Errors are sticky: a failing layer call (bad token id, shape mismatch, memory past the
 * plan) records the attn_error message and turns later calls into no-ops; the model checks
 * attn_tape_status() once at the end of its forward.
 *
 * Gradient convention (nn/backward.h): backward zeroes every activation gradient, seeds
 * the loss gradient and ADDS into parameter gradients, so several backwards (micro-batches)
 * sum up until the caller zeroes the parameter gradients, or hands them to
 * attn_tape_fresh_grads for the next backward to write. */
#ifndef ATTN_TRAIN_TAPE_H
#define ATTN_TRAIN_TAPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "nn/attention.h"

typedef struct {
    float *val;  /* n values */
    float *grad; /* n gradients, or NULL when none is wanted (frozen or non-trainable) */
    int64_t n;
} attn_tvar;

typedef struct attn_tape attn_tape;

/* n values of v from offset off: a part of a parameter (the query rows of a fused
 * in_proj_weight), whose gradient is the same part of v's. */
static inline attn_tvar attn_tvar_slice(attn_tvar v, int64_t off, int64_t n) {
    return (attn_tvar){.val = v.val ? v.val + off : NULL, .grad = v.grad ? v.grad + off : NULL, .n = n};
}

attn_tape *attn_tape_new(void); /* a measuring tape */
void attn_tape_free(attn_tape *t);

bool attn_tape_measuring(const attn_tape *t);
/* Allocates the memory the measured forwards needed at most; the tape stops measuring. */
int attn_tape_plan(attn_tape *t);
/* Starts a forward: forgets the records and rewinds the memory. training turns dropout
 * on; seed makes this forward's dropout masks (one per dropout call, derived from it). */
void attn_tape_begin(attn_tape *t, bool training, uint64_t seed);
/* 0, or -1 when a call since attn_tape_begin failed (attn_last_error() says why). */
int attn_tape_status(const attn_tape *t);
/* Planned memory for the rest of this forward (token ids, targets); NULL when measuring. */
void *attn_tape_alloc(attn_tape *t, size_t bytes);

/* The next layer output's gradient shares its value's memory (its value is dead once its
 * gradient is written): only for an output whose sole consumer is a cross-entropy, which
 * then overwrites the logits with their gradient. Saves rows x vocab floats at large T. */
void attn_tape_next_grad_in_place(attn_tape *t);
/* Bytes planned (values and saved state, activation gradients); 0 while measuring. */
size_t attn_tape_bytes(const attn_tape *t);

/* ---- Layers. Shapes are checked against the tvars' sizes. ---- */

/* out[b*T + t] = wte[ids[b*T + t]] + wpe[t]; wte is [vocab][C], wpe [T or more][C] (its
 * val may be NULL: no positions). ids are range-checked and must stay valid until
 * backward: pass memory from attn_tape_alloc. */
attn_tvar attn_tape_embed(attn_tape *t, const int32_t *ids, int64_t B, int64_t T, attn_tvar wte, int64_t vocab,
                          attn_tvar wpe, int64_t C);
/* The same with the token rows scaled: scale·wte[id] + wpe[t] (sqrt(d_model) in the 2017
 * Transformer, whose wpe is a fixed sinusoid table: a tvar with grad NULL). */
attn_tvar attn_tape_embed_scaled(attn_tape *t, const int32_t *ids, int64_t B, int64_t T, attn_tvar wte,
                                 int64_t vocab, float scale, attn_tvar wpe, int64_t C);
attn_tvar attn_tape_layernorm(attn_tape *t, attn_tvar x, attn_tvar w, attn_tvar b, int64_t rows, int64_t dim,
                              float eps);
/* y[rows][n_out] = x · W + b. in_major: W is [n_in][n_out] (HF Conv1D), else
 * [n_out][n_in] (nn.Linear, a tied LM head). b.val may be NULL (no bias). */
attn_tvar attn_tape_linear(attn_tape *t, attn_tvar x, int64_t rows, attn_tvar w, attn_tvar b, int64_t n_in,
                           int64_t n_out, bool in_major);
/* Causal self-attention over B sequences of T rows of fused qkv (nn/attention_train.h). */
attn_tvar attn_tape_attention(attn_tape *t, attn_tvar qkv, int64_t B, int64_t T, const attn_attention_shape *shape);
/* Self-attention over B sequences of T rows of fused qkv, each sequence valid for its
 * first lens[b] rows (1..T; NULL: all T), causal or not (nn/attention_train.h: padding
 * rows output zeros). lens must stay valid until backward (attn_tape_alloc memory). */
attn_tvar attn_tape_self_attention(attn_tape *t, attn_tvar qkv, int64_t B, int64_t T, const int32_t *lens, bool causal,
                                   const attn_attention_shape *shape);
/* Cross-attention: queries q [B*Tq][n_heads*hd] (the decoder), keys and values
 * kv [B*Tk][k: n_kv_heads*hd | v: n_kv_heads*hd] (from the encoder output), each sequence
 * valid for q_lens[b] queries and k_lens[b] keys (NULL: all); not causal. */
attn_tvar attn_tape_cross_attention(attn_tape *t, attn_tvar q, attn_tvar kv, int64_t B, int64_t Tq, int64_t Tk,
                                    const int32_t *q_lens, const int32_t *k_lens, const attn_attention_shape *shape);
attn_tvar attn_tape_gelu(attn_tape *t, attn_tvar x);
attn_tvar attn_tape_relu(attn_tape *t, attn_tvar x);
attn_tvar attn_tape_add(attn_tape *t, attn_tvar a, attn_tvar b);
/* Inverted dropout with probability p (0 <= p < 1); returns x itself, recording nothing,
 * when p is 0 or the forward is not training. */
attn_tvar attn_tape_dropout(attn_tape *t, attn_tvar x, float p);
/* Mean softmax cross-entropy over the rows whose target is not -1 (a 1-float tvar; 0 when
 * every target is -1). targets must stay valid until backward. */
attn_tvar attn_tape_cross_entropy(attn_tape *t, attn_tvar logits, const int32_t *targets, int64_t rows, int64_t V,
                                  float label_smoothing);

/* Replays the records in reverse from loss (a tvar the tape made), whose gradient is
 * seeded with dloss (1, or 1/micro-batches for accumulation). */
int attn_tape_backward(attn_tape *t, attn_tvar loss, float dloss);

/* The parameters' gradients in [base, base + n) hold nothing the next backward should add
 * to (torch's zero_grad(set_to_none=True)): it gives them the values it would give zeroed
 * ones, writing rather than adding where it can, and zeroes what no record reaches. The
 * weight gradients are then written in one pass, with no zeroing before and no reading of
 * them in the products: GPT-2 124M trains ~5% faster. Holds for that one backward. */
void attn_tape_fresh_grads(attn_tape *t, float *base, int64_t n);

#endif
