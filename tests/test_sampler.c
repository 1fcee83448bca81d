/* test_sampler.c - the sampler chain (greedy, temperature, top-k, top-p, min-p, penalties),
 * the xoshiro256** RNG against known answers, and the stop-string / UTF-8 stream. */
#include "generate/sampler.h"
#include "generate/stream.h"
#include "test.h"

#include <stdint.h>

/* ---- helpers ---------------------------------------------------------------------------- */

/* Every filter off, temperature 1. */
static attn_sampler_params plain_params(void) {
    attn_sampler_params p;
    attn_sampler_defaults(&p);
    p.temperature = 1.0f;
    p.top_k = 0;
    p.top_p = 1.0f;
    p.min_p = 0.0f;
    p.seed = 1234;
    return p;
}

static int argmax_ref(const float *x, int n) {
    int best = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[best]) best = i;
    return best;
}

/* The survivors of the last sample() as a bit mask over ids < 32. */
static uint32_t candidate_mask(attn_sampler *s) {
    const int32_t *ids;
    const float *probs;
    int n = attn_sampler_last_candidates(s, &ids, &probs);
    uint32_t mask = 0;
    for (int i = 0; i < n; i++) mask |= 1u << ids[i];
    return mask;
}

static float candidate_prob(attn_sampler *s, int32_t id) {
    const int32_t *ids;
    const float *probs;
    int n = attn_sampler_last_candidates(s, &ids, &probs);
    for (int i = 0; i < n; i++)
        if (ids[i] == id) return probs[i];
    return -1;
}

/* A hand-made distribution with ids out of probability order:
 * p = {0: .07, 1: .50, 2: .03, 3: .25, 4: .15}. */
static void five_logits(float *l) {
    const double p[5] = {0.07, 0.50, 0.03, 0.25, 0.15};
    for (int i = 0; i < 5; i++) l[i] = (float)log(p[i]);
}

/* Runs one sample at temperature 1 with the given filters and returns the survivor mask. */
static uint32_t survivors(int top_k, float top_p, float min_p) {
    attn_sampler_params p = plain_params();
    p.top_k = top_k;
    p.top_p = top_p;
    p.min_p = min_p;
    attn_sampler *s = attn_sampler_new(&p, 5);
    float l[5];
    five_logits(l);
    int32_t t = attn_sampler_sample(s, l);
    uint32_t mask = candidate_mask(s);
    CHECK(mask & (1u << t), "sampled token %d is not a survivor", t);
    attn_sampler_free(s);
    return mask;
}

/* ---- RNG ------------------------------------------------------------------------------ */

/* Expected values computed with a direct Python transcription of Vigna's splitmix64.c and
 * xoshiro256starstar.c. splitmix64(0)'s first output 0xe220a8397b1dcdaf is the published one. */
static void test_rng_known_answer(void) {
    attn_rng r;
    attn_rng_seed(&r, 0);
    CHECK(r.s[0] == 0xe220a8397b1dcdafULL, "splitmix64(0) first output %llx",
          (unsigned long long)r.s[0]);
    CHECK(attn_rng_next(&r) == 0x99ec5f36cb75f2b4ULL, "seed 0, draw 1");
    CHECK(attn_rng_next(&r) == 0xbf6e1f784956452aULL, "seed 0, draw 2");

    const uint64_t want[5] = {0x23ed900261c69b10ULL, 0x8077434cde7a4d15ULL, 0x8389f3f372f25a38ULL,
                              0xfc8f516c0e21a993ULL, 0x4cf9ef2c55f6c637ULL};
    attn_rng_seed(&r, ATTN_SAMPLER_DEFAULT_SEED);
    for (int i = 0; i < 5; i++) {
        uint64_t got = attn_rng_next(&r);
        CHECK(got == want[i], "default seed draw %d: %016llx", i, (unsigned long long)got);
    }
    /* uniform = top 24 bits / 2^24, exactly */
    const float wantu[3] = {0.14034366607666016f, 0.5018197894096375f, 0.5138236880302429f};
    attn_rng_seed(&r, ATTN_SAMPLER_DEFAULT_SEED);
    for (int i = 0; i < 3; i++) {
        float u = attn_rng_uniform(&r);
        CHECK(u == wantu[i], "uniform %d: %.9g vs %.9g", i, u, wantu[i]);
    }
}

/* Mean 0, variance 1 over 100000 draws: the standard errors are 0.0032 and 0.0045, so a
 * tolerance of 0.02 is over 4 sigma (and the seed is fixed, so the test is deterministic). */
static void test_rng_normal(void) {
    attn_rng r;
    attn_rng_seed(&r, 7);
    double sum = 0, sum2 = 0;
    int n = 100000, bad = 0;
    for (int i = 0; i < n; i++) {
        float x = attn_rng_normal(&r);
        if (!isfinite(x)) bad++;
        sum += x;
        sum2 += (double)x * x;
    }
    CHECK(bad == 0, "%d non-finite normals", bad);
    CHECK_NEAR(sum / n, 0.0, 0.02, "normal mean");
    CHECK_NEAR(sum2 / n - (sum / n) * (sum / n), 1.0, 0.02, "normal variance");
    float u_min = 1, u_max = 0;
    for (int i = 0; i < n; i++) {
        float u = attn_rng_uniform(&r);
        u_min = fminf(u_min, u);
        u_max = fmaxf(u_max, u);
    }
    CHECK(u_min >= 0 && u_max < 1, "uniform range [%g, %g]", u_min, u_max);
}

/* ---- greedy and determinism ------------------------------------------------------------- */

static void test_greedy(void) {
    attn_sampler_params p = plain_params();
    p.temperature = 0;
    attn_sampler *s = attn_sampler_new(&p, 4);
    float ties[4] = {1, 5, 5, 2};
    CHECK(attn_sampler_sample(s, ties) == 1, "ties go to the lowest id");
    float odd[4] = {-INFINITY, NAN, -3, -INFINITY};
    CHECK(attn_sampler_sample(s, odd) == 2, "NaN and -inf never win");
    float neg[4] = {-INFINITY, -INFINITY, -INFINITY, -INFINITY};
    CHECK(attn_sampler_sample(s, neg) == 0, "all -inf gives token 0");
    CHECK(attn_sampler_last_prob(s) == 0, "all -inf has probability 0");
    float two[4] = {0, 0, 0, logf(3)};
    CHECK(attn_sampler_sample(s, two) == 3, "argmax");
    CHECK_NEAR(attn_sampler_last_prob(s), 0.5, 1e-6, "greedy reports softmax prob at T=1");
    attn_sampler_free(s);

    enum { V = 1000 };
    s = attn_sampler_new(&p, V);
    attn_rng r;
    attn_rng_seed(&r, 99);
    float l[V];
    int wrong = 0;
    for (int trial = 0; trial < 100; trial++) {
        for (int i = 0; i < V; i++) l[i] = (float)(int)(attn_rng_normal(&r) * 4); /* many ties */
        if (attn_sampler_sample(s, l) != argmax_ref(l, V)) wrong++;
    }
    CHECK(wrong == 0, "greedy differs from argmax in %d of 100 trials", wrong);
    attn_sampler_free(s);
}

static void test_greedy_with_penalty(void) {
    attn_sampler_params p = plain_params();
    p.temperature = 0;
    p.repeat_penalty = 1.2f;
    attn_sampler *s = attn_sampler_new(&p, 2);
    attn_sampler_accept(s, 0);
    float l[2] = {3.0f, 2.9f};
    CHECK(attn_sampler_sample(s, l) == 1, "penalty applies before argmax (3/1.2 < 2.9)");
    attn_sampler_free(s);
}

static void draw_sequence(uint64_t seed, int32_t *out, int n) {
    attn_sampler_params p = plain_params();
    p.seed = seed;
    attn_sampler *s = attn_sampler_new(&p, 8);
    for (int i = 0; i < n; i++) {
        float l[8] = {0, 0.1f, 0.2f, 0.3f, 0.4f, 0.5f, 0.6f, 0.7f};
        out[i] = attn_sampler_sample(s, l);
    }
    /* reset reseeds: the same sequence again */
    attn_sampler_reset(s);
    int same = 1;
    for (int i = 0; i < n; i++) {
        float l[8] = {0, 0.1f, 0.2f, 0.3f, 0.4f, 0.5f, 0.6f, 0.7f};
        same &= attn_sampler_sample(s, l) == out[i];
    }
    CHECK(same, "reset() replays the sequence for seed %llu", (unsigned long long)seed);
    attn_sampler_free(s);
}

static void test_seed_determinism(void) {
    enum { N = 200 };
    int32_t a[N], b[N], c[N];
    draw_sequence(42, a, N);
    draw_sequence(42, b, N);
    draw_sequence(43, c, N);
    CHECK(memcmp(a, b, sizeof a) == 0, "same seed, same sequence");
    CHECK(memcmp(a, c, sizeof a) != 0, "different seed, different sequence");
}

/* ---- temperature, top-k, top-p, min-p --------------------------------------------------- */

/* 20000 draws from softmax(l / 0.7): each frequency has standard error <= 0.0036, so 0.015 is
 * over 4 sigma; the seed is fixed, so the outcome is deterministic. */
static void test_frequencies(void) {
    const float base[5] = {1.0f, 0.5f, 0.0f, -0.5f, 2.0f};
    const float T = 0.7f;
    double want[5], z = 0;
    for (int i = 0; i < 5; i++) z += want[i] = exp(base[i] / T);
    attn_sampler_params p = plain_params();
    p.temperature = T;
    attn_sampler *s = attn_sampler_new(&p, 5);
    int count[5] = {0};
    const int n = 20000;
    for (int i = 0; i < n; i++) {
        float l[5];
        memcpy(l, base, sizeof l);
        count[attn_sampler_sample(s, l)]++;
    }
    for (int i = 0; i < 5; i++) CHECK_NEAR((double)count[i] / n, want[i] / z, 0.015, "frequency");
    attn_sampler_free(s);
}

/* The draw over a vocabulary of several runs of partial sums (sampler.c's RUN = 256), with
 * dropped -inf and NaN tokens shifting the candidates between runs: heavy tokens in
 * different runs keep their frequencies (same tolerance argument as above), the dropped ones
 * are never drawn, and the survivors' probabilities sum to 1. */
static void test_frequencies_across_runs(void) {
    enum { V = 1000 };
    const int heavy[4] = {5, 300, 700, 999};
    const float heavy_logit[4] = {2.0f, 2.5f, 1.5f, 3.0f}, T = 0.9f;
    static float base[V];
    double z = 0, want[4];
    for (int i = 0; i < V; i++) base[i] = i >= 100 && i < 200 ? -INFINITY : -3.0f;
    base[500] = NAN;
    for (int h = 0; h < 4; h++) base[heavy[h]] = heavy_logit[h];
    for (int i = 0; i < V; i++)
        if (base[i] > -INFINITY) z += exp(base[i] / T);
    for (int h = 0; h < 4; h++) want[h] = exp(heavy_logit[h] / T) / z;
    attn_sampler_params p = plain_params();
    p.temperature = T;
    attn_sampler *s = attn_sampler_new(&p, V);
    int count[V] = {0};
    const int n = 20000;
    for (int i = 0; i < n; i++) {
        static float l[V];
        memcpy(l, base, sizeof l);
        count[attn_sampler_sample(s, l)]++;
    }
    for (int h = 0; h < 4; h++) CHECK_NEAR((double)count[heavy[h]] / n, want[h], 0.015, "frequency of a heavy token");
    int dropped = count[500];
    for (int i = 100; i < 200; i++) dropped += count[i];
    CHECK(dropped == 0, "-inf or NaN drawn %d times", dropped);
    const int32_t *ids;
    const float *probs;
    int kept = attn_sampler_last_candidates(s, &ids, &probs);
    double total = 0;
    for (int i = 0; i < kept; i++) total += probs[i];
    CHECK(kept == V - 101, "candidates %d", kept);
    CHECK_NEAR(total, 1.0, 1e-5, "candidate probabilities sum");
    attn_sampler_free(s);
}

/* top_k = 2 at T = 1: only {4, 0}, in proportion e^2 : e^1. Same tolerance argument. */
static void test_top_k_frequencies(void) {
    const float base[5] = {1.0f, 0.5f, 0.0f, -0.5f, 2.0f};
    attn_sampler_params p = plain_params();
    p.top_k = 2;
    attn_sampler *s = attn_sampler_new(&p, 5);
    int count[5] = {0};
    const int n = 20000;
    for (int i = 0; i < n; i++) {
        float l[5];
        memcpy(l, base, sizeof l);
        count[attn_sampler_sample(s, l)]++;
    }
    CHECK(count[1] + count[2] + count[3] == 0, "top_k=2 drew outside the top 2");
    CHECK_NEAR((double)count[4] / n, exp(2.0) / (exp(2.0) + exp(1.0)), 0.015, "top_k frequency");
    attn_sampler_free(s);
}

static void test_top_k_one_is_greedy(void) {
    enum { V = 5000 };
    attn_sampler_params p = plain_params();
    p.top_k = 1;
    p.top_p = 0.9f;
    p.min_p = 0.05f;
    attn_sampler *s = attn_sampler_new(&p, V);
    attn_rng r;
    attn_rng_seed(&r, 5);
    float l[V];
    int wrong = 0;
    for (int trial = 0; trial < 50; trial++) {
        for (int i = 0; i < V; i++) l[i] = (float)(int)(attn_rng_normal(&r) * 3);
        if (attn_sampler_sample(s, l) != argmax_ref(l, V)) wrong++;
        if (attn_sampler_last_prob(s) != 1.0f) wrong++;
    }
    CHECK(wrong == 0, "top_k=1 differs from greedy %d times", wrong);
    attn_sampler_free(s);
}

static void test_top_k_ties(void) {
    attn_sampler_params p = plain_params();
    p.top_k = 2;
    attn_sampler *s = attn_sampler_new(&p, 5);
    float l[5] = {1, 3, 3, 3, 0};
    attn_sampler_sample(s, l);
    CHECK(candidate_mask(s) == 0x6, "top_k ties keep the lowest ids: mask %x", candidate_mask(s));
    attn_sampler_free(s);
}

/* p = {0: .07, 1: .50, 2: .03, 3: .25, 4: .15}; sorted: 1, 3, 4, 0, 2 with cumulative
 * .50 .75 .90 .97 1. No threshold below sits within 0.01 of a cumulative value. */
static void test_top_p(void) {
    CHECK(survivors(0, 0.45f, 0) == 0x02, "top_p .45 -> {1}");
    CHECK(survivors(0, 0.74f, 0) == 0x0A, "top_p .74 -> {1,3}");
    CHECK(survivors(0, 0.76f, 0) == 0x1A, "top_p .76 -> {1,3,4}");
    CHECK(survivors(0, 0.95f, 0) == 0x1B, "top_p .95 -> {0,1,3,4}");
    CHECK(survivors(0, 1.00f, 0) == 0x1F, "top_p 1 -> all");
    CHECK(survivors(0, 0.00f, 0) == 0x02, "top_p 0 -> the top token");

    attn_sampler_params p = plain_params();
    p.top_p = 0.8f;
    attn_sampler *s = attn_sampler_new(&p, 5);
    float l[5];
    five_logits(l);
    attn_sampler_sample(s, l);
    CHECK_NEAR(candidate_prob(s, 1), 0.50 / 0.90, 1e-5, "renormalized p(1)");
    CHECK_NEAR(candidate_prob(s, 3), 0.25 / 0.90, 1e-5, "renormalized p(3)");
    CHECK_NEAR(candidate_prob(s, 4), 0.15 / 0.90, 1e-5, "renormalized p(4)");
    attn_sampler_free(s);
}

/* Thresholds min_p * .50: .2 -> .10, .1 -> .05, .45 -> .225, .02 -> .01. */
static void test_min_p(void) {
    CHECK(survivors(0, 1, 0.20f) == 0x1A, "min_p .2 -> {1,3,4}");
    CHECK(survivors(0, 1, 0.10f) == 0x1B, "min_p .1 -> {0,1,3,4}");
    CHECK(survivors(0, 1, 0.45f) == 0x0A, "min_p .45 -> {1,3}");
    CHECK(survivors(0, 1, 0.02f) == 0x1F, "min_p .02 -> all");
    /* combined: the intersection, whichever is tighter */
    CHECK(survivors(0, 0.70f, 0.10f) == 0x0A, "top_p .7 + min_p .1 -> {1,3}");
    CHECK(survivors(0, 0.95f, 0.20f) == 0x1A, "top_p .95 + min_p .2 -> {1,3,4}");
    CHECK(survivors(3, 0.99f, 0.01f) == 0x1A, "top_k 3 bounds both");
}

/* ---- penalties ------------------------------------------------------------------------- */

static void test_repeat_penalty(void) {
    attn_sampler_params p = plain_params();
    p.temperature = 0;
    p.repeat_penalty = 2.0f;
    p.repeat_last_n = 2;
    attn_sampler *s = attn_sampler_new(&p, 6);
    const float base[6] = {2, -2, 1, -1, 3, 0.5f};
    float l[6];
    int32_t seen[4] = {0, 1, 3, 2}; /* window of 2: only 3 and 2 count */
    for (int i = 0; i < 4; i++) attn_sampler_accept(s, seen[i]);
    memcpy(l, base, sizeof l);
    attn_sampler_sample(s, l);
    const float want[6] = {2, -2, 0.5f, -2, 3, 0.5f};
    for (int i = 0; i < 6; i++) CHECK(l[i] == want[i], "window 2: logit %d = %g, want %g", i, l[i], want[i]);

    attn_sampler_accept(s, 4); /* window now {2, 4} */
    memcpy(l, base, sizeof l);
    attn_sampler_sample(s, l);
    CHECK(l[3] == -1 && l[2] == 0.5f && l[4] == 1.5f, "window slid: %g %g %g", l[2], l[3], l[4]);

    attn_sampler_reset(s);
    attn_sampler_accept(s, 2);
    attn_sampler_accept(s, 2);
    memcpy(l, base, sizeof l);
    attn_sampler_sample(s, l);
    CHECK(l[2] == 0.5f, "a repeated token is divided once: %g", l[2]);
    CHECK(l[4] == 3, "reset forgot token 4: %g", l[4]);
    attn_sampler_free(s);
}

static void test_presence_frequency(void) {
    attn_sampler_params p = plain_params();
    p.temperature = 0;
    p.frequency_penalty = 0.5f;
    p.presence_penalty = 0.25f;
    attn_sampler *s = attn_sampler_new(&p, 6);
    attn_sampler_accept(s, 4);
    attn_sampler_accept(s, 4);
    attn_sampler_accept(s, 5);
    attn_sampler_accept(s, 99); /* out of range: ignored */
    float l[6] = {2, -2, 1, -1, 3, 0.5f};
    attn_sampler_sample(s, l);
    CHECK(l[4] == 3 - 2 * 0.5f - 0.25f, "token 4 (twice): %g", l[4]);
    CHECK(l[5] == 0.5f - 0.5f - 0.25f, "token 5 (once): %g", l[5]);
    CHECK(l[0] == 2 && l[1] == -2 && l[2] == 1 && l[3] == -1, "unseen tokens untouched");
    attn_sampler_free(s);

    /* repeat first, then frequency/presence: 3 / 2 - 0.5 - 0.25 */
    p.repeat_penalty = 2.0f;
    s = attn_sampler_new(&p, 6);
    attn_sampler_accept(s, 4);
    float m[6] = {2, -2, 1, -1, 3, 0.5f};
    attn_sampler_sample(s, m);
    CHECK(m[4] == 0.75f, "repeat then presence/frequency: %g", m[4]);
    attn_sampler_free(s);
}

/* ---- degenerate logits ------------------------------------------------------------------- */

static void test_no_nan(void) {
    attn_sampler_params p;
    attn_sampler_defaults(&p); /* every filter on */
    enum { V = 1000 };
    attn_sampler *s = attn_sampler_new(&p, V);
    float l[V];
    int bad = 0;
    for (int trial = 0; trial < 200; trial++) {
        for (int i = 0; i < V; i++) l[i] = i % 3 ? -INFINITY : (float)(i % 7);
        int32_t t = attn_sampler_sample(s, l);
        float pr = attn_sampler_last_prob(s);
        if (t % 3 != 0 || !(pr > 0 && pr <= 1)) bad++;
    }
    CHECK(bad == 0, "-inf logits: %d bad draws", bad);

    for (int i = 0; i < V; i++) l[i] = -INFINITY;
    CHECK(attn_sampler_sample(s, l) == 0 && attn_sampler_last_prob(s) == 0, "all -inf -> token 0");
    for (int i = 0; i < V; i++) l[i] = i == 500 ? 1.0f : NAN;
    CHECK(attn_sampler_sample(s, l) == 500, "NaN logits are skipped");
    float inf3[3] = {0, INFINITY, 1};
    attn_sampler *s3 = attn_sampler_new(&p, 3);
    CHECK(attn_sampler_sample(s3, inf3) == 1 && attn_sampler_last_prob(s3) == 1, "+inf wins");
    attn_sampler_free(s3);
    attn_sampler_free(s);

    /* all equal, top_k off: top_p .9 keeps exactly the 900 lowest ids, each 1/900 */
    p.top_k = 0;
    p.top_p = 0.9f;
    s = attn_sampler_new(&p, V);
    for (int i = 0; i < V; i++) l[i] = 0.25f;
    int32_t t = attn_sampler_sample(s, l);
    const int32_t *ids;
    const float *probs;
    int n = attn_sampler_last_candidates(s, &ids, &probs);
    int wrong = 0;
    for (int i = 0; i < n; i++) wrong += ids[i] >= 900 || !(fabsf(probs[i] - 1.0f / 900) < 1e-6f);
    CHECK(n == 900 && wrong == 0 && t < 900, "all equal: n=%d wrong=%d t=%d", n, wrong, t);
    CHECK(isfinite(attn_sampler_last_prob(s)), "all equal: finite probability");
    attn_sampler_free(s);
}

/* ---- a vocabulary-sized row: the vector paths against plain loops ----------------------- */

enum { BIG_V = 50000, BIG_K = 40 };

/* Logits in steps of 1/4, so ties abound at the top-k boundary. */
static void big_row(float *l, uint64_t seed) {
    attn_rng r;
    attn_rng_seed(&r, seed);
    for (int i = 0; i < BIG_V; i++) l[i] = (float)(int)(attn_rng_uniform(&r) * 64 - 32) / 4;
}

static const float *sort_logits;
static int by_logit_then_id(const void *a, const void *b) {
    int i = *(const int *)a, j = *(const int *)b;
    float x = sort_logits[i], y = sort_logits[j];
    if (x != y) return x != x ? 1 : y != y ? -1 : x > y ? -1 : 1; /* NaN last */
    return i < j ? -1 : 1;
}

/* Whether the sampler's candidates are exactly the k largest logits, ties to the lowest ids. */
static bool top_k_exact(attn_sampler *s, const float *l) {
    static int order[BIG_V];
    static unsigned char in[BIG_V];
    for (int i = 0; i < BIG_V; i++) order[i] = i;
    sort_logits = l;
    qsort(order, BIG_V, sizeof *order, by_logit_then_id);
    const int32_t *ids;
    int n = attn_sampler_last_candidates(s, &ids, NULL);
    memset(in, 0, sizeof in);
    for (int i = 0; i < n; i++) in[ids[i]] = 1;
    int same = 0;
    for (int i = 0; i < BIG_K; i++) same += in[order[i]];
    return n == BIG_K && same == BIG_K;
}

static void test_big_vocabulary(void) {
    static float l[BIG_V], row[BIG_V];
    attn_sampler_params p = plain_params();
    p.top_k = BIG_K;
    attn_sampler *s = attn_sampler_new(&p, BIG_V);
    int wrong = 0;
    for (int t = 0; t < 20; t++) {
        big_row(l, 100 + t);
        memcpy(row, l, sizeof row);
        attn_sampler_sample(s, row);
        wrong += !top_k_exact(s, l);
        if (t % 2) l[t * 997] = NAN; /* a NaN row takes the scalar pass: the same set */
        memcpy(row, l, sizeof row);
        attn_sampler_sample(s, row);
        wrong += !top_k_exact(s, l);
    }
    CHECK(wrong == 0, "top-k over %d tokens missed the exact top %d in %d of 40 rows", BIG_V, BIG_K, wrong);
    attn_sampler_free(s);

    p = plain_params();
    p.temperature = 0;
    s = attn_sampler_new(&p, BIG_V);
    big_row(l, 7);
    int best = argmax_ref(l, BIG_V);
    double sum = 0;
    for (int i = 0; i < BIG_V; i++) sum += exp((double)l[i] - l[best]);
    memcpy(row, l, sizeof row);
    CHECK(attn_sampler_sample(s, row) == best, "greedy over %d tokens: the lowest id of the maximum", BIG_V);
    CHECK(fabs(attn_sampler_last_prob(s) * sum - 1) < 1e-4, "greedy's probability %g, want %g",
          attn_sampler_last_prob(s), 1 / sum);
    attn_sampler_free(s);

    /* all tokens are candidates: after a row whose -inf entries shifted the candidates, a
     * full row must not draw through the shifted ids */
    p = plain_params();
    s = attn_sampler_new(&p, BIG_V);
    big_row(l, 8);
    attn_sampler_sample(s, l);
    for (int i = 0; i < BIG_V; i++) l[i] = i < BIG_V / 2 ? -INFINITY : 0;
    attn_sampler_sample(s, l);
    for (int i = 0; i < BIG_V; i++) l[i] = i == 7 ? 0 : -1e30f;
    CHECK(attn_sampler_sample(s, l) == 7, "a full row after a filtered one draws its own token");
    attn_sampler_free(s);

    /* 1 / T would carry the largest logit past the largest float */
    p = plain_params();
    p.temperature = 0.5f;
    s = attn_sampler_new(&p, 3);
    float huge[3] = {1, 3e38f, 2e38f};
    CHECK(attn_sampler_sample(s, huge) == 1 && attn_sampler_last_prob(s) == 1, "T 0.5 with a logit of 3e38: p %g",
          attn_sampler_last_prob(s));
    attn_sampler_free(s);
}

static void test_bad_args(void) {
    CHECK(attn_sampler_new(NULL, 0) == NULL, "vocab 0 is refused");
    attn_sampler *s = attn_sampler_new(NULL, 3); /* NULL params = defaults */
    float l[3] = {0, 1, 2};
    int32_t t = attn_sampler_sample(s, l);
    CHECK(t >= 0 && t < 3, "defaults sample %d", t);
    attn_sampler_free(s);
    attn_sampler_free(NULL);
}

/* ---- stream ------------------------------------------------------------------------------- */

typedef struct {
    char out[4096];
    size_t len;
    int last_rc;
} sink;

static void push(attn_stream *st, sink *k, const char *bytes, size_t n) {
    const char *ready;
    size_t nr;
    k->last_rc = attn_stream_push(st, bytes, n, &ready, &nr);
    memcpy(k->out + k->len, ready, nr);
    k->len += nr;
    k->out[k->len] = 0;
}

static void pushs(attn_stream *st, sink *k, const char *str) { push(st, k, str, strlen(str)); }

static void flush(attn_stream *st, sink *k) {
    const char *ready;
    size_t nr;
    attn_stream_flush(st, &ready, &nr);
    memcpy(k->out + k->len, ready, nr);
    k->len += nr;
    k->out[k->len] = 0;
}

static void test_stream_stop_split(void) {
    const char *stops[] = {"</s>"};
    attn_stream *st = attn_stream_new(stops, 1);
    sink k = {0};
    pushs(st, &k, "Hello <");
    CHECK(strcmp(k.out, "Hello ") == 0 && k.last_rc == 0, "'<' held: '%s'", k.out);
    pushs(st, &k, "/");
    pushs(st, &k, "s");
    CHECK(strcmp(k.out, "Hello ") == 0 && k.last_rc == 0, "'</s' held: '%s'", k.out);
    pushs(st, &k, "> more");
    CHECK(k.last_rc == 1 && strcmp(k.out, "Hello ") == 0, "stopped: '%s' rc %d", k.out, k.last_rc);
    pushs(st, &k, "after");
    CHECK(k.last_rc == 1 && strcmp(k.out, "Hello ") == 0, "pushes after a stop are ignored");
    flush(st, &k);
    size_t len;
    const char *text = attn_stream_text(st, &len);
    CHECK(len == 6 && strcmp(text, "Hello ") == 0, "final text '%s'", text);
    attn_stream_free(st);
}

static void test_stream_stop_at_start(void) {
    const char *stops[] = {"</s>"};
    attn_stream *st = attn_stream_new(stops, 1);
    sink k = {0};
    pushs(st, &k, "</s>tail");
    size_t len;
    attn_stream_text(st, &len);
    CHECK(k.last_rc == 1 && k.len == 0 && len == 0, "stop at start: rc %d, %zu bytes", k.last_rc, k.len);
    attn_stream_free(st);
}

static void test_stream_false_alarm(void) {
    const char *stops[] = {"</s>"};
    attn_stream *st = attn_stream_new(stops, 1);
    sink k = {0};
    pushs(st, &k, "a<");
    CHECK(strcmp(k.out, "a") == 0, "'<' held: '%s'", k.out);
    pushs(st, &k, "/x");
    CHECK(strcmp(k.out, "a</x") == 0 && k.last_rc == 0, "released after mismatch: '%s'", k.out);
    pushs(st, &k, "</");
    flush(st, &k);
    CHECK(strcmp(k.out, "a</x</") == 0, "flush releases a held prefix: '%s'", k.out);
    attn_stream_free(st);
}

static void test_stream_several_stops(void) {
    const char *stops[] = {"STOP", "\n\n", "User:"};
    attn_stream *st = attn_stream_new(stops, 3);
    sink k = {0};
    pushs(st, &k, "Hi\n");
    CHECK(strcmp(k.out, "Hi") == 0, "'\\n' held: '%s'", k.out);
    pushs(st, &k, "Us");
    CHECK(strcmp(k.out, "Hi\n") == 0, "'Us' held: '%s'", k.out);
    pushs(st, &k, "er: x");
    CHECK(k.last_rc == 1 && strcmp(k.out, "Hi\n") == 0, "stopped at User: '%s'", k.out);
    attn_stream_free(st);

    /* the first stop completed wins, even if a longer one started earlier */
    const char *overlap[] = {"abcd", "bc"};
    st = attn_stream_new(overlap, 2);
    sink k2 = {0};
    pushs(st, &k2, "xab");
    pushs(st, &k2, "c");
    CHECK(k2.last_rc == 1 && strcmp(k2.out, "xa") == 0, "'bc' completes first: '%s'", k2.out);
    attn_stream_free(st);

    /* within one push, the earliest start wins */
    const char *two[] = {"yz", "wx"};
    st = attn_stream_new(two, 2);
    sink k3 = {0};
    pushs(st, &k3, "vwxyz");
    CHECK(k3.last_rc == 1 && strcmp(k3.out, "v") == 0, "earliest match: '%s'", k3.out);
    attn_stream_free(st);
}

static void test_stream_utf8(void) {
    attn_stream *st = attn_stream_new(NULL, 0);
    sink k = {0};
    const char emoji[] = "\xF0\x9F\x98\x80"; /* U+1F600 */
    pushs(st, &k, "ok ");
    for (int i = 0; i < 4; i++) {
        push(st, &k, emoji + i, 1);
        size_t want = i < 3 ? 3 : 7;
        CHECK(k.len == want, "after byte %d of the emoji: %zu bytes out", i + 1, k.len);
    }
    CHECK(memcmp(k.out, "ok \xF0\x9F\x98\x80", 7) == 0, "emoji printed whole");
    /* an incomplete tail at the end becomes one U+FFFD */
    pushs(st, &k, "a\xE2\x82");
    CHECK(k.len == 8, "incomplete euro sign held");
    flush(st, &k);
    CHECK(k.len == 11 && memcmp(k.out + 7, "a\xEF\xBF\xBD", 4) == 0, "U+FFFD at flush");
    attn_stream_free(st);

    /* a stray continuation byte is not held */
    st = attn_stream_new(NULL, 0);
    sink k2 = {0};
    pushs(st, &k2, "x\x80");
    CHECK(k2.len == 2, "invalid byte passes through");
    attn_stream_free(st);
}

static void test_stream_passthrough(void) {
    attn_stream *st = attn_stream_new(NULL, 0);
    sink k = {0};
    pushs(st, &k, "hello world");
    CHECK(k.len == 11 && k.last_rc == 0, "no stops: all at once (%zu)", k.len);
    attn_stream_free(st);

    const char *stops[] = {"###", ""};
    st = attn_stream_new(stops, 2); /* the empty stop is ignored */
    sink k2 = {0};
    pushs(st, &k2, "hello");
    CHECK(k2.len == 5 && k2.last_rc == 0, "no prefix of a stop: all at once (%zu)", k2.len);
    /* growth past the initial buffer */
    for (int i = 0; i < 300; i++) pushs(st, &k2, "abcdefghij");
    size_t len;
    const char *text = attn_stream_text(st, &len);
    CHECK(len == 3005 && k2.len == 3005 && memcmp(text, k2.out, len) == 0, "long text: %zu", len);
    attn_stream_free(st);
}

int main(void) {
    test_rng_known_answer();
    test_rng_normal();
    test_greedy();
    test_greedy_with_penalty();
    test_seed_determinism();
    test_frequencies();
    test_frequencies_across_runs();
    test_top_k_frequencies();
    test_top_k_one_is_greedy();
    test_top_k_ties();
    test_top_p();
    test_min_p();
    test_repeat_penalty();
    test_presence_frequency();
    test_no_nan();
    test_big_vocabulary();
    test_bad_args();
    test_stream_stop_split();
    test_stream_stop_at_start();
    test_stream_false_alarm();
    test_stream_several_stops();
    test_stream_utf8();
    test_stream_passthrough();
    return test_finish("test_sampler");
}
