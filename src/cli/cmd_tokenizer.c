/* cmd_tokenizer.c - `attn tokenizer` (being written; this stub keeps the command table linking). */
#include <stdio.h>
#include "commands.h"

int cmd_tokenizer(int argc, char **argv) {
    (void)argc, (void)argv;
    fprintf(stderr, "attn tokenizer: not implemented yet\n");
    return 1;
}
