/* api_parse.c - OpenAI requests into scheduler jobs: every field is type- and range-checked
 * with OpenAI's names and limits, so a wrong request gets a 400 that names the field, and the
 * prompt (text, token ids, or chat messages through the model's chat template) is tokenized
 * here, on the HTTP thread, so the scheduler only ever sees valid token ids. */
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "core/common.h"
#include "server/api.h"

#define BAD_REQUEST(e, param, ...) api_fail(e, 400, "invalid_request_error", param, NULL, __VA_ARGS__)

int api_fail(api_error *e, int status, const char *type, const char *param, const char *code, const char *fmt, ...) {
    e->status = status, e->type = type, e->param = param, e->code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof e->message, fmt, ap);
    va_end(ap);
    return -1;
}

int api_parse_body(const char *body, size_t len, json_t **out, api_error *e) {
    json_error_t je;
    *out = json_loadb(body ? body : "", len, JSON_REJECT_DUPLICATES, &je);
    if (!*out)
        return BAD_REQUEST(e, NULL, "the request body is not valid JSON: %s (line %d, column %d)", je.text, je.line,
                           je.column);
    if (!json_is_object(*out)) {
        json_decref(*out);
        *out = NULL;
        return BAD_REQUEST(e, NULL, "the request body must be a JSON object");
    }
    return 0;
}

/* ---- typed fields: absent or null leaves *out as it is -------------------------------- */

static int get_number(json_t *o, const char *key, double lo, double hi, double *out, api_error *e) {
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v)) return 0;
    if (!json_is_number(v)) return BAD_REQUEST(e, key, "'%s' must be a number", key);
    double x = json_number_value(v);
    if (!(x >= lo && x <= hi)) return BAD_REQUEST(e, key, "'%s' is %g; it must be between %g and %g", key, x, lo, hi);
    *out = x;
    return 0;
}

static int get_float(json_t *o, const char *key, double lo, double hi, float *out, api_error *e) {
    double x = *out;
    if (get_number(o, key, lo, hi, &x, e) != 0) return -1;
    *out = (float)x;
    return 0;
}

static int get_int(json_t *o, const char *key, long long lo, long long hi, long long *out, api_error *e) {
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v)) return 0;
    if (!json_is_integer(v)) return BAD_REQUEST(e, key, "'%s' must be an integer", key);
    long long x = json_integer_value(v);
    if (x < lo || x > hi) return BAD_REQUEST(e, key, "'%s' is %lld; it must be between %lld and %lld", key, x, lo, hi);
    *out = x;
    return 0;
}

static int get_bool(json_t *o, const char *key, bool *out, api_error *e) {
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v)) return 0;
    if (!json_is_boolean(v)) return BAD_REQUEST(e, key, "'%s' must be true or false", key);
    *out = json_is_true(v);
    return 0;
}

/* ---- the fields both endpoints share ---------------------------------------------------- */

static int check_model(json_t *o, const api_model *m, api_error *e) {
    json_t *v = json_object_get(o, "model");
    if (!v || json_is_null(v)) return 0;
    if (!json_is_string(v)) return BAD_REQUEST(e, "model", "'model' must be a string");
    const char *name = json_string_value(v);
    size_t n = strlen(m->id);
    const char *dot = strrchr(m->id, '.');
    size_t stem = dot ? (size_t)(dot - m->id) : n; /* "SmolLM2.gguf" also answers to "SmolLM2" */
    if (!*name || strcmp(name, m->id) == 0 || (strlen(name) == stem && strncmp(name, m->id, stem) == 0)) return 0;
    return api_fail(e, 404, "invalid_request_error", "model", "model_not_found",
                    "The model '%s' does not exist: this server runs '%s' (GET /v1/models)", name, m->id);
}

/* stop: a string or an array of strings; a chat adds its template's end-of-turn markers. */
static int parse_stops(json_t *o, api_kind kind, const api_model *m, srv_request *r, api_error *e) {
    json_t *v = json_object_get(o, "stop");
    const char *stops[API_MAX_STOPS + 8];
    int n = 0;
    if (json_is_string(v)) {
        stops[n++] = json_string_value(v);
    } else if (json_is_array(v)) {
        if (json_array_size(v) > API_MAX_STOPS)
            return BAD_REQUEST(e, "stop", "'stop' has %zu strings; at most %d", json_array_size(v), API_MAX_STOPS);
        size_t i;
        json_t *s;
        json_array_foreach(v, i, s) {
            if (!json_is_string(s)) return BAD_REQUEST(e, "stop", "'stop' must be a string or an array of strings");
            stops[n++] = json_string_value(s);
        }
    } else if (v && !json_is_null(v)) {
        return BAD_REQUEST(e, "stop", "'stop' must be a string or an array of strings");
    }
    for (int i = 0; i < n; i++) /* a stop string is matched at every position: keep it short */
        if (strlen(stops[i]) > API_MAX_STOP_BYTES)
            return BAD_REQUEST(e, "stop", "a stop string may have at most %d bytes", API_MAX_STOP_BYTES);
    if (kind == API_CHAT) {
        int n_tpl;
        const char *const *tpl = attn_chat_template_stops(m->chat, &n_tpl);
        for (int i = 0; i < n_tpl && i < 8; i++) stops[n++] = tpl[i];
    }
    return srv_request_set_stops(r, stops, n) == 0 ? 0 : api_fail(e, 500, "server_error", NULL, NULL, "out of memory");
}

/* A seed for requests that give none: different for every request. */
static uint64_t fresh_seed(void) {
    static _Atomic uint64_t counter;
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return ((uint64_t)t.tv_sec * 1000000000ULL + (uint64_t)t.tv_nsec) ^
           (atomic_fetch_add(&counter, 1) * 0x9E3779B97F4A7C15ULL);
}

/* OpenAI's sampling defaults (temperature 1, top_p 1, no top-k or min-p); penalties see the
 * whole text so far. top_k, min_p (and ignore_eos) are accepted as llama.cpp's extensions. */
static int parse_sampling(json_t *o, attn_sampler_params *p, uint64_t *seed, api_error *e) {
    attn_sampler_defaults(p);
    p->temperature = 1, p->top_p = 1, p->top_k = 0, p->min_p = 0;
    p->repeat_last_n = -1;
    long long top_k = 0, s = -1;
    if (get_float(o, "temperature", 0, 2, &p->temperature, e) || get_float(o, "top_p", 0, 1, &p->top_p, e) ||
        get_float(o, "min_p", 0, 1, &p->min_p, e) || get_int(o, "top_k", 0, 1 << 30, &top_k, e) ||
        get_float(o, "presence_penalty", -2, 2, &p->presence_penalty, e) ||
        get_float(o, "frequency_penalty", -2, 2, &p->frequency_penalty, e) ||
        get_int(o, "seed", INT64_MIN, INT64_MAX, &s, e))
        return -1;
    p->top_k = (int)top_k;
    json_t *sv = json_object_get(o, "seed");
    *seed = sv && !json_is_null(sv) ? (uint64_t)s : fresh_seed();
    return 0;
}

/* stream, stream_options.include_usage, n, max_tokens, logprobs, echo. */
static int parse_shape(json_t *o, api_kind kind, api_call *c, long long *n, long long *max_tokens, int *top_lp,
                       api_error *e) {
    if (get_bool(o, "stream", &c->stream, e) || get_int(o, "n", 1, API_MAX_CHOICES, n, e) ||
        get_int(o, "max_tokens", kind == API_CHAT ? 1 : 0, INT32_MAX, max_tokens, e) ||
        get_bool(o, "ignore_eos", &c->ignore_eos, e))
        return -1;
    json_t *so = json_object_get(o, "stream_options");
    if (so && !json_is_null(so)) { /* as OpenAI and vLLM answer: an option of a stream there is not */
        if (!c->stream) return BAD_REQUEST(e, "stream_options", "'stream_options' is only allowed with 'stream': true");
        if (!json_is_object(so)) return BAD_REQUEST(e, "stream_options", "'stream_options' must be an object");
        if (get_bool(so, "include_usage", &c->include_usage, e)) return -1;
    }
    long long top = -1;
    if (kind == API_CHAT) {
        bool want = false;
        if (get_int(o, "max_completion_tokens", 1, INT32_MAX, max_tokens, e) || get_bool(o, "logprobs", &want, e))
            return -1;
        top = want ? 0 : -1;
        json_t *tv = json_object_get(o, "top_logprobs");
        if (tv && !json_is_null(tv) && !want)
            return BAD_REQUEST(e, "top_logprobs", "'top_logprobs' needs 'logprobs': true");
        if (want && get_int(o, "top_logprobs", 0, ATTN_BATCH_MAX_TOP_LOGPROBS, &top, e)) return -1;
    } else {
        if (get_int(o, "logprobs", 0, ATTN_BATCH_MAX_TOP_LOGPROBS, &top, e) || get_bool(o, "echo", &c->echo, e))
            return -1;
        if (*max_tokens == 0 && !c->echo) /* as OpenAI's legacy API: nothing to answer otherwise */
            return BAD_REQUEST(e, "max_tokens",
                               "'max_tokens' 0 needs 'echo': true (the prompt scored, nothing generated)");
    }
    *top_lp = (int)top;
    return 0;
}

/* ---- prompts ------------------------------------------------------------------------------ */

typedef struct {
    int32_t *ids[API_MAX_CHOICES];
    int n_ids[API_MAX_CHOICES];
    char *text[API_MAX_CHOICES]; /* the prompt as text, for echo */
    int n;
} prompt_set;

static void prompts_free(prompt_set *ps) {
    for (int i = 0; i < ps->n; i++) free(ps->ids[i]), free(ps->text[i]);
}

static int add_text_prompt(prompt_set *ps, const api_model *m, const char *text, size_t len, api_error *e) {
    if (ps->n == API_MAX_CHOICES) return BAD_REQUEST(e, "prompt", "at most %d prompts per request", API_MAX_CHOICES);
    int i = ps->n;
    if (attn_tokenizer_encode_prompt(m->tok, text, len, true, &ps->ids[i], &ps->n_ids[i]) != 0)
        return BAD_REQUEST(e, "prompt", "cannot tokenize the prompt: %s", attn_last_error());
    ps->text[i] = strndup(text, len);
    ps->n++;
    if (!ps->text[i]) return api_fail(e, 500, "server_error", NULL, NULL, "out of memory");
    return 0;
}

/* An array of token ids: each one checked against the vocabulary. */
static int add_id_prompt(prompt_set *ps, const api_model *m, json_t *arr, api_error *e) {
    if (ps->n == API_MAX_CHOICES) return BAD_REQUEST(e, "prompt", "at most %d prompts per request", API_MAX_CHOICES);
    int i = ps->n, vocab = attn_tokenizer_vocab_size(m->tok);
    size_t n = json_array_size(arr);
    ps->ids[i] = malloc((n ? n : 1) * sizeof(int32_t));
    ps->n++;
    if (!ps->ids[i]) return api_fail(e, 500, "server_error", NULL, NULL, "out of memory");
    size_t k;
    json_t *v;
    json_array_foreach(arr, k, v) {
        if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) >= vocab)
            return BAD_REQUEST(e, "prompt", "prompt token %zu is not a token id in [0, %d)", k, vocab);
        ps->ids[i][k] = (int32_t)json_integer_value(v);
    }
    ps->n_ids[i] = (int)n;
    size_t len; /* echo shows the ids' text */
    if (attn_tokenizer_decode(m->tok, ps->ids[i], (int)n, &ps->text[i], &len) != 0)
        return api_fail(e, 500, "server_error", NULL, NULL, "%s", attn_last_error());
    return 0;
}

/* prompt: a string, an array of strings, an array of token ids, or an array of such arrays. */
static int parse_prompts(json_t *o, const api_model *m, prompt_set *ps, api_error *e) {
    json_t *p = json_object_get(o, "prompt");
    if (!p || json_is_null(p)) return BAD_REQUEST(e, "prompt", "'prompt' is required");
    if (json_is_string(p)) return add_text_prompt(ps, m, json_string_value(p), json_string_length(p), e);
    if (!json_is_array(p) || json_array_size(p) == 0)
        return BAD_REQUEST(e, "prompt", "'prompt' must be a string, an array of strings or an array of token ids");
    if (json_is_integer(json_array_get(p, 0))) return add_id_prompt(ps, m, p, e);
    size_t i;
    json_t *v;
    json_array_foreach(p, i, v) {
        int rc = json_is_string(v)  ? add_text_prompt(ps, m, json_string_value(v), json_string_length(v), e)
                 : json_is_array(v) ? add_id_prompt(ps, m, v, e)
                                    : BAD_REQUEST(e, "prompt", "'prompt' must be a string, an array of strings "
                                                               "or an array of token ids");
        if (rc != 0) return -1;
    }
    return 0;
}

/* A message's content: a string, or an array of {"type": "text", "text"} parts, joined with
 * newlines as llama-server and vLLM join them. Any other part (an image, audio, a file) is
 * refused with its type named: answering without it would answer another question. */
static int message_text(json_t *content, size_t index, char **out, api_error *e) {
    if (json_is_string(content)) {
        *out = strdup(json_string_value(content));
    } else if (json_is_null(content) || !content) {
        *out = strdup("");
    } else if (json_is_array(content)) {
        api_buf b = {0};
        size_t i;
        json_t *part;
        json_array_foreach(content, i, part) {
            json_t *type = json_object_get(part, "type"), *text = json_object_get(part, "text");
            const char *t = json_is_string(type) ? json_string_value(type) : NULL;
            int rc = 0;
            if (!json_is_object(part) || !t)
                rc = BAD_REQUEST(e, "messages", "messages[%zu].content[%zu] must be an object with a 'type'", index, i);
            else if (strcmp(t, "text") != 0)
                rc = BAD_REQUEST(e, "messages", "messages[%zu].content[%zu] is a '%.64s' part: this server accepts "
                                                "only text parts", index, i, t);
            else if (!json_is_string(text))
                rc = BAD_REQUEST(e, "messages", "messages[%zu].content[%zu].text must be a string", index, i);
            else if ((i > 0 && api_buf_append(&b, "\n", 1) != 0) ||
                     api_buf_append(&b, json_string_value(text), json_string_length(text)) != 0)
                rc = api_fail(e, 500, "server_error", NULL, NULL, "out of memory");
            if (rc != 0) {
                api_buf_free(&b);
                return rc;
            }
        }
        *out = b.data ? b.data : strdup("");
    } else {
        return BAD_REQUEST(e, "messages", "messages[%zu].content must be a string or an array of text parts", index);
    }
    return *out ? 0 : api_fail(e, 500, "server_error", NULL, NULL, "out of memory");
}

static const char *message_role(json_t *msg, size_t index, api_error *e) {
    json_t *role = json_object_get(msg, "role");
    const char *r = json_is_string(role) ? json_string_value(role) : NULL;
    if (!r) {
        BAD_REQUEST(e, "messages", "messages[%zu] needs a 'role' string", index);
        return NULL;
    }
    if (strcmp(r, "developer") == 0) return "system"; /* OpenAI's newer name for it */
    if (strcmp(r, "system") && strcmp(r, "user") && strcmp(r, "assistant")) {
        BAD_REQUEST(e, "messages", "messages[%zu].role '%s' is not supported: use system, user or assistant", index,
                    r);
        return NULL;
    }
    return r;
}

/* messages -> the model's chat template -> one prompt. */
static int parse_messages(json_t *o, const api_model *m, prompt_set *ps, api_error *e) {
    json_t *msgs = json_object_get(o, "messages");
    if (!json_is_array(msgs) || json_array_size(msgs) == 0)
        return BAD_REQUEST(e, "messages", "'messages' must be a non-empty array of {\"role\", \"content\"} objects");
    size_t n = json_array_size(msgs);
    attn_chat_message *cm = calloc(n + 1, sizeof *cm);
    char **texts = calloc(n + 1, sizeof *texts);
    int rc = -1, k = 0;
    if (!cm || !texts) {
        api_fail(e, 500, "server_error", NULL, NULL, "out of memory");
        goto out;
    }
    json_t *first_role = json_object_get(json_array_get(msgs, 0), "role");
    bool has_system = json_is_string(first_role) && (!strcmp(json_string_value(first_role), "system") ||
                                                     !strcmp(json_string_value(first_role), "developer"));
    if (!has_system && m->default_system) cm[k++] = (attn_chat_message){"system", m->default_system};
    for (size_t i = 0; i < n; i++) {
        json_t *msg = json_array_get(msgs, i);
        if (!json_is_object(msg)) {
            BAD_REQUEST(e, "messages", "messages[%zu] must be an object", i);
            goto out;
        }
        const char *role = message_role(msg, i, e);
        json_t *content = json_object_get(msg, "content");
        if (role && (!content || json_is_null(content)) && strcmp(role, "assistant") != 0) {
            BAD_REQUEST(e, "messages", "messages[%zu] needs its 'content' (only an assistant's may be null)", i);
            goto out;
        }
        if (!role || message_text(content, i, &texts[i], e) != 0) goto out;
        cm[k++] = (attn_chat_message){role, texts[i]};
    }
    char *prompt = attn_chat_render(m->chat, cm, k, true);
    if (!prompt) {
        BAD_REQUEST(e, "messages", "%s", attn_last_error());
        goto out;
    }
    rc = add_text_prompt(ps, m, prompt, strlen(prompt), e);
    free(prompt);
out:
    for (size_t i = 0; texts && i < n; i++) free(texts[i]);
    free(texts);
    free(cm);
    return rc;
}

/* ---- the whole request ------------------------------------------------------------------ */

static int check_lengths(api_kind kind, const prompt_set *ps, const api_model *m, api_error *e) {
    for (int i = 0; i < ps->n; i++) {
        if (ps->n_ids[i] == 0) return BAD_REQUEST(e, "prompt", "the prompt is empty: it must hold at least one token");
        if (ps->n_ids[i] >= m->n_ctx)
            return api_fail(e, 400, "invalid_request_error", kind == API_CHAT ? "messages" : "prompt",
                            "context_length_exceeded",
                            "This model's maximum context length is %lld tokens, but the prompt has %d tokens: "
                            "shorten it (or start the server with a larger --ctx-size)",
                            (long long)m->n_ctx, ps->n_ids[i]);
    }
    return 0;
}

/* Jobs: every prompt n times, each with its own seed (seed, seed+1, ...). */
static int make_jobs(api_call *c, prompt_set *ps, long long n, uint64_t seed, api_error *e) {
    for (int p = 0; p < ps->n; p++) c->prompt_tokens += ps->n_ids[p];
    c->per_prompt = (int)n;
    for (int k = 0; k < ps->n * n; k++) {
        srv_job *j = &c->req->jobs[k];
        int p = k / (int)n;
        j->n_prompt = ps->n_ids[p];
        j->prompt = malloc((size_t)j->n_prompt * sizeof(int32_t));
        if (!j->prompt) return api_fail(e, 500, "server_error", NULL, NULL, "out of memory");
        memcpy(j->prompt, ps->ids[p], (size_t)j->n_prompt * sizeof(int32_t));
        j->seed = seed + (uint64_t)k;
        if (c->echo) {
            c->echo_text[k] = strdup(ps->text[p] ? ps->text[p] : "");
            if (!c->echo_text[k]) return api_fail(e, 500, "server_error", NULL, NULL, "out of memory");
        }
    }
    return 0;
}

/* OpenAI parameters that would change the answer and that attn does not implement: a 400
 * naming them rather than an answer that silently ignores them. Their neutral values (null,
 * an empty map or list, best_of 1, text responses) pass, as SDKs may send them. */
static int check_unsupported(json_t *o, api_error *e) {
    static const char *const maps[] = {"logit_bias", "tools", "functions"};
    for (size_t i = 0; i < sizeof maps / sizeof *maps; i++) {
        json_t *v = json_object_get(o, maps[i]);
        if (v && !json_is_null(v) && !(json_is_object(v) && json_object_size(v) == 0) &&
            !(json_is_array(v) && json_array_size(v) == 0))
            return BAD_REQUEST(e, maps[i], "'%s' is not supported by this server", maps[i]);
    }
    json_t *best = json_object_get(o, "best_of");
    if (best && !json_is_null(best) && !(json_is_integer(best) && json_integer_value(best) == 1))
        return BAD_REQUEST(e, "best_of", "'best_of' other than 1 is not supported by this server");
    json_t *suffix = json_object_get(o, "suffix"); /* completions' text to insert before: attn only appends */
    if (suffix && !json_is_null(suffix) && !(json_is_string(suffix) && json_string_length(suffix) == 0))
        return BAD_REQUEST(e, "suffix", "'suffix' (insertion) is not supported by this server");
    json_t *rf = json_object_get(o, "response_format"), *type = json_object_get(rf, "type");
    if (rf && !json_is_null(rf) && !(json_is_string(type) && strcmp(json_string_value(type), "text") == 0))
        return BAD_REQUEST(e, "response_format", "only the 'text' response_format is supported by this server");
    return 0;
}

static int parse_call(api_kind kind, json_t *o, const api_model *m, api_call *c, prompt_set *ps, api_error *e) {
    long long n = 1, max_tokens = -1;
    int top_lp = -1;
    attn_sampler_params sp;
    uint64_t seed;
    if (check_model(o, m, e) || check_unsupported(o, e) || parse_shape(o, kind, c, &n, &max_tokens, &top_lp, e) ||
        parse_sampling(o, &sp, &seed, e))
        return -1;
    if (kind == API_CHAT ? parse_messages(o, m, ps, e) : parse_prompts(o, m, ps, e)) return -1;
    if (check_lengths(kind, ps, m, e)) return -1;
    if (ps->n * n > API_MAX_CHOICES)
        return BAD_REQUEST(e, "n", "%d prompts x n = %lld choices; at most %d per request", ps->n, n, API_MAX_CHOICES);
    c->req = srv_request_new(ps->n * (int)n);
    if (!c->req) return api_fail(e, 500, "server_error", NULL, NULL, "out of memory");
    attn_batch_params *g = &c->req->gen;
    g->sampling = sp;
    g->top_logprobs = top_lp;
    g->ignore_eos = c->ignore_eos;
    /* OpenAI's defaults: 16 tokens for completions; a chat answer may fill the context */
    g->max_tokens = max_tokens >= 0 ? (int)ATTN_MIN(max_tokens, m->n_ctx) : kind == API_CHAT ? (int)m->n_ctx : 16;
    /* echo with logprobs scores the prompt too, as OpenAI's legacy completions did */
    g->prompt_logprobs = c->echo && top_lp >= 0;
    /* logprobs cost far more than text (an answer holds every alternative): bound one request's */
    long long tokens = (long long)ps->n * n * g->max_tokens;
    for (int i = 0; g->prompt_logprobs && i < ps->n; i++) tokens += (long long)n * ps->n_ids[i];
    if (top_lp >= 0 && tokens * (top_lp + 1) > API_MAX_LOGPROB_ENTRIES)
        return BAD_REQUEST(e, kind == API_CHAT ? "top_logprobs" : "logprobs",
                           "logprobs for %lld tokens x %d alternatives is more than one request may ask (%d): "
                           "lower max_tokens, n, the number of alternatives or (echo) the prompt",
                           tokens, top_lp + 1, API_MAX_LOGPROB_ENTRIES);
    if (parse_stops(o, kind, m, c->req, e)) return -1;
    return make_jobs(c, ps, n, seed, e);
}

int api_parse_call(api_kind kind, const char *body, size_t len, const api_model *m, api_call *c, api_error *e) {
    memset(c, 0, sizeof *c);
    c->kind = kind;
    c->created = (int64_t)time(NULL);
    static _Atomic uint64_t next_id;
    snprintf(c->id, sizeof c->id, "%s-%llx%04llx", kind == API_CHAT ? "chatcmpl" : "cmpl", (long long)c->created,
             (unsigned long long)(atomic_fetch_add(&next_id, 1) & 0xffff));
    json_t *o;
    if (api_parse_body(body, len, &o, e) != 0) return -1;
    prompt_set ps = {0};
    int rc = parse_call(kind, o, m, c, &ps, e);
    prompts_free(&ps);
    json_decref(o);
    if (rc != 0) api_call_free(c);
    return rc;
}

void api_call_free(api_call *c) {
    for (int i = 0; i < API_MAX_CHOICES; i++) free(c->echo_text[i]), c->echo_text[i] = NULL;
    srv_request_release(c->req);
    c->req = NULL;
}

int api_buf_append(api_buf *b, const char *s, size_t n) {
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 512;
        while (cap < b->len + n + 1) cap *= 2;
        char *d = realloc(b->data, cap);
        if (!d) return -1;
        b->data = d, b->cap = cap;
    }
    if (n) memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = 0;
    return 0;
}

void api_buf_free(api_buf *b) {
    free(b->data);
    memset(b, 0, sizeof *b);
}
