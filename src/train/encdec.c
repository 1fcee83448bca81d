/* encdec.c - the trainable 2017 Transformer (see encdec.h): parameter layout under
 * nn.Transformer's names, initialisation, and the forward recorded on the tape (whose
 * replay is the backward). */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "core/common.h"
#include "encdec_internal.h"
#include "generate/sampler.h"

void attn_encdec_config_defaults(attn_encdec_config *c) {
    *c = (attn_encdec_config){.d_model = 512, .n_heads = 8, .d_ff = 2048, .n_encoder_layers = 6,
                              .n_decoder_layers = 6, .max_len = 256, .eps = 1e-5f, .pad_id = 0, .bos_id = 1,
                              .eos_id = 2};
}

int attn_encdec_config_check(const attn_encdec_config *c) {
    if (c->vocab < 4 || c->vocab > INT32_MAX)
        return attn_error("encoder-decoder: vocabulary of %lld", (long long)c->vocab);
    if (c->d_model < 1 || c->n_heads < 1 || c->d_model % c->n_heads)
        return attn_error("encoder-decoder: d_model %lld is not divisible into %lld heads", (long long)c->d_model,
                          (long long)c->n_heads);
    if (c->d_model > 65536 || c->d_ff < 1 || c->d_ff > 1 << 20)
        return attn_error("encoder-decoder: d_model or d_ff out of range");
    if (c->n_encoder_layers < 1 || c->n_decoder_layers < 1 || c->n_encoder_layers > 1000 ||
        c->n_decoder_layers > 1000)
        return attn_error("encoder-decoder: 1..1000 encoder and decoder layers");
    if (c->max_len < 2 || c->max_len > 1 << 20)
        return attn_error("encoder-decoder: max_len %lld", (long long)c->max_len);
    if (!(c->eps > 0.0f)) return attn_error("encoder-decoder: LayerNorm epsilon must be positive");
    int32_t ids[] = {c->pad_id, c->bos_id, c->eos_id};
    for (int i = 0; i < 3; i++)
        if (ids[i] < 0 || ids[i] >= c->vocab)
            return attn_error("encoder-decoder: special token id %d outside the vocabulary", ids[i]);
    if (c->bos_id == c->eos_id) return attn_error("encoder-decoder: BOS and EOS must differ");
    return 0;
}

/* ---- Layout ---- */

static void add_param(attn_encdec *m, int64_t d0, int64_t d1, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* One tensor named by fmt: [d0][d1], or [d0] when d1 is 0. */
static void add_param(attn_encdec *m, int64_t d0, int64_t d1, const char *fmt, ...) {
    int i = m->n_params++;
    attn_param *p = &m->params[i];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(m->names[i], ENCDEC_NAME_MAX, fmt, ap);
    va_end(ap);
    *p = (attn_param){.name = m->names[i], .ndim = d1 ? 2 : 1, .shape = {d0, d1}, .offset = m->numel,
                      .numel = d0 * (d1 ? d1 : 1), .decay = d1 != 0};
    m->numel += p->numel;
}

static void add_attention(attn_encdec *m, const char *stack, int l, const char *name) {
    int64_t d = m->c.d_model;
    add_param(m, 3 * d, d, "%s.layers.%d.%s.in_proj_weight", stack, l, name);
    add_param(m, 3 * d, 0, "%s.layers.%d.%s.in_proj_bias", stack, l, name);
    add_param(m, d, d, "%s.layers.%d.%s.out_proj.weight", stack, l, name);
    add_param(m, d, 0, "%s.layers.%d.%s.out_proj.bias", stack, l, name);
}

static void add_ffn_and_norms(attn_encdec *m, const char *stack, int l, int n_norms) {
    int64_t d = m->c.d_model, f = m->c.d_ff;
    add_param(m, f, d, "%s.layers.%d.linear1.weight", stack, l);
    add_param(m, f, 0, "%s.layers.%d.linear1.bias", stack, l);
    add_param(m, d, f, "%s.layers.%d.linear2.weight", stack, l);
    add_param(m, d, 0, "%s.layers.%d.linear2.bias", stack, l);
    for (int k = 1; k <= n_norms; k++) {
        add_param(m, d, 0, "%s.layers.%d.norm%d.weight", stack, l, k);
        add_param(m, d, 0, "%s.layers.%d.norm%d.bias", stack, l, k);
    }
}

/* A final LayerNorm (pre-LN); returns its weight's index. */
static int add_final_norm(attn_encdec *m, const char *stack) {
    int at = m->n_params;
    add_param(m, m->c.d_model, 0, "%s.norm.weight", stack);
    add_param(m, m->c.d_model, 0, "%s.norm.bias", stack);
    return at;
}

/* Names, shapes and offsets, in nn.Transformer's state-dict order. */
static void layout(attn_encdec *m) {
    add_param(m, m->c.vocab, m->c.d_model, "shared.weight");
    for (int l = 0; l < m->c.n_encoder_layers; l++) {
        m->enc_layer[l] = m->n_params;
        add_attention(m, "encoder", l, "self_attn");
        add_ffn_and_norms(m, "encoder", l, 2);
    }
    m->enc_norm = m->c.pre_ln ? add_final_norm(m, "encoder") : -1;
    for (int l = 0; l < m->c.n_decoder_layers; l++) {
        m->dec_layer[l] = m->n_params;
        add_attention(m, "decoder", l, "self_attn");
        add_attention(m, "decoder", l, "multihead_attn");
        add_ffn_and_norms(m, "decoder", l, 3);
    }
    m->dec_norm = m->c.pre_ln ? add_final_norm(m, "decoder") : -1;
}

/* PE[p][2i] = sin(p · 10000^(-2i/d)), PE[p][2i+1] = cos(the same), in double. */
static void sinusoids(float *pe, int64_t n_pos, int64_t d) {
    for (int64_t p = 0; p < n_pos; p++)
        for (int64_t i = 0; i < d; i += 2) {
            double angle = (double)p * exp(-(double)i * log(10000.0) / (double)d);
            pe[p * d + i] = (float)sin(angle);
            if (i + 1 < d) pe[p * d + i + 1] = (float)cos(angle);
        }
}

static int record_forward(attn_encdec *m, const attn_encdec_batch *b, bool with_loss);

/* Parameters, gradients and the sinusoids in one arena; then one measured forward plans the tape. */
static int plan(attn_encdec *m) {
    size_t bytes = (size_t)m->numel * sizeof(float), pe_bytes = (size_t)(m->c.max_len * m->c.d_model) * sizeof(float);
    if (attn_arena_init(&m->mem, 2 * bytes + pe_bytes + 3 * ATTN_ALIGN)) return -1;
    m->data = attn_arena_push(&m->mem, bytes), m->grad = attn_arena_push(&m->mem, bytes);
    m->pe = attn_arena_push(&m->mem, pe_bytes);
    sinusoids(m->pe, m->c.max_len, m->c.d_model);
    for (int i = 0; i < m->n_params; i++) {
        m->params[i].data = m->data + m->params[i].offset;
        m->params[i].grad = m->grad + m->params[i].offset;
    }
    if (!(m->tape = attn_tape_new())) return -1;
    attn_tape_begin(m->tape, true, 0);
    attn_encdec_batch b = {.B = m->B, .S = m->S, .T = m->T};
    if (record_forward(m, &b, true)) return -1;
    return attn_tape_plan(m->tape);
}

attn_encdec *attn_encdec_create(const attn_encdec_config *c, int64_t B, int64_t S, int64_t T) {
    if (attn_encdec_config_check(c)) return NULL;
    if (B < 1 || S < 1 || T < 1 || S > c->max_len || T > c->max_len) {
        attn_error("encoder-decoder batch %lld x (%lld, %lld): need B >= 1 and lengths 1..max_len (%lld)",
                   (long long)B, (long long)S, (long long)T, (long long)c->max_len);
        return NULL;
    }
    attn_encdec *m = calloc(1, sizeof *m);
    int n = 1 + ENC_TENSORS * (int)c->n_encoder_layers + DEC_TENSORS * (int)c->n_decoder_layers + 4;
    if (m) {
        m->params = calloc((size_t)n, sizeof *m->params), m->names = calloc((size_t)n, sizeof *m->names);
        m->enc_layer = calloc((size_t)c->n_encoder_layers, sizeof(int));
        m->dec_layer = calloc((size_t)c->n_decoder_layers, sizeof(int));
    }
    if (!m || !m->params || !m->names || !m->enc_layer || !m->dec_layer) {
        attn_error("out of memory");
        attn_encdec_free(m);
        return NULL;
    }
    m->c = *c, m->B = B, m->S = S, m->T = T;
    m->opts = (attn_encdec_opts){.dropout = 0.1f, .label_smoothing = 0.1f, .training = true, .seed = 0x5eed};
    layout(m);
    if (plan(m)) {
        attn_encdec_free(m);
        return NULL;
    }
    return m;
}

void attn_encdec_free(attn_encdec *m) {
    if (!m) return;
    attn_tape_free(m->tape);
    attn_arena_free(&m->mem);
    free(m->params), free(m->names), free(m->enc_layer), free(m->dec_layer);
    free(m);
}

attn_encdec *attn_encdec_new(const attn_encdec_config *c, uint64_t seed, int64_t B, int64_t S, int64_t T) {
    attn_encdec *m = attn_encdec_create(c, B, S, T);
    if (!m) return NULL;
    attn_rng rng;
    attn_rng_seed(&rng, seed);
    for (int i = 0; i < m->n_params; i++) {
        attn_param *p = &m->params[i];
        bool norm_weight = strstr(p->name, "norm") && strstr(p->name, ".weight");
        /* xavier_uniform: U(-a, a), a = sqrt(6 / (fan_in + fan_out)); the embedding N(0, d^-1/2) */
        float a = p->ndim == 2 ? sqrtf(6.0f / (float)(p->shape[0] + p->shape[1])) : 0.0f;
        float std = 1.0f / sqrtf((float)m->c.d_model);
        for (int64_t k = 0; k < p->numel; k++)
            p->data[k] = i == 0             ? std * attn_rng_normal(&rng)
                         : p->ndim == 2     ? a * (2.0f * attn_rng_uniform(&rng) - 1.0f)
                         : norm_weight      ? 1.0f
                                            : 0.0f;
    }
    return m;
}

/* ---- Accessors ---- */

const attn_encdec_config *attn_encdec_get_config(const attn_encdec *m) { return &m->c; }
attn_encdec_opts *attn_encdec_options(attn_encdec *m) { return &m->opts; }
int64_t attn_encdec_numel(const attn_encdec *m) { return m->numel; }
float *attn_encdec_grad(attn_encdec *m) { return m->grad; }
const float *attn_encdec_logits(const attn_encdec *m) { return m->logits.val; }
size_t attn_encdec_bytes(const attn_encdec *m) { return m->mem.size + attn_tape_bytes(m->tape); }
void attn_encdec_zero_grad(attn_encdec *m) { memset(m->grad, 0, (size_t)m->numel * sizeof(float)); }
void attn_encdec_discard_grad(attn_encdec *m) { attn_tape_fresh_grads(m->tape, m->grad, m->numel); }

const attn_param *attn_encdec_params(const attn_encdec *m, int *n) {
    *n = m->n_params;
    return m->params;
}

const attn_param *attn_encdec_find(const attn_encdec *m, const char *name) {
    for (int i = 0; i < m->n_params; i++)
        if (strcmp(m->params[i].name, name) == 0) return &m->params[i];
    return NULL;
}

float attn_encdec_noam_lr(int64_t d_model, int64_t step, int64_t warmup, float factor) {
    double s = (double)ATTN_MAX(step, 1), w = (double)ATTN_MAX(warmup, 1);
    return (float)(factor / sqrt((double)d_model) * fmin(1.0 / sqrt(s), s * pow(w, -1.5)));
}

/* ---- Forward on the tape ---- */

/* Dropout probability for this forward; while planning, room for masks whatever it is later. */
static float dropout_p(const attn_encdec *m) { return attn_tape_measuring(m->tape) ? 0.5f : m->opts.dropout; }

static attn_tvar layernorm(attn_encdec *m, attn_tvar x, int norm, int64_t rows) {
    return attn_tape_layernorm(m->tape, x, encdec_param(m, norm), encdec_param(m, norm + 1), rows, m->c.d_model,
                               m->c.eps);
}

/* A residual sub-layer's input: LN(x) in pre-LN, x itself in post-LN. */
static attn_tvar sublayer_in(attn_encdec *m, attn_tvar x, int norm, int64_t rows) {
    return m->c.pre_ln ? layernorm(m, x, norm, rows) : x;
}

/* The stream after a sub-layer with output y: x + dropout(y) in pre-LN, LN(that) in post-LN. */
static attn_tvar sublayer_out(attn_encdec *m, attn_tvar x, attn_tvar y, int norm, int64_t rows) {
    attn_tvar s = attn_tape_add(m->tape, x, attn_tape_dropout(m->tape, y, dropout_p(m)));
    return m->c.pre_ln ? s : layernorm(m, s, norm, rows);
}

static attn_tvar linear(attn_encdec *m, attn_tvar x, int64_t rows, attn_tvar w, attn_tvar b, int64_t n_in,
                        int64_t n_out) {
    return attn_tape_linear(m->tape, x, rows, w, b, n_in, n_out, false);
}

/* Self-attention block `at` (in_proj, attention, out_proj) over B sequences of T rows. */
static attn_tvar self_attention(attn_encdec *m, attn_tvar h, int at, int64_t B, int64_t T, const int32_t *lens,
                                bool causal) {
    int64_t d = m->c.d_model, rows = B * T;
    attn_attention_shape s = encdec_shape(m);
    attn_tvar qkv = linear(m, h, rows, encdec_param(m, at + IN_W), encdec_param(m, at + IN_B), d, 3 * d);
    attn_tvar a = attn_tape_self_attention(m->tape, qkv, B, T, lens, causal, &s);
    return linear(m, a, rows, encdec_param(m, at + OUT_W), encdec_param(m, at + OUT_B), d, d);
}

/* Cross-attention block `at`: queries from the decoder rows h [B*T], keys and values from
 * the encoder output mem [B*S], through the q and the k,v rows of one in_proj. */
static attn_tvar cross_attention(attn_encdec *m, attn_tvar h, attn_tvar mem, int at, int64_t B, int64_t T,
                                 int64_t S, const int32_t *tgt_len, const int32_t *src_len) {
    int64_t d = m->c.d_model;
    attn_attention_shape s = encdec_shape(m);
    attn_tvar w = encdec_param(m, at + IN_W), b = encdec_param(m, at + IN_B);
    attn_tvar q = linear(m, h, B * T, attn_tvar_slice(w, 0, d * d), attn_tvar_slice(b, 0, d), d, d);
    attn_tvar kv = linear(m, mem, B * S, attn_tvar_slice(w, d * d, 2 * d * d), attn_tvar_slice(b, d, 2 * d), d, 2 * d);
    attn_tvar a = attn_tape_cross_attention(m->tape, q, kv, B, T, S, tgt_len, src_len, &s);
    return linear(m, a, B * T, encdec_param(m, at + OUT_W), encdec_param(m, at + OUT_B), d, d);
}

/* linear2(relu(linear1(h))). */
static attn_tvar feed_forward(attn_encdec *m, attn_tvar h, int at, int64_t rows) {
    int64_t d = m->c.d_model, f = m->c.d_ff;
    attn_tvar x = linear(m, h, rows, encdec_param(m, at + FF1_W), encdec_param(m, at + FF1_B), d, f);
    x = attn_tape_relu(m->tape, x);
    return linear(m, x, rows, encdec_param(m, at + FF2_W), encdec_param(m, at + FF2_B), f, d);
}

/* dropout(sqrt(d)·E[ids] + PE) for B rows of T tokens. */
static attn_tvar embed(attn_encdec *m, const int32_t *ids, int64_t B, int64_t T) {
    attn_tvar pe = {.val = m->pe, .n = m->c.max_len * m->c.d_model};
    attn_tvar x = attn_tape_embed_scaled(m->tape, ids, B, T, encdec_param(m, 0), m->c.vocab,
                                         sqrtf((float)m->c.d_model), pe, m->c.d_model);
    return attn_tape_dropout(m->tape, x, dropout_p(m));
}

static attn_tvar encoder(attn_encdec *m, const int32_t *src, const int32_t *src_len, int64_t B, int64_t S) {
    int64_t rows = B * S;
    attn_tvar x = embed(m, src, B, S);
    for (int l = 0; l < m->c.n_encoder_layers; l++) {
        int at = m->enc_layer[l];
        attn_tvar h = sublayer_in(m, x, at + ENC_NORM1, rows);
        x = sublayer_out(m, x, self_attention(m, h, at + ENC_SA, B, S, src_len, false), at + ENC_NORM1, rows);
        h = sublayer_in(m, x, at + ENC_NORM2, rows);
        x = sublayer_out(m, x, feed_forward(m, h, at + ENC_FF, rows), at + ENC_NORM2, rows);
    }
    return m->c.pre_ln ? layernorm(m, x, m->enc_norm, rows) : x;
}

static attn_tvar decoder(attn_encdec *m, attn_tvar mem, const attn_encdec_batch *b, const int32_t *tgt_in,
                         const int32_t *src_len, const int32_t *tgt_len) {
    int64_t B = b->B, T = b->T, rows = B * T;
    attn_tvar y = embed(m, tgt_in, B, T);
    for (int l = 0; l < m->c.n_decoder_layers; l++) {
        int at = m->dec_layer[l];
        attn_tvar h = sublayer_in(m, y, at + DEC_NORM1, rows);
        y = sublayer_out(m, y, self_attention(m, h, at + DEC_SA, B, T, tgt_len, true), at + DEC_NORM1, rows);
        h = sublayer_in(m, y, at + DEC_NORM2, rows);
        attn_tvar c = cross_attention(m, h, mem, at + DEC_CA, B, T, b->S, tgt_len, src_len);
        y = sublayer_out(m, y, c, at + DEC_NORM2, rows);
        h = sublayer_in(m, y, at + DEC_NORM3, rows);
        y = sublayer_out(m, y, feed_forward(m, h, at + DEC_FF, rows), at + DEC_NORM3, rows);
    }
    return m->c.pre_ln ? layernorm(m, y, m->dec_norm, rows) : y;
}

/* Copies B rows of T ids into tape memory (valid until backward), each row's positions
 * at or past its length replaced by `fill`: padding never reaches a range check. */
static int32_t *keep_rows(attn_tape *t, const int32_t *ids, const int32_t *lens, int64_t B, int64_t T, int32_t fill) {
    int32_t *dst = attn_tape_alloc(t, (size_t)(B * T) * sizeof(int32_t));
    if (!dst || !ids) return dst;
    for (int64_t b = 0; b < B; b++)
        for (int64_t i = 0; i < T; i++) dst[b * T + i] = i < lens[b] ? ids[b * T + i] : fill;
    return dst;
}

static int32_t *keep_lens(attn_tape *t, const int32_t *lens, int64_t B) {
    int32_t *dst = attn_tape_alloc(t, (size_t)B * sizeof(int32_t));
    if (dst && lens) memcpy(dst, lens, (size_t)B * sizeof(int32_t));
    return dst;
}

/* lens[b] in 1..T: checked before the rows are copied, since the copy reads up to them. */
static int check_lens(const int32_t *lens, int64_t B, int64_t T, const char *what) {
    for (int64_t b = 0; lens && b < B; b++)
        if (lens[b] < 1 || lens[b] > T)
            return attn_error("encoder-decoder batch: %s length %d of row %lld is outside 1..%lld", what, lens[b],
                              (long long)b, (long long)T);
    return 0;
}

attn_tvar attn_encdec_encode(attn_encdec *m, const int32_t *src, const int32_t *src_len, int64_t B, int64_t S) {
    attn_tape_begin(m->tape, false, 0);
    m->have_loss = false;
    const int32_t *ids = keep_rows(m->tape, src, src_len, B, S, m->c.pad_id), *lens = keep_lens(m->tape, src_len, B);
    return encoder(m, ids, lens, B, S);
}

static int record_forward(attn_encdec *m, const attn_encdec_batch *b, bool with_loss) {
    attn_tape *t = m->tape;
    int64_t B = b->B, rows = B * b->T;
    const int32_t *src = keep_rows(t, b->src, b->src_len, B, b->S, m->c.pad_id);
    const int32_t *tgt_in = keep_rows(t, b->tgt_in, b->tgt_len, B, b->T, m->c.pad_id);
    const int32_t *tgt_out = with_loss ? keep_rows(t, b->tgt_out, b->tgt_len, B, b->T, -1) : NULL;
    const int32_t *src_len = keep_lens(t, b->src_len, B), *tgt_len = keep_lens(t, b->tgt_len, B);
    attn_tvar mem = encoder(m, src, src_len, B, b->S);
    attn_tvar y = decoder(m, mem, b, tgt_in, src_len, tgt_len);
    attn_tape_next_grad_in_place(t); /* a backward overwrites the logits with dlogits */
    m->logits = linear(m, y, rows, encdec_param(m, 0), (attn_tvar){0}, m->c.d_model, m->c.vocab);
    if (with_loss) m->loss = attn_tape_cross_entropy(t, m->logits, tgt_out, rows, m->c.vocab, m->opts.label_smoothing);
    return attn_tape_status(t);
}

static uint64_t next_seed(uint64_t s) {
    uint64_t z = s + 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* b fits the plan: see attn_encdec_new. */
static int check_batch(const attn_encdec *m, const attn_encdec_batch *b) {
    if (b->B < 1 || b->S < 1 || b->T < 1 || b->B > m->B || b->B * b->S > m->B * m->S || b->B * b->T > m->B * m->T)
        return attn_error("encoder-decoder batch of %lld x (%lld, %lld): the model was planned for %lld x (%lld, %lld)",
                          (long long)b->B, (long long)b->S, (long long)b->T, (long long)m->B, (long long)m->S,
                          (long long)m->T);
    if (b->S > m->c.max_len || b->T > m->c.max_len)
        return attn_error("encoder-decoder batch: sequences of %lld and %lld tokens, max_len is %lld",
                          (long long)b->S, (long long)b->T, (long long)m->c.max_len);
    if (!b->src || !b->tgt_in || !b->src_len || !b->tgt_len) return attn_error("encoder-decoder batch: missing arrays");
    return check_lens(b->src_len, b->B, b->S, "source") || check_lens(b->tgt_len, b->B, b->T, "target") ? -1 : 0;
}

int attn_encdec_forward(attn_encdec *m, const attn_encdec_batch *b, float *loss) {
    m->have_loss = false;
    *loss = 0.0f;
    if (check_batch(m, b)) return -1;
    attn_tape_begin(m->tape, m->opts.training, m->opts.seed);
    if (m->opts.training) m->opts.seed = next_seed(m->opts.seed);
    if (record_forward(m, b, b->tgt_out != NULL)) return -1;
    m->have_loss = b->tgt_out != NULL;
    if (m->have_loss) *loss = m->loss.val[0];
    return 0;
}

int attn_encdec_backward(attn_encdec *m, float scale) {
    if (!m->have_loss) return attn_error("backward needs a forward with targets just before it");
    return attn_tape_backward(m->tape, m->loss, scale);
}
