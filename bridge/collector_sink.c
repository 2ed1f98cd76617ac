/*  collector_sink — the data collector actor (bridge_collector_actor).

    Consumes group BRIDGE_GROUP_COLLECTOR and delivers the order events one
    by one in log order (= order time), each as its order payload (the body
    the collector always had); other kinds are committed past. A failed delivery is retried, same event,
    after a capped exponential backoff with jitter (SINK_BACKOFF_MIN_MS
    doubling up to cfg->collector_backoff_max_ms); the wait is a poll on the
    pipe, so $TERM is answered at once. The position is committed only after
    a delivery, so each order arrives at least once; the receiver drops
    duplicates by orderNo. A failed commit after a delivery is logged and the
    event let go all the same (bridgekit_commit_held): the sink goes back to
    polling, which a Kafka consumer must do to get through a rebalance. This
    actor is its own thread and consumer: a slow or down collector never
    slows an order. */
#include "bridgekit.h"
#include "collector.h"

#define SINK_POLL_MS            100     //  wait for an event before looking at the pipe
#define SINK_DELIVER_MS         3000    //  one delivery attempt's time limit
#define SINK_BACKOFF_MIN_MS     100     //  first retry delay
#define SINK_BACKOFF_CAP_MS     30000   //  cap when the config gives none

typedef struct {
    const config_t *cfg;        //  settings
    metrics_t *metrics;         //  gauges
    zsock_t *pipe;              //  actor pipe
    collector_t *collector;     //  delivery backend
    eventlog_t *consumer;       //  consumer of BRIDGE_GROUP_COLLECTOR
    eventlog_event_t held;      //  event being delivered
    bool holding;               //  held is set
    int backoff_ms;             //  base delay of the last retry, 0 when healthy
    int backoff_cap_ms;         //  cap of backoff_ms
    unsigned int seed;          //  rand_r state for the jitter
    int64_t lag_at;             //  monotonic ms of the last lag refresh
    bool terminated;            //  $TERM seen
} sink_t;

//  Frees everything the sink holds.
static void
s_sink_destroy (sink_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    sink_t *self = *self_p;
    eventlog_event_reset (&self->held);
    eventlog_destroy (&self->consumer);
    collector_destroy (&self->collector);
    free (self);
    *self_p = NULL;
}

//  Opens the collector backend and the consumer.
static sink_t *
s_sink_new (zsock_t *pipe, const bridge_args_t *args)
{
    sink_t *self = (sink_t *) zmalloc (sizeof (sink_t));
    self->cfg = args->cfg;
    self->metrics = args->metrics;
    self->pipe = pipe;
    self->backoff_cap_ms = self->cfg->collector_backoff_max_ms > 0
                         ? self->cfg->collector_backoff_max_ms : SINK_BACKOFF_CAP_MS;
    if (self->backoff_cap_ms < SINK_BACKOFF_MIN_MS)
        self->backoff_cap_ms = SINK_BACKOFF_MIN_MS;
    self->seed = (unsigned int) (zclock_usecs () ^ (int64_t) getpid ());
    char err [512] = "";
    self->collector = collector_new (self->cfg, err, sizeof err);
    if (!self->collector) {
        log_error ("-", "collector sink: %s", err);
        goto fail;
    }
    self->consumer = eventlog_consumer_new (self->cfg, BRIDGE_GROUP_COLLECTOR, err, sizeof err);
    if (!self->consumer) {
        log_error ("-", "collector sink: event log: %s", err);
        goto fail;
    }
    return self;
fail:
    s_sink_destroy (&self);
    return NULL;
}

//  Handles one command from the pipe; only $TERM is known.
static void
s_sink_command (sink_t *self)
{
    if (bridgekit_pipe_term (self->pipe, "collector sink"))
        self->terminated = true;
}

//  The wait before the next attempt: the base delay grows (doubling up to
//  the cap), and the wait is half of it plus a random part of the other
//  half, so many instances do not retry in step.
static int
s_next_delay (sink_t *self)
{
    self->backoff_ms = bridgekit_backoff (self->backoff_ms, SINK_BACKOFF_MIN_MS,
                                          self->backoff_cap_ms);
    int base = self->backoff_ms;
    return base / 2 + (int) (rand_r (&self->seed) % (unsigned) (base / 2 + 1));
}

//  Delivers the held event; on success commits past it. 0 done (the event
//  is let go), -1 retry.
static int
s_deliver_held (sink_t *self)
{
    event_t ev;
    if (bridgekit_decode (&self->held, &ev, "collector sink") != 0
    ||  ev.kind != EVENT_KIND_ORDER) {
        //  Only orders go to the data platform; other kinds pass by
        event_reset (&ev);
        bridgekit_commit_held (self->consumer, &self->held, &self->holding, "collector sink");
        return 0;
    }
    //  The order payload is the collector's body, as it always was
    char *body = event_order_encode (&ev.order);
    event_reset (&ev);
    if (!body)
        return -1;
    int rc = collector_deliver (self->collector, self->held.key, body, strlen (body),
                                SINK_DELIVER_MS);
    zstr_free (&body);
    if (rc != 0) {
        metrics_gauge_add (self->metrics, GAUGE_COLLECTOR_FAILURES, 1);
        metrics_gauge_set (self->metrics, GAUGE_COLLECTOR_UP, 0);
        return -1;
    }
    metrics_gauge_add (self->metrics, GAUGE_COLLECTOR_DELIVERED, 1);
    metrics_gauge_set (self->metrics, GAUGE_COLLECTOR_UP, 1);
    //  Delivered but not committed: if it comes again, the receiver drops it
    //  as a duplicate
    bridgekit_commit_held (self->consumer, &self->held, &self->holding, "collector sink");
    self->backoff_ms = 0;
    return 0;
}

//  The collector sink actor: see the top of this file.
void
bridge_collector_actor (zsock_t *pipe, void *args)
{
    sink_t *self = s_sink_new (pipe, (const bridge_args_t *) args);
    if (!self) {
        bridgekit_start_failed (pipe, (const bridge_args_t *) args, GAUGE_COLLECTOR_UP);
        return;
    }
    zsock_signal (pipe, 0);
    metrics_gauge_set (self->metrics, GAUGE_COLLECTOR_UP, 1);
    zpoller_t *poller = zpoller_new (pipe, NULL);
    int wait = 0;                   //  backoff before the next attempt
    while (!self->terminated && poller) {
        if (zpoller_wait (poller, wait) == pipe) {
            s_sink_command (self);
            continue;
        }
        if (zpoller_terminated (poller))
            break;
        wait = 0;
        if (!self->holding) {
            int rc = eventlog_poll (self->consumer, &self->held, SINK_POLL_MS);
            if (rc < 0)
                wait = SINK_POLL_MS * 5;
            self->holding = rc == 1;
        }
        if (self->holding && s_deliver_held (self) != 0)
            wait = s_next_delay (self);
        bridgekit_lag_refresh (self->consumer, self->metrics, GAUGE_COLLECTOR_LAG,
                               &self->lag_at);
    }
    zpoller_destroy (&poller);
    s_sink_destroy (&self);
}
