/* common.h - shared basics for every libattn file: error reporting, allocation helpers,
 * small utilities. The library never calls exit(): functions return 0 / non-NULL on
 * success and -1 / NULL on failure, after recording a one-line message that
 * attn_last_error() returns (thread-local, like errno; declared in <attn/core.h>). */
#ifndef ATTN_COMMON_H
#define ATTN_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include <attn/core.h> /* attn_last_error, attn_clear_error */

#define ATTN_ALIGN 64

#if defined(__GNUC__)
#define ATTN_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define ATTN_PRINTF(a, b)
#endif

/* Records a formatted error message for the current thread and returns -1, so callers can
 * write `return attn_error("...")`. */
int attn_error(const char *fmt, ...) ATTN_PRINTF(1, 2);

/* 64-byte aligned allocations (cache line / AVX-512 width). Return NULL and set the error
 * message on failure. */
void *attn_alloc(size_t bytes);
void *attn_calloc(size_t bytes);
void attn_free(void *p);

/* A large buffer that is read start to end again and again (repacked weights): anonymous
 * memory aligned to 2 MB and offered transparent huge pages, so a stream through it takes a
 * TLB entry per 2 MB instead of per 4 KB. Free it with attn_free_stream and the same size. */
void *attn_alloc_stream(size_t bytes);
void attn_free_stream(void *p, size_t bytes);

/* Whether s ends with suffix (file extensions, tensor names). */
bool attn_ends_with(const char *s, const char *suffix);

/* Reads a whole file into memory (NUL-terminated for convenience). */
char *attn_read_file(const char *path, size_t *size_out);
/* The folder holding `path` into out: "." for a bare name, "/" for a name at the root. */
void attn_path_dir(const char *path, char *out, size_t cap);

/* Monotonic wall clock in seconds. */
double attn_time_s(void);
/* CPU time of the whole process (all threads) in seconds. */
double attn_cpu_time_s(void);

/* A feature that is on unless the environment variable `name` is "0" (ATTN_DOT, ATTN_AMX,
 * ATTN_PANELS): *flag starts at -1 and caches the answer on first use; storing 0 or 1 in it
 * overrides the environment (tests). */
bool attn_switch_on(_Atomic int *flag, const char *name);

/* Median of n timings (the mean of the middle two for even n; 0 for none); sorts v. */
double attn_median(double *v, int64_t n);

/* Bytes of the valid UTF-8 character at s, of the n there: 1-4, or 0 where they are no
 * UTF-8 (RFC 3629: a stray or missing continuation byte, an overlong form, a surrogate, past
 * U+10FFFF). */
size_t attn_utf8_char(const char *s, size_t n);
/* 1 + the offset of the first byte of s[0..n) that starts no valid character; 0 if all valid. */
size_t attn_utf8_first_invalid(const char *s, size_t n);
/* A malloc'd, NUL-terminated copy of s[0..n) with each byte that starts no valid character
 * replaced by U+FFFD (what JSON and XML need, from models that emit any byte); its length in
 * *out_n when out_n is not NULL. NULL when out of memory. */
char *attn_utf8_repair(const char *s, size_t n, size_t *out_n);

/* Peak resident set size of this process in bytes (from getrusage). */
size_t attn_peak_rss_bytes(void);

#define ATTN_MIN(a, b) ((a) < (b) ? (a) : (b))
#define ATTN_MAX(a, b) ((a) > (b) ? (a) : (b))

#endif
