/* bench_bursts.c - attn's side of bench_llama.py's interleaved generation timing.
 *
 * Usage: bench_bursts MODEL THREADS
 * Loads the model, decodes one warm-up token, prints "ready", then answers each line "N" on
 * stdin with the seconds N single-token forwards took from an empty cache (token ids fixed,
 * no sampling: llama-bench's tg), each line "p N" with the seconds of one forward over an
 * N-token prompt from an empty cache (llama-bench's pp, the same ids), and each line "bw"
 * with the memory's read bandwidth in GB/s (core/bandwidth.h: best of 3 reads of 1 GiB, the
 * buffer kept from one probe to the next), one line each, until end of input.
 *
 * Why: on a shared host whose memory speed changes every few seconds, two engines timed one
 * after the other can run at different speeds of the same memory. The driver keeps both
 * loaded and alternates short bursts of each, so both meet the same phases. A probe in a
 * process of its own (`attn bench --bandwidth`) allocated and freed 1 GiB each time, and the
 * burst right after it sometimes ran at 66-79% of the others' median. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "attn/attn.h"
#include "core/bandwidth.h"
#include "core/common.h"

/* n tokens of ids from an empty cache: one at a time (decoding), or in one forward (a prompt). */
static int run(attn_model *m, const int32_t *ids, int n, bool prompt, float *logits) {
    attn_model_reset(m);
    if (prompt) return attn_model_forward(m, ids, n, logits, false);
    for (int i = 0; i < n; i++)
        if (attn_model_forward(m, ids + i, 1, logits, false)) return -1;
    return 0;
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: bench_bursts MODEL THREADS\n");
        return 2;
    }
    attn_threads_init(atoi(argv[2]));
    attn_model *m = attn_model_load(argv[1]);
    if (!m) {
        fprintf(stderr, "bench_bursts: %s\n", attn_last_error());
        return 1;
    }
    const attn_model_info *info = attn_model_get_info(m);
    float *logits = malloc(sizeof(float) * (size_t)info->vocab_size);
    int32_t *ids = malloc(sizeof(int32_t) * (size_t)info->n_ctx);
    for (int i = 0; ids && i < (int)info->n_ctx; i++) ids[i] = (int32_t)(100 + 7 * i);
    if (!logits || !ids || run(m, ids, 1, false, logits)) {
        fprintf(stderr, "bench_bursts: %s\n", logits && ids ? attn_last_error() : "out of memory");
        return 1;
    }
    printf("ready\n");
    fflush(stdout);
    attn_bw_probe *probe = NULL;
    char line[64];
    while (fgets(line, sizeof line, stdin)) {
        if (strncmp(line, "bw", 2) == 0) {
            if (!probe && !(probe = attn_bw_probe_new((size_t)1 << 30))) {
                fprintf(stderr, "bench_bursts: %s\n", attn_last_error());
                return 1;
            }
            printf("%.2f\n", attn_bw_probe_run(probe, 3));
            fflush(stdout);
            continue;
        }
        const bool is_prompt = line[0] == 'p';
        const int n = atoi(line + is_prompt);
        if (n < 1 || n > (int)info->n_ctx) {
            fprintf(stderr, "bench_bursts: N must be 1..%d\n", (int)info->n_ctx);
            return 2;
        }
        const double t0 = attn_time_s();
        if (run(m, ids, n, is_prompt, logits)) {
            fprintf(stderr, "bench_bursts: %s\n", attn_last_error());
            return 1;
        }
        printf("%.6f\n", attn_time_s() - t0);
        fflush(stdout);
    }
    attn_bw_probe_free(probe);
    attn_model_free(m);
    free(logits);
    free(ids);
    return 0;
}
