/* bytelevel_vocab.h - the minimal byte-level tokenizer.json (256 bytes + <|endoftext|> = id 256). */
#ifndef ATTN_TOKENIZER_BYTELEVEL_VOCAB_H
#define ATTN_TOKENIZER_BYTELEVEL_VOCAB_H

#define ATTN_BYTELEVEL_VOCAB 257
int attn_tokenizer_write_bytelevel(const char *path);

#endif
