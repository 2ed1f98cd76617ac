/*  retention — the prune SQL of the command store (include/retention.h).
    Each batch is one transaction that deletes at most batch_rows rows
    picked by an index: SQLite deletes by rowid from a bounded sub-select,
    MariaDB/MySQL with DELETE … LIMIT. */
#include "store_impl.h"
#include "retention.h"

static const char SQL_OUTBOX_SQLITE [] =
    "DELETE FROM outbox WHERE id IN (SELECT id FROM outbox"
    " WHERE published_at IS NOT NULL AND published_at < ? ORDER BY id LIMIT ?)";
static const char SQL_OUTBOX_MYSQL [] =
    "DELETE FROM outbox WHERE published_at IS NOT NULL AND published_at < ?"
    " ORDER BY id LIMIT ?";
static const char SQL_IDEM_SQLITE [] =
    "DELETE FROM idempotency WHERE rowid IN (SELECT rowid FROM idempotency"
    " WHERE state = ? AND updated_at < ? LIMIT ?)";
static const char SQL_MARK_SQLITE [] =
    "DELETE FROM commit_mark WHERE rowid IN (SELECT rowid FROM commit_mark"
    " WHERE created_at < ? LIMIT ?)";
static const char SQL_MARK_MYSQL [] =
    "DELETE FROM commit_mark WHERE created_at < ? LIMIT ?";
static const char SQL_IDEM_MYSQL [] =
    "DELETE FROM idempotency WHERE state = ? AND updated_at < ? LIMIT ?";

//  Runs one bounded DELETE in its own transaction: binds state (NULL:
//  none), before_ms and limit in that order. Returns the rows deleted, or
//  -1 on a store failure (rolled back).
static int64_t
s_batch (store_t *self, const char *sql, const char *state, int64_t before_ms, int limit)
{
    db_t *db = self->db;
    if (db_begin (db) != DB_OK)
        return -1;
    db_stmt_t *st = db_stmt (db, sql);
    int idx = 1;
    int rc = st? DB_OK: DB_ERROR;
    if (rc == DB_OK && state)
        rc = db_bind_text (st, idx++, state);
    if (rc == DB_OK)
        rc = db_bind_int64 (st, idx++, before_ms);
    if (rc == DB_OK)
        rc = db_bind_int64 (st, idx++, limit);
    if (rc == DB_OK)
        rc = db_step (st);
    int64_t changed = rc == DB_DONE? db_changes (db): -1;
    if (st)
        db_reset (st);
    if (changed < 0 || db_commit (db) != DB_OK) {
        log_warn ("-", "retention: %s", db_errmsg (db));
        db_rollback (db);
        return -1;
    }
    return changed;
}

//  Runs batches of sql until one deletes fewer than batch_rows rows or
//  batches ran; adds what was deleted to *pruned.
static int
s_prune (store_t *self, const char *sql, const char *state, int64_t before_ms,
         int batch_rows, int batches, int64_t *pruned)
{
    for (int i = 0; i < batches; i++) {
        int64_t n = s_batch (self, sql, state, before_ms, batch_rows);
        if (n < 0)
            return -1;
        *pruned += n;
        if (n < batch_rows)
            break;
    }
    return 0;
}

//  Deletes published outbox rows published before before_ms.
int
retention_prune_outbox (store_t *self, int64_t before_ms, int batch_rows, int batches,
                        int64_t *pruned)
{
    assert (self && pruned && batch_rows > 0);
    *pruned = 0;
    const char *sql = db_dialect (self->db) == DB_MYSQL? SQL_OUTBOX_MYSQL: SQL_OUTBOX_SQLITE;
    return s_prune (self, sql, NULL, before_ms, batch_rows, batches, pruned);
}

//  Deletes finished keys before done_before_ms and crash-left 'running'
//  ones before running_before_ms.
int
retention_prune_idem (store_t *self, int64_t done_before_ms, int64_t running_before_ms,
                      int batch_rows, int batches, int64_t *done, int64_t *running)
{
    assert (self && done && running && batch_rows > 0);
    *done = 0;
    *running = 0;
    const char *sql = db_dialect (self->db) == DB_MYSQL? SQL_IDEM_MYSQL: SQL_IDEM_SQLITE;
    if (s_prune (self, sql, "done", done_before_ms, batch_rows, batches, done))
        return -1;
    return s_prune (self, sql, "running", running_before_ms, batch_rows, batches, running);
}

//  Deletes group commit marks made before before_ms.
int
retention_prune_marks (store_t *self, int64_t before_ms, int batch_rows, int batches,
                       int64_t *pruned)
{
    assert (self && pruned && batch_rows > 0);
    *pruned = 0;
    const char *sql = db_dialect (self->db) == DB_MYSQL? SQL_MARK_MYSQL: SQL_MARK_SQLITE;
    return s_prune (self, sql, NULL, before_ms, batch_rows, batches, pruned);
}
