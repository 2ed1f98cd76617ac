/*  Tests of the local event log (bridge/eventlog_local.c through eventlog.h):
    the contract every backend passes (tests/eventlog_contract.h), then
    what is local's own: publish/poll/commit/lag with its exact offsets and
    partition 0, durability across reopen in the file the design names,
    independent consumer groups, and a consumer seeing another handle's
    appends at once (inproc wake-up) or within EVENTLOG_LOCAL_POLL_MS.

    ctest bound: COFFEE_TEST_TIMEOUT 240 s. */
#include "testkit.h"
#include <cmocka.h>
#include "coffee.h"
#include "eventlog.h"
#include "eventlog_contract.h"

//  A config whose data dir is a new temporary folder (free with s_cfg_free).
static config_t *
s_cfg_new (void)
{
    char *dir = tk_tempdir ("bridge-local");
    assert_non_null (dir);
    char *argv [] = { "test", "--data-dir", dir, "--bridge", "local", NULL };
    config_t *cfg = (config_t *) calloc (1, sizeof (config_t));
    char err [256] = "";
    int rc = config_load (cfg, 5, argv, err, sizeof err);
    free (dir);
    assert_int_equal (rc, 0);
    return cfg;
}

//  A new data dir with an empty events.db, for the contract.
static int
s_contract_fresh (config_t *cfg, void *arg)
{
    char *dir = tk_tempdir ("bridge-local-contract");
    if (!dir)
        return -1;
    char *argv [] = { "test", "--data-dir", dir, "--bridge", "local", NULL };
    char err [256] = "";
    int rc = config_load (cfg, 5, argv, err, sizeof err);
    free (dir);
    return rc;
}

static const ec_backend_t s_contract = {
    .name = "local",
    .fresh = s_contract_fresh,
    .lag_exact = true,
    .arrive_ms = 1000,
};

//  Publishes one message with key and payload; asserts it was acknowledged.
static void
s_publish (eventlog_t *producer, const char *key, const char *payload)
{
    eventlog_msg_t msg = { key, payload, strlen (payload) };
    assert_int_equal (eventlog_publish (producer, &msg, 1, 1000), 1);
}

//  Polls one event and asserts its key and payload; returns its offset.
static int64_t
s_expect (eventlog_t *consumer, const char *key, const char *payload)
{
    eventlog_event_t ev = { 0 };
    assert_int_equal (eventlog_poll (consumer, &ev, 1000), 1);
    assert_string_equal (ev.key, key);
    assert_string_equal (ev.payload, payload);
    assert_int_equal (ev.len, strlen (payload));
    assert_int_equal (ev.partition, 0);
    int64_t offset = ev.offset;
    eventlog_event_reset (&ev);
    return offset;
}

//  Events come in publish order, commit moves the position, lag follows it.
static void
test_publish_poll_commit_lag (void **state)
{
    config_t *cfg = s_cfg_new ();
    char err [256] = "";
    eventlog_t *producer = eventlog_producer_new (cfg, err, sizeof err);
    assert_non_null (producer);
    eventlog_t *consumer = eventlog_consumer_new (cfg, "g1", err, sizeof err);
    assert_non_null (consumer);
    assert_int_equal (eventlog_lag (consumer), 0);

    eventlog_event_t ev = { 0 };
    assert_int_equal (eventlog_poll (consumer, &ev, 0), 0);

    eventlog_msg_t msgs [3] = {
        { "ORD-1", "{\"n\":1}", 7 }, { "ORD-2", "{\"n\":2}", 7 }, { "ORD-3", "{\"n\":3}", 7 }
    };
    assert_int_equal (eventlog_publish (producer, msgs, 3, 1000), 3);
    assert_int_equal (eventlog_publish (producer, msgs, 0, 1000), 0);
    assert_int_equal (eventlog_lag (consumer), 3);

    int64_t o1 = s_expect (consumer, "ORD-1", "{\"n\":1}");
    assert_int_equal (eventlog_poll (consumer, &ev, 1000), 1);
    assert_string_equal (ev.key, "ORD-2");
    assert_true (ev.offset > o1);
    //  Polling does not move the committed position; commit does
    assert_int_equal (eventlog_lag (consumer), 3);
    assert_int_equal (eventlog_commit (consumer, &ev), 0);
    assert_int_equal (eventlog_lag (consumer), 1);
    eventlog_event_reset (&ev);
    assert_null (ev.payload);
    s_expect (consumer, "ORD-3", "{\"n\":3}");
    assert_int_equal (eventlog_poll (consumer, &ev, 50), 0);

    eventlog_destroy (&consumer);
    eventlog_destroy (&producer);
    assert_null (producer);
    eventlog_destroy (&producer);       //  safe twice
    free (cfg);
}

//  What was published and committed survives closing every handle.
static void
test_durable_across_reopen (void **state)
{
    config_t *cfg = s_cfg_new ();
    char err [256] = "";
    eventlog_t *producer = eventlog_producer_new (cfg, err, sizeof err);
    assert_non_null (producer);
    s_publish (producer, "ORD-A", "a");
    s_publish (producer, "ORD-B", "b");
    s_publish (producer, "ORD-C", "c");
    eventlog_destroy (&producer);

    eventlog_t *consumer = eventlog_consumer_new (cfg, "g", err, sizeof err);
    assert_non_null (consumer);
    eventlog_event_t ev = { 0 };
    assert_int_equal (eventlog_poll (consumer, &ev, 1000), 1);
    assert_string_equal (ev.key, "ORD-A");
    assert_int_equal (eventlog_commit (consumer, &ev), 0);
    eventlog_event_reset (&ev);
    //  Read but not committed: comes again after a reopen
    s_expect (consumer, "ORD-B", "b");
    eventlog_destroy (&consumer);

    consumer = eventlog_consumer_new (cfg, "g", err, sizeof err);
    assert_non_null (consumer);
    assert_int_equal (eventlog_lag (consumer), 2);
    s_expect (consumer, "ORD-B", "b");
    s_expect (consumer, "ORD-C", "c");
    eventlog_destroy (&consumer);

    //  The file is where the design says
    char path [700];
    snprintf (path, sizeof path, "%s/events.db", cfg->data_dir);
    assert_int_equal (access (path, R_OK), 0);
    free (cfg);
}

//  Two groups each get every event and keep their own positions.
static void
test_groups_independent (void **state)
{
    config_t *cfg = s_cfg_new ();
    char err [256] = "";
    eventlog_t *producer = eventlog_producer_new (cfg, err, sizeof err);
    eventlog_t *display = eventlog_consumer_new (cfg, "display-service", err, sizeof err);
    eventlog_t *collector = eventlog_consumer_new (cfg, "data-collector", err, sizeof err);
    assert_non_null (producer);
    assert_non_null (display);
    assert_non_null (collector);
    for (int i = 0; i < 10; i++) {
        char key [32];
        snprintf (key, sizeof key, "ORD-%d", i);
        s_publish (producer, key, key);
    }
    eventlog_event_t ev = { 0 };
    for (int i = 0; i < 10; i++) {
        char key [32];
        snprintf (key, sizeof key, "ORD-%d", i);
        assert_int_equal (eventlog_poll (display, &ev, 1000), 1);
        assert_string_equal (ev.key, key);
        assert_int_equal (eventlog_commit (display, &ev), 0);
        eventlog_event_reset (&ev);
    }
    assert_int_equal (eventlog_lag (display), 0);
    assert_int_equal (eventlog_lag (collector), 10);
    s_expect (collector, "ORD-0", "ORD-0");
    eventlog_destroy (&collector);
    collector = eventlog_consumer_new (cfg, "data-collector", err, sizeof err);
    s_expect (collector, "ORD-0", "ORD-0");
    eventlog_destroy (&collector);
    eventlog_destroy (&display);
    eventlog_destroy (&producer);
    //  A consumer needs a group
    assert_null (eventlog_consumer_new (cfg, "", err, sizeof err));
    free (cfg);
}

//  Arguments of the publisher thread below.
typedef struct {
    const config_t *cfg;        //  where the log is
    int delay_ms;               //  wait before publishing
} s_pub_args_t;

//  Publishes one event after a delay, from its own thread and handle.
static void *
s_late_publisher (void *arg)
{
    s_pub_args_t *args = (s_pub_args_t *) arg;
    char err [256] = "";
    eventlog_t *producer = eventlog_producer_new (args->cfg, err, sizeof err);
    zclock_sleep (args->delay_ms);
    eventlog_msg_t msg = { "ORD-LATE", "late", 4 };
    if (producer)
        eventlog_publish (producer, &msg, 1, 1000);
    eventlog_destroy (&producer);
    return NULL;
}

//  A consumer waiting in poll wakes at once for an append of this process,
//  and within EVENTLOG_LOCAL_POLL_MS for one it cannot be woken for (a
//  second producer, as another process would be).
static void
test_other_handle_sees_appends (void **state)
{
    config_t *cfg = s_cfg_new ();
    char err [256] = "";
    eventlog_t *consumer = eventlog_consumer_new (cfg, "g", err, sizeof err);
    assert_non_null (consumer);

    //  Same process: woken through inproc, well before the poll slice
    //  would end (a missing wake shows as took >= EVENTLOG_LOCAL_POLL_MS)
    pthread_t thread;
    s_pub_args_t args = { cfg, 40 };
    int64_t start = tk_now_ms ();
    assert_int_equal (pthread_create (&thread, NULL, s_late_publisher, &args), 0);
    eventlog_event_t ev = { 0 };
    int rc = eventlog_poll (consumer, &ev, 3000);
    int64_t took = tk_now_ms () - start;
    pthread_join (thread, NULL);
    assert_int_equal (rc, 1);
    assert_string_equal (ev.key, "ORD-LATE");
    assert_true (took < EVENTLOG_LOCAL_POLL_MS - 20);
    eventlog_event_reset (&ev);

    //  Another handle that cannot wake us: a producer holding the endpoint
    //  makes the second one fall back to file polling only
    eventlog_t *holder = eventlog_producer_new (cfg, err, sizeof err);
    eventlog_t *other = eventlog_producer_new (cfg, err, sizeof err);
    assert_non_null (holder);
    assert_non_null (other);
    assert_int_equal (eventlog_poll (consumer, &ev, 0), 0);
    s_publish (other, "ORD-OTHER", "other");
    start = tk_now_ms ();
    assert_int_equal (eventlog_poll (consumer, &ev, 3000), 1);
    took = tk_now_ms () - start;
    assert_string_equal (ev.key, "ORD-OTHER");
    assert_true (took <= EVENTLOG_LOCAL_POLL_MS + 150);
    eventlog_event_reset (&ev);

    //  A second consumer handle of the same group sees the committed position
    eventlog_t *twin = eventlog_consumer_new (cfg, "g", err, sizeof err);
    assert_non_null (twin);
    assert_int_equal (eventlog_lag (twin), 2);

    eventlog_destroy (&twin);
    eventlog_destroy (&other);
    eventlog_destroy (&holder);
    eventlog_destroy (&consumer);
    free (cfg);
}

//  An unknown backend is refused with a message.
static void
test_unknown_backend (void **state)
{
    config_t *cfg = s_cfg_new ();
    snprintf (cfg->bridge, sizeof cfg->bridge, "carrier-pigeon");
    char err [256] = "";
    assert_null (eventlog_producer_new (cfg, err, sizeof err));
    assert_true (strstr (err, "carrier-pigeon") != NULL);
    free (cfg);
}

int
main (void)
{
    log_set_level (LOG_LEVEL_WARN);
    ec_backend = &s_contract;
    const struct CMUnitTest tests [] = {
        EC_TESTS,
        cmocka_unit_test (test_publish_poll_commit_lag),
        cmocka_unit_test (test_durable_across_reopen),
        cmocka_unit_test (test_groups_independent),
        cmocka_unit_test (test_other_handle_sees_appends),
        cmocka_unit_test (test_unknown_backend),
    };
    int rc = cmocka_run_group_tests (tests, NULL, NULL);
    zsys_shutdown ();
    return rc;
}
