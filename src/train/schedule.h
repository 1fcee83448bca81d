/* schedule.h - the learning rate at each step: linear warmup, then cosine decay to a
 * floor (GPT-3, nanoGPT, llm.c). Steps count from 0.
 *   step <  warmup:       max_lr · (step + 1) / warmup
 *   warmup <= step < total: min_lr + (max_lr - min_lr) · (1 + cos(π · r)) / 2,
 *                          r = (step - warmup) / (total - warmup)
 *   step >= total:        min_lr
 * total <= 0 means no decay (max_lr after warmup). */
#ifndef ATTN_TRAIN_SCHEDULE_H
#define ATTN_TRAIN_SCHEDULE_H

#include <stdint.h>

typedef struct {
    float max_lr, min_lr;
    int64_t warmup_steps, total_steps;
} attn_lr_schedule;

float attn_lr_at(const attn_lr_schedule *s, int64_t step);

#endif
