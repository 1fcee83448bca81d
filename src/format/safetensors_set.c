/* safetensors_set.c - single-file and sharded (index.json) safetensors checkpoints. */
#include "safetensors_set.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "config.h"
#include "core/common.h"

#define MAX_SHARDS 4096

struct attn_st_set {
    char *path;
    json_t *index;      /* the index file's root, NULL for a single file */
    json_t *weight_map; /* borrowed from index: tensor name -> shard file name */
    json_t *shard_of;   /* shard file name -> its position in files (integer) */
    attn_safetensors **files;
    int n_files;
};

void attn_st_set_close(attn_st_set *s) {
    if (!s) return;
    for (int i = 0; i < s->n_files; i++) attn_safetensors_close(s->files[i]);
    free(s->files);
    json_decref(s->shard_of);
    json_decref(s->index);
    free(s->path);
    free(s);
}

static int add_file(attn_st_set *s, const char *path) {
    if (s->n_files >= MAX_SHARDS) return attn_error("%s: more than %d shard files", s->path, MAX_SHARDS);
    attn_safetensors **grown = realloc(s->files, (size_t)(s->n_files + 1) * sizeof *grown);
    if (!grown) return attn_error("out of memory opening %s", s->path);
    s->files = grown;
    if (!(s->files[s->n_files] = attn_safetensors_open(path))) return -1;
    s->n_files++;
    return 0;
}

/* Shard names are bare file names in the index's folder: anything else could reach
 * files outside the checkpoint. */
static int open_shard(attn_st_set *s, const char *dir, const char *tensor, const char *shard) {
    if (!*shard || strchr(shard, '/') || strcmp(shard, ".") == 0 || strcmp(shard, "..") == 0)
        return attn_error("%s: weight_map entry '%s' names \"%s\"; expected a file name in the same folder", s->path,
                          tensor, shard);
    if (json_object_get(s->shard_of, shard)) return 0;
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, shard);
    if (add_file(s, path) != 0) return -1;
    return json_object_set_new(s->shard_of, shard, json_integer(s->n_files - 1)) ? attn_error("out of memory") : 0;
}

/* Opens every shard the map names and checks that each tensor is where the map says. */
static int open_index(attn_st_set *s) {
    if (!(s->index = attn_json_load_object(s->path))) return -1;
    s->weight_map = json_object_get(s->index, "weight_map");
    if (!json_is_object(s->weight_map) || json_object_size(s->weight_map) == 0)
        return attn_error("%s: no \"weight_map\" object naming each tensor's file", s->path);
    if (!(s->shard_of = json_object())) return attn_error("out of memory");
    char dir[4096];
    attn_path_dir(s->path, dir, sizeof dir);
    const char *tensor;
    json_t *file;
    json_object_foreach(s->weight_map, tensor, file) {
        if (!json_is_string(file)) return attn_error("%s: weight_map entry '%s' is not a file name", s->path, tensor);
        if (open_shard(s, dir, tensor, json_string_value(file)) != 0) return -1;
        const char *where;
        if (!attn_st_set_find(s, tensor, &where))
            return attn_error("%s: tensor '%s' is not in %s, where weight_map puts it", s->path, tensor, where);
    }
    return 0;
}

attn_st_set *attn_st_set_open(const char *path) {
    attn_st_set *s = calloc(1, sizeof *s);
    if (!s || !(s->path = strdup(path))) {
        free(s);
        attn_error("out of memory");
        return NULL;
    }
    int rc = attn_ends_with(path, ".json") ? open_index(s) : add_file(s, path);
    if (rc != 0) {
        attn_st_set_close(s);
        return NULL;
    }
    return s;
}

const attn_st_tensor *attn_st_set_find(const attn_st_set *s, const char *name, const char **file) {
    int i = 0;
    if (s->weight_map) {
        json_t *shard = json_object_get(s->weight_map, name);
        if (!shard) return NULL;
        i = (int)json_integer_value(json_object_get(s->shard_of, json_string_value(shard)));
    }
    if (file) *file = attn_safetensors_path(s->files[i]);
    return attn_safetensors_find_any(s->files[i], name);
}

int attn_st_set_count(const attn_st_set *s) { return s->n_files; }

const attn_safetensors *attn_st_set_at(const attn_st_set *s, int i) {
    return i >= 0 && i < s->n_files ? s->files[i] : NULL;
}

const char *attn_st_set_path(const attn_st_set *s) { return s->path; }
