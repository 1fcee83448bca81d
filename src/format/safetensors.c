/* safetensors.c - the safetensors reader (validate the header, then hand out pointers
 * into the mapping) and writer (HF layout, written through fileio's atomic files).
 * See safetensors.h for the format and for what the reader accepts. */
#include "format/safetensors.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "format/fileio.h"

struct attn_safetensors {
    char *path;
    void *map; /* NULL for parsed buffers: nothing to unmap or release */
    size_t map_len;
    bool copied; /* map is realign's anonymous copy: dropped pages would read back as zeros */
    int n;
    attn_st_tensor *tensors;         /* file order */
    const attn_st_tensor **by_name;  /* sorted by name, for binary search */
    int n_meta;
    char **meta; /* key, value, key, value... sorted by key */
};

/* ---- errors ------------------------------------------------------------------------ */

/* Records "WHAT: message" as the error. Names come from the file and may hold control
 * characters (a JSON "\n" in a tensor name); they are masked so the message stays one
 * printable line. Returns NULL so parse steps can `return st_fail(...)`. */
static void *st_fail(const char *what, const char *fmt, ...) ATTN_PRINTF(2, 3);
static void *st_fail(const char *what, const char *fmt, ...) {
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    for (char *p = msg; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f) *p = '?';
    attn_error("%s: %s", what, msg);
    return NULL;
}

static const char *json_kind(const json_t *v) {
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return "an array";
    case JSON_STRING: return "a string";
    case JSON_INTEGER: return "an integer";
    case JSON_REAL: return "a real number";
    case JSON_TRUE: case JSON_FALSE: return "a boolean";
    default: return "null";
    }
}

/* ---- dtypes ------------------------------------------------------------------------ */

static int dtype_from_name(const char *s, attn_dtype *out) {
    for (int t = 0; t < ATTN_DTYPE_COUNT; t++) {
        if (strcmp(s, attn_dtype_name((attn_dtype)t)) == 0) {
            *out = (attn_dtype)t;
            return 0;
        }
    }
    return -1;
}

/* Dtypes the safetensors spec defines that attn does not compute with: such tensors are
 * validated and kept (marked !loadable) so files with mask buffers still open. Sub-byte
 * types have size 0 here: they are reported as unsupported. */
static const struct { const char *name; size_t size; } other_dtypes[] = {
    {"F64", 8}, {"I64", 8}, {"U64", 8}, {"C64", 8}, {"I32", 4}, {"U32", 4}, {"I16", 2},
    {"U16", 2}, {"I8", 1}, {"U8", 1}, {"BOOL", 1}, {"F8_E4M3", 1}, {"F8_E5M2", 1},
    {"F8_E8M0", 1}, {"F6_E2M3", 0}, {"F6_E3M2", 0}, {"F4", 0}};

static int other_dtype(const char *s) {
    for (size_t i = 0; i < sizeof other_dtypes / sizeof *other_dtypes; i++)
        if (strcmp(s, other_dtypes[i].name) == 0) return (int)i;
    return -1;
}

/* ---- header prefix ----------------------------------------------------------------- */

static uint64_t read_le64(const uint8_t *p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

/* Checks the 8-byte length prefix; on success *hlen is the JSON header length. */
static int check_prefix(const uint8_t *buf, size_t size, const char *what, size_t *hlen) {
    if (size < 8) {
        st_fail(what, "file is %zu bytes, shorter than the 8-byte header length; "
                      "not a safetensors file or truncated", size);
        return -1;
    }
    uint64_t len = read_le64(buf);
    if (len == 0) {
        st_fail(what, "header length is 0; not a safetensors file");
        return -1;
    }
    if (len > ATTN_ST_MAX_HEADER) {
        st_fail(what, "header length %llu exceeds the %u-byte limit; not a safetensors file",
                (unsigned long long)len, ATTN_ST_MAX_HEADER);
        return -1;
    }
    if (len > size - 8) {
        st_fail(what, "header length %llu points past the end of the file (size %zu); "
                      "truncated?", (unsigned long long)len, size);
        return -1;
    }
    *hlen = (size_t)len;
    return 0;
}

/* ---- one tensor entry -------------------------------------------------------------- */

typedef struct {
    const char *what;
    const uint8_t *data; /* start of the data section */
    size_t data_size;    /* bytes from there to the end of the file */
    size_t file_size;
} parse_ctx;

/* Sets t->dtype, t->loadable, t->dtype_name and the element size. */
static int parse_dtype(const parse_ctx *c, const char *name, const json_t *e, attn_st_tensor *t, size_t *esize) {
    const json_t *v = json_object_get(e, "dtype");
    if (!v) return st_fail(c->what, "tensor '%s': missing dtype", name), -1;
    if (!json_is_string(v))
        return st_fail(c->what, "tensor '%s': dtype is %s, not a string", name, json_kind(v)), -1;
    const char *s = json_string_value(v);
    if (dtype_from_name(s, &t->dtype) == 0) {
        t->loadable = true;
        t->dtype_name = attn_dtype_name(t->dtype);
        *esize = attn_dtype_size(t->dtype);
        return 0;
    }
    int o = other_dtype(s);
    if (o >= 0 && other_dtypes[o].size > 0) {
        t->dtype = ATTN_F32;
        t->loadable = false;
        t->dtype_name = other_dtypes[o].name;
        *esize = other_dtypes[o].size;
        return 0;
    }
    if (o >= 0)
        st_fail(c->what, "tensor '%s': unsupported dtype %s (attn loads F32, F16, BF16; "
                         "convert the file)", name, s);
    else
        st_fail(c->what, "tensor '%s': unknown dtype '%s'", name, s);
    return -1;
}

/* Fills ndim/shape and returns the element count, or -1. */
static int64_t parse_shape(const parse_ctx *c, const char *name, const json_t *e,
                           attn_st_tensor *t) {
    const json_t *v = json_object_get(e, "shape");
    if (!v) return st_fail(c->what, "tensor '%s': missing shape", name), -1;
    if (!json_is_array(v))
        return st_fail(c->what, "tensor '%s': shape is %s, not an array", name, json_kind(v)), -1;
    size_t nd = json_array_size(v);
    if (nd > ATTN_MAX_DIMS)
        return st_fail(c->what, "tensor '%s': shape has %zu dims, attn supports at most %d",
                       name, nd, ATTN_MAX_DIMS), -1;
    int64_t numel = 1;
    for (size_t i = 0; i < nd; i++) {
        const json_t *d = json_array_get(v, i);
        if (!json_is_integer(d))
            return st_fail(c->what, "tensor '%s': shape[%zu] is %s, not an integer", name, i,
                           json_kind(d)), -1;
        json_int_t x = json_integer_value(d);
        if (x < 0)
            return st_fail(c->what, "tensor '%s': shape[%zu] is negative (%lld)", name, i,
                           (long long)x), -1;
        if (x != 0 && numel > INT64_MAX / x)
            return st_fail(c->what, "tensor '%s': shape product overflows", name), -1;
        numel *= x;
        t->shape[i] = x;
    }
    t->ndim = (int)nd;
    return numel;
}

static int parse_offsets(const parse_ctx *c, const char *name, const json_t *e,
                         uint64_t *begin, uint64_t *end) {
    const json_t *v = json_object_get(e, "data_offsets");
    if (!v) return st_fail(c->what, "tensor '%s': missing data_offsets", name), -1;
    if (!json_is_array(v) || json_array_size(v) != 2)
        return st_fail(c->what, "tensor '%s': data_offsets must be an array of 2 integers",
                       name), -1;
    json_int_t o[2];
    for (int i = 0; i < 2; i++) {
        const json_t *x = json_array_get(v, (size_t)i);
        if (!json_is_integer(x))
            return st_fail(c->what, "tensor '%s': data_offsets[%d] is %s, not an integer",
                           name, i, json_kind(x)), -1;
        o[i] = json_integer_value(x);
        if (o[i] < 0)
            return st_fail(c->what, "tensor '%s': data_offsets[%d] is negative (%lld)", name, i,
                           (long long)o[i]), -1;
    }
    if (o[0] > o[1])
        return st_fail(c->what, "tensor '%s': data_offsets [%lld,%lld] are reversed", name,
                       (long long)o[0], (long long)o[1]), -1;
    if ((uint64_t)o[1] > c->data_size)
        return st_fail(c->what, "tensor '%s': data_offsets [%lld,%lld] point past the end of "
                       "the file (size %zu, data section %zu bytes)", name, (long long)o[0],
                       (long long)o[1], c->file_size, c->data_size), -1;
    *begin = (uint64_t)o[0];
    *end = (uint64_t)o[1];
    return 0;
}

static int parse_entry(const parse_ctx *c, const char *name, const json_t *e, attn_st_tensor *t) {
    if (!json_is_object(e))
        return st_fail(c->what, "tensor '%s': entry is %s, not an object", name, json_kind(e)), -1;
    uint64_t begin, end;
    int64_t numel;
    size_t esize;
    if (parse_dtype(c, name, e, t, &esize) != 0) return -1;
    if ((numel = parse_shape(c, name, e, t)) < 0) return -1;
    if (parse_offsets(c, name, e, &begin, &end) != 0) return -1;
    if (numel > INT64_MAX / (int64_t)esize || (uint64_t)numel * esize > SIZE_MAX)
        return st_fail(c->what, "tensor '%s': byte size of shape overflows", name), -1;
    uint64_t want = (uint64_t)numel * esize;
    if (end - begin != want)
        return st_fail(c->what, "tensor '%s': data_offsets [%llu,%llu] hold %llu bytes but "
                       "the shape needs %llu (%lld x %s)", name, (unsigned long long)begin,
                       (unsigned long long)end, (unsigned long long)(end - begin),
                       (unsigned long long)want, (long long)numel, t->dtype_name), -1;
    t->data = c->data + begin;
    t->nbytes = (size_t)want;
    t->name = strdup(name);
    if (!t->name) return attn_error("%s: out of memory", c->what);
    return 0;
}

/* ---- metadata ---------------------------------------------------------------------- */

static int cmp_meta(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int parse_meta(attn_safetensors *st, const json_t *m) {
    if (!json_is_object(m))
        return st_fail(st->path, "__metadata__ is %s, not an object of strings", json_kind(m)), -1;
    st->meta = calloc(2 * json_object_size(m) + 1, sizeof *st->meta);
    if (!st->meta) return attn_error("%s: out of memory", st->path);
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)m, key, v) {
        if (!json_is_string(v))
            return st_fail(st->path, "__metadata__ '%s' is %s, not a string", key,
                           json_kind(v)), -1;
        char **kv = st->meta + 2 * st->n_meta;
        kv[0] = strdup(key);
        kv[1] = strdup(json_string_value(v));
        st->n_meta++; /* counted now so close() frees a half-made pair */
        if (!kv[0] || !kv[1]) return attn_error("%s: out of memory", st->path);
    }
    /* each pair is two adjacent char*, so sorting pairs = sorting 2-pointer records */
    qsort(st->meta, (size_t)st->n_meta, 2 * sizeof *st->meta, cmp_meta);
    return 0;
}

/* ---- whole header ------------------------------------------------------------------ */

static int cmp_file_order(const void *pa, const void *pb) {
    const attn_st_tensor *a = pa, *b = pb;
    if (a->data != b->data) return (const uint8_t *)a->data < (const uint8_t *)b->data ? -1 : 1;
    if (a->nbytes != b->nbytes) return a->nbytes < b->nbytes ? -1 : 1;
    return strcmp(a->name, b->name);
}

static int cmp_by_name(const void *a, const void *b) {
    return strcmp((*(const attn_st_tensor *const *)a)->name,
                  (*(const attn_st_tensor *const *)b)->name);
}

/* After sorting by offset, a non-empty tensor overlaps iff it starts before the previous
 * non-empty one ends (empty tensors occupy no bytes and overlap nothing). */
static int check_overlaps(const attn_safetensors *st, const uint8_t *data) {
    const attn_st_tensor *prev = NULL;
    for (int i = 0; i < st->n; i++) {
        const attn_st_tensor *t = &st->tensors[i];
        if (t->nbytes == 0) continue;
        if (prev && (const uint8_t *)t->data < (const uint8_t *)prev->data + prev->nbytes) {
            size_t b = (size_t)((const uint8_t *)t->data - data);
            size_t pb = (size_t)((const uint8_t *)prev->data - data);
            return st_fail(st->path, "tensor '%s': data_offsets [%zu,%zu] overlap tensor '%s' "
                           "[%zu,%zu]", t->name, b, b + t->nbytes, prev->name, pb,
                           pb + prev->nbytes), -1;
        }
        prev = t;
    }
    return 0;
}

static int parse_tensors(attn_safetensors *st, const json_t *root, const parse_ctx *c) {
    size_t count = json_object_size(root);
    st->tensors = calloc(count + 1, sizeof *st->tensors);
    st->by_name = calloc(count + 1, sizeof *st->by_name);
    if (!st->tensors || !st->by_name) return attn_error("%s: out of memory", c->what);
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)root, key, v) {
        if (strcmp(key, "__metadata__") == 0) {
            if (parse_meta(st, v) != 0) return -1;
            continue;
        }
        int rc = parse_entry(c, key, v, &st->tensors[st->n]);
        if (st->tensors[st->n].name) st->n++; /* so close() frees it */
        if (rc != 0) return -1;
    }
    qsort(st->tensors, (size_t)st->n, sizeof *st->tensors, cmp_file_order);
    if (check_overlaps(st, c->data) != 0) return -1;
    for (int i = 0; i < st->n; i++) st->by_name[i] = &st->tensors[i];
    qsort(st->by_name, (size_t)st->n, sizeof *st->by_name, cmp_by_name);
    return 0;
}

static int parse_header(attn_safetensors *st, const uint8_t *buf, size_t size) {
    size_t hlen;
    if (check_prefix(buf, size, st->path, &hlen) != 0) return -1;
    json_error_t jerr;
    json_t *root = json_loadb((const char *)buf + 8, hlen, JSON_REJECT_DUPLICATES, &jerr);
    if (!root && strncmp(jerr.text, "duplicate object key", 20) == 0)
        return st_fail(st->path, "header has a duplicate tensor or metadata name%s", jerr.text + 20), -1;
    if (!root)
        return st_fail(st->path, "header is not valid JSON: %s (header byte %d)", jerr.text,
                       jerr.position), -1;
    int rc = 0;
    if (!json_is_object(root)) {
        rc = -1;
        st_fail(st->path, "header is %s, not a JSON object", json_kind(root));
    } else {
        parse_ctx c = {st->path, buf + 8 + hlen, size - 8 - hlen, size};
        rc = parse_tensors(st, root, &c);
    }
    json_decref(root);
    return rc;
}

/* ---- public reader API ------------------------------------------------------------- */

attn_safetensors *attn_safetensors_parse(const void *buf, size_t size, const char *what) {
    if (!what) what = "<buffer>";
    attn_safetensors *st = calloc(1, sizeof *st);
    if (st) st->path = strdup(what);
    if (!st || !st->path) {
        free(st);
        attn_error("%s: out of memory", what);
        return NULL;
    }
    if (parse_header(st, buf, size) != 0) {
        attn_safetensors_close(st);
        return NULL;
    }
    return st;
}

/* Tensor data off its element alignment (a header of unpadded length, or offsets that are no
 * multiple of the size: legal, though HF's writer never makes them) would break the models'
 * loads, which assume it: such a file's tensors are copied once into memory of their own, each
 * 64-aligned, and the mapping goes. */
static int realign(attn_safetensors *st) {
    bool aligned = true;
    size_t len = 0;
    for (int i = 0; i < st->n; i++) {
        const attn_st_tensor *t = &st->tensors[i];
        if (t->loadable && t->nbytes) aligned = aligned && (uintptr_t)t->data % attn_dtype_size(t->dtype) == 0;
        len += (t->nbytes + 63) / 64 * 64;
    }
    if (aligned) return 0;
    uint8_t *copy = mmap(NULL, ATTN_MAX(len, 1), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (copy == MAP_FAILED) return attn_error("%s: out of memory copying its misaligned tensors", st->path);
    size_t at = 0;
    for (int i = 0; i < st->n; i++) {
        attn_st_tensor *t = &st->tensors[i];
        memcpy(copy + at, t->data, t->nbytes);
        t->data = copy + at;
        at += (t->nbytes + 63) / 64 * 64;
    }
    munmap(st->map, st->map_len);
    st->map = copy, st->map_len = ATTN_MAX(len, 1), st->copied = true;
    return 0;
}

attn_safetensors *attn_safetensors_open(const char *path) {
    /* O_NONBLOCK: a named pipe is refused below (not a regular file), not waited on */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) return st_fail(path, "cannot open: %s", strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        return st_fail(path, "not a regular file");
    }
    size_t size = (size_t)sb.st_size;
    if (size < 8) { /* mmap cannot map an empty file; give parse's message */
        close(fd);
        return attn_safetensors_parse("", size, path);
    }
    void *map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    int err = errno;
    close(fd); /* the mapping keeps the file alive */
    if (map == MAP_FAILED) return st_fail(path, "cannot mmap %zu bytes: %s", size, strerror(err));
    attn_safetensors *st = attn_safetensors_parse(map, size, path);
    if (!st) {
        munmap(map, size);
        return NULL;
    }
    st->map = map;
    st->map_len = size;
    return realign(st) == 0 ? st : (attn_safetensors_close(st), NULL);
}

void attn_safetensors_close(attn_safetensors *st) {
    if (!st) return;
    for (int i = 0; i < st->n; i++) free((void *)st->tensors[i].name);
    for (int i = 0; i < 2 * st->n_meta; i++) free(st->meta[i]);
    free(st->meta);
    free(st->tensors);
    free(st->by_name);
    if (st->map) munmap(st->map, st->map_len);
    free(st->path);
    free(st);
}

int attn_safetensors_count(const attn_safetensors *st) { return st ? st->n : 0; }

const attn_st_tensor *attn_safetensors_at(const attn_safetensors *st, int i) {
    return st && i >= 0 && i < st->n ? &st->tensors[i] : NULL;
}

static int cmp_name_key(const void *key, const void *elem) {
    return strcmp((const char *)key, (*(const attn_st_tensor *const *)elem)->name);
}

const attn_st_tensor *attn_safetensors_find_any(const attn_safetensors *st, const char *name) {
    if (!st || !name || st->n == 0) return NULL;
    const attn_st_tensor *const *hit =
        bsearch(name, st->by_name, (size_t)st->n, sizeof *st->by_name, cmp_name_key);
    return hit ? *hit : NULL;
}

const attn_st_tensor *attn_safetensors_find(const attn_safetensors *st, const char *name) {
    const attn_st_tensor *t = attn_safetensors_find_any(st, name);
    return t && t->loadable ? t : NULL;
}

static int cmp_meta_key(const void *key, const void *elem) {
    return strcmp((const char *)key, *(char *const *)elem);
}

const char *attn_safetensors_meta(const attn_safetensors *st, const char *key) {
    if (!st || !key || st->n_meta == 0) return NULL;
    char *const *hit = bsearch(key, st->meta, (size_t)st->n_meta, 2 * sizeof *st->meta, cmp_meta_key);
    return hit ? hit[1] : NULL;
}

int attn_safetensors_meta_count(const attn_safetensors *st) { return st ? st->n_meta : 0; }

int attn_safetensors_meta_at(const attn_safetensors *st, int i, const char **key, const char **val) {
    if (!st || i < 0 || i >= st->n_meta) return -1;
    if (key) *key = st->meta[2 * i];
    if (val) *val = st->meta[2 * i + 1];
    return 0;
}

const char *attn_safetensors_path(const attn_safetensors *st) { return st ? st->path : NULL; }

void attn_safetensors_release(const attn_safetensors *st, const void *data, size_t nbytes) {
    if (st && !st->copied) attn_mapped_release(st->map, st->map_len, data, nbytes);
}

/* ---- writer ------------------------------------------------------------------------ */

typedef struct {
    const attn_st_entry *e;
    size_t nbytes;
} write_item;

static int check_entry(const char *path, const attn_st_entry *e, size_t *nbytes) {
    if (!e->name) return attn_error("%s: a tensor has no name", path);
    if (strcmp(e->name, "__metadata__") == 0)
        return attn_error("%s: '__metadata__' is reserved and cannot name a tensor", path);
    if ((unsigned)e->dtype >= ATTN_DTYPE_COUNT)
        return attn_error("%s: tensor '%s': invalid dtype %d", path, e->name, (int)e->dtype);
    if (e->ndim < 0 || e->ndim > ATTN_MAX_DIMS)
        return attn_error("%s: tensor '%s': ndim %d is outside 0..%d", path, e->name, e->ndim,
                          ATTN_MAX_DIMS);
    uint64_t n = attn_dtype_size(e->dtype);
    for (int i = 0; i < e->ndim; i++) {
        if (e->shape[i] < 0)
            return attn_error("%s: tensor '%s': shape[%d] is negative", path, e->name, i);
        if (e->shape[i] != 0 && n > (uint64_t)(INT64_MAX / 2) / (uint64_t)e->shape[i])
            return attn_error("%s: tensor '%s': byte size overflows", path, e->name);
        n *= (uint64_t)e->shape[i];
    }
    if (n > 0 && !e->data) return attn_error("%s: tensor '%s': data is NULL", path, e->name);
    *nbytes = (size_t)n;
    return 0;
}

/* Largest element size first, then by name: HF's order, which keeps every tensor aligned
 * to its element size without padding (HF's reader rejects gaps). */
static int cmp_write_order(const void *pa, const void *pb) {
    const attn_st_entry *a = ((const write_item *)pa)->e, *b = ((const write_item *)pb)->e;
    size_t sa = attn_dtype_size(a->dtype), sb = attn_dtype_size(b->dtype);
    if (sa != sb) return sa > sb ? -1 : 1;
    return strcmp(a->name, b->name);
}

static json_t *shape_json(const attn_st_entry *e) {
    json_t *a = json_array();
    for (int i = 0; a && i < e->ndim; i++) json_array_append_new(a, json_integer(e->shape[i]));
    return a;
}

static int add_meta(json_t *root, const char *path, const char *const *keys,
                    const char *const *vals, int n_meta) {
    if (n_meta <= 0) return 0;
    json_t *m = json_object();
    if (!m || json_object_set_new(root, "__metadata__", m) != 0)
        return attn_error("%s: out of memory", path);
    for (int i = 0; i < n_meta; i++) {
        if (!keys[i] || !vals[i]) return attn_error("%s: metadata entry %d is NULL", path, i);
        if (json_object_get(m, keys[i]))
            return attn_error("%s: metadata key '%s' given twice", path, keys[i]);
        if (json_object_set_new(m, keys[i], json_string(vals[i])) != 0)
            return attn_error("%s: metadata '%s': key or value is not valid UTF-8", path, keys[i]);
    }
    return 0;
}

static int add_tensor(json_t *root, const char *path, const write_item *w, size_t *offset) {
    const attn_st_entry *e = w->e;
    if (json_object_get(root, e->name))
        return attn_error("%s: tensor name '%s' given twice", path, e->name);
    json_t *o = json_pack("{s:s, s:o, s:[I,I]}", "dtype", attn_dtype_name(e->dtype), "shape",
                          shape_json(e), "data_offsets", (json_int_t)*offset,
                          (json_int_t)(*offset + w->nbytes));
    if (!o) return attn_error("%s: out of memory", path);
    if (json_object_set_new(root, e->name, o) != 0)
        return attn_error("%s: tensor name '%s' is not valid UTF-8", path, e->name);
    *offset += w->nbytes;
    return 0;
}

/* The JSON header, padded with spaces to a multiple of 8 so the data starts 8-aligned. */
static char *build_header(const char *path, const write_item *items, int n,
                          const char *const *mk, const char *const *mv, int n_meta, size_t *len) {
    json_t *root = json_object();
    size_t offset = 0;
    int rc = root ? add_meta(root, path, mk, mv, n_meta) : attn_error("%s: out of memory", path);
    for (int i = 0; rc == 0 && i < n; i++) rc = add_tensor(root, path, &items[i], &offset);
    char *json = rc == 0 ? json_dumps(root, JSON_COMPACT) : NULL;
    json_decref(root);
    if (!json) {
        if (rc == 0) attn_error("%s: out of memory building the header", path);
        return NULL;
    }
    size_t raw = strlen(json), padded = (raw + 7) / 8 * 8;
    char *out = realloc(json, padded + 1);
    if (!out) {
        free(json);
        attn_error("%s: out of memory", path);
        return NULL;
    }
    memset(out + raw, ' ', padded - raw);
    *len = padded;
    return out;
}

static int write_file(const char *path, const char *header, size_t hlen, const write_item *items,
                      int n) {
    attn_atomic_file *f = attn_atomic_open(path);
    if (!f) return -1;
    uint8_t prefix[8];
    for (int i = 0; i < 8; i++) prefix[i] = (uint8_t)((uint64_t)hlen >> (8 * i));
    int rc = attn_atomic_write(f, prefix, 8);
    if (rc == 0) rc = attn_atomic_write(f, header, hlen);
    for (int i = 0; rc == 0 && i < n; i++)
        if (items[i].nbytes) rc = attn_atomic_write(f, items[i].e->data, items[i].nbytes);
    if (rc != 0) {
        attn_atomic_abort(f);
        return -1;
    }
    return attn_atomic_commit(f);
}

int attn_safetensors_write(const char *path, const attn_st_entry *tensors, int n,
                           const char *const *meta_keys, const char *const *meta_vals, int n_meta) {
    if (!path) return attn_error("safetensors write: no path");
    if (n < 0 || (n > 0 && !tensors) || (n_meta > 0 && (!meta_keys || !meta_vals)))
        return attn_error("%s: invalid tensor or metadata list", path);
    write_item *items = calloc((size_t)n + 1, sizeof *items);
    if (!items) return attn_error("%s: out of memory", path);
    int rc = 0;
    for (int i = 0; rc == 0 && i < n; i++) {
        items[i].e = &tensors[i];
        rc = check_entry(path, &tensors[i], &items[i].nbytes);
    }
    if (rc == 0) qsort(items, (size_t)n, sizeof *items, cmp_write_order);
    size_t hlen = 0;
    char *header = rc == 0 ? build_header(path, items, n, meta_keys, meta_vals, n_meta, &hlen) : NULL;
    rc = header ? write_file(path, header, hlen, items, n) : -1;
    free(header);
    free(items);
    return rc;
}
