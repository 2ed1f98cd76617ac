/*  fuzzkit — what the libFuzzer harnesses share. Each harness is a thin call
    of one public parser on bytes a client, a broker or an operator controls;
    a harness aborts (abort(), which libFuzzer reports as a crash) only when
    the parser breaks a promise its header makes, never on a refusal. */
#ifndef FUZZKIT_H_INCLUDED
#define FUZZKIT_H_INCLUDED

#include <stdint.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>

//  A NUL-terminated copy of size bytes of data (free()); aborts when out of
//  memory, which is the harness's failure, not the parser's.
static inline char *
fk_cstr (const uint8_t *data, size_t size)
{
    char *text = (char *) malloc (size + 1);
    if (!text)
        abort ();
    memcpy (text, data, size);
    text [size] = 0;
    return text;
}

//  Stops the run with a message when a promise is broken.
#define FK_CHECK(cond) do { \
    if (!(cond)) { \
        fprintf (stderr, "%s:%d: broken promise: %s\n", __FILE__, __LINE__, #cond); \
        abort (); \
    } \
} while (0)

#endif
