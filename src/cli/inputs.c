/* inputs.c - see inputs.h. */
#include "inputs.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

static bool is_input_flag(const char *a) { return strcmp(a, "-i") == 0 || strcmp(a, "--input") == 0; }

char **cli_expand_inputs(int argc, char **argv, int *argc_out) {
    char **out = malloc((2 * (size_t)argc + 1) * sizeof *out);
    if (!out) return NULL;
    int n = 0;
    bool in_inputs = false; /* the last flag seen was -i */
    for (int i = 0; i < argc; i++) {
        bool bare = argv[i][0] != '-' || argv[i][1] == 0;
        if (!bare) in_inputs = is_input_flag(argv[i]);
        else if (in_inputs && i > 0 && !is_input_flag(argv[i - 1])) out[n++] = "-i";
        out[n++] = argv[i];
    }
    out[n] = NULL;
    *argc_out = n;
    return out;
}
