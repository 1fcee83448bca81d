/* data.c - token shards (format in data.h): the header codec, the atomic writer, the
 * mmap reader that validates a shard before trusting it, batch sampling, and the identity
 * of a tokenizer file. */
#include "train/data.h"

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

/* ---- little-endian fields ---- */

static void put_le(uint8_t *p, uint64_t v, int bytes) {
    for (int i = 0; i < bytes; i++) p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_le(const uint8_t *p, int bytes) {
    uint64_t v = 0;
    for (int i = 0; i < bytes; i++) v |= (uint64_t)p[i] << (8 * i);
    return v;
}

uint32_t attn_shard_token_bytes(uint32_t vocab_size) { return vocab_size <= 65536 ? 2 : 4; }

void attn_shard_encode_header(const attn_shard_header *h, uint8_t out[ATTN_SHARD_HEADER_BYTES]) {
    memset(out, 0, ATTN_SHARD_HEADER_BYTES);
    memcpy(out, ATTN_SHARD_MAGIC, 8);
    put_le(out + 8, ATTN_SHARD_VERSION, 4);
    put_le(out + 12, ATTN_SHARD_HEADER_BYTES, 4);
    put_le(out + 16, h->n_tokens, 8);
    put_le(out + 24, h->token_bytes, 4);
    put_le(out + 28, h->vocab_size, 4);
    put_le(out + 32, h->tokenizer_id, 8);
    put_le(out + 40, (uint32_t)h->eot, 4);
}

/* ---- writing ---- */

int attn_shard_write(const char *path, const attn_shard_header *h, const void *tokens) {
    if (h->token_bytes != 2 && h->token_bytes != 4)
        return attn_error("%s: %u bytes per token (must be 2 or 4)", path, h->token_bytes);
    if (h->vocab_size == 0 || (h->token_bytes == 2 && h->vocab_size > 65536))
        return attn_error("%s: vocabulary size %u does not fit %u-byte tokens", path, h->vocab_size, h->token_bytes);
    if (h->n_tokens > (SIZE_MAX - ATTN_SHARD_HEADER_BYTES) / h->token_bytes)
        return attn_error("%s: %llu tokens are too many", path, (unsigned long long)h->n_tokens);
    uint8_t head[ATTN_SHARD_HEADER_BYTES];
    attn_shard_encode_header(h, head);
    attn_atomic_file *f = attn_atomic_open(path);
    if (!f) return -1;
    attn_atomic_write(f, head, sizeof head);
    if (h->n_tokens) attn_atomic_write(f, tokens, (size_t)h->n_tokens * h->token_bytes);
    return attn_atomic_commit(f);
}

int attn_shard_write_ids(const char *path, const int32_t *ids, uint64_t n, uint32_t vocab_size,
                         uint64_t tokenizer_id, int32_t eot) {
    attn_shard_header h = {ATTN_SHARD_VERSION, n, attn_shard_token_bytes(vocab_size), vocab_size, tokenizer_id, eot};
    if (n > SIZE_MAX / 4) return attn_error("%s: too many tokens", path);
    uint8_t *buf = malloc(n ? (size_t)n * h.token_bytes : 1);
    if (!buf) return attn_error("%s: out of memory for %llu tokens", path, (unsigned long long)n);
    for (uint64_t i = 0; i < n; i++) {
        if (ids[i] < 0 || (uint32_t)ids[i] >= vocab_size) {
            free(buf);
            return attn_error("%s: token %d at position %llu is outside the vocabulary (size %u)", path, ids[i],
                              (unsigned long long)i, vocab_size);
        }
        put_le(buf + i * h.token_bytes, (uint32_t)ids[i], (int)h.token_bytes);
    }
    int rc = attn_shard_write(path, &h, buf);
    free(buf);
    return rc;
}

/* ---- reading ---- */

struct attn_shard {
    char *path;
    uint8_t *map;
    size_t map_len;
    const uint8_t *tokens;
    attn_shard_header h;
};

/* Every header check, before any token is touched. */
static int check_header(const char *path, const uint8_t *p, size_t size, attn_shard_header *h) {
    if (size < ATTN_SHARD_HEADER_BYTES)
        return attn_error("%s: truncated: %zu bytes, but a token shard's header alone is %d bytes", path, size,
                          ATTN_SHARD_HEADER_BYTES);
    if (memcmp(p, ATTN_SHARD_MAGIC, 8) != 0)
        return attn_error("%s: not an attn token shard (no \"%s\" magic): make one with 'attn data prepare'", path,
                          ATTN_SHARD_MAGIC);
    h->version = (uint32_t)get_le(p + 8, 4);
    if (h->version != ATTN_SHARD_VERSION)
        return attn_error("%s: token shard version %u is not supported (this attn reads version %d): re-run "
                          "'attn data prepare'", path, h->version, ATTN_SHARD_VERSION);
    if (get_le(p + 12, 4) != ATTN_SHARD_HEADER_BYTES)
        return attn_error("%s: header size %u, expected %d", path, (unsigned)get_le(p + 12, 4), ATTN_SHARD_HEADER_BYTES);
    h->n_tokens = get_le(p + 16, 8);
    h->token_bytes = (uint32_t)get_le(p + 24, 4);
    h->vocab_size = (uint32_t)get_le(p + 28, 4);
    h->tokenizer_id = get_le(p + 32, 8);
    h->eot = (int32_t)(uint32_t)get_le(p + 40, 4);
    if (h->token_bytes != 2 && h->token_bytes != 4)
        return attn_error("%s: %u bytes per token (must be 2 or 4)", path, h->token_bytes);
    if (h->vocab_size == 0 || (h->token_bytes == 2 && h->vocab_size > 65536))
        return attn_error("%s: vocabulary size %u is impossible for %u-byte tokens", path, h->vocab_size,
                          h->token_bytes);
    if (h->eot < -1 || (h->eot >= 0 && (uint32_t)h->eot >= h->vocab_size))
        return attn_error("%s: end-of-text id %d is outside the vocabulary (size %u)", path, h->eot, h->vocab_size);
    uint64_t body = size - ATTN_SHARD_HEADER_BYTES;
    if (h->n_tokens > body / h->token_bytes)
        return attn_error("%s: truncated: the header promises %llu tokens (%llu bytes) but only %llu bytes follow it",
                          path, (unsigned long long)h->n_tokens, (unsigned long long)h->n_tokens * h->token_bytes,
                          (unsigned long long)body);
    if (body != h->n_tokens * h->token_bytes)
        return attn_error("%s: %llu bytes after the %llu tokens the header promises (corrupt or not a shard)", path,
                          (unsigned long long)(body - h->n_tokens * h->token_bytes), (unsigned long long)h->n_tokens);
    return 0;
}

static int map_file(const char *path, uint8_t **map, size_t *len) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return attn_error("%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    int rc = 0;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) rc = attn_error("%s: not a regular file", path);
    *len = rc ? 0 : (size_t)st.st_size;
    *map = NULL;
    if (rc == 0 && *len > 0) {
        void *m = mmap(NULL, *len, PROT_READ, MAP_PRIVATE, fd, 0);
        if (m == MAP_FAILED) rc = attn_error("%s: cannot map: %s", path, strerror(errno));
        else *map = m;
    }
    close(fd);
    return rc;
}

/* The largest id among n tokens of w bytes (little-endian). */
static uint32_t max_token(const uint8_t *t, uint64_t n, uint32_t w) {
    uint32_t max = 0;
    if (w == 2) {
        uint16_t m = 0;
        for (uint64_t i = 0; i < n; i++) {
            uint16_t v = (uint16_t)(t[2 * i] | t[2 * i + 1] << 8);
            m = v > m ? v : m;
        }
        return m;
    }
    for (uint64_t i = 0; i < n; i++) {
        uint32_t v = (uint32_t)t[4 * i] | (uint32_t)t[4 * i + 1] << 8 | (uint32_t)t[4 * i + 2] << 16 |
                     (uint32_t)t[4 * i + 3] << 24;
        max = v > max ? v : max;
    }
    return max;
}

/* Every token id below the vocabulary size, checked once at open: a bad id found by the batch
 * that happens to draw it would end a run hours in. The file is read in page-aligned chunks
 * whose pages are dropped after (a read-only file mapping: they stay in the page cache), so
 * the scan does not raise peak RSS by the shard's size. */
static int check_tokens(const attn_shard *s) {
    const uint64_t chunk = 64u << 20, end = ATTN_SHARD_HEADER_BYTES + s->h.n_tokens * s->h.token_bytes;
    const uint32_t w = s->h.token_bytes;
    for (uint64_t at = 0; at < end; at += chunk) { /* (chunk - header) % w == 0: no token straddles two chunks */
        uint64_t from = at ? at : ATTN_SHARD_HEADER_BYTES, to = ATTN_MIN(at + chunk, end);
        uint32_t max = max_token(s->map + from, (to - from) / w, w);
        (void)madvise(s->map + at, (size_t)(to - at), MADV_DONTNEED);
        if (max < s->h.vocab_size) continue;
        for (uint64_t i = (from - ATTN_SHARD_HEADER_BYTES) / w;; i++) { /* rare: name the first one */
            uint32_t id = (uint32_t)get_le(s->tokens + i * w, (int)w);
            if (id >= s->h.vocab_size)
                return attn_error("%s: token id %u at position %llu is not below the vocabulary size %u (corrupt "
                                  "shard, or prepared with another tokenizer)", s->path, id, (unsigned long long)i,
                                  s->h.vocab_size);
        }
    }
    return 0;
}

attn_shard *attn_shard_open(const char *path) {
    attn_shard *s = calloc(1, sizeof *s);
    if (!s || !(s->path = strdup(path))) {
        free(s);
        attn_error("%s: out of memory", path);
        return NULL;
    }
    if (map_file(path, &s->map, &s->map_len) || check_header(path, s->map, s->map_len, &s->h)) {
        attn_shard_close(s);
        return NULL;
    }
    s->tokens = s->map + ATTN_SHARD_HEADER_BYTES;
    if (check_tokens(s)) {
        attn_shard_close(s);
        return NULL;
    }
    if (s->h.n_tokens * s->h.token_bytes >= (1u << 20)) /* batches jump around: no read-ahead */
        (void)madvise(s->map, s->map_len, MADV_RANDOM);
    return s;
}

void attn_shard_close(attn_shard *s) {
    if (!s) return;
    if (s->map) munmap(s->map, s->map_len);
    free(s->path);
    free(s);
}

const attn_shard_header *attn_shard_info(const attn_shard *s) { return &s->h; }
const char *attn_shard_path(const attn_shard *s) { return s->path; }

int attn_shard_read(const attn_shard *s, uint64_t pos, size_t n, int32_t *out) {
    if (pos > s->h.n_tokens || n > s->h.n_tokens - pos)
        return attn_error("%s: tokens %llu..%llu are past the end (%llu tokens)", s->path, (unsigned long long)pos,
                          (unsigned long long)(pos + n), (unsigned long long)s->h.n_tokens);
    const int w = (int)s->h.token_bytes;
    const uint8_t *p = s->tokens + pos * (uint64_t)w;
    for (size_t i = 0; i < n; i++) {
        uint32_t id = (uint32_t)get_le(p + i * (size_t)w, w);
        if (id >= s->h.vocab_size)
            return attn_error("%s: token id %u at position %llu is not below the vocabulary size %u (corrupt "
                              "shard, or prepared with another tokenizer)", s->path, id,
                              (unsigned long long)(pos + i), s->h.vocab_size);
        out[i] = (int32_t)id;
    }
    return 0;
}

/* ---- batches ---- */

uint64_t attn_shard_batches_per_epoch(const attn_shard *s, int B, int T) {
    if (B <= 0 || T <= 0 || s->h.n_tokens < 1) return 0;
    return (s->h.n_tokens - 1) / ((uint64_t)B * (uint64_t)T);
}

/* splitmix64's finaliser: a counter-based generator, so any batch's offsets follow from
 * (seed, batch, row) alone and resuming needs no saved generator state. */
static uint64_t mix64(uint64_t x) {
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

static uint64_t random_offset(uint64_t seed, uint64_t batch, uint64_t row, uint64_t range) {
    uint64_t r = mix64(mix64(seed ^ mix64(batch)) + row);
    return (uint64_t)(((unsigned __int128)r * range) >> 64); /* uniform in [0, range) */
}

int attn_shard_next_batch(const attn_shard *s, attn_batch_cursor *c, int B, int T, int32_t *out) {
    if (B <= 0 || T <= 0) return attn_error("%s: batch size %d and sequence length %d must be positive", s->path, B, T);
    uint64_t need = (uint64_t)B * (uint64_t)T + 1, n = s->h.n_tokens;
    if (n < need)
        return attn_error("%s: %llu tokens are fewer than one batch needs (B=%d x T=%d + 1 = %llu): give more "
                          "text, or a smaller batch or sequence length", s->path, (unsigned long long)n, B, T,
                          (unsigned long long)need);
    uint64_t start = (c->batch % attn_shard_batches_per_epoch(s, B, T)) * (need - 1);
    for (int b = 0; b < B; b++) {
        uint64_t pos = c->sequential ? start + (uint64_t)b * (uint64_t)T
                                     : random_offset(c->seed, c->batch, (uint64_t)b, n - (uint64_t)T);
        if (attn_shard_read(s, pos, (size_t)T + 1, out + (size_t)b * ((size_t)T + 1))) return -1;
    }
    c->batch++;
    return 0;
}

/* ---- tokenizer identity ---- */

static bool is_file(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static int join(char out[ATTN_DATA_PATH_CAP], const char *dir, const char *name) {
    int n = snprintf(out, ATTN_DATA_PATH_CAP, "%s/%s", dir, name);
    return n < 0 || n >= ATTN_DATA_PATH_CAP ? attn_error("%s/%s: path too long", dir, name) : 0;
}

int attn_data_tokenizer_files(const char *path, char files[2][ATTN_DATA_PATH_CAP], int *n) {
    struct stat st;
    *n = 0;
    if (stat(path, &st) != 0) return attn_error("%s: no such tokenizer file or folder", path);
    if (!S_ISDIR(st.st_mode)) {
        if (strlen(path) >= ATTN_DATA_PATH_CAP) return attn_error("%.64s...: path too long", path);
        snprintf(files[0], ATTN_DATA_PATH_CAP, "%s", path);
        *n = 1;
        return 0;
    }
    if (join(files[0], path, "tokenizer.json")) return -1;
    if (is_file(files[0])) return *n = 1, 0;
    if (join(files[0], path, "vocab.json") || join(files[1], path, "merges.txt")) return -1;
    if (!is_file(files[0]) || !is_file(files[1]))
        return attn_error("%s: holds neither tokenizer.json nor vocab.json + merges.txt", path);
    *n = 2;
    return 0;
}

static int hash_file(const char *path, uint64_t *h) {
    FILE *f = fopen(path, "rb");
    if (!f) return attn_error("%s: cannot open: %s", path, strerror(errno));
    uint8_t buf[1 << 16];
    size_t got;
    while ((got = fread(buf, 1, sizeof buf, f)) > 0)
        for (size_t i = 0; i < got; i++) *h = (*h ^ buf[i]) * 0x100000001B3ull;
    int bad = ferror(f);
    fclose(f);
    return bad ? attn_error("%s: read error", path) : 0;
}

int attn_data_tokenizer_id(const char *path, uint64_t *id) {
    char files[2][ATTN_DATA_PATH_CAP];
    int n;
    if (attn_data_tokenizer_files(path, files, &n)) return -1;
    uint64_t h = 0xCBF29CE484222325ull;
    for (int i = 0; i < n; i++)
        if (hash_file(files[i], &h)) return -1;
    *id = h;
    return 0;
}
