/* llama_config.c - LLaMA-family config.json reading and checking (see llama_config.h).
 * Hugging Face writes rotary settings in two ways: transformers 5 nests them in
 * "rope_parameters" {"rope_type", "rope_theta", ...}; older files (most of the Hub) have a
 * top-level "rope_theta" and an optional "rope_scaling" {"rope_type" or "type", ...}.
 * Both are read. */
#include "llama_config.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include "core/common.h"
#include "format/config.h"

/* Shape fields have no safe default: a missing one is named. */
static int need_int(json_t *j, const char *path, const char *key, int64_t hi, int64_t *out) {
    json_t *v = json_object_get(j, key);
    if (!v || json_is_null(v)) return attn_error("%s: \"%s\" is missing", path, key);
    return attn_cfg_int(j, path, key, 0, 1, hi, out);
}

/* HF's defaults for max_position_embeddings, per model_type. */
static int64_t default_ctx(const char *arch) {
    return strcmp(arch, "mistral") == 0 ? 4096 * 32 : strcmp(arch, "qwen2") == 0 ? 32768 : 2048;
}

/* original_max_position_embeddings: in the rope object, else top level (Phi-3 style), else
 * max_position_embeddings, as transformers 5 resolves it. */
static int read_llama3(json_t *r, json_t *top, const char *path, int64_t n_ctx, attn_rope_params *p) {
    const char *need[] = {"factor", "low_freq_factor", "high_freq_factor"};
    for (size_t i = 0; i < sizeof need / sizeof *need; i++)
        if (!json_object_get(r, need[i])) return attn_error("%s: llama3 rope scaling needs \"%s\"", path, need[i]);
    p->scaling = ATTN_ROPE_SCALE_LLAMA3;
    const char *orig = "original_max_position_embeddings";
    return attn_cfg_float(r, path, "factor", 1, 1e-6, 1e6, &p->factor) ||
           attn_cfg_float(r, path, "low_freq_factor", 1, 1e-6, 1e6, &p->low_freq_factor) ||
           attn_cfg_float(r, path, "high_freq_factor", 4, 1e-6, 1e6, &p->high_freq_factor) ||
           attn_cfg_int(top, path, orig, n_ctx, 1, 1 << 24, &p->original_ctx) ||
           attn_cfg_int(r, path, orig, p->original_ctx, 1, 1 << 24, &p->original_ctx)
               ? -1 : 0;
}

/* r: the object holding rope_type (or the legacy "type") and its parameters; NULL = none. */
static int read_scaling(json_t *r, json_t *top, const char *path, int64_t n_ctx, attn_rope_params *p) {
    p->scaling = ATTN_ROPE_SCALE_NONE;
    if (!r) return 0;
    const char *type = attn_cfg_str(r, path, "rope_type", NULL);
    if (!type && !json_object_get(r, "rope_type")) type = attn_cfg_str(r, path, "type", "default");
    if (!type) return -1;
    if (strcmp(type, "default") == 0) return 0;
    if (strcmp(type, "linear") == 0) {
        p->scaling = ATTN_ROPE_SCALE_LINEAR;
        if (!json_object_get(r, "factor")) return attn_error("%s: linear rope scaling needs \"factor\"", path);
        return attn_cfg_float(r, path, "factor", 1, 1e-6, 1e6, &p->factor);
    }
    if (strcmp(type, "llama3") == 0) return read_llama3(r, top, path, n_ctx, p);
    return attn_error("%s: rope scaling type \"%s\" is not supported (attn supports default, linear and llama3; "
                      "dynamic, yarn, longrope and the others are not implemented)", path, type);
}

static int read_rope(json_t *j, const char *path, attn_llama_config *c) {
    attn_rope_params *p = &c->rope;
    json_t *params = json_object_get(j, "rope_parameters"), *legacy = json_object_get(j, "rope_scaling");
    if (json_is_null(params)) params = NULL;
    if (json_is_null(legacy)) legacy = NULL;
    if ((params && !json_is_object(params)) || (legacy && !json_is_object(legacy)))
        return attn_error("%s: \"%s\" must be an object", path, params && !json_is_object(params) ? "rope_parameters"
                                                                                                  : "rope_scaling");
    *p = (attn_rope_params){.dim = (int)c->head_dim, .layout = ATTN_ROPE_NEOX, .factor = 1};
    double theta;
    if (attn_cfg_float(j, path, "rope_theta", 10000.0, 1.0, 1e12, &theta)) return -1;
    if (params && attn_cfg_float(params, path, "rope_theta", theta, 1.0, 1e12, &theta)) return -1;
    p->theta = theta;
    /* rotating only part of each head (Phi, GPT-NeoX) is another architecture */
    double partial;
    if (attn_cfg_float(j, path, "partial_rotary_factor", 1, 0, 1, &partial) ||
        (params && attn_cfg_float(params, path, "partial_rotary_factor", partial, 0, 1, &partial)))
        return -1;
    if (partial != 1.0) return attn_error("%s: partial_rotary_factor %g is not supported (only 1)", path, partial);
    return read_scaling(params ? params : legacy, j, path, c->n_ctx, p);
}

/* A sliding window (Mistral v0.1, Qwen2 with use_sliding_window) only matters past its
 * length; the cache is capped there, so full causal attention is exactly the windowed one. */
static int read_window(json_t *j, const char *path, attn_llama_config *c) {
    int use = strcmp(c->arch, "mistral") == 0;
    int64_t window;
    if (strcmp(c->arch, "qwen2") == 0 && attn_cfg_bool(j, path, "use_sliding_window", 0, &use)) return -1;
    if (attn_cfg_int(j, path, "sliding_window", 0, 0, INT64_MAX, &window)) return -1;
    if (use && window > 0 && window < c->n_ctx) c->n_ctx = window;
    return 0;
}

static int read_flags(json_t *j, const char *path, attn_llama_config *c) {
    int attn_bias = 0, mlp_bias = 0, tie = 0;
    if (attn_cfg_bool(j, path, "tie_word_embeddings", 0, &tie)) return -1;
    c->tie_embeddings = tie;
    if (strcmp(c->arch, "qwen2") == 0) {
        c->qkv_bias = true; /* Qwen2 always has q/k/v biases and none elsewhere */
        return 0;
    }
    if (strcmp(c->arch, "llama") == 0 &&
        (attn_cfg_bool(j, path, "attention_bias", 0, &attn_bias) || attn_cfg_bool(j, path, "mlp_bias", 0, &mlp_bias)))
        return -1;
    c->qkv_bias = c->o_bias = attn_bias; /* LLaMA's attention_bias covers o_proj too */
    c->mlp_bias = mlp_bias;
    return 0;
}

static int read_shape(json_t *j, const char *path, attn_llama_config *c) {
    if (need_int(j, path, "vocab_size", 1 << 24, &c->vocab) || need_int(j, path, "hidden_size", 1 << 17, &c->n_embd) ||
        need_int(j, path, "intermediate_size", 1 << 20, &c->n_ff) ||
        need_int(j, path, "num_hidden_layers", 4096, &c->n_layer) ||
        need_int(j, path, "num_attention_heads", 4096, &c->n_head) ||
        attn_cfg_int(j, path, "num_key_value_heads", c->n_head, 1, 4096, &c->n_kv_head) ||
        attn_cfg_int(j, path, "max_position_embeddings", default_ctx(c->arch), 1, 1 << 24, &c->n_ctx))
        return -1;
    if (!json_object_get(j, "head_dim") || json_is_null(json_object_get(j, "head_dim"))) {
        if (c->n_embd % c->n_head)
            return attn_error("%s: hidden_size %lld is not divisible by num_attention_heads %lld (and no head_dim)",
                              path, (long long)c->n_embd, (long long)c->n_head);
        c->head_dim = c->n_embd / c->n_head;
        return 0;
    }
    return attn_cfg_int(j, path, "head_dim", 0, 1, 4096, &c->head_dim);
}

static int read_misc(json_t *j, const char *path, attn_llama_config *c) {
    double eps;
    if (attn_cfg_float(j, path, "rms_norm_eps", 1e-6, 0, 1, &eps)) return -1;
    c->rms_eps = (float)eps;
    const char *act = attn_cfg_str(j, path, "hidden_act", "silu");
    if (!act) return -1;
    if (strcmp(act, "silu") && strcmp(act, "swish"))
        return attn_error("%s: hidden_act \"%s\" is not supported (LLaMA-family models use silu)", path, act);
    if (json_object_get(j, "quantization_config"))
        return attn_error("%s: quantized Hugging Face checkpoints (\"quantization_config\") are not supported; "
                          "use the f32/f16/bf16 weights", path);
    return 0;
}

int attn_llama_config_read(const char *path, attn_llama_config *c) {
    json_t *j = attn_json_load_object(path);
    if (!j) return -1;
    *c = (attn_llama_config){0};
    int rc = -1;
    const char *arch = attn_cfg_str(j, path, "model_type", "llama");
    if (!arch) goto out;
    snprintf(c->arch, sizeof c->arch, "%s", arch);
    if (read_shape(j, path, c) || read_misc(j, path, c) || read_rope(j, path, c) || read_window(j, path, c) ||
        read_flags(j, path, c))
        goto out;
    rc = attn_llama_config_check(c, path);
out:
    json_decref(j);
    return rc;
}

int attn_llama_config_check(const attn_llama_config *c, const char *what) {
    if (c->n_layer < 1 || c->n_embd < 1 || c->n_ff < 1 || c->vocab < 1 || c->n_head < 1 || c->n_kv_head < 1 ||
        c->head_dim < 1 || c->n_ctx < 1)
        return attn_error("%s: layers, widths, heads, vocabulary and context must be positive", what);
    if (c->n_layer > 4096 || c->n_ctx > (1 << 24)) /* the Hugging Face config reader's bounds, for every source */
        return attn_error("%s: %lld layers or a context of %lld positions is beyond attn's bounds (4096, 2^24)", what,
                          (long long)c->n_layer, (long long)c->n_ctx);
    if (c->n_head % c->n_kv_head)
        return attn_error("%s: num_attention_heads %lld is not a multiple of num_key_value_heads %lld", what,
                          (long long)c->n_head, (long long)c->n_kv_head);
    if (c->head_dim % 2) return attn_error("%s: head_dim %lld must be even for rotary embeddings", what, (long long)c->head_dim);
    if (c->rope.dim != c->head_dim)
        return attn_error("%s: rotary dimension %d differs from head_dim %lld", what, c->rope.dim, (long long)c->head_dim);
    /* config.json's bounds; a GGUF's float can be anything (Inf or 1e30 zero every norm) */
    if (!(c->rms_eps >= 0 && c->rms_eps <= 1))
        return attn_error("%s: rms_norm_eps %g is outside [0, 1]", what, (double)c->rms_eps);
    return attn_rope_check(&c->rope, what);
}
