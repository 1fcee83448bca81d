/* spm.c - SentencePiece-style BPE encoding, exactly as llama.cpp's llm_tokenizer_spm does
 * it (Llama 1/2, TinyLlama, Phi-3, llama2.c's tokenizer.bin):
 *  1. a space is prefixed to each run of plain text (add_space_prefix) and every space
 *     becomes "▁" (U+2581);
 *  2. the text starts as one symbol per UTF-8 character; repeatedly the adjacent pair whose
 *     concatenation is a token with the highest score merges (ties: leftmost first);
 *  3. a symbol that is no token is spelled with byte-fallback tokens <0xXX>.
 * The tables (scores, byte tokens) are built by gguf_vocab.c or llama2c_vocab.c; they live
 * in the same allocation as the tokenizer, so attn_tokenizer_free releases them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/common.h"
#include "tokenizer/spm.h"

typedef struct {
    uint32_t off, n;    /* bytes of the symbol in the escaped text; n == 0 once merged away */
    int32_t prev, next; /* neighbours, -1 at the ends */
} spm_sym;

typedef struct {
    float score;
    int32_t left, right;
    uint32_t size; /* bytes of the merged text: a stale entry no longer matches */
} spm_bigram;

typedef struct {
    const attn_tokenizer *t;
    const char *text;
    spm_sym *sym;
    spm_bigram *heap;
    size_t hn, hcap;
} spm_session;

/* Higher score first; among equal scores the leftmost (llama.cpp's comparator). */
static bool bigram_before(const spm_bigram *a, const spm_bigram *b) {
    return a->score > b->score || (a->score == b->score && a->left < b->left);
}

static int heap_push(spm_session *s, spm_bigram x) {
    if (bpe_vec_grow((void **)&s->heap, &s->hcap, s->hn + 1, sizeof *s->heap)) return -1;
    size_t i = s->hn++;
    while (i > 0 && bigram_before(&x, &s->heap[(i - 1) / 2])) {
        s->heap[i] = s->heap[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    s->heap[i] = x;
    return 0;
}

static spm_bigram heap_pop(spm_session *s) {
    spm_bigram top = s->heap[0], x = s->heap[--s->hn];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= s->hn) break;
        if (c + 1 < s->hn && bigram_before(&s->heap[c + 1], &s->heap[c])) c++;
        if (!bigram_before(&s->heap[c], &x)) break;
        s->heap[i] = s->heap[c];
        i = c;
    }
    s->heap[i] = x;
    return top;
}

static int32_t lookup(const attn_tokenizer *t, const char *s, size_t n) {
    int32_t id = bpe_strmap_get(&t->vocab, s, n);
    return id >= 0 && id < t->n_ids ? id : -1;
}

static int try_add_bigram(spm_session *s, int32_t left, int32_t right) {
    if (left < 0 || right < 0) return 0;
    uint32_t off = s->sym[left].off, size = s->sym[left].n + s->sym[right].n;
    int32_t id = lookup(s->t, s->text + off, size);
    if (id < 0) return 0;
    return heap_push(s, (spm_bigram){s->t->spm->score[id], left, right, size});
}

/* llama.cpp steps by the length the lead byte announces (clamped to the text), not by
 * strict UTF-8 validity; we do the same so invalid bytes group identically. */
static uint32_t utf8_len(uint8_t b) {
    static const uint8_t len[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
    return len[b >> 4];
}

static int merge_all(spm_session *s, size_t n) {
    int32_t count = 0;
    for (uint32_t off = 0; off < n; count++) {
        uint32_t len = ATTN_MIN(utf8_len((uint8_t)s->text[off]), (uint32_t)(n - off));
        s->sym[count] = (spm_sym){off, len, count - 1, off + len < n ? count + 1 : -1};
        off += len;
    }
    for (int32_t i = 1; i < count; i++)
        if (try_add_bigram(s, i - 1, i)) return -1;
    while (s->hn > 0) {
        spm_bigram b = heap_pop(s);
        spm_sym *l = &s->sym[b.left], *r = &s->sym[b.right];
        if (l->n == 0 || r->n == 0 || l->n + r->n != b.size) continue; /* stale */
        l->n += r->n;
        r->n = 0;
        l->next = r->next;
        if (r->next >= 0) s->sym[r->next].prev = b.left;
        if (try_add_bigram(s, l->prev, b.left) || try_add_bigram(s, b.left, l->next)) return -1;
    }
    return 0;
}

/* A symbol that is a token is emitted whole; otherwise byte by byte as <0xXX>. */
static int emit(spm_session *s, const spm_sym *y, int32_t **ids, size_t *n_ids, size_t *cap) {
    int32_t id = lookup(s->t, s->text + y->off, y->n);
    uint32_t count = id >= 0 ? 1 : y->n;
    if (bpe_vec_grow((void **)ids, cap, *n_ids + count, sizeof **ids)) return -1;
    if (id >= 0) {
        (*ids)[(*n_ids)++] = id;
        return 0;
    }
    for (uint32_t i = 0; i < y->n; i++) {
        uint8_t b = (uint8_t)s->text[y->off + i];
        int32_t bt = s->t->spm->byte_token[b];
        if (bt < 0)
            return attn_error("tokenizer: byte 0x%02x has neither a token nor a <0x%02X> "
                              "byte-fallback token", b, b);
        (*ids)[(*n_ids)++] = bt;
    }
    return 0;
}

#define SPM_SPACE "\xE2\x96\x81" /* "▁", U+2581: SentencePiece's spelling of a space */

/* " " prefix (if wanted) and every space as "▁": the text the vocabulary spells. */
static char *escape(const attn_tokenizer *t, const uint8_t *s, size_t n, size_t *out_n) {
    size_t spaces = t->spm->add_space_prefix;
    for (size_t i = 0; i < n; i++) spaces += s[i] == ' ';
    char *out = malloc(n + 2 * spaces + 1);
    if (!out) return NULL;
    size_t k = 0;
    if (t->spm->add_space_prefix) {
        memcpy(out, SPM_SPACE, 3);
        k = 3;
    }
    for (size_t i = 0; i < n; i++) {
        if (s[i] == ' ') {
            memcpy(out + k, SPM_SPACE, 3);
            k += 3;
        } else out[k++] = (char)s[i];
    }
    *out_n = k;
    return out;
}

/* Merges and emits one chunk text[0..n). */
static int encode_chunk(spm_session *s, const char *text, size_t n, int32_t **ids,
                        size_t *n_ids, size_t *cap) {
    if (n == 0) return 0;
    s->text = text;
    s->hn = 0;
    if (merge_all(s, n)) return -1;
    for (int32_t i = 0; i >= 0; i = s->sym[i].next)
        if (emit(s, &s->sym[i], ids, n_ids, cap)) return -1;
    return 0;
}

/* A wall character is in no token longer than itself, so it never merges: the text on
 * either side of it merges independently, and cutting there gives the same ids while
 * keeping the merge heap small. Stepping by utf8_len keeps the cuts on symbol bounds. */
int bpe_spm_encode(const attn_tokenizer *t, const uint8_t *s, size_t n, int32_t **ids,
                   size_t *n_ids, size_t *cap) {
    size_t len;
    char *text = escape(t, s, n, &len);
    if (!text) return attn_error("tokenizer: out of memory for %zu bytes of text", n);
    if (len >= INT32_MAX / 2) {
        free(text);
        return attn_error("tokenizer: %zu bytes of text are too many to encode at once", n);
    }
    spm_session ss = {.t = t, .sym = malloc((len + 1) * sizeof *ss.sym)};
    int rc = ss.sym ? 0 : attn_error("tokenizer: out of memory");
    size_t start = 0;
    for (size_t pos = 0; rc == 0 && pos < len;) {
        uint8_t b = (uint8_t)text[pos];
        size_t w = utf8_len(b);
        if (w == 1 && b < 128 && t->spm->wall[b]) {
            rc = encode_chunk(&ss, text + start, pos - start, ids, n_ids, cap);
            if (rc == 0) rc = encode_chunk(&ss, text + pos, 1, ids, n_ids, cap);
            start = pos + 1;
        }
        pos += w;
    }
    if (rc == 0) rc = encode_chunk(&ss, text + start, len - start, ids, n_ids, cap);
    free(ss.sym);
    free(ss.heap);
    free(text);
    return rc;
}

/* llama.cpp's detokenizer drops the leading space of the first token when the encoder
 * adds one, so decode(encode(x)) == x. */
size_t bpe_spm_decode_skip(const attn_tokenizer *t, const int32_t *ids, int n) {
    size_t len;
    if (!t->spm->add_space_prefix || n == 0) return 0;
    const char *b = attn_tokenizer_token_bytes(t, ids[0], &len);
    return b && len > 0 && b[0] == ' ' ? 1 : 0;
}

/* ASCII bytes that appear in no vocab string longer than one byte (see bpe_spm_encode).
 * Runs before bpe_spm_fix_bytes, while each token's raw bytes are still its vocab string. */
static void find_walls(const attn_tokenizer *t, bpe_spm *spm) {
    for (int b = 0; b < 128; b++) spm->wall[b] = true;
    for (int32_t id = 0; id < t->n_ids; id++) {
        if (t->raw_len[id] == UINT32_MAX) continue;
        const uint8_t *str = (const uint8_t *)t->pool + t->raw_off[id];
        size_t n = t->raw_len[id];
        for (size_t i = 0; n > 1 && i < n; i++)
            if (str[i] < 128) spm->wall[str[i]] = false;
    }
}

/* Grows the tokenizer's own allocation to carry the SentencePiece tables (see the top). */
attn_tokenizer *bpe_spm_attach(attn_tokenizer *t, const float *scores, const uint8_t *types,
                               bool add_space_prefix) {
    size_t n = (size_t)t->n_ids, base = sizeof *t + sizeof(bpe_spm);
    attn_tokenizer *nt = realloc(t, base + n * sizeof(float) + n);
    if (!nt) {
        attn_tokenizer_free(t);
        attn_error("tokenizer: out of memory");
        return NULL;
    }
    bpe_spm *spm = (bpe_spm *)(nt + 1);
    float *score = (float *)(spm + 1);
    uint8_t *type = (uint8_t *)(score + n);
    memcpy(score, scores, n * sizeof *score);
    memcpy(type, types, n);
    spm->score = score;
    spm->type = type;
    spm->add_space_prefix = add_space_prefix;
    find_walls(nt, spm);
    nt->spm = spm;
    nt->chars = false;
    bpe_spm_fix_bytes(nt, spm);
    return nt;
}

/* A token's raw bytes: "▁" is a space, a BYTE token <0xXX> its byte; literal otherwise.
 * Rewritten in place, since the result is never longer than the vocab string. */
void bpe_spm_fix_bytes(attn_tokenizer *t, bpe_spm *spm) {
    for (int32_t id = 0; id < t->n_ids; id++) {
        if (t->raw_len[id] == UINT32_MAX) continue;
        char *raw = t->pool + t->raw_off[id];
        const char *str = t->pool + t->str_off[id];
        uint32_t n = t->raw_len[id], k = 0;
        unsigned v;
        if (spm->type[id] == BPE_TT_BYTE && n == 6 && sscanf(str, "<0x%2X>", &v) == 1) {
            raw[0] = (char)v;
            t->raw_len[id] = 1;
            continue;
        }
        for (uint32_t i = 0; i < n; i++) {
            if (i + 2 < n && memcmp(raw + i, SPM_SPACE, 3) == 0) {
                raw[k++] = ' ';
                i += 2;
            } else raw[k++] = raw[i];
        }
        t->raw_len[id] = k;
    }
    /* llama.cpp's byte_to_token: "<0xXX>" (upper-case hex), else the byte as itself. */
    for (int b = 0; b < 256; b++) {
        char hex[8], one = (char)b;
        snprintf(hex, sizeof hex, "<0x%02X>", b);
        spm->byte_token[b] = lookup(t, hex, 6);
        if (spm->byte_token[b] < 0) spm->byte_token[b] = lookup(t, &one, 1);
    }
}
