/* bpe_map.c - the tokenizer's two fixed-size open-addressing hash maps (linear probing):
 * vocab strings -> ids, and merge pairs -> ranks. Both are filled once at load time and
 * then only read, so neither needs deletion or resizing. */
#include "tokenizer/bpe_internal.h"

#include <stdlib.h>
#include <string.h>

#include "core/common.h"

/* Power of two at least twice the expected count, so probes stay short and a free slot
 * always exists. */
static uint32_t table_size(size_t expected) {
    size_t n = 16;
    while (n < expected * 2) n *= 2;
    return (uint32_t)n;
}

int bpe_strmap_init(bpe_strmap *m, size_t expected) {
    if (expected > (1u << 28)) return attn_error("tokenizer: %zu strings is too many", expected);
    uint32_t n = table_size(expected);
    m->slots = calloc(n, sizeof *m->slots);
    if (!m->slots) return attn_error("tokenizer: out of memory for a %u-slot map", n);
    m->mask = n - 1;
    m->count = 0;
    return 0;
}

void bpe_strmap_free(bpe_strmap *m) {
    free(m->slots);
    m->slots = NULL;
}

void bpe_strmap_put(bpe_strmap *m, const char *key, size_t len, int32_t value) {
    uint32_t h = bpe_hash_bytes(key, len);
    for (uint32_t i = h & m->mask;; i = (i + 1) & m->mask) {
        bpe_str_slot *s = &m->slots[i];
        if (!s->key) {
            if (m->count + 1 > m->mask / 2 + 1) return; /* full: init was told a wrong size */
            *s = (bpe_str_slot){key, (uint32_t)len, h, value};
            m->count++;
            return;
        }
        if (s->hash == h && s->len == len && memcmp(s->key, key, len) == 0) {
            s->value = value;
            return;
        }
    }
}

int32_t bpe_strmap_get(const bpe_strmap *m, const char *key, size_t len) {
    if (!m->slots) return -1;
    uint32_t h = bpe_hash_bytes(key, len);
    for (uint32_t i = h & m->mask;; i = (i + 1) & m->mask) {
        const bpe_str_slot *s = &m->slots[i];
        if (!s->key) return -1;
        if (s->hash == h && s->len == len && memcmp(s->key, key, len) == 0) return s->value;
    }
}

static inline uint64_t pair_key(int32_t left, int32_t right) {
    return (uint64_t)(uint32_t)left << 32 | (uint32_t)right;
}

/* Mixes both ids into the low bits (ids are small, so the raw key would cluster). */
static inline uint32_t pair_hash(uint64_t k) {
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdull;
    k ^= k >> 33;
    return (uint32_t)k;
}

int bpe_pairmap_init(bpe_pairmap *m, size_t expected) {
    if (expected > (1u << 28)) return attn_error("tokenizer: %zu merges is too many", expected);
    uint32_t n = table_size(expected);
    m->slots = malloc((size_t)n * sizeof *m->slots);
    if (!m->slots) return attn_error("tokenizer: out of memory for a %u-slot map", n);
    for (uint32_t i = 0; i < n; i++) m->slots[i].key = UINT64_MAX;
    m->mask = n - 1;
    m->count = 0;
    return 0;
}

void bpe_pairmap_free(bpe_pairmap *m) {
    free(m->slots);
    m->slots = NULL;
}

void bpe_pairmap_put(bpe_pairmap *m, int32_t left, int32_t right, int32_t rank, int32_t merged) {
    uint64_t k = pair_key(left, right);
    for (uint32_t i = pair_hash(k) & m->mask;; i = (i + 1) & m->mask) {
        bpe_pair_slot *s = &m->slots[i];
        if (s->key == UINT64_MAX) {
            if (m->count + 1 > m->mask / 2 + 1) return;
            *s = (bpe_pair_slot){k, rank, merged};
            m->count++;
            return;
        }
        if (s->key == k) { /* a repeated merge: the later line wins, as in HF and GPT-2 */
            s->rank = rank;
            s->merged = merged;
            return;
        }
    }
}

const bpe_pair_slot *bpe_pairmap_get(const bpe_pairmap *m, int32_t left, int32_t right) {
    uint64_t k = pair_key(left, right);
    for (uint32_t i = pair_hash(k) & m->mask;; i = (i + 1) & m->mask) {
        const bpe_pair_slot *s = &m->slots[i];
        if (s->key == k) return s;
        if (s->key == UINT64_MAX) return NULL;
    }
}
