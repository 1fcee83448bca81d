/* test_bleu.c - attn's BLEU against PyPI sacrebleu: tests/fixtures/bleu_cases.json
 * (tools/make_bleu_fixtures.py) holds sacrebleu's own tokenizations (13a, intl, none; cased
 * and lowercased) and its sentence and corpus scores on corrupted Multi30k text and edge
 * cases. Tokens must be identical, counts and lengths equal, score and brevity penalty equal
 * to 1e-9 relative, and the printed line identical. Also: bad input gives clear errors. */
#include <jansson.h>
#include "test.h"
#include "core/common.h"
#include "eval/bleu.h"

#define FIXTURE "tests/fixtures/bleu_cases.json"

static int cases_matched, cases_bit_exact;

static bool near_rel(double got, double want) { return fabs(got - want) <= 1e-9 * fabs(want); }

static void check_tokenize_case(json_t *c) {
    const char *text = json_string_value(json_object_get(c, "text"));
    static const char *const names[] = {"13a", "intl", "none"};
    for (int k = 0; k < 3; k++) {
        bleu_tokenize_kind kind;
        CHECK(bleu_tokenize_parse(names[k], &kind) == 0, "tokenizer %s", names[k]);
        for (int lc = 0; lc < 2; lc++) {
            const char *want = json_string_value(json_array_get(json_object_get(c, names[k]), (size_t)lc));
            char *got = bleu_preprocess(text, kind, lc);
            bool ok = got && want && strcmp(got, want) == 0;
            CHECK(ok, "%s%s of '%.60s': got '%.80s', sacrebleu '%.80s'", names[k], lc ? " lowercased" : "", text,
                  got ? got : attn_last_error(), want ? want : "?");
            cases_matched += ok;
            free(got);
        }
    }
}

static bleu_options case_options(json_t *c) {
    bleu_options opt = {.lowercase = json_is_true(json_object_get(c, "lowercase"))};
    CHECK(bleu_tokenize_parse(json_string_value(json_object_get(c, "tokenize")), &opt.tokenize) == 0, "tokenize");
    return opt;
}

static void check_score(json_t *c, const bleu_score *got, const char *what) {
    const bleu_stats *st = &got->stats;
    double want_score = json_number_value(json_object_get(c, "score")), want_bp = json_number_value(json_object_get(c, "bp"));
    int failures = test_failures;
    for (int n = 0; n < BLEU_MAX_ORDER; n++) {
        json_int_t wc = json_integer_value(json_array_get(json_object_get(c, "counts"), (size_t)n));
        json_int_t wt = json_integer_value(json_array_get(json_object_get(c, "totals"), (size_t)n));
        CHECK(st->correct[n] == wc && st->total[n] == wt, "%s: %d-grams %lld/%lld, sacrebleu %lld/%lld", what, n + 1,
              (long long)st->correct[n], (long long)st->total[n], (long long)wc, (long long)wt);
    }
    CHECK(st->hyp_len == json_integer_value(json_object_get(c, "hyp_len")) &&
              st->ref_len == json_integer_value(json_object_get(c, "ref_len")),
          "%s: lengths %lld/%lld", what, (long long)st->hyp_len, (long long)st->ref_len);
    CHECK(near_rel(got->score, want_score), "%s: score %.17g, sacrebleu %.17g", what, got->score, want_score);
    CHECK(near_rel(got->bp, want_bp), "%s: BP %.17g, sacrebleu %.17g", what, got->bp, want_bp);
    char text[256];
    bleu_format(got, text, sizeof text);
    const char *want_text = json_string_value(json_object_get(c, "text"));
    CHECK(want_text && strcmp(text, want_text) == 0, "%s: printed\n  %s\nsacrebleu\n  %s", what, text, want_text);
    if (test_failures == failures) cases_matched++;
    cases_bit_exact += got->score == want_score;
}

static void check_sentence_case(json_t *c, size_t index) {
    bleu_options opt = case_options(c);
    json_t *refs = json_object_get(c, "refs");
    const char *ref_text[8];
    int n_refs = (int)json_array_size(refs);
    for (int r = 0; r < n_refs && r < 8; r++) ref_text[r] = json_string_value(json_array_get(refs, (size_t)r));
    bleu_score s;
    char what[64];
    snprintf(what, sizeof what, "sentence case %zu", index);
    CHECK(bleu_sentence(json_string_value(json_object_get(c, "hyp")), ref_text, n_refs, &opt, &s) == 0, "%s: %s", what,
          attn_last_error());
    check_score(c, &s, what);
}

static void check_corpus_case(json_t *c, size_t index) {
    bleu_options opt = case_options(c);
    json_t *hyps = json_object_get(c, "hyps"), *streams = json_object_get(c, "refs");
    size_t n = json_array_size(hyps);
    int n_refs = (int)json_array_size(streams);
    const char **hyp_text = calloc(n, sizeof *hyp_text), **ref_text = calloc(n * (size_t)n_refs, sizeof *ref_text);
    const char *const *streams_text[8];
    for (size_t i = 0; i < n; i++) hyp_text[i] = json_string_value(json_array_get(hyps, i));
    for (int r = 0; r < n_refs && r < 8; r++) {
        for (size_t i = 0; i < n; i++)
            ref_text[(size_t)r * n + i] = json_string_value(json_array_get(json_array_get(streams, (size_t)r), i));
        streams_text[r] = ref_text + (size_t)r * n;
    }
    bleu_score s;
    char what[64];
    snprintf(what, sizeof what, "corpus case %zu (%zu segments, %d refs)", index, n, n_refs);
    CHECK(bleu_corpus(hyp_text, n, streams_text, n_refs, &opt, &s) == 0, "%s: %s", what, attn_last_error());
    check_score(c, &s, what);
    free(hyp_text);
    free(ref_text);
}

static void check_errors(void) {
    bleu_tokenize_kind kind;
    CHECK(bleu_tokenize_parse("zh", &kind) != 0 && strstr(attn_last_error(), "13a"), "unknown tokenizer: %s",
          attn_last_error());
    static const char *const invalid[] = {"ab\xff", "ab\xc3", "ab\xc0\x80", "ab\xed\xa0\x80", "ab\xf4\x90\x80\x80"};
    for (size_t i = 0; i < sizeof invalid / sizeof *invalid; i++) {
        char *out = bleu_preprocess(invalid[i], BLEU_TOKENIZE_13A, false);
        CHECK(out == NULL && strstr(attn_last_error(), "invalid UTF-8 at byte 3"), "invalid UTF-8 case %zu: %s", i,
              out ? out : attn_last_error());
        free(out);
    }
    const char *refs[] = {"a b", "c \xff"};
    bleu_options opt = {BLEU_TOKENIZE_13A, false};
    bleu_score s;
    CHECK(bleu_sentence("a b", refs, 2, &opt, &s) != 0 && strstr(attn_last_error(), "reference 2: invalid UTF-8"),
          "bad reference: %s", attn_last_error());
    CHECK(bleu_sentence("a b", refs, 0, &opt, &s) != 0, "no reference accepted");
    char sig[128];
    opt.lowercase = true;
    bleu_signature(&opt, 2, true, sig, sizeof sig);
    CHECK(strcmp(sig, "nrefs:2|case:lc|eff:yes|tok:13a|smooth:exp") == 0, "signature %s", sig);
}

int main(void) {
    json_error_t err;
    json_t *root = json_load_file(FIXTURE, 0, &err);
    if (!root) TEST_SKIP("%s: %s (make it with tools/make_bleu_fixtures.py)", FIXTURE, err.text);
    size_t i, n_cases = 0;
    json_t *c;
    json_array_foreach(json_object_get(root, "tokenize"), i, c) check_tokenize_case(c), n_cases += 6;
    json_array_foreach(json_object_get(root, "sentence"), i, c) check_sentence_case(c, i), n_cases++;
    json_array_foreach(json_object_get(root, "corpus"), i, c) check_corpus_case(c, i), n_cases++;
    CHECK(n_cases > 500, "only %zu cases in the fixture", n_cases);
    printf("%d of %zu sacrebleu %s cases matched (%d scores bit for bit)\n", cases_matched, n_cases,
           json_string_value(json_object_get(root, "sacrebleu_version")), cases_bit_exact);
    json_decref(root);
    check_errors();
    return test_finish("test_bleu");
}
