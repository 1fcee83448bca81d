/* gpt2_train.h - a trainable GPT-2: the forward of src/model/gpt2.c written once against
 * the tape (tape.h), so its backward comes for free.
 *
 * Parameters live in one f32 buffer, gradients in another of the same layout, with one
 * named view (attn_param) per tensor under Hugging Face's GPT-2 names
 * ("transformer.wte.weight", "transformer.h.0.attn.c_attn.weight" stored Conv1D
 * [in][out], ...). The LM head is tied to wte, as in GPT-2. attn_gpt2_train_save writes a
 * config.json + model.safetensors folder that src/model/gpt2.c, HF transformers and
 * attn_gpt2_train_load all read.
 *
 * All memory (parameters, gradients, activations for the planned B x T) is allocated at
 * creation; forward and backward allocate nothing. */
#ifndef ATTN_TRAIN_GPT2_TRAIN_H
#define ATTN_TRAIN_GPT2_TRAIN_H

#include <stdbool.h>
#include <stdint.h>
#include "model/gpt2_config.h"
#include "optim.h"


/* Training-time behaviour; change it through attn_gpt2_train_options() at any time. */
typedef struct {
    float dropout;         /* embedding and residual dropout (HF embd_pdrop, resid_pdrop); 0 = none */
    float label_smoothing; /* 0 = plain cross-entropy */
    bool training;         /* false: dropout off (evaluation) */
    uint64_t seed;         /* dropout masks; every training forward uses it, then advances it */
} attn_gpt2_train_opts;

typedef struct attn_gpt2_train attn_gpt2_train;

/* A model with random weights, initialised as HF does for GPT-2: N(0, 0.02) embeddings
 * and matrices, the residual projections (attn.c_proj, mlp.c_proj) N(0, 0.02/sqrt(2·n_layer)),
 * zero biases, unit LayerNorms. Memory is planned for batches of up to B x T tokens. */
attn_gpt2_train *attn_gpt2_train_new(const attn_gpt2_config *c, uint64_t seed, int64_t B, int64_t T);
/* From a Hugging Face GPT-2 folder (config.json + model.safetensors; F32, F16 or BF16,
 * with or without the "transformer." prefix), or the .safetensors file itself. */
attn_gpt2_train *attn_gpt2_train_load(const char *path, int64_t B, int64_t T);
void attn_gpt2_train_free(attn_gpt2_train *m);
/* Writes dir/config.json and dir/model.safetensors (F32, HF names), each atomically. */
int attn_gpt2_train_save(const attn_gpt2_train *m, const char *dir);

const attn_gpt2_config *attn_gpt2_train_config(const attn_gpt2_train *m);
attn_gpt2_train_opts *attn_gpt2_train_options(attn_gpt2_train *m);

/* The parameters: n views in the flat buffers' order (wte, wpe, h.0..., ln_f). */
const attn_param *attn_gpt2_train_params(const attn_gpt2_train *m, int *n);
const attn_param *attn_gpt2_train_find(const attn_gpt2_train *m, const char *name);
int64_t attn_gpt2_train_numel(const attn_gpt2_train *m);
float *attn_gpt2_train_data(attn_gpt2_train *m); /* all parameters, flat */
float *attn_gpt2_train_grad(attn_gpt2_train *m); /* all gradients, flat */
/* Bytes of everything the model allocated (parameters, gradients, activations). */
size_t attn_gpt2_train_bytes(const attn_gpt2_train *m);

/* Runs B sequences of T tokens (B, T at most the planned ones), tokens and targets
 * [B][T]; a target of -1 is not counted. *loss = the mean cross-entropy over counted
 * positions. targets may be NULL: logits only, *loss = 0, and no backward. */
int attn_gpt2_train_forward(attn_gpt2_train *m, const int32_t *tokens, const int32_t *targets, int64_t B, int64_t T,
                            float *loss);
/* The logits [B][T][vocab] of the last forward (a backward overwrites them with their gradient). */
const float *attn_gpt2_train_logits(const attn_gpt2_train *m);
/* Adds scale · d loss / d param into the gradients (scale 1/n for n accumulated
 * micro-batches). Needs a forward with targets just before. */
int attn_gpt2_train_backward(attn_gpt2_train *m, float scale);
void attn_gpt2_train_zero_grad(attn_gpt2_train *m);
/* Zero gradients without the pass over memory (torch's zero_grad(set_to_none=True)): their
 * values are of no more use, and the next backward writes them instead of adding. Until
 * then they read as stale values, not zeros. A training step starts with this. */
void attn_gpt2_train_discard_grad(attn_gpt2_train *m);

#endif
