/* fuzz_safetensors.c - libFuzzer target for the safetensors reader: any byte string must be
 * either rejected with a message or accepted with every tensor inside the buffer and every
 * lookup consistent. Build and run with tests/fuzz/run_fuzz.sh.
 * seed corpus: tests/fixtures/safetensors */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/common.h"
#include "format/safetensors.h"

/* Reads every byte so ASan flags any tensor that reaches outside the input. */
static uint8_t touch(const attn_st_tensor *t) {
    const volatile uint8_t *p = t->data;
    uint8_t acc = 0;
    for (size_t i = 0; i < t->nbytes; i++) acc ^= p[i];
    return acc;
}

static void check_tensor(const attn_safetensors *st, const attn_st_tensor *t, const uint8_t *buf,
                         size_t size) {
    const uint8_t *d = t->data;
    if (d < buf || d > buf + size || t->nbytes > (size_t)(buf + size - d)) abort();
    if (attn_safetensors_find_any(st, t->name) != t) abort();
    if (attn_safetensors_find(st, t->name) != (t->loadable ? t : NULL)) abort();
    if (t->ndim < 0 || t->ndim > ATTN_MAX_DIMS || (unsigned)t->dtype >= ATTN_DTYPE_COUNT || !t->dtype_name) abort();
    int64_t n = 1;
    for (int i = 0; i < t->ndim; i++) n *= t->shape[i];
    if (t->loadable && (uint64_t)n * attn_dtype_size(t->dtype) != t->nbytes) abort();
    (void)touch(t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    attn_safetensors *st = attn_safetensors_parse(data, size, "fuzz");
    if (!st) {
        if (strncmp(attn_last_error(), "fuzz: ", 6) != 0) abort(); /* errors name the input */
        return 0;
    }
    for (int i = 0; i < attn_safetensors_count(st); i++)
        check_tensor(st, attn_safetensors_at(st, i), data, size);
    const char *key, *val;
    for (int i = 0; attn_safetensors_meta_at(st, i, &key, &val) == 0; i++)
        if (attn_safetensors_meta(st, key) != val) abort();
    attn_safetensors_close(st);
    return 0;
}
