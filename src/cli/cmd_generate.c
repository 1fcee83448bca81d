/* cmd_generate.c - `attn generate`: encode the prompt, stream the continuation to stdout,
 * print timings to stderr (or everything as one JSON object with --json). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "args.h"
#include "commands.h"
#include "core/common.h"
#include "generate/stream.h"
#include <attn/generate.h>

typedef struct {
    const char *model, *prompt, *file, *ids, *tokenizer, *isa, *matmul, *kv_type;
    int threads;
    bool json, ignore_eos, no_echo, special;
    str_list stops;
    attn_generate_params gen;
} gen_opts;

static int print_stream(void *user, const char *text, size_t len) {
    (void)user;
    fwrite(text, 1, len, stdout);
    fflush(stdout);
    return 0;
}

static int encode_prompt(const gen_opts *o, const attn_tokenizer *tok, int32_t **ids, int *n, char **text, size_t *len) {
    if (o->ids) return args_parse_ids(o->ids, ids, n);
    if (o->file) {
        *text = cli_read_text("generate", o->file, len);
        if (!*text) return -1;
    } else {
        *len = strlen(o->prompt);
        *text = malloc(*len + 1);
        if (!*text) return -1;
        memcpy(*text, o->prompt, *len + 1);
    }
    if (attn_tokenizer_encode_prompt(tok, *text, *len, o->special, ids, n) != 0) { /* BOS as the model wants */
        fprintf(stderr, "attn generate: %s\n", attn_last_error());
        return -1;
    }
    return 0;
}

/* The tokens the text holds (a stop string cuts the text, not the tokens); n_generated still
 * counts every token made (the speed is theirs). */
static int tokens_in_text(const attn_tokenizer *tok, const attn_generate_result *r) {
    if (!tok || strcmp(r->finish_reason, "stop") != 0) return r->n_generated;
    return attn_tokens_in_text(tok, r->tokens, sizeof *r->tokens, r->n_generated, r->text_len);
}

static void print_json(const gen_opts *o, const attn_tokenizer *tok, const attn_generate_result *r,
                       const char *prompt, size_t prompt_len) {
    printf("{\"model\": ");
    cli_print_json_string(o->model, strlen(o->model));
    printf(", \"prompt\": ");
    cli_print_json_string(prompt ? prompt : "", prompt ? prompt_len : 0);
    printf(", \"text\": ");
    cli_print_json_string(r->text ? r->text : "", r->text_len);
    printf(", \"tokens\": [");
    for (int i = 0, n = tokens_in_text(tok, r); i < n; i++) printf("%s%d", i ? ", " : "", r->tokens[i]);
    double gen_tps = r->n_generated > 1 && r->gen_s > 0 ? (r->n_generated - 1) / r->gen_s : 0;
    printf("], \"n_prompt\": %d, \"n_generated\": %d, \"finish_reason\": \"%s\", \"seed\": %llu, "
           "\"prompt_ms\": %.3f, \"gen_ms\": %.3f, \"prompt_tok_s\": %.2f, \"gen_tok_s\": %.2f}\n",
           r->n_prompt, r->n_generated, r->finish_reason, (unsigned long long)o->gen.sampling.seed, r->prompt_s * 1e3,
           r->gen_s * 1e3, r->prompt_s > 0 ? r->n_prompt / r->prompt_s : 0, gen_tps);
}

static void print_timings(const attn_generate_result *r) {
    double gen_tps = r->n_generated > 1 && r->gen_s > 0 ? (r->n_generated - 1) / r->gen_s : 0;
    fprintf(stderr, "\n\nprompt: %d tokens in %.1f ms (%.1f tok/s) | generated: %d tokens, %.1f tok/s | stop: %s\n",
            r->n_prompt, r->prompt_s * 1e3, r->prompt_s > 0 ? r->n_prompt / r->prompt_s : 0, r->n_generated, gen_tps,
            r->finish_reason);
}

static int run(gen_opts *o) {
    if (!!o->prompt + !!o->file + !!o->ids != 1) {
        fprintf(stderr, "attn generate: give exactly one of -p PROMPT, -f FILE or --ids \"1 2 3\"\n");
        return 2;
    }
    if (cli_setup_runtime("generate", o->threads, o->isa, o->matmul, o->kv_type)) return 2;
    attn_model *m = cli_load_model("generate", o->model);
    if (!m) return 1;
    attn_tokenizer *tok = cli_load_tokenizer("generate", o->tokenizer, o->model, o->ids == NULL);
    int32_t *ids = NULL;
    int n = 0, rc = 1;
    char *text = NULL;
    size_t len = 0;
    attn_generate_result r = {0};
    if ((!tok && !o->ids) || encode_prompt(o, tok, &ids, &n, &text, &len) != 0) goto out;
    const char *origin = attn_model_get_info(m)->origin;
    if (origin && !o->json) fprintf(stderr, "note: %s\n", origin);
    o->gen.stops = o->stops.items;
    o->gen.n_stops = o->stops.n;
    o->gen.ignore_eos = o->ignore_eos;
    int64_t n_ctx = attn_model_get_info(m)->n_ctx;
    if (n > n_ctx) { /* refused before the prompt is echoed: a failed run prints nothing to stdout */
        fprintf(stderr, "attn generate: the prompt has %d tokens but the model's context is %lld: shorten it\n", n,
                (long long)n_ctx);
        goto out;
    }
    if (!o->json) {
        o->gen.on_text = print_stream;
        if (text && !o->no_echo) print_stream(NULL, text, len);
    }
    if (attn_generate(m, tok, ids, n, &o->gen, &r) != 0) {
        fprintf(stderr, "attn generate: %s\n", attn_last_error());
        goto out;
    }
    if (o->json) print_json(o, tok, &r, text, len);
    else print_timings(&r);
    rc = 0;
out:
    attn_generate_result_free(&r);
    free(ids), free(text);
    attn_tokenizer_free(tok);
    attn_model_free(m);
    return rc;
}

int cmd_generate(int argc, char **argv) {
    gen_opts o = {.threads = 0};
    const opt_spec first[] = {
        {"model", 'm', OPT_STR, &o.model, "model folder (config.json + model.safetensors) or .safetensors file", 0, 0},
        {"prompt", 'p', OPT_STR, &o.prompt, "prompt text", 0, 0},
        {"file", 'f', OPT_STR, &o.file, "read the prompt from a file", 0, 0},
        {"ids", 0, OPT_STR, &o.ids, "prompt as token ids, e.g. \"464 3290\", used as given (no BOS added)", 0, 0},
    };
    const opt_spec more[] = {
        {"special", 0, OPT_FLAG, &o.special, "parse special tokens like <|endoftext|> in the prompt", 0, 0},
        {"no-echo", 0, OPT_FLAG, &o.no_echo, "do not print the prompt before the continuation", 0, 0},
        {"json", 0, OPT_FLAG, &o.json, "print one JSON object: text, tokens, counts, timings", 0, 0},
        {"tokenizer", 0, OPT_STR, &o.tokenizer, "tokenizer.json or vocab.json+merges.txt folder (default: model's)", 0, 0},
        {"threads", 't', OPT_INT, &o.threads, "threads; 0 = all cores", 0, 512},
        {"isa", 0, OPT_STR, &o.isa, "force kernels: scalar, avx2 or avx512 (default: best available)", 0, 0},
        {"matmul", 0, OPT_STR, &o.matmul, CLI_MATMUL_HELP, 0, 0},
        {"kv-type", 0, OPT_STR, &o.kv_type, CLI_KV_HELP, 0, 0},
    };
    /* sized from its parts: an option added to either list cannot overflow it */
    opt_spec opts[sizeof first / sizeof *first + CLI_SAMPLING_OPTS + sizeof more / sizeof *more];
    memcpy(opts, first, sizeof first);
    int n = (int)(sizeof first / sizeof *first);
    n += cli_sampling_options(opts + n, &o.gen, &o.stops, &o.ignore_eos, 's');
    memcpy(opts + n, more, sizeof more);
    n += (int)(sizeof more / sizeof *more);
    cmd_spec spec = {"generate", "attn generate -m MODEL -p PROMPT [options]",
                     "Continues the prompt with the model and streams the text as it is made. A text prompt\n"
                     "starts with BOS when the tokenizer asks for one (Llama 2/3 GGUFs, llama2.c), as in llama.cpp.\n"
                     "Timings go to stderr; --json prints one object instead.",
                     opts, n};
    int pr = args_parse(&spec, argc, argv);
    if (pr) return pr > 0 ? 0 : 2;
    return run(&o);
}
