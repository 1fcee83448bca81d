/* test_quant.c - core/quant on its own: the type table (block sizes, names, row bytes),
 * hand-made blocks with known values, quantize/dequantize round trips within the grid's
 * error bound, and NaN/Inf inputs that must not crash or trip UBSan. Exactness against
 * llama.cpp (hashes of every tensor, byte-identical re-quantization) is in test_gguf.c. */
#include <stdint.h>

#include "core/common.h"
#include "core/quant.h"
#include "test.h"

static void test_qtypes(void) {
    CHECK(attn_quant_row_bytes(ATTN_QT_Q4_K, 4096) == 16 * 144, "q4_K row bytes");
    CHECK(attn_quant_row_bytes(ATTN_QT_Q8_0, 64) == 68, "q8_0 row bytes");
    CHECK(attn_quant_row_bytes(ATTN_QT_F16, 3) == 6, "f16 row bytes");
    CHECK(attn_quant_row_bytes(ATTN_QT_Q4_0, 33) == 0 && !attn_quant_row_ok(ATTN_QT_Q4_0, 33),
          "partial block");
    CHECK(attn_qtype_get(4) == NULL && attn_qtype_get(31) == NULL && attn_qtype_get(ATTN_QT_COUNT) == NULL &&
              attn_qtype_get(-1) == NULL,
          "removed / out-of-range ids");
    CHECK(attn_qtype_from_name("Q4_K") == ATTN_QT_Q4_K && attn_qtype_from_name("q6_k") == ATTN_QT_Q6_K &&
              attn_qtype_from_name("BF16") == ATTN_QT_BF16 && attn_qtype_from_name("q9_0") == -1,
          "names");
    CHECK(strcmp(attn_qtype_name(ATTN_QT_Q5_1), "q5_1") == 0 && strcmp(attn_qtype_name(5), "unknown") == 0,
          "name");
    float x[32] = {0}, y[32];
    uint8_t q[64];
    CHECK(attn_quantize_row(ATTN_QT_IQ2_XS, x, q, 256) != 0 && strstr(attn_last_error(), "iq2_xs"),
          "no iq2_xs quantizer");
    CHECK(attn_dequantize_row(ATTN_QT_IQ2_XS, q, y, 256) != 0, "no iq2_xs dequantizer");
    CHECK(attn_dequantize_row(ATTN_QT_Q8_0, q, y, 31) != 0 && strstr(attn_last_error(), "whole number"),
          "31 values");
}

/* Hand-made blocks with known values: d = 0.5 (0x3800), m = -1 (0xbc00). */
static void test_known_blocks(void) {
    uint8_t b[24] = {0x00, 0x38};
    float y[32];
    for (int j = 0; j < 16; j++) b[2 + j] = (uint8_t)(j | (15 - j) << 4);
    attn_dequantize_row_q4_0(b, y, 32);
    CHECK(y[0] == -4.0f && y[15] == 3.5f && y[16] == 3.5f && y[31] == -4.0f, "q4_0 %g %g %g %g", y[0], y[15],
          y[16], y[31]);
    uint8_t c[24] = {0x00, 0x38, 0x00, 0xbc};
    for (int j = 0; j < 16; j++) c[4 + j] = (uint8_t)(j | j << 4);
    attn_dequantize_row_q4_1(c, y, 32);
    CHECK(y[0] == -1.0f && y[15] == 6.5f && y[31] == 6.5f, "q4_1 %g %g", y[0], y[15]);
    uint8_t d[22] = {0x00, 0x38, 0x01, 0x00, 0x01, 0x80}; /* high bits of values 0, 16 and 31 */
    attn_dequantize_row_q5_0(d, y, 32);
    CHECK(y[0] == 0.0f && y[1] == -8.0f && y[16] == 0.0f && y[31] == 0.0f && y[17] == -8.0f, "q5_0 %g %g %g",
          y[0], y[1], y[16]);
    uint8_t e[34] = {0x00, 0x38};
    for (int j = 0; j < 32; j++) e[2 + j] = (uint8_t)(int8_t)(j - 16);
    attn_dequantize_row_q8_0(e, y, 32);
    CHECK(y[0] == -8.0f && y[31] == 7.5f, "q8_0 %g %g", y[0], y[31]);
}

static uint32_t rng_state = 12345;
static float frand(void) { /* uniform in [-1, 1) */
    rng_state = rng_state * 1664525u + 1013904223u;
    return (float)(rng_state >> 8) / (float)(1u << 23) - 1.0f;
}

/* Round trip error within half a step (plus f16 rounding of d/m), zero blocks stay zero,
 * and NaN/Inf do not crash (or trip UBSan). */
static void test_quant_roundtrip(void) {
    const attn_qtype types[] = {ATTN_QT_Q8_0, ATTN_QT_Q4_0, ATTN_QT_Q4_1, ATTN_QT_Q5_0,
                                ATTN_QT_Q5_1, ATTN_QT_F16,  ATTN_QT_BF16, ATTN_QT_F32};
    /* max error: half a step, except Q4_0/Q5_0 whose grid maps the signed absmax to -8 (-16)
     * and so clips the opposite extreme by up to a whole step (ggml's design) */
    const float steps[] = {1.0f / 127, 2.0f / 8, 2.0f / 15, 2.0f / 16, 2.0f / 31, 1e-3f, 8e-3f, 0};
    enum { N = 256 };
    float x[N], y[N];
    uint8_t q[N * 4];
    for (size_t k = 0; k < sizeof types / sizeof *types; k++) {
        for (int i = 0; i < N; i++) x[i] = frand();
        x[7] = 1.0f; /* so every block range is about [-1, 1] */
        CHECK(attn_quantize_row(types[k], x, q, N) == 0 && attn_dequantize_row(types[k], q, y, N) == 0, "%s",
              attn_qtype_name(types[k]));
        double worst = 0;
        for (int i = 0; i < N; i++) worst = fmax(worst, fabs((double)x[i] - y[i]));
        CHECK(worst <= steps[k] * 0.5 * 1.01 + 1e-3 * (k < 5), "%s: max error %g", attn_qtype_name(types[k]),
              worst);
        memset(x, 0, sizeof x);
        attn_quantize_row(types[k], x, q, N);
        attn_dequantize_row(types[k], q, y, N);
        int zero = 1;
        for (int i = 0; i < N; i++) zero &= y[i] == 0.0f;
        CHECK(zero, "%s: zeros do not stay zero", attn_qtype_name(types[k]));
        x[3] = NAN, x[40] = INFINITY, x[41] = -INFINITY, x[100] = 3e38f;
        attn_quantize_row(types[k], x, q, N); /* any bytes will do; it must not crash */
    }
}

int main(void) {
    test_qtypes();
    test_known_blocks();
    test_quant_roundtrip();
    return test_finish("test_quant");
}
