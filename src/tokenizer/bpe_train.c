/* bpe_train.c - the byte-level BPE trainer (see bpe_train.h for what it computes and why it
 * matches HF tokenizers' BpeTrainer). Three stages:
 *   feed:  text -> lines -> GPT-2 pieces -> a table of distinct words with counts;
 *   train: words -> symbol sequences; pair counts and, per pair, the words holding it; a
 *          max-heap of pairs; repeatedly merge the top pair in its words only, applying
 *          the count changes each merge reports and pushing the pairs it created;
 *   save:  vocab and merges as a Hugging Face tokenizer.json. */
#include "tokenizer/bpe_train.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "core/common.h"
#include "format/fileio.h"
#include "tokenizer/bpe_internal.h"

#define ENDOFTEXT "<|endoftext|>"

/* ---- byte strings addressed by index, and a hash index over them ---- */

typedef struct {
    char *pool;
    size_t used, cap;
    uint64_t *off;
    uint32_t *len;
    uint32_t n, cap_n;
} str_list;

typedef struct {
    str_list s;
    uint32_t *hash;  /* per string */
    uint32_t *slots; /* string index + 1; 0 = empty */
    uint32_t mask;
} key_table;

static int grow(void **p, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap) return 0;
    size_t n = *cap ? *cap : 64;
    while (n < need) n *= 2;
    void *np = realloc(*p, n * elem);
    if (!np) return attn_error("tokenizer training: out of memory");
    *p = np;
    *cap = n;
    return 0;
}

/* Resizes an array that shares its capacity with others to exactly cap elements. */
static int resize(void **p, size_t cap, size_t elem) {
    void *np = realloc(*p, cap * elem);
    if (!np) return attn_error("tokenizer training: out of memory");
    *p = np;
    return 0;
}

static void str_list_free(str_list *l) {
    free(l->pool), free(l->off), free(l->len);
    memset(l, 0, sizeof *l);
}

/* Appends a string; its index, or -1. */
static int64_t str_list_push(str_list *l, const char *s, size_t len) {
    if (len > UINT32_MAX || l->n >= UINT32_MAX / 2)
        return attn_error("tokenizer training: too many or too long strings");
    if (grow((void **)&l->pool, &l->cap, l->used + len, 1)) return -1;
    if (l->n == l->cap_n) {
        size_t cap = l->cap_n ? 2 * (size_t)l->cap_n : 256;
        if (resize((void **)&l->off, cap, sizeof *l->off) || resize((void **)&l->len, cap, sizeof *l->len))
            return -1;
        l->cap_n = (uint32_t)cap;
    }
    if (len) memcpy(l->pool + l->used, s, len);
    l->off[l->n] = l->used;
    l->len[l->n] = (uint32_t)len;
    l->used += len;
    return l->n++;
}

static inline const char *str_at(const str_list *l, uint32_t i) { return l->pool + l->off[i]; }

static void key_table_free(key_table *k) {
    str_list_free(&k->s);
    free(k->hash), free(k->slots);
    memset(k, 0, sizeof *k);
}

static int64_t key_table_find(const key_table *k, const char *s, size_t len, uint32_t h) {
    if (!k->slots) return -1;
    for (uint32_t i = h & k->mask;; i = (i + 1) & k->mask) {
        uint32_t j = k->slots[i];
        if (!j) return -1;
        j--;
        if (k->hash[j] == h && k->s.len[j] == len && memcmp(str_at(&k->s, j), s, len) == 0) return j;
    }
}

/* Doubles the index when it is half full, so probes stay short. */
static int key_table_reindex(key_table *k) {
    uint32_t size = k->slots ? k->mask + 1 : 0;
    if ((uint64_t)k->s.n * 2 <= size) return 0;
    size = size ? size * 2 : 1024;
    uint32_t *slots = size ? calloc(size, sizeof *slots) : NULL;
    if (!slots) return attn_error("tokenizer training: out of memory");
    for (uint32_t i = 0; i < k->s.n; i++) {
        uint32_t j = k->hash[i] & (size - 1);
        while (slots[j]) j = (j + 1) & (size - 1);
        slots[j] = i + 1;
    }
    free(k->slots);
    k->slots = slots;
    k->mask = size - 1;
    return 0;
}

/* Index of the key, adding it when absent (*added tells which). -1 on failure. */
static int64_t key_table_intern(key_table *k, const char *s, size_t len, bool *added) {
    uint32_t h = bpe_hash_bytes(s, len);
    int64_t found = key_table_find(k, s, len, h);
    *added = found < 0;
    if (found >= 0) return found;
    uint32_t old_cap = k->s.cap_n;
    int64_t i = str_list_push(&k->s, s, len);
    if (i < 0) return -1;
    if (k->s.cap_n != old_cap && resize((void **)&k->hash, k->s.cap_n, sizeof *k->hash)) return -1;
    k->hash[i] = h;
    return key_table_reindex(k) ? -1 : i;
}

/* ---- pair -> count (open addressing on the 64-bit pair key) ---- */

#define EMPTY_PAIR UINT64_MAX

typedef struct {
    uint64_t *keys;
    int64_t *vals;
    uint32_t mask, count;
} pair_map;

static inline uint64_t pair_of(int32_t a, int32_t b) { return (uint64_t)(uint32_t)a << 32 | (uint32_t)b; }

static inline uint32_t pair_slot(uint64_t key, uint32_t mask) {
    return (uint32_t)((key * 0x9E3779B97F4A7C15ull) >> 32) & mask;
}

static void pair_map_free(pair_map *m) {
    free(m->keys), free(m->vals);
    memset(m, 0, sizeof *m);
}

static int pair_map_resize(pair_map *m, uint32_t size) {
    uint64_t *keys = malloc((size_t)size * sizeof *keys);
    int64_t *vals = malloc((size_t)size * sizeof *vals);
    if (!keys || !vals) {
        free(keys), free(vals);
        return attn_error("tokenizer training: out of memory for pair counts");
    }
    memset(keys, 0xff, (size_t)size * sizeof *keys);
    for (uint32_t i = 0; m->keys && i <= m->mask; i++) {
        if (m->keys[i] == EMPTY_PAIR) continue;
        uint32_t j = pair_slot(m->keys[i], size - 1);
        while (keys[j] != EMPTY_PAIR) j = (j + 1) & (size - 1);
        keys[j] = m->keys[i], vals[j] = m->vals[i];
    }
    free(m->keys), free(m->vals);
    m->keys = keys, m->vals = vals, m->mask = size - 1;
    return 0;
}

/* The count cell of a pair, created at 0 when absent; NULL when out of memory. */
static int64_t *pair_map_cell(pair_map *m, uint64_t key) {
    if (!m->keys || (uint64_t)(m->count + 1) * 2 > (uint64_t)m->mask + 1) {
        uint32_t size = m->keys ? (m->mask + 1) * 2 : 4096;
        if (size == 0 || pair_map_resize(m, size)) return NULL;
    }
    uint32_t i = pair_slot(key, m->mask);
    while (m->keys[i] != EMPTY_PAIR && m->keys[i] != key) i = (i + 1) & m->mask;
    if (m->keys[i] == EMPTY_PAIR) {
        m->keys[i] = key;
        m->vals[i] = 0;
        m->count++;
    }
    return &m->vals[i];
}

static int64_t pair_map_get(const pair_map *m, uint64_t key) {
    if (!m->keys) return 0;
    for (uint32_t i = pair_slot(key, m->mask); m->keys[i] != EMPTY_PAIR; i = (i + 1) & m->mask)
        if (m->keys[i] == key) return m->vals[i];
    return 0;
}

/* ---- the heap of candidate merges ---- */

/* A pair with the count it had when pushed and the words to visit if it wins. */
typedef struct {
    uint64_t count, pair;
    uint32_t *pos;
    uint32_t n_pos;
} candidate;

typedef struct {
    candidate *v;
    size_t n, cap;
} cand_heap;

/* Highest count first; among equal counts the smallest (left, right) ids, as HF orders. */
static inline bool cand_before(const candidate *a, const candidate *b) {
    return a->count != b->count ? a->count > b->count : a->pair < b->pair;
}

static int heap_push(cand_heap *h, candidate c) {
    if (grow((void **)&h->v, &h->cap, h->n + 1, sizeof *h->v)) return -1;
    size_t i = h->n++;
    while (i > 0 && cand_before(&c, &h->v[(i - 1) / 2])) {
        h->v[i] = h->v[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    h->v[i] = c;
    return 0;
}

static candidate heap_pop(cand_heap *h) {
    candidate top = h->v[0], x = h->v[--h->n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= h->n) break;
        if (c + 1 < h->n && cand_before(&h->v[c + 1], &h->v[c])) c++;
        if (!cand_before(&h->v[c], &x)) break;
        h->v[i] = h->v[c];
        i = c;
    }
    h->v[i] = x;
    return top;
}

/* ---- the trainer ---- */

typedef struct {
    uint64_t pair;
    uint32_t word;
} pair_at; /* "this word gained this pair": HF's where_to_update, as a flat list */

typedef struct {
    uint64_t pair;
    int32_t id;
} merge_rec;

struct attn_bpe_trainer {
    int vocab_size;
    uint64_t min_frequency;
    char **special;
    int n_special;

    key_table words; /* raw bytes of each distinct piece */
    uint64_t *word_count;
    size_t cap_count;
    uint64_t n_pieces;

    key_table vocab; /* byte-level spelling of each token: HF's word_to_id */
    str_list raw;    /* raw bytes of each token, same index */

    int32_t *syms;   /* every word's symbols, word after word */
    uint64_t *sym_off;
    uint32_t *sym_len;

    pair_map counts;
    cand_heap heap;
    pair_at *gained;
    size_t n_gained, cap_gained;
    merge_rec *merges;
    size_t n_merges, cap_merges;
    bool trained;
};

static int set_options(attn_bpe_trainer *t, const attn_bpe_train_opts *o) {
    static const char *const default_special[] = {ENDOFTEXT};
    const char *const *sp = o->special ? o->special : default_special;
    int ns = o->special ? o->n_special : 1;
    if (ns < 0 || ns > 1024) return attn_error("tokenizer training: %d special tokens", ns);
    if (o->vocab_size < 256 + ns || o->vocab_size > (1 << 24))
        return attn_error("tokenizer training: vocab size %d must be in [%d, %d] (256 byte tokens "
                          "and %d special token%s come first)",
                          o->vocab_size, 256 + ns, 1 << 24, ns, ns == 1 ? "" : "s");
    t->vocab_size = o->vocab_size;
    t->min_frequency = o->min_frequency;
    t->special = calloc((size_t)ns + 1, sizeof *t->special);
    if (!t->special) return attn_error("tokenizer training: out of memory");
    for (int i = 0; i < ns; i++) {
        if (!sp[i] || !*sp[i]) return attn_error("tokenizer training: empty special token");
        if (!(t->special[i] = strdup(sp[i]))) return attn_error("tokenizer training: out of memory");
        t->n_special = i + 1;
    }
    return 0;
}

attn_bpe_trainer *attn_bpe_trainer_new(const attn_bpe_train_opts *opts) {
    attn_bpe_trainer *t = calloc(1, sizeof *t);
    if (!t) {
        attn_error("tokenizer training: out of memory");
        return NULL;
    }
    if (!opts || set_options(t, opts)) {
        if (!opts) attn_error("tokenizer training: no options");
        attn_bpe_trainer_free(t);
        return NULL;
    }
    return t;
}

static void free_heap(cand_heap *h) {
    for (size_t i = 0; i < h->n; i++) free(h->v[i].pos);
    free(h->v);
    memset(h, 0, sizeof *h);
}

void attn_bpe_trainer_free(attn_bpe_trainer *t) {
    if (!t) return;
    for (int i = 0; i < t->n_special; i++) free(t->special[i]);
    free(t->special);
    key_table_free(&t->words);
    key_table_free(&t->vocab);
    str_list_free(&t->raw);
    free(t->word_count), free(t->syms), free(t->sym_off), free(t->sym_len);
    pair_map_free(&t->counts);
    free_heap(&t->heap);
    free(t->gained), free(t->merges);
    free(t);
}

/* ---- feeding: counting words ---- */

int attn_bpe_trainer_add_word(attn_bpe_trainer *t, const char *word, size_t len, uint64_t count) {
    if (t->trained) return attn_error("tokenizer training: words added after training");
    if (len == 0 || count == 0) return 0;
    bool added;
    int64_t i = key_table_intern(&t->words, word, len, &added);
    if (i < 0 || grow((void **)&t->word_count, &t->cap_count, (size_t)i + 1, sizeof *t->word_count))
        return -1;
    if (added) t->word_count[i] = 0;
    t->word_count[i] += count;
    t->n_pieces += count;
    return 0;
}

/* One line (or the tail of the text) into GPT-2 pieces. */
static int feed_line(attn_bpe_trainer *t, const uint8_t *s, size_t n) {
    for (size_t pos = 0; pos < n;) {
        size_t end = bpe_gpt2_piece_end(s, n, pos);
        if (attn_bpe_trainer_add_word(t, (const char *)s + pos, end - pos, 1)) return -1;
        pos = end;
    }
    return 0;
}

/* HF's train(files) pre-tokenizes each line (ending included) on its own, which decides how
 * white space at line ends splits; cutting the same way keeps the counts identical. */
static int feed_plain(attn_bpe_trainer *t, const uint8_t *s, size_t n) {
    while (n > 0) {
        const uint8_t *nl = memchr(s, '\n', n);
        size_t len = nl ? (size_t)(nl - s) + 1 : n;
        if (feed_line(t, s, len)) return -1;
        s += len, n -= len;
    }
    return 0;
}

/* The earliest special token at or after s[0], or NULL. */
static const uint8_t *next_special(const attn_bpe_trainer *t, const uint8_t *s, size_t n, size_t *len) {
    const uint8_t *best = NULL;
    for (int i = 0; i < t->n_special; i++) {
        size_t sl = strlen(t->special[i]);
        size_t span = best ? ATTN_MIN(n, (size_t)(best - s) + sl) : n; /* no need to look past best */
        const uint8_t *p = memmem(s, span, t->special[i], sl);
        if (p && (!best || p < best || (p == best && sl > *len))) best = p, *len = sl;
    }
    return best;
}

int attn_bpe_trainer_feed(attn_bpe_trainer *t, const char *text, size_t len) {
    if (t->trained) return attn_error("tokenizer training: text fed after training");
    if (!text && len) return attn_error("tokenizer training: NULL text");
    const uint8_t *s = (const uint8_t *)text;
    while (len > 0) {
        size_t sl = 0;
        const uint8_t *sp = next_special(t, s, len, &sl);
        size_t plain = sp ? (size_t)(sp - s) : len;
        if (feed_plain(t, s, plain)) return -1;
        if (!sp) break;
        s += plain + sl, len -= plain + sl;
    }
    return 0;
}

/* ---- the vocabulary ---- */

/* Adds a token (byte-level spelling + raw bytes) unless its spelling exists; its id. */
static int64_t add_token(attn_bpe_trainer *t, const char *spelled, size_t slen, const char *raw,
                         size_t rlen) {
    bool added;
    int64_t id = key_table_intern(&t->vocab, spelled, slen, &added);
    if (id < 0 || !added) return id;
    return str_list_push(&t->raw, raw, rlen) == id ? id : attn_error("tokenizer training: internal error");
}

static size_t spell_byte(uint8_t b, char out[2]) {
    int32_t cp = bpe_byte_to_unicode(b); /* below U+0800: one or two UTF-8 bytes */
    if (cp < 0x80) return out[0] = (char)cp, 1;
    out[0] = (char)(0xC0 | (cp >> 6)), out[1] = (char)(0x80 | (cp & 0x3F));
    return 2;
}

/* Special tokens, then the byte alphabet sorted by code point (HF's compute_alphabet with
 * ByteLevel's full initial alphabet). byte_id gets each byte's token. */
static int init_vocab(attn_bpe_trainer *t, int32_t byte_id[256]) {
    for (int i = 0; i < t->n_special; i++) {
        size_t n = strlen(t->special[i]);
        if (add_token(t, t->special[i], n, t->special[i], n) < 0) return -1;
    }
    int order[256];
    /* the alphabet's code points: 0x21..0x7E, 0xA1..0xAC, 0xAE..0xFF as themselves, then
     * U+0100.. for the other bytes in byte order; sort bytes by that */
    int n = 0;
    for (int32_t cp = 0; cp < 512 && n < 256; cp++) {
        int b = bpe_unicode_to_byte(cp);
        if (b >= 0) order[n++] = b;
    }
    for (int i = 0; i < 256; i++) {
        char s[2], raw = (char)order[i];
        int64_t id = add_token(t, s, spell_byte((uint8_t)order[i], s), &raw, 1);
        if (id < 0) return -1;
        byte_id[order[i]] = (int32_t)id;
    }
    return 0;
}

/* ---- training ---- */

static int record_gain(attn_bpe_trainer *t, uint64_t pair, uint32_t word) {
    if (t->n_gained && t->gained[t->n_gained - 1].pair == pair && t->gained[t->n_gained - 1].word == word)
        return 0;
    if (grow((void **)&t->gained, &t->cap_gained, t->n_gained + 1, sizeof *t->gained)) return -1;
    t->gained[t->n_gained++] = (pair_at){pair, word};
    return 0;
}

static int change(attn_bpe_trainer *t, int32_t a, int32_t b, int64_t delta, uint32_t word) {
    int64_t *c = pair_map_cell(&t->counts, pair_of(a, b));
    if (!c) return -1;
    *c += delta;
    return delta > 0 ? record_gain(t, pair_of(a, b), word) : 0;
}

/* Word symbols into one array; every adjacent pair counted and recorded as gained. */
static int build_words(attn_bpe_trainer *t, const int32_t byte_id[256]) {
    uint32_t nw = t->words.s.n;
    t->syms = malloc((t->words.s.used ? t->words.s.used : 1) * sizeof *t->syms);
    t->sym_off = malloc((nw ? nw : 1) * sizeof *t->sym_off);
    t->sym_len = malloc((nw ? nw : 1) * sizeof *t->sym_len);
    if (!t->syms || !t->sym_off || !t->sym_len) return attn_error("tokenizer training: out of memory");
    for (uint32_t w = 0; w < nw; w++) {
        const uint8_t *s = (const uint8_t *)t->words.s.pool + t->words.s.off[w];
        int32_t *out = t->syms + t->words.s.off[w];
        t->sym_off[w] = t->words.s.off[w];
        t->sym_len[w] = t->words.s.len[w];
        for (uint32_t i = 0; i < t->words.s.len[w]; i++) {
            out[i] = byte_id[s[i]];
            if (i > 0 && change(t, out[i - 1], out[i], (int64_t)t->word_count[w], w)) return -1;
        }
    }
    return 0;
}

static int cmp_pair_at(const void *pa, const void *pb) {
    const pair_at *a = pa, *b = pb;
    if (a->pair != b->pair) return a->pair < b->pair ? -1 : 1;
    return (a->word > b->word) - (a->word < b->word);
}

/* Pushes one candidate per gained pair whose count is positive, with the words that gained
 * it (HF's where_to_update drain), then forgets the gains. */
static int push_gained(attn_bpe_trainer *t) {
    if (t->n_gained == 0) return 0;
    qsort(t->gained, t->n_gained, sizeof *t->gained, cmp_pair_at);
    for (size_t i = 0; i < t->n_gained;) {
        size_t j = i;
        while (j < t->n_gained && t->gained[j].pair == t->gained[i].pair) j++;
        int64_t count = pair_map_get(&t->counts, t->gained[i].pair);
        if (count > 0) {
            uint32_t *pos = malloc((j - i) * sizeof *pos), n = 0;
            if (!pos) return attn_error("tokenizer training: out of memory");
            for (size_t k = i; k < j; k++)
                if (n == 0 || pos[n - 1] != t->gained[k].word) pos[n++] = t->gained[k].word;
            if (heap_push(&t->heap, (candidate){(uint64_t)count, t->gained[i].pair, pos, n})) {
                free(pos);
                return -1;
            }
        }
        i = j;
    }
    t->n_gained = 0;
    return 0;
}

/* HF's Word::merge in one left-to-right pass: every non-overlapping (a, b) becomes z, and
 * the pairs around it change: (prev, a) and (b, next) lose one, (prev, z) and (z, next)
 * gain one, times the word's count. */
static int merge_word(attn_bpe_trainer *t, uint32_t w, int32_t a, int32_t b, int32_t z) {
    int32_t *s = t->syms + t->sym_off[w];
    uint32_t n = t->sym_len[w], r = 0, o = 0;
    int64_t c = (int64_t)t->word_count[w];
    while (r < n) {
        if (s[r] != a || r + 1 >= n || s[r + 1] != b) {
            s[o++] = s[r++];
            continue;
        }
        if (o > 0 && (change(t, s[o - 1], a, -c, w) || change(t, s[o - 1], z, c, w))) return -1;
        s[o++] = z;
        r += 2;
        if (r < n && (change(t, b, s[r], -c, w) || change(t, z, s[r], c, w))) return -1;
    }
    t->sym_len[w] = o;
    return 0;
}

/* The token for a + b: an existing one with that spelling, else a new id. */
static int64_t token_for(attn_bpe_trainer *t, int32_t a, int32_t b, char **buf, size_t *cap) {
    const str_list *v = &t->vocab.s, *r = &t->raw;
    size_t sl = (size_t)v->len[a] + v->len[b], rl = (size_t)r->len[a] + r->len[b];
    if (grow((void **)buf, cap, sl + rl, 1)) return -1;
    memcpy(*buf, v->pool + v->off[a], v->len[a]);
    memcpy(*buf + v->len[a], v->pool + v->off[b], v->len[b]);
    memcpy(*buf + sl, r->pool + r->off[a], r->len[a]);
    memcpy(*buf + sl + r->len[a], r->pool + r->off[b], r->len[b]);
    return add_token(t, *buf, sl, *buf + sl, rl);
}

static int apply_merge(attn_bpe_trainer *t, const candidate *top, char **buf, size_t *cap) {
    int32_t a = (int32_t)(top->pair >> 32), b = (int32_t)(uint32_t)top->pair;
    int64_t z = token_for(t, a, b, buf, cap);
    if (z < 0 || grow((void **)&t->merges, &t->cap_merges, t->n_merges + 1, sizeof *t->merges))
        return -1;
    t->merges[t->n_merges++] = (merge_rec){top->pair, (int32_t)z};
    for (uint32_t i = 0; i < top->n_pos; i++)
        if (merge_word(t, top->pos[i], a, b, (int32_t)z)) return -1;
    return push_gained(t);
}

static int merge_loop(attn_bpe_trainer *t) {
    char *buf = NULL;
    size_t cap = 0;
    int rc = 0;
    while (rc == 0 && t->vocab.s.n < (uint32_t)t->vocab_size && t->heap.n > 0) {
        candidate top = heap_pop(&t->heap);
        int64_t now = pair_map_get(&t->counts, top.pair);
        if (top.count != (uint64_t)now) { /* stale: back in line with today's count */
            top.count = (uint64_t)now;
            if ((rc = heap_push(&t->heap, top))) free(top.pos);
            continue;
        }
        if (top.count < 1 || t->min_frequency > top.count) {
            free(top.pos);
            break;
        }
        rc = apply_merge(t, &top, &buf, &cap);
        free(top.pos);
    }
    free(buf);
    return rc;
}

int attn_bpe_trainer_train(attn_bpe_trainer *t) {
    if (t->trained) return attn_error("tokenizer training: already trained");
    t->trained = true;
    int32_t byte_id[256];
    if (init_vocab(t, byte_id) || build_words(t, byte_id) || push_gained(t)) return -1;
    return merge_loop(t);
}

/* ---- results ---- */

/* HF keeps merges in a map from pair to (rank, id), so a pair merged twice keeps its later
 * rank; drop the earlier copies the same way. Returns how many merges remain in order. */
static size_t unique_merges(const attn_bpe_trainer *t, merge_rec *out) {
    pair_map seen = {0};
    size_t n = 0;
    for (size_t i = t->n_merges; i-- > 0;) {
        int64_t *c = pair_map_cell(&seen, t->merges[i].pair);
        if (!c) {
            pair_map_free(&seen);
            return SIZE_MAX;
        }
        if ((*c)++ == 0) out[n++] = t->merges[i];
    }
    pair_map_free(&seen);
    for (size_t i = 0; i < n / 2; i++) {
        merge_rec x = out[i];
        out[i] = out[n - 1 - i], out[n - 1 - i] = x;
    }
    return n;
}

void attn_bpe_trainer_stats(const attn_bpe_trainer *t, attn_bpe_train_stats *out) {
    memset(out, 0, sizeof *out);
    out->n_words = t->words.s.n;
    out->n_pieces = t->n_pieces;
    out->vocab_size = (int)t->vocab.s.n;
    merge_rec *m = malloc((t->n_merges ? t->n_merges : 1) * sizeof *m);
    size_t n = m ? unique_merges(t, m) : SIZE_MAX;
    out->n_merges = n == SIZE_MAX ? (int)t->n_merges : (int)n;
    free(m);
}

const char *attn_bpe_trainer_token(const attn_bpe_trainer *t, int id, size_t *len) {
    if (id < 0 || (uint32_t)id >= t->raw.n) return NULL;
    if (len) *len = t->raw.len[id];
    return t->raw.pool + t->raw.off[id];
}

/* ---- tokenizer.json ---- */

static json_t *json_str(const str_list *k, uint32_t id) {
    return json_stringn(str_at(k, id), k->len[id]);
}

static json_t *vocab_json(const attn_bpe_trainer *t) {
    json_t *v = json_object();
    for (uint32_t id = 0; v && id < t->vocab.s.n; id++) {
        char *key = strndup(t->vocab.s.pool + t->vocab.s.off[id], t->vocab.s.len[id]);
        if (!key || json_object_set_new(v, key, json_integer(id))) json_decref(v), v = NULL;
        free(key);
    }
    return v;
}

/* Merges as "a b" strings: byte-level spellings never hold a space, and every HF version
 * (and attn) reads this form. */
static json_t *merges_json(const attn_bpe_trainer *t) {
    merge_rec *m = malloc((t->n_merges ? t->n_merges : 1) * sizeof *m);
    size_t n = m ? unique_merges(t, m) : SIZE_MAX;
    json_t *arr = n == SIZE_MAX ? NULL : json_array();
    for (size_t i = 0; arr && i < n; i++) {
        uint32_t a = (uint32_t)(m[i].pair >> 32), b = (uint32_t)m[i].pair;
        const str_list *v = &t->vocab.s;
        size_t la = v->len[a], lb = v->len[b];
        char *s = malloc(la + lb + 1);
        if (s) {
            memcpy(s, v->pool + v->off[a], la), s[la] = ' ', memcpy(s + la + 1, v->pool + v->off[b], lb);
            if (json_array_append_new(arr, json_stringn(s, la + lb + 1))) json_decref(arr), arr = NULL;
        } else json_decref(arr), arr = NULL;
        free(s);
    }
    free(m);
    return arr;
}

static json_t *added_json(const attn_bpe_trainer *t) {
    json_t *arr = json_array();
    for (int i = 0; arr && i < t->n_special; i++) {
        uint32_t h = bpe_hash_bytes(t->special[i], strlen(t->special[i]));
        int64_t id = key_table_find(&t->vocab, t->special[i], strlen(t->special[i]), h);
        json_t *e = json_pack("{s:I, s:o, s:b, s:b, s:b, s:b, s:b}", "id", (json_int_t)id, "content",
                              json_str(&t->vocab.s, (uint32_t)id), "single_word", 0, "lstrip", 0, "rstrip", 0,
                              "normalized", 0, "special", 1);
        if (!e || json_array_append_new(arr, e)) json_decref(arr), arr = NULL;
    }
    return arr;
}

int attn_bpe_trainer_save(const attn_bpe_trainer *t, const char *path) {
    if (!t->trained) return attn_error("tokenizer training: save called before train");
    json_t *vocab = vocab_json(t), *merges = merges_json(t), *added = added_json(t);
    if (!vocab || !merges || !added) {
        json_decref(vocab), json_decref(merges), json_decref(added);
        return attn_error("tokenizer training: out of memory building tokenizer.json");
    }
    json_t *root = json_pack(
        "{s:s, s:n, s:n, s:o, s:n, s:{s:s, s:b, s:b, s:b}, s:n, s:{s:s, s:b, s:b, s:b},"
        " s:{s:s, s:n, s:n, s:n, s:n, s:b, s:b, s:b, s:o, s:o}}",
        "version", "1.0", "truncation", "padding", "added_tokens", added, "normalizer",
        "pre_tokenizer", "type", "ByteLevel", "add_prefix_space", 0, "trim_offsets", 1, "use_regex", 1,
        "post_processor", "decoder", "type", "ByteLevel", "add_prefix_space", 1, "trim_offsets", 1,
        "use_regex", 1, "model", "type", "BPE", "dropout", "unk_token", "continuing_subword_prefix",
        "end_of_word_suffix", "fuse_unk", 0, "byte_fallback", 0, "ignore_merges", 0, "vocab", vocab,
        "merges", merges);
    if (!root) return attn_error("tokenizer training: cannot build tokenizer.json");
    char *text = json_dumps(root, JSON_INDENT(1));
    json_decref(root);
    int rc = text ? attn_write_file_atomic(path, text, strlen(text))
                  : attn_error("tokenizer training: cannot format tokenizer.json");
    free(text);
    return rc;
}
