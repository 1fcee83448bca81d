/* sched.h - the server's scheduler: one thread owns the model and runs the batched generator
 * (src/generate/batch.h); HTTP threads hand it requests through a bounded queue and read the
 * results back as they grow.
 *
 * A request holds one job per choice (OpenAI's n, or several prompts). Each job runs in a
 * batch slot and appends its text (and logprobs when asked) to its own buffers, under the
 * request's mutex, broadcasting the request's condition variable on every change. A request is
 * reference-counted: the HTTP side holds one reference, the scheduler one per unfinished job,
 * so whichever side finishes last frees it (a client may leave at any time).
 *
 * Lock order: the scheduler's mutex, then a request's. HTTP code never calls srv_sched_*
 * while it holds a request's mutex. */
#ifndef ATTN_SERVER_SCHED_H
#define ATTN_SERVER_SCHED_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "generate/batch.h"

typedef struct {
    int32_t token;
    float logprob;
    int n_top;
    int32_t top_ids[ATTN_BATCH_MAX_TOP_LOGPROBS];
    float top_logprobs[ATTN_BATCH_MAX_TOP_LOGPROBS];
} srv_logprob;

typedef struct srv_request srv_request;

typedef struct {
    srv_request *req;
    int32_t *prompt;          /* owned */
    int n_prompt;
    uint64_t seed;
    /* results, guarded by req->mu */
    char *text;               /* NUL-terminated */
    size_t len, cap;
    srv_logprob *logprobs;    /* when req->gen.top_logprobs >= 0: one per prompt token (prompt_logprobs;
                               * the first's logprob NaN), then one per generated token */
    int n_logprobs, cap_logprobs;
    int n_prompt_logprobs;    /* of those, the prompt's */
    bool prompt_logprobs_lost; /* out of memory keeping one: the answer is an error */
    int n_generated, n_reused;
    const char *finish;       /* NULL while running: "stop", "length", "cancelled", "error" */
    char error[256];
    /* the scheduler's (its thread only) */
    struct srv_sched *sched;
    int slot;
} srv_job;

struct srv_request {
    pthread_mutex_t mu;
    pthread_cond_t cv;        /* broadcast when a job's results change */
    int refs;
    atomic_bool cancelled;
    attn_batch_params gen;    /* shared settings (the scheduler sets the callbacks and seed) */
    char **stops;             /* owned copies that gen.stops points to */
    int n_stops;
    int n_jobs, n_done;
    srv_job *jobs;
};

/* A request of n_jobs empty jobs with one reference (the caller's). NULL when out of memory. */
srv_request *srv_request_new(int n_jobs);
void srv_request_release(srv_request *r);
/* Sets the stop strings (copied). */
int srv_request_set_stops(srv_request *r, const char *const *stops, int n);
/* Waits (with r->mu held) until a job changes or ms milliseconds pass. */
void srv_request_wait(srv_request *r, int ms);

typedef struct srv_sched srv_sched;

typedef struct {
    int n_slots, busy, queued, queue_cap;
    uint64_t served, tokens_generated;
} srv_sched_stats;

/* Starts the scheduler thread over a batch of n_slots sequences of n_ctx positions, scoring
 * prompts in score_precision (attn_batch_set_scoring_precision; -1: the process's). */
srv_sched *srv_sched_start(attn_model *m, const attn_tokenizer *tok, int n_slots, int64_t n_ctx, int queue_cap,
                           int score_precision);
/* Cancels everything still queued or running and joins the thread; later submits fail (503). */
void srv_sched_stop(srv_sched *s);
/* Stops (if still running) and frees; no thread may use s any more. */
void srv_sched_free(srv_sched *s);
int64_t srv_sched_n_ctx(const srv_sched *s);
void srv_sched_stats_get(srv_sched *s, srv_sched_stats *out);

/* Queues every job of r (taking a reference per job). -1 when the queue has no room for them
 * all (nothing queued: answer 503). */
int srv_sched_submit(srv_sched *s, srv_request *r);
/* The client is gone: queued jobs end now, running ones at the scheduler's next step. */
void srv_sched_cancel(srv_sched *s, srv_request *r);

#endif
