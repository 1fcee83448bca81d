/* pretokenize.c - GPT-2's pre-tokenizer: the regex
 *     's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
 * written out by hand over code points. Every code point is a letter, a number, white
 * space or "other", and each class has an alternative that matches it, so the matches
 * tile the text with no gaps: we only ever need "where does the match starting here end".
 * Classes follow tiktoken's Rust regex: \p{L} = Lu Ll Lt Lm Lo, \p{N} = Nd Nl No (from
 * utf8proc, plus Unicode 16.0's additions), \s = the Unicode White_Space property. */
#include "tokenizer/bpe_internal.h"

#include <utf8proc.h>

/* ASCII is almost all of real text, so its classes come from a table. */
static const uint8_t ascii_class[128] = {
#define L BPE_CLS_LETTER
#define N BPE_CLS_NUMBER
#define S BPE_CLS_SPACE
#define O BPE_CLS_OTHER
    O, O, O, O, O, O, O, O, O, S, S, S, S, S, O, O, /* \t \n \v \f \r */
    O, O, O, O, O, O, O, O, O, O, O, O, O, O, O, O, /* 0x1c-0x1f are not White_Space */
    S, O, O, O, O, O, O, O, O, O, O, O, O, O, O, O, /* space ! " # ... / */
    N, N, N, N, N, N, N, N, N, N, O, O, O, O, O, O, /* 0-9 */
    O, L, L, L, L, L, L, L, L, L, L, L, L, L, L, L, /* @ A-O */
    L, L, L, L, L, L, L, L, L, L, L, O, O, O, O, O, /* P-Z */
    O, L, L, L, L, L, L, L, L, L, L, L, L, L, L, L, /* ` a-o */
    L, L, L, L, L, L, L, L, L, L, L, O, O, O, O, O, /* p-z */
#undef L
#undef N
#undef S
#undef O
};

/* White_Space beyond ASCII (PropList.txt); U+180E and U+200B are not in it. */
static bool is_white_space(int32_t cp) {
    return cp == 0x85 || cp == 0xA0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) ||
           cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

/* Letters and numbers new in Unicode 16.0, which tiktoken, HF tokenizers and Python's regex
 * already know but utf8proc 2.8 (Unicode 15) calls unassigned. Consulted only for code
 * points utf8proc says are unassigned, so a newer utf8proc simply makes it redundant.
 * Derived from tests/fixtures/tokenizer/tiktoken_gpt2_classes.tsv. */
static const struct { int32_t lo, hi; uint8_t cls; } unicode16[] = {
    {0x1C89, 0x1C8A, BPE_CLS_LETTER},
    {0xA7CB, 0xA7CD, BPE_CLS_LETTER},
    {0xA7DA, 0xA7DC, BPE_CLS_LETTER},
    {0x105C0, 0x105F3, BPE_CLS_LETTER},
    {0x10D40, 0x10D49, BPE_CLS_NUMBER},
    {0x10D4A, 0x10D65, BPE_CLS_LETTER},
    {0x10D6F, 0x10D85, BPE_CLS_LETTER},
    {0x10EC2, 0x10EC4, BPE_CLS_LETTER},
    {0x11380, 0x11389, BPE_CLS_LETTER},
    {0x1138B, 0x1138B, BPE_CLS_LETTER},
    {0x1138E, 0x1138E, BPE_CLS_LETTER},
    {0x11390, 0x113B5, BPE_CLS_LETTER},
    {0x113B7, 0x113B7, BPE_CLS_LETTER},
    {0x113D1, 0x113D1, BPE_CLS_LETTER},
    {0x113D3, 0x113D3, BPE_CLS_LETTER},
    {0x116D0, 0x116E3, BPE_CLS_NUMBER},
    {0x11BC0, 0x11BE0, BPE_CLS_LETTER},
    {0x11BF0, 0x11BF9, BPE_CLS_NUMBER},
    {0x13460, 0x143FA, BPE_CLS_LETTER},
    {0x16100, 0x1611D, BPE_CLS_LETTER},
    {0x16130, 0x16139, BPE_CLS_NUMBER},
    {0x16D40, 0x16D6C, BPE_CLS_LETTER},
    {0x16D70, 0x16D79, BPE_CLS_NUMBER},
    {0x18CFF, 0x18CFF, BPE_CLS_LETTER},
    {0x1CCF0, 0x1CCF9, BPE_CLS_NUMBER},
    {0x1E5D0, 0x1E5ED, BPE_CLS_LETTER},
    {0x1E5F0, 0x1E5F0, BPE_CLS_LETTER},
    {0x1E5F1, 0x1E5FA, BPE_CLS_NUMBER},
    {0x2EBF0, 0x2EE5D, BPE_CLS_LETTER},
};

static int unassigned_class(int32_t cp) {
    for (size_t i = 0; i < sizeof unicode16 / sizeof *unicode16; i++)
        if (cp >= unicode16[i].lo && cp <= unicode16[i].hi) return unicode16[i].cls;
    return BPE_CLS_OTHER;
}

int bpe_codepoint_class(int32_t cp) {
    if (cp < 0) return BPE_CLS_OTHER; /* an invalid byte */
    if (cp < 128) return ascii_class[cp];
    if (is_white_space(cp)) return BPE_CLS_SPACE;
    switch (utf8proc_category(cp)) {
    case UTF8PROC_CATEGORY_LU:
    case UTF8PROC_CATEGORY_LL:
    case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM:
    case UTF8PROC_CATEGORY_LO: return BPE_CLS_LETTER;
    case UTF8PROC_CATEGORY_ND:
    case UTF8PROC_CATEGORY_NL:
    case UTF8PROC_CATEGORY_NO: return BPE_CLS_NUMBER;
    case UTF8PROC_CATEGORY_CN: return unassigned_class(cp);
    default: return BPE_CLS_OTHER;
    }
}

static inline bool is_cont(uint8_t b) { return (b & 0xC0) == 0x80; }

/* Strict UTF-8 (RFC 3629): no overlong forms, no surrogates, nothing past U+10FFFF. The
 * second byte's allowed range depends on the first, which is what rules those out. */
size_t bpe_utf8_decode(const uint8_t *s, size_t n, int32_t *cp) {
    uint8_t b = s[0];
    *cp = -1;
    if (b < 0x80) {
        *cp = b;
        return 1;
    }
    size_t need;
    uint8_t lo = 0x80, hi = 0xBF;
    if (b >= 0xC2 && b <= 0xDF) need = 1;
    else if (b >= 0xE0 && b <= 0xEF) {
        need = 2;
        if (b == 0xE0) lo = 0xA0;
        if (b == 0xED) hi = 0x9F;
    } else if (b >= 0xF0 && b <= 0xF4) {
        need = 3;
        if (b == 0xF0) lo = 0x90;
        if (b == 0xF4) hi = 0x8F;
    } else return 1;
    if (n < need + 1 || s[1] < lo || s[1] > hi) return 1;
    for (size_t i = 2; i <= need; i++)
        if (!is_cont(s[i])) return 1;
    int32_t v = b & (0x3F >> need);
    for (size_t i = 1; i <= need; i++) v = v << 6 | (s[i] & 0x3F);
    *cp = v;
    return need + 1;
}

/* Class and byte length of the code point at s[pos]. */
static inline int class_at(const uint8_t *s, size_t n, size_t pos, size_t *width) {
    if (s[pos] < 0x80) {
        *width = 1;
        return ascii_class[s[pos]];
    }
    int32_t cp;
    *width = bpe_utf8_decode(s + pos, n - pos, &cp);
    return bpe_codepoint_class(cp);
}

/* End of the run of code points of class cls that starts at pos. */
static size_t run_end(const uint8_t *s, size_t n, size_t pos, int cls) {
    size_t w;
    while (pos < n && class_at(s, n, pos, &w) == cls) pos += w;
    return pos;
}

/* 's 't 're 've 'm 'll 'd (lower case only, as in GPT-2); 0 if none starts at s[0]. */
static size_t contraction_len(const uint8_t *s, size_t n) {
    if (n < 2) return 0;
    uint8_t a = s[1];
    if (a == 's' || a == 't' || a == 'm' || a == 'd') return 2;
    if (n < 3) return 0;
    uint8_t b = s[2];
    if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) return 3;
    return 0;
}

/* \s+(?!\S)|\s+ : the whole run if it ends the text; otherwise the run minus its last
 * code point (which then leads the next piece, e.g. " world"), unless that would leave
 * nothing, in which case the \s+ fallback takes the single code point. */
static size_t space_end(const uint8_t *s, size_t n, size_t pos) {
    size_t q = pos, last = pos, w;
    while (q < n && class_at(s, n, q, &w) == BPE_CLS_SPACE) {
        last = q;
        q += w;
    }
    if (q == n || last == pos) return q;
    return last;
}

size_t bpe_gpt2_piece_end(const uint8_t *s, size_t n, size_t pos) {
    if (s[pos] == '\'') {
        size_t k = contraction_len(s + pos, n - pos);
        if (k) return pos + k;
    }
    size_t w;
    int cls = class_at(s, n, pos, &w);
    if (s[pos] == ' ' && pos + 1 < n) { /* " ?X+": a space joins the run after it */
        size_t w1;
        int next = class_at(s, n, pos + 1, &w1);
        if (next != BPE_CLS_SPACE) return run_end(s, n, pos + 1 + w1, next);
    }
    if (cls != BPE_CLS_SPACE) return run_end(s, n, pos + w, cls);
    return space_end(s, n, pos);
}
