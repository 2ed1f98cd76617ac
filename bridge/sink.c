/*  sink — the loop every sink of the event log runs, and the table of
    sinks. See sink.h. */
#include "sink.h"

//  Every sink `coffee serve` starts: a row per sink.
const bridge_sink_t bridge_sinks [] = {
    { "projection", bridge_projection_actor, ROLE_PROJECTOR },
    { "collector", bridge_collector_actor, ROLE_ORDER },
    { NULL, NULL, ROLE_ALL }
};

typedef struct {
    const sink_def_t *def;          //  what this sink is
    const bridge_args_t *args;      //  settings and gauges
    zsock_t *pipe;                  //  actor pipe
    void *state;                    //  the sink's destination (def->open)
    eventlog_t *consumer;           //  consumer of def->group
    eventlog_event_t held;          //  event being handled
    bool holding;                   //  held is set
    int backoff_ms;                 //  base delay of the last retry, 0 when healthy
    int backoff_cap_ms;             //  cap of backoff_ms
    unsigned int seed;              //  rand_r state for the jitter
    int poll_ms;                    //  the next poll's longest wait
    int64_t lag_at;                 //  monotonic ms of the last lag refresh
    bool terminated;                //  $TERM seen
} sink_t;

//  Frees everything the loop holds.
static void
s_sink_destroy (sink_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    sink_t *self = *self_p;
    eventlog_event_reset (&self->held);
    eventlog_destroy (&self->consumer);
    self->def->close (&self->state);
    free (self);
    *self_p = NULL;
}

//  Opens the destination, then the consumer.
static sink_t *
s_sink_new (zsock_t *pipe, const bridge_args_t *args, const sink_def_t *def)
{
    sink_t *self = (sink_t *) zmalloc (sizeof (sink_t));
    self->def = def;
    self->args = args;
    self->pipe = pipe;
    self->poll_ms = def->poll_ms;
    self->backoff_cap_ms = def->backoff_cap_ms (args->cfg);
    if (self->backoff_cap_ms < def->backoff_min_ms)
        self->backoff_cap_ms = def->backoff_min_ms;
    self->seed = (unsigned int) (zclock_usecs () ^ (int64_t) getpid ());
    char err [512] = "";
    self->state = def->open (args, err, sizeof err);
    if (!self->state) {
        log_error ("-", "%s: %s", def->name, err);
        goto fail;
    }
    self->consumer = eventlog_consumer_new (args->cfg, def->group, err, sizeof err);
    if (!self->consumer) {
        log_error ("-", "%s: event log: %s", def->name, err);
        goto fail;
    }
    return self;
fail:
    s_sink_destroy (&self);
    return NULL;
}

//  Commits past the held event, which is handled (applied, delivered or
//  passed by), and lets it go, whether or not the commit worked.
static void
s_commit_held (sink_t *self)
{
    if (eventlog_commit (self->consumer, &self->held) != 0)
        log_warn ("-", "%s: commit after %s failed; it may come again", self->def->name,
                  self->held.key ? self->held.key : "");
    eventlog_event_reset (&self->held);
    self->holding = false;
}

//  The handler of kind, or NULL when the sink does not take it.
static sink_apply_fn *
s_handler (const sink_def_t *def, event_kind_t kind)
{
    for (const sink_kind_t *row = def->kinds; row->apply; row++)
        if (row->kind == kind)
            return row->apply;
    return NULL;
}

//  Decodes the held event and hands it to its kind's handler; commits past
//  it when it is done, malformed or of a kind the sink does not take.
//  Returns 0 (the event is let go) or -1 (kept, to try again).
static int
s_handle_held (sink_t *self)
{
    event_t ev;
    if (event_decode (self->held.payload, self->held.len, &ev) != 0) {
        log_warn ("-", "%s: skipping malformed event at offset %" PRId64 " (key %s)",
                  self->def->name, self->held.offset, self->held.key ? self->held.key : "");
        s_commit_held (self);
        return 0;
    }
    sink_apply_fn *apply = s_handler (self->def, ev.kind);
    int rc = apply ? apply (self->state, &ev, &self->held) : 0;
    event_reset (&ev);
    if (rc == 0)
        s_commit_held (self);
    return rc;
}

//  The wait before the kept event is tried again: the base delay doubles up
//  to the cap; with jitter the wait is half of it plus a random part of the
//  other half, so many instances do not retry in step.
static int
s_retry_wait (sink_t *self)
{
    self->backoff_ms = bridgekit_backoff (self->backoff_ms, self->def->backoff_min_ms,
                                          self->backoff_cap_ms);
    int base = self->backoff_ms;
    if (!self->def->jitter)
        return base;
    return base / 2 + (int) (rand_r (&self->seed) % (unsigned) (base / 2 + 1));
}

//  Lets the sink look at the stream (idle: the poll found nothing) and
//  takes its longest next poll wait.
static void
s_tick (sink_t *self, bool idle)
{
    if (!self->def->tick)
        return;
    int wait = self->def->tick (self->state, idle);
    self->poll_ms = wait >= 0 && wait < self->def->poll_ms ? wait : self->def->poll_ms;
}

//  Refreshes the lag gauge at most every BRIDGEKIT_LAG_EVERY_MS.
static void
s_lag_refresh (sink_t *self)
{
    if (zclock_mono () - self->lag_at < BRIDGEKIT_LAG_EVERY_MS)
        return;
    self->lag_at = zclock_mono ();
    int64_t lag = eventlog_lag (self->consumer);
    if (lag >= 0)
        metrics_gauge_set (self->args->metrics, self->def->lag, lag);
}

//  One turn: poll when nothing is held, then handle what is held. Returns
//  how long to wait on the pipe before the next turn.
static int
s_turn (sink_t *self)
{
    const sink_def_t *def = self->def;
    metrics_t *metrics = self->args->metrics;
    if (!self->holding) {
        int rc = eventlog_poll (self->consumer, &self->held, self->poll_ms);
        if (rc < 0) {
            if (def->log_error_down)
                metrics_gauge_set (metrics, def->up, 0);
            return def->error_wait_ms;
        }
        self->holding = rc == 1;
        if (!self->holding)
            s_tick (self, true);
    }
    int wait = 0;
    if (self->holding) {
        if (s_handle_held (self) == 0) {
            self->backoff_ms = 0;
            metrics_gauge_set (metrics, def->up, 1);
            s_tick (self, false);
        }
        else {
            metrics_gauge_set (metrics, def->up, 0);
            wait = s_retry_wait (self);
        }
    }
    s_lag_refresh (self);
    return wait;
}

void
sink_run (zsock_t *pipe, const bridge_args_t *args, const sink_def_t *def)
{
    sink_t *self = s_sink_new (pipe, args, def);
    if (!self) {
        bridgekit_start_failed (pipe, args, def->up);
        return;
    }
    zsock_signal (pipe, 0);
    metrics_gauge_set (args->metrics, def->up, 1);
    zpoller_t *poller = zpoller_new (pipe, NULL);
    int wait = 0;
    while (!self->terminated && poller) {
        if (zpoller_wait (poller, wait) == pipe) {
            if (bridgekit_pipe_term (pipe, def->name))
                self->terminated = true;
            continue;
        }
        if (zpoller_terminated (poller))
            break;
        wait = s_turn (self);
    }
    zpoller_destroy (&poller);
    s_sink_destroy (&self);
}
