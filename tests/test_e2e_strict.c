/*  test_e2e_strict — strict input (issue 9 point 8) over real HTTP on
    loopback, against the `coffee serve` binary:
    - numbers RFC 8259 forbids (01, -01, 1., .5, 1.e3, +1, hex, NaN,
      Infinity) in chargeAmt, qy and unknown fields are 400 JSON naming the
      field, and change nothing;
    - whole-number fields are read exactly from their text: qy
      1.0000000000000001 and chargeAmt 999999999.99999999999 are refused,
      int64 overflow is refused, while 1e3, 1.0, 10E-1 and a 70-byte 1.000…
      are accepted with their exact value;
    - names with invalid or overlong UTF-8, surrogates, C0/C1 controls
      (U+0085), U+2028/U+2029, bidi controls, or only blank/invisible
      characters are 400 naming customerNm and make no customer, while
      Korean and Latin names with inner spaces are accepted as sent.
    "Changes nothing" is checked on GET /point/{id} (balance and history,
    compared as text) and on the customer count of the SQLite command store.

    ctest bound: COFFEE_TEST_TIMEOUT 180 s. */

#include "testkit.h"
#include <cmocka.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

//  Balance the test customer starts with.
#define ST_INITIAL      1000000
//  Price of MENU-00000001 (seeded).
#define ST_PRICE_1      4200
//  A valid RFC 8259 number of 70 bytes worth exactly 1 (a double would read
//  it too, but "1" + it + "1" must not pass as whole).
#define ST_LONG_ONE "1.000000000000000000000000000000000000000000000000000000000000000000000"

//  The shared server and the customer every case runs on.
typedef struct {
    tk_server_t server;         //  coffee serve
    char customer [64];         //  CUST-… with ST_INITIAL points
} st_fixture_t;


//  --------------------------------------------------------------------------
//  Helpers (asserting: test thread only)

//  POST path with body of len bytes; asserts an answer came.
static void
s_post (int port, const char *path, const char *body, size_t len, tk_resp_t *resp)
{
    const char *headers [] = { "Content-Type: application/json", NULL };
    int rc = tk_http_len ("POST", port, path, body, len, headers, resp);
    if (rc != 0)
        fprintf (stderr, "POST %s: transport error %d\n", path, resp->error);
    assert_int_equal (rc, 0);
}

//  A string member of obj, or NULL.
static const char *
s_str (const cJSON *obj, const char *name)
{
    return cJSON_GetStringValue (cJSON_GetObjectItemCaseSensitive (obj, name));
}

//  Asserts resp is a 400 JSON error whose code is one of INVALID_INPUT /
//  INVALID_JSON (code, or either when NULL) and whose message starts with
//  field (and whose "field" is field when given).
static void
s_assert_refused (const tk_resp_t *resp, const char *code, const char *field, const char *sent)
{
    const char *got_code = resp->json? s_str (resp->json, "code"): NULL;
    const char *message = resp->json? s_str (resp->json, "message"): NULL;
    bool ok = resp->status == 400 && got_code && message
           && strncasecmp (resp->content_type, "application/json", 16) == 0
           && (code? strcmp (got_code, code) == 0
                   : (strcmp (got_code, "INVALID_INPUT") == 0
                   || strcmp (got_code, "INVALID_JSON") == 0))
           && strncmp (message, field, strlen (field)) == 0;
    const char *named = resp->json? s_str (resp->json, "field"): NULL;
    if (ok && strcmp (field, "body") != 0)
        ok = named && strcmp (named, field) == 0;
    if (!ok)
        fprintf (stderr, "sent %s\nexpected 400 %s naming %s, got %ld %s\n", sent,
                 code? code: "INVALID_*", field, resp->status, resp->body? resp->body: "-");
    assert_true (ok);
}

//  GET /point/{id} as text (compared exactly, never reprinted).
static char *
s_snapshot (int port, const char *customer)
{
    char path [128];
    snprintf (path, sizeof path, "/point/%s", customer);
    tk_resp_t resp;
    assert_int_equal (tk_http ("GET", port, path, NULL, NULL, &resp), 0);
    assert_int_equal (resp.status, 200);
    assert_non_null (resp.json);
    char *text = strdup (resp.body);
    assert_non_null (text);
    tk_resp_reset (&resp);
    return text;
}

//  The balance in GET /point/{id}.
static int64_t
s_balance (int port, const char *customer)
{
    char *text = s_snapshot (port, customer);
    cJSON *json = cJSON_Parse (text);
    free (text);
    const cJSON *point = cJSON_GetObjectItemCaseSensitive (cJSON_GetArrayItem (json, 0), "point");
    assert_true (cJSON_IsNumber (point));
    int64_t balance = (int64_t) point->valuedouble;
    cJSON_Delete (json);
    return balance;
}

//  Customers in the server's SQLite command store (the sqlite3 shell reads
//  it beside the running server), or -1 when there is no sqlite3 shell.
static long
s_customer_count (const tk_server_t *server)
{
    if (access ("/usr/bin/sqlite3", X_OK) != 0)
        return -1;
    char db_path [700], out_path [700];
    snprintf (db_path, sizeof db_path, "%s/command.db", server->data_dir);
    snprintf (out_path, sizeof out_path, "%s/strict-count.txt", server->data_dir);
    unlink (out_path);
    const char *argv [] = { "/usr/bin/sqlite3", "-readonly", db_path,
                            "SELECT count(*) FROM customer;", NULL };
    pid_t pid = tk_spawn (argv, out_path);
    assert_true (pid > 0);
    assert_int_equal (tk_wait (pid, 30000), 0);
    FILE *file = fopen (out_path, "r");
    assert_non_null (file);
    long count = -1;
    assert_int_equal (fscanf (file, "%ld", &count), 1);
    fclose (file);
    return count;
}

//  POST /customer {"customerNm":"<name as JSON text>"}; returns the status
//  and copies the id (when 200) and the name read back into id / name.
static long
s_new_customer (int port, const char *name_json, char *id, size_t size, tk_resp_t *resp)
{
    char body [512];
    int n = snprintf (body, sizeof body, "{\"customerNm\":\"%s\"}", name_json);
    assert_true (n > 0 && (size_t) n < sizeof body);
    s_post (port, "/customer", body, (size_t) n, resp);
    if (resp->status == 200 && id)
        snprintf (id, size, "%s", s_str (resp->json, "customerId"));
    return resp->status;
}


//  --------------------------------------------------------------------------
//  Fixture

//  Starts the server and makes the customer with ST_INITIAL points.
static int
s_setup (void **state)
{
    st_fixture_t *self = calloc (1, sizeof *self);
    if (!self)
        return -1;
    if (tk_server_start (&self->server, NULL, NULL) != 0) {
        free (self);
        return -1;
    }
    *state = self;
    tk_resp_t resp;
    if (s_new_customer (self->server.port, "Strict Kim", self->customer,
                        sizeof self->customer, &resp) != 200)
        return -1;
    tk_resp_reset (&resp);
    char body [256];
    int n = snprintf (body, sizeof body, "{\"customerId\":\"%s\",\"chargeAmt\":%d}",
                      self->customer, ST_INITIAL);
    s_post (self->server.port, "/point", body, (size_t) n, &resp);
    long status = resp.status;
    tk_resp_reset (&resp);
    return status == 200? 0: -1;
}

//  Stops the server (asserting a clean stop is test_clean_stop's job).
static int
s_teardown (void **state)
{
    st_fixture_t *self = (st_fixture_t *) *state;
    if (self) {
        if (self->server.pid)
            tk_server_kill9 (&self->server);
        free (self);
    }
    return 0;
}


//  --------------------------------------------------------------------------
//  Numbers

//  One refused body: a printf pattern with %s for the customer id, the code
//  (NULL: either INVALID_*), the field named.
typedef struct {
    const char *path;           //  /point or /order
    const char *pattern;        //  body, %s is the customer id
    const char *code;           //  expected code, NULL for either
    const char *field;          //  field the error names
} st_refused_t;

#define CH(amount) "{\"customerId\":\"%s\",\"chargeAmt\":" amount "}"
#define OR(qy) "{\"customerId\":\"%s\",\"menuList\":[{\"menuId\":\"MENU-00000001\",\"qy\":1}," \
               "{\"menuId\":\"MENU-00000002\",\"qy\":" qy "}]}"

static const st_refused_t s_refused_numbers [] = {
    //  What RFC 8259 forbids, whether cJSON takes it or not
    { "/point", CH ("01"), "INVALID_JSON", "chargeAmt" },
    { "/point", CH ("-01"), "INVALID_JSON", "chargeAmt" },
    { "/point", CH ("1."), "INVALID_JSON", "chargeAmt" },
    { "/point", CH (".5"), "INVALID_JSON", "chargeAmt" },
    { "/point", CH ("1.e3"), "INVALID_JSON", "chargeAmt" },
    { "/point", CH ("+1"), "INVALID_JSON", "chargeAmt" },
    { "/point", CH ("+1000"), "INVALID_JSON", "chargeAmt" },
    { "/point", CH ("0x3E8"), "INVALID_JSON", "chargeAmt" },
    { "/point", CH ("NaN"), "INVALID_JSON", "chargeAmt" },
    { "/point", CH ("Infinity"), "INVALID_JSON", "chargeAmt" },
    { "/point", CH ("-Infinity"), "INVALID_JSON", "chargeAmt" },
    { "/point", CH ("1e"), "INVALID_JSON", "chargeAmt" },
    { "/point", "{\"customerId\":\"%s\",\"chargeAmt\":100,\"note\":{\"n\":[1,007]}}",
      "INVALID_JSON", "note.n[1]" },
    { "/order", OR ("01"), "INVALID_JSON", "menuList[1].qy" },
    { "/order", OR ("2."), "INVALID_JSON", "menuList[1].qy" },
    { "/order", OR ("+2"), "INVALID_JSON", "menuList[1].qy" },
    { "/order", OR (".2e1"), "INVALID_JSON", "menuList[1].qy" },
    //  Not whole, read exactly (a double would round these to whole numbers)
    { "/point", CH ("999999999.99999999999"), "INVALID_INPUT", "chargeAmt" },
    { "/point", CH ("1000.0000000000000001"), "INVALID_INPUT", "chargeAmt" },
    { "/point", CH ("1" ST_LONG_ONE "1"), "INVALID_INPUT", "chargeAmt" },
    { "/order", OR ("1.0000000000000001"), "INVALID_INPUT", "menuList[1].qy" },
    { "/order", OR ("2.000000000000000000001e0"), "INVALID_INPUT", "menuList[1].qy" },
    //  Out of range, never wrapped
    { "/point", CH ("1000000001"), "INVALID_INPUT", "chargeAmt" },
    { "/point", CH ("18446744073709552616"), "INVALID_INPUT", "chargeAmt" },
    { "/point", CH ("9223372036854775808"), "INVALID_INPUT", "chargeAmt" },
    { "/point", CH ("-9223372036854775809"), "INVALID_INPUT", "chargeAmt" },
    { "/point", CH ("1e400"), "INVALID_INPUT", "chargeAmt" },
    { "/order", OR ("18446744073709551617"), "INVALID_INPUT", "menuList[1].qy" },
    { "/order", OR ("101"), "INVALID_INPUT", "menuList[1].qy" },
};

//  Each refused number is 400 JSON naming its field and changes neither the
//  balance nor the history.
static void
test_numbers_refused (void **state)
{
    st_fixture_t *self = (st_fixture_t *) *state;
    int port = self->server.port;
    char *before = s_snapshot (port, self->customer);
    for (size_t i = 0; i < sizeof s_refused_numbers / sizeof s_refused_numbers [0]; i++) {
        const st_refused_t *c = &s_refused_numbers [i];
        char body [512];
        int n = snprintf (body, sizeof body, c->pattern, self->customer);
        assert_true (n > 0 && (size_t) n < sizeof body);
        tk_resp_t resp;
        s_post (port, c->path, body, (size_t) n, &resp);
        s_assert_refused (&resp, c->code, c->field, body);
        tk_resp_reset (&resp);
        char *after = s_snapshot (port, self->customer);
        if (strcmp (before, after) != 0)
            fail_msg ("case %zu (%s) changed the points:\n%s\n%s", i, body, before, after);
        free (after);
    }
    free (before);
}

//  One accepted charge: the amount as written and its exact value.
typedef struct {
    const char *text;           //  chargeAmt as sent
    int64_t value;              //  what must be charged
} st_accepted_t;

//  Exact whole numbers in any RFC 8259 form are charged at their value and
//  answered as plain integers.
static void
test_numbers_accepted (void **state)
{
    st_fixture_t *self = (st_fixture_t *) *state;
    int port = self->server.port;
    static const st_accepted_t cases [] = {
        { "1e3", 1000 }, { "1.0", 1 }, { "10E-1", 1 }, { "2.5e1", 25 },
        { "0.0007e4", 7 }, { ST_LONG_ONE, 1 }, { "12345.000000000000000000", 12345 },
        { "100000000000000000000e-11", 1000000000 },
    };
    int64_t balance = s_balance (port, self->customer);
    for (size_t i = 0; i < sizeof cases / sizeof cases [0]; i++) {
        char body [256];
        int n = snprintf (body, sizeof body, "{\"customerId\":\"%s\",\"chargeAmt\":%s}",
                          self->customer, cases [i].text);
        tk_resp_t resp;
        s_post (port, "/point", body, (size_t) n, &resp);
        if (resp.status != 200)
            fprintf (stderr, "sent %s, got %ld %s\n", body, resp.status, resp.body);
        assert_int_equal (resp.status, 200);
        //  The answer's amount is written as a plain integer
        char expect [64];
        snprintf (expect, sizeof expect, "\"chargeAmt\":%" PRId64 ",", cases [i].value);
        if (!strstr (resp.body, expect))
            fprintf (stderr, "sent %s, got %s\n", body, resp.body);
        assert_non_null (strstr (resp.body, expect));
        tk_resp_reset (&resp);
        balance += cases [i].value;
        assert_int_equal (s_balance (port, self->customer), balance);
    }
    //  qy 2.0e0 orders two: the price is twice the menu's
    char body [256];
    int n = snprintf (body, sizeof body, "{\"customerId\":\"%s\",\"menuList\":"
                      "[{\"menuId\":\"MENU-00000001\",\"qy\":2.0e0}]}", self->customer);
    tk_resp_t resp;
    s_post (port, "/order", body, (size_t) n, &resp);
    if (resp.status != 200)
        fprintf (stderr, "sent %s, got %ld %s\n", body, resp.status, resp.body);
    assert_int_equal (resp.status, 200);
    const cJSON *price = cJSON_GetObjectItemCaseSensitive (resp.json, "orderPrice");
    assert_true (cJSON_IsNumber (price));
    assert_int_equal ((int64_t) price->valuedouble, 2 * ST_PRICE_1);
    tk_resp_reset (&resp);
    assert_int_equal (s_balance (port, self->customer), balance - 2 * ST_PRICE_1);
}


//  --------------------------------------------------------------------------
//  Names

//  Names refused: JSON text of the name (escapes allowed; raw bytes as C
//  escapes) and the code expected (INVALID_JSON where the JSON itself is
//  bad, such as an escaped lone surrogate).
typedef struct {
    const char *name;           //  inside the quotes of customerNm
    const char *code;           //  expected code
} st_name_t;

static const st_name_t s_refused_names [] = {
    { "a\\u0085b", "INVALID_INPUT" },                   //  NEL, a C1 control
    { "a\xc2\x85" "b", "INVALID_INPUT" },               //  the same, raw
    { "a\\u0080b", "INVALID_INPUT" },
    { "a\\u009fb", "INVALID_INPUT" },
    { "a\\u0001b", "INVALID_INPUT" },
    { "a\\u007fb", "INVALID_INPUT" },
    { "a\\tb", "INVALID_INPUT" },
    { "a\\u2028b", "INVALID_INPUT" },
    { "a\\u2029b", "INVALID_INPUT" },
    { "abc\\u202Ecba", "INVALID_INPUT" },               //  right-to-left override
    { "a\\u202Ab", "INVALID_INPUT" },
    { "a\\u2066b\\u2069", "INVALID_INPUT" },
    { "a\\u200Fb", "INVALID_INPUT" },
    { "a\\u061Cb", "INVALID_INPUT" },
    { "\\u200B", "INVALID_INPUT" },                     //  zero-width only
    { "\\u200B\\u200C\\u200D\\u2060\\uFEFF", "INVALID_INPUT" },
    { " \\u00A0\\u3000 ", "INVALID_INPUT" },
    { "\\u3164\\u3164", "INVALID_INPUT" },              //  Hangul fillers
    { "\\u2003\\u202F\\u205F", "INVALID_INPUT" },
    { "\xc0\xaf", "INVALID_INPUT" },                    //  overlong '/'
    { "\xe0\x80\xaf", "INVALID_INPUT" },
    { "\xed\xa0\x80\xed\xb0\x80", "INVALID_INPUT" },    //  surrogates in UTF-8 (CESU)
    { "\xff\xfe", "INVALID_INPUT" },
    { "\\uD800", "INVALID_JSON" },                      //  a lone surrogate escape
    { "\\uDC00x", "INVALID_JSON" },
};

//  Each refused name is 400 naming customerNm and makes no customer.
static void
test_names_refused (void **state)
{
    st_fixture_t *self = (st_fixture_t *) *state;
    int port = self->server.port;
    long count = s_customer_count (&self->server);
    for (size_t i = 0; i < sizeof s_refused_names / sizeof s_refused_names [0]; i++) {
        tk_resp_t resp;
        s_new_customer (port, s_refused_names [i].name, NULL, 0, &resp);
        bool json_error = strcmp (s_refused_names [i].code, "INVALID_JSON") == 0;
        s_assert_refused (&resp, s_refused_names [i].code, json_error? "body": "customerNm",
                          s_refused_names [i].name);
        tk_resp_reset (&resp);
    }
    if (count >= 0)
        assert_int_equal (s_customer_count (&self->server), count);
}

//  Real names, with inner spaces, joiners and marks, are kept as sent.
static void
test_names_accepted (void **state)
{
    st_fixture_t *self = (st_fixture_t *) *state;
    int port = self->server.port;
    static const struct {
        const char *json;       //  as sent in the JSON text
        const char *utf8;       //  what the server must keep
    } cases [] = {
        { "김 민준", "김 민준" },
        { "홍길동", "홍길동" },
        { "Zoë O'Brien", "Zoë O'Brien" },
        { "Jean-Luc  Picard", "Jean-Luc  Picard" },
        { " Lee ", " Lee " },
        { "\\uD55C\\u00A0\\uAE00", "한\xc2\xa0글" },
        { "\\uD83D\\uDC69\\u200D\\uD83D\\uDCBB", "\xf0\x9f\x91\xa9\xe2\x80\x8d\xf0\x9f\x92\xbb" },
        { "\xd8\xb9\xd9\x84\xd9\x8a", "\xd8\xb9\xd9\x84\xd9\x8a" },
    };
    long count = s_customer_count (&self->server);
    for (size_t i = 0; i < sizeof cases / sizeof cases [0]; i++) {
        tk_resp_t resp;
        char id [64];
        long status = s_new_customer (port, cases [i].json, id, sizeof id, &resp);
        if (status != 200)
            fprintf (stderr, "name %s: %ld %s\n", cases [i].json, status, resp.body);
        assert_int_equal (status, 200);
        tk_resp_reset (&resp);
        //  No route reads a name back, so the store is asked: kept byte for byte
        if (count >= 0) {
            char sql [160], db_path [700], out_path [700];
            snprintf (db_path, sizeof db_path, "%s/command.db", self->server.data_dir);
            snprintf (out_path, sizeof out_path, "%s/strict-name.txt", self->server.data_dir);
            snprintf (sql, sizeof sql, "SELECT hex(name) FROM customer WHERE "
                      "customer_id = '%s';", id);
            unlink (out_path);
            const char *argv [] = { "/usr/bin/sqlite3", "-readonly", db_path, sql, NULL };
            pid_t pid = tk_spawn (argv, out_path);
            assert_true (pid > 0);
            assert_int_equal (tk_wait (pid, 30000), 0);
            FILE *file = fopen (out_path, "r");
            assert_non_null (file);
            char hex [512] = "", want [512] = "";
            assert_non_null (fgets (hex, sizeof hex, file));
            fclose (file);
            for (const unsigned char *p = (const unsigned char *) cases [i].utf8; *p; p++)
                snprintf (want + strlen (want), sizeof want - strlen (want), "%02X", *p);
            hex [strcspn (hex, "\r\n")] = 0;
            if (strcmp (hex, want) != 0)
                fprintf (stderr, "name %s stored as %s, sent %s\n", cases [i].json, hex, want);
            assert_string_equal (hex, want);
        }
    }
    if (count >= 0)
        assert_int_equal (s_customer_count (&self->server), count + (long) (sizeof cases
                                                                     / sizeof cases [0]));
}

//  After all of it the server stops cleanly (nothing leaked or stuck).
static void
test_clean_stop (void **state)
{
    st_fixture_t *self = (st_fixture_t *) *state;
    assert_int_equal (tk_server_stop (&self->server), 0);
}


int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_numbers_refused),
        cmocka_unit_test (test_numbers_accepted),
        cmocka_unit_test (test_names_refused),
        cmocka_unit_test (test_names_accepted),
        cmocka_unit_test (test_clean_stop),
    };
    return cmocka_run_group_tests_name ("e2e_strict", tests, s_setup, s_teardown);
}
