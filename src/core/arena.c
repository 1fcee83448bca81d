/* arena.c - a bump allocator over one calloc'd block (see arena.h). */
#include "arena.h"

#include <stdlib.h>
#include "common.h"

int attn_arena_init(attn_arena *a, size_t bytes) {
    /* calloc of a large block maps fresh zero pages: untouched parts cost no memory */
    a->base = calloc(1, bytes + ATTN_ALIGN);
    if (!a->base) return attn_error("out of memory reserving %zu MB", bytes >> 20);
    a->size = bytes + ATTN_ALIGN;
    a->used = (size_t)(-(uintptr_t)a->base & (ATTN_ALIGN - 1)); /* first push is aligned */
    return 0;
}

void *attn_arena_push(attn_arena *a, size_t bytes) {
    size_t start = (a->used + ATTN_ALIGN - 1) & ~(size_t)(ATTN_ALIGN - 1);
    if (!a->base) {
        a->used = start + bytes;
        return NULL;
    }
    if (start + bytes > a->size || start + bytes < start) {
        attn_error("arena of %zu bytes is full (asked for %zu more)", a->size, bytes);
        return NULL;
    }
    a->used = start + bytes;
    return a->base + start;
}

void attn_arena_free(attn_arena *a) {
    free(a->base);
    *a = (attn_arena){0};
}
