/* cmd_quantize.c - `attn quantize IN OUT --type TYPE [--pure]`: a GGUF or Hugging Face folder
 * to a quantized GGUF (format/quantize.h), with a line per tensor on stderr. */
#include <stdio.h>
#include <string.h>
#include "args.h"
#include "commands.h"
#include "core/common.h"
#include "format/quantize.h"

static void show_tensor(void *user, const attn_quant_progress *p) {
    (void)user;
    char shape[96] = "[";
    for (int d = 0; d < p->n_dims; d++)
        snprintf(shape + strlen(shape), sizeof shape - strlen(shape), "%s%lld", d ? ", " : "", (long long)p->ne[d]);
    snprintf(shape + strlen(shape), sizeof shape - strlen(shape), "]");
    fprintf(stderr, "[%*d/%d] %-32s %-5s %-14s -> %-5s %8.3f MiB -> %8.3f MiB%s%s\n", p->count >= 100 ? 3 : 2,
            p->index, p->count, p->name, attn_qtype_name((int)p->from), shape, attn_qtype_name((int)p->to),
            p->bytes_in / 1048576.0, p->bytes_out / 1048576.0, p->note ? "\n        note: " : "",
            p->note ? p->note : "");
}

int cmd_quantize(int argc, char **argv) {
    const char *type = NULL, *vocab = NULL, *isa = NULL;
    bool pure = false;
    int threads = 0;
    const opt_spec opts[] = {
        {"type", 0, OPT_STR, &type, "target type: q8_0, q4_0, q4_k_m, q6_k, f16... (see below)", 0, 0},
        {"pure", 0, OPT_FLAG, &pure, "every converted tensor gets TYPE (no llama.cpp per-tensor mix)", 0, 0},
        {"vocab", 0, OPT_STR, &vocab, "GGUF to copy the tokenizer from (Hugging Face input without tokenizer.json)", 0, 0},
        {"threads", 't', OPT_INT, &threads, "threads; 0 = all cores", 0, 512},
        {"isa", 0, OPT_STR, &isa, "force kernels: scalar, avx2 or avx512", 0, 0},
    };
    cmd_spec spec = {"quantize", "attn quantize IN OUT --type TYPE [--pure] [--vocab FILE.gguf]",
                     "Writes OUT, a GGUF of IN (a .gguf file, or a Hugging Face llama/mistral/gpt2 folder) with its\n"
                     "weights converted as llama.cpp's llama-quantize does. Types: f32, f16, bf16, q8_0, q4_0, q4_1,\n"
                     "q5_0, q5_1, q2_k, q3_k_s, q3_k_m, q3_k_l, q4_k_s, q4_k_m, q5_k_s, q5_k_m, q6_k; q3_k, q4_k and\n"
                     "q5_k mean the _m mixes, as in llama-quantize (add --pure for every weight in that type).",
                     opts, (int)(sizeof opts / sizeof *opts)};
    const char *in = argc > 0 && argv[0][0] != '-' ? argv[0] : NULL;
    const char *out = in && argc > 1 && argv[1][0] != '-' ? argv[1] : NULL;
    const int skip = (in != NULL) + (out != NULL);
    int pr = args_parse(&spec, argc - skip, argv + skip);
    if (pr) return pr > 0 ? 0 : 2;
    if (!in || !out || !type) {
        fprintf(stderr, "attn quantize: usage: %s\n", spec.usage);
        return 2;
    }
    const attn_quant_ftype *ft = attn_quant_ftype_find(type);
    if (!ft) {
        fprintf(stderr, "attn quantize: unknown type '%s' (known: %s)\n", type, attn_quant_ftype_names());
        return 2;
    }
    if (cli_setup_runtime("quantize", threads, isa, NULL, NULL)) return 2;
    attn_quant_params p = {.ftype = ft, .pure = pure, .vocab = vocab, .progress = show_tensor};
    attn_quant_stats st;
    double t0 = attn_time_s();
    if (attn_quantize_model(in, out, &p, &st) != 0) {
        fprintf(stderr, "attn quantize: %s\n", attn_last_error());
        return 1;
    }
    printf("wrote %s (%s%s): %d tensors, %d converted, %d fell back; %.2f MiB -> %.2f MiB in %.1f s\n", out, ft->name,
           pure ? ", pure" : "", st.n_tensors, st.n_converted, st.n_fallback, st.bytes_in / 1048576.0,
           st.bytes_out / 1048576.0, attn_time_s() - t0);
    if (st.no_tokenizer)
        fprintf(stderr, "note: %s has no tokenizer, so neither has %s: attn runs it on token ids (--ids), llama.cpp "
                        "will not load it\n", in, out);
    return 0;
}
