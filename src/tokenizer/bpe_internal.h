/* bpe_internal.h - what the tokenizer's own files share: the tokenizer struct, the two
 * open-addressing hash maps it is built on, and the GPT-2 pre-tokenizer. Not part of the
 * public API (tests include it to check the pieces directly). */
#ifndef ATTN_TOKENIZER_BPE_INTERNAL_H
#define ATTN_TOKENIZER_BPE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tokenizer/bpe.h"

/* ---- hash maps (bpe_map.c) ---- */

static inline uint32_t bpe_hash_bytes(const char *s, size_t len) {
    uint32_t h = 2166136261u; /* FNV-1a: short keys, so simplicity beats throughput */
    for (size_t i = 0; i < len; i++) h = (h ^ (uint8_t)s[i]) * 16777619u;
    return h;
}

/* Byte string -> int32. Keys are not copied: they must outlive the map. */
typedef struct {
    const char *key; /* NULL: empty slot */
    uint32_t len, hash;
    int32_t value;
} bpe_str_slot;

typedef struct {
    bpe_str_slot *slots;
    uint32_t mask, count;
} bpe_strmap;

int bpe_strmap_init(bpe_strmap *m, size_t expected);
void bpe_strmap_free(bpe_strmap *m);
/* Inserts or overwrites. Never grows: init must be given the final size. */
void bpe_strmap_put(bpe_strmap *m, const char *key, size_t len, int32_t value);
int32_t bpe_strmap_get(const bpe_strmap *m, const char *key, size_t len); /* -1 if absent */

/* (left id, right id) -> merge rank and merged id. */
typedef struct {
    uint64_t key; /* UINT64_MAX: empty slot */
    int32_t rank, merged;
} bpe_pair_slot;

typedef struct {
    bpe_pair_slot *slots;
    uint32_t mask, count;
} bpe_pairmap;

int bpe_pairmap_init(bpe_pairmap *m, size_t expected);
void bpe_pairmap_free(bpe_pairmap *m);
void bpe_pairmap_put(bpe_pairmap *m, int32_t left, int32_t right, int32_t rank, int32_t merged);
const bpe_pair_slot *bpe_pairmap_get(const bpe_pairmap *m, int32_t left, int32_t right);

/* ---- pre-tokenizer (pretokenize.c) ---- */

enum { BPE_CLS_LETTER, BPE_CLS_NUMBER, BPE_CLS_SPACE, BPE_CLS_OTHER };

/* Class of a code point for GPT-2's regex: \p{L}, \p{N}, \s or anything else. */
int bpe_codepoint_class(int32_t cp);

/* Decodes one strictly valid UTF-8 sequence at s[0..n), n >= 1. Returns its length and sets
 * *cp; for an invalid sequence returns 1 and sets *cp to -1 (a lone byte, class other). */
size_t bpe_utf8_decode(const uint8_t *s, size_t n, int32_t *cp);

/* End (exclusive) of the GPT-2 regex match that starts at pos < n. The regex's matches
 * tile the text, so pieces are [0, e1), [e1, e2), ... */
size_t bpe_gpt2_piece_end(const uint8_t *s, size_t n, size_t pos);

/* ---- the tokenizer (bpe_load.c builds it, bpe.c uses it) ---- */

typedef struct {
    uint32_t off, len; /* content in the string pool */
    int32_t id;
    bool special;
    uint8_t first; /* first byte of the content */
} bpe_added;

struct attn_tokenizer {
    int32_t n_ids;      /* one past the largest id */
    char *pool;         /* every vocab string, then every token's raw bytes */
    uint32_t *str_off;  /* per id: vocab string (byte-level alphabet), NUL-terminated */
    uint32_t *raw_off;  /* per id: raw bytes */
    uint32_t *raw_len;  /* per id; UINT32_MAX for an id no token has */
    bpe_strmap vocab;   /* vocab string -> id */
    bpe_strmap raw;     /* raw bytes -> id, for ignore_merges only */
    bpe_pairmap merges;
    int32_t byte_token[256]; /* the token of each single byte, -1 if the vocab lacks it */
    bpe_added *added;   /* sorted by first byte, then longest first */
    int n_added;
    uint32_t added_first[257]; /* added[added_first[b] .. added_first[b+1]) start with byte b */
    int32_t eos;
    int32_t bos_to_add; /* the BOS id a prompt starts with, -1 if none (attn_tokenizer_bos_to_add) */
    bool use_regex;     /* ByteLevel's use_regex: false means the whole text is one piece */
    bool ignore_merges; /* a piece that is itself a token is taken whole (LLaMA-3 style) */
    bool chars;         /* a character tokenizer (chars.c): one vocab lookup per character */
    int32_t unk;        /* chars only: the id of unknown characters, -1 if none */
    int pre;            /* BPE_PRE_*: the pre-tokenizer (pretokenize_llama.c); 0 is GPT-2's */
    const struct bpe_spm *spm; /* SentencePiece tables (spm.c) or NULL for byte-level BPE */
};

/* ---- building (bpe_build.c): both file formats are parsed into a bpe_spec first ---- */

enum { BPE_ENTRY_VOCAB, BPE_ENTRY_ADDED, BPE_ENTRY_SPECIAL };

typedef struct {
    const char *str; /* borrowed from the parsed file; need not be NUL-terminated */
    uint32_t len;
    int32_t id;
    int kind; /* BPE_ENTRY_* */
} bpe_entry;

typedef struct {
    const char *a, *b; /* borrowed, like bpe_entry.str */
    uint32_t alen, blen;
    size_t line; /* for error messages: line in merges.txt, or index in tokenizer.json */
} bpe_merge;

typedef struct {
    const char *source; /* file name for error messages */
    const char *vocab_source; /* the vocab's own file when it is not source (vocab.json), or NULL */
    bpe_entry *entries;
    size_t n_entries, cap_entries;
    bpe_merge *merges;
    size_t n_merges, cap_merges;
    bool use_regex, ignore_merges;
    bool chars; /* vocab strings are literal text, not byte-level spelled */
} bpe_spec;

attn_tokenizer *bpe_build(const bpe_spec *spec);
void bpe_spec_free(bpe_spec *spec);
/* Grows *v (elements of elem bytes) to hold at least need; 0 or -1. */
int bpe_vec_grow(void **v, size_t *cap, size_t need, size_t elem);

/* Byte-level alphabet: the code point GPT-2 uses to spell each byte, and back. */
int32_t bpe_byte_to_unicode(uint8_t b);
int bpe_unicode_to_byte(int32_t cp); /* -1 if cp spells no byte */

/* ---- character tokenizers (chars.c) ---- */

struct json_t;
/* A tokenizer.json with a Fuse decoder and no pre-tokenizer is a character tokenizer. */
bool bpe_chars_wanted(struct json_t *root);
attn_tokenizer *bpe_chars_load(const char *source, struct json_t *root);
/* Writes at most n ids (one per character) to out. 0, or -1 with the error set. */
int bpe_chars_encode(const attn_tokenizer *t, const uint8_t *s, size_t n, int32_t *out, size_t *n_out);

/* ---- llama.cpp's pre-tokenizers (pretokenize_llama.c) ---- */

enum { BPE_PRE_GPT2, BPE_PRE_STARCODER, BPE_PRE_FALCON, BPE_PRE_DEEPSEEK_CODER,
       BPE_PRE_DEEPSEEK_LLM, BPE_PRE_LLAMA3, BPE_PRE_QWEN2 };

typedef int (*bpe_piece_fn)(void *ctx, const uint8_t *s, size_t n);
/* Splits s[0..n) as llama.cpp's regex list for `pre` does and calls fn on each piece in
 * order; stops at fn's first nonzero return and returns it. */
int bpe_pre_split(int pre, const uint8_t *s, size_t n, bpe_piece_fn fn, void *ctx);

/* ---- SentencePiece BPE (spm.c; loaded by gguf_vocab.c and llama2c_vocab.c) ---- */

/* Appends the ids of one run of plain text to *ids (length *n, capacity *cap). */
int bpe_spm_encode(const attn_tokenizer *t, const uint8_t *s, size_t n, int32_t **ids,
                   size_t *n_ids, size_t *cap);
/* Bytes to drop from the front of a decoded sequence (the space the encoder prefixed). */
size_t bpe_spm_decode_skip(const attn_tokenizer *t, const int32_t *ids, int n);
/* A tokenizer.gguf or llama2.c tokenizer.bin, by path (attn_tokenizer_load dispatches). */
attn_tokenizer *bpe_gguf_load(const char *path);
attn_tokenizer *bpe_llama2c_load(const char *path);

#endif
