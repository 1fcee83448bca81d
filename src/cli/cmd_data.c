/* cmd_data.c - `attn data` (being written; this stub keeps the command table linking). */
#include <stdio.h>
#include "commands.h"

int cmd_data(int argc, char **argv) {
    (void)argc, (void)argv;
    fprintf(stderr, "attn data: not implemented yet\n");
    return 1;
}
