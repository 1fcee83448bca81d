/* bpe_build.c - turns a parsed vocabulary and merge list (from either file format, see
 * bpe_load.c) into the read-only attn_tokenizer: one string pool, per-id tables, the vocab
 * and merge hash maps, and the added-token table the encoder scans. Also GPT-2's
 * byte-level alphabet, which maps each byte to a printable code point and back. */
#include "tokenizer/bpe_internal.h"

#include <stdlib.h>
#include <string.h>

#include "core/common.h"

/* GPT-2's bytes_to_unicode(): printable Latin-1 bytes spell themselves; the other 68
 * (0x00-0x20, 0x7F-0xA0, 0xAD) take U+0100.. in byte order, so "Ġ" (U+0120) is a space. */
int32_t bpe_byte_to_unicode(uint8_t b) {
    if ((b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE) return b;
    if (b <= 0x20) return 256 + b;
    if (b <= 0xA0) return 256 + 33 + (b - 0x7F);
    return 256 + 67; /* 0xAD */
}

int bpe_unicode_to_byte(int32_t cp) {
    if ((cp >= 0x21 && cp <= 0x7E) || (cp >= 0xA1 && cp <= 0xAC) || (cp >= 0xAE && cp <= 0xFF))
        return cp;
    if (cp >= 256 && cp <= 256 + 32) return cp - 256;
    if (cp >= 256 + 33 && cp <= 256 + 66) return 0x7F + (cp - 256 - 33);
    if (cp == 256 + 67) return 0xAD;
    return -1;
}

int bpe_vec_grow(void **v, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap) return 0;
    size_t n = *cap ? *cap * 2 : 256;
    while (n < need) n *= 2;
    void *nv = realloc(*v, n * elem);
    if (!nv) return attn_error("tokenizer: out of memory");
    *v = nv;
    *cap = n;
    return 0;
}

void bpe_spec_free(bpe_spec *spec) {
    free(spec->entries);
    free(spec->merges);
    memset(spec, 0, sizeof *spec);
}

/* Raw bytes of a vocab string: each code point of the byte-level alphabet becomes its byte;
 * anything else keeps its own UTF-8 bytes, as HF's ByteLevel decoder does. */
static uint32_t byte_level_decode(const char *s, uint32_t len, char *out) {
    uint32_t n = 0;
    for (uint32_t i = 0; i < len;) {
        int32_t cp;
        size_t w = bpe_utf8_decode((const uint8_t *)s + i, len - i, &cp);
        int b = bpe_unicode_to_byte(cp);
        if (b >= 0) out[n++] = (char)b;
        else {
            memcpy(out + n, s + i, w);
            n += (uint32_t)w;
        }
        i += (uint32_t)w;
    }
    return n;
}

static int alloc_tables(attn_tokenizer *t, const bpe_spec *spec) {
    int64_t max_id = -1;
    size_t pool = 0;
    for (size_t i = 0; i < spec->n_entries; i++) {
        const bpe_entry *e = &spec->entries[i];
        if (e->id < 0 || e->id >= (1 << 27))
            return attn_error("%s: token '%.*s' has id %d, outside 0..%d", spec->source,
                              (int)ATTN_MIN(e->len, 64), e->str, (int)e->id, (1 << 27) - 1);
        max_id = ATTN_MAX(max_id, (int64_t)e->id);
        pool += 2 * ((size_t)e->len + 1); /* vocab string + raw bytes, never longer */
    }
    if (max_id < 0) return attn_error("%s: the vocabulary is empty", spec->source);
    if ((uint64_t)max_id > 4 * (uint64_t)spec->n_entries + 65536) /* tables are indexed by id */
        return attn_error("%s: ids up to %lld for only %zu tokens: too sparse", spec->source,
                          (long long)max_id, spec->n_entries);
    if (pool >= UINT32_MAX) return attn_error("%s: vocabulary too large", spec->source);
    t->n_ids = (int32_t)max_id + 1;
    t->pool = malloc(pool + 1);
    t->str_off = malloc((size_t)t->n_ids * sizeof *t->str_off);
    t->raw_off = malloc((size_t)t->n_ids * sizeof *t->raw_off);
    t->raw_len = malloc((size_t)t->n_ids * sizeof *t->raw_len);
    if (!t->pool || !t->str_off || !t->raw_off || !t->raw_len)
        return attn_error("%s: out of memory for %d tokens", spec->source, (int)t->n_ids);
    for (int32_t i = 0; i < t->n_ids; i++) t->raw_len[i] = UINT32_MAX;
    return bpe_strmap_init(&t->vocab, spec->n_entries);
}

/* Copies every string into the pool and fills the per-id tables. Vocab entries go first so
 * that an added token sharing an id with a vocab token decides how that id decodes (HF lists
 * GPT-2's <|endoftext|> in both); two vocab tokens with one id are refused, as one of them
 * could never be decoded. */
static int fill_tables(attn_tokenizer *t, const bpe_spec *spec, uint32_t *str_at) {
    uint32_t used = 0;
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < spec->n_entries; i++) {
            const bpe_entry *e = &spec->entries[i];
            if ((e->kind != BPE_ENTRY_VOCAB) != pass) continue;
            if (pass == 0 && t->raw_len[e->id] != UINT32_MAX) {
                const bpe_entry *first = &spec->entries[t->raw_len[e->id]];
                return attn_error("%s: the vocab gives id %d to two tokens, '%.*s' and '%.*s'",
                                  spec->vocab_source ? spec->vocab_source : spec->source,
                                  (int)e->id, (int)ATTN_MIN(first->len, 64), first->str, (int)ATTN_MIN(e->len, 64),
                                  e->str);
            }
            str_at[i] = used;
            memcpy(t->pool + used, e->str, e->len);
            t->pool[used + e->len] = 0;
            bpe_strmap_put(&t->vocab, t->pool + used, e->len, e->id);
            t->str_off[e->id] = used;
            t->raw_len[e->id] = i; /* entry index for now; raw bytes follow below */
            used += e->len + 1;
        }
    }
    for (int32_t id = 0; id < t->n_ids; id++) {
        if (t->raw_len[id] == UINT32_MAX) continue;
        const bpe_entry *e = &spec->entries[t->raw_len[id]];
        const char *s = t->pool + t->str_off[id];
        t->raw_off[id] = used;
        if (e->kind == BPE_ENTRY_VOCAB && !spec->chars) {
            t->raw_len[id] = byte_level_decode(s, e->len, t->pool + used);
        } else { /* added tokens are literal text, not byte-level spelled */
            memcpy(t->pool + used, s, e->len);
            t->raw_len[id] = e->len;
        }
        used += t->raw_len[id];
    }
    return 0;
}

static int build_merges(attn_tokenizer *t, const bpe_spec *spec) {
    if (bpe_pairmap_init(&t->merges, spec->n_merges)) return -1;
    char *joined = NULL;
    size_t cap = 0;
    for (size_t i = 0; i < spec->n_merges; i++) {
        const bpe_merge *m = &spec->merges[i];
        int32_t a = bpe_strmap_get(&t->vocab, m->a, m->alen);
        int32_t b = bpe_strmap_get(&t->vocab, m->b, m->blen);
        size_t jl = (size_t)m->alen + m->blen;
        if (a >= 0 && b >= 0 && bpe_vec_grow((void **)&joined, &cap, jl + 1, 1)) return -1;
        int32_t ab = -1;
        if (a >= 0 && b >= 0) {
            memcpy(joined, m->a, m->alen);
            memcpy(joined + m->alen, m->b, m->blen);
            ab = bpe_strmap_get(&t->vocab, joined, jl);
        }
        if (a < 0 || b < 0 || ab < 0) {
            const char *what = a < 0 ? m->a : b < 0 ? m->b : "their concatenation";
            int wl = a < 0 ? (int)m->alen : b < 0 ? (int)m->blen : (int)strlen(what);
            attn_error("%s: merge %zu ('%.*s' '%.*s'): %.*s is not in the vocabulary",
                       spec->source, m->line, (int)ATTN_MIN(m->alen, 64), m->a,
                       (int)ATTN_MIN(m->blen, 64), m->b, ATTN_MIN(wl, 64), what);
            free(joined);
            return -1;
        }
        bpe_pairmap_put(&t->merges, a, b, (int32_t)i, ab);
    }
    free(joined);
    return 0;
}

static int cmp_added(const void *pa, const void *pb) {
    const bpe_added *a = pa, *b = pb;
    return a->first != b->first ? (int)a->first - (int)b->first
           : a->len != b->len   ? (a->len < b->len ? 1 : -1)
                                : (a->id > b->id) - (a->id < b->id);
}

/* Added tokens sorted by first byte then longest first: scanning a bucket in order finds
 * the longest match at a position, as HF's leftmost-longest matcher does. */
static int build_added(attn_tokenizer *t, const bpe_spec *spec, const uint32_t *str_at) {
    size_t n = 0;
    for (size_t i = 0; i < spec->n_entries; i++) n += spec->entries[i].kind != BPE_ENTRY_VOCAB;
    t->added = calloc(n ? n : 1, sizeof *t->added);
    if (!t->added) return attn_error("tokenizer: out of memory");
    for (size_t i = 0; i < spec->n_entries; i++) {
        const bpe_entry *e = &spec->entries[i];
        if (e->kind == BPE_ENTRY_VOCAB || e->len == 0) continue;
        t->added[t->n_added++] = (bpe_added){str_at[i], e->len, e->id,
                                             e->kind == BPE_ENTRY_SPECIAL, (uint8_t)e->str[0]};
    }
    qsort(t->added, (size_t)t->n_added, sizeof *t->added, cmp_added);
    int k = 0;
    for (int b = 0; b <= 256; b++) {
        while (k < t->n_added && t->added[k].first < b) k++;
        t->added_first[b] = (uint32_t)k;
    }
    return 0;
}

static int build_raw_map(attn_tokenizer *t) {
    if (bpe_strmap_init(&t->raw, (size_t)t->n_ids)) return -1;
    for (int32_t id = 0; id < t->n_ids; id++)
        if (t->raw_len[id] != UINT32_MAX)
            bpe_strmap_put(&t->raw, t->pool + t->raw_off[id], t->raw_len[id], id);
    return 0;
}

attn_tokenizer *bpe_build(const bpe_spec *spec) {
    attn_tokenizer *t = calloc(1, sizeof *t);
    uint32_t *str_at = calloc(spec->n_entries ? spec->n_entries : 1, sizeof *str_at);
    if (!t || !str_at) {
        free(t);
        free(str_at);
        attn_error("tokenizer: out of memory");
        return NULL;
    }
    t->eos = -1;
    t->bos_to_add = -1;
    t->use_regex = spec->use_regex;
    t->ignore_merges = spec->ignore_merges;
    t->chars = spec->chars;
    t->unk = -1;
    int rc = alloc_tables(t, spec);
    if (rc == 0) rc = fill_tables(t, spec, str_at);
    if (rc == 0) rc = build_merges(t, spec);
    if (rc == 0) rc = build_added(t, spec, str_at);
    if (rc == 0 && t->ignore_merges) rc = build_raw_map(t);
    free(str_at);
    if (rc) {
        attn_tokenizer_free(t);
        return NULL;
    }
    for (int b = 0; b < 256; b++) {
        char s[4];
        int32_t cp = bpe_byte_to_unicode((uint8_t)b);
        size_t n = cp < 0x80 ? 1 : 2; /* the alphabet stays below U+0800 */
        if (n == 1) s[0] = (char)cp;
        else {
            s[0] = (char)(0xC0 | (cp >> 6));
            s[1] = (char)(0x80 | (cp & 0x3F));
        }
        t->byte_token[b] = bpe_strmap_get(&t->vocab, s, n);
    }
    return t;
}

void attn_tokenizer_free(attn_tokenizer *t) {
    if (!t) return;
    bpe_strmap_free(&t->vocab);
    bpe_strmap_free(&t->raw);
    bpe_pairmap_free(&t->merges);
    free(t->pool);
    free(t->str_off);
    free(t->raw_off);
    free(t->raw_len);
    free(t->added);
    free(t);
}
