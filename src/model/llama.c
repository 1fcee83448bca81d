/* llama.c - LLaMA-family decoders (Touvron et al. 2023; Mistral, Qwen2 and the models
 * shaped like them), as Hugging Face's LlamaForCausalLM computes them: token embedding,
 * pre-RMSNorm blocks of rotary grouped-query attention and a SwiGLU MLP, a final RMSNorm and
 * an LM head that is separate or tied to the embedding. Large matrices stay where the
 * source put them (mmapped, in their own dtype, nn.Linear [out][in] layout); only norm
 * weights and biases are widened to f32 copies. Tensors are bound by logical name through
 * an attn_llama_source (llama_source.h), so the file format is the source's business. */
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "core/arena.h"
#include "core/common.h"
#include "core/hpanel.h"
#include "core/matmul.h"
#include "core/qpanel.h"
#include "core/quant.h"
#include "core/threadpool.h"
#include "batch_rows.h"
#include "llama_config.h"
#include "llama2c.h"
#include "llama_gguf.h"
#include "llama_source.h"
#include "model.h"
#include "nn/attention.h"
#include "nn/layers.h"
#include "nn/llama_layers.h"
#include "nn/rope.h"

#define PREFILL_CHUNK 512

typedef struct {
    float *attn_norm, *ffn_norm;
    attn_weight q, k, v, o, gate, up, down;
    float *q_b, *k_b, *v_b, *o_b, *gate_b, *up_b, *down_b; /* NULL where the model has none */
} llama_layer;

/* A pass's activations for up to T rows (push_pass): the model's own for prompts and single
 * steps, and one set per decoding lane. */
typedef struct {
    float *x, *h, *q, *k, *v, *att, *gate, *up, *rope_cos, *rope_sin;
    float *logit_rows; /* [ATTN_BATCH_LOGIT_ROWS][vocab] */
} pass_bufs;

typedef struct {
    attn_llama_config c;
    const char *cfg_name; /* where the config came from, for shape messages */
    attn_llama_source *src;
    attn_tensor_ref embed;
    attn_weight lm_head;
    float *norm, *inv_freq;
    llama_layer *layers;
    attn_arena arena; /* f32 copies of norms and biases, activations */
    attn_kv_cache cache;
    pass_bufs a;   /* one pass's activations (chunk rows) */
    int64_t chunk;
    int64_t n_params;
    size_t weight_bytes;
    uint8_t *panel_mem; /* the repacked matrices (repack_weights), panel_bytes in all */
    size_t panel_bytes;
    struct lane *lanes; /* decoding lanes (see use_lanes), n_lanes of them in lane_arena */
    int n_lanes;
    attn_arena lane_arena;
} llama;

/* ---- binding ---------------------------------------------------------------------- */

static void shape_text(char *buf, size_t cap, int ndim, const int64_t *shape) {
    buf[0] = 0;
    for (int i = 0; i < ndim; i++)
        snprintf(buf + strlen(buf), cap - strlen(buf), "%s%lld", i ? ", " : "", (long long)shape[i]);
}

/* Finds logical tensor `id` and checks it has the shape the config implies (d1 = 0: a
 * vector). Every failure is one line naming the tensor. */
static int want(llama *m, attn_tensor_ref *t, attn_llama_tensor id, int layer, int64_t d0, int64_t d1) {
    *t = (attn_tensor_ref){0}; /* sources fill only what they know (qtype stays 0 for HF) */
    if (!m->src->find(m->src, id, layer, t)) return attn_error("%s: missing tensor '%s'", t->file, t->name);
    if (!t->loadable)
        return attn_error("%s: tensor '%s' has dtype %s; attn loads F32, F16, BF16 and the Q4_0..Q8_0, Q2_K..Q6_K "
                          "block types", t->file, t->name, t->dtype_name);
    int ndim = d1 ? 2 : 1;
    int64_t exp[2] = {d0, d1};
    bool ok = t->ndim == ndim;
    for (int i = 0; ok && i < ndim; i++) ok = t->shape[i] == exp[i];
    if (!ok) {
        char got[128], imp[64];
        shape_text(got, sizeof got, t->ndim, t->shape);
        shape_text(imp, sizeof imp, ndim, exp);
        return attn_error("%s: tensor '%s' has shape [%s] but %s implies [%s]", t->file, t->name, got, m->cfg_name, imp);
    }
    m->weight_bytes += t->nbytes;
    m->n_params += ndim == 2 ? d0 * d1 : d0;
    return 0;
}

/* A matrix [out][in] bound in place. */
static int mat(llama *m, attn_weight *w, attn_llama_tensor id, int layer, int64_t out, int64_t in) {
    attn_tensor_ref t;
    if (want(m, &t, id, layer, out, in)) return -1;
    *w = (attn_weight){.data = t.data, .dtype = t.dtype, .n_in = in, .n_out = out, .in_major = false, .qtype = t.qtype};
    return 0;
}

/* A vector copied to f32 in the arena (nothing is copied while the arena only measures). */
static int vec(llama *m, float **dst, attn_llama_tensor id, int layer, int64_t n) {
    attn_tensor_ref t;
    if (want(m, &t, id, layer, n, 0)) return -1;
    *dst = attn_arena_push(&m->arena, (size_t)n * sizeof(float));
    if (*dst && t.qtype) attn_dequantize_row((attn_qtype)t.qtype, t.data, *dst, n);
    else if (*dst) attn_to_f32(*dst, t.data, t.dtype, n);
    return 0;
}

/* An optional bias: bound when the config says the model has it, else left NULL. */
static int bias(llama *m, float **dst, bool present, attn_llama_tensor id, int layer, int64_t n) {
    *dst = NULL;
    return present ? vec(m, dst, id, layer, n) : 0;
}

static int bind_attention(llama *m, llama_layer *L, int l) {
    const attn_llama_config *c = &m->c;
    int64_t C = c->n_embd, qd = c->n_head * c->head_dim, kvd = c->n_kv_head * c->head_dim;
    return vec(m, &L->attn_norm, ATTN_LT_ATTN_NORM, l, C) || mat(m, &L->q, ATTN_LT_Q, l, qd, C) ||
           mat(m, &L->k, ATTN_LT_K, l, kvd, C) || mat(m, &L->v, ATTN_LT_V, l, kvd, C) ||
           mat(m, &L->o, ATTN_LT_O, l, C, qd) || bias(m, &L->q_b, c->qkv_bias, ATTN_LT_Q_BIAS, l, qd) ||
           bias(m, &L->k_b, c->qkv_bias, ATTN_LT_K_BIAS, l, kvd) ||
           bias(m, &L->v_b, c->qkv_bias, ATTN_LT_V_BIAS, l, kvd) || bias(m, &L->o_b, c->o_bias, ATTN_LT_O_BIAS, l, C)
               ? -1 : 0;
}

static int bind_mlp(llama *m, llama_layer *L, int l) {
    const attn_llama_config *c = &m->c;
    int64_t C = c->n_embd, F = c->n_ff;
    return vec(m, &L->ffn_norm, ATTN_LT_FFN_NORM, l, C) || mat(m, &L->gate, ATTN_LT_GATE, l, F, C) ||
           mat(m, &L->up, ATTN_LT_UP, l, F, C) || mat(m, &L->down, ATTN_LT_DOWN, l, C, F) ||
           bias(m, &L->gate_b, c->mlp_bias, ATTN_LT_GATE_BIAS, l, F) ||
           bias(m, &L->up_b, c->mlp_bias, ATTN_LT_UP_BIAS, l, F) ||
           bias(m, &L->down_b, c->mlp_bias, ATTN_LT_DOWN_BIAS, l, C)
               ? -1 : 0;
}

/* Binds every tensor; runs in both planning passes, so the counts restart each time. */
static int bind_weights(llama *m) {
    const attn_llama_config *c = &m->c;
    m->n_params = 0, m->weight_bytes = 0;
    if (want(m, &m->embed, ATTN_LT_TOKEN_EMBD, -1, c->vocab, c->n_embd)) return -1;
    if (!m->layers && !(m->layers = calloc((size_t)c->n_layer, sizeof *m->layers)))
        return attn_error("out of memory loading %s", m->src->path);
    for (int l = 0; l < c->n_layer; l++)
        if (bind_attention(m, &m->layers[l], l) || bind_mlp(m, &m->layers[l], l)) return -1;
    if (vec(m, &m->norm, ATTN_LT_OUTPUT_NORM, -1, c->n_embd)) return -1;
    /* tied: HF ties lm_head to the embedding and ignores any stored copy; untied: it must be there */
    if (c->tie_embeddings) {
        m->lm_head = (attn_weight){.data = m->embed.data, .dtype = m->embed.dtype, .n_in = c->n_embd,
                                   .n_out = c->vocab, .in_major = false, .qtype = m->embed.qtype};
        return 0;
    }
    return mat(m, &m->lm_head, ATTN_LT_OUTPUT, -1, c->vocab, c->n_embd);
}

/* ---- memory plan ------------------------------------------------------------------ */

static float *push_floats(attn_arena *a, int64_t n) { return attn_arena_push(a, (size_t)n * sizeof(float)); }

/* A pass's activations for T rows (nothing is taken while the arena measures). */
static void push_pass(attn_arena *a, const attn_llama_config *c, int64_t T, pass_bufs *b) {
    const int64_t C = c->n_embd, hd = c->head_dim, qd = c->n_head * hd, kvd = c->n_kv_head * hd;
    b->x = push_floats(a, T * C), b->h = push_floats(a, T * C);
    b->q = push_floats(a, T * qd), b->att = push_floats(a, T * qd);
    b->k = push_floats(a, T * kvd), b->v = push_floats(a, T * kvd);
    b->gate = push_floats(a, T * c->n_ff), b->up = push_floats(a, T * c->n_ff);
    b->rope_cos = push_floats(a, T * hd / 2), b->rope_sin = push_floats(a, T * hd / 2);
    b->logit_rows = push_floats(a, ATTN_BATCH_LOGIT_ROWS * c->vocab);
}

/* The whole memory plan but the KV cache (llama_set_sequences) and the decoding lanes; runs
 * once measuring and once for real (see core/arena.h). */
static int plan(llama *m) {
    const attn_llama_config *c = &m->c;
    m->chunk = ATTN_MIN(c->n_ctx, PREFILL_CHUNK);
    push_pass(&m->arena, c, m->chunk, &m->a);
    m->inv_freq = push_floats(&m->arena, c->head_dim / 2);
    return bind_weights(m);
}

/* Matrices are copied once here into memory of attn's own, one mapping with huge pages
 * (attn_alloc_stream), and the file's pages are handed back chunk by chunk as they are
 * copied, so the resident size stays about the file's. Decoding streams every matrix once a
 * token, and through the TLB at one entry per 2 MB rather than per 4 KB it reads faster (the
 * 1.1B Q8_0 model decoded 20-21 tok/s on 4 KB pages, 23-28 on huge ones). Where the CPU runs
 * AVX-512, quantized matrices are repacked into 16-row panels for decoding's integer kernels
 * (core/qpanel.h; as many bytes as in the file, Q4_K/Q5_K 2-3% more), and f32/f16/bf16 ones
 * into 32-row panels for prompts' register tiles (core/hpanel.h). A tied embedding table
 * reads its rows from the copy too (forward_pass).
 * ATTN_PANELS=0 keeps the file's pages. */
typedef struct {
    const attn_llama_source *src;
    const attn_weight *w;
    uint8_t *dst;
    bool hpanels;         /* a plain matrix into 32-row panels (core/hpanel.h); else rows copied */
    int64_t unit_rows;    /* rows a unit of work takes: a quantized panel's 16, a plain one's 32 */
    size_t row_bytes, unit_bytes;
} repack_job;

static void repack_task(void *ctx, int64_t p0, int64_t p1, int thread) {
    (void)thread;
    const repack_job *j = ctx;
    const int64_t r0 = p0 * j->unit_rows, rows = ATTN_MIN(p1 * j->unit_rows, j->w->n_out) - r0;
    const uint8_t *src = (const uint8_t *)j->w->data + (size_t)r0 * j->row_bytes;
    if (j->w->qtype) attn_qpanel_pack(j->dst + (size_t)p0 * j->unit_bytes, src, (attn_qtype)j->w->qtype, j->w->n_in, rows);
    else if (j->hpanels) attn_hpanel_pack(j->dst, j->w->data, j->w->dtype, j->w->n_in, r0, rows);
    else memcpy(j->dst + (size_t)r0 * j->row_bytes, src, (size_t)rows * j->row_bytes);
    if (j->src->release) j->src->release(j->src, src, (size_t)rows * j->row_bytes);
}

/* Bytes of w's copy, whole cache lines (0: it stays in the file). Plain matrices are copied
 * only from a source that can hand the file's pages back: else the copy would double the
 * resident size. */
static size_t copy_span(const llama *m, const attn_weight *w) {
    const attn_qtype t = (attn_qtype)w->qtype;
    if (!t) return w->in_major || !m->src->release ? 0 : (attn_weight_row_bytes(w) * (size_t)w->n_out + 63) / 64 * 64;
    if (!attn_qpanel_wanted(attn_isa_current()) || !attn_qpanel_ok(t, w->n_in, w->n_out)) return 0;
    return (attn_qpanel_bytes(t, w->n_in, w->n_out) + 63) / 64 * 64;
}

static void repack(llama *m, attn_weight *w, uint8_t *dst) {
    const attn_qtype t = (attn_qtype)w->qtype;
    repack_job j = {.src = m->src, .w = w, .dst = dst, .row_bytes = attn_weight_row_bytes(w), .unit_rows = ATTN_QPANEL_ROWS,
                    .hpanels = !t && attn_hpanel_ok(attn_isa_current(), w->dtype, w->n_in, w->n_out)};
    if (j.hpanels) j.unit_rows = ATTN_HPANEL_ROWS;
    j.unit_bytes = t ? attn_qpanel_bytes(t, w->n_in, ATTN_QPANEL_ROWS) : j.row_bytes * (size_t)j.unit_rows;
    int64_t units = (w->n_out + j.unit_rows - 1) / j.unit_rows, per_mb = (1 << 20) / (int64_t)j.unit_bytes;
    attn_parallel_for_dynamic(units, ATTN_MAX(per_mb, 1), repack_task, &j);
    if (m->src->release) /* whole, again: a chunk's reads also map in pages around it (the
                          * kernel's fault-around) that a neighbouring chunk had given back */
        m->src->release(m->src, w->data, j.row_bytes * (size_t)w->n_out);
    if (t || j.hpanels) w->panels = dst; /* data stays the file's (pages handed back): nothing reads it */
    else w->data = dst;
}

/* Matrix i of the copied ones: 7 a layer, then the LM head. */
static attn_weight *matrix_at(llama *m, int64_t i) {
    if (i == m->c.n_layer * 7) return &m->lm_head;
    llama_layer *L = &m->layers[i / 7];
    attn_weight *ws[] = {&L->q, &L->k, &L->v, &L->o, &L->gate, &L->up, &L->down};
    return ws[i % 7];
}

/* One mapping for all, which rounds up once, not once a matrix. */
static int repack_weights(llama *m) {
    static _Atomic int panels_on = -1; /* ATTN_PANELS */
    if (!attn_switch_on(&panels_on, "ATTN_PANELS")) return 0;
    const int64_t n = m->c.n_layer * 7 + 1;
    size_t total = 0;
    for (int64_t i = 0; i < n; i++) total += copy_span(m, matrix_at(m, i));
    if (total == 0) return 0;
    if (!(m->panel_mem = attn_alloc_stream(total)))
        return attn_error("out of memory copying the %zu bytes of matrices of %s", total, m->src->path);
    m->panel_bytes = total;
    uint8_t *at = m->panel_mem;
    for (int64_t i = 0; i < n; i++) {
        attn_weight *w = matrix_at(m, i);
        size_t span = copy_span(m, w);
        if (span) repack(m, w, at), at += span;
    }
    return 0;
}

static int alloc_state(llama *m) {
    m->arena = attn_arena_measure();
    if (plan(m) != 0) return -1;
    if (attn_arena_init(&m->arena, m->arena.used) != 0 || plan(m) != 0) return -1;
    attn_rope_inv_freq(m->inv_freq, &m->c.rope);
    return repack_weights(m);
}

/* ---- forward ---------------------------------------------------------------------- */

static attn_attention_shape attention_shape(const attn_llama_config *c) {
    return (attn_attention_shape){.n_heads = (int)c->n_head, .n_kv_heads = (int)c->n_kv_head,
                                  .head_dim = (int)c->head_dim, .scale = (float)(1.0 / sqrt((double)c->head_dim))};
}

/* Self-attention of the pass's rows of a->h, each segment against its sequence's cache; the
 * projection lands in a->h. */
static int attention(llama *m, llama_layer *L, int l, const attn_batch_pass *p) {
    const attn_llama_config *c = &m->c;
    const pass_bufs *a = &m->a;
    attn_attention_shape s = attention_shape(c);
    int64_t T = p->rows, hd = c->head_dim, qd = c->n_head * hd, kvd = c->n_kv_head * hd;
    float *const ys[] = {a->q, a->k, a->v};
    const attn_weight *const ws[] = {&L->q, &L->k, &L->v};
    const float *const bs[] = {L->q_b, L->k_b, L->v_b};
    if (attn_matmul_many(3, ys, a->h, T, ws, bs)) return -1;
    attn_rope_apply(a->q, qd, T, s.n_heads, s.head_dim, a->rope_cos, a->rope_sin, c->rope.dim, c->rope.layout);
    attn_rope_apply(a->k, kvd, T, s.n_kv_heads, s.head_dim, a->rope_cos, a->rope_sin, c->rope.dim, c->rope.layout);
    attn_batch_attend(p, &m->cache, l, a->att, qd, a->q, qd, a->k, a->v, kvd, &s);
    return attn_matmul(a->h, a->att, T, &L->o, L->o_b);
}

/* down(silu(gate(h)) * up(h)) of T rows of a->h, into a->h. */
static int mlp(llama *m, llama_layer *L, int64_t T) {
    const pass_bufs *a = &m->a;
    float *const ys[] = {a->gate, a->up};
    const attn_weight *const ws[] = {&L->gate, &L->up};
    const float *const bs[] = {L->gate_b, L->up_b};
    if (attn_matmul_many(2, ys, a->h, T, ws, bs)) return -1;
    attn_swiglu(a->gate, a->up, T * m->c.n_ff);
    return attn_matmul(a->h, a->gate, T, &L->down, L->down_b);
}

/* One pre-norm block over the pass's rows of m->a.x. */
static int block(llama *m, int l, const attn_batch_pass *p) {
    const attn_llama_config *c = &m->c;
    llama_layer *L = &m->layers[l];
    int64_t T = p->rows;
    attn_rmsnorm(m->a.h, m->a.x, L->attn_norm, T, c->n_embd, c->rms_eps);
    if (attention(m, L, l, p)) return -1;
    attn_add(m->a.x, m->a.h, T * c->n_embd);
    attn_rmsnorm(m->a.h, m->a.x, L->ffn_norm, T, c->n_embd, c->rms_eps);
    if (mlp(m, L, T)) return -1;
    attn_add(m->a.x, m->a.h, T * c->n_embd);
    return 0;
}

static void final_norm(const void *family, float *out, const float *x, int64_t rows) {
    const llama *m = family;
    attn_rmsnorm(out, x, m->norm, rows, m->c.n_embd, m->c.rms_eps);
}

/* Embeddings and each row's rotary angles (shared by all layers), the blocks, the logits. */
static int forward_pass(llama *m, const attn_batch_pass *p) {
    const attn_llama_config *c = &m->c;
    int64_t C = c->n_embd, half = c->rope.dim / 2;
    /* a tied table is the LM head's weight, read wherever its copy lies (the file's pages were
     * handed back) */
    const attn_weight table = c->tie_embeddings ? m->lm_head
                                                : (attn_weight){.data = m->embed.data, .dtype = m->embed.dtype,
                                                                .qtype = m->embed.qtype, .n_in = C, .n_out = c->vocab};
    for (int i = 0; i < p->n_segs; i++) {
        const attn_batch_segment *g = &p->segs[i];
        float *x = m->a.x + g->row * C;
        for (int64_t j = 0; j < g->n; j++) attn_weight_row(x + j * C, &table, g->tokens[j]);
        attn_rope_table(m->a.rope_cos + g->row * half, m->a.rope_sin + g->row * half, m->inv_freq, c->rope.dim, g->pos,
                        g->n);
    }
    for (int l = 0; l < c->n_layer; l++)
        if (block(m, l, p)) return -1;
    return attn_batch_logits(p, m->a.x, C, m->a.h, &m->lm_head, final_norm, m, m->a.logit_rows);
}

/* ---- decoding lanes ------------------------------------------------------------------ */

/* Many sequences decoding together on quantized weights are bound by the integer products,
 * not by memory, and a step split product by product meets the threads ~10 times a layer,
 * each a wait on the slower one. Lanes split the sequences instead: each thread runs whole
 * passes for its share, with its own activations, and the threads meet once a step. Every
 * lane reads all the weights: with 2 threads on SmolLM2 Q4_1 at 8 rows, 2 x 92 MB a ~8.8 ms
 * step, ~21 GB/s by arithmetic, below the 32-57 GB/s `attn bench --bandwidth` read on this
 * VM. A row's arithmetic is the same in any lane or batch, so the
 * logits are those of the split step, bit for bit. Lanes hold up to LANE_ROWS rows and take
 * at least LANE_MIN each: smaller shares are bound by memory, where reading twice loses.
 * SmolLM2 Q4_1, 8 sequences a step, 2 threads (attn_model_forward_batch, medians of 6
 * alternated pairs): 848 -> 907 tok/s with two-byte activations, 857 -> 954 with one byte. */
#define LANE_ROWS ATTN_BATCH_LOGIT_ROWS
#define LANE_MIN 3

struct lane {
    pass_bufs a;
    attn_batch_segment segs[LANE_ROWS];
};

static _Atomic int lanes_on = -1; /* ATTN_LANES=0 turns them off */

void attn_llama_set_lanes(bool on) { atomic_store_explicit(&lanes_on, on, memory_order_relaxed); }

static bool use_lanes(const llama *m, const attn_batch_item *items, int n_items) {
    int threads = attn_threads_count();
    if (threads < 2 || !m->layers[0].q.qtype || n_items < LANE_MIN * threads || n_items > LANE_ROWS * threads)
        return false;
    for (int i = 0; i < n_items; i++)
        if (items[i].n != 1) return false;
    return attn_switch_on(&lanes_on, "ATTN_LANES");
}

static int ensure_lanes(llama *m, int n) {
    if (m->n_lanes >= n) return 0;
    attn_arena_free(&m->lane_arena);
    free(m->lanes), m->lanes = NULL, m->n_lanes = 0;
    pass_bufs probe;
    attn_arena a = attn_arena_measure();
    for (int i = 0; i < n; i++) push_pass(&a, &m->c, LANE_ROWS, &probe);
    if (!(m->lanes = calloc((size_t)n, sizeof *m->lanes)) || attn_arena_init(&m->lane_arena, a.used) != 0) {
        free(m->lanes), m->lanes = NULL;
        return attn_error("out of memory for %d decoding lanes", n);
    }
    for (int i = 0; i < n; i++) push_pass(&m->lane_arena, &m->c, LANE_ROWS, &m->lanes[i].a);
    m->n_lanes = n;
    return 0;
}

typedef struct {
    llama *m;
    const attn_model *model;
    const attn_batch_item *items;
    int n_items, n_lanes;
    _Atomic int failed;
    char error[512]; /* the first failing lane's message (attn_error's text is per thread) */
} lanes_job;

/* Lane g: its share of the items through a copy of the model whose activations are the lane's. */
static void lane_task(void *ctx, int64_t g0, int64_t g1, int thread) {
    (void)thread;
    lanes_job *j = ctx;
    for (int64_t g = g0; g < g1; g++) {
        const int a = (int)(g * j->n_items / j->n_lanes), b = (int)((g + 1) * j->n_items / j->n_lanes);
        struct lane *L = &j->m->lanes[g];
        llama v = *j->m;
        v.a = L->a, v.chunk = LANE_ROWS;
        attn_batch_pass p = {.segs = L->segs};
        while (attn_batch_next_pass(&p, j->model, j->items + a, b - a, LANE_ROWS))
            if (forward_pass(&v, &p) && !atomic_exchange(&j->failed, 1))
                snprintf(j->error, sizeof j->error, "%s", attn_last_error());
    }
}

static int forward_lanes(llama *m, const attn_model *model, const attn_batch_item *items, int n_items) {
    int lanes = attn_threads_count();
    if (ensure_lanes(m, lanes) != 0) return -1;
    lanes_job j = {.m = m, .model = model, .items = items, .n_items = n_items, .n_lanes = lanes};
    attn_parallel_for(lanes, 1, lane_task, &j); /* one lane a thread */
    return atomic_load(&j.failed) ? attn_error("%s", j.error) : 0;
}

static int llama_forward(attn_model *model, const attn_batch_item *items, int n_items) {
    llama *m = model->impl;
    /* the thread count may have changed since load: every thread needs its score buffer */
    if (attn_attention_reserve(m->cache.max_pos) != 0) return attn_error("out of memory for attention scores");
    if (use_lanes(m, items, n_items)) return forward_lanes(m, model, items, n_items);
    attn_batch_pass p = {0};
    while (attn_batch_next_pass(&p, model, items, n_items, m->chunk))
        if (forward_pass(m, &p)) return -1;
    return 0;
}

static int llama_set_sequences(attn_model *model, int n_seq, int64_t n_ctx) {
    llama *m = model->impl;
    const attn_llama_config *c = &m->c;
    attn_kv_cache fresh;
    if (attn_kv_cache_init(&fresh, model->kv_type, (int)c->n_layer, n_seq, n_ctx, (int)c->n_kv_head, (int)c->head_dim))
        return -1;
    attn_kv_cache_free(&m->cache);
    m->cache = fresh;
    return 0;
}

/* ---- load ------------------------------------------------------------------------- */

static void llama_free(attn_model *model) {
    llama *m = model->impl;
    attn_llama_source_close(m->src);
    attn_free_stream(m->panel_mem, m->panel_bytes);
    free(m->layers);
    attn_kv_cache_free(&m->cache);
    attn_arena_free(&m->arena);
    attn_arena_free(&m->lane_arena);
    free(m->lanes);
    free(m);
}

static const attn_model_ops llama_ops = {.forward = llama_forward, .set_sequences = llama_set_sequences,
                                         .free = llama_free};

static void fill_info(attn_model *model, const llama *m) {
    const attn_llama_config *c = &m->c;
    model->info = (attn_model_info){.family = c->arch, .n_ctx = c->n_ctx, .vocab_size = c->vocab,
                                    .n_layer = c->n_layer, .n_embd = c->n_embd, .n_head = c->n_head,
                                    .n_params = m->n_params, .weight_bytes = m->weight_bytes,
                                    .decode_bytes = m->weight_bytes - (c->tie_embeddings ? 0 : m->embed.nbytes),
                                    .dtype = m->layers[0].q.dtype, .origin = m->src->origin};
    const attn_weight *q = &m->layers[0].q;
    model->info.quantized = q->qtype != 0;
    model->info.weight_type = q->qtype ? attn_qtype_name(q->qtype) : attn_dtype_name(q->dtype);
}

static bool exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

/* model.c proposes dir/model.safetensors; a sharded checkpoint has an index instead. */
static const char *weights_file(const char *dir, const char *proposed, char *buf, size_t cap) {
    if (exists(proposed)) return proposed;
    snprintf(buf, cap, "%s/model.safetensors.index.json", dir);
    return exists(buf) ? buf : proposed;
}

/* Builds the model from a config already read and a source already open (both owned by
 * the model from here on, also on failure). */
static attn_model *llama_build(attn_llama_source *src, const attn_llama_config *c, const char *cfg_name) {
    llama *m = calloc(1, sizeof *m);
    attn_model *model = m ? attn_model_new(&llama_ops, m) : NULL;
    if (!model) {
        free(m);
        attn_llama_source_close(src);
        attn_error("out of memory");
        return NULL;
    }
    m->c = *c, m->src = src, m->cfg_name = cfg_name;
    if (alloc_state(m) != 0) {
        attn_model_free(model);
        return NULL;
    }
    fill_info(model, m);
    model->info.chat_template = src->chat_template, src->chat_template = NULL; /* the model frees it */
    attn_model_default_kv(model);
    if (attn_model_set_sequences(model, 1, 0) != 0) {
        attn_model_free(model);
        return NULL;
    }
    return model;
}

attn_model *attn_llama_load(const char *dir, const char *weights_path) {
    char cfg_path[4200], index[4200];
    attn_llama_config c;
    snprintf(cfg_path, sizeof cfg_path, "%s/config.json", dir);
    if (attn_llama_config_read(cfg_path, &c) != 0) return NULL;
    attn_llama_source *src = attn_llama_source_hf(weights_file(dir, weights_path, index, sizeof index));
    return src ? llama_build(src, &c, "config.json") : NULL;
}

attn_model *attn_llama_load_gguf(const char *path) {
    attn_llama_config c;
    attn_llama_source *src = attn_llama_source_gguf(path, &c);
    return src ? llama_build(src, &c, "the GGUF metadata") : NULL;
}

attn_model *attn_llama_load_llama2c(const char *path) {
    attn_llama_config c;
    attn_llama_source *src = attn_llama_source_llama2c(path, &c);
    return src ? llama_build(src, &c, "the llama2.c header") : NULL;
}
