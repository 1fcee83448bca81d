/* gguf_build.h - helpers for tests that hand-make GGUF bytes: a growable byte buffer with
 * little-endian writers for headers, keys and tensor infos, and expect_bad(), which wants a
 * buffer rejected with one line that names the file and holds the given words. Include
 * after test.h. */
#ifndef ATTN_TEST_GGUF_BUILD_H
#define ATTN_TEST_GGUF_BUILD_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/common.h"
#include "format/gguf.h"
#include "test.h"

typedef struct {
    uint8_t *p;
    size_t len, cap;
} buf_t;

static inline void b_put(buf_t *b, const void *d, size_t n) {
    if (b->len + n > b->cap) {
        b->cap = (b->len + n) * 2 + 64;
        b->p = realloc(b->p, b->cap);
    }
    if (n) memcpy(b->p + b->len, d, n);
    b->len += n;
}
static inline void b_le(buf_t *b, uint64_t v, int n) {
    for (int i = 0; i < n; i++) b_put(b, &(uint8_t){(uint8_t)(v >> (8 * i))}, 1);
}
static inline void b_str(buf_t *b, const char *s) {
    b_le(b, strlen(s), 8);
    b_put(b, s, strlen(s));
}
static inline void b_hdr(buf_t *b, uint32_t version, uint64_t n_tensors, uint64_t n_kv) {
    b_put(b, "GGUF", 4);
    b_le(b, version, 4);
    b_le(b, n_tensors, 8);
    b_le(b, n_kv, 8);
}
static inline void b_kv_u32(buf_t *b, const char *k, uint32_t v) {
    b_str(b, k);
    b_le(b, ATTN_GGUF_U32, 4);
    b_le(b, v, 4);
}
static inline void b_tinfo(buf_t *b, const char *name, uint32_t nd, const uint64_t *ne, uint32_t type,
                           uint64_t off) {
    b_str(b, name);
    b_le(b, nd, 4);
    for (uint32_t i = 0; i < nd; i++) b_le(b, ne[i], 8);
    b_le(b, type, 4);
    b_le(b, off, 8);
}
static inline void b_pad(buf_t *b, size_t align, size_t extra) {
    while (b->len % align) b_le(b, 0, 1);
    for (size_t i = 0; i < extra; i++) b_le(b, i & 0xff, 1);
}

/* ---- expectations ------------------------------------------------------------------ */

/* The buffer must be rejected with one line that names the file and holds w1 (and w2). */
static inline void expect_bad(const void *p, size_t n, const char *w1, const char *w2, int line) {
    attn_clear_error();
    attn_gguf *g = attn_gguf_parse(p, n, "bad.gguf");
    CHECK(g == NULL, "line %d: accepted a bad file (expected '%s')", line, w1);
    attn_gguf_close(g);
    const char *m = attn_last_error();
    CHECK(strncmp(m, "bad.gguf: ", 10) == 0, "line %d: message does not name the file: %s", line, m);
    CHECK(strstr(m, w1) != NULL, "line %d: message lacks '%s': %s", line, w1, m);
    CHECK(!w2 || strstr(m, w2) != NULL, "line %d: message lacks '%s': %s", line, w2, m);
    CHECK(strchr(m, '\n') == NULL, "line %d: message is not one line: %s", line, m);
}
#define BAD(b, w1, w2) expect_bad((b)->p, (b)->len, w1, w2, __LINE__)

static inline uint8_t *slurp(const char *path, size_t *n) {
    uint8_t *p = (uint8_t *)attn_read_file(path, n);
    CHECK(p != NULL, "read %s: %s", path, attn_last_error());
    return p;
}

#endif
