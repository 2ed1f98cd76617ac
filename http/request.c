/*  request — route table and input validation of the HTTP front.
    See include/request.h for the rules. */
#include "request.h"
#include "actor.h"
#include "store.h"
#include "http_front.h"
#include <string.h>
#include <strings.h>

_Static_assert (STORE_LINES_MAX <= WIRE_LINES_MAX, "menuList fits the wire");
_Static_assert (STORE_NAME_MAX < WIRE_NAME_MAX, "customerNm fits the wire");

//  Longest field path we report ("menuList[19].menuId").
#define S_FIELD_MAX 64

//  Longest path of a number in an unknown field we name in an error; a
//  longer one is cut (it is only a hint for the client).
#define S_PATH_MAX 96

//  An exponent past this magnitude is read as this: 1e(2^40) overflows
//  int64 and 1e-(2^40) leaves no digit whole, as the exact value would.
#define S_EXP_CAP (INT64_C (1) << 40)

//  Number tokens cJSON cannot take that one body may have stood in for
//  (each costs one more parse); past this the body is only "not valid JSON".
#define S_STAND_MAX 16

//  --------------------------------------------------------------------------
//  Routing

//  True when path is the route's path (and a single non-empty segment after
//  its prefix, then the route's suffix if it has one, for routes with an
//  {id}); sets *arg. With a suffix *arg is not NUL-terminated at the
//  segment's end: request_arg_copy cuts it.
static bool
s_path_matches (const route_t *route, const char *path, const char **arg)
{
    if (!route->has_arg) {
        if (strcmp (path, route->path) != 0)
            return false;
        *arg = "";
        return true;
    }
    size_t plen = strlen (route->path);
    if (strncmp (path, route->path, plen) != 0)
        return false;
    const char *rest = path + plen;
    const char *slash = strchr (rest, '/');
    if (*rest == '\0' || slash == rest)
        return false;
    if (route->suffix? !slash || strcmp (slash, route->suffix) != 0: slash != NULL)
        return false;
    *arg = rest;
    return true;
}

//  True when the request method fits the route (HEAD is a GET without body).
static bool
s_method_matches (const route_t *route, const char *method)
{
    if (strcmp (method, route->method) == 0)
        return true;
    return streq (route->method, "GET") && streq (method, "HEAD");
}

//  Finds the route of method + path; see request.h.
int
request_match (const char *method, const char *path, const route_t **route,
               const char **arg, const char **allow)
{
    *route = NULL;
    *arg = "";
    *allow = NULL;
    if (!method || !path)
        return 404;
    bool path_known = false;
    size_t count;
    const route_t *routes = route_table (&count);
    for (size_t i = 0; i < count; i++) {
        const char *found_arg;
        if (!s_path_matches (&routes [i], path, &found_arg))
            continue;
        if (s_method_matches (&routes [i], method)) {
            *route = &routes [i];
            *arg = found_arg;
            return 200;
        }
        path_known = true;
        *allow = streq (routes [i].method, "GET")? "GET, HEAD": routes [i].method;
    }
    return path_known? 405: 404;
}

//  --------------------------------------------------------------------------
//  Error bodies

//  Builds an error body; see request.h.
char *
request_error_json (const char *code, const char *message, const char *field)
{
    cJSON *json = cJSON_CreateObject ();
    if (!json)
        return NULL;
    char *text = NULL;
    if (!cJSON_AddStringToObject (json, "code", code)
    ||  !cJSON_AddStringToObject (json, "message", message))
        goto done;
    if (field && !cJSON_AddStringToObject (json, "field", field))
        goto done;
    text = cJSON_PrintUnformatted (json);
done:
    cJSON_Delete (json);
    return text;
}

//  Sets *error_json to an INVALID_INPUT body "<field>: <what>" and returns 400.
static int
s_invalid (char **error_json, const char *field, const char *what)
{
    char message [256];
    snprintf (message, sizeof (message), "%s: %s", field, what);
    *error_json = request_error_json ("INVALID_INPUT", message, field);
    return 400;
}


//  --------------------------------------------------------------------------
//  Field checks: each returns 0, or 400 with *error_json set

//  Bytes of one UTF-8 sequence at s (n bytes left, n > 0), with *cp its
//  code point, or 0 when it is not a valid, shortest-form encoding of a
//  scalar value (overlong forms, surrogates and past U+10FFFF are not).
static size_t
s_utf8_seq (const unsigned char *s, size_t n, uint32_t *cp)
{
    *cp = s [0];
    if (s [0] < 0x80)
        return 1;
    size_t len;
    uint32_t value;
    if (s [0] >= 0xC2 && s [0] <= 0xDF) {
        len = 2;
        value = s [0] & 0x1F;
    }
    else
    if (s [0] >= 0xE0 && s [0] <= 0xEF) {
        len = 3;
        value = s [0] & 0x0F;
    }
    else
    if (s [0] >= 0xF0 && s [0] <= 0xF4) {
        len = 4;
        value = s [0] & 0x07;
    }
    else
        return 0;
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s [i] & 0xC0) != 0x80)
            return 0;
        value = (value << 6) | (s [i] & 0x3F);
    }
    if ((len == 3 && value < 0x800) || (len == 4 && value < 0x10000)
    ||  (value >= 0xD800 && value <= 0xDFFF) || value > 0x10FFFF)
        return 0;
    *cp = value;
    return len;
}

//  What a code point is to a name.
typedef enum {
    S_CP_TEXT,                  //  an ordinary character
    S_CP_BLANK,                 //  a space or an invisible character: fine
                                //  inside a name, but not a name alone
    S_CP_CONTROL,               //  C0, DEL, C1 (U+0085 too): refused
    S_CP_SEPARATOR,             //  line or paragraph separator: refused
    S_CP_BIDI                   //  a bidirectional control: refused
} s_cp_class_t;

//  Why a name with a character of each refused class is refused.
static const char *s_cp_reasons [] = {
    [S_CP_CONTROL]   = "must not contain control characters",
    [S_CP_SEPARATOR] = "must not contain line or paragraph separators (U+2028, U+2029)",
    [S_CP_BIDI]      = "must not contain bidirectional controls (U+061C, U+200E, U+200F, "
                       "U+202A to U+202E, U+2066 to U+2069)",
};

//  The code points that are not S_CP_TEXT, in ascending order. Blank and
//  invisible: the Unicode spaces (Zs), the zero-width characters and word
//  joiners, the BOM, the Hangul fillers (a Korean keyboard's way to an
//  empty-looking name), soft hyphen, grapheme joiner, invisible operators,
//  deprecated format controls, variation selectors and tags.
static const struct {
    uint32_t first;             //  first code point of the range
    uint32_t last;              //  last code point of the range
    s_cp_class_t class;         //  what they are
} s_cp_table [] = {
    { 0x0000,  0x001F,  S_CP_CONTROL },
    { 0x0020,  0x0020,  S_CP_BLANK },
    { 0x007F,  0x009F,  S_CP_CONTROL },
    { 0x00A0,  0x00A0,  S_CP_BLANK },
    { 0x00AD,  0x00AD,  S_CP_BLANK },
    { 0x034F,  0x034F,  S_CP_BLANK },
    { 0x061C,  0x061C,  S_CP_BIDI },
    { 0x115F,  0x1160,  S_CP_BLANK },
    { 0x1680,  0x1680,  S_CP_BLANK },
    { 0x17B4,  0x17B5,  S_CP_BLANK },
    { 0x180B,  0x180F,  S_CP_BLANK },
    { 0x2000,  0x200D,  S_CP_BLANK },
    { 0x200E,  0x200F,  S_CP_BIDI },
    { 0x2028,  0x2029,  S_CP_SEPARATOR },
    { 0x202A,  0x202E,  S_CP_BIDI },
    { 0x202F,  0x202F,  S_CP_BLANK },
    { 0x205F,  0x2064,  S_CP_BLANK },
    { 0x2066,  0x2069,  S_CP_BIDI },
    { 0x206A,  0x206F,  S_CP_BLANK },
    { 0x2800,  0x2800,  S_CP_BLANK },
    { 0x3000,  0x3000,  S_CP_BLANK },
    { 0x3164,  0x3164,  S_CP_BLANK },
    { 0xFE00,  0xFE0F,  S_CP_BLANK },
    { 0xFEFF,  0xFEFF,  S_CP_BLANK },
    { 0xFFA0,  0xFFA0,  S_CP_BLANK },
    { 0x1D173, 0x1D17A, S_CP_BLANK },
    { 0xE0000, 0xE007F, S_CP_BLANK },
    { 0xE0100, 0xE01EF, S_CP_BLANK },
};

//  The class of code point cp (a binary search of s_cp_table).
static s_cp_class_t
s_cp_class (uint32_t cp)
{
    size_t low = 0, high = sizeof s_cp_table / sizeof s_cp_table [0];
    while (low < high) {
        size_t mid = low + (high - low) / 2;
        if (cp < s_cp_table [mid].first)
            high = mid;
        else
        if (cp > s_cp_table [mid].last)
            low = mid + 1;
        else
            return s_cp_table [mid].class;
    }
    return S_CP_TEXT;
}

//  Checks the characters of a name; see request.h.
int
request_name_check (const char *name, size_t len, const char **reason)
{
    const unsigned char *s = (const unsigned char *) name;
    bool visible = false;
    size_t i = 0;
    while (i < len) {
        uint32_t cp;
        size_t n = s_utf8_seq (s + i, len - i, &cp);
        if (n == 0) {
            *reason = "must be valid UTF-8 (shortest form, no surrogates)";
            return -1;
        }
        s_cp_class_t class = s_cp_class (cp);
        if (class != S_CP_TEXT && class != S_CP_BLANK) {
            *reason = s_cp_reasons [class];
            return -1;
        }
        if (class == S_CP_TEXT)
            visible = true;
        i += n;
    }
    if (!visible) {
        *reason = "must not be only spaces or invisible characters";
        return -1;
    }
    *reason = NULL;
    return 0;
}

//  The customer name: a string of 1..STORE_NAME_MAX bytes that
//  request_name_check accepts (a name is one line of visible text).
static int
s_check_name (const cJSON *item, const char *field, char **error_json)
{
    if (!item || cJSON_IsNull (item))
        return s_invalid (error_json, field, "is required");
    if (!cJSON_IsString (item) || !item->valuestring)
        return s_invalid (error_json, field, "must be a string");
    size_t n = strlen (item->valuestring);
    if (n == 0)
        return s_invalid (error_json, field, "must not be empty");
    if (n > STORE_NAME_MAX) {
        char what [64];
        snprintf (what, sizeof (what), "must be at most %d bytes", STORE_NAME_MAX);
        return s_invalid (error_json, field, what);
    }
    const char *reason;
    if (request_name_check (item->valuestring, n, &reason) != 0)
        return s_invalid (error_json, field, reason);
    return 0;
}

//  True when text is prefix followed by 8 or more ASCII digits and fits an id.
static bool
s_id_ok (const char *text, const char *prefix)
{
    size_t plen = strlen (prefix);
    if (strncmp (text, prefix, plen) != 0)
        return false;
    size_t digits = 0;
    for (const char *p = text + plen; *p; p++, digits++)
        if (*p < '0' || *p > '9')
            return false;
    return digits >= 8 && plen + digits < COFFEE_ID_MAX;
}

//  An id field: a string prefix + 8 or more digits.
static int
s_check_id (const cJSON *item, const char *field, const char *prefix, char **error_json)
{
    if (!item || cJSON_IsNull (item))
        return s_invalid (error_json, field, "is required");
    if (!cJSON_IsString (item) || !item->valuestring)
        return s_invalid (error_json, field, "must be a string");
    if (!s_id_ok (item->valuestring, prefix)) {
        char what [96];
        snprintf (what, sizeof (what), "must look like %s00000001 (%s and 8 to %d digits)",
                  prefix, prefix, (int) (COFFEE_ID_MAX - 1 - strlen (prefix)));
        return s_invalid (error_json, field, what);
    }
    return 0;
}

//  --------------------------------------------------------------------------
//  Numbers as written: cJSON keeps only a double, and reads more than JSON
//  allows, so each number item is paired with its text in the body

//  One number of the body: its item and its text.
typedef struct {
    const cJSON *item;          //  cJSON's number item (NULL until paired)
    const char *text;           //  first byte of its token in the body
    size_t len;                 //  bytes of the token
} s_token_t;

//  Every number token of a body, in document order.
typedef struct {
    s_token_t *tokens;          //  the tokens (malloc)
    size_t count;               //  tokens found
    size_t size;                //  slots allocated
    size_t paired;              //  tokens paired with an item so far
} s_numbers_t;

//  A number token of the body that cJSON could not take, stood in for by
//  "0" and spaces for the parse.
typedef struct {
    size_t start;               //  its first byte
    size_t len;                 //  its length
} s_stand_t;

//  Reads the text of one JSON number exactly; see request.h.
request_number_t
request_number_read (const char *text, size_t len, int64_t *value, bool *negative)
{
    *value = 0;
    bool minus = false;
    size_t i = 0;
    if (i < len && text [i] == '-') {
        minus = true;
        i++;
    }
    if (negative)
        *negative = minus;
    //  int: 0, or a digit 1-9 and more digits
    size_t int_start = i;
    if (i < len && text [i] == '0')
        i++;
    else
    if (i < len && text [i] >= '1' && text [i] <= '9')
        while (i < len && text [i] >= '0' && text [i] <= '9')
            i++;
    else
        return REQUEST_NUMBER_INVALID;
    size_t int_len = i - int_start;
    //  frac: '.' and one or more digits
    size_t frac_start = i, frac_len = 0;
    if (i < len && text [i] == '.') {
        frac_start = ++i;
        while (i < len && text [i] >= '0' && text [i] <= '9')
            i++;
        frac_len = i - frac_start;
        if (frac_len == 0)
            return REQUEST_NUMBER_INVALID;
    }
    //  exp: e or E, an optional sign, one or more digits
    int64_t exp = 0;
    if (i < len && (text [i] == 'e' || text [i] == 'E')) {
        i++;
        bool exp_minus = false;
        if (i < len && (text [i] == '+' || text [i] == '-'))
            exp_minus = text [i++] == '-';
        size_t exp_start = i;
        for (; i < len && text [i] >= '0' && text [i] <= '9'; i++)
            if (exp <= S_EXP_CAP)
                exp = exp * 10 + (text [i] - '0');
        if (i == exp_start)
            return REQUEST_NUMBER_INVALID;
        if (exp_minus)
            exp = -exp;
    }
    if (i != len)
        return REQUEST_NUMBER_INVALID;

    //  The digits int ++ frac with the point after `point` of them: the
    //  number is whole when every digit at or past the point is 0.
    size_t digits = int_len + frac_len;
    int64_t point = (int64_t) int_len + exp;
#define S_DIGIT(k) ((k) < int_len? text [int_start + (k)]: text [frac_start + (k) - int_len])
    for (size_t k = point > 0? (size_t) point: 0; k < digits; k++)
        if (S_DIGIT (k) != '0')
            return REQUEST_NUMBER_FRACTION;
    //  The whole part: the digits before the point, then zeros up to it
    uint64_t limit = minus? (UINT64_C (1) << 63): (uint64_t) INT64_MAX;
    uint64_t magnitude = 0;
    size_t whole = point > 0? ((uint64_t) point < digits? (size_t) point: digits): 0;
    for (size_t k = 0; k < whole; k++) {
        unsigned d = (unsigned) (S_DIGIT (k) - '0');
        if (magnitude > (limit - d) / 10)
            return REQUEST_NUMBER_RANGE;
        magnitude = magnitude * 10 + d;
    }
#undef S_DIGIT
    //  At most 19 zeros fit once magnitude is not 0, so this loop is short
    for (int64_t zeros = point - (int64_t) digits; zeros > 0 && magnitude; zeros--) {
        if (magnitude > limit / 10)
            return REQUEST_NUMBER_RANGE;
        magnitude *= 10;
    }
    if (minus)
        *value = magnitude == (UINT64_C (1) << 63)? INT64_MIN: -(int64_t) magnitude;
    else
        *value = (int64_t) magnitude;
    return REQUEST_NUMBER_WHOLE;
}

//  True when c ends a bare token (a number or a literal) in JSON text.
static bool
s_token_end (char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == ',' || c == ':'
        || c == '[' || c == ']' || c == '{' || c == '}' || c == '"';
}

//  Collects the number tokens of body (len bytes cJSON has parsed): each
//  run of bytes outside strings that starts with '-' or a digit, up to the
//  next whitespace or punctuation, is one. Strings are skipped with their
//  escapes. O(len). Returns 0, or -1 when out of memory.
static int
s_numbers_scan (s_numbers_t *self, const char *body, size_t len)
{
    size_t i = 0;
    while (i < len) {
        char c = body [i];
        if (c == '"') {
            for (i++; i < len && body [i] != '"'; i++)
                if (body [i] == '\\')
                    i++;
            i++;
        }
        else
        if (c == '-' || (c >= '0' && c <= '9')) {
            size_t start = i;
            while (i < len && !s_token_end (body [i]))
                i++;
            if (self->count == self->size) {
                size_t size = self->size? self->size * 2: 16;
                s_token_t *tokens = (s_token_t *) realloc (self->tokens, size * sizeof *tokens);
                if (!tokens)
                    return -1;
                self->tokens = tokens;
                self->size = size;
            }
            self->tokens [self->count++] = (s_token_t) { NULL, body + start, i - start };
        }
        else
            i++;
    }
    return 0;
}

//  True when the bare token around at (where cJSON stopped) is a try at a
//  number that cJSON does not take: it starts with a digit, '+', '-' or '.',
//  or with NaN or Inf in any case, and holds only [0-9A-Za-z+-.] (so no
//  quote or backslash, and standing a "0" in for it moves no string's
//  bounds). Sets [*start, *stop) to the token.
static bool
s_number_like (const char *body, size_t len, size_t at, size_t *start, size_t *stop)
{
    if (at >= len || s_token_end (body [at]))
        return false;
    size_t a = at, b = at;
    while (a > 0 && !s_token_end (body [a - 1]))
        a--;
    while (b < len && !s_token_end (body [b]))
        b++;
    for (size_t i = a; i < b; i++) {
        char c = body [i];
        if (!(c >= '0' && c <= '9') && !(c >= 'a' && c <= 'z') && !(c >= 'A' && c <= 'Z')
        &&  c != '+' && c != '-' && c != '.')
            return false;
    }
    char c = body [a];
    bool like = (c >= '0' && c <= '9') || c == '+' || c == '-' || c == '.'
             || (b - a >= 3 && (strncasecmp (body + a, "nan", 3) == 0
                             || strncasecmp (body + a, "inf", 3) == 0));
    *start = a;
    *stop = b;
    return like;
}

//  Sets *error_json to an INVALID_JSON body for the number token at path
//  ("" for the body itself) and returns 400.
static int
s_number_refused (char **error_json, const char *path, const s_token_t *token)
{
    char message [S_PATH_MAX + 160];
    int shown = token->len > 24? 24: (int) token->len;
    snprintf (message, sizeof message, "%s: %.*s%s is not a JSON number (RFC 8259: no "
              "leading zeros, no '+', digits on both sides of '.')",
              *path? path: "body", shown, token->text, token->len > 24? "...": "");
    *error_json = request_error_json ("INVALID_JSON", message, *path? path: NULL);
    return 400;
}

//  Appends to path (at bytes used, S_PATH_MAX in all) the step to a child:
//  ".key" (or "key" at the top) for a member, "[index]" for an element.
//  Bytes of a key that are not printable ASCII show as '?' so the error
//  body stays valid UTF-8, an empty key as ""; a path too long is cut.
static size_t
s_path_step (char *path, size_t at, const cJSON *child, int index)
{
    if (at >= S_PATH_MAX - 1)
        return at;
    if (!child->string) {
        int n = snprintf (path + at, S_PATH_MAX - at, "[%d]", index);
        return n < 0? at: at + ((size_t) n < S_PATH_MAX - at? (size_t) n: S_PATH_MAX - 1 - at);
    }
    size_t i = at;
    if (at > 0)
        path [i++] = '.';
    const char *key = *child->string? child->string: "\"\"";    //  "" shows as ""
    for (const char *k = key; *k && i < S_PATH_MAX - 1; k++)
        path [i++] = (*k >= 0x20 && *k < 0x7F)? *k: '?';
    path [i] = '\0';
    return i;
}

//  Pairs each number item under item (pre-order: cJSON keeps members and
//  elements in document order, as the scan met their tokens) with its token
//  and checks its grammar. path names item (at bytes long). The depth is
//  bounded by cJSON's nesting limit. Returns 0, or 400 with *error_json set.
static int
s_numbers_walk (s_numbers_t *self, const cJSON *item, char *path, size_t at,
                char **error_json)
{
    if (cJSON_IsNumber (item)) {
        if (self->paired == self->count) {
            *error_json = request_error_json ("INVALID_JSON", "body: not valid JSON "
                                              "(a number is not where it was read)", NULL);
            return 400;
        }
        s_token_t *token = &self->tokens [self->paired++];
        token->item = item;
        int64_t value;
        if (request_number_read (token->text, token->len, &value, NULL)
            == REQUEST_NUMBER_INVALID)
            return s_number_refused (error_json, path, token);
        return 0;
    }
    int index = 0;
    for (const cJSON *child = item->child; child; child = child->next, index++) {
        size_t end = s_path_step (path, at, child, index);
        int rc = s_numbers_walk (self, child, path, end, error_json);
        path [at] = '\0';
        if (rc)
            return rc;
    }
    return 0;
}

//  The token of number item, or NULL.
static const s_token_t *
s_numbers_find (const s_numbers_t *self, const cJSON *item)
{
    for (size_t i = 0; i < self->paired; i++)
        if (self->tokens [i].item == item)
            return &self->tokens [i];
    return NULL;
}

//  A whole number min..max, read exactly from its text; *value gets it.
static int
s_check_whole (const s_numbers_t *numbers, const cJSON *item, const char *field,
               int64_t min, int64_t max, int64_t *value, char **error_json)
{
    if (!item || cJSON_IsNull (item))
        return s_invalid (error_json, field, "is required");
    const s_token_t *token = cJSON_IsNumber (item)? s_numbers_find (numbers, item): NULL;
    if (!token)
        return s_invalid (error_json, field, "must be a number");
    char above [64], below [64];
    snprintf (above, sizeof (above), "must be at most %" PRId64, max);
    snprintf (below, sizeof (below), "must be at least %" PRId64, min);
    bool negative = false;
    int64_t v = 0;
    switch (request_number_read (token->text, token->len, &v, &negative)) {
        case REQUEST_NUMBER_WHOLE:
            break;
        case REQUEST_NUMBER_FRACTION:
            return s_invalid (error_json, field, "must be a whole number");
        case REQUEST_NUMBER_RANGE:
            return s_invalid (error_json, field, negative? below: above);
        case REQUEST_NUMBER_INVALID:
        default:
            return s_invalid (error_json, field, "must be a JSON number");
    }
    if (v < min)
        return s_invalid (error_json, field, below);
    if (v > max)
        return s_invalid (error_json, field, above);
    *value = v;
    return 0;
}

//  A whole number 1..max (a count or an amount).
static int
s_check_count (const s_numbers_t *numbers, const cJSON *item, const char *field,
               int64_t max, int64_t *value, char **error_json)
{
    return s_check_whole (numbers, item, field, 1, max, value, error_json);
}

//  The member name of obj, exactly (case-sensitive); refuses a name given
//  twice since which one counts would be a guess.
static int
s_member (const cJSON *obj, const char *name, const char *field, const cJSON **item,
          char **error_json)
{
    *item = NULL;
    for (const cJSON *child = obj->child; child; child = child->next) {
        if (!child->string || strcmp (child->string, name) != 0)
            continue;
        if (*item)
            return s_invalid (error_json, field, "is given more than once");
        *item = child;
    }
    return 0;
}


//  --------------------------------------------------------------------------
//  Route bodies: each fills out (a new object) or returns 400

//  POST /customer.
static int
s_customer (const s_numbers_t *numbers, const cJSON *in, cJSON *out, char **error_json)
{
    (void) numbers;             //  it takes no number
    const cJSON *name;
    int rc = s_member (in, "customerNm", "customerNm", &name, error_json);
    if (!rc)
        rc = s_check_name (name, "customerNm", error_json);
    if (rc)
        return rc;
    return cJSON_AddStringToObject (out, "customerNm", name->valuestring)? 0: -1;
}

//  POST /point.
static int
s_point (const s_numbers_t *numbers, const cJSON *in, cJSON *out, char **error_json)
{
    const cJSON *id, *amount;
    int64_t value = 0;
    int rc = s_member (in, "customerId", "customerId", &id, error_json);
    if (!rc)
        rc = s_check_id (id, "customerId", "CUST-", error_json);
    if (!rc)
        rc = s_member (in, "chargeAmt", "chargeAmt", &amount, error_json);
    if (!rc)
        rc = s_check_count (numbers, amount, "chargeAmt", STORE_CHARGE_MAX, &value, error_json);
    if (rc)
        return rc;
    if (!cJSON_AddStringToObject (out, "customerId", id->valuestring)
    ||  !cJSON_AddNumberToObject (out, "chargeAmt", (double) value))
        return -1;
    return 0;
}

//  POST /admin/point/save: customerId, point, expDate (YYYYMMDD, or null
//  or absent: never expires; the store checks it is a real date from today
//  on), remark (a one-line text like a name).
static int
s_point_save (const s_numbers_t *numbers, const cJSON *in, cJSON *out, char **error_json)
{
    const cJSON *id, *amount, *date, *remark;
    int64_t value = 0;
    int rc = s_member (in, "customerId", "customerId", &id, error_json);
    if (!rc)
        rc = s_check_id (id, "customerId", "CUST-", error_json);
    if (!rc)
        rc = s_member (in, "point", "point", &amount, error_json);
    if (!rc)
        rc = s_check_count (numbers, amount, "point", STORE_CHARGE_MAX, &value, error_json);
    if (!rc)
        rc = s_member (in, "expDate", "expDate", &date, error_json);
    if (!rc && date && !cJSON_IsNull (date)) {
        const char *text = cJSON_GetStringValue (date);
        bool ok = text && strlen (text) == 8;
        for (int i = 0; ok && i < 8; i++)
            ok = text [i] >= '0' && text [i] <= '9';
        if (!ok)
            rc = s_invalid (error_json, "expDate", "must be a date YYYYMMDD, or null (never)");
    }
    if (!rc)
        rc = s_member (in, "remark", "remark", &remark, error_json);
    if (!rc)
        rc = s_check_name (remark, "remark", error_json);
    if (rc)
        return rc;
    if (!cJSON_AddStringToObject (out, "customerId", id->valuestring)
    ||  !cJSON_AddNumberToObject (out, "point", (double) value)
    ||  !(date && cJSON_IsString (date)
          ? cJSON_AddStringToObject (out, "expDate", date->valuestring)
          : cJSON_AddNullToObject (out, "expDate"))
    ||  !cJSON_AddStringToObject (out, "remark", remark->valuestring))
        return -1;
    return 0;
}

//  One entry of menuList at index; adds its canonical form to lines.
//  totals holds the qy seen so far per menuId (a repeated menu is one line).
static int
s_order_line (const s_numbers_t *numbers, const cJSON *entry, int index, cJSON *lines,
              cJSON *totals, char **error_json)
{
    char field [S_FIELD_MAX / 2], sub [S_FIELD_MAX];
    snprintf (field, sizeof (field), "menuList[%d]", index);
    if (cJSON_IsNull (entry))
        return s_invalid (error_json, field, "must not be null");
    if (!cJSON_IsObject (entry))
        return s_invalid (error_json, field, "must be an object");

    const cJSON *menu_id, *qy;
    int64_t value = 0;
    snprintf (sub, sizeof (sub), "%s.menuId", field);
    int rc = s_member (entry, "menuId", sub, &menu_id, error_json);
    if (!rc)
        rc = s_check_id (menu_id, sub, "MENU-", error_json);
    if (rc)
        return rc;
    snprintf (sub, sizeof (sub), "%s.qy", field);
    rc = s_member (entry, "qy", sub, &qy, error_json);
    if (!rc)
        rc = s_check_count (numbers, qy, sub, STORE_QY_MAX, &value, error_json);
    if (rc)
        return rc;

    cJSON *total = cJSON_GetObjectItemCaseSensitive (totals, menu_id->valuestring);
    if (total) {
        if (total->valuedouble + (double) value > STORE_QY_MAX) {
            char what [128];
            snprintf (what, sizeof (what), "%s ordered more than once adds up to over %d",
                      menu_id->valuestring, STORE_QY_MAX);
            return s_invalid (error_json, sub, what);
        }
        cJSON_SetNumberValue (total, total->valuedouble + (double) value);
    }
    else
    if (!cJSON_AddNumberToObject (totals, menu_id->valuestring, (double) value))
        return -1;

    cJSON *line = cJSON_CreateObject ();
    if (!line)
        return -1;
    cJSON_AddItemToArray (lines, line);
    if (!cJSON_AddStringToObject (line, "menuId", menu_id->valuestring)
    ||  !cJSON_AddNumberToObject (line, "qy", (double) value))
        return -1;
    return 0;
}

//  POST /order.
static int
s_order (const s_numbers_t *numbers, const cJSON *in, cJSON *out, char **error_json)
{
    const cJSON *id, *list;
    int rc = s_member (in, "customerId", "customerId", &id, error_json);
    if (!rc)
        rc = s_check_id (id, "customerId", "CUST-", error_json);
    if (!rc)
        rc = s_member (in, "menuList", "menuList", &list, error_json);
    if (rc)
        return rc;
    if (!list || cJSON_IsNull (list))
        return s_invalid (error_json, "menuList", "is required");
    if (!cJSON_IsArray (list))
        return s_invalid (error_json, "menuList", "must be an array");
    int count = cJSON_GetArraySize (list);
    if (count < 1)
        return s_invalid (error_json, "menuList", "must hold at least 1 item");
    if (count > STORE_LINES_MAX) {
        char what [64];
        snprintf (what, sizeof (what), "must hold at most %d items", STORE_LINES_MAX);
        return s_invalid (error_json, "menuList", what);
    }

    if (!cJSON_AddStringToObject (out, "customerId", id->valuestring))
        return -1;
    cJSON *lines = cJSON_AddArrayToObject (out, "menuList");
    cJSON *totals = cJSON_CreateObject ();
    rc = (lines && totals)? 0: -1;
    int index = 0;
    for (const cJSON *entry = list->child; entry && rc == 0; entry = entry->next)
        rc = s_order_line (numbers, entry, index++, lines, totals, error_json);
    cJSON_Delete (totals);
    return rc;
}

//  A menu price: a whole number 0..STORE_MENU_PRICE_MAX (a menu may be
//  free), read exactly from its text; *value gets it.
static int
s_check_price (const s_numbers_t *numbers, const cJSON *item, const char *field,
               int64_t *value, char **error_json)
{
    return s_check_whole (numbers, item, field, 0, STORE_MENU_PRICE_MAX, value, error_json);
}

//  useYn: the string "Y" (shown) or "N" (hidden).
static int
s_check_use_yn (const cJSON *item, const char *field, char **error_json)
{
    if (!item || cJSON_IsNull (item))
        return s_invalid (error_json, field, "is required");
    if (!cJSON_IsString (item) || !item->valuestring)
        return s_invalid (error_json, field, "must be a string");
    if (!streq (item->valuestring, "Y") && !streq (item->valuestring, "N"))
        return s_invalid (error_json, field, "must be \"Y\" (shown) or \"N\" (hidden)");
    return 0;
}

//  POST /admin/menu (menuNm and menuPrice required, useYn optional) and
//  PATCH /admin/menu/{menuId} (any of the three, at least one).
static int
s_menu (const s_numbers_t *numbers, const cJSON *in, cJSON *out, bool create,
        char **error_json)
{
    const cJSON *name, *price, *use_yn;
    int64_t price_value = 0;
    int rc = s_member (in, "menuNm", "menuNm", &name, error_json);
    if (!rc)
        rc = s_member (in, "menuPrice", "menuPrice", &price, error_json);
    if (!rc)
        rc = s_member (in, "useYn", "useYn", &use_yn, error_json);
    if (!rc && (create || name))
        rc = s_check_name (name, "menuNm", error_json);
    if (!rc && (create || price))
        rc = s_check_price (numbers, price, "menuPrice", &price_value, error_json);
    if (!rc && use_yn)
        rc = s_check_use_yn (use_yn, "useYn", error_json);
    if (!rc && !create && !name && !price && !use_yn)
        rc = s_invalid (error_json, "body", "must give menuNm, menuPrice or useYn");
    if (rc)
        return rc;
    if ((name && !cJSON_AddStringToObject (out, "menuNm", name->valuestring))
    ||  (price && !cJSON_AddNumberToObject (out, "menuPrice", (double) price_value))
    ||  (use_yn && !cJSON_AddStringToObject (out, "useYn", use_yn->valuestring)))
        return -1;
    return 0;
}

//  PUT /admin/pools/{pool}: {"actors":N}, N a whole number 1..
//  HTTP_FRONT_POOL_MAX read exactly from its text, and no other member.
static int
s_pools (const s_numbers_t *numbers, const cJSON *in, cJSON *out, char **error_json)
{
    for (const cJSON *child = in->child; child; child = child->next)
        if (!child->string || strcmp (child->string, "actors") != 0) {
            char name [40];
            size_t n = 0;
            for (const char *c = child->string? child->string: "?"; *c && n < sizeof name - 1; c++)
                name [n++] = (*c >= 0x20 && *c < 0x7F)? *c: '?';
            name [n] = '\0';
            return s_invalid (error_json, name, "unknown field; send {\"actors\":N}");
        }
    const cJSON *actors;
    int64_t value = 0;
    int rc = s_member (in, "actors", "actors", &actors, error_json);
    if (!rc)
        rc = s_check_count (numbers, actors, "actors", HTTP_FRONT_POOL_MAX, &value, error_json);
    if (rc)
        return rc;
    return cJSON_AddNumberToObject (out, "actors", (double) value)? 0: -1;
}

//  Validates a POST body; see request.h.
int
request_validate_body (metrics_route_t route, const char *body, size_t len,
                       cJSON **canonical, char **error_json)
{
    *canonical = NULL;
    *error_json = NULL;
    if (!body || len == 0) {
        *error_json = request_error_json ("INVALID_JSON",
                                          "body: is missing; send a JSON object", NULL);
        return 400;
    }
    const char *original = body;        //  the client's text (copy may change)
    //  JSON allows no raw control characters but whitespace; cJSON would
    //  keep a raw NUL inside a string and so cut the string there.
    bool escaped_nul = false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char) body [i];
        if (c < 0x20 && c != '\t' && c != '\n' && c != '\r') {
            char message [96];
            snprintf (message, sizeof (message),
                      "body: not valid JSON (control character at byte %zu)", i);
            *error_json = request_error_json ("INVALID_JSON", message, NULL);
            return 400;
        }
        if (c == '\\' && i + 5 < len && memcmp (body + i + 1, "u0000", 5) == 0)
            escaped_nul = true;
    }
    //  cJSON also ends a string at an escaped NUL, so "CUST-00000001\u0000junk"
    //  would pass as CUST-00000001. Such escapes become U+0001, which every
    //  kept string refuses as a control character (naming its field) and
    //  which changes nothing else that is kept.
    char *copy = NULL;
    if (escaped_nul) {
        copy = (char *) malloc (len);
        if (!copy) {
            *error_json = request_error_json ("INTERNAL", "out of memory", NULL);
            return 500;
        }
        memcpy (copy, body, len);
        for (size_t i = 0; i + 1 < len; i++)
            if (copy [i] == '\\') {
                if (i + 5 < len && memcmp (copy + i + 1, "u0000", 5) == 0)
                    copy [i + 5] = '1';
                i++;        //  the escaped character is never an escape itself
            }
        body = copy;
    }
    //  cJSON refuses numbers it does not know (+1, .5, NaN, 0x10) telling
    //  only a byte offset. Each such token is stood in for by "0" and
    //  spaces, so every other byte keeps its place, and the body parsed
    //  again: the walk below then names its field from the tree. Any number
    //  cJSON cannot read (older releases stopped at 63 bytes of one) is read
    //  from its own text the same way.
    s_stand_t stands [S_STAND_MAX];
    size_t stand_count = 0;
    cJSON *in = NULL;
    size_t at = 0;
    while (true) {
        const char *end = NULL;
        in = cJSON_ParseWithLengthOpts (body, len, &end, false);
        at = end? (size_t) (end - body): 0;
        size_t start, stop;
        if (in || stand_count == S_STAND_MAX || !s_number_like (body, len, at, &start, &stop))
            break;
        bool again = false;
        for (size_t i = 0; i < stand_count; i++)
            again |= stands [i].start == start;
        if (again)
            break;          //  the "0" did not help: the error is elsewhere
        if (!copy) {
            copy = (char *) malloc (len);
            if (!copy) {
                *error_json = request_error_json ("INTERNAL", "out of memory", NULL);
                return 500;
            }
            memcpy (copy, body, len);
            body = copy;
        }
        copy [start] = '0';
        memset (copy + start + 1, ' ', stop - start - 1);
        stands [stand_count++] = (s_stand_t) { start, stop - start };
    }
    if (in)
        while (at < len && strchr (" \t\r\n", body [at]) && body [at] != '\0')
            at++;
    if (!in || at < len) {
        //  Still not JSON: name the first number that was not one, if any
        //  (it comes first in the body), else where cJSON stopped
        char message [128];
        int64_t ignored;
        if (stand_count > 0 && request_number_read (original + stands [0].start, stands [0].len,
                                                    &ignored, NULL) == REQUEST_NUMBER_INVALID)
            snprintf (message, sizeof (message), "body: %.*s%s is not a JSON number (at byte %zu)",
                      stands [0].len > 24? 24: (int) stands [0].len, original + stands [0].start,
                      stands [0].len > 24? "...": "", stands [0].start);
        else
            snprintf (message, sizeof (message), "body: not valid JSON (at byte %zu)", at);
        *error_json = request_error_json ("INVALID_JSON", message, NULL);
        cJSON_Delete (in);
        free (copy);
        return 400;
    }
    //  Every number, in a known field or not, as RFC 8259 writes it
    int rc = 0;
    cJSON *out = NULL;
    s_numbers_t numbers = { 0 };
    char path [S_PATH_MAX] = "";
    if (s_numbers_scan (&numbers, body, len) != 0) {
        rc = -1;
        goto done;
    }
    //  A stand-in reads as its own text again; one the scan did not meet as
    //  a number was not one
    for (size_t i = 0; i < stand_count && rc == 0; i++) {
        size_t k = 0;
        while (k < numbers.count && numbers.tokens [k].text != body + stands [i].start)
            k++;
        if (k == numbers.count) {
            char message [96];
            snprintf (message, sizeof (message), "body: not valid JSON (at byte %zu)",
                      stands [i].start);
            *error_json = request_error_json ("INVALID_JSON", message, NULL);
            rc = 400;
        }
        else
            numbers.tokens [k] = (s_token_t) { NULL, original + stands [i].start,
                                               stands [i].len };
    }
    if (rc == 0)
        rc = s_numbers_walk (&numbers, in, path, 0, error_json);
    if (rc == 0 && numbers.paired != numbers.count) {
        *error_json = request_error_json ("INVALID_JSON", "body: not valid JSON "
                                          "(a number is not where it was read)", NULL);
        rc = 400;
    }
    if (rc)
        goto done;
    if (!cJSON_IsObject (in)) {
        rc = s_invalid (error_json, "body", "must be a JSON object");
        goto done;
    }
    out = cJSON_CreateObject ();
    if (!out)
        rc = -1;
    else
    if (route == ROUTE_CUSTOMER_CREATE)
        rc = s_customer (&numbers, in, out, error_json);
    else
    if (route == ROUTE_POINT_CHARGE)
        rc = s_point (&numbers, in, out, error_json);
    else
    if (route == ROUTE_ORDER_CREATE)
        rc = s_order (&numbers, in, out, error_json);
    else
    if (route == ROUTE_POINT_SAVE)
        rc = s_point_save (&numbers, in, out, error_json);
    else
    if (route == ROUTE_ADMIN_MENU_CREATE || route == ROUTE_ADMIN_MENU_PATCH)
        rc = s_menu (&numbers, in, out, route == ROUTE_ADMIN_MENU_CREATE, error_json);
    else
    if (route == ROUTE_ADMIN_POOLS)
        rc = s_pools (&numbers, in, out, error_json);
    else
        rc = s_invalid (error_json, "body", "this route takes no body");
done:
    free (numbers.tokens);
    cJSON_Delete (in);
    free (copy);
    if (rc == 0) {
        *canonical = out;
        return 200;
    }
    cJSON_Delete (out);
    if (rc < 0) {
        //  Out of memory while building: not the client's fault.
        free (*error_json);
        *error_json = request_error_json ("INTERNAL", "out of memory", NULL);
        return 500;
    }
    return rc;
}

//  Validates the {id} path parameter; see request.h.
int
request_validate_arg (metrics_route_t route, const char *arg, char **error_json)
{
    *error_json = NULL;
    cJSON item = { 0 };
    item.type = cJSON_String;
    item.valuestring = (char *) (arg? arg: "");
    if (route == ROUTE_POINT_GET || route == ROUTE_CUSTOMER_TOKEN)
        return s_check_id (&item, "customerId", "CUST-", error_json)? 400: 200;
    if (route == ROUTE_ORDER_GET)
        return s_check_id (&item, "orderNo", "ORD-", error_json)? 400: 200;
    if (route == ROUTE_ADMIN_MENU_PATCH)
        return s_check_id (&item, "menuId", "MENU-", error_json)? 400: 200;
    return 200;
}

//  Reads a decimal whole number from min to max, all of text. 0 or -1.
static int
s_decimal (const char *text, int64_t min, int64_t max, int64_t *value)
{
    if (!text || !*text || strlen (text) > 19)
        return -1;
    int64_t n = 0;
    for (const char *p = text; *p; p++) {
        if (*p < '0' || *p > '9' || n > (INT64_MAX - (*p - '0')) / 10)
            return -1;
        n = n * 10 + (*p - '0');
    }
    if (n < min || n > max)
        return -1;
    *value = n;
    return 0;
}

//  Validates GET /point paging arguments; see request.h.
int
request_validate_page (const char *limit, const char *cursor, int32_t *limit_out,
                       int64_t *cursor_out, char **error_json)
{
    *error_json = NULL;
    *limit_out = 0;
    *cursor_out = 0;
    int64_t value = 0;
    if (limit) {
        if (s_decimal (limit, 1, STORE_PAGE_MAX, &value) != 0) {
            char what [64];
            snprintf (what, sizeof what, "must be a whole number from 1 to %d", STORE_PAGE_MAX);
            return s_invalid (error_json, "limit", what);
        }
        *limit_out = (int32_t) value;
    }
    if (cursor) {
        if (s_decimal (cursor, 1, INT64_MAX, &value) != 0)
            return s_invalid (error_json, "cursor", "must be the nextCursor of a page before");
        *cursor_out = value;
    }
    return 200;
}

//  Validates an Idempotency-Key header value; see request.h.
int
request_validate_idem (const char *key, char **error_json)
{
    *error_json = NULL;
    if (!key)
        return 200;
    size_t n = strlen (key);
    if (n == 0)
        return s_invalid (error_json, "Idempotency-Key", "must not be empty");
    if (n > REQUEST_IDEM_MAX) {
        char what [64];
        snprintf (what, sizeof (what), "must be at most %d characters", REQUEST_IDEM_MAX);
        return s_invalid (error_json, "Idempotency-Key", what);
    }
    for (size_t i = 0; i < n; i++)
        if ((unsigned char) key [i] < 0x20 || (unsigned char) key [i] > 0x7E)
            return s_invalid (error_json, "Idempotency-Key",
                              "must be printable ASCII characters");
    return 200;
}

//  True when rid may be used as the request id; see request.h.
bool
request_rid_ok (const char *rid)
{
    if (!rid)
        return false;
    size_t n = 0;
    for (const char *p = rid; *p; p++, n++) {
        char c = *p;
        bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')
               || c == '.' || c == '_' || c == '-';
        if (!ok || n >= REQUEST_RID_MAX)
            return false;
    }
    return n > 0;
}

//  True when content_type names application/json; see request.h.
bool
request_media_type_json (const char *content_type)
{
    if (!content_type)
        return false;
    const char *p = content_type;
    while (*p == ' ' || *p == '\t')
        p++;
    const char *type = "application/json";
    size_t tlen = strlen (type);
    if (strncasecmp (p, type, tlen) != 0)
        return false;
    p += tlen;
    while (*p == ' ' || *p == '\t')
        p++;
    return *p == '\0' || *p == ';';
}

//  The customer id a validated request names; see request.h.
const char *
request_customer_id (metrics_route_t route, const cJSON *canonical, const char *arg)
{
    if (route == ROUTE_POINT_GET || route == ROUTE_CUSTOMER_TOKEN)
        return arg;
    if ((route == ROUTE_POINT_CHARGE || route == ROUTE_ORDER_CREATE || route == ROUTE_POINT_SAVE)
    &&  canonical) {
        const cJSON *id = cJSON_GetObjectItemCaseSensitive (canonical, "customerId");
        return cJSON_IsString (id)? id->valuestring: NULL;
    }
    return NULL;
}

//  Copies text into a fixed field; the front checked it fits.
static void
s_field (char *dst, size_t size, const char *text)
{
    snprintf (dst, size, "%s", text? text: "");
}

//  The typed command of a validated request; see request.h.
void
request_cmd_fill (metrics_route_t route, const cJSON *canonical, const char *arg,
                  wire_cmd_t *cmd)
{
    memset (cmd, 0, sizeof *cmd);
    const char *customer_id = request_customer_id (route, canonical, arg);
    s_field (cmd->customer_id, sizeof cmd->customer_id, customer_id);
    if (route == ROUTE_ORDER_GET)
        s_field (cmd->order_no, sizeof cmd->order_no, arg);
    if (route == ROUTE_ADMIN_MENU_PATCH)
        s_field (cmd->menu_id, sizeof cmd->menu_id, arg);
    if (!canonical)
        return;
    const cJSON *item = cJSON_GetObjectItemCaseSensitive (canonical, "customerNm");
    if (cJSON_IsString (item))
        s_field (cmd->name, sizeof cmd->name, item->valuestring);
    item = cJSON_GetObjectItemCaseSensitive (canonical, "menuNm");
    if (cJSON_IsString (item)) {
        s_field (cmd->name, sizeof cmd->name, item->valuestring);
        cmd->menu_fields |= WIRE_MENU_NAME;
    }
    item = cJSON_GetObjectItemCaseSensitive (canonical, "menuPrice");
    if (cJSON_IsNumber (item)) {
        cmd->menu_price = (int64_t) item->valuedouble;
        cmd->menu_fields |= WIRE_MENU_PRICE;
    }
    item = cJSON_GetObjectItemCaseSensitive (canonical, "useYn");
    if (cJSON_IsString (item)) {
        cmd->menu_shown = streq (item->valuestring, "Y");
        cmd->menu_fields |= WIRE_MENU_USE_YN;
    }
    item = cJSON_GetObjectItemCaseSensitive (canonical, "chargeAmt");
    if (cJSON_IsNumber (item))
        cmd->amount = (int64_t) item->valuedouble;
    if (route == ROUTE_POINT_SAVE) {
        item = cJSON_GetObjectItemCaseSensitive (canonical, "point");
        if (cJSON_IsNumber (item))
            cmd->amount = (int64_t) item->valuedouble;
        item = cJSON_GetObjectItemCaseSensitive (canonical, "expDate");
        if (cJSON_IsString (item))
            s_field (cmd->exp_date, sizeof cmd->exp_date, item->valuestring);
        item = cJSON_GetObjectItemCaseSensitive (canonical, "remark");
        if (cJSON_IsString (item))
            s_field (cmd->remark, sizeof cmd->remark, item->valuestring);
    }
    const cJSON *lines = cJSON_GetObjectItemCaseSensitive (canonical, "menuList");
    const cJSON *line;
    cJSON_ArrayForEach (line, lines) {
        const char *menu_id = cJSON_GetObjectItemCaseSensitive (line, "menuId")->valuestring;
        int64_t qy = (int64_t) cJSON_GetObjectItemCaseSensitive (line, "qy")->valuedouble;
        size_t i = 0;
        while (i < cmd->line_count && strcmp (cmd->lines [i].menu_id, menu_id) != 0)
            i++;
        if (i == cmd->line_count) {
            assert (i < WIRE_LINES_MAX);    //  validation capped menuList
            s_field (cmd->lines [i].menu_id, sizeof cmd->lines [i].menu_id, menu_id);
            cmd->line_count++;
        }
        cmd->lines [i].qy += qy;
    }
}
