/* gguf_write.c - the GGUF writer: metadata values are encoded into bytes as they are set,
 * tensors are referenced, and attn_gguf_writer_write lays the file out as ggml does
 * (header, metadata, tensor infos, padding, tensor data each padded to the alignment)
 * through an atomic file (fileio.h), so a crash never leaves a torn model behind. */
#include "format/gguf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/common.h"
#include "format/fileio.h"

/* A growable byte buffer; `oom` makes later appends no-ops so callers check once. */
typedef struct {
    uint8_t *p;
    size_t len, cap;
    bool oom;
} bytes;

typedef struct {
    char *key;
    bytes val; /* u32 value type + encoded value */
} wkv;

typedef struct {
    char *name;
    attn_qtype type;
    int n_dims;
    int64_t ne[ATTN_GGUF_MAX_DIMS];
    const void *data;
    size_t nbytes;
} wtensor;

struct attn_gguf_writer {
    wkv *kv;
    int n_kv, cap_kv;
    wtensor *t;
    int n_t, cap_t;
    char first_error[512]; /* set by the first failed call; write reports it */
};

/* ---- bytes ------------------------------------------------------------------------- */

static void put(bytes *b, const void *data, size_t n) {
    if (b->oom || n == 0) return;
    if (n > SIZE_MAX / 2 - b->len) {
        b->oom = true;
        return;
    }
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->len + n) cap *= 2;
        uint8_t *p = realloc(b->p, cap);
        if (!p) {
            b->oom = true;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, data, n);
    b->len += n;
}

static void put_le(bytes *b, uint64_t v, int n) {
    uint8_t tmp[8];
    for (int i = 0; i < n; i++) tmp[i] = (uint8_t)(v >> (8 * i));
    put(b, tmp, (size_t)n);
}

static void put_str(bytes *b, const char *s, size_t len) {
    put_le(b, len, 8);
    put(b, s, len);
}

/* ---- errors ------------------------------------------------------------------------ */

/* Records the message (for write to report) and returns -1. */
static int werr(attn_gguf_writer *w, const char *fmt, ...) ATTN_PRINTF(2, 3);
static int werr(attn_gguf_writer *w, const char *fmt, ...) {
    char msg[480];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (w && !w->first_error[0]) snprintf(w->first_error, sizeof w->first_error, "%s", msg);
    return attn_error("gguf writer: %s", msg);
}

/* ---- metadata ---------------------------------------------------------------------- */

/* The slot for `key`: the existing one (its value cleared) or a new one at the end. */
static wkv *slot(attn_gguf_writer *w, const char *key) {
    for (int i = 0; i < w->n_kv; i++) {
        if (strcmp(w->kv[i].key, key) == 0) {
            w->kv[i].val.len = 0;
            w->kv[i].val.oom = false;
            return &w->kv[i];
        }
    }
    if (w->n_kv == w->cap_kv) {
        int cap = w->cap_kv ? 2 * w->cap_kv : 16;
        wkv *kv = realloc(w->kv, (size_t)cap * sizeof *kv);
        if (!kv) return NULL;
        w->kv = kv;
        w->cap_kv = cap;
    }
    wkv *e = &w->kv[w->n_kv];
    memset(e, 0, sizeof *e);
    if (!(e->key = strdup(key))) return NULL;
    w->n_kv++;
    return e;
}

/* Sets `key` to the value encode() writes into the slot's buffer. */
static wkv *begin_kv(attn_gguf_writer *w, const char *key) {
    if (!w) {
        attn_error("gguf writer: NULL writer");
        return NULL;
    }
    if (!key) {
        werr(w, "a metadata key is NULL");
        return NULL;
    }
    wkv *e = slot(w, key);
    if (!e) werr(w, "out of memory setting '%s'", key);
    return e;
}

static int end_kv(attn_gguf_writer *w, const wkv *e) {
    return e->val.oom ? werr(w, "out of memory encoding '%s'", e->key) : 0;
}

static int set_fixed(attn_gguf_writer *w, const char *key, attn_gguf_type t, uint64_t raw) {
    wkv *e = begin_kv(w, key);
    if (!e) return -1;
    put_le(&e->val, (uint64_t)t, 4);
    put_le(&e->val, raw, (int)attn_gguf_type_size(t));
    return end_kv(w, e);
}

int attn_gguf_set_u8(attn_gguf_writer *w, const char *k, uint8_t v) {
    return set_fixed(w, k, ATTN_GGUF_U8, v);
}
int attn_gguf_set_i8(attn_gguf_writer *w, const char *k, int8_t v) {
    return set_fixed(w, k, ATTN_GGUF_I8, (uint8_t)v);
}
int attn_gguf_set_u16(attn_gguf_writer *w, const char *k, uint16_t v) {
    return set_fixed(w, k, ATTN_GGUF_U16, v);
}
int attn_gguf_set_i16(attn_gguf_writer *w, const char *k, int16_t v) {
    return set_fixed(w, k, ATTN_GGUF_I16, (uint16_t)v);
}
int attn_gguf_set_u32(attn_gguf_writer *w, const char *k, uint32_t v) {
    return set_fixed(w, k, ATTN_GGUF_U32, v);
}
int attn_gguf_set_i32(attn_gguf_writer *w, const char *k, int32_t v) {
    return set_fixed(w, k, ATTN_GGUF_I32, (uint32_t)v);
}
int attn_gguf_set_u64(attn_gguf_writer *w, const char *k, uint64_t v) {
    return set_fixed(w, k, ATTN_GGUF_U64, v);
}
int attn_gguf_set_i64(attn_gguf_writer *w, const char *k, int64_t v) {
    return set_fixed(w, k, ATTN_GGUF_I64, (uint64_t)v);
}
int attn_gguf_set_bool(attn_gguf_writer *w, const char *k, bool v) {
    return set_fixed(w, k, ATTN_GGUF_BOOL, v);
}

int attn_gguf_set_f32(attn_gguf_writer *w, const char *k, float v) {
    uint32_t bits;
    memcpy(&bits, &v, 4);
    return set_fixed(w, k, ATTN_GGUF_F32, bits);
}

int attn_gguf_set_f64(attn_gguf_writer *w, const char *k, double v) {
    uint64_t bits;
    memcpy(&bits, &v, 8);
    return set_fixed(w, k, ATTN_GGUF_F64, bits);
}

int attn_gguf_set_strn(attn_gguf_writer *w, const char *key, const char *s, size_t len) {
    if (!w) return attn_error("gguf writer: NULL writer");
    if (!s && len) return werr(w, "'%s': string is NULL", key ? key : "?");
    wkv *e = begin_kv(w, key);
    if (!e) return -1;
    put_le(&e->val, ATTN_GGUF_STR, 4);
    put_str(&e->val, s, len);
    return end_kv(w, e);
}

int attn_gguf_set_str(attn_gguf_writer *w, const char *key, const char *s) {
    return attn_gguf_set_strn(w, key, s, s ? strlen(s) : 0);
}

/* Fixed-size elements from a C array of the element's type (host order, little-endian). */
static void put_c_elems(bytes *b, attn_gguf_type t, const void *data, uint64_t n) {
    if (t == ATTN_GGUF_BOOL) { /* a C bool may hold any nonzero byte: store 0/1 */
        const bool *v = data;
        for (uint64_t i = 0; i < n; i++) put_le(b, v[i] ? 1 : 0, 1);
        return;
    }
    size_t es = attn_gguf_type_size(t);
    if (n > SIZE_MAX / es) {
        b->oom = true;
        return;
    }
    put(b, data, (size_t)n * es);
}

int attn_gguf_set_arr(attn_gguf_writer *w, const char *key, attn_gguf_type elem, const void *data,
                      uint64_t n) {
    if (!w) return attn_error("gguf writer: NULL writer");
    if (attn_gguf_type_size(elem) == 0)
        return werr(w, "'%s': set_arr takes fixed-size element types, not %s", key ? key : "?",
                    attn_gguf_type_name(elem));
    if (n && !data) return werr(w, "'%s': array data is NULL", key ? key : "?");
    wkv *e = begin_kv(w, key);
    if (!e) return -1;
    put_le(&e->val, ATTN_GGUF_ARR, 4);
    put_le(&e->val, (uint64_t)elem, 4);
    put_le(&e->val, n, 8);
    put_c_elems(&e->val, elem, data, n);
    return end_kv(w, e);
}

int attn_gguf_set_arr_str(attn_gguf_writer *w, const char *key, const char *const *s, uint64_t n) {
    if (!w) return attn_error("gguf writer: NULL writer");
    if (n && !s) return werr(w, "'%s': string array is NULL", key ? key : "?");
    for (uint64_t i = 0; i < n; i++)
        if (!s[i]) return werr(w, "'%s': string %llu is NULL", key ? key : "?", (unsigned long long)i);
    wkv *e = begin_kv(w, key);
    if (!e) return -1;
    put_le(&e->val, ATTN_GGUF_ARR, 4);
    put_le(&e->val, ATTN_GGUF_STR, 4);
    put_le(&e->val, n, 8);
    for (uint64_t i = 0; i < n; i++) put_str(&e->val, s[i], strlen(s[i]));
    return end_kv(w, e);
}

/* An array body (element type, count, elements) from a reader's value, recursively. */
static int put_array(bytes *b, const attn_gguf_value *v, int depth) {
    if (depth >= ATTN_GGUF_MAX_DEPTH || (unsigned)v->arr.elem >= ATTN_GGUF_TYPE_COUNT) return -1;
    put_le(b, (uint64_t)v->arr.elem, 4);
    put_le(b, v->arr.n, 8);
    size_t es = attn_gguf_type_size(v->arr.elem);
    if (es) { /* fixed-size elements are already encoded in the file */
        if (v->arr.n && !v->arr.data) return -1;
        put(b, v->arr.data, (size_t)v->arr.n * es);
        return 0;
    }
    for (uint64_t i = 0; i < v->arr.n; i++) {
        if (v->arr.elem == ATTN_GGUF_STR) {
            size_t len;
            const char *s = attn_gguf_arr_str(v, i, &len);
            if (!s) return -1;
            put_str(b, s, len);
        } else if (v->arr.elem == ATTN_GGUF_ARR) {
            const attn_gguf_value *sub = attn_gguf_arr_sub(v, i);
            if (!sub || put_array(b, sub, depth + 1) != 0) return -1;
        }
    }
    return 0;
}

int attn_gguf_set_value(attn_gguf_writer *w, const char *key, const attn_gguf_value *v) {
    if (!w) return attn_error("gguf writer: NULL writer");
    if (!v) return werr(w, "'%s': value is NULL", key ? key : "?");
    if ((unsigned)v->type >= ATTN_GGUF_TYPE_COUNT)
        return werr(w, "'%s': unknown value type %d", key ? key : "?", (int)v->type);
    if (v->type == ATTN_GGUF_STR) return attn_gguf_set_strn(w, key, v->str.s, v->str.len);
    wkv *e = begin_kv(w, key);
    if (!e) return -1;
    put_le(&e->val, (uint64_t)v->type, 4);
    if (v->type == ATTN_GGUF_ARR) {
        if (put_array(&e->val, v, 0) != 0)
            return werr(w, "'%s': array value did not come from a GGUF reader (or nests too deep)", key);
    } else if (v->type == ATTN_GGUF_F32) {
        float f = (float)v->f;
        uint32_t bits;
        memcpy(&bits, &f, 4);
        put_le(&e->val, bits, 4);
    } else if (v->type == ATTN_GGUF_F64) {
        uint64_t bits;
        memcpy(&bits, &v->f, 8);
        put_le(&e->val, bits, 8);
    } else {
        uint64_t raw = v->type == ATTN_GGUF_BOOL ? (uint64_t)v->b : v->u; /* i shares u's bits */
        put_le(&e->val, raw, (int)attn_gguf_type_size(v->type));
    }
    return end_kv(w, e);
}

/* ---- tensors ----------------------------------------------------------------------- */

static int check_tensor(attn_gguf_writer *w, const char *name, attn_qtype type, int n_dims, const int64_t *ne,
                        const void *data, size_t *nbytes) {
    const attn_qtype_info *q = attn_qtype_get((int)type);
    if (!name) return werr(w, "a tensor name is NULL");
    if (strlen(name) > ATTN_GGUF_MAX_NAME)
        return werr(w, "tensor '%s': name is longer than %d bytes (llama.cpp cannot load it)", name,
                    ATTN_GGUF_MAX_NAME);
    for (int i = 0; i < w->n_t; i++)
        if (strcmp(w->t[i].name, name) == 0) return werr(w, "tensor '%s' added twice", name);
    if (!q) return werr(w, "tensor '%s': unknown type %d", name, (int)type);
    if (n_dims < 1 || n_dims > ATTN_GGUF_MAX_DIMS || !ne)
        return werr(w, "tensor '%s': n_dims %d is outside 1..%d", name, n_dims, ATTN_GGUF_MAX_DIMS);
    uint64_t n = 1;
    for (int d = 0; d < n_dims; d++) {
        if (ne[d] < 0) return werr(w, "tensor '%s': ne[%d] is negative", name, d);
        if (ne[d] != 0 && n > (uint64_t)INT64_MAX / (uint64_t)ne[d])
            return werr(w, "tensor '%s': element count overflows", name);
        n *= (uint64_t)ne[d];
    }
    if (ne[0] % q->block != 0)
        return werr(w, "tensor '%s': row length %lld is not a multiple of the %s block size %d", name,
                    (long long)ne[0], q->name, q->block);
    if (n / (uint64_t)q->block > (uint64_t)(INT64_MAX / 2) / (uint64_t)q->bytes)
        return werr(w, "tensor '%s': byte size overflows", name);
    *nbytes = (size_t)(n / (uint64_t)q->block * (uint64_t)q->bytes);
    if (*nbytes && !data) return werr(w, "tensor '%s': data is NULL", name);
    return 0;
}

int attn_gguf_add_tensor(attn_gguf_writer *w, const char *name, attn_qtype type, int n_dims,
                         const int64_t *ne, const void *data) {
    if (!w) return attn_error("gguf writer: NULL writer");
    size_t nbytes = 0;
    if (check_tensor(w, name, type, n_dims, ne, data, &nbytes) != 0) return -1;
    if (w->n_t == w->cap_t) {
        int cap = w->cap_t ? 2 * w->cap_t : 16;
        wtensor *t = realloc(w->t, (size_t)cap * sizeof *t);
        if (!t) return werr(w, "out of memory adding tensor '%s'", name);
        w->t = t;
        w->cap_t = cap;
    }
    wtensor *t = &w->t[w->n_t];
    memset(t, 0, sizeof *t);
    if (!(t->name = strdup(name))) return werr(w, "out of memory adding tensor '%s'", name);
    t->type = type;
    t->n_dims = n_dims;
    for (int d = 0; d < ATTN_GGUF_MAX_DIMS; d++) t->ne[d] = d < n_dims ? ne[d] : 1;
    t->data = data;
    t->nbytes = nbytes;
    w->n_t++;
    return 0;
}

/* ---- writing ----------------------------------------------------------------------- */

attn_gguf_writer *attn_gguf_writer_new(void) {
    attn_gguf_writer *w = calloc(1, sizeof *w);
    if (!w) attn_error("gguf writer: out of memory");
    return w;
}

void attn_gguf_writer_free(attn_gguf_writer *w) {
    if (!w) return;
    for (int i = 0; i < w->n_kv; i++) {
        free(w->kv[i].key);
        free(w->kv[i].val.p);
    }
    for (int i = 0; i < w->n_t; i++) free(w->t[i].name);
    free(w->kv);
    free(w->t);
    free(w);
}

/* general.alignment if set (it must be a power-of-two u32, as readers require), else 32. */
static int writer_alignment(attn_gguf_writer *w, const char *path, uint64_t *align) {
    *align = ATTN_GGUF_DEFAULT_ALIGNMENT;
    for (int i = 0; i < w->n_kv; i++) {
        if (strcmp(w->kv[i].key, "general.alignment") != 0) continue;
        const bytes *v = &w->kv[i].val; /* u32 type, u32 value */
        uint64_t a = 0;
        for (int k = 7; v->len == 8 && k >= 4; k--) a = a << 8 | v->p[k];
        if (v->len != 8 || v->p[0] != ATTN_GGUF_U32 || a == 0 || (a & (a - 1)) != 0)
            return attn_error("%s: general.alignment must be a power-of-two UINT32", path);
        *align = a;
    }
    return 0;
}

static uint64_t pad_to(uint64_t x, uint64_t align) { return (x + align - 1) / align * align; }

/* Everything before the tensor data: header, metadata, tensor infos, padding. */
static int build_head(attn_gguf_writer *w, uint64_t align, bytes *h) {
    put(h, "GGUF", 4);
    put_le(h, 3, 4);
    put_le(h, (uint64_t)w->n_t, 8);
    put_le(h, (uint64_t)w->n_kv, 8);
    for (int i = 0; i < w->n_kv; i++) {
        put_str(h, w->kv[i].key, strlen(w->kv[i].key));
        put(h, w->kv[i].val.p, w->kv[i].val.len);
    }
    uint64_t offset = 0;
    for (int i = 0; i < w->n_t; i++) {
        const wtensor *t = &w->t[i];
        put_str(h, t->name, strlen(t->name));
        put_le(h, (uint64_t)t->n_dims, 4);
        for (int d = 0; d < t->n_dims; d++) put_le(h, (uint64_t)t->ne[d], 8);
        put_le(h, (uint64_t)t->type, 4);
        put_le(h, offset, 8);
        offset = pad_to(offset + t->nbytes, align);
    }
    static const uint8_t zeros[64];
    while (!h->oom && h->len % align != 0) put(h, zeros, ATTN_MIN(sizeof zeros, align - h->len % align));
    return h->oom ? -1 : 0;
}

static int write_zeros(attn_atomic_file *f, uint64_t n) {
    static const uint8_t zeros[4096];
    for (int rc = 0; n > 0; n -= ATTN_MIN(n, sizeof zeros))
        if ((rc = attn_atomic_write(f, zeros, ATTN_MIN(n, sizeof zeros))) != 0) return rc;
    return 0;
}

int attn_gguf_writer_write(attn_gguf_writer *w, const char *path) {
    if (!w || !path) return attn_error("gguf writer: no writer or path");
    if (w->first_error[0])
        return attn_error("%s: not written, an earlier call failed: %s", path, w->first_error);
    uint64_t align;
    if (writer_alignment(w, path, &align) != 0) return -1;
    bytes h = {0};
    if (build_head(w, align, &h) != 0) {
        free(h.p);
        return attn_error("%s: out of memory building the GGUF header", path);
    }
    attn_atomic_file *f = attn_atomic_open(path);
    int rc = f ? attn_atomic_write(f, h.p, h.len) : -1;
    free(h.p);
    for (int i = 0; rc == 0 && i < w->n_t; i++) {
        const wtensor *t = &w->t[i];
        if (t->nbytes) rc = attn_atomic_write(f, t->data, t->nbytes);
        if (rc == 0) rc = write_zeros(f, pad_to(t->nbytes, align) - t->nbytes);
    }
    if (!f) return -1;
    if (rc != 0) {
        attn_atomic_abort(f);
        return -1;
    }
    return attn_atomic_commit(f);
}
