/*  test_bridge_retention — retention on real files (include/retention.h,
    issue 9 point 10):

    - outbox: published rows older than the cutoff go, in batches of the
      given size and never more batches than asked for; published rows
      newer than the cutoff and unpublished rows of any age stay. On SQLite
      always, and on the MariaDB of scripts/test.sh when
      COFFEE_TEST_STORE_URL names one (only this test's rows are counted).
    - idempotency: finished keys older than the cutoff and 'running' keys
      older than the takeover cutoff go, each in bounded batches; younger
      ones of either state stay. (Rows are written with the columns of
      today's idempotency table; the replay of a kept key on the real
      request path is test_e2e_retention's.)
    - local event log: rows below every consumer group's committed position
      and older than the cutoff go; nothing goes while one group has no
      position, nor above the lowest group's position, nor when the rows
      are too young; a consumer goes on from its position afterwards, and
      the lag stays right.

    ctest bound: COFFEE_TEST_TIMEOUT 180 s. */
#include "testkit.h"
#include <cmocka.h>
#include "coffee.h"
#include "bridge.h"
#include "eventlog.h"
#include "retention.h"
#include "store.h"

#define OLD_ROWS     1234       //  published long ago: pruned
#define YOUNG_ROWS   7          //  published just now: kept
#define OPEN_ROWS    9          //  never published (old): kept

//  Counts rows of this test's orders (order_no LIKE prefix%) matching where.
static int64_t
s_count (db_t *db, const char *where_sql)
{
    db_stmt_t *st = db_stmt (db, where_sql);
    assert_non_null (st);
    assert_int_equal (db_step (st), DB_ROW);
    int64_t n = db_column_int64 (st, 0);
    db_reset (st);
    return n;
}

static const char SQL_INSERT [] =
    "INSERT INTO outbox (order_no, payload, created_at, published_at) VALUES (?, '{}', ?, ?)";
static const char SQL_OLD [] =
    "SELECT COUNT(*) FROM outbox WHERE order_no LIKE 'RT-OLD-%'";
static const char SQL_YOUNG [] =
    "SELECT COUNT(*) FROM outbox WHERE order_no LIKE 'RT-YOUNG-%'";
static const char SQL_OPEN [] =
    "SELECT COUNT(*) FROM outbox WHERE order_no LIKE 'RT-OPEN-%'";
static const char SQL_DROP_OURS [] =
    "DELETE FROM outbox WHERE order_no LIKE 'RT-%'";
//  This test's rows, and any row retention would take anyway (published
//  over a day ago): on a shared server another test may have left some,
//  and the first bounded prune below would count them.
static const char SQL_CLEAN [] =
    "DELETE FROM outbox WHERE order_no LIKE 'RT-%'"
    " OR (published_at IS NOT NULL AND published_at < ?)";

//  Inserts count outbox rows named prefix-i, created and published (0:
//  never) at the given times.
static void
s_insert (db_t *db, const char *prefix, int count, int64_t created, int64_t published)
{
    assert_int_equal (db_begin (db), DB_OK);
    for (int i = 0; i < count; i++) {
        char no [32];
        snprintf (no, sizeof no, "%s-%05d", prefix, i);
        db_stmt_t *st = db_stmt (db, SQL_INSERT);
        assert_non_null (st);
        db_bind_text (st, 1, no);
        db_bind_int64 (st, 2, created);
        if (published)
            db_bind_int64 (st, 3, published);
        else
            db_bind_text (st, 3, NULL);
        assert_int_equal (db_step (st), DB_DONE);
        db_reset (st);
    }
    assert_int_equal (db_commit (db), DB_OK);
}

//  The outbox case on the store at url.
static void
s_outbox_case (const char *url)
{
    char err [512] = "";
    store_t *store = store_open (url, err, sizeof err);
    if (!store)
        fail_msg ("store_open: %s", err);
    db_t *db = db_open (url, err, sizeof err);
    if (!db)
        fail_msg ("db_open: %s", err);
    int64_t now = util_now_ms (0);
    int64_t day = 86400 * 1000LL;
    db_stmt_t *clean = db_stmt (db, SQL_CLEAN);
    assert_non_null (clean);
    assert_int_equal (db_bind_int64 (clean, 1, now - day), DB_OK);
    assert_int_equal (db_step (clean), DB_DONE);
    db_reset (clean);
    s_insert (db, "RT-OLD", OLD_ROWS, now - 3 * day, now - 3 * day);
    s_insert (db, "RT-YOUNG", YOUNG_ROWS, now - 3 * day, now - 1000);
    s_insert (db, "RT-OPEN", OPEN_ROWS, now - 3 * day, 0);

    //  Two batches of 500 at most: 1000 go now, the rest next time.
    int64_t pruned = -1;
    assert_int_equal (retention_prune_outbox (store, now - day, 500, 2, &pruned), 0);
    assert_int_equal (pruned, 1000);
    assert_int_equal (s_count (db, SQL_OLD), OLD_ROWS - 1000);
    assert_int_equal (retention_prune_outbox (store, now - day, 500, 40, &pruned), 0);
    assert_true (pruned >= OLD_ROWS - 1000);    //  a shared server may hold older ones
    assert_int_equal (s_count (db, SQL_OLD), 0);
    assert_int_equal (s_count (db, SQL_YOUNG), YOUNG_ROWS);
    assert_int_equal (s_count (db, SQL_OPEN), OPEN_ROWS);
    //  Nothing more to do.
    assert_int_equal (retention_prune_outbox (store, now - day, 500, 40, &pruned), 0);
    assert_int_equal (s_count (db, SQL_YOUNG) + s_count (db, SQL_OPEN), YOUNG_ROWS + OPEN_ROWS);

    db_exec (db, SQL_DROP_OURS);
    db_destroy (&db);
    store_destroy (&store);
}

//  Published old rows go in bounded batches; the rest stays (SQLite).
static void
test_outbox_sqlite (void **state)
{
    char *dir = tk_tempdir ("retention-outbox");
    assert_non_null (dir);
    char url [600];
    snprintf (url, sizeof url, "sqlite:%s/command.db", dir);
    s_outbox_case (url);
    free (dir);
}

//  The same on MariaDB (DELETE … LIMIT), when one is configured.
static void
test_outbox_mysql (void **state)
{
    const char *url = getenv ("COFFEE_TEST_STORE_URL");
    if (!url || !*url)
        skip ();
    s_outbox_case (url);
}

static const char SQL_IDEM_INSERT [] =
    "INSERT INTO idempotency (route, customer_id, idem_key, request, status, response, state,"
    " created_at, updated_at) VALUES ('point.charge', 'CUST-00000001', ?, '{}', 200, '{}', ?, ?, ?)";
static const char SQL_IDEM_COUNT [] =
    "SELECT COUNT(*) FROM idempotency WHERE idem_key LIKE ? AND state = ?";

//  Inserts count keys prefix-i in state, last written at updated.
static void
s_idem_insert (db_t *db, const char *prefix, const char *state, int count, int64_t updated)
{
    assert_int_equal (db_begin (db), DB_OK);
    for (int i = 0; i < count; i++) {
        char key [64];
        snprintf (key, sizeof key, "%s-%05d", prefix, i);
        db_stmt_t *st = db_stmt (db, SQL_IDEM_INSERT);
        assert_non_null (st);
        db_bind_text (st, 1, key);
        db_bind_text (st, 2, state);
        db_bind_int64 (st, 3, updated);
        db_bind_int64 (st, 4, updated);
        assert_int_equal (db_step (st), DB_DONE);
        db_reset (st);
    }
    assert_int_equal (db_commit (db), DB_OK);
}

//  Keys named prefix-… in state.
static int64_t
s_idem_count (db_t *db, const char *prefix, const char *state)
{
    char like [64];
    snprintf (like, sizeof like, "%s-%%", prefix);
    db_stmt_t *st = db_stmt (db, SQL_IDEM_COUNT);
    assert_non_null (st);
    db_bind_text (st, 1, like);
    db_bind_text (st, 2, state);
    assert_int_equal (db_step (st), DB_ROW);
    int64_t n = db_column_int64 (st, 0);
    db_reset (st);
    return n;
}

//  Old finished keys and crash-left running ones go; young ones stay.
static void
test_idempotency_sqlite (void **state)
{
    char *dir = tk_tempdir ("retention-idem");
    assert_non_null (dir);
    char url [600], err [512] = "";
    snprintf (url, sizeof url, "sqlite:%s/command.db", dir);
    store_t *store = store_open (url, err, sizeof err);
    if (!store)
        fail_msg ("store_open: %s", err);
    db_t *db = db_open (url, err, sizeof err);
    assert_non_null (db);
    int64_t now = util_now_ms (0);
    int64_t hour = 3600 * 1000LL;
    s_idem_insert (db, "done-old", "done", 730, now - 50 * hour);
    s_idem_insert (db, "done-young", "done", 11, now - hour);
    s_idem_insert (db, "run-old", "running", 13, now - 10 * 60 * 1000);
    s_idem_insert (db, "run-young", "running", 3, now - 1000);

    int64_t done = -1, running = -1;
    //  Batches of 100, at most 3 per kind this call.
    assert_int_equal (retention_prune_idem (store, now - 48 * hour, now - STORE_IDEM_STALE_MS,
                                            100, 3, &done, &running), 0);
    assert_int_equal (done, 300);
    assert_int_equal (running, 13);
    assert_int_equal (retention_prune_idem (store, now - 48 * hour, now - STORE_IDEM_STALE_MS,
                                            100, 40, &done, &running), 0);
    assert_int_equal (done, 430);
    assert_int_equal (running, 0);
    assert_int_equal (s_idem_count (db, "done-old", "done"), 0);
    assert_int_equal (s_idem_count (db, "done-young", "done"), 11);
    assert_int_equal (s_idem_count (db, "run-old", "running"), 0);
    assert_int_equal (s_idem_count (db, "run-young", "running"), 3);
    db_destroy (&db);
    store_destroy (&store);
    free (dir);
}

//  A local-log config on a new data dir.
static config_t *
s_cfg_new (void)
{
    char *dir = tk_tempdir ("retention-log");
    assert_non_null (dir);
    char *argv [] = { "test", "--data-dir", dir, "--bridge", "local", NULL };
    config_t *cfg = (config_t *) calloc (1, sizeof (config_t));
    char err [256] = "";
    int rc = config_load (cfg, 5, argv, err, sizeof err);
    free (dir);
    assert_int_equal (rc, 0);
    return cfg;
}

//  Reads events with consumer up to and including offset upto, then
//  commits there.
static void
s_consume_to (eventlog_t *consumer, int64_t upto)
{
    eventlog_event_t ev = { 0 };
    int64_t last = 0;
    while (last < upto) {
        assert_int_equal (eventlog_poll (consumer, &ev, 2000), 1);
        last = ev.offset;
        if (last == upto)
            assert_int_equal (eventlog_commit (consumer, &ev), 0);
        eventlog_event_reset (&ev);
    }
}

//  Rows below every group's position go; the others stay.
static void
test_eventlog_local (void **state)
{
    config_t *cfg = s_cfg_new ();
    char err [512] = "";
    const char *groups [] = { BRIDGE_GROUP_DISPLAY, BRIDGE_GROUP_COLLECTOR, NULL };
    int64_t pruned = -1;
    //  No log yet: nothing to do.
    assert_int_equal (eventlog_local_prune (cfg, groups, util_now_ms (0) + 1, 100, 40, &pruned), 0);
    assert_int_equal (pruned, 0);

    eventlog_t *producer = eventlog_producer_new (cfg, err, sizeof err);
    assert_non_null (producer);
    for (int i = 1; i <= 300; i++) {
        char key [32], payload [64];
        snprintf (key, sizeof key, "ORD-%08d", i);
        snprintf (payload, sizeof payload, "{\"n\":%d}", i);
        eventlog_msg_t msg = { key, payload, strlen (payload) };
        assert_int_equal (eventlog_publish (producer, &msg, 1, 1000), 1);
    }
    eventlog_t *display = eventlog_consumer_new (cfg, BRIDGE_GROUP_DISPLAY, err, sizeof err);
    eventlog_t *collector = eventlog_consumer_new (cfg, BRIDGE_GROUP_COLLECTOR, err, sizeof err);
    assert_non_null (display);
    assert_non_null (collector);
    int64_t later = util_now_ms (0) + 1000;     //  every row is "old" for this cutoff

    //  Only one group has a position: the other may need every row.
    s_consume_to (display, 200);
    assert_int_equal (eventlog_local_prune (cfg, groups, later, 100, 40, &pruned), 0);
    assert_int_equal (pruned, 0);

    //  Both have one: what is below the lower one (120) goes, in batches.
    s_consume_to (collector, 120);
    //  Too young for the cutoff: nothing.
    assert_int_equal (eventlog_local_prune (cfg, groups, util_now_ms (0) - 3600000, 100, 40,
                                            &pruned), 0);
    assert_int_equal (pruned, 0);
    assert_int_equal (eventlog_local_prune (cfg, groups, later, 50, 1, &pruned), 0);
    assert_int_equal (pruned, 50);              //  one batch of 50
    assert_int_equal (eventlog_local_prune (cfg, groups, later, 50, 40, &pruned), 0);
    assert_int_equal (pruned, 69);              //  offsets 51..119
    assert_int_equal (eventlog_local_prune (cfg, groups, later, 50, 40, &pruned), 0);
    assert_int_equal (pruned, 0);

    //  Consumers go on from their positions; lags are exact.
    assert_int_equal (eventlog_lag (collector), 180);
    assert_int_equal (eventlog_lag (display), 100);
    eventlog_event_t ev = { 0 };
    assert_int_equal (eventlog_poll (collector, &ev, 2000), 1);
    assert_int_equal (ev.offset, 121);
    eventlog_event_reset (&ev);
    //  A consumer that reopens starts at its committed position.
    eventlog_destroy (&collector);
    collector = eventlog_consumer_new (cfg, BRIDGE_GROUP_COLLECTOR, err, sizeof err);
    assert_non_null (collector);
    assert_int_equal (eventlog_poll (collector, &ev, 2000), 1);
    assert_int_equal (ev.offset, 121);
    eventlog_event_reset (&ev);

    //  Everything consumed by both: all but the last row go (the log's end
    //  stays known), and new events still get new offsets.
    s_consume_to (display, 300);
    s_consume_to (collector, 300);
    assert_int_equal (eventlog_local_prune (cfg, groups, later, 500, 40, &pruned), 0);
    assert_int_equal (pruned, 180);
    assert_int_equal (eventlog_lag (display), 0);
    eventlog_msg_t msg = { "ORD-99999999", "{}", 2 };
    assert_int_equal (eventlog_publish (producer, &msg, 1, 1000), 1);
    assert_int_equal (eventlog_poll (display, &ev, 2000), 1);
    assert_int_equal (ev.offset, 301);
    eventlog_event_reset (&ev);

    eventlog_destroy (&display);
    eventlog_destroy (&collector);
    eventlog_destroy (&producer);
    free (cfg);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_outbox_sqlite),
        cmocka_unit_test (test_outbox_mysql),
        cmocka_unit_test (test_idempotency_sqlite),
        cmocka_unit_test (test_eventlog_local),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
