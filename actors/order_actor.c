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
} self_t;


//  Reads menuList into lines. Returns 0, or -1 with reply set to 400.
static int
s_parse_lines (const cJSON *body, event_line_t *lines, size_t *line_count,
               store_reply_t *reply)
{
    const cJSON *list = cJSON_GetObjectItemCaseSensitive (body, "menuList");
    int size = cJSON_IsArray (list) ? cJSON_GetArraySize (list) : 0;
    if (size < 1 || size > STORE_LINES_MAX) {
        char message [120];
        snprintf (message, sizeof message, "menuList must hold 1 to %d entries",
                  STORE_LINES_MAX);
        service_reply_error (reply, 400, "INVALID_INPUT", message);
        return -1;
    }
    size_t count = 0;
    const cJSON *entry;
    cJSON_ArrayForEach (entry, list) {
        if (!cJSON_IsObject (entry)) {
            service_reply_error (reply, 400, "INVALID_INPUT", "menuList entries must be objects");
            return -1;
        }
        const char *menu_id = service_body_string (entry, "menuId", EVENT_ID_MAX, reply);
        if (!menu_id
        ||  service_body_int64 (entry, "qy", 1, STORE_QY_MAX, &lines [count].qy, reply) != 0)
            return -1;
        snprintf (lines [count].menu_id, sizeof lines [count].menu_id, "%s", menu_id);
        count++;
    }
    *line_count = count;
    return 0;
}


//  Tells the relay a new outbox row is there, without ever waiting.
static void
s_wake_relay (self_t *self, const char *rid)
{
    if (zmq_send (zsock_resolve (self->wake), "", 0, ZMQ_DONTWAIT) == -1)
        log_debug (rid, "order[%d]: relay wake dropped (%s)", self->args->index,
                   zmq_strerror (zmq_errno ()));
}


//  order.create: body {"customerId","menuList":[{"menuId","qy"}]}, optional
//  Idempotency-Key.
static int
s_order_create (void *state, const wire_request_t *req, store_reply_t *reply)
{
    self_t *self = (self_t *) state;
    cJSON *body = service_body_object (req, reply);
    if (!body)
        return 0;
    int rc = 0;
    event_line_t lines [STORE_LINES_MAX];
    size_t line_count = 0;
    const char *customer_id = service_body_string (body, "customerId", COFFEE_ID_MAX, reply);
    if (customer_id && s_parse_lines (body, lines, &line_count, reply) == 0) {
        store_idem_t idem = { req->idem, "POST /order", req->body };
        rc = store_order_create (self->store, customer_id, lines, line_count,
                                 *req->idem ? &idem : NULL,
                                 util_now_ms (self->args->cfg->clock_skew_ms), reply);
        //  A replayed 200 wakes the relay for nothing, which is harmless.
        if (rc == 0 && reply->status == 200)
            s_wake_relay (self, req->rid);
    }
    cJSON_Delete (body);
    return rc;
}


//  order.get: arg is the orderNo.
static int
s_order_get (void *state, const wire_request_t *req, store_reply_t *reply)
{
    self_t *self = (self_t *) state;
    if (!*req->cmd.order_no) {
        service_reply_error (reply, 400, "INVALID_INPUT", "orderNo is required");
        return 0;
    }
    return store_order_get (self->store, req->cmd.order_no, reply);
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

static const service_op_t s_ops [] = {
    { WIRE_OP_ORDER_CREATE, s_order_create },
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
