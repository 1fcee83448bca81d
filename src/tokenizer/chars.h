/* chars.h - character-level tokenizers (nanoGPT's shakespeare_char): one token per distinct
 * Unicode character of the training text.
 *
 * Saved as a Hugging Face tokenizer.json that HF `tokenizers` loads as it is:
 *   "model": BPE with a vocab of single characters, "merges": [], "unk_token": "<unk>";
 *   "pre_tokenizer": null (the text is not split), "normalizer": null;
 *   "decoder": {"type": "Fuse"} (tokens are joined with nothing between them).
 * Ids: the characters sorted by code point are 0..n-1 (so for Tiny Shakespeare they are
 * exactly nanoGPT's stoi), then <|endoftext|> = n (a special added token), <unk> = n+1.
 *
 * attn_tokenizer_load recognises such a file (Fuse decoder, no pre-tokenizer) and encodes
 * each UTF-8 character to its id; a character the vocabulary lacks, and each byte of
 * invalid UTF-8, becomes <unk> (an error when the file names no unk_token). Decoding
 * <unk> gives the text "<unk>". Special tokens written in the text are matched as for any
 * tokenizer (attn_tokenizer_encode's parse_special). */
#ifndef ATTN_TOKENIZER_CHARS_H
#define ATTN_TOKENIZER_CHARS_H

#include <stddef.h>
#include <stdint.h>

typedef struct attn_char_set attn_char_set;

attn_char_set *attn_char_set_new(void);
void attn_char_set_free(attn_char_set *cs);

/* Records the characters of len bytes of text. "<|endoftext|>" written in the text is
 * skipped (it is a token of its own); invalid UTF-8 bytes are counted and skipped. A NUL
 * byte is an error, nothing recorded: jansson, which loads tokenizer.json, refuses "\u0000"
 * as an object key, so a vocab holding it could be written but never read back. */
int attn_char_set_add(attn_char_set *cs, const char *text, size_t len);

/* Writes the tokenizer.json atomically; an error when no character was seen. */
int attn_char_set_save(const attn_char_set *cs, const char *path);

typedef struct {
    int n_chars;            /* distinct characters */
    uint64_t invalid_bytes; /* bytes of invalid UTF-8 skipped */
} attn_char_set_stats;

void attn_char_set_get_stats(const attn_char_set *cs, attn_char_set_stats *out);

#endif
