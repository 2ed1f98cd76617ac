/*  The shared sink loop (bridge/sink.h) with a sink of the test's own, on
    the local event log (a real SQLite events.db): what a new sink gets by
    being one sink_def_t.

    Proves: events of the kinds the sink takes reach its handler in log
    order, each once; other kinds and malformed events are committed past;
    a failing handler keeps its event, which is tried again (with the up
    gauge 0 meanwhile) before anything behind it, and then committed; a new
    run of the sink in the same group starts after the last commit; $TERM
    is answered at once during a long backoff; a sink whose destination
    cannot open reports a failed start. With a flush (a second test sink
    whose handlers only stage and whose flush makes it durable): the events
    already in the log go through in one turn and one flush; a flush that
    fails keeps every event of its turn, which then go one by one; a
    handler that fails inside a turn lets the events before it be flushed
    and committed (a new run starts at the failed one). The two real sinks run the same
    loop (test_bridge_pipeline, test_bridge_commit_failure).

    ctest bound: COFFEE_TEST_TIMEOUT 120 s. */
#include "testkit.h"
#include <cmocka.h>
#include "coffee.h"
#include "eventlog.h"
#include "../bridge/sink.h"

#define SEEN_MAX    64          //  events a run may record
#define WAIT_MS     10000       //  how long a test waits for the sink

//  What the test sink saw, shared with the test thread.
typedef struct {
    pthread_mutex_t lock;       //  guards the rest
    char seen [SEEN_MAX][EVENT_ID_MAX];     //  keys handled, in order
    int count;                  //  entries in seen
    int attempts;               //  handler calls, failures included
    int fail_left;              //  calls to refuse before succeeding
    const char *fail_key;       //  the key refused, or NULL
    bool refuse_open;           //  open fails
    char staged [SEEN_MAX][EVENT_ID_MAX];   //  batch sink: handled, not yet flushed
    int staged_count;           //  entries in staged
    int flushes;                //  batch sink: flush calls
    int flush_fail_left;        //  flushes to refuse
} s_record_t;

static s_record_t s_record = { .lock = PTHREAD_MUTEX_INITIALIZER };

//  The test sink's open: the record is its destination.
static void *
s_open (const bridge_args_t *args, char *err, size_t errlen)
{
    (void) args;
    pthread_mutex_lock (&s_record.lock);
    bool refuse = s_record.refuse_open;
    pthread_mutex_unlock (&s_record.lock);
    if (refuse) {
        snprintf (err, errlen, "destination refused");
        return NULL;
    }
    return &s_record;
}

//  Nothing to free.
static void
s_close (void **state_p)
{
    *state_p = NULL;
}

//  Takes a menu event into list (seen, or staged for the batch sink's
//  flush), or refuses it while fail_left lasts.
static int
s_take (s_record_t *record, const event_t *ev, bool stage)
{
    pthread_mutex_lock (&record->lock);
    record->attempts++;
    int rc = 0;
    int *count = stage ? &record->staged_count : &record->count;
    char (*list) [EVENT_ID_MAX] = stage ? record->staged : record->seen;
    if (record->fail_key && streq (record->fail_key, ev->key) && record->fail_left > 0) {
        record->fail_left--;
        rc = -1;
    }
    else
    if (*count < SEEN_MAX)
        snprintf (list [(*count)++], EVENT_ID_MAX, "%s", ev->key);
    pthread_mutex_unlock (&record->lock);
    return rc;
}

//  The test sink's handler: records the event as seen.
static int
s_take_menu (void *state, const event_t *ev, const eventlog_event_t *raw)
{
    (void) raw;
    return s_take ((s_record_t *) state, ev, false);
}

static const sink_kind_t s_kinds [] = {
    { EVENT_KIND_MENU, s_take_menu },
    { EVENT_KIND_COUNT, NULL }
};

//  The retry cap: long, so a $TERM during the backoff shows.
static int
s_cap (const config_t *cfg)
{
    (void) cfg;
    return 20000;
}

static const sink_def_t s_test_sink = {
    .name = "test sink",
    .group = "test-sink",
    .up = GAUGE_PROJECTION_UP,
    .lag = GAUGE_PROJECTION_LAG,
    .log_error_down = true,
    .poll_ms = 50,
    .error_wait_ms = 100,
    .backoff_min_ms = 100,
    .jitter = false,
    .kinds = s_kinds,
    .open = s_open,
    .close = s_close,
    .backoff_cap_ms = s_cap,
    .tick = NULL,
};

//  The batch sink's handler: stages the event for the flush.
static int
s_stage_menu (void *state, const event_t *ev, const eventlog_event_t *raw)
{
    (void) raw;
    return s_take ((s_record_t *) state, ev, true);
}

//  The batch sink's flush: what was staged becomes seen, or, while
//  flush_fail_left lasts, is dropped.
static int
s_flush (void *state)
{
    s_record_t *record = (s_record_t *) state;
    pthread_mutex_lock (&record->lock);
    record->flushes++;
    int rc = 0;
    if (record->flush_fail_left > 0) {
        record->flush_fail_left--;
        rc = -1;
    }
    for (int i = 0; rc == 0 && i < record->staged_count && record->count < SEEN_MAX; i++)
        snprintf (record->seen [record->count++], EVENT_ID_MAX, "%s", record->staged [i]);
    record->staged_count = 0;
    pthread_mutex_unlock (&record->lock);
    return rc;
}

static const sink_kind_t s_batch_kinds [] = {
    { EVENT_KIND_MENU, s_stage_menu },
    { EVENT_KIND_COUNT, NULL }
};

//  The test sink with a flush, its own group and a shorter first backoff
//  (main sets it up from s_test_sink).
static sink_def_t s_batch_sink;

//  The actor that runs the batch sink.
static void
s_batch_actor (zsock_t *pipe, void *args)
{
    sink_run (pipe, (const bridge_args_t *) args, &s_batch_sink);
}

//  The actor that runs the test sink.
static void
s_test_actor (zsock_t *pipe, void *args)
{
    sink_run (pipe, (const bridge_args_t *) args, &s_test_sink);
}

//  What each test holds.
typedef struct {
    config_t cfg;               //  local event log in a temp dir
    metrics_t *metrics;         //  the sink's gauges
    bridge_args_t args;         //  the sink's args
    eventlog_t *producer;       //  the test's producer
} fixture_t;

static int
s_setup (void **state)
{
    fixture_t *fx = (fixture_t *) calloc (1, sizeof (fixture_t));
    char *dir = tk_tempdir ("bridge-sink");
    char *argv [] = { "test", "--data-dir", dir, "--bridge", "local", NULL };
    char err [256] = "";
    int rc = config_load (&fx->cfg, 5, argv, err, sizeof err);
    free (dir);
    if (rc)
        return -1;
    fx->metrics = metrics_new ();
    fx->args = (bridge_args_t) { .cfg = &fx->cfg, .metrics = fx->metrics };
    fx->producer = eventlog_producer_new (&fx->cfg, err, sizeof err);
    pthread_mutex_lock (&s_record.lock);
    s_record.count = s_record.attempts = s_record.fail_left = 0;
    s_record.staged_count = s_record.flushes = s_record.flush_fail_left = 0;
    s_record.fail_key = NULL;
    s_record.refuse_open = false;
    pthread_mutex_unlock (&s_record.lock);
    *state = fx;
    return fx->producer ? 0 : -1;
}

static int
s_teardown (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    eventlog_destroy (&fx->producer);
    metrics_destroy (&fx->metrics);
    free (fx);
    return 0;
}

//  Publishes one envelope (or any payload) under key.
static void
s_publish (fixture_t *fx, const char *key, const char *payload)
{
    eventlog_msg_t msg = { .key = key, .payload = payload, .len = strlen (payload) };
    assert_int_equal (eventlog_publish (fx->producer, &msg, 1, 5000), 1);
}

//  Publishes a menu event.
static void
s_publish_menu (fixture_t *fx, const char *menu_id, int64_t version)
{
    event_menu_t menu = { .menu_price = 1000, .shown = true, .version = version };
    snprintf (menu.menu_id, sizeof menu.menu_id, "%s", menu_id);
    snprintf (menu.menu_nm, sizeof menu.menu_nm, "menu %s", menu_id);
    char *json = event_menu_envelope (&menu, util_now_ms (0));
    assert_non_null (json);
    s_publish (fx, menu_id, json);
    zstr_free (&json);
}

//  Publishes an order event.
static void
s_publish_order (fixture_t *fx, const char *order_no)
{
    event_line_t line = { .menu_id = "MENU-00000001", .qy = 1 };
    event_order_t order = { .pay_amt = 1000, .ordered_at_ms = util_now_ms (0),
                            .line_count = 1, .lines = &line };
    snprintf (order.order_no, sizeof order.order_no, "%s", order_no);
    snprintf (order.customer_id, sizeof order.customer_id, "CUST-00000001");
    char *json = event_order_envelope (&order);
    assert_non_null (json);
    s_publish (fx, order_no, json);
    zstr_free (&json);
}

//  Waits until the sink recorded count events; returns what it recorded.
static int
s_wait_count (int count)
{
    int64_t until = tk_now_ms () + WAIT_MS;
    int have = 0;
    while (tk_now_ms () < until) {
        pthread_mutex_lock (&s_record.lock);
        have = s_record.count;
        pthread_mutex_unlock (&s_record.lock);
        if (have >= count)
            break;
        zclock_sleep (10);
    }
    return have;
}

//  Kinds it takes, in order, once; others and malformed ones passed by and
//  committed: a second run in the group sees only what came after.
static void
test_kinds_order_and_commit (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    s_publish_menu (fx, "MENU-00000001", 1);
    s_publish_order (fx, "ORD-00000001");
    s_publish (fx, "JUNK", "{\"kind\":\"no.such.kind\",\"payload\":{}}");
    s_publish (fx, "JUNK", "not json at all");
    s_publish_menu (fx, "MENU-00000002", 1);
    s_publish_order (fx, "ORD-00000002");
    s_publish_menu (fx, "MENU-00000001", 2);
    zactor_t *sink = zactor_new (s_test_actor, &fx->args);
    assert_non_null (sink);
    assert_int_equal (s_wait_count (3), 3);
    zclock_sleep (300);                 //  nothing more comes
    pthread_mutex_lock (&s_record.lock);
    assert_int_equal (s_record.count, 3);
    assert_string_equal (s_record.seen [0], "MENU-00000001");
    assert_string_equal (s_record.seen [1], "MENU-00000002");
    assert_string_equal (s_record.seen [2], "MENU-00000001");
    assert_int_equal (s_record.attempts, 3);
    pthread_mutex_unlock (&s_record.lock);
    assert_int_equal (metrics_gauge_get (fx->metrics, GAUGE_PROJECTION_UP), 1);
    zactor_destroy (&sink);

    //  Everything was committed: a new run starts after it.
    s_publish_order (fx, "ORD-00000003");
    s_publish_menu (fx, "MENU-00000003", 1);
    sink = zactor_new (s_test_actor, &fx->args);
    assert_non_null (sink);
    assert_int_equal (s_wait_count (4), 4);
    zclock_sleep (300);
    pthread_mutex_lock (&s_record.lock);
    assert_int_equal (s_record.count, 4);
    assert_string_equal (s_record.seen [3], "MENU-00000003");
    pthread_mutex_unlock (&s_record.lock);
    zactor_destroy (&sink);
}

//  A refused event is kept and tried again before the ones behind it;
//  up is 0 while it fails and 1 once it went through.
static void
test_failure_keeps_the_event (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    pthread_mutex_lock (&s_record.lock);
    s_record.fail_key = "MENU-00000001";
    s_record.fail_left = 3;
    pthread_mutex_unlock (&s_record.lock);
    s_publish_menu (fx, "MENU-00000001", 1);
    s_publish_menu (fx, "MENU-00000002", 1);
    zactor_t *sink = zactor_new (s_test_actor, &fx->args);
    assert_non_null (sink);
    //  Failing: the gauge says so and nothing behind the event ran.
    int64_t until = tk_now_ms () + WAIT_MS;
    while (metrics_gauge_get (fx->metrics, GAUGE_PROJECTION_UP) != 0 && tk_now_ms () < until)
        zclock_sleep (5);
    assert_int_equal (metrics_gauge_get (fx->metrics, GAUGE_PROJECTION_UP), 0);
    pthread_mutex_lock (&s_record.lock);
    assert_int_equal (s_record.count, 0);
    pthread_mutex_unlock (&s_record.lock);
    //  Backoff 100 + 200 + 400 ms, then both, in order.
    assert_int_equal (s_wait_count (2), 2);
    pthread_mutex_lock (&s_record.lock);
    assert_string_equal (s_record.seen [0], "MENU-00000001");
    assert_string_equal (s_record.seen [1], "MENU-00000002");
    assert_int_equal (s_record.attempts, 5);
    pthread_mutex_unlock (&s_record.lock);
    assert_int_equal (metrics_gauge_get (fx->metrics, GAUGE_PROJECTION_UP), 1);
    zactor_destroy (&sink);
}

//  $TERM during a long backoff ends the sink at once, without committing
//  the kept event: the next run gets it again.
static void
test_term_during_backoff (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    pthread_mutex_lock (&s_record.lock);
    s_record.fail_key = "MENU-00000001";
    s_record.fail_left = 1000000;
    pthread_mutex_unlock (&s_record.lock);
    s_publish_menu (fx, "MENU-00000001", 1);
    zactor_t *sink = zactor_new (s_test_actor, &fx->args);
    assert_non_null (sink);
    //  Seven failures put the backoff at 6.4 s, then 12.8 s.
    int64_t until = tk_now_ms () + 30000;
    int attempts = 0;
    while (attempts < 8 && tk_now_ms () < until) {
        zclock_sleep (20);
        pthread_mutex_lock (&s_record.lock);
        attempts = s_record.attempts;
        pthread_mutex_unlock (&s_record.lock);
    }
    assert_int_equal (attempts, 8);
    int64_t start = tk_now_ms ();
    zactor_destroy (&sink);
    assert_true (tk_now_ms () - start < 1000);
    pthread_mutex_lock (&s_record.lock);
    s_record.fail_left = 0;
    pthread_mutex_unlock (&s_record.lock);
    sink = zactor_new (s_test_actor, &fx->args);
    assert_non_null (sink);
    assert_int_equal (s_wait_count (1), 1);
    pthread_mutex_lock (&s_record.lock);
    assert_string_equal (s_record.seen [0], "MENU-00000001");
    pthread_mutex_unlock (&s_record.lock);
    zactor_destroy (&sink);
}

//  Asserts that the sink has seen exactly MENU-<first> .. MENU-<last>, in order.
static void
s_assert_seen (int first, int last)
{
    pthread_mutex_lock (&s_record.lock);
    assert_int_equal (s_record.count, last - first + 1);
    for (int i = 0; i < s_record.count; i++) {
        char menu_id [EVENT_ID_MAX];
        snprintf (menu_id, sizeof menu_id, "MENU-%08d", first + i);
        assert_string_equal (s_record.seen [i], menu_id);
    }
    pthread_mutex_unlock (&s_record.lock);
}

//  Publishes MENU-<first> .. MENU-<last>, version 1.
static void
s_publish_menus (fixture_t *fx, int first, int last)
{
    for (int i = first; i <= last; i++) {
        char menu_id [EVENT_ID_MAX];
        snprintf (menu_id, sizeof menu_id, "MENU-%08d", i);
        s_publish_menu (fx, menu_id, 1);
    }
}

//  Reads an int of the record under its lock.
static int
s_read (const int *field)
{
    pthread_mutex_lock (&s_record.lock);
    int value = *field;
    pthread_mutex_unlock (&s_record.lock);
    return value;
}

//  Events already in the log go through in one turn: one flush, one
//  commit, and a new run has nothing left to do.
static void
test_batch_one_flush (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    s_publish_menus (fx, 1, 10);
    zactor_t *sink = zactor_new (s_batch_actor, &fx->args);
    assert_non_null (sink);
    assert_int_equal (s_wait_count (10), 10);
    zclock_sleep (300);
    s_assert_seen (1, 10);
    assert_int_equal (s_read (&s_record.attempts), 10);
    assert_int_equal (s_read (&s_record.flushes), 1);
    zactor_destroy (&sink);
    //  Committed once, past all ten
    s_publish_menus (fx, 11, 12);
    sink = zactor_new (s_batch_actor, &fx->args);
    assert_non_null (sink);
    assert_int_equal (s_wait_count (12), 12);
    zclock_sleep (300);
    s_assert_seen (1, 12);
    assert_int_equal (s_read (&s_record.attempts), 12);
    zactor_destroy (&sink);
}

//  A flush that fails keeps every event of its turn: they are tried again
//  one by one, in order, each once more; then turns take several again.
static void
test_batch_flush_failure (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    pthread_mutex_lock (&s_record.lock);
    s_record.flush_fail_left = 1;
    pthread_mutex_unlock (&s_record.lock);
    s_publish_menus (fx, 1, 5);
    zactor_t *sink = zactor_new (s_batch_actor, &fx->args);
    assert_non_null (sink);
    assert_int_equal (s_wait_count (5), 5);
    zclock_sleep (300);
    s_assert_seen (1, 5);
    assert_int_equal (s_read (&s_record.attempts), 10);    //  5 refused with the flush, 5 again
    assert_int_equal (s_read (&s_record.flushes), 6);      //  the failed one, then one each
    assert_int_equal (metrics_gauge_get (fx->metrics, GAUGE_PROJECTION_UP), 1);
    //  Past the failed turn, turns take several at once again: three
    //  published in one transaction while the sink is idle go in one turn
    eventlog_msg_t msgs [3];
    event_menu_t menus [3];
    char *json [3];
    for (int i = 0; i < 3; i++) {
        menus [i] = (event_menu_t) { .menu_price = 1000, .shown = true, .version = 1 };
        snprintf (menus [i].menu_id, sizeof menus [i].menu_id, "MENU-%08d", 6 + i);
        snprintf (menus [i].menu_nm, sizeof menus [i].menu_nm, "menu %d", 6 + i);
        json [i] = event_menu_envelope (&menus [i], util_now_ms (0));
        assert_non_null (json [i]);
        msgs [i] = (eventlog_msg_t) { .key = menus [i].menu_id, .payload = json [i],
                                      .len = strlen (json [i]) };
    }
    assert_int_equal (eventlog_publish (fx->producer, msgs, 3, 5000), 3);
    for (int i = 0; i < 3; i++)
        zstr_free (&json [i]);
    assert_int_equal (s_wait_count (8), 8);
    zclock_sleep (300);
    s_assert_seen (1, 8);
    assert_int_equal (s_read (&s_record.flushes), 7);
    zactor_destroy (&sink);
}

//  A handler that fails inside a turn: the events before it are flushed
//  and committed, so a new run starts at the failed one.
static void
test_batch_handler_failure (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    pthread_mutex_lock (&s_record.lock);
    s_record.fail_key = "MENU-00000003";
    s_record.fail_left = 1000000;
    pthread_mutex_unlock (&s_record.lock);
    s_publish_menus (fx, 1, 5);
    zactor_t *sink = zactor_new (s_batch_actor, &fx->args);
    assert_non_null (sink);
    assert_int_equal (s_wait_count (2), 2);
    int64_t until = tk_now_ms () + WAIT_MS;
    while (s_read (&s_record.attempts) < 5 && tk_now_ms () < until)
        zclock_sleep (10);
    assert_true (s_read (&s_record.attempts) >= 5);        //  1, 2, then 3 again and again
    s_assert_seen (1, 2);
    assert_int_equal (metrics_gauge_get (fx->metrics, GAUGE_PROJECTION_UP), 0);
    zactor_destroy (&sink);

    //  A new run starts at MENU-3; once it goes through, 4 and 5 follow
    pthread_mutex_lock (&s_record.lock);
    s_record.fail_left = 1;
    s_record.attempts = 0;
    s_record.flushes = 0;
    pthread_mutex_unlock (&s_record.lock);
    sink = zactor_new (s_batch_actor, &fx->args);
    assert_non_null (sink);
    assert_int_equal (s_wait_count (5), 5);
    zclock_sleep (300);
    s_assert_seen (1, 5);
    //  3 refused (4, 5 not tried behind it), 3 alone, then 4 and 5 in one turn
    assert_int_equal (s_read (&s_record.attempts), 4);
    assert_int_equal (s_read (&s_record.flushes), 3);
    zactor_destroy (&sink);
}

//  A destination that cannot open is a failed start: the actor ends at
//  once and the gauge says 0.
static void
test_failed_start (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    pthread_mutex_lock (&s_record.lock);
    s_record.refuse_open = true;
    pthread_mutex_unlock (&s_record.lock);
    zactor_t *sink = zactor_new (s_test_actor, &fx->args);
    assert_non_null (sink);
    //  The end signal is on the pipe at once.
    zsock_set_rcvtimeo (zactor_sock (sink), 2000);
    assert_int_equal (zsock_wait (zactor_sock (sink)), 0);
    assert_int_equal (metrics_gauge_get (fx->metrics, GAUGE_PROJECTION_UP), 0);
    zactor_destroy (&sink);
}

int
main (void)
{
    log_set_level (LOG_LEVEL_ERROR);
    s_batch_sink = s_test_sink;
    s_batch_sink.name = "batch test sink";
    s_batch_sink.group = "test-batch-sink";
    s_batch_sink.backoff_min_ms = 50;
    s_batch_sink.kinds = s_batch_kinds;
    s_batch_sink.flush = s_flush;
    const struct CMUnitTest tests [] = {
        cmocka_unit_test_setup_teardown (test_kinds_order_and_commit, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_failure_keeps_the_event, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_term_during_backoff, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_failed_start, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_batch_one_flush, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_batch_flush_failure, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_batch_handler_failure, s_setup, s_teardown),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
