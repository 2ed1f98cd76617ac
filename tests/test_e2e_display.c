/*  Issue 4 end to end against the real `coffee serve` (and `coffee
    reconcile`, `coffee mock-collector`): popular menus counted by orders,
    the 168-hour window edge, the exact top 3 after concurrent orders, no
    acknowledged order lost to kill -9, a collector outage that never slows
    an order, and reconcile catching and repairing drift.

    ctest bound: COFFEE_TEST_TIMEOUT 300 s. */
#include "testkit.h"
#include <cmocka.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <curl/curl.h>
#include "coffee.h"

#define E2E_REFRESH "100"           //  --display-refresh-ms for the servers here
#define E2E_MENUS   5               //  demo menus MENU-00000001..5

static const char *const s_json_headers [] = { "Content-Type: application/json", NULL };

//  POST body as JSON; returns the status (0 on transport failure), resp filled.
static long
s_post (int port, const char *path, const char *body, tk_resp_t *resp)
{
    memset (resp, 0, sizeof *resp);
    tk_http ("POST", port, path, body, s_json_headers, resp);
    return resp->status;
}

//  A new customer charged with amount; its id into id (size COFFEE-like 32).
static void
s_customer (int port, int64_t amount, char *id, size_t len)
{
    tk_resp_t resp;
    assert_int_equal (s_post (port, "/customer", "{\"customerNm\":\"e2e\"}", &resp), 200);
    const cJSON *cid = cJSON_GetObjectItem (resp.json, "customerId");
    assert_true (cJSON_IsString (cid));
    snprintf (id, len, "%s", cid->valuestring);
    tk_resp_reset (&resp);
    char body [128];
    snprintf (body, sizeof body, "{\"customerId\":\"%s\",\"chargeAmt\":%" PRId64 "}", id, amount);
    assert_int_equal (s_post (port, "/point", body, &resp), 200);
    tk_resp_reset (&resp);
}

//  Places an order of menu_list (the JSON array text); returns the status
//  and copies the order number into order_no when 200. Safe in threads.
static long
s_order (int port, const char *customer, const char *menu_list, char *order_no, size_t len)
{
    char body [1024];
    snprintf (body, sizeof body, "{\"customerId\":\"%s\",\"menuList\":%s}", customer, menu_list);
    tk_resp_t resp;
    long status = s_post (port, "/order", body, &resp);
    const cJSON *no = cJSON_GetObjectItem (resp.json, "orderNo");
    if (status == 200 && order_no && cJSON_IsString (no))
        snprintf (order_no, len, "%s", no->valuestring);
    tk_resp_reset (&resp);
    return status;
}

//  What a /display/best answer must be: entries of menu id and count.
typedef struct {
    int count;                          //  entries expected
    char menu_id [3][32];               //  in order
    int64_t order_cnt [3];              //  their orderCnt
} s_best_t;

//  True when /display/best is exactly the expected list.
static bool
s_best_is (const tk_resp_t *resp, void *arg)
{
    const s_best_t *want = (const s_best_t *) arg;
    if (resp->status != 200 || !cJSON_IsArray (resp->json)
    ||  cJSON_GetArraySize (resp->json) != want->count)
        return false;
    for (int i = 0; i < want->count; i++) {
        const cJSON *item = cJSON_GetArrayItem (resp->json, i);
        const cJSON *id = cJSON_GetObjectItem (item, "menuId");
        const cJSON *cnt = cJSON_GetObjectItem (item, "orderCnt");
        if (!cJSON_IsString (id) || strcmp (id->valuestring, want->menu_id [i])
        ||  !cJSON_IsNumber (cnt) || (int64_t) cnt->valuedouble != want->order_cnt [i]
        ||  !cJSON_IsString (cJSON_GetObjectItem (item, "menuNm")))
            return false;
    }
    return true;
}

//  Prints the current /display/best (for a failing wait).
static void
s_print_best (int port)
{
    tk_resp_t resp = { 0 };
    tk_http ("GET", port, "/display/best", NULL, NULL, &resp);
    fprintf (stderr, "/display/best: %ld %s\n", resp.status, resp.body ? resp.body : "");
    tk_resp_reset (&resp);
}

//  Runs `coffee reconcile` with args (NULL-terminated) on data_dir; returns
//  the exit status; its output goes to out (size len) when out is not NULL.
static int
s_reconcile (const char *data_dir, const char *const *args, char *out, size_t len)
{
    const char *argv [16] = { COFFEE_BIN, "reconcile", "--data-dir", data_dir };
    int argc = 4;
    for (int i = 0; args && args [i] && argc < 15; i++)
        argv [argc++] = args [i];
    argv [argc] = NULL;
    char log_path [700];
    snprintf (log_path, sizeof log_path, "%s/reconcile.out", data_dir);
    pid_t pid = tk_spawn (argv, log_path);
    if (pid < 0)
        return -1;
    int status = tk_wait (pid, 60000);
    if (status == -1) {
        kill (pid, SIGKILL);
        tk_wait (pid, 5000);
    }
    if (out) {
        out [0] = 0;
        FILE *file = fopen (log_path, "r");
        if (file) {
            size_t n = fread (out, 1, len - 1, file);
            out [n] = 0;
            fclose (file);
        }
    }
    return status;
}

//  Waits up to timeout_ms for `coffee reconcile` to exit 0.
static int
s_reconcile_until_equal (const char *data_dir, int timeout_ms)
{
    int64_t start = tk_now_ms ();
    char out [8192];
    int status = -1;
    while (tk_now_ms () - start < timeout_ms) {
        status = s_reconcile (data_dir, NULL, out, sizeof out);
        if (status == 0)
            return 0;
        zclock_sleep (200);
    }
    fprintf (stderr, "reconcile still %d:\n%s\n", status, out);
    return -1;
}

//  The popular count is the number of orders containing a menu: quantity
//  and a menu repeated in one order do not add.
static void
test_counted_by_orders (void **state)
{
    tk_server_t srv;
    const char *extra [] = { "--display-refresh-ms", E2E_REFRESH, NULL };
    assert_int_equal (tk_server_start (&srv, NULL, extra), 0);
    char cust [32];
    s_customer (srv.port, 1000000, cust, sizeof cust);
    assert_int_equal (s_order (srv.port, cust, "[{\"menuId\":\"MENU-00000001\",\"qy\":50}]",
                               NULL, 0), 200);
    assert_int_equal (s_order (srv.port, cust, "[{\"menuId\":\"MENU-00000002\",\"qy\":1}]",
                               NULL, 0), 200);
    assert_int_equal (s_order (srv.port, cust, "[{\"menuId\":\"MENU-00000002\",\"qy\":1},"
                                               "{\"menuId\":\"MENU-00000003\",\"qy\":1}]",
                               NULL, 0), 200);
    assert_int_equal (s_order (srv.port, cust, "[{\"menuId\":\"MENU-00000003\",\"qy\":1},"
                                               "{\"menuId\":\"MENU-00000003\",\"qy\":2}]",
                               NULL, 0), 200);
    //  A failed order (unknown menu) counts for nothing
    assert_int_equal (s_order (srv.port, cust, "[{\"menuId\":\"MENU-00000001\",\"qy\":1},"
                                               "{\"menuId\":\"MENU-99999999\",\"qy\":1}]",
                               NULL, 0), 404);
    s_best_t want = { 3, { "MENU-00000002", "MENU-00000003", "MENU-00000001" }, { 2, 2, 1 } };
    int rc = tk_http_until (srv.port, "/display/best", s_best_is, &want, 10000);
    if (rc != 0)
        s_print_best (srv.port);
    assert_int_equal (rc, 0);
    assert_int_equal (s_reconcile_until_equal (srv.data_dir, 10000), 0);
    assert_int_equal (tk_server_stop (&srv), 0);
}

//  The window is the 168 hours before now: an order 168h + 1000 s old is
//  out, one 168h - 800 s old is in (placed by servers with a shifted clock).
static void
test_window_edge (void **state)
{
    tk_server_t srv;
    const char *old [] = { "--display-refresh-ms", E2E_REFRESH, "--clock-skew-ms", "-605000000", NULL };
    assert_int_equal (tk_server_start (&srv, NULL, old), 0);
    char cust [32];
    s_customer (srv.port, 1000000, cust, sizeof cust);
    assert_int_equal (s_order (srv.port, cust, "[{\"menuId\":\"MENU-00000004\",\"qy\":1}]",
                               NULL, 0), 200);
    assert_int_equal (tk_server_stop (&srv), 0);

    const char *recent [] = { "--display-refresh-ms", E2E_REFRESH, "--clock-skew-ms", "-604000000", NULL };
    assert_int_equal (tk_server_restart (&srv, recent), 0);
    assert_int_equal (s_order (srv.port, cust, "[{\"menuId\":\"MENU-00000005\",\"qy\":1}]",
                               NULL, 0), 200);
    assert_int_equal (tk_server_stop (&srv), 0);

    const char *now [] = { "--display-refresh-ms", E2E_REFRESH, NULL };
    assert_int_equal (tk_server_restart (&srv, now), 0);
    s_best_t want = { 1, { "MENU-00000005" }, { 1 } };
    int rc = tk_http_until (srv.port, "/display/best", s_best_is, &want, 10000);
    if (rc != 0)
        s_print_best (srv.port);
    assert_int_equal (rc, 0);
    //  Both stores agree on the window, and a wider window sees both orders
    assert_int_equal (s_reconcile_until_equal (srv.data_dir, 10000), 0);
    char out [8192];
    const char *wide [] = { "--window-hours", "200", NULL };
    assert_int_equal (s_reconcile (srv.data_dir, wide, out, sizeof out), 0);
    assert_non_null (strstr (out, "MENU-00000004 command=1 display=1 diff=0"));
    assert_non_null (strstr (out, "MENU-00000005 command=1 display=1 diff=0"));
    assert_int_equal (tk_server_stop (&srv), 0);
}

#define CONC_THREADS  10            //  client threads
#define CONC_ORDERS   50            //  orders per thread

//  One client thread of the concurrent test.
typedef struct {
    int port;                       //  server port
    int thread;                     //  index
    char customer [32];             //  its own customer
    long status [CONC_ORDERS];      //  answers
} s_client_t;

//  The menus of order i (global index): a fixed pattern so the expected
//  counts can be computed; quantities vary and must not matter.
static void
s_pattern (int i, char *menu_list, size_t len, bool has [E2E_MENUS])
{
    int divisors [4] = { 2, 3, 4, 5 };
    size_t used = (size_t) snprintf (menu_list, len, "[");
    bool any = false;
    for (int m = 0; m < E2E_MENUS; m++) {
        has [m] = m < 4 ? i % divisors [m] == 0 : !any;
        if (has [m]) {
            used += (size_t) snprintf (menu_list + used, len - used,
                                       "%s{\"menuId\":\"MENU-%08d\",\"qy\":%d}", any ? "," : "",
                                       m + 1, 1 + i % 3);
            any = true;
        }
    }
    snprintf (menu_list + used, len - used, "]");
}

//  Places CONC_ORDERS orders.
static void *
s_client (void *arg)
{
    s_client_t *self = (s_client_t *) arg;
    for (int k = 0; k < CONC_ORDERS; k++) {
        char menu_list [512];
        bool has [E2E_MENUS];
        s_pattern (self->thread * CONC_ORDERS + k, menu_list, sizeof menu_list, has);
        self->status [k] = s_order (self->port, self->customer, menu_list, NULL, 0);
    }
    return NULL;
}

//  500 orders from 10 threads at once: /display/best is exactly the top 3.
static void
test_top3_after_concurrent_orders (void **state)
{
    tk_server_t srv;
    const char *extra [] = { "--display-refresh-ms", E2E_REFRESH, NULL };
    assert_int_equal (tk_server_start (&srv, NULL, extra), 0);
    s_client_t clients [CONC_THREADS];
    pthread_t threads [CONC_THREADS];
    for (int t = 0; t < CONC_THREADS; t++) {
        clients [t].port = srv.port;
        clients [t].thread = t;
        s_customer (srv.port, 10000000, clients [t].customer, sizeof clients [t].customer);
    }
    for (int t = 0; t < CONC_THREADS; t++)
        assert_int_equal (pthread_create (&threads [t], NULL, s_client, &clients [t]), 0);
    for (int t = 0; t < CONC_THREADS; t++)
        pthread_join (threads [t], NULL);

    int64_t counts [E2E_MENUS] = { 0 };
    for (int t = 0; t < CONC_THREADS; t++)
        for (int k = 0; k < CONC_ORDERS; k++) {
            assert_int_equal (clients [t].status [k], 200);
            char menu_list [512];
            bool has [E2E_MENUS];
            s_pattern (t * CONC_ORDERS + k, menu_list, sizeof menu_list, has);
            for (int m = 0; m < E2E_MENUS; m++)
                counts [m] += has [m];
        }
    //  Top 3 by count, ties by menu id
    s_best_t want = { .count = 3 };
    bool taken [E2E_MENUS] = { false };
    for (int r = 0; r < 3; r++) {
        int best = -1;
        for (int m = 0; m < E2E_MENUS; m++)
            if (!taken [m] && (best < 0 || counts [m] > counts [best]))
                best = m;
        taken [best] = true;
        snprintf (want.menu_id [r], sizeof want.menu_id [r], "MENU-%08d", best + 1);
        want.order_cnt [r] = counts [best];
    }
    int rc = tk_http_until (srv.port, "/display/best", s_best_is, &want, 30000);
    if (rc != 0) {
        s_print_best (srv.port);
        fprintf (stderr, "expected %s=%" PRId64 " %s=%" PRId64 " %s=%" PRId64 "\n",
                 want.menu_id [0], want.order_cnt [0], want.menu_id [1], want.order_cnt [1],
                 want.menu_id [2], want.order_cnt [2]);
    }
    assert_int_equal (rc, 0);
    assert_int_equal (s_reconcile_until_equal (srv.data_dir, 10000), 0);
    assert_int_equal (tk_server_stop (&srv), 0);
}

#define KILL_THREADS  6             //  client threads during the kill test
#define KILL_MAX      400           //  most orders a thread tries

//  One client thread of the kill -9 test.
typedef struct {
    int port;                       //  server port
    char customer [32];             //  its own customer
    atomic_bool *stop;              //  set when the server was killed
    int acked;                      //  orders answered 200
    char order_no [KILL_MAX][32];   //  their numbers
} s_loader_t;

//  Places orders until stopped, recording every acknowledged one.
static void *
s_loader (void *arg)
{
    s_loader_t *self = (s_loader_t *) arg;
    for (int k = 0; k < KILL_MAX && !atomic_load (self->stop); k++) {
        char no [32] = "";
        const char *menus = k % 2 ? "[{\"menuId\":\"MENU-00000001\",\"qy\":1}]"
                                  : "[{\"menuId\":\"MENU-00000002\",\"qy\":2},"
                                    "{\"menuId\":\"MENU-00000003\",\"qy\":1}]";
        if (s_order (self->port, self->customer, menus, no, sizeof no) == 200 && *no)
            snprintf (self->order_no [self->acked++], 32, "%s", no);
    }
    return NULL;
}

//  kill -9 in the middle of a load: after a restart every acknowledged
//  order exists, and the display store catches up (reconcile exits 0).
static void
test_kill9_during_load (void **state)
{
    tk_server_t srv;
    const char *extra [] = { "--display-refresh-ms", E2E_REFRESH, NULL };
    assert_int_equal (tk_server_start (&srv, NULL, extra), 0);
    atomic_bool stop = false;
    s_loader_t *loaders = (s_loader_t *) calloc (KILL_THREADS, sizeof (s_loader_t));
    pthread_t threads [KILL_THREADS];
    for (int t = 0; t < KILL_THREADS; t++) {
        loaders [t].port = srv.port;
        loaders [t].stop = &stop;
        s_customer (srv.port, 100000000, loaders [t].customer, sizeof loaders [t].customer);
    }
    for (int t = 0; t < KILL_THREADS; t++)
        assert_int_equal (pthread_create (&threads [t], NULL, s_loader, &loaders [t]), 0);
    zclock_sleep (1500);
    tk_server_kill9 (&srv);
    atomic_store (&stop, true);
    for (int t = 0; t < KILL_THREADS; t++)
        pthread_join (threads [t], NULL);

    assert_int_equal (tk_server_restart (&srv, extra), 0);
    int acked = 0;
    for (int t = 0; t < KILL_THREADS; t++)
        for (int k = 0; k < loaders [t].acked; k++) {
            char path [64];
            snprintf (path, sizeof path, "/order/%s", loaders [t].order_no [k]);
            tk_resp_t resp = { 0 };
            tk_http ("GET", srv.port, path, NULL, NULL, &resp);
            if (resp.status != 200)
                fprintf (stderr, "acknowledged %s lost: %ld\n", loaders [t].order_no [k], resp.status);
            assert_int_equal (resp.status, 200);
            tk_resp_reset (&resp);
            acked++;
        }
    fprintf (stderr, "kill -9: %d acknowledged orders all found after the restart\n", acked);
    assert_true (acked > 0);
    assert_int_equal (s_reconcile_until_equal (srv.data_dir, 20000), 0);
    assert_int_equal (tk_server_stop (&srv), 0);
    free (loaders);
}

//  True when the mock's GET /orders count is at least *(int *) arg.
static bool
s_mock_has (const tk_resp_t *resp, void *arg)
{
    const cJSON *count = cJSON_GetObjectItem (resp->json, "count");
    return resp->status == 200 && cJSON_IsNumber (count) && count->valueint >= *(int *) arg;
}

//  True when the mock answers.
static bool
s_answers (const tk_resp_t *resp, void *arg)
{
    return resp->status == 200;
}

//  The collector is down: orders stay fast; once it is back every order
//  arrives, once, in order time.
static void
test_collector_down (void **state)
{
    int mock_port = tk_free_port ();
    char port_text [16];
    snprintf (port_text, sizeof port_text, "%d", mock_port);
    char *dir = tk_tempdir ("e2e-mock");
    char log_path [600];
    snprintf (log_path, sizeof log_path, "%s/mock.log", dir);
    const char *mock_argv [] = { COFFEE_BIN, "mock-collector", "--port", port_text,
                                 "--fail-rate", "1", NULL };
    pid_t mock = tk_spawn (mock_argv, log_path);
    assert_true (mock > 0);
    assert_int_equal (tk_http_until (mock_port, "/orders", s_answers, NULL, 10000), 0);

    char url [128];
    snprintf (url, sizeof url, "http://127.0.0.1:%d/collect", mock_port);
    tk_server_t srv;
    const char *extra [] = { "--display-refresh-ms", E2E_REFRESH, "--collector-url", url,
                             "--collector-backoff-max-ms", "500", NULL };
    assert_int_equal (tk_server_start (&srv, NULL, extra), 0);
    char cust [32];
    s_customer (srv.port, 1000000, cust, sizeof cust);
    char order_no [20][32];
    int64_t slowest = 0;
    for (int i = 0; i < 20; i++) {
        int64_t start = tk_now_ms ();
        assert_int_equal (s_order (srv.port, cust, "[{\"menuId\":\"MENU-00000001\",\"qy\":1}]",
                                   order_no [i], sizeof order_no [i]), 200);
        int64_t took = tk_now_ms () - start;
        if (took > slowest)
            slowest = took;
    }
    assert_true (slowest < 1000);
    zclock_sleep (1000);
    tk_resp_t resp = { 0 };
    tk_http ("GET", mock_port, "/orders", NULL, NULL, &resp);
    assert_int_equal (cJSON_GetObjectItem (resp.json, "count")->valueint, 0);
    tk_resp_reset (&resp);

    //  Back up
    assert_int_equal (s_post (mock_port, "/control", "{\"failRate\":0}", &resp), 200);
    tk_resp_reset (&resp);
    int want = 20;
    assert_int_equal (tk_http_until (mock_port, "/orders", s_mock_has, &want, 20000), 0);
    tk_http ("GET", mock_port, "/orders", NULL, NULL, &resp);
    const cJSON *orders = cJSON_GetObjectItem (resp.json, "orders");
    assert_int_equal (cJSON_GetArraySize (orders), 20);
    int64_t last = 0;
    for (int i = 0; i < 20; i++) {
        const cJSON *order = cJSON_GetArrayItem (orders, i);
        assert_string_equal (cJSON_GetObjectItem (order, "orderNo")->valuestring, order_no [i]);
        int64_t at = 0;
        assert_int_equal (util_parse_iso8601 (cJSON_GetObjectItem (order, "orderedAt")->valuestring,
                                              &at), 0);
        assert_true (at >= last);
        last = at;
    }
    tk_resp_reset (&resp);
    assert_int_equal (tk_server_stop (&srv), 0);
    kill (mock, SIGTERM);
    assert_int_equal (tk_wait (mock, 10000), 0);
    free (dir);
}

//  A display row deleted behind the projection's back: reconcile reports
//  the drift (exit 1), --repair fixes it (exit 0), and it stays fixed.
static void
test_reconcile_drift_and_repair (void **state)
{
    tk_server_t srv;
    const char *extra [] = { "--display-refresh-ms", E2E_REFRESH, NULL };
    assert_int_equal (tk_server_start (&srv, NULL, extra), 0);
    char cust [32];
    s_customer (srv.port, 1000000, cust, sizeof cust);
    char victim [32];
    assert_int_equal (s_order (srv.port, cust, "[{\"menuId\":\"MENU-00000002\",\"qy\":1}]",
                               victim, sizeof victim), 200);
    assert_int_equal (s_order (srv.port, cust, "[{\"menuId\":\"MENU-00000002\",\"qy\":1}]",
                               NULL, 0), 200);
    assert_int_equal (s_reconcile_until_equal (srv.data_dir, 10000), 0);
    assert_int_equal (tk_server_stop (&srv), 0);

    char db [700], sql [200];
    snprintf (db, sizeof db, "%s/display.db", srv.data_dir);
    snprintf (sql, sizeof sql, "DELETE FROM ordered_menu WHERE order_no = '%s';", victim);
    const char *argv [] = { "/usr/bin/sqlite3", db, sql, NULL };
    pid_t pid = tk_spawn (argv, NULL);
    assert_true (pid > 0);
    assert_int_equal (tk_wait (pid, 10000), 0);

    char out [8192];
    assert_int_equal (s_reconcile (srv.data_dir, NULL, out, sizeof out), 1);
    assert_non_null (strstr (out, "MENU-00000002 command=2 display=1 diff=-1"));
    const char *repair [] = { "--repair", NULL };
    assert_int_equal (s_reconcile (srv.data_dir, repair, out, sizeof out), 0);
    assert_non_null (strstr (out, "MENU-00000002 command=2 display=2 diff=0"));
    assert_int_equal (s_reconcile (srv.data_dir, NULL, out, sizeof out), 0);

    //  The served top list follows the repaired store
    assert_int_equal (tk_server_restart (&srv, extra), 0);
    s_best_t want = { 1, { "MENU-00000002" }, { 2 } };
    int rc = tk_http_until (srv.port, "/display/best", s_best_is, &want, 10000);
    if (rc != 0)
        s_print_best (srv.port);
    assert_int_equal (rc, 0);
    assert_int_equal (tk_server_stop (&srv), 0);

    //  Bad arguments: exit 2, nothing touched
    const char *bad [] = { "--window-hours", "0", NULL };
    assert_int_equal (s_reconcile (srv.data_dir, bad, out, sizeof out), 2);
    const char *bad2 [] = { "--no-such-flag", NULL };
    assert_int_equal (s_reconcile (srv.data_dir, bad2, out, sizeof out), 2);
}

int
main (void)
{
    curl_global_init (CURL_GLOBAL_ALL);
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_counted_by_orders),
        cmocka_unit_test (test_window_edge),
        cmocka_unit_test (test_top3_after_concurrent_orders),
        cmocka_unit_test (test_kill9_during_load),
        cmocka_unit_test (test_collector_down),
        cmocka_unit_test (test_reconcile_drift_and_repair),
    };
    int rc = cmocka_run_group_tests (tests, NULL, NULL);
    curl_global_cleanup ();
    return rc;
}
