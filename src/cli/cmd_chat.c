/* cmd_chat.c - `attn chat`: a terminal assistant. Every turn renders the whole conversation
 * with the model's chat template (<attn/chat.h>), then feeds the model only the tokens
 * after the longest prefix its KV cache already holds, so earlier turns are not processed again;
 * the answer streams to stdout. Lines come through libedit (editing, history) on a terminal and
 * plainly from a pipe, which is how the tests talk to it. */
#include <stdio.h>
#include <editline/readline.h>
#include <errno.h>
#include <jansson.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "args.h"
#include <attn/chat.h>
#include "commands.h"
#include "core/common.h"
#include "format/fileio.h"

typedef struct {
    const char *model, *system, *template_name, *tokenizer, *isa, *matmul, *kv_type;
    int threads;
    bool verbose, ignore_eos;
    str_list stops;
    attn_generate_params gen;
} chat_opts;

/* The messages so far; roles are the template's static strings, contents are malloc'd. */
typedef struct {
    attn_chat_message *msgs;
    int n, cap;
} conversation;

typedef struct {
    const chat_opts *o;
    attn_model *model;
    attn_tokenizer *tok;
    const attn_chat_template *tmpl;
    conversation conv;
    int32_t *cached; /* the tokens the model's cache holds, in order (cache_n of them) */
    int cache_n;
    const char *stops[68]; /* the template's (at most 2), then --stop's (at most 64) */
    int n_stops;
    int turn;
} chat;

/* ---- the conversation ------------------------------------------------------------------- */

/* The static spelling of a known role, NULL for any other. */
static const char *known_role(const char *role) {
    static const char *const roles[] = {"system", "user", "assistant"};
    for (int i = 0; role && i < 3; i++)
        if (strcmp(role, roles[i]) == 0) return roles[i];
    return NULL;
}

static int conv_add(conversation *c, const char *role, const char *content, size_t len) {
    if (c->n == c->cap) {
        int cap = c->cap ? 2 * c->cap : 16;
        attn_chat_message *grown = realloc(c->msgs, (size_t)cap * sizeof *grown);
        if (!grown) return attn_error("out of memory");
        c->msgs = grown, c->cap = cap;
    }
    /* contents are C strings: a NUL byte (a random model makes one) would cut the text there,
     * in the next prompt and in /save, so it becomes U+FFFD as invalid UTF-8 does */
    size_t nuls = 0, k = 0;
    for (size_t i = 0; i < len; i++) nuls += content[i] == 0;
    char *copy = malloc(len + 2 * nuls + 1);
    if (!copy) return attn_error("out of memory");
    for (size_t i = 0; i < len; i++)
        if (content[i]) copy[k++] = content[i];
        else memcpy(copy + k, "\xEF\xBF\xBD", 3), k += 3;
    copy[k] = 0;
    c->msgs[c->n++] = (attn_chat_message){known_role(role), copy};
    return 0;
}

/* Removes messages [from, to). */
static void conv_remove(conversation *c, int from, int to) {
    if (from >= to) return;
    for (int i = from; i < to; i++) free((char *)c->msgs[i].content);
    memmove(c->msgs + from, c->msgs + to, (size_t)(c->n - to) * sizeof *c->msgs);
    c->n -= to - from;
}

static bool starts_with_system(const conversation *c) { return c->n > 0 && strcmp(c->msgs[0].role, "system") == 0; }

static void conv_free(conversation *c) {
    conv_remove(c, 0, c->n);
    free(c->msgs);
    *c = (conversation){0};
}

/* ---- /save and /load: {"messages": [{"role": ..., "content": ...}, ...]} ----------------- */

/* /save replaces only a conversation saved before (or an empty file): a typo must not put
 * the chat in place of the model, its config.json or any other file. */
static int save_target_ok(const char *path) {
    struct stat st;
    char to[512] = "?";
    if (lstat(path, &st) == 0 && S_ISLNK(st.st_mode)) { /* the rename would replace the link, not its target */
        ssize_t n = readlink(path, to, sizeof to - 1);
        to[n > 0 ? n : 1] = 0;
        return attn_error("%s is a symbolic link (to %s): /save writes whole new files, so give the file itself", path,
                          to);
    }
    if (stat(path, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size == 0) return 0; /* the writer judges those */
    json_t *old = json_load_file(path, 0, NULL);
    bool saved = old && json_is_array(json_is_array(old) ? old : json_object_get(old, "messages"));
    json_decref(old);
    return saved ? 0 : attn_error("%s exists and is not a saved conversation: /save replaces only those, choose "
                                  "another name", path);
}

static int conv_save(const conversation *c, const char *path) {
    if (save_target_ok(path) != 0) return -1;
    json_t *msgs = json_array();
    for (int i = 0; i < c->n; i++) {
        char *content = attn_utf8_repair(c->msgs[i].content, strlen(c->msgs[i].content), NULL);
        const char *text = content ? content : "";
        json_array_append_new(msgs, json_pack("{s:s, s:s}", "role", c->msgs[i].role, "content", text));
        free(content);
    }
    json_t *root = json_pack("{s:o}", "messages", msgs);
    char *json = root ? json_dumps(root, JSON_INDENT(1) | JSON_PRESERVE_ORDER) : NULL;
    json_decref(root);
    size_t len = json ? strlen(json) : 0;
    char *text = json ? realloc(json, len + 2) : NULL;
    if (!text) {
        free(json);
        return attn_error("out of memory writing %s", path);
    }
    text[len++] = '\n';
    int rc = attn_write_file_atomic(path, text, len);
    free(text);
    return rc;
}

/* Reads a saved conversation into *out; the template must accept it. */
static int conv_load(const char *path, const attn_chat_template *t, conversation *out) {
    struct stat st; /* jansson reads a folder as an empty file: "expected near end of file" */
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) return attn_error("%s is a folder, not a saved conversation", path);
    json_error_t err;
    json_t *root = json_load_file(path, 0, &err);
    if (!root && err.line > 0) return attn_error("%s: line %d: %s", path, err.line, err.text);
    if (!root) return attn_error("%s", err.text); /* jansson names the file and the reason */
    json_t *msgs = json_is_array(root) ? root : json_object_get(root, "messages");
    int rc = json_is_array(msgs) ? 0 : attn_error("%s: no \"messages\" array", path);
    for (size_t i = 0; rc == 0 && i < json_array_size(msgs); i++) {
        json_t *m = json_array_get(msgs, i);
        const char *role = json_string_value(json_object_get(m, "role"));
        json_t *content = json_object_get(m, "content");
        if (!known_role(role) || !json_is_string(content))
            rc = attn_error("%s: message %zu needs a \"role\" (system, user or assistant) and a string \"content\"",
                            path, i + 1);
        else rc = conv_add(out, role, json_string_value(content), json_string_length(content));
    }
    json_decref(root);
    char *check = rc == 0 && out->n ? attn_chat_render(t, out->msgs, out->n, true) : NULL;
    if (rc == 0 && out->n && !check) {
        char why[512]; /* attn_error writes where attn_last_error points */
        snprintf(why, sizeof why, "%s", attn_last_error());
        rc = attn_error("%s: %s", path, why);
    }
    free(check);
    if (rc != 0) conv_free(out);
    return rc;
}

/* ---- one turn --------------------------------------------------------------------------- */

static volatile sig_atomic_t interrupted;

static void on_sigint(int sig) {
    (void)sig;
    interrupted = 1;
}

static int print_answer(void *user, const char *text, size_t len) {
    (void)user;
    fwrite(text, 1, len, stdout);
    fflush(stdout);
    return interrupted; /* Ctrl-C stops the answer, not the program */
}

static int render_tokens(const chat *c, int32_t **ids, int *n) {
    char *text = attn_chat_render(c->tmpl, c->conv.msgs, c->conv.n, true);
    if (!text) return -1;
    int rc = attn_tokenizer_encode_prompt(c->tok, text, strlen(text), true, ids, n); /* one BOS at most */
    free(text);
    return rc;
}

/* The tokens each turn keeps free for the answer. */
static int64_t answer_room(const chat *c) {
    return ATTN_MIN((int64_t)c->o->gen.max_tokens, attn_model_get_info(c->model)->n_ctx / 2);
}

/* The conversation's tokens; when they and room for an answer outgrow the context, the oldest
 * exchange after the system prompt goes first, with a note on stderr. */
static int render_fitting(chat *c, int32_t **ids, int *n) {
    int64_t n_ctx = attn_model_get_info(c->model)->n_ctx, room = answer_room(c);
    for (;;) {
        if (render_tokens(c, ids, n) != 0) return -1;
        if (*n + room <= n_ctx) return 0;
        free(*ids);
        *ids = NULL;
        int first = starts_with_system(&c->conv), exchanges = 0; /* each starts with a user message */
        for (int i = first + 1; i < c->conv.n; i++) exchanges += strcmp(c->conv.msgs[i].role, "user") == 0;
        if (exchanges == 0)
            return attn_error("the message is too long: %d tokens with the system prompt, and the context of %lld "
                              "keeps %lld for the answer",
                              *n, (long long)n_ctx, (long long)room);
        /* as many exchanges as the excess takes at their mean size, so a long loaded session
         * is rendered a few times, not once per exchange dropped */
        int64_t excess = *n + room - n_ctx, mean = ATTN_MAX(*n / (exchanges + 1), 1);
        int drop = (int)ATTN_MIN((excess + mean - 1) / mean, exchanges), end = first + 1;
        for (int k = 0; end < c->conv.n; end++)
            if (strcmp(c->conv.msgs[end].role, "user") == 0 && ++k == drop) break;
        conv_remove(&c->conv, first, end);
        char count[24] = "";
        if (drop > 1) snprintf(count, sizeof count, "%d ", drop);
        fprintf(stderr, "attn chat: the conversation outgrew the context of %lld tokens: dropped the oldest %sturn%s\n",
                (long long)n_ctx, count, drop > 1 ? "s" : "");
    }
}

static int common_prefix(const int32_t *a, int na, const int32_t *b, int nb) {
    int i = 0;
    while (i < na && i < nb && a[i] == b[i]) i++;
    return i;
}

/* After generating: the cache holds the prompt and the answer's tokens but the last. */
static int remember_cache(chat *c, const int32_t *ids, int n, const attn_generate_result *r) {
    int n_past = (int)attn_model_n_past(c->model), from_answer = n_past - n;
    int32_t *cached = realloc(c->cached, (size_t)(n_past > 0 ? n_past : 1) * sizeof *cached);
    if (!cached) return attn_error("out of memory");
    memcpy(cached, ids, (size_t)n * sizeof *ids);
    memcpy(cached + n, r->tokens, (size_t)(from_answer > 0 ? from_answer : 0) * sizeof *ids);
    c->cached = cached, c->cache_n = n_past;
    return 0;
}

static void print_stats(const chat *c, int n_fed, int n_conv, const attn_generate_result *r) {
    double tok_s = r->n_generated > 1 && r->gen_s > 0 ? (r->n_generated - 1) / r->gen_s : 0;
    fprintf(stderr, "attn chat: turn %d: %d prompt tokens processed, %d reused from the cache, %d in the "
                    "conversation; %d generated (%.1f tok/s); stop: %s\n",
            c->turn, n_fed, n_conv - n_fed, n_conv, r->n_generated, tok_s, r->finish_reason);
}

/* Generates the assistant's answer to the conversation (which ends with the user's message)
 * and appends it. On failure the user's message is taken back. */
static int answer(chat *c) {
    int32_t *ids = NULL;
    int n = 0;
    attn_generate_result r = {0};
    int rc = render_fitting(c, &ids, &n);
    if (rc == 0) {
        int reuse = common_prefix(c->cached, c->cache_n, ids, n);
        if (reuse == n) reuse--; /* the last token runs again: its logits start the answer */
        attn_model_truncate(c->model, reuse);
        attn_generate_params p = c->o->gen;
        p.keep_cache = true, p.on_text = print_answer, p.stops = c->stops, p.n_stops = c->n_stops;
        struct sigaction stop = {.sa_handler = on_sigint}, old;
        interrupted = 0;
        sigaction(SIGINT, &stop, &old);
        rc = attn_generate(c->model, c->tok, ids + reuse, n - reuse, &p, &r);
        sigaction(SIGINT, &old, NULL);
        c->turn++;
        if (rc == 0) rc = remember_cache(c, ids, n, &r);
        if (rc == 0) rc = conv_add(&c->conv, "assistant", r.text, r.text_len);
        if (rc == 0) printf("\n"), fflush(stdout);
        if (rc == 0 && c->o->verbose) print_stats(c, n - reuse, n, &r);
    }
    if (rc != 0) {
        fprintf(stderr, "attn chat: %s\n", attn_last_error());
        conv_remove(&c->conv, c->conv.n - 1, c->conv.n);
        attn_model_truncate(c->model, 0), c->cache_n = 0; /* what the cache holds is unknown now */
    }
    free(ids);
    attn_generate_result_free(&r);
    return rc;
}

/* The conversation (the system prompt) leaves room for a message and the answer: else every
 * turn would fail on it. Rendered with an empty user message, which every template shows. */
static int system_fits(chat *c) {
    int32_t *ids = NULL;
    int n = 0, rc = conv_add(&c->conv, "user", "", 0);
    if (rc == 0) rc = render_tokens(c, &ids, &n);
    if (rc == 0) conv_remove(&c->conv, c->conv.n - 1, c->conv.n);
    free(ids);
    int64_t n_ctx = attn_model_get_info(c->model)->n_ctx, room = answer_room(c);
    if (rc == 0 && n + room >= n_ctx)
        rc = attn_error("the system prompt is too long: %d tokens with the template, and the context of %lld keeps "
                        "%lld for the answer",
                        n, (long long)n_ctx, (long long)room);
    return rc;
}

/* ---- the loop --------------------------------------------------------------------------- */

static const char help_text[] = "commands:\n"
                                "  /reset       start over (keeps the system prompt)\n"
                                "  /save FILE   write the conversation as JSON\n"
                                "  /load FILE   continue a saved conversation (one ending with your message gets its answer)\n"
                                "  /help        this list\n"
                                "  /exit        quit (also Ctrl-D, or Ctrl-C at the prompt)\n"
                                "Ctrl-C while the model answers stops the answer.\n";

/* Whether the command word line[0..len) is `name`. */
static bool is_cmd(const char *line, size_t len, const char *name) {
    return len == strlen(name) && strncmp(line, name, len) == 0;
}

/* Runs a /command; returns 1 to quit. A turn it runs that fails (the answer to a loaded
 * conversation's last message) counts in *failed. */
static int command(chat *c, char *line, int *failed) {
    size_t end = strlen(line); /* "/save a.json " would write "a.json ", a name no one sees */
    while (end > 0 && (line[end - 1] == ' ' || line[end - 1] == '\t')) line[--end] = 0;
    const char *arg = line + strcspn(line, " ");
    arg += strspn(arg, " ");
    size_t len = strcspn(line, " ");
    bool quit = is_cmd(line, len, "/exit") || is_cmd(line, len, "/quit"), save = is_cmd(line, len, "/save");
    bool bare = quit || is_cmd(line, len, "/help") || is_cmd(line, len, "/reset");
    if (bare && *arg) { /* "/reset now", "/exit later": a typo or a misunderstanding, not an order */
        fprintf(stderr, "attn chat: %.*s takes no arguments (got '%s'): nothing done\n", (int)len, line, arg);
        return 0;
    }
    if (quit) return 1;
    if (is_cmd(line, len, "/reset")) {
        conv_remove(&c->conv, starts_with_system(&c->conv), c->conv.n);
        fprintf(stderr, "attn chat: the conversation starts over\n");
    } else if (is_cmd(line, len, "/help")) {
        fputs(help_text, stderr);
    } else if (save || is_cmd(line, len, "/load")) {
        conversation loaded = {0};
        int rc = !*arg            ? attn_error("%s needs a file name", save ? "/save" : "/load")
                 : save           ? conv_save(&c->conv, arg)
                                  : conv_load(arg, c->tmpl, &loaded);
        if (rc != 0) fprintf(stderr, "attn chat: %s\n", attn_last_error());
        else if (!save) conv_free(&c->conv), c->conv = loaded;
        if (rc == 0) fprintf(stderr, "attn chat: %s %s (messages: %d)\n", save ? "saved" : "loaded", arg, c->conv.n);
        /* a conversation saved before its last message was answered: answer it now, else it
         * would sit there and the next line would follow it as a second user message */
        if (rc == 0 && !save && c->conv.n > 0 && strcmp(c->conv.msgs[c->conv.n - 1].role, "user") == 0)
            *failed += answer(c) != 0;
    } else {
        fprintf(stderr, "attn chat: unknown command '%.*s' (/help lists them)\n", (int)len, line);
    }
    return 0;
}

/* A line without its newline (malloc'd) and its length in *len, or NULL at the end of input. */
static char *read_line(bool tty, size_t *len) {
    if (tty) {
        char *line = readline("> ");
        if (line && *line) add_history(line);
        *len = line ? strlen(line) : 0;
        return line;
    }
    char *line = NULL;
    size_t cap = 0;
    errno = 0;
    ssize_t n = getline(&line, &cap, stdin);
    if (n < 0) { /* the end of input, or no input at all (a closed stdin, a folder) */
        if (ferror(stdin)) fprintf(stderr, "attn chat: cannot read the input: %s\n", strerror(errno ? errno : EIO));
        free(line);
        return NULL;
    }
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r')) line[--n] = 0;
    *len = (size_t)n;
    return line;
}

/* The number of turns that failed (each reported as it happened). */
static int chat_loop(chat *c) {
    int failed = 0;
    bool tty = isatty(STDIN_FILENO);
    if (tty) {
        rl_inhibit_completion = 1;
        fprintf(stderr, "attn chat: template %s. /help for commands, Ctrl-D to quit.\n",
                attn_chat_template_name(c->tmpl));
    }
    size_t len;
    for (char *line; (line = read_line(tty, &len)) != NULL; free(line)) {
        if (strlen(line) < len) { /* the rest would be lost unseen: not a line of text */
            fprintf(stderr, "attn chat: the line holds a NUL byte (after %zu bytes): not sent\n", strlen(line));
            failed++;
            continue;
        }
        if (!line[strspn(line, " \t")]) continue;
        if (line[0] == '/') {
            if (command(c, line, &failed)) {
                free(line);
                break;
            }
            continue;
        }
        if (conv_add(&c->conv, "user", line, strlen(line)) != 0) {
            fprintf(stderr, "attn chat: %s\n", attn_last_error());
            failed++;
        } else {
            failed += answer(c) != 0;
        }
    }
    return failed;
}

/* ---- setup ------------------------------------------------------------------------------ */

/* --chat-template, else the one the model's own template is, else an error naming both ways. */
static const attn_chat_template *pick_template(const chat_opts *o, const char *model_path, const char *jinja) {
    const char *names = attn_chat_template_names();
    if (o->template_name) {
        const attn_chat_template *t = attn_chat_template_by_name(o->template_name);
        if (!t) fprintf(stderr, "attn chat: unknown chat template '%s' (known: %s)\n", o->template_name, names);
        return t;
    }
    const attn_chat_template *t = attn_chat_template_detect(jinja);
    if (!t)
        fprintf(stderr, "attn chat: %s %s: give --chat-template NAME (%s)\n", model_path,
                jinja ? "has a chat template attn does not know" : "has no chat template", names);
    return t;
}

static int start(chat *c, const char *model_path) {
    const chat_opts *o = c->o;
    const char *jinja = attn_model_get_info(c->model)->chat_template;
    if (!(c->tmpl = pick_template(o, model_path, jinja))) return -1;
    int n;
    const char *const *stops = attn_chat_template_stops(c->tmpl, &n);
    for (int i = 0; i < n; i++) c->stops[c->n_stops++] = stops[i];
    for (int i = 0; i < o->stops.n; i++) c->stops[c->n_stops++] = o->stops.items[i];
    /* without -s, the model's own default system prompt, as its Jinja template would add it */
    char *system = o->system ? NULL : attn_chat_template_default_system(c->tmpl, jinja);
    const char *sys = o->system ? o->system : system;
    int rc = sys ? conv_add(&c->conv, "system", sys, strlen(sys)) : 0;
    int32_t *ids = NULL;
    int n_ids = 0;
    if (rc == 0 && sys && attn_tokenizer_encode_prompt(c->tok, sys, strlen(sys), false, &ids, &n_ids) != 0) {
        char why[600]; /* else every turn would fail on it */
        snprintf(why, sizeof why, "%s", attn_last_error());
        rc = attn_error("the system prompt cannot be used: %s", why);
    }
    free(ids);
    if (rc == 0 && sys) rc = system_fits(c);
    if (rc == 0 && o->verbose)
        fprintf(stderr, "attn chat: %s, template %s%s%s\n", model_path, attn_chat_template_name(c->tmpl),
                sys ? ", system prompt: " : "", sys ? sys : "");
    free(system);
    if (rc != 0) fprintf(stderr, "attn chat: %s\n", attn_last_error());
    return rc;
}

static int run(const chat_opts *o) {
    const char *model_path = o->model ? o->model : cli_default_model("chat");
    if (!model_path) return 1;
    if (cli_setup_runtime("chat", o->threads, o->isa, o->matmul, o->kv_type)) return 2;
    chat c = {.o = o};
    int rc = 1;
    if (!(c.model = cli_load_model("chat", model_path))) return 1;
    c.tok = cli_load_tokenizer("chat", o->tokenizer, model_path, true);
    if (c.tok && start(&c, model_path) == 0) {
        int failed = chat_loop(&c); /* a script feeding chat learns that some answers are missing */
        if (failed) fprintf(stderr, "attn chat: %d turn%s failed\n", failed, failed == 1 ? "" : "s");
        rc = failed || ferror(stdin) ? 1 : 0;
    } else if (c.tok && !c.tmpl) {
        rc = 2;
    }
    conv_free(&c.conv);
    free(c.cached);
    attn_tokenizer_free(c.tok);
    attn_model_free(c.model);
    return rc;
}

int cmd_chat(int argc, char **argv) {
    chat_opts o = {0};
    char template_help[160];
    snprintf(template_help, sizeof template_help, "%s (default: recognised from the model)",
             attn_chat_template_names());
    const opt_spec first[] = {
        {"model", 'm', OPT_STR, &o.model, "model (default: $ATTN_MODEL, else SmolLM2-135M-Instruct if fetched)", 0, 0},
        {"system", 's', OPT_STR, &o.system, "system prompt (default: the model's own, if its template has one)", 0, 0},
        {"chat-template", 0, OPT_STR, &o.template_name, template_help, 0, 0},
    };
    const opt_spec more[] = {
        {"verbose", 'v', OPT_FLAG, &o.verbose, "print tokens processed and speed after each answer (stderr)", 0, 0},
        {"tokenizer", 0, OPT_STR, &o.tokenizer, "tokenizer.json or vocab.json+merges.txt folder (default: model's)", 0, 0},
        {"threads", 't', OPT_INT, &o.threads, "threads; 0 = all cores", 0, 512},
        {"isa", 0, OPT_STR, &o.isa, "force kernels: scalar, avx2 or avx512 (default: best available)", 0, 0},
        {"matmul", 0, OPT_STR, &o.matmul, CLI_MATMUL_HELP, 0, 0},
        {"kv-type", 0, OPT_STR, &o.kv_type, CLI_KV_HELP, 0, 0},
    };
    /* sized from its parts: an option added to either list cannot overflow it */
    opt_spec opts[sizeof first / sizeof *first + CLI_SAMPLING_OPTS + sizeof more / sizeof *more];
    memcpy(opts, first, sizeof first);
    int n = (int)(sizeof first / sizeof *first);
    n += cli_sampling_options(opts + n, &o.gen, &o.stops, &o.ignore_eos, 0);
    o.gen.max_tokens = 512;
    memcpy(opts + n, more, sizeof more);
    n += (int)(sizeof more / sizeof *more);
    cmd_spec spec = {"chat", "attn chat [-m MODEL] [-s SYSTEM] [options]",
                     "Talk with a chat model: type a message, the answer streams back. The conversation stays\n"
                     "in the model's cache between turns. /help lists the commands (/reset, /save, /load, /exit).",
                     opts, n};
    int pr = args_parse(&spec, argc, argv);
    if (pr) return pr > 0 ? 0 : 2;
    if (o.gen.max_tokens < 1) { /* every answer would be empty, and kept as the assistant's */
        fprintf(stderr, "attn chat: --max-tokens 0 leaves no room for an answer: give 1 or more\n");
        return 2;
    }
    o.gen.ignore_eos = o.ignore_eos;
    return run(&o);
}
