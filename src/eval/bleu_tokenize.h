/* bleu_tokenize.h - the text preprocessing of sacreBLEU's BLEU (sacrebleu 2.x), so that
 * attn's scores are sacreBLEU's scores:
 *
 *   segment -> str.lower() (when lowercasing) -> str.rstrip() -> tokenizer -> str.split()
 *
 * Tokenizers:
 *   13a   mteval-v13a as sacrebleu's tokenizer_13a.py does it: "<skipped>" removed, "-\n"
 *         joined, "\n" -> " ", &quot; &amp; &lt; &gt; unescaped (in that order), then the
 *         four regexes of tokenizer_re.py. Only ASCII characters are split off: the regexes'
 *         classes are ASCII ranges, so non-ASCII punctuation (« » „ “ … —) stays glued to its
 *         word, exactly as in sacrebleu.
 *   intl  mteval-v14's international tokenizer (tokenizer_intl.py): Unicode punctuation \p{P}
 *         split off unless between digits, symbols \p{S} always. Categories come from
 *         utf8proc (Unicode 15 in 2.8): punctuation and symbols new in Unicode 16+, which
 *         sacrebleu's `regex` module knows, are left alone here.
 *   none  no tokenization (for text that is already tokenized; with lowercasing this is the
 *         "tokenized lowercased BLEU" papers report, close to multi-bleu.perl).
 *
 * "Whitespace" is Python's str.isspace() set (it includes U+001C..U+001F and U+0085 but
 * not U+200B) and lowercasing is Python's str.lower(): Unicode simple lowercase mappings
 * plus İ -> i̇ and the final-sigma rule for Σ. */
#ifndef ATTN_EVAL_BLEU_TOKENIZE_H
#define ATTN_EVAL_BLEU_TOKENIZE_H

#include <stdbool.h>

typedef enum { BLEU_TOKENIZE_13A, BLEU_TOKENIZE_NONE, BLEU_TOKENIZE_INTL } bleu_tokenize_kind;

/* "13a", "none", "intl" -> kind; -1 with an error naming the choices otherwise. */
int bleu_tokenize_parse(const char *name, bleu_tokenize_kind *out);
const char *bleu_tokenize_name(bleu_tokenize_kind kind);

/* The tokens sacreBLEU counts for one segment (UTF-8, NUL-terminated), joined by single
 * spaces: a malloc'd string the caller frees. NULL with attn_last_error() set to
 * "invalid UTF-8 at byte N" when the segment is not valid UTF-8. */
char *bleu_preprocess(const char *segment, bleu_tokenize_kind kind, bool lowercase);

#endif
