/* kernels.h - the table of hot kernels, one table per instruction set. kernels_ref.c holds
 * the plain-C reference (also the scalar path); src/core/simd/ is compiled once per SIMD
 * set. Callers use attn_kernels_get(), which follows attn_isa_current(). Tests compare every
 * table against the reference. */
#ifndef ATTN_KERNELS_H
#define ATTN_KERNELS_H

#include <stdbool.h>
#include <stdint.h>
#include "cpu.h"
#include "tensor.h"

/* GEMM register tile sizes are per table (mr x nr); packing buffers use the largest. */
#define ATTN_MAX_MR 16
#define ATTN_MAX_NR 64
#define ATTN_KV_BLOCK 64
#define ATTN_MAX_NQ 4
/* Rows of a plain matrix in one panel (core/hpanel.h): [N/32][K][32]. */
#define ATTN_HPANEL_ROWS 32

/* The element that holds W(n, k) of a [N][K] matrix in panels. */
static inline int64_t attn_hpanel_index(int64_t K, int64_t n, int64_t k) {
    return (n / ATTN_HPANEL_ROWS * K + k) * ATTN_HPANEL_ROWS + n % ATTN_HPANEL_ROWS;
}

/* One AdamW step's constants (torch's single-tensor AdamW, operation by operation). */
typedef struct {
    float decay_keep, one_minus_beta1, beta2, one_minus_beta2, eps, grad_scale, step_size, inv_bc2_sqrt;
} attn_adamw_coef;

typedef struct {
    const char *name;
    int mr, nr;
    /* y[n] = dot(W[n][0:K], x) for n in [n0, n1); W stored [N][K] (nn.Linear layout). */
    void (*gemv_nk)(float *y, const float *x, const void *w, attn_dtype dt, int64_t K, int64_t n0, int64_t n1);
    /* gemv_nk for an f32/f16/bf16 matrix in panels (core/hpanel.h); n0 and n1 multiples of 32. */
    void (*gemv_hpanel)(float *y, const float *x, const void *panels, attn_dtype dt, int64_t K, int64_t n0,
                        int64_t n1);
    /* c[m][n] = bias[n] + sum_k a[m][k] W(n, k) for m < M, n in [n0, n1) (multiples of 32),
     * W an f32/f16/bf16 matrix in panels: register tiles of up to 12 rows x 32 read each panel
     * where it lies (widening f16/bf16 as they load), so nothing is packed. */
    void (*gemm_hpanel)(float *c, int64_t ldc, const float *a, int64_t lda, int64_t M, const void *panels,
                        attn_dtype dt, int64_t K, int64_t n0, int64_t n1, const float *bias);
    /* pack_b's [kc][nr] f32 panel from a matrix in panels (n0 a multiple of nr, N one of 32). */
    void (*pack_b_hpanel)(float *dst, const void *panels, attn_dtype dt, int64_t K, int64_t k0, int64_t kc,
                          int64_t n0);
    /* y[n] = sum_k x[k] * W[k][n] for n in [n0, n1); W stored [K][N] (HF Conv1D layout). */
    void (*gemv_kn)(float *y, const float *x, const void *w, attn_dtype dt, int64_t K, int64_t N, int64_t n0, int64_t n1);
    /* Packs B(k, n) for k in [k0, k0+kc), n in [n0, n0+nr) into dst[kc][nr] as f32, zero
     * padding columns >= N. in_major: W stored [K][N], else [N][K]. */
    void (*pack_b)(float *dst, const void *w, attn_dtype dt, bool in_major, int64_t K, int64_t N, int64_t k0,
                   int64_t kc, int64_t n0);
    /* Packs one row block of a row-major A into dst[kc][mr]: dst[k][i] = a[i * lda + k] for
     * i < rows, 0 for rows <= i < mr. */
    void (*pack_a)(float *dst, const float *a, int64_t lda, int64_t rows, int64_t kc);
    /* The same for an A stored transposed (A(i, k) = a[k * lda + i]: a weight gradient's
     * activations): dst[k][i] = a[k * lda + i] for i < rows, 0 for rows <= i < mr. */
    void (*pack_a_t)(float *dst, const float *a, int64_t lda, int64_t rows, int64_t kc);
    /* C[mr][nr] (row stride ldc) += Ap[kc][mr] * Bp[kc][nr]; or, when init is not NULL,
     * C[i][j] = init[j] + (Ap * Bp)[i][j] (a bias row, or zeros: C is not read). */
    void (*gemm_tile)(int64_t kc, const float *ap, const float *bp, float *c, int64_t ldc, const float *init);
    /* The same for a tile at the matrix's edge: only rows x cols of C (1 <= rows <= mr,
     * 1 <= cols <= nr) are read and written, and only those rows are computed. */
    void (*gemm_tile_edge)(int64_t kc, const float *ap, const float *bp, float *c, int64_t ldc, int rows, int cols,
                           const float *init);
    /* C[m][n] (row stride ldc) = a_m . W[n] (+ bias[n]) for m < M, n in [n0, n1): W stored
     * [N][K] (nn.Linear) in dt, a_m = a + m * lda. Dot products, no packing (a prompt's
     * product with a model's f32/f16/bf16 matrix); NULL where the ISA has none. */
    void (*gemm_nk_dot)(float *c, int64_t ldc, const float *a, int64_t lda, int64_t M, const void *w, attn_dtype dt,
                        int64_t K, int64_t n0, int64_t n1, const float *bias);
    float (*dot)(const float *a, const float *b, int64_t n);
    void (*axpy)(float *y, float a, const float *x, int64_t n); /* y += a*x */
    void (*scale)(float *y, float a, int64_t n);                 /* y *= a */
    /* x[i] = exp(x[i] - max); returns the sum. */
    float (*exp_sum)(float *x, float max, int64_t n);
    float (*max)(const float *x, int64_t n);
    /* Attention scores for nq (1..ATTN_MAX_NQ) queries of one head over a key cache stored
     * transposed in blocks of ATTN_KV_BLOCK positions, kb = [blocks][hd][ATTN_KV_BLOCK]:
     * s[r * ls + p] = scale * q_r . k_p for p < n (q_r = q + r * lq). Rows must have room for
     * n rounded up to ATTN_KV_BLOCK (the tail of the last block is scratch). Several queries
     * share every load of the key block. The cache's elements are kt: ATTN_F32 or ATTN_F16. */
    void (*attn_scores)(float *s, int64_t ls, const float *q, int64_t lq, int nq, const void *kb, attn_dtype kt,
                        int hd, int64_t n, float scale);
    /* o_r[0:hd] = sum_{p<n} w_r[p] * v[p * v_stride + 0:hd] for r < nq (o_r = o + r * lo,
     * w_r = w + r * lw); v's elements are vt: ATTN_F32 or ATTN_F16. */
    void (*attn_values)(float *o, int64_t lo, const float *w, int64_t lw, int nq, const void *v, attn_dtype vt,
                        int64_t v_stride, int hd, int64_t n);
    /* AdamW over n values: g' = g*scale; p *= decay_keep; m += (1-b1)(g' - m);
     * v = v*b2 + (1-b2)g'^2; p -= step_size * m / (sqrt(v)*inv_bc2_sqrt + eps). No FMA
     * contraction, so every instruction set gives the same bits. */
    void (*adamw)(float *p, const float *g, float *m, float *v, int64_t n, const attn_adamw_coef *c);
    /* Σ x[i]² accumulated in double (a gradient norm's part). */
    double (*sum_squares)(const float *x, int64_t n);
    /* dst[i * stride] = x[i] rounded to f16 (nearest even), i < n: f16 KV cache rows. */
    void (*to_f16)(uint16_t *dst, int64_t stride, const float *x, int64_t n);
    /* Σ x[i] accumulated in double, in the same lanes and order (a label-smoothed loss). */
    double (*sum)(const float *x, int64_t n);
    /* dx[i] += gelu_tanh'(x[i]) * dout[i]. */
    void (*gelu_tanh_backward)(float *dx, const float *x, const float *dout, int64_t n);
    /* GPT-2's gelu_new: 0.5x(1 + tanh(sqrt(2/pi)(x + 0.044715x^3))), in place. */
    void (*gelu_tanh)(float *x, int64_t n);
    /* LLaMA's SwiGLU: gate[i] = silu(gate[i]) * up[i], silu(g) = g / (1 + exp(-g)). */
    void (*swiglu)(float *gate, const float *up, int64_t n);
} attn_kernels;

const attn_kernels *attn_kernels_get(void);                 /* for attn_isa_current() */
const attn_kernels *attn_kernels_for(attn_isa isa);          /* NULL if not built in */
extern const attn_kernels attn_kernels_ref;

#if defined(__x86_64__)
extern const attn_kernels attn_kernels_avx2;
extern const attn_kernels attn_kernels_avx512;
#endif

#endif
