/* fuzz_gguf.c - libFuzzer target for the GGUF reader: any byte string must be either
 * rejected with a one-line message naming the input, or accepted with every metadata value
 * readable, every tensor inside the buffer, lookups consistent, and (for small tensors of a
 * convertible type) dequantization that stays inside its blocks. Also round-trips what it
 * accepts through the writer's encoder when that is small. Build and run with
 * tests/fuzz/run_fuzz.sh.
 * seed corpus: tests/fixtures/gguf */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/common.h"
#include "core/quant.h"
#include "format/gguf.h"

/* Reads every element (strings: every byte) so ASan flags anything outside the input. */
static unsigned walk(const attn_gguf_value *v, int depth) {
    if (depth > ATTN_GGUF_MAX_DEPTH) abort();
    if (v->type == ATTN_GGUF_STR) {
        unsigned acc = 0;
        for (size_t i = 0; i < v->str.len; i++) acc += (unsigned char)v->str.s[i];
        return acc;
    }
    if (v->type != ATTN_GGUF_ARR) return 0;
    if ((unsigned)v->arr.elem >= ATTN_GGUF_TYPE_COUNT) abort();
    unsigned acc = 0;
    for (uint64_t i = 0; i < v->arr.n; i++) {
        attn_gguf_value e;
        if (attn_gguf_arr_elem(v, i, &e) != 0) abort();
        acc += walk(&e, depth + 1);
    }
    return acc;
}

static void check_tensor(const attn_gguf *g, const attn_gguf_tensor *t, const uint8_t *buf, size_t size) {
    const attn_qtype_info *q = attn_qtype_get((int)t->type);
    const uint8_t *d = t->data;
    if (!q || t->n_dims < 0 || t->n_dims > ATTN_GGUF_MAX_DIMS) abort();
    if (attn_gguf_find_tensor(g, t->name) != t) abort();
    if (t->nbytes && (d < buf || d > buf + size || t->nbytes > (size_t)(buf + size - d))) abort();
    if (t->offset % attn_gguf_alignment(g) != 0) abort();
    if ((uint64_t)t->n_elements / (uint64_t)q->block * (uint64_t)q->bytes != t->nbytes) abort();
    volatile uint8_t acc = 0;
    for (size_t i = 0; i < t->nbytes; i++) acc ^= d[i];
    if (q->dequant && t->n_elements <= 4096) {
        float *y = malloc((size_t)t->n_elements * sizeof *y + 1);
        if (y && attn_gguf_dequantize(g, t, y) != 0) abort();
        free(y);
    }
}

/* Copies all metadata into a writer (encoding nested arrays from the reader's view). */
static void reencode(const attn_gguf *g) {
    attn_gguf_writer *w = attn_gguf_writer_new();
    for (int i = 0; w && i < attn_gguf_kv_count(g); i++)
        if (attn_gguf_set_value(w, attn_gguf_kv_key(g, i), attn_gguf_kv_value(g, i)) != 0) abort();
    attn_gguf_writer_free(w);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    attn_gguf *g = attn_gguf_parse(data, size, "fuzz");
    if (!g) {
        const char *m = attn_last_error();
        if (strncmp(m, "fuzz: ", 6) != 0 || strchr(m, '\n')) abort(); /* one line naming the input */
        return 0;
    }
    unsigned acc = 0;
    for (int i = 0; i < attn_gguf_kv_count(g); i++) {
        const char *key = attn_gguf_kv_key(g, i);
        if (attn_gguf_find(g, key) != attn_gguf_kv_value(g, i)) abort();
        acc += walk(attn_gguf_kv_value(g, i), 0);
    }
    for (int i = 0; i < attn_gguf_tensor_count(g); i++)
        check_tensor(g, attn_gguf_tensor_at(g, i), data, size);
    if (size < 65536) reencode(g);
    attn_gguf_close(g);
    return (int)(acc & 0);
}
