/* gguf.c - the GGUF reader: walk the header with a bounds-checked cursor, decode the
 * metadata into attn_gguf_value trees (array elements stay in the file: fixed-size ones
 * are read in place, strings through an offset index), validate every tensor info against
 * the data section, then hand out pointers into the mapping. See gguf.h for the format and
 * for what is accepted; gguf_write.c holds the writer. */
#include "format/gguf.h"
#include "format/fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/common.h"

typedef struct {
    const char *key; /* points at keys[idx] */
    int idx;
} key_ref;

struct attn_gguf {
    char *path;
    void *map; /* NULL for parsed buffers */
    size_t map_len;
    uint32_t version, alignment;
    uint64_t data_start; /* file offset of the data section (past the end in a file with no
                          * tensors and no final padding) */
    int n_kv;
    char **keys;
    attn_gguf_value *vals;
    key_ref *kv_sorted;
    int n_tensors;
    attn_gguf_tensor *tensors; /* tensor-info order */
    const attn_gguf_tensor **t_sorted; /* by name */
};

/* Smallest encodings, used to bound counts before anything is allocated: a key/value is a
 * string length, a type and at least one byte; a tensor info a name length, n_dims, type
 * and offset; a string element its length; a nested array its type and count. */
enum { MIN_KV = 8 + 4 + 1, MIN_TENSOR_INFO = 8 + 4 + 4 + 8, MIN_STR = 8, MIN_SUBARR = 4 + 8 };

/* ---- cursor and errors ------------------------------------------------------------- */

typedef struct {
    const char *what; /* file name for messages */
    const uint8_t *buf;
    size_t size, pos;
    char where[160]; /* the item being read: "header", "metadata 'k'", "tensor 'n'" */
} cursor;

/* Records "WHAT: WHERE: message" as one line: names come from the file and may hold
 * newlines or other control characters, so those print as '?'. Returns -1. */
static int fail(const cursor *c, const char *fmt, ...) ATTN_PRINTF(2, 3);
static int fail(const cursor *c, const char *fmt, ...) {
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    char where[sizeof c->where];
    snprintf(where, sizeof where, "%s", c->where);
    for (char *p = where; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f) *p = '?';
    for (char *p = msg; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f) *p = '?';
    attn_error("%s: %s: %s", c->what, where, msg);
    return -1;
}

/* Names the current item; long names are cut so messages stay readable. */
static void set_where(cursor *c, const char *kind, const uint8_t *name, size_t len) {
    int n = len > 100 ? 100 : (int)len;
    snprintf(c->where, sizeof c->where, "%s '%.*s%s'", kind, n, (const char *)name, len > 100 ? "..." : "");
}

static size_t left(const cursor *c) { return c->size - c->pos; }

static int need(cursor *c, uint64_t n, const char *field) {
    if (n <= left(c)) return 0;
    return fail(c, "%s at offset %zu needs %llu bytes but only %zu remain (file size %zu); truncated file?",
                field, c->pos, (unsigned long long)n, left(c), c->size);
}

static uint64_t le(const uint8_t *p, int n) {
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--) v = v << 8 | p[i];
    return v;
}

static int rd_u32(cursor *c, const char *field, uint32_t *v) {
    if (need(c, 4, field) != 0) return -1;
    *v = (uint32_t)le(c->buf + c->pos, 4);
    c->pos += 4;
    return 0;
}

static int rd_u64(cursor *c, const char *field, uint64_t *v) {
    if (need(c, 8, field) != 0) return -1;
    *v = le(c->buf + c->pos, 8);
    c->pos += 8;
    return 0;
}

/* A GGUF string: u64 length, then the bytes (checked to lie inside the file). */
static int rd_str(cursor *c, const char *field, const uint8_t **s, uint64_t *len) {
    char f[64];
    snprintf(f, sizeof f, "%s length", field);
    if (rd_u64(c, f, len) != 0) return -1;
    if (*len > left(c))
        return fail(c,
                    "%s length %llu at offset %zu runs past the end of the file (%zu bytes remain); "
                    "truncated file or corrupt length?",
                    field, (unsigned long long)*len, c->pos - 8, left(c));
    *s = c->buf + c->pos;
    c->pos += (size_t)*len;
    return 0;
}

/* ---- value types ------------------------------------------------------------------- */

static const char *const type_names[ATTN_GGUF_TYPE_COUNT] = {
    "UINT8", "INT8",   "UINT16", "INT16",  "UINT32", "INT32",  "FLOAT32",
    "BOOL",  "STRING", "ARRAY",  "UINT64", "INT64",  "FLOAT64"};
static const uint8_t type_sizes[ATTN_GGUF_TYPE_COUNT] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};

const char *attn_gguf_type_name(attn_gguf_type t) {
    return (unsigned)t < ATTN_GGUF_TYPE_COUNT ? type_names[t] : "unknown";
}

size_t attn_gguf_type_size(attn_gguf_type t) {
    return (unsigned)t < ATTN_GGUF_TYPE_COUNT ? type_sizes[t] : 0;
}

/* Decodes one fixed-size value stored at p. */
static void decode_fixed(attn_gguf_type t, const uint8_t *p, attn_gguf_value *v) {
    v->type = t;
    uint64_t raw = le(p, type_sizes[t]);
    switch (t) {
    case ATTN_GGUF_I8: v->i = (int8_t)raw; break;
    case ATTN_GGUF_I16: v->i = (int16_t)raw; break;
    case ATTN_GGUF_I32: v->i = (int32_t)raw; break;
    case ATTN_GGUF_I64: v->i = (int64_t)raw; break;
    case ATTN_GGUF_F32: {
        uint32_t bits = (uint32_t)raw;
        float f;
        memcpy(&f, &bits, 4);
        v->f = f;
        break;
    }
    case ATTN_GGUF_F64: memcpy(&v->f, &raw, 8); break;
    case ATTN_GGUF_BOOL: v->b = raw != 0; break;
    default: v->u = raw; break; /* the unsigned types */
    }
}

/* ---- metadata values --------------------------------------------------------------- */

static void free_array(attn_gguf_value *v) {
    if (v->type != ATTN_GGUF_ARR) return;
    free((void *)v->arr.str_off);
    attn_gguf_value *sub = (attn_gguf_value *)v->arr.sub;
    for (uint64_t i = 0; sub && i < v->arr.n; i++) free_array(&sub[i]);
    free(sub);
}

static int parse_array(cursor *c, attn_gguf_value *v, int depth);

static int parse_str_elems(cursor *c, attn_gguf_value *v) {
    uint64_t n = v->arr.n, *off;
    if (n > left(c) / MIN_STR)
        return fail(c,
                    "array of %llu strings cannot fit in the %zu bytes left (each needs at least 8); "
                    "corrupt count?",
                    (unsigned long long)n, left(c));
    v->arr.str_off = off = malloc((size_t)n * sizeof *off + 1);
    if (!off) return fail(c, "out of memory for %llu strings", (unsigned long long)n);
    for (uint64_t i = 0; i < n; i++) {
        off[i] = (uint64_t)(c->pos - (size_t)(v->arr.data - c->buf));
        if (left(c) < 8)
            return fail(c,
                        "string %llu of %llu: its length at offset %zu is cut off by the end of the file; "
                        "truncated file?",
                        (unsigned long long)i, (unsigned long long)n, c->pos);
        uint64_t len = le(c->buf + c->pos, 8);
        if (len > left(c) - 8)
            return fail(c,
                        "string %llu of %llu: length %llu at offset %zu runs past the end of the file (%zu "
                        "bytes remain); truncated file or corrupt length?",
                        (unsigned long long)i, (unsigned long long)n, (unsigned long long)len, c->pos,
                        left(c) - 8);
        c->pos += 8 + (size_t)len;
    }
    return 0;
}

static int parse_sub_elems(cursor *c, attn_gguf_value *v, int depth) {
    uint64_t n = v->arr.n;
    if (n > left(c) / MIN_SUBARR)
        return fail(c, "array of %llu arrays cannot fit in the %zu bytes left; corrupt count?",
                    (unsigned long long)n, left(c));
    attn_gguf_value *sub = calloc((size_t)n + 1, sizeof *sub);
    v->arr.sub = sub;
    if (!sub) return fail(c, "out of memory for %llu nested arrays", (unsigned long long)n);
    for (uint64_t i = 0; i < n; i++)
        if (parse_array(c, &sub[i], depth + 1) != 0) return -1;
    return 0;
}

/* The body of an array: element type, count, elements. `v` owns what was allocated so far
 * even on failure (free_array cleans up). */
static int parse_array(cursor *c, attn_gguf_value *v, int depth) {
    uint32_t elem;
    uint64_t n;
    v->type = ATTN_GGUF_ARR;
    if (depth >= ATTN_GGUF_MAX_DEPTH)
        return fail(c, "arrays nested more than %d deep at offset %zu; corrupt file?", ATTN_GGUF_MAX_DEPTH,
                    c->pos);
    if (rd_u32(c, "array element type", &elem) != 0 || rd_u64(c, "array count", &n) != 0) return -1;
    if (elem >= ATTN_GGUF_TYPE_COUNT)
        return fail(c, "array element type %u at offset %zu is unknown (GGUF defines 0..%d)", elem,
                    c->pos - 12, ATTN_GGUF_TYPE_COUNT - 1);
    v->arr.elem = (attn_gguf_type)elem;
    v->arr.n = n;
    v->arr.data = c->buf + c->pos;
    if (elem == ATTN_GGUF_STR) return parse_str_elems(c, v);
    if (elem == ATTN_GGUF_ARR) return parse_sub_elems(c, v, depth);
    size_t es = type_sizes[elem];
    if (n > left(c) / es)
        return fail(c,
                    "array of %llu %s values at offset %zu needs %llu bytes but only %zu remain; "
                    "truncated file or corrupt count?",
                    (unsigned long long)n, type_names[elem], c->pos,
                    n > UINT64_MAX / es ? UINT64_MAX : (unsigned long long)(n * es), left(c));
    c->pos += (size_t)(n * es);
    return 0;
}

/* One value of type `t` (a key's value: strings get a NUL-terminated copy). */
static int parse_value(cursor *c, uint32_t t, attn_gguf_value *v) {
    if (t >= ATTN_GGUF_TYPE_COUNT)
        return fail(c, "value type %u is unknown (GGUF defines 0..%d)", t, ATTN_GGUF_TYPE_COUNT - 1);
    if (t == ATTN_GGUF_ARR) return parse_array(c, v, 0);
    if (t == ATTN_GGUF_STR) {
        const uint8_t *s;
        uint64_t len;
        if (rd_str(c, "string value", &s, &len) != 0) return -1;
        char *copy = malloc((size_t)len + 1);
        if (!copy) return fail(c, "out of memory for a %llu-byte string", (unsigned long long)len);
        memcpy(copy, s, (size_t)len);
        copy[len] = '\0';
        v->type = ATTN_GGUF_STR;
        v->str.s = copy;
        v->str.len = (size_t)len;
        return 0;
    }
    if (need(c, type_sizes[t], type_names[t]) != 0) return -1;
    decode_fixed((attn_gguf_type)t, c->buf + c->pos, v);
    c->pos += type_sizes[t];
    return 0;
}

static int parse_kv(cursor *c, attn_gguf *g, int i) {
    const uint8_t *k;
    uint64_t klen;
    uint32_t t;
    snprintf(c->where, sizeof c->where, "metadata entry %d of %d", i, g->n_kv);
    if (rd_str(c, "key", &k, &klen) != 0) return -1;
    if (memchr(k, 0, (size_t)klen)) return fail(c, "key holds a NUL byte");
    set_where(c, "metadata", k, (size_t)klen);
    g->keys[i] = strndup((const char *)k, (size_t)klen);
    if (!g->keys[i]) return fail(c, "out of memory");
    if (rd_u32(c, "value type", &t) != 0) return -1;
    return parse_value(c, t, &g->vals[i]);
}

/* ---- header and tensor infos ------------------------------------------------------- */

static int parse_magic_version(cursor *c, attn_gguf *g) {
    snprintf(c->where, sizeof c->where, "header");
    if (c->size < 4 || memcmp(c->buf, "GGUF", 4) != 0) {
        char m[5] = {0};
        for (size_t i = 0; i < 4 && i < c->size; i++) m[i] = (char)c->buf[i];
        return fail(c, "not a GGUF file (starts with '%s', expected 'GGUF'; file size %zu)", m, c->size);
    }
    c->pos = 4;
    if (rd_u32(c, "version", &g->version) != 0) return -1;
    if (g->version == 2 || g->version == 3) return 0;
    if (g->version == 1)
        return fail(c, "GGUF version 1 is not supported; re-convert the model with a current llama.cpp");
    if ((g->version & 0xffff) == 0 && g->version != 0)
        return fail(c, "version field 0x%08x looks byte-swapped: big-endian GGUF is not supported",
                    g->version);
    return fail(c, "GGUF version %u is not supported (attn reads versions 2 and 3)", g->version);
}

static int parse_counts(cursor *c, uint64_t *n_tensors, uint64_t *n_kv) {
    if (rd_u64(c, "tensor count", n_tensors) != 0 || rd_u64(c, "metadata count", n_kv) != 0) return -1;
    if (*n_kv > left(c) / MIN_KV || *n_kv > INT_MAX)
        return fail(c, "metadata count %llu cannot fit in the %zu bytes after the header; corrupt count?",
                    (unsigned long long)*n_kv, left(c));
    if (*n_tensors > left(c) / MIN_TENSOR_INFO || *n_tensors > INT_MAX)
        return fail(c, "tensor count %llu cannot fit in the %zu bytes after the header; corrupt count?",
                    (unsigned long long)*n_tensors, left(c));
    return 0;
}

static int parse_tensor_info(cursor *c, attn_gguf_tensor *t, int i, int n) {
    const uint8_t *name;
    uint64_t nlen, v;
    uint32_t nd, type;
    snprintf(c->where, sizeof c->where, "tensor info %d of %d", i, n);
    if (rd_str(c, "name", &name, &nlen) != 0) return -1;
    if (memchr(name, 0, (size_t)nlen)) return fail(c, "name holds a NUL byte");
    set_where(c, "tensor", name, (size_t)nlen);
    if (!(t->name = strndup((const char *)name, (size_t)nlen))) return fail(c, "out of memory");
    if (rd_u32(c, "n_dims", &nd) != 0) return -1;
    if (nd > ATTN_GGUF_MAX_DIMS)
        return fail(c, "n_dims is %u; ggml tensors have at most %d", nd, ATTN_GGUF_MAX_DIMS);
    t->n_dims = (int)nd;
    for (int d = 0; d < ATTN_GGUF_MAX_DIMS; d++) t->ne[d] = 1;
    for (uint32_t d = 0; d < nd; d++) {
        if (rd_u64(c, "dimension", &v) != 0) return -1;
        if (v > INT64_MAX) return fail(c, "ne[%u] = %llu is out of range", d, (unsigned long long)v);
        t->ne[d] = (int64_t)v;
    }
    if (rd_u32(c, "type", &type) != 0) return -1;
    if (!attn_qtype_get((int)type))
        return fail(c, "unknown tensor type %u (not a ggml type this build knows; newer llama.cpp file?)",
                    type);
    t->type = (attn_qtype)type;
    return rd_u64(c, "offset", &t->offset);
}

/* general.alignment: optional, but when present a power-of-two u32, as ggml requires. */
static int read_alignment(cursor *c, attn_gguf *g) {
    g->alignment = ATTN_GGUF_DEFAULT_ALIGNMENT;
    const attn_gguf_value *v = attn_gguf_find(g, "general.alignment");
    if (!v) return 0;
    snprintf(c->where, sizeof c->where, "metadata 'general.alignment'");
    if (v->type != ATTN_GGUF_U32) return fail(c, "is %s, expected UINT32", type_names[v->type]);
    if (v->u == 0 || (v->u & (v->u - 1)) != 0)
        return fail(c, "%llu is not a power of two", (unsigned long long)v->u);
    g->alignment = (uint32_t)v->u;
    return 0;
}

/* Sizes a tensor from its shape and type and places it inside the data section. */
static int place_tensor(cursor *c, const attn_gguf *g, attn_gguf_tensor *t) {
    const attn_qtype_info *q = attn_qtype_get((int)t->type);
    set_where(c, "tensor", (const uint8_t *)t->name, strlen(t->name));
    int64_t n = 1;
    for (int d = 0; d < ATTN_GGUF_MAX_DIMS; d++) {
        if (t->ne[d] != 0 && n > INT64_MAX / t->ne[d])
            return fail(c, "shape [%lld, %lld, %lld, %lld] has more than 2^63 elements", (long long)t->ne[0],
                        (long long)t->ne[1], (long long)t->ne[2], (long long)t->ne[3]);
        n *= t->ne[d];
    }
    t->n_elements = n;
    if (t->ne[0] % q->block != 0)
        return fail(c, "row length ne[0] = %lld is not a multiple of the %s block size %d",
                    (long long)t->ne[0], q->name, q->block);
    uint64_t blocks = (uint64_t)(n / q->block); /* whole rows of whole blocks */
    if (blocks > (uint64_t)INT64_MAX / (uint64_t)q->bytes || blocks * (uint64_t)q->bytes > SIZE_MAX)
        return fail(c, "byte size of %lld %s values overflows", (long long)n, q->name);
    uint64_t nbytes = blocks * (uint64_t)q->bytes;
    uint64_t avail = g->data_start < c->size ? c->size - g->data_start : 0;
    if (t->offset % g->alignment != 0)
        return fail(c, "offset %llu is not a multiple of the alignment %u", (unsigned long long)t->offset,
                    g->alignment);
    if (t->offset > avail || nbytes > avail - t->offset)
        return fail(
            c,
            "offset %llu + %llu bytes (%s) runs past the end of the data section (%llu bytes from file "
            "offset %llu; file size %zu); truncated file?",
            (unsigned long long)t->offset, (unsigned long long)nbytes, q->name, (unsigned long long)avail,
            (unsigned long long)g->data_start, c->size);
    t->nbytes = (size_t)nbytes;
    t->data = nbytes ? c->buf + g->data_start + t->offset : NULL; /* inside the file, checked above */
    return 0;
}

/* ---- whole-file checks: duplicates and overlaps ------------------------------------- */

static int cmp_key_ref(const void *a, const void *b) {
    return strcmp(((const key_ref *)a)->key, ((const key_ref *)b)->key);
}

static int cmp_tensor_name(const void *a, const void *b) {
    return strcmp((*(const attn_gguf_tensor *const *)a)->name, (*(const attn_gguf_tensor *const *)b)->name);
}

static int cmp_tensor_offset(const void *a, const void *b) {
    const attn_gguf_tensor *x = *(const attn_gguf_tensor *const *)a, *y = *(const attn_gguf_tensor *const *)b;
    if (x->offset != y->offset) return x->offset < y->offset ? -1 : 1;
    return x->nbytes < y->nbytes ? -1 : x->nbytes > y->nbytes;
}

static int index_keys(cursor *c, attn_gguf *g) {
    g->kv_sorted = malloc(((size_t)g->n_kv + 1) * sizeof *g->kv_sorted);
    if (!g->kv_sorted) return fail(c, "out of memory");
    for (int i = 0; i < g->n_kv; i++) g->kv_sorted[i] = (key_ref){g->keys[i], i};
    qsort(g->kv_sorted, (size_t)g->n_kv, sizeof *g->kv_sorted, cmp_key_ref);
    for (int i = 1; i < g->n_kv; i++) {
        if (strcmp(g->kv_sorted[i - 1].key, g->kv_sorted[i].key) == 0) {
            const char *k = g->kv_sorted[i].key;
            set_where(c, "metadata", (const uint8_t *)k, strlen(k));
            return fail(c, "key appears twice (entries %d and %d)", g->kv_sorted[i - 1].idx,
                        g->kv_sorted[i].idx);
        }
    }
    return 0;
}

/* Sorts by name (rejecting duplicates), then checks no two non-empty tensors share bytes. */
static int index_tensors(cursor *c, attn_gguf *g) {
    size_t n = (size_t)g->n_tensors;
    const attn_gguf_tensor **tmp = malloc((n + 1) * sizeof *tmp);
    g->t_sorted = malloc((n + 1) * sizeof *g->t_sorted);
    if (!tmp || !g->t_sorted) {
        free(tmp);
        return fail(c, "out of memory");
    }
    for (size_t i = 0; i < n; i++) g->t_sorted[i] = tmp[i] = &g->tensors[i];
    qsort(g->t_sorted, n, sizeof *g->t_sorted, cmp_tensor_name);
    qsort(tmp, n, sizeof *tmp, cmp_tensor_offset);
    int rc = 0;
    for (size_t i = 1; rc == 0 && i < n; i++) {
        const attn_gguf_tensor *a = g->t_sorted[i - 1], *b = g->t_sorted[i];
        if (strcmp(a->name, b->name) == 0) {
            set_where(c, "tensor", (const uint8_t *)b->name, strlen(b->name));
            rc = fail(c, "name appears twice");
        }
    }
    const attn_gguf_tensor *prev = NULL;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        const attn_gguf_tensor *t = tmp[i];
        if (t->nbytes == 0) continue;
        if (prev && t->offset < prev->offset + prev->nbytes) {
            set_where(c, "tensor", (const uint8_t *)t->name, strlen(t->name));
            rc = fail(c, "data at offset %llu overlaps tensor '%.100s' (offset %llu, %zu bytes)",
                      (unsigned long long)t->offset, prev->name, (unsigned long long)prev->offset,
                      prev->nbytes);
        }
        prev = t;
    }
    free(tmp);
    return rc;
}

/* ---- parse ------------------------------------------------------------------------- */

static int parse_all(cursor *c, attn_gguf *g) {
    uint64_t n_tensors, n_kv;
    if (parse_magic_version(c, g) != 0 || parse_counts(c, &n_tensors, &n_kv) != 0) return -1;
    g->keys = calloc((size_t)n_kv + 1, sizeof *g->keys);
    g->vals = calloc((size_t)n_kv + 1, sizeof *g->vals);
    g->tensors = calloc((size_t)n_tensors + 1, sizeof *g->tensors);
    if (!g->keys || !g->vals || !g->tensors) return fail(c, "out of memory");
    for (g->n_kv = 0; (uint64_t)g->n_kv < n_kv;) /* counted before parsing so close() frees it */
        if (parse_kv(c, g, g->n_kv++) != 0) return -1;
    if (index_keys(c, g) != 0 || read_alignment(c, g) != 0) return -1;
    for (g->n_tensors = 0; (uint64_t)g->n_tensors < n_tensors;) {
        int i = g->n_tensors++;
        if (parse_tensor_info(c, &g->tensors[i], i, (int)n_tensors) != 0) return -1;
    }
    /* the data section starts at the next multiple of the alignment */
    g->data_start = ((uint64_t)c->pos + g->alignment - 1) / g->alignment * g->alignment;
    for (int i = 0; i < g->n_tensors; i++)
        if (place_tensor(c, g, &g->tensors[i]) != 0) return -1;
    return index_tensors(c, g);
}

attn_gguf *attn_gguf_parse(const void *buf, size_t size, const char *what) {
    if (!what) what = "<buffer>";
    attn_gguf *g = calloc(1, sizeof *g);
    if (g) g->path = strdup(what);
    if (!g || !g->path) {
        free(g);
        attn_error("%s: out of memory", what);
        return NULL;
    }
    cursor c = {.what = g->path, .buf = buf ? buf : (const void *)"", .size = buf ? size : 0};
    if (parse_all(&c, g) != 0) {
        attn_gguf_close(g);
        return NULL;
    }
    return g;
}

attn_gguf *attn_gguf_open(const char *path) {
    /* O_NONBLOCK: a named pipe is refused below (not a regular file), not waited on */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
        attn_error("%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        attn_error("%s: not a regular file", path);
        return NULL;
    }
    size_t size = (size_t)sb.st_size;
    if (size == 0) { /* mmap cannot map an empty file; give parse's message */
        close(fd);
        return attn_gguf_parse("", 0, path);
    }
    void *map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    int err = errno;
    close(fd); /* the mapping keeps the file alive */
    if (map == MAP_FAILED) {
        attn_error("%s: cannot mmap %zu bytes: %s", path, size, strerror(err));
        return NULL;
    }
    attn_gguf *g = attn_gguf_parse(map, size, path);
    if (!g) {
        munmap(map, size);
        return NULL;
    }
    g->map = map;
    g->map_len = size;
    return g;
}

void attn_gguf_release(const attn_gguf *g, const void *data, size_t nbytes) {
    if (g) attn_mapped_release(g->map, g->map_len, data, nbytes);
}

void attn_gguf_close(attn_gguf *g) {
    if (!g) return;
    for (int i = 0; i < g->n_kv; i++) {
        free(g->keys[i]);
        if (g->vals[i].type == ATTN_GGUF_STR) free((void *)g->vals[i].str.s);
        free_array(&g->vals[i]);
    }
    for (int i = 0; i < g->n_tensors; i++) free((void *)g->tensors[i].name);
    free(g->keys);
    free(g->vals);
    free(g->kv_sorted);
    free(g->tensors);
    free(g->t_sorted);
    if (g->map) munmap(g->map, g->map_len);
    free(g->path);
    free(g);
}

/* ---- accessors --------------------------------------------------------------------- */

const char *attn_gguf_path(const attn_gguf *g) { return g ? g->path : NULL; }
uint32_t attn_gguf_version(const attn_gguf *g) { return g ? g->version : 0; }
uint32_t attn_gguf_alignment(const attn_gguf *g) { return g ? g->alignment : 0; }
uint64_t attn_gguf_data_offset(const attn_gguf *g) { return g ? g->data_start : 0; }
int attn_gguf_kv_count(const attn_gguf *g) { return g ? g->n_kv : 0; }

const char *attn_gguf_kv_key(const attn_gguf *g, int i) {
    return g && i >= 0 && i < g->n_kv ? g->keys[i] : NULL;
}

const attn_gguf_value *attn_gguf_kv_value(const attn_gguf *g, int i) {
    return g && i >= 0 && i < g->n_kv ? &g->vals[i] : NULL;
}

const attn_gguf_value *attn_gguf_find(const attn_gguf *g, const char *key) {
    if (!g || !key || !g->kv_sorted || g->n_kv == 0) return NULL;
    key_ref probe = {key, 0};
    const key_ref *hit = bsearch(&probe, g->kv_sorted, (size_t)g->n_kv, sizeof probe, cmp_key_ref);
    return hit ? &g->vals[hit->idx] : NULL;
}

static const attn_gguf_value *get_typed(const attn_gguf *g, const char *key, attn_gguf_type want) {
    if (!g || !key) {
        attn_error("gguf: metadata lookup without a file or key");
        return NULL;
    }
    const attn_gguf_value *v = attn_gguf_find(g, key);
    if (!v)
        attn_error("%s: metadata '%s' is missing", g->path, key);
    else if (v->type != want && want != ATTN_GGUF_TYPE_COUNT)
        attn_error("%s: metadata '%s' is %s, expected %s", g->path, key, type_names[v->type],
                   type_names[want]);
    else
        return v;
    return NULL;
}

#define GGUF_GETTER(name, ctype, T, member)                                                                  \
    int attn_gguf_get_##name(const attn_gguf *g, const char *key, ctype *out) {                              \
        const attn_gguf_value *v = get_typed(g, key, T);                                                     \
        if (!v) return -1;                                                                                   \
        *out = (ctype)v->member;                                                                             \
        return 0;                                                                                            \
    }
GGUF_GETTER(u8, uint8_t, ATTN_GGUF_U8, u)
GGUF_GETTER(i8, int8_t, ATTN_GGUF_I8, i)
GGUF_GETTER(u16, uint16_t, ATTN_GGUF_U16, u)
GGUF_GETTER(i16, int16_t, ATTN_GGUF_I16, i)
GGUF_GETTER(u32, uint32_t, ATTN_GGUF_U32, u)
GGUF_GETTER(i32, int32_t, ATTN_GGUF_I32, i)
GGUF_GETTER(u64, uint64_t, ATTN_GGUF_U64, u)
GGUF_GETTER(i64, int64_t, ATTN_GGUF_I64, i)
GGUF_GETTER(f32, float, ATTN_GGUF_F32, f)
GGUF_GETTER(f64, double, ATTN_GGUF_F64, f)
GGUF_GETTER(bool, bool, ATTN_GGUF_BOOL, b)
#undef GGUF_GETTER

int attn_gguf_get_str(const attn_gguf *g, const char *key, const char **out, size_t *len) {
    const attn_gguf_value *v = get_typed(g, key, ATTN_GGUF_STR);
    if (!v) return -1;
    *out = v->str.s;
    if (len) *len = v->str.len;
    return 0;
}

int attn_gguf_get_int(const attn_gguf *g, const char *key, int64_t *out) {
    const attn_gguf_value *v = get_typed(g, key, ATTN_GGUF_TYPE_COUNT);
    if (!v) return -1;
    switch (v->type) {
    case ATTN_GGUF_I8:
    case ATTN_GGUF_I16:
    case ATTN_GGUF_I32:
    case ATTN_GGUF_I64: *out = v->i; return 0;
    case ATTN_GGUF_U8:
    case ATTN_GGUF_U16:
    case ATTN_GGUF_U32:
    case ATTN_GGUF_U64:
        if (v->u > INT64_MAX)
            return attn_error("%s: metadata '%s' = %llu is out of range", g->path, key,
                              (unsigned long long)v->u);
        *out = (int64_t)v->u;
        return 0;
    default:
        return attn_error("%s: metadata '%s' is %s, expected an integer", g->path, key, type_names[v->type]);
    }
}

int attn_gguf_get_arr(const attn_gguf *g, const char *key, attn_gguf_type elem, const attn_gguf_value **arr,
                      uint64_t *n) {
    const attn_gguf_value *v = get_typed(g, key, ATTN_GGUF_ARR);
    if (!v) return -1;
    if (elem != ATTN_GGUF_TYPE_COUNT && v->arr.elem != elem)
        return attn_error("%s: metadata '%s' is an array of %s, expected an array of %s", g->path, key,
                          type_names[v->arr.elem], attn_gguf_type_name(elem));
    *arr = v;
    if (n) *n = v->arr.n;
    return 0;
}

const void *attn_gguf_arr_data(const attn_gguf_value *a) {
    if (!a || a->type != ATTN_GGUF_ARR || a->arr.elem == ATTN_GGUF_STR || a->arr.elem == ATTN_GGUF_ARR)
        return NULL;
    return a->arr.data;
}

const char *attn_gguf_arr_str(const attn_gguf_value *a, uint64_t i, size_t *len) {
    if (!a || a->type != ATTN_GGUF_ARR || a->arr.elem != ATTN_GGUF_STR || !a->arr.str_off || i >= a->arr.n)
        return NULL;
    const uint8_t *p = a->arr.data + a->arr.str_off[i];
    if (len) *len = (size_t)le(p, 8);
    return (const char *)p + 8;
}

const attn_gguf_value *attn_gguf_arr_sub(const attn_gguf_value *a, uint64_t i) {
    if (!a || a->type != ATTN_GGUF_ARR || a->arr.elem != ATTN_GGUF_ARR || !a->arr.sub || i >= a->arr.n)
        return NULL;
    return &a->arr.sub[i];
}

int attn_gguf_arr_elem(const attn_gguf_value *a, uint64_t i, attn_gguf_value *out) {
    if (!a || a->type != ATTN_GGUF_ARR || i >= a->arr.n) return -1;
    if (a->arr.elem == ATTN_GGUF_STR) {
        size_t len = 0;
        const char *s = attn_gguf_arr_str(a, i, &len);
        if (!s) return -1;
        out->type = ATTN_GGUF_STR;
        out->str.s = s;
        out->str.len = len;
    } else if (a->arr.elem == ATTN_GGUF_ARR) {
        const attn_gguf_value *s = attn_gguf_arr_sub(a, i);
        if (!s) return -1;
        *out = *s;
    } else {
        decode_fixed(a->arr.elem, a->arr.data + i * type_sizes[a->arr.elem], out);
    }
    return 0;
}

int attn_gguf_tensor_count(const attn_gguf *g) { return g ? g->n_tensors : 0; }

const attn_gguf_tensor *attn_gguf_tensor_at(const attn_gguf *g, int i) {
    return g && i >= 0 && i < g->n_tensors ? &g->tensors[i] : NULL;
}

static int cmp_name_key(const void *key, const void *elem) {
    return strcmp((const char *)key, (*(const attn_gguf_tensor *const *)elem)->name);
}

const attn_gguf_tensor *attn_gguf_find_tensor(const attn_gguf *g, const char *name) {
    if (!g || !name || !g->t_sorted || g->n_tensors == 0) return NULL;
    const attn_gguf_tensor *const *hit =
        bsearch(name, g->t_sorted, (size_t)g->n_tensors, sizeof *g->t_sorted, cmp_name_key);
    return hit ? *hit : NULL;
}

int attn_gguf_dequantize(const attn_gguf *g, const attn_gguf_tensor *t, float *dst) {
    const char *path = g ? g->path : "gguf";
    if (!t) return attn_error("%s: dequantize: no tensor", path);
    const attn_qtype_info *q = attn_qtype_get((int)t->type);
    if (!q || !q->dequant)
        return attn_error("%s: tensor '%s': type %s cannot be converted to f32 by attn (supported: f32, f16, "
                          "bf16, q8_0, q4_0, q4_1, q5_0, q5_1, q2_K..q6_K)",
                          path, t->name, attn_qtype_name((int)t->type));
    if (attn_dequantize_row(t->type, t->data, dst, t->n_elements) != 0) {
        char why[256]; /* attn_error would overwrite the message it formats from */
        snprintf(why, sizeof why, "%s", attn_last_error());
        return attn_error("%s: tensor '%s': %s", path, t->name, why);
    }
    return 0;
}

/* ---- model conventions -------------------------------------------------------------- */

int attn_gguf_model_vocab(const attn_gguf *g, const char *arch, int64_t *vocab) {
    const attn_gguf_value *arr;
    uint64_t n_tokens = 0;
    bool has_tokens = attn_gguf_find(g, "tokenizer.ggml.tokens") != NULL;
    if (has_tokens && attn_gguf_get_arr(g, "tokenizer.ggml.tokens", ATTN_GGUF_STR, &arr, &n_tokens)) return -1;
    const attn_gguf_tensor *t = attn_gguf_find_tensor(g, "token_embd.weight");
    bool has_rows = t && t->n_dims == 2;
    if (!has_tokens && !has_rows)
        return attn_error("%s: no tokenizer.ggml.tokens and no 2-D token_embd.weight", g->path);
    *vocab = has_tokens ? (int64_t)n_tokens : t->ne[1];
    char key[128];
    snprintf(key, sizeof key, "%s.vocab_size", arch);
    int64_t v;
    if (!attn_gguf_find(g, key)) return 0;
    if (attn_gguf_get_int(g, key, &v)) return -1;
    if (has_rows && v != t->ne[1])
        return attn_error("%s: metadata '%s' is %lld but token_embd.weight has %lld rows", g->path, key, (long long)v,
                          (long long)t->ne[1]);
    if (has_tokens && (uint64_t)v != n_tokens)
        return attn_error("%s: metadata '%s' is %lld but tokenizer.ggml.tokens has %llu tokens", g->path, key,
                          (long long)v, (unsigned long long)n_tokens);
    return 0;
}
