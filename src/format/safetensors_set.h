/* safetensors_set.h - the weights of one checkpoint as Hugging Face saves them: either a
 * single .safetensors file, or a sharded checkpoint, model.safetensors.index.json
 * ({"metadata": {...}, "weight_map": {"tensor name": "model-00001-of-00002.safetensors"}})
 * with its shard files beside it. Every shard is mapped and validated at open (see
 * safetensors.h), and every tensor the weight map names must be in the shard it names, so
 * a model only ever asks "where is tensor X". */
#ifndef ATTN_SAFETENSORS_SET_H
#define ATTN_SAFETENSORS_SET_H

#include "safetensors.h"

typedef struct attn_st_set attn_st_set;

/* path: a .safetensors file or a .json index. NULL + attn_last_error() naming the file,
 * the shard or the entry at fault. */
attn_st_set *attn_st_set_open(const char *path);
void attn_st_set_close(attn_st_set *s); /* NULL is a no-op */

/* The tensor called `name` in whichever file holds it, loadable or not (check ->loadable);
 * NULL if the checkpoint has none. `file` (may be NULL) receives the path of that file. */
const attn_st_tensor *attn_st_set_find(const attn_st_set *s, const char *name, const char **file);

int attn_st_set_count(const attn_st_set *s);                     /* files */
const attn_safetensors *attn_st_set_at(const attn_st_set *s, int i); /* NULL if out of range */
const char *attn_st_set_path(const attn_st_set *s);               /* the path given to open */

#endif
