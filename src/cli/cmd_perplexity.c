/* cmd_perplexity.c - `attn perplexity -m MODEL -f TEXT`: llama.cpp's chunked perplexity, with
 * a progress line on stderr. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include "args.h"
#include "commands.h"
#include "core/common.h"
#include "generate/perplexity.h"

/* One redrawn line on a terminal; otherwise a line every 5% of the chunks. */
static void show_progress(void *user, int64_t chunk, int64_t n_chunks, const attn_perplexity_result *r) {
    double t0 = *(double *)user, dt = attn_time_s() - t0;
    int64_t every = n_chunks >= 20 ? n_chunks / 20 : 1;
    if (!isatty(2) && chunk % every && chunk != n_chunks) return;
    fprintf(stderr, "%s[%lld/%lld] ppl %.4f, %.1f s, ETA %.0f s%s", isatty(2) ? "\r" : "", (long long)chunk,
            (long long)n_chunks, r->ppl, dt, dt / chunk * (n_chunks - chunk), isatty(2) ? "   " : "\n");
}

int cmd_perplexity(int argc, char **argv) {
    const char *model = NULL, *file = NULL, *isa = NULL, *matmul = NULL, *kv_type = NULL;
    int ctx = 0, threads = 0, max_chunks = 0;
    bool json = false;
    const opt_spec opts[] = {
        {"model", 'm', OPT_STR, &model, "model folder, .safetensors or .gguf", 0, 0},
        {"file", 'f', OPT_STR, &file, "text file to score", 0, 0},
        {"ctx", 'c', OPT_INT, &ctx, "tokens per chunk; 0 = the model's context (at most 512)", 0, 1 << 20},
        {"chunks", 0, OPT_INT, &max_chunks, "score at most this many chunks; 0 = all", 0, 1 << 30},
        {"threads", 't', OPT_INT, &threads, "threads; 0 = all cores", 0, 512},
        {"isa", 0, OPT_STR, &isa, "force kernels: scalar, avx2 or avx512", 0, 0},
        {"matmul", 0, OPT_STR, &matmul, CLI_MATMUL_HELP, 0, 0},
        {"kv-type", 0, OPT_STR, &kv_type, CLI_KV_HELP, 0, 0},
        {"json", 0, OPT_FLAG, &json, "print one JSON object", 0, 0},
    };
    cmd_spec spec = {"perplexity", "attn perplexity -m MODEL -f TEXT [--ctx N] [--chunks N]",
                     "Perplexity by llama.cpp's method: chunks of --ctx tokens, each from an empty cache,\n"
                     "scoring the second half of every chunk. When the tokenizer adds BOS (Llama 2/3 GGUFs),\n"
                     "every chunk starts with BOS, as in llama-perplexity.", opts, (int)(sizeof opts / sizeof *opts)};
    int pr = args_parse(&spec, argc, argv);
    if (pr) return pr > 0 ? 0 : 2;
    if (!file) {
        fprintf(stderr, "attn perplexity: -f TEXT is required\n");
        return 2;
    }
    if (cli_setup_runtime("perplexity", threads, isa, matmul, kv_type)) return 2;
    attn_model *m = cli_load_model("perplexity", model);
    if (!m) return 1;
    int64_t model_ctx = attn_model_get_info(m)->n_ctx;
    if (ctx && (ctx < 3 || ctx > model_ctx)) { /* before the text is read and tokenized */
        fprintf(stderr, "attn perplexity: --ctx %d is outside 3..%lld (3 is the least that scores a token, %lld the "
                        "model's context; 0 takes the model's, at most 512)\n",
                ctx, (long long)model_ctx, (long long)model_ctx);
        attn_model_free(m);
        return 2;
    }
    attn_tokenizer *tok = cli_load_tokenizer("perplexity", NULL, model, true);
    size_t len = 0;
    char *text = tok ? cli_read_text("perplexity", file, &len) : NULL;
    int32_t *ids = NULL;
    int n = 0, rc = 1;
    if (!text) goto out;
    /* As llama-perplexity: the file is tokenized as a prompt (BOS first, when the tokenizer adds
     * one) and every chunk then starts with BOS in place of its first token. Tokenizers that
     * add no BOS (GPT-2, SmolLM2) read the text as it is. */
    if (attn_tokenizer_encode_prompt(tok, text, len, false, &ids, &n) != 0) {
        fprintf(stderr, "attn perplexity: %s\n", attn_last_error());
        goto out;
    }
    int64_t n_ctx = ctx ? ctx : ATTN_MIN(model_ctx, 512);
    int64_t usable = max_chunks ? ATTN_MIN((int64_t)n, (int64_t)max_chunks * n_ctx) : n;
    attn_perplexity_result r;
    double t0 = attn_time_s();
    if (attn_perplexity(m, ids, usable, n_ctx, attn_tokenizer_bos_to_add(tok), show_progress, &t0, &r) != 0) {
        fprintf(stderr, "%sattn perplexity: %s\n", isatty(2) ? "\n" : "", attn_last_error()); /* after the progress line */
        goto out;
    }
    if (isatty(2)) fprintf(stderr, "\n");
    if (json)
        printf("{\"ppl\": %.6f, \"nll\": %.6f, \"scored\": %lld, \"chunks\": %lld, \"ctx\": %lld, \"tokens\": %d}\n", r.ppl,
               r.nll_sum / r.scored, (long long)r.scored, (long long)r.chunks, (long long)n_ctx, n);
    else
        printf("perplexity %.4f (%lld chunks of %lld tokens, %lld scored; %d tokens in the file)\n", r.ppl,
               (long long)r.chunks, (long long)n_ctx, (long long)r.scored, n);
    rc = 0;
out:
    free(ids), free(text);
    attn_tokenizer_free(tok);
    attn_model_free(m);
    return rc;
}
