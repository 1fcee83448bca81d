/* cmd_translate.c - `attn translate -m MODEL`: one sentence per input line, one translation
 * per output line, in order. Policies: an empty line gives an empty line; a line longer
 * than the model's max_len is cut to fit, with a warning naming the first such line;
 * invalid UTF-8 is an error naming the line (nothing is written); -o FILE is written whole
 * (atomically) once every line is translated, so a failure leaves it as it was. Lines are
 * translated in chunks (batched inside the library), with a progress bar on a terminal for
 * -i FILE. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "args.h"
#include "commands.h"
#include "core/common.h"
#include "format/config.h"
#include "format/fileio.h"
#include "train/encdec.h"
#include "train/encdec_loop.h"

#define CHUNK 32     /* lines per library call: the progress bar's step */
#define PLAN_ROWS 32   /* sentences decoded together at most */
#define PLAN_TOKENS 2048 /* source tokens decoded together, unless one sentence needs more */

typedef struct {
    const char *model, *input, *output, *tokenizer;
    attn_encdec_search search;
    int threads;
    bool greedy;
} translate_cli;

static char *read_stdin(size_t *len) {
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    for (size_t got; buf && (got = fread(buf + n, 1, cap - n - 1, stdin)) > 0;) {
        n += got;
        if (cap - n < 2) {
            char *bigger = realloc(buf, cap *= 2);
            if (!bigger) free(buf);
            buf = bigger;
        }
    }
    if (!buf) attn_error("out of memory reading stdin");
    else buf[n] = 0, *len = n;
    return buf;
}

static void show_progress(bool on, int done, int total) {
    if (!on) return;
    int width = 30, filled = total ? (int)((int64_t)done * width / total) : width;
    fprintf(stderr, "\r\033[K[%.*s%*s] %d/%d lines", filled, "##############################", width - filled, "",
            done, total);
    if (done == total) fputc('\n', stderr);
}

/* Writes one decoded translation as one line (ids past the tokenizer's vocabulary, the
 * model's BOS, are dropped; a newline inside a token becomes a space, keeping lines aligned). */
static int write_line(FILE *f, const attn_tokenizer *tok, const int32_t *ids, int n) {
    int32_t keep[n > 0 ? n : 1];
    int k = 0, vocab = attn_tokenizer_vocab_size(tok);
    for (int i = 0; i < n; i++)
        if (ids[i] < vocab) keep[k++] = ids[i];
    char *text;
    size_t len;
    if (attn_tokenizer_decode(tok, keep, k, &text, &len)) return -1;
    for (size_t i = 0; i < len; i++)
        if (text[i] == '\n' || text[i] == '\r') text[i] = ' ';
    int rc = fwrite(text, 1, len, f) == len && fputc('\n', f) != EOF ? 0 : attn_error("cannot write the output");
    free(text);
    return rc;
}

/* Translates lines [first, first + n) (skipping empty ones) and writes them. */
static int translate_chunk(const translate_cli *c, attn_encdec *m, const attn_tokenizer *tok, int32_t **ids,
                           const int32_t *lens, int first, int n, int64_t cap, int32_t *out, int32_t *out_n, FILE *f) {
    const int32_t *src[CHUNK];
    int32_t src_n[CHUNK], which[CHUNK], k = 0;
    for (int i = 0; i < n; i++)
        if (lens[first + i] > 0) src[k] = ids[first + i], src_n[k] = lens[first + i], which[k++] = i;
    int rc = 0;
    if (k && c->greedy) rc = attn_encdec_greedy(m, k, src, src_n, c->search.max_extra, out, cap, out_n);
    else if (k) rc = attn_encdec_beam(m, k, src, src_n, &c->search, out, cap, out_n, NULL);
    for (int i = 0, j = 0; i < n && rc == 0; i++) {
        bool has = j < k && which[j] == i;
        rc = write_line(f, tok, has ? out + j * cap : NULL, has ? out_n[j] : 0);
        j += has;
    }
    return rc;
}

static int translate_all(const translate_cli *c, attn_encdec *m, const attn_tokenizer *tok, char **lines, int n,
                         FILE *f) {
    const attn_encdec_config *cfg = attn_encdec_get_config(m);
    int32_t **ids = NULL, *lens = NULL;
    int cut = 0, first_cut = -1, rc;
    int64_t cap = cfg->max_len;
    int32_t *out = malloc(sizeof(int32_t) * (size_t)(CHUNK * cap)), out_n[CHUNK];
    rc = out ? attn_tokenize_lines(tok, lines, n, (int)cfg->max_len - 1, &ids, &lens, &cut, &first_cut)
             : attn_error("out of memory");
    if (rc == 0 && cut)
        fprintf(stderr, "attn translate: warning: %d line%s longer than the model's %lld tokens cut to fit (first: "
                "line %d)\n", cut, cut > 1 ? "s" : "", (long long)cfg->max_len - 1, first_cut + 1);
    bool bar = c->input && isatty(2);
    for (int first = 0; first < n && rc == 0; first += CHUNK) {
        int k = n - first < CHUNK ? n - first : CHUNK;
        rc = translate_chunk(c, m, tok, ids, lens, first, k, cap, out, out_n, f);
        if (rc) attn_error("lines %d-%d: %s", first + 1, first + k, attn_last_error());
        show_progress(bar && rc == 0, first + k, n);
    }
    attn_free_rows(ids, n);
    free(lens), free(out);
    return rc;
}

static attn_tokenizer *load_tokenizer(const translate_cli *c, const attn_encdec *m) {
    attn_tokenizer *tok = attn_tokenizer_load(c->tokenizer ? c->tokenizer : c->model);
    if (tok && attn_encdec_check_ids(tok, attn_encdec_get_config(m), c->model)) {
        attn_tokenizer_free(tok);
        return NULL;
    }
    return tok;
}

/* Loads the model with memory planned for PLAN_ROWS sentences of PLAN_TOKENS tokens in
 * all, or one sentence of its longest length. */
static attn_encdec *load_model(const char *dir) {
    char path[4200];
    int64_t max_len = 256;
    snprintf(path, sizeof path, "%s/config.json", dir);
    json_t *j = attn_json_load_object(path);
    if (j) attn_cfg_int(j, path, "max_len", 256, 2, 1 << 20, &max_len);
    json_decref(j);
    int64_t S = ATTN_MAX(PLAN_TOKENS / PLAN_ROWS, (max_len + PLAN_ROWS - 1) / PLAN_ROWS);
    return attn_encdec_load(dir, PLAN_ROWS, ATTN_MIN(S, max_len), 1);
}

/* -o must name no file the run reads (-i, the tokenizer, the model's files): the translations
 * would replace it. */
static int output_not_input(const translate_cli *c) {
    static const char *const model_files[] = {"config.json", "model.safetensors", "tokenizer.json"};
    char path[4200];
    if ((c->input && attn_output_not_input(c->output, c->input)) ||
        (c->tokenizer && attn_output_not_input(c->output, c->tokenizer)))
        return -1;
    for (size_t i = 0; i < sizeof model_files / sizeof *model_files; i++) {
        snprintf(path, sizeof path, "%s/%s", c->model, model_files[i]);
        if (attn_output_not_input(c->output, path)) return -1;
    }
    return 0;
}

static int run(const translate_cli *c) {
    if (cli_setup_runtime("translate", c->threads, NULL, NULL, NULL)) return 2;
    if (c->output && output_not_input(c)) { /* before any work */
        fprintf(stderr, "attn translate: %s\n", attn_last_error());
        return 1;
    }
    size_t len = 0;
    char *text = c->input ? attn_read_file(c->input, &len) : read_stdin(&len), **lines = NULL;
    attn_encdec *m = NULL;
    attn_tokenizer *tok = NULL;
    FILE *f = NULL;
    int n = 0, rc = text ? 0 : -1;
    if (rc == 0) rc = attn_text_lines(text, len, c->input ? c->input : "stdin", &lines, &n);
    if (rc == 0 && !(m = load_model(c->model)))
        rc = attn_error("%s: %s", c->model, attn_last_error());
    if (rc == 0 && !(tok = load_tokenizer(c, m))) rc = -1;
    /* -o gets the translations whole, as a new file, once they are all done (a failure or
     * Ctrl-C leaves the file as it was); until then they collect in memory */
    char *out_text = NULL;
    size_t out_len = 0;
    if (rc == 0 && c->output) rc = attn_output_path_check(c->output);
    if (rc == 0 && !(f = c->output ? open_memstream(&out_text, &out_len) : stdout)) rc = attn_error("out of memory");
    if (rc == 0) rc = translate_all(c, m, tok, lines, n, f);
    if (f && f != stdout && fclose(f) != 0 && rc == 0) rc = attn_error("out of memory");
    if (rc == 0 && c->output) rc = attn_write_file_atomic(c->output, out_text, out_len);
    free(out_text);
    if (rc) fprintf(stderr, "attn translate: %s\n", attn_last_error());
    free(lines), free(text);
    attn_encdec_free(m), attn_tokenizer_free(tok);
    return rc ? 1 : 0;
}

int cmd_translate(int argc, char **argv) {
    translate_cli c = {.search = attn_encdec_search_defaults()};
    const opt_spec opts[] = {
        {"model", 'm', OPT_STR, &c.model, "encoder-decoder model folder (from 'attn train-encdec' or 'attn average')", 0, 0},
        {"input", 'i', OPT_STR, &c.input, "sentences, one per line (default: stdin)", 0, 0},
        {"output", 'o', OPT_STR, &c.output, "translations, one per line (default: stdout)", 0, 0},
        {"tokenizer", 0, OPT_STR, &c.tokenizer, "tokenizer.json (default: the model folder's)", 0, 0},
        {"beam", 0, OPT_INT, &c.search.beam, "beam size", 1, 64},
        {"alpha", 0, OPT_FLOAT, &c.search.alpha, "length penalty exponent ((5 + len) / 6)^alpha", 0, 10},
        {"max-extra", 0, OPT_INT, &c.search.max_extra, "at most source length + this many tokens", 0, 1 << 16},
        {"greedy", 0, OPT_FLAG, &c.greedy, "greedy decoding instead of beam search", 0, 0},
        {"threads", 't', OPT_INT, &c.threads, "threads; 0 = all cores", 0, 512},
    };
    cmd_spec spec = {"translate", "attn translate -m MODEL [-i FILE] [-o FILE] [--beam 4] [--alpha 0.6] [--max-extra 50]",
                     "Translates one sentence per line with beam search (the paper's beam 4, alpha 0.6, +50).\n"
                     "Empty lines give empty lines; lines longer than the model's maximum are cut (with a warning).",
                     opts, (int)(sizeof opts / sizeof *opts)};
    int pr = args_parse(&spec, argc, argv);
    if (pr) return pr > 0 ? 0 : 2;
    if (!c.model) {
        fprintf(stderr, "attn translate: give -m MODEL (a folder from 'attn train-encdec')\n");
        return 2;
    }
    return run(&c);
}
