/* server.c - HTTP on libmicrohttpd: routing, the API key, body limits, and the two ways an
 * answer leaves: whole (the connection's thread waits for the scheduler) or as server-sent
 * events (libmicrohttpd pulls chunks from a callback that waits for new text). Both poll the
 * client's socket while they wait, so a client that leaves is noticed within 100 ms and its
 * slot freed; what a connection holds is its body (bounded by max_body) and its results. */
#include "server/server.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include "core/common.h"
#include "server/api.h"
#include "server/sched.h"
#include "server/web.h"

#define WAIT_MS 100              /* how often a waiting connection checks on its client */
#define MAX_CONNECTIONS 512      /* beyond this libmicrohttpd refuses connections */
#define IDLE_TIMEOUT_S 60        /* a client silent this long (slow headers or body) is dropped */

struct attn_server {
    struct MHD_Daemon *daemon;
    srv_sched *sched;
    api_model api;
    char *model_id, *api_key, *default_system;
    size_t key_len, max_body;
    int port;
};

/* One HTTP request on a connection. */
typedef struct {
    attn_server *srv;
    struct MHD_Connection *conn;
    api_buf body;
    bool too_large;
    api_call call;               /* a completion being waited for (whole answers) */
} request_ctx;

/* A streamed answer: libmicrohttpd owns it through the response and frees it at the end. */
typedef struct {
    attn_server *srv;
    struct MHD_Connection *conn;
    api_call call;
    api_buf out;
} sse_stream;

/* ---- responses ---------------------------------------------------------------------------- */

static enum MHD_Result send_response(struct MHD_Connection *conn, unsigned status, struct MHD_Response *r,
                                     const char *type) {
    if (!r) return MHD_NO;
    MHD_add_response_header(r, "Content-Type", type);
    MHD_add_response_header(r, "Access-Control-Allow-Origin", "*");
    enum MHD_Result ok = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return ok;
}

static struct MHD_Response *json_response(json_t *o) {
    char *s = o ? json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(7)) : NULL;
    json_decref(o);
    struct MHD_Response *r = s ? MHD_create_response_from_buffer(strlen(s), s, MHD_RESPMEM_MUST_FREE) : NULL;
    if (!r) free(s);
    return r;
}

static enum MHD_Result send_json(struct MHD_Connection *conn, unsigned status, json_t *o) {
    return send_response(conn, status, json_response(o), "application/json");
}

static enum MHD_Result send_error(struct MHD_Connection *conn, const api_error *e) {
    return send_json(conn, (unsigned)e->status, api_error_body(e));
}

static enum MHD_Result fail(struct MHD_Connection *conn, int status, const char *type, const char *code,
                            const char *message) {
    api_error e;
    api_fail(&e, status, type, NULL, code, "%s", message);
    return send_error(conn, &e);
}

static enum MHD_Result send_page(struct MHD_Connection *conn) {
    size_t len;
    const char *page = attn_web_index(&len);
    struct MHD_Response *r = MHD_create_response_from_buffer(len, (void *)page, MHD_RESPMEM_PERSISTENT);
    if (r) { /* everything the page uses is inline: nothing may be fetched from elsewhere */
        MHD_add_response_header(r, "Content-Security-Policy",
                                "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
                                "img-src data:; connect-src 'self'");
        MHD_add_response_header(r, "Cache-Control", "no-cache");
    }
    return send_response(conn, MHD_HTTP_OK, r, "text/html; charset=utf-8");
}

static enum MHD_Result send_preflight(struct MHD_Connection *conn) {
    struct MHD_Response *r = MHD_create_response_from_buffer(0, "", MHD_RESPMEM_PERSISTENT);
    if (r) {
        MHD_add_response_header(r, "Access-Control-Allow-Methods", "GET, POST, OPTIONS");
        /* "*": any header, as OpenAI's JavaScript SDK sends its own (X-Stainless-OS...) and a
         * browser refuses the request when the preflight does not allow each; the wildcard
         * never covers Authorization, so that one is named */
        MHD_add_response_header(r, "Access-Control-Allow-Headers", "Authorization, Content-Type, *");
    }
    return send_response(conn, MHD_HTTP_NO_CONTENT, r, "text/plain");
}

/* ---- waiting on the scheduler ------------------------------------------------------------ */

/* True when the peer closed its side or the socket failed. */
static bool client_gone(struct MHD_Connection *conn) {
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (!ci) return true;
    struct pollfd p = {.fd = ci->connect_fd, .events = POLLRDHUP};
    return poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL));
}

static bool all_done(const srv_request *r) { return r->n_done == r->n_jobs; }

/* Waits for every job of the call; false when the client left first (its jobs cancelled). */
static bool wait_done(attn_server *s, struct MHD_Connection *conn, srv_request *r) {
    pthread_mutex_lock(&r->mu);
    while (!all_done(r)) {
        srv_request_wait(r, WAIT_MS);
        if (!all_done(r) && client_gone(conn)) {
            pthread_mutex_unlock(&r->mu);
            srv_sched_cancel(s->sched, r);
            return false;
        }
    }
    pthread_mutex_unlock(&r->mu);
    return true;
}

/* libmicrohttpd asks for the next bytes of a stream: hand out what is formatted, else format
 * what the jobs produced, else wait for them. */
static ssize_t sse_read(void *cls, uint64_t pos, char *buf, size_t max) {
    (void)pos;
    sse_stream *st = cls;
    srv_request *r = st->call.req;
    if (st->out.off == st->out.len) {
        st->out.off = st->out.len = 0;
        pthread_mutex_lock(&r->mu);
        bool done = false;
        while (!(done = api_stream_events(&st->call, &st->srv->api, &st->out)) && st->out.len == 0) {
            srv_request_wait(r, WAIT_MS);
            if (client_gone(st->conn)) {
                pthread_mutex_unlock(&r->mu);
                srv_sched_cancel(st->srv->sched, r);
                return MHD_CONTENT_READER_END_WITH_ERROR;
            }
        }
        pthread_mutex_unlock(&r->mu);
        if (done && st->out.len == 0) return MHD_CONTENT_READER_END_OF_STREAM;
    }
    size_t n = ATTN_MIN(max, st->out.len - st->out.off);
    memcpy(buf, st->out.data + st->out.off, n);
    st->out.off += n;
    return (ssize_t)n;
}

static void sse_free(void *cls) {
    sse_stream *st = cls;
    pthread_mutex_lock(&st->call.req->mu);
    bool done = all_done(st->call.req);
    pthread_mutex_unlock(&st->call.req->mu);
    if (!done) srv_sched_cancel(st->srv->sched, st->call.req);
    api_call_free(&st->call);
    api_buf_free(&st->out);
    free(st);
}

static enum MHD_Result send_stream(request_ctx *cx) {
    sse_stream *st = calloc(1, sizeof *st);
    if (!st) return MHD_NO;
    st->srv = cx->srv, st->conn = cx->conn, st->call = cx->call;
    memset(&cx->call, 0, sizeof cx->call); /* the stream owns it now */
    struct MHD_Response *r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, sse_read, st, sse_free);
    if (!r) {
        sse_free(st);
        return MHD_NO;
    }
    MHD_add_response_header(r, "Cache-Control", "no-cache");
    MHD_add_response_header(r, "X-Accel-Buffering", "no");
    return send_response(cx->conn, MHD_HTTP_OK, r, "text/event-stream; charset=utf-8");
}

/* ---- endpoints ---------------------------------------------------------------------------- */

static enum MHD_Result handle_generate(request_ctx *cx, api_kind kind) {
    attn_server *s = cx->srv;
    api_error e;
    if (api_parse_call(kind, cx->body.data, cx->body.len, &s->api, &cx->call, &e) != 0) return send_error(cx->conn, &e);
    if (srv_sched_submit(s->sched, cx->call.req) != 0) {
        api_call_free(&cx->call);
        api_fail(&e, MHD_HTTP_SERVICE_UNAVAILABLE, "server_error", NULL, "server_busy",
                 "The server is busy: every slot is generating and the queue is full. Retry in a moment.");
        struct MHD_Response *r = json_response(api_error_body(&e));
        if (r) MHD_add_response_header(r, "Retry-After", "1");
        return send_response(cx->conn, MHD_HTTP_SERVICE_UNAVAILABLE, r, "application/json");
    }
    if (cx->call.stream) return send_stream(cx);
    if (!wait_done(s, cx->conn, cx->call.req)) return MHD_NO; /* the client left: close */
    pthread_mutex_lock(&cx->call.req->mu);
    json_t *o = api_reply(&cx->call, &s->api, &e);
    pthread_mutex_unlock(&cx->call.req->mu);
    return o ? send_json(cx->conn, MHD_HTTP_OK, o) : send_error(cx->conn, &e);
}

static enum MHD_Result handle_health(request_ctx *cx) {
    srv_sched_stats st;
    srv_sched_stats_get(cx->srv->sched, &st);
    return send_json(cx->conn, MHD_HTTP_OK,
                     json_pack("{s:s, s:i, s:i, s:i, s:i, s:I, s:I}", "status", "ok", "slots", st.n_slots,
                               "slots_busy", st.busy, "queued", st.queued, "queue_capacity", st.queue_cap,
                               "requests_served", (json_int_t)st.served, "tokens_generated",
                               (json_int_t)st.tokens_generated));
}

static enum MHD_Result handle_tokens(request_ctx *cx, bool tokenize) {
    api_error e;
    const api_model *m = &cx->srv->api;
    json_t *o = tokenize ? api_tokenize(cx->body.data, cx->body.len, m, &e)
                         : api_detokenize(cx->body.data, cx->body.len, m, &e);
    return o ? send_json(cx->conn, MHD_HTTP_OK, o) : send_error(cx->conn, &e);
}

static enum MHD_Result count_authorization(void *cls, enum MHD_ValueKind kind, const char *key, const char *value) {
    (void)kind, (void)value;
    if (strcasecmp(key, "Authorization") == 0) ++*(unsigned *)cls;
    return MHD_YES;
}

/* The key compared in time that depends only on its length, not on where a guess differs.
 * Exactly one Authorization header: with two, which one counts would depend on the proxy or
 * library that reads them, so a request carrying more is refused. */
static bool authorized(const attn_server *s, struct MHD_Connection *conn) {
    if (!s->api_key) return true;
    unsigned n_authorization = 0;
    MHD_get_connection_values(conn, MHD_HEADER_KIND, count_authorization, &n_authorization);
    if (n_authorization != 1) return false;
    const char *h = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Authorization");
    if (!h || strncasecmp(h, "Bearer ", 7) != 0) return false; /* the scheme's case is free (RFC 9110) */
    const char *given = h + 7;
    size_t n = strlen(given);
    unsigned diff = n != s->key_len;
    for (size_t i = 0; i < s->key_len; i++) diff |= (unsigned char)s->api_key[i] ^ (unsigned char)given[i < n ? i : 0];
    return diff == 0;
}

typedef enum { EP_MODELS, EP_COMPLETIONS, EP_CHAT, EP_TOKENIZE, EP_DETOKENIZE } endpoint;

static const struct {
    const char *path, *method;
    endpoint ep;
} routes[] = {
    {"/v1/models", "GET", EP_MODELS},       {"/models", "GET", EP_MODELS},
    {"/v1/completions", "POST", EP_COMPLETIONS}, {"/completions", "POST", EP_COMPLETIONS},
    {"/v1/chat/completions", "POST", EP_CHAT},   {"/chat/completions", "POST", EP_CHAT},
    {"/tokenize", "POST", EP_TOKENIZE},     {"/detokenize", "POST", EP_DETOKENIZE},
};

static enum MHD_Result route(request_ctx *cx, const char *url, const char *method) {
    struct MHD_Connection *conn = cx->conn;
    bool get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
    if (strcmp(method, "OPTIONS") == 0) return send_preflight(conn);
    if (get && (strcmp(url, "/") == 0 || strcmp(url, "/index.html") == 0)) return send_page(conn);
    if (get && strcmp(url, "/health") == 0) return handle_health(cx);
    if (!authorized(cx->srv, conn)) {
        api_error e;
        api_fail(&e, 401, "invalid_request_error", NULL, "invalid_api_key",
                 "Missing, repeated or incorrect API key: send the server's --api-key as one header "
                 "'Authorization: Bearer KEY'");
        struct MHD_Response *r = json_response(api_error_body(&e));
        if (r) MHD_add_response_header(r, "WWW-Authenticate", "Bearer");
        return send_response(conn, MHD_HTTP_UNAUTHORIZED, r, "application/json");
    }
    bool path_known = false;
    for (size_t i = 0; i < sizeof routes / sizeof *routes; i++) {
        if (strcmp(url, routes[i].path) != 0) continue;
        path_known = true;
        if (strcmp(method, routes[i].method) != 0 && !(get && strcmp(routes[i].method, "GET") == 0)) continue;
        switch (routes[i].ep) {
        case EP_MODELS: return send_json(conn, MHD_HTTP_OK, api_models(&cx->srv->api));
        case EP_COMPLETIONS: return handle_generate(cx, API_COMPLETIONS);
        case EP_CHAT: return handle_generate(cx, API_CHAT);
        case EP_TOKENIZE: return handle_tokens(cx, true);
        case EP_DETOKENIZE: return handle_tokens(cx, false);
        }
    }
    char msg[300];
    snprintf(msg, sizeof msg, path_known ? "%s %s: method not allowed" : "%s %s: no such endpoint (see GET /v1/models)",
             method, url);
    return fail(conn, path_known ? MHD_HTTP_METHOD_NOT_ALLOWED : MHD_HTTP_NOT_FOUND, "invalid_request_error",
                path_known ? "method_not_allowed" : "not_found", msg);
}

static enum MHD_Result send_too_large(request_ctx *cx) {
    char msg[200];
    snprintf(msg, sizeof msg, "The request body is larger than the server's limit of %zu bytes", cx->srv->max_body);
    return fail(cx->conn, MHD_HTTP_CONTENT_TOO_LARGE, "invalid_request_error", "request_too_large", msg);
}

/* libmicrohttpd calls this first with the headers, then with each piece of the body, then
 * once more with none: the request is answered on that last call. */
static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                                  const char *version, const char *upload, size_t *upload_size, void **con_cls) {
    (void)version;
    attn_server *s = cls;
    request_ctx *cx = *con_cls;
    if (!cx) {
        cx = calloc(1, sizeof *cx);
        if (!cx) return MHD_NO;
        cx->srv = s, cx->conn = conn;
        *con_cls = cx;
        /* A body over the limit is read and dropped, so the client gets its 413 rather than a
           reset connection; a client that waits for "100 Continue", or announces a body far too
           large to be worth reading, gets it before sending. */
        const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Length");
        const char *expect = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Expect");
        unsigned long long announced = cl ? strtoull(cl, NULL, 10) : 0;
        if (announced > s->max_body && (expect || announced / 16 > s->max_body)) return send_too_large(cx);
        return MHD_YES;
    }
    if (*upload_size) {
        if (!cx->too_large && cx->body.len + *upload_size > s->max_body) cx->too_large = true, api_buf_free(&cx->body);
        if (!cx->too_large && api_buf_append(&cx->body, upload, *upload_size) != 0) return MHD_NO;
        *upload_size = 0;
        return MHD_YES;
    }
    if (cx->too_large) return send_too_large(cx);
    return route(cx, url, method);
}

/* libmicrohttpd decodes %HH in the path in place and hands on_request a C string, so
 * "/health%00x" would arrive as "/health" and answer. A path whose decoding holds a NUL byte
 * (its decoded length beyond its strlen) is kept as sent instead, and so matches no route. */
static size_t unescape_path(void *cls, struct MHD_Connection *conn, char *path) {
    (void)cls, (void)conn;
    size_t sent_len = strlen(path);
    if (!memchr(path, '%', sent_len)) return sent_len; /* nothing to decode */
    char *sent = strdup(path);
    size_t decoded_len = MHD_http_unescape(path);
    if (decoded_len == strlen(path)) {
        free(sent);
        return decoded_len;
    }
    if (sent) memcpy(path, sent, sent_len + 1);
    else path[0] = '\0'; /* out of memory: a path no route has */
    free(sent);
    return strlen(path);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls, enum MHD_RequestTerminationCode t) {
    (void)conn, (void)t;
    attn_server *s = cls;
    request_ctx *cx = *con_cls;
    if (!cx) return;
    if (cx->call.req) { /* a whole answer the client did not wait for */
        pthread_mutex_lock(&cx->call.req->mu);
        bool done = all_done(cx->call.req);
        pthread_mutex_unlock(&cx->call.req->mu);
        if (!done) srv_sched_cancel(s->sched, cx->call.req);
        api_call_free(&cx->call);
    }
    api_buf_free(&cx->body);
    free(cx);
    *con_cls = NULL;
}

/* ---- start and stop ----------------------------------------------------------------------- */

static int resolve(const char *host, int port, struct sockaddr_storage *addr, bool *v6) {
    char service[16];
    snprintf(service, sizeof service, "%d", port);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV};
    struct addrinfo *res = NULL;
    int rc = getaddrinfo(host, service, &hints, &res);
    if (rc != 0 || !res) return attn_error("cannot resolve the address '%s': %s", host, gai_strerror(rc));
    memcpy(addr, res->ai_addr, res->ai_addrlen);
    *v6 = res->ai_family == AF_INET6;
    freeaddrinfo(res);
    return 0;
}

static char *dup_or_null(const char *s) { return s && *s ? strdup(s) : NULL; }

attn_server *attn_server_start(const attn_server_config *cfg) {
    attn_server *s = calloc(1, sizeof *s);
    if (!s) {
        attn_error("out of memory");
        return NULL;
    }
    s->model_id = strdup(cfg->model_id ? cfg->model_id : "model");
    s->api_key = dup_or_null(cfg->api_key);
    s->default_system = dup_or_null(cfg->default_system);
    s->key_len = s->api_key ? strlen(s->api_key) : 0;
    s->max_body = cfg->max_body;
    struct sockaddr_storage addr;
    bool v6 = false;
    if (resolve(cfg->host ? cfg->host : "127.0.0.1", cfg->port, &addr, &v6) != 0) goto fail;
    s->sched = srv_sched_start(cfg->model, cfg->tok, cfg->n_slots, cfg->n_ctx, cfg->queue_cap, cfg->score_precision);
    if (!s->sched) goto fail;
    s->api = (api_model){.id = s->model_id, .tok = cfg->tok, .chat = cfg->chat, .default_system = s->default_system,
                         .n_ctx = srv_sched_n_ctx(s->sched), .created = (int64_t)time(NULL)};
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL |
                     (v6 ? MHD_USE_IPv6 : 0);
    s->daemon = MHD_start_daemon(flags, (uint16_t)cfg->port, NULL, NULL, on_request, s,
                                 MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
                                 MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
                                 MHD_OPTION_UNESCAPE_CALLBACK, unescape_path, NULL,
                                 MHD_OPTION_CONNECTION_LIMIT, (unsigned)MAX_CONNECTIONS,
                                 MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)IDLE_TIMEOUT_S,
                                 MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned)MAX_CONNECTIONS,
                                 MHD_OPTION_THREAD_STACK_SIZE, (size_t)(1 << 20),
                                 MHD_OPTION_END);
    if (!s->daemon) {
        attn_error("cannot listen on %s port %d (in use, or not an address of this machine?)",
                   cfg->host ? cfg->host : "127.0.0.1", cfg->port);
        goto fail;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
    s->port = di ? di->port : cfg->port;
    return s;
fail:
    attn_server_stop(s);
    return NULL;
}

int attn_server_port(const attn_server *s) { return s->port; }

void attn_server_stop(attn_server *s) {
    if (!s) return;
    if (s->daemon) MHD_quiesce_daemon(s->daemon); /* no new connections */
    srv_sched_stop(s->sched);                     /* ends every job, so waiting connections finish */
    if (s->daemon) MHD_stop_daemon(s->daemon);    /* joins the connections' threads */
    srv_sched_free(s->sched);
    free(s->model_id), free(s->api_key), free(s->default_system);
    free(s);
}
