/* tensor.h - element types and the tensor view every layer passes around. A tensor never
 * owns its memory: data lives in an arena, a planned buffer or an mmapped file, and the
 * owner of that memory frees it. */
#ifndef ATTN_TENSOR_H
#define ATTN_TENSOR_H

#include <stdint.h>
#include <string.h>
#include "common.h" /* and attn_dtype, from <attn/core.h> */

#define ATTN_MAX_DIMS 4

typedef struct {
    attn_dtype dtype;
    int ndim;
    int64_t shape[ATTN_MAX_DIMS]; /* row-major, last dimension contiguous */
    void *data;
} attn_tensor;

size_t attn_dtype_size(attn_dtype t);
const char *attn_dtype_name(attn_dtype t);
int64_t attn_tensor_numel(const attn_tensor *t);
size_t attn_tensor_bytes(const attn_tensor *t);

/* IEEE half and bfloat16 <-> float, exact round-to-nearest-even, NaN and Inf preserved. */
static inline float attn_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1f, mant = h & 0x3ff, bits;
    if (exp == 0x1f) {
        bits = sign | 0x7f800000u | (mant << 13);
    } else if (exp != 0) {
        bits = sign | ((exp + 112) << 23) | (mant << 13);
    } else if (mant == 0) {
        bits = sign;
    } else { /* subnormal: normalise */
        int e = -1;
        do { e++; mant <<= 1; } while (!(mant & 0x400));
        bits = sign | ((uint32_t)(112 - e) << 23) | ((mant & 0x3ff) << 13);
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

static inline uint16_t attn_f32_to_f16(float f) {
    uint32_t x;
    memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000;
    uint32_t absx = x & 0x7fffffffu;
    if (absx >= 0x7f800000u) /* Inf or NaN */
        return (uint16_t)(sign | 0x7c00 | (absx > 0x7f800000u ? 0x200 : 0));
    if (absx >= 0x477ff000u) return (uint16_t)(sign | 0x7c00); /* rounds to Inf */
    if (absx < 0x38800000u) { /* result is subnormal or zero */
        if (absx < 0x33000000u) return (uint16_t)sign;
        uint32_t mant = (absx & 0x7fffff) | 0x800000;
        int shift = 126 - (int)(absx >> 23); /* 14..24 */
        uint32_t half = mant >> shift;
        uint32_t rem = mant & ((1u << shift) - 1), mid = 1u << (shift - 1);
        if (rem > mid || (rem == mid && (half & 1))) half++;
        return (uint16_t)(sign | half);
    }
    uint32_t r = absx + 0xfff + ((absx >> 13) & 1); /* round to nearest even */
    return (uint16_t)(sign | ((r - 0x38000000u) >> 13));
}

static inline float attn_bf16_to_f32(uint16_t b) {
    uint32_t bits = (uint32_t)b << 16;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

static inline uint16_t attn_f32_to_bf16(float f) {
    uint32_t x;
    memcpy(&x, &f, 4);
    if ((x & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((x >> 16) | 0x40); /* quiet NaN */
    return (uint16_t)((x + 0x7fff + ((x >> 16) & 1)) >> 16);
}

/* Converts n elements of src (any dtype) to float. */
void attn_to_f32(float *dst, const void *src, attn_dtype t, int64_t n);
/* Converts n floats to dtype t. */
void attn_from_f32(void *dst, const float *src, attn_dtype t, int64_t n);

#endif
