/* llama2c.c - the llama2.c source of LLaMA tensors (see llama2c.h). The file is mmapped; the
 * header's seven numbers fix every array's offset, so the whole layout is computed (with
 * overflow checks) and compared with the file size before anything is read past the header:
 * a truncated, padded or corrupt file is refused with one line, never read out of bounds. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include "core/common.h"
#include "format/fileio.h"
#include "llama2c.h"

#define HEADER_BYTES 28
#define V1_MAGIC 0x616b3432u /* "ak42": export.py's version 1 and 2 files, which attn does not read */

typedef struct {
    int32_t dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len;
} l2c_header;

/* One array of the file, in file order. */
typedef struct {
    attn_llama_tensor id; /* ATTN_LT_COUNT: the RoPE tables run.c once read, skipped here */
    const char *name;     /* run.c's TransformerWeights field, for messages */
    bool layered;         /* one per layer: name[l] */
    int64_t count;        /* how many (n_layers when layered) */
    int64_t rows, cols;   /* cols 0: a vector */
    uint64_t offset;      /* bytes from the start of the file */
} l2c_array;

#define MAX_ARRAYS 13

typedef struct {
    void *map;
    size_t size;
    char *path;
    const l2c_array *by_id[ATTN_LT_COUNT];
    l2c_array arrays[MAX_ARRAYS];
} l2c_file;

static int32_t le32(const unsigned char *p) {
    return (int32_t)((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24);
}

static void read_header(const unsigned char *p, l2c_header *h) {
    int32_t *fields[] = {&h->dim,        &h->hidden_dim, &h->n_layers, &h->n_heads,
                         &h->n_kv_heads, &h->vocab_size, &h->seq_len};
    for (int i = 0; i < 7; i++) *fields[i] = le32(p + 4 * i);
}

/* The numbers run.c divides by or sizes arrays with must make sense before any offset is
 * computed from them. */
static int check_header(const l2c_header *h, const char *path) {
    const struct { const char *name; int32_t v; } pos[] = {
        {"dim", h->dim}, {"hidden_dim", h->hidden_dim}, {"n_layers", h->n_layers}, {"n_heads", h->n_heads},
        {"n_kv_heads", h->n_kv_heads}, {"seq_len", h->seq_len}};
    for (size_t i = 0; i < sizeof pos / sizeof *pos; i++)
        if (pos[i].v <= 0)
            return attn_error("%s: not a llama2.c checkpoint: header field %s is %d (must be positive)", path,
                              pos[i].name, pos[i].v);
    if (h->vocab_size == 0 || h->vocab_size == INT32_MIN)
        return attn_error("%s: not a llama2.c checkpoint: header field vocab_size is %d", path, h->vocab_size);
    if (h->dim % h->n_heads || (h->dim / h->n_heads) % 2)
        return attn_error("%s: not a llama2.c checkpoint: dim %d is not n_heads %d times an even head size", path,
                          h->dim, h->n_heads);
    if (h->n_kv_heads > h->n_heads || h->n_heads % h->n_kv_heads)
        return attn_error("%s: not a llama2.c checkpoint: n_heads %d is not a multiple of n_kv_heads %d", path,
                          h->n_heads, h->n_kv_heads);
    return 0;
}

/* *acc += count * rows * cols floats, in bytes; false on overflow. */
static bool add_floats(uint64_t *acc, uint64_t count, uint64_t rows, uint64_t cols) {
    uint64_t n;
    return !__builtin_mul_overflow(count, rows, &n) && !__builtin_mul_overflow(n, cols, &n) &&
           !__builtin_mul_overflow(n, sizeof(float), &n) && !__builtin_add_overflow(*acc, n, acc);
}

/* export.py's legacy_export order; fills the offsets and the total size. */
static int lay_out(l2c_file *f, const l2c_header *h, uint64_t *total) {
    int64_t C = h->dim, F = h->hidden_dim, L = h->n_layers;
    int64_t V = h->vocab_size < 0 ? -(int64_t)h->vocab_size : h->vocab_size;
    int64_t kv = C / h->n_heads * h->n_kv_heads, half_head = C / h->n_heads / 2;
    const l2c_array order[MAX_ARRAYS] = {
        {ATTN_LT_TOKEN_EMBD, "token_embedding_table", false, 1, V, C, 0},
        {ATTN_LT_ATTN_NORM, "rms_att_weight", true, L, C, 0, 0},
        {ATTN_LT_Q, "wq", true, L, C, C, 0},
        {ATTN_LT_K, "wk", true, L, kv, C, 0},
        {ATTN_LT_V, "wv", true, L, kv, C, 0},
        {ATTN_LT_O, "wo", true, L, C, C, 0},
        {ATTN_LT_FFN_NORM, "rms_ffn_weight", true, L, C, 0, 0},
        {ATTN_LT_GATE, "w1", true, L, F, C, 0},
        {ATTN_LT_DOWN, "w2", true, L, C, F, 0},
        {ATTN_LT_UP, "w3", true, L, F, C, 0},
        {ATTN_LT_OUTPUT_NORM, "rms_final_weight", false, 1, C, 0, 0},
        {ATTN_LT_COUNT, "freq_cis_real, freq_cis_imag", false, 2, h->seq_len, half_head, 0},
        {ATTN_LT_OUTPUT, "wcls", false, 1, V, C, 0},
    };
    int n = h->vocab_size < 0 ? MAX_ARRAYS : MAX_ARRAYS - 1; /* wcls only when not shared */
    *total = HEADER_BYTES;
    for (int i = 0; i < n; i++) {
        f->arrays[i] = order[i];
        f->arrays[i].offset = *total;
        const l2c_array *a = &f->arrays[i];
        if (!add_floats(total, (uint64_t)a->count, (uint64_t)a->rows, a->cols ? (uint64_t)a->cols : 1))
            return attn_error("%s: not a llama2.c checkpoint: the header's sizes overflow at '%s'", f->path, a->name);
        if (a->id != ATTN_LT_COUNT) f->by_id[a->id] = a;
    }
    return 0;
}

static int check_size(l2c_file *f, const l2c_header *h) {
    uint64_t total;
    if (lay_out(f, h, &total)) return -1;
    if (total == f->size) return 0;
    const char *what = total > f->size ? "truncated llama2.c checkpoint"
                                       : "not a llama2.c checkpoint (legacy version 0) or a corrupt one";
    return attn_error("%s: %s: the header (dim %d, hidden_dim %d, n_layers %d, n_heads %d, n_kv_heads %d, "
                      "vocab_size %d, seq_len %d) implies %llu bytes, the file has %zu",
                      f->path, what, h->dim, h->hidden_dim, h->n_layers, h->n_heads, h->n_kv_heads, h->vocab_size,
                      h->seq_len, (unsigned long long)total, f->size);
}

static int l2c_find(const attn_llama_source *s, attn_llama_tensor id, int layer, attn_tensor_ref *out) {
    const l2c_file *f = s->impl;
    const l2c_array *a = f->by_id[id];
    out->file = s->path;
    if (!a) {
        snprintf(out->name, sizeof out->name, "%s", id == ATTN_LT_OUTPUT ? "wcls" : "(a bias: llama2.c has none)");
        return 0;
    }
    int l = a->layered ? layer : 0;
    if (a->layered) snprintf(out->name, sizeof out->name, "%s[%d]", a->name, layer);
    else snprintf(out->name, sizeof out->name, "%s", a->name);
    if (l < 0 || l >= a->count) return 0;
    size_t floats = (size_t)a->rows * (size_t)(a->cols ? a->cols : 1);
    out->loadable = true, out->dtype_name = "F32", out->dtype = ATTN_F32, out->qtype = 0;
    out->ndim = a->cols ? 2 : 1;
    for (int i = 0; i < ATTN_MAX_DIMS; i++) out->shape[i] = 0;
    out->shape[0] = a->rows, out->shape[1] = a->cols;
    out->nbytes = floats * sizeof(float);
    out->data = (const char *)f->map + a->offset + (size_t)l * out->nbytes;
    return 1;
}

static void l2c_close(attn_llama_source *s) {
    l2c_file *f = s->impl;
    if (f) {
        if (f->map) munmap(f->map, f->size);
        free(f->path);
        free(f);
    }
    free(s);
}

static int map_file(l2c_file *f) {
    /* O_NONBLOCK: a named pipe is refused below (not a regular file), not waited on */
    int fd = open(f->path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) return attn_error("%s: cannot open: %s", f->path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        return attn_error("%s: not a regular file", f->path);
    }
    f->size = (size_t)sb.st_size;
    if (f->size < HEADER_BYTES) { /* also keeps mmap away from an empty file */
        close(fd);
        return attn_error("%s: %zu bytes is too short for a llama2.c checkpoint (the header alone is %d)", f->path,
                          f->size, HEADER_BYTES);
    }
    void *map = mmap(NULL, f->size, PROT_READ, MAP_PRIVATE, fd, 0);
    int err = errno;
    close(fd); /* the mapping keeps the file alive */
    if (map == MAP_FAILED) return attn_error("%s: cannot mmap %zu bytes: %s", f->path, f->size, strerror(err));
    f->map = map;
    return 0;
}

static int fill_config(const l2c_header *h, const char *path, attn_llama_config *c) {
    int64_t head = h->dim / h->n_heads;
    *c = (attn_llama_config){.n_layer = h->n_layers, .n_embd = h->dim, .n_ff = h->hidden_dim,
                             .vocab = h->vocab_size < 0 ? -(int64_t)h->vocab_size : h->vocab_size,
                             .n_head = h->n_heads, .n_kv_head = h->n_kv_heads, .head_dim = head,
                             .n_ctx = h->seq_len, .rms_eps = 1e-5f, .tie_embeddings = h->vocab_size > 0};
    snprintf(c->arch, sizeof c->arch, "llama");
    /* run.c rotates pairs (2i, 2i+1) with theta 10000; export.py stored q/k in that order */
    c->rope = (attn_rope_params){.dim = (int)head, .theta = 10000.0, .layout = ATTN_ROPE_INTERLEAVED, .factor = 1};
    return attn_llama_config_check(c, path);
}

static void l2c_release(const attn_llama_source *s, const void *data, size_t nbytes) {
    const l2c_file *f = s->impl;
    attn_mapped_release(f->map, f->size, data, nbytes);
}

attn_llama_source *attn_llama_source_llama2c(const char *path, attn_llama_config *c) {
    attn_llama_source *s = calloc(1, sizeof *s);
    l2c_file *f = calloc(1, sizeof *f);
    char *copy = strdup(path);
    if (!s || !f || !copy) {
        free(s), free(f), free(copy);
        attn_error("out of memory");
        return NULL;
    }
    f->path = copy;
    *s = (attn_llama_source){.find = l2c_find, .close = l2c_close, .release = l2c_release, .path = f->path, .impl = f};
    l2c_header h;
    if (map_file(f) != 0) goto fail;
    if ((uint32_t)le32(f->map) == V1_MAGIC) {
        attn_error("%s: a llama2.c version %d export (magic \"ak42\"); attn reads the legacy version 0 .bin "
                   "(export.py --version 0)", path, le32((const unsigned char *)f->map + 4));
        goto fail;
    }
    read_header(f->map, &h);
    if (check_header(&h, path) != 0 || check_size(f, &h) != 0 || fill_config(&h, path, c) != 0) goto fail;
    return s;
fail:
    l2c_close(s);
    return NULL;
}
