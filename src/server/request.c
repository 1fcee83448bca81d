/* request.c - a request's life apart from the scheduler (see sched.h): its jobs, its stop
 * strings, the reference count that frees it when both the HTTP thread and the scheduler are
 * done with it. Kept apart so the API parser (and its fuzz target) need no model. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "core/common.h"
#include "server/sched.h"

srv_request *srv_request_new(int n_jobs) {
    srv_request *r = calloc(1, sizeof *r);
    if (!r) return NULL;
    r->jobs = calloc((size_t)(n_jobs > 0 ? n_jobs : 1), sizeof *r->jobs);
    if (!r->jobs) {
        free(r);
        return NULL;
    }
    pthread_mutex_init(&r->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&r->cv, &ca);
    pthread_condattr_destroy(&ca);
    r->refs = 1;
    r->n_jobs = n_jobs;
    for (int i = 0; i < n_jobs; i++) r->jobs[i].req = r;
    r->gen.top_logprobs = -1;
    return r;
}

static void request_free(srv_request *r) {
    for (int i = 0; i < r->n_jobs; i++) {
        free(r->jobs[i].prompt);
        free(r->jobs[i].text);
        free(r->jobs[i].logprobs);
    }
    for (int i = 0; i < r->n_stops; i++) free(r->stops[i]);
    free(r->stops);
    free(r->jobs);
    pthread_mutex_destroy(&r->mu);
    pthread_cond_destroy(&r->cv);
    free(r);
}

void srv_request_release(srv_request *r) {
    if (!r) return;
    pthread_mutex_lock(&r->mu);
    int left = --r->refs;
    pthread_mutex_unlock(&r->mu);
    if (left == 0) request_free(r);
}

int srv_request_set_stops(srv_request *r, const char *const *stops, int n) {
    r->stops = calloc((size_t)(n > 0 ? n : 1), sizeof *r->stops);
    if (!r->stops) return attn_error("out of memory");
    for (int i = 0; i < n; i++) {
        r->stops[i] = strdup(stops[i]);
        if (!r->stops[i]) return attn_error("out of memory");
        r->n_stops++;
    }
    r->gen.stops = (const char *const *)r->stops;
    r->gen.n_stops = r->n_stops;
    return 0;
}

void srv_request_wait(srv_request *r, int ms) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    t.tv_nsec += (long)ms * 1000000L;
    t.tv_sec += t.tv_nsec / 1000000000L;
    t.tv_nsec %= 1000000000L;
    while (pthread_cond_timedwait(&r->cv, &r->mu, &t) == EINTR) {}
}
