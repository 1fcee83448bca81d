/* args.h - a table-driven option parser shared by every subcommand, so each one gets the
 * same --help layout, the same errors for unknown options and bad values, and no
 * hand-written argv loops. */
#ifndef ATTN_CLI_ARGS_H
#define ATTN_CLI_ARGS_H

#include <stdbool.h>
#include <stdint.h>

typedef enum { OPT_FLAG, OPT_INT, OPT_FLOAT, OPT_STR, OPT_STR_LIST, OPT_U64 } opt_kind;

typedef struct {
    const char *name;  /* long name without dashes, e.g. "max-tokens" */
    char short_name;   /* 0 if none */
    opt_kind kind;
    void *dest;        /* bool*, int*, float*, const char**, str_list*, uint64_t* */
    const char *help;  /* one line; the default is printed from dest's initial value */
    double lo, hi;     /* range for numbers (ignored if lo == hi) */
} opt_spec;

typedef struct {
    const char *items[64];
    int n;
} str_list;

typedef struct {
    const char *command; /* "generate" */
    const char *usage;   /* "attn generate -m MODEL -p PROMPT [options]" */
    const char *summary; /* a sentence or two */
    const opt_spec *opts;
    int n_opts;
} cmd_spec;

/* Parses argv (after the subcommand). Returns 0 to run, 1 if --help was printed, -1 on a
 * usage error (message printed to stderr). */
int args_parse(const cmd_spec *cmd, int argc, char **argv);
void args_print_help(const cmd_spec *cmd);

/* Parses "1 2 3" or "1,2,3" into a malloc'd array; -1 with a message on bad input. */
int args_parse_ids(const char *s, int32_t **ids, int *n);

#endif
