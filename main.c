/*  coffee — the command line: `coffee serve`, `coffee reconcile`,
    `coffee mock-collector`. serve starts the actors the role needs, waits
    for SIGTERM or SIGINT, and stops them in the order that lets requests
    in flight finish: HTTP front, then the actor pools, then the bridge.
    SIGHUP reopens --log-file and rereads --admin-token-file while serving.
    A pruner actor deletes old rows on a schedule (include/retention.h).
    While serving it also resizes the actor pools the front asks it to
    (PUT /admin/pools/{pool}; the protocol is in http_front.h). */
#include "coffee.h"
#include "actor.h"
#include "bridge.h"
#include "display_store.h"
#include "http_front.h"
#include "eventlog.h"
#include "retention.h"
#include <curl/curl.h>
#include <malloc.h>
#include <signal.h>
#include <sodium.h>
#include <sys/stat.h>

#define COFFEE_VERSION "0.1.0"

//  What may grow with the load is bounded here, once for the process
//  (docs/RELIABILITY.md, "Memory", has the soak that measured it):
//  - glibc gives each thread that mallocs its own arena, up to 8 per core,
//    and an arena keeps what its thread freed for that thread alone; with
//    some 20 threads (HTTP, actors, bridge, ZeroMQ) allocating cJSON and
//    message buffers of every size, those free lists grew without end.
//    Eight arenas serve all threads (MALLOC_ARENA_MAX in the environment
//    wins). Two were too few: the threads queued on the arena locks
//    (futex waits in malloc and free in the order actor's profile), and
//    POST /order on SQLite answered 5069-7394 orders/s against 8320 and
//    8990 with eight (bench/run.sh order-sqlite, runs alternated). With
//    eight the soak's RSS stayed at 25.4 MiB, 1.0 % growth.
//  - every SQLite connection keeps its own page cache, up to 2000 KiB by
//    default, and a serve process holds about a dozen (stores, event
//    log): together they filled towards 24 MiB as the files grew. That
//    one is bounded per connection, by PRAGMA cache_size (store/db_sqlite.c,
//    bridge/eventlog_local.c); a soft heap limit does not bound it, as
//    each connection's cache only recycles its own pages.
#define COFFEE_MALLOC_ARENAS        8

//  How long serve waits for a new actor to answer its first health request.
#define STARTUP_PROBE_MS 10000

//  How often serve looks for a signal while it waits for resizes.
#define SIGNAL_POLL_MS 100

#define POOL_COUNT 3
#define POOL_MAX   HTTP_FRONT_POOL_MAX

//  The actor pools: name, actor function. Position p is the same in the
//  front (point, order, display).
static const struct {
    const char *name;               //  ACTOR_POOL_*
    zactor_fn *fn;                  //  its actor
} s_pools [POOL_COUNT] = {
    { ACTOR_POOL_POINT, point_actor },
    { ACTOR_POOL_ORDER, order_actor },
    { ACTOR_POOL_DISPLAY, display_actor },
};

//  Everything serve started, so it can stop it in order.
typedef struct {
    config_t cfg;                   //  settings
    metrics_t *metrics;             //  shared counters
    zlist_t *bridge;                //  bridge actors (zactor_t *)
    zactor_t *actors [POOL_COUNT][POOL_MAX];        //  pool actors, NULL when not running
    actor_args_t actor_args [POOL_COUNT][POOL_MAX]; //  their arguments
    int size [POOL_COUNT];          //  actors running per pool (0: not run by this role)
    zsock_t *resizer;               //  ROUTER at HTTP_FRONT_POOLS_ENDPOINT
    zactor_t *front;                //  HTTP front
    zactor_t *pruner;               //  retention schedule, NULL when off
    zactor_t *checkpointers [2];    //  of the SQLite command and display stores, NULL: none
    bridge_args_t bridge_args;      //  shared by the bridge actors
    http_front_args_t front_args;   //  front's arguments
} s_serve_t;

//  mkdir -p for the data dir. The data dir itself is owner only (0700):
//  it holds every order and the customers' credentials. One that exists
//  with looser rights is tightened, with a log line.
static int
s_make_dirs (const char *path)
{
    char buf [512];
    snprintf (buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; *p; p++)
        if (*p == '/') {
            *p = 0;
            if (mkdir (buf, 0755) && errno != EEXIST)
                return -1;
            *p = '/';
        }
    if (mkdir (buf, 0700) && errno != EEXIST)
        return -1;
    struct stat st;
    if (stat (buf, &st))
        return -1;
    if (st.st_mode & 077) {
        if (chmod (buf, 0700))
            return -1;
        log_warn (NULL, "--data-dir %s was mode %04o: tightened to 0700", buf,
                  st.st_mode & 0777);
    }
    return 0;
}

//  Opens the stores this role uses once, so the schema is created or
//  migrated before any actor starts and a bad URL fails the start clearly.
static int
s_prepare_stores (const config_t *cfg)
{
    char err [512] = "";
    if (config_runs_order (cfg)) {
        store_t *store = store_open (cfg->store, err, sizeof err);
        if (!store) {
            log_error (NULL, "command store: %s", err);
            return -1;
        }
        store_destroy (&store);
    }
    if (config_runs_display (cfg) || config_runs_projector (cfg)) {
        display_store_t *store = display_store_open (cfg->display_store, err, sizeof err);
        if (!store) {
            log_error (NULL, "display store: %s", err);
            return -1;
        }
        display_store_destroy (&store);
    }
    return 0;
}

//  Starts one actor and keeps it in list.
static zactor_t *
s_start (zlist_t *list, zactor_fn *fn, void *args)
{
    zactor_t *actor = zactor_new (fn, args);
    if (actor)
        zlist_append (list, actor);
    return actor;
}

//  Asks actors first..count-1 of a pool for their health: proves each one
//  bound its endpoint and serves. Returns 0 when all answered.
static int
s_probe_pool (const char *pool, int first, int count)
{
    for (int i = first; i < count; i++) {
        zsock_t *dealer = wire_dealer_new (pool, i, STARTUP_PROBE_MS);
        if (!dealer)
            return -1;
        wire_request_t req = { .seq = 1 };
        snprintf (req.rid, sizeof req.rid, "startup");
        snprintf (req.op, sizeof req.op, WIRE_OP_HEALTH);
        int status = 0;
        char *body = NULL;
        int rc = wire_call (dealer, &req, STARTUP_PROBE_MS, &status, &body);
        zstr_free (&body);
        zsock_destroy (&dealer);
        if (rc) {
            log_error (NULL, "%s actor %d did not start", pool, i);
            return -1;
        }
    }
    return 0;
}

//  True if an actor already ended (its pipe holds the end signal): a
//  failed start.
static bool
s_actor_died (zactor_t *actor)
{
    return (zsock_events (zactor_sock (actor)) & ZMQ_POLLIN) != 0;
}

//  Destroys a list of actors, newest first.
static void
s_stop_list (zlist_t **list_p)
{
    if (!*list_p)
        return;
    zactor_t *actor;
    while ((actor = (zactor_t *) zlist_pop (*list_p)))
        zactor_destroy (&actor);
    zlist_destroy (list_p);
}

//  Stops actors from..size-1 of pool p, newest first: each closes its
//  store connection as it ends.
static void
s_stop_actors (s_serve_t *self, int p, int from)
{
    for (int i = POOL_MAX - 1; i >= from; i--)
        zactor_destroy (&self->actors [p][i]);
}

//  Stops everything in the safe order and frees it.
static void
s_serve_stop (s_serve_t *self)
{
    zactor_destroy (&self->front);
    zactor_destroy (&self->pruner);
    zsock_destroy (&self->resizer);
    //  Pools may stop in any order: each only answers requests.
    for (int p = 0; p < POOL_COUNT; p++)
        s_stop_actors (self, p, 0);
    //  The relay drains the outbox on $TERM; the sinks commit and exit.
    s_stop_list (&self->bridge);
    //  Last: every writer of their files has stopped
    for (int i = 0; i < 2; i++)
        zactor_destroy (&self->checkpointers [i]);
    metrics_destroy (&self->metrics);
}

//  Starts actors size..count-1 of pool p and proves they serve. Returns
//  0, or -1 with those it started stopped again.
static int
s_grow (s_serve_t *self, int p, int count)
{
    int from = self->size [p];
    for (int i = from; i < count; i++) {
        self->actor_args [p][i] = (actor_args_t) {
            .cfg = &self->cfg, .metrics = self->metrics, .index = i
        };
        self->actors [p][i] = zactor_new (s_pools [p].fn, &self->actor_args [p][i]);
        if (!self->actors [p][i])
            break;
    }
    if (s_probe_pool (s_pools [p].name, from, count)) {
        s_stop_actors (self, p, from);
        return -1;
    }
    return 0;
}

//  Starts the actor pools the role needs.
static int
s_start_pools (s_serve_t *self)
{
    const config_t *cfg = &self->cfg;
    int counts [POOL_COUNT] = {
        config_runs_order (cfg)? cfg->point_actors: 0,
        config_runs_order (cfg)? cfg->order_actors: 0,
        config_runs_display (cfg)? cfg->display_actors: 0,
    };
    for (int p = 0; p < POOL_COUNT; p++) {
        if (counts [p] && s_grow (self, p, counts [p]))
            return -1;
        self->size [p] = counts [p];
    }
    return 0;
}

//  Resizes pool p to count while serving: new actors start and answer a
//  probe before any worker sends them a request; removed actors stop only
//  after every worker stopped sending to them and took every answer they
//  owed (the front signals that), so no request is dropped. Returns the
//  HTTP status for the answer and fills message on failure.
static int
s_resize (s_serve_t *self, int p, int count, char *message, size_t size)
{
    int old = self->size [p];
    if (count > old && s_grow (self, p, count)) {
        snprintf (message, size, "%s: new actors did not start", s_pools [p].name);
        return 503;
    }
    char text [16];
    snprintf (text, sizeof text, "%d", count);
    zstr_sendx (self->front, "POOLS", s_pools [p].name, text, NULL);
    int rc = zsock_wait (self->front);
    if (rc != 0) {
        //  Some worker may still send to the old actors: keep them all.
        log_error (NULL, "%s pool: the front did not finish resizing to %d", s_pools [p].name,
                   count);
        if (count > old)
            self->size [p] = count;
        snprintf (message, size, "%s: the HTTP workers did not all resize in time",
                  s_pools [p].name);
        return 503;
    }
    if (count < old)
        s_stop_actors (self, p, count);
    self->size [p] = count;
    log_info (NULL, "%s pool resized from %d to %d actors", s_pools [p].name, old, count);
    return 200;
}

//  Serves one resize request from a worker: seq, pool, count; answers
//  seq, status, JSON body. The worker checked the pool and the count.
static void
s_serve_resize (s_serve_t *self)
{
    zframe_t *peer = NULL;
    uint64_t seq = 0;
    char *pool = NULL;
    int count = 0;
    if (zsock_recv (self->resizer, "f8si", &peer, &seq, &pool, &count) != 0 || !peer) {
        zframe_destroy (&peer);
        zstr_free (&pool);
        return;
    }
    int p = 0;
    while (p < POOL_COUNT && !(pool && streq (pool, s_pools [p].name)))
        p++;
    char message [200] = "";
    int status = 404;
    if (p == POOL_COUNT || self->size [p] == 0 || count < 1 || count > POOL_MAX)
        snprintf (message, sizeof message, "no pool '%s' to resize here", pool? pool: "");
    else
        status = s_resize (self, p, count, message, sizeof message);
    char *body = NULL;
    if (status == 200) {
        cJSON *json = cJSON_CreateObject ();
        cJSON_AddStringToObject (json, "pool", s_pools [p].name);
        cJSON_AddNumberToObject (json, "actors", self->size [p]);
        body = cJSON_PrintUnformatted (json);
        cJSON_Delete (json);
    }
    else {
        cJSON *json = cJSON_CreateObject ();
        cJSON_AddStringToObject (json, "code", status == 404? "NOT_FOUND": "UNAVAILABLE");
        cJSON_AddStringToObject (json, "message", message);
        body = cJSON_PrintUnformatted (json);
        cJSON_Delete (json);
    }
    zsock_send (self->resizer, "f8is", peer, seq, status, body? body: "{}");
    zframe_destroy (&peer);
    zstr_free (&pool);
    free (body);
}

//  One retention round: what the role keeps in the command store, and
//  the local event log. Counts what went in /metrics.
static void
s_prune_round (const config_t *cfg, metrics_t *metrics, store_t **store_p)
{
    int64_t now = util_now_ms (cfg->clock_skew_ms);
    int64_t counts [5] = { 0, 0, 0, 0, 0 };
    bool failed = false;
    if (config_runs_order (cfg)) {
        char err [512] = "";
        if (!*store_p && !(*store_p = store_open (cfg->store, err, sizeof err))) {
            log_warn (NULL, "retention: command store: %s", err);
            failed = true;
        }
        if (*store_p
        &&  (retention_prune_outbox (*store_p, now - cfg->outbox_retention_s * 1000,
                                     RETENTION_BATCH_ROWS, RETENTION_MAX_BATCHES, &counts [0])
        ||   retention_prune_idem (*store_p, now - cfg->idem_retention_s * 1000,
                                   now - STORE_IDEM_STALE_MS, RETENTION_BATCH_ROWS,
                                   RETENTION_MAX_BATCHES, &counts [2], &counts [3])
        ||   retention_prune_marks (*store_p, now - RETENTION_MARK_KEEP_MS, RETENTION_BATCH_ROWS,
                                    RETENTION_MAX_BATCHES, &counts [4])))
            failed = true;
    }
    if (streq (cfg->bridge, "local")) {
        const char *groups [] = { BRIDGE_GROUP_DISPLAY, BRIDGE_GROUP_COLLECTOR, NULL };
        if (eventlog_local_prune (cfg, groups, now - cfg->eventlog_retention_s * 1000,
                                  RETENTION_BATCH_ROWS, RETENTION_MAX_BATCHES, &counts [1]))
            failed = true;
    }
    static const metrics_gauge_t gauges [5] = {
        GAUGE_PRUNED_OUTBOX, GAUGE_PRUNED_EVENTS, GAUGE_PRUNED_IDEM, GAUGE_PRUNED_IDEM_RUNNING,
        GAUGE_PRUNED_MARKS
    };
    for (int i = 0; i < 5; i++)
        metrics_gauge_add (metrics, gauges [i], counts [i]);
    if (failed)
        metrics_gauge_add (metrics, GAUGE_PRUNE_FAILURES, 1);
    if (counts [0] || counts [1] || counts [2] || counts [3] || counts [4])
        log_info (NULL, "retention: pruned outbox=%" PRId64 " eventlog=%" PRId64
                  " idempotency=%" PRId64 " idempotency_running=%" PRId64
                  " commit_mark=%" PRId64, counts [0], counts [1], counts [2], counts [3],
                  counts [4]);
}

//  The pruner actor: a retention round every cfg->prune_interval_ms,
//  the first one an interval after start, until $TERM. Its own store
//  connection; each round's transactions are short (retention.h), so a
//  round never holds a lock the actors wait on for long.
static void
s_pruner_actor (zsock_t *pipe, void *args)
{
    s_serve_t *serve = (s_serve_t *) args;
    util_thread_name ("pruner");
    util_thread_background ();
    store_t *store = NULL;
    zpoller_t *poller = zpoller_new (pipe, NULL);
    zsock_signal (pipe, 0);
    while (poller) {
        void *which = zpoller_wait (poller, serve->cfg.prune_interval_ms);
        if (which == pipe) {
            char *command = zstr_recv (pipe);
            bool term = !command || streq (command, "$TERM");
            bool now = command && streq (command, "PRUNE");
            zstr_free (&command);
            if (term)
                break;
            if (!now)
                continue;
        }
        else
        if (zpoller_terminated (poller))
            break;
        s_prune_round (&serve->cfg, serve->metrics, &store);
    }
    zpoller_destroy (&poller);
    store_destroy (&store);
}

//  SIGHUP: reopens the log file (logrotate moved it) and rereads the
//  admin token file; the workers take the new token at once. A failure
//  keeps what was in force and says so.
static void
s_reload (s_serve_t *self)
{
    if (*self->cfg.log_file && log_open (self->cfg.log_file))
        log_error (NULL, "SIGHUP: cannot reopen --log-file %s: %s", self->cfg.log_file,
                   strerror (errno));
    if (*self->cfg.admin_token_file && self->front) {
        char token [sizeof self->cfg.admin_token];
        char err [600];
        if (config_read_admin_token (&self->cfg, token, sizeof token, err, sizeof err))
            log_error (NULL, "SIGHUP: %s; the admin token in force stays", err);
        else {
            zstr_sendx (self->front, "ADMIN", token, NULL);
            explicit_bzero (token, sizeof token);
            log_info (NULL, "SIGHUP: admin token reread from %s", self->cfg.admin_token_file);
        }
    }
    log_info (NULL, "SIGHUP: log reopened, still serving");
}

//  Waits for SIGTERM or SIGINT, serving pool resizes and SIGHUP meanwhile.
//  Returns the signal that ends serving.
static int
s_wait (s_serve_t *self, const sigset_t *signals)
{
    struct timespec now = { 0, 0 };
    while (true) {
        int sig = sigtimedwait (signals, NULL, &now);
        if (sig == SIGHUP)
            s_reload (self);
        else
        if (sig > 0)
            return sig;
        zmq_pollitem_t item = { zsock_resolve (self->resizer), 0, ZMQ_POLLIN, 0 };
        if (zmq_poll (&item, 1, SIGNAL_POLL_MS) > 0)
            s_serve_resize (self);
    }
}

//  `coffee serve`: runs until SIGTERM or SIGINT, returns the exit code.
static int
s_serve (int argc, char **argv, const sigset_t *signals)
{
    s_serve_t self;
    memset (&self, 0, sizeof self);
    char err [512];
    if (config_load (&self.cfg, argc, argv, err, sizeof err)) {
        fprintf (stderr, "coffee serve: %s\n", err);
        return 2;
    }
    log_set_level ((log_level_t) self.cfg.log_level);
    //  Every file coffee makes (stores, event log, collector output, log)
    //  is the owner's only.
    umask (077);
    if (*self.cfg.log_file && log_open (self.cfg.log_file)) {
        fprintf (stderr, "coffee serve: --log-file %s: %s\n", self.cfg.log_file, strerror (errno));
        return 2;
    }
    if (s_make_dirs (self.cfg.data_dir)) {
        fprintf (stderr, "coffee serve: --data-dir %s: %s\n", self.cfg.data_dir, strerror (errno));
        return 2;
    }
    if (*self.cfg.kafka_options && !streq (self.cfg.bridge, "kafka"))
        log_warn (NULL, "--kafka-option is set but --bridge is %s: the options are not used",
                  self.cfg.bridge);
    if (streq (self.cfg.bridge, "kafka") && eventlog_kafka_check (&self.cfg, err, sizeof err)) {
        fprintf (stderr, "coffee serve: %s\n", err);
        return 2;
    }
    if (s_prepare_stores (&self.cfg))
        return 1;

    int rc = 1;
    self.metrics = metrics_new ();
    self.bridge = zlist_new ();
    self.resizer = zsock_new_router ("@" HTTP_FRONT_POOLS_ENDPOINT);
    if (!self.resizer)
        goto done;
    zsock_set_sndtimeo (self.resizer, 0);
    zsock_set_linger (self.resizer, 0);
    self.bridge_args = (bridge_args_t) { .cfg = &self.cfg, .metrics = self.metrics };
    self.front_args = (http_front_args_t) { .cfg = &self.cfg, .metrics = self.metrics };

    //  Before any writer: each finds its file's checkpointer at its first
    //  commit. The display store's writer is the projection; the display
    //  actors only read it.
    const char *sqlite_files [2] = {
        config_runs_order (&self.cfg)? self.cfg.store: "",
        config_runs_projector (&self.cfg)? self.cfg.display_store: ""
    };
    for (int i = 0; i < 2; i++)
        if (strncmp (sqlite_files [i], "sqlite:", 7) == 0
        &&  !(self.checkpointers [i] = zactor_new (db_sqlite_checkpointer,
                                                   (void *) sqlite_files [i])))
            goto done;
    if (config_runs_order (&self.cfg)
    &&  !s_start (self.bridge, bridge_relay_actor, &self.bridge_args))
        goto done;
    for (const bridge_sink_t *sink = bridge_sinks; sink->name; sink++)
        if ((self.cfg.role == ROLE_ALL || self.cfg.role == sink->role)
        &&  !s_start (self.bridge, sink->actor, &self.bridge_args))
            goto done;
    if (s_start_pools (&self))
        goto done;
    if (self.cfg.prune_interval_ms > 0
    &&  !(self.pruner = zactor_new (s_pruner_actor, &self)))
        goto done;
    self.front = zactor_new (http_front_actor, &self.front_args);
    if (!self.front)
        goto done;
    zclock_sleep (100);     //  a front that cannot listen ends at once
    if (s_actor_died (self.front)) {
        log_error (NULL, "HTTP front could not start on %s:%d", self.cfg.bind, self.cfg.port);
        goto done;
    }
    for (zactor_t *a = (zactor_t *) zlist_first (self.bridge); a; a = (zactor_t *) zlist_next (self.bridge))
        if (s_actor_died (a)) {
            log_error (NULL, "a bridge actor could not start");
            goto done;
        }
    log_info (NULL, "coffee %s serving on %s:%d role=%s store=%s display-store=%s bridge=%s "
              "actors point=%d order=%d display=%d",
              COFFEE_VERSION, self.cfg.bind, self.cfg.port, config_role_name (self.cfg.role),
              strncmp (self.cfg.store, "mysql", 5) ? self.cfg.store : "mysql",
              strncmp (self.cfg.display_store, "mysql", 5) ? self.cfg.display_store : "mysql",
              self.cfg.bridge, self.cfg.point_actors, self.cfg.order_actors,
              self.cfg.display_actors);
    if (!self.cfg.auth)
        log_warn (NULL, "--auth off: points and orders answer anyone, with no credential "
                        "(the original open API); use it only for demos and trusted clients");
    if (self.cfg.metrics_public)
        log_warn (NULL, "--metrics-public on: GET /metrics answers anyone");

    //  The front signals a resize within its bound; this is the backstop.
    zsock_set_rcvtimeo (self.front, 2 * (self.cfg.request_timeout_ms + 10000));
    int sig = s_wait (&self, signals);
    log_info (NULL, "%s: stopping", strsignal (sig));
    rc = 0;

done:
    s_serve_stop (&self);
    if (rc == 0)
        log_info (NULL, "stopped");
    else
        log_error (NULL, "start failed");
    return rc;
}

//  The commands other than serve.
static int
s_command (const char *cmd, int argc, char **argv)
{
    if (streq (cmd, "reconcile"))
        return bridge_reconcile_main (argc - 1, argv + 1);
    if (streq (cmd, "mock-collector"))
        return bridge_mock_collector_main (argc - 1, argv + 1);
    fprintf (stderr, "coffee: unknown command '%s' (see coffee --help)\n", cmd);
    return 2;
}

int
main (int argc, char **argv)
{
    //  Signals are taken by sigwait in this thread only: block them before
    //  any thread (ZeroMQ's included) starts, so every thread inherits it.
    sigset_t signals;
    sigemptyset (&signals);
    sigaddset (&signals, SIGTERM);
    sigaddset (&signals, SIGINT);
    sigaddset (&signals, SIGHUP);
    pthread_sigmask (SIG_BLOCK, &signals, NULL);
    signal (SIGPIPE, SIG_IGN);
    zsys_handler_set (NULL);
    //  Before any other SQLite call (see db.h)
    db_sqlite_setup ();
    //  libcurl's global state is set up once, before any thread uses it.
    curl_global_init (CURL_GLOBAL_DEFAULT);

    const char *cmd = argc > 1 ? argv [1] : NULL;
    if (!cmd || streq (cmd, "--help") || streq (cmd, "-h") || streq (cmd, "help")) {
        config_print_help (cmd ? stdout : stderr);
        return cmd ? 0 : 2;
    }
    if (sodium_init () < 0) {
        fprintf (stderr, "coffee: libsodium could not start\n");
        return 1;
    }
    if (streq (cmd, "--version")) {
        printf ("coffee %s\n", COFFEE_VERSION);
        return 0;
    }
    int rc;
    if (streq (cmd, "serve")) {
        if (!getenv ("MALLOC_ARENA_MAX"))
            mallopt (M_ARENA_MAX, COFFEE_MALLOC_ARENAS);
        rc = s_serve (argc - 1, argv + 1, &signals);
    }
    else {
        //  The other commands handle signals their own way.
        pthread_sigmask (SIG_UNBLOCK, &signals, NULL);
        rc = s_command (cmd, argc, argv);
    }
    zsys_shutdown ();
    curl_global_cleanup ();
    return rc;
}
