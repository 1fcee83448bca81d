/* gpt2_config.c - GPT-2 config.json reading and writing (see gpt2_config.h). */
#include "gpt2_config.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "core/common.h"
#include "format/config.h"
#include "format/fileio.h"

void attn_gpt2_config_defaults(attn_gpt2_config *c) {
    *c = (attn_gpt2_config){.n_layer = 12, .n_head = 12, .n_embd = 768, .n_ctx = 1024, .vocab = 50257, .eps = 1e-5f,
                            .scale_attn_weights = true, .eos_id = -1, .dtype = ATTN_F32};
}

int attn_gpt2_config_check(attn_gpt2_config *c, const char *what) {
    if (c->n_inner == 0) c->n_inner = 4 * c->n_embd;
    if (c->n_layer < 1 || c->n_head < 1 || c->n_embd < 1 || c->n_inner < 1 || c->n_ctx < 1 || c->vocab < 1)
        return attn_error("%s: layers, heads, width, inner width, context and vocabulary must be positive", what);
    if (c->n_layer > 1024 || c->n_ctx > (1 << 20)) /* config.json's bounds, for a GGUF's metadata too */
        return attn_error("%s: %lld layers or a context of %lld positions is beyond attn's bounds (1024, 2^20)", what,
                          (long long)c->n_layer, (long long)c->n_ctx);
    if (c->n_embd % c->n_head)
        return attn_error("%s: n_embd %lld is not divisible by n_head %lld", what, (long long)c->n_embd,
                          (long long)c->n_head);
    /* a GGUF's value is a float the file may hold as NaN or Inf: either poisons every norm */
    if (!(c->eps >= 0 && c->eps <= 1))
        return attn_error("%s: layer_norm_epsilon %g is outside [0, 1]", what, (double)c->eps);
    return 0;
}

static int read_activation(json_t *j, const char *path) {
    const char *act = attn_cfg_str(j, path, "activation_function", "gelu_new");
    if (!act) return -1;
    if (strcmp(act, "gelu_new") && strcmp(act, "gelu_pytorch_tanh") && strcmp(act, "gelu_fast"))
        return attn_error("%s: activation_function \"%s\" is not supported (gelu_new, gelu_pytorch_tanh)", path, act);
    return 0;
}

int attn_gpt2_config_read(const char *path, attn_gpt2_config *c) {
    json_t *j = attn_json_load_object(path);
    if (!j) return -1;
    attn_gpt2_config_defaults(c);
    int64_t ctx_alt, eos;
    double eps, drop;
    int scale, by_layer, rc = -1;
    if (attn_cfg_int(j, path, "n_layer", 12, 1, 1024, &c->n_layer) ||
        attn_cfg_int(j, path, "n_head", 12, 1, 1024, &c->n_head) ||
        attn_cfg_int(j, path, "n_embd", 768, 1, 65536, &c->n_embd) ||
        attn_cfg_int(j, path, "n_ctx", 1024, 1, 1 << 20, &ctx_alt) ||
        attn_cfg_int(j, path, "n_positions", ctx_alt, 1, 1 << 20, &c->n_ctx) ||
        attn_cfg_int(j, path, "vocab_size", 50257, 1, 1 << 24, &c->vocab) ||
        attn_cfg_int(j, path, "n_inner", 4 * c->n_embd, 1, 1 << 20, &c->n_inner) ||
        attn_cfg_float(j, path, "layer_norm_epsilon", 1e-5, 0, 1, &eps) ||
        attn_cfg_float(j, path, "resid_pdrop", 0.0, 0, 1, &drop) ||
        attn_cfg_int(j, path, "eos_token_id", -1, -1, 1 << 24, &eos) ||
        attn_cfg_bool(j, path, "scale_attn_weights", 1, &scale) ||
        attn_cfg_bool(j, path, "scale_attn_by_inverse_layer_idx", 0, &by_layer) || read_activation(j, path))
        goto out;
    c->eps = (float)eps, c->dropout = (float)drop, c->eos_id = eos;
    c->scale_attn_weights = scale, c->scale_attn_by_inverse_layer_idx = by_layer;
    rc = attn_gpt2_config_check(c, path);
out:
    json_decref(j);
    return rc;
}

/* 1e-5f as 1e-05 in the JSON, not 9.9999997473787516e-06 */
static double short_float(float x) {
    char buf[32];
    snprintf(buf, sizeof buf, "%.7g", (double)x);
    return strtod(buf, NULL);
}

static const char *torch_dtype(attn_dtype t) {
    return t == ATTN_F16 ? "float16" : t == ATTN_BF16 ? "bfloat16" : "float32";
}

int attn_gpt2_config_write(const char *dir, const attn_gpt2_config *c) {
    json_t *j = json_pack("{s:s, s:[s], s:I, s:I, s:I, s:I, s:I, s:I, s:f, s:s, s:b, s:b, s:b, s:s, s:f, s:f, s:f}",
                          "model_type", "gpt2", "architectures", "GPT2LMHeadModel", "n_layer", (json_int_t)c->n_layer,
                          "n_head", (json_int_t)c->n_head, "n_embd", (json_int_t)c->n_embd, "n_positions",
                          (json_int_t)c->n_ctx, "vocab_size", (json_int_t)c->vocab, "n_inner",
                          (json_int_t)(c->n_inner ? c->n_inner : 4 * c->n_embd), "layer_norm_epsilon", short_float(c->eps),
                          "activation_function", "gelu_new", "scale_attn_weights", (int)c->scale_attn_weights,
                          "scale_attn_by_inverse_layer_idx", (int)c->scale_attn_by_inverse_layer_idx,
                          "tie_word_embeddings", 1, "torch_dtype", torch_dtype(c->dtype), "embd_pdrop",
                          short_float(c->dropout), "resid_pdrop", short_float(c->dropout), "attn_pdrop", 0.0);
    if (!j) return attn_error("cannot build config.json");
    json_t *eos = c->eos_id >= 0 ? json_integer(c->eos_id) : json_null();
    json_object_set(j, "bos_token_id", eos);
    json_object_set_new(j, "eos_token_id", eos);
    char *text = json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS | JSON_REAL_PRECISION(9));
    json_decref(j);
    char path[4200];
    snprintf(path, sizeof path, "%s/config.json", dir);
    int rc = text ? attn_write_file_atomic(path, text, strlen(text)) : attn_error("cannot format config.json");
    free(text);
    return rc;
}
