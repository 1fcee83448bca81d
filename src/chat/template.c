/* template.c - the chat templates of <attn/chat.h>, each a C transcription of its model's Jinja
 * source. Comments quote the Jinja where its semantics are easy to miss (what .strip() removes,
 * which roles are skipped silently and which raise). */
#include <attn/chat.h>

#include <stdlib.h>
#include <string.h>
#include "core/common.h"

enum { ROLE_SYSTEM, ROLE_USER, ROLE_ASSISTANT };

/* ---- a growing output string ---------------------------------------------------------- */

typedef struct {
    char *s;
    size_t len, cap;
    bool oom;
} text_buf;

static void put(text_buf *b, const char *s, size_t n) {
    if (b->oom) return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1) cap *= 2;
        char *grown = realloc(b->s, cap);
        if (!grown) {
            b->oom = true;
            return;
        }
        b->s = grown, b->cap = cap;
    }
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = 0;
}

static void puts_(text_buf *b, const char *s) { put(b, s, strlen(s)); }

/* Bytes of the whitespace character at s[0..n) (0 if none): Python's str.isspace() set, which
 * .strip() and Jinja's trim remove: ASCII \t\n\v\f\r, \x1c-\x1f, space, U+0085, U+00A0, U+1680,
 * U+2000-U+200A, U+2028, U+2029, U+202F, U+205F, U+3000. */
static size_t space_len(const unsigned char *s, size_t n) {
    if (n >= 1 && ((s[0] >= 0x09 && s[0] <= 0x0d) || (s[0] >= 0x1c && s[0] <= 0x20))) return 1;
    if (n >= 2 && s[0] == 0xc2 && (s[1] == 0x85 || s[1] == 0xa0)) return 2;
    if (n < 3) return 0;
    unsigned cp = ((unsigned)(s[0] & 0x0f) << 12) | ((unsigned)(s[1] & 0x3f) << 6) | (s[2] & 0x3f);
    if ((s[0] & 0xf0) != 0xe0 || (s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80) return 0;
    bool space = cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200a) || cp == 0x2028 || cp == 0x2029 || cp == 0x202f ||
                 cp == 0x205f || cp == 0x3000;
    return space ? 3 : 0;
}

/* Appends s without leading and trailing whitespace (Python's s.strip()). */
static void put_stripped(text_buf *b, const char *str, size_t n) {
    const unsigned char *s = (const unsigned char *)str;
    size_t start = 0, end = n, k;
    while (start < end && (k = space_len(s + start, end - start)) > 0) start += k;
    for (bool more = true; more && end > start;) {
        more = false;
        for (k = 1; k <= 3 && k <= end - start; k++)
            if (space_len(s + end - k, k) == k) {
                end -= k, more = true;
                break;
            }
    }
    put(b, str + start, end - start);
}

static void puts_stripped(text_buf *b, const char *s) { put_stripped(b, s, strlen(s)); }

/* ---- the templates -------------------------------------------------------------------- */

typedef struct {
    const attn_chat_message *m;
    const int *role;
    int n;
    bool gen; /* add_generation_prompt */
} conversation;

/* Jinja's check in llama2 and mistral, over the messages after an optional system one:
 * {% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception(...) }} */
static int check_alternation(const conversation *c, int first, const char *template_name) {
    for (int i = first; i < c->n; i++)
        if ((c->role[i] == ROLE_USER) != ((i - first) % 2 == 0))
            return attn_error("the %s template wants user and assistant messages to alternate after an optional "
                              "first system message (message %d is '%s')",
                              template_name, i + 1, c->m[i].role);
    return 0;
}

static int render_chatml(text_buf *b, const conversation *c) {
    for (int i = 0; i < c->n; i++) {
        puts_(b, "<|im_start|>");
        puts_(b, c->m[i].role);
        puts_(b, "\n");
        puts_(b, c->m[i].content);
        puts_(b, "<|im_end|>\n");
    }
    if (c->gen) puts_(b, "<|im_start|>assistant\n");
    return 0;
}

/* No generation prompt: a user turn already ends with [/INST]. The system prompt joins the first
 * user message and the whole is stripped; a system message at an odd position is skipped. */
static int render_llama2(text_buf *b, const conversation *c) {
    int first = c->role[0] == ROLE_SYSTEM;
    if (check_alternation(c, first, "llama2")) return -1;
    for (int i = first; i < c->n; i++) {
        if (c->role[i] == ROLE_USER) {
            puts_(b, "<s>[INST] ");
            if (first && i == first) {
                text_buf joined = {0};
                puts_(&joined, "<<SYS>>\n");
                puts_(&joined, c->m[0].content);
                puts_(&joined, "\n<</SYS>>\n\n");
                puts_(&joined, c->m[i].content);
                if (joined.oom) b->oom = true;
                else put_stripped(b, joined.s, joined.len);
                free(joined.s);
            } else {
                puts_stripped(b, c->m[i].content);
            }
            puts_(b, " [/INST]");
        } else if (c->role[i] == ROLE_ASSISTANT) {
            puts_(b, " ");
            puts_stripped(b, c->m[i].content);
            puts_(b, " </s>");
        }
    }
    return 0;
}

static int render_llama3(text_buf *b, const conversation *c) {
    for (int i = 0; i < c->n; i++) {
        if (i == 0) puts_(b, "<|begin_of_text|>");
        puts_(b, "<|start_header_id|>");
        puts_(b, c->m[i].role);
        puts_(b, "<|end_header_id|>\n\n");
        puts_stripped(b, c->m[i].content);
        puts_(b, "<|eot_id|>");
    }
    if (c->gen) puts_(b, "<|start_header_id|>assistant<|end_header_id|>\n\n");
    return 0;
}

/* No generation prompt either; the system prompt opens the first [INST]. */
static int render_mistral(text_buf *b, const conversation *c) {
    int first = c->role[0] == ROLE_SYSTEM;
    if (check_alternation(c, first, "mistral")) return -1;
    puts_(b, "<s>");
    for (int i = first; i < c->n; i++) {
        if (c->role[i] == ROLE_USER) {
            puts_(b, " [INST] ");
            if (first && i == first) {
                puts_(b, c->m[0].content);
                puts_(b, "\n\n");
            }
            puts_(b, c->m[i].content);
            puts_(b, " [/INST]");
        } else if (c->role[i] == ROLE_ASSISTANT) {
            puts_(b, " ");
            puts_(b, c->m[i].content);
            puts_(b, "</s>");
        } else {
            return attn_error("the mistral template takes a system message only as the first message");
        }
    }
    return 0;
}

/* The generation prompt comes inside the loop, after the last message. */
static int render_zephyr(text_buf *b, const conversation *c) {
    for (int i = 0; i < c->n; i++) {
        puts_(b, "<|");
        puts_(b, c->m[i].role);
        puts_(b, "|>\n");
        puts_(b, c->m[i].content);
        puts_(b, "</s>\n");
    }
    if (c->gen) puts_(b, "<|assistant|>\n");
    return 0;
}

/* An empty system message is skipped; without a generation prompt the text ends with EOS. */
static int render_phi3(text_buf *b, const conversation *c) {
    for (int i = 0; i < c->n; i++) {
        if (c->role[i] == ROLE_SYSTEM && !c->m[i].content[0]) continue;
        puts_(b, "<|");
        puts_(b, c->m[i].role);
        puts_(b, "|>\n");
        puts_(b, c->m[i].content);
        puts_(b, "<|end|>\n");
    }
    puts_(b, c->gen ? "<|assistant|>\n" : "<|endoftext|>");
    return 0;
}

/* Alpaca's own instruction line stands in when no message (anywhere) is a system message. */
static int render_alpaca(text_buf *b, const conversation *c) {
    bool has_system = false;
    for (int i = 0; i < c->n; i++) has_system |= c->role[i] == ROLE_SYSTEM;
    if (!has_system)
        puts_(b, "Below is an instruction that describes a task. Write a response that appropriately completes "
                 "the request.\n\n");
    for (int i = 0; i < c->n; i++) {
        if (c->role[i] == ROLE_USER) puts_(b, "### Instruction:\n");
        else if (c->role[i] == ROLE_ASSISTANT) puts_(b, "### Response:\n");
        puts_(b, c->m[i].content);
        puts_(b, "\n\n");
    }
    if (c->gen) puts_(b, "### Response:\n");
    return 0;
}

/* ---- the table ------------------------------------------------------------------------ */

struct attn_chat_template {
    const char *name;
    int (*render)(text_buf *b, const conversation *c);
    const char *stops[2];
    int n_stops;
    /* detect(): every `need` marker appears in the Jinja source and `unless` does not */
    const char *need[2];
    const char *unless;
    /* a whole system turn, for default_system(): what opens and what closes it */
    const char *system_open, *system_close;
};

/* In detection order: a later entry may match a template an earlier one claims. */
static const attn_chat_template templates[] = {
    {"chatml", render_chatml, {"<|im_end|>"}, 1, {"<|im_start|>"}, "<|im_sep|>", "<|im_start|>system\n", "<|im_end|>"},
    {"llama2", render_llama2, {"</s>"}, 1, {"[INST]", "<<SYS>>"}, NULL, "<<SYS>>\n", "\n<</SYS>>"},
    {"llama3", render_llama3, {"<|eot_id|>"}, 1, {"<|start_header_id|>", "<|end_header_id|>"}, NULL,
     "<|start_header_id|>system<|end_header_id|>\n\n", "<|eot_id|>"},
    {"mistral", render_mistral, {"</s>"}, 1, {"[INST]"}, NULL, NULL, NULL},
    {"zephyr", render_zephyr, {"</s>"}, 1, {"<|user|>", "<|assistant|>"}, "<|end|>", "<|system|>\n", "</s>"},
    {"alpaca", render_alpaca, {"### Instruction:"}, 1, {"### Instruction:", "### Response:"}, NULL, NULL, NULL},
    {"phi3", render_phi3, {"<|end|>"}, 1, {"<|user|>", "<|end|>"}, NULL, "<|system|>\n", "<|end|>"},
};
enum { N_TEMPLATES = sizeof templates / sizeof *templates };

const attn_chat_template *attn_chat_template_by_name(const char *name) {
    for (int i = 0; name && i < N_TEMPLATES; i++)
        if (strcmp(templates[i].name, name) == 0) return &templates[i];
    return NULL;
}

static bool matches(const attn_chat_template *t, const char *jinja) {
    for (int i = 0; i < 2; i++)
        if (t->need[i] && !strstr(jinja, t->need[i])) return false;
    return !t->unless || !strstr(jinja, t->unless);
}

const attn_chat_template *attn_chat_template_detect(const char *jinja) {
    for (int i = 0; jinja && i < N_TEMPLATES; i++)
        if (matches(&templates[i], jinja)) return &templates[i];
    return NULL;
}

const char *attn_chat_template_name(const attn_chat_template *t) { return t->name; }

const char *attn_chat_template_names(void) { return "chatml, llama2, llama3, mistral, zephyr, alpaca, phi3"; }

const char *const *attn_chat_template_stops(const attn_chat_template *t, int *n) {
    *n = t->n_stops;
    return t->stops;
}

static int parse_role(const char *role) {
    if (!role) return -1;
    if (strcmp(role, "system") == 0) return ROLE_SYSTEM;
    if (strcmp(role, "user") == 0) return ROLE_USER;
    if (strcmp(role, "assistant") == 0) return ROLE_ASSISTANT;
    return -1;
}

char *attn_chat_render(const attn_chat_template *t, const attn_chat_message *msgs, int n, bool add_assistant) {
    if (!t || !msgs || n <= 0) {
        attn_error("chat template: no messages to render");
        return NULL;
    }
    int *role = malloc((size_t)n * sizeof *role);
    if (!role) {
        attn_error("out of memory");
        return NULL;
    }
    for (int i = 0; i < n; i++) {
        role[i] = parse_role(msgs[i].role);
        if (role[i] < 0 || !msgs[i].content) {
            attn_error("chat message %d: %s (roles: system, user, assistant)", i + 1,
                       !msgs[i].content ? "no content" : "unknown role");
            free(role);
            return NULL;
        }
    }
    conversation c = {msgs, role, n, add_assistant};
    text_buf b = {0};
    puts_(&b, ""); /* an empty conversation text is still a string */
    int rc = t->render(&b, &c);
    free(role);
    if (rc == 0 && b.oom) rc = attn_error("out of memory rendering the chat");
    if (rc != 0) {
        free(b.s);
        return NULL;
    }
    return b.s;
}

/* ---- the default system prompt inside a Jinja source ---------------------------------- */

/* Decodes the Jinja string literal whose opening quote is at *p; advances *p past it. */
static void read_literal(const char **p, text_buf *out) {
    char quote = **p;
    const char *s = *p + 1;
    for (; *s && *s != quote; s++) {
        char c = *s;
        if (c == '\\' && s[1]) {
            c = *++s;
            c = c == 'n' ? '\n' : c == 't' ? '\t' : c == 'r' ? '\r' : c;
        }
        put(out, &c, 1);
    }
    *p = *s ? s + 1 : s;
}

char *attn_chat_template_default_system(const attn_chat_template *t, const char *jinja) {
    if (!t || !jinja || !t->system_open) return NULL;
    size_t open_len = strlen(t->system_open);
    char *found = NULL;
    for (const char *p = jinja; *p && !found;) {
        if (*p != '\'' && *p != '"') {
            p++;
            continue;
        }
        text_buf lit = {0};
        read_literal(&p, &lit);
        const char *open = lit.s ? strstr(lit.s, t->system_open) : NULL;
        const char *close = open ? strstr(open + open_len, t->system_close) : NULL;
        if (close && close > open + open_len) {
            size_t n = (size_t)(close - open - open_len);
            if ((found = malloc(n + 1))) memcpy(found, open + open_len, n), found[n] = 0;
        }
        free(lit.s);
    }
    return found;
}
