/* threadpool.c - the global worker pool. The caller is thread 0 and takes a share of every
 * job; workers wait for a new job generation by spinning (cheap hand-off while decoding)
 * and fall back to a condition variable after a while so an idle process uses no CPU. */
#include "threadpool.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <unistd.h>
#include "common.h"

#if defined(__x86_64__)
#include <immintrin.h>
#define cpu_relax() _mm_pause()
#else
#define cpu_relax() ((void)0)
#endif

#define SPIN_ITERS (1 << 17)
#define YIELD_AFTER 4096

/* Busy-wait step: pause first (fast hand-off), then yield so that a waiter never starves the
 * thread it waits for when the machine has more runnable threads than cores. */
static inline void wait_step(int *spins) {
    if (++*spins < YIELD_AFTER) cpu_relax();
    else sched_yield();
}

/* STATIC: one contiguous range per thread; DYNAMIC: grain-sized chunks handed out one at a
 * time; STREAMS: each thread walks its own range forward and, when done, takes the back half
 * of another's rest. */
typedef enum { STATIC, DYNAMIC, STREAMS } split;

/* A thread's range of grains under STREAMS, [lo, hi) packed as hi << 32 | lo, alone on its
 * cache line: its owner claims from the front, a thief splits off the back. */
typedef struct {
    _Alignas(64) _Atomic uint64_t range;
} stream_share;

typedef struct {
    int n_threads;
    pthread_t *threads;
    _Atomic uint64_t generation;
    _Atomic int pending;
    _Atomic int sleepers;
    bool stop;
    attn_task_fn fn;
    void *ctx;
    int64_t n_items, grain;
    uint64_t min_take; /* STREAMS: the fewest grains an owner claims at once */
    split how;
    _Atomic int64_t next_chunk; /* DYNAMIC: the next chunk to hand out */
    uint64_t start_generation; /* workers started by a resize wait for jobs after this one */
    stream_share *shares; /* STREAMS: one per thread */
    pthread_mutex_t mu;
    pthread_cond_t cv;
} pool_t;

static pool_t pool = {.n_threads = 0, .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};
static _Thread_local bool inside_task;
static _Thread_local int current_tid; /* this thread's index while it runs a share */

static inline uint64_t pack_range(uint64_t lo, uint64_t hi) { return hi << 32 | lo; }

/* Takes the back half of the largest rest another thread has left (at least 2 grains) as
 * this thread's range; false when there is none. */
static bool steal_range(int tid) {
    for (;;) {
        int victim = -1;
        uint64_t best = 1, v = 0;
        for (int t = 0; t < pool.n_threads; t++) {
            uint64_t r = atomic_load_explicit(&pool.shares[t].range, memory_order_relaxed);
            uint64_t left = (r >> 32) > (r & 0xffffffffu) ? (r >> 32) - (r & 0xffffffffu) : 0;
            if (t != tid && left > best) best = left, victim = t, v = r;
        }
        if (victim < 0) return false;
        uint64_t lo = v & 0xffffffffu, hi = v >> 32, mid = lo + (hi - lo) / 2;
        if (atomic_compare_exchange_strong_explicit(&pool.shares[victim].range, &v, pack_range(lo, mid),
                                                    memory_order_relaxed, memory_order_relaxed)) {
            atomic_store_explicit(&pool.shares[tid].range, pack_range(mid, hi), memory_order_relaxed);
            return true;
        }
    }
}

/* STREAMS: claims from the front of this thread's range, an eighth of its rest at a time
 * (min_take grains at least), so its reads run on as one forward stream; then steals. */
static void run_streams(int tid, int64_t n, int64_t g) {
    _Atomic uint64_t *mine = &pool.shares[tid].range;
    do {
        uint64_t v = atomic_load_explicit(mine, memory_order_relaxed);
        for (;;) {
            uint64_t lo = v & 0xffffffffu, hi = v >> 32;
            if (lo >= hi) break;
            uint64_t take = ATTN_MIN(hi - lo, ATTN_MAX((hi - lo + 7) / 8, pool.min_take));
            if (!atomic_compare_exchange_weak_explicit(mine, &v, pack_range(lo + take, hi), memory_order_relaxed,
                                                       memory_order_relaxed))
                continue;
            pool.fn(pool.ctx, (int64_t)lo * g, ATTN_MIN((int64_t)(lo + take) * g, n), tid);
            v = atomic_load_explicit(mine, memory_order_relaxed);
        }
    } while (steal_range(tid));
}

static void run_share(int tid) {
    inside_task = true;
    current_tid = tid;
    int64_t n = pool.n_items, g = pool.grain, chunks = (n + g - 1) / g;
    if (pool.how == STREAMS) {
        run_streams(tid, n, g);
        inside_task = false;
        return;
    }
    if (pool.how == DYNAMIC) {
        int64_t c;
        while ((c = atomic_fetch_add_explicit(&pool.next_chunk, 1, memory_order_relaxed)) < chunks)
            pool.fn(pool.ctx, c * g, ATTN_MIN((c + 1) * g, n), tid);
        inside_task = false;
        return;
    }
    int64_t per = chunks / pool.n_threads, extra = chunks % pool.n_threads;
    int64_t c0 = tid * per + (tid < extra ? tid : extra);
    int64_t c1 = c0 + per + (tid < extra ? 1 : 0);
    int64_t b = c0 * g, e = ATTN_MIN(c1 * g, n);
    if (b < e) pool.fn(pool.ctx, b, e, tid);
    inside_task = false;
}

static void *worker_main(void *arg) {
    int tid = (int)(intptr_t)arg;
    uint64_t seen = pool.start_generation; /* not 0: a resize after jobs must not rerun the last one */
    for (;;) {
        uint64_t gen;
        int spins = 0;
        while ((gen = atomic_load_explicit(&pool.generation, memory_order_acquire)) == seen && spins < SPIN_ITERS)
            wait_step(&spins);
        if (gen == seen) {
            pthread_mutex_lock(&pool.mu);
            atomic_fetch_add(&pool.sleepers, 1);
            while ((gen = atomic_load(&pool.generation)) == seen && !pool.stop) pthread_cond_wait(&pool.cv, &pool.mu);
            atomic_fetch_sub(&pool.sleepers, 1);
            pthread_mutex_unlock(&pool.mu);
        }
        if (pool.stop) return NULL;
        seen = gen;
        run_share(tid);
        atomic_fetch_sub_explicit(&pool.pending, 1, memory_order_release);
    }
}

static void pool_shutdown(void) {
    if (pool.n_threads <= 1) return;
    pthread_mutex_lock(&pool.mu);
    pool.stop = true;
    atomic_fetch_add(&pool.generation, 1);
    pthread_cond_broadcast(&pool.cv);
    pthread_mutex_unlock(&pool.mu);
    for (int i = 1; i < pool.n_threads; i++) pthread_join(pool.threads[i], NULL);
    free(pool.threads);
    pool.threads = NULL;
    attn_free(pool.shares);
    pool.shares = NULL;
    pool.stop = false;
    pool.n_threads = 1;
}

int attn_threads_init(int n) {
    if (n <= 0) {
        long cores = sysconf(_SC_NPROCESSORS_ONLN);
        n = cores > 0 ? (int)cores : 1;
    }
    if (n > 512) return attn_error("thread count %d is too large", n);
    if (n == pool.n_threads) return 0;
    pool_shutdown();
    pool.n_threads = n;
    if (n == 1) return 0;
    pool.threads = calloc((size_t)n, sizeof *pool.threads);
    pool.shares = attn_calloc(sizeof *pool.shares * (size_t)n);
    if (!pool.threads || !pool.shares) {
        free(pool.threads), attn_free(pool.shares);
        pool.threads = NULL, pool.shares = NULL, pool.n_threads = 1;
        return attn_error("out of memory creating threads");
    }
    pool.start_generation = atomic_load(&pool.generation);
    for (int i = 1; i < n; i++) {
        if (pthread_create(&pool.threads[i], NULL, worker_main, (void *)(intptr_t)i) != 0) {
            pool.n_threads = i;
            pool_shutdown();
            return attn_error("cannot start worker thread %d", i);
        }
    }
    return 0;
}

int attn_thread_current(void) { return inside_task ? current_tid : -1; }

int attn_threads_count(void) {
    if (pool.n_threads == 0) attn_threads_init(0);
    return pool.n_threads;
}

static void dispatch(void) {
    atomic_store(&pool.pending, pool.n_threads - 1);
    atomic_fetch_add_explicit(&pool.generation, 1, memory_order_seq_cst);
    if (atomic_load(&pool.sleepers) > 0) {
        pthread_mutex_lock(&pool.mu);
        pthread_cond_broadcast(&pool.cv);
        pthread_mutex_unlock(&pool.mu);
    }
    run_share(0);
    int spins = 0;
    while (atomic_load_explicit(&pool.pending, memory_order_acquire) > 0) wait_step(&spins);
}

static void parallel_for(int64_t n, int64_t grain, attn_task_fn fn, void *ctx, split how, int64_t piece) {
    if (n <= 0) return;
    if (grain < 1) grain = 1;
    int threads = attn_threads_count();
    if (threads == 1 || inside_task || n <= grain) {
        /* a nested call keeps its thread's index, so per-thread scratch is never shared */
        bool outer = !inside_task;
        if (outer) inside_task = true, current_tid = 0;
        fn(ctx, 0, n, current_tid);
        if (outer) inside_task = false;
        return;
    }
    pool.fn = fn;
    pool.ctx = ctx;
    pool.n_items = n;
    pool.grain = grain;
    if (how == STREAMS && (n + grain - 1) / grain >= (int64_t)1 << 32) how = DYNAMIC; /* ranges hold 32 bits */
    pool.how = how;
    pool.min_take = (uint64_t)ATTN_MAX(1, piece / grain);
    atomic_store_explicit(&pool.next_chunk, 0, memory_order_relaxed);
    if (how == STREAMS) {
        int64_t chunks = (n + grain - 1) / grain;
        for (int t = 0; t < threads; t++)
            atomic_store_explicit(&pool.shares[t].range,
                                  pack_range((uint64_t)(chunks * t / threads), (uint64_t)(chunks * (t + 1) / threads)),
                                  memory_order_relaxed);
    }
    dispatch();
}

void attn_parallel_for(int64_t n, int64_t grain, attn_task_fn fn, void *ctx) {
    parallel_for(n, grain, fn, ctx, STATIC, grain);
}

void attn_parallel_for_dynamic(int64_t n, int64_t grain, attn_task_fn fn, void *ctx) {
    parallel_for(n, grain, fn, ctx, DYNAMIC, grain);
}

void attn_parallel_for_streams(int64_t n, int64_t grain, int64_t piece, attn_task_fn fn, void *ctx) {
    parallel_for(n, grain, fn, ctx, STREAMS, piece);
}
