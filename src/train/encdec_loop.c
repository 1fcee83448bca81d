/* encdec_loop.c - the encoder-decoder training loop (see encdec_loop.h). It is its own
 * small loop rather than a mode of loop.c, whose data path (token shards, fixed B x T
 * windows, sampling) is GPT-2's; what the two share is reused: the atomic checkpoint
 * folder swap (checkpoint.c), the event callback and result types (loop.h), AdamW and
 * clipping (optim.c), and the JSONL line format. */
#include "train/encdec_loop.h"
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "core/common.h"
#include "format/config.h"
#include "format/fileio.h"
#include "format/safetensors.h"
#include "train/checkpoint.h"

#define PATH_CAP 4200
#define STATE_FORMAT "attn-encdec-train-state"
#define MAX_TOKENS (1 << 24) /* --max-tokens' limit: a batch plan of more sentences than an int counts overflows */

void attn_encdec_train_defaults(attn_encdec_train_opts *o) {
    memset(o, 0, sizeof *o);
    attn_encdec_config_defaults(&o->shape);
    o->shape.d_model = 256, o->shape.n_heads = 4, o->shape.d_ff = 1024;
    o->shape.n_encoder_layers = o->shape.n_decoder_layers = 3;
    o->dropout = 0.1f, o->label_smoothing = 0.1f, o->lr_factor = 1.0f;
    o->max_tokens = 4096, o->warmup = 4000, o->steps = 10000, o->eval_every = 500, o->save_every = 1000, o->seed = 1;
}

int attn_encdec_ids_for(const attn_tokenizer *tok, attn_encdec_config *c) {
    int32_t eos = attn_tokenizer_eos(tok);
    if (eos < 0) return attn_error("the tokenizer has no end-of-text token (train one with 'attn tokenizer train')");
    c->vocab = attn_tokenizer_vocab_size(tok) + 2;
    c->eos_id = eos, c->bos_id = (int32_t)c->vocab - 2, c->pad_id = (int32_t)c->vocab - 1;
    return 0;
}

int attn_encdec_check_ids(const attn_tokenizer *tok, const attn_encdec_config *c, const char *model) {
    attn_encdec_config want = *c;
    if (attn_encdec_ids_for(tok, &want)) return -1;
    if (want.vocab == c->vocab && want.eos_id == c->eos_id && want.bos_id == c->bos_id && want.pad_id == c->pad_id)
        return 0;
    return attn_error("%s: the model's vocabulary %lld (EOS %d, BOS %d, PAD %d) is not the tokenizer's %d tokens + 2 "
                      "(EOS %d, BOS %d, PAD %d): give the tokenizer it was trained with (--tokenizer)", model,
                      (long long)c->vocab, c->eos_id, c->bos_id, c->pad_id, attn_tokenizer_vocab_size(tok), want.eos_id,
                      want.bos_id, want.pad_id);
}

/* ---- text ---- */

int attn_text_lines(char *text, size_t len, const char *what, char ***lines, int *n) {
    int cap = 1;
    for (size_t i = 0; i < len; i++) cap += text[i] == '\n';
    *lines = malloc(sizeof **lines * (size_t)cap), *n = 0;
    if (!*lines) return attn_error("out of memory");
    for (size_t start = 0; start < len;) {
        char *nl = memchr(text + start, '\n', len - start);
        size_t end = nl ? (size_t)(nl - text) : len, line_len = end - start;
        if (line_len && text[end - 1] == '\r') line_len--;
        if (attn_utf8_first_invalid(text + start, line_len) || memchr(text + start, 0, line_len)) {
            free(*lines), *lines = NULL;
            return attn_error("%s:%d: invalid UTF-8 (or a NUL byte)", what, *n + 1);
        }
        text[start + line_len] = 0;
        (*lines)[(*n)++] = text + start;
        start = end + 1;
    }
    return 0;
}

void attn_free_rows(int32_t **ids, int n) {
    for (int i = 0; ids && i < n; i++) free(ids[i]);
    free(ids);
}

int attn_tokenize_lines(const attn_tokenizer *tok, char *const *lines, int n, int max_ids, int32_t ***ids,
                        int32_t **lens, int *n_cut, int *first_cut) {
    *ids = calloc((size_t)n + 1, sizeof **ids), *lens = calloc((size_t)n + 1, sizeof **lens);
    if (n_cut) *n_cut = 0;
    if (first_cut) *first_cut = -1;
    if (!*ids || !*lens) return attn_error("out of memory");
    for (int i = 0; i < n; i++) {
        int k;
        if (attn_tokenizer_encode(tok, lines[i], strlen(lines[i]), false, &(*ids)[i], &k))
            return attn_error("line %d: %s", i + 1, attn_last_error());
        if (k > max_ids) {
            k = max_ids;
            if (n_cut && (*n_cut)++ == 0 && first_cut) *first_cut = i;
        }
        (*lens)[i] = k;
    }
    return 0;
}

/* ---- a parallel corpus ---- */

typedef struct {
    char *src_text, *tgt_text;
    int n;                  /* pairs kept */
    int src_rows, tgt_rows; /* rows allocated on each side */
    int32_t **src, **tgt;   /* ids, n rows each (rows of skipped pairs freed) */
    int32_t *src_n, *tgt_n;
    int64_t tokens;         /* target tokens (with EOS): the loss' weight */
} corpus;

static void corpus_free(corpus *c) {
    attn_free_rows(c->src, c->src_rows), attn_free_rows(c->tgt, c->tgt_rows);
    free(c->src_n), free(c->tgt_n), free(c->src_text), free(c->tgt_text);
    memset(c, 0, sizeof *c);
}

static int read_side(const char *path, const attn_tokenizer *tok, int max_ids, char **text, int32_t ***ids,
                     int32_t **lens, int *n) {
    size_t len;
    char **lines = NULL;
    if (!(*text = attn_read_file(path, &len)) || attn_text_lines(*text, len, path, &lines, n)) return -1;
    int rc = attn_tokenize_lines(tok, lines, *n, max_ids + 1, ids, lens, NULL, NULL);
    free(lines);
    return rc ? attn_error("%s: %s", path, attn_last_error()) : 0;
}

/* Reads both sides; pairs with a side longer than the model holds (or than a batch) are
 * left out (as fairseq does), counted in *skipped. */
static int corpus_load(corpus *c, const char *src, const char *tgt, const attn_tokenizer *tok, int max_ids,
                       int64_t max_tokens, int *skipped) {
    int ns = 0, nt = 0;
    memset(c, 0, sizeof *c);
    int rc = read_side(src, tok, max_ids, &c->src_text, &c->src, &c->src_n, &ns);
    c->src_rows = ns;
    if (rc == 0) rc = read_side(tgt, tok, max_ids, &c->tgt_text, &c->tgt, &c->tgt_n, &nt);
    c->tgt_rows = nt;
    if (rc) return -1;
    c->n = ns;
    if (ns != nt) return attn_error("%s has %d lines but %s has %d: the sides must pair line by line", src, ns, tgt, nt);
    int kept = 0;
    *skipped = 0;
    for (int i = 0; i < c->n; i++) {
        int64_t wide = (c->src_n[i] > c->tgt_n[i] ? c->src_n[i] : c->tgt_n[i]) + 1;
        if (c->src_n[i] > max_ids || c->tgt_n[i] > max_ids || wide > max_tokens) {
            free(c->src[i]), free(c->tgt[i]), (*skipped)++;
            continue;
        }
        c->src[kept] = c->src[i], c->tgt[kept] = c->tgt[i];
        c->src_n[kept] = c->src_n[i], c->tgt_n[kept] = c->tgt_n[i], c->tokens += c->tgt_n[i] + 1;
        kept++;
    }
    c->n = c->src_rows = c->tgt_rows = kept;
    return kept ? 0
                : attn_error("%s: no sentence pair fits (each side at most %d tokens: --max-len less its EOS or BOS; "
                             "--max-tokens %lld)", src, max_ids, (long long)max_tokens);
}

/* ---- the run ---- */

typedef struct {
    attn_encdec_train_opts rec; /* the options in force: the caller's, or on --resume the checkpoint's recipe */
    const attn_encdec_train_opts *o; /* = &rec */
    bool resumed;
    int64_t adam_steps;   /* read from the checkpoint before the optimizer exists */
    uint64_t dropout_seed;
    attn_tokenizer *tok;
    char tok_json[PATH_CAP]; /* the tokenizer.json that each checkpoint gets a copy of */
    attn_encdec *m;
    attn_adamw *opt;
    corpus train, valid;
    int *order, *starts, n_batches, max_sentences;
    int64_t step, epoch, batch; /* batch: the next one of this epoch */
    attn_encdec_batch_buf buf;
    FILE *log;
} run;

static void emit(const run *r, attn_train_event e) {
    e.step = r->step, e.total = r->o->steps;
    if (r->o->on_event) r->o->on_event(r->o->ctx, &e);
}

static void note(const run *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note(const run *r, const char *fmt, ...) {
    char text[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    emit(r, (attn_train_event){.kind = ATTN_TRAIN_EV_NOTE, .text = text});
}

static int plan_epoch(run *r) {
    return attn_encdec_token_batches(r->train.n, r->train.src_n, r->train.tgt_n, r->o->max_tokens, r->max_sentences,
                                     r->o->seed + (uint64_t)r->epoch, r->order, r->starts, &r->n_batches);
}

static int build(run *r, const corpus *c, const int *idx, int n) {
    const int32_t *src[n], *tgt[n];
    int32_t sn[n], tn[n];
    for (int i = 0; i < n; i++) src[i] = c->src[idx[i]], tgt[i] = c->tgt[idx[i]], sn[i] = c->src_n[idx[i]], tn[i] = c->tgt_n[idx[i]];
    return attn_encdec_batch_build(&r->buf, attn_encdec_get_config(r->m), n, src, sn, tgt, tn);
}

static int64_t target_tokens(const attn_encdec_batch *b) {
    int64_t t = 0;
    for (int64_t i = 0; i < b->B; i++) t += b->tgt_len[i];
    return t;
}

/* The validation loss: the mean over every target token (label-smoothed, no dropout). */
static int validate(run *r, float *out) {
    const corpus *v = &r->valid;
    int *order = malloc(sizeof(int) * (size_t)v->n), *starts = malloc(sizeof(int) * ((size_t)v->n + 1)), nb = 0;
    int rc = order && starts ? 0 : attn_error("out of memory");
    if (rc == 0)
        rc = attn_encdec_token_batches(v->n, v->src_n, v->tgt_n, r->o->max_tokens, r->max_sentences, 0, order, starts, &nb);
    attn_encdec_options(r->m)->training = false;
    double sum = 0;
    int64_t count = 0;
    for (int i = 0; i < nb && rc == 0; i++) {
        float loss;
        rc = build(r, v, order + starts[i], starts[i + 1] - starts[i]);
        if (rc == 0) rc = attn_encdec_forward(r->m, &r->buf.b, &loss);
        int64_t t = target_tokens(&r->buf.b);
        sum += (double)loss * t, count += t;
    }
    attn_encdec_options(r->m)->training = true;
    free(order), free(starts);
    *out = count ? (float)(sum / count) : NAN;
    return rc;
}

/* ---- checkpoints ---- */

static int write_state(const run *r, const char *dir) {
    const attn_encdec_train_opts *o = r->o;
    char dseed[20], seed[20], path[PATH_CAP];
    snprintf(dseed, sizeof dseed, "%016" PRIx64, attn_encdec_options(r->m)->seed);
    snprintf(seed, sizeof seed, "%016" PRIx64, o->seed);
    /* the floats go out as doubles at full precision, so they read back to the same float */
    json_t *j = json_pack("{s:s, s:I, s:I, s:I, s:I, s:s, s:s, s:I, s:I, s:f, s:f, s:f, s:f}", "format", STATE_FORMAT,
                          "step", (json_int_t)r->step, "adam_steps", (json_int_t)attn_adamw_steps(r->opt), "epoch",
                          (json_int_t)r->epoch, "batch", (json_int_t)r->batch, "dropout_seed", dseed, "seed", seed,
                          "warmup", (json_int_t)o->warmup, "max_tokens", (json_int_t)o->max_tokens, "lr_factor",
                          (double)o->lr_factor, "clip", (double)o->clip, "dropout", (double)o->dropout,
                          "label_smoothing", (double)o->label_smoothing);
    char *text = j ? json_dumps(j, JSON_INDENT(2)) : NULL;
    json_decref(j);
    snprintf(path, sizeof path, "%s/encdec_state.json", dir);
    int rc = text ? attn_write_file_atomic(path, text, strlen(text)) : attn_error("cannot format %s", path);
    free(text);
    return rc;
}

/* The model alone: what `attn translate` and `attn average` read. */
static int write_model(const char *tmp, void *ctx) {
    run *r = ctx;
    char path[PATH_CAP];
    if (attn_encdec_save(r->m, tmp)) return -1;
    snprintf(path, sizeof path, "%s/tokenizer.json", tmp);
    return attn_checkpoint_copy_file(r->tok_json, path);
}

/* What write_checkpoint puts in the folder. */
static const char *const checkpoint_files[] = {"config.json", "model.safetensors", "tokenizer.json",
                                               "encdec_state.safetensors", "encdec_state.json"};

static int write_checkpoint(const char *tmp, void *ctx) {
    run *r = ctx;
    int64_t n = attn_adamw_size(r->opt);
    attn_st_entry e[2] = {{.name = "adam.m", .dtype = ATTN_F32, .ndim = 1, .shape = {n}, .data = attn_adamw_m(r->opt)},
                          {.name = "adam.v", .dtype = ATTN_F32, .ndim = 1, .shape = {n}, .data = attn_adamw_v(r->opt)}};
    char path[PATH_CAP];
    if (write_model(tmp, ctx)) return -1;
    snprintf(path, sizeof path, "%s/encdec_state.safetensors", tmp);
    if (attn_safetensors_write(path, e, 2, NULL, NULL, 0)) return -1;
    return write_state(r, tmp);
}

/* The checkpoint, and with --keep N a copy of the model as OUT-at-STEP, the N newest kept:
 * the paper averages its last checkpoints, and the checkpoint folder holds only the latest. */
static int save(run *r) {
    if (attn_checkpoint_save_with(r->o->out_dir, write_checkpoint, r)) return -1;
    if (r->o->keep > 0) {
        char at[PATH_CAP];
        if (attn_checkpoint_step_dir(r->o->out_dir, r->step, at, sizeof at) ||
            attn_checkpoint_save_with(at, write_model, r) || attn_checkpoint_prune_steps(r->o->out_dir, r->o->keep))
            return -1;
    }
    emit(r, (attn_train_event){.kind = ATTN_TRAIN_EV_SAVE, .text = r->o->out_dir});
    return 0;
}

static int read_moments(run *r, const char *dir) {
    char path[PATH_CAP];
    snprintf(path, sizeof path, "%s/encdec_state.safetensors", dir);
    attn_safetensors *st = attn_safetensors_open(path);
    if (!st) return -1;
    int64_t n = attn_adamw_size(r->opt);
    const char *names[] = {"adam.m", "adam.v"};
    float *dst[] = {attn_adamw_m(r->opt), attn_adamw_v(r->opt)};
    int rc = 0;
    for (int i = 0; i < 2 && rc == 0; i++) {
        const attn_st_tensor *t = attn_safetensors_find(st, names[i]);
        if (!t || t->dtype != ATTN_F32 || t->ndim != 1 || t->shape[0] != n)
            rc = attn_error("%s: '%s' missing or not F32 [%lld]", path, names[i], (long long)n);
        else memcpy(dst[i], t->data, sizeof(float) * (size_t)n);
    }
    attn_safetensors_close(st);
    return rc;
}

/* A seed as write_state writes it: a hex string (of 16 digits). */
static int read_seed(json_t *j, const char *path, const char *key, uint64_t *out) {
    const char *s = json_string_value(json_object_get(j, key));
    char *end = NULL;
    if (s) *out = strtoull(s, &end, 16);
    return s && end != s && !*end ? 0 : attn_error("%s: \"%s\" missing or not a hex string", path, key);
}

/* The batch cursor, step counts and dropout seed of the checkpoint: all required (a default
 * would restart the schedule at step 0 on trained weights, and trim the log to it). */
static int read_cursor(run *r, json_t *j, const char *path) {
    int64_t v[4];
    static const char *keys[] = {"step", "adam_steps", "epoch", "batch"};
    for (int i = 0; i < 4; i++) {
        json_t *x = json_object_get(j, keys[i]);
        if (!x || json_is_null(x)) return attn_error("%s: \"%s\" missing", path, keys[i]);
        if (attn_cfg_int(j, path, keys[i], 0, 0, i == 3 ? INT32_MAX : INT64_MAX, &v[i])) return -1;
    }
    if (read_seed(j, path, "dropout_seed", &r->dropout_seed)) return -1;
    r->step = v[0], r->adam_steps = v[1], r->epoch = v[2], r->batch = v[3];
    return 0;
}

/* --resume continues the checkpoint's recipe whatever the command line says (as `attn train`
 * does): another seed, batch size or schedule would change the trajectory, and a resumed run
 * must match an uninterrupted one. Each overridden flag is named. */
static void adopt_int(run *r, const char *flag, int64_t saved, int64_t *v) {
    if (*v != saved)
        note(r, "%s %lld from the checkpoint (not the command line's %lld)", flag, (long long)saved, (long long)*v);
    *v = saved;
}

static void adopt_float(run *r, const char *flag, double saved, float *v) {
    if (*v != (float)saved) note(r, "%s %g from the checkpoint (not the command line's %g)", flag, saved, (double)*v);
    *v = (float)saved;
}

/* The recipe; keys missing in older checkpoints (dropout, label_smoothing) keep the command line's. */
static int read_recipe(run *r, json_t *j, const char *path) {
    attn_encdec_train_opts *o = &r->rec;
    int64_t warmup, max_tokens;
    double lr_factor, clip, dropout, smoothing;
    uint64_t s;
    int rc = read_seed(j, path, "seed", &s);
    if (rc == 0) rc = attn_cfg_int(j, path, "warmup", o->warmup, 1, INT64_MAX, &warmup);
    if (rc == 0) rc = attn_cfg_int(j, path, "max_tokens", o->max_tokens, 2, MAX_TOKENS, &max_tokens);
    if (rc == 0) rc = attn_cfg_float(j, path, "lr_factor", o->lr_factor, 0, 1e30, &lr_factor);
    if (rc == 0) rc = attn_cfg_float(j, path, "clip", o->clip, 0, 1e30, &clip);
    if (rc == 0) rc = attn_cfg_float(j, path, "dropout", o->dropout, 0, 0.99, &dropout);
    if (rc == 0) rc = attn_cfg_float(j, path, "label_smoothing", o->label_smoothing, 0, 1, &smoothing);
    if (rc) return -1;
    if (s != o->seed) note(r, "--seed %llu from the checkpoint (not the command line's %llu)", (unsigned long long)s,
                           (unsigned long long)o->seed);
    o->seed = s;
    adopt_int(r, "--warmup", warmup, &o->warmup), adopt_int(r, "--max-tokens", max_tokens, &o->max_tokens);
    adopt_float(r, "--lr-factor", lr_factor, &o->lr_factor), adopt_float(r, "--clip", clip, &o->clip);
    adopt_float(r, "--dropout", dropout, &o->dropout);
    adopt_float(r, "--label-smoothing", smoothing, &o->label_smoothing);
    return 0;
}

static int read_state(run *r, const char *dir) {
    char path[PATH_CAP];
    snprintf(path, sizeof path, "%s/encdec_state.json", dir);
    json_t *j = attn_json_load_object(path);
    if (!j) return -1;
    const char *fmt = attn_cfg_str(j, path, "format", "");
    int rc = fmt && strcmp(fmt, STATE_FORMAT) == 0 ? 0 : attn_error("%s: not an encoder-decoder training state", path);
    if (rc == 0) rc = read_cursor(r, j, path);
    if (rc == 0) rc = read_recipe(r, j, path);
    json_decref(j);
    return rc;
}

/* ---- setup ---- */

static bool has_state(const char *dir) {
    char path[PATH_CAP];
    struct stat st;
    snprintf(path, sizeof path, "%s/encdec_state.json", dir);
    return stat(path, &st) == 0;
}

/* The checkpoint's model decides the shape on --resume; say so when the flags differ. */
static void note_shape(run *r) {
    const attn_encdec_config *m = attn_encdec_get_config(r->m), *c = &r->o->shape;
    if (m->n_encoder_layers != c->n_encoder_layers || m->d_model != c->d_model || m->n_heads != c->n_heads ||
        m->d_ff != c->d_ff || m->max_len != c->max_len || m->pre_ln != c->pre_ln)
        note(r, "the checkpoint's model is used: --layers %lld --d-model %lld --heads %lld --d-ff %lld --max-len %lld%s",
             (long long)m->n_encoder_layers, (long long)m->d_model, (long long)m->n_heads, (long long)m->d_ff,
             (long long)m->max_len, m->pre_ln ? " --pre-ln" : "");
}

static int new_model(run *r, int64_t B, int64_t S) {
    const attn_encdec_train_opts *o = r->o;
    attn_encdec_config c = o->shape;
    if (attn_encdec_ids_for(r->tok, &c)) return -1;
    if (!r->resumed && S > c.max_len) S = c.max_len; /* no row is longer: a short --max-len plans less */
    r->m = r->resumed ? attn_encdec_load(o->out_dir, B, S, S) : attn_encdec_new(&c, o->seed, B, S, S);
    if (!r->m) return -1;
    if (attn_encdec_check_ids(r->tok, attn_encdec_get_config(r->m), o->out_dir)) return -1;
    attn_encdec_opts *mo = attn_encdec_options(r->m);
    mo->dropout = o->dropout, mo->label_smoothing = o->label_smoothing, mo->training = true;
    mo->seed = r->resumed ? r->dropout_seed : o->seed ^ 0x9E3779B97F4A7C15ull;
    attn_adamw_config ac = {.lr = 0, .beta1 = 0.9f, .beta2 = 0.98f, .eps = 1e-9f, .weight_decay = 0};
    if (!(r->opt = attn_adamw_new(attn_encdec_numel(r->m), &ac))) return attn_error("out of memory");
    if (!r->resumed) return 0;
    attn_adamw_set_steps(r->opt, r->adam_steps);
    if (read_moments(r, o->out_dir)) return -1;
    note_shape(r);
    note(r, "resumed %s at step %lld", o->out_dir, (long long)r->step);
    return 0;
}

/* On --resume: the checkpoint folder put back after a crash, then its state and recipe.
 * Without it, a folder that already holds a checkpoint is refused (as `attn train` does). */
static int resume_state(run *r) {
    const attn_encdec_train_opts *o = r->o;
    if (!o->resume && has_state(o->out_dir)) /* a new run must not overwrite a run's checkpoint */
        return attn_error("%s: already holds a checkpoint: pass --resume to continue it, or choose another --out",
                          o->out_dir);
    if (!o->resume) return 0;
    if (attn_checkpoint_recover(o->out_dir)) return -1;
    r->resumed = has_state(o->out_dir);
    if (!r->resumed) note(r, "no checkpoint in %s yet: starting a new run", o->out_dir);
    return r->resumed ? read_state(r, o->out_dir) : 0;
}

/* A fresh run starts its log; a resumed one continues it, cut back to the checkpoint's step
 * (so the steps a crashed run logged after its last save are not there twice). */
static int open_log(run *r) {
    const attn_encdec_train_opts *o = r->o;
    if (!o->log_path) return 0;
    if (o->resume && attn_train_log_trim(o->log_path, r->step)) return -1;
    if (!(r->log = fopen(o->log_path, o->resume ? "a" : "w")))
        return attn_error("%s: cannot open the log: %s", o->log_path, strerror(errno));
    return 0;
}

/* The model comes before the text: on --resume its max_len (the checkpoint's) decides which
 * pairs fit, and the batch plan follows the recipe's max_tokens. */
static int setup(run *r) {
    const attn_encdec_train_opts *o = r->o;
    if (!(r->tok = attn_tokenizer_load(o->tokenizer)) ||
        attn_checkpoint_tokenizer_json(o->tokenizer, r->tok_json, sizeof r->tok_json) || resume_state(r) ||
        attn_checkpoint_check_dir(o->out_dir, checkpoint_files, sizeof checkpoint_files / sizeof *checkpoint_files))
        return -1;
    r->max_sentences = (int)(o->max_tokens / 4 > 1 ? o->max_tokens / 4 : 1);
    int64_t S = (o->max_tokens + r->max_sentences - 1) / r->max_sentences;
    if (new_model(r, r->max_sentences, S)) return -1;
    int max_ids = (int)attn_encdec_get_config(r->m)->max_len - 1, skipped = 0;
    if (corpus_load(&r->train, o->src, o->tgt, r->tok, max_ids, o->max_tokens, &skipped)) return -1;
    if (skipped) note(r, "left out %d training pairs longer than %d tokens or --max-tokens", skipped, max_ids);
    if (o->valid_src && (corpus_load(&r->valid, o->valid_src, o->valid_tgt, r->tok, max_ids, o->max_tokens, &skipped)))
        return -1;
    r->order = malloc(sizeof(int) * (size_t)r->train.n), r->starts = malloc(sizeof(int) * ((size_t)r->train.n + 1));
    if (!r->order || !r->starts) return attn_error("out of memory");
    return plan_epoch(r) || open_log(r) ? -1 : 0;
}

/* ---- steps ---- */

static int train_step(run *r, float *loss, float *lr, float *gnorm, int64_t *tokens) {
    if (r->batch >= r->n_batches) {
        r->epoch++, r->batch = 0;
        if (plan_epoch(r)) return -1;
    }
    int first = r->starts[r->batch], n = r->starts[r->batch + 1] - first;
    r->batch++;
    attn_encdec_discard_grad(r->m); /* AdamW has taken the last step's */
    if (build(r, &r->train, r->order + first, n) || attn_encdec_forward(r->m, &r->buf.b, loss) ||
        attn_encdec_backward(r->m, 1.0f))
        return -1;
    int np;
    const attn_param *ps = attn_encdec_params(r->m, &np);
    *gnorm = attn_grad_norm(ps, np);
    *lr = attn_encdec_noam_lr(attn_encdec_get_config(r->m)->d_model, ++r->step, r->o->warmup, r->o->lr_factor);
    *tokens = target_tokens(&r->buf.b);
    return attn_adamw_step(r->opt, ps, np, *lr, attn_clip_scale(*gnorm, r->o->clip));
}

static int maybe_eval(run *r, attn_train_result *res) {
    if (!r->valid.n || !r->o->eval_every || (r->step % r->o->eval_every && r->step != r->o->steps)) return 0;
    float v;
    if (validate(r, &v)) return -1;
    res->last_val_loss = v;
    if (r->log) fprintf(r->log, "{\"step\": %lld, \"val_loss\": %.9g, \"ppl\": %.9g}\n", (long long)r->step, v, exp(v));
    if (r->log) fflush(r->log);
    emit(r, (attn_train_event){.kind = ATTN_TRAIN_EV_EVAL, .val_loss = v});
    return 0;
}

static int loop(run *r, attn_train_result *res) {
    double t0 = attn_time_s();
    int64_t tokens_total = 0, first = r->step;
    while (r->step < r->o->steps && !(r->o->stop && *r->o->stop)) {
        float loss, lr, gnorm;
        int64_t tokens;
        if (train_step(r, &loss, &lr, &gnorm, &tokens)) return attn_error("step %lld: %s", (long long)r->step, attn_last_error());
        if (!isfinite(loss)) return attn_error("step %lld: the loss is %g (try a smaller --lr-factor)", (long long)r->step, loss);
        tokens_total += tokens, res->last_loss = loss, res->steps_done = r->step;
        double dt = attn_time_s() - t0, per_step = dt / (double)(r->step - first);
        attn_train_event e = {.kind = ATTN_TRAIN_EV_STEP, .loss = loss, .lr = lr, .grad_norm = gnorm,
                              .tokens_per_s = tokens_total / (dt > 0 ? dt : 1e-9), .elapsed_s = dt,
                              .eta_s = per_step * (double)(r->o->steps - r->step)};
        emit(r, e);
        if (r->log) {
            fprintf(r->log, "{\"step\": %lld, \"loss\": %.9g, \"lr\": %.9g, \"grad_norm\": %.9g, \"tokens_per_s\": %.1f}\n",
                    (long long)r->step, loss, lr, gnorm, e.tokens_per_s);
            fflush(r->log);
        }
        if (maybe_eval(r, res)) return -1;
        if (r->o->save_every && r->step % r->o->save_every == 0 && r->step != r->o->steps && save(r)) return -1;
    }
    res->interrupted = r->step < r->o->steps;
    return save(r);
}

int attn_encdec_train_run(const attn_encdec_train_opts *o, attn_train_result *res) {
    *res = (attn_train_result){.last_loss = NAN, .last_val_loss = NAN};
    if (!o->src || !o->tgt || !o->tokenizer || !o->out_dir) return attn_error("give the source, target, tokenizer and output");
    if (!o->valid_src != !o->valid_tgt) return attn_error("give both validation sides or neither");
    if (o->max_tokens < 2 || o->max_tokens > MAX_TOKENS)
        return attn_error("max_tokens %lld is outside [2, %d]", (long long)o->max_tokens, MAX_TOKENS);
    run r = {.rec = *o};
    r.o = &r.rec;
    int rc = setup(&r);
    if (rc == 0) rc = loop(&r, res);
    res->steps_done = r.step;
    if (r.log) fclose(r.log);
    attn_encdec_batch_free(&r.buf);
    free(r.order), free(r.starts);
    corpus_free(&r.train), corpus_free(&r.valid);
    attn_adamw_free(r.opt), attn_encdec_free(r.m), attn_tokenizer_free(r.tok);
    return rc;
}
