/* safetensors.h - reading (mmap, zero copy) and writing (atomic) of Hugging Face
 * safetensors files: 8-byte little-endian header length N, N bytes of JSON header
 * {"name": {"dtype": "F32", "shape": [2,3], "data_offsets": [begin, end]}, ...,
 *  "__metadata__": {"key": "value"}}, then the tensor bytes; offsets count from the end
 * of the header.
 *
 * The reader validates the whole header before any tensor is handed out: sizes, offsets,
 * dtypes, shapes, overlaps, duplicates. Every failure is one attn_error line naming the
 * file, the tensor or field, and what is wrong. Deliberate leniencies, since consumers
 * lose nothing by them:
 *   - gaps between tensors and bytes after the last one are allowed (HF rejects them);
 *   - a tensor whose data is not aligned to its element size (HF's writer never makes
 *     one, but a header of unpadded length does) is accepted: attn_safetensors_open then
 *     copies the file into memory where every tensor is aligned (attn_safetensors_parse
 *     leaves such data where it lies: its consumers read it with memcpy);
 *   - unknown keys inside a tensor entry are ignored.
 * Only F32, F16 and BF16 load; tensors of the other safetensors dtypes (F64, I64, U8,
 * BOOL, F8_E4M3, ...) are validated like the rest but marked !loadable and hidden from
 * attn_safetensors_find (checkpoints carry such buffers, e.g. GPT-2's attn.bias masks);
 * attn_safetensors_find_any sees them, so a model can say which dtype it cannot use. Tensor data is
 * little-endian, as on every host attn targets.
 *
 * attn_safetensors_at() lists tensors in file order (by data offset), which is the order
 * to read them in for sequential I/O. attn_safetensors_find() is a binary search over
 * names sorted once at open. A file truncated by another process while mapped makes
 * later reads fault (SIGBUS): keep model files immutable while in use. */
#ifndef ATTN_SAFETENSORS_H
#define ATTN_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include <stdbool.h>
#include "core/tensor.h"

/* The safetensors reference limit: a larger header is taken as a corrupt file. */
#define ATTN_ST_MAX_HEADER 100000000u

typedef struct {
    const char *name;
    attn_dtype dtype;           /* F32, F16, BF16; meaningless when !loadable */
    bool loadable;              /* false for the other safetensors dtypes (U8, BOOL, F64...) */
    const char *dtype_name;     /* the dtype as the file names it */
    int ndim;                   /* 0..4 */
    int64_t shape[ATTN_MAX_DIMS];
    const void *data;           /* points into the mapping; see the alignment note above */
    size_t nbytes;
} attn_st_tensor;

typedef struct attn_safetensors attn_safetensors;

/* Maps the file read-only (MAP_PRIVATE) and validates it. NULL + attn_last_error(). */
attn_safetensors *attn_safetensors_open(const char *path);
/* Parses a buffer the caller keeps alive for the handle's lifetime (tests, fuzzer,
 * embedded files). `what` names it in error messages. */
attn_safetensors *attn_safetensors_parse(const void *buf, size_t size, const char *what);
void attn_safetensors_close(attn_safetensors *st); /* NULL is a no-op */

int attn_safetensors_count(const attn_safetensors *st);
const attn_st_tensor *attn_safetensors_at(const attn_safetensors *st, int i); /* NULL if out of range */
const attn_st_tensor *attn_safetensors_find(const attn_safetensors *st, const char *name);
/* Like find, but also returns tensors of dtypes attn cannot load (check ->loadable). */
const attn_st_tensor *attn_safetensors_find_any(const attn_safetensors *st, const char *name);
/* A "__metadata__" value, NULL if absent. */
const char *attn_safetensors_meta(const attn_safetensors *st, const char *key);
int attn_safetensors_meta_count(const attn_safetensors *st);
/* The i-th metadata pair (sorted by key); returns -1 if out of range. */
int attn_safetensors_meta_at(const attn_safetensors *st, int i, const char **key, const char **val);
/* The path given to open, or the `what` given to parse. */
const char *attn_safetensors_path(const attn_safetensors *st);

/* Drops the pages of nbytes of tensor data from this process (madvise DONTNEED; a no-op for
 * parsed buffers and for a range outside this file): call it after a weight was copied or
 * converted to another layout so the RSS stays near the size of the weights actually used.
 * The data stays readable: touching it again reads it back from the file. Pages shared with
 * neighbouring tensors go too, harmlessly. */
void attn_safetensors_release(const attn_safetensors *st, const void *data, size_t nbytes);

typedef struct {
    const char *name;
    attn_dtype dtype;
    int ndim;
    int64_t shape[ATTN_MAX_DIMS];
    const void *data; /* product(shape) * dtype size bytes; may be NULL when that is 0 */
} attn_st_entry;

/* Writes a safetensors file atomically (temp file in the same directory, fsync, rename,
 * fsync dir). meta: n_meta key/value string pairs for __metadata__ (n_meta may be 0).
 * Like HF's writer: the header is padded with spaces to a multiple of 8 and tensors are
 * stored largest element size first, then by name, with no gaps, so every tensor's data
 * is aligned to its element size and HF's strict reader accepts the file. */
int attn_safetensors_write(const char *path, const attn_st_entry *tensors, int n,
                           const char *const *meta_keys, const char *const *meta_vals, int n_meta);

#endif
