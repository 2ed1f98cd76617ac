/*  page — the browser pages coffee serves itself: the customer page at /
    and the operator console at /console, with their script and style.
    The files live in http/page/ and are built into the binary (CMake turns
    each into a C array at build time, http/page_embed.cmake), so the page
    needs no build step of its own and fetches nothing from the internet.
    The route table names the file each static route answers with. */
#ifndef PAGE_H_INCLUDED
#define PAGE_H_INCLUDED

#include <stddef.h>

typedef struct {
    const char *name;           //  file name in http/page/: "index.html"
    const char *type;           //  Content-Type it is served with
    const char *data;           //  its bytes, NUL-terminated
    size_t size;                //  bytes, without the NUL
} page_file_t;

//  The built-in file of that name, or NULL.
const page_file_t *page_file (const char *name);

#endif
