/* attention_train.c - attention saving the log-sum-exp, and its backward (see
 * attention_train.h). Work is split by (sequence, key/value head): a unit owns the key and
 * value columns of its head, and the query columns of every query head that shares them,
 * so the backward's += into dK and dV never races and sums in a fixed order
 * (bit-identical for any thread count). Each head's products are whole-matrix GEMMs on
 * contiguous copies of the valid rows of Q, K, V (attn_gemm_serial), which skip the tiles
 * (or the parts of the reduction) a causal mask zeroes. The backward works
 * on transposed scores Sᵀ = K Qᵀ, so Pᵀ, dPᵀ and dSᵀ come straight out of GEMMs and feed
 * dV = Pᵀ dO and dK = dSᵀ Q without a Tq×Tk transpose, and dQ = dS K reads dSᵀ transposed
 * (the GEMM packs either layout); softmax backward uses D[t] = dO[t]·O[t] (= Σ_u P dP). */
#include "attention_train.h"

#include <math.h>
#include <string.h>
#include "core/common.h"
#include "core/gemm.h"
#include "core/kernels.h"
#include "core/matmul.h"
#include "core/threadpool.h"

#define WORK_SLOT 3 /* per-thread scratch slot for one unit's copies and products */

typedef struct {
    float *out, *lse_out, *dq, *dk, *dv; /* forward writes out and lse_out; backward dq, dk, dv */
    const float *dout, *o, *lse;
    const attn_attention_args *a;
    const attn_kernels *K;
} attn_train_job;

/* One thread's workspace, sized for the padded lengths (Tm = max(Tq, Tk)): contiguous copies
 * of a head's Q, K, V and dO ([Tm][hd], the GEMMs' operands; results go straight into the
 * outputs' columns), two [Tq][Tk] matrices, a [Tq] row, GEMM packing space. */
typedef struct {
    float *q, *k, *v, *dout, *s, *ds, *d, *gemm;
} workspace;

static size_t workspace_floats(int64_t Tq, int64_t Tk, int hd) {
    int64_t Tm = ATTN_MAX(Tq, Tk);
    return (size_t)(4 * Tm * hd + 2 * Tq * Tk + Tq) + attn_gemm_serial_scratch(Tm);
}

static workspace carve(float *base, int64_t Tq, int64_t Tk, int hd) {
    workspace w;
    int64_t Tm = ATTN_MAX(Tq, Tk);
    float **parts[] = {&w.q, &w.k, &w.v, &w.dout};
    for (int i = 0; i < 4; i++) *parts[i] = base + (int64_t)i * Tm * hd;
    w.s = base + 4 * Tm * hd, w.ds = w.s + Tq * Tk, w.d = w.ds + Tq * Tk, w.gemm = w.d + Tq;
    return w;
}

/* The valid query and key rows of sequence b. */
static int64_t q_rows(const attn_attention_args *a, int64_t b) { return a->q_len ? a->q_len[b] : a->Tq; }
static int64_t k_rows(const attn_attention_args *a, int64_t b) { return a->k_len ? a->k_len[b] : a->Tk; }

/* Keys query t sees: u < keys_seen(t); the first query that sees key u: first_query(u). */
static int64_t keys_seen(bool causal, int64_t t, int64_t tk) { return causal ? ATTN_MIN(t + 1, tk) : tk; }
static int64_t first_query(bool causal, int64_t u) { return causal ? u : 0; }

/* dst[n][hd] <- n rows with stride ld. */
static void gather(float *dst, const float *src, int64_t n, int64_t ld, int hd) {
    for (int64_t t = 0; t < n; t++) memcpy(dst + t * hd, src + t * ld, (size_t)hd * sizeof(float));
}

static attn_weight mat(const float *data, int64_t n_in, int64_t n_out, bool in_major) {
    return (attn_weight){.data = data, .dtype = ATTN_F32, .n_in = n_in, .n_out = n_out, .in_major = in_major};
}

/* c (+)= a · w on this thread (a [rows][n_in], or stored transposed [n_in][rows] when
 * a_trans; c's rows ldc apart, 0: n_out, so a head's columns of the output are written in
 * place). With a causal mask, `band` tells the GEMM which half of the product is wanted or
 * which operand is zero where, so it skips that half. */
static void product(float *c, int64_t ldc, const float *a, bool a_trans, int64_t rows, const attn_weight *w,
                    bool accumulate, bool causal, attn_gemm_band band, float *scratch) {
    attn_gemm g = {.c = c, .ldc = ldc, .M = rows, .N = w->n_out, .K = w->n_in, .a = a, .lda = a_trans ? rows : w->n_in,
                   .a_trans = a_trans, .b = w, .overwrite = !accumulate, .band = causal ? band : ATTN_BAND_NONE};
    attn_gemm_serial(&g, scratch);
}

/* Row t of the scores [tq][tk] -> probabilities over the keys it sees (the rest become 0),
 * and its log-sum-exp (of the scaled scores) into lse[t]. */
static void softmax_rows(float *p, float *lse, int64_t tq, int64_t tk, bool causal, float scale,
                         const attn_kernels *K) {
    for (int64_t t = 0; t < tq; t++) {
        float *row = p + t * tk;
        int64_t n = keys_seen(causal, t, tk);
        K->scale(row, scale, n);
        float max = K->max(row, n), sum = K->exp_sum(row, max, n);
        lse[t] = max + logf(sum);
        K->scale(row, 1.0f / sum, n);
        memset(row + n, 0, (size_t)(tk - n) * sizeof(float));
    }
}

static void forward_unit(const attn_train_job *j, int64_t b, int g, workspace *w) {
    const attn_attention_args *a = j->a;
    const attn_attention_shape *s = &a->shape;
    int hd = s->head_dim, group = s->n_heads / s->n_kv_heads;
    int64_t tq = q_rows(a, b), tk = k_rows(a, b), out_ld = (int64_t)s->n_heads * hd;
    gather(w->k, a->k + b * a->Tk * a->kv_ld + (int64_t)g * hd, tk, a->kv_ld, hd);
    gather(w->v, a->v + b * a->Tk * a->kv_ld + (int64_t)g * hd, tk, a->kv_ld, hd);
    attn_weight kt = mat(w->k, hd, tk, false), v = mat(w->v, tk, hd, true);
    for (int h = g * group; h < (g + 1) * group; h++) {
        float *out = j->out + b * a->Tq * out_ld + (int64_t)h * hd, *lse = j->lse_out + (b * s->n_heads + h) * a->Tq;
        gather(w->q, a->q + b * a->Tq * a->q_ld + (int64_t)h * hd, tq, a->q_ld, hd);
        product(w->s, 0, w->q, false, tq, &kt, false, a->causal, ATTN_BAND_C_LOWER, w->gemm); /* scores = Q K^T */
        softmax_rows(w->s, lse, tq, tk, a->causal, s->scale, j->K);
        product(out, out_ld, w->s, false, tq, &v, false, a->causal, ATTN_BAND_A_LOWER, w->gemm); /* out = P V */
        for (int64_t t = tq; t < a->Tq; t++) memset(out + t * out_ld, 0, (size_t)hd * sizeof(float));
        memset(lse + tq, 0, (size_t)(a->Tq - tq) * sizeof(float));
    }
}

static void forward_task(void *ctx, int64_t begin, int64_t end, int thread) {
    const attn_train_job *j = ctx;
    const attn_attention_args *a = j->a;
    workspace w = carve(attn_scratch(thread, WORK_SLOT, 0), a->Tq, a->Tk, a->shape.head_dim); /* reserved */
    for (int64_t i = begin; i < end; i++) forward_unit(j, i / a->shape.n_kv_heads, (int)(i % a->shape.n_kv_heads), &w);
}

static int reserve(const attn_attention_args *a) {
    if (attn_scratch_reserve(WORK_SLOT, workspace_floats(a->Tq, a->Tk, a->shape.head_dim)))
        return attn_error("out of memory for the attention workspace (Tq = %lld, Tk = %lld)", (long long)a->Tq,
                          (long long)a->Tk);
    return 0;
}

void attn_attention_forward_args(float *out, float *lse, const attn_attention_args *a) {
    attn_train_job j = {.out = out, .lse_out = lse, .a = a, .K = attn_kernels_get()};
    if (reserve(a) != 0) return; /* the tape's planned memory makes this unreachable */
    attn_parallel_for(a->B * a->shape.n_kv_heads, 1, forward_task, &j);
}

/* Sᵀ [tk][tq] (in place) -> Pᵀ: Pᵀ[u][t] = exp(scale·Sᵀ[u][t] - lse[t]) for the queries
 * that see key u, 0 for the rest. */
static void probs_transposed(float *st, const float *lse, int64_t tk, int64_t tq, bool causal, float scale,
                             const attn_kernels *K) {
    for (int64_t u = 0; u < tk; u++) {
        float *row = st + u * tq;
        int64_t t0 = ATTN_MIN(first_query(causal, u), tq);
        memset(row, 0, (size_t)t0 * sizeof(float));
        for (int64_t t = t0; t < tq; t++) row[t] = scale * row[t] - lse[t];
        K->exp_sum(row + t0, 0.0f, tq - t0);
    }
}

/* dPᵀ (in place) -> dSᵀ = Pᵀ ⊙ (dPᵀ - D[t]) · scale. */
static void softmax_backward_transposed(float *dpt, const float *pt, const float *d, int64_t tk, int64_t tq,
                                        bool causal, float scale) {
    for (int64_t u = 0; u < tk; u++) {
        float *row = dpt + u * tq;
        const float *p = pt + u * tq;
        int64_t t0 = ATTN_MIN(first_query(causal, u), tq);
        memset(row, 0, (size_t)t0 * sizeof(float));
        for (int64_t t = t0; t < tq; t++) row[t] = p[t] * (row[t] - d[t]) * scale;
    }
}

/* Head h's share of dQ, dK and dV, added in place into their columns (kv_at: where this
 * unit's key/value head starts in sequence b). */
static void backward_head(const attn_train_job *j, int64_t b, int h, int64_t tq, int64_t tk, int64_t kv_at,
                          workspace *w) {
    const attn_attention_args *a = j->a;
    const attn_attention_shape *s = &a->shape;
    int hd = s->head_dim;
    int64_t out_ld = (int64_t)s->n_heads * hd, at = b * a->Tq * out_ld + (int64_t)h * hd;
    const float *lse = j->lse + (b * s->n_heads + h) * a->Tq;
    gather(w->q, a->q + b * a->Tq * a->q_ld + (int64_t)h * hd, tq, a->q_ld, hd);
    gather(w->dout, j->dout + at, tq, out_ld, hd);
    for (int64_t t = 0; t < tq; t++) w->d[t] = j->K->dot(w->dout + t * hd, j->o + at + t * out_ld, hd);
    attn_weight qt = mat(w->q, hd, tq, false), q = mat(w->q, tq, hd, true);
    attn_weight doutt = mat(w->dout, hd, tq, false), dout = mat(w->dout, tq, hd, true), k = mat(w->k, tk, hd, true);
    product(w->s, 0, w->k, false, tk, &qt, false, a->causal, ATTN_BAND_C_UPPER, w->gemm);    /* Sᵀ = K Qᵀ */
    probs_transposed(w->s, lse, tk, tq, a->causal, s->scale, j->K);                     /* Pᵀ */
    if (j->dv) /* dV += Pᵀ dO */
        product(j->dv + kv_at, a->kv_ld, w->s, false, tk, &dout, true, a->causal, ATTN_BAND_A_UPPER, w->gemm);
    product(w->ds, 0, w->v, false, tk, &doutt, false, a->causal, ATTN_BAND_C_UPPER, w->gemm); /* dPᵀ = V dOᵀ */
    softmax_backward_transposed(w->ds, w->s, w->d, tk, tq, a->causal, s->scale);      /* dSᵀ */
    if (j->dk) /* dK += dSᵀ Q */
        product(j->dk + kv_at, a->kv_ld, w->ds, false, tk, &q, true, a->causal, ATTN_BAND_A_UPPER, w->gemm);
    if (j->dq) /* dQ += dS K */
        product(j->dq + b * a->Tq * a->q_ld + (int64_t)h * hd, a->q_ld, w->ds, true, tq, &k, true, a->causal,
                ATTN_BAND_A_LOWER, w->gemm);
}

static void backward_task(void *ctx, int64_t begin, int64_t end, int thread) {
    const attn_train_job *j = ctx;
    const attn_attention_args *a = j->a;
    int hd = a->shape.head_dim, G = a->shape.n_kv_heads, group = a->shape.n_heads / G;
    workspace w = carve(attn_scratch(thread, WORK_SLOT, 0), a->Tq, a->Tk, hd); /* reserved by the caller */
    for (int64_t i = begin; i < end; i++) {
        int64_t b = i / G, tq = q_rows(a, b), tk = k_rows(a, b), kv_at = b * a->Tk * a->kv_ld + (int64_t)(i % G) * hd;
        int g = (int)(i % G);
        gather(w.k, a->k + kv_at, tk, a->kv_ld, hd);
        gather(w.v, a->v + kv_at, tk, a->kv_ld, hd);
        for (int h = g * group; h < (g + 1) * group; h++) backward_head(j, b, h, tq, tk, kv_at, &w);
    }
}

int attn_attention_backward_args(float *dq, float *dk, float *dv, const float *dout, const float *out,
                                 const float *lse, const attn_attention_args *a) {
    if (!dq && !dk && !dv) return 0;
    if (reserve(a) != 0) return -1;
    attn_train_job j = {.dq = dq, .dk = dk, .dv = dv, .dout = dout, .o = out, .lse = lse, .a = a,
                        .K = attn_kernels_get()};
    attn_parallel_for(a->B * a->shape.n_kv_heads, 1, backward_task, &j);
    return 0;
}

/* ---- The fused layout ---- */

attn_attention_args attn_attention_fused(const float *qkv, int64_t B, int64_t T, const int32_t *lens, bool causal,
                                         const attn_attention_shape *s) {
    int64_t hd = s->head_dim, ld = (int64_t)(s->n_heads + 2 * s->n_kv_heads) * hd;
    return (attn_attention_args){.q = qkv, .k = qkv + s->n_heads * hd, .v = qkv + (s->n_heads + s->n_kv_heads) * hd,
                                 .q_ld = ld, .kv_ld = ld, .B = B, .Tq = T, .Tk = T, .q_len = lens, .k_len = lens,
                                 .causal = causal, .shape = *s};
}

void attn_attention_train_forward(float *out, float *lse, const float *qkv, int64_t B, int64_t T,
                                  const attn_attention_shape *shape) {
    attn_attention_args a = attn_attention_fused(qkv, B, T, NULL, true, shape);
    attn_attention_forward_args(out, lse, &a);
}

int attn_attention_backward(float *dqkv, const float *dout, const float *out, const float *qkv, const float *lse,
                            int64_t B, int64_t T, const attn_attention_shape *shape) {
    attn_attention_args a = attn_attention_fused(qkv, B, T, NULL, true, shape);
    int64_t off_k = a.k - a.q, off_v = a.v - a.q;
    return attn_attention_backward_args(dqkv, dqkv + off_k, dqkv + off_v, dout, out, lse, &a);
}
