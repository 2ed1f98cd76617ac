/*  event — the order event: what the outbox stores, the event log carries,
    the display projection applies and the data collector receives. Its JSON
    is the collector's body, so one encoding serves every consumer:
      {"orderNo":"ORD-00000027","customerId":"CUST-00000004",
       "menuList":[{"menuId":"MENU-00000001","qy":1}],
       "payAmt":12600,"orderedAt":"2026-11-25T03:26:40.123Z"}
    The order number is every consumer's idempotency key; the event log key
    is the order number too, so one order stays in one partition. */
#ifndef EVENT_H_INCLUDED
#define EVENT_H_INCLUDED

#include <stdint.h>
#include <stddef.h>

#define EVENT_ID_MAX 32

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

//  Encodes the event as the JSON above (caller frees with zstr_free).
char *event_order_encode (const event_order_t *ev);

//  Decodes JSON made by event_order_encode. Returns 0, or -1 for a payload
//  that is not a valid order event (ev is left reset).
int event_order_decode (const char *json, size_t len, event_order_t *ev);

//  Frees lines and clears ev.
void event_order_reset (event_order_t *ev);

#endif
