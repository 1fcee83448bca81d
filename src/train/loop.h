/* loop.h - the training loop behind `attn train`: data shards in, checkpoints out.
 *
 * One optimizer step = `accum` micro-batches of B x T tokens from train.bin (random offsets
 * from the data seed and batch number), each forward + backward with 1/accum, then the
 * global gradient norm, clipping, the warmup+cosine learning rate and AdamW. Every value
 * that decides the next step (weights, moments, step, dropout seed, data cursor) lives in
 * the checkpoint, so a resumed run gives bit-identical losses.
 *
 * The loop prints nothing: it reports events (steps, evals, samples, saves, notes) to a
 * callback and writes one JSON object per step and per eval to the log file. It stops
 * early, after finishing the current step and saving, when *stop becomes non-zero (a
 * signal handler's flag). */
#ifndef ATTN_TRAIN_LOOP_H
#define ATTN_TRAIN_LOOP_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include "train/checkpoint.h"

typedef enum {
    ATTN_TRAIN_EV_STEP,   /* after every step: step, loss, lr, grad_norm, tokens_per_s, eta_s */
    ATTN_TRAIN_EV_EVAL,   /* val_loss (ppl = exp) */
    ATTN_TRAIN_EV_SAMPLE, /* text: a generated sample */
    ATTN_TRAIN_EV_SAVE,   /* text: the checkpoint folder */
    ATTN_TRAIN_EV_NOTE,   /* text: something worth telling (resume, skipped eval, ...) */
} attn_train_event_kind;

typedef struct {
    attn_train_event_kind kind;
    int64_t step, total;    /* steps done, of total */
    float loss, lr, grad_norm, val_loss;
    double tokens_per_s, elapsed_s, eta_s;
    const char *text;
} attn_train_event;

typedef struct {
    const char *data_dir;  /* train.bin, val.bin (optional), tokenizer.json (optional) */
    const char *out_dir;   /* the checkpoint folder */
    const char *init;      /* NULL or "random": new model; else an HF GPT-2 folder to fine-tune */
    int64_t n_layer, n_head, n_embd, n_ctx; /* shape for random init; 0 = default (checked on resume) */
    attn_train_hparams hp; /* hp.steps < 0 on resume: keep the checkpoint's */
    int eval_every, eval_batches, save_every, sample_every, sample_len;
    int64_t stop_at;       /* > 0: stop (and save) once this many steps are done */
    bool resume;
    const char *log_path;  /* JSONL: started anew by a fresh run, continued by --resume; NULL = none */
    volatile sig_atomic_t *stop;
    void (*on_event)(void *ctx, const attn_train_event *e);
    void *ctx;
} attn_train_opts;

typedef struct {
    int64_t steps_done, steps_run; /* the step reached; the steps this run took (0: resumed at or past --steps) */
    float last_loss, last_val_loss; /* val: NAN when never evaluated */
    bool interrupted;
} attn_train_result;

/* nanoGPT-like defaults: B 8, T 64, accum 1, 100 steps, lr 1e-3 -> 1e-4, warmup 10,
 * weight decay 0.1, clip 1, dropout 0, AdamW betas (0.9, 0.95). */
void attn_train_defaults(attn_train_opts *o);

int attn_train_run(const attn_train_opts *o, attn_train_result *r);

/* Drops the lines of a JSONL training log whose "step" is past step (lines without one
 * stay), rewriting it atomically; a missing file (or NULL path) is fine. A resumed run calls
 * it before appending: steps logged after the checkpoint (by a run that then crashed) are
 * logged again, so without this they would appear twice. `attn train-encdec` shares it. */
int attn_train_log_trim(const char *path, int64_t step);

#endif
