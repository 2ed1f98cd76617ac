/*  sqlkit — private helpers the two stores (store.c, display_store.c) share
    on top of db.h: picking the dialect's text, read transactions, the
    versioned schema migration run at open, the demo menus both seed,
    reading (menu, name, count) rows, and the exact JSON both print.
    Private to store/. */
#ifndef SQLKIT_H_INCLUDED
#define SQLKIT_H_INCLUDED

#include "db.h"
#include "store.h"
#include <stddef.h>

//  Table options every MySQL CREATE TABLE of the stores ends with.
#define SQLKIT_MYSQL_TABLE_OPTS " ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin"

//  One statement of a migration in both dialects; mysql NULL means the
//  sqlite text serves both.
typedef struct {
    const char *sqlite;         //  text for SQLite
    const char *mysql;          //  text for MySQL/MariaDB, or NULL
} sqlkit_sql_t;

//  One schema version: the statements that bring version-1 to version.
//  Every statement must be safe to run twice (IF NOT EXISTS where both
//  dialects have it; on MySQL a step refused because its column or index is
//  there already counts as done), because MySQL commits DDL at once and a
//  crash can stop a migration half way.
typedef struct {
    int version;                //  version reached after the steps (1, 2, …)
    const sqlkit_sql_t *steps;  //  statements in order
    size_t count;               //  entries in steps
} sqlkit_migration_t;

//  Fills an empty database with its demo rows; runs under the migration
//  lock after the migrations. Returns 0 or -1.
typedef int (sqlkit_seed_fn) (db_t *db);

//  Picks the text for the connection's dialect (both must be static text:
//  the statement cache keys on the address).
const char *sqlkit_pick (db_t *db, const char *sqlite, const char *mysql);

//  Brings the schema of component ("store", "display") to the last version
//  of list (ordered by version), recorded in table schema_version, then
//  calls seed. Only one connection migrates at a time (SQLite: inside one
//  BEGIN IMMEDIATE transaction; MySQL: under GET_LOCK); an up-to-date
//  database is only read. Returns 0, or -1 with a message in err.
int sqlkit_migrate (db_t *db, const char *component, const sqlkit_migration_t *list,
                    size_t count, sqlkit_seed_fn *seed, char *err, size_t errlen);

//  Opens url and brings component's schema up to date (sqlkit_migrate).
//  Returns the connection, or NULL with a message in err (err may be NULL).
db_t *sqlkit_open (const char *url, const char *component, const sqlkit_migration_t *list,
                   size_t count, sqlkit_seed_fn *seed, char *err, size_t errlen);

//  Steps sql (static text, no parameters) selecting (menu_id, menu_nm,
//  menu_price, use_yn, version) rows into a new array *menus of *count
//  (free with free; NULL when none). 0, or -1 with nothing returned.
int sqlkit_read_menus (db_t *db, const char *sql, event_menu_t **menus, size_t *count);

//  Steps a bound (menu_id, name, count) query and reads its rows: with out
//  set, at most limit rows go there (the rest are drained); otherwise *grown
//  is allocated. Resets st. Returns the row count, or -1.
int64_t sqlkit_read_counts (db_stmt_t *st, store_count_t *out, size_t limit,
                            store_count_t **grown);

//  Runs sql, a (menu_id, name, count) query bound to (from_ms, to_ms), into
//  a new array (*counts, NULL when empty). 0 or -1.
int sqlkit_window_counts (db_t *db, const char *sql, int64_t from_ms, int64_t to_ms,
                          store_count_t **counts, size_t *count);

//  Rows per multi-row statement. A store that writes n rows at once runs
//  them as the fewest statements of these sizes that add up to n (a list to
//  match, IN or CASE, takes the next size up, its last entry repeated), so
//  a connection prepares at most one text of each size.
#define SQLKIT_SIZE_COUNT 12
#define SQLKIT_SIZE_MAX   64
extern const size_t sqlkit_sizes [SQLKIT_SIZE_COUNT];

//  The index of the smallest size of at least n rows (n <= SQLKIT_SIZE_MAX).
size_t sqlkit_size_above (size_t n);

//  The index of the largest size of at most n rows (n >= 1).
size_t sqlkit_size_below (size_t n);

//  The text of a statement with n repeated parts: head, then n times
//  part with sep between them, then tail (free it); NULL when out of
//  memory. Multi-row INSERTs and IN lists.
char *sqlkit_repeat (const char *head, const char *part, const char *sep, size_t n,
                     const char *tail);

//  Prints json compactly as a zstr-owned string (NULL when json is NULL
//  or out of memory) and frees the tree.
char *sqlkit_print (cJSON *json);

//  Adds an exact int64 member (cJSON numbers are doubles and would round
//  past 2^53).
void sqlkit_add_int (cJSON *object, const char *name, int64_t value);

//  Starts a read-only transaction, so several SELECTs see one snapshot.
int sqlkit_begin_read (db_t *db);

//  Ends a read transaction.
void sqlkit_end_read (db_t *db);

#endif
