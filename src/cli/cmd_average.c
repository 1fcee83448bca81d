/* cmd_average.c - `attn average -o OUT CKPT1 CKPT2 ...`: the mean of encoder-decoder
 * checkpoints' weights (the paper averages its last 5 or 20), written as one atomic folder
 * swap like a training checkpoint, with the first checkpoint's tokenizer.json beside it so
 * `attn translate -m OUT` works. */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "args.h"
#include "commands.h"
#include "core/common.h"
#include "format/fileio.h"
#include "train/checkpoint.h"
#include "train/data.h"
#include "train/encdec.h"

#define MAX_CKPTS 64

typedef struct {
    const char *const *dirs;
    int n;
} average_job;

/* The ids mean the same in every checkpoint only if they share one tokenizer (the same
 * file, as a run's checkpoints carry), or none of them has one. */
static int same_tokenizers(const average_job *j) {
    uint64_t first = 0, id = 0;
    char p[4200];
    for (int i = 0; i < j->n; i++) {
        snprintf(p, sizeof p, "%s/tokenizer.json", j->dirs[i]);
        bool has = access(p, F_OK) == 0;
        if (has && attn_data_tokenizer_id(p, &id)) return -1;
        if (i == 0) first = has ? id : 0;
        else if ((has ? id : 0) != first)
            return attn_error("%s and %s/tokenizer.json differ (or one is missing): averaging needs checkpoints of "
                              "one tokenizer", p, j->dirs[0]);
    }
    return 0;
}

static int write_average(const char *tmp, void *ctx) {
    const average_job *j = ctx;
    if (same_tokenizers(j) || attn_encdec_average(j->dirs, j->n, tmp)) return -1;
    char src[4200], dst[4200];
    struct stat st;
    snprintf(src, sizeof src, "%s/tokenizer.json", j->dirs[0]);
    snprintf(dst, sizeof dst, "%s/tokenizer.json", tmp);
    return stat(src, &st) == 0 ? attn_checkpoint_copy_file(src, dst) : 0;
}

int cmd_average(int argc, char **argv) {
    const char *out = NULL;
    const opt_spec opts[] = {{"out", 'o', OPT_STR, &out, "the averaged model folder (replaced atomically)", 0, 0}};
    cmd_spec spec = {"average", "attn average -o OUT CKPT1 CKPT2 [...]",
                     "Averages the weights of encoder-decoder checkpoints of one shape (attn train-encdec's).",
                     opts, 1};
    const char *dirs[MAX_CKPTS];
    char *rest[2 * MAX_CKPTS + 4];
    int n = 0, n_rest = 0;
    for (int i = 0; i < argc; i++) {
        bool option = argv[i][0] == '-' && argv[i][1] != 0;
        if (n_rest + 2 > (int)(sizeof rest / sizeof *rest) || (!option && n == MAX_CKPTS)) {
            fprintf(stderr, "attn average: too many arguments (at most %d checkpoints)\n", MAX_CKPTS);
            return 2;
        }
        if (!option) dirs[n++] = argv[i];
        else {
            rest[n_rest++] = argv[i];
            bool takes_value = !strcmp(argv[i], "-o") || !strcmp(argv[i], "--out");
            if (takes_value && i + 1 < argc) rest[n_rest++] = argv[++i];
        }
    }
    int pr = args_parse(&spec, n_rest, rest);
    if (pr) return pr > 0 ? 0 : 2;
    if (!out || n < 1) {
        fprintf(stderr, "attn average: give -o OUT and at least one checkpoint folder\n");
        return 2;
    }
    for (int i = 0; i < n; i++) /* the folder swap would replace that checkpoint with the mean */
        if (attn_output_not_input(out, dirs[i])) {
            fprintf(stderr, "attn average: %s\n", attn_last_error());
            return 1;
        }
    average_job job = {dirs, n};
    if (attn_checkpoint_save_with(out, write_average, &job)) {
        fprintf(stderr, "attn average: %s\n", attn_last_error());
        return 1;
    }
    fprintf(stderr, "attn average: %d checkpoints averaged into %s\n", n, out);
    return 0;
}
