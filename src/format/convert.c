/* convert.c - safetensors dtype conversion (see convert.h). */
#include "convert.h"

#include <stdlib.h>
#include "core/common.h"
#include "fileio.h"
#include "safetensors.h"

int attn_safetensors_convert(const char *in, const char *out, attn_dtype to) {
    if (attn_output_not_input(out, in)) return -1;
    attn_safetensors *st = attn_safetensors_open(in);
    if (!st) return -1;
    int n = attn_safetensors_count(st), n_meta = attn_safetensors_meta_count(st), rc = -1;
    attn_st_entry *e = calloc((size_t)n + 1, sizeof *e);
    void **bufs = calloc((size_t)n + 1, sizeof *bufs);
    const char **keys = calloc((size_t)n_meta + 1, sizeof *keys), **vals = calloc((size_t)n_meta + 1, sizeof *vals);
    if (!e || !bufs || !keys || !vals) {
        attn_error("out of memory converting %s", in);
        goto out;
    }
    for (int i = 0; i < n_meta; i++) attn_safetensors_meta_at(st, i, &keys[i], &vals[i]);
    for (int i = 0; i < n; i++) {
        const attn_st_tensor *t = attn_safetensors_at(st, i);
        if (!t->loadable) {
            attn_error("%s: tensor '%s' has dtype %s, which attn cannot convert", in, t->name, t->dtype_name);
            goto out;
        }
        int64_t count = (int64_t)(t->nbytes / attn_dtype_size(t->dtype));
        float *f = malloc((size_t)count * sizeof(float) + 1);
        bufs[i] = malloc((size_t)count * attn_dtype_size(to) + 1);
        if (!f || !bufs[i]) {
            free(f);
            attn_error("out of memory converting %s", t->name);
            goto out;
        }
        attn_to_f32(f, t->data, t->dtype, count);
        attn_from_f32(bufs[i], f, to, count);
        free(f);
        e[i] = (attn_st_entry){.name = t->name, .dtype = to, .ndim = t->ndim, .data = bufs[i]};
        for (int d = 0; d < t->ndim; d++) e[i].shape[d] = t->shape[d];
    }
    rc = attn_safetensors_write(out, e, n, keys, vals, n_meta);
out:
    for (int i = 0; bufs && i < n; i++) free(bufs[i]);
    free(bufs), free(e), free(keys), free(vals);
    attn_safetensors_close(st);
    return rc;
}
