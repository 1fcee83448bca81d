/* test_data.c - token shards and `attn data prepare`'s library side: write/read round trips
 * at both widths, every header check (truncated, wrong magic, version, header size, width,
 * trailing bytes), ids beyond the vocabulary (at open), batches (sequential positions and wrap,
 * seeded random offsets, resuming from a cursor), a corpus smaller than one batch, and
 * prepare's split, document separators, slicing (ids equal to encoding the whole text) and
 * errors. Uses GPT-2's tokenizer from the data dir when present, a trained one otherwise. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/common.h"
#include "format/fileio.h"
#include "test.h"
#include "tokenizer/bpe.h"
#include "tokenizer/bpe_train.h"
#include "tokenizer/chars.h"
#include "train/data.h"
#include "train/data_prepare.h"

static char tmpdir[] = "/tmp/attn_test_data.XXXXXX";

/* Paths live in a ring of buffers, enough for the few any one call needs at once. */
static const char *tmp_path(const char *name) {
    static char buf[16][256];
    static int k;
    k = (k + 1) % 16;
    snprintf(buf[k], sizeof buf[k], "%s/%s", tmpdir, name);
    return buf[k];
}

static int write_bytes(const char *path, const void *p, size_t n) { return attn_write_file_atomic(path, p, n); }

/* ---- shards ---- */

static void test_round_trip(void) {
    for (int wide = 0; wide < 2; wide++) {
        uint32_t vocab = wide ? 70000 : 50257;
        int32_t ids[1000];
        for (int i = 0; i < 1000; i++) ids[i] = (int32_t)((uint32_t)i * 2654435761u % vocab);
        const char *p = tmp_path("rt.bin");
        CHECK(attn_shard_write_ids(p, ids, 1000, vocab, 0x1234567890abcdefull, 7) == 0, "write: %s", attn_last_error());
        struct stat st;
        CHECK(stat(p, &st) == 0 && st.st_size == 256 + 1000 * (wide ? 4 : 2), "file size %lld", (long long)st.st_size);
        attn_shard *s = attn_shard_open(p);
        CHECK(s != NULL, "open: %s", attn_last_error());
        if (!s) continue;
        const attn_shard_header *h = attn_shard_info(s);
        CHECK(h->n_tokens == 1000 && h->token_bytes == (wide ? 4u : 2u) && h->vocab_size == vocab &&
                  h->tokenizer_id == 0x1234567890abcdefull && h->eot == 7 && h->version == 1,
              "header fields");
        int32_t back[1000];
        CHECK(attn_shard_read(s, 0, 1000, back) == 0 && memcmp(back, ids, sizeof ids) == 0, "tokens read back");
        CHECK(attn_shard_read(s, 990, 11, back) != 0 && strstr(attn_last_error(), "past the end"), "read past end");
        attn_shard_close(s);
    }
    int32_t bad = 5;
    CHECK(attn_shard_write_ids(tmp_path("bad.bin"), &bad, 1, 5, 0, -1) != 0, "writer refuses id >= vocab");
}

/* A valid 10-token uint16 shard's bytes, for corrupting. */
static size_t valid_shard(uint8_t *buf) {
    attn_shard_header h = {1, 10, 2, 100, 42, -1};
    attn_shard_encode_header(&h, buf);
    for (int i = 0; i < 10; i++) buf[256 + 2 * i] = (uint8_t)(i * 9), buf[257 + 2 * i] = 0;
    return 256 + 20;
}

static void expect_open_error(const char *what, const uint8_t *buf, size_t n, const char *msg) {
    const char *p = tmp_path("corrupt.bin");
    write_bytes(p, buf, n);
    attn_shard *s = attn_shard_open(p);
    CHECK(s == NULL && strstr(attn_last_error(), msg) && strstr(attn_last_error(), p), "%s: '%s' (wanted '%s')", what,
          s ? "(opened)" : attn_last_error(), msg);
    attn_shard_close(s);
}

static void test_header_validation(void) {
    uint8_t buf[512];
    size_t n = valid_shard(buf);
    expect_open_error("empty file", buf, 0, "truncated");
    expect_open_error("short header", buf, 100, "truncated");
    expect_open_error("truncated body", buf, n - 3, "truncated");
    expect_open_error("header only", buf, 256, "truncated");
    buf[n] = 0;
    expect_open_error("trailing bytes", buf, n + 1, "after the");
    n = valid_shard(buf), buf[0] = 'X';
    expect_open_error("wrong magic", buf, n, "not an attn token shard");
    n = valid_shard(buf), buf[8] = 2;
    expect_open_error("wrong version", buf, n, "version 2 is not supported");
    n = valid_shard(buf), buf[12] = 128;
    expect_open_error("wrong header size", buf, n, "header size");
    n = valid_shard(buf), buf[24] = 3;
    expect_open_error("3-byte tokens", buf, n, "bytes per token");
    n = valid_shard(buf), buf[30] = 2; /* vocab 131172 in uint16 */
    expect_open_error("vocab too big for uint16", buf, n, "impossible");
    n = valid_shard(buf), buf[16] = 0xff, buf[23] = 0xff; /* huge token count */
    expect_open_error("absurd token count", buf, n, "truncated");
    attn_shard *s = attn_shard_open(tmp_path("missing.bin"));
    CHECK(s == NULL && strstr(attn_last_error(), "cannot open"), "missing file: %s", attn_last_error());

    /* an id >= vocab is found at open, wherever it is, and named by its position */
    n = valid_shard(buf);
    buf[256 + 2 * 9] = 100;
    write_bytes(tmp_path("badid.bin"), buf, n);
    s = attn_shard_open(tmp_path("badid.bin"));
    CHECK(s == NULL && strstr(attn_last_error(), "token id 100 at position 9"), "id >= vocab: %s", attn_last_error());
    attn_shard_close(s);
}

/* ---- batches ---- */

static attn_shard *counting_shard(uint64_t n) {
    int32_t *ids = malloc(n * sizeof *ids);
    for (uint64_t i = 0; i < n; i++) ids[i] = (int32_t)i;
    attn_shard_write_ids(tmp_path("count.bin"), ids, n, (uint32_t)n, 0, -1);
    free(ids);
    return attn_shard_open(tmp_path("count.bin"));
}

static void test_sequential(void) {
    attn_shard *s = counting_shard(100);
    enum { B = 2, T = 8 };
    int32_t out[B * (T + 1)];
    attn_batch_cursor c = {.sequential = true};
    CHECK(attn_shard_batches_per_epoch(s, B, T) == 6, "99 / 16 = 6 batches per epoch");
    bool ok = true;
    for (uint64_t k = 0; k < 14; k++) {
        ok &= attn_shard_next_batch(s, &c, B, T, out) == 0;
        uint64_t start = (k % 6) * B * T; /* wraps after 6 batches */
        for (int b = 0; b < B; b++)
            for (int t = 0; t <= T; t++) ok &= out[b * (T + 1) + t] == (int32_t)(start + (uint64_t)(b * T + t));
    }
    CHECK(ok && c.batch == 14, "sequential batches: consecutive, overlapping by one target, wrapping");
    attn_shard_close(s);
}

static void test_random_and_resume(void) {
    attn_shard *s = counting_shard(5000);
    enum { B = 4, T = 16 };
    int32_t a[B * (T + 1)], b[B * (T + 1)];
    attn_batch_cursor c1 = {.seed = 7}, c2 = {.seed = 7}, c3 = {.seed = 8};
    bool in_range = true, contiguous = true;
    for (int k = 0; k < 50; k++) {
        attn_shard_next_batch(s, &c1, B, T, a);
        for (int r = 0; r < B; r++) {
            in_range &= a[r * (T + 1)] >= 0 && a[r * (T + 1) + T] < 5000;
            for (int t = 1; t <= T; t++) contiguous &= a[r * (T + 1) + t] == a[r * (T + 1) + t - 1] + 1;
        }
    }
    CHECK(in_range && contiguous, "random rows are in range and contiguous");
    attn_batch_cursor saved = c1; /* resume: same seed and batch number, same stream */
    attn_shard_next_batch(s, &c1, B, T, a);
    attn_shard_next_batch(s, &saved, B, T, b);
    CHECK(memcmp(a, b, sizeof a) == 0, "a saved cursor resumes the same batch");
    for (int k = 0; k < 51; k++) attn_shard_next_batch(s, &c2, B, T, b);
    CHECK(memcmp(a, b, sizeof a) == 0, "same seed, same batch 50");
    for (int k = 0; k < 51; k++) attn_shard_next_batch(s, &c3, B, T, b);
    CHECK(memcmp(a, b, sizeof a) != 0, "another seed, other offsets");
    attn_shard_close(s);
}

static void test_tiny_corpus(void) {
    attn_shard *s = counting_shard(16);
    int32_t out[2 * 9];
    attn_batch_cursor c = {0};
    CHECK(attn_shard_next_batch(s, &c, 2, 8, out) != 0 && strstr(attn_last_error(), "fewer than one batch"),
          "16 tokens < 2*8+1: %s", attn_last_error());
    CHECK(attn_shard_next_batch(s, &c, 1, 15, out) == 0, "exactly one batch fits");
    attn_shard_close(s);
    attn_shard_write_ids(tmp_path("empty.bin"), NULL, 0, 10, 0, -1);
    s = attn_shard_open(tmp_path("empty.bin"));
    CHECK(s && attn_shard_info(s)->n_tokens == 0, "an empty shard opens");
    CHECK(s && attn_shard_next_batch(s, &c, 1, 1, out) != 0 && strstr(attn_last_error(), "0 tokens"),
          "empty shard: %s", attn_last_error());
    attn_shard_close(s);
}

/* ---- prepare ---- */

static int32_t *shard_ids(const char *path, uint64_t *n) {
    attn_shard *s = attn_shard_open(path);
    *n = s ? attn_shard_info(s)->n_tokens : 0;
    int32_t *ids = malloc((*n + 1) * sizeof *ids);
    if (!s || attn_shard_read(s, 0, (size_t)*n, ids)) fprintf(stderr, "%s: %s\n", path, attn_last_error());
    attn_shard_close(s);
    return ids;
}

static int prepare(const char *const *inputs, int n, const char *tok, double val, size_t slice,
                   attn_data_prepare_result *r) {
    attn_data_prepare_opts o = {.inputs = inputs, .n_inputs = n, .out_dir = tmp_path("out"), .tokenizer = tok,
                                .val_fraction = val, .slice_bytes = slice};
    return attn_data_prepare(&o, r);
}

/* The character tokenizer makes the split visible: one id per character. */
static void test_prepare_split(void) {
    const char *a = tmp_path("a.txt"), *b = tmp_path("b.txt");
    write_bytes(a, "abcdefghij", 10);
    write_bytes(b, "ééé\n", 7);
    attn_char_set *cs = attn_char_set_new();
    attn_char_set_add(cs, "abcdefghijé\n", strlen("abcdefghijé\n"));
    attn_char_set_save(cs, tmp_path("chars.json"));
    attn_char_set_free(cs);
    attn_data_prepare_result r;
    const char *both[] = {a, b};
    CHECK(prepare(both, 2, tmp_path("chars.json"), 0.25, 0, &r) == 0, "prepare: %s", attn_last_error());
    /* ids: '\n' 0, a-j 1-10, é 11, <|endoftext|> 12, <unk> 13. a: int(10 * 0.75) = 7 chars to
     * train; b: int(4 * 0.75) = 3 ("ééé"); <|endoftext|> joins the files in each shard */
    uint64_t nt, nv;
    int32_t *t = shard_ids(tmp_path("out/train.bin"), &nt), *v = shard_ids(tmp_path("out/val.bin"), &nv);
    const int32_t want_t[] = {1, 2, 3, 4, 5, 6, 7, 12, 11, 11, 11}, want_v[] = {8, 9, 10, 12, 0};
    CHECK(nt == 11 && memcmp(t, want_t, sizeof want_t) == 0, "train ids (%llu)", (unsigned long long)nt);
    CHECK(nv == 5 && memcmp(v, want_v, sizeof want_v) == 0, "val ids (%llu)", (unsigned long long)nv);
    CHECK(r.train_tokens == 11 && r.val_tokens == 5 && r.bytes == 17 && r.token_bytes == 2 && r.vocab_size == 14,
          "result fields");
    uint64_t id;
    CHECK(attn_data_tokenizer_id(tmp_path("out"), &id) == 0 && id == r.tokenizer_id, "the folder's copy has the id");
    free(t), free(v);
    CHECK(prepare(both, 2, tmp_path("chars.json"), 0, 0, &r) == 0 && r.val_tokens == 0 && r.train_tokens == 15,
          "val fraction 0: everything in train (%llu)", (unsigned long long)r.train_tokens);

    const char *e = tmp_path("e.txt");
    write_bytes(e, "", 0);
    CHECK(prepare(&e, 1, tmp_path("chars.json"), 0.1, 0, &r) != 0 && strstr(attn_last_error(), "empty"),
          "empty input: %s", attn_last_error());
    CHECK(prepare(both, 2, tmp_path("nope.json"), 0.1, 0, &r) != 0 && strstr(attn_last_error(), "nope.json"),
          "missing tokenizer: %s", attn_last_error());
    const char *missing = tmp_path("missing.txt");
    CHECK(prepare(&missing, 1, tmp_path("chars.json"), 0.1, 0, &r) != 0 && strstr(attn_last_error(), "missing.txt"),
          "missing input: %s", attn_last_error());
    CHECK(prepare(both, 2, tmp_path("chars.json"), 1.0, 0, &r) != 0, "val fraction 1 refused");
}

/* Small slices must give the ids of encoding each portion whole. */
static void test_prepare_slices(void) {
    const char *data = test_data_dir();
    char gpt2[4200], text_path[4200];
    const char *tok = tmp_path("bpe.json");
    size_t n = 0;
    char *text = NULL;
    bool have_gpt2 = false;
    if (data) {
        snprintf(gpt2, sizeof gpt2, "%s/gpt2", data);
        snprintf(text_path, sizeof text_path, "%s/text/tinyshakespeare.txt", data);
        text = attn_read_file(text_path, &n);
        if (text) tok = gpt2, have_gpt2 = true;
    }
    if (!text) { /* no data: a trained tokenizer over generated lines */
        text = malloc(200000);
        for (int i = 0; i < 5000; i++) n += (size_t)sprintf(text + n, "Line %d: to be,  or not\t%s\n\n", i * 7, i % 3 ? "x" : " ");
        attn_bpe_train_opts o = {.vocab_size = 400};
        attn_bpe_trainer *t = attn_bpe_trainer_new(&o);
        attn_bpe_trainer_feed(t, text, n), attn_bpe_trainer_train(t), attn_bpe_trainer_save(t, tok);
        attn_bpe_trainer_free(t);
    }
    write_bytes(tmp_path("big.txt"), text, n);
    const char *in = tmp_path("big.txt");
    attn_data_prepare_result r;
    CHECK(prepare(&in, 1, tok, 0.1, 1000, &r) == 0, "prepare: %s", attn_last_error());
    attn_tokenizer *t = attn_tokenizer_load(tok);
    size_t cut = (size_t)((double)n * 0.9); /* ASCII text: characters are bytes */
    int32_t *whole = NULL;
    int k = 0;
    attn_tokenizer_encode(t, text, cut, true, &whole, &k);
    uint64_t nt;
    int32_t *got = shard_ids(tmp_path("out/train.bin"), &nt);
    CHECK(nt == (uint64_t)k && memcmp(got, whole, (size_t)k * sizeof *got) == 0,
          "%s: 1000-byte slices give the whole text's %d ids (got %llu)", have_gpt2 ? "GPT-2" : "trained BPE", k,
          (unsigned long long)nt);
    if (have_gpt2) CHECK(nt == 301966 && r.val_tokens == 36059, "nanoGPT's shakespeare counts: 301966 / 36059");
    free(got), free(whole), free(text);
    attn_tokenizer_free(t);
}

static void test_tokenizer_id(void) {
    write_bytes(tmp_path("tk.json"), "abc", 3);
    uint64_t id = 0, want = 0xCBF29CE484222325ull;
    for (const char *p = "abc"; *p; p++) want = (want ^ (uint8_t)*p) * 0x100000001B3ull;
    CHECK(attn_data_tokenizer_id(tmp_path("tk.json"), &id) == 0 && id == want, "FNV-1a 64 of the file");
    CHECK(attn_data_tokenizer_id(tmpdir, &id) != 0 && strstr(attn_last_error(), "neither"), "folder without one");
}

static void cleanup(void) {
    const char *names[] = {"rt.bin", "bad.bin", "corrupt.bin", "badid.bin", "count.bin", "empty.bin", "a.txt",
                           "b.txt", "e.txt", "chars.json", "bpe.json", "big.txt", "tk.json", "out/train.bin",
                           "out/val.bin", "out/tokenizer.json", "out/vocab.json", "out/merges.txt"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) unlink(tmp_path(names[i]));
    rmdir(tmp_path("out"));
    rmdir(tmpdir);
}

int main(void) {
    if (!mkdtemp(tmpdir)) TEST_SKIP("cannot create a temp dir");
    test_round_trip();
    test_header_validation();
    test_sequential();
    test_random_and_resume();
    test_tiny_corpus();
    test_prepare_split();
    test_prepare_slices();
    test_tokenizer_id();
    cleanup();
    return test_finish("test_data");
}
