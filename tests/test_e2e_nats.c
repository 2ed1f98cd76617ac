/*  End to end on NATS JetStream: the real `coffee serve --bridge nats
    --nats-url …` over HTTP on loopback, against the nats-server that
    scripts/test.sh starts (COFFEE_TEST_NATS_URL; restarted through
    scripts/nats.sh with COFFEE_TEST_NATS_DIR / _PORT). Skips when
    COFFEE_TEST_NATS_URL is unset. Each case has its own data dir and its
    own stream (--kafka-topic).

    Orders are placed with an Idempotency-Key, so after a crash the client
    can send again every order it is not sure of and know the exact set of
    orders that exist; /display/best must then show exactly their counts
    (nothing lost, nothing counted twice) and the collector file must hold
    every order number.

      - orders → /display/best exact counts → collector has every order;
      - kill -9 of coffee in the middle of a load, restart: events the
        projection and the collector held are delivered again (JetStream
        redelivers after AckWait) and the counts stay exact;
      - nats-server killed (kill -9) and started again while orders come in:
        every order is answered 200 (the outbox holds its event), and all
        reach the display and the collector once the server is back.

    ctest bound: COFFEE_TEST_TIMEOUT 400 s. */
#include "testkit.h"
#include <cmocka.h>
#include <pthread.h>
#include <stdatomic.h>
#include "coffee.h"

#define E2E_MENUS       3                   //  menus ordered: MENU-00000001..3
#define E2E_MAX_ORDERS  4000                //  orders a case may place
#define E2E_ARRIVE_MS   120000              //  wait for display and collector (> AckWait)
#define LOAD_THREADS    4                   //  clients of the kill -9 case

static const char *s_url;                  //  COFFEE_TEST_NATS_URL
static int s_topics;                        //  topics made so far

//  Orders a case placed: number and menus of each, by attempt index.
typedef struct {
    int count;                              //  attempts made
    char order_no [E2E_MAX_ORDERS][32];     //  "" until known
    char key [E2E_MAX_ORDERS][48];          //  Idempotency-Key of each attempt
    pthread_mutex_t lock;                   //  guards count
} s_orders_t;

//  Runs scripts/nats.sh CMD on the shared server; its exit status.
static int
s_nats_sh (const char *cmd)
{
    const char *dir = getenv ("COFFEE_TEST_NATS_DIR");
    const char *port = getenv ("COFFEE_TEST_NATS_PORT");
    if (!dir || !port)
        return -1;
    char line [1200];
    snprintf (line, sizeof line, "sh '%s/scripts/nats.sh' %s '%s' %s >/dev/null",
              COFFEE_SOURCE_DIR, cmd, dir, streq (cmd, "start") ? port : "");
    return system (line);
}

//  The extra flags of coffee serve for a case on a new topic.
typedef struct {
    char topic [64];
    const char *argv [16];
} s_flags_t;

static void
s_flags_init (s_flags_t *flags)
{
    snprintf (flags->topic, sizeof flags->topic, "e2e%d-%d-%" PRId64, (int) getpid (),
              ++s_topics, tk_now_ms () % 100000);
    const char *argv [] = { "--bridge", "nats", "--nats-url", s_url,
                            "--kafka-topic", flags->topic, "--display-refresh-ms", "100",
                            "--collector-backoff-max-ms", "1000", NULL };
    memcpy (flags->argv, argv, sizeof argv);
}

//  The menus of order i: MENU-1 always, MENU-2 on even i, MENU-3 when i % 3
//  is 0; so the three counts differ once there are a few orders.
static void
s_menus (int i, char *buf, size_t len)
{
    snprintf (buf, len, "[{\"menuId\":\"MENU-00000001\",\"qy\":1}%s%s]",
              i % 2 == 0 ? ",{\"menuId\":\"MENU-00000002\",\"qy\":2}" : "",
              i % 3 == 0 ? ",{\"menuId\":\"MENU-00000003\",\"qy\":1}" : "");
}

//  POST /customer then /point; the customer id into id.
static void
s_customer (int port, char *id, size_t len)
{
    const char *headers [] = { "Content-Type: application/json", NULL };
    tk_resp_t resp = { 0 };
    assert_int_equal (tk_http ("POST", port, "/customer", "{\"customerNm\":\"nats\"}",
                               headers, &resp), 0);
    assert_int_equal (resp.status, 200);
    const cJSON *cid = cJSON_GetObjectItem (resp.json, "customerId");
    assert_true (cJSON_IsString (cid));
    snprintf (id, len, "%s", cid->valuestring);
    tk_resp_reset (&resp);
    char body [128];
    snprintf (body, sizeof body, "{\"customerId\":\"%s\",\"chargeAmt\":1000000000}", id);
    assert_int_equal (tk_http ("POST", port, "/point", body, headers, &resp), 0);
    assert_int_equal (resp.status, 200);
    tk_resp_reset (&resp);
}

//  Places order i of orders with its Idempotency-Key; returns the status
//  (0 on a transport failure) and records the order number on 200.
static long
s_order (int port, const char *customer, s_orders_t *orders, int i)
{
    char menus [256], body [512], key_header [80];
    s_menus (i, menus, sizeof menus);
    snprintf (body, sizeof body, "{\"customerId\":\"%s\",\"menuList\":%s}", customer, menus);
    snprintf (key_header, sizeof key_header, "Idempotency-Key: %s", orders->key [i]);
    const char *headers [] = { "Content-Type: application/json", key_header, NULL };
    tk_resp_t resp = { 0 };
    tk_http ("POST", port, "/order", body, headers, &resp);
    long status = resp.status;
    const cJSON *no = cJSON_GetObjectItem (resp.json, "orderNo");
    if (status == 200 && cJSON_IsString (no))
        snprintf (orders->order_no [i], sizeof orders->order_no [i], "%s", no->valuestring);
    tk_resp_reset (&resp);
    return status;
}

//  Sends order i again until it is answered 200: a key whose first request
//  died with the server answers 409 IDEMPOTENCY_KEY_IN_USE until it is
//  STORE_IDEM_STALE_MS (60 s) old and may be taken over. Returns the last
//  status.
static long
s_order_until_done (int port, const char *customer, s_orders_t *orders, int i)
{
    int64_t deadline = tk_now_ms () + 120000;
    long status;
    while ((status = s_order (port, customer, orders, i)) != 200 && tk_now_ms () < deadline
       &&  (status == 409 || status == 503 || status == 0))
        zclock_sleep (1000);
    return status;
}

//  A new attempt index with its key; -1 when the table is full.
static int
s_attempt (s_orders_t *orders, const char *tag)
{
    pthread_mutex_lock (&orders->lock);
    int i = orders->count < E2E_MAX_ORDERS ? orders->count++ : -1;
    pthread_mutex_unlock (&orders->lock);
    if (i >= 0)
        snprintf (orders->key [i], sizeof orders->key [i], "%s-%d", tag, i);
    return i;
}

//  Sends again every attempt without an order number (same key, so one
//  that was committed answers its first answer and one that was not is
//  placed now); asserts each is then 200.
static void
s_settle (int port, const char *customer, s_orders_t *orders)
{
    for (int i = 0; i < orders->count; i++)
        if (!orders->order_no [i][0])
            assert_int_equal (s_order_until_done (port, customer, orders, i), 200);
}

//  True when /display/best shows exactly the counts in arg (int [3]).
static bool
s_best_exact (const tk_resp_t *resp, void *arg)
{
    const int *want = (const int *) arg;
    int nonzero = 0;
    for (int m = 0; m < E2E_MENUS; m++)
        nonzero += want [m] > 0;
    if (resp->status != 200 || !cJSON_IsArray (resp->json)
    ||  cJSON_GetArraySize (resp->json) != nonzero)
        return false;
    for (int i = 0; i < nonzero; i++) {
        const cJSON *item = cJSON_GetArrayItem (resp->json, i);
        const cJSON *id = cJSON_GetObjectItem (item, "menuId");
        const cJSON *cnt = cJSON_GetObjectItem (item, "orderCnt");
        if (!cJSON_IsString (id) || !cJSON_IsNumber (cnt)
        ||  strncmp (id->valuestring, "MENU-0000000", 12) != 0)
            return false;
        int m = atoi (id->valuestring + 12) - 1;
        if (m < 0 || m >= E2E_MENUS || (int64_t) cnt->valuedouble != want [m])
            return false;
    }
    return true;
}

//  Waits until /display/best shows exactly the counts of orders [0, count).
static void
s_expect_best (int port, const s_orders_t *orders)
{
    int want [E2E_MENUS] = { 0 };
    for (int i = 0; i < orders->count; i++) {
        want [0]++;
        want [1] += i % 2 == 0;
        want [2] += i % 3 == 0;
    }
    int rc = tk_http_until (port, "/display/best", s_best_exact, want, E2E_ARRIVE_MS);
    if (rc != 0) {
        tk_resp_t resp = { 0 };
        tk_http ("GET", port, "/display/best", NULL, NULL, &resp);
        fprintf (stderr, "want %d/%d/%d; /display/best: %ld %s\n", want [0], want [1], want [2],
                 resp.status, resp.body ? resp.body : "");
        tk_resp_reset (&resp);
    }
    assert_int_equal (rc, 0);
}

//  How many of the orders' numbers are in <data_dir>/collector.jsonl.
static int
s_collected (const char *data_dir, const s_orders_t *orders)
{
    char path [700];
    snprintf (path, sizeof path, "%s/collector.jsonl", data_dir);
    zhashx_t *seen = zhashx_new ();
    FILE *file = fopen (path, "r");
    char line [4096];
    while (file && fgets (line, sizeof line, file)) {
        cJSON *json = cJSON_Parse (line);
        const cJSON *no = cJSON_GetObjectItem (json, "orderNo");
        if (cJSON_IsString (no))
            zhashx_update (seen, no->valuestring, (void *) 1);
        cJSON_Delete (json);
    }
    if (file)
        fclose (file);
    int found = 0;
    for (int i = 0; i < orders->count; i++)
        if (orders->order_no [i][0] && zhashx_lookup (seen, orders->order_no [i]))
            found++;
    zhashx_destroy (&seen);
    return found;
}

//  Waits until the collector file holds every order.
static void
s_expect_collected (const char *data_dir, const s_orders_t *orders)
{
    int64_t deadline = tk_now_ms () + E2E_ARRIVE_MS;
    int found = 0;
    while ((found = s_collected (data_dir, orders)) < orders->count && tk_now_ms () < deadline)
        zclock_sleep (200);
    if (found != orders->count)
        fprintf (stderr, "collector has %d of %d orders\n", found, orders->count);
    assert_int_equal (found, orders->count);
}

//  A fresh order table.
static s_orders_t *
s_orders_new (void)
{
    s_orders_t *orders = (s_orders_t *) calloc (1, sizeof (s_orders_t));
    assert_non_null (orders);
    pthread_mutex_init (&orders->lock, NULL);
    return orders;
}

static void
s_orders_free (s_orders_t *orders)
{
    pthread_mutex_destroy (&orders->lock);
    free (orders);
}

//  True when /health says the bridge is UP.
static bool
s_bridge_up (const tk_resp_t *resp, void *arg)
{
    const cJSON *parts = cJSON_GetObjectItem (resp->json, "parts");
    const cJSON *bridge = cJSON_GetObjectItem (parts, "bridge");
    return resp->status == 200 && cJSON_IsString (bridge) && streq (bridge->valuestring, "UP");
}

//  Orders → exact /display/best → every order in the collector file; the
//  stream on the server holds the events.
static void
test_orders_reach_display_and_collector (void **state)
{
    s_flags_t flags;
    s_flags_init (&flags);
    tk_server_t srv;
    assert_int_equal (tk_server_start (&srv, NULL, flags.argv), 0);
    assert_int_equal (tk_http_until (srv.port, "/health", s_bridge_up, NULL, 10000), 0);
    char customer [32];
    s_customer (srv.port, customer, sizeof customer);
    s_orders_t *orders = s_orders_new ();
    for (int k = 0; k < 60; k++) {
        int i = s_attempt (orders, "basic");
        assert_int_equal (s_order (srv.port, customer, orders, i), 200);
    }
    s_expect_best (srv.port, orders);
    s_expect_collected (srv.data_dir, orders);

    //  The consumers' lag gauges come down to 0
    tk_resp_t resp = { 0 };
    int64_t deadline = tk_now_ms () + 10000;
    bool settled = false;
    while (!settled && tk_now_ms () < deadline) {
        tk_http ("GET", srv.port, "/metrics", NULL, NULL, &resp);
        settled = resp.status == 200 && resp.body
               && strstr (resp.body, "coffee_projection_lag 0\n");
        tk_resp_reset (&resp);
        if (!settled)
            zclock_sleep (200);
    }
    assert_true (settled);
    assert_int_equal (tk_server_stop (&srv), 0);
    s_orders_free (orders);
}

//  One client of the kill -9 case.
typedef struct {
    int port;
    char customer [32];
    s_orders_t *orders;
    atomic_bool *stop;
} s_loader_t;

//  Places orders until stopped or the server stops answering.
static void *
s_loader (void *arg)
{
    s_loader_t *self = (s_loader_t *) arg;
    while (!atomic_load (self->stop)) {
        int i = s_attempt (self->orders, self->customer);
        if (i < 0 || s_order (self->port, self->customer, self->orders, i) == 0)
            break;
    }
    return NULL;
}

//  kill -9 of coffee mid-load: after the restart and a resend of the
//  unsure orders, the counts are exact and the collector has every order,
//  though events held by the dead process come again.
static void
test_kill9_redelivery (void **state)
{
    s_flags_t flags;
    s_flags_init (&flags);
    tk_server_t srv;
    assert_int_equal (tk_server_start (&srv, NULL, flags.argv), 0);
    s_orders_t *orders = s_orders_new ();
    atomic_bool stop = false;
    s_loader_t loaders [LOAD_THREADS];
    pthread_t threads [LOAD_THREADS];
    for (int t = 0; t < LOAD_THREADS; t++) {
        loaders [t].port = srv.port;
        loaders [t].orders = orders;
        loaders [t].stop = &stop;
        s_customer (srv.port, loaders [t].customer, sizeof loaders [t].customer);
    }
    for (int t = 0; t < LOAD_THREADS; t++)
        assert_int_equal (pthread_create (&threads [t], NULL, s_loader, &loaders [t]), 0);
    zclock_sleep (2000);
    tk_server_kill9 (&srv);
    atomic_store (&stop, true);
    for (int t = 0; t < LOAD_THREADS; t++)
        pthread_join (threads [t], NULL);
    int answered = 0;
    for (int i = 0; i < orders->count; i++)
        answered += orders->order_no [i][0] != 0;
    fprintf (stderr, "kill -9 after %d attempts (%d answered)\n", orders->count, answered);
    assert_true (answered > 0);

    assert_int_equal (tk_server_restart (&srv, flags.argv), 0);
    int64_t restarted = tk_now_ms ();
    //  Every attempt is its own customer's: resend with the same key
    for (int t = 0; t < LOAD_THREADS; t++) {
        s_orders_t *mine = orders;
        for (int i = 0; i < mine->count; i++)
            if (!mine->order_no [i][0]
            &&  strncmp (mine->key [i], loaders [t].customer, strlen (loaders [t].customer)) == 0
            &&  mine->key [i][strlen (loaders [t].customer)] == '-')
                assert_int_equal (s_order_until_done (srv.port, loaders [t].customer, mine, i),
                                  200);
    }
    fprintf (stderr, "unsure orders settled %" PRId64 " ms after the restart\n",
             tk_now_ms () - restarted);
    s_expect_best (srv.port, orders);
    s_expect_collected (srv.data_dir, orders);
    fprintf (stderr, "exact counts and every order collected %" PRId64 " ms after the restart\n",
             tk_now_ms () - restarted);
    assert_int_equal (tk_server_stop (&srv), 0);
    s_orders_free (orders);
}

//  nats-server down while orders come in: every order is answered, and
//  all reach the display and the collector once it is back.
static void
test_nats_server_outage (void **state)
{
    if (!getenv ("COFFEE_TEST_NATS_DIR") || !getenv ("COFFEE_TEST_NATS_PORT"))
        fail_msg ("COFFEE_TEST_NATS_DIR and _PORT must be set with COFFEE_TEST_NATS_URL "
                  "(scripts/nats.sh env prints all three)");
    s_flags_t flags;
    s_flags_init (&flags);
    tk_server_t srv;
    assert_int_equal (tk_server_start (&srv, NULL, flags.argv), 0);
    char customer [32];
    s_customer (srv.port, customer, sizeof customer);
    s_orders_t *orders = s_orders_new ();
    for (int k = 0; k < 20; k++) {
        int i = s_attempt (orders, "before");
        assert_int_equal (s_order (srv.port, customer, orders, i), 200);
    }
    s_expect_best (srv.port, orders);

    assert_int_equal (s_nats_sh ("kill"), 0);
    int64_t started = tk_now_ms ();
    for (int k = 0; k < 40; k++) {
        int i = s_attempt (orders, "during");
        assert_int_equal (s_order (srv.port, customer, orders, i), 200);
        zclock_sleep (50);
    }
    fprintf (stderr, "40 orders answered 200 in %" PRId64 " ms with nats-server down\n",
             tk_now_ms () - started);
    assert_int_equal (s_nats_sh ("start"), 0);
    for (int k = 0; k < 20; k++) {
        int i = s_attempt (orders, "after");
        assert_int_equal (s_order (srv.port, customer, orders, i), 200);
    }
    s_settle (srv.port, customer, orders);
    s_expect_best (srv.port, orders);
    s_expect_collected (srv.data_dir, orders);
    assert_int_equal (tk_http_until (srv.port, "/health", s_bridge_up, NULL, 10000), 0);
    assert_int_equal (tk_server_stop (&srv), 0);
    s_orders_free (orders);
}

int
main (void)
{
    s_url = getenv ("COFFEE_TEST_NATS_URL");
    if (!s_url || !*s_url) {
        printf ("COFFEE_TEST_NATS_URL is not set: skipping (scripts/test.sh starts a "
                "nats-server; by hand: scripts/nats.sh start/env)\n");
        return 0;
    }
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_orders_reach_display_and_collector),
        cmocka_unit_test (test_kill9_redelivery),
        cmocka_unit_test (test_nats_server_outage),
    };
    if (getenv ("COFFEE_TEST_FILTER"))
        cmocka_set_test_filter (getenv ("COFFEE_TEST_FILTER"));
    return cmocka_run_group_tests (tests, NULL, NULL);
}
