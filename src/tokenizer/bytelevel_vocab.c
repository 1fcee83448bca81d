/* bytelevel_vocab.c - writes the smallest byte-level BPE tokenizer.json: one token per
 * byte (GPT-2's byte-to-unicode alphabet) plus <|endoftext|>, no merges. It is the
 * tokenizer of randomly initialised models that have no trained vocabulary yet. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include "core/common.h"
#include "format/fileio.h"
#include "tokenizer/bytelevel_vocab.h"

/* GPT-2's mapping: printable Latin-1 bytes map to themselves, the rest to U+0100.. */
static uint32_t byte_to_codepoint(int b) {
    if ((b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF)) return (uint32_t)b;
    int n = 0;
    for (int x = 0; x < b; x++)
        if (!((x >= '!' && x <= '~') || (x >= 0xA1 && x <= 0xAC) || (x >= 0xAE && x <= 0xFF))) n++;
    return 256u + (uint32_t)n;
}

static void utf8(uint32_t cp, char out[4]) {
    if (cp < 0x80) out[0] = (char)cp, out[1] = 0;
    else out[0] = (char)(0xC0 | (cp >> 6)), out[1] = (char)(0x80 | (cp & 0x3F)), out[2] = 0;
}

int attn_tokenizer_write_bytelevel(const char *path) {
    json_t *vocab = json_object(), *added = json_array();
    for (int b = 0; b < 256; b++) {
        char s[4];
        utf8(byte_to_codepoint(b), s);
        json_object_set_new(vocab, s, json_integer(b));
    }
    json_object_set_new(vocab, "<|endoftext|>", json_integer(256));
    json_array_append_new(added, json_pack("{s:i, s:s, s:b, s:b, s:b, s:b, s:b}", "id", 256, "content", "<|endoftext|>",
                                           "single_word", 0, "lstrip", 0, "rstrip", 0, "normalized", 0, "special", 1));
    json_t *root = json_pack("{s:s, s:o, s:{s:s, s:b, s:b, s:b}, s:{s:s}, s:{s:s, s:o, s:[]}}", "version", "1.0",
                             "added_tokens", added, "pre_tokenizer", "type", "ByteLevel", "add_prefix_space", 0,
                             "trim_offsets", 1, "use_regex", 1, "decoder", "type", "ByteLevel", "model", "type", "BPE",
                             "vocab", vocab, "merges");
    if (!root) return attn_error("cannot build tokenizer.json");
    char *text = json_dumps(root, JSON_INDENT(1));
    json_decref(root);
    int rc = text ? attn_write_file_atomic(path, text, strlen(text)) : attn_error("cannot format tokenizer.json");
    free(text);
    return rc;
}
