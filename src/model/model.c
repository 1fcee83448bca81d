/* model.c - finds the checkpoint's files, dispatches on config.json's model_type, keeps each
 * sequence's position, and checks every forward call's inputs before a family sees them. */
#include "model.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "core/common.h"
#include "format/config.h"
#include "format/gguf.h"
#include "batch_rows.h"

static int is_dir(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

/* The chat template Hugging Face saves beside the weights: chat_template.jinja (newer
 * transformers), else tokenizer_config.json's "chat_template", a string or a list of
 * {"name", "template"} whose "default" one is for chat. Malloc'd; NULL when there is none. A
 * file that cannot be read counts as none: the tokenizer's loader reports broken tokenizer files. */
static char *hf_chat_template(const char *dir) {
    char path[4200];
    size_t len;
    snprintf(path, sizeof path, "%s/chat_template.jinja", dir);
    struct stat st;
    if (stat(path, &st) == 0) return attn_read_file(path, &len);
    snprintf(path, sizeof path, "%s/tokenizer_config.json", dir);
    json_t *root = stat(path, &st) == 0 ? json_load_file(path, 0, NULL) : NULL;
    json_t *t = json_object_get(root, "chat_template");
    for (size_t i = 0; json_is_array(t) && i < json_array_size(t); i++) {
        json_t *named = json_array_get(t, i);
        if (json_is_string(json_object_get(named, "name")) &&
            strcmp(json_string_value(json_object_get(named, "name")), "default") == 0)
            t = json_object_get(named, "template");
    }
    char *jinja = json_is_string(t) ? strdup(json_string_value(t)) : NULL;
    json_decref(root);
    return jinja;
}

/* A .gguf file by its general.architecture: gpt2 or llama; any other is refused with the
 * list. A file without one (or not a string) goes to the llama loader, which names the key. */
static attn_model *gguf_load(const char *path) {
    attn_gguf *g = attn_gguf_open(path);
    if (!g) return NULL;
    const char *arch = NULL;
    bool named = attn_gguf_find(g, "general.architecture") &&
                 attn_gguf_get_str(g, "general.architecture", &arch, NULL) == 0;
    bool gpt2 = named && strcmp(arch, "gpt2") == 0, other = named && !gpt2 && strcmp(arch, "llama") != 0;
    if (other) attn_error("%s: general.architecture \"%s\" is not supported (gpt2, llama)", path, arch);
    attn_gguf_close(g); /* arch points into g: not read after this */
    return other ? NULL : gpt2 ? attn_gpt2_load_gguf(path) : attn_llama_load_gguf(path);
}

attn_model *attn_model_load(const char *path) {
    char dir[4096], weights[4096], cfg[4200];
    struct stat st;
    if (stat(path, &st) != 0) {
        attn_error("%s: %s", path, strerror(errno));
        return NULL;
    }
    if (!is_dir(path) && attn_ends_with(path, ".gguf")) return gguf_load(path);
    if (!is_dir(path) && attn_ends_with(path, ".bin")) return attn_llama_load_llama2c(path);
    if (is_dir(path)) {
        snprintf(dir, sizeof dir, "%s", path);
        snprintf(weights, sizeof weights, "%s/model.safetensors", path);
    } else {
        snprintf(weights, sizeof weights, "%s", path);
        attn_path_dir(path, dir, sizeof dir);
    }
    snprintf(cfg, sizeof cfg, "%s/config.json", dir);
    json_t *root = attn_json_load_object(cfg);
    if (!root) return NULL;
    const char *type = attn_cfg_str(root, cfg, "model_type", NULL);
    attn_model *m = NULL;
    if (!type) {
        if (!json_object_get(root, "model_type"))
            attn_error("%s: no \"model_type\" (expected \"gpt2\", \"llama\", \"mistral\" or \"qwen2\")", cfg);
    } else if (strcmp(type, "gpt2") == 0) {
        m = attn_gpt2_load(dir, weights);
    } else if (strcmp(type, "llama") == 0 || strcmp(type, "mistral") == 0 || strcmp(type, "qwen2") == 0) {
        m = attn_llama_load(dir, weights);
    } else {
        attn_error("%s: model_type \"%s\" is not supported yet (supported: gpt2, llama, mistral, qwen2)", cfg, type);
    }
    json_decref(root);
    if (m) m->info.chat_template = hf_chat_template(dir);
    return m;
}

attn_model *attn_model_new(const attn_model_ops *ops, void *impl) {
    attn_model *m = calloc(1, sizeof *m);
    if (!m) {
        attn_error("out of memory");
        return NULL;
    }
    m->ops = ops, m->impl = impl;
    return m;
}

void attn_model_free(attn_model *m) {
    if (!m) return;
    if (m->impl) m->ops->free(m);
    free((char *)m->info.chat_template); /* the model's own copy (llama_build, attn_model_load) */
    free(m->n_past), free(m->segs);
    free(m);
}

const attn_model_info *attn_model_get_info(const attn_model *m) { return &m->info; }

/* ---- sequences -------------------------------------------------------------------- */

int attn_model_set_sequences(attn_model *m, int n_seq, int64_t n_ctx) {
    if (n_seq < 1) return attn_error("a model needs at least one sequence (asked for %d)", n_seq);
    if (n_ctx < 0 || n_ctx > m->info.n_ctx)
        return attn_error("a sequence's context of %lld positions is outside [1, %lld] (0 means the model's)",
                          (long long)n_ctx, (long long)m->info.n_ctx);
    if (n_ctx == 0) n_ctx = m->info.n_ctx;
    int64_t *n_past = calloc((size_t)n_seq, sizeof *n_past);
    attn_batch_segment *segs = calloc((size_t)n_seq, sizeof *segs);
    if (!n_past || !segs || m->ops->set_sequences(m, n_seq, n_ctx) != 0) {
        if (!n_past || !segs) attn_error("out of memory for %d sequences", n_seq);
        free(n_past), free(segs);
        return -1;
    }
    free(m->n_past), free(m->segs);
    m->n_past = n_past, m->segs = segs, m->n_seq = n_seq, m->seq_ctx = n_ctx;
    return 0;
}

int attn_model_n_sequences(const attn_model *m) { return m->n_seq; }

void attn_model_default_kv(attn_model *m) { m->kv_type = m->info.quantized ? ATTN_F16 : ATTN_F32; }

attn_dtype attn_model_kv_type(const attn_model *m) { return m->kv_type; }

int attn_model_set_kv_type(attn_model *m, attn_dtype type) {
    if (type != ATTN_F32 && type != ATTN_F16)
        return attn_error("the KV cache holds f32 or f16, not %s", attn_dtype_name(type));
    attn_dtype old = m->kv_type;
    m->kv_type = type;
    if (m->ops->set_sequences(m, m->n_seq, m->seq_ctx) != 0) {
        m->kv_type = old;
        return -1;
    }
    memset(m->n_past, 0, (size_t)m->n_seq * sizeof *m->n_past);
    return 0;
}

int64_t attn_model_seq_n_past(const attn_model *m, int seq) {
    return seq >= 0 && seq < m->n_seq ? m->n_past[seq] : 0;
}

int attn_model_seq_truncate(attn_model *m, int seq, int64_t n_past) {
    if (seq < 0 || seq >= m->n_seq)
        return attn_error("sequence %d is outside [0, %d)", seq, m->n_seq);
    if (n_past < 0 || n_past > m->n_past[seq])
        return attn_error("cannot truncate the cache to %lld positions (it holds %lld)", (long long)n_past,
                          (long long)m->n_past[seq]);
    m->n_past[seq] = n_past;
    return 0;
}

int64_t attn_model_n_past(const attn_model *m) { return m->n_past[0]; }
void attn_model_reset(attn_model *m) { m->n_past[0] = 0; }
int attn_model_truncate(attn_model *m, int64_t n_past) { return attn_model_seq_truncate(m, 0, n_past); }

/* ---- forward ---------------------------------------------------------------------- */

/* n tokens for sequence `seq`: at least one, each in the vocabulary, and room for them.
 * `item` >= 0 names the batch item in messages. */
static int check_tokens(const attn_model *m, int seq, const int32_t *tokens, int64_t n, int item) {
    char where[64] = "";
    if (item >= 0) snprintf(where, sizeof where, " of batch item %d (sequence %d)", item, seq);
    if (n <= 0 || !tokens) return attn_error("forward needs at least one token%s", where);
    if (m->n_past[seq] + n > m->seq_ctx)
        return attn_error("context overflow%s: %lld tokens in the cache + %lld new exceed the context of %lld", where,
                          (long long)m->n_past[seq], (long long)n, (long long)m->seq_ctx);
    for (int64_t i = 0; i < n; i++)
        if (tokens[i] < 0 || tokens[i] >= m->info.vocab_size)
            return attn_error("token id %d at index %lld%s is outside the vocabulary [0, %lld)", tokens[i],
                              (long long)i, where, (long long)m->info.vocab_size);
    return 0;
}

static void advance(attn_model *m, const attn_batch_item *items, int n_items) {
    for (int i = 0; i < n_items; i++) m->n_past[items[i].seq] += items[i].n;
}

int attn_model_forward(attn_model *m, const int32_t *tokens, int64_t n, float *logits, bool all) {
    if (check_tokens(m, 0, tokens, n, -1) != 0) return -1;
    attn_batch_item item = {.seq = 0, .tokens = tokens, .n = n, .logits = logits, .all_logits = all};
    if (m->ops->forward(m, &item, 1) != 0) return -1;
    advance(m, &item, 1);
    return 0;
}

/* Sequence numbers in range and distinct (a batch holds at most n_seq items, so the
 * pairwise scan stays small), then each item's tokens. */
static int check_batch(const attn_model *m, const attn_batch_item *items, int n_items) {
    if (n_items < 1 || !items) return attn_error("a batch needs at least one item");
    for (int i = 0; i < n_items; i++) {
        int seq = items[i].seq;
        if (seq < 0 || seq >= m->n_seq)
            return attn_error("batch item %d: sequence %d is outside [0, %d)", i, seq, m->n_seq);
        for (int j = 0; j < i; j++)
            if (items[j].seq == seq)
                return attn_error("batch items %d and %d both name sequence %d (at most one item per sequence)", j,
                                  i, seq);
        if (check_tokens(m, seq, items[i].tokens, items[i].n, i) != 0) return -1;
    }
    return 0;
}

int attn_model_forward_batch(attn_model *m, const attn_batch_item *items, int n_items) {
    if (check_batch(m, items, n_items) != 0) return -1;
    if (m->ops->forward(m, items, n_items) != 0) return -1;
    advance(m, items, n_items);
    return 0;
}
