/*  display_store — the display side's database (CQRS), written once on
    db.h. ordered_menu holds one row per (order, menu), so a redelivered
    event inserts nothing; menu_hourly counts those rows per menu and hour
    (hour = ordered_at / 3600000), updated in the same transaction as the
    insert, so GET /display/best sums at most 169 hourly rows per menu and
    counts single rows only at the window's edges. */
#include "display_store.h"
#include "sqlkit.h"
#include <string.h>
#include <stdio.h>

#define HOUR_MS (3600 * 1000LL)

//  One hourly count a transaction adds: menu_hourly (menu_id, hour_no) += n.
typedef struct {
    char menu_id [64];
    int64_t hour;
    int64_t n;
} s_count_t;

//  One ordered-menu row a transaction inserts at its commit.
typedef struct {
    char order_no [64];
    char menu_id [64];
    int64_t ordered_at;
} s_ordered_t;

//  The ordered-menu rows of a commit go in multi-row INSERTs of
//  sqlkit_sizes rows: the fewest that add up to them.
#define ORDERED_SAVEPOINT "display_rows"

//  One consumer position a transaction records.
typedef struct {
    char group [129];
    int32_t partition;
    int64_t offset;
} s_position_t;

struct _display_store_t {
    db_t *db;                       //  the connection (one thread only)
    bool in_batch;                  //  a batch transaction is open
    //  What the open transaction still has to write at its commit
    s_count_t *counts;              //  hourly counts to add
    size_t count_n, count_cap;
    s_position_t *positions;        //  the last position of each (group, partition)
    size_t position_n, position_cap;
    s_ordered_t *ordered;           //  ordered-menu rows to insert
    size_t ordered_n, ordered_cap;
    char *ordered_sql [SQLKIT_SIZE_COUNT];  //  [k]: INSERT of sqlkit_sizes [k] of them,
                                            //  made on first use
};

static const sqlkit_sql_t s_schema_v1 [] = {
    {   "CREATE TABLE IF NOT EXISTS display_menu ("
        " menu_id VARCHAR(32) NOT NULL PRIMARY KEY,"
        " menu_nm VARCHAR(100) NOT NULL,"
        " menu_price BIGINT NOT NULL,"
        " use_yn CHAR(1) NOT NULL DEFAULT 'Y')",
        "CREATE TABLE IF NOT EXISTS display_menu ("
        " menu_id VARCHAR(32) NOT NULL PRIMARY KEY,"
        " menu_nm VARCHAR(100) NOT NULL,"
        " menu_price BIGINT NOT NULL,"
        " use_yn CHAR(1) NOT NULL DEFAULT 'Y')" SQLKIT_MYSQL_TABLE_OPTS },
    {   "CREATE TABLE IF NOT EXISTS ordered_menu ("
        " order_no VARCHAR(32) NOT NULL,"
        " menu_id VARCHAR(32) NOT NULL,"
        " ordered_at BIGINT NOT NULL,"
        " PRIMARY KEY (order_no, menu_id))",
        "CREATE TABLE IF NOT EXISTS ordered_menu ("
        " order_no VARCHAR(32) NOT NULL,"
        " menu_id VARCHAR(32) NOT NULL,"
        " ordered_at BIGINT NOT NULL,"
        " PRIMARY KEY (order_no, menu_id),"
        " INDEX ordered_menu_at (ordered_at, menu_id))" SQLKIT_MYSQL_TABLE_OPTS },
    {   "CREATE INDEX IF NOT EXISTS ordered_menu_at ON ordered_menu (ordered_at, menu_id)",
        "SELECT 1" },
    {   "CREATE TABLE IF NOT EXISTS menu_hourly ("
        " menu_id VARCHAR(32) NOT NULL,"
        " hour_no BIGINT NOT NULL,"
        " cnt BIGINT NOT NULL,"
        " PRIMARY KEY (menu_id, hour_no))",
        "CREATE TABLE IF NOT EXISTS menu_hourly ("
        " menu_id VARCHAR(32) NOT NULL,"
        " hour_no BIGINT NOT NULL,"
        " cnt BIGINT NOT NULL,"
        " PRIMARY KEY (menu_id, hour_no),"
        " INDEX menu_hourly_hour (hour_no))" SQLKIT_MYSQL_TABLE_OPTS },
    {   "CREATE INDEX IF NOT EXISTS menu_hourly_hour ON menu_hourly (hour_no)", "SELECT 1" },
    {   "CREATE TABLE IF NOT EXISTS consumer_position ("
        " grp VARCHAR(128) NOT NULL,"
        " part INTEGER NOT NULL,"
        " off BIGINT NOT NULL,"
        " PRIMARY KEY (grp, part))",
        "CREATE TABLE IF NOT EXISTS consumer_position ("
        " grp VARCHAR(128) NOT NULL,"
        " part INT NOT NULL,"
        " off BIGINT NOT NULL,"
        " PRIMARY KEY (grp, part))" SQLKIT_MYSQL_TABLE_OPTS },
};

//  Version 2: menus come from menu events only, applied by version (0: a
//  menu seeded before menus had events).
static const sqlkit_sql_t s_schema_v2 [] = {
    {   "ALTER TABLE display_menu ADD COLUMN version BIGINT NOT NULL DEFAULT 0",
        "ALTER TABLE display_menu ADD COLUMN version BIGINT NOT NULL DEFAULT 0" },
};

//  Schema versions in order; add a new entry to change the schema.
static const sqlkit_migration_t s_migrations [] = {
    { 1, s_schema_v1, sizeof s_schema_v1 / sizeof s_schema_v1 [0] },
    { 2, s_schema_v2, sizeof s_schema_v2 / sizeof s_schema_v2 [0] },
};

//  A menu event inserts the menu, or overwrites it only when newer.
static const char SQL_MENU_APPLY_SQLITE [] =
    "INSERT INTO display_menu (menu_id, menu_nm, menu_price, use_yn, version)"
    " VALUES (?, ?, ?, ?, ?)"
    " ON CONFLICT (menu_id) DO UPDATE SET menu_nm = excluded.menu_nm,"
    " menu_price = excluded.menu_price, use_yn = excluded.use_yn, version = excluded.version"
    " WHERE excluded.version > display_menu.version";
//  (MySQL assigns left to right: version is compared before it is set.)
static const char SQL_MENU_APPLY_MYSQL [] =
    "INSERT INTO display_menu (menu_id, menu_nm, menu_price, use_yn, version)"
    " VALUES (?, ?, ?, ?, ?)"
    " ON DUPLICATE KEY UPDATE"
    " menu_nm = IF(VALUES(version) > version, VALUES(menu_nm), menu_nm),"
    " menu_price = IF(VALUES(version) > version, VALUES(menu_price), menu_price),"
    " use_yn = IF(VALUES(version) > version, VALUES(use_yn), use_yn),"
    " version = GREATEST(VALUES(version), version)";
static const char SQL_MENU_VERSION [] =
    "SELECT version FROM display_menu WHERE menu_id = ?";
static const char SQL_MENU_ALL [] =
    "SELECT menu_id, menu_nm, menu_price, use_yn, version FROM display_menu ORDER BY menu_id";
static const char SQL_MENU_SET [] =
    "UPDATE display_menu SET menu_nm = ?, menu_price = ?, use_yn = ?, version = ?"
    " WHERE menu_id = ?";
static const char SQL_MENU_ADD [] =
    "INSERT INTO display_menu (menu_id, menu_nm, menu_price, use_yn, version)"
    " VALUES (?, ?, ?, ?, ?)";
static const char SQL_MENU_DROP [] =
    "DELETE FROM display_menu WHERE menu_id = ?";
static const char SQL_MENU_LIST [] =
    "SELECT menu_id, menu_nm, menu_price FROM display_menu WHERE use_yn = 'Y' ORDER BY menu_id";
static const char SQL_ORDERED_INSERT_SQLITE [] =
    "INSERT OR IGNORE INTO ordered_menu (order_no, menu_id, ordered_at) VALUES (?, ?, ?)";
static const char SQL_ORDERED_INSERT_MYSQL [] =
    "INSERT IGNORE INTO ordered_menu (order_no, menu_id, ordered_at) VALUES (?, ?, ?)";
static const char SQL_HOURLY_ADD_SQLITE [] =
    "INSERT INTO menu_hourly (menu_id, hour_no, cnt) VALUES (?, ?, ?)"
    " ON CONFLICT (menu_id, hour_no) DO UPDATE SET cnt = cnt + excluded.cnt";
static const char SQL_HOURLY_ADD_MYSQL [] =
    "INSERT INTO menu_hourly (menu_id, hour_no, cnt) VALUES (?, ?, ?)"
    " ON DUPLICATE KEY UPDATE cnt = cnt + VALUES(cnt)";
static const char SQL_POSITION_SET_SQLITE [] =
    "INSERT INTO consumer_position (grp, part, off) VALUES (?, ?, ?)"
    " ON CONFLICT (grp, part) DO UPDATE SET off = excluded.off";
static const char SQL_POSITION_SET_MYSQL [] =
    "INSERT INTO consumer_position (grp, part, off) VALUES (?, ?, ?)"
    " ON DUPLICATE KEY UPDATE off = VALUES(off)";
static const char SQL_POSITION_GET [] =
    "SELECT off FROM consumer_position WHERE grp = ? AND part = ?";

//  The best query: the aggregates of hours [?, ?] (the current hour's
//  whole), single rows in (?, ?) at the old edge, less the current hour's
//  rows in (?, ?) after now (another instance's clock may run ahead). The
//  current hour is never counted row by row: it holds every order of the
//  last minutes, and the display reads it at each refresh.
static const char SQL_BEST [] =
    "SELECT d.menu_id, d.menu_nm, SUM(x.c) AS total FROM ("
    "  SELECT menu_id, SUM(cnt) AS c FROM menu_hourly"
    "   WHERE hour_no >= ? AND hour_no <= ? GROUP BY menu_id"
    "  UNION ALL"
    "  SELECT menu_id, COUNT(*) AS c FROM ordered_menu"
    "   WHERE ordered_at > ? AND ordered_at < ? GROUP BY menu_id"
    "  UNION ALL"
    "  SELECT menu_id, -COUNT(*) AS c FROM ordered_menu"
    "   WHERE ordered_at > ? AND ordered_at < ? GROUP BY menu_id"
    " ) x JOIN display_menu d ON d.menu_id = x.menu_id"
    " WHERE d.use_yn = 'Y'"
    " GROUP BY d.menu_id, d.menu_nm"
    " HAVING SUM(x.c) > 0"
    " ORDER BY total DESC, d.menu_id ASC"
    " LIMIT ?";
static const char SQL_COUNTS [] =
    "SELECT o.menu_id, COALESCE(MAX(d.menu_nm), ''), COUNT(*) FROM ordered_menu o"
    " LEFT JOIN display_menu d ON d.menu_id = o.menu_id"
    " WHERE o.ordered_at > ? AND o.ordered_at <= ? GROUP BY o.menu_id ORDER BY o.menu_id";
static const char SQL_WINDOW_DELETE [] =
    "DELETE FROM ordered_menu WHERE ordered_at > ? AND ordered_at <= ?";
static const char SQL_HOURLY_DELETE [] =
    "DELETE FROM menu_hourly WHERE hour_no >= ? AND hour_no <= ?";
static const char SQL_HOURLY_REBUILD_SQLITE [] =
    "INSERT INTO menu_hourly (menu_id, hour_no, cnt)"
    " SELECT menu_id, ordered_at / 3600000, COUNT(*) FROM ordered_menu"
    " WHERE ordered_at >= ? AND ordered_at < ? GROUP BY menu_id, ordered_at / 3600000";
static const char SQL_HOURLY_REBUILD_MYSQL [] =
    "INSERT INTO menu_hourly (menu_id, hour_no, cnt)"
    " SELECT menu_id, ordered_at DIV 3600000, COUNT(*) FROM ordered_menu"
    " WHERE ordered_at >= ? AND ordered_at < ? GROUP BY menu_id, ordered_at DIV 3600000";

//  Floor division by an hour (times before 1970 stay in the right hour).
static int64_t
s_hour (int64_t ms)
{
    int64_t h = ms / HOUR_MS;
    if (ms % HOUR_MS < 0)
        h--;
    return h;
}

//  Opens and migrates the display store (its menus come from events only).
display_store_t *
display_store_open (const char *url, char *err, size_t errlen)
{
    display_store_t *self = (display_store_t *) calloc (1, sizeof *self);
    if (!self) {
        if (err && errlen > 0)
            snprintf (err, errlen, "out of memory");
        return NULL;
    }
    self->db = sqlkit_open (url, "display", s_migrations,
                            sizeof s_migrations / sizeof s_migrations [0], NULL, err, errlen);
    if (!self->db)
        display_store_destroy (&self);      //  sets self to NULL
    return self;
}

//  Closes the connection.
void
display_store_destroy (display_store_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    display_store_t *self = *self_p;
    if (self->in_batch)
        display_store_batch_rollback (self);
    db_destroy (&self->db);
    free (self->counts);
    free (self->positions);
    free (self->ordered);
    //  After the connection: its cached statements are keyed on these
    for (size_t k = 0; k < SQLKIT_SIZE_COUNT; k++)
        free (self->ordered_sql [k]);
    free (self);
    *self_p = NULL;
}

//  The connection underneath.
db_t *
display_store_db (display_store_t *self)
{
    return self->db;
}

//  Whether the database answers.
int
display_store_ping (display_store_t *self)
{
    return db_ping (self->db) == DB_OK ? DB_OK : DB_UNAVAILABLE;
}

//  Reads the menu list st (SQL_MENU_LIST, run or deferred) into
//  GET /display/menu's JSON text, and resets it.
static int
s_menus_read (db_stmt_t *st, char **json)
{
    *json = NULL;
    cJSON *list = cJSON_CreateArray ();
    int rc = st ? DB_OK : DB_ERROR;
    while (rc == DB_OK || rc == DB_ROW) {
        rc = db_step (st);
        if (rc != DB_ROW)
            break;
        cJSON *item = cJSON_CreateObject ();
        cJSON_AddStringToObject (item, "menuId", db_column_text (st, 0));
        cJSON_AddStringToObject (item, "menuNm", db_column_text (st, 1));
        sqlkit_add_int (item, "menuPrice", db_column_int64 (st, 2));
        cJSON_AddItemToArray (list, item);
    }
    db_reset (st);
    if (rc != DB_DONE) {
        cJSON_Delete (list);
        return -1;
    }
    *json = sqlkit_print (list);
    return *json ? 0 : -1;
}

//  GET /display/menu as JSON text.
int
display_store_menus (display_store_t *self, char **json)
{
    return s_menus_read (db_stmt (self->db, SQL_MENU_LIST), json);
}

//  Inserts one ordered-menu row if new; 1 when inserted, 0 when it was
//  there, -1 on failure.
static int
s_ordered_add (db_t *db, const char *order_no, const char *menu_id, int64_t ordered_at)
{
    db_stmt_t *st = db_stmt (db, sqlkit_pick (db, SQL_ORDERED_INSERT_SQLITE,
                                              SQL_ORDERED_INSERT_MYSQL));
    int rc = DB_ERROR;
    if (st && db_bind_text (st, 1, order_no) == DB_OK
           && db_bind_text (st, 2, menu_id) == DB_OK
           && db_bind_int64 (st, 3, ordered_at) == DB_OK)
        rc = db_step (st);
    db_reset (st);
    if (rc != DB_DONE)
        return -1;
    return db_changes (db) == 1 ? 1 : 0;
}

//  Writes (group, partition) -> offset as the consumer position, in the
//  open transaction, deferred to the commit (its failure shows there).
static int
s_position_write (db_t *db, const s_position_t *position)
{
    db_stmt_t *st = db_stmt (db, sqlkit_pick (db, SQL_POSITION_SET_SQLITE, SQL_POSITION_SET_MYSQL));
    int rc = DB_ERROR;
    if (st && db_bind_text (st, 1, position->group) == DB_OK
           && db_bind_int64 (st, 2, position->partition) == DB_OK
           && db_bind_int64 (st, 3, position->offset) == DB_OK)
        rc = db_defer (st);
    db_reset (st);
    return rc >= 0 ? 0 : -1;
}

//  Makes room for one more item in items (count in use, *cap allocated,
//  each size bytes): doubles it when full, first when empty. Returns the
//  array, moved or not, or NULL (items left as they were).
static void *
s_grow (void *items, size_t *cap, size_t count, size_t size, size_t first)
{
    if (count < *cap)
        return items;
    size_t grown_cap = *cap ? *cap * 2 : first;
    void *grown = realloc (items, grown_cap * size);
    if (grown)
        *cap = grown_cap;
    return grown;
}

//  Keeps (group, partition) -> offset for the commit; a later event of the
//  same partition replaces it. 0 or -1.
static int
s_position_keep (display_store_t *self, const char *group, int32_t partition, int64_t offset)
{
    if (strlen (group) >= sizeof self->positions [0].group)
        return -1;
    for (size_t i = 0; i < self->position_n; i++) {
        s_position_t *kept = &self->positions [i];
        if (kept->partition == partition && streq (kept->group, group)) {
            kept->offset = offset;
            return 0;
        }
    }
    void *grown = s_grow (self->positions, &self->position_cap, self->position_n,
                          sizeof *self->positions, 4);
    if (!grown)
        return -1;
    self->positions = grown;
    s_position_t *kept = &self->positions [self->position_n++];
    snprintf (kept->group, sizeof kept->group, "%s", group);
    kept->partition = partition;
    kept->offset = offset;
    return 0;
}

//  Keeps one more order of menu_id in hour for the commit. 0 or -1.
static int
s_count_keep (display_store_t *self, const char *menu_id, int64_t hour)
{
    if (strlen (menu_id) >= sizeof self->counts [0].menu_id)
        return -1;
    for (size_t i = 0; i < self->count_n; i++) {
        s_count_t *kept = &self->counts [i];
        if (kept->hour == hour && streq (kept->menu_id, menu_id)) {
            kept->n++;
            return 0;
        }
    }
    void *grown = s_grow (self->counts, &self->count_cap, self->count_n, sizeof *self->counts,
                          16);
    if (!grown)
        return -1;
    self->counts = grown;
    s_count_t *kept = &self->counts [self->count_n++];
    snprintf (kept->menu_id, sizeof kept->menu_id, "%s", menu_id);
    kept->hour = hour;
    kept->n = 1;
    return 0;
}

//  Keeps an ordered-menu row for the commit: 1, 0 when the batch holds it
//  already (an event delivered twice in one turn), -1 when it cannot.
static int
s_ordered_keep (display_store_t *self, const char *order_no, const char *menu_id,
                int64_t ordered_at)
{
    if (strlen (order_no) >= sizeof self->ordered [0].order_no
    ||  strlen (menu_id) >= sizeof self->ordered [0].menu_id)
        return -1;
    for (size_t i = 0; i < self->ordered_n; i++)
        if (streq (self->ordered [i].order_no, order_no)
        &&  streq (self->ordered [i].menu_id, menu_id))
            return 0;
    void *grown = s_grow (self->ordered, &self->ordered_cap, self->ordered_n, sizeof *self->ordered,
                          16);
    if (!grown)
        return -1;
    self->ordered = grown;
    s_ordered_t *row = &self->ordered [self->ordered_n++];
    snprintf (row->order_no, sizeof row->order_no, "%s", order_no);
    snprintf (row->menu_id, sizeof row->menu_id, "%s", menu_id);
    row->ordered_at = ordered_at;
    return 1;
}

//  The INSERT of sqlkit_sizes [k] ordered-menu rows that skips those
//  already there.
static const char *
s_ordered_sql (display_store_t *self, size_t k)
{
    if (self->ordered_sql [k])
        return self->ordered_sql [k];
    //  The one-row INSERT, then a "(?, ?, ?)" more for each further row
    const char *head = sqlkit_pick (self->db, SQL_ORDERED_INSERT_SQLITE, SQL_ORDERED_INSERT_MYSQL);
    self->ordered_sql [k] = sqlkit_repeat (head, ", (?, ?, ?)", "", sqlkit_sizes [k] - 1, "");
    return self->ordered_sql [k];
}

//  Inserts the kept ordered-menu rows and keeps an hourly count for each
//  new one; *news tells whether any was. All of them in multi-row INSERTs
//  when none was there yet; otherwise (a redelivery) that is undone to a
//  savepoint and each row goes alone, to know which ones were new. 0 or -1.
static int
s_ordered_flush (display_store_t *self, bool *news)
{
    db_t *db = self->db;
    size_t n = self->ordered_n;
    if (n == 0)
        return 0;
    //  One row needs no savepoint: its INSERT tells whether it was new
    bool one = n == 1;
    if (!one && db_savepoint (db, ORDERED_SAVEPOINT) != DB_OK)
        return -1;
    //  The INSERTs are deferred, to go in one round trip on MySQL
    int64_t added = 0;
    int first = -1, last = -1;
    int rc = DB_OK;
    for (size_t done = 0; done < n && rc == DB_OK; ) {
        size_t k = sqlkit_size_below (n - done);
        size_t rows = sqlkit_sizes [k];
        const char *sql = s_ordered_sql (self, k);
        db_stmt_t *st = sql ? db_stmt (db, sql) : NULL;
        rc = st ? DB_OK : DB_ERROR;
        for (size_t r = 0; r < rows && rc == DB_OK; r++) {
            const s_ordered_t *row = &self->ordered [done + r];
            int at = (int) r * 3 + 1;
            if ((rc = db_bind_text (st, at, row->order_no)) == DB_OK
            &&  (rc = db_bind_text (st, at + 1, row->menu_id)) == DB_OK)
                rc = db_bind_int64 (st, at + 2, row->ordered_at);
        }
        if (rc == DB_OK) {
            last = db_defer (st);
            rc = last >= 0 ? DB_OK : DB_ERROR;
            if (first < 0)
                first = last;
        }
        db_reset (st);
        done += rows;
    }
    if (rc == DB_OK)
        rc = db_flush (db);
    if (rc != DB_OK)
        return -1;
    for (int idx = first; idx <= last; idx++)
        added += db_deferred_changes (db, idx);
    if (one && added == 0) {
        self->ordered_n = 0;            //  there already: nothing new
        return 0;
    }
    bool alone = added != (int64_t) n;
    if (alone && db_savepoint_rollback (db, ORDERED_SAVEPOINT) != DB_OK)
        return -1;
    for (size_t i = 0; i < n; i++) {
        const s_ordered_t *row = &self->ordered [i];
        int fresh = alone ? s_ordered_add (db, row->order_no, row->menu_id, row->ordered_at) : 1;
        if (fresh < 0)
            return -1;
        if (fresh == 0)
            continue;
        if (s_count_keep (self, row->menu_id, s_hour (row->ordered_at)) != 0)
            return -1;
        if (news)
            *news = true;
    }
    if (!one && db_dialect (db) == DB_SQLITE
    &&  db_savepoint_release (db, ORDERED_SAVEPOINT) != DB_OK)
        return -1;
    self->ordered_n = 0;
    return 0;
}

//  Orders hourly counts by (menuId, hour).
static int
s_count_cmp (const void *a, const void *b)
{
    const s_count_t *x = (const s_count_t *) a;
    const s_count_t *y = (const s_count_t *) b;
    int c = strcmp (x->menu_id, y->menu_id);
    if (c)
        return c;
    return x->hour < y->hour ? -1 : x->hour > y->hour;
}

//  Opens a batch (see display_store.h).
int
display_store_batch_begin (display_store_t *self)
{
    if (self->in_batch || db_begin (self->db) != DB_OK)
        return -1;
    self->in_batch = true;
    self->count_n = 0;
    self->position_n = 0;
    self->ordered_n = 0;
    return 0;
}

//  Drops the open batch.
void
display_store_batch_rollback (display_store_t *self)
{
    if (!self->in_batch)
        return;
    db_rollback (self->db);
    self->in_batch = false;
    self->count_n = 0;
    self->position_n = 0;
    self->ordered_n = 0;
}

//  Inserts the kept ordered-menu rows, writes the hourly counts of the new
//  ones in (menuId, hour) order and the positions, then commits the batch
//  (see display_store.h).
int
display_store_batch_commit (display_store_t *self, bool *news)
{
    if (news)
        *news = false;
    if (!self->in_batch)
        return -1;
    db_t *db = self->db;
    if (s_ordered_flush (self, news) != 0) {
        log_warn ("-", "display store: insert of %zu ordered menus failed: %s", self->ordered_n,
                  db_errmsg (db));
        display_store_batch_rollback (self);
        if (news)
            *news = false;
        return -1;
    }
    //  Sorted: two projections adding to the same menus lock the same
    //  aggregate rows in the same order, so they wait for each other
    //  instead of deadlocking (MySQL). The counts and the positions are
    //  deferred: on MySQL they go with the COMMIT, in one round trip, and
    //  a failure among them stops it.
    if (self->count_n > 1)
        qsort (self->counts, self->count_n, sizeof self->counts [0], s_count_cmp);
    int rc = DB_OK;
    for (size_t i = 0; i < self->count_n && rc == DB_OK; i++) {
        db_stmt_t *st = db_stmt (db, sqlkit_pick (db, SQL_HOURLY_ADD_SQLITE, SQL_HOURLY_ADD_MYSQL));
        rc = DB_ERROR;
        if (st && db_bind_text (st, 1, self->counts [i].menu_id) == DB_OK
               && db_bind_int64 (st, 2, self->counts [i].hour) == DB_OK
               && db_bind_int64 (st, 3, self->counts [i].n) == DB_OK)
            rc = db_defer (st) >= 0 ? DB_OK : DB_ERROR;
        db_reset (st);
    }
    for (size_t i = 0; i < self->position_n && rc == DB_OK; i++)
        rc = s_position_write (db, &self->positions [i]) == 0 ? DB_OK : DB_ERROR;
    if (rc == DB_OK)
        rc = db_commit (db);
    if (rc != DB_OK) {
        log_warn ("-", "display store: commit of %zu menu counts failed: %s", self->count_n,
                  db_errmsg (db));
        display_store_batch_rollback (self);
        return -1;
    }
    self->in_batch = false;
    self->count_n = 0;
    self->position_n = 0;
    return 0;
}

//  Applies one order event (see display_store.h).
int
display_store_apply (display_store_t *self, const event_order_t *ev, const char *group,
                     int32_t partition, int64_t offset, bool *applied)
{
    db_t *db = self->db;
    bool own = !self->in_batch;     //  its own transaction, not a batch's
    bool any = false;
    if (applied)
        *applied = false;
    if (!ev || !group || (ev->line_count && !ev->lines))
        return -1;
    if (own && display_store_batch_begin (self) != 0)
        goto fail;
    for (size_t i = 0; i < ev->line_count; i++)
        if (s_ordered_keep (self, ev->order_no, ev->lines [i].menu_id, ev->ordered_at_ms) < 0)
            goto fail;
    if (s_position_keep (self, group, partition, offset) != 0)
        goto fail;
    if (own && display_store_batch_commit (self, &any) != 0)
        return -1;
    if (applied)
        *applied = any;
    return 0;

fail:
    log_warn ("-", "display store: apply of %s failed: %s", ev->order_no, db_errmsg (db));
    display_store_batch_rollback (self);
    return -1;
}

//  Binds a menu's five columns from first on (id, name, price, use_yn,
//  version in the order of the statement).
static int
s_menu_bind (db_stmt_t *st, const int at [5], const event_menu_t *menu)
{
    if (!st
    ||  db_bind_text (st, at [0], menu->menu_id) != DB_OK
    ||  db_bind_text (st, at [1], menu->menu_nm) != DB_OK
    ||  db_bind_int64 (st, at [2], menu->menu_price) != DB_OK
    ||  db_bind_text (st, at [3], menu->shown ? "Y" : "N") != DB_OK
    ||  db_bind_int64 (st, at [4], menu->version) != DB_OK)
        return -1;
    return 0;
}

//  Applies one menu event by version (see display_store.h).
int
display_store_apply_menu (display_store_t *self, const event_menu_t *menu, const char *group,
                          int32_t partition, int64_t offset, bool *applied)
{
    db_t *db = self->db;
    static const int order [5] = { 1, 2, 3, 4, 5 };
    if (applied)
        *applied = false;
    bool own = !self->in_batch;     //  its own transaction, not a batch's
    if (!menu || !group || !*menu->menu_id || menu->version < 1)
        return -1;
    if (own && display_store_batch_begin (self) != 0)
        goto fail;
    //  Whether it is news (to wake the readers): read, since MySQL may count
    //  a matched but unchanged row as changed. The upsert alone decides
    //  what is stored.
    db_stmt_t *st = db_stmt (db, SQL_MENU_VERSION);
    int rc = st ? db_bind_text (st, 1, menu->menu_id) : DB_ERROR;
    if (rc == DB_OK)
        rc = db_step (st);
    bool any = rc == DB_DONE || (rc == DB_ROW && db_column_int64 (st, 0) < menu->version);
    db_reset (st);
    if (rc != DB_ROW && rc != DB_DONE)
        goto fail;
    st = db_stmt (db, sqlkit_pick (db, SQL_MENU_APPLY_SQLITE, SQL_MENU_APPLY_MYSQL));
    rc = s_menu_bind (st, order, menu) == 0 ? db_step (st) : DB_ERROR;
    db_reset (st);
    if (rc != DB_DONE)
        goto fail;
    if (s_position_keep (self, group, partition, offset) != 0)
        goto fail;
    if (own && display_store_batch_commit (self, NULL) != 0)
        return -1;
    if (applied)
        *applied = any;
    return 0;
fail:
    log_warn ("-", "display store: apply of %s v%" PRId64 " failed: %s", menu->menu_id,
              menu->version, db_errmsg (db));
    display_store_batch_rollback (self);
    return -1;
}

//  Every menu of the display store, hidden ones too.
int
display_store_menus_all (display_store_t *self, event_menu_t **menus, size_t *count)
{
    return sqlkit_read_menus (self->db, SQL_MENU_ALL, menus, count);
}

//  Makes the display menus exactly the given ones (reconcile --repair).
int
display_store_menus_repair (display_store_t *self, const event_menu_t *menus, size_t count)
{
    db_t *db = self->db;
    static const int set_order [5] = { 5, 1, 2, 3, 4 };
    static const int add_order [5] = { 1, 2, 3, 4, 5 };
    event_menu_t *have = NULL;
    size_t have_count = 0;
    if (count && !menus)
        return -1;
    if (db_begin (db) != DB_OK)
        goto fail;
    if (display_store_menus_all (self, &have, &have_count) != 0)
        goto fail;
    //  Menus the command store does not have go
    for (size_t i = 0; i < have_count; i++) {
        bool known = false;
        for (size_t j = 0; j < count && !known; j++)
            known = streq (have [i].menu_id, menus [j].menu_id);
        if (known)
            continue;
        db_stmt_t *st = db_stmt (db, SQL_MENU_DROP);
        int rc = st && db_bind_text (st, 1, have [i].menu_id) == DB_OK ? db_step (st) : DB_ERROR;
        db_reset (st);
        if (rc != DB_DONE)
            goto fail;
    }
    for (size_t j = 0; j < count; j++) {
        db_stmt_t *st = db_stmt (db, SQL_MENU_SET);
        int rc = s_menu_bind (st, set_order, &menus [j]) == 0 ? db_step (st) : DB_ERROR;
        db_reset (st);
        if (rc != DB_DONE)
            goto fail;
        if (db_changes (db) > 0)
            continue;
        bool there = false;
        for (size_t i = 0; i < have_count && !there; i++)
            there = streq (have [i].menu_id, menus [j].menu_id);
        if (there)
            continue;           //  the same already (MySQL counts changed rows only)
        st = db_stmt (db, SQL_MENU_ADD);
        rc = s_menu_bind (st, add_order, &menus [j]) == 0 ? db_step (st) : DB_ERROR;
        db_reset (st);
        if (rc != DB_DONE)
            goto fail;
    }
    if (db_commit (db) != DB_OK)
        goto fail;
    free (have);
    return 0;
fail:
    log_warn ("-", "display store: menu repair failed: %s", db_errmsg (db));
    db_rollback (db);
    free (have);
    return -1;
}

//  The stored consumer position of (group, partition).
int
display_store_position (display_store_t *self, const char *group, int32_t partition,
                        int64_t *offset)
{
    db_stmt_t *st = db_stmt (self->db, SQL_POSITION_GET);
    int rc = DB_ERROR;
    if (st && db_bind_text (st, 1, group) == DB_OK && db_bind_int64 (st, 2, partition) == DB_OK)
        rc = db_step (st);
    if (rc == DB_ROW && offset)
        *offset = db_column_int64 (st, 0);
    db_reset (st);
    return rc == DB_ROW ? 0 : (rc == DB_DONE ? 1 : -1);
}

//  Best displayed menus in (now_ms - window_ms, now_ms].
int
display_store_best (display_store_t *self, int64_t now_ms, int64_t window_ms,
                    size_t limit, store_count_t *out, size_t *count)
{
    *count = 0;
    if (limit == 0)
        return 0;
    if (window_ms < 0 || !out)
        return -1;
    int64_t lo = now_ms - window_ms;
    //  Whole hours [first, cur] from the aggregates, less the rows of the
    //  current hour after now; single rows at the old edge
    int64_t first = s_hour (lo) + 1;        //  first hour starting after lo
    int64_t cur = s_hour (now_ms);          //  the hour holding now
    int64_t h_lo, h_hi, edge_lo, edge_hi, after_lo, after_hi;
    if (first <= cur) {
        h_lo = first;                       //  aggregates of [first, cur]
        h_hi = cur;
        edge_lo = lo;                       //  plus rows in (lo, first*H)
        edge_hi = first * HOUR_MS;
        after_lo = now_ms;                  //  less rows in (now, (cur+1)*H)
        after_hi = (cur + 1) * HOUR_MS;
    }
    else {
        //  lo and now share one hour: single rows only
        h_lo = 1;
        h_hi = 0;
        edge_lo = lo;
        edge_hi = now_ms + 1;
        after_lo = 1;
        after_hi = 0;
    }
    db_stmt_t *st = db_stmt (self->db, SQL_BEST);
    if (!st)
        return -1;
    if (db_bind_int64 (st, 1, h_lo) != DB_OK
    ||  db_bind_int64 (st, 2, h_hi) != DB_OK
    ||  db_bind_int64 (st, 3, edge_lo) != DB_OK
    ||  db_bind_int64 (st, 4, edge_hi) != DB_OK
    ||  db_bind_int64 (st, 5, after_lo) != DB_OK
    ||  db_bind_int64 (st, 6, after_hi) != DB_OK
    ||  db_bind_int64 (st, 7, (int64_t) limit) != DB_OK) {
        db_reset (st);
        return -1;
    }
    int64_t n = sqlkit_read_counts (st, out, limit, NULL);
    if (n < 0)
        return -1;
    *count = (size_t) n;
    return 0;
}

//  Both reads of a display snapshot (see display_store.h): the menu list
//  is deferred, so that on MySQL it goes with the best menus' read.
int
display_store_snapshot (display_store_t *self, int64_t now_ms, int64_t window_ms,
                        size_t limit, char **menus_json, store_count_t *out, size_t *count)
{
    *menus_json = NULL;
    *count = 0;
    if (window_ms < 0 || !out)
        return -1;
    db_stmt_t *menus = db_stmt (self->db, SQL_MENU_LIST);
    if (!menus || db_defer (menus) < 0) {
        db_reset (menus);
        return -1;
    }
    if (display_store_best (self, now_ms, window_ms, limit, out, count) != 0) {
        db_reset (menus);
        return -1;
    }
    return s_menus_read (menus, menus_json);
}

//  Every menu's count in (from_ms, to_ms] from the single rows.
int
display_store_counts (display_store_t *self, int64_t from_ms, int64_t to_ms,
                      store_count_t **counts, size_t *count)
{
    return sqlkit_window_counts (self->db, SQL_COUNTS, from_ms, to_ms, counts, count);
}

//  Runs a statement binding two integers; returns the db_step code.
static int
s_write_ii (db_t *db, const char *sql, int64_t a, int64_t b)
{
    db_stmt_t *st = db_stmt (db, sql);
    int rc = DB_ERROR;
    if (st && db_bind_int64 (st, 1, a) == DB_OK && db_bind_int64 (st, 2, b) == DB_OK)
        rc = db_step (st);
    db_reset (st);
    return rc;
}

//  Makes (from_ms, to_ms] hold exactly the given orders' rows and rebuilds
//  the hours it touches.
int
display_store_repair (display_store_t *self, int64_t from_ms, int64_t to_ms,
                      const event_order_t *events, size_t count)
{
    db_t *db = self->db;
    if (to_ms < from_ms || (count && !events))
        return -1;
    if (db_begin (db) != DB_OK)
        goto fail;
    if (s_write_ii (db, SQL_WINDOW_DELETE, from_ms, to_ms) != DB_DONE)
        goto fail;
    for (size_t i = 0; i < count; i++) {
        const event_order_t *ev = &events [i];
        if (ev->ordered_at_ms <= from_ms || ev->ordered_at_ms > to_ms)
            continue;               //  outside the window: not ours to change
        for (size_t j = 0; j < ev->line_count; j++)
            if (s_ordered_add (db, ev->order_no, ev->lines [j].menu_id, ev->ordered_at_ms) < 0)
                goto fail;
    }
    //  Every hour with a row in (from, to] is recounted from ordered_menu
    int64_t h_first = s_hour (from_ms + 1);
    int64_t h_last = s_hour (to_ms);
    if (s_write_ii (db, SQL_HOURLY_DELETE, h_first, h_last) != DB_DONE
    ||  s_write_ii (db, sqlkit_pick (db, SQL_HOURLY_REBUILD_SQLITE, SQL_HOURLY_REBUILD_MYSQL),
                    h_first * HOUR_MS, (h_last + 1) * HOUR_MS) != DB_DONE
    ||  db_commit (db) != DB_OK)
        goto fail;
    return 0;

fail:
    log_warn ("-", "display store: repair failed: %s", db_errmsg (db));
    db_rollback (db);
    return -1;
}
