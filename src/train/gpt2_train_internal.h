/* gpt2_train_internal.h - the trainable GPT-2's insides, shared by gpt2_train.c (layout,
 * initialisation, forward and backward) and gpt2_train_io.c (loading and saving). */
#ifndef ATTN_TRAIN_GPT2_TRAIN_INTERNAL_H
#define ATTN_TRAIN_GPT2_TRAIN_INTERNAL_H

#include "core/arena.h"
#include "gpt2_train.h"
#include "tape.h"

#define GPT2_NAME_MAX 64
#define GPT2_LAYER_TENSORS 12

struct attn_gpt2_train {
    attn_gpt2_config c;
    attn_gpt2_train_opts opts;
    attn_arena mem; /* parameters and gradients */
    float *data, *grad;
    int64_t numel;
    attn_param *params;
    char (*names)[GPT2_NAME_MAX];
    int n_params;
    attn_tape *tape;
    int64_t B, T;          /* the planned batch */
    attn_tvar logits, loss; /* of the last forward */
    bool have_loss;
};

/* Checks the shape, lays out the parameters (zeroed) and plans all memory for B x T. */
attn_gpt2_train *attn_gpt2_train_create(const attn_gpt2_config *c, int64_t B, int64_t T);

#endif
