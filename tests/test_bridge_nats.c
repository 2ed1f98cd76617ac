/*  test_bridge_nats — the NATS JetStream event log backend
    (bridge/eventlog_nats.c) against the real nats-server that
    scripts/test.sh starts on loopback (COFFEE_TEST_NATS_URL; JetStream on,
    its own store dir), through the public eventlog API with
    cfg->bridge = "nats". Skips when COFFEE_TEST_NATS_URL is unset.

    Runs the contract every backend passes (tests/eventlog_contract.h), each
    case on a stream of its own; its outage case kills the shared server
    with kill -9 and starts it again on the same store (scripts/nats.sh,
    COFFEE_TEST_NATS_DIR / _PORT), which is why ctest runs the tests that
    use it one at a time. Then what only NATS has: the stream and durable
    consumers it made, with the settings the backend promises; two members
    of one group share the events, each event once; a bad URL is refused
    with a reason.

    ctest bound: COFFEE_TEST_TIMEOUT 300 s. */
#include "testkit.h"
#include <cmocka.h>
#include "coffee.h"
#include "eventlog.h"
#include "eventlog_contract.h"
#include <nats/nats.h>

//  The backend under test, named here too so this test fails to link (rather
//  than silently testing nothing) if bridge/eventlog_nats.c is left out.
extern const eventlog_backend_t eventlog_nats;

static const char *s_url;          //  COFFEE_TEST_NATS_URL
static int s_topics;               //  topics made so far (unique names)

//  A new topic (stream coffee-TOPIC) on the shared server.
static int
s_fresh (config_t *cfg, void *arg)
{
    memset (cfg, 0, sizeof *cfg);
    snprintf (cfg->bridge, sizeof cfg->bridge, "nats");
    snprintf (cfg->nats_url, sizeof cfg->nats_url, "%s", s_url);
    snprintf (cfg->kafka_topic, sizeof cfg->kafka_topic, "t%d-%d-%" PRId64, (int) getpid (),
              ++s_topics, tk_now_ms () % 100000);
    cfg->log_level = LOG_LEVEL_WARN;
    return 0;
}

//  A URL nobody listens on.
static int
s_unreachable (config_t *cfg, void *arg)
{
    memset (cfg, 0, sizeof *cfg);
    snprintf (cfg->bridge, sizeof cfg->bridge, "nats");
    snprintf (cfg->nats_url, sizeof cfg->nats_url, "nats://127.0.0.1:%d", tk_free_port ());
    snprintf (cfg->kafka_topic, sizeof cfg->kafka_topic, "unreachable");
    return 0;
}

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

static int
s_down (void *arg)
{
    return s_nats_sh ("kill");
}

static int
s_up (void *arg)
{
    return s_nats_sh ("start");
}

static const ec_backend_t s_backend = {
    .name = "nats",
    .fresh = s_fresh,
    .unreachable = s_unreachable,
    .down = s_down,
    .up = s_up,
    .lag_exact = true,
    .arrive_ms = 5000,
};

//  The stream and the durable consumers are made with the settings the
//  backend promises: file storage, subjects coffee.TOPIC.>, one durable per
//  group with explicit acks, a finite AckWait and unlimited deliveries; the
//  key travels in a header and the subject names the order.
static void
test_stream_and_consumers (void **state)
{
    config_t *cfg = ec_cfg_new ();
    eventlog_t *producer = ec_producer (cfg);
    eventlog_t *consumer = ec_consumer (cfg, "display-service");
    ec_publish (producer, "ORD-00000042", "{\"x\":1}");
    eventlog_event_t ev = { 0 };
    assert_int_equal (ec_poll_one (consumer, &ev), 1);
    assert_string_equal (ev.key, "ORD-00000042");
    assert_int_equal (ev.partition, 0);
    assert_true (ev.offset >= 1);
    assert_int_equal (eventlog_commit (consumer, &ev), 0);
    eventlog_event_reset (&ev);

    natsConnection *nc = NULL;
    jsCtx *js = NULL;
    assert_int_equal (natsConnection_ConnectTo (&nc, s_url), NATS_OK);
    assert_int_equal (natsConnection_JetStream (&js, nc, NULL), NATS_OK);
    char stream [200];
    snprintf (stream, sizeof stream, "coffee-%s", cfg->kafka_topic);
    jsStreamInfo *si = NULL;
    assert_int_equal (js_GetStreamInfo (&si, js, stream, NULL, NULL), NATS_OK);
    assert_int_equal (si->Config->Storage, js_FileStorage);
    assert_int_equal (si->Config->SubjectsLen, 1);
    char filter [200];
    snprintf (filter, sizeof filter, "coffee.%s.>", cfg->kafka_topic);
    assert_string_equal (si->Config->Subjects [0], filter);
    assert_int_equal (si->State.Msgs, 1);
    jsStreamInfo_Destroy (si);

    jsConsumerInfo *ci = NULL;
    assert_int_equal (js_GetConsumerInfo (&ci, js, stream, "display-service", NULL, NULL),
                      NATS_OK);
    assert_string_equal (ci->Config->Durable, "display-service");
    assert_int_equal (ci->Config->AckPolicy, js_AckExplicit);
    assert_true (ci->Config->AckWait > 0);
    assert_true (ci->Config->MaxDeliver <= 0);          //  never given up on
    assert_null (ci->Config->DeliverSubject);           //  pull
    assert_int_equal ((int) ci->NumPending, 0);
    assert_int_equal ((int) ci->NumAckPending, 0);
    jsConsumerInfo_Destroy (ci);

    //  The message itself: subject per order, key header
    natsMsg *msg = NULL;
    char subject [200];
    snprintf (subject, sizeof subject, "coffee.%s.ORD-00000042", cfg->kafka_topic);
    assert_int_equal (js_GetLastMsg (&msg, js, stream, subject, NULL, NULL), NATS_OK);
    const char *key = NULL;
    assert_int_equal (natsMsgHeader_Get (msg, "Coffee-Key", &key), NATS_OK);
    assert_string_equal (key, "ORD-00000042");
    natsMsg_Destroy (msg);

    //  Closing the handles leaves the durable in place
    eventlog_destroy (&consumer);
    eventlog_destroy (&producer);
    assert_int_equal (js_GetConsumerInfo (&ci, js, stream, "display-service", NULL, NULL),
                      NATS_OK);
    jsConsumerInfo_Destroy (ci);
    jsCtx_Destroy (js);
    natsConnection_Destroy (nc);
    ec_cfg_free (cfg);
}

//  Two members of one group share the durable: together they see every
//  event exactly once (each commits), and both get some.
static void
test_group_members_share (void **state)
{
    config_t *cfg = ec_cfg_new ();
    static ec_event_t bufs [EC_MAX_EVENTS];
    ec_make_events (bufs, 0, 240);
    eventlog_t *producer = ec_producer (cfg);
    eventlog_t *members [2] = { ec_consumer (cfg, "display-service"),
                                ec_consumer (cfg, "display-service") };
    static ec_seen_t seen [2];
    ec_seen_init (&seen [0]);
    ec_seen_init (&seen [1]);
    assert_int_equal (ec_publish_range (producer, bufs, 0, 240, 30000), 240);
    int64_t deadline = tk_now_ms () + 30000;
    while (tk_now_ms () < deadline
       &&  ec_seen_count (&seen [0], 0, 240) + ec_seen_count (&seen [1], 0, 240) < 240)
        for (int c = 0; c < 2; c++) {
            eventlog_event_t ev = { 0 };
            //  One event per turn, so both members keep fetching
            if (eventlog_poll (members [c], &ev, 20) == 1) {
                ec_record (&seen [c], &ev);
                assert_int_equal (eventlog_commit (members [c], &ev), 0);
                eventlog_event_reset (&ev);
            }
        }
    for (int c = 0; c < 2; c++)
        ec_consume_quiet (members [c], &seen [c], 1000);
    for (int id = 0; id < 240; id++)
        assert_int_equal (seen [0].seen [id] + seen [1].seen [id], 1);
    assert_true (seen [0].total > 0);
    assert_true (seen [1].total > 0);
    assert_int_equal (seen [0].foreign + seen [1].foreign, 0);
    assert_int_equal (eventlog_lag (members [0]), 0);
    eventlog_destroy (&members [0]);
    eventlog_destroy (&members [1]);
    eventlog_destroy (&producer);
    ec_cfg_free (cfg);
}

//  The stream deleted under running handles (an operator's mistake, or a
//  server that lost its store): the next publish makes it again, the
//  consumer makes its durable again and gets the new events.
static void
test_stream_deleted_comes_back (void **state)
{
    config_t *cfg = ec_cfg_new ();
    eventlog_t *producer = ec_producer (cfg);
    eventlog_t *consumer = ec_consumer (cfg, "display-service");
    ec_publish (producer, "ORD-1", "one");
    eventlog_event_t ev = { 0 };
    assert_int_equal (ec_poll_one (consumer, &ev), 1);
    assert_string_equal (ev.payload, "one");
    assert_int_equal (eventlog_commit (consumer, &ev), 0);
    eventlog_event_reset (&ev);

    natsConnection *nc = NULL;
    jsCtx *js = NULL;
    assert_int_equal (natsConnection_ConnectTo (&nc, s_url), NATS_OK);
    assert_int_equal (natsConnection_JetStream (&js, nc, NULL), NATS_OK);
    char stream [200];
    snprintf (stream, sizeof stream, "coffee-%s", cfg->kafka_topic);
    assert_int_equal (js_DeleteStream (js, stream, NULL, NULL), NATS_OK);
    jsCtx_Destroy (js);
    natsConnection_Destroy (nc);

    //  The first publish may find no stream; a retry makes it again
    eventlog_msg_t msg = { "ORD-2", "two", 3 };
    int64_t deadline = tk_now_ms () + 10000;
    int rc = -1;
    while (rc != 1 && tk_now_ms () < deadline)
        rc = eventlog_publish (producer, &msg, 1, 2000);
    assert_int_equal (rc, 1);
    //  The consumer notices the durable is gone within NATS_CHECK_EVERY_MS (5 s)
    deadline = tk_now_ms () + 20000;
    rc = 0;
    while (rc != 1 && tk_now_ms () < deadline)
        rc = eventlog_poll (consumer, &ev, 200);
    assert_int_equal (rc, 1);
    assert_string_equal (ev.payload, "two");
    assert_int_equal (eventlog_commit (consumer, &ev), 0);
    eventlog_event_reset (&ev);
    assert_int_equal (eventlog_lag (consumer), 0);
    eventlog_destroy (&consumer);
    eventlog_destroy (&producer);
    ec_cfg_free (cfg);
}

//  Settings the backend cannot use are refused with a reason.
static void
test_bad_settings (void **state)
{
    config_t cfg;
    memset (&cfg, 0, sizeof cfg);
    snprintf (cfg.bridge, sizeof cfg.bridge, "nats");
    char err [256] = "";
    assert_null (eventlog_producer_new (&cfg, err, sizeof err));
    assert_non_null (strstr (err, "--nats-url"));
    snprintf (cfg.nats_url, sizeof cfg.nats_url, "nats://no such host:x:y");
    err [0] = 0;
    assert_null (eventlog_consumer_new (&cfg, "display-service", err, sizeof err));
    assert_true (strlen (err) > 0);
}

int
main (void)
{
    log_set_level (LOG_LEVEL_WARN);
    if (!eventlog_nats.name || strcmp (eventlog_nats.name, "nats") != 0)
        return 1;
    s_url = getenv ("COFFEE_TEST_NATS_URL");
    if (!s_url || !*s_url) {
        printf ("COFFEE_TEST_NATS_URL is not set: skipping (scripts/test.sh starts a "
                "nats-server; by hand: scripts/nats.sh start/env)\n");
        return 0;
    }
    ec_backend = &s_backend;
    if (getenv ("COFFEE_TEST_FILTER"))
        cmocka_set_test_filter (getenv ("COFFEE_TEST_FILTER"));
    const struct CMUnitTest tests [] = {
        EC_TESTS,
        cmocka_unit_test (test_stream_and_consumers),
        cmocka_unit_test (test_group_members_share),
        cmocka_unit_test (test_stream_deleted_comes_back),
        cmocka_unit_test (test_bad_settings),
    };
    int rc = cmocka_run_group_tests (tests, NULL, NULL);
    nats_CloseAndWait (5000);
    return rc;
}
