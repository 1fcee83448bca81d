/* gemm.c - C[M][N] (+)= A[M][K] · B[K][N] over the kernels table's packed micro-kernels, in
 * kc-deep slices of the reduction (see gemm.h).
 *
 * The smaller operand is packed once, in parallel, into a buffer every thread reads; the
 * other dimension is then handed out in chunks from a shared counter (attn_parallel_for_
 * dynamic), and each chunk packs its own part of the larger operand. So every element of A
 * and B is packed exactly once whatever the thread count, and a thread the host preempts
 * holds up only the chunk it is on. Shared operands larger than the limit are done in slabs
 * of slices, one pack phase and one compute phase each; C accumulates across slabs. Every
 * element of C is summed slice by slice in order, so any thread count gives the same bits. */
#include "gemm.h"

#include <stdlib.h>
#include <string.h>
#include "amx.h"
#include "kernels.h"
#include "quant.h"
#include "qpanel.h"
#include "quant_matmul.h"
#include "threadpool.h"

#define KC 256
/* Deeper f32 slices where A is shared and its slice still fits SHARED_A_LIMIT (up to ~336
 * rows: training's 256-token batches, prompts): C is loaded and stored, and A's blocks
 * packed, once per 768 values of the reduction instead of once per 256, while the 96 KB B
 * panel streams from L2 instead of L1. On the 2-vCPU EPYC, alternated against 256 deep:
 * GPT-2 124M training (bench_train, B=4, T=64) ahead in 9 of 12 pairs, 0.96-1.06x, median
 * +2% (512 deep a little below 768, 1024 level with it); pp128 SmolLM2 f32 1594/1628 ->
 * 1674/1718 tok/s, GPT-2 124M 1393/1979 -> 1436/2091. A larger shared operand keeps 256:
 * its deeper slice would no longer stay in L2. */
#define KC_DEEP 768
/* AMX tiles sum 32 x 32 x 32 in ~100 cycles: with 256-deep slices, loading and storing C
 * each slice took a third of their time. Deeper slices do that 4x less often. The AVX512-BF16
 * engine does as well with either depth (Zen 4, bench_gemm --bf16, alternated: 1024-deep
 * 334/362/259/265 GFLOP/s, 256-deep 350/333/266/319), so both engines share the packing. */
#define KC_AMX 1024
#define ROW_CHUNK 192 /* rows a chunk packs for itself when rows are handed out: a multiple of every mr */
#define SHARED_SLOT 4 /* attn_scratch slot of the shared packed operand (0 and 1 are per-chunk packing) */
#define SHARED_LIMIT_DEFAULT ((size_t)32 << 20)
/* A shared A is read again by every column tile: its slab is kept to what stays in L2. */
#define SHARED_A_LIMIT ((size_t)1 << 20)
/* The part of C a group of column tiles updates slice after slice (see columns_task). */
#define C_GROUP_BYTES ((size_t)256 << 10)

static size_t shared_limit = SHARED_LIMIT_DEFAULT;
static int precision = -1; /* attn_matmul_precision once known */
static attn_matmul_precision default_precision = ATTN_MATMUL_AUTO;

void attn_gemm_set_shared_limit(size_t bytes) { shared_limit = bytes ? bytes : SHARED_LIMIT_DEFAULT; }

/* Every CPU the AVX-512 kernels run on has AVX512-BF16's dot products; AMX tiles, where the
 * OS grants them, are faster still. The bf16 path packs through the AVX-512 kernels, so it
 * needs them chosen (not --isa avx2 or scalar). */
bool attn_gemm_bf16_available(void) { return attn_isa_current() == ATTN_ISA_AVX512; }

const char *attn_gemm_bf16_engine(void) {
    if (!attn_gemm_bf16_available()) return NULL;
    return attn_amx_usable() ? "AMX tiles" : "AVX512-BF16";
}

int attn_gemm_set_precision(attn_matmul_precision p) {
    if (p == ATTN_MATMUL_BF16 && !attn_gemm_bf16_available())
        return attn_error("bf16 matrix products need the AVX-512 kernels with BF16 (Intel Sapphire Rapids, "
                          "AMD Zen 4 or later), and this CPU has none or another ISA was chosen");
    precision = (int)p;
    return 0;
}

static const char *precision_names[] = {"f32", "bf16", "auto", "int8"};

const char *attn_matmul_precision_name(attn_matmul_precision p) {
    return (unsigned)p <= ATTN_MATMUL_INT8 ? precision_names[p] : "?";
}

int attn_matmul_precision_parse(const char *name, attn_matmul_precision *out) {
    for (int i = 0; i <= ATTN_MATMUL_INT8; i++)
        if (strcmp(name, precision_names[i]) == 0) {
            *out = (attn_matmul_precision)i;
            return 0;
        }
    return attn_error("unknown matmul precision '%s' (expected f32, bf16, int8 or auto)", name);
}

void attn_gemm_set_default_precision(attn_matmul_precision p) { default_precision = p; }

attn_matmul_precision attn_gemm_precision(void) {
    if (precision < 0) {
        const char *env = getenv("ATTN_MATMUL");
        attn_matmul_precision p = default_precision;
        if (env && *env && attn_matmul_precision_parse(env, &p) == 0 && p == ATTN_MATMUL_BF16 &&
            !attn_gemm_bf16_available())
            p = default_precision;
        precision = (int)p;
    }
    return (attn_matmul_precision)precision;
}

bool attn_gemm_integer_short_prompts(void) { /* AMX: 16x the products of vpdpbusd a cycle */
    return attn_gemm_precision() == ATTN_MATMUL_AUTO && attn_gemm_bf16_available() && !attn_amx_usable();
}

bool attn_gemm_int8_prompts(bool kquant_panels) {
    return attn_gemm_precision() == ATTN_MATMUL_INT8 || (kquant_panels && attn_gemm_integer_short_prompts());
}

static bool use_bf16(const attn_gemm *g) {
    if (!attn_gemm_bf16_available()) return false; /* --isa avx2 after ATTN_MATMUL=bf16, say */
    switch (attn_gemm_precision()) {
    case ATTN_MATMUL_BF16: return true;
    case ATTN_MATMUL_AUTO: return g->b->qtype != 0;
    default: return false;
    }
}

typedef struct {
    const attn_gemm *g;
    const attn_kernels *kern;
    bool bf16;                    /* bf16 products: packed operands are bf16 (amx.h's layouts) */
    bool tiles;                   /* ... summed on AMX tiles, else with AVX512-BF16 dot products */
    int mr, nr;
    int64_t kc;                   /* slice depth: KC or KC_AMX, or less for a shallow product */
    int64_t a_block, b_panel;     /* floats a packed A block / B panel takes */
    bool split_rows;              /* B shared, row blocks handed out; else A shared, column tiles */
    int64_t m_blocks, n_tiles;    /* mr-row blocks of A, nr-column tiles of B */
    int64_t s0, s1;               /* this slab's slices */
    int64_t chunk_blocks;         /* row blocks per chunk when rows are handed out */
    float *shared;
    float *panel;                 /* serial runs: the caller's space for one B panel */
} gemm_run;

static int64_t slice_depth(const gemm_run *r, int64_t s) { return ATTN_MIN(r->kc, r->g->K - s * r->kc); }

/* Row blocks [b0, b1) of A's slice (k0, kc), block b at dst + (b - b0) * a_block. A
 * transposed A is read a few k at a time across all the blocks, where its rows are
 * contiguous, instead of block by block down columns far apart. */
static void pack_a_blocks(const gemm_run *r, float *dst, int64_t b0, int64_t b1, int64_t k0, int64_t kc) {
    const attn_gemm *g = r->g;
    int mr = r->mr;
    if (r->bf16) {
        for (int64_t b = b0; b < b1; b++) {
            const float *a = g->a_trans ? g->a + k0 * g->lda + b * mr : g->a + b * mr * g->lda + k0;
            attn_amx_pack_a((uint16_t *)(dst + (b - b0) * r->a_block), a, g->lda, g->a_trans,
                            (int)ATTN_MIN((int64_t)mr, g->M - b * mr), kc);
        }
        return;
    }
    if (!g->a_trans) {
        for (int64_t b = b0; b < b1; b++)
            r->kern->pack_a(dst + (b - b0) * r->a_block, g->a + b * mr * g->lda + k0, g->lda,
                            ATTN_MIN((int64_t)mr, g->M - b * mr), kc);
        return;
    }
    for (int64_t kk = 0; kk < kc; kk += 16)
        for (int64_t b = b0; b < b1; b++)
            r->kern->pack_a_t(dst + (b - b0) * r->a_block + kk * mr, g->a + (k0 + kk) * g->lda + b * mr, g->lda,
                              ATTN_MIN((int64_t)mr, g->M - b * mr), ATTN_MIN((int64_t)16, kc - kk));
}

static void pack_b_f32(const gemm_run *r, float *dst, int64_t k0, int64_t kc, int64_t n0) {
    const attn_weight *b = r->g->b;
    if (b->panels && b->qtype)
        attn_qpanel_pack_b(dst, r->kern->nr, b->panels, (attn_qtype)b->qtype, r->g->K, r->g->N, k0, kc, n0);
    else if (b->panels) r->kern->pack_b_hpanel(dst, b->panels, b->dtype, r->g->K, k0, kc, n0);
    else if (b->qtype) attn_qpack_b(dst, b->data, (attn_qtype)b->qtype, r->g->K, r->g->N, k0, kc, n0);
    else r->kern->pack_b(dst, b->data, b->dtype, b->in_major, r->g->K, r->g->N, k0, kc, n0);
}

/* bf16 panels: an f32 [K][N] matrix (activations, GPT-2's Conv1D weights) rounded straight
 * from its rows; other weights through the f32 packers (every type), then rounded. */
static void pack_b_panel(const gemm_run *r, float *dst, int64_t k0, int64_t kc, int64_t n0) {
    const attn_weight *b = r->g->b;
    if (!r->bf16) {
        pack_b_f32(r, dst, k0, kc, n0);
        return;
    }
    if (!b->qtype && !b->panels && b->dtype == ATTN_F32 && b->in_major) {
        attn_amx_pack_b((uint16_t *)dst, (const float *)b->data + k0 * r->g->N + n0, r->g->N,
                        (int)ATTN_MIN((int64_t)ATTN_AMX_NR, r->g->N - n0), kc);
        return;
    }
    _Alignas(64) float panel[KC * ATTN_AMX_NR];
    for (int64_t k = 0; k < kc; k += KC) { /* KC-deep pieces, each a whole number of AMX steps */
        int64_t depth = ATTN_MIN((int64_t)KC, kc - k);
        pack_b_f32(r, panel, k0 + k, depth, n0);
        attn_amx_pack_b((uint16_t *)dst + k * ATTN_AMX_NR, panel, ATTN_AMX_NR, ATTN_AMX_NR, depth);
    }
}

/* Where pack_b_panel reads panel (k0, kc, n0) from: `count` runs of `len` bytes, `stride`
 * apart. */
typedef struct {
    const char *base;
    int64_t count, stride, len;
} panel_source;

static panel_source source_of(const gemm_run *r, int64_t k0, int64_t kc, int64_t n0) {
    const attn_gemm *g = r->g;
    const attn_weight *b = g->b;
    const char *data = b->data;
    int64_t cols = ATTN_MIN((int64_t)r->nr, g->N - n0);
    if (b->panels && !b->qtype) /* kc rows of a 32-row plain panel, one after another: told as kc
                                 * runs so that prefetch_part spreads them */
        return (panel_source){(const char *)b->panels +
                                  attn_hpanel_index(g->K, n0, k0) * (int64_t)attn_dtype_size(b->dtype),
                              kc, ATTN_HPANEL_ROWS * (int64_t)attn_dtype_size(b->dtype),
                              ATTN_HPANEL_ROWS * (int64_t)attn_dtype_size(b->dtype)};
    if (b->panels) { /* the runs of the slice's blocks (values and scales) in the nr/16 panels */
        const attn_qtype t = (attn_qtype)b->qtype;
        const int vb = attn_qpanel_value_bytes(t), sb = attn_qpanel_scale_bytes(t);
        int64_t pb = (int64_t)attn_qpanel_bytes(t, g->K, ATTN_QPANEL_ROWS), B = attn_qtype_get(t)->block, v, s;
        attn_qpanel_offsets(vb, sb, g->K / B, k0 / B, &v, &s);
        /* from block k0/B's values (they precede its scales), its blocks' bytes and a line more:
         * a slice that starts in a pair's second block ends with that pair's scales */
        const int64_t len = ATTN_MIN(pb - v, (kc + B - 1) / B * (vb + sb) + 64);
        return (panel_source){(const char *)b->panels + n0 / ATTN_QPANEL_ROWS * pb + v,
                              (cols + ATTN_QPANEL_ROWS - 1) / ATTN_QPANEL_ROWS, pb, len};
    }
    if (b->qtype) {
        const attn_qtype_info *q = attn_qtype_get(b->qtype);
        int64_t rb = (int64_t)attn_quant_row_bytes((attn_qtype)b->qtype, g->K);
        return (panel_source){data + n0 * rb + k0 / q->block * q->bytes, cols, rb, (kc + q->block - 1) / q->block * q->bytes};
    }
    int64_t e = (int64_t)attn_dtype_size(b->dtype);
    if (b->in_major) return (panel_source){data + (k0 * g->N + n0) * e, kc, g->N * e, cols * e};
    return (panel_source){data + (n0 * g->K + k0) * e, cols, g->K * e, kc * e};
}

/* Asks for part `part` of `parts` of a panel's source lines ahead of its packing: weights
 * come from memory, and an [K][N] panel is a run of short rows far apart, which the
 * hardware prefetchers follow poorly. Spread over the tiles run meanwhile. */
static void prefetch_part(const panel_source *p, int64_t part, int64_t parts) {
    for (int64_t i = part * p->count / parts, end = (part + 1) * p->count / parts; i < end; i++)
        for (int64_t off = 0; off < p->len; off += 64) __builtin_prefetch(p->base + i * p->stride + off, 0, 2);
}

static const float zeros[ATTN_MAX_NR];

/* One register tile at (m0, n0) over the slice's reduction [k0, k0 + kc), or the part of it
 * the band leaves (ap and bp are that slice's packed panels). An overwriting product's first
 * slice writes C = bias + A·B without reading C, even for a tile the band skips. */
static void tile(const gemm_run *r, const float *ap, const float *bp, int64_t k0, int64_t kc, int64_t m0, int64_t n0) {
    const attn_gemm *g = r->g;
    int mr = r->mr, nr = r->nr;
    int64_t rows = ATTN_MIN((int64_t)mr, g->M - m0), cols = ATTN_MIN((int64_t)nr, g->N - n0);
    const float *init = g->overwrite && k0 == 0 ? (g->bias ? g->bias + n0 : zeros) : NULL;
    int64_t ka = k0, kb = k0 + kc;
    switch (g->band) {
    case ATTN_BAND_C_LOWER: if (n0 > m0 + rows - 1) kb = ka; break;
    case ATTN_BAND_C_UPPER: if (n0 + cols - 1 < m0) kb = ka; break;
    case ATTN_BAND_A_LOWER: kb = ATTN_MIN(kb, m0 + rows); break;
    case ATTN_BAND_A_UPPER: ka = ATTN_MAX(ka, m0); break;
    case ATTN_BAND_B_UPPER: kb = ATTN_MIN(kb, n0 + cols); break;
    default: break;
    }
    if (kb <= ka) {
        if (!init) return;
        ka = kb = k0; /* nothing to add: just C = init */
    }
    int64_t ldc = g->ldc ? g->ldc : g->N;
    float *c = g->c + m0 * ldc + n0;
    if (r->bf16) { /* whole 32-deep steps: the band's zeros (and the padding) add nothing */
        ka = k0 + (ka - k0) / ATTN_AMX_K * ATTN_AMX_K;
        kb = ATTN_MIN(k0 + kc, k0 + (kb - k0 + ATTN_AMX_K - 1) / ATTN_AMX_K * ATTN_AMX_K);
        const uint16_t *a16 = (const uint16_t *)ap + (ka - k0) * mr, *b16 = (const uint16_t *)bp + (ka - k0) * nr;
        if (r->tiles) attn_amx_tile(kb - ka, a16, b16, c, ldc, (int)rows, (int)cols, init);
        else attn_bf16_dot_tile(kb - ka, a16, b16, c, ldc, (int)rows, (int)cols, init);
        return;
    }
    ap += (ka - k0) * mr, bp += (ka - k0) * nr;
    if (rows == mr && cols == nr) r->kern->gemm_tile(kb - ka, ap, bp, c, ldc, init);
    else r->kern->gemm_tile_edge(kb - ka, ap, bp, c, ldc, (int)rows, (int)cols, init);
}

/* C = bias (or 0) everywhere: an overwriting product with nothing to sum (K = 0). */
static void init_c(const attn_gemm *g) {
    for (int64_t m = 0; g->overwrite && m < g->M; m++) {
        float *row = g->c + m * (g->ldc ? g->ldc : g->N);
        if (g->bias) memcpy(row, g->bias, (size_t)g->N * sizeof(float));
        else memset(row, 0, (size_t)g->N * sizeof(float));
    }
}

static float *shared_a(const gemm_run *r, int64_t s, int64_t blk) {
    return r->shared + ((s - r->s0) * r->m_blocks + blk) * r->a_block;
}

static float *shared_b(const gemm_run *r, int64_t s, int64_t t) {
    return r->shared + ((s - r->s0) * r->n_tiles + t) * r->b_panel;
}

/* Pack phase: item i is block (i % blocks) of slice s0 + i / blocks of the shared operand. */
static void pack_task(void *ctx, int64_t i0, int64_t i1, int thread) {
    (void)thread;
    const gemm_run *r = ctx;
    int64_t blocks = r->split_rows ? r->n_tiles : r->m_blocks;
    for (int64_t i = i0; i < i1;) {
        int64_t s = r->s0 + i / blocks, blk = i % blocks, kc = slice_depth(r, s);
        int64_t end = ATTN_MIN(blk + (i1 - i), blocks); /* this slice's part of the range */
        if (r->split_rows)
            for (int64_t t = blk; t < end; t++) pack_b_panel(r, shared_b(r, s, t), s * r->kc, kc, t * r->nr);
        else pack_a_blocks(r, shared_a(r, s, blk), blk, end, s * r->kc, kc);
        i += end - blk;
    }
}

/* Column tiles [t0, t1) against the shared A, in groups whose part of C stays in L2: a group
 * goes slice by slice, so A's slice is reused from cache by every tile of the group, and C is
 * not sent to memory and back between slices (the tied LM head's C is 50 MB). Each tile's B
 * panel is packed here, once. */
static void columns_task(void *ctx, int64_t t0, int64_t t1, int thread) {
    const gemm_run *r = ctx;
    int mr = r->mr, nr = r->nr;
    float *bp = r->panel ? r->panel : attn_scratch(thread, 1, (size_t)r->b_panel);
    int64_t group = ATTN_MAX((int64_t)1, (int64_t)(C_GROUP_BYTES / ((size_t)r->g->M * nr * sizeof(float))));
    for (int64_t g0 = t0; g0 < t1; g0 += group) {
        int64_t g1 = ATTN_MIN(g0 + group, t1);
        for (int64_t s = r->s0; s < r->s1; s++) {
            int64_t kc = slice_depth(r, s);
            for (int64_t t = g0; t < g1; t++) {
                pack_b_panel(r, bp, s * r->kc, kc, t * nr);
                /* the panel after this one: the next tile, the group's first of the next slice, or the next group's first */
                int64_t ns = t + 1 < g1 ? s : s + 1, nt = t + 1 < g1 ? t + 1 : g0;
                if (ns == r->s1 && g1 < t1) ns = r->s0, nt = g1;
                panel_source next = source_of(r, ns * r->kc, ns < r->s1 ? slice_depth(r, ns) : 0, nt * nr);
                for (int64_t blk = 0; blk < r->m_blocks; blk++) {
                    prefetch_part(&next, blk, r->m_blocks);
                    tile(r, shared_a(r, s, blk), bp, s * r->kc, kc, blk * mr, t * nr);
                }
            }
        }
    }
}

/* Row blocks [b0, b1) against the shared B, up to ROW_CHUNK rows of A packed at a time. */
static void rows_task(void *ctx, int64_t b0, int64_t b1, int thread) {
    const gemm_run *r = ctx;
    int mr = r->mr, nr = r->nr;
    float *ap = attn_scratch(thread, 0, (size_t)(ROW_CHUNK / mr * r->a_block));
    for (int64_t c0 = b0; c0 < b1; c0 += r->chunk_blocks) {
        int64_t c1 = ATTN_MIN(c0 + r->chunk_blocks, b1);
        for (int64_t s = r->s0; s < r->s1; s++) {
            int64_t kc = slice_depth(r, s);
            pack_a_blocks(r, ap, c0, c1, s * r->kc, kc);
            for (int64_t t = 0; t < r->n_tiles; t++)
                for (int64_t blk = c0; blk < c1; blk++)
                    tile(r, ap + (blk - c0) * r->a_block, shared_b(r, s, t), s * r->kc, kc, blk * mr, t * nr);
        }
    }
}

/* serial: one thread does it all and A is always the shared (packed) operand. */
static gemm_run plan(const attn_gemm *g, bool serial) {
    gemm_run r = {.g = g, .kern = attn_kernels_get(), .bf16 = use_bf16(g)};
    r.tiles = r.bf16 && attn_amx_usable(); /* the same packed operands serve both engines */
    r.mr = r.bf16 ? ATTN_AMX_MR : r.kern->mr;
    r.nr = r.bf16 ? ATTN_AMX_NR : r.kern->nr;
    /* no deeper than K needs: packed blocks sit kc apart, and a 384-deep product's blocks 64 KB
     * apart took 2.7x the memory and shared a quarter of L2's sets */
    r.split_rows = !serial && g->M > g->N; /* share the smaller operand */
    bool deep = !r.split_rows && (size_t)((g->M + r.mr - 1) / r.mr * r.mr) * KC_DEEP * sizeof(float) <= SHARED_A_LIMIT;
    r.kc = ATTN_MIN(r.bf16 ? (int64_t)KC_AMX : deep ? (int64_t)KC_DEEP : (int64_t)KC,
                    ATTN_MAX((int64_t)32, (g->K + 31) / 32 * 32));
    r.a_block = r.kc * r.mr / (r.bf16 ? 2 : 1);
    r.b_panel = r.kc * r.nr / (r.bf16 ? 2 : 1);
    r.m_blocks = (g->M + r.mr - 1) / r.mr;
    r.n_tiles = (g->N + r.nr - 1) / r.nr;
    return r;
}

/* Enough for either path: f32 tiles are at most 16 x 64 over KC_DEEP, AMX's 32 x 32 bf16 over KC_AMX. */
size_t attn_gemm_serial_scratch(int64_t M) {
    size_t f32 = ((size_t)((M + 31) / 32 * 32) + ATTN_MAX_NR) * KC_DEEP;
    size_t bf16 = ((size_t)((M + 31) / 32 * 32) + ATTN_AMX_NR) * KC_AMX / 2;
    return ATTN_MAX(f32, bf16);
}

void attn_gemm_serial(const attn_gemm *g, float *scratch) {
    if (g->M <= 0 || g->N <= 0) return;
    gemm_run r = plan(g, true);
    r.shared = scratch;
    r.panel = scratch + (size_t)r.m_blocks * r.a_block;
    int64_t slices = (g->K + r.kc - 1) / r.kc;
    if (slices == 0) init_c(g);
    for (r.s0 = 0; r.s0 < slices; r.s0++) { /* one slice of A packed at a time */
        r.s1 = r.s0 + 1;
        pack_task(&r, 0, r.m_blocks, 0);
        columns_task(&r, 0, r.n_tiles, 0);
    }
}

int attn_gemm_run(const attn_gemm *g) {
    if (g->M <= 0 || g->N <= 0) return 0;
    gemm_run r = plan(g, false);
    int mr = r.mr, threads = attn_threads_count();
    int64_t slices = (g->K + r.kc - 1) / r.kc;
    if (slices == 0) {
        init_c(g);
        return 0;
    }
    size_t slice_floats = r.split_rows ? (size_t)(r.n_tiles * r.b_panel) : (size_t)(r.m_blocks * r.a_block);
    size_t limit = r.split_rows ? shared_limit : ATTN_MIN(shared_limit, SHARED_A_LIMIT);
    int64_t per_slab = ATTN_MAX((int64_t)1, (int64_t)(limit / (slice_floats * sizeof(float))));
    per_slab = ATTN_MIN(per_slab, slices);
    r.chunk_blocks = ATTN_MAX((int64_t)1, ATTN_MIN((int64_t)(ROW_CHUNK / mr), r.m_blocks / (4 * threads)));
    int self = attn_thread_current();
    /* Reserve every buffer here, where a failure can be reported. */
    r.shared = attn_scratch(self >= 0 ? self : 0, SHARED_SLOT, slice_floats * (size_t)per_slab);
    if (!r.shared || attn_scratch_reserve(0, (size_t)(ROW_CHUNK / mr * r.a_block)) ||
        attn_scratch_reserve(1, (size_t)r.b_panel))
        return attn_error("out of memory for matrix multiply buffers (%lld x %lld x %lld)", (long long)g->M,
                          (long long)g->K, (long long)g->N);
    int64_t tile_grain = ATTN_MAX((int64_t)1, r.n_tiles / (8 * threads));
    for (r.s0 = 0; r.s0 < slices; r.s0 = r.s1) {
        r.s1 = ATTN_MIN(r.s0 + per_slab, slices);
        int64_t blocks = r.split_rows ? r.n_tiles : r.m_blocks;
        attn_parallel_for_dynamic((r.s1 - r.s0) * blocks, r.split_rows ? 4 : 16, pack_task, &r);
        if (r.split_rows) attn_parallel_for_dynamic(r.m_blocks, r.chunk_blocks, rows_task, &r);
        else attn_parallel_for_dynamic(r.n_tiles, tile_grain, columns_task, &r);
    }
    return 0;
}
