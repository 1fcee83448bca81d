/* test_bpe_train.c - the byte-level BPE trainer and the character tokenizer: HF's own
 * trainer unit test, tie-breaking and min_frequency, a 300-token vocabulary trained on a few
 * KB of text that attn then loads (round trips, fewer tokens than bytes, <|endoftext|>), the
 * merges of HF tokenizers on Tiny Shakespeare (a committed fixture; skipped without the
 * data), character vocabularies (ids, <unk>, invalid UTF-8), and bad options. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/common.h"
#include "test.h"
#include "tokenizer/bpe.h"
#include "tokenizer/bpe_train.h"
#include "tokenizer/chars.h"

static char tmpdir[] = "/tmp/attn_test_bpe_train.XXXXXX";

static const char *tmp_path(const char *name) {
    static char buf[256];
    snprintf(buf, sizeof buf, "%s/%s", tmpdir, name);
    return buf;
}

static bool token_is(const attn_bpe_trainer *t, int id, const char *want) {
    size_t len = 0;
    const char *s = attn_bpe_trainer_token(t, id, &len);
    return s && len == strlen(want) && memcmp(s, want, len) == 0;
}

/* A few KB of English-like text, the same on every run. */
static char *sample_text(size_t *len) {
    static const char *words[] = {"the", "king", "queen", "of", "and", "a", "shall", "not", "be", "my", "lord",
                                  "to", "thee", "thou", "art", "in", "love", "with", "death", "night"};
    size_t cap = 8192, n = 0;
    char *s = malloc(cap);
    uint64_t x = 12345;
    for (int i = 0; s && n + 16 < cap - 1 && i < 1200; i++) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        const char *w = words[(x >> 33) % 20];
        n += (size_t)snprintf(s + n, cap - n, "%s%s", i % 12 == 11 ? ".\n" : " ", w);
    }
    if (s) s[n] = 0;
    *len = n;
    return s;
}

/* HF's trainer test (tokenizers/src/models/bpe/trainer.rs, test_train), with words given
 * directly: the merges are "r e", "a re", "i s", then nothing reaches min_frequency 2. */
static void test_hf_unit_case(void) {
    const char *words[] = {"roses", "are", "red", "voilets", "blue", "BERT", "is", "big", "and", "so", "GPT-2"};
    const int counts[] = {1, 2, 1, 1, 1, 1, 2, 1, 1, 1, 1};
    attn_bpe_train_opts o = {.vocab_size = 30000, .min_frequency = 2};
    attn_bpe_trainer *t = attn_bpe_trainer_new(&o);
    CHECK(t != NULL, "new: %s", attn_last_error());
    if (!t) return;
    for (int i = 0; i < 11; i++) attn_bpe_trainer_add_word(t, words[i], strlen(words[i]), (uint64_t)counts[i]);
    CHECK(attn_bpe_trainer_train(t) == 0, "train: %s", attn_last_error());
    attn_bpe_train_stats st;
    attn_bpe_trainer_stats(t, &st);
    CHECK(st.vocab_size == 260 && st.n_merges == 3, "vocab %d, merges %d", st.vocab_size, st.n_merges);
    CHECK(token_is(t, 0, "<|endoftext|>"), "special token first");
    CHECK(token_is(t, 257, "re") && token_is(t, 258, "are") && token_is(t, 259, "is"), "merges in HF's order");
    attn_bpe_trainer_free(t);
}

/* Equal counts go to the smaller (left id, right id); 'a' < 'c' in byte order. */
static void test_ties_and_min_frequency(void) {
    attn_bpe_train_opts o = {.vocab_size = 259, .min_frequency = 0};
    attn_bpe_trainer *t = attn_bpe_trainer_new(&o);
    attn_bpe_trainer_add_word(t, "cd", 2, 3);
    attn_bpe_trainer_add_word(t, "ab", 2, 3);
    attn_bpe_trainer_add_word(t, "xy", 2, 1);
    CHECK(attn_bpe_trainer_train(t) == 0, "train: %s", attn_last_error());
    CHECK(token_is(t, 257, "ab") && token_is(t, 258, "cd"), "tie broken by the smaller pair");
    CHECK(attn_bpe_trainer_token(t, 259, NULL) == NULL, "stopped at vocab_size");
    attn_bpe_trainer_free(t);

    o = (attn_bpe_train_opts){.vocab_size = 1000, .min_frequency = 2};
    t = attn_bpe_trainer_new(&o);
    attn_bpe_trainer_feed(t, "xy ab ab", 8);
    CHECK(attn_bpe_trainer_train(t) == 0, "train: %s", attn_last_error());
    attn_bpe_train_stats st;
    attn_bpe_trainer_stats(t, &st);
    /* " ab" twice: "ab" (a < the space's byte-level id) then " ab" reach 2; "xy" (once) not */
    CHECK(st.vocab_size == 259 && token_is(t, 257, "ab") && token_is(t, 258, " ab"), "min_frequency: %d tokens",
          st.vocab_size);
    attn_bpe_trainer_free(t);
}

static int count_tokens(const attn_tokenizer *tok, const char *s, size_t n, bool special, int32_t **ids) {
    int k = -1;
    if (attn_tokenizer_encode(tok, s, n, special, ids, &k)) fprintf(stderr, "encode: %s\n", attn_last_error());
    return k;
}

static bool round_trips(const attn_tokenizer *tok, const char *s, size_t n) {
    int32_t *ids = NULL;
    char *back = NULL;
    size_t blen = 0;
    int k = count_tokens(tok, s, n, false, &ids);
    bool ok = k >= 0 && attn_tokenizer_decode(tok, ids, k, &back, &blen) == 0 && blen == n && memcmp(back, s, n) == 0;
    free(ids), free(back);
    return ok;
}

/* Train 300 tokens on a few KB, save, load with attn_tokenizer_load, use it. */
static void test_small_vocab_round_trip(void) {
    size_t n;
    char *text = sample_text(&n);
    attn_bpe_train_opts o = {.vocab_size = 300, .min_frequency = 2};
    attn_bpe_trainer *t = attn_bpe_trainer_new(&o);
    CHECK(attn_bpe_trainer_feed(t, text, n) == 0 && attn_bpe_trainer_train(t) == 0, "train: %s", attn_last_error());
    CHECK(attn_bpe_trainer_save(t, tmp_path("t300.json")) == 0, "save: %s", attn_last_error());
    attn_bpe_trainer_free(t);
    attn_tokenizer *tok = attn_tokenizer_load(tmp_path("t300.json"));
    CHECK(tok != NULL, "load: %s", attn_last_error());
    if (!tok) return free(text);
    CHECK(attn_tokenizer_vocab_size(tok) == 300, "vocab size %d", attn_tokenizer_vocab_size(tok));
    CHECK(attn_tokenizer_eos(tok) == 0, "<|endoftext|> is id 0, got %d", attn_tokenizer_eos(tok));
    int32_t *ids = NULL;
    int k = count_tokens(tok, text, n, false, &ids);
    CHECK(k > 0 && (size_t)k * 2 < n, "merges shrink %zu bytes to %d tokens (want < half)", n, k);
    free(ids);
    CHECK(round_trips(tok, text, n), "decode(encode(sample)) == sample");
    const char *odd = "naïve café 日本語 \xff\xfe tabs\t\r\n  spaces   <|endoftext|>";
    CHECK(round_trips(tok, odd, strlen(odd)), "round trip of unseen bytes");
    k = count_tokens(tok, "a<|endoftext|>b", 15, true, &ids);
    CHECK(k == 3 && ids[1] == 0, "special token in text -> id 0 (%d tokens)", k);
    free(ids);
    attn_tokenizer_free(tok);
    free(text);
}

/* HF's own merges on Tiny Shakespeare (tools/check_tokenizer_train.py --write-fixture). */
static void test_hf_fixture(void) {
    const char *data = test_data_dir();
    char path[4200];
    if (!data) {
        printf("note: no data dir: HF merges fixture check skipped\n");
        return;
    }
    snprintf(path, sizeof path, "%s/text/tinyshakespeare.txt", data);
    size_t n, fn;
    char *text = attn_read_file(path, &n);
    char *fix = attn_read_file("tests/fixtures/bpe_train/tinyshakespeare-1000.merges", &fn);
    CHECK(text && fix, "read: %s", attn_last_error());
    if (!text || !fix) return free(text), free(fix);
    attn_bpe_train_opts o = {.vocab_size = 1000, .min_frequency = 2};
    attn_bpe_trainer *t = attn_bpe_trainer_new(&o);
    double t0 = attn_time_s();
    CHECK(attn_bpe_trainer_feed(t, text, n) == 0 && attn_bpe_trainer_train(t) == 0, "train: %s", attn_last_error());
    printf("tinyshakespeare, vocab 1000: %.3f s\n", attn_time_s() - t0);
    CHECK(attn_bpe_trainer_save(t, tmp_path("ts1000.json")) == 0, "save: %s", attn_last_error());
    char *json = attn_read_file(tmp_path("ts1000.json"), NULL);
    /* every fixture merge, in order, as "a b" strings in the saved merges array */
    const char *at = json ? strstr(json, "\"merges\"") : NULL;
    int lines = 0, found = 0;
    for (char *line = strchr(fix, '\n') + 1; at && *line; lines++) {
        char *end = strchr(line, '\n'), want[256];
        if (!end) break;
        snprintf(want, sizeof want, "\"%.*s\"", (int)(end - line), line);
        const char *hit = strstr(at, want);
        if (hit) found++, at = hit + strlen(want);
        line = end + 1;
    }
    CHECK(lines == 743 && found == lines, "HF's %d merges found in order: %d", lines, found);
    attn_bpe_train_stats st;
    attn_bpe_trainer_stats(t, &st);
    CHECK(st.n_merges == 743, "%d merges", st.n_merges);
    free(json), free(text), free(fix);
    attn_bpe_trainer_free(t);
}

static void test_chars(void) {
    attn_char_set *cs = attn_char_set_new();
    const char *text = "hello wörld<|endoftext|>\xff";
    attn_char_set_add(cs, text, strlen(text));
    attn_char_set_stats st;
    attn_char_set_get_stats(cs, &st);
    /* ' ' d e h l o r w ö: <|endoftext|> is cut out, the stray byte counted */
    CHECK(st.n_chars == 9 && st.invalid_bytes == 1, "%d chars, %llu invalid", st.n_chars,
          (unsigned long long)st.invalid_bytes);
    CHECK(attn_char_set_save(cs, tmp_path("chars.json")) == 0, "save: %s", attn_last_error());
    attn_char_set_free(cs);
    attn_tokenizer *tok = attn_tokenizer_load(tmp_path("chars.json"));
    CHECK(tok != NULL, "load: %s", attn_last_error());
    if (!tok) return;
    CHECK(attn_tokenizer_vocab_size(tok) == 11 && attn_tokenizer_eos(tok) == 9, "vocab %d eos %d",
          attn_tokenizer_vocab_size(tok), attn_tokenizer_eos(tok));
    int32_t *ids = NULL;
    int k = count_tokens(tok, "hello wörld", strlen("hello wörld"), false, &ids);
    const int32_t want[] = {3, 2, 4, 4, 5, 0, 7, 8, 6, 4, 1};
    CHECK(k == 11 && memcmp(ids, want, sizeof want) == 0, "ids in code point order (%d)", k);
    free(ids);
    k = count_tokens(tok, "hz\xffo<|endoftext|>", 17, true, &ids);
    CHECK(k == 5 && ids[1] == 10 && ids[2] == 10 && ids[3] == 5 && ids[4] == 9, "unknown -> <unk> (10), eot 9");
    free(ids);
    CHECK(round_trips(tok, "hello wörld", strlen("hello wörld")), "chars round trip");
    attn_tokenizer_free(tok);

    cs = attn_char_set_new();
    CHECK(attn_char_set_save(cs, tmp_path("empty.json")) != 0 && strstr(attn_last_error(), "no characters"),
          "empty text refused: %s", attn_last_error());
    attn_char_set_free(cs);
}

static void test_bad_options(void) {
    attn_bpe_train_opts o = {.vocab_size = 256};
    CHECK(attn_bpe_trainer_new(&o) == NULL && strstr(attn_last_error(), "257"), "vocab 256 refused: %s",
          attn_last_error());
    const char *empty[] = {""};
    o = (attn_bpe_train_opts){.vocab_size = 300, .special = empty, .n_special = 1};
    CHECK(attn_bpe_trainer_new(&o) == NULL, "empty special token refused");
    o = (attn_bpe_train_opts){.vocab_size = 300};
    attn_bpe_trainer *t = attn_bpe_trainer_new(&o);
    CHECK(attn_bpe_trainer_save(t, tmp_path("x.json")) != 0, "save before train refused");
    CHECK(attn_bpe_trainer_train(t) == 0, "training on nothing: 257 tokens");
    CHECK(attn_bpe_trainer_feed(t, "a", 1) != 0, "feed after train refused");
    CHECK(attn_bpe_trainer_save(t, "/nonexistent-dir/x.json") != 0, "unwritable path refused");
    attn_bpe_trainer_free(t);
}

int main(void) {
    if (!mkdtemp(tmpdir)) TEST_SKIP("cannot create a temp dir");
    test_hf_unit_case();
    test_ties_and_min_frequency();
    test_small_vocab_round_trip();
    test_hf_fixture();
    test_chars();
    test_bad_options();
    const char *names[] = {"t300.json", "ts1000.json", "chars.json", "empty.json", "x.json"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) unlink(tmp_path(names[i]));
    rmdir(tmpdir);
    return test_finish("test_bpe_train");
}
