/* tensor.c - dtype helpers and bulk conversions. */
#include "tensor.h"

size_t attn_dtype_size(attn_dtype t) {
    switch (t) {
    case ATTN_F32: return 4;
    case ATTN_F16: return 2;
    case ATTN_BF16: return 2;
    default: return 0;
    }
}

const char *attn_dtype_name(attn_dtype t) {
    switch (t) {
    case ATTN_F32: return "F32";
    case ATTN_F16: return "F16";
    case ATTN_BF16: return "BF16";
    default: return "?";
    }
}

int64_t attn_tensor_numel(const attn_tensor *t) {
    int64_t n = 1;
    for (int i = 0; i < t->ndim; i++) n *= t->shape[i];
    return n;
}

size_t attn_tensor_bytes(const attn_tensor *t) {
    return (size_t)attn_tensor_numel(t) * attn_dtype_size(t->dtype);
}

void attn_to_f32(float *dst, const void *src, attn_dtype t, int64_t n) {
    const uint16_t *h = src;
    switch (t) {
    case ATTN_F32: memcpy(dst, src, (size_t)n * 4); break;
    case ATTN_F16: for (int64_t i = 0; i < n; i++) dst[i] = attn_f16_to_f32(h[i]); break;
    case ATTN_BF16: for (int64_t i = 0; i < n; i++) dst[i] = attn_bf16_to_f32(h[i]); break;
    default: break;
    }
}

void attn_from_f32(void *dst, const float *src, attn_dtype t, int64_t n) {
    uint16_t *h = dst;
    switch (t) {
    case ATTN_F32: memcpy(dst, src, (size_t)n * 4); break;
    case ATTN_F16: for (int64_t i = 0; i < n; i++) h[i] = attn_f32_to_f16(src[i]); break;
    case ATTN_BF16: for (int64_t i = 0; i < n; i++) h[i] = attn_f32_to_bf16(src[i]); break;
    default: break;
    }
}
