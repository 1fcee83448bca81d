/* tape.c - the training tape (see tape.h): one record per layer call, replayed in reverse.
 * Two arenas: `vals` holds layer outputs and what backwards need (statistics, attention
 * log-sum-exps, masks, ids); `grads` holds one gradient per layer output, so zeroing
 * every activation gradient before a backward is one pass over one block. */
#include "tape.h"

#include <stdlib.h>
#include <string.h>
#include "core/arena.h"
#include "core/common.h"
#include "core/threadpool.h"
#include "nn/attention_train.h"
#include "nn/backward.h"

#define OP_MAX_TVARS 3 /* the most tvars a record's backward adds gradients into */

typedef enum {
    OP_EMBED, OP_LAYERNORM, OP_LINEAR, OP_ATTENTION, OP_GELU, OP_RELU, OP_ADD, OP_DROPOUT, OP_CROSS_ENTROPY
} op_kind;

/* What one layer call leaves for its backward; `out` is its output. */
typedef struct {
    op_kind kind;
    attn_tvar out;
    union {
        struct { attn_tvar wte, wpe; const int32_t *ids; int64_t B, T, C; float scale; } embed;
        struct { attn_tvar x, w, b; float *mean, *rstd; int64_t rows, dim; } ln;
        struct { attn_tvar x, w, b; int64_t rows; attn_weight weight; } linear;
        /* q and kv are the tvars the query and key/value rows live in (one fused qkv for
         * self-attention); the key and value columns start k_off, v_off floats into kv */
        struct { attn_tvar q, kv; int64_t k_off, v_off; float *lse; attn_attention_args args; } attn;
        struct { attn_tvar x; } gelu, relu;
        struct { attn_tvar a, b; } add;
        struct { attn_tvar x; uint8_t *mask; float p; } drop;
        struct {
            attn_tvar logits;
            const int32_t *targets;
            float *row_loss, *lse;
            int64_t rows, V, count;
            float smoothing;
        } ce;
    };
} tape_op;

struct attn_tape {
    attn_arena vals, grads;
    size_t vals_mark, grads_mark; /* where a forward starts (after the arena's alignment) */
    size_t vals_peak, grads_peak; /* largest use seen while measuring */
    tape_op *ops;
    int n_ops, max_ops, peak_ops;
    bool training, failed;
    bool grad_in_place; /* the next new variable's gradient overwrites its value */
    uint64_t seed;
    int n_dropout; /* dropout calls so far in this forward: each gets its own mask seed */
    /* attn_tape_fresh_grads: the region whose gradients the next backward writes afresh,
     * and the parts of it reached so far (room for every tvar of every record) */
    float *fresh_lo, *fresh_hi;
    struct grad_range { float *lo, *hi; } *reached;
    int n_reached, max_reached;
};

attn_tape *attn_tape_new(void) {
    attn_tape *t = calloc(1, sizeof *t);
    if (!t) attn_error("out of memory");
    return t;
}

void attn_tape_free(attn_tape *t) {
    if (!t) return;
    attn_arena_free(&t->vals);
    attn_arena_free(&t->grads);
    free(t->ops);
    free(t->reached);
    free(t);
}

bool attn_tape_measuring(const attn_tape *t) { return attn_arena_measuring(&t->vals); }

static void remember_peak(attn_tape *t) {
    if (!attn_tape_measuring(t)) return;
    t->vals_peak = ATTN_MAX(t->vals_peak, t->vals.used);
    t->grads_peak = ATTN_MAX(t->grads_peak, t->grads.used);
    t->peak_ops = ATTN_MAX(t->peak_ops, t->n_ops);
}

int attn_tape_plan(attn_tape *t) {
    remember_peak(t);
    if (!attn_tape_measuring(t)) return attn_error("tape: already planned");
    if (attn_arena_init(&t->vals, t->vals_peak) || attn_arena_init(&t->grads, t->grads_peak)) return -1;
    t->vals_mark = t->vals.used, t->grads_mark = t->grads.used;
    t->max_ops = t->peak_ops;
    t->ops = calloc((size_t)ATTN_MAX(t->max_ops, 1), sizeof *t->ops);
    t->max_reached = OP_MAX_TVARS * t->max_ops;
    t->reached = calloc((size_t)ATTN_MAX(t->max_reached, 1), sizeof *t->reached);
    if (!t->ops || !t->reached) return attn_error("out of memory for the tape's %d records", t->max_ops);
    t->n_ops = 0;
    return 0;
}

void attn_tape_begin(attn_tape *t, bool training, uint64_t seed) {
    remember_peak(t);
    t->vals.used = t->vals_mark, t->grads.used = t->grads_mark;
    t->n_ops = t->n_dropout = 0;
    t->training = training, t->seed = seed, t->failed = false;
}

int attn_tape_status(const attn_tape *t) { return t->failed ? -1 : 0; }

size_t attn_tape_bytes(const attn_tape *t) { return t->vals.size + t->grads.size; }

/* Records the first failure; later layer calls see t->failed and do nothing. */
static attn_tvar fail(attn_tape *t) {
    t->failed = true;
    return (attn_tvar){0};
}

void attn_tape_next_grad_in_place(attn_tape *t) { t->grad_in_place = true; }

void *attn_tape_alloc(attn_tape *t, size_t bytes) {
    if (t->failed) return NULL;
    void *p = attn_arena_push(&t->vals, bytes);
    if (!p && !attn_tape_measuring(t)) {
        attn_error("the training step needs more memory than was planned (larger batch or sequence?)");
        fail(t);
    }
    return p;
}

static float *push_floats(attn_tape *t, int64_t n) { return attn_tape_alloc(t, (size_t)n * sizeof(float)); }

/* A new layer output of n floats with its gradient; NULL data while measuring. */
static attn_tvar new_var(attn_tape *t, int64_t n) {
    attn_tvar v = {.val = push_floats(t, n), .n = n};
    if (t->failed) return v;
    if (t->grad_in_place) {
        t->grad_in_place = false;
        v.grad = v.val;
        return v;
    }
    v.grad = attn_arena_push(&t->grads, (size_t)n * sizeof(float));
    if (!v.grad && !attn_tape_measuring(t)) {
        attn_error("the training step needs more gradient memory than was planned");
        return fail(t);
    }
    return v;
}

/* A slot for the next record; NULL while measuring (only counted) or on failure. The
 * caller checks `ready` first: it is false when nothing should run. */
static tape_op *record(attn_tape *t, op_kind kind) {
    if (t->failed) return NULL;
    if (attn_tape_measuring(t)) {
        t->n_ops++;
        return NULL;
    }
    if (t->n_ops == t->max_ops) {
        attn_error("the training forward records more layers than were planned (%d)", t->max_ops);
        fail(t);
        return NULL;
    }
    tape_op *op = &t->ops[t->n_ops++];
    memset(op, 0, sizeof *op);
    op->kind = kind;
    return op;
}

static bool sizes_ok(attn_tape *t, const char *layer, int64_t got, int64_t want, const char *what) {
    if (got == want) return true;
    attn_error("tape %s: %s has %lld values, the shape implies %lld", layer, what, (long long)got, (long long)want);
    fail(t);
    return false;
}

/* ---- Layers ---- */

static bool ids_ok(attn_tape *t, const int32_t *ids, int64_t n, int64_t lo, int64_t vocab, const char *what) {
    for (int64_t i = 0; i < n; i++)
        if (ids[i] < lo || ids[i] >= vocab) {
            attn_error("%s %d at position %lld is outside the vocabulary (0..%lld)", what, ids[i], (long long)i,
                       (long long)vocab - 1);
            fail(t);
            return false;
        }
    return true;
}

attn_tvar attn_tape_embed_scaled(attn_tape *t, const int32_t *ids, int64_t B, int64_t T, attn_tvar wte,
                                 int64_t vocab, float scale, attn_tvar wpe, int64_t C) {
    if (t->failed || !sizes_ok(t, "embed", wte.n, vocab * C, "the token table")) return fail(t);
    if (wpe.val && wpe.n < T * C) {
        attn_error("tape embed: the position table has %lld rows, the sequence %lld", (long long)(wpe.n / C),
                   (long long)T);
        return fail(t);
    }
    attn_tvar out = new_var(t, B * T * C);
    tape_op *op = record(t, OP_EMBED);
    if (!op) return out;
    if (!ids_ok(t, ids, B * T, 0, vocab, "token id")) return fail(t);
    op->out = out;
    op->embed.wte = wte, op->embed.wpe = wpe, op->embed.ids = ids, op->embed.B = B, op->embed.T = T, op->embed.C = C;
    op->embed.scale = scale;
    attn_embed_scaled_train(out.val, ids, wte.val, scale, wpe.val, B, T, C);
    return out;
}

attn_tvar attn_tape_embed(attn_tape *t, const int32_t *ids, int64_t B, int64_t T, attn_tvar wte, int64_t vocab,
                          attn_tvar wpe, int64_t C) {
    return attn_tape_embed_scaled(t, ids, B, T, wte, vocab, 1.0f, wpe, C);
}

attn_tvar attn_tape_layernorm(attn_tape *t, attn_tvar x, attn_tvar w, attn_tvar b, int64_t rows, int64_t dim,
                              float eps) {
    if (t->failed || !sizes_ok(t, "layernorm", x.n, rows * dim, "the input") ||
        !sizes_ok(t, "layernorm", w.n, dim, "the weight") || !sizes_ok(t, "layernorm", b.n, dim, "the bias"))
        return fail(t);
    attn_tvar out = new_var(t, rows * dim);
    float *mean = push_floats(t, rows), *rstd = push_floats(t, rows);
    tape_op *op = record(t, OP_LAYERNORM);
    if (!op) return out;
    op->out = out;
    op->ln.x = x, op->ln.w = w, op->ln.b = b, op->ln.mean = mean, op->ln.rstd = rstd, op->ln.rows = rows,
    op->ln.dim = dim;
    attn_layernorm_train(out.val, mean, rstd, x.val, w.val, b.val, rows, dim, eps);
    return out;
}

attn_tvar attn_tape_linear(attn_tape *t, attn_tvar x, int64_t rows, attn_tvar w, attn_tvar b, int64_t n_in,
                           int64_t n_out, bool in_major) {
    if (t->failed || !sizes_ok(t, "linear", x.n, rows * n_in, "the input") ||
        !sizes_ok(t, "linear", w.n, n_in * n_out, "the weight") ||
        ((b.val || b.n) && !sizes_ok(t, "linear", b.n, n_out, "the bias")))
        return fail(t);
    attn_tvar out = new_var(t, rows * n_out);
    tape_op *op = record(t, OP_LINEAR);
    if (!op) return out;
    op->out = out;
    op->linear.x = x, op->linear.w = w, op->linear.b = b, op->linear.rows = rows;
    op->linear.weight = (attn_weight){.data = w.val, .dtype = ATTN_F32, .n_in = n_in, .n_out = n_out,
                                      .in_major = in_major};
    if (attn_linear_forward(out.val, x.val, rows, &op->linear.weight, b.val)) return fail(t);
    return out;
}

static bool shape_ok(attn_tape *t, const attn_attention_shape *s) {
    if (s->n_kv_heads >= 1 && s->head_dim >= 1 && s->n_heads % s->n_kv_heads == 0) return true;
    attn_error("tape attention: %d heads cannot share %d key/value heads", s->n_heads, s->n_kv_heads);
    fail(t);
    return false;
}

static bool lengths_ok(attn_tape *t, const int32_t *lens, int64_t B, int64_t T, const char *what) {
    for (int64_t b = 0; lens && b < B; b++)
        if (lens[b] < 1 || lens[b] > T) {
            attn_error("tape attention: sequence %lld has %d valid %s, not 1..%lld", (long long)b, lens[b], what,
                       (long long)T);
            fail(t);
            return false;
        }
    return true;
}

/* Records and runs one attention whose query rows live in q and key/value rows in kv,
 * from column k_off and v_off of kv (a's data pointers are set here: none while measuring). */
static attn_tvar attention(attn_tape *t, attn_tvar q, attn_tvar kv, int64_t k_off, int64_t v_off,
                           attn_attention_args a) {
    const attn_attention_shape *s = &a.shape;
    attn_tvar out = new_var(t, a.B * a.Tq * s->n_heads * s->head_dim);
    float *lse = push_floats(t, a.B * s->n_heads * a.Tq);
    tape_op *op = record(t, OP_ATTENTION);
    if (!op) return out;
    if (!lengths_ok(t, a.q_len, a.B, a.Tq, "queries") || !lengths_ok(t, a.k_len, a.B, a.Tk, "keys")) return fail(t);
    a.q = q.val, a.k = kv.val + k_off, a.v = kv.val + v_off;
    op->out = out;
    op->attn.q = q, op->attn.kv = kv, op->attn.k_off = k_off, op->attn.v_off = v_off;
    op->attn.lse = lse, op->attn.args = a;
    attn_attention_forward_args(out.val, lse, &a);
    return out;
}

attn_tvar attn_tape_self_attention(attn_tape *t, attn_tvar qkv, int64_t B, int64_t T, const int32_t *lens, bool causal,
                                   const attn_attention_shape *s) {
    int64_t hd = s->head_dim, width = (int64_t)(s->n_heads + 2 * s->n_kv_heads) * hd;
    if (t->failed || !sizes_ok(t, "attention", qkv.n, B * T * width, "qkv") || !shape_ok(t, s)) return fail(t);
    attn_attention_args a = {.q_ld = width, .kv_ld = width, .B = B, .Tq = T, .Tk = T, .q_len = lens, .k_len = lens,
                             .causal = causal, .shape = *s};
    return attention(t, qkv, qkv, s->n_heads * hd, (s->n_heads + s->n_kv_heads) * hd, a);
}

attn_tvar attn_tape_attention(attn_tape *t, attn_tvar qkv, int64_t B, int64_t T, const attn_attention_shape *s) {
    return attn_tape_self_attention(t, qkv, B, T, NULL, true, s);
}

attn_tvar attn_tape_cross_attention(attn_tape *t, attn_tvar q, attn_tvar kv, int64_t B, int64_t Tq, int64_t Tk,
                                    const int32_t *q_lens, const int32_t *k_lens, const attn_attention_shape *s) {
    int64_t hd = s->head_dim, kv_width = 2 * (int64_t)s->n_kv_heads * hd;
    if (t->failed || !sizes_ok(t, "cross-attention", q.n, B * Tq * s->n_heads * hd, "q") ||
        !sizes_ok(t, "cross-attention", kv.n, B * Tk * kv_width, "kv") || !shape_ok(t, s))
        return fail(t);
    attn_attention_args a = {.q_ld = s->n_heads * hd, .kv_ld = kv_width, .B = B, .Tq = Tq, .Tk = Tk,
                             .q_len = q_lens, .k_len = k_lens, .causal = false, .shape = *s};
    return attention(t, q, kv, 0, s->n_kv_heads * hd, a);
}

attn_tvar attn_tape_gelu(attn_tape *t, attn_tvar x) {
    if (t->failed) return fail(t);
    attn_tvar out = new_var(t, x.n);
    tape_op *op = record(t, OP_GELU);
    if (!op) return out;
    op->out = out, op->gelu.x = x;
    attn_gelu_tanh_train(out.val, x.val, x.n);
    return out;
}

attn_tvar attn_tape_relu(attn_tape *t, attn_tvar x) {
    if (t->failed) return fail(t);
    attn_tvar out = new_var(t, x.n);
    tape_op *op = record(t, OP_RELU);
    if (!op) return out;
    op->out = out, op->relu.x = x;
    attn_relu_train(out.val, x.val, x.n);
    return out;
}

attn_tvar attn_tape_add(attn_tape *t, attn_tvar a, attn_tvar b) {
    if (t->failed || !sizes_ok(t, "add", b.n, a.n, "the second operand")) return fail(t);
    attn_tvar out = new_var(t, a.n);
    tape_op *op = record(t, OP_ADD);
    if (!op) return out;
    op->out = out, op->add.a = a, op->add.b = b;
    attn_add_train(out.val, a.val, b.val, a.n);
    return out;
}

/* splitmix64 step: the mask seed of the i-th dropout call of a forward. */
static uint64_t derive_seed(uint64_t seed, int i) {
    uint64_t z = seed + 0x9e3779b97f4a7c15ULL * (uint64_t)(i + 1);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

attn_tvar attn_tape_dropout(attn_tape *t, attn_tvar x, float p) {
    if (t->failed) return fail(t);
    if (!(p >= 0.0f && p < 1.0f)) {
        attn_error("dropout probability %g is outside [0, 1)", (double)p);
        return fail(t);
    }
    if (p == 0.0f || !t->training) return x;
    attn_tvar out = new_var(t, x.n);
    uint8_t *mask = attn_tape_alloc(t, (size_t)x.n);
    tape_op *op = record(t, OP_DROPOUT);
    if (!op) return out;
    op->out = out, op->drop.x = x, op->drop.mask = mask, op->drop.p = p;
    attn_dropout_forward(out.val, mask, x.val, x.n, p, derive_seed(t->seed, t->n_dropout++));
    return out;
}

attn_tvar attn_tape_cross_entropy(attn_tape *t, attn_tvar logits, const int32_t *targets, int64_t rows, int64_t V,
                                  float label_smoothing) {
    if (t->failed || !sizes_ok(t, "cross-entropy", logits.n, rows * V, "the logits")) return fail(t);
    if (!(label_smoothing >= 0.0f && label_smoothing <= 1.0f)) {
        attn_error("label smoothing %g is outside [0, 1]", (double)label_smoothing);
        return fail(t);
    }
    attn_tvar out = new_var(t, 1);
    float *row_loss = push_floats(t, rows), *lse = push_floats(t, rows);
    tape_op *op = record(t, OP_CROSS_ENTROPY);
    if (!op) return out;
    if (!ids_ok(t, targets, rows, -1, V, "target id")) return fail(t);
    op->out = out;
    op->ce.logits = logits, op->ce.targets = targets, op->ce.row_loss = row_loss, op->ce.lse = lse;
    op->ce.rows = rows, op->ce.V = V, op->ce.smoothing = label_smoothing;
    op->ce.count = attn_cross_entropy_forward(row_loss, lse, logits.val, targets, rows, V, label_smoothing);
    double sum = 0; /* in row order: the same loss for any thread count */
    for (int64_t r = 0; r < rows; r++) sum += row_loss[r];
    out.val[0] = op->ce.count ? (float)(sum / (double)op->ce.count) : 0.0f;
    return out;
}

/* ---- Gradients written afresh (attn_tape_fresh_grads) ---- */

void attn_tape_fresh_grads(attn_tape *t, float *base, int64_t n) {
    t->fresh_lo = base, t->fresh_hi = base + n, t->n_reached = 0;
}

/* The end of the reached part that holds p, or NULL when none does. */
static float *reached_end(const attn_tape *t, const float *p) {
    float *end = NULL;
    for (int i = 0; i < t->n_reached; i++)
        if (t->reached[i].lo <= p && p < t->reached[i].hi && (!end || t->reached[i].hi > end)) end = t->reached[i].hi;
    return end;
}

/* Zeroes what nothing has reached of [lo, hi). */
static void zero_unreached(const attn_tape *t, float *lo, float *hi) {
    for (float *p = lo; p < hi;) {
        float *end = reached_end(t, p);
        if (end) {
            p = end;
            continue;
        }
        float *next = hi; /* the nearest reached part after p */
        for (int i = 0; i < t->n_reached; i++)
            if (t->reached[i].lo > p && t->reached[i].lo < next) next = t->reached[i].lo;
        memset(p, 0, (size_t)(next - p) * sizeof(float));
        p = next;
    }
}

/* Called for each gradient a record's backward adds into, before it runs. With can_write,
 * true when v's gradient lies in the fresh region and nothing has reached it yet: the
 * backward then writes all of it instead of adding. Otherwise whatever part of it in the
 * region nothing has reached yet is zeroed here, so that adding is right. */
static bool claim_grad(attn_tape *t, attn_tvar v, bool can_write) {
    if (!v.grad) return false;
    float *lo = v.grad, *hi = v.grad + v.n;
    if (hi <= t->fresh_lo || lo >= t->fresh_hi) return false;
    bool write = can_write && lo >= t->fresh_lo && hi <= t->fresh_hi;
    for (int i = 0; i < t->n_reached && write; i++) write = t->reached[i].hi <= lo || t->reached[i].lo >= hi;
    lo = ATTN_MAX(lo, t->fresh_lo), hi = ATTN_MIN(hi, t->fresh_hi);
    if (!write) zero_unreached(t, lo, hi);
    t->reached[t->n_reached++] = (struct grad_range){lo, hi};
    return write;
}

/* The tvars whose gradients a record's backward adds into (at most OP_MAX_TVARS); a linear
 * layer's weight is input LINEAR_W. */
enum { LINEAR_W = 1 };
static int op_inputs(const tape_op *op, attn_tvar *in) {
    switch (op->kind) {
    case OP_EMBED: in[0] = op->embed.wte, in[1] = op->embed.wpe; return 2;
    case OP_LAYERNORM: in[0] = op->ln.x, in[1] = op->ln.w, in[2] = op->ln.b; return 3;
    case OP_LINEAR: in[0] = op->linear.x, in[LINEAR_W] = op->linear.w, in[2] = op->linear.b; return 3;
    case OP_ATTENTION: in[0] = op->attn.q, in[1] = op->attn.kv; return 2;
    case OP_GELU: in[0] = op->gelu.x; return 1;
    case OP_RELU: in[0] = op->relu.x; return 1;
    case OP_ADD: in[0] = op->add.a, in[1] = op->add.b; return 2;
    case OP_DROPOUT: in[0] = op->drop.x; return 1;
    case OP_CROSS_ENTROPY: in[0] = op->ce.logits; return 1;
    }
    return 0;
}

/* Whether the record may write its weight gradient rather than add to it: only a linear
 * layer's backward can (its product then never reads C); every other gradient is small or
 * an activation's, and is zeroed when first reached. */
static bool prepare_grads(attn_tape *t, const tape_op *op) {
    if (!t->fresh_lo) return false;
    attn_tvar in[OP_MAX_TVARS];
    bool write_dw = false;
    for (int i = 0, n = op_inputs(op, in); i < n; i++) {
        bool weight = op->kind == OP_LINEAR && i == LINEAR_W;
        bool write = claim_grad(t, in[i], weight);
        if (weight) write_dw = write;
    }
    return write_dw;
}

/* ---- Backward ---- */

static int backward_op(const tape_op *op, bool write_dw) {
    const float *dy = op->out.grad;
    switch (op->kind) {
    case OP_EMBED:
        attn_embed_scaled_backward(op->embed.wte.grad, op->embed.wpe.grad, dy, op->embed.ids, op->embed.scale,
                                   op->embed.B, op->embed.T, op->embed.C);
        return 0;
    case OP_LAYERNORM:
        attn_layernorm_backward(op->ln.x.grad, op->ln.w.grad, op->ln.b.grad, dy, op->ln.x.val, op->ln.w.val,
                                op->ln.mean, op->ln.rstd, op->ln.rows, op->ln.dim);
        return 0;
    case OP_LINEAR:
        return attn_linear_backward(op->linear.x.grad, op->linear.w.grad, op->linear.b.grad, dy, op->linear.x.val,
                                    op->linear.rows, &op->linear.weight, write_dw);
    case OP_ATTENTION: {
        float *dkv = op->attn.kv.grad;
        return attn_attention_backward_args(op->attn.q.grad, dkv ? dkv + op->attn.k_off : NULL,
                                            dkv ? dkv + op->attn.v_off : NULL, dy, op->out.val, op->attn.lse,
                                            &op->attn.args);
    }
    case OP_GELU:
        if (op->gelu.x.grad) attn_gelu_tanh_backward(op->gelu.x.grad, op->gelu.x.val, dy, op->out.n);
        return 0;
    case OP_RELU:
        if (op->relu.x.grad) attn_relu_backward(op->relu.x.grad, op->relu.x.val, dy, op->out.n);
        return 0;
    case OP_ADD:
        attn_add_backward(op->add.a.grad, op->add.b.grad, dy, op->out.n);
        return 0;
    case OP_DROPOUT:
        if (op->drop.x.grad) attn_dropout_backward(op->drop.x.grad, dy, op->drop.mask, op->out.n, op->drop.p);
        return 0;
    case OP_CROSS_ENTROPY:
        if (op->ce.count && op->ce.logits.grad)
            attn_cross_entropy_backward(op->ce.logits.grad, op->ce.logits.val, op->ce.lse, op->ce.targets,
                                        op->ce.rows, op->ce.V, op->ce.smoothing, dy[0] / (float)op->ce.count);
        return 0;
    }
    return 0;
}

static void zero_task(void *ctx, int64_t b, int64_t e, int thread) {
    (void)thread;
    memset((char *)ctx + b, 0, (size_t)(e - b));
}

int attn_tape_backward(attn_tape *t, attn_tvar loss, float dloss) {
    if (attn_tape_measuring(t)) return attn_error("tape: backward before the memory was planned");
    if (t->failed) return attn_error("tape: backward after a failed forward");
    if (!loss.grad || loss.n != 1) return attn_error("tape: backward needs a scalar the tape made");
    /* every thread zeroes a part: one core alone does not reach the memory's bandwidth */
    attn_parallel_for((int64_t)(t->grads.used - t->grads_mark), 1 << 20, zero_task, t->grads.base + t->grads_mark);
    loss.grad[0] = dloss;
    int rc = 0;
    for (int i = t->n_ops - 1; i >= 0 && !rc; i--) rc = backward_op(&t->ops[i], prepare_grads(t, &t->ops[i]));
    if (!rc && t->fresh_lo) zero_unreached(t, t->fresh_lo, t->fresh_hi); /* parameters no record used */
    t->fresh_lo = t->fresh_hi = NULL;
    return rc;
}
