/*  test_e2e_lots — points that expire, over real HTTP with a moved clock
    (--clock-skew-ms) and real stores.

      policy      --welcome-points, --charge-valid-days, --reward-percent:
                  the lots a customer gets, their expDate on GET /point and
                  expiringPoint; an order spends the soonest-expiring first.
      expiry      three days later the same customer's order that needs the
                  expired points is 409 NO_POINT with the right shortfall;
                  the history holds one EXPIRE row per lot and still sums to
                  the balance.
      grant       POST /admin/point/save: the admin's only; a date in the
                  past, a bad date, an unknown customer refused and nothing
                  changed.
      kill -9     many customers' lots due, the sweep running every 100 ms,
                  the server killed while it sweeps: after a restart every
                  lot is written off exactly once.
      instances   (MariaDB) two servers sweeping the same due lots every
                  100 ms while orders race through both: no lot expires
                  twice, balances equal their histories, never negative.

    ctest bound: COFFEE_TEST_TIMEOUT 300 s. */

#include "testkit.h"
#include <cmocka.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define DAY_MS (24LL * 3600 * 1000)

//  "--clock-skew-ms" value of days.
static void
s_skew (int days, char *text, size_t size)
{
    snprintf (text, size, "%lld", (long long) days * DAY_MS);
}

//  Creates a customer; id gets its id.
static void
s_customer (int port, char *id)
{
    tk_resp_t resp;
    assert_int_equal (tk_http ("POST", port, "/customer", "{\"customerNm\":\"lots\"}", NULL,
                               &resp), 0);
    assert_int_equal (resp.status, 200);
    snprintf (id, 32, "%s", cJSON_GetStringValue (cJSON_GetObjectItem (resp.json, "customerId")));
    tk_resp_reset (&resp);
}

//  The account of a customer (GET /point, up to 1000 rows): caller deletes.
static cJSON *
s_account (int port, const char *id)
{
    char path [96];
    snprintf (path, sizeof path, "/point/%s?limit=1000", id);
    tk_resp_t resp;
    assert_int_equal (tk_http ("GET", port, path, NULL, NULL, &resp), 0);
    assert_int_equal (resp.status, 200);
    cJSON *account = cJSON_DetachItemFromArray (resp.json, 0);
    tk_resp_reset (&resp);
    return account;
}

//  Balance, checked against the history; *expires counts EXPIRE rows.
static int64_t
s_whole (int port, const char *id, int *expires)
{
    cJSON *account = s_account (port, id);
    int64_t point = (int64_t) cJSON_GetNumberValue (cJSON_GetObjectItem (account, "point"));
    int64_t sum = 0;
    int count = 0;
    const cJSON *row;
    cJSON_ArrayForEach (row, cJSON_GetObjectItem (account, "pointDetail")) {
        sum += (int64_t) cJSON_GetNumberValue (cJSON_GetObjectItem (row, "point"));
        count += strcmp (cJSON_GetStringValue (cJSON_GetObjectItem (row, "pointTypeCode")),
                         "EXPIRE") == 0;
    }
    assert_true (cJSON_IsNull (cJSON_GetObjectItem (account, "nextCursor")));
    cJSON_Delete (account);
    assert_int_equal (sum, point);
    assert_true (point >= 0);
    if (expires)
        *expires = count;
    return point;
}

//  POST path body as the admin; returns the status.
static long
s_post (int port, const char *path, const char *body, const char *header)
{
    const char *headers [] = { header, NULL };
    tk_resp_t resp;
    assert_int_equal (tk_http ("POST", port, path, body, header? headers: NULL, &resp), 0);
    long status = resp.status;
    tk_resp_reset (&resp);
    return status;
}

//  One order of MENU-00000001 (4200); returns the status.
static long
s_order (int port, const char *id, char *shortfall, size_t size)
{
    char body [160];
    snprintf (body, sizeof body, "{\"customerId\":\"%s\",\"menuList\":"
              "[{\"menuId\":\"MENU-00000001\",\"qy\":1}]}", id);
    tk_resp_t resp;
    assert_int_equal (tk_http ("POST", port, "/order", body, NULL, &resp), 0);
    long status = resp.status;
    if (shortfall) {
        const cJSON *item = cJSON_GetObjectItem (resp.json, "shortfall");
        snprintf (shortfall, size, "%lld", (long long) cJSON_GetNumberValue (item));
    }
    tk_resp_reset (&resp);
    return status;
}

static void
test_policy_and_expiry (void **state)
{
    (void) state;
    tk_server_t server;
    const char *policy [] = { "--welcome-points", "1000", "--welcome-valid-days", "2",
                              "--charge-valid-days", "1", "--reward-percent", "10", NULL };
    assert_int_equal (tk_server_start (&server, NULL, policy), 0);
    int port = server.port;
    char id [32];
    s_customer (port, id);
    char body [160];
    snprintf (body, sizeof body, "{\"customerId\":\"%s\",\"chargeAmt\":5000}", id);
    assert_int_equal (s_post (port, "/point", body, NULL), 200);
    //  The charge expires first (1 day), so the order takes all of it
    //  before the welcome points (2 days)
    assert_int_equal (s_order (port, id, NULL, 0), 200);
    cJSON *account = s_account (port, id);
    assert_int_equal ((int64_t) cJSON_GetNumberValue (cJSON_GetObjectItem (account, "point")),
                      1000 + 5000 - 4200 + 420);
    assert_int_equal ((int64_t) cJSON_GetNumberValue (cJSON_GetObjectItem (account,
                      "expiringPoint")), 1000 + 800);      //  the reward never expires
    int dated = 0, saves = 0;
    const cJSON *row;
    cJSON_ArrayForEach (row, cJSON_GetObjectItem (account, "pointDetail")) {
        const char *code = cJSON_GetStringValue (cJSON_GetObjectItem (row, "pointTypeCode"));
        const cJSON *date = cJSON_GetObjectItem (row, "expDate");
        dated += cJSON_IsString (date);
        saves += strcmp (code, "SAVE") == 0;
        if (cJSON_IsString (date))
            assert_int_equal (strlen (date->valuestring), 8);
    }
    assert_int_equal (dated, 2);            //  the CHARGE and the welcome SAVE
    assert_int_equal (saves, 2);            //  welcome and reward
    cJSON_Delete (account);
    assert_int_equal (tk_server_stop (&server), 0);

    //  Three days on: the 1800 left of those lots is gone, 420 stays
    char skew [32];
    s_skew (3, skew, sizeof skew);
    const char *later [] = { "--clock-skew-ms", skew, "--expiry-sweep-ms", "3600000", NULL };
    assert_int_equal (tk_server_restart (&server, later), 0);
    char shortfall [32];
    assert_int_equal (s_order (port, id, shortfall, sizeof shortfall), 409);
    assert_string_equal (shortfall, "3780");
    int expires = 0;
    assert_int_equal (s_whole (port, id, &expires), 420);
    assert_int_equal (expires, 2);
    assert_int_equal (s_order (port, id, NULL, 0), 409);
    assert_int_equal (s_whole (port, id, &expires), 420);
    assert_int_equal (expires, 2);
    assert_int_equal (tk_server_stop (&server), 0);
}

static void
test_grant (void **state)
{
    (void) state;
    tk_server_t server;
    assert_int_equal (tk_server_start (&server, NULL, NULL), 0);
    int port = server.port;
    char id [32], body [256], today [16], past [16];
    s_customer (port, id);
    time_t now = time (NULL) + 9 * 3600;
    struct tm tm;
    gmtime_r (&now, &tm);
    strftime (today, sizeof today, "%Y%m%d", &tm);
    now -= 86400;
    gmtime_r (&now, &tm);
    strftime (past, sizeof past, "%Y%m%d", &tm);
    snprintf (body, sizeof body, "{\"customerId\":\"%s\",\"point\":10000,\"expDate\":\"%s\","
              "\"remark\":\"첫 가입 감사 포인트\"}", id, today);
    assert_int_equal (s_post (port, "/admin/point/save", body, "Authorization:"), 401);
    assert_int_equal (s_whole (port, id, NULL), 0);
    assert_int_equal (s_post (port, "/admin/point/save", body, NULL), 200);
    assert_int_equal (s_whole (port, id, NULL), 10000);
    const char *bad [] = { past, "20250231", "2025", "abcdefgh" };
    for (size_t i = 0; i < sizeof bad / sizeof bad [0]; i++) {
        snprintf (body, sizeof body, "{\"customerId\":\"%s\",\"point\":5,\"expDate\":\"%s\","
                  "\"remark\":\"x\"}", id, bad [i]);
        assert_int_equal (s_post (port, "/admin/point/save", body, NULL), 400);
    }
    snprintf (body, sizeof body, "{\"customerId\":\"%s\",\"point\":0,\"remark\":\"x\"}", id);
    assert_int_equal (s_post (port, "/admin/point/save", body, NULL), 400);
    snprintf (body, sizeof body, "{\"customerId\":\"%s\",\"point\":5}", id);
    assert_int_equal (s_post (port, "/admin/point/save", body, NULL), 400);
    assert_int_equal (s_post (port, "/admin/point/save",
                              "{\"customerId\":\"CUST-99999999\",\"point\":5,\"remark\":\"x\"}",
                              NULL), 404);
    assert_int_equal (s_whole (port, id, NULL), 10000);
    assert_int_equal (tk_server_stop (&server), 0);
}

//  Customers with a lot due, for the sweep tests.
#define LOTS_CUSTOMERS 150

//  Makes count customers each granted 1000 expiring today and 300 that
//  never expire; ids gets them.
static void
s_due_customers (int port, int count, char (*ids) [32])
{
    char today [16], body [256];
    time_t now = time (NULL) + 9 * 3600;
    struct tm tm;
    gmtime_r (&now, &tm);
    strftime (today, sizeof today, "%Y%m%d", &tm);
    for (int i = 0; i < count; i++) {
        s_customer (port, ids [i]);
        snprintf (body, sizeof body, "{\"customerId\":\"%s\",\"point\":1000,\"expDate\":\"%s\","
                  "\"remark\":\"due\"}", ids [i], today);
        assert_int_equal (s_post (port, "/admin/point/save", body, NULL), 200);
        snprintf (body, sizeof body, "{\"customerId\":\"%s\",\"point\":300,\"remark\":\"kept\"}",
                  ids [i]);
        assert_int_equal (s_post (port, "/admin/point/save", body, NULL), 200);
    }
}

static void
test_kill9_during_sweep (void **state)
{
    (void) state;
    tk_server_t server;
    assert_int_equal (tk_server_start (&server, NULL, NULL), 0);
    char (*ids) [32] = calloc (LOTS_CUSTOMERS, 32);
    assert_non_null (ids);
    s_due_customers (server.port, LOTS_CUSTOMERS, ids);
    assert_int_equal (tk_server_stop (&server), 0);
    char skew [32];
    s_skew (2, skew, sizeof skew);
    const char *later [] = { "--clock-skew-ms", skew, "--expiry-sweep-ms", "100", NULL };
    //  Killed while the sweep runs (it starts 100 ms after the actor)
    assert_int_equal (tk_server_restart (&server, later), 0);
    usleep (150 * 1000);
    tk_server_kill9 (&server);
    assert_int_equal (tk_server_restart (&server, later), 0);
    int64_t deadline = tk_now_ms () + 30000;
    for (int i = 0; i < LOTS_CUSTOMERS; i++) {
        int expires = 0;
        int64_t point;
        while ((point = s_whole (server.port, ids [i], &expires)) != 300
           &&  tk_now_ms () < deadline)
            usleep (50 * 1000);
        assert_int_equal (point, 300);
        assert_int_equal (expires, 1);
    }
    //  Later sweeps find nothing more
    usleep (300 * 1000);
    int expires = 0;
    assert_int_equal (s_whole (server.port, ids [0], &expires), 300);
    assert_int_equal (expires, 1);
    free (ids);
    assert_int_equal (tk_server_stop (&server), 0);
}

//  A racing client: orders on the customers through one server.
typedef struct {
    int port;
    char (*ids) [32];
    int from, count;
    int ok, refused;
} s_racer_t;

static void *
s_racer (void *arg)
{
    s_racer_t *r = (s_racer_t *) arg;
    for (int i = r->from; i < r->from + r->count; i++) {
        char body [160];
        snprintf (body, sizeof body, "{\"customerId\":\"%s\",\"menuList\":"
                  "[{\"menuId\":\"MENU-00000001\",\"qy\":1}]}", r->ids [i]);
        tk_resp_t resp;
        if (tk_http ("POST", r->port, "/order", body, NULL, &resp) == 0) {
            r->ok += resp.status == 200;
            r->refused += resp.status == 409;
        }
        tk_resp_reset (&resp);
    }
    return NULL;
}

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
    const char *plain [] = { "--store", store, "--display-store", display, NULL };
    tk_server_t a, b;
    assert_int_equal (tk_server_start (&a, NULL, plain), 0);
    char (*ids) [32] = calloc (40, 32);
    assert_non_null (ids);
    s_due_customers (a.port, 40, ids);
    //  Each has 4200 more that never expires: enough for one order once
    //  the due 1000 is gone, never two
    char body [160];
    for (int i = 0; i < 40; i++) {
        snprintf (body, sizeof body, "{\"customerId\":\"%s\",\"chargeAmt\":3900}", ids [i]);
        assert_int_equal (s_post (a.port, "/point", body, NULL), 200);
    }
    assert_int_equal (tk_server_stop (&a), 0);
    char skew [32];
    s_skew (2, skew, sizeof skew);
    const char *later [] = { "--store", store, "--display-store", display, "--clock-skew-ms", skew,
                             "--expiry-sweep-ms", "100", NULL };
    assert_int_equal (tk_server_start (&a, NULL, later), 0);
    assert_int_equal (tk_server_start (&b, NULL, later), 0);
    s_racer_t racers [4] = {
        { a.port, ids, 0, 40, 0, 0 }, { b.port, ids, 0, 40, 0, 0 },
        { a.port, ids, 0, 40, 0, 0 }, { b.port, ids, 0, 40, 0, 0 },
    };
    pthread_t threads [4];
    for (int i = 0; i < 4; i++)
        assert_int_equal (pthread_create (&threads [i], NULL, s_racer, &racers [i]), 0);
    for (int i = 0; i < 4; i++)
        pthread_join (threads [i], NULL);
    int ok = 0;
    for (int i = 0; i < 4; i++)
        ok += racers [i].ok;
    assert_int_equal (ok, 40);              //  4200 each: exactly one order per customer
    for (int i = 0; i < 40; i++) {
        int expires = 0;
        assert_int_equal (s_whole (a.port, ids [i], &expires), 0);
        assert_int_equal (expires, 1);
    }
    free (ids);
    assert_int_equal (tk_server_stop (&b), 0);
    assert_int_equal (tk_server_stop (&a), 0);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_policy_and_expiry),
        cmocka_unit_test (test_grant),
        cmocka_unit_test (test_kill9_during_sweep),
        cmocka_unit_test (test_instances),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
