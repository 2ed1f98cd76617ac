/*  sqlkit — private helpers the two stores (store.c, display_store.c) share
    on top of db.h: picking the dialect's text, read transactions, and the
    versioned schema migration run at open. Private to store/. */
#ifndef SQLKIT_H_INCLUDED
#define SQLKIT_H_INCLUDED

#include "db.h"
#include <stddef.h>

//  One statement of a migration in both dialects; mysql NULL means the
//  sqlite text serves both.
typedef struct {
    const char *sqlite;         //  text for SQLite
    const char *mysql;          //  text for MySQL/MariaDB, or NULL
} sqlkit_sql_t;

//  One schema version: the statements that bring version-1 to version.
//  Every statement must be safe to run twice (IF NOT EXISTS), because MySQL
//  commits DDL at once and a crash can stop a migration half way.
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

//  Starts a read-only transaction, so several SELECTs see one snapshot.
int sqlkit_begin_read (db_t *db);

//  Ends a read transaction.
void sqlkit_end_read (db_t *db);

#endif
