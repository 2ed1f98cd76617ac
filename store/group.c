/*  group — write transactions of the command store: a group of
    operations in one transaction, each in its own savepoint, with lock
    waits bounded by the request's deadline; and the replies operations
    answer. See store.h (store_group_begin) and store_impl.h. */
#include "store_impl.h"
#include "token.h"

#define MARK_LOCK_WAIT_MS   2000    //  one look's wait for a COMMIT still in flight
#define MARK_RETRY_MS       250     //  between looks while the server is away

static const char SQL_MARK_ADD [] = "INSERT INTO commit_mark (mark, created_at) VALUES (?, ?)";
static const char SQL_MARK_FIND [] =
    "SELECT 1 FROM commit_mark WHERE mark = ? LOCK IN SHARE MODE";

// ---------------------------------------------------------------------------
//  Replies

//  The store says what an operation came to (store_result_t); the answer
//  table (core/answer.c) makes the API answer of it.

//  A result without details.
int
store_reply_result (store_reply_t *reply, store_result_t result)
{
    return answer_set (reply, result);
}

//  DONE with its result document (json, consumed). A tree that cannot be
//  printed (out of memory) becomes -1.
int
store_reply_done (store_reply_t *reply, cJSON *json)
{
    char *body = sqlkit_print (json);
    if (!body)
        return -1;
    zstr_free (&reply->body);
    reply->body = body;
    reply->result = STORE_RESULT_DONE;
    return answer_fill (reply);
}

//  NOT_FOUND of what (menu_id names a menu, else NULL).
int
store_reply_not_found (store_reply_t *reply, store_about_t about, const char *menu_id)
{
    reply->result = STORE_RESULT_NOT_FOUND;
    reply->about = about;
    snprintf (reply->menu_id, sizeof reply->menu_id, "%s", menu_id ? menu_id : "");
    return answer_fill (reply);
}

//  NO_POINT, short by shortfall.
int
store_reply_no_point (store_reply_t *reply, int64_t shortfall)
{
    reply->result = STORE_RESULT_NO_POINT;
    reply->shortfall = shortfall;
    return answer_fill (reply);
}

//  INVALID, and why.
int
store_reply_invalid (store_reply_t *reply, store_why_t why)
{
    reply->result = STORE_RESULT_INVALID;
    reply->why = why;
    return answer_fill (reply);
}

//  REPLAY of a key's stored answer (body consumed).
void
store_reply_replay (store_reply_t *reply, int status, char *body)
{
    zstr_free (&reply->body);
    reply->result = STORE_RESULT_REPLAY;
    reply->status = status;
    reply->body = body;
}

//  Frees the reply body.
void
store_reply_reset (store_reply_t *reply)
{
    if (!reply)
        return;
    zstr_free (&reply->body);
    memset (reply, 0, sizeof *reply);
}

//  A string that fits an identifier column.
bool
store_valid_id (const char *id)
{
    return id && *id && strlen (id) < COFFEE_ID_MAX;
}

// ---------------------------------------------------------------------------
//  Write transactions: a group of operations, each in its own savepoint

//  The savepoint each operation of a group runs in. On MySQL reusing the
//  name replaces it. On SQLite it stacks, so each operation releases its
//  own once it has answered (see s_savepoint_forget).
#define MEMBER_SAVEPOINT "coffee_op"

//  How far a lock-wait bound may lag behind the time an operation has left
//  before it is set again (a round trip on MySQL): a sixteenth of the time
//  left, at least BOUND_SLACK_MS.
#define BOUND_SLACK_MS  20
#define BOUND_SLACK_DIV 16

//  Bounds the lock waits of what runs next by the time left before
//  deadline_ms (zclock_mono; 0: the backend's default). Returns DB_OK, or
//  DB_TIMEOUT when no time is left.
static int
s_bound (store_t *self, int64_t deadline_ms)
{
    if (deadline_ms <= 0) {
        if (self->bound_ms != 0 && db_set_lock_wait (self->db, 0) != DB_OK)
            return db_last_failure (self->db);
        self->bound_ms = 0;
        return DB_OK;
    }
    int64_t left = deadline_ms - zclock_mono ();
    if (left <= 0)
        return DB_TIMEOUT;
    //  The bound in force may stand when it is not longer than the time
    //  left and not much shorter. A new one is set a slack below the time
    //  left, so that the operations after it, queued about as long, find
    //  it standing: set to the time left itself, it was too long for the
    //  next one almost every time, and MariaDB ran a SET an order (733 a
    //  second in the general log of the order-mariadb bench).
    int64_t slack = left / BOUND_SLACK_DIV > BOUND_SLACK_MS ? left / BOUND_SLACK_DIV
                                                             : BOUND_SLACK_MS;
    if (self->bound_ms > 0 && self->bound_ms <= left && self->bound_ms + 2 * slack >= left)
        return DB_OK;
    int64_t bound = left > 2 * slack ? left - slack : left;
    if (db_set_lock_wait (self->db, bound) != DB_OK) {
        self->bound_ms = -1;        //  unknown: set it again next time
        return db_last_failure (self->db);
    }
    self->bound_ms = bound;
    return DB_OK;
}

//  Opens a group transaction (see store.h).
int
store_group_begin (store_t *self, int64_t deadline_ms)
{
    db_t *db = self->db;
    assert (!self->group_open);
    if (self->claim_open) {
        db_rollback (db);
        self->claim_open = false;
    }
    store_numbers_left (self);          //  reads a block the last transaction asked for
    int rc = s_bound (self, deadline_ms);
    if (rc == DB_OK && db_begin (db) != DB_OK)
        rc = db_last_failure (db);
    if (rc != DB_OK) {
        if (rc != DB_TIMEOUT)
            log_warn ("-", "store: begin failed: %s", db_errmsg (db));
        db_rollback (db);
        return rc == DB_TIMEOUT ? STORE_TIMEOUT : STORE_FAILED;
    }
    store_numbers_begin (self);         //  order numbers first (numbers.c)
    self->group_open = true;
    self->group_lost = false;
    self->group_tail = false;
    return STORE_OK;
}

//  Inserts a new random mark into the open group's transaction, deferred:
//  it goes with the COMMIT, which does not run when it fails.
static int
s_mark_add (store_t *self, char *mark)
{
    if (token_new (mark) != 0)
        return -1;
    db_stmt_t *st = db_stmt (self->db, SQL_MARK_ADD);
    int rc = st ? db_bind_text (st, 1, mark) : DB_ERROR;
    if (rc == DB_OK)
        rc = db_bind_int64 (st, 2, util_now_ms (0));
    if (rc == DB_OK)
        rc = db_defer (st);
    if (st)
        db_reset (st);
    return rc >= 0 ? 0 : -1;
}

//  Looks the mark up with a locking read (waiting, bounded, for a COMMIT
//  still in flight on the server): 1 there, 0 not there, -1 no answer.
static int
s_mark_find (store_t *self, const char *mark)
{
    self->bound_ms = -1;                //  set again by the next s_bound
    if (db_set_lock_wait (self->db, MARK_LOCK_WAIT_MS) != DB_OK)
        return -1;
    db_stmt_t *st = db_stmt (self->db, SQL_MARK_FIND);
    int rc = st ? db_bind_text (st, 1, mark) : DB_ERROR;
    if (rc == DB_OK)
        rc = db_step (st);
    if (st)
        db_reset (st);
    return rc == DB_ROW ? 1 : rc == DB_DONE ? 0 : -1;
}

//  Finds out whether a group whose COMMIT answer was lost committed: its
//  mark is there or not (see store.h). STORE_OK, STORE_FAILED or
//  STORE_IN_DOUBT.
static int
s_mark_resolve (store_t *self, const char *mark)
{
    int64_t until = zclock_mono () + STORE_IN_DOUBT_MS;
    while (true) {
        int found = s_mark_find (self, mark);
        if (found >= 0) {
            log_warn ("-", "store: a group commit's answer was lost; the server says it %s",
                      found ? "committed: its operations answer what they did"
                            : "did not commit: its operations answer 503");
            return found ? STORE_OK : STORE_FAILED;
        }
        if (zclock_mono () >= until)
            break;
        zclock_sleep (MARK_RETRY_MS);
    }
    log_error ("-", "store: a group commit's answer was lost and the server did not say in "
               "%d ms whether it committed (%s): its operations stay unanswered",
               STORE_IN_DOUBT_MS, db_errmsg (self->db));
    return STORE_IN_DOUBT;
}

//  Commits a group (see store.h).
int
store_group_commit (store_t *self)
{
    assert (self->group_open);
    self->group_open = false;
    if (self->group_lost) {
        db_rollback (self->db);
        return STORE_FAILED;
    }
    //  SQLite commits in this process: a failed COMMIT did not commit.
    bool marked = db_dialect (self->db) == DB_MYSQL;
    char mark [TOKEN_TEXT_MAX] = "";
    if (marked && s_mark_add (self, mark) != 0) {
        log_warn ("-", "store: group commit mark failed: %s", db_errmsg (self->db));
        db_rollback (self->db);
        return STORE_FAILED;
    }
    if (db_commit (self->db) == DB_OK)
        return STORE_OK;
    int why = db_last_failure (self->db);
    log_warn ("-", "store: group commit failed: %s", db_errmsg (self->db));
    db_rollback (self->db);
    if (!marked || why != DB_UNAVAILABLE)
        return STORE_FAILED;
    return s_mark_resolve (self, mark);
}

//  Ends a group, undoing all of it.
void
store_group_rollback (store_t *self)
{
    if (self->group_open)
        db_rollback (self->db);
    self->group_open = false;
}

//  Sets the deadline of the next operations.
void
store_set_deadline (store_t *self, int64_t deadline_ms)
{
    self->deadline_ms = deadline_ms;
}

//  Starts an operation: a savepoint in the open group (its lock waits
//  bounded by its own deadline), or a transaction of its own. STORE_OK, or
//  STORE_TIMEOUT / STORE_FAILED with nothing started.
int
store_op_begin (store_t *self, store_op_t *op)
{
    op->own = !self->group_open;
    if (op->own) {
        int rc = store_group_begin (self, self->deadline_ms);
        self->group_open = false;       //  its own transaction, not a group
        return rc;
    }
    return store_group_savepoint (self, MEMBER_SAVEPOINT);
}

//  Marks savepoint name in the open group, lock waits bounded by the
//  deadline of the next operations (see store_impl.h).
int
store_group_savepoint (store_t *self, const char *name)
{
    assert (self->group_open);
    if (self->group_lost)
        return STORE_FAILED;
    //  Writes an earlier member left for the COMMIT run now, so that a
    //  failure of theirs is not taken for this member's (whose undo would
    //  then go back to a savepoint before them)
    if (self->group_tail) {
        self->group_tail = false;
        if (db_flush (self->db) != DB_OK) {
            log_warn ("-", "store: deferred writes failed, group lost: %s", db_errmsg (self->db));
            self->group_lost = true;
            return STORE_FAILED;
        }
    }
    int rc = s_bound (self, self->deadline_ms);
    if (rc == DB_OK && db_savepoint (self->db, name) != DB_OK)
        rc = db_last_failure (self->db);
    if (rc == DB_TIMEOUT)
        return STORE_TIMEOUT;
    if (rc != DB_OK) {
        self->group_lost = true;        //  a group that cannot mark a savepoint is gone
        return STORE_FAILED;
    }
    return STORE_OK;
}

//  Keeps what ran since savepoint name and forgets the savepoint. On
//  SQLite it is released: savepoints stack there, every write then checks
//  each open savepoint for the pages it must keep, and the stack of a group
//  of 30 orders took half the order actor's time (200 against 110 us an
//  order, measured with CLOCK_THREAD_CPUTIME_ID in the order-sqlite bench).
//  On MySQL it stays until the group ends (a SAVEPOINT of the same name
//  replaces it): no round trip.
void
store_group_savepoint_keep (store_t *self, const char *name)
{
    if (db_dialect (self->db) != DB_SQLITE || self->group_lost)
        return;
    if (db_savepoint_release (self->db, name) != DB_OK) {
        log_warn ("-", "store: savepoint release failed, group lost: %s", db_errmsg (self->db));
        self->group_lost = true;
    }
}

//  Undoes what ran since savepoint name and forgets it (a group that
//  cannot go back is lost: it will not commit).
void
store_group_savepoint_undo (store_t *self, const char *name)
{
    if (self->group_lost)
        return;
    if (db_savepoint_rollback (self->db, name) != DB_OK) {
        log_warn ("-", "store: rollback to savepoint failed, group lost: %s",
                  db_errmsg (self->db));
        self->group_lost = true;
    }
    else
        store_group_savepoint_keep (self, name);    //  ROLLBACK TO keeps it open
}

//  Ends an operation that answered (success or a business error): commits
//  its own transaction, or leaves its writes in the group. 0, or -1 when
//  its own commit failed.
int
store_op_end (store_t *self, store_op_t *op)
{
    if (!op->own) {
        store_group_savepoint_keep (self, MEMBER_SAVEPOINT);
        return 0;
    }
    if (db_commit (self->db) != DB_OK) {
        db_rollback (self->db);
        return -1;
    }
    return 0;
}

//  Undoes an operation: its own transaction, or the group back to its
//  savepoint (a group that cannot go back is lost: it will not commit).
void
store_op_undo (store_t *self, store_op_t *op)
{
    if (op->own)
        db_rollback (self->db);
    else
        store_group_savepoint_undo (self, MEMBER_SAVEPOINT);
}

//  The 503 of an operation that did not run: TIMEOUT when a lock wait
//  outlasted its deadline, else UNAVAILABLE. Nothing was changed.
void
store_reply_not_run (store_reply_t *reply, int why)
{
    store_reply_result (reply, why == STORE_TIMEOUT ? STORE_RESULT_TIMEOUT
                                                    : STORE_RESULT_UNAVAILABLE);
}

//  Turns a failed operation into its 503: undoes it, logs why. Returns -1.
int
store_op_fail (store_t *self, store_op_t *op, const char *what, store_reply_t *reply)
{
    int why = db_last_failure (self->db) == DB_TIMEOUT ? STORE_TIMEOUT : STORE_FAILED;
    if (why == STORE_TIMEOUT)
        log_info ("-", "store: %s waited past its deadline: %s", what, db_errmsg (self->db));
    else
        log_warn ("-", "store: %s failed: %s", what, db_errmsg (self->db));
    if (op)
        store_op_undo (self, op);
    store_reply_not_run (reply, why);
    return -1;
}

//  Ends an operation that answered; a failed commit of its own
//  transaction turns the answer into 503. Returns 0 or -1.
int
store_op_answer (store_t *self, store_op_t *op, const char *what, store_reply_t *reply)
{
    if (store_op_end (self, op) != 0)
        return store_op_fail (self, NULL, what, reply);
    return 0;
}

//  Answers INVALID for input refused before anything ran (nothing to roll
//  back, no key taken). Returns what the operation returns: 0, or -1 when
//  even the answer could not be built.
int
store_op_invalid (store_t *self, const char *what, store_why_t why, store_reply_t *reply)
{
    if (store_reply_invalid (reply, why) != 0)
        return store_op_fail (self, NULL, what, reply);
    return 0;
}
