/*  display_store — the display side's own database (CQRS): its copy of the
    menus (only ever from menu events, applied by version), the ordered menus (orderNo, menuId, orderedAt) keyed by
    (orderNo, menuId), hourly per-menu aggregates, and consumer positions.
    Display actors and the projection never read the command store.

    GET /display/best reads the hourly aggregates for the hours inside the
    window, the current one whole, and counts ordered_menu rows only for the
    partial hour at the window's old edge and for the current hour's orders
    stamped after now (to take them off), so it is exact to the millisecond
    and never scans the orders of the last minutes.

    One display_store_t is one connection, used by one thread. */
#ifndef DISPLAY_STORE_H_INCLUDED
#define DISPLAY_STORE_H_INCLUDED

#include "store.h"

#define DISPLAY_WINDOW_MS (168 * 3600 * 1000LL)     //  "the last 7 days"

typedef struct _display_store_t display_store_t;

//  Opens, creates or migrates the schema. Its menus come only from menu
//  events (display_store_apply_menu): the demo menus too, which the command
//  store writes as events on its first start.
display_store_t *display_store_open (const char *url, char *err, size_t errlen);
void display_store_destroy (display_store_t **self_p);

db_t *display_store_db (display_store_t *self);
int display_store_ping (display_store_t *self);

//  Displayed menus by menuId as the JSON text of GET /display/menu
//  (zstr_free). Returns 0 or -1.
int display_store_menus (display_store_t *self, char **json);

//  A batch: one transaction for many applies (the projection's). Between
//  display_store_batch_begin and display_store_batch_commit the applies
//  below run in the batch's transaction instead of their own; the commit
//  adds their hourly counts in (menuId, hour) order (so two projections on
//  MySQL take the aggregate rows in one order and never deadlock), records
//  the last position of each (group, partition) and commits. The
//  ordered-menu rows of the batch's order events are inserted at the
//  commit too, with a few multi-row statements; *news (may be NULL) tells
//  whether any of them was new. An apply that fails inside a batch rolls
//  the whole batch back, as does display_store_batch_rollback; a failed
//  commit leaves nothing. 0 or -1.
int display_store_batch_begin (display_store_t *self);
int display_store_batch_commit (display_store_t *self, bool *news);
void display_store_batch_rollback (display_store_t *self);

//  Applies one order event in one transaction (or the open batch's):
//  inserts the ordered-menu rows that are not there yet, adds them to the
//  hourly aggregates, and records (group, partition) → offset as the
//  consumer position. An event already applied changes nothing but the
//  position. *applied tells whether any row was new (in a batch it is
//  false: the batch's commit tells). Returns 0, or -1 (nothing changed).
int display_store_apply (display_store_t *self, const event_order_t *ev, const char *group,
                         int32_t partition, int64_t offset, bool *applied);

//  Applies one menu event in one transaction (or the open batch's): inserts the menu, or
//  overwrites it only when menu->version is newer than the stored one (an
//  older or repeated event changes nothing but the position), and records
//  the consumer position. *applied tells whether the menu changed. Returns
//  0, or -1 (nothing changed).
int display_store_apply_menu (display_store_t *self, const event_menu_t *menu,
                              const char *group, int32_t partition, int64_t offset,
                              bool *applied);

//  Every menu of the display store, hidden ones too, by menuId (free the
//  array with free). 0 or -1.
int display_store_menus_all (display_store_t *self, event_menu_t **menus, size_t *count);

//  Reconcile repair: makes the display menus exactly menus (name, price,
//  useYn, version), in one transaction. 0 or -1.
int display_store_menus_repair (display_store_t *self, const event_menu_t *menus,
                                size_t count);

//  The stored position of (group, partition): 0 and *offset, or 1 when none.
int display_store_position (display_store_t *self, const char *group, int32_t partition,
                            int64_t *offset);

//  Up to limit displayed menus by orders in (now_ms - window_ms, now_ms],
//  most first, ties by menuId; menus with no order are left out.
int display_store_best (display_store_t *self, int64_t now_ms, int64_t window_ms,
                        size_t limit, store_count_t *out, size_t *count);

//  A display snapshot's two reads, in one round trip on MySQL: the JSON
//  text of display_store_menus (*menus_json, zstr_free) and the best menus
//  as display_store_best gives them. 0 or -1 (nothing to free).
int display_store_snapshot (display_store_t *self, int64_t now_ms, int64_t window_ms,
                            size_t limit, char **menus_json, store_count_t *out, size_t *count);

//  Every menu's count in (from_ms, to_ms] from the ordered-menu rows,
//  displayed or not (for reconcile).
int display_store_counts (display_store_t *self, int64_t from_ms, int64_t to_ms,
                          store_count_t **counts, size_t *count);

//  Reconcile repair: makes the window (from_ms, to_ms] hold exactly the
//  given orders' rows and rebuilds the affected aggregates, in one
//  transaction. Returns 0 or -1.
int display_store_repair (display_store_t *self, int64_t from_ms, int64_t to_ms,
                          const event_order_t *events, size_t count);

#endif
