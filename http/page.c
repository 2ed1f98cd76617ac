/*  page — lookup of the built-in page files; see include/page.h. */
#include "page.h"
#include <string.h>

//  The generated table (page_files.c in the build folder), ended by a row
//  with no name.
extern const page_file_t page_files [];

//  The built-in file of that name, or NULL.
const page_file_t *
page_file (const char *name)
{
    for (const page_file_t *file = page_files; name && file->name; file++)
        if (strcmp (file->name, name) == 0)
            return file;
    return NULL;
}
