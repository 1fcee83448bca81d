/* cmd_train.c - `attn train`: options (flags or a JSON config file with the same keys),
 * signals, and the progress display; the loop itself is the library's (train/loop.h). */
#include <jansson.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "args.h"
#include "commands.h"
#include "core/common.h"
#include "train/loop.h"

static volatile sig_atomic_t stop_requested;

/* The first SIGINT/SIGTERM asks for a clean stop; a second one kills as usual. */
static void on_signal(int sig) {
    stop_requested = 1;
    signal(sig, SIG_DFL);
}

static void install_signals(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

/* ---- progress ---- */

typedef struct {
    bool tty, line_open;
    int64_t every;    /* without a tty: a line every this many steps */
    double last_draw; /* with a tty: redraw at most 10 times a second */
} progress;

static void fmt_time(double s, char *out, size_t cap) {
    if (!isfinite(s) || s < 0) s = 0;
    long t = (long)(s + 0.5);
    if (t >= 3600) snprintf(out, cap, "%ldh%02ldm", t / 3600, t / 60 % 60);
    else snprintf(out, cap, "%ldm%02lds", t / 60, t % 60);
}

static void end_line(progress *p) {
    if (p->line_open) fputc('\n', stderr);
    p->line_open = false;
}

static void show_step(progress *p, const attn_train_event *e) {
    if (!p->tty && e->step % p->every != 0 && e->step != e->total) return;
    double now = attn_time_s();
    if (p->tty && now - p->last_draw < 0.1 && e->step != e->total) return;
    p->last_draw = now;
    char eta[32];
    fmt_time(e->eta_s, eta, sizeof eta);
    fprintf(stderr, "%sstep %lld/%lld | loss %.4f | lr %.2e | %.0f tok/s | ETA %s", p->tty ? "\r\033[K" : "",
            (long long)e->step, (long long)e->total, e->loss, e->lr, e->tokens_per_s, eta);
    if (p->tty) p->line_open = true;
    else fputc('\n', stderr);
}

static void on_event(void *ctx, const attn_train_event *e) {
    progress *p = ctx;
    if (e->kind == ATTN_TRAIN_EV_STEP) {
        show_step(p, e);
        return;
    }
    end_line(p);
    switch (e->kind) {
    case ATTN_TRAIN_EV_EVAL:
        fprintf(stderr, "step %lld: val loss %.4f, perplexity %.2f\n", (long long)e->step, e->val_loss,
                exp(e->val_loss));
        break;
    case ATTN_TRAIN_EV_SAMPLE: fprintf(stderr, "--- sample at step %lld ---\n%s\n---\n", (long long)e->step, e->text); break;
    case ATTN_TRAIN_EV_SAVE: fprintf(stderr, "saved checkpoint %s at step %lld\n", e->text, (long long)e->step); break;
    default: fprintf(stderr, "note: %s\n", e->text); break;
    }
}

/* Shared with `attn train-encdec` (commands.h). */
volatile sig_atomic_t *cli_train_signals(void) {
    install_signals();
    return &stop_requested;
}

void *cli_train_progress_new(int64_t steps) {
    progress *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->tty = isatty(2) != 0;
    p->every = steps > 0 && steps / 20 > 1 ? steps / 20 : 1;
    return p;
}

void cli_train_progress_event(void *ctx, const attn_train_event *e) { on_event(ctx, e); }

void cli_train_progress_free(void *p) {
    if (p) end_line(p);
    free(p);
}

/* ---- a JSON config file: its keys are the flags' names ---- */

typedef struct {
    char *items[256];
    int n;
} owned_args;

static int add_arg(owned_args *a, const char *s) {
    if (a->n >= 256) return -1;
    return (a->items[a->n++] = strdup(s)) ? 0 : -1;
}

static int config_to_args(const char *path, owned_args *a) {
    json_error_t err;
    json_t *j = json_load_file(path, JSON_REJECT_DUPLICATES, &err);
    if (!json_is_object(j)) {
        fprintf(stderr, "attn train: %s: not a JSON object: %s (line %d)\n", path, j ? "" : err.text, err.line);
        json_decref(j);
        return -1;
    }
    const char *key;
    json_t *v;
    char buf[512];
    int rc = 0;
    json_object_foreach(j, key, v) {
        if (json_is_null(v)) { /* a key left as null reads as "default" to some and "off" to others: say which */
            fprintf(stderr, "attn train: %s: key '%s' is null: give a value, or leave the key out for the default\n",
                    path, key);
            rc = -1;
            continue;
        }
        if (json_is_false(v)) continue;
        snprintf(buf, sizeof buf, "--%s", key);
        rc |= add_arg(a, buf);
        if (json_is_true(v)) continue;
        if (json_is_integer(v)) snprintf(buf, sizeof buf, "%lld", (long long)json_integer_value(v));
        else if (json_is_real(v)) snprintf(buf, sizeof buf, "%.9g", json_real_value(v));
        else if (json_is_string(v)) snprintf(buf, sizeof buf, "%s", json_string_value(v));
        else {
            fprintf(stderr, "attn train: %s: key '%s' must be a number, a string or a boolean\n", path, key);
            rc = -1;
        }
        rc |= add_arg(a, buf);
    }
    json_decref(j);
    return rc;
}

static const char *find_config(int argc, char **argv) {
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--config") == 0 && i + 1 < argc) return argv[i + 1];
        if (strncmp(argv[i], "--config=", 9) == 0) return argv[i] + 9;
    }
    return NULL;
}

/* ---- the command ---- */

typedef struct {
    attn_train_opts t;
    int layers, heads, embd, ctx, steps, warmup, stop_at, threads;
    const char *config, *matmul;
} train_cli;

static int run(train_cli *c) {
    attn_train_opts *t = &c->t;
    if (!t->data_dir || !t->out_dir) {
        fprintf(stderr, "attn train: give --data DIR (from 'attn data prepare') and --out CKPT_DIR\n");
        return 2;
    }
    if (cli_setup_runtime("train", c->threads, NULL, c->matmul, NULL)) return 2;
    t->n_layer = c->layers, t->n_head = c->heads, t->n_embd = c->embd, t->n_ctx = c->ctx;
    t->hp.steps = c->steps, t->hp.warmup = c->warmup, t->stop_at = c->stop_at;
    progress p = {.tty = isatty(2) != 0};
    p.every = c->steps > 0 && c->steps / 20 > 1 ? c->steps / 20 : 1;
    t->on_event = on_event, t->ctx = &p, t->stop = &stop_requested;
    install_signals();
    attn_train_result r;
    int rc = attn_train_run(t, &r);
    end_line(&p);
    if (rc) {
        fprintf(stderr, "attn train: %s\n", attn_last_error());
        return 1;
    }
    if (r.interrupted)
        fprintf(stderr, "attn train: stopped by a signal after step %lld; checkpoint saved in %s (continue with "
                "--resume)\n", (long long)r.steps_done, t->out_dir);
    else if (r.steps_run == 0) /* a resumed run already at its --steps: checkpoint rewritten, nothing trained */
        fprintf(stderr, "attn train: nothing to train: the checkpoint in %s is already at step %lld (raise --steps to "
                "continue)\n", t->out_dir, (long long)r.steps_done);
    else fprintf(stderr, "attn train: done, %lld steps, final loss %.4f; checkpoint in %s\n", (long long)r.steps_done,
                 r.last_loss, t->out_dir);
    return 0;
}

int cmd_train(int argc, char **argv) {
    train_cli c = {.steps = -1};
    attn_train_defaults(&c.t);
    c.warmup = (int)c.t.hp.warmup;
    attn_train_opts *t = &c.t;
    attn_train_hparams *h = &t->hp;
    const opt_spec opts[] = {
        {"data", 0, OPT_STR, &t->data_dir, "folder with train.bin (and val.bin, tokenizer.json) from 'attn data prepare'", 0, 0},
        {"out", 'o', OPT_STR, &t->out_dir, "checkpoint folder (written atomically)", 0, 0},
        {"init", 0, OPT_STR, &t->init, "'random' or a Hugging Face GPT-2 folder to fine-tune (default random)", 0, 0},
        {"layers", 0, OPT_INT, &c.layers, "transformer blocks for random init (0 = 4)", 0, 1000},
        {"heads", 0, OPT_INT, &c.heads, "attention heads (0 = 4)", 0, 1024},
        {"embd", 0, OPT_INT, &c.embd, "model width (0 = 128)", 0, 65536},
        {"ctx", 0, OPT_INT, &c.ctx, "context length (0 = --seq)", 0, 1 << 20},
        {"batch", 'b', OPT_INT, &h->B, "sequences per micro-batch", 1, 1 << 16},
        {"seq", 0, OPT_INT, &h->T, "tokens per sequence", 1, 1 << 20},
        {"accum", 0, OPT_INT, &h->accum, "micro-batches per optimizer step (gradient accumulation)", 1, 1 << 16},
        {"steps", 'n', OPT_INT, &c.steps, "optimizer steps in all (-1: 100, or the checkpoint's on --resume)", -1, 1 << 30},
        {"lr", 0, OPT_FLOAT, &h->lr, "peak learning rate", 0, 10},
        {"min-lr", 0, OPT_FLOAT, &h->min_lr, "learning rate at the end of the cosine decay (default 1e-4, or --lr / 10 below that)", 0, 10},
        {"warmup", 0, OPT_INT, &c.warmup, "linear warmup steps", 0, 1 << 30},
        {"weight-decay", 0, OPT_FLOAT, &h->weight_decay, "AdamW decoupled weight decay (matrices and embeddings)", 0, 10},
        {"clip", 0, OPT_FLOAT, &h->clip, "clip the global gradient norm to this; 0 = off", 0, 1e9},
        {"dropout", 0, OPT_FLOAT, &h->dropout, "dropout probability", 0, 0.99},
        {"beta2", 0, OPT_FLOAT, &h->beta2, "AdamW beta2", 0, 1},
        {"eval-every", 0, OPT_INT, &t->eval_every, "evaluate val loss every N steps; 0 = never", 0, 1 << 30},
        {"eval-batches", 0, OPT_INT, &t->eval_batches, "val batches per evaluation", 1, 1 << 20},
        {"save-every", 0, OPT_INT, &t->save_every, "save a checkpoint every N steps (and always at the end)", 0, 1 << 30},
        {"sample-every", 0, OPT_INT, &t->sample_every, "print a generated sample every N steps; 0 = never", 0, 1 << 30},
        {"sample-len", 0, OPT_INT, &t->sample_len, "tokens per sample", 1, 1 << 16},
        {"stop-at", 0, OPT_INT, &c.stop_at, "stop (and save) after this many steps, to resume later; 0 = off", 0, 1 << 30},
        {"seed", 's', OPT_U64, &h->seed, "seed of the initial weights, data order and dropout", 0, 0},
        {"resume", 0, OPT_FLAG, &t->resume, "continue the checkpoint in --out (bit-identical losses)", 0, 0},
        {"log", 0, OPT_STR, &t->log_path, "write one JSON object per step and per evaluation to this file (--resume continues it)", 0, 0},
        {"threads", 't', OPT_INT, &c.threads, "threads; 0 = all cores", 0, 512},
        {"matmul", 0, OPT_STR, &c.matmul,
         "matrix products: f32 (default; auto is the same here), or bf16 (bf16 operands, f32 sums, on "
         "AMX tiles or AVX512-BF16: about 2x faster; weights, activations and AdamW stay f32)", 0, 0},
        {"config", 0, OPT_STR, &c.config, "JSON file whose keys are these options' names (flags win)", 0, 0},
    };
    cmd_spec spec = {"train",
                     "attn train --data DIR --out CKPT_DIR [--init random|HF_FOLDER] [--steps N] [options]",
                     "Trains a GPT-2 on token shards with AdamW, warmup + cosine LR, clipping and accumulation.\n"
                     "Ctrl-C (or SIGTERM) finishes the step, saves and exits; --resume continues exactly.",
                     opts, (int)(sizeof opts / sizeof *opts)};
    owned_args cfg = {.n = 0};
    const char *config = find_config(argc, argv);
    int pr = 0;
    if (config && config_to_args(config, &cfg)) pr = -1;
    if (pr == 0 && cfg.n) pr = args_parse(&spec, cfg.n, cfg.items);
    if (pr == 0) pr = args_parse(&spec, argc, argv);
    int rc = pr ? (pr > 0 ? 0 : 2) : run(&c);
    for (int i = 0; i < cfg.n; i++) free(cfg.items[i]);
    return rc;
}
