/* cmd_bleu.c - `attn bleu HYP REF [REF2 ...]`: corpus (or sentence) BLEU as sacreBLEU computes
 * it; the scoring lives in src/eval/bleu.c. Files are read as sacrebleu reads them: UTF-8,
 * lines split at "\n" only, a missing final newline changes nothing. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>

#include "args.h"
#include "commands.h"
#include "core/common.h"
#include "eval/bleu.h"

#define MAX_FILES 65 /* a hypothesis and up to 64 references */

typedef struct {
    const char *name; /* as the user wrote it ("stdin" for -) */
    char *data;
    char **lines;
    size_t n_lines;
} line_file;

static void line_file_free(line_file *f) {
    free(f->data);
    free(f->lines);
}

static int split_lines(line_file *f, size_t size) {
    size_t cap = 1;
    for (size_t i = 0; i < size; i++) cap += f->data[i] == '\n';
    f->lines = malloc(cap * sizeof *f->lines);
    if (!f->lines) return attn_error("out of memory");
    for (char *p = f->data, *end = f->data + size; p < end;) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        f->lines[f->n_lines++] = p;
        if (!nl) break;
        *nl = 0;
        p = nl + 1;
    }
    return 0;
}

/* Reads one file into lines; errors name the file and the line. */
static int read_line_file(const char *path, line_file *f) {
    size_t size = 0;
    f->name = strcmp(path, "-") == 0 ? "stdin" : path;
    f->data = attn_read_file(strcmp(path, "-") == 0 ? "/dev/stdin" : path, &size);
    if (!f->data) return -1;
    char *nul = memchr(f->data, 0, size);
    if (nul) {
        size_t line = 1;
        for (char *p = f->data; p < nul; p++) line += *p == '\n';
        return attn_error("%s line %zu: contains a NUL byte (not a text file?)", f->name, line);
    }
    if (split_lines(f, size)) return -1;
    for (size_t i = 0; i < f->n_lines; i++) {
        size_t bad = attn_utf8_first_invalid(f->lines[i], strlen(f->lines[i]));
        if (bad) return attn_error("%s line %zu: invalid UTF-8 at byte %zu", f->name, i + 1, bad);
    }
    return 0;
}

static int check_line_counts(const line_file *files, int n_files) {
    if (files[0].n_lines == 0) return attn_error("%s is empty: nothing to score", files[0].name);
    for (int i = 1; i < n_files; i++)
        if (files[i].n_lines != files[0].n_lines)
            return attn_error("%s has %zu lines but %s has %zu: the files must align line by line", files[0].name,
                              files[0].n_lines, files[i].name, files[i].n_lines);
    return 0;
}

static void print_score(const bleu_score *s, const char *signature, bool as_json) {
    char text[256];
    bleu_format(s, text, sizeof text);
    if (!as_json) {
        printf("%s\n", text);
        return;
    }
    const bleu_stats *st = &s->stats;
    json_t *o = json_pack("{s:s, s:f, s:[ffff], s:f, s:f, s:I, s:I, s:[IIII], s:[IIII], s:s, s:s}", "name", "BLEU",
                          "score", s->score, "precisions", s->precisions[0], s->precisions[1], s->precisions[2],
                          s->precisions[3], "bp", s->bp, "ratio", s->ratio, "hyp_len", (json_int_t)st->hyp_len,
                          "ref_len", (json_int_t)st->ref_len, "counts", (json_int_t)st->correct[0],
                          (json_int_t)st->correct[1], (json_int_t)st->correct[2], (json_int_t)st->correct[3],
                          "totals", (json_int_t)st->total[0], (json_int_t)st->total[1], (json_int_t)st->total[2],
                          (json_int_t)st->total[3], "signature", signature, "text", text);
    char *dump = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    printf("%s\n", dump ? dump : "{}");
    free(dump);
    json_decref(o);
}

/* Scores every segment; prints each one (sentence mode) or the corpus total. */
static int score_files(const line_file *files, int n_refs, const bleu_options *opt, bool sentence, bool as_json) {
    char signature[128];
    bleu_signature(opt, n_refs, sentence, signature, sizeof signature);
    bleu_stats sum = {0};
    const char *refs[MAX_FILES];
    for (size_t i = 0; i < files[0].n_lines; i++) {
        bleu_stats s;
        for (int r = 0; r < n_refs; r++) refs[r] = files[r + 1].lines[i];
        if (bleu_segment_stats(files[0].lines[i], refs, n_refs, opt, &s)) {
            char msg[256];
            snprintf(msg, sizeof msg, "%s", attn_last_error());
            return attn_error("line %zu: %s", i + 1, msg);
        }
        if (sentence) {
            bleu_score score = bleu_score_from_stats(&s, true);
            print_score(&score, signature, as_json);
        }
        bleu_stats_add(&sum, &s);
    }
    if (!sentence) {
        bleu_score score = bleu_score_from_stats(&sum, false);
        print_score(&score, signature, as_json);
        fflush(stdout);
        if (sum.total[BLEU_MAX_ORDER - 1] == 0 && sum.hyp_len > 0)
            fprintf(stderr, "attn bleu: note: the hypotheses have no %d-grams, so corpus BLEU is 0 (as in sacreBLEU)\n",
                    BLEU_MAX_ORDER);
    }
    return 0;
}

/* Positional arguments are the files; the rest (and --tokenize's value) go to the option parser. */
static int split_args(int argc, char **argv, char **files, int *n_files, char **rest, int *n_rest) {
    for (int i = 0; i < argc; i++) {
        bool is_option = argv[i][0] == '-' && argv[i][1] != 0;
        if (!is_option) {
            if (*n_files == MAX_FILES) return attn_error("too many files (%d at most)", MAX_FILES);
            files[(*n_files)++] = argv[i];
            continue;
        }
        rest[(*n_rest)++] = argv[i];
        if (strcmp(argv[i], "--tokenize") == 0 && i + 1 < argc) rest[(*n_rest)++] = argv[++i];
    }
    return 0;
}

int cmd_bleu(int argc, char **argv) {
    const char *tokenize = "13a";
    bool lowercase = false, sentence = false, as_json = false;
    const opt_spec opts[] = {
        {"tokenize", 0, OPT_STR, &tokenize, "13a (sacreBLEU's default), intl, or none (text already tokenized)", 0, 0},
        {"lowercase", 0, OPT_FLAG, &lowercase, "compare lowercased text (case-insensitive BLEU)", 0, 0},
        {"sentence", 0, OPT_FLAG, &sentence, "one sentence BLEU per line (effective order), not corpus BLEU", 0, 0},
        {"json", 0, OPT_FLAG, &as_json, "print JSON (one object per line with --sentence)", 0, 0},
    };
    cmd_spec spec = {"bleu", "attn bleu HYP REF [REF2 ...] [--tokenize 13a|intl|none] [--lowercase] [--sentence] [--json]",
                     "BLEU of the hypothesis file against one or more reference files (one segment per line), exactly\n"
                     "as sacreBLEU 2.x computes it: 13a tokenization, 'exp' smoothing, closest reference length.\n"
                     "HYP may be - for stdin. Tokenized lowercased BLEU as papers report it: --tokenize none "
                     "--lowercase.",
                     opts, (int)(sizeof opts / sizeof *opts)};
    char *files_arg[MAX_FILES], *rest[2 * 64];
    int n_files = 0, n_rest = 0;
    if (argc > 2 * 64 || split_args(argc, argv, files_arg, &n_files, rest, &n_rest)) {
        fprintf(stderr, "attn bleu: %s\n", argc > 2 * 64 ? "too many arguments" : attn_last_error());
        return 2;
    }
    int pr = args_parse(&spec, n_rest, rest);
    if (pr) return pr > 0 ? 0 : 2;
    bleu_options opt = {.lowercase = lowercase};
    if (bleu_tokenize_parse(tokenize, &opt.tokenize)) {
        fprintf(stderr, "attn bleu: --tokenize: %s\n", attn_last_error());
        return 2;
    }
    if (n_files < 2) {
        fprintf(stderr, "attn bleu: give the hypothesis file and at least one reference file (see 'attn bleu --help')\n");
        return 2;
    }
    line_file files[MAX_FILES] = {0};
    int rc = 0;
    for (int i = 0; i < n_files && rc == 0; i++) rc = read_line_file(files_arg[i], &files[i]);
    if (rc == 0) rc = check_line_counts(files, n_files);
    if (rc == 0) rc = score_files(files, n_files - 1, &opt, sentence, as_json);
    if (rc) fprintf(stderr, "attn bleu: %s\n", attn_last_error());
    for (int i = 0; i < n_files; i++) line_file_free(&files[i]);
    return rc ? 1 : 0;
}
