/* test_perplexity.c - attn_perplexity against the same quantity computed here from Hugging
 * Face's logits (tests/fixtures/gpt2/tiny-f32/expected.json): one chunk of the 20-token
 * prompt, second half scored, log-softmax in double. Tolerance 1e-5 relative: the logits
 * agree to 1e-4 absolute and the NLL averages ten of them. A BOS id replaces each chunk's
 * first token exactly as writing it into the stream would. */
#include <jansson.h>
#include <string.h>
#include "generate/perplexity.h"
#include "model/model.h"
#include "test.h"

static double hf_nll(json_t *logits_row, int32_t target) {
    size_t V = json_array_size(logits_row);
    double max = -INFINITY, sum = 0;
    for (size_t v = 0; v < V; v++) max = fmax(max, json_real_value(json_array_get(logits_row, v)));
    for (size_t v = 0; v < V; v++) sum += exp(json_real_value(json_array_get(logits_row, v)) - max);
    return log(sum) + max - json_real_value(json_array_get(logits_row, (size_t)target));
}

int main(void) {
    json_error_t err;
    json_t *exp_j = json_load_file("tests/fixtures/gpt2/tiny-f32/expected.json", 0, &err);
    attn_model *m = attn_model_load("tests/fixtures/gpt2/tiny-f32");
    CHECK(exp_j && m, "fixtures: %s %s", err.text, attn_last_error());
    if (!exp_j || !m) return test_finish("test_perplexity");
    json_t *p = json_array_get(json_object_get(exp_j, "prompts"), 2);
    json_t *ids_j = json_object_get(p, "ids"), *logits_j = json_object_get(p, "logits");
    int64_t T = (int64_t)json_array_size(ids_j);
    int32_t ids[64];
    for (int64_t t = 0; t < T; t++) ids[t] = (int32_t)json_integer_value(json_array_get(ids_j, t));
    double nll = 0;
    int64_t scored = 0;
    for (int64_t i = T / 2; i < T - 1; i++, scored++) nll += hf_nll(json_array_get(logits_j, i), ids[i + 1]);
    attn_perplexity_result r;
    CHECK(attn_perplexity(m, ids, T, T, -1, NULL, NULL, &r) == 0, "%s", attn_last_error());
    CHECK(r.scored == scored && r.chunks == 1, "scored %lld in %lld chunks", (long long)r.scored, (long long)r.chunks);
    CHECK_NEAR(r.ppl, exp(nll / scored), 1e-5 * exp(nll / scored), "perplexity vs HF's logits");
    /* two chunks of 10: each scores tokens 6..9 (n_ctx - 1 - n_ctx/2 = 4), as llama-perplexity */
    CHECK(attn_perplexity(m, ids, T, 10, -1, NULL, NULL, &r) == 0 && r.chunks == 2 && r.scored == 8, "two chunks");
    /* bos: each chunk's first token is read as bos (never scored), as if written there */
    attn_perplexity_result with_bos, written;
    int32_t edited[64];
    memcpy(edited, ids, (size_t)T * sizeof *ids);
    edited[0] = edited[10] = 7;
    CHECK(attn_perplexity(m, ids, T, 10, 7, NULL, NULL, &with_bos) == 0 &&
              attn_perplexity(m, edited, T, 10, -1, NULL, NULL, &written) == 0,
          "%s", attn_last_error());
    CHECK(with_bos.nll_sum == written.nll_sum && with_bos.scored == written.scored, "bos: %.9f vs written %.9f",
          with_bos.nll_sum, written.nll_sum);
    CHECK(fabs(with_bos.nll_sum - r.nll_sum) > 1e-6, "bos changed nothing (%.9f)", r.nll_sum);
    CHECK(ids[0] != 7 && ids[10] != 7, "the test needs other first tokens");
    CHECK(attn_perplexity(m, ids, 5, 10, -1, NULL, NULL, &r) != 0, "fewer tokens than a chunk accepted");
    CHECK(attn_perplexity(m, ids, T, 1000, -1, NULL, NULL, &r) != 0, "a chunk longer than the context accepted");
    CHECK(attn_perplexity(m, ids, T, 1, -1, NULL, NULL, &r) != 0, "a one-token chunk accepted");
    attn_model_free(m);
    json_decref(exp_j);
    return test_finish("test_perplexity");
}
