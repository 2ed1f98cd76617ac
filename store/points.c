/*  points — customers, point charges, balances and their history. Amounts
    only ever change through conditional UPDATEs, so concurrent writers
    (threads, processes, instances) never lose an update and a balance never
    leaves 0 .. INT64_MAX. */
#include "store_impl.h"
#include "token.h"

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
    " created_at) VALUES (?, ?, ?, ?, ?, ?, ?)";
static const char SQL_HISTORY_PAGE [] =
    "SELECT id, point, type_code, type_name, exp_date, remark FROM point_history"
    " WHERE customer_id = ? AND id < ? ORDER BY id DESC LIMIT ?";
static const char SQL_HISTORY_SUM [] =
    "SELECT COALESCE(SUM(point), 0) FROM point_history WHERE customer_id = ?";

static int s_point_update (db_t *db, const char *sql, int64_t amount, const char *customer_id,
                           int64_t bound);

//  Reads a customer's balance: DB_ROW (set), DB_DONE (no such customer)
//  or a failure code.
int
store_balance_read (db_t *db, const char *customer_id, int64_t *balance)
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

//  Appends a point history row, with its expiry date (NULL: none).
int
store_history_add (db_t *db, const char *customer_id, int64_t point, const char *code,
                   const char *name, const char *remark, const char *exp_date, int64_t now_ms)
{
    db_stmt_t *st = db_stmt (db, SQL_HISTORY_INSERT);
    if (!st)
        return -1;
    int rc = DB_ERROR;
    if (db_bind_text (st, 1, customer_id) == DB_OK
    &&  db_bind_int64 (st, 2, point) == DB_OK
    &&  db_bind_text (st, 3, code) == DB_OK
    &&  db_bind_text (st, 4, name) == DB_OK
    &&  db_bind_text (st, 5, exp_date) == DB_OK
    &&  db_bind_text (st, 6, remark) == DB_OK
    &&  db_bind_int64 (st, 7, now_ms) == DB_OK)
        rc = db_step (st);
    db_reset (st);
    return rc == DB_DONE ? 0 : -1;
}

//  Adds points to a balance and opens their lot.
int
store_points_add (db_t *db, const char *customer_id, int64_t amount, const char *code,
                  const char *name, const char *remark, const char *exp_date, int64_t now_ms)
{
    int rc = s_point_update (db, SQL_POINT_ADD, amount, customer_id, INT64_MAX - amount);
    if (rc != DB_DONE)
        return -1;
    if (db_changes (db) == 0)
        return 1;
    return store_lot_add (db, customer_id, amount, code, name, remark, exp_date, now_ms) == 0
         ? 0: -1;
}

//  The expiry date of a lot opened now that is valid for days (0: none).
static const char *
s_valid_until (int64_t now_ms, int days, char *date)
{
    if (days <= 0)
        return NULL;
    store_exp_date (now_ms, days, date);
    return date;
}

//  Sets the point policy.
void
store_set_policy (store_t *self, const store_policy_t *policy)
{
    self->policy = *policy;
}

//  Runs a write statement whose binds are (text, int64); returns the
//  db_step code.
int
store_write_ti (db_t *db, const char *sql, const char *text, int64_t value)
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

//  Whether a customer exists: DB_ROW, DB_DONE (no such customer) or a
//  failure code.
int
store_customer_exists (db_t *db, const char *customer_id)
{
    db_stmt_t *st = db_stmt (db, SQL_CUSTOMER_EXISTS);
    int rc = st ? db_bind_text (st, 1, customer_id) : DB_ERROR;
    if (rc == DB_OK)
        rc = db_step (st);
    db_reset (st);
    return rc;
}

//  Takes amount from a customer's balance with the conditional UPDATE
//  (never read-modify-write): DB_DONE, with db_changes 0 when the balance
//  was short (or no such customer), or a failure code.
int
store_point_take (db_t *db, const char *customer_id, int64_t amount)
{
    return s_point_update (db, SQL_POINT_TAKE, amount, customer_id, amount);
}

//  POST /customer.
int
store_customer_create (store_t *self, const char *name, const char *token, int64_t now_ms,
                       store_reply_t *reply)
{
    db_t *db = self->db;
    reply->status = 0;
    reply->body = NULL;
    if (!name || !*name || strlen (name) > STORE_NAME_MAX)
        return store_op_invalid (self, "customer create", STORE_WHY_NAME, reply);
    if (token && !token_well_formed (token))
        return store_op_invalid (self, "customer create", STORE_WHY_NONE, reply);
    store_op_t op;
    if (store_op_start (self, &op, NULL, NULL, NULL, now_ms, "customer create", reply)
        != STORE_IDEM_RUN)
        return -1;
    if (store_write_ti (db, SQL_CUSTOMER_INSERT, name, now_ms) != DB_DONE)
        return store_op_fail (self, &op, "customer create", reply);
    int64_t id = db_last_insert_id (db);
    char customer_id [COFFEE_ID_MAX];
    snprintf (customer_id, sizeof customer_id, "CUST-%08" PRId64, id);
    if (store_write_ti (db, SQL_CUSTOMER_SET_ID, customer_id, id) != DB_DONE)
        return store_op_fail (self, &op, "customer create", reply);
    db_stmt_t *st = db_stmt (db, SQL_POINT_INSERT);
    int rc = DB_ERROR;
    if (st && db_bind_text (st, 1, customer_id) == DB_OK)
        rc = db_step (st);
    db_reset (st);
    if (rc != DB_DONE || (token && store_token_set (db, customer_id, token) != DB_DONE))
        return store_op_fail (self, &op, "customer create", reply);
    if (self->policy.welcome_points > 0) {
        char date [STORE_DATE_MAX];
        const char *until = s_valid_until (now_ms, self->policy.welcome_valid_days, date);
        if (store_points_add (db, customer_id, self->policy.welcome_points, TYPE_SAVE,
                              TYPE_SAVE_NM, REMARK_WELCOME, until, now_ms) != 0)
            return store_op_fail (self, &op, "customer create", reply);
    }
    if (store_reply_token (reply, customer_id, token) != 0)
        return store_op_fail (self, &op, "customer create", reply);
    return store_op_finish (self, &op, NULL, now_ms, "customer create", reply);
}

//  POST /point.
int
store_charge (store_t *self, const char *customer_id, int64_t amount,
              const store_auth_t *auth, const store_idem_t *idem, int64_t now_ms,
              store_reply_t *reply)
{
    db_t *db = self->db;
    reply->status = 0;
    reply->body = NULL;
    if (!store_valid_id (customer_id))
        return store_op_invalid (self, "charge", STORE_WHY_CUSTOMER_ID, reply);
    if (amount < 1 || amount > STORE_CHARGE_MAX)
        return store_op_invalid (self, "charge", STORE_WHY_AMOUNT, reply);
    store_op_t op;
    int rc = store_op_start (self, &op, auth, customer_id, idem, now_ms, "charge", reply);
    if (rc != STORE_IDEM_RUN)
        return rc < 0 ? -1 : 0;

    //  Lots past their date go first, in this transaction
    if (store_lots_expire (db, customer_id, now_ms, NULL) != 0)
        return store_op_fail (self, &op, "charge", reply);
    char date [STORE_DATE_MAX];
    const char *until = s_valid_until (now_ms, self->policy.charge_valid_days, date);
    rc = store_points_add (db, customer_id, amount, TYPE_CHARGE, TYPE_CHARGE_NM, REMARK_CHARGE,
                           until, now_ms);
    if (rc < 0)
        return store_op_fail (self, &op, "charge", reply);
    int64_t balance = 0;
    if (rc == 1) {
        //  Unknown customer, or the balance would pass INT64_MAX
        rc = store_balance_read (db, customer_id, &balance);
        if (rc == DB_DONE)
            rc = store_reply_not_found (reply, STORE_ABOUT_CUSTOMER, NULL);
        else
        if (rc == DB_ROW)
            rc = store_reply_invalid (reply, STORE_WHY_BALANCE_MAX);
        else
            rc = -1;
        if (rc != 0)
            return store_op_fail (self, &op, "charge", reply);
        return store_op_finish (self, &op, idem, now_ms, "charge", reply);
    }
    if (store_balance_read (db, customer_id, &balance) != DB_ROW)
        return store_op_fail (self, &op, "charge", reply);

    cJSON *json = cJSON_CreateObject ();
    sqlkit_add_int (json, "beforeChargePoint", balance - amount);
    sqlkit_add_int (json, "chargeAmt", amount);
    sqlkit_add_int (json, "afterChargePoint", balance);
    if (store_reply_done (reply, json) != 0)
        return store_op_fail (self, &op, "charge", reply);
    return store_op_finish (self, &op, idem, now_ms, "charge", reply);
}

//  GET /point/{customerId}: the balance and one page of history, newest
//  first, from one snapshot.
int
store_point_get (store_t *self, const char *customer_id, const store_auth_t *auth, int limit,
                 int64_t cursor, int64_t now_ms, store_reply_t *reply)
{
    db_t *db = self->db;
    reply->status = 0;
    reply->body = NULL;
    if (limit < 1 || limit > STORE_PAGE_MAX)
        limit = STORE_PAGE_DEFAULT;
    if (cursor <= 0)
        cursor = INT64_MAX;
    if (sqlkit_begin_read (db) != DB_OK)
        goto fail;
    int rc = store_auth_check (self, auth, customer_id, reply);
    if (rc != 0) {
        sqlkit_end_read (db);
        return rc > 0? 0: store_op_fail (self, NULL, "point get", reply);
    }
    int64_t balance = 0;
    rc = store_valid_id (customer_id)? store_balance_read (db, customer_id, &balance): DB_DONE;
    if (rc == DB_DONE) {
        sqlkit_end_read (db);
        if (store_reply_not_found (reply, STORE_ABOUT_CUSTOMER, NULL) != 0)
            goto fail;
        return 0;
    }
    int64_t expiring = 0;
    if (rc == DB_ROW)
        rc = store_lots_expiring (db, customer_id, now_ms, STORE_EXPIRING_DAYS, &expiring);
    if (rc != DB_ROW) {
        sqlkit_end_read (db);
        goto fail;
    }
    cJSON *list = cJSON_CreateArray ();
    cJSON *entry = cJSON_CreateObject ();
    cJSON_AddItemToArray (list, entry);
    cJSON_AddStringToObject (entry, "customerId", customer_id);
    sqlkit_add_int (entry, "point", balance);
    sqlkit_add_int (entry, "expiringPoint", expiring);
    cJSON *details = cJSON_AddArrayToObject (entry, "pointDetail");

    //  One row past the page says whether another page follows.
    int64_t last_id = 0;
    int rows = 0;
    bool more = false;
    db_stmt_t *st = db_stmt (db, SQL_HISTORY_PAGE);
    rc = st? db_bind_text (st, 1, customer_id): DB_ERROR;
    if (rc == DB_OK)
        rc = db_bind_int64 (st, 2, cursor);
    if (rc == DB_OK)
        rc = db_bind_int64 (st, 3, (int64_t) limit + 1);
    while (rc == DB_OK || rc == DB_ROW) {
        rc = db_step (st);
        if (rc != DB_ROW)
            break;
        if (rows == limit) {
            more = true;
            continue;
        }
        rows++;
        last_id = db_column_int64 (st, 0);
        cJSON *item = cJSON_CreateObject ();
        sqlkit_add_int (item, "point", db_column_int64 (st, 1));
        cJSON_AddStringToObject (item, "pointTypeCode", db_column_text (st, 2));
        cJSON_AddStringToObject (item, "pointTypeName", db_column_text (st, 3));
        if (db_column_is_null (st, 4))
            cJSON_AddNullToObject (item, "expDate");
        else
            cJSON_AddStringToObject (item, "expDate", db_column_text (st, 4));
        cJSON_AddStringToObject (item, "remark", db_column_text (st, 5));
        cJSON_AddItemToArray (details, item);
    }
    db_reset (st);
    sqlkit_end_read (db);
    if (rc != DB_DONE) {
        cJSON_Delete (list);
        goto fail;
    }
    if (more) {
        char next [24];
        snprintf (next, sizeof next, "%" PRId64, last_id);
        cJSON_AddStringToObject (entry, "nextCursor", next);
    }
    else
        cJSON_AddNullToObject (entry, "nextCursor");
    if (store_reply_done (reply, list) != 0)
        goto fail;
    return 0;

fail:
    return store_op_fail (self, NULL, "point get", reply);
}

//  Balance and history sum of a customer, from one snapshot.
int
store_balance (store_t *self, const char *customer_id, int64_t *balance, int64_t *history_sum)
{
    db_t *db = self->db;
    if (!store_valid_id (customer_id) || sqlkit_begin_read (db) != DB_OK)
        return -1;
    int64_t value = 0, sum = 0;
    int rc = store_balance_read (db, customer_id, &value);
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


//  POST /admin/point/save.
int
store_point_save (store_t *self, const char *customer_id, int64_t point, const char *exp_date,
                  const char *remark, int64_t now_ms, store_reply_t *reply)
{
    db_t *db = self->db;
    reply->status = 0;
    reply->body = NULL;
    if (!store_valid_id (customer_id))
        return store_op_invalid (self, "point save", STORE_WHY_CUSTOMER_ID, reply);
    if (point < 1 || point > STORE_CHARGE_MAX)
        return store_op_invalid (self, "point save", STORE_WHY_POINT, reply);
    char today [STORE_DATE_MAX];
    store_exp_date (now_ms, 0, today);
    if (exp_date && (store_exp_at (exp_date) < 0 || strcmp (exp_date, today) < 0))
        return store_op_invalid (self, "point save", STORE_WHY_EXP_DATE, reply);
    if (!remark || !*remark || strlen (remark) >= STORE_REMARK_MAX)
        return store_op_invalid (self, "point save", STORE_WHY_REMARK, reply);
    store_op_t op;
    int rc = store_op_start (self, &op, NULL, customer_id, NULL, now_ms, "point save", reply);
    if (rc != STORE_IDEM_RUN)
        return rc < 0 ? -1 : 0;
    if (store_lots_expire (db, customer_id, now_ms, NULL) != 0)
        return store_op_fail (self, &op, "point save", reply);
    rc = store_points_add (db, customer_id, point, TYPE_SAVE, TYPE_SAVE_NM, remark, exp_date,
                           now_ms);
    if (rc < 0)
        return store_op_fail (self, &op, "point save", reply);
    int64_t balance = 0;
    if (rc == 1) {
        rc = store_balance_read (db, customer_id, &balance);
        rc = rc == DB_DONE? store_reply_not_found (reply, STORE_ABOUT_CUSTOMER, NULL)
           : rc == DB_ROW? store_reply_invalid (reply, STORE_WHY_BALANCE_MAX): -1;
        if (rc != 0)
            return store_op_fail (self, &op, "point save", reply);
        return store_op_finish (self, &op, NULL, now_ms, "point save", reply);
    }
    if (store_balance_read (db, customer_id, &balance) != DB_ROW)
        return store_op_fail (self, &op, "point save", reply);
    cJSON *json = cJSON_CreateObject ();
    cJSON_AddStringToObject (json, "customerId", customer_id);
    sqlkit_add_int (json, "point", point);
    sqlkit_add_int (json, "afterPoint", balance);
    if (exp_date)
        cJSON_AddStringToObject (json, "expDate", exp_date);
    else
        cJSON_AddNullToObject (json, "expDate");
    if (store_reply_done (reply, json) != 0)
        return store_op_fail (self, &op, "point save", reply);
    return store_op_finish (self, &op, NULL, now_ms, "point save", reply);
}
