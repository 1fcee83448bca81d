/* optim.c - AdamW and gradient clipping (see optim.h). The update follows torch's
 * single-tensor AdamW operation by operation, in float, so ten steps from the same
 * gradients land within float rounding of PyTorch's. */
#include "optim.h"

#include <math.h>
#include <stdlib.h>
#include "core/arena.h"
#include "core/common.h"
#include "core/kernels.h"
#include "core/threadpool.h"

struct attn_adamw {
    attn_adamw_config c;
    attn_arena mem; /* m and v */
    float *m, *v;
    int64_t n, steps;
};

attn_adamw_config attn_adamw_defaults(void) {
    return (attn_adamw_config){.lr = 1e-3f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f, .weight_decay = 0.01f};
}

attn_adamw *attn_adamw_new(int64_t n_params, const attn_adamw_config *c) {
    attn_adamw *o = calloc(1, sizeof *o);
    if (!o) {
        attn_error("out of memory");
        return NULL;
    }
    o->c = *c, o->n = n_params;
    size_t bytes = (size_t)n_params * sizeof(float);
    if (attn_arena_init(&o->mem, 2 * bytes + 2 * ATTN_ALIGN)) {
        free(o);
        return NULL;
    }
    o->m = attn_arena_push(&o->mem, bytes), o->v = attn_arena_push(&o->mem, bytes);
    return o;
}

void attn_adamw_free(attn_adamw *o) {
    if (!o) return;
    attn_arena_free(&o->mem);
    free(o);
}

typedef struct {
    const attn_param *p;
    float *m, *v;
    attn_adamw_coef c;
    const attn_kernels *k;
} adamw_job;

static void adamw_task(void *ctx, int64_t b, int64_t e, int thread) {
    (void)thread;
    const adamw_job *j = ctx;
    j->k->adamw(j->p->data + b, j->p->grad + b, j->m + b, j->v + b, e - b, &j->c);
}

int attn_adamw_step(attn_adamw *o, const attn_param *params, int n, float lr, float grad_scale) {
    o->steps++;
    /* bias corrections in double, as torch computes them from Python floats */
    double bc1 = 1.0 - pow(o->c.beta1, (double)o->steps), bc2 = 1.0 - pow(o->c.beta2, (double)o->steps);
    adamw_job j = {.c = {.one_minus_beta1 = 1.0f - o->c.beta1, .beta2 = o->c.beta2, .one_minus_beta2 = 1.0f - o->c.beta2,
                         .eps = o->c.eps, .grad_scale = grad_scale, .step_size = (float)(lr / bc1),
                         .inv_bc2_sqrt = (float)(1.0 / sqrt(bc2))},
                   .k = attn_kernels_get()};
    for (int i = 0; i < n; i++) {
        const attn_param *p = &params[i];
        if (p->offset < 0 || p->offset + p->numel > o->n)
            return attn_error("AdamW: parameter %s lies outside the optimizer's %lld values", p->name, (long long)o->n);
        j.p = p, j.m = o->m + p->offset, j.v = o->v + p->offset;
        j.c.decay_keep = p->decay ? (float)(1.0 - (double)lr * o->c.weight_decay) : 1.0f;
        attn_parallel_for(p->numel, 16384, adamw_task, &j);
    }
    return 0;
}

int64_t attn_adamw_steps(const attn_adamw *o) { return o->steps; }
void attn_adamw_set_steps(attn_adamw *o, int64_t steps) { o->steps = steps; }
float *attn_adamw_m(attn_adamw *o) { return o->m; }
float *attn_adamw_v(attn_adamw *o) { return o->v; }
int64_t attn_adamw_size(const attn_adamw *o) { return o->n; }

/* Squares are summed in double over fixed chunks, then the chunks in order: the same bits
 * whatever the thread count. */
#define NORM_CHUNK 65536
#define NORM_MAX_CHUNKS 4096

typedef struct {
    const float *g;
    int64_t n;
    const attn_kernels *k;
    double part[NORM_MAX_CHUNKS];
} norm_job;

static void norm_task(void *ctx, int64_t b, int64_t e, int thread) {
    (void)thread;
    norm_job *j = ctx;
    for (int64_t c = b; c < e; c++) {
        int64_t k = c * NORM_CHUNK, end = ATTN_MIN((c + 1) * NORM_CHUNK, j->n);
        j->part[c] = j->k->sum_squares(j->g + k, end - k);
    }
}

/* The parts live on the caller's stack (32 KB): a training step allocates nothing. */
float attn_grad_norm(const attn_param *params, int n) {
    double sq = 0;
    norm_job j;
    j.k = attn_kernels_get();
    for (int i = 0; i < n; i++) {
        for (int64_t off = 0; off < params[i].numel; off += (int64_t)NORM_CHUNK * NORM_MAX_CHUNKS) {
            int64_t len = ATTN_MIN((int64_t)NORM_CHUNK * NORM_MAX_CHUNKS, params[i].numel - off);
            j.g = params[i].grad + off, j.n = len;
            int64_t chunks = (len + NORM_CHUNK - 1) / NORM_CHUNK;
            attn_parallel_for(chunks, 1, norm_task, &j);
            for (int64_t c = 0; c < chunks; c++) sq += j.part[c];
        }
    }
    return (float)sqrt(sq);
}

float attn_clip_scale(float norm, float max_norm) {
    if (max_norm <= 0.0f) return 1.0f;
    float coef = max_norm / (norm + 1e-6f);
    return coef < 1.0f ? coef : 1.0f;
}
