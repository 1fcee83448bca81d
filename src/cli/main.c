/* main.c - the `attn` command: dispatches to a subcommand. No model logic lives in the CLI;
 * each command parses options, calls libattn and prints. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <attn/core.h>
#include "commands.h"

typedef struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *help;
} command;

static const command commands[] = {
    {"generate", cmd_generate, "continue a prompt with a model (streams text)"},
    {"chat", cmd_chat, "talk with a chat model in the terminal (multi-turn, streaming)"},
    {"tokenize", cmd_tokenize, "print the token ids of a text"},
    {"logits", cmd_logits, "write a model's raw logits for given token ids (for reference checks)"},
    {"bench", cmd_bench, "measure prompt and generation speed, load time and peak memory"},
    {"perplexity", cmd_perplexity, "perplexity of a model on a text file (llama.cpp's method)"},
    {"convert", cmd_convert, "copy a model with its weights in another dtype (f32, f16, bf16)"},
    {"quantize", cmd_quantize, "write a GGUF with quantized weights (q8_0, q4_k_m...) as llama-quantize does"},
    {"init", cmd_init, "create a randomly initialised GPT-2 checkpoint (Hugging Face layout)"},
    {"tokenizer", cmd_tokenizer, "train a tokenizer (byte-level BPE or characters) into a tokenizer.json"},
    {"data", cmd_data, "tokenize text files into train/val token shards for training"},
    {"train", cmd_train, "train or fine-tune a GPT-2 on token shards (checkpoints, resume, progress)"},
    {"plot", cmd_plot, "draw the loss curves of a training log as an SVG"},
    {"serve", cmd_serve, "an OpenAI-compatible server with a web page; requests are batched together"},
    {"train-encdec", cmd_train_encdec, "train the 2017 encoder-decoder Transformer on parallel text"},
    {"translate", cmd_translate, "translate lines with an encoder-decoder model (beam search)"},
    {"average", cmd_average, "average the weights of encoder-decoder checkpoints"},
    {"bleu", cmd_bleu, "BLEU of translations against references, exactly as sacreBLEU computes it"},
};

static void usage(FILE *f) {
    fprintf(f, "attn - Transformer models in C\n\nusage: attn COMMAND [options]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].help);
    fprintf(f, "\n'attn COMMAND --help' describes a command's options.\n"
               "example: attn generate -m path/to/gpt2 -p \"Once upon a time\" -n 64\n");
}

/* Output a command printed but the system could not take (a full disk, a closed file) is
 * lost: the run failed, whatever the command returned. */
static int checked_output(int rc) {
    if (fflush(stdout) == 0 && !ferror(stdout)) return rc;
    fprintf(stderr, "attn: cannot write the output: %s\n", strerror(errno));
    return rc ? rc : 1;
}

int main(int argc, char **argv) {
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("attn %s\n", attn_version());
        return 0;
    }
    /* a file size limit (ulimit -f) then fails a write with EFBIG, which every writer reports and
     * cleans up after, instead of killing the process mid-file */
    signal(SIGXFSZ, SIG_IGN);
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
        if (strcmp(argv[1], commands[i].name) == 0) return checked_output(commands[i].run(argc - 2, argv + 2));
    fprintf(stderr, "attn: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return 2;
}
