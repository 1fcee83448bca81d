/* bench_train.c - training throughput of the trainable GPT-2 (forward + backward + AdamW)
 * at a given shape, with peak RSS: the numbers the training issue compares with llm.c and
 * PyTorch. Usage: bench_train [--layers L --heads H --embd C --ctx N --vocab V] [-B 4] [-T 64]
 * [--steps 5] [-t threads] [--bf16]. Defaults: GPT-2 124M, B=4, T=64. --bf16: matrix products
 * in bf16 (AMX tiles or AVX512-BF16; f32 weights, activations and optimizer). */
#include <stdio.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>
#include "core/common.h"
#include "core/gemm.h"
#include "core/threadpool.h"
#include "train/gpt2_train.h"
#include "train/optim.h"

static int64_t arg(int argc, char **argv, const char *name, int64_t def) {
    for (int i = 1; i + 1 < argc; i++)
        if (strcmp(argv[i], name) == 0) return atoll(argv[i + 1]);
    return def;
}

/* CPU seconds of the whole process: with one thread, a timing that other processes on the
 * machine cannot stretch (they take turns on the core; this counts only our turns). */
int main(int argc, char **argv) {
    attn_gpt2_config c;
    attn_gpt2_config_defaults(&c);
    c.n_layer = arg(argc, argv, "--layers", 12), c.n_head = arg(argc, argv, "--heads", 12);
    c.n_embd = arg(argc, argv, "--embd", 768), c.n_ctx = arg(argc, argv, "--ctx", 1024);
    c.vocab = arg(argc, argv, "--vocab", 50257);
    int64_t B = arg(argc, argv, "-B", 4), T = arg(argc, argv, "-T", 64), steps = arg(argc, argv, "--steps", 5);
    attn_threads_init((int)arg(argc, argv, "-t", 0));
    bool bf16 = false;
    for (int i = 1; i < argc; i++) bf16 |= strcmp(argv[i], "--bf16") == 0;
    if (bf16 && attn_gemm_set_precision(ATTN_MATMUL_BF16)) {
        fprintf(stderr, "bench_train: %s\n", attn_last_error());
        return 1;
    }
    attn_gpt2_train *m = attn_gpt2_train_new(&c, 1, B, T);
    if (!m) {
        fprintf(stderr, "bench_train: %s\n", attn_last_error());
        return 1;
    }
    attn_adamw_config oc = attn_adamw_defaults();
    attn_adamw *opt = attn_adamw_new(attn_gpt2_train_numel(m), &oc);
    int32_t *tok = malloc(sizeof(int32_t) * B * T * 2);
    for (int64_t i = 0; i < B * T * 2; i++) tok[i] = (int32_t)((i * 7919 + 11) % c.vocab);
    int n;
    const attn_param *params = attn_gpt2_train_params(m, &n);
    double fwd = 0, bwd = 0, upd = 0, best = 1e30, cpu = 0, best_cpu = 1e30;
    double *step_s = calloc((size_t)steps + 1, sizeof(double));
    if (!step_s) return 1;
    for (int64_t s = 0; s <= steps; s++) { /* step 0 warms up (first-touch page faults) */
        float loss;
        double t0 = attn_time_s(), c0 = attn_cpu_time_s();
        attn_gpt2_train_discard_grad(m); /* as attn train's steps do */
        if (attn_gpt2_train_forward(m, tok, tok + B * T, B, T, &loss)) break;
        double t1 = attn_time_s();
        attn_gpt2_train_backward(m, 1.0f);
        double t2 = attn_time_s();
        attn_adamw_step(opt, params, n, 1e-4f, attn_clip_scale(attn_grad_norm(params, n), 1.0f));
        double t3 = attn_time_s(), c3 = attn_cpu_time_s();
        if (s == 0) continue;
        fwd += t1 - t0, bwd += t2 - t1, upd += t3 - t2, cpu += c3 - c0;
        if (c3 - c0 < best_cpu) best_cpu = c3 - c0;
        if (t3 - t0 < best) best = t3 - t0;
        step_s[s - 1] = t3 - t0;
        fprintf(stderr, "step %lld loss %.4f %.3f s\n", (long long)s, loss, t3 - t0);
    }
    double per = (fwd + bwd + upd) / steps;
    double median = attn_median(step_s, steps); /* the statistic bench_train.py compares */
    free(step_s);
    printf("{\"params\": %lld, \"B\": %lld, \"T\": %lld, \"threads\": %d, \"s_per_step\": %.4f, \"tok_s\": %.1f, "
           "\"median_tok_s\": %.1f, \"best_tok_s\": %.1f, \"forward_s\": %.4f, \"backward_s\": %.4f, \"adamw_s\": %.4f, \"cpu_s_per_step\": %.4f, "
           "\"best_cpu_s\": %.4f, \"peak_rss_mb\": %.0f, \"precision\": \"%s\"}\n",
           (long long)attn_gpt2_train_numel(m), (long long)B, (long long)T, attn_threads_count(), per, B * T / per,
           B * T / median, B * T / best, fwd / steps, bwd / steps, upd / steps, cpu / steps, best_cpu, attn_peak_rss_bytes() / 1048576.0,
           bf16 ? "bf16" : "f32");
    attn_adamw_free(opt);
    attn_gpt2_train_free(m);
    free(tok);
    return 0;
}
