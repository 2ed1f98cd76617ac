/*  fuzz_request_name — request_name_check on any bytes. Promises checked
    against oracles that share no code with it: a name glibc's iconv cannot
    convert to UTF-32 (overlong forms, surrogates, past U+10FFFF, cut
    sequences) is refused, one it can is never refused as not UTF-8; an
    accepted name has
    none of the code points issue 9 refuses (C0, DEL, C1, U+2028, U+2029,
    the bidi controls) and at least one that is not a space or a zero-width
    character; a name of printable ASCII with a letter or digit, or with a
    Hangul syllable, and nothing refused, is accepted. */
#include "coffee.h"
#include "request.h"
#include "fuzzkit.h"
#include <errno.h>
#include <iconv.h>

//  True when cp is one the brief lists as refused in a name.
static bool
s_refused (uint32_t cp)
{
    return cp < 0x20 || (cp >= 0x7F && cp <= 0x9F) || cp == 0x2028 || cp == 0x2029
        || (cp >= 0x202A && cp <= 0x202E) || (cp >= 0x2066 && cp <= 0x2069)
        || cp == 0x200E || cp == 0x200F || cp == 0x061C;
}

//  True when cp is one the brief lists as blank or invisible.
static bool
s_blank (uint32_t cp)
{
    return cp == 0x20 || cp == 0xA0 || (cp >= 0x2000 && cp <= 0x200D) || cp == 0x2060
        || cp == 0xFEFF || cp == 0x3000 || cp == 0x3164 || cp == 0x115F || cp == 0x1160;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    if (size > 1024)
        return 0;
    char *name = (char *) malloc (size? size: 1);
    FK_CHECK (name);
    memcpy (name, data, size);
    const char *reason = NULL;
    int rc = request_name_check (name, size, &reason);
    FK_CHECK (rc == 0 || rc == -1);
    FK_CHECK ((rc == 0) == (reason == NULL));

    //  The oracle's decoding: UTF-8 to UTF-32 by iconv
    uint32_t cps [1024];
    iconv_t cd = iconv_open ("UTF-32LE", "UTF-8");
    FK_CHECK (cd != (iconv_t) -1);
    char *in = name, *out = (char *) cps;
    size_t in_left = size, out_left = sizeof cps;
    bool utf8 = iconv (cd, &in, &in_left, &out, &out_left) != (size_t) -1 && in_left == 0;
    iconv_close (cd);
    size_t count = (sizeof cps - out_left) / 4;

    if (!utf8)
        FK_CHECK (rc == -1);    //  for this or a character met before it
    else {
        FK_CHECK (rc == 0 || !strstr (reason, "UTF-8"));
        bool refused = false, visible = false, plain = count > 0, hangul = false, alnum = false;
        for (size_t i = 0; i < count; i++) {
            uint32_t cp = cps [i];
            refused |= s_refused (cp);
            visible |= !s_blank (cp) && !s_refused (cp);
            plain &= cp >= 0x20 && cp <= 0x7E;
            alnum |= (cp >= '0' && cp <= '9') || ((cp | 0x20) >= 'a' && (cp | 0x20) <= 'z');
            hangul |= cp >= 0xAC00 && cp <= 0xD7A3;
        }
        if (rc == 0)
            FK_CHECK (!refused && visible);
        if (!refused && ((plain && alnum) || hangul))
            FK_CHECK (rc == 0);
    }
    free (name);
    return 0;
}
