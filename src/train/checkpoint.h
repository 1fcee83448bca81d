/* checkpoint.h - attn's training checkpoint: one folder, written atomically as a whole.
 *
 *   DIR/model.safetensors        the weights, F32, Hugging Face GPT-2 names (attn_gpt2_train_save)
 *   DIR/config.json              HF GPT2LMHeadModel config
 *   DIR/tokenizer.json           copy of the run's tokenizer, when known (so `attn generate -m DIR` works)
 *   DIR/train_state.safetensors  AdamW moments: "<param name>.m" and "<param name>.v", F32
 *   DIR/train_state.json         step, optimizer step count, RNG states (dropout seed, data
 *                                sampler seed and batch number), the run's hyperparameters,
 *                                the data's tokenizer id, vocabulary and size
 *
 * Saving writes everything into DIR.tmp-XXXXXX, fsyncs each file and the folder, renames
 * the old DIR to DIR.old, the new folder to DIR, fsyncs the parent, then removes DIR.old.
 * At any instant a complete checkpoint exists under DIR or DIR.old; attn_checkpoint_recover
 * puts it back under DIR after a crash and removes half-written temp folders. A failed
 * save (disk full, file size limit) removes its temp folder and leaves DIR untouched. */
#ifndef ATTN_TRAIN_CHECKPOINT_H
#define ATTN_TRAIN_CHECKPOINT_H

#include <stdbool.h>
#include <stdint.h>
#include "train/gpt2_train.h"
#include "train/optim.h"

/* The hyperparameters that shape a run's trajectory (kept in the checkpoint so --resume
 * continues exactly as the first run would have). */
typedef struct {
    int B, T, accum;
    int64_t steps;                 /* total optimizer steps (the cosine schedule's length) */
    float lr, min_lr, weight_decay, clip, dropout, beta1, beta2, eps; /* min_lr < 0: 1e-4, or lr/10 below it */
    int64_t warmup;
    uint64_t seed;                 /* data order and dropout */
} attn_train_hparams;

typedef struct {
    int64_t step;                  /* optimizer steps done */
    uint64_t dropout_seed;         /* the model's dropout seed for the next forward */
    uint64_t data_seed, data_batch; /* the training batch cursor */
    uint64_t tokenizer_id;         /* of the data (shard header) */
    uint32_t vocab_size;           /* of the data */
    uint64_t train_tokens;         /* size of train.bin */
    attn_train_hparams hp;
} attn_train_state;

/* Writes the checkpoint folder dir atomically (see above). tokenizer: a tokenizer.json to
 * copy into it, or NULL. */
int attn_checkpoint_save(const char *dir, const attn_gpt2_train *m, attn_adamw *o, const attn_train_state *s,
                         const char *tokenizer);
/* attn_checkpoint_check_dir for the files attn_checkpoint_save writes: a run refuses an --out
 * it could never save to before it trains, not at its first save. */
int attn_checkpoint_check_out(const char *dir);

/* The same atomic folder swap for any content: write fills the temporary folder it is
 * given (returning 0, or -1 with the error set); then it is synced and swapped in for dir.
 * Other checkpoint kinds (the encoder-decoder's) and `attn average` use it. */
typedef int (*attn_checkpoint_writer)(const char *tmp_dir, void *ctx);
int attn_checkpoint_save_with(const char *dir, attn_checkpoint_writer write, void *ctx);

/* Before a run whose checkpoints hold the files names[0..n) and are saved as dir: the checks
 * a save makes of dir (missing, in a folder that exists, or a folder of those files alone; the
 * same for dir.old), so that a mistyped --out fails at the start, not at the first save. */
int attn_checkpoint_check_dir(const char *dir, const char *const *names, int n);

/* Copies a file (written atomically), e.g. a tokenizer.json into a checkpoint. */
int attn_checkpoint_copy_file(const char *src, const char *dst);

/* The tokenizer.json file that a tokenizer path (as attn_tokenizer_load takes it) names:
 * the file itself, or DIR/tokenizer.json; into out. A checkpoint keeps its tokenizer as
 * tokenizer.json, so llama2.c's tokenizer.bin, a GGUF and vocab.json + merges.txt are
 * refused (naming the path) before a run starts, not copied under the wrong name. */
int attn_checkpoint_tokenizer_json(const char *tokenizer, char *out, size_t cap);

/* After a crash: DIR missing but DIR.old there -> DIR.old becomes DIR; both there ->
 * DIR.old is removed; DIR.tmp-* folders are removed. 0 when nothing needed doing too. */
int attn_checkpoint_recover(const char *dir);

/* true when dir holds a checkpoint's train_state.json. */
bool attn_checkpoint_exists(const char *dir);

/* Reads dir/train_state.json. */
int attn_checkpoint_read_state(const char *dir, attn_train_state *s);

/* Loads the model (planned for B x T) and the optimizer (moments and step count) of a
 * checkpoint. Every file is checked: a truncated or mismatched file is an error naming it. */
int attn_checkpoint_load(const char *dir, int64_t B, int64_t T, const attn_adamw_config *ac, attn_gpt2_train **m,
                         attn_adamw **o);

/* Removes a folder holding only files (a checkpoint); missing is fine. */
int attn_checkpoint_remove_dir(const char *dir);

/* DIR-at-STEP beside dir (trailing slashes of dir dropped): where a run keeps a copy of an
 * earlier save (for checkpoint averaging). */
int attn_checkpoint_step_dir(const char *dir, int64_t step, char *out, size_t cap);
/* Removes every DIR-at-STEP folder but the `keep` of highest STEP. */
int attn_checkpoint_prune_steps(const char *dir, int keep);

#endif
