/* cmd_tokenizer.c - `attn tokenizer train`: learns a byte-level BPE vocabulary (or, with
 * --chars, a character vocabulary) from text files and saves a Hugging Face tokenizer.json. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "args.h"
#include "commands.h"
#include "inputs.h"
#include "format/fileio.h"
#include "core/common.h"
#include "tokenizer/bpe_train.h"
#include "tokenizer/chars.h"

static int train_chars(const str_list *inputs, const char *out, double t0) {
    attn_char_set *cs = attn_char_set_new();
    int rc = cs ? 0 : -1;
    uint64_t bytes = 0;
    for (int i = 0; rc == 0 && i < inputs->n; i++) {
        size_t len = 0;
        char *text = cli_read_text("tokenizer train", inputs->items[i], &len);
        rc = text ? attn_char_set_add(cs, text, len) : 1;
        bytes += len;
        free(text);
        if (rc < 0) fprintf(stderr, "attn tokenizer train: %s: %s\n", inputs->items[i], attn_last_error());
        if (rc) goto done;
    }
    if (rc == 0) rc = attn_char_set_save(cs, out);
    if (rc) {
        fprintf(stderr, "attn tokenizer train: %s\n", attn_last_error());
        goto done;
    }
    attn_char_set_stats st;
    attn_char_set_get_stats(cs, &st);
    if (st.invalid_bytes)
        fprintf(stderr, "attn tokenizer train: warning: %llu bytes of invalid UTF-8 skipped (they encode as <unk>)\n",
                (unsigned long long)st.invalid_bytes);
    printf("wrote %s: %d characters + <|endoftext|> + <unk> = %d tokens, from %llu bytes in %d file%s (%.2f s)\n", out,
           st.n_chars, st.n_chars + 2, (unsigned long long)bytes, inputs->n, inputs->n == 1 ? "" : "s",
           attn_time_s() - t0);
done:
    attn_char_set_free(cs);
    return rc ? 1 : 0;
}

static int feed_files(attn_bpe_trainer *tr, const str_list *inputs, uint64_t *bytes) {
    for (int i = 0; i < inputs->n; i++) {
        size_t len = 0;
        char *text = cli_read_text("tokenizer train", inputs->items[i], &len);
        if (!text) return 1;
        int rc = attn_bpe_trainer_feed(tr, text, len);
        free(text);
        *bytes += len;
        if (rc) {
            fprintf(stderr, "attn tokenizer train: %s: %s\n", inputs->items[i], attn_last_error());
            return 1;
        }
    }
    return 0;
}

static int train_bpe(const str_list *inputs, const char *out, int vocab_size, int min_freq, double t0) {
    attn_bpe_train_opts o = {.vocab_size = vocab_size, .min_frequency = (uint64_t)min_freq};
    attn_bpe_trainer *tr = attn_bpe_trainer_new(&o);
    if (!tr) {
        fprintf(stderr, "attn tokenizer train: %s\n", attn_last_error());
        return 2;
    }
    uint64_t bytes = 0;
    int rc = feed_files(tr, inputs, &bytes);
    double t_feed = attn_time_s();
    if (rc == 0 && (attn_bpe_trainer_train(tr) || attn_bpe_trainer_save(tr, out))) {
        fprintf(stderr, "attn tokenizer train: %s\n", attn_last_error());
        rc = 1;
    }
    if (rc == 0) {
        attn_bpe_train_stats st;
        attn_bpe_trainer_stats(tr, &st);
        double t1 = attn_time_s();
        printf("wrote %s: %d tokens (%d merges) from %llu bytes in %d file%s, %zu distinct words; "
               "%.2f s (counting %.2f s, merging %.2f s)\n",
               out, st.vocab_size, st.n_merges, (unsigned long long)bytes, inputs->n, inputs->n == 1 ? "" : "s",
               st.n_words, t1 - t0, t_feed - t0, t1 - t_feed);
        if (st.vocab_size < vocab_size)
            fprintf(stderr, "attn tokenizer train: note: only %d tokens: no pair is left that occurs at least "
                            "--min-frequency times\n", st.vocab_size);
    }
    attn_bpe_trainer_free(tr);
    return rc;
}

static int tokenizer_train(int argc, char **argv) {
    str_list inputs = {0};
    const char *out = NULL;
    int vocab_size = 0, min_freq = 2;
    bool chars = false;
    const opt_spec opts[] = {
        {"input", 'i', OPT_STR_LIST, &inputs, "text file(s) to learn from (-i a.txt b.txt, or repeat -i)", 0, 0},
        {"output", 'o', OPT_STR, &out, "the tokenizer.json to write", 0, 0},
        {"vocab-size", 0, OPT_INT, &vocab_size, "tokens in all: <|endoftext|> + 256 bytes + merges", 257, 1 << 24},
        {"min-frequency", 0, OPT_INT, &min_freq, "never merge a pair seen fewer times", 0, 1 << 30},
        {"chars", 0, OPT_FLAG, &chars, "character vocabulary: one token per distinct character (no merges)", 0, 0},
    };
    cmd_spec spec = {"tokenizer train",
                     "attn tokenizer train -i FILE... (--vocab-size N | --chars) -o tokenizer.json [options]",
                     "Learns a GPT-2-style byte-level BPE vocabulary (the same merges as Hugging Face tokenizers' "
                     "BpeTrainer)\nor, with --chars, a character-level one, and writes a tokenizer.json that attn "
                     "and HF tokenizers\nboth load.",
                     opts, (int)(sizeof opts / sizeof *opts)};
    int pr = args_parse(&spec, argc, argv);
    if (pr) return pr > 0 ? 0 : 2;
    if (inputs.n == 0 || !out) {
        fprintf(stderr, "attn tokenizer train: give -i FILE... and -o tokenizer.json\n");
        return 2;
    }
    if (chars == (vocab_size != 0)) {
        fprintf(stderr, "attn tokenizer train: give exactly one of --vocab-size N or --chars\n");
        return 2;
    }
    for (int i = 0; i < inputs.n; i++) /* the text is read whole first, then replaced by the tokenizer */
        if (attn_output_not_input(out, inputs.items[i]) != 0) {
            fprintf(stderr, "attn tokenizer train: %s\n", attn_last_error());
            return 1;
        }
    double t0 = attn_time_s();
    return chars ? train_chars(&inputs, out, t0) : train_bpe(&inputs, out, vocab_size, min_freq, t0);
}

static void usage(FILE *f) {
    fprintf(f, "usage: attn tokenizer train -i FILE... (--vocab-size N | --chars) -o tokenizer.json [options]\n\n"
               "'attn tokenizer train --help' lists the options.\n");
}

int cmd_tokenizer(int argc, char **argv) {
    if (argc < 1 || strcmp(argv[0], "--help") == 0 || strcmp(argv[0], "-h") == 0) {
        usage(argc < 1 ? stderr : stdout);
        return argc < 1 ? 2 : 0;
    }
    if (strcmp(argv[0], "train") != 0) {
        fprintf(stderr, "attn tokenizer: unknown subcommand '%s' (the one there is: train)\n", argv[0]);
        return 2;
    }
    int n = 0;
    char **args = cli_expand_inputs(argc - 1, argv + 1, &n);
    if (!args) {
        fprintf(stderr, "attn tokenizer: out of memory\n");
        return 1;
    }
    int rc = tokenizer_train(n, args);
    free(args);
    return rc;
}
