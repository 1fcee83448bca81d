/* bench_peak.c - one core's arithmetic peak: f32 FMA (AVX-512 and AVX2) against AVX512_BF16's
 * vdpbf16ps, each as 12 independent accumulator chains in registers (no memory traffic).
 * It answers whether bf16 training pays on this CPU: a bf16 GEMM is only faster if vdpbf16ps
 * delivers more multiply-adds per second than f32 FMA does. Usage: bench_peak [seconds]. */
#include <stdio.h>
#include <stdlib.h>
#include "core/common.h"

#if defined(__x86_64__)
#include <immintrin.h>

#define CHAINS(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11)
/* distinct start values, so the compiler cannot merge the chains into one */
#define DECLARE(i) __m512 a##i = _mm512_set1_ps(0.5f * (float)(i));
#define SUM(i) s += _mm512_reduce_add_ps(a##i);

__attribute__((target("avx512f"))) static double fma512(long iters) {
    CHAINS(DECLARE)
    __m512 x = _mm512_set1_ps(1.0001f), y = _mm512_set1_ps(0.9999f);
    double t0 = attn_time_s();
    for (long i = 0; i < iters; i++) {
#define STEP(i) a##i = _mm512_fmadd_ps(x, y, a##i);
        CHAINS(STEP)
#undef STEP
    }
    double dt = attn_time_s() - t0;
    float s = 0;
    CHAINS(SUM)
    if (s == 1.0f) puts(""); /* keeps the result alive */
    return iters * 12.0 * 32 / dt / 1e9; /* 16 lanes x 2 flops */
}

__attribute__((target("avx512f,avx512bf16"))) static double dpbf16(long iters) {
    CHAINS(DECLARE)
    __m512bh x = (__m512bh)_mm512_set1_epi16(0x3f80), y = (__m512bh)_mm512_set1_epi16(0x3f80);
    double t0 = attn_time_s();
    for (long i = 0; i < iters; i++) {
#define STEP(i) a##i = _mm512_dpbf16_ps(a##i, x, y);
        CHAINS(STEP)
#undef STEP
    }
    double dt = attn_time_s() - t0;
    float s = 0;
    CHAINS(SUM)
    if (s == 1.0f) puts("");
    return iters * 12.0 * 64 / dt / 1e9; /* 16 lanes x 2 products x 2 flops */
}

#define DECLARE8(i) __m256 a##i = _mm256_set1_ps(0.5f * (float)(i));
__attribute__((target("avx2,fma"))) static double fma256(long iters) {
    CHAINS(DECLARE8)
    __m256 x = _mm256_set1_ps(1.0001f), y = _mm256_set1_ps(0.9999f);
    double t0 = attn_time_s();
    for (long i = 0; i < iters; i++) {
#define STEP(i) a##i = _mm256_fmadd_ps(x, y, a##i);
        CHAINS(STEP)
#undef STEP
    }
    double dt = attn_time_s() - t0;
    float s = 0;
#define SUM8(i) s += a##i[0];
    CHAINS(SUM8)
    if (s == 1.0f) puts("");
    return iters * 12.0 * 16 / dt / 1e9;
}

int main(int argc, char **argv) {
    double seconds = argc > 1 ? atof(argv[1]) : 0.5;
    long iters = (long)(seconds * 3e8 / 12);
    __builtin_cpu_init();
    printf("one core, 12 independent chains in registers:\n");
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        printf("  AVX2 f32 FMA         %6.1f GFLOP/s\n", fma256(iters));
    if (__builtin_cpu_supports("avx512f")) printf("  AVX-512 f32 FMA      %6.1f GFLOP/s\n", fma512(iters));
    if (__builtin_cpu_supports("avx512bf16"))
        printf("  AVX-512 bf16 dpbf16  %6.1f GFLOP/s (each product counted as 2 flops)\n", dpbf16(iters));
    else
        printf("  AVX512_BF16: not on this CPU\n");
    return 0;
}
#else
int main(void) {
    puts("bench_peak measures x86-64 vector units only");
    return 0;
}
#endif
