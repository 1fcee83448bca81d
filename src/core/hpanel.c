/* hpanel.c - plain matrices in 32-row panels (see hpanel.h). */
#include "hpanel.h"

#include "common.h"

bool attn_hpanel_ok(attn_isa isa, attn_dtype dt, int64_t K, int64_t N) {
    return isa == ATTN_ISA_AVX512 && (unsigned)dt < ATTN_DTYPE_COUNT && K > 0 && N > 0 && N % ATTN_HPANEL_ROWS == 0;
}

/* 64 values of the panel's 32 rows at a time: the reads stay in 32 short runs, the writes
 * in one. */
#define DEF_PACK(NAME, T)                                                                      \
    static void NAME(T *dst, const T *w, int64_t K, int64_t r0, int64_t rows) {                \
        enum { KB = 64, P = ATTN_HPANEL_ROWS };                                                \
        for (int64_t p = r0 / P; p < (r0 + rows) / P; p++) {                                   \
            T *d = dst + p * K * P;                                                            \
            const T *s = w + p * P * K;                                                        \
            for (int64_t k0 = 0; k0 < K; k0 += KB) {                                           \
                int64_t k1 = ATTN_MIN(k0 + KB, K);                                             \
                for (int j = 0; j < P; j++)                                                    \
                    for (int64_t k = k0; k < k1; k++) d[k * P + j] = s[j * K + k];             \
            }                                                                                  \
        }                                                                                      \
    }
DEF_PACK(pack16, uint16_t)
DEF_PACK(pack32, uint32_t)

void attn_hpanel_pack(void *dst, const void *w, attn_dtype dt, int64_t K, int64_t r0, int64_t rows) {
    if (attn_dtype_size(dt) == 4) pack32(dst, w, K, r0, rows);
    else pack16(dst, w, K, r0, rows);
}

void attn_hpanel_row(float *dst, const void *panels, attn_dtype dt, int64_t K, int64_t n) {
    for (int64_t k = 0; k < K; k++)
        attn_to_f32(dst + k, (const char *)panels + attn_hpanel_index(K, n, k) * attn_dtype_size(dt), dt, 1);
}
