/*  order_batch — the orders of a group placed together (see store.h,
    store_orders_create). One order by store_order_create runs about
    fourteen statements; here the orders of a group run about a dozen in all,
    deferred (db_defer) so that MySQL takes them in one round trip and the
    group's COMMIT:

        a block of order numbers when the store holds too few
        (numbers.c), the customers' point rows locked (MySQL),
        the menus, their balances, tokens and lots with points
        left                                                     1
        the balances and the lots spent (UPDATE … CASE), the
        orders with their numbers, their lines, their USE rows,
        what each order spent of each lot, the outbox rows       with the COMMIT

    Only the reads are waited for. An order's number is known before its
    rows are written (numbers.c), so the rows that carry it need no answer
    of the server. What an order spent of a lot names its USE row; on MySQL
    each USE rows INSERT is followed by those rows, naming it as
    LAST_INSERT_ID() (the first id that INSERT handed out) plus the order's
    place among its rows, so no answer is waited for (SQLite takes the ids
    first; its statements run at once). None of the writes needs an answer:
    a multi-row INSERT adds all its rows or fails, and each UPDATE changes
    rows read under their locks. So on MySQL they are left deferred and go
    with the group's COMMIT, which does not run when one fails; should
    another member of the group come first, store_group_savepoint runs them
    before it.

    What each order comes to is worked out in memory between the reads and
    the writes, under the locks the first statement took (SQLite: the group's
    write lock), by the same rules as store_order_create, so each order
    gets the answer and the rows it would have made. An order that would
    answer anything but 200, or needs more than these statements (a key to
    claim, lots to write off, a reward to give), is left to
    store_order_create, with every other order of its customer, so that a
    customer's orders still run in the order given.

    Multi-row statements come in the sizes of sqlkit_sizes (sqlkit.h): n
    rows to insert run as the fewest statements of those sizes that add up
    to n, and a list to match (IN, CASE) is filled up to the next size with
    its last entry, which changes nothing. A connection prepares at most
    one text of each size.

    A multi-row INSERT hands its rows consecutive auto-increment ids on
    SQLite (one writer at a time) and on InnoDB with
    innodb_autoinc_lock_mode 0 or 1 (MariaDB's default) and
    auto_increment_increment 1. The store asks the server once; without
    them every order goes one by one. */
#include "store_impl.h"
#include "token.h"
#include <stddef.h>

#define BATCH_SAVEPOINT  "coffee_batch"
#define BATCH_ORDERS_MAX 64             //  orders placed together; more go in slices
#define BATCH_MENUS_MAX  64             //  distinct menus of one batch
#define BATCH_LOTS_MAX   1024           //  lots kept for one batch

//  A statement of n rows: head, n times rep (sep between), then, when list
//  is set, mid and n times list ("," between), then tail.
typedef struct {
    const char *head, *rep, *sep, *mid, *list, *tail;
} s_text_t;

typedef enum {
    Q_LOCK, Q_CUSTOMERS, Q_MENUS, Q_BALANCE, Q_ORDERS,
    Q_LINES, Q_HISTORY, Q_LOT_TAKE, Q_LOT_USE, Q_LOT_USE_LAST, Q_OUTBOX, Q_COUNT
} s_query_t;

static const s_text_t s_texts [Q_COUNT] = {
    //  MySQL: takes the customers' point rows in key order, as every group
    //  does. Not SELECT … FOR UPDATE: a lock wait cut by its deadline in
    //  the middle of a result it was sending left the connection
    //  answering nothing more (test_e2e_deadline); an UPDATE sends none.
    [Q_LOCK] = { "UPDATE point SET balance = balance WHERE customer_id IN (", "?", ",",
                 NULL, NULL, ")" },
    //  Their balances and tokens, and their lots with points left: soonest
    //  expiry first, then the lots that never expire (lots.c)
    [Q_CUSTOMERS] = { "SELECT p.customer_id, p.balance, c.token_hash, l.id, l.remaining,"
                      " l.expires_at FROM point p"
                      " JOIN customer c ON c.customer_id = p.customer_id"
                      " LEFT JOIN point_lot l ON l.customer_id = p.customer_id AND l.remaining > 0"
                      " WHERE p.customer_id IN (", "?", ",", NULL, NULL,
                      ") ORDER BY p.customer_id, l.expires_at, l.id" },
    [Q_MENUS] = { "SELECT menu_id, menu_price, use_yn FROM menu WHERE menu_id IN (",
                  "?", ",", NULL, NULL, ")" },
    [Q_BALANCE] = { "UPDATE point SET balance = balance - CASE customer_id", " WHEN ? THEN ?",
                    "", " END WHERE customer_id IN (", "?", ")" },
    [Q_ORDERS] = { "INSERT INTO orders (order_no, customer_id, order_price, pay_amt, created_at)"
                   " VALUES ", "(?, ?, ?, ?, ?)", ",", NULL, NULL, "" },
    [Q_LINES] = { SQL_LINES_HEAD, SQL_LINES_ROW, ",", NULL, NULL, "" },
    [Q_HISTORY] = { "INSERT INTO point_history (customer_id, point, type_code, type_name,"
                    " exp_date, remark, created_at) VALUES ",
                    "(?, ?, '" TYPE_USE "', '" TYPE_USE_NM "', NULL, ?, ?)", ",", NULL, NULL, "" },
    [Q_LOT_TAKE] = { "UPDATE point_lot SET remaining = remaining - CASE id", " WHEN ? THEN ?", "",
                     " END WHERE id IN (", "?", ")" },
    [Q_LOT_USE] = { "INSERT INTO point_lot_use (history_id, lot_id, point) VALUES ",
                    "(?, ?, ?)", ",", NULL, NULL, "" },
    //  MySQL: the USE row as the first id of the INSERT just before, plus
    //  an offset (point_lot_use has no id of its own to change it)
    [Q_LOT_USE_LAST] = { "INSERT INTO point_lot_use (history_id, lot_id, point) VALUES ",
                         "(LAST_INSERT_ID() + ?, ?, ?)", ",", NULL, NULL, "" },
    [Q_OUTBOX] = { "INSERT INTO outbox (order_no, payload, created_at, published_at, kind) VALUES ",
                   "(?, ?, ?, NULL, 'order')", ",", NULL, NULL, "" },
};

static const char SQL_AUTOINC_MYSQL [] =
    "SELECT @@innodb_autoinc_lock_mode, @@auto_increment_increment";

//  A customer of the batch
typedef struct {
    const char *id;                 //  its customer_id (an order's)
    bool found;                     //  its point and customer rows are there
    bool single;                    //  its orders go one by one
    char token_hash [TOKEN_HASH_MAX];   //  the hash it holds, "" none
    int64_t balance;                //  as read, less what its orders took so far
    int64_t taken;                  //  what its placed orders take
} s_customer_t;

//  A lot with points left
typedef struct {
    size_t customer;                //  index into customers
    int64_t id;
    int64_t remaining;
    int64_t expires_at;
    int64_t taken;                  //  what placed orders take of it
} s_lot_t;

//  A menu
typedef struct {
    char id [COFFEE_ID_MAX];
    int64_t price;
    bool found, shown;
} s_menu_t;

//  An order
typedef struct {
    store_order_line_t lines [STORE_LINES_MAX];     //  merged
    size_t line_count;              //  0: not a candidate
    size_t customer;                //  index into customers
    int64_t price;
    bool placed;                    //  placed here (else by store_order_create)
    bool answered;                  //  answered here
    size_t position;                //  among the placed orders
    int64_t history_id;
    char order_no [COFFEE_ID_MAX];
    char remark [64];
} s_order_t;

//  A write deferred: its index, the rows it must change, where its rows'
//  ids go (NULL: nowhere)
typedef struct {
    int idx;
    size_t rows;
    int64_t *ids;
} s_sent_t;

#define BATCH_SENT_MAX 64               //  writes deferred before a flush

//  Points an order takes of a lot
typedef struct {
    size_t order;
    size_t lot;
    int64_t point;
} s_use_t;

//  The work of one batch, kept by the store from one group to the next:
//  the counts and the fields before orders are cleared for each batch,
//  and what the arrays hold is written before it is read.
struct _store_batch_t {
    store_t *store;
    db_t *db;
    store_order_req_t *reqs;
    size_t count;
    size_t candidates;              //  orders that may be placed here
    int64_t now_ms;
    size_t customer_count;
    size_t menu_count;
    size_t lot_count;
    size_t use_count;
    size_t placed_count;
    size_t line_rows;
    size_t taking_count;
    size_t taken_lot_count;
    size_t use_row_count;
    size_t sent_count;
    bool unchecked;                 //  writes deferred from now on are not checked
    size_t chunk_from;              //  MySQL: first placed order of the USE rows INSERT
    size_t chunk_use_count;         //  its orders' lot-use rows, in chunk_uses
    s_order_t orders [BATCH_ORDERS_MAX];
    s_customer_t customers [BATCH_ORDERS_MAX];
    s_menu_t menus [BATCH_MENUS_MAX];
    s_lot_t lots [BATCH_LOTS_MAX];
    s_use_t uses [BATCH_LOTS_MAX + BATCH_ORDERS_MAX];   //  each ends an order or a lot
    //  Rows of the writes: indexes of placed orders, of their lines (order,
    //  line), of customers and lots they take from, of their uses
    size_t placed [BATCH_ORDERS_MAX];
    size_t line_order [BATCH_ORDERS_MAX * STORE_LINES_MAX];
    size_t line_index [BATCH_ORDERS_MAX * STORE_LINES_MAX];
    size_t taking [BATCH_ORDERS_MAX];
    size_t taken_lots [BATCH_LOTS_MAX];
    size_t use_rows [BATCH_LOTS_MAX + BATCH_ORDERS_MAX];
    size_t chunk_uses [BATCH_LOTS_MAX + BATCH_ORDERS_MAX];
    s_sent_t sent [BATCH_SENT_MAX];         //  writes deferred, checked at the flush
    int64_t history_ids [BATCH_ORDERS_MAX]; //  of their USE rows, at the flush
    char *envelopes [BATCH_ORDERS_MAX];     //  of the placed orders, freed after each batch
};
typedef store_batch_t s_batch_t;

// ---------------------------------------------------------------------------
//  Statement texts

//  The text of query with sqlkit_sizes [size] rows, made on first use; NULL
//  when out of memory.
static const char *
s_sql (store_t *self, s_query_t query, size_t size)
{
    if (!self->batch_sql) {
        self->batch_sql = (char **) calloc (Q_COUNT * SQLKIT_SIZE_COUNT, sizeof (char *));
        if (!self->batch_sql)
            return NULL;
    }
    char **slot = &self->batch_sql [query * SQLKIT_SIZE_COUNT + size];
    if (*slot)
        return *slot;
    const s_text_t *t = &s_texts [query];
    size_t n = sqlkit_sizes [size];
    char *text = sqlkit_repeat (t->head, t->rep, t->sep, n, t->list ? t->mid : t->tail);
    if (text && t->list) {
        char *listed = sqlkit_repeat (text, t->list, ",", n, t->tail);
        free (text);
        text = listed;
    }
    *slot = text;
    return text;
}

//  Frees the texts (after the connection: its statement cache keys on
//  them) and the batch's work.
void
store_batch_free (store_t *self)
{
    free (self->batch);
    self->batch = NULL;
    if (!self->batch_sql)
        return;
    for (size_t i = 0; i < Q_COUNT * SQLKIT_SIZE_COUNT; i++)
        free (self->batch_sql [i]);
    free (self->batch_sql);
    self->batch_sql = NULL;
}

//  The prepared statement of query with sqlkit_sizes [size] rows, or NULL.
static db_stmt_t *
s_stmt (s_batch_t *b, s_query_t query, size_t size)
{
    const char *sql = s_sql (b->store, query, size);
    return sql ? db_stmt (b->db, sql) : NULL;
}

//  Whether a multi-row INSERT gives consecutive ids (see the top).
static bool
s_ids_consecutive (store_t *self)
{
    if (self->batch_ids != 0)
        return self->batch_ids > 0;
    if (db_dialect (self->db) == DB_SQLITE) {
        self->batch_ids = 1;
        return true;
    }
    db_stmt_t *st = db_stmt (self->db, SQL_AUTOINC_MYSQL);
    int rc = st ? db_step (st) : DB_ERROR;
    if (rc == DB_ROW) {
        int64_t mode = db_column_int64 (st, 0);
        int64_t increment = db_column_int64 (st, 1);
        self->batch_ids = mode < 2 && increment == 1 ? 1 : -1;
        if (self->batch_ids < 0)
            log_info ("-", "store: innodb_autoinc_lock_mode %" PRId64 ", auto_increment_increment"
                      " %" PRId64 ": orders are placed one by one", mode, increment);
    }
    db_reset (st);
    return self->batch_ids > 0;
}

// ---------------------------------------------------------------------------
//  Reads

//  The customer of id, or NULL.
static s_customer_t *
s_customer (s_batch_t *b, const char *id)
{
    for (size_t i = 0; i < b->customer_count; i++)
        if (streq (b->customers [i].id, id))
            return &b->customers [i];
    return NULL;
}

//  Binds the customers' ids from parameter at on, filled up to size.
static int
s_bind_customers (s_batch_t *b, db_stmt_t *st, int at, size_t size)
{
    int rc = DB_OK;
    for (size_t i = 0; i < size && rc == DB_OK; i++) {
        size_t c = i < b->customer_count ? i : b->customer_count - 1;
        rc = db_bind_text (st, at + (int) i, b->customers [c].id);
    }
    return rc;
}

//  The menu of id, or NULL.
static s_menu_t *
s_menu (s_batch_t *b, const char *id)
{
    for (size_t i = 0; i < b->menu_count; i++)
        if (streq (b->menus [i].id, id))
            return &b->menus [i];
    return NULL;
}

//  Lists the candidates' menus: false when they are too many to read at
//  once.
static bool
s_list_menus (s_batch_t *b)
{
    for (size_t i = 0; i < b->count; i++) {
        s_order_t *o = &b->orders [i];
        for (size_t j = 0; j < o->line_count; j++) {
            const char *id = o->lines [j].line.menu_id;
            if (s_menu (b, id))
                continue;
            if (b->menu_count == BATCH_MENUS_MAX)
                return false;
            s_menu_t *m = &b->menus [b->menu_count++];
            memset (m, 0, sizeof *m);
            snprintf (m->id, COFFEE_ID_MAX, "%s", id);
        }
    }
    return true;
}

//  Defers the customers' lock (MySQL; on SQLite the group holds the write
//  lock), then the menus' read. DB_OK or a failure code.
static int
s_defer_reads (s_batch_t *b, db_stmt_t **menus)
{
    //  Numbers for every order that may be placed, before the point rows,
    //  when the store holds too few (numbers.c; an order actor's store took
    //  them as the group began)
    if (store_numbers_left (b->store) < b->candidates
    &&  store_numbers_ask (b->store, b->candidates) != 0)
        return DB_ERROR;
    size_t size = sqlkit_size_above (b->customer_count);
    int rc = DB_OK;
    if (db_dialect (b->db) == DB_MYSQL) {
        db_stmt_t *st = s_stmt (b, Q_LOCK, size);
        rc = st ? s_bind_customers (b, st, 1, sqlkit_sizes [size]) : DB_ERROR;
        if (rc == DB_OK)
            rc = db_defer (st);
        db_reset (st);
        if (rc < 0)
            return rc;
    }
    if (b->menu_count == 0)
        return DB_OK;
    size = sqlkit_size_above (b->menu_count);
    db_stmt_t *st = s_stmt (b, Q_MENUS, size);
    rc = st ? DB_OK : DB_ERROR;
    for (size_t i = 0; i < sqlkit_sizes [size] && rc == DB_OK; i++) {
        size_t m = i < b->menu_count ? i : b->menu_count - 1;
        rc = db_bind_text (st, (int) i + 1, b->menus [m].id);
    }
    if (rc == DB_OK)
        rc = db_defer (st);
    if (rc < 0) {
        db_reset (st);
        return rc;
    }
    *menus = st;
    return DB_OK;
}

//  Reads the customers' balances, tokens and lots with points left. A
//  customer with a lot past its date goes one by one (store_order_create
//  writes it off first), as does one whose lots did not all fit.
static int
s_read_customers (s_batch_t *b)
{
    size_t size = sqlkit_size_above (b->customer_count);
    db_stmt_t *st = s_stmt (b, Q_CUSTOMERS, size);
    int rc = st ? s_bind_customers (b, st, 1, sqlkit_sizes [size]) : DB_ERROR;
    while (rc == DB_OK || rc == DB_ROW) {
        rc = db_step (st);
        if (rc != DB_ROW)
            break;
        const char *id = db_column_text (st, 0);
        s_customer_t *c = id ? s_customer (b, id) : NULL;
        if (!c)
            continue;                   //  only equal under the column's collation
        c->found = true;
        c->balance = db_column_int64 (st, 1);
        const char *hash = db_column_text (st, 2);
        if (hash && strlen (hash) == TOKEN_HASH_HEX)
            memcpy (c->token_hash, hash, TOKEN_HASH_MAX);
        if (db_column_is_null (st, 3))
            continue;                   //  no lot with points left
        if (b->lot_count == BATCH_LOTS_MAX) {
            c->single = true;
            continue;
        }
        s_lot_t *lot = &b->lots [b->lot_count++];
        lot->customer = (size_t) (c - b->customers);
        lot->id = db_column_int64 (st, 3);
        lot->remaining = db_column_int64 (st, 4);
        lot->expires_at = db_column_int64 (st, 5);
        lot->taken = 0;
        if (lot->expires_at <= b->now_ms)
            c->single = true;
    }
    db_reset (st);
    return rc == DB_DONE ? 0 : -1;
}

//  Reads the menus (the statement s_defer_reads deferred).
static int
s_read_menus (s_batch_t *b, db_stmt_t *st)
{
    int rc = DB_OK;
    while (rc == DB_OK || rc == DB_ROW) {
        rc = db_step (st);
        if (rc != DB_ROW)
            break;
        const char *id = db_column_text (st, 0);
        s_menu_t *m = id ? s_menu (b, id) : NULL;
        if (!m)
            continue;
        const char *use_yn = db_column_text (st, 2);
        m->found = true;
        m->price = db_column_int64 (st, 1);
        m->shown = use_yn && streq (use_yn, "Y");
    }
    return rc == DB_DONE ? 0 : -1;
}

//  Reads what the batch works out from, in one round trip on MySQL: a
//  block of order numbers when needed, the customers' rows locked, the
//  menus, the customers. 0, 1 when the menus are too many to read at once,
//  -1 when a read failed.
static int
s_read (s_batch_t *b)
{
    if (!s_list_menus (b))
        return 1;
    db_stmt_t *menus = NULL;
    int read = s_defer_reads (b, &menus) == DB_OK ? 0 : -1;
    if (read == 0)
        read = s_read_customers (b);
    if (read == 0 && menus)
        read = s_read_menus (b, menus);
    db_reset (menus);
    return read;
}

// ---------------------------------------------------------------------------
//  What each order comes to

//  Prices an order at the menus read: true when every menu is there and on
//  sale and the sum fits.
static bool
s_price (s_batch_t *b, s_order_t *o)
{
    o->price = 0;
    for (size_t j = 0; j < o->line_count; j++) {
        s_menu_t *m = s_menu (b, o->lines [j].line.menu_id);
        int64_t line_price;
        if (!m || !m->found || !m->shown
        ||  !util_mul_i64 (m->price, o->lines [j].line.qy, &line_price)
        ||  !util_add_i64 (o->price, line_price, &o->price))
            return false;
        o->lines [j].price = m->price;
    }
    return true;
}

//  Takes the order's price from its customer's lots, soonest expiry first:
//  false when they do not cover it.
static bool
s_spend (s_batch_t *b, size_t order)
{
    s_order_t *o = &b->orders [order];
    int64_t left = o->price;
    for (size_t l = 0; l < b->lot_count && left > 0; l++) {
        s_lot_t *lot = &b->lots [l];
        if (lot->customer != o->customer || lot->remaining - lot->taken <= 0)
            continue;
        int64_t take = lot->remaining - lot->taken < left ? lot->remaining - lot->taken : left;
        s_use_t *use = &b->uses [b->use_count++];
        use->order = order;
        use->lot = l;
        use->point = take;
        lot->taken += take;
        left -= take;
    }
    return left == 0;
}

//  Works out each candidate in the order given. An order that would not
//  answer 200 here sends its customer one by one, whose other orders then
//  leave the batch too; the lots' and customers' takings are then counted
//  again from the orders that stay.
static void
s_work_out (s_batch_t *b)
{
    for (size_t i = 0; i < b->count; i++) {
        s_order_t *o = &b->orders [i];
        if (o->line_count == 0)
            continue;
        s_customer_t *c = &b->customers [o->customer];
        const store_auth_t *auth = b->reqs [i].auth;
        bool holds = !auth || auth->mode != STORE_AUTH_TOKEN
                  || token_hash_equal (c->token_hash, auth->token_hash);
        if (c->single || !c->found || !holds || !s_price (b, o) || o->price > c->balance
        ||  !s_spend (b, i)) {
            c->single = true;
            continue;
        }
        c->balance -= o->price;
        o->placed = true;
    }
    for (size_t l = 0; l < b->lot_count; l++)
        b->lots [l].taken = 0;
    for (size_t i = 0; i < b->count; i++) {
        s_order_t *o = &b->orders [i];
        if (o->placed && b->customers [o->customer].single)
            o->placed = false;
        if (o->placed) {
            b->customers [o->customer].taken += o->price;
            o->position = b->placed_count;
            b->placed [b->placed_count++] = i;
        }
    }
    for (size_t u = 0; u < b->use_count; u++)
        if (b->orders [b->uses [u].order].placed) {
            b->lots [b->uses [u].lot].taken += b->uses [u].point;
            b->use_rows [b->use_row_count++] = u;
        }
    for (size_t i = 0; i < b->customer_count; i++)
        if (b->customers [i].taken > 0)
            b->taking [b->taking_count++] = i;
    for (size_t l = 0; l < b->lot_count; l++)
        if (b->lots [l].taken > 0)
            b->taken_lots [b->taken_lot_count++] = l;
    for (size_t p = 0; p < b->placed_count; p++) {
        s_order_t *o = &b->orders [b->placed [p]];
        for (size_t j = 0; j < o->line_count; j++) {
            b->line_order [b->line_rows] = b->placed [p];
            b->line_index [b->line_rows++] = j;
        }
    }
}

// ---------------------------------------------------------------------------
//  Writes

//  Runs the writes deferred since the last flush (one round trip on
//  MySQL) and checks that each changed its rows; hands out the ids of the
//  rows inserted. 0 or -1.
static int
s_flush (s_batch_t *b)
{
    bool mysql = db_dialect (b->db) == DB_MYSQL;
    int rc = db_flush (b->db);
    for (size_t i = 0; i < b->sent_count && rc == DB_OK; i++) {
        const s_sent_t *sent = &b->sent [i];
        if (db_deferred_changes (b->db, sent->idx) != (int64_t) sent->rows)
            rc = DB_ERROR;
        else
        if (sent->ids) {
            //  MySQL names the first row's id, SQLite the last one's
            int64_t id = db_deferred_id (b->db, sent->idx);
            int64_t first = mysql ? id : id - (int64_t) (sent->rows - 1);
            for (size_t r = 0; r < sent->rows; r++)
                sent->ids [r] = first + (int64_t) r;
        }
    }
    b->sent_count = 0;
    return rc == DB_OK ? 0 : -1;
}

//  Defers a bound write of rows rows whose ids go to ids (may be NULL),
//  checked at the next s_flush unless the batch's writes are unchecked
//  from now on. 0 or -1.
static int
s_send (s_batch_t *b, db_stmt_t *st, size_t rows, int64_t *ids)
{
    if (!b->unchecked && b->sent_count == BATCH_SENT_MAX && s_flush (b) != 0)
        return -1;
    int idx = db_defer (st);
    db_reset (st);
    if (idx < 0)
        return -1;
    if (!b->unchecked)
        b->sent [b->sent_count++] = (s_sent_t) { idx, rows, ids };
    return 0;
}

//  Binds row (an index into the statement's rows) from parameter at on.
typedef int (s_bind_row_fn) (s_batch_t *b, db_stmt_t *st, int at, size_t row);

//  Inserts rows [from, from + sqlkit_sizes [size]) of query, per_row parameters
//  each, in one statement, deferred; ids (may be NULL) gets each row's
//  auto-increment id at the flush.
static int
s_insert_rows (s_batch_t *b, s_query_t query, size_t size, size_t from, int per_row,
               s_bind_row_fn *bind, int64_t *ids)
{
    size_t n = sqlkit_sizes [size];
    db_stmt_t *st = s_stmt (b, query, size);
    int rc = st ? DB_OK : DB_ERROR;
    for (size_t r = 0; r < n && rc == DB_OK; r++)
        rc = bind (b, st, (int) r * per_row + 1, from + r);
    if (rc != DB_OK) {
        db_reset (st);
        return -1;
    }
    return s_send (b, st, n, ids ? ids + from : NULL);
}

//  Inserts rows [0, total) of query in the fewest statements, as
//  s_insert_rows does.
static int
s_insert (s_batch_t *b, s_query_t query, size_t total, int per_row, s_bind_row_fn *bind,
          int64_t *ids)
{
    for (size_t done = 0; done < total; ) {
        size_t size = sqlkit_size_below (total - done);
        if (s_insert_rows (b, query, size, done, per_row, bind, ids) != 0)
            return -1;
        done += sqlkit_sizes [size];
    }
    return 0;
}

//  Binds row's WHEN key THEN value pair at pair and its key at key.
typedef int (s_bind_case_fn) (s_batch_t *b, db_stmt_t *st, int pair, int key, size_t row);

//  Updates rows [0, total) with query (… CASE key WHEN ? THEN ? … END
//  WHERE key IN (…)), deferred; each row must change.
static int
s_update (s_batch_t *b, s_query_t query, size_t total, s_bind_case_fn *bind)
{
    for (size_t done = 0; done < total; ) {
        size_t n = total - done < SQLKIT_SIZE_MAX ? total - done : SQLKIT_SIZE_MAX;
        size_t size = sqlkit_size_above (n);
        int filled = (int) sqlkit_sizes [size];
        db_stmt_t *st = s_stmt (b, query, size);
        int rc = st ? DB_OK : DB_ERROR;
        for (int i = 0; i < filled && rc == DB_OK; i++)
            rc = bind (b, st, 2 * i + 1, 2 * filled + i + 1,
                       done + ((size_t) i < n ? (size_t) i : n - 1));
        if (rc != DB_OK) {
            db_reset (st);
            return -1;
        }
        if (s_send (b, st, n, NULL) != 0)
            return -1;
        done += n;
    }
    return 0;
}

static int
s_bind_balance (s_batch_t *b, db_stmt_t *st, int pair, int key, size_t row)
{
    const s_customer_t *c = &b->customers [b->taking [row]];
    int rc = db_bind_text (st, pair, c->id);
    if (rc == DB_OK)
        rc = db_bind_int64 (st, pair + 1, c->taken);
    return rc == DB_OK ? db_bind_text (st, key, c->id) : rc;
}

static int
s_bind_order (s_batch_t *b, db_stmt_t *st, int at, size_t row)
{
    size_t i = b->placed [row];
    const s_order_t *o = &b->orders [i];
    int rc = db_bind_text (st, at, o->order_no);
    if (rc == DB_OK)
        rc = db_bind_text (st, at + 1, b->reqs [i].customer_id);
    if (rc == DB_OK)
        rc = db_bind_int64 (st, at + 2, o->price);
    if (rc == DB_OK)
        rc = db_bind_int64 (st, at + 3, o->price);
    return rc == DB_OK ? db_bind_int64 (st, at + 4, b->now_ms) : rc;
}

static int
s_bind_line (s_batch_t *b, db_stmt_t *st, int at, size_t row)
{
    const s_order_t *o = &b->orders [b->line_order [row]];
    const store_order_line_t *line = &o->lines [b->line_index [row]];
    int rc = db_bind_text (st, at, o->order_no);
    if (rc == DB_OK)
        rc = db_bind_text (st, at + 1, line->line.menu_id);
    if (rc == DB_OK)
        rc = db_bind_int64 (st, at + 2, line->line.qy);
    if (rc == DB_OK)
        rc = db_bind_int64 (st, at + 3, line->price);
    return rc == DB_OK ? db_bind_int64 (st, at + 4, b->now_ms) : rc;
}

static int
s_bind_history (s_batch_t *b, db_stmt_t *st, int at, size_t row)
{
    size_t i = b->placed [row];
    const s_order_t *o = &b->orders [i];
    int rc = db_bind_text (st, at, b->reqs [i].customer_id);
    if (rc == DB_OK)
        rc = db_bind_int64 (st, at + 1, -o->price);
    if (rc == DB_OK)
        rc = db_bind_text (st, at + 2, o->remark);
    return rc == DB_OK ? db_bind_int64 (st, at + 3, b->now_ms) : rc;
}

static int
s_bind_lot_take (s_batch_t *b, db_stmt_t *st, int pair, int key, size_t row)
{
    const s_lot_t *lot = &b->lots [b->taken_lots [row]];
    int rc = db_bind_int64 (st, pair, lot->id);
    if (rc == DB_OK)
        rc = db_bind_int64 (st, pair + 1, lot->taken);
    return rc == DB_OK ? db_bind_int64 (st, key, lot->id) : rc;
}

static int
s_bind_lot_use (s_batch_t *b, db_stmt_t *st, int at, size_t row)
{
    const s_use_t *use = &b->uses [b->use_rows [row]];
    int rc = db_bind_int64 (st, at, b->orders [use->order].history_id);
    if (rc == DB_OK)
        rc = db_bind_int64 (st, at + 1, b->lots [use->lot].id);
    return rc == DB_OK ? db_bind_int64 (st, at + 2, use->point) : rc;
}

//  A lot-use row of the orders of the USE rows INSERT just before: the
//  order's place among that INSERT's rows, the lot, the points.
static int
s_bind_lot_use_last (s_batch_t *b, db_stmt_t *st, int at, size_t row)
{
    const s_use_t *use = &b->uses [b->chunk_uses [row]];
    size_t offset = b->orders [use->order].position - b->chunk_from;
    int rc = db_bind_int64 (st, at, (int64_t) offset);
    if (rc == DB_OK)
        rc = db_bind_int64 (st, at + 1, b->lots [use->lot].id);
    return rc == DB_OK ? db_bind_int64 (st, at + 2, use->point) : rc;
}

static int
s_bind_outbox (s_batch_t *b, db_stmt_t *st, int at, size_t row)
{
    const s_order_t *o = &b->orders [b->placed [row]];
    int rc = db_bind_text (st, at, o->order_no);
    if (rc == DB_OK)
        rc = db_bind_text (st, at + 1, b->envelopes [row]);
    return rc == DB_OK ? db_bind_int64 (st, at + 2, b->now_ms) : rc;
}

//  MySQL: the placed orders' USE rows and what each spent of each lot,
//  deferred: each USE rows INSERT followed by its orders' lot-use rows,
//  which name their USE row by LAST_INSERT_ID() (see the top). 0 or -1.
static int
s_insert_uses_after_history (s_batch_t *b)
{
    for (size_t done = 0; done < b->placed_count; ) {
        size_t size = sqlkit_size_below (b->placed_count - done);
        size_t n = sqlkit_sizes [size];
        if (s_insert_rows (b, Q_HISTORY, size, done, 4, s_bind_history, NULL) != 0)
            return -1;
        b->chunk_from = done;
        b->chunk_use_count = 0;
        for (size_t u = 0; u < b->use_row_count; u++) {
            size_t position = b->orders [b->uses [b->use_rows [u]].order].position;
            if (position >= done && position < done + n)
                b->chunk_uses [b->chunk_use_count++] = b->use_rows [u];
        }
        if (s_insert (b, Q_LOT_USE_LAST, b->chunk_use_count, 3, s_bind_lot_use_last,
                      NULL) != 0)
            return -1;
        done += n;
    }
    return 0;
}

//  Writes what the placed orders did, each with the next number the
//  store holds: on MySQL all of it left for the group's COMMIT; SQLite
//  checks what each write changed, and takes the USE rows' ids. 0 or -1.
static int
s_write (s_batch_t *b)
{
    bool mysql = db_dialect (b->db) == DB_MYSQL;
    for (size_t p = 0; p < b->placed_count; p++) {
        s_order_t *o = &b->orders [b->placed [p]];
        int64_t number;
        char order_no [COFFEE_ID_MAX];
        if (store_numbers_take (b->store, &number) != 0)
            return -1;
        store_order_no (number, order_no);
        memcpy (o->order_no, order_no, sizeof order_no);
        snprintf (o->remark, sizeof o->remark, "주문 %s", order_no);
    }
    //  MySQL: nothing is waited for. The balances and lots were read under
    //  the point rows' locks, which every writer of them takes first, so
    //  each UPDATE changes the rows it names, and a CHECK it broke would
    //  fail it, and the COMMIT with it.
    b->unchecked = mysql;
    if (s_update (b, Q_BALANCE, b->taking_count, s_bind_balance) != 0
    ||  s_update (b, Q_LOT_TAKE, b->taken_lot_count, s_bind_lot_take) != 0
    ||  s_insert (b, Q_ORDERS, b->placed_count, 5, s_bind_order, NULL) != 0
    ||  s_insert (b, Q_LINES, b->line_rows, 5, s_bind_line, NULL) != 0)
        return -1;
    if (mysql) {
        if (s_insert_uses_after_history (b) != 0)
            return -1;
    }
    else {
        if (s_insert (b, Q_HISTORY, b->placed_count, 4, s_bind_history, b->history_ids) != 0
        ||  s_flush (b) != 0)
            return -1;
        for (size_t p = 0; p < b->placed_count; p++)
            b->orders [b->placed [p]].history_id = b->history_ids [p];
        b->unchecked = true;
        if (s_insert (b, Q_LOT_USE, b->use_row_count, 3, s_bind_lot_use, NULL) != 0)
            return -1;
    }
    for (size_t p = 0; p < b->placed_count; p++) {
        size_t i = b->placed [p];
        const s_order_t *o = &b->orders [i];
        b->envelopes [p] = store_order_envelope (o->order_no, b->reqs [i].customer_id, o->lines,
                                                 o->line_count, o->price, b->now_ms);
        if (!b->envelopes [p])
            return -1;
    }
    return s_insert (b, Q_OUTBOX, b->placed_count, 3, s_bind_outbox, NULL);
}

//  Answers the placed orders as store_order_create does. 0 or -1.
static int
s_answer (s_batch_t *b)
{
    for (size_t p = 0; p < b->placed_count; p++) {
        size_t i = b->placed [p];
        const s_order_t *o = &b->orders [i];
        cJSON *json = cJSON_CreateObject ();
        if (!json)
            return -1;
        cJSON_AddStringToObject (json, "orderNo", o->order_no);
        sqlkit_add_int (json, "orderPrice", o->price);
        sqlkit_add_int (json, "usePoint", o->price);
        if (store_reply_done (b->reqs [i].reply, json) != 0)
            return -1;
        b->reqs [i].rc = 0;
        b->orders [i].answered = true;
    }
    return 0;
}

// ---------------------------------------------------------------------------
//  The batch

//  Picks the candidates (no key, valid input) and the customers: every
//  customer of the orders, so that one statement takes all the rows the
//  group will hold, in key order. A customer with an order that is no
//  candidate goes one by one. Returns the number of candidates.
static size_t
s_pick (s_batch_t *b)
{
    size_t candidates = 0;
    for (size_t i = 0; i < b->count; i++) {
        const store_order_req_t *req = &b->reqs [i];
        s_order_t *o = &b->orders [i];
        if (!store_valid_id (req->customer_id))
            continue;
        s_customer_t *c = s_customer (b, req->customer_id);
        if (!c) {
            c = &b->customers [b->customer_count++];
            memset (c, 0, sizeof *c);
            c->id = req->customer_id;
        }
        o->customer = (size_t) (c - b->customers);
        store_why_t why = STORE_WHY_NONE;
        bool token = req->auth && req->auth->mode == STORE_AUTH_TOKEN;
        bool well_formed = !token || (req->auth->token_hash
                                      && strlen (req->auth->token_hash) == TOKEN_HASH_HEX);
        if (!req->idem && well_formed)
            o->line_count = store_lines_merge (req->lines, req->line_count, o->lines, &why);
        if (o->line_count == 0)
            c->single = true;
        else
            candidates++;
    }
    return candidates;
}

//  Runs the batch in its savepoint. Orders it did not place are left to
//  store_order_create; when it failed on a lock wait or a lost server its
//  candidates are answered 503 (they did not run) instead.
static void
s_batch (s_batch_t *b)
{
    store_t *self = b->store;
    int rc = store_group_savepoint (self, BATCH_SAVEPOINT);
    if (rc != STORE_OK)
        return;                         //  one by one: each meets the same
    int read = s_read (b);
    if (read == 0)
        s_work_out (b);
    if (read == 0 && b->placed_count > 0
    &&  (s_write (b) != 0 || s_answer (b) != 0))
        read = -1;
    if (read == 0) {
        self->group_tail = b->placed_count > 0;
        store_group_savepoint_keep (self, BATCH_SAVEPOINT);
        return;
    }
    int why = db_last_failure (b->db);
    if (read < 0)
        log_warn ("-", "store: %zu orders placed together failed (%s); one by one instead",
                  b->count, db_errmsg (b->db));
    store_group_savepoint_undo (self, BATCH_SAVEPOINT);
    for (size_t i = 0; i < b->count; i++) {
        s_order_t *o = &b->orders [i];
        if (o->answered)
            store_reply_reset (b->reqs [i].reply);
        o->placed = o->answered = false;
        if (read < 0 && o->line_count > 0 && (why == DB_TIMEOUT || why == DB_UNAVAILABLE)) {
            store_reply_not_run (b->reqs [i].reply, why == DB_TIMEOUT ? STORE_TIMEOUT
                                                                        : STORE_FAILED);
            b->reqs [i].rc = -1;
            o->answered = true;
        }
    }
}

//  Places up to BATCH_ORDERS_MAX orders.
static void
s_place (store_t *self, store_order_req_t *reqs, size_t count, int64_t now_ms)
{
    bool batched = self->group_open && !self->group_lost && self->policy.reward_percent == 0
                && s_ids_consecutive (self);
    if (batched && !self->batch)
        self->batch = (s_batch_t *) calloc (1, sizeof (s_batch_t));
    s_batch_t *b = batched ? self->batch : NULL;
    if (b) {
        memset (b, 0, offsetof (s_batch_t, orders));
        memset (b->orders, 0, count * sizeof b->orders [0]);
        b->store = self;
        b->db = self->db;
        b->reqs = reqs;
        b->count = count;
        b->now_ms = now_ms;
        b->candidates = s_pick (b);
        if (b->candidates > 0)
            s_batch (b);
        for (size_t p = 0; p < b->placed_count; p++)
            zstr_free (&b->envelopes [p]);
    }
    for (size_t i = 0; i < count; i++) {
        if (b && b->orders [i].answered)
            continue;
        store_order_req_t *req = &reqs [i];
        req->rc = store_order_create (self, req->customer_id, req->auth, req->lines,
                                      req->line_count, req->idem, now_ms, req->reply);
    }
}

//  Places the orders of the open group (see store.h).
void
store_orders_create (store_t *self, store_order_req_t *orders, size_t count, int64_t now_ms)
{
    for (size_t from = 0; from < count; from += BATCH_ORDERS_MAX)
        s_place (self, orders + from,
                 count - from < BATCH_ORDERS_MAX ? count - from : BATCH_ORDERS_MAX, now_ms);
}
