/* test_threadpool.c - the pool's contract: every item is handled exactly once for any thread
 * count and grain (static, dynamic and streams splits, whose chunks start and end on
 * whole grains), a thread that finishes its stream takes over the rest of a stalled one,
 * resizing works, and a parallel_for issued from inside a job runs inline with the calling
 * thread's index (so per-thread scratch is never shared between threads). */
#include <stdatomic.h>
#include <time.h>
#include "core/common.h"
#include "core/threadpool.h"
#include "test.h"

static _Atomic int hits[10007];
static _Atomic int wrong_index, off_grain;

typedef struct {
    int64_t n, grain;
} split;

static void count_task(void *ctx, int64_t b, int64_t e, int thread) {
    (void)thread;
    const split *sp = ctx;
    if (b % sp->grain || (e != sp->n && e % sp->grain)) atomic_fetch_add(&off_grain, 1);
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

/* Thread 1 stalls in its first piece until the last item is done: only a steal by thread 0
 * (the back half of thread 1's rest) can do it. Gives up after 10 s, and says so. */
static _Atomic int stall_gave_up, last_item_thread = -1;

static void stall_task(void *ctx, int64_t b, int64_t e, int thread) {
    const split *sp = ctx;
    if (thread == 1 && b == sp->n / 2) {
        struct timespec nap = {0, 100000};
        int i = 0;
        while (i++ < 100000 && !atomic_load(&hits[sp->n - 1])) nanosleep(&nap, NULL);
        if (!atomic_load(&hits[sp->n - 1])) stall_gave_up = 1;
    }
    for (int64_t i = b; i < e; i++) atomic_fetch_add(&hits[i], 1);
    if (e == sp->n) last_item_thread = thread;
}

static void check_steal(void) {
    split sp = {1000, 1};
    for (int64_t i = 0; i < sp.n; i++) hits[i] = 0;
    attn_parallel_for_streams(sp.n, 1, 1, stall_task, &sp);
    int bad = 0;
    for (int64_t i = 0; i < sp.n; i++) bad += hits[i] != 1;
    CHECK(bad == 0, "streams with a stalled thread: %d items not handled once", bad);
    CHECK(!stall_gave_up && last_item_thread == 0,
          "streams: the last item went to thread %d%s, not to thread 0 stealing from stalled thread 1",
          (int)last_item_thread, stall_gave_up ? " after a 10 s stall" : "");
}

int main(void) {
    int64_t sizes[] = {1, 2, 7, 64, 1000, 10007};
    for (int threads = 1; threads <= 3; threads++) {
        CHECK(attn_threads_init(threads) == 0, "init %d: %s", threads, attn_last_error());
        CHECK(attn_threads_count() == threads, "count %d", attn_threads_count());
        for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++)
            for (int64_t grain = 1; grain <= 64; grain *= 8) {
                for (int how = 0; how <= 2; how++) { /* static, dynamic, streams */
                    static const char *names[] = {"", " (dynamic)", " (streams)"};
                    split sp = {sizes[s], grain};
                    for (int64_t i = 0; i < sizes[s]; i++) hits[i] = 0;
                    off_grain = 0;
                    if (how == 1) attn_parallel_for_dynamic(sizes[s], grain, count_task, &sp);
                    else if (how == 2) attn_parallel_for_streams(sizes[s], grain, grain, count_task, &sp);
                    else attn_parallel_for(sizes[s], grain, count_task, &sp);
                    int bad = 0;
                    for (int64_t i = 0; i < sizes[s]; i++) bad += hits[i] != 1;
                    CHECK(bad == 0, "%d threads, n=%lld grain=%lld%s: %d items not handled once", threads,
                          (long long)sizes[s], (long long)grain, names[how], bad);
                    CHECK(off_grain == 0, "%d threads, n=%lld grain=%lld%s: %d chunks not on whole grains",
                          threads, (long long)sizes[s], (long long)grain, names[how], (int)off_grain);
                }
            }
        if (threads == 2) check_steal();
        wrong_index = 0;
        attn_parallel_for(threads * 4, 1, outer_task, NULL);
        CHECK(wrong_index == 0, "%d threads: nested calls saw another thread's index %d times", threads,
              (int)wrong_index);
    }
    CHECK(attn_thread_current() == -1, "outside a job the current thread is %d", attn_thread_current());
    return test_finish("test_threadpool");
}
