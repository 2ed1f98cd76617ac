/*  order_actor — orders: order.create, order.get, health. After each
    committed order it wakes the outbox relay. See actor.h. */
#include "service.h"
#include "bridge.h"

//  How many wakes may wait for the relay; when full it is awake already.
#define ORDER_WAKE_HWM 16

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


//  order.create: cmd.customer_id and cmd.lines (repeated menus merged),
//  validated by the front; optional Idempotency-Key whose fingerprint is
//  the canonical body. A write: runs in the actor's group transaction; the
//  relay is woken once the group committed.
static int
s_order_create (void *state, const wire_request_t *req, store_reply_t *reply)
{
    self_t *self = (self_t *) state;
    store_idem_t idem = { req->idem, "POST /order", req->body ? req->body : "",
                          req->cmd.customer_id };
    store_auth_t auth;
    service_auth (req, &auth);
    int rc = store_order_create (self->store, req->cmd.customer_id, &auth, req->cmd.lines,
                                 req->cmd.line_count, *req->idem ? &idem : NULL,
                                 util_now_ms (self->args->cfg->clock_skew_ms), reply);
    if (rc == 0 && reply->result == STORE_RESULT_DONE)
        self->wake_pending = true;
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
