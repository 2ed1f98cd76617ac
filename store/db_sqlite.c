/*  db_sqlite — the SQLite backend of db.h: one sqlite3 connection per db_t.

    Settings at open, and why:
      journal_mode=WAL    readers never block the writer, and a commit is one
                          append to the -wal file.
      synchronous=NORMAL  in WAL mode a commit is written to the -wal file
                          (in the OS page cache) before COMMIT returns; only
                          the fsync is deferred to checkpoints. A kill -9 of
                          the process therefore never loses an acknowledged
                          transaction; only an OS crash or power loss could
                          lose the last few. That is the failure model we
                          promise (DESIGN.md §4: kill -9 of any process), so
                          we do not pay an fsync per order for FULL.
      busy_timeout 5000   a writer waits up to 5 s for another connection's
                          write lock (or the bound db_set_lock_wait sets,
                          e.g. a request's time left), then the call fails
                          as DB_TIMEOUT having done nothing.
      foreign_keys=ON     the schema's references are enforced.
      temp_store=MEMORY   savepoint journals and sorts stay in memory (see
                          below).
    Writers start with BEGIN IMMEDIATE, so two connections never deadlock
    upgrading a read lock to a write lock. */
#include "db_impl.h"
#include "log.h"
#include <sqlite3.h>
#include <string.h>
#include <stdio.h>
#include <libgen.h>
#include <unistd.h>
#include <sys/stat.h>
#include <errno.h>
#include <stdatomic.h>

#define SQLITE_BUSY_MS 5000         //  busy_timeout of every connection
#define SQLITE_OPEN_TRIES 50        //  attempts at the WAL switch when busy
#define SQLITE_OPEN_WAIT_MS 100     //  pause between those attempts
//  Checkpoints after a commit: SQLite's own (PASSIVE) past this many pages
//  in the WAL; past the larger bound a RESTART, which waits for the readers
//  of the WAL to finish so that the next writer starts it over.
#define SQLITE_WAL_PASSIVE_PAGES 1000
#define SQLITE_WAL_RESTART_PAGES 4000
//  The longest a RESTART waits for readers: it holds the write lock while
//  it waits, so other writers wait too. Past it, a later commit tries again.
#define SQLITE_WAL_RESTART_WAIT_MS 50

//  Bytes the open connections hold (page caches, schemas, statements), as
//  each last counted them at the end of a transaction (s_memory_note).
static _Atomic int64_t s_memory;

typedef struct {
    db_t base;                      //  db.c's part; must come first
    sqlite3 *conn;                  //  the connection
    int64_t busy_ms;                //  busy timeout in force
    int64_t busy_since;             //  zclock_usecs when the current lock wait began
    int64_t memory;                 //  bytes it last counted in s_memory
    char err [256];                 //  our own last error, when not SQLite's
} sqlite_db_t;

typedef struct {
    db_stmt_t base;                 //  db.c's part; must come first
    sqlite3_stmt *st;               //  the prepared statement
} sqlite_stmt_t;

//  Counts the connection's memory in s_memory again. Only its own thread
//  reads its counters, so this runs where the connection works: when a
//  transaction ends and at open and close.
static void
s_memory_note (sqlite_db_t *self, bool closing)
{
    static const int what [] = {
        SQLITE_DBSTATUS_CACHE_USED, SQLITE_DBSTATUS_SCHEMA_USED, SQLITE_DBSTATUS_STMT_USED
    };
    int64_t bytes = 0;
    for (size_t i = 0; !closing && i < sizeof what / sizeof what [0]; i++) {
        int current = 0, highest = 0;
        if (sqlite3_db_status (self->conn, what [i], &current, &highest, 0) == SQLITE_OK)
            bytes += current;
    }
    atomic_fetch_add (&s_memory, bytes - self->memory);
    self->memory = bytes;
}

//  Maps an SQLite result code to a db.h code.
static int
s_map (int rc)
{
    switch (rc) {
        case SQLITE_OK:                     return DB_OK;
        case SQLITE_ROW:                    return DB_ROW;
        case SQLITE_DONE:                   return DB_DONE;
        case SQLITE_CONSTRAINT_PRIMARYKEY:
        case SQLITE_CONSTRAINT_UNIQUE:      return DB_DUPLICATE;
        default: break;
    }
    switch (rc & 0xff) {
        case SQLITE_BUSY:                   return DB_TIMEOUT;
        case SQLITE_LOCKED:
        case SQLITE_IOERR:
        case SQLITE_FULL:
        case SQLITE_CANTOPEN:
        case SQLITE_READONLY:
        case SQLITE_NOMEM:
        case SQLITE_PROTOCOL:               return DB_UNAVAILABLE;
        default:                            return DB_ERROR;
    }
}

//  Creates the folder that will hold path, with its parents.
static int
s_make_parent (const char *path, char *err, size_t errlen)
{
    char *copy = strdup (path);
    if (!copy) {
        snprintf (err, errlen, "out of memory");
        return -1;
    }
    char *dir = dirname (copy);
    int rc = 0;
    if (strcmp (dir, ".") != 0 && strcmp (dir, "/") != 0 && !zsys_file_exists (dir)) {
        if (zsys_dir_create ("%s", dir) != 0 && !zsys_file_exists (dir)) {
            snprintf (err, errlen, "cannot create folder %s", dir);
            rc = -1;
        }
    }
    free (copy);
    return rc;
}

//  Tightens path and its companions to 0600.
int
db_file_protect (const char *path, bool existed)
{
    static const char *suffixes [] = { "", "-wal", "-shm", "-journal" };
    int rc = 0;
    for (size_t i = 0; i < sizeof suffixes / sizeof suffixes [0]; i++) {
        char name [1100];
        snprintf (name, sizeof name, "%s%s", path, suffixes [i]);
        struct stat st;
        if (stat (name, &st) != 0 || (st.st_mode & 0777) == 0600)
            continue;
        if (chmod (name, 0600) != 0) {
            rc = -1;
            continue;
        }
        if (existed)
            log_warn (NULL, "%s was mode %04o: tightened to 0600", name, st.st_mode & 0777);
    }
    return rc;
}

//  Runs a pragma, retrying a while when another connection holds the lock
//  (switching a new file to WAL needs it briefly, and ignores busy_timeout).
static int
s_pragma (sqlite_db_t *self, const char *sql)
{
    int rc = SQLITE_OK;
    for (int attempt = 0; attempt < SQLITE_OPEN_TRIES; attempt++) {
        rc = sqlite3_exec (self->conn, sql, NULL, NULL, NULL);
        if ((rc & 0xff) != SQLITE_BUSY && (rc & 0xff) != SQLITE_LOCKED)
            break;
        zclock_sleep (SQLITE_OPEN_WAIT_MS);
    }
    return rc;
}

//  SQLite's busy handler: waits for another connection's lock in short
//  steps (100 us, growing to 1 ms) until busy_ms have passed since the wait
//  began. SQLite's own busy_timeout sleeps 1, 2, 5, 10 … 100 ms, so a writer
//  waiting on a lock held for a millisecond (another actor's group commit)
//  slept far longer than the lock was held.
static int
s_busy (void *arg, int count)
{
    sqlite_db_t *self = (sqlite_db_t *) arg;
    int64_t now = zclock_usecs ();
    if (count == 0)
        self->busy_since = now;
    if (now - self->busy_since >= self->busy_ms * 1000)
        return 0;
    int64_t step = count < 10? 100: count < 50? 250: 1000;
    int64_t left = self->busy_ms * 1000 - (now - self->busy_since);
    usleep ((useconds_t) (step < left? step: left));
    return 1;
}

//  SQLite's WAL hook, after every commit: checkpoints as SQLite's automatic
//  checkpoint does (PASSIVE, past SQLITE_WAL_PASSIVE_PAGES), and past
//  SQLITE_WAL_RESTART_PAGES restarts the WAL. A PASSIVE checkpoint copies
//  pages back but never waits, and the WAL starts over only when no
//  reader is in it at that moment: under a steady stream of orders there
//  always was one, and command.db-wal grew by about 50 MB a second (600 MB
//  in a 15 s bench run), which also made every read search a longer WAL
//  index. A RESTART waits (through the busy handler, at most
//  SQLITE_WAL_RESTART_WAIT_MS, since other writers wait meanwhile) until
//  the readers moved on, then lets the next writer start the file over.
//  The commit is done before the hook runs: a checkpoint that fails or
//  waits too long is tried again at a later commit.
static int
s_wal_hook (void *arg, sqlite3 *conn, const char *name, int pages)
{
    sqlite_db_t *self = (sqlite_db_t *) arg;
    if (pages < SQLITE_WAL_PASSIVE_PAGES)
        return SQLITE_OK;
    if (pages < SQLITE_WAL_RESTART_PAGES) {
        sqlite3_wal_checkpoint_v2 (conn, name, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
        return SQLITE_OK;
    }
    int64_t busy_ms = self->busy_ms;
    self->busy_ms = busy_ms < SQLITE_WAL_RESTART_WAIT_MS ? busy_ms : SQLITE_WAL_RESTART_WAIT_MS;
    sqlite3_wal_checkpoint_v2 (conn, name, SQLITE_CHECKPOINT_RESTART, NULL, NULL);
    self->busy_ms = busy_ms;
    return SQLITE_OK;
}

//  Opens sqlite:PATH or a bare PATH.
static db_t *
s_open (const char *url, char *err, size_t errlen)
{
    const char *path = url;
    if (strncmp (path, "sqlite:", 7) == 0)
        path += 7;
    //  sqlite:///abs/path names /abs/path
    if (strncmp (path, "//", 2) == 0)
        path += 2;
    if (!*path) {
        snprintf (err, errlen, "sqlite URL has no file path");
        return NULL;
    }
    if (strcmp (path, ":memory:") != 0 && s_make_parent (path, err, errlen) != 0)
        return NULL;

    sqlite_db_t *self = (sqlite_db_t *) calloc (1, sizeof *self);
    if (!self) {
        snprintf (err, errlen, "out of memory");
        return NULL;
    }
    bool existed = access (path, F_OK) == 0;
    int rc = sqlite3_open_v2 (path, &self->conn,
                              SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE
                              | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        snprintf (err, errlen, "cannot open %s: %s", path,
                  self->conn ? sqlite3_errmsg (self->conn) : sqlite3_errstr (rc));
        goto fail;
    }
    //  Owner only, before the WAL and shared-memory files exist: SQLite
    //  gives those the main file's mode.
    if (strcmp (path, ":memory:") != 0 && db_file_protect (path, existed)) {
        snprintf (err, errlen, "cannot make %s private (chmod 0600): %s", path,
                  strerror (errno));
        goto fail;
    }
    sqlite3_extended_result_codes (self->conn, 1);
    self->busy_ms = SQLITE_BUSY_MS;
    sqlite3_busy_handler (self->conn, s_busy, self);
    sqlite3_wal_hook (self->conn, s_wal_hook, self);
    const char *pragmas [] = {
        "PRAGMA journal_mode=WAL",
        "PRAGMA synchronous=NORMAL",
        "PRAGMA foreign_keys=ON",
        //  Each connection has a page cache of its own and a process holds
        //  a dozen: 2000 KiB each by default filled with the files and
        //  grew RSS past 64 MiB in a soak. Pages beyond it come from the
        //  OS file cache. 256 KiB (negative: a size in KiB, not pages).
        "PRAGMA cache_size=-256",
        //  A group commit runs each request in a savepoint, and SQLite
        //  keeps what a savepoint may have to undo in a statement journal
        //  that spills to a temporary file past 64 KiB: with a group of a
        //  few dozen orders that was a new file under /var/tmp and about
        //  30 pwrite calls per order, more than the commit itself wrote.
        //  In memory it is bounded by the pages one group touches.
        "PRAGMA temp_store=MEMORY",
    };
    for (size_t i = 0; i < sizeof pragmas / sizeof pragmas [0]; i++) {
        if (s_pragma (self, pragmas [i]) != SQLITE_OK) {
            snprintf (err, errlen, "cannot set up %s (%s): %s", path, pragmas [i],
                      sqlite3_errmsg (self->conn));
            goto fail;
        }
    }
    s_memory_note (self, false);
    return &self->base;

fail:
    sqlite3_close_v2 (self->conn);
    free (self);
    return NULL;
}

//  Closes the connection (db.c has freed the cached statements).
static void
s_close (db_t *db)
{
    sqlite_db_t *self = (sqlite_db_t *) db;
    s_memory_note (self, true);
    sqlite3_close_v2 (self->conn);
    free (self);
}

//  Runs SQL without parameters or rows.
static int
s_exec (db_t *db, const char *sql)
{
    sqlite_db_t *self = (sqlite_db_t *) db;
    self->err [0] = 0;
    int rc = sqlite3_exec (self->conn, sql, NULL, NULL, NULL);
    return rc == SQLITE_OK ? DB_OK : s_map (rc);
}

//  Starts a write transaction, taking the write lock now.
static int
s_begin (db_t *db)
{
    return s_exec (db, "BEGIN IMMEDIATE");
}

//  Commits; on failure the transaction is rolled back so the connection
//  is usable again.
static int
s_commit (db_t *db)
{
    sqlite_db_t *self = (sqlite_db_t *) db;
    int rc = s_exec (db, "COMMIT");
    if (rc != DB_OK && !sqlite3_get_autocommit (self->conn)) {
        //  Keep why the commit failed; the rollback resets SQLite's message.
        snprintf (self->err, sizeof self->err, "commit: %s", sqlite3_errmsg (self->conn));
        sqlite3_exec (self->conn, "ROLLBACK", NULL, NULL, NULL);
    }
    s_memory_note (self, false);
    return rc;
}

//  Rolls back the open transaction, if any.
static void
s_rollback (db_t *db)
{
    sqlite_db_t *self = (sqlite_db_t *) db;
    if (!sqlite3_get_autocommit (self->conn))
        sqlite3_exec (self->conn, "ROLLBACK", NULL, NULL, NULL);
    s_memory_note (self, false);
}

//  Sets the busy timeout: how long BEGIN IMMEDIATE (and any statement)
//  waits for another connection's lock.
static int
s_set_lock_wait (db_t *db, int64_t wait_ms)
{
    sqlite_db_t *self = (sqlite_db_t *) db;
    int64_t ms = wait_ms > 0 ? wait_ms : SQLITE_BUSY_MS;
    if (ms > INT32_MAX)
        ms = INT32_MAX;
    self->busy_ms = ms;
    return DB_OK;
}

//  Prepares a statement kept for the connection's lifetime.
static db_stmt_t *
s_prepare (db_t *db, const char *sql)
{
    sqlite_db_t *self = (sqlite_db_t *) db;
    self->err [0] = 0;
    sqlite3_stmt *stmt = NULL;
    int rc = sqlite3_prepare_v3 (self->conn, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt, NULL);
    if (rc != SQLITE_OK || !stmt) {
        sqlite3_finalize (stmt);
        if (rc == SQLITE_OK)
            snprintf (self->err, sizeof self->err, "empty SQL statement");
        return NULL;
    }
    sqlite_stmt_t *self_st = (sqlite_stmt_t *) calloc (1, sizeof *self_st);
    if (!self_st) {
        sqlite3_finalize (stmt);
        snprintf (self->err, sizeof self->err, "out of memory");
        return NULL;
    }
    self_st->st = stmt;
    return &self_st->base;
}

//  Finalizes a statement.
static void
s_stmt_free (db_stmt_t *st)
{
    sqlite_stmt_t *self = (sqlite_stmt_t *) st;
    sqlite3_finalize (self->st);
    free (self);
}

//  Binds an integer.
static int
s_bind_int64 (db_stmt_t *st, int idx, int64_t value)
{
    int rc = sqlite3_bind_int64 (((sqlite_stmt_t *) st)->st, idx, (sqlite3_int64) value);
    return rc == SQLITE_OK ? DB_OK : s_map (rc);
}

//  Binds text (copied) or NULL.
static int
s_bind_text (db_stmt_t *st, int idx, const char *text)
{
    sqlite3_stmt *stmt = ((sqlite_stmt_t *) st)->st;
    int rc = text ? sqlite3_bind_text (stmt, idx, text, -1, SQLITE_TRANSIENT)
                  : sqlite3_bind_null (stmt, idx);
    return rc == SQLITE_OK ? DB_OK : s_map (rc);
}

//  Executes or advances.
static int
s_step (db_stmt_t *st)
{
    sqlite_db_t *db = (sqlite_db_t *) st->db;
    db->err [0] = 0;
    return s_map (sqlite3_step (((sqlite_stmt_t *) st)->st));
}

//  Integer column.
static int64_t
s_column_int64 (db_stmt_t *st, int col)
{
    return (int64_t) sqlite3_column_int64 (((sqlite_stmt_t *) st)->st, col);
}

//  Text column, NULL for SQL NULL.
static const char *
s_column_text (db_stmt_t *st, int col)
{
    return (const char *) sqlite3_column_text (((sqlite_stmt_t *) st)->st, col);
}

//  Whether a column is SQL NULL.
static int
s_column_is_null (db_stmt_t *st, int col)
{
    return sqlite3_column_type (((sqlite_stmt_t *) st)->st, col) == SQLITE_NULL;
}

//  Ready to run again, bindings cleared.
static void
s_reset (db_stmt_t *st)
{
    sqlite3_stmt *stmt = ((sqlite_stmt_t *) st)->st;
    sqlite3_reset (stmt);
    sqlite3_clear_bindings (stmt);
}

//  Rows changed by the last write.
static int64_t
s_changes (db_t *db)
{
    return (int64_t) sqlite3_changes64 (((sqlite_db_t *) db)->conn);
}

//  Last rowid inserted.
static int64_t
s_last_insert_id (db_t *db)
{
    return (int64_t) sqlite3_last_insert_rowid (((sqlite_db_t *) db)->conn);
}

//  A file database is there as long as the connection is; a trivial query
//  still proves the file is readable.
static int
s_ping (db_t *db)
{
    sqlite_db_t *self = (sqlite_db_t *) db;
    int rc = sqlite3_exec (self->conn, "SELECT 1", NULL, NULL, NULL);
    return rc == SQLITE_OK ? DB_OK : DB_UNAVAILABLE;
}

//  Last error text.
static const char *
s_errmsg (db_t *db)
{
    sqlite_db_t *self = (sqlite_db_t *) db;
    return self->err [0] ? self->err : sqlite3_errmsg (self->conn);
}

//  Defers a statement: a write runs now, one that returns rows at its
//  first step (see db_defer).
static int
s_defer (db_t *db, db_stmt_t *st, const char *sql, size_t idx)
{
    if (!st)
        return s_exec (db, sql);
    sqlite3_stmt *stmt = ((sqlite_stmt_t *) st)->st;
    if (sqlite3_column_count (stmt) > 0)
        return DB_OK;
    int rc = s_step (st);
    if (rc < 0)
        return rc;
    db->deferred [idx].changes = s_changes (db);
    db->deferred [idx].id = s_last_insert_id (db);
    return DB_OK;
}

//  Nothing waits: deferred writes ran at once.
static int
s_flush (db_t *db)
{
    (void) db;
    return DB_OK;
}

const db_driver_t db_sqlite_driver = {
    .dialect = DB_SQLITE,
    .scheme = "sqlite",
    .open = s_open,
    .close = s_close,
    .exec = s_exec,
    .begin = s_begin,
    .commit = s_commit,
    .rollback = s_rollback,
    .set_lock_wait = s_set_lock_wait,
    .defer = s_defer,
    .flush = s_flush,
    .prepare = s_prepare,
    .stmt_free = s_stmt_free,
    .bind_int64 = s_bind_int64,
    .bind_text = s_bind_text,
    .step = s_step,
    .column_int64 = s_column_int64,
    .column_text = s_column_text,
    .column_is_null = s_column_is_null,
    .reset = s_reset,
    .changes = s_changes,
    .last_insert_id = s_last_insert_id,
    .ping = s_ping,
    .errmsg = s_errmsg,
};


//  Turns SQLite's memory statistics off (see db.h).
int
db_sqlite_setup (void)
{
    return sqlite3_config (SQLITE_CONFIG_MEMSTATUS, 0) == SQLITE_OK ? 0 : -1;
}

//  What the open connections hold (see db.h).
int64_t
db_sqlite_memory (void)
{
    return atomic_load (&s_memory);
}
