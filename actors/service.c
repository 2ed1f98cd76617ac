/*  service — the request loop the point, order and display actors share.
    See service.h. */
#include "service.h"
#include "answer.h"

//  Longest the loop sleeps in one poll when no tick is due sooner, so every
//  wait has a timeout even when nothing happens.
#define SERVICE_IDLE_MS 1000

//  One request taken from the ROUTER, until it is answered.
typedef struct {
    zframe_t *identity;             //  the caller's peer frame (consumed by the answer)
    wire_request_t req;             //  the request
    store_reply_t reply;            //  its answer
    int64_t started;                //  zclock_usecs when taken, for the log line
} s_item_t;

struct _service_t {
    service_def_t def;              //  pool, index, handler table, state, tick
    zsock_t *router;                //  bound at wire_endpoint(pool, index)
    char endpoint [128];            //  that endpoint, for logs
    s_item_t *batch;                //  SERVICE_BATCH_MAX requests taken in one go
    size_t *writes;                 //  indexes into batch of the grouped writes
    bool down;                      //  the last health check failed (counted in the gauge)
    int64_t next_check;             //  zclock_mono of the next health check
};


//  Binds the ROUTER of an actor.
service_t *
service_new (const service_def_t *def)
{
    assert (def && def->pool && def->ops);
    assert (!def->writes || def->store);
    assert (!def->tick || def->tick_ms > 0);
    service_t *self = (service_t *) zmalloc (sizeof (service_t));
    if (!self)
        return NULL;
    self->def = *def;
    self->batch = (s_item_t *) calloc (SERVICE_BATCH_MAX, sizeof (s_item_t));
    self->writes = (size_t *) calloc (SERVICE_BATCH_MAX, sizeof (size_t));
    if (!self->batch || !self->writes)
        goto err;
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
        free (self->batch);
        free (self->writes);
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


//  Finds the entry of op in the actor's tables, or NULL; *write tells
//  whether it is a grouped write.
static const service_op_t *
s_lookup (service_t *self, const char *op, bool *write)
{
    *write = false;
    for (const service_op_t *entry = self->def.ops; entry->op; entry++)
        if (streq (entry->op, op))
            return entry;
    *write = true;
    for (const service_op_t *entry = self->def.writes; entry && entry->op; entry++)
        if (streq (entry->op, op))
            return entry;
    return NULL;
}


//  The last moment a request may start (zclock_mono): its deadline less
//  the time its answer needs; INT64_MAX when it has no deadline.
static int64_t
s_cutoff (const wire_request_t *req)
{
    return req->deadline_ms > 0 ? req->deadline_ms - SERVICE_MARGIN_MS : INT64_MAX;
}


//  Sends an item's answer (500 when its handler left none) and frees it.
static void
s_answer (service_t *self, s_item_t *item)
{
    store_reply_t *reply = &item->reply;
    wire_request_t *req = &item->req;
    if (!reply->body || reply->status < 100 || reply->status > 599) {
        //  A handler that left no answer is a bug; the caller still gets one.
        log_error (req->rid, "%s[%d] %s: handler gave no reply (status %d)",
                   self->def.pool, self->def.index, req->op, reply->status);
        store_reply_reset (reply);
        service_reply_error (reply, 500, "INTERNAL", "internal error");
    }
    if (wire_reply_send (self->router, &item->identity, req->seq, reply->status,
                         reply->body) != 0)
        log_warn (req->rid, "%s[%d] %s: reply could not be sent (caller gone)",
                  self->def.pool, self->def.index, req->op);
    log_debug (req->rid, "%s[%d] %s %d %.1fms", self->def.pool, self->def.index, req->op,
               reply->status, (double) (zclock_usecs () - item->started) / 1000.0);
    zframe_destroy (&item->identity);
    store_reply_reset (reply);
    wire_request_reset (req);
}


//  Lets an item go without answering it (see STORE_IN_DOUBT).
static void
s_drop (service_t *self, s_item_t *item)
{
    log_error (item->req.rid, "%s[%d] %s: not answered: its commit's outcome is unknown",
               self->def.pool, self->def.index, item->req.op);
    zframe_destroy (&item->identity);
    store_reply_reset (&item->reply);
    wire_request_reset (&item->req);
}


//  Logs an item whose handler said the store failed (rc != 0).
static void
s_ran (service_t *self, s_item_t *item, int rc)
{
    if (rc != 0)
        log_warn (item->req.rid, "%s[%d] %s: store failed, answered %d", self->def.pool,
                  self->def.index, item->req.op, item->reply.status);
}


//  Runs an item's handler into its reply.
static void
s_run (service_t *self, s_item_t *item, const service_op_t *entry)
{
    s_ran (self, item, entry->handler (self->def.state, &item->req, &item->reply));
}


//  Answers 503 TIMEOUT to a request that did not run and will not.
static void
s_answer_expired (service_t *self, s_item_t *item)
{
    log_info (item->req.rid, "%s[%d] %s: deadline passed before it started",
              self->def.pool, self->def.index, item->req.op);
    answer_set (&item->reply, STORE_RESULT_TIMEOUT);
    s_answer (self, item);
}


//  Runs the writes items [0..*count) of def->batch_op with one call, in
//  the group open under the deadline set, and empties the list.
static void
s_run_batch (service_t *self, s_item_t **items, size_t *count)
{
    if (*count == 0)
        return;
    const wire_request_t *reqs [SERVICE_BATCH_MAX];
    store_reply_t *replies [SERVICE_BATCH_MAX];
    int rcs [SERVICE_BATCH_MAX];
    for (size_t i = 0; i < *count; i++) {
        reqs [i] = &items [i]->req;
        replies [i] = &items [i]->reply;
        rcs [i] = 0;
    }
    self->def.batch (self->def.state, reqs, replies, rcs, *count);
    for (size_t i = 0; i < *count; i++)
        s_ran (self, items [i], rcs [i]);
    *count = 0;
}


//  Runs the grouped writes self->writes [0..count) as groups (see
//  service.h): each group is one transaction that commits before the
//  earliest cutoff of its writes; then its writes are answered.
static void
s_run_groups (service_t *self, size_t count)
{
    store_t *store = self->def.store;
    size_t next = 0;
    while (next < count) {
        s_item_t *first = &self->batch [self->writes [next]];
        int64_t group_cutoff = s_cutoff (&first->req);
        if (zclock_mono () >= group_cutoff) {
            s_answer_expired (self, first);
            next++;
            continue;
        }
        int rc = store_group_begin (store, group_cutoff == INT64_MAX ? 0 : group_cutoff);
        if (rc != STORE_OK) {
            //  Nothing began: the first write did not run (the next one
            //  may still wait for the lock until its own cutoff).
            if (rc == STORE_TIMEOUT)
                s_answer_expired (self, first);
            else {
                answer_set (&first->reply, STORE_RESULT_UNAVAILABLE);
                s_answer (self, first);
            }
            next++;
            continue;
        }
        size_t members = next;
        s_item_t *pending [SERVICE_BATCH_MAX];      //  writes of batch_op not run yet
        size_t pending_count = 0;
        while (next < count) {
            s_item_t *item = &self->batch [self->writes [next]];
            int64_t cutoff = s_cutoff (&item->req);
            int64_t now = zclock_mono ();
            if (now >= cutoff) {
                //  Not in the group: it did not run, so it may be answered now
                s_answer_expired (self, item);
                self->writes [next] = SIZE_MAX;
                next++;
                continue;
            }
            if (now >= group_cutoff)
                break;                  //  it starts the next group
            if (cutoff < group_cutoff)
                group_cutoff = cutoff;
            store_set_deadline (store, group_cutoff == INT64_MAX ? 0 : group_cutoff);
            if (self->def.batch && streq (item->req.op, self->def.batch_op))
                pending [pending_count++] = item;
            else {
                s_run_batch (self, pending, &pending_count);
                bool write;
                s_run (self, item, s_lookup (self, item->req.op, &write));
            }
            next++;
        }
        s_run_batch (self, pending, &pending_count);
        store_set_deadline (store, 0);
        //  An answer that could not reach its caller before the deadline
        //  must not stand for committed work: too close to the earliest
        //  deadline, the group is undone instead, and every write of it
        //  truly did not run.
        bool late = group_cutoff != INT64_MAX
                 && zclock_mono () > group_cutoff + SERVICE_MARGIN_MS - SERVICE_COMMIT_MS;
        bool committed = false;
        bool in_doubt = false;
        if (late) {
            store_group_rollback (store);
            log_warn ("-", "%s[%d]: group too close to its deadline to commit; undone",
                      self->def.pool, self->def.index);
        }
        else {
            int rc = store_group_commit (store);
            committed = rc == STORE_OK;
            in_doubt = rc == STORE_IN_DOUBT;
            if (in_doubt)
                log_error ("-", "%s[%d]: whether the group committed is not known; its writes "
                           "get no answer (their connections close)", self->def.pool,
                           self->def.index);
            else
            if (!committed)
                log_warn ("-", "%s[%d]: group commit failed; its writes are answered 503",
                          self->def.pool, self->def.index);
        }
        if (self->def.group_done)
            self->def.group_done (self->def.state, committed);
        for (size_t i = members; i < next; i++) {
            if (self->writes [i] == SIZE_MAX)
                continue;               //  answered already
            s_item_t *item = &self->batch [self->writes [i]];
            if (late) {
                store_reply_reset (&item->reply);
                s_answer_expired (self, item);
                continue;
            }
            if (in_doubt) {
                //  Neither its result nor a 503 is known true: no answer,
                //  and the front closes the connection past its deadline.
                s_drop (self, item);
                continue;
            }
            if (!committed) {
                store_reply_reset (&item->reply);
                answer_set (&item->reply, STORE_RESULT_UNAVAILABLE);
            }
            s_answer (self, item);
        }
    }
}


//  Orders the grouped writes self->writes [0..count) by the customer they
//  act for, keeping arrival order within one customer (a stable insertion
//  sort: at most SERVICE_BATCH_MAX). Every group then takes its customers'
//  row locks in the same order, so two groups (other actors, other
//  instances on one MySQL) wait for each other instead of deadlocking;
//  the writes of one batch were all queued at the same moment, so no
//  order among different customers is owed.
static void
s_sort_writes (service_t *self, size_t count)
{
    for (size_t i = 1; i < count; i++) {
        size_t moving = self->writes [i];
        const char *key = self->batch [moving].req.cmd.customer_id;
        size_t j = i;
        while (j > 0 && strcmp (self->batch [self->writes [j - 1]].req.cmd.customer_id, key) > 0) {
            self->writes [j] = self->writes [j - 1];
            j--;
        }
        self->writes [j] = moving;
    }
}


//  Takes every request queued on the ROUTER (up to SERVICE_BATCH_MAX),
//  answers the reads and the expired at once, then runs the writes in
//  groups.
static void
s_serve_batch (service_t *self)
{
    size_t taken = 0, writes = 0;
    for (int tries = 0; tries < SERVICE_BATCH_MAX && taken < SERVICE_BATCH_MAX; tries++) {
        if (tries > 0 && !(zsock_events (self->router) & ZMQ_POLLIN))
            break;
        s_item_t *item = &self->batch [taken];
        memset (item, 0, sizeof *item);
        if (wire_request_recv (self->router, &item->identity, &item->req) != 0) {
            //  Malformed frames were drained by wire_request_recv; no caller
            //  can be answered.
            zframe_destroy (&item->identity);
            continue;
        }
        item->started = zclock_usecs ();
        taken++;
    }
    for (size_t i = 0; i < taken; i++) {
        s_item_t *item = &self->batch [i];
        bool write;
        const service_op_t *entry = s_lookup (self, item->req.op, &write);
        if (!entry) {
            log_warn (item->req.rid, "%s[%d]: op '%s' not served by this pool (front bug)",
                      self->def.pool, self->def.index, item->req.op);
            service_reply_error (&item->reply, 404, "NOT_FOUND", "unknown operation");
            s_answer (self, item);
        }
        else
        if (zclock_mono () >= s_cutoff (&item->req))
            s_answer_expired (self, item);
        else
        if (write)
            self->writes [writes++] = i;
        else {
            s_run (self, item, entry);
            s_answer (self, item);
        }
    }
    s_sort_writes (self, writes);
    s_run_groups (self, writes);
}


//  The gauge counting the pool's actors that are down.
static metrics_gauge_t
s_down_gauge (const char *pool)
{
    return streq (pool, ACTOR_POOL_POINT)? GAUGE_DOWN_POINT
         : streq (pool, ACTOR_POOL_ORDER)? GAUGE_DOWN_ORDER: GAUGE_DOWN_DISPLAY;
}

//  Counts the actor down or up again in its pool's gauge.
static void
s_report (service_t *self, bool down)
{
    if (down == self->down || !self->def.metrics)
        return;
    self->down = down;
    metrics_gauge_add (self->def.metrics, s_down_gauge (self->def.pool), down? 1: -1);
    if (down)
        log_warn ("-", "%s[%d]: health check failed; reported down", self->def.pool,
                  self->def.index);
    else
        log_info ("-", "%s[%d]: health check passed; reported up", self->def.pool,
                  self->def.index);
}

//  Runs the actor's own health op and reports what it says.
static void
s_check_health (service_t *self)
{
    bool write;
    const service_op_t *entry = s_lookup (self, WIRE_OP_HEALTH, &write);
    if (!entry || write)
        return;
    wire_request_t req;
    memset (&req, 0, sizeof req);
    snprintf (req.rid, sizeof req.rid, "health");
    snprintf (req.op, sizeof req.op, WIRE_OP_HEALTH);
    store_reply_t reply;
    memset (&reply, 0, sizeof reply);
    int rc = entry->handler (self->def.state, &req, &reply);
    s_report (self, rc != 0 || reply.status != 200);
    store_reply_reset (&reply);
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
    self->next_check = zclock_mono () + SERVICE_HEALTH_MS;
    while (true) {
        int timeout = SERVICE_IDLE_MS;
        if (self->def.tick) {
            int64_t left = next_tick - zclock_mono ();
            timeout = left < 0 ? 0 : left < timeout ? (int) left : timeout;
        }
        int64_t check_left = self->next_check - zclock_mono ();
        if (check_left < timeout)
            timeout = check_left < 0 ? 0 : (int) check_left;
        void *which = zpoller_wait (poller, timeout);
        if (which == pipe) {
            if (s_pipe_command (self, pipe) != 0)
                break;
        }
        else
        if (which == self->router)
            s_serve_batch (self);
        //  Checked after every wake, so a busy actor still ticks on time.
        if (self->def.tick && zclock_mono () >= next_tick) {
            self->def.tick (self->def.state);
            next_tick = zclock_mono () + self->def.tick_ms;
        }
        if (zclock_mono () >= self->next_check) {
            s_check_health (self);
            //  Process-wide, so any actor may report them: the soak tells
            //  the bounded caches from growth with the memory, and the
            //  checkpoints say whether the checkpointers keep up
            if (self->def.metrics) {
                metrics_gauge_set (self->def.metrics, GAUGE_SQLITE_MEMORY, db_sqlite_memory ());
                int64_t background, by_writers;
                db_sqlite_checkpoints (&background, &by_writers);
                metrics_gauge_set (self->def.metrics, GAUGE_SQLITE_CKPT_BACKGROUND, background);
                metrics_gauge_set (self->def.metrics, GAUGE_SQLITE_CKPT_WRITERS, by_writers);
            }
            self->next_check = zclock_mono () + SERVICE_HEALTH_MS;
        }
    }
    s_report (self, false);         //  a stopped actor is no longer counted
    zpoller_destroy (&poller);
    log_debug ("-", "%s[%d]: stopped", self->def.pool, self->def.index);
}


//  Runs an actor from its start to $TERM around the state it builds.
void
service_actor_run (zsock_t *pipe, const actor_args_t *args, const char *pool,
                   service_state_new_fn *state_new, service_state_destroy_fn *state_destroy)
{
    assert (args && args->cfg && pool && state_new && state_destroy);
    util_thread_name ("%s-%d", pool, args->index);
    char err [256] = "";
    service_def_t def = { .pool = pool, .index = args->index };
    void *state = state_new (args, &def, err, sizeof err);
    if (!state) {
        service_start_failed (pipe, pool, args->index, err);
        return;
    }
    def.state = state;
    def.metrics = args->metrics;
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


//  The request's credential for the store.
void
service_auth (const wire_request_t *req, store_auth_t *auth)
{
    auth->mode = req->cmd.auth == WIRE_AUTH_ADMIN? STORE_AUTH_ADMIN
               : req->cmd.auth == WIRE_AUTH_OPEN? STORE_AUTH_OPEN: STORE_AUTH_TOKEN;
    auth->token_hash = req->cmd.token_hash;
}
