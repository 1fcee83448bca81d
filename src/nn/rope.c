/* rope.c - rotary position embeddings: frequencies (with long-context scaling), per-chunk
 * cos/sin tables, and the rotation in either pairing (see rope.h). */
#include "rope.h"

#include <math.h>
#include "core/common.h"
#include "core/threadpool.h"

int attn_rope_check(const attn_rope_params *p, const char *what) {
    if (p->dim < 2 || p->dim % 2) return attn_error("%s: rotary dimension %d must be even and positive", what, p->dim);
    if (!(p->theta > 1.0) || !isfinite(p->theta))
        return attn_error("%s: rope_theta %g must be a finite number above 1", what, p->theta);
    if (p->scaling == ATTN_ROPE_SCALE_NONE) return 0;
    if (!(p->factor > 0) || !isfinite(p->factor))
        return attn_error("%s: rope scaling \"factor\" %g must be positive", what, p->factor);
    if (p->scaling == ATTN_ROPE_SCALE_LLAMA3) {
        if (!(p->low_freq_factor > 0) || !(p->high_freq_factor > p->low_freq_factor))
            return attn_error("%s: llama3 rope scaling needs 0 < low_freq_factor (%g) < high_freq_factor (%g)", what,
                              p->low_freq_factor, p->high_freq_factor);
        if (p->original_ctx < 1)
            return attn_error("%s: llama3 rope scaling needs original_max_position_embeddings >= 1", what);
    }
    return 0;
}

/* Frequencies are computed as HF computes them, with f32 tensor ops, rounding where it
 * rounds: a 1-ulp difference in a frequency grows with the position into the angle
 * (measurable in the logits by position 500), so the double-precision formula would not do.
 * HF: 1.0 / (theta ** (arange(0, dim, 2).float() / dim)), the power taken in f32. */
static float base_inv_freq(const attn_rope_params *p, int i) {
    float e = (float)(2 * i) / (float)p->dim;
    float power = (float)pow((double)(float)p->theta, (double)e);
    return 1.0f / power;
}

/* Llama 3.1's rule (HF _compute_llama3_parameters, its f32 ops in its order; `s / t` of a
 * Python scalar by a tensor is reciprocal(t) * s there): wavelengths shorter than
 * original_ctx/high_freq_factor keep their frequency, those longer than
 * original_ctx/low_freq_factor are slowed by `factor`, and the band between blends the two. */
static float llama3_scale(float inv, const attn_rope_params *p) {
    float factor = (float)p->factor, low = (float)p->low_freq_factor, ctx = (float)p->original_ctx;
    float wavelen = (1.0f / inv) * (float)(2 * M_PI);
    float low_wavelen = (float)((double)p->original_ctx / p->low_freq_factor);
    float high_wavelen = (float)((double)p->original_ctx / p->high_freq_factor);
    if (wavelen > low_wavelen) return inv / factor;
    if (wavelen < high_wavelen) return inv;
    float smooth = ((1.0f / wavelen) * ctx - low) / (float)(p->high_freq_factor - p->low_freq_factor);
    return (1.0f - smooth) * inv / factor + smooth * inv;
}

void attn_rope_inv_freq(float *inv_freq, const attn_rope_params *p) {
    for (int i = 0; i < p->dim / 2; i++) {
        float inv = base_inv_freq(p, i);
        if (p->scaling == ATTN_ROPE_SCALE_LINEAR) inv /= (float)p->factor;
        else if (p->scaling == ATTN_ROPE_SCALE_LLAMA3) inv = llama3_scale(inv, p);
        inv_freq[i] = inv;
    }
}

void attn_rope_table(float *cos_t, float *sin_t, const float *inv_freq, int dim, int64_t pos0, int64_t T) {
    int half = dim / 2;
    for (int64_t t = 0; t < T; t++)
        for (int i = 0; i < half; i++) {
            /* the angle is an f32 product, as in HF; cos/sin of it are then exact to f32 */
            float angle = (float)(pos0 + t) * inv_freq[i];
            cos_t[t * half + i] = (float)cos((double)angle);
            sin_t[t * half + i] = (float)sin((double)angle);
        }
}

typedef struct {
    float *x;
    int64_t stride;
    int n_heads, head_dim, dim;
    const float *cos_t, *sin_t;
    attn_rope_layout layout;
} rope_job;

/* Rotates one head's first dim values by the angles c[i], s[i]: pair (a, b) becomes
 * (a cos - b sin, b cos + a sin). */
static void rotate_head(float *x, const float *c, const float *s, int dim, attn_rope_layout layout) {
    int half = dim / 2;
    if (layout == ATTN_ROPE_NEOX) {
        for (int i = 0; i < half; i++) {
            float a = x[i], b = x[i + half];
            x[i] = a * c[i] - b * s[i];
            x[i + half] = b * c[i] + a * s[i];
        }
    } else {
        for (int i = 0; i < half; i++) {
            float a = x[2 * i], b = x[2 * i + 1];
            x[2 * i] = a * c[i] - b * s[i];
            x[2 * i + 1] = b * c[i] + a * s[i];
        }
    }
}

static void rope_rows(void *ctx, int64_t t0, int64_t t1, int thread) {
    (void)thread;
    const rope_job *j = ctx;
    int half = j->dim / 2;
    for (int64_t t = t0; t < t1; t++)
        for (int h = 0; h < j->n_heads; h++)
            rotate_head(j->x + t * j->stride + (int64_t)h * j->head_dim, j->cos_t + t * half, j->sin_t + t * half,
                        j->dim, j->layout);
}

void attn_rope_apply(float *x, int64_t stride, int64_t T, int n_heads, int head_dim, const float *cos_t,
                     const float *sin_t, int dim, attn_rope_layout layout) {
    rope_job j = {.x = x, .stride = stride, .n_heads = n_heads, .head_dim = head_dim, .dim = dim,
                  .cos_t = cos_t, .sin_t = sin_t, .layout = layout};
    attn_parallel_for(T, 16, rope_rows, &j); /* one row (decoding) runs inline */
}
