/* bench_encdec.c - training throughput of the encoder-decoder (train/encdec.h) at a given
 * shape: one step = forward + backward + grad norm + Adam (0.9, 0.98, 1e-9), exactly the calls
 * of attn train-encdec's step (train/encdec_loop.c), dropout 0.1, label smoothing 0.1. One
 * fixed batch of B pairs, every row full length (S source, T target tokens). tokens/s counts
 * target tokens: B·T per step. Prints one JSON line (medians over --steps after a warm-up step).
 * Usage: bench_encdec [--layers 3 --d-model 256 --heads 4 --d-ff 1024 --vocab 8002]
 * [-B 200 -S 20 -T 20] [--steps 5] [-t threads]. The defaults are the README's Multi30k run and
 * a batch the size of its 4096-token batches. bench/bench_encdec.py runs PyTorch beside it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "core/common.h"
#include "core/threadpool.h"
#include "train/encdec.h"
#include "train/optim.h"

static int64_t arg(int argc, char **argv, const char *name, const char *alias, int64_t def) {
    for (int i = 1; i + 1 < argc; i++)
        if (strcmp(argv[i], name) == 0 || (alias && strcmp(argv[i], alias) == 0)) return atoll(argv[i + 1]);
    return def;
}

/* CPU seconds of the whole process (all threads): what other processes cannot stretch. */
/* Deterministic ids past pad, bos and eos (0, 1, 2); bench_encdec.py uses the same formula. */
static int32_t *fill_ids(int64_t n, int64_t vocab) {
    int32_t *ids = malloc(sizeof(int32_t) * (size_t)n);
    for (int64_t i = 0; ids && i < n; i++) ids[i] = (int32_t)(3 + (i * 7919 + 11) % (vocab - 3));
    return ids;
}

/* One training step as encdec_loop.c's train_step does it; the three phases' seconds in t. */
static int step(attn_encdec *m, attn_adamw *opt, const attn_encdec_batch *b, int64_t n, float *loss, double t[3]) {
    int np;
    const attn_param *ps = attn_encdec_params(m, &np);
    double t0 = attn_time_s();
    attn_encdec_discard_grad(m); /* as attn train-encdec's steps do */
    if (attn_encdec_forward(m, b, loss)) return -1;
    double t1 = attn_time_s();
    if (attn_encdec_backward(m, 1.0f)) return -1;
    double t2 = attn_time_s();
    float lr = attn_encdec_noam_lr(attn_encdec_get_config(m)->d_model, n, 4000, 1.0f);
    int rc = attn_adamw_step(opt, ps, np, lr, attn_clip_scale(attn_grad_norm(ps, np), 0.0f));
    t[0] = t1 - t0, t[1] = t2 - t1, t[2] = attn_time_s() - t2;
    return rc;
}

/* The fixed batch: every row full length; ids [B][S + 2T] = src, tgt_in, tgt_out. */
static int make_batch(attn_encdec_batch *b, int64_t B, int64_t S, int64_t T, int64_t vocab) {
    int32_t *ids = fill_ids(B * (S + 2 * T), vocab), *lens = malloc(sizeof(int32_t) * (size_t)(2 * B));
    if (!ids || !lens) return free(ids), free(lens), -1;
    for (int64_t i = 0; i < B; i++) lens[i] = (int32_t)S, lens[B + i] = (int32_t)T;
    *b = (attn_encdec_batch){.B = B, .S = S, .T = T, .src = ids, .src_len = lens, .tgt_in = ids + B * S,
                             .tgt_out = ids + B * (S + T), .tgt_len = lens + B};
    return 0;
}

int main(int argc, char **argv) {
    attn_encdec_config c;
    attn_encdec_config_defaults(&c);
    c.n_encoder_layers = c.n_decoder_layers = arg(argc, argv, "--layers", NULL, 3);
    c.d_model = arg(argc, argv, "--d-model", NULL, 256), c.n_heads = arg(argc, argv, "--heads", NULL, 4);
    c.d_ff = arg(argc, argv, "--d-ff", NULL, 1024), c.vocab = arg(argc, argv, "--vocab", NULL, 8002);
    int64_t B = arg(argc, argv, "-B", NULL, 200), S = arg(argc, argv, "-S", NULL, 20), T = arg(argc, argv, "-T", NULL, 20);
    int64_t steps = arg(argc, argv, "--steps", NULL, 5);
    c.max_len = ATTN_MAX(c.max_len, ATTN_MAX(S, T));
    if (steps < 1 || c.vocab < 4) return fprintf(stderr, "bench_encdec: need --steps >= 1 and --vocab >= 4\n"), 2;
    attn_threads_init((int)arg(argc, argv, "-t", "--threads", 0));
    attn_encdec *m = attn_encdec_new(&c, 1, B, S, T);
    attn_adamw_config ac = {.lr = 0, .beta1 = 0.9f, .beta2 = 0.98f, .eps = 1e-9f, .weight_decay = 0};
    attn_adamw *opt = m ? attn_adamw_new(attn_encdec_numel(m), &ac) : NULL;
    attn_encdec_batch b;
    double *wall = malloc(sizeof(double) * (size_t)steps * 2), *cpu = wall + steps;
    if (!m || !opt || !wall || make_batch(&b, B, S, T, c.vocab))
        return fprintf(stderr, "bench_encdec: %s\n", m ? "out of memory" : attn_last_error()), 1;
    *attn_encdec_options(m) = (attn_encdec_opts){.dropout = 0.1f, .label_smoothing = 0.1f, .training = true, .seed = 1};
    double sum[3] = {0}, t[3];
    float loss = 0;
    for (int64_t s = 0; s <= steps; s++) { /* step 0 warms up (first-touch page faults) */
        double w0 = attn_time_s(), c0 = attn_cpu_time_s();
        if (step(m, opt, &b, s + 1, &loss, t)) return fprintf(stderr, "bench_encdec: %s\n", attn_last_error()), 1;
        if (s == 0) continue;
        wall[s - 1] = attn_time_s() - w0, cpu[s - 1] = attn_cpu_time_s() - c0;
        for (int k = 0; k < 3; k++) sum[k] += t[k];
        fprintf(stderr, "step %lld loss %.4f %.3f s\n", (long long)s, loss, wall[s - 1]);
    }
    double per = attn_median(wall, steps), per_cpu = attn_median(cpu, steps);
    printf("{\"params\": %lld, \"B\": %lld, \"S\": %lld, \"T\": %lld, \"tokens_per_step\": %lld, \"threads\": %d, "
           "\"s_per_step\": %.4f, \"tok_s\": %.1f, \"forward_s\": %.4f, \"backward_s\": %.4f, \"adam_s\": %.4f, "
           "\"cpu_s_per_step\": %.4f, \"peak_rss_mb\": %.0f}\n",
           (long long)attn_encdec_numel(m), (long long)B, (long long)S, (long long)T, (long long)(B * T),
           attn_threads_count(), per, (double)(B * T) / per, sum[0] / steps, sum[1] / steps, sum[2] / steps, per_cpu,
           attn_peak_rss_bytes() / 1048576.0);
    free((void *)b.src), free((void *)b.src_len), free(wall);
    attn_adamw_free(opt);
    attn_encdec_free(m);
    return 0;
}
