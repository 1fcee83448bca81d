/* gpt2_gguf.c - GPT-2's hyperparameters and tensor names in GGUF files (see gpt2_gguf.h). */
#include "gpt2_gguf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "core/common.h"
#include "llama_gguf.h"

static const struct {
    const char *hf, *gguf;
} global_names[] = {{"wte.weight", "token_embd.weight"},  {"wpe.weight", "position_embd.weight"},
                    {"ln_f.weight", "output_norm.weight"}, {"ln_f.bias", "output_norm.bias"},
                    {"lm_head.weight", "output.weight"}};

/* Inside "h.N.": HF's leaf -> ggml's leaf inside "blk.N.". */
static const struct {
    const char *hf, *gguf;
} layer_names[] = {{"ln_1.", "attn_norm."},         {"attn.c_attn.", "attn_qkv."}, {"attn.c_proj.", "attn_output."},
                   {"ln_2.", "ffn_norm."},          {"mlp.c_fc.", "ffn_up."},      {"mlp.c_proj.", "ffn_down."}};

int attn_gpt2_gguf_name(const char *hf, char *out, size_t cap) {
    for (size_t i = 0; i < sizeof global_names / sizeof *global_names; i++)
        if (strcmp(hf, global_names[i].hf) == 0) return snprintf(out, cap, "%s", global_names[i].gguf) < 0 ? -1 : 0;
    int layer, at = 0;
    if (sscanf(hf, "h.%d.%n", &layer, &at) != 1 || at == 0) return -1;
    const char *leaf = hf + at;
    for (size_t i = 0; i < sizeof layer_names / sizeof *layer_names; i++) {
        size_t n = strlen(layer_names[i].hf);
        const char *kind = leaf + n; /* "weight" or "bias" */
        if (strncmp(leaf, layer_names[i].hf, n) == 0 && (strcmp(kind, "weight") == 0 || strcmp(kind, "bias") == 0))
            return snprintf(out, cap, "blk.%d.%s%s", layer, layer_names[i].gguf, kind) < 0 ? -1 : 0;
    }
    return -1;
}

int attn_gpt2_gguf_find(const attn_gguf *g, const char *hf_name, attn_tensor_ref *out) {
    char name[sizeof out->name];
    if (attn_gpt2_gguf_name(hf_name, name, sizeof name) != 0) snprintf(name, sizeof name, "%s", hf_name);
    return attn_gguf_tensor_ref(g, name, out);
}

/* "gpt2.<key>" as an integer; def < 0: required. */
static int key_int(const attn_gguf *g, const char *key, int64_t def, int64_t *out) {
    char full[96];
    snprintf(full, sizeof full, "gpt2.%s", key);
    *out = def;
    if (def >= 0 && !attn_gguf_find(g, full)) return 0;
    return attn_gguf_get_int(g, full, out);
}

/* Whether gpt2.c binds tensor `name` of a model with n_layer blocks. */
static bool bound(const char *name, int64_t n_layer) {
    for (size_t i = 0; i < sizeof global_names / sizeof *global_names; i++)
        if (strcmp(name, global_names[i].gguf) == 0) return true;
    int layer, at = 0;
    char canon[32];
    if (sscanf(name, "blk.%d.%n", &layer, &at) != 1 || at == 0 || layer < 0 || layer >= n_layer) return false;
    snprintf(canon, sizeof canon, "blk.%d.", layer);
    if (strncmp(name, canon, (size_t)at) != 0) return false; /* "blk.01." */
    const char *leaf = name + at;
    for (size_t i = 0; i < sizeof layer_names / sizeof *layer_names; i++) {
        size_t n = strlen(layer_names[i].gguf);
        if (strncmp(leaf, layer_names[i].gguf, n) == 0 && (!strcmp(leaf + n, "weight") || !strcmp(leaf + n, "bias")))
            return true;
    }
    return false;
}

/* Every tensor must be one the model uses, as llama.cpp's loader wants: a block past
 * block_count means the count lies (attn would silently run fewer layers). */
static int check_unused(const attn_gguf *g, int64_t n_layer) {
    for (int i = 0; i < attn_gguf_tensor_count(g); i++) {
        const char *name = attn_gguf_tensor_at(g, i)->name;
        if (!bound(name, n_layer))
            return attn_error("%s: tensor '%s' is not one the model uses (gpt2.block_count is %lld)",
                              attn_gguf_path(g), name, (long long)n_layer);
    }
    return 0;
}

int attn_gpt2_gguf_config(const attn_gguf *g, attn_gpt2_config *c) {
    const char *arch;
    if (attn_gguf_get_str(g, "general.architecture", &arch, NULL)) return -1;
    if (strcmp(arch, "gpt2") != 0)
        return attn_error("%s: general.architecture \"%s\" is not gpt2", attn_gguf_path(g), arch);
    attn_gpt2_config_defaults(c);
    float eps = 1e-5f;
    if (key_int(g, "block_count", -1, &c->n_layer) || key_int(g, "embedding_length", -1, &c->n_embd) ||
        key_int(g, "attention.head_count", -1, &c->n_head) || key_int(g, "context_length", -1, &c->n_ctx) ||
        key_int(g, "feed_forward_length", 4 * c->n_embd, &c->n_inner) ||
        attn_gguf_get_f32(g, "gpt2.attention.layer_norm_epsilon", &eps) || attn_gguf_model_vocab(g, "gpt2", &c->vocab))
        return -1;
    c->eps = eps;
    c->scale_attn_weights = true, c->scale_attn_by_inverse_layer_idx = false; /* all llama.cpp's graph does */
    return attn_gpt2_config_check(c, attn_gguf_path(g)) || check_unused(g, c->n_layer) ? -1 : 0;
}
