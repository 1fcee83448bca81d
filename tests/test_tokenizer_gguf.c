/* test_tokenizer_gguf.c - tokenizers built from GGUF metadata against llama.cpp: every
 * .inp/.out pair in shared/data/vocab-tests (46 cases per vocab, tokenized without BOS and
 * with parse_special = false, as llama.cpp's test-tokenizer-0 does), round trips, llama2.c's
 * tokenizer.bin against the Llama 2 GGUF vocabulary, bad metadata (made here with the GGUF
 * writer), and the BOS a prompt gets (attn_tokenizer_encode_prompt): llama.cpp's add_special
 * ids for the tiny LLaMA's 20 strings, which files add one, and exactly one BOS for text that
 * writes it itself (chat templates). Vocabularies attn does not support must fail with a clear
 * error, never give wrong ids. Optional, by environment: ATTN_VOCAB_EXTRA (llama.cpp's models/ folder: also
 * llama-bpe, qwen2, command-r) and ATTN_SMOLLM2_GGUF (SmolLM2-135M's GGUF, against
 * tests/fixtures/tokenizer/smollm2-135m.out). Skips (exit 77) without the shared data. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <errno.h>

#include <jansson.h>

#include <attn/chat.h>
#include "core/common.h"
#include "format/gguf.h"
#include "test.h"
#include "tokenizer/tokenizer_gguf.h"

enum { MAX_CASES = 64, PATH_BUF = 8192 };

/* name, and the pass count we claim (the test asserts it); 0 means "unsupported": loading
 * must fail with `error`. */
static const struct {
    const char *name;
    int expect;
    const char *error;
    bool extra; /* not in shared/data: checked when $ATTN_VOCAB_EXTRA names llama.cpp's
                 * models/ folder (e.g. the one in llama-cpp-python's sdist) */
} vocabs[] = {
    {"llama-spm", 46, NULL, false},
    {"phi-3", 46, NULL, false},
    {"gpt-2", 46, NULL, false},
    {"starcoder", 46, NULL, false},
    {"refact", 46, NULL, false},
    {"falcon", 46, NULL, false},
    {"mpt", 46, NULL, false},
    {"deepseek-coder", 46, NULL, false},
    {"deepseek-llm", 46, NULL, false},
    {"bert-bge", 0, "unsupported tokenizer model 'bert'", false},
    {"llama-bpe", 46, NULL, true},
    {"qwen2", 46, NULL, true},
    {"command-r", 46, NULL, true},
};

typedef struct {
    char *inp, *out;              /* whole files */
    const char *text[MAX_CASES]; /* into inp */
    size_t len[MAX_CASES];
    char *ids[MAX_CASES]; /* lines of out */
    int n;
} cases;

/* .inp pieces are separated by "\n__ggml_vocab_test__\n"; .out has one line per piece. */
static bool read_cases(const char *base, cases *c) {
    char path[PATH_BUF + 8];
    size_t ni, no;
    snprintf(path, sizeof path, "%s.inp", base);
    c->inp = attn_read_file(path, &ni);
    snprintf(path, sizeof path, "%s.out", base);
    c->out = c->inp ? attn_read_file(path, &no) : NULL;
    if (!c->out) return false;
    const char *sep = "\n__ggml_vocab_test__\n";
    size_t sl = strlen(sep);
    for (char *p = c->inp, *end = c->inp + ni; p < end && c->n < MAX_CASES;) {
        char *q = memmem(p, (size_t)(end - p), sep, sl);
        if (!q) q = end;
        c->text[c->n] = p;
        c->len[c->n++] = (size_t)(q - p);
        p = q + sl;
    }
    int k = 0; /* lines, empty ones included; the file ends with a newline */
    for (char *p = c->out, *end = c->out + no; p < end && k < MAX_CASES; k++) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        if (nl) *nl = 0;
        c->ids[k] = p;
        p = nl ? nl + 1 : end;
    }
    return k == c->n;
}

static void free_cases(cases *c) {
    free(c->inp);
    free(c->out);
}

static bool ids_equal(const int32_t *ids, int n, const char *expect) {
    int k = 0;
    for (const char *p = expect;;) {
        char *end;
        while (*p == ' ' || *p == '\r') p++;
        if (!*p) break;
        long v = strtol(p, &end, 10);
        if (end == p || k >= n || ids[k] != v) return false;
        k++;
        p = end;
    }
    return k == n;
}

static bool round_trips(const attn_tokenizer *t, const int32_t *ids, int n, const char *s,
                        size_t len) {
    char *back = NULL;
    size_t blen = 0;
    bool ok = attn_tokenizer_decode(t, ids, n, &back, &blen) == 0 && blen == len &&
              memcmp(back, s, len) == 0;
    free(back);
    return ok;
}

/* dir: the folder holding ggml-vocab-NAME.gguf and its .inp/.out pair. */
static int run_vocab(const char *dir, const char *name, const attn_tokenizer *t, int *trips) {
    char base[PATH_BUF];
    snprintf(base, sizeof base, "%s/ggml-vocab-%s.gguf", dir, name);
    cases c = {0};
    int pass = 0;
    CHECK(read_cases(base, &c), "%s: cannot read the test pair", name);
    for (int i = 0; i < c.n; i++) {
        int32_t *ids = NULL;
        int n = 0;
        if (attn_tokenizer_encode(t, c.text[i], c.len[i], false, &ids, &n) == 0 &&
            ids_equal(ids, n, c.ids[i]))
            pass++;
        else if (getenv("ATTN_TEST_VERBOSE"))
            fprintf(stderr, "%s case %d: '%.*s' want [%s]\n", name, i, (int)c.len[i], c.text[i],
                    c.ids[i]);
        *trips += round_trips(t, ids, n, c.text[i], c.len[i]);
        free(ids);
    }
    free_cases(&c);
    return pass;
}

/* Every vocab of the table found in dir; `all`: each must be there (shared/data). */
static void test_vocab_files(const char *dir, bool all) {
    for (size_t v = 0; v < sizeof vocabs / sizeof *vocabs; v++) {
        char path[PATH_BUF];
        snprintf(path, sizeof path, "%s/ggml-vocab-%s.gguf", dir, vocabs[v].name);
        if (access(path, R_OK) != 0 && (!all || vocabs[v].extra)) continue;
        attn_tokenizer *t = attn_tokenizer_load(path);
        if (vocabs[v].expect == 0) {
            CHECK(!t && strstr(attn_last_error(), vocabs[v].error), "%s: want '%s', got '%s'",
                  vocabs[v].name, vocabs[v].error, t ? "a tokenizer" : attn_last_error());
            printf("%s: unsupported (%s)\n", vocabs[v].name, t ? "?" : attn_last_error());
            attn_tokenizer_free(t);
            continue;
        }
        CHECK(t, "%s: %s", vocabs[v].name, attn_last_error());
        if (!t) continue;
        int trips = 0, pass = run_vocab(dir, vocabs[v].name, t, &trips);
        printf("%s: %d/46 pass, %d/46 round trips\n", vocabs[v].name, pass, trips);
        CHECK(pass == vocabs[v].expect, "%s: %d/46 cases pass", vocabs[v].name, pass);
        CHECK(trips == 46, "%s: %d/46 round trips", vocabs[v].name, trips);
        attn_tokenizer_free(t);
    }
}

/* Special ids as llama.cpp reads them, and special tokens with and without parse_special. */
static void test_specials(const char *data) {
    char path[PATH_BUF];
    snprintf(path, sizeof path, "%s/vocab-tests/ggml-vocab-llama-spm.gguf", data);
    attn_gguf *g = attn_gguf_open(path);
    attn_tokenizer_specials sp = {0};
    CHECK(g && attn_tokenizer_gguf_specials(g, &sp) == 0, "%s", attn_last_error());
    CHECK(sp.bos == 1 && sp.eos == 2 && sp.unk == 0 && sp.add_bos && !sp.add_eos,
          "llama-spm specials %d %d %d %d", (int)sp.bos, (int)sp.eos, (int)sp.unk, sp.add_bos);
    attn_tokenizer *t = g ? attn_tokenizer_from_gguf(g) : NULL;
    attn_gguf_close(g); /* the tokenizer keeps its own copy */
    int32_t *ids = NULL;
    int n = 0;
    CHECK(t && attn_tokenizer_encode(t, "<s>x", 4, true, &ids, &n) == 0 && n >= 2 && ids[0] == 1,
          "'<s>' with parse_special is BOS");
    free(ids);
    ids = NULL;
    CHECK(t && attn_tokenizer_encode(t, "<s>", 3, false, &ids, &n) == 0 && n > 0 && ids[0] != 1,
          "'<s>' without parse_special is text");
    free(ids);
    attn_tokenizer_free(t);
    snprintf(path, sizeof path, "%s/vocab-tests/ggml-vocab-gpt-2.gguf", data);
    g = attn_gguf_open(path);
    CHECK(g && attn_tokenizer_gguf_specials(g, &sp) == 0 && sp.eos == 50256 && !sp.add_bos,
          "gpt-2 specials: eos %d", (int)sp.eos);
    attn_gguf_close(g);
}

/* llama2.c's tokenizer.bin is Llama 2's vocabulary: it must tokenize every test string as
 * llama.cpp tokenizes it with the llama-spm GGUF. */
static void test_llama2c(const char *data) {
    char path[PATH_BUF], base[PATH_BUF];
    snprintf(path, sizeof path, "%s/llama2c/tokenizer.bin", data);
    snprintf(base, sizeof base, "%s/vocab-tests/ggml-vocab-llama-spm.gguf", data);
    attn_tokenizer *t = attn_tokenizer_load(path);
    CHECK(t, "tokenizer.bin: %s", attn_last_error());
    if (!t) return;
    CHECK(attn_tokenizer_vocab_size(t) == 32000, "vocab %d", attn_tokenizer_vocab_size(t));
    CHECK(attn_tokenizer_eos(t) == 2, "eos %d", attn_tokenizer_eos(t));
    snprintf(path, sizeof path, "%s/vocab-tests", data);
    int trips = 0, pass = run_vocab(path, "llama-spm", t, &trips);
    printf("llama2c tokenizer.bin on llama-spm's cases: %d/46 pass\n", pass);
    CHECK(pass == 46 && trips == 46, "tokenizer.bin: %d/46 pass, %d round trips", pass, trips);
    attn_tokenizer *g = attn_tokenizer_load(base);
    const char *extra[] = {"Once upon a time, there was a little girl named Lily.",
                           "<s> is text here", "tab\there\r\n\x01\xff end"};
    for (size_t i = 0; g && i < sizeof extra / sizeof *extra; i++) {
        int32_t *a = NULL, *b = NULL;
        int na = -1, nb = -2;
        attn_tokenizer_encode(t, extra[i], strlen(extra[i]), false, &a, &na);
        attn_tokenizer_encode(g, extra[i], strlen(extra[i]), false, &b, &nb);
        CHECK(na == nb && memcmp(a, b, (size_t)ATTN_MAX(na, 0) * sizeof *a) == 0,
              "'%s': tokenizer.bin and GGUF differ", extra[i]);
        /* Invalid UTF-8 groups by lead byte as in llama.cpp, so only valid text round-trips. */
        CHECK(i == 2 || round_trips(t, a, na, extra[i], strlen(extra[i])), "'%s' round trip",
              extra[i]);
        free(a);
        free(b);
    }
    attn_tokenizer_free(g);
    attn_tokenizer_free(t);
}

/* ---- the BOS a prompt gets ---- */

static bool ids_equal_json(const int32_t *ids, int n, json_t *want) {
    if (!json_is_array(want) || json_array_size(want) != (size_t)n) return false;
    for (int i = 0; i < n; i++)
        if (json_integer_value(json_array_get(want, (size_t)i)) != ids[i]) return false;
    return true;
}

/* llama.cpp's llama_tokenize for the tiny LLaMA's 20 strings (llamacpp-ref README section 6):
 * `ids` (add_special false) from encode, `ids_with_bos` (add_special true) from encode_prompt. */
static void test_prompt_ids(const char *data) {
    char path[PATH_BUF];
    snprintf(path, sizeof path, "%s/llamacpp-ref/tiny-llama-tokenization.json", data);
    json_error_t err;
    json_t *root = json_load_file(path, 0, &err);
    snprintf(path, sizeof path, "%s/llamacpp-ref/tiny-llama-f32.gguf", data);
    attn_tokenizer *t = root ? attn_tokenizer_load(path) : NULL;
    CHECK(root && t, "tiny-llama tokenization: %s", root ? attn_last_error() : err.text);
    json_t *cases = json_object_get(root, "cases");
    int plain = 0, with_bos = 0, n_cases = (int)json_array_size(cases);
    for (int i = 0; t && i < n_cases; i++) {
        json_t *c = json_array_get(cases, (size_t)i), *text = json_object_get(c, "text");
        int32_t *ids = NULL;
        int n = 0;
        plain += attn_tokenizer_encode(t, json_string_value(text), json_string_length(text), false, &ids, &n) == 0 &&
                 ids_equal_json(ids, n, json_object_get(c, "ids"));
        free(ids);
        ids = NULL;
        bool ok = attn_tokenizer_encode_prompt(t, json_string_value(text), json_string_length(text), false, &ids,
                                               &n) == 0 &&
                  ids_equal_json(ids, n, json_object_get(c, "ids_with_bos"));
        CHECK(ok, "case %d '%s': not llama.cpp's ids_with_bos", i, json_string_value(text));
        with_bos += ok;
        free(ids);
    }
    printf("tiny-llama: %d/%d strings give llama.cpp's ids, %d/%d its ids_with_bos\n", plain, n_cases, with_bos,
           n_cases);
    CHECK(n_cases == 20 && plain == 20 && with_bos == 20, "tiny-llama: %d and %d of %d", plain, with_bos, n_cases);
    attn_tokenizer_free(t);
    json_decref(root);
}

/* A tokenizer.json folder (data/gpt2's) with a tokenizer_config.json of our own. */
static int32_t bos_with_config(const char *data, const char *config) {
    char dir[128], path[PATH_BUF], target[PATH_BUF];
    snprintf(dir, sizeof dir, "/tmp/attn_test_bos_%d", (int)getpid());
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    snprintf(target, sizeof target, "%s/gpt2/tokenizer.json", data);
    char *abs = realpath(target, NULL);
    CHECK(abs && (mkdir(dir, 0700) == 0 || errno == EEXIST) && symlink(abs, path) == 0, "set up %s", dir);
    free(abs);
    snprintf(path, sizeof path, "%s/tokenizer_config.json", dir);
    FILE *f = fopen(path, "w");
    if (f) fputs(config, f), fclose(f);
    attn_tokenizer *t = attn_tokenizer_load(dir);
    CHECK(t, "%s", attn_last_error());
    int32_t bos = attn_tokenizer_bos_to_add(t), *ids = NULL;
    int n = 0;
    CHECK(t && attn_tokenizer_encode_prompt(t, "Hello", 5, false, &ids, &n) == 0 &&
              n == (bos >= 0 ? 2 : 1) && ids[n - 1] == 15496 && (bos < 0 || ids[0] == bos),
          "'Hello' as a prompt: %d ids", n);
    free(ids);
    attn_tokenizer_free(t);
    unlink(path);
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    unlink(path);
    rmdir(dir);
    return bos;
}

/* Which files put BOS before a prompt: the GGUF's add_bos_token, else llama.cpp's default for
 * its vocabulary type; llama2.c's tokenizer.bin always; tokenizer.json by tokenizer_config. */
static void test_bos_policy(const char *data) {
    const struct {
        const char *file;
        int32_t bos;
    } files[] = {
        {"llamacpp-ref/tiny-llama-f32.gguf", 1},            /* add_bos_token true */
        {"llamacpp-ref/tiny-gpt2-q8_0.gguf", -1},           /* "gpt2", no key: false */
        {"vocab-tests/ggml-vocab-llama-spm.gguf", 1},       /* add_bos_token true */
        {"vocab-tests/ggml-vocab-baichuan.gguf", 1},        /* "llama", no key: true */
        {"vocab-tests/ggml-vocab-deepseek-coder.gguf", 32013}, /* "gpt2" with add_bos_token true */
        {"vocab-tests/ggml-vocab-gpt-2.gguf", -1},
        {"vocab-tests/ggml-vocab-falcon.gguf", -1},
        {"llama2c/tokenizer.bin", 1},
        {"gpt2", -1}, /* HF GPT-2: its tokenizer_config.json has no add_bos_token */
    };
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
        char path[PATH_BUF];
        snprintf(path, sizeof path, "%s/%s", data, files[i].file);
        attn_tokenizer *t = attn_tokenizer_load(path);
        CHECK(t && attn_tokenizer_bos_to_add(t) == files[i].bos, "%s: BOS %d, want %d (%s)", files[i].file,
              (int)attn_tokenizer_bos_to_add(t), (int)files[i].bos, t ? "loaded" : attn_last_error());
        attn_tokenizer_free(t);
    }
    int32_t bos = bos_with_config(data, "{\"add_bos_token\": true, \"bos_token\": {\"content\": \"<|endoftext|>\"}}");
    CHECK(bos == 50256, "add_bos_token true: BOS %d", (int)bos);
    bos = bos_with_config(data, "{\"add_bos_token\": false, \"bos_token\": \"<|endoftext|>\"}");
    CHECK(bos == -1, "add_bos_token false: BOS %d", (int)bos);
}

static int count_id(const int32_t *ids, int n, int32_t id) {
    int k = 0;
    for (int i = 0; i < n; i++) k += ids[i] == id;
    return k;
}

/* Text that begins with BOS itself (encoded with parse_special) keeps exactly one; text that
 * does not, or whose "<s>" is plain text, gets one in front. */
static void test_one_bos(const char *data) {
    char path[PATH_BUF];
    snprintf(path, sizeof path, "%s/vocab-tests/ggml-vocab-llama-spm.gguf", data);
    attn_tokenizer *spm = attn_tokenizer_load(path);
    snprintf(path, sizeof path, "%s/vocab-tests/ggml-vocab-deepseek-coder.gguf", data);
    attn_tokenizer *ds = attn_tokenizer_load(path);
    CHECK(spm && ds, "%s", attn_last_error());
    if (!spm || !ds) return;
    const attn_chat_message msgs[] = {{"user", "Hi there"}};
    char *llama2 = attn_chat_render(attn_chat_template_by_name("llama2"), msgs, 1, true);
    char *chatml = attn_chat_render(attn_chat_template_by_name("chatml"), msgs, 1, true);
    CHECK(llama2 && strncmp(llama2, "<s>[INST]", 9) == 0 && chatml, "templates: %s", attn_last_error());
    const struct {
        const attn_tokenizer *t;
        const char *text;
        bool special;
        int32_t bos;
        int n_bos; /* BOS ids in the whole result */
    } cases[] = {
        {spm, llama2, true, 1, 1},
        {spm, chatml, true, 1, 1},
        {spm, "<s>hi", false, 1, 1}, /* "<s>" stays text, so BOS goes in front */
        {spm, "<s><s>hi", true, 1, 2}, /* two written: kept as written */
        {ds, "<\xef\xbd\x9c" "begin\xe2\x96\x81of\xe2\x96\x81sentence\xef\xbd\x9c>User: hi", true, 32013, 1},
        {ds, "User: hi", true, 32013, 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        int32_t *ids = NULL;
        int n = 0;
        const char *text = cases[i].text ? cases[i].text : "";
        bool ok = attn_tokenizer_encode_prompt(cases[i].t, text, strlen(text), cases[i].special, &ids, &n) == 0 &&
                  n > 1 && ids[0] == cases[i].bos && count_id(ids, n, cases[i].bos) == cases[i].n_bos;
        CHECK(ok, "case %zu '%.20s': %d ids, first %d, %d BOS", i, text, n, n ? (int)ids[0] : -1,
              count_id(ids, n, cases[i].bos));
        free(ids);
    }
    free(llama2);
    free(chatml);
    attn_tokenizer_free(spm);
    attn_tokenizer_free(ds);
}

/* ---- SmolLM2 (tokenizer.ggml.pre "smollm"), when $ATTN_SMOLLM2_GGUF names its GGUF ---- */

static uint64_t fnv1a64_ids(const int32_t *ids, int n) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (int i = 0; i < n; i++)
        for (int b = 0; b < 4; b++) h = (h ^ (((uint32_t)ids[i] >> (8 * b)) & 0xff)) * 0x100000001b3ull;
    return h;
}

/* tests/fixtures/tokenizer/smollm2-135m.out (tools/make_smollm2_tokenizer_fixture.py): the
 * 46 test strings' ids, then llama.cpp's count and hash for all of Tiny Shakespeare. */
static void test_smollm2(const char *data, const char *gguf) {
    char path[PATH_BUF];
    cases c = {0};
    snprintf(path, sizeof path, "%s/vocab-tests/ggml-vocab-gpt-2.gguf", data);
    bool ok = read_cases(path, &c);
    size_t n_out;
    char *out = attn_read_file("tests/fixtures/tokenizer/smollm2-135m.out", &n_out);
    attn_tokenizer *t = attn_tokenizer_load(gguf);
    CHECK(ok && out && t, "SmolLM2 check: %s (run from the repo root)", attn_last_error());
    int pass = 0, line = 0;
    for (char *p = out; ok && out && t && p < out + n_out; line++) {
        char *nl = strchr(p, '\n');
        if (nl) *nl = 0;
        int32_t *ids = NULL;
        int n = 0;
        if (line < c.n) {
            pass += attn_tokenizer_encode(t, c.text[line], c.len[line], false, &ids, &n) == 0 &&
                    ids_equal(ids, n, p);
        } else {
            size_t len;
            char *text, hash[32];
            int want = -1;
            snprintf(path, sizeof path, "%s/text/tinyshakespeare.txt", data);
            text = attn_read_file(path, &len);
            CHECK(text && sscanf(p, "tinyshakespeare %d %31s", &want, hash) == 2, "fixture line");
            if (text && attn_tokenizer_encode(t, text, len, false, &ids, &n) == 0) {
                char got[32];
                snprintf(got, sizeof got, "%016llx", (unsigned long long)fnv1a64_ids(ids, n));
                CHECK(n == want && strcmp(got, hash) == 0, "tinyshakespeare: %d ids %s, want %d %s",
                      n, got, want, hash);
                printf("smollm2 tinyshakespeare: %d tokens, %s llama.cpp's\n", n,
                       n == want && strcmp(got, hash) == 0 ? "equal to" : "DIFFERENT from");
            }
            free(text);
        }
        free(ids);
        p = nl ? nl + 1 : out + n_out;
    }
    attn_gguf *g = attn_gguf_open(gguf);
    attn_tokenizer_specials sp = {0};
    CHECK(g && attn_tokenizer_gguf_specials(g, &sp) == 0 && sp.bos == 1 && sp.eos == 2 &&
              !sp.add_bos, "SmolLM2 specials: bos %d eos %d add_bos %d", (int)sp.bos,
          (int)sp.eos, sp.add_bos);
    attn_gguf_close(g);
    CHECK(attn_tokenizer_bos_to_add(t) == -1, "SmolLM2 adds BOS %d to prompts (its add_bos_token is false)",
          (int)attn_tokenizer_bos_to_add(t));
    printf("smollm2: %d/%d pass\n", pass, c.n);
    CHECK(pass == 46, "SmolLM2: %d/46 test strings equal llama.cpp's", pass);
    attn_tokenizer_free(t);
    free(out);
    free_cases(&c);
}

/* ---- bad metadata ---- */

static const char *tiny_tokens[] = {"a", "b", "ab", "<unk>"};

/* A tiny gpt2 vocab with `merge`, or an SPM one with n_scores scores; keys can be left out. */
/* true when the specials are refused with an error naming the bos key */
static bool specials_refused(const attn_gguf *g, attn_tokenizer_specials *sp) {
    return attn_tokenizer_gguf_specials(g, sp) != 0 &&
           strstr(attn_last_error(), "'tokenizer.ggml.bos_token_id' = 9 is not a token id");
}

static int32_t tiny_bos = -2; /* written as tokenizer.ggml.bos_token_id unless -2 */
static int tiny_add_bos = -1; /* written as tokenizer.ggml.add_bos_token unless -1 */

static attn_tokenizer *tiny(const char *model, const char *pre, const char *merge, int n_scores,
                            bool with_tokens) {
    char path[128];
    snprintf(path, sizeof path, "/tmp/attn_test_tok_%d.gguf", (int)getpid());
    attn_gguf_writer *w = attn_gguf_writer_new();
    if (tiny_bos != -2) attn_gguf_set_u32(w, "tokenizer.ggml.bos_token_id", (uint32_t)tiny_bos);
    if (tiny_add_bos >= 0) attn_gguf_set_bool(w, "tokenizer.ggml.add_bos_token", tiny_add_bos);
    attn_gguf_set_str(w, "tokenizer.ggml.model", model);
    if (pre) attn_gguf_set_str(w, "tokenizer.ggml.pre", pre);
    if (with_tokens) attn_gguf_set_arr_str(w, "tokenizer.ggml.tokens", tiny_tokens, 4);
    if (merge) attn_gguf_set_arr_str(w, "tokenizer.ggml.merges", &merge, 1);
    float scores[4] = {-1, -2, -0.5f, 0};
    if (n_scores) attn_gguf_set_arr(w, "tokenizer.ggml.scores", ATTN_GGUF_F32, scores, (uint64_t)n_scores);
    int rc = attn_gguf_writer_write(w, path);
    attn_gguf_writer_free(w);
    CHECK(rc == 0, "write %s: %s", path, attn_last_error());
    attn_tokenizer *t = attn_tokenizer_load(path);
    if (tiny_bos != -2) { /* the specials are read from the file, not the tokenizer */
        attn_gguf *g = attn_gguf_open(path);
        attn_tokenizer_specials sp;
        CHECK(g && specials_refused(g, &sp), "bos %d accepted", (int)tiny_bos);
        attn_gguf_close(g);
    }
    unlink(path);
    return t;
}

static void expect_error(attn_tokenizer *t, const char *words, const char *what) {
    CHECK(!t && strstr(attn_last_error(), words), "%s: want '%s', got '%s'", what, words,
          t ? "a tokenizer" : attn_last_error());
    attn_tokenizer_free(t);
}

static void test_bad_metadata(void) {
    attn_tokenizer *t = tiny("gpt2", "gpt-2", "a b", 0, true);
    CHECK(t, "the good tiny vocab: %s", attn_last_error());
    int32_t *ids = NULL;
    int n = 0;
    CHECK(t && attn_tokenizer_encode(t, "ab", 2, false, &ids, &n) == 0 && n == 1 && ids[0] == 2,
          "tiny gpt2 'ab' -> [2]");
    free(ids);
    attn_tokenizer_free(t);
    t = tiny("llama", NULL, NULL, 4, true);
    CHECK(t, "the good tiny spm vocab: %s", attn_last_error());
    CHECK(attn_tokenizer_bos_to_add(t) == 1, "a llama vocab without add_bos_token adds 1 (llama.cpp's default), not %d",
          (int)attn_tokenizer_bos_to_add(t));
    attn_tokenizer_free(t);
    tiny_add_bos = 0;
    t = tiny("llama", NULL, NULL, 4, true);
    CHECK(t && attn_tokenizer_bos_to_add(t) == -1, "add_bos_token false: BOS %d", (int)attn_tokenizer_bos_to_add(t));
    attn_tokenizer_free(t);
    tiny_add_bos = 1;
    t = tiny("gpt2", "gpt-2", "a b", 0, true);
    CHECK(t && attn_tokenizer_bos_to_add(t) == -1, "add_bos_token true, no bos id and a vocab too small for the "
          "default 11: BOS %d", (int)attn_tokenizer_bos_to_add(t));
    attn_tokenizer_free(t);
    tiny_add_bos = -1;

    expect_error(tiny("gpt2", "gpt-2", "a b", 0, false), "tokenizer.ggml.tokens", "no tokens");
    expect_error(tiny("llama", NULL, NULL, 3, true), "tokenizer.ggml.scores has 3 entries",
                 "scores of the wrong length");
    expect_error(tiny("llama", NULL, NULL, 0, true), "tokenizer.ggml.scores", "no scores");
    expect_error(tiny("gpt2", "gpt-2", "a zz", 0, true), "zz is not in the vocabulary",
                 "a merge naming an unknown token");
    expect_error(tiny("gpt2", "gpt-2", "ab", 0, true), "tokenizer.ggml.merges[0]",
                 "a merge without a space");
    expect_error(tiny("gpt2", "gpt-2", NULL, 0, true), "tokenizer.ggml.merges", "no merges");
    expect_error(tiny("gpt2", "qwen35", "a b", 0, true), "unsupported pre-tokenizer 'qwen35'",
                 "an unknown pre-tokenizer");
    expect_error(tiny("gpt2", NULL, "a b", 0, true), "unsupported pre-tokenizer 'default'",
                 "no pre-tokenizer");
    expect_error(tiny("t5", NULL, NULL, 4, true), "unsupported tokenizer model 't5'",
                 "an unknown model");
    tiny_bos = 9; /* past the 4 tokens: refused, not loaded without a BOS */
    expect_error(tiny("llama", NULL, NULL, 4, true), "'tokenizer.ggml.bos_token_id' = 9 is not a token id",
                 "a bos id past the vocabulary");
    tiny_bos = -2;
}

int main(void) {
    test_bad_metadata();
    const char *data = test_data_dir();
    if (!data) {
        test_finish("test_tokenizer_gguf");
        TEST_SKIP("GGUF vocab tests need the data directory (set ATTN_DATA)");
    }
    char dir[PATH_BUF];
    snprintf(dir, sizeof dir, "%s/vocab-tests", data);
    test_vocab_files(dir, true);
    test_llama2c(data);
    test_specials(data);
    test_prompt_ids(data);
    test_bos_policy(data);
    test_one_bos(data);
    if (getenv("ATTN_VOCAB_EXTRA")) test_vocab_files(getenv("ATTN_VOCAB_EXTRA"), false);
    if (getenv("ATTN_SMOLLM2_GGUF")) test_smollm2(data, getenv("ATTN_SMOLLM2_GGUF"));
    return test_finish("test_tokenizer_gguf");
}
