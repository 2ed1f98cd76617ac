/*  projection — the display projection sink (bridge_projection_actor).

    Consumes group BRIDGE_GROUP_DISPLAY on the shared sink loop (sink.h):
    the events of one turn are applied to the display store in one
    transaction, a display store batch (an order by its (orderNo, menuId)
    rows, a menu by its version), committed by the sink's flush, THEN their
    log positions are committed. A display store failure
    keeps the event and the loop retries it with capped backoff
    (GAUGE_PROJECTION_UP 0) without committing, so no event is lost; a
    redelivered event changes nothing (display_store_apply is keyed by
    (orderNo, menuId), display_store_apply_menu by version).

    After an apply it asks a display actor of this process to read the
    store again (display.refresh), which pushes the new snapshot to every
    HTTP worker: an order shows in the /display routes as soon as it is applied,
    not at the next timed refresh. Under a stream of events it asks at
    most once per PROJ_WAKE_MS, and once more when the stream pauses, so
    the last event is never left waiting for the timer. */
#include "sink.h"
#include "display_store.h"
#include "actor.h"

#define PROJ_POLL_MS            100     //  wait for an event before looking at the pipe
#define PROJ_ERROR_WAIT_MS      500     //  wait after an event-log error
#define PROJ_BACKOFF_MIN_MS     100     //  first retry delay
#define PROJ_BACKOFF_MAX_MS     5000    //  cap of the retry delay
//  Fewest ms between two display.refresh asks. Each refresh reads the whole
//  menu and the 7-day top 3 (an aggregate and a sort) and pushes them to
//  every HTTP worker; asking every 5 ms under a stream of orders cost
//  POST /order about 15 % of its throughput on two cores (bench/run.sh
//  order-sqlite: 1925 → 2230 orders/s), while an order still shows in
//  /display/best well inside the 50 ms target (docs/PERFORMANCE.md).
#define PROJ_WAKE_MS            10

typedef struct {
    metrics_t *metrics;         //  gauges
    display_store_t *display;   //  own display store connection
    zsock_t *display_wake;      //  DEALER to this process's display actors, or NULL
    bool batch_open;            //  a display store batch is open (this turn)
    bool broken;                //  an apply failed: the turn's batch is gone
    int64_t batch_applied;      //  events applied in the open batch
    bool batch_news;            //  the open batch changed something shown
    bool wake_owed;             //  applied since the last ask
    int64_t woke_at;            //  monotonic ms of the last ask
    uint64_t wake_seq;          //  seq of the last ask
} projection_t;

//  Frees everything the projection holds.
static void
s_projection_destroy (void **self_p)
{
    if (!self_p || !*self_p)
        return;
    projection_t *self = (projection_t *) *self_p;
    display_store_destroy (&self->display);
    zsock_destroy (&self->display_wake);
    free (self);
    *self_p = NULL;
}

//  Opens the display store and the wake socket.
static void *
s_projection_new (const bridge_args_t *args, char *err, size_t errlen)
{
    projection_t *self = (projection_t *) zmalloc (sizeof (projection_t));
    self->metrics = args->metrics;
    char why [512] = "";
    self->display = display_store_open (args->cfg->display_store, why, sizeof why);
    if (!self->display) {
        snprintf (err, errlen, "display store: %s", why);
        goto fail;
    }
    //  The display actors run here when this role serves display reads
    //  too (all); a display role elsewhere reads the store on its timer.
    if (config_runs_display (args->cfg) && args->cfg->display_actors > 0) {
        self->display_wake = zsock_new (ZMQ_DEALER);
        if (!self->display_wake) {
            snprintf (err, errlen, "cannot make the display wake socket");
            goto fail;
        }
        zsock_set_sndtimeo (self->display_wake, 0);
        zsock_set_rcvtimeo (self->display_wake, 0);
        zsock_set_linger (self->display_wake, 0);
        zsock_set_sndhwm (self->display_wake, 4);
        for (int i = 0; i < args->cfg->display_actors; i++) {
            char endpoint [128];
            wire_endpoint (ACTOR_POOL_DISPLAY, i, endpoint, sizeof endpoint);
            if (zsock_connect (self->display_wake, "%s", endpoint)) {
                snprintf (err, errlen, "cannot connect to %s", endpoint);
                goto fail;
            }
        }
    }
    return self;
fail:
    s_projection_destroy ((void **) &self);
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

//  The sink's tick: sends an owed wake (forced when the stream paused) and
//  polls again soon enough to send the next one.
static int
s_projection_tick (void *state, bool idle)
{
    projection_t *self = (projection_t *) state;
    s_wake_display (self, idle);
    return self->wake_owed ? PROJ_WAKE_MS : PROJ_POLL_MS;
}

//  Opens the turn's display store batch, unless it is open. 0 or -1.
static int
s_batch (projection_t *self)
{
    if (self->broken)
        return -1;                  //  the turn's batch is gone: nothing more in this turn
    if (self->batch_open)
        return 0;
    if (display_store_batch_begin (self->display) != 0) {
        self->broken = true;
        return -1;
    }
    self->batch_open = true;
    return 0;
}

//  Takes an apply's result; a refused apply rolled the batch back, and the
//  loop keeps the turn's events and retries them. Returns rc.
static int
s_applied (projection_t *self, int rc, bool applied, const char *key)
{
    if (rc != 0) {
        log_warn ("-", "projection: display store refused %s, will retry", key);
        self->batch_open = false;
        self->broken = true;
        return -1;
    }
    self->batch_applied++;
    self->batch_news = self->batch_news || applied;
    return 0;
}

//  Applies an order event to the display store, by (orderNo, menuId).
static int
s_apply_order (void *state, const event_t *ev, const eventlog_event_t *raw)
{
    projection_t *self = (projection_t *) state;
    if (s_batch (self) != 0)
        return -1;
    bool applied = false;
    int rc = display_store_apply (self->display, &ev->order, BRIDGE_GROUP_DISPLAY,
                                  raw->partition, raw->offset, &applied);
    return s_applied (self, rc, applied, ev->key);
}

//  Applies a menu event to the display store, by version.
static int
s_apply_menu (void *state, const event_t *ev, const eventlog_event_t *raw)
{
    projection_t *self = (projection_t *) state;
    if (s_batch (self) != 0)
        return -1;
    bool applied = false;
    int rc = display_store_apply_menu (self->display, &ev->menu, BRIDGE_GROUP_DISPLAY,
                                       raw->partition, raw->offset, &applied);
    return s_applied (self, rc, applied, ev->key);
}

//  The sink's flush: commits the turn's batch; counts its applies and owes
//  the display a wake when it changed something shown.
static int
s_projection_flush (void *state)
{
    projection_t *self = (projection_t *) state;
    int rc = self->broken ? -1 : 0;
    bool news = false;
    if (self->batch_open && display_store_batch_commit (self->display, &news) != 0) {
        log_warn ("-", "projection: display store commit failed, will retry");
        rc = -1;
    }
    if (rc == 0) {
        metrics_gauge_add (self->metrics, GAUGE_PROJECTION_APPLIED, self->batch_applied);
        self->wake_owed = self->wake_owed || self->batch_news || news;
    }
    self->batch_open = false;
    self->broken = false;
    self->batch_applied = 0;
    self->batch_news = false;
    return rc;
}

//  The kinds the projection takes.
static const sink_kind_t s_kinds [] = {
    { EVENT_KIND_ORDER, s_apply_order },
    { EVENT_KIND_MENU, s_apply_menu },
    { EVENT_KIND_COUNT, NULL }
};

//  The retry cap, the same for all settings.
static int
s_backoff_cap (const config_t *cfg)
{
    (void) cfg;
    return PROJ_BACKOFF_MAX_MS;
}

const sink_def_t sink_projection = {
    .name = "projection",
    .group = BRIDGE_GROUP_DISPLAY,
    .up = GAUGE_PROJECTION_UP,
    .lag = GAUGE_PROJECTION_LAG,
    .log_error_down = true,
    .poll_ms = PROJ_POLL_MS,
    .error_wait_ms = PROJ_ERROR_WAIT_MS,
    .backoff_min_ms = PROJ_BACKOFF_MIN_MS,
    .jitter = false,
    .kinds = s_kinds,
    .open = s_projection_new,
    .close = s_projection_destroy,
    .backoff_cap_ms = s_backoff_cap,
    .flush = s_projection_flush,
    .tick = s_projection_tick,
};

//  The projection actor: see the top of this file.
void
bridge_projection_actor (zsock_t *pipe, void *args)
{
    sink_run (pipe, (const bridge_args_t *) args, &sink_projection);
}
