/* bandwidth.h - a probe of the memory's read bandwidth: a buffer read by all threads as
 * decoding reads a matrix (`attn bench --bandwidth`, and bench_bursts between its bursts). */
#ifndef ATTN_BANDWIDTH_H
#define ATTN_BANDWIDTH_H

#include <stddef.h>

typedef struct attn_bw_probe attn_bw_probe;

/* A probe over `bytes` of memory, filled once; NULL (attn_last_error) if out of memory. The
 * memory is allocated as repacked weights are (huge pages where offered): read as they are
 * read, and 512 page faults a GiB instead of 262144 (seconds of a VM's time). Kept, it can be
 * run again and again without the allocation's page faults and the kernel's work to free them. */
attn_bw_probe *attn_bw_probe_new(size_t bytes);
/* The best of `reps` reads of the whole buffer by all threads, in GB/s. */
double attn_bw_probe_run(attn_bw_probe *p, int reps);
void attn_bw_probe_free(attn_bw_probe *p);

#endif
