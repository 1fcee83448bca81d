/* perplexity.c - llama.cpp-style chunked perplexity (see perplexity.h). */
#include "perplexity.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "core/common.h"
#include "nn/layers.h"

static double neg_log_prob(const float *logits, int64_t V, int32_t target) {
    return (double)attn_log_sum_exp(logits, V) - (double)logits[target];
}

int attn_perplexity(attn_model *m, const int32_t *tokens, int64_t n, int64_t n_ctx, int32_t bos,
                    attn_perplexity_progress progress, void *user, attn_perplexity_result *out) {
    const attn_model_info *info = attn_model_get_info(m);
    *out = (attn_perplexity_result){0};
    if (n_ctx < 3 || n_ctx > info->n_ctx) /* 2 would score nothing: the second half predicts from position 1 on */
        return attn_error("perplexity context %lld must be between 3 and the model's %lld", (long long)n_ctx,
                          (long long)info->n_ctx);
    int64_t n_chunks = n / n_ctx, V = info->vocab_size, first = n_ctx / 2;
    if (n_chunks < 1)
        return attn_error("the text has %lld tokens, fewer than one chunk of %lld", (long long)n, (long long)n_ctx);
    float *logits = malloc((size_t)(n_ctx * V) * sizeof(float));
    int32_t *chunk = malloc((size_t)n_ctx * sizeof *chunk); /* the tokens as the model reads them */
    if (!logits || !chunk) {
        free(logits), free(chunk);
        return attn_error("out of memory for %lld x %lld logits", (long long)n_ctx, (long long)V);
    }
    int rc = 0;
    for (int64_t c = 0; c < n_chunks && rc == 0; c++) {
        memcpy(chunk, tokens + c * n_ctx, (size_t)n_ctx * sizeof *chunk);
        if (bos >= 0) chunk[0] = bos;
        attn_model_reset(m);
        rc = attn_model_forward(m, chunk, n_ctx, logits, true);
        /* the logits at position i predict token i + 1: tokens first + 1 .. n_ctx - 1 are
         * scored, n_ctx - 1 - first per chunk, as llama-perplexity does */
        for (int64_t i = first; rc == 0 && i < n_ctx - 1; i++) {
            out->nll_sum += neg_log_prob(logits + i * V, V, chunk[i + 1]);
            out->scored++;
        }
        out->chunks = c + 1;
        out->ppl = exp(out->nll_sum / (double)out->scored);
        if (rc == 0 && progress) progress(user, c + 1, n_chunks, out);
    }
    free(logits), free(chunk);
    return rc;
}
