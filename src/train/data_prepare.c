/* data_prepare.c - tokenizes text files into train/val token shards (see data_prepare.h):
 * map each file, find its split point, tokenize each portion slice by slice into a growing
 * token buffer per shard, then write both shards and a copy of the tokenizer into DIR. */
#include "train/data_prepare.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/common.h"
#include "format/fileio.h"
#include "tokenizer/bpe.h"
#include "train/data.h"

enum { SLICE_BYTES = 1 << 20 };

/* Tokens of one shard, already in the shard's width and byte order. */
typedef struct {
    uint8_t *v;
    size_t n, cap; /* in tokens */
    uint32_t width;
} token_buf;

static int buf_append(token_buf *b, const int32_t *ids, size_t n) {
    if (b->n + n > b->cap) {
        size_t cap = b->cap ? b->cap : 1 << 16;
        while (cap < b->n + n) cap *= 2;
        uint8_t *v = realloc(b->v, cap * b->width);
        if (!v) return attn_error("out of memory holding %zu tokens", b->n + n);
        b->v = v, b->cap = cap;
    }
    uint8_t *p = b->v + b->n * b->width;
    for (size_t i = 0; i < n; i++, p += b->width) { /* little-endian, whatever the host */
        uint32_t id = (uint32_t)ids[i];
        p[0] = (uint8_t)id, p[1] = (uint8_t)(id >> 8);
        if (b->width == 4) p[2] = (uint8_t)(id >> 16), p[3] = (uint8_t)(id >> 24);
    }
    b->n += n;
    return 0;
}

/* ---- slicing and splitting ---- */

static bool is_graph(uint8_t c) { return c > 0x20 && c < 0x7F; }

/* The first cut at or after `from` (see data_prepare.h for why these cuts are exact), or n.
 * A cut c has s[c-1] == '\n' between printable ASCII s[c-2] and s[c]. */
static size_t next_cut(const uint8_t *s, size_t n, size_t from) {
    for (size_t p = from < 1 ? 1 : from; p < n;) {
        const uint8_t *nl = memchr(s + p - 1, '\n', n - (p - 1));
        if (!nl) return n;
        size_t cut = (size_t)(nl - s) + 1;
        if (cut < n && cut >= 2 && is_graph(s[cut - 2]) && is_graph(s[cut])) return cut;
        p = cut + 1;
    }
    return n;
}

/* Byte offset of character floor(chars * (1 - f)), as nanoGPT's int(n * 0.9) on a str. */
static size_t split_point(const uint8_t *s, size_t n, double val_fraction) {
    uint64_t chars = 0;
    for (size_t i = 0; i < n; i++) chars += (s[i] & 0xC0) != 0x80;
    uint64_t want = (uint64_t)((double)chars * (1.0 - val_fraction)), seen = 0;
    for (size_t i = 0; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80 && seen++ == want) return i;
    }
    return n;
}

typedef struct {
    const attn_data_prepare_opts *o;
    const attn_tokenizer *tok;
    int32_t eot;
    uint64_t done, total;
} prep;

static int encode_into(prep *p, const uint8_t *s, size_t n, token_buf *out, const char *file) {
    for (size_t pos = 0; pos < n;) {
        size_t slice = p->o->slice_bytes ? p->o->slice_bytes : SLICE_BYTES;
        size_t end = next_cut(s, n, slice < n - pos ? pos + slice : n);
        int32_t *ids = NULL;
        int k = 0;
        if (attn_tokenizer_encode(p->tok, (const char *)s + pos, end - pos, true, &ids, &k))
            return attn_error("%s: %s", file, attn_last_error());
        int rc = buf_append(out, ids, (size_t)k);
        free(ids);
        if (rc) return -1;
        p->done += end - pos;
        if (p->o->progress) p->o->progress(p->o->progress_ctx, p->done, p->total);
        pos = end;
    }
    return 0;
}

/* One file's portion into a shard, after an end-of-text if the shard already holds text. */
static int add_portion(prep *p, const uint8_t *s, size_t n, token_buf *out, const char *file) {
    if (n == 0) return 0;
    if (out->n > 0 && p->eot >= 0 && buf_append(out, &p->eot, 1)) return -1;
    return encode_into(p, s, n, out, file);
}

static int map_text(const char *path, uint8_t **map, size_t *len) {
    *map = NULL, *len = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return attn_error("%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    int rc = fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ? attn_error("%s: not a regular file", path) : 0;
    if (rc == 0) *len = (size_t)st.st_size;
    if (rc == 0 && *len > 0) {
        void *m = mmap(NULL, *len, PROT_READ, MAP_PRIVATE, fd, 0);
        if (m == MAP_FAILED) rc = attn_error("%s: cannot map: %s", path, strerror(errno));
        else *map = m, (void)madvise(m, *len, MADV_SEQUENTIAL);
    }
    close(fd);
    return rc;
}

static int add_file(prep *p, const char *path, token_buf *train, token_buf *val) {
    uint8_t *s;
    size_t n;
    if (map_text(path, &s, &n)) return -1;
    size_t cut = split_point(s, n, p->o->val_fraction);
    int rc = add_portion(p, s, cut, train, path);
    if (rc == 0) rc = add_portion(p, s + cut, n - cut, val, path);
    if (s) munmap(s, n);
    return rc;
}

/* ---- output ---- */

static int make_dir(const char *dir) {
    struct stat st;
    if (stat(dir, &st) == 0) return S_ISDIR(st.st_mode) ? 0 : attn_error("%s: exists and is not a folder", dir);
    if (mkdir(dir, 0755) != 0) return attn_error("%s: cannot create the folder: %s", dir, strerror(errno));
    return 0;
}

/* Copies the tokenizer file(s) into dir under their own names. */
static int copy_tokenizer(const char *tokenizer, const char *dir) {
    char files[2][ATTN_DATA_PATH_CAP], dst[ATTN_DATA_PATH_CAP + 64];
    int n;
    if (attn_data_tokenizer_files(tokenizer, files, &n)) return -1;
    const char *names[2] = {n == 1 ? "tokenizer.json" : "vocab.json", "merges.txt"};
    for (int i = 0; i < n; i++) {
        size_t len;
        snprintf(dst, sizeof dst, "%s/%s", dir, names[i]);
        char *data = attn_read_file(files[i], &len);
        int rc = data ? attn_write_file_atomic(dst, data, len) : -1;
        free(data);
        if (rc) return -1;
    }
    return 0;
}

static int write_shard(const char *dir, const char *name, const token_buf *b, const attn_data_prepare_result *r,
                       int32_t eot) {
    char path[ATTN_DATA_PATH_CAP + 64];
    if (snprintf(path, sizeof path, "%s/%s", dir, name) >= (int)sizeof path) return attn_error("%s: path too long", dir);
    attn_shard_header h = {ATTN_SHARD_VERSION, b->n, b->width, r->vocab_size, r->tokenizer_id, eot};
    return attn_shard_write(path, &h, b->v);
}

/* The folder, and every file written into it, must not be one of the input texts: writing
 * would destroy the user's text. Inputs elsewhere in the folder are left alone, so fine. */
static int check_not_input(const attn_data_prepare_opts *o) {
    static const char *const written[] = {"train.bin", "val.bin", "tokenizer.json", "vocab.json", "merges.txt"};
    char path[ATTN_DATA_PATH_CAP + 64];
    for (int i = 0; i < o->n_inputs; i++) {
        if (attn_output_not_input(o->out_dir, o->inputs[i])) return -1;
        for (size_t k = 0; k < sizeof written / sizeof *written; k++) {
            if (snprintf(path, sizeof path, "%s/%s", o->out_dir, written[k]) >= (int)sizeof path)
                return attn_error("%s: path too long", o->out_dir);
            if (attn_output_not_input(path, o->inputs[i])) return -1;
        }
    }
    return 0;
}

static int check_opts(const attn_data_prepare_opts *o) {
    if (!o->n_inputs) return attn_error("no input files");
    if (!o->out_dir || !*o->out_dir) return attn_error("no output folder");
    if (!o->tokenizer) return attn_error("no tokenizer");
    if (!(o->val_fraction >= 0 && o->val_fraction < 1))
        return attn_error("val fraction %g is outside [0, 1)", o->val_fraction);
    return check_not_input(o);
}

static uint64_t total_bytes(const attn_data_prepare_opts *o) {
    uint64_t total = 0;
    struct stat st;
    for (int i = 0; i < o->n_inputs; i++)
        if (stat(o->inputs[i], &st) == 0) total += (uint64_t)st.st_size;
    return total;
}

static int run(prep *p, attn_data_prepare_result *r, token_buf *train, token_buf *val) {
    const attn_data_prepare_opts *o = p->o;
    if (attn_data_tokenizer_id(o->tokenizer, &r->tokenizer_id)) return -1;
    for (int i = 0; i < o->n_inputs; i++)
        if (add_file(p, o->inputs[i], train, val)) return -1;
    r->bytes = p->done;
    r->train_tokens = train->n, r->val_tokens = val->n;
    if (train->n == 0) return attn_error("no tokens for train.bin: the input text is empty");
    if (make_dir(o->out_dir) || write_shard(o->out_dir, "train.bin", train, r, p->eot) ||
        write_shard(o->out_dir, "val.bin", val, r, p->eot))
        return -1;
    return copy_tokenizer(o->tokenizer, o->out_dir);
}

int attn_data_prepare(const attn_data_prepare_opts *o, attn_data_prepare_result *r) {
    memset(r, 0, sizeof *r);
    double t0 = attn_time_s();
    if (check_opts(o)) return -1;
    attn_tokenizer *tok = attn_tokenizer_load(o->tokenizer);
    if (!tok) return -1;
    r->vocab_size = (uint32_t)attn_tokenizer_vocab_size(tok);
    r->token_bytes = attn_shard_token_bytes(r->vocab_size);
    prep p = {o, tok, attn_tokenizer_eos(tok), 0, total_bytes(o)};
    token_buf train = {.width = r->token_bytes}, val = {.width = r->token_bytes};
    int rc = run(&p, r, &train, &val);
    free(train.v), free(val.v);
    attn_tokenizer_free(tok);
    r->seconds = attn_time_s() - t0;
    return rc;
}
