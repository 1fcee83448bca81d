/* config.c - checked JSON config getters on top of jansson. */
#include "config.h"

#include "core/common.h"

json_t *attn_json_load_object(const char *path) {
    json_error_t err;
    json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &err);
    if (!root && err.line < 0) { /* jansson could not read the file at all */
        attn_error("%s: cannot read: %s", path, err.text);
        return NULL;
    }
    if (!root) {
        attn_error("%s: invalid JSON at line %d column %d: %s", path, err.line, err.column, err.text);
        return NULL;
    }
    if (!json_is_object(root)) {
        json_decref(root);
        attn_error("%s: expected a JSON object at the top level", path);
        return NULL;
    }
    return root;
}

int attn_cfg_int(json_t *obj, const char *file, const char *key, int64_t def, int64_t lo, int64_t hi, int64_t *out) {
    json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v)) {
        *out = def;
        return 0;
    }
    if (!json_is_integer(v)) return attn_error("%s: \"%s\" must be an integer", file, key);
    int64_t x = json_integer_value(v);
    if (x < lo || x > hi)
        return attn_error("%s: \"%s\" = %lld is out of range [%lld, %lld]", file, key, (long long)x, (long long)lo,
                          (long long)hi);
    *out = x;
    return 0;
}

int attn_cfg_float(json_t *obj, const char *file, const char *key, double def, double lo, double hi, double *out) {
    json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v)) {
        *out = def;
        return 0;
    }
    if (!json_is_number(v)) return attn_error("%s: \"%s\" must be a number", file, key);
    double x = json_number_value(v);
    if (!(x >= lo && x <= hi)) return attn_error("%s: \"%s\" = %g is out of range [%g, %g]", file, key, x, lo, hi);
    *out = x;
    return 0;
}

int attn_cfg_bool(json_t *obj, const char *file, const char *key, int def, int *out) {
    json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v)) {
        *out = def;
        return 0;
    }
    if (!json_is_boolean(v)) return attn_error("%s: \"%s\" must be true or false", file, key);
    *out = json_is_true(v);
    return 0;
}

const char *attn_cfg_str(json_t *obj, const char *file, const char *key, const char *def) {
    json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v)) return def;
    if (!json_is_string(v)) {
        attn_error("%s: \"%s\" must be a string", file, key);
        return NULL;
    }
    return json_string_value(v);
}
