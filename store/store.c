/*  store — the command store, written once on db.h (no backend calls here),
    so SQLite and MySQL run the same logic. Every API operation is one write
    transaction; where the dialects differ the text is picked by
    sqlkit_pick. Amounts only ever change through conditional UPDATEs, so
    concurrent writers (threads, processes, instances) never lose an update
    and a balance never leaves 0 .. INT64_MAX. */
#include "store.h"
#include "sqlkit.h"
#include <string.h>
#include <stdio.h>

#define TYPE_CHARGE      "CHARGE"
#define TYPE_CHARGE_NM   "충전"
#define TYPE_USE         "USE"
#define TYPE_USE_NM      "사용"
#define REMARK_CHARGE    "고객 충전"

#define MSG_NO_CUSTOMER  "해당 고객 정보 이/가 존재하지 않습니다."
#define MSG_NO_MENU      "해당 메뉴 정보 이/가 존재하지 않습니다."
#define MSG_NO_ORDER     "해당 주문 정보 이/가 존재하지 않습니다."
#define MSG_NO_POINT     "%" PRId64 " 포인트가 부족합니다. 포인트 충전 후 다시 이용해주세요"

struct _store_t {
    db_t *db;                       //  the connection (one thread only)
    bool claim_open;                //  a MySQL outbox claim transaction is open
    bool group_open;                //  store_group_begin opened a transaction
    bool group_lost;                //  an operation took the group's transaction down
    int64_t deadline_ms;            //  store_set_deadline: of the next operations, 0 none
    int64_t bound_ms;               //  lock-wait bound in force (0 default, -1 unknown)
    char *lines_sql [STORE_LINES_MAX + 1];  //  [n]: INSERT of n order lines in one statement
};

static int s_lines_sql_build (store_t *self);

// ---------------------------------------------------------------------------
//  Schema

static const sqlkit_sql_t s_schema_v1 [] = {
    {   "CREATE TABLE IF NOT EXISTS customer ("
        " id INTEGER PRIMARY KEY AUTOINCREMENT,"
        " customer_id VARCHAR(32) UNIQUE,"
        " name VARCHAR(100) NOT NULL,"
        " created_at BIGINT NOT NULL)",
        "CREATE TABLE IF NOT EXISTS customer ("
        " id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,"
        " customer_id VARCHAR(32) NULL UNIQUE,"
        " name VARCHAR(100) NOT NULL,"
        " created_at BIGINT NOT NULL)" SQLKIT_MYSQL_TABLE_OPTS },
    {   "CREATE TABLE IF NOT EXISTS point ("
        " customer_id VARCHAR(32) NOT NULL PRIMARY KEY REFERENCES customer (customer_id),"
        " balance BIGINT NOT NULL CHECK (balance >= 0))",
        "CREATE TABLE IF NOT EXISTS point ("
        " customer_id VARCHAR(32) NOT NULL PRIMARY KEY,"
        " balance BIGINT NOT NULL,"
        " CONSTRAINT point_balance_nonneg CHECK (balance >= 0),"
        " CONSTRAINT point_customer FOREIGN KEY (customer_id) REFERENCES customer (customer_id))"
        SQLKIT_MYSQL_TABLE_OPTS },
    {   "CREATE TABLE IF NOT EXISTS point_history ("
        " id INTEGER PRIMARY KEY AUTOINCREMENT,"
        " customer_id VARCHAR(32) NOT NULL REFERENCES customer (customer_id),"
        " point BIGINT NOT NULL,"
        " type_code VARCHAR(16) NOT NULL,"
        " type_name VARCHAR(16) NOT NULL,"
        " exp_date CHAR(8),"
        " remark VARCHAR(200) NOT NULL,"
        " created_at BIGINT NOT NULL)",
        "CREATE TABLE IF NOT EXISTS point_history ("
        " id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,"
        " customer_id VARCHAR(32) NOT NULL,"
        " point BIGINT NOT NULL,"
        " type_code VARCHAR(16) NOT NULL,"
        " type_name VARCHAR(16) NOT NULL,"
        " exp_date CHAR(8) NULL,"
        " remark VARCHAR(200) NOT NULL,"
        " created_at BIGINT NOT NULL,"
        " INDEX point_history_customer (customer_id, id),"
        " CONSTRAINT point_history_customer_fk FOREIGN KEY (customer_id)"
        " REFERENCES customer (customer_id))" SQLKIT_MYSQL_TABLE_OPTS },
    {   "CREATE INDEX IF NOT EXISTS point_history_customer ON point_history (customer_id, id)",
        "SELECT 1" },
    {   "CREATE TABLE IF NOT EXISTS menu ("
        " menu_id VARCHAR(32) NOT NULL PRIMARY KEY,"
        " menu_nm VARCHAR(100) NOT NULL,"
        " menu_price BIGINT NOT NULL CHECK (menu_price >= 0),"
        " use_yn CHAR(1) NOT NULL DEFAULT 'Y')",
        "CREATE TABLE IF NOT EXISTS menu ("
        " menu_id VARCHAR(32) NOT NULL PRIMARY KEY,"
        " menu_nm VARCHAR(100) NOT NULL,"
        " menu_price BIGINT NOT NULL,"
        " use_yn CHAR(1) NOT NULL DEFAULT 'Y',"
        " CONSTRAINT menu_price_nonneg CHECK (menu_price >= 0))" SQLKIT_MYSQL_TABLE_OPTS },
    {   "CREATE TABLE IF NOT EXISTS orders ("
        " id INTEGER PRIMARY KEY AUTOINCREMENT,"
        " order_no VARCHAR(32) UNIQUE,"
        " customer_id VARCHAR(32) NOT NULL REFERENCES customer (customer_id),"
        " order_price BIGINT NOT NULL,"
        " pay_amt BIGINT NOT NULL,"
        " created_at BIGINT NOT NULL)",
        "CREATE TABLE IF NOT EXISTS orders ("
        " id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,"
        " order_no VARCHAR(32) NULL UNIQUE,"
        " customer_id VARCHAR(32) NOT NULL,"
        " order_price BIGINT NOT NULL,"
        " pay_amt BIGINT NOT NULL,"
        " created_at BIGINT NOT NULL,"
        " INDEX orders_created (created_at),"
        " CONSTRAINT orders_customer FOREIGN KEY (customer_id) REFERENCES customer (customer_id))"
        SQLKIT_MYSQL_TABLE_OPTS },
    {   "CREATE INDEX IF NOT EXISTS orders_created ON orders (created_at)", "SELECT 1" },
    {   "CREATE TABLE IF NOT EXISTS order_menu ("
        " order_no VARCHAR(32) NOT NULL REFERENCES orders (order_no),"
        " menu_id VARCHAR(32) NOT NULL REFERENCES menu (menu_id),"
        " qy BIGINT NOT NULL,"
        " menu_price BIGINT NOT NULL,"
        " created_at BIGINT NOT NULL,"
        " PRIMARY KEY (order_no, menu_id))",
        "CREATE TABLE IF NOT EXISTS order_menu ("
        " order_no VARCHAR(32) NOT NULL,"
        " menu_id VARCHAR(32) NOT NULL,"
        " qy BIGINT NOT NULL,"
        " menu_price BIGINT NOT NULL,"
        " created_at BIGINT NOT NULL,"
        " PRIMARY KEY (order_no, menu_id),"
        " INDEX order_menu_created (created_at),"
        " CONSTRAINT order_menu_order FOREIGN KEY (order_no) REFERENCES orders (order_no),"
        " CONSTRAINT order_menu_menu FOREIGN KEY (menu_id) REFERENCES menu (menu_id))"
        SQLKIT_MYSQL_TABLE_OPTS },
    {   "CREATE INDEX IF NOT EXISTS order_menu_created ON order_menu (created_at)", "SELECT 1" },
    {   "CREATE TABLE IF NOT EXISTS outbox ("
        " id INTEGER PRIMARY KEY AUTOINCREMENT,"
        " order_no VARCHAR(32) NOT NULL,"
        " payload TEXT NOT NULL,"
        " created_at BIGINT NOT NULL,"
        " published_at BIGINT)",
        "CREATE TABLE IF NOT EXISTS outbox ("
        " id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,"
        " order_no VARCHAR(32) NOT NULL,"
        " payload MEDIUMTEXT NOT NULL,"
        " created_at BIGINT NOT NULL,"
        " published_at BIGINT NULL,"
        " INDEX outbox_unpublished (published_at, id))" SQLKIT_MYSQL_TABLE_OPTS },
    {   "CREATE INDEX IF NOT EXISTS outbox_unpublished ON outbox (id) WHERE published_at IS NULL",
        "SELECT 1" },
    {   "CREATE TABLE IF NOT EXISTS idempotency ("
        " route VARCHAR(32) NOT NULL,"
        " idem_key VARCHAR(255) NOT NULL,"
        " request TEXT NOT NULL,"
        " status INTEGER,"
        " response TEXT,"
        " state VARCHAR(8) NOT NULL,"
        " created_at BIGINT NOT NULL,"
        " updated_at BIGINT NOT NULL,"
        " PRIMARY KEY (route, idem_key))",
        "CREATE TABLE IF NOT EXISTS idempotency ("
        " route VARCHAR(32) NOT NULL,"
        " idem_key VARCHAR(255) NOT NULL,"
        " request MEDIUMTEXT NOT NULL,"
        " status INT NULL,"
        " response MEDIUMTEXT NULL,"
        " state VARCHAR(8) NOT NULL,"
        " created_at BIGINT NOT NULL,"
        " updated_at BIGINT NOT NULL,"
        " PRIMARY KEY (route, idem_key),"
        " INDEX idempotency_done (state, updated_at))" SQLKIT_MYSQL_TABLE_OPTS },
    {   "CREATE INDEX IF NOT EXISTS idempotency_done ON idempotency (state, updated_at)",
        "SELECT 1" },
};

//  Schema versions in order; add a new entry to change the schema.
static const sqlkit_migration_t s_migrations [] = {
    { 1, s_schema_v1, sizeof s_schema_v1 / sizeof s_schema_v1 [0] },
};

static const char SQL_MENU_COUNT [] = "SELECT COUNT(*) FROM menu";
static const char SQL_MENU_SEED_SQLITE [] =
    "INSERT OR IGNORE INTO menu (menu_id, menu_nm, menu_price, use_yn) VALUES (?, ?, ?, 'Y')";
static const char SQL_MENU_SEED_MYSQL [] =
    "INSERT IGNORE INTO menu (menu_id, menu_nm, menu_price, use_yn) VALUES (?, ?, ?, 'Y')";

//  Seeds the demo menus when the menu table is empty.
static int
s_seed (db_t *db)
{
    return sqlkit_seed_menus (db, SQL_MENU_COUNT, SQL_MENU_SEED_SQLITE, SQL_MENU_SEED_MYSQL);
}

// ---------------------------------------------------------------------------
//  Replies

//  Sets the reply, dropping a body set before in this call.
static void
s_reply_set (store_reply_t *reply, int status, char *body)
{
    zstr_free (&reply->body);
    reply->status = status;
    reply->body = body;
}

//  The 503 a store failure answers: nothing was changed.
static void
s_reply_unavailable (store_reply_t *reply)
{
    s_reply_set (reply, 503, util_error_json ("UNAVAILABLE",
                 "the store is unavailable; nothing was changed, try again"));
}

//  Sets a reply from a JSON tree (consumed). A tree that cannot be printed
//  (out of memory) becomes -1.
static int
s_reply_json (store_reply_t *reply, int status, cJSON *json)
{
    char *body = sqlkit_print (json);
    if (!body)
        return -1;
    s_reply_set (reply, status, body);
    return 0;
}

//  An error reply {"code","message"} plus one optional text member and one
//  optional integer member.
static int
s_reply_error (store_reply_t *reply, int status, const char *code, const char *message,
               const char *text_name, const char *text_value,
               const char *int_name, int64_t int_value)
{
    char *base = util_error_json (code, message);
    if (!text_name && !int_name) {
        if (!base)
            return -1;
        s_reply_set (reply, status, base);
        return 0;
    }
    cJSON *json = base ? cJSON_Parse (base) : NULL;
    zstr_free (&base);
    if (!json)
        return -1;
    if (text_name)
        cJSON_AddStringToObject (json, text_name, text_value);
    if (int_name)
        sqlkit_add_int (json, int_name, int_value);
    return s_reply_json (reply, status, json);
}

//  Frees the reply body.
void
store_reply_reset (store_reply_t *reply)
{
    if (!reply)
        return;
    zstr_free (&reply->body);
    reply->status = 0;
}

//  A string that fits an identifier column.
static bool
s_valid_id (const char *id)
{
    return id && *id && strlen (id) < COFFEE_ID_MAX;
}

// ---------------------------------------------------------------------------
//  Open, close

//  Opens the store, migrates and seeds it.
store_t *
store_open (const char *url, char *err, size_t errlen)
{
    store_t *self = (store_t *) calloc (1, sizeof *self);
    if (!self) {
        if (err && errlen > 0)
            snprintf (err, errlen, "out of memory");
        return NULL;
    }
    if (s_lines_sql_build (self) != 0) {
        if (err && errlen > 0)
            snprintf (err, errlen, "out of memory");
        store_destroy (&self);
        return NULL;
    }
    self->db = sqlkit_open (url, "store", s_migrations,
                            sizeof s_migrations / sizeof s_migrations [0], s_seed, err, errlen);
    if (!self->db)
        store_destroy (&self);              //  sets self to NULL
    return self;
}

//  Ends any open claim and closes the connection.
void
store_destroy (store_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    store_t *self = *self_p;
    if (self->db) {
        if (self->claim_open)
            db_rollback (self->db);
        db_destroy (&self->db);
    }
    //  After the connection: its cached statements are keyed on these
    for (size_t n = 0; n <= STORE_LINES_MAX; n++)
        free (self->lines_sql [n]);
    free (self);
    *self_p = NULL;
}

//  The connection underneath.
db_t *
store_db (store_t *self)
{
    return self->db;
}

//  Whether the database answers.
int
store_ping (store_t *self)
{
    return db_ping (self->db) == DB_OK ? DB_OK : DB_UNAVAILABLE;
}

// ---------------------------------------------------------------------------
//  Write transactions: a group of operations, each in its own savepoint

//  The savepoint each operation of a group runs in; reusing the name
//  replaces it (MySQL) or stacks it (SQLite), and ROLLBACK TO takes the
//  latest, so no RELEASE is needed.
#define MEMBER_SAVEPOINT "coffee_op"

//  How far a lock-wait bound may lag behind the time an operation has left
//  before it is set again (a round trip on MySQL).
#define BOUND_SLACK_MS 20

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
    //  left and not much shorter.
    if (self->bound_ms > 0 && self->bound_ms <= left && self->bound_ms + BOUND_SLACK_MS >= left)
        return DB_OK;
    if (db_set_lock_wait (self->db, left) != DB_OK) {
        self->bound_ms = -1;        //  unknown: set it again next time
        return db_last_failure (self->db);
    }
    self->bound_ms = left;
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
    int rc = s_bound (self, deadline_ms);
    if (rc == DB_OK && db_begin (db) != DB_OK)
        rc = db_last_failure (db);
    if (rc != DB_OK) {
        if (rc != DB_TIMEOUT)
            log_warn ("-", "store: begin failed: %s", db_errmsg (db));
        db_rollback (db);
        return rc == DB_TIMEOUT ? STORE_TIMEOUT : STORE_FAILED;
    }
    self->group_open = true;
    self->group_lost = false;
    return STORE_OK;
}

//  Commits a group; -1 when nothing of it is there.
int
store_group_commit (store_t *self)
{
    assert (self->group_open);
    self->group_open = false;
    if (self->group_lost) {
        db_rollback (self->db);
        return STORE_FAILED;
    }
    if (db_commit (self->db) != DB_OK) {
        log_warn ("-", "store: group commit failed: %s", db_errmsg (self->db));
        db_rollback (self->db);
        return STORE_FAILED;
    }
    return STORE_OK;
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

//  How an operation's writes are held: its own transaction, or a savepoint
//  of the open group.
typedef struct {
    bool own;                       //  it opened (and ends) its own transaction
} s_op_t;

//  Starts an operation: a savepoint in the open group (its lock waits
//  bounded by its own deadline), or a transaction of its own. STORE_OK, or
//  STORE_TIMEOUT / STORE_FAILED with nothing started.
static int
s_op_begin (store_t *self, s_op_t *op)
{
    op->own = !self->group_open;
    if (op->own) {
        int rc = store_group_begin (self, self->deadline_ms);
        self->group_open = false;       //  its own transaction, not a group
        return rc;
    }
    if (self->group_lost)
        return STORE_FAILED;
    int rc = s_bound (self, self->deadline_ms);
    if (rc == DB_OK && db_savepoint (self->db, MEMBER_SAVEPOINT) != DB_OK)
        rc = db_last_failure (self->db);
    if (rc == DB_TIMEOUT)
        return STORE_TIMEOUT;
    if (rc != DB_OK) {
        self->group_lost = true;        //  a group that cannot mark a savepoint is gone
        return STORE_FAILED;
    }
    return STORE_OK;
}

//  Ends an operation that answered (success or a business error): commits
//  its own transaction, or leaves its writes in the group. 0, or -1 when
//  its own commit failed.
static int
s_op_end (store_t *self, s_op_t *op)
{
    if (!op->own)
        return 0;
    if (db_commit (self->db) != DB_OK) {
        db_rollback (self->db);
        return -1;
    }
    return 0;
}

//  Undoes an operation: its own transaction, or the group back to its
//  savepoint (a group that cannot go back is lost: it will not commit).
static void
s_op_undo (store_t *self, s_op_t *op)
{
    if (op->own)
        db_rollback (self->db);
    else
    if (!self->group_lost
    &&  db_savepoint_rollback (self->db, MEMBER_SAVEPOINT) != DB_OK) {
        log_warn ("-", "store: rollback to savepoint failed, group lost: %s",
                  db_errmsg (self->db));
        self->group_lost = true;
    }
}

//  The 503 of an operation that did not run: TIMEOUT when a lock wait
//  outlasted its deadline, else UNAVAILABLE. Nothing was changed.
static void
s_reply_not_run (store_reply_t *reply, int why)
{
    if (why == STORE_TIMEOUT)
        s_reply_set (reply, 503, util_error_json ("TIMEOUT",
                     "the store was busy past the request's deadline; nothing was changed,"
                     " try again"));
    else
        s_reply_unavailable (reply);
}

//  Turns a failed operation into its 503: undoes it, logs why. Returns -1.
static int
s_fail (store_t *self, s_op_t *op, const char *what, store_reply_t *reply)
{
    int why = db_last_failure (self->db) == DB_TIMEOUT ? STORE_TIMEOUT : STORE_FAILED;
    if (why == STORE_TIMEOUT)
        log_info ("-", "store: %s waited past its deadline: %s", what, db_errmsg (self->db));
    else
        log_warn ("-", "store: %s failed: %s", what, db_errmsg (self->db));
    if (op)
        s_op_undo (self, op);
    s_reply_not_run (reply, why);
    return -1;
}

//  Ends an operation that answered; a failed commit of its own
//  transaction turns the answer into 503. Returns 0 or -1.
static int
s_op_answer (store_t *self, s_op_t *op, const char *what, store_reply_t *reply)
{
    if (s_op_end (self, op) != 0)
        return s_fail (self, NULL, what, reply);
    return 0;
}

//  Answers 400 INVALID_INPUT naming field, for input refused before anything
//  ran (nothing to roll back, no key taken). Returns what the operation
//  returns: 0, or -1 when even the answer could not be built.
static int
s_invalid (store_t *self, const char *what, const char *field, const char *message,
           store_reply_t *reply)
{
    if (s_reply_error (reply, 400, "INVALID_INPUT", message, "field", field, NULL, 0) != 0)
        return s_fail (self, NULL, what, reply);
    return 0;
}

// ---------------------------------------------------------------------------
//  Idempotency keys (Stripe semantics, see store.h)

static const char SQL_IDEM_GET [] =
    "SELECT request, state, status, response, updated_at FROM idempotency"
    " WHERE route = ? AND idem_key = ?";
static const char SQL_IDEM_INSERT [] =
    "INSERT INTO idempotency (route, idem_key, request, status, response, state,"
    " created_at, updated_at) VALUES (?, ?, ?, NULL, NULL, 'running', ?, ?)";
static const char SQL_IDEM_TAKEOVER [] =
    "UPDATE idempotency SET updated_at = ? WHERE route = ? AND idem_key = ?"
    " AND state = 'running' AND updated_at = ?";
static const char SQL_IDEM_FINISH [] =
    "UPDATE idempotency SET state = 'done', status = ?, response = ?, updated_at = ?"
    " WHERE route = ? AND idem_key = ?";
static const char SQL_IDEM_PURGE [] =
    "DELETE FROM idempotency WHERE state = 'done' AND updated_at < ?";

//  What s_idem_start decided.
#define IDEM_RUN      0         //  run the operation; its transaction finishes the key
#define IDEM_ANSWERED 1         //  reply is final (replay, 422, 409)

//  Sets the 409 of a key whose first request is still running.
static int
s_reply_in_use (store_reply_t *reply)
{
    return s_reply_error (reply, 409, "IDEMPOTENCY_KEY_IN_USE",
                          "a request with this Idempotency-Key is still running",
                          NULL, NULL, NULL, 0);
}

//  Claims the key inside the operation's own transaction or savepoint:
//  IDEM_RUN, IDEM_ANSWERED with reply set (nothing written), or -1 (store
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
    &&  db_bind_text (st, 2, idem->key) == DB_OK
    &&  db_bind_text (st, 3, idem->request) == DB_OK
    &&  db_bind_int64 (st, 4, now_ms) == DB_OK
    &&  db_bind_int64 (st, 5, now_ms) == DB_OK)
        rc = db_step (st);
    db_reset (st);
    if (rc == DB_DONE) {
        result = IDEM_RUN;          //  a new key: ours to run
        goto done;
    }
    if (rc != DB_DUPLICATE)
        goto done;

    //  The key exists (committed, or written earlier in this group)
    st = db_stmt (db, SQL_IDEM_GET);
    if (!st || db_bind_text (st, 1, idem->route) != DB_OK
            || db_bind_text (st, 2, idem->key) != DB_OK) {
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
        if (s_reply_error (reply, 422, "IDEMPOTENCY_KEY_REUSED",
                           "this Idempotency-Key was used with a different request",
                           NULL, NULL, NULL, 0) == 0)
            result = IDEM_ANSWERED;
        goto done;
    }
    if (streq (state, "done") && response) {
        s_reply_set (reply, status, response);
        response = NULL;
        result = IDEM_ANSWERED;
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
    &&  db_bind_text (st, 3, idem->key) == DB_OK
    &&  db_bind_int64 (st, 4, updated_at) == DB_OK)
        rc = db_step (st);
    db_reset (st);
    if (rc != DB_DONE)
        goto done;
    if (db_changes (db) != 1)
        goto in_use;                //  another retry took it over since we read it
    result = IDEM_RUN;
    goto done;

in_use:
    //  The key's first request holds it: 409, retry later
    if (s_reply_in_use (reply) == 0)
        result = IDEM_ANSWERED;
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
    &&  db_bind_text (st, 5, idem->key) == DB_OK)
        rc = db_step (st);
    db_reset (st);
    return rc == DB_DONE ? 0 : -1;
}

//  Starts a write operation and claims its key. Returns IDEM_RUN (run it),
//  IDEM_ANSWERED (reply final, operation ended), or -1 (reply 503, nothing
//  changed).
static int
s_op_start (store_t *self, s_op_t *op, const store_idem_t *idem, int64_t now_ms,
            const char *what, store_reply_t *reply)
{
    int rc = s_op_begin (self, op);
    if (rc != STORE_OK) {
        s_reply_not_run (reply, rc);
        return -1;
    }
    if (!idem)
        return IDEM_RUN;
    rc = s_idem_start (self, idem, now_ms, reply);
    if (rc < 0)
        return s_fail (self, op, what, reply);
    if (rc == IDEM_ANSWERED)
        return s_op_answer (self, op, what, reply) == 0 ? IDEM_ANSWERED : -1;
    return IDEM_RUN;
}

//  Ends a write operation that answered (200 or a business error, which
//  changed nothing and is the key's final answer too): stores the reply as
//  the key's answer and ends the operation. 0 or -1 (reply 503).
static int
s_op_finish (store_t *self, s_op_t *op, const store_idem_t *idem, int64_t now_ms,
             const char *what, store_reply_t *reply)
{
    if (idem && s_idem_finish (self, idem, reply, now_ms) != 0)
        return s_fail (self, op, what, reply);
    return s_op_answer (self, op, what, reply);
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

// ---------------------------------------------------------------------------
//  Customers and points

static const char SQL_CUSTOMER_INSERT [] =
    "INSERT INTO customer (customer_id, name, created_at) VALUES (NULL, ?, ?)";
static const char SQL_CUSTOMER_SET_ID [] =
    "UPDATE customer SET customer_id = ? WHERE id = ?";
static const char SQL_CUSTOMER_EXISTS [] =
    "SELECT 1 FROM customer WHERE customer_id = ?";
static const char SQL_POINT_INSERT [] =
    "INSERT INTO point (customer_id, balance) VALUES (?, 0)";
static const char SQL_POINT_GET [] =
    "SELECT balance FROM point WHERE customer_id = ?";
static const char SQL_POINT_ADD [] =
    "UPDATE point SET balance = balance + ? WHERE customer_id = ? AND balance <= ?";
static const char SQL_POINT_TAKE [] =
    "UPDATE point SET balance = balance - ? WHERE customer_id = ? AND balance >= ?";
static const char SQL_HISTORY_INSERT [] =
    "INSERT INTO point_history (customer_id, point, type_code, type_name, exp_date, remark,"
    " created_at) VALUES (?, ?, ?, ?, NULL, ?, ?)";
static const char SQL_HISTORY_LIST [] =
    "SELECT point, type_code, type_name, exp_date, remark FROM point_history"
    " WHERE customer_id = ? ORDER BY id";
static const char SQL_HISTORY_SUM [] =
    "SELECT COALESCE(SUM(point), 0) FROM point_history WHERE customer_id = ?";

//  Reads a customer's balance: DB_ROW (set), DB_DONE (no such customer)
//  or a failure code.
static int
s_balance (db_t *db, const char *customer_id, int64_t *balance)
{
    db_stmt_t *st = db_stmt (db, SQL_POINT_GET);
    if (!st)
        return DB_ERROR;
    int rc = db_bind_text (st, 1, customer_id);
    if (rc == DB_OK)
        rc = db_step (st);
    if (rc == DB_ROW)
        *balance = db_column_int64 (st, 0);
    db_reset (st);
    return rc;
}

//  Appends a point history row.
static int
s_history_add (db_t *db, const char *customer_id, int64_t point, const char *code,
               const char *name, const char *remark, int64_t now_ms)
{
    db_stmt_t *st = db_stmt (db, SQL_HISTORY_INSERT);
    if (!st)
        return -1;
    int rc = DB_ERROR;
    if (db_bind_text (st, 1, customer_id) == DB_OK
    &&  db_bind_int64 (st, 2, point) == DB_OK
    &&  db_bind_text (st, 3, code) == DB_OK
    &&  db_bind_text (st, 4, name) == DB_OK
    &&  db_bind_text (st, 5, remark) == DB_OK
    &&  db_bind_int64 (st, 6, now_ms) == DB_OK)
        rc = db_step (st);
    db_reset (st);
    return rc == DB_DONE ? 0 : -1;
}

//  Runs a write statement whose binds are (text, int64); returns the
//  db_step code.
static int
s_write_ti (db_t *db, const char *sql, const char *text, int64_t value)
{
    db_stmt_t *st = db_stmt (db, sql);
    if (!st)
        return DB_ERROR;
    int rc = DB_ERROR;
    if (db_bind_text (st, 1, text) == DB_OK && db_bind_int64 (st, 2, value) == DB_OK)
        rc = db_step (st);
    db_reset (st);
    return rc;
}

//  The conditional balance UPDATEs: (amount, customer, bound).
static int
s_point_update (db_t *db, const char *sql, int64_t amount, const char *customer_id,
                int64_t bound)
{
    db_stmt_t *st = db_stmt (db, sql);
    if (!st)
        return DB_ERROR;
    int rc = DB_ERROR;
    if (db_bind_int64 (st, 1, amount) == DB_OK
    &&  db_bind_text (st, 2, customer_id) == DB_OK
    &&  db_bind_int64 (st, 3, bound) == DB_OK)
        rc = db_step (st);
    db_reset (st);
    return rc;
}

//  POST /customer.
int
store_customer_create (store_t *self, const char *name, int64_t now_ms, store_reply_t *reply)
{
    db_t *db = self->db;
    reply->status = 0;
    reply->body = NULL;
    if (!name || !*name || strlen (name) > STORE_NAME_MAX)
        return s_invalid (self, "customer create", "customerNm",
                          "customerNm: must be 1 to 100 bytes of text", reply);
    s_op_t op;
    if (s_op_start (self, &op, NULL, now_ms, "customer create", reply) != IDEM_RUN)
        return -1;
    if (s_write_ti (db, SQL_CUSTOMER_INSERT, name, now_ms) != DB_DONE)
        return s_fail (self, &op, "customer create", reply);
    int64_t id = db_last_insert_id (db);
    char customer_id [COFFEE_ID_MAX];
    snprintf (customer_id, sizeof customer_id, "CUST-%08" PRId64, id);
    if (s_write_ti (db, SQL_CUSTOMER_SET_ID, customer_id, id) != DB_DONE)
        return s_fail (self, &op, "customer create", reply);
    db_stmt_t *st = db_stmt (db, SQL_POINT_INSERT);
    int rc = DB_ERROR;
    if (st && db_bind_text (st, 1, customer_id) == DB_OK)
        rc = db_step (st);
    db_reset (st);
    if (rc != DB_DONE)
        return s_fail (self, &op, "customer create", reply);

    cJSON *json = cJSON_CreateObject ();
    cJSON_AddStringToObject (json, "customerId", customer_id);
    if (s_reply_json (reply, 200, json) != 0)
        return s_fail (self, &op, "customer create", reply);
    return s_op_finish (self, &op, NULL, now_ms, "customer create", reply);
}

//  POST /point.
int
store_charge (store_t *self, const char *customer_id, int64_t amount,
              const store_idem_t *idem, int64_t now_ms, store_reply_t *reply)
{
    db_t *db = self->db;
    reply->status = 0;
    reply->body = NULL;
    if (!s_valid_id (customer_id))
        return s_invalid (self, "charge", "customerId", "customerId: must be a customer id", reply);
    if (amount < 1 || amount > STORE_CHARGE_MAX)
        return s_invalid (self, "charge", "chargeAmt",
                          "chargeAmt: must be a whole number from 1 to 1000000000", reply);
    s_op_t op;
    int rc = s_op_start (self, &op, idem, now_ms, "charge", reply);
    if (rc != IDEM_RUN)
        return rc < 0 ? -1 : 0;

    rc = s_point_update (db, SQL_POINT_ADD, amount, customer_id, INT64_MAX - amount);
    if (rc != DB_DONE)
        return s_fail (self, &op, "charge", reply);
    int64_t balance = 0;
    if (db_changes (db) == 0) {
        //  Unknown customer, or the balance would pass INT64_MAX
        rc = s_balance (db, customer_id, &balance);
        if (rc == DB_DONE)
            rc = s_reply_error (reply, 404, "NOT_FOUND_DATA", MSG_NO_CUSTOMER,
                                NULL, NULL, NULL, 0);
        else
        if (rc == DB_ROW)
            rc = s_reply_error (reply, 400, "INVALID_INPUT",
                                "chargeAmt: the balance would exceed the maximum",
                                "field", "chargeAmt", NULL, 0);
        else
            rc = -1;
        if (rc != 0)
            return s_fail (self, &op, "charge", reply);
        return s_op_finish (self, &op, idem, now_ms, "charge", reply);
    }
    if (s_history_add (db, customer_id, amount, TYPE_CHARGE, TYPE_CHARGE_NM, REMARK_CHARGE,
                       now_ms) != 0
    ||  s_balance (db, customer_id, &balance) != DB_ROW)
        return s_fail (self, &op, "charge", reply);

    cJSON *json = cJSON_CreateObject ();
    sqlkit_add_int (json, "beforeChargePoint", balance - amount);
    sqlkit_add_int (json, "chargeAmt", amount);
    sqlkit_add_int (json, "afterChargePoint", balance);
    if (s_reply_json (reply, 200, json) != 0)
        return s_fail (self, &op, "charge", reply);
    return s_op_finish (self, &op, idem, now_ms, "charge", reply);
}

//  GET /point/{customerId}: balance and history from one snapshot.
int
store_point_get (store_t *self, const char *customer_id, store_reply_t *reply)
{
    db_t *db = self->db;
    reply->status = 0;
    reply->body = NULL;
    if (!s_valid_id (customer_id)) {
        if (s_reply_error (reply, 404, "NOT_FOUND_DATA", MSG_NO_CUSTOMER,
                           NULL, NULL, NULL, 0) != 0)
            goto fail;
        return 0;
    }
    if (sqlkit_begin_read (db) != DB_OK)
        goto fail;
    int64_t balance = 0;
    int rc = s_balance (db, customer_id, &balance);
    if (rc == DB_DONE) {
        sqlkit_end_read (db);
        if (s_reply_error (reply, 404, "NOT_FOUND_DATA", MSG_NO_CUSTOMER,
                           NULL, NULL, NULL, 0) != 0)
            goto fail;
        return 0;
    }
    if (rc != DB_ROW)
        goto fail;
    cJSON *list = cJSON_CreateArray ();
    cJSON *entry = cJSON_CreateObject ();
    cJSON_AddItemToArray (list, entry);
    cJSON_AddStringToObject (entry, "customerId", customer_id);
    sqlkit_add_int (entry, "point", balance);
    cJSON *details = cJSON_AddArrayToObject (entry, "pointDetail");

    db_stmt_t *st = db_stmt (db, SQL_HISTORY_LIST);
    rc = st ? db_bind_text (st, 1, customer_id) : DB_ERROR;
    while (rc == DB_OK || rc == DB_ROW) {
        rc = db_step (st);
        if (rc != DB_ROW)
            break;
        cJSON *item = cJSON_CreateObject ();
        sqlkit_add_int (item, "point", db_column_int64 (st, 0));
        cJSON_AddStringToObject (item, "pointTypeCode", db_column_text (st, 1));
        cJSON_AddStringToObject (item, "pointTypeName", db_column_text (st, 2));
        if (db_column_is_null (st, 3))
            cJSON_AddNullToObject (item, "expDate");
        else
            cJSON_AddStringToObject (item, "expDate", db_column_text (st, 3));
        cJSON_AddStringToObject (item, "remark", db_column_text (st, 4));
        cJSON_AddItemToArray (details, item);
    }
    db_reset (st);
    sqlkit_end_read (db);
    if (rc != DB_DONE) {
        cJSON_Delete (list);
        goto fail;
    }
    if (s_reply_json (reply, 200, list) != 0)
        goto fail;
    return 0;

fail:
    return s_fail (self, NULL, "point get", reply);
}

//  Balance and history sum of a customer, from one snapshot.
int
store_balance (store_t *self, const char *customer_id, int64_t *balance, int64_t *history_sum)
{
    db_t *db = self->db;
    if (!s_valid_id (customer_id) || sqlkit_begin_read (db) != DB_OK)
        return -1;
    int64_t value = 0, sum = 0;
    int rc = s_balance (db, customer_id, &value);
    if (rc == DB_ROW) {
        db_stmt_t *st = db_stmt (db, SQL_HISTORY_SUM);
        rc = st ? db_bind_text (st, 1, customer_id) : DB_ERROR;
        if (rc == DB_OK)
            rc = db_step (st);
        if (rc == DB_ROW)
            sum = db_column_int64 (st, 0);
        db_reset (st);
    }
    sqlkit_end_read (db);
    if (rc != DB_ROW)
        return -1;
    if (balance)
        *balance = value;
    if (history_sum)
        *history_sum = sum;
    return 0;
}

// ---------------------------------------------------------------------------
//  Orders

static const char SQL_MENU_GET [] =
    "SELECT menu_nm, menu_price, use_yn FROM menu WHERE menu_id = ?";
static const char SQL_ORDER_INSERT [] =
    "INSERT INTO orders (order_no, customer_id, order_price, pay_amt, created_at)"
    " VALUES (NULL, ?, ?, ?, ?)";
static const char SQL_ORDER_SET_NO [] =
    "UPDATE orders SET order_no = ? WHERE id = ?";
static const char SQL_OUTBOX_INSERT [] =
    "INSERT INTO outbox (order_no, payload, created_at, published_at) VALUES (?, ?, ?, NULL)";
static const char SQL_ORDER_GET [] =
    "SELECT order_no, customer_id, order_price, pay_amt, created_at FROM orders WHERE order_no = ?";
static const char SQL_ORDER_LINES [] =
    "SELECT om.menu_id, m.menu_nm, om.qy, om.menu_price FROM order_menu om"
    " JOIN menu m ON m.menu_id = om.menu_id WHERE om.order_no = ? ORDER BY om.menu_id";

//  A merged order line with the menu's price.
typedef struct {
    event_line_t line;              //  menuId and summed qy
    int64_t price;                  //  unit price read from menu
} s_order_line_t;

//  Merges duplicate menuIds (qy summed) and checks the limits. Returns the
//  number of merged lines, or 0 with an INVALID_INPUT message in *why.
static size_t
s_merge_lines (const event_line_t *lines, size_t line_count, s_order_line_t *merged,
               const char **why)
{
    if (!lines || line_count < 1 || line_count > STORE_LINES_MAX) {
        *why = "menuList: must hold 1 to 20 entries";
        return 0;
    }
    size_t count = 0;
    for (size_t i = 0; i < line_count; i++) {
        const event_line_t *in = &lines [i];
        if (!memchr (in->menu_id, 0, sizeof in->menu_id) || !in->menu_id [0]) {
            *why = "menuList: menuId must be a menu id";
            return 0;
        }
        if (in->qy < 1 || in->qy > STORE_QY_MAX) {
            *why = "menuList: qy must be a whole number from 1 to 100";
            return 0;
        }
        size_t j = 0;
        while (j < count && strcmp (merged [j].line.menu_id, in->menu_id) != 0)
            j++;
        if (j == count) {
            merged [count].line = *in;
            merged [count].price = 0;
            count++;
        }
        else
            merged [j].line.qy += in->qy;       //  at most 20 * 100: no overflow
        if (merged [j].line.qy > STORE_QY_MAX) {
            *why = "menuList: qy of one menu must be at most 100 in total";
            return 0;
        }
    }
    return count;
}

//  Inserts the order row, derives its number from the auto-increment id.
static int
s_order_insert (db_t *db, const char *customer_id, int64_t price, int64_t now_ms,
                char *order_no)
{
    db_stmt_t *st = db_stmt (db, SQL_ORDER_INSERT);
    int rc = DB_ERROR;
    if (st && db_bind_text (st, 1, customer_id) == DB_OK
           && db_bind_int64 (st, 2, price) == DB_OK
           && db_bind_int64 (st, 3, price) == DB_OK
           && db_bind_int64 (st, 4, now_ms) == DB_OK)
        rc = db_step (st);
    db_reset (st);
    if (rc != DB_DONE)
        return -1;
    int64_t id = db_last_insert_id (db);
    snprintf (order_no, COFFEE_ID_MAX, "ORD-%08" PRId64, id);
    return s_write_ti (db, SQL_ORDER_SET_NO, order_no, id) == DB_DONE ? 0 : -1;
}

//  Builds the INSERT texts of 1..STORE_LINES_MAX order lines, one
//  statement per order (the statement cache keys on their addresses,
//  which live as long as the store). 0 or -1.
static int
s_lines_sql_build (store_t *self)
{
    static const char head [] =
        "INSERT INTO order_menu (order_no, menu_id, qy, menu_price, created_at) VALUES ";
    static const char row [] = "(?, ?, ?, ?, ?)";
    for (size_t n = 1; n <= STORE_LINES_MAX; n++) {
        size_t len = sizeof head + n * (sizeof row + 1);
        self->lines_sql [n] = (char *) malloc (len);
        if (!self->lines_sql [n])
            return -1;
        char *at = self->lines_sql [n];
        at += sprintf (at, "%s", head);
        for (size_t i = 0; i < n; i++)
            at += sprintf (at, "%s%s", i ? "," : "", row);
    }
    return 0;
}

//  Inserts the order lines with one statement.
static int
s_order_lines_insert (store_t *self, const char *order_no, const s_order_line_t *lines,
                      size_t count, int64_t now_ms)
{
    if (count < 1 || count > STORE_LINES_MAX)
        return -1;
    db_stmt_t *st = db_stmt (self->db, self->lines_sql [count]);
    if (!st)
        return -1;
    int rc = DB_OK;
    for (size_t i = 0; i < count && rc == DB_OK; i++) {
        int at = (int) i * 5;
        if ((rc = db_bind_text (st, at + 1, order_no)) == DB_OK
        &&  (rc = db_bind_text (st, at + 2, lines [i].line.menu_id)) == DB_OK
        &&  (rc = db_bind_int64 (st, at + 3, lines [i].line.qy)) == DB_OK
        &&  (rc = db_bind_int64 (st, at + 4, lines [i].price)) == DB_OK)
            rc = db_bind_int64 (st, at + 5, now_ms);
    }
    if (rc == DB_OK)
        rc = db_step (st);
    db_reset (st);
    return rc == DB_DONE ? 0 : -1;
}

//  Inserts the outbox row carrying the order event.
static int
s_outbox_add (db_t *db, const char *order_no, const char *customer_id,
              const s_order_line_t *lines, size_t count, int64_t pay_amt, int64_t now_ms)
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
    char *payload = event_order_encode (&ev);
    if (!payload)
        return -1;
    db_stmt_t *st = db_stmt (db, SQL_OUTBOX_INSERT);
    int rc = DB_ERROR;
    if (st && db_bind_text (st, 1, order_no) == DB_OK
           && db_bind_text (st, 2, payload) == DB_OK
           && db_bind_int64 (st, 3, now_ms) == DB_OK)
        rc = db_step (st);
    db_reset (st);
    zstr_free (&payload);
    return rc == DB_DONE ? 0 : -1;
}

//  POST /order: the whole order in one transaction (see store.h).
int
store_order_create (store_t *self, const char *customer_id, const event_line_t *lines,
                    size_t line_count, const store_idem_t *idem, int64_t now_ms,
                    store_reply_t *reply)
{
    db_t *db = self->db;
    reply->status = 0;
    reply->body = NULL;
    s_order_line_t merged [STORE_LINES_MAX];
    const char *why = NULL;
    if (!s_valid_id (customer_id))
        return s_invalid (self, "order", "customerId", "customerId: must be a customer id", reply);
    size_t count = s_merge_lines (lines, line_count, merged, &why);
    if (count == 0)
        return s_invalid (self, "order", "menuList", why, reply);
    s_op_t op;
    int rc = s_op_start (self, &op, idem, now_ms, "order", reply);
    if (rc != IDEM_RUN)
        return rc < 0 ? -1 : 0;

    //  1. The customer
    db_stmt_t *st = db_stmt (db, SQL_CUSTOMER_EXISTS);
    rc = st ? db_bind_text (st, 1, customer_id) : DB_ERROR;
    if (rc == DB_OK)
        rc = db_step (st);
    db_reset (st);
    if (rc == DB_DONE) {
        if (s_reply_error (reply, 404, "NOT_FOUND_DATA", MSG_NO_CUSTOMER,
                           NULL, NULL, NULL, 0) != 0)
            return s_fail (self, &op, "order", reply);
        goto answer;
    }
    if (rc != DB_ROW)
        return s_fail (self, &op, "order", reply);

    //  2. The menus, displayed, and the price with checked arithmetic
    int64_t price = 0;
    for (size_t i = 0; i < count; i++) {
        st = db_stmt (db, SQL_MENU_GET);
        rc = st ? db_bind_text (st, 1, merged [i].line.menu_id) : DB_ERROR;
        if (rc == DB_OK)
            rc = db_step (st);
        bool shown = false;
        if (rc == DB_ROW) {
            const char *use_yn = db_column_text (st, 2);
            shown = use_yn && streq (use_yn, "Y");
            merged [i].price = db_column_int64 (st, 1);
        }
        db_reset (st);
        if (rc == DB_DONE || (rc == DB_ROW && !shown)) {
            if (s_reply_error (reply, 404, "NOT_FOUND_DATA", MSG_NO_MENU,
                               "menuId", merged [i].line.menu_id, NULL, 0) != 0)
                return s_fail (self, &op, "order", reply);
            goto answer;
        }
        if (rc != DB_ROW)
            return s_fail (self, &op, "order", reply);
        int64_t line_price;
        if (!util_mul_i64 (merged [i].price, merged [i].line.qy, &line_price)
        ||  !util_add_i64 (price, line_price, &price)) {
            if (s_reply_error (reply, 400, "INVALID_INPUT",
                               "menuList: the order price would exceed the maximum",
                               "field", "menuList", NULL, 0) != 0)
                return s_fail (self, &op, "order", reply);
            goto answer;
        }
    }

    //  3. Take the points: one conditional UPDATE, never read-modify-write.
    //  (A zero price would change no row on MySQL, so it skips the UPDATE.)
    if (price > 0) {
        rc = s_point_update (db, SQL_POINT_TAKE, price, customer_id, price);
        if (rc != DB_DONE)
            return s_fail (self, &op, "order", reply);
        if (db_changes (db) == 0) {
            int64_t balance = 0;
            rc = s_balance (db, customer_id, &balance);
            if (rc == DB_ROW) {
                char message [256];
                int64_t shortfall = price - balance;
                snprintf (message, sizeof message, MSG_NO_POINT, shortfall);
                rc = s_reply_error (reply, 409, "NO_POINT", message,
                                    NULL, NULL, "shortfall", shortfall);
            }
            else
            if (rc == DB_DONE)
                rc = s_reply_error (reply, 404, "NOT_FOUND_DATA", MSG_NO_CUSTOMER,
                                    NULL, NULL, NULL, 0);
            else
                rc = -1;
            if (rc != 0)
                return s_fail (self, &op, "order", reply);
            goto answer;
        }
    }

    //  4. The order, its lines, the USE history row, the outbox row
    char order_no [COFFEE_ID_MAX];
    char remark [64];
    if (s_order_insert (db, customer_id, price, now_ms, order_no) != 0
    ||  s_order_lines_insert (self, order_no, merged, count, now_ms) != 0)
        return s_fail (self, &op, "order", reply);
    snprintf (remark, sizeof remark, "주문 %s", order_no);
    if (s_history_add (db, customer_id, -price, TYPE_USE, TYPE_USE_NM, remark, now_ms) != 0
    ||  s_outbox_add (db, order_no, customer_id, merged, count, price, now_ms) != 0)
        return s_fail (self, &op, "order", reply);

    cJSON *json = cJSON_CreateObject ();
    cJSON_AddStringToObject (json, "orderNo", order_no);
    sqlkit_add_int (json, "orderPrice", price);
    sqlkit_add_int (json, "usePoint", price);
    if (s_reply_json (reply, 200, json) != 0)
        return s_fail (self, &op, "order", reply);

answer:
    //  Business errors changed nothing; they end here too, so a key
    //  replays them
    return s_op_finish (self, &op, idem, now_ms, "order", reply);
}

//  GET /order/{orderNo}.
int
store_order_get (store_t *self, const char *order_no, store_reply_t *reply)
{
    db_t *db = self->db;
    reply->status = 0;
    reply->body = NULL;
    cJSON *json = NULL;
    if (!s_valid_id (order_no)) {
        if (s_reply_error (reply, 404, "NOT_FOUND_DATA", MSG_NO_ORDER,
                           NULL, NULL, NULL, 0) != 0)
            goto fail;
        return 0;
    }
    if (sqlkit_begin_read (db) != DB_OK)
        goto fail;
    db_stmt_t *st = db_stmt (db, SQL_ORDER_GET);
    int rc = st ? db_bind_text (st, 1, order_no) : DB_ERROR;
    if (rc == DB_OK)
        rc = db_step (st);
    if (rc == DB_ROW) {
        char when [UTIL_ISO_MAX];
        json = cJSON_CreateObject ();
        cJSON_AddStringToObject (json, "orderNo", db_column_text (st, 0));
        cJSON_AddStringToObject (json, "customerId", db_column_text (st, 1));
        sqlkit_add_int (json, "orderPrice", db_column_int64 (st, 2));
        sqlkit_add_int (json, "payAmt", db_column_int64 (st, 3));
        cJSON_AddStringToObject (json, "orderedAt", util_iso8601 (db_column_int64 (st, 4), when));
    }
    db_reset (st);
    if (rc == DB_DONE) {
        sqlkit_end_read (db);
        if (s_reply_error (reply, 404, "NOT_FOUND_DATA", MSG_NO_ORDER,
                           NULL, NULL, NULL, 0) != 0)
            goto fail;
        return 0;
    }
    if (rc != DB_ROW) {
        sqlkit_end_read (db);
        goto fail;
    }
    cJSON *menus = cJSON_AddArrayToObject (json, "menuList");
    st = db_stmt (db, SQL_ORDER_LINES);
    rc = st ? db_bind_text (st, 1, order_no) : DB_ERROR;
    while (rc == DB_OK || rc == DB_ROW) {
        rc = db_step (st);
        if (rc != DB_ROW)
            break;
        cJSON *item = cJSON_CreateObject ();
        cJSON_AddStringToObject (item, "menuId", db_column_text (st, 0));
        cJSON_AddStringToObject (item, "menuNm", db_column_text (st, 1));
        sqlkit_add_int (item, "qy", db_column_int64 (st, 2));
        sqlkit_add_int (item, "menuPrice", db_column_int64 (st, 3));
        cJSON_AddItemToArray (menus, item);
    }
    db_reset (st);
    sqlkit_end_read (db);
    if (rc != DB_DONE)
        goto fail;
    rc = s_reply_json (reply, 200, json);
    json = NULL;
    if (rc != 0)
        goto fail;
    return 0;

fail:
    cJSON_Delete (json);
    return s_fail (self, NULL, "order get", reply);
}

// ---------------------------------------------------------------------------
//  Outbox

static const char SQL_OUTBOX_CLAIM_SQLITE [] =
    "SELECT id, order_no, payload FROM outbox WHERE published_at IS NULL ORDER BY id LIMIT ?";
static const char SQL_OUTBOX_CLAIM_MYSQL [] =
    "SELECT id, order_no, payload FROM outbox WHERE published_at IS NULL ORDER BY id LIMIT ?"
    " FOR UPDATE SKIP LOCKED";
//  Placeholders of the batch mark: STORE_OUTBOX_MARK_MAX (256) ids.
#define Q4    "?,?,?,?"
#define Q16   Q4 "," Q4 "," Q4 "," Q4
#define Q64   Q16 "," Q16 "," Q16 "," Q16
#define Q256  Q64 "," Q64 "," Q64 "," Q64
static const char SQL_OUTBOX_MARK [] =
    "UPDATE outbox SET published_at = ? WHERE published_at IS NULL AND id IN (" Q256 ")";
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
        const char *order_no = db_column_text (st, 1);
        const char *payload = db_column_text (st, 2);
        list [n].id = db_column_int64 (st, 0);
        snprintf (list [n].order_no, sizeof list [n].order_no, "%s", order_no ? order_no : "");
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

//  Marks the first count claimed rows published and ends the claim.
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
            rc = db_step (st);
        db_reset (st);
        if (rc != DB_DONE)
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

// ---------------------------------------------------------------------------
//  Reconcile

static const char SQL_MENU_COUNTS [] =
    "SELECT om.menu_id, COALESCE(MAX(m.menu_nm), ''), COUNT(*) FROM order_menu om"
    " LEFT JOIN menu m ON m.menu_id = om.menu_id"
    " WHERE om.created_at > ? AND om.created_at <= ? GROUP BY om.menu_id ORDER BY om.menu_id";
static const char SQL_ORDER_EVENTS [] =
    "SELECT o.order_no, o.customer_id, o.pay_amt, o.created_at, om.menu_id, om.qy"
    " FROM orders o JOIN order_menu om ON om.order_no = o.order_no"
    " WHERE o.created_at > ? AND o.created_at <= ? ORDER BY o.id, om.menu_id";

//  Per menu, orders containing it in (from_ms, to_ms].
int
store_order_menu_counts (store_t *self, int64_t from_ms, int64_t to_ms,
                         store_count_t **counts, size_t *count)
{
    return sqlkit_window_counts (self->db, SQL_MENU_COUNTS, from_ms, to_ms, counts, count);
}

//  Frees an array of events.
static void
s_events_free (event_order_t *events, size_t count)
{
    for (size_t i = 0; i < count; i++)
        event_order_reset (&events [i]);
    free (events);
}

//  Every order of (from_ms, to_ms] as an event, from one snapshot.
int
store_order_events (store_t *self, int64_t from_ms, int64_t to_ms,
                    event_order_t **events, size_t *count)
{
    db_t *db = self->db;
    *events = NULL;
    *count = 0;
    if (sqlkit_begin_read (db) != DB_OK)
        return -1;
    event_order_t *list = NULL;
    size_t n = 0, cap = 0;
    db_stmt_t *st = db_stmt (db, SQL_ORDER_EVENTS);
    int rc = DB_ERROR;
    if (st && db_bind_int64 (st, 1, from_ms) == DB_OK && db_bind_int64 (st, 2, to_ms) == DB_OK)
        rc = DB_OK;
    while (rc == DB_OK || rc == DB_ROW) {
        rc = db_step (st);
        if (rc != DB_ROW)
            break;
        const char *order_no = db_column_text (st, 0);
        if (!order_no)
            continue;
        event_order_t *ev = n ? &list [n - 1] : NULL;
        if (!ev || strcmp (ev->order_no, order_no) != 0) {
            if (n == cap) {
                size_t grown = cap ? cap * 2 : 16;
                event_order_t *more = (event_order_t *) realloc (list, grown * sizeof *list);
                if (!more) {
                    rc = DB_ERROR;
                    break;
                }
                list = more;
                cap = grown;
            }
            ev = &list [n++];
            memset (ev, 0, sizeof *ev);
            const char *customer_id = db_column_text (st, 1);
            snprintf (ev->order_no, sizeof ev->order_no, "%s", order_no);
            snprintf (ev->customer_id, sizeof ev->customer_id, "%s",
                      customer_id ? customer_id : "");
            ev->pay_amt = db_column_int64 (st, 2);
            ev->ordered_at_ms = db_column_int64 (st, 3);
        }
        event_line_t *more = (event_line_t *) realloc (ev->lines,
                                                       (ev->line_count + 1) * sizeof *more);
        if (!more) {
            rc = DB_ERROR;
            break;
        }
        ev->lines = more;
        event_line_t *line = &ev->lines [ev->line_count++];
        memset (line, 0, sizeof *line);
        const char *menu_id = db_column_text (st, 4);
        snprintf (line->menu_id, sizeof line->menu_id, "%s", menu_id ? menu_id : "");
        line->qy = db_column_int64 (st, 5);
    }
    db_reset (st);
    sqlkit_end_read (db);
    if (rc != DB_DONE) {
        s_events_free (list, n);
        return -1;
    }
    *events = list;
    *count = n;
    return 0;
}
