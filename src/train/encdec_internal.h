/* encdec_internal.h - the encoder-decoder's insides, shared by encdec.c (layout,
 * initialisation, the forward on the tape), encdec_io.c (config and weights on disk) and
 * encdec_decode.c (greedy and beam search). */
#ifndef ATTN_TRAIN_ENCDEC_INTERNAL_H
#define ATTN_TRAIN_ENCDEC_INTERNAL_H

#include <math.h>
#include "core/arena.h"
#include "encdec.h"
#include "nn/attention.h"
#include "tape.h"

#define ENCDEC_NAME_MAX 64

/* Tensors of one layer, in nn.Transformer's order, as offsets from the layer's first
 * parameter index. An attention block is in_proj_weight, in_proj_bias, out_proj.weight,
 * out_proj.bias; a feed-forward block linear1.weight, .bias, linear2.weight, .bias. */
enum { ENC_SA = 0, ENC_FF = 4, ENC_NORM1 = 8, ENC_NORM2 = 10, ENC_TENSORS = 12 };
enum { DEC_SA = 0, DEC_CA = 4, DEC_FF = 8, DEC_NORM1 = 12, DEC_NORM2 = 14, DEC_NORM3 = 16, DEC_TENSORS = 18 };
enum { IN_W = 0, IN_B = 1, OUT_W = 2, OUT_B = 3 };       /* within an attention block */
enum { FF1_W = 0, FF1_B = 1, FF2_W = 2, FF2_B = 3 };     /* within a feed-forward block */

struct attn_encdec {
    attn_encdec_config c;
    attn_encdec_opts opts;
    attn_arena mem; /* parameters and gradients */
    float *data, *grad;
    float *pe;      /* [max_len][d] sinusoid table, not a parameter */
    int64_t numel;
    attn_param *params;
    char (*names)[ENCDEC_NAME_MAX];
    int n_params;
    int *enc_layer, *dec_layer; /* first parameter index of each layer */
    int enc_norm, dec_norm;     /* final LayerNorm's weight index (pre-LN), else -1 */
    attn_tape *tape;
    int64_t B, S, T;            /* the planned batch */
    attn_tvar logits, loss;     /* of the last forward */
    bool have_loss;
};

/* The parameter i as a tape variable. */
static inline attn_tvar encdec_param(const attn_encdec *m, int i) {
    const attn_param *p = &m->params[i];
    return (attn_tvar){.val = p->data, .grad = p->grad, .n = p->numel};
}

static inline attn_attention_shape encdec_shape(const attn_encdec *m) {
    attn_attention_shape s = {.n_heads = (int)m->c.n_heads, .n_kv_heads = (int)m->c.n_heads,
                              .head_dim = (int)(m->c.d_model / m->c.n_heads)};
    s.scale = 1.0f / sqrtf((float)s.head_dim);
    return s;
}

/* Checks the shape, lays out the parameters (zeroed) and plans all memory for B, S, T. */
attn_encdec *attn_encdec_create(const attn_encdec_config *c, int64_t B, int64_t S, int64_t T);
int attn_encdec_config_check(const attn_encdec_config *c);

/* Runs the encoder alone on the tape (dropout off) and returns its output [B*S][d]; the
 * tape then holds nothing else. src and src_len as in attn_encdec_batch. */
attn_tvar attn_encdec_encode(attn_encdec *m, const int32_t *src, const int32_t *src_len, int64_t B, int64_t S);

#endif
