/*  outbox — the events committed with what they tell (orders, menu
    changes), and the relay's claim, mark (one UPDATE per batch) and release
    of them. A row carries its kind, its key (column order_no, named when
    orders were the only kind: the event log key, an order number or a menu
    id) and the whole envelope (event.h) as its payload. */
#include "store_impl.h"

// ---------------------------------------------------------------------------
//  Outbox

static const char SQL_OUTBOX_CLAIM_SQLITE [] =
    "SELECT id, order_no, payload, kind FROM outbox WHERE published_at IS NULL ORDER BY id LIMIT ?";
static const char SQL_OUTBOX_CLAIM_MYSQL [] =
    "SELECT id, order_no, payload, kind FROM outbox WHERE published_at IS NULL ORDER BY id LIMIT ?"
    " FOR UPDATE SKIP LOCKED";
//  Placeholders of the batch mark: STORE_OUTBOX_MARK_MAX (256) ids.
#define Q4    "?,?,?,?"
#define Q16   Q4 "," Q4 "," Q4 "," Q4
#define Q64   Q16 "," Q16 "," Q16 "," Q16
#define Q256  Q64 "," Q64 "," Q64 "," Q64
//  By id alone, so MySQL finds the rows by the primary key: with
//  "published_at IS NULL" in the WHERE, MariaDB chose the
//  (published_at, id) index and, as the UPDATE changes that index, read
//  the rows into a buffer first ("Using buffer"): a 65-row mark took about
//  2.0 ms, 1.6 by the key (an idle server, COMMIT included). A row that is
//  published already keeps its time.
static const char SQL_OUTBOX_MARK [] =
    "UPDATE outbox SET published_at = COALESCE(published_at, ?) WHERE id IN (" Q256 ")";
static const char SQL_OUTBOX_INSERT [] =
    "INSERT INTO outbox (order_no, payload, created_at, published_at, kind)"
    " VALUES (?, ?, ?, NULL, ?)";
static const char SQL_OUTBOX_PENDING [] =
    "SELECT COUNT(*) FROM outbox WHERE published_at IS NULL";

//  Reads up to limit unpublished rows (see store.h).
int
store_outbox_claim (store_t *self, size_t limit, store_outbox_row_t **rows, size_t *count)
{
    db_t *db = self->db;
    bool mysql = db_dialect (db) == DB_MYSQL;
    *rows = NULL;
    *count = 0;
    if (self->claim_open) {
        db_rollback (db);
        self->claim_open = false;
    }
    if (limit == 0)
        return 0;
    store_outbox_row_t *list = (store_outbox_row_t *) calloc (limit, sizeof *list);
    if (!list)
        return -1;
    if (mysql && db_begin (db) != DB_OK) {
        free (list);
        return -1;
    }
    size_t n = 0;
    db_stmt_t *st = db_stmt (db, sqlkit_pick (db, SQL_OUTBOX_CLAIM_SQLITE, SQL_OUTBOX_CLAIM_MYSQL));
    int rc = st ? db_bind_int64 (st, 1, (int64_t) limit) : DB_ERROR;
    while ((rc == DB_OK || rc == DB_ROW) && n < limit) {
        rc = db_step (st);
        if (rc != DB_ROW)
            break;
        const char *key = db_column_text (st, 1);
        const char *payload = db_column_text (st, 2);
        const char *kind = db_column_text (st, 3);
        list [n].id = db_column_int64 (st, 0);
        snprintf (list [n].key, sizeof list [n].key, "%s", key ? key : "");
        snprintf (list [n].kind, sizeof list [n].kind, "%s", kind ? kind : "");
        list [n].payload = strdup (payload ? payload : "");
        if (!list [n].payload) {
            rc = DB_ERROR;
            break;
        }
        n++;
    }
    db_reset (st);
    if (rc != DB_DONE && rc != DB_ROW) {
        if (mysql)
            db_rollback (db);
        store_outbox_rows_free (&list, n);
        log_warn ("-", "store: outbox claim failed: %s", db_errmsg (db));
        return -1;
    }
    if (mysql) {
        if (n == 0)
            db_rollback (db);       //  nothing held: end the claim now
        else
            self->claim_open = true;
    }
    if (n == 0) {
        free (list);
        list = NULL;
    }
    *rows = list;
    *count = n;
    return 0;
}

//  Marks the first count claimed rows published and ends the claim. The
//  UPDATEs are deferred: on MySQL they go with the COMMIT, in one round
//  trip, and a failure among them stops it.
int
store_outbox_mark (store_t *self, const store_outbox_row_t *rows, size_t count, int64_t now_ms)
{
    db_t *db = self->db;
    if (!self->claim_open && db_begin (db) != DB_OK)
        return -1;
    self->claim_open = false;
    db_stmt_t *st = db_stmt (db, SQL_OUTBOX_MARK);
    if (!st)
        goto fail;
    //  One UPDATE per STORE_OUTBOX_MARK_MAX rows; unused places repeat the
    //  chunk's first id, which IN ignores.
    for (size_t from = 0; from < count; from += STORE_OUTBOX_MARK_MAX) {
        size_t n = count - from < STORE_OUTBOX_MARK_MAX ? count - from : STORE_OUTBOX_MARK_MAX;
        int rc = db_bind_int64 (st, 1, now_ms);
        for (size_t i = 0; i < STORE_OUTBOX_MARK_MAX && rc == DB_OK; i++)
            rc = db_bind_int64 (st, (int) i + 2, rows [from + (i < n ? i : 0)].id);
        if (rc == DB_OK)
            rc = db_defer (st) >= 0 ? DB_OK : DB_ERROR;
        db_reset (st);
        if (rc != DB_OK)
            goto fail;
    }
    if (db_commit (db) != DB_OK)
        goto fail;
    return 0;

fail:
    log_warn ("-", "store: outbox mark failed: %s", db_errmsg (db));
    db_rollback (db);
    return -1;
}

//  Ends a claim without marking anything.
void
store_outbox_release (store_t *self)
{
    if (self->claim_open) {
        db_rollback (self->db);
        self->claim_open = false;
    }
}

//  Frees claimed rows.
void
store_outbox_rows_free (store_outbox_row_t **rows, size_t count)
{
    if (!rows || !*rows)
        return;
    for (size_t i = 0; i < count; i++)
        free ((*rows) [i].payload);
    free (*rows);
    *rows = NULL;
}

//  Number of unpublished rows.
int
store_outbox_pending (store_t *self, int64_t *count)
{
    db_stmt_t *st = db_stmt (self->db, SQL_OUTBOX_PENDING);
    int rc = st ? db_step (st) : DB_ERROR;
    if (rc == DB_ROW)
        *count = db_column_int64 (st, 0);
    db_reset (st);
    return rc == DB_ROW ? 0 : -1;
}

//  Inserts one outbox row: kind, key, envelope.
int
store_outbox_add_event (db_t *db, event_kind_t kind, const char *key, const char *envelope,
                        int64_t now_ms)
{
    db_stmt_t *st = db_stmt (db, SQL_OUTBOX_INSERT);
    int rc = DB_ERROR;
    if (st && db_bind_text (st, 1, key) == DB_OK
           && db_bind_text (st, 2, envelope) == DB_OK
           && db_bind_int64 (st, 3, now_ms) == DB_OK
           && db_bind_text (st, 4, event_kind_name (kind)) == DB_OK)
        rc = db_step (st);
    db_reset (st);
    return rc == DB_DONE ? 0 : -1;
}

//  The envelope of an order's event.
char *
store_order_envelope (const char *order_no, const char *customer_id,
                      const store_order_line_t *lines, size_t count, int64_t pay_amt,
                      int64_t now_ms)
{
    event_line_t ev_lines [STORE_LINES_MAX];
    for (size_t i = 0; i < count; i++)
        ev_lines [i] = lines [i].line;
    event_order_t ev;
    memset (&ev, 0, sizeof ev);
    snprintf (ev.order_no, sizeof ev.order_no, "%s", order_no);
    snprintf (ev.customer_id, sizeof ev.customer_id, "%s", customer_id);
    ev.pay_amt = pay_amt;
    ev.ordered_at_ms = now_ms;
    ev.line_count = count;
    ev.lines = ev_lines;
    return event_order_envelope (&ev);
}

//  Adds the outbox row of an order.
int
store_outbox_add (db_t *db, const char *order_no, const char *customer_id,
              const store_order_line_t *lines, size_t count, int64_t pay_amt, int64_t now_ms)
{
    char *envelope = store_order_envelope (order_no, customer_id, lines, count, pay_amt, now_ms);
    if (!envelope)
        return -1;
    int rc = store_outbox_add_event (db, EVENT_KIND_ORDER, order_no, envelope, now_ms);
    zstr_free (&envelope);
    return rc;
}
