/* bpe_load.c - reads a byte-level BPE tokenizer from disk: Hugging Face tokenizer.json, or
 * GPT-2's original pair vocab.json (encoder.json) + merges.txt (vocab.bpe). Both are parsed
 * into a bpe_spec that bpe_build() turns into the tokenizer, so the two formats cannot
 * drift apart. Anything we would tokenize differently from HF (another pre-tokenizer, a
 * normalizer, SentencePiece-style byte fallback) is refused rather than silently wrong. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/common.h"
#include "tokenizer/bpe_internal.h"

#define ENDOFTEXT "<|endoftext|>"
#define PATH_CAP 4096

static int push_entry(bpe_spec *s, const char *str, size_t len, int64_t id, int kind) {
    if (len >= (1u << 24))
        return attn_error("%s: a token of %zu bytes is too long", s->source, len);
    if (id < 0 || id > INT32_MAX)
        return attn_error("%s: token '%.*s' has invalid id %lld", s->source,
                          (int)ATTN_MIN(len, 64), str, (long long)id);
    if (bpe_vec_grow((void **)&s->entries, &s->cap_entries, s->n_entries + 1, sizeof *s->entries))
        return -1;
    s->entries[s->n_entries++] = (bpe_entry){str, (uint32_t)len, (int32_t)id, kind};
    return 0;
}

static int push_merge(bpe_spec *s, const char *a, size_t alen, const char *b, size_t blen,
                      size_t line) {
    if (alen >= (1u << 24) || blen >= (1u << 24))
        return attn_error("%s: merge %zu is too long", s->source, line);
    if (bpe_vec_grow((void **)&s->merges, &s->cap_merges, s->n_merges + 1, sizeof *s->merges))
        return -1;
    s->merges[s->n_merges++] = (bpe_merge){a, b, (uint32_t)alen, (uint32_t)blen, line};
    return 0;
}

/* "a b" -> a, b. Exactly one space, as HF requires, since byte-level tokens spell a
 * space as "Ġ" and so never contain one. */
static int push_merge_line(bpe_spec *s, const char *line, size_t len, size_t lineno) {
    const char *sp = memchr(line, ' ', len);
    if (!sp || memchr(sp + 1, ' ', len - (size_t)(sp + 1 - line)) || sp == line ||
        sp + 1 == line + len)
        return attn_error("%s: merge %zu ('%.*s') is not two tokens separated by one space",
                          s->source, lineno, (int)ATTN_MIN(len, 64), line);
    return push_merge(s, line, (size_t)(sp - line), sp + 1, len - (size_t)(sp + 1 - line), lineno);
}

static int parse_vocab(bpe_spec *s, json_t *vocab) {
    if (!json_is_object(vocab))
        return attn_error("%s: the vocabulary is not a JSON object of token -> id", s->source);
    const char *key;
    size_t klen;
    json_t *v;
    json_object_keylen_foreach(vocab, key, klen, v) {
        if (!json_is_integer(v))
            return attn_error("%s: vocab entry '%.*s' has a non-integer id", s->source,
                              (int)ATTN_MIN(klen, 64), key);
        if (push_entry(s, key, klen, json_integer_value(v), BPE_ENTRY_VOCAB)) return -1;
    }
    return 0;
}

static int parse_json_merges(bpe_spec *s, json_t *merges) {
    if (!merges || json_is_null(merges)) return 0;
    if (!json_is_array(merges)) return attn_error("%s: model.merges is not an array", s->source);
    size_t i;
    json_t *m;
    json_array_foreach(merges, i, m) {
        int rc;
        if (json_is_string(m)) {
            rc = push_merge_line(s, json_string_value(m), json_string_length(m), i);
        } else if (json_is_array(m) && json_array_size(m) == 2 &&
                   json_is_string(json_array_get(m, 0)) && json_is_string(json_array_get(m, 1))) {
            json_t *a = json_array_get(m, 0), *b = json_array_get(m, 1);
            rc = push_merge(s, json_string_value(a), json_string_length(a), json_string_value(b),
                            json_string_length(b), i);
        } else {
            rc = attn_error("%s: merge %zu is neither \"a b\" nor [\"a\", \"b\"]", s->source, i);
        }
        if (rc) return -1;
    }
    return 0;
}

static int parse_added(bpe_spec *s, json_t *added) {
    if (!added || json_is_null(added)) return 0;
    if (!json_is_array(added)) return attn_error("%s: added_tokens is not an array", s->source);
    size_t i;
    json_t *a;
    json_array_foreach(added, i, a) {
        json_t *id = json_object_get(a, "id"), *content = json_object_get(a, "content");
        if (!json_is_integer(id) || !json_is_string(content))
            return attn_error("%s: added_tokens[%zu] lacks an integer id or a string content",
                              s->source, i);
        int kind = json_is_true(json_object_get(a, "special")) ? BPE_ENTRY_SPECIAL : BPE_ENTRY_ADDED;
        if (push_entry(s, json_string_value(content), json_string_length(content),
                       json_integer_value(id), kind))
            return -1;
    }
    return 0;
}

static bool is_null_or_absent(json_t *j) { return !j || json_is_null(j); }

/* The ByteLevel object a pre_tokenizer or decoder is, itself or as a Sequence of one (its
 * array under list_key); NULL with the error set for any other type. */
static json_t *byte_level_part(bpe_spec *s, json_t *j, const char *list_key, const char *what) {
    const char *type = json_string_value(json_object_get(j, "type"));
    json_t *list = json_object_get(j, list_key);
    if (type && strcmp(type, "Sequence") == 0 && json_array_size(list) == 1)
        return byte_level_part(s, json_array_get(list, 0), list_key, what);
    if (type && strcmp(type, "ByteLevel") == 0) return j;
    attn_error("%s: %s '%s' is not supported (only GPT-2's ByteLevel)", s->source, what, type ? type : "?");
    return NULL;
}

/* GPT-2's own setting is ByteLevel with add_prefix_space false; a missing pre-tokenizer
 * (hand-written files) means the same here. */
static int check_pre_tokenizer(bpe_spec *s, json_t *pt) {
    if (is_null_or_absent(pt)) return 0;
    if (!(pt = byte_level_part(s, pt, "pretokenizers", "pre_tokenizer"))) return -1;
    if (json_is_true(json_object_get(pt, "add_prefix_space")))
        return attn_error("%s: ByteLevel add_prefix_space = true is not supported", s->source);
    s->use_regex = !json_is_false(json_object_get(pt, "use_regex"));
    return 0;
}

/* Tokens decode as byte-level text; a decoder that would join or map them otherwise (WordPiece,
 * Metaspace...) is refused, as is a type attn does not know. None means ByteLevel here too. */
static int check_decoder(bpe_spec *s, json_t *decoder) {
    return is_null_or_absent(decoder) || byte_level_part(s, decoder, "decoders", "decoder type") ? 0 : -1;
}

static int check_model(bpe_spec *s, json_t *model) {
    if (!json_is_object(model)) return attn_error("%s: no \"model\" object", s->source);
    const char *type = json_string_value(json_object_get(model, "type"));
    if (type && strcmp(type, "BPE") != 0)
        return attn_error("%s: model type '%s' is not BPE", s->source, type);
    if (json_is_true(json_object_get(model, "byte_fallback")))
        return attn_error("%s: BPE byte_fallback (SentencePiece style) is not supported",
                          s->source);
    const char *keys[] = {"continuing_subword_prefix", "end_of_word_suffix"};
    for (int i = 0; i < 2; i++) {
        const char *v = json_string_value(json_object_get(model, keys[i]));
        if (v && *v) return attn_error("%s: model.%s is not supported", s->source, keys[i]);
    }
    s->ignore_merges = json_is_true(json_object_get(model, "ignore_merges"));
    return 0;
}

static int parse_tokenizer_json(bpe_spec *s, json_t *root) {
    if (!json_is_object(root)) return attn_error("%s: not a JSON object", s->source);
    if (!is_null_or_absent(json_object_get(root, "normalizer")))
        return attn_error("%s: a normalizer is not supported (GPT-2 has none)", s->source);
    json_t *model = json_object_get(root, "model");
    if (check_model(s, model) || check_pre_tokenizer(s, json_object_get(root, "pre_tokenizer")) ||
        check_decoder(s, json_object_get(root, "decoder")))
        return -1;
    if (!json_object_get(model, "vocab")) return attn_error("%s: no model.vocab", s->source);
    if (parse_vocab(s, json_object_get(model, "vocab"))) return -1;
    if (parse_json_merges(s, json_object_get(model, "merges"))) return -1;
    return parse_added(s, json_object_get(root, "added_tokens"));
}

/* <|endoftext|> is GPT-2's only special token, but vocab.json does not say so (the slow HF
 * tokenizer learns it from tokenizer_config.json). Treat it as special whenever the vocab
 * has it and nothing already declared it added. */
static int add_endoftext(bpe_spec *s) {
    size_t n = strlen(ENDOFTEXT);
    int64_t id = -1;
    for (size_t i = 0; i < s->n_entries; i++) {
        const bpe_entry *e = &s->entries[i];
        if (e->len != n || memcmp(e->str, ENDOFTEXT, n) != 0) continue;
        if (e->kind != BPE_ENTRY_VOCAB) return 0;
        id = e->id;
    }
    return id < 0 ? 0 : push_entry(s, ENDOFTEXT, n, id, BPE_ENTRY_SPECIAL);
}

static json_t *load_json(const char *path) {
    size_t n;
    char *buf = attn_read_file(path, &n);
    if (!buf) return NULL;
    json_error_t err;
    json_t *root = json_loadb(buf, n, JSON_ALLOW_NUL, &err);
    free(buf);
    if (!root)
        attn_error("%s: malformed JSON at line %d, column %d: %s", path, err.line, err.column,
                   err.text);
    return root;
}

static attn_tokenizer *load_tokenizer_json(const char *path) {
    json_t *root = load_json(path);
    if (!root) return NULL;
    if (bpe_chars_wanted(root)) { /* a character tokenizer: see chars.h */
        attn_tokenizer *t = bpe_chars_load(path, root);
        json_decref(root);
        return t;
    }
    bpe_spec spec = {.source = path, .use_regex = true};
    attn_tokenizer *t = NULL;
    if (parse_tokenizer_json(&spec, root) == 0 && add_endoftext(&spec) == 0) t = bpe_build(&spec);
    bpe_spec_free(&spec);
    json_decref(root);
    return t;
}

/* merges.txt: an optional "#version" line, then one "a b" per line, highest priority first. */
static int parse_merges_txt(bpe_spec *s, const char *buf, size_t n) {
    size_t lineno = 0;
    for (const char *p = buf, *end = buf + n; p < end;) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *stop = nl ? nl : end;
        size_t len = (size_t)(stop - p);
        lineno++;
        if (len && p[len - 1] == '\r') len--;
        bool skip = len == 0 || (lineno == 1 && len >= 8 && memcmp(p, "#version", 8) == 0);
        if (!skip && push_merge_line(s, p, len, lineno)) return -1;
        p = stop + 1;
    }
    return 0;
}

static attn_tokenizer *load_vocab_merges(const char *vocab_path, const char *merges_path) {
    json_t *root = load_json(vocab_path);
    if (!root) return NULL;
    size_t n;
    char *merges = attn_read_file(merges_path, &n);
    bpe_spec spec = {.source = vocab_path, .vocab_source = vocab_path, .use_regex = true};
    attn_tokenizer *t = NULL;
    if (merges && parse_vocab(&spec, root) == 0) {
        spec.source = merges_path;
        if (parse_merges_txt(&spec, merges, n) == 0 && add_endoftext(&spec) == 0)
            t = bpe_build(&spec);
    }
    bpe_spec_free(&spec);
    free(merges);
    json_decref(root);
    return t;
}

/* dir/name into out[PATH_CAP]; -1 if it does not fit. */
static int join_path(char *out, const char *dir, const char *name) {
    int n = snprintf(out, PATH_CAP, "%s/%s", dir, name);
    return n < 0 || n >= PATH_CAP ? attn_error("%s/%s: path too long", dir, name) : 0;
}

/* A token that tokenizer_config.json names, as a string or {"content": ...}; -1 if absent or
 * not in the vocabulary. */
static int32_t config_token(const attn_tokenizer *t, json_t *root, const char *key) {
    json_t *v = json_object_get(root, key);
    if (json_is_object(v)) v = json_object_get(v, "content");
    if (!json_is_string(v)) return -1;
    return bpe_strmap_get(&t->vocab, json_string_value(v), json_string_length(v));
}

/* tokenizer_config.json's eos_token, and its bos_token when "add_bos_token" is true (what
 * llama.cpp's converter copies into tokenizer.ggml.add_bos_token; HF's GPT-2 files leave it
 * out, so GPT-2 adds no BOS). Optional: a missing or unreadable file leaves the <|endoftext|>
 * eos and no BOS. */
static void set_specials(attn_tokenizer *t, const char *dir) {
    t->eos = attn_tokenizer_find(t, ENDOFTEXT);
    char path[PATH_CAP];
    struct stat st;
    if (join_path(path, dir, "tokenizer_config.json") || stat(path, &st) != 0) return;
    json_t *root = load_json(path);
    if (!root) {
        attn_clear_error();
        return;
    }
    int32_t eos = config_token(t, root, "eos_token");
    if (eos >= 0) t->eos = eos;
    if (json_is_true(json_object_get(root, "add_bos_token")))
        t->bos_to_add = config_token(t, root, "bos_token");
    json_decref(root);
}

static bool is_file(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

attn_tokenizer *attn_tokenizer_load(const char *path) {
    struct stat st;
    if (!path || stat(path, &st) != 0) {
        attn_error("%s: no such tokenizer file or directory", path ? path : "(null)");
        return NULL;
    }
    char dir[PATH_CAP], a[PATH_CAP], b[PATH_CAP];
    attn_tokenizer *t;
    if (!S_ISDIR(st.st_mode) && attn_ends_with(path, ".gguf")) return bpe_gguf_load(path);
    if (!S_ISDIR(st.st_mode) && attn_ends_with(path, ".bin")) return bpe_llama2c_load(path);
    if (strlen(path) >= PATH_CAP) {
        attn_error("%.64s...: path too long", path);
        return NULL;
    }
    snprintf(dir, sizeof dir, "%s", path);
    if (S_ISDIR(st.st_mode)) {
        if (join_path(a, dir, "tokenizer.json")) return NULL;
        if (is_file(a)) {
            t = load_tokenizer_json(a);
        } else {
            if (join_path(a, dir, "vocab.json") || join_path(b, dir, "merges.txt")) return NULL;
            if (!is_file(a) || !is_file(b)) {
                attn_error("%s: holds neither tokenizer.json nor vocab.json + merges.txt", path);
                return NULL;
            }
            t = load_vocab_merges(a, b);
        }
    } else {
        attn_path_dir(path, dir, sizeof dir);
        t = load_tokenizer_json(path);
    }
    if (t) set_specials(t, dir);
    return t;
}

/* The folder holding tokenizer.json or vocab.json (in dir), or llama2.c's tokenizer.bin (in
 * file), beside a model that is not a GGUF; NULL with an error saying where it looked. */
static const char *beside_model(const char *model_path, char dir[PATH_CAP], char file[PATH_CAP]) {
    char other[PATH_CAP];
    struct stat st;
    snprintf(dir, PATH_CAP, "%s", model_path);
    if (stat(dir, &st) == 0 && !S_ISDIR(st.st_mode)) /* a weights file: look in its folder */
        attn_path_dir(model_path, dir, PATH_CAP);
    if (join_path(file, dir, "tokenizer.json") || join_path(other, dir, "vocab.json")) return NULL;
    if (is_file(file) || is_file(other)) return dir;
    /* a llama2.c model.bin pairs with llama2.c's tokenizer.bin beside it */
    bool bin = attn_ends_with(model_path, ".bin");
    if (bin && join_path(file, dir, "tokenizer.bin") == 0 && is_file(file)) return file;
    attn_error("no tokenizer found for %s (looked for tokenizer.json, vocab.json + merges.txt%s in %s)", model_path,
               bin ? " and tokenizer.bin" : "", dir);
    return NULL;
}

int attn_tokenizer_find_for_model(const char *model_path, char *out, size_t cap) {
    if (!model_path) return attn_error("no model path to find a tokenizer beside");
    if (strlen(model_path) >= PATH_CAP) return attn_error("%.64s...: path too long", model_path);
    char dir[PATH_CAP], file[PATH_CAP];
    const char *found = attn_ends_with(model_path, ".gguf") ? model_path /* a GGUF carries its tokenizer */
                                                        : beside_model(model_path, dir, file);
    if (!found) return -1;
    if (strlen(found) >= cap) return attn_error("%.64s...: path too long", found);
    snprintf(out, cap, "%s", found);
    return 0;
}

attn_tokenizer *attn_tokenizer_load_for_model(const char *model_path) {
    char path[PATH_CAP];
    return attn_tokenizer_find_for_model(model_path, path, sizeof path) == 0 ? attn_tokenizer_load(path) : NULL;
}
