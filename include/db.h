/*  db — the narrow SQL driver the stores are written on. A db_t is one
    connection, used by one thread only. Business SQL is written once (the
    command store's store/schema.c, points.c, orders.c, … and
    store/display_store.c) against this interface; each
    backend (store/db_sqlite.c, store/db_mysql.c) only maps it to its C API.

    SQL uses plain `?` placeholders, one bind per occurrence (MySQL has no
    numbered placeholders). Where the dialects differ, the store asks
    db_dialect() and picks the text.

    Statements are prepared once per connection and cached by the address of
    their SQL text (pass string literals or other static text):
        db_stmt_t *st = db_stmt (db, "SELECT balance FROM point WHERE customer_id = ?");
        db_bind_text (st, 1, id);
        if (db_step (st) == DB_ROW) balance = db_column_int64 (st, 0);
        db_reset (st);
    A backend that loses its connection reconnects on the next call and
    prepares its statements again; the call that saw the loss returns
    DB_UNAVAILABLE. */
#ifndef DB_H_INCLUDED
#define DB_H_INCLUDED

#include <stdint.h>
#include <stddef.h>
#include <stdbool.h>
#include <czmq.h>

typedef enum { DB_SQLITE = 1, DB_MYSQL = 2 } db_dialect_t;

//  Return codes. Negative ones are failures.
#define DB_OK            0      //  done
#define DB_ROW           1      //  db_step: a row is ready
#define DB_DONE          2      //  db_step: no (more) rows / statement finished
#define DB_DUPLICATE   (-2)     //  a unique or primary key constraint refused the row
#define DB_UNAVAILABLE (-3)     //  connection lost, server down, too many connections
#define DB_TIMEOUT     (-4)     //  a lock wait passed its bound (db_set_lock_wait, or
                                //  the backend's default): the statement did nothing
#define DB_ERROR       (-1)     //  anything else (a bug: bad SQL, wrong bind)
#define DB_DEADLOCK    (-5)     //  the server broke a deadlock by rolling this whole
                                //  transaction back (MySQL): none of it stands, and
                                //  running it again is safe

typedef struct _db_t db_t;
typedef struct _db_stmt_t db_stmt_t;

//  Opens a connection. URL forms:
//      sqlite:PATH  or a bare PATH      SQLite file (WAL, busy timeout 5 s)
//      mysql://USER:PASS@HOST:PORT/DB   MariaDB/MySQL (user and password may
//          instead come from COFFEE_MYSQL_USER / COFFEE_MYSQL_PASSWORD)
//  Returns NULL with a message in err; the message never contains a password.
db_t *db_open (const char *url, char *err, size_t errlen);
void db_destroy (db_t **self_p);

db_dialect_t db_dialect (db_t *self);

//  Runs SQL without parameters or rows (DDL, pragmas).
int db_exec (db_t *self, const char *sql);

//  Transactions. db_begin starts a write transaction (SQLite: BEGIN
//  IMMEDIATE, so two writers never deadlock on lock upgrade; MySQL: START
//  TRANSACTION, sent with the transaction's first statement, which then
//  reports a server gone).
int db_begin (db_t *self);
int db_commit (db_t *self);
void db_rollback (db_t *self);

//  Bounds how long the following db_begin and statements of this
//  connection wait for another connection's locks, to wait_ms (> 0), or
//  back to the backend's default (0). Past the bound the call fails with
//  DB_TIMEOUT and has done nothing. SQLite: the busy timeout (BEGIN
//  IMMEDIATE is where a writer waits); MariaDB: max_statement_time, which
//  takes fractional seconds (MySQL, which lacks it:
//  innodb_lock_wait_timeout, whole seconds, at least 1). The bound stays
//  until it is set again; setting the value already set costs nothing.
int db_set_lock_wait (db_t *self, int64_t wait_ms);

//  Sets the page cache of an SQLite connection to kib KiB (every
//  connection opens with 256 KiB); nothing on MySQL. DB_OK or a failure code.
int db_set_cache (db_t *self, int kib);

//  Savepoints inside a transaction (name: a static identifier).
//  db_savepoint marks a point; db_savepoint_rollback undoes what ran since
//  and keeps the transaction open (and the savepoint); db_savepoint_release
//  keeps what ran and forgets the savepoint. DB_OK or a failure code; after
//  a failed rollback to a savepoint the transaction is lost: roll it back
//  whole.
int db_savepoint (db_t *self, const char *name);
int db_savepoint_rollback (db_t *self, const char *name);
int db_savepoint_release (db_t *self, const char *name);

//  The cached prepared statement for sql (see above), or NULL when it cannot
//  be prepared (db_errmsg says why; DB_UNAVAILABLE-type failures included).
db_stmt_t *db_stmt (db_t *self, const char *sql);

//  Binds parameter idx (1-based). Text is copied; NULL binds SQL NULL.
int db_bind_int64 (db_stmt_t *st, int idx, int64_t value);
int db_bind_text (db_stmt_t *st, int idx, const char *text);

//  Executes or advances: DB_ROW, DB_DONE, or a failure code.
int db_step (db_stmt_t *st);

//  Columns of the current row (0-based). Text is valid until the next
//  step or reset; NULL for SQL NULL.
int64_t db_column_int64 (db_stmt_t *st, int col);
const char *db_column_text (db_stmt_t *st, int col);
int db_column_is_null (db_stmt_t *st, int col);

//  Makes the statement ready to bind and run again; clears its bindings.
void db_reset (db_stmt_t *st);

//  Deferred statements: several in one round trip on MySQL.
//
//      int a = db_defer (st1);     //  bound as for db_step; reset it after
//      int b = db_defer (st2);
//      if (db_flush (db) == DB_OK && db_deferred_changes (db, b) == 1) ...
//
//  db_defer takes a bound statement to run later and returns its index
//  among the statements deferred since the last flush (>= 0), or a failure
//  code. What is deferred runs in order, before anything else the
//  connection runs: at db_flush, or at the next call that must answer
//  (db_exec, db_step of a statement not deferred, db_commit,
//  db_savepoint_rollback), which then fails with the first failure among
//  them and does not run its own statement. When one fails, none after it
//  runs. MySQL sends them with the next statement as one multi-statement
//  text, the values written in as literals; there db_savepoint is deferred
//  too (a failed mark shows at the next call). SQLite runs a write at once
//  (db_defer returns its failure), and a statement that returns rows at
//  its first db_step.
//
//  A deferred statement that returns rows keeps them: read them with
//  db_step after the flush (a step before it flushes), then db_reset it;
//  do not bind or defer it again before. When its rows did not come (a
//  statement before it failed) the step fails. On SQLite it runs at that
//  first db_step, so defer no write after it that it must not see.
int db_defer (db_stmt_t *st);

//  Runs what is deferred: DB_OK, or the failure of the first that failed.
int db_flush (db_t *self);

//  After the flush, deferred statement idx's changed rows and the
//  auto-increment id its INSERT reported (as db_changes and
//  db_last_insert_id would have right after it ran).
int64_t db_deferred_changes (db_t *self, int idx);
int64_t db_deferred_id (db_t *self, int idx);

//  Rows changed by the last INSERT/UPDATE/DELETE, and the last
//  auto-increment id, on this connection.
int64_t db_changes (db_t *self);
int64_t db_last_insert_id (db_t *self);

//  How many transactions this connection committed (db_commit that
//  succeeded), and how many times work may have been undone: each
//  db_rollback (whether or not a transaction was open), each
//  db_savepoint_rollback, each db_commit that failed (committed or not,
//  unknown), and each db_begin while a transaction begun before had not
//  ended through db_commit or db_rollback (SQLite rolls back by itself on
//  some errors). A caller that noted both when it wrote in the open
//  transaction knows the write stands once the first moved and the
//  second did not, and that it may be gone once the second moved.
uint64_t db_commits (db_t *self);
uint64_t db_undos (db_t *self);

//  Cheap round trip to the server (reconnects if needed): DB_OK or DB_UNAVAILABLE.
int db_ping (db_t *self);

//  The failure code (DB_TIMEOUT, DB_UNAVAILABLE, …) the last failing
//  call of this connection returned, or DB_OK when none failed since
//  db_begin or the last db_last_failure, which clears it: lets a caller
//  that saw "failed" tell a lock wait cut short (nothing ran, try again)
//  from a lost server.
int db_last_failure (db_t *self);

//  Last error text of this connection (never NULL).
const char *db_errmsg (db_t *self);

//  Tightens a SQLite file and its -wal, -shm and -journal companions to
//  0600 (owner only), those that exist; SQLite creates the companions
//  with the main file's mode, so doing it right after the open covers
//  them too. When the file existed before (made by an older release or
//  by hand) it logs a line for each one it had to tighten. Returns 0, or
//  -1 with errno set when a chmod failed.
int db_file_protect (const char *path, bool existed);

//  Turns SQLite's memory statistics off, before any other SQLite call (the
//  first thing main does; later it fails and changes nothing). With them
//  on, every allocation of every SQLite connection in the process takes one
//  global mutex: the order actor spent about a tenth of its time on it
//  while the relay, the sinks and the display side used their own
//  connections. 0 or -1.
int db_sqlite_setup (void);

//  Bytes the open connections of this backend hold (page caches, schemas,
//  prepared statements), as each last counted them when a transaction
//  ended.
int64_t db_sqlite_memory (void);

//  The actor (zactor_new (db_sqlite_checkpointer, url)) that checkpoints
//  the SQLite file of url (sqlite:PATH, a string that outlives it) for
//  every connection of this process, on a thread of its own. Without one,
//  the connection whose commit leaves 1000 pages or more in the WAL copies
//  them back into the file and syncs it before its thread goes on: on the
//  order actor that stalled a group of orders for each checkpoint. While
//  it runs, writers checkpoint only when it falls far behind (4000 pages).
//  When it cannot start (the file cannot be opened, another checkpointer
//  of this process works for it) it logs why and only waits for $TERM;
//  the writers then checkpoint as they did. Commands: $TERM.
void db_sqlite_checkpointer (zsock_t *pipe, void *args);

//  Checkpoints run in this process so far: by checkpointers, and by
//  writers after their commits. Either may be NULL.
void db_sqlite_checkpoints (int64_t *background, int64_t *by_writers);

#endif
