/* test_tokenizer.c - the GPT-2 byte-level BPE tokenizer against its references: llama.cpp's
 * 46 vocab test cases, tiktoken's "gpt2" encoding over 17 MB of corpora (hashes in
 * tests/fixtures/tokenizer/, made by tools/make_tokenizer_fixtures.py), tiktoken's regex
 * classes for every code point, the two file formats against each other, exact round trips
 * of arbitrary bytes, special tokens, a tiny merge-free tokenizer, and bad files. Checks that
 * need the GPT-2 files skip (exit 77) when the data directory is missing. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <utf8proc.h>
#include "core/common.h"
#include "test.h"
#include "tokenizer/bpe.h"
#include "tokenizer/bpe_internal.h"

/* ---- helpers ---- */

enum { PATH_BUF = 8192 };

/* data/rel into out[PATH_BUF] (a data dir path is below 4096 bytes, so it always fits). */
static const char *data_path(char *out, const char *data, const char *rel) {
    if (snprintf(out, PATH_BUF, "%s/%s", data, rel) >= PATH_BUF) out[0] = 0;
    return out;
}

static int enc(const attn_tokenizer *t, const char *s, size_t n, bool special, int32_t **ids) {
    int count = -1;
    if (attn_tokenizer_encode(t, s, n, special, ids, &count) != 0) {
        fprintf(stderr, "encode failed: %s\n", attn_last_error());
        return -1;
    }
    return count;
}

static uint64_t fnv1a64_ids(const int32_t *ids, int n) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (int i = 0; i < n; i++)
        for (int b = 0; b < 4; b++) h = (h ^ (((uint32_t)ids[i] >> (8 * b)) & 0xff)) * 0x100000001b3ull;
    return h;
}

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint64_t rng(void) { /* xorshift64: fixed seed, so failures reproduce */
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

/* decode(encode(s)) == s, with and without special-token parsing. */
static bool round_trips(const attn_tokenizer *t, const char *s, size_t n) {
    bool ok = true;
    for (int special = 0; special < 2; special++) {
        int32_t *ids = NULL;
        char *back = NULL;
        size_t blen = 0;
        int k = enc(t, s, n, special, &ids);
        ok = ok && k >= 0 && attn_tokenizer_decode(t, ids, k, &back, &blen) == 0 && blen == n &&
             memcmp(back, s, n) == 0;
        free(ids);
        free(back);
    }
    return ok;
}

static bool ids_equal(const int32_t *a, int na, const int32_t *b, int nb) {
    return na == nb && (na == 0 || memcmp(a, b, (size_t)na * sizeof *a) == 0);
}

/* A corpus file, decompressed when it ends in .gz (zlib is not linked: gzip does it). */
static char *read_corpus(const char *path, size_t *n) {
    size_t plen = strlen(path);
    if (plen < 3 || strcmp(path + plen - 3, ".gz") != 0) return attn_read_file(path, n);
    char cmd[PATH_BUF + 16];
    snprintf(cmd, sizeof cmd, "gzip -dc '%s'", path);
    FILE *p = popen(cmd, "r");
    if (!p) return NULL;
    size_t cap = 1 << 20, len = 0, got;
    char *buf = malloc(cap);
    while (buf && (got = fread(buf + len, 1, cap - len, p)) > 0) {
        len += got;
        if (len == cap) {
            char *nb = realloc(buf, cap *= 2);
            if (!nb) free(buf);
            buf = nb;
        }
    }
    if (pclose(p) != 0 || !buf) {
        free(buf);
        return NULL;
    }
    *n = len;
    return buf;
}

/* The committed fixtures, found from the repo root or a build directory below it. */
static FILE *open_fixture(const char *name) {
    const char *dirs[] = {"tests/fixtures/tokenizer", "../tests/fixtures/tokenizer",
                          "../../tests/fixtures/tokenizer"};
    char path[512];
    for (size_t i = 0; i < sizeof dirs / sizeof *dirs; i++) {
        snprintf(path, sizeof path, "%s/%s", dirs[i], name);
        FILE *f = fopen(path, "r");
        if (f) return f;
    }
    return NULL;
}

static int write_file(const char *path, const char *text) {
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    fputs(text, f);
    return fclose(f);
}

/* ---- pre-tokenizer ---- */

/* Pieces of s joined with '|'. */
static void split_pieces(const char *s, size_t n, char *out) {
    size_t o = 0;
    for (size_t pos = 0; pos < n;) {
        size_t end = bpe_gpt2_piece_end((const uint8_t *)s, n, pos);
        if (pos) out[o++] = '|';
        memcpy(out + o, s + pos, end - pos);
        o += end - pos;
        pos = end;
    }
    out[o] = 0;
}

static void test_pretokenizer(void) {
    static const struct { const char *in, *want; } cases[] = {
        {"Hello world", "Hello| world"},
        {"a  b", "a| | b"},
        {"a \n\n b", "a| \n\n| b"},
        {"x   ", "x|   "},
        {"I'm they'll we've it's 'S", "I|'m| they|'ll| we|'ve| it|'s| '|S"},
        {"?'s", "?'|s"},
        {"3.14 1234567", "3|.|14| 1234567"},
        {"\t\tfoo\r\nbar", "\t|\t|foo|\r|\n|bar"}, /* only a space joins a word */
        {"caf\xc3\xa9 na\xc3\xafve", "caf\xc3\xa9| na\xc3\xafve"},
        {"e\xcc\x81t\xc3\xa9", "e|\xcc\x81|t\xc3\xa9"}, /* a combining mark is not \p{L} */
        {"\xff\xfe ab\x80", "\xff\xfe| ab|\x80"},          /* invalid bytes are "other" */
        {" \xe2\x80\x83x", " |\xe2\x80\x83|x"},             /* U+2003 em space is \s */
    };
    char got[256];
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        split_pieces(cases[i].in, strlen(cases[i].in), got);
        CHECK(strcmp(got, cases[i].want) == 0, "split '%s' -> '%s', want '%s'", cases[i].in, got,
              cases[i].want);
    }
    int32_t cp;
    CHECK(bpe_utf8_decode((const uint8_t *)"\xc0\xaf", 2, &cp) == 1 && cp == -1, "overlong");
    CHECK(bpe_utf8_decode((const uint8_t *)"\xed\xa0\x80", 3, &cp) == 1 && cp == -1, "surrogate");
    CHECK(bpe_utf8_decode((const uint8_t *)"\xf4\x90\x80\x80", 4, &cp) == 1 && cp == -1, ">10FFFF");
    CHECK(bpe_utf8_decode((const uint8_t *)"\xf0\x9f\x98\x80", 4, &cp) == 4 && cp == 0x1F600,
          "emoji decodes");
    CHECK(bpe_utf8_decode((const uint8_t *)"\xe2\x82", 2, &cp) == 1 && cp == -1, "truncated");
}

/* Every code point's class against what tiktoken's regex does with it. */
static void test_classes(void) {
    FILE *f = open_fixture("tiktoken_gpt2_classes.tsv");
    CHECK(f != NULL, "tests/fixtures/tokenizer/tiktoken_gpt2_classes.tsv not found (run from the repo root)");
    if (!f) return;
    static uint8_t want[0x110000]; /* everything not listed is "other" */
    memset(want, BPE_CLS_OTHER, sizeof want);
    char line[256];
    while (fgets(line, sizeof line, f)) {
        unsigned lo, hi;
        char c;
        if (line[0] == '#' || sscanf(line, "%x %x %c", &lo, &hi, &c) != 3 || hi >= 0x110000) continue;
        int cls = c == 'L' ? BPE_CLS_LETTER : c == 'N' ? BPE_CLS_NUMBER : BPE_CLS_SPACE;
        for (unsigned cp = lo; cp <= hi; cp++) want[cp] = (uint8_t)cls;
    }
    fclose(f);
    int bad = 0;
    for (int32_t cp = 0; cp < 0x110000; cp++) {
        if (cp >= 0xD800 && cp <= 0xDFFF) continue;
        int got = bpe_codepoint_class(cp);
        if (got != want[cp] && ++bad <= 5)
            fprintf(stderr, "class of U+%04X: %d, tiktoken %d\n", (unsigned)cp, got, want[cp]);
    }
    printf("code point classes: %d of 1112064 differ from tiktoken\n", bad);
    CHECK(bad == 0, "%d code points classed differently from tiktoken", bad);
}

/* ---- GPT-2 ---- */

static void test_vocab_cases(const attn_tokenizer *t, const char *data) {
    char path[PATH_BUF];
    size_t ni, no;
    data_path(path, data, "vocab-tests/ggml-vocab-gpt-2.gguf.inp");
    char *inp = attn_read_file(path, &ni);
    data_path(path, data, "vocab-tests/ggml-vocab-gpt-2.gguf.out");
    char *out = attn_read_file(path, &no);
    CHECK(inp && out, "vocab test files: %s", attn_last_error());
    if (!inp || !out) goto done;
    const char *sep = "\n__ggml_vocab_test__\n";
    int cases = 0, pass = 0;
    char *p = inp, *o = out;
    for (char *end; (end = strstr(p, sep)) != NULL; p = end + strlen(sep), cases++) {
        char *eol = strchr(o, '\n');
        if (eol) *eol = 0;
        int32_t want[512], *ids = NULL;
        int nw = 0, off;
        for (char *q = o; nw < 512 && sscanf(q, "%d%n", &want[nw], &off) == 1; q += off) nw++;
        o = eol ? eol + 1 : o + strlen(o);
        int n = enc(t, p, (size_t)(end - p), false, &ids);
        bool ok = ids_equal(ids, n, want, nw);
        pass += ok;
        CHECK(ok, "vocab case %d ('%.*s'): %d ids, want %d", cases, (int)(end - p), p, n, nw);
        CHECK(round_trips(t, p, (size_t)(end - p)), "vocab case %d round trip", cases);
        free(ids);
    }
    printf("llama.cpp gpt-2 vocab tests: %d/%d pass\n", pass, cases);
    CHECK(cases == 46, "%d vocab cases, want 46", cases);
done:
    free(inp);
    free(out);
}

/* Both file formats, and a tokenizer.json named directly, must be the same tokenizer. */
static void test_loaders_agree(const attn_tokenizer *a, const char *data) {
    char path[PATH_BUF];
    data_path(path, data, "gpt2/tokenizer.json");
    attn_tokenizer *b = attn_tokenizer_load(path);
    CHECK(b != NULL, "load %s: %s", path, attn_last_error());
    /* vocab.json + merges.txt: a directory with only those (tokenizer.json is preferred) */
    char dir[] = "/tmp/attn_tok_vmXXXXXX", v[PATH_BUF], m[PATH_BUF], src[PATH_BUF];
    attn_tokenizer *c = NULL;
    if (mkdtemp(dir)) {
        snprintf(v, sizeof v, "%s/vocab.json", dir);
        snprintf(m, sizeof m, "%s/merges.txt", dir);
        data_path(path, data, "gpt2/vocab.json");
        CHECK(realpath(path, src) && symlink(src, v) == 0, "symlink vocab.json");
        data_path(path, data, "gpt2/merges.txt");
        CHECK(realpath(path, src) && symlink(src, m) == 0, "symlink merges.txt");
        c = attn_tokenizer_load(dir);
        CHECK(c != NULL, "load vocab.json + merges.txt: %s", attn_last_error());
        unlink(v);
        unlink(m);
        rmdir(dir);
    }
    if (!b || !c) goto done;
    CHECK(attn_tokenizer_vocab_size(a) == 50257 && attn_tokenizer_vocab_size(b) == 50257 &&
              attn_tokenizer_vocab_size(c) == 50257, "vocab sizes %d %d %d",
          attn_tokenizer_vocab_size(a), attn_tokenizer_vocab_size(b), attn_tokenizer_vocab_size(c));
    CHECK(attn_tokenizer_eos(c) == 50256, "eos from vocab.json: %d", (int)attn_tokenizer_eos(c));
    data_path(path, data, "text/tinyshakespeare.txt");
    size_t n;
    char *text = attn_read_file(path, &n);
    CHECK(text != NULL, "%s", attn_last_error());
    if (text) {
        const char *extra = "<|endoftext|> caf\xc3\xa9 \xf0\x9f\x91\xa9\xe2\x80\x8d\xf0\x9f\x92\xbb \xff";
        memcpy(text + 100000, extra, strlen(extra)); /* specials and odd bytes too */
        for (int special = 0; special < 2; special++) {
            int32_t *x = NULL, *y = NULL, *z = NULL;
            int nx = enc(a, text, 200000, special, &x), ny = enc(b, text, 200000, special, &y);
            int nz = enc(c, text, 200000, special, &z);
            CHECK(nx > 0 && ids_equal(x, nx, y, ny) && ids_equal(x, nx, z, nz),
                  "loaders disagree (special=%d): %d %d %d ids", special, nx, ny, nz);
            free(x);
            free(y);
            free(z);
        }
    }
    free(text);
done:
    attn_tokenizer_free(b);
    attn_tokenizer_free(c);
}

static void test_round_trips(const attn_tokenizer *t) {
    static const char *texts[] = {
        "",
        "\xf0\x9f\x91\xa8\xe2\x80\x8d\xf0\x9f\x91\xa9\xe2\x80\x8d\xf0\x9f\x91\xa7 family ZWJ",
        "\xf0\x9f\x8f\xb3\xef\xb8\x8f\xe2\x80\x8d\xf0\x9f\x8c\x88 flag, \xf0\x9f\x91\x8d\xf0\x9f\x8f\xbd skin",
        "\xe4\xbd\xa0\xe5\xa5\xbd\xef\xbc\x8c\xe4\xb8\x96\xe7\x95\x8c\xe3\x80\x82 \xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e",
        "\xed\x95\x9c\xea\xb5\xad\xec\x96\xb4 \xe0\xb8\xa0\xe0\xb8\xb2\xe0\xb8\xa9\xe0\xb8\xb2\xe0\xb9\x84\xe0\xb8\x97\xe0\xb8\xa2",
        "e\xcc\x81 a\xcc\x88\xcc\x84 Z\xcd\x91\xcd\x97\xcd\x9b\xcc\xa1\x61\xcc\xb4lgo", /* combining marks */
        "line\r\nline\r\n\r\n\n\r",
        "    four  two\t\ttabs \t \t mixed   \n   \n",
        "\x00\x01\x02 nul and controls \x7f\x1f",
        "<|endoftext|>text<|endoftext|><|endoftext|><|endof",
    };
    for (size_t i = 0; i < sizeof texts / sizeof *texts; i++)
        CHECK(round_trips(t, texts[i], strlen(texts[i])), "round trip of text %zu", i);
    CHECK(round_trips(t, "a\0b\0\0", 5), "round trip with NULs");
    char buf[600];
    int bad = 0;
    for (int r = 0; r < 2000; r++) { /* random bytes: mostly invalid UTF-8 */
        size_t n = rng() % sizeof buf;
        bool ascii_heavy = r & 1;
        for (size_t i = 0; i < n; i++) {
            uint64_t x = rng();
            buf[i] = ascii_heavy && (x & 0x300) ? " a1'\n\t.Z"[x % 8] : (char)(x >> 24);
        }
        bad += !round_trips(t, buf, n);
    }
    CHECK(bad == 0, "%d of 2000 random byte strings do not round-trip", bad);
}

static void test_special(const attn_tokenizer *t) {
    const char *s = "a<|endoftext|>b";
    int32_t *ids = NULL;
    int n = enc(t, s, strlen(s), true, &ids);
    CHECK(n == 3 && ids[0] == 64 && ids[1] == 50256 && ids[2] == 65, "parse_special: %d ids", n);
    free(ids);
    n = enc(t, s, strlen(s), false, &ids);
    bool has = false;
    for (int i = 0; i < n; i++) has |= ids[i] == 50256;
    CHECK(n > 3 && !has, "plain text <|endoftext|>: %d ids, eos present %d", n, has);
    free(ids);
    CHECK(attn_tokenizer_eos(t) == 50256, "eos %d", (int)attn_tokenizer_eos(t));
    CHECK(attn_tokenizer_find(t, "<|endoftext|>") == 50256, "find eos");
    CHECK(attn_tokenizer_find(t, "\xc4\xa0the") == 262, "find Gthe");
    CHECK(attn_tokenizer_find(t, "no such token") == -1, "find missing");
    size_t len = 0;
    const char *b = attn_tokenizer_token_bytes(t, 262, &len);
    CHECK(b && len == 4 && memcmp(b, " the", 4) == 0, "token 262 bytes");
    b = attn_tokenizer_token_bytes(t, 50256, &len);
    CHECK(b && len == 13 && memcmp(b, "<|endoftext|>", 13) == 0, "eos bytes");
    CHECK(attn_tokenizer_token_bytes(t, -1, &len) == NULL, "id -1");
    CHECK(attn_tokenizer_token_bytes(t, 50257, &len) == NULL, "id 50257");
    int32_t bad_ids[] = {262, 50257};
    char *text = NULL;
    CHECK(attn_tokenizer_decode(t, bad_ids, 2, &text, &len) == -1 && !text, "decode bad id");
    CHECK(attn_tokenizer_decode(t, bad_ids, 0, &text, &len) == 0 && text && len == 0 && !*text,
          "decode nothing");
    free(text);
}

/* 532 pieces of four corpora, each against tiktoken's token count and id hash. */
static void test_tiktoken_corpora(const attn_tokenizer *t, const char *data) {
    FILE *f = open_fixture("tiktoken_gpt2.tsv");
    CHECK(f != NULL, "tests/fixtures/tokenizer/tiktoken_gpt2.tsv not found (run from the repo root)");
    if (!f) return;
    char line[1024], cur[256] = "", name[256], path[PATH_BUF];
    char *text = NULL;
    size_t text_len = 0, bytes = 0;
    int pieces = 0, matched = 0, first_bad = 1;
    double secs = 0;
    while (fgets(line, sizeof line, f)) {
        unsigned long long off, len, hash;
        int count;
        if (line[0] == '#' || sscanf(line, "%255s %llu %llu %d %llx", name, &off, &len, &count, &hash) != 5)
            continue;
        if (strcmp(name, cur) != 0) {
            free(text);
            data_path(path, data, name);
            text = read_corpus(path, &text_len);
            CHECK(text != NULL, "cannot read %s", path);
            snprintf(cur, sizeof cur, "%s", name);
        }
        pieces++;
        if (!text || off + len > text_len) continue;
        int32_t *ids = NULL;
        double t0 = attn_time_s();
        int n = enc(t, text + off, len, false, &ids);
        secs += attn_time_s() - t0;
        bool ok = n == count && fnv1a64_ids(ids, n) == hash;
        if (!ok && first_bad) {
            fprintf(stderr, "first mismatch: %s piece at byte %llu (%llu bytes): %d ids, tiktoken %d\n",
                    name, off, len, n, count);
            first_bad = 0;
        }
        matched += ok;
        bytes += len;
        free(ids);
    }
    free(text);
    fclose(f);
    printf("tiktoken gpt2: %d/%d pieces match, %.2f MB compared, %.1f MB/s\n", matched, pieces,
           bytes / 1e6, secs > 0 ? bytes / 1e6 / secs : 0.0);
    CHECK(pieces > 500 && matched == pieces, "%d of %d pieces match tiktoken", matched, pieces);
}

/* Whole-file encode speed (one call, one thread) and inputs built to be slow. */
static void test_speed_and_extremes(const attn_tokenizer *t, const char *data) {
    char path[PATH_BUF];
    data_path(path, data, "text/tinyshakespeare.txt");
    size_t n;
    char *text = attn_read_file(path, &n);
    if (text) {
        double best = 1e9;
        for (int rep = 0; rep < 3; rep++) { /* best of 3: the machine may be shared */
            int32_t *ids = NULL;
            double t0 = attn_time_s();
            int k = enc(t, text, n, false, &ids);
            best = ATTN_MIN(best, attn_time_s() - t0);
            CHECK(k == 338025, "tinyshakespeare: %d tokens, tiktoken 338025", k);
            free(ids);
        }
        printf("encode tinyshakespeare: %.2f MB in %.3f s = %.1f MB/s (one thread, best of 3)\n",
               n / 1e6, best, n / 1e6 / best);
    }
    free(text);
    size_t big = 1 << 20;
    char *s = malloc(big);
    const char fills[] = {'a', ' ', '7', '!', '\n'};
    for (size_t i = 0; s && i < sizeof fills; i++) { /* one piece of a megabyte each */
        memset(s, fills[i], big);
        double t0 = attn_time_s();
        CHECK(round_trips(t, s, big), "1 MB of '%c' round-trips", fills[i]);
        CHECK(attn_time_s() - t0 < 20, "1 MB of '%c' took %.1f s", fills[i], attn_time_s() - t0);
    }
    for (size_t i = 0; s && i < big; i++) s[i] = (char)(rng() >> 32);
    CHECK(s && round_trips(t, s, big), "1 MB of random bytes round-trips");
    free(s);
}

/* ---- hand-made tokenizers and bad files ---- */

/* The tokenizer.json of the project's default random model: the 256 byte tokens in byte
 * order, no merges, and <|endoftext|> as id 256. Written bare, or with the fields HF
 * writes (pre_tokenizer, decoder, normalizer null, the added token's flags). */
static char *tiny_tokenizer_json(bool full) {
    size_t cap = 16384, o = 0;
    char *j = malloc(cap);
    if (full)
        o += (size_t)snprintf(j + o, cap - o, "{\"version\": \"1.0\", \"normalizer\": null, "
                              "\"pre_tokenizer\": {\"type\": \"ByteLevel\", \"add_prefix_space\": false, "
                              "\"trim_offsets\": true, \"use_regex\": true}, \"decoder\": {\"type\": "
                              "\"ByteLevel\"}, ");
    else
        o += (size_t)snprintf(j + o, cap - o, "{");
    o += (size_t)snprintf(j + o, cap - o, "\"model\": {\"type\": \"BPE\", \"vocab\": {");
    for (int b = 0; b < 256; b++) {
        unsigned cp = (unsigned)bpe_byte_to_unicode((uint8_t)b); /* \\u escapes: no quoting issues */
        o += (size_t)snprintf(j + o, cap - o, "%s\"\\u%04x\": %d", b ? ", " : "", cp, b);
    }
    snprintf(j + o, cap - o, "%s}, \"merges\": []}, \"added_tokens\": [{\"id\": 256, \"content\": "
             "\"<|endoftext|>\", \"single_word\": false, \"lstrip\": false, \"special\": true}]}",
             full ? ", \"<|endoftext|>\": 256" : "");
    return j;
}

static void test_tiny(const char *dir, bool full) {
    char path[4200];
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    char *json = tiny_tokenizer_json(full);
    CHECK(write_file(path, json) == 0, "write %s", path);
    free(json);
    attn_tokenizer *t = attn_tokenizer_load(dir);
    CHECK(t != NULL, "tiny tokenizer (full %d): %s", full, attn_last_error());
    if (!t) return;
    CHECK(attn_tokenizer_vocab_size(t) == 257, "tiny vocab %d", attn_tokenizer_vocab_size(t));
    CHECK(attn_tokenizer_eos(t) == 256, "tiny eos %d", (int)attn_tokenizer_eos(t));
    int32_t *ids = NULL;
    int n = enc(t, "hi <|endoftext|>", 16, true, &ids);
    CHECK(n == 4 && ids[0] == 'h' && ids[1] == 'i' && ids[2] == ' ' && ids[3] == 256, "tiny ids");
    free(ids);
    n = enc(t, "hi <|endoftext|>", 16, false, &ids);
    CHECK(n == 16 && ids[3] == '<', "tiny plain %d", n);
    free(ids);
    char buf[300];
    for (int i = 0; i < 300; i++) buf[i] = (char)(rng() >> 40);
    CHECK(round_trips(t, buf, sizeof buf), "tiny round trip");
    attn_tokenizer_free(t);
    unlink(path);
}

/* Loads a tokenizer.json written into dir; encodes text; compares with want. */
static void check_json_tokenizer(const char *dir, const char *json, const char *text, bool special,
                                 const int32_t *want, int nwant, const char *what) {
    char path[4200];
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    CHECK(write_file(path, json) == 0, "write %s", path);
    attn_tokenizer *t = attn_tokenizer_load(path);
    CHECK(t != NULL, "%s: %s", what, attn_last_error());
    int32_t *ids = NULL;
    int n = t ? enc(t, text, strlen(text), special, &ids) : -1;
    CHECK(ids_equal(ids, n, want, nwant), "%s: %d ids, want %d", what, n, nwant);
    if (t) CHECK(round_trips(t, text, strlen(text)), "%s: round trip", what);
    free(ids);
    attn_tokenizer_free(t);
    unlink(path);
}

/* Longest added token first; special ones only with parse_special, others always (as HF
 * and llama.cpp); ignore_merges takes a piece that is a token whole (LLaMA-3 style). */
static void test_added_and_ignore_merges(const char *dir) {
    const char *added =
        "{\"model\": {\"vocab\": {\"a\": 0, \"b\": 1, \"c\": 2, \"<\": 3, \">\": 4, \"x\": 5}, "
        "\"merges\": []}, \"added_tokens\": [{\"id\": 10, \"content\": \"<a>\", \"special\": true}, "
        "{\"id\": 11, \"content\": \"<a><a>\", \"special\": true}, {\"id\": 12, \"content\": \"bc\"}]}";
    const int32_t sp[] = {11, 10, 12, 5}, plain[] = {3, 0, 4, 3, 0, 4, 3, 0, 4, 12, 5};
    check_json_tokenizer(dir, added, "<a><a><a>bcx", true, sp, 4, "added tokens, special");
    check_json_tokenizer(dir, added, "<a><a><a>bcx", false, plain, 11, "added tokens, plain");
    const char *merges = "{\"model\": {\"vocab\": {\"a\": 0, \"b\": 1, \"c\": 2, \"ab\": 3, "
                         "\"abc\": 4}, \"merges\": [\"a b\"]%s}}";
    char json[512];
    const int32_t merged[] = {3, 2}, whole[] = {4};
    snprintf(json, sizeof json, merges, "");
    check_json_tokenizer(dir, json, "abc", false, merged, 2, "merges only");
    snprintf(json, sizeof json, merges, ", \"ignore_merges\": true");
    check_json_tokenizer(dir, json, "abc", false, whole, 1, "ignore_merges");
}

/* Each bad file must give NULL and an error naming the file (and `field`, unless NULL), never
 * a crash. */
static void expect_error_naming(const char *dir, const char *file, const char *content, const char *what,
                                const char *field) {
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    CHECK(write_file(path, content) == 0, "write %s", path);
    attn_clear_error();
    attn_tokenizer *t = attn_tokenizer_load(dir);
    const char *err = attn_last_error();
    CHECK(t == NULL && strstr(err, file) != NULL && (!field || strstr(err, field)), "%s: loaded=%d, error '%s'", what,
          t != NULL, err);
    if (getenv("ATTN_TEST_VERBOSE")) printf("  %s -> %s\n", what, err);
    attn_tokenizer_free(t);
    unlink(path);
}

static void expect_error(const char *dir, const char *file, const char *content, const char *what) {
    expect_error_naming(dir, file, content, what, NULL);
}

static void test_bad_files(const char *dir) {
    attn_tokenizer *t = attn_tokenizer_load("/nonexistent/tokenizer");
    CHECK(t == NULL && strstr(attn_last_error(), "/nonexistent/tokenizer"), "missing: %s",
          attn_last_error());
    t = attn_tokenizer_load(dir);
    CHECK(t == NULL && strstr(attn_last_error(), "neither"), "empty dir: %s", attn_last_error());
    const char *V = "{\"a\": 0, \"b\": 1, \"ab\": 2}";
    expect_error(dir, "tokenizer.json", "{\"model\": {\"vocab\": {\"a\": 0,", "truncated JSON");
    expect_error(dir, "tokenizer.json", "[1, 2]", "JSON array");
    expect_error(dir, "tokenizer.json", "{\"model\": {\"vocab\": {\"a\": 0, \"b\": 1}, \"merges\": [\"a c\"]}}",
                 "merge of an unknown token");
    expect_error(dir, "tokenizer.json", "{\"model\": {\"vocab\": {\"a\": 0, \"b\": 1}, \"merges\": [[\"a\", \"b\"]]}}",
                 "merge whose result is not in the vocab");
    expect_error(dir, "tokenizer.json", "{\"model\": {\"vocab\": {\"a\": \"x\"}, \"merges\": []}}",
                 "string id");
    expect_error(dir, "tokenizer.json", "{\"model\": {\"vocab\": {\"a\": -5}, \"merges\": []}}",
                 "negative id");
    expect_error(dir, "tokenizer.json", "{\"model\": {\"type\": \"WordPiece\", \"vocab\": {}}}",
                 "WordPiece model");
    expect_error(dir, "tokenizer.json", "{\"model\": {\"vocab\": {}, \"merges\": []}}", "empty vocab");
    expect_error(dir, "tokenizer.json", "{\"model\": {\"vocab\": {\"a\": 0}}, \"added_tokens\": [{\"id\": 1}]}",
                 "added token without content");
    expect_error(dir, "tokenizer.json", "{\"pre_tokenizer\": {\"type\": \"Whitespace\"}, \"model\": {\"vocab\": {\"a\": 0}}}",
                 "another pre-tokenizer");
    expect_error_naming(dir, "tokenizer.json", "{\"decoder\": {\"type\": \"Frobnicate\"}, \"model\": {\"vocab\": {\"a\": 0}}}",
                        "an unknown decoder", "decoder type 'Frobnicate'");
    expect_error_naming(dir, "tokenizer.json", "{\"decoder\": {\"type\": \"WordPiece\"}, \"model\": {\"vocab\": {\"a\": 0}}}",
                        "a decoder attn does not apply", "decoder type 'WordPiece'");
    expect_error_naming(dir, "tokenizer.json", "{\"model\": {\"vocab\": {\"a\": 0, \"b\": 1, \"c\": 1}}}",
                        "two vocab tokens with one id", "the vocab gives id 1 to two tokens");
    expect_error_naming(dir, "tokenizer.json", "{\"decoder\": {\"type\": \"Fuse\"}, \"model\": {\"vocab\": "
                        "{\"a\": 0, \"b\": 0}}}", "a character tokenizer's two tokens with one id", "the vocab gives id 0");
    char path[4200];
    snprintf(path, sizeof path, "%s/vocab.json", dir);
    CHECK(write_file(path, V) == 0, "write vocab.json");
    expect_error(dir, "merges.txt", "#version: 0.2\na b\nb c\n", "merges.txt unknown token");
    expect_error(dir, "merges.txt", "a b c\n", "merges.txt with three fields");
    snprintf(path, sizeof path, "%s/merges.txt", dir);
    CHECK(write_file(path, "#version: 0.2\r\na b\r\n") == 0, "write merges.txt");
    t = attn_tokenizer_load(dir);
    CHECK(t != NULL, "CRLF merges.txt: %s", attn_last_error());
    int32_t *ids = NULL;
    int n = 0;
    CHECK(t && attn_tokenizer_encode(t, "xy", 2, false, &ids, &n) == -1 && !ids,
          "encode with no byte tokens fails cleanly");
    attn_tokenizer_free(t);
    /* with merges.txt there, so the error is vocab.json's own */
    expect_error_naming(dir, "vocab.json", "{\"a\": 0, \"b\": 0}", "vocab.json with one id twice", "the vocab gives id 0");
    expect_error_naming(dir, "vocab.json", "{\"a\": 0,,}", "malformed vocab.json", "malformed JSON");
    unlink(path);
}

/* attn_utf8_char against utf8proc's decoder on every 1-3 byte sequence and the 4-byte ones
 * with three lead bytes' worth of tails; then the repair and the first-invalid offset. */
static void test_utf8_helpers(void) {
    unsigned char b[4] = {0};
    int64_t differ = 0;
    for (uint32_t v = 0; v < (1u << 24); v++) {
        b[0] = (unsigned char)(v >> 16), b[1] = (unsigned char)(v >> 8), b[2] = (unsigned char)v;
        for (size_t n = 1; n <= 3; n++) {
            if (n < 3 && (v & ((1u << (8 * (3 - n))) - 1))) continue; /* shorter ones once each */
            utf8proc_int32_t cp;
            utf8proc_ssize_t k = utf8proc_iterate(b, (utf8proc_ssize_t)n, &cp);
            size_t want = k > 0 ? (size_t)k : 0, got = attn_utf8_char((const char *)b, n);
            differ += got != want;
        }
    }
    const unsigned char leads[] = {0xF0, 0xF4, 0xF5};
    for (int l = 0; l < 3; l++)
        for (uint32_t v = 0; v < (1u << 24); v += 7) {
            b[0] = leads[l], b[1] = (unsigned char)(v >> 16), b[2] = (unsigned char)(v >> 8), b[3] = (unsigned char)v;
            utf8proc_int32_t cp;
            utf8proc_ssize_t k = utf8proc_iterate(b, 4, &cp);
            differ += attn_utf8_char((const char *)b, 4) != (k > 0 ? (size_t)k : 0);
        }
    CHECK(differ == 0, "attn_utf8_char disagrees with utf8proc on %lld sequences", (long long)differ);
    const char bad[] = "a\xFF\xC3\xA9\xE2\x82"; /* a, a stray byte, é, a cut-off euro sign */
    size_t n = 0;
    char *fixed = attn_utf8_repair(bad, sizeof bad - 1, &n);
    const char want[] = "a\xEF\xBF\xBD\xC3\xA9\xEF\xBF\xBD\xEF\xBF\xBD";
    CHECK(fixed && n == sizeof want - 1 && memcmp(fixed, want, n) == 0 && fixed[n] == 0, "repair: %s", fixed ? fixed : "NULL");
    free(fixed);
    CHECK(attn_utf8_first_invalid(bad, sizeof bad - 1) == 2, "first invalid byte is the second");
    CHECK(attn_utf8_first_invalid("\xC3\xA9t\xC3\xA9", 5) == 0, "valid text has none");
    CHECK(attn_utf8_first_invalid("ab\xC3", 3) == 3, "a cut-off character at the end counts");
}

int main(void) {
    test_utf8_helpers();
    test_pretokenizer();
    test_classes();
    char dir[] = "/tmp/attn_tok_XXXXXX";
    CHECK(mkdtemp(dir) != NULL, "mkdtemp");
    test_tiny(dir, false);
    test_tiny(dir, true);
    test_added_and_ignore_merges(dir);
    test_bad_files(dir);
    rmdir(dir);

    const char *data = test_data_dir();
    if (!data) {
        if (test_failures) return test_finish("test_tokenizer");
        TEST_SKIP("GPT-2 checks need the data directory (set ATTN_DATA)");
    }
    char path[PATH_BUF];
    data_path(path, data, "gpt2");
    attn_tokenizer *t = attn_tokenizer_load(path);
    CHECK(t != NULL, "load %s: %s", path, attn_last_error());
    if (t) {
        test_vocab_cases(t, data);
        test_special(t);
        test_round_trips(t);
        test_loaders_agree(t, data);
        test_tiktoken_corpora(t, data);
        test_speed_and_extremes(t, data);
    }
    attn_tokenizer_free(t);
    return test_finish("test_tokenizer");
}
