/* threadpool.h - one global pool of worker threads. Kernels split their rows among the
 * threads with attn_parallel_for; workers spin briefly between jobs (decoding issues
 * thousands of small jobs a second) and sleep when idle. */
#ifndef ATTN_THREADPOOL_H
#define ATTN_THREADPOOL_H

#include <stdint.h>
#include <attn/core.h> /* attn_threads_init, attn_threads_count */

/* fn handles items [begin, end) on thread `thread` (0 = the caller). */
typedef void (*attn_task_fn)(void *ctx, int64_t begin, int64_t end, int thread);

/* The calling thread's index while it runs a share of a job, else -1. */
int attn_thread_current(void);

/* Splits [0, n) into one contiguous range per thread, each a multiple of `grain` items
 * (except the last), and waits for all. Runs inline when n is small or when called from
 * inside a task. */
void attn_parallel_for(int64_t n, int64_t grain, attn_task_fn fn, void *ctx);

/* The same, but threads take `grain`-item chunks one at a time from a shared counter, so
 * fn may be called several times per thread, and a thread the host stalls holds up only
 * its current chunk. For work whose result does not depend on which thread does it. */
void attn_parallel_for_dynamic(int64_t n, int64_t grain, attn_task_fn fn, void *ctx);
/* For work that streams memory too: each thread starts on an even contiguous share and walks
 * it forward, so its reads form one stream the prefetchers follow; a thread that runs out
 * takes the back half of the largest rest another has left. fn runs on pieces that shrink
 * with the rest (an eighth of it, but `piece` items, rounded down to whole grains, at least:
 * each piece claimed costs a locked instruction). */
void attn_parallel_for_streams(int64_t n, int64_t grain, int64_t piece, attn_task_fn fn, void *ctx);

#endif
