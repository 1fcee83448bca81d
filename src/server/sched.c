/* sched.c - the scheduler thread and its bounded queue (see sched.h; requests: request.c).
 *
 * The thread loops: end the jobs whose client left, move queued jobs into free slots, and if
 * anything runs, release the lock for one attn_batch_step() (HTTP threads queue and cancel
 * meanwhile). The batch's callbacks run on this thread and write each job's results under
 * its request's mutex. */
#include "server/sched.h"

#include <errno.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "core/common.h"

/* ---- the batch's callbacks (scheduler thread) ----------------------------------------- */

static int job_on_text(void *user, const char *text, size_t len) {
    srv_job *j = user;
    srv_request *r = j->req;
    pthread_mutex_lock(&r->mu);
    if (j->len + len + 1 > j->cap) {
        size_t cap = j->cap ? j->cap : 256;
        while (cap < j->len + len + 1) cap *= 2;
        char *t = realloc(j->text, cap);
        if (!t) {
            pthread_mutex_unlock(&r->mu);
            return 1; /* out of memory: end this job, keep the server */
        }
        j->text = t, j->cap = cap;
    }
    memcpy(j->text + j->len, text, len);
    j->len += len;
    j->text[j->len] = 0;
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
    return atomic_load(&r->cancelled);
}

/* Appends a token's logprobs to the job's (request mutex held); false when out of memory. */
static bool keep_logprobs(srv_job *j, const attn_batch_token *t) {
    if (j->n_logprobs == j->cap_logprobs) {
        int cap = j->cap_logprobs ? 2 * j->cap_logprobs : 16;
        srv_logprob *lp = realloc(j->logprobs, (size_t)cap * sizeof *lp);
        if (!lp) return false;
        j->logprobs = lp, j->cap_logprobs = cap;
    }
    srv_logprob *lp = &j->logprobs[j->n_logprobs++];
    lp->token = t->token, lp->logprob = t->logprob, lp->n_top = t->n_top;
    if (t->n_top > 0) { /* a first prompt token has none, nor arrays */
        memcpy(lp->top_ids, t->top_ids, (size_t)t->n_top * sizeof(int32_t));
        memcpy(lp->top_logprobs, t->top_logprobs, (size_t)t->n_top * sizeof(float));
    }
    return true;
}

static void job_on_token(void *user, const attn_batch_token *t) {
    srv_job *j = user;
    srv_request *r = j->req;
    pthread_mutex_lock(&r->mu);
    j->n_generated++;
    if (r->gen.top_logprobs >= 0) keep_logprobs(j, t);
    pthread_mutex_unlock(&r->mu);
}

/* A prompt token's logprobs: they come first, all before the first generated token's. */
static void job_on_prompt_token(void *user, const attn_batch_token *t) {
    srv_job *j = user;
    srv_request *r = j->req;
    pthread_mutex_lock(&r->mu);
    if (keep_logprobs(j, t)) j->n_prompt_logprobs++;
    else j->prompt_logprobs_lost = true;
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
}

/* Marks a job finished and drops the scheduler's reference to its request. */
static void job_finish(srv_job *j, const char *reason, const char *error, int n_reused) {
    srv_request *r = j->req;
    pthread_mutex_lock(&r->mu);
    j->finish = reason;
    j->n_reused = n_reused;
    if (error) snprintf(j->error, sizeof j->error, "%s", error);
    r->n_done++;
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
    srv_request_release(r);
}

/* ---- the scheduler -------------------------------------------------------------------- */

struct srv_sched {
    attn_batch *batch;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;        /* work arrived, a client left, or stop */
    bool stop;
    srv_job **queue;          /* ring of waiting jobs */
    int q_head, q_len, q_cap;
    srv_job **running;        /* [n_slots] the job in each slot (scheduler thread only) */
    int n_slots;
    int64_t n_ctx;
    int busy;
    _Atomic uint64_t served, tokens;
};

/* A slot's job ended (scheduler thread, inside a batch call): forget it before the request
 * may be freed. */
static void job_on_done(void *user, const attn_batch_done *d) {
    srv_job *j = user;
    srv_sched *s = j->sched;
    s->running[j->slot] = NULL;
    atomic_fetch_add(&s->served, 1);
    atomic_fetch_add(&s->tokens, (uint64_t)d->n_generated);
    if (strcmp(d->finish_reason, "error") == 0)
        fprintf(stderr, "attn serve: a generation failed: %s\n", d->error ? d->error : "unknown error");
    job_finish(j, d->finish_reason, d->error, d->n_reused);
}

static srv_job *queue_pop(srv_sched *s) {
    srv_job *j = s->queue[s->q_head];
    s->q_head = (s->q_head + 1) % s->q_cap;
    s->q_len--;
    return j;
}

/* Moves queued jobs into free slots (scheduler mutex held). */
static void admit(srv_sched *s) {
    while (s->q_len > 0 && attn_batch_n_active(s->batch) < attn_batch_n_slots(s->batch)) {
        srv_job *j = queue_pop(s);
        srv_request *r = j->req;
        if (atomic_load(&r->cancelled)) {
            job_finish(j, "cancelled", NULL, 0);
            continue;
        }
        attn_batch_params p = r->gen;
        p.sampling.seed = j->seed;
        p.on_text = job_on_text, p.on_token = job_on_token, p.on_prompt_token = job_on_prompt_token;
        p.on_done = job_on_done, p.user = j;
        j->sched = s;
        int slot = attn_batch_add(s->batch, j->prompt, j->n_prompt, &p);
        if (slot < 0) {
            job_finish(j, "error", attn_last_error(), 0);
            continue;
        }
        j->slot = slot;
        s->running[slot] = j;
    }
}

/* Ends the running jobs whose client left (mutex held). */
static void cancel_abandoned(srv_sched *s) {
    for (int i = 0; i < attn_batch_n_slots(s->batch); i++)
        if (s->running[i] && atomic_load(&s->running[i]->req->cancelled)) attn_batch_cancel(s->batch, i);
}

/* Idle: hands the heap's free pages back to the system (the connections' threads leave free
 * memory in their malloc arenas), so an idle server holds little beyond the model and caches. */
static void release_free_memory(void) {
#ifdef __GLIBC__
    malloc_trim(0);
#endif
}

static void *sched_main(void *arg) {
    srv_sched *s = arg;
    pthread_mutex_lock(&s->mu);
    while (!s->stop) {
        cancel_abandoned(s);
        admit(s);
        s->busy = attn_batch_n_active(s->batch);
        if (s->busy == 0) {
            release_free_memory();
            pthread_cond_wait(&s->cv, &s->mu);
            continue;
        }
        pthread_mutex_unlock(&s->mu);
        if (attn_batch_step(s->batch) < 0) fprintf(stderr, "attn serve: a batch step failed: %s\n", attn_last_error());
        pthread_mutex_lock(&s->mu);
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

srv_sched *srv_sched_start(attn_model *m, const attn_tokenizer *tok, int n_slots, int64_t n_ctx, int queue_cap,
                           int score_precision) {
    srv_sched *s = calloc(1, sizeof *s);
    if (!s) {
        attn_error("out of memory");
        return NULL;
    }
    s->q_cap = queue_cap > 0 ? queue_cap : 1;
    s->queue = calloc((size_t)s->q_cap, sizeof *s->queue);
    s->running = calloc((size_t)n_slots, sizeof *s->running);
    /* prompt chunks of 256 tokens: long enough for fast prefill, short enough that decoding
       slots wait at most one chunk's time between tokens */
    s->batch = s->queue && s->running ? attn_batch_new(m, tok, n_slots, n_ctx, 256) : NULL;
    s->n_slots = n_slots;
    s->n_ctx = s->batch ? attn_batch_n_ctx(s->batch) : 0;
    if (s->batch) attn_batch_set_scoring_precision(s->batch, score_precision);
    if (!s->batch) {
        if (!s->queue || !s->running) attn_error("out of memory");
        free(s->queue), free(s->running), free(s);
        return NULL;
    }
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    if (pthread_create(&s->thread, NULL, sched_main, s) != 0) {
        attn_batch_free(s->batch);
        free(s->queue), free(s->running), free(s);
        attn_error("cannot start the scheduler thread");
        return NULL;
    }
    return s;
}

void srv_sched_stop(srv_sched *s) {
    if (!s || !s->batch) return;
    pthread_mutex_lock(&s->mu);
    s->stop = true;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
    pthread_join(s->thread, NULL);
    pthread_mutex_lock(&s->mu);
    while (s->q_len > 0) job_finish(queue_pop(s), "cancelled", NULL, 0);
    attn_batch_free(s->batch); /* cancels the running jobs */
    s->batch = NULL;
    pthread_mutex_unlock(&s->mu);
}

void srv_sched_free(srv_sched *s) {
    if (!s) return;
    srv_sched_stop(s);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    free(s->queue), free(s->running), free(s);
}

int64_t srv_sched_n_ctx(const srv_sched *s) { return s->n_ctx; }

void srv_sched_stats_get(srv_sched *s, srv_sched_stats *out) {
    pthread_mutex_lock(&s->mu);
    out->n_slots = s->n_slots;
    out->busy = s->busy;
    out->queued = s->q_len;
    out->queue_cap = s->q_cap;
    pthread_mutex_unlock(&s->mu);
    out->served = atomic_load(&s->served);
    out->tokens_generated = atomic_load(&s->tokens);
}

int srv_sched_submit(srv_sched *s, srv_request *r) {
    pthread_mutex_lock(&s->mu);
    if (s->stop || s->q_len + r->n_jobs > s->q_cap) {
        pthread_mutex_unlock(&s->mu);
        return -1;
    }
    pthread_mutex_lock(&r->mu);
    r->refs += r->n_jobs;
    pthread_mutex_unlock(&r->mu);
    for (int i = 0; i < r->n_jobs; i++) s->queue[(s->q_head + s->q_len++) % s->q_cap] = &r->jobs[i];
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
    return 0;
}

void srv_sched_cancel(srv_sched *s, srv_request *r) {
    atomic_store(&r->cancelled, true);
    pthread_mutex_lock(&s->mu);
    /* drop this request's queued jobs now, so they do not hold queue places */
    int n = s->q_len, kept = 0;
    for (int i = 0; i < n; i++) {
        srv_job *j = s->queue[(s->q_head + i) % s->q_cap];
        if (j->req == r) job_finish(j, "cancelled", NULL, 0);
        else s->queue[(s->q_head + kept++) % s->q_cap] = j;
    }
    s->q_len = kept;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
}
