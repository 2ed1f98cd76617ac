/*  lots — points as lots with a usage deadline, as the original design
    planned (EXP_DATE, SAVE, EXPIRE). Every CHARGE and SAVE history row
    opens a lot (its amount, what is left, its expiry); an order spends the
    lots that expire soonest first, then those that never expire, and
    records which it spent; a lot past its date is written off once, as one
    EXPIRE row of what was left.

    The balance always equals the sum of the lots' remainders and the sum of
    the history. Every write to a customer's lots first takes the customer's
    point row (the conditional balance UPDATE, or SELECT … FOR UPDATE on
    MySQL), so two writers — threads, processes or instances — never spend
    or expire the same lot: the second waits, then sees the first's result.
    Writing a lot off is also one conditional UPDATE on what the writer saw
    left, so it happens exactly once.

    Dates are the shop's days (Asia/Seoul, UTC+9, no daylight saving): a lot
    with expDate 20221230 can be spent through that day and expires at
    2022-12-31 00:00 KST. */
#include "store_impl.h"
#include <time.h>

//  The shop's clock: UTC+9, in ms.
#define S_SHOP_OFFSET_MS (9 * 3600 * 1000LL)
#define S_DAY_MS         (24 * 3600 * 1000LL)
//  expires_at of a lot that never expires: after every real date, so the
//  soonest-first order puts it last and no sweep reaches it.
#define S_NEVER          9000000000000000000LL

static const char SQL_LOT_INSERT [] =
    "INSERT INTO point_lot (customer_id, history_id, amount, remaining, exp_date, expires_at,"
    " created_at) VALUES (?, ?, ?, ?, ?, ?, ?)";
static const char SQL_LOT_DUE [] =
    "SELECT id, remaining, exp_date FROM point_lot"
    " WHERE customer_id = ? AND remaining > 0 AND expires_at <= ? ORDER BY id";
static const char SQL_LOT_WRITE_OFF [] =
    "UPDATE point_lot SET remaining = 0 WHERE id = ? AND remaining = ?";
static const char SQL_LOT_SPENDABLE [] =
    "SELECT id, remaining FROM point_lot WHERE customer_id = ? AND remaining > 0"
    " ORDER BY expires_at, id";
static const char SQL_LOT_TAKE [] =
    "UPDATE point_lot SET remaining = remaining - ? WHERE id = ? AND remaining >= ?";
static const char SQL_LOT_USE_INSERT [] =
    "INSERT INTO point_lot_use (history_id, lot_id, point) VALUES (?, ?, ?)";
static const char SQL_POINT_LOCK_MYSQL [] =
    "SELECT balance FROM point WHERE customer_id = ? FOR UPDATE";
static const char SQL_POINT_LOWER [] =
    "UPDATE point SET balance = balance - ? WHERE customer_id = ? AND balance >= ?";
static const char SQL_EXPIRING [] =
    "SELECT COALESCE(SUM(remaining), 0) FROM point_lot WHERE customer_id = ? AND remaining > 0"
    " AND expires_at > ? AND expires_at <= ?";
static const char SQL_DUE_CUSTOMERS [] =
    "SELECT DISTINCT customer_id FROM point_lot"
    " WHERE remaining > 0 AND expires_at <= ? LIMIT ?";

// ---------------------------------------------------------------------------
//  Dates

//  The shop's day of ms plus days, as YYYYMMDD.
void
store_exp_date (int64_t now_ms, int days, char *date)
{
    time_t seconds = (time_t) ((now_ms + S_SHOP_OFFSET_MS) / 1000 + (int64_t) days * 86400);
    struct tm tm;
    gmtime_r (&seconds, &tm);
    //  Years past 9999 cannot be written in 8 digits: clamp (never reached
    //  by days up to 36500 from a real clock)
    int year = tm.tm_year + 1900;
    if (year < 0 || year > 9999)
        year = 9999;
    snprintf (date, STORE_DATE_MAX, "%04u%02u%02u", (unsigned) year % 10000u,
              (unsigned) (tm.tm_mon + 1) % 100u, (unsigned) tm.tm_mday % 100u);
}

//  When a lot of date YYYYMMDD expires (the next shop day's start, UTC ms);
//  -1 when date is not a real date.
int64_t
store_exp_at (const char *date)
{
    if (!date || strlen (date) != 8)
        return -1;
    for (int i = 0; i < 8; i++)
        if (date [i] < '0' || date [i] > '9')
            return -1;
    int year = (date [0] - '0') * 1000 + (date [1] - '0') * 100 + (date [2] - '0') * 10
             + (date [3] - '0');
    int month = (date [4] - '0') * 10 + (date [5] - '0');
    int day = (date [6] - '0') * 10 + (date [7] - '0');
    if (year < 1970 || month < 1 || month > 12 || day < 1 || day > 31)
        return -1;
    struct tm tm = { 0 };
    tm.tm_year = year - 1900;
    tm.tm_mon = month - 1;
    tm.tm_mday = day;
    time_t seconds = timegm (&tm);
    struct tm check;
    gmtime_r (&seconds, &check);
    if (check.tm_mday != day || check.tm_mon != month - 1)
        return -1;                      //  20230231 and the like
    return ((int64_t) seconds * 1000) + S_DAY_MS - S_SHOP_OFFSET_MS;
}

// ---------------------------------------------------------------------------
//  Writing lots

//  Adds a history row of amount (CHARGE or SAVE) and the lot it opens;
//  exp_date NULL: the lot never expires. The balance is the caller's. 0 or -1.
int
store_lot_add (db_t *db, const char *customer_id, int64_t amount, const char *code,
               const char *name, const char *remark, const char *exp_date, int64_t now_ms)
{
    if (store_history_add (db, customer_id, amount, code, name, remark, exp_date, now_ms) != 0)
        return -1;
    int64_t history_id = db_last_insert_id (db);
    int64_t expires_at = exp_date? store_exp_at (exp_date): S_NEVER;
    if (expires_at < 0)
        return -1;
    db_stmt_t *st = db_stmt (db, SQL_LOT_INSERT);
    int rc = DB_ERROR;
    if (st
    &&  db_bind_text (st, 1, customer_id) == DB_OK
    &&  db_bind_int64 (st, 2, history_id) == DB_OK
    &&  db_bind_int64 (st, 3, amount) == DB_OK
    &&  db_bind_int64 (st, 4, amount) == DB_OK
    &&  db_bind_text (st, 5, exp_date? exp_date: "") == DB_OK
    &&  db_bind_int64 (st, 6, expires_at) == DB_OK
    &&  db_bind_int64 (st, 7, now_ms) == DB_OK)
        rc = db_step (st);
    db_reset (st);
    return rc == DB_DONE? 0: -1;
}

//  Takes the customer's point row for the rest of the transaction (MySQL
//  only: SQLite's writer already holds the whole file): DB_ROW, DB_DONE (no
//  such customer) or a failure code.
static int
s_lock_customer (db_t *db, const char *customer_id)
{
    db_stmt_t *st = db_stmt (db, SQL_POINT_LOCK_MYSQL);
    int rc = st? db_bind_text (st, 1, customer_id): DB_ERROR;
    if (rc == DB_OK)
        rc = db_step (st);
    db_reset (st);
    return rc;
}

//  One due lot.
typedef struct {
    int64_t id;
    int64_t remaining;
    char exp_date [STORE_DATE_MAX];
} s_due_t;

//  Writes off the customer's lots that expired by now_ms: each once, as
//  one EXPIRE row of what was left, the balance lowered by as much. *points
//  (may be NULL) gets the points written off. 0 or -1.
int
store_lots_expire (db_t *db, const char *customer_id, int64_t now_ms, int64_t *points)
{
    if (points)
        *points = 0;
    //  On SQLite there is no row lock to take, and a customer that is not
    //  there has no lots either: one statement an order less.
    int rc = db_dialect (db) == DB_MYSQL ? s_lock_customer (db, customer_id) : DB_ROW;
    if (rc == DB_DONE)
        return 0;
    if (rc != DB_ROW)
        return -1;
    //  Read them all first: one statement at a time per connection
    s_due_t due [64];
    size_t count = 0;
    bool more = false;
    db_stmt_t *st = db_stmt (db, SQL_LOT_DUE);
    rc = st? db_bind_text (st, 1, customer_id): DB_ERROR;
    if (rc == DB_OK)
        rc = db_bind_int64 (st, 2, now_ms);
    while (rc == DB_OK || rc == DB_ROW) {
        rc = db_step (st);
        if (rc != DB_ROW)
            break;
        if (count == sizeof due / sizeof due [0]) {
            more = true;
            continue;
        }
        due [count].id = db_column_int64 (st, 0);
        due [count].remaining = db_column_int64 (st, 1);
        snprintf (due [count].exp_date, STORE_DATE_MAX, "%s", db_column_text (st, 2));
        count++;
    }
    db_reset (st);
    if (rc != DB_DONE)
        return -1;
    for (size_t i = 0; i < count; i++) {
        st = db_stmt (db, SQL_LOT_WRITE_OFF);
        rc = DB_ERROR;
        if (st && db_bind_int64 (st, 1, due [i].id) == DB_OK
               && db_bind_int64 (st, 2, due [i].remaining) == DB_OK)
            rc = db_step (st);
        db_reset (st);
        if (rc != DB_DONE)
            return -1;
        if (db_changes (db) != 1)
            continue;                   //  another writer wrote it off first
        st = db_stmt (db, SQL_POINT_LOWER);
        rc = DB_ERROR;
        if (st && db_bind_int64 (st, 1, due [i].remaining) == DB_OK
               && db_bind_text (st, 2, customer_id) == DB_OK
               && db_bind_int64 (st, 3, due [i].remaining) == DB_OK)
            rc = db_step (st);
        db_reset (st);
        if (rc != DB_DONE || db_changes (db) != 1)
            return -1;                  //  the balance no longer covers its lots: a bug
        char remark [STORE_REMARK_MAX];
        snprintf (remark, sizeof remark, "포인트 소멸 (lot %" PRId64 ", expDate %s)",
                  due [i].id, due [i].exp_date);
        if (store_history_add (db, customer_id, -due [i].remaining, TYPE_EXPIRE,
                               TYPE_EXPIRE_NM, remark, NULL, now_ms) != 0)
            return -1;
        if (points)
            *points += due [i].remaining;
    }
    if (more)                           //  past 64 due lots: the next pass takes the rest
        return store_lots_expire (db, customer_id, now_ms, NULL) == 0? 0: -1;
    return 0;
}

//  Spends amount from the customer's lots, soonest expiry first, then the
//  ones that never expire, recording each lot spent against the USE row
//  history_id. The caller took the amount off the balance and wrote off
//  expired lots in this transaction. 0 or -1.
int
store_lots_spend (db_t *db, const char *customer_id, int64_t history_id, int64_t amount)
{
    int64_t left = amount;
    while (left > 0) {
        //  A page of lots, soonest first; each spent one leaves the list
        int64_t ids [32], remains [32];
        size_t count = 0;
        db_stmt_t *st = db_stmt (db, SQL_LOT_SPENDABLE);
        int rc = st? db_bind_text (st, 1, customer_id): DB_ERROR;
        while ((rc == DB_OK || rc == DB_ROW) && count < 32) {
            rc = db_step (st);
            if (rc != DB_ROW)
                break;
            ids [count] = db_column_int64 (st, 0);
            remains [count] = db_column_int64 (st, 1);
            count++;
        }
        db_reset (st);
        if ((rc != DB_DONE && rc != DB_ROW) || count == 0)
            return -1;                  //  the lots do not cover the balance: a bug
        for (size_t i = 0; i < count && left > 0; i++) {
            int64_t take = remains [i] < left? remains [i]: left;
            st = db_stmt (db, SQL_LOT_TAKE);
            rc = DB_ERROR;
            if (st && db_bind_int64 (st, 1, take) == DB_OK
                   && db_bind_int64 (st, 2, ids [i]) == DB_OK
                   && db_bind_int64 (st, 3, take) == DB_OK)
                rc = db_step (st);
            db_reset (st);
            if (rc != DB_DONE || db_changes (db) != 1)
                return -1;
            st = db_stmt (db, SQL_LOT_USE_INSERT);
            rc = DB_ERROR;
            if (st && db_bind_int64 (st, 1, history_id) == DB_OK
                   && db_bind_int64 (st, 2, ids [i]) == DB_OK
                   && db_bind_int64 (st, 3, take) == DB_OK)
                rc = db_step (st);
            db_reset (st);
            if (rc != DB_DONE)
                return -1;
            left -= take;
        }
    }
    return 0;
}

//  Points of the customer's lots that expire after now_ms and within
//  days: DB_ROW with *points set, or a failure code.
int
store_lots_expiring (db_t *db, const char *customer_id, int64_t now_ms, int days,
                     int64_t *points)
{
    db_stmt_t *st = db_stmt (db, SQL_EXPIRING);
    int rc = st? db_bind_text (st, 1, customer_id): DB_ERROR;
    if (rc == DB_OK)
        rc = db_bind_int64 (st, 2, now_ms);
    if (rc == DB_OK)
        rc = db_bind_int64 (st, 3, now_ms + (int64_t) days * S_DAY_MS);
    if (rc == DB_OK)
        rc = db_step (st);
    if (rc == DB_ROW)
        *points = db_column_int64 (st, 0);
    db_reset (st);
    return rc;
}

// ---------------------------------------------------------------------------
//  The scheduled sweep

//  Writes off lots that expired by now_ms, for up to max customers, each in
//  a transaction of its own. *customers and *points (may be NULL) get how
//  many were swept and how much. 0 or -1.
int
store_expire_due (store_t *self, int64_t now_ms, int max, int *customers, int64_t *points)
{
    db_t *db = self->db;
    if (customers)
        *customers = 0;
    if (points)
        *points = 0;
    if (max < 1)
        max = 1;
    if (max > 256)
        max = 256;
    char (*ids) [COFFEE_ID_MAX] = calloc ((size_t) max, COFFEE_ID_MAX);
    if (!ids)
        return -1;
    int count = 0;
    db_stmt_t *st = db_stmt (db, SQL_DUE_CUSTOMERS);
    int rc = st? db_bind_int64 (st, 1, now_ms): DB_ERROR;
    if (rc == DB_OK)
        rc = db_bind_int64 (st, 2, max);
    while (rc == DB_OK || rc == DB_ROW) {
        rc = db_step (st);
        if (rc != DB_ROW || count >= max)
            break;
        snprintf (ids [count++], COFFEE_ID_MAX, "%s", db_column_text (st, 0));
    }
    db_reset (st);
    if (rc != DB_DONE && rc != DB_ROW) {
        free (ids);
        return -1;
    }
    int result = 0;
    for (int i = 0; i < count; i++) {
        store_op_t op;
        if (store_op_begin (self, &op) != STORE_OK) {
            result = -1;
            break;
        }
        int64_t swept = 0;
        if (store_lots_expire (db, ids [i], now_ms, &swept) != 0) {
            store_op_undo (self, &op);
            result = -1;
            break;
        }
        if (store_op_end (self, &op) != STORE_OK) {
            result = -1;
            break;
        }
        if (customers)
            (*customers)++;
        if (points)
            *points += swept;
    }
    free (ids);
    return result;
}
