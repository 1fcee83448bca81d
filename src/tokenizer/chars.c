/* chars.c - character-level tokenizers (see chars.h): collecting the characters of a text
 * and saving them as a tokenizer.json, and the small path attn_tokenizer_load takes for
 * such files: they reuse the BPE tokenizer's tables (vocab map, added tokens, decoding),
 * and only encoding differs: one vocab lookup per character instead of byte-level BPE. */
#include "tokenizer/chars.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "core/common.h"
#include "format/fileio.h"
#include "tokenizer/bpe_internal.h"

#define ENDOFTEXT "<|endoftext|>"
#define UNK "<unk>"
#define N_CODEPOINTS 0x110000

struct attn_char_set {
    uint8_t seen[N_CODEPOINTS / 8];
    uint64_t invalid_bytes;
};

attn_char_set *attn_char_set_new(void) {
    attn_char_set *cs = calloc(1, sizeof *cs);
    if (!cs) attn_error("characters: out of memory");
    return cs;
}

void attn_char_set_free(attn_char_set *cs) { free(cs); }

static void add_plain(attn_char_set *cs, const uint8_t *s, size_t n) {
    for (size_t pos = 0; pos < n;) {
        int32_t cp;
        pos += bpe_utf8_decode(s + pos, n - pos, &cp);
        if (cp < 0) cs->invalid_bytes++;
        else cs->seen[cp >> 3] |= (uint8_t)(1u << (cp & 7));
    }
}

int attn_char_set_add(attn_char_set *cs, const char *text, size_t len) {
    if (!text && len) return attn_error("characters: NULL text");
    const char *nul = len ? memchr(text, 0, len) : NULL; /* jansson reads no NUL in an object key */
    if (nul)
        return attn_error("characters: the text has a NUL byte (at byte %zu), which a tokenizer.json vocab "
                          "cannot hold for attn to load it again: remove it from the text", (size_t)(nul - text));
    const size_t el = strlen(ENDOFTEXT);
    const uint8_t *s = (const uint8_t *)text;
    while (len > 0) {
        const uint8_t *sp = memmem(s, len, ENDOFTEXT, el);
        size_t plain = sp ? (size_t)(sp - s) : len;
        add_plain(cs, s, plain);
        if (!sp) break;
        s += plain + el, len -= plain + el;
    }
    return 0;
}

void attn_char_set_get_stats(const attn_char_set *cs, attn_char_set_stats *out) {
    out->n_chars = 0;
    for (int32_t cp = 0; cp < N_CODEPOINTS; cp++) out->n_chars += (cs->seen[cp >> 3] >> (cp & 7)) & 1;
    out->invalid_bytes = cs->invalid_bytes;
}

static size_t utf8_encode(int32_t cp, char out[4]) {
    if (cp < 0x80) return out[0] = (char)cp, 1;
    if (cp < 0x800) return out[0] = (char)(0xC0 | (cp >> 6)), out[1] = (char)(0x80 | (cp & 0x3F)), 2;
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12)), out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (cp >> 18)), out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F)), out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Characters in code point order (Python's sorted(set(text)), as nanoGPT builds its stoi),
 * then <|endoftext|> and <unk>. */
static json_t *chars_vocab(const attn_char_set *cs, int *n_out) {
    json_t *v = json_object();
    int n = 0;
    for (int32_t cp = 0; v && cp < N_CODEPOINTS; cp++) {
        if (!((cs->seen[cp >> 3] >> (cp & 7)) & 1)) continue;
        char s[4];
        if (json_object_setn_new(v, s, utf8_encode(cp, s), json_integer(n++))) json_decref(v), v = NULL;
    }
    if (v && (json_object_set_new(v, ENDOFTEXT, json_integer(n)) || json_object_set_new(v, UNK, json_integer(n + 1))))
        json_decref(v), v = NULL;
    *n_out = n;
    return v;
}

int attn_char_set_save(const attn_char_set *cs, const char *path) {
    int n = 0;
    json_t *vocab = chars_vocab(cs, &n);
    if (!vocab) return attn_error("characters: out of memory building tokenizer.json");
    if (n == 0) {
        json_decref(vocab);
        return attn_error("characters: the text holds no characters (is it empty?)");
    }
    json_t *root = json_pack(
        "{s:s, s:n, s:n, s:[{s:i, s:s, s:b, s:b, s:b, s:b, s:b}], s:n, s:n, s:n, s:{s:s},"
        " s:{s:s, s:n, s:s, s:n, s:n, s:b, s:b, s:b, s:o, s:[]}}",
        "version", "1.0", "truncation", "padding", "added_tokens", "id", n, "content", ENDOFTEXT, "single_word", 0,
        "lstrip", 0, "rstrip", 0, "normalized", 0, "special", 1, "normalizer", "pre_tokenizer", "post_processor",
        "decoder", "type", "Fuse", "model", "type", "BPE", "dropout", "unk_token", UNK, "continuing_subword_prefix",
        "end_of_word_suffix", "fuse_unk", 0, "byte_fallback", 0, "ignore_merges", 0, "vocab", vocab, "merges");
    if (!root) return attn_error("characters: cannot build tokenizer.json");
    char *text = json_dumps(root, JSON_INDENT(1));
    json_decref(root);
    int rc = text ? attn_write_file_atomic(path, text, strlen(text)) : attn_error("characters: cannot format JSON");
    free(text);
    return rc;
}

/* ---- loading and encoding (called from bpe_load.c and bpe.c) ---- */

static bool is_null_or_absent(json_t *j) { return !j || json_is_null(j); }

bool bpe_chars_wanted(json_t *root) {
    const char *dec = json_string_value(json_object_get(json_object_get(root, "decoder"), "type"));
    return dec && strcmp(dec, "Fuse") == 0 && is_null_or_absent(json_object_get(root, "pre_tokenizer"));
}

/* What HF would do differently from one-id-per-character is refused. */
static int check_chars_model(const char *src, json_t *root, json_t *model) {
    if (!is_null_or_absent(json_object_get(root, "normalizer")))
        return attn_error("%s: a normalizer is not supported for a character tokenizer", src);
    const char *type = json_string_value(json_object_get(model, "type"));
    if (!json_is_object(model) || (type && strcmp(type, "BPE") != 0))
        return attn_error("%s: a character tokenizer needs a BPE model (with no merges)", src);
    if (json_array_size(json_object_get(model, "merges")) > 0)
        return attn_error("%s: a character tokenizer (Fuse decoder, no pre-tokenizer) with merges is not "
                          "supported", src);
    if (json_is_true(json_object_get(model, "fuse_unk")) || json_is_true(json_object_get(model, "byte_fallback")))
        return attn_error("%s: fuse_unk and byte_fallback are not supported for a character tokenizer", src);
    const char *keys[] = {"continuing_subword_prefix", "end_of_word_suffix"};
    for (int i = 0; i < 2; i++) {
        const char *v = json_string_value(json_object_get(model, keys[i]));
        if (v && *v) return attn_error("%s: model.%s is not supported", src, keys[i]);
    }
    if (!json_is_object(json_object_get(model, "vocab")))
        return attn_error("%s: model.vocab is not an object of token -> id", src);
    return 0;
}

static int push(bpe_spec *s, const char *str, size_t len, json_t *id, int kind) {
    if (!json_is_integer(id) || json_integer_value(id) < 0 || json_integer_value(id) > INT32_MAX)
        return attn_error("%s: token '%.*s' has no valid id", s->source, (int)ATTN_MIN(len, 64), str);
    if (len >= (1u << 24)) return attn_error("%s: a token of %zu bytes is too long", s->source, len);
    if (bpe_vec_grow((void **)&s->entries, &s->cap_entries, s->n_entries + 1, sizeof *s->entries)) return -1;
    s->entries[s->n_entries++] = (bpe_entry){str, (uint32_t)len, (int32_t)json_integer_value(id), kind};
    return 0;
}

static int chars_spec(bpe_spec *s, json_t *root) {
    const char *key;
    size_t klen, i;
    json_t *v, *a;
    json_object_keylen_foreach(json_object_get(json_object_get(root, "model"), "vocab"), key, klen, v) {
        if (push(s, key, klen, v, BPE_ENTRY_VOCAB)) return -1;
    }
    json_t *added = json_object_get(root, "added_tokens");
    if (!is_null_or_absent(added) && !json_is_array(added))
        return attn_error("%s: added_tokens is not an array", s->source);
    json_array_foreach(added, i, a) {
        json_t *c = json_object_get(a, "content");
        if (!json_is_string(c)) return attn_error("%s: added_tokens[%zu] has no string content", s->source, i);
        int kind = json_is_true(json_object_get(a, "special")) ? BPE_ENTRY_SPECIAL : BPE_ENTRY_ADDED;
        if (push(s, json_string_value(c), json_string_length(c), json_object_get(a, "id"), kind)) return -1;
    }
    return 0;
}

attn_tokenizer *bpe_chars_load(const char *source, json_t *root) {
    json_t *model = json_object_get(root, "model");
    bpe_spec spec = {.source = source, .chars = true};
    attn_tokenizer *t = NULL;
    if (check_chars_model(source, root, model) == 0 && chars_spec(&spec, root) == 0) t = bpe_build(&spec);
    bpe_spec_free(&spec);
    if (!t) return NULL;
    for (int b = 0; b < 256; b++) t->byte_token[b] = -1; /* characters, not bytes, are tokens */
    json_t *unk = json_object_get(model, "unk_token");
    t->unk = json_is_string(unk) ? bpe_strmap_get(&t->vocab, json_string_value(unk), json_string_length(unk)) : -1;
    if (json_is_string(unk) && t->unk < 0) {
        attn_error("%s: unk_token '%s' is not in the vocabulary", source, json_string_value(unk));
        attn_tokenizer_free(t);
        return NULL;
    }
    return t;
}

int bpe_chars_encode(const attn_tokenizer *t, const uint8_t *s, size_t n, int32_t *out, size_t *n_out) {
    size_t k = 0;
    for (size_t pos = 0; pos < n;) {
        int32_t cp;
        size_t w = bpe_utf8_decode(s + pos, n - pos, &cp);
        int32_t id = cp >= 0 ? bpe_strmap_get(&t->vocab, (const char *)s + pos, w) : -1;
        if (id < 0) id = t->unk;
        if (id < 0) {
            *n_out = k;
            return cp >= 0 ? attn_error("tokenizer: character U+%04X at byte %zu is not in the vocabulary "
                                        "(which has no unk_token)", (unsigned)cp, pos)
                           : attn_error("tokenizer: invalid UTF-8 at byte %zu (the vocabulary has no "
                                        "unk_token)", pos);
        }
        out[k++] = id;
        pos += w;
    }
    *n_out = k;
    return 0;
}
