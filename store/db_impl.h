/*  db_impl — what a db.h backend implements. Private to store/.

    A backend's connection struct starts with a db_t and its statement struct
    with a db_stmt_t, so db.c can hold them by their base. db.c owns the
    statement cache (keyed by the address of the SQL text) and frees cached
    statements with stmt_free before close. A backend that reconnects after a
    lost connection must make its existing db_stmt_t objects valid again
    (e.g. re-prepare lazily on next use). */
#ifndef DB_IMPL_H_INCLUDED
#define DB_IMPL_H_INCLUDED

#include "db.h"
#include <czmq.h>

typedef struct _db_driver_t db_driver_t;

//  What a deferred statement did, filled by the backend when it ran.
typedef struct {
    int64_t changes;                //  rows it changed
    int64_t id;                     //  auto-increment id it reported, 0 none
} db_outcome_t;

struct _db_t {
    const db_driver_t *driver;      //  the backend's functions
    zhashx_t *stmts;                //  SQL text address → db_stmt_t * (owned by db.c)
    int last_failure;               //  last failure code a call returned (db_last_failure)
    uint64_t commits;               //  transactions committed (db_commits)
    uint64_t undos;                 //  work that may have been undone (db_undos, db.h)
    bool in_tx;                     //  db_begin succeeded, no commit or rollback since
    char savepoint [3][96];         //  the savepoint statements' texts (db.c)
    db_outcome_t *deferred;         //  what each deferred statement did (db_defer)
    size_t deferred_count;          //  statements deferred since the last flush
    size_t deferred_cap;            //  room in deferred
    bool deferred_ran;              //  they ran (db_flush; a backend that sends them
                                    //  with another call sets it): the next db_defer
                                    //  starts anew
};

struct _db_stmt_t {
    db_t *db;                       //  connection it belongs to
    const char *sql;                //  its SQL text (static)
};

struct _db_driver_t {
    db_dialect_t dialect;                                       //  DB_SQLITE or DB_MYSQL
    const char *scheme;                                         //  URL scheme: "sqlite", "mysql"
    db_t *(*open) (const char *url, char *err, size_t errlen);  //  base fields zeroed; db.c sets them
    void (*close) (db_t *db);                                   //  frees the backend struct
    int (*exec) (db_t *db, const char *sql);
    int (*begin) (db_t *db);
    int (*commit) (db_t *db);
    void (*rollback) (db_t *db);
    int (*set_lock_wait) (db_t *db, int64_t wait_ms);         //  see db_set_lock_wait
    //  Takes a bound statement (st) or a text without parameters (sql) as
    //  db->deferred [idx]; filled in when it runs (see db_defer)
    int (*defer) (db_t *db, db_stmt_t *st, const char *sql, size_t idx);
    int (*flush) (db_t *db);                                    //  runs what is deferred
    db_stmt_t *(*prepare) (db_t *db, const char *sql);          //  NULL on failure
    void (*stmt_free) (db_stmt_t *st);
    int (*bind_int64) (db_stmt_t *st, int idx, int64_t value);
    int (*bind_text) (db_stmt_t *st, int idx, const char *text);
    int (*step) (db_stmt_t *st);
    int64_t (*column_int64) (db_stmt_t *st, int col);
    const char *(*column_text) (db_stmt_t *st, int col);
    int (*column_is_null) (db_stmt_t *st, int col);
    void (*reset) (db_stmt_t *st);
    int64_t (*changes) (db_t *db);
    int64_t (*last_insert_id) (db_t *db);
    int (*ping) (db_t *db);
    const char *(*errmsg) (db_t *db);
};

extern const db_driver_t db_sqlite_driver;     //  store/db_sqlite.c
extern const db_driver_t db_mysql_driver;      //  store/db_mysql.c

#endif
