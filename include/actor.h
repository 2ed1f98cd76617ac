/*  actor — the point, order and display actor pools.

    Each actor is a czmq actor running in its own thread with its own store
    connection. It binds a ROUTER at wire_endpoint(pool, index) and serves
    the wire.h requests of its pool:
        point   : customer.create, point.charge, point.get, health
        order   : order.create, order.get, health
        display : display.menu, display.best, health
    It answers $TERM on its pipe. A request is answered once; an op the pool
    does not serve gets 404 (a bug in the front, logged).

    The order actor PUSHes one empty message to BRIDGE_OUTBOX_WAKE after each
    committed order (never blocking: a full queue means the relay is awake).
    The display actor answers from an in-memory snapshot (menus and the top
    3), rebuilt from the display store every cfg->display_refresh_ms. */
#ifndef ACTOR_H_INCLUDED
#define ACTOR_H_INCLUDED

#include "coffee.h"

#define ACTOR_POOL_POINT   "point"
#define ACTOR_POOL_ORDER   "order"
#define ACTOR_POOL_DISPLAY "display"

typedef struct {
    const config_t *cfg;        //  settings (read only)
    metrics_t *metrics;         //  shared counters
    int index;                  //  position in the pool: binds wire_endpoint(pool, index)
} actor_args_t;

void point_actor (zsock_t *pipe, void *args);
void order_actor (zsock_t *pipe, void *args);
void display_actor (zsock_t *pipe, void *args);

#endif
