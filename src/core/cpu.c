/* cpu.c - CPU feature detection (cpuid + xgetbv on x86-64) and the current ISA choice. */
#include "cpu.h"

#include <stdlib.h>
#include <string.h>
#include "common.h"

#if defined(__x86_64__)
#include <cpuid.h>
static unsigned long long read_xcr0(void) {
    unsigned int lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((unsigned long long)hi << 32) | lo;
}
#endif

static attn_cpu_features features;
static int detected;
static int isa_current = -1;

const attn_cpu_features *attn_cpu(void) {
    if (detected) return &features;
#if defined(__x86_64__)
    unsigned a, b, c, d;
    if (__get_cpuid(1, &a, &b, &c, &d)) {
        int osxsave = (c >> 27) & 1;
        unsigned long long xcr0 = osxsave ? read_xcr0() : 0;
        int ymm_ok = (xcr0 & 6) == 6, zmm_ok = (xcr0 & 0xe6) == 0xe6;
        features.fma = ymm_ok && ((c >> 12) & 1);
        features.f16c = ymm_ok && ((c >> 29) & 1);
        if (__get_cpuid_count(7, 0, &a, &b, &c, &d)) {
            features.avx2 = ymm_ok && ((b >> 5) & 1);
            features.avx512f = zmm_ok && ((b >> 16) & 1);
            features.avx512dq = zmm_ok && ((b >> 17) & 1);
            features.avx512bw = zmm_ok && ((b >> 30) & 1);
            features.avx512vl = zmm_ok && ((b >> 31) & 1);
            features.avx512vnni = zmm_ok && ((c >> 11) & 1);
            features.avx512vbmi = zmm_ok && ((c >> 1) & 1);
        }
        if (__get_cpuid_count(7, 1, &a, &b, &c, &d)) features.avx512bf16 = zmm_ok && ((a >> 5) & 1);
    }
#endif
    detected = 1;
    return &features;
}

int attn_isa_supported(attn_isa isa) {
    const attn_cpu_features *f = attn_cpu();
    switch (isa) {
    case ATTN_ISA_SCALAR: return 1;
#if defined(__x86_64__)
    case ATTN_ISA_AVX2: return f->avx2 && f->fma && f->f16c;
    case ATTN_ISA_AVX512:
        /* VNNI and VBMI's byte shuffles for the integer dot products (Sapphire Rapids and
         * Zen 4 on have both; Cooper Lake, with BF16 but no VBMI, runs the AVX2 kernels) */
        return f->avx512f && f->avx512bw && f->avx512vl && f->avx512dq && f->avx512bf16 && f->avx512vnni &&
               f->avx512vbmi && f->fma && f->f16c;
#endif
    default: (void)f; return 0;
    }
}

attn_isa attn_isa_best(void) {
    for (int i = ATTN_ISA_COUNT - 1; i > 0; i--)
        if (attn_isa_supported((attn_isa)i)) return (attn_isa)i;
    return ATTN_ISA_SCALAR;
}

static const char *isa_names[ATTN_ISA_COUNT] = {"scalar", "avx2", "avx512"};

const char *attn_isa_name(attn_isa isa) {
    return (unsigned)isa < ATTN_ISA_COUNT ? isa_names[isa] : "?";
}

int attn_isa_parse(const char *name, attn_isa *out) {
    for (int i = 0; i < ATTN_ISA_COUNT; i++)
        if (strcmp(name, isa_names[i]) == 0) {
            *out = (attn_isa)i;
            return 0;
        }
    return attn_error("unknown instruction set '%s' (expected scalar, avx2 or avx512)", name);
}

attn_isa attn_isa_current(void) {
    if (isa_current < 0) {
        attn_isa isa = attn_isa_best();
        const char *env = getenv("ATTN_ISA");
        attn_isa want = isa;
        if (env && *env && attn_isa_parse(env, &want) == 0 && attn_isa_supported(want)) isa = want;
        isa_current = isa;
    }
    return (attn_isa)isa_current;
}

int attn_isa_set(attn_isa isa) {
    if (!attn_isa_supported(isa))
        return attn_error("instruction set %s is not supported by this CPU", attn_isa_name(isa));
    isa_current = isa;
    return 0;
}
