/*  event — the one envelope every event has: what the outbox stores, the
    event log carries, and the sinks (display projection, data collector)
    decode. One JSON object:
      {"kind":"order","key":"ORD-00000027","version":1,
       "time":"2026-11-25T03:26:40.123Z","payload":{…}}
    kind names a row of the kind table (core/event.c) and so the payload's
    shape; key is the event log key (one key stays in one partition, so one
    order's or one menu's events stay in order); version orders the events
    of one key (an order is written once: 1; a menu counts its changes);
    time is the commit time.

    Kinds and their payloads:
      order   {"orderNo","customerId","menuList":[{"menuId","qy"}],
               "payAmt","orderedAt"}: exactly the collector's body, so the
               collector sink sends the payload as it is; key = orderNo.
      menu    "menu.changed": {"menuId","menuNm","menuPrice","useYn":"Y"|"N",
               "version"}: the menu's whole state after a change; key =
               menuId. Applied by version, so an older or repeated event
               never overwrites a newer one.
    A bare order payload with no envelope (what logs written before the
    envelope hold) decodes as an order event of version 1. To add a kind:
    a value here, its payload struct, and one row in core/event.c. */
#ifndef EVENT_H_INCLUDED
#define EVENT_H_INCLUDED

#include <stdint.h>
#include <stddef.h>
#include <stdbool.h>

#define EVENT_ID_MAX    32
#define EVENT_NAME_MAX  128     //  menuNm: 100 bytes of UTF-8 (STORE_NAME_MAX) and its NUL
#define EVENT_KIND_MAX  16      //  "order", "menu.changed"

typedef struct {
    char menu_id [EVENT_ID_MAX];    //  "MENU-00000001"
    int64_t qy;                     //  quantity ordered (> 0)
} event_line_t;

typedef struct {
    char order_no [EVENT_ID_MAX];   //  "ORD-00000027"
    char customer_id [EVENT_ID_MAX];//  "CUST-00000004"
    int64_t pay_amt;                //  points paid
    int64_t ordered_at_ms;          //  commit time, ms since the epoch
    size_t line_count;              //  entries in lines
    event_line_t *lines;            //  distinct menus of the order (owned)
} event_order_t;

//  A menu's whole state after one change.
typedef struct {
    char menu_id [EVENT_ID_MAX];    //  "MENU-00000006"
    char menu_nm [EVENT_NAME_MAX];  //  display name
    int64_t menu_price;             //  price in points (>= 0)
    bool shown;                     //  useYn "Y" (true) or "N" (hidden)
    int64_t version;                //  1 at creation, +1 per change
} event_menu_t;

//  The kinds of events.
typedef enum {
    EVENT_KIND_ORDER = 0,           //  "order": an order was placed
    EVENT_KIND_MENU,                //  "menu.changed": a menu was created or changed
    EVENT_KIND_COUNT
} event_kind_t;

//  One decoded event: the envelope and the payload of its kind.
typedef struct {
    event_kind_t kind;              //  which payload is set
    char key [EVENT_ID_MAX];        //  event log key
    int64_t version;                //  order of the events of one key
    int64_t time_ms;                //  commit time, ms since the epoch
    event_order_t order;            //  kind ORDER (lines owned)
    event_menu_t menu;              //  kind MENU
} event_t;

//  The kind's name as the envelope writes it ("order", "menu.changed").
const char *event_kind_name (event_kind_t kind);

//  Encodes an order payload as the JSON above (caller frees with zstr_free).
char *event_order_encode (const event_order_t *ev);

//  Decodes JSON made by event_order_encode. Returns 0, or -1 for a payload
//  that is not a valid order event (ev is left reset).
int event_order_decode (const char *json, size_t len, event_order_t *ev);

//  Frees lines and clears ev.
void event_order_reset (event_order_t *ev);

//  The envelope of an order event: key orderNo, version 1, time orderedAt
//  (zstr_free).
char *event_order_envelope (const event_order_t *order);

//  The envelope of a menu event: key menuId, version and time as given
//  (zstr_free).
char *event_menu_envelope (const event_menu_t *menu, int64_t time_ms);

//  Encodes a whole event, the envelope around its kind's payload (zstr_free).
char *event_encode (const event_t *ev);

//  Decodes an envelope (or a bare order payload, see above). Returns 0, or
//  -1 for anything else: unknown kind, bad envelope or payload (ev is left
//  reset).
int event_decode (const char *json, size_t len, event_t *ev);

//  Frees what the payload owns and clears ev.
void event_reset (event_t *ev);

#endif
