/* gemm_acc.c - C += A · B over the kernels table's packed micro-kernels (see gemm_acc.h).
 * Shaped like matmul.c's GEMM: threads own tiles of nr output columns; for each block of
 * up to MC output rows and each kc-deep slice of the reduction, a thread packs that block
 * of A ([rows/mr][kc][mr]) and, per tile, a [kc][nr] panel of B, then runs the register
 * tile. Rows are blocked (matmul.c packs all of A at once) because a weight gradient can
 * have vocabulary-many rows, and A is read either row-major or transposed. */
#include "gemm_acc.h"

#include <string.h>
#include "kernels.h"
#include "threadpool.h"

#define KC 256
#define MC 480     /* rows of A packed at once: a multiple of every mr (4, 6, 12) */
#define NC_TILES 16 /* column tiles whose B panels stay packed while every row block passes */

typedef struct {
    float *c;            /* [R][N] */
    int64_t R, N, K;     /* output rows, output columns, reduction length */
    const float *a;      /* A(r, k) = a_trans ? a[k * lda + r] : a[r * lda + k] */
    int64_t lda;
    bool a_trans;
    const attn_weight *b; /* B(k, n), as pack_b reads it: n_in = K, n_out = N */
    const attn_kernels *kern;
} acc_job;

/* Packs rows [r0, r0+rows) x reduction [k0, k0+kc) of A into [rows/mr][kc][mr], zero-padded. */
static void pack_a(float *ap, const acc_job *j, int64_t r0, int64_t rows, int64_t k0, int64_t kc) {
    int mr = j->kern->mr;
    for (int64_t m0 = 0; m0 < rows; m0 += mr) {
        float *blk = ap + (m0 / mr) * kc * mr;
        int64_t h = ATTN_MIN((int64_t)mr, rows - m0);
        if (j->a_trans) { /* A's rows are columns of a: read mr of them at a time, in order */
            for (int64_t k = 0; k < kc; k++) {
                const float *src = j->a + (k0 + k) * j->lda + r0 + m0;
                memcpy(blk + k * mr, src, (size_t)h * sizeof(float));
                if (h < mr) memset(blk + k * mr + h, 0, (size_t)(mr - h) * sizeof(float));
            }
            continue;
        }
        j->kern->pack_a(blk, j->a + (r0 + m0) * j->lda + k0, j->lda, h, kc);
    }
}

/* One nr-wide column tile for every row block; partial tiles go through `edge`. */
static void tile_column(const acc_job *j, const float *ap, const float *bp, float *edge, int64_t r0, int64_t rows,
                        int64_t kc, int64_t n0) {
    const attn_kernels *kn = j->kern;
    int mr = kn->mr, nr = kn->nr;
    int64_t N = j->N, cols = ATTN_MIN((int64_t)nr, N - n0);
    for (int64_t m0 = 0; m0 < rows; m0 += mr) {
        const float *a = ap + (m0 / mr) * kc * mr;
        float *c = j->c + (r0 + m0) * N + n0;
        int64_t h = ATTN_MIN((int64_t)mr, rows - m0);
        if (h == mr && cols == nr) {
            kn->gemm_tile(kc, a, bp, c, N);
            continue;
        }
        memset(edge, 0, (size_t)mr * nr * sizeof(float));
        kn->gemm_tile(kc, a, bp, edge, nr);
        for (int64_t i = 0; i < h; i++)
            for (int64_t jj = 0; jj < cols; jj++) c[i * N + jj] += edge[i * nr + jj];
    }
}

/* B panels are packed once per (column group, kc slice) and reused by every row block:
 * a weight gradient can have vocabulary-many rows, and repacking B per row block would
 * cost as much as the multiply. */
static void acc_task(void *ctx, int64_t t0, int64_t t1, int thread) {
    const acc_job *j = ctx;
    int nr = j->kern->nr;
    float *ap = attn_scratch(thread, 0, (size_t)MC * KC); /* reserved by run() */
    float *bp = attn_scratch(thread, 1, (size_t)NC_TILES * KC * nr + (size_t)j->kern->mr * nr);
    float *edge = bp + (size_t)NC_TILES * KC * nr;
    for (int64_t g0 = t0; g0 < t1; g0 += NC_TILES) {
        int64_t g1 = ATTN_MIN(g0 + NC_TILES, t1);
        for (int64_t k0 = 0; k0 < j->K; k0 += KC) {
            int64_t kc = ATTN_MIN((int64_t)KC, j->K - k0);
            for (int64_t t = g0; t < g1; t++)
                j->kern->pack_b(bp + (t - g0) * KC * nr, j->b->data, j->b->dtype, j->b->in_major, j->K, j->N, k0, kc,
                                t * nr);
            for (int64_t r0 = 0; r0 < j->R; r0 += MC) {
                int64_t rows = ATTN_MIN((int64_t)MC, j->R - r0);
                pack_a(ap, j, r0, rows, k0, kc);
                for (int64_t t = g0; t < g1; t++) tile_column(j, ap, bp + (t - g0) * KC * nr, edge, r0, rows, kc, t * nr);
            }
        }
    }
}

static int run(acc_job *j) {
    if (j->R <= 0 || j->N <= 0 || j->K <= 0) return 0;
    int mr = j->kern->mr, nr = j->kern->nr;
    /* Reserve every thread's packing buffers here, where a failure can be reported. */
    if (attn_scratch_reserve(0, (size_t)MC * KC) || attn_scratch_reserve(1, (size_t)NC_TILES * KC * nr + (size_t)mr * nr))
        return attn_error("out of memory for gradient matrix multiply buffers");
    attn_parallel_for((j->N + nr - 1) / nr, 1, acc_task, j);
    return 0;
}

int attn_matmul_acc(float *y, const float *x, int64_t M, const attn_weight *w) {
    acc_job j = {.c = y, .R = M, .N = w->n_out, .K = w->n_in, .a = x, .lda = w->n_in, .a_trans = false, .b = w,
                 .kern = attn_kernels_get()};
    return run(&j);
}

int attn_matmul_tn_acc(float *c, const float *a, const float *b, int64_t M, int64_t R, int64_t N) {
    attn_weight bw = {.data = b, .dtype = ATTN_F32, .n_in = M, .n_out = N, .in_major = true};
    acc_job j = {.c = c, .R = R, .N = N, .K = M, .a = a, .lda = R, .a_trans = true, .b = &bw,
                 .kern = attn_kernels_get()};
    return run(&j);
}
