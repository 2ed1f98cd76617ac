/*  The bridge end to end inside one process: relay + projection + collector
    sink actors on temporary SQLite stores, orders made with the real
    store_order_create, the collector a forked `coffee mock-collector`.
      - N orders → display counts equal command counts, soon after a wake
      - the same event applied twice counts once
      - collector down for a while → orders still fast, every order
        delivered after it recovers, in order time

    ctest bound: COFFEE_TEST_TIMEOUT 180 s. */
#include "testkit.h"
#include <cmocka.h>
#include "coffee.h"
#include "store.h"
#include "display_store.h"
#include "eventlog.h"
#include "bridge_testutil.h"
#include <sqlite3.h>

#define WINDOW_MS   DISPLAY_WINDOW_MS

//  What the tests share.
typedef struct {
    config_t cfg;               //  temp data dir, http collector on the mock
    int mock_port;              //  mock collector port
    pid_t mock;                 //  mock collector pid
    metrics_t *metrics;         //  the actors' gauges
    bridge_args_t args;         //  the actors' args
    zactor_t *relay;            //  bridge_relay_actor
    zactor_t *projection;       //  bridge_projection_actor
    zactor_t *sink;             //  bridge_collector_actor
    store_t *store;             //  test thread's command store connection
    display_store_t *display;   //  test thread's display store connection
    zsock_t *wake;              //  PUSH to BRIDGE_OUTBOX_WAKE, like an order actor
    char customer [COFFEE_ID_MAX];  //  a customer with plenty of points
    unsigned int seed;          //  rand_r state for menu choice
    int orders;                 //  orders created so far
} fixture_t;

//  Creates the customer and charges it.
static void
s_customer (fixture_t *self)
{
    store_reply_t reply = { 0 };
    int64_t now = util_now_ms (0);
    assert_int_equal (store_customer_create (self->store, "pipeline", NULL, now, &reply), 0);
    assert_int_equal (reply.status, 200);
    cJSON *json = cJSON_Parse (reply.body);
    const cJSON *id = cJSON_GetObjectItem (json, "customerId");
    assert_true (cJSON_IsString (id));
    snprintf (self->customer, sizeof self->customer, "%s", id->valuestring);
    cJSON_Delete (json);
    store_reply_reset (&reply);
    assert_int_equal (store_charge (self->store, self->customer, STORE_CHARGE_MAX, NULL, NULL, now,
                                    &reply), 0);
    assert_int_equal (reply.status, 200);
    store_reply_reset (&reply);
}

//  Starts the mock (forked before any ZeroMQ socket exists), the stores,
//  the three actors.
static int
s_setup (void **state)
{
    fixture_t *self = (fixture_t *) calloc (1, sizeof (fixture_t));
    self->seed = 12345;
    self->mock_port = tk_free_port ();
    self->mock = bt_mock_start (self->mock_port, NULL);
    assert_true (self->mock > 0);

    char *dir = tk_tempdir ("bridge-pipeline");
    char url [128];
    snprintf (url, sizeof url, "http://127.0.0.1:%d/collect", self->mock_port);
    char *argv [] = { "test", "--data-dir", dir, "--bridge", "local", "--collector-url", url,
                      "--collector-backoff-max-ms", "400", NULL };
    char err [512] = "";
    assert_int_equal (config_load (&self->cfg, 9, argv, err, sizeof err), 0);
    free (dir);

    self->store = store_open (self->cfg.store, err, sizeof err);
    assert_non_null (self->store);
    self->display = display_store_open (self->cfg.display_store, err, sizeof err);
    assert_non_null (self->display);
    s_customer (self);

    self->metrics = metrics_new ();
    self->args = (bridge_args_t) { .cfg = &self->cfg, .metrics = self->metrics };
    self->relay = zactor_new (bridge_relay_actor, &self->args);
    self->projection = zactor_new (bridge_projection_actor, &self->args);
    self->sink = zactor_new (bridge_collector_actor, &self->args);
    assert_non_null (self->relay);
    assert_non_null (self->projection);
    assert_non_null (self->sink);
    self->wake = zsock_new_push (BRIDGE_OUTBOX_WAKE);
    assert_non_null (self->wake);
    zsock_set_sndtimeo (self->wake, 0);
    *state = self;
    return 0;
}

//  Stops the actors (each must answer $TERM), the stores and the mock.
static int
s_teardown (void **state)
{
    fixture_t *self = (fixture_t *) *state;
    int64_t start = tk_now_ms ();
    zactor_destroy (&self->sink);
    zactor_destroy (&self->projection);
    zactor_destroy (&self->relay);
    assert_true (tk_now_ms () - start < 10000);
    zsock_destroy (&self->wake);
    display_store_destroy (&self->display);
    store_destroy (&self->store);
    metrics_destroy (&self->metrics);
    assert_int_equal (bt_mock_stop (self->mock), 0);
    free (self);
    return 0;
}

//  One order of 1..3 random distinct menus with random quantities, then a
//  wake like the order actor sends. Returns how long the order took (ms).
static int64_t
s_order (fixture_t *self)
{
    event_line_t lines [3];
    size_t count = 1 + rand_r (&self->seed) % 3;
    int first = (int) (rand_r (&self->seed) % 5);
    for (size_t i = 0; i < count; i++) {
        snprintf (lines [i].menu_id, sizeof lines [i].menu_id, "MENU-%08d",
                  1 + (first + (int) i) % 5);
        lines [i].qy = 1 + rand_r (&self->seed) % 4;
    }
    store_reply_t reply = { 0 };
    int64_t start = tk_now_ms ();
    assert_int_equal (store_order_create (self->store, self->customer, NULL, lines, count, NULL,
                                          util_now_ms (0), &reply), 0);
    int64_t took = tk_now_ms () - start;
    assert_int_equal (reply.status, 200);
    store_reply_reset (&reply);
    zstr_send (self->wake, "");
    self->orders++;
    return took;
}

//  True when display counts equal command counts for the last 7 days and
//  the orders add up to total menu-orders at least min_total.
static bool
s_counts_equal (fixture_t *self, int64_t min_total)
{
    int64_t now = util_now_ms (0);
    store_count_t *cmd = NULL, *disp = NULL;
    size_t ncmd = 0, ndisp = 0;
    bool equal = store_order_menu_counts (self->store, now - WINDOW_MS, now, &cmd, &ncmd) == 0
              && display_store_counts (self->display, now - WINDOW_MS, now, &disp, &ndisp) == 0;
    int64_t total = 0, disp_total = 0;
    for (size_t i = 0; equal && i < ncmd; i++) {
        int64_t other = 0;
        for (size_t j = 0; j < ndisp; j++)
            if (streq (disp [j].menu_id, cmd [i].menu_id))
                other = disp [j].count;
        equal = other == cmd [i].count;
        total += cmd [i].count;
    }
    for (size_t j = 0; j < ndisp; j++)
        disp_total += disp [j].count;
    free (cmd);
    free (disp);
    return equal && total == disp_total && total >= min_total;
}

//  Waits up to timeout_ms for s_counts_equal; returns the ms it took or -1.
static int64_t
s_wait_counts (fixture_t *self, int64_t min_total, int timeout_ms)
{
    int64_t start = tk_now_ms ();
    while (tk_now_ms () - start < timeout_ms) {
        if (s_counts_equal (self, min_total))
            return tk_now_ms () - start;
        zclock_sleep (10);
    }
    return -1;
}

//  Menu-orders (order, menu pairs) in the command store's window.
static int64_t
s_menu_orders (fixture_t *self)
{
    int64_t now = util_now_ms (0);
    store_count_t *cmd = NULL;
    size_t ncmd = 0;
    assert_int_equal (store_order_menu_counts (self->store, now - WINDOW_MS, now, &cmd, &ncmd), 0);
    int64_t total = 0;
    for (size_t i = 0; i < ncmd; i++)
        total += cmd [i].count;
    free (cmd);
    return total;
}

//  N orders reach the display store, counted by order not quantity.
static void
test_orders_reach_display (void **state)
{
    fixture_t *self = (fixture_t *) *state;
    //  One order first: a wake must carry it through well before the
    //  relay's idle timer would
    s_order (self);
    int64_t took = s_wait_counts (self, 1, 5000);
    assert_true (took >= 0);
    assert_true (took < BRIDGE_RELAY_IDLE_MS - 100);

    for (int i = 0; i < 60; i++)
        s_order (self);
    int64_t total = s_menu_orders (self);
    assert_true (total >= 61);
    assert_true (s_wait_counts (self, total, 15000) >= 0);

    //  The top 3 is served from the same rows
    store_count_t best [3];
    size_t count = 0;
    assert_int_equal (display_store_best (self->display, util_now_ms (0), WINDOW_MS, 3, best,
                                          &count), 0);
    assert_true (count > 0 && count <= 3);
    for (size_t i = 1; i < count; i++)
        assert_true (best [i - 1].count >= best [i].count);

    //  The gauges saw it
    zclock_sleep (600);
    assert_int_equal (metrics_gauge_get (self->metrics, GAUGE_OUTBOX_PENDING), 0);
    assert_true (metrics_gauge_get (self->metrics, GAUGE_OUTBOX_PUBLISHED) >= 61);
    assert_true (metrics_gauge_get (self->metrics, GAUGE_PROJECTION_APPLIED) >= 61);
    assert_int_equal (metrics_gauge_get (self->metrics, GAUGE_PROJECTION_LAG), 0);
    assert_int_equal (metrics_gauge_get (self->metrics, GAUGE_BRIDGE_UP), 1);
    assert_int_equal (metrics_gauge_get (self->metrics, GAUGE_PROJECTION_UP), 1);
    int64_t pending = -1;
    assert_int_equal (store_outbox_pending (self->store, &pending), 0);
    assert_int_equal (pending, 0);
}

//  A redelivered event (published again) changes no count; neither does
//  applying the same event twice directly; a malformed event is skipped.
static void
test_same_event_twice_counts_once (void **state)
{
    fixture_t *self = (fixture_t *) *state;
    s_order (self);
    int64_t total = s_menu_orders (self);
    assert_true (s_wait_counts (self, total, 5000) >= 0);

    int64_t now = util_now_ms (0);
    event_order_t *events = NULL;
    size_t count = 0;
    assert_int_equal (store_order_events (self->store, now - WINDOW_MS, now, &events, &count), 0);
    assert_true (count >= 1);
    char *payload = event_order_encode (&events [count - 1]);
    assert_non_null (payload);

    //  Directly: the second apply adds nothing
    bool applied = true;
    assert_int_equal (display_store_apply (self->display, &events [count - 1], "test-group", 0, 1,
                                           &applied), 0);
    assert_false (applied);

    //  Through the log: published again plus a malformed event after it
    char err [256] = "";
    eventlog_t *producer = eventlog_producer_new (&self->cfg, err, sizeof err);
    assert_non_null (producer);
    int64_t applied_before = metrics_gauge_get (self->metrics, GAUGE_PROJECTION_APPLIED);
    eventlog_msg_t msgs [2] = {
        { events [count - 1].order_no, payload, strlen (payload) },
        { "ORD-BROKEN", "{\"orderNo\":", 11 },
    };
    assert_int_equal (eventlog_publish (producer, msgs, 2, 1000), 2);
    eventlog_destroy (&producer);
    int64_t start = tk_now_ms ();
    while (metrics_gauge_get (self->metrics, GAUGE_PROJECTION_APPLIED) == applied_before
       &&  tk_now_ms () - start < 5000)
        zclock_sleep (10);
    assert_true (metrics_gauge_get (self->metrics, GAUGE_PROJECTION_APPLIED) > applied_before);
    //  The malformed one is committed past: the lag drains to zero
    start = tk_now_ms ();
    while (metrics_gauge_get (self->metrics, GAUGE_PROJECTION_LAG) != 0
       &&  tk_now_ms () - start < 5000)
        zclock_sleep (50);
    zclock_sleep (700);
    assert_int_equal (metrics_gauge_get (self->metrics, GAUGE_PROJECTION_LAG), 0);
    assert_true (s_counts_equal (self, total));
    assert_int_equal (s_menu_orders (self), total);

    zstr_free (&payload);
    for (size_t i = 0; i < count; i++)
        event_order_reset (&events [i]);
    free (events);
}

//  True when GET /orders counts want orders.
static bool
s_mock_has (const tk_resp_t *resp, void *arg)
{
    const cJSON *count = cJSON_GetObjectItem (resp->json, "count");
    return resp->status == 200 && cJSON_IsNumber (count) && count->valueint >= *(int *) arg;
}

//  The collector down for a while: orders stay fast, the sink keeps
//  retrying, and once it is back every order arrives once, in order time.
static void
test_collector_down_then_recovers (void **state)
{
    fixture_t *self = (fixture_t *) *state;
    int want = self->orders;
    assert_int_equal (tk_http_until (self->mock_port, "/orders", s_mock_has, &want, 15000), 0);
    int before = bt_mock_count (self->mock_port);
    assert_int_equal (before, self->orders);

    assert_int_equal (bt_mock_control (self->mock_port, "{\"failRate\":1}"), 200);
    int64_t failures = metrics_gauge_get (self->metrics, GAUGE_COLLECTOR_FAILURES);
    int64_t slowest = 0;
    for (int i = 0; i < 20; i++) {
        int64_t took = s_order (self);
        if (took > slowest)
            slowest = took;
    }
    //  The display side is not held up by the collector either
    assert_true (s_wait_counts (self, s_menu_orders (self), 10000) >= 0);
    zclock_sleep (1500);
    assert_int_equal (bt_mock_count (self->mock_port), before);
    assert_true (metrics_gauge_get (self->metrics, GAUGE_COLLECTOR_FAILURES) > failures + 2);
    assert_int_equal (metrics_gauge_get (self->metrics, GAUGE_COLLECTOR_UP), 0);
    assert_true (metrics_gauge_get (self->metrics, GAUGE_COLLECTOR_LAG) > 0);
    assert_true (slowest < 1000);

    assert_int_equal (bt_mock_control (self->mock_port, "{\"failRate\":0}"), 200);
    want = self->orders;
    assert_int_equal (tk_http_until (self->mock_port, "/orders", s_mock_has, &want, 15000), 0);
    zclock_sleep (300);

    cJSON *json = bt_mock_orders (self->mock_port);
    assert_non_null (json);
    cJSON *orders = cJSON_GetObjectItem (json, "orders");
    assert_int_equal (cJSON_GetArraySize (orders), self->orders);
    int64_t last = 0;
    char last_no [COFFEE_ID_MAX] = "";
    const cJSON *order;
    cJSON_ArrayForEach (order, orders) {
        int64_t at = 0;
        const cJSON *when = cJSON_GetObjectItem (order, "orderedAt");
        const cJSON *no = cJSON_GetObjectItem (order, "orderNo");
        assert_true (cJSON_IsString (when) && cJSON_IsString (no));
        assert_int_equal (util_parse_iso8601 (when->valuestring, &at), 0);
        assert_true (at >= last);
        //  Order numbers grow with commit order in one store
        assert_true (strcmp (no->valuestring, last_no) > 0);
        last = at;
        snprintf (last_no, sizeof last_no, "%s", no->valuestring);
    }
    cJSON_Delete (json);
    zclock_sleep (600);
    assert_int_equal (metrics_gauge_get (self->metrics, GAUGE_COLLECTOR_UP), 1);
    assert_int_equal (metrics_gauge_get (self->metrics, GAUGE_COLLECTOR_LAG), 0);
    assert_true (metrics_gauge_get (self->metrics, GAUGE_COLLECTOR_DELIVERED) >= self->orders);
}

//  Waits up to timeout_ms until gauge equals value.
static bool
s_gauge_until (fixture_t *self, metrics_gauge_t gauge, int64_t value, int timeout_ms)
{
    int64_t start = tk_now_ms ();
    while (tk_now_ms () - start < timeout_ms) {
        if (metrics_gauge_get (self->metrics, gauge) == value)
            return true;
        zclock_sleep (20);
    }
    return false;
}

//  The event log refuses writes (another connection holds its write lock):
//  the relay reports itself down, leaves the rows unpublished, and once the
//  lock goes every order reaches the display store.
static void
test_relay_waits_out_a_locked_log (void **state)
{
    fixture_t *self = (fixture_t *) *state;
    assert_true (s_wait_counts (self, s_menu_orders (self), 10000) >= 0);
    char path [700];
    snprintf (path, sizeof path, "%s/events.db", self->cfg.data_dir);
    sqlite3 *lock = NULL;
    assert_int_equal (sqlite3_open (path, &lock), SQLITE_OK);
    assert_int_equal (sqlite3_exec (lock, "BEGIN EXCLUSIVE", NULL, NULL, NULL), SQLITE_OK);

    for (int i = 0; i < 3; i++)
        s_order (self);
    //  The relay's publish waits out SQLite's busy timeout, then fails
    assert_true (s_gauge_until (self, GAUGE_BRIDGE_UP, 0, 15000));
    int64_t pending = -1;
    assert_int_equal (store_outbox_pending (self->store, &pending), 0);
    assert_int_equal (pending, 3);
    assert_false (s_counts_equal (self, s_menu_orders (self)));

    assert_int_equal (sqlite3_exec (lock, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close (lock);
    assert_true (s_wait_counts (self, s_menu_orders (self), 20000) >= 0);
    assert_true (s_gauge_until (self, GAUGE_BRIDGE_UP, 1, 5000));
    assert_int_equal (store_outbox_pending (self->store, &pending), 0);
    assert_int_equal (pending, 0);
}

int
main (void)
{
    log_set_level (LOG_LEVEL_ERROR);
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_orders_reach_display),
        cmocka_unit_test (test_same_event_twice_counts_once),
        cmocka_unit_test (test_collector_down_then_recovers),
        cmocka_unit_test (test_relay_waits_out_a_locked_log),
    };
    return cmocka_run_group_tests (tests, s_setup, s_teardown);
}
