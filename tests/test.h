/* test.h - a minimal test harness. Each tests/test_*.c is one program of many checks;
 * CHECK records a failure and carries on, so one run shows every broken case. A program
 * exits 0 when all checks pass, 1 when any fails, 77 when it skipped (missing data). */
#ifndef ATTN_TEST_H
#define ATTN_TEST_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int test_checks, test_failures;

#define CHECK(cond, ...)                                                              \
    do {                                                                              \
        test_checks++;                                                                \
        if (!(cond)) {                                                                \
            test_failures++;                                                          \
            fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);           \
            fprintf(stderr, __VA_ARGS__);                                             \
            fprintf(stderr, "\n");                                                    \
        }                                                                             \
    } while (0)

/* |a-b| <= tol, with a message naming what was compared. */
#define CHECK_NEAR(a, b, tol, what)                                                   \
    CHECK(fabs((double)(a) - (double)(b)) <= (tol), "%s: %.9g vs %.9g (tol %g)",      \
          (what), (double)(a), (double)(b), (double)(tol))

#define TEST_SKIP(...)                                                                \
    do {                                                                              \
        printf("SKIP: ");                                                             \
        printf(__VA_ARGS__);                                                          \
        printf("\n");                                                                 \
        exit(77);                                                                     \
    } while (0)

static inline int test_finish(const char *name) {
    printf("%s: %d checks, %d failed\n", name, test_checks, test_failures);
    return test_failures ? 1 : 0;
}

/* Where ../shared/data lives: $ATTN_DATA, else ../shared/data beside the repo. NULL if absent. */
static inline const char *test_data_dir(void) {
    static char buf[4096];
    const char *env = getenv("ATTN_DATA");
    if (env && *env) return env;
    const char *candidates[] = {"../shared/data", "../../shared/data"};
    for (size_t i = 0; i < sizeof candidates / sizeof *candidates; i++) {
        snprintf(buf, sizeof buf, "%s/SOURCES.md", candidates[i]);
        FILE *f = fopen(buf, "r");
        if (f) {
            fclose(f);
            snprintf(buf, sizeof buf, "%s", candidates[i]);
            return buf;
        }
    }
    return NULL;
}

#endif
