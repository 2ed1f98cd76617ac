/*  orders — placing an order (customer, menus, points, order, lines,
    history, outbox row in one operation), reading one, and the reconcile
    reads over order lines. */
#include "store_impl.h"

// ---------------------------------------------------------------------------
//  Orders

static const char SQL_MENU_GET [] =
    "SELECT menu_nm, menu_price, use_yn FROM menu WHERE menu_id = ?";
static const char SQL_ORDER_INSERT [] =
    "INSERT INTO orders (order_no, customer_id, order_price, pay_amt, created_at)"
    " VALUES (?, ?, ?, ?, ?)";
static const char SQL_ORDER_GET [] =
    "SELECT order_no, customer_id, order_price, pay_amt, created_at FROM orders WHERE order_no = ?";
static const char SQL_ORDER_LINES [] =
    "SELECT om.menu_id, m.menu_nm, om.qy, om.menu_price FROM order_menu om"
    " JOIN menu m ON m.menu_id = om.menu_id WHERE om.order_no = ? ORDER BY om.menu_id";

//  Merges duplicate menuIds (qy summed) and checks the limits. Returns the
//  number of merged lines, or 0 with an INVALID_INPUT message in *why.
size_t
store_lines_merge (const event_line_t *lines, size_t line_count, store_order_line_t *merged,
               store_why_t *why)
{
    if (!lines || line_count < 1 || line_count > STORE_LINES_MAX) {
        *why = STORE_WHY_LINES;
        return 0;
    }
    size_t count = 0;
    for (size_t i = 0; i < line_count; i++) {
        const event_line_t *in = &lines [i];
        if (!memchr (in->menu_id, 0, sizeof in->menu_id) || !in->menu_id [0]) {
            *why = STORE_WHY_MENU_ID;
            return 0;
        }
        if (in->qy < 1 || in->qy > STORE_QY_MAX) {
            *why = STORE_WHY_QY;
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
            *why = STORE_WHY_QY_TOTAL;
            return 0;
        }
    }
    return count;
}

//  Inserts the order row with the next number the store holds
//  (numbers.c), into order_no.
static int
s_order_insert (store_t *self, const char *customer_id, int64_t price, int64_t now_ms,
                char *order_no)
{
    int64_t number;
    if (store_numbers_take (self, &number) != 0)
        return -1;
    store_order_no (number, order_no);
    db_stmt_t *st = db_stmt (self->db, SQL_ORDER_INSERT);
    int rc = DB_ERROR;
    if (st && db_bind_text (st, 1, order_no) == DB_OK
           && db_bind_text (st, 2, customer_id) == DB_OK
           && db_bind_int64 (st, 3, price) == DB_OK
           && db_bind_int64 (st, 4, price) == DB_OK
           && db_bind_int64 (st, 5, now_ms) == DB_OK)
        rc = db_step (st);
    db_reset (st);
    return rc == DB_DONE ? 0 : -1;
}

//  Builds the INSERT texts of 1..STORE_LINES_MAX order lines, one
//  statement per order (the statement cache keys on their addresses,
//  which live as long as the store). 0 or -1.
int
store_lines_sql_build (store_t *self)
{
    for (size_t n = 1; n <= STORE_LINES_MAX; n++) {
        self->lines_sql [n] = sqlkit_repeat (SQL_LINES_HEAD, SQL_LINES_ROW, ",", n, "");
        if (!self->lines_sql [n])
            return -1;
    }
    return 0;
}

//  Inserts the order lines with one statement.
static int
s_order_lines_insert (store_t *self, const char *order_no, const store_order_line_t *lines,
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

//  POST /order: the whole order in one transaction (see store.h).
int
store_order_create (store_t *self, const char *customer_id, const store_auth_t *auth,
                    const event_line_t *lines, size_t line_count,
                    const store_idem_t *idem, int64_t now_ms, store_reply_t *reply)
{
    db_t *db = self->db;
    reply->status = 0;
    reply->body = NULL;
    store_order_line_t merged [STORE_LINES_MAX];
    store_why_t why = STORE_WHY_NONE;
    if (!store_valid_id (customer_id))
        return store_op_invalid (self, "order", STORE_WHY_CUSTOMER_ID, reply);
    size_t count = store_lines_merge (lines, line_count, merged, &why);
    if (count == 0)
        return store_op_invalid (self, "order", why, reply);
    store_op_t op;
    int rc = store_op_start (self, &op, auth, customer_id, idem, now_ms, "order", reply);
    if (rc != STORE_IDEM_RUN)
        return rc < 0 ? -1 : 0;

    //  0. A number for the order, before the customer's point row is
    //  locked (numbers.c): a block is taken only when none is held
    if (store_numbers_ensure (self, 1) != 0)
        return store_op_fail (self, &op, "order", reply);

    //  1. The customer. A customer token was just read from its row in
    //  this transaction (store_op_start); the admin token and --auth off
    //  say nothing of it, so it is looked up.
    if (!auth || auth->mode != STORE_AUTH_TOKEN) {
        rc = store_customer_exists (db, customer_id);
        if (rc == DB_DONE) {
            if (store_reply_not_found (reply, STORE_ABOUT_CUSTOMER, NULL) != 0)
                return store_op_fail (self, &op, "order", reply);
            goto answer;
        }
        if (rc != DB_ROW)
            return store_op_fail (self, &op, "order", reply);
    }

    //  2. The menus, on sale, and the price at this moment with checked arithmetic
    int64_t price = 0;
    for (size_t i = 0; i < count; i++) {
        db_stmt_t *st = db_stmt (db, SQL_MENU_GET);
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
        if (rc == DB_DONE) {
            if (store_reply_not_found (reply, STORE_ABOUT_MENU, merged [i].line.menu_id) != 0)
                return store_op_fail (self, &op, "order", reply);
            goto answer;
        }
        if (rc == DB_ROW && !shown) {
            if (store_reply_not_orderable (reply, merged [i].line.menu_id) != 0)
                return store_op_fail (self, &op, "order", reply);
            goto answer;
        }
        if (rc != DB_ROW)
            return store_op_fail (self, &op, "order", reply);
        int64_t line_price;
        if (!util_mul_i64 (merged [i].price, merged [i].line.qy, &line_price)
        ||  !util_add_i64 (price, line_price, &price)) {
            if (store_reply_invalid (reply, STORE_WHY_PRICE_MAX) != 0)
                return store_op_fail (self, &op, "order", reply);
            goto answer;
        }
    }

    //  3. Lots past their date are written off first, so expired points are
    //  never spent (kept even when the order is refused: the sweep would
    //  write them off anyway). Then take the points: one conditional
    //  UPDATE, never read-modify-write.
    if (store_lots_expire (db, customer_id, now_ms, NULL) != 0)
        return store_op_fail (self, &op, "order", reply);
    //  (A zero price would change no row on MySQL, so it skips the UPDATE.)
    if (price > 0) {
        rc = store_point_take (db, customer_id, price);
        if (rc != DB_DONE)
            return store_op_fail (self, &op, "order", reply);
        if (db_changes (db) == 0) {
            int64_t balance = 0;
            rc = store_balance_read (db, customer_id, &balance);
            if (rc == DB_ROW) {
                rc = store_reply_no_point (reply, price - balance);
            }
            else
            if (rc == DB_DONE)
                rc = store_reply_not_found (reply, STORE_ABOUT_CUSTOMER, NULL);
            else
                rc = -1;
            if (rc != 0)
                return store_op_fail (self, &op, "order", reply);
            goto answer;
        }
    }

    //  4. The order, its lines, the USE history row, the outbox row
    char order_no [COFFEE_ID_MAX];
    char remark [64];
    if (s_order_insert (self, customer_id, price, now_ms, order_no) != 0
    ||  s_order_lines_insert (self, order_no, merged, count, now_ms) != 0)
        return store_op_fail (self, &op, "order", reply);
    snprintf (remark, sizeof remark, "주문 %s", order_no);
    if (store_history_add (db, customer_id, -price, TYPE_USE, TYPE_USE_NM, remark, NULL,
                           now_ms) != 0)
        return store_op_fail (self, &op, "order", reply);
    if (price > 0 && store_lots_spend (db, customer_id, db_last_insert_id (db), price) != 0)
        return store_op_fail (self, &op, "order", reply);
    //  5. The reward: a share of what was paid, rounded down, as SAVE
    int64_t reward = self->policy.reward_percent > 0
                   ? price / 100 * self->policy.reward_percent
                     + price % 100 * self->policy.reward_percent / 100
                   : 0;
    if (reward > 0) {
        char date [STORE_DATE_MAX], why [64];
        const char *until = NULL;
        if (self->policy.reward_valid_days > 0) {
            store_exp_date (now_ms, self->policy.reward_valid_days, date);
            until = date;
        }
        snprintf (why, sizeof why, "%s %s", REMARK_REWARD, order_no);
        if (store_points_add (db, customer_id, reward, TYPE_SAVE, TYPE_SAVE_NM, why, until,
                              now_ms) != 0)
            return store_op_fail (self, &op, "order", reply);
    }
    if (store_outbox_add (db, order_no, customer_id, merged, count, price, now_ms) != 0)
        return store_op_fail (self, &op, "order", reply);

    cJSON *json = cJSON_CreateObject ();
    cJSON_AddStringToObject (json, "orderNo", order_no);
    sqlkit_add_int (json, "orderPrice", price);
    sqlkit_add_int (json, "usePoint", price);
    if (store_reply_done (reply, json) != 0)
        return store_op_fail (self, &op, "order", reply);

answer:
    //  Business errors changed nothing; they end here too, so a key
    //  replays them
    return store_op_finish (self, &op, idem, now_ms, "order", reply);
}

//  GET /order/{orderNo}: a customer token sees its customer's orders only
//  (403 for another's); an order that is not there is 404 to any valid
//  credential, 401 to none.
int
store_order_get (store_t *self, const char *order_no, const store_auth_t *auth,
                 store_reply_t *reply)
{
    db_t *db = self->db;
    reply->status = 0;
    reply->body = NULL;
    cJSON *json = NULL;
    if (sqlkit_begin_read (db) != DB_OK)
        goto fail;
    db_stmt_t *st = db_stmt (db, SQL_ORDER_GET);
    int rc = !store_valid_id (order_no)? DB_DONE
           : st ? db_bind_text (st, 1, order_no) : DB_ERROR;
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
    if (rc == DB_ROW || rc == DB_DONE) {
        const cJSON *owner = cJSON_GetObjectItemCaseSensitive (json, "customerId");
        int denied = rc == DB_ROW
                   ? store_auth_check (self, auth, cJSON_GetStringValue (owner), reply)
                   : store_auth_known (self, auth, reply);
        if (denied != 0) {
            sqlkit_end_read (db);
            cJSON_Delete (json);
            return denied > 0 ? 0 : store_op_fail (self, NULL, "order get", reply);
        }
    }
    if (rc == DB_DONE) {
        sqlkit_end_read (db);
        if (store_reply_not_found (reply, STORE_ABOUT_ORDER, NULL) != 0)
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
    rc = store_reply_done (reply, json);
    json = NULL;
    if (rc != 0)
        goto fail;
    return 0;

fail:
    cJSON_Delete (json);
    return store_op_fail (self, NULL, "order get", reply);
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
