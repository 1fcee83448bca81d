/* cpu.h - which SIMD instruction set the kernels use, chosen at run time from what the CPU
 * (and the OS, for AVX-512 state) supports. ATTN_ISA=scalar|avx2|avx512 overrides it.
 * avx512 means F, BW, VL, DQ, BF16 and VNNI (Cooper Lake, Sapphire Rapids, Zen 4 and
 * later); a CPU with less runs the avx2 kernels (AVX2, FMA, F16C). */
#ifndef ATTN_CPU_H
#define ATTN_CPU_H

typedef enum { ATTN_ISA_SCALAR = 0, ATTN_ISA_AVX2 = 1, ATTN_ISA_AVX512 = 2, ATTN_ISA_COUNT } attn_isa;

typedef struct {
    int avx2, fma, f16c, avx512f, avx512bw, avx512vl, avx512dq, avx512bf16, avx512vnni, avx512vbmi;
} attn_cpu_features;

const attn_cpu_features *attn_cpu(void);
attn_isa attn_isa_best(void);          /* the widest set this machine supports */
int attn_isa_supported(attn_isa isa);
attn_isa attn_isa_current(void);       /* what the kernels use now */
int attn_isa_set(attn_isa isa);        /* -1 (with error) if not supported here */
const char *attn_isa_name(attn_isa isa);
int attn_isa_parse(const char *name, attn_isa *out);

#endif
