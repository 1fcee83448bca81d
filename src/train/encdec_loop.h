/* encdec_loop.h - training the encoder-decoder on parallel text (`attn train-encdec`), and
 * the text helpers `attn translate` shares with it.
 *
 * The recipe is the paper's: Adam (0.9, 0.98, 1e-9), lr = factor · d^-0.5 · min(step^-0.5,
 * step · warmup^-1.5), label smoothing, dropout, batches of about max_tokens tokens from
 * length-sorted buckets (attn_encdec_token_batches), one pass over the data after another in
 * a new shuffled order each epoch. The checkpoint folder (written atomically by
 * attn_checkpoint_save_with) is a loadable model plus the training state:
 *   DIR/config.json, model.safetensors   the model (attn_encdec_save)
 *   DIR/tokenizer.json                   the run's tokenizer (so `attn translate -m DIR` works)
 *   DIR/encdec_state.safetensors         Adam moments "adam.m", "adam.v" (flat, F32)
 *   DIR/encdec_state.json                step, epoch and batch cursor, seeds, the recipe
 * With keep = N, every save also writes the model alone (config, weights, tokenizer) to
 * DIR-at-STEP beside DIR and removes all but the N newest such folders (for `attn average`).
 * --resume continues bit-identically to an uninterrupted run: the model (shape, max_len) and
 * the recipe (seed, max_tokens, warmup, lr_factor, clip, dropout, label smoothing) are the
 * checkpoint's, whatever the options say (a note names each one overridden); only steps, the
 * eval/save cadence and the log are the caller's. The log is cut back to the checkpoint's step
 * before the run appends to it. Events and the JSONL log are the GPT-2 loop's (train/loop.h). */
#ifndef ATTN_TRAIN_ENCDEC_LOOP_H
#define ATTN_TRAIN_ENCDEC_LOOP_H

#include <stdbool.h>
#include <stdint.h>
#include "tokenizer/bpe.h"
#include "train/encdec.h"
#include "train/loop.h"

typedef struct {
    const char *src, *tgt;             /* parallel text, one sentence per line */
    const char *valid_src, *valid_tgt; /* optional */
    const char *tokenizer;             /* tokenizer.json (joint BPE) */
    const char *out_dir;
    const char *log_path;              /* JSONL; NULL = none */
    attn_encdec_config shape;          /* layers, d_model, heads, d_ff, max_len, pre_ln (vocab from the tokenizer) */
    float dropout, label_smoothing, lr_factor, clip;
    int64_t max_tokens, warmup, steps;
    int eval_every, save_every;
    int keep;                          /* > 0: also keep the model of the last `keep` saves as OUT-at-STEP */
    uint64_t seed;
    bool resume;                       /* continue out_dir's checkpoint, with its model and recipe */
    volatile sig_atomic_t *stop;
    void (*on_event)(void *ctx, const attn_train_event *e);
    void *ctx;
} attn_encdec_train_opts;

/* The paper's base recipe at a laptop's size: 3 + 3 layers, d 256, 4 heads, d_ff 1024,
 * max_len 256, dropout 0.1, smoothing 0.1, 4096 tokens a batch, warmup 4000, 10000 steps. */
void attn_encdec_train_defaults(attn_encdec_train_opts *o);
int attn_encdec_train_run(const attn_encdec_train_opts *o, attn_train_result *r);

/* The model's ids for a tokenizer: EOS = the tokenizer's end-of-text token, BOS and PAD =
 * two extra ids past its vocabulary (vocab = tokenizer's + 2). PAD is its own id: beam
 * search fills ended hypotheses with it, so it must not be EOS. */
int attn_encdec_ids_for(const attn_tokenizer *tok, attn_encdec_config *c);

/* 0 when model config c has the vocabulary and the EOS, BOS and PAD ids that
 * attn_encdec_ids_for gives for tok; else an error naming model (a folder) and both sets. */
int attn_encdec_check_ids(const attn_tokenizer *tok, const attn_encdec_config *c, const char *model);

/* Splits text (modified in place: newlines become NULs; a "\r\n" ending loses its "\r")
 * into lines. Every line must be valid UTF-8: else an error naming what:LINE. *lines is
 * malloc'd (pointers into text); a final line without a newline counts. */
int attn_text_lines(char *text, size_t len, const char *what, char ***lines, int *n);

/* Tokenizes n lines (no special tokens parsed). Lines longer than max_ids ids are cut to
 * max_ids; *n_cut (may be NULL) counts them, first_cut the first such line (0-based, or -1).
 * ids[i] malloc'd each (free with attn_free_rows). */
int attn_tokenize_lines(const attn_tokenizer *tok, char *const *lines, int n, int max_ids, int32_t ***ids,
                        int32_t **lens, int *n_cut, int *first_cut);
void attn_free_rows(int32_t **ids, int n);

#endif
