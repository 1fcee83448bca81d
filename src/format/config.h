/* config.h - typed, range-checked reads from a JSON config (HF config.json and friends):
 * each getter names the file and key in its error, so a bad config is reported precisely. */
#ifndef ATTN_FORMAT_CONFIG_H
#define ATTN_FORMAT_CONFIG_H

#include <jansson.h>
#include <stdint.h>

/* Loads a JSON object from a file; NULL with an error naming the file and position. */
json_t *attn_json_load_object(const char *path);

/* A missing key or JSON null gives `def`; a wrong type or a value outside [lo, hi] is an
 * error (-1). `file` names the source in messages. */
int attn_cfg_int(json_t *obj, const char *file, const char *key, int64_t def, int64_t lo, int64_t hi, int64_t *out);
int attn_cfg_float(json_t *obj, const char *file, const char *key, double def, double lo, double hi, double *out);
int attn_cfg_bool(json_t *obj, const char *file, const char *key, int def, int *out);
/* Returns the string value, `def` when missing, NULL (with error) on a wrong type. */
const char *attn_cfg_str(json_t *obj, const char *file, const char *key, const char *def);

#endif
