/*  store — the command store: customers, points and their history, menus,
    orders and order lines, the outbox, idempotency keys. Every operation is
    one transaction, written once on db.h, so the SQLite and MySQL backends
    run the same SQL logic and pass the same contract tests
    (tests/test_store_contract.c).

    A store_t is one connection: one per actor thread, never shared.

    Operations that answer an API call fill a store_reply_t with their
    domain result (store_result_t: done, not found and of what, not enough
    points and by how much, key in use or reused, invalid and why,
    unavailable, timeout) and the API answer the one answer table
    (include/answer.h, core/answer.c) makes of it; store/ holds no
    statuses, codes or messages. That answer is what an Idempotency-Key
    stores and replays, written in the same transaction as the effect.

    Limits (documented in docs/openapi.yaml too):
      chargeAmt           1 .. STORE_CHARGE_MAX per request
      qy                  1 .. STORE_QY_MAX per line (after merging)
      menuList            1 .. STORE_LINES_MAX entries
      balance             never below 0, never past INT64_MAX
    A menuId that appears more than once in one order is one line whose qy is
    the sum; the order counts once for that menu's popularity. */
#ifndef STORE_H_INCLUDED
#define STORE_H_INCLUDED

#include "coffee.h"
#include "db.h"

#define STORE_CHARGE_MAX   1000000000LL     //  1e9 points per charge
#define STORE_QY_MAX       100              //  cups of one menu per order
#define STORE_LINES_MAX    20               //  entries in menuList
#define STORE_NAME_MAX     100              //  bytes of customerNm and menuNm (UTF-8)
#define STORE_MENU_PRICE_MAX 1000000000LL   //  menuPrice 0 .. 1e9 points

//  How long an Idempotency-Key whose first request never finished (process
//  killed mid-request) blocks retries before a retry may take it over, and
//  how long finished keys are kept.
#define STORE_IDEM_STALE_MS   (60 * 1000LL)
#define STORE_IDEM_KEEP_MS    (48 * 3600 * 1000LL)

typedef struct _store_t store_t;

#define STORE_DATE_MAX     9                //  "YYYYMMDD" and its NUL
#define STORE_REMARK_MAX   201              //  a history remark (bytes) and its NUL
#define STORE_EXPIRING_DAYS 30              //  expiringPoint looks this far ahead

//  The operator's point policy (flags of coffee serve): every CHARGE and
//  SAVE opens a lot that expires after so many of the shop's days (0:
//  never); a new customer gets welcome_points as SAVE; an order earns
//  reward_percent of what it paid, rounded down, as SAVE.
typedef struct {
    int charge_valid_days;          //  --charge-valid-days
    int64_t welcome_points;         //  --welcome-points
    int welcome_valid_days;         //  --welcome-valid-days
    int reward_percent;             //  --reward-percent
    int reward_valid_days;          //  --reward-valid-days
} store_policy_t;

//  What an operation came to: the store's own words, no HTTP. The one
//  table that turns them into statuses, codes and messages is
//  core/answer.c (include/answer.h).
typedef enum {
    STORE_RESULT_NONE = 0,          //  not set (a bug)
    STORE_RESULT_DONE,              //  done; the reply body is the result document
    STORE_RESULT_REPLAY,            //  an Idempotency-Key's stored answer, as stored
    STORE_RESULT_NOT_FOUND,         //  the customer, menu or order (about) is not there
    STORE_RESULT_NO_POINT,          //  the balance is short by shortfall
    STORE_RESULT_NOT_ORDERABLE,     //  the menu (menu_id) is hidden: not on sale
    STORE_RESULT_KEY_IN_USE,        //  conflict: the key's first request still runs
    STORE_RESULT_KEY_REUSED,        //  conflict: the key came with another request
    STORE_RESULT_INVALID,           //  refused input, or a sum past INT64_MAX (why)
    STORE_RESULT_UNAVAILABLE,       //  the store failed; nothing changed
    STORE_RESULT_TIMEOUT,           //  a lock wait outlasted the deadline; nothing ran
    STORE_RESULT_UNAUTHORIZED,      //  no credential, or one that was never issued or is revoked
    STORE_RESULT_FORBIDDEN,         //  a valid customer token acting for another customer
    STORE_RESULT_COUNT
} store_result_t;

//  What a NOT_FOUND is about.
typedef enum {
    STORE_ABOUT_NONE = 0,
    STORE_ABOUT_CUSTOMER,           //  the customer
    STORE_ABOUT_MENU,               //  a menu (menu_id names it)
    STORE_ABOUT_ORDER,              //  the order
    STORE_ABOUT_COUNT
} store_about_t;

//  Why an INVALID was refused.
typedef enum {
    STORE_WHY_NONE = 0,
    STORE_WHY_CUSTOMER_ID,          //  not a customer id
    STORE_WHY_NAME,                 //  customerNm empty or too long
    STORE_WHY_AMOUNT,               //  chargeAmt outside 1..STORE_CHARGE_MAX
    STORE_WHY_BALANCE_MAX,          //  the balance would pass INT64_MAX
    STORE_WHY_LINES,                //  menuList outside 1..STORE_LINES_MAX
    STORE_WHY_MENU_ID,              //  a menuId that is not a menu id
    STORE_WHY_QY,                   //  a qy outside 1..STORE_QY_MAX
    STORE_WHY_QY_TOTAL,             //  one menu's merged qy past STORE_QY_MAX
    STORE_WHY_PRICE_MAX,            //  the order price would pass INT64_MAX
    STORE_WHY_POINT,                //  a granted point outside 1..STORE_CHARGE_MAX
    STORE_WHY_EXP_DATE,             //  expDate not a date from today on
    STORE_WHY_REMARK,               //  remark empty or too long
    STORE_WHY_COUNT
} store_why_t;

//  An operation's answer: its domain result, and the API answer the
//  answer table (include/answer.h) made of it, which is also what an
//  Idempotency-Key stores and replays.
typedef struct {
    store_result_t result;  //  what it came to
    store_about_t about;    //  NOT_FOUND: of what
    store_why_t why;        //  INVALID: why
    int64_t shortfall;      //  NO_POINT: points missing
    char menu_id [COFFEE_ID_MAX];   //  NOT_FOUND of a menu: its menuId
    int status;             //  the answer's HTTP status (answer.h)
    char *body;             //  the answer's JSON body (zstr_free; store_reply_reset)
} store_reply_t;

//  An Idempotency-Key of one customer on one route: (route, customer,
//  key) names it, so another customer's identical key is another request
//  and never learns of this one. request is the canonical request body
//  (cJSON_PrintUnformatted of the validated JSON): the same key with another
//  request gets 422.
typedef struct {
    const char *key;        //  header value (1..255 printable ASCII)
    const char *route;      //  "POST /order", "POST /point"
    const char *request;    //  canonical body
    const char *customer;   //  the customer the request acts for
} store_idem_t;

//  Who a request acts as, as the front read its credential. Operations on
//  a customer's points and orders check it first, inside their own
//  transaction (a token revoked a moment ago no longer works): a customer
//  token acts only for its customer (UNAUTHORIZED when no customer holds
//  it, FORBIDDEN when another does), the admin token for anyone, and with
//  --auth off (OPEN) nothing is checked. A NULL store_auth_t is OPEN too:
//  for callers inside the process (reconcile, tests).
typedef enum {
    STORE_AUTH_TOKEN = 0,   //  a customer token, by its hash (the zero value checks)
    STORE_AUTH_ADMIN,       //  the admin token (the front compared it)
    STORE_AUTH_OPEN         //  --auth off
} store_auth_mode_t;

typedef struct {
    store_auth_mode_t mode;             //  how the request authenticated
    const char *token_hash;             //  STORE_AUTH_TOKEN: token_hash of its token (hex)
} store_auth_t;

//  GET /point/{customerId} history pages: newest first, at most limit rows
//  after the cursor (the id of the last row of the page before; 0 for the
//  first page).
#define STORE_PAGE_DEFAULT 100
#define STORE_PAGE_MAX     1000

//  A committed, not yet published outbox row.
typedef struct {
    int64_t id;                         //  outbox sequence, increasing
    char key [COFFEE_ID_MAX];           //  event log key: order number or menu id
    char kind [EVENT_KIND_MAX];         //  event_kind_name of its kind
    char *payload;                      //  the envelope, event_encode JSON (owned)
} store_outbox_row_t;

//  Per-menu count of orders containing it.
typedef struct {
    char menu_id [COFFEE_ID_MAX];       //  "MENU-00000001"
    char menu_nm [128];                 //  display name
    int64_t count;                      //  orders containing the menu
} store_count_t;

//  Opens the store at url (see db_open), creates or migrates the schema
//  (versioned in schema_version), seeds the five demo menus into an empty
//  store. NULL with a message in err.
store_t *store_open (const char *url, char *err, size_t errlen);
void store_destroy (store_t **self_p);

//  Sets the point policy of the operations that follow (default: all 0).
void store_set_policy (store_t *self, const store_policy_t *policy);

//  The most orders one group places (the service's SERVICE_BATCH_MAX keeps
//  to it): what a store that wants order numbers holds as a group begins.
#define STORE_GROUP_ORDERS_MAX 64

//  Marks a store that places orders (an order actor's): from now on, a
//  transaction it begins while it holds fewer than STORE_GROUP_ORDERS_MAX
//  order numbers takes a block of them before anything else (see
//  store/numbers.c), so that it never waits for the numbers' row while
//  holding another lock.
void store_numbers_want (store_t *self);

//  The connection underneath (for tests and reconcile).
db_t *store_db (store_t *self);

//  DB_OK, or DB_UNAVAILABLE when the database cannot be reached.
int store_ping (store_t *self);

void store_reply_reset (store_reply_t *reply);

//  What store_group_begin and store_group_commit return.
#define STORE_OK        0       //  done
#define STORE_FAILED  (-1)      //  the store failed: nothing of it is there
#define STORE_TIMEOUT (-2)      //  a lock wait outlasted the deadline: nothing ran
#define STORE_IN_DOUBT_MS 10000 //  how long a lost COMMIT's outcome is looked for
#define STORE_IN_DOUBT (-3)     //  store_group_commit: the COMMIT's answer was lost and
                                //  the server did not say in time whether it committed

//  Group commit. The write operations (store_customer_create,
//  store_charge, store_order_create) called between store_group_begin and
//  store_group_commit run in ONE transaction, each in its own savepoint:
//  one that fails is rolled back to its savepoint only and answers its own
//  503 (its key freed), the others stay. Replies are only true once the
//  commit succeeded: when store_group_commit fails, nothing of the group is
//  there and every operation of it must be answered 503. Outside a group
//  each write operation is a transaction of its own.
//  store_group_begin starts the transaction, waiting for another
//  connection's write lock at most until deadline_ms (zclock_mono; 0: the
//  backend's default): STORE_OK, STORE_TIMEOUT (nothing began, answer 503
//  TIMEOUT) or STORE_FAILED.
int store_group_begin (store_t *self, int64_t deadline_ms);

//  Commits the group: STORE_OK, or STORE_FAILED with nothing of it there.
//  On MySQL a COMMIT whose answer is lost with the connection (the server
//  restarted or the network broke while it committed) may or may not have
//  committed: the group's mark, inserted in its transaction just before the
//  COMMIT, is looked up on a new connection (a locking read, so a commit
//  still in flight is waited for), for up to STORE_IN_DOUBT_MS. Found: the
//  group committed, STORE_OK. Not there: STORE_FAILED. No server to ask in
//  that time: STORE_IN_DOUBT, and its operations must not be answered at all
//  (neither 200 nor 503 would be known true).
int store_group_commit (store_t *self);

//  Ends the group undoing all of it (harmless when none is open).
void store_group_rollback (store_t *self);

//  The deadline (zclock_mono ms, 0 none) of the next write operations:
//  their lock waits end by it; one that outlasts it is undone and answers
//  503 TIMEOUT ("nothing was changed"). Callers check the deadline before
//  they start an operation; the store bounds the waits inside it.
void store_set_deadline (store_t *self, int64_t deadline_ms);

//  Every API operation returns 0 with reply filled (any status), or -1 when
//  the store failed (reply then holds 503 UNAVAILABLE, or 503 TIMEOUT when a
//  lock wait outlasted the deadline; nothing changed).

//  POST /customer: new customer CUST-%08d with a zero balance, holding
//  token (token.h; only its hash is stored): {"customerId","token"}. With
//  token NULL the customer holds none (only the admin acts for it) and the
//  answer is {"customerId"}.
int store_customer_create (store_t *self, const char *name, const char *token,
                           int64_t now_ms, store_reply_t *reply);

//  POST /customer/{customerId}/token: the customer now holds token instead
//  of the one before, which stops working when this commits. auth must be
//  the customer's current token or the admin's. {"customerId","token"}.
int store_token_issue (store_t *self, const char *customer_id, const store_auth_t *auth,
                       const char *token, int64_t now_ms, store_reply_t *reply);

//  POST /point: adds amount (already validated 1..STORE_CHARGE_MAX) with a
//  conditional update and a CHARGE history row. 404 NOT_FOUND_DATA for an
//  unknown customer, 400 INVALID_INPUT when the balance would pass INT64_MAX.
int store_charge (store_t *self, const char *customer_id, int64_t amount,
                  const store_auth_t *auth, const store_idem_t *idem, int64_t now_ms,
                  store_reply_t *reply);

//  GET /point/{customerId}: [{"customerId","point","pointDetail":[…],
//  "nextCursor"}]: the whole balance and at most limit (1..STORE_PAGE_MAX)
//  history rows with ids below cursor (0: from the newest), newest first;
//  nextCursor is the cursor of the next page, or null after the last.
//  expiringPoint beside point: what of the balance expires within
//  STORE_EXPIRING_DAYS of now_ms.
int store_point_get (store_t *self, const char *customer_id, const store_auth_t *auth,
                     int limit, int64_t cursor, int64_t now_ms, store_reply_t *reply);

//  POST /admin/point/save (the admin's): grants point (1..STORE_CHARGE_MAX)
//  as SAVE to the customer, a lot expiring after exp_date (YYYYMMDD, a
//  shop day from today on; NULL: never) with remark. {"customerId",
//  "point","afterPoint","expDate"}; 404 for an unknown customer.
int store_point_save (store_t *self, const char *customer_id, int64_t point,
                      const char *exp_date, const char *remark, int64_t now_ms,
                      store_reply_t *reply);

//  The scheduled sweep: writes off the lots that expired by now_ms of up
//  to max customers, each customer in a transaction of its own, each lot
//  exactly once (one EXPIRE row of what was left). *customers and *points
//  (may be NULL) say how many and how much. 0 or -1.
int store_expire_due (store_t *self, int64_t now_ms, int max, int *customers,
                      int64_t *points);

//  POST /order: one transaction — customer and menus checked (404 for an
//  unknown menu, 409 NOT_ORDERABLE for a hidden one; prices are the menus'
//  at this moment), points taken by conditional update (409
//  NO_POINT with "shortfall"), order, lines, USE history row, outbox row.
//  lines as validated by the front (duplicates merged here).
int store_order_create (store_t *self, const char *customer_id, const store_auth_t *auth,
                        const event_line_t *lines, size_t line_count,
                        const store_idem_t *idem, int64_t now_ms, store_reply_t *reply);

//  One order of store_orders_create: the arguments of store_order_create,
//  and what it came to.
typedef struct {
    const char *customer_id;
    const store_auth_t *auth;
    const event_line_t *lines;
    size_t line_count;
    const store_idem_t *idem;           //  NULL: no Idempotency-Key
    store_reply_t *reply;               //  its answer
    int rc;                             //  0, or -1: the store failed (reply 503)
} store_order_req_t;

//  The orders of an open group, placed together (store/order_batch.c).
//  Each is answered as store_order_create would answer it had they run
//  one after another in the order given. Those that can be — no
//  Idempotency-Key, the customer's own credential, every menu there and on
//  sale, enough points, no lot past its date, no reward to give — are
//  placed with a few statements for all of them: the customers' point
//  rows locked and read at once, their lots and the menus read at once,
//  then one multi-row statement per table. A customer any of whose orders
//  cannot be placed so has all of them placed one by one (store_order_create)
//  after the others, as has every order when the batch fails (undone to
//  its savepoint first). On MySQL everything the batch writes after the
//  orders' INSERT (their numbers, lines and USE rows, what each spent of
//  each lot, the outbox rows) goes with the group's COMMIT: should any of
//  it fail, the COMMIT does not run and the group fails whole.
//  Outside a group, all one by one.
void store_orders_create (store_t *self, store_order_req_t *orders, size_t count,
                          int64_t now_ms);

//  GET /order/{orderNo}: {"orderNo","customerId","orderPrice","payAmt",
//  "orderedAt","menuList":[{"menuId","menuNm","qy","menuPrice"}]}.
//  A customer token sees only its customer's orders (403 for another's).
int store_order_get (store_t *self, const char *order_no, const store_auth_t *auth,
                     store_reply_t *reply);

//  Balance and the sum of the history of a customer (tests prove they agree).
int store_balance (store_t *self, const char *customer_id, int64_t *balance,
                   int64_t *history_sum);

//  Outbox relay. store_outbox_claim returns up to limit unpublished rows in
//  id order (MySQL: claimed with FOR UPDATE SKIP LOCKED inside a
//  transaction that stays open, so racing relays never take the same row;
//  SQLite: read without holding the write lock). Then exactly one of
//  store_outbox_mark (marks the first n rows published and ends the claim)
//  or store_outbox_release (ends it, nothing marked). Returns 0 or -1.
int store_outbox_claim (store_t *self, size_t limit, store_outbox_row_t **rows, size_t *count);
int store_outbox_mark (store_t *self, const store_outbox_row_t *rows, size_t count,
                       int64_t now_ms);

//  Rows store_outbox_mark marks with one UPDATE (more take one per this many).
#define STORE_OUTBOX_MARK_MAX 256
void store_outbox_release (store_t *self);
void store_outbox_rows_free (store_outbox_row_t **rows, size_t count);

//  Unpublished outbox rows (for metrics and tests).
int store_outbox_pending (store_t *self, int64_t *count);

//  A menu's fields as POST or PATCH /admin/menu give them (validated by
//  the front): each is set only when its has_ flag is.
typedef struct {
    bool has_name;                      //  menuNm given
    char name [EVENT_NAME_MAX];         //  menuNm, 1..STORE_NAME_MAX bytes
    bool has_price;                     //  menuPrice given
    int64_t price;                      //  menuPrice, 0..STORE_MENU_PRICE_MAX
    bool has_shown;                     //  useYn given
    bool shown;                         //  useYn "Y" (true) or "N"
} store_menu_change_t;

//  POST /admin/menu: a new menu MENU-%08d (one past the highest) at version
//  1, useYn "Y" unless given; its menu.changed event goes into the outbox
//  in the same transaction. Answers the menu:
//  {"menuId","menuNm","menuPrice","useYn","version"}.
int store_menu_create (store_t *self, const store_menu_change_t *change, int64_t now_ms,
                       store_reply_t *reply);

//  PATCH /admin/menu/{menuId}: sets the given fields, version + 1, and its
//  event, in one transaction; 404 NOT_FOUND_DATA for an unknown menu.
//  Orders placed before keep their prices.
int store_menu_patch (store_t *self, const char *menu_id, const store_menu_change_t *change,
                      int64_t now_ms, store_reply_t *reply);

//  GET /admin/menu: every menu, hidden ones too, with its version, by menuId.
int store_menu_list (store_t *self, store_reply_t *reply);

//  Every menu as store_menu_list answers it (reconcile). *menus is freed
//  with free. 0 or -1.
int store_menus_read (store_t *self, event_menu_t **menus, size_t *count);

//  Reconcile: per menu, orders containing it with ordered_at in (from_ms, to_ms].
int store_order_menu_counts (store_t *self, int64_t from_ms, int64_t to_ms,
                             store_count_t **counts, size_t *count);

//  Reconcile repair: every order of the window as an event (caller frees
//  each with event_order_reset, then the array with free).
int store_order_events (store_t *self, int64_t from_ms, int64_t to_ms,
                        event_order_t **events, size_t *count);

//  Drops idempotency keys finished before before_ms.
int store_idem_purge (store_t *self, int64_t before_ms);

#endif
