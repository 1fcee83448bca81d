/* test_serve_batch.c - the batched generator behind `attn serve` (src/generate/batch.h): several
 * prompts decoded together give exactly what attn_generate gives for each alone (greedy and
 * seeded sampling), whatever the prefill chunk; a chat's next turn reuses the slot's cache;
 * cancel, max_tokens, a full context, stop strings, logprobs and a busy batch behave as
 * documented. A tiny random GPT-2 with a character tokenizer, so text is checked too. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "generate/batch.h"
#include <attn/generate.h>
#include "model/gpt2_init.h"
#include "tokenizer/chars.h"
#include "test.h"

#define CTX 64
#define MAX_OUT 4096

typedef struct {
    char text[MAX_OUT];
    size_t len;
    int32_t tokens[CTX];
    int n_tokens;
    float logprob[CTX];
    int top_ok;          /* tokens whose alternatives were sorted and included the greedy pick */
    int done;
    attn_batch_done d;
    char finish[16];
    int cancel_after;    /* > 0: on_text asks to stop after this many calls */
    int n_text_calls;
} sink;

static int on_text(void *user, const char *text, size_t len) {
    sink *s = user;
    if (s->len + len < MAX_OUT) memcpy(s->text + s->len, text, len), s->len += len;
    return s->cancel_after > 0 && ++s->n_text_calls >= s->cancel_after;
}

static void on_token(void *user, const attn_batch_token *t) {
    sink *s = user;
    if (s->n_tokens < CTX) s->logprob[s->n_tokens] = t->logprob;
    if (s->n_tokens < CTX) s->tokens[s->n_tokens++] = t->token;
    bool sorted = true;
    for (int k = 1; k < t->n_top; k++) sorted &= t->top_logprobs[k] <= t->top_logprobs[k - 1];
    if (t->n_top > 0 && sorted && t->top_logprobs[0] <= 0 && t->logprob <= t->top_logprobs[0]) s->top_ok++;
}

static void on_done(void *user, const attn_batch_done *d) {
    sink *s = user;
    s->done++;
    s->d = *d;
    snprintf(s->finish, sizeof s->finish, "%s", d->finish_reason);
}

static attn_batch_params params(sink *s, int max_tokens, float temp, uint64_t seed) {
    attn_batch_params p = {.max_tokens = max_tokens, .top_logprobs = -1};
    attn_sampler_defaults(&p.sampling);
    p.sampling.temperature = temp;
    p.sampling.seed = seed;
    p.on_text = on_text, p.on_token = on_token, p.on_done = on_done, p.user = s;
    memset(s, 0, sizeof *s);
    return p;
}

static void run_to_end(attn_batch *b) {
    for (int guard = 0; guard < 1000 && attn_batch_n_active(b) > 0; guard++)
        CHECK(attn_batch_step(b) >= 0, "step: %s", attn_last_error());
}

static int32_t *encode(const attn_tokenizer *tok, const char *text, int *n) {
    int32_t *ids = NULL;
    CHECK(attn_tokenizer_encode(tok, text, strlen(text), false, &ids, n) == 0, "encode: %s", attn_last_error());
    return ids;
}

/* The batch's result for a prompt must equal attn_generate's for the same settings. */
static void check_same_as_generate(attn_model *m, const attn_tokenizer *tok, const char *prompt, const sink *s,
                                   int max_tokens, float temp, uint64_t seed, const char *what) {
    attn_generate_params gp;
    attn_generate_defaults(&gp);
    gp.max_tokens = max_tokens;
    gp.sampling.temperature = temp;
    gp.sampling.seed = seed;
    int n;
    int32_t *ids = encode(tok, prompt, &n);
    attn_generate_result r;
    CHECK(attn_generate(m, tok, ids, n, &gp, &r) == 0, "%s: generate: %s", what, attn_last_error());
    CHECK(r.n_generated == s->n_tokens, "%s: %d tokens alone, %d batched", what, r.n_generated, s->n_tokens);
    CHECK(r.n_generated == s->n_tokens && memcmp(r.tokens, s->tokens, (size_t)s->n_tokens * 4) == 0,
          "%s: different tokens", what);
    CHECK(r.text_len == s->len && memcmp(r.text, s->text, s->len) == 0, "%s: text '%s' alone, '%.*s' batched",
          what, r.text, (int)s->len, s->text);
    CHECK(strcmp(r.finish_reason, s->finish) == 0, "%s: finish %s alone, %s batched", what, r.finish_reason,
          s->finish);
    free(r.tokens), free(r.text), free(ids);
}

static const char *prompts[3] = {"Hello there, ", "The quick brown fox jumps over", "a"};

static void test_matches_generate(attn_model *m, const attn_tokenizer *tok, int chunk, float temp) {
    attn_batch *b = attn_batch_new(m, tok, 3, 0, chunk);
    CHECK(b != NULL, "new: %s", attn_last_error());
    if (!b) return;
    sink s[3];
    for (int i = 0; i < 3; i++) {
        attn_batch_params p = params(&s[i], 12 + i, temp, 100 + (uint64_t)i);
        int n;
        int32_t *ids = encode(tok, prompts[i], &n);
        CHECK(attn_batch_add(b, ids, n, &p) >= 0, "add: %s", attn_last_error());
        free(ids);
    }
    run_to_end(b);
    attn_batch_free(b); /* before attn_generate: it uses sequence 0 alone */
    CHECK(attn_model_set_sequences(m, 1, 0) == 0, "%s", attn_last_error());
    char what[64];
    for (int i = 0; i < 3; i++) {
        CHECK(s[i].done == 1, "on_done called %d times", s[i].done);
        snprintf(what, sizeof what, "prompt %d, chunk %d, temp %g", i, chunk, temp);
        check_same_as_generate(m, tok, prompts[i], &s[i], 12 + i, temp, 100 + (uint64_t)i, what);
    }
}

/* A second request that extends the first one's sequence reuses its cache, with the same result. */
static void test_prefix_reuse(attn_model *m, const attn_tokenizer *tok) {
    attn_batch *b = attn_batch_new(m, tok, 2, 0, 512);
    sink s;
    attn_batch_params p = params(&s, 8, 0, 1);
    int n;
    int32_t *ids = encode(tok, "Once upon a time", &n);
    CHECK(attn_batch_add(b, ids, n, &p) == 0, "first request takes slot 0: %s", attn_last_error());
    run_to_end(b);
    char next[256];
    snprintf(next, sizeof next, "Once upon a time%.*s and then", (int)s.len, s.text);
    free(ids);
    ids = encode(tok, next, &n);
    p = params(&s, 8, 0, 1);
    CHECK(attn_batch_add(b, ids, n, &p) == 0, "the follow-up goes to the slot with its prefix");
    run_to_end(b);
    CHECK(s.d.n_reused >= 16, "reused %d of %d prompt tokens", s.d.n_reused, n);
    CHECK(s.d.n_prompt == n, "n_prompt %d vs %d", s.d.n_prompt, n);
    attn_batch_free(b);
    attn_model_set_sequences(m, 1, 0);
    check_same_as_generate(m, tok, next, &s, 8, 0, 1, "reused prefix");
    free(ids);
}

static void test_limits(attn_model *m, const attn_tokenizer *tok) {
    attn_batch *b = attn_batch_new(m, tok, 1, 0, 512);
    sink s, s2;
    int n;
    int32_t *ids = encode(tok, "abc", &n);
    /* max_tokens */
    attn_batch_params p = params(&s, 5, 0.8f, 7);
    p.ignore_eos = true;
    CHECK(attn_batch_add(b, ids, n, &p) == 0, "%s", attn_last_error());
    /* busy: one slot only */
    attn_batch_params p2 = params(&s2, 5, 0, 7);
    CHECK(attn_batch_add(b, ids, n, &p2) == -1 && strstr(attn_last_error(), "busy"), "second add: %s",
          attn_last_error());
    run_to_end(b);
    CHECK(s.n_tokens == 5 && strcmp(s.finish, "length") == 0, "%d tokens, finish %s", s.n_tokens, s.finish);
    CHECK(s.d.n_generated == 5, "n_generated %d", s.d.n_generated);
    /* cancel mid-prefill and by the callback */
    p = params(&s, 20, 0, 7);
    CHECK(attn_batch_add(b, ids, n, &p) == 0, "%s", attn_last_error());
    attn_batch_cancel(b, 0);
    CHECK(s.done == 1 && strcmp(s.finish, "cancelled") == 0 && attn_batch_n_active(b) == 0, "cancel: %s",
          s.finish);
    p = params(&s, 20, 0.8f, 9);
    p.ignore_eos = true;
    s.cancel_after = 2;
    attn_batch_add(b, ids, n, &p);
    run_to_end(b);
    CHECK(strcmp(s.finish, "cancelled") == 0 && s.n_text_calls == 2, "on_text cancel: %s after %d", s.finish,
          s.n_text_calls);
    /* a full context ends with "length"; a prompt that fills it is refused */
    char longp[CTX + 1];
    memset(longp, 'e', CTX - 4), longp[CTX - 4] = 0;
    free(ids);
    ids = encode(tok, longp, &n);
    p = params(&s, 50, 0.8f, 3);
    p.ignore_eos = true;
    CHECK(attn_batch_add(b, ids, n, &p) == 0, "%s", attn_last_error());
    run_to_end(b);
    CHECK(strcmp(s.finish, "length") == 0 && s.n_tokens == 5, "context end: %s after %d tokens", s.finish,
          s.n_tokens);
    free(ids);
    memset(longp, 'e', CTX), longp[CTX] = 0;
    ids = encode(tok, longp, &n);
    p = params(&s, 5, 0, 3);
    CHECK(attn_batch_add(b, ids, n, &p) == -1 && strstr(attn_last_error(), "context"), "too long: %s",
          attn_last_error());
    CHECK(attn_batch_add(b, ids, 0, &p) == -1 && strstr(attn_last_error(), "empty"), "empty: %s",
          attn_last_error());
    free(ids);
    attn_batch_free(b);
}

/* A stop string cuts the text where it starts; logprobs come sorted, greedy picks the top one. */
static void test_stop_and_logprobs(attn_model *m, const attn_tokenizer *tok) {
    attn_batch *b = attn_batch_new(m, tok, 1, 0, 512);
    sink s;
    int n;
    int32_t *ids = encode(tok, "xyz", &n);
    attn_batch_params p = params(&s, 12, 0, 5);
    p.ignore_eos = true;
    p.top_logprobs = 3;
    attn_batch_add(b, ids, n, &p);
    run_to_end(b);
    CHECK(s.top_ok == s.n_tokens && s.n_tokens == 12, "logprobs sorted and consistent for %d of %d", s.top_ok,
          s.n_tokens);
    bool all_neg = true;
    for (int i = 0; i < s.n_tokens; i++) all_neg &= s.logprob[i] <= 0 && s.logprob[i] > -50;
    CHECK(all_neg, "logprobs are log-probabilities");
    CHECK(s.len >= 4, "greedy text '%.*s'", (int)s.len, s.text);
    char stop[3] = {s.text[2], s.text[3], 0}; /* appears at offset 2 (maybe earlier) */
    const char *first = strstr(s.text, stop);
    size_t want = first ? (size_t)(first - s.text) : 0;
    const char *stops[] = {stop};
    p = params(&s, 12, 0, 5);
    p.ignore_eos = true;
    p.stops = stops, p.n_stops = 1;
    attn_batch_add(b, ids, n, &p);
    run_to_end(b);
    CHECK(strcmp(s.finish, "stop") == 0 && s.len == want, "stop '%s': finish %s, %zu bytes (want %zu)", stop,
          s.finish, s.len, want);
    free(ids);
    attn_batch_free(b);
}

int main(void) {
    char dir[] = "/tmp/attn_test_batch_XXXXXX";
    if (!mkdtemp(dir)) TEST_SKIP("cannot make a temp folder");
    char path[300];
    attn_char_set *cs = attn_char_set_new();
    char ascii[96];
    for (int i = 0; i < 95; i++) ascii[i] = (char)(32 + i);
    attn_char_set_add(cs, ascii, 95);
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    CHECK(attn_char_set_save(cs, path) == 0, "%s", attn_last_error());
    attn_char_set_free(cs);
    attn_gpt2_config c;
    attn_gpt2_config_defaults(&c);
    c.n_layer = 2, c.n_head = 2, c.n_embd = 32, c.n_ctx = CTX, c.vocab = 97;
    CHECK(attn_gpt2_write_random(dir, &c, 11) == 0, "%s", attn_last_error());
    attn_model *m = attn_model_load(dir);
    attn_tokenizer *tok = attn_tokenizer_load(path);
    CHECK(m && tok, "load: %s", attn_last_error());
    if (m && tok) {
        test_matches_generate(m, tok, 512, 0);
        test_matches_generate(m, tok, 3, 0);   /* prompts fed 3 tokens a step, beside decoding slots */
        test_matches_generate(m, tok, 5, 0.9f);
        test_prefix_reuse(m, tok);
        test_limits(m, tok);
        test_stop_and_logprobs(m, tok);
    }
    attn_tokenizer_free(tok);
    attn_model_free(m);
    snprintf(path, sizeof path, "rm -rf '%s'", dir);
    if (system(path) != 0) fprintf(stderr, "could not remove %s\n", dir);
    return test_finish("test_serve_batch");
}
