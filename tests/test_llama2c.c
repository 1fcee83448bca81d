/* test_llama2c.c - llama2.c checkpoints (run.c's legacy .bin, model/llama2c.c):
 *   - tests/fixtures/llama2c/llama-gqa-tied-f32.bin (tools/make_llama2c_fixture.py from the HF
 *     fixture of the same name: q/k rows permuted back to interleaved pairs, shared classifier)
 *     gives HF's logits (expected.json, full sequence, token by token and greedy) and the same
 *     logits as the safetensors folder, at every position, prefill and token by token;
 *   - a separate classifier (negative vocab_size, wcls at the end) is read from its own place:
 *     the fixture with wcls = 2 x embedding gives exactly twice the logits;
 *   - with ../shared/data: llama.cpp's tiny-llama-f32.gguf written out as a .bin (its q/k rows
 *     are already in run.c's order; tools/make_llama2c_fixture.py on tiny-llama-hf gives the
 *     same tensor bytes) gives the logits of the GGUF and of the HF safetensors; and a random
 *     vocab-32000 model pairs with llama2.c's tokenizer.bin;
 *   - truncated, padded, bad-header and version-1 files fail with one line naming the file, and
 *     a sweep of odd header values never crashes (run under `make SAN=1` too). */
#include <stdint.h>
#include <unistd.h>
#include "core/common.h"
#include "core/threadpool.h"
#include "format/fileio.h"
#include "format/gguf.h"
#include "model_check.h"
#include "tokenizer/bpe.h"

#define FIX_BIN "tests/fixtures/llama2c/llama-gqa-tied-f32.bin"
#define FIX_HF "tests/fixtures/llama/llama-gqa-tied-f32"
#define HEADER 28

static char tmp[64] = "/tmp/attn_llama2c_XXXXXX";

/* ---- helpers ---------------------------------------------------------------------- */

typedef struct {
    unsigned char *p;
    size_t n, cap;
} bytes;

static void put(bytes *b, const void *data, size_t n) {
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2;
        b->p = realloc(b->p, b->cap);
    }
    if (data) memcpy(b->p + b->n, data, n);
    else memset(b->p + b->n, 0, n);
    b->n += n;
}

static void put_header(bytes *b, const int32_t h[7]) { put(b, h, HEADER); } /* x86/arm: little-endian */

static const char *tmp_path(const char *name) {
    static char path[8][256];
    static int next;
    char *p = path[next++ % 8];
    snprintf(p, 256, "%s/%s", tmp, name);
    return p;
}

static void write_file(const char *path, const void *data, size_t n) {
    CHECK(attn_write_file_atomic(path, data, n) == 0, "write %s: %s", path, attn_last_error());
}

static attn_model *load(const char *path) {
    attn_model *m = attn_model_load(path);
    CHECK(m != NULL, "load %s: %s", path, attn_last_error());
    return m;
}

/* Largest |a - scale * b| over every position of `ids`: all logits of one prefill, then the
 * same ids fed token by token through the KV cache. */
static double compare_models(attn_model *a, attn_model *b, const int32_t *ids, int64_t T, float scale) {
    int64_t V = attn_model_get_info(a)->vocab_size;
    float *la = malloc(T * V * sizeof *la), *lb = malloc(T * V * sizeof *lb);
    double worst = 0;
    attn_model_reset(a), attn_model_reset(b);
    CHECK(attn_model_forward(a, ids, T, la, true) == 0 && attn_model_forward(b, ids, T, lb, true) == 0, "prefill: %s",
          attn_last_error());
    for (int64_t i = 0; i < T * V; i++) worst = fmax(worst, fabs(la[i] - scale * lb[i]));
    attn_model_reset(a), attn_model_reset(b);
    for (int64_t t = 0; t < T; t++) {
        CHECK(attn_model_forward(a, ids + t, 1, la, false) == 0 && attn_model_forward(b, ids + t, 1, lb, false) == 0,
              "token %lld: %s", (long long)t, attn_last_error());
        for (int64_t v = 0; v < V; v++) worst = fmax(worst, fabs(la[v] - scale * lb[v]));
    }
    free(la), free(lb);
    return worst;
}

/* The longest prompt of the fixture's expected.json. */
static int64_t fixture_prompt(json_t *exp, int32_t *ids, int64_t cap) {
    json_t *prompts = json_object_get(exp, "prompts"), *best = NULL;
    for (size_t p = 0; p < json_array_size(prompts); p++) {
        json_t *ids_j = json_object_get(json_array_get(prompts, p), "ids");
        if (!best || json_array_size(ids_j) > json_array_size(best)) best = ids_j;
    }
    int64_t T = 0;
    for (; T < (int64_t)json_array_size(best) && T < cap; T++)
        ids[T] = (int32_t)json_integer_value(json_array_get(best, T));
    return T;
}

/* ---- the committed fixture -------------------------------------------------------- */

static void test_fixture(void) {
    attn_model *bin = load(FIX_BIN), *hf = load(FIX_HF);
    json_t *exp = json_load_file(FIX_HF "/expected.json", 0, NULL);
    CHECK(exp != NULL, "expected.json");
    if (!bin || !hf || !exp) goto out;
    const attn_model_info *i = attn_model_get_info(bin), *h = attn_model_get_info(hf);
    CHECK(i->vocab_size == 97 && i->n_layer == 2 && i->n_embd == 32 && i->n_head == 4 && i->n_ctx == 64 &&
              strcmp(i->family, "llama") == 0,
          "info: vocab %lld, %lld layers, embd %lld, %lld heads, ctx %lld, %s", (long long)i->vocab_size,
          (long long)i->n_layer, (long long)i->n_embd, (long long)i->n_head, (long long)i->n_ctx, i->family);
    CHECK(i->n_params == h->n_params && i->weight_bytes == h->weight_bytes, "params %lld vs %lld",
          (long long)i->n_params, (long long)h->n_params);
    double vs_hf_logits = check_all_prompts(bin, exp, "llama2c fixture vs transformers");
    int32_t ids[64];
    int64_t T = fixture_prompt(exp, ids, 64);
    double vs_st = compare_models(bin, hf, ids, T, 1);
    CHECK(vs_st <= TOL, "fixture .bin vs safetensors: max |dlogit| %.3g", vs_st);
    printf("fixture .bin: max |dlogit| %.2e vs transformers, %.2e vs the safetensors (%lld positions)\n", vs_hf_logits,
           vs_st, (long long)T);
out:
    json_decref(exp);
    attn_model_free(bin), attn_model_free(hf);
}

/* The fixture with a separate classifier: vocab_size negated, wcls = 2 x embedding after the
 * RoPE tables. Doubling is exact in floats, so the logits are exactly twice the tied ones. */
static void test_untied(void) {
    size_t n;
    unsigned char *src = (unsigned char *)attn_read_file(FIX_BIN, &n);
    CHECK(src != NULL, "%s", attn_last_error());
    if (!src) return;
    int32_t h[7];
    memcpy(h, src, HEADER);
    int64_t embd = (int64_t)h[5] * h[0];
    bytes b = {0};
    h[5] = -h[5];
    put_header(&b, h);
    put(&b, src + HEADER, n - HEADER);
    float *wcls = malloc(embd * sizeof *wcls);
    memcpy(wcls, src + HEADER, embd * sizeof *wcls);
    for (int64_t i = 0; i < embd; i++) wcls[i] *= 2;
    put(&b, wcls, embd * sizeof *wcls);
    write_file(tmp_path("untied.bin"), b.p, b.n);
    attn_model *tied = load(FIX_BIN), *untied = load(tmp_path("untied.bin"));
    if (tied && untied) {
        int32_t ids[] = {96, 3, 50, 7, 21, 88, 1, 64};
        double d = compare_models(untied, tied, ids, 8, 2);
        CHECK(d <= 1e-5, "untied (wcls = 2 x embedding) vs 2 x tied: max |dlogit| %.3g", d);
        CHECK(attn_model_get_info(untied)->n_params == attn_model_get_info(tied)->n_params + embd, "wcls is counted");
    }
    attn_model_free(tied), attn_model_free(untied);
    free(wcls), free(b.p), free(src);
}

/* ---- llama.cpp's tiny LLaMA as .bin, against its GGUF and HF twins ---------------- */

/* export.py's order from a GGUF f32 file (ggml names), RoPE tables left zero (run.c skips them). */
static int gguf_to_llama2c(const char *gguf_path, const char *out) {
    attn_gguf *g = attn_gguf_open(gguf_path);
    if (!g) return -1;
    int64_t C, F, L, H, KV, ctx;
    if (attn_gguf_get_int(g, "llama.embedding_length", &C) || attn_gguf_get_int(g, "llama.feed_forward_length", &F) ||
        attn_gguf_get_int(g, "llama.block_count", &L) || attn_gguf_get_int(g, "llama.attention.head_count", &H) ||
        attn_gguf_get_int(g, "llama.attention.head_count_kv", &KV) ||
        attn_gguf_get_int(g, "llama.context_length", &ctx)) {
        attn_gguf_close(g);
        return -1;
    }
    const attn_gguf_tensor *emb = attn_gguf_find_tensor(g, "token_embd.weight");
    const attn_gguf_tensor *head = attn_gguf_find_tensor(g, "output.weight");
    const attn_gguf_tensor *norm = attn_gguf_find_tensor(g, "output_norm.weight");
    if (!emb || !norm) {
        attn_gguf_close(g);
        return attn_error("%s: no token_embd or output_norm", gguf_path);
    }
    int32_t h[7] = {(int32_t)C, (int32_t)F, (int32_t)L, (int32_t)H, (int32_t)KV, (int32_t)emb->ne[1], (int32_t)ctx};
    if (head) h[5] = -h[5];
    bytes b = {0};
    put_header(&b, h);
    put(&b, emb->data, emb->nbytes);
    static const char *const per_layer[] = {"attn_norm", "attn_q", "attn_k", "attn_v", "attn_output",
                                            "ffn_norm", "ffn_gate", "ffn_down", "ffn_up"};
    int rc = 0;
    for (size_t k = 0; k < sizeof per_layer / sizeof *per_layer; k++)
        for (int l = 0; l < L; l++) {
            char name[64];
            snprintf(name, sizeof name, "blk.%d.%s.weight", l, per_layer[k]);
            const attn_gguf_tensor *t = attn_gguf_find_tensor(g, name);
            if (!t || t->type != ATTN_QT_F32) rc = attn_error("%s: no F32 %s", gguf_path, name);
            else put(&b, t->data, t->nbytes);
        }
    put(&b, norm->data, norm->nbytes);
    put(&b, NULL, (size_t)ctx * (C / H) * sizeof(float)); /* freq_cis_real and _imag */
    if (head) put(&b, head->data, head->nbytes);
    if (rc == 0) rc = attn_write_file_atomic(out, b.p, b.n);
    free(b.p);
    attn_gguf_close(g);
    return rc;
}

static void test_gguf_twins(const char *data) {
    char gguf[4200], hf_dir[4200];
    snprintf(gguf, sizeof gguf, "%.4000s/llamacpp-ref/tiny-llama-f32.gguf", data);
    snprintf(hf_dir, sizeof hf_dir, "%.4000s/llamacpp-ref/tiny-llama-hf", data);
    if (access(gguf, R_OK) || access(hf_dir, R_OK)) {
        printf("SKIPPED: .bin vs GGUF vs safetensors (no %s)\n", gguf);
        return;
    }
    CHECK(gguf_to_llama2c(gguf, tmp_path("tiny-llama.bin")) == 0, "%s", attn_last_error());
    attn_model *bin = load(tmp_path("tiny-llama.bin")), *gg = load(gguf), *hf = load(hf_dir);
    if (bin && gg && hf) {
        int32_t ids[24];
        uint32_t s = 7;
        ids[0] = 1; /* BOS */
        for (int t = 1; t < 24; t++) ids[t] = (int32_t)((s = s * 1664525u + 1013904223u) >> 23); /* < 512 */
        double vs_gguf = compare_models(bin, gg, ids, 24, 1), vs_hf = compare_models(bin, hf, ids, 24, 1);
        CHECK(vs_gguf <= TOL, "tiny-llama .bin vs GGUF: max |dlogit| %.3g", vs_gguf);
        CHECK(vs_hf <= TOL, "tiny-llama .bin vs safetensors: max |dlogit| %.3g", vs_hf);
        CHECK(attn_model_get_info(bin)->vocab_size == 512, "untied tiny-llama vocab");
        printf("tiny-llama .bin (untied, 24 positions): max |dlogit| %.2e vs GGUF f32, %.2e vs HF safetensors\n",
               vs_gguf, vs_hf);
    }
    attn_model_free(bin), attn_model_free(gg), attn_model_free(hf);
}

/* ---- llama2.c's tokenizer.bin with a vocab-32000 model ---------------------------- */

/* Floats after the header of a file with header h (export.py's layout). */
static int64_t body_floats(const int32_t h[7]) {
    int64_t C = h[0], F = h[1], L = h[2], hd = C / h[3], kv = hd * h[4], V = h[5] < 0 ? -(int64_t)h[5] : h[5];
    return V * C + L * (2 * C + 2 * C * C + 2 * kv * C + 3 * F * C) + C + h[6] * hd + (h[5] < 0 ? V * C : 0);
}

static void test_tokenizer_pairing(const char *data) {
    char tok_path[4200];
    snprintf(tok_path, sizeof tok_path, "%.4000s/llama2c/tokenizer.bin", data ? data : ".");
    if (!data || access(tok_path, R_OK)) {
        printf("SKIPPED: tokenizer.bin pairing (no %s)\n", tok_path);
        return;
    }
    int32_t h[7] = {8, 16, 1, 2, 2, 32000, 16};
    int64_t n = body_floats(h);
    float *w = malloc(n * sizeof *w);
    uint32_t s = 1;
    for (int64_t i = 0; i < n; i++) w[i] = (float)((s = s * 1664525u + 1013904223u) >> 8) / (1 << 24) - 0.5f;
    bytes b = {0};
    put_header(&b, h);
    put(&b, w, n * sizeof *w);
    write_file(tmp_path("stories-tiny.bin"), b.p, b.n);
    attn_model *m = load(tmp_path("stories-tiny.bin"));
    attn_tokenizer *tok = attn_tokenizer_load(tok_path);
    CHECK(tok != NULL, "%s", attn_last_error());
    if (m && tok) {
        CHECK(attn_tokenizer_vocab_size(tok) == attn_model_get_info(m)->vocab_size, "vocab %d vs model %lld",
              attn_tokenizer_vocab_size(tok), (long long)attn_model_get_info(m)->vocab_size);
        int32_t *ids = NULL;
        int T = 0;
        const char *text = "Once upon a time";
        CHECK(attn_tokenizer_encode(tok, text, strlen(text), false, &ids, &T) == 0 && T > 0, "%s", attn_last_error());
        float *logits = malloc(32000 * sizeof *logits);
        CHECK(attn_model_forward(m, ids, T, logits, false) == 0, "%s", attn_last_error());
        bool finite = true;
        for (int v = 0; v < 32000; v++) finite = finite && isfinite(logits[v]);
        CHECK(finite, "logits are finite");
        printf("tokenizer.bin + vocab-32000 .bin: \"%s\" is %d tokens, forward ok\n", text, T);
        free(ids), free(logits);
    }
    attn_tokenizer_free(tok), attn_model_free(m);
    free(w), free(b.p);
}

/* ---- broken files ----------------------------------------------------------------- */

/* Loading fails with one line that names the file and says `words`. */
static void expect_error(const char *name, const void *data, size_t n, const char *words) {
    const char *path = tmp_path(name);
    write_file(path, data, n);
    attn_model *m = attn_model_load(path);
    CHECK(m == NULL, "%s: loaded a broken file", name);
    attn_model_free(m);
    const char *e = attn_last_error();
    CHECK(strstr(e, path) && strstr(e, words) && !strchr(e, '\n'), "%s: error '%s' lacks '%s' (or the path)", name,
          e, words);
}

/* The fixture with header field `field` set to v. */
static void with_field(unsigned char *copy, const unsigned char *src, size_t n, int field, int32_t v) {
    memcpy(copy, src, n);
    memcpy(copy + 4 * field, &v, 4);
}

static void test_broken(void) {
    size_t n;
    unsigned char *src = (unsigned char *)attn_read_file(FIX_BIN, &n);
    CHECK(src != NULL, "%s", attn_last_error());
    if (!src) return;
    unsigned char *c = malloc(n + 8);
    expect_error("empty.bin", "", 0, "too short");
    expect_error("short-header.bin", src, 20, "too short");
    expect_error("header-only.bin", src, HEADER, "truncated");
    expect_error("half.bin", src, n / 2, "truncated");
    expect_error("minus-one-float.bin", src, n - 4, "truncated");
    memcpy(c, src, n), memset(c + n, 0, 8);
    expect_error("padded.bin", c, n + 4, "not a llama2.c checkpoint");
    with_field(c, src, n, 5, -97); /* claims a classifier the file lacks */
    expect_error("no-wcls.bin", c, n, "truncated");
    with_field(c, src, n, 0, 0);
    expect_error("dim0.bin", c, n, "dim is 0");
    with_field(c, src, n, 3, -4);
    expect_error("heads-negative.bin", c, n, "n_heads is -4");
    with_field(c, src, n, 4, 3);
    expect_error("kv3.bin", c, n, "not a multiple of n_kv_heads 3");
    with_field(c, src, n, 3, 5);
    expect_error("heads5.bin", c, n, "n_heads 5");
    with_field(c, src, n, 3, 32); /* head size 1: odd */
    expect_error("odd-head.bin", c, n, "even head size");
    with_field(c, src, n, 5, 0);
    expect_error("vocab0.bin", c, n, "vocab_size is 0");
    with_field(c, src, n, 5, INT32_MIN);
    expect_error("vocab-min.bin", c, n, "vocab_size");
    with_field(c, src, n, 2, INT32_MAX);
    expect_error("layers-max.bin", c, n, "truncated");
    with_field(c, src, n, 6, 1000); /* seq_len moves wcls-less end: size mismatch */
    expect_error("seq-len.bin", c, n, "truncated");
    with_field(c, src, n, 0, 0x616b3432); /* export.py's version 1 header: magic "ak42", version */
    memcpy(c + 4, &(int32_t){1}, 4);
    expect_error("v1.bin", c, n, "version 1 export");
    free(c), free(src);
}

/* Every header field set to odd values: loading succeeds or fails cleanly (ASan watches). */
static void test_header_sweep(void) {
    size_t n;
    unsigned char *src = (unsigned char *)attn_read_file(FIX_BIN, &n), *c = malloc(n);
    if (!src || !c) return;
    int loaded = 0, refused = 0;
    for (int f = 0; f < 7; f++) {
        int32_t orig;
        memcpy(&orig, src + 4 * f, 4);
        const int32_t values[] = {0, 1, 2, -1, 3, 64, 1 << 16, INT32_MAX, INT32_MIN, orig - 1, orig + 1, -orig};
        for (size_t k = 0; k < sizeof values / sizeof *values; k++) {
            with_field(c, src, n, f, values[k]);
            write_file(tmp_path("sweep.bin"), c, n);
            attn_model *m = attn_model_load(tmp_path("sweep.bin"));
            loaded += m != NULL, refused += m == NULL;
            if (!m) CHECK(!strchr(attn_last_error(), '\n'), "one line: %s", attn_last_error());
            attn_model_free(m);
        }
    }
    printf("header sweep: %d loaded, %d refused with one line\n", loaded, refused);
    free(c), free(src);
}

int main(void) {
    if (!mkdtemp(tmp)) TEST_SKIP("cannot make a temporary directory");
    attn_threads_init(1);
    const char *data = test_data_dir();
    test_fixture();
    test_untied();
    test_broken();
    test_header_sweep();
    if (data) test_gguf_twins(data);
    else printf("SKIPPED: .bin vs GGUF vs safetensors (no ../shared/data)\n");
    test_tokenizer_pairing(data);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmp);
    CHECK(system(cmd) == 0, "cleanup");
    return test_finish("test_llama2c");
}
