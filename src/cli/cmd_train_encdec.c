/* cmd_train_encdec.c - `attn train-encdec`: options in, the library's loop
 * (train/encdec_loop.h) runs, `attn train`'s progress display and signals show it. */
#include <math.h>
#include <stdio.h>
#include "args.h"
#include "commands.h"
#include "core/common.h"
#include "train/encdec_loop.h"

typedef struct {
    attn_encdec_train_opts t;
    int layers, d_model, heads, d_ff, max_len, steps, warmup, max_tokens, threads;
    bool pre_ln;
} encdec_cli;

static int run(encdec_cli *c) {
    attn_encdec_train_opts *t = &c->t;
    if (!t->src || !t->tgt || !t->tokenizer || !t->out_dir) {
        fprintf(stderr, "attn train-encdec: give --src FILE --tgt FILE --tokenizer tokenizer.json --out DIR\n");
        return 2;
    }
    if (cli_setup_runtime("train-encdec", c->threads, NULL, NULL, NULL)) return 2;
    t->shape.n_encoder_layers = t->shape.n_decoder_layers = c->layers;
    t->shape.d_model = c->d_model, t->shape.n_heads = c->heads, t->shape.d_ff = c->d_ff;
    t->shape.max_len = c->max_len, t->shape.pre_ln = c->pre_ln;
    t->steps = c->steps, t->warmup = c->warmup, t->max_tokens = c->max_tokens;
    void *progress = cli_train_progress_new(t->steps);
    t->on_event = cli_train_progress_event, t->ctx = progress, t->stop = cli_train_signals();
    attn_train_result r;
    int rc = attn_encdec_train_run(t, &r);
    cli_train_progress_free(progress);
    if (rc) {
        fprintf(stderr, "attn train-encdec: %s\n", attn_last_error());
        return 1;
    }
    if (r.interrupted)
        fprintf(stderr, "attn train-encdec: stopped by a signal after step %lld; checkpoint saved in %s (continue "
                "with --resume)\n", (long long)r.steps_done, t->out_dir);
    else if (isnan(r.last_loss)) /* resumed at or past --steps: no step ran */
        fprintf(stderr, "attn train-encdec: nothing to do, the checkpoint in %s is at step %lld already\n", t->out_dir,
                (long long)r.steps_done);
    else fprintf(stderr, "attn train-encdec: done, %lld steps, final loss %.4f%s; model in %s\n",
                 (long long)r.steps_done, r.last_loss, isnan(r.last_val_loss) ? "" : " (see val loss above)",
                 t->out_dir);
    return 0;
}

int cmd_train_encdec(int argc, char **argv) {
    encdec_cli c;
    attn_encdec_train_defaults(&c.t);
    attn_encdec_train_opts *t = &c.t;
    c.layers = (int)t->shape.n_encoder_layers, c.d_model = (int)t->shape.d_model, c.heads = (int)t->shape.n_heads;
    c.d_ff = (int)t->shape.d_ff, c.max_len = (int)t->shape.max_len, c.pre_ln = false, c.threads = 0;
    c.steps = (int)t->steps, c.warmup = (int)t->warmup, c.max_tokens = (int)t->max_tokens;
    const opt_spec opts[] = {
        {"src", 0, OPT_STR, &t->src, "source side of the training text, one sentence per line", 0, 0},
        {"tgt", 0, OPT_STR, &t->tgt, "target side, line by line the translations of --src", 0, 0},
        {"valid-src", 0, OPT_STR, &t->valid_src, "source side of the validation text (optional)", 0, 0},
        {"valid-tgt", 0, OPT_STR, &t->valid_tgt, "target side of the validation text", 0, 0},
        {"tokenizer", 0, OPT_STR, &t->tokenizer, "tokenizer.json: a joint BPE from 'attn tokenizer train' on both sides", 0, 0},
        {"out", 'o', OPT_STR, &t->out_dir, "checkpoint folder (written atomically; 'attn translate -m' reads it)", 0, 0},
        {"layers", 0, OPT_INT, &c.layers, "encoder layers, and as many decoder layers", 1, 1000},
        {"d-model", 0, OPT_INT, &c.d_model, "model width", 2, 65536},
        {"heads", 0, OPT_INT, &c.heads, "attention heads (must divide --d-model)", 1, 1024},
        {"d-ff", 0, OPT_INT, &c.d_ff, "feed-forward width", 1, 1 << 20},
        {"max-len", 0, OPT_INT, &c.max_len, "longest sequence in tokens with EOS (longer pairs are left out)", 2, 1 << 16},
        {"pre-ln", 0, OPT_FLAG, &c.pre_ln, "LayerNorm before each sub-layer (the paper: after)", 0, 0},
        {"dropout", 0, OPT_FLOAT, &t->dropout, "dropout probability", 0, 0.99},
        {"label-smoothing", 0, OPT_FLOAT, &t->label_smoothing, "label smoothing", 0, 1},
        {"max-tokens", 0, OPT_INT, &c.max_tokens, "batch size in tokens (padded source or target, whichever is more)", 2, 1 << 24},
        {"warmup", 0, OPT_INT, &c.warmup, "warmup steps of the paper's learning rate", 1, 1 << 30},
        {"lr-factor", 0, OPT_FLOAT, &t->lr_factor, "multiplies the paper's learning rate", 0, 100},
        {"clip", 0, OPT_FLOAT, &t->clip, "clip the global gradient norm to this; 0 = off (the paper)", 0, 1e9},
        {"steps", 'n', OPT_INT, &c.steps, "optimizer steps in all", 1, 1 << 30},
        {"eval-every", 0, OPT_INT, &t->eval_every, "validation loss every N steps; 0 = never", 0, 1 << 30},
        {"save-every", 0, OPT_INT, &t->save_every, "save a checkpoint every N steps (and always at the end)", 0, 1 << 30},
        {"keep", 0, OPT_INT, &t->keep, "also keep the model of the last N saves as OUT-at-STEP folders (for attn average)", 0, 1 << 20},
        {"seed", 's', OPT_U64, &t->seed, "seed of the weights, batch order and dropout", 0, 0},
        {"resume", 0, OPT_FLAG, &t->resume, "continue the checkpoint in --out (its model and recipe; bit-identical)", 0, 0},
        {"log", 0, OPT_STR, &t->log_path, "one JSON object per step and per validation to this file", 0, 0},
        {"threads", 't', OPT_INT, &c.threads, "threads; 0 = all cores", 0, 512},
    };
    cmd_spec spec = {"train-encdec",
                     "attn train-encdec --src FILE --tgt FILE --tokenizer tokenizer.json --out DIR [options]",
                     "Trains the 2017 Transformer with the paper's recipe: Adam (0.9, 0.98, 1e-9), its warmup\n"
                     "schedule, label smoothing, token-count batches. Ctrl-C saves and exits; --resume continues.",
                     opts, (int)(sizeof opts / sizeof *opts)};
    int pr = args_parse(&spec, argc, argv);
    return pr ? (pr > 0 ? 0 : 2) : run(&c);
}
