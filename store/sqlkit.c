/*  sqlkit — shared helpers of the stores: dialect text, read transactions,
    versioned migrations, demo menus, count rows, JSON printing. */
#include "sqlkit.h"
#include <czmq.h>
#include <stdio.h>
#include <string.h>

#define SQLKIT_LOCK_WAIT_S 8        //  how long MySQL waits for the migration lock (under the driver's 10 s read timeout)

static const char SQL_VERSION_TABLE_SQLITE [] =
    "CREATE TABLE IF NOT EXISTS schema_version ("
    " component VARCHAR(32) NOT NULL PRIMARY KEY,"
    " version INTEGER NOT NULL,"
    " updated_at BIGINT NOT NULL)";
static const char SQL_VERSION_TABLE_MYSQL [] =
    "CREATE TABLE IF NOT EXISTS schema_version ("
    " component VARCHAR(32) NOT NULL PRIMARY KEY,"
    " version INT NOT NULL,"
    " updated_at BIGINT NOT NULL"
    ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4";
static const char SQL_VERSION_GET [] =
    "SELECT version FROM schema_version WHERE component = ?";
static const char SQL_VERSION_SET_SQLITE [] =
    "INSERT INTO schema_version (component, version, updated_at) VALUES (?, ?, ?)"
    " ON CONFLICT (component) DO UPDATE SET version = excluded.version,"
    " updated_at = excluded.updated_at";
static const char SQL_VERSION_SET_MYSQL [] =
    "INSERT INTO schema_version (component, version, updated_at) VALUES (?, ?, ?)"
    " ON DUPLICATE KEY UPDATE version = VALUES(version), updated_at = VALUES(updated_at)";
static const char SQL_LOCK_MYSQL [] = "SELECT GET_LOCK(?, ?)";
static const char SQL_UNLOCK_MYSQL [] = "SELECT RELEASE_LOCK(?)";

//  Picks the text for the connection's dialect.
const char *
sqlkit_pick (db_t *db, const char *sqlite, const char *mysql)
{
    return db_dialect (db) == DB_MYSQL && mysql ? mysql : sqlite;
}

//  Reads the recorded version of component: 0 when none, -1 on failure.
static int
s_version (db_t *db, const char *component)
{
    db_stmt_t *st = db_stmt (db, SQL_VERSION_GET);
    if (!st)
        return -1;
    int version = -1;
    if (db_bind_text (st, 1, component) == DB_OK) {
        int rc = db_step (st);
        if (rc == DB_ROW)
            version = (int) db_column_int64 (st, 0);
        else
        if (rc == DB_DONE)
            version = 0;
    }
    db_reset (st);
    return version;
}

//  Records the version of component.
static int
s_version_set (db_t *db, const char *component, int version)
{
    db_stmt_t *st = db_stmt (db, sqlkit_pick (db, SQL_VERSION_SET_SQLITE, SQL_VERSION_SET_MYSQL));
    if (!st)
        return -1;
    int rc = DB_ERROR;
    if (db_bind_text (st, 1, component) == DB_OK
    &&  db_bind_int64 (st, 2, version) == DB_OK
    &&  db_bind_int64 (st, 3, zclock_time ()) == DB_OK)
        rc = db_step (st);
    db_reset (st);
    return rc == DB_DONE ? 0 : -1;
}

//  Takes (1) or gives back (0) the MySQL migration lock.
static int
s_mysql_lock (db_t *db, const char *name, bool take)
{
    db_stmt_t *st = db_stmt (db, take ? SQL_LOCK_MYSQL : SQL_UNLOCK_MYSQL);
    if (!st)
        return -1;
    int got = 0;
    if (db_bind_text (st, 1, name) == DB_OK
    && (!take || db_bind_int64 (st, 2, SQLKIT_LOCK_WAIT_S) == DB_OK)
    &&  db_step (st) == DB_ROW)
        got = !db_column_is_null (st, 0) && db_column_int64 (st, 0) == 1;
    db_reset (st);
    return got ? 0 : -1;
}

//  MySQL commits DDL at once, so a migration cut short runs its steps
//  again; MySQL 8 has no ADD COLUMN / CREATE INDEX ... IF NOT EXISTS (only
//  MariaDB does). A step that failed because what it adds is there already
//  (duplicate column 1060, duplicate key name 1061) was done before.
static bool
s_done_before (db_t *db)
{
    const char *message = db_errmsg (db);
    return message && (strstr (message, "(1060)") || strstr (message, "(1061)"));
}

//  Brings component's schema up to date (see sqlkit.h).
int
sqlkit_migrate (db_t *db, const char *component, const sqlkit_migration_t *list,
                size_t count, sqlkit_seed_fn *seed, char *err, size_t errlen)
{
    bool mysql = db_dialect (db) == DB_MYSQL;
    int latest = count ? list [count - 1].version : 0;
    char lock_name [64];
    snprintf (lock_name, sizeof lock_name, "coffee_schema_%s", component);

    if (db_exec (db, mysql ? SQL_VERSION_TABLE_MYSQL : SQL_VERSION_TABLE_SQLITE) != DB_OK) {
        snprintf (err, errlen, "cannot create schema_version: %s", db_errmsg (db));
        return -1;
    }
    int version = s_version (db, component);
    if (version < 0) {
        snprintf (err, errlen, "cannot read schema_version: %s", db_errmsg (db));
        return -1;
    }
    if (version >= latest)
        return 0;               //  up to date: nothing to do

    //  Serialize migrators, then look again: another may have finished
    int rc = mysql ? s_mysql_lock (db, lock_name, true) : (db_begin (db) == DB_OK ? 0 : -1);
    if (rc != 0) {
        snprintf (err, errlen, "cannot lock the schema for migration: %s", db_errmsg (db));
        return -1;
    }
    version = s_version (db, component);
    if (version < 0) {
        snprintf (err, errlen, "cannot read schema_version: %s", db_errmsg (db));
        goto fail;
    }
    for (size_t i = 0; i < count; i++) {
        if (list [i].version <= version)
            continue;
        for (size_t j = 0; j < list [i].count; j++) {
            const char *sql = sqlkit_pick (db, list [i].steps [j].sqlite, list [i].steps [j].mysql);
            if (db_exec (db, sql) != DB_OK && !(mysql && s_done_before (db))) {
                snprintf (err, errlen, "migration %s v%d step %zu failed: %s",
                          component, list [i].version, j + 1, db_errmsg (db));
                goto fail;
            }
        }
        if (s_version_set (db, component, list [i].version) != 0) {
            snprintf (err, errlen, "cannot record schema version: %s", db_errmsg (db));
            goto fail;
        }
        version = list [i].version;
    }
    if (seed && seed (db) != 0) {
        snprintf (err, errlen, "cannot seed %s: %s", component, db_errmsg (db));
        goto fail;
    }
    if (mysql)
        s_mysql_lock (db, lock_name, false);
    else
    if (db_commit (db) != DB_OK) {
        snprintf (err, errlen, "cannot commit the migration: %s", db_errmsg (db));
        return -1;
    }
    return 0;

fail:
    if (mysql)
        s_mysql_lock (db, lock_name, false);
    else
        db_rollback (db);
    return -1;
}

//  Opens url at component's latest schema (see sqlkit.h).
db_t *
sqlkit_open (const char *url, const char *component, const sqlkit_migration_t *list,
             size_t count, sqlkit_seed_fn *seed, char *err, size_t errlen)
{
    char dummy [1];
    if (!err || errlen == 0) {
        err = dummy;
        errlen = sizeof dummy;
    }
    db_t *db = db_open (url, err, errlen);
    if (db && sqlkit_migrate (db, component, list, count, seed, err, errlen) != 0)
        db_destroy (&db);
    return db;
}

//  Reads the rows of a menu query (see sqlkit.h).
int
sqlkit_read_menus (db_t *db, const char *sql, event_menu_t **menus, size_t *count)
{
    *menus = NULL;
    *count = 0;
    size_t cap = 0;
    db_stmt_t *st = db_stmt (db, sql);
    int rc = st ? DB_OK : DB_ERROR;
    while (rc == DB_OK || rc == DB_ROW) {
        rc = db_step (st);
        if (rc != DB_ROW)
            break;
        if (*count == cap) {
            cap = cap ? cap * 2 : 16;
            event_menu_t *grown = (event_menu_t *) realloc (*menus, cap * sizeof *grown);
            if (!grown) {
                rc = DB_ERROR;
                break;
            }
            *menus = grown;
        }
        event_menu_t *menu = &(*menus) [(*count)++];
        memset (menu, 0, sizeof *menu);
        const char *id = db_column_text (st, 0);
        const char *name = db_column_text (st, 1);
        const char *use_yn = db_column_text (st, 3);
        snprintf (menu->menu_id, sizeof menu->menu_id, "%s", id ? id : "");
        snprintf (menu->menu_nm, sizeof menu->menu_nm, "%s", name ? name : "");
        menu->menu_price = db_column_int64 (st, 2);
        menu->shown = use_yn && streq (use_yn, "Y");
        menu->version = db_column_int64 (st, 4);
    }
    db_reset (st);
    if (rc != DB_DONE) {
        free (*menus);
        *menus = NULL;
        *count = 0;
        return -1;
    }
    return 0;
}

//  Reads the rows of a (menu_id, name, count) query (see sqlkit.h).
int64_t
sqlkit_read_counts (db_stmt_t *st, store_count_t *out, size_t limit, store_count_t **grown)
{
    size_t n = 0, cap = out ? limit : 0;
    store_count_t *list = out;
    int rc = DB_OK;
    while (rc == DB_OK || rc == DB_ROW) {
        rc = db_step (st);
        if (rc != DB_ROW)
            break;
        if (n == cap) {
            if (out)
                continue;           //  LIMIT already bounds it; drain only
            size_t more_cap = cap ? cap * 2 : 8;
            store_count_t *more = (store_count_t *) realloc (list, more_cap * sizeof *list);
            if (!more) {
                rc = DB_ERROR;
                break;
            }
            list = more;
            cap = more_cap;
        }
        const char *id = db_column_text (st, 0);
        const char *name = db_column_text (st, 1);
        snprintf (list [n].menu_id, sizeof list [n].menu_id, "%s", id ? id : "");
        snprintf (list [n].menu_nm, sizeof list [n].menu_nm, "%s", name ? name : "");
        list [n].count = db_column_int64 (st, 2);
        n++;
    }
    db_reset (st);
    if (rc != DB_DONE) {
        if (!out)
            free (list);
        return -1;
    }
    if (!out)
        *grown = list;
    return (int64_t) n;
}

//  Every menu's count in (from_ms, to_ms] by a two-bound query (see sqlkit.h).
int
sqlkit_window_counts (db_t *db, const char *sql, int64_t from_ms, int64_t to_ms,
                      store_count_t **counts, size_t *count)
{
    *counts = NULL;
    *count = 0;
    db_stmt_t *st = db_stmt (db, sql);
    if (!st)
        return -1;
    if (db_bind_int64 (st, 1, from_ms) != DB_OK || db_bind_int64 (st, 2, to_ms) != DB_OK) {
        db_reset (st);
        return -1;
    }
    store_count_t *list = NULL;
    int64_t n = sqlkit_read_counts (st, NULL, 0, &list);
    if (n < 0)
        return -1;
    *counts = list;
    *count = (size_t) n;
    return 0;
}

const size_t sqlkit_sizes [SQLKIT_SIZE_COUNT] = { 1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64 };

//  The index of the smallest size of at least n rows.
size_t
sqlkit_size_above (size_t n)
{
    assert (n <= SQLKIT_SIZE_MAX);
    size_t size = 0;
    while (sqlkit_sizes [size] < n)
        size++;
    return size;
}

//  The index of the largest size of at most n rows.
size_t
sqlkit_size_below (size_t n)
{
    assert (n >= 1);
    size_t size = SQLKIT_SIZE_COUNT - 1;
    while (sqlkit_sizes [size] > n)
        size--;
    return size;
}

//  head, n times part with sep between, tail (see sqlkit.h).
char *
sqlkit_repeat (const char *head, const char *part, const char *sep, size_t n, const char *tail)
{
    size_t len = strlen (head) + n * (strlen (part) + strlen (sep)) + strlen (tail) + 1;
    char *text = (char *) malloc (len);
    if (!text)
        return NULL;
    char *at = stpcpy (text, head);
    for (size_t i = 0; i < n; i++)
        at = stpcpy (stpcpy (at, i ? sep : ""), part);
    stpcpy (at, tail);
    return text;
}

//  Prints json compactly as a zstr-owned string and frees the tree.
char *
sqlkit_print (cJSON *json)
{
    char *text = json ? cJSON_PrintUnformatted (json) : NULL;
    char *copy = text ? strdup (text) : NULL;
    cJSON_free (text);
    cJSON_Delete (json);
    return copy;
}

//  Adds an exact int64 member (see sqlkit.h).
void
sqlkit_add_int (cJSON *object, const char *name, int64_t value)
{
    char buf [32];
    snprintf (buf, sizeof buf, "%" PRId64, value);
    cJSON_AddRawToObject (object, name, buf);
}

//  Starts a read transaction (a consistent snapshot for several SELECTs).
//  MySQL sessions run READ COMMITTED, where every SELECT takes a new
//  snapshot; this one transaction is made REPEATABLE READ so all its SELECTs
//  share one (else a balance and its history can disagree mid-charge).
int
sqlkit_begin_read (db_t *db)
{
    if (db_dialect (db) != DB_MYSQL)
        return db_exec (db, "BEGIN");
    int rc = db_exec (db, "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ");
    if (rc == DB_OK)
        rc = db_exec (db, "START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY");
    return rc;
}

//  Ends a read transaction.
void
sqlkit_end_read (db_t *db)
{
    db_rollback (db);
}
