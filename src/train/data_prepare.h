/* data_prepare.h - text files -> DIR/train.bin and DIR/val.bin token shards (data.h), the
 * library side of `attn data prepare`.
 *
 * Split: by contiguous chunks, per file. The first (1 - val_fraction) of each file's
 * characters goes to train, the rest to val, cut at a character boundary; for one file this
 * is nanoGPT's data[:int(n*0.9)] / data[int(n*0.9):]. Each portion is tokenized on its own.
 * Files are documents: when several are given, <|endoftext|> (the tokenizer's end-of-text
 * token, if it has one) separates consecutive files' portions in each shard. Special tokens
 * written in the text (e.g. "<|endoftext|>" between stories) become their ids.
 *
 * Files are mapped and tokenized in slices of about 1 MiB (slice_bytes), cut only where a line break sits
 * between two printable ASCII characters: there GPT-2's pre-tokenizer always ends a piece,
 * so the ids equal those of the whole text at once (for byte-level BPE with GPT-2's regex
 * and for character tokenizers). The tokens are kept in memory (2 or 4 bytes each) until
 * the shards are written atomically.
 *
 * DIR also receives a copy of the tokenizer file(s), so the folder describes itself: the
 * shards' tokenizer id is attn_data_tokenizer_id(DIR). */
#ifndef ATTN_TRAIN_DATA_PREPARE_H
#define ATTN_TRAIN_DATA_PREPARE_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    const char *const *inputs;
    int n_inputs;
    const char *out_dir;     /* created if missing (one level) */
    const char *tokenizer;   /* tokenizer.json, or a folder with one (or vocab.json + merges.txt) */
    double val_fraction;     /* in [0, 1) */
    /* Called after every slice with bytes tokenized so far and in all (may be NULL). */
    void (*progress)(void *ctx, uint64_t done, uint64_t total);
    void *progress_ctx;
    size_t slice_bytes;      /* 0: about 1 MiB (tests make it small to cut often) */
} attn_data_prepare_opts;

typedef struct {
    uint64_t bytes;             /* text read */
    uint64_t train_tokens, val_tokens;
    uint32_t vocab_size, token_bytes;
    uint64_t tokenizer_id;
    double seconds;
} attn_data_prepare_result;

int attn_data_prepare(const attn_data_prepare_opts *o, attn_data_prepare_result *r);

#endif
