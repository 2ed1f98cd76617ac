/*  http_front — the HTTP front actor on libmicrohttpd.

    MHD runs a pool of cfg->http_threads epoll threads. Each of them owns,
    in its thread state (a pthread key held in the front's self), one DEALER
    per actor of each pool it talks to, opened on first use and closed by
    the key's destructor when the thread ends at MHD_stop_daemon. A request
    is handled in the MHD thread that read it: match the route, validate,
    one wire round trip bounded by cfg->request_timeout_ms, answer.

    Requests with a body are answered once the upload is complete (bytes past
    cfg->max_body are counted and dropped), so the client always reads the
    answer; only a client waiting for "100 Continue", or one announcing a
    body far past the limit, gets an error at once. Every answer is queued
    at the last handler call, never the first: MHD 0.9.75 closes the
    connection after an answer queued at the first call.

    GET /display/menu and /display/best reuse the display actor's last 200
    answer for up to 10 ms per thread (see s_read_cached): the hop to
    another thread was most of a read's cost. */
#include "http_front.h"
#include "request.h"
#include "actor.h"
#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <netdb.h>
#include <sys/resource.h>
#include <unistd.h>

#define S_POOL_COUNT        3       //  point, order, display
#define S_HEALTH_MAX_MS     1000    //  longest wait for a pool's health answer
#define S_CONN_TIMEOUT_S    30      //  idle or stalled connections are closed after this
#define S_CONN_LIMIT_MAX    10000   //  most connections at once
#define S_FD_RESERVE        256     //  descriptors left for stores, sockets, logs
#define S_DRAIN_FACTOR      16      //  bodies announced past max_body x this are cut at once
#define S_LOG_PATH_MAX      200     //  bytes of the path written to a log line
#define S_READ_CACHE_MS     10      //  how long a thread reuses a display answer
#define S_READ_CACHED       2       //  routes whose answers are reused: menu, best

#define S_JSON_TYPE    "application/json; charset=utf-8"
#define S_METRICS_TYPE "text/plain; version=0.0.4"

//  The pools in a fixed order, with their queue gauges.
static const char *const s_pool_names [S_POOL_COUNT] = {
    ACTOR_POOL_POINT, ACTOR_POOL_ORDER, ACTOR_POOL_DISPLAY
};
static const metrics_gauge_t s_pool_gauges [S_POOL_COUNT] = {
    GAUGE_QUEUE_POINT, GAUGE_QUEUE_ORDER, GAUGE_QUEUE_DISPLAY
};

//  The front: shared by the actor thread and the MHD threads; after start
//  only the atomics change.
typedef struct {
    const config_t *cfg;            //  settings (read only)
    metrics_t *metrics;             //  shared counters
    struct MHD_Daemon *daemon;      //  the HTTP server, NULL when not running
    pthread_key_t key;              //  per-MHD-thread s_thread_t
    bool key_made;                  //  key was created
    int pool_size [S_POOL_COUNT];   //  actors per pool, 0 when this role does not run it
    atomic_int in_flight;           //  requests begun and not yet completed
    atomic_int threads_live;        //  thread states not yet freed
    atomic_uint next_tag;           //  tag of the next thread state (request ids)
    int get_marker;                 //  its address marks a GET waiting for its last call
    int answered;                   //  its address marks a request answered without context
} s_front_t;

//  A display answer a thread may serve again for a few milliseconds.
typedef struct {
    char *body;                     //  last 200 body (free()), NULL when none
    size_t len;                     //  its bytes
    int64_t fetched_ms;             //  zclock_mono when it arrived
} s_cached_t;

//  What one MHD thread owns.
typedef struct {
    s_front_t *front;                       //  the front (for counters)
    zsock_t **dealers [S_POOL_COUNT];       //  per pool, per actor; NULL until used
    uint64_t seq;                           //  last wire seq sent
    uint64_t rid_count;                     //  requests given a generated id
    unsigned tag;                           //  this thread's tag in generated ids
    unsigned rr [S_POOL_COUNT];             //  round-robin cursor per pool
    s_cached_t cached [S_READ_CACHED];      //  GET /display/menu and /display/best answers
} s_thread_t;

//  A request with a body, between the first and the last handler call.
typedef struct {
    const request_route_t *route;   //  matched route, NULL when early_status is set
    metrics_route_t metric;         //  route counted in the metrics
    bool answered;                  //  a response is queued
    int64_t started_us;             //  when its headers were read
    char rid [REQUEST_RID_MAX + 1]; //  request id
    int early_status;               //  answer decided from the headers alone, or 0
    char *early_body;               //  its JSON (free())
    const char *allow;              //  Allow header of a 405
    const char *content_type;       //  Content-Type header or NULL (valid while the request lives)
    const char *idem;               //  Idempotency-Key header or NULL (same)
    char *body;                     //  body received so far (not NUL-terminated)
    size_t len;                     //  bytes in body
    size_t cap;                     //  bytes allocated
    size_t seen;                    //  bytes received, kept or not
} s_request_t;

//  One answer, before it becomes an MHD response.
typedef struct {
    int status;                     //  HTTP status
    char *body;                     //  body text (free()); NULL means out of memory → 500
    const char *content_type;       //  Content-Type
    const char *allow;              //  Allow header or NULL
} s_answer_t;


//  --------------------------------------------------------------------------
//  Per-thread state

//  Frees a thread state: runs in its own MHD thread as it ends (the key's
//  destructor), so the sockets are closed by the thread that used them.
static void
s_thread_free (void *arg)
{
    s_thread_t *thread = (s_thread_t *) arg;
    if (!thread)
        return;
    for (int p = 0; p < S_POOL_COUNT; p++) {
        if (!thread->dealers [p])
            continue;
        for (int i = 0; i < thread->front->pool_size [p]; i++)
            zsock_destroy (&thread->dealers [p][i]);
        free (thread->dealers [p]);
    }
    for (int c = 0; c < S_READ_CACHED; c++)
        free (thread->cached [c].body);
    atomic_fetch_sub (&thread->front->threads_live, 1);
    free (thread);
}

//  The calling MHD thread's state, made on first use. NULL when out of memory.
static s_thread_t *
s_thread (s_front_t *self)
{
    s_thread_t *thread = (s_thread_t *) pthread_getspecific (self->key);
    if (thread)
        return thread;
    thread = (s_thread_t *) calloc (1, sizeof (s_thread_t));
    if (!thread)
        return NULL;
    thread->front = self;
    thread->tag = atomic_fetch_add (&self->next_tag, 1);
    for (int p = 0; p < S_POOL_COUNT; p++) {
        if (self->pool_size [p] == 0)
            continue;
        thread->dealers [p] = (zsock_t **) calloc ((size_t) self->pool_size [p],
                                                   sizeof (zsock_t *));
        if (!thread->dealers [p])
            goto fail;
    }
    atomic_fetch_add (&self->threads_live, 1);
    if (pthread_setspecific (self->key, thread) == 0)
        return thread;
    atomic_fetch_sub (&self->threads_live, 1);
fail:
    for (int p = 0; p < S_POOL_COUNT; p++)
        free (thread->dealers [p]);
    free (thread);
    return NULL;
}

//  The thread's DEALER to actor index of pool p, opened on first use. Sends
//  never wait: a full queue (the actor is that far behind) is answered 503
//  OVERLOADED at once rather than holding the HTTP thread.
static zsock_t *
s_dealer (s_thread_t *thread, int p, int index)
{
    zsock_t **slot = &thread->dealers [p][index];
    if (!*slot) {
        *slot = wire_dealer_new (s_pool_names [p], index, thread->front->cfg->request_timeout_ms);
        if (*slot)
            zsock_set_sndtimeo (*slot, 0);
    }
    return *slot;
}

//  Pool position of a pool name, -1 if unknown.
static int
s_pool_of (const char *pool)
{
    for (int p = 0; p < S_POOL_COUNT; p++)
        if (pool && streq (pool, s_pool_names [p]))
            return p;
    return -1;
}

//  Copies src into dst (size bytes), cut to fit: a client's request id may
//  be longer than the wire's rid field.
static void
s_copy (char *dst, size_t size, const char *src)
{
    size_t len = src? strlen (src): 0;
    if (len >= size)
        len = size - 1;
    memcpy (dst, src? src: "", len);
    dst [len] = '\0';
}

//  FNV-1a of a customer id: one customer's writes always meet in one actor.
static uint32_t
s_hash (const char *text)
{
    uint32_t hash = 2166136261u;
    for (const unsigned char *p = (const unsigned char *) text; *p; p++)
        hash = (hash ^ *p) * 16777619u;
    return hash;
}


//  --------------------------------------------------------------------------
//  Talking to the actors

//  Sends one request to actor index of pool p. Returns 0, or -1 when it
//  could not be queued in time (the actor is not keeping up).
static int
s_send (s_thread_t *thread, int p, int index, wire_request_t *req)
{
    zsock_t *dealer = s_dealer (thread, p, index);
    if (!dealer)
        return -1;
    req->seq = ++thread->seq;
    return wire_request_send (dealer, req);
}

//  Waits until deadline_ms (zclock_mono) for the reply to seq from actor
//  index of pool p; late replies to earlier requests are dropped. Returns
//  0 with *status and *body (free()), or -1 on timeout.
static int
s_wait (s_thread_t *thread, int p, int index, uint64_t seq, int64_t deadline_ms,
        int *status, char **body)
{
    zsock_t *dealer = thread->dealers [p][index];
    *body = NULL;
    while (true) {
        int64_t left = deadline_ms - zclock_mono ();
        if (left < 0)
            return -1;
        zmq_pollitem_t item = { zsock_resolve (dealer), 0, ZMQ_POLLIN, 0 };
        int rc = zmq_poll (&item, 1, (long) left);
        if (rc < 0 && zmq_errno () != EINTR)
            return -1;
        if (rc <= 0 || !(item.revents & ZMQ_POLLIN))
            continue;
        uint64_t got = 0;
        if (wire_reply_recv (dealer, &got, status, body))
            continue;           //  malformed (logged by wire) or gone: keep waiting
        if (got == seq)
            return 0;
        zstr_free (body);       //  the answer to a request we gave up on
    }
}

//  One round trip to an actor of the route's pool. Fills answer with the
//  actor's reply, or 503 TIMEOUT / OVERLOADED.
static void
s_call (s_front_t *self, s_thread_t *thread, const request_route_t *route, const char *rid,
        const wire_cmd_t *cmd, const char *idem, const char *body, s_answer_t *answer)
{
    const char *customer_id = *cmd->customer_id? cmd->customer_id: NULL;
    int p = s_pool_of (route->pool);
    assert (p >= 0 && self->pool_size [p] > 0);     //  our own route table and role check
    int n = self->pool_size [p];
    int index = customer_id? (int) (s_hash (customer_id) % (uint32_t) n)
                           : (int) (thread->rr [p]++ % (unsigned) n);

    wire_request_t req;
    memset (&req, 0, offsetof (wire_request_t, cmd));
    s_copy (req.rid, sizeof (req.rid), rid);
    s_copy (req.op, sizeof (req.op), route->op);
    s_copy (req.idem, sizeof (req.idem), idem);
    req.cmd = *cmd;
    req.body = (char *) (body? body: "");

    metrics_gauge_add (self->metrics, s_pool_gauges [p], 1);
    int64_t deadline = zclock_mono () + self->cfg->request_timeout_ms;
    req.deadline_ms = deadline;
    if (s_send (thread, p, index, &req)) {
        answer->status = 503;
        answer->body = request_error_json ("OVERLOADED",
                                           "the service is busy; retry shortly", NULL);
        log_warn (rid, "%s actor %d: request could not be queued", route->pool, index);
    }
    else
    if (s_wait (thread, p, index, req.seq, deadline, &answer->status, &answer->body)) {
        answer->status = 503;
        answer->body = request_error_json ("TIMEOUT",
                                           "no answer in time; the request may still complete",
                                           NULL);
        log_warn (rid, "%s actor %d: no answer within %d ms", route->pool, index,
                  self->cfg->request_timeout_ms);
    }
    metrics_gauge_add (self->metrics, s_pool_gauges [p], -1);
}

//  Adds part → "UP"/"DOWN" for a bridge gauge, unless this role does not run it.
static bool
s_health_gauge (s_front_t *self, cJSON *parts, const char *part, metrics_gauge_t gauge)
{
    int64_t value = metrics_gauge_get (self->metrics, gauge);
    if (value < 0)
        return true;
    cJSON_AddStringToObject (parts, part, value > 0? "UP": "DOWN");
    return value > 0;
}

//  GET /health: asks one actor of each pool this role runs (all at once,
//  waiting at most S_HEALTH_MAX_MS), then reads the bridge gauges.
static void
s_health (s_front_t *self, s_thread_t *thread, const char *rid, s_answer_t *answer)
{
    int timeout = self->cfg->request_timeout_ms < S_HEALTH_MAX_MS
                ? self->cfg->request_timeout_ms: S_HEALTH_MAX_MS;
    int64_t deadline = zclock_mono () + timeout;
    int index [S_POOL_COUNT] = { 0 };
    uint64_t seq [S_POOL_COUNT] = { 0 };
    for (int p = 0; p < S_POOL_COUNT; p++) {
        if (self->pool_size [p] == 0)
            continue;
        index [p] = (int) (thread->rr [p]++ % (unsigned) self->pool_size [p]);
        wire_request_t req;
        memset (&req, 0, sizeof (req));
        s_copy (req.rid, sizeof (req.rid), rid);
        s_copy (req.op, sizeof (req.op), WIRE_OP_HEALTH);
        req.body = (char *) "";
        metrics_gauge_add (self->metrics, s_pool_gauges [p], 1);
        if (s_send (thread, p, index [p], &req) == 0)
            seq [p] = req.seq;
    }
    cJSON *json = cJSON_CreateObject ();
    cJSON_AddStringToObject (json, "status", "UP");
    cJSON_AddStringToObject (json, "role", config_role_name (self->cfg->role));
    cJSON *parts = cJSON_AddObjectToObject (json, "parts");
    bool ready = true;
    for (int p = 0; p < S_POOL_COUNT; p++) {
        if (self->pool_size [p] == 0)
            continue;
        int status = 0;
        char *body = NULL;
        bool up = seq [p]
               && s_wait (thread, p, index [p], seq [p], deadline, &status, &body) == 0
               && status == 200;
        free (body);
        metrics_gauge_add (self->metrics, s_pool_gauges [p], -1);
        cJSON_AddStringToObject (parts, s_pool_names [p], up? "UP": "DOWN");
        ready = ready && up;
    }
    bool healthy = s_health_gauge (self, parts, "bridge", GAUGE_BRIDGE_UP);
    healthy = s_health_gauge (self, parts, "projection", GAUGE_PROJECTION_UP) && healthy;
    healthy = s_health_gauge (self, parts, "collector", GAUGE_COLLECTOR_UP) && healthy;
    if (!ready || !healthy)
        cJSON_ReplaceItemInObjectCaseSensitive (json, "status", cJSON_CreateString ("DEGRADED"));
    answer->status = ready? 200: 503;
    answer->body = cJSON_PrintUnformatted (json);
    cJSON_Delete (json);
}


//  --------------------------------------------------------------------------
//  Answers

//  Copies text into buf (size len) with every byte outside printable ASCII
//  as '?', so a path can go into a log line or a JSON message safely.
static void
s_printable (const char *text, char *buf, size_t len)
{
    size_t i = 0;
    for (; text && text [i] && i + 1 < len; i++) {
        unsigned char c = (unsigned char) text [i];
        buf [i] = (c >= 0x20 && c < 0x7F)? (char) c: '?';
    }
    buf [i] = '\0';
}

//  Queues the answer on the connection, counts it and logs it. Takes the
//  answer's body.
static enum MHD_Result
s_respond (s_front_t *self, struct MHD_Connection *conn, metrics_route_t route,
           const char *rid, const char *method, const char *url, int64_t started_us,
           s_answer_t *answer)
{
    if (!answer->body) {
        answer->status = 500;
        answer->body = request_error_json ("INTERNAL", "out of memory", NULL);
    }
    if (!answer->content_type)
        answer->content_type = S_JSON_TYPE;
    enum MHD_Result rc = MHD_NO;
    struct MHD_Response *response = answer->body
        ? MHD_create_response_from_buffer_with_free_callback (strlen (answer->body),
                                                              answer->body, free)
        : NULL;
    if (response) {
        answer->body = NULL;        //  MHD frees it now
        MHD_add_response_header (response, MHD_HTTP_HEADER_CONTENT_TYPE, answer->content_type);
        MHD_add_response_header (response, "X-Request-Id", rid);
        if (answer->allow)
            MHD_add_response_header (response, MHD_HTTP_HEADER_ALLOW, answer->allow);
        rc = MHD_queue_response (conn, (unsigned int) answer->status, response);
        MHD_destroy_response (response);
    }
    free (answer->body);
    answer->body = NULL;

    int64_t micros = zclock_usecs () - started_us;
    metrics_observe (self->metrics, route, answer->status, (double) micros / 1e6);
    char path [S_LOG_PATH_MAX];
    s_printable (url, path, sizeof (path));
    //  Whole maths for "3.1ms": floating-point formatting showed in profiles.
    log_info (rid, "%s %s %d %" PRId64 ".%dms%s", method, path, answer->status,
              micros / 1000, (int) (micros % 1000) / 100, rc == MHD_YES? "": " (not sent)");
    return rc;
}

//  Fills answer with an error.
static void
s_error (s_answer_t *answer, int status, const char *code, const char *message)
{
    answer->status = status;
    answer->body = request_error_json (code, message, NULL);
}

//  The request id: the client's X-Request-Id when well formed, else
//  "r-<counter>-<thread tag>" (hex), unique in the process.
static void
s_request_id (s_thread_t *thread, struct MHD_Connection *conn, char *rid, size_t len)
{
    const char *given = MHD_lookup_connection_value (conn, MHD_HEADER_KIND, "X-Request-Id");
    if (request_rid_ok (given))
        snprintf (rid, len, "%s", given);
    else
    if (thread)
        snprintf (rid, len, "r-%08" PRIx64 "-%x", ++thread->rid_count, thread->tag);
    else
        snprintf (rid, len, "r-none");
}

//  Answers that depend only on the method and path: 404, 405, or a route of
//  a part this role does not run. Returns true with answer filled.
static bool
s_route_error (s_front_t *self, const char *method, const char *url,
               const request_route_t *route, int match, const char *allow,
               s_answer_t *answer)
{
    char path [100], message [200];
    if (match == 404) {
        s_printable (url, path, sizeof (path));
        snprintf (message, sizeof (message), "no route for %s %s", method, path);
        s_error (answer, 404, "NOT_FOUND", message);
        return true;
    }
    if (match == 405) {
        snprintf (message, sizeof (message), "use %s here", allow);
        s_error (answer, 405, "METHOD_NOT_ALLOWED", message);
        answer->allow = allow;
        return true;
    }
    if (!request_part_served (route->part, self->cfg->role)) {
        snprintf (message, sizeof (message), "%s %s is served by the %s role", route->method,
                  metrics_route_name (route->route),
                  route->part == REQUEST_PART_DISPLAY? "display": "order");
        s_error (answer, 404, "NOT_FOUND", message);
        return true;
    }
    return false;
}

//  GET /display/menu and /display/best. The display actor already answers
//  from a snapshot it refreshes every cfg->display_refresh_ms; a thread
//  reuses the actor's last 200 answer for S_READ_CACHE_MS more (at most
//  half the refresh period), which saves the round trip to another thread
//  on nearly every read under load while adding almost nothing to how
//  stale an answer can be.
static void
s_read_cached (s_front_t *self, s_thread_t *thread, const request_route_t *route,
               const char *rid, s_answer_t *answer)
{
    s_cached_t *cached = &thread->cached [route->route == ROUTE_DISPLAY_MENU? 0: 1];
    int64_t ttl = self->cfg->display_refresh_ms / 2 < S_READ_CACHE_MS
                ? self->cfg->display_refresh_ms / 2: S_READ_CACHE_MS;
    int64_t now = zclock_mono ();
    if (cached->body && now - cached->fetched_ms < ttl) {
        answer->body = (char *) malloc (cached->len + 1);
        if (answer->body) {
            memcpy (answer->body, cached->body, cached->len + 1);
            answer->status = 200;
            return;
        }
    }
    wire_cmd_t cmd;
    request_cmd_fill (route->route, NULL, "", &cmd);
    s_call (self, thread, route, rid, &cmd, NULL, NULL, answer);
    if (answer->status != 200 || !answer->body)
        return;
    size_t len = strlen (answer->body);
    char *copy = (char *) malloc (len + 1);
    if (!copy)
        return;
    memcpy (copy, answer->body, len + 1);
    free (cached->body);
    cached->body = copy;
    cached->len = len;
    cached->fetched_ms = now;
}

//  Answers a GET route: the front's own (health, metrics) or one actor call.
static void
s_get (s_front_t *self, s_thread_t *thread, const request_route_t *route, const char *arg,
       const char *rid, s_answer_t *answer)
{
    if (route->route == ROUTE_METRICS) {
        answer->status = 200;
        answer->body = metrics_render (self->metrics);
        answer->content_type = S_METRICS_TYPE;
        return;
    }
    if (!thread) {
        s_error (answer, 503, "OVERLOADED", "out of memory");
        return;
    }
    if (route->route == ROUTE_HEALTH) {
        s_health (self, thread, rid, answer);
        return;
    }
    if (route->route == ROUTE_DISPLAY_MENU || route->route == ROUTE_DISPLAY_BEST) {
        s_read_cached (self, thread, route, rid, answer);
        return;
    }
    char *error = NULL;
    answer->status = request_validate_arg (route->route, arg, &error);
    if (answer->status != 200) {
        answer->body = error;
        return;
    }
    wire_cmd_t cmd;
    request_cmd_fill (route->route, NULL, arg, &cmd);
    s_call (self, thread, route, rid, &cmd, NULL, NULL, answer);
}

//  The headers of a request with a body decide an early answer? Checks in
//  the order they are reported: 415 for a Content-Type that is not JSON,
//  413 for a Content-Length past the limit, 400 for a bad Idempotency-Key.
static void
s_check_headers (s_front_t *self, s_request_t *req, uint64_t declared, bool has_length)
{
    char message [128];
    if (req->content_type && !request_media_type_json (req->content_type)) {
        req->early_status = 415;
        req->early_body = request_error_json ("UNSUPPORTED_MEDIA_TYPE",
                                              "send the body as Content-Type: application/json",
                                              NULL);
        return;
    }
    if (has_length && declared > self->cfg->max_body) {
        snprintf (message, sizeof (message), "the body is limited to %zu bytes",
                  self->cfg->max_body);
        req->early_status = 413;
        req->early_body = request_error_json ("PAYLOAD_TOO_LARGE", message, NULL);
        return;
    }
    if (req->route && req->route->takes_idem) {
        char *error = NULL;
        int status = request_validate_idem (req->idem, &error);
        if (status != 200) {
            req->early_status = status;
            req->early_body = error;
        }
    }
}

//  The last handler call of a request with a body: decide and answer.
static void
s_finish (s_front_t *self, s_thread_t *thread, s_request_t *req, s_answer_t *answer)
{
    char message [128];
    if (req->early_status) {
        answer->status = req->early_status;
        answer->body = req->early_body;
        answer->allow = req->allow;
        req->early_body = NULL;
        return;
    }
    if (req->seen > self->cfg->max_body) {
        snprintf (message, sizeof (message), "the body is limited to %zu bytes",
                  self->cfg->max_body);
        s_error (answer, 413, "PAYLOAD_TOO_LARGE", message);
        return;
    }
    if (req->len == 0) {
        s_error (answer, 400, "INVALID_JSON", "body: is missing; send a JSON object");
        return;
    }
    if (!req->content_type) {
        s_error (answer, 415, "UNSUPPORTED_MEDIA_TYPE",
                 "send the body as Content-Type: application/json");
        return;
    }
    cJSON *canonical = NULL;
    char *error = NULL;
    answer->status = request_validate_body (req->route->route, req->body, req->len,
                                            &canonical, &error);
    if (answer->status != 200) {
        answer->body = error;
        return;
    }
    char *text = cJSON_PrintUnformatted (canonical);
    wire_cmd_t cmd;
    request_cmd_fill (req->route->route, canonical, "", &cmd);
    if (!text || !thread)
        s_error (answer, 503, "OVERLOADED", "out of memory");
    else
        s_call (self, thread, req->route, req->rid, &cmd,
                req->route->takes_idem? req->idem: NULL, text, answer);
    free (text);
    cJSON_Delete (canonical);
}

//  Keeps upload bytes up to max_body; counts and drops the rest.
static int
s_take (s_front_t *self, s_request_t *req, const char *data, size_t size)
{
    req->seen += size;
    if (req->early_status || req->seen > self->cfg->max_body) {
        free (req->body);
        req->body = NULL;
        req->len = req->cap = 0;
        return 0;
    }
    if (req->len + size > req->cap) {
        size_t cap = req->cap? req->cap: 1024;
        while (cap < req->len + size)
            cap *= 2;
        if (cap > self->cfg->max_body)
            cap = self->cfg->max_body;
        char *body = (char *) realloc (req->body, cap);
        if (!body)
            return -1;
        req->body = body;
        req->cap = cap;
    }
    memcpy (req->body + req->len, data, size);
    req->len += size;
    return 0;
}

//  Frees a request context.
static void
s_request_free (s_request_t **req_p)
{
    if (!*req_p)
        return;
    free ((*req_p)->early_body);
    free ((*req_p)->body);
    free (*req_p);
    *req_p = NULL;
}


//  --------------------------------------------------------------------------
//  MHD callbacks

//  Answers a GET or HEAD request once its headers are in (the second
//  handler call: answering at the first would make MHD close the
//  connection).
static enum MHD_Result
s_handle_get (s_front_t *self, s_thread_t *thread, struct MHD_Connection *conn,
              const char *url, const char *method)
{
    int64_t started = zclock_usecs ();
    s_answer_t answer = { 0 };
    const request_route_t *route;
    const char *arg, *allow;
    int match = request_match (method, url, &route, &arg, &allow);
    char rid [REQUEST_RID_MAX + 1];
    s_request_id (thread, conn, rid, sizeof (rid));
    if (!s_route_error (self, method, url, route, match, allow, &answer))
        s_get (self, thread, route, arg, rid, &answer);
    metrics_route_t metric = (match == 200)? route->route: ROUTE_UNMATCHED;
    return s_respond (self, conn, metric, rid, method, url, started, &answer);
}

//  The first handler call of any other method: keeps a context for the
//  body and decides what the headers alone decide. Answers at once only
//  when the client waits for "100 Continue" or announces a body far past
//  the limit (MHD then closes the connection).
static enum MHD_Result
s_begin_body (s_front_t *self, s_thread_t *thread, struct MHD_Connection *conn,
              const char *url, const char *method, void **con_cls)
{
    s_request_t *req = (s_request_t *) calloc (1, sizeof (s_request_t));
    if (!req)
        return MHD_NO;
    *con_cls = req;
    req->started_us = zclock_usecs ();
    s_request_id (thread, conn, req->rid, sizeof (req->rid));
    req->content_type = MHD_lookup_connection_value (conn, MHD_HEADER_KIND,
                                                     MHD_HTTP_HEADER_CONTENT_TYPE);
    req->idem = MHD_lookup_connection_value (conn, MHD_HEADER_KIND, "Idempotency-Key");
    const char *length = MHD_lookup_connection_value (conn, MHD_HEADER_KIND,
                                                      MHD_HTTP_HEADER_CONTENT_LENGTH);
    uint64_t declared = length? strtoull (length, NULL, 10): 0;

    s_answer_t answer = { 0 };
    const request_route_t *route;
    const char *arg, *allow;
    int match = request_match (method, url, &route, &arg, &allow);
    if (s_route_error (self, method, url, route, match, allow, &answer)) {
        req->early_status = answer.status;
        req->early_body = answer.body;
        req->allow = answer.allow;
    }
    else {
        req->route = route;
        s_check_headers (self, req, declared, length != NULL);
    }
    req->metric = (match == 200)? route->route: ROUTE_UNMATCHED;

    const char *expect = MHD_lookup_connection_value (conn, MHD_HEADER_KIND,
                                                      MHD_HTTP_HEADER_EXPECT);
    bool waiting = expect && strcasecmp (expect, "100-continue") == 0;
    if (req->early_status
    &&  (waiting || declared / S_DRAIN_FACTOR > self->cfg->max_body)) {
        s_answer_t now = { req->early_status, req->early_body, NULL, req->allow };
        req->early_body = NULL;
        req->answered = true;
        return s_respond (self, conn, req->metric, req->rid, method, url, req->started_us,
                          &now);
    }
    return MHD_YES;
}

//  MHD's access handler: called once with the headers, then with each
//  piece of the body, then a last time with none.
static enum MHD_Result
s_handle (void *cls, struct MHD_Connection *conn, const char *url, const char *method,
          const char *version, const char *upload_data, size_t *upload_data_size,
          void **con_cls)
{
    s_front_t *self = (s_front_t *) cls;
    s_thread_t *thread = s_thread (self);

    if (!*con_cls) {
        //  First call: the headers are in.
        atomic_fetch_add (&self->in_flight, 1);
        if (streq (method, "GET") || streq (method, "HEAD")) {
            *con_cls = &self->get_marker;
            return MHD_YES;
        }
        return s_begin_body (self, thread, conn, url, method, con_cls);
    }
    if (*con_cls == &self->get_marker) {
        if (*upload_data_size) {
            *upload_data_size = 0;  //  a GET body means nothing here
            return MHD_YES;
        }
        *con_cls = &self->answered;
        return s_handle_get (self, thread, conn, url, method);
    }
    if (*con_cls == &self->answered) {
        *upload_data_size = 0;
        return MHD_YES;
    }
    s_request_t *req = (s_request_t *) *con_cls;
    if (*upload_data_size) {
        int rc = s_take (self, req, upload_data, *upload_data_size);
        *upload_data_size = 0;
        return rc? MHD_NO: MHD_YES;
    }
    if (req->answered)
        return MHD_YES;
    req->answered = true;
    s_answer_t answer = { 0 };
    s_finish (self, thread, req, &answer);
    return s_respond (self, conn, req->metric, req->rid, method, url, req->started_us,
                      &answer);
}

//  MHD's completion callback: the request is done (answered or not).
static void
s_completed (void *cls, struct MHD_Connection *conn, void **con_cls,
             enum MHD_RequestTerminationCode toe)
{
    s_front_t *self = (s_front_t *) cls;
    if (*con_cls != &self->answered && *con_cls != &self->get_marker) {
        s_request_t *req = (s_request_t *) *con_cls;
        s_request_free (&req);
    }
    *con_cls = NULL;
    atomic_fetch_sub (&self->in_flight, 1);
}

//  MHD's unescaping of %HH in the path and arguments, except that a decoded
//  NUL becomes U+0001: otherwise "/point/CUST-00000001%00junk" would reach
//  us cut at the NUL and pass as CUST-00000001. Ids refuse U+0001.
static size_t
s_unescape (void *cls, struct MHD_Connection *conn, char *text)
{
    size_t len = MHD_http_unescape (text);
    for (size_t i = 0; i < len; i++)
        if (text [i] == '\0')
            text [i] = '\x01';
    return len;
}

//  MHD's own error messages, into our log.
static void
s_mhd_log (void *cls, const char *fmt, va_list ap)
{
    char line [512];
    vsnprintf (line, sizeof (line), fmt, ap);
    size_t len = strlen (line);
    while (len && (line [len - 1] == '\n' || line [len - 1] == '\r'))
        line [--len] = '\0';
    log_warn (NULL, "http: %s", line);
}


//  --------------------------------------------------------------------------
//  Start and stop

//  How many connections at once: what the descriptor limit leaves after
//  the stores, sockets and logs.
static unsigned int
s_connection_limit (void)
{
    struct rlimit limit;
    if (getrlimit (RLIMIT_NOFILE, &limit) || limit.rlim_cur == RLIM_INFINITY)
        return S_CONN_LIMIT_MAX;
    rlim_t room = limit.rlim_cur > 2 * S_FD_RESERVE? limit.rlim_cur - S_FD_RESERVE
                                                    : limit.rlim_cur / 2;
    if (room > S_CONN_LIMIT_MAX)
        room = S_CONN_LIMIT_MAX;
    return room < 16? 16: (unsigned int) room;
}

//  Starts MHD on cfg->bind:cfg->port. Returns 0, or -1 with a log line.
static int
s_start (s_front_t *self)
{
    const config_t *cfg = self->cfg;
    char port [16];
    snprintf (port, sizeof (port), "%d", cfg->port);
    struct addrinfo hints = { 0 }, *addr = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    int gai = getaddrinfo (cfg->bind [0]? cfg->bind: NULL, port, &hints, &addr);
    if (gai || !addr) {
        log_error (NULL, "http: cannot listen on %s:%d: %s", cfg->bind, cfg->port,
                   gai_strerror (gai));
        if (addr)
            freeaddrinfo (addr);
        return -1;
    }
    unsigned int flags = MHD_USE_EPOLL | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ITC
                       | MHD_USE_ERROR_LOG;
    if (addr->ai_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    errno = 0;
    //  MHD runs one thread of its own, without a pool, for a size of 1
    //  (and warns if the option is given): give it only for 2 and more.
    struct MHD_OptionItem pool [] = {
        { MHD_OPTION_THREAD_POOL_SIZE, cfg->http_threads, NULL },
        { MHD_OPTION_END, 0, NULL }
    };
    if (cfg->http_threads < 2)
        pool [0].option = MHD_OPTION_END;
    self->daemon = MHD_start_daemon (
        flags, (uint16_t) cfg->port, NULL, NULL, s_handle, self,
        MHD_OPTION_EXTERNAL_LOGGER, s_mhd_log, self,
        MHD_OPTION_SOCK_ADDR, addr->ai_addr,
        MHD_OPTION_ARRAY, pool,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int) S_CONN_TIMEOUT_S,
        MHD_OPTION_CONNECTION_LIMIT, s_connection_limit (),
        MHD_OPTION_NOTIFY_COMPLETED, s_completed, self,
        MHD_OPTION_UNESCAPE_CALLBACK, s_unescape, self,
        MHD_OPTION_END);
    int error = errno;
    freeaddrinfo (addr);
    if (!self->daemon) {
        log_error (NULL, "http: cannot listen on %s:%d: %s", cfg->bind, cfg->port,
                   error? strerror (error): "libmicrohttpd refused to start");
        return -1;
    }
    log_info (NULL, "http: listening on %s:%d with %d threads, role %s", cfg->bind, cfg->port,
              cfg->http_threads, config_role_name (cfg->role));
    return 0;
}

//  Stops taking connections, lets requests in flight finish (bounded),
//  stops MHD (its threads close their sockets as they end).
static void
s_stop (s_front_t *self)
{
    if (!self->daemon)
        return;
    MHD_socket listener = MHD_quiesce_daemon (self->daemon);
    //  MHD no longer accepts; shut the socket so the kernel refuses new
    //  clients at once (they try another instance) instead of queueing them.
    //  It is closed only after MHD_stop_daemon, as MHD asks.
    if (listener != MHD_INVALID_SOCKET)
        shutdown (listener, SHUT_RDWR);
    int64_t deadline = zclock_mono () + self->cfg->request_timeout_ms + 1000;
    while (atomic_load (&self->in_flight) > 0 && zclock_mono () < deadline)
        zclock_sleep (10);
    int left = atomic_load (&self->in_flight);
    if (left > 0)
        log_warn (NULL, "http: stopping with %d requests still in flight", left);
    MHD_stop_daemon (self->daemon);
    self->daemon = NULL;
    if (listener != MHD_INVALID_SOCKET)
        close (listener);
    if (atomic_load (&self->threads_live) != 0)
        log_error (NULL, "http: %d thread states were not freed",
                   atomic_load (&self->threads_live));
}

//  Builds the front from its args; NULL on failure.
static s_front_t *
s_front_new (http_front_args_t *args)
{
    s_front_t *self = (s_front_t *) calloc (1, sizeof (s_front_t));
    if (!self)
        return NULL;
    self->cfg = args->cfg;
    self->metrics = args->metrics;
    atomic_init (&self->in_flight, 0);
    atomic_init (&self->threads_live, 0);
    atomic_init (&self->next_tag, 0);
    if (pthread_key_create (&self->key, s_thread_free)) {
        free (self);
        return NULL;
    }
    self->key_made = true;
    bool order = request_part_served (REQUEST_PART_ORDER, self->cfg->role);
    bool display = request_part_served (REQUEST_PART_DISPLAY, self->cfg->role);
    self->pool_size [0] = order? self->cfg->point_actors: 0;
    self->pool_size [1] = order? self->cfg->order_actors: 0;
    self->pool_size [2] = display? self->cfg->display_actors: 0;
    return self;
}

//  Stops the daemon if running and frees the front.
static void
s_front_destroy (s_front_t **self_p)
{
    s_front_t *self = *self_p;
    if (!self)
        return;
    s_stop (self);
    if (self->key_made)
        pthread_key_delete (self->key);
    free (self);
    *self_p = NULL;
}

//  The actor: start MHD, signal, serve until $TERM, stop.
void
http_front_actor (zsock_t *pipe, void *args)
{
    s_front_t *self = s_front_new ((http_front_args_t *) args);
    if (!self || s_start (self)) {
        s_front_destroy (&self);
        zsock_signal (pipe, (byte) -1);
        return;
    }
    zsock_signal (pipe, 0);

    zpoller_t *poller = zpoller_new (pipe, NULL);
    while (poller) {
        void *which = zpoller_wait (poller, 1000);
        if (which == pipe) {
            zmsg_t *msg = zmsg_recv (pipe);
            char *command = msg? zmsg_popstr (msg): NULL;
            bool term = !command || streq (command, "$TERM");
            if (!term)
                log_warn (NULL, "http: unknown command %s", command);
            zstr_free (&command);
            zmsg_destroy (&msg);
            if (term)
                break;
        }
        else
        if (zpoller_terminated (poller))
            break;
    }
    zpoller_destroy (&poller);
    s_front_destroy (&self);
}
