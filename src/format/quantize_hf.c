/* quantize_hf.c - a Hugging Face checkpoint folder as `attn quantize` input, seen as the GGUF
 * llama.cpp's convert_hf_to_gguf.py writes for it:
 *   - LLaMA/Mistral (config.json model_type llama or mistral) -> architecture "llama": ggml
 *     names, the rows of q_proj/k_proj (and their biases) permuted inside each head from HF's
 *     rotate-half order to the adjacent pairs llama.cpp's rope turns, a tied head left out;
 *   - GPT-2 -> architecture "gpt2": Conv1D [in][out] weights transposed to [out][in], the
 *     tied head written again as output.weight, as the converter does;
 *   - 1-D tensors as F32, the rest in their own dtype (F32, F16, BF16) unless converted;
 *   - hyperparameters as <arch>.* keys, and the tokenizer as tokenizer.ggml.* keys: from
 *     tokenizer.json (byte-level BPE, or a character vocabulary of single-byte characters,
 *     which is the same thing with no merges) or copied from a GGUF given with --vocab (for
 *     SentencePiece tokenizer.model folders, which attn does not read).
 * It sits in format/ but reads the model configs (gpt2_config.h, llama_config.h): it is the one place
 * where a checkpoint's architecture decides a file's layout. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/common.h"
#include "format/config.h"
#include "format/safetensors_set.h"
#include "model/gpt2_config.h"
#include "model/gpt2_gguf.h"
#include "model/llama_config.h"
#include "model/llama_gguf.h"
#include "model/llama_source.h"
#include "quantize_src.h"
#include "tokenizer/bpe.h"

typedef enum { OP_COPY, OP_TRANSPOSE, OP_PERMUTE } hf_op;

/* How tensor i's bytes become GGUF-layout floats. */
typedef struct {
    const void *data;
    attn_dtype dtype;
    hf_op op;
    int64_t rows, cols; /* as stored, row-major */
    int64_t heads;      /* OP_PERMUTE: rows hold `heads` heads */
} hf_tensor;

typedef struct {
    const char *dir, *vocab;
    bool gpt2;
    attn_llama_config lc;
    attn_gpt2_config gc;
    attn_llama_source *llama; /* llama: tensors by logical name */
    attn_st_set *st;          /* gpt2 */
    char prefix[16];          /* gpt2: "transformer." or "" */
    hf_tensor *ht;
    int cap;
} hf_src;

/* ---- tensors ----------------------------------------------------------------------- */

static attn_qtype qtype_of(attn_dtype d) {
    return d == ATTN_F16 ? ATTN_QT_F16 : d == ATTN_BF16 ? ATTN_QT_BF16 : ATTN_QT_F32;
}

/* Adds a tensor stored row-major with `shape` (1 or 2 dims) under its GGUF name. */
static int add(qsrc *s, const char *name, const void *data, attn_dtype dtype, int ndim, const int64_t *shape,
               hf_op op, int64_t heads) {
    hf_src *h = s->impl;
    if (s->n == h->cap) return attn_error("%s: more tensors than the architecture has", s->path);
    qsrc_tensor *t = &s->t[s->n];
    hf_tensor *ht = &h->ht[s->n++];
    *t = (qsrc_tensor){.n_dims = ndim, .ne = {1, 1, 1, 1}};
    snprintf(t->name, sizeof t->name, "%s", name);
    const int64_t rows = shape[0], cols = ndim == 2 ? shape[1] : 1;
    *ht = (hf_tensor){.data = data, .dtype = dtype, .op = op, .rows = rows, .cols = cols, .heads = heads};
    t->ne[0] = ndim == 1 ? rows : op == OP_TRANSPOSE ? rows : cols;
    if (ndim == 2) t->ne[1] = op == OP_TRANSPOSE ? cols : rows;
    t->n_elements = rows * cols;
    t->type = ndim == 1 ? ATTN_QT_F32 : qtype_of(dtype);
    t->nbytes = (size_t)t->n_elements * attn_dtype_size(dtype);
    if (op == OP_COPY && t->type == qtype_of(dtype)) t->raw = data;
    return 0;
}

/* Within each head, row j*half + i (HF's rotate-half halves) moves to row 2i + j. */
static void permute_heads(float *dst, const float *src, int64_t rows, int64_t cols, int64_t heads) {
    const int64_t hd = rows / heads, half = hd / 2;
    for (int64_t h = 0; h < heads; h++)
        for (int64_t i = 0; i < half; i++)
            for (int64_t j = 0; j < 2; j++)
                memcpy(dst + (h * hd + 2 * i + j) * cols, src + (h * hd + j * half + i) * cols,
                       (size_t)cols * sizeof *dst);
}

static int hf_to_f32(const qsrc *s, int i, float *dst) {
    const hf_tensor *h = &((const hf_src *)s->impl)->ht[i];
    const int64_t n = h->rows * h->cols;
    if (h->op == OP_COPY) {
        attn_to_f32(dst, h->data, h->dtype, n);
        return 0;
    }
    float *tmp = malloc((size_t)n * sizeof *tmp);
    if (!tmp) return attn_error("out of memory converting '%s'", s->t[i].name);
    attn_to_f32(tmp, h->data, h->dtype, n);
    if (h->op == OP_PERMUTE) {
        permute_heads(dst, tmp, h->rows, h->cols, h->heads);
    } else {
        for (int64_t r = 0; r < h->rows; r++)
            for (int64_t c = 0; c < h->cols; c++) dst[c * h->rows + r] = tmp[r * h->cols + c];
    }
    free(tmp);
    return 0;
}

/* The stored shape must be [d0] or [d0, d1] (d1 = 0 for 1-D). */
static int check_shape(const char *path, const char *name, int ndim, const int64_t *shape, int64_t d0, int64_t d1) {
    bool ok = ndim == (d1 ? 2 : 1) && shape[0] == d0 && (!d1 || shape[1] == d1);
    if (ok) return 0;
    return attn_error("%s: tensor '%s' has shape [%lld%s%lld] but config.json implies [%lld%s%lld]", path, name,
                      (long long)shape[0], ndim == 2 ? ", " : "", ndim == 2 ? (long long)shape[1] : 0LL,
                      (long long)d0, d1 ? ", " : "", d1 ? (long long)d1 : 0LL);
}

/* ---- LLaMA ------------------------------------------------------------------------- */

/* The expected [rows, cols] of a logical tensor; cols 0 for vectors. */
static void llama_shape(const attn_llama_config *c, attn_llama_tensor id, int64_t *d0, int64_t *d1) {
    const int64_t q = c->n_head * c->head_dim, kv = c->n_kv_head * c->head_dim;
    static const struct {
        int rows, cols; /* 0 embd, 1 vocab, 2 q, 3 kv, 4 ff, -1 none */
    } dims[ATTN_LT_COUNT] = {
        [ATTN_LT_TOKEN_EMBD] = {1, 0}, [ATTN_LT_OUTPUT_NORM] = {0, -1}, [ATTN_LT_OUTPUT] = {1, 0},
        [ATTN_LT_ATTN_NORM] = {0, -1}, [ATTN_LT_Q] = {2, 0},  [ATTN_LT_K] = {3, 0},  [ATTN_LT_V] = {3, 0},
        [ATTN_LT_O] = {0, 2},          [ATTN_LT_Q_BIAS] = {2, -1}, [ATTN_LT_K_BIAS] = {3, -1},
        [ATTN_LT_V_BIAS] = {3, -1},    [ATTN_LT_O_BIAS] = {0, -1}, [ATTN_LT_FFN_NORM] = {0, -1},
        [ATTN_LT_GATE] = {4, 0},       [ATTN_LT_UP] = {4, 0},      [ATTN_LT_DOWN] = {0, 4},
        [ATTN_LT_GATE_BIAS] = {4, -1}, [ATTN_LT_UP_BIAS] = {4, -1}, [ATTN_LT_DOWN_BIAS] = {0, -1},
    };
    const int64_t size[5] = {c->n_embd, c->vocab, q, kv, c->n_ff};
    *d0 = size[dims[id].rows];
    *d1 = dims[id].cols < 0 ? 0 : size[dims[id].cols];
}

static bool llama_required(attn_llama_tensor id) {
    return id == ATTN_LT_TOKEN_EMBD || id == ATTN_LT_OUTPUT_NORM || id == ATTN_LT_ATTN_NORM || id == ATTN_LT_Q ||
           id == ATTN_LT_K || id == ATTN_LT_V || id == ATTN_LT_O || id == ATTN_LT_FFN_NORM || id == ATTN_LT_GATE ||
           id == ATTN_LT_UP || id == ATTN_LT_DOWN;
}

static int llama_add(qsrc *s, attn_llama_tensor id, int layer) {
    hf_src *h = s->impl;
    attn_tensor_ref ref = {0};
    if (!h->llama->find(h->llama, id, layer, &ref))
        return llama_required(id) ? attn_error("%s: missing tensor '%s'", s->path, ref.name) : 0;
    if (!ref.loadable) return attn_error("%s: tensor '%s' has dtype %s", s->path, ref.name, ref.dtype_name);
    int64_t d0, d1;
    llama_shape(&h->lc, id, &d0, &d1);
    if (check_shape(s->path, ref.name, ref.ndim, ref.shape, d0, d1)) return -1;
    char name[ATTN_GGUF_MAX_NAME + 1];
    snprintf(name, sizeof name, attn_llama_gguf_name(id), layer);
    const bool q = id == ATTN_LT_Q || id == ATTN_LT_Q_BIAS, k = id == ATTN_LT_K || id == ATTN_LT_K_BIAS;
    return add(s, name, ref.data, ref.dtype, ref.ndim, ref.shape, q || k ? OP_PERMUTE : OP_COPY,
               q ? h->lc.n_head : h->lc.n_kv_head);
}

static int llama_tensors(qsrc *s) {
    const attn_llama_config *c = &((hf_src *)s->impl)->lc;
    const attn_llama_tensor global[] = {ATTN_LT_TOKEN_EMBD, ATTN_LT_OUTPUT_NORM, ATTN_LT_OUTPUT};
    for (int i = 0; i < 3; i++)
        if ((global[i] != ATTN_LT_OUTPUT || !c->tie_embeddings) && llama_add(s, global[i], 0)) return -1;
    for (int l = 0; l < c->n_layer; l++)
        for (int id = ATTN_LT_ATTN_NORM; id < ATTN_LT_COUNT; id++)
            if (llama_add(s, (attn_llama_tensor)id, l)) return -1;
    return 0;
}

static int llama_open(qsrc *s, hf_src *h, const char *cfg) {
    if (attn_llama_config_read(cfg, &h->lc)) return -1;
    const attn_llama_config *c = &h->lc;
    if (strcmp(c->arch, "qwen2") == 0)
        return attn_error("%s: model_type qwen2 is not supported by attn quantize yet (llama and mistral are)", cfg);
    if (c->rope.scaling == ATTN_ROPE_SCALE_LLAMA3)
        return attn_error("%s: Llama 3 rope scaling needs a rope_freqs tensor, which attn quantize does not write",
                          cfg);
    if (c->head_dim % 2) return attn_error("%s: head_dim %lld is odd", cfg, (long long)c->head_dim);
    char weights[4200];
    struct stat st;
    snprintf(weights, sizeof weights, "%s/model.safetensors", h->dir);
    if (stat(weights, &st) != 0) snprintf(weights, sizeof weights, "%s/model.safetensors.index.json", h->dir);
    if (!(h->llama = attn_llama_source_hf(weights))) return -1;
    snprintf(s->arch, sizeof s->arch, "llama");
    s->n_layer = c->n_layer, s->n_head = c->n_head, s->n_head_kv = c->n_kv_head;
    h->cap = 3 + (int)c->n_layer * ATTN_LT_COUNT;
    return 0;
}

static int llama_meta(const hf_src *h, attn_gguf_writer *w) {
    const attn_llama_config *c = &h->lc;
    int rc = attn_gguf_set_u32(w, "llama.block_count", (uint32_t)c->n_layer) ||
             attn_gguf_set_u32(w, "llama.context_length", (uint32_t)c->n_ctx) ||
             attn_gguf_set_u32(w, "llama.embedding_length", (uint32_t)c->n_embd) ||
             attn_gguf_set_u32(w, "llama.feed_forward_length", (uint32_t)c->n_ff) ||
             attn_gguf_set_u32(w, "llama.attention.head_count", (uint32_t)c->n_head) ||
             attn_gguf_set_u32(w, "llama.attention.head_count_kv", (uint32_t)c->n_kv_head) ||
             attn_gguf_set_f32(w, "llama.rope.freq_base", (float)c->rope.theta) ||
             attn_gguf_set_f32(w, "llama.attention.layer_norm_rms_epsilon", c->rms_eps) ||
             attn_gguf_set_u32(w, "llama.attention.key_length", (uint32_t)c->head_dim) ||
             attn_gguf_set_u32(w, "llama.attention.value_length", (uint32_t)c->head_dim) ||
             attn_gguf_set_u32(w, "llama.vocab_size", (uint32_t)c->vocab) ||
             attn_gguf_set_u32(w, "llama.rope.dimension_count", (uint32_t)c->rope.dim);
    if (rc == 0 && c->rope.scaling == ATTN_ROPE_SCALE_LINEAR)
        rc = attn_gguf_set_str(w, "llama.rope.scaling.type", "linear") ||
             attn_gguf_set_f32(w, "llama.rope.scaling.factor", (float)c->rope.factor);
    return rc ? -1 : 0;
}

/* ---- GPT-2 ------------------------------------------------------------------------- */

/* PREFIX+hf (printf with the layer) under its ggml name, checked against [d0, d1]; `gguf`
 * overrides the name (the tied head written as output.weight). */
static int gpt2_add(qsrc *s, const char *gguf, const char *hf, int layer, int64_t d0, int64_t d1, hf_op op,
                    bool prefixed) {
    hf_src *h = s->impl;
    char leaf[128], full[160], name[ATTN_GGUF_MAX_NAME + 1];
    snprintf(leaf, sizeof leaf, hf, layer);
    snprintf(full, sizeof full, "%s%s", prefixed ? h->prefix : "", leaf);
    if (gguf) snprintf(name, sizeof name, "%s", gguf);
    else if (attn_gpt2_gguf_name(leaf, name, sizeof name) != 0) return attn_error("%s: no ggml name for '%s'", s->path, leaf);
    const attn_st_tensor *t = attn_st_set_find(h->st, full, NULL);
    if (!t) return attn_error("%s: missing tensor '%s'", s->path, full);
    if (!t->loadable) return attn_error("%s: tensor '%s' has dtype %s", s->path, full, t->dtype_name);
    if (check_shape(s->path, full, t->ndim, t->shape, d0, d1)) return -1;
    return add(s, name, t->data, t->dtype, t->ndim, t->shape, op, 0);
}

/* One block's HF names and [in][out] shapes (Conv1D weights are transposed). */
static int gpt2_layer(qsrc *s, int l) {
    const attn_gpt2_config *c = &((hf_src *)s->impl)->gc;
    const int64_t C = c->n_embd, I = c->n_inner;
    static const struct {
        const char *hf;
        int in, out; /* 0: C, 1: 3C, 2: I; out < 0 for vectors */
    } map[] = {
        {"h.%d.ln_1.weight", 0, -1},       {"h.%d.ln_1.bias", 0, -1},        {"h.%d.attn.c_attn.weight", 0, 1},
        {"h.%d.attn.c_attn.bias", 1, -1},  {"h.%d.attn.c_proj.weight", 0, 0}, {"h.%d.attn.c_proj.bias", 0, -1},
        {"h.%d.ln_2.weight", 0, -1},       {"h.%d.ln_2.bias", 0, -1},        {"h.%d.mlp.c_fc.weight", 0, 2},
        {"h.%d.mlp.c_fc.bias", 2, -1},     {"h.%d.mlp.c_proj.weight", 2, 0}, {"h.%d.mlp.c_proj.bias", 0, -1},
    };
    const int64_t size[3] = {C, 3 * C, I};
    for (size_t i = 0; i < sizeof map / sizeof *map; i++) {
        const bool mat = map[i].out >= 0;
        if (gpt2_add(s, NULL, map[i].hf, l, size[map[i].in], mat ? size[map[i].out] : 0, mat ? OP_TRANSPOSE : OP_COPY,
                     true))
            return -1;
    }
    return 0;
}

static int gpt2_tensors(qsrc *s) {
    hf_src *h = s->impl;
    const attn_gpt2_config *c = &h->gc;
    if (gpt2_add(s, NULL, "wte.weight", 0, c->vocab, c->n_embd, OP_COPY, true) ||
        gpt2_add(s, NULL, "wpe.weight", 0, c->n_ctx, c->n_embd, OP_COPY, true) ||
        gpt2_add(s, NULL, "ln_f.weight", 0, c->n_embd, 0, OP_COPY, true) ||
        gpt2_add(s, NULL, "ln_f.bias", 0, c->n_embd, 0, OP_COPY, true))
        return -1;
    /* the converter writes the (tied) head as its own tensor; an untied one lives outside the prefix */
    bool untied = attn_st_set_find(h->st, "lm_head.weight", NULL) != NULL;
    if (gpt2_add(s, "output.weight", untied ? "lm_head.weight" : "wte.weight", 0, c->vocab, c->n_embd, OP_COPY,
                 !untied))
        return -1;
    for (int l = 0; l < c->n_layer; l++)
        if (gpt2_layer(s, l)) return -1;
    return 0;
}

static int gpt2_open(qsrc *s, hf_src *h, const char *cfg) {
    if (attn_gpt2_config_read(cfg, &h->gc)) return -1;
    if (h->gc.scale_attn_by_inverse_layer_idx || !h->gc.scale_attn_weights)
        return attn_error("%s: scale_attn_by_inverse_layer_idx / scale_attn_weights false: llama.cpp's gpt2 "
                          "graph cannot express them", cfg);
    char weights[4200];
    snprintf(weights, sizeof weights, "%s/model.safetensors", h->dir);
    if (!(h->st = attn_st_set_open(weights))) return -1;
    if (attn_st_set_find(h->st, "transformer.wte.weight", NULL)) snprintf(h->prefix, sizeof h->prefix, "transformer.");
    snprintf(s->arch, sizeof s->arch, "gpt2");
    s->n_layer = h->gc.n_layer, s->n_head = s->n_head_kv = h->gc.n_head;
    h->cap = 5 + 12 * (int)h->gc.n_layer;
    h->gpt2 = true;
    return 0;
}

static int gpt2_meta(const hf_src *h, attn_gguf_writer *w) {
    const attn_gpt2_config *c = &h->gc;
    return attn_gguf_set_u32(w, "gpt2.block_count", (uint32_t)c->n_layer) ||
                   attn_gguf_set_u32(w, "gpt2.context_length", (uint32_t)c->n_ctx) ||
                   attn_gguf_set_u32(w, "gpt2.embedding_length", (uint32_t)c->n_embd) ||
                   attn_gguf_set_u32(w, "gpt2.feed_forward_length", (uint32_t)c->n_inner) ||
                   attn_gguf_set_u32(w, "gpt2.attention.head_count", (uint32_t)c->n_head) ||
                   attn_gguf_set_f32(w, "gpt2.attention.layer_norm_epsilon", c->eps)
               ? -1 : 0;
}

/* ---- tokenizer --------------------------------------------------------------------- */

/* GPT-2's bytes_to_unicode: printable Latin-1 bytes spell themselves, the other 68 bytes
 * U+0100.. in byte order. Appends the UTF-8 of byte b's character. */
static size_t byte_char(uint8_t b, char *out) {
    int cp = b;
    if (b <= 0x20) cp = 256 + b;
    else if (b >= 0x7F && b <= 0xA0) cp = 256 + 33 + (b - 0x7F);
    else if (b == 0xAD) cp = 256 + 67;
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    out[0] = (char)(0xC0 | cp >> 6);
    out[1] = (char)(0x80 | (cp & 0x3F));
    return 2;
}

typedef struct {
    char **text;   /* per id, malloc'd */
    int32_t *type; /* llama.cpp token types: 1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused */
    int64_t n;
    const char **merges;
    json_t *merge_pairs; /* owns the "a b" strings made from ["a", "b"] pairs */
    size_t n_merges;
} vocab;

static void vocab_free(vocab *v) {
    for (int64_t i = 0; v->text && i < v->n; i++) free(v->text[i]);
    free(v->text), free(v->type), free(v->merges);
    json_decref(v->merge_pairs);
}

/* "a b" for each merge, whether the file spells it "a b" or ["a", "b"]. */
static int read_merges(json_t *model, const char *src, vocab *v) {
    json_t *m = json_object_get(model, "merges");
    v->n_merges = json_array_size(m);
    v->merges = calloc(v->n_merges + 1, sizeof *v->merges);
    v->merge_pairs = json_array();
    if (!v->merges || !v->merge_pairs) return attn_error("out of memory reading %s", src);
    for (size_t i = 0; i < v->n_merges; i++) {
        json_t *e = json_array_get(m, i);
        if (json_is_array(e) && json_array_size(e) == 2) {
            char buf[1024];
            snprintf(buf, sizeof buf, "%s %s", json_string_value(json_array_get(e, 0)),
                     json_string_value(json_array_get(e, 1)));
            json_array_append_new(v->merge_pairs, json_string(buf));
            e = json_array_get(v->merge_pairs, json_array_size(v->merge_pairs) - 1);
        }
        if (!json_is_string(e)) return attn_error("%s: merge %zu is neither \"a b\" nor [\"a\", \"b\"]", src, i);
        v->merges[i] = json_string_value(e);
    }
    return 0;
}

/* Token i's text: added tokens and the unknown token as written, others in the byte-level
 * alphabet (the spelling llama.cpp's "gpt2" vocabularies use). */
static int token_text(const attn_tokenizer *tok, int32_t id, bool literal, bool merges, const char *src, char **out) {
    size_t len;
    const char *b = attn_tokenizer_token_bytes(tok, id, &len);
    if (!b) return attn_error("%s: no token has id %d", src, id);
    if (!literal && !merges && len != 1)
        return attn_error("%s: character token %d spans %zu bytes; a GGUF byte-level vocabulary without merges "
                          "cannot spell it", src, id, len);
    char *t = malloc(2 * len + 1);
    if (!t) return attn_error("out of memory");
    size_t n = 0;
    for (size_t k = 0; k < len; k++) {
        if (literal) t[n++] = b[k];
        else n += byte_char((uint8_t)b[k], t + n);
    }
    t[n] = 0;
    *out = t;
    return 0;
}

/* Token types from added_tokens (special: control, else user-defined) and model.unk_token. */
static void mark_types(json_t *root, const attn_tokenizer *tok, vocab *v) {
    size_t i;
    json_t *a;
    json_array_foreach(json_object_get(root, "added_tokens"), i, a) {
        json_int_t id = json_integer_value(json_object_get(a, "id"));
        if (id >= 0 && id < v->n) v->type[id] = json_is_true(json_object_get(a, "special")) ? 3 : 4;
    }
    const char *unk = json_string_value(json_object_get(json_object_get(root, "model"), "unk_token"));
    int32_t id = unk ? attn_tokenizer_find(tok, unk) : -1;
    if (id >= 0 && id < v->n && v->type[id] == 1) v->type[id] = 2;
}

static int build_vocab(json_t *root, const attn_tokenizer *tok, int64_t n_vocab, const char *src, vocab *v) {
    v->n = n_vocab;
    v->text = calloc((size_t)n_vocab, sizeof *v->text);
    v->type = malloc((size_t)n_vocab * sizeof *v->type);
    if (!v->text || !v->type) return attn_error("out of memory reading %s", src);
    if (read_merges(json_object_get(root, "model"), src, v)) return -1;
    const int n_tok = attn_tokenizer_vocab_size(tok);
    if (n_tok > n_vocab)
        return attn_error("%s: %d tokens but the model's vocab_size is %lld", src, n_tok, (long long)n_vocab);
    for (int64_t i = 0; i < n_vocab; i++) v->type[i] = i < n_tok ? 1 : 5;
    mark_types(root, tok, v);
    for (int64_t i = 0; i < n_vocab; i++) {
        if (i >= n_tok) { /* the converter's padding of embedding rows past the tokenizer */
            char pad[32];
            snprintf(pad, sizeof pad, "[PAD%lld]", (long long)i);
            if (!(v->text[i] = strdup(pad))) return attn_error("out of memory");
        } else if (token_text(tok, (int32_t)i, v->type[i] != 1, v->n_merges > 0, src, &v->text[i])) {
            return -1;
        }
    }
    return 0;
}

static int put_vocab(const vocab *v, const attn_tokenizer *tok, attn_gguf_writer *w) {
    const int32_t eos = attn_tokenizer_eos(tok);
    int rc = attn_gguf_set_str(w, "tokenizer.ggml.model", "gpt2") || attn_gguf_set_str(w, "tokenizer.ggml.pre", "gpt-2") ||
             attn_gguf_set_arr_str(w, "tokenizer.ggml.tokens", (const char *const *)v->text, (uint64_t)v->n) ||
             attn_gguf_set_arr(w, "tokenizer.ggml.token_type", ATTN_GGUF_I32, v->type, (uint64_t)v->n) ||
             attn_gguf_set_arr_str(w, "tokenizer.ggml.merges", v->merges, v->n_merges);
    /* GPT-2's converter: <|endoftext|> is bos and eos alike */
    if (rc == 0 && eos >= 0)
        rc = attn_gguf_set_u32(w, "tokenizer.ggml.bos_token_id", (uint32_t)eos) ||
             attn_gguf_set_u32(w, "tokenizer.ggml.eos_token_id", (uint32_t)eos);
    /* ...unless tokenizer_config.json asks for a BOS before prompts: the converter copies that */
    const int32_t bos = attn_tokenizer_bos_to_add(tok);
    if (rc == 0 && bos >= 0)
        rc = attn_gguf_set_u32(w, "tokenizer.ggml.bos_token_id", (uint32_t)bos) ||
             attn_gguf_set_bool(w, "tokenizer.ggml.add_bos_token", true);
    return rc ? -1 : 0;
}

static bool has_file(const char *dir, const char *name) {
    char path[4200];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return stat(path, &st) == 0;
}

/* tokenizer.json -> tokenizer.ggml.* ("gpt2" model, GPT-2 pre-tokenizer: the only kind of
 * tokenizer.json attn_tokenizer_load accepts, besides character vocabularies). */
static int put_hf_tokenizer(const char *dir, int64_t n_vocab, attn_gguf_writer *w) {
    char path[4200];
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    if (!has_file(dir, "tokenizer.json"))
        return attn_error("%s: no tokenizer.json (attn does not convert tokenizer.model or vocab.json); give --vocab "
                          "FILE.gguf to copy the tokenizer of a GGUF, e.g. one llama.cpp converted from this folder",
                          dir);
    attn_tokenizer *tok = attn_tokenizer_load(path);
    json_error_t err;
    json_t *root = tok ? json_load_file(path, 0, &err) : NULL;
    if (tok && !root) attn_error("%s:%d: %s", path, err.line, err.text);
    vocab v = {0};
    int rc = root && build_vocab(root, tok, n_vocab, path, &v) == 0 ? put_vocab(&v, tok, w) : -1;
    vocab_free(&v);
    json_decref(root);
    attn_tokenizer_free(tok);
    return rc;
}

int qsrc_copy_vocab(const char *path, int64_t n_vocab, attn_gguf_writer *w) {
    attn_gguf *g = attn_gguf_open(path);
    if (!g) return -1;
    const attn_gguf_value *tokens;
    uint64_t n = 0;
    int rc = attn_gguf_get_arr(g, "tokenizer.ggml.tokens", ATTN_GGUF_STR, &tokens, &n);
    if (rc == 0 && (int64_t)n != n_vocab)
        rc = attn_error("%s: --vocab has %llu tokens but the model's vocab_size is %lld", path, (unsigned long long)n,
                        (long long)n_vocab);
    for (int i = 0; rc == 0 && i < attn_gguf_kv_count(g); i++)
        if (strncmp(attn_gguf_kv_key(g, i), "tokenizer.", 10) == 0)
            rc = attn_gguf_set_value(w, attn_gguf_kv_key(g, i), attn_gguf_kv_value(g, i));
    attn_gguf_close(g);
    return rc ? -1 : 0;
}

/* ---- the source -------------------------------------------------------------------- */

static int hf_put_meta(const qsrc *s, attn_gguf_writer *w) {
    const hf_src *h = s->impl;
    const char *base = strrchr(h->dir, '/');
    base = base && base[1] ? base + 1 : h->dir;
    if (attn_gguf_set_str(w, "general.architecture", s->arch) || attn_gguf_set_str(w, "general.type", "model") ||
        attn_gguf_set_str(w, "general.name", base) || (h->gpt2 ? gpt2_meta(h, w) : llama_meta(h, w)))
        return -1;
    const int64_t n_vocab = h->gpt2 ? h->gc.vocab : h->lc.vocab;
    if (s->no_tokenizer) return 0;
    return h->vocab ? qsrc_copy_vocab(h->vocab, n_vocab, w) : put_hf_tokenizer(h->dir, n_vocab, w);
}

static void hf_close(qsrc *s) {
    hf_src *h = s->impl;
    if (h) {
        attn_llama_source_close(h->llama);
        attn_st_set_close(h->st);
        free(h->ht);
    }
    free(h);
    free(s->t);
    free(s);
}

static int hf_open(qsrc *s, hf_src *h) {
    char cfg[4200];
    snprintf(cfg, sizeof cfg, "%s/config.json", h->dir);
    json_t *root = attn_json_load_object(cfg);
    if (!root) return -1;
    const char *type = json_string_value(json_object_get(root, "model_type"));
    int rc;
    if (type && strcmp(type, "gpt2") == 0) rc = gpt2_open(s, h, cfg);
    else if (type && (strcmp(type, "llama") == 0 || strcmp(type, "mistral") == 0 || strcmp(type, "qwen2") == 0))
        rc = llama_open(s, h, cfg);
    else rc = attn_error("%s: model_type %s%s%s is not supported by attn quantize (gpt2, llama, mistral)", cfg,
                         type ? "\"" : "", type ? type : "(none)", type ? "\"" : "");
    json_decref(root);
    if (rc) return -1;
    s->t = calloc((size_t)h->cap, sizeof *s->t);
    h->ht = calloc((size_t)h->cap, sizeof *h->ht);
    if (!s->t || !h->ht) return attn_error("out of memory reading %s", h->dir);
    return h->gpt2 ? gpt2_tensors(s) : llama_tensors(s);
}

qsrc *qsrc_open_hf(const char *dir, const char *vocab) {
    qsrc *s = calloc(1, sizeof *s);
    hf_src *h = calloc(1, sizeof *h);
    if (!s || !h) {
        free(s), free(h);
        attn_error("out of memory");
        return NULL;
    }
    *h = (hf_src){.dir = dir, .vocab = vocab};
    *s = (qsrc){.path = dir, .put_meta = hf_put_meta, .to_f32 = hf_to_f32, .close = hf_close, .impl = h};
    const char *const tokenizer_files[] = {"tokenizer.json", "tokenizer.model", "vocab.json"};
    s->no_tokenizer = !vocab;
    for (int i = 0; i < 3; i++) s->no_tokenizer &= !has_file(dir, tokenizer_files[i]);
    if (hf_open(s, h) != 0) {
        hf_close(s);
        return NULL;
    }
    return s;
}
