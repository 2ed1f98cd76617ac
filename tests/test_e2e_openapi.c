/*  test_e2e_openapi — docs/openapi.json is true: for real requests, good and
    bad, on every route, the route and method are in the document, the
    status is documented for them, the Content-Type is a documented media
    type and the body validates against the documented schema (so every
    error code is in the documented enum). Then every series of the server's
    own request counter (GET /metrics) must name a documented route, method
    and status, so an answer this test did not provoke is caught too.
    docs/openapi.yaml is the same document in YAML; it must not drift.

    The checker covers the part of JSON Schema the document uses: $ref (to
    #/components/…), type (one or a list), enum, required, properties,
    additionalProperties (false or a schema), items, minItems, maxItems,
    minimum, maximum, minLength, maxLength, pattern (POSIX ERE), anyOf. A schema
    keyword outside that list fails the test, so the document cannot rely
    on a check that is silently skipped.

    ctest bound: COFFEE_TEST_TIMEOUT 180 s. */

#include "testkit.h"
#include "coffee.h"
#include <cmocka.h>
#include <ctype.h>
#include <inttypes.h>
#include <math.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#ifndef COFFEE_SOURCE_DIR
#   error "COFFEE_SOURCE_DIR must name the source tree (set by CMakeLists.txt)"
#endif

//  Longest file the test reads.
#define OA_FILE_MAX   (4 * 1024 * 1024)
//  How long /display/best may take to show a new order (it follows the log).
#define OA_BEST_WAIT_MS 20000

//  What the test shares between its steps.
typedef struct {
    cJSON *doc;                 //  docs/openapi.json
    tk_server_t server;         //  the coffee process
    tk_server_t role_server;    //  a second one with --role display or order
    char customer [64];         //  a customer made by the requests
    char order_no [64];         //  an order made by the requests
    int checked;                //  answers checked against the document
} oa_fixture_t;

//  Schema keywords the checker understands, and annotations it ignores.
static const char *const s_keywords [] = {
    "$ref", "type", "enum", "required", "properties", "additionalProperties", "items",
    "minItems", "maxItems", "minimum", "maximum", "minLength", "maxLength", "pattern", "anyOf",
    "description", "example", NULL
};


//  --------------------------------------------------------------------------
//  Reading the document

//  Reads a whole file into a new NUL-terminated string, or NULL.
static char *
s_read_file (const char *path)
{
    FILE *file = fopen (path, "rb");
    if (!file)
        return NULL;
    char *text = malloc (OA_FILE_MAX + 1);
    size_t size = text ? fread (text, 1, OA_FILE_MAX, file) : 0;
    fclose (file);
    if (text)
        text [size] = 0;
    return text;
}

//  Follows a local JSON pointer "#/a/b" from the document root; NULL when
//  it leads nowhere.
static const cJSON *
s_pointer (const cJSON *doc, const char *ref)
{
    if (strncmp (ref, "#/", 2) != 0)
        return NULL;
    const cJSON *node = doc;
    const char *p = ref + 2;
    while (node && *p) {
        char name [128];
        size_t len = 0;
        while (*p && *p != '/' && len + 1 < sizeof name) {
            if (p [0] == '~' && p [1] == '1') {
                name [len++] = '/';
                p += 2;
            }
            else
            if (p [0] == '~' && p [1] == '0') {
                name [len++] = '~';
                p += 2;
            }
            else
                name [len++] = *p++;
        }
        name [len] = 0;
        node = cJSON_GetObjectItemCaseSensitive (node, name);
        if (*p == '/')
            p++;
    }
    return node;
}

//  node, or what its $ref names (chains followed, at most 16 deep).
static const cJSON *
s_deref (const cJSON *doc, const cJSON *node)
{
    for (int depth = 0; node && depth < 16; depth++) {
        const cJSON *ref = cJSON_GetObjectItemCaseSensitive (node, "$ref");
        if (!cJSON_IsString (ref))
            return node;
        node = s_pointer (doc, ref->valuestring);
    }
    return NULL;
}


//  --------------------------------------------------------------------------
//  The schema checker

//  Characters (UTF-8 code points) in text, as JSON Schema counts length.
static size_t
s_utf8_length (const char *text)
{
    size_t count = 0;
    for (const unsigned char *p = (const unsigned char *) text; *p; p++)
        count += (*p & 0xC0) != 0x80;
    return count;
}

//  True when value is of the JSON Schema type name.
static bool
s_type_is (const cJSON *value, const char *name)
{
    if (strcmp (name, "object") == 0)
        return cJSON_IsObject (value);
    if (strcmp (name, "array") == 0)
        return cJSON_IsArray (value);
    if (strcmp (name, "string") == 0)
        return cJSON_IsString (value);
    if (strcmp (name, "boolean") == 0)
        return cJSON_IsBool (value);
    if (strcmp (name, "null") == 0)
        return cJSON_IsNull (value);
    if (strcmp (name, "number") == 0)
        return cJSON_IsNumber (value);
    if (strcmp (name, "integer") == 0)
        return cJSON_IsNumber (value) && isfinite (value->valuedouble)
            && value->valuedouble == floor (value->valuedouble);
    return false;
}

//  Appends a failure to err (size len) and returns false.
static bool
s_fail (char *err, size_t len, const char *where, const char *what)
{
    size_t used = strlen (err);
    if (used + 1 < len)
        snprintf (err + used, len - used, "%s%s: %s", used ? "; " : "", where, what);
    return false;
}

//  True when value satisfies schema; otherwise err says where and why.
static bool
s_validate (const cJSON *doc, const cJSON *schema, const cJSON *value, const char *where,
            char *err, size_t len)
{
    schema = s_deref (doc, schema);
    if (!cJSON_IsObject (schema))
        return s_fail (err, len, where, "schema missing or $ref unresolved");
    char what [512];
    const cJSON *key;
    cJSON_ArrayForEach (key, schema) {
        bool known = false;
        for (size_t i = 0; s_keywords [i] && !known; i++)
            known = strcmp (key->string, s_keywords [i]) == 0;
        if (!known) {
            snprintf (what, sizeof what, "schema keyword '%s' is not supported by this checker",
                      key->string);
            return s_fail (err, len, where, what);
        }
    }
    bool ok = true;
    const cJSON *any_of = cJSON_GetObjectItemCaseSensitive (schema, "anyOf");
    if (cJSON_IsArray (any_of)) {
        //  One alternative must hold; report the last one's reasons if none does.
        bool held = false;
        char inner [1024] = "";
        const cJSON *alternative;
        cJSON_ArrayForEach (alternative, any_of) {
            inner [0] = 0;
            if (s_validate (doc, alternative, value, where, inner, sizeof inner)) {
                held = true;
                break;
            }
        }
        if (!held) {
            snprintf (what, sizeof what, "no anyOf alternative holds (last: %.400s)", inner);
            ok = s_fail (err, len, where, what);
        }
    }
    const cJSON *type = cJSON_GetObjectItemCaseSensitive (schema, "type");
    if (type) {
        bool match = false;
        if (cJSON_IsString (type))
            match = s_type_is (value, type->valuestring);
        const cJSON *one;
        if (cJSON_IsArray (type))
            cJSON_ArrayForEach (one, type)
                match = match || (cJSON_IsString (one) && s_type_is (value, one->valuestring));
        if (!match) {
            char *text = cJSON_PrintUnformatted (value);
            char *types = cJSON_PrintUnformatted (type);
            snprintf (what, sizeof what, "%.200s is not of type %.100s", text ? text : "?",
                      types ? types : "?");
            free (text);
            free (types);
            return s_fail (err, len, where, what);
        }
    }
    const cJSON *options = cJSON_GetObjectItemCaseSensitive (schema, "enum");
    if (cJSON_IsArray (options)) {
        bool match = false;
        const cJSON *option;
        cJSON_ArrayForEach (option, options)
            match = match || cJSON_Compare (option, value, true);
        if (!match) {
            char *text = cJSON_PrintUnformatted (value);
            snprintf (what, sizeof what, "%.200s is not in the documented enum", text ? text : "?");
            free (text);
            ok = s_fail (err, len, where, what);
        }
    }
    if (cJSON_IsNumber (value)) {
        const cJSON *min = cJSON_GetObjectItemCaseSensitive (schema, "minimum");
        const cJSON *max = cJSON_GetObjectItemCaseSensitive (schema, "maximum");
        if (cJSON_IsNumber (min) && value->valuedouble < min->valuedouble)
            ok = s_fail (err, len, where, "below the documented minimum");
        if (cJSON_IsNumber (max) && value->valuedouble > max->valuedouble)
            ok = s_fail (err, len, where, "above the documented maximum");
    }
    if (cJSON_IsString (value)) {
        size_t chars = s_utf8_length (value->valuestring);
        const cJSON *min = cJSON_GetObjectItemCaseSensitive (schema, "minLength");
        const cJSON *max = cJSON_GetObjectItemCaseSensitive (schema, "maxLength");
        if (cJSON_IsNumber (min) && (double) chars < min->valuedouble)
            ok = s_fail (err, len, where, "shorter than the documented minLength");
        if (cJSON_IsNumber (max) && (double) chars > max->valuedouble)
            ok = s_fail (err, len, where, "longer than the documented maxLength");
        const cJSON *pattern = cJSON_GetObjectItemCaseSensitive (schema, "pattern");
        if (cJSON_IsString (pattern)) {
            regex_t re;
            if (regcomp (&re, pattern->valuestring, REG_EXTENDED | REG_NOSUB) != 0)
                return s_fail (err, len, where, "pattern is not a POSIX extended regex");
            if (regexec (&re, value->valuestring, 0, NULL, 0) != 0) {
                snprintf (what, sizeof what, "\"%.100s\" does not match %.100s",
                          value->valuestring, pattern->valuestring);
                ok = s_fail (err, len, where, what);
            }
            regfree (&re);
        }
    }
    if (cJSON_IsArray (value)) {
        int size = cJSON_GetArraySize (value);
        const cJSON *min = cJSON_GetObjectItemCaseSensitive (schema, "minItems");
        const cJSON *max = cJSON_GetObjectItemCaseSensitive (schema, "maxItems");
        if (cJSON_IsNumber (min) && size < min->valueint)
            ok = s_fail (err, len, where, "fewer items than the documented minItems");
        if (cJSON_IsNumber (max) && size > max->valueint)
            ok = s_fail (err, len, where, "more items than the documented maxItems");
        const cJSON *items = cJSON_GetObjectItemCaseSensitive (schema, "items");
        if (items) {
            int index = 0;
            const cJSON *item;
            cJSON_ArrayForEach (item, value) {
                char inner [256];
                snprintf (inner, sizeof inner, "%s[%d]", where, index++);
                ok = s_validate (doc, items, item, inner, err, len) && ok;
            }
        }
    }
    if (cJSON_IsObject (value)) {
        const cJSON *required = cJSON_GetObjectItemCaseSensitive (schema, "required");
        const cJSON *name;
        cJSON_ArrayForEach (name, required)
            if (cJSON_IsString (name)
            &&  !cJSON_GetObjectItemCaseSensitive (value, name->valuestring)) {
                snprintf (what, sizeof what, "required member '%s' is missing", name->valuestring);
                ok = s_fail (err, len, where, what);
            }
        const cJSON *properties = cJSON_GetObjectItemCaseSensitive (schema, "properties");
        const cJSON *additional = cJSON_GetObjectItemCaseSensitive (schema, "additionalProperties");
        const cJSON *member;
        cJSON_ArrayForEach (member, value) {
            char inner [256];
            snprintf (inner, sizeof inner, "%s.%s", where, member->string);
            const cJSON *sub = cJSON_GetObjectItemCaseSensitive (properties, member->string);
            if (sub)
                ok = s_validate (doc, sub, member, inner, err, len) && ok;
            else
            if (cJSON_IsFalse (additional))
                ok = s_fail (err, len, inner, "member not in the documented properties");
            else
            if (cJSON_IsObject (additional))
                ok = s_validate (doc, additional, member, inner, err, len) && ok;
        }
    }
    return ok;
}


//  --------------------------------------------------------------------------
//  Matching answers to the document

//  The documented path template that path matches ("/point/{customerId}"
//  for "/point/CUST-00000001"), or NULL. A {name} segment matches one
//  non-empty segment.
static const cJSON *
s_path_item (const cJSON *doc, const char *path, const char **template_out)
{
    const cJSON *paths = cJSON_GetObjectItemCaseSensitive (doc, "paths");
    const cJSON *item;
    cJSON_ArrayForEach (item, paths) {
        const char *t = item->string, *p = path;
        bool match = true;
        while (match && *t && *p) {
            if (*t != '/' || *p != '/') {
                match = false;
                break;
            }
            t++;
            p++;
            const char *t_end = strchr (t, '/'), *p_end = strchr (p, '/');
            size_t t_len = t_end ? (size_t) (t_end - t) : strlen (t);
            size_t p_len = p_end ? (size_t) (p_end - p) : strlen (p);
            if (t_len > 1 && t [0] == '{' && t [t_len - 1] == '}')
                match = p_len > 0;
            else
                match = t_len == p_len && strncmp (t, p, t_len) == 0;
            t += t_len;
            p += p_len;
        }
        if (match && !*t && !*p) {
            *template_out = item->string;
            return item;
        }
    }
    *template_out = NULL;
    return NULL;
}

//  Checks an answer against one documented response object: required
//  headers, media type, body schema. A response documented without content
//  must come without a Content-Type.
static bool
s_check_response (const cJSON *doc, const cJSON *response, bool head, const tk_resp_t *resp,
                  const char *where, char *err, size_t len)
{
    //  Documented headers marked required must be there.
    const cJSON *headers = cJSON_GetObjectItemCaseSensitive (response, "headers");
    const cJSON *header;
    cJSON_ArrayForEach (header, headers) {
        const cJSON *required = cJSON_GetObjectItemCaseSensitive (s_deref (doc, header),
                                                                  "required");
        char value [256];
        if (cJSON_IsTrue (required) && !tk_resp_header (resp, header->string, value, sizeof value)) {
            char what [128];
            snprintf (what, sizeof what, "documented header %s is missing", header->string);
            return s_fail (err, len, where, what);
        }
    }
    const cJSON *content = cJSON_GetObjectItemCaseSensitive (response, "content");
    if (!content) {
        if (resp->content_type [0])
            return s_fail (err, len, where, "documented without content, yet has a Content-Type");
        return true;
    }
    //  The media type, without parameters, must be documented.
    char media [128];
    snprintf (media, sizeof media, "%s", resp->content_type);
    char *semicolon = strchr (media, ';');
    if (semicolon)
        *semicolon = 0;
    for (char *p = media; *p; p++)
        *p = (char) tolower ((unsigned char) *p);
    const cJSON *entry = cJSON_GetObjectItemCaseSensitive (content, media);
    if (!entry) {
        char what [200];
        snprintf (what, sizeof what, "Content-Type '%s' not documented", resp->content_type);
        return s_fail (err, len, where, what);
    }
    if (head)
        return true;
    const cJSON *schema = cJSON_GetObjectItemCaseSensitive (entry, "schema");
    if (strcmp (media, "application/json") == 0) {
        if (!resp->json)
            return s_fail (err, len, where, "body is not JSON");
        return s_validate (doc, schema, resp->json, "body", err, len);
    }
    //  Text bodies: the schema must say string.
    cJSON *text = cJSON_CreateString (resp->body ? resp->body : "");
    bool ok = s_validate (doc, schema, text, "body", err, len);
    cJSON_Delete (text);
    return ok;
}

//  Checks one answer against the document: the operation's documented
//  response of that status, or else (any request) a transport response of
//  libmicrohttpd's. HEAD is checked as the GET it stands for, without a
//  body. Returns true, or false with err set.
static bool
s_check_answer (const cJSON *doc, const char *method, const char *path, const tk_resp_t *resp,
                char *err, size_t len)
{
    err [0] = 0;
    char where [300], status [8], op_name [16];
    snprintf (where, sizeof where, "%s %s -> %ld", method, path, resp->status);
    snprintf (status, sizeof status, "%ld", resp->status);
    bool head = strcmp (method, "HEAD") == 0;
    size_t i;
    for (i = 0; i + 1 < sizeof op_name && method [i]; i++)
        op_name [i] = (char) tolower ((unsigned char) method [i]);
    op_name [i] = 0;
    if (head)
        snprintf (op_name, sizeof op_name, "get");

    const char *template = NULL;
    const cJSON *item = s_path_item (doc, path, &template);
    const cJSON *operation = item ? cJSON_GetObjectItemCaseSensitive (item, op_name) : NULL;
    const cJSON *responses = NULL;
    const char *routing = NULL;
    if (operation)
        responses = cJSON_GetObjectItemCaseSensitive (operation, "responses");
    else {
        //  Not a documented operation: only the documented 404 / 405 may come.
        responses = cJSON_GetObjectItemCaseSensitive (doc, "x-unmatched-responses");
        if (item && resp->status != 405)
            routing = "undocumented method must be answered 405";
        if (!item && resp->status != 404)
            routing = "undocumented path must be answered 404";
    }
    const cJSON *response = s_deref (doc, cJSON_GetObjectItemCaseSensitive (responses, status));
    const cJSON *transport = cJSON_GetObjectItemCaseSensitive (
        cJSON_GetObjectItemCaseSensitive (doc, "x-transport-responses"), status);
    if (!routing && response && s_check_response (doc, response, head, resp, where, err, len))
        return true;
    if (transport) {
        char transport_err [512] = "";
        if (s_check_response (doc, s_deref (doc, transport), head, resp, where, transport_err,
                              sizeof transport_err)) {
            err [0] = 0;
            return true;
        }
    }
    if (routing)
        return s_fail (err, len, where, routing);
    if (!response)
        return s_fail (err, len, where, "status not documented for this operation");
    return false;
}


//  --------------------------------------------------------------------------
//  Fixture

//  Loads the document and starts a server with a small body limit.
static int
s_setup (void **state)
{
    oa_fixture_t *self = calloc (1, sizeof *self);
    if (!self)
        return -1;
    char *text = s_read_file (COFFEE_SOURCE_DIR "/docs/openapi.json");
    self->doc = text ? cJSON_Parse (text) : NULL;
    free (text);
    if (!self->doc) {
        fprintf (stderr, "docs/openapi.json is missing or not JSON\n");
        free (self);
        return -1;
    }
    const char *extra [] = { "--max-body", "1024", NULL };
    if (tk_server_start (&self->server, NULL, extra) != 0) {
        cJSON_Delete (self->doc);
        free (self);
        return -1;
    }
    *state = self;
    return 0;
}

//  Stops the server (if a test left it running) and frees the document.
static int
s_teardown (void **state)
{
    oa_fixture_t *self = (oa_fixture_t *) *state;
    if (self) {
        tk_server_kill9 (&self->role_server);
        tk_server_kill9 (&self->server);
        cJSON_Delete (self->doc);
        free (self);
    }
    return 0;
}


//  --------------------------------------------------------------------------
//  Tests

//  Counts the $refs under node, failing on one that does not resolve.
static void
s_check_refs (const cJSON *doc, const cJSON *node, int *refs)
{
    const cJSON *child;
    cJSON_ArrayForEach (child, node) {
        if (child->string && strcmp (child->string, "$ref") == 0) {
            assert_true (cJSON_IsString (child));
            if (!s_pointer (doc, child->valuestring))
                fail_msg ("$ref %s does not resolve", child->valuestring);
            (*refs)++;
        }
        if (cJSON_IsObject (child) || cJSON_IsArray (child))
            s_check_refs (doc, child, refs);
    }
}

//  The document is OpenAPI 3, every $ref in it resolves, and every route
//  the server has is in it.
static void
test_document (void **state)
{
    oa_fixture_t *self = (oa_fixture_t *) *state;
    const cJSON *version = cJSON_GetObjectItemCaseSensitive (self->doc, "openapi");
    assert_true (cJSON_IsString (version));
    assert_true (strncmp (version->valuestring, "3.", 2) == 0);
    int refs = 0;
    s_check_refs (self->doc, self->doc, &refs);
    assert_true (refs > 0);
    //  Every route of the server's one route table is documented, with its
    //  method, and the document has no operation the table lacks.
    size_t count;
    const route_t *routes = route_table (&count);
    const cJSON *paths = cJSON_GetObjectItemCaseSensitive (self->doc, "paths");
    for (size_t i = 0; i < count; i++) {
        char method [8];
        size_t m = 0;
        for (; routes [i].method [m] && m + 1 < sizeof method; m++)
            method [m] = (char) tolower ((unsigned char) routes [i].method [m]);
        method [m] = '\0';
        if (!cJSON_GetObjectItemCaseSensitive (cJSON_GetObjectItemCaseSensitive (paths,
                                               routes [i].label), method))
            fail_msg ("%s %s is not documented", method, routes [i].label);
    }
    const cJSON *path;
    int operations = 0;
    cJSON_ArrayForEach (path, paths) {
        const cJSON *op;
        cJSON_ArrayForEach (op, path) {
            if (!strchr ("gpd", op->string [0]) && strcmp (op->string, "head") != 0)
                continue;       //  parameters, summary: not operations
            bool found = false;
            for (size_t i = 0; i < count && !found; i++)
                found = strcmp (routes [i].label, path->string) == 0
                     && strcasecmp (routes [i].method, op->string) == 0;
            if (!found)
                fail_msg ("%s %s is documented but not in the route table", op->string,
                          path->string);
            operations++;
        }
    }
    assert_int_equal (operations, (int) count);
}

//  The checker itself: it must refuse what the document does not allow,
//  or a passing run would prove nothing.
static void
test_checker_refuses (void **state)
{
    oa_fixture_t *self = (oa_fixture_t *) *state;
    const cJSON *doc = self->doc;
    struct { const char *method, *path; long status; const char *type, *body; } bad [] = {
        //  undocumented status
        { "GET", "/display/menu", 418, "application/json", "{\"code\":\"INTERNAL\",\"message\":\"x\"}" },
        //  error code outside the enum
        { "POST", "/order", 400, "application/json", "{\"code\":\"OOPS\",\"message\":\"x\"}" },
        //  missing required member
        { "POST", "/point", 200, "application/json", "{\"beforeChargePoint\":0,\"chargeAmt\":1}" },
        //  undocumented member
        { "POST", "/customer", 200, "application/json", "{\"customerId\":\"CUST-00000001\",\"x\":1}" },
        //  wrong type
        { "GET", "/display/menu", 200, "application/json",
          "[{\"menuId\":\"MENU-00000001\",\"menuNm\":\"a\",\"menuPrice\":\"4200\"}]" },
        //  pattern
        { "POST", "/order", 200, "application/json",
          "{\"orderNo\":\"ORDER-1\",\"orderPrice\":1,\"usePoint\":1}" },
        //  not a whole number
        { "POST", "/order", 200, "application/json",
          "{\"orderNo\":\"ORD-00000001\",\"orderPrice\":1.5,\"usePoint\":1}" },
        //  undocumented media type
        { "GET", "/metrics", 200, "application/json", "\"x\"" },
        //  undocumented route answered other than 404
        { "GET", "/nope", 200, "application/json", "{}" },
        //  more than three popular menus
        { "GET", "/display/best", 200, "application/json",
          "[{\"menuId\":\"MENU-00000001\",\"menuNm\":\"a\",\"orderCnt\":1},"
          "{\"menuId\":\"MENU-00000002\",\"menuNm\":\"a\",\"orderCnt\":1},"
          "{\"menuId\":\"MENU-00000003\",\"menuNm\":\"a\",\"orderCnt\":1},"
          "{\"menuId\":\"MENU-00000004\",\"menuNm\":\"a\",\"orderCnt\":1}]" },
        //  a 503 health body that is neither Health nor Error (anyOf)
        { "GET", "/health", 503, "application/json", "{\"status\":\"DOWN\"}" },
        //  a transport answer that claims a media type
        { "POST", "/customer", 431, "text/html", "<html></html>" },
        //  405 without Allow
        { "DELETE", "/order", 405, "application/json",
          "{\"code\":\"METHOD_NOT_ALLOWED\",\"message\":\"x\"}" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad [0]; i++) {
        tk_resp_t resp;
        memset (&resp, 0, sizeof resp);
        resp.status = bad [i].status;
        resp.body = (char *) bad [i].body;
        resp.json = cJSON_Parse (bad [i].body);
        snprintf (resp.content_type, sizeof resp.content_type, "%s", bad [i].type);
        char err [1024];
        bool ok = s_check_answer (doc, bad [i].method, bad [i].path, &resp, err, sizeof err);
        cJSON_Delete (resp.json);
        if (ok)
            fail_msg ("checker accepted bad case %zu (%s %s %ld %s)", i, bad [i].method,
                      bad [i].path, bad [i].status, bad [i].body);
    }
    //  and accepts a good one.
    tk_resp_t resp;
    memset (&resp, 0, sizeof resp);
    resp.status = 409;
    resp.body = (char *) "{\"code\":\"NO_POINT\",\"message\":\"1 포인트가 부족합니다.\",\"shortfall\":1}";
    resp.json = cJSON_Parse (resp.body);
    snprintf (resp.content_type, sizeof resp.content_type, "application/json; charset=utf-8");
    char err [1024];
    bool ok = s_check_answer (doc, "POST", "/order", &resp, err, sizeof err);
    cJSON_Delete (resp.json);
    if (!ok)
        fail_msg ("checker refused a good answer: %s", err);
}

//  Replaces {C} and {O} in pattern with the fixture's customer and order.
static void
s_fill (const oa_fixture_t *self, const char *pattern, char *out, size_t size)
{
    size_t used = 0;
    for (const char *p = pattern; *p && used + 1 < size; ) {
        const char *value = NULL;
        if (strncmp (p, "{C}", 3) == 0)
            value = self->customer;
        else
        if (strncmp (p, "{O}", 3) == 0)
            value = self->order_no;
        if (value) {
            used += (size_t) snprintf (out + used, size - used, "%s", value);
            if (used >= size)
                used = size - 1;
            p += 3;
        }
        else
            out [used++] = *p++;
    }
    out [used] = 0;
}

//  Sends one request and checks the answer against the document and the
//  status the test expects. Returns the answer (caller resets it).
static void
s_exchange_on (oa_fixture_t *self, int port, const char *method, const char *path_pattern,
               const char *body_pattern, const char *header, long expected, tk_resp_t *resp)
{
    char path [256], body [4096];
    s_fill (self, path_pattern, path, sizeof path);
    if (body_pattern)
        s_fill (self, body_pattern, body, sizeof body);
    const char *headers [2] = { header, NULL };
    assert_int_equal (tk_http (method, port, path, body_pattern ? body : NULL, headers, resp), 0);
    char err [2048];
    if (!s_check_answer (self->doc, method, path, resp, err, sizeof err))
        fail_msg ("answer not as documented: %s\n  body: %s", err, resp->body);
    if (expected && resp->status != expected)
        fail_msg ("%s %s: expected %ld, got %ld %s", method, path, expected, resp->status,
                  resp->body);
    self->checked++;
}

//  s_exchange_on the fixture's main server.
static void
s_exchange (oa_fixture_t *self, const char *method, const char *path_pattern,
            const char *body_pattern, const char *header, long expected, tk_resp_t *resp)
{
    s_exchange_on (self, self->server.port, method, path_pattern, body_pattern, header,
                   expected, resp);
}

//  Real requests, good and bad, on every route.
static void
test_answers_as_documented (void **state)
{
    oa_fixture_t *self = (oa_fixture_t *) *state;
    tk_resp_t resp;

    s_exchange (self, "POST", "/customer", "{\"customerNm\":\"openapi\"}", NULL, 200, &resp);
    snprintf (self->customer, sizeof self->customer, "%s",
              cJSON_GetObjectItemCaseSensitive (resp.json, "customerId")->valuestring);
    tk_resp_reset (&resp);
    s_exchange (self, "POST", "/point", "{\"customerId\":\"{C}\",\"chargeAmt\":50000}", NULL, 200,
                &resp);
    tk_resp_reset (&resp);
    s_exchange (self, "POST", "/order", "{\"customerId\":\"{C}\",\"menuList\":"
                "[{\"menuId\":\"MENU-00000001\",\"qy\":2},{\"menuId\":\"MENU-00000004\",\"qy\":1}]}",
                NULL, 200, &resp);
    snprintf (self->order_no, sizeof self->order_no, "%s",
              cJSON_GetObjectItemCaseSensitive (resp.json, "orderNo")->valuestring);
    tk_resp_reset (&resp);

    char big [1400];
    snprintf (big, sizeof big, "{\"customerNm\":\"%01300d\"}", 1);
    //  Headers past libmicrohttpd's per-connection memory (32 KiB by default).
    size_t huge_size = 48 * 1024;
    char *huge_header = malloc (huge_size);
    assert_non_null (huge_header);
    snprintf (huge_header, huge_size, "X-Padding: %0*d", (int) huge_size - 16, 0);
    struct {
        const char *method, *path, *body, *header;
        long status;
    } cases [] = {
        { "GET", "/display/menu", NULL, NULL, 200 },
        { "HEAD", "/display/menu", NULL, NULL, 200 },
        { "GET", "/display/best", NULL, NULL, 200 },
        { "DELETE", "/display/best", NULL, NULL, 405 },
        { "POST", "/customer", "{\"customerNm\":\"둘리\"}", NULL, 200 },
        { "POST", "/customer", "{bad", NULL, 400 },
        { "POST", "/customer", "", NULL, 400 },
        { "POST", "/customer", "{}", NULL, 400 },
        { "POST", "/customer", "[]", NULL, 400 },
        { "POST", "/customer", "{\"customerNm\":\"a\"}", "Content-Type: text/plain", 415 },
        { "POST", "/customer", "{\"customerNm\":\"a\"}", "Content-Type:", 415 },
        { "POST", "/customer", big, NULL, 413 },
        { "GET", "/customer", NULL, NULL, 405 },
        { "POST", "/point", "{\"customerId\":\"{C}\",\"chargeAmt\":100}", NULL, 200 },
        { "POST", "/point", "{\"customerId\":\"{C}\",\"chargeAmt\":100}", "Idempotency-Key: oa-1", 200 },
        { "POST", "/point", "{\"customerId\":\"{C}\",\"chargeAmt\":100}", "Idempotency-Key: oa-1", 200 },
        { "POST", "/point", "{\"customerId\":\"{C}\",\"chargeAmt\":101}", "Idempotency-Key: oa-1", 422 },
        { "POST", "/point", "{\"customerId\":\"{C}\",\"chargeAmt\":100}", "Idempotency-Key: \x01", 400 },
        { "POST", "/point", "{\"customerId\":\"CUST-99999999\",\"chargeAmt\":100}", NULL, 404 },
        { "POST", "/point", "{\"customerId\":\"{C}\",\"chargeAmt\":0}", NULL, 400 },
        { "POST", "/point", "{\"customerId\":\"{C}\",\"chargeAmt\":1.5}", NULL, 400 },
        { "POST", "/point", "{\"customerId\":\"{C}\"}", NULL, 400 },
        { "PUT", "/point", "{}", NULL, 405 },
        { "GET", "/point/{C}", NULL, NULL, 200 },
        { "HEAD", "/point/{C}", NULL, NULL, 200 },
        { "GET", "/point/CUST-99999999", NULL, NULL, 404 },
        { "GET", "/point/nobody", NULL, NULL, 400 },
        { "POST", "/point/{C}", "{}", NULL, 405 },
        { "POST", "/order", "{\"customerId\":\"{C}\",\"menuList\":[{\"menuId\":\"MENU-00000002\",\"qy\":1}]}",
          "Idempotency-Key: oa-order", 200 },
        { "POST", "/order", "{\"customerId\":\"{C}\",\"menuList\":[{\"menuId\":\"MENU-00000002\",\"qy\":1}]}",
          "Idempotency-Key: oa-order", 200 },
        { "POST", "/order", "{\"customerId\":\"{C}\",\"menuList\":[{\"menuId\":\"MENU-00000002\",\"qy\":2}]}",
          "Idempotency-Key: oa-order", 422 },
        { "POST", "/order", "{\"customerId\":\"{C}\",\"menuList\":[{\"menuId\":\"MENU-00000003\",\"qy\":100}]}",
          NULL, 409 },
        { "POST", "/order", "{\"customerId\":\"{C}\",\"menuList\":[{\"menuId\":\"MENU-99999999\",\"qy\":1}]}",
          NULL, 404 },
        { "POST", "/order", "{\"customerId\":\"CUST-99999999\",\"menuList\":[{\"menuId\":\"MENU-00000001\",\"qy\":1}]}",
          NULL, 404 },
        { "POST", "/order", "{\"customerId\":\"{C}\",\"menuList\":[]}", NULL, 400 },
        { "POST", "/order", "{\"customerId\":\"{C}\",\"menuList\":[{\"menuId\":\"MENU-00000001\",\"qy\":0}]}",
          NULL, 400 },
        { "POST", "/order", "{\"customerId\":\"{C}\"", NULL, 400 },
        { "POST", "/order", "{}", "Content-Type: application/xml", 415 },
        { "GET", "/order", NULL, NULL, 405 },
        { "GET", "/order/{O}", NULL, NULL, 200 },
        { "GET", "/order/ORD-99999999", NULL, NULL, 404 },
        { "GET", "/order/x", NULL, NULL, 400 },
        { "DELETE", "/order/{O}", NULL, NULL, 405 },
        { "GET", "/health", NULL, NULL, 200 },
        { "POST", "/health", NULL, NULL, 405 },
        { "GET", "/metrics", NULL, NULL, 200 },
        { "GET", "/nope", NULL, NULL, 404 },
        { "GET", "/", NULL, NULL, 200 },
        { "HEAD", "/", NULL, NULL, 200 },
        { "GET", "/console", NULL, NULL, 200 },
        { "GET", "/page/style.css", NULL, NULL, 200 },
        { "GET", "/page/app.js", NULL, NULL, 200 },
        { "GET", "/page/console.js", NULL, NULL, 200 },
        { "POST", "/console", "{}", NULL, 405 },
        //  As the admin (testkit's token) and without a credential
        { "PUT", "/admin/pools/order", "{\"actors\":3}", NULL, 200 },
        { "PUT", "/admin/pools/order", "{\"actors\":3}", "Authorization:", 401 },
        { "GET", "/metrics", NULL, "Authorization:", 401 },
        { "GET", "/point/{C}", NULL, "Authorization:", 401 },
        { "GET", "/point/{C}", NULL, "Authorization: Bearer AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", 401 },
        { "GET", "/point/{C}?limit=0", NULL, NULL, 400 },
        { "GET", "/point/{C}?limit=2", NULL, NULL, 200 },
        { "GET", "/order/{O}", NULL, "Authorization:", 401 },
        { "POST", "/point", "{\"customerId\":\"{C}\",\"chargeAmt\":1}", "Authorization:", 401 },
        { "POST", "/order", "{\"customerId\":\"{C}\",\"menuList\":[{\"menuId\":\"MENU-00000001\",\"qy\":1}]}",
          "Authorization:", 401 },
        { "POST", "/customer/{C}/token", NULL, "Authorization:", 401 },
        { "POST", "/customer/CUST-99999999/token", NULL, NULL, 404 },
        { "POST", "/customer/x/token", NULL, NULL, 400 },
        { "POST", "/customer/{C}/token", NULL, NULL, 200 },
        { "GET", "/admin/pools/order", NULL, NULL, 405 },
        { "GET", "/point", NULL, NULL, 405 },
        { "GET", "/point/", NULL, NULL, 0 },
        { "GET", "/order/{O}/lines", NULL, NULL, 404 },
        //  Answered by libmicrohttpd before routing (x-transport-responses).
        { "POST", "/customer", NULL, "Content-Length: 99999999999999999999", 413 },
        { "GET", "/display/menu", NULL, huge_header, 431 },
        { "GET", "/health", NULL, huge_header, 431 },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases [0]; i++) {
        s_exchange (self, cases [i].method, cases [i].path, cases [i].body, cases [i].header,
                    cases [i].status, &resp);
        tk_resp_reset (&resp);
    }
    free (huge_header);

    //  /display/best follows the event log: wait until it shows the orders,
    //  then check the non-empty answer too.
    int64_t deadline = tk_now_ms () + OA_BEST_WAIT_MS;
    int size = 0;
    while (size == 0 && tk_now_ms () < deadline) {
        s_exchange (self, "GET", "/display/best", NULL, NULL, 200, &resp);
        size = cJSON_GetArraySize (resp.json);
        tk_resp_reset (&resp);
        if (size == 0)
            usleep (100 * 1000);
    }
    assert_true (size > 0);
    fprintf (stderr, "openapi: %d answers checked against the document\n", self->checked);
}

//  A display-role and an order-role instance on the same data dir: the
//  routes a role does not serve answer the documented 404, and their
//  health says which role and parts they run.
static void
test_roles_as_documented (void **state)
{
    oa_fixture_t *self = (oa_fixture_t *) *state;
    const char *roles [] = { "display", "order" };
    for (int r = 0; r < 2; r++) {
        const char *extra [] = { "--role", roles [r], NULL };
        assert_int_equal (tk_server_start (&self->role_server, self->server.data_dir, extra), 0);
        struct { const char *method, *path, *body; long display, order; } cases [] = {
            { "GET", "/display/menu", NULL, 200, 404 },
            { "GET", "/display/best", NULL, 200, 404 },
            { "POST", "/customer", "{\"customerNm\":\"role\"}", 404, 200 },
            { "POST", "/point", "{\"customerId\":\"{C}\",\"chargeAmt\":1}", 404, 200 },
            { "GET", "/point/{C}", NULL, 404, 200 },
            { "POST", "/order", "{\"customerId\":\"{C}\",\"menuList\":[{\"menuId\":\"MENU-00000001\",\"qy\":1}]}",
              404, 200 },
            { "GET", "/order/{O}", NULL, 404, 200 },
            { "GET", "/health", NULL, 200, 200 },
            { "GET", "/metrics", NULL, 200, 200 },
            { "GET", "/nope", NULL, 404, 404 },
        };
        for (size_t i = 0; i < sizeof cases / sizeof cases [0]; i++) {
            tk_resp_t resp;
            s_exchange_on (self, self->role_server.port, cases [i].method, cases [i].path,
                           cases [i].body, NULL, r == 0 ? cases [i].display : cases [i].order,
                           &resp);
            if (strcmp (cases [i].path, "/health") == 0) {
                const cJSON *role = cJSON_GetObjectItemCaseSensitive (resp.json, "role");
                assert_true (cJSON_IsString (role));
                assert_string_equal (role->valuestring, roles [r]);
            }
            tk_resp_reset (&resp);
        }
        assert_int_equal (tk_server_stop (&self->role_server), 0);
    }
}

//  Every series of the server's request counter names a documented route,
//  method and status: answers this test did not look at are covered too.
static void
test_metrics_as_documented (void **state)
{
    oa_fixture_t *self = (oa_fixture_t *) *state;
    tk_resp_t resp;
    assert_int_equal (tk_http ("GET", self->server.port, "/metrics", NULL, NULL, &resp), 0);
    assert_int_equal (resp.status, 200);
    const char *unmatched_statuses [] = { "404", "405" };
    regex_t re;
    assert_int_equal (regcomp (&re, "^coffee_http_requests_total\\{method=\"([A-Z]*)\","
                                    "route=\"([^\"]*)\",status=\"([^\"]*)\"\\} ([0-9]+)$",
                               REG_EXTENDED), 0);
    int series = 0;
    char *save = NULL;
    for (char *line = strtok_r (resp.body, "\n", &save); line; line = strtok_r (NULL, "\n", &save)) {
        regmatch_t m [5];
        if (regexec (&re, line, 5, m, 0) != 0)
            continue;
        char method [16], route [128], status [16];
        snprintf (method, sizeof method, "%.*s", (int) (m [1].rm_eo - m [1].rm_so), line + m [1].rm_so);
        snprintf (route, sizeof route, "%.*s", (int) (m [2].rm_eo - m [2].rm_so), line + m [2].rm_so);
        snprintf (status, sizeof status, "%.*s", (int) (m [3].rm_eo - m [3].rm_so), line + m [3].rm_so);
        series++;
        if (strcmp (status, "other") == 0)
            fail_msg ("the server answered a status it does not count by name: %s", line);
        if (strcmp (route, "unmatched") == 0) {
            bool known = false;
            for (size_t i = 0; i < 2; i++)
                known = known || strcmp (status, unmatched_statuses [i]) == 0;
            if (!known || !cJSON_GetObjectItemCaseSensitive (
                    cJSON_GetObjectItemCaseSensitive (self->doc, "x-unmatched-responses"), status))
                fail_msg ("unmatched requests answered an undocumented status: %s", line);
            continue;
        }
        for (char *p = method; *p; p++)
            *p = (char) tolower ((unsigned char) *p);
        const cJSON *item = cJSON_GetObjectItemCaseSensitive (
            cJSON_GetObjectItemCaseSensitive (self->doc, "paths"), route);
        const cJSON *operation = cJSON_GetObjectItemCaseSensitive (item, method);
        const cJSON *responses = cJSON_GetObjectItemCaseSensitive (operation, "responses");
        if (!cJSON_GetObjectItemCaseSensitive (responses, status))
            fail_msg ("metrics show an undocumented answer: %s", line);
    }
    regfree (&re);
    tk_resp_reset (&resp);
    assert_true (series >= 9);
}

//  docs/openapi.yaml is the same document: every path, every status code
//  key and every error code of the JSON appears in it.
static void
test_yaml_in_step (void **state)
{
    oa_fixture_t *self = (oa_fixture_t *) *state;
    char *yaml = s_read_file (COFFEE_SOURCE_DIR "/docs/openapi.yaml");
    assert_non_null (yaml);
    char needle [256];
    const cJSON *path;
    cJSON_ArrayForEach (path, cJSON_GetObjectItemCaseSensitive (self->doc, "paths")) {
        snprintf (needle, sizeof needle, "%s:", path->string);
        if (!strstr (yaml, needle))
            fail_msg ("openapi.yaml lacks path %s: regenerate it from openapi.json", path->string);
    }
    const cJSON *codes = cJSON_GetObjectItemCaseSensitive (
        s_pointer (self->doc, "#/components/schemas/ErrorCode"), "enum");
    const cJSON *code;
    cJSON_ArrayForEach (code, codes)
        if (!strstr (yaml, code->valuestring))
            fail_msg ("openapi.yaml lacks error code %s: regenerate it", code->valuestring);
    const cJSON *schema;
    cJSON_ArrayForEach (schema, s_pointer (self->doc, "#/components/schemas")) {
        snprintf (needle, sizeof needle, "  %s:", schema->string);
        if (!strstr (yaml, needle))
            fail_msg ("openapi.yaml lacks schema %s: regenerate it", schema->string);
    }
    free (yaml);
}

//  Last: the server stops cleanly.
static void
test_stop (void **state)
{
    oa_fixture_t *self = (oa_fixture_t *) *state;
    assert_int_equal (tk_server_stop (&self->server), 0);
}


//  Runs the tests; non-zero when one failed.
int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_document),
        cmocka_unit_test (test_checker_refuses),
        cmocka_unit_test (test_answers_as_documented),
        cmocka_unit_test (test_metrics_as_documented),
        cmocka_unit_test (test_roles_as_documented),
        cmocka_unit_test (test_yaml_in_step),
        cmocka_unit_test (test_stop),
    };
    return cmocka_run_group_tests_name ("e2e_openapi", tests, s_setup, s_teardown);
}
