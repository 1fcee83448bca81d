/* model_check.h - checks a loaded model against an expected.json that a tools/make_*_fixtures.py
 * script wrote with Hugging Face: every position's logits over the whole sequence, the same
 * logits fed token by token through the KV cache, and HF's greedy continuation. Tolerance
 * 1e-4 absolute on logits (float32 sums in another order). */
#ifndef ATTN_TEST_MODEL_CHECK_H
#define ATTN_TEST_MODEL_CHECK_H

#include <jansson.h>
#include <stdlib.h>
#include "model/model.h"
#include "test.h"

#define TOL 1e-4

static inline double max_diff(const float *got, json_t *want_row, int64_t vocab) {
    double worst = 0;
    if ((int64_t)json_array_size(want_row) != vocab) return INFINITY;
    for (int64_t v = 0; v < vocab; v++) {
        double d = fabs(got[v] - json_real_value(json_array_get(want_row, v)));
        if (d > worst || d != d) worst = d;
    }
    return worst;
}

static inline int32_t argmax(const float *x, int64_t n) {
    int32_t best = 0;
    for (int64_t i = 1; i < n; i++)
        if (x[i] > x[best]) best = (int32_t)i;
    return best;
}

/* Full-sequence and incremental logits and the greedy path of one prompt; returns the
 * largest |dlogit| seen. */
static inline double check_prompt(attn_model *m, json_t *p, const char *what) {
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

    int32_t next = argmax(logits, V);
    for (size_t i = 0; i < json_array_size(greedy_j); i++) {
        int32_t want = (int32_t)json_integer_value(json_array_get(greedy_j, i));
        CHECK(next == want, "%s: greedy token %zu is %d, HF has %d", what, i, next, want);
        if (next != want) break;
        CHECK(attn_model_forward(m, &next, 1, logits, false) == 0, "%s: %s", what, attn_last_error());
        next = argmax(logits, V);
    }
    free(ids), free(logits);
    return fmax(full, inc);
}

/* Every prompt of `name`'s expected.json on an already loaded model, current ISA/threads. */
static inline double check_all_prompts(attn_model *m, json_t *exp, const char *what) {
    json_t *prompts = json_object_get(exp, "prompts");
    double worst = 0;
    for (size_t p = 0; p < json_array_size(prompts); p++) {
        char w[300];
        snprintf(w, sizeof w, "%s prompt %zu", what, p);
        worst = fmax(worst, check_prompt(m, json_array_get(prompts, p), w));
    }
    return worst;
}

#endif
