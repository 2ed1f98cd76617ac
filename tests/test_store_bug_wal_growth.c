/*  test_store_bug_wal_growth — reproducer of a bug the order benchmark
    found: under a steady stream of orders command.db-wal grew by about
    50 MB a second (600 MB in a 15 s run of bench/run.sh order-sqlite), and
    every read searched an ever longer WAL index, until the fault matrix's
    verification of 25 000 orders one GET at a time ran past its bound.
    SQLite's automatic checkpoint is PASSIVE: it copies pages back but the
    WAL starts over only when no reader is in it at that moment, and with
    several connections reading and writing there always was one.

    Two writers on db.h connections commit 4 KiB rows while a reader on a
    connection of its own keeps read transactions open back to back, as
    the actors do. WAL_TOTAL_MB pass through the WAL; the -wal file must
    stay below WAL_BOUND_MB (db_sqlite.c restarts it past 4000 pages, about
    16 MiB), where before the fix it held all of them. It must, too, when
    the checkpoints are left to a checkpointer (db_sqlite_checkpointer), as
    `coffee serve` runs it.

    ctest bound: COFFEE_TEST_TIMEOUT 300 s. */
#include "testkit.h"
#include <cmocka.h>
#include "coffee.h"
#include "db.h"
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/stat.h>

#define WRITERS         2           //  writer threads
#define ROW_BYTES       4096        //  one row, about one page
#define WAL_TOTAL_MB    64          //  what the writers commit in all
#define ROWS_PER_TX     8           //  rows per commit
#define WAL_BOUND_MB    32          //  the -wal file never gets this large

typedef struct {
    char path [700];                //  the database file
    atomic_bool stop;               //  the reader stops
    atomic_llong largest_wal;       //  largest -wal size seen, bytes
} s_shared_t;

//  Size of path's -wal file, 0 when it is not there.
static long long
s_wal_size (const char *path)
{
    char wal [720];
    snprintf (wal, sizeof wal, "%s-wal", path);
    struct stat st;
    return stat (wal, &st) == 0? (long long) st.st_size: 0;
}

//  Raises largest_wal to the -wal file's size now (the threads race; a
//  lost update only loses a sample, and the next one is taken soon).
static void
s_note_wal (s_shared_t *shared)
{
    long long size = s_wal_size (shared->path);
    if (size > atomic_load (&shared->largest_wal))
        atomic_store (&shared->largest_wal, size);
}

//  Keeps read transactions open back to back until stop, noting the
//  largest -wal size.
static void *
s_reader (void *arg)
{
    s_shared_t *shared = (s_shared_t *) arg;
    sqlite3 *conn = NULL;
    if (sqlite3_open_v2 (shared->path, &conn, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK)
        return NULL;
    sqlite3_busy_timeout (conn, 5000);
    while (!atomic_load (&shared->stop)) {
        sqlite3_exec (conn, "BEGIN; SELECT COUNT(*) FROM filler;", NULL, NULL, NULL);
        zclock_sleep (2);
        sqlite3_exec (conn, "COMMIT", NULL, NULL, NULL);
        s_note_wal (shared);
    }
    sqlite3_close (conn);
    return NULL;
}

//  Commits its share of WAL_TOTAL_MB in transactions of ROWS_PER_TX rows.
static void *
s_writer (void *arg)
{
    s_shared_t *shared = (s_shared_t *) arg;
    char err [256] = "";
    db_t *db = db_open (shared->path, err, sizeof err);
    if (!db)
        return (void *) 1;
    char *blob = (char *) malloc (ROW_BYTES + 1);
    memset (blob, 'x', ROW_BYTES);
    blob [ROW_BYTES] = 0;
    int rows = WAL_TOTAL_MB * 1024 * 1024 / ROW_BYTES / WRITERS;
    intptr_t failed = 0;
    for (int i = 0; i < rows && !failed; i += ROWS_PER_TX) {
        if (db_begin (db) != DB_OK) {
            failed = 1;
            break;
        }
        for (int j = 0; j < ROWS_PER_TX && !failed; j++) {
            db_stmt_t *st = db_stmt (db, "INSERT INTO filler (body) VALUES (?)");
            failed = !st || db_bind_text (st, 1, blob) != DB_OK || db_step (st) != DB_DONE;
            db_reset (st);
        }
        if (failed || db_commit (db) != DB_OK)
            failed = 1;
        s_note_wal (shared);
    }
    if (failed)
        db_rollback (db);
    free (blob);
    db_destroy (&db);
    return (void *) failed;
}

//  Runs the writers and the reader, with a checkpointer of the file when
//  checkpointer.
static void
s_wal_stays_bounded (bool checkpointer)
{
    char *dir = tk_tempdir ("store-wal");
    assert_non_null (dir);
    s_shared_t shared;
    memset (&shared, 0, sizeof shared);
    snprintf (shared.path, sizeof shared.path, "%s/command.db", dir);
    char err [256] = "";
    db_t *db = db_open (shared.path, err, sizeof err);
    assert_non_null (db);
    assert_int_equal (db_exec (db, "CREATE TABLE filler (id INTEGER PRIMARY KEY, body TEXT)"),
                      DB_OK);
    db_destroy (&db);
    char url [720];
    snprintf (url, sizeof url, "sqlite:%s", shared.path);
    zactor_t *actor = checkpointer ? zactor_new (db_sqlite_checkpointer, url) : NULL;
    assert_true (!checkpointer || actor);
    int64_t background, by_writers, background_after, by_writers_after;
    db_sqlite_checkpoints (&background, &by_writers);

    pthread_t reader, writers [WRITERS];
    assert_int_equal (pthread_create (&reader, NULL, s_reader, &shared), 0);
    for (int i = 0; i < WRITERS; i++)
        assert_int_equal (pthread_create (&writers [i], NULL, s_writer, &shared), 0);
    int failed = 0;
    for (int i = 0; i < WRITERS; i++) {
        void *rc = NULL;
        pthread_join (writers [i], &rc);
        failed += rc != NULL;
    }
    atomic_store (&shared.stop, true);
    pthread_join (reader, NULL);
    zactor_destroy (&actor);
    db_sqlite_checkpoints (&background_after, &by_writers_after);
    long long largest = atomic_load (&shared.largest_wal);
    fprintf (stderr, "wal: %d MiB committed, largest -wal %.1f MiB (bound %d MiB); "
             "checkpoints: %lld by the checkpointer, %lld by writers\n",
             WAL_TOTAL_MB, (double) largest / 1048576.0, WAL_BOUND_MB,
             (long long) (background_after - background),
             (long long) (by_writers_after - by_writers));
    assert_int_equal (failed, 0);
    //  How the two share the work depends on timing (test_store_checkpointer
    //  proves who checkpoints when); without one, only writers do
    if (!checkpointer)
        assert_int_equal (background_after, background);
    assert_true (largest > 0);
    assert_true (largest < (long long) WAL_BOUND_MB * 1024 * 1024);
    free (dir);
}

static void
test_wal_stays_bounded (void **state)
{
    (void) state;
    s_wal_stays_bounded (false);
}

static void
test_wal_stays_bounded_checkpointer (void **state)
{
    (void) state;
    s_wal_stays_bounded (true);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_wal_stays_bounded),
        cmocka_unit_test (test_wal_stays_bounded_checkpointer),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
