/*  http_front — the HTTP front actor (libmicrohttpd). Parses and validates
    HTTP + JSON once, into a typed wire_cmd_t, routes each request to an
    actor pool over wire.h, turns the reply into a response. It owns no
    business rules, and no HTTP thread ever waits for an actor.

    It runs cfg->http_threads workers, each an MHD daemon in external epoll
    mode on one shared listening socket, polled together with the worker's
    own DEALERs (one per actor) and its SUB to the display snapshots: a
    request is sent with its deadline and its connection suspended, and
    the reply resumes it. GET /display/menu and /display/best are answered from the worker's own
    snapshot copy. Requests that touch one customer go to the actor picked
    by a hash of the customer id. A request that cannot be queued gets 503
    OVERLOADED with Retry-After at once.

    Started with zactor_new (http_front_actor, &args) where args is a
    http_front_args_t; it signals the pipe once listening (or fails the
    start: the pipe turns readable). On $TERM it stops accepting, lets
    requests in flight finish, resumes every suspended connection and
    stops the workers.

    Pools are resized while serving. PUT /admin/pools/{pool} (admin token)
    is sent by the worker that took it to main, which owns the actors, on a
    DEALER to HTTP_FRONT_POOLS_ENDPOINT: frames seq (8 bytes), pool name,
    actor count (int); main answers seq, status (int), JSON body. Main
    starts the new actors first, then sends the front actor "POOLS", pool,
    count (decimal) and waits for its signal (0 done, 1 some worker did
    not finish in time): each worker adds DEALERs at once; on a shrink it
    sends nothing more to the removed actors, waits for every answer it
    is owed by them (bounded by the request timeout plus grace), closes
    their DEALERs and only then signals. After the signal main stops the
    removed actors, which are owed nothing, and they close their store
    connections. /metrics shows coffee_actor_pool_size per pool.

    "ADMIN", token from main (on SIGHUP, after rereading the admin token
    file) replaces the admin token in every worker; nothing is signalled
    back, and requests after it see the new token. */
#ifndef HTTP_FRONT_H_INCLUDED
#define HTTP_FRONT_H_INCLUDED

#include "coffee.h"

//  Where main takes pool resizes from the workers (ROUTER, bound by main).
#define HTTP_FRONT_POOLS_ENDPOINT "inproc://coffee-pools"

//  Most actors one pool may have.
#define HTTP_FRONT_POOL_MAX 64

typedef struct {
    const config_t *cfg;        //  settings (read only)
    metrics_t *metrics;         //  request counters and queue gauges
} http_front_args_t;

void http_front_actor (zsock_t *pipe, void *args);

#endif
