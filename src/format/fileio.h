/* fileio.h - atomic whole-file writes, used by every writer in attn (checkpoints,
 * safetensors, GGUF, JSON). A reader of PATH sees either the old file or the complete new
 * one, never a torn mix, even if the process or the machine dies mid-write:
 *
 *   attn_atomic_file *f = attn_atomic_open(path);     creates PATH.tmp.XXXXXX beside PATH
 *   attn_atomic_write(f, data, n) ...                 any number of times
 *   attn_atomic_commit(f);                            fsync, rename over PATH, fsync the dir
 *   (or attn_atomic_abort(f) to drop the temp file and leave PATH untouched)
 *
 * A failed write makes the handle sticky-failed: later writes do nothing and commit
 * removes the temp file and returns -1, so callers may check only the commit.
 * The new file keeps the mode of the file it replaces, or gets 0644 when PATH is new.
 * All functions return 0 / non-NULL on success, -1 / NULL with attn_last_error() set. */
#ifndef ATTN_FILEIO_H
#define ATTN_FILEIO_H

#include <stddef.h>

typedef struct attn_atomic_file attn_atomic_file;

attn_atomic_file *attn_atomic_open(const char *path);
/* -1 with an error when path exists and is not a regular file (a device, a folder): what
 * attn_atomic_open refuses, for writers that want to know before hours of work. */
int attn_output_path_check(const char *path);
/* -1 with an error when out names the same file or folder as in, by any path (compared by
 * device and inode): writing it would replace the input while it is read. */
int attn_output_not_input(const char *out, const char *in);
int attn_atomic_write(attn_atomic_file *f, const void *data, size_t n);
int attn_atomic_commit(attn_atomic_file *f); /* frees f, also on failure */
void attn_atomic_abort(attn_atomic_file *f); /* frees f; NULL is a no-op */
const char *attn_atomic_path(const attn_atomic_file *f); /* the final path, for messages */

/* open + write + commit in one call. */
int attn_write_file_atomic(const char *path, const void *data, size_t n);

/* The readers' mappings (private, read-only): the caller no longer reads [data, data+n) of
 * the map_len bytes mapped at map, so its pages leave the process's memory (clean file
 * pages: a later read maps them again). Ranges outside the mapping are ignored. */
void attn_mapped_release(const void *map, size_t map_len, const void *data, size_t n);

#endif
