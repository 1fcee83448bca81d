/* backward.c - training forwards and backwards of the shared layers (see backward.h).
 * Reductions over rows (weight and bias gradients) run serially in row order, so results
 * do not depend on the thread count; the elementwise and per-row work that dominates at
 * large sizes (GELU, cross-entropy over the vocabulary, the GEMMs) is split among threads. */
#include "backward.h"

#include <math.h>
#include <stdbool.h>
#include <string.h>
#include "core/gemm_acc.h"
#include "core/kernels.h"
#include "core/threadpool.h"
#include "layers.h"

/* ---- LayerNorm ---- */

/* Rows are independent: split among threads. The weight and bias gradients are split by
 * column instead, each summed over the rows in order, so no result depends on the thread
 * count. */
typedef struct {
    float *out, *mean, *rstd, *dx, *dw, *db;
    const float *x, *w, *b, *dout;
    const float *cmean, *crstd;
    int64_t rows, dim;
    float eps;
} ln_job;

static void ln_forward_task(void *ctx, int64_t r0, int64_t r1, int thread) {
    (void)thread;
    const ln_job *j = ctx;
    int64_t dim = j->dim;
    for (int64_t r = r0; r < r1; r++)
        attn_layernorm_row(j->out + r * dim, j->x + r * dim, j->w, j->b, dim, j->eps, &j->mean[r], &j->rstd[r]);
}

void attn_layernorm_train(float *out, float *mean, float *rstd, const float *x, const float *w, const float *b,
                          int64_t rows, int64_t dim, float eps) {
    ln_job j = {.out = out, .mean = mean, .rstd = rstd, .x = x, .w = w, .b = b, .dim = dim, .eps = eps};
    attn_parallel_for(rows, ATTN_MAX(1, 16384 / dim), ln_forward_task, &j);
}

/* With xhat = (x - mean)·rstd and g = w·dout:
 * dx = rstd · (g - mean(g) - xhat · mean(g · xhat)). */
static void ln_dx_task(void *ctx, int64_t r0, int64_t r1, int thread) {
    (void)thread;
    const ln_job *j = ctx;
    int64_t dim = j->dim;
    enum { LANES = 16 }; /* partial sums in a fixed order: independent chains that vectorize */
    for (int64_t r = r0; r < r1; r++) {
        const float *dy = j->dout + r * dim, *xr = j->x + r * dim, *w = j->w;
        float m = j->cmean[r], s = j->crstd[r], g_mean = 0, gx_mean = 0, *dx = j->dx + r * dim;
        float gs[LANES] = {0}, gxs[LANES] = {0};
        int64_t body = dim / LANES * LANES;
        for (int64_t i = 0; i < body; i += LANES)
            for (int l = 0; l < LANES; l++) {
                float g = w[i + l] * dy[i + l];
                gs[l] += g, gxs[l] += g * (xr[i + l] - m) * s;
            }
        for (int l = 0; l < LANES; l++) g_mean += gs[l], gx_mean += gxs[l];
        for (int64_t i = body; i < dim; i++) {
            float g = w[i] * dy[i];
            g_mean += g;
            gx_mean += g * (xr[i] - m) * s;
        }
        g_mean /= (float)dim, gx_mean /= (float)dim;
        for (int64_t i = 0; i < dim; i++) dx[i] += (w[i] * dy[i] - g_mean - (xr[i] - m) * s * gx_mean) * s;
    }
}

/* Columns [c0, c1) of dw and db, each summed over rows 0..rows-1 in order, LN_COLS columns
 * at a time with the running sums in registers (not stored back after every row). */
#define LN_COLS 16
static void ln_dwdb_task(void *ctx, int64_t c0, int64_t c1, int thread) {
    (void)thread;
    const ln_job *j = ctx;
    int64_t dim = j->dim;
    for (int64_t c = c0; c < c1; c += LN_COLS) {
        int64_t w = ATTN_MIN((int64_t)LN_COLS, c1 - c);
        float sdb[LN_COLS] = {0}, sdw[LN_COLS] = {0};
        for (int64_t i = 0; i < w; i++) {
            if (j->db) sdb[i] = j->db[c + i];
            if (j->dw) sdw[i] = j->dw[c + i];
        }
        for (int64_t r = 0; r < j->rows; r++) {
            const float *dy = j->dout + r * dim + c, *xr = j->x + r * dim + c;
            float m = j->cmean[r], s = j->crstd[r];
            if (w == LN_COLS)
                for (int i = 0; i < LN_COLS; i++) sdb[i] += dy[i], sdw[i] += (xr[i] - m) * s * dy[i];
            else
                for (int64_t i = 0; i < w; i++) sdb[i] += dy[i], sdw[i] += (xr[i] - m) * s * dy[i];
        }
        for (int64_t i = 0; i < w; i++) {
            if (j->db) j->db[c + i] = sdb[i];
            if (j->dw) j->dw[c + i] = sdw[i];
        }
    }
}

void attn_layernorm_backward(float *dx, float *dw, float *db, const float *dout, const float *x, const float *w,
                             const float *mean, const float *rstd, int64_t rows, int64_t dim) {
    ln_job j = {.dx = dx, .dw = dw, .db = db, .dout = dout, .x = x, .w = w, .cmean = mean, .crstd = rstd,
                .rows = rows, .dim = dim};
    if (dx) attn_parallel_for(rows, ATTN_MAX(1, 16384 / dim), ln_dx_task, &j);
    if (dw || db) attn_parallel_for(dim, 64, ln_dwdb_task, &j);
}

/* ---- Embeddings ---- */

void attn_embed_scaled_train(float *out, const int32_t *ids, const float *wte, float scale, const float *wpe,
                             int64_t B, int64_t T, int64_t C) {
    for (int64_t r = 0; r < B * T; r++) {
        float *o = out + r * C;
        const float *e = wte + (int64_t)ids[r] * C, *p = wpe ? wpe + (r % T) * C : NULL;
        for (int64_t i = 0; i < C; i++) o[i] = p ? scale * e[i] + p[i] : scale * e[i];
    }
}

typedef struct {
    float *dwte, *dwpe;
    const float *dout;
    const int32_t *ids;
    float scale;
    int64_t rows, T, C;
} embed_job;

/* Columns [c0, c1) for every row in order: a token that appears twice adds up in the same
 * order whatever the thread count. */
static void embed_backward_task(void *ctx, int64_t c0, int64_t c1, int thread) {
    (void)thread;
    const embed_job *j = ctx;
    const attn_kernels *K = attn_kernels_get();
    for (int64_t r = 0; r < j->rows; r++) {
        const float *d = j->dout + r * j->C + c0;
        if (j->dwte) K->axpy(j->dwte + (int64_t)j->ids[r] * j->C + c0, j->scale, d, c1 - c0);
        if (j->dwpe) K->axpy(j->dwpe + (r % j->T) * j->C + c0, 1.0f, d, c1 - c0);
    }
}

void attn_embed_scaled_backward(float *dwte, float *dwpe, const float *dout, const int32_t *ids, float scale,
                                int64_t B, int64_t T, int64_t C) {
    embed_job j = {.dwte = dwte, .dwpe = dwpe, .dout = dout, .ids = ids, .scale = scale, .rows = B * T, .T = T, .C = C};
    attn_parallel_for(C, 64, embed_backward_task, &j);
}

/* Unscaled: 1·e is e exactly, so GPT-2's embedding is the scaled one's special case. */
void attn_embed_train(float *out, const int32_t *ids, const float *wte, const float *wpe, int64_t B, int64_t T,
                      int64_t C) {
    attn_embed_scaled_train(out, ids, wte, 1.0f, wpe, B, T, C);
}

void attn_embed_backward(float *dwte, float *dwpe, const float *dout, const int32_t *ids, int64_t B, int64_t T,
                         int64_t C) {
    attn_embed_scaled_backward(dwte, dwpe, dout, ids, 1.0f, B, T, C);
}

/* ---- Elementwise work split among threads (each element's sum keeps its order) ---- */

typedef struct {
    float *y, *y2;
    const float *a, *b;
    int64_t rows, cols;
    const attn_kernels *k;
} ew_job;

static void add_task(void *ctx, int64_t i0, int64_t i1, int thread) {
    (void)thread;
    const ew_job *j = ctx;
    for (int64_t i = i0; i < i1; i++) j->y[i] = j->a[i] + j->b[i];
}

/* y += a and y2 += a over [i0, i1) (y2 may be NULL). */
static void accumulate_task(void *ctx, int64_t i0, int64_t i1, int thread) {
    (void)thread;
    const ew_job *j = ctx;
    if (j->y) j->k->axpy(j->y + i0, 1.0f, j->a + i0, i1 - i0);
    if (j->y2) j->k->axpy(j->y2 + i0, 1.0f, j->a + i0, i1 - i0);
}

/* Columns [c0, c1) of db += Σ_r dy[r], rows in order. */
static void bias_task(void *ctx, int64_t c0, int64_t c1, int thread) {
    (void)thread;
    const ew_job *j = ctx;
    for (int64_t r = 0; r < j->rows; r++) j->k->axpy(j->y + c0, 1.0f, j->a + r * j->cols + c0, c1 - c0);
}

static void bias_backward(float *db, const float *dy, int64_t rows, int64_t cols) {
    ew_job j = {.y = db, .a = dy, .rows = rows, .cols = cols, .k = attn_kernels_get()};
    attn_parallel_for(cols, 64, bias_task, &j);
}

/* ---- Linear ---- */

int attn_linear_forward(float *y, const float *x, int64_t rows, const attn_weight *w, const float *b) {
    return attn_matmul(y, x, rows, w, b);
}

int attn_linear_backward(float *dx, float *dw, float *db, const float *dy, const float *x, int64_t rows,
                         const attn_weight *w, bool write_dw) {
    if (dx) { /* dx += dy · Wᵀ: W read as the transposed weight, same memory */
        attn_weight wt = {.data = w->data, .dtype = w->dtype, .n_in = w->n_out, .n_out = w->n_in,
                          .in_major = !w->in_major};
        if (attn_matmul_acc(dx, dy, rows, &wt)) return -1;
    }
    if (dw) {
        if (w->dtype != ATTN_F32) return attn_error("linear backward: weight gradients need an f32 weight");
        /* [in][out] (Conv1D): dW += xᵀ · dy; [out][in] (nn.Linear): dW += dyᵀ · x */
        int rc = w->in_major ? attn_matmul_tn(dw, x, dy, rows, w->n_in, w->n_out, !write_dw)
                             : attn_matmul_tn(dw, dy, x, rows, w->n_out, w->n_in, !write_dw);
        if (rc) return -1;
    }
    if (db) bias_backward(db, dy, rows, w->n_out);
    return 0;
}

/* ---- GELU (tanh approximation) ---- */

void attn_gelu_tanh_train(float *out, const float *x, int64_t n) {
    if (out != x) memcpy(out, x, (size_t)n * sizeof(float));
    attn_gelu_tanh(out, n);
}

typedef struct {
    float *dx;
    const float *x, *dout;
    const attn_kernels *k;
} gelu_bw_job;

static void gelu_bw_task(void *ctx, int64_t b, int64_t e, int thread) {
    (void)thread;
    const gelu_bw_job *j = ctx;
    j->k->gelu_tanh_backward(j->dx + b, j->x + b, j->dout + b, e - b);
}

void attn_gelu_tanh_backward(float *dx, const float *x, const float *dout, int64_t n) {
    gelu_bw_job j = {.dx = dx, .x = x, .dout = dout, .k = attn_kernels_get()};
    attn_parallel_for(n, 4096, gelu_bw_task, &j);
}

/* ---- ReLU ---- */

/* v when keep, else +0, without a branch: a branch on a ReLU's sign or a dropout mask
 * mispredicts on a large share of the values, which made ReLU cost as much as a small GEMM. */
static inline float keep_if(bool keep, float v) {
    uint32_t bits;
    memcpy(&bits, &v, 4);
    bits &= -(uint32_t)keep;
    memcpy(&v, &bits, 4);
    return v;
}

static void relu_task(void *ctx, int64_t i0, int64_t i1, int thread) {
    (void)thread;
    const ew_job *j = ctx;
    float *restrict y = j->y;
    const float *restrict x = j->a;
    for (int64_t i = i0; i < i1; i++) y[i] = keep_if(x[i] > 0.0f, x[i]); /* NaN -> 0 */
}

static void relu_backward_task(void *ctx, int64_t i0, int64_t i1, int thread) {
    (void)thread;
    const ew_job *j = ctx;
    float *restrict dx = j->y;
    const float *restrict x = j->a, *restrict dout = j->b;
    for (int64_t i = i0; i < i1; i++) dx[i] += keep_if(x[i] > 0.0f, dout[i]);
}

void attn_relu_train(float *out, const float *x, int64_t n) {
    ew_job j = {.y = out, .a = x};
    attn_parallel_for(n, 4096, relu_task, &j);
}

void attn_relu_backward(float *dx, const float *x, const float *dout, int64_t n) {
    ew_job j = {.y = dx, .a = x, .b = dout};
    attn_parallel_for(n, 4096, relu_backward_task, &j);
}

/* ---- Residual ---- */

void attn_add_train(float *out, const float *a, const float *b, int64_t n) {
    ew_job j = {.y = out, .a = a, .b = b};
    attn_parallel_for(n, 4096, add_task, &j);
}

void attn_add_backward(float *da, float *db, const float *dout, int64_t n) {
    ew_job j = {.y = da, .y2 = db, .a = dout, .k = attn_kernels_get()};
    if (da || db) attn_parallel_for(n, 4096, accumulate_task, &j);
}

/* ---- Dropout ---- */

/* splitmix64's finaliser: a counter-based generator, so element i's draw needs no state. */
static uint64_t mix64(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* Each value's draw depends only on the seed and its index, so threads can split the
 * work and every thread count gives the same masks. */
typedef struct {
    float *y;            /* forward: out; backward: dx */
    uint8_t *mask;       /* forward: written */
    const float *x;      /* forward: x; backward: dout */
    const uint8_t *keep; /* backward: the forward's mask */
    float p, scale;
    uint64_t base;
} dropout_job;

static void dropout_task(void *ctx, int64_t i0, int64_t i1, int thread) {
    (void)thread;
    const dropout_job *j = ctx;
    for (int64_t i = i0; i < i1; i++) {
        float u = (float)(mix64(j->base + 0x9e3779b97f4a7c15ULL * (uint64_t)(i + 1)) >> 40) * 0x1p-24f;
        j->mask[i] = u >= j->p;
        j->y[i] = keep_if(j->mask[i], j->x[i] * j->scale);
    }
}

static void dropout_backward_task(void *ctx, int64_t i0, int64_t i1, int thread) {
    (void)thread;
    const dropout_job *j = ctx;
    float *restrict dx = j->y;
    const float *restrict dout = j->x;
    for (int64_t i = i0; i < i1; i++) dx[i] += keep_if(j->keep[i], dout[i] * j->scale);
}

void attn_dropout_forward(float *out, uint8_t *mask, const float *x, int64_t n, float p, uint64_t seed) {
    dropout_job j = {.y = out, .mask = mask, .x = x, .p = p, .scale = 1.0f / (1.0f - p), .base = mix64(seed)};
    attn_parallel_for(n, 4096, dropout_task, &j);
}

void attn_dropout_backward(float *dx, const float *dout, const uint8_t *mask, int64_t n, float p) {
    dropout_job j = {.y = dx, .x = dout, .keep = mask, .scale = 1.0f / (1.0f - p)};
    attn_parallel_for(n, 4096, dropout_backward_task, &j);
}

/* ---- Softmax cross-entropy ---- */

typedef struct {
    float *row_loss, *lse_out, *dlogits; /* forward writes row_loss and lse_out; backward dlogits */
    const float *logits, *lse;
    const int32_t *targets;
    int64_t V;
    float smoothing, drow;
    const attn_kernels *k;
} ce_job;

enum { CE_CHUNK = 1024 }; /* the backward's exp of a logit row goes through a stack buffer this long */

static void ce_forward_task(void *ctx, int64_t b, int64_t e, int thread) {
    (void)thread;
    const ce_job *j = ctx;
    for (int64_t r = b; r < e; r++) {
        const float *z = j->logits + r * j->V;
        float lse = attn_log_sum_exp(z, j->V);
        j->lse_out[r] = lse;
        int32_t y = j->targets[r];
        if (y < 0) {
            j->row_loss[r] = 0.0f;
            continue;
        }
        /* -Σ q_v log p_v with q = (1-s)·onehot + s/V, log p_v = z_v - lse */
        double nll = lse - z[y], smooth = 0;
        if (j->smoothing != 0.0f) smooth = lse - j->k->sum(z, j->V) / j->V;
        j->row_loss[r] = (float)((1.0 - j->smoothing) * nll + j->smoothing * smooth);
    }
}

int64_t attn_cross_entropy_forward(float *row_loss, float *lse, const float *logits, const int32_t *targets,
                                   int64_t rows, int64_t V, float smoothing) {
    ce_job j = {.row_loss = row_loss, .lse_out = lse, .logits = logits, .targets = targets, .V = V,
                .smoothing = smoothing, .k = attn_kernels_get()};
    attn_parallel_for(rows, 1, ce_forward_task, &j);
    int64_t count = 0;
    for (int64_t r = 0; r < rows; r++) count += targets[r] >= 0;
    return count;
}

static void ce_backward_task(void *ctx, int64_t b, int64_t e, int thread) {
    (void)thread;
    const ce_job *j = ctx;
    float off = j->smoothing / (float)j->V;
    bool in_place = j->dlogits == j->logits; /* overwrite the logits with their gradient */
    for (int64_t r = b; r < e; r++) {
        int32_t y = j->targets[r];
        const float *z = j->logits + r * j->V;
        float *dz = j->dlogits + r * j->V, lse = j->lse[r];
        if (y < 0) {
            if (in_place) memset(dz, 0, (size_t)j->V * sizeof(float));
            continue;
        }
        if (in_place) {
            j->k->exp_sum(dz, lse, j->V); /* the softmax, over the logits */
            for (int64_t v = 0; v < j->V; v++) dz[v] = j->drow * (dz[v] - off);
        } else {
            float buf[CE_CHUNK];
            for (int64_t v0 = 0; v0 < j->V; v0 += CE_CHUNK) {
                int64_t n = ATTN_MIN((int64_t)CE_CHUNK, j->V - v0);
                memcpy(buf, z + v0, (size_t)n * sizeof(float));
                j->k->exp_sum(buf, lse, n);
                for (int64_t v = 0; v < n; v++) dz[v0 + v] += j->drow * (buf[v] - off);
            }
        }
        dz[y] -= j->drow * (1.0f - j->smoothing);
    }
}

void attn_cross_entropy_backward(float *dlogits, const float *logits, const float *lse, const int32_t *targets,
                                 int64_t rows, int64_t V, float smoothing, float drow) {
    ce_job j = {.dlogits = dlogits, .lse = lse, .logits = logits, .targets = targets, .V = V,
                .smoothing = smoothing, .drow = drow, .k = attn_kernels_get()};
    attn_parallel_for(rows, 1, ce_backward_task, &j);
}
