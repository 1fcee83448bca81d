/* test_gguf_write.c - the GGUF writer through the reader, on hand-made data (no shared data
 * needed; test_gguf.c copies llama.cpp's own files byte for byte):
 *   - round trips of every value type, arrays of each, nested arrays, a replaced key, and
 *     tensors of several types and ranks at alignments 1, 32, 64 and 4096;
 *   - each writer error (unknown type, partial blocks, duplicate or long names, bad n_dims
 *     or alignment...) fails the call and the write, and leaves no file behind;
 *   - tests/fixtures/gguf (the fuzzer's seeds, also read by test_gguf_bad.c) still come out
 *     of the writer byte for byte; `test_gguf_write --write-fixtures DIR` regenerates them. */
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/common.h"
#include "core/quant.h"
#include "format/gguf.h"
#include "test.h"
#include "gguf_build.h"

static char tmpdir[64];

static const char *tmp_path(const char *name) {
    static char buf[4][256];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", tmpdir, name);
    return buf[k];
}

/* ---- nested arrays: only a reader makes them, so a hand-made source ----------------- */

/* One key, "nested" = [["a", "bc"], [[1, 2, -3]]]. */
static buf_t nested_src(void) {
    buf_t b = {0};
    b_hdr(&b, 3, 0, 1);
    b_str(&b, "nested");
    b_le(&b, ATTN_GGUF_ARR, 4);
    b_le(&b, ATTN_GGUF_ARR, 4), b_le(&b, 2, 8);
    b_le(&b, ATTN_GGUF_STR, 4), b_le(&b, 2, 8), b_str(&b, "a"), b_str(&b, "bc");
    b_le(&b, ATTN_GGUF_ARR, 4), b_le(&b, 1, 8);
    b_le(&b, ATTN_GGUF_I32, 4), b_le(&b, 3, 8), b_le(&b, 1, 4), b_le(&b, 2, 4), b_le(&b, (uint32_t)-3, 4);
    return b;
}

static void check_nested(const attn_gguf *g, const char *what) {
    const attn_gguf_value *a = NULL, *s0, *s1, *inner;
    uint64_t n = 0;
    size_t len = 0;
    attn_gguf_value e = {0}, e0 = {0};
    CHECK(attn_gguf_get_arr(g, "nested", ATTN_GGUF_ARR, &a, &n) == 0 && n == 2, "%s: %s", what,
          attn_last_error());
    s0 = attn_gguf_arr_sub(a, 0), s1 = attn_gguf_arr_sub(a, 1);
    const char *s = attn_gguf_arr_str(s0, 1, &len);
    CHECK(s0 && s0->arr.elem == ATTN_GGUF_STR && s0->arr.n == 2 && s && len == 2 && memcmp(s, "bc", 2) == 0,
          "%s: nested strings", what);
    inner = attn_gguf_arr_sub(s1, 0);
    CHECK(inner && inner->arr.elem == ATTN_GGUF_I32 && inner->arr.n == 3 &&
              attn_gguf_arr_elem(inner, 2, &e) == 0 && e.type == ATTN_GGUF_I32 && e.i == -3,
          "%s: nested ints", what);
    CHECK(attn_gguf_arr_sub(a, 2) == NULL && attn_gguf_arr_str(a, 0, NULL) == NULL &&
              !attn_gguf_arr_data(a) && attn_gguf_arr_elem(a, 2, &e) != 0,
          "%s: out-of-range and wrong-kind element access", what);
    CHECK(attn_gguf_arr_elem(a, 0, &e0) == 0 && e0.type == ATTN_GGUF_ARR && e0.arr.n == 2, "%s: elem 0",
          what);
}

/* ---- writer round trips ------------------------------------------------------------ */

static const uint8_t a_u8[] = {0, 7, 255};
static const int8_t a_i8[] = {-128, 0, 127};
static const uint16_t a_u16[] = {0, 1, 65535};
static const int16_t a_i16[] = {-32768, -1, 32767};
static const uint32_t a_u32[] = {0, 1, 4294967295u};
static const int32_t a_i32[] = {INT32_MIN, -1, INT32_MAX};
static const uint64_t a_u64[] = {0, 1, UINT64_MAX};
static const int64_t a_i64[] = {INT64_MIN, -1, INT64_MAX};
static const float a_f32[] = {0.1f, -0.0f, INFINITY};
static const double a_f64[] = {0.1, -1e300, 5e-324};
static const bool a_bool[] = {true, false, true};
static const struct {
    attn_gguf_type t;
    const void *p;
    const char *key;
} arrays[] = {
    {ATTN_GGUF_U8, a_u8, "a.u8"},    {ATTN_GGUF_I8, a_i8, "a.i8"},      {ATTN_GGUF_U16, a_u16, "a.u16"},
    {ATTN_GGUF_I16, a_i16, "a.i16"}, {ATTN_GGUF_U32, a_u32, "a.u32"},   {ATTN_GGUF_I32, a_i32, "a.i32"},
    {ATTN_GGUF_U64, a_u64, "a.u64"}, {ATTN_GGUF_I64, a_i64, "a.i64"},   {ATTN_GGUF_F32, a_f32, "a.f32"},
    {ATTN_GGUF_F64, a_f64, "a.f64"}, {ATTN_GGUF_BOOL, a_bool, "a.bool"}};

static void set_all_metadata(attn_gguf_writer *w, const attn_gguf *nested) {
    int rc = attn_gguf_set_u32(w, "replaced", 1); /* first set: keeps position 0 */
    rc |= attn_gguf_set_u8(w, "s.u8", 200) | attn_gguf_set_i8(w, "s.i8", -5);
    rc |= attn_gguf_set_u16(w, "s.u16", 65000) | attn_gguf_set_i16(w, "s.i16", -30000);
    rc |= attn_gguf_set_u32(w, "s.u32", 4000000000u) | attn_gguf_set_i32(w, "s.i32", -2000000000);
    rc |= attn_gguf_set_u64(w, "s.u64", (1ull << 60) + 3) | attn_gguf_set_i64(w, "s.i64", -(1ll << 60));
    rc |= attn_gguf_set_f32(w, "s.f32", 0.1f) | attn_gguf_set_f64(w, "s.f64", 0.1);
    rc |= attn_gguf_set_bool(w, "s.true", true) | attn_gguf_set_bool(w, "s.false", false);
    rc |= attn_gguf_set_str(w, "s.str", "hello") | attn_gguf_set_str(w, "s.empty", "");
    rc |= attn_gguf_set_strn(w, "s.nul", "a\0b", 3);
    for (size_t i = 0; i < sizeof arrays / sizeof *arrays; i++)
        rc |= attn_gguf_set_arr(w, arrays[i].key, arrays[i].t, arrays[i].p, 3);
    rc |= attn_gguf_set_arr(w, "a.empty", ATTN_GGUF_U32, NULL, 0);
    const char *strs[] = {"", "x", "h\xc3\xa9llo"};
    rc |= attn_gguf_set_arr_str(w, "a.str", strs, 3);
    rc |= attn_gguf_set_value(w, "nested", attn_gguf_find(nested, "nested"));
    rc |= attn_gguf_set_str(w, "replaced", "now a string");
    CHECK(rc == 0, "setting metadata: %s", attn_last_error());
}

static void check_scalars(const attn_gguf *g, const char *what) {
    uint8_t u8 = 0;
    int8_t i8 = 0;
    uint16_t u16 = 0;
    int16_t i16 = 0;
    uint32_t u32 = 0;
    int32_t i32 = 0;
    uint64_t u64 = 0;
    int64_t i64 = 0, any = 0;
    float f32 = 0;
    double f64 = 0;
    bool t = false, f = true;
    const char *s = NULL, *e = NULL, *z = NULL;
    size_t zl = 0;
    CHECK(attn_gguf_get_u8(g, "s.u8", &u8) == 0 && u8 == 200 && attn_gguf_get_i8(g, "s.i8", &i8) == 0 &&
              i8 == -5,
          "%s: 8-bit", what);
    CHECK(attn_gguf_get_u16(g, "s.u16", &u16) == 0 && u16 == 65000 &&
              attn_gguf_get_i16(g, "s.i16", &i16) == 0 && i16 == -30000,
          "%s: 16-bit", what);
    CHECK(attn_gguf_get_u32(g, "s.u32", &u32) == 0 && u32 == 4000000000u &&
              attn_gguf_get_i32(g, "s.i32", &i32) == 0 && i32 == -2000000000,
          "%s: 32-bit", what);
    CHECK(attn_gguf_get_u64(g, "s.u64", &u64) == 0 && u64 == (1ull << 60) + 3 &&
              attn_gguf_get_i64(g, "s.i64", &i64) == 0 && i64 == -(1ll << 60),
          "%s: 64-bit", what);
    CHECK(attn_gguf_get_f32(g, "s.f32", &f32) == 0 && f32 == 0.1f &&
              attn_gguf_get_f64(g, "s.f64", &f64) == 0 && f64 == 0.1,
          "%s: floats", what);
    CHECK(attn_gguf_get_bool(g, "s.true", &t) == 0 && t && attn_gguf_get_bool(g, "s.false", &f) == 0 && !f,
          "%s: bools", what);
    CHECK(attn_gguf_get_str(g, "s.str", &s, NULL) == 0 && strcmp(s, "hello") == 0 &&
              attn_gguf_get_str(g, "s.empty", &e, NULL) == 0 && *e == 0,
          "%s: strings", what);
    CHECK(attn_gguf_get_str(g, "s.nul", &z, &zl) == 0 && zl == 3 && memcmp(z, "a\0b", 4) == 0,
          "%s: NUL inside", what);
    CHECK(attn_gguf_get_int(g, "s.u16", &any) == 0 && any == 65000 &&
              attn_gguf_get_int(g, "s.i8", &any) == 0 && any == -5,
          "%s: get_int", what);
    CHECK(attn_gguf_get_int(g, "s.str", &any) != 0 && strstr(attn_last_error(), "expected an integer"), "%s",
          what);
    CHECK(attn_gguf_get_f32(g, "s.f64", &f32) != 0 &&
              strstr(attn_last_error(), "'s.f64' is FLOAT64, expected FLOAT32"),
          "%s: %s", what, attn_last_error());
    CHECK(strcmp(attn_gguf_kv_key(g, 0), "replaced") == 0 && attn_gguf_kv_value(g, 0)->type == ATTN_GGUF_STR,
          "%s: a replaced key keeps its place and takes the new value", what);
    CHECK(!attn_gguf_kv_key(g, -1) && !attn_gguf_kv_value(g, attn_gguf_kv_count(g)), "%s: kv out of range",
          what);
}

static void check_arrays(const attn_gguf *g, const char *what) {
    for (size_t i = 0; i < sizeof arrays / sizeof *arrays; i++) {
        const attn_gguf_value *a = NULL;
        uint64_t n = 0;
        CHECK(attn_gguf_get_arr(g, arrays[i].key, arrays[i].t, &a, &n) == 0 && n == 3, "%s: %s", what,
              arrays[i].key);
        size_t es = attn_gguf_type_size(arrays[i].t);
        CHECK(a && memcmp(attn_gguf_arr_data(a), arrays[i].p, 3 * es) == 0, "%s: %s elements", what,
              arrays[i].key);
    }
    const attn_gguf_value *a = NULL;
    uint64_t n = 9;
    attn_gguf_value e;
    CHECK(attn_gguf_get_arr(g, "a.empty", ATTN_GGUF_TYPE_COUNT, &a, &n) == 0 && n == 0, "%s: empty array",
          what);
    CHECK(attn_gguf_get_arr(g, "a.i16", ATTN_GGUF_I16, &a, NULL) == 0 && attn_gguf_arr_elem(a, 0, &e) == 0 &&
              e.i == -32768,
          "%s: i16 element", what);
    CHECK(attn_gguf_get_arr(g, "a.f32", ATTN_GGUF_F32, &a, NULL) == 0 && attn_gguf_arr_elem(a, 2, &e) == 0 &&
              e.f == INFINITY,
          "%s: f32 element", what);
    CHECK(attn_gguf_get_arr(g, "a.str", ATTN_GGUF_STR, &a, &n) == 0 && n == 3, "%s: string array", what);
    size_t len = 9;
    const char *s0 = attn_gguf_arr_str(a, 0, &len);
    CHECK(s0 && len == 0, "%s: empty string element", what);
    const char *s2 = attn_gguf_arr_str(a, 2, &len);
    CHECK(s2 && len == 6 && memcmp(s2, "h\xc3\xa9llo", 6) == 0, "%s: UTF-8 string element", what);
    check_nested(g, what);
}

/* Deterministic tensor payloads shared by the round trip and the fixtures. */
static void fill_bytes(uint8_t *p, size_t n, uint32_t seed) {
    for (size_t i = 0; i < n; i++) p[i] = (uint8_t)((seed = seed * 1103515245u + 12345u) >> 16);
}

static void fill_floats(float *x, size_t n, uint32_t seed) {
    for (size_t i = 0; i < n; i++)
        x[i] = (float)((int)((seed = seed * 1103515245u + 12345u) >> 16 & 0x3ff) - 512) / 256.0f;
}

typedef struct {
    const char *name;
    attn_qtype type;
    int n_dims;
    int64_t ne[4];
    uint8_t data[1024];
} test_tensor;

static test_tensor rt_tensors[] = {
    {"t.f32", ATTN_QT_F32, 2, {3, 2}, {0}},         {"t.f16", ATTN_QT_F16, 1, {5}, {0}},
    {"t.q8_0", ATTN_QT_Q8_0, 2, {64, 2}, {0}},      {"t.q4_K", ATTN_QT_Q4_K, 1, {256}, {0}},
    {"t.bf16", ATTN_QT_BF16, 4, {2, 1, 1, 2}, {0}}, {"t.empty", ATTN_QT_F32, 2, {0, 4}, {0}},
    {"t.q6_K", ATTN_QT_Q6_K, 3, {256, 1, 2}, {0}},
};
enum { N_RT = sizeof rt_tensors / sizeof *rt_tensors };

static size_t tensor_bytes(const test_tensor *t) {
    size_t rows = 1;
    for (int d = 1; d < t->n_dims; d++) rows *= (size_t)t->ne[d];
    return attn_quant_row_bytes(t->type, t->ne[0]) * rows;
}

static void add_rt_tensors(attn_gguf_writer *w) {
    for (int i = 0; i < N_RT; i++) {
        test_tensor *t = &rt_tensors[i];
        fill_bytes(t->data, sizeof t->data, 1000u + (uint32_t)i);
        CHECK(tensor_bytes(t) <= sizeof t->data, "%s too big", t->name);
        const void *data = tensor_bytes(t) ? t->data : NULL;
        CHECK(attn_gguf_add_tensor(w, t->name, t->type, t->n_dims, t->ne, data) == 0, "%s",
              attn_last_error());
    }
}

static void check_rt_tensors(const attn_gguf *g, uint32_t align, const char *what) {
    CHECK(attn_gguf_tensor_count(g) == N_RT, "%s: %d tensors", what, attn_gguf_tensor_count(g));
    for (int i = 0; i < N_RT; i++) {
        const test_tensor *want = &rt_tensors[i];
        const attn_gguf_tensor *t = attn_gguf_find_tensor(g, want->name);
        CHECK(t && t == attn_gguf_tensor_at(g, i), "%s: '%s' missing or out of order", what, want->name);
        if (!t) continue;
        int same = t->type == want->type && t->n_dims == want->n_dims && t->nbytes == tensor_bytes(want);
        for (int d = 0; d < 4; d++) same &= t->ne[d] == (d < want->n_dims ? want->ne[d] : 1);
        CHECK(same, "%s: '%s' info", what, want->name);
        CHECK(t->nbytes == 0 || memcmp(t->data, want->data, t->nbytes) == 0, "%s: '%s' data", what,
              want->name);
        CHECK(t->offset % align == 0 && (t->nbytes == 0 || (uintptr_t)t->data % align == 0),
              "%s: '%s' alignment", what, want->name);
    }
    CHECK(attn_gguf_find_tensor(g, "nope") == NULL && attn_gguf_tensor_at(g, N_RT) == NULL, "%s: missing",
          what);
}

/* Writes everything at alignment `align` (0: leave general.alignment unset), reads it back. */
static void roundtrip_at(uint32_t align, const attn_gguf *nested) {
    char what[64];
    snprintf(what, sizeof what, "round trip (alignment %u)", align);
    attn_gguf_writer *w = attn_gguf_writer_new();
    set_all_metadata(w, nested);
    if (align) attn_gguf_set_u32(w, "general.alignment", align);
    add_rt_tensors(w);
    const char *path = tmp_path("rt.gguf");
    CHECK(attn_gguf_writer_write(w, path) == 0, "%s: %s", what, attn_last_error());
    attn_gguf_writer_free(w);
    attn_gguf *g = attn_gguf_open(path);
    CHECK(g != NULL, "%s: %s", what, attn_last_error());
    if (!g) return;
    uint32_t a = align ? align : 32;
    CHECK(attn_gguf_version(g) == 3 && attn_gguf_alignment(g) == a && attn_gguf_data_offset(g) % a == 0,
          "%s: header", what);
    CHECK(attn_gguf_kv_count(g) == 30 + (align != 0), "%s: %d keys", what, attn_gguf_kv_count(g));
    check_scalars(g, what);
    check_arrays(g, what);
    check_rt_tensors(g, a, what);
    attn_gguf_close(g);
}

static void test_writer_roundtrip(void) {
    buf_t src = nested_src();
    attn_gguf *nested = attn_gguf_parse(src.p, src.len, "nested");
    CHECK(nested != NULL, "%s", attn_last_error());
    if (!nested) return;
    check_nested(nested, "hand-made nested arrays");
    const uint32_t aligns[] = {0, 1, 64, 4096};
    for (size_t i = 0; i < sizeof aligns / sizeof *aligns; i++) roundtrip_at(aligns[i], nested);
    attn_gguf_close(nested);
    free(src.p);
}

/* One failing call, then write: both fail with the same reason and no file appears. */
static void writer_error(int kind, const char *word) {
    attn_gguf_writer *w = attn_gguf_writer_new();
    int64_t ne[4] = {32, 2, 1, 1}, ne33[1] = {33}, neg[2] = {32, -1};
    uint8_t data[256] = {0};
    char longname[80];
    memset(longname, 'n', 64);
    longname[64] = 0;
    attn_gguf_add_tensor(w, "w", ATTN_QT_F32, 2, ne, data);
    int rc = 0;
    switch (kind) {
    case 0: rc = attn_gguf_add_tensor(w, "x", (attn_qtype)4, 2, ne, data); break;
    case 1: rc = attn_gguf_add_tensor(w, "x", ATTN_QT_Q4_0, 1, ne33, data); break;
    case 2: rc = attn_gguf_add_tensor(w, "w", ATTN_QT_F32, 2, ne, data); break;
    case 3: rc = attn_gguf_add_tensor(w, longname, ATTN_QT_F32, 2, ne, data); break;
    case 4: rc = attn_gguf_add_tensor(w, "x", ATTN_QT_F32, 5, ne, data); break;
    case 5: rc = attn_gguf_add_tensor(w, "x", ATTN_QT_F32, 0, ne, data); break;
    case 6: rc = attn_gguf_add_tensor(w, "x", ATTN_QT_F32, 2, neg, data); break;
    case 7: rc = attn_gguf_add_tensor(w, "x", ATTN_QT_F32, 2, ne, NULL); break;
    case 8: rc = attn_gguf_set_arr(w, "k", ATTN_GGUF_STR, data, 1); break;
    case 9: rc = attn_gguf_set_str(w, NULL, "v"); break;
    default: break;
    }
    if (kind <= 9)
        CHECK(rc != 0 && strstr(attn_last_error(), word), "writer error %d: %s", kind, attn_last_error());
    if (kind == 10) attn_gguf_set_u32(w, "general.alignment", 48);
    if (kind == 11) attn_gguf_set_str(w, "general.alignment", "32");
    const char *path = tmp_path("err.gguf");
    CHECK(attn_gguf_writer_write(w, path) != 0 && strstr(attn_last_error(), word),
          "writer error %d: write: %s", kind, attn_last_error());
    CHECK(access(path, F_OK) != 0, "writer error %d left a file", kind);
    attn_gguf_writer_free(w);
}

static void test_writer_errors(void) {
    const char *words[] = {"unknown type 4",
                           "not a multiple of the q4_0 block size 32",
                           "added twice",
                           "longer than 63",
                           "n_dims 5",
                           "n_dims 0",
                           "ne[1] is negative",
                           "data is NULL",
                           "fixed-size element types",
                           "key is NULL",
                           "power-of-two",
                           "power-of-two"};
    for (int k = 0; k < 12; k++) writer_error(k, words[k]);
    attn_gguf_writer *w = attn_gguf_writer_new();
    CHECK(attn_gguf_writer_write(w, "/nonexistent-dir/x.gguf") != 0 &&
              strstr(attn_last_error(), "nonexistent"),
          "unwritable path: %s", attn_last_error());
    attn_gguf_writer_free(w);
    CHECK(attn_gguf_set_u32(NULL, "k", 1) != 0 && attn_gguf_writer_write(NULL, "x") != 0, "NULL writer");
}

/* ---- fixtures: the fuzzer's seed corpus -------------------------------------------- */

static const char *const fixture_names[] = {"all-types.gguf", "tiny-llama.gguf", "vocab-align64.gguf"};

/* Every metadata type (nested arrays too) and one block of every type attn converts. */
static void fixture_all_types(attn_gguf_writer *w, const attn_gguf *nested) {
    set_all_metadata(w, nested);
    static const attn_qtype types[] = {ATTN_QT_F32,  ATTN_QT_F16,  ATTN_QT_BF16, ATTN_QT_Q8_0, ATTN_QT_Q4_0,
                                       ATTN_QT_Q4_1, ATTN_QT_Q5_0, ATTN_QT_Q5_1, ATTN_QT_Q2_K, ATTN_QT_Q3_K,
                                       ATTN_QT_Q4_K, ATTN_QT_Q5_K, ATTN_QT_Q6_K};
    static uint8_t data[13][256];
    for (int i = 0; i < 13; i++) {
        const attn_qtype_info *q = attn_qtype_get((int)types[i]);
        int64_t ne[1] = {q->block == 1 ? 4 : q->block};
        float x[256];
        fill_floats(x, 256, 7u + (uint32_t)i);
        if (q->quant)
            attn_quantize_row(types[i], x, data[i], ne[0]);
        else
            fill_bytes(data[i], 256, 7u + (uint32_t)i);
        char name[32];
        snprintf(name, sizeof name, "t.%s", q->name);
        attn_gguf_add_tensor(w, name, types[i], 1, ne, data[i]);
    }
}

/* A LLaMA-shaped file as llama.cpp's converter names things, 8 tokens, 3 tensors. */
static void fixture_tiny_llama(attn_gguf_writer *w) {
    static const char *tokens[] = {"<unk>", "<s>", "</s>", "<0x0A>", "\xe2\x96\x81the", "a", "b", "c"};
    static const float scores[] = {0, 0, 0, 0, -1, -2, -3, -4};
    static const int32_t types[] = {2, 3, 3, 6, 1, 1, 1, 1};
    attn_gguf_set_str(w, "general.architecture", "llama");
    attn_gguf_set_str(w, "general.name", "fixture");
    attn_gguf_set_u32(w, "llama.block_count", 1);
    attn_gguf_set_u32(w, "llama.context_length", 64);
    attn_gguf_set_u32(w, "llama.embedding_length", 32);
    attn_gguf_set_u32(w, "llama.attention.head_count", 2);
    attn_gguf_set_f32(w, "llama.attention.layer_norm_rms_epsilon", 1e-5f);
    attn_gguf_set_str(w, "tokenizer.ggml.model", "llama");
    attn_gguf_set_arr_str(w, "tokenizer.ggml.tokens", tokens, 8);
    attn_gguf_set_arr(w, "tokenizer.ggml.scores", ATTN_GGUF_F32, scores, 8);
    attn_gguf_set_arr(w, "tokenizer.ggml.token_type", ATTN_GGUF_I32, types, 8);
    attn_gguf_set_u32(w, "tokenizer.ggml.bos_token_id", 1);
    attn_gguf_set_u32(w, "general.file_type", 7);
    static float x[256], norm[32];
    static uint8_t emb[8 * 34], out[8 * 18];
    fill_floats(x, 256, 99);
    fill_floats(norm, 32, 98);
    attn_quantize_row(ATTN_QT_Q8_0, x, emb, 256);
    attn_quantize_row(ATTN_QT_Q4_0, x, out, 256);
    attn_gguf_add_tensor(w, "token_embd.weight", ATTN_QT_Q8_0, 2, (int64_t[]){32, 8}, emb);
    attn_gguf_add_tensor(w, "output_norm.weight", ATTN_QT_F32, 1, (int64_t[]){32}, norm);
    attn_gguf_add_tensor(w, "output.weight", ATTN_QT_Q4_0, 2, (int64_t[]){32, 8}, out);
}

/* Vocab only, alignment 64, GPT-2 style merges. */
static void fixture_vocab(attn_gguf_writer *w) {
    static const char *tokens[] = {"!",
                                   "\"",
                                   "a",
                                   "b",
                                   "ab",
                                   "\xc4\xa0",
                                   "\xc4\xa0"
                                   "ab",
                                   "<|endoftext|>"};
    static const char *merges[] = {"a b", "\xc4\xa0 ab"};
    attn_gguf_set_u32(w, "general.alignment", 64);
    attn_gguf_set_str(w, "general.architecture", "gpt2");
    attn_gguf_set_str(w, "tokenizer.ggml.model", "gpt2");
    attn_gguf_set_str(w, "tokenizer.ggml.pre", "gpt-2");
    attn_gguf_set_arr_str(w, "tokenizer.ggml.tokens", tokens, 8);
    attn_gguf_set_arr_str(w, "tokenizer.ggml.merges", merges, 2);
    attn_gguf_set_bool(w, "tokenizer.ggml.add_bos_token", false);
    attn_gguf_set_i32(w, "tokenizer.ggml.eos_token_id", 7);
}

static int build_fixture(int which, const char *path) {
    buf_t src = nested_src();
    attn_gguf *nested = attn_gguf_parse(src.p, src.len, "nested");
    attn_gguf_writer *w = attn_gguf_writer_new();
    if (which == 0) fixture_all_types(w, nested);
    if (which == 1) fixture_tiny_llama(w);
    if (which == 2) fixture_vocab(w);
    int rc = attn_gguf_writer_write(w, path);
    attn_gguf_writer_free(w);
    attn_gguf_close(nested);
    free(src.p);
    return rc;
}

static int write_fixtures(const char *dir) {
    for (int i = 0; i < 3; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%.4000s/%s", dir, fixture_names[i]);
        if (build_fixture(i, path) != 0) {
            fprintf(stderr, "%s\n", attn_last_error());
            return -1;
        }
        printf("wrote %s\n", path);
    }
    return 0;
}

static void test_fixtures(void) {
    for (int i = 0; i < 3; i++) {
        char committed[256];
        snprintf(committed, sizeof committed, "tests/fixtures/gguf/%s", fixture_names[i]);
        const char *fresh = tmp_path("fixture.gguf");
        CHECK(build_fixture(i, fresh) == 0, "%s", attn_last_error());
        size_t na = 0, nb = 0;
        uint8_t *a = slurp(committed, &na), *b = slurp(fresh, &nb);
        CHECK(a && b && na == nb && memcmp(a, b, na) == 0,
              "%s differs from the writer's output (regenerate: build/tests/test_gguf_write --write-fixtures "
              "tests/fixtures/gguf)",
              committed);
        attn_gguf *g = attn_gguf_open(committed);
        CHECK(g != NULL, "%s", attn_last_error());
        attn_gguf_close(g);
        free(a);
        free(b);
    }
}

int main(int argc, char **argv) {
    if (argc == 3 && strcmp(argv[1], "--write-fixtures") == 0) return write_fixtures(argv[2]) == 0 ? 0 : 1;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/attn_gguf_write_XXXXXX");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    test_writer_roundtrip();
    test_writer_errors();
    test_fixtures();
    const char *left[] = {"rt.gguf", "fixture.gguf"};
    for (int i = 0; i < 2; i++) unlink(tmp_path(left[i]));
    if (rmdir(tmpdir) != 0) CHECK(0, "temp files left in %s", tmpdir);
    return test_finish("test_gguf_write");
}
