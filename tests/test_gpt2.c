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
#include "model_check.h"
#include "test.h"


/* fixture folder, and the folder whose expected.json it must match */
static const char *fixtures[][2] = {{"tiny-f32", "tiny-f32"},   {"tiny-noprefix-f32", "tiny-noprefix-f32"},
                                   {"tiny-f16", "tiny-f16"},   {"tiny-bf16", "tiny-bf16"},
                                   {"tiny-odd", "tiny-odd"},   {"tiny-legacy", "tiny-f32"}};

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
                    (void)check_prompt(m, json_array_get(prompts, p), what);
                }
            }
        }
        attn_model_free(m);
        json_decref(exp);
    }
    return test_finish("test_gpt2");
}
