/*  request — what the HTTP front checks before a request reaches an actor:
    matching a method and path against the route table (include/route.h)
    and the validation of every route's input. Pure functions, no I/O, no state, so
    they are unit-tested alone (tests/test_http_request.c).

    Every failure is a status plus an error body (text allocated with malloc,
    free with free()):
        400 {"code":"INVALID_INPUT","message":"<field>: <what is wrong>",
             "field":"<field path, e.g. menuList[1].qy>"}
        400 {"code":"INVALID_JSON","message":"body: …"}

    Rules:
      POST /customer {"customerNm"}   string of 1..STORE_NAME_MAX bytes of
                                      valid UTF-8, not only spaces (U+0020,
                                      U+00A0, U+3000), no control characters
      POST /point    {"customerId","chargeAmt"}
                                      customerId CUST-<8+ digits>,
                                      chargeAmt whole 1..STORE_CHARGE_MAX
      POST /order    {"customerId","menuList":[{"menuId","qy"}]}
                                      menuList 1..STORE_LINES_MAX objects,
                                      menuId MENU-<8+ digits>, qy whole
                                      1..STORE_QY_MAX; a menuId repeated in
                                      one order may total at most STORE_QY_MAX
      GET /point/{customerId}, GET /order/{orderNo}
                                      CUST-<8+ digits>, ORD-<8+ digits>
      Ids are at most COFFEE_ID_MAX - 1 bytes.
    Numbers: a JSON number is taken by its value, so 1000, 1000.0 and 1e3 are
    the same whole number; 1.5 is refused as not whole. cJSON holds numbers
    as doubles, so a magnitude of 2^53 or more is refused (it may already have
    been rounded). Booleans, strings ("5") and null are the wrong type.
    The body must be one JSON object (trailing bytes other than whitespace
    are refused); a known field given twice is refused; unknown fields are
    ignored and left out of the canonical body. Raw control characters
    other than tab, CR and LF are not JSON (INVALID_JSON). An escaped NUL (\u0000),
    which cJSON would silently cut a string at, is read as U+0001 and so
    refused by every string that is kept. */
#ifndef REQUEST_H_INCLUDED
#define REQUEST_H_INCLUDED

#include "coffee.h"

//  Longest X-Request-Id taken from a client, and longest Idempotency-Key.
#define REQUEST_RID_MAX   64
#define REQUEST_IDEM_MAX  255

//  Finds the route of method + path (no query string). Returns 200 with
//  *route set and *arg pointing into path at the {id} ("" when none); 404
//  when no route has this path; 405 when the path exists for another
//  method, with *allow set to the Allow header value.
int request_match (const char *method, const char *path, const route_t **route,
                   const char **arg, const char **allow);


//  Validates a POST body of route (len bytes, need not be NUL-terminated).
//  Returns 200 with *canonical set to a new object holding only the known
//  fields (cJSON_Delete), or 400 with *error_json set.
int request_validate_body (metrics_route_t route, const char *body, size_t len,
                           cJSON **canonical, char **error_json);

//  Validates the {id} path parameter of GET /point/{customerId} or GET
//  /order/{orderNo}. Returns 200, or 400 with *error_json set.
int request_validate_arg (metrics_route_t route, const char *arg, char **error_json);

//  Validates GET /point paging arguments (either may be NULL): limit a
//  whole number 1..STORE_PAGE_MAX (default STORE_PAGE_DEFAULT), cursor the
//  nextCursor of a page before (digits, 1..INT64_MAX). 200 with *limit and
//  *cursor set (0: none), or 400 with *error_json.
int request_validate_page (const char *limit, const char *cursor, int32_t *limit_out,
                           int64_t *cursor_out, char **error_json);

//  Validates an Idempotency-Key header value (NULL: no header, fine).
//  Returns 200, or 400 INVALID_INPUT with field "Idempotency-Key".
int request_validate_idem (const char *key, char **error_json);

//  True when rid may be used as the request id: 1..REQUEST_RID_MAX chars of
//  [A-Za-z0-9._-].
bool request_rid_ok (const char *rid);

//  True when a Content-Type header names application/json (any case,
//  parameters such as charset allowed).
bool request_media_type_json (const char *content_type);

//  The customer id a validated request names (for routing by hash), or
//  NULL: the body's customerId for POST /point and POST /order, the path
//  arg for GET /point/{customerId}.
const char *request_customer_id (metrics_route_t route, const cJSON *canonical,
                                 const char *arg);

//  Fills cmd with the typed form of a validated request of route (canonical
//  from request_validate_body, or NULL for a GET; arg its path parameter):
//  the customer it acts for, the order number, name, amount, and menuList
//  with repeated menuIds merged into one line each.
void request_cmd_fill (metrics_route_t route, const cJSON *canonical, const char *arg,
                       wire_cmd_t *cmd);

//  Builds {"code","message"} plus "field" when field is not NULL (free()).
//  Never NULL unless out of memory.
char *request_error_json (const char *code, const char *message, const char *field);

#endif
