/* simple.c - the smallest complete program on libattn's public API: load a model and its
 * tokenizer, continue a prompt, stream the text as it comes. Built by `make` (with only
 * include/ on the include path, so it proves the public headers suffice):
 *
 *     build/examples/simple ~/.cache/attn/models/SmolLM2-135M-Instruct.Q4_1.gguf "Once upon a time" 48
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <attn/attn.h>

static int print_text(void *user, const char *text, size_t len) {
    (void)user;
    fwrite(text, 1, len, stdout);
    fflush(stdout);
    return 0; /* non-zero would stop the generation */
}

int main(int argc, char **argv) {
    if (argc < 2 || argc > 4) {
        fprintf(stderr, "usage: %s MODEL [PROMPT] [MAX_TOKENS]\n"
                        "MODEL: a .gguf file, a Hugging Face folder (config.json + safetensors) or llama2.c .bin\n", argv[0]);
        return 2;
    }
    const char *path = argv[1], *prompt = argc > 2 ? argv[2] : "Once upon a time";
    int max_tokens = argc > 3 ? atoi(argv[3]) : 48;

    attn_model *model = attn_model_load(path);
    attn_tokenizer *tok = model ? attn_tokenizer_load_for_model(path) : NULL;
    int32_t *ids = NULL;
    int n_ids = 0, rc = 1;
    attn_generate_result result = {0};
    if (!tok || attn_tokenizer_encode_prompt(tok, prompt, strlen(prompt), false, &ids, &n_ids) != 0) goto out;

    attn_generate_params params;
    attn_generate_defaults(&params);
    params.max_tokens = max_tokens;
    params.sampling.temperature = 0; /* greedy: the same text every run */
    params.on_text = print_text;
    fputs(prompt, stdout);
    if (attn_generate(model, tok, ids, n_ids, &params, &result) != 0) goto out;
    printf("\n\n%d prompt tokens, %d generated (%s), %.1f tokens/s\n", result.n_prompt, result.n_generated,
           result.finish_reason, result.gen_s > 0 ? (result.n_generated - 1) / result.gen_s : 0.0);
    rc = 0;
out:
    if (rc) fprintf(stderr, "%s: %s\n", argv[0], attn_last_error());
    attn_generate_result_free(&result);
    free(ids);
    attn_tokenizer_free(tok);
    attn_model_free(model);
    return rc;
}
