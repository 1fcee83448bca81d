/* stream.c - stop-string matching and UTF-8 hold-back over streamed text (rules in stream.h).
 *
 * The stream keeps every byte pushed in one buffer; `emitted` marks how far the caller has
 * been given it. Each push rescans only from `emitted`: bytes before it were released because
 * no stop string could start there, so no match can start there later either. */
#include "generate/stream.h"

#include "core/common.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Spare bytes kept after len: room for U+FFFD (3) and the NUL, so flush never allocates. */
#define STREAM_SPARE 4

struct attn_stream {
    char **stops;
    size_t *stop_len;
    int n_stops;
    char *buf;
    size_t len, cap;
    size_t emitted;
    int stopped;
};

attn_stream *attn_stream_new(const char *const *stops, int n_stops) {
    attn_stream *s = calloc(1, sizeof *s);
    if (!s) goto oom;
    int n = n_stops > 0 && stops ? n_stops : 0;
    s->stops = calloc((size_t)n + 1, sizeof *s->stops);
    s->stop_len = calloc((size_t)n + 1, sizeof *s->stop_len);
    s->cap = 256;
    s->buf = malloc(s->cap);
    if (!s->stops || !s->stop_len || !s->buf) goto oom;
    s->buf[0] = 0;
    for (int i = 0; i < n; i++) {
        if (!stops[i] || !stops[i][0]) continue;
        size_t L = strlen(stops[i]);
        char *copy = malloc(L + 1);
        if (!copy) goto oom;
        memcpy(copy, stops[i], L + 1);
        s->stops[s->n_stops] = copy;
        s->stop_len[s->n_stops++] = L;
    }
    return s;
oom:
    attn_error("stream: out of memory");
    attn_stream_free(s);
    return NULL;
}

void attn_stream_free(attn_stream *s) {
    if (!s) return;
    for (int i = 0; i < s->n_stops; i++) free(s->stops[i]);
    free(s->stops);
    free(s->stop_len);
    free(s->buf);
    free(s);
}

static int append(attn_stream *s, const char *bytes, size_t n) {
    if (n > SIZE_MAX - s->len - STREAM_SPARE) return attn_error("stream: text too long");
    size_t need = s->len + n + STREAM_SPARE;
    if (need > s->cap) {
        size_t cap = s->cap;
        while (cap < need) cap = cap > SIZE_MAX / 2 ? need : cap * 2;
        char *nb = realloc(s->buf, cap);
        if (!nb) return attn_error("stream: out of memory growing text to %zu bytes", cap);
        s->buf = nb;
        s->cap = cap;
    }
    if (n) memcpy(s->buf + s->len, bytes, n);
    s->len += n;
    s->buf[s->len] = 0;
    return 0;
}

/* Length of the UTF-8 sequence a lead byte starts; 0 for ASCII, continuation or invalid. */
static size_t utf8_seq_len(unsigned char c) {
    if (c >= 0xC2 && c <= 0xDF) return 2;
    if (c >= 0xE0 && c <= 0xEF) return 3;
    if (c >= 0xF0 && c <= 0xF4) return 4;
    return 0;
}

/* Where an incomplete UTF-8 sequence ending at `end` starts (not looking before lo);
 * `end` when the bytes before it are complete. */
static size_t utf8_incomplete_start(const char *buf, size_t lo, size_t end) {
    size_t i = end;
    while (i > lo && end - i < 3 && ((unsigned char)buf[i - 1] & 0xC0) == 0x80) i--;
    if (i == lo) return end;
    size_t need = utf8_seq_len((unsigned char)buf[i - 1]);
    return need && end - (i - 1) < need ? i - 1 : end;
}

/* Scans from emitted: returns where the first complete stop string starts (SIZE_MAX if none);
 * *partial gets the first position whose tail is a proper prefix of a stop string (len if none). */
static size_t find_stop(const attn_stream *s, size_t *partial) {
    *partial = s->len;
    for (size_t p = s->emitted; p < s->len; p++) {
        size_t rest = s->len - p;
        for (int k = 0; k < s->n_stops; k++) {
            size_t L = s->stop_len[k];
            if (rest >= L) {
                if (memcmp(s->buf + p, s->stops[k], L) == 0) return p;
            } else if (*partial == s->len && memcmp(s->buf + p, s->stops[k], rest) == 0) {
                *partial = p;
            }
        }
    }
    return SIZE_MAX;
}

static void release(attn_stream *s, size_t upto, const char **ready, size_t *n_ready) {
    *ready = s->buf + s->emitted;
    *n_ready = upto - s->emitted;
    s->emitted = upto;
}

/* Ends the text: an incomplete UTF-8 tail becomes U+FFFD, then everything is released. */
static void finish(attn_stream *s, const char **ready, size_t *n_ready) {
    size_t q = utf8_incomplete_start(s->buf, s->emitted, s->len);
    if (q < s->len) {
        memcpy(s->buf + q, "\xEF\xBF\xBD", 3); /* fits: q + 3 <= len + STREAM_SPARE - 1 */
        s->len = q + 3;
    }
    s->buf[s->len] = 0;
    release(s, s->len, ready, n_ready);
}

int attn_stream_push(attn_stream *s, const char *bytes, size_t n, const char **ready, size_t *n_ready) {
    *ready = s->buf + s->emitted;
    *n_ready = 0;
    if (s->stopped) return 1;
    if (append(s, bytes, n) != 0) return -1;
    size_t partial;
    size_t stop = find_stop(s, &partial);
    if (stop != SIZE_MAX) {
        s->stopped = 1;
        s->len = stop;
        finish(s, ready, n_ready);
        return 1;
    }
    release(s, utf8_incomplete_start(s->buf, s->emitted, partial), ready, n_ready);
    return 0;
}

void attn_stream_flush(attn_stream *s, const char **ready, size_t *n_ready) {
    *ready = s->buf + s->emitted;
    *n_ready = 0;
    if (!s->stopped) finish(s, ready, n_ready);
}

const char *attn_stream_text(const attn_stream *s, size_t *len) {
    if (len) *len = s->emitted;
    return s->buf;
}

const char *attn_stream_emit(attn_stream *s, const char *bytes, size_t n,
                             int (*on_text)(void *user, const char *text, size_t len), void *user) {
    const char *ready;
    size_t n_ready;
    int stopped = attn_stream_push(s, bytes, n, &ready, &n_ready);
    if (stopped < 0) return "error";
    if (n_ready && on_text && on_text(user, ready, n_ready)) return "cancelled";
    return stopped ? "stop" : NULL;
}

int attn_tokens_in_text(const attn_tokenizer *tok, const int32_t *first, size_t stride, int n, size_t text_len) {
    size_t covered = 0;
    int kept = 0;
    while (kept < n && covered < text_len) {
        size_t len = 0;
        attn_tokenizer_token_bytes(tok, *(const int32_t *)((const char *)first + (size_t)kept++ * stride), &len);
        covered += len;
    }
    return kept;
}
