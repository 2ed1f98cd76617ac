/*  test_hostile — a hostile-client battery over raw sockets against the
    real `coffee serve` on loopback: framing, headers, methods, versions,
    transfer and content encodings, numbers at and past int64 and 2^53,
    nesting, unicode, sizes, query and path tricks, JSON structure,
    Expect, Idempotency-Key and X-Request-Id abuse, slow clients,
    half-closed clients and pipelining. Each request must get the answer
    docs/openapi.json documents (x-transport-responses for what
    libmicrohttpd answers itself), the server must answer /health after
    each, and balances, histories, orders, popular counts, menus and the
    collector's file must be byte-identical before and after; the next
    customer and order must get the very next numbers, and an
    Idempotency-Key refused with a bad body must still be free.

    The three framing cases the lead is fixing (conflicting Content-Length,
    Content-Length with Transfer-Encoding, HTTP/1.1 without Host) are in
    test_hostile_framing.

    ctest bound: COFFEE_TEST_TIMEOUT 300 s. */

#include "testkit.h"
#include <cmocka.h>
#include <stdarg.h>
#include "hostile_kit.h"

//  The body limit the server runs with (--max-body), small so size cases
//  stay cheap.
#define HC_MAX_BODY     4096
//  Most cases the battery holds.
#define HC_CASES_MAX    400

//  How a case is sent and read.
enum {
    HC_SLOW        = 1 << 0,    //  one byte at a time
    HC_HALF        = 1 << 1,    //  half-close after sending
    HC_TRANSPORT   = 1 << 2,    //  answer 0 comes from libmicrohttpd: HTML, no Content-Type
    HC_HEAD0       = 1 << 3,    //  answer 0 is to a HEAD request (no body)
    HC_HOLD        = 1 << 4,    //  no answer expected: hold the connection and check
                                //  that others are served meanwhile
};

//  One hostile request (or pipeline) and what must come back.
typedef struct {
    const char *kind;           //  which of the kinds it belongs to
    char name [80];             //  what it is, for the failure report
    char *data;                 //  bytes sent (owned)
    size_t len;                 //  their count
    int count;                  //  answers expected (0: none, the connection ends or waits)
    int expect [HK_ANSWERS_MAX];//  their statuses in order
    const char *code;           //  JSON "code" of answer 0, or NULL when not JSON / not checked
    unsigned flags;             //  HC_*
    const char *rid;            //  X-Request-Id answer 0 must echo, or NULL
} hc_case_t;

//  The cases, built once.
typedef struct {
    hc_case_t cases [HC_CASES_MAX];
    int count;
} hc_list_t;

//  The state shared by the group.
typedef struct {
    hk_world_t world;           //  the server and its data
    hc_list_t list;             //  the battery
} hc_fixture_t;


//  --------------------------------------------------------------------------
//  Building the battery

//  Adds a case of raw bytes; the statuses expected follow count.
static hc_case_t *
s_add (hc_list_t *list, const char *kind, const char *name, const char *data, size_t len,
       const char *code, unsigned flags, int count, ...)
{
    assert_true (list->count < HC_CASES_MAX);
    hc_case_t *c = &list->cases [list->count++];
    memset (c, 0, sizeof *c);
    c->kind = kind;
    snprintf (c->name, sizeof c->name, "%s", name);
    c->data = (char *) malloc (len + 1);
    assert_non_null (c->data);
    memcpy (c->data, data, len);
    c->data [len] = 0;
    c->len = len;
    c->code = code;
    c->flags = flags;
    c->count = count;
    va_list args;
    va_start (args, count);
    for (int i = 0; i < count && i < HK_ANSWERS_MAX; i++)
        c->expect [i] = va_arg (args, int);
    va_end (args);
    return c;
}

//  A printf into a new string; *len set to its length.
static char *
s_fmt (size_t *len, const char *fmt, ...)
{
    va_list args;
    va_start (args, fmt);
    char *text = NULL;
    int n = vasprintf (&text, fmt, args);
    va_end (args);
    assert_true (n >= 0);
    *len = (size_t) n;
    return text;
}

//  A one-request case of "METHOD TARGET VERSION", the admin's credential
//  (the battery is about parsing, not access: test_e2e_auth), extra header
//  lines (each ending in \r\n) and Connection: close.
static hc_case_t *
s_line (hc_list_t *list, const char *kind, const char *method, const char *target,
        const char *version, const char *headers, int status, const char *code,
        unsigned flags)
{
    size_t len;
    char *data = s_fmt (&len, "%s %s %s\r\nHost: 127.0.0.1\r\nAuthorization: Bearer %s\r\n"
                        "%sConnection: close\r\n\r\n",
                        method, target, version, tk_admin_token (), headers? headers: "");
    char name [80];
    snprintf (name, sizeof name, "%.16s %.40s %.16s", method, target, version);
    hc_case_t *c = s_add (list, kind, name, data, len, code, flags, 1, status);
    free (data);
    return c;
}

//  A POST of body_len bytes with Content-Type JSON, a Content-Length and
//  extra header lines.
static hc_case_t *
s_post (hc_list_t *list, const char *kind, const char *name, const char *path,
        const char *headers, const char *body, size_t body_len, int status, const char *code)
{
    size_t head_len;
    char *head = s_fmt (&head_len, "POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                        "Authorization: Bearer %s\r\n"
                        "Content-Type: application/json\r\nContent-Length: %zu\r\n%s"
                        "Connection: close\r\n\r\n", path, tk_admin_token (), body_len,
                        headers? headers: "");
    char *data = (char *) malloc (head_len + body_len);
    assert_non_null (data);
    memcpy (data, head, head_len);
    memcpy (data + head_len, body, body_len);
    hc_case_t *c = s_add (list, kind, name, data, head_len + body_len, code, 0, 1, status);
    free (data);
    free (head);
    return c;
}

//  s_post of a NUL-terminated body named by the body itself.
static hc_case_t *
s_json (hc_list_t *list, const char *kind, const char *path, const char *body, int status,
        const char *code)
{
    char name [80];
    snprintf (name, sizeof name, "POST %s %.60s", path, body);
    return s_post (list, kind, name, path, NULL, body, strlen (body), status, code);
}

//  Framing: request lines and line endings no parser should accept silently.
static void
s_framing (hc_list_t *list)
{
    const char *k = "framing";
    const char *v09 = "GET /display/menu\r\n\r\n";
    s_add (list, k, "HTTP/0.9 request line", v09, strlen (v09), NULL, HC_TRANSPORT, 1, 400);
    const char *tls = "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n";
    s_add (list, k, "TLS ClientHello on the HTTP port", tls, strlen (tls), NULL, 0, 0);
    const char *lf = "GET /health HTTP/1.1\nHost: 127.0.0.1\nConnection: close\n\n";
    s_add (list, k, "bare LF line endings", lf, strlen (lf), NULL, 0, 1, 200);
    const char *lead = "\r\n\r\nGET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    s_add (list, k, "empty lines before the request line", lead, strlen (lead), NULL, 0, 1, 200);
    const char *colonless = "GET /health HTTP/1.1\r\nHost: x\r\nNoColonHere\r\nConnection: close\r\n\r\n";
    s_add (list, k, "header line without a colon", colonless, strlen (colonless), NULL,
           HC_TRANSPORT, 1, 400);
    //  libmicrohttpd reads the request line up to a NUL: the route before it answers
    const char nul [] = "GET /health\0junk HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    s_add (list, k, "NUL inside the request line", nul, sizeof nul - 1, NULL, 0, 1, 200);
    const char *cr = "GET /health HTTP/1.1\rHost: x\r\n\r\n";
    s_add (list, k, "bare CR inside the head", cr, strlen (cr), NULL, HC_TRANSPORT, 1, 400);
    char junk [600];
    for (size_t i = 0; i < sizeof junk; i++)
        junk [i] = (char) (0x80 + (i * 37) % 120);
    s_add (list, k, "600 bytes of binary junk", junk, sizeof junk, NULL, HC_HALF, 0);
    const char *only_crlf = "\r\n\r\n\r\n";
    s_add (list, k, "only empty lines, then half-close", only_crlf, strlen (only_crlf), NULL,
           HC_HALF, 0);
    const char *chunk_bad = "POST /customer HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                            "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\nZZ\r\n{}\r\n0\r\n\r\n";
    s_add (list, k, "chunk size that is not hex", chunk_bad, strlen (chunk_bad), NULL,
           HC_TRANSPORT, 1, 400);
    const char *chunk_huge = "POST /customer HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                             "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
                             "FFFFFFFFFFFFFFFFFF\r\n{}\r\n0\r\n\r\n";
    s_add (list, k, "chunk size past 64 bits", chunk_huge, strlen (chunk_huge), NULL,
           HC_TRANSPORT, 1, 413);
    const char *cl_text = "POST /customer HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                          "Content-Length: abc\r\nConnection: close\r\n\r\n{}";
    s_add (list, k, "Content-Length: abc", cl_text, strlen (cl_text), NULL, HC_TRANSPORT, 1, 400);
    const char *cl_neg = "POST /customer HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                         "Content-Length: -5\r\nConnection: close\r\n\r\n{}";
    s_add (list, k, "Content-Length: -5", cl_neg, strlen (cl_neg), NULL, HC_TRANSPORT, 1, 400);
    const char *cl_plus = "POST /customer HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                          "Content-Length: +2\r\nConnection: close\r\n\r\n{}";
    s_add (list, k, "Content-Length: +2", cl_plus, strlen (cl_plus), NULL, HC_TRANSPORT, 1, 400);
}

//  Headers: too big, too many, folded, odd bytes, repeated.
static void
s_headers (hc_list_t *list)
{
    const char *k = "headers";
    size_t big_len = 40000;
    char *big = (char *) malloc (big_len + 1);
    assert_non_null (big);
    memset (big, 'a', big_len);
    big [big_len] = 0;
    size_t len;
    char *data = s_fmt (&len, "GET /health HTTP/1.1\r\nHost: x\r\nX-Big: %s\r\nConnection: close\r\n\r\n", big);
    s_add (list, k, "one 40000-byte header", data, len, NULL, HC_TRANSPORT, 1, 431);
    free (data);
    free (big);
    char *many = NULL;
    size_t many_len = 0;
    FILE *out = open_memstream (&many, &many_len);
    fprintf (out, "GET /health HTTP/1.1\r\nHost: x\r\n");
    for (int i = 0; i < 3000; i++)
        fprintf (out, "X-H%d: v\r\n", i);
    fprintf (out, "Connection: close\r\n\r\n");
    fclose (out);
    s_add (list, k, "3000 headers", many, many_len, NULL, HC_TRANSPORT, 1, 431);
    free (many);
    s_line (list, k, "GET", "/health", "HTTP/1.1", "X-Folded: a\r\n b\r\n", 200, NULL, 0);
    s_line (list, k, "GET", "/health", "HTTP/1.1", "X-Korean: \xea\xb9\x80\xec\xbb\xa4\xed\x94\xbc\r\n",
            200, NULL, 0);
    s_line (list, k, "GET", "/health", "HTTP/1.1", "X-Latin1: \xe9\xff\r\n", 200, NULL, 0);
    //  Two Host headers: RFC 9112 3.2 wants 400, and which one a proxy
    //  routed by cannot be known.
    s_line (list, k, "GET", "/display/best", "HTTP/1.1", "Host: second\r\n", 400,
            "INVALID_HEADER", 0);
    s_line (list, k, "GET", "/display/menu", "HTTP/1.1", "Content-Type: text/html\r\n", 200, NULL, 0);
    //  X-Request-Id: a good one is echoed, a bad one replaced
    hc_case_t *c = s_line (list, k, "GET", "/health", "HTTP/1.1",
                           "X-Request-Id: hostile.rid-1_OK\r\n", 200, NULL, 0);
    c->rid = "hostile.rid-1_OK";
    const char *bad_rids [] = {
        "X-Request-Id: has space\r\n", "X-Request-Id: <script>\r\n",
        "X-Request-Id: \xea\xb9\x80\r\n", "X-Request-Id: \r\n",
        "X-Request-Id: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n",
        "X-Request-Id: a\tb\r\n",
    };
    for (size_t i = 0; i < sizeof bad_rids / sizeof bad_rids [0]; i++) {
        c = s_line (list, k, "GET", "/health", "HTTP/1.1", bad_rids [i], 200, NULL, 0);
        snprintf (c->name, sizeof c->name, "bad X-Request-Id #%zu is not echoed", i);
        c->rid = "r-";          //  a generated one instead
    }
    //  Content-Type games on a POST
    struct { const char *header; int status; const char *code; } types [] = {
        { "Content-Type: text/plain\r\n", 415, "UNSUPPORTED_MEDIA_TYPE" },
        { "Content-Type: \r\n", 415, "UNSUPPORTED_MEDIA_TYPE" },
        { "Content-Type: application/json-patch+json\r\n", 415, "UNSUPPORTED_MEDIA_TYPE" },
        { "Content-Type: multipart/form-data; boundary=x\r\n", 415, "UNSUPPORTED_MEDIA_TYPE" },
        { "Content-Type: APPLICATION/JSON; charset=utf-8\r\n", 400, "INVALID_INPUT" },
    };
    for (size_t i = 0; i < sizeof types / sizeof types [0]; i++) {
        data = s_fmt (&len, "POST /customer HTTP/1.1\r\nHost: x\r\n%sContent-Length: 2\r\n"
                      "Connection: close\r\n\r\n{}", types [i].header);
        char name [80];
        snprintf (name, sizeof name, "POST /customer with %.50s", types [i].header);
        s_add (list, k, name, data, len, types [i].code, 0, 1, types [i].status);
        free (data);
    }
}

//  Methods: every route with methods it does not take.
static void
s_methods (hc_list_t *list)
{
    const char *methods [] = { "PUT", "DELETE", "PATCH", "BREW", "get" };
    const char *paths [] = { "/display/menu", "/display/best", "/customer", "/point",
                             "/order", "/point/CUST-00000001", "/order/ORD-00000001", "/health" };
    for (size_t m = 0; m < sizeof methods / sizeof methods [0]; m++)
        for (size_t p = 0; p < sizeof paths / sizeof paths [0]; p++)
            s_line (list, "methods", methods [m], paths [p], "HTTP/1.1", NULL, 405,
                    "METHOD_NOT_ALLOWED", 0);
    s_line (list, "methods", "HEAD", "/customer", "HTTP/1.1", NULL, 405, NULL, HC_HEAD0);
    s_line (list, "methods", "HEAD", "/order", "HTTP/1.1", NULL, 405, NULL, HC_HEAD0);
    s_line (list, "methods", "HEAD", "/display/menu", "HTTP/1.1", NULL, 200, NULL, HC_HEAD0);
    s_line (list, "methods", "OPTIONS", "*", "HTTP/1.1", NULL, 404, "NOT_FOUND", 0);
    s_line (list, "methods", "CONNECT", "127.0.0.1:22", "HTTP/1.1", NULL, 404, "NOT_FOUND", 0);
    s_line (list, "methods", "POST", "/display/menu", "HTTP/1.1", NULL, 405, "METHOD_NOT_ALLOWED", 0);
    char method [3001];
    memset (method, 'A', sizeof method - 1);
    method [sizeof method - 1] = 0;
    hc_case_t *c = s_line (list, "methods", method, "/health", "HTTP/1.1", NULL, 405,
                           "METHOD_NOT_ALLOWED", 0);
    snprintf (c->name, sizeof c->name, "a 3000-letter method");
}

//  Versions.
static void
s_versions (hc_list_t *list)
{
    const char *k = "versions";
    s_line (list, k, "GET", "/display/menu", "HTTP/1.0", NULL, 200, NULL, 0);
    s_line (list, k, "GET", "/display/menu", "HTTP/1.2", NULL, 200, NULL, 0);
    s_line (list, k, "GET", "/display/menu", "HTTP/2.0", NULL, 505, NULL, HC_TRANSPORT);
    s_line (list, k, "GET", "/display/menu", "HTTP/3.0", NULL, 505, NULL, HC_TRANSPORT);
    s_line (list, k, "GET", "/display/menu", "HTTP/0.9", NULL, 505, NULL, HC_TRANSPORT);
    s_line (list, k, "GET", "/display/menu", "HTTX/1.1", NULL, 400, NULL, HC_TRANSPORT);
    s_line (list, k, "GET", "/display/menu", "http/1.1", NULL, 400, NULL, HC_TRANSPORT);
    s_line (list, k, "GET", "/display/menu", "HTTP/1.1 extra", NULL, 400, NULL, HC_TRANSPORT);
    const char *post10 = "POST /customer HTTP/1.0\r\nContent-Type: application/json\r\n"
                         "Content-Length: 2\r\n\r\n{}";
    s_add (list, k, "POST HTTP/1.0 without Host", post10, strlen (post10), "INVALID_INPUT", 0, 1, 400);
    const char *preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
    s_add (list, k, "HTTP/2 connection preface", preface, strlen (preface), NULL, HC_TRANSPORT,
           1, 505);
}

//  Transfer and content encodings of bodies.
static void
s_encodings (hc_list_t *list)
{
    const char *k = "encodings";
    const char *chunked = "POST /customer HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                          "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
                          "5\r\n{\"cus\r\n9;ext=1\r\ntomerNm\":\r\n2\r\n1}\r\n0\r\n\r\n";
    s_add (list, k, "chunked body split mid-token, with an extension", chunked, strlen (chunked),
           "INVALID_INPUT", 0, 1, 400);
    size_t trailer_len;
    char *trailer = s_fmt (&trailer_len, "POST /point HTTP/1.1\r\nHost: x\r\n"
                           "Authorization: Bearer %s\r\nContent-Type: application/json\r\n"
                           "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
                           "2\r\n{}\r\n0\r\nX-Trailer: 1\r\n\r\n", tk_admin_token ());
    s_add (list, k, "chunked body with a trailer", trailer, trailer_len, "INVALID_INPUT", 0,
           1, 400);
    free (trailer);
    //  gzip of {"customerNm":"x"}: the server does not inflate, so not JSON
    const char gz [] = "\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03\xab\x56\x4a\x2e\x2d\x2e\xc9\xcf"
                       "\x4d\x2d\xf2\xcb\x55\xb2\x52\xaa\x50\xaa\x05\x00";
    s_post (list, k, "Content-Encoding: gzip body", "/customer", "Content-Encoding: gzip\r\n",
            gz, sizeof gz - 1, 400, "INVALID_JSON");
    const char utf16 [] = "\xff\xfe{\0\"\0c\0\"\0:\0\"\0x\0\"\0}\0";
    s_post (list, k, "UTF-16LE body with BOM", "/customer", NULL, utf16, sizeof utf16 - 1, 400,
            "INVALID_JSON");
    //  cJSON skips a UTF-8 byte order mark (RFC 8259 lets a parser ignore it)
    const char *bom = "\xef\xbb\xbf{\"customerId\":\"CUST-99999999\",\"chargeAmt\":1}";
    s_post (list, k, "UTF-8 BOM before the object", "/point", NULL, bom, strlen (bom), 404,
            "NOT_FOUND_DATA");
    const char *latin1 = "{\"customerNm\":\"caf\xe9\"}";
    s_post (list, k, "Latin-1 name with charset=iso-8859-1", "/customer",
            "X-Note: charset below is ignored\r\n", latin1, strlen (latin1), 400, "INVALID_INPUT");
    const char *form = "customerNm=x";
    size_t len;
    char *data = s_fmt (&len, "POST /customer HTTP/1.1\r\nHost: x\r\nContent-Type: "
                        "application/x-www-form-urlencoded\r\nContent-Length: %zu\r\n"
                        "Connection: close\r\n\r\n%s", strlen (form), form);
    s_add (list, k, "form-encoded body", data, len, "UNSUPPORTED_MEDIA_TYPE", 0, 1, 415);
    free (data);
    const char *b64 = "eyJjdXN0b21lck5tIjoieCJ9";
    s_post (list, k, "base64 of a JSON body", "/customer", "Content-Transfer-Encoding: base64\r\n",
            b64, strlen (b64), 400, "INVALID_JSON");
}

//  Numbers at and past the limits, int64 and 2^53. A number the rules take
//  reaches the store and meets an unknown customer (404); one they refuse
//  is a 400. Neither changes anything.
static void
s_numbers (hc_list_t *list, const hk_world_t *world)
{
    const char *k = "numbers";
    struct { const char *text; int status; } charges [] = {
        { "1", 404 }, { "1000000000", 404 }, { "1e3", 404 }, { "1000.0", 404 }, { "1E9", 404 },
        { "0.1e1", 404 }, { "1000000001", 400 }, { "0", 400 }, { "-1", 400 }, { "-0", 400 },
        { "1.5", 400 }, { "1e-400", 400 }, { "1e400", 400 }, { "-1e400", 400 },
        { "9007199254740991", 400 }, { "9007199254740992", 400 }, { "9007199254740993", 400 },
        { "-9007199254740993", 400 }, { "9223372036854775807", 400 },
        { "9223372036854775808", 400 }, { "-9223372036854775808", 400 },
        { "-9223372036854775809", 400 }, { "18446744073709551616", 400 },
        { "1e19", 400 }, { "\"5\"", 400 }, { "true", 400 }, { "null", 400 }, { "[1]", 400 },
        { "{\"v\":1}", 400 },
    };
    char body [512];
    for (size_t i = 0; i < sizeof charges / sizeof charges [0]; i++) {
        snprintf (body, sizeof body, "{\"customerId\":\"CUST-99999999\",\"chargeAmt\":%s}",
                  charges [i].text);
        s_json (list, k, "/point", body, charges [i].status,
                charges [i].status == 404? "NOT_FOUND_DATA": "INVALID_INPUT");
    }
    //  RFC 8259 numbers only, though cJSON reads "1." and "01" (issue 9 point 8)
    const char *not_json [] = { "NaN", "Infinity", "0x10", ".5", "+1", "1e", "--1", "1e+",
                                "1.", "01" };
    for (size_t i = 0; i < sizeof not_json / sizeof not_json [0]; i++) {
        snprintf (body, sizeof body, "{\"customerId\":\"CUST-99999999\",\"chargeAmt\":%s}",
                  not_json [i]);
        s_json (list, k, "/point", body, 400, "INVALID_JSON");
    }
    struct { const char *text; int status; } qys [] = {
        { "1", 404 }, { "100", 404 }, { "1e2", 404 }, { "101", 400 }, { "0", 400 },
        { "-1", 400 }, { "9007199254740993", 400 }, { "9223372036854775807", 400 },
        { "-9223372036854775808", 400 }, { "1e308", 400 }, { "2.5", 400 },
    };
    for (size_t i = 0; i < sizeof qys / sizeof qys [0]; i++) {
        snprintf (body, sizeof body, "{\"customerId\":\"CUST-99999999\",\"menuList\":"
                  "[{\"menuId\":\"MENU-00000001\",\"qy\":%s}]}", qys [i].text);
        s_json (list, k, "/order", body, qys [i].status,
                qys [i].status == 404? "NOT_FOUND_DATA": "INVALID_INPUT");
    }
    //  Sums: one menu twice past the cap; an order the poor customer cannot pay
    snprintf (body, sizeof body, "{\"customerId\":\"%s\",\"menuList\":[{\"menuId\":"
              "\"MENU-00000001\",\"qy\":60},{\"menuId\":\"MENU-00000001\",\"qy\":41}]}",
              world->customers [0]);
    s_json (list, k, "/order", body, 400, "INVALID_INPUT");
    snprintf (body, sizeof body, "{\"customerId\":\"%s\",\"menuList\":[{\"menuId\":"
              "\"MENU-00000001\",\"qy\":100},{\"menuId\":\"MENU-00000002\",\"qy\":100}]}",
              world->poor);
    s_json (list, k, "/order", body, 409, "NO_POINT");
    snprintf (body, sizeof body, "{\"customerId\":\"%s\",\"menuList\":[{\"menuId\":"
              "\"MENU-99999999\",\"qy\":1}]}", world->customers [1]);
    s_json (list, k, "/order", body, 404, "NOT_FOUND_DATA");
}

//  Nesting deep enough to hurt a recursive parser.
static void
s_nesting (hc_list_t *list, const hk_world_t *world)
{
    const char *k = "nesting";
    int depths [] = { 64, 1000, 1500 };
    for (size_t d = 0; d < sizeof depths / sizeof depths [0]; d++) {
        int depth = depths [d];
        size_t len = (size_t) depth * 2;
        char *arrays = (char *) malloc (len + 1);
        assert_non_null (arrays);
        memset (arrays, '[', (size_t) depth);
        memset (arrays + depth, ']', (size_t) depth);
        arrays [len] = 0;
        char name [80];
        snprintf (name, sizeof name, "a bare array %d deep", depth);
        //  cJSON stops at 1000 levels: past that it is not JSON to us
        s_post (list, k, name, "/customer", NULL, arrays, len, 400,
                depth > 1000? "INVALID_JSON": "INVALID_INPUT");
        char *body = NULL;
        size_t body_len = 0;
        FILE *out = open_memstream (&body, &body_len);
        fprintf (out, "{\"customerId\":\"%s\",\"menuList\":%s}", world->customers [0], arrays);
        fclose (out);
        snprintf (name, sizeof name, "menuList of arrays %d deep", depth);
        s_post (list, k, name, "/order", NULL, body, body_len, 400,
                depth >= 999? "INVALID_JSON": "INVALID_INPUT");
        free (body);
        free (arrays);
    }
    char body [2048];
    size_t at = (size_t) snprintf (body, sizeof body, "{\"customerNm\":");
    for (int i = 0; i < 200; i++)
        at += (size_t) snprintf (body + at, sizeof body - at, "{\"a\":");
    at += (size_t) snprintf (body + at, sizeof body - at, "1");
    for (int i = 0; i < 200; i++)
        at += (size_t) snprintf (body + at, sizeof body - at, "}");
    snprintf (body + at, sizeof body - at, "}");
    s_post (list, k, "customerNm an object 200 deep", "/customer", NULL, body, strlen (body),
            400, "INVALID_INPUT");
    snprintf (body, sizeof body, "{\"customerId\":\"%s\",\"menuList\":[{\"menuId\":"
              "{\"menuId\":\"MENU-00000001\"},\"qy\":1}]}", world->customers [0]);
    s_json (list, k, "/order", body, 400, "INVALID_INPUT");
    snprintf (body, sizeof body, "{\"customerId\":[\"%s\"],\"chargeAmt\":1}", world->customers [0]);
    s_json (list, k, "/point", body, 400, "INVALID_INPUT");
}

//  Unicode that is not what it seems, in names, ids and paths.
static void
s_unicode (hc_list_t *list, const hk_world_t *world)
{
    const char *k = "unicode";
    const char *names [] = {
        "\xc0\xaf",                     //  overlong '/'
        "\xe0\x80\xaf",                 //  overlong, three bytes
        "\xed\xa0\x80",                 //  a surrogate in UTF-8 (CESU)
        "\xff\xfe",                     //  never valid
        "\xe2\x82",                     //  truncated sequence
        "\xf4\x90\x80\x80",             //  past U+10FFFF
        "\\u0000",                      //  escaped NUL
        "a\\u0000b",                    //  NUL inside
        "\\u3000\\u3000",               //  only ideographic spaces
        "\\u00a0 ",                     //  only no-break and plain spaces
        "\x01",                         //  raw control character
        "a\\u001fb",                    //  escaped control character
    };
    char body [512];
    for (size_t i = 0; i < sizeof names / sizeof names [0]; i++) {
        snprintf (body, sizeof body, "{\"customerNm\":\"%s\"}", names [i]);
        //  a raw control byte is not JSON; everything else is a bad name
        s_json (list, k, "/customer", body, 400,
                names [i][0] == '\x01'? "INVALID_JSON": "INVALID_INPUT");
    }
    //  cJSON refuses a lone surrogate escape as JSON
    s_json (list, k, "/customer", "{\"customerNm\":\"\\ud800\"}", 400, "INVALID_JSON");
    s_json (list, k, "/customer", "{\"customerNm\":\"\\udc00x\"}", 400, "INVALID_JSON");
    //  101 bytes of valid UTF-8: over STORE_NAME_MAX
    char longname [256] = "{\"customerNm\":\"";
    for (int i = 0; i < 33; i++)
        strcat (longname, "\xea\xb9\x80");
    strcat (longname, "xx\"}");
    s_json (list, k, "/customer", longname, 400, "INVALID_INPUT");
    const char *ids [] = {
        "CUST-\xef\xbc\x90\xef\xbc\x90\xef\xbc\x90\xef\xbc\x90\xef\xbc\x90\xef\xbc\x90\xef\xbc\x90\xef\xbc\x91",
        "CUST\xe2\x80\x90" "00000001",      //  a Unicode hyphen
        "\xef\xbb\xbf",                 //  a lone BOM
    };
    for (size_t i = 0; i < sizeof ids / sizeof ids [0]; i++) {
        snprintf (body, sizeof body, "{\"customerId\":\"%s\",\"chargeAmt\":100}", ids [i]);
        s_json (list, k, "/point", body, 400, "INVALID_INPUT");
    }
    //  The real id with a zero-width space appended
    snprintf (body, sizeof body, "{\"customerId\":\"%s\xe2\x80\x8b\",\"chargeAmt\":100}",
              world->customers [0]);
    s_json (list, k, "/point", body, 400, "INVALID_INPUT");
    s_line (list, k, "GET", "/point/CUST-%EF%BC%90%EF%BC%90%EF%BC%90%EF%BC%90%EF%BC%90"
            "%EF%BC%90%EF%BC%90%EF%BC%91", "HTTP/1.1", NULL, 400, "INVALID_INPUT", 0);
    s_line (list, k, "GET", "/order/ORD-0000000\xd9\xa1", "HTTP/1.1", NULL, 400, "INVALID_INPUT", 0);
    s_line (list, k, "GET", "/point/CUST-00000001%00", "HTTP/1.1", NULL, 400, "INVALID_INPUT", 0);
}

//  Sizes: bodies at and past --max-body, lengths that lie, lists too long.
static void
s_sizes (hc_list_t *list, const hk_world_t *world)
{
    const char *k = "sizes";
    size_t len = HC_MAX_BODY + 1;
    char *body = (char *) malloc (len + 1);
    assert_non_null (body);
    memset (body, ' ', len);
    memcpy (body, "{\"customerNm\":\"x\"", 17);
    body [len - 1] = '}';
    s_post (list, k, "a body one byte past --max-body", "/customer", NULL, body, len, 413,
            "PAYLOAD_TOO_LARGE");
    s_post (list, k, "a body exactly --max-body (spaces)", "/customer", NULL, body + 1, len - 1,
            400, "INVALID_JSON");
    free (body);
    size_t dlen;
    char *data = s_fmt (&dlen, "POST /customer HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                        "Content-Length: %d\r\nConnection: close\r\n\r\n{}", HC_MAX_BODY * 1000);
    s_add (list, k, "Content-Length far past the limit, short body", data, dlen,
           "PAYLOAD_TOO_LARGE", 0, 1, 413);
    free (data);
    const char *huge = "POST /customer HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                       "Content-Length: 99999999999999999999\r\nConnection: close\r\n\r\n{}";
    s_add (list, k, "Content-Length past uint64", huge, strlen (huge), NULL, HC_TRANSPORT, 1, 413);
    const char *empty = "POST /customer HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                        "Content-Length: 0\r\nConnection: close\r\n\r\n";
    s_add (list, k, "empty body", empty, strlen (empty), "INVALID_JSON", 0, 1, 400);
    const char *nolen = "POST /customer HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                        "Connection: close\r\n\r\n";
    s_add (list, k, "no Content-Length and no body", nolen, strlen (nolen), "INVALID_JSON", 0,
           1, 400);
    //  A chunked body past the limit, with no length announced
    char *chunked = NULL;
    size_t chunked_len = 0;
    FILE *out = open_memstream (&chunked, &chunked_len);
    fprintf (out, "POST /customer HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
             "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n");
    for (int i = 0; i < 5; i++) {
        fprintf (out, "400\r\n");
        for (int j = 0; j < 0x400; j++)
            fputc (' ', out);
        fprintf (out, "\r\n");
    }
    fprintf (out, "0\r\n\r\n");
    fclose (out);
    s_add (list, k, "chunked body past the limit", chunked, chunked_len, "PAYLOAD_TOO_LARGE", 0,
           1, 413);
    free (chunked);
    //  21 lines, and an id of 40 digits
    char order [4096];
    size_t at = (size_t) snprintf (order, sizeof order, "{\"customerId\":\"%s\",\"menuList\":[",
                                   world->customers [0]);
    for (int i = 0; i < 21; i++)
        at += (size_t) snprintf (order + at, sizeof order - at, "%s{\"menuId\":\"MENU-%08d\",\"qy\":1}",
                                 i? ",": "", 1 + i % 5);
    snprintf (order + at, sizeof order - at, "]}");
    s_post (list, k, "21 order lines", "/order", NULL, order, strlen (order), 400, "INVALID_INPUT");
    s_json (list, k, "/point", "{\"customerId\":\"CUST-0000000000000000000000000000000000000001\","
            "\"chargeAmt\":1}", 400, "INVALID_INPUT");
    s_json (list, k, "/order", "{\"customerId\":\"CUST-00000001\",\"menuList\":[]}", 400,
            "INVALID_INPUT");
    char path [200] = "/order/ORD-";
    for (int i = 0; i < 100; i++)
        strcat (path, "9");
    s_line (list, k, "GET", path, "HTTP/1.1", NULL, 400, "INVALID_INPUT", 0);
    char *long_path = (char *) malloc (100002);
    assert_non_null (long_path);
    long_path [0] = '/';
    memset (long_path + 1, 'a', 100000);
    long_path [100001] = 0;
    hc_case_t *c = s_line (list, k, "GET", long_path, "HTTP/1.1", NULL, 414, NULL, HC_TRANSPORT);
    snprintf (c->name, sizeof c->name, "a 100000-byte path");
    free (long_path);
}

//  Query strings and paths that look like routes.
static void
s_paths (hc_list_t *list)
{
    const char *k = "paths";
    s_line (list, k, "GET", "/display/menu?x=1&y", "HTTP/1.1", NULL, 200, NULL, 0);
    s_line (list, k, "GET", "/display/menu/", "HTTP/1.1", NULL, 404, "NOT_FOUND", 0);
    s_line (list, k, "GET", "/DISPLAY/MENU", "HTTP/1.1", NULL, 404, "NOT_FOUND", 0);
    s_line (list, k, "GET", "/display/../health", "HTTP/1.1", NULL, 404, "NOT_FOUND", 0);
    s_line (list, k, "GET", "//health", "HTTP/1.1", NULL, 404, "NOT_FOUND", 0);
    s_line (list, k, "GET", "http://127.0.0.1/health", "HTTP/1.1", NULL, 404, "NOT_FOUND", 0);
    s_line (list, k, "GET", "/point/CUST-00000001/x", "HTTP/1.1", NULL, 404, "NOT_FOUND", 0);
    s_line (list, k, "GET", "/order/ORD-00000001?x=/../", "HTTP/1.1", NULL, 200, NULL, 0);
    //  %2F is unescaped before routing: two segments, no such route
    s_line (list, k, "GET", "/point/..%2FCUST-00000001", "HTTP/1.1", NULL, 404, "NOT_FOUND", 0);
    s_line (list, k, "GET", "/point/%43UST-99999999", "HTTP/1.1", NULL, 404, "NOT_FOUND_DATA", 0);
    s_line (list, k, "GET", "/point/CUST-99999999%", "HTTP/1.1", NULL, 400, "INVALID_INPUT", 0);
    s_line (list, k, "GET", "/order/%", "HTTP/1.1", NULL, 400, "INVALID_INPUT", 0);
}

//  JSON that is not one object with the right fields.
static void
s_structure (hc_list_t *list, const hk_world_t *world)
{
    const char *k = "json";
    char body [512];
    snprintf (body, sizeof body, "{\"customerId\":\"%s\",\"chargeAmt\":1,\"chargeAmt\":2}",
              world->customers [0]);
    s_json (list, k, "/point", body, 400, "INVALID_INPUT");
    snprintf (body, sizeof body, "{\"customerId\":\"%s\",\"chargeAmt\":1} {}", world->customers [0]);
    s_json (list, k, "/point", body, 400, "INVALID_JSON");
    snprintf (body, sizeof body, "{\"customerId\":\"%s\",\"chargeAmt\":1 /* c */}",
              world->customers [0]);
    s_json (list, k, "/point", body, 400, "INVALID_JSON");
    snprintf (body, sizeof body, "{'customerId':'%s','chargeAmt':1}", world->customers [0]);
    s_json (list, k, "/point", body, 400, "INVALID_JSON");
    snprintf (body, sizeof body, "{\"customerId\":\"%s\",\"chargeAmt\":1,}", world->customers [0]);
    s_json (list, k, "/point", body, 400, "INVALID_JSON");
    s_json (list, k, "/point", "   \r\n\t ", 400, "INVALID_JSON");
    s_json (list, k, "/point", "[{\"customerId\":\"CUST-00000001\",\"chargeAmt\":1}]", 400,
            "INVALID_INPUT");
    s_json (list, k, "/customer", "{}", 400, "INVALID_INPUT");
    s_json (list, k, "/customer", "{\"customernm\":\"x\"}", 400, "INVALID_INPUT");
    s_json (list, k, "/point", "{\"customerId\":\"CUST-99999999\",\"chargeAmt\":1,\"extra\":"
            "[1,{\"a\":null}]}", 404, "NOT_FOUND_DATA");
    s_json (list, k, "/order", "{\"customerId\":\"CUST-99999999\",\"menuList\":"
            "{\"menuId\":\"MENU-00000001\",\"qy\":1}}", 400, "INVALID_INPUT");
    s_json (list, k, "/order", "{\"customerId\":\"CUST-99999999\",\"menuList\":"
            "[{\"menuId\":\"MENU-00000001\"}]}", 400, "INVALID_INPUT");
    s_json (list, k, "/order", "{\"customerId\":\"CUST-99999999\",\"menuList\":[null]}", 400,
            "INVALID_INPUT");
}

//  Expect: 100-continue, Idempotency-Key abuse.
static void
s_expect_and_keys (hc_list_t *list, const hk_world_t *world)
{
    const char *k = "expect";
    const char *early = "POST /customer HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\n"
                        "Content-Length: 10\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n";
    s_add (list, k, "Expect 100-continue with a wrong type: answered at once", early,
           strlen (early), "UNSUPPORTED_MEDIA_TYPE", 0, 1, 415);
    const char *toobig = "POST /customer HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                         "Content-Length: 1000000\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n";
    s_add (list, k, "Expect 100-continue with a body past the limit", toobig, strlen (toobig),
           "PAYLOAD_TOO_LARGE", 0, 1, 413);
    const char *cont = "POST /customer HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                       "Content-Length: 2\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n{}";
    s_add (list, k, "Expect 100-continue, body sent anyway", cont, strlen (cont), "INVALID_INPUT",
           0, 1, 400);

    k = "idempotency";
    char body [512];
    snprintf (body, sizeof body, "{\"customerId\":\"%s\",\"chargeAmt\":100}", world->customers [0]);
    char key_header [400];
    char key [300];
    memset (key, 'k', 256);
    key [256] = 0;
    snprintf (key_header, sizeof key_header, "Idempotency-Key: %s\r\n", key);
    s_post (list, k, "a 256-byte Idempotency-Key", "/point", key_header, body, strlen (body), 400,
            "INVALID_INPUT");
    const char *bad_keys [] = {
        "Idempotency-Key: a\x01" "b\r\n", "Idempotency-Key: \x7f\r\n",
    };
    for (size_t i = 0; i < sizeof bad_keys / sizeof bad_keys [0]; i++)
        s_post (list, k, "Idempotency-Key with a control byte", "/point", bad_keys [i], body,
                strlen (body), 400, "INVALID_INPUT");
    //  A good key with a bad body: refused before the key is taken
    snprintf (body, sizeof body, "{\"customerId\":\"%s\",\"chargeAmt\":0}", world->customers [0]);
    s_post (list, k, "hostile-key-1 with a bad charge", "/point", "Idempotency-Key: hostile-key-1\r\n",
            body, strlen (body), 400, "INVALID_INPUT");
    snprintf (body, sizeof body, "{\"customerId\":\"%s\",\"menuList\":[]}", world->customers [0]);
    s_post (list, k, "hostile-key-2 with an empty order", "/order", "Idempotency-Key: hostile-key-2\r\n",
            body, strlen (body), 400, "INVALID_INPUT");
}

//  Slow, half-closed and pipelining clients.
static void
s_clients (hc_list_t *list, const hk_world_t *world)
{
    const char *slow_get = "GET /display/menu HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    s_add (list, "slow", "GET one byte at a time", slow_get, strlen (slow_get), NULL, HC_SLOW, 1, 200);
    char data [512];
    char charge [128];
    snprintf (charge, sizeof charge, "{\"customerId\":\"%s\",\"chargeAmt\":-5}", world->customers [0]);
    int n = snprintf (data, sizeof data, "POST /point HTTP/1.1\r\nHost: x\r\n"
                      "Authorization: Bearer %s\r\nContent-Type: "
                      "application/json\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n%s",
                      tk_admin_token (), strlen (charge), charge);
    s_add (list, "slow", "bad POST one byte at a time", data, (size_t) n, "INVALID_INPUT", HC_SLOW,
           1, 400);
    const char *partial_head = "GET /display/menu HTTP/1.1\r\nHost: x\r\nX-Slow: ";
    s_add (list, "slow", "headers never finished (held)", partial_head, strlen (partial_head), NULL,
           HC_HOLD, 0);
    n = snprintf (data, sizeof data, "POST /point HTTP/1.1\r\nHost: x\r\nContent-Type: "
                  "application/json\r\nContent-Length: 100\r\n\r\n{\"customerId\":\"%s\",\"chargeAmt\":1",
                  world->customers [0]);
    s_add (list, "slow", "valid-looking body never finished (held)", data, (size_t) n, NULL, HC_HOLD, 0);

    const char *half_get = "GET /health HTTP/1.1\r\nHost: x\r\n\r\n";
    s_add (list, "half-closed", "GET then half-close", half_get, strlen (half_get), NULL, HC_HALF,
           1, 200);
    n = snprintf (data, sizeof data, "POST /point HTTP/1.1\r\nHost: x\r\nContent-Type: "
                  "application/json\r\nContent-Length: 100\r\n\r\n{\"customerId\":\"%s\",\"chargeAmt\":1}",
                  world->customers [1]);
    s_add (list, "half-closed", "a charge 30 bytes short, then half-close", data, (size_t) n, NULL,
           HC_HALF, 0);
    const char *half_head = "GET /health HTTP/1.1\r\nHost: x\r\n";
    s_add (list, "half-closed", "head without its blank line, then half-close", half_head,
           strlen (half_head), NULL, HC_HALF, 0);
    const char *nothing = "";
    s_add (list, "half-closed", "connect and half-close at once", nothing, 0, NULL, HC_HALF, 0);

    const char *k = "pipelining";
    const char *three = "GET /health HTTP/1.1\r\nHost: x\r\n\r\nGET /display/menu HTTP/1.1\r\nHost: x\r\n\r\n"
                        "GET /nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    s_add (list, k, "three GETs in one write", three, strlen (three), NULL, 0, 3, 200, 200, 404);
    char *many = NULL;
    size_t many_len = 0;
    FILE *out = open_memstream (&many, &many_len);
    for (int i = 0; i < 10; i++)
        fprintf (out, "GET /display/best HTTP/1.1\r\nHost: x\r\n%s\r\n",
                 i == 9? "Connection: close\r\n": "");
    fclose (out);
    s_add (list, k, "ten GETs in one write", many, many_len, NULL, 0, 10,
           200, 200, 200, 200, 200, 200, 200, 200, 200, 200);
    free (many);
    n = snprintf (data, sizeof data, "POST /point HTTP/1.1\r\nHost: x\r\n"
                  "Authorization: Bearer %s\r\nContent-Type: application/json\r\n"
                  "Content-Length: 2\r\n\r\n{}GET /health HTTP/1.1\r\nHost: x\r\n\r\n"
                  "DELETE /order HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                  tk_admin_token ());
    s_add (list, k, "bad POST, GET, wrong method", data, (size_t) n, "INVALID_INPUT", 0, 3, 400, 200, 405);
    const char *head_then_get = "HEAD /display/menu HTTP/1.1\r\nHost: x\r\n\r\n"
                                "GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    s_add (list, k, "HEAD then GET", head_then_get, strlen (head_then_get), NULL, HC_HEAD0, 2, 200, 200);
    //  A request line without spaces is dropped by libmicrohttpd: the connection closes
    const char *then_junk = "GET /health HTTP/1.1\r\nHost: x\r\n\r\nJUNK\r\n\r\n";
    s_add (list, k, "GET then a request line without spaces", then_junk, strlen (then_junk), NULL,
           0, 1, 200);
    n = snprintf (data, sizeof data, "POST /customer HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  "Content-Length: 5\r\n\r\n{\"a\":GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    s_add (list, k, "a body cut by its length, the rest a request", data, (size_t) n, "INVALID_JSON",
           0, 2, 400, 200);
}

//  Builds the whole battery.
static void
s_build (hc_list_t *list, const hk_world_t *world)
{
    s_framing (list);
    s_headers (list);
    s_methods (list);
    s_versions (list);
    s_encodings (list);
    s_numbers (list, world);
    s_nesting (list, world);
    s_unicode (list, world);
    s_sizes (list, world);
    s_paths (list);
    s_structure (list, world);
    s_expect_and_keys (list, world);
    s_clients (list, world);
}


//  --------------------------------------------------------------------------
//  Running it

//  Sends one case and checks what came back; appends any mismatch to
//  report and returns false.
static bool
s_run (const hc_case_t *c, int port, FILE *report)
{
    hk_reply_t reply;
    bool slow = (c->flags & HC_SLOW) != 0;
    bool half = (c->flags & HC_HALF) != 0;
    bool ok = true;
    if (c->flags & HC_HOLD) {
        //  Held open while other clients are served, then dropped
        int fd = hk_connect (port);
        assert_true (fd >= 0);
        hk_send (fd, c->data, c->len, false);
        for (int i = 0; i < 3; i++)
            hk_assert_up (port);
        struct timeval tv = { 0, HK_QUIET_MS * 1000 };
        setsockopt (fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        char buf [256];
        ssize_t got = recv (fd, buf, sizeof buf, 0);
        close (fd);
        if (got > 0) {
            fprintf (report, "[%s] %s: answered %.*s while the request was unfinished\n",
                     c->kind, c->name, (int) (got < 40? got: 40), buf);
            return false;
        }
        return true;
    }
    int wait = c->count? HK_READ_MS: HK_QUIET_MS;
    assert_int_equal (hk_exchange (port, c->data, c->len, slow, half, c->count,
                                   (c->flags & HC_HEAD0)? 1u: 0u, wait, &reply), 0);
    if (reply.count != c->count)
        ok = false;
    for (int i = 0; ok && i < c->count; i++)
        if (reply.status [i] != c->expect [i])
            ok = false;
    if (ok && c->count == 0 && reply.raw_len > 0)
        ok = false;             //  an unfinished request must not be answered
    if (ok && c->code) {
        cJSON *json = hk_json (&reply, 0);
        const cJSON *code = cJSON_GetObjectItemCaseSensitive (json, "code");
        if (!cJSON_IsString (code) || strcmp (code->valuestring, c->code) != 0)
            ok = false;
        if (!hk_has_header (&reply, 0, "Content-Type", "application/json; charset=utf-8"))
            ok = false;
        cJSON_Delete (json);
    }
    if (ok && (c->flags & HC_TRANSPORT)) {
        //  libmicrohttpd's own answer: HTML, no Content-Type, connection closed
        if (hk_has_header (&reply, 0, "Content-Type", NULL)
        ||  !hk_has_header (&reply, 0, "Connection", "close"))
            ok = false;
    }
    if (ok && c->count > 0 && reply.status [0] >= 400 && !(c->flags & HC_TRANSPORT)
    &&  !(c->flags & HC_HEAD0)) {
        //  every coffee error is a JSON {"code","message"}
        cJSON *json = hk_json (&reply, 0);
        if (!cJSON_IsString (cJSON_GetObjectItemCaseSensitive (json, "code"))
        ||  !cJSON_IsString (cJSON_GetObjectItemCaseSensitive (json, "message")))
            ok = false;
        cJSON_Delete (json);
    }
    if (ok && c->rid) {
        if (strcmp (c->rid, "r-") == 0) {
            char rid [128] = "";
            const char *head = reply.raw;
            const char *line = strcasestr (head, "\nX-Request-Id: ");
            if (line)
                sscanf (line + 15, "%127[^\r\n]", rid);
            if (strncmp (rid, "r-", 2) != 0)
                ok = false;
        }
        else
        if (!hk_has_header (&reply, 0, "X-Request-Id", c->rid))
            ok = false;
    }
    if (!ok) {
        fprintf (report, "[%s] %s: expected %d answer(s)", c->kind, c->name, c->count);
        for (int i = 0; i < c->count; i++)
            fprintf (report, " %d", c->expect [i]);
        fprintf (report, "%s%s, got %d:", c->code? " code ": "", c->code? c->code: "", reply.count);
        for (int i = 0; i < reply.count; i++)
            fprintf (report, " %d", reply.status [i]);
        fprintf (report, " closed=%d raw=\"%.*s\"\n", reply.closed,
                 (int) (reply.raw_len < 300? reply.raw_len: 300), reply.raw? reply.raw: "");
    }
    hk_reply_reset (&reply);
    return ok;
}

//  Starts the world and builds the battery.
static int
s_setup (void **state)
{
    hc_fixture_t *self = (hc_fixture_t *) calloc (1, sizeof (hc_fixture_t));
    assert_non_null (self);
    char max_body [32];
    snprintf (max_body, sizeof max_body, "%d", HC_MAX_BODY);
    const char *extra [] = { "--max-body", max_body, "--log-level", "warn", NULL };
    hk_world_start (&self->world, extra);
    s_build (&self->list, &self->world);
    *state = self;
    return 0;
}

//  Stops the server (it must stop cleanly) and frees the battery.
static int
s_teardown (void **state)
{
    hc_fixture_t *self = (hc_fixture_t *) *state;
    int rc = tk_server_stop (&self->world.server);
    for (int i = 0; i < self->list.count; i++)
        free (self->list.cases [i].data);
    free (self);
    return rc == 0? 0: -1;
}

//  The battery: at least 150 requests of at least 15 kinds, each answered
//  as documented, the server up after each, nothing changed.
static void
test_hostile_battery (void **state)
{
    hc_fixture_t *self = (hc_fixture_t *) *state;
    int port = self->world.server.port;
    const hc_list_t *list = &self->list;

    //  The battery's own size: requests (pipelines count each) and kinds
    int requests = 0, kinds = 0;
    const char *seen [64];
    for (int i = 0; i < list->count; i++) {
        requests += list->cases [i].count > 1? list->cases [i].count: 1;
        bool known = false;
        for (int j = 0; j < kinds; j++)
            known = known || strcmp (seen [j], list->cases [i].kind) == 0;
        if (!known && kinds < 64)
            seen [kinds++] = list->cases [i].kind;
    }
    fprintf (stderr, "hostile: %d cases, %d requests, %d kinds\n", list->count, requests, kinds);
    assert_true (requests >= 150);
    assert_true (kinds >= 15);

    char *before = hk_snapshot (&self->world);
    char *report = NULL;
    size_t report_len = 0;
    FILE *out = open_memstream (&report, &report_len);
    int failed = 0;
    for (int i = 0; i < list->count; i++) {
        if (!s_run (&list->cases [i], port, out))
            failed++;
        hk_assert_up (port);
    }
    fclose (out);
    if (failed) {
        fprintf (stderr, "%s", report);
        free (report);
        free (before);
        fail_msg ("%d of %d hostile cases were not answered as documented", failed, list->count);
    }
    free (report);
    hk_world_check (&self->world, before);
    free (before);

    //  Keys refused with a bad body were never taken: a good body may use them
    char body [256];
    snprintf (body, sizeof body, "{\"customerId\":\"%s\",\"chargeAmt\":100}",
              self->world.customers [0]);
    const char *headers [] = { "Content-Type: application/json", "Idempotency-Key: hostile-key-1",
                               NULL };
    tk_resp_t resp;
    assert_int_equal (tk_http ("POST", port, "/point", body, headers, &resp), 0);
    assert_int_equal (resp.status, 200);
    tk_resp_reset (&resp);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_hostile_battery),
    };
    return cmocka_run_group_tests (tests, s_setup, s_teardown);
}
