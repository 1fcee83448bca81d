/* quant_matmul.c - the scalar reference of the quantized GEMV (one row and several), the
 * per-ISA dispatch, and the panel packer of the quantized GEMM (see quant_matmul.h). */
#include "quant_matmul.h"

#include <string.h>

#if defined(__x86_64__)
void attn_qgemv_nk_avx2(float *y, const float *x, const void *w, attn_qtype t, int64_t K, int64_t n0, int64_t n1);
void attn_qgemv_nk_avx512(float *y, const float *x, const void *w, attn_qtype t, int64_t K, int64_t n0, int64_t n1);
void attn_qgemv_rows_nk_avx2(float *y, int64_t ldy, const float *x, int64_t ldx, int64_t M, const void *w,
                             attn_qtype t, int64_t K, int64_t n0, int64_t n1);
void attn_qgemv_rows_nk_avx512(float *y, int64_t ldy, const float *x, int64_t ldx, int64_t M, const void *w,
                               attn_qtype t, int64_t K, int64_t n0, int64_t n1);
#endif

bool attn_qtype_matmul_ok(int t) {
    switch (t) {
    case ATTN_QT_Q8_0: case ATTN_QT_Q4_0: case ATTN_QT_Q4_1: case ATTN_QT_Q5_0: case ATTN_QT_Q5_1:
    case ATTN_QT_Q2_K: case ATTN_QT_Q3_K: case ATTN_QT_Q4_K: case ATTN_QT_Q5_K: case ATTN_QT_Q6_K:
        return true;
    default:
        return false;
    }
}

/* Dequantize a row chunk, then an f32 dot: the yardstick the SIMD kernels are held to. */
static void qgemv_ref(float *y, const float *x, const void *w, attn_qtype t, int64_t K, int64_t n0, int64_t n1) {
    enum { CHUNK = 256 };
    float buf[CHUNK];
    const attn_qtype_info *info = attn_qtype_get(t);
    size_t rb = attn_quant_row_bytes(t, K);
    for (int64_t n = n0; n < n1; n++) {
        const uint8_t *row = (const uint8_t *)w + (size_t)n * rb;
        float acc = 0;
        for (int64_t k0 = 0; k0 < K; k0 += CHUNK) {
            int64_t m = K - k0 < CHUNK ? K - k0 : CHUNK;
            attn_dequantize_row(t, row + k0 / info->block * info->bytes, buf, m);
            for (int64_t j = 0; j < m; j++) acc += buf[j] * x[k0 + j];
        }
        y[n] = acc;
    }
}

void attn_qgemv_nk_isa(attn_isa isa, float *y, const float *x, const void *w, attn_qtype t, int64_t K, int64_t n0,
                       int64_t n1) {
    switch (isa) {
#if defined(__x86_64__)
    case ATTN_ISA_AVX512: attn_qgemv_nk_avx512(y, x, w, t, K, n0, n1); return;
    case ATTN_ISA_AVX2: attn_qgemv_nk_avx2(y, x, w, t, K, n0, n1); return;
#endif
    default: qgemv_ref(y, x, w, t, K, n0, n1); return;
    }
}

void attn_qgemv_nk(float *y, const float *x, const void *w, attn_qtype t, int64_t K, int64_t n0, int64_t n1) {
    attn_qgemv_nk_isa(attn_isa_current(), y, x, w, t, K, n0, n1);
}

void attn_qgemv_rows_nk_isa(attn_isa isa, float *y, int64_t ldy, const float *x, int64_t ldx, int64_t M,
                            const void *w, attn_qtype t, int64_t K, int64_t n0, int64_t n1) {
    switch (isa) {
#if defined(__x86_64__)
    case ATTN_ISA_AVX512: attn_qgemv_rows_nk_avx512(y, ldy, x, ldx, M, w, t, K, n0, n1); return;
    case ATTN_ISA_AVX2: attn_qgemv_rows_nk_avx2(y, ldy, x, ldx, M, w, t, K, n0, n1); return;
#endif
    default:
        for (int64_t r = 0; r < M; r++) qgemv_ref(y + r * ldy, x + r * ldx, w, t, K, n0, n1);
        return;
    }
}

void attn_qgemv_rows_nk(float *y, int64_t ldy, const float *x, int64_t ldx, int64_t M, const void *w, attn_qtype t,
                        int64_t K, int64_t n0, int64_t n1) {
    attn_qgemv_rows_nk_isa(attn_isa_current(), y, ldy, x, ldx, M, w, t, K, n0, n1);
}

void attn_qpack_b(float *dst, const void *w, attn_qtype t, int64_t K, int64_t N, int64_t k0, int64_t kc, int64_t n0,
                  int nr) {
    enum { KC_MAX = 1024 };
    float buf[KC_MAX];
    const attn_qtype_info *info = attn_qtype_get(t);
    size_t rb = attn_quant_row_bytes(t, K);
    for (int j = 0; j < nr; j++) {
        int64_t n = n0 + j;
        if (n >= N) {
            for (int64_t k = 0; k < kc; k++) dst[k * nr + j] = 0.0f;
            continue;
        }
        /* callers pass kc <= KC (256) of whole blocks; chunk anyway so any kc stays in bounds */
        for (int64_t c0 = 0; c0 < kc; c0 += KC_MAX) {
            int64_t m = kc - c0 < KC_MAX ? kc - c0 : KC_MAX;
            const uint8_t *src = (const uint8_t *)w + (size_t)n * rb + (k0 + c0) / info->block * info->bytes;
            attn_dequantize_row(t, src, buf, m);
            for (int64_t k = 0; k < m; k++) dst[(c0 + k) * nr + j] = buf[k];
        }
    }
}
