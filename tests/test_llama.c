/* test_llama.c - LLaMA-family models (llama, mistral, qwen2) against Hugging Face
 * transformers, on the random checkpoints tools/make_llama_fixtures.py made with HF itself.
 * For every fixture, every SIMD set and 1 and 2 threads: full-sequence logits at every
 * position, the same logits computed token by token through the KV cache, and HF's greedy
 * continuation. Tolerance 1e-4 absolute on logits: float32 sums in another order move them
 * ~2e-6 (each fixture's f64_max_abs_diff), while dropping one feature (rope scaling, biases,
 * rope_theta) moves them by 0.8 or more. Also: the pre-transformers-5 config form (rope_theta
 * + rope_scaling), loading through the shard index, the interleaved rope layout, and
 * broken configs, weights and indexes failing with one clear line. */
#include <dirent.h>
#include <jansson.h>
#include <limits.h>
#include <stdlib.h>
#include <unistd.h>
#include "core/cpu.h"
#include "core/threadpool.h"
#include "format/safetensors.h"
#include "model/llama_config.h"
#include "model/model.h"
#include "nn/rope.h"
#include "model_check.h"
#include "test.h"

#define FIX "tests/fixtures/llama/"

static const char *fixtures[] = {"llama-gqa-tied-f32", "llama-mha-untied-bias-bf16", "llama3-rope-mqa-f16",
                                 "qwen2-bias-f32", "mistral-sharded-f32"};

static json_t *load_expected(const char *name) {
    char path[300];
    snprintf(path, sizeof path, FIX "%s/expected.json", name);
    json_error_t err;
    json_t *exp = json_load_file(path, 0, &err);
    CHECK(exp != NULL, "%s: %s", path, err.text);
    return exp;
}

static void fixture_cases(void) {
    for (size_t f = 0; f < sizeof fixtures / sizeof *fixtures; f++) {
        char dir[256];
        snprintf(dir, sizeof dir, FIX "%s", fixtures[f]);
        json_t *exp = load_expected(fixtures[f]);
        attn_model *m = attn_model_load(dir);
        CHECK(m != NULL, "load %s: %s", dir, attn_last_error());
        double worst = 0;
        char isas[64] = "";
        for (int isa = 0; m && exp && isa < ATTN_ISA_COUNT; isa++) {
            if (!attn_isa_supported((attn_isa)isa)) continue;
            attn_isa_set((attn_isa)isa);
            snprintf(isas + strlen(isas), sizeof isas - strlen(isas), "%s%s", *isas ? "/" : "", attn_isa_name((attn_isa)isa));
            for (int threads = 1; threads <= 2; threads++) {
                attn_threads_init(threads);
                char what[200];
                snprintf(what, sizeof what, "%s %s %dt", fixtures[f], attn_isa_name((attn_isa)isa), threads);
                worst = fmax(worst, check_all_prompts(m, exp, what));
            }
        }
        printf("%-28s max |dlogit| %.2e (full and incremental; %s; 1 and 2 threads)\n", fixtures[f], worst, isas);
        attn_model_free(m);
        json_decref(exp);
    }
    attn_isa_set(attn_isa_best());
    attn_threads_init(1);
}

/* ---- a scratch checkpoint: a fixture's files linked, its config or index patched ------ */

static char tmp[256];

static void clear_tmp(void) {
    DIR *d = opendir(tmp);
    struct dirent *e;
    char path[600];
    while (d && (e = readdir(d)))
        if (e->d_name[0] != '.') snprintf(path, sizeof path, "%s/%s", tmp, e->d_name), unlink(path);
    if (d) closedir(d);
}

/* Sets patch's keys in obj, recursing into objects both have. */
static void merge(json_t *obj, json_t *patch) {
    const char *key;
    json_t *v;
    json_object_foreach(patch, key, v) {
        json_t *old = json_object_get(obj, key);
        if (json_is_object(old) && json_is_object(v)) merge(old, v);
        else json_object_set(obj, key, v);
    }
}

/* Copies file `name` of fixture `from` into tmp with `patch` (JSON text) merged in. */
static void write_patched(const char *from, const char *name, const char *patch) {
    char src[512], dst[512];
    snprintf(src, sizeof src, FIX "%s/%s", from, name);
    snprintf(dst, sizeof dst, "%s/%s", tmp, name);
    json_t *j = json_load_file(src, 0, NULL), *p = json_loads(patch, 0, NULL);
    CHECK(j && p, "patch %s with %s", src, patch);
    if (!j || !p) return;
    merge(j, p);
    unlink(dst);
    CHECK(json_dump_file(j, dst, JSON_INDENT(1)) == 0, "write %s", dst);
    json_decref(j), json_decref(p);
}

/* tmp becomes fixture `from` with its config.json (and index, when index_patch is given)
 * patched; every other file is a link to the fixture's. */
static void make_case(const char *from, const char *cfg_patch, const char *index_patch) {
    clear_tmp();
    char dir[300], abs_dir[PATH_MAX], src[PATH_MAX + 300], dst[600];
    snprintf(dir, sizeof dir, FIX "%s", from);
    CHECK(realpath(dir, abs_dir) != NULL, "realpath %s", dir);
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        snprintf(src, sizeof src, "%s/%s", abs_dir, e->d_name);
        snprintf(dst, sizeof dst, "%s/%s", tmp, e->d_name);
        CHECK(symlink(src, dst) == 0, "symlink %s", dst);
    }
    if (d) closedir(d);
    write_patched(from, "config.json", cfg_patch);
    if (index_patch) write_patched(from, "model.safetensors.index.json", index_patch);
}

static void expect_load_error(const char *what, const char *words) {
    attn_model *m = attn_model_load(tmp);
    CHECK(m == NULL, "%s: loaded a broken checkpoint", what);
    if (m) {
        attn_model_free(m);
        return;
    }
    CHECK(strstr(attn_last_error(), words) != NULL, "%s: error '%s' lacks '%s'", what, attn_last_error(), words);
    CHECK(strchr(attn_last_error(), '\n') == NULL, "%s: error is not one line", what);
}

/* Loads tmp and checks it still reproduces fixture `name`'s logits. */
static void expect_same(const char *what, const char *name) {
    json_t *exp = load_expected(name);
    attn_model *m = attn_model_load(tmp);
    CHECK(m != NULL, "%s: %s", what, attn_last_error());
    if (m && exp) check_all_prompts(m, exp, what);
    attn_model_free(m);
    json_decref(exp);
}

/* ---- cases ---------------------------------------------------------------------------- */

/* Most Hub checkpoints predate transformers 5: top-level rope_theta and rope_scaling with
 * "rope_type" or the older "type". They must mean what rope_parameters means. */
static void legacy_config_cases(void) {
    make_case("llama3-rope-mqa-f16",
              "{\"rope_parameters\": null, \"rope_theta\": 500000.0, \"rope_scaling\": {\"rope_type\": \"llama3\", "
              "\"factor\": 8.0, \"low_freq_factor\": 1.0, \"high_freq_factor\": 4.0, "
              "\"original_max_position_embeddings\": 64}}",
              NULL);
    expect_same("llama3 rope_scaling (legacy form)", "llama3-rope-mqa-f16");
    make_case("mistral-sharded-f32",
              "{\"rope_parameters\": null, \"rope_theta\": 10000.0, \"rope_scaling\": {\"type\": \"linear\", "
              "\"factor\": 2.0}}",
              NULL);
    expect_same("linear rope_scaling (legacy \"type\")", "mistral-sharded-f32");
    make_case("qwen2-bias-f32", "{\"rope_parameters\": null, \"rope_theta\": 1000000.0}", NULL);
    expect_same("top-level rope_theta", "qwen2-bias-f32");
}

/* A bare LlamaModel (or a converter) saves the names without "model.": rewrite the tied
 * fixture that way and it must still load and agree. */
static void bare_names_case(void) {
    make_case("llama-gqa-tied-f32", "{}", NULL);
    attn_safetensors *st = attn_safetensors_open(FIX "llama-gqa-tied-f32/model.safetensors");
    CHECK(st != NULL, "%s", attn_last_error());
    if (!st) return;
    int n = attn_safetensors_count(st);
    attn_st_entry *e = calloc((size_t)n, sizeof *e);
    for (int i = 0; i < n; i++) {
        const attn_st_tensor *t = attn_safetensors_at(st, i);
        e[i] = (attn_st_entry){.name = strncmp(t->name, "model.", 6) ? t->name : t->name + 6, .dtype = t->dtype,
                               .ndim = t->ndim, .data = t->data};
        memcpy(e[i].shape, t->shape, sizeof e[i].shape);
    }
    char path[400];
    snprintf(path, sizeof path, "%s/model.safetensors", tmp);
    unlink(path);
    CHECK(attn_safetensors_write(path, e, n, NULL, NULL, 0) == 0, "%s", attn_last_error());
    free(e);
    attn_safetensors_close(st);
    expect_same("names without model.", "llama-gqa-tied-f32");
}

static void index_and_info_cases(void) {
    attn_model *m = attn_model_load(FIX "mistral-sharded-f32/model.safetensors.index.json");
    CHECK(m != NULL, "load through the index file: %s", attn_last_error());
    if (m) {
        const attn_model_info *info = attn_model_get_info(m);
        CHECK(strcmp(info->family, "mistral") == 0, "family %s", info->family);
        CHECK(info->n_params == 24800, "n_params %lld (the index says 24800)", (long long)info->n_params);
        CHECK(info->weight_bytes == 99200, "weight_bytes %zu (the index says 99200)", info->weight_bytes);
        size_t table = (size_t)(info->vocab_size * info->n_embd) * sizeof(float); /* untied: read a row a step */
        CHECK(info->decode_bytes == info->weight_bytes - table, "decode_bytes %zu, not %zu less the embedding table",
              info->decode_bytes, info->weight_bytes);
        CHECK(info->n_ctx == 48, "n_ctx %lld: the cache stops at the sliding window (48)", (long long)info->n_ctx);
        attn_model *tied = attn_model_load(FIX "llama-gqa-tied-f32");
        CHECK(tied && attn_model_get_info(tied)->decode_bytes == attn_model_get_info(tied)->weight_bytes,
              "a tied table is read whole each step (it is the head)");
        attn_model_free(tied);
        json_t *exp = load_expected("mistral-sharded-f32");
        if (exp) check_all_prompts(m, exp, "mistral through its index");
        json_decref(exp);
        attn_model_free(m);
    }
    m = attn_model_load(FIX "llama3-rope-mqa-f16");
    if (m) {
        const attn_model_info *info = attn_model_get_info(m);
        CHECK(info->dtype == ATTN_F16 && strcmp(info->family, "llama") == 0, "llama3 fixture info");
        int32_t ids[49] = {0};
        CHECK(attn_model_forward(m, ids, 49, NULL, false) == 0, "49 positions: %s", attn_last_error());
        CHECK(attn_model_forward(m, ids, 16, NULL, false) != 0, "context overflow accepted");
        attn_model_free(m);
    }
}

/* llama.cpp's converter permutes each head's q/k rows so that dimension pairs (j, j+hd/2)
 * become (2j, 2j+1): interleaved rope on the permuted vector must equal NeoX rope on the
 * original, permuted. */
static void rope_layout_cases(void) {
    enum { H = 3, HD = 12, T = 5, HALF = HD / 2 };
    attn_rope_params p = {.dim = HD, .theta = 10000.0, .layout = ATTN_ROPE_NEOX, .factor = 1};
    CHECK(attn_rope_check(&p, "rope") == 0, "%s", attn_last_error());
    float inv[HALF], cs[T * HALF], sn[T * HALF], x[T][H * HD], y[T][H * HD];
    attn_rope_inv_freq(inv, &p);
    attn_rope_table(cs, sn, inv, HD, 7, T);
    for (int t = 0; t < T; t++)
        for (int i = 0; i < H * HD; i++) x[t][i] = sinf(1.7f * (float)(t * H * HD + i)) + 0.1f * (float)i;
    for (int t = 0; t < T; t++)
        for (int h = 0; h < H; h++)
            for (int j = 0; j < HALF; j++)
                y[t][h * HD + 2 * j] = x[t][h * HD + j], y[t][h * HD + 2 * j + 1] = x[t][h * HD + j + HALF];
    attn_rope_apply(&x[0][0], H * HD, T, H, HD, cs, sn, HD, ATTN_ROPE_NEOX);
    attn_rope_apply(&y[0][0], H * HD, T, H, HD, cs, sn, HD, ATTN_ROPE_INTERLEAVED);
    double worst = 0;
    for (int t = 0; t < T; t++)
        for (int h = 0; h < H; h++)
            for (int j = 0; j < HALF; j++)
                worst = fmax(worst, fmax(fabs(y[t][h * HD + 2 * j] - x[t][h * HD + j]),
                                         fabs(y[t][h * HD + 2 * j + 1] - x[t][h * HD + j + HALF])));
    CHECK(worst == 0, "interleaved rope of the permuted vector differs from NeoX rope by %g", worst);
    CHECK(fabs(cs[0] - cos(7.0)) < 1e-6 && fabs(sn[HALF + 1] - sin(8.0 * pow(10000.0, -2.0 / HD))) < 1e-6,
          "rope table angles");
}

/* Distance in units in the last place between two positive floats. */
static int64_t ulps(float a, float b) {
    int32_t ia, ib;
    memcpy(&ia, &a, 4), memcpy(&ib, &b, 4);
    return ia > ib ? (int64_t)ia - ib : (int64_t)ib - ia;
}

/* Rotary frequencies of real configurations (read through config.json) against HF's, to
 * the bit: at position 1000 one ulp moves logits by ~1e-4. HF takes the power with torch's
 * vectorized pow, which is off by an ulp now and then; a formula in double precision
 * differs in a third of the values, so "almost all exact" tells the two apart. */
static void rope_freq_cases(void) {
    json_t *root = json_load_file(FIX "rope_freqs.json", 0, NULL), *cases = json_object_get(root, "cases");
    CHECK(json_array_size(cases) > 0, "no cases in " FIX "rope_freqs.json");
    int64_t total = 0, exact = 0, worst = 0;
    for (size_t i = 0; i < json_array_size(cases); i++) {
        json_t *cs = json_array_get(cases, i), *want = json_object_get(cs, "inv_freq");
        int64_t hd = json_integer_value(json_object_get(cs, "head_dim"));
        json_t *cfg = json_pack("{s:s, s:i, s:I, s:i, s:i, s:i, s:I, s:i, s:O}", "model_type", "llama", "vocab_size", 10,
                                "hidden_size", (json_int_t)(4 * hd), "intermediate_size", 8, "num_hidden_layers", 1,
                                "num_attention_heads", 4, "head_dim", (json_int_t)hd, "max_position_embeddings",
                                131072, "rope_parameters", json_object_get(cs, "rope_parameters"));
        char path[300];
        snprintf(path, sizeof path, "%s/config.json", tmp);
        json_dump_file(cfg, path, 0);
        json_decref(cfg);
        attn_llama_config c;
        CHECK(attn_llama_config_read(path, &c) == 0, "rope case %zu: %s", i, attn_last_error());
        float inv[2048];
        if ((int64_t)json_array_size(want) != hd / 2 || hd / 2 > 2048 || c.rope.dim != hd) continue;
        attn_rope_inv_freq(inv, &c.rope);
        for (int64_t k = 0; k < hd / 2; k++) {
            float w = (float)json_real_value(json_array_get(want, k));
            worst = ATTN_MAX(worst, ulps(inv[k], w));
            exact += inv[k] == w, total++;
        }
    }
    CHECK(worst <= 1 && exact * 100 >= total * 97, "rope frequencies: %lld of %lld equal HF's, worst %lld ulp",
          (long long)exact, (long long)total, (long long)worst);
    printf("rope frequencies: %lld of %lld bit-equal to HF's (worst %lld ulp)\n", (long long)exact,
           (long long)total, (long long)worst);
    json_decref(root);
}

static void config_error_cases(void) {
    static const char *cases[][3] = {
        {"missing width", "{\"hidden_size\": null}", "\"hidden_size\" is missing"},
        {"kv heads not dividing heads", "{\"num_key_value_heads\": 3}", "not a multiple of num_key_value_heads 3"},
        {"yarn rope", "{\"rope_parameters\": {\"rope_type\": \"yarn\", \"factor\": 4.0}}",
         "rope scaling type \"yarn\" is not supported"},
        {"dynamic rope (legacy)", "{\"rope_parameters\": null, \"rope_scaling\": {\"type\": \"dynamic\", \"factor\": 2}}",
         "rope scaling type \"dynamic\" is not supported"},
        {"llama3 without low_freq_factor",
         "{\"rope_parameters\": {\"rope_type\": \"llama3\", \"factor\": 8.0, \"high_freq_factor\": 4.0}}",
         "llama3 rope scaling needs \"low_freq_factor\""},
        {"tiny rope_theta", "{\"rope_parameters\": {\"rope_theta\": 0.5}}", "\"rope_theta\" = 0.5 is out of range"},
        {"partial rotary", "{\"partial_rotary_factor\": 0.5}", "partial_rotary_factor 0.5 is not supported"},
        {"gelu", "{\"hidden_act\": \"gelu\"}", "hidden_act \"gelu\" is not supported"},
        {"quantized", "{\"quantization_config\": {\"quant_method\": \"gptq\"}}", "quantization_config"},
        {"odd head_dim", "{\"head_dim\": 7}", "head_dim 7 must be even"},
        {"string width", "{\"hidden_size\": \"32\"}", "\"hidden_size\" must be an integer"},
        {"rope_parameters not an object", "{\"rope_parameters\": 3}", "\"rope_parameters\" must be an object"},
        {"unknown family", "{\"model_type\": \"mamba\"}", "model_type \"mamba\" is not supported"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        make_case("llama-gqa-tied-f32", cases[i][1], NULL);
        expect_load_error(cases[i][0], cases[i][2]);
    }
}

static void weight_error_cases(void) {
    static const char *cases[][3] = {
        {"untied without lm_head", "{\"tie_word_embeddings\": false}", "missing tensor 'lm_head.weight'"},
        {"width disagrees", "{\"hidden_size\": 48, \"head_dim\": 8}",
         "tensor 'model.embed_tokens.weight' has shape [97, 32] but config.json implies [97, 48]"},
        {"kv heads disagree", "{\"num_key_value_heads\": 4}",
         "tensor 'model.layers.0.self_attn.k_proj.weight' has shape [16, 32] but config.json implies [32, 32]"},
        {"ffn width disagrees", "{\"intermediate_size\": 65}",
         "tensor 'model.layers.0.mlp.gate_proj.weight' has shape [64, 32] but config.json implies [65, 32]"},
        {"vocab disagrees", "{\"vocab_size\": 98}", "'model.embed_tokens.weight' has shape [97, 32]"},
        {"a layer too many", "{\"num_hidden_layers\": 3}", "missing tensor 'model.layers.2.input_layernorm.weight'"},
        {"bias the file lacks", "{\"attention_bias\": true}", "missing tensor 'model.layers.0.self_attn.q_proj.bias'"},
        {"head_dim disagrees", "{\"head_dim\": 16}",
         "'model.layers.0.self_attn.q_proj.weight' has shape [32, 32] but config.json implies [64, 32]"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        make_case("llama-gqa-tied-f32", cases[i][1], NULL);
        expect_load_error(cases[i][0], cases[i][2]);
    }
    make_case("llama-gqa-tied-f32", "{}", NULL);
    char path[400];
    snprintf(path, sizeof path, "%s/model.safetensors", tmp);
    unlink(path);
    expect_load_error("no weights", "model.safetensors");
}

static void index_error_cases(void) {
    static const char *cases[][3] = {
        {"shard file missing", "{\"weight_map\": {\"lm_head.weight\": \"model-00009-of-00009.safetensors\"}}",
         "model-00009-of-00009.safetensors: cannot open"},
        {"shard outside the folder", "{\"weight_map\": {\"lm_head.weight\": \"../model.safetensors\"}}",
         "expected a file name in the same folder"},
        {"tensor not in its shard", "{\"weight_map\": {\"lm_head.weight\": \"model-00001-of-00003.safetensors\"}}",
         "tensor 'lm_head.weight' is not in"},
        {"shard name not a string", "{\"weight_map\": {\"lm_head.weight\": 3}}", "'lm_head.weight' is not a file name"},
        {"no weight_map", "{\"weight_map\": null}", "no \"weight_map\""},
        {"shard by an absolute path", "{\"weight_map\": {\"lm_head.weight\": \"/etc/passwd\"}}",
         "expected a file name in the same folder"},
        {"shard through a subfolder and back", "{\"weight_map\": {\"lm_head.weight\": "
         "\"x/../model-00003-of-00003.safetensors\"}}", "expected a file name in the same folder"},
        {"shard named ..", "{\"weight_map\": {\"lm_head.weight\": \"..\"}}", "expected a file name in the same folder"},
        {"weight_map an array", "{\"weight_map\": [\"model-00001-of-00003.safetensors\"]}", "no \"weight_map\""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        make_case("mistral-sharded-f32", "{}", cases[i][1]);
        expect_load_error(cases[i][0], cases[i][2]);
    }
    make_case("mistral-sharded-f32", "{}", NULL);
    json_t *idx = json_pack("{s:{s:s}}", "weight_map", "model.embed_tokens.weight", "model-00001-of-00003.safetensors");
    char path[400];
    snprintf(path, sizeof path, "%s/model.safetensors.index.json", tmp);
    unlink(path);
    json_dump_file(idx, path, 0);
    json_decref(idx);
    expect_load_error("tensor absent from the index", "missing tensor 'model.layers.0.input_layernorm.weight'");
    static const char *const not_an_index[][2] = {
        {"", "invalid JSON"}, {"{\"weight_map\": ", "invalid JSON"}, {"[1, 2]", "expected a JSON object"},
        {"{\"weight_map\": {\"a\": \"x\", \"a\": \"y\"}}", "duplicate object key"}};
    for (size_t i = 0; i < sizeof not_an_index / sizeof *not_an_index; i++) {
        FILE *f = fopen(path, "w");
        CHECK(f != NULL, "write %s", path);
        if (!f) return;
        fputs(not_an_index[i][0], f);
        fclose(f);
        expect_load_error(not_an_index[i][0], not_an_index[i][1]);
    }
}

int main(void) {
    snprintf(tmp, sizeof tmp, "/tmp/attn_test_llama.XXXXXX");
    if (!mkdtemp(tmp)) TEST_SKIP("cannot make a temporary directory");
    attn_threads_init(1);
    fixture_cases();
    legacy_config_cases();
    bare_names_case();
    index_and_info_cases();
    rope_layout_cases();
    rope_freq_cases();
    config_error_cases();
    weight_error_cases();
    index_error_cases();
    clear_tmp();
    rmdir(tmp);
    return test_finish("test_llama");
}
