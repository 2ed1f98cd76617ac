/*  db — picks the backend from the URL and owns the prepared-statement
    cache; every other call is passed straight to the backend's driver
    table (store/db_impl.h). */
#include "db_impl.h"
#include <string.h>
#include <stdio.h>

//  Hashes a statement key: the address of its SQL text.
static size_t
s_key_hash (const void *key)
{
    uintptr_t v = (uintptr_t) key;
    return (size_t) (v ^ (v >> 17));
}

//  Compares two statement keys by address (not by text).
static int
s_key_compare (const void *a, const void *b)
{
    uintptr_t x = (uintptr_t) a, y = (uintptr_t) b;
    return x < y ? -1 : (x > y ? 1 : 0);
}

//  Frees a cached statement through its own backend.
static void
s_stmt_destroy (void **item)
{
    db_stmt_t *st = (db_stmt_t *) *item;
    if (st) {
        st->db->driver->stmt_free (st);
        *item = NULL;
    }
}

//  Chooses the driver a URL names: mysql:// → MySQL; sqlite: or a bare
//  path → SQLite. NULL with a message for a scheme we do not serve.
static const db_driver_t *
s_driver_for (const char *url, char *err, size_t errlen)
{
    if (strncmp (url, "mysql://", 8) == 0)
        return &db_mysql_driver;
    if (strncmp (url, "sqlite:", 7) == 0)
        return &db_sqlite_driver;
    //  Any other "scheme://" is a typo or an unsupported backend
    const char *sep = strstr (url, "://");
    if (sep) {
        snprintf (err, errlen, "unsupported database URL scheme '%.*s'",
                  (int) (sep - url < 32 ? sep - url : 32), url);
        return NULL;
    }
    return &db_sqlite_driver;
}

//  Opens a connection on the backend the URL names.
db_t *
db_open (const char *url, char *err, size_t errlen)
{
    char dummy [1];
    if (!err || errlen == 0) {
        err = dummy;
        errlen = sizeof dummy;
    }
    err [0] = 0;
    if (!url || !*url) {
        snprintf (err, errlen, "empty database URL");
        return NULL;
    }
    const db_driver_t *driver = s_driver_for (url, err, errlen);
    if (!driver)
        return NULL;
    db_t *self = driver->open (url, err, errlen);
    if (!self)
        return NULL;
    self->driver = driver;
    self->stmts = zhashx_new ();
    if (!self->stmts) {
        snprintf (err, errlen, "out of memory");
        driver->close (self);
        return NULL;
    }
    zhashx_set_key_hasher (self->stmts, s_key_hash);
    zhashx_set_key_comparator (self->stmts, s_key_compare);
    zhashx_set_key_duplicator (self->stmts, NULL);
    zhashx_set_key_destructor (self->stmts, NULL);
    zhashx_set_destructor (self->stmts, s_stmt_destroy);
    return self;
}

//  Frees every cached statement, then the connection.
void
db_destroy (db_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    db_t *self = *self_p;
    zhashx_destroy (&self->stmts);
    free (self->deferred);
    self->driver->close (self);
    *self_p = NULL;
}

//  Which SQL dialect the connection speaks.
db_dialect_t
db_dialect (db_t *self)
{
    return self->driver->dialect;
}

//  Remembers a failure code for db_last_failure; returns rc.
static int
s_note (db_t *self, int rc)
{
    if (rc < 0)
        self->last_failure = rc;
    return rc;
}

//  Runs SQL without parameters or rows.
int
db_exec (db_t *self, const char *sql)
{
    return s_note (self, self->driver->exec (self, sql));
}

//  Starts a write transaction.
int
db_begin (db_t *self)
{
    self->last_failure = DB_OK;
    if (self->in_tx)
        self->undos++;          //  the last one ended without a commit of ours
    int rc = s_note (self, self->driver->begin (self));
    self->in_tx = rc == DB_OK;
    return rc;
}

//  Commits the open transaction.
int
db_commit (db_t *self)
{
    int rc = s_note (self, self->driver->commit (self));
    if (rc == DB_OK)
        self->commits++;
    else
        self->undos++;          //  whether it committed is not known here
    self->in_tx = false;
    return rc;
}

//  Rolls back the open transaction (harmless when none is open).
void
db_rollback (db_t *self)
{
    self->undos++;
    self->in_tx = false;
    self->driver->rollback (self);
}

//  Transactions committed, and work that may have been undone (see db.h).
uint64_t
db_commits (db_t *self)
{
    return self->commits;
}

uint64_t
db_undos (db_t *self)
{
    return self->undos;
}

//  Bounds the lock waits of the following calls.
int
db_set_lock_wait (db_t *self, int64_t wait_ms)
{
    return s_note (self, self->driver->set_lock_wait (self, wait_ms < 0 ? 0 : wait_ms));
}

//  Sets the connection's page cache (SQLite; MySQL's caches are the
//  server's).
int
db_set_cache (db_t *self, int kib)
{
    if (self->driver->dialect != DB_SQLITE)
        return DB_OK;
    char sql [64];
    snprintf (sql, sizeof sql, "PRAGMA cache_size=-%d", kib > 0 ? kib : 1);
    return db_exec (self, sql);
}

//  Defers st, or sql when st is NULL (see db_defer): its index, or a
//  failure code.
static int
s_defer (db_t *self, db_stmt_t *st, const char *sql)
{
    if (self->deferred_ran) {
        self->deferred_count = 0;
        self->deferred_ran = false;
    }
    if (self->deferred_count == self->deferred_cap) {
        size_t cap = self->deferred_cap ? self->deferred_cap * 2 : 16;
        db_outcome_t *grown = (db_outcome_t *) realloc (self->deferred, cap * sizeof *grown);
        if (!grown)
            return s_note (self, DB_ERROR);
        self->deferred = grown;
        self->deferred_cap = cap;
    }
    size_t idx = self->deferred_count;
    memset (&self->deferred [idx], 0, sizeof self->deferred [idx]);
    int rc = self->driver->defer (self, st, sql, idx);
    if (rc < 0)
        return s_note (self, rc);
    self->deferred_count++;
    return (int) idx;
}

//  Defers a bound statement.
int
db_defer (db_stmt_t *st)
{
    return s_defer (st->db, st, NULL);
}

//  Runs what is deferred.
int
db_flush (db_t *self)
{
    self->deferred_ran = true;
    return s_note (self, self->driver->flush (self));
}

//  Rows deferred statement idx changed.
int64_t
db_deferred_changes (db_t *self, int idx)
{
    return idx >= 0 && (size_t) idx < self->deferred_count ? self->deferred [idx].changes : 0;
}

//  The auto-increment id deferred statement idx reported.
int64_t
db_deferred_id (db_t *self, int idx)
{
    return idx >= 0 && (size_t) idx < self->deferred_count ? self->deferred [idx].id : 0;
}

//  The savepoint statements, by what they do
typedef enum { S_MARK, S_UNDO, S_RELEASE } s_savepoint_t;

//  Runs "<verb> <name>" for the savepoint statements (same text in both
//  dialects). SQLite runs them as cached statements: a group of orders
//  runs two per order, and parsing them each time was a tenth of the
//  order's time. Their texts live in the connection, for the cache's keys;
//  a text that changes (another name) drops its old statement first.
static int
s_savepoint_exec (db_t *self, s_savepoint_t what, const char *name)
{
    static const char *verbs [] = { "SAVEPOINT", "ROLLBACK TO SAVEPOINT", "RELEASE SAVEPOINT" };
    char sql [sizeof self->savepoint [0]];
    snprintf (sql, sizeof sql, "%s %s", verbs [what], name);
    if (self->driver->dialect != DB_SQLITE) {
        //  MySQL: a mark needs no answer of its own, so it goes with the
        //  statement after it
        if (what == S_MARK)
            return s_defer (self, NULL, sql) >= 0 ? DB_OK : self->last_failure;
        return db_exec (self, sql);
    }
    char *text = self->savepoint [what];
    if (strcmp (text, sql) != 0) {
        zhashx_delete (self->stmts, text);
        memcpy (text, sql, sizeof sql);
    }
    db_stmt_t *st = db_stmt (self, text);
    if (!st)
        return s_note (self, DB_ERROR);
    int rc = db_step (st);
    db_reset (st);
    return rc == DB_DONE ? DB_OK : s_note (self, rc == DB_ROW ? DB_ERROR : rc);
}

//  Marks a savepoint.
int
db_savepoint (db_t *self, const char *name)
{
    return s_savepoint_exec (self, S_MARK, name);
}

//  Undoes what ran since the savepoint; the transaction stays open.
int
db_savepoint_rollback (db_t *self, const char *name)
{
    self->undos++;
    return s_savepoint_exec (self, S_UNDO, name);
}

//  Keeps what ran since the savepoint and forgets the savepoint.
int
db_savepoint_release (db_t *self, const char *name)
{
    return s_savepoint_exec (self, S_RELEASE, name);
}

//  The cached statement for sql, prepared on first use.
db_stmt_t *
db_stmt (db_t *self, const char *sql)
{
    db_stmt_t *st = (db_stmt_t *) zhashx_lookup (self->stmts, sql);
    if (st)
        return st;
    st = self->driver->prepare (self, sql);
    if (!st)
        return NULL;
    st->db = self;
    st->sql = sql;
    if (zhashx_insert (self->stmts, sql, st) != 0) {
        self->driver->stmt_free (st);
        return NULL;
    }
    return st;
}

//  Binds an integer parameter.
int
db_bind_int64 (db_stmt_t *st, int idx, int64_t value)
{
    return st->db->driver->bind_int64 (st, idx, value);
}

//  Binds a text parameter (copied) or SQL NULL.
int
db_bind_text (db_stmt_t *st, int idx, const char *text)
{
    return st->db->driver->bind_text (st, idx, text);
}

//  Executes or advances the statement.
int
db_step (db_stmt_t *st)
{
    return s_note (st->db, st->db->driver->step (st));
}

//  Integer value of a column of the current row.
int64_t
db_column_int64 (db_stmt_t *st, int col)
{
    return st->db->driver->column_int64 (st, col);
}

//  Text value of a column of the current row (NULL for SQL NULL).
const char *
db_column_text (db_stmt_t *st, int col)
{
    return st->db->driver->column_text (st, col);
}

//  Whether a column of the current row is SQL NULL.
int
db_column_is_null (db_stmt_t *st, int col)
{
    return st->db->driver->column_is_null (st, col);
}

//  Makes the statement ready to run again.
void
db_reset (db_stmt_t *st)
{
    if (st)
        st->db->driver->reset (st);
}

//  Rows changed by the last write statement.
int64_t
db_changes (db_t *self)
{
    return self->driver->changes (self);
}

//  The last auto-increment id on this connection.
int64_t
db_last_insert_id (db_t *self)
{
    return self->driver->last_insert_id (self);
}

//  Cheap liveness check.
int
db_ping (db_t *self)
{
    return self->driver->ping (self);
}

//  The last failure code since db_begin or the last call; clears it.
int
db_last_failure (db_t *self)
{
    int rc = self->last_failure;
    self->last_failure = DB_OK;
    return rc;
}

//  Last error text, never NULL.
const char *
db_errmsg (db_t *self)
{
    const char *msg = self->driver->errmsg (self);
    return msg ? msg : "";
}
