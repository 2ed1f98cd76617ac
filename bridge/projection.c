/*  projection — the display projection actor (bridge_projection_actor).

    Consumes group BRIDGE_GROUP_DISPLAY. For each event: decode it (a
    malformed event is logged and committed past, never retried), apply it
    to the display store in that store's one transaction (an order by its
    (orderNo, menuId) rows, a menu by its version), THEN commit the log
    position. A display store failure keeps the event and retries it
    with capped backoff (GAUGE_PROJECTION_UP 0) without committing, so no
    event is lost; a redelivered event changes nothing (display_store_apply
    is keyed by (orderNo, menuId)). A failed commit after the apply is
    logged and the event let go all the same (bridgekit_commit_held): the
    projection goes back to polling, which a Kafka consumer must do to get
    through a rebalance; the next commit covers the event, and if it comes
    again it changes nothing.

    After an apply it asks a display actor of this process to read the
    store again (display.refresh), which pushes the new snapshot to every
    HTTP worker: an order shows in the /display routes as soon as it is applied,
    not at the next timed refresh. Under a stream of events it asks at
    most once per PROJ_WAKE_MS, and once more when the stream pauses, so
    the last event is never left waiting for the timer. */
#include "bridgekit.h"
#include "display_store.h"
#include "actor.h"

#define PROJ_POLL_MS            100     //  wait for an event before looking at the pipe
#define PROJ_BACKOFF_MIN_MS     100     //  first retry delay
#define PROJ_BACKOFF_MAX_MS     5000    //  cap of the retry delay
#define PROJ_WAKE_MS            5       //  fewest ms between two display.refresh asks

typedef struct {
    const config_t *cfg;        //  settings
    metrics_t *metrics;         //  gauges
    zsock_t *pipe;              //  actor pipe
    display_store_t *display;   //  own display store connection
    eventlog_t *consumer;       //  consumer of BRIDGE_GROUP_DISPLAY
    eventlog_event_t held;      //  event being applied (offset 0 / payload NULL if none)
    bool holding;               //  held is set
    int backoff_ms;             //  current retry delay, 0 when healthy
    int64_t lag_at;             //  monotonic ms of the last lag refresh
    bool terminated;            //  $TERM seen
    zsock_t *display_wake;      //  DEALER to this process's display actors, or NULL
    bool wake_owed;             //  applied since the last ask
    int64_t woke_at;            //  monotonic ms of the last ask
    uint64_t wake_seq;          //  seq of the last ask
} projection_t;

//  Frees everything the projection holds.
static void
s_projection_destroy (projection_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    projection_t *self = *self_p;
    eventlog_event_reset (&self->held);
    eventlog_destroy (&self->consumer);
    display_store_destroy (&self->display);
    zsock_destroy (&self->display_wake);
    free (self);
    *self_p = NULL;
}

//  Opens the display store and the consumer.
static projection_t *
s_projection_new (zsock_t *pipe, const bridge_args_t *args)
{
    projection_t *self = (projection_t *) zmalloc (sizeof (projection_t));
    self->cfg = args->cfg;
    self->metrics = args->metrics;
    self->pipe = pipe;
    char err [512] = "";
    self->display = display_store_open (self->cfg->display_store, err, sizeof err);
    if (!self->display) {
        log_error ("-", "projection: display store: %s", err);
        goto fail;
    }
    self->consumer = eventlog_consumer_new (self->cfg, BRIDGE_GROUP_DISPLAY, err, sizeof err);
    if (!self->consumer) {
        log_error ("-", "projection: event log: %s", err);
        goto fail;
    }
    //  The display actors run here when this role serves display reads
    //  too (all); a display role elsewhere reads the store on its timer.
    if (config_runs_display (self->cfg) && self->cfg->display_actors > 0) {
        self->display_wake = zsock_new (ZMQ_DEALER);
        if (!self->display_wake)
            goto fail;
        zsock_set_sndtimeo (self->display_wake, 0);
        zsock_set_rcvtimeo (self->display_wake, 0);
        zsock_set_linger (self->display_wake, 0);
        zsock_set_sndhwm (self->display_wake, 4);
        for (int i = 0; i < self->cfg->display_actors; i++) {
            char endpoint [128];
            wire_endpoint (ACTOR_POOL_DISPLAY, i, endpoint, sizeof endpoint);
            if (zsock_connect (self->display_wake, "%s", endpoint))
                goto fail;
        }
    }
    return self;
fail:
    s_projection_destroy (&self);
    return NULL;
}

//  Asks one display actor (round robin) to refresh its snapshot now, when
//  an apply is owed one and the last ask is PROJ_WAKE_MS old (or force).
//  Never waits: a full queue means the actors are refreshing already.
//  Their answers are read and dropped.
static void
s_wake_display (projection_t *self, bool force)
{
    if (!self->display_wake)
        return;
    uint64_t seq;
    int status;
    char *body = NULL;
    while (wire_reply_recv (self->display_wake, &seq, &status, &body) == 0)
        zstr_free (&body);
    int64_t now = zclock_mono ();
    if (!self->wake_owed || (!force && now - self->woke_at < PROJ_WAKE_MS))
        return;
    wire_request_t req;
    memset (&req, 0, sizeof req);
    snprintf (req.rid, sizeof req.rid, "projection");
    snprintf (req.op, sizeof req.op, WIRE_OP_DISPLAY_REFRESH);
    req.seq = ++self->wake_seq;
    req.body = (char *) "";
    if (wire_request_send (self->display_wake, &req) == 0) {
        self->wake_owed = false;
        self->woke_at = now;
    }
}

//  Handles one command from the pipe; only $TERM is known.
static void
s_projection_command (projection_t *self)
{
    if (bridgekit_pipe_term (self->pipe, "projection"))
        self->terminated = true;
}

//  Applies the held event, then commits it. Returns 0 when done (the event
//  is let go), -1 to retry it.
static int
s_apply_held (projection_t *self)
{
    event_t ev;
    if (bridgekit_decode (&self->held, &ev, "projection") != 0) {
        bridgekit_commit_held (self->consumer, &self->held, &self->holding, "projection");
        return 0;
    }
    bool applied = false;
    int rc = ev.kind == EVENT_KIND_MENU
           ? display_store_apply_menu (self->display, &ev.menu, BRIDGE_GROUP_DISPLAY,
                                       self->held.partition, self->held.offset, &applied)
           : display_store_apply (self->display, &ev.order, BRIDGE_GROUP_DISPLAY,
                                  self->held.partition, self->held.offset, &applied);
    event_reset (&ev);
    if (rc != 0) {
        log_warn ("-", "projection: display store refused %s, will retry",
                  self->held.key ? self->held.key : "");
        return -1;
    }
    metrics_gauge_add (self->metrics, GAUGE_PROJECTION_APPLIED, 1);
    bridgekit_commit_held (self->consumer, &self->held, &self->holding, "projection");
    self->wake_owed = self->wake_owed || applied;
    s_wake_display (self, false);
    return 0;
}

//  The projection actor: see the top of this file.
void
bridge_projection_actor (zsock_t *pipe, void *args)
{
    projection_t *self = s_projection_new (pipe, (const bridge_args_t *) args);
    if (!self) {
        bridgekit_start_failed (pipe, (const bridge_args_t *) args, GAUGE_PROJECTION_UP);
        return;
    }
    zsock_signal (pipe, 0);
    metrics_gauge_set (self->metrics, GAUGE_PROJECTION_UP, 1);
    zpoller_t *poller = zpoller_new (pipe, NULL);
    while (!self->terminated && poller) {
        //  Backoff waits on the pipe, so $TERM is answered at once
        int wait = self->holding ? self->backoff_ms : 0;
        if (zpoller_wait (poller, wait) == pipe) {
            s_projection_command (self);
            continue;
        }
        if (zpoller_terminated (poller))
            break;
        if (!self->holding) {
            //  While a wake is owed, look again soon enough to send it.
            int rc = eventlog_poll (self->consumer, &self->held,
                                    self->wake_owed ? PROJ_WAKE_MS : PROJ_POLL_MS);
            if (rc < 0) {
                metrics_gauge_set (self->metrics, GAUGE_PROJECTION_UP, 0);
                if (zpoller_wait (poller, PROJ_BACKOFF_MAX_MS / 10) == pipe)
                    s_projection_command (self);
                continue;
            }
            self->holding = rc == 1;
            if (!self->holding)
                s_wake_display (self, true);   //  the stream paused
        }
        if (self->holding) {
            if (s_apply_held (self) == 0) {
                self->backoff_ms = 0;
                metrics_gauge_set (self->metrics, GAUGE_PROJECTION_UP, 1);
            }
            else {
                self->backoff_ms = bridgekit_backoff (self->backoff_ms, PROJ_BACKOFF_MIN_MS,
                                                      PROJ_BACKOFF_MAX_MS);
                metrics_gauge_set (self->metrics, GAUGE_PROJECTION_UP, 0);
            }
        }
        bridgekit_lag_refresh (self->consumer, self->metrics, GAUGE_PROJECTION_LAG,
                               &self->lag_at);
    }
    zpoller_destroy (&poller);
    s_projection_destroy (&self);
}
