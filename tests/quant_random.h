/* quant_random.h - random test data for the quantized kernels' tests: a xorshift stream,
 * and random block-quantized matrices whose f16 scale fields hold small finite halves (random
 * bytes there could be NaN or huge) while every other byte is random. Header-only (static). */
#ifndef ATTN_TESTS_QUANT_RANDOM_H
#define ATTN_TESTS_QUANT_RANDOM_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "core/quant.h"
#include "core/tensor.h"

static uint64_t rng = 0x9E3779B97F4A7C15ull; /* a test may reseed it */

static uint32_t next_u32(void) {
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return (uint32_t)(rng >> 16);
}

static float uniform(void) { return (float)(next_u32() % 2000001) / 1000000.0f - 1.0f; }

/* Byte offsets of the f16 scale fields in a block (-1 ends). */
static const int *half_fields(attn_qtype t) {
    static const int d0[] = {0, -1}, d0m2[] = {0, 2, -1}, q2k[] = {80, 82, -1}, q3k[] = {108, -1}, q6k[] = {208, -1};
    switch (t) {
    case ATTN_QT_Q4_1: case ATTN_QT_Q5_1: case ATTN_QT_Q4_K: case ATTN_QT_Q5_K: return d0m2;
    case ATTN_QT_Q2_K: return q2k;
    case ATTN_QT_Q3_K: return q3k;
    case ATTN_QT_Q6_K: return q6k;
    default: return d0;
    }
}

/* N rows of K values: every byte random (Q8_0's -128 and Q6_K's scale -128 included), the
 * scales small random halves. malloc'd. */
static uint8_t *random_matrix(attn_qtype t, int64_t N, int64_t K) {
    const attn_qtype_info *info = attn_qtype_get(t);
    size_t bytes = attn_quant_row_bytes(t, K) * (size_t)N;
    uint8_t *w = malloc(bytes);
    for (size_t i = 0; i < bytes; i++) w[i] = (uint8_t)next_u32();
    for (size_t b = 0; b < bytes; b += (size_t)info->bytes)
        for (const int *f = half_fields(t); *f >= 0; f++) {
            uint16_t h = attn_f32_to_f16(uniform() * 0.05f);
            memcpy(w + b + *f, &h, 2);
        }
    return w;
}

#endif
