/* matmul.c - chooses GEMV (one row; up to QGEMV_MAX_ROWS rows of quantized weights), dot
 * products of a few hundred rows with plain [N][K] matrices, split by output columns among
 * threads, or the packed GEMM of gemm.c. */
#include "matmul.h"

#include <stdatomic.h>
#include <string.h>
#include "common.h"
#include "gemm.h"
#include "hpanel.h"
#include "kernels.h"
#include "qpanel.h"
#include "quant_matmul.h"
#include "threadpool.h"

#define GEMM_MIN_ROWS 4
/* Quantized weights up to this many rows (decoding): integer dot products with quantized
 * activations (attn_qdot_rows_nk), or with ATTN_QDOT=f32 each block decoded once for all
 * rows (attn_qgemv_rows_nk). Prompts take what gemm.h's precision gives them: the same
 * integer kernels with one byte per activation (INT8; the 1.1B Q4_K_M's pp128 on Zen 4 ~1.4x
 * bf16's), or the packed GEMM, which dequantizes whole panels and runs them in bf16 or f32.
 * So a row's logits can move by the activations' rounding with the number of rows it is
 * batched with. */
#define QGEMV_MAX_ROWS 16
/* Prompts up to this many rows on quantized weights in panels stay in the decoding kernels
 * where gemm.h says so (attn_gemm_integer_short_prompts): on Zen 4 SmolLM2 Q4_1's pp24 ran
 * 920-994 -> 1266-1269 tok/s, pp64 +4%, the 1.1B Q4_0's pp32 +25%; at 96 rows bf16 won by
 * 6-10%. (With AVX2's row kernels the f32 GEMM already won at 64 rows.) */
#define SHORT_PROMPT_ROWS 64
/* Rows up to which [N][K] f32/f16/bf16 products take the dot products rather than the packed
 * GEMM. On Zen 4 (one 512-bit FMA a cycle) the dot tiles ran at its peak up to 512 rows; on a
 * core with two a cycle (271 GFLOP/s f32) they stop near 160, and the packed GEMM, 2 threads,
 * wins from 64 rows (/tmp harness over attn_matmul: f32 50257x768 at 32/64/128/256 rows
 * packed 210/297/369/426 against dot 221/268/304/307 GFLOP/s; f32 576x576 at 64/128 rows
 * 371/419 against 321/328; f16 2048x2048 340/399/433/452 against 370/379/365/355). Half-
 * precision matrices under 4M values (SmolLM2 f16's 576x576 to 1536x576) keep the dot
 * products to a prompt chunk: packing converts them, and at 128-256 rows dot ran 345-382
 * against 302-371. */
/* Rows up to which plain matrices in panels (core/hpanel.h) take kernels.h's gemm_hpanel,
 * which reads the panels where they lie, rather than the packed GEMM, which widens them into
 * its own panels first: the 1.1B f16 (2 threads, alternated against the packed GEMM) pp16
 * 120/121 -> 138/140 tok/s, pp128 205/207 -> 233/236, pp512 205/215 -> 241/241. */
#define HPANEL_MAX_ROWS 512
#define DOT_MAX_ROWS 48
#define DOT_MAX_ROWS_SMALL_HALF 512
#define SMALL_HALF_VALUES ((int64_t)1 << 22)
#define MAX_THREADS 512
#define SCRATCH_SLOTS 5

static float *scratch_buf[MAX_THREADS][SCRATCH_SLOTS];
static size_t scratch_cap[MAX_THREADS][SCRATCH_SLOTS];

/* Every thread a job may run on: all of them from outside a job, only the caller when a
 * job's share calls in (another thread may be using its own buffers right then). */
int attn_scratch_reserve(int slot, size_t floats) {
    int self = attn_thread_current(), t0 = self >= 0 ? self : 0, t1 = self >= 0 ? self + 1 : attn_threads_count();
    for (int t = t0; t < t1; t++)
        if (!attn_scratch(t, slot, floats)) return -1;
    return 0;
}

float *attn_scratch(int thread, int slot, size_t floats) {
    if (thread < 0 || thread >= MAX_THREADS || slot < 0 || slot >= SCRATCH_SLOTS) return NULL;
    if (scratch_cap[thread][slot] < floats) {
        attn_free(scratch_buf[thread][slot]);
        scratch_buf[thread][slot] = attn_alloc(floats * sizeof(float));
        scratch_cap[thread][slot] = scratch_buf[thread][slot] ? floats : 0;
    }
    return scratch_buf[thread][slot];
}

size_t attn_weight_row_bytes(const attn_weight *w) {
    return w->qtype ? attn_quant_row_bytes((attn_qtype)w->qtype, w->n_in) : (size_t)w->n_in * attn_dtype_size(w->dtype);
}

void attn_weight_row(float *dst, const attn_weight *w, int64_t n) {
    const int64_t K = w->n_in;
    if (w->panels && w->qtype) attn_qpanel_row(dst, w->panels, (attn_qtype)w->qtype, K, n);
    else if (w->panels) attn_hpanel_row(dst, w->panels, w->dtype, K, n);
    else {
        const uint8_t *row = (const uint8_t *)w->data + attn_weight_row_bytes(w) * (size_t)n;
        if (w->qtype) attn_dequantize_row((attn_qtype)w->qtype, row, dst, K);
        else attn_to_f32(dst, row, w->dtype, K);
    }
}

typedef struct {
    float *y;
    const float *x;
    int64_t M;
    const attn_weight *w;
    const float *bias;
    const attn_kernels *kern;
    const attn_qx *qx; /* x quantized for the integer dot products */
} matmul_job;

static void gemv_task(void *ctx, int64_t n0, int64_t n1, int thread) {
    (void)thread;
    const matmul_job *j = ctx;
    const attn_weight *w = j->w;
    for (int64_t m = 0; m < j->M; m++) {
        float *y = j->y + m * w->n_out;
        const float *x = j->x + m * w->n_in;
        if (w->qtype) attn_qgemv_nk(y, x, w->data, (attn_qtype)w->qtype, w->n_in, n0, n1);
        else if (w->panels) j->kern->gemv_hpanel(y, x, w->panels, w->dtype, w->n_in, n0, n1);
        else if (w->in_major) j->kern->gemv_kn(y, x, w->data, w->dtype, w->n_in, w->n_out, n0, n1);
        else j->kern->gemv_nk(y, x, w->data, w->dtype, w->n_in, n0, n1);
        if (j->bias)
            for (int64_t n = n0; n < n1; n++) y[n] += j->bias[n];
    }
}

static void hpanel_task(void *ctx, int64_t n0, int64_t n1, int thread) {
    (void)thread;
    const matmul_job *j = ctx;
    const attn_weight *w = j->w;
    j->kern->gemm_hpanel(j->y, w->n_out, j->x, w->n_in, j->M, w->panels, w->dtype, w->n_in, n0, n1, j->bias);
}

static void dot_task(void *ctx, int64_t n0, int64_t n1, int thread) {
    (void)thread;
    const matmul_job *j = ctx;
    const attn_weight *w = j->w;
    j->kern->gemm_nk_dot(j->y, w->n_out, j->x, w->n_in, j->M, w->data, w->dtype, w->n_in, n0, n1, j->bias);
}

/* Several rows against an f32/f16/bf16 matrix stored [N][K], in exact f32: dot products read
 * both where they lie (kernels.h's gemm_nk_dot) where the packed GEMM would transpose the
 * weights into panels for a few hundred rows at most. Products of more rows (training's
 * larger batches) keep the GEMM, whose packing pays for itself there; so does dX = dY W^T
 * (attn_matmul_acc): with f32 weights and K in the thousands a tile's 4 weight rows leave L1
 * and the dot products were no faster (60-96 GFLOP/s on one core at 256x768x2304). */
static _Atomic int dot_on = -1; /* ATTN_DOT, see attn_switch_on */

void attn_matmul_set_dot(bool on) { atomic_store_explicit(&dot_on, on, memory_order_relaxed); }

/* Products of plain weights computed where the weights lie, in exact f32 (dot products,
 * panels' register tiles): only where bf16 products were not asked for, which the packed
 * GEMM does. */
static bool exact_in_place(const matmul_job *j) {
    return !j->w->qtype && j->M >= 2 && attn_gemm_precision() != ATTN_MATMUL_BF16;
}

static bool dot_form(const matmul_job *j) {
    const attn_weight *w = j->w;
    bool small_half = w->dtype != ATTN_F32 && w->n_in * w->n_out < SMALL_HALF_VALUES;
    return attn_switch_on(&dot_on, "ATTN_DOT") && j->kern->gemm_nk_dot && exact_in_place(j) && !w->panels &&
           !w->in_major && j->M <= (small_half ? DOT_MAX_ROWS_SMALL_HALF : DOT_MAX_ROWS);
}

static void qgemv_rows_task(void *ctx, int64_t n0, int64_t n1, int thread) {
    (void)thread;
    const matmul_job *j = ctx;
    const attn_weight *w = j->w;
    attn_qgemv_rows_nk(j->y, w->n_out, j->x, w->n_in, j->M, w->data, (attn_qtype)w->qtype, w->n_in, n0, n1);
    for (int64_t m = 0; j->bias && m < j->M; m++)
        for (int64_t n = n0; n < n1; n++) j->y[m * w->n_out + n] += j->bias[n];
}

static void qdot_task(void *ctx, int64_t n0, int64_t n1, int thread) {
    (void)thread;
    const matmul_job *j = ctx;
    const attn_weight *w = j->w;
    if (w->panels) attn_qpanel_dot(j->y, w->n_out, j->qx, w->panels, (attn_qtype)w->qtype, n0, n1);
    else attn_qdot_rows_nk(j->y, w->n_out, j->qx, w->data, (attn_qtype)w->qtype, n0, n1);
    for (int64_t m = 0; j->bias && m < j->M; m++)
        for (int64_t n = n0; n < n1; n++) j->y[m * w->n_out + n] += j->bias[n];
}

/* The least a thread claims of its stream at once. Pieces of a 16-row panel (6 KB of SmolLM2's
 * Q4_1, 10 of its Q8_0) each paid a locked claim, a call and its prefetch start: claims of
 * 128 KB at least decoded SmolLM2 Q4_1 605-625 tok/s against 509-542, Q8_0 300-332 against
 * 279-295 (alternated, 3 pairs each); 1.1B models and f16 level (their panels are 18-128 KB). */
#define STREAM_PIECE_BYTES ((int64_t)128 << 10)

/* The output rows go out in pieces (multiples of `unit`), not a fixed split: with ~200
 * products per token, a static split would leave one thread waiting for the other after each
 * whenever the host slows one vCPU. Decoding's M rows (up to 16) stream the weights from
 * memory: each thread walks its own share forward as one stream and steals the back of a
 * slower one's rest, where chunks handed out in turn restarted every thread's stream (and its
 * prefetches) at each chunk (alternated one-token decoding on a 2-vCPU EPYC, fast phases:
 * SmolLM2 f16 +2-8%, Q4_1 +3-14%, 1.1B f16 +0-3%; 8 sequences together level). Prompts,
 * bound by the products, take chunks of an eighth of a thread's share. */
static void split_rows(int64_t n, int64_t M, int64_t unit, size_t row_bytes, attn_task_fn fn, const void *ctx) {
    if (M <= QGEMV_MAX_ROWS) {
        int64_t piece = unit * ATTN_MAX(1, STREAM_PIECE_BYTES / (unit * (int64_t)ATTN_MAX(row_bytes, 1)));
        attn_parallel_for_streams(n, unit, piece, fn, (void *)ctx);
        return;
    }
    int64_t per = n / (8 * (int64_t)attn_threads_count());
    attn_parallel_for_dynamic(n, ATTN_MAX(unit, (per + unit - 1) / unit * unit), fn, (void *)ctx);
}

/* Decoding's activations on quantized weights: a mode chosen through ATTN_QDOT, else --matmul
 * f32 keeps them exact, int8 rounds them to one byte as llama.cpp does, and auto and bf16
 * take two bytes (more exact than bf16's rounding). */
static attn_qdot_mode decode_mode(void) {
    if (attn_qdot_mode_chosen()) return attn_qdot_get_mode();
    switch (attn_gemm_precision()) {
    case ATTN_MATMUL_F32: return ATTN_QDOT_F32;
    case ATTN_MATMUL_INT8: return ATTN_QDOT_Q8;
    default: return attn_qdot_get_mode();
    }
}

const char *attn_matmul_decoding_desc(void) {
    switch (decode_mode()) {
    case ATTN_QDOT_F32: return "exact f32";
    case ATTN_QDOT_Q8: return "one-byte integer activations";
    default: return "two-byte integer activations";
    }
}

/* x's rows quantized for integer products with the n weights ws (one type's block size):
 * decoding rows in decode_mode(), prompt rows with one byte where gemm.h's precision says
 * so (in 32-blocks where every weight is in panels, see ATTN_QDOT_Q8_32); NULL where the
 * products take another path (plain weights, exact decoding, other precisions for prompts,
 * memory short). */
static const attn_qx *integer_rows(const float *x, int64_t M, const attn_weight *const *ws, int n, bool quads) {
    const attn_weight *w = ws[0];
    if (!w->qtype) return NULL;
    attn_qdot_mode mode = decode_mode();
    if (M > QGEMV_MAX_ROWS) {
        bool panels = true, kquants = true;
        for (int i = 0; i < n; i++)
            panels = panels && ws[i]->panels, kquants = kquants && attn_qtype_get(ws[i]->qtype)->block == 256;
        mode = attn_gemm_int8_prompts(panels && kquants) ? (panels ? ATTN_QDOT_Q8_32 : ATTN_QDOT_Q8)
             : M <= SHORT_PROMPT_ROWS && panels && attn_gemm_integer_short_prompts() ? mode
             : ATTN_QDOT_F32;
    }
    return attn_qx_rows(x, w->n_in, M, w->n_in, (attn_qtype)w->qtype, quads, mode);
}

/* The task that computes a range of j's output rows where they lie, and the unit its ranges
 * come in; NULL where the packed GEMM takes the product. */
static attn_task_fn rows_task_of(const matmul_job *j, int64_t *unit) {
    const attn_weight *w = j->w;
    *unit = 16;
    if (j->qx) return qdot_task; /* integer products, x quantized once by the caller */
    if (w->qtype && j->M > 1 && j->M <= QGEMV_MAX_ROWS) return qgemv_rows_task;
    if (w->panels && exact_in_place(j) && j->M <= HPANEL_MAX_ROWS) {
        *unit = ATTN_HPANEL_ROWS * 2;
        return hpanel_task;
    }
    if (dot_form(j)) return dot_task;
    *unit = 64;
    return j->M < GEMM_MIN_ROWS ? gemv_task : NULL;
}

int attn_matmul(float *y, const float *x, int64_t M, const attn_weight *w, const float *bias) {
    matmul_job j = {.y = y, .x = x, .M = M, .w = w, .bias = bias, .kern = attn_kernels_get()};
    if (M <= 0 || w->n_out <= 0) return 0;
    j.qx = integer_rows(x, M, &w, 1, !w->panels);
    int64_t unit;
    attn_task_fn fn = rows_task_of(&j, &unit);
    if (fn) {
        split_rows(w->n_out, M, unit, attn_weight_row_bytes(w), fn, &j);
        return 0;
    }
    attn_gemm g = {.c = y, .M = M, .N = w->n_out, .K = w->n_in, .a = x, .lda = w->n_in, .b = w, .overwrite = true,
                   .bias = bias};
    return attn_gemm_run(&g);
}

/* ---- several products of one input ------------------------------------------------- */

#define MANY_MAX 4

typedef struct {
    matmul_job jobs[MANY_MAX]; /* one per weight, sharing x and its quantized rows */
    int64_t start[MANY_MAX + 1]; /* weight i's rows are [start[i], start[i+1]) of the union */
    int n;
    attn_task_fn fn; /* every job's rows task (rows_task_of) */
} many_job;

/* Rows [a, b) of the union: the part of each weight's rows that falls in it. */
static void many_task(void *ctx, int64_t a, int64_t b, int thread) {
    const many_job *mj = ctx;
    for (int i = 0; i < mj->n; i++) {
        int64_t lo = ATTN_MAX(a, mj->start[i]), hi = ATTN_MIN(b, mj->start[i + 1]);
        if (lo < hi) mj->fn((void *)&mj->jobs[i], lo - mj->start[i], hi - mj->start[i], thread);
    }
}

/* Same block size, so one quantization of x serves every weight. */
static bool same_quant_block(const attn_weight *const *ws, int n) {
    for (int i = 0; i < n; i++)
        if (!ws[i]->qtype || attn_qtype_get(ws[i]->qtype)->block != attn_qtype_get(ws[0]->qtype)->block ||
            ws[i]->n_in != ws[0]->n_in || ws[i]->n_out % 16)
            return false;
    return true;
}

/* One split of the products' output rows among the threads, so they meet once for all of
 * them (decoding's Q, K and V, or gate and up), where every product takes the same rows task
 * in whole units; else false. */
static bool many_plan(many_job *mj, int n, float *const *ys, const float *x, int64_t M, const attn_weight *const *ws,
                      const float *const *biases, const attn_qx *qx, int64_t *unit) {
    for (int i = 0; i < n; i++) {
        int64_t u;
        mj->jobs[i] = (matmul_job){.y = ys[i], .x = x, .M = M, .w = ws[i], .bias = biases[i], .qx = qx,
                                   .kern = attn_kernels_get()};
        attn_task_fn fn = rows_task_of(&mj->jobs[i], &u);
        /* a quantized weight without x's shared integer rows takes its own (attn_matmul) */
        if (!fn || (ws[i]->qtype && !qx) || (i > 0 && (fn != mj->fn || u != *unit)) || ws[i]->n_out % u ||
            ws[i]->n_in != ws[0]->n_in)
            return false;
        mj->fn = fn, *unit = u;
        mj->start[i + 1] = mj->start[i] + ws[i]->n_out;
    }
    return true;
}

int attn_matmul_many(int n, float *const *ys, const float *x, int64_t M, const attn_weight *const *ws,
                     const float *const *biases) {
    many_job mj = {.n = n};
    const attn_qx *qx = NULL;
    bool quads = false; /* the row kernels' quad planes, if some weight has no panels */
    for (int i = 0; i < n && i < MANY_MAX; i++) quads = quads || !ws[i]->panels;
    if (n >= 1 && n <= MANY_MAX && same_quant_block(ws, n)) qx = integer_rows(x, M, ws, n, quads);
    int64_t unit = 0;
    if (n < 1 || n > MANY_MAX || !many_plan(&mj, n, ys, x, M, ws, biases, qx, &unit)) {
        for (int i = 0; i < n; i++) /* prompts and mixed products: one by one */
            if (attn_matmul(ys[i], x, M, ws[i], biases[i])) return -1;
        return 0;
    }
    split_rows(mj.start[n], M, unit, attn_weight_row_bytes(ws[0]), many_task, &mj);
    return 0;
}
