/* kernels_ref.c - the reference kernels in plain C: the scalar path on CPUs without a SIMD
 * set we support, and the yardstick the SIMD kernels are tested against. Written for
 * clarity, not speed. */
#include <math.h>
#include "kernels.h"

#define REF_MR 4
#define REF_NR 8

static float load_w(const void *w, attn_dtype dt, int64_t i) {
    switch (dt) {
    case ATTN_F16: return attn_f16_to_f32(((const uint16_t *)w)[i]);
    case ATTN_BF16: return attn_bf16_to_f32(((const uint16_t *)w)[i]);
    default: return ((const float *)w)[i];
    }
}

static void ref_gemv_nk(float *y, const float *x, const void *w, attn_dtype dt, int64_t K, int64_t n0, int64_t n1) {
    for (int64_t n = n0; n < n1; n++) {
        float acc = 0;
        for (int64_t k = 0; k < K; k++) acc += load_w(w, dt, n * K + k) * x[k];
        y[n] = acc;
    }
}

static void ref_gemv_kn(float *y, const float *x, const void *w, attn_dtype dt, int64_t K, int64_t N, int64_t n0,
                        int64_t n1) {
    for (int64_t n = n0; n < n1; n++) {
        float acc = 0;
        for (int64_t k = 0; k < K; k++) acc += x[k] * load_w(w, dt, k * N + n);
        y[n] = acc;
    }
}

static float hpanel_at(const void *panels, attn_dtype dt, int64_t K, int64_t n, int64_t k) {
    return load_w(panels, dt, attn_hpanel_index(K, n, k));
}

static void ref_gemv_hpanel(float *y, const float *x, const void *panels, attn_dtype dt, int64_t K, int64_t n0,
                            int64_t n1) {
    for (int64_t n = n0; n < n1; n++) {
        float s = 0;
        for (int64_t k = 0; k < K; k++) s += hpanel_at(panels, dt, K, n, k) * x[k];
        y[n] = s;
    }
}

static void ref_gemm_hpanel(float *c, int64_t ldc, const float *a, int64_t lda, int64_t M, const void *panels,
                            attn_dtype dt, int64_t K, int64_t n0, int64_t n1, const float *bias) {
    for (int64_t m = 0; m < M; m++)
        for (int64_t n = n0; n < n1; n++) {
            float s = 0;
            for (int64_t k = 0; k < K; k++) s += a[m * lda + k] * hpanel_at(panels, dt, K, n, k);
            c[m * ldc + n] = s + (bias ? bias[n] : 0.0f);
        }
}

static void ref_pack_b_hpanel(float *dst, const void *panels, attn_dtype dt, int64_t K, int64_t k0, int64_t kc,
                              int64_t n0) {
    for (int64_t k = 0; k < kc; k++)
        for (int j = 0; j < REF_NR; j++) dst[k * REF_NR + j] = hpanel_at(panels, dt, K, n0 + j, k0 + k);
}

static void ref_pack_b(float *dst, const void *w, attn_dtype dt, bool in_major, int64_t K, int64_t N, int64_t k0,
                       int64_t kc, int64_t n0) {
    for (int64_t k = 0; k < kc; k++)
        for (int j = 0; j < REF_NR; j++) {
            int64_t n = n0 + j;
            dst[k * REF_NR + j] = n < N ? load_w(w, dt, in_major ? (k0 + k) * N + n : n * K + k0 + k) : 0.0f;
        }
}

static void ref_pack_a(float *dst, const float *a, int64_t lda, int64_t rows, int64_t kc) {
    for (int i = 0; i < REF_MR; i++)
        for (int64_t k = 0; k < kc; k++) dst[k * REF_MR + i] = i < rows ? a[i * lda + k] : 0.0f;
}

static void ref_pack_a_t(float *dst, const float *a, int64_t lda, int64_t rows, int64_t kc) {
    for (int64_t k = 0; k < kc; k++)
        for (int i = 0; i < REF_MR; i++) dst[k * REF_MR + i] = i < rows ? a[k * lda + i] : 0.0f;
}

static void ref_gemm_tile_edge(int64_t kc, const float *ap, const float *bp, float *c, int64_t ldc, int rows, int cols,
                               const float *init) {
    for (int i = 0; i < rows; i++)
        for (int j = 0; j < cols; j++) {
            float acc = 0;
            for (int64_t k = 0; k < kc; k++) acc += ap[k * REF_MR + i] * bp[k * REF_NR + j];
            c[i * ldc + j] = (init ? init[j] : c[i * ldc + j]) + acc;
        }
}

static void ref_gemm_tile(int64_t kc, const float *ap, const float *bp, float *c, int64_t ldc, const float *init) {
    ref_gemm_tile_edge(kc, ap, bp, c, ldc, REF_MR, REF_NR, init);
}

static float ref_dot(const float *a, const float *b, int64_t n) {
    float acc = 0;
    for (int64_t i = 0; i < n; i++) acc += a[i] * b[i];
    return acc;
}

static void ref_axpy(float *y, float a, const float *x, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] += a * x[i];
}

static void ref_scale(float *y, float a, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] *= a;
}

static float ref_exp_sum(float *x, float max, int64_t n) {
    float sum = 0;
    for (int64_t i = 0; i < n; i++) {
        x[i] = expf(x[i] - max);
        sum += x[i];
    }
    return sum;
}

static float ref_max(const float *x, int64_t n) {
    float m = -INFINITY;
    for (int64_t i = 0; i < n; i++) m = x[i] > m ? x[i] : m;
    return m;
}

static void ref_swiglu(float *gate, const float *up, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        float g = gate[i];
        gate[i] = g / (1.0f + expf(-g)) * up[i];
    }
}

static void ref_gelu_tanh(float *x, int64_t n) {
    const float s = 0.7978845608028654f; /* sqrt(2/pi) */
    for (int64_t i = 0; i < n; i++) {
        float v = x[i];
        x[i] = 0.5f * v * (1.0f + tanhf(s * (v + 0.044715f * v * v * v)));
    }
}

/* Element i of a cache (f32 or f16) as a float. */
static float kv_at(const void *c, attn_dtype t, int64_t i) {
    return t == ATTN_F16 ? attn_f16_to_f32(((const uint16_t *)c)[i]) : ((const float *)c)[i];
}

static void ref_attn_scores(float *s, int64_t ls, const float *q, int64_t lq, int nq, const void *kb, attn_dtype kt,
                            int hd, int64_t n, float scale) {
    for (int r = 0; r < nq; r++)
        for (int64_t p = 0; p < n; p++) {
            int64_t blk = (p / ATTN_KV_BLOCK) * hd * ATTN_KV_BLOCK + p % ATTN_KV_BLOCK;
            float acc = 0;
            for (int d = 0; d < hd; d++) acc += q[r * lq + d] * kv_at(kb, kt, blk + d * ATTN_KV_BLOCK);
            s[r * ls + p] = acc * scale;
        }
}

static void ref_attn_values(float *o, int64_t lo, const float *w, int64_t lw, int nq, const void *v, attn_dtype vt,
                            int64_t v_stride, int hd, int64_t n) {
    for (int r = 0; r < nq; r++) {
        for (int d = 0; d < hd; d++) o[r * lo + d] = 0;
        for (int64_t p = 0; p < n; p++)
            for (int d = 0; d < hd; d++) o[r * lo + d] += w[r * lw + p] * kv_at(v, vt, p * v_stride + d);
    }
}

static void ref_adamw(float *p, const float *g, float *m, float *v, int64_t n, const attn_adamw_coef *c) {
    for (int64_t i = 0; i < n; i++) {
        float gi = g[i] * c->grad_scale;
        p[i] *= c->decay_keep;
        m[i] += c->one_minus_beta1 * (gi - m[i]);
        v[i] = v[i] * c->beta2 + c->one_minus_beta2 * gi * gi;
        float denom = sqrtf(v[i]) * c->inv_bc2_sqrt + c->eps;
        p[i] += -c->step_size * (m[i] / denom);
    }
}

/* Eight independent sums keep the adds from waiting on each other. */
/* Eight sums in double (lane u takes x[i + u]), added in a fixed order: every table gives
 * the same bits. */
static double ref_sum8(const float *x, int64_t n, int squares) {
    double s[8] = {0};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int u = 0; u < 8; u++) s[u] += squares ? (double)x[i + u] * x[i + u] : (double)x[i + u];
    for (; i < n; i++) s[0] += squares ? (double)x[i] * x[i] : (double)x[i];
    return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
}

static double ref_sum_squares(const float *x, int64_t n) { return ref_sum8(x, n, 1); }

static double ref_sum(const float *x, int64_t n) { return ref_sum8(x, n, 0); }

/* KV cache rows (strided for the transposed keys). tensor.c's attn_from_f32 keeps its own
 * contiguous loop: core's lowest layer links without the kernels (the fuzz targets do). */
static void ref_to_f16(uint16_t *dst, int64_t stride, const float *x, int64_t n) {
    for (int64_t i = 0; i < n; i++) dst[i * stride] = attn_f32_to_f16(x[i]);
}

/* d/dx 0.5x(1 + tanh u), u = c(x + 0.044715x^3): 0.5(1 + t) + 0.5x(1 - t^2) c (1 + 3*0.044715x^2) */
static void ref_gelu_tanh_backward(float *dx, const float *x, const float *dout, int64_t n) {
    const float c = 0.7978845608028654f; /* sqrt(2/pi) */
    for (int64_t i = 0; i < n; i++) {
        float v = x[i], t = tanhf(c * (v + 0.044715f * v * v * v));
        float local = 0.5f * (1.0f + t) + 0.5f * v * (1.0f - t * t) * c * (1.0f + 3.0f * 0.044715f * v * v);
        dx[i] += local * dout[i];
    }
}

const attn_kernels attn_kernels_ref = {
    .name = "scalar",
    .mr = REF_MR,
    .nr = REF_NR,
    .gemv_nk = ref_gemv_nk,
    .gemv_hpanel = ref_gemv_hpanel,
    .pack_b_hpanel = ref_pack_b_hpanel,
    .gemm_hpanel = ref_gemm_hpanel,
    .gemv_kn = ref_gemv_kn,
    .pack_b = ref_pack_b,
    .pack_a = ref_pack_a,
    .pack_a_t = ref_pack_a_t,
    .gemm_tile = ref_gemm_tile,
    .gemm_tile_edge = ref_gemm_tile_edge,
    .dot = ref_dot,
    .axpy = ref_axpy,
    .scale = ref_scale,
    .exp_sum = ref_exp_sum,
    .max = ref_max,
    .gelu_tanh = ref_gelu_tanh,
    .swiglu = ref_swiglu,
    .attn_scores = ref_attn_scores,
    .attn_values = ref_attn_values,
    .adamw = ref_adamw,
    .sum_squares = ref_sum_squares,
    .to_f16 = ref_to_f16,
    .sum = ref_sum,
    .gelu_tanh_backward = ref_gelu_tanh_backward,
};

const attn_kernels *attn_kernels_for(attn_isa isa) {
    switch (isa) {
    case ATTN_ISA_SCALAR: return &attn_kernels_ref;
#if defined(__x86_64__)
    case ATTN_ISA_AVX2: return &attn_kernels_avx2;
    case ATTN_ISA_AVX512: return &attn_kernels_avx512;
#endif
    default: return NULL;
    }
}

const attn_kernels *attn_kernels_get(void) {
    const attn_kernels *k = attn_kernels_for(attn_isa_current());
    return k ? k : &attn_kernels_ref;
}
