/* gpt2_init.c - random GPT-2 checkpoints in HF layout (see gpt2_init.h). */
#include "gpt2_init.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "core/common.h"
#include "format/fileio.h"
#include "format/safetensors.h"
#include "generate/sampler.h"

#define MAX_TENSORS 1024

typedef struct {
    attn_st_entry e[MAX_TENSORS];
    char names[MAX_TENSORS][96];
    void *data[MAX_TENSORS];
    int n;
    attn_rng rng;
    attn_dtype dtype;
} tensor_list;

/* kind: 'n' normal(0, 0.02), '1' ones, '0' zeros */
static int add(tensor_list *L, char kind, int64_t d0, int64_t d1, const char *fmt, int layer) {
    if (L->n == MAX_TENSORS) return attn_error("too many tensors");
    int i = L->n++;
    snprintf(L->names[i], sizeof L->names[i], fmt, layer);
    int64_t n = d0 * (d1 ? d1 : 1);
    float *f = malloc((size_t)n * sizeof(float));
    L->data[i] = malloc((size_t)n * attn_dtype_size(L->dtype));
    if (!f || !L->data[i]) {
        free(f);
        return attn_error("out of memory creating %s", L->names[i]);
    }
    for (int64_t j = 0; j < n; j++) f[j] = kind == 'n' ? 0.02f * attn_rng_normal(&L->rng) : kind == '1' ? 1.0f : 0.0f;
    attn_from_f32(L->data[i], f, L->dtype, n);
    free(f);
    L->e[i] = (attn_st_entry){.name = L->names[i], .dtype = L->dtype, .ndim = d1 ? 2 : 1, .shape = {d0, d1},
                              .data = L->data[i]};
    return 0;
}

static int build(tensor_list *L, const attn_gpt2_config *c) {
    int64_t C = c->n_embd, I = c->n_inner;
    if (add(L, 'n', c->vocab, C, "transformer.wte.weight", 0) || add(L, 'n', c->n_ctx, C, "transformer.wpe.weight", 0))
        return -1;
    for (int l = 0; l < c->n_layer; l++) {
        if (add(L, '1', C, 0, "transformer.h.%d.ln_1.weight", l) || add(L, '0', C, 0, "transformer.h.%d.ln_1.bias", l) ||
            add(L, 'n', C, 3 * C, "transformer.h.%d.attn.c_attn.weight", l) ||
            add(L, '0', 3 * C, 0, "transformer.h.%d.attn.c_attn.bias", l) ||
            add(L, 'n', C, C, "transformer.h.%d.attn.c_proj.weight", l) ||
            add(L, '0', C, 0, "transformer.h.%d.attn.c_proj.bias", l) ||
            add(L, '1', C, 0, "transformer.h.%d.ln_2.weight", l) || add(L, '0', C, 0, "transformer.h.%d.ln_2.bias", l) ||
            add(L, 'n', C, I, "transformer.h.%d.mlp.c_fc.weight", l) ||
            add(L, '0', I, 0, "transformer.h.%d.mlp.c_fc.bias", l) ||
            add(L, 'n', I, C, "transformer.h.%d.mlp.c_proj.weight", l) ||
            add(L, '0', C, 0, "transformer.h.%d.mlp.c_proj.bias", l))
            return -1;
    }
    return add(L, '1', C, 0, "transformer.ln_f.weight", 0) || add(L, '0', C, 0, "transformer.ln_f.bias", 0) ? -1 : 0;
}

int attn_gpt2_write_random(const char *dir, const attn_gpt2_config *cfg, uint64_t seed) {
    attn_gpt2_config cc = *cfg, *c = &cc;
    if (attn_gpt2_config_check(c, "invalid model shape") != 0) return -1;
    if (c->n_layer * 12 + 4 > MAX_TENSORS) return attn_error("too many layers (at most %d)", (MAX_TENSORS - 4) / 12);
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) return attn_error("%s: cannot create: %s", dir, strerror(errno));
    tensor_list *L = calloc(1, sizeof *L);
    if (!L) return attn_error("out of memory");
    L->dtype = c->dtype;
    attn_rng_seed(&L->rng, seed);
    char path[4200];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    const char *keys[] = {"format", "attn.origin"};
    const char *vals[] = {"pt", "random weights made by 'attn init': the text it generates is noise"};
    int rc = build(L, c) == 0 && attn_safetensors_write(path, L->e, L->n, keys, vals, 2) == 0 && attn_gpt2_config_write(dir, c) == 0
                 ? 0 : -1;
    for (int i = 0; i < L->n; i++) free(L->data[i]);
    free(L);
    return rc;
}
