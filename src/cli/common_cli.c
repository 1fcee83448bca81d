/* common_cli.c - model/tokenizer loading and small printing helpers shared by commands. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <utf8proc.h>
#include "commands.h"
#include "core/common.h"
#include "core/cpu.h"
#include "core/threadpool.h"

int cli_setup_runtime(const char *cmd, int threads, const char *isa) {
    if (isa) {
        attn_isa want;
        if (attn_isa_parse(isa, &want) != 0 || attn_isa_set(want) != 0) {
            fprintf(stderr, "attn %s: %s\n", cmd, attn_last_error());
            return -1;
        }
    }
    if (attn_threads_init(threads) != 0) {
        fprintf(stderr, "attn %s: %s\n", cmd, attn_last_error());
        return -1;
    }
    return 0;
}

attn_model *cli_load_model(const char *cmd, const char *path) {
    if (!path) {
        fprintf(stderr, "attn %s: no model given: use -m DIR (a folder with config.json and model.safetensors)\n", cmd);
        return NULL;
    }
    attn_model *m = attn_model_load(path);
    if (!m) fprintf(stderr, "attn %s: %s\n", cmd, attn_last_error());
    return m;
}

static bool exists(const char *p) {
    struct stat st;
    return stat(p, &st) == 0;
}

attn_tokenizer *cli_load_tokenizer(const char *cmd, const char *explicit_path, const char *model_path, bool required) {
    const char *path = explicit_path;
    char dir[4096];
    size_t mlen = model_path ? strlen(model_path) : 0;
    if (!path && mlen > 5 && strcmp(model_path + mlen - 5, ".gguf") == 0) path = model_path; /* it carries one */
    if (!path && model_path) {
        struct stat st;
        snprintf(dir, sizeof dir, "%s", model_path);
        if (stat(dir, &st) == 0 && !S_ISDIR(st.st_mode)) {
            char *slash = strrchr(dir, '/');
            if (slash) *slash = 0;
            else snprintf(dir, sizeof dir, ".");
        }
        char probe[4200], probe2[4200];
        snprintf(probe, sizeof probe, "%s/tokenizer.json", dir);
        snprintf(probe2, sizeof probe2, "%s/vocab.json", dir);
        if (exists(probe) || exists(probe2)) path = dir;
    }
    if (!path) {
        if (required)
            fprintf(stderr, "attn %s: no tokenizer found beside the model: give --tokenizer PATH (tokenizer.json, or "
                            "a folder with vocab.json and merges.txt)\n", cmd);
        return NULL;
    }
    attn_tokenizer *tok = attn_tokenizer_load(path);
    if (!tok) fprintf(stderr, "attn %s: %s\n", cmd, attn_last_error());
    return tok;
}

char *cli_read_text(const char *cmd, const char *path, size_t *len) {
    char *text = attn_read_file(path, len);
    if (!text) fprintf(stderr, "attn %s: %s\n", cmd, attn_last_error());
    return text;
}

/* Invalid UTF-8 (random-weight models emit any byte) becomes U+FFFD so the JSON stays valid. */
void cli_print_json_string(const char *s, size_t len) {
    putchar('"');
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x80) {
            utf8proc_int32_t cp;
            utf8proc_ssize_t n = utf8proc_iterate((const utf8proc_uint8_t *)s + i, (utf8proc_ssize_t)(len - i), &cp);
            if (n <= 0) printf("\\ufffd");
            else fwrite(s + i, 1, (size_t)n, stdout), i += (size_t)n - 1;
            continue;
        }
        if (c == '"' || c == '\\') printf("\\%c", c);
        else if (c == '\n') printf("\\n");
        else if (c == '\r') printf("\\r");
        else if (c == '\t') printf("\\t");
        else if (c < 0x20) printf("\\u%04x", c);
        else putchar(c);
    }
    putchar('"');
}
