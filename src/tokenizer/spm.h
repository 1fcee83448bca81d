/* spm.h - the SentencePiece-style BPE tables a tokenizer carries when it encodes as
 * llama.cpp's llm_tokenizer_spm (spm.c), and the GGUF token types that decide how each
 * token is matched and decoded. Internal to src/tokenizer/. */
#ifndef ATTN_TOKENIZER_SPM_H
#define ATTN_TOKENIZER_SPM_H

#include "tokenizer/bpe_internal.h"

/* tokenizer.ggml.token_type values (llama.cpp's llama_token_type). */
enum {
    BPE_TT_UNDEFINED = 0,
    BPE_TT_NORMAL = 1,
    BPE_TT_UNKNOWN = 2,
    BPE_TT_CONTROL = 3,
    BPE_TT_USER_DEFINED = 4,
    BPE_TT_UNUSED = 5,
    BPE_TT_BYTE = 6,
};

typedef struct bpe_spm {
    const float *score;      /* per id: higher merges first */
    const uint8_t *type;     /* per id: BPE_TT_* */
    bool add_space_prefix;   /* prefix each run of text with a space (Llama: true) */
    int32_t byte_token[256]; /* the byte-fallback token of each byte, -1 if none */
    bool wall[128];          /* ASCII bytes no longer token contains: merging stops there */
} bpe_spm;

/* Takes ownership of t (a bpe_build() result with literal vocab strings) and returns it
 * grown to hold a copy of the tables (NULL + error on failure, t freed). */
attn_tokenizer *bpe_spm_attach(attn_tokenizer *t, const float *scores, const uint8_t *types,
                               bool add_space_prefix);
void bpe_spm_fix_bytes(attn_tokenizer *t, bpe_spm *spm);

#endif
