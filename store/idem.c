/*  idem — Idempotency-Keys of the command store (Stripe semantics, see
    store.h): claimed, answered and finished inside the operation's own
    transaction or savepoint. */
#include "store_impl.h"

// ---------------------------------------------------------------------------
//  Idempotency keys (Stripe semantics, see store.h)

static const char SQL_IDEM_GET [] =
    "SELECT request, state, status, response, updated_at FROM idempotency"
    " WHERE route = ? AND customer_id = ? AND idem_key = ?";
static const char SQL_IDEM_INSERT [] =
    "INSERT INTO idempotency (route, customer_id, idem_key, request, status, response, state,"
    " created_at, updated_at) VALUES (?, ?, ?, ?, NULL, NULL, 'running', ?, ?)";
static const char SQL_IDEM_TAKEOVER [] =
    "UPDATE idempotency SET updated_at = ? WHERE route = ? AND customer_id = ? AND idem_key = ?"
    " AND state = 'running' AND updated_at = ?";
static const char SQL_IDEM_FINISH [] =
    "UPDATE idempotency SET state = 'done', status = ?, response = ?, updated_at = ?"
    " WHERE route = ? AND customer_id = ? AND idem_key = ?";
static const char SQL_IDEM_PURGE [] =
    "DELETE FROM idempotency WHERE state = 'done' AND updated_at < ?";

//  The customer part of a key's name ("" when it acts for none).
static const char *
s_customer (const store_idem_t *idem)
{
    return idem->customer? idem->customer: "";
}

//  Sets the 409 of a key whose first request is still running.
static int
s_reply_in_use (store_reply_t *reply)
{
    return store_reply_result (reply, STORE_RESULT_KEY_IN_USE);
}

//  Claims the key inside the operation's own transaction or savepoint:
//  STORE_IDEM_RUN, STORE_IDEM_ANSWERED with reply set (nothing written), or -1 (store
//  failure; the caller undoes the operation).
//  The INSERT comes first: of two racing requests one inserts, the other
//  gets DB_DUPLICATE once the first commits (MySQL waits on the row lock,
//  bounded by the deadline), then reads the row and answers from it: the
//  replay of the first answer. Since the key is finished in the
//  transaction that claimed it, a committed 'running' row only comes from
//  an older release that claimed keys in a transaction of their own; a
//  takeover of a stale one is one conditional UPDATE on the updated_at it
//  read, so of two racing takers only one wins.
static int
s_idem_start (store_t *self, const store_idem_t *idem, int64_t now_ms, store_reply_t *reply)
{
    db_t *db = self->db;
    char *request = NULL, *response = NULL, *state = NULL;
    int status = 0;
    int64_t updated_at = 0;
    int result = -1;

    db_stmt_t *st = db_stmt (db, SQL_IDEM_INSERT);
    if (!st)
        goto done;
    int rc = DB_ERROR;
    if (db_bind_text (st, 1, idem->route) == DB_OK
    &&  db_bind_text (st, 2, s_customer (idem)) == DB_OK
    &&  db_bind_text (st, 3, idem->key) == DB_OK
    &&  db_bind_text (st, 4, idem->request) == DB_OK
    &&  db_bind_int64 (st, 5, now_ms) == DB_OK
    &&  db_bind_int64 (st, 6, now_ms) == DB_OK)
        rc = db_step (st);
    db_reset (st);
    if (rc == DB_DONE) {
        result = STORE_IDEM_RUN;          //  a new key: ours to run
        goto done;
    }
    if (rc != DB_DUPLICATE)
        goto done;

    //  The key exists (committed, or written earlier in this group)
    st = db_stmt (db, SQL_IDEM_GET);
    if (!st || db_bind_text (st, 1, idem->route) != DB_OK
            || db_bind_text (st, 2, s_customer (idem)) != DB_OK
            || db_bind_text (st, 3, idem->key) != DB_OK) {
        db_reset (st);
        goto done;
    }
    rc = db_step (st);
    if (rc == DB_ROW) {
        const char *text = db_column_text (st, 0);
        request = strdup (text ? text : "");
        text = db_column_text (st, 1);
        state = strdup (text ? text : "");
        status = (int) db_column_int64 (st, 2);
        text = db_column_text (st, 3);
        response = text ? strdup (text) : NULL;
        updated_at = db_column_int64 (st, 4);
    }
    db_reset (st);
    if (rc == DB_DONE)
        goto in_use;                //  its owner let it go a moment ago
    if (rc != DB_ROW || !request || !state)
        goto done;
    if (strcmp (request, idem->request) != 0) {
        if (store_reply_result (reply, STORE_RESULT_KEY_REUSED) == 0)
            result = STORE_IDEM_ANSWERED;
        goto done;
    }
    if (streq (state, "done") && response) {
        store_reply_replay (reply, status, response);
        response = NULL;
        result = STORE_IDEM_ANSWERED;
        goto done;
    }
    //  Running: left by a process that died, or still in flight
    if (now_ms - updated_at < STORE_IDEM_STALE_MS)
        goto in_use;
    st = db_stmt (db, SQL_IDEM_TAKEOVER);
    if (!st)
        goto done;
    rc = DB_ERROR;
    if (db_bind_int64 (st, 1, now_ms) == DB_OK
    &&  db_bind_text (st, 2, idem->route) == DB_OK
    &&  db_bind_text (st, 3, s_customer (idem)) == DB_OK
    &&  db_bind_text (st, 4, idem->key) == DB_OK
    &&  db_bind_int64 (st, 5, updated_at) == DB_OK)
        rc = db_step (st);
    db_reset (st);
    if (rc != DB_DONE)
        goto done;
    if (db_changes (db) != 1)
        goto in_use;                //  another retry took it over since we read it
    result = STORE_IDEM_RUN;
    goto done;

in_use:
    //  The key's first request holds it: 409, retry later
    if (s_reply_in_use (reply) == 0)
        result = STORE_IDEM_ANSWERED;
done:
    if (result < 0)
        log_warn ("-", "store: idempotency key claim failed: %s", db_errmsg (db));
    free (request);
    free (state);
    free (response);
    return result;
}

//  Stores the final answer of the key, inside the operation's transaction.
static int
s_idem_finish (store_t *self, const store_idem_t *idem, const store_reply_t *reply,
               int64_t now_ms)
{
    db_stmt_t *st = db_stmt (self->db, SQL_IDEM_FINISH);
    if (!st)
        return -1;
    int rc = DB_ERROR;
    if (db_bind_int64 (st, 1, reply->status) == DB_OK
    &&  db_bind_text (st, 2, reply->body) == DB_OK
    &&  db_bind_int64 (st, 3, now_ms) == DB_OK
    &&  db_bind_text (st, 4, idem->route) == DB_OK
    &&  db_bind_text (st, 5, s_customer (idem)) == DB_OK
    &&  db_bind_text (st, 6, idem->key) == DB_OK)
        rc = db_step (st);
    db_reset (st);
    return rc == DB_DONE ? 0 : -1;
}

//  Starts a write operation, checks who it acts as and claims its key.
//  Returns STORE_IDEM_RUN (run it), STORE_IDEM_ANSWERED (reply final:
//  401/403, a replay, key in use or reused; operation ended), or -1 (reply
//  503, nothing changed). The credential is checked before the key, so a
//  request that may not act for the customer never claims, replays or
//  learns of a key.
int
store_op_start (store_t *self, store_op_t *op, const store_auth_t *auth,
                const char *customer_id, const store_idem_t *idem, int64_t now_ms,
                const char *what, store_reply_t *reply)
{
    int rc = store_op_begin (self, op);
    if (rc != STORE_OK) {
        store_reply_not_run (reply, rc);
        return -1;
    }
    rc = store_auth_check (self, auth, customer_id, reply);
    if (rc < 0)
        return store_op_fail (self, op, what, reply);
    if (rc > 0)
        return store_op_answer (self, op, what, reply) == 0 ? STORE_IDEM_ANSWERED : -1;
    if (!idem)
        return STORE_IDEM_RUN;
    rc = s_idem_start (self, idem, now_ms, reply);
    if (rc < 0)
        return store_op_fail (self, op, what, reply);
    if (rc == STORE_IDEM_ANSWERED)
        return store_op_answer (self, op, what, reply) == 0 ? STORE_IDEM_ANSWERED : -1;
    return STORE_IDEM_RUN;
}

//  Ends a write operation that answered (200 or a business error, which
//  changed nothing and is the key's final answer too): stores the reply as
//  the key's answer and ends the operation. 0 or -1 (reply 503).
int
store_op_finish (store_t *self, store_op_t *op, const store_idem_t *idem, int64_t now_ms,
             const char *what, store_reply_t *reply)
{
    if (idem && s_idem_finish (self, idem, reply, now_ms) != 0)
        return store_op_fail (self, op, what, reply);
    return store_op_answer (self, op, what, reply);
}

//  Drops keys finished before before_ms.
int
store_idem_purge (store_t *self, int64_t before_ms)
{
    db_stmt_t *st = db_stmt (self->db, SQL_IDEM_PURGE);
    if (!st)
        return -1;
    int rc = DB_ERROR;
    if (db_bind_int64 (st, 1, before_ms) == DB_OK)
        rc = db_step (st);
    db_reset (st);
    return rc == DB_DONE ? 0 : -1;
}
