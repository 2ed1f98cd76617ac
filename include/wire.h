/*  wire — the one message format between the HTTP front and the actors.

    Each actor of a pool binds a ROUTER socket at wire_endpoint(pool, i). A
    caller owns one DEALER socket per actor it talks to (sockets are never
    shared between threads) and sends one request, then waits for the reply
    with a timeout.

    Request (caller → actor), one multipart message:
        "REQ"       literal
        rid         request id, for logs ("r-0000002a")
        seq         decimal u64 chosen by the caller; echoed in the reply, so
                    a caller can match replies to the requests it has open
        deadline    decimal i64, zclock_mono() ms after which the work must
                    not start (the request's arrival + the request timeout);
                    0 = none. An actor that takes a request past its
                    deadline answers 503 TIMEOUT without running it; work it
                    has started is answered with its real outcome.
        op          operation name, one of WIRE_OP_*
        idem        Idempotency-Key header value or ""
        cmd         wire_cmd_t as raw bytes: the request as the front
                    validated it, typed (inproc only, one process, so the
                    struct's bytes are its encoding)
        body        the canonical request JSON (what an Idempotency-Key
                    compares), or ""

    Reply (actor → caller):
        "REP"       literal
        seq         the request's seq
        status      decimal HTTP status ("200", "404", "503", …)
        body        response JSON (always JSON; errors are {"code","message",…})

    On the ROUTER side the peer identity frame comes first; wire_request_recv
    and wire_reply_send handle it. */
#ifndef WIRE_H_INCLUDED
#define WIRE_H_INCLUDED

#include <czmq.h>
#include <stdint.h>
#include "event.h"     //  event_line_t; COFFEE_ID_MAX comes from coffee.h
#include "token.h"

#define WIRE_OP_CUSTOMER_CREATE "customer.create"   //  point pool
#define WIRE_OP_CUSTOMER_TOKEN  "customer.token"    //  point pool
#define WIRE_OP_POINT_CHARGE    "point.charge"      //  point pool
#define WIRE_OP_POINT_GET       "point.get"         //  point pool
#define WIRE_OP_ORDER_CREATE    "order.create"      //  order pool
#define WIRE_OP_ORDER_GET       "order.get"         //  order pool
#define WIRE_OP_DISPLAY_MENU    "display.menu"      //  display pool
#define WIRE_OP_DISPLAY_BEST    "display.best"      //  display pool
#define WIRE_OP_DISPLAY_REFRESH "display.refresh"   //  display pool: re-read the store now
#define WIRE_OP_HEALTH          "health"            //  every pool: checks its store

#define WIRE_RID_MAX   72     //  holds a client X-Request-Id (REQUEST_RID_MAX 64) whole
#define WIRE_OP_MAX    32
#define WIRE_IDEM_MAX  256
#define WIRE_NAME_MAX  128    //  holds customerNm (STORE_NAME_MAX bytes) and its NUL
#define WIRE_LINES_MAX 20     //  menuList entries (STORE_LINES_MAX)

//  A request as the front validated it. Every string is NUL-terminated and
//  already checked (ids well formed, names clean, numbers in range), so
//  actors and stores trust it and parse nothing.
//  How a request authenticated (wire_cmd_t.auth), as the front read its
//  Authorization header. The zero value is a customer token, so a command
//  the front forgot to mark is checked, never waved through.
typedef enum {
    WIRE_AUTH_TOKEN = 0,        //  a customer token: token_hash is its hash
    WIRE_AUTH_ADMIN,            //  the admin token (compared at the front)
    WIRE_AUTH_OPEN              //  --auth off: the original open API
} wire_auth_t;

typedef struct {
    uint8_t auth;                           //  wire_auth_t
    char token_hash [TOKEN_HASH_MAX];       //  WIRE_AUTH_TOKEN: hex hash of the bearer token
    char customer_id [COFFEE_ID_MAX];       //  the customer it acts for, or ""
    char order_no [COFFEE_ID_MAX];          //  GET /order/{orderNo}, or ""
    char name [WIRE_NAME_MAX];              //  POST /customer customerNm, or ""
    int64_t amount;                         //  POST /point chargeAmt, or 0
    size_t line_count;                      //  POST /order: distinct menus
    event_line_t lines [WIRE_LINES_MAX];    //  one per menu, repeated menuIds merged
    int32_t limit;                          //  GET /point: history rows per page (0: default)
    int64_t cursor;                         //  GET /point: page after this history id (0: first)
} wire_cmd_t;

typedef struct {
    char rid [WIRE_RID_MAX];        //  request id
    uint64_t seq;                   //  caller's sequence number
    int64_t deadline_ms;            //  zclock_mono() after which it must not start; 0 none
    char op [WIRE_OP_MAX];          //  WIRE_OP_*
    char idem [WIRE_IDEM_MAX];      //  idempotency key or ""
    wire_cmd_t cmd;                 //  the typed request
    char *body;                     //  canonical request JSON or "" (owned; wire_request_reset frees)
} wire_request_t;

//  Writes "inproc://coffee-<pool>-<index>" into buf (size len).
void wire_endpoint (const char *pool, int index, char *buf, size_t len);

//  Writes "inproc://coffee-snapshot-<index>" into buf: where display actor
//  index PUBlishes each snapshot it reads, as frames "SNAP", stamp
//  (decimal zclock_usecs of the read; the newest wins), the GET
//  /display/menu body and the GET /display/best body. Every HTTP worker
//  SUBscribes to all of them and answers those reads from its own copy.
void wire_snapshot_endpoint (int index, char *buf, size_t len);

//  Sends a request on a DEALER socket. Returns 0, or -1 if it could not be
//  queued (the socket's send timeout/high-water mark hit).
int wire_request_send (zsock_t *dealer, const wire_request_t *req);

//  Receives a request on a ROUTER socket: *identity gets the peer frame
//  (caller destroys it or passes it to wire_reply_send), req is filled and
//  req->body allocated. Returns 0, or -1 for a malformed message (already
//  drained and dropped) or an interrupted receive.
int wire_request_recv (zsock_t *router, zframe_t **identity, wire_request_t *req);

//  Frees req->body and clears req.
void wire_request_reset (wire_request_t *req);

//  Sends a reply on a ROUTER socket to *identity (consumed and set to NULL).
int wire_reply_send (zsock_t *router, zframe_t **identity, uint64_t seq, int status,
                     const char *body);

//  Receives one reply on a DEALER socket. *body is allocated (zstr_free).
//  Returns 0, or -1 on timeout or a malformed message.
int wire_reply_recv (zsock_t *dealer, uint64_t *seq, int *status, char **body);

//  True when a request's deadline has passed (it must not start).
bool wire_request_expired (const wire_request_t *req);

//  Opens a DEALER connected to wire_endpoint(pool, index) with send and
//  receive timeouts of timeout_ms and linger 0. NULL on failure.
zsock_t *wire_dealer_new (const char *pool, int index, int timeout_ms);

//  One round trip on a dealer (tests and start-up probes, never the HTTP
//  path): send req, wait up to timeout_ms for the reply with req->seq
//  (older replies are dropped). Returns 0 with *status and *body set, or -1
//  when the actor did not answer in time.
int wire_call (zsock_t *dealer, const wire_request_t *req, int timeout_ms, int *status,
               char **body);

#endif
