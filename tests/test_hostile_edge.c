/*  test_hostile_edge — the HTTP edge against clients that hold what they
    can, over raw sockets on loopback (issue 9, point 7):

      1. one address opening its limit + 20 idle connections: exactly the
         extra ones are refused, and /health from another address answers
         at once; closing them serves the address again;
      2. the issue's case: coffee with 300 descriptors and one client
         holding 170 idle connections: /health still answers at once;
      3. a request whose headers, body or (on a kept-alive connection)
         request line is dripped is cut at the read deadline, with nothing
         run; an idle kept-alive connection is not; slow clients that
         finish in time are answered;
      4. rates: past an address's burst every route answers 429
         RATE_LIMITED with Retry-After and runs nothing, another address
         is served, and after the wait it is served again; the same per
         customer, with the balance showing the refused charges changed
         nothing, another customer unaffected, and requests naming the
         customer with another credential neither spending nor refused by
         its bucket.

    Other loopback addresses (127.0.0.2 …) stand for other clients; the
    server is on 127.0.0.1 only. Each test starts its own coffee.

    ctest bound: COFFEE_TEST_TIMEOUT 240 s. */

#include "testkit.h"
#include <cmocka.h>
#include "hostile_kit.h"
#include <poll.h>
#include <sys/resource.h>

#define S_LIMIT         24          //  --max-conns-per-address of test 1
#define S_EXTRA         20          //  connections past it
#define S_HOLDER        "127.0.0.3" //  the address the idle connections come from
#define S_ISSUE_FDS     300         //  descriptors of the issue's server
#define S_ISSUE_CONNS   170         //  idle connections of the issue's client
#define S_READ_MS       2000        //  --read-timeout-ms of test 3
#define S_MARGIN_MS     1500        //  the sweep's period and a loaded machine
#define S_FAST_MS       1000        //  "at once" for /health on a loaded machine
#define S_SETTLE_MS     5000        //  bound on the server settling its counts
#define S_DRIP_MS       250         //  gap between dripped bytes
#define S_HEALTH        "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"

//  The coffee of the running test; its teardown stops it even when the
//  test failed half-way.
static tk_server_t s_server;

//  Starts coffee with extra flags.
static void
s_start (tk_server_t *server, const char *const *extra)
{
    assert_int_equal (tk_server_start (server, NULL, extra), 0);
}

//  Stops coffee; it must stop cleanly.
static void
s_stop (tk_server_t *server)
{
    assert_int_equal (tk_server_stop (server), 0);
    server->pid = 0;
}

//  Stops the test's coffee if the test left it running (it failed).
static int
s_teardown (void **state)
{
    if (s_server.pid > 0)
        tk_server_stop (&s_server);
    memset (&s_server, 0, sizeof s_server);
    return 0;
}

//  True when the server closed fd (end of stream or reset), without waiting.
static bool
s_closed (int fd)
{
    char byte;
    ssize_t n = recv (fd, &byte, 1, MSG_DONTWAIT);
    return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
}

//  How many of fds the server has closed, waiting up to S_SETTLE_MS for
//  want of them (and then S_SETTLE_MS / 10 more, to see no more follow).
static int
s_count_closed (const int *fds, int count, int want)
{
    int64_t deadline = tk_now_ms () + S_SETTLE_MS;
    int closed = 0;
    while (true) {
        closed = 0;
        for (int i = 0; i < count; i++)
            closed += s_closed (fds [i]);
        if (closed >= want || tk_now_ms () >= deadline)
            break;
        usleep (50 * 1000);
    }
    usleep (S_SETTLE_MS / 10 * 1000);
    closed = 0;
    for (int i = 0; i < count; i++)
        closed += s_closed (fds [i]);
    return closed;
}

//  GET /health from source: its status (0: no answer) and in *ms how long.
static int
s_health_from (const char *source, int port, int64_t *ms)
{
    hk_reply_t reply;
    int64_t start = tk_now_ms ();
    int status = 0;
    if (hk_exchange_from (source, port, S_HEALTH, strlen (S_HEALTH), false, false, 1, 0,
                          HK_READ_MS, &reply) == 0 && reply.count > 0)
        status = reply.status [0];
    if (ms)
        *ms = tk_now_ms () - start;
    hk_reply_reset (&reply);
    return status;
}

//  Opens count idle connections from source (NULL: this process's usual
//  loopback address). The tests hold theirs from S_HOLDER, which nothing
//  else uses: testkit's readiness probe comes from 127.0.0.1, and the
//  server may not have seen its close yet (it would hold one slot).
static void
s_open_idle_from (const char *source, int port, int *fds, int count)
{
    for (int i = 0; i < count; i++) {
        fds [i] = hk_connect_from (source, port);
        assert_true (fds [i] >= 0);
    }
}

//  Closes count connections.
static void
s_close_all (int *fds, int count)
{
    for (int i = 0; i < count; i++)
        close (fds [i]);
}

//  Polls the counter sample of /metrics (from 127.0.0.1) until it reaches
//  want (within S_SETTLE_MS; the front counts every 200 ms), and checks it
//  stays there.
static void
s_assert_counted (int port, const char *sample, int64_t want)
{
    int64_t value = -1;
    int64_t deadline = tk_now_ms () + S_SETTLE_MS;
    while (tk_now_ms () < deadline) {
        assert_int_equal (tk_metric (port, sample, &value), 200);
        if (value >= want)
            break;
        usleep (50 * 1000);
    }
    usleep (S_SETTLE_MS / 10 * 1000);
    assert_int_equal (tk_metric (port, sample, &value), 200);
    if (value != want)
        fail_msg ("%s is %" PRId64 ", not %" PRId64, sample, value, want);
}

//  Polls /health from source until it answers 200 (within S_SETTLE_MS).
static void
s_served_again (const char *source, int port)
{
    int64_t deadline = tk_now_ms () + S_SETTLE_MS;
    while (s_health_from (source, port, NULL) != 200) {
        assert_true (tk_now_ms () < deadline);
        usleep (100 * 1000);
    }
}


//  --------------------------------------------------------------------------
//  1 and 2: connections per address

//  Limit + 20 idle connections: 20 refused at accept, the rest held;
//  another address is served at once, this one not until it lets go.
static void
test_edge_conn_limit (void **state)
{
    tk_server_t *server = &s_server;
    char limit [16];
    snprintf (limit, sizeof limit, "%d", S_LIMIT);
    //  The held connections stay idle for the whole test, which on a loaded
    //  machine outlasts the default 10 s read deadline: that deadline
    //  (test_edge_read_deadline) would close them and spoil the count.
    const char *extra [] = { "--max-conns-per-address", limit, "--http-threads", "4",
                             "--read-timeout-ms", "600000", "--log-level", "warn", NULL };
    s_start (server, extra);
    int fds [S_LIMIT + S_EXTRA];
    s_open_idle_from (S_HOLDER, server->port, fds, S_LIMIT + S_EXTRA);
    assert_int_equal (s_count_closed (fds, S_LIMIT + S_EXTRA, S_EXTRA), S_EXTRA);

    int64_t ms = 0;
    assert_int_equal (s_health_from ("127.0.0.2", server->port, &ms), 200);
    assert_true (ms < S_FAST_MS);
    //  This address holds its limit: refused at accept, no answer
    assert_int_equal (s_health_from (S_HOLDER, server->port, NULL), 0);
    //  The held ones are still open, and still count
    assert_int_equal (s_count_closed (fds, S_LIMIT + S_EXTRA, 0), S_EXTRA);
    //  Every refusal is counted, and no cut (the held ones are idle, not late)
    s_assert_counted (server->port, "coffee_http_connections_refused_total", S_EXTRA + 1);
    s_assert_counted (server->port, "coffee_http_connections_cut_total", 0);
    s_close_all (fds, S_LIMIT + S_EXTRA);
    s_served_again (S_HOLDER, server->port);
    s_stop (server);
}

//  The connection limits a server logged at start: "at most T connections,
//  P per client address".
static void
s_log_limits (const tk_server_t *server, int *total, int *per_address)
{
    bool found = false;
    int64_t deadline = tk_now_ms () + S_SETTLE_MS;
    while (!found && tk_now_ms () < deadline) {
        FILE *file = fopen (server->log_path, "r");
        assert_non_null (file);
        char line [1024];
        while (!found && fgets (line, sizeof line, file)) {
            const char *at = strstr (line, "http: at most ");
            found = at && sscanf (at, "http: at most %d connections, %d per client address",
                                  total, per_address) == 2;
        }
        fclose (file);
        if (!found)
            usleep (100 * 1000);
    }
    if (!found)
        fail_msg ("no connection limits in %s", server->log_path);
}

//  The issue's case: a server with 300 descriptors, one client holding
//  170 idle connections; /health from another client answers at once.
static void
test_edge_issue_300_descriptors (void **state)
{
    struct rlimit old, low;
    assert_int_equal (getrlimit (RLIMIT_NOFILE, &old), 0);
    low = old;
    low.rlim_cur = S_ISSUE_FDS < old.rlim_max? S_ISSUE_FDS: old.rlim_max;
    //  coffee inherits the soft limit; this process gets its own back at once
    assert_int_equal (setrlimit (RLIMIT_NOFILE, &low), 0);
    tk_server_t *server = &s_server;
    const char *extra [] = { "--log-level", "info", NULL };
    int rc = tk_server_start (server, NULL, extra);
    assert_int_equal (setrlimit (RLIMIT_NOFILE, &old), 0);
    assert_int_equal (rc, 0);
    struct rlimit served;
    assert_int_equal (prlimit (server->pid, RLIMIT_NOFILE, NULL, &served), 0);
    assert_int_equal (served.rlim_cur, low.rlim_cur);

    //  The default limit: a quarter of what these descriptors let it hold
    int total = 0, per_address = 0;
    s_log_limits (server, &total, &per_address);
    assert_true (per_address >= 1 && per_address <= total / 4);
    int fds [S_ISSUE_CONNS];
    s_open_idle_from (S_HOLDER, server->port, fds, S_ISSUE_CONNS);
    assert_int_equal (s_count_closed (fds, S_ISSUE_CONNS, S_ISSUE_CONNS - per_address),
                      S_ISSUE_CONNS - per_address);
    for (int i = 0; i < 5; i++) {
        int64_t ms = 0;
        assert_int_equal (s_health_from ("127.0.0.2", server->port, &ms), 200);
        assert_true (ms < S_FAST_MS);
    }
    s_close_all (fds, S_ISSUE_CONNS);
    s_served_again (S_HOLDER, server->port);
    s_stop (server);
}


//  --------------------------------------------------------------------------
//  3: the read deadline

//  Sends data one byte every S_DRIP_MS on fd, keeping on until the server
//  closes or bound_ms passes since start. Returns ms from start to the
//  close (-1: not closed); *answered tells whether any answer came.
static int64_t
s_drip (int fd, const char *data, int64_t start, int bound_ms, bool *answered)
{
    size_t len = strlen (data), at = 0;
    *answered = false;
    while (tk_now_ms () - start < bound_ms) {
        if (at < len && send (fd, data + at, 1, MSG_NOSIGNAL) != 1)
            return tk_now_ms () - start;
        at++;
        struct pollfd p = { fd, POLLIN, 0 };
        if (poll (&p, 1, S_DRIP_MS) == 1) {
            char buf [512];
            ssize_t n = recv (fd, buf, sizeof buf, MSG_DONTWAIT);
            if (n > 0)
                *answered = true;
            else
            if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK))
                return tk_now_ms () - start;
        }
    }
    return -1;
}

//  Asserts a dripped request was cut at the deadline (from start) with no
//  answer.
static void
s_assert_cut (const char *what, int fd, const char *data, int64_t start)
{
    bool answered = false;
    int64_t ms = s_drip (fd, data, start, S_READ_MS * 5, &answered);
    if (ms < 0 || ms < S_READ_MS - 100 || ms > S_READ_MS + S_MARGIN_MS || answered)
        fail_msg ("%s: closed after %" PRId64 " ms (deadline %d), answered %d", what, ms,
                  S_READ_MS, answered);
    close (fd);
}

//  The number of a new customer.
static int64_t
s_new_customer (int port)
{
    cJSON *json = hk_ok (port, "POST", "/customer", "{\"customerNm\":\"edge\"}");
    const cJSON *id = cJSON_GetObjectItemCaseSensitive (json, "customerId");
    assert_true (cJSON_IsString (id));
    int64_t number = hk_id_number (id->valuestring);
    cJSON_Delete (json);
    return number;
}

//  Reads one whole answer from fd within wait_ms: its status, or 0.
static int
s_read_answer (int fd, int wait_ms)
{
    char buf [4096];
    size_t len = 0;
    int64_t deadline = tk_now_ms () + wait_ms;
    while (len + 1 < sizeof buf && tk_now_ms () < deadline) {
        struct pollfd p = { fd, POLLIN, 0 };
        if (poll (&p, 1, 100) != 1)
            continue;
        ssize_t n = recv (fd, buf + len, sizeof buf - 1 - len, 0);
        if (n <= 0)
            break;
        len += (size_t) n;
        buf [len] = 0;
        const char *blank = strstr (buf, "\r\n\r\n");
        if (blank) {
            long long body = hk_header_number (buf, (size_t) (blank - buf) + 4,
                                               "Content-Length");
            if (body >= 0 && len >= (size_t) (blank - buf) + 4 + (size_t) body)
                return atoi (buf + 9);
        }
    }
    return 0;
}

//  Dripped headers, a dripped body and a dripped request line after a
//  kept-alive idle past the deadline: each cut at the deadline, nothing run.
static void
test_edge_read_deadline (void **state)
{
    tk_server_t *server = &s_server;
    char read_ms [16];
    snprintf (read_ms, sizeof read_ms, "%d", S_READ_MS);
    const char *extra [] = { "--read-timeout-ms", read_ms, "--log-level", "warn", NULL };
    s_start (server, extra);
    int port = server->port;

    //  Headers: the request line at once, the rest one byte at a time
    int fd = hk_connect (port);
    int64_t start = tk_now_ms ();
    assert_int_equal (hk_send (fd, "GET /health HTTP/1.1\r\n", 22, false), 0);
    s_assert_cut ("dripped headers", fd,
                  "Host: 127.0.0.1\r\nX-Pad: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n", start);

    //  A body that would make a customer
    int64_t before = s_new_customer (port);
    const char *body = "{\"customerNm\":\"dripped-one-byte-at-a-time\"}";
    char head [256];
    snprintf (head, sizeof head, "POST /customer HTTP/1.1\r\nHost: 127.0.0.1\r\n"
              "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n", strlen (body));
    fd = hk_connect (port);
    start = tk_now_ms ();
    assert_int_equal (hk_send (fd, head, strlen (head), false), 0);
    s_assert_cut ("dripped body", fd, body, start);
    assert_int_equal (s_new_customer (port), before + 1);

    //  Kept alive: one request answered, idle past the deadline (not cut:
    //  that is the idle timeout's), then the next request line dripped
    fd = hk_connect (port);
    const char *first = "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    assert_int_equal (hk_send (fd, first, strlen (first), false), 0);
    assert_int_equal (s_read_answer (fd, HK_READ_MS), 200);
    usleep ((S_READ_MS + S_MARGIN_MS) * 1000);
    assert_false (s_closed (fd));
    s_assert_cut ("dripped request line after keep-alive", fd, first, tk_now_ms ());
    //  The three cuts are counted; nothing was refused
    s_assert_counted (port, "coffee_http_connections_cut_total", 3);
    s_assert_counted (port, "coffee_http_connections_refused_total", 0);
    s_stop (server);
}

//  Slow clients that finish within the deadline are answered: a GET sent
//  one byte every 30 ms, a body one byte every 20 ms.
static void
test_edge_slow_in_time (void **state)
{
    tk_server_t *server = &s_server;
    char read_ms [16];
    snprintf (read_ms, sizeof read_ms, "%d", S_READ_MS);
    const char *extra [] = { "--read-timeout-ms", read_ms, "--log-level", "warn", NULL };
    s_start (server, extra);
    int port = server->port;
    const char *get = "GET /display/menu HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    int fd = hk_connect (port);
    for (const char *p = get; *p; p++) {
        assert_int_equal (send (fd, p, 1, MSG_NOSIGNAL), 1);
        usleep (30 * 1000);
    }
    assert_int_equal (s_read_answer (fd, HK_READ_MS), 200);
    close (fd);

    const char *body = "{\"customerNm\":\"slow-but-in-time\"}";
    char head [256];
    snprintf (head, sizeof head, "POST /customer HTTP/1.1\r\nHost: 127.0.0.1\r\n"
              "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n", strlen (body));
    fd = hk_connect (port);
    assert_int_equal (hk_send (fd, head, strlen (head), false), 0);
    for (const char *p = body; *p; p++) {
        assert_int_equal (send (fd, p, 1, MSG_NOSIGNAL), 1);
        usleep (20 * 1000);
    }
    assert_int_equal (s_read_answer (fd, HK_READ_MS), 200);
    close (fd);
    s_stop (server);
}


//  --------------------------------------------------------------------------
//  4: request rates

//  One raw request from source: its status (0: none), Retry-After (-1:
//  none) and JSON code (copied into code, size 32).
static int
s_request_from (const char *source, int port, const char *method, const char *path,
                const char *body, int *retry_after, char *code)
{
    char request [1024];
    snprintf (request, sizeof request, "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\n"
              "Connection: close\r\n%s%s%zu\r\n\r\n%s", method, path,
              body? "Content-Type: application/json\r\n": "",
              "Content-Length: ", body? strlen (body): 0, body? body: "");
    hk_reply_t reply;
    int status = 0;
    *retry_after = -1;
    *code = 0;
    if (hk_exchange_from (source, port, request, strlen (request), false, false, 1, 0,
                          HK_READ_MS, &reply) == 0 && reply.count > 0) {
        status = reply.status [0];
        const char *head = reply.raw + reply.head_at [0];
        *retry_after = (int) hk_header_number (head, reply.body_at [0] - reply.head_at [0],
                                               "Retry-After");
        cJSON *json = hk_json (&reply, 0);
        const cJSON *c = cJSON_GetObjectItemCaseSensitive (json, "code");
        if (cJSON_IsString (c))
            snprintf (code, 32, "%s", c->valuestring);
        cJSON_Delete (json);
    }
    hk_reply_reset (&reply);
    return status;
}

//  A burst from one address past its bucket: 429 RATE_LIMITED with
//  Retry-After on every route, nothing run; another address served; after
//  the wait, served again.
static void
test_edge_rate_address (void **state)
{
    tk_server_t *server = &s_server;
    const char *extra [] = { "--rate-per-address", "5", "--rate-burst-per-address", "10",
                             "--log-level", "warn", NULL };
    s_start (server, extra);
    int port = server->port;
    int retry = -1, ok = 0, limited = 0, wait_s = 0;
    char code [32];
    int64_t before = s_new_customer (port);
    int64_t start = tk_now_ms ();
    for (int i = 0; i < 30; i++) {
        int status = s_request_from ("127.0.0.3", port, "GET", "/health", NULL, &retry, code);
        if (status == 200)
            ok++;
        else {
            assert_int_equal (status, 429);
            assert_string_equal (code, "RATE_LIMITED");
            assert_true (retry >= 1);
            wait_s = retry;
            limited++;
        }
    }
    double elapsed_s = (double) (tk_now_ms () - start) / 1000.0;
    assert_true (ok >= 10);
    assert_true (ok <= 10 + (int) (5 * elapsed_s) + 1);
    assert_true (limited > 0);
    //  Every route, a write too: refused before anything runs
    assert_int_equal (s_request_from ("127.0.0.3", port, "GET", "/display/menu", NULL, &retry,
                                      code), 429);
    assert_int_equal (s_request_from ("127.0.0.3", port, "POST", "/customer",
                                      "{\"customerNm\":\"refused\"}", &retry, code), 429);
    assert_string_equal (code, "RATE_LIMITED");
    //  Another address: served
    assert_int_equal (s_request_from ("127.0.0.4", port, "GET", "/display/menu", NULL, &retry,
                                      code), 200);
    assert_int_equal (s_request_from ("127.0.0.4", port, "GET", "/health", NULL, &retry, code),
                      200);
    //  After the wait: served again
    usleep ((useconds_t) wait_s * 1000 * 1000);
    assert_int_equal (s_request_from ("127.0.0.3", port, "GET", "/health", NULL, &retry, code),
                      200);
    //  The refused sign-up made no customer: the next number follows
    assert_int_equal (s_new_customer (port), before + 1);
    s_stop (server);
}

//  A burst of charges for one customer past its bucket: 429 with
//  Retry-After; the balance holds only the charges that ran; another
//  customer is unaffected; after the wait the customer is served again.
static void
test_edge_rate_customer (void **state)
{
    tk_server_t *server = &s_server;
    const char *extra [] = { "--rate-per-customer", "1", "--rate-burst-per-customer", "5",
                             "--log-level", "warn", NULL };
    s_start (server, extra);
    int port = server->port;
    char a [32], b [32], body [128], path [64];
    for (int i = 0; i < 2; i++) {
        cJSON *json = hk_ok (port, "POST", "/customer", "{\"customerNm\":\"rated\"}");
        const cJSON *id = cJSON_GetObjectItemCaseSensitive (json, "customerId");
        assert_true (cJSON_IsString (id));
        snprintf (i? b: a, 32, "%s", id->valuestring);
        cJSON_Delete (json);
    }
    const char *headers [] = { "Content-Type: application/json", NULL };
    snprintf (body, sizeof body, "{\"customerId\":\"%s\",\"chargeAmt\":1}", a);
    int ok = 0, limited = 0, wait_s = 0;
    int64_t start = tk_now_ms ();
    for (int i = 0; i < 12; i++) {
        tk_resp_t resp;
        assert_int_equal (tk_http ("POST", port, "/point", body, headers, &resp), 0);
        if (resp.status == 200)
            ok++;
        else {
            assert_int_equal (resp.status, 429);
            char value [16];
            assert_true (tk_resp_header (&resp, "Retry-After", value, sizeof value));
            wait_s = atoi (value);
            assert_true (wait_s >= 1);
            const cJSON *code = cJSON_GetObjectItemCaseSensitive (resp.json, "code");
            assert_true (cJSON_IsString (code));
            assert_string_equal (code->valuestring, "RATE_LIMITED");
            limited++;
        }
        tk_resp_reset (&resp);
    }
    double elapsed_s = (double) (tk_now_ms () - start) / 1000.0;
    assert_true (ok >= 5);
    assert_true (ok <= 5 + (int) elapsed_s + 1);
    assert_true (limited > 0);
    //  The bucket is the customer's with the credential presented: requests
    //  naming it with another credential do not spend it (nor are they
    //  refused by it; the actors judge the credential)
    snprintf (path, sizeof path, "/point/%s", a);
    const char *forged [] = { "Authorization: Bearer not-the-customers-token", NULL };
    //  (the customer's own bucket refills one token a second: of five at
    //  once, some are refused)
    int refused_own = 0;
    for (int i = 0; i < 5; i++) {
        tk_resp_t resp;
        assert_int_equal (tk_http ("GET", port, path, NULL, forged, &resp), 0);
        assert_true (resp.status != 429 && resp.status != 0);
        tk_resp_reset (&resp);
    }
    for (int i = 0; i < 5; i++) {
        tk_resp_t resp;
        assert_int_equal (tk_http ("GET", port, path, NULL, NULL, &resp), 0);
        refused_own += resp.status == 429;
        tk_resp_reset (&resp);
    }
    assert_true (refused_own > 0);
    //  Another customer: served
    snprintf (body, sizeof body, "{\"customerId\":\"%s\",\"chargeAmt\":3}", b);
    cJSON_Delete (hk_ok (port, "POST", "/point", body));
    //  After the wait: the balance is exactly the charges that ran
    usleep ((useconds_t) wait_s * 1000 * 1000);
    cJSON *json = hk_ok (port, "GET", path, NULL);
    const cJSON *row = cJSON_GetArrayItem (json, 0);
    const cJSON *point = cJSON_GetObjectItemCaseSensitive (row, "point");
    assert_true (cJSON_IsNumber (point));
    assert_int_equal ((int) point->valuedouble, ok);
    cJSON_Delete (json);
    s_stop (server);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test_teardown (test_edge_conn_limit, s_teardown),
        cmocka_unit_test_teardown (test_edge_issue_300_descriptors, s_teardown),
        cmocka_unit_test_teardown (test_edge_read_deadline, s_teardown),
        cmocka_unit_test_teardown (test_edge_slow_in_time, s_teardown),
        cmocka_unit_test_teardown (test_edge_rate_address, s_teardown),
        cmocka_unit_test_teardown (test_edge_rate_customer, s_teardown),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
