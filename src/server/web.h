/* web.h - the page served at GET /: web/index.html, embedded at build time (web.c). */
#ifndef ATTN_SERVER_WEB_H
#define ATTN_SERVER_WEB_H

#include <stddef.h>

/* The page's bytes (NUL-terminated, *len excludes the NUL); static, never freed. */
const char *attn_web_index(size_t *len);

#endif
