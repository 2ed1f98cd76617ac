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
    upgrading a read lock to a write lock.

    Checkpoints (copying the WAL back into the file, with its fsyncs) run
    on a thread of their own, db_sqlite_checkpointer, for the files `coffee
    serve` writes; a writer runs one after its commit only when that
    thread is missing or far behind (s_wal_hook). */
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
#include <limits.h>
#include <pthread.h>

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
//  A checkpointer (db_sqlite_checkpointer) restarts the WAL past this
//  many pages, before its writers would: with one on the file, a writer
//  checkpoints only past SQLITE_WAL_RESTART_PAGES, and then as without.
#define SQLITE_CKPT_RESTART_PAGES 3000
//  The checkpointer looks at its file's WAL this often while writers
//  commit, and this often when none did since its last look.
#define SQLITE_CKPT_BUSY_MS 10
#define SQLITE_CKPT_IDLE_MS 100
#define SQLITE_CKPT_SLOTS 4         //  files checkpointed in one process
_Static_assert (SQLITE_CKPT_SLOTS == 4, "s_ckpt initialises each slot's mutex: one per slot");

//  Bytes the open connections hold (page caches, schemas, statements), as
//  each last counted them at the end of a transaction (s_memory_note).
static _Atomic int64_t s_memory;

//  A file a checkpointer of this process works for.
typedef struct {
    char path [PATH_MAX];           //  the file, as SQLite names it; "" when free
    _Atomic int frames;             //  frames in its WAL after a writer's last commit
    //  Held while a checkpoint of the file runs in this process. SQLite
    //  lets one checkpoint run at a time and turns the others away at
    //  once, without the busy handler: a writer far behind waits on this
    //  for the checkpointer's to end rather than leave the WAL growing.
    pthread_mutex_t running;
} s_ckpt_slot_t;

//  The checkpointers of this process. Process-wide, as the files are:
//  each actor opens its own connections by URL, and a writer finds its
//  file's checkpointer here by the file's name.
static struct {
    pthread_mutex_t lock;           //  guards the slots' paths
    s_ckpt_slot_t slots [SQLITE_CKPT_SLOTS];
    _Atomic unsigned generation;    //  moves on when a slot is taken or freed
    _Atomic int64_t background;     //  checkpoints the checkpointers ran
    _Atomic int64_t by_writers;     //  checkpoints writers ran after their commits
    //  slots[].running for the files no checkpointer works for, all of them
    pthread_mutex_t running;
} s_ckpt = {
    .lock = PTHREAD_MUTEX_INITIALIZER,
    .running = PTHREAD_MUTEX_INITIALIZER,
    .slots = {
        { .running = PTHREAD_MUTEX_INITIALIZER }, { .running = PTHREAD_MUTEX_INITIALIZER },
        { .running = PTHREAD_MUTEX_INITIALIZER }, { .running = PTHREAD_MUTEX_INITIALIZER }
    },
    .generation = 1
};

typedef struct {
    db_t base;                      //  db.c's part; must come first
    sqlite3 *conn;                  //  the connection
    int64_t busy_ms;                //  busy timeout in force
    int64_t busy_since;             //  zclock_usecs when the current lock wait began
    int64_t memory;                 //  bytes it last counted in s_memory
    s_ckpt_slot_t *ckpt;            //  its file's checkpointer, NULL when none
    unsigned ckpt_generation;       //  s_ckpt.generation when ckpt was looked up
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

//  The checkpointer slot of the file self writes as name, looked up
//  again when a checkpointer started or stopped since the last look.
static s_ckpt_slot_t *
s_ckpt_slot (sqlite_db_t *self, const char *name)
{
    if (atomic_load (&s_ckpt.generation) == self->ckpt_generation)
        return self->ckpt;
    const char *path = sqlite3_db_filename (self->conn, name);
    pthread_mutex_lock (&s_ckpt.lock);
    self->ckpt = NULL;
    for (int i = 0; path && *path && i < SQLITE_CKPT_SLOTS; i++)
        if (strcmp (s_ckpt.slots [i].path, path) == 0)
            self->ckpt = &s_ckpt.slots [i];
    self->ckpt_generation = atomic_load (&s_ckpt.generation);
    pthread_mutex_unlock (&s_ckpt.lock);
    return self->ckpt;
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
//  When a checkpointer works for the file, the hook only tells it the
//  WAL's length, unless the WAL is past SQLITE_WAL_RESTART_PAGES: under
//  writers that commit back to back the checkpointer seldom gets the
//  write lock a RESTART needs, and a writer right after its commit does.
//  Before a RESTART a writer waits for the checkpoint another thread of
//  the process is running (slot->running, or s_ckpt.running for a file
//  without a checkpointer): SQLite would turn it away at once, and under
//  load the WAL grew past twice the bound while the writers went on
//  committing. A PASSIVE one it leaves to that thread.
static int
s_wal_hook (void *arg, sqlite3 *conn, const char *name, int pages)
{
    sqlite_db_t *self = (sqlite_db_t *) arg;
    s_ckpt_slot_t *slot = s_ckpt_slot (self, name);
    if (slot)
        atomic_store (&slot->frames, pages);
    if (pages < (slot ? SQLITE_WAL_RESTART_PAGES : SQLITE_WAL_PASSIVE_PAGES))
        return SQLITE_OK;
    pthread_mutex_t *running = slot ? &slot->running : &s_ckpt.running;
    if (pages < SQLITE_WAL_RESTART_PAGES) {
        //  Another thread's checkpoint is copying the pages back already
        if (pthread_mutex_trylock (running) == 0) {
            atomic_fetch_add (&s_ckpt.by_writers, 1);
            sqlite3_wal_checkpoint_v2 (conn, name, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
            pthread_mutex_unlock (running);
        }
        return SQLITE_OK;
    }
    atomic_fetch_add (&s_ckpt.by_writers, 1);
    int64_t busy_ms = self->busy_ms;
    self->busy_ms = busy_ms < SQLITE_WAL_RESTART_WAIT_MS ? busy_ms : SQLITE_WAL_RESTART_WAIT_MS;
    pthread_mutex_lock (running);
    sqlite3_wal_checkpoint_v2 (conn, name, SQLITE_CHECKPOINT_RESTART, NULL, NULL);
    pthread_mutex_unlock (running);
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

//  Checkpoints run so far (see db.h).
void
db_sqlite_checkpoints (int64_t *background, int64_t *by_writers)
{
    if (background)
        *background = atomic_load (&s_ckpt.background);
    if (by_writers)
        *by_writers = atomic_load (&s_ckpt.by_writers);
}

//  ---------------------------------------------------------------------
//  The checkpointer

//  Takes a slot for the file self has open, so that its writers leave the
//  checkpoints to self. NULL when there is none to take: *taken when
//  another checkpointer of this process works for the file, else with why
//  in err (an in-memory file, all slots taken).
static s_ckpt_slot_t *
s_ckpt_claim (sqlite_db_t *self, bool *taken, char *err, size_t errlen)
{
    *taken = false;
    const char *path = sqlite3_db_filename (self->conn, "main");
    if (!path || !*path || strlen (path) >= PATH_MAX) {
        snprintf (err, errlen, "not a file of its own");
        return NULL;
    }
    s_ckpt_slot_t *slot = NULL;
    pthread_mutex_lock (&s_ckpt.lock);
    for (int i = 0; i < SQLITE_CKPT_SLOTS && !*taken; i++) {
        *taken = strcmp (s_ckpt.slots [i].path, path) == 0;
        if (!slot && !*s_ckpt.slots [i].path)
            slot = &s_ckpt.slots [i];
    }
    if (*taken)
        slot = NULL;
    else
    if (slot) {
        snprintf (slot->path, sizeof slot->path, "%s", path);
        atomic_store (&slot->frames, 0);
        atomic_fetch_add (&s_ckpt.generation, 1);
    }
    else
        snprintf (err, errlen, "%d files have checkpointers already", SQLITE_CKPT_SLOTS);
    pthread_mutex_unlock (&s_ckpt.lock);
    return slot;
}

//  Frees the slot: the file's writers checkpoint it again themselves.
static void
s_ckpt_release (s_ckpt_slot_t *slot)
{
    if (!slot)
        return;
    pthread_mutex_lock (&s_ckpt.lock);
    slot->path [0] = 0;
    atomic_fetch_add (&s_ckpt.generation, 1);
    pthread_mutex_unlock (&s_ckpt.lock);
}

//  Copies the WAL back into the file (PASSIVE: writers go on meanwhile),
//  and past SQLITE_CKPT_RESTART_PAGES waits for the readers, as s_wal_hook
//  does, so that the next writer starts the WAL over. Returns the frames
//  copied back, or backfilled when the checkpoint could not run (another
//  process's was running).
static int
s_ckpt_run (sqlite_db_t *self, s_ckpt_slot_t *slot, int backfilled)
{
    int frames = 0, copied = 0;
    pthread_mutex_lock (&slot->running);
    if (sqlite3_wal_checkpoint_v2 (self->conn, "main", SQLITE_CHECKPOINT_PASSIVE,
                                   &frames, &copied) != SQLITE_OK)
        copied = backfilled;
    else {
        atomic_fetch_add (&s_ckpt.background, 1);
        if (frames >= SQLITE_CKPT_RESTART_PAGES
        &&  sqlite3_wal_checkpoint_v2 (self->conn, "main", SQLITE_CHECKPOINT_RESTART,
                                       &frames, &copied) == SQLITE_OK)
            atomic_fetch_add (&s_ckpt.background, 1);
    }
    pthread_mutex_unlock (&slot->running);
    return copied;
}

//  Checkpoints the file of args (see db.h).
void
db_sqlite_checkpointer (zsock_t *pipe, void *args)
{
    const char *url = (const char *) args;
    char err [256] = "";
    bool taken = false;
    sqlite_db_t *self = (sqlite_db_t *) s_open (url, err, sizeof err);
    s_ckpt_slot_t *slot = self ? s_ckpt_claim (self, &taken, err, sizeof err) : NULL;
    zpoller_t *poller = slot ? zpoller_new (pipe, NULL) : NULL;
    if (slot && !poller)
        snprintf (err, sizeof err, "no poller");
    if (poller)
        zpoller_set_nonstop (poller, true);
    else
    if (taken)
        log_info (NULL, "checkpointer of %s: another one works for it", url);
    else
        //  The writers go on checkpointing after their commits
        log_warn (NULL, "checkpointer of %s: %s; the threads that write it checkpoint it",
                  url, err);
    if (!poller) {
        s_ckpt_release (slot);
        slot = NULL;
    }
    if (self)
        self->busy_ms = SQLITE_WAL_RESTART_WAIT_MS;
    zsock_signal (pipe, 0);

    int backfilled = 0;             //  frames of the WAL copied back by the last run
    int seen = 0;                   //  the WAL's frames at the last look
    bool busy = false;              //  writers committed since the look before
    while (true) {
        void *which = poller
                    ? zpoller_wait (poller, busy ? SQLITE_CKPT_BUSY_MS : SQLITE_CKPT_IDLE_MS)
                    : pipe;
        if (which == pipe) {
            char *command = zstr_recv (pipe);
            bool term = !command || streq (command, "$TERM");
            zstr_free (&command);
            if (term)
                break;
            continue;
        }
        int frames = atomic_load (&slot->frames);
        busy = frames != seen;
        seen = frames;
        if (frames < backfilled)
            backfilled = 0;         //  a writer started the WAL over
        if (frames - backfilled >= SQLITE_WAL_PASSIVE_PAGES)
            backfilled = s_ckpt_run (self, slot, backfilled);
    }
    zpoller_destroy (&poller);
    s_ckpt_release (slot);
    if (self)
        s_close (&self->base);
}
