/*  hostile_kit — what the test_hostile* tests share: a raw TCP client for
    requests no HTTP library would send (sent whole, byte by byte, or
    followed by a half-close; from any loopback address, to stand for
    several clients), a reader that splits the answers of pipelined
    requests (also on a connection kept open), and a snapshot of everything a request could change (balances
    and histories, orders, popular counts, menus, the collector's file),
    taken after the log has drained, so two snapshots compare byte for
    byte. Include after testkit.h and <cmocka.h>; asserting helpers
    (hk_world_*, hk_snapshot) run on the test thread only. */
#ifndef HOSTILE_KIT_H_INCLUDED
#define HOSTILE_KIT_H_INCLUDED

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/time.h>

//  Most answers one exchange reads (pipelining).
#define HK_ANSWERS_MAX      16
//  How long an exchange waits for its answers.
#define HK_READ_MS          5000
//  How long a request that must get no answer is watched.
#define HK_QUIET_MS         700
//  Gap between bytes of a slow client.
#define HK_SLOW_US          1500
//  Customers and orders of the world the battery runs against.
#define HK_CUSTOMERS        3
#define HK_ORDERS           4
//  How long the event log may take to drain.
#define HK_DRAIN_MS         20000
//  Gap between two snapshot passes: past the default --display-refresh-ms
//  (200) plus the HTTP threads' 10 ms reuse of display answers.
#define HK_SETTLE_MS        500

//  What came back on one connection.
typedef struct {
    int count;                          //  complete answers read (1xx interim answers skipped)
    int status [HK_ANSWERS_MAX];        //  their statuses, in order
    char *raw;                          //  every byte received (NUL-terminated)
    size_t raw_len;                     //  bytes in raw
    size_t body_at [HK_ANSWERS_MAX];    //  offset of each answer's body in raw
    size_t body_len [HK_ANSWERS_MAX];   //  its length
    size_t head_at [HK_ANSWERS_MAX];    //  offset of each answer's status line
    bool closed;                        //  the server closed the connection
} hk_reply_t;

//  Frees what an exchange filled.
static inline void
hk_reply_reset (hk_reply_t *reply)
{
    free (reply->raw);
    memset (reply, 0, sizeof *reply);
}

//  A connected socket to 127.0.0.1:port from the loopback address source
//  ("127.0.0.2": another client, to the server's address limits; NULL: any),
//  or -1.
static inline int
hk_connect_from (const char *source, int port)
{
    int fd = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in addr;
    memset (&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    if (source) {
        if (inet_pton (AF_INET, source, &addr.sin_addr) != 1
        ||  bind (fd, (struct sockaddr *) &addr, sizeof addr) != 0) {
            close (fd);
            return -1;
        }
    }
    addr.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
    addr.sin_port = htons ((uint16_t) port);
    int one = 1;
    setsockopt (fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect (fd, (struct sockaddr *) &addr, sizeof addr) != 0) {
        close (fd);
        return -1;
    }
    return fd;
}

//  A connected socket to 127.0.0.1:port, or -1.
static inline int
hk_connect (int port)
{
    return hk_connect_from (NULL, port);
}

//  Sends len bytes, all at once or one byte every HK_SLOW_US. Returns 0, or
//  -1 when the server closed first (an early answer may be waiting).
static inline int
hk_send (int fd, const char *data, size_t len, bool slow)
{
    size_t sent = 0;
    while (sent < len) {
        size_t step = slow? 1: len - sent;
        ssize_t n = send (fd, data + sent, step, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        sent += (size_t) n;
        if (slow)
            usleep (HK_SLOW_US);
    }
    return 0;
}

//  The value of header name in the head of length head_len, or -1 if absent.
static inline long long
hk_header_number (const char *head, size_t head_len, const char *name)
{
    size_t name_len = strlen (name);
    const char *end = head + head_len;
    for (const char *line = head; line < end; ) {
        const char *eol = memchr (line, '\n', (size_t) (end - line));
        if (!eol)
            break;
        if ((size_t) (eol - line) > name_len + 1 && strncasecmp (line, name, name_len) == 0
        &&  line [name_len] == ':')
            return strtoll (line + name_len + 1, NULL, 10);
        line = eol + 1;
    }
    return -1;
}

//  Splits the bytes read so far into complete answers; head_mask bit i set
//  means answer i is to a HEAD request (no body whatever its length says).
static inline void
hk_parse (hk_reply_t *reply, unsigned head_mask)
{
    reply->count = 0;
    size_t at = 0;
    int index = 0;              //  answers to requests, interim ones not counted
    while (reply->count < HK_ANSWERS_MAX && at < reply->raw_len) {
        const char *start = reply->raw + at;
        const char *blank = strstr (start, "\r\n\r\n");
        if (!blank || strncmp (start, "HTTP/1.", 7) != 0 || reply->raw_len - at < 12)
            return;
        size_t head_len = (size_t) (blank - start) + 4;
        int status = atoi (start + 9);
        if (status >= 100 && status < 200) {
            at += head_len;
            continue;
        }
        long long length = hk_header_number (start, head_len, "Content-Length");
        if ((head_mask >> index) & 1u)
            length = 0;
        if (length < 0)
            length = (long long) (reply->raw_len - at - head_len);     //  until close
        if (at + head_len + (size_t) length > reply->raw_len)
            return;
        reply->head_at [reply->count] = at;
        reply->body_at [reply->count] = at + head_len;
        reply->body_len [reply->count] = (size_t) length;
        reply->status [reply->count++] = status;
        at += head_len + (size_t) length;
        index++;
    }
}

//  Reads from fd into reply (filled from empty) until expect answers are
//  in, the server closes, or wait_ms passes; the connection stays open.
//  Returns 0, or -1 out of memory.
static inline int
hk_read (int fd, int expect, unsigned head_mask, int wait_ms, hk_reply_t *reply)
{
    memset (reply, 0, sizeof *reply);
    size_t cap = 8192;
    reply->raw = (char *) malloc (cap + 1);
    if (!reply->raw)
        return -1;
    reply->raw [0] = 0;
    int64_t deadline = tk_now_ms () + wait_ms;
    while (true) {
        int64_t left = deadline - tk_now_ms ();
        if (left <= 0)
            break;
        struct timeval tv = { (time_t) (left / 1000), (suseconds_t) ((left % 1000) * 1000) };
        setsockopt (fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        if (cap - reply->raw_len < 4096) {
            char *bigger = (char *) realloc (reply->raw, cap * 2 + 1);
            if (!bigger)
                break;
            reply->raw = bigger;
            cap *= 2;
        }
        ssize_t n = recv (fd, reply->raw + reply->raw_len, cap - reply->raw_len, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n == 0 || (n < 0 && errno == ECONNRESET)) {
            reply->closed = true;
            break;
        }
        if (n < 0)
            break;              //  timed out
        reply->raw_len += (size_t) n;
        reply->raw [reply->raw_len] = 0;
        hk_parse (reply, head_mask);
        if (expect > 0 && reply->count >= expect)
            break;
    }
    hk_parse (reply, head_mask);
    return 0;
}

//  One raw exchange from source (see hk_connect_from): sends len bytes
//  (slow: byte by byte), half-closes the sending side when half_close,
//  then reads (hk_read) and closes. Returns 0, or -1 when it could not
//  connect.
static inline int
hk_exchange_from (const char *source, int port, const char *data, size_t len, bool slow,
                  bool half_close, int expect, unsigned head_mask, int wait_ms,
                  hk_reply_t *reply)
{
    memset (reply, 0, sizeof *reply);
    int fd = hk_connect_from (source, port);
    if (fd < 0)
        return -1;
    hk_send (fd, data, len, slow);
    if (half_close)
        shutdown (fd, SHUT_WR);
    int rc = hk_read (fd, expect, head_mask, wait_ms, reply);
    close (fd);
    return rc;
}

//  hk_exchange_from any loopback address.
static inline int
hk_exchange (int port, const char *data, size_t len, bool slow, bool half_close,
             int expect, unsigned head_mask, int wait_ms, hk_reply_t *reply)
{
    return hk_exchange_from (NULL, port, data, len, slow, half_close, expect, head_mask,
                             wait_ms, reply);
}

//  The body of answer i parsed as JSON (cJSON_Delete), or NULL.
static inline cJSON *
hk_json (const hk_reply_t *reply, int i)
{
    if (i >= reply->count)
        return NULL;
    return cJSON_ParseWithLength (reply->raw + reply->body_at [i], reply->body_len [i]);
}

//  True when answer i's head holds the line "Name: value" (name any case).
static inline bool
hk_has_header (const hk_reply_t *reply, int i, const char *name, const char *value)
{
    if (i >= reply->count)
        return false;
    const char *head = reply->raw + reply->head_at [i];
    size_t head_len = reply->body_at [i] - reply->head_at [i];
    size_t name_len = strlen (name);
    const char *end = head + head_len;
    for (const char *line = head; line < end; ) {
        const char *eol = memchr (line, '\n', (size_t) (end - line));
        if (!eol)
            break;
        if (strncasecmp (line, name, name_len) == 0 && line [name_len] == ':') {
            const char *v = line + name_len + 1;
            while (*v == ' ')
                v++;
            size_t vlen = (size_t) (eol - v);
            if (vlen && v [vlen - 1] == '\r')
                vlen--;
            if (!value || (vlen == strlen (value) && strncmp (v, value, vlen) == 0))
                return true;
        }
        line = eol + 1;
    }
    return false;
}


//  --------------------------------------------------------------------------
//  The world a battery runs against, and its snapshot

//  A server with a few customers and orders whose events have drained.
typedef struct {
    tk_server_t server;                         //  the coffee process
    char customers [HK_CUSTOMERS][32];          //  customer ids, each charged
    char poor [32];                             //  a customer with 100 points (NO_POINT cases)
    char orders [HK_ORDERS][32];                //  order numbers
    int64_t next_customer;                      //  the number the next new customer must get
    int64_t next_order;                         //  the number the next order must get
    int order_count;                            //  orders made so far (collector lines)
} hk_world_t;

//  The number in "CUST-00000003" or "ORD-00000004".
static inline int64_t
hk_id_number (const char *id)
{
    const char *dash = strchr (id, '-');
    return dash? strtoll (dash + 1, NULL, 10): -1;
}

//  A request through libcurl that must answer 200; returns its JSON.
static inline cJSON *
hk_ok (int port, const char *method, const char *path, const char *body)
{
    const char *headers [] = { "Content-Type: application/json", NULL };
    tk_resp_t resp;
    assert_int_equal (tk_http (method, port, path, body, body? headers: NULL, &resp), 0);
    if (resp.status != 200)
        fprintf (stderr, "%s %s: %ld %s\n", method, path, resp.status, resp.body);
    assert_int_equal (resp.status, 200);
    cJSON *json = resp.json;
    resp.json = NULL;
    tk_resp_reset (&resp);
    assert_non_null (json);
    return json;
}

//  The value of a /metrics sample, or -1.
static inline double
hk_metric (int port, const char *name)
{
    tk_resp_t resp;
    double value = -1;
    if (tk_http ("GET", port, "/metrics", NULL, NULL, &resp) == 0 && resp.status == 200) {
        size_t len = strlen (name);
        for (const char *line = resp.body; line && *line; ) {
            if (strncmp (line, name, len) == 0 && line [len] == ' ') {
                value = strtod (line + len + 1, NULL);
                break;
            }
            line = strchr (line, '\n');
            if (line)
                line++;
        }
    }
    tk_resp_reset (&resp);
    return value;
}

//  Lines in the file collector's output (-1 when it cannot be read).
static inline int
hk_collector_lines (const hk_world_t *world)
{
    char path [700];
    snprintf (path, sizeof path, "%s/collector.jsonl", world->server.data_dir);
    FILE *file = fopen (path, "r");
    if (!file)
        return -1;
    int lines = 0, c;
    while ((c = fgetc (file)) != EOF)
        if (c == '\n')
            lines++;
    fclose (file);
    return lines;
}

//  Waits until every order so far is published, projected and collected.
static inline void
hk_drain (const hk_world_t *world, int orders)
{
    int64_t deadline = tk_now_ms () + HK_DRAIN_MS;
    while (tk_now_ms () < deadline) {
        if (hk_collector_lines (world) == orders
        &&  hk_metric (world->server.port, "coffee_outbox_pending") == 0
        &&  hk_metric (world->server.port, "coffee_projection_lag") == 0
        &&  hk_metric (world->server.port, "coffee_collector_lag") == 0)
            return;
        usleep (100 * 1000);
    }
    fail_msg ("the event log did not drain within %d ms (collector has %d of %d lines)",
              HK_DRAIN_MS, hk_collector_lines (world), orders);
}

//  Starts coffee (extra: more flags, may be NULL) and makes the world: each
//  customer charged, HK_ORDERS orders over several menus, all drained.
static inline void
hk_world_start (hk_world_t *world, const char *const *extra)
{
    memset (world, 0, sizeof *world);
    assert_int_equal (tk_server_start (&world->server, NULL, extra), 0);
    int port = world->server.port;
    char body [512];
    for (int i = 0; i <= HK_CUSTOMERS; i++) {
        snprintf (body, sizeof body, "{\"customerNm\":\"hostile-%d\"}", i);
        cJSON *json = hk_ok (port, "POST", "/customer", body);
        const cJSON *id = cJSON_GetObjectItemCaseSensitive (json, "customerId");
        assert_true (cJSON_IsString (id));
        char *slot = i < HK_CUSTOMERS? world->customers [i]: world->poor;
        snprintf (slot, 32, "%s", id->valuestring);
        cJSON_Delete (json);
        snprintf (body, sizeof body, "{\"customerId\":\"%s\",\"chargeAmt\":%d}", slot,
                  i < HK_CUSTOMERS? 1000000: 100);
        cJSON_Delete (hk_ok (port, "POST", "/point", body));
        world->next_customer = hk_id_number (slot) + 1;
    }
    for (int i = 0; i < HK_ORDERS; i++) {
        snprintf (body, sizeof body,
                  "{\"customerId\":\"%s\",\"menuList\":[{\"menuId\":\"MENU-0000000%d\",\"qy\":%d},"
                  "{\"menuId\":\"MENU-0000000%d\",\"qy\":1}]}",
                  world->customers [i % HK_CUSTOMERS], 1 + i % 3, 1 + i, 4 + i % 2);
        cJSON *json = hk_ok (port, "POST", "/order", body);
        const cJSON *no = cJSON_GetObjectItemCaseSensitive (json, "orderNo");
        assert_true (cJSON_IsString (no));
        snprintf (world->orders [i], 32, "%s", no->valuestring);
        world->next_order = hk_id_number (no->valuestring) + 1;
        world->order_count++;
        cJSON_Delete (json);
    }
    hk_drain (world, world->order_count);
}

//  Appends one GET's status and body, as sent, to a snapshot.
static inline void
hk_snap_get (int port, const char *path, FILE *out)
{
    tk_resp_t resp;
    assert_int_equal (tk_http ("GET", port, path, NULL, NULL, &resp), 0);
    fprintf (out, "== GET %s %ld\n%s\n", path, resp.status, resp.body? resp.body: "");
    tk_resp_reset (&resp);
}

//  One pass of hk_snapshot.
static inline char *
hk_snapshot_once (const hk_world_t *world)
{
    hk_drain (world, world->order_count);
    int port = world->server.port;
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream (&text, &len);
    assert_non_null (out);
    char path [128];
    for (int i = 0; i <= HK_CUSTOMERS; i++) {
        snprintf (path, sizeof path, "/point/%s",
                  i < HK_CUSTOMERS? world->customers [i]: world->poor);
        hk_snap_get (port, path, out);
    }
    for (int i = 0; i < HK_ORDERS; i++) {
        snprintf (path, sizeof path, "/order/%s", world->orders [i]);
        hk_snap_get (port, path, out);
    }
    snprintf (path, sizeof path, "/point/CUST-%08" PRId64, world->next_customer);
    hk_snap_get (port, path, out);
    snprintf (path, sizeof path, "/order/ORD-%08" PRId64, world->next_order);
    hk_snap_get (port, path, out);
    hk_snap_get (port, "/display/best", out);
    hk_snap_get (port, "/display/menu", out);
    char file [700];
    snprintf (file, sizeof file, "%s/collector.jsonl", world->server.data_dir);
    FILE *in = fopen (file, "r");
    assert_non_null (in);
    fprintf (out, "== collector.jsonl\n");
    char buf [4096];
    size_t n;
    while ((n = fread (buf, 1, sizeof buf, in)) > 0)
        fwrite (buf, 1, n, out);
    fclose (in);
    fclose (out);
    return text;
}

//  Everything a request could have changed, as text: each balance and its
//  history, the poor customer's, each order, the popular menus, the menus,
//  an unknown customer and order (still unknown), and the collector's file
//  byte for byte. The log is drained first, and the display actors answer
//  from a snapshot refreshed every --display-refresh-ms, so two passes a
//  refresh apart must agree before one is taken.
static inline char *
hk_snapshot (const hk_world_t *world)
{
    char *last = hk_snapshot_once (world);
    for (int attempt = 0; attempt < 20; attempt++) {
        usleep (HK_SETTLE_MS * 1000);
        char *next = hk_snapshot_once (world);
        bool same = strcmp (last, next) == 0;
        free (last);
        last = next;
        if (same)
            return last;
    }
    free (last);
    fail_msg ("the server's state did not settle");
    return NULL;
}

//  After the battery: the snapshot is byte-identical, and the next customer
//  and order get the very next numbers (no failed request used one up).
//  The world then holds that customer and order too.
static inline void
hk_world_check (hk_world_t *world, const char *before)
{
    char *after = hk_snapshot (world);
    if (strcmp (before, after) != 0) {
        fprintf (stderr, "-- before --\n%s\n-- after --\n%s\n", before, after);
        fail_msg ("state changed under hostile requests");
    }
    free (after);
    int port = world->server.port;
    cJSON *json = hk_ok (port, "POST", "/customer", "{\"customerNm\":\"after\"}");
    const cJSON *id = cJSON_GetObjectItemCaseSensitive (json, "customerId");
    assert_true (cJSON_IsString (id));
    assert_int_equal (hk_id_number (id->valuestring), world->next_customer);
    cJSON_Delete (json);
    char body [256];
    snprintf (body, sizeof body,
              "{\"customerId\":\"%s\",\"menuList\":[{\"menuId\":\"MENU-00000001\",\"qy\":1}]}",
              world->customers [0]);
    json = hk_ok (port, "POST", "/order", body);
    const cJSON *no = cJSON_GetObjectItemCaseSensitive (json, "orderNo");
    assert_true (cJSON_IsString (no));
    assert_int_equal (hk_id_number (no->valuestring), world->next_order);
    cJSON_Delete (json);
    world->next_customer++;
    world->next_order++;
    world->order_count++;
}

//  The server still answers.
static inline void
hk_assert_up (int port)
{
    tk_resp_t resp;
    assert_int_equal (tk_http ("GET", port, "/health", NULL, NULL, &resp), 0);
    assert_int_equal (resp.status, 200);
    tk_resp_reset (&resp);
}

#endif
