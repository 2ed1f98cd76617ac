/*  sink — the loop every sink of the event log runs, and the table of
    sinks. See sink.h. */
#include "sink.h"

//  Every sink `coffee serve` starts: a row per sink.
const bridge_sink_t bridge_sinks [] = {
    { "projection", bridge_projection_actor, ROLE_PROJECTOR },
    { "collector", bridge_collector_actor, ROLE_ORDER },
    { NULL, NULL, ROLE_ALL }
};

#define SINK_OWED 16                //  partitions whose failed commit is tried again

typedef struct {
    const sink_def_t *def;          //  what this sink is
    const bridge_args_t *args;      //  settings and gauges
    zsock_t *pipe;                  //  actor pipe
    void *state;                    //  the sink's destination (def->open)
    eventlog_t *consumer;           //  consumer of def->group
    eventlog_event_t held [SINK_BATCH];     //  events being handled, in log order
    size_t held_count;              //  events in held
    size_t careful;                 //  turns still to take one event at a time
    eventlog_event_t owed [SINK_OWED];      //  positions whose commit failed, by partition
    size_t owed_count;              //  entries in owed
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
    for (size_t i = 0; i < self->held_count; i++)
        eventlog_event_reset (&self->held [i]);
    for (size_t i = 0; i < self->owed_count; i++)
        eventlog_event_reset (&self->owed [i]);
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

//  Forgets the owed commit of partition, if any.
static void
s_owed_drop (sink_t *self, int32_t partition)
{
    for (size_t i = 0; i < self->owed_count; i++)
        if (self->owed [i].partition == partition) {
            eventlog_event_reset (&self->owed [i]);
            self->owed [i] = self->owed [--self->owed_count];
            memset (&self->owed [self->owed_count], 0, sizeof self->owed [0]);
            return;
        }
}

//  Sets the lag gauge from the event log: -1 when it cannot tell (a broker
//  outage), rather than the last figure it gave, which would look like a
//  sink keeping up.
static void
s_lag_look (sink_t *self)
{
    self->lag_at = zclock_mono ();
    int64_t lag = eventlog_lag (self->consumer);
    metrics_gauge_set (self->args->metrics, self->def->lag, lag < 0 ? -1 : lag);
}

//  s_lag_look at most every BRIDGEKIT_LAG_EVERY_MS.
static void
s_lag_refresh (sink_t *self)
{
    if (zclock_mono () - self->lag_at >= BRIDGEKIT_LAG_EVERY_MS)
        s_lag_look (self);
}

//  Owes the commit of the position past ev, last of those owed (in place of
//  its partition's, if any): tried again when the sink is idle, unless a
//  later commit of its partition covers it first. Without that, the last
//  turn before a quiet spell would leave its position behind, to be
//  delivered again at the next start.
static void
s_owe (sink_t *self, const eventlog_event_t *ev)
{
    s_owed_drop (self, ev->partition);
    if (self->owed_count == SINK_OWED)
        return;                     //  more partitions than that: they come again
    eventlog_event_t *owed = &self->owed [self->owed_count];
    owed->partition = ev->partition;
    owed->offset = ev->offset;
    owed->key = ev->key ? strdup (ev->key) : NULL;
    self->owed_count++;
}

//  Commits the group's position past ev; one that fails is owed. Returns
//  true when it was committed.
//  A failed commit also looks at the lag at once: the log is most likely
//  out of reach, and the thread may not take a turn (and its look at the
//  lag) for a while.
static bool
s_commit (sink_t *self, const eventlog_event_t *ev, bool again)
{
    s_owed_drop (self, ev->partition);
    if (eventlog_commit (self->consumer, ev) == 0)
        return true;
    s_lag_look (self);
    if (again)
        log_debug ("-", "%s: commit after %s failed again", self->def->name,
                   ev->key ? ev->key : "");
    else
        log_warn ("-", "%s: commit after %s failed; trying again when idle", self->def->name,
                  ev->key ? ev->key : "");
    s_owe (self, ev);
    return false;
}

//  Tries the owed commits again, up to the first that fails: the rest stay
//  owed untried, and the one that failed is owed again behind them, so
//  that one partition's commit failing again and again does not keep the
//  others from being tried. A commit to a log out of reach holds the
//  thread for its whole wait (ten seconds on Kafka), so trying every
//  partition's in one turn would keep $TERM waiting that many times over.
static void
s_commit_owed (sink_t *self)
{
    eventlog_event_t owed [SINK_OWED];
    size_t count = self->owed_count;
    memcpy (owed, self->owed, count * sizeof owed [0]);
    memset (self->owed, 0, count * sizeof owed [0]);
    self->owed_count = 0;
    size_t done = 0;
    while (done < count && s_commit (self, &owed [done], true))
        done++;
    for (size_t i = done + 1; i < count; i++)
        s_owe (self, &owed [i]);
    if (done < count)
        s_owe (self, &owed [done]);     //  s_owe puts it last
    for (size_t i = 0; i < count; i++)
        eventlog_event_reset (&owed [i]);
}

//  Commits past the first count held events, which are handled (applied,
//  delivered or passed by): the last one of each partition, since a
//  position covers every event before it; once one fails, the others are
//  owed untried. Lets them go, whether or not the commit worked, and moves
//  the rest up.
static void
s_commit_held (sink_t *self, size_t count)
{
    bool reached = true;
    for (size_t i = 0; i < count; i++) {
        bool last = true;
        for (size_t j = i + 1; j < count && last; j++)
            last = self->held [j].partition != self->held [i].partition;
        if (!last)
            continue;
        if (reached)
            reached = s_commit (self, &self->held [i], false);
        else
            s_owe (self, &self->held [i]);      //  after a failure, as s_commit_owed
    }
    for (size_t i = 0; i < count; i++)
        eventlog_event_reset (&self->held [i]);
    memmove (&self->held [0], &self->held [count],
             (self->held_count - count) * sizeof self->held [0]);
    memset (&self->held [self->held_count - count], 0, count * sizeof self->held [0]);
    self->held_count -= count;
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

//  Decodes one held event and hands it to its kind's handler. A malformed
//  event or one of a kind the sink does not take is done with at once.
//  Returns 0 (done) or -1 (kept, to try again).
static int
s_handle (sink_t *self, const eventlog_event_t *raw)
{
    event_t ev;
    if (event_decode (raw->payload, raw->len, &ev) != 0) {
        log_warn ("-", "%s: skipping malformed event at offset %" PRId64 " (key %s)",
                  self->def->name, raw->offset, raw->key ? raw->key : "");
        return 0;
    }
    sink_apply_fn *apply = s_handler (self->def, ev.kind);
    int rc = apply ? apply (self->state, &ev, raw) : 0;
    event_reset (&ev);
    return rc;
}

//  Handles the held events (one while careful), flushes, commits past what
//  is done. Returns true when every event the turn took is done.
static bool
s_handle_held (sink_t *self)
{
    size_t limit = self->careful ? 1 : self->held_count;
    size_t done = 0;
    while (done < limit && s_handle (self, &self->held [done]) == 0)
        done++;
    bool flushed = !self->def->flush || self->def->flush (self->state) == 0;
    if (!flushed) {
        //  Nothing of the turn holds: try its events again, one by one
        self->careful = done < limit ? done + 1 : limit;
        return false;
    }
    s_commit_held (self, done);
    if (done < limit) {
        self->careful = 1;          //  the failed one, alone
        return false;
    }
    if (self->careful)
        self->careful--;
    return true;
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

//  Polls the next event, waiting up to poll_ms, then those already there
//  without waiting, up to SINK_BATCH. Returns 1 events held, 0 none, -1
//  an event-log error.
static int
s_poll (sink_t *self)
{
    int rc = eventlog_poll (self->consumer, &self->held [0], self->poll_ms);
    if (rc != 1)
        return rc;
    self->held_count = 1;
    while (self->held_count < SINK_BATCH
       &&  eventlog_poll (self->consumer, &self->held [self->held_count], 0) == 1)
        self->held_count++;
    return 1;
}

//  One turn: poll when nothing is held, then handle what is held. Returns
//  how long to wait on the pipe before the next turn.
static int
s_turn (sink_t *self)
{
    const sink_def_t *def = self->def;
    metrics_t *metrics = self->args->metrics;
    if (self->held_count == 0) {
        int rc = s_poll (self);
        if (rc < 0) {
            if (def->log_error_down)
                metrics_gauge_set (metrics, def->up, 0);
            s_lag_refresh (self);       //  -1 now, most likely: the log cannot be asked either
            return def->error_wait_ms;
        }
        if (rc == 0) {
            s_commit_owed (self);
            s_tick (self, true);
        }
    }
    int wait = 0;
    if (self->held_count > 0) {
        if (s_handle_held (self)) {
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
    util_thread_name ("%s", def->group);
    util_thread_background ();
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
