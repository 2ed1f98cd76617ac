/*  event — the order event's one JSON encoding. */
#include "coffee.h"

//  Encodes the collector body: orderNo, customerId, menuList, payAmt, orderedAt.
char *
event_order_encode (const event_order_t *ev)
{
    char stamp [UTIL_ISO_MAX];
    cJSON *root = cJSON_CreateObject ();
    cJSON_AddStringToObject (root, "orderNo", ev->order_no);
    cJSON_AddStringToObject (root, "customerId", ev->customer_id);
    cJSON *list = cJSON_AddArrayToObject (root, "menuList");
    for (size_t i = 0; i < ev->line_count; i++) {
        cJSON *line = cJSON_CreateObject ();
        cJSON_AddStringToObject (line, "menuId", ev->lines [i].menu_id);
        cJSON_AddNumberToObject (line, "qy", (double) ev->lines [i].qy);
        cJSON_AddItemToArray (list, line);
    }
    cJSON_AddNumberToObject (root, "payAmt", (double) ev->pay_amt);
    cJSON_AddStringToObject (root, "orderedAt", util_iso8601 (ev->ordered_at_ms, stamp));
    char *text = util_json_print (root);
    cJSON_Delete (root);
    return text;
}

//  Copies a JSON string member into a fixed buffer; -1 if missing or too long.
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

//  Decodes and checks an event; a payload that is not one leaves ev reset.
int
event_order_decode (const char *json, size_t len, event_order_t *ev)
{
    memset (ev, 0, sizeof *ev);
    cJSON *root = cJSON_ParseWithLength (json, len);
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
    cJSON_Delete (root);
    return 0;

bad:
    cJSON_Delete (root);
    event_order_reset (ev);
    return -1;
}

//  Frees the lines and clears the event.
void
event_order_reset (event_order_t *ev)
{
    free (ev->lines);
    memset (ev, 0, sizeof *ev);
}
