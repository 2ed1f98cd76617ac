/*  request — route table and input validation of the HTTP front.
    See include/request.h for the rules. */
#include "request.h"
#include "actor.h"
#include "store.h"
#include <math.h>
#include <string.h>
#include <strings.h>

//  Whole numbers at or past this magnitude are refused: a double cannot
//  tell 2^53 from 2^53 + 1, so the value may already be wrong.
#define S_EXACT_LIMIT 9007199254740992.0

_Static_assert (STORE_LINES_MAX <= WIRE_LINES_MAX, "menuList fits the wire");
_Static_assert (STORE_NAME_MAX < WIRE_NAME_MAX, "customerNm fits the wire");

//  Longest field path we report ("menuList[19].menuId").
#define S_FIELD_MAX 64

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

//  Bytes of one UTF-8 sequence at s (n bytes left), or 0 when it is not a
//  valid, shortest-form encoding of a scalar value.
static size_t
s_utf8_seq (const unsigned char *s, size_t n)
{
    if (s [0] < 0x80)
        return 1;
    size_t len;
    uint32_t cp;
    if (s [0] >= 0xC2 && s [0] <= 0xDF) {
        len = 2;
        cp = s [0] & 0x1F;
    }
    else
    if (s [0] >= 0xE0 && s [0] <= 0xEF) {
        len = 3;
        cp = s [0] & 0x0F;
    }
    else
    if (s [0] >= 0xF0 && s [0] <= 0xF4) {
        len = 4;
        cp = s [0] & 0x07;
    }
    else
        return 0;
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s [i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (s [i] & 0x3F);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000)
    ||  (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF)
        return 0;
    return len;
}

//  True when the UTF-8 sequence at s (len bytes) is a space: U+0020, the
//  no-break space U+00A0 or the ideographic space U+3000 (Korean and
//  Japanese keyboards type it).
static bool
s_is_space (const unsigned char *s, size_t len)
{
    return (len == 1 && s [0] == 0x20)
        || (len == 2 && s [0] == 0xC2 && s [1] == 0xA0)
        || (len == 3 && s [0] == 0xE3 && s [1] == 0x80 && s [2] == 0x80);
}

//  The customer name: a string of 1..STORE_NAME_MAX bytes of UTF-8 with a
//  character other than a space and no control characters (a name is one
//  line of text).
static int
s_check_name (const cJSON *item, const char *field, char **error_json)
{
    if (!item || cJSON_IsNull (item))
        return s_invalid (error_json, field, "is required");
    if (!cJSON_IsString (item) || !item->valuestring)
        return s_invalid (error_json, field, "must be a string");
    const unsigned char *s = (const unsigned char *) item->valuestring;
    size_t n = strlen (item->valuestring);
    if (n == 0)
        return s_invalid (error_json, field, "must not be empty");
    if (n > STORE_NAME_MAX) {
        char what [64];
        snprintf (what, sizeof (what), "must be at most %d bytes", STORE_NAME_MAX);
        return s_invalid (error_json, field, what);
    }
    bool blank = true;
    size_t i = 0;
    while (i < n) {
        size_t len = s_utf8_seq (s + i, n - i);
        if (len == 0)
            return s_invalid (error_json, field, "must be valid UTF-8");
        if (len == 1 && (s [i] < 0x20 || s [i] == 0x7F))
            return s_invalid (error_json, field, "must not contain control characters");
        if (!s_is_space (s + i, len))
            blank = false;
        i += len;
    }
    if (blank)
        return s_invalid (error_json, field, "must not be only spaces");
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

//  A whole number 1..max; *value gets it.
static int
s_check_count (const cJSON *item, const char *field, int64_t max, int64_t *value,
               char **error_json)
{
    if (!item || cJSON_IsNull (item))
        return s_invalid (error_json, field, "is required");
    if (!cJSON_IsNumber (item))
        return s_invalid (error_json, field, "must be a number");
    double v = item->valuedouble;
    if (!isfinite (v) || fabs (v) >= S_EXACT_LIMIT)
        return s_invalid (error_json, field, "is too large to be exact (limit 2^53)");
    if (v != floor (v))
        return s_invalid (error_json, field, "must be a whole number");
    if (v < 1)
        return s_invalid (error_json, field, "must be at least 1");
    if (v > (double) max) {
        char what [64];
        snprintf (what, sizeof (what), "must be at most %" PRId64, max);
        return s_invalid (error_json, field, what);
    }
    *value = (int64_t) v;
    return 0;
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
s_customer (const cJSON *in, cJSON *out, char **error_json)
{
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
s_point (const cJSON *in, cJSON *out, char **error_json)
{
    const cJSON *id, *amount;
    int64_t value = 0;
    int rc = s_member (in, "customerId", "customerId", &id, error_json);
    if (!rc)
        rc = s_check_id (id, "customerId", "CUST-", error_json);
    if (!rc)
        rc = s_member (in, "chargeAmt", "chargeAmt", &amount, error_json);
    if (!rc)
        rc = s_check_count (amount, "chargeAmt", STORE_CHARGE_MAX, &value, error_json);
    if (rc)
        return rc;
    if (!cJSON_AddStringToObject (out, "customerId", id->valuestring)
    ||  !cJSON_AddNumberToObject (out, "chargeAmt", (double) value))
        return -1;
    return 0;
}

//  One entry of menuList at index; adds its canonical form to lines.
//  totals holds the qy seen so far per menuId (a repeated menu is one line).
static int
s_order_line (const cJSON *entry, int index, cJSON *lines, cJSON *totals, char **error_json)
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
        rc = s_check_count (qy, sub, STORE_QY_MAX, &value, error_json);
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
s_order (const cJSON *in, cJSON *out, char **error_json)
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
        rc = s_order_line (entry, index++, lines, totals, error_json);
    cJSON_Delete (totals);
    return rc;
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
    const char *end = NULL;
    cJSON *in = cJSON_ParseWithLengthOpts (body, len, &end, false);
    size_t at = end? (size_t) (end - body): 0;
    if (in)
        while (at < len && strchr (" \t\r\n", body [at]) && body [at] != '\0')
            at++;
    if (!in || at < len) {
        char message [96];
        snprintf (message, sizeof (message), "body: not valid JSON (at byte %zu)", at);
        *error_json = request_error_json ("INVALID_JSON", message, NULL);
        cJSON_Delete (in);
        free (copy);
        return 400;
    }
    int rc;
    cJSON *out = NULL;
    if (!cJSON_IsObject (in)) {
        rc = s_invalid (error_json, "body", "must be a JSON object");
        goto done;
    }
    out = cJSON_CreateObject ();
    if (!out)
        rc = -1;
    else
    if (route == ROUTE_CUSTOMER_CREATE)
        rc = s_customer (in, out, error_json);
    else
    if (route == ROUTE_POINT_CHARGE)
        rc = s_point (in, out, error_json);
    else
    if (route == ROUTE_ORDER_CREATE)
        rc = s_order (in, out, error_json);
    else
        rc = s_invalid (error_json, "body", "this route takes no body");
done:
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
    if ((route == ROUTE_POINT_CHARGE || route == ROUTE_ORDER_CREATE) && canonical) {
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
    if (!canonical)
        return;
    const cJSON *item = cJSON_GetObjectItemCaseSensitive (canonical, "customerNm");
    if (cJSON_IsString (item))
        s_field (cmd->name, sizeof cmd->name, item->valuestring);
    item = cJSON_GetObjectItemCaseSensitive (canonical, "chargeAmt");
    if (cJSON_IsNumber (item))
        cmd->amount = (int64_t) item->valuedouble;
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
