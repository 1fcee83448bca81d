/* pretokenize_llama.c - the pre-tokenizers llama.cpp applies to byte-level BPE vocabularies
 * (tokenizer.ggml.pre), written out by hand like pretokenize.c. llama.cpp runs a list of
 * regexes in turn: each splits every piece so far into its matches and the gaps between
 * them (leftmost matches, std::regex semantics), and the next regex sees each of those
 * pieces on its own. So does bpe_pre_split: a stage is a matcher "does a match start at
 * pos, and where does it end", and pieces recurse through the stages in order.
 *
 *   starcoder, refact, smollm, ...: \p{N} | GPT-2's regex
 *   falcon:         [\p{P}$+<=>^~|`]+ | GPT-2's regex | [0-9][0-9][0-9]
 *   deepseek-coder: [\r\n] | \s?\p{L}+ | \s?\p{P}+ | [一-龥ࠀ-一가-퟿]+ | \p{N}
 *   deepseek-llm:   [\r\n] | \s?[cased letters]+ | \s?[!-/:-~！-／：-～‘-‟　-。]+ | \s+$ |
 *                   [一-龥ࠀ-一가-퟿]+ | \p{N}+
 *   llama-bpe (Llama 3), with D = 3; qwen2 with D = 1:
 *     (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,D}|
 *     ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
 * Classes are llama.cpp's: \s is Unicode White_Space; \p{L}, \p{N}, \p{P} the general
 * categories; in the regexes with literal code-point ranges llama.cpp first turns non-ASCII
 * white space into U+000B, so such ranges never match white space. */
#include <string.h>
#include <utf8proc.h>

#include "tokenizer/bpe_internal.h"

/* End of the match starting at pos, or pos when none starts there. */
typedef size_t (*stage_fn)(const uint8_t *s, size_t n, size_t pos);

static int32_t cp_at(const uint8_t *s, size_t n, size_t pos, size_t *w) {
    int32_t cp;
    *w = bpe_utf8_decode(s + pos, n - pos, &cp);
    return cp;
}

static bool is_space(int32_t cp) { return bpe_codepoint_class(cp) == BPE_CLS_SPACE; }
static bool is_letter(int32_t cp) { return bpe_codepoint_class(cp) == BPE_CLS_LETTER; }
static bool is_number(int32_t cp) { return bpe_codepoint_class(cp) == BPE_CLS_NUMBER; }

static bool is_punct(int32_t cp) {
    if (cp < 0) return false;
    if (cp < 128) return cp && strchr("!\"#%&'()*,-./:;?@[\\]_{}", cp) != NULL;
    switch (utf8proc_category(cp)) {
    case UTF8PROC_CATEGORY_PC:
    case UTF8PROC_CATEGORY_PD:
    case UTF8PROC_CATEGORY_PS:
    case UTF8PROC_CATEGORY_PE:
    case UTF8PROC_CATEGORY_PI:
    case UTF8PROC_CATEGORY_PF:
    case UTF8PROC_CATEGORY_PO: return true;
    default: return false;
    }
}

static bool is_falcon_punct(int32_t cp) {
    return is_punct(cp) || (cp > 0 && cp < 128 && strchr("$+<=>^~|`", cp) != NULL);
}

typedef struct {
    int32_t lo, hi;
} cp_range;

static bool in_ranges(int32_t cp, const cp_range *r, size_t n) {
    if (is_space(cp)) return false; /* llama.cpp hides non-ASCII white space from ranges */
    for (size_t i = 0; i < n; i++)
        if (cp >= r[i].lo && cp <= r[i].hi) return true;
    return false;
}

static const cp_range cjk[] = {{0x4E00, 0x9FA5}, {0x0800, 0x4E00}, {0xAC00, 0xD7FF}};
static bool is_cjk(int32_t cp) { return in_ranges(cp, cjk, sizeof cjk / sizeof *cjk); }

/* deepseek-llm's letter class (cased letters), as llama-vocab.cpp spells it. */
static const cp_range ds_letters[] = {
    {0x41, 0x5A}, {0x61, 0x7A}, {0xB5, 0xB5}, {0xC0, 0xD6}, {0xD8, 0xF6}, {0xF8, 0x1BA},
    {0x1BC, 0x1BF}, {0x1C4, 0x293}, {0x295, 0x2AF}, {0x370, 0x373}, {0x376, 0x377},
    {0x37B, 0x37D}, {0x37F, 0x37F}, {0x386, 0x386}, {0x388, 0x38A}, {0x38C, 0x38C},
    {0x38E, 0x3A1}, {0x3A3, 0x3F5}, {0x3F7, 0x481}, {0x48A, 0x52F}, {0x531, 0x556},
    {0x10A0, 0x10C5}, {0x13A0, 0x13F5}, {0x13F8, 0x13FD}, {0x1C90, 0x1CBA}, {0x1CBD, 0x1CBF},
    {0x1D00, 0x1D2B}, {0x1D6B, 0x1D77}, {0x1D79, 0x1D9A}, {0x1E00, 0x1F15}, {0x1F18, 0x1F1D},
    {0x1F20, 0x1F45}, {0x1F48, 0x1F4D}, {0x1F50, 0x1F57}, {0x1F59, 0x1F59}, {0x1F5B, 0x1F5B},
    {0x1F5D, 0x1F5D}, {0x1F5F, 0x1F7D}, {0x1F80, 0x1FB4}, {0x1FB6, 0x1FBC}, {0x1FBE, 0x1FBE},
    {0x1FC2, 0x1FC4}, {0x1FC6, 0x1FCC}, {0x1FD0, 0x1FD3}, {0x1FD6, 0x1FDB}, {0x1FE0, 0x1FEC},
    {0x1FF2, 0x1FF4}, {0x1FF6, 0x1FFC}, {0x2102, 0x2102}, {0x2107, 0x2107}, {0x210A, 0x2113},
    {0x2115, 0x2115}, {0x2119, 0x211D}, {0x2124, 0x2124}, {0x2126, 0x2126}, {0x2128, 0x2128},
    {0x212A, 0x212D}, {0x212F, 0x2134}, {0x2139, 0x2139}, {0x213C, 0x213F}, {0x2145, 0x2149},
    {0x214E, 0x214E}, {0x2183, 0x2184}, {0x2C00, 0x2C7B}, {0x2C7E, 0x2CE4}, {0x2CEB, 0x2CEE},
    {0x2CF2, 0x2CF3}, {0xA640, 0xA66D}, {0xA680, 0xA69B}, {0xA722, 0xA76F}, {0xA771, 0xA787},
    {0xA78B, 0xA78E}, {0xAB70, 0xABBF}, {0xFB00, 0xFB06}, {0xFB13, 0xFB17}, {0xFF21, 0xFF3A},
    {0xFF41, 0xFF5A}, {0x10400, 0x1044F}, {0x104B0, 0x104D3}, {0x104D8, 0x104FB},
    {0x10C80, 0x10CB2}, {0x10CC0, 0x10CF2}, {0x118A0, 0x118DF}, {0x1E900, 0x1E943},
};
static bool is_ds_letter(int32_t cp) {
    return in_ranges(cp, ds_letters, sizeof ds_letters / sizeof *ds_letters);
}

static const cp_range ds_punct[] = {{0x21, 0x2F},     {0x3A, 0x7E},     {0xFF01, 0xFF0F},
                                    {0xFF1A, 0xFF5E}, {0x2018, 0x201F}, {0x3000, 0x3002}};
static bool is_ds_punct(int32_t cp) {
    return in_ranges(cp, ds_punct, sizeof ds_punct / sizeof *ds_punct);
}

/* ---- building blocks ---- */

static size_t run_of(const uint8_t *s, size_t n, size_t pos, bool (*pred)(int32_t)) {
    size_t w;
    while (pos < n && pred(cp_at(s, n, pos, &w))) pos += w;
    return pos;
}

static size_t one_of(const uint8_t *s, size_t n, size_t pos, bool (*pred)(int32_t)) {
    size_t w;
    return pred(cp_at(s, n, pos, &w)) ? pos + w : pos;
}

/* \s?X+ : the optional space is taken only when X+ follows it. */
static size_t space_then_run(const uint8_t *s, size_t n, size_t pos, bool (*pred)(int32_t)) {
    size_t w;
    if (is_space(cp_at(s, n, pos, &w))) {
        size_t e = run_of(s, n, pos + w, pred);
        if (e > pos + w) return e;
    }
    return run_of(s, n, pos, pred);
}

/* ---- the stages ---- */

static size_t st_gpt2(const uint8_t *s, size_t n, size_t pos) { return bpe_gpt2_piece_end(s, n, pos); }
static size_t st_number(const uint8_t *s, size_t n, size_t pos) { return one_of(s, n, pos, is_number); }
static size_t st_numbers(const uint8_t *s, size_t n, size_t pos) { return run_of(s, n, pos, is_number); }
static size_t st_falcon_punct(const uint8_t *s, size_t n, size_t pos) {
    return run_of(s, n, pos, is_falcon_punct);
}
static size_t st_digits3(const uint8_t *s, size_t n, size_t pos) {
    for (size_t i = 0; i < 3; i++)
        if (pos + i >= n || s[pos + i] < '0' || s[pos + i] > '9') return pos;
    return pos + 3;
}
static size_t st_newline(const uint8_t *s, size_t n, size_t pos) {
    (void)n;
    return s[pos] == '\r' || s[pos] == '\n' ? pos + 1 : pos;
}
static size_t st_space_letters(const uint8_t *s, size_t n, size_t pos) {
    return space_then_run(s, n, pos, is_letter);
}
static size_t st_space_punct(const uint8_t *s, size_t n, size_t pos) {
    return space_then_run(s, n, pos, is_punct);
}
static size_t st_cjk(const uint8_t *s, size_t n, size_t pos) { return run_of(s, n, pos, is_cjk); }
static size_t st_ds_letters(const uint8_t *s, size_t n, size_t pos) {
    return space_then_run(s, n, pos, is_ds_letter);
}
static size_t st_ds_punct(const uint8_t *s, size_t n, size_t pos) {
    return space_then_run(s, n, pos, is_ds_punct);
}
static size_t st_trailing_space(const uint8_t *s, size_t n, size_t pos) { /* \s+$ */
    return run_of(s, n, pos, is_space) == n ? n : pos;
}

/* ---- Llama 3's regex (tiles the text like GPT-2's, so it is one stage) ---- */

static bool is_newline(int32_t cp) { return cp == '\r' || cp == '\n'; }
static bool is_other(int32_t cp) { return bpe_codepoint_class(cp) == BPE_CLS_OTHER; }

/* (?i:'s|'t|'re|'ve|'m|'ll|'d) at pos: its length, or 0. */
static size_t contraction(const uint8_t *s, size_t n, size_t pos) {
    if (s[pos] != '\'' || pos + 1 >= n) return 0;
    int a = s[pos + 1] | 0x20, b = pos + 2 < n ? s[pos + 2] | 0x20 : 0;
    if (a == 's' || a == 't' || a == 'm' || a == 'd') return 2;
    if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) return 3;
    return 0;
}

/* The white-space alternatives: \s*[\r\n]+ (up to the run's last newline), else
 * \s+(?!\S) (all but the last space before a non-space), else \s+. */
static size_t llama3_space(const uint8_t *s, size_t n, size_t pos) {
    size_t w, end = pos, last_nl = 0, before_last = pos;
    bool nl = false;
    while (end < n) {
        int32_t cp = cp_at(s, n, end, &w);
        if (!is_space(cp)) break;
        if (is_newline(cp)) nl = true, last_nl = end + w;
        before_last = end;
        end += w;
    }
    if (nl) return last_nl;
    if (end == n || before_last == pos) return end;
    return before_last;
}

static size_t llama3_piece_end(const uint8_t *s, size_t n, size_t pos, int max_digits) {
    size_t w, w2, c = contraction(s, n, pos);
    if (c) return pos + c;
    int32_t cp = cp_at(s, n, pos, &w);
    if (is_letter(cp)) return run_of(s, n, pos, is_letter);
    bool prefix = !is_newline(cp) && !is_letter(cp) && !is_number(cp);
    if (prefix && pos + w < n && is_letter(cp_at(s, n, pos + w, &w2)))
        return run_of(s, n, pos + w, is_letter);
    if (is_number(cp)) {
        size_t end = pos;
        for (int k = 0; k < max_digits && end < n && is_number(cp_at(s, n, end, &w2)); k++)
            end += w2;
        return end;
    }
    size_t start = cp == ' ' && pos + w < n && is_other(cp_at(s, n, pos + w, &w2)) ? pos + w : pos;
    if (is_other(cp_at(s, n, start, &w2))) /* ' ?[^\s\p{L}\p{N}]+[\r\n]*' */
        return run_of(s, n, run_of(s, n, start, is_other), is_newline);
    return llama3_space(s, n, pos);
}

static size_t st_llama3(const uint8_t *s, size_t n, size_t pos) {
    return llama3_piece_end(s, n, pos, 3);
}
static size_t st_qwen2(const uint8_t *s, size_t n, size_t pos) {
    return llama3_piece_end(s, n, pos, 1);
}

enum { MAX_STAGES = 6 };
static const stage_fn stages[][MAX_STAGES + 1] = {
    [BPE_PRE_GPT2] = {st_gpt2},
    [BPE_PRE_STARCODER] = {st_number, st_gpt2},
    [BPE_PRE_FALCON] = {st_falcon_punct, st_gpt2, st_digits3},
    [BPE_PRE_DEEPSEEK_CODER] = {st_newline, st_space_letters, st_space_punct, st_cjk, st_number},
    [BPE_PRE_DEEPSEEK_LLM] = {st_newline, st_ds_letters, st_ds_punct, st_trailing_space, st_cjk,
                              st_numbers},
    [BPE_PRE_LLAMA3] = {st_llama3},
    [BPE_PRE_QWEN2] = {st_qwen2},
};

/* Splits s[0..n) by stage k into matches and gaps, each passed on to stage k + 1. */
static int split(const stage_fn *st, int k, const uint8_t *s, size_t n, bpe_piece_fn fn,
                 void *ctx) {
    if (n == 0) return 0;
    if (!st[k]) return fn(ctx, s, n);
    size_t gap = 0, w;
    for (size_t pos = 0; pos < n;) {
        size_t end = st[k](s, n, pos);
        if (end == pos) {
            cp_at(s, n, pos, &w);
            pos += w;
            continue;
        }
        int rc = split(st, k + 1, s + gap, pos - gap, fn, ctx);
        if (!rc) rc = split(st, k + 1, s + pos, end - pos, fn, ctx);
        if (rc) return rc;
        pos = gap = end;
    }
    return split(st, k + 1, s + gap, n - gap, fn, ctx);
}

int bpe_pre_split(int pre, const uint8_t *s, size_t n, bpe_piece_fn fn, void *ctx) {
    return split(stages[pre], 0, s, n, fn, ctx);
}
