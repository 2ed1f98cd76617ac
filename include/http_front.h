/*  http_front — the HTTP front actor (libmicrohttpd). Parses and validates
    HTTP + JSON, routes each request to an actor pool over wire.h, turns the
    reply into a response. It owns no business rules.

    It runs MHD with a pool of cfg->http_threads epoll threads; each MHD
    thread owns its own DEALER sockets (one per actor it talks to), created on
    first use and closed when the daemon stops, and waits for a reply at most
    cfg->request_timeout_ms (then 503). Requests that touch one customer go
    to the actor picked by a hash of the customer id.

    Started with zactor_new (http_front_actor, &args) where args is a
    http_front_args_t; it signals the pipe once listening (or fails the
    start: zsock_wait returns -1). On $TERM it stops accepting, lets
    requests in flight finish, stops the daemon. */
#ifndef HTTP_FRONT_H_INCLUDED
#define HTTP_FRONT_H_INCLUDED

#include "coffee.h"

typedef struct {
    const config_t *cfg;        //  settings (read only)
    metrics_t *metrics;         //  request counters and queue gauges
} http_front_args_t;

void http_front_actor (zsock_t *pipe, void *args);

#endif
