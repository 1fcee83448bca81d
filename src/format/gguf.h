/* gguf.h - reading (mmap, zero copy, validated) and writing (atomic) GGUF v2/v3 files, the
 * format of llama.cpp and ggml. Layout, all little-endian:
 *
 *   "GGUF"  u32 version (2 or 3)  u64 n_tensors  u64 n_kv
 *   n_kv x     { string key; u32 value type; value }
 *   n_tensors x { string name; u32 n_dims; u64 ne[n_dims]; u32 ggml type; u64 offset }
 *   zero padding to `general.alignment` (a u32 key; 32 when absent)
 *   tensor data; each tensor at data start + offset, offsets multiples of the alignment
 *
 * A string is u64 length + bytes (no NUL). A value is one of 13 types (attn_gguf_type);
 * an array is u32 element type + u64 count + the elements, and elements may themselves be
 * arrays. Tensor shapes list the fastest dimension first (ne[0] is the row length, as in
 * ggml), so a PyTorch [out, in] weight has ne = {in, out}. Types are ggml's (core/quant.h).
 *
 * The reader checks every count, string length, offset, shape and byte size against the
 * file before using it; a failure is one attn_error line naming the file and the field,
 * e.g. "model.gguf: tensor 'blk.0.attn_q.weight': offset 65536 + 36864 bytes (q4_K) runs
 * past the end of the data section (...); truncated file?". It also rejects duplicate keys and
 * tensor names, overlapping tensors, unknown value or tensor types, n_dims > 4, rows that
 * are not whole blocks, and a general.alignment that is not a power-of-two u32.
 * Deliberate leniencies: tensors may come in any order and leave gaps (ggml's reader wants
 * them packed in file order); a file with no tensors may end without the final padding
 * (llama.cpp's vocab-only files do); names may be longer than ggml's 63 bytes; bools may
 * hold any byte (nonzero is true). Tensors of types ggml defines but attn cannot convert
 * (IQ2_XS...) are validated and listed; attn_qtype_get(type)->dequant says which are usable.
 *
 * Lifetime: every pointer handed out (keys, names, string values, tensor data) stays valid
 * until attn_gguf_close. For attn_gguf_parse the caller keeps the buffer alive that long. */
#ifndef ATTN_GGUF_H
#define ATTN_GGUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/quant.h"

#define ATTN_GGUF_DEFAULT_ALIGNMENT 32
#define ATTN_GGUF_MAX_DIMS 4
/* Arrays nested deeper than this are taken as a corrupt file (real files nest at most 1). */
#define ATTN_GGUF_MAX_DEPTH 8
/* ggml keeps names in char[64]: the writer refuses longer ones so llama.cpp can load them. */
#define ATTN_GGUF_MAX_NAME 63

typedef enum {
    ATTN_GGUF_U8 = 0,
    ATTN_GGUF_I8 = 1,
    ATTN_GGUF_U16 = 2,
    ATTN_GGUF_I16 = 3,
    ATTN_GGUF_U32 = 4,
    ATTN_GGUF_I32 = 5,
    ATTN_GGUF_F32 = 6,
    ATTN_GGUF_BOOL = 7,
    ATTN_GGUF_STR = 8,
    ATTN_GGUF_ARR = 9,
    ATTN_GGUF_U64 = 10,
    ATTN_GGUF_I64 = 11,
    ATTN_GGUF_F64 = 12,
    ATTN_GGUF_TYPE_COUNT
} attn_gguf_type;

/* A metadata value. Read the member that `type` names:
 *   U8..U64 -> u; I8..I64 -> i; F32 (exactly), F64 -> f; BOOL -> b;
 *   STR -> str (for a key's value, s is a NUL-terminated copy; for an array element from
 *          attn_gguf_arr_elem, s points into the file and is NOT NUL-terminated; len counts
 *          the bytes either way, and strings may hold NUL bytes);
 *   ARR -> arr: elem type and count n; read elements with the attn_gguf_arr_* functions. */
typedef struct attn_gguf_value attn_gguf_value;
struct attn_gguf_value {
    attn_gguf_type type;
    union {
        uint64_t u;
        int64_t i;
        double f;
        bool b;
        struct {
            const char *s;
            size_t len;
        } str;
        struct {
            attn_gguf_type elem;
            uint64_t n;
            const uint8_t *data;        /* the encoded elements in the file */
            const uint64_t *str_off;    /* STR elements: offset of each from data (internal) */
            const attn_gguf_value *sub; /* ARR elements: the n nested arrays (internal) */
        } arr;
    };
};

typedef struct {
    const char *name;  /* NUL-terminated copy */
    attn_qtype type;   /* ggml type id; attn_qtype_get(type) is never NULL */
    int n_dims;        /* 0..4, as stored */
    int64_t ne[ATTN_GGUF_MAX_DIMS]; /* fastest first; dims beyond n_dims are 1 */
    int64_t n_elements;
    uint64_t offset;   /* from the start of the data section, as stored */
    const void *data;  /* in the mapping, aligned to the file's alignment when opened; NULL
                        * when nbytes is 0 */
    size_t nbytes;
} attn_gguf_tensor;

typedef struct attn_gguf attn_gguf;

/* ---- reader ------------------------------------------------------------------------ */

/* Maps the file read-only and validates it. NULL + attn_last_error() on failure. */
attn_gguf *attn_gguf_open(const char *path);
/* Parses a buffer the caller keeps alive until close; `what` names it in messages. */
attn_gguf *attn_gguf_parse(const void *buf, size_t size, const char *what);
/* The caller no longer reads [data, data+nbytes) of an opened file's tensor data: its pages
 * leave the process's memory (clean private file pages: a later read maps them again). A
 * no-op for parsed buffers, which the caller owns. */
void attn_gguf_release(const attn_gguf *g, const void *data, size_t nbytes);
void attn_gguf_close(attn_gguf *g); /* NULL is a no-op */

const char *attn_gguf_path(const attn_gguf *g); /* the path or `what` */
uint32_t attn_gguf_version(const attn_gguf *g);
uint32_t attn_gguf_alignment(const attn_gguf *g);
uint64_t attn_gguf_data_offset(const attn_gguf *g); /* file offset of the data section */

/* Metadata in file order, and lookup by key (binary search; NULL if absent, no error). */
int attn_gguf_kv_count(const attn_gguf *g);
const char *attn_gguf_kv_key(const attn_gguf *g, int i);              /* NULL if out of range */
const attn_gguf_value *attn_gguf_kv_value(const attn_gguf *g, int i); /* NULL if out of range */
const attn_gguf_value *attn_gguf_find(const attn_gguf *g, const char *key);

/* Typed getters: 0 on success; -1 with "FILE: metadata 'KEY' is missing" or "FILE:
 * metadata 'KEY' is STR, expected U32" (types must match exactly, as in llama.cpp). */
int attn_gguf_get_u8(const attn_gguf *g, const char *key, uint8_t *out);
int attn_gguf_get_i8(const attn_gguf *g, const char *key, int8_t *out);
int attn_gguf_get_u16(const attn_gguf *g, const char *key, uint16_t *out);
int attn_gguf_get_i16(const attn_gguf *g, const char *key, int16_t *out);
int attn_gguf_get_u32(const attn_gguf *g, const char *key, uint32_t *out);
int attn_gguf_get_i32(const attn_gguf *g, const char *key, int32_t *out);
int attn_gguf_get_u64(const attn_gguf *g, const char *key, uint64_t *out);
int attn_gguf_get_i64(const attn_gguf *g, const char *key, int64_t *out);
int attn_gguf_get_f32(const attn_gguf *g, const char *key, float *out);
int attn_gguf_get_f64(const attn_gguf *g, const char *key, double *out);
int attn_gguf_get_bool(const attn_gguf *g, const char *key, bool *out);
/* *out is NUL-terminated; len (may be NULL) gets the byte length. */
int attn_gguf_get_str(const attn_gguf *g, const char *key, const char **out, size_t *len);
/* Any integer type whose value fits int64 (converters differ on u32 vs i32 for ids). */
int attn_gguf_get_int(const attn_gguf *g, const char *key, int64_t *out);
/* An array whose elements have type `elem` (ATTN_GGUF_TYPE_COUNT: any); *n gets the count. */
int attn_gguf_get_arr(const attn_gguf *g, const char *key, attn_gguf_type elem,
                      const attn_gguf_value **arr, uint64_t *n);

/* Array elements. data: the n fixed-size elements as stored (little-endian, possibly
 * misaligned: memcpy them), NULL for STR and ARR elements. str: element i of a string array
 * (not NUL-terminated), NULL if out of range. sub: element i of an array of arrays. elem:
 * element i of any array decoded into *out; -1 if out of range. */
const void *attn_gguf_arr_data(const attn_gguf_value *arr);
const char *attn_gguf_arr_str(const attn_gguf_value *arr, uint64_t i, size_t *len);
const attn_gguf_value *attn_gguf_arr_sub(const attn_gguf_value *arr, uint64_t i);
int attn_gguf_arr_elem(const attn_gguf_value *arr, uint64_t i, attn_gguf_value *out);

/* Names as gguf-py prints them: "UINT8", "INT32", "FLOAT32", "BOOL", "STRING", "ARRAY"... */
const char *attn_gguf_type_name(attn_gguf_type t);
/* Bytes of one encoded value of a fixed-size type; 0 for STR, ARR and unknown types. */
size_t attn_gguf_type_size(attn_gguf_type t);

/* Tensors in the order of the tensor infos, and lookup by name (binary search). */
int attn_gguf_tensor_count(const attn_gguf *g);
const attn_gguf_tensor *attn_gguf_tensor_at(const attn_gguf *g, int i);
const attn_gguf_tensor *attn_gguf_find_tensor(const attn_gguf *g, const char *name);
/* The whole tensor as f32 (n_elements floats). -1 with an error naming the file and tensor
 * when its type has no dequantizer. */
int attn_gguf_dequantize(const attn_gguf *g, const attn_gguf_tensor *t, float *dst);

/* ---- model conventions (llama.cpp's names, shared by the model loaders) ---------------- */

/* The vocabulary of a model of architecture `arch` ("gpt2", "llama"): the tokenizer's token
 * count (tokenizer.ggml.tokens), else token_embd.weight's rows. ARCH.vocab_size, where the
 * file has it, must equal both that it has: -1 with an error naming the key otherwise. */
int attn_gguf_model_vocab(const attn_gguf *g, const char *arch, int64_t *vocab);

/* ---- writer ------------------------------------------------------------------------ */

/* Collects metadata and tensors, then writes a GGUF v3 file atomically (fileio.h). Metadata
 * values are copied at once; tensor data is only referenced and must stay valid until
 * attn_gguf_writer_write. Setting a key again replaces its value in place. Keys are written
 * in the order first set, tensors in the order added, each at the next multiple of the
 * alignment (general.alignment if set, else 32). Every setter returns 0 or -1 with
 * attn_last_error() set; the first failure also makes write fail. */
typedef struct attn_gguf_writer attn_gguf_writer;

attn_gguf_writer *attn_gguf_writer_new(void);
void attn_gguf_writer_free(attn_gguf_writer *w); /* NULL is a no-op */

int attn_gguf_set_u8(attn_gguf_writer *w, const char *key, uint8_t v);
int attn_gguf_set_i8(attn_gguf_writer *w, const char *key, int8_t v);
int attn_gguf_set_u16(attn_gguf_writer *w, const char *key, uint16_t v);
int attn_gguf_set_i16(attn_gguf_writer *w, const char *key, int16_t v);
int attn_gguf_set_u32(attn_gguf_writer *w, const char *key, uint32_t v);
int attn_gguf_set_i32(attn_gguf_writer *w, const char *key, int32_t v);
int attn_gguf_set_u64(attn_gguf_writer *w, const char *key, uint64_t v);
int attn_gguf_set_i64(attn_gguf_writer *w, const char *key, int64_t v);
int attn_gguf_set_f32(attn_gguf_writer *w, const char *key, float v);
int attn_gguf_set_f64(attn_gguf_writer *w, const char *key, double v);
int attn_gguf_set_bool(attn_gguf_writer *w, const char *key, bool v);
int attn_gguf_set_str(attn_gguf_writer *w, const char *key, const char *s);
int attn_gguf_set_strn(attn_gguf_writer *w, const char *key, const char *s, size_t len);
/* An array of n fixed-size elements given as a C array of that type (uint32_t for U32,
 * float for F32, bool for BOOL...). */
int attn_gguf_set_arr(attn_gguf_writer *w, const char *key, attn_gguf_type elem, const void *data,
                      uint64_t n);
int attn_gguf_set_arr_str(attn_gguf_writer *w, const char *key, const char *const *s, uint64_t n);
/* Any value, nested arrays included: copies metadata from a reader (attn quantize). */
int attn_gguf_set_value(attn_gguf_writer *w, const char *key, const attn_gguf_value *v);

/* ne: n_dims (1..4) dims, fastest first; data holds the row bytes of the type
 * (attn_quant_row_bytes(type, ne[0]) * the other dims). */
int attn_gguf_add_tensor(attn_gguf_writer *w, const char *name, attn_qtype type, int n_dims,
                         const int64_t *ne, const void *data);
int attn_gguf_writer_write(attn_gguf_writer *w, const char *path);

#endif
