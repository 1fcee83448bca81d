/* bpe.h - the GPT-2 byte-level BPE tokenizer: loads Hugging Face tokenizer.json or the
 * older vocab.json + merges.txt pair, and encodes/decodes exactly as tiktoken's "gpt2"
 * encoding and HF tokenizers do (checked against both by tests/test_tokenizer.c).
 *
 * Encoding is three steps, each as GPT-2 defines it:
 *  1. added tokens (e.g. <|endoftext|>) are cut out of the text, longest match first;
 *  2. the rest is split into pieces by GPT-2's regex
 *       's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
 *     (hand-written matcher over code points; \p{L}, \p{N} from utf8proc's categories,
 *     \s = Unicode White_Space, as tiktoken's Rust regex has it);
 *  3. each piece's bytes go through byte-level BPE: lowest merge rank first, leftmost
 *     first among equal ranks.
 *
 * Any byte string can be encoded, and decode(encode(x)) == x for every x. Invalid UTF-8
 * (stray continuation bytes, truncated or overlong sequences, surrogates, code points
 * past U+10FFFF) cannot reach tiktoken or HF, which take Unicode strings; here each byte
 * of an invalid sequence counts as one code point of the "other" class
 * ([^\s\p{L}\p{N}]), so it joins punctuation runs and encodes as its byte token.
 *
 * Not supported (refused at load): normalizers, pre-tokenizers other than ByteLevel with
 * add_prefix_space false, SentencePiece-style byte_fallback, subword prefixes/suffixes.
 * Ignored: added tokens' lstrip/rstrip/single_word flags, truncation and padding settings.
 * Supported beyond GPT-2: merges as ["a", "b"] pairs, ignore_merges, use_regex = false, and
 * character-level tokenizers (a Fuse decoder and no pre-tokenizer; see chars.h).
 *
 * Cost: encoding runs at tens of MB/s on English text; memory is about 40 bytes per byte
 * of the longest piece (a regex match, e.g. a run of letters), freed when encode returns.
 *
 * Thread safety: a loaded tokenizer is read-only; any number of threads may encode and
 * decode with it at once. */
#ifndef ATTN_TOKENIZER_BPE_H
#define ATTN_TOKENIZER_BPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <attn/tokenizer.h> /* the public interface this implements */

/* Where attn_tokenizer_load_for_model would load from (the rules are its): the path goes to
 * out (cap bytes). 0, or -1 with an error saying where it looked. */
int attn_tokenizer_find_for_model(const char *model_path, char *out, size_t cap);

#endif
