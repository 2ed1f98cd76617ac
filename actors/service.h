/*  service — the request loop the point, order and display actors share.
    Private to actors/.

    A service owns the ROUTER an actor binds at wire_endpoint(pool, index).
    service_run signals the actor's pipe, then polls the pipe and the ROUTER
    with a timeout until $TERM: each request is dispatched by its op name to
    the actor's handler table and answered exactly once with the handler's
    status and JSON body (404 for an op the pool does not serve). An
    optional tick runs every tick_ms between requests (snapshot refresh,
    key purge).

    Deadlines: a request whose deadline (less SERVICE_MARGIN_MS, the time
    its answer needs to reach the caller) has passed is answered 503
    TIMEOUT without running.

    Group commit: when the ROUTER is readable the service takes every
    request queued at that moment (up to SERVICE_BATCH_MAX, non-blocking).
    Reads (def->ops) are answered at once; writes (def->writes) run in ONE
    transaction of the actor's store, each in its own savepoint
    (store_group_begin, the handlers, store_group_commit), and are answered
    after the commit; if the commit fails every write of the group is
    answered 503 UNAVAILABLE, since none of it is there. A group commits
    before the earliest deadline of its writes less the margin: a write
    that would push it later starts the next group, and a group still
    running SERVICE_COMMIT_MS before that deadline is rolled back (503
    TIMEOUT to each write: none of it ran). The writes of a batch run in
    customer id order (arrival order within a customer), so groups take
    row locks in one order and never deadlock one another. The writes of
    one op may instead run with one call for the whole group (def->batch,
    def->batch_op: the order actor's store_orders_create), which answers
    each as its handler would. */
#ifndef SERVICE_H_INCLUDED
#define SERVICE_H_INCLUDED

#include "actor.h"
#include "store.h"

typedef struct _service_t service_t;

//  Answers one request: fills reply with a status and a JSON body. Returns 0,
//  or -1 when the store failed (reply then holds 503; the service logs it).
typedef int (service_handler_fn) (void *state, const wire_request_t *req,
                                  store_reply_t *reply);

//  Periodic work of an actor, run from its own thread between requests.
typedef void (service_tick_fn) (void *state);

//  One entry of an actor's handler table.
typedef struct {
    const char *op;                 //  WIRE_OP_* it serves
    service_handler_fn *handler;    //  what answers it
} service_op_t;

//  The most requests taken from the ROUTER in one go (one group at most).
#define SERVICE_BATCH_MAX 64

//  Time a request's answer needs to reach its caller: a request with less
//  than this left before its deadline does not start, and a group commits
//  at least this long before the earliest deadline of its writes.
#define SERVICE_MARGIN_MS 50

//  Time a group's COMMIT and answers need: a group that is not ready to
//  commit this long before the earliest deadline of its writes is rolled
//  back and its writes answered 503 TIMEOUT, since a caller that stopped
//  waiting would count their answers as failures.
#define SERVICE_COMMIT_MS 25

//  Called after a group's transaction ended: committed is true when its
//  writes are there (e.g. wake the relay).
typedef void (service_group_done_fn) (void *state, bool committed);

//  Runs the writes of one group that share the op def->batch_op with one
//  call, in the order given: each reqs [i] gets its answer in *replies [i]
//  and in rcs [i] what a handler would return for it.
typedef void (service_batch_fn) (void *state, const wire_request_t *const *reqs,
                                 store_reply_t *const *replies, int *rcs, size_t count);

//  What an actor hands the service.
typedef struct {
    const char *pool;               //  ACTOR_POOL_*
    int index;                      //  position in the pool
    const service_op_t *ops;        //  handler table, ends with {NULL, NULL}
    const service_op_t *writes;     //  grouped writes (see above) or NULL; same form
    void *state;                    //  the actor's self, passed to handlers and tick
    service_tick_fn *tick;          //  periodic work, or NULL
    int tick_ms;                    //  period of tick (> 0 when tick is set)
    store_t *store;                 //  store the writes go to (set with writes)
    service_group_done_fn *group_done;  //  after each group, or NULL
    const char *batch_op;           //  a grouped write run by batch, or NULL
    service_batch_fn *batch;        //  runs a group's writes of batch_op at once
    metrics_t *metrics;             //  where the actor reports itself down (set by the service)
} service_def_t;

//  How often an actor runs its own health op and reports the result in
//  its pool's GAUGE_DOWN_* count, which GET /health reads: asking a busy
//  actor would make health as slow as the slowest store.
#define SERVICE_HEALTH_MS 1000

//  Builds an actor's state before its ROUTER is bound: opens what the
//  actor needs and fills def->ops, def->writes and def->store when it has
//  writes (and def->group_done), and def->tick and def->tick_ms when it ticks (def->pool and def->index are set already; def->state is set to
//  the result). Returns the state, or NULL with why in err and nothing
//  left open.
typedef void *(service_state_new_fn) (const actor_args_t *args, service_def_t *def,
                                      char *err, size_t errlen);

//  Frees an actor's state. Safe on NULL; sets *state_p to NULL.
typedef void (service_state_destroy_fn) (void **state_p);

//  The whole life of an actor of pool: builds its state with state_new,
//  binds the ROUTER, serves requests until $TERM (service_run), then closes
//  the ROUTER and frees the state with state_destroy. A failed start is
//  logged and signalled on the pipe (service_start_failed).
void service_actor_run (zsock_t *pipe, const actor_args_t *args, const char *pool,
                        service_state_new_fn *state_new,
                        service_state_destroy_fn *state_destroy);

//  Binds the ROUTER at wire_endpoint(def->pool, def->index). NULL (logged)
//  when the endpoint cannot be bound. def->ops and def->state must outlive
//  the service.
service_t *service_new (const service_def_t *def);

//  Closes the ROUTER. Safe on NULL; sets *self_p to NULL.
void service_destroy (service_t **self_p);

//  Signals the pipe that the actor is up (0), then serves requests until
//  $TERM arrives on the pipe.
void service_run (service_t *self, zsock_t *pipe);

//  Tells the actor's creator that the start failed: logs why and signals
//  the pipe with a non-zero status.
void service_start_failed (zsock_t *pipe, const char *pool, int index, const char *why);

//  The credential a request carries (wire_cmd_t.auth and token_hash), as
//  the store checks it. auth points into req.
void service_auth (const wire_request_t *req, store_auth_t *auth);

//  Fills reply with status and the error body {"code","message"}.
void service_reply_error (store_reply_t *reply, int status, const char *code,
                          const char *message);

//  Fills reply with status and a copy of the JSON text body.
void service_reply_text (store_reply_t *reply, int status, const char *body);

//  The health answer of an actor: 200 {"status":"UP"} when up, else 503
//  {"code":"UNAVAILABLE","message":why,"status":"DOWN"}.
void service_reply_health (store_reply_t *reply, bool up, const char *why);

#endif
