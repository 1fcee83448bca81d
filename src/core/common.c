/* common.c - error messages, aligned allocation, file reading, clocks. */
#include "common.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <time.h>

static _Thread_local char last_error[512];

int attn_error(const char *fmt, ...) {
    char msg[sizeof last_error]; /* callers may pass attn_last_error() to prefix it */
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    memcpy(last_error, msg, sizeof msg);
    return -1;
}

const char *attn_version(void) { return ATTN_VERSION_STRING; }

bool attn_ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

const char *attn_last_error(void) { return last_error[0] ? last_error : "unknown error"; }

void attn_clear_error(void) { last_error[0] = 0; }

void *attn_alloc(size_t bytes) {
    if (bytes == 0) bytes = ATTN_ALIGN;
    size_t rounded = (bytes + ATTN_ALIGN - 1) / ATTN_ALIGN * ATTN_ALIGN;
    if (rounded < bytes) {
        attn_error("allocation of %zu bytes overflows", bytes);
        return NULL;
    }
    void *p = aligned_alloc(ATTN_ALIGN, rounded);
    if (!p) attn_error("out of memory allocating %zu bytes", bytes);
    return p;
}

void *attn_calloc(size_t bytes) {
    void *p = attn_alloc(bytes);
    if (p) memset(p, 0, bytes);
    return p;
}

void attn_free(void *p) { free(p); }

#define HUGE_PAGE ((size_t)2 << 20)

static size_t stream_span(size_t bytes) { return (bytes + HUGE_PAGE - 1) / HUGE_PAGE * HUGE_PAGE; }

void *attn_alloc_stream(size_t bytes) {
    size_t span = stream_span(bytes ? bytes : 1);
    if (span < bytes || span > SIZE_MAX - HUGE_PAGE) {
        attn_error("allocation of %zu bytes overflows", bytes);
        return NULL;
    }
    /* map a huge page more than needed, then trim both ends to a 2 MB boundary */
    uint8_t *raw = mmap(NULL, span + HUGE_PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (raw == MAP_FAILED) {
        attn_error("out of memory allocating %zu bytes: %s", bytes, strerror(errno));
        return NULL;
    }
    uint8_t *p = (uint8_t *)(((uintptr_t)raw + HUGE_PAGE - 1) & ~(uintptr_t)(HUGE_PAGE - 1));
    if (p > raw) munmap(raw, (size_t)(p - raw));
    if (raw + span + HUGE_PAGE > p + span) munmap(p + span, (size_t)(raw + span + HUGE_PAGE - (p + span)));
#if defined(MADV_HUGEPAGE)
    madvise(p, span, MADV_HUGEPAGE); /* advice: without transparent huge pages it is ignored */
#endif
    return p;
}

void attn_free_stream(void *p, size_t bytes) {
    if (p) munmap(p, stream_span(bytes ? bytes : 1));
}

void attn_path_dir(const char *path, char *out, size_t cap) {
    const char *slash = strrchr(path, '/');
    if (!slash) snprintf(out, cap, ".");
    else if (slash == path) snprintf(out, cap, "/");
    else snprintf(out, cap, "%.*s", (int)(slash - path), path);
}

char *attn_read_file(const char *path, size_t *size_out) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        attn_error("%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    char *buf = NULL;
    size_t cap = 0, len = 0;
    for (;;) {
        if (len + 65536 + 1 > cap) {
            cap = cap ? cap * 2 : 65536 * 2;
            char *nb = realloc(buf, cap);
            if (!nb) {
                free(buf);
                fclose(f);
                attn_error("%s: out of memory reading file", path);
                return NULL;
            }
            buf = nb;
        }
        size_t got = fread(buf + len, 1, cap - len - 1, f);
        len += got;
        if (got == 0) break;
    }
    int bad = ferror(f) ? errno : 0; /* the reason, e.g. EISDIR: fopen opens a folder */
    fclose(f);
    if (bad) {
        free(buf);
        attn_error("%s: cannot read: %s", path, strerror(bad));
        return NULL;
    }
    buf[len] = 0;
    if (size_out) *size_out = len;
    return buf;
}

double attn_time_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

double attn_cpu_time_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

bool attn_switch_on(_Atomic int *flag, const char *name) {
    int on = atomic_load_explicit(flag, memory_order_relaxed);
    if (on < 0) {
        const char *env = getenv(name);
        on = !(env && strcmp(env, "0") == 0);
        atomic_store_explicit(flag, on, memory_order_relaxed);
    }
    return on;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double attn_median(double *v, int64_t n) {
    if (n <= 0) return 0;
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

size_t attn_peak_rss_bytes(void) {
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0) return 0;
    return (size_t)ru.ru_maxrss * 1024;
}

size_t attn_utf8_char(const char *str, size_t n) {
    const unsigned char *s = (const unsigned char *)str;
    if (n == 0) return 0;
    if (s[0] < 0x80) return 1;
    size_t k = s[0] >= 0xF0 ? 4 : s[0] >= 0xE0 ? 3 : s[0] >= 0xC2 ? 2 : 0;
    if (k == 0 || s[0] > 0xF4 || k > n) return 0;
    for (size_t i = 1; i < k; i++)
        if ((s[i] & 0xC0) != 0x80) return 0;
    if (k == 3 && ((s[0] == 0xE0 && s[1] < 0xA0) || (s[0] == 0xED && s[1] >= 0xA0))) return 0;
    if (k == 4 && ((s[0] == 0xF0 && s[1] < 0x90) || (s[0] == 0xF4 && s[1] >= 0x90))) return 0;
    return k;
}

size_t attn_utf8_first_invalid(const char *s, size_t n) {
    for (size_t i = 0, k; i < n; i += k)
        if (!(k = attn_utf8_char(s + i, n - i))) return i + 1;
    return 0;
}

char *attn_utf8_repair(const char *s, size_t n, size_t *out_n) {
    char *out = malloc(3 * n + 1), *o = out;
    if (!out) return NULL;
    for (size_t i = 0; i < n;) {
        size_t k = attn_utf8_char(s + i, n - i);
        if (k) memcpy(o, s + i, k), o += k, i += k;
        else memcpy(o, "\xEF\xBF\xBD", 3), o += 3, i++;
    }
    *o = 0;
    if (out_n) *out_n = (size_t)(o - out);
    return out;
}
