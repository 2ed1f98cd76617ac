/*  fuzz_request_number — request_number_read on any bytes. Promises checked
    against oracles that share no code with it: the token is accepted (not
    INVALID) exactly when POSIX regexec matches RFC 8259's number grammar;
    a WHOLE value is what glibc's correctly rounded strtod reads, rounded the
    same way ((double) value == strtod); a RANGE value reads as at least
    2^63 in magnitude with the sign it reports; a FRACTION has a '.' or a
    negative exponent; and appending ".0" (before any exponent) or "e0"
    to a valid token changes nothing. */
#include "coffee.h"
#include "request.h"
#include "fuzzkit.h"
#include <math.h>
#include <regex.h>

//  RFC 8259 section 6, as an extended regular expression.
#define S_GRAMMAR "^-?(0|[1-9][0-9]*)(\\.[0-9]+)?([eE][+-]?[0-9]+)?$"

//  The grammar, compiled once before the first input (libFuzzer calls
//  LLVMFuzzerInitialize first; compiling it per input dominated the run).
static regex_t s_grammar;

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
    (void) argc;
    (void) argv;
    FK_CHECK (regcomp (&s_grammar, S_GRAMMAR, REG_EXTENDED | REG_NOSUB) == 0);
    return 0;
}

//  The same read of text with suffix appended after its mantissa (before
//  its exponent when at_mantissa, else at the end).
static request_number_t
s_read_with (const char *text, size_t size, const char *suffix, bool at_mantissa,
             int64_t *value)
{
    size_t cut = size;
    if (at_mantissa)
        for (size_t i = 0; i < size; i++)
            if (text [i] == 'e' || text [i] == 'E') {
                cut = i;
                break;
            }
    size_t slen = strlen (suffix);
    char *with = (char *) malloc (size + slen + 1);
    FK_CHECK (with);
    memcpy (with, text, cut);
    memcpy (with + cut, suffix, slen);
    memcpy (with + cut + slen, text + cut, size - cut);
    request_number_t result = request_number_read (with, size + slen, value, NULL);
    free (with);
    return result;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    //  An exact-size heap copy, so ASan sees any read past the token's end
    char *token = (char *) malloc (size? size: 1);
    FK_CHECK (token);
    memcpy (token, data, size);
    int64_t value = 42;
    bool negative = false;
    request_number_t result = request_number_read (token, size, &value, &negative);

    char *text = fk_cstr (data, size);
    bool rfc = strlen (text) == size && regexec (&s_grammar, text, 0, NULL, 0) == 0;
    FK_CHECK ((result != REQUEST_NUMBER_INVALID) == rfc);
    FK_CHECK (result == REQUEST_NUMBER_WHOLE || value == 0);

    if (rfc) {
        double read = strtod (text, NULL);
        FK_CHECK (negative == (text [0] == '-'));
        if (result == REQUEST_NUMBER_WHOLE)
            FK_CHECK ((double) value == read);
        if (result == REQUEST_NUMBER_RANGE)
            FK_CHECK (fabs (read) >= 9223372036854775808.0 && (read < 0) == negative);
        if (result == REQUEST_NUMBER_FRACTION)
            FK_CHECK (strchr (text, '.') || strstr (text, "e-") || strstr (text, "E-"));
        //  The same number written longer reads the same
        int64_t again = 0;
        if (!strchr (text, '.'))
            FK_CHECK (s_read_with (token, size, ".0", true, &again) == result
                      && again == value);
        if (!strchr (text, 'e') && !strchr (text, 'E'))
            FK_CHECK (s_read_with (token, size, "e0", false, &again) == result
                      && again == value);
    }
    free (text);
    free (token);
    return 0;
}
