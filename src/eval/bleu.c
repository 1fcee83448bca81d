/* bleu.c - sacreBLEU's BLEU (see bleu.h). A segment's tokens are turned into small integer
 * ids (sorting the distinct strings), its n-grams into fixed-size keys, and the keys of each
 * text are sorted, so counting and clipping are binary searches rather than a hash table. */
#include "eval/bleu.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/common.h"

/* An n-gram of token ids; the unused tail is -1, so different orders never compare equal. */
typedef struct {
    int32_t id[BLEU_MAX_ORDER];
} ngram;

/* One preprocessed text (hypothesis or reference) of a segment. */
typedef struct {
    char *text; /* the tokens, each NUL-terminated in place */
    const char **tokens;
    int32_t *ids;
    int n_tokens;
    ngram *grams; /* sorted */
    size_t n_grams;
} seg_text;

static void seg_text_free(seg_text *t) {
    free(t->text);
    free(t->tokens);
    free(t->ids);
    free(t->grams);
}

static int seg_text_load(seg_text *t, const char *raw, const bleu_options *opt) {
    t->text = bleu_preprocess(raw, opt->tokenize, opt->lowercase);
    if (!t->text) return -1;
    size_t len = strlen(t->text);
    t->tokens = malloc((len / 2 + 1) * sizeof *t->tokens);
    t->ids = malloc((len / 2 + 1) * sizeof *t->ids);
    if (!t->tokens || !t->ids) return attn_error("bleu: out of memory");
    for (char *p = t->text; *p;) { /* tokens are joined by single spaces */
        t->tokens[t->n_tokens++] = p;
        char *space = strchr(p, ' ');
        if (!space) break;
        *space = 0;
        p = space + 1;
    }
    return 0;
}

typedef struct {
    const char *token;
    int32_t *id;
} token_slot;

static int cmp_token_slot(const void *a, const void *b) {
    return strcmp(((const token_slot *)a)->token, ((const token_slot *)b)->token);
}

/* Equal strings across all the segment's texts get equal ids. */
static int assign_ids(seg_text *texts, int n_texts) {
    size_t n = 0, k = 0;
    for (int t = 0; t < n_texts; t++) n += (size_t)texts[t].n_tokens;
    token_slot *slots = malloc((n ? n : 1) * sizeof *slots);
    if (!slots) return attn_error("bleu: out of memory");
    for (int t = 0; t < n_texts; t++)
        for (int i = 0; i < texts[t].n_tokens; i++) slots[k++] = (token_slot){texts[t].tokens[i], &texts[t].ids[i]};
    qsort(slots, n, sizeof *slots, cmp_token_slot);
    int32_t id = 0;
    for (size_t i = 0; i < n; i++) {
        if (i > 0 && strcmp(slots[i - 1].token, slots[i].token) != 0) id++;
        *slots[i].id = id;
    }
    free(slots);
    return 0;
}

static int cmp_ngram(const void *a, const void *b) {
    const int32_t *x = ((const ngram *)a)->id, *y = ((const ngram *)b)->id;
    for (int i = 0; i < BLEU_MAX_ORDER; i++)
        if (x[i] != y[i]) return x[i] < y[i] ? -1 : 1;
    return 0;
}

static int ngram_order(const ngram *g) {
    int n = 0;
    while (n < BLEU_MAX_ORDER && g->id[n] >= 0) n++;
    return n;
}

static int build_ngrams(seg_text *t) {
    size_t n = (size_t)t->n_tokens;
    t->grams = malloc((n ? n : 1) * BLEU_MAX_ORDER * sizeof *t->grams);
    if (!t->grams) return attn_error("bleu: out of memory");
    for (int order = 1; order <= BLEU_MAX_ORDER; order++)
        for (int i = 0; i + order <= t->n_tokens; i++) {
            ngram *g = &t->grams[t->n_grams++];
            for (int k = 0; k < BLEU_MAX_ORDER; k++) g->id[k] = k < order ? t->ids[i + k] : -1;
        }
    qsort(t->grams, t->n_grams, sizeof *t->grams, cmp_ngram);
    return 0;
}

/* First index in sorted grams[0, n) whose key is >= g (or > g when strictly_after). */
static size_t ngram_bound(const ngram *grams, size_t n, const ngram *g, bool strictly_after) {
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = cmp_ngram(&grams[mid], g);
        if (c < 0 || (strictly_after && c == 0)) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

static int64_t ngram_count(const seg_text *t, const ngram *g) {
    return (int64_t)(ngram_bound(t->grams, t->n_grams, g, true) - ngram_bound(t->grams, t->n_grams, g, false));
}

/* sacrebleu's _get_closest_ref_len: the closest length, the shorter one on a tie. */
static int64_t closest_ref_len(int64_t hyp_len, const seg_text *refs, int n_refs) {
    int64_t best = refs[0].n_tokens;
    for (int r = 1; r < n_refs; r++) {
        int64_t len = refs[r].n_tokens, diff = llabs(hyp_len - len), best_diff = llabs(hyp_len - best);
        if (diff < best_diff || (diff == best_diff && len < best)) best = len;
    }
    return best;
}

/* Each distinct hypothesis n-gram counts at most as often as in the reference that has it most. */
static void count_matches(const seg_text *hyp, const seg_text *refs, int n_refs, bleu_stats *out) {
    for (size_t i = 0; i < hyp->n_grams;) {
        size_t j = i + 1;
        while (j < hyp->n_grams && cmp_ngram(&hyp->grams[i], &hyp->grams[j]) == 0) j++;
        int64_t count = (int64_t)(j - i), in_refs = 0;
        for (int r = 0; r < n_refs; r++) in_refs = ATTN_MAX(in_refs, ngram_count(&refs[r], &hyp->grams[i]));
        int order = ngram_order(&hyp->grams[i]);
        out->total[order - 1] += count;
        out->correct[order - 1] += ATTN_MIN(count, in_refs);
        i = j;
    }
}

static int prepare_text(seg_text *t, const char *raw, const bleu_options *opt, const char *what, int index) {
    if (seg_text_load(t, raw, opt) == 0) return 0;
    char msg[256];
    snprintf(msg, sizeof msg, "%s", attn_last_error());
    return index < 0 ? attn_error("%s: %s", what, msg) : attn_error("%s %d: %s", what, index + 1, msg);
}

int bleu_segment_stats(const char *hyp, const char *const *refs, int n_refs, const bleu_options *opt,
                       bleu_stats *out) {
    if (n_refs < 1) return attn_error("bleu: a segment needs at least one reference");
    memset(out, 0, sizeof *out);
    seg_text *texts = calloc((size_t)n_refs + 1, sizeof *texts);
    if (!texts) return attn_error("bleu: out of memory");
    int rc = prepare_text(&texts[0], hyp, opt, "hypothesis", -1);
    for (int r = 0; r < n_refs && rc == 0; r++) rc = prepare_text(&texts[r + 1], refs[r], opt, "reference", r);
    if (rc == 0) rc = assign_ids(texts, n_refs + 1);
    for (int t = 0; t <= n_refs && rc == 0; t++) rc = build_ngrams(&texts[t]);
    if (rc == 0) {
        out->hyp_len = texts[0].n_tokens;
        out->ref_len = closest_ref_len(out->hyp_len, texts + 1, n_refs);
        count_matches(&texts[0], texts + 1, n_refs, out);
    }
    for (int t = 0; t <= n_refs; t++) seg_text_free(&texts[t]);
    free(texts);
    return rc;
}

void bleu_stats_add(bleu_stats *sum, const bleu_stats *s) {
    sum->hyp_len += s->hyp_len;
    sum->ref_len += s->ref_len;
    for (int n = 0; n < BLEU_MAX_ORDER; n++) {
        sum->correct[n] += s->correct[n];
        sum->total[n] += s->total[n];
    }
}

/* sacrebleu's my_log: log with log(0) floored to -9999999999. */
static double floored_log(double x) { return x == 0.0 ? -9999999999.0 : log(x); }

bleu_score bleu_score_from_stats(const bleu_stats *st, bool effective_order) {
    bleu_score s = {.stats = *st, .bp = 1.0};
    if (st->hyp_len < st->ref_len)
        s.bp = st->hyp_len > 0 ? exp(1.0 - (double)st->ref_len / (double)st->hyp_len) : 0.0;
    s.ratio = st->ref_len ? (double)st->hyp_len / (double)st->ref_len : 0.0;
    bool any_match = false;
    for (int n = 0; n < BLEU_MAX_ORDER; n++) any_match |= st->correct[n] != 0;
    if (!any_match) return s; /* sacrebleu's early exit (#141): score and precisions 0 */
    double smooth = 1.0;
    int eff_order = BLEU_MAX_ORDER;
    for (int n = 1; n <= BLEU_MAX_ORDER; n++) {
        double correct = (double)st->correct[n - 1], total = (double)st->total[n - 1];
        if (st->total[n - 1] == 0) break;
        if (effective_order) eff_order = n;
        if (st->correct[n - 1] == 0) {
            smooth *= 2;
            s.precisions[n - 1] = 100. / (smooth * total);
        } else s.precisions[n - 1] = 100. * correct / total;
    }
    double log_sum = 0.0; /* in sacrebleu's order: sum() from the left */
    for (int n = 0; n < eff_order; n++) log_sum += floored_log(s.precisions[n]);
    s.score = s.bp * exp(log_sum / eff_order);
    return s;
}

int bleu_corpus(const char *const *hyps, size_t n_segments, const char *const *const *refs, int n_refs,
                const bleu_options *opt, bleu_score *out) {
    bleu_stats sum = {0};
    const char *seg_refs[64];
    if (n_refs < 1 || n_refs > 64) return attn_error("bleu: between 1 and 64 references, not %d", n_refs);
    for (size_t i = 0; i < n_segments; i++) {
        bleu_stats s;
        for (int r = 0; r < n_refs; r++) seg_refs[r] = refs[r][i];
        if (bleu_segment_stats(hyps[i], seg_refs, n_refs, opt, &s)) return -1;
        bleu_stats_add(&sum, &s);
    }
    *out = bleu_score_from_stats(&sum, false);
    return 0;
}

int bleu_sentence(const char *hyp, const char *const *refs, int n_refs, const bleu_options *opt, bleu_score *out) {
    bleu_stats s;
    if (bleu_segment_stats(hyp, refs, n_refs, opt, &s)) return -1;
    *out = bleu_score_from_stats(&s, true);
    return 0;
}

void bleu_format(const bleu_score *s, char *buf, size_t size) {
    snprintf(buf, size,
             "BLEU = %.2f %.1f/%.1f/%.1f/%.1f (BP = %.3f ratio = %.3f hyp_len = %lld ref_len = %lld)", s->score,
             s->precisions[0], s->precisions[1], s->precisions[2], s->precisions[3], s->bp, s->ratio,
             (long long)s->stats.hyp_len, (long long)s->stats.ref_len);
}

void bleu_signature(const bleu_options *opt, int n_refs, bool effective_order, char *buf, size_t size) {
    snprintf(buf, size, "nrefs:%d|case:%s|eff:%s|tok:%s|smooth:exp", n_refs, opt->lowercase ? "lc" : "mixed",
             effective_order ? "yes" : "no", bleu_tokenize_name(opt->tokenize));
}
