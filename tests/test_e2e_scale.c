/*  test_e2e_scale — issue 5: several instances against one MariaDB and one
    Kafka-protocol broker, the way the original design deploys them.

    Runs where the MySQL tests run (COFFEE_TEST_STORE_URL set, as
    scripts/test.sh does; without it the test skips with a reason), but on a
    mariadbd of its own started with scripts/mariadb.sh, so restarting it
    never disturbs a test sharing the main server. Starts
    coffee-mock-broker, then two `coffee serve --role order`, two
    `--role projector` (the consumer group display-service) and two
    `--role display` (reads only, no consumer) with --bridge kafka on it,
    as issue 10 splits the display side. Then, in order:

      spread     1000 orders from many client threads over both order
                 instances: order numbers unique, GET /order on the other
                 instance returns each order as answered, and after the log
                 drained both display instances show the exact top 3 of the
                 orders answered 200; `coffee reconcile` agrees.
      race       orders for one customer through both instances: exactly
                 balance / price succeed, the rest get 409, balance ends 0.
      kill9      kill -9 of one projector mid-run while a menu's name
                 changes on both order instances: the other projector takes
                 over its partitions, both displays end with the exact
                 counts and the command store's menus; the restarted
                 projector changes nothing (reconcile agrees).
      staleness  while a third projector joins the group and leaves it
                 again (cooperative-sticky: only moving partitions pause),
                 menu changes are timed from their 200 until display 0
                 serves them; every one shows, and the printed figures are
                 the read staleness of a join and a leave (docs/PERFORMANCE.md).
      broker     the broker down 10–15 s during load: every order still
                 200, the projectors' lag gauges -1 meanwhile and 0 after,
                 nothing lost once it is up.
      mariadb    scripts/mariadb.sh restart during load: requests may get
                 503 meanwhile, then 200 again without restarting a server;
                 the display store equals the command store after the drain.

    Every wait is bounded; every process is stopped by its pid.

    ctest bound: COFFEE_TEST_TIMEOUT 900 s. */
#include "testkit.h"
#include "mock_broker_kit.h"
#include <cmocka.h>
#include <czmq.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>

#define SC_ID_MAX           32          //  room for "ORD-00000027" and growth
#define SC_CUSTOMERS        20          //  customers the load spreads over
#define SC_MENUS_MAX        16          //  menus used from /display/menu
#define SC_LEDGER_MAX       40000       //  orders answered 200 over the run
#define SC_THREADS          12          //  client threads of a load
#define SC_SPREAD_ORDERS    1000        //  orders of the spread phase
#define SC_DRAIN_MS         120000      //  log drained and snapshots refreshed
#define SC_RECOVER_MS       60000       //  servers answer 200 again after MariaDB is back
#define SC_RESTART_MS       150000      //  mariadb.sh restart may take this long
#define SC_CHARGE           100000000   //  points each load customer starts with
#define SC_SESSION_MS       "4000"      //  consumers' session.timeout.ms (see s_server_args)
#define SC_REPLAY_MAX       20000       //  orders whose answer left their fate open
#define SC_REPLAY_MS        150000      //  replays settle (a dead key frees after 60 s)
#define SC_TOKEN            "scale-test-admin-token-0123456789abcdef"

//  A displayed menu.
typedef struct {
    char id [SC_ID_MAX];    //  "MENU-00000001"
    int64_t price;              //  menuPrice
} sc_menu_t;

//  One POST /order of a load and its answer.
typedef struct {
    long status;                //  HTTP status, 0 on a transport failure
    char order_no [SC_ID_MAX];  //  orderNo of a 200
    uint32_t mask;              //  menus of the order (bit i = menus [i])
    char code [32];             //  error code of a non-200
    char key [64];              //  its Idempotency-Key
    char body [768];            //  its body, for a replay
    int port;                   //  the instance it went to
} sc_result_t;

//  An order answered 503 or not at all: it may or may not have committed.
//  Replaying it with its Idempotency-Key settles which (the first answer
//  if it did, a new order if it did not), so counts stay exact.
typedef struct {
    char key [64];              //  Idempotency-Key
    char body [768];            //  the same body
    uint32_t mask;              //  its menus
    int port;                   //  where to replay it
} sc_replay_t;

//  Everything the phases share.
typedef struct {
    char mariadb_dir [512];     //  the private mariadbd's folder ("" until started)
    char mariadb_port [16];     //  its port on 127.0.0.1
    char store_url [640];       //  --store
    char display_url [640];     //  --display-store
    mb_t broker;                //  the mock broker
    tk_server_t order [2];      //  --role order instances
    tk_server_t display [2];    //  --role display instances
    tk_server_t projector [2];  //  --role projector instances
    tk_server_t joiner;         //  a third projector that joins and leaves
    char token_file [600];      //  --admin-token-file of the order instances
    sc_menu_t menus [SC_MENUS_MAX]; //  displayed menus
    int menu_count;             //  entries in menus
    char customers [SC_CUSTOMERS][SC_ID_MAX];   //  load customers
    char (*ledger) [SC_ID_MAX]; //  orderNo of every 200 order
    uint32_t *ledger_mask;      //  its menus
    int ledger_count;           //  entries in the ledger
    sc_replay_t *replays;       //  orders to settle by replay
    int replay_count;           //  entries in replays
    int load_serial;            //  numbers the loads, for unique keys
    zhashx_t *order_nos;        //  orderNo -> present, for uniqueness
    int duplicates;             //  orderNos answered twice
    void *live_load;            //  the sc_load_t running, until joined
    void *live_workers;         //  its sc_worker_t array
} scale_t;

//  A load: threads post orders until max or stop.
typedef struct {
    scale_t *fx;                //  shared state (read only in the threads)
    sc_result_t *results;       //  one per order index
    int max;                    //  orders at most
    const char *customer;       //  all orders for this one (menu 0, qy 1), or NULL
    int serial;                 //  which load of the run, for unique keys
    atomic_int next;            //  next order index
    atomic_bool stop;           //  ends the load early
    int64_t pause_ms;           //  pause between two orders of a thread
} sc_load_t;

//  One client thread.
typedef struct {
    sc_load_t *load;            //  the load it belongs to
    unsigned seed;              //  its random sequence
    pthread_t thread;           //  the thread
} sc_worker_t;

//  The extra arguments of one server role.
typedef struct {
    const char *argv [24];      //  NULL-terminated
} sc_args_t;

// ---------------------------------------------------------------------------
//  Helpers

//  Sleeps ms milliseconds.
static void
s_sleep_ms (int ms)
{
    zclock_sleep (ms);
}

//  Runs argv to its end (bounded) with output to log_path; returns the exit
//  status, or -1 when it had to be killed.
static int
s_run (const char *const *argv, const char *log_path, int timeout_ms)
{
    pid_t pid = tk_spawn (argv, log_path);
    if (pid <= 0)
        return -1;
    int status = tk_wait (pid, timeout_ms);
    if (status < 0) {
        kill (pid, SIGKILL);
        tk_wait (pid, 10000);
    }
    return status;
}

//  Runs scripts/mariadb.sh verb on the private server (start, stop,
//  restart, env) with its output appended to log_path; returns its status.
static int
s_mariadb (scale_t *fx, const char *verb, const char *log_path)
{
    char script [600];
    snprintf (script, sizeof script, "%s/scripts/mariadb.sh", COFFEE_SOURCE_DIR);
    const char *argv [] = { "/bin/sh", script, verb, fx->mariadb_dir,
                            streq (verb, "stop") ? NULL : fx->mariadb_port, NULL };
    int rc = s_run (argv, log_path, SC_RESTART_MS);
    if (rc != 0)
        fprintf (stderr, "mariadb.sh %s exited %d (log %s)\n", verb, rc, log_path);
    return rc;
}

//  Reads the value of `export NAME='value'` from the file at path into out.
static int
s_read_export (const char *path, const char *name, char *out, size_t size)
{
    FILE *file = fopen (path, "r");
    if (!file)
        return -1;
    char line [1024], prefix [128];
    snprintf (prefix, sizeof prefix, "export %s='", name);
    int rc = -1;
    while (rc && fgets (line, sizeof line, file)) {
        if (strncmp (line, prefix, strlen (prefix)) != 0)
            continue;
        char *value = line + strlen (prefix);
        char *quote = strchr (value, '\'');
        if (quote && (size_t) (quote - value) < size) {
            memcpy (out, value, (size_t) (quote - value));
            out [quote - value] = 0;
            rc = 0;
        }
    }
    fclose (file);
    return rc;
}

//  Starts the private mariadbd and fills the store URLs; 0 or -1.
static int
s_mariadb_start (scale_t *fx)
{
    char *dir = tk_tempdir ("coffee-scale-db");
    if (!dir)
        return -1;
    snprintf (fx->mariadb_dir, sizeof fx->mariadb_dir, "%s", dir);
    free (dir);
    snprintf (fx->mariadb_port, sizeof fx->mariadb_port, "%d", tk_free_port ());
    char log_path [600], env_path [600];
    snprintf (log_path, sizeof log_path, "%s/mariadb.log", fx->broker.dir);
    snprintf (env_path, sizeof env_path, "%s/mariadb.env", fx->broker.dir);
    if (s_mariadb (fx, "start", log_path) != 0) {
        fx->mariadb_dir [0] = 0;
        return -1;
    }
    if (s_mariadb (fx, "env", env_path) != 0
    ||  s_read_export (env_path, "COFFEE_TEST_STORE_URL", fx->store_url, sizeof fx->store_url)
    ||  s_read_export (env_path, "COFFEE_TEST_DISPLAY_STORE_URL", fx->display_url,
                       sizeof fx->display_url)) {
        fprintf (stderr, "no store URLs from mariadb.sh env (%s)\n", env_path);
        return -1;
    }
    return 0;
}

//  The extra arguments of an order, display or projector instance.
static void
s_server_args (scale_t *fx, const char *role, sc_args_t *args)
{
    bool display = !streq (role, "order");
    int n = 0;
    args->argv [n++] = "--role";
    args->argv [n++] = role;
    if (!display) {
        args->argv [n++] = "--admin-token-file";
        args->argv [n++] = fx->token_file;
    }
    else {
        //  test_broker_down reads the projectors' lag gauges
        args->argv [n++] = "--metrics-public";
        args->argv [n++] = "on";
    }
    args->argv [n++] = display ? "--display-store" : "--store";
    args->argv [n++] = display ? fx->display_url : fx->store_url;
    args->argv [n++] = "--bridge";
    args->argv [n++] = "kafka";
    args->argv [n++] = "--kafka-brokers";
    args->argv [n++] = fx->broker.bootstrap;
    args->argv [n++] = "--order-actors";
    args->argv [n++] = "4";
    args->argv [n++] = "--point-actors";
    args->argv [n++] = "2";
    args->argv [n++] = "--display-refresh-ms";
    args->argv [n++] = "100";
    //  librdkafka's mock coordinator holds every rebalance round of a
    //  settled group for session.timeout.ms - 1 s (a real broker ends the
    //  round once the members rejoined): a shorter session keeps the
    //  staleness figures about coffee rather than about the mock.
    args->argv [n++] = "--kafka-option";
    args->argv [n++] = "session.timeout.ms=" SC_SESSION_MS;
    args->argv [n++] = "--log-level";
    args->argv [n++] = "warn";
    args->argv [n] = NULL;
}

//  POSTs body to path on port; returns the status and fills out (may be NULL).
static long
s_post (int port, const char *path, const char *body, tk_resp_t *out)
{
    tk_resp_t resp = { 0 };
    tk_http ("POST", port, path, body, NULL, &resp);
    long status = resp.status;
    if (out)
        *out = resp;
    else
        tk_resp_reset (&resp);
    return status;
}

//  POSTs an order body with an Idempotency-Key; returns the status, fills out.
static long
s_post_keyed (int port, const char *body, const char *key, tk_resp_t *out)
{
    char header [128];
    snprintf (header, sizeof header, "Idempotency-Key: %s", key);
    const char *headers [] = { header, NULL };
    memset (out, 0, sizeof *out);
    tk_http ("POST", port, "/order", body, headers, out);
    return out->status;
}

//  The string member name of json, or "".
static const char *
s_json_str (const cJSON *json, const char *name)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive (json, name);
    return cJSON_IsString (item) ? item->valuestring : "";
}

//  The number member name of json, or -1.
static int64_t
s_json_int (const cJSON *json, const char *name)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive (json, name);
    return cJSON_IsNumber (item) ? (int64_t) item->valuedouble : -1;
}

//  Creates a customer through port and charges it amount; 0 or -1.
static int
s_customer_new (int port, const char *name, int64_t amount, char *id, size_t size)
{
    char body [256];
    snprintf (body, sizeof body, "{\"customerNm\":\"%s\"}", name);
    tk_resp_t resp = { 0 };
    if (s_post (port, "/customer", body, &resp) != 200 || !*s_json_str (resp.json, "customerId")) {
        tk_resp_reset (&resp);
        return -1;
    }
    snprintf (id, size, "%s", s_json_str (resp.json, "customerId"));
    tk_resp_reset (&resp);
    if (amount == 0)
        return 0;
    snprintf (body, sizeof body, "{\"customerId\":\"%s\",\"chargeAmt\":%" PRId64 "}", id, amount);
    return s_post (port, "/point", body, NULL) == 200 ? 0 : -1;
}

//  The balance of customer as GET /point on port says, or -1.
static int64_t
s_balance (int port, const char *customer)
{
    char path [128];
    snprintf (path, sizeof path, "/point/%s?limit=1000", customer);
    tk_resp_t resp = { 0 };
    int64_t point = -1;
    if (tk_http ("GET", port, path, NULL, NULL, &resp) == 0 && resp.status == 200
    &&  cJSON_IsArray (resp.json) && cJSON_GetArraySize (resp.json) == 1)
        point = s_json_int (cJSON_GetArrayItem (resp.json, 0), "point");
    tk_resp_reset (&resp);
    return point;
}

// ---------------------------------------------------------------------------
//  Load

//  One client thread: posts orders until the load's max or stop.
static void *
s_worker_run (void *arg)
{
    sc_worker_t *worker = (sc_worker_t *) arg;
    sc_load_t *load = worker->load;
    scale_t *fx = load->fx;
    while (!atomic_load (&load->stop)) {
        int i = atomic_fetch_add (&load->next, 1);
        if (i >= load->max)
            break;
        sc_result_t *result = &load->results [i];
        const char *customer = load->customer;
        char lines [512] = "";
        if (customer) {
            result->mask = 1;
            snprintf (lines, sizeof lines, "{\"menuId\":\"%s\",\"qy\":1}", fx->menus [0].id);
        }
        else {
            customer = fx->customers [rand_r (&worker->seed) % SC_CUSTOMERS];
            int want = 1 + (int) (rand_r (&worker->seed) % 3);
            size_t used = 0;
            while (__builtin_popcount (result->mask) < want) {
                int m = (int) (rand_r (&worker->seed) % (unsigned) fx->menu_count);
                if (result->mask & (1u << m))
                    continue;
                result->mask |= 1u << m;
                used += (size_t) snprintf (lines + used, sizeof lines - used,
                                           "%s{\"menuId\":\"%s\",\"qy\":%d}", used ? "," : "",
                                           fx->menus [m].id, 1 + (int) (rand_r (&worker->seed) % 3));
            }
        }
        snprintf (result->body, sizeof result->body, "{\"customerId\":\"%s\",\"menuList\":[%s]}",
                  customer, lines);
        snprintf (result->key, sizeof result->key, "scale-%d-%d-%d", (int) getpid (),
                  load->serial, i);
        result->port = fx->order [i % 2].port;
        tk_resp_t resp = { 0 };
        result->status = s_post_keyed (result->port, result->body, result->key, &resp);
        if (result->status == 200)
            snprintf (result->order_no, sizeof result->order_no, "%s",
                      s_json_str (resp.json, "orderNo"));
        else
            snprintf (result->code, sizeof result->code, "%s", s_json_str (resp.json, "code"));
        tk_resp_reset (&resp);
        if (load->pause_ms > 0)
            s_sleep_ms ((int) load->pause_ms);
    }
    return NULL;
}

//  Stops and joins the load a failed case left running, if any.
static void
s_load_abandon (scale_t *fx)
{
    sc_load_t *load = (sc_load_t *) fx->live_load;
    sc_worker_t *workers = (sc_worker_t *) fx->live_workers;
    if (!load)
        return;
    atomic_store (&load->stop, true);
    for (int t = 0; t < SC_THREADS; t++)
        pthread_join (workers [t].thread, NULL);
    free (workers);
    free (load->results);
    load->results = NULL;
    fx->live_load = NULL;
    fx->live_workers = NULL;
}

//  Starts a load of at most max orders (customer NULL: random customers
//  and menus). Returns the workers (join with s_load_join) or NULL. A load
//  a failed case left running is stopped and joined first (each case's
//  sc_load_t is static, so it outlives the case).
static sc_worker_t *
s_load_start (sc_load_t *load, scale_t *fx, int max, const char *customer, int64_t pause_ms)
{
    s_load_abandon (fx);
    memset (load, 0, sizeof *load);
    load->fx = fx;
    load->max = max;
    load->customer = customer;
    load->pause_ms = pause_ms;
    load->serial = ++fx->load_serial;
    load->results = (sc_result_t *) calloc ((size_t) max, sizeof (sc_result_t));
    atomic_init (&load->next, 0);
    atomic_init (&load->stop, false);
    sc_worker_t *workers = (sc_worker_t *) calloc (SC_THREADS, sizeof (sc_worker_t));
    if (!load->results || !workers) {
        free (load->results);
        free (workers);
        return NULL;
    }
    for (int t = 0; t < SC_THREADS; t++) {
        workers [t].load = load;
        workers [t].seed = (unsigned) (getpid () * 7919 + t * 104729 + (int) tk_now_ms ());
        if (pthread_create (&workers [t].thread, NULL, s_worker_run, &workers [t])) {
            atomic_store (&load->stop, true);
            for (int j = 0; j < t; j++)
                pthread_join (workers [j].thread, NULL);
            free (load->results);
            free (workers);
            return NULL;
        }
    }
    fx->live_load = load;
    fx->live_workers = workers;
    return workers;
}

//  Stops (when stop) and joins the load's threads.
static void
s_load_join (sc_load_t *load, sc_worker_t **workers_p, bool stop)
{
    if (stop)
        atomic_store (&load->stop, true);
    for (int t = 0; t < SC_THREADS; t++)
        pthread_join ((*workers_p) [t].thread, NULL);
    free (*workers_p);
    *workers_p = NULL;
    if (load->fx->live_load == load) {
        load->fx->live_load = NULL;
        load->fx->live_workers = NULL;
    }
}

//  Tally of a load's answers.
typedef struct {
    int sent;                   //  orders sent
    int ok;                     //  200
    int no_point;               //  409 NO_POINT
    int unavailable;            //  503
    int transport;              //  no answer
    int other;                  //  anything else (4xx, 500)
} sc_tally_t;

//  Adds an order answered 200 to the ledger (and checks its number is new).
static void
s_ledger_add (scale_t *fx, const char *order_no, uint32_t mask)
{
    if (zhashx_insert (fx->order_nos, order_no, (void *) 1) != 0)
        fx->duplicates++;
    if (fx->ledger_count < SC_LEDGER_MAX) {
        snprintf (fx->ledger [fx->ledger_count], SC_ID_MAX, "%s", order_no);
        fx->ledger_mask [fx->ledger_count++] = mask;
    }
}

//  Keeps an order whose answer left its fate open, for s_replay_settle.
static void
s_replay_add (scale_t *fx, const char *key, const char *body, uint32_t mask, int port)
{
    if (fx->replay_count == SC_REPLAY_MAX) {
        fx->duplicates++;       //  fails the phase: the count could not be exact
        return;
    }
    sc_replay_t *replay = &fx->replays [fx->replay_count++];
    snprintf (replay->key, sizeof replay->key, "%s", key);
    snprintf (replay->body, sizeof replay->body, "%s", body);
    replay->mask = mask;
    replay->port = port;
}

//  Replays every open order with its key until each answered 200 (its first
//  answer, or the order made now) or timeout_ms passed. Returns how many
//  are still open; refusals other than "still running" count as open too.
static int
s_replay_settle (scale_t *fx, int timeout_ms)
{
    int64_t deadline = tk_now_ms () + timeout_ms;
    int refused = 0;
    while (fx->replay_count > 0 && tk_now_ms () < deadline) {
        int kept = 0;
        for (int i = 0; i < fx->replay_count; i++) {
            sc_replay_t *replay = &fx->replays [i];
            tk_resp_t resp = { 0 };
            long status = s_post_keyed (replay->port, replay->body, replay->key, &resp);
            if (status == 200 && *s_json_str (resp.json, "orderNo"))
                s_ledger_add (fx, s_json_str (resp.json, "orderNo"), replay->mask);
            else {
                //  409 IDEMPOTENCY_KEY_IN_USE: the first try's claim has not
                //  expired yet; 503/none: not back yet. Anything else is wrong.
                if (status != 503 && status != 0 && !(status == 409
                &&  streq (s_json_str (resp.json, "code"), "IDEMPOTENCY_KEY_IN_USE"))) {
                    refused++;
                    fprintf (stderr, "replay %s: %ld %s\n", replay->key, status,
                             resp.body ? resp.body : "");
                }
                else
                    fx->replays [kept++] = *replay;
            }
            tk_resp_reset (&resp);
        }
        fx->replay_count = kept;
        if (kept > 0)
            s_sleep_ms (1000);
    }
    return fx->replay_count + refused;
}

//  Adds the load's 200 answers to the ledger and counts the answers.
static sc_tally_t
s_load_record (scale_t *fx, sc_load_t *load)
{
    sc_tally_t tally = { 0 };
    int sent = atomic_load (&load->next);
    tally.sent = sent < load->max ? sent : load->max;
    for (int i = 0; i < tally.sent; i++) {
        sc_result_t *result = &load->results [i];
        if (result->status == 0 && !result->mask)
            continue;           //  index taken after stop, never sent
        if (result->status == 200 && result->order_no [0]) {
            tally.ok++;
            s_ledger_add (fx, result->order_no, result->mask);
        }
        else
        if (result->status == 409 && streq (result->code, "NO_POINT"))
            tally.no_point++;
        else
        if (result->status == 503) {
            tally.unavailable++;
            s_replay_add (fx, result->key, result->body, result->mask, result->port);
        }
        else
        if (result->status == 0) {
            tally.transport++;
            s_replay_add (fx, result->key, result->body, result->mask, result->port);
        }
        else {
            tally.other++;
            fprintf (stderr, "order %d: %ld %s\n", i, result->status, result->code);
        }
    }
    free (load->results);
    load->results = NULL;
    fprintf (stderr, "load: %d sent, %d ok, %d no-point, %d 503, %d no answer, %d other\n",
             tally.sent, tally.ok, tally.no_point, tally.unavailable, tally.transport,
             tally.other);
    return tally;
}

// ---------------------------------------------------------------------------
//  Expected counts

//  The top 3 as /display/best must show it.
typedef struct {
    int count;                  //  entries (0..3)
    int menu [3];               //  indexes into fx->menus
    int64_t orders [3];         //  orderCnt
    char text [256];            //  for messages
} sc_best_t;

//  The top 3 of the ledger: most orders first, ties by menuId.
static void
s_expected_best (scale_t *fx, sc_best_t *best)
{
    int64_t counts [SC_MENUS_MAX] = { 0 };
    for (int i = 0; i < fx->ledger_count; i++)
        for (int m = 0; m < fx->menu_count; m++)
            if (fx->ledger_mask [i] & (1u << m))
                counts [m]++;
    memset (best, 0, sizeof *best);
    bool taken [SC_MENUS_MAX] = { false };
    size_t used = 0;
    for (int slot = 0; slot < 3; slot++) {
        int pick = -1;
        for (int m = 0; m < fx->menu_count; m++) {
            if (taken [m] || counts [m] == 0)
                continue;
            if (pick < 0 || counts [m] > counts [pick]
            ||  (counts [m] == counts [pick] && strcmp (fx->menus [m].id, fx->menus [pick].id) < 0))
                pick = m;
        }
        if (pick < 0)
            break;
        taken [pick] = true;
        best->menu [slot] = pick;
        best->orders [slot] = counts [pick];
        best->count++;
        used += (size_t) snprintf (best->text + used, sizeof best->text - used, "%s=%" PRId64 " ",
                                   fx->menus [pick].id, counts [pick]);
    }
}

//  What tk_http_until compares /display/best with.
typedef struct {
    scale_t *fx;                //  menus
    sc_best_t *best;            //  the expectation
    char last [512];            //  the last answer seen, for messages
} sc_match_t;

//  True when the answer is exactly the expected top 3.
static bool
s_best_matches (const tk_resp_t *resp, void *arg)
{
    sc_match_t *match = (sc_match_t *) arg;
    snprintf (match->last, sizeof match->last, "%ld %s", resp->status,
              resp->body ? resp->body : "");
    if (resp->status != 200 || !cJSON_IsArray (resp->json)
    ||  cJSON_GetArraySize (resp->json) != match->best->count)
        return false;
    for (int i = 0; i < match->best->count; i++) {
        const cJSON *item = cJSON_GetArrayItem (resp->json, i);
        if (!streq (s_json_str (item, "menuId"), match->fx->menus [match->best->menu [i]].id)
        ||  s_json_int (item, "orderCnt") != match->best->orders [i])
            return false;
    }
    return true;
}

//  Waits until every running display instance shows the ledger's top 3;
//  returns how many did within timeout_ms.
static int
s_wait_best (scale_t *fx, int timeout_ms)
{
    sc_best_t best;
    s_expected_best (fx, &best);
    int matched = 0;
    int64_t deadline = tk_now_ms () + timeout_ms;
    for (int d = 0; d < 2; d++) {
        if (fx->display [d].pid <= 0)
            continue;
        sc_match_t match = { fx, &best, "" };
        int64_t left = deadline - tk_now_ms ();
        if (tk_http_until (fx->display [d].port, "/display/best", s_best_matches, &match,
                           (int) (left > 1000 ? left : 1000)) == 0)
            matched++;
        else
            fprintf (stderr, "display %d: expected %s, last answer %s\n", d, best.text,
                     match.last);
    }
    return matched;
}

//  `coffee reconcile` on the private stores: 0 once the display store's
//  counts and menus equal the command store's. The display's top 3 can
//  match while an order of other menus only is still on its way, so a
//  drift (exit 1) is compared again until SC_DRAIN_MS have passed; a
//  store or usage error (2) is not. The first drift's report is printed,
//  and the last one's when it never cleared.
static int
s_reconcile (scale_t *fx)
{
    char log_path [600];
    snprintf (log_path, sizeof log_path, "%s/reconcile.log", fx->broker.dir);
    const char *argv [] = { COFFEE_BIN, "reconcile", "--store", fx->store_url,
                            "--display-store", fx->display_url, "--data-dir", fx->broker.dir,
                            NULL };
    int64_t began = tk_now_ms ();
    int rc = s_run (argv, log_path, 120000), runs = 1;
    if (rc == 1) {
        fprintf (stderr, "reconcile: drift, comparing again until it clears:\n");
        tk_print_log_tail (log_path);
    }
    while (rc == 1 && tk_now_ms () - began < SC_DRAIN_MS) {
        s_sleep_ms (500);
        rc = s_run (argv, log_path, 120000);
        runs++;
    }
    if (rc != 0) {
        fprintf (stderr, "reconcile exited %d after %d runs (log %s):\n", rc, runs, log_path);
        tk_print_log_tail (log_path);
    }
    else
    if (runs > 1)
        fprintf (stderr, "reconcile: the stores agree after %d runs, %" PRId64 " ms\n",
                 runs, tk_now_ms () - began);
    return rc;
}

//  The number of running display instances (for the drain assertion).
static int
s_displays_running (scale_t *fx)
{
    return (fx->display [0].pid > 0) + (fx->display [1].pid > 0);
}

//  True when every running projector's coffee_projection_lag reads lag
//  (tk_metric reads a missing sample as -1: the wait for 0 after the
//  outage would show one).
static bool
s_projector_lags (scale_t *fx, int64_t lag)
{
    for (int i = 0; i < 2; i++) {
        if (fx->projector [i].pid <= 0)
            continue;
        int64_t value;
        if (tk_metric (fx->projector [i].port, "coffee_projection_lag", &value) != 200
        ||  value != lag)
            return false;
    }
    return true;
}

//  Waits up to timeout_ms for s_projector_lags (fx, lag).
static bool
s_projector_lags_become (scale_t *fx, int64_t lag, int timeout_ms)
{
    int64_t deadline = tk_now_ms () + timeout_ms;
    while (!s_projector_lags (fx, lag)) {
        if (tk_now_ms () >= deadline)
            return false;
        s_sleep_ms (200);
    }
    return true;
}

// ---------------------------------------------------------------------------
//  Fixture

//  Stops what setup started, by pid, and drops the private databases.
static int
s_teardown (void **state)
{
    scale_t *fx = (scale_t *) *state;
    if (!fx)
        return 0;
    s_load_abandon (fx);
    for (int i = 0; i < 2; i++) {
        if (fx->order [i].pid > 0)
            tk_server_stop (&fx->order [i]);
        if (fx->display [i].pid > 0)
            tk_server_stop (&fx->display [i]);
        if (fx->projector [i].pid > 0)
            tk_server_stop (&fx->projector [i]);
    }
    if (fx->joiner.pid > 0)
        tk_server_stop (&fx->joiner);
    if (fx->broker.pid > 0)
        mb_stop (&fx->broker, true);
    if (fx->mariadb_dir [0]) {
        char log_path [600];
        snprintf (log_path, sizeof log_path, "%s/mariadb.log", fx->broker.dir);
        s_mariadb (fx, "stop", log_path);
    }
    zhashx_destroy (&fx->order_nos);
    free (fx->ledger);
    free (fx->ledger_mask);
    free (fx->replays);
    free (fx);
    *state = NULL;
    return 0;
}

//  True when /display/menu lists at least the five demo menus.
static bool
s_menus_shown (const tk_resp_t *resp, void *arg)
{
    (void) arg;
    return resp->status == 200 && cJSON_IsArray (resp->json)
        && cJSON_GetArraySize (resp->json) >= 5;
}

//  The broker, a private mariadbd, 2 order + 2 projector + 2 display
//  instances, menus and customers.
static int
s_setup (void **state)
{
    scale_t *fx = (scale_t *) calloc (1, sizeof (scale_t));
    *state = fx;
    if (!fx)
        return -1;
    fx->ledger = calloc (SC_LEDGER_MAX, SC_ID_MAX);
    fx->ledger_mask = (uint32_t *) calloc (SC_LEDGER_MAX, sizeof (uint32_t));
    fx->order_nos = zhashx_new ();
    fx->replays = (sc_replay_t *) calloc (SC_REPLAY_MAX, sizeof (sc_replay_t));
    if (!fx->ledger || !fx->ledger_mask || !fx->order_nos || !fx->replays)
        goto fail;
    if (mb_start (&fx->broker, 1, 3, "order-events"))
        goto fail;
    if (s_mariadb_start (fx))
        goto fail;

    snprintf (fx->token_file, sizeof fx->token_file, "%s/admin.token", fx->broker.dir);
    FILE *token = fopen (fx->token_file, "w");
    if (!token)
        goto fail;
    fprintf (token, "%s\n", SC_TOKEN);
    fclose (token);
    sc_args_t order_args, display_args, projector_args;
    s_server_args (fx, "order", &order_args);
    s_server_args (fx, "display", &display_args);
    s_server_args (fx, "projector", &projector_args);
    for (int i = 0; i < 2; i++) {
        if (tk_server_start (&fx->order [i], NULL, order_args.argv)
        ||  tk_server_start (&fx->projector [i], NULL, projector_args.argv)
        ||  tk_server_start (&fx->display [i], NULL, display_args.argv)) {
            fprintf (stderr, "a server did not start\n");
            goto fail;
        }
    }
    //  The demo menus reach the displays as events through the projectors
    tk_resp_t resp = { 0 };
    if (tk_http_until (fx->display [0].port, "/display/menu", s_menus_shown, NULL, SC_DRAIN_MS)
    ||  tk_http ("GET", fx->display [0].port, "/display/menu", NULL, NULL, &resp)
    ||  resp.status != 200 || !cJSON_IsArray (resp.json)) {
        tk_resp_reset (&resp);
        fprintf (stderr, "GET /display/menu failed\n");
        goto fail;
    }
    const cJSON *item;
    cJSON_ArrayForEach (item, resp.json) {
        if (fx->menu_count == SC_MENUS_MAX)
            break;
        sc_menu_t *menu = &fx->menus [fx->menu_count++];
        snprintf (menu->id, sizeof menu->id, "%s", s_json_str (item, "menuId"));
        menu->price = s_json_int (item, "menuPrice");
    }
    tk_resp_reset (&resp);
    if (fx->menu_count < 4) {
        fprintf (stderr, "need at least 4 displayed menus, got %d\n", fx->menu_count);
        goto fail;
    }
    for (int c = 0; c < SC_CUSTOMERS; c++) {
        char name [32];
        snprintf (name, sizeof name, "scale-%d", c);
        if (s_customer_new (fx->order [c % 2].port, name, SC_CHARGE, fx->customers [c],
                            sizeof fx->customers [c])) {
            fprintf (stderr, "could not create customer %d\n", c);
            goto fail;
        }
    }
    return 0;
fail:
    s_teardown (state);
    return -1;
}

// ---------------------------------------------------------------------------
//  Phases

//  1000 orders over both order instances; unique numbers; GET /order on the
//  other instance agrees; both displays show the exact top 3.
static void
test_spread (void **state)
{
    scale_t *fx = (scale_t *) *state;
    static sc_load_t load;      //  outlives a failed case (s_load_abandon)
    int first = fx->ledger_count;
    sc_worker_t *workers = s_load_start (&load, fx, SC_SPREAD_ORDERS, NULL, 0);
    assert_non_null (workers);
    s_load_join (&load, &workers, false);
    sc_tally_t tally = s_load_record (fx, &load);
    assert_int_equal (tally.sent, SC_SPREAD_ORDERS);
    assert_int_equal (tally.ok, SC_SPREAD_ORDERS);
    assert_int_equal (fx->duplicates, 0);

    //  Each order as the other instance reads it from the shared store.
    for (int i = first; i < fx->ledger_count; i++) {
        char path [96];
        snprintf (path, sizeof path, "/order/%s", fx->ledger [i]);
        tk_resp_t resp = { 0 };
        tk_http ("GET", fx->order [(i + 1) % 2].port, path, NULL, NULL, &resp);
        assert_int_equal (resp.status, 200);
        assert_string_equal (s_json_str (resp.json, "orderNo"), fx->ledger [i]);
        uint32_t mask = 0;
        const cJSON *line;
        cJSON_ArrayForEach (line, cJSON_GetObjectItemCaseSensitive (resp.json, "menuList"))
            for (int m = 0; m < fx->menu_count; m++)
                if (streq (s_json_str (line, "menuId"), fx->menus [m].id))
                    mask |= 1u << m;
        tk_resp_reset (&resp);
        assert_int_equal (mask, fx->ledger_mask [i]);
    }
    assert_int_equal (s_wait_best (fx, SC_DRAIN_MS), 2);
    assert_int_equal (s_reconcile (fx), 0);
}

//  Orders racing on one customer through both instances lose no update.
static void
test_race (void **state)
{
    scale_t *fx = (scale_t *) *state;
    const int affordable = 40, tries = 96;
    char customer [SC_ID_MAX];
    assert_int_equal (s_customer_new (fx->order [0].port, "racer",
                                      affordable * fx->menus [0].price, customer,
                                      sizeof customer), 0);
    static sc_load_t load;      //  outlives a failed case (s_load_abandon)
    sc_worker_t *workers = s_load_start (&load, fx, tries, customer, 0);
    assert_non_null (workers);
    s_load_join (&load, &workers, false);
    sc_tally_t tally = s_load_record (fx, &load);
    assert_int_equal (tally.ok, affordable);
    assert_int_equal (tally.no_point, tries - affordable);
    assert_int_equal (fx->duplicates, 0);
    assert_int_equal (s_balance (fx->order [0].port, customer), 0);
    assert_int_equal (s_balance (fx->order [1].port, customer), 0);
    assert_int_equal (s_wait_best (fx, SC_DRAIN_MS), 2);
}

//  The /display/menu body the command store's menus make (shown ones by
//  menuId: name and price), read from GET /admin/menu of an order instance.
static char *
s_expected_menus (scale_t *fx)
{
    const char *headers [] = { "Authorization: Bearer " SC_TOKEN, NULL };
    tk_resp_t resp = { 0 };
    if (tk_http ("GET", fx->order [0].port, "/admin/menu", NULL, headers, &resp)
    ||  resp.status != 200) {
        tk_resp_reset (&resp);
        return NULL;
    }
    cJSON *list = cJSON_CreateArray ();
    const cJSON *menu;
    cJSON_ArrayForEach (menu, resp.json) {
        if (!streq (s_json_str (menu, "useYn"), "Y"))
            continue;
        cJSON *item = cJSON_CreateObject ();
        cJSON_AddStringToObject (item, "menuId", s_json_str (menu, "menuId"));
        cJSON_AddStringToObject (item, "menuNm", s_json_str (menu, "menuNm"));
        cJSON_AddNumberToObject (item, "menuPrice", (double) s_json_int (menu, "menuPrice"));
        cJSON_AddItemToArray (list, item);
    }
    tk_resp_reset (&resp);
    char *text = cJSON_PrintUnformatted (list);
    cJSON_Delete (list);
    return text;
}

//  True when the answer's body is exactly arg.
static bool
s_body_is (const tk_resp_t *resp, void *arg)
{
    return resp->status == 200 && resp->body && streq (resp->body, (const char *) arg);
}

//  kill -9 of one projector mid-run while the last menu's name changes
//  through both order instances: both displays end exact, counts and menus.
static void
test_kill9_projector (void **state)
{
    scale_t *fx = (scale_t *) *state;
    static sc_load_t load;      //  outlives a failed case (s_load_abandon)
    sc_worker_t *workers = s_load_start (&load, fx, 600, NULL, 0);
    assert_non_null (workers);
    const char *headers [] = { "Content-Type: application/json",
                               "Authorization: Bearer " SC_TOKEN, NULL };
    char path [64], body [96];
    snprintf (path, sizeof path, "/admin/menu/%s", fx->menus [fx->menu_count - 1].id);
    for (int i = 0; i < 20; i++) {
        if (i == 5)
            tk_server_kill9 (&fx->projector [1]);
        snprintf (body, sizeof body, "{\"menuNm\":\"scale menu %d\"}", i);
        tk_resp_t resp = { 0 };
        assert_int_equal (tk_http ("PATCH", fx->order [i % 2].port, path, body, headers, &resp), 0);
        if (resp.status != 200) {
            fprintf (stderr, "PATCH %s on order %d answered %ld %s; its log: %s\n", path, i % 2,
                     resp.status, resp.body ? resp.body : "", fx->order [i % 2].log_path);
            char cmd [1200];
            snprintf (cmd, sizeof cmd, "tail -40 '%s' >&2", fx->order [i % 2].log_path);
            if (system (cmd) != 0)
                fprintf (stderr, "(no log)\n");
        }
        assert_int_equal (resp.status, 200);
        tk_resp_reset (&resp);
        s_sleep_ms (100);
    }
    s_load_join (&load, &workers, false);
    sc_tally_t tally = s_load_record (fx, &load);
    assert_int_equal (fx->projector [1].pid, 0);
    assert_int_equal (tally.ok, tally.sent);
    assert_int_equal (fx->duplicates, 0);
    //  Projector 1's partitions move to projector 0 once its session
    //  expires; both displays read the one display store.
    assert_int_equal (s_wait_best (fx, SC_DRAIN_MS), 2);
    char *want = s_expected_menus (fx);
    assert_non_null (want);
    for (int d = 0; d < 2; d++)
        if (tk_http_until (fx->display [d].port, "/display/menu", s_body_is, want, SC_DRAIN_MS))
            fail_msg ("display %d never showed the command store's menus %s", d, want);
    cJSON_free (want);
    sc_args_t args;
    s_server_args (fx, "projector", &args);
    assert_int_equal (tk_server_restart (&fx->projector [1], args.argv), 0);
    assert_int_equal (s_wait_best (fx, SC_DRAIN_MS), 2);
    assert_int_equal (s_reconcile (fx), 0);
}

//  What s_probe_shown looks for in /display/menu.
typedef struct {
    char needle [160];              //  "menuId":"…","menuNm":"…"
} sc_probe_t;

//  True when /display/menu shows the probe's name.
static bool
s_probe_shown (const tk_resp_t *resp, void *arg)
{
    const sc_probe_t *probe = (const sc_probe_t *) arg;
    return resp->status == 200 && resp->body && strstr (resp->body, probe->needle);
}

//  Renames menus [k] to a new name through an order instance and times
//  the 200 until display 0 serves it: ms, or -1 if it never did in 60 s.
static int64_t
s_probe (scale_t *fx, int k, int serial)
{
    const char *headers [] = { "Content-Type: application/json",
                               "Authorization: Bearer " SC_TOKEN, NULL };
    const sc_menu_t *menu = &fx->menus [k % fx->menu_count];
    char path [64], body [96];
    snprintf (path, sizeof path, "/admin/menu/%s", menu->id);
    snprintf (body, sizeof body, "{\"menuNm\":\"probe %d\"}", serial);
    tk_resp_t resp = { 0 };
    if (tk_http ("PATCH", fx->order [serial % 2].port, path, body, headers, &resp)
    ||  resp.status != 200) {
        tk_resp_reset (&resp);
        return -1;
    }
    tk_resp_reset (&resp);
    int64_t start = tk_now_ms ();
    sc_probe_t probe;
    snprintf (probe.needle, sizeof probe.needle, "\"menuId\":\"%s\",\"menuNm\":\"probe %d\"",
              menu->id, serial);
    if (tk_http_until (fx->display [0].port, "/display/menu", s_probe_shown, &probe, 60000))
        return -1;
    return tk_now_ms () - start;
}

//  Probes one after the other for ms; the largest staleness seen (every
//  probe must show). *count gets the probes taken.
static int64_t
s_probe_for (scale_t *fx, int64_t ms, int *serial, int *count)
{
    int64_t worst = 0, until = tk_now_ms () + ms;
    *count = 0;
    while (tk_now_ms () < until) {
        int64_t took = s_probe (fx, *serial, *serial);
        (*serial)++;
        assert_true (took >= 0);
        worst = took > worst ? took : worst;
        (*count)++;
    }
    return worst;
}

//  Read staleness while a projector joins the group and leaves it again:
//  menu changes keep showing; the figures are printed.
static void
test_join_leave_staleness (void **state)
{
    scale_t *fx = (scale_t *) *state;
    int serial = 0, n_base = 0, n_join = 0, n_leave = 0;
    //  Settle first: the kill -9 phase's restarted projector may still be
    //  joining (its dead predecessor leaves only when its session ends).
    int64_t settle_until = tk_now_ms () + 60000;
    while (tk_now_ms () < settle_until && s_probe (fx, serial, serial) > 1000)
        serial++;
    serial++;
    int64_t base = s_probe_for (fx, 5000, &serial, &n_base);
    sc_args_t args;
    s_server_args (fx, "projector", &args);
    assert_int_equal (tk_server_start (&fx->joiner, NULL, args.argv), 0);
    int64_t join = s_probe_for (fx, 15000, &serial, &n_join);
    assert_int_equal (tk_server_stop (&fx->joiner), 0);
    int64_t leave = s_probe_for (fx, 15000, &serial, &n_leave);
    printf ("staleness (session.timeout.ms " SC_SESSION_MS "): steady max %" PRId64 " ms (%d changes), while joining max %" PRId64
            " ms (%d), after a clean leave max %" PRId64 " ms (%d)\n", base, n_base, join,
            n_join, leave, n_leave);
    //  Give the menus back their names for the phases after
    const char *headers [] = { "Content-Type: application/json",
                               "Authorization: Bearer " SC_TOKEN, NULL };
    for (int k = 0; k < fx->menu_count; k++) {
        char path [64], body [96];
        snprintf (path, sizeof path, "/admin/menu/%s", fx->menus [k].id);
        snprintf (body, sizeof body, "{\"menuNm\":\"scale menu %d\"}", k);
        tk_resp_t resp = { 0 };
        assert_int_equal (tk_http ("PATCH", fx->order [0].port, path, body, headers, &resp), 0);
        assert_int_equal (resp.status, 200);
        tk_resp_reset (&resp);
    }
}

//  Broker down for 10–15 s under load: orders keep succeeding, nothing
//  lost, and the projectors' lag gauges read -1 meanwhile.
static void
test_broker_down (void **state)
{
    scale_t *fx = (scale_t *) *state;
    static sc_load_t load;      //  outlives a failed case (s_load_abandon)
    sc_worker_t *workers = s_load_start (&load, fx, 20000, NULL, 20);
    assert_non_null (workers);
    s_sleep_ms (1000);
    int down = mb_control (&fx->broker, "down");
    //  The projectors cannot tell their lag meanwhile, and say so (-1)
    //  rather than show a figure from before the outage. A projector whose
    //  commit was in flight waits up to 10 s (KAFKA_COMMIT_MS) for its
    //  answer; the failed commit then looks at the lag (up to 1 s). So the
    //  broker stays down until both read -1, for at most 15 s.
    int64_t down_at = tk_now_ms ();
    bool unknown = s_projector_lags_become (fx, -1, 15000);
    int64_t left = 10000 - (tk_now_ms () - down_at);
    if (left > 0)
        s_sleep_ms ((int) left);
    int up = mb_control (&fx->broker, "up");
    s_sleep_ms (2000);
    s_load_join (&load, &workers, true);
    sc_tally_t tally = s_load_record (fx, &load);
    assert_int_equal (down, 0);
    assert_true (unknown);
    assert_int_equal (up, 0);
    assert_true (tally.sent > 100);
    assert_int_equal (tally.ok, tally.sent);
    assert_int_equal (fx->duplicates, 0);
    assert_int_equal (s_wait_best (fx, SC_DRAIN_MS), s_displays_running (fx));
    assert_int_equal (s_reconcile (fx), 0);
    //  And once everything is applied they read 0 again.
    assert_true (s_projector_lags_become (fx, 0, 30000));
}

//  True when POST /order answers 200 on port (one small order); an open
//  answer is kept for replay.
static bool
s_order_ok (scale_t *fx, int port)
{
    char body [256], key [64];
    snprintf (body, sizeof body,
              "{\"customerId\":\"%s\",\"menuList\":[{\"menuId\":\"%s\",\"qy\":1}]}",
              fx->customers [0], fx->menus [1].id);
    snprintf (key, sizeof key, "scale-%d-probe-%d", (int) getpid (), ++fx->load_serial);
    tk_resp_t resp = { 0 };
    long status = s_post_keyed (port, body, key, &resp);
    bool ok = status == 200 && *s_json_str (resp.json, "orderNo");
    if (ok)
        s_ledger_add (fx, s_json_str (resp.json, "orderNo"), 1u << 1);
    else
    if (status == 503 || status == 0)
        s_replay_add (fx, key, body, 1u << 1, port);
    tk_resp_reset (&resp);
    return ok;
}

//  scripts/mariadb.sh restart under load: 503s meanwhile at most, then 200
//  from every instance without restarting it; the stores agree after the
//  drain.
static void
test_mariadb_restart (void **state)
{
    scale_t *fx = (scale_t *) *state;
    static sc_load_t load;      //  outlives a failed case (s_load_abandon)
    sc_worker_t *workers = s_load_start (&load, fx, 20000, NULL, 20);
    assert_non_null (workers);
    s_sleep_ms (1000);
    char log_path [600];
    snprintf (log_path, sizeof log_path, "%s/mariadb-restart.log", fx->broker.dir);
    int restarted = s_mariadb (fx, "restart", log_path);
    //  Back: every order instance answers 200 again, on its own.
    int64_t deadline = tk_now_ms () + SC_RECOVER_MS;
    bool recovered [2] = { false, false };
    while ((!recovered [0] || !recovered [1]) && tk_now_ms () < deadline) {
        for (int i = 0; i < 2; i++)
            if (!recovered [i])
                recovered [i] = s_order_ok (fx, fx->order [i].port);
        if (!recovered [0] || !recovered [1])
            s_sleep_ms (250);
    }
    s_sleep_ms (2000);
    s_load_join (&load, &workers, true);
    sc_tally_t tally = s_load_record (fx, &load);
    assert_int_equal (restarted, 0);
    assert_true (recovered [0]);
    assert_true (recovered [1]);
    assert_int_equal (tally.other, 0);
    assert_true (tally.ok > 0);
    assert_int_equal (fx->duplicates, 0);
    //  The display instances recover too.
    for (int d = 0; d < 2; d++) {
        if (fx->display [d].pid <= 0)
            continue;
        tk_resp_t resp = { 0 };
        int64_t until = tk_now_ms () + SC_RECOVER_MS;
        while (tk_now_ms () < until) {
            tk_resp_reset (&resp);
            if (tk_http ("GET", fx->display [d].port, "/display/best", NULL, NULL, &resp) == 0
            &&  resp.status == 200)
                break;
            s_sleep_ms (250);
        }
        assert_int_equal (resp.status, 200);
        tk_resp_reset (&resp);
    }
    //  Orders answered 503 meanwhile: their replays settle each one, so the
    //  ledger is exact again; then both displays show its top 3 and the
    //  display store equals the command store.
    fprintf (stderr, "replaying %d open orders\n", fx->replay_count);
    assert_int_equal (s_replay_settle (fx, SC_REPLAY_MS), 0);
    assert_int_equal (fx->duplicates, 0);
    assert_int_equal (s_wait_best (fx, SC_DRAIN_MS), s_displays_running (fx));
    assert_int_equal (s_reconcile (fx), 0);
}

int
main (void)
{
    const char *store = getenv ("COFFEE_TEST_STORE_URL");
    if (!store || !*store || strncmp (store, "mysql://", 8) != 0) {
        printf ("test_e2e_scale: COFFEE_TEST_STORE_URL (mysql://…) is not set: skipping "
                "(run scripts/mariadb.sh start DIR PORT and eval its env, or scripts/test.sh)\n");
        return 0;
    }
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_spread),
        cmocka_unit_test (test_race),
        cmocka_unit_test (test_kill9_projector),
        cmocka_unit_test (test_join_leave_staleness),
        cmocka_unit_test (test_broker_down),
        cmocka_unit_test (test_mariadb_restart),
    };
    return cmocka_run_group_tests (tests, s_setup, s_teardown);
}
