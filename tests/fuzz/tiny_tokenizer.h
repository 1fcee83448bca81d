/* tiny_tokenizer.h - for the fuzz targets: the merge-free byte-level tokenizer the random
 * model uses (256 byte tokens and <|endoftext|>), written as a tokenizer.json and loaded,
 * so a target needs no data files. */
#ifndef ATTN_FUZZ_TINY_TOKENIZER_H
#define ATTN_FUZZ_TINY_TOKENIZER_H

#include <stdio.h>
#include <stdlib.h>
#include "tokenizer/bpe.h"
#include "tokenizer/bpe_internal.h"

static void write_or_die(const char *path, const void *buf, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(buf, 1, n, f) != n || fclose(f) != 0) abort();
}

/* Written to path (a scratch file the caller names) and loaded; aborts on failure. */
static attn_tokenizer *tiny_tokenizer(const char *path) {
    char json[8192];
    size_t o = (size_t)snprintf(json, sizeof json, "{\"model\": {\"vocab\": {");
    for (int b = 0; b < 256; b++)
        o += (size_t)snprintf(json + o, sizeof json - o, "%s\"\\u%04x\": %d", b ? ", " : "",
                              (unsigned)bpe_byte_to_unicode((uint8_t)b), b);
    o += (size_t)snprintf(json + o, sizeof json - o, "}, \"merges\": []}, \"added_tokens\": [{\"id\": "
                          "256, \"content\": \"<|endoftext|>\", \"special\": true}]}");
    write_or_die(path, json, o);
    attn_tokenizer *t = attn_tokenizer_load(path);
    if (!t) abort();
    return t;
}

#endif
