/* gpt2_train.c - the trainable GPT-2 (see gpt2_train.h): parameter layout under HF names,
 * HF's random initialisation, and the forward recorded on the tape. There is no backward
 * here: the tape replays the forward's records in reverse. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "core/common.h"
#include "generate/sampler.h"
#include "gpt2_train_internal.h"

/* The tensors of one block, in HF's order; parameter index 2 + 12·layer + leaf. */
enum { LN1_W, LN1_B, QKV_W, QKV_B, ATTN_PROJ_W, ATTN_PROJ_B, LN2_W, LN2_B, FC_W, FC_B, MLP_PROJ_W, MLP_PROJ_B };
enum { WTE = 0, WPE = 1 };

static int layer_index(int l, int leaf) { return 2 + GPT2_LAYER_TENSORS * l + leaf; }
static int lnf_index(const attn_gpt2_train *m) { return 2 + GPT2_LAYER_TENSORS * (int)m->c.n_layer; }

/* ---- Layout ---- */

static int check_config(attn_gpt2_config *c, int64_t B, int64_t T) {
    if (attn_gpt2_config_check(c, "GPT-2 shape") != 0) return -1;
    if (c->n_layer > 1000) return attn_error("GPT-2 shape: at most 1000 layers");
    if (!c->scale_attn_weights) return attn_error("GPT-2 shape: scale_attn_weights false is not supported for training");
    if (!(c->eps > 0.0f)) return attn_error("GPT-2 shape: LayerNorm epsilon must be positive");
    if (B < 1 || T < 1 || T > c->n_ctx)
        return attn_error("training batch %lld x %lld: need B >= 1 and 1 <= T <= the context (%lld)", (long long)B,
                          (long long)T, (long long)c->n_ctx);
    return 0;
}

static void add_param(attn_gpt2_train *m, const char *name, int layer, int64_t d0, int64_t d1) {
    int i = m->n_params++;
    attn_param *p = &m->params[i];
    snprintf(m->names[i], GPT2_NAME_MAX, name, layer);
    *p = (attn_param){.name = m->names[i], .ndim = d1 ? 2 : 1, .shape = {d0, d1}, .offset = m->numel,
                      .numel = d0 * (d1 ? d1 : 1), .decay = d1 != 0};
    m->numel += p->numel;
}

/* Names, shapes and offsets of every tensor; `decay` marks the 2-D ones, embeddings included. */
static void layout(attn_gpt2_train *m) {
    int64_t C = m->c.n_embd, I = m->c.n_inner;
    add_param(m, "transformer.wte.weight", 0, m->c.vocab, C);
    add_param(m, "transformer.wpe.weight", 0, m->c.n_ctx, C);
    for (int l = 0; l < m->c.n_layer; l++) {
        add_param(m, "transformer.h.%d.ln_1.weight", l, C, 0);
        add_param(m, "transformer.h.%d.ln_1.bias", l, C, 0);
        add_param(m, "transformer.h.%d.attn.c_attn.weight", l, C, 3 * C);
        add_param(m, "transformer.h.%d.attn.c_attn.bias", l, 3 * C, 0);
        add_param(m, "transformer.h.%d.attn.c_proj.weight", l, C, C);
        add_param(m, "transformer.h.%d.attn.c_proj.bias", l, C, 0);
        add_param(m, "transformer.h.%d.ln_2.weight", l, C, 0);
        add_param(m, "transformer.h.%d.ln_2.bias", l, C, 0);
        add_param(m, "transformer.h.%d.mlp.c_fc.weight", l, C, I);
        add_param(m, "transformer.h.%d.mlp.c_fc.bias", l, I, 0);
        add_param(m, "transformer.h.%d.mlp.c_proj.weight", l, I, C);
        add_param(m, "transformer.h.%d.mlp.c_proj.bias", l, C, 0);
    }
    add_param(m, "transformer.ln_f.weight", 0, C, 0);
    add_param(m, "transformer.ln_f.bias", 0, C, 0);
}

static int record_forward(attn_gpt2_train *m, const int32_t *tokens, const int32_t *targets, int64_t B, int64_t T,
                          bool with_loss);

/* Parameters and gradients in one arena; then one measured forward plans the tape. */
static int plan(attn_gpt2_train *m) {
    size_t bytes = (size_t)m->numel * sizeof(float);
    if (attn_arena_init(&m->mem, 2 * bytes + 2 * ATTN_ALIGN)) return -1;
    m->data = attn_arena_push(&m->mem, bytes), m->grad = attn_arena_push(&m->mem, bytes);
    for (int i = 0; i < m->n_params; i++) {
        m->params[i].data = m->data + m->params[i].offset;
        m->params[i].grad = m->grad + m->params[i].offset;
    }
    if (!(m->tape = attn_tape_new())) return -1;
    attn_tape_begin(m->tape, true, 0);
    if (record_forward(m, NULL, NULL, m->B, m->T, true)) return -1;
    return attn_tape_plan(m->tape);
}

attn_gpt2_train *attn_gpt2_train_create(const attn_gpt2_config *cfg, int64_t B, int64_t T) {
    attn_gpt2_config c = *cfg;
    if (check_config(&c, B, T)) return NULL;
    attn_gpt2_train *m = calloc(1, sizeof *m);
    int n = 4 + GPT2_LAYER_TENSORS * (int)c.n_layer;
    if (m) m->params = calloc((size_t)n, sizeof *m->params), m->names = calloc((size_t)n, sizeof *m->names);
    if (!m || !m->params || !m->names) {
        attn_error("out of memory");
        attn_gpt2_train_free(m);
        return NULL;
    }
    m->c = c, m->B = B, m->T = T;
    m->opts = (attn_gpt2_train_opts){.training = true, .seed = 0x5eed};
    layout(m);
    if (plan(m)) {
        attn_gpt2_train_free(m);
        return NULL;
    }
    return m;
}

void attn_gpt2_train_free(attn_gpt2_train *m) {
    if (!m) return;
    attn_tape_free(m->tape);
    attn_arena_free(&m->mem);
    free(m->params);
    free(m->names);
    free(m);
}

/* ---- Random initialisation (HF's GPT2PreTrainedModel._init_weights) ---- */

attn_gpt2_train *attn_gpt2_train_new(const attn_gpt2_config *c, uint64_t seed, int64_t B, int64_t T) {
    attn_gpt2_train *m = attn_gpt2_train_create(c, B, T);
    if (!m) return NULL;
    attn_rng rng;
    attn_rng_seed(&rng, seed);
    /* GPT-2 paper: residual projections scaled by 1/sqrt(N), N = 2 residual adds per layer */
    float proj_std = 0.02f / sqrtf(2.0f * (float)m->c.n_layer);
    for (int i = 0; i < m->n_params; i++) {
        attn_param *p = &m->params[i];
        bool is_ln_weight = strstr(p->name, ".ln_") && attn_ends_with(p->name, ".weight");
        float std = attn_ends_with(p->name, "c_proj.weight") ? proj_std : 0.02f;
        for (int64_t k = 0; k < p->numel; k++)
            p->data[k] = p->ndim == 2 ? std * attn_rng_normal(&rng) : is_ln_weight ? 1.0f : 0.0f;
    }
    return m;
}

/* ---- Accessors ---- */

const attn_gpt2_config *attn_gpt2_train_config(const attn_gpt2_train *m) { return &m->c; }
attn_gpt2_train_opts *attn_gpt2_train_options(attn_gpt2_train *m) { return &m->opts; }
int64_t attn_gpt2_train_numel(const attn_gpt2_train *m) { return m->numel; }
float *attn_gpt2_train_data(attn_gpt2_train *m) { return m->data; }
float *attn_gpt2_train_grad(attn_gpt2_train *m) { return m->grad; }
const float *attn_gpt2_train_logits(const attn_gpt2_train *m) { return m->logits.val; }
size_t attn_gpt2_train_bytes(const attn_gpt2_train *m) { return m->mem.size + attn_tape_bytes(m->tape); }

const attn_param *attn_gpt2_train_params(const attn_gpt2_train *m, int *n) {
    *n = m->n_params;
    return m->params;
}

const attn_param *attn_gpt2_train_find(const attn_gpt2_train *m, const char *name) {
    for (int i = 0; i < m->n_params; i++)
        if (strcmp(m->params[i].name, name) == 0) return &m->params[i];
    return NULL;
}

void attn_gpt2_train_zero_grad(attn_gpt2_train *m) { memset(m->grad, 0, (size_t)m->numel * sizeof(float)); }
void attn_gpt2_train_discard_grad(attn_gpt2_train *m) { attn_tape_fresh_grads(m->tape, m->grad, m->numel); }

/* ---- Forward on the tape ---- */

static attn_tvar P(const attn_gpt2_train *m, int i) {
    const attn_param *p = &m->params[i];
    return (attn_tvar){.val = p->data, .grad = p->grad, .n = p->numel};
}

static attn_tvar LP(const attn_gpt2_train *m, int l, int leaf) { return P(m, layer_index(l, leaf)); }

/* Dropout probability for this forward; while planning, room for masks whatever it is later. */
static float dropout_p(const attn_gpt2_train *m) {
    return attn_tape_measuring(m->tape) ? 0.5f : m->opts.dropout;
}

/* One pre-LayerNorm block: x + attn(ln_1(x)), then + mlp(ln_2(x)). */
static attn_tvar block(attn_gpt2_train *m, attn_tvar x, int l, int64_t B, int64_t T) {
    attn_tape *t = m->tape;
    int64_t C = m->c.n_embd, I = m->c.n_inner, rows = B * T;
    attn_attention_shape shape = {.n_heads = (int)m->c.n_head, .n_kv_heads = (int)m->c.n_head,
                                  .head_dim = (int)(C / m->c.n_head)};
    shape.scale = 1.0f / sqrtf((float)shape.head_dim);
    if (m->c.scale_attn_by_inverse_layer_idx) shape.scale /= (float)(l + 1);

    attn_tvar h = attn_tape_layernorm(t, x, LP(m, l, LN1_W), LP(m, l, LN1_B), rows, C, m->c.eps);
    attn_tvar qkv = attn_tape_linear(t, h, rows, LP(m, l, QKV_W), LP(m, l, QKV_B), C, 3 * C, true);
    attn_tvar a = attn_tape_attention(t, qkv, B, T, &shape);
    attn_tvar p = attn_tape_linear(t, a, rows, LP(m, l, ATTN_PROJ_W), LP(m, l, ATTN_PROJ_B), C, C, true);
    x = attn_tape_add(t, x, attn_tape_dropout(t, p, dropout_p(m)));

    h = attn_tape_layernorm(t, x, LP(m, l, LN2_W), LP(m, l, LN2_B), rows, C, m->c.eps);
    attn_tvar f = attn_tape_linear(t, h, rows, LP(m, l, FC_W), LP(m, l, FC_B), C, I, true);
    attn_tvar g = attn_tape_gelu(t, f);
    p = attn_tape_linear(t, g, rows, LP(m, l, MLP_PROJ_W), LP(m, l, MLP_PROJ_B), I, C, true);
    return attn_tape_add(t, x, attn_tape_dropout(t, p, dropout_p(m)));
}

/* Copies ids into the tape's planned memory, so they outlive the caller's buffer until backward. */
static int32_t *keep_ids(attn_tape *t, const int32_t *ids, int64_t n) {
    int32_t *dst = attn_tape_alloc(t, (size_t)n * sizeof(int32_t));
    if (dst && ids) memcpy(dst, ids, (size_t)n * sizeof(int32_t));
    return dst;
}

static int record_forward(attn_gpt2_train *m, const int32_t *tokens, const int32_t *targets, int64_t B, int64_t T,
                          bool with_loss) {
    attn_tape *t = m->tape;
    int64_t C = m->c.n_embd, V = m->c.vocab, rows = B * T;
    const int32_t *ids = keep_ids(t, tokens, rows), *tg = with_loss ? keep_ids(t, targets, rows) : NULL;
    attn_tvar x = attn_tape_embed(t, ids, B, T, P(m, WTE), V, P(m, WPE), C);
    x = attn_tape_dropout(t, x, dropout_p(m));
    for (int l = 0; l < m->c.n_layer; l++) x = block(m, x, l, B, T);
    int lnf = lnf_index(m);
    attn_tvar h = attn_tape_layernorm(t, x, P(m, lnf), P(m, lnf + 1), rows, C, m->c.eps);
    /* tied head: logits = h · wteᵀ, wte read as an nn.Linear [vocab][C] weight */
    attn_tape_next_grad_in_place(t); /* a backward overwrites the logits with dlogits */
    m->logits = attn_tape_linear(t, h, rows, P(m, WTE), (attn_tvar){0}, C, V, false);
    if (with_loss) m->loss = attn_tape_cross_entropy(t, m->logits, tg, rows, V, m->opts.label_smoothing);
    return attn_tape_status(t);
}

static uint64_t next_seed(uint64_t s) {
    uint64_t z = s + 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

int attn_gpt2_train_forward(attn_gpt2_train *m, const int32_t *tokens, const int32_t *targets, int64_t B, int64_t T,
                            float *loss) {
    m->have_loss = false;
    *loss = 0.0f;
    if (B < 1 || T < 1 || B > m->B || T > m->T)
        return attn_error("training forward of %lld x %lld tokens: the model was planned for at most %lld x %lld",
                          (long long)B, (long long)T, (long long)m->B, (long long)m->T);
    attn_tape_begin(m->tape, m->opts.training, m->opts.seed);
    if (m->opts.training) m->opts.seed = next_seed(m->opts.seed);
    if (record_forward(m, tokens, targets, B, T, targets != NULL)) return -1;
    m->have_loss = targets != NULL;
    if (m->have_loss) *loss = m->loss.val[0];
    return 0;
}

int attn_gpt2_train_backward(attn_gpt2_train *m, float scale) {
    if (!m->have_loss) return attn_error("backward needs a forward with targets just before it");
    return attn_tape_backward(m->tape, m->loss, scale);
}
