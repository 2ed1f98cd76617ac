/*  test_store_checkpointer — db_sqlite_checkpointer: while it runs, the
    connections that write its file leave the WAL's checkpoints to it (a
    writer's thread no longer copies pages back and syncs the file after
    its commit), unless the WAL is far behind; once it stops, or when a
    second one is started for the same file, the writers go on as before.

    Real SQLite files in a temporary folder, db.h connections as the
    actors use them, the checkpointer as main starts it (zactor_new).
    Counts come from db_sqlite_checkpoints, process-wide, so each case
    compares them before and after.

    ctest bound: COFFEE_TEST_TIMEOUT 120 s. */
#include "testkit.h"
#include <cmocka.h>
#include "coffee.h"
#include "db.h"
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define ROW_BYTES       4000        //  a row of about one page
#define PAGE_BYTES      4096        //  SQLite's default page size
#define WAIT_MS         3000        //  longest wait for the checkpointer

//  A fresh file with the filler table; its URL in url.
static char *
s_fresh (const char *prefix, char *url, size_t size)
{
    char *dir = tk_tempdir (prefix);
    assert_non_null (dir);
    snprintf (url, size, "sqlite:%s/command.db", dir);
    char err [256] = "";
    db_t *db = db_open (url, err, sizeof err);
    assert_non_null (db);
    assert_int_equal (db_exec (db, "CREATE TABLE filler (id INTEGER PRIMARY KEY, body TEXT)"),
                      DB_OK);
    db_destroy (&db);
    return dir;
}

//  Commits rows rows of about a page each on db, per_tx to a transaction.
static void
s_write (db_t *db, int rows, int per_tx)
{
    char *blob = (char *) malloc (ROW_BYTES + 1);
    assert_non_null (blob);
    memset (blob, 'x', ROW_BYTES);
    blob [ROW_BYTES] = 0;
    for (int i = 0; i < rows; i += per_tx) {
        assert_int_equal (db_begin (db), DB_OK);
        for (int j = 0; j < per_tx; j++) {
            db_stmt_t *st = db_stmt (db, "INSERT INTO filler (body) VALUES (?)");
            assert_non_null (st);
            assert_int_equal (db_bind_text (st, 1, blob), DB_OK);
            assert_int_equal (db_step (st), DB_DONE);
            db_reset (st);
        }
        assert_int_equal (db_commit (db), DB_OK);
    }
    free (blob);
}

//  Size of the file in dir, bytes.
static long long
s_file_size (const char *dir, const char *name)
{
    char path [600];
    snprintf (path, sizeof path, "%s/%s", dir, name);
    struct stat st;
    return stat (path, &st) == 0 ? (long long) st.st_size : 0;
}

//  Waits up to WAIT_MS for the checkpointers' count to pass since.
static int64_t
s_wait_background (int64_t since)
{
    int64_t background = since;
    for (int waited = 0; waited < WAIT_MS && background <= since; waited += 10) {
        zclock_sleep (10);
        db_sqlite_checkpoints (&background, NULL);
    }
    return background;
}

//  One case's file, its checkpointer (when asked for) and a writer's
//  connection, opened in that order as coffee serve does.
typedef struct {
    char url [700];                 //  sqlite:PATH of the file
    char *dir;                      //  its temporary folder
    zactor_t *checkpointer;         //  NULL when the case runs without
    db_t *db;                       //  the writer's connection
} s_case_t;

//  Makes the file, starts its checkpointer when asked, opens the writer.
static void
s_case_start (s_case_t *self, const char *prefix, bool checkpointer)
{
    memset (self, 0, sizeof *self);
    self->dir = s_fresh (prefix, self->url, sizeof self->url);
    if (checkpointer) {
        self->checkpointer = zactor_new (db_sqlite_checkpointer, self->url);
        assert_non_null (self->checkpointer);
    }
    char err [256] = "";
    self->db = db_open (self->url, err, sizeof err);
    assert_non_null (self->db);
}

//  Closes the writer, stops the checkpointer if it still runs.
static void
s_case_end (s_case_t *self)
{
    db_destroy (&self->db);
    zactor_destroy (&self->checkpointer);
    free (self->dir);
}

//  The checkpointer copies the WAL back while the writer's connection is
//  still open (closing the last connection would checkpoint too), and the
//  writer runs none itself.
static void
test_writers_leave_checkpoints (void **state)
{
    (void) state;
    s_case_t c;
    s_case_start (&c, "ckpt-leave", true);
    int64_t background, by_writers, background_after, by_writers_after;
    db_sqlite_checkpoints (&background, &by_writers);
    long long before = s_file_size (c.dir, "command.db");

    s_write (c.db, 3000, 8);
    background_after = s_wait_background (background);
    db_sqlite_checkpoints (NULL, &by_writers_after);
    assert_true (background_after > background);
    assert_int_equal (by_writers_after, by_writers);
    //  At least the first 1000 pages are in the file now
    assert_true (s_file_size (c.dir, "command.db") >= before + 1000LL * PAGE_BYTES);
    s_case_end (&c);
}

//  Without a checkpointer the writer checkpoints after its commits, as
//  before: the count the case above holds still is one that moves.
static void
test_without_one_writers_checkpoint (void **state)
{
    (void) state;
    s_case_t c;
    s_case_start (&c, "ckpt-none", false);
    int64_t background, by_writers, background_after, by_writers_after;
    db_sqlite_checkpoints (&background, &by_writers);
    s_write (c.db, 1500, 8);
    db_sqlite_checkpoints (&background_after, &by_writers_after);
    assert_true (by_writers_after > by_writers);
    assert_int_equal (background_after, background);
    s_case_end (&c);
}

//  A connection opened while the checkpointer ran sees it stop: its next
//  commits past 1000 pages checkpoint in its own thread again.
static void
test_writers_take_over_when_it_stops (void **state)
{
    (void) state;
    s_case_t c;
    s_case_start (&c, "ckpt-stop", true);
    s_write (c.db, 8, 8);           //  the connection finds the checkpointer
    zactor_destroy (&c.checkpointer);
    int64_t by_writers, by_writers_after;
    db_sqlite_checkpoints (NULL, &by_writers);
    s_write (c.db, 1500, 8);
    db_sqlite_checkpoints (NULL, &by_writers_after);
    assert_true (by_writers_after > by_writers);
    s_case_end (&c);
}

//  A second checkpointer of the same file does not start, and stopping it
//  leaves the first one working for the file.
static void
test_second_one_leaves_the_first (void **state)
{
    (void) state;
    s_case_t c;
    s_case_start (&c, "ckpt-second", true);
    zactor_t *second = zactor_new (db_sqlite_checkpointer, c.url);
    assert_non_null (second);
    zactor_destroy (&second);
    int64_t background, by_writers, by_writers_after;
    db_sqlite_checkpoints (&background, &by_writers);
    s_write (c.db, 3000, 8);
    assert_true (s_wait_background (background) > background);
    db_sqlite_checkpoints (NULL, &by_writers_after);
    assert_int_equal (by_writers_after, by_writers);
    s_case_end (&c);
}

//  A WAL far behind (past 4000 pages; here one transaction of 7000, more
//  than the checkpointer could have copied in between) is checkpointed by
//  the writer itself, so the WAL stays bounded whatever the checkpointer
//  does.
static void
test_far_behind_the_writer_checkpoints (void **state)
{
    (void) state;
    s_case_t c;
    s_case_start (&c, "ckpt-behind", true);
    int64_t by_writers, by_writers_after;
    db_sqlite_checkpoints (NULL, &by_writers);
    s_write (c.db, 7000, 7000);
    db_sqlite_checkpoints (NULL, &by_writers_after);
    assert_true (by_writers_after > by_writers);
    s_case_end (&c);
}

//  A file it cannot open: it logs why, still ends on $TERM, and takes no
//  slot.
static void
test_unopenable_file (void **state)
{
    (void) state;
    zactor_t *checkpointer = zactor_new (db_sqlite_checkpointer,
                                         (void *) "sqlite:/proc/coffee-no-such-dir/x.db");
    assert_non_null (checkpointer);
    zactor_destroy (&checkpointer);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_writers_leave_checkpoints),
        cmocka_unit_test (test_without_one_writers_checkpoint),
        cmocka_unit_test (test_writers_take_over_when_it_stops),
        cmocka_unit_test (test_second_one_leaves_the_first),
        cmocka_unit_test (test_far_behind_the_writer_checkpoints),
        cmocka_unit_test (test_unopenable_file),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
