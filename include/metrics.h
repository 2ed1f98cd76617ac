/*  metrics — counters and gauges for GET /metrics (Prometheus text format)
    and GET /health. Every value is a C11 atomic: writers are the HTTP
    threads, the actors and the bridge; the only reader is the /metrics and
    /health handler. Nothing reads a metric to decide business logic, so
    sharing them is safe (the one exception to "threads share nothing"). */
#ifndef METRICS_H_INCLUDED
#define METRICS_H_INCLUDED

#include <stdint.h>
#include "route.h"

//  Series are labelled by route (include/route.h).
typedef route_id_t metrics_route_t;

typedef enum {
    GAUGE_QUEUE_POINT = 0,      //  requests sent to the point pool and not yet answered
    GAUGE_QUEUE_ORDER,          //  same, order pool
    GAUGE_QUEUE_DISPLAY,        //  same, display pool
    GAUGE_OUTBOX_PENDING,       //  outbox rows not yet published (last seen by the relay)
    GAUGE_OUTBOX_PUBLISHED,     //  outbox rows published since start (counter)
    GAUGE_PROJECTION_APPLIED,   //  events applied by the display projection (counter)
    GAUGE_PROJECTION_LAG,       //  events in the log not yet applied by the projection
    GAUGE_COLLECTOR_DELIVERED,  //  orders delivered to the collector (counter)
    GAUGE_COLLECTOR_FAILURES,   //  failed collector attempts (counter)
    GAUGE_COLLECTOR_LAG,        //  events in the log not yet delivered
    GAUGE_BRIDGE_UP,            //  1 relay publishing fine, 0 failing, -1 not run here
    GAUGE_PROJECTION_UP,        //  1 fine, 0 failing, -1 not run here
    GAUGE_COLLECTOR_UP,         //  1 last delivery worked, 0 failing, -1 not run here
    GAUGE_DOWN_POINT,           //  point actors whose last health check failed
    GAUGE_DOWN_ORDER,           //  same, order actors
    GAUGE_DOWN_DISPLAY,         //  same, display actors
    GAUGE_PRUNED_OUTBOX,        //  published outbox rows pruned (counter; retention.h)
    GAUGE_PRUNED_EVENTS,        //  local event log rows pruned (counter)
    GAUGE_PRUNED_IDEM,          //  finished Idempotency-Keys pruned (counter)
    GAUGE_PRUNED_IDEM_RUNNING,  //  'running' keys a crash left, pruned (counter)
    GAUGE_PRUNED_MARKS,         //  group commit marks pruned (counter)
    GAUGE_PRUNE_FAILURES,       //  prune rounds a store failed (counter)
    GAUGE_SQLITE_MEMORY,        //  bytes SQLite holds (its page caches, bounded), all connections
    GAUGE_SQLITE_CKPT_BACKGROUND,   //  WAL checkpoints by the checkpointers (counter)
    GAUGE_SQLITE_CKPT_WRITERS,  //  WAL checkpoints by writers after a commit (counter)
    GAUGE_CONNS_REFUSED,        //  connections refused at accept: address at its limit (counter)
    GAUGE_CONNS_CUT,            //  connections closed: request not read whole in time (counter)
    GAUGE_COUNT
} metrics_gauge_t;

typedef struct _metrics_t metrics_t;

metrics_t *metrics_new (void);
void metrics_destroy (metrics_t **self_p);

//  Counts one request of route answered with status after seconds.
void metrics_observe (metrics_t *self, metrics_route_t route, int status, double seconds);

void metrics_gauge_set (metrics_t *self, metrics_gauge_t gauge, int64_t value);
void metrics_gauge_add (metrics_t *self, metrics_gauge_t gauge, int64_t delta);
int64_t metrics_gauge_get (metrics_t *self, metrics_gauge_t gauge);

//  HTTP workers whose open connections are rendered, one series each
//  (coffee_http_connections{worker="N"}); at most METRICS_HTTP_WORKERS.
#define METRICS_HTTP_WORKERS 256
void metrics_http_workers (metrics_t *self, int count);

//  Connections HTTP worker `worker` holds open now (its own writer).
void metrics_http_connections (metrics_t *self, int worker, int64_t count);

//  Renders everything in Prometheus text exposition format 0.0.4
//  (caller frees with zstr_free).
char *metrics_render (metrics_t *self);


#endif
