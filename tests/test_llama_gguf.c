/* test_llama_gguf.c - the LLaMA forward over llama.cpp's own GGUF files
 * (../shared/data/llamacpp-ref, skips without it):
 *   - f32: last-position logits equal llama.cpp's within 1e-4, and all 32 greedy tokens match;
 *   - f16: within 1e-4 of the float64 reference over the same (dequantized) weights; llama.cpp
 *     rounds activations to f16, so against its logits only within 2e-2;
 *   - every quantized file (Q8_0..Q6_K and the real Q4_K_M mix): attn's max |logit error|
 *     against the float64 reference over the dequantized weights must be below 1e-3 and no
 *     larger than llama.cpp's (which quantizes activations to 8 bits);
 *   - greedy decoding vs llama.cpp: agreement length reported per file (required in full
 *     for f32, where every margin is far above the error).
 * The loader's config, tied/untied head and the .gguf path of attn_model_load are exercised
 * on the way. Prints the per-type comparison table. Without the data it still checks that
 * GGUF files with the wrong architecture or missing metadata fail with a message naming it. */
#include <jansson.h>
#include <stdint.h>
#include <unistd.h>
#include "core/common.h"
#include "core/gemm.h"
#include "core/threadpool.h"
#include "format/gguf.h"
#include "model/model.h"
#include "test.h"

#define NPROMPT 3
#define NGREEDY 32

static const char *const files[] = {"f32", "f16", "q8_0", "q4_0", "q4_1", "q5_0", "q5_1",
                                    "q2_k", "q3_k", "q4_k", "q5_k", "q6_k", "q4_k_m-mix"};

static int32_t ids_of(json_t *arr, int32_t *out, int cap) {
    int n = 0;
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v) if (n < cap) out[n++] = (int32_t)json_integer_value(v);
    return n;
}

static double max_diff(const float *a, json_t *ref, int n) {
    double m = 0;
    for (int i = 0; i < n; i++) {
        double d = fabs((double)a[i] - json_number_value(json_array_get(ref, (size_t)i)));
        m = d > m ? d : m;
    }
    return m;
}

static int argmax(const float *x, int n) {
    int b = 0;
    for (int i = 1; i < n; i++) b = x[i] > x[b] ? i : b;
    return b;
}

/* Greedy continuation after the prompt (already in the cache, its logits in `logits`):
 * how many of llama.cpp's greedy ids attn reproduces before the first difference. */
static int greedy_agreement(attn_model *m, float *logits, json_t *want, int V) {
    int agree = 0;
    for (int s = 0; s < NGREEDY; s++) {
        int32_t tok = argmax(logits, V);
        if (tok != (int32_t)json_integer_value(json_array_get(want, (size_t)s))) break;
        agree++;
        if (s + 1 < NGREEDY && attn_model_forward(m, &tok, 1, logits, false) != 0) break;
    }
    return agree;
}

typedef struct {
    double attn_vs_f64, cpp_vs_f64, attn_vs_cpp;
    int greedy[NPROMPT];
} result;

/* exact: an f32 KV cache (else the model's default: f16 for the quantized files). */
static int run_file(const char *dir, const char *type, json_t *f64files, bool exact, result *r) {
    char path[4096], refpath[4096], name[64];
    snprintf(name, sizeof name, "tiny-llama-%s.gguf", type);
    snprintf(path, sizeof path, "%.3000s/llamacpp-ref/%s", dir, name);
    snprintf(refpath, sizeof refpath, "%.3000s/llamacpp-ref/refs/tiny-llama-%s.json", dir, type);
    json_error_t err;
    json_t *ref = json_load_file(refpath, 0, &err), *f64 = json_object_get(f64files, name);
    attn_model *m = attn_model_load(path);
    CHECK(ref && f64 && m, "%s: %s", name, m ? "reference json missing" : attn_last_error());
    if (!ref || !f64 || !m) {
        json_decref(ref), attn_model_free(m);
        return -1;
    }
    int V = (int)attn_model_get_info(m)->vocab_size;
    CHECK(V == 512, "%s: vocab %d", name, V);
    bool plain = strcmp(type, "f32") == 0 || strcmp(type, "f16") == 0;
    CHECK(attn_model_get_info(m)->quantized == !plain, "%s: quantized %d", name, attn_model_get_info(m)->quantized);
    CHECK(attn_model_kv_type(m) == (plain ? ATTN_F32 : ATTN_F16), "%s: default KV cache %s", name,
          attn_dtype_name(attn_model_kv_type(m)));
    if (exact) CHECK(attn_model_set_kv_type(m, ATTN_F32) == 0, "%s: %s", name, attn_last_error());
    float *logits = malloc((size_t)V * sizeof(float));
    *r = (result){0};
    for (int p = 0; p < NPROMPT; p++) {
        json_t *pr = json_array_get(json_object_get(ref, "prompts"), (size_t)p);
        int32_t ids[256];
        int n = ids_of(json_object_get(pr, "prompt_ids"), ids, 256);
        attn_model_reset(m);
        CHECK(attn_model_forward(m, ids, n, logits, false) == 0, "%s: %s", name, attn_last_error());
        json_t *cpp = json_object_get(pr, "last_logits");
        json_t *exact = json_object_get(json_array_get(f64, (size_t)p), "last_logits_f64");
        float cppf[512];
        for (int i = 0; i < V; i++) cppf[i] = (float)json_number_value(json_array_get(cpp, (size_t)i));
        r->attn_vs_f64 = fmax(r->attn_vs_f64, max_diff(logits, exact, V));
        r->cpp_vs_f64 = fmax(r->cpp_vs_f64, max_diff(cppf, exact, V));
        r->attn_vs_cpp = fmax(r->attn_vs_cpp, max_diff(logits, cpp, V));
        r->greedy[p] = greedy_agreement(m, logits, json_object_get(pr, "greedy_ids"), V);
    }
    free(logits);
    json_decref(ref);
    attn_model_free(m);
    return 0;
}

/* A tensor-less GGUF with the given architecture; block_count only when `with_blocks`. */
static const char *write_meta_only(const char *arch, bool with_blocks) {
    static char path[64];
    snprintf(path, sizeof path, "/tmp/attn_llama_gguf_%d.gguf", (int)getpid());
    attn_gguf_writer *w = attn_gguf_writer_new();
    attn_gguf_set_str(w, "general.architecture", arch);
    if (with_blocks) attn_gguf_set_u32(w, "llama.block_count", 2);
    int rc = attn_gguf_writer_write(w, path);
    attn_gguf_writer_free(w);
    CHECK(rc == 0, "write %s: %s", path, attn_last_error());
    return path;
}

static void check_bad_files(void) {
    const char *p = write_meta_only("gpt2", true);
    CHECK(attn_model_load(p) == NULL && strstr(attn_last_error(), "gpt2"), "wrong arch: %s", attn_last_error());
    p = write_meta_only("llama", false);
    CHECK(attn_model_load(p) == NULL && strstr(attn_last_error(), "llama.block_count"), "missing key: %s",
          attn_last_error());
    p = write_meta_only("llama", true);
    CHECK(attn_model_load(p) == NULL && strstr(attn_last_error(), "llama.embedding_length"), "missing key: %s",
          attn_last_error());
    /* a block count the tensors do not bear out is refused before anything is sized by it */
    attn_gguf_writer *w = attn_gguf_writer_new();
    attn_gguf_set_str(w, "general.architecture", "llama");
    attn_gguf_set_u32(w, "llama.block_count", 2147483647u);
    attn_gguf_set_u32(w, "llama.embedding_length", 64);
    attn_gguf_set_u32(w, "llama.feed_forward_length", 128);
    attn_gguf_set_u32(w, "llama.attention.head_count", 4);
    attn_gguf_set_f32(w, "llama.attention.layer_norm_rms_epsilon", 1e-5f);
    CHECK(attn_gguf_writer_write(w, p) == 0, "%s", attn_last_error());
    attn_gguf_writer_free(w);
    CHECK(attn_model_load(p) == NULL && strstr(attn_last_error(), "blk.2147483646.attn_norm.weight"),
          "block_count past the tensors: %s", attn_last_error());
    unlink(p);
}

int main(void) {
    check_bad_files();
    if (test_failures) return test_finish("test_llama_gguf");
    const char *dir = test_data_dir();
    char path[4096];
    if (dir) snprintf(path, sizeof path, "%.3000s/llamacpp-ref/tiny-llama-f64-dequant-logits.json", dir);
    if (!dir || access(path, R_OK) != 0) TEST_SKIP("../shared/data/llamacpp-ref not found");
    attn_threads_init(2);
    json_error_t err;
    json_t *f64 = json_load_file(path, 0, &err);
    CHECK(f64 != NULL, "%s: %s", path, err.text);
    if (!f64) return test_finish("test_llama_gguf");
    json_t *f64files = json_object_get(f64, "files");
    /* The default prompts (gemm.h's AUTO: bf16 on AMX; else one-byte integers on K-quant
     * panels, and on the other panels these prompts' 19-34 rows keep the decoding's two-byte
     * integers; an f16 KV cache on the quantized files) must stay at least as close to the
     * float64 reference as llama.cpp; exact products (ATTN_MATMUL=f32, an f32 cache) within 1e-3
     * of it. */
    attn_matmul_precision dflt = attn_gemm_precision();
    printf("%-11s %12s %12s %14s %14s  greedy agreement with llama.cpp (of %d, 3 prompts)\n", "file",
           "attn-vs-f64", "(exact f32)", "llama.cpp-f64", "attn-vs-cpp", NGREEDY);
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        result r, exact;
        attn_gemm_set_precision(ATTN_MATMUL_F32);
        int rc = run_file(dir, files[i], f64files, true, &exact);
        attn_gemm_set_precision(dflt);
        if (rc != 0 || run_file(dir, files[i], f64files, false, &r) != 0) continue;
        printf("%-11s %12.3g %12.3g %14.3g %14.3g  %d %d %d\n", files[i], r.attn_vs_f64, exact.attn_vs_f64,
               r.cpp_vs_f64, r.attn_vs_cpp, r.greedy[0], r.greedy[1], r.greedy[2]);
        bool is_f32 = strcmp(files[i], "f32") == 0, is_f16 = strcmp(files[i], "f16") == 0;
        if (is_f32) {
            CHECK(r.attn_vs_cpp <= 1e-4, "f32 vs llama.cpp %.3g", r.attn_vs_cpp);
            for (int p = 0; p < NPROMPT; p++) CHECK(r.greedy[p] == NGREEDY, "f32 greedy prompt %d: %d", p, r.greedy[p]);
        }
        if (is_f16) CHECK(r.attn_vs_cpp <= 2e-2, "f16 vs llama.cpp %.3g", r.attn_vs_cpp);
        CHECK(exact.attn_vs_f64 <= 1e-3, "%s (exact products) vs float64 %.3g", files[i], exact.attn_vs_f64);
        if (is_f32 || is_f16) CHECK(r.attn_vs_f64 == exact.attn_vs_f64, "%s: default products not exact", files[i]);
        CHECK(r.attn_vs_f64 <= r.cpp_vs_f64 || is_f32, "%s: attn %.3g further from float64 than llama.cpp %.3g",
              files[i], r.attn_vs_f64, r.cpp_vs_f64);
    }
    json_decref(f64);
    return test_finish("test_llama_gguf");
}
