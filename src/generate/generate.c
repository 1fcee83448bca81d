/* generate.c - prefill, then the sample -> decode -> stream -> forward loop. All buffers
 * are made before the loop, so generating a token allocates nothing. */
#include <attn/generate.h>

#include <stdlib.h>
#include <string.h>
#include "core/common.h"
#include "generate/stream.h"

void attn_generate_defaults(attn_generate_params *p) {
    memset(p, 0, sizeof *p);
    p->max_tokens = 128;
    attn_sampler_defaults(&p->sampling);
}

typedef struct {
    attn_sampler *sampler;
    attn_stream *stream;
    float *logits;
} gen_state;

static void state_free(gen_state *s) {
    attn_sampler_free(s->sampler);
    attn_stream_free(s->stream);
    free(s->logits);
}

/* Emits the printable part of `bytes`; returns 1 when the text ends here (stop string,
 * callback, out of memory: r->finish_reason says which). */
static int emit(const attn_generate_params *p, gen_state *s, const char *bytes, size_t n, attn_generate_result *r) {
    const char *why = attn_stream_emit(s->stream, bytes, n, p->on_text, p->user);
    if (why) r->finish_reason = why;
    return why != NULL;
}

static int finish_text(const attn_generate_params *p, gen_state *s, attn_generate_result *r) {
    const char *ready;
    size_t n_ready, len;
    attn_stream_flush(s->stream, &ready, &n_ready); /* nothing after a stop string; after EOS the held bytes */
    if (n_ready && p->on_text) p->on_text(p->user, ready, n_ready);
    const char *all = attn_stream_text(s->stream, &len);
    r->text = malloc(len + 1);
    if (!r->text) return attn_error("out of memory");
    memcpy(r->text, all, len);
    r->text[len] = 0;
    r->text_len = len;
    return 0;
}

static int decode_loop(attn_model *m, const attn_tokenizer *tok, const attn_generate_params *p, gen_state *s,
                       attn_generate_result *r) {
    int32_t eos = tok ? attn_tokenizer_eos(tok) : -1;
    int64_t room = attn_model_get_info(m)->n_ctx - attn_model_n_past(m);
    double t0 = attn_time_s();
    for (int i = 0; i < p->max_tokens; i++) {
        int32_t next = attn_sampler_sample(s->sampler, s->logits);
        if (next == eos && !p->ignore_eos) {
            r->finish_reason = "stop";
            break;
        }
        r->tokens[r->n_generated++] = next;
        attn_sampler_accept(s->sampler, next);
        size_t len = 0;
        const char *bytes = tok ? attn_tokenizer_token_bytes(tok, next, &len) : NULL;
        if (bytes && emit(p, s, bytes, len, r)) break;
        if (i + 1 == p->max_tokens) break;
        if (room-- <= 0) { /* the context is full: stop cleanly, as llama.cpp does */
            r->finish_reason = "length";
            break;
        }
        if (i == 0) t0 = attn_time_s(); /* decode speed counts forward passes, not the prefill */
        if (attn_model_forward(m, &next, 1, s->logits, false) != 0) return -1;
    }
    r->gen_s = attn_time_s() - t0;
    return 0;
}

int attn_generate(attn_model *m, const attn_tokenizer *tok, const int32_t *prompt, int n_prompt,
                  const attn_generate_params *p, attn_generate_result *r) {
    memset(r, 0, sizeof *r);
    r->finish_reason = "length";
    r->n_prompt = n_prompt;
    const attn_model_info *info = attn_model_get_info(m);
    if (n_prompt <= 0) return attn_error("the prompt is empty: give at least one token");
    int64_t cached = p->keep_cache ? attn_model_n_past(m) : 0;
    if (cached + n_prompt > info->n_ctx && cached == 0)
        return attn_error("the prompt has %d tokens but the model's context is %lld", n_prompt, (long long)info->n_ctx);
    if (cached + n_prompt > info->n_ctx)
        return attn_error("the prompt has %d tokens after %lld in the cache, but the model's context is %lld",
                          n_prompt, (long long)cached, (long long)info->n_ctx);
    gen_state s = {0};
    s.sampler = attn_sampler_new(&p->sampling, (int)info->vocab_size);
    s.stream = attn_stream_new(p->stops, p->n_stops);
    s.logits = malloc((size_t)info->vocab_size * sizeof(float));
    r->tokens = malloc((size_t)(p->max_tokens > 0 ? p->max_tokens : 1) * sizeof(int32_t));
    int rc = -1;
    if (!s.sampler || !s.stream || !s.logits || !r->tokens) {
        attn_error("out of memory starting generation");
        goto out;
    }
    if (!p->keep_cache) attn_model_reset(m);
    double t0 = attn_time_s();
    if (attn_model_forward(m, prompt, n_prompt, s.logits, false) != 0) goto out;
    r->prompt_s = attn_time_s() - t0;
    for (int i = 0; i < n_prompt; i++) attn_sampler_accept(s.sampler, prompt[i]);
    if (decode_loop(m, tok, p, &s, r) != 0 || finish_text(p, &s, r) != 0) goto out;
    rc = 0;
out:
    state_free(&s);
    return rc;
}

void attn_generate_result_free(attn_generate_result *r) {
    if (!r) return;
    free(r->tokens), free(r->text);
    r->tokens = NULL, r->text = NULL, r->text_len = 0;
}
