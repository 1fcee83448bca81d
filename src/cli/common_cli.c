/* common_cli.c - model/tokenizer loading and small printing helpers shared by commands. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include "commands.h"
#include "core/common.h"
#include "core/cpu.h"
#include "core/gemm.h"
#include "core/threadpool.h"

static int kv_choice = -1; /* --kv-type: an attn_dtype, or -1 for the model's default */

int cli_setup_runtime(const char *cmd, int threads, const char *isa, const char *matmul, const char *kv_type) {
    if (kv_type) {
        if (strcmp(kv_type, "f32") != 0 && strcmp(kv_type, "f16") != 0 && strcmp(kv_type, "auto") != 0) {
            fprintf(stderr, "attn %s: --kv-type %s: choose auto, f32 or f16\n", cmd, kv_type);
            return -1;
        }
        kv_choice = strcmp(kv_type, "f32") == 0 ? ATTN_F32 : strcmp(kv_type, "f16") == 0 ? ATTN_F16 : -1;
    }
    if (isa) { /* first: whether bf16 products exist depends on the kernels chosen */
        attn_isa want;
        if (attn_isa_parse(isa, &want) != 0 || attn_isa_set(want) != 0) {
            fprintf(stderr, "attn %s: %s\n", cmd, attn_last_error());
            return -1;
        }
    }
    if (matmul) {
        attn_matmul_precision p;
        if (attn_matmul_precision_parse(matmul, &p) != 0 || attn_gemm_set_precision(p) != 0) {
            fprintf(stderr, "attn %s: %s\n", cmd, attn_last_error());
            return -1;
        }
        if (p == ATTN_MATMUL_INT8 && strcmp(cmd, "train") == 0) { /* it rounds only prompts on quantized weights */
            fprintf(stderr, "attn train: --matmul int8 is for prompts on quantized weights; training takes f32 or bf16\n");
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
    if (m && kv_choice >= 0 && attn_model_set_kv_type(m, (attn_dtype)kv_choice) != 0) {
        attn_model_free(m);
        m = NULL;
    }
    if (!m) fprintf(stderr, "attn %s: %s\n", cmd, attn_last_error());
    return m;
}

static bool exists(const char *p) {
    struct stat st;
    return stat(p, &st) == 0;
}

const char *cli_default_model(const char *cmd) {
    static char path[4096];
    const char *env = getenv("ATTN_MODEL");
    if (env && *env) return env;
    const char *dir = getenv("ATTN_MODELS"), *home = getenv("HOME");
    if (dir && *dir) snprintf(path, sizeof path, "%s/SmolLM2-135M-Instruct.Q4_1.gguf", dir);
    else snprintf(path, sizeof path, "%s/.cache/attn/models/SmolLM2-135M-Instruct.Q4_1.gguf", home ? home : ".");
    if (exists(path)) return path;
    fprintf(stderr, "attn %s: no model given: use -m MODEL, set ATTN_MODEL, or run scripts/fetch-smollm2.sh once to "
                    "download SmolLM2-135M-Instruct (93 MB) to %s\n", cmd, path);
    return NULL;
}

int cli_sampling_options(opt_spec *opts, attn_generate_params *gen, str_list *stops, bool *ignore_eos,
                         char seed_short) {
    attn_generate_defaults(gen);
    gen->sampling.seed = (uint64_t)time(NULL) ^ ((uint64_t)clock() << 32);
    attn_sampler_params *s = &gen->sampling;
    const opt_spec shared[CLI_SAMPLING_OPTS] = {
        {"max-tokens", 'n', OPT_INT, &gen->max_tokens, "tokens to generate", 0, 1 << 24},
        {"temp", 0, OPT_FLOAT, &s->temperature, "sampling temperature; 0 = greedy", 0, 100},
        {"top-k", 0, OPT_INT, &s->top_k, "keep the k most likely tokens; 0 = off", 0, 1 << 24},
        {"top-p", 0, OPT_FLOAT, &s->top_p, "nucleus sampling threshold; 1 = off", 0, 1},
        {"min-p", 0, OPT_FLOAT, &s->min_p, "drop tokens below min-p x the top probability; 0 = off", 0, 1},
        {"repeat-penalty", 0, OPT_FLOAT, &s->repeat_penalty, "penalty for recent tokens; 1 = off", 0, 100},
        {"repeat-last-n", 0, OPT_INT, &s->repeat_last_n, "how many recent tokens the penalties see", -1, 1 << 24},
        {"presence-penalty", 0, OPT_FLOAT, &s->presence_penalty, "OpenAI-style presence penalty", -2, 2},
        {"frequency-penalty", 0, OPT_FLOAT, &s->frequency_penalty, "OpenAI-style frequency penalty", -2, 2},
        {"seed", seed_short, OPT_U64, &s->seed, "random seed (same seed, same text); default: from the clock", 0, 0},
        {"stop", 0, OPT_STR_LIST, stops, "stop when this text appears (repeatable)", 0, 0},
        {"ignore-eos", 0, OPT_FLAG, ignore_eos, "keep generating past end-of-text", 0, 0},
    };
    memcpy(opts, shared, sizeof shared);
    return CLI_SAMPLING_OPTS;
}

attn_tokenizer *cli_load_tokenizer(const char *cmd, const char *explicit_path, const char *model_path, bool required) {
    char found[4096];
    const char *path = explicit_path;
    if (!path && model_path && attn_tokenizer_find_for_model(model_path, found, sizeof found) == 0) path = found;
    if (!path) {
        if (required)
            fprintf(stderr, "attn %s: %s: give --tokenizer PATH (tokenizer.json, a folder with vocab.json and "
                            "merges.txt, or llama2.c's tokenizer.bin)\n", cmd, model_path ? attn_last_error() : "no model");
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
            size_t n = attn_utf8_char(s + i, len - i);
            if (n == 0) printf("\\ufffd");
            else fwrite(s + i, 1, n, stdout), i += n - 1;
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
