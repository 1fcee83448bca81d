/* test_safetensors.c - the safetensors reader and writer and the atomic file writer:
 * round trips of every dtype and rank, files made by Hugging Face's own writer
 * (tools/make_safetensors_fixtures.py), one malformed header per validation rule, every
 * truncation and many byte flips of a valid file, and atomic-write failure paths.
 * All comparisons are exact: the bytes written are the bytes read. */
#include <dirent.h>
#include <signal.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "format/fileio.h"
#include "format/safetensors.h"
#include "test.h"

static char tmpdir[64];

static const char *tmp_path(const char *name) {
    static char buf[4][256];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", tmpdir, name);
    return buf[k];
}

/* Temp files left in the test dir: an atomic writer must leave none behind. */
static int count_temp_files(void) {
    DIR *d = opendir(tmpdir);
    int n = 0;
    for (struct dirent *e; d && (e = readdir(d));) n += strstr(e->d_name, ".tmp.") != NULL;
    if (d) closedir(d);
    return n;
}

static int msg_has(const char *word) { return strstr(attn_last_error(), word) != NULL; }

/* ---- in-memory files ------------------------------------------------------------- */

/* A safetensors buffer: length prefix, `json` padded to 8, then data_len bytes 0,1,2... */
static uint8_t *make_buf(const char *json, size_t data_len, size_t *size) {
    size_t jl = strlen(json), hl = (jl + 7) / 8 * 8;
    *size = 8 + hl + data_len;
    uint8_t *b = malloc(*size);
    for (int i = 0; i < 8; i++) b[i] = (uint8_t)((uint64_t)hl >> (8 * i));
    memset(b + 8, ' ', hl);
    memcpy(b + 8, json, jl);
    for (size_t i = 0; i < data_len; i++) b[8 + hl + i] = (uint8_t)i;
    return b;
}

/* The buffer must be rejected with a one-line message naming the file and containing
 * both words (word2 may be NULL). */
static void expect_bad_buf(const uint8_t *b, size_t size, const char *w1, const char *w2, int line) {
    attn_clear_error();
    attn_safetensors *st = attn_safetensors_parse(b, size, "bad.safetensors");
    CHECK(st == NULL, "line %d: accepted a bad file (expected '%s')", line, w1);
    attn_safetensors_close(st);
    const char *m = attn_last_error();
    CHECK(strncmp(m, "bad.safetensors: ", 17) == 0, "line %d: message does not name the file: %s", line, m);
    CHECK(strstr(m, w1) != NULL, "line %d: message lacks '%s': %s", line, w1, m);
    CHECK(!w2 || strstr(m, w2) != NULL, "line %d: message lacks '%s': %s", line, w2, m);
    CHECK(strchr(m, '\n') == NULL, "line %d: message is not one line: %s", line, m);
}

static void expect_bad_json(const char *json, size_t data_len, const char *w1, const char *w2, int line) {
    size_t size;
    uint8_t *b = make_buf(json, data_len, &size);
    expect_bad_buf(b, size, w1, w2, line);
    free(b);
}
#define BAD(json, dlen, w1, w2) expect_bad_json(json, dlen, w1, w2, __LINE__)

static void test_bad_prefix(void) {
    uint8_t b[32] = {0};
    expect_bad_buf(b, 0, "shorter than the 8-byte", NULL, __LINE__);
    expect_bad_buf(b, 7, "7 bytes", NULL, __LINE__);
    expect_bad_buf(b, 16, "header length is 0", NULL, __LINE__);
    uint64_t big = 100000001;
    for (int i = 0; i < 8; i++) b[i] = (uint8_t)(big >> (8 * i));
    expect_bad_buf(b, 32, "exceeds", "limit", __LINE__);
    memset(b, 0xff, 8);
    expect_bad_buf(b, 32, "exceeds", NULL, __LINE__);
    b[0] = 25, memset(b + 1, 0, 7);
    expect_bad_buf(b, 32, "past the end of the file", "size 32", __LINE__);
}

static void test_bad_json(void) {
    BAD("{\"a\":", 0, "not valid JSON", NULL);
    BAD("{abc}", 0, "not valid JSON", NULL);
    BAD("[1,2]", 0, "not a JSON object", NULL);
    BAD("{} x", 0, "not valid JSON", NULL);
    BAD("{\"a\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,99999999999999999999]}}", 4,
        "not valid JSON", NULL);
    BAD("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
        "\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8, "duplicate tensor or metadata name near '\"w\"'", NULL);
}

static void test_bad_entries(void) {
    BAD("{\"a\":5}", 0, "tensor 'a'", "not an object");
    BAD("{\"a\":{\"shape\":[],\"data_offsets\":[0,4]}}", 4, "tensor 'a'", "missing dtype");
    BAD("{\"a\":{\"dtype\":7,\"shape\":[],\"data_offsets\":[0,4]}}", 4, "dtype is an integer", NULL);
    BAD("{\"a\":{\"dtype\":\"Q9\",\"shape\":[],\"data_offsets\":[0,4]}}", 4, "unknown dtype 'Q9'", NULL);
    BAD("{\"a\":{\"dtype\":\"F4\",\"shape\":[2],\"data_offsets\":[0,1]}}", 1, "unsupported dtype F4", "tensor 'a'");
    BAD("{\"a\":{\"dtype\":\"I32\",\"shape\":[],\"data_offsets\":[0,8]}}", 8, "hold 8 bytes", "1 x I32");
}

/* Buffers of dtypes attn does not compute with (GPT-2's BOOL attn.bias masks, F64...) are
 * validated and kept, but hidden from find(): a file holding them still opens. */
static void test_other_dtypes(void) {
    const char *others[] = {"F64", "I64", "I32", "U8", "BOOL", "F8_E4M3", "F8_E5M2"};
    const int sizes[] = {8, 8, 4, 1, 1, 1, 1};
    for (size_t i = 0; i < sizeof others / sizeof *others; i++) {
        char json[300];
        snprintf(json, sizeof json,
                 "{\"a\":{\"dtype\":\"%s\",\"shape\":[2],\"data_offsets\":[0,%d]},"
                 "\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[%d,%d]}}",
                 others[i], 2 * sizes[i], 2 * sizes[i], 2 * sizes[i] + 4);
        size_t hl = strlen(json), total = 8 + hl + 2 * sizes[i] + 4;
        unsigned char *buf = calloc(1, total);
        for (int b = 0; b < 8; b++) buf[b] = (unsigned char)((uint64_t)hl >> (8 * b));
        memcpy(buf + 8, json, hl);
        attn_safetensors *st = attn_safetensors_parse(buf, total, "other.safetensors");
        CHECK(st != NULL, "%s buffer rejected: %s", others[i], attn_last_error());
        if (st) {
            CHECK(attn_safetensors_find(st, "a") == NULL, "find() returned a %s tensor", others[i]);
            const attn_st_tensor *t = attn_safetensors_find_any(st, "a");
            CHECK(t && !t->loadable && strcmp(t->dtype_name, others[i]) == 0, "find_any %s", others[i]);
            CHECK(attn_safetensors_find(st, "w") != NULL, "loadable tensor beside a %s one", others[i]);
            attn_safetensors_close(st);
        }
        free(buf);
    }
}

static void test_bad_shapes(void) {
    BAD("{\"a\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", 4, "tensor 'a'", "missing shape");
    BAD("{\"a\":{\"dtype\":\"F32\",\"shape\":4,\"data_offsets\":[0,4]}}", 4, "shape is an integer", NULL);
    BAD("{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 4, "shape[0] is negative", NULL);
    BAD("{\"a\":{\"dtype\":\"F32\",\"shape\":[1,2.5],\"data_offsets\":[0,4]}}", 4, "shape[1]", "not an integer");
    BAD("{\"a\":{\"dtype\":\"F32\",\"shape\":[\"2\"],\"data_offsets\":[0,4]}}", 4, "shape[0] is a string", NULL);
    BAD("{\"a\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1],\"data_offsets\":[0,4]}}", 4, "5 dims", "at most 4");
    BAD("{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,4],\"data_offsets\":[0,4]}}", 4,
        "tensor 'a'", "overflows");
    BAD("{\"a\":{\"dtype\":\"F32\",\"shape\":[4611686018427387904],\"data_offsets\":[0,4]}}", 4,
        "tensor 'a'", "overflows");
    BAD("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,4]}}", 4, "hold 4 bytes", "needs 8");
    BAD("{\"a\":{\"dtype\":\"BF16\",\"shape\":[2,2],\"data_offsets\":[0,16]}}", 16, "hold 16 bytes", "needs 8 (4 x BF16)");
}

static void test_bad_offsets(void) {
    BAD("{\"a\":{\"dtype\":\"F32\",\"shape\":[]}}", 4, "tensor 'a'", "missing data_offsets");
    BAD("{\"a\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0]}}", 4, "array of 2", NULL);
    BAD("{\"a\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":{}}}", 4, "array of 2", NULL);
    BAD("{\"a\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,\"4\"]}}", 4, "data_offsets[1]", "not an integer");
    BAD("{\"a\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[-4,0]}}", 4, "data_offsets[0] is negative", NULL);
    BAD("{\"a\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[8,4]}}", 8, "[8,4] are reversed", NULL);
    BAD("{\"h.0.attn.c_attn.weight\":{\"dtype\":\"F32\",\"shape\":[100],\"data_offsets\":[0,400]}}", 16,
        "tensor 'h.0.attn.c_attn.weight': data_offsets [0,400] point past the end of the file", "(size 104, data section 16 bytes)");
    BAD("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
        "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12, "overlap", "tensor 'a'");
    BAD("{\"b\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},"
        "\"a\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[4,8]}}", 16, "tensor 'a'", "overlap tensor 'b'");
}

static void test_bad_meta(void) {
    BAD("{\"__metadata__\":[1]}", 0, "__metadata__ is an array", NULL);
    BAD("{\"__metadata__\":\"x\"}", 0, "__metadata__ is a string", NULL);
    BAD("{\"__metadata__\":{\"ok\":\"1\",\"k\":3}}", 0, "__metadata__ 'k' is an integer", NULL);
    BAD("{\"a\\nb\":5}", 0, "tensor 'a?b'", NULL); /* control characters are masked */
}

/* Files that break no rule but are unusual: gaps, misaligned data, empty tensors, extra keys. */
static void test_lenient(void) {
    size_t size;
    uint8_t *b = make_buf("{\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[2,6],\"extra\":1},"
                          "\"e\":{\"dtype\":\"BF16\",\"shape\":[0,5],\"data_offsets\":[3,3]},"
                          "\"y\":{\"dtype\":\"F16\",\"shape\":[1],\"data_offsets\":[10,12]}}", 16, &size);
    attn_safetensors *st = attn_safetensors_parse(b, size, "lenient");
    CHECK(st != NULL, "lenient file rejected: %s", attn_last_error());
    if (st) {
        const attn_st_tensor *x = attn_safetensors_find(st, "x"), *e = attn_safetensors_find(st, "e");
        CHECK(x && ((uintptr_t)x->data % 4) == 2, "misaligned F32 tensor accepted as is");
        CHECK(x && ((const uint8_t *)x->data)[0] == 2, "x data points at offset 2");
        CHECK(e && e->nbytes == 0 && e->ndim == 2 && e->shape[1] == 5, "zero-size tensor");
        CHECK(attn_safetensors_count(st) == 3, "count %d", attn_safetensors_count(st));
        /* file order is by offset */
        CHECK(attn_safetensors_at(st, 0) == x && attn_safetensors_at(st, 1) == e, "file order");
        attn_safetensors_release(st, x->data, x->nbytes); /* no-op for parsed buffers */
    }
    attn_safetensors_close(st);
    /* the same as a file: opened, it is copied so every tensor is aligned, bytes unchanged,
     * and releasing a tensor's pages (which would zero a copy) leaves them */
    FILE *f = fopen(tmp_path("misaligned.safetensors"), "wb");
    if (f) fwrite(b, 1, size, f), fclose(f);
    st = attn_safetensors_open(tmp_path("misaligned.safetensors"));
    CHECK(st != NULL, "misaligned file rejected: %s", attn_last_error());
    for (int i = 0; st && i < attn_safetensors_count(st); i++) {
        const attn_st_tensor *t = attn_safetensors_at(st, i);
        CHECK((uintptr_t)t->data % attn_dtype_size(t->dtype) == 0, "opened %s aligned to its element", t->name);
    }
    const attn_st_tensor *x = st ? attn_safetensors_find(st, "x") : NULL;
    if (x) attn_safetensors_release(st, x->data, x->nbytes);
    CHECK(x && memcmp(x->data, (const uint8_t[]){2, 3, 4, 5}, 4) == 0, "opened x holds bytes 2..5");
    attn_safetensors_close(st);
    free(b);
    b = make_buf("{}", 0, &size);
    st = attn_safetensors_parse(b, size, "empty");
    CHECK(st && attn_safetensors_count(st) == 0 && !attn_safetensors_find(st, "a") &&
              !attn_safetensors_meta(st, "a"), "empty header");
    attn_safetensors_close(st);
    free(b);
}

/* ---- round trip ------------------------------------------------------------------ */

typedef struct {
    const char *name;
    attn_dtype dt;
    int ndim;
    int64_t shape[4];
} spec;

static const spec rt_specs[] = {
    {"s0.f32", ATTN_F32, 0, {0}},           {"v.f16", ATTN_F16, 1, {7}},
    {"m.bf16", ATTN_BF16, 2, {3, 5}},       {"t3.f32", ATTN_F32, 3, {2, 3, 4}},
    {"t4.f16", ATTN_F16, 4, {2, 2, 3, 2}},  {"z.bf16", ATTN_BF16, 2, {0, 4}},
    {"t4.bf16", ATTN_BF16, 4, {1, 2, 1, 3}}, {"odd.f16", ATTN_F16, 1, {3}},
    {"v.f32", ATTN_F32, 1, {5}},            {"s0.bf16", ATTN_BF16, 0, {0}},
};
#define N_RT ((int)(sizeof rt_specs / sizeof *rt_specs))

static int64_t spec_numel(const spec *s) {
    int64_t n = 1;
    for (int i = 0; i < s->ndim; i++) n *= s->shape[i];
    return n;
}

static void fill_entries(attn_st_entry *e, float **bufs) {
    for (int k = 0; k < N_RT; k++) {
        const spec *s = &rt_specs[k];
        int64_t n = spec_numel(s);
        float *f = malloc((size_t)(n + 1) * sizeof *f);
        for (int64_t i = 0; i < n; i++) f[i] = (float)(i * 0.5 - k);
        bufs[k] = malloc((size_t)(n + 1) * 4);
        attn_from_f32(bufs[k], f, s->dt, n);
        free(f);
        e[k] = (attn_st_entry){s->name, s->dt, s->ndim, {0}, n ? bufs[k] : NULL};
        memcpy(e[k].shape, s->shape, sizeof s->shape);
    }
}

static void check_round_trip_file(const char *path, const attn_st_entry *e) {
    attn_safetensors *st = attn_safetensors_open(path);
    CHECK(st != NULL, "open round trip: %s", attn_last_error());
    if (!st) return;
    CHECK(attn_safetensors_count(st) == N_RT, "count %d", attn_safetensors_count(st));
    CHECK(strcmp(attn_safetensors_path(st), path) == 0, "path");
    { /* a range of another shard (here: pages of our own) is not this file's to drop */
        size_t page = (size_t)sysconf(_SC_PAGESIZE);
        uint8_t *other = aligned_alloc(page, 4 * page);
        if (other) {
            memset(other, 7, 4 * page);
            attn_safetensors_release(st, other, 4 * page);
            CHECK(other[0] == 7 && other[4 * page - 1] == 7, "release of a range outside the file left it");
            free(other);
        }
    }
    for (int k = 0; k < N_RT; k++) {
        const attn_st_tensor *t = attn_safetensors_find(st, e[k].name);
        CHECK(t != NULL, "find %s", e[k].name);
        if (!t) continue;
        size_t want = (size_t)spec_numel(&rt_specs[k]) * attn_dtype_size(e[k].dtype);
        CHECK(t->dtype == e[k].dtype && t->ndim == e[k].ndim && t->nbytes == want, "%s header", e[k].name);
        CHECK(memcmp(t->shape, e[k].shape, (size_t)e[k].ndim * 8) == 0, "%s shape", e[k].name);
        CHECK(want == 0 || memcmp(t->data, e[k].data, want) == 0, "%s data", e[k].name);
        CHECK((uintptr_t)t->data % attn_dtype_size(t->dtype) == 0, "%s aligned to its element", e[k].name);
        attn_safetensors_release(st, t->data, t->nbytes);
        CHECK(want == 0 || memcmp(t->data, e[k].data, want) == 0, "%s data after release", e[k].name);
    }
    /* no gaps (HF's reader insists) and file order */
    for (int i = 0; i + 1 < N_RT; i++) {
        const attn_st_tensor *a = attn_safetensors_at(st, i), *b = attn_safetensors_at(st, i + 1);
        CHECK((const uint8_t *)a->data + a->nbytes == b->data, "no gap after %s", a->name);
    }
    CHECK(!attn_safetensors_at(st, -1) && !attn_safetensors_at(st, N_RT), "at out of range");
    CHECK(!attn_safetensors_find(st, "nope") && !attn_safetensors_find(st, ""), "find missing");
    CHECK(attn_safetensors_meta(st, "format") && strcmp(attn_safetensors_meta(st, "format"), "attn") == 0, "meta format");
    CHECK(attn_safetensors_meta(st, "note") && strcmp(attn_safetensors_meta(st, "note"), "caf\xc3\xa9 \"q\"\n") == 0, "meta note");
    CHECK(!attn_safetensors_meta(st, "absent"), "meta absent");
    const char *k0, *v0;
    CHECK(attn_safetensors_meta_count(st) == 2 && attn_safetensors_meta_at(st, 0, &k0, &v0) == 0 &&
              strcmp(k0, "format") == 0 && attn_safetensors_meta_at(st, 2, &k0, &v0) == -1, "meta_at");
    attn_safetensors_close(st);
}

static void check_layout(const char *path, size_t want_data) {
    size_t size;
    uint8_t *b = (uint8_t *)attn_read_file(path, &size);
    CHECK(b != NULL, "read back");
    if (!b) return;
    uint64_t hl = 0;
    for (int i = 7; i >= 0; i--) hl = (hl << 8) | b[i];
    CHECK(hl % 8 == 0, "header padded to 8: %llu", (unsigned long long)hl);
    CHECK(size == 8 + hl + want_data, "file size %zu = 8 + %llu + %zu", size, (unsigned long long)hl, want_data);
    free(b);
}

static void test_round_trip(void) {
    attn_st_entry e[N_RT];
    float *bufs[N_RT];
    fill_entries(e, bufs);
    const char *mk[] = {"format", "note"}, *mv[] = {"attn", "caf\xc3\xa9 \"q\"\n"};
    const char *path = tmp_path("rt.safetensors");
    CHECK(attn_safetensors_write(path, e, N_RT, mk, mv, 2) == 0, "write: %s", attn_last_error());
    size_t total = 0;
    for (int k = 0; k < N_RT; k++) total += (size_t)spec_numel(&rt_specs[k]) * attn_dtype_size(e[k].dtype);
    check_layout(path, total);
    check_round_trip_file(path, e);
    CHECK(count_temp_files() == 0, "temp files left");
    /* an empty file with no tensors and no metadata is valid too */
    const char *p2 = tmp_path("none.safetensors");
    CHECK(attn_safetensors_write(p2, NULL, 0, NULL, NULL, 0) == 0, "write empty: %s", attn_last_error());
    attn_safetensors *st = attn_safetensors_open(p2);
    CHECK(st && attn_safetensors_count(st) == 0, "open empty: %s", attn_last_error());
    attn_safetensors_close(st);
    for (int k = 0; k < N_RT; k++) free(bufs[k]);
}

static void test_write_errors(void) {
    float x[2] = {1, 2};
    attn_st_entry e[2] = {{"a", ATTN_F32, 1, {2}, x}, {"a", ATTN_F32, 1, {1}, x}};
    const char *p = tmp_path("werr.safetensors");
    CHECK(attn_safetensors_write(p, e, 2, NULL, NULL, 0) != 0 && msg_has("'a' given twice"), "%s", attn_last_error());
    e[1].name = "__metadata__";
    CHECK(attn_safetensors_write(p, e, 2, NULL, NULL, 0) != 0 && msg_has("reserved"), "%s", attn_last_error());
    e[1] = (attn_st_entry){"b", ATTN_F32, 5, {1, 1, 1, 1}, x};
    CHECK(attn_safetensors_write(p, e, 2, NULL, NULL, 0) != 0 && msg_has("ndim 5"), "%s", attn_last_error());
    e[1] = (attn_st_entry){"b", ATTN_F32, 1, {-1}, x};
    CHECK(attn_safetensors_write(p, e, 2, NULL, NULL, 0) != 0 && msg_has("negative"), "%s", attn_last_error());
    e[1] = (attn_st_entry){"b", ATTN_F32, 1, {1}, NULL};
    CHECK(attn_safetensors_write(p, e, 2, NULL, NULL, 0) != 0 && msg_has("NULL"), "%s", attn_last_error());
    e[1] = (attn_st_entry){"b\xff", ATTN_F32, 1, {1}, x};
    CHECK(attn_safetensors_write(p, e, 2, NULL, NULL, 0) != 0 && msg_has("UTF-8"), "%s", attn_last_error());
    const char *mk[] = {"k", "k"}, *mv[] = {"1", "2"};
    CHECK(attn_safetensors_write(p, e, 1, mk, mv, 2) != 0 && msg_has("given twice"), "%s", attn_last_error());
    CHECK(access(p, F_OK) != 0, "nothing written on error");
    const char *missing = tmp_path("no/such/dir/m.safetensors");
    CHECK(attn_safetensors_write(missing, e, 1, NULL, NULL, 0) != 0 && msg_has("no/such/dir") &&
              msg_has("No such file or directory"), "%s", attn_last_error());
    CHECK(count_temp_files() == 0, "temp files left");
}

/* Many tensors: lookup must find each by name (and be fast enough not to notice). */
static void test_many(void) {
    enum { N = 3000 };
    static attn_st_entry e[N];
    static char names[N][32];
    uint16_t v[N];
    for (int i = 0; i < N; i++) {
        snprintf(names[i], sizeof names[i], "model.layers.%d.w", (i * 7919) % N);
        v[i] = attn_f32_to_bf16((float)i);
        e[i] = (attn_st_entry){names[i], ATTN_BF16, 1, {1}, &v[i]};
    }
    const char *p = tmp_path("many.safetensors");
    CHECK(attn_safetensors_write(p, e, N, NULL, NULL, 0) == 0, "%s", attn_last_error());
    attn_safetensors *st = attn_safetensors_open(p);
    CHECK(st && attn_safetensors_count(st) == N, "open many: %s", attn_last_error());
    int bad = 0;
    for (int i = 0; st && i < N; i++) {
        const attn_st_tensor *t = attn_safetensors_find(st, names[i]);
        uint16_t got = 0;
        if (t) memcpy(&got, t->data, 2);
        bad += !t || strcmp(t->name, names[i]) != 0 || got != v[i];
    }
    CHECK(bad == 0, "%d lookups wrong", bad);
    CHECK(!st || !attn_safetensors_find(st, "model.layers.3000.w"), "absent name");
    attn_safetensors_close(st);
}

static volatile uint8_t rss_sink; /* keeps page-touching reads from being optimised out */

/* Resident pages of this process, from /proc (0 where unavailable). */
static long rss_pages(void) {
    long size = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f && fscanf(f, "%ld %ld", &size, &resident) != 2) resident = 0;
    if (f) fclose(f);
    return resident;
}

/* release() must really drop a touched tensor from the RSS (that is its whole purpose),
 * and the data must read back intact afterwards. 16 MiB: large against RSS noise. */
static void test_release_rss(void) {
    enum { N = 4 << 20 };
    float *w = malloc((size_t)N * sizeof *w);
    for (int i = 0; i < N; i++) w[i] = (float)(i % 1000);
    attn_st_entry e = {"big", ATTN_F32, 1, {N}, w};
    const char *p = tmp_path("big.safetensors");
    CHECK(attn_safetensors_write(p, &e, 1, NULL, NULL, 0) == 0, "%s", attn_last_error());
    attn_safetensors *st = attn_safetensors_open(p);
    const attn_st_tensor *t = st ? attn_safetensors_find(st, "big") : NULL;
    CHECK(t != NULL, "open big: %s", attn_last_error());
    if (t) {
        for (size_t i = 0; i < t->nbytes; i += 4096) rss_sink ^= ((const uint8_t *)t->data)[i];
        long before = rss_pages();
        attn_safetensors_release(st, t->data, t->nbytes);
        long after = rss_pages(), dropped_kb = (before - after) * (sysconf(_SC_PAGESIZE) / 1024);
        CHECK(before == 0 || dropped_kb > 12 * 1024, "release dropped only %ld KiB", dropped_kb);
        CHECK(memcmp(t->data, w, t->nbytes) == 0, "data intact after release");
    }
    attn_safetensors_close(st);
    free(w);
}

/* ---- HF-made fixtures ------------------------------------------------------------- */

static const char *fixture_dir(void) {
    static const char *cands[] = {"tests/fixtures/safetensors", "../tests/fixtures/safetensors",
                                  "../../tests/fixtures/safetensors"};
    static char buf[256];
    for (size_t i = 0; i < sizeof cands / sizeof *cands; i++) {
        snprintf(buf, sizeof buf, "%s/hf_mixed.safetensors", cands[i]);
        if (access(buf, R_OK) == 0) return cands[i];
    }
    return NULL;
}

static const spec hf_specs[] = { /* tools/make_safetensors_fixtures.py MIXED, same order */
    {"scalar.f32", ATTN_F32, 0, {0}},   {"vec.f16", ATTN_F16, 1, {5}},
    {"mat.bf16", ATTN_BF16, 2, {3, 4}}, {"cube.f32", ATTN_F32, 3, {2, 3, 2}},
    {"h.0.attn.c_attn.weight", ATTN_F16, 4, {2, 1, 3, 2}},
    {"empty.bf16", ATTN_BF16, 2, {0, 3}}, {"odd.bf16", ATTN_BF16, 1, {3}},
};

static void check_hf_tensor(const attn_safetensors *st, int index) {
    const spec *s = &hf_specs[index];
    const attn_st_tensor *t = attn_safetensors_find(st, s->name);
    CHECK(t != NULL, "fixture tensor %s missing", s->name);
    if (!t) return;
    CHECK(t->dtype == s->dt && t->ndim == s->ndim, "%s dtype/ndim", s->name);
    CHECK(memcmp(t->shape, s->shape, (size_t)s->ndim * 8) == 0, "%s shape", s->name);
    int64_t n = spec_numel(s);
    CHECK(t->nbytes == (size_t)n * attn_dtype_size(s->dt), "%s nbytes", s->name);
    float *f = malloc((size_t)(n + 1) * sizeof *f);
    attn_to_f32(f, t->data, t->dtype, n);
    int bad = 0;
    for (int64_t i = 0; i < n; i++) bad += f[i] != (float)((i % 29) * 0.25 - 3.5 * (1 + index));
    CHECK(bad == 0, "%s: %d values differ", s->name, bad);
    free(f);
}

static void test_hf_fixtures(const char *dir) {
    char p[300];
    snprintf(p, sizeof p, "%s/hf_mixed.safetensors", dir);
    attn_safetensors *st = attn_safetensors_open(p);
    CHECK(st != NULL, "open %s: %s", p, attn_last_error());
    if (st) {
        CHECK(attn_safetensors_count(st) == 7, "hf_mixed count %d", attn_safetensors_count(st));
        for (int i = 0; i < 7; i++) check_hf_tensor(st, i);
        const char *fmt = attn_safetensors_meta(st, "format"), *note = attn_safetensors_meta(st, "note");
        CHECK(fmt && strcmp(fmt, "pt") == 0, "meta format");
        CHECK(note && strcmp(note, "attn fixture \xc3\xa9\xe4\xb8\xad") == 0, "meta note");
    }
    attn_safetensors_close(st);
    snprintf(p, sizeof p, "%s/hf_nometa.safetensors", dir);
    st = attn_safetensors_open(p);
    CHECK(st && attn_safetensors_count(st) == 3 && attn_safetensors_meta_count(st) == 0, "hf_nometa: %s", attn_last_error());
    for (int i = 0; st && i < 3; i++) check_hf_tensor(st, i);
    attn_safetensors_close(st);
    snprintf(p, sizeof p, "%s/hf_empty.safetensors", dir);
    st = attn_safetensors_open(p);
    const char *only = st ? attn_safetensors_meta(st, "only") : NULL;
    CHECK(st && attn_safetensors_count(st) == 0 && only && strcmp(only, "metadata") == 0, "hf_empty: %s", attn_last_error());
    attn_safetensors_close(st);
}

/* Every prefix of a valid file must fail cleanly; an exact-size copy each time, so ASan
 * catches any read past the end. */
static void test_truncations(const char *dir) {
    char p[300];
    snprintf(p, sizeof p, "%s/hf_mixed.safetensors", dir);
    size_t size;
    char *full = attn_read_file(p, &size);
    CHECK(full != NULL, "read %s", p);
    if (!full) return;
    int accepted = 0, unnamed = 0;
    for (size_t len = 0; len <= size; len++) {
        char *copy = malloc(len ? len : 1);
        memcpy(copy, full, len);
        attn_safetensors *st = attn_safetensors_parse(copy, len, "cut.safetensors");
        if (st) accepted += len < size ? 1 : 0;
        else unnamed += strncmp(attn_last_error(), "cut.safetensors: ", 17) != 0;
        CHECK(len < size || st, "full copy rejected: %s", attn_last_error());
        attn_safetensors_close(st);
        free(copy);
    }
    CHECK(accepted == 0 && unnamed == 0, "%d truncations accepted, %d unnamed errors", accepted, unnamed);
    /* the same through files and mmap, at a few lengths */
    size_t lens[] = {0, 3, 8, 100, size - 1};
    const char *tp = tmp_path("cut.safetensors");
    for (size_t i = 0; i < sizeof lens / sizeof *lens; i++) {
        CHECK(attn_write_file_atomic(tp, full, lens[i]) == 0, "write cut");
        attn_safetensors *st = attn_safetensors_open(tp);
        CHECK(!st && strstr(attn_last_error(), tp), "cut file of %zu bytes: %s", lens[i], attn_last_error());
        attn_safetensors_close(st);
    }
    free(full);
}

/* Flipping each byte of a valid file may or may not make it invalid; it must never crash
 * (ASan build) and anything accepted must stay inside the buffer. */
static void test_byte_flips(const char *dir) {
    char p[300];
    snprintf(p, sizeof p, "%s/hf_mixed.safetensors", dir);
    size_t size;
    uint8_t *full = (uint8_t *)attn_read_file(p, &size);
    if (!full) return;
    uint8_t *copy = malloc(size);
    int outside = 0;
    for (size_t i = 0; i < size; i++) {
        for (int v = 0; v < 3; v++) {
            memcpy(copy, full, size);
            copy[i] = v == 0 ? (uint8_t)(copy[i] ^ 0x01) : v == 1 ? (uint8_t)(copy[i] + 0x10) : 0;
            attn_safetensors *st = attn_safetensors_parse(copy, size, "flip");
            for (int k = 0; k < attn_safetensors_count(st); k++) {
                const attn_st_tensor *t = attn_safetensors_at(st, k);
                const uint8_t *d = t->data;
                outside += d < copy || d + t->nbytes > copy + size;
            }
            attn_safetensors_close(st);
        }
    }
    CHECK(outside == 0, "%d tensors outside the buffer", outside);
    free(copy);
    free(full);
}

static void test_open_errors(void) {
    attn_safetensors *st = attn_safetensors_open(tmp_path("missing.safetensors"));
    CHECK(!st && msg_has("missing.safetensors: cannot open") && msg_has("No such file"), "%s", attn_last_error());
    st = attn_safetensors_open(tmpdir);
    CHECK(!st && msg_has("not a regular file"), "%s", attn_last_error());
}

/* ---- atomic files ------------------------------------------------------------------ */

static int file_is(const char *path, const char *want) {
    size_t n;
    char *b = attn_read_file(path, &n);
    int ok = b && n == strlen(want) && memcmp(b, want, n) == 0;
    free(b);
    return ok;
}

static void test_atomic_basic(void) {
    const char *p = tmp_path("atomic.txt");
    CHECK(attn_write_file_atomic(p, "old", 3) == 0 && file_is(p, "old"), "first write: %s", attn_last_error());
    struct stat sb;
    CHECK(stat(p, &sb) == 0 && (sb.st_mode & 0777) == 0644, "new file mode %o", sb.st_mode & 0777);
    attn_atomic_file *f = attn_atomic_open(p);
    CHECK(f && count_temp_files() == 1, "temp file exists while writing");
    CHECK(attn_atomic_write(f, "new data", 8) == 0, "write");
    attn_atomic_abort(f);
    CHECK(file_is(p, "old") && count_temp_files() == 0, "abort keeps the old file, removes the temp");
    chmod(p, 0640);
    f = attn_atomic_open(p);
    CHECK(attn_atomic_write(f, "new ", 4) == 0 && attn_atomic_write(f, "data", 4) == 0, "writes");
    CHECK(attn_atomic_write(f, NULL, 0) == 0, "empty write");
    CHECK(file_is(p, "old"), "old file visible until commit");
    CHECK(attn_atomic_commit(f) == 0 && file_is(p, "new data"), "commit: %s", attn_last_error());
    CHECK(stat(p, &sb) == 0 && (sb.st_mode & 0777) == 0640, "mode kept: %o", sb.st_mode & 0777);
    CHECK(count_temp_files() == 0, "no temp after commit");
    attn_atomic_abort(NULL);
    CHECK(attn_atomic_commit(NULL) != 0, "commit NULL");
    /* a device or a folder at the path is refused, not renamed over */
    CHECK(attn_write_file_atomic(tmpdir, "x", 1) != 0 && msg_has("not a regular file"), "a folder: %s", attn_last_error());
    struct stat dev;
    if (stat("/dev/null", &dev) == 0 && S_ISCHR(dev.st_mode))
        CHECK(attn_atomic_open("/dev/null") == NULL && msg_has("/dev/null") && stat("/dev/null", &dev) == 0 &&
                  S_ISCHR(dev.st_mode), "/dev/null left as it is: %s", attn_last_error());
}

/* A write that fails midway (here: over the file size limit, errno EFBIG, standing in for
 * ENOSPC) makes the handle fail; commit then fails too and the old file survives. */
static void test_atomic_failed_write(void) {
    const char *p = tmp_path("atomic2.txt");
    CHECK(attn_write_file_atomic(p, "old", 3) == 0, "setup");
    struct rlimit saved, lim;
    getrlimit(RLIMIT_FSIZE, &saved);
    lim = saved;
    lim.rlim_cur = 1000;
    void (*old_handler)(int) = signal(SIGXFSZ, SIG_IGN);
    CHECK(setrlimit(RLIMIT_FSIZE, &lim) == 0, "setrlimit");
    attn_atomic_file *f = attn_atomic_open(p);
    static char big[4096];
    int w = attn_atomic_write(f, big, sizeof big);
    setrlimit(RLIMIT_FSIZE, &saved);
    signal(SIGXFSZ, old_handler);
    CHECK(w != 0 && msg_has("write to") && msg_has("atomic2.txt"), "write past limit: %s", attn_last_error());
    CHECK(attn_atomic_write(f, "x", 1) != 0, "handle stays failed");
    CHECK(attn_atomic_commit(f) != 0, "commit after a failed write fails");
    CHECK(file_is(p, "old") && count_temp_files() == 0, "old file intact, temp removed");
}

static void test_atomic_missing_dir(void) {
    const char *p = tmp_path("nodir/x.bin");
    CHECK(attn_write_file_atomic(p, "x", 1) != 0, "write into a missing directory");
    CHECK(msg_has("nodir/x.bin") && msg_has("No such file or directory") && msg_has("does the directory exist"),
          "%s", attn_last_error());
    CHECK(attn_atomic_open("") == NULL && msg_has("empty"), "%s", attn_last_error());
    CHECK(attn_atomic_write(NULL, "x", 1) != 0, "write to NULL handle");
}

int main(void) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/attn_st_XXXXXX");
    if (!mkdtemp(tmpdir)) TEST_SKIP("cannot create a temp dir");
    test_bad_prefix();
    test_bad_json();
    test_bad_entries();
    test_other_dtypes();
    test_bad_shapes();
    test_bad_offsets();
    test_bad_meta();
    test_lenient();
    test_round_trip();
    test_write_errors();
    test_many();
    test_release_rss();
    test_open_errors();
    const char *dir = fixture_dir();
    CHECK(dir != NULL, "tests/fixtures/safetensors not found (run from the repo root)");
    if (dir) {
        test_hf_fixtures(dir);
        test_truncations(dir);
        test_byte_flips(dir);
    }
    test_atomic_basic();
    test_atomic_failed_write();
    test_atomic_missing_dir();
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
    return test_finish("test_safetensors");
}
