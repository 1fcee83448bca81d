/* api_reply.c - answers in OpenAI's shapes: the whole completion or chat completion, the same
 * as server-sent events chunk by chunk, errors, the model list, and /tokenize, /detokenize.
 * Every string that holds model output goes through api_json_text(), since a model may emit
 * bytes that are not UTF-8 and JSON strings must be. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "core/common.h"
#include "generate/stream.h"
#include "server/api.h"

json_t *api_json_text(const char *s, size_t n) {
    json_t *j = json_stringn(s ? s : "", s ? n : 0);
    if (j) return j;
    size_t len;
    char *valid = attn_utf8_repair(s, n, &len); /* invalid UTF-8: U+FFFD for each bad byte */
    j = valid ? json_stringn(valid, len) : NULL;
    free(valid);
    return j;
}

/* The message may quote the client's bytes (a JSON syntax error's context) or end in a
 * character cut by its buffer: as plain "s" either made the body NULL and the client got no
 * answer at all. */
json_t *api_error_body(const api_error *e) {
    return json_pack("{s:{s:o, s:s, s:s?, s:s?}}", "error", "message", api_json_text(e->message, strlen(e->message)),
                     "type", e->type, "param", e->param, "code", e->code);
}

static const char *finish_reason(const srv_job *j) {
    return strcmp(j->finish, "length") == 0 ? "length" : "stop"; /* "cancelled" only reaches a server stopping */
}

/* OpenAI's counts; prompt_tokens_details.cached_tokens: of each prompt, the positions every one
 * of its jobs found in a slot's cache (not computed again). */
static json_t *usage(const api_call *c) {
    int completion = 0, cached = 0;
    for (int k = 0; k < c->req->n_jobs; k++) completion += c->req->jobs[k].n_generated;
    for (int k0 = 0; c->per_prompt > 0 && k0 < c->req->n_jobs; k0 += c->per_prompt) {
        int least = c->req->jobs[k0].n_reused;
        for (int k = k0 + 1; k < k0 + c->per_prompt; k++) least = ATTN_MIN(least, c->req->jobs[k].n_reused);
        cached += least;
    }
    return json_pack("{s:i, s:i, s:i, s:{s:i}}", "prompt_tokens", c->prompt_tokens, "completion_tokens", completion,
                     "total_tokens", c->prompt_tokens + completion, "prompt_tokens_details", "cached_tokens", cached);
}

/* ---- logprobs ---------------------------------------------------------------------------- */

static json_t *token_text(const api_model *m, int32_t id) {
    size_t n = 0;
    const char *b = attn_tokenizer_token_bytes(m->tok, id, &n);
    return api_json_text(b, b ? n : 0);
}

static json_t *token_bytes(const api_model *m, int32_t id) {
    size_t n = 0;
    const unsigned char *b = (const unsigned char *)attn_tokenizer_token_bytes(m->tok, id, &n);
    json_t *a = json_array();
    for (size_t i = 0; b && i < n; i++) json_array_append_new(a, json_integer(b[i]));
    return a;
}

/* /tokenize's piece, as llama.cpp's server gives it: the text where the token's bytes are
 * UTF-8, else the bytes as numbers (part of a character; U+FFFD would lose them). */
static json_t *token_piece(const api_model *m, int32_t id) {
    size_t n = 0;
    const char *b = attn_tokenizer_token_bytes(m->tok, id, &n);
    json_t *text = b ? json_stringn(b, n) : json_string("");
    return text ? text : token_bytes(m, id);
}

/* Chat's form: {"content": [{"token", "logprob", "bytes", "top_logprobs": [...]}, ...]}. */
static json_t *chat_logprobs(const api_model *m, const srv_logprob *lp, int n) {
    json_t *content = json_array();
    for (int i = 0; i < n; i++) {
        json_t *top = json_array();
        for (int k = 0; k < lp[i].n_top; k++)
            json_array_append_new(top, json_pack("{s:o, s:f, s:o}", "token", token_text(m, lp[i].top_ids[k]),
                                                 "logprob", (double)lp[i].top_logprobs[k], "bytes",
                                                 token_bytes(m, lp[i].top_ids[k])));
        json_array_append_new(content, json_pack("{s:o, s:f, s:o, s:o}", "token", token_text(m, lp[i].token),
                                                 "logprob", (double)lp[i].logprob, "bytes",
                                                 token_bytes(m, lp[i].token), "top_logprobs", top));
    }
    return json_pack("{s:o}", "content", content);
}

static size_t token_len(const api_model *m, int32_t id) {
    size_t n = 0;
    attn_tokenizer_token_bytes(m->tok, id, &n);
    return n;
}

/* Completions' form: parallel arrays of entries [from, to), whose text_offset counts bytes
 * from the start of the text: the prompt's tokens (echo with logprobs) from the echoed
 * prompt's start, less the bytes in front that the echo lacks (the BOS a text prompt was
 * given), the generated ones from its end. The first prompt token, which nothing predicts,
 * has null for its logprob and alternatives, as OpenAI's and vLLM's. */
static json_t *completion_logprobs(const api_model *m, const srv_job *j, int from, int to, size_t echo_len) {
    const srv_logprob *lp = j->logprobs;
    const int np = j->n_prompt_logprobs;
    size_t prompt_len = 0, at = 0;
    for (int i = 0; i < np; i++) prompt_len += token_len(m, lp[i].token);
    const size_t lacks = prompt_len > echo_len ? prompt_len - echo_len : 0;
    json_t *tokens = json_array(), *lps = json_array(), *tops = json_array(), *offs = json_array();
    for (int i = 0; i < to; at += token_len(m, lp[i].token), i++) {
        if (i == np) at = 0;
        if (i < from) continue;
        json_array_append_new(tokens, token_text(m, lp[i].token));
        bool none = isnan(lp[i].logprob);
        json_array_append_new(lps, none ? json_null() : json_real(lp[i].logprob));
        json_t *top = none ? json_null() : json_object();
        for (int k = 0; !none && k < lp[i].n_top; k++) {
            json_t *t = token_text(m, lp[i].top_ids[k]);
            json_object_set_new(top, json_string_value(t), json_real(lp[i].top_logprobs[k]));
            json_decref(t);
        }
        json_array_append_new(tops, top);
        size_t offset = i < np ? (at > lacks ? at - lacks : 0) : echo_len + at;
        json_array_append_new(offs, json_integer((json_int_t)offset));
    }
    return json_pack("{s:o, s:o, s:o, s:o}", "tokens", tokens, "token_logprobs", lps, "top_logprobs", tops,
                     "text_offset", offs);
}

/* Logprobs go out only for tokens whose text went out: those a stop string swallowed never do,
 * and those behind held-back text wait for it, so an answer's logprobs spell its text. */
static int logprobs_ready(const srv_job *j, const api_model *m) {
    const int np = j->n_prompt_logprobs, n = j->n_logprobs - np;
    if (!n || !m->tok || (j->finish && strcmp(j->finish, "stop") != 0)) return j->n_logprobs;
    return np + attn_tokens_in_text(m->tok, &j->logprobs[np].token, sizeof *j->logprobs, n, j->len);
}

static json_t *logprobs_json(const api_call *c, const api_model *m, int k, int from, int to) {
    const srv_job *j = &c->req->jobs[k];
    if (c->req->gen.top_logprobs < 0) return json_null();
    if (c->kind == API_CHAT) return chat_logprobs(m, j->logprobs + from, to - from);
    size_t echo = c->echo_text[k] ? strlen(c->echo_text[k]) : 0;
    return completion_logprobs(m, j, from, to, echo);
}

/* ---- whole answers ------------------------------------------------------------------------ */

static json_t *head(const api_call *c, const api_model *m, const char *object) {
    return json_pack("{s:s, s:s, s:I, s:s}", "id", c->id, "object", object, "created", (json_int_t)c->created,
                     "model", m->id);
}

json_t *api_reply(const api_call *c, const api_model *m, api_error *e) {
    const srv_request *r = c->req;
    for (int k = 0; k < r->n_jobs; k++)
        if (strcmp(r->jobs[k].finish, "error") == 0 || r->jobs[k].prompt_logprobs_lost) {
            const char *why = r->jobs[k].prompt_logprobs_lost ? "out of memory for the prompt's logprobs"
                                                              : r->jobs[k].error;
            api_fail(e, 500, "server_error", NULL, NULL, "generation failed: %s", why);
            return NULL;
        }
    json_t *choices = json_array();
    for (int k = 0; k < r->n_jobs; k++) {
        const srv_job *j = &r->jobs[k];
        json_t *lp = logprobs_json(c, m, k, 0, logprobs_ready(j, m)), *choice;
        if (c->kind == API_CHAT) {
            choice = json_pack("{s:i, s:{s:s, s:o}, s:o, s:s}", "index", k, "message", "role", "assistant", "content",
                               api_json_text(j->text, j->len), "logprobs", lp, "finish_reason", finish_reason(j));
        } else {
            api_buf text = {0};
            if (c->echo_text[k]) api_buf_append(&text, c->echo_text[k], strlen(c->echo_text[k]));
            api_buf_append(&text, j->text ? j->text : "", j->len);
            choice = json_pack("{s:i, s:o, s:o, s:s}", "index", k, "text", api_json_text(text.data, text.len),
                               "logprobs", lp, "finish_reason", finish_reason(j));
            api_buf_free(&text);
        }
        json_array_append_new(choices, choice);
    }
    json_t *o = head(c, m, c->kind == API_CHAT ? "chat.completion" : "text_completion");
    json_object_set_new(o, "choices", choices);
    json_object_set_new(o, "usage", usage(c));
    return o;
}

/* ---- server-sent events ------------------------------------------------------------------- */

static void send_event(api_buf *out, json_t *o) {
    char *s = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(7));
    json_decref(o);
    if (!s) return;
    api_buf_append(out, "data: ", 6);
    api_buf_append(out, s, strlen(s));
    api_buf_append(out, "\n\n", 2);
    free(s);
}

/* One chunk for choice k: a text delta (chat: delta.content; the first also names the role),
 * its logprobs, and the finish reason on the last. */
static void send_chunk(api_buf *out, const api_call *c, const api_model *m, int k, const char *text, size_t n,
                       int lp_from, int lp_to, bool first, const char *finish) {
    json_t *choice = json_pack("{s:i}", "index", k);
    if (c->kind == API_CHAT) {
        json_t *delta = json_object();
        if (first) json_object_set_new(delta, "role", json_string("assistant"));
        if (n || first) json_object_set_new(delta, "content", api_json_text(text, n));
        json_object_set_new(choice, "delta", delta);
    } else {
        json_object_set_new(choice, "text", api_json_text(text, n));
    }
    json_object_set_new(choice, "logprobs", lp_to > lp_from ? logprobs_json(c, m, k, lp_from, lp_to) : json_null());
    json_object_set_new(choice, "finish_reason", finish ? json_string(finish) : json_null());
    json_t *o = head(c, m, c->kind == API_CHAT ? "chat.completion.chunk" : "text_completion");
    json_object_set_new(o, "choices", json_pack("[o]", choice));
    send_event(out, o);
}

int api_stream_error(api_buf *out, const api_error *e) {
    size_t before = out->len;
    send_event(out, api_error_body(e));
    return out->len > before ? 0 : -1;
}

/* What job k produced since the last call: the first chunk, new text and logprobs, the end. */
static void job_events(api_call *c, const api_model *m, int k, api_buf *out) {
    const srv_job *j = &c->req->jobs[k];
    api_progress *p = &c->progress[k];
    bool first = !p->started;
    if (first) {
        const char *echo = c->echo_text[k];
        /* an echo with the prompt's logprobs goes out once they are all in, together */
        int np = j->n_prompt_logprobs;
        if (c->req->gen.prompt_logprobs && np < j->n_prompt && !j->finish) return;
        p->started = true;
        if (c->kind == API_CHAT || echo) send_chunk(out, c, m, k, echo, echo ? strlen(echo) : 0, 0, np, true, NULL);
        p->logprobs_sent = np;
    }
    int lp_ready = logprobs_ready(j, m);
    if (j->len > p->text_sent || lp_ready > p->logprobs_sent) {
        send_chunk(out, c, m, k, j->text + p->text_sent, j->len - p->text_sent, p->logprobs_sent, lp_ready, false,
                   NULL);
        p->text_sent = j->len, p->logprobs_sent = lp_ready;
    }
    if (j->finish && !p->finished) {
        p->finished = true;
        if (strcmp(j->finish, "error") == 0) {
            api_error e;
            api_fail(&e, 500, "server_error", NULL, NULL, "generation failed: %s", j->error);
            api_stream_error(out, &e);
        } else {
            send_chunk(out, c, m, k, "", 0, 0, 0, false, finish_reason(j));
        }
    }
}

bool api_stream_events(api_call *c, const api_model *m, api_buf *out) {
    if (c->done_sent) return true;
    bool all = true;
    for (int k = 0; k < c->req->n_jobs; k++) {
        job_events(c, m, k, out);
        all &= c->progress[k].finished;
    }
    if (!all) return false;
    if (c->include_usage) {
        json_t *o = head(c, m, c->kind == API_CHAT ? "chat.completion.chunk" : "text_completion");
        json_object_set_new(o, "choices", json_array());
        json_object_set_new(o, "usage", usage(c));
        send_event(out, o);
    }
    api_buf_append(out, "data: [DONE]\n\n", 14);
    c->done_sent = true;
    return true;
}

/* ---- models, tokenize, detokenize -------------------------------------------------------- */

json_t *api_models(const api_model *m) {
    return json_pack("{s:s, s:[{s:s, s:s, s:I, s:s, s:{s:I}}]}", "object", "list", "data", "id", m->id, "object",
                     "model", "created", (json_int_t)m->created, "owned_by", "attn", "meta", "n_ctx",
                     (json_int_t)m->n_ctx);
}

json_t *api_tokenize(const char *body, size_t len, const api_model *m, api_error *e) {
    json_t *o;
    if (api_parse_body(body, len, &o, e) != 0) return NULL;
    json_t *content = json_object_get(o, "content"), *pieces = json_object_get(o, "with_pieces");
    json_t *special = json_object_get(o, "parse_special"), *add = json_object_get(o, "add_special");
    json_t *res = NULL;
    int32_t *ids = NULL;
    int n = 0;
    /* llama-server's defaults: parse_special true, add_special (the BOS a prompt gets) false */
    int (*encode)(const attn_tokenizer *, const char *, size_t, bool, int32_t **, int *) =
        json_is_true(add) ? attn_tokenizer_encode_prompt : attn_tokenizer_encode;
    const char *bad = pieces && !json_is_boolean(pieces)     ? "with_pieces"
                      : special && !json_is_boolean(special) ? "parse_special"
                      : add && !json_is_boolean(add)         ? "add_special"
                                                             : NULL;
    if (!json_is_string(content)) {
        api_fail(e, 400, "invalid_request_error", "content", NULL, "'content' must be a string");
    } else if (bad) {
        api_fail(e, 400, "invalid_request_error", bad, NULL,
                 "'with_pieces', 'parse_special' and 'add_special' must be true or false");
    } else if (encode(m->tok, json_string_value(content), json_string_length(content), !json_is_false(special), &ids,
                      &n) != 0) {
        api_fail(e, 400, "invalid_request_error", "content", NULL, "cannot tokenize: %s", attn_last_error());
    } else {
        json_t *tokens = json_array();
        for (int i = 0; i < n; i++)
            json_array_append_new(tokens, json_is_true(pieces)
                                              ? json_pack("{s:i, s:o}", "id", ids[i], "piece", token_piece(m, ids[i]))
                                              : json_integer(ids[i]));
        res = json_pack("{s:o}", "tokens", tokens);
    }
    free(ids);
    json_decref(o);
    return res;
}

json_t *api_detokenize(const char *body, size_t len, const api_model *m, api_error *e) {
    json_t *o;
    if (api_parse_body(body, len, &o, e) != 0) return NULL;
    json_t *tokens = json_object_get(o, "tokens"), *res = NULL;
    int vocab = attn_tokenizer_vocab_size(m->tok);
    size_t n = json_array_size(tokens);
    int32_t *ids = malloc((n ? n : 1) * sizeof(int32_t));
    char *text = NULL;
    size_t text_len = 0;
    if (!json_is_array(tokens)) {
        api_fail(e, 400, "invalid_request_error", "tokens", NULL, "'tokens' must be an array of token ids");
        goto out;
    }
    if (!ids) {
        api_fail(e, 500, "server_error", NULL, NULL, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        json_t *v = json_array_get(tokens, i);
        if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) >= vocab) {
            api_fail(e, 400, "invalid_request_error", "tokens", NULL, "tokens[%zu] is not a token id in [0, %d)", i,
                     vocab);
            goto out;
        }
        ids[i] = (int32_t)json_integer_value(v);
    }
    if (attn_tokenizer_decode(m->tok, ids, (int)n, &text, &text_len) != 0) {
        api_fail(e, 400, "invalid_request_error", "tokens", NULL, "%s", attn_last_error());
        goto out;
    }
    res = json_pack("{s:o}", "content", api_json_text(text, text_len));
out:
    free(text);
    free(ids);
    json_decref(o);
    return res;
}
