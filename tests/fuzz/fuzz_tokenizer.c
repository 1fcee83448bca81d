/* fuzz_tokenizer.c - libFuzzer target for the byte-level BPE tokenizer. For any input:
 * encoding must succeed, every id must be in range, decode(encode(x)) must give x back, a
 * plain-text encoding must hold no special token, and the heap-based merge must agree with
 * a naive O(n^2) BPE (tiktoken's loop) piece by piece. Inputs starting with '{' are instead
 * loaded as a tokenizer.json, which must either fail with a message or give a tokenizer
 * that round-trips. Tokenizers: GPT-2 from $ATTN_DATA/gpt2 (or ../shared/data/gpt2) when
 * present, and always the merge-free 256-byte one the random model uses.
 * Build and run with tests/fuzz/run_fuzz.sh.
 * seed corpus: tests/fixtures/tokenizer */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/common.h"
#include "tokenizer/bpe.h"
#include "tokenizer/bpe_internal.h"
#include "tiny_tokenizer.h"

static attn_tokenizer *gpt2, *tiny;
static char tmp_json[64];

static void init(void) {
    snprintf(tmp_json, sizeof tmp_json, "/tmp/attn_fuzz_tokenizer_%d.json", (int)getpid());
    tiny = tiny_tokenizer(tmp_json);
    const char *data = getenv("ATTN_DATA");
    char path[4096];
    snprintf(path, sizeof path, "%s/gpt2", data && *data ? data : "../shared/data");
    gpt2 = attn_tokenizer_load(path);
    if (!gpt2) fprintf(stderr, "fuzz_tokenizer: no GPT-2 tokenizer (%s); tiny one only\n", attn_last_error());
}

/* tiktoken's merge loop: merge the leftmost lowest-ranked pair until none is left. */
static int naive_bpe(const attn_tokenizer *t, const uint8_t *s, size_t n, int32_t *out) {
    int m = 0;
    for (size_t i = 0; i < n; i++) out[m++] = t->byte_token[s[i]];
    for (;;) {
        int best = -1;
        int32_t best_rank = INT32_MAX, merged = -1;
        for (int i = 0; i + 1 < m; i++) {
            const bpe_pair_slot *p = bpe_pairmap_get(&t->merges, out[i], out[i + 1]);
            if (p && p->rank < best_rank) best = i, best_rank = p->rank, merged = p->merged;
        }
        if (best < 0) return m;
        out[best] = merged;
        memmove(out + best + 1, out + best + 2, (size_t)(m - best - 2) * sizeof *out);
        m--;
    }
}

static void check_naive(const attn_tokenizer *t, const uint8_t *s, size_t n, const int32_t *ids,
                        int nids) {
    int32_t *ref = malloc((n + 1) * sizeof *ref);
    int at = 0;
    for (size_t pos = 0; pos < n;) {
        size_t end = bpe_gpt2_piece_end(s, n, pos);
        if (end <= pos || end > n) abort();
        int k = naive_bpe(t, s + pos, end - pos, ref);
        if (at + k > nids || memcmp(ref, ids + at, (size_t)k * sizeof *ref) != 0) abort();
        at += k;
        pos = end;
    }
    if (at != nids) abort();
    free(ref);
}

static void check_encode(const attn_tokenizer *t, const uint8_t *s, size_t n) {
    for (int special = 0; special < 2; special++) {
        int32_t *ids = NULL;
        int k = 0;
        if (attn_tokenizer_encode(t, (const char *)s, n, special, &ids, &k) != 0) abort();
        for (int i = 0; i < k; i++) {
            if (ids[i] < 0 || ids[i] >= attn_tokenizer_vocab_size(t)) abort();
            if (!special && ids[i] == attn_tokenizer_eos(t)) abort();
        }
        char *back = NULL;
        size_t blen = 0;
        if (attn_tokenizer_decode(t, ids, k, &back, &blen) != 0) abort();
        if (blen != n || memcmp(back, s, n) != 0) abort();
        if (!special) check_naive(t, s, n, ids, k);
        free(back);
        free(ids);
    }
}

static void check_loader(const uint8_t *s, size_t n) {
    write_or_die(tmp_json, s, n);
    attn_clear_error();
    attn_tokenizer *t = attn_tokenizer_load(tmp_json);
    if (!t) {
        if (!strstr(attn_last_error(), "attn_fuzz_tokenizer")) abort(); /* errors name the file */
        return;
    }
    static const char probe[] = "Hello world <|endoftext|> \xff\xfe caf\xc3\xa9";
    bool has_all_bytes = true;
    for (int b = 0; b < 256; b++) has_all_bytes &= t->byte_token[b] >= 0;
    int32_t *ids = NULL;
    int k = 0;
    int rc = attn_tokenizer_encode(t, probe, sizeof probe - 1, true, &ids, &k);
    if (has_all_bytes && rc != 0) abort();
    if (rc == 0) {
        char *back = NULL;
        size_t blen = 0;
        if (attn_tokenizer_decode(t, ids, k, &back, &blen) != 0) abort();
        free(back);
    }
    free(ids);
    attn_tokenizer_free(t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!tiny) init();
    if (size > 0 && data[0] == '{') {
        check_loader(data, size);
        return 0;
    }
    check_encode(tiny, data, size);
    if (gpt2) check_encode(gpt2, data, size);
    return 0;
}
