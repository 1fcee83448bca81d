/* attention.c - the KV cache's mapping, and causal attention, parallel over (head, query)
 * pairs. Each pair computes its scores block by block from the transposed key cache into a
 * per-thread buffer, takes a max-subtracted softmax and the weighted sum of values; memory is
 * O(positions) per thread. f16 caches are rounded as rows are stored and widened in the kernels'
 * loads. */
#include "attention.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include "core/common.h"
#include "core/kernels.h"
#include "core/matmul.h"
#include "core/threadpool.h"

#define SCORE_SLOT 2

static int64_t blocks_of(int64_t max_pos) { return (max_pos + ATTN_KV_BLOCK - 1) / ATTN_KV_BLOCK; }

/* Where key-value head h starts in one layer's key cache (its blocks of transposed keys) and
 * value cache ([positions][head_dim]), in elements. */
static int64_t head_keys(int64_t max_pos, int hd, int h) { return h * blocks_of(max_pos) * hd * ATTN_KV_BLOCK; }
static int64_t head_values(int64_t max_pos, int hd, int h) { return h * max_pos * hd; }

int attn_kv_cache_init(attn_kv_cache *c, attn_dtype type, int n_layers, int n_seqs, int64_t max_pos, int n_kv_heads,
                       int head_dim) {
    if (type != ATTN_F32 && type != ATTN_F16) return attn_error("a KV cache holds f32 or f16, not %s", attn_dtype_name(type));
    int64_t k = head_keys(max_pos, head_dim, n_kv_heads), v = head_values(max_pos, head_dim, n_kv_heads); /* a layer's */
    int64_t regions = (int64_t)n_layers * n_seqs, es = (int64_t)attn_dtype_size(type);
    if (regions <= 0 || k + v <= 0 || (k + v) > INT64_MAX / es / regions)
        return attn_error("a KV cache of %d sequences x %lld positions is too large", n_seqs, (long long)max_pos);
    size_t bytes = (size_t)(regions * (k + v) * es);
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED)
        return attn_error("cannot reserve %zu MB for the KV cache of %d sequences x %lld positions: %s", bytes >> 20,
                          n_seqs, (long long)max_pos, strerror(errno));
    *c = (attn_kv_cache){.base = p, .bytes = bytes, .type = type, .n_layers = n_layers, .n_seqs = n_seqs,
                         .max_pos = max_pos, .k_elems = k, .v_elems = v};
    return 0;
}

void attn_kv_cache_free(attn_kv_cache *c) {
    if (c->base) munmap(c->base, c->bytes);
    *c = (attn_kv_cache){0};
}

typedef struct {
    void *k_cache, *v_cache;
    attn_dtype type;
    const attn_kernels *kern;
    const float *k, *v;
    int64_t max_pos, src_stride, pos0;
    const attn_attention_shape *s;
} kv_job;

/* n values x[i] into the cache's elements at + i * stride. */
static void put(const kv_job *j, void *cache, int64_t at, int64_t stride, const float *x, int n) {
    const attn_dtype type = j->type;
    if (type == ATTN_F16) {
        j->kern->to_f16((uint16_t *)cache + at, stride, x, n);
        return;
    }
    float *f = (float *)cache + at;
    for (int i = 0; i < n; i++) f[i * stride] = x[i];
}

/* Row t of the new keys and values into the cache at position pos0 + t, key-value heads
 * h0..h1-1 (keys transposed into their block). */
static void store_row(const kv_job *j, int64_t t, int h0, int h1) {
    int hd = j->s->head_dim;
    int64_t pos = j->pos0 + t, in_block = (pos / ATTN_KV_BLOCK) * hd * ATTN_KV_BLOCK + pos % ATTN_KV_BLOCK;
    for (int h = h0; h < h1; h++) {
        put(j, j->k_cache, head_keys(j->max_pos, hd, h) + in_block, ATTN_KV_BLOCK,
            j->k + t * j->src_stride + (int64_t)h * hd, hd);
        put(j, j->v_cache, head_values(j->max_pos, hd, h) + pos * hd, 1,
            j->v + t * j->src_stride + (int64_t)h * hd, hd);
    }
}

static void kv_store_rows(void *ctx, int64_t t0, int64_t t1, int thread) {
    (void)thread;
    const kv_job *j = ctx;
    for (int64_t t = t0; t < t1; t++) store_row(j, t, 0, j->s->n_kv_heads);
}

static int64_t padded(int64_t max_pos) { return blocks_of(max_pos) * ATTN_KV_BLOCK; }

int attn_attention_reserve(int64_t max_pos) {
    return attn_scratch_reserve(SCORE_SLOT, (size_t)(ATTN_MAX_NQ * padded(max_pos)));
}

typedef struct {
    float *out;
    const float *q;
    const void *k, *v; /* the cache, of store.type */
    int64_t q_stride, pos0, T, max_pos, groups;
    const attn_attention_shape *s;
    const attn_kernels *kern;
    kv_job store; /* the new rows: stored by the items (one row) or before them */
} attn_job;

/* Element `at` of a cache of type t. */
static const void *cache_at(const void *c, attn_dtype t, int64_t at) {
    return (const char *)c + at * (int64_t)attn_dtype_size(t);
}

/* Softmax of nq score rows (stride ls) over n positions. With `causal`, row r is the r-th of
 * the last nq queries: it sees n - nq + 1 + r positions, and the scores past them become zero
 * weights; else every row sees all n. */
static void softmax_rows(const attn_kernels *K, float *scores, int64_t ls, int nq, int64_t n, bool causal) {
    for (int r = 0; r < nq; r++) {
        float *row = scores + r * ls;
        int64_t nr = causal ? n - nq + 1 + r : n;
        K->scale(row, 1.0f / K->exp_sum(row, K->max(row, nr), nr), nr);
        for (int64_t p = nr; p < n; p++) row[p] = 0.0f;
    }
}

/* Queries t0..t0+nq-1 of head h: they share each load of keys and values. Causality: query
 * r sees n_r = pos0 + t0 + r + 1 positions; the scores past n_r become zero weights. */
static void attend_group(const attn_job *j, int64_t t0, int nq, int h, float *scores) {
    const attn_attention_shape *s = j->s;
    const attn_kernels *K = j->kern;
    int hd = s->head_dim, kvh = h / (s->n_heads / s->n_kv_heads);
    int64_t ls = padded(j->max_pos), n = j->pos0 + t0 + nq;
    int64_t out_stride = (int64_t)s->n_heads * hd;
    const float *q = j->q + t0 * j->q_stride + (int64_t)h * hd;
    attn_dtype t = j->store.type;
    K->attn_scores(scores, ls, q, j->q_stride, nq, cache_at(j->k, t, head_keys(j->max_pos, hd, kvh)), t, hd, n,
                   s->scale);
    softmax_rows(K, scores, ls, nq, n, true);
    float *o = j->out + t0 * out_stride + (int64_t)h * hd;
    K->attn_values(o, out_stride, scores, ls, nq, cache_at(j->v, t, head_values(j->max_pos, hd, kvh)), t, hd, hd, n);
}

/* Query heads h0..h0+nh-1 of a one-row job (a decoding step), all of one key-value head:
 * they share each load of its keys and values, which come from memory, not cache, when
 * many sequences decode together (grouped-query attention reads them once, not per head). */
static void attend_heads(const attn_job *j, int h0, int nh, float *scores) {
    const attn_attention_shape *s = j->s;
    const attn_kernels *K = j->kern;
    int hd = s->head_dim, kvh = h0 / (s->n_heads / s->n_kv_heads);
    int64_t ls = padded(j->max_pos), n = j->pos0 + 1;
    attn_dtype t = j->store.type;
    K->attn_scores(scores, ls, j->q + (int64_t)h0 * hd, hd, nh, cache_at(j->k, t, head_keys(j->max_pos, hd, kvh)), t,
                   hd, n, s->scale);
    softmax_rows(K, scores, ls, nh, n, false);
    K->attn_values(j->out + (int64_t)h0 * hd, hd, scores, ls, nh, cache_at(j->v, t, head_values(j->max_pos, hd, kvh)), t,
                   hd, hd, n);
}

/* Items are numbered sequence by sequence (first[i] is sequence i's first): a one-row job's
 * are (key-value head, chunk of its query heads), a longer one's (head, query group). */
typedef struct {
    const attn_job *jobs;
    const int64_t *first;
} attn_many_job;

/* Query heads per key-value head, in chunks the kernels take at once. */
static int head_chunks(const attn_attention_shape *s) {
    return (s->n_heads / s->n_kv_heads + ATTN_MAX_NQ - 1) / ATTN_MAX_NQ;
}

static void attn_task(void *ctx, int64_t b, int64_t e, int thread) {
    const attn_many_job *m = ctx;
    float *scores = attn_scratch(thread, SCORE_SLOT, 0); /* reserved by the caller */
    int q = 0;
    for (int64_t i = b; i < e; i++) {
        while (i >= m->first[q + 1]) q++;
        const attn_job *j = &m->jobs[q];
        int64_t at = i - m->first[q];
        if (j->T == 1) {
            int group = j->s->n_heads / j->s->n_kv_heads, chunks = head_chunks(j->s), c = (int)(at % chunks);
            int kvh = (int)(at / chunks), h0 = kvh * group + c * ATTN_MAX_NQ;
            if (chunks == 1) store_row(&j->store, 0, kvh, kvh + 1); /* no other item reads this head */
            attend_heads(j, h0, ATTN_MIN(ATTN_MAX_NQ, group - c * ATTN_MAX_NQ), scores);
            continue;
        }
        int64_t t0 = (at % j->groups) * ATTN_MAX_NQ;
        attend_group(j, t0, (int)ATTN_MIN(ATTN_MAX_NQ, j->T - t0), (int)(at / j->groups), scores);
    }
}

void attn_attention_causal_many(const attn_attention_seq *seqs, int n, int64_t max_pos, attn_dtype kv_type,
                                const attn_attention_shape *shape) {
    attn_job jobs[ATTN_ATTENTION_MAX_SEQS];
    int64_t first[ATTN_ATTENTION_MAX_SEQS + 1] = {0};
    n = ATTN_MIN(n, ATTN_ATTENTION_MAX_SEQS);
    for (int i = 0; i < n; i++) {
        const attn_attention_seq *q = &seqs[i];
        kv_job store = {.k_cache = q->k_cache, .v_cache = q->v_cache, .type = kv_type, .kern = attn_kernels_get(),
                        .k = q->k_new, .v = q->v_new, .max_pos = max_pos, .src_stride = q->new_stride,
                        .pos0 = q->pos0, .s = shape};
        jobs[i] = (attn_job){.out = q->out, .q = q->q, .k = q->k_cache, .v = q->v_cache, .q_stride = q->q_stride,
                             .pos0 = q->pos0, .T = q->T, .max_pos = max_pos,
                             .groups = (q->T + ATTN_MAX_NQ - 1) / ATTN_MAX_NQ, .s = shape, .kern = attn_kernels_get(),
                             .store = store};
        int64_t items = q->T == 1 ? (int64_t)shape->n_kv_heads * head_chunks(shape) : jobs[i].groups * shape->n_heads;
        first[i + 1] = first[i] + items;
        if (q->T > 1 || head_chunks(shape) > 1) attn_parallel_for(q->T, 16, kv_store_rows, &jobs[i].store);
    }
    /* items differ in cost (a prompt's groups against short decoding rows): hand them out */
    attn_many_job mj = {.jobs = jobs, .first = first};
    attn_parallel_for_dynamic(first[n], 1, attn_task, &mj);
}
