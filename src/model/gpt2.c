/* gpt2.c - GPT-2 (Radford et al. 2019) as Hugging Face stores it: learned positions,
 * pre-LayerNorm blocks, fused QKV, tanh-GELU MLP, final LayerNorm, LM head tied to the
 * token embedding. Weights stay in the mmapped safetensors file in their own dtype and
 * HF's Conv1D [in][out] layout; only norms and biases are widened to f32 copies. A llama.cpp
 * GGUF ("gpt2" architecture, gpt2_gguf.h) works the same way with its [out][in] matrices,
 * block-quantized ones included. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "core/arena.h"
#include "core/common.h"
#include "core/matmul.h"
#include "format/safetensors.h"
#include "gpt2_gguf.h"
#include "batch_rows.h"
#include "gpt2_config.h"
#include "model.h"
#include "nn/attention.h"
#include "nn/layers.h"

#define PREFILL_CHUNK 512


typedef struct {
    float *ln1_w, *ln1_b, *ln2_w, *ln2_b;
    attn_weight qkv, proj, fc, fc_proj;
    float *qkv_b, *proj_b, *fc_b, *fc_proj_b;
} gpt2_layer;

typedef struct {
    attn_gpt2_config c;
    attn_safetensors *st; /* HF weights, or NULL */
    attn_gguf *gguf;      /* or llama.cpp GGUF weights */
    const char *weights_path;
    char prefix[16];
    attn_tensor_ref wte, wpe;
    attn_weight lm_head;
    float *lnf_w, *lnf_b;
    gpt2_layer *layers;
    attn_arena arena; /* f32 copies of norms and biases, activations */
    attn_kv_cache cache;
    float *x, *h, *qkv, *att, *fc; /* activations for one pass (prefill chunk) */
    float *logit_rows;             /* [ATTN_BATCH_LOGIT_ROWS][vocab] */
    int64_t chunk;
} gpt2;

static int read_config(attn_gpt2_config *c, const char *dir) {
    char path[4200];
    snprintf(path, sizeof path, "%s/config.json", dir);
    return attn_gpt2_config_read(path, c);
}

/* A tensor by its HF name: PREFIX+name in safetensors (lm_head.weight lives outside the
 * prefix), ggml's name in a GGUF. 1 found, 0 absent. */
static int find(const gpt2 *g, const char *name, attn_tensor_ref *out) {
    *out = (attn_tensor_ref){0};
    if (g->gguf) return attn_gpt2_gguf_find(g->gguf, name, out);
    snprintf(out->name, sizeof out->name, "%s%s", strcmp(name, "lm_head.weight") ? g->prefix : "", name);
    const attn_st_tensor *t = attn_safetensors_find_any(g->st, out->name);
    if (!t) return 0;
    out->loadable = t->loadable, out->dtype_name = t->dtype_name, out->dtype = t->dtype, out->ndim = t->ndim;
    for (int i = 0; i < ATTN_MAX_DIMS; i++) out->shape[i] = i < t->ndim ? t->shape[i] : 0;
    out->data = t->data, out->nbytes = t->nbytes;
    return 1;
}

/* Finds the tensor and checks its type and its shape against what the config implies;
 * vectors (and the position table) must be F32/F16/BF16. */
static int want(gpt2 *g, attn_tensor_ref *t, int ndim, int64_t d0, int64_t d1, const char *fmt, ...) {
    char name[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    if (!find(g, name, t)) return attn_error("%s: missing tensor '%s'", g->weights_path, t->name);
    if (!t->loadable || (t->qtype && ndim == 1))
        return attn_error("%s: tensor '%s' has type %s; attn loads F32, F16 or BF16%s", g->weights_path, t->name,
                          t->dtype_name, g->gguf && ndim == 2 ? " or a block type it has kernels for" : "");
    int64_t want_shape[2] = {d0, d1};
    bool ok = t->ndim == ndim;
    for (int i = 0; ok && i < ndim; i++) ok = t->shape[i] == want_shape[i];
    if (!ok) {
        char got[128] = "", exp[64];
        for (int i = 0; i < t->ndim; i++)
            snprintf(got + strlen(got), sizeof got - strlen(got), "%s%lld", i ? ", " : "", (long long)t->shape[i]);
        if (ndim == 1) snprintf(exp, sizeof exp, "%lld", (long long)d0);
        else snprintf(exp, sizeof exp, "%lld, %lld", (long long)d0, (long long)d1);
        return attn_error("%s: tensor '%s' has shape [%s] but %s implies [%s]", g->weights_path, t->name, got,
                          g->gguf ? "its metadata" : "config.json", exp);
    }
    return 0;
}

static int vec(gpt2 *g, float **dst, int64_t n, const char *name) {
    attn_tensor_ref t;
    if (want(g, &t, 1, n, 0, "%s", name)) return -1;
    *dst = attn_arena_push(&g->arena, (size_t)n * sizeof(float));
    if (*dst) attn_to_f32(*dst, t.data, t.dtype, n);
    return 0;
}

static int layer_vec(gpt2 *g, float **dst, int64_t n, int layer, const char *leaf) {
    char name[200];
    snprintf(name, sizeof name, "h.%d.%s", layer, leaf);
    return vec(g, dst, n, name);
}

/* HF's Conv1D stores [in][out]; a GGUF [out][in], maybe block-quantized. */
static int mat(gpt2 *g, attn_weight *w, int64_t in, int64_t out, int layer, const char *name) {
    attn_tensor_ref t;
    const bool conv1d = g->gguf == NULL;
    if (want(g, &t, 2, conv1d ? in : out, conv1d ? out : in, "h.%d.%s.weight", layer, name)) return -1;
    *w = (attn_weight){.data = t.data, .dtype = t.dtype, .n_in = in, .n_out = out, .in_major = conv1d, .qtype = t.qtype};
    return 0;
}

static int bind_layer(gpt2 *g, int l) {
    gpt2_layer *L = &g->layers[l];
    int64_t C = g->c.n_embd, I = g->c.n_inner;
    return layer_vec(g, &L->ln1_w, C, l, "ln_1.weight") || layer_vec(g, &L->ln1_b, C, l, "ln_1.bias") ||
           layer_vec(g, &L->ln2_w, C, l, "ln_2.weight") || layer_vec(g, &L->ln2_b, C, l, "ln_2.bias") ||
           mat(g, &L->qkv, C, 3 * C, l, "attn.c_attn") || layer_vec(g, &L->qkv_b, 3 * C, l, "attn.c_attn.bias") ||
           mat(g, &L->proj, C, C, l, "attn.c_proj") || layer_vec(g, &L->proj_b, C, l, "attn.c_proj.bias") ||
           mat(g, &L->fc, C, I, l, "mlp.c_fc") || layer_vec(g, &L->fc_b, I, l, "mlp.c_fc.bias") ||
           mat(g, &L->fc_proj, I, C, l, "mlp.c_proj") || layer_vec(g, &L->fc_proj_b, C, l, "mlp.c_proj.bias")
               ? -1 : 0;
}

static int bind_weights(gpt2 *g) {
    const attn_gpt2_config *c = &g->c;
    g->prefix[0] = 0;
    if (g->st && attn_safetensors_find(g->st, "transformer.wte.weight"))
        snprintf(g->prefix, sizeof g->prefix, "transformer.");
    if (want(g, &g->wte, 2, c->vocab, c->n_embd, "wte.weight") || want(g, &g->wpe, 2, c->n_ctx, c->n_embd, "wpe.weight"))
        return -1;
    if (g->wpe.qtype) return attn_error("%s: position table '%s' is block-quantized", g->weights_path, g->wpe.name);
    if (!g->layers && !(g->layers = calloc((size_t)c->n_layer, sizeof *g->layers)))
        return attn_error("out of memory loading %s", g->weights_path);
    for (int l = 0; l < c->n_layer; l++)
        if (bind_layer(g, l)) return -1;
    if (vec(g, &g->lnf_w, c->n_embd, "ln_f.weight") || vec(g, &g->lnf_b, c->n_embd, "ln_f.bias")) return -1;
    /* an untied head (a GGUF's output.weight, which llama.cpp's converter always writes) */
    attn_tensor_ref head;
    if (!find(g, "lm_head.weight", &head)) head = g->wte;
    else if (want(g, &head, 2, c->vocab, c->n_embd, "lm_head.weight")) return -1;
    g->lm_head = (attn_weight){.data = head.data, .dtype = head.dtype, .n_in = c->n_embd, .n_out = c->vocab,
                               .in_major = false, .qtype = head.qtype};
    return 0;
}

static float *push_floats(gpt2 *g, int64_t n) { return attn_arena_push(&g->arena, (size_t)n * sizeof(float)); }

/* The whole memory plan but the KV cache (gpt2_set_sequences); runs once measuring and once
 * for real (see core/arena.h). */
static int plan(gpt2 *g) {
    const attn_gpt2_config *c = &g->c;
    int64_t T = g->chunk = ATTN_MIN(c->n_ctx, PREFILL_CHUNK), C = c->n_embd;
    g->x = push_floats(g, T * C), g->h = push_floats(g, T * C), g->att = push_floats(g, T * C);
    g->qkv = push_floats(g, T * 3 * C), g->fc = push_floats(g, T * c->n_inner);
    g->logit_rows = push_floats(g, ATTN_BATCH_LOGIT_ROWS * c->vocab);
    return bind_weights(g);
}

static int alloc_state(gpt2 *g) {
    g->arena = attn_arena_measure();
    if (plan(g) != 0) return -1;
    return attn_arena_init(&g->arena, g->arena.used) != 0 || plan(g) != 0 ? -1 : 0;
}

/* One transformer block over the pass's rows of g->x; attention per segment against its
 * sequence's cache. */
static int block(gpt2 *g, int l, const attn_batch_pass *p) {
    const attn_gpt2_config *c = &g->c;
    gpt2_layer *L = &g->layers[l];
    int64_t T = p->rows, C = c->n_embd;
    attn_attention_shape shape = {.n_heads = (int)c->n_head, .n_kv_heads = (int)c->n_head,
                                  .head_dim = (int)(C / c->n_head), .scale = 1.0f};
    if (c->scale_attn_weights) shape.scale = 1.0f / sqrtf((float)shape.head_dim);
    if (c->scale_attn_by_inverse_layer_idx) shape.scale /= (float)(l + 1);

    attn_layernorm(g->h, g->x, L->ln1_w, L->ln1_b, T, C, c->eps);
    if (attn_matmul(g->qkv, g->h, T, &L->qkv, L->qkv_b)) return -1;
    attn_batch_attend(p, &g->cache, l, g->att, C, g->qkv, 3 * C, g->qkv + C, g->qkv + 2 * C, 3 * C, &shape);
    if (attn_matmul(g->h, g->att, T, &L->proj, L->proj_b)) return -1;
    attn_add(g->x, g->h, T * C);

    attn_layernorm(g->h, g->x, L->ln2_w, L->ln2_b, T, C, c->eps);
    if (attn_matmul(g->fc, g->h, T, &L->fc, L->fc_b)) return -1;
    attn_gelu_tanh(g->fc, T * c->n_inner);
    if (attn_matmul(g->h, g->fc, T, &L->fc_proj, L->fc_proj_b)) return -1;
    attn_add(g->x, g->h, T * C);
    return 0;
}

static void final_norm(const void *family, float *out, const float *x, int64_t rows) {
    const gpt2 *g = family;
    attn_layernorm(out, x, g->lnf_w, g->lnf_b, rows, g->c.n_embd, g->c.eps);
}

/* A segment's token rows (the table in whatever form it is stored: attn_weight_row, as
 * llama's lookup) plus its position rows (g->h is free scratch before the blocks run). */
static void embed(gpt2 *g, const attn_batch_segment *s) {
    const int64_t C = g->c.n_embd;
    const attn_weight table = {.data = g->wte.data, .dtype = g->wte.dtype, .qtype = g->wte.qtype, .n_in = C,
                               .n_out = g->c.vocab};
    const size_t row_bytes = (size_t)C * attn_dtype_size(g->wpe.dtype);
    float *x = g->x + s->row * C, *pos = g->h + s->row * C;
    for (int64_t t = 0; t < s->n; t++) {
        attn_weight_row(x + t * C, &table, s->tokens[t]);
        attn_to_f32(pos, (const char *)g->wpe.data + (size_t)(s->pos + t) * row_bytes, g->wpe.dtype, C);
        attn_add(x + t * C, pos, C);
    }
}

/* Token plus position embeddings of every segment, the blocks, the logits. */
static int forward_pass(gpt2 *g, const attn_batch_pass *p) {
    for (int i = 0; i < p->n_segs; i++) embed(g, &p->segs[i]);
    int64_t C = g->c.n_embd;
    for (int l = 0; l < g->c.n_layer; l++)
        if (block(g, l, p)) return -1;
    return attn_batch_logits(p, g->x, C, g->h, &g->lm_head, final_norm, g, g->logit_rows);
}

static int gpt2_forward(attn_model *m, const attn_batch_item *items, int n_items) {
    gpt2 *g = m->impl;
    /* the thread count may have changed since load: every thread needs its score buffer */
    if (attn_attention_reserve(g->cache.max_pos) != 0) return attn_error("out of memory for attention scores");
    attn_batch_pass p = {0};
    while (attn_batch_next_pass(&p, m, items, n_items, g->chunk))
        if (forward_pass(g, &p)) return -1;
    return 0;
}

static int gpt2_set_sequences(attn_model *m, int n_seq, int64_t n_ctx) {
    gpt2 *g = m->impl;
    const attn_gpt2_config *c = &g->c;
    attn_kv_cache fresh;
    if (attn_kv_cache_init(&fresh, m->kv_type, (int)c->n_layer, n_seq, n_ctx, (int)c->n_head, (int)(c->n_embd / c->n_head)))
        return -1;
    attn_kv_cache_free(&g->cache);
    g->cache = fresh;
    return 0;
}

static void gpt2_free(attn_model *m) {
    gpt2 *g = m->impl;
    attn_safetensors_close(g->st);
    attn_gguf_close(g->gguf);
    free(g->layers);
    attn_kv_cache_free(&g->cache);
    attn_arena_free(&g->arena);
    free(g);
}

static const attn_model_ops gpt2_ops = {.forward = gpt2_forward, .set_sequences = gpt2_set_sequences,
                                        .free = gpt2_free};

static void fill_info(attn_model *m, const gpt2 *g) {
    const attn_gpt2_config *c = &g->c;
    const attn_weight *qkv = &g->layers[0].qkv;
    m->info = (attn_model_info){.family = "gpt2", .n_ctx = c->n_ctx, .vocab_size = c->vocab, .n_layer = c->n_layer,
                                .n_embd = c->n_embd, .n_head = c->n_head, .quantized = qkv->qtype != 0,
                                .dtype = g->wte.dtype,
                                .origin = g->st ? attn_safetensors_meta(g->st, "attn.origin") : NULL,
                                .weight_type = qkv->qtype ? attn_qtype_name(qkv->qtype) : attn_dtype_name(qkv->dtype)};
    for (int i = 0; g->gguf && i < attn_gguf_tensor_count(g->gguf); i++) {
        m->info.weight_bytes += attn_gguf_tensor_at(g->gguf, i)->nbytes;
        m->info.n_params += attn_gguf_tensor_at(g->gguf, i)->n_elements;
    }
    for (int i = 0; g->st && i < attn_safetensors_count(g->st); i++) {
        const attn_st_tensor *t = attn_safetensors_at(g->st, i);
        if (!t->loadable || strstr(t->name, "attn.bias") || strstr(t->name, "masked_bias")) continue; /* buffers */
        m->info.weight_bytes += t->nbytes;
        m->info.n_params += (int64_t)(t->nbytes / attn_dtype_size(t->dtype));
    }
    m->info.decode_bytes = m->info.weight_bytes - ATTN_MIN(g->wpe.nbytes, m->info.weight_bytes);
}

static attn_model *new_model(gpt2 **g) {
    *g = calloc(1, sizeof **g);
    attn_model *m = *g ? attn_model_new(&gpt2_ops, *g) : NULL;
    if (!m) {
        free(*g);
        attn_error("out of memory");
    }
    return m;
}

/* Binds the weights once the config and file are in place. */
static attn_model *finish_load(attn_model *m, gpt2 *g) {
    if (alloc_state(g) != 0) {
        attn_model_free(m);
        return NULL;
    }
    fill_info(m, g);
    attn_model_default_kv(m);
    if (attn_model_set_sequences(m, 1, 0) != 0) {
        attn_model_free(m);
        return NULL;
    }
    return m;
}

attn_model *attn_gpt2_load(const char *dir, const char *weights_path) {
    gpt2 *g;
    attn_model *m = new_model(&g);
    if (!m) return NULL;
    if (read_config(&g->c, dir) != 0 || !(g->st = attn_safetensors_open(weights_path))) {
        attn_model_free(m);
        return NULL;
    }
    g->weights_path = attn_safetensors_path(g->st);
    return finish_load(m, g);
}

attn_model *attn_gpt2_load_gguf(const char *path) {
    gpt2 *g;
    attn_model *m = new_model(&g);
    if (!m) return NULL;
    if (!(g->gguf = attn_gguf_open(path)) || attn_gpt2_gguf_config(g->gguf, &g->c) != 0) {
        attn_model_free(m);
        return NULL;
    }
    g->weights_path = attn_gguf_path(g->gguf);
    return finish_load(m, g);
}
