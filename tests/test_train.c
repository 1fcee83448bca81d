/* test_train.c - the training core against PyTorch (llm.c's test_gpt2 idea, tighter).
 * Fixtures from tools/make_train_fixtures.py: a random HF GPT-2, one batch, PyTorch's
 * float32 loss, every parameter gradient and 10 AdamW steps. Tolerances and why:
 *   - loss within 1e-5 relative: f32 sums in another order move it by ~1e-7;
 *   - every gradient within 1e-4 max abs (gradients are O(0.01..1) here; f32 noise ~1e-6);
 *   - the 10 AdamW losses within 1e-4 (rounding compounds over steps; a wrong decay mask,
 *     bias correction or clipping moves them by 1e-3 or more).
 * Also: the accumulating GEMMs against a naive product, finite differences through dropout,
 * label smoothing and grouped-query attention, zero_grad and gradient accumulation,
 * bit-identical repeat runs (and across thread counts), overfitting one batch, checkpoints
 * read back by src/model/gpt2.c, the training forward against the HF inference fixtures,
 * bad input, and the LR schedule. */
#include <jansson.h>
#include <stdlib.h>
#include <unistd.h>
#include "core/common.h"
#include "core/cpu.h"
#include "core/gemm.h"
#include "core/gemm_acc.h"
#include "core/threadpool.h"
#include "format/safetensors.h"
#include "generate/sampler.h"
#include "model/model.h"
#include "nn/attention_train.h"
#include "train/gpt2_train.h"
#include "train/optim.h"
#include "train/schedule.h"
#include "train/tape.h"
#include "test.h"

#define FIX "tests/fixtures/train"
#define LOSS_RTOL 1e-5
#define GRAD_TOL 1e-4
#define ADAMW_TOL 1e-4

static double worst_loss_rel, worst_grad;
static char worst_grad_name[96];

static void fill_random(float *x, int64_t n, attn_rng *r, float scale) {
    for (int64_t i = 0; i < n; i++) x[i] = scale * (2.0f * attn_rng_uniform(r) - 1.0f);
}

/* ---- Accumulating GEMMs against a naive double product ---- */

static void check_gemm_case(int64_t M, int64_t R, int64_t N, attn_rng *rng, const char *what) {
    float *a = malloc(M * R * sizeof *a), *b = malloc(M * N * sizeof *b), *c = malloc(R * N * sizeof *c);
    float *c1 = malloc(R * N * sizeof *c1);
    fill_random(a, M * R, rng, 1), fill_random(b, M * N, rng, 1), fill_random(c, R * N, rng, 1);
    double worst = 0;
    for (int add = 0; add <= 1; add++) { /* writing: what c1 held (NaN) must not show */
        if (add) memcpy(c1, c, R * N * sizeof *c);
        else for (int64_t i = 0; i < R * N; i++) c1[i] = NAN;
        CHECK(attn_matmul_tn(c1, a, b, M, R, N, add) == 0, "%s", attn_last_error());
        worst = 0;
        for (int64_t r = 0; r < R; r++)
            for (int64_t n = 0; n < N; n++) {
                double want = add ? c[r * N + n] : 0.0;
                for (int64_t m = 0; m < M; m++) want += (double)a[m * R + r] * b[m * N + n];
                double d = fabs(want - c1[r * N + n]);
                worst = fmax(worst, isnan(d) ? INFINITY : d);
            }
        CHECK(worst <= 1e-5 * sqrt((double)M) + 1e-6, "%s matmul_tn add=%d %lldx%lldx%lld: max diff %.3g", what, add,
              (long long)M, (long long)R, (long long)N, worst);
    }
    /* y += x · W for both layouts: x = a [M][R], W [R][N] (in_major) or its transpose */
    float *wt = malloc(R * N * sizeof *wt);
    for (int in_major = 0; in_major <= 1; in_major++) {
        for (int64_t r = 0; r < R; r++)
            for (int64_t n = 0; n < N; n++) wt[in_major ? r * N + n : n * R + r] = c[r * N + n];
        attn_weight w = {.data = wt, .dtype = ATTN_F32, .n_in = R, .n_out = N, .in_major = in_major};
        float *y = malloc(M * N * sizeof *y);
        memcpy(y, b, M * N * sizeof *y);
        CHECK(attn_matmul_acc(y, a, M, &w) == 0, "%s", attn_last_error());
        worst = 0;
        for (int64_t m = 0; m < M; m++)
            for (int64_t n = 0; n < N; n++) {
                double want = b[m * N + n];
                for (int64_t r = 0; r < R; r++) want += (double)a[m * R + r] * c[r * N + n];
                worst = fmax(worst, fabs(want - y[m * N + n]));
            }
        CHECK(worst <= 1e-5 * sqrt((double)R) + 1e-6, "%s matmul_acc in_major=%d %lldx%lldx%lld: max diff %.3g",
              what, in_major, (long long)M, (long long)R, (long long)N, worst);
        free(y);
    }
    free(a), free(b), free(c), free(c1), free(wt);
}

/* The same bits from 1 and 2 threads, whichever operand is shared and however many slabs. */
static void check_gemm_threads(int64_t M, int64_t R, int64_t N, attn_rng *rng, const char *what) {
    float *a = malloc(M * R * sizeof *a), *b = malloc(M * N * sizeof *b);
    float *c[2] = {calloc(R * N, sizeof(float)), calloc(R * N, sizeof(float))};
    fill_random(a, M * R, rng, 1), fill_random(b, M * N, rng, 1);
    for (int t = 0; t < 2; t++) {
        attn_threads_init(t + 1);
        CHECK(attn_matmul_tn(c[t], a, b, M, R, N, true) == 0, "%s", attn_last_error());
    }
    CHECK(memcmp(c[0], c[1], R * N * sizeof(float)) == 0, "%s matmul_tn %lldx%lldx%lld: 1 and 2 threads differ", what,
          (long long)M, (long long)R, (long long)N);
    free(a), free(b), free(c[0]), free(c[1]);
}

static void test_gemm_acc(void) {
    static const int64_t shapes[][3] = {{1, 1, 1}, {7, 33, 65}, {65, 17, 130}, {300, 500, 70}, {16, 64, 32}, {600, 40, 90}};
    attn_rng rng;
    attn_rng_seed(&rng, 7);
    for (int isa = 0; isa < ATTN_ISA_COUNT; isa++) {
        if (!attn_isa_supported((attn_isa)isa)) continue;
        attn_isa_set((attn_isa)isa);
        /* the default limit, then one slice per slab of the shared operand */
        for (int slabs = 0; slabs <= 1; slabs++) {
            attn_gemm_set_shared_limit(slabs ? 1 : 0);
            for (int threads = 1; threads <= 2; threads++) {
                attn_threads_init(threads);
                char what[64];
                snprintf(what, sizeof what, "%s %dt%s", attn_isa_name((attn_isa)isa), threads, slabs ? " slabs" : "");
                for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++)
                    check_gemm_case(shapes[s][0], shapes[s][1], shapes[s][2], &rng, what);
            }
            check_gemm_threads(600, 300, 70, &rng, attn_isa_name((attn_isa)isa)); /* rows handed out */
            check_gemm_threads(600, 70, 300, &rng, attn_isa_name((attn_isa)isa)); /* columns handed out */
        }
        attn_gemm_set_shared_limit(0);
    }
    attn_isa_set(attn_isa_best());
    attn_threads_init(2);
}

/* ---- The PyTorch fixture ---- */

typedef struct {
    json_t *exp;
    attn_safetensors *grads;
    int32_t tokens[16], targets[16];
    int64_t B, T;
} fixture;

static int load_fixture(fixture *f) {
    json_error_t err;
    f->exp = json_load_file(FIX "/expected.json", 0, &err);
    CHECK(f->exp != NULL, FIX "/expected.json: %s", err.text);
    f->grads = attn_safetensors_open(FIX "/grads.safetensors");
    CHECK(f->grads != NULL, "%s", attn_last_error());
    if (!f->exp || !f->grads) return -1;
    json_t *tok = json_object_get(f->exp, "tokens"), *tg = json_object_get(f->exp, "targets");
    f->B = (int64_t)json_array_size(tok), f->T = (int64_t)json_array_size(json_array_get(tok, 0));
    if (f->B * f->T > 16) return -1;
    for (int64_t b = 0; b < f->B; b++)
        for (int64_t t = 0; t < f->T; t++) {
            f->tokens[b * f->T + t] = (int32_t)json_integer_value(json_array_get(json_array_get(tok, b), t));
            f->targets[b * f->T + t] = (int32_t)json_integer_value(json_array_get(json_array_get(tg, b), t));
        }
    return 0;
}

static double jnum(json_t *o, const char *key) { return json_number_value(json_object_get(o, key)); }

/* Every parameter gradient against PyTorch's; reports the worst element of each failing tensor. */
static void check_grads(attn_gpt2_train *m, const fixture *f, const char *what) {
    int n;
    const attn_param *ps = attn_gpt2_train_params(m, &n);
    CHECK(n == attn_safetensors_count(f->grads), "%s: %d parameters, PyTorch has %d", what, n,
          attn_safetensors_count(f->grads));
    float *want = malloc(attn_gpt2_train_numel(m) * sizeof *want);
    for (int i = 0; i < n; i++) {
        const attn_st_tensor *t = attn_safetensors_find(f->grads, ps[i].name);
        CHECK(t && t->nbytes == (size_t)ps[i].numel * 4, "%s: no PyTorch gradient for %s", what, ps[i].name);
        if (!t || t->nbytes != (size_t)ps[i].numel * 4) continue;
        attn_to_f32(want, t->data, t->dtype, ps[i].numel);
        double worst = 0;
        int64_t at = 0;
        for (int64_t k = 0; k < ps[i].numel; k++) {
            double d = fabs((double)ps[i].grad[k] - want[k]);
            if (d > worst || d != d) worst = d, at = k;
        }
        CHECK(worst <= GRAD_TOL, "%s: %s worst |dgrad| %.3g at [%lld] (attn %.9g, torch %.9g)", what, ps[i].name, worst,
              (long long)at, ps[i].grad[at], want[at]);
        if (worst > worst_grad) worst_grad = worst, snprintf(worst_grad_name, sizeof worst_grad_name, "%s", ps[i].name);
    }
    free(want);
}

static void check_loss(double got, double want, double rtol, const char *what) {
    double rel = fabs(got - want) / fabs(want);
    CHECK(rel <= rtol, "%s: loss %.9g, PyTorch %.9g (relative %.3g)", what, got, want, rel);
    if (rel > worst_loss_rel || rel != rel) worst_loss_rel = rel;
}

static void test_fixture_grads(const fixture *f) {
    attn_gpt2_train *m = attn_gpt2_train_load(FIX "/model", f->B, f->T);
    CHECK(m != NULL, "load " FIX "/model: %s", attn_last_error());
    if (!m) return;
    for (int isa = 0; isa < ATTN_ISA_COUNT; isa++) {
        if (!attn_isa_supported((attn_isa)isa)) continue;
        attn_isa_set((attn_isa)isa);
        for (int threads = 1; threads <= 2; threads++) {
            attn_threads_init(threads);
            char what[64];
            snprintf(what, sizeof what, "fixture %s %dt", attn_isa_name((attn_isa)isa), threads);
            float loss;
            if (threads == 1) attn_gpt2_train_zero_grad(m);
            else { /* discarded gradients are written, never read: NaNs left in them must not show */
                float *g = attn_gpt2_train_grad(m);
                for (int64_t i = 0; i < attn_gpt2_train_numel(m); i++) g[i] = NAN;
                attn_gpt2_train_discard_grad(m);
            }
            CHECK(attn_gpt2_train_forward(m, f->tokens, f->targets, f->B, f->T, &loss) == 0, "%s", attn_last_error());
            check_loss(loss, jnum(f->exp, "loss"), LOSS_RTOL, what);
            CHECK(attn_gpt2_train_backward(m, 1.0f) == 0, "%s", attn_last_error());
            check_grads(m, f, what);
        }
    }
    attn_isa_set(attn_isa_best());
    attn_threads_init(2);

    /* label smoothing: the loss and two gradients PyTorch computed with it */
    attn_gpt2_train_options(m)->label_smoothing = (float)jnum(f->exp, "smoothing");
    float loss;
    attn_gpt2_train_zero_grad(m);
    CHECK(attn_gpt2_train_forward(m, f->tokens, f->targets, f->B, f->T, &loss) == 0, "%s", attn_last_error());
    check_loss(loss, jnum(f->exp, "loss_smoothed"), LOSS_RTOL, "label smoothing");
    CHECK(attn_gpt2_train_backward(m, 1.0f) == 0, "%s", attn_last_error());
    const char *name;
    json_t *vals;
    json_object_foreach(json_object_get(f->exp, "grads_smoothed"), name, vals) {
        const attn_param *p = attn_gpt2_train_find(m, name);
        CHECK(p && (int64_t)json_array_size(vals) == p->numel, "smoothed gradient %s", name);
        double worst = 0;
        for (int64_t k = 0; p && k < p->numel; k++)
            worst = fmax(worst, fabs(p->grad[k] - json_number_value(json_array_get(vals, k))));
        CHECK(worst <= GRAD_TOL, "label smoothing: %s worst |dgrad| %.3g", name, worst);
    }
    attn_gpt2_train_free(m);
}

/* One clipped AdamW step as the fixture script takes it; returns the loss before it. */
static float train_step(attn_gpt2_train *m, attn_adamw *opt, const int32_t *tok, const int32_t *tg, int64_t B,
                        int64_t T, float lr, float clip, float *norm_out) {
    int n;
    const attn_param *ps = attn_gpt2_train_params(m, &n);
    float loss = NAN;
    attn_gpt2_train_discard_grad(m); /* as attn train's steps do */
    if (attn_gpt2_train_forward(m, tok, tg, B, T, &loss) || attn_gpt2_train_backward(m, 1.0f)) {
        CHECK(0, "train step: %s", attn_last_error());
        return NAN;
    }
    float norm = attn_grad_norm(ps, n);
    if (norm_out) *norm_out = norm;
    CHECK(attn_adamw_step(opt, ps, n, lr, attn_clip_scale(norm, clip)) == 0, "%s", attn_last_error());
    return loss;
}

static void test_fixture_adamw(const fixture *f) {
    json_t *a = json_object_get(f->exp, "adamw"), *losses = json_object_get(a, "losses");
    json_t *norms = json_object_get(a, "grad_norms"), *betas = json_object_get(a, "betas");
    attn_gpt2_train *m = attn_gpt2_train_load(FIX "/model", f->B, f->T);
    CHECK(m != NULL, "%s", attn_last_error());
    if (!m) return;
    attn_adamw_config c = {.lr = (float)jnum(a, "lr"), .beta1 = (float)json_number_value(json_array_get(betas, 0)),
                           .beta2 = (float)json_number_value(json_array_get(betas, 1)), .eps = (float)jnum(a, "eps"),
                           .weight_decay = (float)jnum(a, "weight_decay")};
    attn_adamw *opt = attn_adamw_new(attn_gpt2_train_numel(m), &c);
    double worst = 0, worst_norm = 0;
    for (size_t s = 0; s < json_array_size(losses); s++) {
        float norm, loss = train_step(m, opt, f->tokens, f->targets, f->B, f->T, c.lr, (float)jnum(a, "clip"), &norm);
        double want = json_number_value(json_array_get(losses, s));
        double want_norm = json_number_value(json_array_get(norms, s));
        worst = fmax(worst, fabs(loss - want));
        worst_norm = fmax(worst_norm, fabs(norm - want_norm) / want_norm);
        CHECK(fabs(loss - want) <= ADAMW_TOL, "AdamW step %zu: loss %.7f, PyTorch %.7f", s, loss, want);
    }
    CHECK(worst_norm <= 1e-5, "clip_grad_norm_: worst relative difference %.3g", worst_norm);
    printf("AdamW: %zu steps, worst |dloss| %.2g, worst relative |dnorm| %.2g\n", json_array_size(losses), worst,
           worst_norm);
    attn_adamw_free(opt);
    attn_gpt2_train_free(m);
}

/* ---- A tiny random model for the self-contained checks ---- */

static attn_gpt2_config tiny_config(void) {
    return (attn_gpt2_config){.n_layer = 2, .n_head = 4, .n_embd = 32, .n_ctx = 16, .vocab = 64, .eps = 1e-5f, .scale_attn_weights = true};
}

static void random_batch(int32_t *tok, int32_t *tg, int64_t n, int64_t vocab, uint64_t seed) {
    attn_rng r;
    attn_rng_seed(&r, seed);
    for (int64_t i = 0; i < n; i++) tok[i] = (int32_t)(attn_rng_next(&r) % (uint64_t)vocab);
    for (int64_t i = 0; i < n; i++) tg[i] = (int32_t)(attn_rng_next(&r) % (uint64_t)vocab);
}

static void test_zero_grad_and_accumulation(void) {
    attn_gpt2_config c = tiny_config();
    int64_t B = 2, T = 8, n;
    int32_t tok[16], tg[16];
    random_batch(tok, tg, B * T, c.vocab, 11);
    attn_gpt2_train *m = attn_gpt2_train_new(&c, 1, B, T);
    CHECK(m != NULL, "%s", attn_last_error());
    if (!m) return;
    n = attn_gpt2_train_numel(m);
    float *once = malloc(n * sizeof *once), loss, l0, l1;
    float *g = attn_gpt2_train_grad(m);
    attn_gpt2_train_zero_grad(m);
    CHECK(attn_gpt2_train_forward(m, tok, tg, B, T, &loss) == 0 && attn_gpt2_train_backward(m, 1.0f) == 0, "%s",
          attn_last_error());
    memcpy(once, g, n * sizeof *once);
    /* a second backward adds the same again */
    CHECK(attn_gpt2_train_forward(m, tok, tg, B, T, &loss) == 0 && attn_gpt2_train_backward(m, 1.0f) == 0, "%s",
          attn_last_error());
    double worst = 0;
    for (int64_t i = 0; i < n; i++) worst = fmax(worst, fabs(g[i] - 2.0f * once[i]));
    CHECK(worst <= 1e-6, "two backwards are not twice one: %.3g", worst);
    /* discarded gradients: the next backward writes the bits zeroed ones would get, and the
     * one after adds to them */
    for (int64_t i = 0; i < n; i++) g[i] = NAN;
    attn_gpt2_train_discard_grad(m);
    for (int k = 1; k <= 2; k++) {
        CHECK(attn_gpt2_train_forward(m, tok, tg, B, T, &loss) == 0 && attn_gpt2_train_backward(m, 1.0f) == 0, "%s",
              attn_last_error());
        int64_t differ = 0;
        for (int64_t i = 0; i < n; i++) differ += k == 1 ? g[i] != once[i] : !(fabs(g[i] - 2.0f * once[i]) <= 1e-6);
        CHECK(differ == 0, "backward %d after discard_grad: %lld gradients differ", k, (long long)differ);
    }
    attn_gpt2_train_zero_grad(m);
    int nonzero = 0;
    for (int64_t i = 0; i < n; i++) nonzero += g[i] != 0.0f;
    CHECK(nonzero == 0, "zero_grad left %d nonzero gradients", nonzero);
    /* two micro-batches of one sequence, each scaled by 1/2, give the batch-of-two gradient */
    CHECK(attn_gpt2_train_forward(m, tok, tg, 1, T, &l0) == 0 && attn_gpt2_train_backward(m, 0.5f) == 0, "%s",
          attn_last_error());
    CHECK(attn_gpt2_train_forward(m, tok + T, tg + T, 1, T, &l1) == 0 && attn_gpt2_train_backward(m, 0.5f) == 0,
          "%s", attn_last_error());
    worst = 0;
    for (int64_t i = 0; i < n; i++) worst = fmax(worst, fabs(g[i] - once[i]));
    CHECK(worst <= 1e-6, "accumulated micro-batches differ from the full batch by %.3g", worst);
    CHECK(fabs(0.5 * (l0 + l1) - loss) <= 1e-6, "micro-batch losses %.7f %.7f, batch %.7f", l0, l1, loss);
    free(once);
    attn_gpt2_train_free(m);
}

/* Losses of `steps` AdamW steps from a random model with dropout, on `threads` threads. */
static void run_losses(float *out, int steps, int threads, float dropout) {
    attn_threads_init(threads);
    attn_gpt2_config c = tiny_config();
    int32_t tok[64], tg[64];
    random_batch(tok, tg, 64, c.vocab, 5);
    attn_gpt2_train *m = attn_gpt2_train_new(&c, 42, 4, 16);
    CHECK(m != NULL, "%s", attn_last_error());
    if (!m) return;
    attn_gpt2_train_options(m)->dropout = dropout;
    attn_gpt2_train_options(m)->seed = 1234;
    attn_adamw_config oc = attn_adamw_defaults();
    attn_adamw *opt = attn_adamw_new(attn_gpt2_train_numel(m), &oc);
    for (int s = 0; s < steps; s++) out[s] = train_step(m, opt, tok, tg, 4, 16, 1e-3f, 1.0f, NULL);
    attn_adamw_free(opt);
    attn_gpt2_train_free(m);
    attn_threads_init(2);
}

static void test_repeatable(void) {
    float a[5], b[5], c[5], d[5];
    run_losses(a, 5, 2, 0.1f);
    run_losses(b, 5, 2, 0.1f);
    run_losses(c, 5, 1, 0.1f);
    run_losses(d, 5, 2, 0.0f);
    CHECK(memcmp(a, b, sizeof a) == 0, "two runs with one seed differ: %.9g vs %.9g", a[4], b[4]);
    CHECK(memcmp(a, c, sizeof a) == 0, "1 and 2 threads differ: %.9g vs %.9g", c[4], a[4]);
    CHECK(a[1] != d[1], "dropout 0.1 changed nothing");
}

static void test_overfit(void) {
    attn_gpt2_config c = tiny_config();
    int64_t B = 4, T = 16, steps = 100;
    int32_t tok[64], tg[64];
    random_batch(tok, tg, B * T, c.vocab, 9);
    attn_gpt2_train *m = attn_gpt2_train_new(&c, 3, B, T);
    CHECK(m != NULL, "%s", attn_last_error());
    if (!m) return;
    attn_adamw_config oc = {.lr = 1e-2f, .beta1 = 0.9f, .beta2 = 0.95f, .eps = 1e-8f, .weight_decay = 0.0f};
    attn_adamw *opt = attn_adamw_new(attn_gpt2_train_numel(m), &oc);
    double t0 = attn_time_s();
    float first = 0, last = 0;
    for (int64_t s = 0; s < steps; s++) {
        last = train_step(m, opt, tok, tg, B, T, oc.lr, 1.0f, NULL);
        if (s == 0) first = last;
    }
    double dt = attn_time_s() - t0;
    CHECK(last < 0.1f * first, "overfitting one batch: loss %.4f -> %.4f in %lld steps", first, last, (long long)steps);
    printf("overfit: %lld params, loss %.4f -> %.4f in %lld steps of %lldx%lld, %.0f tokens/s (%d threads)\n",
           (long long)attn_gpt2_train_numel(m), first, last, (long long)steps, (long long)B, (long long)T,
           (double)(steps * B * T) / dt, attn_threads_count());
    attn_adamw_free(opt);
    attn_gpt2_train_free(m);
}

/* ---- Finite differences (dropout, label smoothing, an ignored target, every tensor kind) ---- */

static double loss_at(attn_gpt2_train *m, const int32_t *tok, const int32_t *tg, int64_t B, int64_t T) {
    float loss;
    attn_gpt2_train_options(m)->seed = 77; /* the same dropout masks for every evaluation */
    CHECK(attn_gpt2_train_forward(m, tok, tg, B, T, &loss) == 0, "%s", attn_last_error());
    return loss;
}

static void test_finite_differences(void) {
    attn_gpt2_config c = {.n_layer = 1, .n_head = 2, .n_embd = 16, .n_ctx = 8, .vocab = 11, .eps = 1e-5f, .scale_attn_weights = true};
    int64_t B = 2, T = 5;
    int32_t tok[10], tg[10];
    random_batch(tok, tg, B * T, c.vocab, 21);
    tg[3] = -1;
    attn_gpt2_train *m = attn_gpt2_train_new(&c, 8, B, T);
    CHECK(m != NULL, "%s", attn_last_error());
    if (!m) return;
    attn_gpt2_train_opts *o = attn_gpt2_train_options(m);
    o->dropout = 0.2f, o->label_smoothing = 0.1f;
    /* larger weights than GPT-2's init, so every path carries gradient */
    attn_rng r;
    attn_rng_seed(&r, 3);
    int n;
    const attn_param *ps = attn_gpt2_train_params(m, &n);
    for (int i = 0; i < n; i++)
        for (int64_t k = 0; k < ps[i].numel; k++) ps[i].data[k] += 0.3f * attn_rng_normal(&r);
    loss_at(m, tok, tg, B, T);
    attn_gpt2_train_zero_grad(m);
    CHECK(attn_gpt2_train_backward(m, 1.0f) == 0, "%s", attn_last_error());
    double worst = 0;
    for (int i = 0; i < n; i++)
        for (int probe = 0; probe < 3; probe++) {
            int64_t k = (int64_t)(attn_rng_next(&r) % (uint64_t)ps[i].numel);
            float keep = ps[i].data[k], h = 1e-2f;
            ps[i].data[k] = keep + h;
            double up = loss_at(m, tok, tg, B, T);
            ps[i].data[k] = keep - h;
            double down = loss_at(m, tok, tg, B, T);
            ps[i].data[k] = keep;
            double fd = (up - down) / (2.0 * h), an = ps[i].grad[k], err = fabs(fd - an) / (1e-2 + fabs(an));
            worst = fmax(worst, err);
            CHECK(err <= 2e-2, "finite difference %s[%lld]: analytic %.6g, numeric %.6g", ps[i].name, (long long)k, an,
                  fd);
        }
    printf("finite differences: worst relative error %.2g (dropout 0.2, label smoothing 0.1)\n", worst);
    attn_gpt2_train_free(m);
}

/* Causal attention over sequences long enough that the GEMMs skip whole tiles above the
 * diagonal (T = 77 spans several 12 x 32 tiles), against a plain double-precision loop:
 * the output, and the gradient of loss = Σ out · R. */
static void test_attention_causal_long(void) {
    enum { H = 2, G = 1, HD = 5 };
    attn_attention_shape s = {.n_heads = H, .n_kv_heads = G, .head_dim = HD, .scale = 0.45f};
    int64_t B = 2, T = 77, W = (H + 2 * G) * HD, n = B * T * W, no = B * T * H * HD;
    float *qkv = malloc(n * 4), *dqkv = calloc(n, 4), *out = malloc(no * 4), *R = malloc(no * 4);
    float *lse = malloc(B * H * T * 4);
    double *want = calloc(n, sizeof(double)), *p = malloc(T * sizeof(double)), *dp = malloc(T * sizeof(double));
    attn_rng r;
    attn_rng_seed(&r, 11);
    fill_random(qkv, n, &r, 1.5f), fill_random(R, no, &r, 1);
    attn_attention_train_forward(out, lse, qkv, B, T, &s);
    CHECK(attn_attention_backward(dqkv, R, out, qkv, lse, B, T, &s) == 0, "%s", attn_last_error());
    double worst_out = 0, worst_grad = 0;
    for (int64_t b = 0; b < B; b++)
        for (int h = 0; h < H; h++)
            for (int64_t t = 0; t < T; t++) {
                const float *row = qkv + (b * T + t) * W, *q = row + h * HD, *dout = R + (b * T + t) * H * HD + h * HD;
                int kv = H + h / (H / G);
                double max = -1e300, sum = 0, dsum = 0;
                for (int64_t u = 0; u <= t; u++) {
                    const float *k = qkv + (b * T + u) * W + kv * HD;
                    p[u] = 0;
                    for (int c = 0; c < HD; c++) p[u] += (double)q[c] * k[c] * s.scale;
                    max = fmax(max, p[u]);
                }
                for (int64_t u = 0; u <= t; u++) sum += p[u] = exp(p[u] - max);
                for (int c = 0; c < HD; c++) {
                    double o = 0;
                    for (int64_t u = 0; u <= t; u++) o += p[u] / sum * qkv[(b * T + u) * W + (kv + G) * HD + c];
                    worst_out = fmax(worst_out, fabs(o - out[(b * T + t) * H * HD + h * HD + c]));
                }
                for (int64_t u = 0; u <= t; u++) {
                    const float *v = qkv + (b * T + u) * W + (kv + G) * HD;
                    p[u] /= sum, dp[u] = 0;
                    for (int c = 0; c < HD; c++) dp[u] += (double)dout[c] * v[c];
                    dsum += p[u] * dp[u];
                }
                for (int64_t u = 0; u <= t; u++) {
                    double ds = p[u] * (dp[u] - dsum) * s.scale;
                    double *dq = want + (b * T + t) * W + h * HD, *dk = want + (b * T + u) * W + kv * HD;
                    const float *k = qkv + (b * T + u) * W + kv * HD;
                    for (int c = 0; c < HD; c++) {
                        dq[c] += ds * k[c], dk[c] += ds * q[c];
                        want[(b * T + u) * W + (kv + G) * HD + c] += p[u] * dout[c];
                    }
                }
            }
    for (int64_t i = 0; i < n; i++) worst_grad = fmax(worst_grad, fabs(want[i] - dqkv[i]));
    CHECK(worst_out <= 1e-5, "long causal attention output: max |diff| %.3g", worst_out);
    CHECK(worst_grad <= 1e-4, "long causal attention gradient: max |diff| %.3g", worst_grad);
    free(qkv), free(dqkv), free(out), free(R), free(lse), free(want), free(p), free(dp);
}

/* Grouped-query attention alone: loss = Σ out · R, so d loss / d out = R. */
static void test_attention_gqa(void) {
    attn_attention_shape s = {.n_heads = 4, .n_kv_heads = 2, .head_dim = 3, .scale = 0.7f};
    int64_t B = 2, T = 5, W = (4 + 2 * 2) * 3, n = B * T * W, no = B * T * 4 * 3;
    float *qkv = malloc(n * 4), *dqkv = calloc(n, 4), *out = malloc(no * 4), *R = malloc(no * 4);
    float *lse = malloc(B * 4 * T * 4);
    attn_rng r;
    attn_rng_seed(&r, 4);
    fill_random(qkv, n, &r, 1.5f), fill_random(R, no, &r, 1);
    attn_attention_train_forward(out, lse, qkv, B, T, &s);
    CHECK(attn_attention_backward(dqkv, R, out, qkv, lse, B, T, &s) == 0, "%s", attn_last_error());
    double worst = 0;
    for (int64_t i = 0; i < n; i++) {
        float keep = qkv[i], h = 1e-2f;
        double up = 0, down = 0;
        qkv[i] = keep + h;
        attn_attention_train_forward(out, lse, qkv, B, T, &s);
        for (int64_t j = 0; j < no; j++) up += (double)out[j] * R[j];
        qkv[i] = keep - h;
        attn_attention_train_forward(out, lse, qkv, B, T, &s);
        for (int64_t j = 0; j < no; j++) down += (double)out[j] * R[j];
        qkv[i] = keep;
        double fd = (up - down) / (2.0 * h);
        worst = fmax(worst, fabs(fd - dqkv[i]) / (1e-2 + fabs(fd)));
    }
    CHECK(worst <= 1e-2, "grouped-query attention backward vs finite differences: worst relative error %.3g", worst);
    free(qkv), free(dqkv), free(out), free(R), free(lse);
}

/* ---- Checkpoints and the inference model ---- */

static double max_abs_diff(const float *a, const float *b, int64_t n) {
    double w = 0;
    for (int64_t i = 0; i < n; i++) w = fmax(w, fabs((double)a[i] - b[i]));
    return w;
}

static void test_checkpoint(void) {
    attn_gpt2_config c = tiny_config();
    int64_t T = 16;
    int32_t tok[16], tg[16];
    random_batch(tok, tg, T, c.vocab, 13);
    attn_gpt2_train *m = attn_gpt2_train_new(&c, 99, 1, T);
    char dir[] = "/tmp/attn_test_train_XXXXXX";
    CHECK(m && mkdtemp(dir), "%s", attn_last_error());
    if (!m) return;
    float loss;
    CHECK(attn_gpt2_train_save(m, dir) == 0, "save: %s", attn_last_error());
    CHECK(attn_gpt2_train_forward(m, tok, NULL, 1, T, &loss) == 0, "%s", attn_last_error());
    attn_model *inf = attn_model_load(dir);
    CHECK(inf != NULL, "gpt2.c cannot load the checkpoint: %s", attn_last_error());
    if (inf) {
        float *logits = malloc(T * c.vocab * sizeof *logits);
        CHECK(attn_model_forward(inf, tok, T, logits, true) == 0, "%s", attn_last_error());
        double d = max_abs_diff(logits, attn_gpt2_train_logits(m), T * c.vocab);
        CHECK(d <= 1e-5, "checkpoint: inference logits differ from the training forward by %.3g", d);
        free(logits);
        attn_model_free(inf);
    }
    attn_gpt2_train *back = attn_gpt2_train_load(dir, 1, T);
    CHECK(back && attn_gpt2_train_numel(back) == attn_gpt2_train_numel(m) &&
              memcmp(attn_gpt2_train_data(back), attn_gpt2_train_data(m), attn_gpt2_train_numel(m) * 4) == 0,
          "checkpoint does not reload bit-identically: %s", attn_last_error());
    attn_gpt2_train_free(back);
    attn_gpt2_train_free(m);
    char path[128];
    snprintf(path, sizeof path, "%s/model.safetensors", dir), unlink(path);
    snprintf(path, sizeof path, "%s/config.json", dir), unlink(path);
    rmdir(dir);
}

/* The training forward against HF logits on the inference fixtures (f16, bf16, no prefix, odd shapes). */
static void test_hf_inference_fixtures(void) {
    static const char *names[] = {"tiny-f32", "tiny-f16", "tiny-bf16", "tiny-noprefix-f32", "tiny-odd"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        char dir[128], path[160];
        snprintf(dir, sizeof dir, "tests/fixtures/gpt2/%s", names[i]);
        snprintf(path, sizeof path, "%s/expected.json", dir);
        json_t *exp = json_load_file(path, 0, NULL);
        CHECK(exp != NULL, "%s missing", path);
        if (!exp) continue;
        json_t *prompts = json_object_get(exp, "prompts");
        attn_gpt2_train *m = attn_gpt2_train_load(dir, 1, 20);
        CHECK(m != NULL, "%s: %s", dir, attn_last_error());
        for (size_t p = 0; m && p < json_array_size(prompts); p++) {
            json_t *ids = json_object_get(json_array_get(prompts, p), "ids");
            json_t *logits = json_object_get(json_array_get(prompts, p), "logits");
            int64_t T = (int64_t)json_array_size(ids), V = attn_gpt2_train_config(m)->vocab;
            int32_t tok[20];
            for (int64_t t = 0; t < T && t < 20; t++) tok[t] = (int32_t)json_integer_value(json_array_get(ids, t));
            float loss;
            CHECK(attn_gpt2_train_forward(m, tok, NULL, 1, T, &loss) == 0, "%s: %s", dir, attn_last_error());
            double worst = 0;
            for (int64_t t = 0; t < T; t++)
                for (int64_t v = 0; v < V; v++)
                    worst = fmax(worst, fabs(attn_gpt2_train_logits(m)[t * V + v] -
                                             json_number_value(json_array_get(json_array_get(logits, t), v))));
            CHECK(worst <= 1e-4, "%s prompt %zu: training forward max |dlogit| %.3g vs HF", names[i], p, worst);
        }
        attn_gpt2_train_free(m);
        json_decref(exp);
    }
}

/* ---- Bad input and the schedule ---- */

static void test_bad_input(void) {
    attn_gpt2_config c = tiny_config();
    int32_t tok[8] = {1, 2, 3, 4, 5, 6, 7, 8}, tg[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    attn_gpt2_train *m = attn_gpt2_train_new(&c, 1, 1, 8);
    CHECK(m != NULL, "%s", attn_last_error());
    if (!m) return;
    float loss;
    tok[5] = 64;
    CHECK(attn_gpt2_train_forward(m, tok, tg, 1, 8, &loss) == -1 && strstr(attn_last_error(), "vocabulary"),
          "token 64 accepted: %s", attn_last_error());
    CHECK(attn_gpt2_train_backward(m, 1.0f) == -1, "backward after a failed forward");
    tok[5] = 5, tg[2] = -2;
    CHECK(attn_gpt2_train_forward(m, tok, tg, 1, 8, &loss) == -1 && strstr(attn_last_error(), "target"),
          "target -2 accepted: %s", attn_last_error());
    tg[2] = 3;
    CHECK(attn_gpt2_train_forward(m, tok, tg, 2, 8, &loss) == -1 && strstr(attn_last_error(), "planned"),
          "a batch larger than planned: %s", attn_last_error());
    CHECK(attn_gpt2_train_forward(m, tok, tg, 1, 8, &loss) == 0, "a good batch after bad ones: %s", attn_last_error());
    attn_gpt2_train_options(m)->dropout = 1.0f;
    CHECK(attn_gpt2_train_forward(m, tok, tg, 1, 8, &loss) == -1, "dropout 1 accepted");
    attn_gpt2_train_free(m);
    c.n_head = 5;
    CHECK(attn_gpt2_train_new(&c, 1, 1, 8) == NULL && strstr(attn_last_error(), "divisible"), "32 wide, 5 heads");
    c.n_head = 4;
    CHECK(attn_gpt2_train_new(&c, 1, 1, 17) == NULL, "T beyond the context accepted");
    CHECK(attn_gpt2_train_load("tests/fixtures/train/nonexistent", 1, 8) == NULL, "loading a missing folder");
}

/* attn_tape_fresh_grads on the tape alone: two linear layers whose weights overlap in the
 * parameter region (the second one recorded is reached first and written; the first then
 * adds, after the part only it covers is zeroed), and a part of the region no layer uses,
 * which must come out zero. Every gradient must have the bits zeroed gradients get. */
enum { FG_ROWS = 3, FG_IN = 4, FG_OUT = 5, FG_SHIFT = 10, FG_UNUSED = 7 };
#define FG_PARAMS (FG_IN * FG_OUT + FG_SHIFT + FG_UNUSED)

static void fresh_grads_backward(attn_tape *t, float *param, float *grad, const float *x, const int32_t *tg) {
    attn_tape_begin(t, true, 0);
    attn_tvar in = {.val = (float *)x, .n = FG_ROWS * FG_IN};
    attn_tvar wa = {.val = param, .grad = grad, .n = FG_IN * FG_OUT};
    attn_tvar wb = attn_tvar_slice(wa, FG_SHIFT, FG_IN * FG_OUT); /* [10, 30): overlaps wa's [0, 20) */
    attn_tvar ya = attn_tape_linear(t, in, FG_ROWS, wa, (attn_tvar){0}, FG_IN, FG_OUT, true);
    attn_tvar yb = attn_tape_linear(t, in, FG_ROWS, wb, (attn_tvar){0}, FG_IN, FG_OUT, false);
    int32_t *ids = attn_tape_alloc(t, sizeof(int32_t) * FG_ROWS);
    if (ids) memcpy(ids, tg, sizeof(int32_t) * FG_ROWS);
    attn_tvar loss = attn_tape_cross_entropy(t, attn_tape_add(t, ya, yb), ids, FG_ROWS, FG_OUT, 0.0f);
    if (attn_tape_measuring(t)) return;
    CHECK(attn_tape_status(t) == 0 && attn_tape_backward(t, loss, 1.0f) == 0, "%s", attn_last_error());
}

static void test_fresh_grads(void) {
    float param[FG_PARAMS], zeroed[FG_PARAMS], fresh[FG_PARAMS], x[FG_ROWS * FG_IN];
    int32_t tg[FG_ROWS] = {1, 4, 0};
    attn_rng r;
    attn_rng_seed(&r, 8);
    fill_random(param, FG_PARAMS, &r, 1), fill_random(x, FG_ROWS * FG_IN, &r, 1);
    attn_tape *t = attn_tape_new();
    CHECK(t != NULL, "%s", attn_last_error());
    if (!t) return;
    fresh_grads_backward(t, param, zeroed, x, tg); /* measures */
    CHECK(attn_tape_plan(t) == 0, "%s", attn_last_error());
    memset(zeroed, 0, sizeof zeroed);
    fresh_grads_backward(t, param, zeroed, x, tg);
    for (int i = 0; i < FG_PARAMS; i++) fresh[i] = NAN;
    attn_tape_fresh_grads(t, fresh, FG_PARAMS);
    fresh_grads_backward(t, param, fresh, x, tg);
    int differ = 0, nonzero = 0;
    for (int i = 0; i < FG_PARAMS; i++) {
        differ += memcmp(&zeroed[i], &fresh[i], sizeof(float)) != 0;
        nonzero += i < FG_IN * FG_OUT + FG_SHIFT && zeroed[i] != 0.0f;
    }
    CHECK(differ == 0, "fresh gradients: %d of %d differ from zeroed ones", differ, FG_PARAMS);
    CHECK(nonzero == FG_IN * FG_OUT + FG_SHIFT, "only %d of the used gradients are nonzero", nonzero);
    attn_tape_free(t);
}

static void test_schedule(void) {
    attn_lr_schedule s = {.max_lr = 1e-3f, .min_lr = 1e-4f, .warmup_steps = 10, .total_steps = 110};
    CHECK_NEAR(attn_lr_at(&s, 0), 1e-4, 1e-9, "warmup step 0");
    CHECK_NEAR(attn_lr_at(&s, 9), 1e-3, 1e-9, "last warmup step");
    CHECK_NEAR(attn_lr_at(&s, 10), 1e-3, 1e-9, "decay start");
    CHECK_NEAR(attn_lr_at(&s, 60), 5.5e-4, 1e-9, "cosine midpoint");
    CHECK_NEAR(attn_lr_at(&s, 110), 1e-4, 1e-9, "end");
    CHECK_NEAR(attn_lr_at(&s, 1000), 1e-4, 1e-9, "after the end");
    s.total_steps = 0;
    CHECK_NEAR(attn_lr_at(&s, 500), 1e-3, 1e-9, "no decay");
}

int main(void) {
    attn_threads_init(2);
    test_gemm_acc();
    test_attention_gqa();
    test_attention_causal_long();
    fixture f = {0};
    if (load_fixture(&f) == 0) {
        test_fixture_grads(&f);
        test_fixture_adamw(&f);
        printf("vs PyTorch: worst loss relative diff %.2g, worst gradient |diff| %.2g (%s)\n", worst_loss_rel,
               worst_grad, worst_grad_name);
    }
    json_decref(f.exp);
    attn_safetensors_close(f.grads);
    test_zero_grad_and_accumulation();
    test_fresh_grads();
    test_repeatable();
    test_finite_differences();
    test_checkpoint();
    test_hf_inference_fixtures();
    test_bad_input();
    test_schedule();
    test_overfit();
    return test_finish("test_train");
}
