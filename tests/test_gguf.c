/* test_gguf.c - the GGUF reader, writer and ggml block formats against llama.cpp's own
 * files (skips with 77 when ../shared/data is absent; test_quant.c, test_gguf_write.c
 * and test_gguf_bad.c need none):
 *   - every GGUF in ../shared/data/llamacpp-ref: metadata, tensor infos and raw bytes against
 *     tiny-*-gguf-tensors.json, and every tensor dequantized to exactly llama.cpp's floats
 *     (sha256 of the little-endian f32 array, as the data README computes it);
 *   - re-quantizing tiny-llama-f32.gguf gives byte-identical Q8_0/Q4_0/Q4_1/Q5_0/Q5_1/F16
 *     tensors, and llama.cpp kept exactly the 1-D tensors in F32;
 *   - the vocab-only files in ../shared/data/vocab-tests (counts, architectures, tokens);
 *   - a real file copied key by key and tensor by tensor by the writer, byte for byte;
 *   - a real file truncated at many lengths: a one-line error naming the file each time.
 * Exact comparisons throughout: the formats are bit-defined. */
#include <jansson.h>
#include <stdarg.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/common.h"
#include "core/quant.h"
#include "format/gguf.h"
#include "sha256.h"
#include "test.h"

static char tmpdir[64];

static const char *tmp_path(const char *name) {
    static char buf[4][256];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", tmpdir, name);
    return buf[k];
}

/* A path under the data folder, in one of 4 rotating buffers (vsnprintf: paths of any length
 * are simply cut, which then fails to open with a clear message). */
static const char *data_path(const char *dir, const char *fmt, ...) ATTN_PRINTF(2, 3);
static const char *data_path(const char *dir, const char *fmt, ...) {
    static char buf[4][4096 + 256];
    static int k;
    k = (k + 1) % 4;
    size_t n = (size_t)snprintf(buf[k], 4096, "%.4000s/", dir);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf[k] + n, sizeof buf[k] - n, fmt, ap);
    va_end(ap);
    return buf[k];
}

static uint8_t *slurp(const char *path, size_t *n) {
    uint8_t *p = (uint8_t *)attn_read_file(path, n);
    CHECK(p != NULL, "read %s: %s", path, attn_last_error());
    return p;
}

/* ---- llama.cpp's reference files ---------------------------------------------------- */

typedef struct {
    char type[16];
    int tensors, hash_ok, raw_ok;
} type_tally;

static type_tally tallies[16];

static type_tally *tally_for(const char *type) {
    for (int i = 0; i < 16; i++) {
        if (!tallies[i].type[0]) snprintf(tallies[i].type, sizeof tallies[i].type, "%s", type);
        if (strcmp(tallies[i].type, type) == 0) return &tallies[i];
    }
    return &tallies[15];
}

static int scalar_matches(const attn_gguf_value *v, const json_t *j) {
    switch (v->type) {
    case ATTN_GGUF_STR:
        return json_is_string(j) && json_string_length(j) == v->str.len &&
               memcmp(json_string_value(j), v->str.s, v->str.len) == 0;
    case ATTN_GGUF_BOOL: return json_is_boolean(j) && json_is_true(j) == v->b;
    case ATTN_GGUF_F32: return json_is_number(j) && (float)json_number_value(j) == (float)v->f;
    case ATTN_GGUF_F64: return json_is_number(j) && json_number_value(j) == v->f;
    case ATTN_GGUF_I8:
    case ATTN_GGUF_I16:
    case ATTN_GGUF_I32:
    case ATTN_GGUF_I64: return json_is_integer(j) && json_integer_value(j) == v->i;
    default: return json_is_integer(j) && (uint64_t)json_integer_value(j) == v->u;
    }
}

static void check_metadata(const char *file, const attn_gguf *g, const json_t *meta) {
    CHECK(attn_gguf_kv_count(g) == (int)json_object_size(meta), "%s: %d keys, JSON has %zu", file,
          attn_gguf_kv_count(g), json_object_size(meta));
    const char *key;
    json_t *m;
    json_object_foreach((json_t *)meta, key, m) {
        const attn_gguf_value *v = attn_gguf_find(g, key);
        const char *type = json_string_value(json_object_get(m, "type"));
        CHECK(v && type && strcmp(attn_gguf_type_name(v->type), type) == 0, "%s: '%s' type %s", file, key,
              v ? attn_gguf_type_name(v->type) : "missing");
        if (!v || !type) continue;
        if (v->type != ATTN_GGUF_ARR) {
            CHECK(scalar_matches(v, json_object_get(m, "value")), "%s: '%s' value differs", file, key);
            continue;
        }
        const char *et = json_string_value(json_object_get(m, "elem_type"));
        CHECK(et && strcmp(et, attn_gguf_type_name(v->arr.elem)) == 0, "%s: '%s' element type", file, key);
        CHECK(v->arr.n == (uint64_t)json_integer_value(json_object_get(m, "len")), "%s: '%s' length %llu",
              file, key, (unsigned long long)v->arr.n);
        const json_t *first = json_object_get(m, "first");
        for (size_t i = 0; i < json_array_size(first); i++) {
            attn_gguf_value e;
            CHECK(attn_gguf_arr_elem(v, i, &e) == 0 && scalar_matches(&e, json_array_get(first, i)),
                  "%s: '%s'[%zu] differs", file, key, i);
        }
    }
}

/* Tensor info, raw bytes and dequantized floats against the JSON entry. */
static void check_tensor(const char *file, const attn_gguf *g, int i, const json_t *jt) {
    const attn_gguf_tensor *t = attn_gguf_tensor_at(g, i);
    const char *name = json_string_value(json_object_get(jt, "name"));
    const char *type = json_string_value(json_object_get(jt, "type"));
    if (!t || !name || !type || strcmp(t->name, name) != 0) {
        CHECK(0, "%s: tensor %d is '%s', JSON says '%s'", file, i, t ? t->name : "none", name ? name : "?");
        return;
    }
    CHECK(attn_gguf_find_tensor(g, name) == t, "%s: find '%s'", file, name);
    CHECK(attn_qtype_from_name(type) == (int)t->type, "%s: '%s' type %s vs %s", file, name,
          attn_qtype_name((int)t->type), type);
    const json_t *ne = json_object_get(jt, "ne");
    CHECK((int)json_array_size(ne) == t->n_dims, "%s: '%s' n_dims", file, name);
    for (int d = 0; d < t->n_dims; d++)
        CHECK(json_integer_value(json_array_get(ne, (size_t)d)) == t->ne[d], "%s: '%s' ne[%d]", file, name,
              d);
    CHECK(json_integer_value(json_object_get(jt, "n_elements")) == t->n_elements, "%s: '%s' n_elements", file,
          name);
    CHECK((size_t)json_integer_value(json_object_get(jt, "n_bytes")) == t->nbytes, "%s: '%s' n_bytes", file,
          name);
    CHECK((uint64_t)json_integer_value(json_object_get(jt, "data_offset_in_file")) ==
              attn_gguf_data_offset(g) + t->offset,
          "%s: '%s' offset", file, name);
    type_tally *ty = tally_for(type);
    ty->tensors++;
    char hex[65];
    sha256_of(t->data, t->nbytes, hex);
    int raw_ok = strcmp(hex, json_string_value(json_object_get(jt, "raw_sha256"))) == 0;
    CHECK(raw_ok, "%s: '%s' raw bytes hash differs", file, name);
    float *y = malloc((size_t)t->n_elements * sizeof *y + 4);
    CHECK(attn_gguf_dequantize(g, t, y) == 0, "%s: %s", file, attn_last_error());
    sha256_of(y, (size_t)t->n_elements * 4, hex); /* little-endian host: the bytes are the LE array */
    int ok = strcmp(hex, json_string_value(json_object_get(jt, "dequant_f32_sha256"))) == 0;
    CHECK(ok, "%s: '%s' (%s) dequantized floats differ from llama.cpp's", file, name, type);
    const json_t *f8 = json_object_get(jt, "dequant_first8");
    for (size_t k = 0; k < json_array_size(f8) && (int64_t)k < t->n_elements; k++)
        CHECK((float)json_number_value(json_array_get(f8, k)) == y[k], "%s: '%s'[%zu] = %.9g", file, name, k,
              y[k]);
    ty->hash_ok += ok;
    ty->raw_ok += raw_ok;
    free(y);
}

static void check_ref_file(const char *dir, const char *file, const json_t *e) {
    const char *path = data_path(dir, "llamacpp-ref/%s", file);
    attn_gguf *g = attn_gguf_open(path);
    CHECK(g != NULL, "%s", attn_last_error());
    if (!g) return;
    CHECK((int64_t)attn_gguf_version(g) == json_integer_value(json_object_get(e, "gguf_version")),
          "%s: version", file);
    CHECK((int64_t)attn_gguf_alignment(g) == json_integer_value(json_object_get(e, "alignment")),
          "%s: alignment", file);
    CHECK((int64_t)attn_gguf_data_offset(g) == json_integer_value(json_object_get(e, "tensor_data_start")),
          "%s: data start %llu", file, (unsigned long long)attn_gguf_data_offset(g));
    check_metadata(file, g, json_object_get(e, "metadata"));
    const json_t *ts = json_object_get(e, "tensors");
    CHECK(attn_gguf_tensor_count(g) == (int)json_array_size(ts), "%s: %d tensors", file,
          attn_gguf_tensor_count(g));
    for (int i = 0; i < attn_gguf_tensor_count(g) && i < (int)json_array_size(ts); i++)
        check_tensor(file, g, i, json_array_get(ts, (size_t)i));
    attn_gguf_close(g);
}

static void test_reference_files(const char *dir) {
    const char *jsons[] = {"tiny-llama-gguf-tensors.json", "tiny-gpt2-gguf-tensors.json"};
    int files = 0;
    for (int k = 0; k < 2; k++) {
        const char *path = data_path(dir, "llamacpp-ref/%s", jsons[k]);
        json_error_t err;
        json_t *root = json_load_file(path, 0, &err);
        CHECK(root != NULL, "%s: %s", path, err.text);
        const char *file;
        json_t *e;
        json_object_foreach(root, file, e) {
            check_ref_file(dir, file, e);
            files++;
        }
        json_decref(root);
    }
    CHECK(files == 14, "%d reference files", files);
    printf("dequantization vs llama.cpp's hashes (%d files):\n", files);
    for (int i = 0; i < 16 && tallies[i].type[0]; i++)
        printf("  %-5s %3d tensors: %3d dequantized hashes match, %3d raw hashes match\n", tallies[i].type,
               tallies[i].tensors, tallies[i].hash_ok, tallies[i].raw_ok);
}

/* Quantizes every tensor of the f32 file as llama-quantize did and compares bytes. */
static void requantize_one(const attn_gguf *f32, const char *dir, const char *file, attn_qtype want) {
    const char *path = data_path(dir, "llamacpp-ref/%s", file);
    attn_gguf *g = attn_gguf_open(path);
    CHECK(g != NULL, "%s", attn_last_error());
    if (!g) return;
    int same = 0, quantized = 0, kept = 0;
    long blocks = 0, bad_blocks = 0;
    for (int i = 0; i < attn_gguf_tensor_count(g); i++) {
        const attn_gguf_tensor *t = attn_gguf_tensor_at(g, i), *src = attn_gguf_find_tensor(f32, t->name);
        CHECK(src && src->n_elements == t->n_elements, "%s: '%s' has no f32 source", file, t->name);
        if (!src) continue;
        /* llama-quantize keeps 1-D tensors (norms) in F32 and converts every 2-D one */
        CHECK((t->n_dims == 1) == (t->type == ATTN_QT_F32) && (t->type == ATTN_QT_F32 || t->type == want),
              "%s: '%s' is %s", file, t->name, attn_qtype_name((int)t->type));
        float *x = malloc((size_t)src->n_elements * 4);
        uint8_t *q = malloc(t->nbytes + 1);
        attn_gguf_dequantize(f32, src, x);
        CHECK(attn_quantize_row(t->type, x, q, t->n_elements) == 0, "%s", attn_last_error());
        size_t bs = (size_t)attn_qtype_get((int)t->type)->bytes;
        for (size_t o = 0; t->type != ATTN_QT_F32 && o < t->nbytes; o += bs)
            bad_blocks += memcmp(q + o, (const uint8_t *)t->data + o, bs) != 0, blocks++;
        int eq = memcmp(q, t->data, t->nbytes) == 0;
        CHECK(eq, "%s: '%s' re-quantized to %s differs", file, t->name, attn_qtype_name((int)t->type));
        same += eq;
        quantized += t->type != ATTN_QT_F32;
        kept += t->type == ATTN_QT_F32;
        free(x);
        free(q);
    }
    printf("  %-5s %d quantized + %d kept f32: %d/%d tensors byte-identical, %ld of %ld %s blocks differ\n",
           attn_qtype_name(want), quantized, kept, same, attn_gguf_tensor_count(g), bad_blocks, blocks,
           attn_qtype_name(want));
    attn_gguf_close(g);
}

static void test_requantize(const char *dir) {
    const char *path = data_path(dir, "llamacpp-ref/tiny-llama-f32.gguf");
    attn_gguf *f32 = attn_gguf_open(path);
    CHECK(f32 != NULL, "%s", attn_last_error());
    if (!f32) return;
    printf("re-quantizing tiny-llama-f32.gguf:\n");
    const struct {
        const char *file;
        attn_qtype t;
    } cases[] = {{"tiny-llama-q8_0.gguf", ATTN_QT_Q8_0}, {"tiny-llama-q4_0.gguf", ATTN_QT_Q4_0},
                 {"tiny-llama-q4_1.gguf", ATTN_QT_Q4_1}, {"tiny-llama-q5_0.gguf", ATTN_QT_Q5_0},
                 {"tiny-llama-q5_1.gguf", ATTN_QT_Q5_1}, {"tiny-llama-f16.gguf", ATTN_QT_F16}};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
        requantize_one(f32, dir, cases[i].file, cases[i].t);
    attn_gguf_close(f32);
}

/* A real file copied key by key and tensor by tensor comes out byte for byte the same:
 * the writer lays files out exactly as llama.cpp does. */
static void test_copy_real_file(const char *dir) {
    const char *path = data_path(dir, "llamacpp-ref/tiny-llama-q4_k_m-mix.gguf");
    attn_gguf *g = attn_gguf_open(path);
    CHECK(g != NULL, "%s", attn_last_error());
    if (!g) return;
    attn_gguf_writer *w = attn_gguf_writer_new();
    for (int i = 0; i < attn_gguf_kv_count(g); i++)
        CHECK(attn_gguf_set_value(w, attn_gguf_kv_key(g, i), attn_gguf_kv_value(g, i)) == 0, "%s",
              attn_last_error());
    for (int i = 0; i < attn_gguf_tensor_count(g); i++) {
        const attn_gguf_tensor *t = attn_gguf_tensor_at(g, i);
        CHECK(attn_gguf_add_tensor(w, t->name, t->type, t->n_dims, t->ne, t->data) == 0, "%s",
              attn_last_error());
    }
    const char *out = tmp_path("copy.gguf");
    CHECK(attn_gguf_writer_write(w, out) == 0, "%s", attn_last_error());
    attn_gguf_writer_free(w);
    size_t na, nb;
    uint8_t *a = slurp(path, &na), *b = slurp(out, &nb);
    CHECK(a && b && na == nb && memcmp(a, b, na) == 0, "copy of %s differs (%zu vs %zu bytes)", path, na, nb);
    free(a);
    free(b);
    attn_gguf_close(g);
}

/* ---- vocab-only files -------------------------------------------------------------- */

static void test_vocab_files(const char *dir) {
    static const struct {
        const char *name, *arch, *model, *pre;
        int n_kv;
        uint64_t n_tokens, n_merges;
        int64_t bos;
        uint64_t probe_id;
        const char *probe;
    } v[] = {
        {"baichuan", "baichuan", "llama", NULL, 18, 64000, 0, 1, 1, "<s>"},
        {"bert-bge", "bert", "bert", "bert-bge", 20, 30522, 0, -1, 0, "[PAD]"},
        {"deepseek-coder", "llama", "gpt2", "deepseek-coder", 25, 32256, 31757, 32013, 32013, NULL},
        {"deepseek-llm", "llama", "gpt2", "deepseek-llm", 23, 102400, 99757, 100000, 100000, NULL},
        {"falcon", "falcon", "gpt2", "falcon", 18, 65024, 64784, 11, 11, "<|endoftext|>"},
        {"gpt-2", "gpt2", "gpt2", "gpt-2", 16, 50257, 50000, 50256, 50256, "<|endoftext|>"},
        {"gpt-neox", "gptneox", "gpt2", NULL, 17, 50432, 50009, 0, 0, "<|endoftext|>"},
        {"llama-spm", "llama", "llama", "default", 22, 32000, 0, 1, 1, "<s>"},
        {"mpt", "mpt", "gpt2", "mpt", 17, 50432, 50009, 0, 0, "<|endoftext|>"},
        {"phi-3", "phi3", "llama", "default", 26, 32064, 0, 1, 1, "<s>"},
        {"refact", "refact", "gpt2", "refact", 18, 49216, 48891, 0, 0, "<|endoftext|>"},
        {"starcoder", "starcoder2", "gpt2", "starcoder", 19, 49152, 48872, 0, 0, "<|endoftext|>"},
    };
    for (size_t i = 0; i < sizeof v / sizeof *v; i++) {
        const char *path = data_path(dir, "vocab-tests/ggml-vocab-%s.gguf", v[i].name);
        attn_gguf *g = attn_gguf_open(path);
        CHECK(g != NULL, "%s", attn_last_error());
        if (!g) continue;
        const char *s;
        const attn_gguf_value *a;
        uint64_t n = 0;
        int64_t bos = -1;
        CHECK(attn_gguf_version(g) == 3 && attn_gguf_tensor_count(g) == 0, "%s: version/tensors", v[i].name);
        CHECK(attn_gguf_kv_count(g) == v[i].n_kv, "%s: %d keys", v[i].name, attn_gguf_kv_count(g));
        CHECK(attn_gguf_get_str(g, "general.architecture", &s, NULL) == 0 && strcmp(s, v[i].arch) == 0,
              "%s arch", v[i].name);
        CHECK(attn_gguf_get_str(g, "tokenizer.ggml.model", &s, NULL) == 0 && strcmp(s, v[i].model) == 0,
              "%s model", v[i].name);
        CHECK(v[i].pre ? attn_gguf_get_str(g, "tokenizer.ggml.pre", &s, NULL) == 0 && strcmp(s, v[i].pre) == 0
                       : attn_gguf_find(g, "tokenizer.ggml.pre") == NULL,
              "%s pre", v[i].name);
        CHECK(attn_gguf_get_arr(g, "tokenizer.ggml.tokens", ATTN_GGUF_STR, &a, &n) == 0 && n == v[i].n_tokens,
              "%s: %llu tokens", v[i].name, (unsigned long long)n);
        size_t len = 0;
        const char *tok = attn_gguf_arr_str(a, v[i].probe_id, &len);
        CHECK(tok && (!v[i].probe || (len == strlen(v[i].probe) && memcmp(tok, v[i].probe, len) == 0)),
              "%s: token %llu is '%.*s'", v[i].name, (unsigned long long)v[i].probe_id, (int)len,
              tok ? tok : "");
        CHECK(attn_gguf_arr_str(a, n, &len) == NULL, "%s: token past the end", v[i].name);
        CHECK(attn_gguf_get_arr(g, "tokenizer.ggml.token_type", ATTN_GGUF_I32, &a, &n) == 0 &&
                  n == v[i].n_tokens,
              "%s: token types", v[i].name);
        n = 0;
        if (v[i].n_merges) attn_gguf_get_arr(g, "tokenizer.ggml.merges", ATTN_GGUF_STR, &a, &n);
        CHECK(n == v[i].n_merges, "%s: %llu merges", v[i].name, (unsigned long long)n);
        CHECK(v[i].bos < 0
                  ? attn_gguf_find(g, "tokenizer.ggml.bos_token_id") == NULL
                  : attn_gguf_get_int(g, "tokenizer.ggml.bos_token_id", &bos) == 0 && bos == v[i].bos,
              "%s: bos %lld", v[i].name, (long long)bos);
        uint32_t u;
        CHECK(attn_gguf_get_u32(g, "tokenizer.ggml.model", &u) != 0 &&
                  strstr(attn_last_error(), "'tokenizer.ggml.model' is STRING, expected UINT32"),
              "%s", attn_last_error());
        CHECK(attn_gguf_get_u32(g, "no.such.key", &u) != 0 &&
                  strstr(attn_last_error(), "'no.such.key' is missing"),
              "%s", attn_last_error());
        CHECK(attn_gguf_get_arr(g, "tokenizer.ggml.token_type", ATTN_GGUF_F32, &a, &n) != 0 &&
                  strstr(attn_last_error(), "array of INT32, expected an array of FLOAT32"),
              "%s", attn_last_error());
        attn_gguf_close(g);
    }
    /* llama-spm's scores: FLOAT32 array, read in place */
    const char *path = data_path(dir, "vocab-tests/ggml-vocab-llama-spm.gguf");
    attn_gguf *g = attn_gguf_open(path);
    const attn_gguf_value *a;
    uint64_t n;
    float f = 0;
    if (g && attn_gguf_get_arr(g, "tokenizer.ggml.scores", ATTN_GGUF_F32, &a, &n) == 0)
        memcpy(&f, (const uint8_t *)attn_gguf_arr_data(a) + 4 * 500, 4);
    CHECK(f == -241.0f, "llama-spm score[500] = %g", f);
    attn_gguf_close(g);
}

/* A real file cut at many lengths: every cut before the end of the last tensor is an
 * error naming the file (all of the header region, step 5, then points inside the data). */
static void test_truncated_real(const char *dir) {
    const char *path = data_path(dir, "llamacpp-ref/tiny-llama-q4_k_m-mix.gguf");
    size_t n;
    uint8_t *full = slurp(path, &n);
    attn_gguf *g = full ? attn_gguf_parse(full, n, "full") : NULL;
    CHECK(g != NULL, "%s", attn_last_error());
    if (!g) {
        free(full);
        return;
    }
    uint64_t end = 0;
    for (int i = 0; i < attn_gguf_tensor_count(g); i++) {
        const attn_gguf_tensor *t = attn_gguf_tensor_at(g, i);
        end = ATTN_MAX(end, attn_gguf_data_offset(g) + t->offset + t->nbytes);
    }
    uint64_t head = attn_gguf_data_offset(g);
    attn_gguf_close(g);
    int bad = 0, tried = 0;
    for (uint64_t len = 0; len < end; len += len < head + 64 ? 5 : (end - head) / 97 + 1, tried++) {
        uint8_t *cut = malloc(len + 1); /* an exact-size copy, so ASan sees any overread */
        memcpy(cut, full, len);
        attn_clear_error();
        attn_gguf *t = attn_gguf_parse(cut, len, "cut.gguf");
        const char *m = attn_last_error();
        int ok = !t && strncmp(m, "cut.gguf: ", 10) == 0 && !strchr(m, '\n');
        if (!ok && bad++ < 5) CHECK(ok, "cut at %llu: %s", (unsigned long long)len, t ? "accepted" : m);
        attn_gguf_close(t);
        free(cut);
    }
    CHECK(bad == 0, "%d of %d truncations misbehaved", bad, tried);
    free(full);
}

int main(void) {
    const char *dir = test_data_dir();
    if (!dir || access(data_path(dir, "llamacpp-ref/README.md"), R_OK) != 0)
        TEST_SKIP("../shared/data/llamacpp-ref not found");
    snprintf(tmpdir, sizeof tmpdir, "/tmp/attn_gguf_XXXXXX");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    test_reference_files(dir);
    test_requantize(dir);
    test_copy_real_file(dir);
    test_truncated_real(dir);
    test_vocab_files(dir);
    unlink(tmp_path("copy.gguf"));
    rmdir(tmpdir);
    return test_finish("test_gguf");
}
