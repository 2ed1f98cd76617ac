/*  order_actor — orders: order.create, order.get, health; and the menus
    the command store owns: menu.create, menu.patch, menu.list. After each
    committed order or menu change it wakes the outbox relay. See actor.h. */
#include "service.h"
#include "bridge.h"

//  How many wakes may wait for the relay; when full it is awake already.
#define ORDER_WAKE_HWM 16
//  The SQLite page cache of an order actor, in KiB (see s_self_new).
#define ORDER_CACHE_KIB 2048

//  A group's orders all find a number in what the store holds as the
//  group begins (store_numbers_want).
_Static_assert (SERVICE_BATCH_MAX <= STORE_GROUP_ORDERS_MAX,
                "a group places more orders than a store holds numbers for");

typedef struct {
    const actor_args_t *args;       //  settings, metrics, index
    store_t *store;                 //  this thread's command store connection
    zsock_t *wake;                  //  PUSH to BRIDGE_OUTBOX_WAKE, never blocks
    bool wake_pending;              //  the open group holds a new order
} self_t;


//  Tells the relay a new outbox row is there, without ever waiting.
static void
s_wake_relay (self_t *self, const char *rid)
{
    if (zmq_send (zsock_resolve (self->wake), "", 0, ZMQ_DONTWAIT) == -1)
        log_debug (rid, "order[%d]: relay wake dropped (%s)", self->args->index,
                   zmq_strerror (zmq_errno ()));
}


//  order.create, the orders of one group at once (store_orders_create):
//  cmd.customer_id and cmd.lines (repeated menus merged), validated by the
//  front; an optional Idempotency-Key whose fingerprint is the canonical
//  body. Writes: they run in the actor's group transaction, and the relay
//  is woken once the group committed.
static void
s_order_create_batch (void *state, const wire_request_t *const *reqs,
                      store_reply_t *const *replies, int *rcs, size_t count)
{
    self_t *self = (self_t *) state;
    store_order_req_t orders [SERVICE_BATCH_MAX];
    store_idem_t idems [SERVICE_BATCH_MAX];
    store_auth_t auths [SERVICE_BATCH_MAX];
    assert (count <= SERVICE_BATCH_MAX);
    for (size_t i = 0; i < count; i++) {
        const wire_request_t *req = reqs [i];
        idems [i] = (store_idem_t) { req->idem, "POST /order", req->body ? req->body : "",
                                     req->cmd.customer_id };
        service_auth (req, &auths [i]);
        orders [i] = (store_order_req_t) {
            .customer_id = req->cmd.customer_id, .auth = &auths [i], .lines = req->cmd.lines,
            .line_count = req->cmd.line_count, .idem = *req->idem ? &idems [i] : NULL,
            .reply = replies [i], .rc = 0 };
    }
    store_orders_create (self->store, orders, count,
                         util_now_ms (self->args->cfg->clock_skew_ms));
    for (size_t i = 0; i < count; i++) {
        rcs [i] = orders [i].rc;
        if (rcs [i] == 0 && replies [i]->result == STORE_RESULT_DONE)
            self->wake_pending = true;
    }
}


//  order.create alone: the service runs the writes of order.create through
//  s_order_create_batch (def->batch); its table entry names this one.
static int
s_order_create (void *state, const wire_request_t *req, store_reply_t *reply)
{
    int rc = 0;
    s_order_create_batch (state, &req, &reply, &rc, 1);
    return rc;
}


//  After a group: wakes the relay when it committed an order.
static void
s_group_done (void *state, bool committed)
{
    self_t *self = (self_t *) state;
    if (committed && self->wake_pending)
        s_wake_relay (self, "-");
    self->wake_pending = false;
}


//  order.get: cmd.order_no.
static int
s_order_get (void *state, const wire_request_t *req, store_reply_t *reply)
{
    self_t *self = (self_t *) state;
    if (!*req->cmd.order_no) {
        service_reply_error (reply, 400, "INVALID_INPUT", "orderNo is required");
        return 0;
    }
    store_auth_t auth;
    service_auth (req, &auth);
    return store_order_get (self->store, req->cmd.order_no, &auth, reply);
}


//  The store's form of a menu body's fields.
static void
s_menu_change (const wire_cmd_t *cmd, store_menu_change_t *change)
{
    memset (change, 0, sizeof *change);
    change->has_name = (cmd->menu_fields & WIRE_MENU_NAME) != 0;
    snprintf (change->name, sizeof change->name, "%s", cmd->name);
    change->has_price = (cmd->menu_fields & WIRE_MENU_PRICE) != 0;
    change->price = cmd->menu_price;
    change->has_shown = (cmd->menu_fields & WIRE_MENU_USE_YN) != 0;
    change->shown = cmd->menu_shown;
}


//  menu.create: cmd.name, cmd.menu_price, cmd.menu_shown as the front
//  validated them. Its own transaction (admin changes are rare: no group);
//  the relay is woken once it committed.
static int
s_menu_create (void *state, const wire_request_t *req, store_reply_t *reply)
{
    self_t *self = (self_t *) state;
    store_menu_change_t change;
    s_menu_change (&req->cmd, &change);
    store_set_deadline (self->store, req->deadline_ms);     //  lock waits end by it
    int rc = store_menu_create (self->store, &change,
                                util_now_ms (self->args->cfg->clock_skew_ms), reply);
    store_set_deadline (self->store, 0);
    if (rc == 0 && reply->result == STORE_RESULT_DONE)
        s_wake_relay (self, req->rid);
    return rc;
}


//  menu.patch: cmd.menu_id and the fields given.
static int
s_menu_patch (void *state, const wire_request_t *req, store_reply_t *reply)
{
    self_t *self = (self_t *) state;
    store_menu_change_t change;
    s_menu_change (&req->cmd, &change);
    store_set_deadline (self->store, req->deadline_ms);
    int rc = store_menu_patch (self->store, req->cmd.menu_id, &change,
                               util_now_ms (self->args->cfg->clock_skew_ms), reply);
    store_set_deadline (self->store, 0);
    if (rc == 0 && reply->result == STORE_RESULT_DONE)
        s_wake_relay (self, req->rid);
    return rc;
}


//  menu.list: every menu with its version.
static int
s_menu_list (void *state, const wire_request_t *req, store_reply_t *reply)
{
    self_t *self = (self_t *) state;
    (void) req;
    return store_menu_list (self->store, reply);
}


//  health: the command store answers.
static int
s_health (void *state, const wire_request_t *req, store_reply_t *reply)
{
    self_t *self = (self_t *) state;
    bool up = store_ping (self->store) == DB_OK;
    service_reply_health (reply, up, "command store unreachable");
    return up ? 0 : -1;
}

static const service_op_t s_writes [] = {
    { WIRE_OP_ORDER_CREATE, s_order_create },
    { NULL, NULL }
};

static const service_op_t s_ops [] = {
    { WIRE_OP_ORDER_GET, s_order_get },
    { WIRE_OP_MENU_CREATE, s_menu_create },
    { WIRE_OP_MENU_PATCH, s_menu_patch },
    { WIRE_OP_MENU_LIST, s_menu_list },
    { WIRE_OP_HEALTH, s_health },
    { NULL, NULL }
};


//  Frees the actor's state.
static void
s_self_destroy (void **self_p)
{
    if (*self_p) {
        self_t *self = (self_t *) *self_p;
        zsock_destroy (&self->wake);
        store_destroy (&self->store);
        free (self);
        *self_p = NULL;
    }
}


//  Opens the store and connects the wake socket; NULL with why in err.
static void *
s_self_new (const actor_args_t *args, service_def_t *def, char *err, size_t errlen)
{
    self_t *self = (self_t *) zmalloc (sizeof (self_t));
    if (!self) {
        snprintf (err, errlen, "out of memory");
        return NULL;
    }
    self->args = args;
    self->store = store_open (args->cfg->store, err, errlen);
    if (!self->store)
        goto err;
    //  A group of orders touches a few hundred pages; in the 256 KiB every
    //  SQLite connection opens with, a group evicted its own pages and read
    //  them back (pread was a fifth of the order actor's time).
    if (db_set_cache (store_db (self->store), ORDER_CACHE_KIB) != DB_OK) {
        snprintf (err, errlen, "cannot size the store's page cache: %s",
                  db_errmsg (store_db (self->store)));
        goto err;
    }
    store_set_policy (self->store, &(store_policy_t) {
        args->cfg->charge_valid_days, args->cfg->welcome_points, args->cfg->welcome_valid_days,
        args->cfg->reward_percent, args->cfg->reward_valid_days });
    store_numbers_want (self->store);
    self->wake = zsock_new (ZMQ_PUSH);
    if (!self->wake) {
        snprintf (err, errlen, "cannot create the relay wake socket");
        goto err;
    }
    zsock_set_sndhwm (self->wake, ORDER_WAKE_HWM);
    zsock_set_sndtimeo (self->wake, 0);
    zsock_set_linger (self->wake, 0);
    //  inproc connect works before the relay binds (ZeroMQ 4).
    if (zsock_connect (self->wake, "%s", BRIDGE_OUTBOX_WAKE) != 0) {
        snprintf (err, errlen, "cannot connect %s", BRIDGE_OUTBOX_WAKE);
        goto err;
    }
    def->ops = s_ops;
    def->writes = s_writes;
    def->store = self->store;
    def->group_done = s_group_done;
    def->batch_op = WIRE_OP_ORDER_CREATE;
    def->batch = s_order_create_batch;
    return self;
err:
    s_self_destroy ((void **) &self);
    return NULL;
}


//  The order actor: see actor.h.
void
order_actor (zsock_t *pipe, void *args)
{
    service_actor_run (pipe, (const actor_args_t *) args, ACTOR_POOL_ORDER, s_self_new,
                       s_self_destroy);
}
