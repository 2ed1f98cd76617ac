/*  eventlog_contract — the contract every event-log backend passes, through
    the public eventlog API only. test_bridge_local, test_bridge_kafka and
    test_bridge_nats each describe their backend in an ec_backend_t and run
    every case below on it (ec_tests); their own files keep the tests only
    one backend can run (local's wake-up timing, Kafka's partitions).

    The contract:
      - publish returns how many messages from the start were acknowledged;
        0 messages give 0;
      - a group receives every event at least once, and each key's events
        in publish order; with a commit after each event, exactly once;
      - polling does not move the group's position, commit does; what a
        handle polled and did not commit is delivered again to the next
        handle of the group, and what it committed is not;
      - what was published and committed survives closing every handle;
      - groups are independent: each gets everything, with its own position;
      - lag is the number of events after the group's committed position
        (exactly, at any time, when the backend says lag_exact; otherwise
        it is 0 once the group has settled and committed everything);
      - with the log unreachable (backends that can be): handles are still
        made, publish gives -1 within its timeout (+2 s), poll gives no
        event, destroy returns within 10 s;
      - with the log down while publishing (backends that can be stopped):
        publish fails in bounded time, and once the log is back the
        acknowledged events and the retried rest are all delivered, in key
        order, none twice.

    Header-only (static functions) so each test links only its backend's
    layer; include after testkit.h and <cmocka.h>. */
#ifndef EVENTLOG_CONTRACT_H_INCLUDED
#define EVENTLOG_CONTRACT_H_INCLUDED

#include "coffee.h"
#include "eventlog.h"

#define EC_KEYS              12          //  distinct order numbers in keyed cases
#define EC_MAX_EVENTS        1024        //  ids a case may use
#define EC_PUBLISH_MS        5000        //  one publish call while the log is up
#define EC_QUIET_MS          3000        //  "nothing more arrives" window

//  One backend as the contract sees it.
typedef struct {
    const char *name;               //  for messages
    //  Fills cfg for a new, empty log of this backend (its own data dir,
    //  broker, topic or stream). Returns 0 or -1.
    int (*fresh) (config_t *cfg, void *arg);
    //  Frees what fresh made (NULL: nothing to free).
    void (*release) (config_t *cfg, void *arg);
    //  Fills cfg for a log nobody answers on (NULL: the backend cannot be
    //  unreachable, e.g. local).
    int (*unreachable) (config_t *cfg, void *arg);
    //  Stops and restarts the log made by the last fresh (NULL: cannot be
    //  stopped). Return 0 or -1.
    int (*down) (void *arg);
    int (*up) (void *arg);
    void *arg;                      //  passed to the functions above
    bool lag_exact;                 //  eventlog_lag is exact at any time
    int arrive_ms;                  //  how long an event may take to reach a poll
                                    //  (a Kafka group join takes seconds)
} ec_backend_t;

//  The backend the cases run on: set by ec_tests' caller before running.
static const ec_backend_t *ec_backend;

//  What a consumer saw, per event id.
typedef struct {
    int seen [EC_MAX_EVENTS];       //  times each id was received
    int last_seq [EC_KEYS];         //  last seq received per key, -1 none
    int order_errors;               //  first deliveries before an earlier seq of their key
    int foreign;                    //  payloads that were not ours
    int total;                      //  events received, duplicates included
} ec_seen_t;

//  An event of the keyed cases: key = id % EC_KEYS, seq = id / EC_KEYS.
typedef struct {
    char key [EVENT_ID_MAX];        //  order number
    char payload [128];             //  JSON body
    eventlog_msg_t msg;             //  points into the two above
} ec_event_t;

//  A fresh config of the backend under test (free with ec_cfg_free).
static config_t *
ec_cfg_new (void)
{
    config_t *cfg = (config_t *) calloc (1, sizeof (config_t));
    assert_non_null (cfg);
    if (ec_backend->fresh (cfg, ec_backend->arg) != 0) {
        free (cfg);
        fail_msg ("%s: could not make a fresh log", ec_backend->name);
    }
    return cfg;
}

//  Releases a config made by ec_cfg_new.
static void
ec_cfg_free (config_t *cfg)
{
    if (ec_backend->release)
        ec_backend->release (cfg, ec_backend->arg);
    free (cfg);
}

//  A producer of cfg; asserts it was made.
static eventlog_t *
ec_producer (const config_t *cfg)
{
    char err [256] = "";
    eventlog_t *producer = eventlog_producer_new (cfg, err, sizeof err);
    if (!producer)
        fail_msg ("%s producer: %s", ec_backend->name, err);
    return producer;
}

//  A consumer of group on cfg; asserts it was made.
static eventlog_t *
ec_consumer (const config_t *cfg, const char *group)
{
    char err [256] = "";
    eventlog_t *consumer = eventlog_consumer_new (cfg, group, err, sizeof err);
    if (!consumer)
        fail_msg ("%s consumer %s: %s", ec_backend->name, group, err);
    return consumer;
}

//  Polls until an event comes or the backend's arrive_ms passes; returns
//  what the last poll returned (1 with ev filled).
static int
ec_poll_one (eventlog_t *consumer, eventlog_event_t *ev)
{
    int64_t deadline = tk_now_ms () + ec_backend->arrive_ms;
    int rc;
    do
        rc = eventlog_poll (consumer, ev, 200);
    while (rc != 1 && tk_now_ms () < deadline);
    return rc;
}

//  Polls one event and asserts its key and payload; returns its offset.
static int64_t
ec_expect (eventlog_t *consumer, const char *key, const char *payload)
{
    eventlog_event_t ev = { 0 };
    assert_int_equal (ec_poll_one (consumer, &ev), 1);
    assert_string_equal (ev.key, key);
    assert_string_equal (ev.payload, payload);
    assert_int_equal (ev.len, strlen (payload));
    int64_t offset = ev.offset;
    eventlog_event_reset (&ev);
    return offset;
}

//  Asserts the lag of consumer is expected, when the backend's lag is exact.
static void
ec_expect_lag (eventlog_t *consumer, int64_t expected)
{
    if (ec_backend->lag_exact)
        assert_int_equal (eventlog_lag (consumer), expected);
}

//  Publishes one message and asserts it was acknowledged.
static void
ec_publish (eventlog_t *producer, const char *key, const char *payload)
{
    eventlog_msg_t msg = { key, payload, strlen (payload) };
    assert_int_equal (eventlog_publish (producer, &msg, 1, EC_PUBLISH_MS), 1);
}

//  Fills events [from, to) of bufs.
static void
ec_make_events (ec_event_t *bufs, int from, int to)
{
    for (int id = from; id < to; id++) {
        ec_event_t *buf = &bufs [id];
        snprintf (buf->key, sizeof buf->key, "ORD-%08d", id % EC_KEYS + 1);
        snprintf (buf->payload, sizeof buf->payload,
                  "{\"orderNo\":\"ORD-%08d\",\"id\":%d,\"seq\":%d}", id % EC_KEYS + 1, id,
                  id / EC_KEYS);
        buf->msg.key = buf->key;
        buf->msg.payload = buf->payload;
        buf->msg.len = strlen (buf->payload);
    }
}

//  Publishes events [from, to) the way the relay does: retries from the
//  first unacknowledged one until all are acknowledged or timeout_ms
//  passes. Returns the index reached (to when all are acknowledged).
static int
ec_publish_range (eventlog_t *producer, ec_event_t *bufs, int from, int to, int timeout_ms)
{
    static eventlog_msg_t msgs [EC_MAX_EVENTS];
    for (int id = from; id < to; id++)
        msgs [id] = bufs [id].msg;
    int next = from;
    int64_t deadline = tk_now_ms () + timeout_ms;
    while (next < to && tk_now_ms () < deadline) {
        int rc = eventlog_publish (producer, msgs + next, (size_t) (to - next), EC_PUBLISH_MS);
        if (rc > 0)
            next += rc;
        else
            zclock_sleep (50);
    }
    return next;
}

//  A fresh ec_seen_t.
static void
ec_seen_init (ec_seen_t *seen)
{
    memset (seen, 0, sizeof *seen);
    for (int k = 0; k < EC_KEYS; k++)
        seen->last_seq [k] = -1;
}

//  Records one received event in seen; returns its id or -1 if foreign.
static int
ec_record (ec_seen_t *seen, const eventlog_event_t *ev)
{
    seen->total++;
    cJSON *json = cJSON_ParseWithLength (ev->payload, ev->len);
    cJSON *id_item = cJSON_GetObjectItemCaseSensitive (json, "id");
    cJSON *seq_item = cJSON_GetObjectItemCaseSensitive (json, "seq");
    int id = cJSON_IsNumber (id_item) ? id_item->valueint : -1;
    int seq = cJSON_IsNumber (seq_item) ? seq_item->valueint : -1;
    cJSON_Delete (json);
    if (id < 0 || id >= EC_MAX_EVENTS || seq != id / EC_KEYS) {
        seen->foreign++;
        return -1;
    }
    char key [EVENT_ID_MAX];
    snprintf (key, sizeof key, "ORD-%08d", id % EC_KEYS + 1);
    if (!ev->key || strcmp (ev->key, key) != 0) {
        seen->foreign++;
        return -1;
    }
    //  A redelivery may repeat an old seq; a first delivery must not jump back.
    if (getenv ("COFFEE_TEST_VERBOSE"))
        fprintf (stderr, "again: id %d at %d/%" PRId64 "\n", id, ev->partition, ev->offset);
    if (seen->seen [id] == 0 && seq < seen->last_seq [id % EC_KEYS])
        seen->order_errors++;
    if (seq > seen->last_seq [id % EC_KEYS])
        seen->last_seq [id % EC_KEYS] = seq;
    seen->seen [id]++;
    return id;
}

//  How many ids of [from, to) seen has at least once.
static int
ec_seen_count (const ec_seen_t *seen, int from, int to)
{
    int count = 0;
    for (int id = from; id < to; id++)
        if (seen->seen [id] > 0)
            count++;
    return count;
}

//  Polls consumer into seen until every id of [from, to) was seen or
//  timeout_ms passes; commits each event after recording it when commit.
//  Returns how many of [from, to) were seen.
static int
ec_consume (eventlog_t *consumer, ec_seen_t *seen, int from, int to, bool commit,
            int timeout_ms)
{
    int64_t deadline = tk_now_ms () + timeout_ms;
    while (ec_seen_count (seen, from, to) < to - from && tk_now_ms () < deadline) {
        eventlog_event_t ev = { 0 };
        if (eventlog_poll (consumer, &ev, 200) == 1) {
            ec_record (seen, &ev);
            if (commit && eventlog_commit (consumer, &ev) != 0)
                fprintf (stderr, "commit of %d/%" PRId64 " failed\n", ev.partition, ev.offset);
            eventlog_event_reset (&ev);
        }
    }
    return ec_seen_count (seen, from, to);
}

//  Polls for quiet_ms and returns how many events arrived (recorded in seen).
static int
ec_consume_quiet (eventlog_t *consumer, ec_seen_t *seen, int quiet_ms)
{
    int before = seen->total;
    int64_t deadline = tk_now_ms () + quiet_ms;
    while (tk_now_ms () < deadline) {
        eventlog_event_t ev = { 0 };
        if (eventlog_poll (consumer, &ev, 100) == 1) {
            ec_record (seen, &ev);
            eventlog_event_reset (&ev);
        }
    }
    return seen->total - before;
}

//  Events of one key come in publish order; commit moves the position,
//  polling does not; lag follows the commits.
static void
ec_test_publish_poll_commit_lag (void **state)
{
    config_t *cfg = ec_cfg_new ();
    eventlog_t *producer = ec_producer (cfg);
    eventlog_t *consumer = ec_consumer (cfg, "g1");
    ec_expect_lag (consumer, 0);

    eventlog_event_t ev = { 0 };
    assert_true (eventlog_poll (consumer, &ev, 0) <= 0);
    assert_null (ev.payload);

    eventlog_msg_t msgs [3] = {
        { "ORD-1", "{\"n\":1}", 7 }, { "ORD-1", "{\"n\":2}", 7 }, { "ORD-1", "{\"n\":3}", 7 }
    };
    assert_int_equal (eventlog_publish (producer, msgs, 3, EC_PUBLISH_MS), 3);
    assert_int_equal (eventlog_publish (producer, msgs, 0, EC_PUBLISH_MS), 0);
    ec_expect_lag (consumer, 3);

    int64_t o1 = ec_expect (consumer, "ORD-1", "{\"n\":1}");
    assert_int_equal (ec_poll_one (consumer, &ev), 1);
    assert_string_equal (ev.payload, "{\"n\":2}");
    assert_true (ev.offset > o1);
    //  Polling does not move the committed position; commit does
    ec_expect_lag (consumer, 3);
    assert_int_equal (eventlog_commit (consumer, &ev), 0);
    ec_expect_lag (consumer, 1);
    eventlog_event_reset (&ev);
    assert_null (ev.payload);
    assert_int_equal (ec_poll_one (consumer, &ev), 1);
    assert_string_equal (ev.payload, "{\"n\":3}");
    assert_int_equal (eventlog_commit (consumer, &ev), 0);
    eventlog_event_reset (&ev);
    assert_true (eventlog_poll (consumer, &ev, 50) <= 0);
    ec_expect_lag (consumer, 0);

    eventlog_destroy (&consumer);
    eventlog_destroy (&producer);
    assert_null (producer);
    eventlog_destroy (&producer);       //  safe twice
    ec_cfg_free (cfg);
}

//  What was published and committed survives closing every handle; what a
//  handle polled and did not commit comes again to the next one.
static void
ec_test_durable_across_reopen (void **state)
{
    config_t *cfg = ec_cfg_new ();
    eventlog_t *producer = ec_producer (cfg);
    ec_publish (producer, "ORD-A", "a");
    ec_publish (producer, "ORD-A", "b");
    ec_publish (producer, "ORD-A", "c");
    eventlog_destroy (&producer);

    eventlog_t *consumer = ec_consumer (cfg, "g");
    eventlog_event_t ev = { 0 };
    assert_int_equal (ec_poll_one (consumer, &ev), 1);
    assert_string_equal (ev.payload, "a");
    assert_int_equal (eventlog_commit (consumer, &ev), 0);
    eventlog_event_reset (&ev);
    //  Read but not committed: comes again after a reopen
    ec_expect (consumer, "ORD-A", "b");
    eventlog_destroy (&consumer);

    consumer = ec_consumer (cfg, "g");
    ec_expect_lag (consumer, 2);
    ec_expect (consumer, "ORD-A", "b");
    assert_int_equal (ec_poll_one (consumer, &ev), 1);
    assert_string_equal (ev.payload, "c");
    assert_int_equal (eventlog_commit (consumer, &ev), 0);
    eventlog_event_reset (&ev);
    eventlog_destroy (&consumer);

    //  Everything committed: a new handle of the group gets nothing
    consumer = ec_consumer (cfg, "g");
    ec_expect_lag (consumer, 0);
    static ec_seen_t seen;
    ec_seen_init (&seen);
    assert_int_equal (ec_consume_quiet (consumer, &seen, EC_QUIET_MS), 0);
    eventlog_destroy (&consumer);
    ec_cfg_free (cfg);
}

//  Two groups each get every event and keep their own positions.
static void
ec_test_groups_independent (void **state)
{
    config_t *cfg = ec_cfg_new ();
    eventlog_t *producer = ec_producer (cfg);
    eventlog_t *display = ec_consumer (cfg, "display-service");
    eventlog_t *collector = ec_consumer (cfg, "data-collector");
    for (int i = 0; i < 10; i++) {
        char payload [32];
        snprintf (payload, sizeof payload, "E-%d", i);
        ec_publish (producer, "ORD-G", payload);
    }
    eventlog_event_t ev = { 0 };
    for (int i = 0; i < 10; i++) {
        char payload [32];
        snprintf (payload, sizeof payload, "E-%d", i);
        assert_int_equal (ec_poll_one (display, &ev), 1);
        assert_string_equal (ev.payload, payload);
        assert_int_equal (eventlog_commit (display, &ev), 0);
        eventlog_event_reset (&ev);
    }
    assert_int_equal (eventlog_lag (display), 0);
    ec_expect_lag (collector, 10);
    ec_expect (collector, "ORD-G", "E-0");
    eventlog_destroy (&collector);
    collector = ec_consumer (cfg, "data-collector");
    ec_expect (collector, "ORD-G", "E-0");
    eventlog_destroy (&collector);
    eventlog_destroy (&display);
    eventlog_destroy (&producer);
    //  A consumer needs a group
    char err [256] = "";
    assert_null (eventlog_consumer_new (cfg, "", err, sizeof err));
    assert_true (strlen (err) > 0);
    ec_cfg_free (cfg);
}

//  Many keys interleaved: a group gets everything once and in per-key
//  order when it commits; the next handle resumes after the commits; what
//  a handle did not commit comes again; a second group sees it all.
static void
ec_test_keyed_commit_resume (void **state)
{
    int drain_ms = ec_backend->arrive_ms + 30000;
    config_t *cfg = ec_cfg_new ();
    static ec_event_t bufs [EC_MAX_EVENTS];
    ec_make_events (bufs, 0, 90);
    eventlog_t *producer = ec_producer (cfg);
    assert_int_equal (ec_publish_range (producer, bufs, 0, 60, 30000), 60);

    //  A: everything once, in per-key order; commits after each.
    static ec_seen_t seen;
    ec_seen_init (&seen);
    eventlog_t *consumer = ec_consumer (cfg, "display-service");
    assert_int_equal (ec_consume (consumer, &seen, 0, 60, true, drain_ms), 60);
    assert_int_equal (ec_consume_quiet (consumer, &seen, 1000), 0);
    for (int id = 0; id < 60; id++)
        assert_int_equal (seen.seen [id], 1);
    assert_int_equal (seen.order_errors, 0);
    assert_int_equal (seen.foreign, 0);
    assert_int_equal (eventlog_lag (consumer), 0);
    eventlog_destroy (&consumer);
    assert_null (consumer);

    //  B resumes after A's commits: only the new 30; it commits nothing.
    assert_int_equal (ec_publish_range (producer, bufs, 60, 90, 30000), 90);
    ec_seen_init (&seen);
    consumer = ec_consumer (cfg, "display-service");
    assert_int_equal (ec_consume (consumer, &seen, 60, 90, false, drain_ms), 30);
    ec_consume_quiet (consumer, &seen, 1000);
    assert_int_equal (ec_seen_count (&seen, 0, 60), 0);
    assert_int_equal (seen.total, 30);
    assert_int_equal (seen.order_errors, 0);
    eventlog_destroy (&consumer);

    //  C gets B's uncommitted 30 again and commits them.
    ec_seen_init (&seen);
    consumer = ec_consumer (cfg, "display-service");
    assert_int_equal (ec_consume (consumer, &seen, 60, 90, true, drain_ms), 30);
    ec_consume_quiet (consumer, &seen, 1000);
    assert_int_equal (seen.total, 30);
    assert_int_equal (seen.order_errors, 0);
    eventlog_destroy (&consumer);

    //  D: nothing left for the group.
    ec_seen_init (&seen);
    consumer = ec_consumer (cfg, "display-service");
    assert_int_equal (ec_consume_quiet (consumer, &seen, EC_QUIET_MS * 2), 0);
    ec_expect_lag (consumer, 0);
    eventlog_destroy (&consumer);

    //  Another group sees all 90 on its own, once each, in key order.
    ec_seen_init (&seen);
    consumer = ec_consumer (cfg, "data-collector");
    assert_int_equal (ec_consume (consumer, &seen, 0, 90, true, drain_ms), 90);
    assert_int_equal (ec_consume_quiet (consumer, &seen, 1000), 0);
    assert_int_equal (seen.total, 90);
    assert_int_equal (seen.order_errors, 0);
    eventlog_destroy (&consumer);
    eventlog_destroy (&producer);
    ec_cfg_free (cfg);
}

//  A log nobody answers on: handles are made, publish gives -1 in bounded
//  time, poll gives no event, destroy is bounded.
static void
ec_test_unreachable (void **state)
{
    if (!ec_backend->unreachable) {
        print_message ("%s cannot be unreachable: nothing to test\n", ec_backend->name);
        return;
    }
    config_t cfg;
    memset (&cfg, 0, sizeof cfg);
    assert_int_equal (ec_backend->unreachable (&cfg, ec_backend->arg), 0);
    eventlog_t *producer = ec_producer (&cfg);
    eventlog_msg_t msg = { "ORD-00000001", "{}", 2 };
    int64_t started = tk_now_ms ();
    assert_int_equal (eventlog_publish (producer, &msg, 1, 1500), -1);
    assert_true (tk_now_ms () - started < 1500 + 2000);
    started = tk_now_ms ();
    eventlog_destroy (&producer);
    assert_true (tk_now_ms () - started < 10000);

    eventlog_t *consumer = ec_consumer (&cfg, "display-service");
    eventlog_event_t ev = { 0 };
    started = tk_now_ms ();
    assert_true (eventlog_poll (consumer, &ev, 500) <= 0);
    assert_true (tk_now_ms () - started < 500 + 2000);
    assert_null (ev.payload);
    started = tk_now_ms ();
    eventlog_destroy (&consumer);
    assert_true (tk_now_ms () - started < 10000);
}

//  The log down while publishing: publish fails in bounded time with -1 or
//  a prefix; once it is back, the acknowledged events and the retried rest
//  are all delivered, in key order, none twice.
static void
ec_test_down_while_publishing (void **state)
{
    if (!ec_backend->down) {
        print_message ("%s cannot be stopped: nothing to test\n", ec_backend->name);
        return;
    }
    config_t *cfg = ec_cfg_new ();
    static ec_event_t bufs [EC_MAX_EVENTS];
    ec_make_events (bufs, 0, EC_MAX_EVENTS);
    eventlog_t *producer = ec_producer (cfg);
    static eventlog_msg_t msgs [EC_MAX_EVENTS];
    for (int id = 0; id < EC_MAX_EVENTS; id++)
        msgs [id] = bufs [id].msg;

    int acked = ec_publish_range (producer, bufs, 0, 24, 30000);
    assert_int_equal (acked, 24);
    assert_int_equal (ec_backend->down (ec_backend->arg), 0);

    //  Down for about 6 s: new events keep coming, publish keeps failing.
    int produced = acked;
    int failures = 0;
    int64_t down_until = tk_now_ms () + 6000;
    while (tk_now_ms () < down_until) {
        produced += 8;
        int64_t started = tk_now_ms ();
        int rc = eventlog_publish (producer, msgs + acked, (size_t) (produced - acked), 1000);
        int64_t took = tk_now_ms () - started;
        assert_true (took < 1000 + 2000);
        assert_true (rc == -1 || (rc > 0 && rc <= produced - acked));
        if (rc > 0)
            acked += rc;
        else {
            failures++;
            zclock_sleep (100);
        }
    }
    assert_true (failures > 0);
    assert_int_equal (ec_backend->up (ec_backend->arg), 0);

    //  Up again: the rest goes through.
    assert_int_equal (ec_publish_range (producer, bufs, acked, produced, 60000), produced);
    eventlog_destroy (&producer);

    static ec_seen_t seen;
    ec_seen_init (&seen);
    eventlog_t *consumer = ec_consumer (cfg, "data-collector");
    assert_int_equal (ec_consume (consumer, &seen, 0, produced, true,
                                  ec_backend->arrive_ms + 30000), produced);
    ec_consume_quiet (consumer, &seen, 1000);
    assert_int_equal (seen.foreign, 0);
    assert_int_equal (seen.order_errors, 0);
    for (int id = produced; id < EC_MAX_EVENTS; id++)
        assert_int_equal (seen.seen [id], 0);
    if (seen.total != produced)
        fprintf (stderr, "note: %d duplicates after the outage\n", seen.total - produced);
    assert_int_equal (seen.total, produced);
    eventlog_destroy (&consumer);
    ec_cfg_free (cfg);
}

//  The contract's cases, for cmocka_run_group_tests after setting ec_backend.
#define EC_TESTS                                                \
    cmocka_unit_test (ec_test_publish_poll_commit_lag),         \
    cmocka_unit_test (ec_test_durable_across_reopen),           \
    cmocka_unit_test (ec_test_groups_independent),              \
    cmocka_unit_test (ec_test_keyed_commit_resume),             \
    cmocka_unit_test (ec_test_unreachable),                     \
    cmocka_unit_test (ec_test_down_while_publishing)

#endif
