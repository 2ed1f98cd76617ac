/*  menus — the command store owns the menus: creating and changing one at
    run time (POST and PATCH /admin/menu), listing them with their versions
    (GET /admin/menu), the demo menus of a new store. Every change bumps
    the menu's version and writes its "menu.changed" event (event.h) to the
    outbox in the same transaction, so the display side learns of it
    exactly as it learns of orders: through the relay and the event log. */
#include "store_impl.h"

//  The demo menus of an empty store.
typedef struct {
    const char *id;                 //  menuId
    const char *name;               //  menuNm
    int64_t price;                  //  menuPrice
} s_demo_t;

static const s_demo_t s_demo [] = {
    { "MENU-00000001", "아이스 아메리카노", 4200 },
    { "MENU-00000002", "핫 아메리카노", 4200 },
    { "MENU-00000003", "핫 초코", 4500 },
    { "MENU-00000004", "아이스 초코", 4500 },
    { "MENU-00000005", "모닝세트1", 4500 },
};

//  Tries of a create or change that lost a race with another one.
#define S_MENU_TRIES 5

static const char SQL_MENU_COUNT [] = "SELECT COUNT(*) FROM menu";
static const char SQL_MENU_DEMO_SQLITE [] =
    "INSERT OR IGNORE INTO menu (menu_id, menu_nm, menu_price, use_yn, version)"
    " VALUES (?, ?, ?, 'Y', 0)";
static const char SQL_MENU_DEMO_MYSQL [] =
    "INSERT IGNORE INTO menu (menu_id, menu_nm, menu_price, use_yn, version)"
    " VALUES (?, ?, ?, 'Y', 0)";
static const char SQL_MENU_UNTOLD [] =
    "SELECT menu_id, menu_nm, menu_price, use_yn, version FROM menu WHERE version = 0"
    " ORDER BY menu_id";
static const char SQL_MENU_TOLD [] =
    "UPDATE menu SET version = 1 WHERE menu_id = ? AND version = ?";
static const char SQL_MENU_LAST [] =
    "SELECT MAX(menu_id) FROM menu WHERE menu_id LIKE 'MENU-%'";
static const char SQL_MENU_INSERT [] =
    "INSERT INTO menu (menu_id, menu_nm, menu_price, use_yn, version) VALUES (?, ?, ?, ?, 1)";
static const char SQL_MENU_ONE [] =
    "SELECT menu_nm, menu_price, use_yn, version FROM menu WHERE menu_id = ?";
static const char SQL_MENU_UPDATE [] =
    "UPDATE menu SET menu_nm = ?, menu_price = ?, use_yn = ?, version = version + 1"
    " WHERE menu_id = ? AND version = ?";
static const char SQL_MENU_LIST [] =
    "SELECT menu_id, menu_nm, menu_price, use_yn, version FROM menu ORDER BY menu_id";

//  NOT_ORDERABLE: menu_id is hidden (an order's answer; see store_impl.h).
int
store_reply_not_orderable (store_reply_t *reply, const char *menu_id)
{
    reply->result = STORE_RESULT_NOT_ORDERABLE;
    snprintf (reply->menu_id, sizeof reply->menu_id, "%s", menu_id ? menu_id : "");
    return answer_fill (reply);
}

//  Writes the menu.changed event of menu into the outbox.
static int
s_menu_event (db_t *db, const event_menu_t *menu, int64_t now_ms)
{
    char *envelope = event_menu_envelope (menu, now_ms);
    if (!envelope)
        return -1;
    int rc = store_outbox_add_event (db, EVENT_KIND_MENU, menu->menu_id, envelope, now_ms);
    zstr_free (&envelope);
    return rc;
}

//  Reads the menu row at st's columns from `from` (name, price, use_yn,
//  version) into menu.
static void
s_menu_read (db_stmt_t *st, int from, event_menu_t *menu)
{
    const char *name = db_column_text (st, from);
    const char *use_yn = db_column_text (st, from + 2);
    snprintf (menu->menu_nm, sizeof menu->menu_nm, "%s", name ? name : "");
    menu->menu_price = db_column_int64 (st, from + 1);
    menu->shown = use_yn && streq (use_yn, "Y");
    menu->version = db_column_int64 (st, from + 3);
}

//  A menu as the admin routes answer it.
static cJSON *
s_menu_json (const event_menu_t *menu)
{
    cJSON *json = cJSON_CreateObject ();
    if (!json)
        return NULL;
    cJSON_AddStringToObject (json, "menuId", menu->menu_id);
    cJSON_AddStringToObject (json, "menuNm", menu->menu_nm);
    sqlkit_add_int (json, "menuPrice", menu->menu_price);
    cJSON_AddStringToObject (json, "useYn", menu->shown ? "Y" : "N");
    sqlkit_add_int (json, "version", menu->version);
    return json;
}

//  Demo menus into an empty table, then an event for each untold menu.
int
store_menus_seed (db_t *db)
{
    //  The migration holds SQLite's transaction already; on MySQL it holds
    //  a named lock and each statement would commit alone.
    bool own = db_dialect (db) == DB_MYSQL;
    if (own && db_begin (db) != DB_OK)
        return -1;
    int64_t now_ms = util_now_ms (0);
    db_stmt_t *st = db_stmt (db, SQL_MENU_COUNT);
    int rc = st ? db_step (st) : DB_ERROR;
    int64_t menus = rc == DB_ROW ? db_column_int64 (st, 0) : -1;
    db_reset (st);
    if (menus < 0)
        goto fail;
    for (size_t i = 0; menus == 0 && i < sizeof s_demo / sizeof s_demo [0]; i++) {
        st = db_stmt (db, sqlkit_pick (db, SQL_MENU_DEMO_SQLITE, SQL_MENU_DEMO_MYSQL));
        rc = DB_ERROR;
        if (st && db_bind_text (st, 1, s_demo [i].id) == DB_OK
               && db_bind_text (st, 2, s_demo [i].name) == DB_OK
               && db_bind_int64 (st, 3, s_demo [i].price) == DB_OK)
            rc = db_step (st);
        db_reset (st);
        if (rc != DB_DONE)
            goto fail;
    }
    //  Read them all first: a statement is not stepped while others write
    event_menu_t *untold = NULL;
    size_t count = 0;
    rc = sqlkit_read_menus (db, SQL_MENU_UNTOLD, &untold, &count) == 0 ? DB_DONE : DB_ERROR;
    for (size_t i = 0; i < count; i++)
        untold [i].version = 1;
    for (size_t i = 0; rc == DB_DONE && i < count; i++) {
        if (store_write_ti (db, SQL_MENU_TOLD, untold [i].menu_id, 0) != DB_DONE
        ||  s_menu_event (db, &untold [i], now_ms) != 0)
            rc = DB_ERROR;
    }
    free (untold);
    if (rc != DB_DONE)
        goto fail;
    if (own && db_commit (db) != DB_OK)
        goto fail;
    return 0;
fail:
    if (own)
        db_rollback (db);
    return -1;
}

//  Starts a menu operation in its own transaction (or the open group's
//  savepoint); fills reply with the 503 when it cannot.
static int
s_begin (store_t *self, store_op_t *op, store_reply_t *reply)
{
    reply->status = 0;
    reply->body = NULL;
    int rc = store_op_begin (self, op);
    if (rc != STORE_OK) {
        store_reply_not_run (reply, rc);
        return -1;
    }
    return 0;
}

//  Answers a menu after its change: the menu document, committed.
static int
s_answer (store_t *self, store_op_t *op, const event_menu_t *menu, const char *what,
          store_reply_t *reply)
{
    if (store_reply_done (reply, s_menu_json (menu)) != 0)
        return store_op_fail (self, op, what, reply);
    return store_op_answer (self, op, what, reply);
}

//  POST /admin/menu (see store.h).
int
store_menu_create (store_t *self, const store_menu_change_t *change, int64_t now_ms,
                   store_reply_t *reply)
{
    db_t *db = self->db;
    store_op_t op;
    for (int attempt = 1; ; attempt++) {
        if (s_begin (self, &op, reply) != 0)
            return -1;
        event_menu_t menu;
        memset (&menu, 0, sizeof menu);
        int64_t last = 0;
        db_stmt_t *st = db_stmt (db, SQL_MENU_LAST);
        int rc = st ? db_step (st) : DB_ERROR;
        if (rc == DB_ROW && !db_column_is_null (st, 0)) {
            const char *id = db_column_text (st, 0);
            last = id && strlen (id) > 5 ? strtoll (id + 5, NULL, 10) : 0;
        }
        db_reset (st);
        if (rc != DB_ROW)
            return store_op_fail (self, &op, "menu create", reply);
        snprintf (menu.menu_id, sizeof menu.menu_id, "MENU-%08" PRId64, last + 1);
        snprintf (menu.menu_nm, sizeof menu.menu_nm, "%s", change->name);
        menu.menu_price = change->price;
        menu.shown = change->has_shown ? change->shown : true;
        menu.version = 1;
        st = db_stmt (db, SQL_MENU_INSERT);
        rc = DB_ERROR;
        if (st && db_bind_text (st, 1, menu.menu_id) == DB_OK
               && db_bind_text (st, 2, menu.menu_nm) == DB_OK
               && db_bind_int64 (st, 3, menu.menu_price) == DB_OK
               && db_bind_text (st, 4, menu.shown ? "Y" : "N") == DB_OK)
            rc = db_step (st);
        db_reset (st);
        if (rc == DB_DUPLICATE && attempt < S_MENU_TRIES) {
            //  Another instance took this number first: undo, take the next
            store_op_undo (self, &op);
            continue;
        }
        if (rc != DB_DONE || s_menu_event (db, &menu, now_ms) != 0)
            return store_op_fail (self, &op, "menu create", reply);
        return s_answer (self, &op, &menu, "menu create", reply);
    }
}

//  PATCH /admin/menu/{menuId} (see store.h).
int
store_menu_patch (store_t *self, const char *menu_id, const store_menu_change_t *change,
                  int64_t now_ms, store_reply_t *reply)
{
    db_t *db = self->db;
    if (!store_valid_id (menu_id)) {
        reply->status = 0;
        reply->body = NULL;
        if (store_reply_not_found (reply, STORE_ABOUT_MENU, menu_id) != 0)
            return store_op_fail (self, NULL, "menu change", reply);
        return 0;
    }
    store_op_t op;
    for (int attempt = 1; ; attempt++) {
        if (s_begin (self, &op, reply) != 0)
            return -1;
        event_menu_t menu;
        memset (&menu, 0, sizeof menu);
        snprintf (menu.menu_id, sizeof menu.menu_id, "%s", menu_id);
        db_stmt_t *st = db_stmt (db, SQL_MENU_ONE);
        int rc = st ? db_bind_text (st, 1, menu_id) : DB_ERROR;
        if (rc == DB_OK)
            rc = db_step (st);
        if (rc == DB_ROW)
            s_menu_read (st, 0, &menu);
        db_reset (st);
        if (rc == DB_DONE) {
            if (store_reply_not_found (reply, STORE_ABOUT_MENU, menu_id) != 0)
                return store_op_fail (self, &op, "menu change", reply);
            return store_op_answer (self, &op, "menu change", reply);
        }
        if (rc != DB_ROW)
            return store_op_fail (self, &op, "menu change", reply);
        int64_t seen = menu.version;
        if (change->has_name)
            snprintf (menu.menu_nm, sizeof menu.menu_nm, "%s", change->name);
        if (change->has_price)
            menu.menu_price = change->price;
        if (change->has_shown)
            menu.shown = change->shown;
        //  A menu no event told yet (version 0) is told now, at version 1
        menu.version = seen + 1;
        st = db_stmt (db, SQL_MENU_UPDATE);
        rc = DB_ERROR;
        if (st && db_bind_text (st, 1, menu.menu_nm) == DB_OK
               && db_bind_int64 (st, 2, menu.menu_price) == DB_OK
               && db_bind_text (st, 3, menu.shown ? "Y" : "N") == DB_OK
               && db_bind_text (st, 4, menu_id) == DB_OK
               && db_bind_int64 (st, 5, seen) == DB_OK)
            rc = db_step (st);
        db_reset (st);
        if (rc == DB_DEADLOCK && attempt < S_MENU_TRIES) {
            //  Orders hold the menu row shared (their lines reference it)
            //  while they wait for each other's customers; the server broke
            //  the cycle by undoing this change whole: do it again
            log_info ("-", "store: menu change of %s undone to break a deadlock; again",
                      menu_id);
            store_op_undo (self, &op);
            continue;
        }
        if (rc != DB_DONE)
            return store_op_fail (self, &op, "menu change", reply);
        if (db_changes (db) == 0 && attempt < S_MENU_TRIES) {
            //  Changed by another instance since the read: read it again
            store_op_undo (self, &op);
            continue;
        }
        if (db_changes (db) == 0 || s_menu_event (db, &menu, now_ms) != 0)
            return store_op_fail (self, &op, "menu change", reply);
        return s_answer (self, &op, &menu, "menu change", reply);
    }
}

//  Every menu, hidden ones too, with its version, by menuId.
int
store_menus_read (store_t *self, event_menu_t **menus, size_t *count)
{
    *menus = NULL;
    *count = 0;
    if (sqlkit_begin_read (self->db) != DB_OK)
        return -1;
    int rc = sqlkit_read_menus (self->db, SQL_MENU_LIST, menus, count);
    sqlkit_end_read (self->db);
    return rc;
}

//  GET /admin/menu (see store.h).
int
store_menu_list (store_t *self, store_reply_t *reply)
{
    reply->status = 0;
    reply->body = NULL;
    event_menu_t *menus = NULL;
    size_t count = 0;
    if (store_menus_read (self, &menus, &count) != 0) {
        store_reply_not_run (reply, STORE_FAILED);
        return -1;
    }
    cJSON *list = cJSON_CreateArray ();
    for (size_t i = 0; list && i < count; i++)
        cJSON_AddItemToArray (list, s_menu_json (&menus [i]));
    free (menus);
    if (store_reply_done (reply, list) != 0) {
        store_reply_not_run (reply, STORE_FAILED);
        return -1;
    }
    return 0;
}
