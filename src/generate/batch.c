/* batch.c - continuous batching (see batch.h).
 *
 * A slot's `tokens` is its whole sequence: the prompt, then each sampled token. `n_cached` of
 * them are in the model's cache; a step feeds tokens[n_cached..] (all of a decoding slot's one
 * new token, a chunk of a prefilling slot's prompt) and, once a slot's sequence is all cached,
 * samples the next token from the logits of its last one. Prefill and decode are thus the same
 * rule, and a finished slot's tokens tell which prefix its cache holds for the next request.
 *
 * A slot that scores its prompt feeds it in chunks of at most SCORE_ROWS tokens whose every
 * row's logits come back (attn_batch_item.all_logits): row p gives token p+1's logprob, and the
 * prompt's last row is the first sample's logits as usual. The slot keeps what it scored with
 * its cache, so the next scoring request that starts the same way (lm-evaluation-harness's
 * choices after one context) computes only the rest.
 *
 * A slot's sampler, stream and logits are allocated when a request starts and freed when it
 * ends, so an idle server holds only the model, the caches and the token arrays. */
#include "generate/batch.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "core/common.h"
#include "core/gemm.h"
#include "core/threadpool.h"
#include "generate/stream.h"
#include "nn/layers.h"

/* A scoring slot's prompt tokens per step: its rows' logits are SCORE_ROWS x vocab floats (12 MB
 * for SmolLM2's 49,152 tokens), beside prefill chunks of up to 256 rows. What it scored stays
 * with its cache: ~200 bytes a position. */
#define SCORE_ROWS 64

/* A prompt token's logprobs, as scoring computed them (given the tokens before it). */
typedef struct {
    attn_batch_token t;
    int32_t top_ids[ATTN_BATCH_MAX_TOP_LOGPROBS];
    float top_logprobs[ATTN_BATCH_MAX_TOP_LOGPROBS];
} scored;

typedef struct {
    bool active;
    bool planned;             /* has an item in the step being planned */
    uint64_t order;           /* when the request came: older prompts prefill first */
    attn_batch_params p;
    int32_t *tokens;          /* [n_ctx + 1]: the sequence (+ a last sampled token not fed) */
    int n_tokens, n_cached;
    int n_prompt, n_reused, n_generated;
    attn_sampler *sampler;
    attn_stream *stream;
    float *logits;            /* [vocab], row i of the batch's logit rows */
    float *raw;               /* [vocab] the logits before penalties, when logprobs are asked */
    float *score_rows;        /* [SCORE_ROWS][vocab] a scoring slot's chunk's logits, else NULL */
    scored *kept;             /* [n_ctx]: kept[t] token t's, for 1 <= t <= n_kept (allocated by the
                               * first scoring request, then kept with the cache) */
    int n_kept, kept_top;     /* and the alternatives each holds */
    attn_batch_token drawn;   /* the token sampled this step, with its logprobs */
    int32_t top_ids[ATTN_BATCH_MAX_TOP_LOGPROBS];
    float top_logprobs[ATTN_BATCH_MAX_TOP_LOGPROBS];
} slot;

struct attn_batch {
    attn_model *model;
    const attn_tokenizer *tok;
    int n_slots, vocab, prefill_chunk;
    int64_t n_ctx;
    uint64_t next_order;
    slot *slots;
    attn_batch_item *items;   /* [n_slots] */
    int *item_slot;           /* [n_slots] which slot each item feeds */
    int *ready;               /* [n_slots] slots with fresh logits this step */
    float *logit_rows;        /* [n_slots][vocab]: slots decoding in order get their logits
                               * from the head in place (attn_batch_logits), no copy */
    int n_ready;
    int score_precision;      /* attn_batch_set_scoring_precision's, or -1 */
};

attn_batch *attn_batch_new(attn_model *m, const attn_tokenizer *tok, int n_slots, int64_t n_ctx, int prefill_chunk) {
    if (n_slots < 1 || prefill_chunk < 1) {
        attn_error("a batch needs at least one slot and a prefill chunk of at least one token");
        return NULL;
    }
    if (attn_model_set_sequences(m, n_slots, n_ctx) != 0) return NULL;
    attn_batch *b = calloc(1, sizeof *b);
    if (!b) goto oom;
    const attn_model_info *info = attn_model_get_info(m);
    b->model = m, b->tok = tok, b->n_slots = n_slots, b->prefill_chunk = prefill_chunk, b->score_precision = -1;
    b->n_ctx = n_ctx > 0 ? n_ctx : info->n_ctx;
    b->vocab = (int)info->vocab_size;
    b->slots = calloc((size_t)n_slots, sizeof *b->slots);
    b->items = calloc((size_t)n_slots, sizeof *b->items);
    b->item_slot = calloc((size_t)n_slots, sizeof *b->item_slot);
    b->ready = calloc((size_t)n_slots, sizeof *b->ready);
    b->logit_rows = malloc((size_t)n_slots * (size_t)b->vocab * sizeof(float)); /* pages touched when used */
    if (!b->slots || !b->items || !b->item_slot || !b->ready || !b->logit_rows) goto oom;
    for (int i = 0; i < n_slots; i++) {
        b->slots[i].tokens = malloc((size_t)(b->n_ctx + 1) * sizeof(int32_t)); /* pages touched as they fill */
        if (!b->slots[i].tokens) goto oom;
        b->slots[i].logits = b->logit_rows + (size_t)i * (size_t)b->vocab;
    }
    return b;
oom:
    attn_error("out of memory for a batch of %d slots", n_slots);
    attn_batch_free(b);
    return NULL;
}

int attn_batch_n_slots(const attn_batch *b) { return b->n_slots; }
void attn_batch_set_scoring_precision(attn_batch *b, int precision) { b->score_precision = precision; }
int64_t attn_batch_n_ctx(const attn_batch *b) { return b->n_ctx; }

int attn_batch_n_active(const attn_batch *b) {
    int n = 0;
    for (int i = 0; i < b->n_slots; i++) n += b->slots[i].active;
    return n;
}

/* ---- starting and ending ------------------------------------------------------------ */

static void slot_release(slot *s) {
    attn_sampler_free(s->sampler);
    attn_stream_free(s->stream);
    free(s->raw), free(s->score_rows);
    s->sampler = NULL, s->stream = NULL, s->raw = NULL, s->score_rows = NULL;
    s->active = false;
}

/* Tells the caller and frees the slot's per-request state; its cache and tokens stay. */
static void slot_finish(slot *s, const char *reason, const char *error) {
    if (strcmp(reason, "error") != 0) { /* EOS is a "stop" too: its held-back bytes are text */
        const char *ready;
        size_t n_ready;
        attn_stream_flush(s->stream, &ready, &n_ready); /* held-back bytes are final now (none after a stop string) */
        if (n_ready && s->p.on_text) s->p.on_text(s->p.user, ready, n_ready);
    }
    attn_batch_done d = {reason, error, s->n_prompt, s->n_reused, s->n_generated};
    attn_batch_params p = s->p;
    slot_release(s);
    if (p.on_done) p.on_done(p.user, &d);
}

static int common_prefix(const int32_t *a, int na, const int32_t *b, int nb) {
    int i = 0;
    while (i < na && i < nb && a[i] == b[i]) i++;
    return i;
}

/* The free slot whose cache shares the longest prefix with the prompt; -1 if none is free. */
static int pick_slot(const attn_batch *b, const int32_t *prompt, int n_prompt, int *shared) {
    int best = -1;
    *shared = -1;
    for (int i = 0; i < b->n_slots; i++) {
        const slot *s = &b->slots[i];
        if (s->active) continue;
        int k = common_prefix(s->tokens, s->n_cached, prompt, n_prompt);
        if (k > *shared) best = i, *shared = k;
    }
    return best;
}

static int check_params(const attn_batch *b, int n_prompt, const attn_batch_params *p) {
    if (n_prompt < 1) return attn_error("the prompt is empty: give at least one token");
    if (n_prompt >= b->n_ctx)
        return attn_error("the prompt has %d tokens but the context holds %lld: shorten it", n_prompt,
                          (long long)b->n_ctx);
    if (p->max_tokens < 0) return attn_error("max_tokens must be at least 0 (got %d)", p->max_tokens);
    if (p->top_logprobs > ATTN_BATCH_MAX_TOP_LOGPROBS)
        return attn_error("at most %d top logprobs (asked for %d)", ATTN_BATCH_MAX_TOP_LOGPROBS, p->top_logprobs);
    return 0;
}

int attn_batch_add(attn_batch *b, const int32_t *prompt, int n_prompt, const attn_batch_params *p) {
    if (check_params(b, n_prompt, p) != 0) return -1;
    for (int i = 0; i < n_prompt; i++)
        if (prompt[i] < 0 || prompt[i] >= b->vocab)
            return attn_error("token id %d is outside the vocabulary [0, %d)", prompt[i], b->vocab);
    int shared;
    int i = pick_slot(b, prompt, n_prompt, &shared);
    if (i < 0) return attn_error("all %d slots are busy", b->n_slots);
    slot *s = &b->slots[i];
    s->sampler = attn_sampler_new(&p->sampling, b->vocab);
    s->stream = attn_stream_new(p->stops, p->n_stops);
    s->raw = p->top_logprobs >= 0 ? malloc((size_t)b->vocab * sizeof(float)) : NULL;
    bool scoring = p->prompt_logprobs && p->top_logprobs >= 0;
    if (scoring) {
        s->score_rows = malloc((size_t)SCORE_ROWS * (size_t)b->vocab * sizeof(float));
        if (!s->kept) s->kept = malloc((size_t)b->n_ctx * sizeof *s->kept), s->n_kept = 0;
    }
    if (!s->sampler || !s->stream || (p->top_logprobs >= 0 && !s->raw) || (scoring && (!s->score_rows || !s->kept))) {
        slot_release(s);
        return attn_error("out of memory starting a generation");
    }
    /* At least the last prompt token is fed again: its logits are what the first sample needs.
     * A scored prompt reuses only positions whose tokens' logprobs were kept, with at least as
     * many alternatives; kept[t] holds while tokens 0..t are the same. */
    s->n_kept = ATTN_MIN(s->n_kept, ATTN_MAX(shared - 1, 0));
    int reuse = ATTN_MIN(shared, n_prompt - 1);
    if (scoring) {
        reuse = s->kept_top >= p->top_logprobs ? ATTN_MIN(reuse, s->n_kept) : 0;
        s->n_kept = reuse, s->kept_top = p->top_logprobs;
    }
    if (attn_model_seq_truncate(b->model, i, reuse) != 0) {
        slot_release(s);
        return -1;
    }
    memcpy(s->tokens, prompt, (size_t)n_prompt * sizeof(int32_t));
    s->n_tokens = s->n_prompt = n_prompt;
    s->n_cached = s->n_reused = reuse;
    s->n_generated = 0;
    s->p = *p;
    s->order = b->next_order++;
    s->active = true;
    for (int k = 0; k < n_prompt; k++) attn_sampler_accept(s->sampler, prompt[k]);
    return i;
}

void attn_batch_cancel(attn_batch *b, int i) {
    if (i >= 0 && i < b->n_slots && b->slots[i].active) slot_finish(&b->slots[i], "cancelled", NULL);
}

void attn_batch_free(attn_batch *b) {
    if (!b) return;
    if (b->slots)
        for (int i = 0; i < b->n_slots; i++) {
            attn_batch_cancel(b, i);
            free(b->slots[i].tokens), free(b->slots[i].kept);
        }
    free(b->slots);
    free(b->items);
    free(b->item_slot);
    free(b->ready);
    free(b->logit_rows);
    free(b);
}

/* ---- one step ----------------------------------------------------------------------- */

/* A slot scoring its prompt, part of which is still to be fed. */
static bool scoring_prompt(const slot *s) { return s->score_rows && s->n_cached < s->n_prompt; }

/* The tokens a prefilling slot would feed with no budget to share: all that are left, or a
 * scoring chunk. */
static int rows_wanted(const slot *s) {
    int todo = s->n_tokens - s->n_cached;
    return scoring_prompt(s) ? ATTN_MIN(todo, SCORE_ROWS) : todo;
}

/* The items of one forward: every decoding slot's new token, then prompt chunks of the
 * prefilling slots, oldest request first, up to prefill_chunk prompt tokens in all. */
static int plan_items(attn_batch *b) {
    int n = 0;
    for (int i = 0; i < b->n_slots; i++) {
        slot *s = &b->slots[i];
        s->planned = s->active && s->n_tokens - s->n_cached == 1 && !scoring_prompt(s);
        if (s->planned) b->item_slot[n++] = i;
    }
    int budget = b->prefill_chunk;
    while (budget > 0) {
        int oldest = -1;
        for (int i = 0; i < b->n_slots; i++) {
            slot *s = &b->slots[i];
            if (s->active && !s->planned && (oldest < 0 || s->order < b->slots[oldest].order)) oldest = i;
        }
        if (oldest < 0) break;
        slot *s = &b->slots[oldest];
        s->planned = true;
        budget -= ATTN_MIN(budget, rows_wanted(s));
        b->item_slot[n++] = oldest;
    }
    budget = b->prefill_chunk;
    for (int k = 0; k < n; k++) {
        int i = b->item_slot[k];
        slot *s = &b->slots[i];
        int todo = s->n_tokens - s->n_cached;
        bool score = scoring_prompt(s);
        int feed = todo == 1 && !score ? 1 : ATTN_MIN(rows_wanted(s), budget);
        if (todo > 1 || score) budget -= feed;
        b->items[k] = (attn_batch_item){.seq = i, .tokens = s->tokens + s->n_cached, .n = feed,
                                        .logits = score ? s->score_rows : feed == todo ? s->logits : NULL,
                                        .all_logits = score};
    }
    return n;
}

/* log softmax of the raw logits: the chosen token's value and the n_top largest. */
static void fill_logprobs(const float *raw, int vocab, attn_batch_token *t, int32_t *top_ids, float *top_lp) {
    float lse = attn_log_sum_exp(raw, vocab);
    int n = 0;
    for (int i = 0; i < vocab; i++) { /* insertion into a short sorted list */
        if (n == t->n_top && (n == 0 || raw[i] <= top_lp[n - 1])) continue;
        int j = n < t->n_top ? n++ : n - 1;
        while (j > 0 && top_lp[j - 1] < raw[i]) top_lp[j] = top_lp[j - 1], top_ids[j] = top_ids[j - 1], j--;
        top_lp[j] = raw[i], top_ids[j] = i;
    }
    for (int k = 0; k < n; k++) top_lp[k] -= lse;
    t->n_top = n;
    t->logprob = raw[t->token] - lse;
    t->top_ids = top_ids, t->top_logprobs = top_lp;
}

typedef struct {
    const attn_batch *b;
    slot *s;
    int from; /* the chunk's first position */
} score_job;

/* Row r of a scoring chunk: the logprobs of the prompt token after its position. */
static void score_task(void *ctx, int64_t r0, int64_t r1, int thread) {
    (void)thread;
    const score_job *j = ctx;
    for (int64_t r = r0; r < r1; r++) {
        scored *o = &j->s->kept[j->from + r + 1];
        o->t = (attn_batch_token){.token = j->s->tokens[j->from + r + 1], .n_top = j->s->kept_top};
        fill_logprobs(j->s->score_rows + r * j->b->vocab, j->b->vocab, &o->t, o->top_ids, o->top_logprobs);
    }
}

/* Prompt tokens [t0, t1)'s kept logprobs to the caller, with the alternatives it asked for. */
static void emit_kept(const slot *s, int t0, int t1) {
    for (int t = t0; t < t1 && s->p.on_prompt_token; t++) {
        attn_batch_token e = s->kept[t].t;
        e.n_top = ATTN_MIN(e.n_top, s->p.top_logprobs);
        s->p.on_prompt_token(s->p.user, &e);
    }
}

/* A scoring chunk of n rows from position `from` is in: its prompt tokens' logprobs go out in
 * order, after (in the first chunk) the first token's, which nothing predicts, and those of the
 * reused positions; the prompt's last row becomes the first sample's logits. Rows spread over
 * the threads: a log softmax over a large vocabulary costs a good part of a row's forward. */
static void score_chunk(const attn_batch *b, slot *s, int from, int n) {
    if (from == s->n_reused && s->p.on_prompt_token) {
        s->p.on_prompt_token(s->p.user, &(attn_batch_token){.token = s->tokens[0], .logprob = NAN});
        emit_kept(s, 1, from + 1);
    }
    int rows = ATTN_MIN(n, s->n_prompt - 1 - from); /* the last prompt row predicts a sample */
    score_job j = {b, s, from};
    if (rows > 0) attn_parallel_for(rows, 1, score_task, &j);
    s->n_kept = from + ATTN_MAX(rows, 0);
    emit_kept(s, from + 1, s->n_kept + 1);
    if (from + n == s->n_prompt)
        memcpy(s->logits, s->score_rows + (size_t)(n - 1) * (size_t)b->vocab, (size_t)b->vocab * sizeof(float));
}

/* Draws the next token of every slot with fresh logits, slots spread over the threads: each
 * has its own sampler, and a draw over a large vocabulary costs as much as a small forward. */
static void draw_task(void *ctx, int64_t begin, int64_t end, int thread) {
    (void)thread;
    attn_batch *b = ctx;
    for (int64_t k = begin; k < end; k++) {
        slot *s = &b->slots[b->ready[k]];
        if (s->raw) memcpy(s->raw, s->logits, (size_t)b->vocab * sizeof(float));
        s->drawn = (attn_batch_token){.token = attn_sampler_sample(s->sampler, s->logits), .logprob = NAN};
        if (s->raw) {
            s->drawn.n_top = s->p.top_logprobs;
            fill_logprobs(s->raw, b->vocab, &s->drawn, s->top_ids, s->top_logprobs);
        }
    }
}

/* Pushes a token's bytes through the stop-string/UTF-8 stream; returns the finish reason
 * when the text ends here ("stop", "cancelled"), else NULL. */
static const char *emit_text(const attn_batch *b, slot *s, int32_t token) {
    size_t len = 0;
    const char *bytes = b->tok ? attn_tokenizer_token_bytes(b->tok, token, &len) : NULL;
    return bytes ? attn_stream_emit(s->stream, bytes, len, s->p.on_text, s->p.user) : NULL;
}

/* The drawn token: end of text, or reported and queued for the next step (or the end). */
static void take_token(attn_batch *b, slot *s) {
    int32_t next = s->drawn.token;
    int32_t eos = b->tok ? attn_tokenizer_eos(b->tok) : -1;
    if (next == eos && !s->p.ignore_eos) {
        slot_finish(s, "stop", NULL);
        return;
    }
    attn_sampler_accept(s->sampler, next);
    s->tokens[s->n_tokens++] = next;
    s->n_generated++;
    if (s->p.on_token) s->p.on_token(s->p.user, &s->drawn);
    const char *end = emit_text(b, s, next);
    if (!end && s->n_generated >= s->p.max_tokens) end = "length";
    if (!end && s->n_tokens > b->n_ctx) end = "length"; /* the context is full: stop cleanly */
    if (end) slot_finish(s, end, strcmp(end, "error") == 0 ? attn_last_error() : NULL);
}

/* The forward of a step's items, scoring ones in the batch's precision for them. */
static int forward(attn_batch *b, int n) {
    bool scoring = false;
    for (int k = 0; k < n; k++) scoring = scoring || b->items[k].all_logits;
    attn_matmul_precision was = attn_gemm_precision();
    bool swap = scoring && b->score_precision >= 0 && b->score_precision != (int)was &&
                attn_gemm_set_precision((attn_matmul_precision)b->score_precision) == 0;
    int rc = attn_model_forward_batch(b->model, b->items, n);
    if (swap) attn_gemm_set_precision(was);
    return rc;
}

int attn_batch_step(attn_batch *b) {
    int n = plan_items(b);
    if (n == 0) return 0;
    if (forward(b, n) != 0) {
        char err[512];
        snprintf(err, sizeof err, "%s", attn_last_error()); /* callbacks may set errors of their own */
        for (int k = 0; k < n; k++) slot_finish(&b->slots[b->item_slot[k]], "error", err);
        attn_error("%s", err);
        return -1;
    }
    b->n_ready = 0;
    for (int k = 0; k < n; k++) {
        slot *s = &b->slots[b->item_slot[k]];
        int from = s->n_cached;
        s->n_cached += (int)b->items[k].n;
        if (b->items[k].all_logits) score_chunk(b, s, from, (int)b->items[k].n);
        if (!b->items[k].logits || s->n_cached < s->n_tokens) continue;
        if (s->p.max_tokens == 0) slot_finish(s, "length", NULL); /* the prompt was only fed (or scored) */
        else b->ready[b->n_ready++] = b->item_slot[k];
    }
    attn_parallel_for(b->n_ready, 1, draw_task, b);
    for (int k = 0; k < b->n_ready; k++) take_token(b, &b->slots[b->ready[k]]);
    return attn_batch_n_active(b);
}
