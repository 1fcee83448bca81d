/* api.h - the OpenAI-compatible API: requests parsed and validated into scheduler jobs,
 * answers and server-sent events written in OpenAI's shapes (completions, chat completions,
 * models, errors), plus llama.cpp's /tokenize and /detokenize. No HTTP here (server.c). */
#ifndef ATTN_SERVER_API_H
#define ATTN_SERVER_API_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <attn/chat.h>
#include "server/sched.h"
#include "tokenizer/bpe.h"

#define API_MAX_CHOICES 16  /* jobs per request: prompts x n */
#define API_MAX_STOPS 16
#define API_MAX_STOP_BYTES 1024
#define API_MAX_LOGPROB_ENTRIES (1 << 18) /* tokens x (alternatives + 1) per request */

typedef enum { API_COMPLETIONS, API_CHAT } api_kind;

/* An error as OpenAI reports it: {"error": {"message", "type", "param", "code"}}. */
typedef struct {
    int status;            /* the HTTP status */
    const char *type;      /* "invalid_request_error", "authentication_error", "server_error"... */
    const char *param;     /* the offending field, or NULL */
    const char *code;      /* "context_length_exceeded", "model_not_found"..., or NULL */
    char message[400];
} api_error;

/* Fills e and returns -1. */
int api_fail(api_error *e, int status, const char *type, const char *param, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));
json_t *api_error_body(const api_error *e);

/* What the API needs to know of the model being served. */
typedef struct {
    const char *id;                  /* the name clients give as "model" */
    const attn_tokenizer *tok;
    const attn_chat_template *chat;  /* how chat messages become a prompt */
    const char *default_system;      /* the template's system prompt when none is given, or NULL */
    int64_t n_ctx;                   /* positions per slot */
    int64_t created;                 /* when the server started (unix seconds) */
} api_model;

/* What the streaming side has already sent of a job. */
typedef struct {
    size_t text_sent;
    int logprobs_sent;
    bool started, finished;
} api_progress;

/* One parsed completion or chat request and, once queued, its results. */
typedef struct {
    api_kind kind;
    bool stream, include_usage, echo, ignore_eos;
    char id[48];
    int64_t created;
    char *echo_text[API_MAX_CHOICES]; /* completions with echo: each job's prompt text */
    int prompt_tokens;                /* usage: each distinct prompt counted once */
    int per_prompt;                   /* jobs per prompt (n): prompt p's are jobs p*n .. p*n+n-1 */
    srv_request *req;
    api_progress progress[API_MAX_CHOICES];
    bool usage_sent, done_sent;
} api_call;

/* A growable byte buffer for outgoing events. */
typedef struct {
    char *data;
    size_t len, cap, off;             /* off: how much a reader has taken */
} api_buf;
int api_buf_append(api_buf *b, const char *s, size_t n);
void api_buf_free(api_buf *b);

/* Parses and validates a request body into call (its request ready to queue). On error fills
 * e (400 bad JSON or types, 404 unknown model, 400 context_length_exceeded...) and returns -1. */
int api_parse_call(api_kind kind, const char *body, size_t len, const api_model *m, api_call *call, api_error *e);
void api_call_free(api_call *c);

/* The whole answer once every job has finished (call with the request's mutex held). A job
 * that failed makes it an error (returns NULL and fills e). */
json_t *api_reply(const api_call *c, const api_model *m, api_error *e);
/* Appends the server-sent events for what the jobs produced since the last call (request's
 * mutex held). Returns true once the final "data: [DONE]" is written. */
bool api_stream_events(api_call *c, const api_model *m, api_buf *out);
/* An "error" event for a stream that fails after it started. */
int api_stream_error(api_buf *out, const api_error *e);

/* GET /v1/models, POST /tokenize {"content", "add_special"? (false: no BOS; true: as prompts
 * get it), "parse_special"? (true), "with_pieces"?} -> {"tokens"}, POST /detokenize {"tokens"}
 * -> {"content"}. Defaults are llama-server's. */
json_t *api_models(const api_model *m);
json_t *api_tokenize(const char *body, size_t len, const api_model *m, api_error *e);
json_t *api_detokenize(const char *body, size_t len, const api_model *m, api_error *e);

/* A JSON string of any bytes: invalid UTF-8 becomes U+FFFD (random models emit any byte). */
json_t *api_json_text(const char *s, size_t n);
/* The body as a JSON object, or -1 with a 400 naming what is wrong. */
int api_parse_body(const char *body, size_t len, json_t **out, api_error *e);

#endif
