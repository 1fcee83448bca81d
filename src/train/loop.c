/* loop.c - the training loop (see loop.h): set-up from shards and a fresh, fine-tuned or
 * resumed model; steps with accumulation, clipping and the LR schedule; evaluation,
 * samples, the JSONL log and checkpoints. */
#include "train/loop.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/common.h"
#include "format/fileio.h"
#include "generate/sampler.h"
#include "tokenizer/bpe.h"
#include "train/data.h"
#include "train/schedule.h"

#define PATH_CAP 4200

typedef struct {
    const attn_train_opts *o;
    attn_train_hparams hp;
    attn_shard *train, *val;
    attn_gpt2_train *m;
    attn_adamw *opt;
    attn_batch_cursor cur;
    int32_t *batch, *tok, *tgt;
    FILE *log;
    char tokenizer[PATH_CAP];
    bool has_tokenizer, eval_warned;
    attn_tokenizer *tokz;
    int64_t step, first_step;
    double t0;
} run;

void attn_train_defaults(attn_train_opts *o) {
    memset(o, 0, sizeof *o);
    o->hp = (attn_train_hparams){.B = 8, .T = 64, .accum = 1, .steps = -1, .lr = 1e-3f, .min_lr = -1,
                                 .weight_decay = 0.1f, .clip = 1.0f, .dropout = 0.0f, .beta1 = 0.9f,
                                 .beta2 = 0.95f, .eps = 1e-8f, .warmup = 10, .seed = 1337};
    o->eval_every = 50, o->eval_batches = 8, o->save_every = 100, o->sample_every = 0, o->sample_len = 64;
}

static void emit(run *r, attn_train_event e) {
    e.total = r->hp.steps;
    if (!e.step) e.step = r->step;
    if (r->o->on_event) r->o->on_event(r->o->ctx, &e);
}

static void note(run *r, const char *fmt, const char *arg) {
    char buf[1200];
    snprintf(buf, sizeof buf, fmt, arg);
    emit(r, (attn_train_event){.kind = ATTN_TRAIN_EV_NOTE, .text = buf});
}

static bool is_file(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

/* ---- set-up ---- */

/* The folder whose tokenizer.json goes with --init: the folder itself, or the one holding
 * the model.safetensors it names. */
static void init_folder(const char *init, char *out, size_t cap) {
    struct stat st;
    if (stat(init, &st) == 0 && S_ISDIR(st.st_mode)) snprintf(out, cap, "%s", init);
    else attn_path_dir(init, out, cap);
}

static int open_data(run *r) {
    char p[PATH_CAP];
    snprintf(p, sizeof p, "%s/train.bin", r->o->data_dir);
    if (!is_file(p))
        return attn_error("%s: missing: make the shards with 'attn data prepare -i TEXT -o %s --tokenizer ...'", p,
                          r->o->data_dir);
    if (!(r->train = attn_shard_open(p))) return -1;
    snprintf(p, sizeof p, "%s/val.bin", r->o->data_dir);
    if (is_file(p) && !(r->val = attn_shard_open(p))) return -1;
    return 0;
}

/* The tokenizer.json the checkpoint carries: the data folder's, else the one beside the
 * weights we start from (a resumed checkpoint, a fine-tuned HF folder) when it is the one
 * the data was made with. Only samples and `attn generate` need it: missing is no error. */
static void find_tokenizer(run *r) {
    char init[PATH_CAP] = "";
    if (!r->o->resume && r->o->init && strcmp(r->o->init, "random") != 0) init_folder(r->o->init, init, sizeof init);
    const char *dirs[] = {r->o->data_dir, r->o->resume ? r->o->out_dir : init};
    for (int i = 0; i < 2 && !r->has_tokenizer; i++) {
        uint64_t id;
        if (!dirs[i] || !dirs[i][0]) continue;
        snprintf(r->tokenizer, sizeof r->tokenizer, "%s/tokenizer.json", dirs[i]);
        r->has_tokenizer = is_file(r->tokenizer) && (i == 0 || (attn_data_tokenizer_id(r->tokenizer, &id) == 0 &&
                                                               id == attn_shard_info(r->train)->tokenizer_id));
    }
    if (r->has_tokenizer) r->tokz = attn_tokenizer_load(r->tokenizer);
    attn_clear_error();
}

/* A resumed run logs the steps after the checkpoint again: drop the old lines for them
 * (a crash may have logged steps it never saved), so the log reads as one run. */
int attn_train_log_trim(const char *path, int64_t step) {
    size_t n;
    if (!path || !is_file(path)) return 0;
    char *text = attn_read_file(path, &n), *w = text;
    if (!text) return -1;
    for (char *line = text, *next; line < text + n; line = next) {
        next = memchr(line, '\n', (size_t)(text + n - line));
        next = next ? next + 1 : text + n;
        const char *sp = strstr(line, "\"step\": ");
        bool keep = !sp || sp >= next || strtoll(sp + 8, NULL, 10) <= step;
        if (keep) memmove(w, line, (size_t)(next - line)), w += next - line;
    }
    int rc = attn_write_file_atomic(path, text, (size_t)(w - text));
    free(text);
    return rc;
}

static int check_data(run *r) {
    const attn_shard_header *h = attn_shard_info(r->train);
    uint64_t need = (uint64_t)r->hp.B * (uint64_t)r->hp.T + 1;
    if (h->n_tokens < need)
        return attn_error("%s: %llu tokens, fewer than one batch needs (B=%d x T=%d + 1 = %llu): give more text or "
                          "lower --batch/--seq", attn_shard_path(r->train), (unsigned long long)h->n_tokens, r->hp.B,
                          r->hp.T, (unsigned long long)need);
    int64_t V = attn_gpt2_train_config(r->m)->vocab;
    const attn_shard *shards[] = {r->train, r->val}; /* val too: found only at the first evaluation, it lost the run */
    for (int i = 0; i < 2; i++) {
        const attn_shard_header *s = shards[i] ? attn_shard_info(shards[i]) : NULL;
        if (s && (int64_t)s->vocab_size > V)
            return attn_error("%s: token ids go up to %u but the model's vocabulary has %lld: prepare the data with "
                              "the model's tokenizer", attn_shard_path(shards[i]), s->vocab_size - 1, (long long)V);
        if (s && (s->tokenizer_id != h->tokenizer_id || s->vocab_size != h->vocab_size))
            return attn_error("%s was made with another tokenizer than %s (id %016llx against %016llx): prepare both "
                              "from the same text with one tokenizer", attn_shard_path(shards[i]),
                              attn_shard_path(r->train), (unsigned long long)s->tokenizer_id,
                              (unsigned long long)h->tokenizer_id);
    }
    return 0;
}

static int check_shape(const attn_gpt2_config *c, const attn_train_opts *o) {
    const char *names[] = {"--layers", "--heads", "--embd", "--ctx"};
    int64_t want[] = {o->n_layer, o->n_head, o->n_embd, o->n_ctx}, have[] = {c->n_layer, c->n_head, c->n_embd, c->n_ctx};
    for (int i = 0; i < 4; i++)
        if (want[i] && want[i] != have[i])
            return attn_error("%s: the checkpoint's model has %s %lld, not %lld (a different model shape)", o->out_dir,
                              names[i], (long long)have[i], (long long)want[i]);
    return 0;
}

/* Fine-tuning on data of another tokenizer runs, and learns nothing the model can use. Same
 * tokenizer files hash alike; a copy re-saved by another tool may not, so a differing hash
 * only fails when the vocabulary sizes differ too. */
static int check_init_tokenizer(run *r) {
    const char *init = r->o->init;
    char p[PATH_CAP], dir[PATH_CAP - 16];
    uint64_t id;
    if (r->o->resume || !init || !strcmp(init, "random")) return 0;
    init_folder(init, dir, sizeof dir);
    snprintf(p, sizeof p, "%s/tokenizer.json", dir);
    const attn_shard_header *h = attn_shard_info(r->train);
    if (!is_file(p) || (attn_data_tokenizer_id(p, &id) == 0 && id == h->tokenizer_id)) return 0;
    attn_tokenizer *t = attn_tokenizer_load(p);
    int n = t ? attn_tokenizer_vocab_size(t) : -1;
    attn_tokenizer_free(t);
    attn_clear_error();
    if (n < 0 || (uint32_t)n == h->vocab_size) return 0;
    return attn_error("%s was made with another tokenizer than the model in %s (vocabulary %u against %d): prepare "
                      "the data with 'attn data prepare --tokenizer %s'", attn_shard_path(r->train), init,
                      h->vocab_size, n, p);
}

static attn_adamw_config adamw_config(const attn_train_hparams *hp) {
    return (attn_adamw_config){.lr = hp->lr, .beta1 = hp->beta1, .beta2 = hp->beta2, .eps = hp->eps,
                               .weight_decay = hp->weight_decay};
}

static int resume(run *r) {
    const attn_train_opts *o = r->o;
    attn_train_state s;
    if (!attn_checkpoint_exists(o->out_dir))
        return attn_error("%s: no checkpoint to resume (train_state.json missing)", o->out_dir);
    if (attn_checkpoint_read_state(o->out_dir, &s)) return -1;
    const attn_shard_header *h = attn_shard_info(r->train);
    if (s.tokenizer_id != h->tokenizer_id || s.vocab_size != h->vocab_size)
        return attn_error("%s: the checkpoint was trained on data of another tokenizer (id %016llx, vocabulary %u) "
                          "than %s (id %016llx, vocabulary %u)", o->out_dir, (unsigned long long)s.tokenizer_id,
                          s.vocab_size, attn_shard_path(r->train), (unsigned long long)h->tokenizer_id, h->vocab_size);
    if (s.data_batch != (uint64_t)s.step * (uint64_t)s.hp.accum) /* each step reads accum micro-batches */
        return attn_error("%s/train_state.json: data batch %llu does not follow from step %lld with %d micro-batches a "
                          "step: a damaged or edited checkpoint", o->out_dir, (unsigned long long)s.data_batch,
                          (long long)s.step, s.hp.accum);
    int64_t steps = o->hp.steps > 0 ? o->hp.steps : s.hp.steps;
    r->hp = s.hp, r->hp.steps = steps;
    attn_adamw_config ac = adamw_config(&r->hp);
    if (attn_checkpoint_load(o->out_dir, r->hp.B, r->hp.T, &ac, &r->m, &r->opt)) return -1;
    if (check_shape(attn_gpt2_train_config(r->m), o)) return -1;
    r->step = r->first_step = s.step;
    r->cur = (attn_batch_cursor){.seed = s.data_seed, .batch = s.data_batch};
    attn_gpt2_train_options(r->m)->seed = s.dropout_seed;
    char msg[128];
    snprintf(msg, sizeof msg, "%lld", (long long)s.step);
    note(r, "resuming from step %s (hyperparameters from the checkpoint)", msg);
    if (s.train_tokens != h->n_tokens) /* same tokenizer, other text: allowed, but say it */
        note(r, "%s changed since the checkpoint: the batches differ from an uninterrupted run",
             attn_shard_path(r->train));
    return 0;
}

static int fresh(run *r) {
    const attn_train_opts *o = r->o;
    if (attn_checkpoint_exists(o->out_dir))
        return attn_error("%s: already holds a checkpoint: pass --resume to continue it, or choose another --out",
                          o->out_dir);
    r->hp = o->hp;
    if (r->hp.steps <= 0) r->hp.steps = 100;
    if (r->hp.min_lr < 0) r->hp.min_lr = r->hp.lr >= 1e-4f ? 1e-4f : r->hp.lr / 10; /* the decay must not rise */
    if (o->init && strcmp(o->init, "random") != 0) {
        r->m = attn_gpt2_train_load(o->init, r->hp.B, r->hp.T);
    } else {
        attn_gpt2_config c;
        attn_gpt2_config_defaults(&c);
        c.n_layer = o->n_layer ? o->n_layer : 4, c.n_head = o->n_head ? o->n_head : 4;
        c.n_embd = o->n_embd ? o->n_embd : 128, c.n_ctx = o->n_ctx ? o->n_ctx : r->hp.T;
        c.n_inner = 0, c.vocab = attn_shard_info(r->train)->vocab_size;
        c.eos_id = attn_shard_info(r->train)->eot;
        r->m = attn_gpt2_train_new(&c, r->hp.seed, r->hp.B, r->hp.T);
    }
    if (!r->m) return -1;
    attn_adamw_config ac = adamw_config(&r->hp);
    if (!(r->opt = attn_adamw_new(attn_gpt2_train_numel(r->m), &ac))) return -1;
    r->cur = (attn_batch_cursor){.seed = r->hp.seed};
    attn_gpt2_train_options(r->m)->seed = r->hp.seed * 0x9E3779B97F4A7C15ull + 1; /* apart from the data seed */
    return 0;
}

static int check_hparams(const attn_train_hparams *hp) {
    if (hp->B < 1 || hp->T < 1 || hp->accum < 1) return attn_error("--batch, --seq and --accum must be at least 1");
    if (hp->steps == 0 || hp->steps < -1) /* -1: the default (100, or the checkpoint's) */
        return attn_error("--steps must be at least 1 (got %lld)", (long long)hp->steps);
    if (!(hp->dropout >= 0 && hp->dropout < 1)) return attn_error("--dropout must be in [0, 1)");
    if (!(hp->lr > 0) || isnan(hp->min_lr)) return attn_error("--lr must be positive and --min-lr a number");
    if (hp->min_lr > hp->lr) /* the cosine "decay" would raise the rate */
        return attn_error("--min-lr %g is above --lr %g: give a --min-lr at most the peak (nanoGPT uses lr/10)",
                          (double)hp->min_lr, (double)hp->lr);
    if (!(hp->beta1 >= 0 && hp->beta1 < 1) || !(hp->beta2 >= 0 && hp->beta2 < 1)) /* 1 - beta^t would be 0 */
        return attn_error("AdamW's betas must be in [0, 1) (beta1 %g, --beta2 %g)", (double)hp->beta1, (double)hp->beta2);
    return 0;
}

static int setup(run *r) {
    const attn_train_opts *o = r->o;
    if (!o->data_dir || !o->out_dir) return attn_error("both the data folder and the output folder are needed");
    if (check_hparams(&o->hp) || attn_checkpoint_recover(o->out_dir) || attn_checkpoint_check_out(o->out_dir) ||
        open_data(r))
        return -1;
    if (o->resume ? resume(r) : fresh(r)) return -1;
    if (check_data(r) || check_init_tokenizer(r)) return -1;
    find_tokenizer(r);
    if (o->resume && attn_train_log_trim(o->log_path, r->step)) return -1;
    attn_gpt2_train_opts *mo = attn_gpt2_train_options(r->m);
    mo->dropout = r->hp.dropout, mo->training = true;
    size_t n = (size_t)r->hp.B * ((size_t)r->hp.T + 1);
    r->batch = malloc(n * sizeof(int32_t)), r->tok = malloc(n * sizeof(int32_t)), r->tgt = malloc(n * sizeof(int32_t));
    if (!r->batch || !r->tok || !r->tgt) return attn_error("out of memory");
    /* a fresh run starts its log; a resumed one continues it (trimmed to the checkpoint) */
    if (o->log_path && !(r->log = fopen(o->log_path, o->resume ? "a" : "w")))
        return attn_error("%s: cannot open the log: %s", o->log_path, strerror(errno));
    return 0;
}

/* ---- one step ---- */

/* Rows of T+1 tokens -> inputs (first T) and targets (last T). */
static void split_batch(run *r, int B) {
    int T = r->hp.T;
    for (int b = 0; b < B; b++) {
        memcpy(r->tok + (size_t)b * T, r->batch + (size_t)b * (T + 1), (size_t)T * sizeof(int32_t));
        memcpy(r->tgt + (size_t)b * T, r->batch + (size_t)b * (T + 1) + 1, (size_t)T * sizeof(int32_t));
    }
}

static int train_step(run *r, float *loss, float *norm, float *lr) {
    int n;
    const attn_param *ps = attn_gpt2_train_params(r->m, &n);
    float sum = 0, l;
    attn_gpt2_train_discard_grad(r->m); /* AdamW has taken the last step's */
    for (int k = 0; k < r->hp.accum; k++) {
        if (attn_shard_next_batch(r->train, &r->cur, r->hp.B, r->hp.T, r->batch)) return -1;
        split_batch(r, r->hp.B);
        if (attn_gpt2_train_forward(r->m, r->tok, r->tgt, r->hp.B, r->hp.T, &l)) return -1;
        if (attn_gpt2_train_backward(r->m, 1.0f / (float)r->hp.accum)) return -1;
        sum += l;
    }
    *loss = sum / (float)r->hp.accum;
    if (!isfinite(*loss)) return attn_error("step %lld: the loss is %g: lower --lr", (long long)r->step + 1, *loss);
    *norm = attn_grad_norm(ps, n);
    attn_lr_schedule s = {r->hp.lr, r->hp.min_lr, r->hp.warmup, r->hp.steps};
    *lr = attn_lr_at(&s, r->step);
    return attn_adamw_step(r->opt, ps, n, *lr, attn_clip_scale(*norm, r->hp.clip));
}

/* ---- evaluation and samples ---- */

/* Mean loss over the first eval_batches sequential batches of val.bin, dropout off. */
static int evaluate(run *r, float *val_loss) {
    uint64_t need = (uint64_t)r->hp.B * (uint64_t)r->hp.T + 1;
    if (!r->val || attn_shard_info(r->val)->n_tokens < need) {
        if (!r->eval_warned) note(r, "%s", r->val ? "val.bin is smaller than one batch: no evaluation"
                                                 : "no val.bin: no evaluation");
        r->eval_warned = true;
        return 1;
    }
    attn_gpt2_train_opts *mo = attn_gpt2_train_options(r->m);
    attn_batch_cursor c = {.sequential = true};
    uint64_t nb = attn_shard_batches_per_epoch(r->val, r->hp.B, r->hp.T);
    int batches = r->o->eval_batches < 1 ? 1 : (uint64_t)r->o->eval_batches > nb ? (int)nb : r->o->eval_batches;
    double sum = 0;
    float l;
    int rc = 0;
    mo->training = false;
    for (int i = 0; i < batches && rc == 0; i++) {
        rc = attn_shard_next_batch(r->val, &c, r->hp.B, r->hp.T, r->batch);
        if (rc == 0) split_batch(r, r->hp.B), rc = attn_gpt2_train_forward(r->m, r->tok, r->tgt, r->hp.B, r->hp.T, &l);
        sum += l;
    }
    mo->training = true;
    *val_loss = (float)(sum / batches);
    return rc;
}

/* Generates from the current weights with the training model's forward (no targets, no
 * dropout) over a growing, then sliding, context; temperature 0.8 with a seed fixed by
 * (run seed, step), so samples never disturb the training stream. */
static int sample(run *r) {
    int T = r->hp.T, n = r->o->sample_len, len = 1, rc = 0;
    int64_t V = attn_gpt2_train_config(r->m)->vocab;
    attn_sampler_params sp;
    attn_sampler_defaults(&sp);
    sp.seed = r->hp.seed ^ (uint64_t)r->step;
    attn_sampler *s = attn_sampler_new(&sp, (int)V);
    int32_t *ctx = malloc((size_t)T * sizeof *ctx), *out = malloc((size_t)(n + 1) * sizeof *out);
    if (!s || !ctx || !out) rc = attn_error("out of memory");
    int32_t eot = attn_shard_info(r->train)->eot;
    if (rc == 0 && eot < 0) rc = attn_shard_read(r->train, 0, 1, &eot);
    attn_gpt2_train_options(r->m)->training = false;
    if (rc == 0) ctx[0] = out[0] = eot;
    for (int i = 0; i < n && rc == 0; i++) {
        float l;
        rc = attn_gpt2_train_forward(r->m, ctx, NULL, 1, len, &l);
        if (rc) break;
        int32_t t = attn_sampler_sample(s, (float *)attn_gpt2_train_logits(r->m) + (size_t)(len - 1) * V);
        attn_sampler_accept(s, t);
        out[i + 1] = t;
        if (len == T) memmove(ctx, ctx + 1, (size_t)(T - 1) * sizeof *ctx), len--;
        ctx[len++] = t;
    }
    attn_gpt2_train_options(r->m)->training = true;
    char *text = NULL;
    size_t tl;
    if (rc == 0 && r->tokz && attn_tokenizer_decode(r->tokz, out + 1, n, &text, &tl) == 0)
        emit(r, (attn_train_event){.kind = ATTN_TRAIN_EV_SAMPLE, .text = text});
    else if (rc == 0) emit(r, (attn_train_event){.kind = ATTN_TRAIN_EV_SAMPLE, .text = "(no tokenizer.json in the data folder)"});
    free(text), free(ctx), free(out);
    attn_sampler_free(s);
    return rc;
}

/* ---- checkpoints and log ---- */

static int save(run *r) {
    const attn_shard_header *h = attn_shard_info(r->train);
    attn_train_state s = {.step = r->step, .dropout_seed = attn_gpt2_train_options(r->m)->seed,
                          .data_seed = r->cur.seed, .data_batch = r->cur.batch, .tokenizer_id = h->tokenizer_id,
                          .vocab_size = h->vocab_size, .train_tokens = h->n_tokens, .hp = r->hp};
    if (attn_checkpoint_save(r->o->out_dir, r->m, r->opt, &s, r->has_tokenizer ? r->tokenizer : NULL)) return -1;
    emit(r, (attn_train_event){.kind = ATTN_TRAIN_EV_SAVE, .text = r->o->out_dir});
    return 0;
}

static void log_step(run *r, const attn_train_event *e) {
    if (!r->log) return;
    fprintf(r->log, "{\"step\": %lld, \"loss\": %.9g, \"lr\": %.9g, \"grad_norm\": %.9g, \"tokens_per_s\": %.1f}\n",
            (long long)e->step, e->loss, e->lr, e->grad_norm, e->tokens_per_s);
    fflush(r->log);
}

static void log_eval(run *r, float val_loss) {
    if (!r->log) return;
    fprintf(r->log, "{\"step\": %lld, \"val_loss\": %.9g, \"ppl\": %.9g}\n", (long long)r->step, val_loss,
            exp(val_loss));
    fflush(r->log);
}

static bool every(int64_t step, int n) { return n > 0 && step % n == 0; }

/* Eval, sample and save after step r->step, as the options ask; *val_loss updated. */
static int after_step(run *r, float *val_loss) {
    const attn_train_opts *o = r->o;
    bool last = r->step == r->hp.steps;
    if (every(r->step, o->eval_every) || (last && o->eval_every > 0)) {
        float v;
        int rc = evaluate(r, &v);
        if (rc < 0) return -1;
        if (rc == 0) {
            *val_loss = v;
            log_eval(r, v);
            emit(r, (attn_train_event){.kind = ATTN_TRAIN_EV_EVAL, .val_loss = v});
        }
    }
    if (every(r->step, o->sample_every) && sample(r)) return -1;
    if (every(r->step, o->save_every) && !last && save(r)) return -1;
    return 0;
}

static int loop(run *r, attn_train_result *res) {
    const attn_train_opts *o = r->o;
    double tokens = (double)r->hp.B * r->hp.T * r->hp.accum;
    r->t0 = attn_time_s();
    while (r->step < r->hp.steps) {
        attn_train_event e = {.kind = ATTN_TRAIN_EV_STEP};
        double t = attn_time_s();
        if (train_step(r, &e.loss, &e.grad_norm, &e.lr)) return -1;
        r->step++;
        double now = attn_time_s();
        e.step = r->step, e.tokens_per_s = tokens / fmax(now - t, 1e-9), e.elapsed_s = now - r->t0;
        e.eta_s = e.elapsed_s / (double)(r->step - r->first_step) * (double)(r->hp.steps - r->step);
        res->steps_done = r->step, res->steps_run = r->step - r->first_step, res->last_loss = e.loss;
        log_step(r, &e);
        emit(r, e);
        if (after_step(r, &res->last_val_loss)) return -1;
        if ((o->stop && *o->stop) || (o->stop_at > 0 && r->step >= o->stop_at)) {
            res->interrupted = o->stop && *o->stop;
            return save(r);
        }
    }
    res->steps_done = r->step;
    return save(r);
}

int attn_train_run(const attn_train_opts *o, attn_train_result *res) {
    run r = {.o = o};
    *res = (attn_train_result){.last_val_loss = NAN};
    int rc = setup(&r);
    if (rc == 0) rc = loop(&r, res);
    if (r.log) fclose(r.log);
    attn_tokenizer_free(r.tokz);
    free(r.batch), free(r.tok), free(r.tgt);
    attn_adamw_free(r.opt);
    attn_gpt2_train_free(r.m);
    attn_shard_close(r.train), attn_shard_close(r.val);
    return rc;
}
