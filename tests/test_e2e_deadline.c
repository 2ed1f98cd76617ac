/*  test_e2e_deadline — a 503 tells the truth, end to end. The real server
    runs with --request-timeout-ms 300 while another connection stalls the
    command store for about 2 s, and many client threads stream orders
    through it over HTTP on loopback during and after the stall. Then, from
    the answers alone:
        the USE history rows of the customers are exactly the orders
        answered 200 (same count, same order numbers), and
        every other answer is a 503 (TIMEOUT, or UNAVAILABLE) whose request
        left no row.
    So a request answered 503 TIMEOUT did not run and will not, and one that
    ran is answered with its real outcome.

    The server runs 4 order actors with --lane-requests 4: one lane while
    the store answers, more as orders pile up during the stall (the test
    sees coffee_actor_lanes above 1 on /metrics), fewer again after it. So
    the 4 customers' orders move between actors mid-stream, and the count
    above holds with them.

    SQLite: the sqlite3 shell holds BEGIN IMMEDIATE on command.db.
    MariaDB (when COFFEE_TEST_STORE_URL is a mysql:// URL, as
    scripts/test.sh sets it): the mariadb client holds the customers' point
    rows with SELECT … FOR UPDATE in an open transaction; the server's lock
    waits are cut by max_statement_time at the request's deadline.

    ctest bound: COFFEE_TEST_TIMEOUT 300 s. */

#include "testkit.h"
#include <cmocka.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

//  The request timeout of the server under test.
#define DL_TIMEOUT_MS       "300"
//  How long the other connection holds its lock, in seconds.
#define DL_STALL_S          "2"
//  Client threads streaming orders.
#define DL_THREADS          16
//  Orders each thread sends at most (the stream also ends on time).
#define DL_ORDERS           40
//  How long the threads keep sending after the stall began.
#define DL_STREAM_MS        3000
//  Customers the orders are spread over.
#define DL_CUSTOMERS        4
//  Points each customer starts with: enough for every order.
#define DL_INITIAL          10000000

//  One streaming thread and what it got.
typedef struct {
    int port;                               //  server port
    char (*customers) [32];                 //  the customers it orders for
    char message [DL_ORDERS][96];           //  error message, or ""
    int index;                              //  its number, picks customers
    int64_t until_ms;                       //  tk_now_ms when it stops
    int count;                              //  orders sent
    long status [DL_ORDERS];                //  HTTP status of each
    char code [DL_ORDERS][32];              //  error code, or ""
    char order_no [DL_ORDERS][32];          //  orderNo of a 200, or ""
} dl_thread_t;


//  Copies member name of json when it is a string.
static void
s_copy_str (const cJSON *json, const char *name, char *buf, size_t len)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive (json, name);
    snprintf (buf, len, "%s", cJSON_IsString (item) ? item->valuestring : "");
}


//  Thread body: one order at a time until time or DL_ORDERS is up;
//  records, never asserts.
static void *
s_stream (void *arg)
{
    dl_thread_t *self = (dl_thread_t *) arg;
    const char *const headers [] = { "Content-Type: application/json", NULL };
    while (self->count < DL_ORDERS && tk_now_ms () < self->until_ms) {
        int i = self->count++;
        char body [256];
        snprintf (body, sizeof body, "{\"customerId\":\"%s\",\"menuList\":"
                  "[{\"menuId\":\"MENU-0000000%d\",\"qy\":1}]}",
                  self->customers [(self->index + i) % DL_CUSTOMERS], 1 + i % 5);
        tk_resp_t resp;
        tk_http ("POST", self->port, "/order", body, headers, &resp);
        self->status [i] = resp.status;
        s_copy_str (resp.json, "code", self->code [i], sizeof self->code [i]);
        s_copy_str (resp.json, "message", self->message [i], sizeof self->message [i]);
        if (resp.status == 200)
            s_copy_str (resp.json, "orderNo", self->order_no [i], sizeof self->order_no [i]);
        tk_resp_reset (&resp);
    }
    return NULL;
}


//  Creates a customer with DL_INITIAL points; its id goes to id. A 503
//  (the short request timeout on a slow build) is retried: a customer
//  made by a lost answer is only unused, and the charge carries a key.
static void
s_customer (int port, const char *name, char *id, size_t len)
{
    const char *const headers [] = { "Content-Type: application/json", NULL };
    char body [128];
    snprintf (body, sizeof body, "{\"customerNm\":\"%s\"}", name);
    tk_resp_t resp = { 0 };
    for (int attempt = 0; attempt < 20; attempt++) {
        tk_resp_reset (&resp);
        assert_int_equal (tk_http ("POST", port, "/customer", body, headers, &resp), 0);
        if (resp.status != 503)
            break;
    }
    assert_int_equal (resp.status, 200);
    s_copy_str (resp.json, "customerId", id, len);
    tk_resp_reset (&resp);
    char key [96];
    snprintf (key, sizeof key, "Idempotency-Key: setup-%s", id);
    const char *const keyed [] = { "Content-Type: application/json", key, NULL };
    snprintf (body, sizeof body, "{\"customerId\":\"%s\",\"chargeAmt\":%d}", id, DL_INITIAL);
    for (int attempt = 0; attempt < 20; attempt++) {
        tk_resp_reset (&resp);
        assert_int_equal (tk_http ("POST", port, "/point", body, keyed, &resp), 0);
        if (resp.status != 503)
            break;
    }
    assert_int_equal (resp.status, 200);
    tk_resp_reset (&resp);
}


//  Adds the order numbers of a customer's USE history rows to uses (each
//  remark is "주문 ORD-…"); returns how many there were.
static int
s_uses (int port, const char *customer, char (*uses) [32], int at, int cap)
{
    char path [96];
    snprintf (path, sizeof path, "/point/%s?limit=1000", customer);
    tk_resp_t resp;
    assert_int_equal (tk_http ("GET", port, path, NULL, NULL, &resp), 0);
    assert_int_equal (resp.status, 200);
    const cJSON *detail = cJSON_GetObjectItemCaseSensitive (cJSON_GetArrayItem (resp.json, 0),
                                                            "pointDetail");
    assert_true (cJSON_IsArray (detail));
    int n = 0;
    const cJSON *row;
    cJSON_ArrayForEach (row, detail) {
        char code [16], remark [64];
        s_copy_str (row, "pointTypeCode", code, sizeof code);
        if (!(strcmp (code, "USE") == 0))
            continue;
        s_copy_str (row, "remark", remark, sizeof remark);
        const char *no = strstr (remark, "ORD-");
        assert_non_null (no);
        assert_true (at + n < cap);
        snprintf (uses [at + n], 32, "%s", no);
        n++;
    }
    tk_resp_reset (&resp);
    return n;
}


//  Sorts order numbers (qsort).
static int
s_cmp (const void *a, const void *b)
{
    return strcmp ((const char *) a, (const char *) b);
}


//  True once the holder printed "locked" into its log.
static bool
s_holder_locked (const char *log_path)
{
    FILE *file = fopen (log_path, "r");
    if (!file)
        return false;
    char line [256];
    bool locked = false;
    while (!locked && fgets (line, sizeof line, file))
        locked = strstr (line, "locked") != NULL;
    fclose (file);
    return locked;
}


//  The lanes /metrics shows open for the order pool, or -1.
static int
s_order_lanes (int port)
{
    int64_t lanes;
    return tk_metric (port, "coffee_actor_lanes{pool=\"order\"}", &lanes) == 200
         ? (int) lanes : -1;
}


//  Streams orders from DL_THREADS threads while holder (argv) holds its
//  lock, then checks the answers against the USE rows (see the top).
static void
s_stall_and_count (int port, const char *data_dir, char (*customers) [32],
                   const char *const *holder, const char *holder_log)
{
    assert_int_equal (s_order_lanes (port), 1);         //  idle: one lane
    unlink (holder_log);
    pid_t pid = tk_spawn (holder, strstr (holder_log, ".said") ? NULL : holder_log);
    assert_true (pid > 0);
    int64_t give_up = tk_now_ms () + 20000;
    while (!s_holder_locked (holder_log) && tk_now_ms () < give_up)
        usleep (10 * 1000);
    assert_true (s_holder_locked (holder_log));
    int64_t stall_start = tk_now_ms ();

    static dl_thread_t threads [DL_THREADS];
    pthread_t ids [DL_THREADS];
    for (int i = 0; i < DL_THREADS; i++) {
        memset (&threads [i], 0, sizeof threads [i]);
        threads [i] = (dl_thread_t) { .port = port, .customers = customers, .index = i,
                                      .until_ms = stall_start + DL_STREAM_MS };
        assert_int_equal (pthread_create (&ids [i], NULL, s_stream, &threads [i]), 0);
    }
    //  The orders pile up at the order pool: more lanes open
    int most_lanes = 0;
    while (tk_now_ms () < stall_start + DL_STREAM_MS && most_lanes < 2) {
        int lanes = s_order_lanes (port);
        most_lanes = lanes > most_lanes ? lanes : most_lanes;
        usleep (20 * 1000);
    }
    print_message ("order lanes during the stall: up to %d (or more)\n", most_lanes);
    assert_true (most_lanes >= 2);
    for (int i = 0; i < DL_THREADS; i++)
        pthread_join (ids [i], NULL);
    assert_int_equal (tk_wait (pid, 20000), 0);
    assert_int_equal (s_order_lanes (port), 1);         //  nothing waits: one lane again

    //  The answers
    static char answered [DL_THREADS * DL_ORDERS][32];
    int ok = 0, timeouts = 0, unavailable = 0, sent = 0;
    for (int t = 0; t < DL_THREADS; t++)
        for (int i = 0; i < threads [t].count; i++) {
            sent++;
            long status = threads [t].status [i];
            const char *code = threads [t].code [i];
            if (status == 200) {
                snprintf (answered [ok++], 32, "%s", threads [t].order_no [i]);
                continue;
            }
            if (status != 503 || !((strcmp (code, "TIMEOUT") == 0) || (strcmp (code, "UNAVAILABLE") == 0)))
                fprintf (stderr, "thread %d order %d: %ld %s\n", t, i, status, code);
            assert_int_equal (status, 503);
            assert_true ((strcmp (code, "TIMEOUT") == 0) || (strcmp (code, "UNAVAILABLE") == 0));
            print_message ("503 %s: %s\n", code, threads [t].message [i]);
            if ((strcmp (code, "TIMEOUT") == 0))
                timeouts++;
            else
                unavailable++;
        }
    //  The rows
    static char uses [DL_THREADS * DL_ORDERS + 8][32];
    int rows = 0;
    for (int c = 0; c < DL_CUSTOMERS; c++)
        rows += s_uses (port, customers [c], uses, rows, DL_THREADS * DL_ORDERS + 8);
    print_message ("%d orders: %d x 200, %d x 503 TIMEOUT, %d x 503 UNAVAILABLE;"
                   " %d USE rows\n", sent, ok, timeouts, unavailable, rows);
    qsort (answered, (size_t) ok, 32, s_cmp);
    qsort (uses, (size_t) rows, 32, s_cmp);
    for (int i = 0, j = 0; i < rows; i++) {
        if (j < ok && strcmp (uses [i], answered [j]) == 0)
            j++;
        else
            print_message ("charged but not answered 200: %s (server log under %s)\n",
                           uses [i], data_dir);
    }
    assert_int_equal (rows, ok);
    qsort (answered, (size_t) ok, 32, s_cmp);
    qsort (uses, (size_t) rows, 32, s_cmp);
    for (int i = 0; i < ok; i++)
        assert_string_equal (answered [i], uses [i]);
    //  The stall really stalled, and the server came back from it.
    assert_true (timeouts > 0);
    assert_true (ok > 0);
}


//  SQLite: the sqlite3 shell holds BEGIN IMMEDIATE on command.db.
static void
test_sqlite_stall (void **state)
{
    if (access ("/usr/bin/sqlite3", X_OK) != 0)
        skip ();
    static tk_server_t server;      //  outlives an assert's jump out of the test
    memset (&server, 0, sizeof server);
    *state = &server;               //  teardown stops it if an assert ends the test
    const char *extra [] = { "--request-timeout-ms", DL_TIMEOUT_MS, "--order-actors", "4",
                             "--lane-requests", "4", "--metrics-public", "on", NULL };
    assert_int_equal (tk_server_start (&server, NULL, extra), 0);
    static char customers [DL_CUSTOMERS][32];
    for (int c = 0; c < DL_CUSTOMERS; c++)
        s_customer (server.port, "stall", customers [c], sizeof customers [c]);

    char db_path [700], log_path [700];
    snprintf (db_path, sizeof db_path, "%s/command.db", server.data_dir);
    snprintf (log_path, sizeof log_path, "%s/holder.log", server.data_dir);
    //  The shell's stdout to a file is buffered: it says "locked" through
    //  a shell command instead.
    char say [800];
    snprintf (say, sizeof say, ".shell echo locked > %s", log_path);
    const char *holder [] = { "/usr/bin/sqlite3", db_path, ".timeout 10000", "BEGIN IMMEDIATE;",
                              say, ".shell sleep " DL_STALL_S, "COMMIT;", NULL };
    s_stall_and_count (server.port, server.data_dir, customers, holder, log_path);
    assert_int_equal (tk_server_stop (&server), 0);
    *state = NULL;
}


//  Reads user, password, host, port and database from a mysql:// URL.
static int
s_parse_mysql (const char *url, char *user, char *password, char *host, char *port, char *db)
{
    return sscanf (url, "mysql://%63[^:]:%127[^@]@%63[^:]:%15[^/]/%63s", user, password, host,
                   port, db) == 5 ? 0 : -1;
}


//  MariaDB: the mariadb client holds the customers' point rows FOR UPDATE.
static void
test_mariadb_stall (void **state)
{
    const char *url = getenv ("COFFEE_TEST_STORE_URL");
    const char *display = getenv ("COFFEE_TEST_DISPLAY_STORE_URL");
    const char *client = access ("/usr/bin/mariadb", X_OK) == 0 ? "/usr/bin/mariadb"
                       : access ("/usr/bin/mysql", X_OK) == 0 ? "/usr/bin/mysql" : NULL;
    if (!url || strncmp (url, "mysql://", 8) != 0 || !display || !client) {
        print_message ("COFFEE_TEST_STORE_URL (mysql://…) or the mariadb client missing:"
                       " skipped\n");
        skip ();
    }
    char user [64], password [128], host [64], port [16], db [64];
    assert_int_equal (s_parse_mysql (url, user, password, host, port, db), 0);
    static tk_server_t server;      //  outlives an assert's jump out of the test
    memset (&server, 0, sizeof server);
    *state = &server;               //  teardown stops it if an assert ends the test
    const char *extra [] = { "--request-timeout-ms", DL_TIMEOUT_MS, "--order-actors", "4",
                             "--lane-requests", "4", "--metrics-public", "on",
                             "--store", url, "--display-store", display, NULL };
    assert_int_equal (tk_server_start (&server, NULL, extra), 0);
    static char customers [DL_CUSTOMERS][32];
    for (int c = 0; c < DL_CUSTOMERS; c++)
        s_customer (server.port, "stall", customers [c], sizeof customers [c]);

    char sql [1024], user_arg [96], log_path [700];
    snprintf (sql, sizeof sql, "BEGIN; SELECT balance FROM point WHERE customer_id IN"
              " ('%s','%s','%s','%s') FOR UPDATE; SELECT 'locked'; DO SLEEP(" DL_STALL_S ");"
              " COMMIT;", customers [0], customers [1], customers [2], customers [3]);
    snprintf (user_arg, sizeof user_arg, "--user=%s", user);
    snprintf (log_path, sizeof log_path, "%s/holder.log", server.data_dir);
    setenv ("MYSQL_PWD", password, 1);
    const char *holder [] = { client, "--protocol=TCP", "-h", host, "-P", port, user_arg,
                              "-N", "-B", "--unbuffered", db, "-e", sql, NULL };
    s_stall_and_count (server.port, server.data_dir, customers, holder, log_path);
    unsetenv ("MYSQL_PWD");
    assert_int_equal (tk_server_stop (&server), 0);
    *state = NULL;
}


//  Starts each test with no server.
static int
s_setup (void **state)
{
    *state = NULL;
    return 0;
}


//  Stops the server of a test that an assert ended early (a server left
//  running would keep publishing from a shared store).
static int
s_teardown (void **state)
{
    tk_server_t *server = (tk_server_t *) *state;
    if (server && server->pid > 0)
        tk_server_stop (server);
    return 0;
}


int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test_setup_teardown (test_sqlite_stall, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_mariadb_stall, s_setup, s_teardown),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
