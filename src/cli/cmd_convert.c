/* cmd_convert.c - `attn convert`: copy a model folder with its weights in another dtype
 * (config.json, tokenizer files and the rest are copied as they are; the config's
 * torch_dtype is updated for GPT-2 folders). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "args.h"
#include "commands.h"
#include "core/common.h"
#include "format/convert.h"
#include "format/fileio.h"
#include "model/gpt2_config.h"
#include "train/checkpoint.h"

static int copy_file(const char *from_dir, const char *to_dir, const char *name) {
    char src[4200], dst[4200];
    snprintf(src, sizeof src, "%s/%s", from_dir, name);
    snprintf(dst, sizeof dst, "%s/%s", to_dir, name);
    struct stat st;
    if (stat(src, &st) != 0) return 0; /* optional file */
    size_t len;
    char *data = attn_read_file(src, &len);
    int rc = data ? attn_write_file_atomic(dst, data, len) : -1;
    free(data);
    return rc;
}

typedef struct {
    const char *in;
    attn_dtype to;
} convert_job;

/* Fills the temporary folder that attn_checkpoint_save_with swaps in whole: a full disk
 * leaves no half-written model, and a folder of other files is refused, not mixed. */
static int write_converted(const char *out, void *ctx) {
    const convert_job *j = ctx;
    char src[4200], dst[4200];
    snprintf(src, sizeof src, "%s/model.safetensors", j->in);
    snprintf(dst, sizeof dst, "%s/model.safetensors", out);
    const char *extra[] = {"tokenizer.json", "vocab.json", "merges.txt", "tokenizer_config.json",
                           "special_tokens_map.json", "generation_config.json"};
    int rc = attn_safetensors_convert(src, dst, j->to);
    for (size_t i = 0; rc == 0 && i < sizeof extra / sizeof *extra; i++) rc = copy_file(j->in, out, extra[i]);
    snprintf(src, sizeof src, "%s/config.json", j->in);
    attn_gpt2_config c;
    if (rc != 0) return rc;
    if (attn_gpt2_config_read(src, &c) != 0) return copy_file(j->in, out, "config.json");
    c.dtype = j->to;
    return attn_gpt2_config_write(out, &c);
}

int cmd_convert(int argc, char **argv) {
    const char *in = NULL, *out = NULL, *dtype = "f16";
    const opt_spec opts[] = {
        {"model", 'm', OPT_STR, &in, "model folder to read (config.json + model.safetensors)", 0, 0},
        {"output", 'o', OPT_STR, &out, "folder to write", 0, 0},
        {"dtype", 0, OPT_STR, &dtype, "weight dtype to write: f32, f16 or bf16", 0, 0},
    };
    cmd_spec spec = {"convert", "attn convert -m MODEL -o OUT [--dtype f16|bf16|f32]",
                     "Writes a copy of a model folder with its weights converted to another dtype.", opts,
                     (int)(sizeof opts / sizeof *opts)};
    int pr = args_parse(&spec, argc, argv);
    if (pr) return pr > 0 ? 0 : 2;
    attn_dtype to = strcmp(dtype, "f32") == 0 ? ATTN_F32 : strcmp(dtype, "f16") == 0 ? ATTN_F16
                  : strcmp(dtype, "bf16") == 0 ? ATTN_BF16 : ATTN_DTYPE_COUNT;
    if (!in || !out || to == ATTN_DTYPE_COUNT) {
        fprintf(stderr, "attn convert: give -m MODEL, -o OUT and --dtype f32, f16 or bf16\n");
        return 2;
    }
    if (attn_output_not_input(out, in) != 0) { /* the folder itself: its files would be replaced as read */
        fprintf(stderr, "attn convert: %s\n", attn_last_error());
        return 1;
    }
    convert_job job = {in, to};
    int rc = attn_checkpoint_save_with(out, write_converted, &job);
    if (rc != 0) {
        fprintf(stderr, "attn convert: %s\n", attn_last_error());
        return 1;
    }
    printf("wrote %s (%s weights)\n", out, dtype);
    return 0;
}
