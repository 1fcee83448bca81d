/* model.c - finds the checkpoint's files, dispatches on config.json's model_type, and
 * checks every forward call's inputs before a family sees them. */
#include "model.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "core/common.h"
#include "format/config.h"

static int is_dir(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

attn_model *attn_model_load(const char *path) {
    char dir[4096], weights[4096], cfg[4200];
    struct stat st;
    if (stat(path, &st) != 0) {
        attn_error("%s: %s", path, strerror(errno));
        return NULL;
    }
    size_t len = strlen(path);
    if (!is_dir(path) && len > 5 && strcmp(path + len - 5, ".gguf") == 0) return attn_llama_load_gguf(path);
    if (is_dir(path)) {
        snprintf(dir, sizeof dir, "%s", path);
        snprintf(weights, sizeof weights, "%s/model.safetensors", path);
    } else {
        snprintf(weights, sizeof weights, "%s", path);
        snprintf(dir, sizeof dir, "%s", path);
        char *slash = strrchr(dir, '/');
        if (slash) *slash = 0;
        else snprintf(dir, sizeof dir, ".");
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
    return m;
}

void attn_model_free(attn_model *m) {
    if (m) m->ops->free(m);
}

const attn_model_info *attn_model_get_info(const attn_model *m) { return &m->info; }
int64_t attn_model_n_past(const attn_model *m) { return m->n_past; }
void attn_model_reset(attn_model *m) { m->n_past = 0; }

int attn_model_truncate(attn_model *m, int64_t n_past) {
    if (n_past < 0 || n_past > m->n_past)
        return attn_error("cannot truncate the cache to %lld positions (it holds %lld)", (long long)n_past,
                          (long long)m->n_past);
    m->n_past = n_past;
    return 0;
}

int attn_model_forward(attn_model *m, const int32_t *tokens, int64_t n, float *logits, bool all) {
    if (n <= 0) return attn_error("forward needs at least one token");
    if (m->n_past + n > m->info.n_ctx)
        return attn_error("context overflow: %lld tokens in the cache + %lld new exceed the context of %lld",
                          (long long)m->n_past, (long long)n, (long long)m->info.n_ctx);
    for (int64_t i = 0; i < n; i++)
        if (tokens[i] < 0 || tokens[i] >= m->info.vocab_size)
            return attn_error("token id %d at index %lld is outside the vocabulary [0, %lld)", tokens[i],
                              (long long)i, (long long)m->info.vocab_size);
    if (m->ops->forward(m, tokens, n, logits, all) != 0) return -1;
    m->n_past += n;
    return 0;
}
