/*  collector_sink — the data collector sink (bridge_collector_actor).

    Consumes group BRIDGE_GROUP_COLLECTOR on the shared sink loop (sink.h)
    and delivers the order events in log order (= order time), each as its
    order payload (the body the collector always had); other kinds are
    committed past. The file collector writes a turn's lines with one fsync
    (the sink's flush); http POSTs each event. A failed delivery keeps the event: the loop
    tries the same event again after a capped exponential backoff with
    jitter (SINK_BACKOFF_MIN_MS doubling up to cfg->collector_backoff_max_ms),
    waiting on the pipe, so $TERM is answered at once. The position is
    committed only after a delivery, so each order arrives at least once;
    the receiver drops duplicates by orderNo. This sink is its own thread
    and consumer: a slow or down collector never slows an order. */
#include "sink.h"
#include "collector.h"

#define SINK_POLL_MS            100     //  wait for an event before looking at the pipe
#define SINK_ERROR_WAIT_MS      500     //  wait after an event-log error
#define SINK_DELIVER_MS         3000    //  one delivery attempt's time limit
#define SINK_BACKOFF_MIN_MS     100     //  first retry delay
#define SINK_BACKOFF_CAP_MS     30000   //  cap when the config gives none

typedef struct {
    metrics_t *metrics;         //  gauges
    collector_t *collector;     //  delivery backend
    int64_t taken;              //  events handed over since the last flush
} collector_sink_t;

//  Frees the delivery backend.
static void
s_sink_destroy (void **self_p)
{
    if (!self_p || !*self_p)
        return;
    collector_sink_t *self = (collector_sink_t *) *self_p;
    collector_destroy (&self->collector);
    free (self);
    *self_p = NULL;
}

//  Opens the delivery backend.
static void *
s_sink_new (const bridge_args_t *args, char *err, size_t errlen)
{
    collector_sink_t *self = (collector_sink_t *) zmalloc (sizeof (collector_sink_t));
    self->metrics = args->metrics;
    self->collector = collector_new (args->cfg, err, errlen);
    if (!self->collector) {
        s_sink_destroy ((void **) &self);
        return NULL;
    }
    return self;
}

//  Hands an order event to the collector: 0 taken (delivered once the
//  flush is), -1 to try again.
static int
s_deliver_order (void *state, const event_t *ev, const eventlog_event_t *raw)
{
    collector_sink_t *self = (collector_sink_t *) state;
    //  The order payload is the collector's body, as it always was
    char *body = event_order_encode (&ev->order);
    if (!body)
        return -1;
    int rc = collector_append (self->collector, raw->key, body, strlen (body), SINK_DELIVER_MS);
    zstr_free (&body);
    if (rc != 0) {
        metrics_gauge_add (self->metrics, GAUGE_COLLECTOR_FAILURES, 1);
        return -1;
    }
    self->taken++;
    return 0;
}

//  The sink's flush: the turn's lines to disk (file), and counts them.
static int
s_flush (void *state)
{
    collector_sink_t *self = (collector_sink_t *) state;
    int64_t taken = self->taken;
    self->taken = 0;
    if (collector_flush (self->collector) != 0) {
        metrics_gauge_add (self->metrics, GAUGE_COLLECTOR_FAILURES, 1);
        return -1;
    }
    //  Delivered but not committed yet: if they come again, the receiver
    //  drops them as duplicates
    metrics_gauge_add (self->metrics, GAUGE_COLLECTOR_DELIVERED, taken);
    return 0;
}

//  Only orders go to the data collection platform.
static const sink_kind_t s_kinds [] = {
    { EVENT_KIND_ORDER, s_deliver_order },
    { EVENT_KIND_COUNT, NULL }
};

//  The retry cap: --collector-backoff-max-ms, or SINK_BACKOFF_CAP_MS.
static int
s_backoff_cap (const config_t *cfg)
{
    return cfg->collector_backoff_max_ms > 0 ? cfg->collector_backoff_max_ms
                                             : SINK_BACKOFF_CAP_MS;
}

const sink_def_t sink_collector = {
    .name = "collector sink",
    .group = BRIDGE_GROUP_COLLECTOR,
    .up = GAUGE_COLLECTOR_UP,
    .lag = GAUGE_COLLECTOR_LAG,
    .log_error_down = false,
    .poll_ms = SINK_POLL_MS,
    .error_wait_ms = SINK_ERROR_WAIT_MS,
    .backoff_min_ms = SINK_BACKOFF_MIN_MS,
    .jitter = true,
    .kinds = s_kinds,
    .open = s_sink_new,
    .close = s_sink_destroy,
    .backoff_cap_ms = s_backoff_cap,
    .flush = s_flush,
    .tick = NULL,
};

//  The collector sink actor: see the top of this file.
void
bridge_collector_actor (zsock_t *pipe, void *args)
{
    sink_run (pipe, (const bridge_args_t *) args, &sink_collector);
}
