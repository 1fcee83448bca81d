/* attn/core.h - what every part of libattn's public API shares: the version, how errors are
 * reported, the thread count, and the element types of weights.
 *
 * Errors: the library never calls exit() or prints. A function that fails returns -1 (or NULL)
 * after recording a one-line message that names the file, field or argument at fault;
 * attn_last_error() returns it. The message is per thread, like errno.
 *
 * Threads: the kernels run on one pool of threads for the whole process, with scratch memory
 * per pool thread. So calls that compute (model forward, generate, sampling) must not overlap
 * in time, even on different models: make them from one thread, or take turns (attn serve
 * runs every model call on its one scheduler thread). Tokenizers and chat templates are
 * read-only and safe from any number of threads. */
#ifndef ATTN_PUBLIC_CORE_H
#define ATTN_PUBLIC_CORE_H

#ifdef __cplusplus
extern "C" {
#endif

#define ATTN_VERSION_MAJOR 0
#define ATTN_VERSION_MINOR 1
#define ATTN_VERSION_PATCH 0
#define ATTN_VERSION_STRING "0.1.0"

/* The library's version, "MAJOR.MINOR.PATCH" (may differ from the header's ATTN_VERSION_STRING
 * when a program runs against another build). */
const char *attn_version(void);

/* The message of this thread's last failure ("unknown error" when none was recorded). */
const char *attn_last_error(void);
void attn_clear_error(void);

/* Sets how many threads the kernels use (0 = all online cores; at most 512). May be called
 * again to resize, but not while another thread runs a model. Without a call the library
 * uses all online cores. */
int attn_threads_init(int n);
int attn_threads_count(void);

/* Element types of plain (not block-quantized) weights. */
typedef enum { ATTN_F32 = 0, ATTN_F16 = 1, ATTN_BF16 = 2, ATTN_DTYPE_COUNT } attn_dtype;

#ifdef __cplusplus
}
#endif

#endif
