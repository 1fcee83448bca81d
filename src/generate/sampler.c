/* sampler.c - the sampler chain and the xoshiro256** RNG. The chain's order and rules are
 * documented in sampler.h; this file follows that list top to bottom in attn_sampler_sample().
 *
 * Candidates live in two parallel scratch arrays (ids, vals) sized to the vocabulary; vals holds
 * logits, then softmax weights, then the survivors' probabilities. The penalty history keeps a
 * count per token plus a dense list of the distinct tokens in the window, so penalties cost
 * O(distinct tokens), not O(vocab), and accepting a token is O(1). */
#include "generate/sampler.h"

#include "core/common.h"
#include "core/kernels.h"

#include <float.h>
#include <math.h>
#include <stdbool.h>
#include <string.h>

enum { RUN = 256 }; /* candidates per partial sum of the draw */

struct attn_sampler {
    attn_sampler_params p;
    int vocab;
    attn_rng rng;
    /* penalty history */
    int32_t *counts;   /* [vocab] occurrences in the window */
    int32_t *pos;      /* [vocab] index of the token in distinct[] while counts > 0 */
    int32_t *distinct; /* [vocab] the tokens with counts > 0 */
    int n_distinct;
    int32_t *ring; /* [ring_cap] the window, oldest at ring_head */
    int ring_cap, ring_len, ring_head;
    /* candidates */
    int32_t *ids; /* [vocab] */
    float *vals;  /* [vocab] */
    bool ids_are_index; /* ids[i] == i for every i: a full-vocabulary row needs no refill */
    int cand_off, cand_n;
    double mass;  /* the draw's total weight while vals still holds weights, else 0 */
    double *runs; /* [vocab / RUN + 1] the draw's partial sums */
    float last_prob;
};

/* ---- RNG ---------------------------------------------------------------------------- */

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static uint64_t rotl64(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

void attn_rng_seed(attn_rng *r, uint64_t seed) {
    for (int i = 0; i < 4; i++) r->s[i] = splitmix64(&seed);
}

uint64_t attn_rng_next(attn_rng *r) {
    uint64_t *s = r->s;
    uint64_t result = rotl64(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl64(s[3], 45);
    return result;
}

float attn_rng_uniform(attn_rng *r) {
    return (float)(attn_rng_next(r) >> 40) * (1.0f / 16777216.0f);
}

float attn_rng_normal(attn_rng *r) {
    /* u1 in (0,1] so log(u1) is finite; 53-bit doubles keep the tails honest. */
    double u1 = (double)((attn_rng_next(r) >> 11) + 1) * (1.0 / 9007199254740992.0);
    double u2 = (double)(attn_rng_next(r) >> 11) * (1.0 / 9007199254740992.0);
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

/* ---- construction and history ------------------------------------------------------- */

void attn_sampler_defaults(attn_sampler_params *p) {
    memset(p, 0, sizeof *p);
    p->temperature = 0.8f;
    p->top_k = 40;
    p->top_p = 0.95f;
    p->min_p = 0.05f;
    p->repeat_penalty = 1.0f;
    p->repeat_last_n = 64;
    p->seed = ATTN_SAMPLER_DEFAULT_SEED;
}

/* NaN or negative temperature means greedy; an enormous one is capped so (l - max) / T
 * stays well defined. */
static void sanitize_params(attn_sampler_params *p) {
    if (!(p->temperature > 0)) p->temperature = 0;
    if (p->temperature > 1e6f) p->temperature = 1e6f;
    if (!(p->top_p < 1)) p->top_p = 1;
    if (!(p->min_p > 0)) p->min_p = 0;
    if (p->min_p > 1) p->min_p = 1; /* 1 keeps only the most likely token(s) */
    if (!(p->repeat_penalty > 0)) p->repeat_penalty = 1;
}

attn_sampler *attn_sampler_new(const attn_sampler_params *p, int vocab_size) {
    if (vocab_size <= 0) {
        attn_error("sampler: vocab_size must be positive, got %d", vocab_size);
        return NULL;
    }
    attn_sampler *s = attn_calloc(sizeof *s);
    if (!s) return NULL;
    if (p) s->p = *p;
    else attn_sampler_defaults(&s->p);
    sanitize_params(&s->p);
    s->vocab = vocab_size;
    s->ring_cap = s->p.repeat_last_n > 0 ? s->p.repeat_last_n : 1;
    size_t v = (size_t)vocab_size;
    s->counts = attn_calloc(v * sizeof(int32_t));
    s->pos = attn_alloc(v * sizeof(int32_t));
    s->distinct = attn_alloc(v * sizeof(int32_t));
    s->ring = attn_alloc((size_t)s->ring_cap * sizeof(int32_t));
    s->ids = attn_alloc(v * sizeof(int32_t));
    s->vals = attn_alloc(v * sizeof(float));
    s->runs = attn_alloc((v / RUN + 1) * sizeof(double));
    if (!s->counts || !s->pos || !s->distinct || !s->ring || !s->ids || !s->vals || !s->runs) {
        attn_sampler_free(s);
        return NULL;
    }
    attn_rng_seed(&s->rng, s->p.seed);
    return s;
}

void attn_sampler_free(attn_sampler *s) {
    if (!s) return;
    attn_free(s->counts);
    attn_free(s->pos);
    attn_free(s->distinct);
    attn_free(s->ring);
    attn_free(s->ids);
    attn_free(s->vals);
    attn_free(s->runs);
    attn_free(s);
}

void attn_sampler_reset(attn_sampler *s) {
    for (int i = 0; i < s->n_distinct; i++) s->counts[s->distinct[i]] = 0;
    s->n_distinct = 0;
    s->ring_len = s->ring_head = 0;
    s->cand_off = s->cand_n = 0;
    s->mass = 0;
    s->last_prob = 0;
    attn_rng_seed(&s->rng, s->p.seed);
}

static void history_add(attn_sampler *s, int32_t t) {
    if (s->counts[t]++ == 0) {
        s->pos[t] = s->n_distinct;
        s->distinct[s->n_distinct++] = t;
    }
}

static void history_remove(attn_sampler *s, int32_t t) {
    if (--s->counts[t] == 0) {
        int32_t last = s->distinct[--s->n_distinct];
        s->distinct[s->pos[t]] = last;
        s->pos[last] = s->pos[t];
    }
}

void attn_sampler_accept(attn_sampler *s, int32_t token) {
    if (token < 0 || token >= s->vocab || s->p.repeat_last_n == 0) return;
    if (s->p.repeat_last_n > 0) {
        if (s->ring_len == s->ring_cap) {
            history_remove(s, s->ring[s->ring_head]);
            s->ring[s->ring_head] = token;
            s->ring_head = (s->ring_head + 1) % s->ring_cap;
        } else {
            s->ring[(s->ring_head + s->ring_len++) % s->ring_cap] = token;
        }
    }
    history_add(s, token);
}

/* ---- the chain ------------------------------------------------------------------------ */

static void apply_penalties(const attn_sampler *s, float *logits) {
    const attn_sampler_params *p = &s->p;
    if (p->repeat_penalty == 1 && p->presence_penalty == 0 && p->frequency_penalty == 0) return;
    for (int i = 0; i < s->n_distinct; i++) {
        int32_t t = s->distinct[i];
        float l = logits[t];
        if (p->repeat_penalty != 1) l = l > 0 ? l / p->repeat_penalty : l * p->repeat_penalty;
        l -= (float)s->counts[t] * p->frequency_penalty + p->presence_penalty;
        logits[t] = l;
    }
}

/* NaN becomes -inf (never chosen); +inf becomes the largest float so softmax stays finite. */
static float clean_logit(float l) {
    if (l != l) return -INFINITY;
    return l > FLT_MAX ? FLT_MAX : l;
}

/* True when no logit is NaN or infinite: a double sum of floats overflows only if one is. A
 * finite row takes the vector paths; any other row the exact scalar ones. */
static bool row_finite(const attn_sampler *s, const float *logits) {
    return isfinite(attn_kernels_get()->sum(logits, s->vocab));
}

/* The lowest id holding max, in blocks the compiler can test whole. */
static int32_t first_at(const float *x, int n, float max) {
    enum { B = 64 };
    int i = 0;
    for (; i + B <= n; i += B) {
        int hit = 0;
        for (int j = 0; j < B; j++) hit |= x[i + j] == max;
        if (hit) break;
    }
    while (i < n && x[i] != max) i++;
    return i;
}

/* Exact argmax of the raw logits (NaN never wins; lowest id among equal maxima), then its
 * softmax probability at temperature 1. */
static int32_t sample_greedy(attn_sampler *s, const float *logits) {
    const attn_kernels *k = attn_kernels_get();
    int32_t best = 0;
    float max = -INFINITY;
    double sum = 0;
    if (row_finite(s, logits)) {
        max = k->max(logits, s->vocab);
        best = first_at(logits, s->vocab, max);
        memcpy(s->vals, logits, (size_t)s->vocab * sizeof(float)); /* vals is scratch here */
        sum = k->exp_sum(s->vals, max, s->vocab);
    } else {
        for (int i = 0; i < s->vocab; i++)
            if (logits[i] > max) max = logits[i], best = i;
        float m = clean_logit(max);
        if (m > -INFINITY) {
            for (int i = 0; i < s->vocab; i++) s->vals[i] = clean_logit(logits[i]);
            sum = k->exp_sum(s->vals, m, s->vocab);
        }
    }
    s->last_prob = sum > 0 ? (float)(1.0 / sum) : 0.0f;
    s->ids[0] = best;
    s->ids_are_index = false;
    s->vals[0] = s->last_prob;
    s->cand_off = 0;
    s->cand_n = 1;
    s->mass = 0;
    return best;
}

/* Branch-free: a dropped token's slot is overwritten by the next one (one pass over a
 * vocabulary-sized row per sequence and step). */
static int gather(attn_sampler *s, const float *logits) {
    if (row_finite(s, logits)) { /* every token is a candidate: a copy, and ids stay the index */
        memcpy(s->vals, logits, (size_t)s->vocab * sizeof(float));
        if (!s->ids_are_index)
            for (int i = 0; i < s->vocab; i++) s->ids[i] = i;
        s->ids_are_index = true;
        return s->vocab;
    }
    s->ids_are_index = false;
    int n = 0;
    for (int i = 0; i < s->vocab; i++) {
        float l = logits[i];
        s->ids[n] = i;
        s->vals[n] = l > FLT_MAX ? FLT_MAX : l;
        n += l > -INFINITY; /* -inf and NaN are dropped */
    }
    return n;
}

/* The candidate order every step uses: larger value first, then lower id. */
static int better(const attn_sampler *s, int i, int j) {
    return s->vals[i] > s->vals[j] || (s->vals[i] == s->vals[j] && s->ids[i] < s->ids[j]);
}

static void swap_cand(attn_sampler *s, int i, int j) {
    s->ids_are_index = false;
    int32_t ti = s->ids[i];
    s->ids[i] = s->ids[j];
    s->ids[j] = ti;
    float tv = s->vals[i];
    s->vals[i] = s->vals[j];
    s->vals[j] = tv;
}

/* Binary heaps over the candidates. With worst_on_top the root is the worst candidate (the
 * top-k filter), else the best (the top-p filter). */
static int heap_above(const attn_sampler *s, int i, int j, int worst_on_top) {
    return worst_on_top ? better(s, j, i) : better(s, i, j);
}

static void sift_down(attn_sampler *s, int i, int n, int worst_on_top) {
    for (;;) {
        int c = 2 * i + 1;
        if (c >= n) return;
        if (c + 1 < n && heap_above(s, c + 1, c, worst_on_top)) c++;
        if (!heap_above(s, c, i, worst_on_top)) return;
        swap_cand(s, i, c);
        i = c;
    }
}

static void sift_up(attn_sampler *s, int i, int worst_on_top) {
    while (i > 0 && heap_above(s, i, (i - 1) / 2, worst_on_top)) {
        swap_cand(s, i, (i - 1) / 2);
        i = (i - 1) / 2;
    }
}

/* gather() fused with top-k: keeps the k best in a heap whose root is the worst kept. One
 * pass over the vocabulary; a token enters only if it beats the root (in random order that
 * happens about k ln(vocab / k) times), so once the heap is full a block whose largest value
 * does not beat the root is skipped whole. Ties at the boundary keep the lower id, because
 * later ids never beat an equal root. */
static int gather_top_k(attn_sampler *s, const float *logits, int k) {
    enum { B = 32 };
    const attn_kernels *kern = attn_kernels_get();
    bool skip = row_finite(s, logits); /* a vector max is exact only without NaN */
    s->ids_are_index = false;
    int n = 0;
    for (int b = 0; b < s->vocab; b += B) {
        int end = ATTN_MIN(b + B, s->vocab);
        if (skip && n == k && kern->max(logits + b, end - b) <= s->vals[0]) continue;
        for (int i = b; i < end; i++) {
            float l = logits[i];
            if (!(l > -INFINITY)) continue; /* -inf and NaN */
            if (l > FLT_MAX) l = FLT_MAX;
            if (n < k) {
                s->ids[n] = i;
                s->vals[n] = l;
                sift_up(s, n++, 1);
            } else if (l > s->vals[0]) {
                s->ids[0] = i;
                s->vals[0] = l;
                sift_down(s, 0, n, 1);
            }
        }
    }
    return n;
}

/* vals: logits -> exp(l / T - max / T) with the vector kernels (a server step samples a
 * vocabulary-sized row per sequence); the largest weight is exactly 1, as max / T is the
 * same product as its token's l / T. A max that 1 / T would carry past the largest float
 * takes (l - max) / T instead. Returns the sum. */
static double softmax_weights(attn_sampler *s, int n, float temperature) {
    const attn_kernels *k = attn_kernels_get();
    float max = k->max(s->vals, n);
    if (temperature != 1.0f) {
        const float inv = 1.0f / temperature; /* a multiply: divss was a fifth of the sampler's samples */
        if (isinf(max * inv)) {
            for (int i = 0; i < n; i++) s->vals[i] = (s->vals[i] - max) * inv;
            max = 0.0f;
        } else {
            k->scale(s->vals, inv, n);
            max *= inv;
        }
    }
    return k->exp_sum(s->vals, max, n);
}

/* Keeps weights >= min_p * w_max (w_max is 1); returns the new count. */
static int min_p_filter(attn_sampler *s, int n, float min_p) {
    int kept = 0;
    for (int i = 0; i < n; i++)
        if (s->vals[i] >= min_p) swap_cand(s, i, kept++);
    return kept;
}

/* Pops the best candidates off a heap until their weight reaches target; they end up in
 * [returned offset, n). */
static int top_p_heap(attn_sampler *s, int n, double target) {
    for (int i = n / 2 - 1; i >= 0; i--) sift_down(s, i, n, 0);
    double cum = 0;
    int heap = n;
    while (heap > 0) {
        cum += s->vals[0];
        swap_cand(s, 0, --heap);
        sift_down(s, 0, heap, 0);
        if (cum >= target) break;
    }
    return heap;
}

/* Draws from candidates [off, off + n) in proportion to their weights: the run of RUN
 * candidates holding the draw is found from the runs' sums, then the token inside it. The
 * weights become probabilities when someone asks for them (attn_sampler_last_candidates). */
static int32_t draw(attn_sampler *s, int off, int n) {
    const float *w = s->vals + off;
    const attn_kernels *k = attn_kernels_get(); /* double sums in fixed lanes: the same draw on every ISA */
    double mass = 0;
    for (int r = 0; r * RUN < n; r++) mass += s->runs[r] = k->sum(w + r * RUN, ATTN_MIN(RUN, n - r * RUN));
    double target = (double)attn_rng_uniform(&s->rng) * mass, acc = 0;
    int pick = -1;
    for (int r = 0; r * RUN < n && pick < 0; r++) {
        if (acc + s->runs[r] <= target && (r + 1) * RUN < n) { /* not in this run (the last one takes any rounding) */
            acc += s->runs[r];
            continue;
        }
        for (int i = r * RUN; i < ATTN_MIN((r + 1) * RUN, n) && pick < 0; i++) {
            acc += w[i];
            if (target < acc) pick = i;
        }
    }
    if (pick < 0) /* rounding left the draw at the very end: take the last token with weight */
        for (pick = n - 1; pick > 0 && w[pick] <= 0; pick--) {}
    s->cand_off = off;
    s->cand_n = n;
    s->mass = mass;
    s->last_prob = (float)(w[pick] / mass);
    return s->ids[off + pick];
}

int32_t attn_sampler_sample(attn_sampler *s, float *logits) {
    const attn_sampler_params *p = &s->p;
    apply_penalties(s, logits);
    if (p->temperature <= 0) return sample_greedy(s, logits);
    int k = p->top_k;
    int n = k > 0 && k < s->vocab ? gather_top_k(s, logits, k) : gather(s, logits);
    if (n == 0) {
        s->cand_off = s->cand_n = 0;
        s->mass = 0;
        s->last_prob = 0;
        return 0;
    }
    double total = softmax_weights(s, n, p->temperature);
    if (p->min_p > 0) n = min_p_filter(s, n, p->min_p);
    int off = 0;
    if (p->top_p < 1) {
        off = top_p_heap(s, n, (double)p->top_p * total);
        n -= off;
    }
    return draw(s, off, n);
}

float attn_sampler_last_prob(const attn_sampler *s) { return s->last_prob; }

int attn_sampler_last_candidates(attn_sampler *s, const int32_t **ids, const float **probs) {
    if (s->mass > 0) { /* weights to probabilities, once */
        for (int i = 0; i < s->cand_n; i++) s->vals[s->cand_off + i] = (float)(s->vals[s->cand_off + i] / s->mass);
        s->mass = 0;
    }
    if (ids) *ids = s->ids + s->cand_off;
    if (probs) *probs = s->vals + s->cand_off;
    return s->cand_n;
}
