/* args.c - the option parser behind every `attn` subcommand. */
#include "args.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void print_default(const opt_spec *o) {
    switch (o->kind) {
    case OPT_INT: printf(" (default %d)", *(int *)o->dest); break;
    case OPT_FLOAT: printf(" (default %g)", *(float *)o->dest); break;
    case OPT_STR:
        if (*(const char **)o->dest) printf(" (default %s)", *(const char **)o->dest);
        break;
    default: break;
    }
}

void args_print_help(const cmd_spec *cmd) {
    printf("usage: %s\n\n%s\n\noptions:\n", cmd->usage, cmd->summary);
    for (int i = 0; i < cmd->n_opts; i++) {
        const opt_spec *o = &cmd->opts[i];
        char left[64];
        const char *arg = o->kind == OPT_FLAG ? "" : o->kind == OPT_STR || o->kind == OPT_STR_LIST ? " S" : " N";
        if (o->short_name) snprintf(left, sizeof left, "-%c, --%s%s", o->short_name, o->name, arg);
        else snprintf(left, sizeof left, "    --%s%s", o->name, arg);
        printf("  %-26s %s", left, o->help);
        print_default(o);
        printf("\n");
    }
    printf("  %-26s %s\n", "-h, --help", "show this help");
}

static int set_value(const cmd_spec *cmd, const opt_spec *o, const char *val) {
    char *end = NULL;
    errno = 0;
    switch (o->kind) {
    case OPT_INT: {
        long v = strtol(val, &end, 10);
        if (errno || !*val || *end || (o->lo != o->hi && (v < o->lo || v > o->hi))) goto bad;
        *(int *)o->dest = (int)v;
        return 0;
    }
    case OPT_U64: {
        unsigned long long v = strtoull(val, &end, 10); /* it skips spaces and reads " -5" as 2^64 - 5 */
        if (errno || *val < '0' || *val > '9' || *end) goto bad;
        *(uint64_t *)o->dest = v;
        return 0;
    }
    case OPT_FLOAT: {
        float v = strtof(val, &end);
        if (errno || !*val || *end || v != v || (o->lo != o->hi && (v < o->lo || v > o->hi))) goto bad;
        *(float *)o->dest = v;
        return 0;
    }
    case OPT_STR: *(const char **)o->dest = val; return 0;
    case OPT_STR_LIST: {
        str_list *l = o->dest;
        if (l->n >= 64) {
            fprintf(stderr, "attn %s: too many --%s options (64 at most)\n", cmd->command, o->name);
            return -1;
        }
        l->items[l->n++] = val;
        return 0;
    }
    default: return 0;
    }
bad:
    if (o->lo != o->hi)
        fprintf(stderr, "attn %s: invalid value '%s' for --%s (expected a number in [%.10g, %.10g])\n", cmd->command, val,
                o->name, o->lo, o->hi);
    else fprintf(stderr, "attn %s: invalid value '%s' for --%s\n", cmd->command, val, o->name);
    return -1;
}

static const opt_spec *find_opt(const cmd_spec *cmd, const char *arg) {
    for (int i = 0; i < cmd->n_opts; i++) {
        const opt_spec *o = &cmd->opts[i];
        if (arg[1] == '-' ? strcmp(arg + 2, o->name) == 0 : (arg[1] == o->short_name && arg[2] == 0)) return o;
    }
    return NULL;
}

/* Whether s is one of cmd's options (as --name, --name=value or -x): after an option that
 * wants a value, such an argument means the value was left out. */
static bool is_option(const cmd_spec *cmd, const char *s) {
    char name[128];
    size_t n = strcspn(s, "=");
    if (s[0] != '-' || s[1] == 0 || n >= sizeof name) return false;
    memcpy(name, s, n), name[n] = 0;
    return strcmp(name, "-h") == 0 || strcmp(name, "--help") == 0 || find_opt(cmd, name) != NULL;
}

int args_parse(const cmd_spec *cmd, int argc, char **argv) {
    for (int i = 0; i < argc; i++) {
        char *arg = argv[i], *eq = NULL;
        if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
            args_print_help(cmd);
            return 1;
        }
        if (arg[0] != '-' || arg[1] == 0) {
            fprintf(stderr, "attn %s: unexpected argument '%s' (see 'attn %s --help')\n", cmd->command, arg, cmd->command);
            return -1;
        }
        if (arg[1] == '-' && (eq = strchr(arg, '='))) *eq = 0; /* --name=value */
        const opt_spec *o = find_opt(cmd, arg);
        if (!o) {
            fprintf(stderr, "attn %s: unknown option '%s' (see 'attn %s --help')\n", cmd->command, arg, cmd->command);
            return -1;
        }
        if (o->kind == OPT_FLAG && eq) { /* --json=0 would turn it on */
            fprintf(stderr, "attn %s: option --%s takes no value\n", cmd->command, o->name);
            return -1;
        }
        if (o->kind == OPT_FLAG) {
            *(bool *)o->dest = true;
            continue;
        }
        const char *val = eq ? eq + 1 : (i + 1 < argc && !is_option(cmd, argv[i + 1]) ? argv[++i] : NULL);
        if (!val && i + 1 < argc) {
            fprintf(stderr, "attn %s: option --%s needs a value, not the option '%s' (write --%s=%s for that value)\n",
                    cmd->command, o->name, argv[i + 1], o->name, argv[i + 1]);
            return -1;
        }
        if (!val) {
            fprintf(stderr, "attn %s: option --%s needs a value\n", cmd->command, o->name);
            return -1;
        }
        if (set_value(cmd, o, val) != 0) return -1;
    }
    return 0;
}

int args_parse_ids(const char *s, int32_t **ids, int *n) {
    size_t cap = strlen(s) / 2 + 1;
    int32_t *out = malloc(cap * sizeof *out);
    int count = 0;
    if (!out) return -1;
    while (*s) {
        while (*s == ' ' || *s == ',' || *s == '\t' || *s == '\n') s++;
        if (!*s) break;
        char *end;
        errno = 0;
        long v = strtol(s, &end, 10);
        if (end == s || errno || v < 0 || v > INT32_MAX) {
            fprintf(stderr, "attn: invalid token id list near '%.20s'\n", s);
            free(out);
            return -1;
        }
        out[count++] = (int32_t)v;
        s = end;
    }
    *ids = out;
    *n = count;
    return 0;
}
