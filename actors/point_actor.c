/*  point_actor — customers and their points: customer.create,
    customer.token, point.charge, point.get, point.save, health, and the
    sweep of expired points. See actor.h. (Old idempotency keys are the
    pruner's, in main.c.) */
#include "service.h"
#include <sodium.h>

//  Customers whose expired lots one sweep pass writes off, at most.
#define POINT_SWEEP_MAX 100

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
                            req->cmd.cursor, util_now_ms (self->args->cfg->clock_skew_ms), reply);
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


//  point.save: the admin grants cmd.amount points as SAVE, expiring after
//  cmd.exp_date ("" never), with cmd.remark. A write.
static int
s_point_save (void *state, const wire_request_t *req, store_reply_t *reply)
{
    self_t *self = (self_t *) state;
    if (req->cmd.auth != WIRE_AUTH_ADMIN) {
        service_reply_error (reply, 401, "UNAUTHORIZED", "Authorization: send Bearer <admin token>");
        return 0;
    }
    return store_point_save (self->store, req->cmd.customer_id, req->cmd.amount,
                             *req->cmd.exp_date? req->cmd.exp_date: NULL, req->cmd.remark,
                             util_now_ms (self->args->cfg->clock_skew_ms), reply);
}


//  The first actor's schedule: writes off points past their expiry date
//  every --expiry-sweep-ms, each lot once, whichever instance gets there
//  first.
static void
s_tick (void *state)
{
    self_t *self = (self_t *) state;
    int64_t now = util_now_ms (self->args->cfg->clock_skew_ms);
    int customers = POINT_SWEEP_MAX;
    int64_t points = 0;
    //  Pass after pass while a pass is full, within one tick's time
    for (int pass = 0; pass < 10 && customers == POINT_SWEEP_MAX; pass++) {
        if (store_expire_due (self->store, now, POINT_SWEEP_MAX, &customers, &points) != 0) {
            log_warn ("-", "point[%d]: writing off expired points failed; retry in %d ms",
                      self->args->index, self->args->cfg->expiry_sweep_ms);
            break;
        }
        if (customers > 0)
            log_info ("-", "point[%d]: wrote off %" PRId64 " expired points of %d customers",
                      self->args->index, points, customers);
    }
}

static const service_op_t s_writes [] = {
    { WIRE_OP_CUSTOMER_CREATE, s_customer_create },
    { WIRE_OP_CUSTOMER_TOKEN, s_customer_token },
    { WIRE_OP_POINT_CHARGE, s_point_charge },
    { WIRE_OP_POINT_SAVE, s_point_save },
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
    store_set_policy (self->store, &(store_policy_t) {
        args->cfg->charge_valid_days, args->cfg->welcome_points, args->cfg->welcome_valid_days,
        args->cfg->reward_percent, args->cfg->reward_valid_days });
    def->tick = args->index == 0 ? s_tick : NULL;
    def->tick_ms = args->cfg->expiry_sweep_ms;
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
