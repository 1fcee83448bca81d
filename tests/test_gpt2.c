/* test_gpt2.c - GPT-2 logits against Hugging Face transformers (fixtures made by
 * tools/make_gpt2_fixtures.py from random weights in HF's own layout). For every fixture,
 * every SIMD set and 1 and 2 threads: full-sequence logits at every position, the same
 * logits computed incrementally through the KV cache, and HF's greedy continuation.
 * Tolerance 1e-4 absolute on logits (float32 sums in another order; the bar). */
#include <jansson.h>
#include <stdlib.h>
#include "core/cpu.h"
#include "core/threadpool.h"
#include "model/model.h"
#include "test.h"

#define TOL 1e-4

/* fixture folder, and the folder whose expected.json it must match */
static const char *fixtures[][2] = {{"tiny-f32", "tiny-f32"},   {"tiny-noprefix-f32", "tiny-noprefix-f32"},
                                   {"tiny-f16", "tiny-f16"},   {"tiny-bf16", "tiny-bf16"},
                                   {"tiny-odd", "tiny-odd"},   {"tiny-legacy", "tiny-f32"}};

static double max_diff(const float *got, json_t *want_row, int64_t vocab) {
    double worst = 0;
    if ((int64_t)json_array_size(want_row) != vocab) return INFINITY;
    for (int64_t v = 0; v < vocab; v++) {
        double d = fabs(got[v] - json_real_value(json_array_get(want_row, v)));
        if (d > worst || d != d) worst = d;
    }
    return worst;
}

static int32_t argmax(const float *x, int64_t n) {
    int32_t best = 0;
    for (int64_t i = 1; i < n; i++)
        if (x[i] > x[best]) best = (int32_t)i;
    return best;
}

static void check_prompt(attn_model *m, json_t *p, const char *what) {
    json_t *ids_j = json_object_get(p, "ids"), *logits_j = json_object_get(p, "logits");
    json_t *greedy_j = json_object_get(p, "greedy");
    int64_t T = json_array_size(ids_j), V = attn_model_get_info(m)->vocab_size;
    int32_t *ids = malloc(T * sizeof *ids);
    float *logits = malloc(T * V * sizeof *logits);
    for (int64_t t = 0; t < T; t++) ids[t] = (int32_t)json_integer_value(json_array_get(ids_j, t));

    attn_model_reset(m);
    CHECK(attn_model_forward(m, ids, T, logits, true) == 0, "%s: %s", what, attn_last_error());
    double full = 0, inc = 0;
    for (int64_t t = 0; t < T; t++) full = fmax(full, max_diff(logits + t * V, json_array_get(logits_j, t), V));
    CHECK(full <= TOL, "%s: full-sequence max |dlogit| %.3g", what, full);

    attn_model_reset(m);
    for (int64_t t = 0; t < T; t++) {
        CHECK(attn_model_forward(m, ids + t, 1, logits, false) == 0, "%s: %s", what, attn_last_error());
        inc = fmax(inc, max_diff(logits, json_array_get(logits_j, t), V));
    }
    CHECK(inc <= TOL, "%s: incremental max |dlogit| %.3g", what, inc);

    size_t n_greedy = json_array_size(greedy_j);
    int32_t next = argmax(logits, V);
    for (size_t i = 0; i < n_greedy; i++) {
        int32_t want = (int32_t)json_integer_value(json_array_get(greedy_j, i));
        CHECK(next == want, "%s: greedy token %zu is %d, HF has %d", what, i, next, want);
        if (next != want) break;
        CHECK(attn_model_forward(m, &next, 1, logits, false) == 0, "%s: %s", what, attn_last_error());
        next = argmax(logits, V);
    }
    free(ids), free(logits);
}

int main(void) {
    for (size_t f = 0; f < sizeof fixtures / sizeof *fixtures; f++) {
        char dir[256], path[300];
        snprintf(dir, sizeof dir, "tests/fixtures/gpt2/%s", fixtures[f][0]);
        snprintf(path, sizeof path, "tests/fixtures/gpt2/%s/expected.json", fixtures[f][1]);
        json_error_t err;
        json_t *exp = json_load_file(path, 0, &err);
        CHECK(exp != NULL, "%s: %s", path, err.text);
        if (!exp) continue;
        attn_model *m = attn_model_load(dir);
        CHECK(m != NULL, "load %s: %s", dir, attn_last_error());
        if (!m) {
            json_decref(exp);
            continue;
        }
        json_t *prompts = json_object_get(exp, "prompts");
        for (int isa = 0; isa < ATTN_ISA_COUNT; isa++) {
            if (!attn_isa_supported((attn_isa)isa)) continue;
            attn_isa_set((attn_isa)isa);
            for (int threads = 1; threads <= 2; threads++) {
                attn_threads_init(threads);
                for (size_t p = 0; p < json_array_size(prompts); p++) {
                    char what[200];
                    snprintf(what, sizeof what, "%s prompt %zu %s %dt", fixtures[f][0], p, attn_isa_name((attn_isa)isa), threads);
                    check_prompt(m, json_array_get(prompts, p), what);
                }
            }
        }
        attn_model_free(m);
        json_decref(exp);
    }
    return test_finish("test_gpt2");
}
