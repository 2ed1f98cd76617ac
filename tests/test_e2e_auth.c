/*  test_e2e_auth — customers spend only their own points: bearer tokens
    over real HTTP on loopback, against the real server and stores.

      per route     POST /point, POST /order, GET /point/{id}, GET
                    /order/{no}: no credential, a malformed one or one never
                    issued → 401 with WWW-Authenticate: Bearer; another
                    customer's token → 403; the owner's and the admin's →
                    200; every refusal changed nothing.
      rotation      POST /customer/{id}/token with the current token or the
                    admin's: the old token is 401 at once, the new one works;
                    another customer's token is 403, none 401.
      open          --auth off serves the original open API (and warns);
                    replacing a token still needs a credential.
      metrics       /metrics needs the admin token unless --metrics-public
                    on; without an admin token it is 404; /display/… and
                    /health stay public.
      scoped keys   two customers sending the same Idempotency-Key are two
                    requests, each replayed to its own sender only.
      pages         GET /point/{id}: 100 rows by default, newest first, a
                    cursor through every page, limit up to 1000, bad paging
                    arguments 400; point is always the whole balance.
      instances     (MariaDB, when COFFEE_TEST_STORE_URL is mysql://) a
                    token issued by one instance works on another, and a
                    token replaced on one is refused by the other at once.

    ctest bound: COFFEE_TEST_TIMEOUT 300 s. */

#include "testkit.h"
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

//  A customer and its token.
typedef struct {
    char id [32];
    char token [64];
    char bearer [96];           //  "Authorization: Bearer <token>"
} customer_t;

//  Sends method path body with one header (NULL: act as testkit's admin);
//  fills resp.
static void
s_call (int port, const char *method, const char *path, const char *body, const char *header,
        tk_resp_t *resp)
{
    const char *headers [] = { header, NULL };
    assert_int_equal (tk_http (method, port, path, body, header? headers: NULL, resp), 0);
}

//  Asserts an error answer: status, JSON code, and for 401 the challenge.
static void
s_assert_refused (tk_resp_t *resp, long status, const char *code)
{
    if (resp->status != status)
        fail_msg ("want %ld %s, got %ld: %s", status, code, resp->status, resp->body);
    assert_non_null (resp->json);
    assert_string_equal (cJSON_GetStringValue (cJSON_GetObjectItem (resp->json, "code")), code);
    if (status == 401) {
        char value [64];
        assert_true (tk_resp_header (resp, "WWW-Authenticate", value, sizeof value));
        assert_string_equal (value, "Bearer");
    }
}

//  Creates a customer (no credential needed) and keeps its token.
static void
s_customer (int port, const char *name, customer_t *customer)
{
    char body [128];
    snprintf (body, sizeof body, "{\"customerNm\":\"%s\"}", name);
    tk_resp_t resp;
    s_call (port, "POST", "/customer", body, "Authorization:", &resp);
    assert_int_equal (resp.status, 200);
    snprintf (customer->id, sizeof customer->id, "%s",
              cJSON_GetStringValue (cJSON_GetObjectItem (resp.json, "customerId")));
    const char *token = cJSON_GetStringValue (cJSON_GetObjectItem (resp.json, "token"));
    assert_non_null (token);
    assert_int_equal (strlen (token), 43);
    snprintf (customer->token, sizeof customer->token, "%s", token);
    snprintf (customer->bearer, sizeof customer->bearer, "Authorization: Bearer %s", token);
    tk_resp_reset (&resp);
}

//  A customer's balance and history rows (read as the admin).
static int64_t
s_balance (int port, const char *id, int *rows)
{
    char path [96];
    snprintf (path, sizeof path, "/point/%s?limit=1000", id);
    tk_resp_t resp;
    s_call (port, "GET", path, NULL, NULL, &resp);
    assert_int_equal (resp.status, 200);
    const cJSON *entry = cJSON_GetArrayItem (resp.json, 0);
    int64_t point = (int64_t) cJSON_GetNumberValue (cJSON_GetObjectItem (entry, "point"));
    if (rows)
        *rows = cJSON_GetArraySize (cJSON_GetObjectItem (entry, "pointDetail"));
    tk_resp_reset (&resp);
    return point;
}

//  Charges amount as header's holder; returns the status.
static long
s_charge (int port, const char *id, int64_t amount, const char *header)
{
    char body [128];
    snprintf (body, sizeof body, "{\"customerId\":\"%s\",\"chargeAmt\":%lld}", id,
              (long long) amount);
    tk_resp_t resp;
    s_call (port, "POST", "/point", body, header, &resp);
    long status = resp.status;
    tk_resp_reset (&resp);
    return status;
}

//  The four customer routes refuse what is not the customer's own token.
static void
test_per_route (void **state)
{
    (void) state;
    tk_server_t server;
    assert_int_equal (tk_server_start (&server, NULL, NULL), 0);
    int port = server.port;
    customer_t alice, bob;
    s_customer (port, "앨리스", &alice);
    s_customer (port, "밥", &bob);
    assert_int_equal (s_charge (port, alice.id, 20000, alice.bearer), 200);
    tk_resp_t resp;
    char body [256], path [96];
    snprintf (body, sizeof body, "{\"customerId\":\"%s\",\"menuList\":"
              "[{\"menuId\":\"MENU-00000001\",\"qy\":1}]}", alice.id);
    s_call (port, "POST", "/order", body, alice.bearer, &resp);
    assert_int_equal (resp.status, 200);
    char order_no [32];
    snprintf (order_no, sizeof order_no, "%s",
              cJSON_GetStringValue (cJSON_GetObjectItem (resp.json, "orderNo")));
    tk_resp_reset (&resp);

    int rows_before = 0;
    int64_t before = s_balance (port, alice.id, &rows_before);
    const char *unauthorized [] = {
        "Authorization:",                                       //  none
        "Authorization: Basic YWxpY2U6c2VjcmV0",                //  another scheme
        "Authorization: Bearer ",                               //  empty
        "Authorization: Bearer short",                          //  not a token's shape
        "Authorization: Bearer AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",   //  never issued
        "Authorization: Bearer wrong-admin-token-of-some-length-0123456789abcdef",
    };
    for (size_t i = 0; i < sizeof unauthorized / sizeof unauthorized [0]; i++) {
        const char *who = unauthorized [i];
        //  What the front can tell from the header alone is refused before
        //  the body counts; a token of the right shape is the actor's to
        //  check, after the request is validated (here: 415, no body)
        s_call (port, "POST", "/point", NULL, who, &resp);
        if (strstr (who, "AAAAAAAA"))
            assert_int_equal (resp.status, 415);
        else
            s_assert_refused (&resp, 401, "UNAUTHORIZED");
        tk_resp_reset (&resp);
        snprintf (body, sizeof body, "{\"customerId\":\"%s\",\"chargeAmt\":5}", alice.id);
        s_call (port, "POST", "/point", body, who, &resp);
        s_assert_refused (&resp, 401, "UNAUTHORIZED");
        tk_resp_reset (&resp);
        snprintf (body, sizeof body, "{\"customerId\":\"%s\",\"menuList\":"
                  "[{\"menuId\":\"MENU-00000001\",\"qy\":1}]}", alice.id);
        s_call (port, "POST", "/order", body, who, &resp);
        s_assert_refused (&resp, 401, "UNAUTHORIZED");
        tk_resp_reset (&resp);
        snprintf (path, sizeof path, "/point/%s", alice.id);
        s_call (port, "GET", path, NULL, who, &resp);
        s_assert_refused (&resp, 401, "UNAUTHORIZED");
        tk_resp_reset (&resp);
        snprintf (path, sizeof path, "/order/%s", order_no);
        s_call (port, "GET", path, NULL, who, &resp);
        s_assert_refused (&resp, 401, "UNAUTHORIZED");
        tk_resp_reset (&resp);
    }
    //  Bob's valid token on alice's account, her orders, or a made-up customer
    snprintf (body, sizeof body, "{\"customerId\":\"%s\",\"chargeAmt\":5}", alice.id);
    s_call (port, "POST", "/point", body, bob.bearer, &resp);
    s_assert_refused (&resp, 403, "FORBIDDEN");
    tk_resp_reset (&resp);
    s_call (port, "POST", "/point", "{\"customerId\":\"CUST-99999999\",\"chargeAmt\":5}",
            bob.bearer, &resp);
    s_assert_refused (&resp, 403, "FORBIDDEN");
    tk_resp_reset (&resp);
    snprintf (body, sizeof body, "{\"customerId\":\"%s\",\"menuList\":"
              "[{\"menuId\":\"MENU-00000001\",\"qy\":1}]}", alice.id);
    s_call (port, "POST", "/order", body, bob.bearer, &resp);
    s_assert_refused (&resp, 403, "FORBIDDEN");
    tk_resp_reset (&resp);
    snprintf (path, sizeof path, "/point/%s", alice.id);
    s_call (port, "GET", path, NULL, bob.bearer, &resp);
    s_assert_refused (&resp, 403, "FORBIDDEN");
    tk_resp_reset (&resp);
    snprintf (path, sizeof path, "/order/%s", order_no);
    s_call (port, "GET", path, NULL, bob.bearer, &resp);
    s_assert_refused (&resp, 403, "FORBIDDEN");
    tk_resp_reset (&resp);
    //  Nothing of it changed anything
    int rows_after = 0;
    assert_int_equal (s_balance (port, alice.id, &rows_after), before);
    assert_int_equal (rows_after, rows_before);
    assert_int_equal (s_balance (port, bob.id, NULL), 0);

    //  The owner and the admin pass
    s_call (port, "GET", path, NULL, alice.bearer, &resp);
    assert_int_equal (resp.status, 200);
    assert_string_equal (cJSON_GetStringValue (cJSON_GetObjectItem (resp.json, "customerId")),
                         alice.id);
    tk_resp_reset (&resp);
    s_call (port, "GET", path, NULL, NULL, &resp);
    assert_int_equal (resp.status, 200);
    tk_resp_reset (&resp);
    assert_int_equal (s_charge (port, alice.id, 5, NULL), 200);
    assert_int_equal (s_charge (port, bob.id, 7, bob.bearer), 200);
    assert_int_equal (s_balance (port, bob.id, NULL), 7);
    assert_int_equal (tk_server_stop (&server), 0);
}

//  Replacing a token: the old one stops at once.
static void
test_rotation (void **state)
{
    (void) state;
    tk_server_t server;
    assert_int_equal (tk_server_start (&server, NULL, NULL), 0);
    int port = server.port;
    customer_t alice, bob;
    s_customer (port, "alice", &alice);
    s_customer (port, "bob", &bob);
    char path [96];
    snprintf (path, sizeof path, "/customer/%s/token", alice.id);
    tk_resp_t resp;
    s_call (port, "POST", path, NULL, "Authorization:", &resp);
    s_assert_refused (&resp, 401, "UNAUTHORIZED");
    tk_resp_reset (&resp);
    s_call (port, "POST", path, NULL, bob.bearer, &resp);
    s_assert_refused (&resp, 403, "FORBIDDEN");
    tk_resp_reset (&resp);
    assert_int_equal (s_charge (port, alice.id, 10, alice.bearer), 200);

    s_call (port, "POST", path, NULL, alice.bearer, &resp);
    assert_int_equal (resp.status, 200);
    assert_string_equal (cJSON_GetStringValue (cJSON_GetObjectItem (resp.json, "customerId")),
                         alice.id);
    customer_t renewed = alice;
    snprintf (renewed.token, sizeof renewed.token, "%s",
              cJSON_GetStringValue (cJSON_GetObjectItem (resp.json, "token")));
    snprintf (renewed.bearer, sizeof renewed.bearer, "Authorization: Bearer %s", renewed.token);
    assert_string_not_equal (renewed.token, alice.token);
    tk_resp_reset (&resp);
    assert_int_equal (s_charge (port, alice.id, 10, alice.bearer), 401);
    assert_int_equal (s_charge (port, alice.id, 10, renewed.bearer), 200);
    //  The admin replaces it too; then the renewed one is gone as well
    s_call (port, "POST", path, NULL, NULL, &resp);
    assert_int_equal (resp.status, 200);
    tk_resp_reset (&resp);
    assert_int_equal (s_charge (port, alice.id, 10, renewed.bearer), 401);
    assert_int_equal (s_balance (port, alice.id, NULL), 20);
    //  A body, a bad id, an unknown customer
    s_call (port, "POST", path, "{\"x\":1}", NULL, &resp);
    assert_int_equal (resp.status, 413);
    tk_resp_reset (&resp);
    s_call (port, "POST", "/customer/nobody/token", NULL, NULL, &resp);
    assert_int_equal (resp.status, 400);
    tk_resp_reset (&resp);
    s_call (port, "POST", "/customer/CUST-99999999/token", NULL, NULL, &resp);
    assert_int_equal (resp.status, 404);
    tk_resp_reset (&resp);
    assert_int_equal (tk_server_stop (&server), 0);
}

//  --auth off: the original open API, with a warning; tokens are still
//  handed out, and replacing one still needs one.
static void
test_auth_off (void **state)
{
    (void) state;
    tk_server_t server;
    const char *extra [] = { "--auth", "off", NULL };
    assert_int_equal (tk_server_start (&server, NULL, extra), 0);
    int port = server.port;
    customer_t alice;
    s_customer (port, "open", &alice);
    assert_int_equal (s_charge (port, alice.id, 500, "Authorization:"), 200);
    tk_resp_t resp;
    char path [96];
    snprintf (path, sizeof path, "/point/%s", alice.id);
    s_call (port, "GET", path, NULL, "Authorization:", &resp);
    assert_int_equal (resp.status, 200);
    tk_resp_reset (&resp);
    snprintf (path, sizeof path, "/customer/%s/token", alice.id);
    s_call (port, "POST", path, NULL, "Authorization:", &resp);
    s_assert_refused (&resp, 401, "UNAUTHORIZED");
    tk_resp_reset (&resp);
    s_call (port, "POST", path, NULL, alice.bearer, &resp);
    assert_int_equal (resp.status, 200);
    tk_resp_reset (&resp);
    assert_int_equal (tk_server_stop (&server), 0);
    FILE *log = fopen (server.log_path, "r");
    assert_non_null (log);
    char line [1024];
    bool warned = false;
    while (fgets (line, sizeof line, log))
        warned = warned || (strstr (line, "WARN") && strstr (line, "--auth off"));
    fclose (log);
    assert_true (warned);
}

//  /metrics is the admin's unless --metrics-public on; the display, health
//  and page routes need nothing.
static void
test_metrics_and_public_routes (void **state)
{
    (void) state;
    tk_server_t server, open, none;
    assert_int_equal (tk_server_start (&server, NULL, NULL), 0);
    const char *public_extra [] = { "--metrics-public", "on", NULL };
    assert_int_equal (tk_server_start (&open, NULL, public_extra), 0);
    const char *none_extra [] = { "--admin-token-file", "", NULL };
    assert_int_equal (tk_server_start (&none, NULL, none_extra), 0);
    tk_resp_t resp;
    s_call (server.port, "GET", "/metrics", NULL, "Authorization:", &resp);
    s_assert_refused (&resp, 401, "UNAUTHORIZED");
    tk_resp_reset (&resp);
    s_call (server.port, "GET", "/metrics", NULL, NULL, &resp);
    assert_int_equal (resp.status, 200);
    assert_non_null (strstr (resp.body, "coffee_http_requests_total"));
    tk_resp_reset (&resp);
    s_call (open.port, "GET", "/metrics", NULL, "Authorization:", &resp);
    assert_int_equal (resp.status, 200);
    tk_resp_reset (&resp);
    s_call (none.port, "GET", "/metrics", NULL, NULL, &resp);
    s_assert_refused (&resp, 404, "NOT_FOUND");
    tk_resp_reset (&resp);
    const char *public_paths [] = { "/display/menu", "/display/best", "/health", "/" };
    for (size_t i = 0; i < sizeof public_paths / sizeof public_paths [0]; i++) {
        s_call (server.port, "GET", public_paths [i], NULL, "Authorization:", &resp);
        assert_int_equal (resp.status, 200);
        tk_resp_reset (&resp);
    }
    assert_int_equal (tk_server_stop (&none), 0);
    assert_int_equal (tk_server_stop (&open), 0);
    assert_int_equal (tk_server_stop (&server), 0);
}

//  One key, two customers: two requests, each replayed to its sender.
static void
test_scoped_keys (void **state)
{
    (void) state;
    tk_server_t server;
    assert_int_equal (tk_server_start (&server, NULL, NULL), 0);
    int port = server.port;
    customer_t alice, bob;
    s_customer (port, "alice", &alice);
    s_customer (port, "bob", &bob);
    char body [128];
    tk_resp_t first, second;
    const char *alice_headers [] = { alice.bearer, "Idempotency-Key: same-key-1", NULL };
    const char *bob_headers [] = { bob.bearer, "Idempotency-Key: same-key-1", NULL };
    snprintf (body, sizeof body, "{\"customerId\":\"%s\",\"chargeAmt\":700}", alice.id);
    assert_int_equal (tk_http ("POST", port, "/point", body, alice_headers, &first), 0);
    assert_int_equal (first.status, 200);
    snprintf (body, sizeof body, "{\"customerId\":\"%s\",\"chargeAmt\":300}", bob.id);
    assert_int_equal (tk_http ("POST", port, "/point", body, bob_headers, &second), 0);
    assert_int_equal (second.status, 200);
    assert_non_null (strstr (second.body, "\"afterChargePoint\":300"));
    tk_resp_reset (&second);
    //  Alice's retry replays hers, byte for byte
    snprintf (body, sizeof body, "{\"customerId\":\"%s\",\"chargeAmt\":700}", alice.id);
    assert_int_equal (tk_http ("POST", port, "/point", body, alice_headers, &second), 0);
    assert_int_equal (second.status, 200);
    assert_string_equal (second.body, first.body);
    tk_resp_reset (&second);
    tk_resp_reset (&first);
    //  Bob using alice's key on alice's account is refused before the key
    //  is looked at: 403, not her replay and not 422
    assert_int_equal (tk_http ("POST", port, "/point", body, bob_headers, &second), 0);
    s_assert_refused (&second, 403, "FORBIDDEN");
    tk_resp_reset (&second);
    assert_int_equal (s_balance (port, alice.id, NULL), 700);
    assert_int_equal (s_balance (port, bob.id, NULL), 300);
    assert_int_equal (tk_server_stop (&server), 0);
}

//  History pages.
static void
test_pages (void **state)
{
    (void) state;
    tk_server_t server;
    assert_int_equal (tk_server_start (&server, NULL, NULL), 0);
    int port = server.port;
    customer_t alice;
    s_customer (port, "pages", &alice);
    const int charges = 250;
    for (int i = 1; i <= charges; i++)
        assert_int_equal (s_charge (port, alice.id, i, alice.bearer), 200);
    int64_t whole = (int64_t) charges * (charges + 1) / 2;
    char path [160], cursor [32] = "";
    int seen = 0, expect = charges, pages = 0;
    tk_resp_t resp;
    do {
        snprintf (path, sizeof path, "/point/%s%s%s", alice.id, *cursor? "?cursor=": "", cursor);
        s_call (port, "GET", path, NULL, alice.bearer, &resp);
        assert_int_equal (resp.status, 200);
        const cJSON *entry = cJSON_GetArrayItem (resp.json, 0);
        assert_int_equal ((int64_t) cJSON_GetNumberValue (cJSON_GetObjectItem (entry, "point")),
                          whole);
        const cJSON *details = cJSON_GetObjectItem (entry, "pointDetail");
        assert_true (cJSON_GetArraySize (details) <= 100);
        const cJSON *item;
        cJSON_ArrayForEach (item, details) {
            assert_int_equal ((int) cJSON_GetNumberValue (cJSON_GetObjectItem (item, "point")),
                              expect);
            expect--;
            seen++;
        }
        const cJSON *next = cJSON_GetObjectItem (entry, "nextCursor");
        assert_true (cJSON_IsString (next) || cJSON_IsNull (next));
        snprintf (cursor, sizeof cursor, "%s", cJSON_IsString (next)? next->valuestring: "");
        tk_resp_reset (&resp);
        pages++;
    } while (*cursor && pages < 10);
    assert_int_equal (seen, charges);
    assert_int_equal (pages, 3);
    int rows = 0;
    assert_int_equal (s_balance (port, alice.id, &rows), whole);
    assert_int_equal (rows, charges);
    snprintf (path, sizeof path, "/point/%s?limit=7", alice.id);
    s_call (port, "GET", path, NULL, alice.bearer, &resp);
    assert_int_equal (cJSON_GetArraySize (cJSON_GetObjectItem (cJSON_GetArrayItem (resp.json, 0),
                                                               "pointDetail")), 7);
    tk_resp_reset (&resp);
    const char *bad [] = { "?limit=0", "?limit=1001", "?limit=abc", "?limit=-1", "?limit=",
                           "?cursor=abc", "?cursor=0", "?cursor=99999999999999999999" };
    for (size_t i = 0; i < sizeof bad / sizeof bad [0]; i++) {
        snprintf (path, sizeof path, "/point/%s%s", alice.id, bad [i]);
        s_call (port, "GET", path, NULL, alice.bearer, &resp);
        if (resp.status != 400)
            fail_msg ("%s: want 400, got %ld %s", bad [i], resp.status, resp.body);
        assert_non_null (resp.json);
        tk_resp_reset (&resp);
    }
    assert_int_equal (tk_server_stop (&server), 0);
}

//  Two instances on one MariaDB: credentials live in the command store.
static void
test_instances (void **state)
{
    (void) state;
    const char *store = getenv ("COFFEE_TEST_STORE_URL");
    const char *display = getenv ("COFFEE_TEST_DISPLAY_STORE_URL");
    if (!store || strncmp (store, "mysql://", 8) != 0 || !display) {
        printf ("test_instances: COFFEE_TEST_STORE_URL (mysql://…) is not set: skipping\n");
        skip ();
    }
    const char *extra [] = { "--store", store, "--display-store", display, NULL };
    tk_server_t a, b;
    assert_int_equal (tk_server_start (&a, NULL, extra), 0);
    assert_int_equal (tk_server_start (&b, NULL, extra), 0);
    customer_t alice, bob;
    s_customer (a.port, "instance-a", &alice);
    s_customer (b.port, "instance-b", &bob);
    assert_int_equal (s_charge (b.port, alice.id, 100, alice.bearer), 200);
    assert_int_equal (s_charge (a.port, bob.id, 100, bob.bearer), 200);
    assert_int_equal (s_charge (b.port, alice.id, 100, bob.bearer), 403);
    char path [96];
    snprintf (path, sizeof path, "/customer/%s/token", alice.id);
    tk_resp_t resp;
    s_call (a.port, "POST", path, NULL, alice.bearer, &resp);
    assert_int_equal (resp.status, 200);
    char renewed [96];
    snprintf (renewed, sizeof renewed, "Authorization: Bearer %s",
              cJSON_GetStringValue (cJSON_GetObjectItem (resp.json, "token")));
    tk_resp_reset (&resp);
    assert_int_equal (s_charge (b.port, alice.id, 100, alice.bearer), 401);
    assert_int_equal (s_charge (b.port, alice.id, 100, renewed), 200);
    assert_int_equal (s_balance (a.port, alice.id, NULL), 200);
    assert_int_equal (tk_server_stop (&b), 0);
    assert_int_equal (tk_server_stop (&a), 0);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_per_route),
        cmocka_unit_test (test_rotation),
        cmocka_unit_test (test_auth_off),
        cmocka_unit_test (test_metrics_and_public_routes),
        cmocka_unit_test (test_scoped_keys),
        cmocka_unit_test (test_pages),
        cmocka_unit_test (test_instances),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
