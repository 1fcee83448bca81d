/* llama2c_vocab.c - reads llama2.c's tokenizer.bin (int32 max_token_length, then per token
 * float32 score, int32 length, bytes) as a SentencePiece BPE vocabulary, so it encodes
 * exactly as the Llama 2 GGUF vocabulary does in llama.cpp (spm.c). The file keeps no token
 * types, so they follow SentencePiece's Llama layout: id 0 <unk>, ids 1-2 <s> and </s>
 * (stored as "\n<s>\n" and "\n</s>\n"), and "<0xXX>" spellings are byte-fallback tokens.
 * llama2.c writes the "▁" of a word start as a plain space; we spell it back as "▁". */
#include <stdlib.h>
#include <string.h>

#include "core/common.h"
#include "tokenizer/spm.h"

typedef struct {
    bpe_spec spec;
    float *scores;
    uint8_t *types;
    char *strings; /* every token, spaces spelled "▁" (the spec's entries point here) */
    size_t n, cap;
} l2c_vocab;

static int l2c_grow(l2c_vocab *v) {
    if (v->n < v->cap) return 0;
    size_t cap = v->cap ? 2 * v->cap : 32768;
    float *s = realloc(v->scores, cap * sizeof *s);
    if (s) v->scores = s;
    uint8_t *t = s ? realloc(v->types, cap) : NULL;
    if (t) v->types = t;
    bpe_entry *e = t ? realloc(v->spec.entries, cap * sizeof *e) : NULL;
    if (!e) return attn_error("%s: out of memory", v->spec.source);
    v->spec.entries = e;
    v->cap = v->spec.cap_entries = cap;
    return 0;
}

/* Type of token id with literal text s[0..len) (see the top comment). */
static uint8_t l2c_type(int64_t id, const char *s, size_t len) {
    if (id == 0) return BPE_TT_UNKNOWN;
    if (id == 1 || id == 2) return BPE_TT_CONTROL;
    if (len == 6 && memcmp(s, "<0x", 3) == 0 && s[5] == '>') return BPE_TT_BYTE;
    return BPE_TT_NORMAL;
}

/* Copies the token to out + at: spaces become "▁", and the newlines around <s> and </s> go.
 * Sets *out_len to the copy's length and returns the offset just past it. */
static size_t l2c_spell(char *out, size_t at, const uint8_t *p, uint32_t len, size_t *out_len) {
    size_t k = at;
    if (len >= 3 && p[0] == '\n' && p[1] == '<' && p[len - 1] == '\n') {
        p++;
        len -= 2;
    }
    for (uint32_t i = 0; i < len; i++) {
        if (p[i] == ' ') {
            memcpy(out + k, "\xE2\x96\x81", 3); /* "▁" */
            k += 3;
        } else out[k++] = (char)p[i];
    }
    *out_len = k - at;
    return k;
}

static int l2c_parse(l2c_vocab *v, const uint8_t *buf, size_t size) {
    if (size < 4) return attn_error("%s: too short for a llama2.c tokenizer", v->spec.source);
    v->strings = malloc(3 * size + 1); /* a byte becomes at most 3 ("▁") */
    if (!v->strings) return attn_error("%s: out of memory", v->spec.source);
    size_t used = 0;
    for (size_t off = 4; off < size; v->n++) {
        int32_t len;
        float score;
        if (size - off < 8) return attn_error("%s: token %zu is truncated", v->spec.source, v->n);
        memcpy(&score, buf + off, 4);
        memcpy(&len, buf + off + 4, 4);
        off += 8;
        if (len < 0 || (size_t)len > size - off)
            return attn_error("%s: token %zu has length %d past the end of the file",
                              v->spec.source, v->n, (int)len);
        if (l2c_grow(v)) return -1;
        size_t at = used, slen;
        used = l2c_spell(v->strings, used, buf + off, (uint32_t)len, &slen);
        v->scores[v->n] = score;
        v->types[v->n] = l2c_type((int64_t)v->n, v->strings + at, slen);
        int kind = v->types[v->n] == BPE_TT_NORMAL    ? BPE_ENTRY_VOCAB
                   : v->types[v->n] == BPE_TT_BYTE    ? BPE_ENTRY_ADDED
                                                      : BPE_ENTRY_SPECIAL;
        v->spec.entries[v->spec.n_entries++] =
            (bpe_entry){v->strings + at, (uint32_t)slen, (int32_t)v->n, kind};
        off += (size_t)len;
    }
    return v->n ? 0 : attn_error("%s: holds no tokens", v->spec.source);
}

attn_tokenizer *bpe_llama2c_load(const char *path) {
    size_t size;
    uint8_t *buf = (uint8_t *)attn_read_file(path, &size);
    if (!buf) return NULL;
    l2c_vocab v = {.spec = {.source = path, .use_regex = true, .chars = true}};
    attn_tokenizer *t = NULL;
    if (l2c_parse(&v, buf, size) == 0) t = bpe_build(&v.spec);
    if (t) t = bpe_spm_attach(t, v.scores, v.types, true);
    if (t) {
        t->eos = v.n > 2 ? 2 : -1;
        t->bos_to_add = v.n > 1 ? 1 : -1; /* run.c starts every prompt with <s> */
    }
    bpe_spec_free(&v.spec);
    free(v.scores);
    free(v.types);
    free(v.strings);
    free(buf);
    return t;
}
