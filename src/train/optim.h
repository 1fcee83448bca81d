/* optim.h - AdamW (Loshchilov & Hutter) as torch.optim.AdamW computes it, global-norm
 * gradient clipping as torch.nn.utils.clip_grad_norm_ does, over a model's flat parameter
 * and gradient buffers described by attn_param views.
 *
 * Weight decay is decoupled (p -= lr·wd·p before the Adam update) and applies only to
 * params marked decay: a model marks its 2-D weight matrices, embeddings included (as
 * nanoGPT and tools/make_train_fixtures.py do), and leaves biases and LayerNorm
 * parameters undecayed.
 *
 * Gradient accumulation: backwards add into the gradients (see tape.h), the caller seeds
 * each micro-batch's loss gradient with 1/n or passes grad_scale; clipping also goes
 * through grad_scale, so the gradients are never rewritten. */
#ifndef ATTN_TRAIN_OPTIM_H
#define ATTN_TRAIN_OPTIM_H

#include <stdbool.h>
#include <stdint.h>

/* One trainable tensor: a view into the model's flat buffers. */
typedef struct {
    const char *name; /* Hugging Face name for GPT-2 ("transformer.h.0.attn.c_attn.weight") */
    float *data, *grad;
    int ndim;
    int64_t shape[2];
    int64_t offset, numel; /* position in the flat buffers */
    bool decay;            /* AdamW weight decay applies */
} attn_param;

typedef struct {
    float lr, beta1, beta2, eps, weight_decay;
} attn_adamw_config;

/* lr 1e-3, betas (0.9, 0.999), eps 1e-8, weight decay 0.01: torch's defaults. */
attn_adamw_config attn_adamw_defaults(void);

typedef struct attn_adamw attn_adamw;

/* Allocates the moment buffers (zero) for n_params floats. */
attn_adamw *attn_adamw_new(int64_t n_params, const attn_adamw_config *c);
void attn_adamw_free(attn_adamw *o);

/* One update of every param from grad·grad_scale, at learning rate lr (the schedule's
 * value for this step; c->lr is only the default). Counts the step for bias correction. */
int attn_adamw_step(attn_adamw *o, const attn_param *params, int n, float lr, float grad_scale);


/* Optimizer state, for checkpoints: steps taken, and the first and second moments
 * (n_params floats each, in the flat buffers' order). */
int64_t attn_adamw_steps(const attn_adamw *o);
void attn_adamw_set_steps(attn_adamw *o, int64_t steps);
float *attn_adamw_m(attn_adamw *o);
float *attn_adamw_v(attn_adamw *o);
int64_t attn_adamw_size(const attn_adamw *o);

/* The L2 norm of every gradient together (summed in double, in order: repeatable). */
float attn_grad_norm(const attn_param *params, int n);
/* The factor clip_grad_norm_ multiplies gradients by: min(1, max_norm / (norm + 1e-6));
 * 1 when max_norm <= 0 (no clipping). */
float attn_clip_scale(float norm, float max_norm);

#endif
