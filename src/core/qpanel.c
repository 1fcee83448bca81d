/* qpanel.c - the panel repacker, the scalar references of the panel kernels and the per-ISA
 * dispatch (see qpanel.h; the AVX-512 kernels are in simd/qpanel.c). */
#include "qpanel.h"

#include <string.h>
#include "tensor.h"

#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off") /* the references must round like attn_dequantize_row */
#endif

#if defined(__x86_64__)
void attn_qpanel_dot_avx512(float *y, int64_t ldy, const attn_qx *qx, const void *panels, attn_qtype t, int64_t n0,
                            int64_t n1);
void attn_qpanel_pack_b_avx512(float *dst, int nr, const void *panels, attn_qtype t, int64_t K, int64_t N, int64_t k0,
                               int64_t kc, int64_t n0);
#endif

enum { P = ATTN_QPANEL_ROWS };

bool attn_qpanel_ok(attn_qtype t, int64_t K, int64_t N) {
    bool type = t == ATTN_QT_Q4_0 || t == ATTN_QT_Q4_1 || t == ATTN_QT_Q8_0;
    return type && K > 0 && K % 32 == 0 && N > 0 && N % P == 0;
}

bool attn_qpanel_wanted(attn_isa isa) { return isa == ATTN_ISA_AVX512; }

int attn_qpanel_value_bytes(attn_qtype t) { return t == ATTN_QT_Q8_0 ? 512 : 256; }
int attn_qpanel_scale_bytes(attn_qtype t) { return t == ATTN_QT_Q4_1 ? 64 : 32; }

/* Where a panel's block b keeps its values and scales. */
static const uint8_t *panel_at(const void *panels, attn_qtype t, int64_t K, int64_t p) {
    return (const uint8_t *)panels + (size_t)p * P * attn_quant_row_bytes(t, K);
}

void attn_qpanel_pack(void *dst, const void *w, attn_qtype t, int64_t K, int64_t N) {
    const int64_t nb = K / 32, bytes = attn_qtype_get(t)->bytes, rb = nb * bytes;
    const int vb = attn_qpanel_value_bytes(t), sb = attn_qpanel_scale_bytes(t);
    const int qs = t == ATTN_QT_Q4_1 ? 4 : 2; /* where a block's value bytes start */
    for (int64_t p = 0; p < N / P; p++) {
        uint8_t *vals = (uint8_t *)dst + (size_t)p * P * rb, *scales = vals + nb * vb;
        for (int n = 0; n < P; n++) {
            const uint8_t *row = (const uint8_t *)w + (size_t)(p * P + n) * rb;
            for (int64_t b = 0; b < nb; b++) {
                const uint8_t *blk = row + b * bytes;
                for (int j = 0; j < vb / 64; j++) { /* 4 values a lane: Q8_0's signed bytes plus 128 */
                    uint32_t v;
                    memcpy(&v, blk + qs + 4 * j, 4);
                    v ^= t == ATTN_QT_Q8_0 ? 0x80808080u : 0;
                    memcpy(vals + b * vb + 64 * j + 4 * n, &v, 4);
                }
                memcpy(scales + b * sb + 2 * n, blk, 2);                           /* d */
                if (t == ATTN_QT_Q4_1) memcpy(scales + b * sb + 32 + 2 * n, blk + 2, 2); /* m */
            }
        }
    }
}

static float half_at(const uint8_t *p) { return attn_f16_to_f32((uint16_t)(p[0] | p[1] << 8)); }

/* Row n of a panel's block: its 32 integer values as attn_qdot's reference reads them (Q8_0
 * signed, Q4 unsigned), d, and the constant c of w = d*q + c. */
static void panel_block(attn_qtype t, const uint8_t *vals, const uint8_t *scales, int n, int q[32], float *d, float *c) {
    for (int j = 0; j < attn_qpanel_value_bytes(t) / 64; j++)
        for (int i = 0; i < 4; i++) {
            uint8_t v = vals[64 * j + 4 * n + i];
            if (t == ATTN_QT_Q8_0) q[4 * j + i] = (int8_t)(v ^ 0x80);
            else q[4 * j + i] = v & 15, q[16 + 4 * j + i] = v >> 4;
        }
    *d = half_at(scales + 2 * n);
    *c = t == ATTN_QT_Q4_1 ? half_at(scales + 32 + 2 * n) : t == ATTN_QT_Q4_0 ? -8.0f * *d : 0.0f;
}

/* The same sums as quant_matmul.c's qdot_ref, from a panel. */
static float panel_dot_ref(const attn_qx *qx, int64_t r, const uint8_t *panel, attn_qtype t, int n) {
    const int64_t K = qx->K, nb = K / 32;
    const int vb = attn_qpanel_value_bytes(t), sb = attn_qpanel_scale_bytes(t);
    const int8_t *hi = qx->hi + r * K, *lo = qx->lo ? qx->lo + r * K : NULL;
    const float *dx = qx->d + r * qx->nb_pad, *sum = qx->sum + r * qx->nb_pad;
    float y = 0;
    for (int64_t b = 0; b < nb; b++) {
        int q[32];
        float d, c;
        panel_block(t, panel + b * vb, panel + nb * vb + b * sb, n, q, &d, &c);
        int32_t s = 0;
        for (int j = 0; j < 32; j++) s += q[j] * (lo ? 256 * hi[32 * b + j] + lo[32 * b + j] : hi[32 * b + j]);
        y += (float)s * (d * dx[b] * (lo ? 1.0f / 256 : 1.0f)) + c * sum[b];
    }
    return y;
}

void attn_qpanel_dot_isa(attn_isa isa, float *y, int64_t ldy, const attn_qx *qx, const void *panels, attn_qtype t,
                         int64_t n0, int64_t n1) {
#if defined(__x86_64__)
    if (isa == ATTN_ISA_AVX512) {
        attn_qpanel_dot_avx512(y, ldy, qx, panels, t, n0, n1);
        return;
    }
#endif
    for (int64_t n = n0; n < n1; n++)
        for (int64_t r = 0; r < qx->rows; r++)
            y[r * ldy + n] = panel_dot_ref(qx, r, panel_at(panels, t, qx->K, n / P), t, (int)(n % P));
}

void attn_qpanel_dot(float *y, int64_t ldy, const attn_qx *qx, const void *panels, attn_qtype t, int64_t n0,
                     int64_t n1) {
    attn_qpanel_dot_isa(attn_isa_current(), y, ldy, qx, panels, t, n0, n1);
}

void attn_qpanel_pack_b_isa(attn_isa isa, float *dst, int nr, const void *panels, attn_qtype t, int64_t K, int64_t N,
                            int64_t k0, int64_t kc, int64_t n0) {
#if defined(__x86_64__)
    if (isa == ATTN_ISA_AVX512) {
        attn_qpanel_pack_b_avx512(dst, nr, panels, t, K, N, k0, kc, n0);
        return;
    }
#endif
    const int64_t nb = K / 32;
    const int vb = attn_qpanel_value_bytes(t), sb = attn_qpanel_scale_bytes(t);
    for (int64_t c = 0; c < nr; c++) {
        const int64_t n = n0 + c;
        const uint8_t *panel = n < N ? panel_at(panels, t, K, n / P) : NULL;
        for (int64_t b = k0 / 32; b * 32 < k0 + kc; b++) {
            int q[32];
            float d, m;
            if (panel) panel_block(t, panel + b * vb, panel + nb * vb + b * sb, (int)(n % P), q, &d, &m);
            for (int j = 0; j < 32; j++) { /* attn_dequantize_row's expressions */
                float v = !panel ? 0.0f : t == ATTN_QT_Q4_0 ? (float)(q[j] - 8) * d
                                     : t == ATTN_QT_Q4_1 ? (float)q[j] * d + m : (float)q[j] * d;
                dst[(b * 32 + j - k0) * nr + c] = v;
            }
        }
    }
}

void attn_qpanel_pack_b(float *dst, int nr, const void *panels, attn_qtype t, int64_t K, int64_t N, int64_t k0,
                        int64_t kc, int64_t n0) {
    attn_qpanel_pack_b_isa(attn_isa_current(), dst, nr, panels, t, K, N, k0, kc, n0);
}
