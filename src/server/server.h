/* server.h - `attn serve`: an OpenAI-compatible HTTP server with continuous batching and a
 * web page, on libmicrohttpd.
 *
 * Endpoints: GET / (the page), GET /health, GET /v1/models, POST /v1/completions,
 * POST /v1/chat/completions (both with "stream": true as server-sent events ending in
 * "data: [DONE]"), POST /tokenize, POST /detokenize; the /v1 prefix is optional.
 *
 * Threads: libmicrohttpd runs one thread per connection; it parses and validates the request,
 * tokenizes the prompt, queues it (a bounded queue: 503 beyond it) and waits for results. One
 * scheduler thread owns the model and runs every active request in one batched forward per
 * step (src/server/sched.h). A waiting connection checks every 100 ms whether its client is
 * still there; one that left frees its slot at the scheduler's next step. */
#ifndef ATTN_SERVER_H
#define ATTN_SERVER_H

#include <stddef.h>
#include <stdint.h>
#include <attn/chat.h>
#include "model/model.h"
#include "tokenizer/bpe.h"

typedef struct {
    const char *host;             /* address to bind; NULL: 127.0.0.1 */
    int port;                     /* 0: any free port (attn_server_port tells which) */
    const char *api_key;          /* NULL or "": no key asked */
    int n_slots;                  /* requests decoded together */
    int64_t n_ctx;                /* positions per slot; 0: the model's context */
    int queue_cap;                /* requests waiting for a slot before 503 */
    size_t max_body;              /* bytes; larger bodies get 413 */
    const char *model_id;         /* the name of the model in the API */
    attn_model *model;            /* owned by the caller; the server's scheduler uses it alone */
    const attn_tokenizer *tok;
    const attn_chat_template *chat;
    const char *default_system;   /* the chat template's default system prompt, or NULL */
    int score_precision;          /* prompts scored (echo with logprobs) in this attn_matmul_precision;
                                   * -1: the process's */
} attn_server_config;

typedef struct attn_server attn_server;

/* Binds and starts serving. NULL with the error set (address in use, bad host...). */
attn_server *attn_server_start(const attn_server_config *cfg);
int attn_server_port(const attn_server *s);
/* Stops accepting, ends what runs, joins every thread, frees. */
void attn_server_stop(attn_server *s);

#endif
