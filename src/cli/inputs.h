/* inputs.h - lets `-i FILE...` take several files after one flag (attn tokenizer train,
 * attn data prepare), on top of the shared option parser, which takes one value per flag. */
#ifndef ATTN_CLI_INPUTS_H
#define ATTN_CLI_INPUTS_H

/* Returns a malloc'd argv (free the array only) where "-i a b c" reads "-i a -i b -i c";
 * NULL when out of memory. */
char **cli_expand_inputs(int argc, char **argv, int *argc_out);

#endif
