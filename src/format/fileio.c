/* fileio.c - atomic whole-file writes: write a temp file in the target's directory (so
 * the final rename stays on one filesystem and is atomic), fsync it, rename it over the
 * target, then fsync the directory so the rename itself survives a crash. */
#include "format/fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/common.h"

struct attn_atomic_file {
    int fd;
    int failed; /* a write failed: commit must not publish a partial file */
    char *path;
    char *tmp;
};

/* The directory holding `path` ("." for a bare name), as a new string. */
static char *dir_of(const char *path) {
    size_t cap = strlen(path) + 2;
    char *dir = malloc(cap);
    if (dir) attn_path_dir(path, dir, cap);
    return dir;
}

static const char *errno_hint(int err) {
    switch (err) {
    case ENOENT: return " (does the directory exist?)";
    case EACCES: case EPERM: return " (is the directory writable?)";
    case ENOSPC: return " (the disk is full)";
    case EROFS: return " (the filesystem is read-only)";
    default: return "";
    }
}

/* Keeps a replaced file's permissions; a fresh file gets 0644 instead of mkstemp's 0600
 * so that other users and tools can read models and checkpoints as usual. */
static void set_mode(int fd, const char *path) {
    struct stat st;
    mode_t mode = 0644;
    if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) mode = st.st_mode & 07777;
    (void)fchmod(fd, mode); /* best effort: a wrong mode is not worth failing a save */
}

static void free_handle(attn_atomic_file *f) {
    free(f->path);
    free(f->tmp);
    free(f);
}

int attn_output_path_check(const char *path) {
    struct stat st; /* renaming over a device, pipe or folder would replace it, not write to it */
    if (stat(path, &st) == 0 && !S_ISREG(st.st_mode))
        return attn_error("%s exists and is not a regular file: attn writes its output files whole, as new files", path);
    return 0;
}

int attn_output_not_input(const char *out, const char *in) {
    struct stat o, i;
    if (stat(out, &o) == 0 && stat(in, &i) == 0 && o.st_dev == i.st_dev && o.st_ino == i.st_ino)
        return attn_error("%s is the input %s itself: writing it would overwrite the input; choose another output", out,
                          in);
    return 0;
}

attn_atomic_file *attn_atomic_open(const char *path) {
    if (!path || !*path) {
        attn_error("atomic write: empty output path");
        return NULL;
    }
    if (attn_output_path_check(path)) return NULL;
    attn_atomic_file *f = calloc(1, sizeof *f);
    size_t len = strlen(path);
    if (f) f->path = strdup(path);
    if (f) f->tmp = malloc(len + sizeof ".tmp.XXXXXX");
    if (!f || !f->path || !f->tmp) {
        if (f) free_handle(f);
        attn_error("%s: out of memory", path);
        return NULL;
    }
    memcpy(f->tmp, path, len);
    memcpy(f->tmp + len, ".tmp.XXXXXX", sizeof ".tmp.XXXXXX");
    f->fd = mkostemp(f->tmp, O_CLOEXEC);
    if (f->fd < 0) {
        int err = errno;
        char *dir = dir_of(path);
        attn_error("%s: cannot create a temporary file in '%s': %s%s", path, dir ? dir : "?",
                   strerror(err), errno_hint(err));
        free(dir);
        free_handle(f);
        return NULL;
    }
    set_mode(f->fd, path);
    return f;
}

int attn_atomic_write(attn_atomic_file *f, const void *data, size_t n) {
    if (!f) return attn_error("atomic write: no file (open failed)");
    if (f->failed) return -1;
    const char *p = data;
    while (n > 0) {
        /* Linux write() moves at most ~2 GiB per call; chunking keeps short writes rare. */
        size_t chunk = n < ((size_t)1 << 30) ? n : ((size_t)1 << 30);
        ssize_t w = write(f->fd, p, chunk);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            int err = w < 0 ? errno : EIO;
            f->failed = 1;
            return attn_error("%s: write to '%s' failed: %s%s", f->path, f->tmp, strerror(err),
                              errno_hint(err));
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* fsync of the directory makes the rename durable. Some filesystems cannot fsync a
 * directory (EINVAL); the rename is then as durable as that filesystem allows. */
static int sync_dir(const char *path) {
    char *dir = dir_of(path);
    if (!dir) return attn_error("%s: out of memory", path);
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int rc = 0;
    if (fd < 0 || (fsync(fd) != 0 && errno != EINVAL)) {
        rc = attn_error("%s: written, but syncing directory '%s' failed: %s", path, dir,
                        strerror(errno));
    }
    if (fd >= 0) close(fd);
    free(dir);
    return rc;
}

int attn_atomic_commit(attn_atomic_file *f) {
    if (!f) return attn_error("atomic write: no file (open failed)");
    if (f->failed) {
        attn_atomic_abort(f);
        return -1; /* the failed write already recorded the reason */
    }
    int rc = 0;
    if (fsync(f->fd) != 0) rc = attn_error("%s: fsync of '%s' failed: %s", f->path, f->tmp, strerror(errno));
    /* close() reports delayed write errors on some filesystems (NFS): check it too. */
    if (close(f->fd) != 0 && rc == 0)
        rc = attn_error("%s: closing '%s' failed: %s", f->path, f->tmp, strerror(errno));
    f->fd = -1;
    if (rc == 0 && rename(f->tmp, f->path) != 0)
        rc = attn_error("%s: renaming '%s' over it failed: %s", f->path, f->tmp, strerror(errno));
    if (rc != 0) {
        unlink(f->tmp);
        free_handle(f);
        return -1;
    }
    rc = sync_dir(f->path);
    free_handle(f);
    return rc;
}

void attn_atomic_abort(attn_atomic_file *f) {
    if (!f) return;
    if (f->fd >= 0) close(f->fd);
    unlink(f->tmp);
    free_handle(f);
}

const char *attn_atomic_path(const attn_atomic_file *f) { return f ? f->path : NULL; }

int attn_write_file_atomic(const char *path, const void *data, size_t n) {
    attn_atomic_file *f = attn_atomic_open(path);
    if (!f) return -1;
    if (attn_atomic_write(f, data, n) != 0) {
        attn_atomic_abort(f);
        return -1;
    }
    return attn_atomic_commit(f);
}

void attn_mapped_release(const void *map, size_t map_len, const void *data, size_t n) {
    const uint8_t *base = map, *p = data;
    if (!base || n == 0 || p < base || p + n > base + map_len) return;
    size_t page = (size_t)sysconf(_SC_PAGESIZE), first = (size_t)(p - base) / page * page;
    (void)madvise((void *)(uintptr_t)(base + first), (size_t)(p - base) + n - first, MADV_DONTNEED);
}
