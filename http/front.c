/*  http_front — the HTTP front on libmicrohttpd, where no thread ever waits
    for an actor.

    The front actor opens a listening socket per worker (SO_REUSEPORT, so
    the kernel spreads connections over them) and starts cfg->http_threads
    workers. Each worker is a czmq actor that owns everything it touches: an
    MHD daemon in external epoll mode on its own listening socket, one
    DEALER per actor of each pool, a SUB for the display snapshots, and its
    own log batch. Its one loop polls the pipe, MHD's epoll descriptor, the
    SUB and the DEALERs together:

      - a request for an actor is validated here, once, into a typed
        wire_cmd_t stamped with its deadline (arrival + request timeout),
        sent without waiting, and its connection suspended; the worker goes
        on serving other connections;
      - the actor's reply resumes the connection and MHD answers it;
      - GET /display/menu and /display/best are answered from the worker's
        own copy of the last snapshot the display actors pushed, with no
        round trip and nothing shared.

    The front never answers 503 TIMEOUT itself: the actor refuses work whose
    deadline passed (503 TIMEOUT, nothing ran) and answers work it started
    with its real outcome. A read still unanswered at its deadline gets 503
    TIMEOUT here (a read changes nothing); a write whose actor has not
    answered S_GRACE_MS past the deadline has its connection closed without
    a status, since no status could be promised true. A request that cannot be queued (the
    actor's queue or this worker's table of open requests is full) gets 503
    OVERLOADED with Retry-After at once.

    Requests with a body are answered once the upload is complete (bytes past
    cfg->max_body are counted and dropped), so the client reads the answer;
    a client waiting for "100 Continue", one announcing a body far past the
    limit, and a request whose framing cannot be trusted (two
    Content-Length headers, Content-Length with Transfer-Encoding, HTTP/1.1
    without Host) are answered at once and the connection closed.

    The edge (edge.h), shared by every worker: an address past
    --max-conns-per-address is refused at accept; a request not read whole
    within --read-timeout-ms has its socket shut down by the worker's
    sweep; past --rate-per-address (at the headers) or --rate-per-customer
    (before dispatch) a request is answered 429 RATE_LIMITED with
    Retry-After and nothing runs.

    Routes marked admin in the table need "Authorization: Bearer <admin
    token>", compared in constant time (401 with WWW-Authenticate: Bearer
    otherwise; 404 when no admin token is configured). Static routes answer
    a built-in page file (page.h). PUT /admin/pools/{pool} is validated here
    and sent to main; a POOLS command on a worker's pipe resizes its DEALERs
    (see http_front.h). */
#include "http_front.h"
#include "request.h"
#include "actor.h"
#include "page.h"
#include "token.h"
#include "edge.h"
#include <microhttpd.h>
#include <sodium.h>
#include <stdatomic.h>
#include <fcntl.h>
#include <netdb.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#define S_POOL_COUNT      3         //  point, order, display
#define S_SPARE_MAX       64        //  freed requests a worker keeps (calloc and free showed in GET profiles)
#define S_ACTORS_MAX      HTTP_FRONT_POOL_MAX   //  DEALER slots per pool
#define S_CONN_TIMEOUT_S  30        //  idle or stalled connections are closed after this
#define S_CONN_LIMIT_MAX  10000     //  most connections at once, all workers together
#define S_FD_RESERVE      256       //  descriptors left for stores, sockets, logs
#define S_DRAIN_FACTOR    16        //  bodies announced past max_body x this are cut at once
#define S_LOG_PATH_MAX    200       //  bytes of the path written to a log line
#define S_OPEN_MAX        4096      //  requests one worker may have at the actors at once
#define S_QUEUE_HWM       1000      //  messages queued towards one actor, per worker
#define S_GRACE_MS        5000      //  wait past the deadline for an actor's real outcome
#define S_SWEEP_MS        50        //  how often open requests are checked for give-up
#define S_IDLE_MS         1000      //  longest poll when nothing is due
#define S_BACKLOG         1024      //  listen(2) backlog
#define S_RETRY_AFTER     "1"       //  seconds a client is asked to wait after 503 OVERLOADED
#define S_EDGE_SWEEP_MS   200       //  how often read deadlines are checked (edge.h)

#define S_JSON_TYPE    "application/json; charset=utf-8"
#define S_METRICS_TYPE "text/plain; version=0.0.4"

//  The pools in a fixed order, with their queue gauges.
static const char *const s_pool_names [S_POOL_COUNT] = {
    ACTOR_POOL_POINT, ACTOR_POOL_ORDER, ACTOR_POOL_DISPLAY
};
static const metrics_gauge_t s_pool_gauges [S_POOL_COUNT] = {
    GAUGE_QUEUE_POINT, GAUGE_QUEUE_ORDER, GAUGE_QUEUE_DISPLAY
};
#define S_DISPLAY 2                 //  position of the display pool

//  Tags of a worker's epoll set.
#define S_TAG_PIPE    0             //  the worker's pipe
#define S_TAG_MHD     1             //  MHD's own epoll descriptor
#define S_TAG_SUB     2             //  the snapshot SUB
#define S_TAG_ADMIN   3             //  the DEALER to main's pool resizer
#define S_TAG_DEALER  4             //  + p * S_ACTORS_MAX + i: DEALER i of pool p
#define S_EVENTS_MAX  64            //  events taken per epoll_wait

//  What the front actor gives its workers: each takes its own copy at start
//  (the pool sizes in it then follow POOLS commands).
typedef struct {
    const config_t *cfg;            //  settings
    metrics_t *metrics;             //  shared counters (atomics)
    const int *listen_fds;          //  each worker's listening socket, by index
    int pool_size [S_POOL_COUNT];   //  actors per pool, 0 when this role does not run it
    unsigned int conn_limit;        //  connections one worker may hold
    unsigned char admin_hash [crypto_generichash_BYTES];  //  hash of the admin token
    bool admin_on;                  //  an admin token is configured
    edge_t *edge;                   //  connections per address and rate buckets, all workers
} s_shared_t;

//  Where a request is in its life.
typedef enum {
    S_NEW = 0,                      //  headers (and body) being read
    S_WAITING,                      //  sent to actors; connection suspended
    S_REPLIED,                      //  answer ready; connection resumed
    S_ABANDONED,                    //  no answer will be sent: close the connection
    S_DONE                          //  response queued
} s_state_t;

//  A display snapshot's body, shared by the worker and the responses that
//  send it: each holds a reference. MHD drops a response's in this
//  worker's thread (MHD_run and MHD_stop_daemon run nowhere else), so the
//  count is a plain int.
typedef struct {
    int refs;                       //  references held
    size_t len;                     //  bytes of text, without its NUL
    char text [];                   //  the JSON body
} s_snap_t;

//  One answer, before it becomes an MHD response.
typedef struct {
    int status;                     //  HTTP status
    char *body;                     //  body text (free()); NULL means out of memory → 500
    s_snap_t *snap;                 //  or a snapshot sent as it is (borrowed), body NULL
    const char *content_type;       //  Content-Type
    const char *allow;              //  Allow header or NULL
    bool close;                     //  close the connection after it
    int retry_after;                //  Retry-After seconds of a 429, 0 for S_RETRY_AFTER
} s_answer_t;

//  One request, from its headers to its completion.
typedef struct {
    struct MHD_Connection *conn;    //  its connection
    const route_t *route;   //  matched route, NULL when early_status is set
    metrics_route_t metric;         //  route counted in the metrics
    s_state_t state;                //  where it is
    bool get;                       //  GET or HEAD: no body is read
    int64_t started_us;             //  when its headers were read
    char rid [REQUEST_RID_MAX + 1]; //  request id
    const char *arg;                //  path parameter (into MHD's url, or arg_own)
    char arg_own [64];              //  the {id} of a route with a suffix, cut out
    uint8_t auth;                   //  wire_auth_t of its credential (customer routes)
    char token_hash [TOKEN_HASH_MAX];   //  hash of its customer token
    int early_status;               //  answer decided from the headers alone, or 0
    s_answer_t early;               //  that answer
    const char *content_type;       //  Content-Type header or NULL (valid while the request lives)
    const char *idem;               //  Idempotency-Key header or NULL (same)
    char *body;                     //  body received so far (not NUL-terminated)
    size_t len;                     //  bytes in body
    size_t cap;                     //  bytes allocated
    size_t seen;                    //  bytes received, kept or not
    int64_t give_up_ms;             //  zclock_mono when waiting stops
    int waits;                      //  replies still awaited (0 or 1)
    s_answer_t answer;              //  the actor's answer once S_REPLIED
} s_request_t;

//  A request at an actor, by the seq of its message.
typedef struct {
    uint64_t seq;                   //  the wire seq, 0 when the slot is free
    s_request_t *req;               //  the request waiting for it
    int pool;                       //  pool it went to (queue gauge), -1 for main
    int index;                      //  actor of that pool
} s_open_t;

//  One HTTP worker: everything in it is touched by its thread only.
typedef struct {
    s_shared_t *shared;             //  own: this worker's copy, whose pool sizes follow resizes
    s_shared_t own;                 //  the copy shared points to
    int index;                      //  position among the workers
    zsock_t *pipe;                  //  its pipe (signals a finished resize)
    struct MHD_Daemon *daemon;      //  this worker's MHD
    zsock_t *dealers [S_POOL_COUNT][S_ACTORS_MAX];  //  per pool, per actor; NULL when none
    int owed [S_POOL_COUNT][S_ACTORS_MAX];  //  answers still owed by each actor
    bool sent [S_POOL_COUNT][S_ACTORS_MAX]; //  DEALER was sent on this pass
    int sent_list [S_POOL_COUNT * S_ACTORS_MAX];    //  those, as p * S_ACTORS_MAX + i
    int sent_count;                 //  entries in sent_list
    bool draining;                  //  a shrink waits for answers from removed actors
    zsock_t *admin;                 //  DEALER to main's pool resizer
    zsock_t *snapshots;             //  SUB to every display actor's snapshot PUB
    s_snap_t *snap_menu;            //  last GET /display/menu body, or NULL
    s_snap_t *snap_best;            //  last GET /display/best body, or NULL
    int64_t snap_stamp;             //  when the display actor read that snapshot
    int epoll_fd;                   //  MHD's epoll fd and the ZMQ_FD of pipe, SUB, DEALERs
    s_open_t open [S_OPEN_MAX];     //  requests at the actors, by seq % S_OPEN_MAX
    int open_count;                 //  used slots of open
    uint64_t seq;                   //  last wire seq sent
    uint64_t rid_count;             //  requests given a generated id
    unsigned rr [S_POOL_COUNT];     //  round-robin cursor per pool
    int in_flight;                  //  requests begun and not yet completed
    int64_t next_sweep;             //  zclock_mono of the next give-up check
    bool quiesced;                  //  no longer accepting
    log_batch_t log;                //  access log lines not yet written
    edge_watch_t *watch;            //  its connections, their counts and read deadlines
    int64_t next_edge_sweep;        //  zclock_mono of the next read-deadline check
    bool pipe_due;                  //  the pipe may hold a command: look at its ZMQ_EVENTS
    s_request_t *spare [S_SPARE_MAX];   //  requests freed, kept for the next ones
    int spare_count;                //  entries in spare
} s_worker_t;


//  --------------------------------------------------------------------------
//  Small helpers

//  Copies src into dst (size bytes), cut to fit.
static void
s_copy (char *dst, size_t size, const char *src)
{
    size_t len = src? strlen (src): 0;
    if (len >= size)
        len = size - 1;
    memcpy (dst, src? src: "", len);
    dst [len] = '\0';
}

//  FNV-1a of a customer id, the key of its lane (s_lane).
static uint32_t
s_hash (const char *text)
{
    uint32_t hash = 2166136261u;
    for (const unsigned char *p = (const unsigned char *) text; *p; p++)
        hash = (hash ^ *p) * 16777619u;
    return hash;
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

//  Copies text to buf at at; returns the new end.
static size_t
s_put (char *buf, size_t at, const char *text)
{
    size_t len = strlen (text);
    memcpy (buf + at, text, len);
    return at + len;
}

//  Writes number in base (10 or 16), at least min digits (up to 16), to
//  buf at at; returns the new end.
static size_t
s_put_number (char *buf, size_t at, uint64_t number, unsigned base, int min)
{
    static const char digit [] = "0123456789abcdef";
    char digits [24];
    int count = 0;
    do {
        digits [count++] = digit [number % base];
        number /= base;
    } while (number > 0);
    while (count < min && count < 16)
        digits [count++] = '0';
    while (count > 0)
        buf [at++] = digits [--count];
    return at;
}

//  Fills answer with an error.
static void
s_error (s_answer_t *answer, int status, const char *code, const char *message)
{
    answer->status = status;
    answer->body = request_error_json (code, message, NULL);
}

//  A copy of text as an answer body (NULL when out of memory).
static char *
s_dup (const char *text)
{
    return text? strdup (text): NULL;
}

//  A snapshot of text (taken: zstr_free'd), one reference held; NULL when
//  out of memory.
static s_snap_t *
s_snap_new (char **text_p)
{
    size_t len = strlen (*text_p);
    s_snap_t *snap = (s_snap_t *) malloc (sizeof (s_snap_t) + len + 1);
    if (snap) {
        snap->refs = 1;
        snap->len = len;
        memcpy (snap->text, *text_p, len + 1);
    }
    zstr_free (text_p);
    return snap;
}

//  Drops a reference to a snapshot; MHD's free callback of its responses.
static void
s_snap_release (void *cls)
{
    s_snap_t *snap = (s_snap_t *) cls;
    if (snap && --snap->refs == 0)
        free (snap);
}


//  --------------------------------------------------------------------------
//  Answers

//  Queues the answer on the connection, counts it and logs it. Takes the
//  answer's body.
static enum MHD_Result
s_respond (s_worker_t *self, s_request_t *req, const char *method, const char *url,
           s_answer_t *answer)
{
    if (!answer->body && !answer->snap) {
        answer->status = 500;
        answer->body = request_error_json ("INTERNAL", "out of memory", NULL);
    }
    if (!answer->content_type)
        answer->content_type = S_JSON_TYPE;
    enum MHD_Result rc = MHD_NO;
    struct MHD_Response *response = NULL;
    if (answer->snap) {
        response = MHD_create_response_from_buffer_with_free_callback_cls (
            answer->snap->len, answer->snap->text, s_snap_release, answer->snap);
        if (response)
            answer->snap->refs++;   //  MHD releases it
        answer->snap = NULL;
    }
    else
    if (answer->body)
        response = MHD_create_response_from_buffer_with_free_callback (strlen (answer->body),
                                                                       answer->body, free);
    if (response) {
        answer->body = NULL;        //  MHD frees it now
        MHD_add_response_header (response, MHD_HTTP_HEADER_CONTENT_TYPE, answer->content_type);
        MHD_add_response_header (response, "X-Request-Id", req->rid);
        if (answer->allow)
            MHD_add_response_header (response, MHD_HTTP_HEADER_ALLOW, answer->allow);
        if (answer->status == 503 || answer->status == 429) {
            char retry [16];
            snprintf (retry, sizeof retry, "%d", answer->retry_after);
            MHD_add_response_header (response, MHD_HTTP_HEADER_RETRY_AFTER,
                                     answer->retry_after > 0? retry: S_RETRY_AFTER);
        }
        if (answer->status == 401)
            MHD_add_response_header (response, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
        if (strncmp (answer->content_type, "text/html", 9) == 0)
            MHD_add_response_header (response, MHD_HTTP_HEADER_CONTENT_SECURITY_POLICY,
                                     "default-src 'self'; frame-ancestors 'none'");
        if (answer->close)
            MHD_add_response_header (response, MHD_HTTP_HEADER_CONNECTION, "close");
        rc = MHD_queue_response (req->conn, (unsigned int) answer->status, response);
        MHD_destroy_response (response);
    }
    free (answer->body);
    answer->body = NULL;
    req->state = S_DONE;

    int64_t micros = zclock_usecs () - req->started_us;
    metrics_observe (self->shared->metrics, req->metric, answer->status, (double) micros / 1e6);
    //  "GET /display/best 200 3.1ms", by hand: printf showed in profiles
    char text [S_LOG_PATH_MAX + 96];
    size_t at = strnlen (method, 16);       //  MHD took it as a token
    memcpy (text, method, at);
    text [at++] = ' ';
    s_printable (url, text + at, S_LOG_PATH_MAX);
    at += strlen (text + at);
    text [at++] = ' ';
    at = s_put_number (text, at, (uint64_t) answer->status, 10, 1);
    text [at++] = ' ';
    at = s_put_number (text, at, (uint64_t) (micros < 0? 0: micros / 1000), 10, 1);
    text [at++] = '.';
    text [at++] = (char) ('0' + (micros < 0? 0: micros % 1000 / 100));
    at = s_put (text, at, rc == MHD_YES? "ms": "ms (not sent)");
    text [at] = '\0';
    log_batch_text (&self->log, LOG_LEVEL_INFO, req->rid, text);
    return rc;
}

//  The request id: the client's X-Request-Id when well formed, else
//  "r-<counter>-<worker>" (hex), unique in the process.
static void
s_request_id (s_worker_t *self, struct MHD_Connection *conn, char *rid, size_t len)
{
    const char *given = MHD_lookup_connection_value (conn, MHD_HEADER_KIND, "X-Request-Id");
    if (request_rid_ok (given)) {
        snprintf (rid, len, "%s", given);
        return;
    }
    //  "r-0000002a-3", by hand (a request each)
    assert (len >= sizeof "r-" + 16 + 1 + 8);
    size_t at = s_put (rid, 0, "r-");
    at = s_put_number (rid, at, ++self->rid_count, 16, 8);
    rid [at++] = '-';
    at = s_put_number (rid, at, (unsigned) self->index, 16, 1);
    rid [at] = '\0';
}

//  Answers that depend only on the method and path: 404, 405, or a route of
//  a part this role does not run. Returns true with answer filled.
static bool
s_route_error (s_worker_t *self, const char *method, const char *url,
               const route_t *route, int match, const char *allow,
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
    if (!route_part_served (route->part, self->shared->cfg->role)) {
        snprintf (message, sizeof (message), "%s %s is served by the %s", route->method,
                  route_label (route->route),
                  route->part == ROUTE_PART_DISPLAY? "display role"
                  : route->part == ROUTE_PART_ORDER? "order role": "order and display roles");
        s_error (answer, 404, "NOT_FOUND", message);
        return true;
    }
    return false;
}


//  --------------------------------------------------------------------------
//  Framing: what must be refused before a body is read

//  How often the headers that frame a request were sent.
typedef struct {
    int length;                     //  Content-Length
    int encoding;                   //  Transfer-Encoding
    int host;                       //  Host
} s_framing_t;

//  MHD_get_connection_values callback counting into an s_framing_t.
static enum MHD_Result
s_count_framing (void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
    s_framing_t *count = (s_framing_t *) cls;
    if (!key)
        return MHD_YES;
    if (strcasecmp (key, MHD_HTTP_HEADER_CONTENT_LENGTH) == 0)
        count->length++;
    else
    if (strcasecmp (key, MHD_HTTP_HEADER_TRANSFER_ENCODING) == 0)
        count->encoding++;
    else
    if (strcasecmp (key, MHD_HTTP_HEADER_HOST) == 0)
        count->host++;
    return MHD_YES;
}

//  A request whose length cannot be trusted: the peer and any proxy before
//  it might disagree on where it ends, so a second request could hide in
//  its body. Returns true with answer filled (the connection is closed).
static bool
s_framing_error (struct MHD_Connection *conn, const char *version, s_answer_t *answer)
{
    const char *message = NULL;
    s_framing_t count = { 0, 0, 0 };
    MHD_get_connection_values (conn, MHD_HEADER_KIND, s_count_framing, &count);
    if (count.length > 1)
        message = "Content-Length: send it once";
    else
    if (count.length == 1 && count.encoding > 0)
        message = "Content-Length: must not come with Transfer-Encoding";
    else
    if (version && streq (version, MHD_HTTP_VERSION_1_1) && count.host != 1)
        message = "Host: an HTTP/1.1 request carries exactly one";
    if (!message)
        return false;
    s_error (answer, 400, "INVALID_HEADER", message);
    answer->close = true;
    return true;
}


//  --------------------------------------------------------------------------
//  The edge: connections per address, read deadlines, request rates (edge.h)

//  Closes the connections whose request did not arrive whole within
//  --read-timeout-ms (no answer: MHD cannot answer while a body is being
//  read), and logs and counts those and the connections refused at their
//  address's limit.
static void
s_edge_sweep (s_worker_t *self)
{
    int cut = edge_watch_sweep (self->watch, edge_now_ms ());
    if (cut) {
        log_batch_line (&self->log, LOG_LEVEL_WARN, NULL,
                        "%d connection(s) closed: request not read whole within %d ms", cut,
                        self->shared->cfg->read_timeout_ms);
        metrics_gauge_add (self->shared->metrics, GAUGE_CONNS_CUT, cut);
    }
    int refused = edge_watch_refused (self->watch);
    if (refused) {
        log_batch_line (&self->log, LOG_LEVEL_WARN, NULL,
                        "%d connection(s) refused: their address holds its limit already",
                        refused);
        metrics_gauge_add (self->shared->metrics, GAUGE_CONNS_REFUSED, refused);
    }
    const union MHD_DaemonInfo *info =
        MHD_get_daemon_info (self->daemon, MHD_DAEMON_INFO_CURRENT_CONNECTIONS);
    if (info)
        metrics_http_connections (self->shared->metrics, self->index,
                                  (int64_t) info->num_connections);
    self->next_edge_sweep = zclock_mono () + S_EDGE_SWEEP_MS;
}

//  429 RATE_LIMITED with Retry-After when a bucket had no token for the
//  request (wait_us > 0): nothing runs. Returns true with answer filled.
static bool
s_rate_error (int64_t wait_us, const char *whose, s_answer_t *answer)
{
    if (!wait_us)
        return false;
    char message [128];
    answer->retry_after = edge_retry_after (wait_us);
    snprintf (message, sizeof message, "too many requests %s; retry after %d s", whose,
              answer->retry_after);
    s_error (answer, 429, "RATE_LIMITED", message);
    return true;
}


//  --------------------------------------------------------------------------
//  Talking to the actors

//  Takes a free slot for a new message to actor index of pool p (p -1:
//  main) and returns its seq, or 0
//  when this worker has S_OPEN_MAX requests open already.
static uint64_t
s_open_slot (s_worker_t *self, s_request_t *req, int p, int index)
{
    if (self->open_count >= S_OPEN_MAX)
        return 0;
    uint64_t seq = self->seq + 1;
    while (self->open [seq % S_OPEN_MAX].seq)
        seq++;              //  a long wait holds its slot; skip past it
    self->seq = seq;
    s_open_t *slot = &self->open [seq % S_OPEN_MAX];
    slot->seq = seq;
    slot->req = req;
    slot->pool = p;
    slot->index = index;
    self->open_count++;
    if (p >= 0) {
        self->owed [p][index]++;
        metrics_gauge_add (self->shared->metrics, s_pool_gauges [p], 1);
    }
    return seq;
}

//  Frees the slot of seq.
static void
s_close_slot (s_worker_t *self, s_open_t *slot)
{
    if (slot->pool >= 0) {
        self->owed [slot->pool][slot->index]--;
        metrics_gauge_add (self->shared->metrics, s_pool_gauges [slot->pool], -1);
    }
    slot->seq = 0;
    slot->req = NULL;
    self->open_count--;
}

//  Sends one request for req to actor index of pool p without waiting.
//  Returns 0, or -1 when it could not be queued (actor queue or open
//  table full).
static int
s_send (s_worker_t *self, s_request_t *req, int p, int index, const char *op,
        const wire_cmd_t *cmd, const char *idem, const char *body)
{
    uint64_t seq = s_open_slot (self, req, p, index);
    if (!seq)
        return -1;
    wire_request_t msg;
    memset (&msg, 0, offsetof (wire_request_t, cmd));
    s_copy (msg.rid, sizeof (msg.rid), req->rid);
    s_copy (msg.op, sizeof (msg.op), op);
    s_copy (msg.idem, sizeof (msg.idem), idem);
    msg.seq = seq;
    msg.deadline_ms = req->started_us / 1000 + self->shared->cfg->request_timeout_ms;
    msg.cmd = *cmd;
    msg.body = (char *) (body? body: "");
    //  A send can swallow the edge of the DEALER's ZMQ_FD: look at it
    //  again at the end of the pass.
    if (!self->sent [p][index]) {
        //  a DEALER is closed only between passes, so it is listed once
        assert (self->sent_count < S_POOL_COUNT * S_ACTORS_MAX);
        self->sent [p][index] = true;
        self->sent_list [self->sent_count++] = p * S_ACTORS_MAX + index;
    }
    if (wire_request_send (self->dealers [p][index], &msg) != 0) {
        s_close_slot (self, &self->open [seq % S_OPEN_MAX]);
        return -1;
    }
    req->waits++;
    return 0;
}

//  The bucket of key among buckets (1..): jump consistent hash (Lamping and
//  Veach, 2014). Going from k to k + 1 buckets moves only the keys that
//  land in the new one, a 1/(k + 1) share.
static int
s_jump (uint64_t key, int buckets)
{
    int64_t bucket = -1;
    int64_t next = 0;
    while (next < buckets) {
        bucket = next;
        key = key * 2862933555777941757ULL + 1;
        next = (int64_t) ((double) (bucket + 1)
                          * ((double) (1LL << 31) / (double) ((key >> 33) + 1)));
    }
    return (int) bucket;
}

//  The lanes of pool p (n actors) open now. A lane opens for every
//  --lane-requests requests at the pool (all workers): an actor takes at
//  most a group's worth at once, and while fewer lanes can take the load,
//  spreading it over more only makes their groups smaller, and a group
//  costs its transaction's statements whatever its size. With
//  --lane-requests 0, every actor is a lane.
static int
s_lanes (s_worker_t *self, int p, int n)
{
    int64_t per = self->shared->cfg->lane_requests;
    if (per <= 0)
        return n;
    int64_t at = metrics_gauge_get (self->shared->metrics, s_pool_gauges [p]);
    if (at < 0)
        at = 0;
    return at / per + 1 < n ? (int) (at / per) + 1 : n;
}

//  The actor of a request of customer_id: one of the pool's lanes, by a
//  hash of the id, so that one customer's requests meet in one actor and
//  its orders go in one group, in the order given.
static int
s_lane (s_worker_t *self, int p, int n, const char *customer_id)
{
    return s_jump (s_hash (customer_id), s_lanes (self, p, n));
}

//  Hands a validated request to an actor of the route's pool and suspends
//  its connection; or fills answer with 503 OVERLOADED when it cannot be
//  queued. Returns true when the request is now waiting.
static bool
s_dispatch (s_worker_t *self, s_request_t *req, const wire_cmd_t *cmd, const char *body,
            s_answer_t *answer)
{
    const route_t *route = req->route;
    int p = s_pool_of (route->pool);
    assert (p >= 0 && self->shared->pool_size [p] > 0);   //  our own table and role check
    int n = self->shared->pool_size [p];
    int index = *cmd->customer_id? s_lane (self, p, n, cmd->customer_id)
                                 : (int) (self->rr [p]++ % (unsigned) n);
    const char *idem = route->takes_idem? req->idem: NULL;
    if (*cmd->customer_id
    &&  s_rate_error (edge_rate_customer (self->shared->edge, req->conn, cmd->customer_id,
                                          zclock_usecs ()), "for this customer", answer))
        return false;
    if (s_send (self, req, p, index, route->op, cmd, idem, body) != 0) {
        s_error (answer, 503, "OVERLOADED", "the service is busy; retry shortly");
        log_batch_line (&self->log, LOG_LEVEL_WARN, req->rid,
                        "%s actor %d: request could not be queued", route->pool, index);
        return false;
    }
    //  A read that outlives its deadline may be answered 503 TIMEOUT (running
    //  it later changes nothing); a write waits S_GRACE_MS more for its real
    //  outcome.
    req->give_up_ms = req->started_us / 1000 + self->shared->cfg->request_timeout_ms
                    + (req->get? 0: S_GRACE_MS);
    req->state = S_WAITING;
    MHD_suspend_connection (req->conn);
    return true;
}

//  Adds part → "UP"/"DOWN" for a bridge gauge, unless this role does not run it.
static bool
s_health_gauge (s_worker_t *self, cJSON *parts, const char *part, metrics_gauge_t gauge)
{
    int64_t value = metrics_gauge_get (self->shared->metrics, gauge);
    if (value < 0)
        return true;
    cJSON_AddStringToObject (parts, part, value > 0? "UP": "DOWN");
    return value > 0;
}

//  The gauge counting a pool's actors that are down.
static const metrics_gauge_t s_pool_down [S_POOL_COUNT] = {
    GAUGE_DOWN_POINT, GAUGE_DOWN_ORDER, GAUGE_DOWN_DISPLAY
};

//  GET /health: what each pool's actors last reported of their stores
//  (they check every second) and the bridge gauges. No actor is asked, so
//  a stalled store never makes health slow.
static void
s_health_answer (s_worker_t *self, s_answer_t *answer)
{
    cJSON *json = cJSON_CreateObject ();
    cJSON_AddStringToObject (json, "status", "UP");
    cJSON_AddStringToObject (json, "role", config_role_name (self->shared->cfg->role));
    cJSON *parts = cJSON_AddObjectToObject (json, "parts");
    bool ready = true;
    for (int p = 0; p < S_POOL_COUNT; p++) {
        if (self->shared->pool_size [p] == 0)
            continue;
        bool up = metrics_gauge_get (self->shared->metrics, s_pool_down [p]) == 0;
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

//  Hands one reply to the request that waits for it: fills it and, when
//  that was the last reply it waited for, resumes its connection.
static void
s_deliver (s_worker_t *self, uint64_t seq, int status, char *body)
{
    s_open_t *slot = &self->open [seq % S_OPEN_MAX];
    if (slot->seq != seq) {
        zstr_free (&body);  //  a request we gave up on
        return;
    }
    s_request_t *req = slot->req;
    s_close_slot (self, slot);
    req->waits--;
    req->answer.status = status;
    req->answer.body = body;        //  zstr_free and free are the same allocator
    if (req->waits == 0 && req->state == S_WAITING) {
        req->state = S_REPLIED;
        MHD_resume_connection (req->conn);
    }
}

//  Takes every reply waiting on one DEALER.
static void
s_take_replies (s_worker_t *self, zsock_t *dealer)
{
    while (zsock_events (dealer) & ZMQ_POLLIN) {
        uint64_t seq = 0;
        int status = 0;
        char *body = NULL;
        if (wire_reply_recv (dealer, &seq, &status, &body) != 0)
            continue;       //  malformed: logged and dropped by wire
        s_deliver (self, seq, status, body);
    }
}

//  Takes every answer of main's pool resizer: seq, status, JSON body.
static void
s_take_admin (s_worker_t *self)
{
    while (zsock_events (self->admin) & ZMQ_POLLIN) {
        uint64_t seq = 0;
        int status = 0;
        char *body = NULL;
        if (zsock_recv (self->admin, "8is", &seq, &status, &body) != 0 || !body) {
            zstr_free (&body);
            continue;
        }
        s_deliver (self, seq, status, body);
    }
}

//  Gives up on requests whose actors did not answer by their give-up time
//  (or on all of them when all is true, at stop): a read is answered 503
//  TIMEOUT; a write is closed without a status.
static void
s_sweep (s_worker_t *self, bool all)
{
    int64_t now = zclock_mono ();
    for (int i = 0; i < S_OPEN_MAX && self->open_count > 0; i++) {
        s_open_t *slot = &self->open [i];
        if (!slot->seq || (!all && now < slot->req->give_up_ms))
            continue;
        s_request_t *req = slot->req;
        s_close_slot (self, slot);
        req->waits--;
        if (req->state != S_WAITING)
            continue;
        if (req->get) {
            s_error (&req->answer, 503, "TIMEOUT", "no answer in time; nothing was changed");
            req->state = S_REPLIED;
        }
        else {
            req->state = S_ABANDONED;
            log_batch_line (&self->log, LOG_LEVEL_ERROR, req->rid,
                            "%s: no answer %d ms past the deadline; closing the connection "
                            "(its outcome is unknown)",
                            req->route->pool? req->route->pool: "main", S_GRACE_MS);
        }
        MHD_resume_connection (req->conn);
    }
}


//  --------------------------------------------------------------------------
//  Display snapshots

//  Takes every snapshot waiting on the SUB, keeping the newest: frames
//  "SNAP", stamp (decimal, zclock_usecs of its read), menu JSON, best JSON.
static void
s_take_snapshots (s_worker_t *self)
{
    while (zsock_events (self->snapshots) & ZMQ_POLLIN) {
        zmsg_t *msg = zmsg_recv (self->snapshots);
        if (!msg)
            return;
        char *verb = zmsg_popstr (msg);
        char *stamp = zmsg_popstr (msg);
        char *menu = zmsg_popstr (msg);
        char *best = zmsg_popstr (msg);
        int64_t when = stamp? strtoll (stamp, NULL, 10): 0;
        if (verb && streq (verb, "SNAP") && menu && best && when >= self->snap_stamp) {
            s_snap_t *snap_menu = s_snap_new (&menu);
            s_snap_t *snap_best = s_snap_new (&best);
            if (snap_menu && snap_best) {
                s_snap_release (self->snap_menu);
                s_snap_release (self->snap_best);
                self->snap_menu = snap_menu;
                self->snap_best = snap_best;
                self->snap_stamp = when;
            }
            else {
                s_snap_release (snap_menu);
                s_snap_release (snap_best);
            }
        }
        zstr_free (&verb);
        zstr_free (&stamp);
        zstr_free (&menu);
        zstr_free (&best);
        zmsg_destroy (&msg);
    }
}


//  --------------------------------------------------------------------------
//  Deciding a request

//  The hash of a bearer token, and whether it is the admin token (compared
//  in constant time; hashing first also hides the token's length).
static bool
s_is_admin (s_worker_t *self, const char *token, unsigned char *hash)
{
    crypto_generichash (hash, crypto_generichash_BYTES, (const unsigned char *) token,
                        strlen (token), NULL, 0);
    return self->shared->admin_on
        && sodium_memcmp (hash, self->shared->admin_hash, crypto_generichash_BYTES) == 0;
}

//  Keeps the hash of token (NULL or "": admin routes off) in shared: at
//  start, and in each worker on ADMIN (SIGHUP reread the token file).
static void
s_admin_set (s_shared_t *shared, const char *token)
{
    shared->admin_on = token && *token;
    memset (shared->admin_hash, 0, sizeof shared->admin_hash);
    if (shared->admin_on)
        crypto_generichash (shared->admin_hash, sizeof shared->admin_hash,
                            (const unsigned char *) token, strlen (token), NULL, 0);
}

//  An admin route without the admin token: 404 while no admin token is
//  configured (admin routes are off), 401 when it is missing or wrong.
//  Returns true with answer filled.
static bool
s_admin_error (s_worker_t *self, struct MHD_Connection *conn, const route_t *route,
               s_answer_t *answer)
{
    if (!self->shared->admin_on) {
        s_error (answer, 404, "NOT_FOUND", route->route == ROUTE_METRICS
                 ? "/metrics needs the admin token: start coffee with --admin-token-file,"
                   " or with --metrics-public on"
                 : "admin routes are off: start coffee with --admin-token-file");
        return true;
    }
    const char *auth = MHD_lookup_connection_value (conn, MHD_HEADER_KIND,
                                                    MHD_HTTP_HEADER_AUTHORIZATION);
    const char *token = token_of_header (auth);
    unsigned char hash [crypto_generichash_BYTES];
    if (token && s_is_admin (self, token, hash))
        return false;
    s_error (answer, 401, "UNAUTHORIZED", auth? "Authorization: the admin token is wrong"
                                              : "Authorization: send Bearer <admin token>");
    return true;
}

//  A customer route: reads the bearer token into req (the admin's, or a
//  customer's by its hash, which the actor checks against the customer the
//  request acts for). With --auth off nothing is needed, except to replace
//  a token. Returns true with answer filled (401) when no credential came.
static bool
s_customer_error (s_worker_t *self, struct MHD_Connection *conn, s_request_t *req,
                  s_answer_t *answer)
{
    if (!self->shared->cfg->auth && req->route->route != ROUTE_CUSTOMER_TOKEN) {
        req->auth = WIRE_AUTH_OPEN;
        return false;
    }
    const char *auth = MHD_lookup_connection_value (conn, MHD_HEADER_KIND,
                                                    MHD_HTTP_HEADER_AUTHORIZATION);
    const char *token = token_of_header (auth);
    unsigned char hash [crypto_generichash_BYTES];
    const char *why = "Authorization: send Bearer <token> (POST /customer hands one out)";
    if (token && s_is_admin (self, token, hash)) {
        req->auth = WIRE_AUTH_ADMIN;
        return false;
    }
    if (token && token_well_formed (token)) {
        req->auth = WIRE_AUTH_TOKEN;
        sodium_bin2hex (req->token_hash, sizeof req->token_hash, hash, sizeof hash);
        return false;
    }
    if (token)
        why = "Authorization: this is not a token this service issues";
    s_error (answer, 401, "UNAUTHORIZED", why);
    return true;
}

//  Puts the request's credential into its command.
static void
s_cmd_auth (const s_request_t *req, wire_cmd_t *cmd)
{
    cmd->auth = req->auth;
    memcpy (cmd->token_hash, req->token_hash, sizeof cmd->token_hash);
}

//  GET /metrics: the shared counters, this worker's pool sizes (every
//  worker follows each resize before main answers it) and the lanes open
//  now in the pools whose requests go by customer.
static char *
s_metrics (s_worker_t *self)
{
    char *text = metrics_render (self->shared->metrics);
    if (!text)
        return NULL;
    char extra [1024];
    int used = snprintf (extra, sizeof extra,
                         "# HELP coffee_actor_pool_size Actors serving each pool.\n"
                         "# TYPE coffee_actor_pool_size gauge\n");
    for (int p = 0; p < S_POOL_COUNT; p++)
        if (self->shared->pool_size [p] > 0)
            used += snprintf (extra + used, sizeof extra - (size_t) used,
                              "coffee_actor_pool_size{pool=\"%s\"} %d\n", s_pool_names [p],
                              self->shared->pool_size [p]);
    const char *lanes_head = "# HELP coffee_actor_lanes Actors a pool's customers are routed"
                             " to now (--lane-requests).\n# TYPE coffee_actor_lanes gauge\n";
    for (int p = 0; p < S_POOL_COUNT; p++)
        if (p != S_DISPLAY && self->shared->pool_size [p] > 0) {
            used += snprintf (extra + used, sizeof extra - (size_t) used,
                              "%scoffee_actor_lanes{pool=\"%s\"} %d\n", lanes_head,
                              s_pool_names [p], s_lanes (self, p, self->shared->pool_size [p]));
            lanes_head = "";            //  once, before the first sample
        }
    size_t len = strlen (text);
    char *all = (char *) realloc (text, len + (size_t) used + 1);
    if (!all) {
        free (text);
        return NULL;
    }
    memcpy (all + len, extra, (size_t) used + 1);
    return all;
}

//  PUT /admin/pools/{pool} {"actors":N}: checked here, then sent to main,
//  which owns the actors (http_front.h). Returns true when it now waits.
static bool
s_pools_ask (s_worker_t *self, s_request_t *req, s_answer_t *answer)
{
    char message [160], name [32];
    int p = s_pool_of (req->arg);
    if (p < 0 || self->shared->pool_size [p] == 0) {
        s_printable (req->arg, name, sizeof name);
        snprintf (message, sizeof message, "no pool '%s' here: this %s role runs %s", name,
                  config_role_name (self->shared->cfg->role),
                  self->shared->pool_size [0]? (self->shared->pool_size [S_DISPLAY]
                      ? "point, order and display": "point and order"): "display");
        s_error (answer, 404, "NOT_FOUND", message);
        return false;
    }
    cJSON *canonical = NULL;
    char *error = NULL;
    answer->status = request_validate_body (ROUTE_ADMIN_POOLS, req->body, req->len, &canonical,
                                            &error);
    if (answer->status != 200) {
        answer->body = error;
        return false;
    }
    int n = (int) cJSON_GetNumberValue (cJSON_GetObjectItemCaseSensitive (canonical, "actors"));
    cJSON_Delete (canonical);
    uint64_t seq = s_open_slot (self, req, -1, 0);
    if (!seq || zsock_send (self->admin, "8si", seq, s_pool_names [p], n) != 0) {
        if (seq)
            s_close_slot (self, &self->open [seq % S_OPEN_MAX]);
        s_error (answer, 503, "OVERLOADED", "the pool resizer is busy; retry shortly");
        return false;
    }
    req->waits++;
    //  A shrink waits for answers the removed actors owe, which may take
    //  a request's whole time and grace; starting actors takes a probe.
    req->give_up_ms = zclock_mono () + 2 * (self->shared->cfg->request_timeout_ms + S_GRACE_MS)
                    + 10000;
    req->state = S_WAITING;
    MHD_suspend_connection (req->conn);
    return true;
}

//  Bytes of body the request's route takes (--max-body when unmatched).
static size_t
s_body_max (s_worker_t *self, const s_request_t *req)
{
    size_t max_body = self->shared->cfg->max_body;
    return req->route? route_body_max (req->route, max_body): max_body;
}

//  A GET route, at its last handler call: answered here (metrics, a
//  snapshot) or handed to an actor. Returns true when it now waits.
static bool
s_decide_get (s_worker_t *self, s_request_t *req, s_answer_t *answer)
{
    const route_t *route = req->route;
    if (route->file) {
        const page_file_t *file = page_file (route->file);
        assert (file);          //  the route table names a file of http/page/
        answer->status = 200;
        answer->body = s_dup (file->data);
        answer->content_type = file->type;
        return false;
    }
    if (route->route == ROUTE_METRICS) {
        answer->status = 200;
        answer->body = s_metrics (self);
        answer->content_type = S_METRICS_TYPE;
        return false;
    }
    if (route->route == ROUTE_HEALTH) {
        s_health_answer (self, answer);
        return false;
    }
    s_snap_t *snapshot = route->route == ROUTE_DISPLAY_MENU? self->snap_menu
                       : route->route == ROUTE_DISPLAY_BEST? self->snap_best: NULL;
    if (snapshot) {
        answer->status = 200;
        answer->snap = snapshot;
        return false;
    }
    //  No snapshot yet (the first push has not arrived): ask the actor.
    char *error = NULL;
    answer->status = request_validate_arg (route->route, req->arg, &error);
    if (answer->status != 200) {
        answer->body = error;
        return false;
    }
    wire_cmd_t cmd;
    request_cmd_fill (route->route, NULL, req->arg, &cmd);
    s_cmd_auth (req, &cmd);
    if (route->route == ROUTE_POINT_GET) {
        answer->status = request_validate_page (
            MHD_lookup_connection_value (req->conn, MHD_GET_ARGUMENT_KIND, "limit"),
            MHD_lookup_connection_value (req->conn, MHD_GET_ARGUMENT_KIND, "cursor"),
            &cmd.limit, &cmd.cursor, &error);
        if (answer->status != 200) {
            answer->body = error;
            return false;
        }
    }
    return s_dispatch (self, req, &cmd, NULL, answer);
}

//  A POST that takes no body (POST /customer/{customerId}/token): its path
//  says it all. Returns true when it now waits.
static bool
s_decide_bodiless (s_worker_t *self, s_request_t *req, s_answer_t *answer)
{
    char *error = NULL;
    answer->status = request_validate_arg (req->route->route, req->arg, &error);
    if (answer->status != 200) {
        answer->body = error;
        return false;
    }
    wire_cmd_t cmd;
    request_cmd_fill (req->route->route, NULL, req->arg, &cmd);
    s_cmd_auth (req, &cmd);
    return s_dispatch (self, req, &cmd, NULL, answer);
}

//  A request with a body, at its last handler call: validated once into a
//  typed command and handed to an actor. Returns true when it now waits.
static bool
s_decide_body (s_worker_t *self, s_request_t *req, s_answer_t *answer)
{
    char message [128];
    size_t max_body = s_body_max (self, req);
    if (req->seen > max_body) {
        snprintf (message, sizeof (message), "the body is limited to %zu bytes", max_body);
        s_error (answer, 413, "PAYLOAD_TOO_LARGE", message);
        return false;
    }
    if (max_body == 0)
        return s_decide_bodiless (self, req, answer);
    if (req->len == 0) {
        s_error (answer, 400, "INVALID_JSON", "body: is missing; send a JSON object");
        return false;
    }
    if (!req->content_type) {
        s_error (answer, 415, "UNSUPPORTED_MEDIA_TYPE",
                 "send the body as Content-Type: application/json");
        return false;
    }
    if (req->route->route == ROUTE_ADMIN_POOLS)
        return s_pools_ask (self, req, answer);
    cJSON *canonical = NULL;
    char *error = NULL;
    answer->status = request_validate_arg (req->route->route, req->arg, &error);
    if (answer->status == 200)
        answer->status = request_validate_body (req->route->route, req->body, req->len,
                                                &canonical, &error);
    if (answer->status != 200) {
        answer->body = error;
        return false;
    }
    wire_cmd_t cmd;
    request_cmd_fill (req->route->route, canonical, req->arg, &cmd);
    s_cmd_auth (req, &cmd);
    char *text = cJSON_PrintUnformatted (canonical);
    cJSON_Delete (canonical);
    bool waiting = false;
    if (!text)
        s_error (answer, 503, "OVERLOADED", "out of memory");
    else
        waiting = s_dispatch (self, req, &cmd, text, answer);
    free (text);
    return waiting;
}

//  The headers of a request with a body decide an early answer? Checks in
//  the order they are reported: 415 for a Content-Type that is not JSON,
//  413 for a Content-Length past the limit, 400 for a bad Idempotency-Key.
static void
s_check_headers (s_worker_t *self, s_request_t *req, uint64_t declared, bool has_length)
{
    char message [128];
    size_t max_body = s_body_max (self, req);
    if (max_body > 0 && req->content_type && !request_media_type_json (req->content_type)) {
        req->early_status = 415;
        s_error (&req->early, 415, "UNSUPPORTED_MEDIA_TYPE",
                 "send the body as Content-Type: application/json");
        return;
    }
    if (has_length && declared > max_body) {
        snprintf (message, sizeof (message), "the body is limited to %zu bytes", max_body);
        req->early_status = 413;
        s_error (&req->early, 413, "PAYLOAD_TOO_LARGE", message);
        return;
    }
    if (req->route && req->route->takes_idem) {
        char *error = NULL;
        int status = request_validate_idem (req->idem, &error);
        if (status != 200) {
            req->early_status = status;
            req->early.status = status;
            req->early.body = error;
        }
    }
}

//  Keeps upload bytes up to the route's limit; counts and drops the rest.
static int
s_take (s_worker_t *self, s_request_t *req, const char *data, size_t size)
{
    size_t max_body = s_body_max (self, req);
    req->seen += size;
    if (req->early_status || req->seen > max_body) {
        free (req->body);
        req->body = NULL;
        req->len = req->cap = 0;
        return 0;
    }
    if (req->len + size > req->cap) {
        size_t cap = req->cap? req->cap: 1024;
        while (cap < req->len + size)
            cap *= 2;
        if (cap > max_body)
            cap = max_body;
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

//  A new request, zeroed: a spare one when the worker keeps one. NULL when
//  out of memory.
static s_request_t *
s_request_new (s_worker_t *self)
{
    if (self->spare_count == 0)
        return (s_request_t *) calloc (1, sizeof (s_request_t));
    s_request_t *req = self->spare [--self->spare_count];
    memset (req, 0, sizeof *req);
    return req;
}

//  Frees what a request holds, and keeps it as a spare or frees it.
static void
s_request_free (s_worker_t *self, s_request_t **req_p)
{
    s_request_t *req = *req_p;
    if (!req)
        return;
    free (req->early.body);
    free (req->answer.body);
    free (req->body);
    if (self->spare_count < S_SPARE_MAX)
        self->spare [self->spare_count++] = req;
    else
        free (req);
    *req_p = NULL;
}

//  The first handler call: the headers are in. Makes the request's context
//  and decides what the headers alone decide. Answers at once only when
//  the framing is untrustworthy, the client waits for "100 Continue", or
//  it announces a body far past the limit (MHD then closes the connection).
static enum MHD_Result
s_begin (s_worker_t *self, struct MHD_Connection *conn, const char *url, const char *method,
         const char *version, void **con_cls)
{
    s_request_t *req = s_request_new (self);
    if (!req)
        return MHD_NO;
    *con_cls = req;
    self->in_flight++;
    req->conn = conn;
    req->started_us = zclock_usecs ();
    req->get = streq (method, "GET") || streq (method, "HEAD");
    s_request_id (self, conn, req->rid, sizeof (req->rid));

    const route_t *route;
    const char *allow;
    int match = request_match (method, url, &route, &req->arg, &allow);
    req->metric = (match == 200)? route->route: ROUTE_UNMATCHED;
    if (s_framing_error (conn, version, &req->early)) {
        req->early_status = req->early.status;
        return s_respond (self, req, method, url, &req->early);
    }
    if (s_rate_error (edge_rate_address (self->shared->edge, conn, req->started_us),
                      "from this address", &req->early))
        req->early_status = req->early.status;
    else
    if (s_route_error (self, method, url, route, match, allow, &req->early)) {
        req->early_status = req->early.status;
        if (req->get)
            return MHD_YES;
    }
    else {
        req->route = route;
        if (route->suffix) {
            //  "/customer/{id}/token": the {id} alone
            size_t len = strcspn (req->arg, "/");
            if (len >= sizeof req->arg_own)
                len = sizeof req->arg_own - 1;
            memcpy (req->arg_own, req->arg, len);
            req->arg_own [len] = '\0';
            req->arg = req->arg_own;
        }
        bool open = route->route == ROUTE_METRICS && self->shared->cfg->metrics_public;
        if (route->admin && !open && s_admin_error (self, conn, route, &req->early))
            req->early_status = req->early.status;
        else
        if (route->admin)
            req->auth = WIRE_AUTH_ADMIN;    //  an admin route's actor knows who asks
        else
        if (route->customer && s_customer_error (self, conn, req, &req->early))
            req->early_status = req->early.status;
    }
    if (req->get)
        return MHD_YES;

    req->content_type = MHD_lookup_connection_value (conn, MHD_HEADER_KIND,
                                                     MHD_HTTP_HEADER_CONTENT_TYPE);
    req->idem = MHD_lookup_connection_value (conn, MHD_HEADER_KIND, "Idempotency-Key");
    const char *length = MHD_lookup_connection_value (conn, MHD_HEADER_KIND,
                                                      MHD_HTTP_HEADER_CONTENT_LENGTH);
    uint64_t declared = length? strtoull (length, NULL, 10): 0;
    if (!req->early_status)
        s_check_headers (self, req, declared, length != NULL);

    const char *expect = MHD_lookup_connection_value (conn, MHD_HEADER_KIND,
                                                      MHD_HTTP_HEADER_EXPECT);
    bool waiting = expect && strcasecmp (expect, "100-continue") == 0;
    if (req->early_status
    &&  (waiting || declared / S_DRAIN_FACTOR > s_body_max (self, req)))
        return s_respond (self, req, method, url, &req->early);
    return MHD_YES;
}

//  MHD's access handler: called once with the headers, then with each
//  piece of the body, then with none (the last call); again after a
//  suspended connection is resumed.
static enum MHD_Result
s_handle (void *cls, struct MHD_Connection *conn, const char *url, const char *method,
          const char *version, const char *upload_data, size_t *upload_data_size,
          void **con_cls)
{
    s_worker_t *self = (s_worker_t *) cls;
    if (!*con_cls)
        return s_begin (self, conn, url, method, version, con_cls);
    s_request_t *req = (s_request_t *) *con_cls;
    if (*upload_data_size) {
        //  A GET body means nothing here; an answered request's rest is dropped.
        int rc = (req->get || req->state != S_NEW)? 0
               : s_take (self, req, upload_data, *upload_data_size);
        *upload_data_size = 0;
        return rc? MHD_NO: MHD_YES;
    }
    switch (req->state) {
        case S_DONE:
        case S_WAITING:
            return MHD_YES;
        case S_ABANDONED:
            return MHD_NO;
        case S_REPLIED: {
            s_answer_t answer = req->answer;
            memset (&req->answer, 0, sizeof req->answer);
            return s_respond (self, req, method, url, &answer);
        }
        case S_NEW:
            break;
    }
    edge_conn_read (edge_mhd_conn (conn));   //  read whole: no longer under the read deadline
    if (req->early_status)
        return s_respond (self, req, method, url, &req->early);
    s_answer_t answer = { 0 };
    bool waiting = req->get? s_decide_get (self, req, &answer)
                           : s_decide_body (self, req, &answer);
    if (waiting)
        return MHD_YES;
    return s_respond (self, req, method, url, &answer);
}

//  MHD's completion callback: the request is done (answered or not).
static void
s_completed (void *cls, struct MHD_Connection *conn, void **con_cls,
             enum MHD_RequestTerminationCode toe)
{
    s_worker_t *self = (s_worker_t *) cls;
    s_request_t *req = (s_request_t *) *con_cls;
    edge_conn_idle (edge_mhd_conn (conn), edge_now_ms ());
    if (!req)
        return;
    //  A suspended connection is not completed before it is resumed, and
    //  resuming frees its slots first; so no slot still points here.
    assert (req->waits == 0);
    s_request_free (self, &req);
    *con_cls = NULL;
    self->in_flight--;
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
//  A worker

//  Opens DEALER i of pool p and watches it. Returns 0 or -1.
static int
s_dealer_open (s_worker_t *self, int p, int i)
{
    zsock_t *dealer = wire_dealer_new (s_pool_names [p], i, 0);
    if (!dealer)
        return -1;
    zsock_set_sndhwm (dealer, S_QUEUE_HWM);
    struct epoll_event event = {
        .events = EPOLLIN, .data.u32 = (uint32_t) (S_TAG_DEALER + p * S_ACTORS_MAX + i)
    };
    if (epoll_ctl (self->epoll_fd, EPOLL_CTL_ADD, zsock_fd (dealer), &event)) {
        zsock_destroy (&dealer);
        return -1;
    }
    self->dealers [p][i] = dealer;
    //  ZMQ_FD signals a change only after the socket was looked at.
    zsock_events (dealer);
    return 0;
}

//  Closes DEALER i of pool p (answers it still owes are given up on by the
//  sweep, which only happens when a resize outwaited them).
static void
s_dealer_close (s_worker_t *self, int p, int i)
{
    if (!self->dealers [p][i])
        return;
    if (self->epoll_fd >= 0)
        epoll_ctl (self->epoll_fd, EPOLL_CTL_DEL, zsock_fd (self->dealers [p][i]), NULL);
    zsock_destroy (&self->dealers [p][i]);
    self->sent [p][i] = false;
}

//  A SUB to the snapshot PUB of display actors 0..count-1; NULL on failure.
static zsock_t *
s_snapshots_new (int count)
{
    zsock_t *sub = zsock_new (ZMQ_SUB);
    if (!sub)
        return NULL;
    zsock_set_subscribe (sub, "");
    for (int i = 0; i < count; i++) {
        char endpoint [128];
        wire_snapshot_endpoint (i, endpoint, sizeof endpoint);
        if (zsock_connect (sub, "%s", endpoint)) {
            zsock_destroy (&sub);
            return NULL;
        }
    }
    return sub;
}

//  Frees a worker and everything it owns. Safe on NULL.
static void
s_worker_destroy (s_worker_t **self_p)
{
    s_worker_t *self = *self_p;
    if (!self)
        return;
    if (self->daemon)
        MHD_stop_daemon (self->daemon);
    edge_watch_destroy (&self->watch);      //  after MHD closed every connection
    for (int p = 0; p < S_POOL_COUNT; p++)
        for (int i = 0; i < S_ACTORS_MAX; i++)
            s_dealer_close (self, p, i);
    zsock_destroy (&self->admin);
    zsock_destroy (&self->snapshots);
    s_snap_release (self->snap_menu);
    s_snap_release (self->snap_best);
    if (self->epoll_fd >= 0)
        close (self->epoll_fd);
    log_batch_flush (&self->log);
    while (self->spare_count > 0)
        free (self->spare [--self->spare_count]);
    free (self);
    *self_p = NULL;
}

//  Adds fd to the worker's epoll set under tag. Returns 0 or -1.
static int
s_watch (s_worker_t *self, int fd, uint32_t tag)
{
    struct epoll_event event = { .events = EPOLLIN, .data.u32 = tag };
    return epoll_ctl (self->epoll_fd, EPOLL_CTL_ADD, fd, &event);
}

//  Opens the worker's sockets and its MHD; NULL (logged) on failure.
static s_worker_t *
s_worker_new (s_shared_t *shared, int index, zsock_t *pipe)
{
    s_worker_t *self = (s_worker_t *) calloc (1, sizeof (s_worker_t));
    if (!self)
        return NULL;
    self->own = *shared;
    self->shared = &self->own;
    self->index = index;
    self->pipe = pipe;
    //  One epoll set for everything: blocking in it costs one system call
    //  per pass, where zmq_poll over every socket cost several per socket.
    //  ZMQ_FD only says "look at ZMQ_EVENTS", so every socket it names is
    //  read until it has nothing left.
    self->epoll_fd = epoll_create1 (EPOLL_CLOEXEC);
    self->watch = edge_watch_new (shared->edge, shared->cfg->read_timeout_ms);
    if (self->epoll_fd < 0 || !self->watch)
        goto fail;
    for (int p = 0; p < S_POOL_COUNT; p++)
        for (int i = 0; i < shared->pool_size [p]; i++)
            if (s_dealer_open (self, p, i))
                goto fail;
    self->admin = zsock_new_dealer (">" HTTP_FRONT_POOLS_ENDPOINT);
    self->snapshots = s_snapshots_new (shared->pool_size [S_DISPLAY]);
    if (!self->admin || !self->snapshots)
        goto fail;
    zsock_set_sndtimeo (self->admin, 0);
    zsock_set_linger (self->admin, 0);

    unsigned int flags = MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
    self->daemon = MHD_start_daemon (
        flags, 0, edge_mhd_accept, self->watch, s_handle, self,
        MHD_OPTION_EXTERNAL_LOGGER, s_mhd_log, self,
        MHD_OPTION_LISTEN_SOCKET, shared->listen_fds [index],
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int) S_CONN_TIMEOUT_S,
        MHD_OPTION_CONNECTION_LIMIT, shared->conn_limit,
        MHD_OPTION_NOTIFY_COMPLETED, s_completed, self,
        MHD_OPTION_UNESCAPE_CALLBACK, s_unescape, self,
        MHD_OPTION_NOTIFY_CONNECTION, edge_mhd_notify, self->watch,
        MHD_OPTION_URI_LOG_CALLBACK, edge_mhd_uri_log, self->watch,
        MHD_OPTION_END);
    const union MHD_DaemonInfo *info = self->daemon
        ? MHD_get_daemon_info (self->daemon, MHD_DAEMON_INFO_EPOLL_FD): NULL;
    if (!info) {
        log_error (NULL, "http[%d]: libmicrohttpd refused to start", index);
        goto fail;
    }
    if (s_watch (self, info->epoll_fd, S_TAG_MHD)
    ||  s_watch (self, zsock_fd (pipe), S_TAG_PIPE)
    ||  s_watch (self, zsock_fd (self->snapshots), S_TAG_SUB)
    ||  s_watch (self, zsock_fd (self->admin), S_TAG_ADMIN))
        goto fail;
    //  ZMQ_FD signals a change only after the socket was looked at: a
    //  reader that never asked is never told messages arrived. Ask once.
    s_take_snapshots (self);
    s_take_admin (self);
    zsock_events (pipe);
    return self;
fail:
    s_worker_destroy (&self);
    return NULL;
}

//  True when no removed actor (index past its pool's size) still owes an
//  answer; closes the DEALERs of those that owe none.
static bool
s_retired (s_worker_t *self)
{
    bool done = true;
    for (int p = 0; p < S_POOL_COUNT; p++)
        for (int i = self->shared->pool_size [p]; i < S_ACTORS_MAX; i++) {
            if (!self->dealers [p][i])
                continue;
            if (self->owed [p][i] > 0)
                done = false;
            else
                s_dealer_close (self, p, i);
        }
    return done;
}

//  POOLS pool count: new requests go to actors 0..count-1 from now on.
//  Grows at once (main started the actors); on a shrink the removed
//  actors' DEALERs stay until each answered what it owes, and the pipe is
//  signalled then (s_worker_pass), so main stops no actor that owes us.
static void
s_resize (s_worker_t *self, const char *pool, const char *count)
{
    int p = s_pool_of (pool);
    int n = count? atoi (count): 0;
    if (p < 0 || n < 1 || n > S_ACTORS_MAX || self->shared->pool_size [p] == 0) {
        log_error (NULL, "http[%d]: bad POOLS %s %s", self->index, pool? pool: "-",
                   count? count: "-");
        zsock_signal (self->pipe, 1);
        return;
    }
    int old = self->shared->pool_size [p];
    int failed = 0;
    for (int i = 0; i < n; i++)
        if (!self->dealers [p][i] && s_dealer_open (self, p, i))
            failed++;
    if (failed) {
        log_error (NULL, "http[%d]: %d %s DEALERs could not open", self->index, failed, pool);
        for (int i = old; i < n; i++)
            s_dealer_close (self, p, i);
        zsock_signal (self->pipe, 1);
        return;
    }
    if (p == S_DISPLAY && n != old) {
        //  A new SUB on exactly the actors there are now: an inproc
        //  disconnect with snapshots still queued in its pipe was seen to
        //  leave one unfreed at exit, a closed socket frees its pipes.
        zsock_t *fresh = s_snapshots_new (n);
        if (fresh) {
            epoll_ctl (self->epoll_fd, EPOLL_CTL_DEL, zsock_fd (self->snapshots), NULL);
            zsock_destroy (&self->snapshots);
            self->snapshots = fresh;
            s_watch (self, zsock_fd (self->snapshots), S_TAG_SUB);
            s_take_snapshots (self);
        }
        else
            log_error (NULL, "http[%d]: cannot open a snapshot SUB; keeping the old one",
                       self->index);
    }
    self->shared->pool_size [p] = n;
    self->rr [p] = 0;
    if (s_retired (self))
        zsock_signal (self->pipe, 0);
    else
        self->draining = true;
}

//  Milliseconds until the worker must look again: MHD's own timers, the
//  next give-up check while requests wait, the access log's batch, else
//  S_IDLE_MS.
static long
s_worker_timeout (s_worker_t *self)
{
    long timeout = S_IDLE_MS;
    MHD_UNSIGNED_LONG_LONG mhd = 0;
    if (MHD_get_timeout (self->daemon, &mhd) == MHD_YES && mhd < (unsigned long long) timeout)
        timeout = (long) mhd;
    int64_t now = zclock_mono ();
    if (self->open_count > 0) {
        int64_t left = self->next_sweep - now;
        if (left < timeout)
            timeout = left < 0? 0: (long) left;
    }
    if (edge_watch_size (self->watch) > 0) {
        int64_t left = self->next_edge_sweep - now;
        if (left < timeout)
            timeout = left < 0? 0: (long) left;
    }
    int64_t log_left = log_batch_due (&self->log, now);
    if (log_left >= 0 && log_left < timeout)
        timeout = (long) log_left;
    return timeout;
}

//  Lets MHD read, answer and write until it has nothing ready left (it
//  says so with a timeout of 0: a resumed connection is answered in one
//  run and written in the next), at most a few runs.
static void
s_mhd_run (s_worker_t *self)
{
    for (int run = 0; run < 4; run++) {
        MHD_run (self->daemon);
        MHD_UNSIGNED_LONG_LONG left = 0;
        if (MHD_get_timeout (self->daemon, &left) != MHD_YES || left > 0)
            break;
    }
}

//  One pass of the worker's loop: wait for anything, then take snapshots
//  and replies, let MHD read, write and answer, and give up on late
//  requests.
static void
s_worker_pass (s_worker_t *self, long timeout)
{
    //  The pipe is watched too, only to wake: its commands are read by the
    //  actor loop between passes.
    struct epoll_event events [S_EVENTS_MAX];
    int count = epoll_wait (self->epoll_fd, events, S_EVENTS_MAX, (int) timeout);
    for (int e = 0; e < count; e++) {
        uint32_t tag = events [e].data.u32;
        if (tag == S_TAG_PIPE)
            self->pipe_due = true;
        else
        if (tag == S_TAG_SUB)
            s_take_snapshots (self);
        else
        if (tag == S_TAG_ADMIN)
            s_take_admin (self);
        else
        if (tag >= S_TAG_DEALER && tag < S_TAG_DEALER + S_POOL_COUNT * S_ACTORS_MAX) {
            int p = (int) (tag - S_TAG_DEALER) / S_ACTORS_MAX;
            int i = (int) (tag - S_TAG_DEALER) % S_ACTORS_MAX;
            if (self->dealers [p][i])
                s_take_replies (self, self->dealers [p][i]);
        }
    }
    s_mhd_run (self);
    edge_watch_settle (self->watch);        //  a count taken at accept for no connection
    int64_t now = zclock_mono ();
    if (now >= self->next_edge_sweep)
        s_edge_sweep (self);
    if (self->open_count > 0 && now >= self->next_sweep) {
        s_sweep (self, false);
        self->next_sweep = now + S_SWEEP_MS;
        s_mhd_run (self);
    }
    for (int k = 0; k < self->sent_count; k++) {
        int p = self->sent_list [k] / S_ACTORS_MAX;
        int i = self->sent_list [k] % S_ACTORS_MAX;
        if (self->sent [p][i]) {            //  not since closed
            self->sent [p][i] = false;
            s_take_replies (self, self->dealers [p][i]);
        }
    }
    self->sent_count = 0;
    if (self->draining && s_retired (self)) {
        self->draining = false;
        zsock_signal (self->pipe, 0);
        self->pipe_due = true;              //  a send can swallow the ZMQ_FD's edge
    }
    if (log_batch_due (&self->log, now) == 0)
        log_batch_flush (&self->log);
}

//  Stops: lets requests in flight finish (bounded by the longest an actor
//  may take), gives up on the rest, resumes every suspended connection
//  and stops MHD.
static void
s_worker_stop (s_worker_t *self)
{
    if (!self->daemon)
        return;
    if (!self->quiesced) {
        MHD_quiesce_daemon (self->daemon);
        self->quiesced = true;
    }
    int64_t deadline = zclock_mono () + self->shared->cfg->request_timeout_ms + S_GRACE_MS;
    while (self->in_flight > 0 && zclock_mono () < deadline)
        s_worker_pass (self, 10);
    if (self->in_flight > 0)
        log_warn (NULL, "http[%d]: stopping with %d requests still in flight", self->index,
                  self->in_flight);
    s_sweep (self, true);
    MHD_run (self->daemon);
    log_batch_flush (&self->log);
    MHD_stop_daemon (self->daemon);
    self->daemon = NULL;
    metrics_http_connections (self->shared->metrics, self->index, 0);
}

//  A worker actor: commands on its pipe are QUIESCE (stop accepting;
//  signals), POOLS pool count (resize; signals 0 once done, 1 on failure),
//  ADMIN token (the admin token from now on; "" turns admin routes off),
//  STOP (finish what is in flight and stop MHD; signals) and
//  $TERM. After its start signal it sends "OK" or "FAIL".
static void
s_worker_actor (zsock_t *pipe, void *args)
{
    s_worker_t **slot = (s_worker_t **) args;
    s_shared_t *shared = (s_shared_t *) slot [0];
    int index = (int) (intptr_t) slot [1];
    util_thread_name ("http-%d", index);
    s_worker_t *self = s_worker_new (shared, index, pipe);
    zsock_signal (pipe, 0);
    zstr_send (pipe, self? "OK": "FAIL");
    if (!self)
        return;
    bool term = false;
    self->pipe_due = true;
    while (!term) {
        if (self->daemon)
            s_worker_pass (self, s_worker_timeout (self));
        else {
            zmq_pollitem_t item = { zsock_resolve (pipe), 0, ZMQ_POLLIN, 0 };
            zmq_poll (&item, 1, S_IDLE_MS);
            self->pipe_due = true;
        }
        //  Only when the pipe's ZMQ_FD woke the pass or the pipe was used:
        //  with nothing there, a look at ZMQ_EVENTS costs two system calls
        //  (libzmq's fork check and a poll), a fifth of a GET's.
        if (!self->pipe_due)
            continue;
        self->pipe_due = false;
        if (!(zsock_events (pipe) & ZMQ_POLLIN))
            continue;
        self->pipe_due = true;              //  another may wait; answers are sent on it
        char *command = zstr_recv (pipe);
        term = !command || streq (command, "$TERM");
        if (command && streq (command, "QUIESCE")) {
            if (self->daemon && !self->quiesced)
                MHD_quiesce_daemon (self->daemon);
            self->quiesced = true;
            zsock_signal (pipe, 0);
        }
        else
        if (command && streq (command, "POOLS")) {
            char *pool = zstr_recv (pipe);
            char *count = zstr_recv (pipe);
            s_resize (self, pool, count);
            zstr_free (&pool);
            zstr_free (&count);
        }
        else
        if (command && streq (command, "ADMIN")) {
            char *token = zstr_recv (pipe);
            s_admin_set (&self->own, token);
            if (token)
                explicit_bzero (token, strlen (token));
            zstr_free (&token);
        }
        else
        if (command && streq (command, "STOP")) {
            s_worker_stop (self);
            zsock_signal (pipe, 0);
        }
        zstr_free (&command);
    }
    s_worker_stop (self);
    s_worker_destroy (&self);
}


//  --------------------------------------------------------------------------
//  The front: listening socket and workers

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

//  Opens a non-blocking socket bound to cfg->bind:cfg->port, listening
//  when `listening`, with SO_REUSEPORT when `reuseport`. Returns it, or -1
//  with a log line.
static int
s_socket (const config_t *cfg, bool reuseport, bool listening)
{
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
    int fd = socket (addr->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int on = 1;
    int error = 0;
    if (fd < 0
    ||  setsockopt (fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on)
    ||  (reuseport && setsockopt (fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof on))
    ||  bind (fd, addr->ai_addr, addr->ai_addrlen)
    ||  (listening && listen (fd, S_BACKLOG)))
        error = errno;
    freeaddrinfo (addr);
    if (error) {
        log_error (NULL, "http: cannot listen on %s:%d: %s", cfg->bind, cfg->port,
                   strerror (error));
        if (fd >= 0)
            close (fd);
        return -1;
    }
    return fd;
}

//  Opens the listening sockets, one per worker, into fds. Several workers
//  each get a socket of their own with SO_REUSEPORT, and the kernel spreads
//  new connections over them by a hash of their addresses: on one shared
//  socket, the worker that woke first took most of a burst of connections
//  (of 64 opened at once, 50 or more on one of two workers in four runs of
//  six: test_connections_spread). Sockets with SO_REUSEPORT of the
//  same user share a port without complaint, so a socket bound first
//  without it proves that nothing listens there yet, and is closed before
//  ours are bound: a second coffee on the port fails its start as before,
//  unless both start within that moment. Returns 0, or -1 with every socket
//  closed.
static int
s_listen (const config_t *cfg, int *fds, int count)
{
    for (int i = 0; i < count; i++)
        fds [i] = -1;
    if (count > 1) {
        int probe = s_socket (cfg, false, false);
        if (probe < 0)
            return -1;
        close (probe);
    }
    for (int i = 0; i < count; i++) {
        fds [i] = s_socket (cfg, count > 1, true);
        if (fds [i] < 0) {
            for (int j = 0; j < i; j++) {
                close (fds [j]);
                fds [j] = -1;
            }
            return -1;
        }
    }
    return 0;
}

//  POOLS pool count from main: tells every worker and waits until each has
//  resized (a shrink: until each was answered by the removed actors).
//  Signals main 0 when all did, 1 when one failed or outwaited its bound.
static void
s_front_pools (zsock_t *pipe, zactor_t **workers, int threads, const config_t *cfg)
{
    char *pool = zstr_recv (pipe);
    char *count = zstr_recv (pipe);
    int failed = 0;
    for (int i = 0; i < threads; i++)
        zstr_sendx (workers [i], "POOLS", pool? pool: "", count? count: "", NULL);
    //  Each worker signals within its sweep bound: every answer it waits
    //  for is given up on by then.
    int bound = cfg->request_timeout_ms + 2 * S_GRACE_MS;
    for (int i = 0; i < threads; i++) {
        zsock_set_rcvtimeo (workers [i], bound);
        if (zsock_wait (workers [i]) != 0)
            failed++;
        zsock_set_rcvtimeo (workers [i], -1);
    }
    if (failed)
        log_error (NULL, "http: %d workers did not resize %s to %s", failed, pool? pool: "-",
                   count? count: "-");
    zstr_free (&pool);
    zstr_free (&count);
    zsock_signal (pipe, failed? 1: 0);
}

//  ADMIN token from main (SIGHUP reread the admin token file): passes it
//  to every worker, each of which keeps its own hash of it.
static void
s_front_admin (zsock_t *pipe, zactor_t **workers, int threads)
{
    char *token = zstr_recv (pipe);
    for (int i = 0; i < threads; i++)
        zstr_sendx (workers [i], "ADMIN", token? token: "", NULL);
    if (token)
        explicit_bzero (token, strlen (token));
    zstr_free (&token);
}

//  The front actor: open the socket, start the workers, signal, serve until
//  $TERM; then stop accepting everywhere, refuse queued clients, let every
//  worker finish what it has, stop.
void
http_front_actor (zsock_t *pipe, void *args)
{
    http_front_args_t *front = (http_front_args_t *) args;
    const config_t *cfg = front->cfg;
    s_shared_t shared = { .cfg = cfg, .metrics = front->metrics };
    bool order = route_part_served (ROUTE_PART_ORDER, cfg->role);
    bool display = route_part_served (ROUTE_PART_DISPLAY, cfg->role);
    shared.pool_size [0] = order? cfg->point_actors: 0;
    shared.pool_size [1] = order? cfg->order_actors: 0;
    shared.pool_size [S_DISPLAY] = display? cfg->display_actors: 0;
    int threads = cfg->http_threads > 0? cfg->http_threads: 1;
    s_admin_set (&shared, cfg->admin_token);
    shared.conn_limit = s_connection_limit () / (unsigned int) threads;
    if (shared.conn_limit < 16)
        shared.conn_limit = 16;
    //  By default one address may hold a quarter of what the server can.
    int per_address = cfg->max_conns_per_address >= 0? cfg->max_conns_per_address
                    : (int) (shared.conn_limit * (unsigned int) threads / 4);
    edge_limits_t limits = {
        .conns_per_address = per_address,
        .rate_per_address = cfg->rate_per_address,
        .burst_per_address = cfg->rate_burst_per_address,
        .rate_per_customer = cfg->rate_per_customer,
        .burst_per_customer = cfg->rate_burst_per_customer
    };
    shared.edge = edge_new (&limits);
    metrics_http_workers (front->metrics, threads);

    zactor_t **workers = (zactor_t **) calloc ((size_t) threads, sizeof (zactor_t *));
    void *(*worker_args) [2] = calloc ((size_t) threads, sizeof *worker_args);
    int *listen_fds = calloc ((size_t) threads, sizeof (int));
    bool listening = listen_fds && s_listen (cfg, listen_fds, threads) == 0;
    shared.listen_fds = listen_fds;
    bool ok = workers && worker_args && shared.edge && listening;
    for (int i = 0; ok && i < threads; i++) {
        worker_args [i][0] = &shared;
        worker_args [i][1] = (void *) (intptr_t) i;
        workers [i] = zactor_new (s_worker_actor, worker_args [i]);
        char *status = workers [i]? zstr_recv (workers [i]): NULL;
        ok = status && streq (status, "OK");
        zstr_free (&status);
        if (!ok)
            zactor_destroy (&workers [i]);     //  it has ended already
    }
    if (ok) {
        log_info (NULL, "http: listening on %s:%d with %d threads, role %s", cfg->bind,
                  cfg->port, threads, config_role_name (cfg->role));
        log_info (NULL, "http: at most %u connections, %d per client address (0: no limit)",
                  shared.conn_limit * (unsigned int) threads, per_address);
        zsock_signal (pipe, 0);
        while (true) {
            char *command = zstr_recv (pipe);
            bool term = !command || streq (command, "$TERM");
            if (command && streq (command, "POOLS"))
                s_front_pools (pipe, workers, threads, cfg);
            else
            if (command && streq (command, "ADMIN"))
                s_front_admin (pipe, workers, threads);
            else
            if (!term)
                log_warn (NULL, "http: unknown command %s", command);
            zstr_free (&command);
            if (term)
                break;
        }
    }
    //  Stop accepting everywhere, then refuse clients still queued on the
    //  sockets at once (they try another instance) instead of leaving them
    //  waiting; then let each worker finish, all at the same time.
    for (int i = 0; workers && i < threads; i++)
        if (workers [i]) {
            zstr_send (workers [i], "QUIESCE");
            zsock_wait (workers [i]);
        }
    for (int i = 0; listening && i < threads; i++)
        shutdown (listen_fds [i], SHUT_RDWR);
    for (int i = 0; workers && i < threads; i++)
        if (workers [i])
            zstr_send (workers [i], "STOP");
    for (int i = 0; workers && i < threads; i++)
        if (workers [i]) {
            zsock_wait (workers [i]);
            zactor_destroy (&workers [i]);
        }
    for (int i = 0; listening && i < threads; i++)
        close (listen_fds [i]);
    free (listen_fds);
    edge_destroy (&shared.edge);            //  every worker has ended
    free (workers);
    free (worker_args);
    if (!ok)
        zsock_signal (pipe, (byte) -1);
}
