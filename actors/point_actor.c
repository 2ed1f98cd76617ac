/*  point_actor — customers and their points: customer.create, point.charge,
    point.get, health. See actor.h. */
#include "service.h"
#include <sodium.h>

//  How often the first point actor drops finished idempotency keys older
//  than STORE_IDEM_KEEP_MS.
#define POINT_PURGE_MS (60 * 1000)

typedef struct {
    const actor_args_t *args;       //  settings, metrics, index
    store_t *store;                 //  this thread's command store connection
} self_t;


//  customer.create: cmd.name, validated by the front; the new customer's
//  first token is drawn here and handed out once. A write: runs in the
//  actor's group transaction.
static int
s_customer_create (void *state, const wire_request_t *req, store_reply_t *reply)
{
    self_t *self = (self_t *) state;
    char token [TOKEN_TEXT_MAX];
    if (token_new (token) != 0) {
        service_reply_error (reply, 503, "UNAVAILABLE", "no randomness for a token; try again");
        return 0;
    }
    int rc = store_customer_create (self->store, req->cmd.name, token,
                                    util_now_ms (self->args->cfg->clock_skew_ms), reply);
    sodium_memzero (token, sizeof token);
    return rc;
}


//  customer.token: a new token for cmd.customer_id, replacing the one it
//  holds; the request carries that one or the admin's. A write.
static int
s_customer_token (void *state, const wire_request_t *req, store_reply_t *reply)
{
    self_t *self = (self_t *) state;
    char token [TOKEN_TEXT_MAX];
    if (token_new (token) != 0) {
        service_reply_error (reply, 503, "UNAVAILABLE", "no randomness for a token; try again");
        return 0;
    }
    store_auth_t auth;
    service_auth (req, &auth);
    int rc = store_token_issue (self->store, req->cmd.customer_id, &auth, token,
                                util_now_ms (self->args->cfg->clock_skew_ms), reply);
    sodium_memzero (token, sizeof token);
    return rc;
}


//  point.charge: cmd.customer_id and cmd.amount, validated by the front;
//  optional Idempotency-Key whose fingerprint is the canonical body. A
//  write: runs in the actor's group transaction.
static int
s_point_charge (void *state, const wire_request_t *req, store_reply_t *reply)
{
    self_t *self = (self_t *) state;
    store_idem_t idem = { req->idem, "POST /point", req->body ? req->body : "",
                          req->cmd.customer_id };
    store_auth_t auth;
    service_auth (req, &auth);
    return store_charge (self->store, req->cmd.customer_id, req->cmd.amount, &auth,
                         *req->idem ? &idem : NULL,
                         util_now_ms (self->args->cfg->clock_skew_ms), reply);
}


//  point.get: cmd.customer_id.
static int
s_point_get (void *state, const wire_request_t *req, store_reply_t *reply)
{
    self_t *self = (self_t *) state;
    if (!*req->cmd.customer_id) {
        service_reply_error (reply, 400, "INVALID_INPUT", "customerId is required");
        return 0;
    }
    store_auth_t auth;
    service_auth (req, &auth);
    return store_point_get (self->store, req->cmd.customer_id, &auth, req->cmd.limit,
                            req->cmd.cursor, reply);
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


//  Drops old idempotency keys (first actor of the pool only).
static void
s_purge (void *state)
{
    self_t *self = (self_t *) state;
    int64_t now = util_now_ms (self->args->cfg->clock_skew_ms);
    if (store_idem_purge (self->store, now - self->args->cfg->idem_retention_s * 1000) != 0)
        log_warn ("-", "point[%d]: purging idempotency keys failed; retry in %ds",
                  self->args->index, POINT_PURGE_MS / 1000);
}

static const service_op_t s_writes [] = {
    { WIRE_OP_CUSTOMER_CREATE, s_customer_create },
    { WIRE_OP_CUSTOMER_TOKEN, s_customer_token },
    { WIRE_OP_POINT_CHARGE, s_point_charge },
    { NULL, NULL }
};

static const service_op_t s_ops [] = {
    { WIRE_OP_POINT_GET, s_point_get },
    { WIRE_OP_HEALTH, s_health },
    { NULL, NULL }
};


//  Frees the actor's state.
static void
s_self_destroy (void **self_p)
{
    if (*self_p) {
        self_t *self = (self_t *) *self_p;
        store_destroy (&self->store);
        free (self);
        *self_p = NULL;
    }
}


//  Opens the store; NULL with why in err.
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
    def->ops = s_ops;
    def->writes = s_writes;
    def->store = self->store;
    def->tick = args->index == 0 ? s_purge : NULL;
    def->tick_ms = POINT_PURGE_MS;
    return self;
err:
    s_self_destroy ((void **) &self);
    return NULL;
}


//  The point actor: see actor.h.
void
point_actor (zsock_t *pipe, void *args)
{
    service_actor_run (pipe, (const actor_args_t *) args, ACTOR_POOL_POINT, s_self_new,
                       s_self_destroy);
}
