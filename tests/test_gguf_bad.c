/* test_gguf_bad.c - the GGUF reader on bad input (no shared data needed):
 *   - one hand-made file per validation rule: magic, version, lying counts, string lengths
 *     and array counts, unknown value and tensor types, nesting depth, duplicate keys and
 *     names, alignment that is not a power-of-two u32, n_dims > 4, shapes that overflow,
 *     partial blocks, misaligned, overlapping or out-of-file offsets; each must be a one-line
 *     error naming the file and the field;
 *   - files that are unusual but valid (version 2, tensors out of order, a 0-d tensor...);
 *   - the seed files in tests/fixtures/gguf cut at every length and with every byte flipped
 *     five ways: rejected cleanly, or accepted with everything inside the buffer. Built with
 *     `make SAN=1` this is where ASan/UBSan would catch an overread. */
#include <stdint.h>

#include "core/common.h"
#include "format/gguf.h"
#include "test.h"
#include "gguf_build.h"

/* ---- bad input: one rule each ------------------------------------------------------ */

static void test_bad_header(void) {
    buf_t b = {0};
    expect_bad("", 0, "not a GGUF file", "file size 0", __LINE__);
    expect_bad("GGU", 3, "not a GGUF file", NULL, __LINE__);
    expect_bad("GGML\3\0\0\0", 8, "starts with 'GGML'", NULL, __LINE__);
    const struct {
        uint32_t v;
        const char *word;
    } versions[] = {{1, "version 1 is not supported"},
                    {4, "version 4 is not supported"},
                    {0, "version 0"},
                    {0x03000000, "byte-swapped"}};
    for (int i = 0; i < 4; i++) {
        b.len = 0;
        b_hdr(&b, versions[i].v, 0, 0);
        BAD(&b, versions[i].word, "header");
    }
    b.len = 0;
    b_put(&b, "GGUF\3\0\0\0\0\0", 10);
    BAD(&b, "header: tensor count at offset 8 needs 8 bytes but only 2 remain", "truncated");
    b.len = 0;
    b_hdr(&b, 3, 0, 1ull << 40);
    BAD(&b, "metadata count 1099511627776 cannot fit", NULL);
    b.len = 0;
    b_hdr(&b, 3, UINT64_MAX, 0);
    BAD(&b, "tensor count 18446744073709551615 cannot fit", NULL);
    b.len = 0;
    b_hdr(&b, 3, 2, 0);
    b_le(&b, 0, 8);
    BAD(&b, "tensor count 2 cannot fit", NULL);
    free(b.p);
}

/* A file with one key `k` of type `t`, followed by `body` (len bytes), and 16 spare bytes. */
static buf_t one_kv(const char *k, uint32_t t) {
    buf_t b = {0};
    b_hdr(&b, 3, 0, 1);
    b_str(&b, k);
    b_le(&b, t, 4);
    return b;
}

static void test_bad_metadata(void) {
    buf_t b = {0};
    b_hdr(&b, 3, 0, 1), b_le(&b, 1ull << 62, 8), b_le(&b, 0, 8);
    BAD(&b, "metadata entry 0 of 1: key length 4611686018427387904 at offset 24 runs past the end", NULL);
    free(b.p), b = (buf_t){0};
    b_hdr(&b, 3, 0, 1), b_le(&b, 3, 8), b_put(&b, "a\0b", 3), b_le(&b, 4, 4), b_le(&b, 1, 4);
    BAD(&b, "metadata entry 0 of 1: key holds a NUL byte", NULL);
    free(b.p), b = one_kv("k", 13), b_le(&b, 0, 8);
    BAD(&b, "metadata 'k': value type 13 is unknown", NULL);
    free(b.p), b = one_kv("a\nb", 99), b_le(&b, 0, 8);
    BAD(&b, "metadata 'a?b': value type 99", NULL); /* control characters are masked */
    free(b.p), b = one_kv("k", ATTN_GGUF_STR), b_le(&b, 1000, 8), b_put(&b, "abc", 3);
    BAD(&b,
        "metadata 'k': string value length 1000 at offset 37 runs past the end of the file (3 bytes remain)",
        NULL);
    free(b.p), b = one_kv("k", ATTN_GGUF_U64), b_put(&b, "abc", 3);
    BAD(&b, "metadata 'k': UINT64 at offset 37 needs 8 bytes but only 3 remain", NULL);
    free(b.p), b = one_kv("k", ATTN_GGUF_ARR), b_le(&b, 99, 4), b_le(&b, 1, 8), b_le(&b, 0, 8);
    BAD(&b, "metadata 'k': array element type 99 at offset 37 is unknown", NULL);
    free(b.p), b = one_kv("k", ATTN_GGUF_ARR), b_le(&b, ATTN_GGUF_U32, 4), b_le(&b, 1ull << 61, 8),
               b_le(&b, 0, 8);
    BAD(&b, "metadata 'k': array of 2305843009213693952 UINT32 values", "only 8 remain");
    free(b.p), b = one_kv("k", ATTN_GGUF_ARR), b_le(&b, ATTN_GGUF_STR, 4), b_le(&b, 1000, 8), b_le(&b, 0, 8);
    BAD(&b, "metadata 'k': array of 1000 strings cannot fit", NULL);
    free(b.p), b = one_kv("tokenizer.ggml.tokens", ATTN_GGUF_ARR), b_le(&b, ATTN_GGUF_STR, 4), b_le(&b, 2, 8);
    b_str(&b, "ok"), b_le(&b, 50, 8), b_put(&b, "short", 5);
    BAD(&b, "metadata 'tokenizer.ggml.tokens': string 1 of 2: length 50", "runs past the end");
    free(b.p), b = one_kv("k", ATTN_GGUF_ARR), b_le(&b, ATTN_GGUF_STR, 4), b_le(&b, 2, 8),
               b_str(&b, "abcdef");
    b_put(&b, "abc", 3);
    BAD(&b, "string 1 of 2: its length at offset", "cut off");
    free(b.p), b = one_kv("k", ATTN_GGUF_ARR), b_le(&b, ATTN_GGUF_ARR, 4), b_le(&b, 100, 8), b_le(&b, 0, 8);
    BAD(&b, "metadata 'k': array of 100 arrays cannot fit", NULL);
    free(b.p), b = one_kv("k", ATTN_GGUF_ARR);
    for (int d = 0; d < 9; d++) b_le(&b, ATTN_GGUF_ARR, 4), b_le(&b, 1, 8);
    b_le(&b, ATTN_GGUF_U8, 4), b_le(&b, 1, 8), b_le(&b, 7, 1);
    BAD(&b, "metadata 'k': arrays nested more than 8 deep", NULL);
    free(b.p), b = (buf_t){0};
    b_hdr(&b, 3, 0, 2), b_kv_u32(&b, "a", 1), b_kv_u32(&b, "a", 2);
    BAD(&b, "metadata 'a': key appears twice (entries 0 and 1)", NULL);
    free(b.p);
}

static void test_bad_alignment(void) {
    buf_t b = one_kv("general.alignment", ATTN_GGUF_STR);
    b_str(&b, "32");
    BAD(&b, "metadata 'general.alignment': is STRING, expected UINT32", NULL);
    const uint32_t bad[] = {0, 48, 3};
    for (int i = 0; i < 3; i++) {
        b.len = 0;
        b_hdr(&b, 3, 0, 1), b_kv_u32(&b, "general.alignment", bad[i]);
        char word[64];
        snprintf(word, sizeof word, "'general.alignment': %u is not a power of two", bad[i]);
        BAD(&b, word, NULL);
    }
    free(b.p);
}

/* A file with one tensor info, its data section holding `data` bytes. */
static buf_t one_tensor(const char *name, uint32_t nd, const uint64_t *ne, uint32_t type, uint64_t off,
                        size_t data) {
    buf_t b = {0};
    b_hdr(&b, 3, 1, 0);
    b_tinfo(&b, name, nd, ne, type, off);
    b_pad(&b, 32, data);
    return b;
}

static void test_bad_tensors(void) {
    const uint64_t ne5[5] = {1, 1, 1, 1, 1}, ne4[1] = {4}, ne33[1] = {33}, huge[1] = {1ull << 63};
    const uint64_t prod[3] = {1ull << 32, 1ull << 32, 4}, bytes[1] = {1ull << 62};
    buf_t b = one_tensor("blk.0.attn_q.weight", 5, ne5, 0, 0, 64);
    BAD(&b, "tensor 'blk.0.attn_q.weight': n_dims is 5; ggml tensors have at most 4", NULL);
    free(b.p), b = one_tensor("w", 1, ne4, 4, 0, 64);
    BAD(&b, "tensor 'w': unknown tensor type 4", NULL);
    free(b.p), b = one_tensor("w", 1, ne4, 99, 0, 64);
    BAD(&b, "tensor 'w': unknown tensor type 99", NULL);
    free(b.p), b = one_tensor("w", 1, huge, 0, 0, 64);
    BAD(&b, "tensor 'w': ne[0] = 9223372036854775808 is out of range", NULL);
    free(b.p), b = one_tensor("w", 3, prod, 0, 0, 64);
    BAD(&b, "tensor 'w': shape [4294967296, 4294967296, 4, 1] has more than 2^63 elements", NULL);
    free(b.p), b = one_tensor("w", 1, bytes, 0, 0, 64);
    BAD(&b, "tensor 'w': byte size of 4611686018427387904 f32 values overflows", NULL);
    free(b.p), b = one_tensor("w", 1, ne33, ATTN_QT_Q4_0, 0, 64);
    BAD(&b, "tensor 'w': row length ne[0] = 33 is not a multiple of the q4_0 block size 32", NULL);
    free(b.p), b = one_tensor("w", 1, ne4, 0, 4, 64);
    BAD(&b, "tensor 'w': offset 4 is not a multiple of the alignment 32", NULL);
    free(b.p), b = one_tensor("blk.0.attn_q.weight", 1, ne4, 0, 1ull << 40, 64);
    BAD(&b,
        "tensor 'blk.0.attn_q.weight': offset 1099511627776 + 16 bytes (f32) runs past the end of the data "
        "section (64 bytes",
        "truncated file?");
    free(b.p), b = one_tensor("w", 1, ne4, 0, 0, 15);
    BAD(&b, "tensor 'w': offset 0 + 16 bytes (f32) runs past the end", NULL);
    free(b.p), b = (buf_t){0};
    b_hdr(&b, 3, 2, 0), b_tinfo(&b, "a", 1, (uint64_t[]){16}, 0, 0), b_tinfo(&b, "b", 1, ne4, 0, 32),
        b_pad(&b, 32, 64);
    BAD(&b, "tensor 'b': data at offset 32 overlaps tensor 'a' (offset 0, 64 bytes)", NULL);
    free(b.p), b = (buf_t){0};
    b_hdr(&b, 3, 2, 0), b_tinfo(&b, "a", 1, ne4, 0, 0), b_tinfo(&b, "a", 1, ne4, 0, 32), b_pad(&b, 32, 64);
    BAD(&b, "tensor 'a': name appears twice", NULL);
    free(b.p), b = (buf_t){0};
    b_hdr(&b, 3, 1, 0), b_le(&b, 3, 8), b_put(&b, "a\0b", 3), b_le(&b, 0, 8), b_le(&b, 0, 8);
    BAD(&b, "tensor info 0 of 1: name holds a NUL byte", NULL);
    free(b.p), b = (buf_t){0};
    b_hdr(&b, 3, 1, 0), b_str(&b, "w"), b_le(&b, 1, 4), b_le(&b, 4, 8), b_le(&b, 0, 4), b_le(&b, 0, 4);
    BAD(&b, "tensor 'w': offset at offset", "needs 8 bytes but only 4 remain");
    free(b.p);
}

/* Unusual files that break no rule: version 2, unordered tensors with gaps, a 0-d tensor,
 * an empty tensor at the very end, no final padding without tensors, bool byte 2. */
static void test_lenient(void) {
    buf_t b = {0};
    b_hdr(&b, 2, 3, 1), b_str(&b, "flag"), b_le(&b, ATTN_GGUF_BOOL, 4), b_le(&b, 2, 1);
    b_tinfo(&b, "late", 1, (uint64_t[]){4}, 0, 64), b_tinfo(&b, "scalar", 0, NULL, 0, 0);
    b_tinfo(&b, "empty", 2, (uint64_t[]){0, 3}, ATTN_QT_Q8_0, 96);
    b_pad(&b, 32, 96);
    attn_gguf *g = attn_gguf_parse(b.p, b.len, "lenient");
    CHECK(g != NULL, "lenient file: %s", attn_last_error());
    bool flag = false;
    const attn_gguf_tensor *late = attn_gguf_find_tensor(g, "late"), *sc = attn_gguf_find_tensor(g, "scalar");
    const attn_gguf_tensor *empty = attn_gguf_find_tensor(g, "empty");
    CHECK(g && attn_gguf_version(g) == 2 && attn_gguf_get_bool(g, "flag", &flag) == 0 && flag, "v2, bool 2");
    CHECK(late && late->nbytes == 16 && ((const uint8_t *)late->data)[0] == 64, "late tensor");
    CHECK(sc && sc->n_dims == 0 && sc->n_elements == 1 && sc->nbytes == 4, "0-d tensor");
    CHECK(empty && empty->nbytes == 0 && empty->n_elements == 0 && empty->data == NULL,
          "empty tensor at the end");
    attn_gguf_close(g);
    b.len = 0;
    b_hdr(&b, 3, 0, 1), b_kv_u32(&b, "k", 7); /* ends without padding, like vocab files */
    g = attn_gguf_parse(b.p, b.len, "nopad");
    CHECK(g && attn_gguf_data_offset(g) == 64 && attn_gguf_tensor_count(g) == 0, "no final padding: %s",
          attn_last_error());
    attn_gguf_close(g);
    free(b.p);
}

static void test_bad_input(void) {
    test_bad_header();
    test_bad_metadata();
    test_bad_alignment();
    test_bad_tensors();
    test_lenient();
}

/* ---- cuts and flips of a valid file ------------------------------------------------ */

/* Whatever parse accepts must be self-consistent and inside the buffer: touch it all. */
static int walk_value(const attn_gguf_value *v) {
    int acc = 0;
    if (v->type == ATTN_GGUF_STR) return v->str.len ? (unsigned char)v->str.s[v->str.len - 1] : 0;
    if (v->type != ATTN_GGUF_ARR) return 0;
    for (uint64_t i = 0; i < v->arr.n; i++) {
        attn_gguf_value e;
        if (attn_gguf_arr_elem(v, i, &e) != 0) return -1000000;
        acc += walk_value(&e);
    }
    return acc;
}

static int accepted_ok(const attn_gguf *g, const uint8_t *buf, size_t n) {
    int acc = 0;
    for (int i = 0; i < attn_gguf_kv_count(g); i++) {
        if (attn_gguf_find(g, attn_gguf_kv_key(g, i)) != attn_gguf_kv_value(g, i)) return 0;
        acc += walk_value(attn_gguf_kv_value(g, i));
    }
    for (int i = 0; i < attn_gguf_tensor_count(g); i++) {
        const attn_gguf_tensor *t = attn_gguf_tensor_at(g, i);
        const uint8_t *d = t->data;
        if (attn_gguf_find_tensor(g, t->name) != t) return 0;
        if (t->nbytes && (d < buf || t->nbytes > (size_t)(buf + n - d))) return 0;
        for (size_t k = 0; k < t->nbytes; k++) acc += d[k];
    }
    return acc >= 0;
}

/* Parses an exact-size copy (so ASan sees any overread): accepted and consistent, or a
 * one-line error naming the buffer. Returns 1 when accepted. */
static int parse_copy(const uint8_t *src, size_t n, int *misbehaved) {
    uint8_t *copy = malloc(n + 1);
    memcpy(copy, src, n);
    attn_clear_error();
    attn_gguf *g = attn_gguf_parse(copy, n, "mut.gguf");
    const char *m = attn_last_error();
    int ok = g ? accepted_ok(g, copy, n) : strncmp(m, "mut.gguf: ", 10) == 0 && !strchr(m, '\n');
    if (!ok && (*misbehaved)++ < 5) CHECK(ok, "misbehaved on a mutated file: %s", g ? "inconsistent" : m);
    attn_gguf_close(g);
    free(copy);
    return g != NULL;
}

/* Cuts at every length: rejected until the last tensor's data is complete, accepted from
 * some length on (what follows is padding), never both ways. Then each byte flipped five
 * ways. Nothing may misbehave. */
static void test_flips_and_truncation(const char *path) {
    size_t n;
    uint8_t *file = slurp(path, &n);
    attn_gguf *g = file ? attn_gguf_parse(file, n, path) : NULL;
    CHECK(g != NULL, "%s", attn_last_error());
    if (!g) {
        free(file);
        return;
    }
    size_t end = 0; /* where the last tensor's data ends */
    for (int i = 0; i < attn_gguf_tensor_count(g); i++) {
        const attn_gguf_tensor *t = attn_gguf_tensor_at(g, i);
        end = ATTN_MAX(end, (size_t)(attn_gguf_data_offset(g) + t->offset + t->nbytes));
    }
    attn_gguf_close(g);
    int bad = 0, accepted_cuts = 0;
    size_t first_ok = n + 1;
    for (size_t len = 0; len <= n; len++) {
        int acc = parse_copy(file, len, &bad);
        accepted_cuts += acc;
        if (acc && first_ok > n) first_ok = len;
        if (!acc && first_ok <= n)
            CHECK(0, "%s: cut at %zu rejected, cut at %zu accepted", path, len, first_ok);
    }
    CHECK(first_ok >= end && first_ok <= n, "%s: a cut at %zu of %zu is accepted (tensor data ends at %zu)",
          path, first_ok, n, end);
    const uint8_t muts[] = {0x01, 0x80, 0xff};
    int flips = 0, accepted_flips = 0;
    for (size_t i = 0; i < n; i++) {
        for (int k = 0; k < 5; k++) {
            uint8_t old = file[i];
            file[i] = k < 3 ? (uint8_t)(old ^ muts[k]) : k == 3 ? 0x00 : 0xff;
            accepted_flips += parse_copy(file, n, &bad);
            file[i] = old;
            flips++;
        }
    }
    CHECK(bad == 0, "%s: %d of %zu cuts and %d flips misbehaved", path, bad, n + 1, flips);
    printf("%s (%zu bytes): %zu cuts (%d accepted: only the final padding cut off), %d byte flips (%d "
           "accepted)\n",
           path, n, n + 1, accepted_cuts, flips, accepted_flips);
    free(file);
}

int main(void) {
    test_bad_input();
    const char *seeds[] = {"tests/fixtures/gguf/all-types.gguf", "tests/fixtures/gguf/tiny-llama.gguf",
                           "tests/fixtures/gguf/vocab-align64.gguf"};
    for (int i = 0; i < 3; i++) test_flips_and_truncation(seeds[i]);
    return test_finish("test_gguf_bad");
}
