/* fuzz_api.c - libFuzzer target for the server's request parsing (src/server/api_parse.c),
 * what every client can send. Byte 0 picks the endpoint (completions, chat completions,
 * /tokenize, /detokenize), byte 1 the chat template; the rest is the body. A body must either
 * be refused with an HTTP error whose OpenAI error JSON can be built, or become jobs the
 * scheduler can run: at most API_MAX_CHOICES of them, each prompt non-empty, shorter than the
 * context and made of vocabulary ids, max_tokens within the context, stops within their
 * limits. Build and run with tests/fuzz/run_fuzz.sh.
 * seed corpus: tests/fixtures/api */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/common.h"
#include "server/api.h"
#include "tiny_tokenizer.h"

#define N_CTX 96

static const char *const templates[] = {"chatml", "llama2", "llama3", "mistral", "zephyr", "alpaca", "phi3"};
static api_model model = {.id = "tiny", .n_ctx = N_CTX, .created = 1};

static void init(void) {
    char path[64];
    snprintf(path, sizeof path, "/tmp/attn_fuzz_api_%d.json", (int)getpid());
    model.tok = tiny_tokenizer(path);
    unlink(path);
}

static void check_error(const api_error *e) {
    if (e->status < 400 || e->status > 599 || !e->type || !e->message[0]) abort();
    json_t *body = api_error_body(e);
    if (!body) abort();
    json_decref(body);
}

static void check_call(const api_call *c) {
    const srv_request *r = c->req;
    int vocab = attn_tokenizer_vocab_size(model.tok);
    if (!r || r->n_jobs < 1 || r->n_jobs > API_MAX_CHOICES || r->n_stops > API_MAX_STOPS) abort();
    if (r->gen.max_tokens < 1 || r->gen.max_tokens > N_CTX) abort();
    for (int i = 0; i < r->n_jobs; i++) {
        const srv_job *j = &r->jobs[i];
        if (j->n_prompt < 1 || j->n_prompt >= N_CTX || !j->prompt) abort();
        for (int k = 0; k < j->n_prompt; k++)
            if (j->prompt[k] < 0 || j->prompt[k] >= vocab) abort();
    }
    for (int i = 0; i < r->n_stops; i++)
        if (!r->stops[i] || strlen(r->stops[i]) > API_MAX_STOP_BYTES) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!model.tok) init();
    if (size < 2) return 0;
    model.chat = attn_chat_template_by_name(templates[data[1] % (sizeof templates / sizeof *templates)]);
    if (!model.chat) abort();
    const char *body = (const char *)data + 2;
    size_t len = size - 2;
    api_error e = {0};
    if (data[0] % 4 >= 2) { /* /tokenize, /detokenize */
        json_t *out = data[0] % 4 == 2 ? api_tokenize(body, len, &model, &e) : api_detokenize(body, len, &model, &e);
        if (out) json_decref(out);
        else check_error(&e);
        return 0;
    }
    api_call c;
    if (api_parse_call(data[0] % 4 ? API_CHAT : API_COMPLETIONS, body, len, &model, &c, &e) != 0) {
        check_error(&e);
        return 0;
    }
    check_call(&c);
    api_call_free(&c);
    return 0;
}
