/* bpe_train.h - trains a GPT-2-style byte-level BPE vocabulary from text and saves it as a
 * Hugging Face tokenizer.json that attn_tokenizer_load and HF `tokenizers` both read.
 *
 * It reproduces HF tokenizers' BpeTrainer (with the ByteLevel pre-tokenizer and its
 * 256-symbol initial alphabet), so the same text gives the same vocabulary, ids and merges:
 *  - the text is cut at every '\n' (each line keeps its line ending, as HF's
 *    train(files) reads files) and each line into GPT-2 pre-tokenizer pieces; identical
 *    pieces are counted once with their frequency ("words");
 *  - ids: the special tokens first (<|endoftext|> = 0), then the 256 byte tokens in the
 *    order of their byte-level code points (GPT-2's own byte order), then one new id per
 *    merge in the order learned;
 *  - each step merges the pair of adjacent symbols with the highest count over all words,
 *    ties going to the smallest (left id, right id); pairs seen fewer than min_frequency
 *    times are never merged; training stops at vocab_size tokens or when no pair is left.
 *    The counts are updated incrementally: each merge visits only the words that held the
 *    pair, and a max-heap with lazy re-insertion of stale counts picks the next pair;
 *  - HF's quirks are kept on purpose, since they decide ties: the merged pair's own count is
 *    not decremented (a popped pair never comes back unless a merge re-creates it), a merge
 *    visits only the words recorded with the heap entry that won, and a merge whose string
 *    already exists (ab+c and a+bc) reuses that token's id; a pair merged twice keeps only
 *    its later rank, as HF's merge map does.
 * One deliberate difference: special tokens written in the training text (e.g. document
 * separators "<|endoftext|>") are cut out before counting, where HF would learn merges for
 * "<|", "endoftext" and "|>". Text containing no special token trains exactly as HF does.
 *
 * Memory: proportional to the distinct words (not the corpus), plus the word lists of the
 * pairs waiting in the heap. */
#ifndef ATTN_TOKENIZER_BPE_TRAIN_H
#define ATTN_TOKENIZER_BPE_TRAIN_H

#include <stddef.h>
#include <stdint.h>

typedef struct attn_bpe_trainer attn_bpe_trainer;

typedef struct {
    int vocab_size;         /* all tokens: special + 256 bytes + merges; at least 256 + specials */
    uint64_t min_frequency; /* a pair counted fewer times is not merged (HF's min_frequency) */
    const char *const *special; /* NULL: just "<|endoftext|>" */
    int n_special;
} attn_bpe_train_opts;

/* The options are copied (special token strings too). NULL with the error set when they are
 * invalid. */
attn_bpe_trainer *attn_bpe_trainer_new(const attn_bpe_train_opts *opts);
void attn_bpe_trainer_free(attn_bpe_trainer *t);

/* Counts the words of len bytes of text (any bytes; invalid UTF-8 is handled as the
 * tokenizer's pre-tokenizer does). May be called for many texts before training. */
int attn_bpe_trainer_feed(attn_bpe_trainer *t, const char *text, size_t len);

/* Adds count occurrences of one already pre-tokenized word (raw bytes), bypassing the
 * pre-tokenizer: for tests that follow HF's own trainer tests. */
int attn_bpe_trainer_add_word(attn_bpe_trainer *t, const char *word, size_t len, uint64_t count);

/* Learns the merges. Call once, after feeding. */
int attn_bpe_trainer_train(attn_bpe_trainer *t);

/* Writes the trained tokenizer.json atomically. */
int attn_bpe_trainer_save(const attn_bpe_trainer *t, const char *path);

typedef struct {
    size_t n_words;      /* distinct pre-tokenized pieces */
    uint64_t n_pieces;   /* pieces in the text, with repeats */
    int vocab_size;      /* tokens after training (fewer than asked when pairs ran out) */
    int n_merges;        /* merges saved */
} attn_bpe_train_stats;

void attn_bpe_trainer_stats(const attn_bpe_trainer *t, attn_bpe_train_stats *out);

/* Token id -> raw bytes after training (for tests); NULL when out of range. */
const char *attn_bpe_trainer_token(const attn_bpe_trainer *t, int id, size_t *len);

#endif
