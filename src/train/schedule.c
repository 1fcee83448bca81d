/* schedule.c - warmup + cosine learning-rate schedule (see schedule.h). */
#include "schedule.h"

#include <math.h>

float attn_lr_at(const attn_lr_schedule *s, int64_t step) {
    if (step < s->warmup_steps) return s->max_lr * (float)(step + 1) / (float)s->warmup_steps;
    if (s->total_steps <= 0) return s->max_lr;
    if (step >= s->total_steps) return s->min_lr;
    double r = (double)(step - s->warmup_steps) / (double)(s->total_steps - s->warmup_steps);
    return s->min_lr + (s->max_lr - s->min_lr) * (float)(0.5 * (1.0 + cos(M_PI * r)));
}
