/* test_threadpool.c - the pool's contract: every item is handled exactly once for any thread
 * count and grain, resizing works, and a parallel_for issued from inside a job runs inline
 * with the calling thread's index (so per-thread scratch is never shared between threads). */
#include <stdatomic.h>
#include "core/common.h"
#include "core/threadpool.h"
#include "test.h"

static _Atomic int hits[10007];
static _Atomic int wrong_index;

static void count_task(void *ctx, int64_t b, int64_t e, int thread) {
    (void)ctx, (void)thread;
    for (int64_t i = b; i < e; i++) atomic_fetch_add(&hits[i], 1);
}

static void inner_task(void *ctx, int64_t b, int64_t e, int thread) {
    (void)b, (void)e;
    if (thread != *(int *)ctx) atomic_fetch_add(&wrong_index, 1);
}

static void outer_task(void *ctx, int64_t b, int64_t e, int thread) {
    (void)ctx;
    for (int64_t i = b; i < e; i++) {
        if (attn_thread_current() != thread) atomic_fetch_add(&wrong_index, 1);
        attn_parallel_for(1000, 1, inner_task, &thread);
    }
}

int main(void) {
    int64_t sizes[] = {1, 2, 7, 64, 1000, 10007};
    for (int threads = 1; threads <= 3; threads++) {
        CHECK(attn_threads_init(threads) == 0, "init %d: %s", threads, attn_last_error());
        CHECK(attn_threads_count() == threads, "count %d", attn_threads_count());
        for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++)
            for (int64_t grain = 1; grain <= 64; grain *= 8) {
                for (int dynamic = 0; dynamic <= 1; dynamic++) {
                    for (int64_t i = 0; i < sizes[s]; i++) hits[i] = 0;
                    if (dynamic) attn_parallel_for_dynamic(sizes[s], grain, count_task, NULL);
                    else attn_parallel_for(sizes[s], grain, count_task, NULL);
                    int bad = 0;
                    for (int64_t i = 0; i < sizes[s]; i++) bad += hits[i] != 1;
                    CHECK(bad == 0, "%d threads, n=%lld grain=%lld%s: %d items not handled once", threads,
                          (long long)sizes[s], (long long)grain, dynamic ? " (dynamic)" : "", bad);
                }
            }
        wrong_index = 0;
        attn_parallel_for(threads * 4, 1, outer_task, NULL);
        CHECK(wrong_index == 0, "%d threads: nested calls saw another thread's index %d times", threads,
              (int)wrong_index);
    }
    CHECK(attn_thread_current() == -1, "outside a job the current thread is %d", attn_thread_current());
    return test_finish("test_threadpool");
}
