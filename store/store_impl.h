/*  store_impl — what the command store's files share. Private to store/.

    The command store (include/store.h) is split by concern, each file on
    db.h only, so SQLite and MySQL run the same logic:
        schema.c    schema, migrations, demo menus, open and close
        group.c     write transactions: groups, savepoints, deadlines; replies
        idem.c      Idempotency-Keys, claimed and finished inside an operation
        points.c    customers, charges, balances and history
        orders.c    orders and their lines; the reconcile reads
        order_batch.c   a group's orders placed with one statement per table
        outbox.c    the outbox rows of orders and the relay's claim and mark
        lots.c      points as lots with expiry: spent soonest first, expired once
        auth.c      customers' tokens: issuing them and checking a request's

    A write operation runs as:
        store_op_t op;
        int rc = store_op_start (self, &op, auth, customer_id, idem, now_ms, "what", reply);
        if (rc != STORE_IDEM_RUN)           //  answered (401/403, replay, in use, reused) or not run
            return rc < 0 ? -1 : 0;
        … its statements; on a store failure: return store_op_fail (self, &op, …);
        … fill reply (200 or a business error that changed nothing)
        return store_op_finish (self, &op, idem, now_ms, "what", reply);
    store_op_start opens a savepoint of the open group, or a transaction of
    its own outside a group; store_op_finish stores the reply as the key's
    answer in that same transaction and ends the operation. */
#ifndef STORE_IMPL_H_INCLUDED
#define STORE_IMPL_H_INCLUDED

#include "store.h"
#include "answer.h"
#include "sqlkit.h"
#include <string.h>
#include <stdio.h>

#define TYPE_CHARGE      "CHARGE"
#define TYPE_CHARGE_NM   "충전"
#define TYPE_USE         "USE"
#define TYPE_USE_NM      "사용"
#define REMARK_CHARGE    "고객 충전"
#define TYPE_SAVE        "SAVE"
#define TYPE_SAVE_NM     "적립"
#define TYPE_EXPIRE      "EXPIRE"
#define TYPE_EXPIRE_NM   "소멸"
#define REMARK_WELCOME   "첫 가입 감사 포인트"
#define REMARK_REWARD    "주문 적립"

//  numbers.c: the order numbers a store holds, a block at a time
typedef struct {
    int64_t next, end;              //  numbers [next, end) of a block that stands
    int64_t new_next, new_end;      //  numbers [new_next, new_end) of the block taken last,
                                    //  until the one before is used up
    uint64_t new_commits;           //  db_commits and db_undos when it was asked for
    uint64_t new_undos;
    bool new_stands;                //  its transaction committed: no undo can drop it now
    int64_t size;                   //  numbers the next block takes (0: none taken yet)
    int64_t taken_ms;               //  zclock_mono when the last block was asked for
    int64_t asked;                  //  size of the block asked for, its read pending
    db_stmt_t *read;                //  that read, deferred (store_numbers_ask; MySQL)
    bool wanted;                    //  store_numbers_want: blocks taken as groups begin
} store_numbers_t;

struct _store_t {
    db_t *db;                       //  the connection (one thread only)
    bool claim_open;                //  a MySQL outbox claim transaction is open
    bool group_open;                //  store_group_begin opened a transaction
    bool group_lost;                //  an operation took the group's transaction down
    bool group_tail;                //  writes left deferred for the COMMIT (order_batch);
                                    //  read while group_open, cleared by store_group_begin
    int64_t deadline_ms;            //  store_set_deadline: of the next operations, 0 none
    int64_t bound_ms;               //  lock-wait bound in force (0 default, -1 unknown)
    char *lines_sql [STORE_LINES_MAX + 1];  //  [n]: INSERT of n order lines in one statement
    char **batch_sql;               //  order_batch.c: its statements' texts, made on first use
    struct _store_batch_t *batch;   //  order_batch.c: a batch's work, made on first use
    int batch_ids;                  //  order_batch.c: multi-row INSERT ids are consecutive
                                    //  (1), are not (-1), not asked yet (0)
    store_policy_t policy;          //  store_set_policy: lots' expiry, welcome and reward points
    store_numbers_t numbers;        //  numbers.c: order numbers held
};

//  How an operation's writes are held: its own transaction, or a savepoint
//  of the open group.
typedef struct {
    bool own;                       //  it opened (and ends) its own transaction
} store_op_t;

//  What store_op_start decided.
#define STORE_IDEM_RUN      0       //  run the operation; it finishes the key
#define STORE_IDEM_ANSWERED 1       //  reply is final (replay, key in use or reused)

//  group.c: replies. Each sets the domain result and fills the answer
//  from the answer table (answer.h); 0, or -1 when out of memory.
int store_reply_result (store_reply_t *reply, store_result_t result);
int store_reply_done (store_reply_t *reply, cJSON *json);
int store_reply_not_found (store_reply_t *reply, store_about_t about, const char *menu_id);
int store_reply_no_point (store_reply_t *reply, int64_t shortfall);
//  menus.c: NOT_ORDERABLE of a hidden menu
int store_reply_not_orderable (store_reply_t *reply, const char *menu_id);
int store_reply_invalid (store_reply_t *reply, store_why_t why);
void store_reply_replay (store_reply_t *reply, int status, char *body);
void store_reply_not_run (store_reply_t *reply, int why);
bool store_valid_id (const char *id);

//  group.c: operations
int store_op_begin (store_t *self, store_op_t *op);
int store_op_end (store_t *self, store_op_t *op);
void store_op_undo (store_t *self, store_op_t *op);
//  group.c: a named savepoint in the open group. store_group_savepoint
//  marks it, lock waits bounded by the deadline of the next operations
//  (STORE_OK, STORE_TIMEOUT, or STORE_FAILED with the group lost);
//  _keep keeps what ran since and forgets it; _undo undoes what ran since
//  and forgets it. A group that cannot release or go back is lost.
int store_group_savepoint (store_t *self, const char *name);
void store_group_savepoint_keep (store_t *self, const char *name);
void store_group_savepoint_undo (store_t *self, const char *name);
int store_op_fail (store_t *self, store_op_t *op, const char *what, store_reply_t *reply);
int store_op_answer (store_t *self, store_op_t *op, const char *what, store_reply_t *reply);
int store_op_invalid (store_t *self, const char *what, store_why_t why, store_reply_t *reply);

//  numbers.c: order numbers, taken in blocks inside the transaction that
//  needs them. _left counts the numbers held (a new block only while its
//  transaction can still commit it); _ask takes a block of at least need
//  numbers (on MySQL deferred, with the next round trip; the block is
//  read when numbers are next counted or taken); _ensure asks when fewer
//  than need are held; _take hands out the next number (0, or -1 when
//  none is held). _begin runs as a transaction begins (group.c): a store
//  that wants numbers takes a block first when it holds too few for a
//  group.
size_t store_numbers_left (store_t *self);
int store_numbers_ask (store_t *self, size_t need);
int store_numbers_ensure (store_t *self, size_t need);
int store_numbers_take (store_t *self, int64_t *number);
void store_numbers_begin (store_t *self);
//  The order number of number ("ORD-00000027") into order_no
//  (COFFEE_ID_MAX bytes).
void store_order_no (int64_t number, char *order_no);

//  idem.c: an operation with its key
int store_op_start (store_t *self, store_op_t *op, const store_auth_t *auth,
                    const char *customer_id, const store_idem_t *idem, int64_t now_ms,
                    const char *what, store_reply_t *reply);
int store_op_finish (store_t *self, store_op_t *op, const store_idem_t *idem, int64_t now_ms,
                     const char *what, store_reply_t *reply);

//  points.c
int store_balance_read (db_t *db, const char *customer_id, int64_t *balance);
//  points.c: a history row with an expiry date (exp_date NULL: none). 0 or -1.
int store_history_add (db_t *db, const char *customer_id, int64_t point, const char *code,
                       const char *name, const char *remark, const char *exp_date,
                       int64_t now_ms);
int store_write_ti (db_t *db, const char *sql, const char *text, int64_t value);
int store_customer_exists (db_t *db, const char *customer_id);
int store_point_take (db_t *db, const char *customer_id, int64_t amount);

//  auth.c: whether auth may act for customer_id: 0 (it may), 1 (no:
//  reply is 401 or 403), or -1 (the store failed).
int store_auth_check (store_t *self, const store_auth_t *auth, const char *customer_id,
                      store_reply_t *reply);
//  auth.c: whether auth is a credential at all (a token some customer
//  holds, the admin's, or OPEN): 0, 1 (reply is 401) or -1.
int store_auth_known (store_t *self, const store_auth_t *auth, store_reply_t *reply);
//  auth.c: stores the hash of token as the customer's (DB_DONE, db_changes
//  0 when no such customer) and the answer {"customerId","token"}.
int store_token_set (db_t *db, const char *customer_id, const char *token);
int store_reply_token (store_reply_t *reply, const char *customer_id, const char *token);

//  points.c: adds amount to the balance (conditional, never past
//  INT64_MAX) and opens its lot with its history row: 0, 1 when the
//  balance would pass INT64_MAX or there is no such customer, -1 failure.
int store_points_add (db_t *db, const char *customer_id, int64_t amount, const char *code,
                      const char *name, const char *remark, const char *exp_date,
                      int64_t now_ms);

//  lots.c (see there)
void store_exp_date (int64_t now_ms, int days, char *date);
int64_t store_exp_at (const char *date);
int store_lot_add (db_t *db, const char *customer_id, int64_t amount, const char *code,
                   const char *name, const char *remark, const char *exp_date, int64_t now_ms);
int store_lots_expire (db_t *db, const char *customer_id, int64_t now_ms, int64_t *points);
int store_lots_spend (db_t *db, const char *customer_id, int64_t history_id, int64_t amount);
int store_lots_expiring (db_t *db, const char *customer_id, int64_t now_ms, int days,
                         int64_t *points);

//  An INSERT of order lines: SQL_LINES_HEAD, then SQL_LINES_ROW once per
//  line, comma-separated (orders.c, order_batch.c)
#define SQL_LINES_HEAD \
    "INSERT INTO order_menu (order_no, menu_id, qy, menu_price, created_at) VALUES "
#define SQL_LINES_ROW "(?, ?, ?, ?, ?)"
//  orders.c: builds self->lines_sql (store_open); 0 or -1
int store_lines_sql_build (store_t *self);

//  outbox.c: the outbox row of an order (its lines with their prices)
typedef struct {
    event_line_t line;              //  menuId and summed qy
    int64_t price;                  //  unit price read from menu
} store_order_line_t;
int store_outbox_add (db_t *db, const char *order_no, const char *customer_id,
                      const store_order_line_t *lines, size_t count, int64_t pay_amt,
                      int64_t now_ms);
//  outbox.c: the envelope of an order's outbox row (free with zstr_free), or NULL
char *store_order_envelope (const char *order_no, const char *customer_id,
                            const store_order_line_t *lines, size_t count, int64_t pay_amt,
                            int64_t now_ms);
//  orders.c: merges duplicate menuIds of lines into merged (qy summed) and
//  checks the limits: the count of merged lines, or 0 with why set.
size_t store_lines_merge (const event_line_t *lines, size_t line_count,
                          store_order_line_t *merged, store_why_t *why);
//  order_batch.c: frees the statement texts and the batch's work (store close)
typedef struct _store_batch_t store_batch_t;
void store_batch_free (store_t *self);

//  outbox.c: one outbox row of any kind (envelope from event.h); 0 or -1
int store_outbox_add_event (db_t *db, event_kind_t kind, const char *key, const char *envelope,
                            int64_t now_ms);

//  menus.c: the demo menus of an empty store, and a menu event for every
//  menu that has none yet (version 0: menus from before menus had
//  versions), in the migration's transaction; 0 or -1
int store_menus_seed (db_t *db);

#endif
