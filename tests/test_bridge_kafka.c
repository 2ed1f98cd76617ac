/*  test_bridge_kafka — the Kafka event log backend against coffee-mock-broker
    (librdkafka's mock cluster in its own process, over loopback), through
    the public eventlog API with cfg->bridge = "kafka".

    Proves: publish returns the acknowledged prefix; a group receives every
    event exactly once and in per-key order; a consumer that commits after
    processing hands over to the next one with nothing twice and nothing
    lost, and what it did not commit is delivered again; two consumers of a
    group split the partitions; a second group sees everything on its own;
    with the broker down publish fails in bounded time and, once it is up,
    the acknowledged events plus the retried rest are all delivered. First
    it runs the contract every backend passes (tests/eventlog_contract.h),
    each case on a mock broker of its own.

    ctest bound: COFFEE_TEST_TIMEOUT 900 s. */
#include "testkit.h"
#include "mock_broker_kit.h"
#include "coffee.h"
#include "eventlog.h"
#include <cmocka.h>
#include "eventlog_contract.h"

//  The backend under test, named here too so this test fails to link (rather
//  than silently testing nothing) if bridge/eventlog_kafka.c is left out.
extern const eventlog_backend_t eventlog_kafka;

#define TOPIC               "order-events"
#define PARTITIONS          3
#define KEYS                12              //  distinct order numbers
#define MAX_EVENTS          1024            //  ids a test may use
#define PUBLISH_TIMEOUT_MS  5000            //  one publish call when the broker is up
#define DRAIN_TIMEOUT_MS    45000           //  how long a consumer may take to see all
#define QUIET_MS            3000            //  "nothing more arrives" window

//  What a test holds: the broker and the settings pointing at it.
typedef struct {
    mb_t broker;                //  the mock broker process
    config_t cfg;               //  bridge=kafka, brokers, topic
} fixture_t;

//  What a consumer saw, per event id.
typedef struct {
    int seen [MAX_EVENTS];          //  times each id was received
    int last_seq [KEYS];            //  last seq received per key, -1 none
    int partition_of [MAX_EVENTS];  //  partition each id came from
    int order_errors;               //  events that came before an earlier seq of their key
    int foreign;                    //  payloads that were not ours
    int total;                      //  events received, duplicates included
} seen_t;

//  Starts a broker for the test and fills the settings.
static int
s_setup (void **state)
{
    fixture_t *fx = (fixture_t *) calloc (1, sizeof (fixture_t));
    if (!fx || mb_start (&fx->broker, 1, PARTITIONS, TOPIC)) {
        free (fx);
        return -1;
    }
    snprintf (fx->cfg.bridge, sizeof fx->cfg.bridge, "kafka");
    snprintf (fx->cfg.kafka_brokers, sizeof fx->cfg.kafka_brokers, "%s", fx->broker.bootstrap);
    snprintf (fx->cfg.kafka_topic, sizeof fx->cfg.kafka_topic, TOPIC);
    fx->cfg.log_level = LOG_LEVEL_WARN;
    *state = fx;
    return 0;
}

//  Stops the broker by pid.
static int
s_teardown (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    if (fx) {
        int status = mb_stop (&fx->broker, false);
        if (status != 0)
            fprintf (stderr, "mock broker exit status %d\n", status);
        free (fx);
    }
    return 0;
}

//  Event id: key = id % KEYS, seq = id / KEYS, so ids in order interleave
//  the keys and each key's seq grows with its ids.
typedef struct {
    char key [EVENT_ID_MAX];        //  order number
    char payload [128];             //  JSON body
    eventlog_msg_t msg;             //  points into the two above
} event_buf_t;

//  Fills events [from, to) of bufs.
static void
s_make_events (event_buf_t *bufs, int from, int to)
{
    for (int id = from; id < to; id++) {
        event_buf_t *buf = &bufs [id];
        snprintf (buf->key, sizeof buf->key, "ORD-%08d", id % KEYS + 1);
        snprintf (buf->payload, sizeof buf->payload,
                  "{\"orderNo\":\"ORD-%08d\",\"id\":%d,\"seq\":%d}", id % KEYS + 1, id,
                  id / KEYS);
        buf->msg.key = buf->key;
        buf->msg.payload = buf->payload;
        buf->msg.len = strlen (buf->payload);
    }
}

//  Publishes events [from, to) the way the relay does: retries from the
//  first unacknowledged one until all are acknowledged or timeout_ms
//  passes. Returns the index reached (to when all are acknowledged).
static int
s_publish_range (eventlog_t *producer, event_buf_t *bufs, int from, int to, int timeout_ms)
{
    eventlog_msg_t msgs [MAX_EVENTS];
    for (int id = from; id < to; id++)
        msgs [id] = bufs [id].msg;
    int next = from;
    int64_t deadline = tk_now_ms () + timeout_ms;
    while (next < to && tk_now_ms () < deadline) {
        int rc = eventlog_publish (producer, msgs + next, (size_t) (to - next),
                                   PUBLISH_TIMEOUT_MS);
        if (rc > 0)
            next += rc;
    }
    return next;
}

//  Records one received event in seen; returns its id or -1 if foreign.
static int
s_record (seen_t *seen, const eventlog_event_t *ev)
{
    seen->total++;
    cJSON *json = cJSON_ParseWithLength (ev->payload, ev->len);
    cJSON *id_item = cJSON_GetObjectItemCaseSensitive (json, "id");
    cJSON *seq_item = cJSON_GetObjectItemCaseSensitive (json, "seq");
    int id = cJSON_IsNumber (id_item) ? id_item->valueint : -1;
    int seq = cJSON_IsNumber (seq_item) ? seq_item->valueint : -1;
    cJSON_Delete (json);
    char key [EVENT_ID_MAX];
    if (id < 0 || id >= MAX_EVENTS || seq != id / KEYS) {
        seen->foreign++;
        return -1;
    }
    snprintf (key, sizeof key, "ORD-%08d", id % KEYS + 1);
    if (!ev->key || strcmp (ev->key, key) != 0) {
        seen->foreign++;
        return -1;
    }
    //  A redelivery may repeat an old seq; a first delivery must not jump back.
    if (seen->seen [id] == 0 && seq < seen->last_seq [id % KEYS])
        seen->order_errors++;
    if (seq > seen->last_seq [id % KEYS])
        seen->last_seq [id % KEYS] = seq;
    seen->seen [id]++;
    seen->partition_of [id] = ev->partition;
    return id;
}

//  A fresh seen_t.
static void
s_seen_init (seen_t *seen)
{
    memset (seen, 0, sizeof *seen);
    for (int k = 0; k < KEYS; k++)
        seen->last_seq [k] = -1;
}

//  How many ids of [from, to) seen has at least once.
static int
s_seen_count (const seen_t *seen, int from, int to)
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
s_consume (eventlog_t *consumer, seen_t *seen, int from, int to, bool commit, int timeout_ms)
{
    int64_t deadline = tk_now_ms () + timeout_ms;
    while (s_seen_count (seen, from, to) < to - from && tk_now_ms () < deadline) {
        eventlog_event_t ev = { 0 };
        if (eventlog_poll (consumer, &ev, 200) == 1) {
            s_record (seen, &ev);
            if (commit && eventlog_commit (consumer, &ev) != 0)
                fprintf (stderr, "commit of %d/%" PRId64 " failed\n", ev.partition, ev.offset);
            eventlog_event_reset (&ev);
        }
    }
    return s_seen_count (seen, from, to);
}

//  Polls for quiet_ms and returns how many events arrived (recorded in seen).
static int
s_consume_quiet (eventlog_t *consumer, seen_t *seen, int quiet_ms)
{
    int before = seen->total;
    int64_t deadline = tk_now_ms () + quiet_ms;
    while (tk_now_ms () < deadline) {
        eventlog_event_t ev = { 0 };
        if (eventlog_poll (consumer, &ev, 100) == 1) {
            s_record (seen, &ev);
            eventlog_event_reset (&ev);
        }
    }
    return seen->total - before;
}

//  A producer on the fixture's broker.
static eventlog_t *
s_producer (fixture_t *fx)
{
    char err [256] = "";
    eventlog_t *producer = eventlog_producer_new (&fx->cfg, err, sizeof err);
    if (!producer)
        fprintf (stderr, "producer: %s\n", err);
    return producer;
}

//  Makes events 0..count-1 in bufs and a producer on the fixture's broker
//  that has published them all (asserted); returns the producer.
static eventlog_t *
s_published (fixture_t *fx, event_buf_t *bufs, int count)
{
    s_make_events (bufs, 0, count);
    eventlog_t *producer = s_producer (fx);
    assert_non_null (producer);
    assert_int_equal (s_publish_range (producer, bufs, 0, count, 30000), count);
    return producer;
}

//  A consumer of group on the fixture's broker.
static eventlog_t *
s_consumer (fixture_t *fx, const char *group)
{
    char err [256] = "";
    eventlog_t *consumer = eventlog_consumer_new (&fx->cfg, group, err, sizeof err);
    if (!consumer)
        fprintf (stderr, "consumer: %s\n", err);
    return consumer;
}

//  Publish, consume exactly once in key order, commit, resume after the
//  committed position, redeliver what was not committed, second group.
static void
test_consume_commit_resume (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    static event_buf_t bufs [MAX_EVENTS];
    s_make_events (bufs, 0, 90);
    eventlog_t *producer = s_producer (fx);
    assert_non_null (producer);
    assert_int_equal (s_publish_range (producer, bufs, 0, 60, 30000), 60);

    //  A: everything once, in per-key order; commits after each.
    static seen_t seen;
    s_seen_init (&seen);
    eventlog_t *consumer = s_consumer (fx, "display-service");
    assert_non_null (consumer);
    assert_int_equal (s_consume (consumer, &seen, 0, 60, true, DRAIN_TIMEOUT_MS), 60);
    assert_int_equal (s_consume_quiet (consumer, &seen, 1000), 0);
    for (int id = 0; id < 60; id++)
        assert_int_equal (seen.seen [id], 1);
    assert_int_equal (seen.order_errors, 0);
    assert_int_equal (seen.foreign, 0);
    //  Keys spread over more than one partition, each key in one.
    bool partitions_used [PARTITIONS] = { false };
    for (int id = 0; id < 60; id++) {
        assert_in_range (seen.partition_of [id], 0, PARTITIONS - 1);
        assert_int_equal (seen.partition_of [id], seen.partition_of [id % KEYS]);
        partitions_used [seen.partition_of [id]] = true;
    }
    int used = 0;
    for (int p = 0; p < PARTITIONS; p++)
        used += partitions_used [p];
    assert_true (used >= 2);
    //  Everything consumed: no lag left.
    int64_t lag = eventlog_lag (consumer);
    assert_int_equal (lag, 0);
    eventlog_destroy (&consumer);
    assert_null (consumer);

    //  B resumes after A's commits: only the new 30; it commits nothing.
    assert_int_equal (s_publish_range (producer, bufs, 60, 90, 30000), 90);
    s_seen_init (&seen);
    consumer = s_consumer (fx, "display-service");
    assert_non_null (consumer);
    assert_int_equal (s_consume (consumer, &seen, 60, 90, false, DRAIN_TIMEOUT_MS), 30);
    s_consume_quiet (consumer, &seen, 1000);
    assert_int_equal (s_seen_count (&seen, 0, 60), 0);
    assert_int_equal (seen.total, 30);
    eventlog_destroy (&consumer);

    //  C gets B's uncommitted 30 again and commits them.
    s_seen_init (&seen);
    consumer = s_consumer (fx, "display-service");
    assert_non_null (consumer);
    assert_int_equal (s_consume (consumer, &seen, 60, 90, true, DRAIN_TIMEOUT_MS), 30);
    s_consume_quiet (consumer, &seen, 1000);
    assert_int_equal (seen.total, 30);
    eventlog_destroy (&consumer);

    //  D: nothing left for the group.
    s_seen_init (&seen);
    consumer = s_consumer (fx, "display-service");
    assert_non_null (consumer);
    assert_int_equal (s_consume_quiet (consumer, &seen, QUIET_MS * 2), 0);
    eventlog_destroy (&consumer);

    //  Another group sees all 90 on its own, once each, in key order.
    s_seen_init (&seen);
    consumer = s_consumer (fx, "data-collector");
    assert_non_null (consumer);
    assert_int_equal (s_consume (consumer, &seen, 0, 90, true, DRAIN_TIMEOUT_MS), 90);
    assert_int_equal (s_consume_quiet (consumer, &seen, 1000), 0);
    assert_int_equal (seen.total, 90);
    assert_int_equal (seen.order_errors, 0);
    eventlog_destroy (&consumer);
    eventlog_destroy (&producer);
}

//  Two consumers of one group split the partitions and together see all.
static void
test_group_splits_partitions (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    static event_buf_t bufs [MAX_EVENTS];
    s_make_events (bufs, 0, MAX_EVENTS);
    eventlog_t *producer = s_producer (fx);
    assert_non_null (producer);
    eventlog_t *consumers [2] = { s_consumer (fx, "display-service"),
                                  s_consumer (fx, "display-service") };
    assert_non_null (consumers [0]);
    assert_non_null (consumers [1]);
    static seen_t seen [2];
    s_seen_init (&seen [0]);
    s_seen_init (&seen [1]);

    //  Warm up: one event per key per round until both members hold
    //  partitions (both received something), so the main round runs on a
    //  settled group.
    int next = 0;
    int64_t deadline = tk_now_ms () + DRAIN_TIMEOUT_MS;
    while ((seen [0].total == 0 || seen [1].total == 0) && tk_now_ms () < deadline
       &&  next + KEYS <= 600) {
        assert_int_equal (s_publish_range (producer, bufs, next, next + KEYS, 30000),
                          next + KEYS);
        next += KEYS;
        for (int round = 0; round < 5; round++)
            for (int c = 0; c < 2; c++) {
                eventlog_event_t ev = { 0 };
                if (eventlog_poll (consumers [c], &ev, 100) == 1) {
                    s_record (&seen [c], &ev);
                    assert_int_equal (eventlog_commit (consumers [c], &ev), 0);
                    eventlog_event_reset (&ev);
                }
            }
    }
    assert_true (seen [0].total > 0 && seen [1].total > 0);
    //  Drain the warm-up so the main round starts clean.
    int64_t drain_until = tk_now_ms () + DRAIN_TIMEOUT_MS;
    while (tk_now_ms () < drain_until) {
        int have = 0;
        for (int id = 0; id < next; id++)
            have += seen [0].seen [id] + seen [1].seen [id] > 0;
        if (have == next)
            break;
        for (int c = 0; c < 2; c++) {
            eventlog_event_t ev = { 0 };
            if (eventlog_poll (consumers [c], &ev, 100) == 1) {
                s_record (&seen [c], &ev);
                eventlog_commit (consumers [c], &ev);
                eventlog_event_reset (&ev);
            }
        }
    }
    //  Main round: 120 events, each seen exactly once by exactly one member,
    //  each partition's events by one member only.
    int from = next, to = next + 120;
    assert_int_equal (s_publish_range (producer, bufs, from, to, 30000), to);
    deadline = tk_now_ms () + DRAIN_TIMEOUT_MS;
    while (tk_now_ms () < deadline) {
        if (s_seen_count (&seen [0], from, to) + s_seen_count (&seen [1], from, to) >= to - from)
            break;
        for (int c = 0; c < 2; c++) {
            eventlog_event_t ev = { 0 };
            if (eventlog_poll (consumers [c], &ev, 100) == 1) {
                s_record (&seen [c], &ev);
                assert_int_equal (eventlog_commit (consumers [c], &ev), 0);
                eventlog_event_reset (&ev);
            }
        }
    }
    int owner [PARTITIONS] = { -1, -1, -1 };
    int per_member [2] = { 0, 0 };
    for (int id = from; id < to; id++) {
        int times = seen [0].seen [id] + seen [1].seen [id];
        assert_int_equal (times, 1);
        int c = seen [0].seen [id] ? 0 : 1;
        int p = seen [c].partition_of [id];
        assert_in_range (p, 0, PARTITIONS - 1);
        if (owner [p] < 0)
            owner [p] = c;
        assert_int_equal (owner [p], c);
        per_member [c]++;
    }
    assert_true (per_member [0] > 0);
    assert_true (per_member [1] > 0);
    assert_int_equal (seen [0].order_errors + seen [1].order_errors, 0);
    assert_int_equal (seen [0].foreign + seen [1].foreign, 0);
    eventlog_destroy (&consumers [0]);
    eventlog_destroy (&consumers [1]);
    eventlog_destroy (&producer);
}

//  A member that leaves before any SyncGroup answer: the broker answers
//  every SyncGroup with REBALANCE_IN_PROGRESS, so the consumer joins (its
//  JoinGroup answer picks the cooperative-sticky assignor) and never gets
//  an assignment. librdkafka 2.0.2 aborts when such a handle is destroyed
//  (librdkafka #4312); closing it must return, in bounded time.
static void
test_close_before_first_sync (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    assert_int_equal (mb_control (&fx->broker, "fail 14 100000 27"), 0);
    eventlog_t *member = s_consumer (fx, "display-service");
    assert_non_null (member);
    int64_t until = tk_now_ms () + 4000;
    while (tk_now_ms () < until) {
        eventlog_event_t ev = { 0 };
        assert_int_not_equal (eventlog_poll (member, &ev, 100), 1);
    }
    int64_t start = tk_now_ms ();
    eventlog_destroy (&member);
    assert_true (tk_now_ms () - start < 15000);
}

//  Broker down while publishing: publish fails in bounded time with -1 or a
//  prefix; after "up" the acknowledged events and the retried rest are all
//  delivered, in key order.
static void
test_broker_down_while_publishing (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    static event_buf_t bufs [MAX_EVENTS];
    s_make_events (bufs, 0, MAX_EVENTS);
    eventlog_t *producer = s_producer (fx);
    assert_non_null (producer);
    static eventlog_msg_t msgs [MAX_EVENTS];
    for (int id = 0; id < MAX_EVENTS; id++)
        msgs [id] = bufs [id].msg;

    int acked = s_publish_range (producer, bufs, 0, 24, 30000);
    assert_int_equal (acked, 24);
    assert_int_equal (mb_control (&fx->broker, "down"), 0);

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
        else
            failures++;
    }
    assert_true (failures > 0);
    assert_int_equal (mb_control (&fx->broker, "up"), 0);

    //  Up again: the rest goes through.
    assert_int_equal (s_publish_range (producer, bufs, acked, produced, 60000), produced);
    eventlog_destroy (&producer);

    static seen_t seen;
    s_seen_init (&seen);
    eventlog_t *consumer = s_consumer (fx, "data-collector");
    assert_non_null (consumer);
    assert_int_equal (s_consume (consumer, &seen, 0, produced, true, DRAIN_TIMEOUT_MS),
                      produced);
    s_consume_quiet (consumer, &seen, 1000);
    assert_int_equal (seen.foreign, 0);
    assert_int_equal (seen.order_errors, 0);
    //  Nothing beyond what was produced; copies of a retried event are
    //  allowed by at-least-once, but a copy still in flight is reused, so
    //  none should appear.
    for (int id = produced; id < MAX_EVENTS; id++)
        assert_int_equal (seen.seen [id], 0);
    if (seen.total != produced)
        fprintf (stderr, "note: %d duplicates after the outage\n", seen.total - produced);
    assert_int_equal (seen.total, produced);
    eventlog_destroy (&consumer);
}

//  A log nobody listens on: publish gives -1 in bounded time, the
//  consumer polls without events; bad settings are refused with a reason.
static void
test_unreachable_and_bad_settings (void **state)
{
    config_t cfg;
    memset (&cfg, 0, sizeof cfg);
    snprintf (cfg.bridge, sizeof cfg.bridge, "kafka");
    char err [256] = "";

    //  No brokers configured.
    assert_null (eventlog_producer_new (&cfg, err, sizeof err));
    assert_true (strlen (err) > 0);
    err [0] = 0;
    assert_null (eventlog_consumer_new (&cfg, "display-service", err, sizeof err));
    assert_true (strlen (err) > 0);

    //  A consumer needs a group.
    snprintf (cfg.kafka_brokers, sizeof cfg.kafka_brokers, "127.0.0.1:%d", tk_free_port ());
    err [0] = 0;
    assert_null (eventlog_consumer_new (&cfg, "", err, sizeof err));
    assert_true (strlen (err) > 0);

    //  Nothing listens: -1 within the timeout.
    eventlog_t *producer = eventlog_producer_new (&cfg, err, sizeof err);
    assert_non_null (producer);
    eventlog_msg_t msg = { "ORD-00000001", "{}", 2 };
    int64_t started = tk_now_ms ();
    assert_int_equal (eventlog_publish (producer, &msg, 1, 1500), -1);
    assert_true (tk_now_ms () - started < 1500 + 2000);
    started = tk_now_ms ();
    eventlog_destroy (&producer);
    assert_true (tk_now_ms () - started < 10000);

    eventlog_t *consumer = eventlog_consumer_new (&cfg, "display-service", err, sizeof err);
    assert_non_null (consumer);
    eventlog_event_t ev = { 0 };
    assert_true (eventlog_poll (consumer, &ev, 500) <= 0);
    assert_null (ev.payload);
    started = tk_now_ms ();
    eventlog_destroy (&consumer);
    assert_true (tk_now_ms () - started < 10000);
}

//  Waits up to timeout_ms for consumer's lag to read expected; returns the
//  last figure read.
static int64_t
s_lag_becomes (eventlog_t *consumer, int64_t expected, int timeout_ms)
{
    int64_t deadline = tk_now_ms () + timeout_ms;
    int64_t lag = eventlog_lag (consumer);
    while (lag != expected && tk_now_ms () < deadline) {
        usleep (100 * 1000);
        lag = eventlog_lag (consumer);
    }
    return lag;
}

//  The lag is the group's, whichever member asks: one that holds every
//  partition, one that joined and holds none yet, and one that never
//  polled read the same figure, and it follows the group's commits over
//  every partition.
static void
test_lag_is_the_groups (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    static event_buf_t bufs [MAX_EVENTS];
    eventlog_t *producer = s_published (fx, bufs, 36);

    //  A alone in the group takes and commits the first 12 (one per key,
    //  so every partition moves).
    static seen_t seen;
    s_seen_init (&seen);
    eventlog_t *a = s_consumer (fx, "lag-group");
    assert_non_null (a);
    assert_int_equal (eventlog_lag (a), 36);
    assert_int_equal (s_consume (a, &seen, 0, 12, true, DRAIN_TIMEOUT_MS), 12);
    //  s_consume commits each event it records, and a partition's events
    //  come in order: what is left is what A has not seen.
    int64_t expected = 36 - (int64_t) s_seen_count (&seen, 0, 36);
    assert_true (expected > 0);
    assert_int_equal (eventlog_lag (a), expected);

    //  B joins the group: it holds no partition until a rebalance gives it
    //  one, yet it reads the group's lag (a member's own partitions read 0
    //  here).
    eventlog_t *b = s_consumer (fx, "lag-group");
    assert_non_null (b);
    assert_int_equal (eventlog_lag (b), expected);
    //  So does C, which has not polled at all.
    eventlog_t *c = s_consumer (fx, "lag-group");
    assert_non_null (c);
    assert_int_equal (eventlog_lag (c), expected);
    //  Another group has committed nothing.
    eventlog_t *other = s_consumer (fx, "lag-other");
    assert_non_null (other);
    assert_int_equal (eventlog_lag (other), 36);

    //  The three drain the rest between them, committing, until the
    //  group's lag reads 0 (a commit the rebalance refused is redelivered
    //  to the partition's new owner, which commits it). C polls too: one
    //  closed while its first JoinGroup is unanswered has no member id to
    //  leave with, and the coordinator kept it through rebalances until its
    //  session ended, about 9 s each on the mock, for longer than
    //  DRAIN_TIMEOUT_MS (the group stalled at 32 of 36). Even with every
    //  member polling, the drain goes through two or three rebalances of
    //  about 9 s each (21–27 s with two busy loops beside it): it has twice
    //  the usual bound.
    eventlog_event_t ev = { 0 };
    int64_t started = tk_now_ms ();
    int64_t deadline = started + 2 * DRAIN_TIMEOUT_MS;
    while (tk_now_ms () < deadline
       &&  (s_seen_count (&seen, 0, 36) < 36 || eventlog_lag (a) != 0)) {
        eventlog_t *members [3] = { a, b, c };
        for (int m = 0; m < 3; m++) {
            if (eventlog_poll (members [m], &ev, 100) == 1) {
                s_record (&seen, &ev);
                assert_int_equal (eventlog_commit (members [m], &ev), 0);
                eventlog_event_reset (&ev);
            }
        }
    }
    print_message ("the group drained in %" PRId64 " ms\n", tk_now_ms () - started);
    assert_int_equal (s_seen_count (&seen, 0, 36), 36);
    assert_int_equal (eventlog_lag (a), 0);
    assert_int_equal (eventlog_lag (b), 0);
    assert_int_equal (eventlog_lag (c), 0);
    //  A member that joins now reads 0 as well.
    eventlog_destroy (&c);
    c = s_consumer (fx, "lag-group");
    assert_non_null (c);
    assert_int_equal (eventlog_lag (c), 0);
    assert_int_equal (eventlog_lag (other), 36);
    eventlog_destroy (&other);
    eventlog_destroy (&c);
    eventlog_destroy (&b);
    eventlog_destroy (&a);
    eventlog_destroy (&producer);
}

//  With the broker down the lag is unknown (-1) within its bounded wait,
//  not a figure from before; once the broker is back it is exact again.
static void
test_lag_unknown_while_down (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    static event_buf_t bufs [MAX_EVENTS];
    eventlog_t *producer = s_published (fx, bufs, 10);
    eventlog_t *consumer = s_consumer (fx, "lag-down");
    assert_non_null (consumer);
    assert_int_equal (eventlog_lag (consumer), 10);

    assert_int_equal (mb_control (&fx->broker, "down"), 0);
    int64_t start = tk_now_ms ();
    int64_t lag = eventlog_lag (consumer);
    int64_t took = tk_now_ms () - start;
    assert_int_equal (lag, -1);
    assert_true (took < 3000);
    //  Asked again at once: no second wait, still unknown
    start = tk_now_ms ();
    assert_int_equal (eventlog_lag (consumer), -1);
    assert_true (tk_now_ms () - start < 100);

    assert_int_equal (mb_control (&fx->broker, "up"), 0);
    assert_int_equal (s_lag_becomes (consumer, 10, 30000), 10);
    eventlog_destroy (&consumer);
    eventlog_destroy (&producer);
}

//  The contract's broker: one per fresh log, stopped by release.
static mb_t s_contract_broker;

//  A new mock broker (3 partitions) and settings pointing at it.
static int
s_contract_fresh (config_t *cfg, void *arg)
{
    if (mb_start (&s_contract_broker, 1, PARTITIONS, TOPIC))
        return -1;
    memset (cfg, 0, sizeof *cfg);
    snprintf (cfg->bridge, sizeof cfg->bridge, "kafka");
    snprintf (cfg->kafka_brokers, sizeof cfg->kafka_brokers, "%s", s_contract_broker.bootstrap);
    snprintf (cfg->kafka_topic, sizeof cfg->kafka_topic, TOPIC);
    cfg->log_level = LOG_LEVEL_WARN;
    return 0;
}

//  Stops the broker of the last fresh log.
static void
s_contract_release (config_t *cfg, void *arg)
{
    mb_stop (&s_contract_broker, false);
}

//  Settings naming a port nobody listens on.
static int
s_contract_unreachable (config_t *cfg, void *arg)
{
    memset (cfg, 0, sizeof *cfg);
    snprintf (cfg->bridge, sizeof cfg->bridge, "kafka");
    snprintf (cfg->kafka_brokers, sizeof cfg->kafka_brokers, "127.0.0.1:%d", tk_free_port ());
    snprintf (cfg->kafka_topic, sizeof cfg->kafka_topic, TOPIC);
    return 0;
}

static int
s_contract_down (void *arg)
{
    return mb_control (&s_contract_broker, "down");
}

static int
s_contract_up (void *arg)
{
    return mb_control (&s_contract_broker, "up");
}

static const ec_backend_t s_contract = {
    .name = "kafka",
    .fresh = s_contract_fresh,
    .release = s_contract_release,
    .unreachable = s_contract_unreachable,
    .down = s_contract_down,
    .up = s_contract_up,
    .lag_exact = true,          //  the group's commits and the log's ends, asked of the broker
    .arrive_ms = DRAIN_TIMEOUT_MS,
};

int
main (void)
{
    log_set_level (LOG_LEVEL_WARN);
    if (!eventlog_kafka.name || strcmp (eventlog_kafka.name, "kafka") != 0)
        return 1;
    ec_backend = &s_contract;
    const struct CMUnitTest tests [] = {
        EC_TESTS,
        cmocka_unit_test (test_unreachable_and_bad_settings),
        cmocka_unit_test_setup_teardown (test_consume_commit_resume, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_group_splits_partitions, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_close_before_first_sync, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_broker_down_while_publishing, s_setup,
                                         s_teardown),
        cmocka_unit_test_setup_teardown (test_lag_is_the_groups, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_lag_unknown_while_down, s_setup, s_teardown),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
