/* test_batch.c - several sequences in one model (attn_model_forward_batch, continuous
 * batching) against each sequence run alone. For GPT-2 and LLaMA fixtures (every SIMD set,
 * 1 and 2 threads), llama.cpp's tiny LLaMA in every GGUF quant type (../shared/data, when
 * present) and SmolLM2 ($ATTN_SMOLLM2_GGUF, when set): sequences with different prompt
 * lengths are prefilled and decoded in mixed batches, in shuffled orders and chunk sizes,
 * batches larger than the prefill chunk included; every item's logits must equal those of
 * its sequence run alone in a second model, within 1e-4 of the row's largest |logit| (rows
 * are summed in other orders when stacked; a single-item batch takes attn_model_forward's
 * own path and must agree bit for bit). Some prompt chunks ask for every row's logits (a
 * prompt being scored) among items that want only their last row's. Also: truncating and freeing a sequence and reusing
 * it, sequence 0 shared with attn_model_forward, every validation error (-1, a message, and
 * nothing changed: positions, caches, logits), and the cache costing address space, not RSS. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "core/common.h"
#include "core/cpu.h"
#include "core/gemm.h"
#include "core/quant_matmul.h"
#include "core/threadpool.h"
#include "model/model.h"
#include "test.h"

/* Rows stacked in a batch are summed in other orders than alone: 1e-4 of the largest logit.
 * Quantized weights with the integer dot products (core/quant_matmul.h) also quantize the
 * activations, and a matmul of up to 16 rows takes that path while a larger one takes the
 * exact GEMM, so a row's result depends on its batch: 1e-3 there (the 8-bit-plus-residual
 * activations are good to ~2^-15 relative; measured worst 2.9e-4). */
static double TOL = 1e-4;
/* An f16 KV cache rounds each key and value to 2^-11 of itself, so a row's inputs that differ
 * in the last bits alone and batched can round apart: the defaults' tolerances cover it. The
 * exact runs take an f32 cache. */
static bool f32_cache;
#define MAX_SEQ 8

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static uint32_t next_u32(void) {
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return (uint32_t)(rng >> 16);
}
static int64_t below(int64_t n) { return (int64_t)(next_u32() % (uint32_t)n); }

/* max |got - want| over the row, relative to the row's largest |logit| (at least 1). */
static double rel_err(const float *got, const float *want, int64_t V) {
    double worst = 0, mag = 1;
    for (int64_t v = 0; v < V; v++) {
        double d = fabs((double)got[v] - want[v]);
        if (d > worst || d != d) worst = d != d ? INFINITY : d;
        mag = fmax(mag, fabs(want[v]));
    }
    return worst / mag;
}

/* The sequences of one scenario: tokens, how many are prompt, and their logits alone. */
typedef struct {
    int n;
    int64_t len[MAX_SEQ], prompt[MAX_SEQ];
    int32_t *toks[MAX_SEQ];
    float *ref[MAX_SEQ]; /* [len][V] */
} seq_set;

static int64_t vocab(attn_model *m) { return attn_model_get_info(m)->vocab_size; }

/* Logits at every position of toks[0:n], run alone on sequence 0 of a fresh cache. */
static float *alone(attn_model *ref, const int32_t *toks, int64_t n) {
    float *out = malloc((size_t)(n * vocab(ref)) * sizeof(float));
    attn_model_reset(ref);
    CHECK(attn_model_forward(ref, toks, n, out, true) == 0, "reference forward: %s", attn_last_error());
    return out;
}

static void make_set(seq_set *s, attn_model *ref, int n, const int64_t *prompt, const int64_t *len) {
    s->n = n;
    for (int i = 0; i < n; i++) {
        s->prompt[i] = prompt[i], s->len[i] = len[i];
        s->toks[i] = malloc((size_t)len[i] * sizeof(int32_t));
        for (int64_t t = 0; t < len[i]; t++) s->toks[i][t] = (int32_t)below(vocab(ref));
        s->ref[i] = alone(ref, s->toks[i], len[i]);
    }
}

static void free_set(seq_set *s) {
    for (int i = 0; i < s->n; i++) free(s->toks[i]), free(s->ref[i]);
}

/* Feeds every sequence to its end in batches: each step takes a random subset of the
 * unfinished sequences in random order; one in a prompt gets a chunk (its whole prompt when
 * whole_prompts), one past it a single token; the first chunk and a third of the others ask
 * for all their rows' logits. Returns the worst error against the logits alone; `out` is
 * MAX_SEQ rows of logits. */
static double run_batches(attn_model *m, const seq_set *s, bool whole_prompts, float *out, const char *what) {
    int64_t V = vocab(m), longest = 0, n_all = 0;
    double worst = 0;
    for (int i = 0; i < s->n; i++) longest = ATTN_MAX(longest, s->prompt[i]);
    float *rows = malloc((size_t)(s->n * longest * V) * sizeof(float)); /* the all-rows items' */
    CHECK(attn_model_set_sequences(m, s->n, 0) == 0, "%s: %s", what, attn_last_error());
    for (int step = 0;; step++) {
        attn_batch_item items[MAX_SEQ];
        int order[MAX_SEQ], n_items = 0;
        for (int i = 0; i < s->n; i++) order[i] = i;
        for (int i = s->n - 1; i > 0; i--) {
            int j = (int)below(i + 1), t = order[i];
            order[i] = order[j], order[j] = t;
        }
        for (int k = 0; k < s->n; k++) {
            int q = order[k];
            int64_t pos = attn_model_seq_n_past(m, q);
            /* the first step takes every sequence (whole prompts: more rows than one pass holds) */
            if (pos == s->len[q] || (step > 0 && n_items > 0 && below(4) == 0)) continue;
            int64_t n = pos >= s->prompt[q] ? 1 : whole_prompts ? s->prompt[q] - pos : 1 + below(s->prompt[q] - pos);
            bool all = n > 1 && (n_all == 0 || below(3) == 0);
            float *logits = all               ? rows + (int64_t)n_items * longest * V
                            : below(8) == 0 ? NULL
                                            : out + (int64_t)n_items * V;
            items[n_items++] = (attn_batch_item){.seq = q, .tokens = s->toks[q] + pos, .n = n, .logits = logits,
                                                 .all_logits = all};
            n_all += all;
        }
        if (n_items == 0) break;
        int rc = attn_model_forward_batch(m, items, n_items);
        CHECK(rc == 0, "%s step %d: %s", what, step, attn_last_error());
        if (rc != 0) return INFINITY;
        for (int i = 0; i < n_items; i++) {
            int64_t end = attn_model_seq_n_past(m, items[i].seq);
            CHECK(end == items[i].tokens - s->toks[items[i].seq] + items[i].n, "%s: position of sequence %d",
                  what, items[i].seq);
            for (int64_t r = items[i].all_logits ? 0 : items[i].n - 1; items[i].logits && r < items[i].n; r++) {
                const float *got = items[i].logits + (items[i].all_logits ? r * V : 0);
                worst = fmax(worst, rel_err(got, s->ref[items[i].seq] + (end - items[i].n + r) * V, V));
            }
        }
    }
    CHECK(worst <= TOL, "%s: batched logits differ from the sequences alone by %.3g of the largest", what, worst);
    CHECK(n_all > 0 || longest < 2, "%s: no chunk asked for all its rows' logits", what);
    free(rows);
    return worst;
}

/* A single-item batch and attn_model_forward (sequence 0) run the same code: equal bits. */
static void check_single_item_exact(attn_model *m, const seq_set *s, float *out, const char *what) {
    int64_t V = vocab(m), n = s->prompt[0];
    float *a = out, *b = out + V;
    CHECK(attn_model_set_sequences(m, 3, 0) == 0, "%s", attn_last_error());
    CHECK(attn_model_forward(m, s->toks[0], n, a, false) == 0, "%s", attn_last_error());
    attn_batch_item it = {.seq = 2, .tokens = s->toks[0], .n = n, .logits = b};
    CHECK(attn_model_forward_batch(m, &it, 1) == 0, "%s", attn_last_error());
    CHECK(memcmp(a, b, (size_t)V * sizeof(float)) == 0, "%s: single-item prefill differs from forward", what);
    CHECK(attn_model_forward(m, s->toks[0] + n, 1, a, false) == 0, "%s", attn_last_error());
    it.tokens = s->toks[0] + n, it.n = 1;
    CHECK(attn_model_forward_batch(m, &it, 1) == 0, "%s", attn_last_error());
    CHECK(memcmp(a, b, (size_t)V * sizeof(float)) == 0, "%s: single-item decode differs from forward", what);
    CHECK(attn_model_n_past(m) == n + 1 && attn_model_seq_n_past(m, 0) == n + 1 &&
              attn_model_seq_n_past(m, 2) == n + 1 && attn_model_seq_n_past(m, 1) == 0,
          "%s: positions after single items", what);
}

/* ---- validation: -1, a message, and nothing changed -------------------------------- */

typedef struct {
    int64_t pos[MAX_SEQ];
} positions;

static positions save_positions(attn_model *m) {
    positions p = {{0}};
    for (int i = 0; i < attn_model_n_sequences(m) && i < MAX_SEQ; i++) p.pos[i] = attn_model_seq_n_past(m, i);
    return p;
}

static void expect_batch_error(attn_model *m, const attn_batch_item *items, int n_items, const char *words,
                               float *out, const char *what) {
    int64_t V = vocab(m);
    positions before = save_positions(m);
    for (int64_t i = 0; i < 2 * V; i++) out[i] = -7.0f;
    attn_error("none");
    CHECK(attn_model_forward_batch(m, items, n_items) == -1, "%s: accepted", what);
    CHECK(strstr(attn_last_error(), words) != NULL, "%s: error '%s' lacks '%s'", what, attn_last_error(), words);
    positions after = save_positions(m);
    CHECK(memcmp(&before, &after, sizeof before) == 0, "%s: positions changed", what);
    int touched = 0;
    for (int64_t i = 0; i < 2 * V; i++) touched += out[i] != -7.0f;
    CHECK(touched == 0, "%s: %d logits written", what, touched);
}

/* Every bad batch and bad call fails alone: item 0 is always a good one, sequence 1 holds
 * positions (the caller then checks the caches through the next logits). */
static void check_errors(attn_model *m, float *out, const char *what) {
    int64_t V = vocab(m), ctx = attn_model_get_info(m)->n_ctx;
    int n_seq = attn_model_n_sequences(m);
    int32_t ok[3] = {1, 2, 3}, bad_lo[2] = {4, -1}, bad_hi[2] = {5, (int32_t)V};
    int32_t *many = calloc((size_t)ctx, sizeof(int32_t));
    const attn_batch_item good[2] = {{.seq = 0, .tokens = ok, .n = 3, .logits = out},
                                     {.seq = 1, .tokens = ok, .n = 3, .logits = out + V}};
    struct {
        const char *label, *words;
        int seq;
        const int32_t *tokens;
        int64_t n;
    } cases[] = {
        {"sequence past the last", "outside [0, ", n_seq, ok, 3},
        {"negative sequence", "outside [0, ", -1, ok, 3},
        {"duplicate sequence", "both name sequence 0", 0, ok, 3},
        {"empty item", "at least one token", 1, ok, 0},
        {"no tokens", "at least one token", 1, NULL, 3},
        {"negative id", "token id -1 at index 1 of batch item 1", 1, bad_lo, 2},
        {"id past the vocabulary", "outside the vocabulary", 1, bad_hi, 2},
        {"context overflow", "context overflow", 1, many, ctx},
    };
    char w[300];
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        attn_batch_item items[2] = {good[0], good[1]};
        items[1].seq = cases[i].seq, items[1].tokens = cases[i].tokens, items[1].n = cases[i].n;
        snprintf(w, sizeof w, "%s: %s", what, cases[i].label);
        expect_batch_error(m, items, 2, cases[i].words, out, w);
    }
    expect_batch_error(m, good, 0, "at least one item", out, "empty batch");
    positions before = save_positions(m);
    CHECK(attn_model_set_sequences(m, 0, 0) == -1 && strstr(attn_last_error(), "at least one sequence"),
          "%s: zero sequences: %s", what, attn_last_error());
    CHECK(attn_model_set_sequences(m, 2, ctx + 1) == -1 && strstr(attn_last_error(), "context"),
          "%s: context past the model's: %s", what, attn_last_error());
    CHECK(attn_model_set_sequences(m, 2, -1) == -1, "%s: negative context accepted", what);
    CHECK(attn_model_seq_truncate(m, n_seq, 0) == -1 && strstr(attn_last_error(), "outside"),
          "%s: truncate of a missing sequence: %s", what, attn_last_error());
    CHECK(attn_model_seq_truncate(m, 1, before.pos[1] + 1) == -1 && strstr(attn_last_error(), "cannot truncate"),
          "%s: truncate past the end: %s", what, attn_last_error());
    CHECK(attn_model_n_sequences(m) == n_seq, "%s: sequence count changed", what);
    positions after = save_positions(m);
    CHECK(memcmp(&before, &after, sizeof before) == 0, "%s: positions changed by failed calls", what);
    free(many);
}

/* Sequence q cut back to `keep` positions, then a different continuation; sequence f freed
 * (truncated to 0) and given a new prompt: both as if run alone. Then every error case,
 * and one more token each, which sees any cache the failed calls touched. */
static void check_truncate_reuse(attn_model *m, attn_model *ref, const seq_set *s, float *out, const char *what) {
    int64_t V = vocab(m);
    enum { ALT = 6, FRESH = 9 };
    int q = 1, f = 2;
    int64_t keep = s->prompt[q] / 2 + 1;
    CHECK(attn_model_seq_truncate(m, q, keep) == 0, "%s: %s", what, attn_last_error());
    CHECK(attn_model_seq_truncate(m, f, 0) == 0, "%s: %s", what, attn_last_error());
    CHECK(attn_model_seq_n_past(m, q) == keep && attn_model_seq_n_past(m, f) == 0, "%s: truncated positions", what);
    /* q: its first `keep` tokens, ALT new ones and one more; f: FRESH new ones and one more */
    int32_t *q_toks = malloc((size_t)(keep + ALT + 1) * sizeof(int32_t)), f_toks[FRESH + 1];
    memcpy(q_toks, s->toks[q], (size_t)keep * sizeof(int32_t));
    for (int i = 0; i <= ALT; i++) q_toks[keep + i] = (int32_t)below(V);
    for (int i = 0; i <= FRESH; i++) f_toks[i] = (int32_t)below(V);
    float *ref_q = alone(ref, q_toks, keep + ALT + 1), *ref_f = alone(ref, f_toks, FRESH + 1);

    attn_batch_item items[2] = {{.seq = f, .tokens = f_toks, .n = FRESH, .logits = out},
                                {.seq = q, .tokens = q_toks + keep, .n = ALT, .logits = out + V}};
    CHECK(attn_model_forward_batch(m, items, 2) == 0, "%s: %s", what, attn_last_error());
    double err_q = rel_err(out + V, ref_q + (keep + ALT - 1) * V, V), err_f = rel_err(out, ref_f + (FRESH - 1) * V, V);
    CHECK(err_q <= TOL, "%s: truncated sequence's new continuation off by %.3g", what, err_q);
    CHECK(err_f <= TOL, "%s: freed and reused sequence off by %.3g", what, err_f);

    check_errors(m, out, what);
    items[0] = (attn_batch_item){.seq = q, .tokens = q_toks + keep + ALT, .n = 1, .logits = out};
    items[1] = (attn_batch_item){.seq = f, .tokens = f_toks + FRESH, .n = 1, .logits = out + V};
    CHECK(attn_model_forward_batch(m, items, 2) == 0, "%s: %s", what, attn_last_error());
    err_q = rel_err(out, ref_q + (keep + ALT) * V, V), err_f = rel_err(out + V, ref_f + FRESH * V, V);
    CHECK(err_q <= TOL && err_f <= TOL, "%s: after the failed calls, logits off by %.3g and %.3g", what, err_q, err_f);
    free(q_toks), free(ref_q), free(ref_f);
}

/* Address space, not memory: many sequences reserved, little RSS. */
static long rss_kb(void) {
    long pages = 0, rss = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f && fscanf(f, "%ld %ld", &pages, &rss) != 2) rss = 0;
    if (f) fclose(f);
    return rss * (sysconf(_SC_PAGESIZE) / 1024);
}

static void check_rss(attn_model *m, const char *what) {
    const attn_model_info *info = attn_model_get_info(m);
    long before = rss_kb();
    int n_seq = 256;
    CHECK(attn_model_set_sequences(m, n_seq, 0) == 0, "%s: %s", what, attn_last_error());
    int32_t tok = 1;
    attn_batch_item it = {.seq = n_seq - 1, .tokens = &tok, .n = 1, .logits = NULL};
    CHECK(attn_model_forward_batch(m, &it, 1) == 0, "%s: %s", what, attn_last_error());
    long grew = rss_kb() - before;
    /* the reservation: layers x sequences x context x (keys + values), at least 4 bytes each */
    long reserved = (long)(info->n_layer * n_seq * info->n_ctx * 2 * info->n_embd / 256);
    CHECK(grew < reserved / 4, "%s: RSS grew by %ld kB for a %ld kB reservation", what, grew, reserved);
}

/* ---- per model ---------------------------------------------------------------------- */

typedef struct {
    const char *path;
    int n;
    int64_t prompt[MAX_SEQ], len[MAX_SEQ];
    bool all_isas; /* every SIMD set and 1-2 threads (small models) */
} scenario;

static void run_model(const scenario *sc) {
    attn_model *m = attn_model_load(sc->path), *ref = attn_model_load(sc->path);
    CHECK(m && ref, "load %s: %s", sc->path, attn_last_error());
    if (m && ref && f32_cache)
        CHECK(attn_model_set_kv_type(m, ATTN_F32) == 0 && attn_model_set_kv_type(ref, ATTN_F32) == 0, "%s", sc->path);
    if (!m || !ref) {
        attn_model_free(m), attn_model_free(ref);
        return;
    }
    int64_t V = vocab(m);
    float *out = malloc((size_t)(MAX_SEQ * V) * sizeof(float));
    seq_set s;
    make_set(&s, ref, sc->n, sc->prompt, sc->len);
    double worst = 0;
    for (int isa = 0; isa < ATTN_ISA_COUNT; isa++) {
        if (!attn_isa_supported((attn_isa)isa) || (!sc->all_isas && isa != (int)attn_isa_best())) continue;
        attn_isa_set((attn_isa)isa);
        for (int threads = sc->all_isas ? 1 : 2; threads <= 2; threads++) {
            attn_threads_init(threads);
            char what[300];
            snprintf(what, sizeof what, "%s %s %dt", sc->path, attn_isa_name((attn_isa)isa), threads);
            worst = fmax(worst, run_batches(m, &s, true, out, what));
            worst = fmax(worst, run_batches(m, &s, false, out, what));
        }
    }
    attn_isa_set(attn_isa_best());
    attn_threads_init(2);
    check_single_item_exact(m, &s, out, sc->path);
    run_batches(m, &s, false, out, sc->path);
    check_truncate_reuse(m, ref, &s, out, sc->path);
    printf("%-60s %d sequences: max error %.2e of the largest logit\n", sc->path, sc->n, worst);
    free_set(&s);
    free(out);
    attn_model_free(m), attn_model_free(ref);
}

/* Decoding lanes (llama.c: each thread runs whole passes for its share of the sequences)
 * against the step split product by product: the same bits, for every lane split of
 * 6-8 single-row items at 2 threads, logits wanted or not. */
static void check_lanes_exact(const char *path) {
    attn_model *m = attn_model_load(path);
    CHECK(m != NULL, "load %s: %s", path, attn_last_error());
    if (m && !attn_model_get_info(m)->quantized) { /* lanes serve quantized weights only: nothing to compare */
        attn_model_free(m);
        return;
    }
    if (!m) return;
    attn_threads_init(2);
    int64_t V = vocab(m);
    float *a = malloc((size_t)(MAX_SEQ * V) * sizeof(float)), *b = malloc((size_t)(MAX_SEQ * V) * sizeof(float));
    CHECK(attn_model_set_sequences(m, MAX_SEQ, 0) == 0, "%s", attn_last_error());
    int32_t toks[MAX_SEQ][8];
    for (int s = 0; s < MAX_SEQ; s++) {
        for (int t = 0; t < 8; t++) toks[s][t] = (int32_t)below(V);
        attn_batch_item it = {s, toks[s], 3 + s % 4, NULL, false}; /* prompts of 3-6 tokens */
        CHECK(attn_model_forward_batch(m, &it, 1) == 0, "%s: %s", path, attn_last_error());
    }
    for (int n = 6; n <= MAX_SEQ; n++) {
        attn_batch_item items[MAX_SEQ];
        for (int k = 0; k < 2; k++) {
            float *out = k ? b : a;
            memset(out, 0, (size_t)(MAX_SEQ * V) * sizeof(float));
            attn_llama_set_lanes(k == 1);
            for (int i = 0; i < n; i++) { /* sequences in reverse, the second without logits */
                int s = MAX_SEQ - 1 - i;
                items[i] = (attn_batch_item){s, &toks[s][7], 1, i == 1 ? NULL : out + (int64_t)i * V, false};
            }
            CHECK(attn_model_forward_batch(m, items, n) == 0, "%s: %s", path, attn_last_error());
            for (int i = 0; i < n; i++) {
                int s = MAX_SEQ - 1 - i;
                CHECK(attn_model_seq_n_past(m, s) == 3 + s % 4 + 1, "%s: position of sequence %d", path, s);
                attn_model_seq_truncate(m, s, 3 + s % 4);
            }
        }
        CHECK(memcmp(a, b, (size_t)(n * V) * sizeof(float)) == 0, "%s: %d items in lanes differ from the split step",
              path, n);
    }
    attn_llama_set_lanes(true);
    free(a), free(b);
    attn_model_free(m);
}

/* A quantized model twice: the exact f32 dot products (batching alone may move a logit by
 * 1e-4), then the default integer ones. */
/* Exact products first (the batching logic to 1e-4), then the defaults: rows decoded with
 * integer kernels on quantized activations, prompts with bf16 operands where the CPU has
 * AMX or AVX512-BF16, or with one-byte activations on K-quants (attn_gemm_precision), so a
 * sequence alone and in a batch (other row counts, other kernels) differ by those roundings
 * (up to ~2% of the largest logit on this random model with bf16, ~6% with one byte; a
 * batching error moves logits by their own size). */
static void run_quantized(const scenario *sc) {
    attn_qdot_mode mode = attn_qdot_get_mode();
    attn_matmul_precision precision = attn_gemm_precision();
    attn_qdot_set_mode(ATTN_QDOT_F32), attn_gemm_set_precision(ATTN_MATMUL_F32), TOL = 1e-4, f32_cache = true;
    run_model(sc);
    attn_qdot_set_mode(mode), attn_gemm_set_precision(precision), f32_cache = false;
    TOL = attn_gemm_int8_prompts(true) ? 8e-2 /* one-byte prompts on K-quants */
        : precision != ATTN_MATMUL_F32 && attn_gemm_bf16_available() ? 3e-2 : mode == ATTN_QDOT_F32 ? 1e-4 : 1e-3;
    run_model(sc);
    TOL = 1e-4;
}

int main(void) {
    /* context 64, prefill chunk 64: the first whole-prompt batch (116 rows) takes two passes */
    const scenario fixtures[] = {
        {"tests/fixtures/gpt2/tiny-f32", 5, {37, 5, 50, 1, 23}, {45, 12, 56, 9, 30}, true},
        {"tests/fixtures/gpt2/tiny-bf16", 4, {20, 3, 31, 9}, {26, 12, 40, 14}, false},
        {"tests/fixtures/llama/llama-gqa-tied-f32", 5, {37, 5, 50, 1, 23}, {45, 12, 56, 9, 30}, true},
        {"tests/fixtures/llama/qwen2-bias-f32", 4, {20, 3, 31, 9}, {26, 12, 40, 14}, false},
        {"tests/fixtures/llama/llama3-rope-mqa-f16", 4, {20, 3, 31, 9}, {26, 12, 40, 14}, false},
        {"tests/fixtures/llama/llama-mha-untied-bias-bf16", 4, {20, 3, 31, 9}, {26, 12, 40, 14}, false},
    };
    for (size_t i = 0; i < sizeof fixtures / sizeof *fixtures; i++) run_model(&fixtures[i]);

    attn_model *g = attn_model_load("tests/fixtures/gpt2/tiny-f32");
    CHECK(g != NULL, "%s", attn_last_error());
    if (g) check_rss(g, "gpt2 tiny-f32"), attn_model_free(g);

    const char *data = test_data_dir();
    static const char *const qtypes[] = {"q8_0", "q4_0", "q4_1", "q5_0", "q5_1", "q2_k",
                                         "q3_k", "q4_k", "q5_k", "q6_k", "q4_k_m-mix", "f16"};
    if (!data) printf("SKIP part: no ../shared/data, so no quantized tiny LLaMA\n");
    for (size_t i = 0; data && i < sizeof qtypes / sizeof *qtypes; i++) {
        char path[4200];
        snprintf(path, sizeof path, "%.4000s/llamacpp-ref/tiny-llama-%s.gguf", data, qtypes[i]);
        scenario sc = {path, 5, {40, 5, 17, 1, 23}, {48, 12, 30, 9, 30}, false};
        run_quantized(&sc);
        check_lanes_exact(path);
    }

    const char *smol = getenv("ATTN_SMOLLM2_GGUF");
    if (!smol || !*smol) printf("SKIP part: $ATTN_SMOLLM2_GGUF is not set, so no SmolLM2\n");
    else {
        scenario sc = {smol, 4, {11, 3, 17, 1}, {16, 9, 21, 7}, false};
        run_quantized(&sc);
        check_lanes_exact(smol);
    }
    return test_finish("test_batch");
}
