/* data.h - token shards: the files `attn data prepare` writes and training reads.
 *
 * A shard is a 256-byte header followed by the tokens, all little-endian:
 *
 *   offset size  field
 *        0    8  magic "ATTNTOK1"
 *        8    4  version (1)
 *       12    4  header size in bytes (256)
 *       16    8  token count N
 *       24    4  bytes per token: 2 (uint16, when the vocabulary has at most 65536 ids) or 4
 *       28    4  vocabulary size V (every token id is < V)
 *       32    8  tokenizer id: FNV-1a 64 of the tokenizer file(s) (see attn_data_tokenizer_id)
 *       40    4  end-of-text id (int32, -1 when the tokenizer has none)
 *       44  212  zero (reserved)
 *      256  N*b  the tokens
 *
 * Reading maps the file (mmap) and checks the header against the file size before any
 * token is read: a truncated file, a wrong magic, version, header size or width is an error
 * naming the file and what is wrong. Token ids are checked against V as batches are read.
 *
 * Batches: B sequences of T+1 consecutive tokens (inputs are the first T, targets the last
 * T), either at random offsets drawn from (seed, batch number) or sequentially (batch k
 * covers tokens [k·B·T, (k+1)·B·T], wrapping to the start after the last whole batch). The
 * batch number is the whole position: saving it and the seed resumes the exact stream. */
#ifndef ATTN_TRAIN_DATA_H
#define ATTN_TRAIN_DATA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ATTN_SHARD_MAGIC "ATTNTOK1"
#define ATTN_SHARD_VERSION 1
#define ATTN_SHARD_HEADER_BYTES 256

typedef struct {
    uint32_t version;
    uint64_t n_tokens;
    uint32_t token_bytes; /* 2 or 4 */
    uint32_t vocab_size;
    uint64_t tokenizer_id;
    int32_t eot;          /* -1: none */
} attn_shard_header;

/* 2 when every id of a vocab_size vocabulary fits in uint16, else 4. */
uint32_t attn_shard_token_bytes(uint32_t vocab_size);

/* The 256 header bytes for h (h->version is ignored: the current version is written). */
void attn_shard_encode_header(const attn_shard_header *h, uint8_t out[ATTN_SHARD_HEADER_BYTES]);

/* Writes a shard atomically: header, then h->n_tokens tokens of h->token_bytes each,
 * already little-endian (`tokens` may be NULL when there are none). */
int attn_shard_write(const char *path, const attn_shard_header *h, const void *tokens);

/* The same from int32 ids, choosing the width from vocab_size; ids must be < vocab_size. */
int attn_shard_write_ids(const char *path, const int32_t *ids, uint64_t n, uint32_t vocab_size,
                         uint64_t tokenizer_id, int32_t eot);

/* ---- reading ---- */

typedef struct attn_shard attn_shard;

attn_shard *attn_shard_open(const char *path); /* NULL with the error set */
void attn_shard_close(attn_shard *s);
const attn_shard_header *attn_shard_info(const attn_shard *s);
const char *attn_shard_path(const attn_shard *s);

/* Copies n tokens from position pos into out. An error when the range is outside the
 * shard or an id is >= the vocabulary size. */
int attn_shard_read(const attn_shard *s, uint64_t pos, size_t n, int32_t *out);

/* Where the next batch comes from. Zero-initialise, then set seed and mode. */
typedef struct {
    uint64_t seed;
    uint64_t batch;  /* batches taken so far: the resume point */
    bool sequential; /* false: random offsets */
} attn_batch_cursor;

/* Fills out[B*(T+1)] (row b holds sequence b) and advances c->batch. An error when the
 * shard holds fewer than B*T+1 tokens (smaller than one batch) or an id is out of range. */
int attn_shard_next_batch(const attn_shard *s, attn_batch_cursor *c, int B, int T, int32_t *out);

/* Sequential batches before the stream wraps (0 when the shard is smaller than a batch). */
uint64_t attn_shard_batches_per_epoch(const attn_shard *s, int B, int T);

/* ---- tokenizer identity ---- */

#define ATTN_DATA_PATH_CAP 4096

/* The file(s) attn_tokenizer_load reads for path: the tokenizer.json given, or in a folder
 * its tokenizer.json, else vocab.json and merges.txt. Sets *n to 1 or 2. */
int attn_data_tokenizer_files(const char *path, char files[2][ATTN_DATA_PATH_CAP], int *n);

/* FNV-1a 64 over the bytes of those files in that order (tokenizer_config.json, which can
 * only change the eos id, is left out). */
int attn_data_tokenizer_id(const char *path, uint64_t *id);

#endif
