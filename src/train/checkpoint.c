/* checkpoint.c - the training checkpoint folder (layout in checkpoint.h): atomic save of
 * the whole folder, crash recovery, and loading with every file checked. */
#include "train/checkpoint.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/common.h"
#include "format/fileio.h"
#include "format/safetensors.h"

#define PATH_CAP 4200
#define JOIN_CAP (PATH_CAP + 64) /* a folder path plus a file name */
#define STATE_FORMAT "attn-train-state"
#define STATE_VERSION 1

/* ---- small file-system helpers ---- */

static bool exists(const char *p) {
    struct stat st;
    return stat(p, &st) == 0;
}

static int fsync_path(const char *p) {
    int fd = open(p, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return attn_error("%s: cannot open to sync: %s", p, strerror(errno));
    int rc = fsync(fd) != 0 && errno != EINVAL ? attn_error("%s: fsync failed: %s", p, strerror(errno)) : 0;
    close(fd);
    return rc;
}

/* dir without trailing slashes ("ck/" -> "ck"), so sibling names like ck.old land beside
 * the folder, not inside it. */
static int trim_dir(const char *dir, char *out, size_t cap) {
    size_t n = strlen(dir);
    if (n == 0 || n >= cap) return attn_error("checkpoint folder '%.64s': empty or too long a path", dir);
    memcpy(out, dir, n + 1);
    while (n > 1 && out[n - 1] == '/') out[--n] = 0;
    return 0;
}

/* The folder holding dir ("." for a bare name). */
static void parent_of(const char *dir, char *out, size_t cap) {
    char trimmed[PATH_CAP];
    snprintf(trimmed, sizeof trimmed, "%s", dir);
    size_t n = strlen(trimmed);
    while (n > 1 && trimmed[n - 1] == '/') trimmed[--n] = 0; /* "ckpt/" names ckpt */
    attn_path_dir(trimmed, out, cap);
}

int attn_checkpoint_remove_dir(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return errno == ENOENT ? 0 : attn_error("%s: cannot open: %s", dir, strerror(errno));
    struct dirent *e;
    char p[PATH_CAP];
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        unlink(p);
    }
    closedir(d);
    return rmdir(dir) == 0 || errno == ENOENT ? 0 : attn_error("%s: cannot remove: %s", dir, strerror(errno));
}

int attn_checkpoint_step_dir(const char *dir, int64_t step, char *out, size_t cap) {
    char base[PATH_CAP];
    if (trim_dir(dir, base, sizeof base)) return -1;
    int n = snprintf(out, cap, "%s-at-%lld", base, (long long)step);
    return n > 0 && (size_t)n < cap ? 0 : attn_error("%s: too long a path for its step folders", dir);
}

/* The STEP of a sibling folder named BASE-at-STEP, or -1. */
static int64_t step_of(const char *name, const char *base) {
    size_t n = strlen(base);
    if (strncmp(name, base, n) != 0 || strncmp(name + n, "-at-", 4) != 0 || !name[n + 4]) return -1;
    int64_t step = 0;
    for (const char *c = name + n + 4; *c; c++) {
        if (*c < '0' || *c > '9' || step > INT64_MAX / 10 - 9) return -1;
        step = step * 10 + (*c - '0');
    }
    return step;
}

static int by_step_desc(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? 1 : x > y ? -1 : 0;
}

int attn_checkpoint_prune_steps(const char *dir, int keep) {
    char trimmed[PATH_CAP], parent[PATH_CAP], path[PATH_CAP];
    if (trim_dir(dir, trimmed, sizeof trimmed)) return -1;
    parent_of(trimmed, parent, sizeof parent);
    const char *slash = strrchr(trimmed, '/'), *base = slash ? slash + 1 : trimmed;
    DIR *d = opendir(parent);
    if (!d) return attn_error("%s: cannot open: %s", parent, strerror(errno));
    int64_t *steps = NULL;
    size_t n = 0, cap = 0;
    for (struct dirent *e; (e = readdir(d));) {
        int64_t step = step_of(e->d_name, base);
        if (step < 0) continue;
        if (n == cap) {
            int64_t *more = realloc(steps, (cap = cap ? 2 * cap : 16) * sizeof *steps);
            if (!more) {
                free(steps), closedir(d);
                return attn_error("out of memory");
            }
            steps = more;
        }
        steps[n++] = step;
    }
    closedir(d);
    qsort(steps, n, sizeof *steps, by_step_desc);
    int rc = 0;
    for (size_t i = (size_t)(keep > 0 ? keep : 0); i < n && rc == 0; i++)
        if ((rc = attn_checkpoint_step_dir(trimmed, steps[i], path, sizeof path)) == 0) rc = attn_checkpoint_remove_dir(path);
    free(steps);
    return rc;
}

/* ---- train_state.json ---- */

static json_t *u64_hex(uint64_t v) {
    char b[32];
    snprintf(b, sizeof b, "0x%016llx", (unsigned long long)v);
    return json_string(b);
}

static json_t *hparams_json(const attn_train_hparams *h) {
    return json_pack("{s:i, s:i, s:i, s:I, s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:I, s:o}", "batch", h->B, "seq",
                     h->T, "accum", h->accum, "steps", (json_int_t)h->steps, "lr", (double)h->lr, "min_lr",
                     (double)h->min_lr, "weight_decay", (double)h->weight_decay, "clip", (double)h->clip, "dropout",
                     (double)h->dropout, "beta1", (double)h->beta1, "beta2", (double)h->beta2, "eps", (double)h->eps,
                     "warmup", (json_int_t)h->warmup, "seed", u64_hex(h->seed));
}

static int write_state_json(const char *dir, const attn_train_state *s, bool has_tokenizer) {
    json_t *j = json_pack("{s:s, s:i, s:I, s:o, s:{s:o, s:o, s:o, s:i, s:I}, s:o, s:o}", "format", STATE_FORMAT,
                          "version", STATE_VERSION, "step", (json_int_t)s->step, "dropout_seed",
                          u64_hex(s->dropout_seed), "data", "seed", u64_hex(s->data_seed), "batch",
                          u64_hex(s->data_batch), "tokenizer_id", u64_hex(s->tokenizer_id), "vocab_size",
                          (int)s->vocab_size, "train_tokens", (json_int_t)s->train_tokens, "hparams",
                          hparams_json(&s->hp), "tokenizer", has_tokenizer ? json_string("tokenizer.json") : json_null());
    char *text = j ? json_dumps(j, JSON_INDENT(2) | JSON_REAL_PRECISION(9)) : NULL;
    json_decref(j);
    if (!text) return attn_error("%s: out of memory writing train_state.json", dir);
    char p[JOIN_CAP];
    snprintf(p, sizeof p, "%s/train_state.json", dir);
    int rc = attn_write_file_atomic(p, text, strlen(text));
    free(text);
    return rc;
}

static int get_u64(json_t *obj, const char *key, uint64_t *v, const char *path) {
    const char *s = json_string_value(json_object_get(obj, key));
    char *end = NULL;
    if (s) *v = strtoull(s, &end, 16);
    if (!s || end == s || *end) return attn_error("%s: field '%s' missing or not a hex string", path, key);
    return 0;
}

static int get_int(json_t *obj, const char *key, int64_t *v, int64_t lo, const char *path) {
    json_t *x = json_object_get(obj, key);
    if (!json_is_integer(x) || json_integer_value(x) < lo)
        return attn_error("%s: field '%s' missing or not an integer >= %lld", path, key, (long long)lo);
    *v = json_integer_value(x);
    return 0;
}

static int get_float(json_t *obj, const char *key, float *v, const char *path) {
    json_t *x = json_object_get(obj, key);
    if (!json_is_number(x)) return attn_error("%s: field '%s' missing or not a number", path, key);
    *v = (float)json_number_value(x);
    return 0;
}

static int read_hparams(json_t *h, attn_train_hparams *hp, const char *path) {
    int64_t B, T, K;
    if (!json_is_object(h)) return attn_error("%s: 'hparams' missing", path);
    if (get_int(h, "batch", &B, 1, path) || get_int(h, "seq", &T, 1, path) || get_int(h, "accum", &K, 1, path) ||
        get_int(h, "steps", &hp->steps, 0, path) || get_int(h, "warmup", &hp->warmup, 0, path) ||
        get_float(h, "lr", &hp->lr, path) || get_float(h, "min_lr", &hp->min_lr, path) ||
        get_float(h, "weight_decay", &hp->weight_decay, path) || get_float(h, "clip", &hp->clip, path) ||
        get_float(h, "dropout", &hp->dropout, path) || get_float(h, "beta1", &hp->beta1, path) ||
        get_float(h, "beta2", &hp->beta2, path) || get_float(h, "eps", &hp->eps, path) ||
        get_u64(h, "seed", &hp->seed, path))
        return -1;
    if (B > 1 << 20 || T > 1 << 24 || K > 1 << 20) return attn_error("%s: batch/seq/accum out of range", path);
    hp->B = (int)B, hp->T = (int)T, hp->accum = (int)K;
    return 0;
}

static int parse_state(json_t *j, attn_train_state *s, const char *path) {
    int64_t version, vocab, tokens;
    const char *fmt = json_string_value(json_object_get(j, "format"));
    if (!fmt || strcmp(fmt, STATE_FORMAT)) return attn_error("%s: not an attn training state", path);
    if (get_int(j, "version", &version, 0, path)) return -1;
    if (version != STATE_VERSION) return attn_error("%s: state version %lld is not supported", path, (long long)version);
    json_t *d = json_object_get(j, "data");
    if (get_int(j, "step", &s->step, 0, path) || get_u64(j, "dropout_seed", &s->dropout_seed, path)) return -1;
    if (!json_is_object(d)) return attn_error("%s: 'data' missing", path);
    if (get_u64(d, "seed", &s->data_seed, path) || get_u64(d, "batch", &s->data_batch, path) ||
        get_u64(d, "tokenizer_id", &s->tokenizer_id, path) || get_int(d, "vocab_size", &vocab, 1, path) ||
        get_int(d, "train_tokens", &tokens, 0, path))
        return -1;
    s->vocab_size = (uint32_t)vocab, s->train_tokens = (uint64_t)tokens;
    return read_hparams(json_object_get(j, "hparams"), &s->hp, path);
}

int attn_checkpoint_read_state(const char *dir, attn_train_state *s) {
    char p[PATH_CAP];
    snprintf(p, sizeof p, "%s/train_state.json", dir);
    json_error_t err;
    json_t *j = json_load_file(p, JSON_REJECT_DUPLICATES, &err);
    if (!j) return attn_error("%s: unreadable or corrupt: %s (line %d)", p, err.text, err.line);
    memset(s, 0, sizeof *s);
    int rc = parse_state(j, s, p);
    json_decref(j);
    return rc;
}

bool attn_checkpoint_exists(const char *dir) {
    char p[PATH_CAP];
    snprintf(p, sizeof p, "%s/train_state.json", dir);
    return exists(p);
}

/* ---- train_state.safetensors: AdamW moments ---- */

static int write_moments(const char *dir, const attn_gpt2_train *m, attn_adamw *o) {
    int n;
    const attn_param *ps = attn_gpt2_train_params(m, &n);
    attn_st_entry *e = calloc((size_t)2 * n, sizeof *e);
    char (*names)[80] = calloc((size_t)2 * n, sizeof *names);
    int rc = -1;
    if (!e || !names) {
        attn_error("out of memory");
        goto out;
    }
    for (int i = 0; i < 2 * n; i++) {
        const attn_param *p = &ps[i / 2];
        snprintf(names[i], sizeof names[i], "%s.%c", p->name, i % 2 ? 'v' : 'm');
        float *src = (i % 2 ? attn_adamw_v(o) : attn_adamw_m(o)) + p->offset;
        e[i] = (attn_st_entry){.name = names[i], .dtype = ATTN_F32, .ndim = p->ndim,
                               .shape = {p->shape[0], p->shape[1]}, .data = src};
    }
    char path[JOIN_CAP], steps[32];
    snprintf(path, sizeof path, "%s/train_state.safetensors", dir);
    snprintf(steps, sizeof steps, "%lld", (long long)attn_adamw_steps(o));
    const char *keys[] = {"format", "adamw_steps"}, *vals[] = {"attn-adamw", steps};
    rc = attn_safetensors_write(path, e, 2 * n, keys, vals, 2);
out:
    free(e), free(names);
    return rc;
}

static int read_moments(const char *dir, const attn_gpt2_train *m, attn_adamw *o) {
    char path[PATH_CAP], name[96];
    snprintf(path, sizeof path, "%s/train_state.safetensors", dir);
    attn_safetensors *st = attn_safetensors_open(path);
    if (!st) return -1;
    int n, rc = 0;
    const attn_param *ps = attn_gpt2_train_params(m, &n);
    const char *steps = attn_safetensors_meta(st, "adamw_steps");
    if (!steps || atoll(steps) < 0) rc = attn_error("%s: metadata 'adamw_steps' missing", path);
    for (int i = 0; i < 2 * n && rc == 0; i++) {
        const attn_param *p = &ps[i / 2];
        snprintf(name, sizeof name, "%s.%c", p->name, i % 2 ? 'v' : 'm');
        const attn_st_tensor *t = attn_safetensors_find(st, name);
        if (!t || t->dtype != ATTN_F32 || t->nbytes != (size_t)p->numel * sizeof(float))
            rc = attn_error("%s: optimizer tensor '%s' missing or not F32 of the model's shape (checkpoint of "
                            "another model?)", path, name);
        else memcpy((i % 2 ? attn_adamw_v(o) : attn_adamw_m(o)) + p->offset, t->data, t->nbytes);
    }
    if (rc == 0) attn_adamw_set_steps(o, atoll(steps));
    attn_safetensors_close(st);
    return rc;
}

/* ---- saving ---- */

int attn_checkpoint_copy_file(const char *src, const char *dst) {
    size_t n;
    char *buf = attn_read_file(src, &n);
    if (!buf) return -1;
    int rc = attn_write_file_atomic(dst, buf, n);
    free(buf);
    return rc;
}

int attn_checkpoint_tokenizer_json(const char *tokenizer, char *out, size_t cap) {
    struct stat st;
    if (stat(tokenizer, &st) != 0) return attn_error("%s: cannot read: %s", tokenizer, strerror(errno));
    bool dir = S_ISDIR(st.st_mode);
    if (dir) snprintf(out, cap, "%s/tokenizer.json", tokenizer);
    else snprintf(out, cap, "%s", tokenizer);
    if ((dir && !exists(out)) || (!dir && (attn_ends_with(tokenizer, ".bin") || attn_ends_with(tokenizer, ".gguf"))))
        return attn_error("%s: a checkpoint keeps its tokenizer as a tokenizer.json, and this is none (llama2.c's "
                          "tokenizer.bin, a GGUF or vocab.json + merges.txt): give a tokenizer.json", tokenizer);
    return 0;
}

static int write_all(const char *tmp, const attn_gpt2_train *m, attn_adamw *o, const attn_train_state *s,
                     const char *tokenizer) {
    char p[JOIN_CAP];
    snprintf(p, sizeof p, "%s/tokenizer.json", tmp);
    if (attn_gpt2_train_save(m, tmp) || write_moments(tmp, m, o)) return -1;
    if (tokenizer && attn_checkpoint_copy_file(tokenizer, p)) return -1;
    return write_state_json(tmp, s, tokenizer != NULL);
}

/* 0 when dir is missing or holds only files the new checkpoint in tmp also holds (or, with
 * names, files among those n): replacing it loses nothing but the old versions of those files.
 * A folder of the user's (another file, a subfolder), or a checkpoint with parts the new one
 * lacks (a training run's optimizer state under `attn average -o`), is refused before anything
 * moves. */
static int replaceable(const char *dir, const char *tmp, const char *const *names, int n) {
    DIR *d = opendir(dir);
    if (!d) return errno == ENOENT ? 0 : attn_error("%s: cannot open: %s", dir, strerror(errno));
    struct dirent *e;
    char p[PATH_CAP], q[PATH_CAP];
    int rc = 0;
    while (rc == 0 && (e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        struct stat st;
        bool kept = false;
        for (int i = 0; names && i < n; i++) kept = kept || !strcmp(e->d_name, names[i]);
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        snprintf(q, sizeof q, "%s/%s", tmp, e->d_name);
        if (!names) kept = access(q, F_OK) == 0;
        if (lstat(p, &st) != 0 || !S_ISREG(st.st_mode) || !kept)
            rc = attn_error("%s holds '%s', which the new checkpoint would not keep: write to another folder, or "
                            "move it away first", dir, e->d_name);
    }
    closedir(d);
    return rc;
}

/* The swap renames folders: on a symbolic link it would put the new checkpoint in place of
 * the link and empty the folder it points to (then fail to remove the link as a folder). */
static int not_a_link(const char *dir) {
    struct stat st;
    char target[PATH_CAP];
    if (lstat(dir, &st) != 0 || !S_ISLNK(st.st_mode)) return 0;
    ssize_t n = readlink(dir, target, sizeof target - 1);
    target[n > 0 ? n : 0] = 0;
    return attn_error("%s is a symbolic link (to %s): checkpoints are swapped in whole, so give the folder itself",
                      dir, target);
}

int attn_checkpoint_check_dir(const char *dir_in, const char *const *names, int n) {
    char dir[PATH_CAP - 32], parent[PATH_CAP], old[PATH_CAP];
    struct stat st;
    if (trim_dir(dir_in, dir, sizeof dir)) return -1;
    parent_of(dir, parent, sizeof parent);
    snprintf(old, sizeof old, "%s.old", dir);
    if (stat(parent, &st) != 0 || !S_ISDIR(st.st_mode))
        return attn_error("%s: cannot be created: %s is not a folder", dir, parent);
    if (not_a_link(dir)) return -1;
    if (stat(dir, &st) == 0 && !S_ISDIR(st.st_mode)) return attn_error("%s exists and is not a folder", dir);
    return replaceable(dir, NULL, names, n) || replaceable(old, NULL, names, n) ? -1 : 0;
}

int attn_checkpoint_check_out(const char *dir) {
    static const char *const files[] = {"config.json", "model.safetensors", "tokenizer.json", "train_state.json",
                                        "train_state.safetensors"};
    return attn_checkpoint_check_dir(dir, files, sizeof files / sizeof *files);
}

/* Swaps the complete folder tmp in for dir; the old one survives as dir.old until the new
 * one is in place, so a crash at any point leaves one complete checkpoint. */
static int publish(const char *tmp, const char *dir) {
    char old[PATH_CAP], parent[PATH_CAP];
    snprintf(old, sizeof old, "%s.old", dir);
    parent_of(dir, parent, sizeof parent);
    if (replaceable(dir, tmp, NULL, 0) || replaceable(old, tmp, NULL, 0) || attn_checkpoint_remove_dir(old)) return -1;
    bool had = exists(dir);
    if (had && rename(dir, old) != 0) return attn_error("%s: cannot move aside to %s: %s", dir, old, strerror(errno));
    if (rename(tmp, dir) != 0) {
        int err = errno;
        if (had) rename(old, dir);
        return attn_error("%s: cannot rename %s into place: %s", dir, tmp, strerror(err));
    }
    if (fsync_path(parent)) return -1;
    if (had && attn_checkpoint_remove_dir(old)) return -1;
    return 0;
}

int attn_checkpoint_save_with(const char *dir_in, attn_checkpoint_writer write, void *ctx) {
    char tmp[PATH_CAP], dir[PATH_CAP - 32];
    if (trim_dir(dir_in, dir, sizeof dir) || not_a_link(dir)) return -1;
    snprintf(tmp, sizeof tmp, "%s.tmp-XXXXXX", dir);
    if (!mkdtemp(tmp)) return attn_error("%s: cannot create a temporary folder beside it: %s", dir, strerror(errno));
    chmod(tmp, 0755);
    if (write(tmp, ctx) || fsync_path(tmp) || publish(tmp, dir)) {
        char why[1024];
        snprintf(why, sizeof why, "%s", attn_last_error());
        attn_checkpoint_remove_dir(tmp);
        return attn_error("saving checkpoint %s failed (the previous checkpoint is intact): %s", dir, why);
    }
    return 0;
}

typedef struct {
    const attn_gpt2_train *m;
    attn_adamw *o;
    const attn_train_state *s;
    const char *tokenizer;
} gpt2_checkpoint;

static int write_gpt2(const char *tmp, void *ctx) {
    const gpt2_checkpoint *c = ctx;
    return write_all(tmp, c->m, c->o, c->s, c->tokenizer);
}

int attn_checkpoint_save(const char *dir, const attn_gpt2_train *m, attn_adamw *o, const attn_train_state *s,
                         const char *tokenizer) {
    gpt2_checkpoint c = {m, o, s, tokenizer};
    return attn_checkpoint_save_with(dir, write_gpt2, &c);
}

/* ---- recovery and loading ---- */

static int remove_temps(const char *dir) {
    char parent[PATH_CAP], prefix[PATH_CAP], p[PATH_CAP * 2];
    parent_of(dir, parent, sizeof parent);
    const char *base = strrchr(dir, '/') ? strrchr(dir, '/') + 1 : dir;
    snprintf(prefix, sizeof prefix, "%s.tmp-", base);
    DIR *d = opendir(parent);
    if (!d) return 0;
    struct dirent *e;
    int rc = 0;
    while ((e = readdir(d)) && rc == 0) {
        if (strncmp(e->d_name, prefix, strlen(prefix)) != 0) continue;
        snprintf(p, sizeof p, "%s/%s", parent, e->d_name);
        rc = attn_checkpoint_remove_dir(p);
    }
    closedir(d);
    return rc;
}

int attn_checkpoint_recover(const char *dir_in) {
    char old[PATH_CAP], dir[PATH_CAP - 32];
    if (trim_dir(dir_in, dir, sizeof dir)) return -1;
    snprintf(old, sizeof old, "%s.old", dir);
    if (exists(old)) {
        if (!exists(dir)) {
            if (rename(old, dir) != 0) return attn_error("%s: cannot restore from %s: %s", dir, old, strerror(errno));
        } else if (attn_checkpoint_remove_dir(old)) return -1;
    }
    return remove_temps(dir);
}

int attn_checkpoint_load(const char *dir, int64_t B, int64_t T, const attn_adamw_config *ac, attn_gpt2_train **m,
                         attn_adamw **o) {
    *m = attn_gpt2_train_load(dir, B, T);
    *o = NULL;
    if (!*m) return -1;
    *o = attn_adamw_new(attn_gpt2_train_numel(*m), ac);
    if (*o && read_moments(dir, *m, *o) == 0) return 0;
    attn_adamw_free(*o), attn_gpt2_train_free(*m);
    *o = NULL, *m = NULL;
    return -1;
}
