/* commands.h - the `attn` subcommands. Each takes the arguments after its name and
 * returns the process exit status. Shared helpers for loading a model + tokenizer live in
 * common_cli.c so every command reports problems the same way. */
#ifndef ATTN_CLI_COMMANDS_H
#define ATTN_CLI_COMMANDS_H

#include <stdbool.h>
#include "args.h"
#include <attn/generate.h>
#include "model/model.h"
#include "tokenizer/bpe.h"

int cmd_generate(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);
int cmd_logits(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_init(int argc, char **argv);
int cmd_convert(int argc, char **argv);
int cmd_quantize(int argc, char **argv);
int cmd_perplexity(int argc, char **argv);
int cmd_tokenizer(int argc, char **argv);
int cmd_data(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_plot(int argc, char **argv);
int cmd_chat(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_bleu(int argc, char **argv);
int cmd_train_encdec(int argc, char **argv);
int cmd_translate(int argc, char **argv);
int cmd_average(int argc, char **argv);

/* `attn train`'s signal handling and progress display, for other training commands:
 * the first SIGINT/SIGTERM sets the returned flag; the progress draws train/loop.h events. */
#include <signal.h>
#include "train/loop.h"
volatile sig_atomic_t *cli_train_signals(void);
void *cli_train_progress_new(int64_t steps);
void cli_train_progress_event(void *progress, const attn_train_event *e);
void cli_train_progress_free(void *progress);

/* Applies -t/--threads, --isa and --matmul, and keeps --kv-type ("auto", "f32", "f16") for
 * cli_load_model (NULL: leave as is); prints an error and returns -1 on bad values. */
int cli_setup_runtime(const char *cmd, int threads, const char *isa, const char *matmul, const char *kv_type);
#define CLI_MATMUL_HELP                                                                             \
    "matrix products: auto (default: decoding on quantized weights with two-byte integer "         \
    "activations; prompts on them in bf16 on AMX, with AVX-512 int8 for K-quants and two-byte "    \
    "integers up to 64 rows, then bf16; else exact f32), f32 (always exact), bf16, or int8 "       \
    "(activations on quantized weights rounded to 8 bits in prompts and decoding, as llama.cpp)"
/* The model when -m is not given: $ATTN_MODEL, else SmolLM2-135M-Instruct where
 * scripts/fetch-smollm2.sh caches it. NULL with a printed error saying how to get one. */
const char *cli_default_model(const char *cmd);
/* Sets gen to the defaults with a seed from the clock, and writes the sampling options `attn
 * generate` and `attn chat` share (-n, --temp ... --seed, --stop, --ignore-eos) into opts
 * (room for CLI_SAMPLING_OPTS); seed_short is --seed's one-letter name, or 0. Returns how
 * many it wrote. */
#define CLI_SAMPLING_OPTS 12
int cli_sampling_options(opt_spec *opts, attn_generate_params *gen, str_list *stops, bool *ignore_eos,
                         char seed_short);
/* Loads a model, printing "attn CMD: <error>" on failure; its KV cache takes the type
 * cli_setup_runtime was given. */
attn_model *cli_load_model(const char *cmd, const char *path);
#define CLI_KV_HELP                                                                                 \
    "KV cache type: auto (default: f16 for quantized models, as llama.cpp, else f32), f32 (exact) " \
    "or f16 (half the memory; faster decoding at long contexts)"
/* Loads the tokenizer from `explicit_path`, else from the model directory. When `required`
 * is false a missing tokenizer is not an error (NULL, nothing printed). */
attn_tokenizer *cli_load_tokenizer(const char *cmd, const char *explicit_path, const char *model_path, bool required);
/* Reads a whole text file for -f; NULL with a printed error. */
char *cli_read_text(const char *cmd, const char *path, size_t *len);
/* Writes a JSON string literal (escaped) to stdout. */
void cli_print_json_string(const char *s, size_t len);

#endif
