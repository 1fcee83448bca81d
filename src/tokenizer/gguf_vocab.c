/* gguf_vocab.c - builds a tokenizer from a GGUF file's tokenizer.ggml.* metadata, as
 * llama.cpp's llama_vocab::load reads it:
 *   model "llama": SentencePiece BPE (tokens, scores, token_type; spm.c encodes);
 *   model "gpt2":  byte-level BPE (tokens, merges, token_type) with the pre-tokenizer that
 *                  tokenizer.ggml.pre names (pretokenize_llama.c).
 * Token types decide matching: CONTROL and UNKNOWN tokens are cut out of the text only with
 * parse_special; USER_DEFINED, BYTE and UNUSED ones always (llama.cpp's
 * tokenizer_st_partition). Anything we would tokenize differently from llama.cpp (another
 * model or pre-tokenizer) is refused with an error naming the field. */
#include <stdlib.h>
#include <string.h>

#include "core/common.h"
#include "tokenizer/spm.h"
#include "tokenizer/tokenizer_gguf.h"

/* tokenizer.ggml.pre values and the llama.cpp regex list each stands for. */
static const struct {
    const char *name;
    int pre;
    bool ignore_merges; /* llama.cpp sets it for Llama 3: a piece that is a token stays whole */
} pre_names[] = {
    {"gpt-2", BPE_PRE_GPT2, false},
    {"phi-2", BPE_PRE_GPT2, false},
    {"mpt", BPE_PRE_GPT2, false},
    {"olmo", BPE_PRE_GPT2, false},
    {"starcoder", BPE_PRE_STARCODER, false},
    {"refact", BPE_PRE_STARCODER, false},
    {"command-r", BPE_PRE_STARCODER, false},
    {"smollm", BPE_PRE_STARCODER, false},
    {"codeshell", BPE_PRE_STARCODER, false},
    {"exaone", BPE_PRE_STARCODER, false},
    {"falcon", BPE_PRE_FALCON, false},
    {"deepseek-coder", BPE_PRE_DEEPSEEK_CODER, false},
    {"deepseek-llm", BPE_PRE_DEEPSEEK_LLM, false},
    {"llama-bpe", BPE_PRE_LLAMA3, true},
    {"llama3", BPE_PRE_LLAMA3, true},
    {"llama-v3", BPE_PRE_LLAMA3, true},
    {"smaug-bpe", BPE_PRE_LLAMA3, false},
    {"dbrx", BPE_PRE_LLAMA3, false},
    {"qwen2", BPE_PRE_QWEN2, false},
    {"deepseek-r1-qwen", BPE_PRE_QWEN2, false},
};

typedef struct {
    const attn_gguf *g;
    const char *src;
    const attn_gguf_value *tokens;
    uint64_t n;
    uint8_t *types; /* per token, BPE_TT_* (NORMAL when the file has none) */
} vocab_meta;

static int read_types(vocab_meta *m) {
    m->types = malloc(m->n ? m->n : 1);
    if (!m->types) return attn_error("%s: out of memory for %llu tokens", m->src,
                                     (unsigned long long)m->n);
    memset(m->types, BPE_TT_NORMAL, m->n);
    if (!attn_gguf_find(m->g, "tokenizer.ggml.token_type")) return 0;
    const attn_gguf_value *arr;
    uint64_t n;
    if (attn_gguf_get_arr(m->g, "tokenizer.ggml.token_type", ATTN_GGUF_TYPE_COUNT, &arr, &n))
        return -1;
    if (n != m->n)
        return attn_error("%s: tokenizer.ggml.token_type has %llu entries for %llu tokens",
                          m->src, (unsigned long long)n, (unsigned long long)m->n);
    for (uint64_t i = 0; i < n; i++) {
        attn_gguf_value v;
        if (attn_gguf_arr_elem(arr, i, &v) || (v.type != ATTN_GGUF_I32 && v.type != ATTN_GGUF_U32))
            return attn_error("%s: tokenizer.ggml.token_type is not an integer array", m->src);
        int64_t t = v.type == ATTN_GGUF_I32 ? v.i : (int64_t)v.u;
        if (t < 0 || t > BPE_TT_BYTE)
            return attn_error("%s: tokenizer.ggml.token_type[%llu] = %lld is not a token type",
                              m->src, (unsigned long long)i, (long long)t);
        m->types[i] = (uint8_t)t;
    }
    return 0;
}

static int entry_kind(uint8_t type) {
    switch (type) {
    case BPE_TT_NORMAL: return BPE_ENTRY_VOCAB;
    case BPE_TT_CONTROL:
    case BPE_TT_UNKNOWN: return BPE_ENTRY_SPECIAL;
    default: return BPE_ENTRY_ADDED;
    }
}

static int push_tokens(bpe_spec *spec, const vocab_meta *m) {
    spec->entries = malloc((m->n ? m->n : 1) * sizeof *spec->entries);
    if (!spec->entries) return attn_error("%s: out of memory", m->src);
    spec->cap_entries = m->n;
    for (uint64_t i = 0; i < m->n; i++) {
        size_t len;
        const char *s = attn_gguf_arr_str(m->tokens, i, &len);
        if (len >= (1u << 24))
            return attn_error("%s: tokenizer.ggml.tokens[%llu] is %zu bytes long", m->src,
                              (unsigned long long)i, len);
        spec->entries[spec->n_entries++] =
            (bpe_entry){s, (uint32_t)len, (int32_t)i, entry_kind(m->types[i])};
    }
    return 0;
}

/* "a b": split at the first space after the first byte, as llama.cpp does. */
static int push_merges(bpe_spec *spec, const vocab_meta *m) {
    const attn_gguf_value *arr;
    uint64_t n;
    if (attn_gguf_get_arr(m->g, "tokenizer.ggml.merges", ATTN_GGUF_STR, &arr, &n)) return -1;
    spec->merges = malloc((n ? n : 1) * sizeof *spec->merges);
    if (!spec->merges) return attn_error("%s: out of memory", m->src);
    spec->cap_merges = n;
    for (uint64_t i = 0; i < n; i++) {
        size_t len;
        const char *s = attn_gguf_arr_str(arr, i, &len);
        const char *sp = len > 1 ? memchr(s + 1, ' ', len - 1) : NULL;
        if (!sp || sp + 1 == s + len || len >= (1u << 24))
            return attn_error("%s: tokenizer.ggml.merges[%llu] ('%.*s') is not two tokens "
                              "separated by a space", m->src, (unsigned long long)i,
                              (int)ATTN_MIN(len, 64), s);
        spec->merges[spec->n_merges++] =
            (bpe_merge){s, sp + 1, (uint32_t)(sp - s), (uint32_t)(len - (size_t)(sp + 1 - s)), i};
    }
    return 0;
}

static int read_scores(const vocab_meta *m, float **out) {
    const attn_gguf_value *arr;
    uint64_t n;
    if (attn_gguf_get_arr(m->g, "tokenizer.ggml.scores", ATTN_GGUF_F32, &arr, &n)) return -1;
    if (n != m->n)
        return attn_error("%s: tokenizer.ggml.scores has %llu entries for %llu tokens", m->src,
                          (unsigned long long)n, (unsigned long long)m->n);
    *out = malloc((n ? n : 1) * sizeof **out);
    if (!*out) return attn_error("%s: out of memory", m->src);
    memcpy(*out, attn_gguf_arr_data(arr), n * sizeof **out);
    return 0;
}

static int find_pre(const vocab_meta *m, int *pre, bool *ignore_merges) {
    const char *name = "default";
    if (attn_gguf_find(m->g, "tokenizer.ggml.pre") &&
        attn_gguf_get_str(m->g, "tokenizer.ggml.pre", &name, NULL))
        return -1;
    for (size_t i = 0; i < sizeof pre_names / sizeof *pre_names; i++)
        if (strcmp(name, pre_names[i].name) == 0) {
            *pre = pre_names[i].pre;
            *ignore_merges = pre_names[i].ignore_merges;
            return 0;
        }
    return attn_error("%s: unsupported pre-tokenizer '%s' (tokenizer.ggml.pre)", m->src, name);
}

static attn_tokenizer *build_spm(const vocab_meta *m, bpe_spec *spec) {
    float *scores = NULL;
    bool prefix = true; /* llama.cpp's default for SentencePiece vocabularies */
    if (read_scores(m, &scores) ||
        (attn_gguf_find(m->g, "tokenizer.ggml.add_space_prefix") &&
         attn_gguf_get_bool(m->g, "tokenizer.ggml.add_space_prefix", &prefix))) {
        free(scores);
        return NULL;
    }
    spec->chars = true; /* the vocabulary spells text literally ("▁" for a space) */
    attn_tokenizer *t = bpe_build(spec);
    if (t) t = bpe_spm_attach(t, scores, m->types, prefix);
    free(scores);
    return t;
}

static attn_tokenizer *build_gpt2(const vocab_meta *m, bpe_spec *spec) {
    int pre = BPE_PRE_GPT2;
    if (find_pre(m, &pre, &spec->ignore_merges) || push_merges(spec, m)) return NULL;
    attn_tokenizer *t = bpe_build(spec);
    if (t) t->pre = pre;
    return t;
}

/* The EOS (when the file names one) and the BOS that prompts start with, by llama.cpp's
 * policy (attn_tokenizer_gguf_specials). An id key that names no token is refused: loading
 * without it would silently drop the BOS from every prompt. */
static int set_specials(attn_tokenizer *t, const attn_gguf *g) {
    attn_tokenizer_specials sp;
    if (attn_tokenizer_gguf_specials(g, &sp) != 0) return -1;
    if (attn_gguf_find(g, "tokenizer.ggml.eos_token_id") && sp.eos >= 0 && sp.eos < t->n_ids) t->eos = sp.eos;
    if (sp.add_bos && sp.bos >= 0 && sp.bos < t->n_ids) t->bos_to_add = sp.bos;
    return 0;
}

attn_tokenizer *attn_tokenizer_from_gguf(const attn_gguf *g) {
    vocab_meta m = {.g = g, .src = attn_gguf_path(g)};
    const char *model;
    if (attn_gguf_get_str(g, "tokenizer.ggml.model", &model, NULL) ||
        attn_gguf_get_arr(g, "tokenizer.ggml.tokens", ATTN_GGUF_STR, &m.tokens, &m.n))
        return NULL;
    if (m.n == 0 || m.n > (1u << 27)) {
        attn_error("%s: tokenizer.ggml.tokens has %llu entries", m.src, (unsigned long long)m.n);
        return NULL;
    }
    bpe_spec spec = {.source = m.src, .use_regex = true};
    attn_tokenizer *t = NULL;
    if (read_types(&m) == 0 && push_tokens(&spec, &m) == 0) {
        if (strcmp(model, "llama") == 0) t = build_spm(&m, &spec);
        else if (strcmp(model, "gpt2") == 0) t = build_gpt2(&m, &spec);
        else attn_error("%s: unsupported tokenizer model '%s' (tokenizer.ggml.model)", m.src, model);
    }
    if (t && set_specials(t, g) != 0) {
        attn_tokenizer_free(t);
        t = NULL;
    }
    bpe_spec_free(&spec);
    free(m.types);
    return t;
}

/* ---- special ids ---- */

/* An optional id key: absent leaves *id; present must name a token (llama.cpp also accepts
 * -1 / UINT32_MAX as "none"). */
static int special_id(const attn_gguf *g, const char *key, uint64_t n_tokens, int32_t *id) {
    int64_t v;
    if (!attn_gguf_find(g, key)) return 0;
    if (attn_gguf_get_int(g, key, &v)) return -1;
    if (v == -1 || v == UINT32_MAX) {
        *id = -1;
        return 0;
    }
    if (v < 0 || (uint64_t)v >= n_tokens)
        return attn_error("%s: metadata '%s' = %lld is not a token id (%llu tokens)",
                          attn_gguf_path(g), key, (long long)v, (unsigned long long)n_tokens);
    *id = (int32_t)v;
    return 0;
}

static int special_flag(const attn_gguf *g, const char *key, bool *flag) {
    return attn_gguf_find(g, key) ? attn_gguf_get_bool(g, key, flag) : 0;
}

int attn_tokenizer_gguf_specials(const attn_gguf *g, attn_tokenizer_specials *out) {
    const char *model;
    const attn_gguf_value *tokens;
    uint64_t n;
    if (attn_gguf_get_str(g, "tokenizer.ggml.model", &model, NULL) ||
        attn_gguf_get_arr(g, "tokenizer.ggml.tokens", ATTN_GGUF_STR, &tokens, &n))
        return -1;
    bool spm = strcmp(model, "llama") == 0;
    *out = spm ? (attn_tokenizer_specials){1, 2, 0, -1, true, false}
               : (attn_tokenizer_specials){11, 11, -1, -1, false, false};
    if (!spm) {
        vocab_meta m = {.g = g, .src = attn_gguf_path(g)};
        int pre = BPE_PRE_GPT2;
        bool ignore_merges = false;
        if (find_pre(&m, &pre, &ignore_merges) == 0) out->add_bos = pre == BPE_PRE_LLAMA3;
        attn_clear_error();
    }
    int32_t *ids[] = {&out->bos, &out->eos, &out->unk, &out->pad};
    for (int i = 0; i < 4; i++) /* a default past a tiny vocabulary means none */
        if ((uint64_t)*ids[i] >= n) *ids[i] = -1;
    return special_id(g, "tokenizer.ggml.bos_token_id", n, &out->bos) ||
                   special_id(g, "tokenizer.ggml.eos_token_id", n, &out->eos) ||
                   special_id(g, "tokenizer.ggml.unknown_token_id", n, &out->unk) ||
                   special_id(g, "tokenizer.ggml.padding_token_id", n, &out->pad) ||
                   special_flag(g, "tokenizer.ggml.add_bos_token", &out->add_bos) ||
                   special_flag(g, "tokenizer.ggml.add_eos_token", &out->add_eos)
               ? -1
               : 0;
}

attn_tokenizer *bpe_gguf_load(const char *path) {
    attn_gguf *g = attn_gguf_open(path);
    if (!g) return NULL;
    attn_tokenizer *t = attn_tokenizer_from_gguf(g);
    attn_gguf_close(g);
    return t;
}
