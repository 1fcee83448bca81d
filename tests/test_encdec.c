/* test_encdec.c - the 2017 Transformer (encoder-decoder) against PyTorch and on a task.
 *   - attention with padding masks, causal and not, and cross-attention: the forward
 *     against a naive double-precision reference, the backward against finite
 *     differences, padding rows and keys shown not to matter;
 */
#include <stdlib.h>
#include "core/common.h"
#include "core/threadpool.h"
#include "generate/sampler.h"
#include "nn/attention_train.h"
#include "test.h"

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
    float *q = malloc(nq * 4), *kv = cross ? malloc(nkv * 4) : q, *dq = calloc(nq, 4), *dkv = cross ? calloc(nkv, 4) : dq;
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

int main(void) {
    attn_threads_init(2);
    test_attention_masks();
    return test_finish("test_encdec");
}
