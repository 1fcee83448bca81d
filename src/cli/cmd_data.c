/* cmd_data.c - `attn data prepare` (text files -> train.bin / val.bin token shards, with a
 * progress bar on stderr) and `attn data info` (a shard's header, every id checked). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "args.h"
#include "commands.h"
#include "core/common.h"
#include "inputs.h"
#include "train/data.h"
#include "train/data_prepare.h"

typedef struct {
    double t0, last;
    bool shown;
} progress_bar;

/* Redrawn at most 5 times a second; only on a terminal, so logs stay clean. */
static void draw_progress(void *ctx, uint64_t done, uint64_t total) {
    progress_bar *p = ctx;
    double now = attn_time_s();
    if (done < total && now - p->last < 0.2) return;
    p->last = now;
    p->shown = true;
    int width = 30, fill = total ? (int)((double)done / (double)total * width) : width;
    double mb = (double)done / 1e6, rate = now > p->t0 ? mb / (now - p->t0) : 0;
    fprintf(stderr, "\r[%.*s%*s] %5.1f%%  %.1f / %.1f MB  %.1f MB/s ", fill, "##############################",
            width - fill, "", total ? 100.0 * (double)done / (double)total : 100.0, mb, (double)total / 1e6, rate);
}

static int data_prepare(int argc, char **argv) {
    str_list inputs = {0};
    const char *out = NULL, *tokenizer = NULL;
    float val_fraction = 0.1f;
    const opt_spec opts[] = {
        {"input", 'i', OPT_STR_LIST, &inputs, "text file(s) (-i a.txt b.txt, or repeat -i); each is a document", 0, 0},
        {"output", 'o', OPT_STR, &out, "folder for train.bin, val.bin and a copy of the tokenizer", 0, 0},
        {"tokenizer", 0, OPT_STR, &tokenizer, "tokenizer.json, or a folder with one (or vocab.json + merges.txt)", 0, 0},
        {"val-fraction", 0, OPT_FLOAT, &val_fraction, "the last part of each file that goes to val.bin", 0, 0.99},
    };
    cmd_spec spec = {"data prepare", "attn data prepare -i FILE... -o DIR --tokenizer PATH [--val-fraction F]",
                     "Tokenizes text into DIR/train.bin and DIR/val.bin token shards. Each file's first (1 - F) of\n"
                     "characters goes to train and the rest to val (nanoGPT's split); several files are separated\n"
                     "by <|endoftext|>. Prints a summary line; a progress bar on a terminal.",
                     opts, (int)(sizeof opts / sizeof *opts)};
    int pr = args_parse(&spec, argc, argv);
    if (pr) return pr > 0 ? 0 : 2;
    if (inputs.n == 0 || !out || !tokenizer) {
        fprintf(stderr, "attn data prepare: give -i FILE..., -o DIR and --tokenizer PATH\n");
        return 2;
    }
    progress_bar bar = {attn_time_s(), 0, false};
    attn_data_prepare_opts o = {.inputs = inputs.items, .n_inputs = inputs.n, .out_dir = out, .tokenizer = tokenizer,
                                .val_fraction = val_fraction, .progress_ctx = &bar};
    if (isatty(STDERR_FILENO)) o.progress = draw_progress;
    attn_data_prepare_result r;
    int rc = attn_data_prepare(&o, &r);
    if (bar.shown) fprintf(stderr, "\n");
    if (rc) {
        fprintf(stderr, "attn data prepare: %s\n", attn_last_error());
        return 1;
    }
    printf("%s: %llu train + %llu val tokens (uint%u, vocab %u, tokenizer %016llx) from %.2f MB in %d file%s, "
           "%.2f s (%.1f MB/s)\n", out, (unsigned long long)r.train_tokens, (unsigned long long)r.val_tokens,
           8 * r.token_bytes, r.vocab_size, (unsigned long long)r.tokenizer_id, (double)r.bytes / 1e6, inputs.n,
           inputs.n == 1 ? "" : "s", r.seconds, r.seconds > 0 ? (double)r.bytes / 1e6 / r.seconds : 0.0);
    return 0;
}

/* Prints the header and reads every token, so a bad id anywhere is reported. */
static int data_info(int argc, char **argv) {
    cmd_spec spec = {"data info", "attn data info SHARD.bin...", "Prints each token shard's header and checks every "
                     "token id against its vocabulary size.", NULL, 0};
    int files = 0, rc = 0;
    for (int i = 0; i < argc; i++) {
        if (argv[i][0] == '-') {
            int pr = args_parse(&spec, 1, argv + i);
            if (pr) return pr > 0 ? 0 : 2;
        }
    }
    for (int i = 0; i < argc; i++, files++) {
        attn_shard *s = attn_shard_open(argv[i]); /* which checks every token id */
        const attn_shard_header *h = s ? attn_shard_info(s) : NULL;
        if (!h) {
            fprintf(stderr, "attn data info: %s\n", attn_last_error());
            rc = 1;
        } else {
            printf("%s: version %u, %llu tokens, uint%u, vocab %u, eot %d, tokenizer %016llx\n", argv[i], h->version,
                   (unsigned long long)h->n_tokens, 8 * h->token_bytes, h->vocab_size, h->eot,
                   (unsigned long long)h->tokenizer_id);
        }
        attn_shard_close(s);
    }
    if (!files) {
        fprintf(stderr, "attn data info: give one or more shard files\n");
        return 2;
    }
    return rc;
}

static void usage(FILE *f) {
    fprintf(f, "usage: attn data prepare -i FILE... -o DIR --tokenizer PATH [--val-fraction F]\n"
               "       attn data info SHARD.bin...\n\n'attn data prepare --help' lists the options.\n");
}

int cmd_data(int argc, char **argv) {
    if (argc < 1 || strcmp(argv[0], "--help") == 0 || strcmp(argv[0], "-h") == 0) {
        usage(argc < 1 ? stderr : stdout);
        return argc < 1 ? 2 : 0;
    }
    if (strcmp(argv[0], "info") == 0) return data_info(argc - 1, argv + 1);
    if (strcmp(argv[0], "prepare") != 0) {
        fprintf(stderr, "attn data: unknown subcommand '%s' (prepare or info)\n", argv[0]);
        return 2;
    }
    int n = 0;
    char **args = cli_expand_inputs(argc - 1, argv + 1, &n);
    if (!args) {
        fprintf(stderr, "attn data: out of memory\n");
        return 1;
    }
    int rc = data_prepare(n, args);
    free(args);
    return rc;
}
