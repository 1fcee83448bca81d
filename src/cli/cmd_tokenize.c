/* cmd_tokenize.c - `attn tokenize`: print the ids (or id and piece per line) of a text, as
 * `attn generate` feeds them to the model: with the tokenizer's BOS in front when it adds one
 * (llama-tokenize's default; --no-bos leaves it out). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "args.h"
#include "commands.h"
#include "core/common.h"

int cmd_tokenize(int argc, char **argv) {
    const char *model = NULL, *tokenizer = NULL, *prompt = NULL, *file = NULL;
    bool special = false, show = false, count = false, no_bos = false;
    const opt_spec opts[] = {
        {"model", 'm', OPT_STR, &model, "model folder whose tokenizer to use", 0, 0},
        {"tokenizer", 0, OPT_STR, &tokenizer, "tokenizer.json, or a folder with vocab.json + merges.txt", 0, 0},
        {"prompt", 'p', OPT_STR, &prompt, "text to tokenize", 0, 0},
        {"file", 'f', OPT_STR, &file, "tokenize a file's contents", 0, 0},
        {"special", 0, OPT_FLAG, &special, "turn special-token text like <|endoftext|> into its id", 0, 0},
        {"no-bos", 0, OPT_FLAG, &no_bos, "leave out the BOS the tokenizer puts before a prompt (Llama 2/3 GGUFs)", 0, 0},
        {"show", 0, OPT_FLAG, &show, "print each id with its text, one per line", 0, 0},
        {"count", 0, OPT_FLAG, &count, "print only the number of tokens", 0, 0},
    };
    cmd_spec spec = {"tokenize", "attn tokenize (-m MODEL | --tokenizer PATH) (-p TEXT | -f FILE) [options]",
                     "Prints the token ids of the text, separated by spaces: BOS first when the tokenizer\n"
                     "adds one to prompts, as `attn generate` and llama-tokenize do.",
                     opts, (int)(sizeof opts / sizeof *opts)};
    int pr = args_parse(&spec, argc, argv);
    if (pr) return pr > 0 ? 0 : 2;
    if (!!prompt + !!file != 1) {
        fprintf(stderr, "attn tokenize: give exactly one of -p TEXT or -f FILE\n");
        return 2;
    }
    if (!model && !tokenizer) {
        fprintf(stderr, "attn tokenize: give -m MODEL or --tokenizer PATH\n");
        return 2;
    }
    attn_tokenizer *tok = cli_load_tokenizer("tokenize", tokenizer, model, true);
    if (!tok) return 1;
    size_t len = 0;
    char *text = file ? cli_read_text("tokenize", file, &len) : NULL;
    if (!file) len = strlen(prompt);
    int32_t *ids = NULL;
    int n = 0, rc = 1;
    if (file && !text) goto out;
    int rc_enc = no_bos ? attn_tokenizer_encode(tok, text ? text : prompt, len, special, &ids, &n)
                        : attn_tokenizer_encode_prompt(tok, text ? text : prompt, len, special, &ids, &n);
    if (rc_enc != 0) {
        fprintf(stderr, "attn tokenize: %s\n", attn_last_error());
        goto out;
    }
    if (count) printf("%d\n", n);
    for (int i = 0; !count && i < n; i++) {
        if (show) {
            size_t bl = 0;
            const char *b = attn_tokenizer_token_bytes(tok, ids[i], &bl);
            printf("%6d ", ids[i]);
            cli_print_json_string(b ? b : "", bl);
            printf("\n");
        } else {
            printf(i ? " %d" : "%d", ids[i]);
        }
    }
    if (!count && !show) printf("\n");
    rc = 0;
out:
    free(ids), free(text);
    attn_tokenizer_free(tok);
    return rc;
}
