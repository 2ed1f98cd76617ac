/*  display_actor — keeps the display snapshot: it reads the menus and the
    top 3 from the display store every cfg->display_refresh_ms, and at once
    when asked (display.refresh, sent by the projection after each apply),
    and PUBlishes each snapshot at wire_snapshot_endpoint(index), where
    every HTTP worker takes its own copy and answers the GET /display routes from it.
    It still answers display.menu and display.best itself, for a worker
    that has no snapshot yet. A failed refresh keeps the last snapshot. See
    actor.h. */
#include "service.h"
#include "display_store.h"

//  Size of GET /display/best.
#define DISPLAY_BEST_LIMIT 3

typedef struct {
    const actor_args_t *args;       //  settings, metrics, index
    display_store_t *store;         //  this thread's display store connection
    char *menu_json;                //  last good GET /display/menu body, or NULL
    char *best_json;                //  last good GET /display/best body, or NULL
    bool fresh;                     //  the last refresh worked
    zsock_t *publisher;             //  PUB at wire_snapshot_endpoint(index)
} self_t;


//  Renders the top menus as [{"menuId","menuNm","orderCnt"}]; NULL on OOM.
static char *
s_best_json (const store_count_t *counts, size_t count)
{
    cJSON *list = cJSON_CreateArray ();
    for (size_t i = 0; list && i < count; i++) {
        cJSON *item = cJSON_CreateObject ();
        if (!item
        ||  !cJSON_AddStringToObject (item, "menuId", counts [i].menu_id)
        ||  !cJSON_AddStringToObject (item, "menuNm", counts [i].menu_nm)
        ||  !cJSON_AddNumberToObject (item, "orderCnt", (double) counts [i].count)) {
            cJSON_Delete (item);
            cJSON_Delete (list);
            return NULL;
        }
        cJSON_AddItemToArray (list, item);
    }
    char *text = list ? cJSON_PrintUnformatted (list) : NULL;
    cJSON_Delete (list);
    return text;
}


//  Rebuilds the snapshot from the display store; keeps the old one on failure.
static void
s_refresh (void *state)
{
    self_t *self = (self_t *) state;
    int64_t stamp = zclock_usecs ();
    int64_t now = util_now_ms (self->args->cfg->clock_skew_ms);
    char *menus = NULL;
    char *best = NULL;
    store_count_t counts [DISPLAY_BEST_LIMIT];
    size_t count = 0;
    if (display_store_snapshot (self->store, now, DISPLAY_WINDOW_MS, DISPLAY_BEST_LIMIT,
                                &menus, counts, &count) != 0 || !menus
    ||  count > DISPLAY_BEST_LIMIT
    ||  !(best = s_best_json (counts, count))) {
        if (self->fresh)
            log_warn ("-", "display[%d]: snapshot refresh failed; serving the last one",
                      self->args->index);
        self->fresh = false;
        zstr_free (&menus);
        zstr_free (&best);
        return;
    }
    if (!self->fresh)
        log_info ("-", "display[%d]: snapshot refreshed", self->args->index);
    zstr_free (&self->menu_json);
    zstr_free (&self->best_json);
    self->menu_json = menus;
    self->best_json = best;
    self->fresh = true;
    //  Sent on every refresh, changed or not, so a worker that joined late
    //  has it within one period. A slow subscriber's copy is dropped by PUB,
    //  never waited for.
    zstr_sendm (self->publisher, "SNAP");
    zstr_sendfm (self->publisher, "%" PRId64, stamp);
    zstr_sendm (self->publisher, menus);
    zstr_send (self->publisher, best);
}


//  display.refresh: reads the store now and publishes (the projection
//  applied something).
static int
s_refresh_now (void *state, const wire_request_t *req, store_reply_t *reply)
{
    s_refresh (state);
    service_reply_text (reply, 200, "{}");
    return 0;
}


//  Answers from one snapshot text, or 503 when there never was one.
static int
s_reply_snapshot (const char *snapshot, store_reply_t *reply)
{
    if (!snapshot) {
        service_reply_error (reply, 503, "UNAVAILABLE", "display store not ready");
        return -1;
    }
    service_reply_text (reply, 200, snapshot);
    return 0;
}


//  display.menu: the displayed menus.
static int
s_menu (void *state, const wire_request_t *req, store_reply_t *reply)
{
    return s_reply_snapshot (((self_t *) state)->menu_json, reply);
}


//  display.best: the top menus of the last 7 days.
static int
s_best (void *state, const wire_request_t *req, store_reply_t *reply)
{
    return s_reply_snapshot (((self_t *) state)->best_json, reply);
}


//  health: up when the last refresh worked.
static int
s_health (void *state, const wire_request_t *req, store_reply_t *reply)
{
    self_t *self = (self_t *) state;
    service_reply_health (reply, self->fresh, "display store refresh failing");
    return self->fresh ? 0 : -1;
}

static const service_op_t s_ops [] = {
    { WIRE_OP_DISPLAY_MENU, s_menu },
    { WIRE_OP_DISPLAY_BEST, s_best },
    { WIRE_OP_DISPLAY_REFRESH, s_refresh_now },
    { WIRE_OP_HEALTH, s_health },
    { NULL, NULL }
};


//  Frees the actor's state.
static void
s_self_destroy (void **self_p)
{
    if (*self_p) {
        self_t *self = (self_t *) *self_p;
        display_store_destroy (&self->store);
        zsock_destroy (&self->publisher);
        zstr_free (&self->menu_json);
        zstr_free (&self->best_json);
        free (self);
        *self_p = NULL;
    }
}


//  Opens the display store and takes the first snapshot; NULL with why in
//  err.
static void *
s_self_new (const actor_args_t *args, service_def_t *def, char *err, size_t errlen)
{
    self_t *self = (self_t *) zmalloc (sizeof (self_t));
    if (!self) {
        snprintf (err, errlen, "out of memory");
        return NULL;
    }
    self->args = args;
    self->store = display_store_open (args->cfg->display_store, err, errlen);
    if (!self->store)
        goto err;
    char endpoint [128];
    wire_snapshot_endpoint (args->index, endpoint, sizeof endpoint);
    self->publisher = zsock_new (ZMQ_PUB);
    if (!self->publisher || zsock_bind (self->publisher, "%s", endpoint) != 0) {
        snprintf (err, errlen, "cannot bind %s", endpoint);
        goto err;
    }
    zsock_set_linger (self->publisher, 0);
    //  A first refresh that fails is not fatal: the tick retries and
    //  requests get 503 until it works.
    self->fresh = true;
    s_refresh (self);
    def->ops = s_ops;
    def->tick = s_refresh;
    def->tick_ms = args->cfg->display_refresh_ms > 0 ? args->cfg->display_refresh_ms : 1000;
    return self;
err:
    s_self_destroy ((void **) &self);
    return NULL;
}


//  The display actor: see actor.h.
void
display_actor (zsock_t *pipe, void *args)
{
    service_actor_run (pipe, (const actor_args_t *) args, ACTOR_POOL_DISPLAY, s_self_new,
                       s_self_destroy);
}
