/*  event — the one envelope and its kind table. See event.h. */
#include "coffee.h"

//  Builds a kind's payload as a JSON object from ev; NULL when out of memory.
typedef cJSON *(s_payload_encode_fn) (const event_t *ev);

//  Fills ev's payload from a JSON object; 0, or -1 when it is not one.
typedef int (s_payload_decode_fn) (const cJSON *payload, event_t *ev);

//  One row per kind: its name in the envelope and its payload codec.
typedef struct {
    event_kind_t kind;              //  the kind
    const char *name;               //  "kind" in the envelope
    s_payload_encode_fn *encode;    //  payload of ev
    s_payload_decode_fn *decode;    //  ev of payload
} s_kind_row_t;

static s_payload_encode_fn s_order_payload, s_menu_payload;
static s_payload_decode_fn s_order_from, s_menu_from;

static const s_kind_row_t s_kinds [EVENT_KIND_COUNT] = {
    { EVENT_KIND_ORDER, "order",        s_order_payload, s_order_from },
    { EVENT_KIND_MENU,  "menu.changed", s_menu_payload,  s_menu_from },
};

//  The kind's name.
const char *
event_kind_name (event_kind_t kind)
{
    return (unsigned) kind < EVENT_KIND_COUNT ? s_kinds [kind].name : "";
}

//  Copies a JSON string member into a fixed buffer; -1 if missing, empty or
//  too long.
static int
s_string (const cJSON *obj, const char *name, char *buf, size_t len)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive (obj, name);
    if (!cJSON_IsString (item) || !item->valuestring || !*item->valuestring
    ||  strlen (item->valuestring) >= len)
        return -1;
    strcpy (buf, item->valuestring);
    return 0;
}

// ---------------------------------------------------------------------------
//  order

//  The order payload as a JSON object: the collector's body.
static cJSON *
s_order_json (const event_order_t *ev)
{
    char stamp [UTIL_ISO_MAX];
    cJSON *root = cJSON_CreateObject ();
    if (!root)
        return NULL;
    cJSON_AddStringToObject (root, "orderNo", ev->order_no);
    cJSON_AddStringToObject (root, "customerId", ev->customer_id);
    cJSON *list = cJSON_AddArrayToObject (root, "menuList");
    for (size_t i = 0; list && i < ev->line_count; i++) {
        cJSON *line = cJSON_CreateObject ();
        cJSON_AddStringToObject (line, "menuId", ev->lines [i].menu_id);
        cJSON_AddNumberToObject (line, "qy", (double) ev->lines [i].qy);
        cJSON_AddItemToArray (list, line);
    }
    cJSON_AddNumberToObject (root, "payAmt", (double) ev->pay_amt);
    cJSON_AddStringToObject (root, "orderedAt", util_iso8601 (ev->ordered_at_ms, stamp));
    return root;
}

//  Payload encoder of the order kind.
static cJSON *
s_order_payload (const event_t *ev)
{
    return s_order_json (&ev->order);
}

//  Reads an order payload object into order; -1 (order reset) if invalid.
static int
s_order_read (const cJSON *root, event_order_t *ev)
{
    memset (ev, 0, sizeof *ev);
    if (!cJSON_IsObject (root))
        goto bad;
    const cJSON *list = cJSON_GetObjectItemCaseSensitive (root, "menuList");
    const cJSON *stamp = cJSON_GetObjectItemCaseSensitive (root, "orderedAt");
    if (s_string (root, "orderNo", ev->order_no, sizeof ev->order_no)
    ||  s_string (root, "customerId", ev->customer_id, sizeof ev->customer_id)
    ||  util_json_int64 (cJSON_GetObjectItemCaseSensitive (root, "payAmt"), &ev->pay_amt)
    ||  !cJSON_IsString (stamp)
    ||  util_parse_iso8601 (stamp->valuestring, &ev->ordered_at_ms)
    ||  !cJSON_IsArray (list))
        goto bad;
    int count = cJSON_GetArraySize (list);
    if (count <= 0)
        goto bad;
    ev->lines = (event_line_t *) zmalloc (sizeof (event_line_t) * count);
    const cJSON *line;
    cJSON_ArrayForEach (line, list) {
        event_line_t *out = &ev->lines [ev->line_count];
        if (s_string (line, "menuId", out->menu_id, sizeof out->menu_id)
        ||  util_json_int64 (cJSON_GetObjectItemCaseSensitive (line, "qy"), &out->qy)
        ||  out->qy <= 0)
            goto bad;
        ev->line_count++;
    }
    return 0;
bad:
    event_order_reset (ev);
    return -1;
}

//  Payload decoder of the order kind.
static int
s_order_from (const cJSON *payload, event_t *ev)
{
    return s_order_read (payload, &ev->order);
}

//  Encodes the collector body: orderNo, customerId, menuList, payAmt, orderedAt.
char *
event_order_encode (const event_order_t *ev)
{
    cJSON *root = s_order_json (ev);
    char *text = root ? util_json_print (root) : NULL;
    cJSON_Delete (root);
    return text;
}

//  Decodes and checks an order payload; one that is not one leaves ev reset.
int
event_order_decode (const char *json, size_t len, event_order_t *ev)
{
    cJSON *root = cJSON_ParseWithLength (json, len);
    int rc = s_order_read (root, ev);
    cJSON_Delete (root);
    return rc;
}

//  Frees the lines and clears the event.
void
event_order_reset (event_order_t *ev)
{
    free (ev->lines);
    memset (ev, 0, sizeof *ev);
}

// ---------------------------------------------------------------------------
//  menu.changed

//  Payload encoder of the menu kind.
static cJSON *
s_menu_payload (const event_t *ev)
{
    const event_menu_t *menu = &ev->menu;
    cJSON *root = cJSON_CreateObject ();
    if (!root)
        return NULL;
    cJSON_AddStringToObject (root, "menuId", menu->menu_id);
    cJSON_AddStringToObject (root, "menuNm", menu->menu_nm);
    cJSON_AddNumberToObject (root, "menuPrice", (double) menu->menu_price);
    cJSON_AddStringToObject (root, "useYn", menu->shown ? "Y" : "N");
    cJSON_AddNumberToObject (root, "version", (double) menu->version);
    return root;
}

//  Payload decoder of the menu kind: every field present and in range.
static int
s_menu_from (const cJSON *payload, event_t *ev)
{
    event_menu_t *menu = &ev->menu;
    memset (menu, 0, sizeof *menu);
    char use_yn [2];
    if (!cJSON_IsObject (payload)
    ||  s_string (payload, "menuId", menu->menu_id, sizeof menu->menu_id)
    ||  s_string (payload, "menuNm", menu->menu_nm, sizeof menu->menu_nm)
    ||  util_json_int64 (cJSON_GetObjectItemCaseSensitive (payload, "menuPrice"),
                         &menu->menu_price)
    ||  menu->menu_price < 0
    ||  s_string (payload, "useYn", use_yn, sizeof use_yn)
    ||  (use_yn [0] != 'Y' && use_yn [0] != 'N')
    ||  util_json_int64 (cJSON_GetObjectItemCaseSensitive (payload, "version"), &menu->version)
    ||  menu->version < 1) {
        memset (menu, 0, sizeof *menu);
        return -1;
    }
    menu->shown = use_yn [0] == 'Y';
    return 0;
}

// ---------------------------------------------------------------------------
//  The envelope

//  Encodes the envelope around the kind's payload.
char *
event_encode (const event_t *ev)
{
    if ((unsigned) ev->kind >= EVENT_KIND_COUNT)
        return NULL;
    const s_kind_row_t *row = &s_kinds [ev->kind];
    cJSON *payload = row->encode (ev);
    cJSON *root = cJSON_CreateObject ();
    if (!payload || !root) {
        cJSON_Delete (payload);
        cJSON_Delete (root);
        return NULL;
    }
    char stamp [UTIL_ISO_MAX];
    cJSON_AddStringToObject (root, "kind", row->name);
    cJSON_AddStringToObject (root, "key", ev->key);
    cJSON_AddNumberToObject (root, "version", (double) ev->version);
    cJSON_AddStringToObject (root, "time", util_iso8601 (ev->time_ms, stamp));
    cJSON_AddItemToObject (root, "payload", payload);
    char *text = util_json_print (root);
    cJSON_Delete (root);
    return text;
}

//  The envelope of an order event.
char *
event_order_envelope (const event_order_t *order)
{
    event_t ev;
    memset (&ev, 0, sizeof ev);
    ev.kind = EVENT_KIND_ORDER;
    snprintf (ev.key, sizeof ev.key, "%s", order->order_no);
    ev.version = 1;
    ev.time_ms = order->ordered_at_ms;
    ev.order = *order;              //  borrowed: encoding only reads it
    return event_encode (&ev);
}

//  The envelope of a menu event.
char *
event_menu_envelope (const event_menu_t *menu, int64_t time_ms)
{
    event_t ev;
    memset (&ev, 0, sizeof ev);
    ev.kind = EVENT_KIND_MENU;
    snprintf (ev.key, sizeof ev.key, "%s", menu->menu_id);
    ev.version = menu->version;
    ev.time_ms = time_ms;
    ev.menu = *menu;
    return event_encode (&ev);
}

//  Decodes an envelope, or a bare order payload as an order event.
int
event_decode (const char *json, size_t len, event_t *ev)
{
    memset (ev, 0, sizeof *ev);
    cJSON *root = json ? cJSON_ParseWithLength (json, len) : NULL;
    if (!cJSON_IsObject (root))
        goto bad;
    const cJSON *kind = cJSON_GetObjectItemCaseSensitive (root, "kind");
    if (!kind) {
        //  Written before the envelope: the order payload alone
        if (s_order_read (root, &ev->order) != 0)
            goto bad;
        ev->kind = EVENT_KIND_ORDER;
        snprintf (ev->key, sizeof ev->key, "%s", ev->order.order_no);
        ev->version = 1;
        ev->time_ms = ev->order.ordered_at_ms;
        cJSON_Delete (root);
        return 0;
    }
    if (!cJSON_IsString (kind) || !kind->valuestring)
        goto bad;
    const s_kind_row_t *row = NULL;
    for (size_t i = 0; i < EVENT_KIND_COUNT; i++)
        if (streq (s_kinds [i].name, kind->valuestring))
            row = &s_kinds [i];
    const cJSON *stamp = cJSON_GetObjectItemCaseSensitive (root, "time");
    if (!row
    ||  s_string (root, "key", ev->key, sizeof ev->key)
    ||  util_json_int64 (cJSON_GetObjectItemCaseSensitive (root, "version"), &ev->version)
    ||  ev->version < 1
    ||  !cJSON_IsString (stamp)
    ||  util_parse_iso8601 (stamp->valuestring, &ev->time_ms))
        goto bad;
    ev->kind = row->kind;
    if (row->decode (cJSON_GetObjectItemCaseSensitive (root, "payload"), ev) != 0)
        goto bad;
    cJSON_Delete (root);
    return 0;
bad:
    cJSON_Delete (root);
    event_reset (ev);
    return -1;
}

//  Frees the payload's lines and clears the event.
void
event_reset (event_t *ev)
{
    event_order_reset (&ev->order);
    memset (ev, 0, sizeof *ev);
}
