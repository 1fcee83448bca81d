/* matmul.c - chooses GEMV (one row; up to QGEMV_MAX_ROWS rows of quantized weights) or GEMM
 * and splits the output columns among threads. The GEMM is BLIS-shaped: for each kc-deep
 * slice, every thread packs all of A once ([M/mr][kc][mr], zero-padded) and then, per
 * nr-wide column tile it owns, packs that tile of B ([kc][nr], converted to f32) and runs the
 * register tile over every row block. */
#include "matmul.h"

#include <string.h>
#include "kernels.h"
#include "quant_matmul.h"
#include "threadpool.h"

#define KC 256
#define GEMM_MIN_ROWS 4
/* Quantized weights up to this many rows (decoding): integer dot products with quantized
 * activations (attn_qdot_rows_nk), or with ATTN_QDOT=f32 each block decoded once for all
 * rows (attn_qgemv_rows_nk). Prompts take the packed GEMM on the exact activations: it
 * dequantizes whole panels and, from a few dozen rows on, runs about twice as fast as the
 * integer kernels (50 against 25 GMAC/s a thread at 256 rows). So a row's logits can move by
 * the activations' rounding (x~ vs x) with the number of rows it is batched with. */
#define QGEMV_MAX_ROWS 16
#define MAX_THREADS 512
#define SCRATCH_SLOTS 4

static float *scratch_buf[MAX_THREADS][SCRATCH_SLOTS];
static size_t scratch_cap[MAX_THREADS][SCRATCH_SLOTS];

/* Every thread a job may run on: all of them from outside a job, only the caller when a
 * job's share calls in (another thread may be using its own buffers right then). */
int attn_scratch_reserve(int slot, size_t floats) {
    int self = attn_thread_current(), t0 = self >= 0 ? self : 0, t1 = self >= 0 ? self + 1 : attn_threads_count();
    for (int t = t0; t < t1; t++)
        if (!attn_scratch(t, slot, floats)) return -1;
    return 0;
}

float *attn_scratch(int thread, int slot, size_t floats) {
    if (thread < 0 || thread >= MAX_THREADS || slot < 0 || slot >= SCRATCH_SLOTS) return NULL;
    if (scratch_cap[thread][slot] < floats) {
        attn_free(scratch_buf[thread][slot]);
        scratch_buf[thread][slot] = attn_alloc(floats * sizeof(float));
        scratch_cap[thread][slot] = scratch_buf[thread][slot] ? floats : 0;
    }
    return scratch_buf[thread][slot];
}

typedef struct {
    float *y;
    const float *x;
    int64_t M;
    const attn_weight *w;
    const float *bias;
    const attn_kernels *kern;
    const attn_qx *qx; /* x quantized for the integer dot products */
} matmul_job;

static void init_rows(const matmul_job *j, int64_t n0, int64_t n1) {
    int64_t N = j->w->n_out;
    for (int64_t m = 0; m < j->M; m++) {
        float *row = j->y + m * N;
        if (j->bias) memcpy(row + n0, j->bias + n0, (size_t)(n1 - n0) * sizeof(float));
        else memset(row + n0, 0, (size_t)(n1 - n0) * sizeof(float));
    }
}

static void gemv_task(void *ctx, int64_t n0, int64_t n1, int thread) {
    (void)thread;
    const matmul_job *j = ctx;
    const attn_weight *w = j->w;
    for (int64_t m = 0; m < j->M; m++) {
        float *y = j->y + m * w->n_out;
        const float *x = j->x + m * w->n_in;
        if (w->qtype) attn_qgemv_nk(y, x, w->data, (attn_qtype)w->qtype, w->n_in, n0, n1);
        else if (w->in_major) j->kern->gemv_kn(y, x, w->data, w->dtype, w->n_in, w->n_out, n0, n1);
        else j->kern->gemv_nk(y, x, w->data, w->dtype, w->n_in, n0, n1);
        if (j->bias)
            for (int64_t n = n0; n < n1; n++) y[n] += j->bias[n];
    }
}

static void qgemv_rows_task(void *ctx, int64_t n0, int64_t n1, int thread) {
    (void)thread;
    const matmul_job *j = ctx;
    const attn_weight *w = j->w;
    attn_qgemv_rows_nk(j->y, w->n_out, j->x, w->n_in, j->M, w->data, (attn_qtype)w->qtype, w->n_in, n0, n1);
    for (int64_t m = 0; j->bias && m < j->M; m++)
        for (int64_t n = n0; n < n1; n++) j->y[m * w->n_out + n] += j->bias[n];
}

static void qdot_task(void *ctx, int64_t n0, int64_t n1, int thread) {
    (void)thread;
    const matmul_job *j = ctx;
    const attn_weight *w = j->w;
    attn_qdot_rows_nk(j->y, w->n_out, j->qx, w->data, (attn_qtype)w->qtype, n0, n1);
    for (int64_t m = 0; j->bias && m < j->M; m++)
        for (int64_t n = n0; n < n1; n++) j->y[m * w->n_out + n] += j->bias[n];
}

static void pack_a(const attn_kernels *kn, float *ap, const float *x, int64_t M, int64_t K, int64_t k0, int64_t kc) {
    int mr = kn->mr;
    for (int64_t m0 = 0; m0 < M; m0 += mr)
        kn->pack_a(ap + (m0 / mr) * kc * mr, x + m0 * K + k0, K, ATTN_MIN((int64_t)mr, M - m0), kc);
}

/* One tile column for all row blocks; edge tiles go through a scratch tile. */
static void gemm_column(const matmul_job *j, const float *ap, const float *bp, float *edge, int64_t kc, int64_t n0) {
    const attn_kernels *kn = j->kern;
    int mr = kn->mr, nr = kn->nr;
    int64_t N = j->w->n_out, cols = ATTN_MIN((int64_t)nr, N - n0);
    for (int64_t m0 = 0; m0 < j->M; m0 += mr) {
        const float *a = ap + (m0 / mr) * kc * mr;
        float *c = j->y + m0 * N + n0;
        int64_t rows = ATTN_MIN((int64_t)mr, j->M - m0);
        if (rows == mr && cols == nr) {
            kn->gemm_tile(kc, a, bp, c, N);
            continue;
        }
        memset(edge, 0, (size_t)mr * nr * sizeof(float));
        kn->gemm_tile(kc, a, bp, edge, nr);
        for (int64_t i = 0; i < rows; i++)
            for (int64_t jj = 0; jj < cols; jj++) c[i * N + jj] += edge[i * nr + jj];
    }
}

/* Column tiles [t0, t1) of the product, accumulated into y; ap/bp/edge are packing space. */
static void gemm_tiles(const matmul_job *j, int64_t t0, int64_t t1, float *ap, float *bp, float *edge) {
    const attn_weight *w = j->w;
    int nr = j->kern->nr;
    int64_t K = w->n_in, N = w->n_out;
    for (int64_t k0 = 0; k0 < K; k0 += KC) {
        int64_t kc = ATTN_MIN((int64_t)KC, K - k0);
        pack_a(j->kern, ap, j->x, j->M, K, k0, kc);
        for (int64_t t = t0; t < t1; t++) {
            if (w->qtype) attn_qpack_b(bp, w->data, (attn_qtype)w->qtype, K, N, k0, kc, t * nr);
            else j->kern->pack_b(bp, w->data, w->dtype, w->in_major, K, N, k0, kc, t * nr);
            gemm_column(j, ap, bp, edge, kc, t * nr);
        }
    }
}

static void gemm_task(void *ctx, int64_t t0, int64_t t1, int thread) {
    const matmul_job *j = ctx;
    int mr = j->kern->mr, nr = j->kern->nr;
    int64_t m_pad = (j->M + mr - 1) / mr * mr;
    float *ap = attn_scratch(thread, 0, (size_t)(m_pad * KC)); /* reserved by attn_matmul */
    float *bp = attn_scratch(thread, 1, (size_t)KC * nr + (size_t)mr * nr);
    init_rows(j, t0 * nr, ATTN_MIN(t1 * nr, j->w->n_out));
    gemm_tiles(j, t0, t1, ap, bp, bp + (size_t)KC * nr);
}

size_t attn_matmul_serial_scratch(int64_t M) {
    const attn_kernels *k = attn_kernels_get();
    return (size_t)((M + k->mr - 1) / k->mr * k->mr) * KC + (size_t)KC * k->nr + (size_t)k->mr * k->nr;
}

void attn_matmul_serial(float *y, const float *x, int64_t M, const attn_weight *w, bool accumulate, float *scratch) {
    matmul_job j = {.y = y, .x = x, .M = M, .w = w, .kern = attn_kernels_get()};
    int mr = j.kern->mr, nr = j.kern->nr;
    if (M <= 0 || w->n_out <= 0) return;
    if (!accumulate) init_rows(&j, 0, w->n_out);
    float *ap = scratch, *bp = ap + (size_t)((M + mr - 1) / mr * mr) * KC;
    gemm_tiles(&j, 0, (w->n_out + nr - 1) / nr, ap, bp, bp + (size_t)KC * nr);
}

int attn_matmul(float *y, const float *x, int64_t M, const attn_weight *w, const float *bias) {
    matmul_job j = {.y = y, .x = x, .M = M, .w = w, .bias = bias, .kern = attn_kernels_get()};
    if (M <= 0 || w->n_out <= 0) return 0;
    /* Decoding rows: integer products with the activations quantized once here, unless
     * ATTN_QDOT=f32 (or memory is short: then the exact path below). */
    if (w->qtype && M <= QGEMV_MAX_ROWS && (j.qx = attn_qx_rows(x, w->n_in, M, w->n_in, (attn_qtype)w->qtype))) {
        attn_parallel_for(w->n_out, 16, qdot_task, &j);
        return 0;
    }
    if (w->qtype && M > 1 && M <= QGEMV_MAX_ROWS) {
        attn_parallel_for(w->n_out, 16, qgemv_rows_task, &j);
        return 0;
    }
    if (M < GEMM_MIN_ROWS) {
        attn_parallel_for(w->n_out, 64, gemv_task, &j);
        return 0;
    }
    /* Reserve every thread's packing buffers here, where a failure can be reported. */
    int mr = j.kern->mr, nr = j.kern->nr;
    size_t a_floats = (size_t)((M + mr - 1) / mr * mr) * KC, b_floats = (size_t)KC * nr + (size_t)mr * nr;
    if (attn_scratch_reserve(0, a_floats) || attn_scratch_reserve(1, b_floats))
        return attn_error("out of memory for matrix multiply buffers (%lld rows)", (long long)M);
    int64_t tiles = (w->n_out + nr - 1) / nr;
    attn_parallel_for(tiles, 1, gemm_task, &j);
    return 0;
}
