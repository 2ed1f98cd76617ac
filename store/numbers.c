/*  numbers — order numbers, taken from the store a block at a time.

    An order's number ("ORD-00000027") comes from the one row of
    order_no_next. A store (one connection: one order actor) takes a block
    of numbers by moving next_no on, in the transaction of the order that
    needs one, and hands them out one by one after that. So an order knows
    its number before any of its rows is written, and on MySQL the orders
    of a group go to the server with the group's COMMIT instead of in a
    round trip of their own (while numbers were made of the orders'
    AUTO_INCREMENT ids, the rows that carry the number waited for the
    INSERT that handed the ids out).

    A block is the store's own only once the transaction that moved the
    row commits. Should that transaction go back to any savepoint, roll
    back, or fail to commit while the block is new, the block is dropped
    (its UPDATE may be undone) and the next order takes another one
    (db_commits and db_undos tell). So no number is ever handed out twice,
    by this store or by any other connection, process or instance on the
    same database: each block is a range no other transaction got. Numbers
    not used (a block dropped, a process stopped) are skipped, as an
    AUTO_INCREMENT skips the ids of rolled back rows. One store hands its
    numbers out rising; stores working at once (order actors, instances)
    interleave block by block.

    The row stays locked until the transaction that moved it ends, so a
    second store that needs a block waits for that transaction (bounded as
    any lock wait, by the deadline). An order actor's store wants numbers
    (store_numbers_want): each transaction it begins while it holds fewer
    than a group can place takes a block before anything else, so a
    transaction that waits for the row holds no other lock, and no cycle of
    waits (with a menu's row, say, that one group changes while another
    group's order line names it) can close through it. A store that does
    not want them (a tool, a test) takes a block where an order needs it,
    before the customer's point row. A block is NUMBERS_FIRST numbers at
    first (a wanting store takes at least a group's worth) and doubles, up
    to NUMBERS_MAX, while blocks last under NUMBERS_QUICK_MS, so that under
    load the row moves once in hundreds of orders; it halves again when
    one lasted over NUMBERS_SLOW_MS, so that a quiet shop that restarts
    skips few numbers. */
#include "store_impl.h"

#define NUMBERS_FIRST       16          //  the first block of a store
#define NUMBERS_MAX         1024        //  the largest block (more only for a larger need)
#define NUMBERS_QUICK_MS    1000        //  a block used up faster: the next doubles
#define NUMBERS_SLOW_MS     60000       //  a block that lasted longer: the next halves

static const char SQL_NUMBERS_MOVE [] =
    "UPDATE order_no_next SET next_no = next_no + ? WHERE id = 1";
static const char SQL_NUMBERS_READ [] =
    "SELECT next_no FROM order_no_next WHERE id = 1";

static int s_took (store_t *self);

//  Reads a block asked for; drops the new block once anything may have
//  been undone since it was asked for, and knows it stands once its
//  transaction committed first; then, when the block before is used up,
//  goes on with the new one.
static void
s_settle (store_t *self)
{
    store_numbers_t *n = &self->numbers;
    if (n->read)
        s_took (self);
    if (n->new_next >= n->new_end)
        return;
    if (!n->new_stands) {
        if (db_undos (self->db) != n->new_undos) {
            n->new_next = n->new_end = 0;
            return;
        }
        n->new_stands = db_commits (self->db) != n->new_commits;
    }
    if (n->new_stands && n->next >= n->end) {
        n->next = n->new_next;
        n->end = n->new_end;
        n->new_next = n->new_end = 0;
    }
}

//  Numbers held.
size_t
store_numbers_left (store_t *self)
{
    s_settle (self);
    const store_numbers_t *n = &self->numbers;
    return (size_t) (n->end - n->next) + (size_t) (n->new_end - n->new_next);
}

//  Moves the row on by a block of at least need numbers and reads where it
//  then stands: deferred on MySQL, read when numbers are next counted or
//  taken (its rows come with the transaction's script, whenever that
//  ends); at once on SQLite, inside the transaction. 0 or -1.
int
store_numbers_ask (store_t *self, size_t need)
{
    store_numbers_t *n = &self->numbers;
    if (n->read)
        s_took (self);
    int64_t now = zclock_mono ();
    if (n->size == 0)
        n->size = NUMBERS_FIRST;
    else
    if (now - n->taken_ms < NUMBERS_QUICK_MS && n->size < NUMBERS_MAX)
        n->size *= 2;
    else
    if (now - n->taken_ms > NUMBERS_SLOW_MS && n->size > NUMBERS_FIRST)
        n->size /= 2;
    int64_t size = (int64_t) need > n->size ? (int64_t) need : n->size;
    //  The block belongs to the transaction open now: it stands once that
    //  commits (db_commits moves), not once anything is undone (db_undos)
    n->new_commits = db_commits (self->db);
    n->new_undos = db_undos (self->db);
    n->taken_ms = now;
    db_stmt_t *move = db_stmt (self->db, SQL_NUMBERS_MOVE);
    int rc = move ? db_bind_int64 (move, 1, size) : DB_ERROR;
    if (rc == DB_OK)
        rc = db_defer (move);
    if (move)
        db_reset (move);
    if (rc < 0)
        return -1;
    db_stmt_t *read = db_stmt (self->db, SQL_NUMBERS_READ);
    if (!read || db_defer (read) < 0) {
        if (read)
            db_reset (read);
        return -1;
    }
    n->read = read;
    n->asked = size;
    if (db_dialect (self->db) == DB_SQLITE)
        return s_took (self);
    return 0;
}

//  Reads the block asked for: it ends where the row stood after the move.
//  0 or -1 (no block).
static int
s_took (store_t *self)
{
    store_numbers_t *n = &self->numbers;
    db_stmt_t *read = n->read;
    n->read = NULL;
    int rc = db_step (read);
    int64_t end = rc == DB_ROW ? db_column_int64 (read, 0) : 0;
    db_reset (read);
    if (rc != DB_ROW)
        return -1;
    if (end - n->asked < 1) {
        log_error ("-", "store: order_no_next stands at %" PRId64 ", below a block of %"
                   PRId64 ": no order numbers", end, n->asked);
        return -1;
    }
    //  What was left of an earlier new block is skipped
    n->new_next = end - n->asked;
    n->new_end = end;
    n->new_stands = false;
    return 0;
}

//  Takes a block when fewer than need numbers are held. 0 or -1.
int
store_numbers_ensure (store_t *self, size_t need)
{
    if (store_numbers_left (self) >= need)
        return 0;
    if (store_numbers_ask (self, need) != 0)
        return -1;
    return store_numbers_left (self) >= need ? 0 : -1;
}

//  Hands out the next number held. 0, or -1 when none is.
int
store_numbers_take (store_t *self, int64_t *number)
{
    s_settle (self);
    store_numbers_t *n = &self->numbers;
    if (n->next < n->end)
        *number = n->next++;
    else
    if (n->new_next < n->new_end)
        *number = n->new_next++;
    else
        return -1;
    return 0;
}

//  A transaction began: a store that wants numbers takes a block first
//  when it holds fewer than a group places. A failure here only leaves it
//  to the orders (store_numbers_ensure).
void
store_numbers_begin (store_t *self)
{
    if (self->numbers.wanted && store_numbers_left (self) < STORE_GROUP_ORDERS_MAX)
        store_numbers_ask (self, STORE_GROUP_ORDERS_MAX);
}

//  Marks a store that places orders (see store.h).
void
store_numbers_want (store_t *self)
{
    self->numbers.wanted = true;
}

//  "ORD-" and the number, at least eight digits.
void
store_order_no (int64_t number, char *order_no)
{
    snprintf (order_no, COFFEE_ID_MAX, "ORD-%08" PRId64, number);
}
