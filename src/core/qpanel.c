/* qpanel.c - the panel repacker, the scalar references of the panel kernels and the per-ISA
 * dispatch (see qpanel.h; the AVX-512 kernels are in simd/qpanel.c). */
#include "qpanel.h"

#include <string.h>
#include "quant_matmul.h"

#if defined(__x86_64__)
void attn_qpanel_dot_avx512(float *y, int64_t ldy, const attn_qx *qx, const void *panels, attn_qtype t, int64_t n0,
                            int64_t n1);
void attn_qpanel_pack_b_avx512(float *dst, int nr, const void *panels, attn_qtype t, int64_t K, int64_t N, int64_t k0,
                               int64_t kc, int64_t n0);
#endif

enum { P = ATTN_QPANEL_ROWS };

static bool kquant(attn_qtype t) { return t == ATTN_QT_Q4_K || t == ATTN_QT_Q5_K || t == ATTN_QT_Q6_K; }

bool attn_qpanel_ok(attn_qtype t, int64_t K, int64_t N) {
    bool legacy = t == ATTN_QT_Q4_0 || t == ATTN_QT_Q4_1 || t == ATTN_QT_Q5_0 || t == ATTN_QT_Q5_1 || t == ATTN_QT_Q8_0;
    return (legacy || kquant(t)) && K > 0 && K % attn_qtype_get(t)->block == 0 && N > 0 && N % P == 0;
}

bool attn_qpanel_wanted(attn_isa isa) { return isa == ATTN_ISA_AVX512; }

int attn_qpanel_value_bytes(attn_qtype t) {
    switch (t) {
    case ATTN_QT_Q8_0: return 512;
    case ATTN_QT_Q5_0: case ATTN_QT_Q5_1: return 320; /* nibbles, then each row's 32 fifth bits */
    case ATTN_QT_Q4_K: return 2048;
    case ATTN_QT_Q5_K: return 2560; /* Q4_K's, then 8 vectors of qh */
    case ATTN_QT_Q6_K: return 3072;
    default: return 256;
    }
}

int attn_qpanel_scale_bytes(attn_qtype t) {
    return t == ATTN_QT_Q4_1 || t == ATTN_QT_Q5_1 ? 64 : t == ATTN_QT_Q4_K || t == ATTN_QT_Q5_K ? 320
         : t == ATTN_QT_Q6_K                        ? 288
                                                    : 32;
}

size_t attn_qpanel_bytes(attn_qtype t, int64_t K, int64_t N) {
    return (size_t)(N / P) * (size_t)(K / attn_qtype_get(t)->block) *
           (size_t)(attn_qpanel_value_bytes(t) + attn_qpanel_scale_bytes(t));
}

/* Panel p's start. */
static const uint8_t *panel_at(const void *panels, attn_qtype t, int64_t K, int64_t p) {
    return (const uint8_t *)panels + (size_t)p * attn_qpanel_bytes(t, K, P);
}

/* Where a 32-block keeps its minimum m (Q4_1, Q5_1), else 0. */
static int minimum_at(attn_qtype t) { return t == ATTN_QT_Q4_1 || t == ATTN_QT_Q5_1 ? 2 : 0; }

/* len bytes between a GGUF block's and a panel's, into the panel (`in`) or back; x flips the
 * bits of a 4-byte word either way. */
static void move(uint8_t *blk, uint8_t *pan, int len, bool in, uint32_t x) {
    uint8_t *dst = in ? pan : blk;
    const uint8_t *src = in ? blk : pan;
    if (len != 4) {
        memcpy(dst, src, (size_t)len);
        return;
    }
    uint32_t w;
    memcpy(&w, src, 4);
    w ^= x;
    memcpy(dst, &w, 4);
}

/* Row n's block blk (GGUF bytes) into a panel's block (values vals, scales sc), or back out:
 * every type's panel layout (qpanel.h) in one place, for both directions. */
static void move_block(attn_qtype t, uint8_t *blk, int n, uint8_t *vals, uint8_t *sc, bool in) {
#define LANE(v) (vals + 64 * (v) + 4 * n)
    switch (t) {
    case ATTN_QT_Q4_K:
    case ATTN_QT_Q5_K: { /* qs, Q5_K's qh, d, dmin, the 6-bit scales and mins a byte each */
        const int qs = t == ATTN_QT_Q5_K ? 48 : 16;
        for (int v = 0; v < 32; v++) move(blk + qs + 4 * v, LANE(v), 4, in, 0);
        for (int v = 0; t == ATTN_QT_Q5_K && v < 8; v++) move(blk + 16 + 4 * v, LANE(32 + v), 4, in, 0);
        move(blk, sc + 2 * n, 2, in, 0), move(blk + 2, sc + 32 + 2 * n, 2, in, 0);
        uint8_t ls[8], lm[8];
        for (int g = 0; g < 8; g++) {
            int s, m;
            if (in) attn_q4k_scale_min(g, blk + 4, &s, &m), sc[64 + 16 * g + n] = (uint8_t)s, sc[192 + 16 * g + n] = (uint8_t)m;
            else ls[g] = sc[64 + 16 * g + n], lm[g] = sc[192 + 16 * g + n];
        }
        if (!in) attn_q4k_pack_scale_min(ls, lm, blk + 4);
        return;
    }
    case ATTN_QT_Q6_K: /* per half h: ql[64h..] (8 vectors), ql[64h+32..] (8), qh[32h..] (8); d, int8 scales */
        for (int h = 0; h < 2; h++)
            for (int c = 0; c < 8; c++) {
                move(blk + 64 * h + 4 * c, LANE(24 * h + c), 4, in, 0);
                move(blk + 64 * h + 32 + 4 * c, LANE(24 * h + 8 + c), 4, in, 0);
                move(blk + 128 + 32 * h + 4 * c, LANE(24 * h + 16 + c), 4, in, 0);
            }
        move(blk + 208, sc + 2 * n, 2, in, 0);
        for (int j = 0; j < 16; j++) move(blk + 192 + j, sc + 32 + 16 * j + n, 1, in, 0);
        return;
    default: { /* 4 values a lane: Q8_0's signed bytes plus 128; Q5's fifth bits as a 5th vector */
        const int qs = t == ATTN_QT_Q5_1 ? 8 : t == ATTN_QT_Q5_0 ? 6 : t == ATTN_QT_Q4_1 ? 4 : 2, m = minimum_at(t);
        for (int v = 0; v < (t == ATTN_QT_Q8_0 ? 8 : 4); v++)
            move(blk + qs + 4 * v, LANE(v), 4, in, t == ATTN_QT_Q8_0 ? 0x80808080u : 0);
        if (t == ATTN_QT_Q5_0 || t == ATTN_QT_Q5_1) move(blk + qs - 4, LANE(4), 4, in, 0);
        move(blk, sc + 2 * n, 2, in, 0);                 /* d */
        if (m) move(blk + m, sc + 32 + 2 * n, 2, in, 0); /* m */
        return;
    }
    }
#undef LANE
}

/* Block b of row n's panel: its values and scales. */
static void block_at(const void *panels, attn_qtype t, int64_t K, int64_t n, int64_t b, uint8_t **vals, uint8_t **sc) {
    const int64_t nb = K / attn_qtype_get(t)->block;
    const int vb = attn_qpanel_value_bytes(t), sb = attn_qpanel_scale_bytes(t);
    uint8_t *panel = (uint8_t *)(uintptr_t)panel_at(panels, t, K, n / P);
    int64_t v, s;
    attn_qpanel_offsets(vb, sb, nb, b, &v, &s);
    *vals = panel + v, *sc = panel + s;
}

void attn_qpanel_pack(void *dst, const void *w, attn_qtype t, int64_t K, int64_t N) {
    const int64_t nb = K / attn_qtype_get(t)->block, bytes = attn_qtype_get(t)->bytes;
    for (int64_t n = 0; n < N; n++)
        for (int64_t b = 0; b < nb; b++) {
            uint8_t *vals, *sc;
            block_at(dst, t, K, n, b, &vals, &sc);
            move_block(t, (uint8_t *)(uintptr_t)w + (size_t)(n * nb + b) * (size_t)bytes, (int)(n % P), vals, sc, true);
        }
}

void attn_qpanel_unpack_block(void *blk, const void *panels, attn_qtype t, int64_t K, int64_t n, int64_t b) {
    uint8_t *vals, *sc;
    block_at(panels, t, K, n, b, &vals, &sc);
    move_block(t, blk, (int)(n % P), vals, sc, false);
}

/* The row reference's sums, from blocks unpacked one at a time. */
static float panel_dot_ref(const attn_qx *qx, int64_t r, const void *panels, attn_qtype t, int64_t n) {
    uint8_t blk[ATTN_QPANEL_MAX_BLOCK];
    float y = 0;
    for (int64_t b = 0; b < qx->K / attn_qtype_get(t)->block; b++) {
        attn_qpanel_unpack_block(blk, panels, t, qx->K, n, b);
        y += attn_qdot_ref_block(qx, r, b, blk, t);
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
#else
    (void)isa; /* panels have kernels only in the x86-64 AVX-512 build */
#endif
    for (int64_t n = n0; n < n1; n++)
        for (int64_t r = 0; r < qx->rows; r++)
            y[r * ldy + n] = panel_dot_ref(qx, r, panels, t, n);
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
#else
    (void)isa;
#endif
    const int B = attn_qtype_get(t)->block;
    for (int64_t c = 0; c < nr; c++) {
        uint8_t blk[ATTN_QPANEL_MAX_BLOCK];
        float x[256];
        for (int64_t b = k0 / B; b * B < k0 + kc; b++) {
            if (n0 + c < N) attn_qpanel_unpack_block(blk, panels, t, K, n0 + c, b), attn_dequantize_row(t, blk, x, B);
            for (int j = 0; j < B; j++) dst[(b * B + j - k0) * nr + c] = n0 + c < N ? x[j] : 0.0f;
        }
    }
}

void attn_qpanel_pack_b(float *dst, int nr, const void *panels, attn_qtype t, int64_t K, int64_t N, int64_t k0,
                        int64_t kc, int64_t n0) {
    attn_qpanel_pack_b_isa(attn_isa_current(), dst, nr, panels, t, K, N, k0, kc, n0);
}

void attn_qpanel_row(float *dst, const void *panels, attn_qtype t, int64_t K, int64_t n) {
    const int B = attn_qtype_get(t)->block;
    uint8_t blk[ATTN_QPANEL_MAX_BLOCK];
    for (int64_t b = 0; b < K / B; b++) {
        attn_qpanel_unpack_block(blk, panels, t, K, n, b);
        attn_dequantize_row(t, blk, dst + b * B, B);
    }
}
