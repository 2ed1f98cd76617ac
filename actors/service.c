/*  service — the request loop the point, order and display actors share.
    See service.h. */
#include "service.h"

//  Longest the loop sleeps in one poll when no tick is due sooner, so every
//  wait has a timeout even when nothing happens.
#define SERVICE_IDLE_MS 1000

struct _service_t {
    service_def_t def;              //  pool, index, handler table, state, tick
    zsock_t *router;                //  bound at wire_endpoint(pool, index)
    char endpoint [128];            //  that endpoint, for logs
};


//  Binds the ROUTER of an actor.
service_t *
service_new (const service_def_t *def)
{
    assert (def && def->pool && def->ops);
    assert (!def->tick || def->tick_ms > 0);
    service_t *self = (service_t *) zmalloc (sizeof (service_t));
    if (!self)
        return NULL;
    self->def = *def;
    wire_endpoint (def->pool, def->index, self->endpoint, sizeof self->endpoint);
    self->router = zsock_new (ZMQ_ROUTER);
    if (!self->router)
        goto err;
    //  A reply to a caller that is gone is dropped, never blocks the actor.
    zsock_set_sndtimeo (self->router, 0);
    zsock_set_linger (self->router, 0);
    if (zsock_bind (self->router, "%s", self->endpoint) != 0) {
        log_error ("-", "%s[%d]: cannot bind %s: %s", def->pool, def->index,
                   self->endpoint, zmq_strerror (zmq_errno ()));
        goto err;
    }
    return self;
err:
    service_destroy (&self);
    return NULL;
}


//  Closes the ROUTER and frees the service.
void
service_destroy (service_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        service_t *self = *self_p;
        zsock_destroy (&self->router);
        free (self);
        *self_p = NULL;
    }
}


//  Reports a failed start to whoever waits on the pipe.
void
service_start_failed (zsock_t *pipe, const char *pool, int index, const char *why)
{
    log_error ("-", "%s[%d]: actor not started: %s", pool, index, why ? why : "?");
    zsock_signal (pipe, 1);
}


//  Handles one command from the pipe. Returns -1 on $TERM, else 0.
static int
s_pipe_command (service_t *self, zsock_t *pipe)
{
    zmsg_t *msg = zmsg_recv (pipe);
    if (!msg)
        return 0;               //  interrupted; $TERM still to come
    char *command = zmsg_popstr (msg);
    int rc = 0;
    if (command && streq (command, "$TERM"))
        rc = -1;
    else
        log_warn ("-", "%s[%d]: unknown pipe command %s", self->def.pool,
                  self->def.index, command ? command : "(empty)");
    zstr_free (&command);
    zmsg_destroy (&msg);        //  drains frames we do not use
    return rc;
}


//  Finds the handler of op in the actor's table, or NULL.
static service_handler_fn *
s_lookup (service_t *self, const char *op)
{
    for (const service_op_t *entry = self->def.ops; entry->op; entry++)
        if (streq (entry->op, op))
            return entry->handler;
    return NULL;
}


//  Receives one request from the ROUTER, runs its handler and answers it.
static void
s_serve_request (service_t *self)
{
    zframe_t *identity = NULL;
    wire_request_t req;
    memset (&req, 0, sizeof req);
    if (wire_request_recv (self->router, &identity, &req) != 0) {
        //  Malformed frames were drained by wire_request_recv; no caller
        //  can be answered.
        zframe_destroy (&identity);
        return;
    }
    int64_t started = zclock_usecs ();
    store_reply_t reply = { 0, NULL };
    int rc = 0;
    service_handler_fn *handler = s_lookup (self, req.op);
    if (handler)
        rc = handler (self->def.state, &req, &reply);
    else {
        log_warn (req.rid, "%s[%d]: op '%s' not served by this pool (front bug)",
                  self->def.pool, self->def.index, req.op);
        service_reply_error (&reply, 404, "NOT_FOUND", "unknown operation");
    }
    if (rc != 0)
        log_warn (req.rid, "%s[%d] %s: store unavailable, answered %d", self->def.pool,
                  self->def.index, req.op, reply.status);
    if (!reply.body || reply.status < 100 || reply.status > 599) {
        //  A handler that left no answer is a bug; the caller still gets one.
        log_error (req.rid, "%s[%d] %s: handler gave no reply (status %d)",
                   self->def.pool, self->def.index, req.op, reply.status);
        store_reply_reset (&reply);
        service_reply_error (&reply, 500, "INTERNAL", "internal error");
    }
    if (wire_reply_send (self->router, &identity, req.seq, reply.status, reply.body) != 0)
        log_warn (req.rid, "%s[%d] %s: reply could not be sent (caller gone)",
                  self->def.pool, self->def.index, req.op);
    log_debug (req.rid, "%s[%d] %s %d %.1fms", self->def.pool, self->def.index, req.op,
               reply.status, (double) (zclock_usecs () - started) / 1000.0);
    zframe_destroy (&identity);
    store_reply_reset (&reply);
    wire_request_reset (&req);
}


//  Serves requests and runs the tick until $TERM.
void
service_run (service_t *self, zsock_t *pipe)
{
    assert (self);
    zpoller_t *poller = zpoller_new (pipe, self->router, NULL);
    if (!poller) {
        service_start_failed (pipe, self->def.pool, self->def.index, "no poller");
        return;
    }
    //  Only $TERM ends an actor: main decides when to stop, not SIGINT.
    zpoller_set_nonstop (poller, true);
    zsock_signal (pipe, 0);
    log_debug ("-", "%s[%d]: serving %s", self->def.pool, self->def.index, self->endpoint);

    int64_t next_tick = zclock_mono () + self->def.tick_ms;
    while (true) {
        int timeout = SERVICE_IDLE_MS;
        if (self->def.tick) {
            int64_t left = next_tick - zclock_mono ();
            timeout = left < 0 ? 0 : left < timeout ? (int) left : timeout;
        }
        void *which = zpoller_wait (poller, timeout);
        if (which == pipe) {
            if (s_pipe_command (self, pipe) != 0)
                break;
        }
        else
        if (which == self->router)
            s_serve_request (self);
        //  Checked after every wake, so a busy actor still ticks on time.
        if (self->def.tick && zclock_mono () >= next_tick) {
            self->def.tick (self->def.state);
            next_tick = zclock_mono () + self->def.tick_ms;
        }
    }
    zpoller_destroy (&poller);
    log_debug ("-", "%s[%d]: stopped", self->def.pool, self->def.index);
}


//  Runs an actor from its start to $TERM around the state it builds.
void
service_actor_run (zsock_t *pipe, const actor_args_t *args, const char *pool,
                   service_state_new_fn *state_new, service_state_destroy_fn *state_destroy)
{
    assert (args && args->cfg && pool && state_new && state_destroy);
    char err [256] = "";
    service_def_t def = { .pool = pool, .index = args->index };
    void *state = state_new (args, &def, err, sizeof err);
    if (!state) {
        service_start_failed (pipe, pool, args->index, err);
        return;
    }
    def.state = state;
    service_t *self = service_new (&def);
    if (!self) {
        state_destroy (&state);
        service_start_failed (pipe, pool, args->index, "cannot bind its endpoint");
        return;
    }
    service_run (self, pipe);
    service_destroy (&self);
    state_destroy (&state);
}


//  Fills an error reply.
void
service_reply_error (store_reply_t *reply, int status, const char *code, const char *message)
{
    reply->status = status;
    zstr_free (&reply->body);
    reply->body = util_error_json (code, message);
}


//  Fills a reply with a copy of a JSON text.
void
service_reply_text (store_reply_t *reply, int status, const char *body)
{
    reply->status = status;
    zstr_free (&reply->body);
    reply->body = strdup (body);
}


//  Parses the request body as a JSON object.
cJSON *
service_body_object (const wire_request_t *req, store_reply_t *reply)
{
    cJSON *json = NULL;
    if (req->body && *req->body)
        json = cJSON_Parse (req->body);
    if (!cJSON_IsObject (json)) {
        cJSON_Delete (json);
        service_reply_error (reply, 400, "INVALID_INPUT", "request body must be a JSON object");
        return NULL;
    }
    return json;
}


//  Reads a required, non-empty string member.
const char *
service_body_string (const cJSON *obj, const char *name, size_t max_len, store_reply_t *reply)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive (obj, name);
    const char *value = cJSON_IsString (item) ? item->valuestring : NULL;
    if (!value || !*value || strlen (value) >= max_len) {
        char message [160];
        snprintf (message, sizeof message, "%s must be a non-empty string shorter than %zu bytes",
                  name, max_len);
        service_reply_error (reply, 400, "INVALID_INPUT", message);
        return NULL;
    }
    return value;
}


//  Reads a required whole-number member within [min, max].
int
service_body_int64 (const cJSON *obj, const char *name, int64_t min, int64_t max,
                    int64_t *value, store_reply_t *reply)
{
    int64_t number = 0;
    if (util_json_int64 (cJSON_GetObjectItemCaseSensitive (obj, name), &number) != 0
    ||  number < min || number > max) {
        char message [160];
        snprintf (message, sizeof message, "%s must be a whole number from %" PRId64
                  " to %" PRId64, name, min, max);
        service_reply_error (reply, 400, "INVALID_INPUT", message);
        return -1;
    }
    *value = number;
    return 0;
}


//  Builds the health answer.
void
service_reply_health (store_reply_t *reply, bool up, const char *why)
{
    if (up) {
        service_reply_text (reply, 200, "{\"status\":\"UP\"}");
        return;
    }
    cJSON *json = cJSON_CreateObject ();
    cJSON_AddStringToObject (json, "code", "UNAVAILABLE");
    cJSON_AddStringToObject (json, "message", why ? why : "unavailable");
    cJSON_AddStringToObject (json, "status", "DOWN");
    reply->status = 503;
    zstr_free (&reply->body);
    reply->body = cJSON_PrintUnformatted (json);
    cJSON_Delete (json);
}
