/*  request — what the HTTP front checks before a request reaches an actor:
    matching a method and path against the route table (include/route.h)
    and the validation of every route's input. Pure functions, no I/O, no state, so
    they are unit-tested alone (tests/test_http_request.c).

    Every failure is a status plus an error body (text allocated with malloc,
    free with free()):
        400 {"code":"INVALID_INPUT","message":"<field>: <what is wrong>",
             "field":"<field path, e.g. menuList[1].qy>"}
        400 {"code":"INVALID_JSON","message":"body: …"}
        400 {"code":"INVALID_JSON","message":"<path>: 01 is not a JSON number …",
             "field":"<path>"}   a number RFC 8259 does not allow, whether
                                 cJSON takes it (01, 1.) or not (+1, NaN)

    Rules:
      POST /customer {"customerNm"}   a name (request_name_check) of
                                      1..STORE_NAME_MAX bytes
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
    Numbers: every number in the body, known field or not, must be written
    as RFC 8259's grammar says (-?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?);
    cJSON also takes 01, -01, 1., 1.e3 and -.5, and refuses +1, .5, 0x10,
    NaN and Infinity with only a byte offset: both are 400 INVALID_JSON
    naming the field path ("menuList[0].qy", or "body" in the message when
    the whole body is the number). A whole-number field is read
    exactly from its text by decimal arithmetic, never through a double:
    1000, 1000.0, 1e3 and 10000E-1 are the same whole number and accepted;
    1.0000000000000001 is refused as not whole, and a value past int64 as
    out of range, never rounded or wrapped. Booleans, strings ("5") and null
    are the wrong type.
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

//  What request_number_read found in a number's text.
typedef enum {
    REQUEST_NUMBER_WHOLE,       //  an exact whole number that fits int64
    REQUEST_NUMBER_FRACTION,    //  a number with a fraction that is not zero
    REQUEST_NUMBER_RANGE,       //  a whole number past int64 (sign says which end)
    REQUEST_NUMBER_INVALID      //  not an RFC 8259 number
} request_number_t;

//  Reads the text of one JSON number (len bytes, the whole token, no
//  whitespace) exactly: checks it against RFC 8259's number grammar and
//  decides by decimal arithmetic on its digits whether it is a whole number
//  (1e3, 1.0 and 10E-1 are; 1.0000000000000001 is not). Sets *value when
//  WHOLE, else 0; *negative (may be NULL) tells a RANGE's end. O(len).
request_number_t request_number_read (const char *text, size_t len, int64_t *value,
                                      bool *negative);

//  Checks the characters of a free-text name (customerNm; any other name a
//  person types, such as a menu's): len bytes of valid shortest-form UTF-8
//  with no surrogates, no C0 or C1 controls (U+0085 too), no line or
//  paragraph separators (U+2028, U+2029), no bidirectional controls
//  (U+061C, U+200E, U+200F, U+202A..U+202E, U+2066..U+2069), and not made
//  only of blank or invisible characters (spaces of every width, U+00A0,
//  U+3000, zero-width characters, U+FEFF, the Hangul fillers, variation
//  selectors). Length bounds are the caller's. Returns 0, or -1 with
//  *reason set to a static phrase for a message ("must not contain …").
int request_name_check (const char *name, size_t len, const char **reason);

//  Builds {"code","message"} plus "field" when field is not NULL (free()).
//  Never NULL unless out of memory.
char *request_error_json (const char *code, const char *message, const char *field);

#endif
