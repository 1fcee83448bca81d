/* llama_gguf.c - the GGUF source of LLaMA-family tensors (llama.cpp's "llama" architecture,
 * which also covers Mistral and the SmolLM/TinyLlama family): ggml names to logical names,
 * GGUF's fastest-first dimensions reversed to row-major [out][in], block-quantized types
 * passed through as attn_tensor_ref.qtype, and the hyperparameters read from metadata. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "core/common.h"
#include "core/quant_matmul.h"
#include "format/gguf.h"
#include "llama_gguf.h"

/* ggml names; %d is the layer. Biases are absent from llama-arch files, so never bound. */
static const char *const gguf_names[ATTN_LT_COUNT] = {
    [ATTN_LT_TOKEN_EMBD] = "token_embd.weight",
    [ATTN_LT_OUTPUT_NORM] = "output_norm.weight",
    [ATTN_LT_OUTPUT] = "output.weight",
    [ATTN_LT_ATTN_NORM] = "blk.%d.attn_norm.weight",
    [ATTN_LT_Q] = "blk.%d.attn_q.weight",
    [ATTN_LT_K] = "blk.%d.attn_k.weight",
    [ATTN_LT_V] = "blk.%d.attn_v.weight",
    [ATTN_LT_O] = "blk.%d.attn_output.weight",
    [ATTN_LT_Q_BIAS] = "blk.%d.attn_q.bias",
    [ATTN_LT_K_BIAS] = "blk.%d.attn_k.bias",
    [ATTN_LT_V_BIAS] = "blk.%d.attn_v.bias",
    [ATTN_LT_O_BIAS] = "blk.%d.attn_output.bias",
    [ATTN_LT_FFN_NORM] = "blk.%d.ffn_norm.weight",
    [ATTN_LT_GATE] = "blk.%d.ffn_gate.weight",
    [ATTN_LT_UP] = "blk.%d.ffn_up.weight",
    [ATTN_LT_DOWN] = "blk.%d.ffn_down.weight",
    [ATTN_LT_GATE_BIAS] = "blk.%d.ffn_gate.bias",
    [ATTN_LT_UP_BIAS] = "blk.%d.ffn_up.bias",
    [ATTN_LT_DOWN_BIAS] = "blk.%d.ffn_down.bias",
};

const char *attn_llama_gguf_name(attn_llama_tensor id) {
    return (int)id >= 0 && id < ATTN_LT_COUNT ? gguf_names[id] : NULL;
}

/* Fills the plain dtype or the block type; `loadable` says whether attn computes with it. */
static void set_type(attn_tensor_ref *out, attn_qtype t) {
    out->dtype = ATTN_F32, out->qtype = 0, out->dtype_name = attn_qtype_name(t);
    out->loadable = true;
    if (t == ATTN_QT_F16) out->dtype = ATTN_F16;
    else if (t == ATTN_QT_BF16) out->dtype = ATTN_BF16;
    else if (t != ATTN_QT_F32) {
        out->qtype = (int)t;
        out->loadable = attn_qtype_matmul_ok(t);
    }
}

int attn_gguf_tensor_ref(const attn_gguf *g, const char *name, attn_tensor_ref *out) {
    if (name != out->name) snprintf(out->name, sizeof out->name, "%s", name);
    out->file = attn_gguf_path(g);
    const attn_gguf_tensor *t = attn_gguf_find_tensor(g, out->name);
    if (!t) return 0;
    set_type(out, t->type);
    out->ndim = t->n_dims;
    for (int i = 0; i < ATTN_MAX_DIMS; i++) out->shape[i] = i < t->n_dims ? t->ne[t->n_dims - 1 - i] : 0;
    out->data = t->data, out->nbytes = t->nbytes;
    return 1;
}

static int gguf_find(const attn_llama_source *s, attn_llama_tensor id, int layer, attn_tensor_ref *out) {
    snprintf(out->name, sizeof out->name, gguf_names[id], layer);
    return attn_gguf_tensor_ref(s->impl, out->name, out);
}

static void gguf_release(const attn_llama_source *s, const void *data, size_t nbytes) {
    attn_gguf_release(s->impl, data, nbytes);
}

static void gguf_close(attn_llama_source *s) {
    attn_gguf_close(s->impl);
    free(s->chat_template); /* still here only when no model took it over */
    free(s);
}

/* tokenizer.chat_template, copied so the model can keep it after the file is closed. */
static int read_chat_template(const attn_gguf *g, char **out) {
    const char *jinja;
    size_t len;
    *out = NULL;
    if (!attn_gguf_find(g, "tokenizer.chat_template")) return 0;
    if (attn_gguf_get_str(g, "tokenizer.chat_template", &jinja, &len)) return -1;
    if (!(*out = malloc(len + 1))) return attn_error("out of memory");
    memcpy(*out, jinja, len + 1);
    return 0;
}

/* "<arch>.<key>" as an integer; `def` < 0 means required. */
static int arch_int(const attn_gguf *g, const char *arch, const char *key, int64_t def, int64_t *out) {
    char full[128];
    snprintf(full, sizeof full, "%s.%s", arch, key);
    if (def >= 0 && !attn_gguf_find(g, full)) {
        *out = def;
        return 0;
    }
    return attn_gguf_get_int(g, full, out);
}

/* "<arch>.<key>" as a float (F32 or F64); def used when absent. */
static int arch_float(const attn_gguf *g, const char *arch, const char *key, double def, bool required, double *out) {
    char full[128];
    snprintf(full, sizeof full, "%s.%s", arch, key);
    const attn_gguf_value *v = attn_gguf_find(g, full);
    if (!v) {
        *out = def;
        return required ? attn_error("%s: metadata '%s' is missing", attn_gguf_path(g), full) : 0;
    }
    if (v->type != ATTN_GGUF_F32 && v->type != ATTN_GGUF_F64)
        return attn_error("%s: metadata '%s' is %s, expected FLOAT32", attn_gguf_path(g), full,
                          attn_gguf_type_name(v->type));
    *out = v->f;
    return 0;
}

/* Linear scaling as llama.cpp reads it: an absent type means "linear", the factor is
 * rope.scaling.factor, else the older rope.scale_linear; no factor means none. */
static int read_scaling(const attn_gguf *g, const char *arch, attn_llama_config *c) {
    char key[128], fkey[128];
    snprintf(key, sizeof key, "%s.rope.scaling.type", arch);
    const char *type = "linear";
    if (attn_gguf_find(g, key) && attn_gguf_get_str(g, key, &type, NULL)) return -1;
    if (strcmp(type, "none") == 0) return 0;
    if (strcmp(type, "linear") != 0)
        return attn_error("%s: metadata '%s' = \"%s\" is not supported (none, linear)", attn_gguf_path(g), key, type);
    const char *name = "rope.scaling.factor";
    snprintf(fkey, sizeof fkey, "%s.%s", arch, name);
    if (!attn_gguf_find(g, fkey)) name = "rope.scale_linear", snprintf(fkey, sizeof fkey, "%s.%s", arch, name);
    double factor;
    if (!attn_gguf_find(g, fkey)) return 0;
    if (arch_float(g, arch, name, 1, true, &factor)) return -1;
    c->rope.scaling = ATTN_ROPE_SCALE_LINEAR, c->rope.factor = factor;
    return 0;
}

/* Rope: base frequency, rotated dims, linear scaling. Llama 3's per-dimension factors live
 * in a rope_freqs tensor attn does not apply yet, so such files are refused. */
static int read_rope(const attn_gguf *g, const char *arch, attn_llama_config *c) {
    int64_t dim;
    double theta;
    if (arch_float(g, arch, "rope.freq_base", 10000.0, false, &theta) ||
        arch_int(g, arch, "rope.dimension_count", c->head_dim, &dim))
        return -1;
    if (dim != c->head_dim) /* compared before it is narrowed: 2^32 + 64 is not 64 */
        return attn_error("%s: %s.rope.dimension_count %lld differs from the head size %lld (partial rotary is "
                          "not supported)", attn_gguf_path(g), arch, (long long)dim, (long long)c->head_dim);
    /* llama.cpp's converter permuted q/k rows into adjacent pairs: rotate pairs (2i, 2i+1) */
    c->rope = (attn_rope_params){.dim = (int)dim, .theta = theta, .layout = ATTN_ROPE_INTERLEAVED, .factor = 1};
    if (attn_gguf_find_tensor(g, "rope_freqs.weight"))
        return attn_error("%s: tensor 'rope_freqs.weight' (Llama 3 rope scaling) is not supported yet", attn_gguf_path(g));
    return read_scaling(g, arch, c);
}

/* The head size: key_length (default width / heads); value_length, when given, must equal it
 * (values as wide as keys is all attn's attention computes). */
static int read_head_dim(const attn_gguf *g, const char *arch, attn_llama_config *c) {
    int64_t v;
    if (arch_int(g, arch, "attention.key_length", c->n_embd / c->n_head, &c->head_dim) ||
        arch_int(g, arch, "attention.value_length", c->head_dim, &v))
        return -1;
    if (v != c->head_dim)
        return attn_error("%s: %s.attention.value_length %lld differs from key_length %lld (not supported)",
                          attn_gguf_path(g), arch, (long long)v, (long long)c->head_dim);
    return 0;
}

/* Whether llama.c's bind_weights asks for tensor `name` under config c. */
static bool bound(const char *name, const attn_llama_config *c) {
    int layer = -1, at = 0;
    if (sscanf(name, "blk.%d.%n", &layer, &at) != 1 || at == 0) layer = -1;
    char want[200];
    for (int id = 0; id < ATTN_LT_COUNT && layer < c->n_layer; id++) {
        bool bias = strstr(gguf_names[id], ".bias") != NULL;
        bool on = !bias || (id == ATTN_LT_O_BIAS ? c->o_bias : id >= ATTN_LT_GATE_BIAS ? c->mlp_bias : c->qkv_bias);
        if ((id >= ATTN_LT_ATTN_NORM) != (layer >= 0) || !on) continue;
        snprintf(want, sizeof want, gguf_names[id], layer);
        if (strcmp(want, name) == 0) return true;
    }
    return false;
}

/* Every tensor must be one the model uses, as llama.cpp's loader wants: a block past
 * block_count means the count lies (attn would silently run fewer layers). */
static int check_unused(const attn_gguf *g, const attn_llama_config *c) {
    for (int i = 0; i < attn_gguf_tensor_count(g); i++) {
        const char *name = attn_gguf_tensor_at(g, i)->name;
        if (!bound(name, c))
            return attn_error("%s: tensor '%s' is not one the model uses (llama.block_count is %lld)",
                              attn_gguf_path(g), name, (long long)c->n_layer);
    }
    return 0;
}

static int read_config(const attn_gguf *g, attn_llama_config *c) {
    const char *arch;
    double eps;
    if (attn_gguf_get_str(g, "general.architecture", &arch, NULL)) return -1;
    if (strcmp(arch, "llama") != 0)
        return attn_error("%s: general.architecture \"%s\" is not supported by the GGUF LLaMA loader (only llama)",
                          attn_gguf_path(g), arch);
    *c = (attn_llama_config){0};
    snprintf(c->arch, sizeof c->arch, "%s", arch);
    if (arch_int(g, arch, "block_count", -1, &c->n_layer) || arch_int(g, arch, "embedding_length", -1, &c->n_embd) ||
        arch_int(g, arch, "feed_forward_length", -1, &c->n_ff) ||
        arch_int(g, arch, "attention.head_count", -1, &c->n_head) ||
        arch_int(g, arch, "attention.head_count_kv", c->n_head, &c->n_kv_head) ||
        arch_int(g, arch, "context_length", 2048, &c->n_ctx) ||
        arch_float(g, arch, "attention.layer_norm_rms_epsilon", 1e-5, true, &eps))
        return -1;
    c->rms_eps = (float)eps;
    char last[64]; /* before anything is sized by block_count: its last block must be there */
    snprintf(last, sizeof last, "blk.%lld.attn_norm.weight", (long long)c->n_layer - 1);
    if (c->n_layer >= 1 && !attn_gguf_find_tensor(g, last))
        return attn_error("%s: llama.block_count is %lld but the file has no tensor '%s'", attn_gguf_path(g),
                          (long long)c->n_layer, last);
    if (c->n_head < 1 || c->n_embd % c->n_head)
        return attn_error("%s: embedding_length %lld is not a multiple of head_count %lld", attn_gguf_path(g),
                          (long long)c->n_embd, (long long)c->n_head);
    if (read_head_dim(g, arch, c) || attn_gguf_model_vocab(g, arch, &c->vocab) || read_rope(g, arch, c))
        return -1;
    c->tie_embeddings = attn_gguf_find_tensor(g, "output.weight") == NULL;
    /* llama.cpp uses whichever biases the file holds (converted from attention_bias / mlp_bias) */
    c->qkv_bias = attn_gguf_find_tensor(g, "blk.0.attn_q.bias") != NULL;
    c->o_bias = attn_gguf_find_tensor(g, "blk.0.attn_output.bias") != NULL;
    c->mlp_bias = attn_gguf_find_tensor(g, "blk.0.ffn_up.bias") != NULL;
    return attn_llama_config_check(c, attn_gguf_path(g)) || check_unused(g, c) ? -1 : 0;
}

attn_llama_source *attn_llama_source_gguf(const char *path, attn_llama_config *c) {
    attn_gguf *g = attn_gguf_open(path);
    if (!g) return NULL;
    attn_llama_source *s = calloc(1, sizeof *s);
    if (!s) {
        attn_gguf_close(g);
        attn_error("out of memory");
        return NULL;
    }
    *s = (attn_llama_source){.find = gguf_find, .close = gguf_close, .release = gguf_release, .path = attn_gguf_path(g), .impl = g};
    if (read_config(g, c) != 0 || read_chat_template(g, &s->chat_template) != 0) {
        gguf_close(s);
        return NULL;
    }
    return s;
}
