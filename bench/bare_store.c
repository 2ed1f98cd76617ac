/*  bare-store — the ceiling for the POST /order benchmark: a store
    transaction called in a tight loop by N threads with no HTTP, no actors
    and no messages in between.

        bare-store [--store URL | --data-dir DIR] [--threads N] [--duration S]
                   [--rate-bound R] [--mode tx|order]

    --mode tx (the default, the baseline of docs/PERFORMANCE.md and DESIGN.md
    section 5): each loop is one transaction of two statements on coffee's own
    schema and connection settings (store_open, so the same SQLite pragmas or
    MySQL session): the conditional balance update
        UPDATE point SET balance = balance - ? WHERE customer_id = ? AND balance >= ?
    and one point_history insert (a USE row), then COMMIT. That is the least
    an order must write to be durable; everything else coffee does per order
    (order, lines, outbox, relay, projection) is its overhead.
    --mode order: each loop is coffee's whole order transaction
    (store_order_create), to split the overhead between store and the rest.

    Each thread opens its OWN store connection (never shared, as in coffee),
    creates one customer, charges it enough points for R orders/s over the
    whole run (store_charge in steps of at most STORE_CHARGE_MAX), then all
    threads start together and order one MENU-00000001 with qy 1 (the body
    bench/order.lua posts, without an Idempotency-Key; in tx mode its price)
    until the time is up. Prints `bare-store orders/s: X` and the failures. The default store is a
    fresh SQLite file in a new temporary folder, removed at the end; with
    --data-dir it is DIR/command.db and the folder is left alone.

    Not part of coffee; bench/run.sh uses it. */
#include "coffee.h"
#include "store.h"
#include <pthread.h>
#include <time.h>
#include <unistd.h>

//  How long the threads may take to open, create and charge before the run
//  is abandoned, and the most charges one thread will make.
#define BARE_SETUP_MS       60000
#define BARE_CHARGES_MAX    100000

//  Where the threads meet before the timed run.
typedef struct {
    pthread_mutex_t lock;           //  guards the fields below
    pthread_cond_t cond;            //  signalled on every change
    int ready;                      //  threads done with their setup (ok or not)
    bool go;                        //  main released the threads
    bool abandon;                   //  main gave up: threads exit without running
    int64_t deadline_ms;            //  when the timed run ends (monotonic ms)
} gate_t;

//  One writer thread: its settings in, its counts out.
typedef struct {
    const char *url;                //  command store URL
    int index;                      //  thread number, names the customer
    int64_t duration_ms;            //  length of the timed run
    int64_t rate_bound;             //  orders/s the points must cover
    bool tx_mode;                   //  loop the two-statement transaction, not the order
    gate_t *gate;                   //  shared start gate
    pthread_t thread;               //  the thread
    bool started;                   //  pthread_create succeeded
    int setup_rc;                   //  0, or -1 when setup failed
    char err [256];                 //  why setup failed
    int64_t ok;                     //  orders answered 200
    int64_t refused;                //  orders answered another status
    int64_t failed;                 //  calls where the store failed (-1)
    int64_t end_ms;                 //  when this thread's last order returned
} worker_t;

//  Settings from the command line.
typedef struct {
    char url [1024];                //  command store URL
    char temp_dir [512];            //  folder made here and removed at the end, or ""
    int threads;                    //  writer threads
    int64_t duration_s;             //  seconds of the timed run
    int64_t rate_bound;             //  orders/s per thread the points must cover
    bool tx_mode;                   //  --mode tx (default) rather than --mode order
} options_t;

//  The tx mode's statements: the ones store.c runs for the balance and the
//  history row of an order, with the USE row's codes.
static const char SQL_BARE_TAKE [] =
    "UPDATE point SET balance = balance - ? WHERE customer_id = ? AND balance >= ?";
static const char SQL_BARE_HISTORY [] =
    "INSERT INTO point_history (customer_id, point, type_code, type_name, exp_date, remark,"
    " created_at) VALUES (?, ?, 'USE', '사용', NULL, ?, ?)";


//  Monotonic milliseconds, for the run's clock.
static int64_t
s_clock_ms (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}


//  An absolute CLOCK_REALTIME time ms from now, for pthread_cond_timedwait.
static struct timespec
s_abs_time (int64_t ms)
{
    struct timespec ts;
    clock_gettime (CLOCK_REALTIME, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (ms % 1000) * 1000000;
    if (ts.tv_nsec >= 1000000000) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000;
    }
    return ts;
}


//  Reads an int64 member of a reply body; 0 or -1.
static int
s_reply_int64 (const store_reply_t *reply, const char *name, int64_t *value)
{
    cJSON *json = reply->body ? cJSON_Parse (reply->body) : NULL;
    int rc = util_json_int64 (cJSON_GetObjectItemCaseSensitive (json, name), value);
    cJSON_Delete (json);
    return rc;
}


//  Copies a string member of a reply body into buf; 0 or -1.
static int
s_reply_string (const store_reply_t *reply, const char *name, char *buf, size_t size)
{
    cJSON *json = reply->body ? cJSON_Parse (reply->body) : NULL;
    const cJSON *item = cJSON_GetObjectItemCaseSensitive (json, name);
    int rc = -1;
    if (cJSON_IsString (item) && strlen (item->valuestring) < size) {
        snprintf (buf, size, "%s", item->valuestring);
        rc = 0;
    }
    cJSON_Delete (json);
    return rc;
}


//  Creates the thread's customer and charges it enough points for the
//  whole run. The price is learnt from one probe order, so no menu price is
//  written here. Returns 0, or -1 with self->err set.
static int
s_setup (worker_t *self, store_t *store, const event_line_t *line, char *customer_id,
         size_t size, int64_t *price_out)
{
    store_reply_t reply = { 0 };
    char name [32];
    snprintf (name, sizeof name, "bare-%d", self->index);
    int rc = -1;
    if (store_customer_create (store, name, NULL, util_now_ms (0), &reply) != 0
    ||  reply.status != 200
    ||  s_reply_string (&reply, "customerId", customer_id, size) != 0) {
        snprintf (self->err, sizeof self->err, "customer: %d %s", reply.status,
                  reply.body ? reply.body : "");
        goto done;
    }
    store_reply_reset (&reply);
    int64_t price = 0;
    if (store_charge (store, customer_id, STORE_CHARGE_MAX, NULL, NULL, util_now_ms (0), &reply) != 0
    ||  reply.status != 200) {
        snprintf (self->err, sizeof self->err, "charge: %d %s", reply.status,
                  reply.body ? reply.body : "");
        goto done;
    }
    store_reply_reset (&reply);
    if (store_order_create (store, customer_id, NULL, line, 1, NULL, util_now_ms (0), &reply) != 0
    ||  reply.status != 200
    ||  s_reply_int64 (&reply, "orderPrice", &price) != 0 || price < 1) {
        snprintf (self->err, sizeof self->err, "probe order: %d %s", reply.status,
                  reply.body ? reply.body : "");
        goto done;
    }
    store_reply_reset (&reply);
    //  Points for rate_bound orders/s over the run, in whole charges.
    int64_t need = 0;
    if (!util_mul_i64 (price, self->rate_bound, &need)
    ||  !util_mul_i64 (need, self->duration_ms / 1000 + 1, &need)) {
        snprintf (self->err, sizeof self->err, "rate bound × price × duration overflows");
        goto done;
    }
    int64_t charges = need / STORE_CHARGE_MAX + 1;
    if (charges > BARE_CHARGES_MAX) {
        snprintf (self->err, sizeof self->err, "%" PRId64 " charges needed (max %d): "
                  "lower --rate-bound", charges, BARE_CHARGES_MAX);
        goto done;
    }
    for (int64_t i = 0; i < charges; i++) {
        if (store_charge (store, customer_id, STORE_CHARGE_MAX, NULL, NULL, util_now_ms (0),
                          &reply) != 0
        ||  reply.status != 200) {
            snprintf (self->err, sizeof self->err, "charge: %d %s", reply.status,
                      reply.body ? reply.body : "");
            goto done;
        }
        store_reply_reset (&reply);
    }
    *price_out = price;
    rc = 0;
done:
    store_reply_reset (&reply);
    return rc;
}


//  One tx-mode loop: the conditional balance update and the USE history row
//  in one transaction. Returns 1 when committed, 0 when the balance was
//  short (rolled back), -1 when the store failed (rolled back).
static int
s_bare_tx (db_t *db, const char *customer_id, int64_t price, int64_t seq)
{
    if (db_begin (db) != DB_OK)
        return -1;
    int rc = DB_ERROR;
    db_stmt_t *st = db_stmt (db, SQL_BARE_TAKE);
    if (st
    &&  db_bind_int64 (st, 1, price) == DB_OK
    &&  db_bind_text (st, 2, customer_id) == DB_OK
    &&  db_bind_int64 (st, 3, price) == DB_OK)
        rc = db_step (st);
    if (st)
        db_reset (st);
    if (rc != DB_DONE) {
        db_rollback (db);
        return -1;
    }
    if (db_changes (db) != 1) {
        db_rollback (db);
        return 0;
    }
    char remark [48];
    snprintf (remark, sizeof remark, "주문 ORD-%08" PRId64, seq % 100000000);
    rc = DB_ERROR;
    st = db_stmt (db, SQL_BARE_HISTORY);
    if (st
    &&  db_bind_text (st, 1, customer_id) == DB_OK
    &&  db_bind_int64 (st, 2, -price) == DB_OK
    &&  db_bind_text (st, 3, remark) == DB_OK
    &&  db_bind_int64 (st, 4, util_now_ms (0)) == DB_OK)
        rc = db_step (st);
    if (st)
        db_reset (st);
    if (rc != DB_DONE || db_commit (db) != DB_OK) {
        db_rollback (db);
        return -1;
    }
    return 1;
}


//  Waits at the gate until main releases or abandons the run. Returns true
//  when the thread should run, with the deadline in *deadline_ms.
static bool
s_gate_wait (gate_t *gate, int64_t *deadline_ms)
{
    pthread_mutex_lock (&gate->lock);
    gate->ready++;
    pthread_cond_broadcast (&gate->cond);
    int64_t give_up = s_clock_ms () + BARE_SETUP_MS * 2;
    while (!gate->go && !gate->abandon && s_clock_ms () < give_up) {
        struct timespec until = s_abs_time (100);
        pthread_cond_timedwait (&gate->cond, &gate->lock, &until);
    }
    bool run = gate->go && !gate->abandon;
    *deadline_ms = gate->deadline_ms;
    pthread_mutex_unlock (&gate->lock);
    return run;
}


//  A writer thread: its own connection, its own customer, the order loop.
static void *
s_worker (void *arg)
{
    worker_t *self = (worker_t *) arg;
    event_line_t line = { .menu_id = "MENU-00000001", .qy = 1 };
    char customer_id [COFFEE_ID_MAX] = "";
    char err [256] = "";
    int64_t price = 0;
    store_t *store = store_open (self->url, err, sizeof err);
    if (!store) {
        snprintf (self->err, sizeof self->err, "store_open: %s", err);
        self->setup_rc = -1;
    }
    else
        self->setup_rc = s_setup (self, store, &line, customer_id, sizeof customer_id,
                                  &price);

    int64_t deadline = 0;
    bool run = s_gate_wait (self->gate, &deadline) && self->setup_rc == 0;
    if (run && self->tx_mode) {
        db_t *db = store_db (store);
        int64_t seq = 0;
        while (s_clock_ms () < deadline) {
            int rc = s_bare_tx (db, customer_id, price, ++seq);
            if (rc == 1)
                self->ok++;
            else
            if (rc == 0)
                self->refused++;
            else
                self->failed++;
        }
    }
    else
    if (run) {
        store_reply_t reply = { 0 };
        while (s_clock_ms () < deadline) {
            if (store_order_create (store, customer_id, NULL, &line, 1, NULL, util_now_ms (0),
                                    &reply) != 0)
                self->failed++;
            else
            if (reply.status == 200)
                self->ok++;
            else
                self->refused++;
            store_reply_reset (&reply);
        }
    }
    self->end_ms = s_clock_ms ();
    store_destroy (&store);
    return NULL;
}


//  Reads an integer option value; exits on a bad one.
static int64_t
s_number (const char *name, const char *value, int64_t min, int64_t max)
{
    char *end = NULL;
    long long v = value ? strtoll (value, &end, 10) : 0;
    if (!value || !*value || *end || v < min || v > max) {
        fprintf (stderr, "bare-store: %s wants a number in %" PRId64 "..%" PRId64 "\n",
                 name, min, max);
        exit (2);
    }
    return (int64_t) v;
}


//  Reads the command line into opts; exits on a bad one.
static void
s_options (options_t *opts, int argc, char **argv)
{
    const char *url = NULL, *data_dir = NULL;
    opts->threads = 2;
    opts->duration_s = 10;
    opts->rate_bound = 50000;
    opts->tx_mode = true;
    for (int i = 1; i < argc; i++) {
        const char *value = i + 1 < argc ? argv [i + 1] : NULL;
        if (streq (argv [i], "--threads"))
            opts->threads = (int) s_number ("--threads", value, 1, 256);
        else
        if (streq (argv [i], "--duration"))
            opts->duration_s = s_number ("--duration", value, 1, 3600);
        else
        if (streq (argv [i], "--rate-bound"))
            opts->rate_bound = s_number ("--rate-bound", value, 1, 10000000);
        else
        if (streq (argv [i], "--mode") && value && (streq (value, "tx") || streq (value, "order")))
            opts->tx_mode = streq (value, "tx");
        else
        if (streq (argv [i], "--store") && value)
            url = value;
        else
        if (streq (argv [i], "--data-dir") && value)
            data_dir = value;
        else {
            fprintf (stderr, "usage: bare-store [--store URL | --data-dir DIR] [--threads N] "
                             "[--duration S] [--rate-bound R] [--mode tx|order]\n");
            exit (2);
        }
        i++;
    }
    if (url)
        snprintf (opts->url, sizeof opts->url, "%s", url);
    else {
        if (!data_dir) {
            const char *tmp = getenv ("TMPDIR");
            snprintf (opts->temp_dir, sizeof opts->temp_dir, "%s/bare-store.XXXXXX",
                      tmp && *tmp ? tmp : "/tmp");
            if (!mkdtemp (opts->temp_dir)) {
                fprintf (stderr, "bare-store: mkdtemp %s: %s\n", opts->temp_dir,
                         strerror (errno));
                exit (1);
            }
            data_dir = opts->temp_dir;
        }
        snprintf (opts->url, sizeof opts->url, "sqlite:%s/command.db", data_dir);
    }
}


//  Removes the temporary folder s_options made and the SQLite files in it.
static void
s_remove_temp (const options_t *opts)
{
    if (!*opts->temp_dir)
        return;
    const char *files [] = { "command.db", "command.db-wal", "command.db-shm" };
    for (size_t i = 0; i < sizeof files / sizeof files [0]; i++) {
        char path [600];
        snprintf (path, sizeof path, "%s/%s", opts->temp_dir, files [i]);
        unlink (path);
    }
    if (rmdir (opts->temp_dir))
        fprintf (stderr, "bare-store: could not remove %s: %s\n", opts->temp_dir,
                 strerror (errno));
}


//  Waits until every started thread reached the gate; false on timeout.
static bool
s_gate_ready (gate_t *gate, int started)
{
    int64_t give_up = s_clock_ms () + BARE_SETUP_MS;
    pthread_mutex_lock (&gate->lock);
    while (gate->ready < started && s_clock_ms () < give_up) {
        struct timespec until = s_abs_time (100);
        pthread_cond_timedwait (&gate->cond, &gate->lock, &until);
    }
    bool all = gate->ready >= started;
    pthread_mutex_unlock (&gate->lock);
    return all;
}


int
main (int argc, char **argv)
{
    options_t opts;
    memset (&opts, 0, sizeof opts);
    s_options (&opts, argc, argv);
    log_set_level (LOG_LEVEL_WARN);
    //  SQLite's settings as coffee serve has them (see db.h)
    db_sqlite_setup ();

    //  Create or migrate the schema once, before the threads race for it,
    //  as coffee serve does.
    char err [512] = "";
    store_t *first = store_open (opts.url, err, sizeof err);
    if (!first) {
        fprintf (stderr, "bare-store: %s\n", err);
        s_remove_temp (&opts);
        return 1;
    }
    store_destroy (&first);

    gate_t gate;
    memset (&gate, 0, sizeof gate);
    pthread_mutex_init (&gate.lock, NULL);
    pthread_cond_init (&gate.cond, NULL);
    worker_t *workers = (worker_t *) calloc ((size_t) opts.threads, sizeof (worker_t));
    int rc = 1;
    if (!workers) {
        fprintf (stderr, "bare-store: out of memory\n");
        goto cleanup;
    }
    int started = 0;
    for (int i = 0; i < opts.threads; i++) {
        worker_t *w = &workers [i];
        w->url = opts.url;
        w->index = i;
        w->duration_ms = opts.duration_s * 1000;
        w->rate_bound = opts.rate_bound;
        w->tx_mode = opts.tx_mode;
        w->gate = &gate;
        if (pthread_create (&w->thread, NULL, s_worker, w) == 0) {
            w->started = true;
            started++;
        }
    }
    bool ready = started == opts.threads && s_gate_ready (&gate, started);
    int64_t start_ms = s_clock_ms ();
    pthread_mutex_lock (&gate.lock);
    gate.deadline_ms = start_ms + opts.duration_s * 1000;
    if (ready)
        gate.go = true;
    else
        gate.abandon = true;
    pthread_cond_broadcast (&gate.cond);
    pthread_mutex_unlock (&gate.lock);

    int64_t ok = 0, refused = 0, failed = 0, end_ms = start_ms;
    bool setup_ok = ready;
    for (int i = 0; i < opts.threads; i++) {
        worker_t *w = &workers [i];
        if (!w->started) {
            fprintf (stderr, "bare-store: thread %d did not start\n", i);
            continue;
        }
        pthread_join (w->thread, NULL);
        if (w->setup_rc) {
            fprintf (stderr, "bare-store: thread %d: %s\n", i, w->err);
            setup_ok = false;
        }
        ok += w->ok;
        refused += w->refused;
        failed += w->failed;
        if (w->end_ms > end_ms)
            end_ms = w->end_ms;
    }
    if (!setup_ok) {
        fprintf (stderr, "bare-store: setup failed, nothing measured\n");
        goto cleanup;
    }
    double seconds = (double) (end_ms - start_ms) / 1000.0;
    //  The URL may hold a password: print only its scheme.
    printf ("bare-store: %s, mode %s, %d threads, %" PRId64 " s\n",
            strncmp (opts.url, "mysql:", 6) == 0 ? "mysql" : "sqlite",
            opts.tx_mode ? "tx" : "order", opts.threads, opts.duration_s);
    printf ("bare-store orders/s: %.2f\n", seconds > 0 ? (double) ok / seconds : 0.0);
    printf ("bare-store orders: %" PRId64 " ok, %" PRId64 " refused (not 200), %" PRId64
            " store failures\n", ok, refused, failed);
    rc = ok > 0 ? 0 : 1;

cleanup:
    free (workers);
    pthread_cond_destroy (&gate.cond);
    pthread_mutex_destroy (&gate.lock);
    s_remove_temp (&opts);
    return rc;
}
