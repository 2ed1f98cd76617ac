/*  test_store_contract — the contract of store.h and display_store.h, run
    against whichever backend the environment names:
      COFFEE_TEST_STORE_URL, COFFEE_TEST_DISPLAY_STORE_URL   mysql://… (a live
          MariaDB, e.g. from scripts/mariadb.sh env); the tests drop and
          recreate their tables there
      unset                                                  fresh SQLite files
          in a temporary folder per test
    Every API operation and error reply, idempotency keys, the all-or-nothing
    order transaction, migrations, the display window to the millisecond,
    reconcile, and 16 connections racing on one customer.

    ctest bound: COFFEE_TEST_TIMEOUT 300 s. */
#include "testkit.h"
#include <cmocka.h>

#include "store.h"
#include "token.h"
#include "display_store.h"
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define STORE_SCHEMA    6       //  the command store's schema version (store/schema.c)
#define HOUR_MS (3600 * 1000LL)
#define NOW_MS 1764040000123LL      //  a fixed "now" (2025-11-25, not on an hour)

//  One test's databases.
typedef struct {
    char *dir;                      //  temporary folder (SQLite only)
    char store_url [1100];          //  command store URL
    char display_url [1100];        //  display store URL
    bool mysql;                     //  the URLs name MySQL
    store_t *store;                 //  open command store
    display_store_t *display;       //  open display store
} ctx_t;

static const char *const s_store_tables [] = {
    "order_menu", "outbox", "point_lot_use", "point_lot", "point_history", "point", "orders",
    "idempotency", "commit_mark", "order_no_next",
    "customer", "menu", "schema_version", NULL
};
static const char *const s_display_tables [] = {
    "ordered_menu", "menu_hourly", "consumer_position", "display_menu", "schema_version", NULL
};

//  Drops the given tables so the next open starts from nothing.
static void
s_wipe (const char *url, const char *const *tables)
{
    char err [256] = "";
    db_t *db = db_open (url, err, sizeof err);
    if (!db)
        fail_msg ("cannot open the store to wipe it: %s", err);
    bool mysql = db_dialect (db) == DB_MYSQL;
    if (mysql)
        assert_int_equal (db_exec (db, "SET FOREIGN_KEY_CHECKS = 0"), DB_OK);
    for (size_t i = 0; tables [i]; i++) {
        char sql [128];
        snprintf (sql, sizeof sql, "DROP TABLE IF EXISTS %s", tables [i]);
        if (db_exec (db, sql) != DB_OK)
            fail_msg ("%s: %s", sql, db_errmsg (db));
    }
    if (mysql)
        assert_int_equal (db_exec (db, "SET FOREIGN_KEY_CHECKS = 1"), DB_OK);
    db_destroy (&db);
}

//  Opens both stores on the ctx's URLs.
static void
s_open_stores (ctx_t *ctx)
{
    char err [256] = "";
    ctx->store = store_open (ctx->store_url, err, sizeof err);
    if (!ctx->store)
        fail_msg ("store_open: %s", err);
    ctx->display = display_store_open (ctx->display_url, err, sizeof err);
    if (!ctx->display)
        fail_msg ("display_store_open: %s", err);
}

//  Projects what the command store's outbox holds (the demo menus' events
//  on a first open) into the display store, as the relay and the
//  projection would, and marks it published: tests start from an empty
//  outbox and the display store's menus.
static void
s_project_outbox (ctx_t *ctx)
{
    store_outbox_row_t *rows = NULL;
    size_t count = 0;
    assert_int_equal (store_outbox_claim (ctx->store, 100, &rows, &count), 0);
    for (size_t i = 0; i < count; i++) {
        event_t ev;
        assert_int_equal (event_decode (rows [i].payload, strlen (rows [i].payload), &ev), 0);
        bool applied = false;
        if (ev.kind == EVENT_KIND_MENU)
            assert_int_equal (display_store_apply_menu (ctx->display, &ev.menu, "setup", 0,
                                                        (int64_t) i, &applied), 0);
        else
            assert_int_equal (display_store_apply (ctx->display, &ev.order, "setup", 0,
                                                   (int64_t) i, &applied), 0);
        event_reset (&ev);
    }
    if (count)
        assert_int_equal (store_outbox_mark (ctx->store, rows, count, NOW_MS), 0);
    else
        store_outbox_release (ctx->store);
    store_outbox_rows_free (&rows, count);
}

//  Fresh databases for one test.
static int
s_setup (void **state)
{
    ctx_t *ctx = (ctx_t *) calloc (1, sizeof *ctx);
    assert_non_null (ctx);
    const char *store_url = getenv ("COFFEE_TEST_STORE_URL");
    const char *display_url = getenv ("COFFEE_TEST_DISPLAY_STORE_URL");
    if (store_url && *store_url) {
        ctx->mysql = strncmp (store_url, "mysql://", 8) == 0;
        snprintf (ctx->store_url, sizeof ctx->store_url, "%s", store_url);
        snprintf (ctx->display_url, sizeof ctx->display_url, "%s",
                  display_url && *display_url ? display_url : store_url);
    }
    else {
        ctx->dir = tk_tempdir ("coffee-store");
        assert_non_null (ctx->dir);
        //  a folder that does not exist yet: db_open creates it
        snprintf (ctx->store_url, sizeof ctx->store_url, "sqlite:%s/data/store.db", ctx->dir);
        snprintf (ctx->display_url, sizeof ctx->display_url, "%s/data/display.db", ctx->dir);
    }
    s_wipe (ctx->store_url, s_store_tables);
    s_wipe (ctx->display_url, s_display_tables);
    s_open_stores (ctx);
    s_project_outbox (ctx);
    *state = ctx;
    return 0;
}

//  Closes the stores and removes the temporary folder.
static int
s_teardown (void **state)
{
    ctx_t *ctx = (ctx_t *) *state;
    store_destroy (&ctx->store);
    display_store_destroy (&ctx->display);
    if (ctx->dir) {
        zdir_t *dir = zdir_new (ctx->dir, NULL);
        if (dir) {
            zdir_remove (dir, true);
            zdir_destroy (&dir);
        }
        free (ctx->dir);
    }
    free (ctx);
    return 0;
}

//  One integer from a query without parameters (sql must be static text).
static int64_t
s_int (db_t *db, const char *sql)
{
    db_stmt_t *st = db_stmt (db, sql);
    if (!st)
        fail_msg ("prepare %s: %s", sql, db_errmsg (db));
    int rc = db_step (st);
    if (rc != DB_ROW)
        fail_msg ("step %s: %d %s", sql, rc, db_errmsg (db));
    int64_t value = db_column_int64 (st, 0);
    db_reset (st);
    return value;
}

//  Parses a reply body, failing the test when it is not JSON.
static cJSON *
s_json (const store_reply_t *reply)
{
    assert_non_null (reply->body);
    cJSON *json = cJSON_Parse (reply->body);
    if (!json)
        fail_msg ("reply is not JSON: %s", reply->body);
    return json;
}

//  Asserts an error reply's status, code and message (message NULL: any).
static void
s_assert_error (const store_reply_t *reply, int status, const char *code, const char *message)
{
    if (reply->status != status)
        fail_msg ("status %d, want %d: %s", reply->status, status,
                  reply->body ? reply->body : "(null)");
    cJSON *json = s_json (reply);
    const cJSON *c = cJSON_GetObjectItemCaseSensitive (json, "code");
    const cJSON *m = cJSON_GetObjectItemCaseSensitive (json, "message");
    assert_true (cJSON_IsString (c));
    assert_true (cJSON_IsString (m));
    assert_string_equal (c->valuestring, code);
    if (message)
        assert_string_equal (m->valuestring, message);
    cJSON_Delete (json);
}

//  Asserts a string member of a JSON reply.
static void
s_assert_member (const store_reply_t *reply, const char *name, const char *value)
{
    cJSON *json = s_json (reply);
    const cJSON *item = cJSON_GetObjectItemCaseSensitive (json, name);
    if (!cJSON_IsString (item))
        fail_msg ("no string %s in %s", name, reply->body);
    assert_string_equal (item->valuestring, value);
    cJSON_Delete (json);
}

//  Creates a customer and returns its id in id (COFFEE_ID_MAX).
static void
s_customer (ctx_t *ctx, char *id)
{
    store_reply_t reply = { 0 };
    assert_int_equal (store_customer_create (ctx->store, "홍길동", NULL, NOW_MS, &reply), 0);
    assert_int_equal (reply.status, 200);
    cJSON *json = s_json (&reply);
    const cJSON *item = cJSON_GetObjectItemCaseSensitive (json, "customerId");
    assert_true (cJSON_IsString (item));
    snprintf (id, COFFEE_ID_MAX, "%s", item->valuestring);
    cJSON_Delete (json);
    store_reply_reset (&reply);
}

//  Charges and asserts 200.
static void
s_charge (ctx_t *ctx, const char *id, int64_t amount)
{
    store_reply_t reply = { 0 };
    assert_int_equal (store_charge (ctx->store, id, amount, NULL, NULL, NOW_MS, &reply), 0);
    if (reply.status != 200)
        fail_msg ("charge: %d %s", reply.status, reply.body);
    store_reply_reset (&reply);
}

//  Makes a one-entry line list.
static event_line_t
s_line (const char *menu_id, int64_t qy)
{
    event_line_t line;
    memset (&line, 0, sizeof line);
    snprintf (line.menu_id, sizeof line.menu_id, "%s", menu_id);
    line.qy = qy;
    return line;
}

//  Everything an order or charge could change, to prove a failure changed
//  nothing.
typedef struct {
    int64_t balance;                //  the customer's balance
    int64_t history_sum;            //  sum of their history
    int64_t history_rows;           //  rows of point_history
    int64_t orders;                 //  rows of orders
    int64_t lines;                  //  rows of order_menu
    int64_t outbox;                 //  rows of outbox
    int64_t idem;                   //  rows of idempotency
} s_snap_t;

//  Takes a snapshot of the counts above.
static s_snap_t
s_snap (ctx_t *ctx, const char *id)
{
    s_snap_t snap;
    memset (&snap, 0, sizeof snap);
    assert_int_equal (store_balance (ctx->store, id, &snap.balance, &snap.history_sum), 0);
    db_t *db = store_db (ctx->store);
    snap.history_rows = s_int (db, "SELECT COUNT(*) FROM point_history");
    snap.orders = s_int (db, "SELECT COUNT(*) FROM orders");
    snap.lines = s_int (db, "SELECT COUNT(*) FROM order_menu");
    snap.outbox = s_int (db, "SELECT COUNT(*) FROM outbox");
    snap.idem = s_int (db, "SELECT COUNT(*) FROM idempotency");
    return snap;
}

//  Asserts two snapshots are equal.
static void
s_assert_same (const s_snap_t *a, const s_snap_t *b)
{
    assert_int_equal (a->balance, b->balance);
    assert_int_equal (a->history_sum, b->history_sum);
    assert_int_equal (a->history_rows, b->history_rows);
    assert_int_equal (a->orders, b->orders);
    assert_int_equal (a->lines, b->lines);
    assert_int_equal (a->outbox, b->outbox);
    assert_int_equal (a->idem, b->idem);
}

// ---------------------------------------------------------------------------
//  Open, seed, migrations

//  The five demo menus are seeded once; reopening changes nothing.
static void
test_seed_and_reopen (void **state)
{
    ctx_t *ctx = (ctx_t *) *state;
    db_t *db = store_db (ctx->store);
    assert_int_equal (s_int (db, "SELECT COUNT(*) FROM menu"), 5);
    assert_int_equal (s_int (db, "SELECT COUNT(*) FROM menu WHERE use_yn = 'Y'"), 5);
    assert_int_equal (s_int (db, "SELECT SUM(menu_price) FROM menu"), 4200 * 2 + 4500 * 3);
    assert_int_equal (s_int (db, "SELECT version FROM schema_version WHERE component = 'store'"),
                      STORE_SCHEMA);
    assert_int_equal (s_int (db, "SELECT COUNT(*) FROM menu WHERE version = 1"), 5);
    int64_t stamp = s_int (db, "SELECT updated_at FROM schema_version WHERE component = 'store'");

    char *menus = NULL;
    assert_int_equal (display_store_menus (ctx->display, &menus), 0);
    assert_string_equal (menus,
        "[{\"menuId\":\"MENU-00000001\",\"menuNm\":\"아이스 아메리카노\",\"menuPrice\":4200},"
        "{\"menuId\":\"MENU-00000002\",\"menuNm\":\"핫 아메리카노\",\"menuPrice\":4200},"
        "{\"menuId\":\"MENU-00000003\",\"menuNm\":\"핫 초코\",\"menuPrice\":4500},"
        "{\"menuId\":\"MENU-00000004\",\"menuNm\":\"아이스 초코\",\"menuPrice\":4500},"
        "{\"menuId\":\"MENU-00000005\",\"menuNm\":\"모닝세트1\",\"menuPrice\":4500}]");
    zstr_free (&menus);

    //  A removed menu stays removed: seeding only fills an empty table
    assert_int_equal (db_exec (db, "DELETE FROM menu WHERE menu_id = 'MENU-00000005'"), DB_OK);
    store_destroy (&ctx->store);
    display_store_destroy (&ctx->display);
    zclock_sleep (5);
    s_open_stores (ctx);
    db = store_db (ctx->store);
    assert_int_equal (s_int (db, "SELECT COUNT(*) FROM menu"), 4);
    assert_int_equal (s_int (db, "SELECT COUNT(*) FROM outbox WHERE published_at IS NULL"), 0);
    assert_int_equal (s_int (db, "SELECT version FROM schema_version WHERE component = 'store'"),
                      STORE_SCHEMA);
    assert_int_equal (s_int (db, "SELECT updated_at FROM schema_version WHERE component = 'store'"), stamp);
    db_t *ddb = display_store_db (ctx->display);
    assert_int_equal (s_int (ddb, "SELECT COUNT(*) FROM display_menu"), 5);
    assert_int_equal (s_int (ddb, "SELECT version FROM schema_version WHERE component = 'display'"), 2);
    assert_int_equal (store_ping (ctx->store), DB_OK);
    assert_int_equal (display_store_ping (ctx->display), DB_OK);

    //  Unknown schemes are refused with a message
    char err [256] = "";
    assert_null (store_open ("postgres://x/y", err, sizeof err));
    assert_non_null (strstr (err, "postgres"));
    assert_null (display_store_open ("", err, sizeof err));
}

//  Two connections opening an empty database at once: one migrates, both
//  work, the seed is there once.
typedef struct {
    const char *url;                //  store URL
    int ok;                         //  1 when store_open succeeded
    char err [256];                 //  its message otherwise
} s_open_arg_t;

//  Thread body: opens and closes a store.
static void *
s_open_thread (void *arg)
{
    s_open_arg_t *a = (s_open_arg_t *) arg;
    store_t *store = store_open (a->url, a->err, sizeof a->err);
    a->ok = store != NULL;
    store_destroy (&store);
    return NULL;
}

static void
test_concurrent_open (void **state)
{
    ctx_t *ctx = (ctx_t *) *state;
    store_destroy (&ctx->store);
    s_wipe (ctx->store_url, s_store_tables);
    enum { OPENERS = 8 };
    pthread_t threads [OPENERS];
    s_open_arg_t args [OPENERS];
    for (int i = 0; i < OPENERS; i++) {
        memset (&args [i], 0, sizeof args [i]);
        args [i].url = ctx->store_url;
        assert_int_equal (pthread_create (&threads [i], NULL, s_open_thread, &args [i]), 0);
    }
    for (int i = 0; i < OPENERS; i++)
        pthread_join (threads [i], NULL);
    for (int i = 0; i < OPENERS; i++)
        if (!args [i].ok)
            fail_msg ("opener %d: %s", i, args [i].err);
    char err [256] = "";
    ctx->store = store_open (ctx->store_url, err, sizeof err);
    assert_non_null (ctx->store);
    db_t *db = store_db (ctx->store);
    assert_int_equal (s_int (db, "SELECT COUNT(*) FROM menu"), 5);
    assert_int_equal (s_int (db, "SELECT version FROM schema_version WHERE component = 'store'"),
                      STORE_SCHEMA);
    //  Racing first opens told each demo menu once
    assert_int_equal (s_int (db, "SELECT COUNT(*) FROM outbox WHERE kind = 'menu.changed'"), 5);
}

// ---------------------------------------------------------------------------
//  Customers and points

static void
test_customer_create (void **state)
{
    ctx_t *ctx = (ctx_t *) *state;
    store_reply_t reply = { 0 };
    assert_int_equal (store_customer_create (ctx->store, "김철수", NULL, NOW_MS, &reply), 0);
    assert_int_equal (reply.status, 200);
    assert_string_equal (reply.body, "{\"customerId\":\"CUST-00000001\"}");
    store_reply_reset (&reply);
    assert_int_equal (store_customer_create (ctx->store, "이영희", NULL, NOW_MS, &reply), 0);
    assert_string_equal (reply.body, "{\"customerId\":\"CUST-00000002\"}");
    store_reply_reset (&reply);

    int64_t balance = -1, sum = -1;
    assert_int_equal (store_balance (ctx->store, "CUST-00000002", &balance, &sum), 0);
    assert_int_equal (balance, 0);
    assert_int_equal (sum, 0);
    assert_int_equal (store_balance (ctx->store, "CUST-00000099", &balance, &sum), -1);

    //  Names outside 1..100 bytes are refused and change nothing
    char long_name [STORE_NAME_MAX + 2];
    memset (long_name, 'a', sizeof long_name - 1);
    long_name [sizeof long_name - 1] = 0;
    const char *bad [] = { "", long_name, NULL };
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal (store_customer_create (ctx->store, bad [i], NULL, NOW_MS, &reply), 0);
        s_assert_error (&reply, 400, "INVALID_INPUT", NULL);
        s_assert_member (&reply, "field", "customerNm");
        store_reply_reset (&reply);
    }
    assert_int_equal (s_int (store_db (ctx->store), "SELECT COUNT(*) FROM customer"), 2);
}

static void
test_charge (void **state)
{
    ctx_t *ctx = (ctx_t *) *state;
    char id [COFFEE_ID_MAX];
    s_customer (ctx, id);
    store_reply_t reply = { 0 };
    assert_int_equal (store_charge (ctx->store, id, 5000, NULL, NULL, NOW_MS, &reply), 0);
    assert_int_equal (reply.status, 200);
    assert_string_equal (reply.body,
        "{\"beforeChargePoint\":0,\"chargeAmt\":5000,\"afterChargePoint\":5000}");
    store_reply_reset (&reply);
    assert_int_equal (store_charge (ctx->store, id, STORE_CHARGE_MAX, NULL, NULL, NOW_MS, &reply), 0);
    assert_string_equal (reply.body,
        "{\"beforeChargePoint\":5000,\"chargeAmt\":1000000000,\"afterChargePoint\":1000005000}");
    store_reply_reset (&reply);

    //  Unknown customer
    s_snap_t before = s_snap (ctx, id);
    assert_int_equal (store_charge (ctx->store, "CUST-00000077", 100, NULL, NULL, NOW_MS, &reply), 0);
    assert_int_equal (reply.status, 404);
    assert_string_equal (reply.body,
        "{\"code\":\"NOT_FOUND_DATA\",\"message\":\"해당 고객 정보 이/가 존재하지 않습니다.\"}");
    store_reply_reset (&reply);

    //  Amounts out of range, ids that cannot be ids
    int64_t amounts [] = { 0, -1, STORE_CHARGE_MAX + 1, INT64_MAX, INT64_MIN };
    for (size_t i = 0; i < sizeof amounts / sizeof amounts [0]; i++) {
        assert_int_equal (store_charge (ctx->store, id, amounts [i], NULL, NULL, NOW_MS, &reply), 0);
        s_assert_error (&reply, 400, "INVALID_INPUT", NULL);
        s_assert_member (&reply, "field", "chargeAmt");
        store_reply_reset (&reply);
    }
    assert_int_equal (store_charge (ctx->store, NULL, 1, NULL, NULL, NOW_MS, &reply), 0);
    s_assert_error (&reply, 400, "INVALID_INPUT", NULL);
    store_reply_reset (&reply);
    s_snap_t after = s_snap (ctx, id);
    s_assert_same (&before, &after);

    //  Up to INT64_MAX exactly, and not one point past it
    char sql [200];
    snprintf (sql, sizeof sql, "UPDATE point SET balance = %" PRId64 " WHERE customer_id = '%s'",
              INT64_MAX - 1000, id);
    assert_int_equal (db_exec (store_db (ctx->store), sql), DB_OK);
    assert_int_equal (store_charge (ctx->store, id, 1000, NULL, NULL, NOW_MS, &reply), 0);
    assert_int_equal (reply.status, 200);
    assert_string_equal (reply.body,
        "{\"beforeChargePoint\":9223372036854774807,\"chargeAmt\":1000,"
        "\"afterChargePoint\":9223372036854775807}");
    store_reply_reset (&reply);
    before = s_snap (ctx, id);
    assert_int_equal (store_charge (ctx->store, id, 1, NULL, NULL, NOW_MS, &reply), 0);
    assert_int_equal (reply.status, 400);
    assert_string_equal (reply.body,
        "{\"code\":\"INVALID_INPUT\",\"message\":\"chargeAmt: the balance would exceed the maximum\","
        "\"field\":\"chargeAmt\"}");
    store_reply_reset (&reply);
    after = s_snap (ctx, id);
    s_assert_same (&before, &after);
    assert_int_equal (after.balance, INT64_MAX);
}

static void
test_point_get (void **state)
{
    ctx_t *ctx = (ctx_t *) *state;
    char id [COFFEE_ID_MAX];
    s_customer (ctx, id);
    store_reply_t reply = { 0 };
    assert_int_equal (store_point_get (ctx->store, id, NULL, 0, 0, NOW_MS, &reply), 0);
    assert_int_equal (reply.status, 200);
    assert_string_equal (reply.body,
        "[{\"customerId\":\"CUST-00000001\",\"point\":0,\"expiringPoint\":0,\"pointDetail\":[],"
        "\"nextCursor\":null}]");
    store_reply_reset (&reply);

    s_charge (ctx, id, 5000);
    event_line_t line = s_line ("MENU-00000001", 1);
    assert_int_equal (store_order_create (ctx->store, id, NULL, &line, 1, NULL, NOW_MS, &reply), 0);
    assert_int_equal (reply.status, 200);
    store_reply_reset (&reply);
    assert_int_equal (store_point_get (ctx->store, id, NULL, 0, 0, NOW_MS, &reply), 0);
    assert_int_equal (reply.status, 200);
    assert_string_equal (reply.body,
        "[{\"customerId\":\"CUST-00000001\",\"point\":800,\"expiringPoint\":0,\"pointDetail\":["
        "{\"point\":-4200,\"pointTypeCode\":\"USE\",\"pointTypeName\":\"사용\","
        "\"expDate\":null,\"remark\":\"주문 ORD-00000001\"},"
        "{\"point\":5000,\"pointTypeCode\":\"CHARGE\",\"pointTypeName\":\"충전\","
        "\"expDate\":null,\"remark\":\"고객 충전\"}],\"nextCursor\":null}]");
    store_reply_reset (&reply);

    assert_int_equal (store_point_get (ctx->store, "CUST-12345678", NULL, 0, 0, NOW_MS, &reply), 0);
    s_assert_error (&reply, 404, "NOT_FOUND_DATA", "해당 고객 정보 이/가 존재하지 않습니다.");
    store_reply_reset (&reply);
}

// ---------------------------------------------------------------------------
//  Orders

static void
test_order_create_and_get (void **state)
{
    ctx_t *ctx = (ctx_t *) *state;
    char id [COFFEE_ID_MAX];
    s_customer (ctx, id);
    s_charge (ctx, id, 20000);
    store_reply_t reply = { 0 };
    event_line_t lines [2] = { s_line ("MENU-00000003", 2), s_line ("MENU-00000001", 1) };
    assert_int_equal (store_order_create (ctx->store, id, NULL, lines, 2, NULL, NOW_MS, &reply), 0);
    assert_int_equal (reply.status, 200);
    assert_string_equal (reply.body,
        "{\"orderNo\":\"ORD-00000001\",\"orderPrice\":13200,\"usePoint\":13200}");
    store_reply_reset (&reply);

    int64_t balance = 0, sum = 0;
    assert_int_equal (store_balance (ctx->store, id, &balance, &sum), 0);
    assert_int_equal (balance, 6800);
    assert_int_equal (sum, 6800);

    assert_int_equal (store_order_get (ctx->store, "ORD-00000001", NULL, &reply), 0);
    assert_int_equal (reply.status, 200);
    char when [UTIL_ISO_MAX], want [1024];
    snprintf (want, sizeof want,
        "{\"orderNo\":\"ORD-00000001\",\"customerId\":\"%s\",\"orderPrice\":13200,"
        "\"payAmt\":13200,\"orderedAt\":\"%s\",\"menuList\":["
        "{\"menuId\":\"MENU-00000001\",\"menuNm\":\"아이스 아메리카노\",\"qy\":1,\"menuPrice\":4200},"
        "{\"menuId\":\"MENU-00000003\",\"menuNm\":\"핫 초코\",\"qy\":2,\"menuPrice\":4500}]}",
        id, util_iso8601 (NOW_MS, when));
    assert_string_equal (reply.body, want);
    store_reply_reset (&reply);

    assert_int_equal (store_order_get (ctx->store, "ORD-00000002", NULL, &reply), 0);
    assert_int_equal (reply.status, 404);
    assert_string_equal (reply.body,
        "{\"code\":\"NOT_FOUND_DATA\",\"message\":\"해당 주문 정보 이/가 존재하지 않습니다.\"}");
    store_reply_reset (&reply);

    //  The outbox row carries the order event
    int64_t pending = -1;
    assert_int_equal (store_outbox_pending (ctx->store, &pending), 0);
    assert_int_equal (pending, 1);
    store_outbox_row_t *rows = NULL;
    size_t count = 0;
    assert_int_equal (store_outbox_claim (ctx->store, 10, &rows, &count), 0);
    assert_int_equal (count, 1);
    assert_string_equal (rows [0].key, "ORD-00000001");
    assert_string_equal (rows [0].kind, "order");
    event_t envelope;
    assert_int_equal (event_decode (rows [0].payload, strlen (rows [0].payload), &envelope), 0);
    assert_int_equal (envelope.kind, EVENT_KIND_ORDER);
    assert_string_equal (envelope.key, "ORD-00000001");
    assert_int_equal (envelope.version, 1);
    assert_int_equal (envelope.time_ms, NOW_MS);
    event_order_t ev = envelope.order;          //  takes the lines over
    assert_string_equal (ev.order_no, "ORD-00000001");
    assert_string_equal (ev.customer_id, id);
    assert_int_equal (ev.pay_amt, 13200);
    assert_int_equal (ev.ordered_at_ms, NOW_MS);
    assert_int_equal (ev.line_count, 2);
    assert_string_equal (ev.lines [0].menu_id, "MENU-00000003");
    assert_int_equal (ev.lines [0].qy, 2);
    assert_string_equal (ev.lines [1].menu_id, "MENU-00000001");
    assert_int_equal (ev.lines [1].qy, 1);
    event_order_reset (&ev);
    store_outbox_release (ctx->store);
    store_outbox_rows_free (&rows, count);
    assert_null (rows);
}

//  A menuId listed twice is one line with the summed qy.
static void
test_order_merges_duplicates (void **state)
{
    ctx_t *ctx = (ctx_t *) *state;
    char id [COFFEE_ID_MAX];
    s_customer (ctx, id);
    s_charge (ctx, id, 1000000);
    store_reply_t reply = { 0 };
    event_line_t lines [3] = {
        s_line ("MENU-00000001", 2), s_line ("MENU-00000003", 1), s_line ("MENU-00000001", 3)
    };
    assert_int_equal (store_order_create (ctx->store, id, NULL, lines, 3, NULL, NOW_MS, &reply), 0);
    assert_int_equal (reply.status, 200);
    assert_string_equal (reply.body,
        "{\"orderNo\":\"ORD-00000001\",\"orderPrice\":25500,\"usePoint\":25500}");
    store_reply_reset (&reply);
    db_t *db = store_db (ctx->store);
    assert_int_equal (s_int (db, "SELECT COUNT(*) FROM order_menu"), 2);
    assert_int_equal (s_int (db, "SELECT qy FROM order_menu WHERE menu_id = 'MENU-00000001'"), 5);

    //  The merged qy must stay within STORE_QY_MAX
    s_snap_t before = s_snap (ctx, id);
    event_line_t big [2] = { s_line ("MENU-00000002", 50), s_line ("MENU-00000002", 51) };
    assert_int_equal (store_order_create (ctx->store, id, NULL, big, 2, NULL, NOW_MS, &reply), 0);
    s_assert_error (&reply, 400, "INVALID_INPUT", NULL);
    s_assert_member (&reply, "field", "menuList");
    store_reply_reset (&reply);
    s_snap_t after = s_snap (ctx, id);
    s_assert_same (&before, &after);
    event_line_t ok [2] = { s_line ("MENU-00000002", 50), s_line ("MENU-00000002", 50) };
    assert_int_equal (store_order_create (ctx->store, id, NULL, ok, 2, NULL, NOW_MS, &reply), 0);
    assert_int_equal (reply.status, 200);
    store_reply_reset (&reply);
}

//  Every refused order leaves balance, history, orders and outbox as they were.
static void
test_order_errors_change_nothing (void **state)
{
    ctx_t *ctx = (ctx_t *) *state;
    char id [COFFEE_ID_MAX];
    s_customer (ctx, id);
    s_charge (ctx, id, 2200);
    db_t *db = store_db (ctx->store);
    assert_int_equal (db_exec (db, "UPDATE menu SET use_yn = 'N' WHERE menu_id = 'MENU-00000004'"),
                      DB_OK);
    assert_int_equal (db_exec (db, "UPDATE menu SET menu_price = 9223372036854775807"
                                   " WHERE menu_id = 'MENU-00000005'"), DB_OK);
    s_snap_t before = s_snap (ctx, id);
    store_reply_t reply = { 0 };

    //  Not enough points: 4200 - 2200 short
    event_line_t one = s_line ("MENU-00000001", 1);
    assert_int_equal (store_order_create (ctx->store, id, NULL, &one, 1, NULL, NOW_MS, &reply), 0);
    assert_int_equal (reply.status, 409);
    assert_string_equal (reply.body,
        "{\"code\":\"NO_POINT\",\"message\":\"2000 포인트가 부족합니다. 포인트 충전 후 다시 "
        "이용해주세요\",\"shortfall\":2000}");
    store_reply_reset (&reply);

    //  Unknown customer
    assert_int_equal (store_order_create (ctx->store, "CUST-55555555", NULL, &one, 1, NULL, NOW_MS,
                                          &reply), 0);
    assert_string_equal (reply.body,
        "{\"code\":\"NOT_FOUND_DATA\",\"message\":\"해당 고객 정보 이/가 존재하지 않습니다.\"}");
    assert_int_equal (reply.status, 404);
    store_reply_reset (&reply);

    //  Unknown menu after a known one, and an undisplayed menu
    //  An unknown menu is 404, a hidden one 409 MENU_NOT_ORDERABLE
    const char *missing [] = { "MENU-00000099", "MENU-00000004" };
    for (size_t i = 0; i < 2; i++) {
        event_line_t lines [2] = { s_line ("MENU-00000001", 1), s_line (missing [i], 1) };
        assert_int_equal (store_order_create (ctx->store, id, NULL, lines, 2, NULL, NOW_MS, &reply), 0);
        char want [256];
        if (i == 0)
            snprintf (want, sizeof want,
                "{\"code\":\"NOT_FOUND_DATA\",\"message\":\"해당 메뉴 정보 이/가 존재하지 않습니다.\","
                "\"menuId\":\"%s\"}", missing [i]);
        else
            snprintf (want, sizeof want,
                "{\"code\":\"MENU_NOT_ORDERABLE\",\"message\":\"해당 메뉴는 지금 주문할 수 없습니다.\","
                "\"menuId\":\"%s\"}", missing [i]);
        assert_int_equal (reply.status, i == 0 ? 404 : 409);
        assert_string_equal (reply.body, want);
        store_reply_reset (&reply);
    }

    //  The price would overflow int64
    event_line_t huge = s_line ("MENU-00000005", 2);
    assert_int_equal (store_order_create (ctx->store, id, NULL, &huge, 1, NULL, NOW_MS, &reply), 0);
    s_assert_error (&reply, 400, "INVALID_INPUT", NULL);
    s_assert_member (&reply, "field", "menuList");
    store_reply_reset (&reply);
    event_line_t sum_huge [2] = { s_line ("MENU-00000005", 1), s_line ("MENU-00000001", 1) };
    assert_int_equal (store_order_create (ctx->store, id, NULL, sum_huge, 2, NULL, NOW_MS, &reply), 0);
    s_assert_error (&reply, 400, "INVALID_INPUT", NULL);
    store_reply_reset (&reply);

    //  Bad lines: none, too many, qy out of range, empty menuId
    event_line_t many [STORE_LINES_MAX + 1];
    for (size_t i = 0; i < STORE_LINES_MAX + 1; i++)
        many [i] = s_line ("MENU-00000001", 1);
    event_line_t bad_qy [3] = { s_line ("MENU-00000001", 0), s_line ("MENU-00000001", 101),
                                s_line ("", 1) };
    assert_int_equal (store_order_create (ctx->store, id, NULL, many, 0, NULL, NOW_MS, &reply), 0);
    s_assert_error (&reply, 400, "INVALID_INPUT", NULL);
    store_reply_reset (&reply);
    assert_int_equal (store_order_create (ctx->store, id, NULL, many, STORE_LINES_MAX + 1, NULL,
                                          NOW_MS, &reply), 0);
    s_assert_error (&reply, 400, "INVALID_INPUT", NULL);
    store_reply_reset (&reply);
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal (store_order_create (ctx->store, id, NULL, &bad_qy [i], 1, NULL, NOW_MS,
                                              &reply), 0);
        s_assert_error (&reply, 400, "INVALID_INPUT", NULL);
        store_reply_reset (&reply);
    }
    assert_int_equal (store_order_create (ctx->store, NULL, NULL, &one, 1, NULL, NOW_MS, &reply), 0);
    s_assert_error (&reply, 400, "INVALID_INPUT", NULL);
    store_reply_reset (&reply);

    s_snap_t after = s_snap (ctx, id);
    s_assert_same (&before, &after);

    //  A store failure half way (the outbox table gone) rolls everything back
    event_line_t two = s_line ("MENU-00000001", 1);
    s_charge (ctx, id, 2000);
    before = s_snap (ctx, id);
    assert_int_equal (db_exec (db, "ALTER TABLE outbox RENAME TO outbox_away"), DB_OK);
    assert_int_equal (store_order_create (ctx->store, id, NULL, &two, 1, NULL, NOW_MS, &reply), -1);
    s_assert_error (&reply, 503, "UNAVAILABLE", NULL);
    store_reply_reset (&reply);
    assert_int_equal (db_exec (db, "ALTER TABLE outbox_away RENAME TO outbox"), DB_OK);
    after = s_snap (ctx, id);
    s_assert_same (&before, &after);
    assert_int_equal (store_order_create (ctx->store, id, NULL, &two, 1, NULL, NOW_MS, &reply), 0);
    assert_int_equal (reply.status, 200);
    store_reply_reset (&reply);
    after = s_snap (ctx, id);
    assert_int_equal (after.balance, 0);
    assert_int_equal (after.history_sum, 0);
    assert_int_equal (after.outbox, before.outbox + 1);
}


// ---------------------------------------------------------------------------
//  Groups and deadlines

//  Operations between store_group_begin and store_group_commit run in one
//  transaction, each in its own savepoint: the refused ones change nothing,
//  the rest commit together; the same key twice in one group replays;
//  the same customer twice with enough for one gets one 200. A rolled
//  back group leaves nothing.
static void
test_group_commit (void **state)
{
    ctx_t *ctx = (ctx_t *) *state;
    char rich [COFFEE_ID_MAX], poor [COFFEE_ID_MAX];
    s_customer (ctx, rich);
    s_customer (ctx, poor);
    s_charge (ctx, rich, 10000);
    s_snap_t before = s_snap (ctx, rich);
    store_reply_t reply = { 0 };
    event_line_t one = s_line ("MENU-00000001", 1), bad = s_line ("MENU-99999999", 1);
    store_idem_t key = { "group-key", "POST /order", "{\"g\":1}", rich };

    assert_int_equal (store_group_begin (ctx->store, 0), STORE_OK);
    assert_int_equal (store_order_create (ctx->store, rich, NULL, &one, 1, &key, NOW_MS, &reply), 0);
    assert_int_equal (reply.status, 200);
    assert_int_equal (reply.result, STORE_RESULT_DONE);
    char *first = strdup (reply.body);
    store_reply_reset (&reply);
    assert_int_equal (store_order_create (ctx->store, rich, NULL, &one, 1, &key, NOW_MS, &reply), 0);
    assert_int_equal (reply.result, STORE_RESULT_REPLAY);
    assert_string_equal (reply.body, first);
    store_reply_reset (&reply);
    assert_int_equal (store_order_create (ctx->store, poor, NULL, &one, 1, NULL, NOW_MS, &reply), 0);
    s_assert_error (&reply, 409, "NO_POINT", NULL);
    assert_int_equal (reply.shortfall, 4200);
    store_reply_reset (&reply);
    assert_int_equal (store_order_create (ctx->store, rich, NULL, &bad, 1, NULL, NOW_MS, &reply), 0);
    s_assert_error (&reply, 404, "NOT_FOUND_DATA", "해당 메뉴 정보 이/가 존재하지 않습니다.");
    assert_int_equal (reply.about, STORE_ABOUT_MENU);
    store_reply_reset (&reply);
    assert_int_equal (store_order_create (ctx->store, rich, NULL, &one, 1, NULL, NOW_MS, &reply), 0);
    assert_int_equal (reply.status, 200);
    store_reply_reset (&reply);
    //  5800 left, another 4200 is short by 2600
    assert_int_equal (store_order_create (ctx->store, rich, NULL, &one, 1, NULL, NOW_MS, &reply), 0);
    s_assert_error (&reply, 409, "NO_POINT", NULL);
    assert_int_equal (reply.shortfall, 2600);
    store_reply_reset (&reply);
    assert_int_equal (store_group_commit (ctx->store), STORE_OK);
    free (first);

    s_snap_t after = s_snap (ctx, rich);
    assert_int_equal (after.balance, 10000 - 2 * 4200);
    assert_int_equal (after.history_sum, after.balance);
    assert_int_equal (after.orders, before.orders + 2);
    assert_int_equal (after.outbox, before.outbox + 2);
    assert_int_equal (after.idem, before.idem + 1);

    //  A group rolled back leaves nothing, its key included
    store_idem_t gone = { "gone-key", "POST /point", "{\"g\":2}", rich };
    assert_int_equal (store_group_begin (ctx->store, 0), STORE_OK);
    assert_int_equal (store_charge (ctx->store, rich, 500, NULL, &gone, NOW_MS, &reply), 0);
    assert_int_equal (reply.status, 200);
    store_reply_reset (&reply);
    store_group_rollback (ctx->store);
    s_snap_t undone = s_snap (ctx, rich);
    s_assert_same (&after, &undone);
}


//  A trigger (coffee_test_poison) that refuses every outbox row whose
//  payload names customer_id, as a failing write.
static void
s_poison_outbox (ctx_t *ctx, const char *customer_id)
{
    char sql [512];
    if (ctx->mysql)
        snprintf (sql, sizeof sql,
                  "CREATE TRIGGER coffee_test_poison BEFORE INSERT ON outbox FOR EACH ROW"
                  " BEGIN IF NEW.payload LIKE '%%%s%%' THEN"
                  " SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'injected'; END IF; END",
                  customer_id);
    else
        snprintf (sql, sizeof sql,
                  "CREATE TRIGGER coffee_test_poison BEFORE INSERT ON outbox"
                  " WHEN NEW.payload LIKE '%%%s%%' BEGIN SELECT RAISE(ABORT, 'injected'); END",
                  customer_id);
    assert_int_equal (db_exec (store_db (ctx->store), sql), DB_OK);
}

//  A member that fails after it wrote (its outbox INSERT, refused by a
//  trigger) is undone back to its own savepoint alone and answers 503;
//  the members before and after it commit, and so does a member after a
//  second failure. On SQLite each member releases its savepoint once it
//  answered (savepoints of one name stack there): this proves a release
//  keeps the member's writes in the group and the next savepoint still
//  undoes only its own member.
static void
test_group_member_undone (void **state)
{
    ctx_t *ctx = (ctx_t *) *state;
    char first [COFFEE_ID_MAX], poisoned [COFFEE_ID_MAX], last [COFFEE_ID_MAX];
    s_customer (ctx, first);
    s_customer (ctx, poisoned);
    s_customer (ctx, last);
    s_charge (ctx, first, 10000);
    s_charge (ctx, poisoned, 10000);
    s_charge (ctx, last, 10000);
    db_t *db = store_db (ctx->store);
    s_poison_outbox (ctx, poisoned);
    s_snap_t before = s_snap (ctx, poisoned);
    store_reply_t reply = { 0 };
    event_line_t one = s_line ("MENU-00000001", 1);

    assert_int_equal (store_group_begin (ctx->store, 0), STORE_OK);
    const char *who [] = { first, poisoned, last, poisoned, first };
    const int status [] = { 200, 503, 200, 503, 200 };
    for (size_t i = 0; i < sizeof who / sizeof who [0]; i++) {
        int rc = store_order_create (ctx->store, who [i], NULL, &one, 1, NULL, NOW_MS, &reply);
        assert_int_equal (rc, status [i] == 200 ? 0 : -1);
        assert_int_equal (reply.status, status [i]);
        store_reply_reset (&reply);
    }
    assert_int_equal (store_group_commit (ctx->store), STORE_OK);
    assert_int_equal (db_exec (db, "DROP TRIGGER coffee_test_poison"), DB_OK);

    s_snap_t after = s_snap (ctx, poisoned);
    assert_int_equal (after.balance, before.balance);
    assert_int_equal (after.history_sum, before.history_sum);
    assert_int_equal (after.orders, before.orders + 3);
    assert_int_equal (after.lines, before.lines + 3);
    assert_int_equal (after.outbox, before.outbox + 3);
    assert_int_equal (after.history_rows, before.history_rows + 3);
    int64_t balance = 0, history = 0;
    assert_int_equal (store_balance (ctx->store, first, &balance, &history), 0);
    assert_int_equal (balance, 10000 - 2 * 4200);
    assert_int_equal (history, balance);
    assert_int_equal (store_balance (ctx->store, last, &balance, &history), 0);
    assert_int_equal (balance, 10000 - 4200);
    assert_int_equal (history, balance);
}

//  A write that waits for another connection's lock gives up at its
//  deadline with 503 TIMEOUT and nothing changed: SQLite waits in BEGIN
//  IMMEDIATE (the whole group begins late or not at all), MariaDB on the
//  customer's row locked FOR UPDATE (only that operation is undone).
static void
test_deadline_lock_wait (void **state)
{
    ctx_t *ctx = (ctx_t *) *state;
    char id [COFFEE_ID_MAX];
    s_customer (ctx, id);
    s_charge (ctx, id, 10000);
    s_snap_t before = s_snap (ctx, id);
    char err [256] = "";
    db_t *other = db_open (ctx->store_url, err, sizeof err);
    assert_non_null (other);
    store_reply_t reply = { 0 };
    int64_t t0 = zclock_mono ();
    if (ctx->mysql) {
        assert_int_equal (db_begin (other), DB_OK);
        db_stmt_t *st = db_stmt (other, "SELECT balance FROM point WHERE customer_id = ? FOR UPDATE");
        assert_non_null (st);
        assert_int_equal (db_bind_text (st, 1, id), DB_OK);
        assert_int_equal (db_step (st), DB_ROW);
        db_reset (st);
        assert_int_equal (store_group_begin (ctx->store, t0 + 300), STORE_OK);
        store_set_deadline (ctx->store, t0 + 300);
        assert_int_equal (store_charge (ctx->store, id, 700, NULL, NULL, NOW_MS, &reply), -1);
        s_assert_error (&reply, 503, "TIMEOUT", NULL);
        assert_int_equal (reply.result, STORE_RESULT_TIMEOUT);
        store_reply_reset (&reply);
        store_set_deadline (ctx->store, 0);
        assert_int_equal (store_group_commit (ctx->store), STORE_OK);
    }
    else {
        assert_int_equal (db_exec (other, "BEGIN IMMEDIATE"), DB_OK);
        assert_int_equal (store_group_begin (ctx->store, t0 + 300), STORE_TIMEOUT);
        //  Outside a group, an operation with a deadline bounds its own BEGIN
        store_set_deadline (ctx->store, zclock_mono () + 300);
        assert_int_equal (store_charge (ctx->store, id, 700, NULL, NULL, NOW_MS, &reply), -1);
        s_assert_error (&reply, 503, "TIMEOUT", NULL);
        store_reply_reset (&reply);
        store_set_deadline (ctx->store, 0);
    }
    int64_t waited = zclock_mono () - t0;
    print_message ("gave up after %" PRId64 " ms\n", waited);
    assert_true (waited >= 250 && waited < 3000);
    db_rollback (other);
    db_destroy (&other);
    s_snap_t after = s_snap (ctx, id);
    s_assert_same (&before, &after);
    //  The lock gone, the same charge runs
    s_charge (ctx, id, 700);
}

// ---------------------------------------------------------------------------
//  Idempotency keys

static void
test_idempotency (void **state)
{
    ctx_t *ctx = (ctx_t *) *state;
    char id [COFFEE_ID_MAX];
    s_customer (ctx, id);
    db_t *db = store_db (ctx->store);
    store_reply_t reply = { 0 };
    char request [128];
    snprintf (request, sizeof request, "{\"customerId\":\"%s\",\"chargeAmt\":3000}", id);
    store_idem_t idem = { "key-1", "POST /point", request, id };

    //  First run, then a replay of the same answer with nothing charged again
    assert_int_equal (store_charge (ctx->store, id, 3000, NULL, &idem, NOW_MS, &reply), 0);
    assert_int_equal (reply.status, 200);
    char *first = strdup (reply.body);
    store_reply_reset (&reply);
    assert_int_equal (store_charge (ctx->store, id, 3000, NULL, &idem, NOW_MS + 10, &reply), 0);
    assert_int_equal (reply.status, 200);
    assert_string_equal (reply.body, first);
    store_reply_reset (&reply);
    free (first);
    s_snap_t snap = s_snap (ctx, id);
    assert_int_equal (snap.balance, 3000);
    assert_int_equal (snap.history_rows, 1);
    assert_int_equal (s_int (db, "SELECT COUNT(*) FROM idempotency WHERE state = 'done'"), 1);

    //  Same key, other request: 422 and nothing changes
    store_idem_t other = { "key-1", "POST /point", "{\"customerId\":\"x\",\"chargeAmt\":1}", id };
    assert_int_equal (store_charge (ctx->store, id, 1, NULL, &other, NOW_MS, &reply), 0);
    s_assert_error (&reply, 422, "IDEMPOTENCY_KEY_REUSED", NULL);
    store_reply_reset (&reply);
    //  The same key on another route is another key
    store_idem_t on_order = { "key-1", "POST /order", "{\"o\":1}", id };
    event_line_t line = s_line ("MENU-00000001", 1);
    assert_int_equal (store_order_create (ctx->store, id, NULL, &line, 1, &on_order, NOW_MS, &reply), 0);
    assert_int_equal (reply.status, 409);       //  NO_POINT: 3000 < 4200
    s_assert_error (&reply, 409, "NO_POINT", NULL);
    store_reply_reset (&reply);
    //  A business error is the key's final answer, even after a charge
    s_charge (ctx, id, 10000);
    assert_int_equal (store_order_create (ctx->store, id, NULL, &line, 1, &on_order, NOW_MS, &reply), 0);
    s_assert_error (&reply, 409, "NO_POINT", "1200 포인트가 부족합니다. 포인트 충전 후 다시 이용해주세요");
    store_reply_reset (&reply);
    snap = s_snap (ctx, id);
    assert_int_equal (snap.balance, 13000);
    assert_int_equal (snap.orders, 0);

    //  A running key: the same request waits (409), another gets 422,
    //  after STORE_IDEM_STALE_MS a retry takes it over and runs
    char running_sql [400];
    snprintf (running_sql, sizeof running_sql,
        "INSERT INTO idempotency (route, customer_id, idem_key, request, status, response, state,"
        " created_at, updated_at) VALUES ('POST /order', '%s', 'key-run', '{\"r\":1}', NULL, NULL,"
        " 'running', 1764040000123, 1764040000123)", id);
    assert_int_equal (db_exec (db, running_sql), DB_OK);
    store_idem_t run = { "key-run", "POST /order", "{\"r\":1}", id };
    store_idem_t run_other = { "key-run", "POST /order", "{\"r\":2}", id };
    assert_int_equal (store_order_create (ctx->store, id, NULL, &line, 1, &run,
                                          NOW_MS + STORE_IDEM_STALE_MS - 1, &reply), 0);
    s_assert_error (&reply, 409, "IDEMPOTENCY_KEY_IN_USE", NULL);
    store_reply_reset (&reply);
    assert_int_equal (store_order_create (ctx->store, id, NULL, &line, 1, &run_other,
                                          NOW_MS + STORE_IDEM_STALE_MS + 5, &reply), 0);
    s_assert_error (&reply, 422, "IDEMPOTENCY_KEY_REUSED", NULL);
    store_reply_reset (&reply);
    snap = s_snap (ctx, id);
    assert_int_equal (snap.orders, 0);
    assert_int_equal (store_order_create (ctx->store, id, NULL, &line, 1, &run,
                                          NOW_MS + STORE_IDEM_STALE_MS, &reply), 0);
    assert_int_equal (reply.status, 200);
    char *taken = strdup (reply.body);
    store_reply_reset (&reply);
    assert_int_equal (store_order_create (ctx->store, id, NULL, &line, 1, &run,
                                          NOW_MS + STORE_IDEM_STALE_MS + 1, &reply), 0);
    assert_int_equal (reply.status, 200);
    assert_string_equal (reply.body, taken);
    free (taken);
    store_reply_reset (&reply);
    snap = s_snap (ctx, id);
    assert_int_equal (snap.orders, 1);
    assert_int_equal (snap.balance, 13000 - 4200);

    //  A store failure (503) leaves no key behind, so a retry runs
    store_idem_t fail = { "key-503", "POST /point", "{\"f\":1}", id };
    s_snap_t before = s_snap (ctx, id);
    assert_int_equal (db_exec (db, "ALTER TABLE point_history RENAME TO point_history_away"),
                      DB_OK);
    assert_int_equal (store_charge (ctx->store, id, 700, NULL, &fail, NOW_MS, &reply), -1);
    s_assert_error (&reply, 503, "UNAVAILABLE", NULL);
    store_reply_reset (&reply);
    assert_int_equal (db_exec (db, "ALTER TABLE point_history_away RENAME TO point_history"),
                      DB_OK);
    s_snap_t after = s_snap (ctx, id);
    s_assert_same (&before, &after);
    assert_int_equal (s_int (db, "SELECT COUNT(*) FROM idempotency WHERE idem_key = 'key-503'"), 0);
    assert_int_equal (store_charge (ctx->store, id, 700, NULL, &fail, NOW_MS, &reply), 0);
    assert_int_equal (reply.status, 200);
    store_reply_reset (&reply);
    assert_int_equal (s_int (db, "SELECT COUNT(*) FROM idempotency WHERE idem_key = 'key-503'"
                                 " AND state = 'done'"), 1);

    //  Purge drops finished keys older than the cut, keeps the rest
    assert_int_equal (db_exec (db, "INSERT INTO idempotency (route, customer_id, idem_key,"
                                   " request, status, response, state, created_at, updated_at)"
                                   " VALUES ('POST /point', '', 'key-live', '{}', NULL, NULL,"
                                   " 'running', 1, 1)"),
                      DB_OK);
    int64_t keys = s_int (db, "SELECT COUNT(*) FROM idempotency");
    assert_int_equal (store_idem_purge (ctx->store, NOW_MS + 1), 0);
    //  finished at NOW_MS: key-1, the order key, key-503; key-run finished later
    assert_int_equal (s_int (db, "SELECT COUNT(*) FROM idempotency"), keys - 3);
    assert_int_equal (s_int (db, "SELECT COUNT(*) FROM idempotency WHERE idem_key = 'key-live'"), 1);
    assert_int_equal (store_idem_purge (ctx->store, NOW_MS + STORE_IDEM_KEEP_MS), 0);
    assert_int_equal (s_int (db, "SELECT COUNT(*) FROM idempotency"), 1);
}

// ---------------------------------------------------------------------------
//  Outbox and reconcile

static void
test_outbox (void **state)
{
    ctx_t *ctx = (ctx_t *) *state;
    char id [COFFEE_ID_MAX];
    s_customer (ctx, id);
    s_charge (ctx, id, 100000);
    store_reply_t reply = { 0 };
    event_line_t line = s_line ("MENU-00000002", 1);
    for (int i = 0; i < 3; i++) {
        assert_int_equal (store_order_create (ctx->store, id, NULL, &line, 1, NULL, NOW_MS + i, &reply), 0);
        assert_int_equal (reply.status, 200);
        store_reply_reset (&reply);
    }
    int64_t pending = 0;
    assert_int_equal (store_outbox_pending (ctx->store, &pending), 0);
    assert_int_equal (pending, 3);

    store_outbox_row_t *rows = NULL;
    size_t count = 0;
    assert_int_equal (store_outbox_claim (ctx->store, 2, &rows, &count), 0);
    assert_int_equal (count, 2);
    assert_true (rows [0].id < rows [1].id);
    assert_string_equal (rows [0].key, "ORD-00000001");
    assert_string_equal (rows [1].key, "ORD-00000002");
    //  Mark only the first of the two
    assert_int_equal (store_outbox_mark (ctx->store, rows, 1, NOW_MS + 100), 0);
    //  Marked again (a second relay published it too), it keeps its first time
    assert_int_equal (store_outbox_mark (ctx->store, rows, 1, NOW_MS + 150), 0);
    assert_int_equal (s_int (store_db (ctx->store),
                             "SELECT published_at FROM outbox WHERE order_no = 'ORD-00000001'"),
                      NOW_MS + 100);
    store_outbox_rows_free (&rows, count);
    assert_int_equal (store_outbox_pending (ctx->store, &pending), 0);
    assert_int_equal (pending, 2);

    //  Released rows come back
    assert_int_equal (store_outbox_claim (ctx->store, 10, &rows, &count), 0);
    assert_int_equal (count, 2);
    assert_string_equal (rows [0].key, "ORD-00000002");
    store_outbox_release (ctx->store);
    store_outbox_rows_free (&rows, count);
    assert_int_equal (store_outbox_claim (ctx->store, 10, &rows, &count), 0);
    assert_int_equal (count, 2);
    assert_string_equal (rows [1].key, "ORD-00000003");
    assert_int_equal (store_outbox_mark (ctx->store, rows, count, NOW_MS + 200), 0);
    store_outbox_rows_free (&rows, count);
    assert_int_equal (store_outbox_pending (ctx->store, &pending), 0);
    assert_int_equal (pending, 0);
    assert_int_equal (store_outbox_claim (ctx->store, 10, &rows, &count), 0);
    assert_int_equal (count, 0);
    store_outbox_release (ctx->store);
    store_outbox_rows_free (&rows, count);
    assert_int_equal (s_int (store_db (ctx->store),
                             "SELECT COUNT(*) FROM outbox WHERE published_at IS NOT NULL"
                             " AND kind = 'order'"), 3);
}

static void
test_reconcile_counts_and_events (void **state)
{
    ctx_t *ctx = (ctx_t *) *state;
    char id [COFFEE_ID_MAX];
    s_customer (ctx, id);
    s_charge (ctx, id, 1000000);
    store_reply_t reply = { 0 };
    //  Orders at from, from+1, to, to+1: only the middle two are in (from, to]
    int64_t from = NOW_MS - DISPLAY_WINDOW_MS, to = NOW_MS;
    int64_t times [4] = { from, from + 1, to, to + 1 };
    for (int i = 0; i < 4; i++) {
        event_line_t lines [2] = { s_line ("MENU-00000001", 1), s_line ("MENU-00000003", 1 + i) };
        assert_int_equal (store_order_create (ctx->store, id, NULL, lines, i == 2 ? 1 : 2, NULL,
                                              times [i], &reply), 0);
        assert_int_equal (reply.status, 200);
        store_reply_reset (&reply);
    }
    store_count_t *counts = NULL;
    size_t count = 0;
    assert_int_equal (store_order_menu_counts (ctx->store, from, to, &counts, &count), 0);
    assert_int_equal (count, 2);
    assert_string_equal (counts [0].menu_id, "MENU-00000001");
    assert_string_equal (counts [0].menu_nm, "아이스 아메리카노");
    assert_int_equal (counts [0].count, 2);
    assert_string_equal (counts [1].menu_id, "MENU-00000003");
    assert_int_equal (counts [1].count, 1);
    free (counts);

    event_order_t *events = NULL;
    assert_int_equal (store_order_events (ctx->store, from, to, &events, &count), 0);
    assert_int_equal (count, 2);
    assert_string_equal (events [0].order_no, "ORD-00000002");
    assert_int_equal (events [0].ordered_at_ms, from + 1);
    assert_int_equal (events [0].line_count, 2);
    assert_int_equal (events [0].pay_amt, 4200 + 2 * 4500);
    assert_string_equal (events [0].customer_id, id);
    assert_string_equal (events [0].lines [1].menu_id, "MENU-00000003");
    assert_int_equal (events [0].lines [1].qy, 2);
    assert_string_equal (events [1].order_no, "ORD-00000003");
    assert_int_equal (events [1].line_count, 1);
    for (size_t i = 0; i < count; i++)
        event_order_reset (&events [i]);
    free (events);

    //  An empty window
    assert_int_equal (store_order_events (ctx->store, 0, 1, &events, &count), 0);
    assert_int_equal (count, 0);
    free (events);
    assert_int_equal (store_order_menu_counts (ctx->store, 0, 1, &counts, &count), 0);
    assert_int_equal (count, 0);
    free (counts);
}

// ---------------------------------------------------------------------------
//  Display store

//  Builds an event with up to 3 menus (NULL ends the list).
static event_order_t
s_event (const char *order_no, int64_t at, const char *m1, const char *m2, const char *m3)
{
    event_order_t ev;
    memset (&ev, 0, sizeof ev);
    snprintf (ev.order_no, sizeof ev.order_no, "%s", order_no);
    snprintf (ev.customer_id, sizeof ev.customer_id, "CUST-00000001");
    ev.ordered_at_ms = at;
    ev.pay_amt = 4200;
    const char *menus [3] = { m1, m2, m3 };
    ev.lines = (event_line_t *) calloc (3, sizeof *ev.lines);
    assert_non_null (ev.lines);
    for (size_t i = 0; i < 3 && menus [i]; i++) {
        snprintf (ev.lines [i].menu_id, sizeof ev.lines [i].menu_id, "%s", menus [i]);
        ev.lines [i].qy = 1;
        ev.line_count++;
    }
    return ev;
}

static void
test_display_apply_idempotent (void **state)
{
    ctx_t *ctx = (ctx_t *) *state;
    event_order_t ev = s_event ("ORD-00000001", NOW_MS, "MENU-00000001", "MENU-00000002", NULL);
    bool applied = false;
    int64_t offset = -1;
    assert_int_equal (display_store_position (ctx->display, "display-service", 0, &offset), 1);
    assert_int_equal (display_store_apply (ctx->display, &ev, "display-service", 0, 7, &applied), 0);
    assert_true (applied);
    assert_int_equal (display_store_position (ctx->display, "display-service", 0, &offset), 0);
    assert_int_equal (offset, 7);
    //  Redelivered: nothing changes but the position
    assert_int_equal (display_store_apply (ctx->display, &ev, "display-service", 0, 9, &applied), 0);
    assert_false (applied);
    assert_int_equal (display_store_position (ctx->display, "display-service", 0, &offset), 0);
    assert_int_equal (offset, 9);
    assert_int_equal (display_store_position (ctx->display, "display-service", 1, &offset), 1);
    assert_int_equal (display_store_position (ctx->display, "other", 0, &offset), 1);

    store_count_t best [3];
    size_t count = 0;
    assert_int_equal (display_store_best (ctx->display, NOW_MS, DISPLAY_WINDOW_MS, 3, best, &count), 0);
    assert_int_equal (count, 2);
    assert_string_equal (best [0].menu_id, "MENU-00000001");
    assert_string_equal (best [0].menu_nm, "아이스 아메리카노");
    assert_int_equal (best [0].count, 1);
    assert_int_equal (best [1].count, 1);
    db_t *db = display_store_db (ctx->display);
    assert_int_equal (s_int (db, "SELECT COUNT(*) FROM ordered_menu"), 2);
    assert_int_equal (s_int (db, "SELECT SUM(cnt) FROM menu_hourly"), 2);
    event_order_reset (&ev);

    //  A new order with an already known menu: applied, counted
    ev = s_event ("ORD-00000002", NOW_MS, "MENU-00000002", NULL, NULL);
    assert_int_equal (display_store_apply (ctx->display, &ev, "display-service", 0, 10, &applied), 0);
    assert_true (applied);
    event_order_reset (&ev);
    assert_int_equal (display_store_best (ctx->display, NOW_MS, DISPLAY_WINDOW_MS, 3, best, &count), 0);
    assert_int_equal (count, 2);
    assert_string_equal (best [0].menu_id, "MENU-00000002");
    assert_int_equal (best [0].count, 2);
}

//  The window is (now - 168h, now] to the millisecond.
static void
test_display_window_edges (void **state)
{
    ctx_t *ctx = (ctx_t *) *state;
    int64_t lo = NOW_MS - DISPLAY_WINDOW_MS;
    event_order_t evs [6] = {
        s_event ("ORD-00000001", lo - 1, "MENU-00000001", NULL, NULL),      //  out
        s_event ("ORD-00000002", lo, "MENU-00000001", NULL, NULL),          //  out (open edge)
        s_event ("ORD-00000003", lo + 1, "MENU-00000003", NULL, NULL),      //  in
        s_event ("ORD-00000004", NOW_MS, "MENU-00000002", NULL, NULL),      //  in
        s_event ("ORD-00000005", NOW_MS + 1, "MENU-00000004", NULL, NULL),  //  future: out
        s_event ("ORD-00000006", lo + HOUR_MS, "MENU-00000005", NULL, NULL),//  in
    };
    for (int i = 0; i < 6; i++) {
        bool applied = false;
        assert_int_equal (display_store_apply (ctx->display, &evs [i], "g", 0, i, &applied), 0);
        assert_true (applied);
        event_order_reset (&evs [i]);
    }
    store_count_t best [5];
    size_t count = 0;
    assert_int_equal (display_store_best (ctx->display, NOW_MS, DISPLAY_WINDOW_MS, 5, best, &count), 0);
    //  ties by menuId
    assert_int_equal (count, 3);
    assert_string_equal (best [0].menu_id, "MENU-00000002");
    assert_string_equal (best [1].menu_id, "MENU-00000003");
    assert_string_equal (best [2].menu_id, "MENU-00000005");
    for (size_t i = 0; i < count; i++)
        assert_int_equal (best [i].count, 1);

    //  One millisecond later the row at lo + 1 leaves and the future one enters
    assert_int_equal (display_store_best (ctx->display, NOW_MS + 1, DISPLAY_WINDOW_MS, 5, best,
                                          &count), 0);
    assert_int_equal (count, 3);
    assert_string_equal (best [0].menu_id, "MENU-00000002");
    assert_string_equal (best [1].menu_id, "MENU-00000004");
    assert_string_equal (best [2].menu_id, "MENU-00000005");

    //  Limit, and an undisplayed menu is left out
    assert_int_equal (display_store_best (ctx->display, NOW_MS, DISPLAY_WINDOW_MS, 1, best, &count), 0);
    assert_int_equal (count, 1);
    assert_string_equal (best [0].menu_id, "MENU-00000002");
    assert_int_equal (db_exec (display_store_db (ctx->display),
                               "UPDATE display_menu SET use_yn = 'N' WHERE menu_id = 'MENU-00000002'"),
                      DB_OK);
    assert_int_equal (display_store_best (ctx->display, NOW_MS, DISPLAY_WINDOW_MS, 5, best, &count), 0);
    assert_int_equal (count, 2);
    assert_string_equal (best [0].menu_id, "MENU-00000003");
    char *menus = NULL;
    assert_int_equal (display_store_menus (ctx->display, &menus), 0);
    assert_null (strstr (menus, "MENU-00000002"));
    assert_non_null (strstr (menus, "MENU-00000003"));
    zstr_free (&menus);
    //  An empty window and a zero limit
    assert_int_equal (display_store_best (ctx->display, NOW_MS - 2 * DISPLAY_WINDOW_MS,
                                          DISPLAY_WINDOW_MS, 5, best, &count), 0);
    assert_int_equal (count, 0);
    assert_int_equal (display_store_best (ctx->display, NOW_MS, DISPLAY_WINDOW_MS, 0, best, &count), 0);
    assert_int_equal (count, 0);
}

#define RND_ORDERS 400
#define RND_MENUS 6                 //  five displayed menus and one unknown to display

static const char *const s_rnd_menus [RND_MENUS] = {
    "MENU-00000001", "MENU-00000002", "MENU-00000003", "MENU-00000004", "MENU-00000005",
    "MENU-00000042"
};

//  A small deterministic generator for the randomized tests.
static uint64_t
s_rand (uint64_t *seed)
{
    *seed = *seed * 6364136223846793005ULL + 1442695040888963407ULL;
    return *seed >> 33;
}

//  Orders at random times around the window, up to 3 distinct menus each.
static event_order_t *
s_random_events (uint64_t seed, int64_t now, size_t n, const char *prefix)
{
    event_order_t *evs = (event_order_t *) calloc (n, sizeof *evs);
    assert_non_null (evs);
    int64_t span = DISPLAY_WINDOW_MS + 5 * HOUR_MS;
    for (size_t i = 0; i < n; i++) {
        char no [COFFEE_ID_MAX];
        snprintf (no, sizeof no, "%s%08zu", prefix, i + 1);
        int64_t at = now - DISPLAY_WINDOW_MS - 3 * HOUR_MS + (int64_t) (s_rand (&seed) % (uint64_t) span);
        //  some on exact hour boundaries and window edges
        if (i % 17 == 0)
            at = (at / HOUR_MS) * HOUR_MS;
        if (i % 29 == 0)
            at = now - DISPLAY_WINDOW_MS + (int64_t) (i % 3) - 1;
        size_t first = s_rand (&seed) % RND_MENUS;
        size_t lines = 1 + s_rand (&seed) % 3;
        const char *m [3] = { NULL, NULL, NULL };
        for (size_t j = 0; j < lines; j++)
            m [j] = s_rnd_menus [(first + j * 2) % RND_MENUS];
        evs [i] = s_event (no, at, m [0], m [1], m [2]);
    }
    return evs;
}

//  The counts a brute force over the events gives for (lo, hi].
static void
s_brute_counts (const event_order_t *evs, size_t n, int64_t lo, int64_t hi, int64_t *counts)
{
    memset (counts, 0, RND_MENUS * sizeof *counts);
    for (size_t i = 0; i < n; i++) {
        if (evs [i].ordered_at_ms <= lo || evs [i].ordered_at_ms > hi)
            continue;
        for (size_t j = 0; j < evs [i].line_count; j++)
            for (size_t m = 0; m < RND_MENUS; m++)
                if (streq (evs [i].lines [j].menu_id, s_rnd_menus [m]))
                    counts [m]++;
    }
}

//  Asserts best equals the brute-force ranking of displayed menus.
static void
s_assert_best (display_store_t *display, const event_order_t *evs, size_t n, int64_t now,
               int64_t window, const bool *shown)
{
    int64_t counts [RND_MENUS];
    s_brute_counts (evs, n, now - window, now, counts);
    //  expected: displayed menus with count > 0, count desc, id asc
    size_t order [RND_MENUS], want = 0;
    for (size_t m = 0; m < RND_MENUS; m++)
        if (shown [m] && counts [m] > 0)
            order [want++] = m;
    for (size_t i = 0; i < want; i++)
        for (size_t j = i + 1; j < want; j++)
            if (counts [order [j]] > counts [order [i]]
            || (counts [order [j]] == counts [order [i]] && order [j] < order [i])) {
                size_t t = order [i];
                order [i] = order [j];
                order [j] = t;
            }
    store_count_t best [RND_MENUS];
    size_t count = 0;
    assert_int_equal (display_store_best (display, now, window, RND_MENUS, best, &count), 0);
    if (count != want)
        fail_msg ("now=%" PRId64 " window=%" PRId64 ": %zu menus, want %zu", now, window, count, want);
    for (size_t i = 0; i < want; i++) {
        assert_string_equal (best [i].menu_id, s_rnd_menus [order [i]]);
        if (best [i].count != counts [order [i]])
            fail_msg ("now=%" PRId64 " window=%" PRId64 " %s: %" PRId64 ", want %" PRId64,
                      now, window, best [i].menu_id, best [i].count, counts [order [i]]);
    }
    //  Top 3 is the prefix
    assert_int_equal (display_store_best (display, now, window, 3, best, &count), 0);
    assert_int_equal (count, want < 3 ? want : 3);
}

//  The reconcile counts of the window before NOW_MS equal a brute-force
//  count of the RND_ORDERS events evs, menu by menu.
static void
s_assert_counts (display_store_t *display, const event_order_t *evs)
{
    store_count_t *counts = NULL;
    size_t count = 0;
    int64_t want [RND_MENUS];
    s_brute_counts (evs, RND_ORDERS, NOW_MS - DISPLAY_WINDOW_MS, NOW_MS, want);
    assert_int_equal (display_store_counts (display, NOW_MS - DISPLAY_WINDOW_MS, NOW_MS,
                                            &counts, &count), 0);
    assert_int_equal (count, RND_MENUS);
    for (size_t m = 0; m < RND_MENUS; m++) {
        assert_string_equal (counts [m].menu_id, s_rnd_menus [m]);
        assert_int_equal (counts [m].count, want [m]);
    }
    free (counts);
}

//  Random orders, windows ending anywhere in an hour and hours partly in
//  the window: best always equals a brute force.
static void
test_display_best_random (void **state)
{
    ctx_t *ctx = (ctx_t *) *state;
    event_order_t *evs = s_random_events (12345, NOW_MS, RND_ORDERS, "ORD-");
    for (size_t i = 0; i < RND_ORDERS; i++) {
        bool applied = false;
        assert_int_equal (display_store_apply (ctx->display, &evs [i], "g", 0, (int64_t) i,
                                               &applied), 0);
    }
    //  again: nothing new
    for (size_t i = 0; i < RND_ORDERS; i += 7) {
        bool applied = true;
        assert_int_equal (display_store_apply (ctx->display, &evs [i], "g", 0, (int64_t) i,
                                               &applied), 0);
        assert_false (applied);
    }
    bool shown [RND_MENUS] = { true, true, true, true, true, false };
    int64_t hour = (NOW_MS / HOUR_MS) * HOUR_MS;
    int64_t nows [] = { NOW_MS, hour, hour - 1, hour + 1, hour + HOUR_MS - 1,
                        NOW_MS - HOUR_MS / 2, NOW_MS + HOUR_MS + 1234 };
    int64_t windows [] = { DISPLAY_WINDOW_MS, HOUR_MS, HOUR_MS / 2, 5 * HOUR_MS / 2, 1, 0 };
    for (size_t i = 0; i < sizeof nows / sizeof nows [0]; i++)
        for (size_t j = 0; j < sizeof windows / sizeof windows [0]; j++)
            s_assert_best (ctx->display, evs, RND_ORDERS, nows [i], windows [j], shown);

    //  Reconcile counts come from the rows, displayed or not
    s_assert_counts (ctx->display, evs);
    for (size_t i = 0; i < RND_ORDERS; i++)
        event_order_reset (&evs [i]);
    free (evs);
}

//  Repair makes the window hold exactly the given orders and rebuilds the
//  hourly aggregates it touches.
static void
test_display_repair (void **state)
{
    ctx_t *ctx = (ctx_t *) *state;
    db_t *db = display_store_db (ctx->display);
    //  The truth, of which the display missed every third order and got
    //  some bogus ones
    event_order_t *truth = s_random_events (778, NOW_MS, RND_ORDERS, "ORD-");
    event_order_t *bogus = s_random_events (779, NOW_MS, 50, "ORX-");
    int64_t from = NOW_MS - DISPLAY_WINDOW_MS, to = NOW_MS;
    int64_t outside = 0, inside = 0;
    for (size_t i = 0; i < RND_ORDERS; i++) {
        bool in = truth [i].ordered_at_ms > from && truth [i].ordered_at_ms <= to;
        if (in)
            inside += (int64_t) truth [i].line_count;
        if (i % 3 == 0)
            continue;
        if (!in)
            outside += (int64_t) truth [i].line_count;
        bool applied = false;
        assert_int_equal (display_store_apply (ctx->display, &truth [i], "g", 0, (int64_t) i,
                                               &applied), 0);
    }
    for (size_t i = 0; i < 50; i++) {
        if (bogus [i].ordered_at_ms <= from || bogus [i].ordered_at_ms > to)
            outside += (int64_t) bogus [i].line_count;
        bool applied = false;
        assert_int_equal (display_store_apply (ctx->display, &bogus [i], "g", 0, (int64_t) i,
                                               &applied), 0);
    }
    //  The repair gets the truth's orders of the window only
    event_order_t *in_window = (event_order_t *) calloc (RND_ORDERS, sizeof *in_window);
    assert_non_null (in_window);
    size_t n_in = 0;
    for (size_t i = 0; i < RND_ORDERS; i++)
        if (truth [i].ordered_at_ms > from && truth [i].ordered_at_ms <= to)
            in_window [n_in++] = truth [i];
    assert_true (n_in > 100);
    assert_int_equal (display_store_repair (ctx->display, from, to, in_window, n_in), 0);
    free (in_window);

    store_count_t *counts = NULL;
    size_t count = 0;
    int64_t want [RND_MENUS];
    s_brute_counts (truth, RND_ORDERS, from, to, want);
    assert_int_equal (display_store_counts (ctx->display, from, to, &counts, &count), 0);
    size_t nonzero = 0;
    for (size_t m = 0; m < RND_MENUS; m++)
        nonzero += want [m] > 0;
    assert_int_equal (count, nonzero);
    for (size_t i = 0, m = 0; m < RND_MENUS; m++) {
        if (!want [m])
            continue;
        assert_string_equal (counts [i].menu_id, s_rnd_menus [m]);
        assert_int_equal (counts [i].count, want [m]);
        i++;
    }
    free (counts);
    //  Rows outside the window were left alone; the aggregates agree with
    //  the rows everywhere, so best (hours + edge rows) equals the truth
    assert_int_equal (s_int (db, "SELECT COUNT(*) FROM ordered_menu"), outside + inside);
    assert_int_equal (s_int (db, "SELECT SUM(cnt) FROM menu_hourly"), outside + inside);
    bool shown [RND_MENUS] = { true, true, true, true, true, false };
    s_assert_best (ctx->display, truth, RND_ORDERS, NOW_MS, DISPLAY_WINDOW_MS, shown);

    //  An empty repair empties the window and nothing else
    assert_int_equal (display_store_repair (ctx->display, from, to, NULL, 0), 0);
    assert_int_equal (s_int (db, "SELECT COUNT(*) FROM ordered_menu"), outside);
    assert_int_equal (s_int (db, "SELECT SUM(cnt) FROM menu_hourly"), outside);
    store_count_t best [3];
    assert_int_equal (display_store_best (ctx->display, NOW_MS, DISPLAY_WINDOW_MS, 3, best, &count), 0);
    assert_int_equal (count, 0);
    for (size_t i = 0; i < 50; i++)
        event_order_reset (&bogus [i]);
    for (size_t i = 0; i < RND_ORDERS; i++)
        event_order_reset (&truth [i]);
    free (bogus);
    free (truth);
}

// ---------------------------------------------------------------------------
//  Credentials, scoped keys, history pages

//  Creates a customer holding a new token; token gets it.
static void
s_customer_token (ctx_t *ctx, char *id, char *token)
{
    store_reply_t reply = { 0 };
    assert_int_equal (token_new (token), 0);
    assert_int_equal (store_customer_create (ctx->store, "토큰", token, NOW_MS, &reply), 0);
    assert_int_equal (reply.status, 200);
    cJSON *json = s_json (&reply);
    snprintf (id, COFFEE_ID_MAX, "%s", cJSON_GetStringValue (cJSON_GetObjectItem (json, "customerId")));
    assert_string_equal (cJSON_GetStringValue (cJSON_GetObjectItem (json, "token")), token);
    cJSON_Delete (json);
    store_reply_reset (&reply);
    //  Only the hash is kept: not the token, and the hash is the token's
    db_stmt_t *st = db_stmt (store_db (ctx->store),
                             "SELECT token_hash FROM customer WHERE customer_id = ?");
    assert_non_null (st);
    assert_int_equal (db_bind_text (st, 1, id), DB_OK);
    assert_int_equal (db_step (st), DB_ROW);
    char hash [TOKEN_HASH_MAX];
    token_hash (token, strlen (token), hash);
    assert_string_equal (db_column_text (st, 0), hash);
    assert_null (strstr (db_column_text (st, 0), token));
    db_reset (st);
}

//  A customer token acts only for its customer: 401 for a token no one
//  holds, 403 for another customer's (also for an unknown customer), and
//  neither changes anything; the admin acts for anyone. A new token
//  replaces the old one at once.
static void
test_auth_tokens (void **state)
{
    ctx_t *ctx = (ctx_t *) *state;
    char alice [COFFEE_ID_MAX], bob [COFFEE_ID_MAX];
    char alice_token [TOKEN_TEXT_MAX], bob_token [TOKEN_TEXT_MAX], stray [TOKEN_TEXT_MAX];
    char alice_hash [TOKEN_HASH_MAX], bob_hash [TOKEN_HASH_MAX], stray_hash [TOKEN_HASH_MAX];
    s_customer_token (ctx, alice, alice_token);
    s_customer_token (ctx, bob, bob_token);
    assert_int_equal (token_new (stray), 0);
    token_hash (alice_token, strlen (alice_token), alice_hash);
    token_hash (bob_token, strlen (bob_token), bob_hash);
    token_hash (stray, strlen (stray), stray_hash);
    store_auth_t as_alice = { STORE_AUTH_TOKEN, alice_hash };
    store_auth_t as_bob = { STORE_AUTH_TOKEN, bob_hash };
    store_auth_t as_stray = { STORE_AUTH_TOKEN, stray_hash };
    store_auth_t as_nobody = { STORE_AUTH_TOKEN, "" };
    store_auth_t as_admin = { STORE_AUTH_ADMIN, NULL };
    store_reply_t reply = { 0 };

    s_snap_t before = s_snap (ctx, alice);
    assert_int_equal (store_charge (ctx->store, alice, 100, &as_bob, NULL, NOW_MS, &reply), 0);
    s_assert_error (&reply, 403, "FORBIDDEN", NULL);
    store_reply_reset (&reply);
    assert_int_equal (store_charge (ctx->store, alice, 100, &as_stray, NULL, NOW_MS, &reply), 0);
    s_assert_error (&reply, 401, "UNAUTHORIZED", NULL);
    store_reply_reset (&reply);
    assert_int_equal (store_charge (ctx->store, alice, 100, &as_nobody, NULL, NOW_MS, &reply), 0);
    s_assert_error (&reply, 401, "UNAUTHORIZED", NULL);
    store_reply_reset (&reply);
    assert_int_equal (store_charge (ctx->store, "CUST-99999999", 100, &as_bob, NULL, NOW_MS,
                                    &reply), 0);
    s_assert_error (&reply, 403, "FORBIDDEN", NULL);
    store_reply_reset (&reply);
    event_line_t one = s_line ("MENU-00000001", 1);
    assert_int_equal (store_order_create (ctx->store, alice, &as_bob, &one, 1, NULL, NOW_MS,
                                          &reply), 0);
    s_assert_error (&reply, 403, "FORBIDDEN", NULL);
    store_reply_reset (&reply);
    s_snap_t after = s_snap (ctx, alice);
    s_assert_same (&before, &after);

    assert_int_equal (store_charge (ctx->store, alice, 5000, &as_alice, NULL, NOW_MS, &reply), 0);
    assert_int_equal (reply.status, 200);
    store_reply_reset (&reply);
    assert_int_equal (store_charge (ctx->store, alice, 5000, &as_admin, NULL, NOW_MS, &reply), 0);
    assert_int_equal (reply.status, 200);
    store_reply_reset (&reply);
    assert_int_equal (store_order_create (ctx->store, alice, &as_alice, &one, 1, NULL, NOW_MS,
                                          &reply), 0);
    assert_int_equal (reply.status, 200);
    cJSON *json = s_json (&reply);
    char order_no [COFFEE_ID_MAX];
    snprintf (order_no, sizeof order_no, "%s",
              cJSON_GetStringValue (cJSON_GetObjectItem (json, "orderNo")));
    cJSON_Delete (json);
    store_reply_reset (&reply);

    //  Reads: the owner and the admin see it, bob gets 403, a stray 401;
    //  an order that is not there is 404 to a real credential only
    assert_int_equal (store_order_get (ctx->store, order_no, &as_alice, &reply), 0);
    assert_int_equal (reply.status, 200);
    store_reply_reset (&reply);
    assert_int_equal (store_order_get (ctx->store, order_no, &as_admin, &reply), 0);
    assert_int_equal (reply.status, 200);
    store_reply_reset (&reply);
    assert_int_equal (store_order_get (ctx->store, order_no, &as_bob, &reply), 0);
    s_assert_error (&reply, 403, "FORBIDDEN", NULL);
    store_reply_reset (&reply);
    assert_int_equal (store_order_get (ctx->store, order_no, &as_stray, &reply), 0);
    s_assert_error (&reply, 401, "UNAUTHORIZED", NULL);
    store_reply_reset (&reply);
    assert_int_equal (store_order_get (ctx->store, "ORD-99999999", &as_bob, &reply), 0);
    assert_int_equal (reply.status, 404);
    store_reply_reset (&reply);
    assert_int_equal (store_order_get (ctx->store, "ORD-99999999", &as_stray, &reply), 0);
    assert_int_equal (reply.status, 401);
    store_reply_reset (&reply);
    assert_int_equal (store_point_get (ctx->store, alice, &as_bob, 0, 0, NOW_MS, &reply), 0);
    s_assert_error (&reply, 403, "FORBIDDEN", NULL);
    store_reply_reset (&reply);
    assert_int_equal (store_point_get (ctx->store, alice, &as_alice, 0, 0, NOW_MS, &reply), 0);
    assert_int_equal (reply.status, 200);
    store_reply_reset (&reply);

    //  Rotation: bob cannot rotate alice's; alice can, then the old one is 401
    char fresh [TOKEN_TEXT_MAX], fresh_hash [TOKEN_HASH_MAX];
    assert_int_equal (token_new (fresh), 0);
    assert_int_equal (store_token_issue (ctx->store, alice, &as_bob, fresh, NOW_MS, &reply), 0);
    s_assert_error (&reply, 403, "FORBIDDEN", NULL);
    store_reply_reset (&reply);
    assert_int_equal (store_token_issue (ctx->store, alice, &as_alice, fresh, NOW_MS, &reply), 0);
    assert_int_equal (reply.status, 200);
    store_reply_reset (&reply);
    assert_int_equal (store_point_get (ctx->store, alice, &as_alice, 0, 0, NOW_MS, &reply), 0);
    s_assert_error (&reply, 401, "UNAUTHORIZED", NULL);
    store_reply_reset (&reply);
    token_hash (fresh, strlen (fresh), fresh_hash);
    store_auth_t as_fresh = { STORE_AUTH_TOKEN, fresh_hash };
    assert_int_equal (store_point_get (ctx->store, alice, &as_fresh, 0, 0, NOW_MS, &reply), 0);
    assert_int_equal (reply.status, 200);
    store_reply_reset (&reply);
    //  The admin rotates any customer's; an unknown customer is 404
    assert_int_equal (token_new (fresh), 0);
    assert_int_equal (store_token_issue (ctx->store, bob, &as_admin, fresh, NOW_MS, &reply), 0);
    assert_int_equal (reply.status, 200);
    store_reply_reset (&reply);
    assert_int_equal (store_token_issue (ctx->store, "CUST-99999999", &as_admin, fresh, NOW_MS,
                                         &reply), 0);
    assert_int_equal (reply.status, 404);
    store_reply_reset (&reply);
}

//  Keys are named by (route, customer, key): bob's identical key is a new
//  request of his, not alice's 422 or her replay.
static void
test_idempotency_scoped (void **state)
{
    ctx_t *ctx = (ctx_t *) *state;
    char alice [COFFEE_ID_MAX], bob [COFFEE_ID_MAX];
    s_customer (ctx, alice);
    s_customer (ctx, bob);
    store_reply_t reply = { 0 };
    store_idem_t for_alice = { "shared-key", "POST /point", "{\"a\":1}", alice };
    store_idem_t for_bob = { "shared-key", "POST /point", "{\"b\":1}", bob };
    assert_int_equal (store_charge (ctx->store, alice, 700, NULL, &for_alice, NOW_MS, &reply), 0);
    assert_int_equal (reply.status, 200);
    store_reply_reset (&reply);
    assert_int_equal (store_charge (ctx->store, bob, 300, NULL, &for_bob, NOW_MS, &reply), 0);
    assert_int_equal (reply.status, 200);
    store_reply_reset (&reply);
    int64_t balance = 0;
    assert_int_equal (store_balance (ctx->store, bob, &balance, NULL), 0);
    assert_int_equal (balance, 300);
    assert_int_equal (store_balance (ctx->store, alice, &balance, NULL), 0);
    assert_int_equal (balance, 700);
    //  Each replays its own
    assert_int_equal (store_charge (ctx->store, bob, 300, NULL, &for_bob, NOW_MS, &reply), 0);
    assert_int_equal (reply.status, 200);
    assert_non_null (strstr (reply.body, "\"afterChargePoint\":300"));
    store_reply_reset (&reply);
}

//  History pages: newest first, limit rows, a cursor to the next page,
//  the last page's cursor null; the balance is always whole.
static void
test_history_pages (void **state)
{
    ctx_t *ctx = (ctx_t *) *state;
    char id [COFFEE_ID_MAX];
    s_customer (ctx, id);
    for (int i = 1; i <= 7; i++)
        s_charge (ctx, id, i);
    store_reply_t reply = { 0 };
    int64_t cursor = 0, seen = 0, expect = 7;
    for (int page = 0; page < 3; page++) {
        assert_int_equal (store_point_get (ctx->store, id, NULL, 3, cursor, NOW_MS, &reply), 0);
        assert_int_equal (reply.status, 200);
        cJSON *json = s_json (&reply);
        const cJSON *entry = cJSON_GetArrayItem (json, 0);
        assert_int_equal ((int64_t) cJSON_GetNumberValue (cJSON_GetObjectItem (entry, "point")), 28);
        const cJSON *item;
        cJSON_ArrayForEach (item, cJSON_GetObjectItem (entry, "pointDetail")) {
            assert_int_equal ((int64_t) cJSON_GetNumberValue (cJSON_GetObjectItem (item, "point")),
                              expect);
            expect--;
            seen++;
        }
        const cJSON *next = cJSON_GetObjectItem (entry, "nextCursor");
        if (page < 2) {
            assert_true (cJSON_IsString (next));
            cursor = strtoll (next->valuestring, NULL, 10);
        }
        else
            assert_true (cJSON_IsNull (next));
        cJSON_Delete (json);
        store_reply_reset (&reply);
    }
    assert_int_equal (seen, 7);
}

// ---------------------------------------------------------------------------
//  Lots: points with expiry

#define DAY_MS (24 * 3600 * 1000LL)

//  The shop's date (UTC+9) of ms plus days, YYYYMMDD.
static void
s_date (int64_t ms, int days, char *date)
{
    time_t seconds = (time_t) ((ms + 9 * 3600 * 1000LL) / 1000 + (int64_t) days * 86400);
    struct tm tm;
    gmtime_r (&seconds, &tm);
    char full [40];             //  room for any int, so -O2 sees no truncation
    snprintf (full, sizeof full, "%04d%02d%02d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
    snprintf (date, 9, "%.8s", full);
}

//  Grants point as SAVE expiring after date (NULL: never); asserts 200.
static void
s_save (ctx_t *ctx, const char *id, int64_t point, const char *date, int64_t now_ms)
{
    store_reply_t reply = { 0 };
    assert_int_equal (store_point_save (ctx->store, id, point, date, "관리자 적립", now_ms,
                                        &reply), 0);
    if (reply.status != 200)
        fail_msg ("save: %d %s", reply.status, reply.body);
    store_reply_reset (&reply);
}

//  Asserts balance == sum of history == sum of the lots' remainders.
static int64_t
s_assert_whole (ctx_t *ctx, const char *id)
{
    int64_t balance = 0, sum = 0;
    assert_int_equal (store_balance (ctx->store, id, &balance, &sum), 0);
    assert_int_equal (balance, sum);
    db_stmt_t *st = db_stmt (store_db (ctx->store),
                             "SELECT COALESCE(SUM(remaining), 0) FROM point_lot WHERE customer_id = ?");
    assert_non_null (st);
    assert_int_equal (db_bind_text (st, 1, id), DB_OK);
    assert_int_equal (db_step (st), DB_ROW);
    assert_int_equal (db_column_int64 (st, 0), balance);
    db_reset (st);
    assert_true (balance >= 0);
    return balance;
}

//  An order spends the lots that expire soonest first, then those that
//  never expire, and records what it took from which.
static void
test_lots_spend_order (void **state)
{
    ctx_t *ctx = (ctx_t *) *state;
    char id [COFFEE_ID_MAX], far [9], near [9];
    s_customer (ctx, id);
    s_date (NOW_MS, 20, far);                   //  within expiringPoint's 30 days
    s_date (NOW_MS, 3, near);
    s_charge (ctx, id, 5000);                   //  never expires
    s_save (ctx, id, 3000, far, NOW_MS);
    s_save (ctx, id, 2000, near, NOW_MS);
    store_reply_t reply = { 0 };
    event_line_t line = s_line ("MENU-00000001", 1);     //  4200
    assert_int_equal (store_order_create (ctx->store, id, NULL, &line, 1, NULL, NOW_MS, &reply), 0);
    assert_int_equal (reply.status, 200);
    store_reply_reset (&reply);
    db_t *db = store_db (ctx->store);
    //  near: 2000 taken (all), far: 2200 taken, never: untouched
    assert_int_equal (s_int (db, "SELECT remaining FROM point_lot WHERE amount = 2000"), 0);
    assert_int_equal (s_int (db, "SELECT remaining FROM point_lot WHERE amount = 3000"), 800);
    assert_int_equal (s_int (db, "SELECT remaining FROM point_lot WHERE amount = 5000"), 5000);
    assert_int_equal (s_int (db, "SELECT COUNT(*) FROM point_lot_use"), 2);
    assert_int_equal (s_int (db, "SELECT SUM(point) FROM point_lot_use"), 4200);
    //  One USE row of the original shape
    assert_int_equal (s_int (db, "SELECT COUNT(*) FROM point_history WHERE type_code = 'USE'"), 1);
    assert_int_equal (s_assert_whole (ctx, id), 5800);
    //  GET /point shows expDate on the lots that expire, and expiringPoint
    assert_int_equal (store_point_get (ctx->store, id, NULL, 0, 0, NOW_MS, &reply), 0);
    cJSON *json = s_json (&reply);
    const cJSON *entry = cJSON_GetArrayItem (json, 0);
    assert_int_equal ((int64_t) cJSON_GetNumberValue (cJSON_GetObjectItem (entry, "expiringPoint")),
                      800);
    const cJSON *row;
    int dated = 0;
    cJSON_ArrayForEach (row, cJSON_GetObjectItem (entry, "pointDetail")) {
        const cJSON *date = cJSON_GetObjectItem (row, "expDate");
        if (cJSON_IsString (date)) {
            dated++;
            assert_string_equal (cJSON_GetStringValue (cJSON_GetObjectItem (row, "pointTypeCode")),
                                 "SAVE");
        }
    }
    assert_int_equal (dated, 2);
    cJSON_Delete (json);
    store_reply_reset (&reply);
}

//  Expired points are never spent, even before a sweep: the order's own
//  transaction writes them off first and answers the right shortfall.
//  Each lot expires once: a second sweep finds nothing.
static void
test_lots_expire (void **state)
{
    ctx_t *ctx = (ctx_t *) *state;
    char id [COFFEE_ID_MAX], today [9];
    s_customer (ctx, id);
    s_date (NOW_MS, 0, today);
    s_save (ctx, id, 4000, today, NOW_MS);      //  spendable through today
    s_charge (ctx, id, 1000);
    int64_t later = NOW_MS + 2 * DAY_MS;
    store_reply_t reply = { 0 };
    event_line_t line = s_line ("MENU-00000001", 1);     //  4200
    assert_int_equal (store_order_create (ctx->store, id, NULL, &line, 1, NULL, later, &reply), 0);
    s_assert_error (&reply, 409, "NO_POINT", "3200 포인트가 부족합니다. 포인트 충전 후 다시 이용해주세요");
    store_reply_reset (&reply);
    db_t *db = store_db (ctx->store);
    assert_int_equal (s_int (db, "SELECT COUNT(*) FROM point_history WHERE type_code = 'EXPIRE'"), 1);
    assert_int_equal (s_int (db, "SELECT point FROM point_history WHERE type_code = 'EXPIRE'"), -4000);
    assert_int_equal (s_assert_whole (ctx, id), 1000);
    int customers = -1;
    int64_t points = -1;
    assert_int_equal (store_expire_due (ctx->store, later, 10, &customers, &points), 0);
    assert_int_equal (customers, 0);
    assert_int_equal (s_int (db, "SELECT COUNT(*) FROM point_history WHERE type_code = 'EXPIRE'"), 1);

    //  The scheduled sweep takes another customer's lot, once
    char other [COFFEE_ID_MAX];
    s_customer (ctx, other);
    s_save (ctx, other, 700, today, NOW_MS);
    s_save (ctx, other, 300, NULL, NOW_MS);
    assert_int_equal (store_expire_due (ctx->store, NOW_MS, 10, &customers, &points), 0);
    assert_int_equal (customers, 0);            //  not yet: today is still spendable
    assert_int_equal (store_expire_due (ctx->store, later, 10, &customers, &points), 0);
    assert_int_equal (customers, 1);
    assert_int_equal (points, 700);
    assert_int_equal (store_expire_due (ctx->store, later, 10, &customers, &points), 0);
    assert_int_equal (customers, 0);
    assert_int_equal (s_assert_whole (ctx, other), 300);
}

//  Welcome and reward points follow the policy; the admin grant's errors.
static void
test_lots_policy_and_grant (void **state)
{
    ctx_t *ctx = (ctx_t *) *state;
    store_policy_t policy = { 0, 10000, 30, 5, 0 };
    store_set_policy (ctx->store, &policy);
    char id [COFFEE_ID_MAX];
    s_customer (ctx, id);
    db_t *db = store_db (ctx->store);
    assert_int_equal (s_int (db, "SELECT COUNT(*) FROM point_history WHERE type_code = 'SAVE'"
                                 " AND remark = '첫 가입 감사 포인트' AND exp_date IS NOT NULL"), 1);
    assert_int_equal (s_assert_whole (ctx, id), 10000);
    store_reply_t reply = { 0 };
    event_line_t line = s_line ("MENU-00000003", 1);     //  4500: reward 225
    assert_int_equal (store_order_create (ctx->store, id, NULL, &line, 1, NULL, NOW_MS, &reply), 0);
    assert_int_equal (reply.status, 200);
    store_reply_reset (&reply);
    assert_int_equal (s_int (db, "SELECT point FROM point_history WHERE type_code = 'SAVE'"
                                 " AND remark LIKE '주문 적립%'"), 225);
    assert_int_equal (s_assert_whole (ctx, id), 10000 - 4500 + 225);
    store_set_policy (ctx->store, &(store_policy_t) { 0 });

    char yesterday [9], bad [] = "20250231";
    s_date (NOW_MS, -1, yesterday);
    s_snap_t before = s_snap (ctx, id);
    assert_int_equal (store_point_save (ctx->store, id, 100, yesterday, "x", NOW_MS, &reply), 0);
    s_assert_error (&reply, 400, "INVALID_INPUT", NULL);
    store_reply_reset (&reply);
    assert_int_equal (store_point_save (ctx->store, id, 100, bad, "x", NOW_MS, &reply), 0);
    s_assert_error (&reply, 400, "INVALID_INPUT", NULL);
    store_reply_reset (&reply);
    assert_int_equal (store_point_save (ctx->store, id, 0, NULL, "x", NOW_MS, &reply), 0);
    s_assert_error (&reply, 400, "INVALID_INPUT", NULL);
    store_reply_reset (&reply);
    assert_int_equal (store_point_save (ctx->store, "CUST-99999999", 100, NULL, "x", NOW_MS,
                                        &reply), 0);
    assert_int_equal (reply.status, 404);
    store_reply_reset (&reply);
    s_snap_t after = s_snap (ctx, id);
    s_assert_same (&before, &after);
}

//  Racing orders and sweeps on one customer from several connections:
//  no lot spent twice or expired twice, the balance whole and never negative.
typedef struct {
    const char *url;
    const char *customer_id;
    int64_t now_ms;
    bool sweeper;
    int ok;
} s_lot_race_t;

static void *
s_lot_racer (void *arg)
{
    s_lot_race_t *r = (s_lot_race_t *) arg;
    char err [256];
    store_t *store = store_open (r->url, err, sizeof err);
    if (!store)
        return NULL;
    event_line_t line;
    memset (&line, 0, sizeof line);
    snprintf (line.menu_id, sizeof line.menu_id, "MENU-00000001");
    line.qy = 1;
    for (int i = 0; i < 20; i++) {
        store_reply_t reply = { 0 };
        if (r->sweeper)
            store_expire_due (store, r->now_ms, 10, NULL, NULL);
        else
        if (store_order_create (store, r->customer_id, NULL, &line, 1, NULL, r->now_ms,
                                &reply) == 0 && reply.status == 200)
            r->ok++;
        store_reply_reset (&reply);
    }
    store_destroy (&store);
    return NULL;
}

static void
test_lots_race (void **state)
{
    ctx_t *ctx = (ctx_t *) *state;
    char id [COFFEE_ID_MAX], today [9], far [9];
    s_customer (ctx, id);
    s_date (NOW_MS, 0, today);
    s_date (NOW_MS, 60, far);
    for (int i = 0; i < 10; i++)
        s_save (ctx, id, 1000 + i, today, NOW_MS);     //  expire tomorrow
    for (int i = 0; i < 10; i++)
        s_save (ctx, id, 4200, i % 2? far: NULL, NOW_MS);
    int64_t later = NOW_MS + DAY_MS;
    s_lot_race_t racers [4] = {
        { ctx->store_url, id, later, true, 0 }, { ctx->store_url, id, later, true, 0 },
        { ctx->store_url, id, later, false, 0 }, { ctx->store_url, id, later, false, 0 },
    };
    pthread_t threads [4];
    for (int i = 0; i < 4; i++)
        assert_int_equal (pthread_create (&threads [i], NULL, s_lot_racer, &racers [i]), 0);
    for (int i = 0; i < 4; i++)
        pthread_join (threads [i], NULL);
    db_t *db = store_db (ctx->store);
    //  The ten expired lots went once each; the orders spent only the rest
    assert_int_equal (s_int (db, "SELECT COUNT(*) FROM point_history WHERE type_code = 'EXPIRE'"), 10);
    assert_int_equal (racers [2].ok + racers [3].ok, 10);
    assert_int_equal (s_int (db, "SELECT COUNT(*) FROM point_lot WHERE remaining < 0"), 0);
    assert_int_equal (s_int (db, "SELECT COALESCE(SUM(point), 0) FROM point_lot_use"), 42000);
    assert_int_equal (s_assert_whole (ctx, id), 0);
}

// ---------------------------------------------------------------------------
//  Concurrency: 16 connections race orders and charges on one customer

#define RACE_THREADS 16
#define RACE_ORDERS 4               //  per thread: 64 orders in all
#define RACE_START (40 * 4200LL)    //  enough for exactly 40 orders

typedef struct {
    const char *url;                //  store URL
    const char *customer_id;        //  the one customer
    int open_failed;                //  store_open failed
    int ok;                         //  orders answered 200
    int no_point;                   //  orders answered 409 NO_POINT
    int other;                      //  any other answer
    int charged;                    //  charges answered 200
    int retries;                    //  503s retried
    char order_nos [RACE_ORDERS][COFFEE_ID_MAX];    //  order numbers received
    pthread_barrier_t *start;       //  all connections open before anyone writes
} s_race_t;

//  Thread body: its own connection, RACE_ORDERS orders and one charge of 1.
static void *
s_race_thread (void *arg)
{
    s_race_t *r = (s_race_t *) arg;
    char err [256];
    store_t *store = store_open (r->url, err, sizeof err);
    pthread_barrier_wait (r->start);
    if (!store) {
        r->open_failed = 1;
        return NULL;
    }
    event_line_t line;
    memset (&line, 0, sizeof line);
    snprintf (line.menu_id, sizeof line.menu_id, "MENU-00000001");
    line.qy = 1;
    for (int i = 0; i <= RACE_ORDERS; i++) {
        store_reply_t reply = { 0 };
        //  a 503 changed nothing, so it may be retried (bounded)
        for (int attempt = 0; attempt < 5; attempt++) {
            int rc = i == 2
                   ? store_charge (store, r->customer_id, 1, NULL, NULL, NOW_MS, &reply)
                   : store_order_create (store, r->customer_id, NULL, &line, 1, NULL, NOW_MS, &reply);
            if (rc == 0)
                break;
            r->retries++;
            store_reply_reset (&reply);
        }
        cJSON *json = reply.body ? cJSON_Parse (reply.body) : NULL;
        const cJSON *code = cJSON_GetObjectItemCaseSensitive (json, "code");
        const cJSON *no = cJSON_GetObjectItemCaseSensitive (json, "orderNo");
        if (i == 2)
            r->charged += reply.status == 200;
        else
        if (reply.status == 200 && cJSON_IsString (no))
            snprintf (r->order_nos [r->ok++], COFFEE_ID_MAX, "%s", no->valuestring);
        else
        if (reply.status == 409 && cJSON_IsString (code) && streq (code->valuestring, "NO_POINT"))
            r->no_point++;
        else
            r->other++;
        cJSON_Delete (json);
        store_reply_reset (&reply);
    }
    store_destroy (&store);
    return NULL;
}

//  Sorts order numbers.
static int
s_strcmp (const void *a, const void *b)
{
    return strcmp ((const char *) a, (const char *) b);
}

static void
test_concurrent_orders (void **state)
{
    ctx_t *ctx = (ctx_t *) *state;
    char id [COFFEE_ID_MAX];
    s_customer (ctx, id);
    s_charge (ctx, id, RACE_START);
    pthread_t threads [RACE_THREADS];
    s_race_t *races = (s_race_t *) calloc (RACE_THREADS, sizeof *races);
    assert_non_null (races);
    pthread_barrier_t start;
    assert_int_equal (pthread_barrier_init (&start, NULL, RACE_THREADS), 0);
    for (int i = 0; i < RACE_THREADS; i++) {
        races [i].start = &start;
        races [i].url = ctx->store_url;
        races [i].customer_id = id;
        assert_int_equal (pthread_create (&threads [i], NULL, s_race_thread, &races [i]), 0);
    }
    for (int i = 0; i < RACE_THREADS; i++)
        pthread_join (threads [i], NULL);
    pthread_barrier_destroy (&start);

    int ok = 0, no_point = 0, other = 0, charged = 0, retries = 0;
    char (*nos) [COFFEE_ID_MAX] = calloc (RACE_THREADS * RACE_ORDERS, COFFEE_ID_MAX);
    assert_non_null (nos);
    for (int i = 0; i < RACE_THREADS; i++) {
        assert_int_equal (races [i].open_failed, 0);
        for (int j = 0; j < races [i].ok; j++)
            memcpy (nos [ok + j], races [i].order_nos [j], COFFEE_ID_MAX);
        ok += races [i].ok;
        no_point += races [i].no_point;
        other += races [i].other;
        charged += races [i].charged;
        retries += races [i].retries;
    }
    print_message ("race: %d orders ok, %d NO_POINT, %d charges, %d retried 503s\n",
                   ok, no_point, charged, retries);
    //  An order fails only when fewer than 4200 points are left, which the
    //  40 * 4200 + 16 points allow only after 40 orders went through
    assert_int_equal (other, 0);
    assert_int_equal (charged, RACE_THREADS);
    assert_int_equal (ok, 40);
    assert_int_equal (no_point, RACE_THREADS * RACE_ORDERS - 40);
    int64_t balance = -1, sum = -2;
    assert_int_equal (store_balance (ctx->store, id, &balance, &sum), 0);
    assert_int_equal (balance, RACE_START + RACE_THREADS - 40 * 4200);
    assert_int_equal (balance, sum);
    assert_true (balance >= 0);
    qsort (nos, (size_t) ok, COFFEE_ID_MAX, s_strcmp);
    for (int i = 1; i < ok; i++)
        assert_string_not_equal (nos [i - 1], nos [i]);
    db_t *db = store_db (ctx->store);
    assert_int_equal (s_int (db, "SELECT COUNT(*) FROM orders"), 40);
    assert_int_equal (s_int (db, "SELECT COUNT(DISTINCT order_no) FROM orders"), 40);
    assert_int_equal (s_int (db, "SELECT COUNT(*) FROM outbox WHERE kind = 'order'"), 40);
    free (nos);
    free (races);
}

//  Racers on one Idempotency-Key: one charge happens, every other answer
//  is its replay or 409 IDEMPOTENCY_KEY_IN_USE.
#define KEY_RACERS 8

typedef struct {
    const char *url;                //  store URL
    const char *customer_id;        //  the customer
    int status;                     //  the answer's status (0: open failed)
    char code [64];                 //  error code, if any
    char body [256];                //  the answer's body
    pthread_barrier_t *start;       //  all connections open before anyone charges
} s_key_race_t;

//  Thread body: one keyed charge on its own connection.
static void *
s_key_race_thread (void *arg)
{
    s_key_race_t *r = (s_key_race_t *) arg;
    char err [256];
    store_t *store = store_open (r->url, err, sizeof err);
    pthread_barrier_wait (r->start);
    if (!store)
        return NULL;
    store_idem_t idem = { "race-key", "POST /point", "{\"same\":true}", r->customer_id };
    store_reply_t reply = { 0 };
    store_charge (store, r->customer_id, 1000, NULL, &idem, NOW_MS, &reply);
    r->status = reply.status;
    snprintf (r->body, sizeof r->body, "%s", reply.body ? reply.body : "");
    cJSON *json = reply.body ? cJSON_Parse (reply.body) : NULL;
    const cJSON *code = cJSON_GetObjectItemCaseSensitive (json, "code");
    if (cJSON_IsString (code))
        snprintf (r->code, sizeof r->code, "%s", code->valuestring);
    cJSON_Delete (json);
    store_reply_reset (&reply);
    store_destroy (&store);
    return NULL;
}

static void
test_idempotency_race (void **state)
{
    ctx_t *ctx = (ctx_t *) *state;
    char id [COFFEE_ID_MAX];
    s_customer (ctx, id);
    pthread_t threads [KEY_RACERS];
    s_key_race_t races [KEY_RACERS];
    pthread_barrier_t start;
    assert_int_equal (pthread_barrier_init (&start, NULL, KEY_RACERS), 0);
    for (int i = 0; i < KEY_RACERS; i++) {
        memset (&races [i], 0, sizeof races [i]);
        races [i].start = &start;
        races [i].url = ctx->store_url;
        races [i].customer_id = id;
        assert_int_equal (pthread_create (&threads [i], NULL, s_key_race_thread, &races [i]), 0);
    }
    for (int i = 0; i < KEY_RACERS; i++)
        pthread_join (threads [i], NULL);
    pthread_barrier_destroy (&start);
    int ok = 0, in_use = 0;
    const char *want = "{\"beforeChargePoint\":0,\"chargeAmt\":1000,\"afterChargePoint\":1000}";
    for (int i = 0; i < KEY_RACERS; i++) {
        if (races [i].status == 200) {
            assert_string_equal (races [i].body, want);
            ok++;
        }
        else
        if (races [i].status == 409 && streq (races [i].code, "IDEMPOTENCY_KEY_IN_USE"))
            in_use++;
        else
            fail_msg ("racer %d: %d %s", i, races [i].status, races [i].body);
    }
    print_message ("key race: %d answered 200, %d in use\n", ok, in_use);
    assert_true (ok >= 1);
    int64_t balance = 0, sum = 0;
    assert_int_equal (store_balance (ctx->store, id, &balance, &sum), 0);
    assert_int_equal (balance, 1000);
    assert_int_equal (sum, 1000);
    assert_int_equal (s_int (store_db (ctx->store), "SELECT COUNT(*) FROM point_history"), 1);
}

//  MySQL commits DDL at once, so a migration cut short runs its steps again
//  at the next start: every step must be safe twice. Going back to schema
//  version 1 and opening again redoes them all over the finished schema.
//  (SQLite migrates in one transaction: it never redoes a step.)
static void
test_migration_rerun (void **state)
{
    ctx_t *ctx = (ctx_t *) *state;
    db_t *db = store_db (ctx->store);
    if (db_dialect (db) != DB_MYSQL)
        skip ();
    char id [COFFEE_ID_MAX];
    s_customer (ctx, id);
    s_charge (ctx, id, 700);
    assert_int_equal (db_exec (db, "UPDATE schema_version SET version = 1"
                                   " WHERE component = 'store'"), DB_OK);
    store_destroy (&ctx->store);
    char err [256] = "";
    ctx->store = store_open (ctx->store_url, err, sizeof err);
    if (!ctx->store)
        fail_msg ("reopen after a cut migration: %s", err);
    db = store_db (ctx->store);
    assert_int_equal (s_int (db, "SELECT version FROM schema_version WHERE component = 'store'"),
                      STORE_SCHEMA);
    int64_t balance = 0;
    assert_int_equal (store_balance (ctx->store, id, &balance, NULL), 0);
    assert_int_equal (balance, 700);
    s_charge (ctx, id, 300);
}

// ---------------------------------------------------------------------------
//  Menus (issue 10)

//  A menu change with the given fields (NULL name, negative price, 0 use_yn:
//  not given).
static store_menu_change_t
s_change (const char *name, int64_t price, char use_yn)
{
    store_menu_change_t change;
    memset (&change, 0, sizeof change);
    if (name) {
        change.has_name = true;
        snprintf (change.name, sizeof change.name, "%s", name);
    }
    if (price >= 0) {
        change.has_price = true;
        change.price = price;
    }
    if (use_yn) {
        change.has_shown = true;
        change.shown = use_yn == 'Y';
    }
    return change;
}

//  The menu events the outbox holds, in order (kind and envelope checked);
//  marks them published. Returns how many, the menus into out.
static size_t
s_menu_events (ctx_t *ctx, event_menu_t *out, size_t max)
{
    store_outbox_row_t *rows = NULL;
    size_t count = 0, n = 0;
    assert_int_equal (store_outbox_claim (ctx->store, 100, &rows, &count), 0);
    for (size_t i = 0; i < count; i++) {
        assert_string_equal (rows [i].kind, "menu.changed");
        event_t ev;
        assert_int_equal (event_decode (rows [i].payload, strlen (rows [i].payload), &ev), 0);
        assert_int_equal (ev.kind, EVENT_KIND_MENU);
        assert_string_equal (ev.key, rows [i].key);
        assert_string_equal (ev.menu.menu_id, rows [i].key);
        assert_int_equal (ev.version, ev.menu.version);
        assert_true (n < max);
        out [n++] = ev.menu;
        event_reset (&ev);
    }
    if (count)
        assert_int_equal (store_outbox_mark (ctx->store, rows, count, NOW_MS), 0);
    else
        store_outbox_release (ctx->store);
    store_outbox_rows_free (&rows, count);
    return n;
}

//  Create, change and list: each change bumps the version and writes its
//  event in the same transaction; an unknown menu is 404; prices of placed
//  orders stay.
static void
test_menu_admin (void **state)
{
    ctx_t *ctx = (ctx_t *) *state;
    store_reply_t reply = { 0 };
    store_menu_change_t change = s_change ("카페 라떼", 5000, 0);
    assert_int_equal (store_menu_create (ctx->store, &change, NOW_MS, &reply), 0);
    assert_int_equal (reply.status, 200);
    assert_string_equal (reply.body, "{\"menuId\":\"MENU-00000006\",\"menuNm\":\"카페 라떼\","
                         "\"menuPrice\":5000,\"useYn\":\"Y\",\"version\":1}");
    store_reply_reset (&reply);
    change = s_change ("무료 물", 0, 'N');
    assert_int_equal (store_menu_create (ctx->store, &change, NOW_MS, &reply), 0);
    assert_string_equal (reply.body, "{\"menuId\":\"MENU-00000007\",\"menuNm\":\"무료 물\","
                         "\"menuPrice\":0,\"useYn\":\"N\",\"version\":1}");
    store_reply_reset (&reply);

    //  An order at 5000, then the price changes: the order keeps 5000
    char id [COFFEE_ID_MAX];
    s_customer (ctx, id);
    s_charge (ctx, id, 100000);
    event_line_t line = s_line ("MENU-00000006", 2);
    assert_int_equal (store_order_create (ctx->store, id, NULL, &line, 1, NULL, NOW_MS, &reply), 0);
    assert_int_equal (reply.status, 200);
    store_reply_reset (&reply);
    change = s_change (NULL, 5500, 0);
    assert_int_equal (store_menu_patch (ctx->store, "MENU-00000006", &change, NOW_MS + 1,
                                        &reply), 0);
    assert_string_equal (reply.body, "{\"menuId\":\"MENU-00000006\",\"menuNm\":\"카페 라떼\","
                         "\"menuPrice\":5500,\"useYn\":\"Y\",\"version\":2}");
    store_reply_reset (&reply);
    assert_int_equal (store_order_create (ctx->store, id, NULL, &line, 1, NULL, NOW_MS + 2, &reply), 0);
    assert_non_null (strstr (reply.body, "\"orderPrice\":11000"));
    store_reply_reset (&reply);
    assert_int_equal (store_order_get (ctx->store, "ORD-00000001", NULL, &reply), 0);
    assert_non_null (strstr (reply.body, "\"orderPrice\":10000"));
    store_reply_reset (&reply);
    //  Hidden: 409 MENU_NOT_ORDERABLE, nothing changed
    change = s_change (NULL, -1, 'N');
    assert_int_equal (store_menu_patch (ctx->store, "MENU-00000006", &change, NOW_MS + 3,
                                        &reply), 0);
    assert_non_null (strstr (reply.body, "\"version\":3"));
    store_reply_reset (&reply);
    int64_t balance = 0, sum = 0;
    assert_int_equal (store_balance (ctx->store, id, &balance, &sum), 0);
    assert_int_equal (store_order_create (ctx->store, id, NULL, &line, 1, NULL, NOW_MS + 4, &reply), 0);
    assert_int_equal (reply.status, 409);
    assert_int_equal (reply.result, STORE_RESULT_NOT_ORDERABLE);
    store_reply_reset (&reply);
    int64_t after = 0;
    assert_int_equal (store_balance (ctx->store, id, &after, &sum), 0);
    assert_int_equal (after, balance);

    //  Unknown: 404, no event
    assert_int_equal (store_menu_patch (ctx->store, "MENU-00000099", &change, NOW_MS, &reply), 0);
    assert_int_equal (reply.status, 404);
    assert_string_equal (reply.body,
        "{\"code\":\"NOT_FOUND_DATA\",\"message\":\"해당 메뉴 정보 이/가 존재하지 않습니다.\","
        "\"menuId\":\"MENU-00000099\"}");
    store_reply_reset (&reply);

    //  The list: all seven, hidden too, with versions
    assert_int_equal (store_menu_list (ctx->store, &reply), 0);
    cJSON *list = cJSON_Parse (reply.body);
    assert_int_equal (cJSON_GetArraySize (list), 7);
    const cJSON *six = cJSON_GetArrayItem (list, 5);
    assert_string_equal (cJSON_GetObjectItem (six, "useYn")->valuestring, "N");
    assert_int_equal ((int) cJSON_GetObjectItem (six, "version")->valuedouble, 3);
    cJSON_Delete (list);
    store_reply_reset (&reply);

    //  One event per change, in order, each carrying the whole menu
    event_menu_t seen [16];
    assert_int_equal (s_int (store_db (ctx->store), "SELECT COUNT(*) FROM outbox"
                             " WHERE published_at IS NULL AND kind = 'order'"), 2);
    db_exec (store_db (ctx->store), "UPDATE outbox SET published_at = 1 WHERE kind = 'order'");
    size_t n = s_menu_events (ctx, seen, 16);
    assert_int_equal (n, 4);
    assert_string_equal (seen [0].menu_id, "MENU-00000006");
    assert_int_equal (seen [0].version, 1);
    assert_string_equal (seen [1].menu_id, "MENU-00000007");
    assert_false (seen [1].shown);
    assert_int_equal (seen [2].menu_price, 5500);
    assert_int_equal (seen [2].version, 2);
    assert_false (seen [3].shown);
    assert_string_equal (seen [3].menu_nm, "카페 라떼");
    assert_int_equal (seen [3].version, 3);
}

//  The display side applies menu events by version: an old, repeated or
//  out-of-order event never overwrites a newer one; /display/menu shows
//  shown menus only; /display/best leaves hidden menus out and fills the
//  top 3 from the rest.
static void
test_menu_apply_versioned (void **state)
{
    ctx_t *ctx = (ctx_t *) *state;
    event_menu_t v [4];
    for (int i = 0; i < 4; i++) {
        memset (&v [i], 0, sizeof v [i]);
        snprintf (v [i].menu_id, sizeof v [i].menu_id, "MENU-00000009");
        snprintf (v [i].menu_nm, sizeof v [i].menu_nm, "이름 %d", i + 1);
        v [i].menu_price = 1000 * (i + 1);
        v [i].shown = i != 2;
        v [i].version = i + 1;
    }
    bool applied = false;
    //  Out of order: 2 first, then 1 (older: nothing), 4, then 3 (older)
    assert_int_equal (display_store_apply_menu (ctx->display, &v [1], "g", 0, 1, &applied), 0);
    assert_true (applied);
    assert_int_equal (display_store_apply_menu (ctx->display, &v [0], "g", 0, 2, &applied), 0);
    assert_false (applied);
    db_t *ddb = display_store_db (ctx->display);
    assert_int_equal (s_int (ddb, "SELECT menu_price FROM display_menu WHERE menu_id = 'MENU-00000009'"),
                      2000);
    assert_int_equal (display_store_apply_menu (ctx->display, &v [3], "g", 0, 3, &applied), 0);
    assert_true (applied);
    assert_int_equal (display_store_apply_menu (ctx->display, &v [2], "g", 0, 4, &applied), 0);
    assert_false (applied);
    //  Repeated: nothing
    assert_int_equal (display_store_apply_menu (ctx->display, &v [3], "g", 0, 5, &applied), 0);
    assert_false (applied);
    assert_int_equal (s_int (ddb, "SELECT menu_price FROM display_menu WHERE menu_id = 'MENU-00000009'"),
                      4000);
    assert_int_equal (s_int (ddb, "SELECT version FROM display_menu WHERE menu_id = 'MENU-00000009'"),
                      4);
    int64_t offset = -1;
    assert_int_equal (display_store_position (ctx->display, "g", 0, &offset), 0);
    assert_int_equal (offset, 5);
    char *menus = NULL;
    assert_int_equal (display_store_menus (ctx->display, &menus), 0);
    assert_non_null (strstr (menus, "{\"menuId\":\"MENU-00000009\",\"menuNm\":\"이름 4\","
                                    "\"menuPrice\":4000}"));
    zstr_free (&menus);

    //  Hide menu 1, the most ordered: best is 2, 3, 4 (filled from the rest)
    const char *ids [] = { "MENU-00000001", "MENU-00000001", "MENU-00000001", "MENU-00000001",
                           "MENU-00000002", "MENU-00000002", "MENU-00000002",
                           "MENU-00000003", "MENU-00000003", "MENU-00000004" };
    for (int i = 0; i < 10; i++) {
        event_line_t line = s_line (ids [i], 1);
        event_order_t ev;
        memset (&ev, 0, sizeof ev);
        snprintf (ev.order_no, sizeof ev.order_no, "ORD-9%07d", i);
        snprintf (ev.customer_id, sizeof ev.customer_id, "CUST-00000001");
        ev.ordered_at_ms = NOW_MS - 1000;
        ev.line_count = 1;
        ev.lines = &line;
        assert_int_equal (display_store_apply (ctx->display, &ev, "g", 1, i, &applied), 0);
    }
    event_menu_t hidden;
    memset (&hidden, 0, sizeof hidden);
    snprintf (hidden.menu_id, sizeof hidden.menu_id, "MENU-00000001");
    snprintf (hidden.menu_nm, sizeof hidden.menu_nm, "아이스 아메리카노");
    hidden.menu_price = 4200;
    hidden.shown = false;
    hidden.version = 2;
    assert_int_equal (display_store_apply_menu (ctx->display, &hidden, "g", 0, 6, &applied), 0);
    assert_true (applied);
    store_count_t best [3];
    size_t count = 0;
    assert_int_equal (display_store_best (ctx->display, NOW_MS, DISPLAY_WINDOW_MS, 3, best,
                                          &count), 0);
    assert_int_equal (count, 3);
    assert_string_equal (best [0].menu_id, "MENU-00000002");
    assert_int_equal (best [0].count, 3);
    assert_string_equal (best [1].menu_id, "MENU-00000003");
    assert_string_equal (best [2].menu_id, "MENU-00000004");
    assert_int_equal (display_store_menus (ctx->display, &menus), 0);
    assert_null (strstr (menus, "MENU-00000001"));
    zstr_free (&menus);

    //  Repair: the display menus become exactly the command store's
    event_menu_t *truth = NULL;
    size_t truth_count = 0;
    assert_int_equal (store_menus_read (ctx->store, &truth, &truth_count), 0);
    assert_int_equal (truth_count, 5);
    assert_int_equal (display_store_menus_repair (ctx->display, truth, truth_count), 0);
    event_menu_t *have = NULL;
    size_t have_count = 0;
    assert_int_equal (display_store_menus_all (ctx->display, &have, &have_count), 0);
    assert_int_equal (have_count, truth_count);
    for (size_t i = 0; i < have_count; i++) {
        assert_string_equal (have [i].menu_id, truth [i].menu_id);
        assert_string_equal (have [i].menu_nm, truth [i].menu_nm);
        assert_int_equal (have [i].menu_price, truth [i].menu_price);
        assert_int_equal (have [i].shown, truth [i].shown);
        assert_int_equal (have [i].version, truth [i].version);
    }
    free (have);
    free (truth);
}

//  An envelope that is not one is refused whole: unknown kind, missing
//  key, version 0, a menu payload with a bad useYn; a bare order payload
//  (written before the envelope) still decodes.
static void
test_event_envelope (void **state)
{
    (void) state;
    static const char *const bad [] = {
        "{\"kind\":\"coupon\",\"key\":\"K\",\"version\":1,\"time\":\"2026-11-25T03:26:40.123Z\",\"payload\":{}}",
        "{\"kind\":\"menu.changed\",\"version\":1,\"time\":\"2026-11-25T03:26:40.123Z\","
        "\"payload\":{\"menuId\":\"MENU-00000001\",\"menuNm\":\"a\",\"menuPrice\":1,\"useYn\":\"Y\",\"version\":1}}",
        "{\"kind\":\"menu.changed\",\"key\":\"MENU-00000001\",\"version\":0,\"time\":\"2026-11-25T03:26:40.123Z\","
        "\"payload\":{\"menuId\":\"MENU-00000001\",\"menuNm\":\"a\",\"menuPrice\":1,\"useYn\":\"Y\",\"version\":1}}",
        "{\"kind\":\"menu.changed\",\"key\":\"MENU-00000001\",\"version\":1,\"time\":\"2026-11-25T03:26:40.123Z\","
        "\"payload\":{\"menuId\":\"MENU-00000001\",\"menuNm\":\"a\",\"menuPrice\":1,\"useYn\":\"X\",\"version\":1}}",
        "[]",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad [0]; i++) {
        event_t ev;
        assert_int_equal (event_decode (bad [i], strlen (bad [i]), &ev), -1);
    }
    const char *bare = "{\"orderNo\":\"ORD-00000027\",\"customerId\":\"CUST-00000004\","
                       "\"menuList\":[{\"menuId\":\"MENU-00000001\",\"qy\":1}],\"payAmt\":4200,"
                       "\"orderedAt\":\"2026-11-25T03:26:40.123Z\"}";
    event_t ev;
    assert_int_equal (event_decode (bare, strlen (bare), &ev), 0);
    assert_int_equal (ev.kind, EVENT_KIND_ORDER);
    assert_string_equal (ev.key, "ORD-00000027");
    assert_int_equal (ev.order.line_count, 1);
    //  Round trip through the envelope
    char *text = event_order_envelope (&ev.order);
    event_t again;
    assert_int_equal (event_decode (text, strlen (text), &again), 0);
    assert_int_equal (again.order.pay_amt, 4200);
    assert_int_equal (again.time_ms, ev.order.ordered_at_ms);
    zstr_free (&text);
    event_reset (&again);
    event_reset (&ev);
}

//  A batch inserts its ordered-menu rows at the commit, with multi-row
//  statements when all are new, and row by row when some were there
//  already (a redelivery): every row counts once whatever the mix. Batch 1
//  holds 300 orders and 50 of them twice; batch 2 holds 50 of those again
//  and 100 new ones; batch 3 holds only old ones and tells no news.
static void
test_display_batch_rows (void **state)
{
    ctx_t *ctx = (ctx_t *) *state;
    event_order_t *evs = s_random_events (777, NOW_MS, RND_ORDERS, "ORD-");
    const struct {
        size_t from, to, step;
        size_t again;                   //  the first `again` of them applied twice
        bool news;
    } batches [] = {
        { 0, 300, 1, 50, true },
        { 250, RND_ORDERS, 1, 0, true },
        { 0, RND_ORDERS, 3, 0, false },
    };
    int64_t offset = 0;
    for (size_t b = 0; b < sizeof batches / sizeof batches [0]; b++) {
        assert_int_equal (display_store_batch_begin (ctx->display), 0);
        for (int pass = 0; pass < 2; pass++)
            for (size_t i = batches [b].from; i < batches [b].to; i += batches [b].step) {
                if (pass == 1 && i >= batches [b].from + batches [b].again)
                    break;
                bool applied = true;
                assert_int_equal (display_store_apply (ctx->display, &evs [i], "g", 0, offset++,
                                                       &applied), 0);
                assert_false (applied);         //  in a batch the commit tells
            }
        bool news = !batches [b].news;
        assert_int_equal (display_store_batch_commit (ctx->display, &news), 0);
        assert_int_equal (news, batches [b].news);
    }
    bool shown [RND_MENUS] = { true, true, true, true, true, false };
    int64_t hour = (NOW_MS / HOUR_MS) * HOUR_MS;
    int64_t nows [] = { NOW_MS, hour - 1, NOW_MS + HOUR_MS + 1234 };
    int64_t windows [] = { DISPLAY_WINDOW_MS, HOUR_MS, 1 };
    for (size_t i = 0; i < sizeof nows / sizeof nows [0]; i++)
        for (size_t j = 0; j < sizeof windows / sizeof windows [0]; j++)
            s_assert_best (ctx->display, evs, RND_ORDERS, nows [i], windows [j], shown);
    s_assert_counts (ctx->display, evs);
    int64_t position = -1;
    assert_int_equal (display_store_position (ctx->display, "g", 0, &position), 0);
    assert_int_equal (position, offset - 1);
    for (size_t i = 0; i < RND_ORDERS; i++)
        event_order_reset (&evs [i]);
    free (evs);
}

// ---------------------------------------------------------------------------
//  Orders placed together (store_orders_create)

//  The rows every order may touch, one line per row, ids included.
static const struct {
    const char *sql;
    int columns;
} s_dumped [] = {
    { "SELECT customer_id, balance FROM point ORDER BY customer_id", 2 },
    { "SELECT id, customer_id, point, type_code, type_name, exp_date, remark, created_at"
      " FROM point_history ORDER BY id", 8 },
    { "SELECT id, customer_id, history_id, amount, remaining, exp_date, expires_at"
      " FROM point_lot ORDER BY id", 7 },
    { "SELECT history_id, lot_id, point FROM point_lot_use ORDER BY history_id, lot_id", 3 },
    { "SELECT id, order_no, customer_id, order_price, pay_amt, created_at FROM orders"
      " ORDER BY id", 6 },
    { "SELECT order_no, menu_id, qy, menu_price, created_at FROM order_menu"
      " ORDER BY order_no, menu_id", 5 },
    //  (the seeded menus' events carry the time the store was opened)
    { "SELECT id, order_no, payload, kind, published_at FROM outbox WHERE kind = 'order'"
      " ORDER BY id", 5 },
    { "SELECT route, customer_id, idem_key, state, status, response FROM idempotency"
      " ORDER BY route, customer_id, idem_key", 6 },
};

//  Every row of s_dumped as text (free it).
static char *
s_dump (ctx_t *ctx)
{
    db_t *db = store_db (ctx->store);
    char *text = NULL;
    size_t size = 0;
    FILE *out = open_memstream (&text, &size);
    assert_non_null (out);
    for (size_t t = 0; t < sizeof s_dumped / sizeof s_dumped [0]; t++) {
        db_stmt_t *st = db_stmt (db, s_dumped [t].sql);
        if (!st)
            fail_msg ("prepare %s: %s", s_dumped [t].sql, db_errmsg (db));
        int rc;
        while ((rc = db_step (st)) == DB_ROW)
            for (int c = 0; c < s_dumped [t].columns; c++) {
                const char *value = db_column_text (st, c);
                fprintf (out, "%s%c", value ? value : "NULL",
                         c + 1 < s_dumped [t].columns ? '|' : '\n');
            }
        assert_int_equal (rc, DB_DONE);
        db_reset (st);
        fprintf (out, "--\n");
    }
    fclose (out);
    return text;
}

//  Fresh stores, as s_setup makes them.
static void
s_fresh (ctx_t *ctx)
{
    store_destroy (&ctx->store);
    display_store_destroy (&ctx->display);
    s_wipe (ctx->store_url, s_store_tables);
    s_wipe (ctx->display_url, s_display_tables);
    s_open_stores (ctx);
    s_project_outbox (ctx);
}

//  The orders placed together (reqs, answered) answered as they did one by
//  one (expected), and the rows are those one by one left (one_by_one,
//  freed here); resets the answers.
static void
s_assert_as_one_by_one (ctx_t *ctx, store_order_req_t *reqs, store_reply_t *expected,
                        size_t count, char *one_by_one)
{
    for (size_t i = 0; i < count; i++) {
        store_reply_t *reply = reqs [i].reply;
        assert_int_equal (reqs [i].rc, 0);
        if (reply->status != expected [i].status || strcmp (reply->body, expected [i].body) != 0)
            fail_msg ("order %zu: together %d %s, one by one %d %s", i, reply->status,
                      reply->body, expected [i].status, expected [i].body);
        store_reply_reset (reply);
        store_reply_reset (&expected [i]);
    }
    char *together = s_dump (ctx);
    if (strcmp (together, one_by_one) != 0)
        fail_msg ("rows differ\ntogether:\n%s\none by one:\n%s", together, one_by_one);
    free (together);
    free (one_by_one);
}

//  The batch test's customers: A (three lots, one expiring soon, one
//  later), B (enough for one order), C (a lot already past its date), D
//  (a token, two lots), E, F, G (10000 each; G holds a token too).
//  hash_d and hash_g get the hashes of D's and G's tokens.
#define BATCH_CUSTOMERS 7

static void
s_batch_world (ctx_t *ctx, char ids [BATCH_CUSTOMERS][COFFEE_ID_MAX], char *hash_d,
               char *hash_g)
{
    char token_d [TOKEN_TEXT_MAX], token_g [TOKEN_TEXT_MAX];
    for (int i = 0; i < BATCH_CUSTOMERS; i++)
        if (i == 3 || i == 6)
            s_customer_token (ctx, ids [i], i == 3 ? token_d : token_g);
        else
            s_customer (ctx, ids [i]);
    token_hash (token_d, strlen (token_d), hash_d);
    token_hash (token_g, strlen (token_g), hash_g);
    char near [9], far [9], past [9];
    s_date (NOW_MS, 3, near);
    s_date (NOW_MS, 20, far);
    int64_t before = NOW_MS - 5 * 24 * HOUR_MS;
    s_date (before, 2, past);
    s_charge (ctx, ids [0], 20000);
    s_save (ctx, ids [0], 3000, far, NOW_MS);
    s_save (ctx, ids [0], 2000, near, NOW_MS);
    s_charge (ctx, ids [1], 5000);
    s_charge (ctx, ids [2], 10000);
    s_save (ctx, ids [2], 1000, past, before);
    for (int i = 3; i < BATCH_CUSTOMERS; i++)
        s_charge (ctx, ids [i], 10000);
    s_charge (ctx, ids [3], 20000);
}

//  A group's orders placed together answer and write exactly what
//  store_order_create answers and writes when the orders that can be
//  placed together (every order of A and D: lots spent soonest first,
//  menus merged, a customer token, the admin) run first and the others
//  (a key, a lot past its date, a NO_POINT that sends all of B's orders
//  one by one, unknown menu and customer, another's token, bad input)
//  after them, in the order given: same answers, same rows, same ids.
//  Had they all gone one by one, the ids would follow the order given
//  and differ. Then A's orders, which its balance no longer covers
//  together, go one by one after D's batch in the same group and fail (a
//  trigger refuses A's outbox rows): they answer 503, D's commits (on
//  MySQL D's last INSERTs, left for the COMMIT, run before A's first
//  statement). Last, a batch of one customer's orders.
static void
test_orders_batched (void **state)
{
    ctx_t *ctx = (ctx_t *) *state;
    char ids [BATCH_CUSTOMERS][COFFEE_ID_MAX];
    char hash_d [TOKEN_HASH_MAX], hash_g [TOKEN_HASH_MAX];     //  set by s_batch_world
    store_auth_t as_d = { STORE_AUTH_TOKEN, hash_d };
    store_auth_t as_g = { STORE_AUTH_TOKEN, hash_g };
    store_auth_t as_admin = { STORE_AUTH_ADMIN, NULL };
    event_line_t one = s_line ("MENU-00000001", 1);
    event_line_t two = s_line ("MENU-00000002", 1);
    event_line_t three = s_line ("MENU-00000003", 2);
    event_line_t mixed [3] = { s_line ("MENU-00000001", 1), s_line ("MENU-00000002", 1),
                               s_line ("MENU-00000001", 2) };
    event_line_t unknown = s_line ("MENU-99999999", 1);
    store_idem_t key = { "batch-key", "POST /order", "{\"b\":1}", NULL };
    const char *stranger = "CUST-99999999";

    //  Who (index into ids, 7: stranger), auth, lines, key; the status
    //  each answers; whether it is placed together
    struct {
        int who;
        const store_auth_t *auth;
        const event_line_t *lines;
        size_t line_count;
        bool keyed;
        int status;
        bool together;
    } orders [] = {
        { 4, NULL, &one, 1, true, 200, false },
        { 0, NULL, &one, 1, false, 200, true },
        { 1, NULL, &one, 1, false, 200, false },
        { 4, NULL, &two, 1, false, 200, false },
        { 2, NULL, &one, 1, false, 200, false },
        { 3, &as_d, mixed, 3, false, 200, true },
        { 0, NULL, &three, 1, false, 200, true },
        { 1, NULL, &one, 1, false, 409, false },
        { 5, NULL, &unknown, 1, false, 404, false },
        { 6, &as_d, &one, 1, false, 403, false },
        { 7, NULL, &one, 1, false, 404, false },
        { 5, NULL, &one, 0, false, 400, false },
        { 0, &as_admin, &one, 1, false, 200, true },
        { 6, &as_g, &two, 1, false, 200, false },
    };
    const size_t count = sizeof orders / sizeof orders [0];
    store_reply_t expected [sizeof orders / sizeof orders [0]];
    store_reply_t replies [sizeof orders / sizeof orders [0]];
    store_order_req_t reqs [sizeof orders / sizeof orders [0]];
    memset (expected, 0, sizeof expected);
    memset (replies, 0, sizeof replies);

    //  One by one: those placed together first, then the others
    s_batch_world (ctx, ids, hash_d, hash_g);
    assert_int_equal (store_group_begin (ctx->store, 0), STORE_OK);
    for (int pass = 0; pass < 2; pass++)
        for (size_t i = 0; i < count; i++) {
            if (orders [i].together != (pass == 0))
                continue;
            const char *who = orders [i].who < BATCH_CUSTOMERS ? ids [orders [i].who] : stranger;
            key.customer = who;
            store_order_create (ctx->store, who, orders [i].auth, orders [i].lines,
                                orders [i].line_count, orders [i].keyed ? &key : NULL, NOW_MS,
                                &expected [i]);
            if (expected [i].status != orders [i].status)
                fail_msg ("order %zu one by one: %d %s", i, expected [i].status,
                          expected [i].body);
        }
    assert_int_equal (store_group_commit (ctx->store), STORE_OK);
    char *one_by_one = s_dump (ctx);

    //  Together, from the same start
    s_fresh (ctx);
    s_batch_world (ctx, ids, hash_d, hash_g);
    for (size_t i = 0; i < count; i++) {
        const char *who = orders [i].who < BATCH_CUSTOMERS ? ids [orders [i].who] : stranger;
        reqs [i] = (store_order_req_t) { who, orders [i].auth, orders [i].lines,
                                         orders [i].line_count, orders [i].keyed ? &key : NULL,
                                         &replies [i], 99 };
    }
    key.customer = ids [4];
    assert_int_equal (store_group_begin (ctx->store, 0), STORE_OK);
    store_orders_create (ctx->store, reqs, count, NOW_MS);
    assert_int_equal (store_group_commit (ctx->store), STORE_OK);
    s_assert_as_one_by_one (ctx, reqs, expected, count, one_by_one);
    for (int i = 0; i < BATCH_CUSTOMERS; i++)
        s_assert_whole (ctx, ids [i]);

    //  A's orders go one by one after D's batch, and fail
    db_t *db = store_db (ctx->store);
    s_poison_outbox (ctx, ids [0]);
    s_snap_t before_a = s_snap (ctx, ids [0]);
    int64_t balance_d = 0, history_d = 0;
    assert_int_equal (store_balance (ctx->store, ids [3], &balance_d, &history_d), 0);
    store_order_req_t poisoned [3] = {
        { ids [0], NULL, &one, 1, NULL, &replies [0], 99 },
        { ids [3], &as_d, &one, 1, NULL, &replies [1], 99 },
        { ids [0], &as_admin, &two, 1, NULL, &replies [2], 99 },
    };
    assert_int_equal (store_group_begin (ctx->store, 0), STORE_OK);
    store_orders_create (ctx->store, poisoned, 3, NOW_MS);
    assert_int_equal (store_group_commit (ctx->store), STORE_OK);
    assert_int_equal (db_exec (db, "DROP TRIGGER coffee_test_poison"), DB_OK);
    const int statuses [3] = { 503, 200, 503 };
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal (poisoned [i].rc, statuses [i] == 200 ? 0 : -1);
        assert_int_equal (replies [i].status, statuses [i]);
        store_reply_reset (&replies [i]);
    }
    s_snap_t after_a = s_snap (ctx, ids [0]);
    assert_int_equal (after_a.balance, before_a.balance);
    assert_int_equal (after_a.history_sum, before_a.history_sum);
    assert_int_equal (after_a.orders, before_a.orders + 1);
    assert_int_equal (after_a.outbox, before_a.outbox + 1);
    int64_t balance = 0, history = 0;
    assert_int_equal (store_balance (ctx->store, ids [3], &balance, &history), 0);
    assert_int_equal (balance, balance_d - 4200);
    assert_int_equal (history, balance);

    //  A batch of one customer's orders
    store_order_req_t alone [2] = {
        { ids [3], &as_d, &one, 1, NULL, &replies [0], 99 },
        { ids [3], &as_admin, &two, 1, NULL, &replies [1], 99 },
    };
    assert_int_equal (store_group_begin (ctx->store, 0), STORE_OK);
    store_orders_create (ctx->store, alone, 2, NOW_MS);
    assert_int_equal (store_group_commit (ctx->store), STORE_OK);
    for (size_t i = 0; i < 2; i++) {
        assert_int_equal (alone [i].rc, 0);
        assert_int_equal (replies [i].status, 200);
        store_reply_reset (&replies [i]);
    }
    assert_int_equal (s_assert_whole (ctx, ids [3]), balance - 2 * 4200);
}

//  The many-customer world: MANY_CUSTOMERS customers with 10000 points,
//  the even ones also a lot of 3000 expiring soon, so that their first
//  order spends two lots; and one more, whose order carries a key.
#define MANY_CUSTOMERS 12
#define MANY_ORDERS    23           //  USE rows in three INSERTs: 16, 6, 1

static void
s_many_world (ctx_t *ctx, char ids [MANY_CUSTOMERS + 1][COFFEE_ID_MAX])
{
    char near [9];
    s_date (NOW_MS, 3, near);
    for (int i = 0; i <= MANY_CUSTOMERS; i++) {
        s_customer (ctx, ids [i]);
        s_charge (ctx, ids [i], 10000);
        if (i % 2 == 0)
            s_save (ctx, ids [i], 3000, near, NOW_MS);
    }
}

//  More orders placed together than one multi-row statement takes: their
//  USE rows go in several INSERTs, and on MySQL each one's lot-use rows
//  name their USE rows by the ids it handed out (LAST_INSERT_ID()). Same
//  answers, same rows and ids as one by one with the keyed order (given
//  first, but left to store_order_create) last: had the batch failed and
//  every order gone one by one, the ids would differ.
static void
test_orders_batched_many (void **state)
{
    ctx_t *ctx = (ctx_t *) *state;
    char ids [MANY_CUSTOMERS + 1][COFFEE_ID_MAX];
    event_line_t one = s_line ("MENU-00000001", 1);
    store_idem_t key = { "many-key", "POST /order", "{\"m\":1}", NULL };
    //  [0]: the keyed order; [1 + i]: order i of the batch
    store_reply_t expected [MANY_ORDERS + 1], replies [MANY_ORDERS + 1];
    store_order_req_t reqs [MANY_ORDERS + 1];
    memset (expected, 0, sizeof expected);
    memset (replies, 0, sizeof replies);

    s_many_world (ctx, ids);
    key.customer = ids [MANY_CUSTOMERS];
    assert_int_equal (store_group_begin (ctx->store, 0), STORE_OK);
    for (int i = 0; i < MANY_ORDERS; i++) {
        store_order_create (ctx->store, ids [i % MANY_CUSTOMERS], NULL, &one, 1, NULL, NOW_MS,
                            &expected [1 + i]);
        assert_int_equal (expected [1 + i].status, 200);
    }
    store_order_create (ctx->store, ids [MANY_CUSTOMERS], NULL, &one, 1, &key, NOW_MS,
                        &expected [0]);
    assert_int_equal (expected [0].status, 200);
    assert_int_equal (store_group_commit (ctx->store), STORE_OK);
    char *one_by_one = s_dump (ctx);

    s_fresh (ctx);
    s_many_world (ctx, ids);
    reqs [0] = (store_order_req_t) { ids [MANY_CUSTOMERS], NULL, &one, 1, &key, &replies [0],
                                     99 };
    for (int i = 0; i < MANY_ORDERS; i++)
        reqs [1 + i] = (store_order_req_t) { ids [i % MANY_CUSTOMERS], NULL, &one, 1, NULL,
                                             &replies [1 + i], 99 };
    assert_int_equal (store_group_begin (ctx->store, 0), STORE_OK);
    store_orders_create (ctx->store, reqs, MANY_ORDERS + 1, NOW_MS);
    assert_int_equal (store_group_commit (ctx->store), STORE_OK);
    s_assert_as_one_by_one (ctx, reqs, expected, MANY_ORDERS + 1, one_by_one);
    //  Every lot-use row names a USE row of its lot's customer; the even
    //  customers' first orders spent two lots.
    db_t *db = store_db (ctx->store);
    assert_int_equal (s_int (db, "SELECT COUNT(*) FROM point_lot_use u"
                                 " JOIN point_history h ON h.id = u.history_id"
                                 " JOIN point_lot l ON l.id = u.lot_id"
                                 " WHERE h.type_code = 'USE' AND h.customer_id = l.customer_id"),
                      MANY_ORDERS + 1 + MANY_CUSTOMERS / 2 + 1);
    assert_int_equal (s_int (db, "SELECT COUNT(*) FROM point_lot_use"),
                      MANY_ORDERS + 1 + MANY_CUSTOMERS / 2 + 1);
    for (int i = 0; i <= MANY_CUSTOMERS; i++)
        s_assert_whole (ctx, ids [i]);
}

//  The next order number is next (the row order_no_next, which a store
//  that holds no numbers yet takes its first block from).
static void
s_orders_from (ctx_t *ctx, int64_t next)
{
    char sql [128];
    snprintf (sql, sizeof sql, "UPDATE order_no_next SET next_no = %" PRId64 " WHERE id = 1",
              next);
    assert_int_equal (db_exec (store_db (ctx->store), sql), DB_OK);
}

#define BIG_ORDERS 3

//  The big-id world: BIG_ORDERS customers with 10000 points each, and the
//  next order number 99999999.
static void
s_big_world (ctx_t *ctx, char ids [BIG_ORDERS][COFFEE_ID_MAX])
{
    for (int i = 0; i < BIG_ORDERS; i++) {
        s_customer (ctx, ids [i]);
        s_charge (ctx, ids [i], 10000);
    }
    s_orders_from (ctx, 99999999);
}

//  Orders placed together whose numbers pass 99999999 get the numbers
//  store_order_create gives (ORD- and 8 digits, more when the number needs
//  them), in their answers and in every row that names them. Same
//  answers, same rows.
static void
test_orders_batched_big_ids (void **state)
{
    ctx_t *ctx = (ctx_t *) *state;
    char ids [BIG_ORDERS][COFFEE_ID_MAX];
    event_line_t line = s_line ("MENU-00000003", 2);
    store_reply_t expected [BIG_ORDERS], replies [BIG_ORDERS];
    store_order_req_t reqs [BIG_ORDERS];
    memset (expected, 0, sizeof expected);
    memset (replies, 0, sizeof replies);

    s_big_world (ctx, ids);
    assert_int_equal (store_group_begin (ctx->store, 0), STORE_OK);
    for (int i = 0; i < BIG_ORDERS; i++) {
        store_order_create (ctx->store, ids [i], NULL, &line, 1, NULL, NOW_MS, &expected [i]);
        assert_int_equal (expected [i].status, 200);
    }
    assert_int_equal (store_group_commit (ctx->store), STORE_OK);
    assert_non_null (strstr (expected [0].body, "\"ORD-99999999\""));
    assert_non_null (strstr (expected [1].body, "\"ORD-100000000\""));
    assert_non_null (strstr (expected [2].body, "\"ORD-100000001\""));
    char *one_by_one = s_dump (ctx);

    s_fresh (ctx);
    s_big_world (ctx, ids);
    for (int i = 0; i < BIG_ORDERS; i++)
        reqs [i] = (store_order_req_t) { ids [i], NULL, &line, 1, NULL, &replies [i], 99 };
    assert_int_equal (store_group_begin (ctx->store, 0), STORE_OK);
    store_orders_create (ctx->store, reqs, BIG_ORDERS, NOW_MS);
    assert_int_equal (store_group_commit (ctx->store), STORE_OK);
    s_assert_as_one_by_one (ctx, reqs, expected, BIG_ORDERS, one_by_one);
}

//  Places one order of a MENU-00000001 for id on store (in a transaction
//  of its own unless a group is open); its answer into reply.
static void
s_order_one (store_t *store, const char *id, store_reply_t *reply)
{
    event_line_t line = s_line ("MENU-00000001", 1);
    memset (reply, 0, sizeof *reply);
    store_order_create (store, id, NULL, &line, 1, NULL, NOW_MS, reply);
}

//  s_order_one, answered 200 with order_no.
static void
s_order_numbered (store_t *store, const char *id, const char *order_no)
{
    store_reply_t reply;
    char quoted [COFFEE_ID_MAX + 2];
    snprintf (quoted, sizeof quoted, "\"%s\"", order_no);
    s_order_one (store, id, &reply);
    assert_int_equal (reply.status, 200);
    if (!strstr (reply.body, quoted))
        fail_msg ("wanted %s, answered %s", order_no, reply.body);
    store_reply_reset (&reply);
}

//  s_order_one, answered 503 (s_poison_outbox's trigger refused its outbox
//  row, so the order was undone).
static void
s_order_refused (store_t *store, const char *id)
{
    store_reply_t reply;
    s_order_one (store, id, &reply);
    assert_int_equal (reply.status, 503);
    store_reply_reset (&reply);
}

//  Order numbers come from the store in blocks (store/numbers.c). A block
//  taken in a transaction that rolled back is never used: another
//  connection gets the same numbers next, and the first takes a block
//  after that one, so no number goes out twice, and each connection's
//  numbers rise.
static void
test_order_numbers_blocks (void **state)
{
    ctx_t *ctx = (ctx_t *) *state;
    char a [COFFEE_ID_MAX], b [COFFEE_ID_MAX];
    s_customer (ctx, a);
    s_charge (ctx, a, 100000);
    s_customer (ctx, b);
    s_charge (ctx, b, 100000);
    char err [256] = "";
    store_t *other = store_open (ctx->store_url, err, sizeof err);
    if (!other)
        fail_msg ("second store: %s", err);

    //  The first store takes a block (16 numbers) in a group that rolls back
    assert_int_equal (store_group_begin (ctx->store, 0), STORE_OK);
    s_order_numbered (ctx->store, a, "ORD-00000001");
    store_group_rollback (ctx->store);
    //  so the other store's block begins at 1 again, and the first store's
    //  next one after the other's
    s_order_numbered (other, b, "ORD-00000001");
    s_order_numbered (ctx->store, a, "ORD-00000017");
    s_order_numbered (other, b, "ORD-00000002");
    s_order_numbered (ctx->store, a, "ORD-00000018");

    //  An order undone back to its savepoint (a trigger refuses its outbox
    //  row) undoes the block it took with it: a fresh store takes that
    //  block next, and the first store another one after it
    store_destroy (&other);
    other = store_open (ctx->store_url, err, sizeof err);
    assert_non_null (other);
    s_poison_outbox (ctx, b);
    assert_int_equal (store_group_begin (other, 0), STORE_OK);
    s_order_refused (other, b);
    assert_int_equal (store_group_commit (other), STORE_OK);
    assert_int_equal (db_exec (store_db (ctx->store), "DROP TRIGGER coffee_test_poison"), DB_OK);
    store_t *third = store_open (ctx->store_url, err, sizeof err);
    assert_non_null (third);
    s_order_numbered (third, b, "ORD-00000049");
    s_order_numbered (other, b, "ORD-00000065");
    s_order_numbered (third, b, "ORD-00000050");
    s_order_numbered (ctx->store, a, "ORD-00000019");
    store_destroy (&third);
    store_destroy (&other);
    assert_int_equal (s_int (store_db (ctx->store), "SELECT COUNT(*) FROM orders"), 8);
    assert_int_equal (s_int (store_db (ctx->store),
                             "SELECT COUNT(DISTINCT order_no) FROM orders"), 8);
}

//  A store that wants numbers (an order actor's) takes a block as each
//  transaction begins while it holds fewer than a group places, so a block
//  often stands (its transaction committed) while the one before still has
//  numbers. An undo after that commit does not drop it: once the block
//  before is used up, the numbers go on with it.
static void
test_order_numbers_block_kept (void **state)
{
    ctx_t *ctx = (ctx_t *) *state;
    char a [COFFEE_ID_MAX], b [COFFEE_ID_MAX];
    s_customer (ctx, a);
    s_charge (ctx, a, 300000);
    s_customer (ctx, b);
    s_charge (ctx, b, 100000);
    store_numbers_want (ctx->store);
    //  The first transaction takes 1..64, the second 65..128 while 2..64
    //  are left, and commits
    s_order_numbered (ctx->store, a, "ORD-00000001");
    s_order_numbered (ctx->store, a, "ORD-00000002");
    //  An order undone (a trigger refuses its outbox row), with number 3
    s_poison_outbox (ctx, b);
    s_order_refused (ctx->store, b);
    assert_int_equal (db_exec (store_db (ctx->store), "DROP TRIGGER coffee_test_poison"), DB_OK);
    for (int number = 4; number <= 65; number++) {
        char order_no [COFFEE_ID_MAX];
        snprintf (order_no, sizeof order_no, "ORD-%08d", number);
        s_order_numbered (ctx->store, a, order_no);
    }
    assert_int_equal (s_int (store_db (ctx->store), "SELECT COUNT(*) FROM orders"), 64);
}

//  Before schema v6 an order's number was its id. A store that migrates
//  from v5 with orders in it numbers the next order after the largest id.
static void
test_order_numbers_after_v5 (void **state)
{
    ctx_t *ctx = (ctx_t *) *state;
    char a [COFFEE_ID_MAX];
    s_customer (ctx, a);
    s_charge (ctx, a, 100000);
    s_order_numbered (ctx->store, a, "ORD-00000001");
    s_order_numbered (ctx->store, a, "ORD-00000002");
    db_t *db = store_db (ctx->store);
    //  What v5 left: ids that run ahead of the numbers, no order_no_next
    assert_int_equal (db_exec (db, "UPDATE orders SET id = id + 40"), DB_OK);
    assert_int_equal (db_exec (db, "DROP TABLE order_no_next"), DB_OK);
    assert_int_equal (db_exec (db, "UPDATE schema_version SET version = 5"
                                   " WHERE component = 'store'"), DB_OK);
    store_destroy (&ctx->store);
    char err [256] = "";
    ctx->store = store_open (ctx->store_url, err, sizeof err);
    if (!ctx->store)
        fail_msg ("reopen at v5: %s", err);
    assert_int_equal (s_int (store_db (ctx->store),
                             "SELECT version FROM schema_version WHERE component = 'store'"),
                      STORE_SCHEMA);
    s_order_numbered (ctx->store, a, "ORD-00000043");
}

//  A batch whose outbox INSERT fails (a trigger refuses E's rows). On
//  SQLite that INSERT runs at once: the batch is undone and its orders go
//  one by one, E's answering 503 and D's committing. On MySQL it waits for
//  the group's COMMIT, which then does not run: the group fails and
//  nothing of it stays. Either way no answer stands for work undone.
static void
test_orders_batched_tail (void **state)
{
    ctx_t *ctx = (ctx_t *) *state;
    char ids [BATCH_CUSTOMERS][COFFEE_ID_MAX];
    char hash_d [TOKEN_HASH_MAX], hash_g [TOKEN_HASH_MAX];
    s_batch_world (ctx, ids, hash_d, hash_g);
    store_auth_t as_d = { STORE_AUTH_TOKEN, hash_d };
    event_line_t one = s_line ("MENU-00000001", 1);
    store_reply_t replies [3];
    memset (replies, 0, sizeof replies);
    store_order_req_t reqs [3] = {
        { ids [3], &as_d, &one, 1, NULL, &replies [0], 99 },
        { ids [4], NULL, &one, 1, NULL, &replies [1], 99 },
        { ids [3], &as_d, &one, 1, NULL, &replies [2], 99 },
    };
    s_poison_outbox (ctx, ids [4]);
    s_snap_t before_d = s_snap (ctx, ids [3]);
    s_snap_t before_e = s_snap (ctx, ids [4]);
    assert_int_equal (store_group_begin (ctx->store, 0), STORE_OK);
    store_orders_create (ctx->store, reqs, 3, NOW_MS);
    int committed = store_group_commit (ctx->store);
    assert_int_equal (db_exec (store_db (ctx->store), "DROP TRIGGER coffee_test_poison"), DB_OK);
    s_snap_t after_d = s_snap (ctx, ids [3]);
    s_snap_t after_e = s_snap (ctx, ids [4]);
    if (ctx->mysql) {
        assert_int_equal (committed, STORE_FAILED);
        s_assert_same (&after_d, &before_d);
        s_assert_same (&after_e, &before_e);
    }
    else {
        assert_int_equal (committed, STORE_OK);
        const int statuses [3] = { 200, 503, 200 };
        for (size_t i = 0; i < 3; i++) {
            assert_int_equal (replies [i].status, statuses [i]);
            assert_int_equal (reqs [i].rc, statuses [i] == 200 ? 0 : -1);
        }
        assert_int_equal (after_d.balance, before_d.balance - 2 * 4200);
        assert_int_equal (after_e.balance, before_e.balance);
        assert_int_equal (after_e.orders, before_e.orders + 2);
        assert_int_equal (after_e.outbox, before_e.outbox + 2);
    }
    for (size_t i = 0; i < 3; i++)
        store_reply_reset (&replies [i]);
    assert_int_equal (s_assert_whole (ctx, ids [3]), after_d.balance);
    assert_int_equal (s_assert_whole (ctx, ids [4]), after_e.balance);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test_setup_teardown (test_seed_and_reopen, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_concurrent_open, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_migration_rerun, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_customer_create, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_charge, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_point_get, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_order_create_and_get, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_order_merges_duplicates, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_order_errors_change_nothing, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_idempotency, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_idempotency_race, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_auth_tokens, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_idempotency_scoped, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_history_pages, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_lots_spend_order, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_lots_expire, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_lots_policy_and_grant, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_lots_race, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_outbox, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_reconcile_counts_and_events, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_display_apply_idempotent, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_display_window_edges, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_display_best_random, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_display_batch_rows, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_display_repair, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_concurrent_orders, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_group_commit, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_group_member_undone, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_orders_batched, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_orders_batched_tail, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_orders_batched_many, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_orders_batched_big_ids, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_order_numbers_blocks, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_order_numbers_block_kept, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_order_numbers_after_v5, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_deadline_lock_wait, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_menu_admin, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_menu_apply_versioned, s_setup, s_teardown),
        cmocka_unit_test (test_event_envelope),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
