/* arena.h - planned memory: a model lays out every buffer it will need (weights copies, KV
 * cache, activations) in one arena at load time, so nothing allocates while it runs.
 * Planning is two passes over the same layout code: first with a measuring arena (no
 * memory; pushes return NULL and only count), then with a real one of the measured size. */
#ifndef ATTN_ARENA_H
#define ATTN_ARENA_H

#include <stdbool.h>
#include <stddef.h>

typedef struct {
    unsigned char *base; /* NULL while measuring */
    size_t size, used;
} attn_arena;

/* A measuring arena: pushes succeed, return NULL, and add up `used`. */
static inline attn_arena attn_arena_measure(void) { return (attn_arena){0}; }
/* Allocates `bytes` of zeroed memory; pages stay out of RSS until first touched. */
int attn_arena_init(attn_arena *a, size_t bytes);
/* 64-byte aligned block of `bytes`; NULL when measuring, or (with an error) when full. */
void *attn_arena_push(attn_arena *a, size_t bytes);
static inline bool attn_arena_measuring(const attn_arena *a) { return a->base == NULL; }
void attn_arena_free(attn_arena *a);

#endif
