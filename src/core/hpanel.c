/* hpanel.c - f16/bf16 matrices in 32-row panels (see hpanel.h). */
#include "hpanel.h"

#include "common.h"

bool attn_hpanel_ok(attn_isa isa, attn_dtype dt, int64_t K, int64_t N) {
    return isa == ATTN_ISA_AVX512 && (dt == ATTN_F16 || dt == ATTN_BF16) && K > 0 && N > 0 && N % ATTN_HPANEL_ROWS == 0;
}

/* 64 values of the panel's 32 rows at a time: the reads stay in 32 short runs, the writes
 * in one. */
void attn_hpanel_pack(uint16_t *dst, const uint16_t *w, int64_t K, int64_t r0, int64_t rows) {
    enum { KB = 64, P = ATTN_HPANEL_ROWS };
    for (int64_t p = r0 / P; p < (r0 + rows) / P; p++) {
        uint16_t *d = dst + p * K * P;
        const uint16_t *s = w + p * P * K;
        for (int64_t k0 = 0; k0 < K; k0 += KB) {
            int64_t k1 = ATTN_MIN(k0 + KB, K);
            for (int j = 0; j < P; j++)
                for (int64_t k = k0; k < k1; k++) d[k * P + j] = s[j * K + k];
        }
    }
}

void attn_hpanel_row(float *dst, const uint16_t *panels, attn_dtype dt, int64_t K, int64_t n) {
    const uint16_t *p = panels + n / ATTN_HPANEL_ROWS * K * ATTN_HPANEL_ROWS + n % ATTN_HPANEL_ROWS;
    for (int64_t k = 0; k < K; k++) {
        uint16_t h = p[k * ATTN_HPANEL_ROWS];
        dst[k] = dt == ATTN_BF16 ? attn_bf16_to_f32(h) : attn_f16_to_f32(h);
    }
}
