/*  test_http_edge — edge.h on its own: counted addresses, the connection
    table shared by threads (exactly the limit gets in), the accept/open
    accounting of a worker's watch, token buckets on a synthetic clock, and
    the read-deadline sweep on real loopback TCP sockets.

    ctest bound: COFFEE_TEST_TIMEOUT 60 s. */

#include "testkit.h"
#include <cmocka.h>
#include "coffee.h"
#include "edge.h"
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <unistd.h>

#define S_THREADS   4               //  threads racing for one address's connections
#define S_TRIES     100             //  connections each asks for
#define S_LIMIT     64              //  the limit they race for

//  An IPv4 socket address.
static struct sockaddr_in
s_v4 (const char *text)
{
    struct sockaddr_in addr;
    memset (&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    assert_int_equal (inet_pton (AF_INET, text, &addr.sin_addr), 1);
    return addr;
}

//  An IPv6 socket address.
static struct sockaddr_in6
s_v6 (const char *text)
{
    struct sockaddr_in6 addr;
    memset (&addr, 0, sizeof addr);
    addr.sin6_family = AF_INET6;
    assert_int_equal (inet_pton (AF_INET6, text, &addr.sin6_addr), 1);
    return addr;
}

//  IPv4 counts per address, IPv6 per /64, IPv4-mapped IPv6 as IPv4.
static void
test_edge_addresses (void **state)
{
    struct sockaddr_in a = s_v4 ("10.1.2.3");
    edge_addr_t ea = edge_addr_of ((struct sockaddr *) &a, sizeof a);
    assert_int_equal (ea.len, 4);
    struct sockaddr_in6 m = s_v6 ("::ffff:10.1.2.3");
    edge_addr_t em = edge_addr_of ((struct sockaddr *) &m, sizeof m);
    assert_int_equal (em.len, 4);
    assert_memory_equal (ea.bytes, em.bytes, 4);
    struct sockaddr_in6 x = s_v6 ("2001:db8:1:2::1"), y = s_v6 ("2001:db8:1:2:ffff::9");
    struct sockaddr_in6 z = s_v6 ("2001:db8:1:3::1");
    edge_addr_t ex = edge_addr_of ((struct sockaddr *) &x, 0);
    edge_addr_t ey = edge_addr_of ((struct sockaddr *) &y, 0);
    edge_addr_t ez = edge_addr_of ((struct sockaddr *) &z, 0);
    assert_int_equal (ex.len, 8);
    assert_memory_equal (ex.bytes, ey.bytes, 8);
    assert_memory_not_equal (ex.bytes, ez.bytes, 8);
    //  Too short for its family, or not IP: not counted
    assert_int_equal (edge_addr_of ((struct sockaddr *) &a, 4).len, 0);
    assert_int_equal (edge_addr_of (NULL, 0).len, 0);
}

//  What a racing thread shares.
typedef struct {
    edge_t *edge;                   //  the table
    edge_addr_t addr;               //  the address they all come from
    int got;                        //  connections this thread was given
} s_racer_t;

//  Asks for S_TRIES connections.
static void *
s_race (void *arg)
{
    s_racer_t *racer = (s_racer_t *) arg;
    for (int i = 0; i < S_TRIES; i++)
        if (edge_conn_enter (racer->edge, &racer->addr))
            racer->got++;
    return NULL;
}

//  Threads racing for one address get exactly the limit between them; a
//  second address is unaffected; leaving frees the slots.
static void
test_edge_conn_limit_shared (void **state)
{
    edge_limits_t limits = { .conns_per_address = S_LIMIT };
    edge_t *edge = edge_new (&limits);
    assert_non_null (edge);
    struct sockaddr_in a = s_v4 ("192.0.2.7"), b = s_v4 ("192.0.2.8");
    edge_addr_t ea = edge_addr_of ((struct sockaddr *) &a, sizeof a);
    edge_addr_t eb = edge_addr_of ((struct sockaddr *) &b, sizeof b);
    pthread_t threads [S_THREADS];
    s_racer_t racers [S_THREADS];
    for (int t = 0; t < S_THREADS; t++) {
        racers [t] = (s_racer_t) { edge, ea, 0 };
        assert_int_equal (pthread_create (&threads [t], NULL, s_race, &racers [t]), 0);
    }
    int got = 0;
    for (int t = 0; t < S_THREADS; t++) {
        pthread_join (threads [t], NULL);
        got += racers [t].got;
    }
    assert_int_equal (got, S_LIMIT);
    assert_int_equal (edge_conn_count (edge, &ea), S_LIMIT);
    assert_false (edge_conn_enter (edge, &ea));
    assert_true (edge_conn_enter (edge, &eb));
    assert_int_equal (edge_conn_count (edge, &eb), 1);
    edge_conn_leave (edge, &ea);
    assert_true (edge_conn_enter (edge, &ea));
    for (int i = 0; i < S_LIMIT; i++)
        edge_conn_leave (edge, &ea);
    edge_conn_leave (edge, &eb);
    assert_int_equal (edge_conn_count (edge, &ea), 0);
    assert_int_equal (edge_conn_count (edge, &eb), 0);
    edge_conn_leave (edge, &ea);        //  never below zero
    assert_int_equal (edge_conn_count (edge, &ea), 0);
    edge_destroy (&edge);
    edge_destroy (&edge);
    assert_null (edge);

    //  Off: everyone enters, nothing is counted
    limits.conns_per_address = 0;
    edge = edge_new (&limits);
    for (int i = 0; i < 3 * S_LIMIT; i++)
        assert_true (edge_conn_enter (edge, &ea));
    assert_int_equal (edge_conn_count (edge, &ea), 0);
    edge_destroy (&edge);
}

//  A worker's accept then open uses one count; an accept no connection
//  used is given back by the next accept or by settle; an open with no
//  accept counts itself; close gives the count back.
static void
test_edge_watch_accounting (void **state)
{
    edge_limits_t limits = { .conns_per_address = 2 };
    edge_t *edge = edge_new (&limits);
    edge_watch_t *watch = edge_watch_new (edge, 0);
    assert_non_null (watch);
    struct sockaddr_in a = s_v4 ("198.51.100.1");
    edge_addr_t ea = edge_addr_of ((struct sockaddr *) &a, sizeof a);
    const struct sockaddr *sa = (const struct sockaddr *) &a;

    assert_true (edge_watch_accept (watch, sa, sizeof a));
    edge_conn_t *one = edge_watch_open (watch, sa, -1, 1);
    assert_non_null (one);
    assert_int_equal (edge_conn_count (edge, &ea), 1);
    //  MHD said no after the policy said yes: the count comes back
    assert_true (edge_watch_accept (watch, sa, sizeof a));
    assert_int_equal (edge_conn_count (edge, &ea), 2);
    edge_watch_settle (watch);
    assert_int_equal (edge_conn_count (edge, &ea), 1);
    //  The same through the next accept
    assert_true (edge_watch_accept (watch, sa, sizeof a));
    assert_true (edge_watch_accept (watch, sa, sizeof a));
    assert_int_equal (edge_conn_count (edge, &ea), 2);
    edge_conn_t *two = edge_watch_open (watch, sa, -1, 1);
    assert_int_equal (edge_conn_count (edge, &ea), 2);
    //  At the limit: refused, and counted for the log
    assert_false (edge_watch_accept (watch, sa, sizeof a));
    assert_int_equal (edge_mhd_accept (watch, sa, sizeof a), MHD_NO);
    assert_int_equal (edge_watch_refused (watch), 1);
    assert_int_equal (edge_watch_refused (watch), 0);
    assert_int_equal (edge_watch_size (watch), 2);
    edge_watch_close (watch, &one);
    assert_null (one);
    edge_watch_close (watch, &one);
    assert_int_equal (edge_conn_count (edge, &ea), 1);
    //  Opened without an accept: counted anyway, given back at close
    edge_conn_t *three = edge_watch_open (watch, sa, -1, 1);
    assert_int_equal (edge_conn_count (edge, &ea), 2);
    edge_watch_close (watch, &three);
    edge_watch_close (watch, &two);
    assert_int_equal (edge_conn_count (edge, &ea), 0);
    assert_int_equal (edge_watch_size (watch), 0);
    //  Destroy gives back what is still open
    assert_true (edge_watch_accept (watch, sa, sizeof a));
    edge_watch_open (watch, sa, -1, 1);
    assert_true (edge_watch_accept (watch, sa, sizeof a));
    assert_int_equal (edge_conn_count (edge, &ea), 2);
    edge_watch_destroy (&watch);
    edge_watch_destroy (&watch);
    assert_int_equal (edge_conn_count (edge, &ea), 0);
    edge_destroy (&edge);
}

//  Token buckets: a burst, then the wait for one token; refill at the
//  rate; another key and the other kind untouched; off is always 0.
static void
test_edge_rates (void **state)
{
    edge_limits_t limits = { .rate_per_address = 4, .burst_per_address = 6,
                             .rate_per_customer = 2 };
    edge_t *edge = edge_new (&limits);
    assert_true (edge_rate_on (edge, EDGE_ADDRESS));
    assert_true (edge_rate_on (edge, EDGE_CUSTOMER));
    int64_t now = 1000000000;
    for (int i = 0; i < 6; i++)
        assert_int_equal (edge_rate_take (edge, EDGE_ADDRESS, "a", 1, now), 0);
    int64_t wait = edge_rate_take (edge, EDGE_ADDRESS, "a", 1, now);
    assert_true (wait > 240000 && wait <= 250001);         //  one token at 4/s
    assert_int_equal (edge_retry_after (wait), 1);
    //  Refused requests take nothing: after 250 ms exactly one passes
    now += 250000;
    assert_int_equal (edge_rate_take (edge, EDGE_ADDRESS, "a", 1, now), 0);
    assert_true (edge_rate_take (edge, EDGE_ADDRESS, "a", 1, now) > 0);
    //  Another address, and a customer with the same bytes: full buckets
    assert_int_equal (edge_rate_take (edge, EDGE_ADDRESS, "b", 1, now), 0);
    //  The customer bucket: burst twice the rate
    for (int i = 0; i < 4; i++)
        assert_int_equal (edge_rate_take (edge, EDGE_CUSTOMER, "a", 1, now), 0);
    wait = edge_rate_take (edge, EDGE_CUSTOMER, "a", 1, now);
    assert_true (wait > 490000 && wait <= 500001);
    //  Long after: full again, never more than the burst
    now += 3600LL * 1000000;
    for (int i = 0; i < 6; i++)
        assert_int_equal (edge_rate_take (edge, EDGE_ADDRESS, "a", 1, now), 0);
    assert_true (edge_rate_take (edge, EDGE_ADDRESS, "a", 1, now) > 0);
    edge_destroy (&edge);

    assert_int_equal (edge_retry_after (1), 1);
    assert_int_equal (edge_retry_after (1000000), 1);
    assert_int_equal (edge_retry_after (1000001), 2);

    edge_limits_t off = { 0 };
    edge = edge_new (&off);
    assert_false (edge_rate_on (edge, EDGE_ADDRESS));
    for (int i = 0; i < 1000; i++)
        assert_int_equal (edge_rate_take (edge, EDGE_CUSTOMER, "c", 1, now), 0);
    edge_destroy (&edge);
}

//  Many more keys than slots: the table stays bounded and every key still
//  gets a bucket (the longest unused are dropped).
static void
test_edge_rates_many_keys (void **state)
{
    edge_limits_t limits = { .rate_per_address = 1, .burst_per_address = 1 };
    edge_t *edge = edge_new (&limits);
    int64_t now = 1;
    char key [32];
    for (int i = 0; i < 50000; i++) {
        snprintf (key, sizeof key, "k%d", i);
        assert_int_equal (edge_rate_take (edge, EDGE_ADDRESS, key, strlen (key), now), 0);
    }
    //  The last one is still known: its bucket is empty
    assert_true (edge_rate_take (edge, EDGE_ADDRESS, key, strlen (key), now) > 0);
    edge_destroy (&edge);
}

//  A connected loopback TCP pair: *client and the accepted *server.
static void
s_tcp_pair (int *client, int *server)
{
    int listener = socket (AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr = s_v4 ("127.0.0.1");
    socklen_t len = sizeof addr;
    assert_int_equal (bind (listener, (struct sockaddr *) &addr, sizeof addr), 0);
    assert_int_equal (listen (listener, 4), 0);
    assert_int_equal (getsockname (listener, (struct sockaddr *) &addr, &len), 0);
    *client = socket (AF_INET, SOCK_STREAM, 0);
    assert_int_equal (connect (*client, (struct sockaddr *) &addr, sizeof addr), 0);
    *server = accept (listener, NULL, NULL);
    assert_true (*server >= 0);
    close (listener);
}

//  True when the peer of fd shut the connection down (reads end of stream).
static bool
s_shut (int fd)
{
    struct pollfd p = { fd, POLLIN, 0 };
    if (poll (&p, 1, 200) != 1)
        return false;
    char byte;
    return recv (fd, &byte, 1, MSG_DONTWAIT) == 0;
}

//  The sweep cuts a request still being read at its deadline, not one
//  read whole, not an idle kept-alive connection; a kept-alive
//  connection whose next request's first byte came is timed from it.
static void
test_edge_sweep (void **state)
{
    const int timeout = 300;
    edge_limits_t limits = { .conns_per_address = 8 };
    edge_t *edge = edge_new (&limits);
    edge_watch_t *watch = edge_watch_new (edge, timeout);
    int client [4], server [4];
    edge_conn_t *conn [4];
    struct sockaddr_in a = s_v4 ("127.0.0.1");
    int64_t start = zclock_mono ();
    for (int i = 0; i < 4; i++) {
        s_tcp_pair (&client [i], &server [i]);
        conn [i] = edge_watch_open (watch, (struct sockaddr *) &a, server [i], start);
        assert_non_null (conn [i]);
    }
    edge_conn_read (conn [1]);                  //  1: read whole, waits for its actor
    edge_conn_idle (conn [2], start);           //  2: kept alive, idle
    edge_conn_idle (conn [3], start);           //  3: kept alive, then a byte
    assert_int_equal (edge_watch_sweep (watch, zclock_mono ()), 0);
    usleep (100 * 1000);
    assert_int_equal (send (client [3], "G", 1, 0), 1);
    usleep (50 * 1000);
    int64_t sent = zclock_mono () - 50;
    assert_int_equal (edge_watch_sweep (watch, zclock_mono ()), 0);
    //  Past the first request's deadline: only 0 is cut
    while (zclock_mono () < start + timeout + 10)
        usleep (10 * 1000);
    assert_int_equal (edge_watch_sweep (watch, zclock_mono ()), 1);
    assert_true (s_shut (client [0]));
    assert_false (s_shut (client [3]));
    //  Past the dripped request's deadline: 3 is cut; 1 and 2 never are
    while (zclock_mono () < sent + timeout + 60)
        usleep (10 * 1000);
    assert_int_equal (edge_watch_sweep (watch, zclock_mono ()), 1);
    assert_true (s_shut (client [3]));
    assert_false (s_shut (client [1]));
    assert_false (s_shut (client [2]));
    //  A parsed request line on an idle connection starts its clock
    edge_conn_begin (conn [2], zclock_mono ());
    assert_int_equal (edge_watch_sweep (watch, zclock_mono () + timeout), 1);
    for (int i = 0; i < 4; i++) {
        close (client [i]);
        close (server [i]);
    }
    edge_watch_destroy (&watch);
    edge_destroy (&edge);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_edge_addresses),
        cmocka_unit_test (test_edge_conn_limit_shared),
        cmocka_unit_test (test_edge_watch_accounting),
        cmocka_unit_test (test_edge_rates),
        cmocka_unit_test (test_edge_rates_many_keys),
        cmocka_unit_test (test_edge_sweep),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
