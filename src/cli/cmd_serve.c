/* cmd_serve.c - `attn serve`: load a model, start the OpenAI-compatible server
 * (src/server/server.h) and wait for Ctrl-C or SIGTERM. */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "args.h"
#include "commands.h"
#include "core/common.h"
#include "core/gemm.h"
#include "core/matmul.h"
#include "server/server.h"

typedef struct {
    const char *model, *tokenizer, *host, *api_key, *chat_template, *alias, *isa, *matmul, *kv_type;
    int port, parallel, queue, threads, ctx_size;
} serve_opts;

static bool is_loopback(const char *host) {
    return strcmp(host, "localhost") == 0 || strcmp(host, "::1") == 0 || strncmp(host, "127.", 4) == 0;
}

/* The model's own template when attn knows it, else --chat-template, else ChatML. */
static const attn_chat_template *pick_template(const serve_opts *o, const attn_model_info *info, char **default_system) {
    *default_system = NULL;
    if (o->chat_template) {
        const attn_chat_template *t = attn_chat_template_by_name(o->chat_template);
        if (!t)
            fprintf(stderr, "attn serve: unknown chat template '%s' (known: %s)\n", o->chat_template,
                    attn_chat_template_names());
        return t;
    }
    const attn_chat_template *t = attn_chat_template_detect(info->chat_template);
    if (t) {
        *default_system = attn_chat_template_default_system(t, info->chat_template);
        return t;
    }
    fprintf(stderr, "attn serve: note: the model has no chat template attn recognises; chat uses chatml "
                    "(choose with --chat-template: %s)\n", attn_chat_template_names());
    return attn_chat_template_by_name("chatml");
}

/* The name clients use for the model: --alias, else the model path's last part. */
static const char *model_id(const serve_opts *o) {
    if (o->alias) return o->alias;
    size_t n = strlen(o->model);
    while (n > 1 && o->model[n - 1] == '/') n--;
    static char id[256];
    snprintf(id, sizeof id, "%.*s", (int)n, o->model);
    const char *slash = strrchr(id, '/');
    return slash ? slash + 1 : id;
}

/* Blocks until SIGINT or SIGTERM (blocked in every thread, so only this wait sees them). */
static void wait_for_signal(const sigset_t *set) {
    int sig;
    sigwait(set, &sig);
    fprintf(stderr, "\nattn serve: %s, stopping\n", sig == SIGINT ? "interrupted" : "terminated");
}

static int serve(serve_opts *o) {
    if (!o->model && !(o->model = cli_default_model("serve"))) return 2;
    /* A server's steps decode many sequences at once, where one-byte activations (llama.cpp's
     * choice) run 1.3x the two-byte ones at the same one-sequence speed, for +0.17% perplexity
     * on SmolLM2 (bench/README.md). ATTN_MATMUL or --matmul still choose. Scored prompts
     * (evaluations) keep AUTO under that default: loglikelihoods within 0.008 of transformers'
     * where one byte moves them up to 0.6 (tools/check_lmeval.py). */
    attn_gemm_set_default_precision(ATTN_MATMUL_INT8);
    const char *env = getenv("ATTN_MATMUL");
    int score_precision = o->matmul || (env && *env) ? -1 : ATTN_MATMUL_AUTO;
    if (cli_setup_runtime("serve", o->threads, o->isa, o->matmul, o->kv_type)) return 2;
    if (!o->api_key) o->api_key = getenv("ATTN_API_KEY");
    if (!is_loopback(o->host) && !(o->api_key && *o->api_key))
        fprintf(stderr, "attn serve: warning: listening on %s without --api-key: anyone who can reach this machine "
                        "can use the model\n", o->host);
    attn_model *m = cli_load_model("serve", o->model);
    if (!m) return 1;
    attn_tokenizer *tok = cli_load_tokenizer("serve", o->tokenizer, o->model, true);
    char *default_system = NULL;
    const attn_model_info *info = attn_model_get_info(m);
    const attn_chat_template *chat = tok ? pick_template(o, info, &default_system) : NULL;
    int rc = 1;
    if (!chat) goto out;
    if (o->ctx_size > info->n_ctx) {
        fprintf(stderr, "attn serve: --ctx-size %lld is larger than the model's context of %lld\n",
                (long long)o->ctx_size, (long long)info->n_ctx);
        goto out;
    }
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT), sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL); /* before any thread starts: they inherit it */
    signal(SIGPIPE, SIG_IGN);
    attn_server_config cfg = {.host = o->host, .port = o->port, .api_key = o->api_key, .n_slots = o->parallel,
                              .n_ctx = o->ctx_size, .queue_cap = o->queue, .max_body = 1 << 20,
                              .model_id = model_id(o), .model = m, .tok = tok, .chat = chat,
                              .default_system = default_system, .score_precision = score_precision};
    attn_server *srv = attn_server_start(&cfg);
    if (!srv) {
        fprintf(stderr, "attn serve: %s\n", attn_last_error());
        goto out;
    }
    const char *url_host = strchr(o->host, ':') ? "[::1]" : o->host;
    fprintf(stderr, "attn serve: %s (%s, %s), %d slots of %lld positions (KV cache %s), chat template %s\n",
            cfg.model_id, info->family, info->weight_type ? info->weight_type : "", o->parallel,
            (long long)(o->ctx_size ? o->ctx_size : info->n_ctx), attn_dtype_name(attn_model_kv_type(m)),
            attn_chat_template_name(chat));
    if (info->quantized)
        fprintf(stderr, "attn serve: decoding on quantized weights with %s%s%s\n", attn_matmul_decoding_desc(),
                attn_gemm_precision() == ATTN_MATMUL_INT8 ? " (as llama.cpp; --matmul auto: two bytes, closer to f32)"
                                                          : "",
                score_precision >= 0 ? "; prompts scored with --matmul auto's" : "");
    fprintf(stderr, "attn serve: listening on http://%s:%d (Ctrl-C stops)\n", url_host, attn_server_port(srv));
    wait_for_signal(&set);
    attn_server_stop(srv);
    rc = 0;
out:
    free(default_system);
    attn_tokenizer_free(tok);
    attn_model_free(m);
    return rc;
}

int cmd_serve(int argc, char **argv) {
    serve_opts o = {.host = "127.0.0.1", .port = 8080, .parallel = 4, .queue = 64};
    const opt_spec opts[] = {
        {"model", 'm', OPT_STR, &o.model, "model folder or .gguf file (default: $ATTN_MODEL, else SmolLM2)", 0, 0},
        {"host", 0, OPT_STR, &o.host, "address to listen on (another than 127.0.0.1 wants --api-key)", 0, 0},
        {"port", 0, OPT_INT, &o.port, "port to listen on; 0 = any free port (printed)", 0, 65535},
        {"api-key", 0, OPT_STR, &o.api_key, "ask clients for 'Authorization: Bearer KEY' (or set $ATTN_API_KEY)", 0, 0},
        {"parallel", 0, OPT_INT, &o.parallel, "requests generated together (continuous batching)", 1, 256},
        {"ctx-size", 'c', OPT_INT, &o.ctx_size, "positions per request; 0 = the model's context", 0, 1 << 24},
        {"queue", 0, OPT_INT, &o.queue, "requests waiting for a slot before the server answers 503", 1, 1 << 16},
        {"chat-template", 0, OPT_STR, &o.chat_template, "chat template (default: the model's own, else chatml)", 0, 0},
        {"alias", 0, OPT_STR, &o.alias, "the model's name in the API (default: the file or folder name)", 0, 0},
        {"tokenizer", 0, OPT_STR, &o.tokenizer, "tokenizer.json or folder (default: the model's)", 0, 0},
        {"threads", 't', OPT_INT, &o.threads, "threads; 0 = all cores", 0, 512},
        {"isa", 0, OPT_STR, &o.isa, "force kernels: scalar, avx2 or avx512 (default: best available)", 0, 0},
        {"matmul", 0, OPT_STR, &o.matmul, CLI_MATMUL_HELP "; for serve the default is int8 instead (a batch decodes faster; prompts scored with echo and logprobs take auto)", 0, 0},
        {"kv-type", 0, OPT_STR, &o.kv_type, CLI_KV_HELP, 0, 0},
    };
    cmd_spec spec = {"serve", "attn serve [-m MODEL] [--host 127.0.0.1] [--port 8080] [--api-key KEY] [--parallel N]",
                     "An OpenAI-compatible server (/v1/completions, /v1/chat/completions, /v1/models, /tokenize,\n"
                     "/detokenize, /health) with a web page at /. Requests run together in one batch.",
                     opts, (int)(sizeof opts / sizeof *opts)};
    int pr = args_parse(&spec, argc, argv);
    if (pr) return pr > 0 ? 0 : 2;
    return serve(&o);
}
