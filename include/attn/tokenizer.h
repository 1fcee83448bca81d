/* attn/tokenizer.h - text to token ids and back, exactly as the model's own tokenizer does:
 * GPT-2-style byte-level BPE (GPT-2, Llama 3, Qwen2, SmolLM2; checked against tiktoken and HF
 * tokenizers), SentencePiece-style BPE with byte fallback (Llama 1/2, Mistral; checked against
 * llama.cpp's test vectors) and character vocabularies. Any bytes encode, invalid UTF-8
 * included, and decode(encode(x)) == x.
 *
 * Thread safety: a loaded tokenizer is read-only; any number of threads may encode and
 * decode with it at once. */
#ifndef ATTN_PUBLIC_TOKENIZER_H
#define ATTN_PUBLIC_TOKENIZER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <attn/core.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct attn_tokenizer attn_tokenizer;

/* path: a directory holding tokenizer.json, or vocab.json + merges.txt (tokenizer.json is
 * preferred when both exist), the path of a tokenizer.json file, a GGUF model file (its
 * tokenizer.ggml.* metadata), or llama2.c's tokenizer.bin. A tokenizer_config.json
 * beside it, if present, names the eos token, and the bos token when it sets "add_bos_token":
 * true (see attn_tokenizer_bos_to_add). Returns NULL and sets attn_last_error() to a
 * message naming the file and the problem (missing file, malformed JSON, a merge naming a
 * token not in the vocab, a pre-tokenizer or normalizer other than GPT-2's, ...). */
attn_tokenizer *attn_tokenizer_load(const char *path);
/* The tokenizer that goes with a model given as attn_model_load takes it: the GGUF file itself,
 * a tokenizer.json or vocab.json + merges.txt in the model's folder (or beside its weights
 * file), or llama2.c's tokenizer.bin beside a .bin checkpoint. NULL with an error saying where
 * it looked when there is none. */
attn_tokenizer *attn_tokenizer_load_for_model(const char *model_path);
void attn_tokenizer_free(attn_tokenizer *tok);

/* One past the largest token id (vocab and added tokens together). */
int attn_tokenizer_vocab_size(const attn_tokenizer *tok);

/* Encodes len bytes of text (need not be NUL-terminated, may hold NULs and invalid UTF-8).
 * parse_special: if true, special added tokens such as <|endoftext|> written in the text
 * become their ids; if false they are tokenized as plain text (llama.cpp's
 * parse_special = false). Added tokens that the tokenizer.json marks "special": false
 * (ordinary user-added words) are matched either way, as HF tokenizers and llama.cpp do.
 * *ids_out is malloc'd (the caller frees it with free(); it may be NULL when *n_out is 0).
 * Returns 0, or -1 with attn_last_error() set (out of memory, or a byte with no token). */
int attn_tokenizer_encode(const attn_tokenizer *tok, const char *text, size_t len,
                          bool parse_special, int32_t **ids_out, int *n_out);

/* The BOS id that this tokenizer puts in front of a prompt, or -1 when it adds none. As
 * llama.cpp's llama_tokenize(add_special = true) decides: a GGUF's tokenizer.ggml.add_bos_token
 * with tokenizer.ggml.bos_token_id, or llama.cpp's defaults when the keys are absent (true for
 * "llama" SentencePiece vocabularies and Llama 3 pre-tokenizers, false for other "gpt2" ones;
 * attn_tokenizer_gguf_specials); llama2.c's tokenizer.bin always (its run.c starts every prompt
 * with <s> = 1); tokenizer.json when tokenizer_config.json has "add_bos_token": true and a
 * "bos_token" in the vocabulary (GPT-2's has neither: -1). Plain text only ever gets it through
 * attn_tokenizer_encode_prompt; attn_tokenizer_encode never adds it. */
int32_t attn_tokenizer_bos_to_add(const attn_tokenizer *tok);

/* A prompt for a decoder: attn_tokenizer_encode, then the BOS of attn_tokenizer_bos_to_add in
 * front unless the first id already is that BOS. So text that writes BOS itself and is encoded
 * with parse_special (chat templates starting "<s>" or "<|begin_of_text|>") keeps exactly one,
 * where llama.cpp would add a second and warn. Same ownership and errors as encode; an empty
 * text gives just the BOS (or no ids). */
int attn_tokenizer_encode_prompt(const attn_tokenizer *tok, const char *text, size_t len,
                                 bool parse_special, int32_t **ids_out, int *n_out);

/* Raw bytes of one token (the byte-level alphabet mapped back to bytes; an added token's
 * content as written). Not NUL-terminated; valid until attn_tokenizer_free. NULL for an
 * id out of range or an id no token has. */
const char *attn_tokenizer_token_bytes(const attn_tokenizer *tok, int32_t id, size_t *len_out);

/* Concatenated bytes of ids, malloc'd and NUL-terminated (*len_out excludes the NUL).
 * Returns 0, or -1 with the error set when an id is out of range. */
int attn_tokenizer_decode(const attn_tokenizer *tok, const int32_t *ids, int n,
                          char **text_out, size_t *len_out);

/* The end-of-text id: tokenizer_config.json's eos_token when given and known, else
 * <|endoftext|>, else -1. */
int32_t attn_tokenizer_eos(const attn_tokenizer *tok);

/* Id of a token by its vocab string (byte-level alphabet, e.g. "Ġthe" for " the"; added
 * tokens by their content), -1 if absent. */
int32_t attn_tokenizer_find(const attn_tokenizer *tok, const char *token_text);

#ifdef __cplusplus
}
#endif

#endif
