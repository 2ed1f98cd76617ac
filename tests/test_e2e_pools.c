/*  End to end: actor pools resized while serving (PUT /admin/pools/{pool}).

    The real binary on loopback with an admin token file. Under a steady
    load of charges, orders and reads from several threads, the order pool
    goes 2 → 6 → 1 → 4 and the display pool 2 → 1 → 3. Every answer must
    be what it would have been without the resize: no 5xx, no dropped
    connection, every balance equal to what the clients' 200s add up to and
    to the sum of its history, every 200 order found. /metrics shows each
    new size. Back at the starting sizes, no store connection is leaked:
    the open -wal files, one per SQLite connection, are as many as before,
    and a second cycle leaves no more descriptors than the first (SQLite
    keeps a closed connection's database descriptor for reuse while other
    connections of the process hold locks). The admin token is checked
    too: 401 with WWW-Authenticate without it or with a wrong one, 400
    naming the field for a bad count, 404 for an unknown pool, none of
    them changing anything. The bridge's threads and the pruner run nicer
    than the HTTP threads and actors.

    ctest bound: COFFEE_TEST_TIMEOUT 300 s. */
#include "testkit.h"
#include "util.h"
#include <cmocka.h>
#include <curl/curl.h>
#include <dirent.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define POOLS_THREADS      4        //  load threads
#define POOLS_CUSTOMERS    2        //  customers per thread
#define POOLS_CHARGE       1000000  //  first charge: orders never run short
#define POOLS_STEP_MS      700      //  load between two resizes
#define POOLS_FD_WAIT_MS   10000    //  longest wait for descriptors to settle
#define POOLS_LOOPS_MAX    100000   //  bound on one thread's iterations
#define POOLS_TOKEN        "pools-test-admin-token-0123456789abcdef"

//  The server and what the test found.
typedef struct {
    tk_server_t server;             //  coffee serve
    char *dir;                      //  temp dir: token file, data dir
    char token_file [600];          //  --admin-token-file
} pools_fixture_t;

//  One load thread: its customers and what the server told it.
typedef struct {
    int port;                       //  server
    int index;                      //  thread number
    atomic_bool *stop;              //  set when the resizes are done
    char customers [POOLS_CUSTOMERS][32];   //  its customers
    int64_t expected [POOLS_CUSTOMERS];     //  Σ charged − Σ used, from 200s
    char (*orders) [32];            //  orderNo of every 200 order (malloc'd)
    int order_count;                //  entries in orders
    int requests;                   //  requests sent
    int failures;                   //  5xx, transport failures, unexpected statuses
    char failure [256];             //  the first failure
} pools_load_t;

//  Writes the token file and starts the server with 2 actors per pool.
static int
s_setup (void **state)
{
    curl_global_init (CURL_GLOBAL_DEFAULT);
    pools_fixture_t *self = calloc (1, sizeof *self);
    assert_non_null (self);
    self->dir = tk_tempdir ("coffee-pools");
    assert_non_null (self->dir);
    snprintf (self->token_file, sizeof self->token_file, "%s/admin.token", self->dir);
    FILE *file = fopen (self->token_file, "w");
    assert_non_null (file);
    fprintf (file, "%s\n", POOLS_TOKEN);
    fclose (file);
    char data_dir [600];
    snprintf (data_dir, sizeof data_dir, "%s/data", self->dir);
    assert_int_equal (mkdir (data_dir, 0700), 0);
    const char *extra [] = {
        "--admin-token-file", self->token_file, "--point-actors", "2", "--order-actors", "2",
        "--display-actors", "2", "--http-threads", "2", "--log-level", "warn", NULL
    };
    assert_int_equal (tk_server_start (&self->server, data_dir, extra), 0);
    *state = self;
    return 0;
}

//  Stops the server if a test left it running.
static int
s_teardown (void **state)
{
    pools_fixture_t *self = (pools_fixture_t *) *state;
    if (self->server.pid)
        tk_server_stop (&self->server);
    free (self->dir);
    free (self);
    curl_global_cleanup ();
    return 0;
}

//  PUT /admin/pools/<pool> with body and an Authorization header (NULL:
//  none). Fills resp.
static void
s_put (int port, const char *pool, const char *body, const char *auth, tk_resp_t *resp)
{
    char path [64];
    snprintf (path, sizeof path, "/admin/pools/%s", pool);
    const char *headers [] = { "Content-Type: application/json", auth? auth: "Authorization:",
                               NULL };
    assert_int_equal (tk_http ("PUT", port, path, body, headers, resp), 0);
}

//  The value of coffee_actor_pool_size{pool="<pool>"} in /metrics, -1 if absent.
static int
s_pool_size (int port, const char *pool)
{
    char sample [96];
    snprintf (sample, sizeof sample, "coffee_actor_pool_size{pool=\"%s\"}", pool);
    int64_t size;
    assert_int_equal (tk_metric (port, sample, &size), 200);
    return (int) size;
}

//  Resizes with the admin token and checks the answer and /metrics.
static void
s_resize (int port, const char *pool, int actors)
{
    char body [64];
    snprintf (body, sizeof body, "{\"actors\":%d}", actors);
    tk_resp_t resp;
    s_put (port, pool, body, "Authorization: Bearer " POOLS_TOKEN, &resp);
    if (resp.status != 200)
        fail_msg ("resize %s to %d: %ld %s", pool, actors, resp.status, resp.body);
    assert_string_equal (cJSON_GetObjectItemCaseSensitive (resp.json, "pool")->valuestring, pool);
    assert_int_equal (cJSON_GetObjectItemCaseSensitive (resp.json, "actors")->valueint, actors);
    tk_resp_reset (&resp);
    assert_int_equal (s_pool_size (port, pool), actors);
    fprintf (stderr, "pools: %s now %d actors\n", pool, actors);
}

//  Counts the server's open descriptors, and in *store the open -wal
//  files: one per open SQLite connection (the stores' connections), so
//  they count connections. The database file's own descriptors are not
//  counted there: SQLite keeps a closed connection's descriptor open
//  while other connections of the process hold locks on that file
//  (POSIX locks are per process) and hands it to the next connection
//  that opens the file. Prints the store files when print is true.
static int
s_fd_list (pid_t pid, int *store, bool print)
{
    char path [64], link [1024], target [1024];
    snprintf (path, sizeof path, "/proc/%d/fd", (int) pid);
    DIR *dir = opendir (path);
    assert_non_null (dir);
    int count = 0;
    *store = 0;
    struct dirent *entry;
    while ((entry = readdir (dir))) {
        if (entry->d_name [0] == '.')
            continue;
        count++;
        snprintf (link, sizeof link, "%s/%s", path, entry->d_name);
        ssize_t len = readlink (link, target, sizeof target - 1);
        if (len <= 0)
            continue;
        target [len] = '\0';
        if (strstr (target, ".db-wal"))
            (*store)++;
        if (strstr (target, ".db")) {
            if (print)
                fprintf (stderr, "pools:   fd %s -> %s\n", entry->d_name, target);
        }
    }
    closedir (dir);
    return count;
}

//  s_fd_list without printing.
static int
s_fd_count (pid_t pid, int *store)
{
    return s_fd_list (pid, store, false);
}

//  Waits (bounded) until the store connections are back to store_base
//  and the count stops falling; returns the descriptors, *store the
//  connections.
static int
s_settle (pid_t pid, int store_base, int *store)
{
    int now = s_fd_count (pid, store), last = -1;
    int64_t deadline = tk_now_ms () + POOLS_FD_WAIT_MS;
    while ((*store != store_base || now != last) && tk_now_ms () < deadline) {
        usleep (200 * 1000);
        last = now;
        now = s_fd_count (pid, store);
    }
    return now;
}

//  Notes a failure of a load thread (the first one is kept).
static void
s_load_fail (pools_load_t *load, const char *what, const tk_resp_t *resp)
{
    if (!load->failures++)
        snprintf (load->failure, sizeof load->failure, "%s: %ld (curl %d) %.120s", what,
                  resp->status, resp->error, resp->body? resp->body: "");
}

//  One load thread: charges, orders and reads for its customers until
//  told to stop, tallying what each 200 did.
static void *
s_load (void *arg)
{
    pools_load_t *load = (pools_load_t *) arg;
    char body [256], path [64];
    const char *json [] = { "Content-Type: application/json", NULL };
    for (int n = 0; n < POOLS_LOOPS_MAX && !atomic_load (load->stop); n++) {
        int c = n % POOLS_CUSTOMERS;
        const char *customer = load->customers [c];
        tk_resp_t resp;
        int64_t amount = 1 + (n % 7);
        snprintf (body, sizeof body, "{\"customerId\":\"%s\",\"chargeAmt\":%" PRId64 "}", customer,
                  amount);
        load->requests++;
        tk_http ("POST", load->port, "/point", body, json, &resp);
        if (resp.status == 200)
            load->expected [c] += amount;
        else
            s_load_fail (load, "POST /point", &resp);
        tk_resp_reset (&resp);

        snprintf (body, sizeof body, "{\"customerId\":\"%s\",\"menuList\":"
                  "[{\"menuId\":\"MENU-0000000%d\",\"qy\":1}]}", customer, 1 + n % 4);
        load->requests++;
        tk_http ("POST", load->port, "/order", body, json, &resp);
        if (resp.status == 200) {
            load->expected [c] -= (int64_t) cJSON_GetObjectItemCaseSensitive (resp.json,
                                                                              "usePoint")->valuedouble;
            snprintf (load->orders [load->order_count++], 32, "%s",
                      cJSON_GetObjectItemCaseSensitive (resp.json, "orderNo")->valuestring);
        }
        else
            s_load_fail (load, "POST /order", &resp);
        tk_resp_reset (&resp);

        snprintf (path, sizeof path, "/point/%s?limit=1000", customer);
        load->requests++;
        tk_http ("GET", load->port, path, NULL, NULL, &resp);
        if (resp.status != 200)
            s_load_fail (load, "GET /point", &resp);
        tk_resp_reset (&resp);

        load->requests++;
        tk_http ("GET", load->port, n % 2? "/display/best": "/display/menu", NULL, NULL, &resp);
        if (resp.status != 200)
            s_load_fail (load, "GET /display", &resp);
        tk_resp_reset (&resp);
    }
    return NULL;
}

//  Signs up a customer and charges it; fills id.
static void
s_customer (int port, char *id, size_t size)
{
    const char *json [] = { "Content-Type: application/json", NULL };
    tk_resp_t resp;
    assert_int_equal (tk_http ("POST", port, "/customer", "{\"customerNm\":\"pools\"}", json,
                               &resp), 0);
    assert_int_equal (resp.status, 200);
    snprintf (id, size, "%s", cJSON_GetObjectItemCaseSensitive (resp.json,
                                                                "customerId")->valuestring);
    tk_resp_reset (&resp);
    char body [128];
    snprintf (body, sizeof body, "{\"customerId\":\"%s\",\"chargeAmt\":%d}", id, POOLS_CHARGE);
    assert_int_equal (tk_http ("POST", port, "/point", body, json, &resp), 0);
    assert_int_equal (resp.status, 200);
    tk_resp_reset (&resp);
}

//  Without the admin token, with a wrong one, with a bad count or an
//  unknown pool: refused as documented, and no pool changed.
static void
test_admin_refusals (void **state)
{
    pools_fixture_t *self = (pools_fixture_t *) *state;
    int port = self->server.port;
    tk_resp_t resp;
    char value [64];
    const char *auths [] = { NULL, "Authorization: Bearer wrong-token-of-the-same-shape-0123",
                             "Authorization: Basic " POOLS_TOKEN, "Authorization: Bearer " };
    for (size_t i = 0; i < sizeof auths / sizeof auths [0]; i++) {
        s_put (port, "order", "{\"actors\":5}", auths [i], &resp);
        assert_int_equal (resp.status, 401);
        assert_true (tk_resp_header (&resp, "WWW-Authenticate", value, sizeof value));
        assert_string_equal (value, "Bearer");
        assert_string_equal (cJSON_GetObjectItemCaseSensitive (resp.json, "code")->valuestring,
                             "UNAUTHORIZED");
        tk_resp_reset (&resp);
    }
    const char *bad [] = {
        "{\"actors\":0}", "{\"actors\":65}", "{\"actors\":1.5}", "{\"actors\":\"3\"}",
        "{\"actors\":-1}", "{}", "{\"actors\":null}",
        //  Read exactly from the text, not through a double (which reads
        //  the first as 2 and the second as infinity).
        "{\"actors\":2.0000000000000001}", "{\"actors\":1e400}", "{\"actors\":02}",
        "{\"actors\":2,\"actors\":3}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad [0]; i++) {
        s_put (port, "order", bad [i], "Authorization: Bearer " POOLS_TOKEN, &resp);
        if (resp.status != 400)
            fail_msg ("%s: %ld %s", bad [i], resp.status, resp.body);
        assert_string_equal (cJSON_GetObjectItemCaseSensitive (resp.json, "field")->valuestring,
                             "actors");
        tk_resp_reset (&resp);
    }
    s_put (port, "order", "{\"actors\":3,\"more\":1}", "Authorization: Bearer " POOLS_TOKEN, &resp);
    assert_int_equal (resp.status, 400);
    tk_resp_reset (&resp);
    s_put (port, "order", "[3]", "Authorization: Bearer " POOLS_TOKEN, &resp);
    assert_int_equal (resp.status, 400);
    tk_resp_reset (&resp);
    s_put (port, "kitchen", "{\"actors\":3}", "Authorization: Bearer " POOLS_TOKEN, &resp);
    assert_int_equal (resp.status, 404);
    tk_resp_reset (&resp);
    assert_int_equal (s_pool_size (port, "order"), 2);
    assert_int_equal (s_pool_size (port, "display"), 2);
    assert_int_equal (s_pool_size (port, "point"), 2);

    //  A display-role instance runs no order or point pool: 404 for those,
    //  its own pool resizes.
    tk_server_t display;
    const char *extra [] = {
        "--role", "display", "--admin-token-file", self->token_file, "--display-actors", "2",
        "--log-level", "warn", NULL
    };
    assert_int_equal (tk_server_start (&display, self->server.data_dir, extra), 0);
    const char *absent [] = { "order", "point" };
    for (size_t i = 0; i < 2; i++) {
        s_put (display.port, absent [i], "{\"actors\":3}", "Authorization: Bearer " POOLS_TOKEN,
               &resp);
        assert_int_equal (resp.status, 404);
        assert_string_equal (cJSON_GetObjectItemCaseSensitive (resp.json, "code")->valuestring,
                             "NOT_FOUND");
        tk_resp_reset (&resp);
        assert_int_equal (s_pool_size (display.port, absent [i]), -1);
    }
    s_resize (display.port, "display", 1);
    assert_int_equal (tk_server_stop (&display), 0);
}

//  The resizes under load, then the balances, the orders and the
//  descriptors.
static void
test_resize_under_load (void **state)
{
    pools_fixture_t *self = (pools_fixture_t *) *state;
    int port = self->server.port;
    pools_load_t loads [POOLS_THREADS];
    memset (loads, 0, sizeof loads);
    atomic_bool stop = false;
    for (int t = 0; t < POOLS_THREADS; t++) {
        loads [t].port = port;
        loads [t].index = t;
        loads [t].stop = &stop;
        loads [t].orders = calloc (POOLS_LOOPS_MAX, 32);
        assert_non_null (loads [t].orders);
        for (int c = 0; c < POOLS_CUSTOMERS; c++) {
            s_customer (port, loads [t].customers [c], sizeof loads [t].customers [c]);
            loads [t].expected [c] = POOLS_CHARGE;
        }
    }
    //  The baseline, once every actor has read its store (SQLite opens the
    //  -wal file at a connection's first read): reads that change nothing,
    //  for ids that spread over every actor.
    for (int i = 0; i < 16; i++) {
        char path [64];
        tk_resp_t resp;
        snprintf (path, sizeof path, "/order/ORD-999999%02d", i);
        assert_int_equal (tk_http ("GET", port, path, NULL, NULL, &resp), 0);
        assert_int_equal (resp.status, 404);
        tk_resp_reset (&resp);
        snprintf (path, sizeof path, "/point/CUST-999999%02d", i);
        assert_int_equal (tk_http ("GET", port, path, NULL, NULL, &resp), 0);
        assert_int_equal (resp.status, 404);
        tk_resp_reset (&resp);
    }
    int base_store = 0;
    int base = s_fd_count (self->server.pid, &base_store);
    fprintf (stderr, "pools: baseline %d descriptors, %d store connections\n", base, base_store);
    assert_true (base_store > 0);

    pthread_t threads [POOLS_THREADS];
    for (int t = 0; t < POOLS_THREADS; t++)
        assert_int_equal (pthread_create (&threads [t], NULL, s_load, &loads [t]), 0);
    struct { const char *pool; int actors; } steps [] = {
        { "order", 6 }, { "display", 1 }, { "order", 1 }, { "display", 3 }, { "order", 4 },
    };
    int peak_store = 0;
    for (size_t s = 0; s < sizeof steps / sizeof steps [0]; s++) {
        usleep (POOLS_STEP_MS * 1000);
        s_resize (port, steps [s].pool, steps [s].actors);
        int store = 0;
        s_fd_count (self->server.pid, &store);
        if (store > peak_store)
            peak_store = store;
    }
    usleep (POOLS_STEP_MS * 1000);
    atomic_store (&stop, true);
    for (int t = 0; t < POOLS_THREADS; t++)
        pthread_join (threads [t], NULL);
    //  More actors held more store connections while they ran.
    assert_true (peak_store > base_store);

    int requests = 0, orders = 0;
    for (int t = 0; t < POOLS_THREADS; t++) {
        requests += loads [t].requests;
        orders += loads [t].order_count;
        if (loads [t].failures)
            fail_msg ("load thread %d: %d failures of %d requests; first: %s", t,
                      loads [t].failures, loads [t].requests, loads [t].failure);
    }
    fprintf (stderr, "pools: %d requests, %d orders, no failure\n", requests, orders);
    assert_true (orders > 20);

    //  Balances: what the 200s add up to, and the history's sum.
    for (int t = 0; t < POOLS_THREADS; t++)
        for (int c = 0; c < POOLS_CUSTOMERS; c++) {
            char path [64];
            snprintf (path, sizeof path, "/point/%s?limit=1000", loads [t].customers [c]);
            tk_resp_t resp;
            assert_int_equal (tk_http ("GET", port, path, NULL, NULL, &resp), 0);
            assert_int_equal (resp.status, 200);
            //  The original design's shape: a one-element array.
            const cJSON *account = cJSON_GetArrayItem (resp.json, 0);
            assert_non_null (account);
            int64_t point = (int64_t) cJSON_GetObjectItemCaseSensitive (account,
                                                                        "point")->valuedouble;
            if (point != loads [t].expected [c])
                fail_msg ("%s: balance %" PRId64 ", the 200s add up to %" PRId64,
                          loads [t].customers [c], point, loads [t].expected [c]);
            const cJSON *rows = cJSON_GetObjectItemCaseSensitive (account, "pointDetail");
            const cJSON *row;
            int64_t sum = 0;
            cJSON_ArrayForEach (row, rows) {
                int64_t amount = (int64_t) cJSON_GetObjectItemCaseSensitive (row,
                                                                             "point")->valuedouble;
                const char *type = cJSON_GetObjectItemCaseSensitive (row,
                                                                     "pointTypeCode")->valuestring;
                sum += (strcmp (type, "USE") == 0 && amount > 0)? -amount: amount;
            }
            if (sum != point)
                fail_msg ("%s: balance %" PRId64 ", history sums to %" PRId64,
                          loads [t].customers [c], point, sum);
            tk_resp_reset (&resp);
        }
    //  Every 200 order is there.
    for (int t = 0; t < POOLS_THREADS; t++) {
        for (int o = 0; o < loads [t].order_count; o++) {
            char path [64];
            snprintf (path, sizeof path, "/order/%s", loads [t].orders [o]);
            tk_resp_t resp;
            assert_int_equal (tk_http ("GET", port, path, NULL, NULL, &resp), 0);
            if (resp.status != 200)
                fail_msg ("%s: %ld %s", path, resp.status, resp.body);
            tk_resp_reset (&resp);
        }
        free (loads [t].orders);
    }

    //  Back to the starting sizes: the descriptors come back to the
    //  baseline (connections of the load close on the client side first).
    s_resize (port, "order", 2);
    s_resize (port, "display", 2);
    int store = 0;
    int first = s_settle (self->server.pid, base_store, &store);
    fprintf (stderr, "pools: %d descriptors, %d store connections after the resizes\n", first,
             store);
    if (store != base_store)
        s_fd_list (self->server.pid, &store, true);
    assert_int_equal (store, base_store);
    //  The same cycle again: nothing more is left open (what SQLite kept
    //  for reuse was reused).
    s_resize (port, "order", 6);
    s_resize (port, "display", 3);
    s_resize (port, "order", 2);
    s_resize (port, "display", 2);
    int second = s_settle (self->server.pid, base_store, &store);
    fprintf (stderr, "pools: %d descriptors, %d store connections after the second cycle "
             "(baseline %d)\n", second, store, base);
    assert_int_equal (store, base_store);
    assert_true (second <= first);
}

//  The nice value of thread tid of pid and its name; -100 when unreadable.
static int
s_thread_nice (pid_t pid, const char *tid, char *name, size_t size)
{
    char path [128], line [1024] = "";
    snprintf (path, sizeof path, "/proc/%d/task/%s/stat", (int) pid, tid);
    FILE *file = fopen (path, "r");
    if (!file)
        return -100;
    bool read = fgets (line, sizeof line, file) != NULL;
    fclose (file);
    char *open = strchr (line, '('), *close = strrchr (line, ')');
    if (!read || !open || !close || close < open)
        return -100;
    snprintf (name, size, "%.*s", (int) (close - open - 1), open + 1);
    //  After the name: state is field 3, nice field 19
    char *field = close + 2;
    for (int i = 3; i < 19 && field; i++) {
        field = strchr (field, ' ');
        if (field)
            field++;
    }
    return field ? atoi (field) : -100;
}

//  The bridge's threads and the pruner run UTIL_BACKGROUND_NICE nicer
//  than the rest, so the request path (HTTP threads, actors) gets the
//  CPUs first; the actors and HTTP threads keep the process's own.
static void
test_thread_priorities (void **state)
{
    pools_fixture_t *self = (pools_fixture_t *) *state;
    pid_t pid = self->server.pid;
    char path [64], name [64], main_tid [24];
    snprintf (main_tid, sizeof main_tid, "%d", (int) pid);
    int base = s_thread_nice (pid, main_tid, name, sizeof name);
    assert_true (base != -100);
    int lowered = base + UTIL_BACKGROUND_NICE > 19 ? 19 : base + UTIL_BACKGROUND_NICE;
    snprintf (path, sizeof path, "/proc/%d/task", (int) pid);
    DIR *dir = opendir (path);
    assert_non_null (dir);
    int background = 0, foreground = 0;
    struct dirent *entry;
    while ((entry = readdir (dir))) {
        if (entry->d_name [0] == '.')
            continue;
        int nice = s_thread_nice (pid, entry->d_name, name, sizeof name);
        if (nice == -100)
            continue;               //  a thread that just ended
        if (!strcmp (name, "relay") || !strcmp (name, "display-service")
        ||  !strcmp (name, "data-collector") || !strcmp (name, "pruner")) {
            print_message ("%s: nice %d\n", name, nice);
            assert_int_equal (nice, lowered);
            background++;
        }
        else
        if (strncmp (name, "order-", 6) == 0 || strncmp (name, "http-", 5) == 0) {
            assert_int_equal (nice, base);
            foreground++;
        }
    }
    closedir (dir);
    assert_true (background >= 3);  //  relay and the two sinks at least
    assert_true (foreground >= 3);
}

//  Last: the server stops cleanly (every actor, old or new, ends).
static void
test_stop (void **state)
{
    pools_fixture_t *self = (pools_fixture_t *) *state;
    assert_int_equal (tk_server_stop (&self->server), 0);
}

//  Runs the tests; non-zero when one failed.
int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_admin_refusals),
        cmocka_unit_test (test_resize_under_load),
        cmocka_unit_test (test_thread_priorities),
        cmocka_unit_test (test_stop),
    };
    return cmocka_run_group_tests_name ("e2e_pools", tests, s_setup, s_teardown);
}
