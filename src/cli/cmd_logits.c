/* cmd_logits.c - `attn logits`: raw float32 logits for given token ids, for comparing with
 * reference implementations (tools/check_gpt2_reference.py). */
#include <stdio.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <unistd.h>
#include "args.h"
#include "commands.h"
#include "core/common.h"
#include "format/fileio.h"

/* -o must not be the model file, nor a file already in a model folder (its weights, config or
 * tokenizer): the logits would replace it whole. A new file there is harmless. */
static int output_apart(const char *out, const char *model) {
    struct stat m, d;
    if (stat(model, &m) != 0 || !S_ISDIR(m.st_mode)) return attn_output_not_input(out, model);
    char dir[4096];
    attn_path_dir(out, dir, sizeof dir);
    if (access(out, F_OK) == 0 && stat(dir, &d) == 0 && d.st_dev == m.st_dev && d.st_ino == m.st_ino)
        return attn_error("%s is inside the model folder %s: writing it could replace the model's files; choose "
                          "another output", out, model);
    return 0;
}

int cmd_logits(int argc, char **argv) {
    const char *model = NULL, *ids_s = NULL, *out = NULL, *isa = NULL, *matmul = NULL, *kv_type = NULL;
    bool all = false, incremental = false;
    int threads = 0;
    const opt_spec opts[] = {
        {"model", 'm', OPT_STR, &model, "model folder or .safetensors file", 0, 0},
        {"ids", 0, OPT_STR, &ids_s, "token ids, e.g. \"464 3290 318\"", 0, 0},
        {"output", 'o', OPT_STR, &out, "file for float32 little-endian logits [rows][vocab]", 0, 0},
        {"all", 0, OPT_FLAG, &all, "logits at every position (default: only the last)", 0, 0},
        {"incremental", 0, OPT_FLAG, &incremental, "feed one token at a time through the KV cache", 0, 0},
        {"threads", 't', OPT_INT, &threads, "threads; 0 = all cores", 0, 512},
        {"isa", 0, OPT_STR, &isa, "force kernels: scalar, avx2 or avx512", 0, 0},
        {"matmul", 0, OPT_STR, &matmul, CLI_MATMUL_HELP, 0, 0},
        {"kv-type", 0, OPT_STR, &kv_type, CLI_KV_HELP, 0, 0},
    };
    cmd_spec spec = {"logits", "attn logits -m MODEL --ids \"1 2 3\" -o OUT.f32 [--all] [--incremental]",
                     "Runs the ids through the model and writes the raw logits.", opts, (int)(sizeof opts / sizeof *opts)};
    int pr = args_parse(&spec, argc, argv);
    if (pr) return pr > 0 ? 0 : 2;
    if (!ids_s || !out) {
        fprintf(stderr, "attn logits: --ids and -o are required\n");
        return 2;
    }
    if (cli_setup_runtime("logits", threads, isa, matmul, kv_type)) return 2;
    if (model && output_apart(out, model) != 0) {
        fprintf(stderr, "attn logits: %s\n", attn_last_error());
        return 1;
    }
    int32_t *ids = NULL;
    int n = 0;
    if (args_parse_ids(ids_s, &ids, &n) != 0) return 2;
    if (n == 0) {
        fprintf(stderr, "attn logits: --ids is empty\n");
        free(ids);
        return 2;
    }
    attn_model *m = cli_load_model("logits", model);
    if (!m) {
        free(ids);
        return 1;
    }
    int64_t V = attn_model_get_info(m)->vocab_size, rows = all ? n : 1;
    float *logits = malloc((size_t)(rows * V) * sizeof(float));
    int rc = 1;
    if (!logits) goto out;
    if (incremental) {
        for (int i = 0; i < n; i++) {
            float *dst = all ? logits + i * V : logits;
            if (attn_model_forward(m, ids + i, 1, dst, false) != 0) goto fail;
        }
    } else if (attn_model_forward(m, ids, n, logits, all) != 0) {
        goto fail;
    }
    rc = attn_write_file_atomic(out, logits, (size_t)(rows * V) * sizeof(float)) ? 1 : 0;
    if (rc) fprintf(stderr, "attn logits: %s\n", attn_last_error());
    goto out;
fail:
    fprintf(stderr, "attn logits: %s\n", attn_last_error());
out:
    free(logits), free(ids);
    attn_model_free(m);
    return rc;
}
