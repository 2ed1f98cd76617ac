/*  test_e2e_retention — retention on the real binary (issue 9 point 10).

    A first run (retention off) charges with Idempotency-Key "old-charge"
    and places two orders. A second run on the same data dir with its clock
    two minutes ahead (--clock-skew-ms), every retention age at 60 s and
    --prune-interval-ms 200 charges with key "new-charge". Then, within a
    bound, /metrics counts the pruned rows per table (idempotency,
    outbox, eventlog); "new-charge", still kept, replays its first answer
    and charges nothing; "old-charge", pruned, runs again as a new charge.
    The process keeps serving throughout.

    Works with or without customer tokens: when POST /customer answers a
    token it is sent as Authorization: Bearer; /metrics gets the admin
    token.

    ctest bound: COFFEE_TEST_TIMEOUT 120 s. */
#include "testkit.h"
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define WAIT_MS 20000           //  bound on waiting for a prune round
#define ADMIN_TOKEN "retention-admin-token-0123456789"

//  The session of one customer.
typedef struct {
    int port;                   //  server
    char id [64];               //  customerId
    char auth [600];            //  "Authorization: Bearer …" or "" (no tokens)
} s_customer_t;

//  Sends a JSON request as the customer, with key as Idempotency-Key
//  (NULL: none).
static void
s_call (s_customer_t *c, const char *method, const char *path, const char *body,
        const char *key, tk_resp_t *resp)
{
    char idem [128] = "";
    const char *headers [4] = { "Content-Type: application/json", NULL, NULL, NULL };
    int n = 1;
    if (*c->auth)
        headers [n++] = c->auth;
    if (key) {
        snprintf (idem, sizeof idem, "Idempotency-Key: %s", key);
        headers [n++] = idem;
    }
    tk_http (method, c->port, path, body, headers, resp);
}

//  POST /point chargeAmt amount with key; returns afterChargePoint.
static int64_t
s_charge (s_customer_t *c, int64_t amount, const char *key)
{
    char body [160];
    snprintf (body, sizeof body, "{\"customerId\":\"%s\",\"chargeAmt\":%lld}", c->id,
              (long long) amount);
    tk_resp_t resp;
    s_call (c, "POST", "/point", body, key, &resp);
    if (resp.status != 200)
        fail_msg ("POST /point: %ld %s", resp.status, resp.body? resp.body: "");
    cJSON *after = cJSON_GetObjectItem (resp.json, "afterChargePoint");
    assert_non_null (after);
    int64_t value = (int64_t) after->valuedouble;
    tk_resp_reset (&resp);
    return value;
}

//  POST /order of one MENU-00000001 with key.
static void
s_order (s_customer_t *c, const char *key)
{
    char body [200];
    snprintf (body, sizeof body, "{\"customerId\":\"%s\",\"menuList\":"
              "[{\"menuId\":\"MENU-00000001\",\"qy\":1}]}", c->id);
    tk_resp_t resp;
    s_call (c, "POST", "/order", body, key, &resp);
    if (resp.status != 200)
        fail_msg ("POST /order: %ld %s", resp.status, resp.body? resp.body: "");
    tk_resp_reset (&resp);
}

//  The value of metric line name in GET /metrics, -1 when absent.
static int64_t
s_metric (int port, const char *name)
{
    const char *headers [] = { "Authorization: Bearer " ADMIN_TOKEN, NULL };
    tk_resp_t resp;
    tk_http ("GET", port, "/metrics", NULL, headers, &resp);
    int64_t value = -1;
    size_t len = strlen (name);
    for (const char *line = resp.body; line && *line; ) {
        if (strncmp (line, name, len) == 0 && line [len] == ' ')
            value = strtoll (line + len + 1, NULL, 10);
        const char *end = strchr (line, '\n');
        line = end? end + 1: NULL;
    }
    tk_resp_reset (&resp);
    return value;
}

//  Old rows go on the schedule; kept keys replay, pruned ones run again.
static void
test_retention (void **state)
{
    char *dir = tk_tempdir ("coffee-retention");
    assert_non_null (dir);
    char token_file [600], data [600];
    snprintf (token_file, sizeof token_file, "%s/admin.token", dir);
    snprintf (data, sizeof data, "%s/var", dir);
    assert_int_equal (mkdir (data, 0700), 0);
    FILE *file = fopen (token_file, "w");
    assert_non_null (file);
    fputs (ADMIN_TOKEN "\n", file);
    fclose (file);

    const char *first [] = { "--admin-token-file", token_file, "--prune-interval-ms", "0", NULL };
    tk_server_t srv;
    assert_int_equal (tk_server_start (&srv, data, first), 0);
    s_customer_t c = { .port = srv.port };
    tk_resp_t resp;
    s_call (&c, "POST", "/customer", "{\"customerNm\":\"retention\"}", NULL, &resp);
    assert_int_equal (resp.status, 200);
    snprintf (c.id, sizeof c.id, "%s", cJSON_GetObjectItem (resp.json, "customerId")->valuestring);
    cJSON *token = cJSON_GetObjectItem (resp.json, "token");
    if (cJSON_IsString (token))
        snprintf (c.auth, sizeof c.auth, "Authorization: Bearer %s", token->valuestring);
    tk_resp_reset (&resp);

    assert_int_equal (s_charge (&c, 10000, "old-charge"), 10000);
    s_order (&c, "old-order-1");
    s_order (&c, "old-order-2");
    //  Both orders delivered (the collector's and the projection's
    //  positions pass them) before the stop.
    int64_t deadline = tk_now_ms () + WAIT_MS;
    while (tk_now_ms () < deadline
    &&    (s_metric (srv.port, "coffee_collector_delivered_total") < 2
    ||     s_metric (srv.port, "coffee_projection_applied_total") < 2))
        usleep (50 * 1000);
    assert_true (s_metric (srv.port, "coffee_collector_delivered_total") >= 2);
    assert_int_equal (s_metric (srv.port, "coffee_retention_pruned_total{table=\"outbox\"}"), 0);
    assert_int_equal (tk_server_stop (&srv), 0);

    //  Two minutes later, every age 60 s, a round every 200 ms.
    const char *second [] = {
        "--admin-token-file", token_file, "--clock-skew-ms", "120000",
        "--idem-retention", "60", "--outbox-retention", "60", "--eventlog-retention", "60",
        "--prune-interval-ms", "200", NULL
    };
    assert_int_equal (tk_server_restart (&srv, second), 0);
    c.port = srv.port;
    int64_t balance = 10000 - 2 * 4200;
    assert_int_equal (s_charge (&c, 500, "new-charge"), balance + 500);
    balance += 500;

    const char *idem = "coffee_retention_pruned_total{table=\"idempotency\"}";
    const char *outbox = "coffee_retention_pruned_total{table=\"outbox\"}";
    const char *events = "coffee_retention_pruned_total{table=\"eventlog\"}";
    deadline = tk_now_ms () + WAIT_MS;
    while (tk_now_ms () < deadline
    &&    (s_metric (srv.port, idem) < 3 || s_metric (srv.port, outbox) < 2
    ||     s_metric (srv.port, events) < 1))
        usleep (50 * 1000);
    print_message ("pruned: idempotency %lld outbox %lld eventlog %lld\n",
                   (long long) s_metric (srv.port, idem), (long long) s_metric (srv.port, outbox),
                   (long long) s_metric (srv.port, events));
    assert_true (s_metric (srv.port, idem) >= 3);       //  old-charge, old-order-1, old-order-2
    assert_true (s_metric (srv.port, outbox) >= 2);     //  both orders' rows, published
    assert_true (s_metric (srv.port, events) >= 1);     //  below both groups' positions
    assert_int_equal (s_metric (srv.port, "coffee_retention_failures_total"), 0);

    //  Kept: the replay answers as the first time and charges nothing.
    assert_int_equal (s_charge (&c, 500, "new-charge"), balance);
    //  Pruned: the same request runs again, as a new charge.
    assert_int_equal (s_charge (&c, 10000, "old-charge"), balance + 10000);
    balance += 10000;
    //  The new charge's key is kept as well: a replay charges nothing.
    assert_int_equal (s_charge (&c, 10000, "old-charge"), balance);

    tk_http ("GET", srv.port, "/health", NULL, NULL, &resp);
    assert_int_equal (resp.status, 200);
    tk_resp_reset (&resp);
    assert_int_equal (tk_server_stop (&srv), 0);
    free (dir);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_retention),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
