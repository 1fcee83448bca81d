/* cmd_init.c - `attn init`: write a randomly initialised GPT-2 checkpoint (HF layout) with
 * a tokenizer, ready for `attn generate`. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "args.h"
#include "commands.h"
#include "core/common.h"
#include "format/fileio.h"
#include "model/gpt2_init.h"
#include "tokenizer/bytelevel_vocab.h"
#include "train/checkpoint.h"

static int copy_tokenizer(const char *src, const char *dir, int64_t *vocab, int64_t *eos) {
    attn_tokenizer *tok = attn_tokenizer_load(src);
    if (!tok) return -1;
    *vocab = attn_tokenizer_vocab_size(tok);
    *eos = attn_tokenizer_eos(tok);
    attn_tokenizer_free(tok);
    size_t len;
    char json[4200], path[4200], *text;
    if (attn_checkpoint_tokenizer_json(src, json, sizeof json) || !(text = attn_read_file(json, &len))) return -1;
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    int rc = attn_write_file_atomic(path, text, len);
    free(text);
    return rc;
}

typedef struct {
    const char *tokenizer;
    attn_gpt2_config *c;
    uint64_t seed;
} init_job;

/* Fills the temporary folder that attn_checkpoint_save_with then swaps in whole: a full disk
 * leaves no half-written model behind, and a folder of other files is refused, not mixed. */
static int write_init(const char *dir, void *ctx) {
    init_job *j = ctx;
    char tok_path[4200];
    snprintf(tok_path, sizeof tok_path, "%s/tokenizer.json", dir);
    int rc = j->tokenizer ? copy_tokenizer(j->tokenizer, dir, &j->c->vocab, &j->c->eos_id)
                          : attn_tokenizer_write_bytelevel(tok_path);
    return rc ? rc : attn_gpt2_write_random(dir, j->c, j->seed);
}

int cmd_init(int argc, char **argv) {
    const char *out = NULL, *tokenizer = NULL, *dtype = "f32";
    int layers = 4, heads = 4, embd = 128, ctx = 512;
    uint64_t seed = 1;
    const opt_spec opts[] = {
        {"output", 'o', OPT_STR, &out, "folder to write config.json, model.safetensors, tokenizer.json", 0, 0},
        {"layers", 0, OPT_INT, &layers, "transformer blocks", 1, 80},
        {"heads", 0, OPT_INT, &heads, "attention heads", 1, 256},
        {"embd", 0, OPT_INT, &embd, "model width (divisible by heads)", 1, 16384},
        {"ctx", 0, OPT_INT, &ctx, "context length (positions)", 1, 1 << 20},
        {"tokenizer", 0, OPT_STR, &tokenizer, "tokenizer.json to use (default: 256 bytes + <|endoftext|>)", 0, 0},
        {"dtype", 0, OPT_STR, &dtype, "weight dtype: f32, f16 or bf16", 0, 0},
        {"seed", 's', OPT_U64, &seed, "random seed", 0, 0},
    };
    cmd_spec spec = {"init", "attn init -o DIR [--layers N --heads N --embd N --ctx N] [--tokenizer tokenizer.json]",
                     "Writes a GPT-2 checkpoint with random weights in Hugging Face's layout. Its output is noise:\n"
                     "it exists to test and benchmark the engine before a trained model is at hand.",
                     opts, (int)(sizeof opts / sizeof *opts)};
    int pr = args_parse(&spec, argc, argv);
    if (pr) return pr > 0 ? 0 : 2;
    if (!out) {
        fprintf(stderr, "attn init: -o DIR is required\n");
        return 2;
    }
    attn_gpt2_config c;
    attn_gpt2_config_defaults(&c);
    c.n_layer = layers, c.n_head = heads, c.n_embd = embd, c.n_ctx = ctx;
    if (strcmp(dtype, "f32") == 0) c.dtype = ATTN_F32;
    else if (strcmp(dtype, "f16") == 0) c.dtype = ATTN_F16;
    else if (strcmp(dtype, "bf16") == 0) c.dtype = ATTN_BF16;
    else {
        fprintf(stderr, "attn init: --dtype must be f32, f16 or bf16\n");
        return 2;
    }
    if (!tokenizer) c.vocab = ATTN_BYTELEVEL_VOCAB, c.eos_id = ATTN_BYTELEVEL_VOCAB - 1;
    init_job job = {tokenizer, &c, seed};
    if (attn_checkpoint_save_with(out, write_init, &job)) {
        fprintf(stderr, "attn init: %s\n", attn_last_error());
        return 1;
    }
    printf("wrote %s: GPT-2 with random weights, %d layers, width %d, %d heads, context %d, vocabulary %lld\n", out,
           layers, embd, heads, ctx, (long long)c.vocab);
    return 0;
}
