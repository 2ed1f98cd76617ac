/*  edge — what the HTTP front holds against hostile clients, below the
    routes: how many connections one client address may hold, how long a
    request may take to arrive, and how fast one address or one customer
    may send requests.

    One edge_t is shared by every HTTP worker (each runs its own MHD daemon
    on one listening socket, so a client's connections spread over them):
    its tables are fixed-size, split into stripes each under its own mutex,
    and keyed by a keyed 64-bit hash (BLAKE2b, random key per process) of
    the client address or the customer, so a client cannot aim collisions
    at another. Nothing in it allocates after edge_new.

      - Connections per address: edge_conn_enter before a connection is
        taken (refused past the limit), edge_conn_leave when it closes.
        IPv4 addresses count one by one; an IPv6 client counts by its /64
        (one host usually holds the whole /64); IPv4-mapped IPv6 is IPv4.
      - Request rates: token buckets (rate per second, burst) per address
        and per customer. A request takes one token, or is told how long
        until one is there (the 429's Retry-After). A bucket left alone
        until full is the same as a new one, so its slot is reused; when a
        stripe has no such slot the longest-unused bucket is dropped (that
        client starts again with a full burst).

    Each worker also keeps an edge_watch_t: its own connections (never
    touched by another thread) with when the request being read on each
    began. edge_watch_sweep shuts down the socket of every connection whose
    request did not arrive whole within the read deadline; MHD then sees
    the end of the stream and closes the connection as usual. A request
    begins when its connection is accepted (the first one) or, on a kept-
    alive connection, with its first byte (the request line being parsed,
    or the kernel's last-receive time moving past the end of the previous
    request), and stops being timed once read whole. */
#ifndef EDGE_H_INCLUDED
#define EDGE_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <microhttpd.h>

//  A client address as counted: 4 bytes of IPv4, or the first 8 of IPv6.
typedef struct {
    unsigned char bytes [16];       //  the counted prefix, zero-padded
    size_t len;                     //  4, 8, or 0 when not an IP address
} edge_addr_t;

//  The limits, 0 meaning off.
typedef struct {
    int conns_per_address;          //  connections one address may hold
    int rate_per_address;           //  requests per second per address
    int burst_per_address;          //  bucket size per address (0: twice the rate)
    int rate_per_customer;          //  requests per second per customer
    int burst_per_customer;         //  bucket size per customer (0: twice the rate)
} edge_limits_t;

typedef struct _edge_t edge_t;
typedef struct _edge_watch_t edge_watch_t;
typedef struct _edge_conn_t edge_conn_t;

//  Which bucket table a rate applies to.
typedef enum { EDGE_ADDRESS = 0, EDGE_CUSTOMER = 1 } edge_kind_t;

//  The shared tables for these limits; NULL when out of memory.
edge_t *edge_new (const edge_limits_t *limits);

//  Frees the tables. Safe on NULL; sets *self_p to NULL.
void edge_destroy (edge_t **self_p);

//  The counted address of a socket address of addr_len bytes (len 0 for
//  anything not IP); addr_len 0 trusts the address's family for its size.
edge_addr_t edge_addr_of (const struct sockaddr *addr, socklen_t addr_len);

//  Takes one connection for addr: true when it may be served, false past
//  the limit (or when its stripe is full). Always true when the limit is
//  off or addr is not IP; then edge_conn_leave must not be called for it.
bool edge_conn_enter (edge_t *self, const edge_addr_t *addr);

//  Counts addr's connection unconditionally (one MHD took without asking).
void edge_conn_force (edge_t *self, const edge_addr_t *addr);

//  Gives back a connection edge_conn_enter or edge_conn_force counted.
void edge_conn_leave (edge_t *self, const edge_addr_t *addr);

//  Connections addr holds now (for tests and logs).
int edge_conn_count (edge_t *self, const edge_addr_t *addr);

//  True when connections per address are limited.
bool edge_conn_limited (edge_t *self);

//  Takes one token of key's bucket (key_len bytes) at now_us (a monotonic
//  clock). Returns 0 when the request may run, else the microseconds until
//  a token is there (≥ 1). Always 0 when that rate is off.
int64_t edge_rate_take (edge_t *self, edge_kind_t kind, const void *key, size_t key_len,
                        int64_t now_us);

//  True when that rate is limited.
bool edge_rate_on (edge_t *self, edge_kind_t kind);

//  Retry-After in whole seconds (at least 1) for a wait of wait_us.
int edge_retry_after (int64_t wait_us);

//  edge_rate_take for the client address of conn (EDGE_ADDRESS).
int64_t edge_rate_address (edge_t *self, struct MHD_Connection *conn, int64_t now_us);

//  edge_rate_take for the customer a request on conn acts for
//  (EDGE_CUSTOMER). The bucket is that customer's together with the
//  credential presented (a hash of the Authorization header): the front
//  cannot check a token (the actors do), and requests naming a customer
//  without that customer's token must not spend the customer's rate; they
//  still spend their address's.
int64_t edge_rate_customer (edge_t *self, struct MHD_Connection *conn, const char *customer_id,
                            int64_t now_us);


//  --------------------------------------------------------------------------
//  One worker's connections and their read deadlines (one thread only)

//  A worker's watch over its connections, sharing edge's tables; NULL when
//  out of memory. read_timeout_ms is the read deadline (0: none).
edge_watch_t *edge_watch_new (edge_t *edge, int read_timeout_ms);

//  Frees the watch and any connection still in it (giving their counts
//  back). Safe on NULL; sets *self_p to NULL.
void edge_watch_destroy (edge_watch_t **self_p);

//  MHD's accept policy for one new connection: first gives back a count
//  a previous accept took but no connection used, then takes one for addr.
//  Returns false when addr holds its limit already.
bool edge_watch_accept (edge_watch_t *self, const struct sockaddr *addr, socklen_t addr_len);

//  A connection MHD took (notify STARTED): its record, using the count the
//  accept took for the same address (or taking one when none was taken),
//  its request timed from now_ms; NULL when out of memory (not timed).
edge_conn_t *edge_watch_open (edge_watch_t *self, const struct sockaddr *addr, int fd,
                              int64_t now_ms);

//  Gives back a count the last accept took that no connection used (MHD
//  refused the connection after the policy said yes).
void edge_watch_settle (edge_watch_t *self);

//  A connection closed (notify CLOSED): gives its count back and frees its
//  record. Safe on NULL.
void edge_watch_close (edge_watch_t *self, edge_conn_t **conn_p);

//  A request's line was parsed at now_ms: it is timed from now_ms unless it
//  began earlier. Safe on NULL.
void edge_conn_begin (edge_conn_t *conn, int64_t now_ms);

//  The request was read whole: no longer timed. Safe on NULL.
void edge_conn_read (edge_conn_t *conn);

//  The request completed at now_ms: the connection idles until its next
//  request's first byte. Safe on NULL.
void edge_conn_idle (edge_conn_t *conn, int64_t now_ms);

//  The clock of the read deadlines, in ms: CLOCK_MONOTONIC_COARSE, the
//  kernel's tick (a few ms; the deadlines are seconds). It is read for
//  every request, and a fine clock read costs several times more.
int64_t edge_now_ms (void);

//  Shuts down every connection whose request is still being read
//  read_timeout_ms after it began (now_ms from edge_now_ms). Returns how
//  many it cut now.
int edge_watch_sweep (edge_watch_t *self, int64_t now_ms);

//  Connections the watch holds.
int edge_watch_size (edge_watch_t *self);

//  Connections refused at their address's limit since the last call.
int edge_watch_refused (edge_watch_t *self);


//  --------------------------------------------------------------------------
//  The watch as libmicrohttpd callbacks (cls: the worker's edge_watch_t)

//  MHD_AcceptPolicyCallback: edge_watch_accept, counting refusals.
enum MHD_Result edge_mhd_accept (void *cls, const struct sockaddr *addr, socklen_t addr_len);

//  MHD_OPTION_NOTIFY_CONNECTION: edge_watch_open at STARTED (the record
//  becomes the socket context), edge_watch_close at CLOSED.
void edge_mhd_notify (void *cls, struct MHD_Connection *conn, void **socket_context,
                      enum MHD_ConnectionNotificationCode toe);

//  MHD_OPTION_URI_LOG_CALLBACK: a request line was parsed, so a request
//  began (edge_conn_begin). Returns NULL, the access handler's first
//  *con_cls.
void *edge_mhd_uri_log (void *cls, const char *uri, struct MHD_Connection *conn);

//  The record of conn (its socket context), or NULL.
edge_conn_t *edge_mhd_conn (struct MHD_Connection *conn);

#endif
