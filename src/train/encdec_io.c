/* encdec_io.c - the encoder-decoder on disk: DIR/config.json (attn's "attn-encdec" keys,
 * named after nn.Transformer's arguments) and DIR/model.safetensors (nn.Transformer's
 * parameter names, F32; loading also widens F16 and BF16). */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "core/common.h"
#include "encdec_internal.h"
#include "format/config.h"
#include "format/fileio.h"
#include "format/safetensors.h"

#define MODEL_TYPE "attn-encdec"
#define PATH_CAP 4200

/* 1e-5f as 1e-05 in the JSON, not 9.9999997473787516e-06 */
static double short_float(float x) {
    char buf[32];
    snprintf(buf, sizeof buf, "%.7g", (double)x);
    return strtod(buf, NULL);
}

static int write_config(const attn_encdec *m, const char *dir) {
    const attn_encdec_config *c = &m->c;
    json_t *j = json_pack("{s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:b, s:f, s:I, s:I, s:I, s:s, s:f, s:f, s:s}",
                          "model_type", MODEL_TYPE, "vocab_size", (json_int_t)c->vocab, "d_model",
                          (json_int_t)c->d_model, "nhead", (json_int_t)c->n_heads, "dim_feedforward",
                          (json_int_t)c->d_ff, "num_encoder_layers", (json_int_t)c->n_encoder_layers,
                          "num_decoder_layers", (json_int_t)c->n_decoder_layers, "max_len", (json_int_t)c->max_len,
                          "norm_first", (int)c->pre_ln, "layer_norm_eps", short_float(c->eps), "pad_token_id",
                          (json_int_t)c->pad_id, "bos_token_id", (json_int_t)c->bos_id, "eos_token_id",
                          (json_int_t)c->eos_id, "activation", "relu", "dropout", short_float(m->opts.dropout),
                          "label_smoothing", short_float(m->opts.label_smoothing), "parameter_names",
                          "torch.nn.Transformer; shared.weight: source and target embedding and output projection");
    if (!j) return attn_error("cannot build config.json");
    char *text = json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS | JSON_REAL_PRECISION(9));
    json_decref(j);
    char path[PATH_CAP];
    snprintf(path, sizeof path, "%s/config.json", dir);
    int rc = text ? attn_write_file_atomic(path, text, strlen(text)) : attn_error("cannot format config.json");
    free(text);
    return rc;
}

int attn_encdec_save(const attn_encdec *m, const char *dir) {
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) return attn_error("%s: cannot create: %s", dir, strerror(errno));
    attn_st_entry *e = calloc((size_t)m->n_params, sizeof *e);
    if (!e) return attn_error("out of memory");
    for (int i = 0; i < m->n_params; i++) {
        const attn_param *p = &m->params[i];
        e[i] = (attn_st_entry){.name = p->name, .dtype = ATTN_F32, .ndim = p->ndim,
                               .shape = {p->shape[0], p->shape[1]}, .data = p->data};
    }
    char path[PATH_CAP];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    const char *keys[] = {"format"}, *vals[] = {"pt"};
    int rc = attn_safetensors_write(path, e, m->n_params, keys, vals, 1);
    free(e);
    return rc == 0 ? write_config(m, dir) : -1;
}

/* ---- Loading ---- */

static int read_config(const char *path, attn_encdec_config *c, attn_encdec_opts *o) {
    json_t *j = attn_json_load_object(path);
    if (!j) return -1;
    const char *type = attn_cfg_str(j, path, "model_type", "");
    int rc = type && strcmp(type, MODEL_TYPE) == 0
                 ? 0
                 : attn_error("%s: model_type '%s' is not an attn encoder-decoder (\"" MODEL_TYPE "\")", path,
                              type ? type : "?");
    int64_t v[10];
    static const char *keys[] = {"vocab_size", "d_model", "nhead", "dim_feedforward", "num_encoder_layers",
                                 "num_decoder_layers", "max_len", "pad_token_id", "bos_token_id", "eos_token_id"};
    static const int64_t defaults[] = {-1, 512, 8, 2048, 6, 6, 256, 0, 1, 2};
    for (int i = 0; i < 10 && rc == 0; i++) rc = attn_cfg_int(j, path, keys[i], defaults[i], 0, INT32_MAX, &v[i]);
    int pre = 0;
    double eps = 1e-5, dropout = 0.1, smoothing = 0.1;
    if (rc == 0) rc = attn_cfg_bool(j, path, "norm_first", 0, &pre);
    if (rc == 0) rc = attn_cfg_float(j, path, "layer_norm_eps", 1e-5, 1e-30, 1, &eps);
    if (rc == 0) rc = attn_cfg_float(j, path, "dropout", 0.1, 0, 0.99, &dropout);
    if (rc == 0) rc = attn_cfg_float(j, path, "label_smoothing", 0.1, 0, 1, &smoothing);
    const char *act = rc == 0 ? attn_cfg_str(j, path, "activation", "relu") : NULL; /* written, so also read */
    if (rc == 0 && (!act || strcmp(act, "relu") != 0))
        rc = act ? attn_error("%s: activation '%s' is not supported: the encoder-decoder uses relu, as the 2017 "
                              "Transformer does", path, act)
                 : -1;
    json_decref(j);
    if (rc) return -1;
    *c = (attn_encdec_config){.vocab = v[0], .d_model = v[1], .n_heads = v[2], .d_ff = v[3],
                              .n_encoder_layers = v[4], .n_decoder_layers = v[5], .max_len = v[6], .pre_ln = pre,
                              .eps = (float)eps, .pad_id = (int32_t)v[7], .bos_id = (int32_t)v[8],
                              .eos_id = (int32_t)v[9]};
    o->dropout = (float)dropout, o->label_smoothing = (float)smoothing;
    return 0;
}

/* The tensors that fix the model's size (vocabulary, width, feed-forward width and layer
 * counts) must have config.json's shapes before the model is allocated: a config.json that
 * claims a vocabulary of 2e9 is an error, not a reservation of terabytes. */
static int check_size(const attn_safetensors *st, const char *path, const attn_encdec_config *c) {
    char name[ENCDEC_NAME_MAX];
    const char *stack[] = {"encoder", "decoder"};
    int64_t layers[] = {c->n_encoder_layers, c->n_decoder_layers};
    for (int i = 0; i < 3; i++) {
        if (i == 0) snprintf(name, sizeof name, "shared.weight");
        else snprintf(name, sizeof name, "%s.layers.%lld.linear1.weight", stack[i - 1], (long long)layers[i - 1] - 1);
        int64_t rows = i == 0 ? c->vocab : c->d_ff;
        const attn_st_tensor *t = attn_safetensors_find_any(st, name);
        if (!t) return attn_error("%s: missing tensor '%s'", path, name);
        if (t->ndim != 2 || t->shape[0] != rows || t->shape[1] != c->d_model)
            return attn_error("%s: tensor '%s' is not the [%lld x %lld] that config.json implies", path, name,
                              (long long)rows, (long long)c->d_model);
    }
    return 0;
}

static int read_weights(attn_encdec *m, const attn_safetensors *st, const char *path) {
    int rc = 0;
    for (int i = 0; i < m->n_params && rc == 0; i++) {
        const attn_param *p = &m->params[i];
        const attn_st_tensor *t = attn_safetensors_find_any(st, p->name);
        if (!t) rc = attn_error("%s: missing tensor '%s'", path, p->name);
        else if (!t->loadable)
            rc = attn_error("%s: tensor '%s' has dtype %s; F32, F16 or BF16 expected", path, p->name, t->dtype_name);
        else if (t->ndim != p->ndim || t->shape[0] != p->shape[0] || (p->ndim == 2 && t->shape[1] != p->shape[1]))
            rc = attn_error("%s: tensor '%s' has a shape other than config.json implies", path, p->name);
        else
            attn_to_f32(p->data, t->data, t->dtype, p->numel);
    }
    return rc;
}

attn_encdec *attn_encdec_load(const char *dir, int64_t B, int64_t S, int64_t T) {
    char cfg[PATH_CAP], weights[PATH_CAP];
    snprintf(cfg, sizeof cfg, "%s/config.json", dir);
    snprintf(weights, sizeof weights, "%s/model.safetensors", dir);
    attn_encdec_config c;
    attn_encdec_opts o;
    if (read_config(cfg, &c, &o)) return NULL;
    attn_safetensors *st = attn_encdec_config_check(&c) == 0 ? attn_safetensors_open(weights) : NULL;
    attn_encdec *m = st && check_size(st, weights, &c) == 0 ? attn_encdec_create(&c, B, S, T) : NULL;
    if (m) m->opts.dropout = o.dropout, m->opts.label_smoothing = o.label_smoothing;
    if (m && read_weights(m, st, weights)) {
        attn_encdec_free(m);
        m = NULL;
    }
    attn_safetensors_close(st);
    return m;
}

/* ---- Checkpoint averaging ---- */

/* The first field in which two configs differ (NULL when none): averaging is only meaningful
 * between checkpoints of one model, so its ids, positions and epsilon must agree too. */
static const char *config_difference(const attn_encdec_config *a, const attn_encdec_config *b) {
    if (a->vocab != b->vocab) return "vocabulary";
    if (a->d_model != b->d_model || a->n_heads != b->n_heads || a->d_ff != b->d_ff) return "width";
    if (a->n_encoder_layers != b->n_encoder_layers || a->n_decoder_layers != b->n_decoder_layers) return "depth";
    if (a->pre_ln != b->pre_ln || a->eps != b->eps) return "LayerNorm (placement or epsilon)";
    if (a->max_len != b->max_len) return "max_len";
    if (a->pad_id != b->pad_id || a->bos_id != b->bos_id || a->eos_id != b->eos_id) return "PAD/BOS/EOS ids";
    return NULL;
}

int attn_encdec_average(const char *const *dirs, int n, const char *out_dir) {
    if (n < 1) return attn_error("average: no checkpoints");
    attn_encdec *first = attn_encdec_load(dirs[0], 1, 1, 1);
    if (!first) return -1;
    double *sum = calloc((size_t)first->numel, sizeof *sum);
    int rc = sum ? 0 : attn_error("out of memory");
    for (int i = 0; i < n && rc == 0; i++) {
        attn_encdec *m = i == 0 ? first : attn_encdec_load(dirs[i], 1, 1, 1);
        if (!m) rc = -1;
        else if (config_difference(&m->c, &first->c))
            rc = attn_error("average: %s has another %s than %s", dirs[i], config_difference(&m->c, &first->c),
                            dirs[0]);
        for (int64_t k = 0; rc == 0 && k < m->numel; k++) sum[k] += m->data[k];
        if (m != first) attn_encdec_free(m);
    }
    for (int64_t k = 0; rc == 0 && k < first->numel; k++) first->data[k] = (float)(sum[k] / n);
    if (rc == 0) rc = attn_encdec_save(first, out_dir);
    free(sum);
    attn_encdec_free(first);
    return rc;
}
