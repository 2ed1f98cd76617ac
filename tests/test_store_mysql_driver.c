/*  test_store_mysql_driver — the MySQL backend of db.h against a live
    MariaDB: URL parsing and credentials, column types and NULLs, long text,
    duplicates and row counts, transactions, deferred statements (also on
    SQLite), lock waits, and outages (the
    server restarted or killed under an open connection).

    Needs COFFEE_TEST_STORE_URL=mysql://… (scripts/mariadb.sh env prints it);
    without it the server tests skip. The outage test starts a private
    mariadbd of its own with scripts/mariadb.sh, so restarting it never
    disturbs other tests sharing the main server.

    ctest bound: COFFEE_TEST_TIMEOUT 300 s. */
#include "testkit.h"
#include <cmocka.h>

#include "db.h"
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <pthread.h>
#include <unistd.h>

//  The shared test server's URL, or NULL.
static const char *
s_url (void)
{
    const char *url = getenv ("COFFEE_TEST_STORE_URL");
    return url && *url? url: NULL;
}

#define NEED_MYSQL() do { \
    if (!s_url ()) { \
        print_message ("COFFEE_TEST_STORE_URL is not set: skipping (run scripts/mariadb.sh start/env)\n"); \
        skip (); \
    } \
} while (0)

//  Parts of a mysql:// URL the tests rebuild other URLs from.
typedef struct {
    char user [64];             //  user name
    char pass [128];            //  password
    char host [64];             //  host
    int port;                   //  port
    char db [64];               //  database
} s_parts_t;

//  Splits a test URL (plain, without escapes) into its parts.
static void
s_split (const char *url, s_parts_t *p)
{
    memset (p, 0, sizeof *p);
    int n = sscanf (url, "mysql://%63[^:]:%127[^@]@%63[^:]:%d/%63s",
                    p->user, p->pass, p->host, &p->port, p->db);
    assert_int_equal (n, 5);
}

//  Opens the shared test database or fails the test.
static db_t *
s_open (void)
{
    char err [512];
    db_t *db = db_open (s_url (), err, sizeof err);
    if (!db)
        fail_msg ("db_open: %s", err);
    assert_int_equal (db_dialect (db), DB_MYSQL);
    return db;
}

//  Runs a statement that returns one integer.
static int64_t
s_scalar (db_t *db, const char *sql)
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

//  Malformed URLs are refused with a clear message that never shows the password.
static void
test_url_errors (void **state)
{
    const char *bad [] = {
        "mysql://u:secretpw@host",                  //  no /DB
        "mysql://u:secretpw@/db",                   //  no host
        "mysql://u:secretpw@host:/db",              //  empty port
        "mysql://u:secretpw@host:99999/db",         //  port out of range
        "mysql://u:secretpw@host:12ab/db",          //  port not a number
        "mysql://u:secret%zzpw@host:3306/db",       //  bad escape
        "mysql://u:secret%00pw@host:3306/db",       //  NUL escape
        "mysql://u:secretpw@host:3306/",            //  empty database
        "mysql://u:secretpw@host:3306/db?ssl=1",    //  parameters
        "mysql://u:secretpw@host:3306/d/b",         //  path
        "mysql://u:secretpw@[::1:3306/db",          //  unclosed [
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad [0]; i++) {
        char err [512] = "";
        db_t *db = db_open (bad [i], err, sizeof err);
        if (db) {
            db_destroy (&db);
            fail_msg ("accepted %s", bad [i]);
        }
        assert_true (strlen (err) > 0);
        if (strstr (err, "secret"))
            fail_msg ("password in error for %s: %s", bad [i], err);
        print_message ("refused: %s\n", err);
    }
    //  No user anywhere.
    unsetenv ("COFFEE_MYSQL_USER");
    char err [512] = "";
    assert_null (db_open ("mysql://127.0.0.1:1/db", err, sizeof err));
    assert_non_null (strstr (err, "COFFEE_MYSQL_USER"));
}

//  A server that is not there: open fails at once with a clear message.
static void
test_open_refused (void **state)
{
    char err [512] = "";
    int port = tk_free_port ();
    char url [128];
    snprintf (url, sizeof url, "mysql://u:secretpw@127.0.0.1:%d/db", port);
    int64_t t0 = tk_now_ms ();
    assert_null (db_open (url, err, sizeof err));
    assert_true (tk_now_ms () - t0 < 7000);
    assert_non_null (strstr (err, "127.0.0.1"));
    assert_null (strstr (err, "secretpw"));
    print_message ("refused: %s\n", err);
}

//  Wrong password: refused, and the password is not in the message.
static void
test_wrong_password (void **state)
{
    NEED_MYSQL ();
    s_parts_t p;
    s_split (s_url (), &p);
    char url [512], err [512] = "";
    snprintf (url, sizeof url, "mysql://%s:WrongSecret99@%s:%d/%s", p.user, p.host, p.port, p.db);
    assert_null (db_open (url, err, sizeof err));
    assert_null (strstr (err, "WrongSecret99"));
    assert_null (strstr (err, p.pass));
    print_message ("refused: %s\n", err);
}

//  User and password from the environment; a %-escaped password in the URL.
static void
test_credentials (void **state)
{
    NEED_MYSQL ();
    s_parts_t p;
    s_split (s_url (), &p);
    char url [1024], err [512] = "";

    //  Both from the environment.
    setenv ("COFFEE_MYSQL_USER", p.user, 1);
    setenv ("COFFEE_MYSQL_PASSWORD", p.pass, 1);
    snprintf (url, sizeof url, "mysql://%s:%d/%s", p.host, p.port, p.db);
    db_t *db = db_open (url, err, sizeof err);
    if (!db)
        fail_msg ("env credentials: %s", err);
    assert_int_equal (db_ping (db), DB_OK);
    db_destroy (&db);
    assert_null (db);

    //  User in the URL, password from the environment.
    snprintf (url, sizeof url, "mysql://%s@%s:%d/%s", p.user, p.host, p.port, p.db);
    db = db_open (url, err, sizeof err);
    if (!db)
        fail_msg ("env password: %s", err);
    db_destroy (&db);
    unsetenv ("COFFEE_MYSQL_USER");
    unsetenv ("COFFEE_MYSQL_PASSWORD");

    //  Every character of user and password %-escaped.
    char user [200] = "", pass [400] = "";
    for (const char *c = p.user; *c; c++)
        snprintf (user + strlen (user), sizeof user - strlen (user), "%%%02X", (unsigned char) *c);
    for (const char *c = p.pass; *c; c++)
        snprintf (pass + strlen (pass), sizeof pass - strlen (pass), "%%%02x", (unsigned char) *c);
    snprintf (url, sizeof url, "mysql://%s:%s@%s:%d/%s", user, pass, p.host, p.port, p.db);
    db = db_open (url, err, sizeof err);
    if (!db)
        fail_msg ("escaped credentials: %s", err);
    db_destroy (&db);
    db_destroy (&db);               //  safe twice
}

//  Integers (extremes), text (utf8mb4), NULLs, decimals from SUM and COUNT,
//  auto-increment ids, and numbers read as text.
static void
test_types (void **state)
{
    NEED_MYSQL ();
    db_t *db = s_open ();
    assert_int_equal (db_exec (db, "DROP TABLE IF EXISTS drv_types"), DB_OK);
    assert_int_equal (db_exec (db,
        "CREATE TABLE drv_types (id BIGINT AUTO_INCREMENT PRIMARY KEY, "
        "n BIGINT NULL, s VARCHAR(255) NULL, d DECIMAL(20,2) NULL, "
        "u BIGINT UNSIGNED NULL, t DATETIME(3) NULL) ENGINE=InnoDB"), DB_OK);

    const char *ins = "INSERT INTO drv_types (n, s) VALUES (?, ?)";
    const char *texts [] = { "아이스 아메리카노 ☕ 🍰", "", NULL, "plain" };
    int64_t nums [] = { INT64_MAX, INT64_MIN, 0, -42 };
    int64_t ids [4];
    for (int i = 0; i < 4; i++) {
        db_stmt_t *st = db_stmt (db, ins);
        assert_non_null (st);
        assert_ptr_equal (st, db_stmt (db, ins));        //  cached
        if (i == 2)
            assert_int_equal (db_bind_text (st, 1, NULL), DB_OK);   //  NULL number
        else
            assert_int_equal (db_bind_int64 (st, 1, nums [i]), DB_OK);
        assert_int_equal (db_bind_text (st, 2, texts [i]), DB_OK);
        assert_int_equal (db_step (st), DB_DONE);
        assert_int_equal (db_changes (db), 1);
        ids [i] = db_last_insert_id (db);
        assert_true (ids [i] > 0);
        if (i > 0)
            assert_true (ids [i] > ids [i - 1]);
        db_reset (st);
    }
    //  A bind index out of range is refused.
    db_stmt_t *st = db_stmt (db, ins);
    assert_int_equal (db_bind_int64 (st, 0, 1), DB_ERROR);
    assert_int_equal (db_bind_int64 (st, 3, 1), DB_ERROR);
    db_reset (st);

    st = db_stmt (db, "SELECT id, n, s FROM drv_types WHERE id >= ? ORDER BY id");
    assert_non_null (st);
    assert_int_equal (db_bind_int64 (st, 1, ids [0]), DB_OK);
    for (int i = 0; i < 4; i++) {
        assert_int_equal (db_step (st), DB_ROW);
        assert_int_equal (db_column_int64 (st, 0), ids [i]);
        if (i == 2) {
            assert_true (db_column_is_null (st, 1));
            assert_null (db_column_text (st, 1));
            assert_int_equal (db_column_int64 (st, 1), 0);
        }
        else {
            assert_false (db_column_is_null (st, 1));
            assert_true (db_column_int64 (st, 1) == nums [i]);
            char num [32];
            snprintf (num, sizeof num, "%" PRId64, nums [i]);
            assert_string_equal (db_column_text (st, 1), num);
        }
        if (texts [i]) {
            assert_false (db_column_is_null (st, 2));
            assert_string_equal (db_column_text (st, 2), texts [i]);
        }
        else {
            assert_true (db_column_is_null (st, 2));
            assert_null (db_column_text (st, 2));
        }
        //  Out of range columns read as NULL.
        assert_true (db_column_is_null (st, 3));
        assert_null (db_column_text (st, -1));
    }
    assert_int_equal (db_step (st), DB_DONE);
    assert_int_equal (db_step (st), DB_DONE);
    db_reset (st);

    //  COUNT is an integer, SUM of BIGINT a DECIMAL, CAST/decimal columns text.
    assert_int_equal (s_scalar (db, "SELECT COUNT(*) FROM drv_types"), 4);
    assert_int_equal (s_scalar (db, "SELECT SUM(n) FROM drv_types WHERE n < 0 AND n > -100"), -42);
    st = db_stmt (db, "SELECT SUM(n) FROM drv_types WHERE n > ? OR n = -42");
    assert_int_equal (db_bind_int64 (st, 1, 1000), DB_OK);
    assert_int_equal (db_step (st), DB_ROW);
    assert_true (db_column_int64 (st, 0) == INT64_MAX - 42);
    db_reset (st);
    st = db_stmt (db, "SELECT SUM(n) FROM drv_types WHERE id < 0");
    assert_int_equal (db_step (st), DB_ROW);
    assert_true (db_column_is_null (st, 0));        //  SUM of nothing
    db_reset (st);

    st = db_stmt (db, "UPDATE drv_types SET d = ?, u = ?, t = '2026-11-25 03:26:40.123' WHERE id = ?");
    assert_int_equal (db_bind_text (st, 1, "1234.50"), DB_OK);
    assert_int_equal (db_bind_int64 (st, 2, 7), DB_OK);
    assert_int_equal (db_bind_int64 (st, 3, ids [3]), DB_OK);
    assert_int_equal (db_step (st), DB_DONE);
    assert_int_equal (db_changes (db), 1);
    db_reset (st);
    st = db_stmt (db, "SELECT d, u, t FROM drv_types WHERE id = ?");
    assert_int_equal (db_bind_int64 (st, 1, ids [3]), DB_OK);
    assert_int_equal (db_step (st), DB_ROW);
    assert_string_equal (db_column_text (st, 0), "1234.50");
    assert_int_equal (db_column_int64 (st, 0), 1234);
    assert_int_equal (db_column_int64 (st, 1), 7);
    assert_string_equal (db_column_text (st, 1), "7");
    assert_string_equal (db_column_text (st, 2), "2026-11-25 03:26:40.123");
    db_reset (st);

    //  An unbound parameter is NULL; reset clears earlier bindings.
    st = db_stmt (db, "SELECT ? IS NULL, ?");
    assert_int_equal (db_bind_int64 (st, 1, 5), DB_OK);
    assert_int_equal (db_bind_text (st, 2, "x"), DB_OK);
    assert_int_equal (db_step (st), DB_ROW);
    assert_int_equal (db_column_int64 (st, 0), 0);
    db_reset (st);
    assert_int_equal (db_step (st), DB_ROW);
    assert_int_equal (db_column_int64 (st, 0), 1);
    assert_true (db_column_is_null (st, 1));
    db_reset (st);

    //  Bad SQL: no statement, and a message.
    assert_null (db_stmt (db, "SELEKT nothing"));
    assert_true (strlen (db_errmsg (db)) > 0);
    assert_int_equal (db_exec (db, "CREATE TABLE drv_types (x INT)"), DB_ERROR);

    assert_int_equal (db_exec (db, "DROP TABLE drv_types"), DB_OK);
    db_destroy (&db);
}

//  Text longer than any first buffer: 200 KiB, between short rows, so the
//  buffer grows and later rows still read right.
static void
test_long_text (void **state)
{
    NEED_MYSQL ();
    db_t *db = s_open ();
    assert_int_equal (db_exec (db, "DROP TABLE IF EXISTS drv_long"), DB_OK);
    assert_int_equal (db_exec (db,
        "CREATE TABLE drv_long (id INT PRIMARY KEY, body MEDIUMTEXT NOT NULL)"), DB_OK);
    size_t sizes [] = { 10, 200 * 1024, 20, 300, 70 * 1024 };
    size_t count = sizeof sizes / sizeof sizes [0];
    char *bodies [5];
    for (size_t i = 0; i < count; i++) {
        bodies [i] = (char *) malloc (sizes [i] + 1);
        assert_non_null (bodies [i]);
        for (size_t j = 0; j < sizes [i]; j++)
            bodies [i][j] = (char) ('a' + (j * 7 + i) % 26);
        bodies [i][sizes [i]] = 0;
        db_stmt_t *st = db_stmt (db, "INSERT INTO drv_long (id, body) VALUES (?, ?)");
        assert_int_equal (db_bind_int64 (st, 1, (int64_t) i), DB_OK);
        assert_int_equal (db_bind_text (st, 2, bodies [i]), DB_OK);
        assert_int_equal (db_step (st), DB_DONE);
        db_reset (st);
    }
    for (int round = 0; round < 2; round++) {
        db_stmt_t *st = db_stmt (db, "SELECT id, body, LENGTH(body) FROM drv_long ORDER BY id");
        for (size_t i = 0; i < count; i++) {
            assert_int_equal (db_step (st), DB_ROW);
            assert_int_equal (db_column_int64 (st, 0), (int64_t) i);
            assert_int_equal (db_column_int64 (st, 2), (int64_t) sizes [i]);
            const char *body = db_column_text (st, 1);
            assert_non_null (body);
            assert_int_equal (strlen (body), sizes [i]);
            assert_memory_equal (body, bodies [i], sizes [i]);
        }
        assert_int_equal (db_step (st), DB_DONE);
        db_reset (st);
    }
    for (size_t i = 0; i < count; i++)
        free (bodies [i]);
    assert_int_equal (db_exec (db, "DROP TABLE drv_long"), DB_OK);
    db_destroy (&db);
}

//  Duplicate keys, INSERT IGNORE, and matched-row counts (as SQLite counts).
static void
test_duplicates (void **state)
{
    NEED_MYSQL ();
    db_t *db = s_open ();
    assert_int_equal (db_exec (db, "DROP TABLE IF EXISTS drv_dup"), DB_OK);
    assert_int_equal (db_exec (db,
        "CREATE TABLE drv_dup (k VARCHAR(32) PRIMARY KEY, v BIGINT NOT NULL)"), DB_OK);
    const char *ins = "INSERT INTO drv_dup (k, v) VALUES (?, ?)";
    db_stmt_t *st = db_stmt (db, ins);
    assert_int_equal (db_bind_text (st, 1, "ORD-1"), DB_OK);
    assert_int_equal (db_bind_int64 (st, 2, 1), DB_OK);
    assert_int_equal (db_step (st), DB_DONE);
    db_reset (st);
    assert_int_equal (db_bind_text (st, 1, "ORD-1"), DB_OK);
    assert_int_equal (db_bind_int64 (st, 2, 2), DB_OK);
    assert_int_equal (db_step (st), DB_DUPLICATE);
    assert_non_null (strstr (db_errmsg (db), "1062"));
    db_reset (st);

    st = db_stmt (db, "INSERT IGNORE INTO drv_dup (k, v) VALUES (?, ?)");
    assert_int_equal (db_bind_text (st, 1, "ORD-1"), DB_OK);
    assert_int_equal (db_bind_int64 (st, 2, 3), DB_OK);
    assert_int_equal (db_step (st), DB_DONE);
    assert_int_equal (db_changes (db), 0);
    db_reset (st);
    assert_int_equal (db_bind_text (st, 1, "ORD-2"), DB_OK);
    assert_int_equal (db_bind_int64 (st, 2, 3), DB_OK);
    assert_int_equal (db_step (st), DB_DONE);
    assert_int_equal (db_changes (db), 1);
    db_reset (st);

    //  An UPDATE that matches a row but changes nothing still counts it.
    st = db_stmt (db, "UPDATE drv_dup SET v = ? WHERE k = ?");
    assert_int_equal (db_bind_int64 (st, 1, 1), DB_OK);
    assert_int_equal (db_bind_text (st, 2, "ORD-1"), DB_OK);
    assert_int_equal (db_step (st), DB_DONE);
    assert_int_equal (db_changes (db), 1);
    db_reset (st);
    assert_int_equal (db_bind_int64 (st, 1, 1), DB_OK);
    assert_int_equal (db_bind_text (st, 2, "ORD-9"), DB_OK);
    assert_int_equal (db_step (st), DB_DONE);
    assert_int_equal (db_changes (db), 0);
    db_reset (st);

    //  Conditional update, the way points are taken.
    st = db_stmt (db, "UPDATE drv_dup SET v = v - ? WHERE k = ? AND v >= ?");
    assert_int_equal (db_bind_int64 (st, 1, 5), DB_OK);
    assert_int_equal (db_bind_text (st, 2, "ORD-2"), DB_OK);
    assert_int_equal (db_bind_int64 (st, 3, 5), DB_OK);
    assert_int_equal (db_step (st), DB_DONE);
    assert_int_equal (db_changes (db), 0);
    db_reset (st);

    //  Another statement runs while a SELECT is half read.
    db_stmt_t *sel = db_stmt (db, "SELECT k, v FROM drv_dup ORDER BY k");
    assert_int_equal (db_step (sel), DB_ROW);
    assert_string_equal (db_column_text (sel, 0), "ORD-1");
    assert_int_equal (s_scalar (db, "SELECT COUNT(*) FROM drv_dup"), 2);
    assert_int_equal (db_step (sel), DB_ROW);
    assert_string_equal (db_column_text (sel, 0), "ORD-2");
    assert_int_equal (db_step (sel), DB_DONE);
    db_reset (sel);

    assert_int_equal (db_exec (db, "DROP TABLE drv_dup"), DB_OK);
    db_destroy (&db);
}

//  Deferred statements (db_defer) on db, either backend: outcomes and ids,
//  rows of a deferred SELECT, values that need escaping, a failure that
//  stops the rest, COMMIT and rollback with statements still waiting.
static void
s_deferred_checks (db_t *db, db_t *other)
{
    bool mysql = db_dialect (db) == DB_MYSQL;
    assert_int_equal (db_exec (db, "DROP TABLE IF EXISTS drv_defer"), DB_OK);
    assert_int_equal (db_exec (db, mysql
        ? "CREATE TABLE drv_defer (id BIGINT AUTO_INCREMENT PRIMARY KEY,"
          " k VARCHAR(64) NOT NULL UNIQUE, v BIGINT NULL) ENGINE=InnoDB"
        : "CREATE TABLE drv_defer (id INTEGER PRIMARY KEY AUTOINCREMENT,"
          " k TEXT NOT NULL UNIQUE, v INTEGER NULL)"), DB_OK);
    const char *ins2 = "INSERT INTO drv_defer (k, v) VALUES (?, ?), (?, ?)";
    const char *upd = "UPDATE drv_defer SET v = v + ? WHERE k = ? AND v IS NOT NULL";
    const char *sel = "SELECT k, v FROM drv_defer WHERE k = ? OR k = ? ORDER BY id";
    //  Texts a literal must carry byte for byte: quotes, backslashes, a
    //  statement of its own, a question mark, Korean
    const char *odd [] = { "it's", "back\\slash\\", "x'); DROP TABLE drv_defer; --",
                           "why?", "주문 ORD-1" };
    size_t odd_count = sizeof odd / sizeof odd [0];

    //  Two writes and a read, run together; outcomes as each reported
    assert_int_equal (db_begin (db), DB_OK);
    db_stmt_t *st = db_stmt (db, ins2);
    assert_int_equal (db_bind_text (st, 1, "a"), DB_OK);
    assert_int_equal (db_bind_int64 (st, 2, 10), DB_OK);
    assert_int_equal (db_bind_text (st, 3, "b"), DB_OK);
    assert_int_equal (db_bind_text (st, 4, NULL), DB_OK);
    int first = db_defer (st);
    assert_true (first >= 0);
    db_reset (st);
    st = db_stmt (db, upd);
    assert_int_equal (db_bind_int64 (st, 1, 5), DB_OK);
    assert_int_equal (db_bind_text (st, 2, "a"), DB_OK);
    int second = db_defer (st);
    assert_int_equal (second, first + 1);
    db_reset (st);
    db_stmt_t *read = db_stmt (db, sel);
    assert_int_equal (db_bind_text (read, 1, "a"), DB_OK);
    assert_int_equal (db_bind_text (read, 2, "b"), DB_OK);
    assert_true (db_defer (read) >= 0);
    assert_int_equal (db_flush (db), DB_OK);
    assert_int_equal (db_deferred_changes (db, first), 2);
    int64_t id = db_deferred_id (db, first);
    assert_true (id > 0);                       //  MySQL: the first row's; SQLite: the last's
    assert_int_equal (db_deferred_changes (db, second), 1);
    assert_int_equal (db_step (read), DB_ROW);
    assert_string_equal (db_column_text (read, 0), "a");
    assert_int_equal (db_column_int64 (read, 1), 15);
    assert_int_equal (db_step (read), DB_ROW);
    assert_string_equal (db_column_text (read, 0), "b");
    assert_true (db_column_is_null (read, 1));
    assert_int_equal (db_step (read), DB_DONE);
    db_reset (read);
    assert_int_equal (db_commit (db), DB_OK);
    assert_int_equal (s_scalar (other, "SELECT COUNT(*) FROM drv_defer"), 2);

    //  Values written in as literals come back as they were bound; a
    //  statement not deferred runs after them, in the same round trip
    st = db_stmt (db, "INSERT INTO drv_defer (k, v) VALUES (?, ?)");
    for (size_t i = 0; i < odd_count; i++) {
        assert_int_equal (db_bind_text (st, 1, odd [i]), DB_OK);
        assert_int_equal (db_bind_int64 (st, 2, INT64_MIN + (int64_t) i), DB_OK);
        assert_true (db_defer (st) >= 0);
        db_reset (st);
    }
    assert_int_equal (s_scalar (db, "SELECT COUNT(*) FROM drv_defer"), 2 + (int64_t) odd_count);
    db_stmt_t *get = db_stmt (db, "SELECT v FROM drv_defer WHERE k = ?");
    for (size_t i = 0; i < odd_count; i++) {
        assert_int_equal (db_bind_text (get, 1, odd [i]), DB_OK);
        assert_int_equal (db_step (get), DB_ROW);
        assert_int_equal (db_column_int64 (get, 0), INT64_MIN + (int64_t) i);
        db_reset (get);
    }

    //  A failure stops the rest: the duplicate fails, the update after it
    //  never runs, the insert before it did
    assert_int_equal (db_begin (db), DB_OK);
    st = db_stmt (db, "INSERT INTO drv_defer (k, v) VALUES (?, ?)");
    assert_int_equal (db_bind_text (st, 1, "c"), DB_OK);
    assert_int_equal (db_bind_int64 (st, 2, 1), DB_OK);
    assert_true (db_defer (st) >= 0);
    db_reset (st);
    assert_int_equal (db_bind_text (st, 1, "a"), DB_OK);
    assert_int_equal (db_bind_int64 (st, 2, 1), DB_OK);
    int dup = db_defer (st);
    db_reset (st);
    if (mysql) {
        assert_true (dup >= 0);
        st = db_stmt (db, upd);
        assert_int_equal (db_bind_int64 (st, 1, 100), DB_OK);
        assert_int_equal (db_bind_text (st, 2, "a"), DB_OK);
        assert_true (db_defer (st) >= 0);
        db_reset (st);
        //  A read after the failure: its rows never come, and stepping
        //  it fails rather than running it alone
        assert_int_equal (db_bind_text (read, 1, "a"), DB_OK);
        assert_int_equal (db_bind_text (read, 2, "a"), DB_OK);
        assert_true (db_defer (read) >= 0);
        assert_int_equal (db_flush (db), DB_DUPLICATE);
        assert_int_equal (db_last_failure (db), DB_DUPLICATE);
        assert_true (db_step (read) < 0);
        db_reset (read);
    }
    else {
        assert_int_equal (dup, DB_DUPLICATE);   //  SQLite ran it at once
        assert_int_equal (db_last_failure (db), DB_DUPLICATE);
    }
    assert_int_equal (s_scalar (db, "SELECT v FROM drv_defer WHERE k = 'a'"), 15);
    assert_int_equal (s_scalar (db, "SELECT COUNT(*) FROM drv_defer WHERE k = 'c'"), 1);

    //  A COMMIT after a failing deferred write does not run: nothing stays
    st = db_stmt (db, "INSERT INTO drv_defer (k, v) VALUES (?, ?)");
    if (mysql) {
        assert_int_equal (db_bind_text (st, 1, "a"), DB_OK);
        assert_int_equal (db_bind_int64 (st, 2, 1), DB_OK);
        assert_true (db_defer (st) >= 0);
        db_reset (st);
        assert_int_equal (db_commit (db), DB_DUPLICATE);
        db_rollback (db);
        assert_int_equal (s_scalar (other, "SELECT COUNT(*) FROM drv_defer WHERE k = 'c'"), 0);
    }
    else
        db_rollback (db);

    //  A rollback drops what still waits; a COMMIT takes it along
    assert_int_equal (db_begin (db), DB_OK);
    assert_int_equal (db_bind_text (st, 1, "d"), DB_OK);
    assert_int_equal (db_bind_int64 (st, 2, 1), DB_OK);
    assert_true (db_defer (st) >= 0);
    db_reset (st);
    db_rollback (db);
    assert_int_equal (s_scalar (db, "SELECT COUNT(*) FROM drv_defer WHERE k = 'd'"), 0);
    assert_int_equal (db_begin (db), DB_OK);
    assert_int_equal (db_bind_text (st, 1, "e"), DB_OK);
    assert_int_equal (db_bind_int64 (st, 2, 1), DB_OK);
    assert_true (db_defer (st) >= 0);
    db_reset (st);
    assert_int_equal (db_savepoint (db, "drv_mark"), DB_OK);
    assert_int_equal (db_savepoint_rollback (db, "drv_mark"), DB_OK);
    assert_int_equal (db_commit (db), DB_OK);
    assert_int_equal (s_scalar (other, "SELECT COUNT(*) FROM drv_defer WHERE k = 'e'"), 1);
    assert_int_equal (db_exec (db, "DROP TABLE drv_defer"), DB_OK);
}

//  The MySQL backend sends deferred statements as one text; the same
//  checks hold on SQLite, which runs them at once.
static void
test_deferred (void **state)
{
    char *dir = tk_tempdir ("drv-defer");
    char url [512];
    snprintf (url, sizeof url, "sqlite:%s/defer.db", dir);
    char err [512];
    db_t *lite = db_open (url, err, sizeof err);
    assert_non_null (lite);
    s_deferred_checks (lite, lite);
    db_destroy (&lite);
    const char *files [] = { "defer.db", "defer.db-wal", "defer.db-shm" };
    for (size_t i = 0; i < sizeof files / sizeof files [0]; i++) {
        snprintf (url, sizeof url, "%s/%s", dir, files [i]);
        unlink (url);
    }
    rmdir (dir);
    free (dir);
    NEED_MYSQL ();
    db_t *db = s_open ();
    db_t *other = s_open ();
    s_deferred_checks (db, other);
    //  Literals stay right when the server takes no backslash escapes
    assert_int_equal (db_exec (db, "SET SESSION sql_mode = CONCAT(@@sql_mode, ',NO_BACKSLASH_ESCAPES')"),
                      DB_OK);
    s_deferred_checks (db, other);
    db_destroy (&other);
    db_destroy (&db);
}

//  Makes drv_lock with rows 1 and 2 at 0, and holds row 1 in a's open
//  transaction (one increment by S_LOCK_UPD).
static const char S_LOCK_UPD [] = "UPDATE drv_lock SET v = v + 1 WHERE id = ?";

static void
s_hold_row_one (db_t *a)
{
    assert_int_equal (db_exec (a, "DROP TABLE IF EXISTS drv_lock"), DB_OK);
    assert_int_equal (db_exec (a,
        "CREATE TABLE drv_lock (id INT PRIMARY KEY, v BIGINT NOT NULL) ENGINE=InnoDB"), DB_OK);
    assert_int_equal (db_exec (a, "INSERT INTO drv_lock VALUES (1, 0), (2, 0)"), DB_OK);
    assert_int_equal (db_begin (a), DB_OK);
    db_stmt_t *st = db_stmt (a, S_LOCK_UPD);
    assert_int_equal (db_bind_int64 (st, 1, 1), DB_OK);
    assert_int_equal (db_step (st), DB_DONE);
    db_reset (st);
}

//  A deferred write that waits on another connection's lock ends with
//  DB_TIMEOUT at its bound; only it is undone and the connection goes on.
static void
test_deferred_lock_wait (void **state)
{
    NEED_MYSQL ();
    db_t *a = s_open ();
    db_t *b = s_open ();
    s_hold_row_one (a);

    assert_int_equal (db_begin (b), DB_OK);
    assert_int_equal (db_set_lock_wait (b, 300), DB_OK);
    assert_int_equal (db_savepoint (b, "drv_op"), DB_OK);
    db_stmt_t *st = db_stmt (b, S_LOCK_UPD);
    assert_int_equal (db_bind_int64 (st, 1, 2), DB_OK);
    assert_true (db_defer (st) >= 0);
    db_reset (st);
    assert_int_equal (db_bind_int64 (st, 1, 1), DB_OK);
    assert_true (db_defer (st) >= 0);
    db_reset (st);
    int64_t t0 = tk_now_ms ();
    assert_int_equal (db_flush (b), DB_TIMEOUT);
    int64_t waited = tk_now_ms () - t0;
    print_message ("deferred lock wait ended after %" PRId64 " ms: %s\n", waited, db_errmsg (b));
    assert_true (waited >= 250 && waited < 1000);
    //  The savepoint came before the update that ran: undoing to it works
    assert_int_equal (db_savepoint_rollback (b, "drv_op"), DB_OK);
    assert_int_equal (db_set_lock_wait (b, 0), DB_OK);
    assert_int_equal (s_scalar (b, "SELECT v FROM drv_lock WHERE id = 2"), 0);
    assert_int_equal (db_commit (b), DB_OK);
    assert_int_equal (db_commit (a), DB_OK);
    assert_int_equal (s_scalar (b, "SELECT SUM(v) FROM drv_lock"), 1);
    assert_int_equal (db_exec (a, "DROP TABLE drv_lock"), DB_OK);
    db_destroy (&a);
    db_destroy (&b);
}

//  A lock wait cut after the server had already sent rows: the error comes
//  while the rows are read, not at execute. Both ways a statement runs
//  (alone, and after deferred statements) must leave the connection
//  answering: the next statement runs or fails at once, and the one after
//  it runs.
static void
test_error_mid_rows (void **state)
{
    NEED_MYSQL ();
    db_t *a = s_open ();
    db_t *b = s_open ();
    assert_int_equal (db_exec (a, "DROP TABLE IF EXISTS drv_mid"), DB_OK);
    assert_int_equal (db_exec (a,
        "CREATE TABLE drv_mid (id INT PRIMARY KEY, pad VARCHAR(2000) NOT NULL) ENGINE=InnoDB"),
        DB_OK);
    //  Enough bytes before the locked row that the server sends them first
    assert_int_equal (db_exec (a, "INSERT INTO drv_mid SELECT seq, REPEAT('x', 2000)"
                                  " FROM seq_1_to_200"), DB_OK);
    assert_int_equal (db_begin (a), DB_OK);
    assert_int_equal (db_exec (a, "UPDATE drv_mid SET pad = 'y' WHERE id = 200"), DB_OK);
    const char *sel = "SELECT id, pad FROM drv_mid WHERE id > ? ORDER BY id FOR UPDATE";
    for (int deferred = 0; deferred < 2; deferred++) {
        assert_int_equal (db_begin (b), DB_OK);
        assert_int_equal (db_set_lock_wait (b, 300), DB_OK);
        if (deferred)
            assert_int_equal (db_savepoint (b, "drv_mid"), DB_OK);
        db_stmt_t *st = db_stmt (b, sel);
        assert_int_equal (db_bind_int64 (st, 1, 0), DB_OK);
        int rc = db_step (st);
        int rows = 0;
        while (rc == DB_ROW) {
            rows++;
            rc = db_step (st);
        }
        db_reset (st);
        print_message ("%s: %d rows, then %d: %s\n", deferred ? "after a deferred savepoint"
                       : "alone", rows, rc, db_errmsg (b));
        assert_true (rc < 0);
        //  Whatever the next call says, it says it at once, and the group
        //  ends; the connection then serves again
        int64_t t0 = tk_now_ms ();
        db_stmt_t *one = db_stmt (b, "SELECT COUNT(*) FROM drv_mid WHERE id < ?");
        if (one) {
            assert_int_equal (db_bind_int64 (one, 1, 10), DB_OK);
            (void) db_step (one);
            db_reset (one);
        }
        assert_true (tk_now_ms () - t0 < 2000);
        db_rollback (b);
        assert_int_equal (db_set_lock_wait (b, 0), DB_OK);
        assert_int_equal (s_scalar (b, "SELECT COUNT(*) FROM drv_mid WHERE id < 10"), 9);
    }
    db_rollback (a);
    assert_int_equal (db_exec (a, "DROP TABLE drv_mid"), DB_OK);
    db_destroy (&a);
    db_destroy (&b);
}

//  Commit keeps, rollback drops, and another connection sees only what
//  was committed; autocommit resumes after the transaction.
static void
test_transactions (void **state)
{
    NEED_MYSQL ();
    db_t *db = s_open ();
    db_t *other = s_open ();
    assert_int_equal (db_exec (db, "DROP TABLE IF EXISTS drv_tx"), DB_OK);
    assert_int_equal (db_exec (db,
        "CREATE TABLE drv_tx (id INT PRIMARY KEY, v BIGINT NOT NULL) ENGINE=InnoDB"), DB_OK);
    const char *ins = "INSERT INTO drv_tx (id, v) VALUES (?, ?)";
    const char *count = "SELECT COUNT(*) FROM drv_tx";

    assert_int_equal (db_begin (db), DB_OK);
    db_stmt_t *st = db_stmt (db, ins);
    assert_int_equal (db_bind_int64 (st, 1, 1), DB_OK);
    assert_int_equal (db_bind_int64 (st, 2, 10), DB_OK);
    assert_int_equal (db_step (st), DB_DONE);
    db_reset (st);
    assert_int_equal (s_scalar (db, count), 1);
    assert_int_equal (s_scalar (other, count), 0);     //  not yet committed
    db_rollback (db);
    assert_int_equal (s_scalar (db, count), 0);

    assert_int_equal (db_begin (db), DB_OK);
    assert_int_equal (db_bind_int64 (st, 1, 2), DB_OK);
    assert_int_equal (db_bind_int64 (st, 2, 20), DB_OK);
    assert_int_equal (db_step (st), DB_DONE);
    db_reset (st);
    //  A nested begin is refused (MySQL would commit silently) and the
    //  open transaction goes on.
    assert_int_equal (db_begin (db), DB_ERROR);
    assert_int_equal (s_scalar (other, count), 0);
    assert_int_equal (db_commit (db), DB_OK);
    assert_int_equal (s_scalar (other, count), 1);

    //  Autocommit again: a plain insert is visible at once.
    assert_int_equal (db_bind_int64 (st, 1, 3), DB_OK);
    assert_int_equal (db_bind_int64 (st, 2, 30), DB_OK);
    assert_int_equal (db_step (st), DB_DONE);
    db_reset (st);
    assert_int_equal (s_scalar (other, count), 2);
    db_rollback (db);                                  //  harmless outside a transaction
    assert_int_equal (s_scalar (other, count), 2);

    //  A duplicate inside a transaction: the caller rolls back, nothing stays.
    assert_int_equal (db_begin (db), DB_OK);
    assert_int_equal (db_bind_int64 (st, 1, 4), DB_OK);
    assert_int_equal (db_bind_int64 (st, 2, 40), DB_OK);
    assert_int_equal (db_step (st), DB_DONE);
    db_reset (st);
    assert_int_equal (db_bind_int64 (st, 1, 2), DB_OK);
    assert_int_equal (db_bind_int64 (st, 2, 99), DB_OK);
    assert_int_equal (db_step (st), DB_DUPLICATE);
    db_reset (st);
    db_rollback (db);
    assert_int_equal (s_scalar (other, count), 2);

    //  Session settings.
    db_stmt_t *iso = db_stmt (db, "SELECT @@SESSION.tx_isolation, @@SESSION.character_set_client, @@SESSION.autocommit");
    assert_int_equal (db_step (iso), DB_ROW);
    assert_string_equal (db_column_text (iso, 0), "READ-COMMITTED");
    assert_string_equal (db_column_text (iso, 1), "utf8mb4");
    assert_int_equal (db_column_int64 (iso, 2), 1);
    db_reset (iso);

    assert_int_equal (db_exec (db, "DROP TABLE drv_tx"), DB_OK);
    db_destroy (&other);
    db_destroy (&db);
}

//  A row locked by another transaction: the waiter gets DB_TIMEOUT after
//  the lock wait timeout (not a hang), or after the shorter bound of
//  db_set_lock_wait (max_statement_time: fractions of a second), and the
//  transaction it waited in is still there; SKIP LOCKED passes it by.
static void
test_lock_wait (void **state)
{
    NEED_MYSQL ();
    db_t *a = s_open ();
    db_t *b = s_open ();
    s_hold_row_one (a);

    //  SKIP LOCKED: b claims the other row without waiting.
    assert_int_equal (db_begin (b), DB_OK);
    db_stmt_t *claim = db_stmt (b, "SELECT id FROM drv_lock ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED");
    assert_int_equal (db_step (claim), DB_ROW);
    assert_int_equal (db_column_int64 (claim, 0), 2);
    db_reset (claim);

    int64_t t0 = tk_now_ms ();
    db_stmt_t *st = db_stmt (b, S_LOCK_UPD);
    assert_int_equal (db_bind_int64 (st, 1, 1), DB_OK);
    assert_int_equal (db_step (st), DB_TIMEOUT);
    int64_t waited = tk_now_ms () - t0;
    print_message ("lock wait ended after %" PRId64 " ms: %s\n", waited, db_errmsg (b));
    assert_true (waited < 9000);
    assert_non_null (strstr (db_errmsg (b), "1205"));
    assert_int_equal (db_last_failure (b), DB_TIMEOUT);
    assert_int_equal (db_last_failure (b), DB_OK);          //  read once
    db_reset (st);

    //  A bound of 300 ms cuts the same wait at about 300 ms; only the
    //  statement is undone: the claim of row 2 is still held.
    assert_int_equal (db_set_lock_wait (b, 300), DB_OK);
    t0 = tk_now_ms ();
    assert_int_equal (db_bind_int64 (st, 1, 1), DB_OK);
    assert_int_equal (db_step (st), DB_TIMEOUT);
    waited = tk_now_ms () - t0;
    print_message ("bounded lock wait ended after %" PRId64 " ms: %s\n", waited, db_errmsg (b));
    assert_true (waited >= 250 && waited < 1000);
    db_reset (st);
    assert_int_equal (db_set_lock_wait (b, 0), DB_OK);
    assert_int_equal (db_bind_int64 (st, 1, 2), DB_OK);
    assert_int_equal (db_step (st), DB_DONE);                   //  our own row: no wait
    db_reset (st);
    db_rollback (b);
    //  The connection itself is fine.
    assert_int_equal (db_ping (b), DB_OK);
    assert_int_equal (s_scalar (b, "SELECT COUNT(*) FROM drv_lock"), 2);
    assert_int_equal (db_commit (a), DB_OK);
    assert_int_equal (s_scalar (b, "SELECT SUM(v) FROM drv_lock"), 1);

    assert_int_equal (db_exec (a, "DROP TABLE drv_lock"), DB_OK);
    db_destroy (&b);
    db_destroy (&a);
}

//  One worker of test_threads: its own connection, counted increments.
typedef struct {
    int rounds;                 //  increments to make
    int done;                   //  increments committed
    int retries;                //  transactions retried (lock conflicts)
    char error [600];           //  first unexpected failure, "" if none
} s_worker_t;

//  Adds 1 to a shared row and a row of its own per round, in one
//  transaction each, retrying what the server refuses as unavailable.
static void *
s_worker (void *arg)
{
    s_worker_t *w = (s_worker_t *) arg;
    char err [512];
    db_t *db = db_open (s_url (), err, sizeof err);
    if (!db) {
        snprintf (w->error, sizeof w->error, "open: %s", err);
        return NULL;
    }
    int64_t deadline = tk_now_ms () + 120000;
    while (w->done < w->rounds && tk_now_ms () < deadline) {
        int rc = db_begin (db);
        db_stmt_t *st = rc == DB_OK? db_stmt (db, "UPDATE drv_threads SET v = v + 1 WHERE id = ?"): NULL;
        if (st) {
            db_bind_int64 (st, 1, 0);
            rc = db_step (st);
            db_reset (st);
        }
        else
            rc = DB_ERROR;
        if (rc == DB_DONE && db_changes (db) != 1)
            rc = DB_ERROR;
        if (rc == DB_DONE) {
            st = db_stmt (db, "INSERT INTO drv_threads_log (worker) VALUES (?)");
            db_bind_int64 (st, 1, (int64_t) (uintptr_t) w);
            rc = st? db_step (st): DB_ERROR;
            db_reset (st);
        }
        if (rc == DB_DONE)
            rc = db_commit (db);
        if (rc == DB_OK)
            w->done++;
        else {
            db_rollback (db);
            if (rc != DB_UNAVAILABLE && rc != DB_TIMEOUT) {
                snprintf (w->error, sizeof w->error, "rc %d: %s", rc, db_errmsg (db));
                break;
            }
            w->retries++;
        }
    }
    db_destroy (&db);
    return NULL;
}

//  Threads with a connection each never lose or double an update.
static void
test_threads (void **state)
{
    NEED_MYSQL ();
    db_t *db = s_open ();
    assert_int_equal (db_exec (db, "DROP TABLE IF EXISTS drv_threads"), DB_OK);
    assert_int_equal (db_exec (db, "DROP TABLE IF EXISTS drv_threads_log"), DB_OK);
    assert_int_equal (db_exec (db,
        "CREATE TABLE drv_threads (id INT PRIMARY KEY, v BIGINT NOT NULL) ENGINE=InnoDB"), DB_OK);
    assert_int_equal (db_exec (db,
        "CREATE TABLE drv_threads_log (id BIGINT AUTO_INCREMENT PRIMARY KEY,"
        " worker BIGINT NOT NULL) ENGINE=InnoDB"), DB_OK);
    assert_int_equal (db_exec (db, "INSERT INTO drv_threads VALUES (0, 0)"), DB_OK);
    enum { WORKERS = 4, ROUNDS = 150 };
    s_worker_t workers [WORKERS];
    pthread_t threads [WORKERS];
    memset (workers, 0, sizeof workers);
    for (int i = 0; i < WORKERS; i++) {
        workers [i].rounds = ROUNDS;
        assert_int_equal (pthread_create (&threads [i], NULL, s_worker, &workers [i]), 0);
    }
    int total = 0;
    for (int i = 0; i < WORKERS; i++) {
        pthread_join (threads [i], NULL);
        if (workers [i].error [0])
            fail_msg ("worker %d: %s", i, workers [i].error);
        print_message ("worker %d: %d committed, %d retried\n", i, workers [i].done, workers [i].retries);
        total += workers [i].done;
    }
    assert_int_equal (total, WORKERS * ROUNDS);
    assert_int_equal (s_scalar (db, "SELECT v FROM drv_threads WHERE id = 0"), total);
    assert_int_equal (s_scalar (db, "SELECT COUNT(*) FROM drv_threads_log"), total);
    assert_int_equal (db_exec (db, "DROP TABLE drv_threads"), DB_OK);
    assert_int_equal (db_exec (db, "DROP TABLE drv_threads_log"), DB_OK);
    db_destroy (&db);
}

//  A private server for the outage test.
typedef struct {
    char *dir;                  //  its folder (datadir, socket, pid file)
    int port;                   //  its port
    char url [512];             //  mysql:// URL of its coffee database
} s_private_t;

//  Runs scripts/mariadb.sh CMD on the private server; returns its exit status.
static int
s_mariadb (s_private_t *priv, const char *cmd)
{
    char line [1024];
    snprintf (line, sizeof line, "sh '%s/scripts/mariadb.sh' %s '%s' %d",
              COFFEE_SOURCE_DIR, cmd, priv->dir, priv->port);
    int rc = system (line);
    return rc == -1? -1: WEXITSTATUS (rc);
}

//  Starts the private server (only when MySQL tests are enabled at all).
static int
s_private_setup (void **state)
{
    if (!s_url ())
        return 0;                   //  the test itself skips
    s_private_t *priv = (s_private_t *) calloc (1, sizeof *priv);
    if (!priv)
        return -1;
    priv->dir = tk_tempdir ("mysql-driver");
    priv->port = tk_free_port ();
    *state = priv;
    if (!priv->dir || priv->port <= 0 || s_mariadb (priv, "start") != 0)
        return -1;
    char path [600], pass [128] = "";
    snprintf (path, sizeof path, "%s/coffee.password", priv->dir);
    FILE *f = fopen (path, "r");
    if (!f || !fgets (pass, sizeof pass, f)) {
        if (f)
            fclose (f);
        return -1;
    }
    fclose (f);
    pass [strcspn (pass, "\r\n")] = 0;
    snprintf (priv->url, sizeof priv->url, "mysql://coffee:%s@127.0.0.1:%d/coffee", pass, priv->port);
    return 0;
}

//  Stops the private server and removes its folder.
static int
s_private_teardown (void **state)
{
    s_private_t *priv = (s_private_t *) *state;
    if (!priv)
        return 0;
    if (priv->dir) {
        s_mariadb (priv, "stop");
        char line [1024];
        snprintf (line, sizeof line, "rm -rf '%s'", priv->dir);
        if (system (line) != 0)
            print_message ("could not remove %s\n", priv->dir);
        free (priv->dir);
    }
    free (priv);
    *state = NULL;
    return 0;
}

//  Inserts (id, v) into drv_out through the cached statement.
static int
s_out_insert (db_t *db, int64_t id)
{
    db_stmt_t *st = db_stmt (db, "INSERT INTO drv_out (id, v) VALUES (?, ?)");
    if (!st)
        return DB_UNAVAILABLE;
    db_bind_int64 (st, 1, id);
    db_bind_int64 (st, 2, id * 10);
    int rc = db_step (st);
    db_reset (st);
    return rc;
}

//  The server restarted or killed under an open connection: the first call
//  answers DB_UNAVAILABLE, the next reconnects and works, with the same
//  (re-prepared) statements; a transaction that lost its connection refuses
//  until rolled back and its writes are gone.
static void
test_outage (void **state)
{
    NEED_MYSQL ();
    s_private_t *priv = (s_private_t *) *state;
    assert_non_null (priv);
    char err [512];
    db_t *db = db_open (priv->url, err, sizeof err);
    if (!db)
        fail_msg ("db_open: %s", err);
    assert_int_equal (db_exec (db, "DROP TABLE IF EXISTS drv_out"), DB_OK);
    assert_int_equal (db_exec (db,
        "CREATE TABLE drv_out (id INT PRIMARY KEY, v BIGINT NOT NULL) ENGINE=InnoDB"), DB_OK);
    const char *count = "SELECT COUNT(*) FROM drv_out";
    assert_int_equal (s_out_insert (db, 1), DB_DONE);
    assert_int_equal (s_scalar (db, count), 1);

    //  1. Clean restart between statements.
    assert_int_equal (s_mariadb (priv, "restart"), 0);
    assert_int_equal (s_out_insert (db, 2), DB_UNAVAILABLE);
    print_message ("after restart: %s\n", db_errmsg (db));
    s_parts_t parts;
    s_split (priv->url, &parts);
    assert_null (strstr (db_errmsg (db), parts.pass));        //  no password
    assert_int_equal (s_out_insert (db, 2), DB_DONE);
    assert_int_equal (db_changes (db), 1);
    assert_int_equal (s_scalar (db, count), 2);

    //  2. Restart inside a transaction: its writes are lost, and nothing
    //  runs outside it until the caller rolls back.
    assert_int_equal (db_begin (db), DB_OK);
    assert_int_equal (s_out_insert (db, 3), DB_DONE);
    assert_int_equal (s_mariadb (priv, "restart"), 0);
    assert_int_equal (s_out_insert (db, 4), DB_UNAVAILABLE);
    assert_int_equal (s_out_insert (db, 4), DB_UNAVAILABLE);   //  still refused
    assert_int_equal (db_commit (db), DB_UNAVAILABLE);
    db_rollback (db);
    assert_int_equal (s_scalar (db, count), 2);                //  3 never landed

    //  3. kill -9 while the server is down: calls fail fast, ping too; once
    //  it is back, ping reconnects.
    assert_int_equal (s_mariadb (priv, "kill"), 0);
    int64_t t0 = tk_now_ms ();
    assert_int_equal (db_ping (db), DB_UNAVAILABLE);
    assert_int_equal (s_out_insert (db, 5), DB_UNAVAILABLE);
    assert_int_equal (db_begin (db), DB_UNAVAILABLE);
    db_rollback (db);
    assert_null (db_stmt (db, "SELECT 1 FROM drv_out"));      //  cannot prepare now
    assert_true (tk_now_ms () - t0 < 5000);
    assert_int_equal (s_mariadb (priv, "start"), 0);
    assert_int_equal (db_ping (db), DB_OK);
    assert_int_equal (s_out_insert (db, 5), DB_DONE);
    assert_int_equal (s_scalar (db, count), 3);

    //  4. kill -9 in the middle of a committed-then-read sequence: a
    //  committed row survives the crash.
    assert_int_equal (db_begin (db), DB_OK);
    assert_int_equal (s_out_insert (db, 6), DB_DONE);
    assert_int_equal (db_commit (db), DB_OK);
    assert_int_equal (s_mariadb (priv, "kill"), 0);
    assert_int_equal (s_mariadb (priv, "start"), 0);
    db_stmt_t *st = db_stmt (db, count);
    assert_int_equal (db_step (st), DB_UNAVAILABLE);
    db_reset (st);
    assert_int_equal (s_scalar (db, count), 4);

    //  5. A connection found dead by db_begin (nothing done yet) is
    //  replaced at once: the transaction starts.
    assert_int_equal (s_mariadb (priv, "restart"), 0);
    assert_int_equal (db_begin (db), DB_OK);
    assert_int_equal (s_out_insert (db, 7), DB_DONE);
    assert_int_equal (db_commit (db), DB_OK);
    assert_int_equal (s_scalar (db, count), 5);

    //  A lock-wait bound holds on the session a reconnect opens, as it
    //  did on the one before
    assert_int_equal (db_set_lock_wait (db, 1500), DB_OK);
    assert_int_equal (s_mariadb (priv, "restart"), 0);
    assert_int_equal (db_ping (db), DB_OK);
    assert_int_equal (s_scalar (db, "SELECT CAST(@@max_statement_time * 1000 AS SIGNED)"), 1500);
    assert_int_equal (db_set_lock_wait (db, 0), DB_OK);

    //  6. Closing while the server is down frees everything without hanging.
    assert_int_equal (s_mariadb (priv, "kill"), 0);
    t0 = tk_now_ms ();
    db_destroy (&db);
    assert_null (db);
    assert_true (tk_now_ms () - t0 < 5000);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_url_errors),
        cmocka_unit_test (test_open_refused),
        cmocka_unit_test (test_wrong_password),
        cmocka_unit_test (test_credentials),
        cmocka_unit_test (test_types),
        cmocka_unit_test (test_long_text),
        cmocka_unit_test (test_duplicates),
        cmocka_unit_test (test_transactions),
        cmocka_unit_test (test_deferred),
        cmocka_unit_test (test_deferred_lock_wait),
        cmocka_unit_test (test_error_mid_rows),
        cmocka_unit_test (test_lock_wait),
        cmocka_unit_test (test_threads),
        cmocka_unit_test_setup_teardown (test_outage, s_private_setup, s_private_teardown),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
