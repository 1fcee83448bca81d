/* tokenizer_gguf.h - tokenizers from GGUF metadata (tokenizer.ggml.*) and from llama.cpp's
 * sibling formats. attn_tokenizer_load() also takes a .gguf path (vocab-only files such as
 * llama.cpp's models/ggml-vocab-*.gguf, or a whole model) and a llama2.c tokenizer.bin.
 *
 * Supported, each equal to llama.cpp's tokenization (parse_special as in bpe.h; encode adds no
 * BOS, encode_prompt adds the one attn_tokenizer_specials below asks for, as llama_tokenize
 * with add_special = true does):
 *   tokenizer.ggml.model = "llama": SentencePiece BPE by score with byte fallback;
 *   tokenizer.ggml.model = "gpt2" with tokenizer.ggml.pre one of gpt-2, phi-2, mpt, olmo,
 *     starcoder, refact, command-r, smollm (SmolLM/SmolLM2), codeshell, exaone, falcon,
 *     deepseek-coder, deepseek-llm, llama-bpe/llama3/llama-v3 (Llama 3), smaug-bpe, dbrx,
 *     qwen2, deepseek-r1-qwen. Others (and a missing key, llama.cpp's "default") fail with
 *     "unsupported pre-tokenizer 'X'"; other models (bert, t5, rwkv, ...) with
 *     "unsupported tokenizer model 'X'".
 * For "llama" vocabularies, decode drops the space the encoder prefixed to the first token,
 * as llama.cpp's detokenizer does, so decode(encode(x)) == x for valid UTF-8.
 *
 * Invalid UTF-8: "llama" vocabularies group bytes by lead byte exactly as llama.cpp does
 * (same ids; such text need not round-trip). Byte-level "gpt2" vocabularies keep the bytes
 * as bpe.h describes, whereas llama.cpp first replaces each invalid byte with U+FFFD, so
 * their ids differ from llama.cpp's on invalid input only. */
#ifndef ATTN_TOKENIZER_GGUF_H
#define ATTN_TOKENIZER_GGUF_H

#include "format/gguf.h"
#include "tokenizer/bpe.h"

/* The tokenizer of an open GGUF file (which may be closed afterwards). NULL with
 * attn_last_error() naming the file and the missing or inconsistent field. */
attn_tokenizer *attn_tokenizer_from_gguf(const attn_gguf *g);

/* The special ids and BOS/EOS policy a GGUF declares (-1: none), with llama.cpp's defaults
 * for absent keys: "llama" vocabularies bos 1, eos 2, unk 0, add_bos true; "gpt2" ones
 * bos = eos = 11 (GPT-2's converter legacy), add_bos true only for Llama 3 pre-tokenizers. */
typedef struct {
    int32_t bos, eos, unk, pad;
    bool add_bos, add_eos;
} attn_tokenizer_specials;

/* 0, or -1 with an error naming the key when an id is not a token of the vocabulary or a
 * key has the wrong type. */
int attn_tokenizer_gguf_specials(const attn_gguf *g, attn_tokenizer_specials *out);

#endif
