/*  schema — the command store's schema, its migrations and demo menus, and
    opening and closing a store (one connection). Written once on db.h;
    where the dialects differ the text is picked by sqlkit_pick. */
#include "store_impl.h"

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

//  v2: customers hold a bearer token, by its hash only (store/auth.c);
//  Idempotency-Keys are scoped to the customer a request acts for, so one
//  customer's key never answers (or reveals) another's. Keys stored before
//  take their customer from their stored request.
static const sqlkit_sql_t s_schema_v2 [] = {
    {   "ALTER TABLE customer ADD COLUMN token_hash CHAR(64)",
        "ALTER TABLE customer ADD COLUMN token_hash CHAR(64) NULL" },
    {   "CREATE UNIQUE INDEX IF NOT EXISTS customer_token ON customer (token_hash)",
        "CREATE UNIQUE INDEX customer_token ON customer (token_hash)" },
    {   "CREATE TABLE idempotency_v2 ("
        " route VARCHAR(32) NOT NULL,"
        " customer_id VARCHAR(32) NOT NULL,"
        " idem_key VARCHAR(255) NOT NULL,"
        " request TEXT NOT NULL,"
        " status INTEGER,"
        " response TEXT,"
        " state VARCHAR(8) NOT NULL,"
        " created_at BIGINT NOT NULL,"
        " updated_at BIGINT NOT NULL,"
        " PRIMARY KEY (route, customer_id, idem_key))",
        "ALTER TABLE idempotency ADD COLUMN customer_id VARCHAR(32) NOT NULL DEFAULT ''"
        " AFTER route" },
    {   "INSERT INTO idempotency_v2 (route, customer_id, idem_key, request, status, response,"
        " state, created_at, updated_at)"
        " SELECT route, COALESCE(json_extract(request, '$.customerId'), ''), idem_key, request,"
        " status, response, state, created_at, updated_at FROM idempotency",
        "UPDATE idempotency SET customer_id ="
        " COALESCE(JSON_VALUE(request, '$.customerId'), '') WHERE customer_id = ''" },
    {   "DROP TABLE idempotency",
        "ALTER TABLE idempotency DROP PRIMARY KEY, ADD PRIMARY KEY (route, customer_id, idem_key)" },
    {   "ALTER TABLE idempotency_v2 RENAME TO idempotency", "SELECT 1" },
    {   "CREATE INDEX IF NOT EXISTS idempotency_done ON idempotency (state, updated_at)",
        "SELECT 1" },
};

//  v4: points as lots (store/lots.c): each CHARGE and SAVE opens a lot with
//  an optional expiry; orders record which lots they spent. Balances from
//  before become one lot each that never expires.
static const sqlkit_sql_t s_schema_v4 [] = {
    {   "CREATE TABLE IF NOT EXISTS point_lot ("
        " id INTEGER PRIMARY KEY AUTOINCREMENT,"
        " customer_id VARCHAR(32) NOT NULL REFERENCES customer (customer_id),"
        " history_id BIGINT NOT NULL,"
        " amount BIGINT NOT NULL,"
        " remaining BIGINT NOT NULL CHECK (remaining >= 0),"
        " exp_date VARCHAR(8) NOT NULL,"
        " expires_at BIGINT NOT NULL,"
        " created_at BIGINT NOT NULL)",
        "CREATE TABLE IF NOT EXISTS point_lot ("
        " id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,"
        " customer_id VARCHAR(32) NOT NULL,"
        " history_id BIGINT NOT NULL,"
        " amount BIGINT NOT NULL,"
        " remaining BIGINT NOT NULL,"
        " exp_date VARCHAR(8) NOT NULL,"
        " expires_at BIGINT NOT NULL,"
        " created_at BIGINT NOT NULL,"
        " INDEX point_lot_customer (customer_id, expires_at),"
        " INDEX point_lot_due (expires_at),"
        " CONSTRAINT point_lot_remaining CHECK (remaining >= 0),"
        " CONSTRAINT point_lot_customer_fk FOREIGN KEY (customer_id)"
        " REFERENCES customer (customer_id))" SQLKIT_MYSQL_TABLE_OPTS },
    {   "CREATE INDEX IF NOT EXISTS point_lot_customer ON point_lot (customer_id, expires_at)",
        "SELECT 1" },
    {   "CREATE INDEX IF NOT EXISTS point_lot_due ON point_lot (expires_at) WHERE remaining > 0",
        "SELECT 1" },
    {   "CREATE TABLE IF NOT EXISTS point_lot_use ("
        " history_id BIGINT NOT NULL,"
        " lot_id BIGINT NOT NULL,"
        " point BIGINT NOT NULL,"
        " PRIMARY KEY (history_id, lot_id))",
        "CREATE TABLE IF NOT EXISTS point_lot_use ("
        " history_id BIGINT NOT NULL,"
        " lot_id BIGINT NOT NULL,"
        " point BIGINT NOT NULL,"
        " PRIMARY KEY (history_id, lot_id))" SQLKIT_MYSQL_TABLE_OPTS },
    {   "INSERT INTO point_lot (customer_id, history_id, amount, remaining, exp_date, expires_at,"
        " created_at) SELECT p.customer_id, 0, p.balance, p.balance, '', 9000000000000000000, 0"
        " FROM point p WHERE p.balance > 0 AND NOT EXISTS"
        " (SELECT 1 FROM point_lot l WHERE l.customer_id = p.customer_id)",
        "INSERT INTO point_lot (customer_id, history_id, amount, remaining, exp_date, expires_at,"
        " created_at) SELECT p.customer_id, 0, p.balance, p.balance, '', 9000000000000000000, 0"
        " FROM point p WHERE p.balance > 0 AND NOT EXISTS"
        " (SELECT 1 FROM point_lot l WHERE l.customer_id = p.customer_id)" },
};

//  Version 3: menus change at run time. Each menu counts its changes
//  (version; 0 for a menu no event told yet), and outbox rows say their
//  kind (every row before was an order).
static const sqlkit_sql_t s_schema_v3 [] = {
    {   "ALTER TABLE menu ADD COLUMN version BIGINT NOT NULL DEFAULT 0",
        "ALTER TABLE menu ADD COLUMN version BIGINT NOT NULL DEFAULT 0" },
    {   "ALTER TABLE outbox ADD COLUMN kind VARCHAR(16) NOT NULL DEFAULT 'order'",
        "ALTER TABLE outbox ADD COLUMN kind VARCHAR(16) NOT NULL DEFAULT 'order'" },
};

//  v5: a group commit's mark (store/group.c). On MySQL each group inserts
//  a random mark before its COMMIT, so a group whose COMMIT answer was lost
//  with the connection can be looked up: committed or not. Kept an hour.
static const sqlkit_sql_t s_schema_v5 [] = {
    {   "CREATE TABLE IF NOT EXISTS commit_mark ("
        " mark CHAR(43) NOT NULL PRIMARY KEY,"
        " created_at BIGINT NOT NULL)",
        "CREATE TABLE IF NOT EXISTS commit_mark ("
        " mark CHAR(43) NOT NULL PRIMARY KEY,"
        " created_at BIGINT NOT NULL,"
        " INDEX commit_mark_created (created_at))" SQLKIT_MYSQL_TABLE_OPTS },
    {   "CREATE INDEX IF NOT EXISTS commit_mark_created ON commit_mark (created_at)",
        "SELECT 1" },
};

//  v6: order numbers taken in blocks (store/numbers.c). The numbers so far
//  were the orders' ids, so the next one comes after the largest.
static const sqlkit_sql_t s_schema_v6 [] = {
    {   "CREATE TABLE IF NOT EXISTS order_no_next ("
        " id INTEGER PRIMARY KEY,"
        " next_no BIGINT NOT NULL)",
        "CREATE TABLE IF NOT EXISTS order_no_next ("
        " id INT NOT NULL PRIMARY KEY,"
        " next_no BIGINT NOT NULL)" SQLKIT_MYSQL_TABLE_OPTS },
    {   "INSERT OR IGNORE INTO order_no_next (id, next_no)"
        " SELECT 1, COALESCE(MAX(id), 0) + 1 FROM orders",
        "INSERT IGNORE INTO order_no_next (id, next_no)"
        " SELECT 1, COALESCE(MAX(id), 0) + 1 FROM orders" },
};

//  Schema versions in order; add a new entry to change the schema.
static const sqlkit_migration_t s_migrations [] = {
    { 1, s_schema_v1, sizeof s_schema_v1 / sizeof s_schema_v1 [0] },
    { 2, s_schema_v2, sizeof s_schema_v2 / sizeof s_schema_v2 [0] },
    { 3, s_schema_v3, sizeof s_schema_v3 / sizeof s_schema_v3 [0] },
    { 4, s_schema_v4, sizeof s_schema_v4 / sizeof s_schema_v4 [0] },
    { 5, s_schema_v5, sizeof s_schema_v5 / sizeof s_schema_v5 [0] },
    { 6, s_schema_v6, sizeof s_schema_v6 / sizeof s_schema_v6 [0] },
};

//  Seeds the demo menus into an empty store, each with its menu event.
static int
s_seed (db_t *db)
{
    return store_menus_seed (db);
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
    if (store_lines_sql_build (self) != 0) {
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
    store_batch_free (self);
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
