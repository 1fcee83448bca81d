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
#include <unistd.h>
#include "core/common.h"
#include "format/config.h"
#include "format/fileio.h"
#include "format/safetensors.h"
#include "gpt2_train_internal.h"

#define PREFIX "transformer."

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
    if (access(path, F_OK) != 0) { /* else the message would name a config.json beside a missing file */
        attn_error("%s: no such folder or file (give a Hugging Face GPT-2 folder or its model.safetensors)", path);
        return NULL;
    }
    if (is_dir(path)) {
        snprintf(weights, sizeof weights, "%s/model.safetensors", path);
    } else {
        snprintf(weights, sizeof weights, "%s", path);
        attn_path_dir(path, dir, sizeof dir);
    }
    snprintf(cfg_path, sizeof cfg_path, "%s/config.json", dir);
    attn_gpt2_config c;
    if (attn_gpt2_config_read(cfg_path, &c)) return NULL;
    attn_gpt2_train *m = attn_gpt2_train_create(&c, B, T);
    if (m && read_weights(m, weights)) {
        attn_gpt2_train_free(m);
        return NULL;
    }
    return m;
}

/* ---- Saving ---- */

static int write_config(const attn_gpt2_train *m, const char *dir) {
    attn_gpt2_config c = m->c;
    c.dtype = ATTN_F32;
    c.dropout = m->opts.dropout;
    /* GPT-2's <|endoftext|> when the vocabulary has it; else none (a tokenizer decides) */
    c.eos_id = c.vocab > 50256 ? 50256 : -1;
    return attn_gpt2_config_write(dir, &c);
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
