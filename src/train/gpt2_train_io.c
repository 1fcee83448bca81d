/* gpt2_train_io.c - the trainable GPT-2 from and to Hugging Face's folder layout:
 * config.json + model.safetensors with "transformer."-prefixed names and Conv1D [in][out]
 * matrices. Loading widens F16/BF16 to the f32 master weights; saving writes F32, so the
 * checkpoint loads in src/model/gpt2.c, in HF transformers and back here unchanged. */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "core/common.h"
#include "format/config.h"
#include "format/fileio.h"
#include "format/safetensors.h"
#include "gpt2_train_internal.h"

#define PREFIX "transformer."

static int read_config(attn_gpt2_config *c, const char *path) {
    json_t *j = attn_json_load_object(path);
    if (!j) return -1;
    int64_t ctx_alt;
    double eps;
    int scale_attn, by_layer, rc = -1;
    if (attn_cfg_int(j, path, "n_layer", 12, 1, 1000, &c->n_layer) ||
        attn_cfg_int(j, path, "n_head", 12, 1, 1024, &c->n_head) ||
        attn_cfg_int(j, path, "n_embd", 768, 1, 65536, &c->n_embd) ||
        attn_cfg_int(j, path, "n_ctx", 1024, 1, 1 << 20, &ctx_alt) ||
        attn_cfg_int(j, path, "n_positions", ctx_alt, 1, 1 << 20, &c->n_ctx) ||
        attn_cfg_int(j, path, "vocab_size", 50257, 1, 1 << 24, &c->vocab) ||
        attn_cfg_int(j, path, "n_inner", 4 * c->n_embd, 1, 1 << 20, &c->n_inner) ||
        attn_cfg_float(j, path, "layer_norm_epsilon", 1e-5, 0, 1, &eps) ||
        attn_cfg_bool(j, path, "scale_attn_weights", 1, &scale_attn) ||
        attn_cfg_bool(j, path, "scale_attn_by_inverse_layer_idx", 0, &by_layer))
        goto out;
    c->eps = (float)eps, c->scale_attn_by_inverse_layer_idx = by_layer;
    if (!scale_attn) {
        attn_error("%s: scale_attn_weights false is not supported for training", path);
        goto out;
    }
    const char *act = attn_cfg_str(j, path, "activation_function", "gelu_new");
    if (!act) goto out;
    if (strcmp(act, "gelu_new") && strcmp(act, "gelu_pytorch_tanh") && strcmp(act, "gelu_fast")) {
        attn_error("%s: activation_function \"%s\" is not supported (gelu_new, gelu_pytorch_tanh)", path, act);
        goto out;
    }
    rc = 0;
out:
    json_decref(j);
    return rc;
}

/* Finds a tensor under its HF name, with or without the prefix, and checks its shape. */
static const attn_st_tensor *find_tensor(const attn_safetensors *st, const attn_param *p, bool prefixed) {
    const char *name = prefixed ? p->name : p->name + strlen(PREFIX);
    const attn_st_tensor *t = attn_safetensors_find_any(st, name);
    if (!t) {
        attn_error("%s: missing tensor '%s'", attn_safetensors_path(st), name);
        return NULL;
    }
    if (!t->loadable) {
        attn_error("%s: tensor '%s' has dtype %s; attn trains from F32, F16 or BF16", attn_safetensors_path(st), name,
                   t->dtype_name);
        return NULL;
    }
    bool ok = t->ndim == p->ndim && t->shape[0] == p->shape[0] && (p->ndim == 1 || t->shape[1] == p->shape[1]);
    if (!ok) {
        attn_error("%s: tensor '%s' has a shape other than config.json implies ([%lld%s%lld])",
                   attn_safetensors_path(st), name, (long long)p->shape[0], p->ndim == 2 ? ", " : "",
                   p->ndim == 2 ? (long long)p->shape[1] : 0LL);
        return NULL;
    }
    return t;
}

/* GPT-2 ties the head to wte; a stored lm_head.weight must equal it (compared in the
 * still-unused gradient buffer, so no allocation). */
static int check_tied_head(attn_gpt2_train *m, const attn_safetensors *st) {
    const attn_st_tensor *h = attn_safetensors_find(st, "lm_head.weight");
    const attn_param *wte = &m->params[0];
    if (!h) return 0;
    if (h->ndim != 2 || h->shape[0] != wte->shape[0] || h->shape[1] != wte->shape[1])
        return attn_error("%s: lm_head.weight does not have wte's shape", attn_safetensors_path(st));
    attn_to_f32(wte->grad, h->data, h->dtype, wte->numel);
    int same = memcmp(wte->grad, wte->data, (size_t)wte->numel * sizeof(float)) == 0;
    attn_gpt2_train_zero_grad(m);
    return same ? 0 : attn_error("%s: lm_head.weight differs from wte; attn trains GPT-2 with a tied head",
                                 attn_safetensors_path(st));
}

static int read_weights(attn_gpt2_train *m, const char *path) {
    attn_safetensors *st = attn_safetensors_open(path);
    if (!st) return -1;
    bool prefixed = attn_safetensors_find(st, PREFIX "wte.weight") != NULL;
    int rc = 0;
    for (int i = 0; i < m->n_params && rc == 0; i++) {
        const attn_st_tensor *t = find_tensor(st, &m->params[i], prefixed);
        if (t) attn_to_f32(m->params[i].data, t->data, t->dtype, m->params[i].numel);
        else rc = -1;
    }
    if (rc == 0) rc = check_tied_head(m, st);
    attn_safetensors_close(st);
    return rc;
}

static bool is_dir(const char *p) {
    struct stat s;
    return stat(p, &s) == 0 && S_ISDIR(s.st_mode);
}

attn_gpt2_train *attn_gpt2_train_load(const char *path, int64_t B, int64_t T) {
    char dir[4096], weights[4200], cfg_path[4200];
    snprintf(dir, sizeof dir, "%s", path);
    if (is_dir(path)) {
        snprintf(weights, sizeof weights, "%s/model.safetensors", path);
    } else {
        snprintf(weights, sizeof weights, "%s", path);
        char *slash = strrchr(dir, '/');
        if (slash) *slash = 0;
        else snprintf(dir, sizeof dir, ".");
    }
    snprintf(cfg_path, sizeof cfg_path, "%s/config.json", dir);
    attn_gpt2_config c = {0};
    if (read_config(&c, cfg_path)) return NULL;
    attn_gpt2_train *m = attn_gpt2_train_create(&c, B, T);
    if (m && read_weights(m, weights)) {
        attn_gpt2_train_free(m);
        return NULL;
    }
    return m;
}

/* ---- Saving ---- */

/* 1e-5f as 1e-05 in the JSON, not 9.9999997473787516e-06 */
static double short_float(float x) {
    char buf[32];
    snprintf(buf, sizeof buf, "%.7g", (double)x);
    return strtod(buf, NULL);
}

static int write_config(const attn_gpt2_train *m, const char *dir) {
    const attn_gpt2_config *c = &m->c;
    json_t *j = json_pack("{s:s, s:[s], s:I, s:I, s:I, s:I, s:I, s:I, s:f, s:s, s:b, s:b, s:b, s:s, s:f, s:f, s:f}",
                          "model_type", "gpt2", "architectures", "GPT2LMHeadModel", "n_layer", (json_int_t)c->n_layer,
                          "n_head", (json_int_t)c->n_head, "n_embd", (json_int_t)c->n_embd, "n_inner",
                          (json_int_t)c->n_inner, "n_positions", (json_int_t)c->n_ctx, "vocab_size",
                          (json_int_t)c->vocab, "layer_norm_epsilon", short_float(c->eps), "activation_function",
                          "gelu_new", "scale_attn_weights", 1, "scale_attn_by_inverse_layer_idx",
                          (int)c->scale_attn_by_inverse_layer_idx, "tie_word_embeddings", 1, "torch_dtype", "float32",
                          "embd_pdrop", (double)m->opts.dropout, "resid_pdrop", (double)m->opts.dropout, "attn_pdrop",
                          0.0);
    if (!j) return attn_error("cannot build config.json");
    /* GPT-2's <|endoftext|> when the vocabulary has it; else none (a tokenizer decides) */
    json_t *eos = c->vocab > 50256 ? json_integer(50256) : json_null();
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

int attn_gpt2_train_save(const attn_gpt2_train *m, const char *dir) {
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) return attn_error("%s: cannot create: %s", dir, strerror(errno));
    attn_st_entry *e = calloc((size_t)m->n_params, sizeof *e);
    if (!e) return attn_error("out of memory");
    for (int i = 0; i < m->n_params; i++) {
        const attn_param *p = &m->params[i];
        e[i] = (attn_st_entry){.name = p->name, .dtype = ATTN_F32, .ndim = p->ndim, .shape = {p->shape[0], p->shape[1]},
                               .data = p->data};
    }
    char path[4200];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    const char *keys[] = {"format"}, *vals[] = {"pt"};
    int rc = attn_safetensors_write(path, e, m->n_params, keys, vals, 1);
    free(e);
    return rc == 0 ? write_config(m, dir) : -1;
}
