/* test_model_errors.c - a broken checkpoint or a bad request gives a clear error, never a
 * crash: each case writes a small random GPT-2 with attn's own writer, breaks one thing, and
 * checks that loading (or forwarding) fails with a message naming the problem. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "core/common.h"
#include "format/fileio.h"
#include "format/gguf.h"
#include "format/quantize.h"
#include <attn/generate.h>
#include "model/gpt2_init.h"
#include "model/model.h"
#include "test.h"

static char dir[256];

static void make_model(void) {
    attn_gpt2_config c;
    attn_gpt2_config_defaults(&c);
    c.n_layer = 2, c.n_head = 2, c.n_embd = 16, c.n_ctx = 32, c.vocab = 50;
    CHECK(attn_gpt2_write_random(dir, &c, 3) == 0, "write: %s", attn_last_error());
}

static void write_config(const char *json) {
    char path[300];
    snprintf(path, sizeof path, "%s/config.json", dir);
    CHECK(attn_write_file_atomic(path, json, strlen(json)) == 0, "%s", attn_last_error());
}

static void expect_load_error(const char *what, const char *words) {
    attn_model *m = attn_model_load(dir);
    CHECK(m == NULL, "%s: loaded a broken checkpoint", what);
    if (m) {
        attn_model_free(m);
        return;
    }
    CHECK(strstr(attn_last_error(), words) != NULL, "%s: error '%s' lacks '%s'", what, attn_last_error(), words);
}

static const char *base_cfg =
    "{\"model_type\":\"gpt2\",\"n_layer\":%d,\"n_head\":2,\"n_embd\":%d,\"n_positions\":32,\"vocab_size\":50%s}";

static void config_cases(void) {
    char cfg[512];
    snprintf(cfg, sizeof cfg, base_cfg, 3, 16, "");
    write_config(cfg);
    expect_load_error("a layer missing from the file", "missing tensor 'transformer.h.2.ln_1.weight'");
    snprintf(cfg, sizeof cfg, base_cfg, 2, 32, "");
    write_config(cfg);
    expect_load_error("width that disagrees", "has shape [50, 16] but config.json implies [50, 32]");
    snprintf(cfg, sizeof cfg, base_cfg, 2, 16, ",\"activation_function\":\"relu\"");
    write_config(cfg);
    expect_load_error("unsupported activation", "activation_function \"relu\"");
    snprintf(cfg, sizeof cfg, base_cfg, 2, 15, "");
    write_config(cfg);
    expect_load_error("heads not dividing width", "not divisible");
    snprintf(cfg, sizeof cfg, base_cfg, -1, 16, "");
    write_config(cfg);
    expect_load_error("negative layers", "n_layer");
    write_config("{\"model_type\":\"gpt2\",\"n_layer\":\"2\"}");
    expect_load_error("string where a number belongs", "\"n_layer\" must be an integer");
    write_config("{\"model_type\":\"mamba\"}");
    expect_load_error("unknown architecture", "model_type \"mamba\" is not supported");
    write_config("{\"model_type\":\"gpt2\",");
    expect_load_error("truncated JSON", "invalid JSON");
    write_config("[1,2]");
    expect_load_error("not an object", "JSON object");
}

static void weights_cases(void) {
    char path[300];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    size_t len;
    char *bytes = attn_read_file(path, &len);
    CHECK(bytes != NULL, "read %s", path);
    if (!bytes) return;
    attn_write_file_atomic(path, bytes, len / 2);
    expect_load_error("truncated weights", "model.safetensors");
    unlink(path);
    expect_load_error("missing weights", "model.safetensors");
    free(bytes);
}

static void request_cases(void) {
    make_model();
    attn_model *m = attn_model_load(dir);
    CHECK(m != NULL, "load: %s", attn_last_error());
    if (!m) return;
    float logits[50];
    int32_t bad[2] = {3, 50};
    CHECK(attn_model_forward(m, bad, 2, logits, false) != 0, "token id 50 of vocab 50 accepted");
    CHECK(strstr(attn_last_error(), "outside the vocabulary"), "%s", attn_last_error());
    int32_t neg = -1;
    CHECK(attn_model_forward(m, &neg, 1, logits, false) != 0, "negative token id accepted");
    int32_t many[33] = {0};
    CHECK(attn_model_forward(m, many, 33, logits, false) != 0, "33 tokens in a 32-token context accepted");
    CHECK(strstr(attn_last_error(), "context"), "%s", attn_last_error());
    CHECK(attn_model_n_past(m) == 0, "a failed forward changed the cache position");
    attn_generate_params p;
    attn_generate_defaults(&p);
    attn_generate_result r;
    CHECK(attn_generate(m, NULL, many, 0, &p, &r) != 0, "empty prompt accepted");
    CHECK(attn_generate(m, NULL, many, 33, &p, &r) != 0, "over-long prompt accepted");
    free(r.tokens), free(r.text);
    /* generation that reaches the end of the context stops cleanly */
    p.max_tokens = 100;
    p.sampling.temperature = 0;
    p.ignore_eos = true;
    CHECK(attn_generate(m, NULL, many, 30, &p, &r) == 0, "%s", attn_last_error());
    CHECK(r.n_generated >= 1 && r.n_generated <= 3, "generated %d tokens past a 32-token context", r.n_generated);
    free(r.tokens), free(r.text);
    attn_model_free(m);
}

/* ---- GGUF metadata that parses but lies ------------------------------------------- */

static char gguf_ok[300], gguf_bad[300];

/* One metadata key set again (it keeps its place) or, with type 0, the f32 tensor `key`
 * filled with v, or where there is none such, an extra tensor `key`: a copy of the first.
 * Type ARR: a string array `key` of v made-up tokens. */
typedef struct {
    const char *key;
    attn_gguf_type type;
    double v;
    const char *str; /* for type STRING */
} gguf_edit;

/* gguf_bad: src's metadata and tensors, then the edit. */
static void rewrite(const char *src, gguf_edit e) {
    attn_gguf *g = attn_gguf_open(src);
    attn_gguf_writer *w = attn_gguf_writer_new();
    CHECK(g != NULL, "%s", attn_last_error());
    for (int i = 0; g && i < attn_gguf_kv_count(g); i++)
        attn_gguf_set_value(w, attn_gguf_kv_key(g, i), attn_gguf_kv_value(g, i));
    float *fill = NULL;
    for (int i = 0; g && i < attn_gguf_tensor_count(g); i++) {
        const attn_gguf_tensor *t = attn_gguf_tensor_at(g, i);
        const void *data = t->data;
        if (e.type == 0 && !fill && !strcmp(t->name, e.key) && t->type == ATTN_QT_F32 && (fill = malloc(t->nbytes))) {
            for (int64_t j = 0; j < t->n_elements; j++) fill[j] = (float)e.v;
            data = fill;
        }
        attn_gguf_add_tensor(w, t->name, t->type, t->n_dims, t->ne, data);
    }
    const attn_gguf_tensor *t0 = g && !fill ? attn_gguf_tensor_at(g, 0) : NULL;
    if (e.type == ATTN_GGUF_F32) attn_gguf_set_f32(w, e.key, (float)e.v);
    else if (e.type == ATTN_GGUF_U32) attn_gguf_set_u32(w, e.key, (uint32_t)e.v);
    else if (e.type == ATTN_GGUF_U64) attn_gguf_set_u64(w, e.key, (uint64_t)e.v);
    else if (e.type == ATTN_GGUF_STR) attn_gguf_set_str(w, e.key, e.str);
    else if (e.type == ATTN_GGUF_ARR) {
        static char text[256][16];
        const char *tokens[256];
        for (int i = 0; i < (int)e.v && i < 256; i++) snprintf(text[i], sizeof text[i], "t%d", i), tokens[i] = text[i];
        attn_gguf_set_arr_str(w, e.key, tokens, (uint64_t)e.v);
    } else if (t0) attn_gguf_add_tensor(w, e.key, t0->type, t0->n_dims, t0->ne, t0->data);
    CHECK(attn_gguf_writer_write(w, gguf_bad) == 0, "write %s: %s", gguf_bad, attn_last_error());
    free(fill);
    attn_gguf_writer_free(w);
    attn_gguf_close(g);
}

static void expect_gguf_error(gguf_edit e, const char *words) {
    rewrite(gguf_ok, e);
    attn_model *m = attn_model_load(gguf_bad);
    CHECK(m == NULL, "%s = %g: loaded", e.key, e.v);
    CHECK(m || strstr(attn_last_error(), words), "%s = %g: error '%s' lacks '%s'", e.key, e.v, attn_last_error(),
          words);
    attn_model_free(m);
}

/* An edit the loader must accept (a value that agrees with the rest of the file). */
static void expect_gguf_loads(gguf_edit e) {
    rewrite(gguf_ok, e);
    attn_model *m = attn_model_load(gguf_bad);
    CHECK(m != NULL, "%s = %g: %s", e.key, e.v, attn_last_error());
    attn_model_free(m);
}

/* A file that loads but whose logits would be NaN: the forward fails instead. */
static void expect_forward_error(gguf_edit e) {
    rewrite(gguf_ok, e);
    attn_model *m = attn_model_load(gguf_bad);
    CHECK(m != NULL, "%s: %s", e.key, attn_last_error());
    if (!m) return;
    int32_t ids[2] = {1, 2};
    float *logits = malloc((size_t)attn_model_get_info(m)->vocab_size * 2 * sizeof(float));
    CHECK(attn_model_forward(m, ids, 2, logits, false) != 0, "%s filled with %g: forward succeeded", e.key, e.v);
    CHECK(strstr(attn_last_error(), "logit of nan"), "%s: '%s'", e.key, attn_last_error());
    CHECK(attn_model_forward(m, ids, 2, logits, true) != 0, "%s filled with %g: all logits: succeeded", e.key, e.v);
    free(logits);
    attn_model_free(m);
}

/* The last position's logits of ids 1 2 3 (vocab entries) from the GGUF at path. */
static void last_logits(const char *path, float *out, int64_t vocab) {
    attn_model *m = attn_model_load(path);
    CHECK(m != NULL && attn_model_get_info(m)->vocab_size == vocab, "%s: %s", path, attn_last_error());
    int32_t ids[3] = {1, 2, 3};
    CHECK(m && attn_model_forward(m, ids, 3, out, false) == 0, "%s: %s", path, attn_last_error());
    attn_model_free(m);
}

/* llama.cpp reads a rope scaling factor without a type, or the older rope.scale_linear, as
 * linear scaling: both must give the logits of type "linear" with that factor. */
static void rope_factor_case(void) {
    enum { V = 97 }; /* the fixture's vocabulary */
    float plain[V], want[V], got[V];
    char typed[320];
    snprintf(typed, sizeof typed, "%s/typed.gguf", dir);
    rewrite(gguf_ok, (gguf_edit){"llama.rope.scaling.type", ATTN_GGUF_STR, 0, "linear"});
    CHECK(rename(gguf_bad, typed) == 0, "rename");
    rewrite(typed, (gguf_edit){"llama.rope.scaling.factor", ATTN_GGUF_F32, 4, NULL});
    last_logits(gguf_bad, want, V);
    last_logits(gguf_ok, plain, V);
    CHECK(memcmp(plain, want, sizeof want) != 0, "linear rope scaling by 4 changed nothing");
    const char *keys[] = {"llama.rope.scaling.factor", "llama.rope.scale_linear"};
    for (int i = 0; i < 2; i++) {
        rewrite(gguf_ok, (gguf_edit){keys[i], ATTN_GGUF_F32, 4, NULL});
        last_logits(gguf_bad, got, V);
        CHECK(memcmp(got, want, sizeof want) == 0, "%s = 4 without a type is not linear scaling", keys[i]);
    }
    unlink(typed);
}

/* gguf_ok: the checkpoint folder `src` as an f32 GGUF, which must load. */
static bool make_gguf(const char *src) {
    attn_quant_params p = {.ftype = attn_quant_ftype_find("f32"), .pure = true};
    CHECK(attn_quantize_model(src, gguf_ok, &p, NULL) == 0, "%s: %s", src, attn_last_error());
    attn_model *m = attn_model_load(gguf_ok);
    CHECK(m != NULL, "%s: %s", gguf_ok, attn_last_error());
    attn_model_free(m);
    return m != NULL;
}

static void gguf_cases(void) {
    snprintf(gguf_ok, sizeof gguf_ok, "%s/ok.gguf", dir);
    snprintf(gguf_bad, sizeof gguf_bad, "%s/bad.gguf", dir);
    make_model();
    if (make_gguf(dir)) {
        const char *eps = "gpt2.attention.layer_norm_epsilon";
        expect_gguf_error((gguf_edit){eps, ATTN_GGUF_F32, NAN, NULL}, "layer_norm_epsilon");
        expect_gguf_error((gguf_edit){eps, ATTN_GGUF_F32, -1, NULL}, "layer_norm_epsilon");
        /* sized nothing by it: layers are allocated before their tensors are looked up */
        expect_gguf_error((gguf_edit){"gpt2.block_count", ATTN_GGUF_U32, 4294967295.0, NULL}, "4294967295 layers");
        /* a block past block_count (2) */
        expect_gguf_error((gguf_edit){"blk.2.ffn_up.bias", 0, 0, NULL}, "'blk.2.ffn_up.bias' is not one");
        expect_gguf_error((gguf_edit){"blk.1.ffn_gate.weight", 0, 0, NULL}, "'blk.1.ffn_gate.weight'");
        /* a vocab_size the embedding (50 rows) does not bear out; the matching one loads */
        expect_gguf_error((gguf_edit){"gpt2.vocab_size", ATTN_GGUF_U32, 51, NULL},
                          "metadata 'gpt2.vocab_size' is 51 but token_embd.weight has 50 rows");
        expect_gguf_loads((gguf_edit){"gpt2.vocab_size", ATTN_GGUF_U32, 50, NULL});
        /* an architecture attn has no loader for: the message lists those it has */
        expect_gguf_error((gguf_edit){"general.architecture", ATTN_GGUF_STR, 0, "mamba"},
                          "general.architecture \"mamba\" is not supported (gpt2, llama)");
    }
    if (make_gguf("tests/fixtures/llama/llama-gqa-tied-f32")) {
        const char *eps = "llama.attention.layer_norm_rms_epsilon";
        expect_gguf_error((gguf_edit){eps, ATTN_GGUF_F32, INFINITY, NULL}, "rms_norm_eps");
        expect_gguf_error((gguf_edit){eps, ATTN_GGUF_F32, 1e30, NULL}, "rms_norm_eps");
        expect_gguf_error((gguf_edit){eps, ATTN_GGUF_F32, NAN, NULL}, "rms_norm_eps");
        expect_gguf_error((gguf_edit){"llama.attention.value_length", ATTN_GGUF_U32, 16, NULL}, "value_length 16");
        /* head size 8; 2^32 + 8 is not 8 */
        expect_gguf_error((gguf_edit){"llama.rope.dimension_count", ATTN_GGUF_U64, 4294967304.0, NULL},
                          "dimension_count 4294967304");
        /* a layer past block_count (2) would be skipped: the count is wrong */
        expect_gguf_error((gguf_edit){"blk.2.attn_norm.weight", 0, 0, NULL}, "'blk.2.attn_norm.weight' is not one");
        expect_gguf_error((gguf_edit){"blk.1.attn_output.bias", 0, 0, NULL}, "'blk.1.attn_output.bias'");
        expect_gguf_error((gguf_edit){"blk.0.surprise.weight", 0, 0, NULL}, "'blk.0.surprise.weight'");
        /* a vocab_size the embedding (97 rows) does not bear out; the matching one loads */
        expect_gguf_error((gguf_edit){"llama.vocab_size", ATTN_GGUF_U32, 98, NULL},
                          "metadata 'llama.vocab_size' is 98 but token_embd.weight has 97 rows");
        expect_gguf_error((gguf_edit){"llama.vocab_size", ATTN_GGUF_STR, 0, "97"}, "'llama.vocab_size' is STRING");
        /* the file's llama.vocab_size (97) against a tokenizer of 96 tokens */
        expect_gguf_error((gguf_edit){"tokenizer.ggml.tokens", ATTN_GGUF_ARR, 96, NULL},
                          "metadata 'llama.vocab_size' is 97 but tokenizer.ggml.tokens has 96 tokens");
        expect_gguf_loads((gguf_edit){"llama.vocab_size", ATTN_GGUF_U64, 97, NULL});
        expect_forward_error((gguf_edit){"blk.1.ffn_norm.weight", 0, NAN, NULL});
        rope_factor_case();
    }
    unlink(gguf_ok), unlink(gguf_bad);
}

/* A message that prefixes the one before it (attn_error("%s: %s", file, attn_last_error()))
 * reads its argument before overwriting it. */
static void error_prefix_case(void) {
    attn_error("the vocabulary has no token for byte 0x%02X", 0x46);
    attn_error("%s: %s", "corpus.txt", attn_last_error());
    CHECK(strcmp(attn_last_error(), "corpus.txt: the vocabulary has no token for byte 0x46") == 0, "got '%s'",
          attn_last_error());
}

int main(void) {
    error_prefix_case();
    snprintf(dir, sizeof dir, "/tmp/attn-test-model-%d", (int)getpid());
    make_model();
    config_cases();
    make_model();
    weights_cases();
    request_cases();
    gguf_cases();
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK(system(cmd) == 0, "cleanup");
    return test_finish("test_model_errors");
}
