/*  test_bridge_commit_failure — what the two Kafka consumers of the bridge
    (bridge_projection_actor, bridge_collector_actor) do when the broker
    refuses their offset commits.

    An in-process librdkafka mock cluster (one broker) fails the first
    COMMIT_FAILURES OffsetCommit requests with OFFSET_METADATA_TOO_LARGE:
    librdkafka treats it as permanent (no retry of its own) and
    eventlog_kafka passes it up as a failed commit (it is not one of the
    rebalance errors it reports as done). EVENTS order events are in the
    topic before the actor starts.

    Proves, for the projection: every order reaches the display store
    within DONE_WITHIN_MS and the count is exactly EVENTS, never more; each
    event was applied once (GAUGE_PROJECTION_APPLIED == EVENTS: a failed
    commit lets the event go and the actor polls again, it does not
    re-apply and re-commit the same event with a growing backoff, which
    stalled a Kafka consumer that must poll to get through a rebalance);
    every injected failure was served, within DONE_WITHIN_MS; and the
    group's committed position ends at EVENTS. The sinks commit once per
    turn of up to SINK_BATCH events, so here the failures fall on the
    commit of the one turn that applied all of them: a failed commit is
    owed and tried again while the sink is idle, until one lands.
    For the collector sink: every order reaches the file collector at least
    once within DONE_WITHIN_MS (a failed commit may bring an event again),
    all injected failures were served, the position ends at EVENTS.
    With PARTITIONS partitions and commits refused slowly, as by a broker
    out of reach: once the turn's first commit fails, the projection owes
    the other partitions' untried, so $TERM is answered within one
    commit's wait; the group's next run commits every partition to its end.

    ctest bound: COFFEE_TEST_TIMEOUT 180 s. */
#include "testkit.h"
#include <cmocka.h>
#include "coffee.h"
#include "bridge.h"
#include "display_store.h"
#include "eventlog.h"
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#define APIKEY_OFFSET_COMMIT    8       //  Kafka protocol ApiKey of OffsetCommit
#define MOCK_BROKER_ID          1       //  the mock cluster's only broker
#define EVENTS                  20      //  order events in the topic
#define COMMIT_FAILURES         12      //  OffsetCommit requests the broker refuses
#define COMMIT_ERROR            RD_KAFKA_RESP_ERR_OFFSET_METADATA_TOO_LARGE
#define MENUS                   5       //  orders spread over MENU-00000001..5
#define PUBLISH_WITHIN_MS       15000   //  all events acknowledged by the broker
#define DONE_WITHIN_MS          30000   //  the actor handles every event
#define QUIET_MS                1000    //  after that, nothing more may change
#define COMMITTED_WAIT_MS       5000    //  answer of an OffsetFetch
#define PARTITIONS              4       //  partitions of the owed-commits case's topic
#define SLOW_COMMIT_MS          2000    //  there, each refused commit answered after this
#define TERM_WITHIN_MS          4000    //  $TERM answered within (one commit per partition
                                        //  would take SLOW_COMMIT_MS * (PARTITIONS - 1) more)

//  What a test holds.
typedef struct {
    rd_kafka_t *mock_rk;                //  handle that owns the mock cluster
    rd_kafka_mock_cluster_t *mcluster;  //  the in-process broker
    char *dir;                          //  temporary data dir (free)
    char collected [700];               //  file collector output
    config_t cfg;                       //  bridge=kafka on the mock, unique topic
    metrics_t *metrics;                 //  the actor's gauges
    bridge_args_t args;                 //  the actor's args
} fixture_t;

//  Starts a one-broker mock cluster with a topic of its own of partitions
//  partitions, loads the settings pointing at it and publishes EVENTS
//  order events (keyed by their numbers, so spread over the partitions).
static int
s_setup_topic (void **state, int partitions)
{
    fixture_t *self = (fixture_t *) calloc (1, sizeof (fixture_t));
    assert_non_null (self);
    char errstr [256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new ();
    assert_int_equal (rd_kafka_conf_set (conf, "test.mock.num.brokers", "1", errstr,
                                         sizeof errstr), RD_KAFKA_CONF_OK);
    assert_int_equal (rd_kafka_conf_set (conf, "log_level", "3", errstr, sizeof errstr),
                      RD_KAFKA_CONF_OK);
    self->mock_rk = rd_kafka_new (RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
    assert_non_null (self->mock_rk);
    self->mcluster = rd_kafka_handle_mock_cluster (self->mock_rk);
    assert_non_null (self->mcluster);

    char topic [128];
    snprintf (topic, sizeof topic, "cfail-%d-%" PRId64, (int) getpid (), tk_now_ms ());
    assert_int_equal (rd_kafka_mock_topic_create (self->mcluster, topic, partitions, 1),
                      RD_KAFKA_RESP_ERR_NO_ERROR);

    self->dir = tk_tempdir ("bridge-commit-failure");
    assert_non_null (self->dir);
    snprintf (self->collected, sizeof self->collected, "%s/collected.jsonl", self->dir);
    char url [720];
    snprintf (url, sizeof url, "file:%s", self->collected);
    char brokers [512];
    snprintf (brokers, sizeof brokers, "%s", rd_kafka_mock_cluster_bootstraps (self->mcluster));
    char *argv [] = { "serve", "--data-dir", self->dir, "--bridge", "kafka",
                      "--kafka-brokers", brokers, "--kafka-topic", topic,
                      "--collector-url", url, NULL };
    char err [512] = "";
    assert_int_equal (config_load (&self->cfg, 11, argv, err, sizeof err), 0);

    //  The events, as the relay would publish them: one menu per order
    char *payloads [EVENTS];
    char keys [EVENTS][EVENT_ID_MAX];
    eventlog_msg_t msgs [EVENTS];
    int64_t now = util_now_ms (0);
    for (int i = 0; i < EVENTS; i++) {
        event_line_t line = { .qy = 1 + i % 3 };
        snprintf (line.menu_id, sizeof line.menu_id, "MENU-%08d", 1 + i % MENUS);
        event_order_t order = { .pay_amt = 100 * (i + 1), .ordered_at_ms = now - 60000 + i,
                                .line_count = 1, .lines = &line };
        snprintf (order.order_no, sizeof order.order_no, "ORD-%08d", i + 1);
        snprintf (order.customer_id, sizeof order.customer_id, "CUST-00000001");
        snprintf (keys [i], sizeof keys [i], "%s", order.order_no);
        payloads [i] = event_order_encode (&order);
        assert_non_null (payloads [i]);
        msgs [i] = (eventlog_msg_t) { .key = keys [i], .payload = payloads [i],
                                      .len = strlen (payloads [i]) };
    }
    eventlog_t *producer = eventlog_producer_new (&self->cfg, err, sizeof err);
    assert_non_null (producer);
    int next = 0;
    int64_t deadline = tk_now_ms () + PUBLISH_WITHIN_MS;
    while (next < EVENTS && tk_now_ms () < deadline) {
        int rc = eventlog_publish (producer, msgs + next, (size_t) (EVENTS - next), 5000);
        if (rc > 0)
            next += rc;
    }
    eventlog_destroy (&producer);
    for (int i = 0; i < EVENTS; i++)
        zstr_free (&payloads [i]);
    assert_int_equal (next, EVENTS);

    self->metrics = metrics_new ();
    assert_non_null (self->metrics);
    self->args = (bridge_args_t) { .cfg = &self->cfg, .metrics = self->metrics };
    *state = self;
    return 0;
}

//  s_setup_topic with one partition
static int
s_setup (void **state)
{
    return s_setup_topic (state, 1);
}

//  s_setup_topic with PARTITIONS partitions
static int
s_setup_partitions (void **state)
{
    return s_setup_topic (state, PARTITIONS);
}

//  Frees the gauges, the mock cluster and the data dir's name.
static int
s_teardown (void **state)
{
    fixture_t *self = (fixture_t *) *state;
    if (!self)
        return 0;
    metrics_destroy (&self->metrics);
    if (self->mock_rk)
        rd_kafka_destroy (self->mock_rk);
    free (self->dir);
    free (self);
    return 0;
}

//  Makes the broker refuse the next count OffsetCommit requests, each
//  answered after rtt_ms.
static void
s_fail_commits (fixture_t *self, int count, int rtt_ms)
{
    for (int i = 0; i < count; i++)
        assert_int_equal (rd_kafka_mock_broker_push_request_error_rtts (
                              self->mcluster, MOCK_BROKER_ID, APIKEY_OFFSET_COMMIT, 1,
                              COMMIT_ERROR, rtt_ms),
                          RD_KAFKA_RESP_ERR_NO_ERROR);
}

//  Injected OffsetCommit failures the broker has not served yet.
static size_t
s_failures_left (fixture_t *self)
{
    size_t left = 0;
    assert_int_equal (rd_kafka_mock_broker_error_stack_cnt (self->mcluster, MOCK_BROKER_ID,
                                                            APIKEY_OFFSET_COMMIT, &left),
                      RD_KAFKA_RESP_ERR_NO_ERROR);
    return left;
}

//  A client of group on the mock cluster, for the test's own questions.
static rd_kafka_t *
s_client (fixture_t *self, const char *group)
{
    char errstr [256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new ();
    assert_int_equal (rd_kafka_conf_set (conf, "bootstrap.servers", self->cfg.kafka_brokers,
                                         errstr, sizeof errstr), RD_KAFKA_CONF_OK);
    assert_int_equal (rd_kafka_conf_set (conf, "group.id", group, errstr, sizeof errstr),
                      RD_KAFKA_CONF_OK);
    assert_int_equal (rd_kafka_conf_set (conf, "enable.auto.commit", "false", errstr,
                                         sizeof errstr), RD_KAFKA_CONF_OK);
    rd_kafka_t *rk = rd_kafka_new (RD_KAFKA_CONSUMER, conf, errstr, sizeof errstr);
    assert_non_null (rk);
    return rk;
}

//  The offset group has committed for the topic's partition, as the
//  broker answers it; -1 when none or no answer.
static int64_t
s_committed (fixture_t *self, const char *group, int32_t partition)
{
    rd_kafka_t *rk = s_client (self, group);
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new (1);
    rd_kafka_topic_partition_list_add (parts, self->cfg.kafka_topic, partition);
    int64_t offset = -1;
    if (rd_kafka_committed (rk, parts, COMMITTED_WAIT_MS) == RD_KAFKA_RESP_ERR_NO_ERROR
    &&  parts->elems [0].err == RD_KAFKA_RESP_ERR_NO_ERROR
    &&  parts->elems [0].offset >= 0)
        offset = parts->elems [0].offset;
    rd_kafka_topic_partition_list_destroy (parts);
    rd_kafka_destroy (rk);
    return offset;
}

//  The end offset of the topic's partition (its events); -1 on no answer.
static int64_t
s_end (fixture_t *self, int32_t partition)
{
    rd_kafka_t *rk = s_client (self, "commit-failure-test");
    int64_t low = -1, high = -1;
    if (rd_kafka_query_watermark_offsets (rk, self->cfg.kafka_topic, partition, &low, &high,
                                          COMMITTED_WAIT_MS) != RD_KAFKA_RESP_ERR_NO_ERROR)
        high = -1;
    rd_kafka_destroy (rk);
    return high;
}

//  Orders (one menu each) the display store counts over a wide window;
//  -1 on a read error.
static int64_t
s_display_total (display_store_t *display)
{
    int64_t now = util_now_ms (0);
    store_count_t *counts = NULL;
    size_t count = 0;
    if (display_store_counts (display, now - DISPLAY_WINDOW_MS, now + 3600 * 1000LL, &counts,
                              &count) != 0)
        return -1;
    int64_t total = 0;
    for (size_t i = 0; i < count; i++)
        total += counts [i].count;
    free (counts);
    return total;
}

//  How many of ORD-00000001..EVENTS the collector file holds at least once;
//  *lines gets its line count.
static int
s_collected (const char *path, int *lines)
{
    int seen [EVENTS] = { 0 };
    *lines = 0;
    FILE *file = fopen (path, "r");
    char line [4096];
    while (file && fgets (line, sizeof line, file)) {
        if (!strchr (line, '\n'))
            break;              //  a line still being written
        (*lines)++;
        cJSON *json = cJSON_Parse (line);
        const cJSON *order_no = cJSON_GetObjectItemCaseSensitive (json, "orderNo");
        int n = 0;
        if (cJSON_IsString (order_no) && sscanf (order_no->valuestring, "ORD-%d", &n) == 1
        &&  n >= 1 && n <= EVENTS)
            seen [n - 1] = 1;
        cJSON_Delete (json);
    }
    if (file)
        fclose (file);
    int distinct = 0;
    for (int i = 0; i < EVENTS; i++)
        distinct += seen [i];
    return distinct;
}

//  Waits, up to DONE_WITHIN_MS, until the broker has refused every commit
//  it was told to refuse: the owed commit is tried again while idle.
static void
s_failures_served (fixture_t *self)
{
    int64_t until = tk_now_ms () + DONE_WITHIN_MS;
    while (s_failures_left (self) > 0 && tk_now_ms () < until)
        zclock_sleep (50);
}

//  The projection gets through failed commits: every order displayed
//  exactly once, in bounded time, each event applied once.
static void
test_projection_goes_on_after_failed_commits (void **state)
{
    fixture_t *self = (fixture_t *) *state;
    char err [512] = "";
    display_store_t *display = display_store_open (self->cfg.display_store, err, sizeof err);
    assert_non_null (display);
    assert_int_equal (s_display_total (display), 0);
    s_fail_commits (self, COMMIT_FAILURES, 0);

    int64_t start = tk_now_ms ();
    zactor_t *projection = zactor_new (bridge_projection_actor, &self->args);
    assert_non_null (projection);
    int64_t total = 0, most = 0, took = -1;
    while (tk_now_ms () - start < DONE_WITHIN_MS) {
        total = s_display_total (display);
        if (total > most)
            most = total;
        if (total == EVENTS) {
            took = tk_now_ms () - start;
            break;
        }
        zclock_sleep (50);
    }
    s_failures_served (self);
    fprintf (stderr, "projection: %" PRId64 " of %d orders displayed after %" PRId64 " ms, "
             "%zu injected commit failures left, applied %" PRId64 "\n", total, EVENTS,
             tk_now_ms () - start, s_failures_left (self),
             metrics_gauge_get (self->metrics, GAUGE_PROJECTION_APPLIED));
    //  Then nothing more may change: no event applied again
    int64_t quiet_until = tk_now_ms () + QUIET_MS;
    while (took >= 0 && tk_now_ms () < quiet_until) {
        total = s_display_total (display);
        if (total > most)
            most = total;
        zclock_sleep (50);
    }
    int64_t applied = metrics_gauge_get (self->metrics, GAUGE_PROJECTION_APPLIED);
    size_t left = s_failures_left (self);
    zactor_destroy (&projection);
    display_store_destroy (&display);
    int64_t committed = s_committed (self, BRIDGE_GROUP_DISPLAY, 0);

    assert_true (took >= 0);                        //  not stuck
    assert_int_equal (total, EVENTS);               //  exactly N, and it stayed so
    assert_int_equal (most, EVENTS);                //  never more
    assert_int_equal (left, 0);                     //  every commit failure was served
    assert_int_equal (applied, EVENTS);             //  no event re-applied without a poll
    assert_int_equal (committed, EVENTS);           //  later commits cover the failed ones
}

//  The collector sink gets through failed commits: every order delivered
//  at least once, in bounded time.
static void
test_collector_goes_on_after_failed_commits (void **state)
{
    fixture_t *self = (fixture_t *) *state;
    s_fail_commits (self, COMMIT_FAILURES, 0);

    int64_t start = tk_now_ms ();
    zactor_t *sink = zactor_new (bridge_collector_actor, &self->args);
    assert_non_null (sink);
    int distinct = 0, lines = 0;
    int64_t took = -1;
    while (tk_now_ms () - start < DONE_WITHIN_MS) {
        distinct = s_collected (self->collected, &lines);
        if (distinct == EVENTS) {
            took = tk_now_ms () - start;
            break;
        }
        zclock_sleep (50);
    }
    s_failures_served (self);
    size_t left = s_failures_left (self);
    fprintf (stderr, "collector: %d of %d orders (%d lines) after %" PRId64 " ms, "
             "%zu injected commit failures left\n", distinct, EVENTS, lines,
             tk_now_ms () - start, left);
    //  Give the last commit time to land before reading the position
    zclock_sleep (QUIET_MS);
    int64_t delivered = metrics_gauge_get (self->metrics, GAUGE_COLLECTOR_DELIVERED);
    zactor_destroy (&sink);
    int64_t committed = s_committed (self, BRIDGE_GROUP_COLLECTOR, 0);

    assert_true (took >= 0);                        //  not stuck
    assert_int_equal (distinct, EVENTS);            //  every order at least once
    assert_true (lines >= EVENTS);
    assert_true (delivered >= EVENTS);
    assert_int_equal (left, 0);                     //  every commit failure was served
    assert_int_equal (committed, EVENTS);           //  later commits cover the failed ones
}

//  Commits that fail slowly, as to a broker out of reach, on a topic of
//  PARTITIONS partitions: the projection's turn that applied every event
//  (the events may come in more than one turn: the last) tries one commit,
//  and the other partitions' are owed without being tried, so $TERM waits
//  for one commit at most, not one per partition.
//  The next run of the group gets through the failures left, and its
//  commits cover every partition.
static void
test_projection_owes_the_other_commits (void **state)
{
    fixture_t *self = (fixture_t *) *state;
    int64_t ends [PARTITIONS];
    int spread = 0;
    for (int32_t p = 0; p < PARTITIONS; p++) {
        ends [p] = s_end (self, p);
        assert_true (ends [p] >= 0);
        spread += ends [p] > 0;
    }
    assert_true (spread >= 3);              //  the turn holds events of three or more
    char err [512] = "";
    display_store_t *display = display_store_open (self->cfg.display_store, err, sizeof err);
    assert_non_null (display);
    s_fail_commits (self, PARTITIONS, SLOW_COMMIT_MS);

    int64_t start = tk_now_ms ();
    zactor_t *projection = zactor_new (bridge_projection_actor, &self->args);
    assert_non_null (projection);
    int64_t total = 0;
    while (tk_now_ms () - start < DONE_WITHIN_MS && (total = s_display_total (display)) != EVENTS)
        zclock_sleep (20);
    //  The turn is at its commits now: the first holds the thread for
    //  SLOW_COMMIT_MS, then $TERM is seen
    int64_t term_at = tk_now_ms ();
    zactor_destroy (&projection);
    int64_t term_took = tk_now_ms () - term_at;
    size_t left = s_failures_left (self);
    fprintf (stderr, "projection: %" PRId64 " of %d orders displayed; $TERM answered after "
             "%" PRId64 " ms; %zu injected commit failures left\n", total, EVENTS, term_took,
             left);
    assert_int_equal (total, EVENTS);
    assert_true (term_took < TERM_WITHIN_MS);

    //  The next run: the events again (each applied once to the display),
    //  the failures left served, then every partition committed
    projection = zactor_new (bridge_projection_actor, &self->args);
    assert_non_null (projection);
    s_failures_served (self);
    left = s_failures_left (self);
    int64_t until = tk_now_ms () + DONE_WITHIN_MS;
    int committed_all = 0;
    while (tk_now_ms () < until) {
        committed_all = 0;
        for (int32_t p = 0; p < PARTITIONS; p++)
            committed_all += s_committed (self, BRIDGE_GROUP_DISPLAY, p)
                          == (ends [p] > 0 ? ends [p] : -1);
        if (committed_all == PARTITIONS)
            break;
        zclock_sleep (200);
    }
    zactor_destroy (&projection);
    total = s_display_total (display);
    display_store_destroy (&display);
    fprintf (stderr, "next run: %zu failures left, %d of %d partitions committed to their "
             "ends, %" PRId64 " orders displayed\n", left, committed_all, PARTITIONS, total);
    assert_int_equal (left, 0);
    assert_int_equal (committed_all, PARTITIONS);
    assert_int_equal (total, EVENTS);
}

int
main (void)
{
    log_set_level (LOG_LEVEL_WARN);
    const struct CMUnitTest tests [] = {
        cmocka_unit_test_setup_teardown (test_projection_goes_on_after_failed_commits,
                                         s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_collector_goes_on_after_failed_commits,
                                         s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_projection_owes_the_other_commits,
                                         s_setup_partitions, s_teardown),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
