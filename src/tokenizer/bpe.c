/* bpe.c - encoding and decoding with a loaded byte-level BPE tokenizer (see bpe.h for the
 * exact behaviour). Encoding cuts out added tokens, splits the rest into GPT-2 pieces
 * (pretokenize.c), and merges each piece's bytes by rank with a heap over a linked list,
 * so a pathological piece (a megabyte without spaces) costs O(n log n), not O(n^2).
 * Natural text repeats its words, so each call keeps a cache from piece to ids. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "core/common.h"
#include "tokenizer/bpe_internal.h"

typedef struct {
    int32_t *v;
    size_t n, cap;
} id_vec;

/* Piece bytes (borrowed from the text being encoded) -> a run of ids in `ids`. */
typedef struct {
    const char *key; /* NULL: empty */
    uint32_t len, hash, off, n;
} cache_slot;

enum { CACHE_MIN_SLOTS = 1 << 10, CACHE_MAX_SLOTS = 1 << 17 };

typedef struct {
    cache_slot *slots;
    uint32_t mask, count;
    id_vec ids;
} word_cache;

typedef struct {
    int32_t id; /* -1 once merged into its left neighbour */
    int32_t prev, next;
} symbol;

typedef struct {
    const attn_tokenizer *t;
    id_vec out;
    word_cache cache;
    symbol *syms; /* scratch for merging one piece */
    uint64_t *heap;
    size_t scratch_cap;
} encoder;

static int push_ids(id_vec *v, const int32_t *ids, size_t n) {
    if (bpe_vec_grow((void **)&v->v, &v->cap, v->n + n, sizeof *v->v)) return -1;
    memcpy(v->v + v->n, ids, n * sizeof *ids);
    v->n += n;
    return 0;
}

/* ---- the per-call word cache ---- */

static const cache_slot *cache_find(const word_cache *c, const char *s, uint32_t len, uint32_t h) {
    if (!c->slots) return NULL;
    for (uint32_t i = h & c->mask;; i = (i + 1) & c->mask) {
        const cache_slot *e = &c->slots[i];
        if (!e->key) return NULL;
        if (e->hash == h && e->len == len && memcmp(e->key, s, len) == 0) return e;
    }
}

static void cache_place(word_cache *c, cache_slot e) {
    uint32_t i = e.hash & c->mask;
    while (c->slots[i].key) i = (i + 1) & c->mask;
    c->slots[i] = e;
    c->count++;
}

/* Doubles the table at half load, up to a cap; past the cap new words are simply not
 * cached, which bounds memory on text with endless distinct words. */
static bool cache_make_room(word_cache *c) {
    uint32_t size = c->slots ? c->mask + 1 : 0;
    if (c->slots && c->count < size / 2) return true;
    if (size >= CACHE_MAX_SLOTS) return false;
    uint32_t nsize = size ? size * 2 : CACHE_MIN_SLOTS;
    cache_slot *old = c->slots;
    c->slots = calloc(nsize, sizeof *c->slots);
    if (!c->slots) { /* caching is only an optimisation: carry on without it */
        c->slots = old;
        return false;
    }
    c->mask = nsize - 1;
    c->count = 0;
    for (uint32_t i = 0; i < size; i++)
        if (old[i].key) cache_place(c, old[i]);
    free(old);
    return true;
}

static void cache_put(word_cache *c, const char *s, uint32_t len, uint32_t h, const int32_t *ids,
                      size_t n) {
    if (!cache_make_room(c)) return;
    uint32_t off = (uint32_t)c->ids.n;
    if (c->ids.n + n > UINT32_MAX || push_ids(&c->ids, ids, n)) return;
    cache_place(c, (cache_slot){s, len, h, off, (uint32_t)n});
}

/* ---- merging one piece ---- */

static int ensure_scratch(encoder *e, size_t n) {
    if (n <= e->scratch_cap) return 0;
    if (n > INT32_MAX / 2) /* symbol links are int32 */
        return attn_error("tokenizer: a single %zu-byte piece is too long to merge", n);
    size_t cap = ATTN_MAX(n, 2 * e->scratch_cap);
    free(e->syms);
    free(e->heap);
    e->syms = malloc(cap * sizeof *e->syms);
    e->heap = malloc(3 * cap * sizeof *e->heap); /* n-1 pairs, then at most 2 per merge */
    e->scratch_cap = e->syms && e->heap ? cap : 0;
    return e->scratch_cap ? 0 : attn_error("tokenizer: out of memory for a %zu-byte piece", n);
}

/* Min-heap of (rank << 32 | position): the lowest rank merges first, and among equal ranks
 * the leftmost, which is the order HF tokenizers and tiktoken use. */
static void heap_push(uint64_t *h, size_t *n, uint64_t x) {
    size_t i = (*n)++;
    while (i > 0 && h[(i - 1) / 2] > x) {
        h[i] = h[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    h[i] = x;
}

static uint64_t heap_pop(uint64_t *h, size_t *n) {
    uint64_t top = h[0], x = h[--*n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= *n) break;
        if (c + 1 < *n && h[c + 1] < h[c]) c++;
        if (h[c] >= x) break;
        h[i] = h[c];
        i = c;
    }
    h[i] = x;
    return top;
}

static void push_pair(const encoder *e, size_t *hn, int32_t left) {
    int32_t right = e->syms[left].next;
    if (right < 0) return;
    const bpe_pair_slot *p = bpe_pairmap_get(&e->t->merges, e->syms[left].id, e->syms[right].id);
    if (p) heap_push(e->heap, hn, (uint64_t)(uint32_t)p->rank << 32 | (uint32_t)left);
}

/* Heap entries are never removed when a merge makes them stale; instead a popped entry
 * counts only if the pair now at its position still has its rank. */
static void merge_symbols(encoder *e, size_t n) {
    symbol *sy = e->syms;
    size_t hn = 0;
    for (size_t i = 0; i + 1 < n; i++) push_pair(e, &hn, (int32_t)i);
    while (hn > 0) {
        uint64_t top = heap_pop(e->heap, &hn);
        int32_t i = (int32_t)(uint32_t)top, j = sy[i].next;
        if (sy[i].id < 0 || j < 0) continue;
        const bpe_pair_slot *p = bpe_pairmap_get(&e->t->merges, sy[i].id, sy[j].id);
        if (!p || (uint64_t)(uint32_t)p->rank != top >> 32) continue;
        sy[i].id = p->merged;
        sy[i].next = sy[j].next;
        sy[j].id = -1;
        if (sy[i].next >= 0) sy[sy[i].next].prev = i;
        if (sy[i].prev >= 0) push_pair(e, &hn, sy[i].prev);
        push_pair(e, &hn, i);
    }
}

/* Merges the piece and appends its ids to e->out (and to the cache). */
static int encode_piece_bpe(encoder *e, const uint8_t *s, size_t n, uint32_t hash) {
    if (ensure_scratch(e, n)) return -1;
    for (size_t i = 0; i < n; i++) {
        int32_t id = e->t->byte_token[s[i]];
        if (id < 0) return attn_error("tokenizer: the vocabulary has no token for byte 0x%02x", s[i]);
        e->syms[i] = (symbol){id, (int32_t)i - 1, i + 1 < n ? (int32_t)i + 1 : -1};
    }
    merge_symbols(e, n);
    size_t start = e->out.n;
    for (int32_t i = 0; i >= 0; i = e->syms[i].next)
        if (push_ids(&e->out, &e->syms[i].id, 1)) return -1;
    if (n <= UINT32_MAX)
        cache_put(&e->cache, (const char *)s, (uint32_t)n, hash, e->out.v + start, e->out.n - start);
    return 0;
}

static int encode_piece(encoder *e, const uint8_t *s, size_t n) {
    const attn_tokenizer *t = e->t;
    if (n == 1) {
        int32_t id = t->byte_token[s[0]];
        if (id < 0) return attn_error("tokenizer: the vocabulary has no token for byte 0x%02x", s[0]);
        return push_ids(&e->out, &id, 1);
    }
    if (t->ignore_merges) {
        int32_t id = bpe_strmap_get(&t->raw, (const char *)s, n);
        if (id >= 0) return push_ids(&e->out, &id, 1);
    }
    uint32_t h = bpe_hash_bytes((const char *)s, n);
    const cache_slot *c = n <= UINT32_MAX ? cache_find(&e->cache, (const char *)s, (uint32_t)n, h)
                                          : NULL;
    if (c) return push_ids(&e->out, e->cache.ids.v + c->off, c->n);
    return encode_piece_bpe(e, s, n, h);
}

/* Character tokenizers (chars.c) give at most one id per byte. */
static int encode_chars(encoder *e, const uint8_t *s, size_t n) {
    size_t k = 0;
    if (bpe_vec_grow((void **)&e->out.v, &e->out.cap, e->out.n + n, sizeof *e->out.v) ||
        bpe_chars_encode(e->t, s, n, e->out.v + e->out.n, &k))
        return -1;
    e->out.n += k;
    return 0;
}

static int piece_cb(void *e, const uint8_t *s, size_t n) { return encode_piece(e, s, n); }

static int encode_plain(encoder *e, const uint8_t *s, size_t n) {
    if (n == 0) return 0;
    if (e->t->spm) return bpe_spm_encode(e->t, s, n, &e->out.v, &e->out.n, &e->out.cap);
    if (e->t->chars) return encode_chars(e, s, n);
    if (!e->t->use_regex) return encode_piece(e, s, n);
    if (e->t->pre != BPE_PRE_GPT2) return bpe_pre_split(e->t->pre, s, n, piece_cb, e);
    for (size_t pos = 0; pos < n;) {
        size_t end = bpe_gpt2_piece_end(s, n, pos);
        if (encode_piece(e, s + pos, end - pos)) return -1;
        pos = end;
    }
    return 0;
}

/* The longest added token starting at s[0], or NULL. Special ones only when asked. */
static const bpe_added *match_added(const attn_tokenizer *t, const uint8_t *s, size_t n,
                                    bool parse_special) {
    for (uint32_t k = t->added_first[s[0]]; k < t->added_first[s[0] + 1]; k++) {
        const bpe_added *a = &t->added[k];
        if (a->special && !parse_special) continue;
        if (a->len <= n && memcmp(t->pool + a->off, s, a->len) == 0) return a;
    }
    return NULL;
}

static int encode_all(encoder *e, const uint8_t *s, size_t n, bool parse_special) {
    const attn_tokenizer *t = e->t;
    size_t start = 0;
    for (size_t pos = 0; t->n_added > 0 && pos < n;) {
        const bpe_added *a = NULL;
        if (t->added_first[s[pos]] != t->added_first[s[pos] + 1])
            a = match_added(t, s + pos, n - pos, parse_special);
        if (!a) {
            pos++;
            continue;
        }
        if (encode_plain(e, s + start, pos - start) || push_ids(&e->out, &a->id, 1)) return -1;
        pos += a->len;
        start = pos;
    }
    return encode_plain(e, s + start, n - start);
}

int attn_tokenizer_encode(const attn_tokenizer *tok, const char *text, size_t len,
                          bool parse_special, int32_t **ids_out, int *n_out) {
    *ids_out = NULL;
    *n_out = 0;
    if (!tok) return attn_error("tokenizer: encode called without a tokenizer");
    if (!text && len) return attn_error("tokenizer: encode called with NULL text");
    encoder e = {.t = tok};
    int rc = encode_all(&e, (const uint8_t *)text, len, parse_special);
    if (rc == 0 && e.out.n > INT_MAX) rc = attn_error("tokenizer: %zu tokens overflow int", e.out.n);
    free(e.cache.slots);
    free(e.cache.ids.v);
    free(e.syms);
    free(e.heap);
    if (rc) {
        free(e.out.v);
        return -1;
    }
    *ids_out = e.out.v;
    *n_out = (int)e.out.n;
    return 0;
}

/* The one place a BOS is added to a prompt (see bpe.h for the rule). */
int attn_tokenizer_encode_prompt(const attn_tokenizer *tok, const char *text, size_t len,
                                 bool parse_special, int32_t **ids_out, int *n_out) {
    if (attn_tokenizer_encode(tok, text, len, parse_special, ids_out, n_out)) return -1;
    int32_t bos = tok->bos_to_add;
    int n = *n_out;
    if (bos < 0 || (n > 0 && (*ids_out)[0] == bos)) return 0;
    int32_t *ids = n < INT_MAX ? realloc(*ids_out, ((size_t)n + 1) * sizeof *ids) : NULL;
    if (!ids) {
        free(*ids_out);
        *ids_out = NULL;
        *n_out = 0;
        return attn_error("tokenizer: out of memory adding BOS to %d tokens", n);
    }
    memmove(ids + 1, ids, (size_t)n * sizeof *ids);
    ids[0] = bos;
    *ids_out = ids;
    *n_out = n + 1;
    return 0;
}

/* ---- decoding and lookups ---- */

const char *attn_tokenizer_token_bytes(const attn_tokenizer *tok, int32_t id, size_t *len_out) {
    if (!tok || id < 0 || id >= tok->n_ids || tok->raw_len[id] == UINT32_MAX) return NULL;
    if (len_out) *len_out = tok->raw_len[id];
    return tok->pool + tok->raw_off[id];
}

int attn_tokenizer_decode(const attn_tokenizer *tok, const int32_t *ids, int n, char **text_out,
                          size_t *len_out) {
    *text_out = NULL;
    size_t total = 0, len;
    for (int i = 0; i < n; i++) {
        if (!attn_tokenizer_token_bytes(tok, ids[i], &len))
            return attn_error("tokenizer: cannot decode id %d at position %d (vocab size %d)",
                              (int)ids[i], i, tok ? (int)tok->n_ids : 0);
        total += len;
    }
    size_t skip = tok->spm ? bpe_spm_decode_skip(tok, ids, n) : 0; /* SentencePiece's prefix */
    char *buf = malloc(total + 1);
    if (!buf) return attn_error("tokenizer: out of memory decoding %d tokens", n);
    size_t at = 0;
    for (int i = 0; i < n; i++) {
        const char *b = attn_tokenizer_token_bytes(tok, ids[i], &len);
        memcpy(buf + at, b, len);
        at += len;
    }
    memmove(buf, buf + skip, total - skip);
    total -= skip;
    buf[total] = 0;
    *text_out = buf;
    if (len_out) *len_out = total;
    return 0;
}

int attn_tokenizer_vocab_size(const attn_tokenizer *tok) { return tok ? tok->n_ids : 0; }

int32_t attn_tokenizer_eos(const attn_tokenizer *tok) { return tok ? tok->eos : -1; }

int32_t attn_tokenizer_bos_to_add(const attn_tokenizer *tok) { return tok ? tok->bos_to_add : -1; }

int32_t attn_tokenizer_find(const attn_tokenizer *tok, const char *token_text) {
    if (!tok || !token_text) return -1;
    return bpe_strmap_get(&tok->vocab, token_text, strlen(token_text));
}
