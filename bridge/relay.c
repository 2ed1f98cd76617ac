/*  relay — the outbox relay actor (bridge_relay_actor in bridge.h).

    Loop: claim up to RELAY_BATCH committed, unpublished outbox rows, publish
    them, mark exactly the prefix the log acknowledged, repeat until the
    outbox is empty. Runs on a wake (a message on BRIDGE_OUTBOX_WAKE; all
    queued wakes are drained first; a wake within RELAY_GAP_MS of the last
    drain's start waits for the gap) or every BRIDGE_RELAY_IDLE_MS. On a
    failure it backs off (doubling up to RELAY_BACKOFF_MAX_MS) and reports
    GAUGE_BRIDGE_UP 0. On $TERM it drains once more, bounded by
    RELAY_TERM_DRAIN_MS, then exits.

    A row is marked only after the log acknowledged it; a crash between the
    two republishes it, which every consumer tolerates (idempotent apply). */
#include "bridgekit.h"
#include "store.h"

#define RELAY_BATCH             STORE_OUTBOX_MARK_MAX  //  rows per claim: marked with one UPDATE
#define RELAY_PUBLISH_MS        5000    //  wait for the log's acknowledgement
#define RELAY_ROUNDS            16      //  batches per drain before looking at the pipe
#define RELAY_BACKOFF_MIN_MS    100     //  first retry delay
#define RELAY_BACKOFF_MAX_MS    5000    //  cap of the retry delay
#define RELAY_TERM_DRAIN_MS     5000    //  bound of the last drain on $TERM
#define RELAY_COUNT_MS          250     //  between two counts of the rows left (the gauge)
//  Least time between two drains' starts while wakes come. Under load the
//  order actors wake the relay after every group commit, and each drain
//  (and the projection and collector batch it feeds) costs about the
//  same whatever its size: at 2,500 orders/s on MariaDB, 25 ms against 10
//  took coffee from 53-61 % CPU to 51-55 % and mariadbd from 84-92 % to
//  75-82 %, with the orders' p99 lower in five runs of six. An event then
//  waits up to 25 ms more under load; a wake after a quiet spell still
//  drains at once.
#define RELAY_GAP_MS            25

typedef struct {
    const config_t *cfg;        //  settings
    metrics_t *metrics;         //  gauges
    zsock_t *pipe;              //  actor pipe
    zsock_t *wake;              //  PULL bound at BRIDGE_OUTBOX_WAKE (may be NULL)
    zpoller_t *poller;          //  pipe + wake
    store_t *store;             //  own command store connection
    eventlog_t *producer;       //  own event log producer
    int backoff_ms;             //  current retry delay, 0 when healthy
    bool terminated;            //  $TERM seen
    int64_t next_count;         //  zclock_mono of the next count of the rows left
    bool count_due;             //  a drain ended without counting them
} relay_t;

//  Frees everything the relay holds.
static void
s_relay_destroy (relay_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    relay_t *self = *self_p;
    zpoller_destroy (&self->poller);
    zsock_destroy (&self->wake);
    eventlog_destroy (&self->producer);
    store_destroy (&self->store);
    free (self);
    *self_p = NULL;
}

//  Opens the store, the producer and the wake socket.
static relay_t *
s_relay_new (zsock_t *pipe, const bridge_args_t *args)
{
    relay_t *self = (relay_t *) zmalloc (sizeof (relay_t));
    self->cfg = args->cfg;
    self->metrics = args->metrics;
    self->pipe = pipe;
    char err [512] = "";
    self->store = store_open (self->cfg->store, err, sizeof err);
    if (!self->store) {
        log_error ("-", "relay: command store: %s", err);
        goto fail;
    }
    self->producer = eventlog_producer_new (self->cfg, err, sizeof err);
    if (!self->producer) {
        log_error ("-", "relay: event log: %s", err);
        goto fail;
    }
    self->wake = zsock_new (ZMQ_PULL);
    if (self->wake && zsock_bind (self->wake, "%s", BRIDGE_OUTBOX_WAKE) != 0) {
        //  Another relay in this process owns it; the idle timer still drains
        log_warn ("-", "relay: cannot bind %s, relying on the idle timer", BRIDGE_OUTBOX_WAKE);
        zsock_destroy (&self->wake);
    }
    self->poller = zpoller_new (pipe, NULL);
    if (!self->poller)
        goto fail;
    if (self->wake)
        zpoller_add (self->poller, self->wake);
    return self;
fail:
    s_relay_destroy (&self);
    return NULL;
}

//  Discards every queued wake message (one drain serves them all).
static void
s_wake_drain (relay_t *self)
{
    while (self->wake && (zsock_events (self->wake) & ZMQ_POLLIN)) {
        zmsg_t *msg = zmsg_recv (self->wake);
        if (!msg)
            break;
        zmsg_destroy (&msg);
    }
}

//  One claim → publish → mark round. Returns the rows published, or -1 on
//  a failure (nothing unacknowledged is marked).
static int
s_relay_round (relay_t *self, bool *more)
{
    *more = false;
    store_outbox_row_t *rows = NULL;
    size_t count = 0;
    if (store_outbox_claim (self->store, RELAY_BATCH, &rows, &count) != 0) {
        log_warn ("-", "relay: outbox claim failed");
        return -1;
    }
    if (count == 0) {
        store_outbox_release (self->store);
        store_outbox_rows_free (&rows, count);
        return 0;
    }
    eventlog_msg_t *msgs = (eventlog_msg_t *) calloc (count, sizeof (eventlog_msg_t));
    if (!msgs) {
        store_outbox_release (self->store);
        store_outbox_rows_free (&rows, count);
        return -1;
    }
    for (size_t i = 0; i < count; i++) {
        msgs [i].key = rows [i].key;
        msgs [i].payload = rows [i].payload ? rows [i].payload : "";
        msgs [i].len = strlen (msgs [i].payload);
    }
    int acked = eventlog_publish (self->producer, msgs, count, RELAY_PUBLISH_MS);
    free (msgs);
    int result;
    if (acked <= 0) {
        store_outbox_release (self->store);
        log_warn ("-", "relay: event log did not acknowledge %zu events", count);
        result = -1;
    }
    else {
        size_t n = (size_t) acked > count ? count : (size_t) acked;
        if (store_outbox_mark (self->store, rows, n, util_now_ms (self->cfg->clock_skew_ms)) != 0) {
            //  Published but not marked: they are published again later,
            //  which the consumers tolerate
            log_warn ("-", "relay: marking %zu outbox rows failed", n);
            result = -1;
        }
        else {
            metrics_gauge_add (self->metrics, GAUGE_OUTBOX_PUBLISHED, (int64_t) n);
            result = n < count ? -1 : (int) n;
            *more = n == count && count == RELAY_BATCH;
        }
    }
    store_outbox_rows_free (&rows, count);
    return result;
}

//  Publishes until the outbox is empty, a failure, RELAY_ROUNDS batches or
//  deadline (monotonic ms, 0 for none). Returns 1 if more is left, 0 when
//  empty, -1 on failure.
static int
s_relay_drain (relay_t *self, int64_t deadline)
{
    int result = 0;
    for (int round = 0; round < RELAY_ROUNDS; round++) {
        bool more = false;
        if (s_relay_round (self, &more) < 0) {
            result = -1;
            break;
        }
        if (!more)
            break;
        if (round == RELAY_ROUNDS - 1 || (deadline && zclock_mono () >= deadline)) {
            result = 1;
            break;
        }
    }
    //  The rows left, for the gauge: a COUNT, so at most every
    //  RELAY_COUNT_MS (under load the relay drains after every group
    //  commit); a drain that skipped it has the loop drain again in time.
    self->count_due = zclock_mono () < self->next_count;
    if (!self->count_due) {
        int64_t pending = 0;
        if (store_outbox_pending (self->store, &pending) == 0)
            metrics_gauge_set (self->metrics, GAUGE_OUTBOX_PENDING, pending);
        self->next_count = zclock_mono () + RELAY_COUNT_MS;
    }
    if (result < 0) {
        self->backoff_ms = bridgekit_backoff (self->backoff_ms, RELAY_BACKOFF_MIN_MS,
                                              RELAY_BACKOFF_MAX_MS);
        metrics_gauge_set (self->metrics, GAUGE_BRIDGE_UP, 0);
    }
    else {
        self->backoff_ms = 0;
        metrics_gauge_set (self->metrics, GAUGE_BRIDGE_UP, 1);
    }
    return result;
}

//  Handles one command from the pipe; only $TERM is known.
static void
s_relay_command (relay_t *self)
{
    if (bridgekit_pipe_term (self->pipe, "relay"))
        self->terminated = true;
}

//  The relay actor: see the top of this file.
void
bridge_relay_actor (zsock_t *pipe, void *args)
{
    util_thread_name ("relay");
    util_thread_background ();
    relay_t *self = s_relay_new (pipe, (const bridge_args_t *) args);
    if (!self) {
        bridgekit_start_failed (pipe, (const bridge_args_t *) args, GAUGE_BRIDGE_UP);
        return;
    }
    zsock_signal (pipe, 0);
    log_info ("-", "relay: started (%s event log)", self->cfg->bridge);

    int64_t next_drain = zclock_mono ();        //  drain once at start: crash leftovers
    int64_t drained_at = 0;                     //  when the last drain started
    while (!self->terminated) {
        int64_t wait = next_drain - zclock_mono ();
        if (wait < 0)
            wait = 0;
        zsock_t *which = (zsock_t *) zpoller_wait (self->poller, (int) wait);
        if (which == self->pipe) {
            s_relay_command (self);
            continue;
        }
        if (zpoller_terminated (self->poller)) {
            self->terminated = true;
            break;
        }
        bool woken = which == self->wake;
        if (woken)
            s_wake_drain (self);
        //  While backing off, wakes wait for the backoff timer
        if (woken && self->backoff_ms && zclock_mono () < next_drain)
            continue;
        //  A wake soon after a drain waits for the gap: under load each
        //  claim then takes the rows of several group commits, and the
        //  claim and the mark are a transaction each on the command store
        if (woken && zclock_mono () < drained_at + RELAY_GAP_MS) {
            if (next_drain > drained_at + RELAY_GAP_MS)
                next_drain = drained_at + RELAY_GAP_MS;
            continue;
        }
        if (!woken && zclock_mono () < next_drain)
            continue;
        drained_at = zclock_mono ();
        int rc = s_relay_drain (self, 0);
        if (rc > 0)
            next_drain = zclock_mono ();
        else
        if (rc < 0)
            next_drain = zclock_mono () + self->backoff_ms;
        else
            next_drain = zclock_mono () + BRIDGE_RELAY_IDLE_MS;
        if (self->count_due && next_drain > self->next_count)
            next_drain = self->next_count;
    }
    //  Last drain, bounded: what is left goes out after the next start
    int64_t deadline = zclock_mono () + RELAY_TERM_DRAIN_MS;
    while (zclock_mono () < deadline) {
        if (s_relay_drain (self, deadline) <= 0)
            break;
    }
    log_info ("-", "relay: stopped");
    s_relay_destroy (&self);
}
