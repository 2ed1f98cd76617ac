/*  visible-latency — how long after its 200 an order shows in
    GET /display/best: the "order visible in /display after commit" figure
    of DESIGN.md section 5 (target p99 < 50 ms).

        visible-latency --port P --customer ID [--token T] [--host A] [--menu ID]
                        [--samples N] [--poll-ms M] [--timeout-ms T] [--jitter-ms J]

    One sample: wait a random 0..J ms (default 250: orders arrive at random
    moments, not in step with the display's refresh period, which back-to-back
    samples would lock onto), read the menu's orderCnt from GET /display/best, POST /order
    one of that menu (qy 1, no Idempotency-Key) for the customer, and from
    the moment the 200 arrives poll GET /display/best every M ms (default 1)
    until the menu's orderCnt has grown. The time from the 200 to the first
    answer that shows it is the sample. N samples (default 50) one after the
    other on two keep-alive connections (one for the order, one for the
    polls); a sample that takes longer than T ms (default 5000) counts as a
    timeout and is left out of the percentiles. With --token the order is
    sent with Authorization: Bearer T. The customer must hold
    points for N orders, and the menu must be in the top 3 once ordered
    (order only one menu on a fresh store: bench/run.sh does that).

    With --menu-change ADMIN_TOKEN it measures a menu change instead (issue
    10): each sample PATCHes /admin/menu/{menu} with a menuPrice it never had
    (admin token) and, from the moment the 200 arrives, polls GET
    /display/menu until the menu shows that price; no customer is needed.
    The line then starts with "menu-visible:".

    Prints one line bench/run.sh reads:
        visible: samples N timeouts T p50_ms A p90_ms B p99_ms C max_ms D
    Exits 1 when no sample was taken. Talks to loopback only by default; not
    part of coffee. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE                     //  memmem
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define VIS_IO_TIMEOUT_S    10          //  a read or write that waits longer fails
#define VIS_HEAD_MAX        8192        //  largest response header block
#define VIS_BODY_MAX        (1 << 20)   //  largest response body

//  One keep-alive HTTP/1.1 connection to the server.
typedef struct {
    struct sockaddr_in addr;        //  where the server listens
    int fd;                         //  socket, or -1 when closed
    char head [VIS_HEAD_MAX];       //  bytes read past the last response
    size_t have;                    //  bytes in head
    char *body;                     //  the last response's body (NUL-terminated)
    int status;                     //  the last response's status
} conn_t;

//  Settings from the command line.
typedef struct {
    const char *host;               //  IPv4 address of coffee
    long port;                      //  its port
    const char *customer;           //  customer that orders
    const char *token;              //  its bearer token, or NULL
    const char *menu;               //  menu ordered and watched
    long samples;                   //  samples to take
    long poll_ms;                   //  pause between two polls
    long timeout_ms;                //  a sample longer than this is a timeout
    long jitter_ms;                 //  random pause before each sample, up to this
    const char *admin_token;        //  --menu-change: measure menu changes with it, or NULL
} options_t;


//  Monotonic time in milliseconds, with microseconds.
static double
s_now_ms (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec * 1000.0 + (double) ts.tv_nsec / 1e6;
}


//  Closes the connection; the next request opens a new one.
static void
s_close (conn_t *self)
{
    if (self->fd >= 0)
        close (self->fd);
    self->fd = -1;
    self->have = 0;
}


//  Opens the connection when it is closed. 0 or -1.
static int
s_connect (conn_t *self)
{
    if (self->fd >= 0)
        return 0;
    self->fd = socket (AF_INET, SOCK_STREAM, 0);
    if (self->fd < 0)
        return -1;
    struct timeval tv = { .tv_sec = VIS_IO_TIMEOUT_S };
    int one = 1;
    setsockopt (self->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt (self->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    setsockopt (self->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect (self->fd, (struct sockaddr *) &self->addr, sizeof self->addr)) {
        s_close (self);
        return -1;
    }
    return 0;
}


//  Reads more bytes into buf at *len (at most size - *len). 0 or -1.
static int
s_read_more (conn_t *self, char *buf, size_t *len, size_t size)
{
    if (*len >= size)
        return -1;
    ssize_t n = recv (self->fd, buf + *len, size - *len, 0);
    if (n <= 0)
        return -1;
    *len += (size_t) n;
    return 0;
}


//  Reads one response: status into self->status, body into self->body.
//  Needs a Content-Length (what libmicrohttpd sends for coffee's answers).
//  0 or -1 (the connection is then closed).
static int
s_read_response (conn_t *self)
{
    char *end = NULL;
    while (!(end = memmem (self->head, self->have, "\r\n\r\n", 4)))
        if (s_read_more (self, self->head, &self->have, sizeof self->head - 1))
            goto fail;
    size_t head_len = (size_t) (end - self->head) + 4;
    self->head [head_len - 1] = '\0';
    if (sscanf (self->head, "HTTP/1.%*c %d", &self->status) != 1)
        goto fail;
    long length = -1;
    bool close_after = false;
    for (char *line = strstr (self->head, "\r\n"); line && line < self->head + head_len;
         line = strstr (line + 2, "\r\n")) {
        if (strncasecmp (line + 2, "Content-Length:", 15) == 0)
            length = strtol (line + 17, NULL, 10);
        if (strncasecmp (line + 2, "Connection: close", 17) == 0)
            close_after = true;
    }
    if (length < 0 || length > VIS_BODY_MAX)
        goto fail;
    free (self->body);
    self->body = (char *) malloc ((size_t) length + 1);
    if (!self->body)
        goto fail;
    size_t got = self->have - head_len < (size_t) length ? self->have - head_len
                                                         : (size_t) length;
    memcpy (self->body, self->head + head_len, got);
    //  Keep what follows this response (nothing, with one request at a time).
    size_t rest = self->have - head_len - got;
    memmove (self->head, self->head + head_len + got, rest);
    self->have = rest;
    while (got < (size_t) length)
        if (s_read_more (self, self->body, &got, (size_t) length))
            goto fail;
    self->body [length] = '\0';
    if (close_after)
        s_close (self);
    return 0;
fail:
    s_close (self);
    return -1;
}


//  Sends one request and reads its answer; reconnects once when a kept-alive
//  connection was closed by the server. extra is more header lines, each
//  ending in CRLF. 0 or -1.
static int
s_request (conn_t *self, const char *method, const char *path, const char *extra,
           const char *body)
{
    char req [2048];
    int n = body
        ? snprintf (req, sizeof req, "%s %s HTTP/1.1\r\nHost: bench\r\n%s"
                    "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
                    method, path, extra, strlen (body), body)
        : snprintf (req, sizeof req, "%s %s HTTP/1.1\r\nHost: bench\r\n%s\r\n", method, path,
                    extra);
    if (n < 0 || (size_t) n >= sizeof req)
        return -1;
    for (int attempt = 0; attempt < 2; attempt++) {
        if (s_connect (self))
            return -1;
        if (send (self->fd, req, (size_t) n, MSG_NOSIGNAL) == n && s_read_response (self) == 0)
            return 0;
        s_close (self);
    }
    return -1;
}


//  The menu's orderCnt in a /display/best body: 0 when it is not listed,
//  -1 when the body is not the expected shape.
static long
s_count (const char *body, const char *menu)
{
    char key [96];
    snprintf (key, sizeof key, "\"menuId\":\"%s\"", menu);
    const char *at = strstr (body, key);
    if (!at)
        return body [0] == '[' ? 0 : -1;
    const char *close = strchr (at, '}');
    const char *cnt = strstr (at, "\"orderCnt\":");
    if (!cnt || (close && cnt > close))
        return -1;
    return strtol (cnt + 11, NULL, 10);
}


//  Polls /display/best until it answers with the menu's count: that count,
//  or -1.
static long
s_read_count (conn_t *poll, const char *menu)
{
    if (s_request (poll, "GET", "/display/best", "", NULL) || poll->status != 200)
        return -1;
    return s_count (poll->body, menu);
}


static int
s_cmp_double (const void *a, const void *b)
{
    double x = *(const double *) a, y = *(const double *) b;
    return x < y ? -1 : x > y;
}


//  Nearest-rank percentile p (0..100) of n sorted values.
static double
s_percentile (const double *sorted, long n, double p)
{
    long rank = (long) ((p / 100.0) * (double) n + 0.999999);
    if (rank < 1)
        rank = 1;
    if (rank > n)
        rank = n;
    return sorted [rank - 1];
}


//  Reads an integer option value; exits on a bad one.
static long
s_number (const char *name, const char *value, long min, long max)
{
    char *end = NULL;
    long v = value ? strtol (value, &end, 10) : 0;
    if (!value || !*value || *end || v < min || v > max) {
        fprintf (stderr, "visible-latency: %s wants a number in %ld..%ld\n", name, min, max);
        exit (2);
    }
    return v;
}


//  The menu's menuPrice in a /display/menu body: -1 when it is not listed
//  or the body is not the expected shape.
static long
s_price (const char *body, const char *menu)
{
    char key [96];
    snprintf (key, sizeof key, "\"menuId\":\"%s\"", menu);
    const char *at = strstr (body, key);
    if (!at)
        return -1;
    const char *close = strchr (at, '}');
    const char *price = strstr (at, "\"menuPrice\":");
    if (!price || (close && price > close))
        return -1;
    return strtol (price + 12, NULL, 10);
}


//  One menu-change sample: PATCH the menu's price to price, then poll
//  /display/menu until it shows it. The ms waited, -1 on a failure, -2 on
//  a timeout.
static double
s_menu_sample (conn_t *admin, conn_t *poll, const options_t *opts, const char *auth,
               long price, const struct timespec *pause)
{
    char path [128], body [64];
    snprintf (path, sizeof path, "/admin/menu/%s", opts->menu);
    snprintf (body, sizeof body, "{\"menuPrice\":%ld}", price);
    if (s_request (admin, "PATCH", path, auth, body) || admin->status != 200) {
        fprintf (stderr, "visible-latency: PATCH %s failed: %d %s\n", path, admin->status,
                 admin->body ? admin->body : "");
        return -1;
    }
    double start = s_now_ms ();
    while (s_now_ms () - start <= (double) opts->timeout_ms) {
        if (s_request (poll, "GET", "/display/menu", "", NULL) || poll->status != 200) {
            fprintf (stderr, "visible-latency: GET /display/menu failed while polling\n");
            return -1;
        }
        if (s_price (poll->body, opts->menu) == price)
            return s_now_ms () - start;
        if (opts->poll_ms)
            nanosleep (pause, NULL);
    }
    return -2;
}


static void
s_usage (void)
{
    fprintf (stderr, "usage: visible-latency --port P --customer ID [--token T] [--host A] [--menu ID] "
                     "[--samples N] [--poll-ms M] [--timeout-ms T] [--jitter-ms J] [--menu-change ADMIN_TOKEN]\n");
    exit (2);
}


int
main (int argc, char **argv)
{
    options_t opts = { .host = "127.0.0.1", .menu = "MENU-00000001", .samples = 50,
                       .poll_ms = 1, .timeout_ms = 5000, .jitter_ms = 250 };
    for (int i = 1; i < argc; i++) {
        const char *value = i + 1 < argc ? argv [i + 1] : NULL;
        if (!value)
            s_usage ();
        if (strcmp (argv [i], "--port") == 0)
            opts.port = s_number ("--port", value, 1, 65535);
        else
        if (strcmp (argv [i], "--samples") == 0)
            opts.samples = s_number ("--samples", value, 1, 100000);
        else
        if (strcmp (argv [i], "--poll-ms") == 0)
            opts.poll_ms = s_number ("--poll-ms", value, 0, 1000);
        else
        if (strcmp (argv [i], "--timeout-ms") == 0)
            opts.timeout_ms = s_number ("--timeout-ms", value, 1, 600000);
        else
        if (strcmp (argv [i], "--jitter-ms") == 0)
            opts.jitter_ms = s_number ("--jitter-ms", value, 0, 60000);
        else
        if (strcmp (argv [i], "--host") == 0)
            opts.host = value;
        else
        if (strcmp (argv [i], "--customer") == 0 && strlen (value) < 64)
            opts.customer = value;
        else
        if (strcmp (argv [i], "--token") == 0 && strlen (value) < 512)
            opts.token = value;
        else
        if (strcmp (argv [i], "--menu") == 0 && strlen (value) < 64)
            opts.menu = value;
        else
        if (strcmp (argv [i], "--menu-change") == 0 && strlen (value) < 512)
            opts.admin_token = value;
        else
            s_usage ();
        i++;
    }
    if (!opts.port || (!opts.customer && !opts.admin_token))
        s_usage ();

    conn_t order = { .fd = -1 }, poll = { .fd = -1 };
    order.addr.sin_family = AF_INET;
    order.addr.sin_port = htons ((uint16_t) opts.port);
    if (inet_pton (AF_INET, opts.host, &order.addr.sin_addr) != 1) {
        fprintf (stderr, "visible-latency: --host %s is not an IPv4 address\n", opts.host);
        return 2;
    }
    poll.addr = order.addr;
    signal (SIGPIPE, SIG_IGN);

    char body [256];
    snprintf (body, sizeof body, "{\"customerId\":\"%s\",\"menuList\":[{\"menuId\":\"%s\","
              "\"qy\":1}]}", opts.customer, opts.menu);
    char auth [600] = "";
    if (opts.token || opts.admin_token)
        snprintf (auth, sizeof auth, "Authorization: Bearer %s\r\n",
                  opts.admin_token ? opts.admin_token : opts.token);
    double *samples = (double *) calloc ((size_t) opts.samples, sizeof (double));
    if (!samples)
        return 1;
    long taken = 0, timeouts = 0, failures = 0;
    struct timespec pause = { .tv_sec = opts.poll_ms / 1000,
                              .tv_nsec = (opts.poll_ms % 1000) * 1000000 };
    srand48 ((long) s_now_ms () ^ (long) getpid ());
    for (long i = 0; i < opts.samples && failures < 5; i++) {
        if (opts.jitter_ms) {
            long us = (long) (drand48 () * (double) opts.jitter_ms * 1000.0);
            struct timespec gap = { .tv_sec = us / 1000000, .tv_nsec = (us % 1000000) * 1000 };
            nanosleep (&gap, NULL);
        }
        if (opts.admin_token) {
            //  A price no sample used before: one more than the time in ms
            double ms = s_menu_sample (&order, &poll, &opts, auth,
                                       100000 + (long) s_now_ms () % 100000000, &pause);
            if (ms >= 0)
                samples [taken++] = ms;
            else
            if (ms == -2)
                timeouts++;
            else
                failures++;
            continue;
        }
        long before = s_read_count (&poll, opts.menu);
        if (before < 0) {
            fprintf (stderr, "visible-latency: GET /display/best failed (status %d)\n",
                     poll.status);
            failures++;
            continue;
        }
        if (s_request (&order, "POST", "/order", auth, body) || order.status != 200) {
            fprintf (stderr, "visible-latency: POST /order failed: %d %s\n", order.status,
                     order.body ? order.body : "");
            failures++;
            continue;
        }
        double start = s_now_ms (), waited = 0;
        long now_count = before;
        while (now_count <= before) {
            waited = s_now_ms () - start;
            if (waited > (double) opts.timeout_ms)
                break;
            if (opts.poll_ms)
                nanosleep (&pause, NULL);
            now_count = s_read_count (&poll, opts.menu);
            if (now_count < 0)
                break;
        }
        if (now_count > before)
            samples [taken++] = s_now_ms () - start;
        else
        if (now_count < 0) {
            fprintf (stderr, "visible-latency: GET /display/best failed while polling\n");
            failures++;
        }
        else
            timeouts++;
    }
    s_close (&order);
    s_close (&poll);
    free (order.body);
    free (poll.body);
    if (taken == 0) {
        fprintf (stderr, "visible-latency: no sample (timeouts %ld, failures %ld)\n", timeouts,
                 failures);
        free (samples);
        return 1;
    }
    qsort (samples, (size_t) taken, sizeof (double), s_cmp_double);
    printf ("%s: samples %ld timeouts %ld p50_ms %.1f p90_ms %.1f p99_ms %.1f max_ms %.1f\n",
            opts.admin_token ? "menu-visible" : "visible", taken, timeouts, s_percentile (samples, taken, 50), s_percentile (samples, taken, 90),
            s_percentile (samples, taken, 99), samples [taken - 1]);
    free (samples);
    return 0;
}
