/* cmd_plot.c - `attn plot LOG.jsonl -o loss.svg`: loss curves of a training log as SVG. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "args.h"
#include "commands.h"
#include "core/common.h"
#include "train/plot.h"

int cmd_plot(int argc, char **argv) {
    const char *out = "loss.svg", *title = NULL, *log = NULL;
    /* the log is the one positional argument; the rest (any number) goes to the option parser */
    char **rest = malloc((size_t)(argc > 0 ? argc : 1) * sizeof *rest);
    if (!rest) {
        fprintf(stderr, "attn plot: out of memory\n");
        return 1;
    }
    int n = 0;
    for (int i = 0; i < argc; i++) {
        bool takes_value = strcmp(argv[i], "-o") == 0 || strcmp(argv[i], "--output") == 0 ||
                           strcmp(argv[i], "--title") == 0;
        if (argv[i][0] != '-' && !log) log = argv[i];
        else {
            rest[n++] = argv[i];
            if (takes_value && i + 1 < argc) rest[n++] = argv[++i];
        }
    }
    const opt_spec opts[] = {
        {"output", 'o', OPT_STR, &out, "SVG file to write", 0, 0},
        {"title", 0, OPT_STR, &title, "title above the plot (default: the log's path)", 0, 0},
    };
    cmd_spec spec = {"plot", "attn plot LOG.jsonl [-o loss.svg] [--title T]",
                     "Draws train and val loss over steps from an 'attn train --log' file as an SVG.", opts,
                     (int)(sizeof opts / sizeof *opts)};
    int pr = args_parse(&spec, n, rest);
    free(rest);
    if (pr) return pr > 0 ? 0 : 2;
    if (!log) {
        fprintf(stderr, "attn plot: give the log file (from 'attn train --log FILE')\n");
        return 2;
    }
    int nt = 0, nv = 0, skipped = 0;
    if (attn_plot_losses(log, out, title, &nt, &nv, &skipped)) {
        fprintf(stderr, "attn plot: %s\n", attn_last_error());
        return 1;
    }
    if (skipped)
        fprintf(stderr, "attn plot: skipped %d line%s of %s: not JSON, or a loss that is no finite number up to 1e6\n",
                skipped, skipped == 1 ? "" : "s", log);
    fprintf(stderr, "wrote %s (%d train points, %d val points)\n", out, nt, nv);
    return 0;
}
