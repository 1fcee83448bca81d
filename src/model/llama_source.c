/* llama_source.c - the Hugging Face safetensors source of LLaMA-family tensors: logical
 * names to HF's names, tensors found across shards (see llama_source.h). */
#include "llama_source.h"

#include <stdio.h>
#include <stdlib.h>
#include "core/common.h"
#include "format/safetensors_set.h"

/* HF names below "model." (the head lives outside it); %d is the layer. */
static const char *const hf_names[ATTN_LT_COUNT] = {
    [ATTN_LT_TOKEN_EMBD] = "embed_tokens.weight",
    [ATTN_LT_OUTPUT_NORM] = "norm.weight",
    [ATTN_LT_OUTPUT] = "lm_head.weight",
    [ATTN_LT_ATTN_NORM] = "layers.%d.input_layernorm.weight",
    [ATTN_LT_Q] = "layers.%d.self_attn.q_proj.weight",
    [ATTN_LT_K] = "layers.%d.self_attn.k_proj.weight",
    [ATTN_LT_V] = "layers.%d.self_attn.v_proj.weight",
    [ATTN_LT_O] = "layers.%d.self_attn.o_proj.weight",
    [ATTN_LT_Q_BIAS] = "layers.%d.self_attn.q_proj.bias",
    [ATTN_LT_K_BIAS] = "layers.%d.self_attn.k_proj.bias",
    [ATTN_LT_V_BIAS] = "layers.%d.self_attn.v_proj.bias",
    [ATTN_LT_O_BIAS] = "layers.%d.self_attn.o_proj.bias",
    [ATTN_LT_FFN_NORM] = "layers.%d.post_attention_layernorm.weight",
    [ATTN_LT_GATE] = "layers.%d.mlp.gate_proj.weight",
    [ATTN_LT_UP] = "layers.%d.mlp.up_proj.weight",
    [ATTN_LT_DOWN] = "layers.%d.mlp.down_proj.weight",
    [ATTN_LT_GATE_BIAS] = "layers.%d.mlp.gate_proj.bias",
    [ATTN_LT_UP_BIAS] = "layers.%d.mlp.up_proj.bias",
    [ATTN_LT_DOWN_BIAS] = "layers.%d.mlp.down_proj.bias",
};

typedef struct {
    attn_st_set *set;
    const char *prefix; /* "model." or "" */
} hf_source;

static int hf_find(const attn_llama_source *s, attn_llama_tensor id, int layer, attn_tensor_ref *out) {
    const hf_source *hf = s->impl;
    char leaf[160];
    snprintf(leaf, sizeof leaf, hf_names[id], layer);
    snprintf(out->name, sizeof out->name, "%s%s", id == ATTN_LT_OUTPUT ? "" : hf->prefix, leaf);
    const attn_st_tensor *t = attn_st_set_find(hf->set, out->name, &out->file);
    if (!t) {
        out->file = s->path;
        return 0;
    }
    out->loadable = t->loadable, out->dtype_name = t->dtype_name, out->dtype = t->dtype, out->ndim = t->ndim;
    for (int i = 0; i < ATTN_MAX_DIMS; i++) out->shape[i] = i < t->ndim ? t->shape[i] : 0;
    out->data = t->data, out->nbytes = t->nbytes;
    return 1;
}

/* The shard the range lies in hands its pages back; the others ignore it. */
static void hf_release(const attn_llama_source *s, const void *data, size_t nbytes) {
    const hf_source *hf = s->impl;
    for (int i = 0; i < attn_st_set_count(hf->set); i++)
        attn_safetensors_release(attn_st_set_at(hf->set, i), data, nbytes);
}

static void hf_close(attn_llama_source *s) {
    hf_source *hf = s->impl;
    if (hf) attn_st_set_close(hf->set);
    free(hf);
    free(s);
}

attn_llama_source *attn_llama_source_hf(const char *weights_path) {
    attn_llama_source *s = calloc(1, sizeof *s);
    hf_source *hf = calloc(1, sizeof *hf);
    if (!s || !hf) {
        free(s), free(hf);
        attn_error("out of memory");
        return NULL;
    }
    *s = (attn_llama_source){.find = hf_find, .close = hf_close, .release = hf_release, .impl = hf};
    if (!(hf->set = attn_st_set_open(weights_path))) {
        hf_close(s);
        return NULL;
    }
    s->path = attn_st_set_path(hf->set);
    s->origin = attn_safetensors_meta(attn_st_set_at(hf->set, 0), "attn.origin");
    /* LlamaForCausalLM saves model.*; a bare LlamaModel saves the same names unprefixed */
    hf->prefix = attn_st_set_find(hf->set, "embed_tokens.weight", NULL) ? "" : "model.";
    return s;
}
