/* test_api.c - libattn through its public headers alone (built with include/ and not src/ on
 * the include path): load, tokenize, generate, sample, batch and chat as an application would,
 * and check that the pieces agree with each other and that failures come back as -1/NULL with
 * a message. Uses the committed character-level model in models/shakespeare-char. */
#include <attn/attn.h>
#include <stdint.h>
#include "test.h"

#define MODEL_DIR "models/shakespeare-char"

typedef struct {
    char buf[4096];
    size_t len;
    int calls, stop_after; /* stop_after > 0: ask to stop on that call */
} sink;

static int collect(void *user, const char *text, size_t len) {
    sink *s = user;
    if (s->len + len < sizeof s->buf) memcpy(s->buf + s->len, text, len), s->len += len;
    s->calls++;
    return s->stop_after > 0 && s->calls >= s->stop_after;
}

static void test_errors(void) {
    attn_clear_error();
    CHECK(attn_model_load("tests/fixtures/no-such-model") == NULL, "loading a missing model succeeded");
    CHECK(strstr(attn_last_error(), "no-such-model") != NULL, "error does not name the path: %s", attn_last_error());
    CHECK(attn_tokenizer_load_for_model("tests/fixtures/llama/llama-gqa-tied-f32") == NULL,
          "found a tokenizer in a folder without one");
    CHECK(strstr(attn_last_error(), "no tokenizer found") != NULL, "unexpected error: %s", attn_last_error());
    CHECK(attn_chat_template_by_name("no-such-template") == NULL, "unknown template found");
}

/* attn_generate (greedy) gives the tokens of a hand-written loop over forward and the sampler,
 * and streams exactly its final text. */
static void test_generate(attn_model *m, const attn_tokenizer *tok) {
    const char *prompt = "ROMEO:\n";
    int32_t *ids = NULL;
    int n = 0;
    CHECK(attn_tokenizer_encode_prompt(tok, prompt, strlen(prompt), false, &ids, &n) == 0 && n == 7,
          "encode: %d ids (%s)", n, attn_last_error());
    char *back = NULL;
    size_t back_len = 0;
    CHECK(attn_tokenizer_decode(tok, ids, n, &back, &back_len) == 0 && back_len == strlen(prompt) &&
              memcmp(back, prompt, back_len) == 0, "decode(encode(x)) != x");
    free(back);

    attn_generate_params p;
    attn_generate_defaults(&p);
    p.max_tokens = 40, p.ignore_eos = true, p.sampling.temperature = 0;
    sink out = {0};
    p.on_text = collect, p.user = &out;
    attn_generate_result r = {0};
    CHECK(attn_generate(m, tok, ids, n, &p, &r) == 0, "generate: %s", attn_last_error());
    CHECK(r.n_prompt == n && r.n_generated == 40 && strcmp(r.finish_reason, "length") == 0,
          "counts %d/%d, finish %s", r.n_prompt, r.n_generated, r.finish_reason);
    CHECK(out.len == r.text_len && memcmp(out.buf, r.text, r.text_len) == 0, "streamed text differs from the result");

    attn_sampler *s = attn_sampler_new(&p.sampling, attn_model_get_info(m)->vocab_size);
    float *logits = malloc(sizeof(float) * (size_t)attn_model_get_info(m)->vocab_size);
    attn_model_reset(m);
    int32_t next = -1;
    int same = 0;
    CHECK(attn_model_forward(m, ids, n, logits, false) == 0, "forward: %s", attn_last_error());
    for (int i = 0; i < r.n_generated; i++) {
        next = attn_sampler_sample(s, logits);
        attn_sampler_accept(s, next);
        same += next == r.tokens[i];
        if (attn_model_forward(m, &next, 1, logits, false) != 0) break;
    }
    CHECK(same == r.n_generated, "hand-written loop agrees on %d of %d tokens", same, r.n_generated);
    CHECK(attn_model_n_past(m) == n + r.n_generated, "n_past %lld", (long long)attn_model_n_past(m));

    /* a bad id is refused and changes nothing */
    int64_t before = attn_model_n_past(m);
    int32_t bad = attn_model_get_info(m)->vocab_size;
    CHECK(attn_model_forward(m, &bad, 1, logits, false) == -1 && attn_model_n_past(m) == before,
          "an id past the vocabulary was accepted");

    /* a callback that returns non-zero stops the loop */
    sink stop = {.stop_after = 3};
    p.user = &stop;
    attn_generate_result_free(&r);
    CHECK(r.tokens == NULL && r.text == NULL, "result_free left pointers");
    CHECK(attn_generate(m, tok, ids, n, &p, &r) == 0 && strcmp(r.finish_reason, "cancelled") == 0 &&
              r.n_generated < 40, "cancel: finish %s after %d tokens", r.finish_reason, r.n_generated);
    attn_generate_result_free(&r);
    free(logits), free(ids);
    attn_sampler_free(s);
}

/* Two sequences in one batched forward give each one's logits as running it alone does. */
static void test_batch(attn_model *m, const attn_tokenizer *tok) {
    const char *texts[2] = {"First Citizen:\nBefore we proceed", "JULIET:\nO Romeo, Romeo"};
    int64_t vocab = attn_model_get_info(m)->vocab_size;
    int32_t *ids[2];
    int n[2];
    float *alone[2], *batched[2];
    for (int i = 0; i < 2; i++) {
        CHECK(attn_tokenizer_encode(tok, texts[i], strlen(texts[i]), false, &ids[i], &n[i]) == 0, "encode");
        alone[i] = malloc(sizeof(float) * (size_t)vocab), batched[i] = malloc(sizeof(float) * (size_t)vocab);
        attn_model_reset(m);
        CHECK(attn_model_forward(m, ids[i], n[i], alone[i], false) == 0, "forward %d", i);
    }
    CHECK(attn_model_set_sequences(m, 2, 0) == 0 && attn_model_n_sequences(m) == 2, "set_sequences");
    attn_batch_item items[2] = {{1, ids[1], n[1], batched[1], false}, {0, ids[0], n[0], batched[0], false}};
    attn_batch_item bad = {2, ids[0], n[0], NULL, false};
    CHECK(attn_model_forward_batch(m, &bad, 1) == -1 && attn_model_seq_n_past(m, 0) == 0,
          "a batch naming sequence 2 of 2 was accepted");
    CHECK(attn_model_forward_batch(m, items, 2) == 0, "forward_batch: %s", attn_last_error());
    for (int i = 0; i < 2; i++) {
        CHECK(attn_model_seq_n_past(m, i) == n[i], "sequence %d holds %lld", i, (long long)attn_model_seq_n_past(m, i));
        double worst = 0;
        for (int64_t v = 0; v < vocab; v++) worst = fmax(worst, fabs(alone[i][v] - batched[i][v]));
        CHECK(worst <= 1e-4, "sequence %d: batched logits differ by %g", i, worst);
        free(ids[i]), free(alone[i]), free(batched[i]);
    }
    CHECK(attn_model_set_sequences(m, 1, 0) == 0, "back to one sequence");
}

/* An f16 KV cache: the f32 model starts exact; switching keeps the sequences, forgets the
 * positions, and moves the logits by f16's rounding of keys and values only; other types are
 * refused with nothing changed. */
static void test_kv_type(attn_model *m, const attn_tokenizer *tok) {
    const char *text = "ROMEO:\nBut soft, what light through yonder window breaks";
    int64_t vocab = attn_model_get_info(m)->vocab_size;
    int32_t *ids;
    int n;
    CHECK(attn_tokenizer_encode(tok, text, strlen(text), false, &ids, &n) == 0, "encode");
    float *f32 = malloc(sizeof(float) * (size_t)vocab), *f16 = malloc(sizeof(float) * (size_t)vocab);
    CHECK(attn_model_kv_type(m) == ATTN_F32, "an f32 model starts with an f32 cache");
    CHECK(attn_model_set_sequences(m, 3, 0) == 0, "three sequences");
    CHECK(attn_model_forward(m, ids, n, f32, false) == 0, "forward f32");
    CHECK(attn_model_set_kv_type(m, ATTN_BF16) == -1 && strstr(attn_last_error(), "f16") &&
              attn_model_kv_type(m) == ATTN_F32 && attn_model_seq_n_past(m, 0) == n,
          "a bf16 cache was accepted or changed the model");
    CHECK(attn_model_set_kv_type(m, ATTN_F16) == 0 && attn_model_kv_type(m) == ATTN_F16, "f16: %s", attn_last_error());
    CHECK(attn_model_n_sequences(m) == 3 && attn_model_seq_n_past(m, 0) == 0, "f16 kept 3 sequences, 0 positions");
    CHECK(attn_model_forward(m, ids, n, f16, false) == 0, "forward f16");
    double worst = 0, mag = 0;
    for (int64_t v = 0; v < vocab; v++) worst = fmax(worst, fabs(f32[v] - f16[v])), mag = fmax(mag, fabs(f32[v]));
    CHECK(worst > 0 && worst <= 1e-2 * mag, "f16 cache moved the logits by %g (largest %g)", worst, mag);
    CHECK(attn_model_set_kv_type(m, ATTN_F32) == 0 && attn_model_set_sequences(m, 1, 0) == 0, "back to f32");
    free(ids), free(f32), free(f16);
}

static void test_chat(void) {
    const attn_chat_template *t = attn_chat_template_by_name("chatml");
    CHECK(t && strcmp(attn_chat_template_name(t), "chatml") == 0, "chatml missing");
    if (!t) return;
    attn_chat_message msgs[2] = {{"system", "Be brief."}, {"user", "Hi"}};
    char *text = attn_chat_render(t, msgs, 2, true);
    const char *want = "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n";
    CHECK(text && strcmp(text, want) == 0, "chatml renders: %s", text ? text : attn_last_error());
    free(text);
    int n_stops = 0;
    const char *const *stops = attn_chat_template_stops(t, &n_stops);
    CHECK(n_stops >= 1 && strcmp(stops[0], "<|im_end|>") == 0, "chatml stops");
    CHECK(attn_chat_render(t, msgs, 0, true) == NULL, "an empty conversation rendered");
}

int main(void) {
    CHECK(strcmp(attn_version(), ATTN_VERSION_STRING) == 0, "version %s vs header %s", attn_version(), ATTN_VERSION_STRING);
    CHECK(attn_threads_init(2) == 0 && attn_threads_count() == 2, "threads");
    test_errors();
    test_chat();
    attn_model *m = attn_model_load(MODEL_DIR);
    attn_tokenizer *tok = attn_tokenizer_load_for_model(MODEL_DIR);
    CHECK(m && tok, "load %s: %s", MODEL_DIR, attn_last_error());
    if (m && tok) {
        const attn_model_info *info = attn_model_get_info(m);
        CHECK(strcmp(info->family, "gpt2") == 0 && info->vocab_size == attn_tokenizer_vocab_size(tok),
              "family %s, vocab %lld vs tokenizer %d", info->family, (long long)info->vocab_size,
              attn_tokenizer_vocab_size(tok));
        test_generate(m, tok);
        test_batch(m, tok);
        test_kv_type(m, tok);
    }
    attn_tokenizer_free(tok);
    attn_model_free(m);
    return test_finish("test_api");
}
