/* cmd_bench.c - `attn bench`: llama-bench-style numbers for one model: prompt processing
 * (pp: one forward over N tokens) and generation (tg: N single-token forwards from an empty
 * cache), median of repetitions, plus load time and peak RSS. With --bandwidth it also
 * measures memory read bandwidth and reports generation as a share of the bound it sets;
 * without a model it measures only that (a quick probe of a shared host's bandwidth, which
 * bench/bench_llama.py takes around each engine's run). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "args.h"
#include "commands.h"
#include "core/bandwidth.h"
#include "core/common.h"
#include "core/cpu.h"
#include "core/gemm.h"
#include "core/matmul.h"
#include "core/quant_matmul.h"
#include "core/threadpool.h"

/* Best-of-5 read bandwidth over 1 GiB with all threads, in GB/s (0: out of memory); see
 * core/bandwidth.h. */
static double read_bandwidth(void) {
    attn_bw_probe *p = attn_bw_probe_new((size_t)1 << 30);
    double bw = p ? attn_bw_probe_run(p, 5) : 0;
    attn_bw_probe_free(p);
    return bw;
}

static int print_bandwidth_only(bool json) {
    double bw = read_bandwidth();
    if (bw <= 0) {
        fprintf(stderr, "attn bench: %s\n", attn_last_error());
        return 1;
    }
    if (json) printf("{\"threads\": %d, \"bandwidth_gb_s\": %.1f}\n", attn_threads_count(), bw);
    else printf("bandwidth   %8.1f GB/s read by %d threads\n", bw, attn_threads_count());
    return 0;
}

/* Each rep: a prompt of pp tokens, then (in a fresh cache holding `depth` positions, not
 * timed) tg single tokens. */
static int time_runs(attn_model *m, const int32_t *ids, int pp, int tg, int depth, int reps, double *pp_s,
                     double *tg_s, float *logits) {
    double *a = malloc(sizeof(double) * reps), *b = malloc(sizeof(double) * reps);
    int rc = -1;
    if (!a || !b) goto out;
    for (int r = 0; r < reps; r++) {
        attn_model_reset(m);
        double t0 = attn_time_s();
        if (pp > 0 && attn_model_forward(m, ids, pp, logits, false)) goto out;
        a[r] = attn_time_s() - t0;
        attn_model_reset(m);
        if (depth > 0 && tg > 0 && attn_model_forward(m, ids, depth, NULL, false)) goto out;
        t0 = attn_time_s();
        for (int i = 0; i < tg; i++)
            if (attn_model_forward(m, ids + depth + i, 1, logits, false)) goto out;
        b[r] = attn_time_s() - t0;
    }
    *pp_s = attn_median(a, reps), *tg_s = attn_median(b, reps);
    rc = 0;
out:
    free(a), free(b);
    return rc;
}

/* Generation of n_seq sequences together (continuous batching, as `attn serve --parallel`
 * decodes): tg steps of one forward holding one new token of each; every sequence has its
 * own cache and logits. Returns the median seconds of a rep's tg steps. */
static int time_batched(attn_model *m, const int32_t *ids, int tg, int n_seq, int reps, double *tg_s) {
    int64_t vocab = attn_model_get_info(m)->vocab_size;
    attn_batch_item *items = calloc((size_t)n_seq, sizeof *items);
    float *logits = malloc(sizeof(float) * (size_t)vocab * n_seq);
    double *t = malloc(sizeof(double) * reps);
    int rc = items && logits && t ? attn_model_set_sequences(m, n_seq, tg) : attn_error("out of memory");
    for (int r = 0; rc == 0 && r < reps; r++) {
        for (int s = 0; s < n_seq; s++) attn_model_seq_truncate(m, s, 0);
        double t0 = attn_time_s();
        for (int i = 0; rc == 0 && i < tg; i++) {
            for (int s = 0; s < n_seq; s++)
                items[s] = (attn_batch_item){.seq = s, .tokens = ids + (i + 7 * s) % tg, .n = 1,
                                             .logits = logits + (size_t)vocab * s};
            rc = attn_model_forward_batch(m, items, n_seq);
        }
        t[r] = attn_time_s() - t0;
    }
    if (rc == 0) *tg_s = attn_median(t, reps);
    free(items), free(logits), free(t);
    return rc;
}

/* The products' precision as it applies here ("auto" names what prompts on quantized weights
 * take, and on which units). */
static const char *matmul_desc(void) {
    attn_matmul_precision p = attn_gemm_precision();
    static char desc[256];
    if (p == ATTN_MATMUL_F32 || p == ATTN_MATMUL_INT8) { /* ATTN_QDOT, when set, still picks decoding's */
        const char *base = p == ATTN_MATMUL_F32 ? "f32" : "int8 (one-byte activations on quantized weights, prompts and decoding)";
        if (!attn_qdot_mode_chosen()) return base;
        snprintf(desc, sizeof desc, "%s; ATTN_QDOT: quantized decoding with %s", base, attn_matmul_decoding_desc());
        return desc;
    }
    const char *engine = attn_gemm_bf16_engine();
    char prompts[160];
    if (p == ATTN_MATMUL_BF16) snprintf(prompts, sizeof prompts, "bf16 (%s", engine ? engine : "none: f32");
    else if (attn_gemm_int8_prompts(true))
        snprintf(prompts, sizeof prompts, "auto (prompts on K-quants in int8; on other quantized weights in two-byte "
                 "integers up to 64 rows, then bf16 on %s", engine);
    else if (engine) snprintf(prompts, sizeof prompts, "auto (bf16 prompts on quantized weights, %s", engine);
    else snprintf(prompts, sizeof prompts, "auto (f32 prompts");
    snprintf(desc, sizeof desc, "%s; quantized decoding with %s)", prompts, attn_matmul_decoding_desc());
    return desc;
}

int cmd_bench(int argc, char **argv) {
    const char *model = NULL, *isa = NULL, *matmul = NULL, *kv_type = NULL;
    int pp = 512, tg = 128, depth = 0, reps = 3, threads = 0, parallel = 0;
    bool json = false, bandwidth = false;
    const opt_spec opts[] = {
        {"model", 'm', OPT_STR, &model, "model folder, .safetensors or GGUF file (none with --bandwidth: only that)", 0,
         0},
        {"prompt", 'p', OPT_INT, &pp, "prompt tokens processed in one forward", 0, 1 << 20},
        {"gen", 'n', OPT_INT, &tg, "tokens generated one at a time", 0, 1 << 20},
        {"depth", 'd', OPT_INT, &depth, "positions already in the cache when generation is timed (long contexts)", 0,
         1 << 20},
        {"parallel", 0, OPT_INT, &parallel,
         "also time -n steps of N sequences decoding together from empty caches (as `attn serve "
         "--parallel N` does): total tok/s", 0, 256},
        {"reps", 'r', OPT_INT, &reps, "repetitions (the median is reported)", 1, 1000},
        {"threads", 't', OPT_INT, &threads, "threads; 0 = all cores", 0, 512},
        {"isa", 0, OPT_STR, &isa, "force kernels: scalar, avx2 or avx512", 0, 0},
        {"matmul", 0, OPT_STR, &matmul, CLI_MATMUL_HELP, 0, 0},
        {"kv-type", 0, OPT_STR, &kv_type, CLI_KV_HELP, 0, 0},
        {"bandwidth", 0, OPT_FLAG, &bandwidth, "also measure memory bandwidth and the decoding bound", 0, 0},
        {"json", 0, OPT_FLAG, &json, "print one JSON object", 0, 0},
    };
    cmd_spec spec = {"bench", "attn bench -m MODEL [-p 512] [-n 128] [-d 0] [--parallel N] [-t N] [--json] | --bandwidth",
                     "Measures prompt processing and generation speed (tokens/s, median of --reps),\n"
                     "load time and peak resident memory.", opts, (int)(sizeof opts / sizeof *opts)};
    int pr = args_parse(&spec, argc, argv);
    if (pr) return pr > 0 ? 0 : 2;
    if (cli_setup_runtime("bench", threads, isa, matmul, kv_type)) return 2;
    if (!model && bandwidth) return print_bandwidth_only(json);
    double t0 = attn_time_s();
    attn_model *m = cli_load_model("bench", model);
    if (!m) return 1;
    double load_s = attn_time_s() - t0;
    const attn_model_info *info = attn_model_get_info(m);
    if (pp > info->n_ctx || (int64_t)tg + depth > info->n_ctx) {
        fprintf(stderr, "attn bench: -p %d / -d %d + -n %d exceed the model's context of %lld\n", pp, depth, tg,
                (long long)info->n_ctx);
        attn_model_free(m);
        return 2;
    }
    int n_ids = pp > tg + depth ? pp : tg + depth;
    int32_t *ids = malloc(sizeof(int32_t) * (n_ids + 1));
    float *logits = malloc(sizeof(float) * info->vocab_size);
    double pp_s = 0, tg_s = 0, par_s = 0;
    for (int i = 0; ids && i <= n_ids; i++) ids[i] = (int32_t)((i * 7919u + 13) % (uint32_t)info->vocab_size);
    if (!ids || !logits || time_runs(m, ids, pp, tg, depth, reps, &pp_s, &tg_s, logits) != 0 ||
        (parallel && tg && time_batched(m, ids, tg, parallel, reps, &par_s) != 0)) {
        fprintf(stderr, "attn bench: %s\n", attn_last_error());
        free(ids), free(logits), attn_model_free(m);
        return 1;
    }
    double rss_mb = attn_peak_rss_bytes() / 1048576.0, weight_mb = info->weight_bytes / 1048576.0;
    double pp_tps = pp && pp_s > 0 ? pp / pp_s : 0, tg_tps = tg && tg_s > 0 ? tg / tg_s : 0;
    double par_tps = par_s > 0 ? (double)tg * parallel / par_s : 0;
    const char *kv = attn_dtype_name(attn_model_kv_type(m));
    double bw = bandwidth ? read_bandwidth() : 0, bound = bw > 0 ? bw * 1e9 / info->decode_bytes : 0;
    if (json) {
        printf("{\"model\": ");
        cli_print_json_string(model, strlen(model));
        printf(", \"family\": \"%s\", \"dtype\": \"%s\", \"n_params\": %lld, \"weight_mb\": %.1f, \"threads\": %d, "
               "\"isa\": \"%s\", \"matmul\": \"%s\", \"kv_type\": \"%s\", \"pp\": %d, \"tg\": %d, \"depth\": %d, "
               "\"pp_tok_s\": %.2f, \"tg_tok_s\": %.2f, \"load_s\": %.4f, \"peak_rss_mb\": %.1f, \"decode_mb\": %.1f",
               info->family, info->weight_type ? info->weight_type : attn_dtype_name(info->dtype), (long long)info->n_params, weight_mb, attn_threads_count(),
               attn_isa_name(attn_isa_current()), matmul_desc(), kv, pp, tg, depth, pp_tps, tg_tps, load_s, rss_mb,
               info->decode_bytes / 1048576.0);
        if (par_tps > 0) printf(", \"parallel\": %d, \"parallel_tok_s\": %.2f", parallel, par_tps);
        if (bw > 0)
            printf(", \"bandwidth_gb_s\": %.1f, \"tg_bound_tok_s\": %.1f, \"tg_pct_of_bound\": %.1f", bw, bound,
                   100 * tg_tps / bound);
        printf("}\n");
    } else {
        printf("model %s: %s %s, %.1fM params, %.1f MB of weights | %d threads, %s kernels, matmul %s, KV cache %s\n",
               model, info->family, info->weight_type ? info->weight_type : attn_dtype_name(info->dtype),
               info->n_params / 1e6, weight_mb, attn_threads_count(), attn_isa_name(attn_isa_current()), matmul_desc(), kv);
        printf("load        %8.3f s\n", load_s);
        if (pp) printf("pp%-5d     %8.1f tok/s\n", pp, pp_tps);
        if (tg && depth) printf("tg%d @ d%d %8.1f tok/s\n", tg, depth, tg_tps);
        else if (tg) printf("tg%-5d     %8.1f tok/s\n", tg, tg_tps);
        if (par_tps > 0)
            printf("tg%d x %d   %8.1f tok/s in all (%d sequences decoding together; %.2fx one)\n", tg, parallel,
                   par_tps, parallel, tg_tps > 0 ? par_tps / tg_tps : 0);
        printf("peak RSS    %8.1f MB (weights %.1f MB)\n", rss_mb, weight_mb);
        if (bw > 0)
            printf("bandwidth   %8.1f GB/s -> decoding bound %.1f tok/s; tg is %.0f%% of it%s\n", bw, bound,
                   100 * tg_tps / bound, depth ? " (the bound counts the weights, not the cache)" : "");
    }
    free(ids), free(logits);
    attn_model_free(m);
    return 0;
}
