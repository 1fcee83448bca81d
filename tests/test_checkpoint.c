/* test_checkpoint.c - training checkpoints and the training loop at the library level:
 * save/load round trip (weights, AdamW moments and step, train state), recovery from a
 * crash mid-swap (DIR.old, DIR.tmp-*), corrupt and mismatched checkpoints as errors, a
 * failed save (file size limit, as a full disk) leaving the previous checkpoint intact,
 * bit-identical losses for 20 straight steps vs 10 + resume + 10, and bad data (a corpus
 * smaller than one batch, token ids beyond the vocabulary). Everything runs on a tiny
 * model and a synthetic shard so the program takes a second or two. */
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#include "core/common.h"
#include "core/threadpool.h"
#include "generate/sampler.h"
#include "train/checkpoint.h"
#include "train/data.h"
#include "train/loop.h"
#include "test.h"

static char root[256];

static void path(char *out, size_t cap, const char *name) { snprintf(out, cap, "%s/%s", root, name); }

static bool exists(const char *p) {
    struct stat st;
    return stat(p, &st) == 0;
}

/* Text-like ids: a repeating pattern with noise, so a model can learn something. */
static void make_shards(const char *dir, uint64_t n, uint32_t vocab, uint64_t tok_id) {
    mkdir(dir, 0755);
    int32_t *ids = malloc(n * sizeof *ids);
    attn_rng r;
    attn_rng_seed(&r, 3);
    for (uint64_t i = 0; i < n; i++) ids[i] = (int32_t)((i % 7) * 2 + (attn_rng_uniform(&r) < 0.2f)) % (int32_t)vocab;
    char p[512];
    snprintf(p, sizeof p, "%s/train.bin", dir);
    CHECK(attn_shard_write_ids(p, ids, n, vocab, tok_id, -1) == 0, "%s", attn_last_error());
    snprintf(p, sizeof p, "%s/val.bin", dir);
    CHECK(attn_shard_write_ids(p, ids, n / 4, vocab, tok_id, -1) == 0, "%s", attn_last_error());
    free(ids);
}

static void tiny_opts(attn_train_opts *o, const char *data, const char *out, const char *log) {
    attn_train_defaults(o);
    o->data_dir = data, o->out_dir = out, o->log_path = log;
    o->n_layer = 2, o->n_head = 2, o->n_embd = 16;
    o->hp.B = 2, o->hp.T = 16, o->hp.steps = 20, o->hp.warmup = 3, o->hp.dropout = 0.1f, o->hp.accum = 2;
    o->eval_every = 5, o->eval_batches = 2, o->save_every = 5;
}

/* The log without timings: what must be identical between runs. */
static char *log_losses(const char *p) {
    size_t n;
    char *s = attn_read_file(p, &n);
    if (!s) return NULL;
    char *w = s;
    for (char *line = strtok(s, "\n"); line; line = strtok(NULL, "\n")) {
        char *cut = strstr(line, ", \"tokens_per_s\"");
        if (cut) *cut = 0;
        size_t k = strlen(line);
        memmove(w, line, k);
        w += k, *w++ = '\n';
    }
    *w = 0;
    return s;
}

static bool same_file(const char *a, const char *b) {
    size_t na, nb;
    char *x = attn_read_file(a, &na), *y = attn_read_file(b, &nb);
    bool same = x && y && na == nb && memcmp(x, y, na) == 0;
    free(x), free(y);
    return same;
}

static void test_resume_bit_identical(const char *data) {
    char a[512], b[512], la[512], lb[512];
    path(a, sizeof a, "straight"), path(b, sizeof b, "split");
    path(la, sizeof la, "straight.jsonl"), path(lb, sizeof lb, "split.jsonl");
    attn_train_opts o;
    attn_train_result r;
    tiny_opts(&o, data, a, la);
    CHECK(attn_train_run(&o, &r) == 0, "straight run: %s", attn_last_error());
    CHECK(r.steps_done == 20, "%lld steps", (long long)r.steps_done);
    CHECK(r.last_loss < 2.9f, "the loss should fall below ln(20)=3.0: %g", r.last_loss);

    tiny_opts(&o, data, b, lb);
    o.stop_at = 10;
    CHECK(attn_train_run(&o, &r) == 0 && r.steps_done == 10, "first half: %s", attn_last_error());
    tiny_opts(&o, data, b, lb);
    o.resume = true, o.hp.steps = -1, o.hp.lr = 5.0f; /* the checkpoint's hyperparameters win */
    attn_threads_init(2);                              /* and the thread count does not matter */
    CHECK(attn_train_run(&o, &r) == 0 && r.steps_done == 20, "resume: %s", attn_last_error());
    attn_threads_init(1);
    char *x = log_losses(la), *y = log_losses(lb);
    CHECK(x && y && strcmp(x, y) == 0, "losses differ:\n%s\nvs\n%s", x, y);
    free(x), free(y);
    char f1[600], f2[600];
    snprintf(f1, sizeof f1, "%s/model.safetensors", a), snprintf(f2, sizeof f2, "%s/model.safetensors", b);
    CHECK(same_file(f1, f2), "final weights differ");
    snprintf(f1, sizeof f1, "%s/train_state.safetensors", a), snprintf(f2, sizeof f2, "%s/train_state.safetensors", b);
    CHECK(same_file(f1, f2), "final optimizer states differ");

    /* resuming a finished run does no steps; a fresh run into it is refused */
    CHECK(attn_train_run(&o, &r) == 0 && r.steps_done == 20, "resume at the end: %s", attn_last_error());
    tiny_opts(&o, data, b, NULL);
    CHECK(attn_train_run(&o, &r) != 0 && strstr(attn_last_error(), "--resume"), "%s", attn_last_error());
}

/* Save, then load into fresh objects: every float and counter must come back. */
static void test_round_trip(const char *dir) {
    attn_gpt2_config c;
    attn_gpt2_config_defaults(&c);
    c.n_layer = 1, c.n_head = 2, c.n_embd = 8, c.n_ctx = 8, c.n_inner = 0, c.vocab = 11;
    attn_gpt2_train *m = attn_gpt2_train_new(&c, 5, 1, 8);
    attn_adamw_config ac = attn_adamw_defaults();
    attn_adamw *o = attn_adamw_new(attn_gpt2_train_numel(m), &ac);
    int64_t n = attn_gpt2_train_numel(m);
    for (int64_t i = 0; i < n; i++) attn_adamw_m(o)[i] = (float)i * 0.5f, attn_adamw_v(o)[i] = (float)i;
    attn_adamw_set_steps(o, 7);
    attn_train_state s = {.step = 7, .dropout_seed = 0xFFFFFFFFFFFFFFFFull, .data_seed = 9, .data_batch = 14,
                          .tokenizer_id = 0x1234567890abcdefull, .vocab_size = 11, .train_tokens = 100,
                          .hp = {.B = 1, .T = 8, .accum = 1, .steps = 50, .lr = 3e-4f, .seed = 77, .beta2 = 0.95f}};
    CHECK(attn_checkpoint_save(dir, m, o, &s, NULL) == 0, "%s", attn_last_error());
    attn_gpt2_train *m2;
    attn_adamw *o2;
    attn_train_state s2;
    CHECK(attn_checkpoint_load(dir, 1, 8, &ac, &m2, &o2) == 0, "%s", attn_last_error());
    CHECK(attn_checkpoint_read_state(dir, &s2) == 0, "%s", attn_last_error());
    if (m2 && o2) {
        CHECK(!memcmp(attn_gpt2_train_data(m), attn_gpt2_train_data(m2), (size_t)n * 4), "weights differ");
        CHECK(!memcmp(attn_adamw_m(o), attn_adamw_m(o2), (size_t)n * 4), "m differs");
        CHECK(!memcmp(attn_adamw_v(o), attn_adamw_v(o2), (size_t)n * 4), "v differs");
        CHECK(attn_adamw_steps(o2) == 7, "adamw steps %lld", (long long)attn_adamw_steps(o2));
    }
    CHECK(s2.step == 7 && s2.dropout_seed == s.dropout_seed && s2.data_batch == 14 && s2.tokenizer_id == s.tokenizer_id,
          "state fields differ");
    CHECK(s2.hp.lr == s.hp.lr && s2.hp.beta2 == s.hp.beta2 && s2.hp.seed == 77 && s2.hp.steps == 50,
          "hyperparameters differ (floats must round-trip exactly)");
    attn_gpt2_train_free(m2), attn_adamw_free(o2);

    /* a save that hits the file size limit fails cleanly; the old checkpoint stays */
    float *w = attn_gpt2_train_data(m);
    float w0 = w[0];
    w[0] += 1.0f;
    struct rlimit old, small = {4096, 0};
    getrlimit(RLIMIT_FSIZE, &old);
    small.rlim_max = old.rlim_max;
    signal(SIGXFSZ, SIG_IGN);
    setrlimit(RLIMIT_FSIZE, &small);
    int rc = attn_checkpoint_save(dir, m, o, &s, NULL);
    setrlimit(RLIMIT_FSIZE, &old);
    CHECK(rc != 0 && strstr(attn_last_error(), "previous checkpoint is intact"), "save past the limit: %s",
          attn_last_error());
    CHECK(attn_checkpoint_load(dir, 1, 8, &ac, &m2, &o2) == 0, "after the failed save: %s", attn_last_error());
    if (m2) CHECK(attn_gpt2_train_data(m2)[0] == w0, "the failed save changed the checkpoint");
    attn_gpt2_train_free(m2), attn_adamw_free(o2);
    char leftovers[600];
    snprintf(leftovers, sizeof leftovers, "ls -d %s.tmp-* >/dev/null 2>&1", dir);
    CHECK(system(leftovers) != 0, "a temp folder was left behind");
    attn_gpt2_train_free(m), attn_adamw_free(o);
}

/* A crash between the two renames leaves DIR.old only; a crash while writing leaves DIR.tmp-*. */
static void test_recovery(const char *dir) {
    char old[600], tmp[600], cmd[1400];
    snprintf(old, sizeof old, "%s.old", dir), snprintf(tmp, sizeof tmp, "%s.tmp-abc123", dir);
    CHECK(rename(dir, old) == 0, "setup");
    mkdir(tmp, 0755);
    snprintf(cmd, sizeof cmd, "echo partial > %s/model.safetensors", tmp);
    CHECK(system(cmd) == 0, "setup");
    CHECK(attn_checkpoint_recover(dir) == 0, "%s", attn_last_error());
    CHECK(attn_checkpoint_exists(dir) && !exists(old) && !exists(tmp), "not recovered");
    snprintf(cmd, sizeof cmd, "cp -r %s %s", dir, old);
    CHECK(system(cmd) == 0, "setup");
    CHECK(attn_checkpoint_recover(dir) == 0 && !exists(old), "a stale DIR.old stays");
}

static void expect_load_error(const char *dir, const char *what, const char *needle) {
    attn_gpt2_train *m;
    attn_adamw *o;
    attn_adamw_config ac = attn_adamw_defaults();
    attn_train_state s;
    int rc = attn_checkpoint_read_state(dir, &s);
    if (rc == 0) rc = attn_checkpoint_load(dir, 1, 8, &ac, &m, &o);
    CHECK(rc != 0 && strstr(attn_last_error(), needle), "%s: wanted an error with '%s', got: %s", what, needle,
          rc ? attn_last_error() : "success");
    if (rc == 0) attn_gpt2_train_free(m), attn_adamw_free(o);
}

static void corrupt(const char *dir, const char *file, const char *shell) {
    char cmd[1400];
    snprintf(cmd, sizeof cmd, "cd %s && cp %s %s.bak && %s", dir, file, file, shell);
    CHECK(system(cmd) == 0, "%s", cmd);
}

static void restore(const char *dir, const char *file) {
    char cmd[1400];
    snprintf(cmd, sizeof cmd, "cd %s && mv %s.bak %s", dir, file, file);
    CHECK(system(cmd) == 0, "%s", cmd);
}

static void test_corruption(const char *dir) {
    corrupt(dir, "model.safetensors", "truncate -s 300 model.safetensors");
    expect_load_error(dir, "truncated weights", "model.safetensors");
    restore(dir, "model.safetensors");
    corrupt(dir, "train_state.safetensors", "truncate -s -100 train_state.safetensors");
    expect_load_error(dir, "truncated optimizer state", "train_state.safetensors");
    restore(dir, "train_state.safetensors");
    corrupt(dir, "train_state.json", "echo '{\"format\": ' > train_state.json");
    expect_load_error(dir, "torn json", "train_state.json");
    restore(dir, "train_state.json");
    corrupt(dir, "config.json", "sed -i 's/\"n_embd\": 8/\"n_embd\": 16/' config.json");
    expect_load_error(dir, "other shape", "model.safetensors");
    restore(dir, "config.json");
    attn_gpt2_train *m;
    attn_adamw *o;
    attn_adamw_config ac = attn_adamw_defaults();
    CHECK(attn_checkpoint_load(dir, 1, 8, &ac, &m, &o) == 0, "the restored checkpoint: %s", attn_last_error());
    attn_gpt2_train_free(m), attn_adamw_free(o);
}

static void test_mismatch(const char *data, const char *other_data) {
    char b[512];
    path(b, sizeof b, "split");
    attn_train_opts o;
    attn_train_result r;
    tiny_opts(&o, other_data, b, NULL);
    o.resume = true;
    CHECK(attn_train_run(&o, &r) != 0 && strstr(attn_last_error(), "another tokenizer"), "%s", attn_last_error());
    tiny_opts(&o, data, b, NULL);
    o.resume = true, o.n_layer = 3;
    CHECK(attn_train_run(&o, &r) != 0 && strstr(attn_last_error(), "model shape"), "%s", attn_last_error());
    path(b, sizeof b, "nothing-here");
    tiny_opts(&o, data, b, NULL);
    o.resume = true;
    CHECK(attn_train_run(&o, &r) != 0 && strstr(attn_last_error(), "no checkpoint"), "%s", attn_last_error());
}

static void test_bad_data(void) {
    char d[512], out[512], p[600];
    attn_train_opts o;
    attn_train_result r;
    path(d, sizeof d, "tiny"), path(out, sizeof out, "tiny-out");
    for (int n = 0; n <= 20; n += 20) { /* empty, then smaller than one batch */
        make_shards(d, (uint64_t)n, 20, 1);
        tiny_opts(&o, d, out, NULL);
        CHECK(attn_train_run(&o, &r) != 0 && strstr(attn_last_error(), "fewer than one batch"), "%d tokens: %s", n,
              attn_last_error());
    }
    /* ids the header's vocabulary does not have */
    uint16_t toks[200];
    for (int i = 0; i < 200; i++) toks[i] = (uint16_t)(i % 25);
    attn_shard_header h = {ATTN_SHARD_VERSION, 200, 2, 20, 1, -1};
    snprintf(p, sizeof p, "%s/train.bin", d);
    CHECK(attn_shard_write(p, &h, toks) == 0, "%s", attn_last_error());
    CHECK(attn_train_run(&o, &r) != 0 && strstr(attn_last_error(), "vocabulary"), "%s", attn_last_error());
    path(d, sizeof d, "missing");
    tiny_opts(&o, d, out, NULL);
    CHECK(attn_train_run(&o, &r) != 0 && strstr(attn_last_error(), "attn data prepare"), "%s", attn_last_error());
}

static void put_file(const char *dir, const char *name, const char *text) {
    char p[600];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "w");
    if (f) fputs(text, f), fclose(f);
}

static int write_one(const char *tmp, void *ctx) {
    (void)ctx;
    put_file(tmp, "model.safetensors", "new");
    return 0;
}

/* A file of the user's named `name` in `holder` (dir or its .old) makes a save into dir
 * refuse, naming it and leaving it; then the file goes. */
static void expect_kept(const char *dir, const char *holder, const char *name) {
    char p[600];
    snprintf(p, sizeof p, "%s/%s", holder, name);
    put_file(holder, name, "the user's");
    CHECK(attn_checkpoint_save_with(dir, write_one, NULL) != 0 && strstr(attn_last_error(), name),
          "%s in %s: %s", name, holder, attn_last_error());
    CHECK(exists(p), "%s survives", p);
    unlink(p);
}

/* The folder swap replaces a folder only when that loses nothing but old versions of the new
 * files: a file of the user's (in the folder or in its .old) makes it refuse, touching nothing. */
static void test_foreign_folder(void) {
    char dir[512], old[530];
    path(dir, sizeof dir, "mine");
    snprintf(old, sizeof old, "%s.old", dir);
    mkdir(dir, 0755);
    expect_kept(dir, dir, "notes.txt");
    put_file(dir, "model.safetensors", "old");
    CHECK(attn_checkpoint_save_with(dir, write_one, NULL) == 0, "an earlier save replaced: %s", attn_last_error());
    mkdir(old, 0755);
    expect_kept(dir, old, "keep.txt");
}

int main(void) {
    snprintf(root, sizeof root, "/tmp/attn_ckpt_XXXXXX");
    if (!mkdtemp(root)) TEST_SKIP("no temp dir");
    attn_threads_init(1);
    char data[512], other[512], ck[512];
    path(data, sizeof data, "data"), path(other, sizeof other, "other");
    path(ck, sizeof ck, "ck");
    make_shards(data, 4000, 20, 0xABCD);
    make_shards(other, 4000, 20, 0xBEEF);
    test_round_trip(ck);
    test_recovery(ck);
    test_corruption(ck);
    test_resume_bit_identical(data);
    test_mismatch(data, other);
    test_bad_data();
    test_foreign_folder();
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf %s", root);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", root);
    return test_finish("test_checkpoint");
}
