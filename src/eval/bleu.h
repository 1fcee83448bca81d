/* bleu.h - BLEU exactly as sacreBLEU 2.x computes it by default (Post, 2018), so a score
 * printed by attn is the score `sacrebleu` prints on the same files:
 *
 *   - segments preprocessed by bleu_tokenize.h (13a by default, case-sensitive unless
 *     lowercase), n-grams of order 1..4 counted per segment, clipped by the largest count in
 *     any one reference;
 *   - the reference length of a segment is the one closest to the hypothesis length, the
 *     shorter one on a tie; lengths and counts are summed over the corpus;
 *   - brevity penalty exp(1 - ref_len / hyp_len) when hyp_len < ref_len (0 for an empty
 *     hypothesis), 'exp' smoothing (mteval's: the k-th order with no match gets precision
 *     1 / (2^k total)), no score at all (0) when nothing matches;
 *   - corpus BLEU uses all 4 orders (an order with no n-grams makes the score 0); sentence BLEU
 *     uses the effective order (orders up to the longest n-gram the hypothesis has), as
 *     sacrebleu.sentence_bleu and `sacrebleu --sentence-level` do.
 *
 * The arithmetic follows sacrebleu's statement by statement (same libm exp/log), so scores
 * agree to the last bits, not just to the two printed decimals. */
#ifndef ATTN_EVAL_BLEU_H
#define ATTN_EVAL_BLEU_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "eval/bleu_tokenize.h"

#define BLEU_MAX_ORDER 4

typedef struct {
    bleu_tokenize_kind tokenize;
    bool lowercase;
} bleu_options;

/* Sufficient statistics: they add up over segments. */
typedef struct {
    int64_t hyp_len, ref_len;
    int64_t correct[BLEU_MAX_ORDER], total[BLEU_MAX_ORDER];
} bleu_stats;

typedef struct {
    double score; /* 0..100 */
    double precisions[BLEU_MAX_ORDER];
    double bp, ratio;
    bleu_stats stats;
} bleu_score;

/* Statistics of one hypothesis against its n_refs >= 1 references (raw UTF-8 text).
 * -1 with attn_last_error() "hypothesis: invalid UTF-8 at byte N" (or "reference K: ...")
 * on bad input. */
int bleu_segment_stats(const char *hyp, const char *const *refs, int n_refs, const bleu_options *opt,
                       bleu_stats *out);

void bleu_stats_add(bleu_stats *sum, const bleu_stats *segment);

/* sacrebleu's BLEU.compute_bleu with smooth_method='exp'. */
bleu_score bleu_score_from_stats(const bleu_stats *stats, bool effective_order);

/* Corpus BLEU of hyps[i] against refs[r][i], r < n_refs (sacrebleu.corpus_bleu). */
int bleu_corpus(const char *const *hyps, size_t n_segments, const char *const *const *refs, int n_refs,
                const bleu_options *opt, bleu_score *out);

/* Sentence BLEU (sacrebleu.sentence_bleu: effective order). */
int bleu_sentence(const char *hyp, const char *const *refs, int n_refs, const bleu_options *opt, bleu_score *out);

/* str(score) in sacrebleu:
 * "BLEU = 35.21 66.7/41.2/28.0/19.5 (BP = 0.970 ratio = 0.971 hyp_len = 99 ref_len = 102)" */
void bleu_format(const bleu_score *s, char *buf, size_t size);

/* sacrebleu's signature without the version: "nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp" */
void bleu_signature(const bleu_options *opt, int n_refs, bool effective_order, char *buf, size_t size);

#endif
