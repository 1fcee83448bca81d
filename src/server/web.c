/* web.c - the web page (web/index.html), built into the binary so the server needs no files
 * at run time. The assembler's .incbin copies the file's bytes into read-only data: no xxd or
 * generated source, and the Makefile rebuilds this object when the page changes. */
#include "server/web.h"

__asm__(".pushsection .rodata\n"
        ".balign 16\n"
        "attn_web_index_start:\n"
        ".incbin \"web/index.html\"\n"
        "attn_web_index_end:\n"
        ".byte 0\n"
        ".popsection\n");

extern const char attn_web_index_start[], attn_web_index_end[];

const char *attn_web_index(size_t *len) {
    *len = (size_t)(attn_web_index_end - attn_web_index_start);
    return attn_web_index_start;
}
