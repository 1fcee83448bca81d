/* bleu_tokenize.c - sacreBLEU's segment preprocessing (see bleu_tokenize.h), over an array
 * of code points. Each regex substitution of sacrebleu is a pass that rewrites the array the
 * way Python's re.sub does: leftmost matches, never overlapping, scanning on after each. */
#include "eval/bleu_tokenize.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "core/common.h"

typedef struct {
    uint32_t *cp;
    size_t n, cap;
} cp_buf;

typedef bool (*cp_class)(uint32_t c);

static int cp_push(cp_buf *b, uint32_t c) {
    if (b->n == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 64;
        uint32_t *p = realloc(b->cp, cap * sizeof *p);
        if (!p) return attn_error("bleu: out of memory");
        b->cp = p;
        b->cap = cap;
    }
    b->cp[b->n++] = c;
    return 0;
}

static int cp_push_ascii(cp_buf *b, const char *s) {
    for (; *s; s++)
        if (cp_push(b, (unsigned char)*s)) return -1;
    return 0;
}

/* Replaces *b with out (the result of a pass). */
static void cp_take(cp_buf *b, cp_buf *out) {
    free(b->cp);
    *b = *out;
}

static int decode_utf8(const char *s, cp_buf *out) {
    size_t len = strlen(s);
    for (size_t i = 0; i < len;) {
        utf8proc_int32_t c;
        utf8proc_ssize_t k = utf8proc_iterate((const utf8proc_uint8_t *)s + i, (utf8proc_ssize_t)(len - i), &c);
        if (k <= 0) return attn_error("invalid UTF-8 at byte %zu", i + 1);
        if (cp_push(out, (uint32_t)c)) return -1;
        i += (size_t)k;
    }
    return 0;
}

/* Python's str.isspace(), which str.split() and str.rstrip() use. */
static bool is_py_space(uint32_t c) {
    return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F ||
           c == 0x3000;
}

static bool has_category(uint32_t c, const utf8proc_category_t *cats, int n) {
    utf8proc_category_t cat = utf8proc_category((utf8proc_int32_t)c);
    for (int i = 0; i < n; i++)
        if (cat == cats[i]) return true;
    return false;
}

/* Unicode's Cased property: cased letters, anything with a case mapping, and the
 * Other_Lowercase / Other_Uppercase characters that have neither and are not
 * case-ignorable (the only ones the final-sigma rule can look at): ª º and the squared,
 * circled and negative Latin capitals U+1F130..U+1F189. */
static bool is_cased(uint32_t c) {
    static const utf8proc_category_t cats[] = {UTF8PROC_CATEGORY_LU, UTF8PROC_CATEGORY_LL, UTF8PROC_CATEGORY_LT};
    utf8proc_int32_t x = (utf8proc_int32_t)c;
    if (c == 0xAA || c == 0xBA || (c >= 0x1F130 && c <= 0x1F149) || (c >= 0x1F150 && c <= 0x1F169) ||
        (c >= 0x1F170 && c <= 0x1F189))
        return true;
    return has_category(c, cats, 3) || utf8proc_tolower(x) != x || utf8proc_toupper(x) != x;
}

/* Case_Ignorable: marks, format characters, modifiers, and Word_Break's MidLetter,
 * MidNumLet and Single_Quote characters (apostrophes, periods, colons...). */
static bool is_case_ignorable(uint32_t c) {
    static const utf8proc_category_t cats[] = {UTF8PROC_CATEGORY_MN, UTF8PROC_CATEGORY_ME, UTF8PROC_CATEGORY_CF,
                                               UTF8PROC_CATEGORY_LM, UTF8PROC_CATEGORY_SK};
    static const uint32_t mid[] = {0x27,   0x2E,   0x3A,   0xB7,   0x387,  0x55F,  0x5F4,  0x2018,
                                   0x2019, 0x2024, 0x2027, 0xFE13, 0xFE52, 0xFE55, 0xFF07, 0xFF0E, 0xFF1A};
    for (size_t i = 0; i < sizeof mid / sizeof *mid; i++)
        if (c == mid[i]) return true;
    return has_category(c, cats, 5);
}

/* CPython's handle_capital_sigma: Σ becomes final ς after a cased letter (skipping
 * case-ignorables) when no cased letter follows (skipping case-ignorables). */
static bool sigma_is_final(const cp_buf *b, size_t i) {
    size_t j = i;
    while (j > 0 && is_case_ignorable(b->cp[j - 1])) j--;
    if (j == 0 || !is_cased(b->cp[j - 1])) return false;
    for (j = i + 1; j < b->n && is_case_ignorable(b->cp[j]); j++) {}
    return j == b->n || !is_cased(b->cp[j]);
}

/* Python's str.lower(): simple mappings, plus the two full mappings that differ. */
static int lowercase(cp_buf *b) {
    cp_buf out = {0};
    for (size_t i = 0; i < b->n; i++) {
        uint32_t c = b->cp[i];
        int rc;
        if (c == 0x130) rc = cp_push(&out, 'i') || cp_push(&out, 0x307); /* İ -> i + combining dot */
        else if (c == 0x3A3) rc = cp_push(&out, sigma_is_final(b, i) ? 0x3C2 : 0x3C3);
        else rc = cp_push(&out, (uint32_t)utf8proc_tolower((utf8proc_int32_t)c));
        if (rc) {
            free(out.cp);
            return -1;
        }
    }
    cp_take(b, &out);
    return 0;
}

static void rstrip(cp_buf *b) {
    while (b->n > 0 && is_py_space(b->cp[b->n - 1])) b->n--;
}

static bool matches_ascii_at(const cp_buf *b, size_t i, const char *s) {
    for (; *s; s++, i++)
        if (i >= b->n || b->cp[i] != (unsigned char)*s) return false;
    return true;
}

/* Python's str.replace(from, to) for ASCII strings. */
static int replace_ascii(cp_buf *b, const char *from, const char *to) {
    cp_buf out = {0};
    size_t from_len = strlen(from);
    for (size_t i = 0; i < b->n;) {
        int rc;
        if (matches_ascii_at(b, i, from)) {
            rc = cp_push_ascii(&out, to);
            i += from_len;
        } else rc = cp_push(&out, b->cp[i++]);
        if (rc) {
            free(out.cp);
            return -1;
        }
    }
    cp_take(b, &out);
    return 0;
}

/* re.sub(r'(CLASS)', r' \1 ', line) */
static int pad_each(cp_buf *b, cp_class cls) {
    cp_buf out = {0};
    for (size_t i = 0; i < b->n; i++) {
        uint32_t c = b->cp[i];
        if ((cls(c) ? cp_push(&out, ' ') || cp_push(&out, c) || cp_push(&out, ' ') : cp_push(&out, c))) {
            free(out.cp);
            return -1;
        }
    }
    cp_take(b, &out);
    return 0;
}

/* re.sub(r'(A)(B)', r'\1 \2 ', line), or r' \1 \2' when space_first. */
static int split_pair(cp_buf *b, cp_class first, cp_class second, bool space_first) {
    cp_buf out = {0};
    for (size_t i = 0; i < b->n;) {
        int rc;
        if (i + 1 < b->n && first(b->cp[i]) && second(b->cp[i + 1])) {
            if (space_first) rc = cp_push(&out, ' ') || cp_push(&out, b->cp[i]) || cp_push(&out, ' ') ||
                                  cp_push(&out, b->cp[i + 1]);
            else rc = cp_push(&out, b->cp[i]) || cp_push(&out, ' ') || cp_push(&out, b->cp[i + 1]) ||
                      cp_push(&out, ' ');
            i += 2;
        } else rc = cp_push(&out, b->cp[i++]);
        if (rc) {
            free(out.cp);
            return -1;
        }
    }
    cp_take(b, &out);
    return 0;
}

/* The character classes of tokenizer_re.py: Python's [0-9] is ASCII digits only. */
static bool is_13a_punct(uint32_t c) { /* [\{-\~\[-\` -\&\(-\+\:-\@\/] */
    return (c >= '{' && c <= '~') || (c >= '[' && c <= '`') || (c >= ' ' && c <= '&') || (c >= '(' && c <= '+') ||
           (c >= ':' && c <= '@') || c == '/';
}
static bool is_digit(uint32_t c) { return c >= '0' && c <= '9'; }
static bool is_not_digit(uint32_t c) { return !is_digit(c); }
static bool is_period_comma(uint32_t c) { return c == '.' || c == ','; }
static bool is_dash(uint32_t c) { return c == '-'; }

static int tokenize_13a(cp_buf *b) {
    if (replace_ascii(b, "<skipped>", "") || replace_ascii(b, "-\n", "") || replace_ascii(b, "\n", " ")) return -1;
    static const char *const entities[][2] = {{"&quot;", "\""}, {"&amp;", "&"}, {"&lt;", "<"}, {"&gt;", ">"}};
    for (size_t i = 0; i < 4; i++)
        if (replace_ascii(b, entities[i][0], entities[i][1])) return -1;
    cp_buf padded = {0}; /* f' {line} ': a period at the very end still has a neighbour */
    if (cp_push(&padded, ' ')) return -1;
    for (size_t i = 0; i < b->n; i++)
        if (cp_push(&padded, b->cp[i])) goto fail;
    if (cp_push(&padded, ' ')) goto fail;
    cp_take(b, &padded);
    return pad_each(b, is_13a_punct) || split_pair(b, is_not_digit, is_period_comma, false) ||
                   split_pair(b, is_period_comma, is_not_digit, true) || split_pair(b, is_digit, is_dash, false)
               ? -1
               : 0;
fail:
    free(padded.cp);
    return -1;
}

/* \p{N}, \p{P}, \p{S} of Python's regex module. */
static bool is_not_number(uint32_t c) {
    static const utf8proc_category_t cats[] = {UTF8PROC_CATEGORY_ND, UTF8PROC_CATEGORY_NL, UTF8PROC_CATEGORY_NO};
    return !has_category(c, cats, 3);
}
static bool is_punctuation(uint32_t c) {
    static const utf8proc_category_t cats[] = {UTF8PROC_CATEGORY_PC, UTF8PROC_CATEGORY_PD, UTF8PROC_CATEGORY_PS,
                                               UTF8PROC_CATEGORY_PE, UTF8PROC_CATEGORY_PI, UTF8PROC_CATEGORY_PF,
                                               UTF8PROC_CATEGORY_PO};
    return has_category(c, cats, 7);
}
static bool is_symbol(uint32_t c) {
    static const utf8proc_category_t cats[] = {UTF8PROC_CATEGORY_SM, UTF8PROC_CATEGORY_SC, UTF8PROC_CATEGORY_SK,
                                               UTF8PROC_CATEGORY_SO};
    return has_category(c, cats, 4);
}

static int tokenize_intl(cp_buf *b) {
    return split_pair(b, is_not_number, is_punctuation, false) || split_pair(b, is_punctuation, is_not_number, true) ||
                   pad_each(b, is_symbol)
               ? -1
               : 0;
}

/* ' '.join(line.split()) as UTF-8. */
static char *join_tokens(const cp_buf *b) {
    char *out = malloc(b->n * 4 + 1), *p = out;
    if (!out) {
        attn_error("bleu: out of memory");
        return NULL;
    }
    bool in_token = false;
    for (size_t i = 0; i < b->n; i++) {
        if (is_py_space(b->cp[i])) {
            in_token = false;
            continue;
        }
        if (!in_token && p != out) *p++ = ' ';
        in_token = true;
        p += utf8proc_encode_char((utf8proc_int32_t)b->cp[i], (utf8proc_uint8_t *)p);
    }
    *p = 0;
    return out;
}

char *bleu_preprocess(const char *segment, bleu_tokenize_kind kind, bool lowercase_it) {
    cp_buf b = {0};
    char *out = NULL;
    if (decode_utf8(segment, &b) || (lowercase_it && lowercase(&b))) goto done;
    rstrip(&b);
    if (kind == BLEU_TOKENIZE_13A && tokenize_13a(&b)) goto done;
    if (kind == BLEU_TOKENIZE_INTL && tokenize_intl(&b)) goto done;
    out = join_tokens(&b);
done:
    free(b.cp);
    return out;
}

static const char *const tokenize_names[] = {[BLEU_TOKENIZE_13A] = "13a", [BLEU_TOKENIZE_NONE] = "none",
                                             [BLEU_TOKENIZE_INTL] = "intl"};

int bleu_tokenize_parse(const char *name, bleu_tokenize_kind *out) {
    for (int k = 0; k < 3; k++)
        if (strcmp(name, tokenize_names[k]) == 0) {
            *out = (bleu_tokenize_kind)k;
            return 0;
        }
    return attn_error("unknown tokenizer '%s' (expected 13a, intl or none)", name);
}

const char *bleu_tokenize_name(bleu_tokenize_kind kind) { return tokenize_names[kind]; }
