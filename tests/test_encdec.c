/* test_encdec.c - the 2017 Transformer (encoder-decoder) against PyTorch and on a task.
 *   - attention with padding masks, causal and not, and cross-attention: the forward
 *     against a naive double-precision reference, the backward against finite
 *     differences, padding rows and keys shown not to matter;
 *   - the model against PyTorch (tools/make_encdec_fixtures.py: nn.TransformerEncoder/
 *     DecoderLayer, post-LN and pre-LN, a padded batch of mixed lengths, label smoothing
 *     0.1): loss within 1e-5 relative (f32 sums in another order move it by ~1e-7), every
 *     gradient within 1e-4 max abs (they are O(0.01..1); f32 noise is ~1e-6), on every
 *     instruction set and 1 or 2 threads;
 *   - decoding: the incremental decoder's logits equal the training forward's, beam search
 *     with beam 1 equals greedy;
 *   - finite differences through dropout, label smoothing and padding (post-LN and pre-LN);
 *     bad input (token ids, lengths, a batch past the plan, another model's folder);
 *   - token-count batches, checkpoint averaging, the paper's learning-rate schedule;
 *   - a task: a tiny model learns to copy random sequences to >= 99% exact match (greedy
 *     and beam 4) within a minute on 2 cores, and survives a save and load.
 */
#include <jansson.h>
#include <stdlib.h>
#include <unistd.h>
#include "core/common.h"
#include "core/cpu.h"
#include "core/threadpool.h"
#include "format/safetensors.h"
#include "generate/sampler.h"
#include "nn/attention_train.h"
#include "train/encdec.h"
#include "train/optim.h"
#include "test.h"

#define FIX "tests/fixtures/encdec"
#define LOSS_RTOL 1e-5
#define GRAD_TOL 1e-4

static void fill_random(float *x, int64_t n, attn_rng *r, float scale) {
    for (int64_t i = 0; i < n; i++) x[i] = scale * (2.0f * attn_rng_uniform(r) - 1.0f);
}

/* ---- Attention with masks ---- */

/* out for query t of sequence b, head h, by the definition, in double. */
static void naive_attention(double *o, const attn_attention_args *a, int64_t b, int64_t t, int h) {
    const attn_attention_shape *s = &a->shape;
    int hd = s->head_dim, g = h / (s->n_heads / s->n_kv_heads);
    int64_t tk = a->k_len ? a->k_len[b] : a->Tk, n = a->causal ? ATTN_MIN(t + 1, tk) : tk;
    const float *q = a->q + (b * a->Tq + t) * a->q_ld + h * hd;
    double w[64], max = -1e300, sum = 0;
    for (int64_t u = 0; u < n; u++) {
        const float *k = a->k + (b * a->Tk + u) * a->kv_ld + g * hd;
        w[u] = 0;
        for (int c = 0; c < hd; c++) w[u] += (double)q[c] * k[c];
        w[u] *= s->scale;
        max = fmax(max, w[u]);
    }
    for (int64_t u = 0; u < n; u++) sum += w[u] = exp(w[u] - max);
    for (int c = 0; c < hd; c++) o[c] = 0;
    for (int64_t u = 0; u < n; u++)
        for (int c = 0; c < hd; c++) o[c] += w[u] / sum * a->v[(b * a->Tk + u) * a->kv_ld + g * hd + c];
}

/* Σ out · R: a loss whose gradient with respect to out is R. */
static double weighted_out(const attn_attention_args *a, float *out, float *lse, const float *R, int64_t no) {
    attn_attention_forward_args(out, lse, a);
    double sum = 0;
    for (int64_t j = 0; j < no; j++) sum += (double)out[j] * R[j];
    return sum;
}

/* One attention case: forward against the naive one, padding rows zero, gradients of the
 * q and kv buffers against central differences, padding keys without effect. */
static void check_attention_case(bool cross, bool causal, int n_heads, int n_kv, const char *what) {
    attn_attention_shape s = {.n_heads = n_heads, .n_kv_heads = n_kv, .head_dim = 3, .scale = 0.6f};
    int64_t B = 3, Tq = 5, Tk = cross ? 7 : 5, hd = 3, qw = n_heads * hd, kvw = 2 * n_kv * hd;
    int32_t q_len[3] = {5, 2, 4}, k_len[3] = {cross ? 7 : 5, cross ? 3 : 2, cross ? 1 : 4};
    /* self-attention: one fused buffer [q | k | v]; cross: q and kv apart */
    int64_t nq = cross ? B * Tq * qw : B * Tq * (qw + kvw), nkv = cross ? B * Tk * kvw : 0, no = B * Tq * qw;
    float *q = malloc(nq * 4), *kv = cross ? malloc(nkv * 4) : q;
    float *dq = calloc(nq, 4), *dkv = cross ? calloc(nkv, 4) : dq;
    float *out = malloc(no * 4), *lse = malloc(B * n_heads * Tq * 4), *R = malloc(no * 4);
    attn_rng r;
    attn_rng_seed(&r, 17);
    fill_random(q, nq, &r, 1.5f), fill_random(R, no, &r, 1);
    if (cross) fill_random(kv, nkv, &r, 1.5f);
    attn_attention_args a;
    if (cross)
        a = (attn_attention_args){.q = q, .k = kv, .v = kv + n_kv * hd, .q_ld = qw, .kv_ld = kvw, .B = B, .Tq = Tq,
                                  .Tk = Tk, .q_len = q_len, .k_len = k_len, .causal = causal, .shape = s};
    else
        a = attn_attention_fused(q, B, Tq, q_len, causal, &s);
    attn_attention_forward_args(out, lse, &a);
    double worst = 0;
    bool pad_zero = true;
    for (int64_t b = 0; b < B; b++)
        for (int64_t t = 0; t < Tq; t++)
            for (int h = 0; h < n_heads; h++) {
                const float *o = out + (b * Tq + t) * qw + h * hd;
                if (t >= q_len[b]) {
                    for (int c = 0; c < hd; c++) pad_zero &= o[c] == 0.0f;
                    continue;
                }
                double want[3];
                naive_attention(want, &a, b, t, h);
                for (int c = 0; c < hd; c++) worst = fmax(worst, fabs(want[c] - o[c]));
            }
    CHECK(worst <= 1e-5, "%s: forward differs from the definition by %.3g", what, worst);
    CHECK(pad_zero, "%s: padding query rows are not zero", what);

    int64_t off_k = a.k - kv, off_v = a.v - kv;
    CHECK(attn_attention_backward_args(dq, dkv + off_k, dkv + off_v, R, out, lse, &a) == 0, "%s", attn_last_error());
    /* every element of both buffers: padding elements must get (and show) no gradient */
    double fd_worst = 0;
    for (int buf = 0; buf < (cross ? 2 : 1); buf++) {
        float *x = buf ? kv : q, *dx = buf ? dkv : dq;
        for (int64_t i = 0; i < (buf ? nkv : nq); i++) {
            float keep = x[i], h = 1e-2f;
            x[i] = keep + h;
            double up = weighted_out(&a, out, lse, R, no);
            x[i] = keep - h;
            double down = weighted_out(&a, out, lse, R, no);
            x[i] = keep;
            double fd = (up - down) / (2.0 * h);
            fd_worst = fmax(fd_worst, fabs(fd - dx[i]) / (1e-2 + fabs(fd)));
        }
    }
    CHECK(fd_worst <= 1e-2, "%s: backward vs finite differences: worst relative error %.3g", what, fd_worst);
    free(q), free(dq), free(out), free(lse), free(R);
    if (cross) free(kv), free(dkv);
}

static void test_attention_masks(void) {
    for (int threads = 1; threads <= 2; threads++) {
        attn_threads_init(threads);
        check_attention_case(false, false, 2, 2, "encoder self-attention");
        check_attention_case(false, true, 2, 2, "decoder self-attention");
        check_attention_case(true, false, 2, 2, "cross-attention");
        check_attention_case(true, false, 4, 2, "grouped cross-attention");
        check_attention_case(false, true, 4, 1, "grouped causal self-attention");
    }
}

/* ---- The PyTorch fixture ---- */

typedef struct {
    json_t *exp;
    int32_t *mem;
    attn_encdec_batch b;
} fixture;

/* A [rows][cols] JSON array of ints into dst; returns cols (all rows alike). */
static int64_t read_rows(json_t *a, int32_t *dst) {
    int64_t cols = (int64_t)json_array_size(json_array_get(a, 0));
    for (size_t r = 0; r < json_array_size(a); r++)
        for (int64_t c = 0; c < cols; c++)
            dst[r * cols + c] = (int32_t)json_integer_value(json_array_get(json_array_get(a, r), c));
    return cols;
}

static void read_list(json_t *a, int32_t *dst) {
    for (size_t i = 0; i < json_array_size(a); i++) dst[i] = (int32_t)json_integer_value(json_array_get(a, i));
}

static int load_fixture(fixture *f, const char *dir) {
    char path[256];
    snprintf(path, sizeof path, "%s/expected.json", dir);
    json_error_t err;
    f->exp = json_load_file(path, 0, &err);
    CHECK(f->exp != NULL, "%s: %s", path, err.text);
    if (!f->exp) return -1;
    int64_t B = (int64_t)json_array_size(json_object_get(f->exp, "src_len"));
    f->mem = calloc(1024, sizeof *f->mem);
    int32_t *src = f->mem, *tin = src + 256, *tout = tin + 256, *sl = tout + 256, *tl = sl + 128;
    int64_t S = read_rows(json_object_get(f->exp, "src_ids"), src);
    int64_t T = read_rows(json_object_get(f->exp, "tgt_in"), tin);
    read_rows(json_object_get(f->exp, "tgt_out"), tout);
    read_list(json_object_get(f->exp, "src_len"), sl);
    read_list(json_object_get(f->exp, "tgt_len"), tl);
    f->b = (attn_encdec_batch){.B = B, .S = S, .T = T, .src = src, .src_len = sl, .tgt_in = tin, .tgt_out = tout,
                               .tgt_len = tl};
    return 0;
}

static double jnum(json_t *o, const char *key) { return json_number_value(json_object_get(o, key)); }

static double worst_loss_rel, worst_grad;

/* Every parameter gradient against PyTorch's. */
static void check_grads(attn_encdec *m, const attn_safetensors *grads, const char *what) {
    int n;
    const attn_param *ps = attn_encdec_params(m, &n);
    CHECK(n == attn_safetensors_count(grads), "%s: %d parameters, PyTorch has %d", what, n,
          attn_safetensors_count(grads));
    for (int i = 0; i < n; i++) {
        const attn_st_tensor *t = attn_safetensors_find(grads, ps[i].name);
        CHECK(t && t->nbytes == (size_t)ps[i].numel * 4, "%s: no PyTorch gradient for %s", what, ps[i].name);
        if (!t || t->nbytes != (size_t)ps[i].numel * 4) continue;
        const float *want = t->data;
        double worst = 0;
        int64_t at = 0;
        for (int64_t k = 0; k < ps[i].numel; k++) {
            double d = fabs((double)ps[i].grad[k] - want[k]);
            if (d > worst || d != d) worst = d, at = k;
        }
        CHECK(worst <= GRAD_TOL, "%s: %s worst |dgrad| %.3g at [%lld] (attn %.9g, torch %.9g)", what, ps[i].name,
              worst, (long long)at, ps[i].grad[at], want[at]);
        worst_grad = fmax(worst_grad, worst);
    }
}

static void check_loss(double got, double want, const char *what) {
    double rel = fabs(got - want) / fabs(want);
    CHECK(rel <= LOSS_RTOL, "%s: loss %.9g, PyTorch %.9g (relative %.3g)", what, got, want, rel);
    if (rel > worst_loss_rel || rel != rel) worst_loss_rel = rel;
}

/* The incremental decoder (one token per step, cached keys and values) gives the training
 * forward's logits on every target position. */
static void check_incremental_decoder(attn_encdec *m, const attn_encdec_batch *b, const char *what) {
    int64_t V = attn_encdec_get_config(m)->vocab, n = b->B * b->T * V;
    float loss, *want = malloc(n * sizeof *want), *got = malloc(n * sizeof *got);
    attn_encdec_batch nt = *b;
    nt.tgt_out = NULL;
    CHECK(attn_encdec_forward(m, &nt, &loss) == 0, "%s", attn_last_error());
    memcpy(want, attn_encdec_logits(m), n * sizeof *want);
    CHECK(attn_encdec_decoder_logits(m, b, got) == 0, "%s", attn_last_error());
    double worst = 0;
    for (int64_t r = 0; r < b->B; r++)
        for (int64_t t = 0; t < b->tgt_len[r]; t++)
            for (int64_t v = 0; v < V; v++) {
                int64_t i = (r * b->T + t) * V + v;
                worst = fmax(worst, fabs(got[i] - want[i]));
            }
    CHECK(worst <= 1e-4, "%s: incremental decoder logits differ from the training forward by %.3g", what, worst);
    printf("%s: incremental decoder vs training forward: max |dlogit| %.2g\n", what, worst);
    free(want), free(got);
}

/* Beam search with one hypothesis makes greedy's choices, token for token. */
static void check_beam1_is_greedy(attn_encdec *m, const char *what) {
    enum { N = 6, CAP = 64 };
    int32_t srcs[N][12], src_n[N], greedy[N * CAP], beam[N * CAP], gn[N], bn[N];
    const int32_t *src[N];
    attn_rng r;
    attn_rng_seed(&r, 5);
    int64_t V = attn_encdec_get_config(m)->vocab;
    for (int i = 0; i < N; i++) {
        src_n[i] = 1 + i * 2, src[i] = srcs[i];
        for (int k = 0; k < src_n[i]; k++) srcs[i][k] = 3 + (int32_t)(attn_rng_next(&r) % (uint64_t)(V - 3));
    }
    attn_encdec_search s = {.beam = 1, .alpha = 0.6f, .max_extra = 4};
    CHECK(attn_encdec_greedy(m, N, src, src_n, s.max_extra, greedy, CAP, gn) == 0, "%s", attn_last_error());
    CHECK(attn_encdec_beam(m, N, src, src_n, &s, beam, CAP, bn, NULL) == 0, "%s", attn_last_error());
    int same = 0, at_limit = 0;
    for (int i = 0; i < N; i++) {
        same += gn[i] == bn[i] && memcmp(greedy + i * CAP, beam + i * CAP, sizeof(int32_t) * gn[i]) == 0;
        at_limit += gn[i] == src_n[i] + s.max_extra;
    }
    CHECK(same == N, "%s: beam 1 differs from greedy on %d of %d sentences", what, N - same, N);
    printf("%s: beam 1 = greedy on %d sentences (%d cut at the length limit)\n", what, same, at_limit);
}

static void test_fixture(const char *variant) {
    char dir[128], path[160];
    snprintf(dir, sizeof dir, FIX "/%s", variant);
    fixture f = {0};
    if (load_fixture(&f, dir)) return;
    snprintf(path, sizeof path, "%s/grads.safetensors", dir);
    attn_safetensors *grads = attn_safetensors_open(path);
    attn_encdec *m = attn_encdec_load(dir, f.b.B, f.b.S, f.b.T);
    CHECK(grads && m, "%s: %s", dir, attn_last_error());
    if (!grads || !m) goto done;
    CHECK(attn_encdec_get_config(m)->pre_ln == (strcmp(variant, "pre") == 0), "%s: norm_first not read", dir);
    attn_encdec_options(m)->label_smoothing = (float)jnum(f.exp, "smoothing");
    for (int isa = 0; isa < ATTN_ISA_COUNT; isa++) {
        if (!attn_isa_supported((attn_isa)isa)) continue;
        attn_isa_set((attn_isa)isa);
        for (int threads = 1; threads <= 2; threads++) {
            attn_threads_init(threads);
            char what[96];
            snprintf(what, sizeof what, "%s %s %dt", variant, attn_isa_name((attn_isa)isa), threads);
            float loss;
            if (threads == 1) attn_encdec_zero_grad(m);
            else { /* discarded gradients are written, never read: NaNs left in them must not show */
                float *g = attn_encdec_grad(m);
                for (int64_t i = 0; i < attn_encdec_numel(m); i++) g[i] = NAN;
                attn_encdec_discard_grad(m);
            }
            CHECK(attn_encdec_forward(m, &f.b, &loss) == 0, "%s: %s", what, attn_last_error());
            check_loss(loss, jnum(f.exp, "loss"), what);
            CHECK(attn_encdec_backward(m, 1.0f) == 0, "%s: %s", what, attn_last_error());
            check_grads(m, grads, what);
        }
    }
    attn_isa_set(attn_isa_best());
    attn_threads_init(2);
    /* without smoothing, and with every padding position holding another id: the same loss */
    attn_encdec_options(m)->label_smoothing = 0.0f;
    int32_t src[256], tin[256];
    memcpy(src, f.b.src, sizeof(int32_t) * f.b.B * f.b.S), memcpy(tin, f.b.tgt_in, sizeof(int32_t) * f.b.B * f.b.T);
    for (int64_t b = 0; b < f.b.B; b++) {
        for (int64_t s = f.b.src_len[b]; s < f.b.S; s++) src[b * f.b.S + s] = 5;
        for (int64_t t = f.b.tgt_len[b]; t < f.b.T; t++) tin[b * f.b.T + t] = 7;
    }
    attn_encdec_batch other = f.b;
    other.src = src, other.tgt_in = tin;
    float loss;
    CHECK(attn_encdec_forward(m, &other, &loss) == 0, "%s", attn_last_error());
    check_loss(loss, jnum(f.exp, "loss_unsmoothed"), "no smoothing, other padding ids");
    check_incremental_decoder(m, &f.b, variant);
    check_beam1_is_greedy(m, variant);
done:
    attn_encdec_free(m);
    attn_safetensors_close(grads);
    json_decref(f.exp);
    free(f.mem);
}

/* ---- Finite differences and bad input ---- */

static attn_encdec_config tiny_config(bool pre_ln) {
    attn_encdec_config c;
    attn_encdec_config_defaults(&c);
    c.vocab = 11, c.d_model = 8, c.n_heads = 2, c.d_ff = 12, c.n_encoder_layers = c.n_decoder_layers = 1;
    c.max_len = 8, c.pre_ln = pre_ln;
    return c;
}

/* Two pairs of different lengths: padding in both the source and the target. */
static const int32_t fd_src0[] = {3, 4, 5, 6}, fd_src1[] = {7}, fd_tgt0[] = {8}, fd_tgt1[] = {9, 10, 3};
static const int32_t *fd_src[] = {fd_src0, fd_src1}, *fd_tgt[] = {fd_tgt0, fd_tgt1};
static const int32_t fd_src_n[] = {4, 1}, fd_tgt_n[] = {1, 3};

static double fd_loss(attn_encdec *m, const attn_encdec_batch *b) {
    float loss;
    attn_encdec_options(m)->seed = 77; /* the same dropout masks for every evaluation */
    CHECK(attn_encdec_forward(m, b, &loss) == 0, "%s", attn_last_error());
    return loss;
}

static void check_finite_differences(bool pre_ln) {
    attn_encdec_config c = tiny_config(pre_ln);
    attn_encdec_batch_buf buf = {0};
    CHECK(attn_encdec_batch_build(&buf, &c, 2, fd_src, fd_src_n, fd_tgt, fd_tgt_n) == 0, "%s", attn_last_error());
    attn_encdec *m = attn_encdec_new(&c, 4, buf.b.B, buf.b.S, buf.b.T);
    CHECK(m != NULL, "%s", attn_last_error());
    if (!m) return;
    attn_encdec_options(m)->dropout = 0.2f;
    attn_rng r;
    attn_rng_seed(&r, 3);
    int n;
    const attn_param *ps = attn_encdec_params(m, &n);
    for (int i = 0; i < n; i++) /* larger than the init, so every path carries gradient */
        for (int64_t k = 0; k < ps[i].numel; k++) ps[i].data[k] += 0.3f * attn_rng_normal(&r);
    fd_loss(m, &buf.b);
    attn_encdec_zero_grad(m);
    CHECK(attn_encdec_backward(m, 1.0f) == 0, "%s", attn_last_error());
    double worst = 0;
    int kinks = 0;
    for (int i = 0; i < n; i++)
        for (int probe = 0; probe < 3; probe++) {
            int64_t k = (int64_t)(attn_rng_next(&r) % (uint64_t)ps[i].numel);
            double fd[2];
            for (int s = 0; s < 2; s++) { /* central differences with steps h and 2h */
                float keep = ps[i].data[k], h = 2e-3f * (float)(1 + s);
                ps[i].data[k] = keep + h;
                double up = fd_loss(m, &buf.b);
                ps[i].data[k] = keep - h;
                double down = fd_loss(m, &buf.b);
                ps[i].data[k] = keep;
                fd[s] = (up - down) / (2.0 * h);
            }
            /* smooth: both agree to O(h²); a ReLU input crossing 0 within ±2h bends the loss: skip */
            if (fabs(fd[0] - fd[1]) > 0.05 * fabs(fd[0]) + 1e-3) {
                kinks++;
                continue;
            }
            double an = ps[i].grad[k], err = fabs(fd[0] - an) / (1e-2 + fabs(an));
            worst = fmax(worst, err);
            CHECK(err <= 2e-2, "%s finite difference %s[%lld]: analytic %.6g, numeric %.6g", pre_ln ? "pre" : "post",
                  ps[i].name, (long long)k, an, fd[0]);
        }
    CHECK(kinks <= 3 * n / 10, "%d of %d probes sat on a kink", kinks, 3 * n);
    printf("finite differences (%s-LN, dropout 0.2, smoothing 0.1, padding): worst relative error %.2g (%d of %d "
           "probes skipped at a ReLU kink)\n", pre_ln ? "pre" : "post", worst, kinks, 3 * n);
    /* dropout draws differ between seeds; evaluation has none */
    float a, b;
    attn_encdec_options(m)->seed = 1;
    attn_encdec_forward(m, &buf.b, &a);
    attn_encdec_options(m)->seed = 1;
    attn_encdec_forward(m, &buf.b, &b);
    CHECK(a == b, "one dropout seed, two losses: %.9g %.9g", a, b);
    attn_encdec_forward(m, &buf.b, &b);
    CHECK(a != b, "dropout 0.2 changed nothing");
    attn_encdec_options(m)->training = false;
    attn_encdec_forward(m, &buf.b, &a);
    attn_encdec_forward(m, &buf.b, &b);
    CHECK(a == b, "evaluation is not deterministic");
    attn_encdec_batch_free(&buf);
    attn_encdec_free(m);
}

static void test_bad_input(void) {
    attn_encdec_config c = tiny_config(false);
    attn_encdec_batch_buf buf = {0};
    attn_encdec_batch_build(&buf, &c, 2, fd_src, fd_src_n, fd_tgt, fd_tgt_n);
    attn_encdec *m = attn_encdec_new(&c, 1, 2, buf.b.S, buf.b.T);
    CHECK(m != NULL, "%s", attn_last_error());
    if (!m) return;
    float loss;
    attn_encdec_batch b = buf.b;
    int32_t src[16], lens[2] = {5, 2};
    memcpy(src, b.src, sizeof(int32_t) * b.B * b.S);
    b.src = src;
    src[1] = 11;
    CHECK(attn_encdec_forward(m, &b, &loss) == -1 && strstr(attn_last_error(), "vocabulary"), "token 11 accepted: %s",
          attn_last_error());
    CHECK(attn_encdec_backward(m, 1.0f) == -1, "backward after a failed forward");
    src[1] = 4, src[b.S + 3] = 99; /* past row 1's length: padding, never read */
    CHECK(attn_encdec_forward(m, &b, &loss) == 0, "an id in the padding was read: %s", attn_last_error());
    b.src_len = lens, lens[0] = 0;
    CHECK(attn_encdec_forward(m, &b, &loss) == -1 && strstr(attn_last_error(), "length"), "length 0: %s",
          attn_last_error());
    lens[0] = (int32_t)b.S + 1;
    CHECK(attn_encdec_forward(m, &b, &loss) == -1, "a length past the padded width accepted");
    b = buf.b, b.B = 3;
    CHECK(attn_encdec_forward(m, &b, &loss) == -1 && strstr(attn_last_error(), "planned"), "a batch past the plan: %s",
          attn_last_error());
    attn_encdec_free(m);
    attn_encdec_batch_free(&buf);
    c.n_heads = 3;
    CHECK(attn_encdec_new(&c, 1, 1, 4, 4) == NULL && strstr(attn_last_error(), "heads"), "8 wide, 3 heads");
    c = tiny_config(false), c.bos_id = 11;
    CHECK(attn_encdec_new(&c, 1, 1, 4, 4) == NULL, "BOS outside the vocabulary accepted");
    c = tiny_config(false);
    CHECK(attn_encdec_new(&c, 1, 1, 9, 4) == NULL, "a source longer than max_len accepted");
    CHECK(attn_encdec_load("tests/fixtures/train/model", 1, 4, 4) == NULL && strstr(attn_last_error(), "model_type"),
          "a GPT-2 folder loaded as an encoder-decoder: %s", attn_last_error());
    /* a source too long for the model is an error naming it, not a crash */
    m = attn_encdec_new(&c, 1, 1, 8, 8);
    int32_t long_src[9] = {3, 3, 3, 3, 3, 3, 3, 3, 3}, n9 = 9, out[16], out_n;
    const int32_t *ls = long_src;
    CHECK(m && attn_encdec_greedy(m, 1, &ls, &n9, 50, out, 16, &out_n) == -1 && strstr(attn_last_error(), "sentence 0"),
          "a 9-token source (max_len 8) accepted: %s", attn_last_error());
    int32_t n1 = 1;
    CHECK(m && attn_encdec_greedy(m, 1, &ls, &n1, 50, out, 0, &out_n) == -1, "no room for the output accepted");
    attn_encdec_free(m);
}

/* ---- Batching, averaging, schedule ---- */

static void test_token_batches(void) {
    enum { N = 500, MAX_TOKENS = 256, MAX_SENTENCES = 32 };
    int32_t src_n[N], tgt_n[N];
    int order[N], starts[N + 1], order2[N], starts2[N + 1], nb, nb2, seen[N] = {0};
    attn_rng r;
    attn_rng_seed(&r, 8);
    int64_t real = 0, padded = 0;
    for (int i = 0; i < N; i++) {
        src_n[i] = (int32_t)(attn_rng_next(&r) % 40), tgt_n[i] = (int32_t)(attn_rng_next(&r) % 40);
        real += src_n[i] + 1;
    }
    CHECK(attn_encdec_token_batches(N, src_n, tgt_n, MAX_TOKENS, MAX_SENTENCES, 1, order, starts, &nb) == 0, "%s",
          attn_last_error());
    bool within = true, sorted = true;
    for (int b = 0; b < nb; b++) {
        int count = starts[b + 1] - starts[b];
        int64_t widest = 0;
        for (int k = starts[b]; k < starts[b + 1]; k++) {
            int i = order[k];
            seen[i]++;
            widest = ATTN_MAX(widest, (int64_t)ATTN_MAX(src_n[i], tgt_n[i]) + 1);
            if (k > starts[b]) sorted &= src_n[order[k - 1]] <= src_n[i];
        }
        within &= count >= 1 && count <= MAX_SENTENCES && count * widest <= MAX_TOKENS;
        int64_t S = 0;
        for (int k = starts[b]; k < starts[b + 1]; k++) S = ATTN_MAX(S, (int64_t)src_n[order[k]] + 1);
        padded += count * S;
    }
    int once = 0;
    for (int i = 0; i < N; i++) once += seen[i] == 1;
    CHECK(once == N && starts[nb] == N, "token batches: %d of %d pairs appear exactly once", once, N);
    CHECK(within, "token batches: a batch exceeds %d tokens or %d sentences", MAX_TOKENS, MAX_SENTENCES);
    CHECK(sorted, "token batches: a batch is not sorted by source length");
    CHECK(padded < real * 11 / 10, "token batches: %lld padded source tokens for %lld real", (long long)padded,
          (long long)real);
    CHECK(attn_encdec_token_batches(N, src_n, tgt_n, MAX_TOKENS, MAX_SENTENCES, 1, order2, starts2, &nb2) == 0 &&
              nb2 == nb && memcmp(order, order2, sizeof order) == 0,
          "token batches: one seed, two orders");
    CHECK(attn_encdec_token_batches(N, src_n, tgt_n, MAX_TOKENS, MAX_SENTENCES, 2, order2, starts2, &nb2) == 0 &&
              memcmp(order, order2, sizeof order) != 0,
          "token batches: the seed does not shuffle");
    src_n[7] = 300;
    CHECK(attn_encdec_token_batches(N, src_n, tgt_n, MAX_TOKENS, MAX_SENTENCES, 1, order, starts, &nb) == -1,
          "a pair wider than a batch accepted");
    printf("token batches: %d pairs in %d batches, %.1f%% of source tokens padding\n", N, nb,
           100.0 * (double)(padded - real) / (double)padded);
}

static void remove_model_dir(const char *dir) {
    char path[128];
    snprintf(path, sizeof path, "%s/model.safetensors", dir), unlink(path);
    snprintf(path, sizeof path, "%s/config.json", dir), unlink(path);
    rmdir(dir);
}

static void test_average(void) {
    attn_encdec_config c = tiny_config(false);
    char dirs[3][32] = {"/tmp/attn_avg_a_XXXXXX", "/tmp/attn_avg_b_XXXXXX", "/tmp/attn_avg_o_XXXXXX"};
    for (int i = 0; i < 3; i++) CHECK(mkdtemp(dirs[i]) != NULL, "mkdtemp");
    attn_encdec *a = attn_encdec_new(&c, 1, 1, 4, 4), *b = attn_encdec_new(&c, 2, 1, 4, 4);
    CHECK(a && b && attn_encdec_save(a, dirs[0]) == 0 && attn_encdec_save(b, dirs[1]) == 0, "%s", attn_last_error());
    const char *ins[] = {dirs[0], dirs[1]};
    CHECK(attn_encdec_average(ins, 2, dirs[2]) == 0, "%s", attn_last_error());
    attn_encdec *avg = attn_encdec_load(dirs[2], 1, 4, 4);
    CHECK(avg != NULL, "%s", attn_last_error());
    double worst = 0;
    if (avg && a && b) {
        int n;
        const float *pa = attn_encdec_params(a, &n)[0].data, *pb = attn_encdec_params(b, &n)[0].data;
        const float *pm = attn_encdec_params(avg, &n)[0].data; /* parameter 0 starts the flat buffer */
        for (int64_t i = 0; i < attn_encdec_numel(avg); i++)
            worst = fmax(worst, fabs(pm[i] - 0.5 * ((double)pa[i] + pb[i])));
    }
    CHECK(worst <= 1e-7, "average: %.3g from the mean", worst);
    attn_encdec_free(avg);
    c.d_ff = 16; /* another shape is refused */
    attn_encdec *other = attn_encdec_new(&c, 3, 1, 4, 4);
    CHECK(other && attn_encdec_save(other, dirs[1]) == 0, "%s", attn_last_error());
    CHECK(attn_encdec_average(ins, 2, dirs[2]) == -1 && strstr(attn_last_error(), "another width"),
          "averaging two shapes: %s", attn_last_error());
    attn_encdec_free(other), attn_encdec_free(a), attn_encdec_free(b);
    for (int i = 0; i < 3; i++) remove_model_dir(dirs[i]);
}

static void test_noam_schedule(void) {
    /* the paper's base model: d 512, warmup 4000 */
    CHECK_NEAR(attn_encdec_noam_lr(512, 1, 4000, 1.0f), 1.7469e-7, 1e-10, "step 1");
    CHECK_NEAR(attn_encdec_noam_lr(512, 4000, 4000, 1.0f), 6.98771e-4, 1e-8, "peak at the warmup's end");
    CHECK_NEAR(attn_encdec_noam_lr(512, 16000, 4000, 2.0f), 2 * 3.49386e-4, 1e-8, "inverse square root decay x2");
    CHECK(attn_encdec_noam_lr(512, 3999, 4000, 1.0f) < attn_encdec_noam_lr(512, 4000, 4000, 1.0f) &&
              attn_encdec_noam_lr(512, 4001, 4000, 1.0f) < attn_encdec_noam_lr(512, 4000, 4000, 1.0f),
          "the peak is at step = warmup");
}

/* ---- The copy task ---- */

enum { COPY_V = 16, COPY_MAX = 10, COPY_BATCH = 64, COPY_EVAL = 200, COPY_CAP = 64 };

/* n random sequences of 1..COPY_MAX symbols (ids 3..V-1: 0, 1, 2 are PAD, BOS, EOS). */
static void random_sequences(attn_rng *r, int n, int32_t (*seq)[COPY_MAX], int32_t *len, const int32_t **rows) {
    for (int i = 0; i < n; i++) {
        len[i] = 1 + (int32_t)(attn_rng_next(r) % COPY_MAX), rows[i] = seq[i];
        for (int k = 0; k < len[i]; k++) seq[i][k] = 3 + (int32_t)(attn_rng_next(r) % (COPY_V - 3));
    }
}

/* Exact-match rate of outputs against the sources themselves. */
static double copy_accuracy(const int32_t *out, const int32_t *out_n, int32_t (*seq)[COPY_MAX], const int32_t *len,
                            int n) {
    int ok = 0;
    for (int i = 0; i < n; i++)
        ok += out_n[i] == len[i] && memcmp(out + i * COPY_CAP, seq[i], sizeof(int32_t) * len[i]) == 0;
    return ok / (double)n;
}

/* Sentences whose outputs (the first out_n ids of each row) agree. */
static int same_outputs(const int32_t *a, const int32_t *a_n, const int32_t *b, const int32_t *b_n, int n) {
    int same = 0;
    for (int i = 0; i < n; i++) same += a_n[i] == b_n[i] && memcmp(a + i * COPY_CAP, b + i * COPY_CAP, 4 * a_n[i]) == 0;
    return same;
}

static double greedy_accuracy(attn_encdec *m, int32_t (*seq)[COPY_MAX], const int32_t *len, const int32_t **rows,
                              int32_t *out, int32_t *out_n) {
    CHECK(attn_encdec_greedy(m, COPY_EVAL, rows, len, 50, out, COPY_CAP, out_n) == 0, "%s", attn_last_error());
    return copy_accuracy(out, out_n, seq, len, COPY_EVAL);
}

/* The paper's recipe at toy size: post-LN, Adam (0.9, 0.98, 1e-9), its warmup schedule,
 * label smoothing 0.1; fresh random batches each step, greedy evaluation every 100 steps
 * on held-out sequences until 99% are copied exactly. */
static void test_copy_task(void) {
    attn_encdec_config c;
    attn_encdec_config_defaults(&c);
    c.vocab = COPY_V, c.d_model = 32, c.n_heads = 4, c.d_ff = 64, c.n_encoder_layers = c.n_decoder_layers = 2;
    c.max_len = COPY_CAP;
    attn_encdec *m = attn_encdec_new(&c, 1, COPY_BATCH, COPY_MAX + 1, COPY_MAX + 1);
    CHECK(m != NULL, "%s", attn_last_error());
    if (!m) return;
    attn_encdec_options(m)->dropout = 0.0f;
    attn_adamw_config oc = {.lr = 0, .beta1 = 0.9f, .beta2 = 0.98f, .eps = 1e-9f, .weight_decay = 0.0f};
    attn_adamw *opt = attn_adamw_new(attn_encdec_numel(m), &oc);
    int np;
    const attn_param *ps = attn_encdec_params(m, &np);
    static int32_t seq[COPY_BATCH][COPY_MAX], len[COPY_BATCH], eseq[COPY_EVAL][COPY_MAX], elen[COPY_EVAL];
    static int32_t out[COPY_EVAL * COPY_CAP], out_n[COPY_EVAL], out2[COPY_EVAL * COPY_CAP], out2_n[COPY_EVAL];
    const int32_t *rows[COPY_BATCH], *erows[COPY_EVAL];
    attn_rng r, er;
    attn_rng_seed(&r, 1), attn_rng_seed(&er, 999);
    random_sequences(&er, COPY_EVAL, eseq, elen, erows);
    attn_encdec_batch_buf buf = {0};
    double t0 = attn_time_s(), acc = 0;
    int step = 0;
    float loss = NAN;
    while (step < 1500 && acc < 0.99) {
        random_sequences(&r, COPY_BATCH, seq, len, rows);
        CHECK(attn_encdec_batch_build(&buf, &c, COPY_BATCH, rows, len, rows, len) == 0, "%s", attn_last_error());
        attn_encdec_discard_grad(m);
        if (attn_encdec_forward(m, &buf.b, &loss) || attn_encdec_backward(m, 1.0f)) {
            CHECK(0, "copy step %d: %s", step, attn_last_error());
            break;
        }
        float scale = attn_clip_scale(attn_grad_norm(ps, np), 1.0f);
        attn_adamw_step(opt, ps, np, attn_encdec_noam_lr(c.d_model, ++step, 100, 1.0f), scale);
        if (step % 100 == 0) acc = greedy_accuracy(m, eseq, elen, erows, out, out_n);
    }
    double dt = attn_time_s() - t0;
    CHECK(acc >= 0.99, "copy task: %.1f%% exact after %d steps", 100 * acc, step);
#ifndef __SANITIZE_ADDRESS__ /* ASan runs it several times slower */
    CHECK(dt <= 60.0, "copy task: %.1f s to reach %.1f%%", dt, 100 * acc);
#endif
    printf("copy task: %lld params, %.1f%% exact (greedy) after %d steps of %d pairs, loss %.3f, %.1f s on %d threads\n",
           (long long)attn_encdec_numel(m), 100 * acc, step, COPY_BATCH, loss, dt, attn_threads_count());

    attn_encdec_search s = attn_encdec_search_defaults();
    CHECK(attn_encdec_beam(m, COPY_EVAL, erows, elen, &s, out2, COPY_CAP, out2_n, NULL) == 0, "%s", attn_last_error());
    double beam_acc = copy_accuracy(out2, out2_n, eseq, elen, COPY_EVAL);
    CHECK(beam_acc >= 0.99, "copy task: beam 4 copies %.1f%%", 100 * beam_acc);
    s.beam = 1;
    CHECK(attn_encdec_beam(m, COPY_EVAL, erows, elen, &s, out2, COPY_CAP, out2_n, NULL) == 0, "%s", attn_last_error());
    int same = same_outputs(out, out_n, out2, out2_n, COPY_EVAL);
    CHECK(same == COPY_EVAL, "copy task: beam 1 differs from greedy on %d sentences", COPY_EVAL - same);
    printf("copy task: beam 4 %.1f%% exact; beam 1 = greedy on %d sentences\n", 100 * beam_acc, COPY_EVAL);

    /* saved and loaded: the same weights and translations */
    char dir[] = "/tmp/attn_test_encdec_XXXXXX", path[96];
    CHECK(mkdtemp(dir) != NULL, "mkdtemp");
    CHECK(attn_encdec_save(m, dir) == 0, "%s", attn_last_error());
    attn_encdec *back = attn_encdec_load(dir, 8, COPY_MAX + 1, COPY_MAX + 1);
    CHECK(back != NULL, "%s", attn_last_error());
    if (back) {
        CHECK(attn_encdec_numel(back) == attn_encdec_numel(m) &&
                  memcmp(attn_encdec_params(back, &np)[0].data, ps[0].data, attn_encdec_numel(m) * 4) == 0,
              "reloaded weights differ");
        double again = greedy_accuracy(back, eseq, elen, erows, out2, out2_n);
        same = same_outputs(out, out_n, out2, out2_n, COPY_EVAL);
        CHECK(same == COPY_EVAL, "reloaded model translates %d sentences otherwise (%.3f)", COPY_EVAL - same, again);
    }
    attn_encdec_free(back);
    snprintf(path, sizeof path, "%s/model.safetensors", dir), unlink(path);
    snprintf(path, sizeof path, "%s/config.json", dir), unlink(path);
    rmdir(dir);
    attn_encdec_batch_free(&buf);
    attn_adamw_free(opt);
    attn_encdec_free(m);
}

int main(void) {
    attn_threads_init(2);
    test_attention_masks();
    test_fixture("post");
    test_fixture("pre");
    printf("vs PyTorch: worst loss relative diff %.2g, worst gradient |diff| %.2g\n", worst_loss_rel, worst_grad);
    check_finite_differences(false);
    check_finite_differences(true);
    test_bad_input();
    test_token_batches();
    test_average();
    test_noam_schedule();
    test_copy_task();
    return test_finish("test_encdec");
}
