/*  test_e2e_stall_reads — a stalled command store never slows the reads.

    The real binary on loopback, --request-timeout-ms 300. Another
    connection holds BEGIN IMMEDIATE on command.db for 10 s while four
    threads stream orders at it; meanwhile a reader measures GET
    /display/menu, GET /display/best and GET /health. Every read is
    answered, and each route's p99 stays under 10 ms: no HTTP thread ever
    waits for an actor, display reads come from the worker's own snapshot,
    and health reads what the actors last reported. Afterwards every order
    answered 200 has its USE row and no other order left one.

    Latency is measured, so this test runs alone (RUN_SERIAL in CMake:
    COFFEE_TEST_RUN_SERIAL).

    ctest bound: COFFEE_TEST_TIMEOUT 180 s. */
#include "testkit.h"
#include <cmocka.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define STALL_MS        10000   //  how long the store is held
#define ORDER_THREADS   4       //  order streams
#define ORDERS_MAX      4000    //  bound on orders per stream
#define READS_MAX       200000  //  bound on reads
#define P99_LIMIT_MS    10.0    //  what each read route must keep

//  One stream of orders.
typedef struct {
    int port;                   //  server
    char customer [32];         //  who orders
    int64_t until;              //  tk_now_ms bound
    int ok;                     //  200 answers
    int refused;                //  other answers (each must have changed nothing)
    int other;                  //  answers outside 200/503
} stream_t;

//  Posts orders until the bound.
static void *
s_stream (void *arg)
{
    stream_t *self = (stream_t *) arg;
    char body [256];
    snprintf (body, sizeof body, "{\"customerId\":\"%s\",\"menuList\":"
              "[{\"menuId\":\"MENU-00000001\",\"qy\":1}]}", self->customer);
    for (int i = 0; i < ORDERS_MAX && tk_now_ms () < self->until; i++) {
        tk_resp_t r;
        tk_http ("POST", self->port, "/order", body, NULL, &r);
        if (r.status == 200)
            self->ok++;
        else {
            self->refused++;
            if (r.status != 503)
                self->other++;
        }
        tk_resp_reset (&r);
    }
    return NULL;
}

//  Sorts doubles.
static int
s_cmp (const void *a, const void *b)
{
    double x = *(const double *) a, y = *(const double *) b;
    return x < y? -1: x > y;
}

//  The p99 of n samples (sorted in place).
static double
s_p99 (double *samples, int n)
{
    qsort (samples, (size_t) n, sizeof (double), s_cmp);
    return n? samples [(int) ((n - 1) * 0.99)]: 0;
}

//  Microseconds on a monotonic clock.
static double
s_now_ms (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec * 1e3 + (double) ts.tv_nsec / 1e6;
}

//  A customer with points for every order the streams could place.
static void
s_customer (int port, char *id, size_t len)
{
    tk_resp_t r;
    tk_http ("POST", port, "/customer", "{\"customerNm\":\"stall\"}", NULL, &r);
    assert_int_equal (r.status, 200);
    snprintf (id, len, "%s", cJSON_GetObjectItem (r.json, "customerId")->valuestring);
    tk_resp_reset (&r);
    char body [128];
    snprintf (body, sizeof body, "{\"customerId\":\"%s\",\"chargeAmt\":1000000000}", id);
    tk_http ("POST", port, "/point", body, NULL, &r);
    assert_int_equal (r.status, 200);
    tk_resp_reset (&r);
}

//  Runs sqlite3 on db with sql; returns its stdout's first line as a number.
static long
s_sqlite_count (const char *db, const char *sql)
{
    char command [1024];
    snprintf (command, sizeof command, "sqlite3 '%s' \"%s\"", db, sql);
    FILE *out = popen (command, "r");
    assert_non_null (out);
    long value = -1;
    if (fscanf (out, "%ld", &value) != 1)
        value = -1;
    pclose (out);
    return value;
}

static void
test_reads_stay_fast_while_the_store_stalls (void **state)
{
    tk_server_t srv;
    const char *extra [] = { "--request-timeout-ms", "300", "--order-actors", "2",
                             "--log-level", "warn", NULL };
    assert_int_equal (tk_server_start (&srv, NULL, extra), 0);
    stream_t streams [ORDER_THREADS];
    memset (streams, 0, sizeof streams);
    for (int i = 0; i < ORDER_THREADS; i++) {
        streams [i].port = srv.port;
        s_customer (srv.port, streams [i].customer, sizeof streams [i].customer);
    }
    //  Warm: a snapshot has reached every worker.
    usleep (500 * 1000);

    //  The stall: another connection takes the write lock and sleeps in it.
    char db [700], hold [64];
    snprintf (db, sizeof db, "%s/command.db", srv.data_dir);
    snprintf (hold, sizeof hold, ".shell sleep %d", STALL_MS / 1000);
    const char *locker [] = { "/usr/bin/sqlite3", "-cmd", "BEGIN IMMEDIATE;", "-cmd", hold,
                              db, "COMMIT;", NULL };
    pid_t pid = tk_spawn (locker, NULL);
    assert_true (pid > 0);
    usleep (200 * 1000);
    int64_t started = tk_now_ms ();
    int64_t until = started + STALL_MS - 500;
    pthread_t threads [ORDER_THREADS];
    for (int i = 0; i < ORDER_THREADS; i++) {
        streams [i].until = until;
        assert_int_equal (pthread_create (&threads [i], NULL, s_stream, &streams [i]), 0);
    }

    const char *paths [] = { "/display/menu", "/display/best", "/health" };
    double *samples [3];
    int counts [3] = { 0, 0, 0 };
    for (int p = 0; p < 3; p++)
        samples [p] = (double *) calloc (READS_MAX, sizeof (double));
    int failed = 0;
    for (int i = 0; i < READS_MAX && tk_now_ms () < until; i++) {
        int p = i % 3;
        tk_resp_t r;
        double t = s_now_ms ();
        tk_http ("GET", srv.port, paths [p], NULL, NULL, &r);
        samples [p][counts [p]++] = s_now_ms () - t;
        //  Health tells the truth (200 UP or 503 DEGRADED), but in time.
        if (r.status != 200 && !(p == 2 && r.status == 503))
            failed++;
        tk_resp_reset (&r);
    }
    for (int i = 0; i < ORDER_THREADS; i++)
        pthread_join (threads [i], NULL);
    assert_true (tk_wait (pid, STALL_MS + 5000) == 0);

    int ok = 0, refused = 0, other = 0;
    for (int i = 0; i < ORDER_THREADS; i++) {
        ok += streams [i].ok;
        refused += streams [i].refused;
        other += streams [i].other;
    }
    printf ("stall: %d orders 200, %d refused (%d not 503); reads:", ok, refused, other);
    bool slow = false;
    for (int p = 0; p < 3; p++) {
        double p99 = s_p99 (samples [p], counts [p]);
        printf (" %s n=%d p99=%.2fms", paths [p], counts [p], p99);
        slow = slow || p99 >= P99_LIMIT_MS;
        free (samples [p]);
    }
    printf ("\n");
    //  Every 200 has its USE row; no refused order left one. The server is
    //  stopped before any assert, so a failure leaves nothing running.
    long use_rows = s_sqlite_count (db, "SELECT COUNT(*) FROM point_history WHERE type_code = 'USE'");
    int stopped = tk_server_stop (&srv);
    assert_int_equal (failed, 0);
    assert_false (slow);
    assert_true (refused > 0);          //  the stall was real
    assert_int_equal (other, 0);
    assert_int_equal (use_rows, ok);
    assert_int_equal (stopped, 0);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_reads_stay_fast_while_the_store_stalls),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
