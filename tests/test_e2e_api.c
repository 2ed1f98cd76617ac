/*  test_e2e_api — the command side's HTTP API, end to end, against the real
    `coffee serve` binary on a free loopback port with a temporary data dir:
    menus, health, metrics, protocol errors, customers, charges, point
    history, orders and every error case of issue 3 (each one must change
    nothing), merged order lines, Idempotency-Key replay / mismatch / race,
    SIGTERM with requests in flight, and a restart on the same data dir.

    ctest bound: COFFEE_TEST_TIMEOUT 300 s. */

#include "testkit.h"
#include <cmocka.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <regex.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>

//  The body limit the shared server runs with (--max-body).
#define API_MAX_BODY        1024
//  Threads racing one Idempotency-Key.
#define API_RACE_THREADS    16
//  Threads sending charges while the server gets SIGTERM.
#define API_TERM_THREADS    8
//  Most charges one of those threads sends.
#define API_TERM_MAX_OPS    400
//  Charges answered before the SIGTERM goes out.
#define API_TERM_WARMUP     40
//  Longest body a test builds.
#define API_BODY_MAX        4096

//  The shared server of the group, started once for most tests.
typedef struct {
    tk_server_t server;         //  the coffee process
} api_fixture_t;

//  The five demo menus a new store is seeded with.
typedef struct {
    const char *id;             //  menuId
    const char *name;           //  menuNm
    int64_t price;              //  menuPrice
} api_menu_t;

static const api_menu_t s_menus [] = {
    { "MENU-00000001", "아이스 아메리카노", 4200 },
    { "MENU-00000002", "핫 아메리카노", 4200 },
    { "MENU-00000003", "핫 초코", 4500 },
    { "MENU-00000004", "아이스 초코", 4500 },
    { "MENU-00000005", "모닝세트1", 4500 },
};
#define API_MENU_COUNT (sizeof s_menus / sizeof s_menus [0])

static const char *const s_customer_not_found = "해당 고객 정보 이/가 존재하지 않습니다.";


//  --------------------------------------------------------------------------
//  Helpers (all asserting: call them from the test thread only)

//  The port of the group's shared server.
static int
s_port (void **state)
{
    return ((api_fixture_t *) *state)->server.port;
}

//  True when text matches the POSIX extended regular expression pattern.
static bool
s_matches (const char *text, const char *pattern)
{
    regex_t re;
    if (!text || regcomp (&re, pattern, REG_EXTENDED | REG_NOSUB) != 0)
        return false;
    bool ok = regexec (&re, text, 0, NULL, 0) == 0;
    regfree (&re);
    return ok;
}

//  True when the response says it is JSON.
static bool
s_is_json_type (const tk_resp_t *resp)
{
    return strncasecmp (resp->content_type, "application/json", 16) == 0;
}

//  Sends method path with body (may be NULL) and an optional Idempotency-Key;
//  asserts that an answer came.
static void
s_call (int port, const char *method, const char *path, const char *body, const char *idem,
        tk_resp_t *resp)
{
    char header [400];
    const char *headers [2] = { NULL, NULL };
    if (idem) {
        snprintf (header, sizeof header, "Idempotency-Key: %s", idem);
        headers [0] = header;
    }
    int rc = tk_http (method, port, path, body, headers, resp);
    if (rc != 0)
        fprintf (stderr, "%s %s: transport error %d\n", method, path, resp->error);
    assert_int_equal (rc, 0);
}

//  A whole-number member of obj; fails the test when missing or not whole.
static int64_t
s_int (const cJSON *obj, const char *name)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive (obj, name);
    if (!cJSON_IsNumber (item))
        fprintf (stderr, "member %s missing or not a number\n", name);
    assert_true (cJSON_IsNumber (item));
    double value = item->valuedouble;
    assert_true (value == (double) (int64_t) value);
    return (int64_t) value;
}

//  A string member of obj; fails the test when missing.
static const char *
s_str (const cJSON *obj, const char *name)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive (obj, name);
    if (!cJSON_IsString (item))
        fprintf (stderr, "member %s missing or not a string\n", name);
    assert_true (cJSON_IsString (item));
    return item->valuestring;
}

//  Asserts resp is the JSON error {"code","message"} with status and code;
//  when field is set, the message (or the "field" member) must name it.
static void
s_assert_error (const tk_resp_t *resp, long status, const char *code, const char *field)
{
    if (resp->status != status || !resp->json
    ||  !cJSON_IsString (cJSON_GetObjectItemCaseSensitive (resp->json, "code"))
    ||  strcmp (cJSON_GetObjectItemCaseSensitive (resp->json, "code")->valuestring, code) != 0)
        fprintf (stderr, "expected %ld %s, got %ld %s\n", status, code, resp->status,
                 resp->body ? resp->body : "(no body)");
    assert_int_equal (resp->status, status);
    assert_true (s_is_json_type (resp));
    assert_true (cJSON_IsObject (resp->json));
    assert_string_equal (s_str (resp->json, "code"), code);
    const char *message = s_str (resp->json, "message");
    assert_true (strlen (message) > 0);
    if (field) {
        const cJSON *named = cJSON_GetObjectItemCaseSensitive (resp->json, "field");
        bool named_ok = strstr (message, field)
                     || (cJSON_IsString (named) && strstr (named->valuestring, field));
        if (!named_ok)
            fprintf (stderr, "error does not name %s: %s\n", field, resp->body);
        assert_true (named_ok);
    }
}

//  After an error: the server still answers a plain GET.
static void
s_assert_alive (int port)
{
    tk_resp_t resp;
    s_call (port, "GET", "/display/menu", NULL, NULL, &resp);
    assert_int_equal (resp.status, 200);
    tk_resp_reset (&resp);
}

//  POST /customer; returns the new id in id (COFFEE-sized buffer).
static void
s_new_customer (int port, const char *name, char *id, size_t size)
{
    char body [512];
    snprintf (body, sizeof body, "{\"customerNm\":\"%s\"}", name);
    tk_resp_t resp;
    s_call (port, "POST", "/customer", body, NULL, &resp);
    if (resp.status != 200)
        fprintf (stderr, "POST /customer: %ld %s\n", resp.status, resp.body);
    assert_int_equal (resp.status, 200);
    assert_true (s_is_json_type (&resp));
    const char *customer_id = s_str (resp.json, "customerId");
    assert_true (s_matches (customer_id, "^CUST-[0-9]{8,}$"));
    snprintf (id, size, "%s", customer_id);
    tk_resp_reset (&resp);
}

//  POST /point that must succeed; checks before/after and returns after.
static int64_t
s_charge (int port, const char *customer_id, int64_t amount)
{
    char body [256];
    snprintf (body, sizeof body, "{\"customerId\":\"%s\",\"chargeAmt\":%" PRId64 "}",
              customer_id, amount);
    tk_resp_t resp;
    s_call (port, "POST", "/point", body, NULL, &resp);
    if (resp.status != 200)
        fprintf (stderr, "POST /point: %ld %s\n", resp.status, resp.body);
    assert_int_equal (resp.status, 200);
    int64_t before = s_int (resp.json, "beforeChargePoint");
    int64_t after = s_int (resp.json, "afterChargePoint");
    assert_int_equal (s_int (resp.json, "chargeAmt"), amount);
    assert_int_equal (after, before + amount);
    tk_resp_reset (&resp);
    return after;
}

//  GET /point/{id} as text, so two snapshots compare exactly.
static char *
s_point_snapshot (int port, const char *customer_id)
{
    char path [128];
    snprintf (path, sizeof path, "/point/%s?limit=1000", customer_id);
    tk_resp_t resp;
    s_call (port, "GET", path, NULL, NULL, &resp);
    assert_int_equal (resp.status, 200);
    assert_non_null (resp.json);
    //  The text as sent: reprinting through cJSON's doubles would round
    //  balances past 2^53.
    char *text = strdup (resp.body);
    assert_non_null (text);
    tk_resp_reset (&resp);
    return text;
}

//  GET /point/{id}: checks its shape, that the balance equals the sum of
//  the history and is not negative; returns the balance and history length.
static int64_t
s_balance (int port, const char *customer_id, int *history_count)
{
    char path [128];
    snprintf (path, sizeof path, "/point/%s?limit=1000", customer_id);
    tk_resp_t resp;
    s_call (port, "GET", path, NULL, NULL, &resp);
    assert_int_equal (resp.status, 200);
    assert_true (s_is_json_type (&resp));
    assert_true (cJSON_IsArray (resp.json));
    assert_int_equal (cJSON_GetArraySize (resp.json), 1);
    const cJSON *account = cJSON_GetArrayItem (resp.json, 0);
    assert_string_equal (s_str (account, "customerId"), customer_id);
    int64_t balance = s_int (account, "point");
    const cJSON *detail = cJSON_GetObjectItemCaseSensitive (account, "pointDetail");
    assert_true (cJSON_IsArray (detail));
    int64_t sum = 0;
    const cJSON *row;
    cJSON_ArrayForEach (row, detail)
        sum += s_int (row, "point");
    assert_int_equal (sum, balance);
    assert_true (balance >= 0);
    if (history_count)
        *history_count = cJSON_GetArraySize (detail);
    tk_resp_reset (&resp);
    return balance;
}

//  Price of a seeded menu by id.
static int64_t
s_menu_price (const char *menu_id)
{
    for (size_t i = 0; i < API_MENU_COUNT; i++)
        if (strcmp (s_menus [i].id, menu_id) == 0)
            return s_menus [i].price;
    fail_msg ("unknown menu %s", menu_id);
    return 0;
}


//  --------------------------------------------------------------------------
//  Group fixture

//  Starts the shared server with a small body limit.
static int
s_group_setup (void **state)
{
    api_fixture_t *fixture = calloc (1, sizeof *fixture);
    if (!fixture)
        return -1;
    const char *extra [] = { "--max-body", "1024", NULL };
    if (tk_server_start (&fixture->server, NULL, extra) != 0) {
        free (fixture);
        return -1;
    }
    *state = fixture;
    return 0;
}

//  Kills the shared server if a test left it running (the last test stops
//  it cleanly and asserts the exit status).
static int
s_group_teardown (void **state)
{
    api_fixture_t *fixture = (api_fixture_t *) *state;
    if (fixture) {
        tk_server_kill9 (&fixture->server);
        free (fixture);
    }
    return 0;
}


//  --------------------------------------------------------------------------
//  Tests on the shared server

//  GET /display/menu: exactly the five seeded menus, JSON.
static void
test_menu (void **state)
{
    tk_resp_t resp;
    s_call (s_port (state), "GET", "/display/menu", NULL, NULL, &resp);
    assert_int_equal (resp.status, 200);
    assert_true (s_is_json_type (&resp));
    assert_true (cJSON_IsArray (resp.json));
    assert_int_equal (cJSON_GetArraySize (resp.json), API_MENU_COUNT);
    for (size_t i = 0; i < API_MENU_COUNT; i++) {
        const cJSON *menu = cJSON_GetArrayItem (resp.json, (int) i);
        assert_true (cJSON_IsObject (menu));
        assert_string_equal (s_str (menu, "menuId"), s_menus [i].id);
        assert_string_equal (s_str (menu, "menuNm"), s_menus [i].name);
        assert_int_equal (s_int (menu, "menuPrice"), s_menus [i].price);
    }
    tk_resp_reset (&resp);
}

//  GET /health: 200, a JSON object that says UP and gives each part's state.
static void
test_health (void **state)
{
    tk_resp_t resp;
    s_call (s_port (state), "GET", "/health", NULL, NULL, &resp);
    if (resp.status != 200)
        fprintf (stderr, "GET /health: %ld %s\n", resp.status, resp.body);
    assert_int_equal (resp.status, 200);
    assert_true (s_is_json_type (&resp));
    assert_true (cJSON_IsObject (resp.json));
    assert_string_equal (s_str (resp.json, "status"), "UP");
    assert_string_equal (s_str (resp.json, "role"), "all");
    const cJSON *parts = cJSON_GetObjectItemCaseSensitive (resp.json, "parts");
    assert_true (cJSON_IsObject (parts));
    //  Role "all" runs every actor pool; each is up on a fresh server.
    const char *pools [] = { "point", "order", "display" };
    for (size_t i = 0; i < sizeof pools / sizeof pools [0]; i++)
        assert_string_equal (s_str (parts, pools [i]), "UP");
    const cJSON *part;
    cJSON_ArrayForEach (part, parts) {
        assert_true (cJSON_IsString (part));
        assert_true (strcmp (part->valuestring, "UP") == 0
                  || strcmp (part->valuestring, "DOWN") == 0);
    }
    tk_resp_reset (&resp);
}

//  Compares two int64_t for qsort.
static int
s_int64_order (const void *a, const void *b)
{
    int64_t x = *(const int64_t *) a, y = *(const int64_t *) b;
    return (x > y) - (x < y);
}

//  The access log: a request's line ("rid=<id> GET /health 200 <t>ms")
//  reaches the server's log within LOG_BATCH_MS (20 ms) of its answer even
//  when nothing else comes: the HTTP thread wakes for its batch. Without
//  that wake it waits for the next sweep (200 ms) or idle pass (1 s).
static void
test_access_log (void **state)
{
    api_fixture_t *fx = (api_fixture_t *) *state;
    enum { ROUNDS = 5 };
    int64_t delays [ROUNDS];
    for (int round = 0; round < ROUNDS; round++) {
        char rid [64], header [96], want [128];
        snprintf (rid, sizeof rid, "access.log-%d-%d", (int) getpid (), round);
        snprintf (header, sizeof header, "X-Request-Id: %s", rid);
        snprintf (want, sizeof want, " rid=%s GET /health 200 ", rid);
        const char *headers [] = { header, NULL };
        tk_resp_t resp;
        assert_int_equal (tk_http ("GET", fx->server.port, "/health", NULL, headers, &resp), 0);
        assert_int_equal (resp.status, 200);
        tk_resp_reset (&resp);
        int64_t answered = tk_now_ms ();
        int64_t seen = -1;
        while (seen < 0 && tk_now_ms () < answered + 2000) {
            FILE *file = fopen (fx->server.log_path, "r");
            assert_non_null (file);
            char line [1024];
            while (seen < 0 && fgets (line, sizeof line, file))
                if (strstr (line, want) && strstr (line, "ms\n"))
                    seen = tk_now_ms ();
            fclose (file);
            if (seen < 0)
                usleep (2 * 1000);
        }
        assert_true (seen >= 0);
        delays [round] = seen - answered;
        print_message ("access line %d in the log %" PRId64 " ms after the answer\n", round,
                       delays [round]);
    }
    //  The middle one, so one slow moment of a loaded, sanitized build
    //  does not decide.
    qsort (delays, ROUNDS, sizeof delays [0], s_int64_order);
    assert_true (delays [ROUNDS / 2] < 80);
}

//  promtool, which Prometheus's own tools use to check an exposition:
//  COFFEE_PROMTOOL, else where scripts/deps.sh puts it (deps.sh says why
//  not Debian's whole prometheus package).
static const char *
s_promtool (void)
{
    const char *path = getenv ("COFFEE_PROMTOOL");
    return path && *path? path: "/usr/local/lib/coffee/promtool";
}

//  `promtool check metrics` on text: the format and its lint rules (HELP
//  and TYPE once per family, before its samples; counters named _total;
//  histogram buckets, _sum and _count).
static void
s_promtool_check (const char *text)
{
    const char *promtool = s_promtool ();
    if (access (promtool, X_OK) != 0)
        fail_msg ("%s is missing: bash scripts/deps.sh installs it", promtool);
    char *dir = tk_tempdir ("coffee-metrics");
    assert_non_null (dir);
    char file [512], log [512];
    snprintf (file, sizeof file, "%s/metrics.txt", dir);
    snprintf (log, sizeof log, "%s/promtool.log", dir);
    FILE *out = fopen (file, "w");
    assert_non_null (out);
    assert_true (fputs (text, out) >= 0);
    assert_int_equal (fclose (out), 0);
    const char *argv [] = { "/bin/sh", "-c", "exec \"$0\" check metrics < \"$1\"", promtool,
                            file, NULL };
    pid_t pid = tk_spawn (argv, log);
    int status = pid < 0? -1: tk_wait (pid, 60000);
    if (status != 0) {
        char said [2048] = "";
        FILE *in = fopen (log, "r");
        if (in) {
            size_t got = fread (said, 1, sizeof said - 1, in);
            said [got] = 0;
            fclose (in);
        }
        fail_msg ("promtool check metrics: status %d: %s", status, said);
    }
    unlink (file);
    unlink (log);
    rmdir (dir);
    free (dir);
}

//  GET /metrics: Prometheus text with request counters per route and
//  status, a latency histogram, the actor queue gauges and each HTTP
//  worker's connections, as promtool accepts it; the counter of a route
//  grows with each request.
static void
test_metrics (void **state)
{
    int port = s_port (state);
    tk_resp_t resp;
    s_call (port, "GET", "/display/menu", NULL, NULL, &resp);
    tk_resp_reset (&resp);
    s_call (port, "GET", "/nope", NULL, NULL, &resp);
    tk_resp_reset (&resp);

    s_call (port, "GET", "/metrics", NULL, NULL, &resp);
    assert_int_equal (resp.status, 200);
    assert_true (strncasecmp (resp.content_type, "text/plain", 10) == 0);
    const char *text = resp.body;
    assert_non_null (strstr (text, "# TYPE coffee_http_requests_total counter"));
    assert_non_null (strstr (text, "# TYPE coffee_http_request_duration_seconds histogram"));
    assert_true (s_matches (text, "(^|\n)coffee_http_requests_total\\{[^}]*route=\"/display/menu\""
                                  "[^}]*status=\"200\"[^}]*\\} [1-9][0-9]*"));
    assert_true (s_matches (text, "(^|\n)coffee_http_requests_total\\{[^}]*status=\"404\"[^}]*\\} "
                                  "[1-9][0-9]*"));
    assert_true (s_matches (text, "(^|\n)coffee_http_request_duration_seconds_bucket\\{[^}]*"
                                  "route=\"/display/menu\"[^}]*le=\"\\+Inf\"\\} [1-9][0-9]*"));
    assert_true (s_matches (text, "(^|\n)coffee_http_request_duration_seconds_count\\{"));
    assert_true (s_matches (text, "(^|\n)coffee_http_request_duration_seconds_sum\\{"));
    assert_true (s_matches (text, "(^|\n)coffee_actor_queue_depth\\{pool=\"point\"\\} -?[0-9]+"));
    assert_true (s_matches (text, "(^|\n)coffee_actor_queue_depth\\{pool=\"order\"\\} -?[0-9]+"));
    assert_true (s_matches (text, "(^|\n)coffee_actor_queue_depth\\{pool=\"display\"\\} -?[0-9]+"));
    //  Every line is a comment or "name{labels} value".
    const char *line = text;
    while (*line) {
        const char *end = strchr (line, '\n');
        size_t len = end ? (size_t) (end - line) : strlen (line);
        char one [1024];
        snprintf (one, sizeof one, "%.*s", (int) len, line);
        if (len > 0 && one [0] != '#'
        &&  !s_matches (one, "^[a-zA-Z_:][a-zA-Z0-9_:]*(\\{[^}]*\\})? "
                             "(-?[0-9][0-9.eE+-]*|NaN|[+-]Inf)$"))
            fail_msg ("not a Prometheus sample line: %s", one);
        if (!end)
            break;
        line = end + 1;
    }
    //  Each HTTP worker's open connections (one per CPU by default).
    assert_true (s_matches (text, "(^|\n)coffee_http_connections\\{worker=\"0\"\\} [0-9]+"));
    s_promtool_check (text);
    tk_resp_reset (&resp);
}

//  404, 405 (with Allow), 413, 400 malformed JSON, 415: each a JSON error,
//  and the server keeps answering.
static void
test_protocol_errors (void **state)
{
    int port = s_port (state);
    tk_resp_t resp;
    //  "/" is the page now; paths beside the page's files are still unknown.
    const char *unknown [] = { "/nope", "/display", "/display/menu/x", "/order/a/b",
                               "/index.html", "/page/", "/console/x", "/admin/pools" };
    for (size_t i = 0; i < sizeof unknown / sizeof unknown [0]; i++) {
        s_call (port, "GET", unknown [i], NULL, NULL, &resp);
        s_assert_error (&resp, 404, "NOT_FOUND", NULL);
        tk_resp_reset (&resp);
        s_assert_alive (port);
    }

    struct { const char *method, *path, *allowed; } wrong [] = {
        { "DELETE", "/display/menu", "GET" },
        { "POST", "/display/best", "GET" },
        { "GET", "/customer", "POST" },
        { "PUT", "/point", "POST" },
        { "POST", "/point/CUST-00000001", "GET" },
        { "GET", "/order", "POST" },
        { "PATCH", "/order/ORD-00000001", "GET" },
        { "POST", "/health", "GET" },
        { "DELETE", "/metrics", "GET" },
    };
    for (size_t i = 0; i < sizeof wrong / sizeof wrong [0]; i++) {
        s_call (port, wrong [i].method, wrong [i].path, NULL, NULL, &resp);
        s_assert_error (&resp, 405, "METHOD_NOT_ALLOWED", NULL);
        char allow [128];
        assert_true (tk_resp_header (&resp, "Allow", allow, sizeof allow));
        assert_non_null (strstr (allow, wrong [i].allowed));
        tk_resp_reset (&resp);
        s_assert_alive (port);
    }

    //  Bodies past --max-body: sized, and chunked with no length given.
    char big [API_MAX_BODY * 2];
    int name_len = (int) sizeof big - 40;
    snprintf (big, sizeof big, "{\"customerNm\":\"%0*d\"}", name_len, 7);
    s_call (port, "POST", "/customer", big, NULL, &resp);
    s_assert_error (&resp, 413, "PAYLOAD_TOO_LARGE", NULL);
    tk_resp_reset (&resp);
    s_assert_alive (port);
    const char *chunked [] = { "Transfer-Encoding: chunked", NULL };
    assert_int_equal (tk_http ("POST", port, "/customer", big, chunked, &resp), 0);
    s_assert_error (&resp, 413, "PAYLOAD_TOO_LARGE", NULL);
    tk_resp_reset (&resp);
    s_assert_alive (port);
    //  Exactly at the limit is not too large: the name is what is wrong.
    char edge [API_MAX_BODY + 1];
    snprintf (edge, sizeof edge, "{\"customerNm\":\"%0*d\"}", API_MAX_BODY - 17, 7);
    assert_int_equal (strlen (edge), API_MAX_BODY);
    s_call (port, "POST", "/customer", edge, NULL, &resp);
    s_assert_error (&resp, 400, "INVALID_INPUT", "customerNm");
    tk_resp_reset (&resp);

    const char *malformed [] = { "{bad", "{\"customerNm\":\"a\"", "", "{\"customerNm\":\"a\"} x",
                                 "\xff\xfe", "{\"customerNm\":'a'}" };
    for (size_t i = 0; i < sizeof malformed / sizeof malformed [0]; i++) {
        s_call (port, "POST", "/customer", malformed [i], NULL, &resp);
        s_assert_error (&resp, 400, "INVALID_JSON", NULL);
        tk_resp_reset (&resp);
        s_assert_alive (port);
    }
    const char *not_object [] = { "[1,2]", "null", "5", "\"x\"" };
    for (size_t i = 0; i < sizeof not_object / sizeof not_object [0]; i++) {
        s_call (port, "POST", "/order", not_object [i], NULL, &resp);
        s_assert_error (&resp, 400, "INVALID_INPUT", "body");
        tk_resp_reset (&resp);
    }

    const char *types [] = { "Content-Type: text/plain", "Content-Type: application/x-www-form-urlencoded",
                             "Content-Type: application/jsonx" };
    for (size_t i = 0; i < sizeof types / sizeof types [0]; i++) {
        const char *headers [] = { types [i], NULL };
        assert_int_equal (tk_http ("POST", port, "/customer", "{\"customerNm\":\"a\"}",
                                   headers, &resp), 0);
        s_assert_error (&resp, 415, "UNSUPPORTED_MEDIA_TYPE", NULL);
        tk_resp_reset (&resp);
        s_assert_alive (port);
    }
    //  A charset parameter is still JSON.
    const char *charset [] = { "Content-Type: application/json; charset=utf-8", NULL };
    assert_int_equal (tk_http ("POST", port, "/customer", "{\"customerNm\":\"a\"}", charset,
                               &resp), 0);
    assert_int_equal (resp.status, 200);
    tk_resp_reset (&resp);
}

//  Customers, charges, history, an order and reading it back.
static void
test_flow (void **state)
{
    int port = s_port (state);
    char customer [64], other [64];
    s_new_customer (port, "홍길동", customer, sizeof customer);
    s_new_customer (port, "김철수", other, sizeof other);
    assert_string_not_equal (customer, other);

    int history = -1;
    assert_int_equal (s_balance (port, customer, &history), 0);
    assert_int_equal (history, 0);

    tk_resp_t resp;
    char body [512];
    snprintf (body, sizeof body, "{\"customerId\":\"%s\",\"chargeAmt\":20000}", customer);
    s_call (port, "POST", "/point", body, NULL, &resp);
    assert_int_equal (resp.status, 200);
    assert_true (s_is_json_type (&resp));
    assert_int_equal (s_int (resp.json, "beforeChargePoint"), 0);
    assert_int_equal (s_int (resp.json, "chargeAmt"), 20000);
    assert_int_equal (s_int (resp.json, "afterChargePoint"), 20000);
    tk_resp_reset (&resp);
    assert_int_equal (s_charge (port, customer, 5000), 25000);
    //  The other customer is untouched.
    assert_int_equal (s_balance (port, other, NULL), 0);

    snprintf (body, sizeof body, "{\"customerId\":\"%s\",\"menuList\":["
              "{\"menuId\":\"MENU-00000001\",\"qy\":1},{\"menuId\":\"MENU-00000002\",\"qy\":2}]}",
              customer);
    s_call (port, "POST", "/order", body, NULL, &resp);
    if (resp.status != 200)
        fprintf (stderr, "POST /order: %ld %s\n", resp.status, resp.body);
    assert_int_equal (resp.status, 200);
    assert_true (s_is_json_type (&resp));
    char order_no [64];
    snprintf (order_no, sizeof order_no, "%s", s_str (resp.json, "orderNo"));
    assert_true (s_matches (order_no, "^ORD-[0-9]{8,}$"));
    assert_int_equal (s_int (resp.json, "orderPrice"), 4200 + 2 * 4200);
    assert_int_equal (s_int (resp.json, "usePoint"), 12600);
    tk_resp_reset (&resp);
    assert_int_equal (s_balance (port, customer, &history), 25000 - 12600);
    assert_int_equal (history, 3);

    //  The history: CHARGE 충전 rows positive, one USE 사용 row negative.
    char path [128];
    snprintf (path, sizeof path, "/point/%s?limit=1000", customer);
    s_call (port, "GET", path, NULL, NULL, &resp);
    const cJSON *detail = cJSON_GetObjectItemCaseSensitive (cJSON_GetArrayItem (resp.json, 0),
                                                            "pointDetail");
    int charges = 0, uses = 0;
    int64_t charged = 0;
    const cJSON *row;
    cJSON_ArrayForEach (row, detail) {
        const char *code = s_str (row, "pointTypeCode");
        if (strcmp (code, "CHARGE") == 0) {
            assert_string_equal (s_str (row, "pointTypeName"), "충전");
            assert_true (s_int (row, "point") > 0);
            charged += s_int (row, "point");
            charges++;
        }
        else
        if (strcmp (code, "USE") == 0) {
            assert_string_equal (s_str (row, "pointTypeName"), "사용");
            assert_int_equal (s_int (row, "point"), -12600);
            uses++;
        }
        else
            fail_msg ("unexpected pointTypeCode %s", code);
        assert_non_null (cJSON_GetObjectItemCaseSensitive (row, "expDate"));
        assert_non_null (cJSON_GetObjectItemCaseSensitive (row, "remark"));
    }
    assert_int_equal (charges, 2);
    assert_int_equal (charged, 25000);
    assert_int_equal (uses, 1);
    tk_resp_reset (&resp);

    //  GET /order/{orderNo}: customer, lines, amounts, time.
    snprintf (path, sizeof path, "/order/%s", order_no);
    s_call (port, "GET", path, NULL, NULL, &resp);
    if (resp.status != 200)
        fprintf (stderr, "GET %s: %ld %s\n", path, resp.status, resp.body);
    assert_int_equal (resp.status, 200);
    assert_true (s_is_json_type (&resp));
    assert_string_equal (s_str (resp.json, "orderNo"), order_no);
    assert_string_equal (s_str (resp.json, "customerId"), customer);
    assert_int_equal (s_int (resp.json, "orderPrice"), 12600);
    assert_int_equal (s_int (resp.json, "payAmt"), 12600);
    assert_true (s_matches (s_str (resp.json, "orderedAt"),
                            "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]+)?Z$"));
    const cJSON *lines = cJSON_GetObjectItemCaseSensitive (resp.json, "menuList");
    assert_true (cJSON_IsArray (lines));
    assert_int_equal (cJSON_GetArraySize (lines), 2);
    int64_t total = 0;
    const cJSON *line;
    cJSON_ArrayForEach (line, lines) {
        const char *menu_id = s_str (line, "menuId");
        int64_t qy = s_int (line, "qy");
        assert_int_equal (s_int (line, "menuPrice"), s_menu_price (menu_id));
        assert_int_equal (qy, strcmp (menu_id, "MENU-00000001") == 0 ? 1 : 2);
        assert_true (strlen (s_str (line, "menuNm")) > 0);
        total += qy * s_menu_price (menu_id);
    }
    assert_int_equal (total, 12600);
    tk_resp_reset (&resp);

    //  A name of exactly 100 bytes (33 Hangul syllables + 1) is accepted.
    char name [128] = "";
    for (int i = 0; i < 33; i++)
        strcat (name, "가");
    strcat (name, "x");
    assert_int_equal (strlen (name), 100);
    s_new_customer (port, name, other, sizeof other);
}

//  POST /customer bad input: 400 INVALID_INPUT naming customerNm.
static void
test_customer_errors (void **state)
{
    int port = s_port (state);
    char long_name [160];
    memset (long_name, 'a', 101);
    long_name [101] = 0;
    char too_long [256];
    snprintf (too_long, sizeof too_long, "{\"customerNm\":\"%s\"}", long_name);
    const char *bodies [] = {
        "{}", "{\"customerNm\":5}", "{\"customerNm\":\"\"}", "{\"customerNm\":null}",
        "{\"customerNm\":true}", "{\"customerNm\":[\"a\"]}", "{\"customerNm\":\"   \"}",
        "{\"customerNm\":\"a\\nb\"}", "{\"customerNm\":\"a\",\"customerNm\":\"b\"}",
        "{\"name\":\"a\"}", too_long,
    };
    for (size_t i = 0; i < sizeof bodies / sizeof bodies [0]; i++) {
        tk_resp_t resp;
        s_call (port, "POST", "/customer", bodies [i], NULL, &resp);
        s_assert_error (&resp, 400, "INVALID_INPUT", "customerNm");
        tk_resp_reset (&resp);
    }
    s_assert_alive (port);
}

//  One bad request of a table: body, expected status, code, named field.
typedef struct {
    const char *body;           //  request body (printf pattern with %s for the customer)
    long status;                //  expected status
    const char *code;           //  expected error code
    const char *field;          //  field the error must name, or NULL
} api_bad_t;

//  Sends each bad request and checks it changed nothing in GET /point.
static void
s_bad_requests (int port, const char *path, const char *customer, const api_bad_t *table,
                size_t count)
{
    char *before = s_point_snapshot (port, customer);
    for (size_t i = 0; i < count; i++) {
        char body [API_BODY_MAX];
        snprintf (body, sizeof body, table [i].body, customer);
        tk_resp_t resp;
        s_call (port, "POST", path, body, NULL, &resp);
        if (resp.status != table [i].status)
            fprintf (stderr, "case %zu: POST %s %s\n", i, path, body);
        s_assert_error (&resp, table [i].status, table [i].code, table [i].field);
        if (table [i].status == 404) {
            if (strstr (body, "CUST-99999999"))
                assert_string_equal (s_str (resp.json, "message"), s_customer_not_found);
            else {
                //  An unknown menu is named, in the message's words and as menuId.
                assert_string_equal (s_str (resp.json, "message"),
                                     "해당 메뉴 정보 이/가 존재하지 않습니다.");
                assert_string_equal (s_str (resp.json, "menuId"), "MENU-99999999");
            }
        }
        tk_resp_reset (&resp);
        char *after = s_point_snapshot (port, customer);
        if (strcmp (before, after) != 0)
            fail_msg ("case %zu changed the points:\n%s\n%s", i, before, after);
        free (after);
    }
    free (before);
}

//  POST /point bad input: each malformed field, unknown customer; nothing changes.
static void
test_charge_errors (void **state)
{
    int port = s_port (state);
    char customer [64];
    s_new_customer (port, "charge-errors", customer, sizeof customer);
    s_charge (port, customer, 7000);
    const api_bad_t table [] = {
        { "{\"chargeAmt\":100,\"x\":\"%s\"}", 400, "INVALID_INPUT", "customerId" },
        { "{\"customerId\":123,\"chargeAmt\":100,\"x\":\"%s\"}", 400, "INVALID_INPUT", "customerId" },
        { "{\"customerId\":\"\",\"chargeAmt\":100,\"x\":\"%s\"}", 400, "INVALID_INPUT", "customerId" },
        { "{\"customerId\":null,\"chargeAmt\":100,\"x\":\"%s\"}", 400, "INVALID_INPUT", "customerId" },
        { "{\"customerId\":\"cust-1\",\"chargeAmt\":100,\"x\":\"%s\"}", 400, "INVALID_INPUT", "customerId" },
        { "{\"customerId\":\"%s\"}", 400, "INVALID_INPUT", "chargeAmt" },
        { "{\"customerId\":\"%s\",\"chargeAmt\":\"100\"}", 400, "INVALID_INPUT", "chargeAmt" },
        { "{\"customerId\":\"%s\",\"chargeAmt\":1.5}", 400, "INVALID_INPUT", "chargeAmt" },
        { "{\"customerId\":\"%s\",\"chargeAmt\":0}", 400, "INVALID_INPUT", "chargeAmt" },
        { "{\"customerId\":\"%s\",\"chargeAmt\":-1}", 400, "INVALID_INPUT", "chargeAmt" },
        { "{\"customerId\":\"%s\",\"chargeAmt\":1000000001}", 400, "INVALID_INPUT", "chargeAmt" },
        { "{\"customerId\":\"%s\",\"chargeAmt\":9007199254740993}", 400, "INVALID_INPUT", "chargeAmt" },
        { "{\"customerId\":\"%s\",\"chargeAmt\":9223372036854775807}", 400, "INVALID_INPUT", "chargeAmt" },
        { "{\"customerId\":\"%s\",\"chargeAmt\":-9223372036854775808}", 400, "INVALID_INPUT", "chargeAmt" },
        { "{\"customerId\":\"%s\",\"chargeAmt\":1e300}", 400, "INVALID_INPUT", "chargeAmt" },
        { "{\"customerId\":\"%s\",\"chargeAmt\":true}", 400, "INVALID_INPUT", "chargeAmt" },
        { "{\"customerId\":\"%s\",\"chargeAmt\":null}", 400, "INVALID_INPUT", "chargeAmt" },
        { "{\"customerId\":\"%s\",\"chargeAmt\":[100]}", 400, "INVALID_INPUT", "chargeAmt" },
        { "{\"customerId\":\"%s\",\"chargeAmt\":100,\"chargeAmt\":200}", 400, "INVALID_INPUT", "chargeAmt" },
        { "{\"customerId\":\"CUST-99999999\",\"chargeAmt\":100,\"x\":\"%s\"}", 404, "NOT_FOUND_DATA", NULL },
    };
    s_bad_requests (port, "/point", customer, table, sizeof table / sizeof table [0]);

    //  GET /point of an unknown or malformed id.
    tk_resp_t resp;
    s_call (port, "GET", "/point/CUST-99999999", NULL, NULL, &resp);
    s_assert_error (&resp, 404, "NOT_FOUND_DATA", NULL);
    assert_string_equal (s_str (resp.json, "message"), s_customer_not_found);
    tk_resp_reset (&resp);
    s_call (port, "GET", "/point/nobody", NULL, NULL, &resp);
    s_assert_error (&resp, 400, "INVALID_INPUT", "customerId");
    tk_resp_reset (&resp);
    //  The largest single charge is accepted.
    assert_int_equal (s_charge (port, customer, 1000000000), 1000007000);
}

//  POST /order bad input: each malformed field, unknown customer or menu,
//  not enough points; nothing changes.
static void
test_order_errors (void **state)
{
    int port = s_port (state);
    char customer [64];
    s_new_customer (port, "order-errors", customer, sizeof customer);
    s_charge (port, customer, 12900);

    char many [API_BODY_MAX] = "{\"customerId\":\"%s\",\"menuList\":[";
    for (int i = 0; i < 21; i++)
        strcat (many, i ? ",{\"menuId\":\"MENU-00000001\",\"qy\":1}"
                        : "{\"menuId\":\"MENU-00000001\",\"qy\":1}");
    strcat (many, "]}");
#define LINE(x) "{\"customerId\":\"%s\",\"menuList\":[" x "]}"
    const api_bad_t table [] = {
        { "{\"menuList\":[{\"menuId\":\"MENU-00000001\",\"qy\":1}],\"x\":\"%s\"}", 400, "INVALID_INPUT", "customerId" },
        { "{\"customerId\":7,\"menuList\":[{\"menuId\":\"MENU-00000001\",\"qy\":1}],\"x\":\"%s\"}", 400, "INVALID_INPUT", "customerId" },
        { "{\"customerId\":\"\",\"menuList\":[{\"menuId\":\"MENU-00000001\",\"qy\":1}],\"x\":\"%s\"}", 400, "INVALID_INPUT", "customerId" },
        { "{\"customerId\":\"%s\"}", 400, "INVALID_INPUT", "menuList" },
        { "{\"customerId\":\"%s\",\"menuList\":null}", 400, "INVALID_INPUT", "menuList" },
        { "{\"customerId\":\"%s\",\"menuList\":\"MENU-00000001\"}", 400, "INVALID_INPUT", "menuList" },
        { "{\"customerId\":\"%s\",\"menuList\":{\"menuId\":\"MENU-00000001\",\"qy\":1}}", 400, "INVALID_INPUT", "menuList" },
        { LINE (""), 400, "INVALID_INPUT", "menuList" },
        { many, 400, "INVALID_INPUT", "menuList" },
        { LINE ("5"), 400, "INVALID_INPUT", "menuList" },
        { LINE ("null"), 400, "INVALID_INPUT", "menuList" },
        { LINE ("{\"qy\":1}"), 400, "INVALID_INPUT", "menuId" },
        { LINE ("{\"menuId\":1,\"qy\":1}"), 400, "INVALID_INPUT", "menuId" },
        { LINE ("{\"menuId\":\"\",\"qy\":1}"), 400, "INVALID_INPUT", "menuId" },
        { LINE ("{\"menuId\":\"MENU-1\",\"qy\":1}"), 400, "INVALID_INPUT", "menuId" },
        { LINE ("{\"menuId\":\"MENU-00000001\"}"), 400, "INVALID_INPUT", "qy" },
        { LINE ("{\"menuId\":\"MENU-00000001\",\"qy\":\"1\"}"), 400, "INVALID_INPUT", "qy" },
        { LINE ("{\"menuId\":\"MENU-00000001\",\"qy\":1.5}"), 400, "INVALID_INPUT", "qy" },
        { LINE ("{\"menuId\":\"MENU-00000001\",\"qy\":0}"), 400, "INVALID_INPUT", "qy" },
        { LINE ("{\"menuId\":\"MENU-00000001\",\"qy\":-1}"), 400, "INVALID_INPUT", "qy" },
        { LINE ("{\"menuId\":\"MENU-00000001\",\"qy\":101}"), 400, "INVALID_INPUT", "qy" },
        { LINE ("{\"menuId\":\"MENU-00000001\",\"qy\":9007199254740993}"), 400, "INVALID_INPUT", "qy" },
        { LINE ("{\"menuId\":\"MENU-00000001\",\"qy\":true}"), 400, "INVALID_INPUT", "qy" },
        { LINE ("{\"menuId\":\"MENU-00000001\",\"qy\":null}"), 400, "INVALID_INPUT", "qy" },
        //  A repeated menu may not add up past the per-line maximum.
        { LINE ("{\"menuId\":\"MENU-00000001\",\"qy\":60},{\"menuId\":\"MENU-00000001\",\"qy\":41}"),
          400, "INVALID_INPUT", "qy" },
        //  The second line is bad: the first must not be taken alone.
        { LINE ("{\"menuId\":\"MENU-00000001\",\"qy\":1},{\"menuId\":\"MENU-00000002\",\"qy\":0}"),
          400, "INVALID_INPUT", "menuList[1]" },
        { "{\"customerId\":\"CUST-99999999\",\"menuList\":[{\"menuId\":\"MENU-00000001\",\"qy\":1}],\"x\":\"%s\"}",
          404, "NOT_FOUND_DATA", NULL },
        { LINE ("{\"menuId\":\"MENU-99999999\",\"qy\":1}"), 404, "NOT_FOUND_DATA", NULL },
        { LINE ("{\"menuId\":\"MENU-00000001\",\"qy\":1},{\"menuId\":\"MENU-99999999\",\"qy\":1}"),
          404, "NOT_FOUND_DATA", NULL },
    };
#undef LINE
    s_bad_requests (port, "/order", customer, table, sizeof table / sizeof table [0]);

    //  Not enough points: 12900 against 3 x 4500 = 13500, short by 600.
    char *before = s_point_snapshot (port, customer);
    char body [512];
    snprintf (body, sizeof body, "{\"customerId\":\"%s\",\"menuList\":"
              "[{\"menuId\":\"MENU-00000003\",\"qy\":3}]}", customer);
    tk_resp_t resp;
    s_call (port, "POST", "/order", body, NULL, &resp);
    s_assert_error (&resp, 409, "NO_POINT", NULL);
    assert_string_equal (s_str (resp.json, "message"),
                         "600 포인트가 부족합니다. 포인트 충전 후 다시 이용해주세요");
    assert_int_equal (s_int (resp.json, "shortfall"), 600);
    tk_resp_reset (&resp);
    char *after = s_point_snapshot (port, customer);
    assert_string_equal (before, after);
    free (after);
    free (before);

    //  Exactly the balance is enough, and leaves zero.
    snprintf (body, sizeof body, "{\"customerId\":\"%s\",\"menuList\":"
              "[{\"menuId\":\"MENU-00000001\",\"qy\":2},{\"menuId\":\"MENU-00000003\",\"qy\":1}]}",
              customer);
    s_call (port, "POST", "/order", body, NULL, &resp);
    assert_int_equal (resp.status, 200);
    assert_int_equal (s_int (resp.json, "orderPrice"), 12900);
    tk_resp_reset (&resp);
    assert_int_equal (s_balance (port, customer, NULL), 0);
    //  and now even the cheapest menu is short by its price.
    snprintf (body, sizeof body, "{\"customerId\":\"%s\",\"menuList\":"
              "[{\"menuId\":\"MENU-00000001\",\"qy\":1}]}", customer);
    s_call (port, "POST", "/order", body, NULL, &resp);
    s_assert_error (&resp, 409, "NO_POINT", NULL);
    assert_int_equal (s_int (resp.json, "shortfall"), 4200);
    tk_resp_reset (&resp);

    //  GET /order of an unknown or malformed number.
    s_call (port, "GET", "/order/ORD-99999999", NULL, NULL, &resp);
    s_assert_error (&resp, 404, "NOT_FOUND_DATA", NULL);
    assert_string_equal (s_str (resp.json, "message"), "해당 주문 정보 이/가 존재하지 않습니다.");
    tk_resp_reset (&resp);
    s_call (port, "GET", "/order/27", NULL, NULL, &resp);
    s_assert_error (&resp, 400, "INVALID_INPUT", "orderNo");
    tk_resp_reset (&resp);
    s_assert_alive (port);
}

//  Bug "nul in strings": a JSON string with an escaped NUL (\u0000) is cut
//  at the NUL by cJSON, so "CUST-00000001\u0000junk" passes as
//  CUST-00000001 and charges that customer, "MENU-00000001\u0000x" orders
//  MENU-00000001, and "a\u0000b" is stored as the name "a". Input the
//  server silently changes must be refused: 400 INVALID_INPUT naming the
//  field, nothing changed.
static void
test_bug_nul_in_strings (void **state)
{
    int port = s_port (state);
    char customer [64];
    s_new_customer (port, "nul", customer, sizeof customer);
    s_charge (port, customer, 10000);
    const api_bad_t table [] = {
        { "{\"customerId\":\"%s\\u0000junk\",\"chargeAmt\":100}", 400, "INVALID_INPUT",
          "customerId" },
        { "{\"customerId\":\"%s\\u0000\",\"menuList\":[{\"menuId\":\"MENU-00000001\",\"qy\":1}]}",
          400, "INVALID_INPUT", "customerId" },
        { "{\"customerId\":\"%s\",\"menuList\":[{\"menuId\":\"MENU-00000001\\u0000x\",\"qy\":1}]}",
          400, "INVALID_INPUT", "menuId" },
    };
    for (size_t i = 0; i < sizeof table / sizeof table [0]; i++)
        s_bad_requests (port, i == 0 ? "/point" : "/order", customer, &table [i], 1);
    tk_resp_t resp;
    s_call (port, "POST", "/customer", "{\"customerNm\":\"a\\u0000b\"}", NULL, &resp);
    s_assert_error (&resp, 400, "INVALID_INPUT", "customerNm");
    tk_resp_reset (&resp);
}

//  Bug "raw nul in strings": a NUL byte written raw inside a JSON string
//  (invalid JSON: control characters must be escaped) is taken by cJSON and
//  cuts the string, so {"customerId":"CUST-x<NUL>junk"} charges CUST-x and
//  {"customerNm":"a<NUL>b"} makes a customer named "a". Expected: 400
//  (INVALID_JSON, or INVALID_INPUT naming the field), nothing changed.
static void
test_bug_raw_nul_in_strings (void **state)
{
    int port = s_port (state);
    char customer [64];
    s_new_customer (port, "raw-nul", customer, sizeof customer);
    s_charge (port, customer, 10000);
    char *before = s_point_snapshot (port, customer);
    struct { const char *path; char body [256]; } cases [3];
    int lens [3];
    cases [0].path = "/point";
    lens [0] = snprintf (cases [0].body, sizeof cases [0].body,
                         "{\"customerId\":\"%s_junk\",\"chargeAmt\":100}", customer);
    cases [1].path = "/order";
    lens [1] = snprintf (cases [1].body, sizeof cases [1].body, "{\"customerId\":\"%s\","
                         "\"menuList\":[{\"menuId\":\"MENU-00000001_x\",\"qy\":1}]}", customer);
    cases [2].path = "/customer";
    lens [2] = snprintf (cases [2].body, sizeof cases [2].body, "{\"customerNm\":\"a_b\"}");
    //  Every case runs and everything is freed before the verdict, so the
    //  failure report lists all cases and leaks nothing.
    int wrong = 0;
    for (int i = 0; i < 3; i++) {
        //  The '_' after the id (or the first name letter) becomes a raw NUL.
        char *mark = strchr (cases [i].body, '_');
        assert_non_null (mark);
        *mark = 0;
        tk_resp_t resp;
        int rc = tk_http_len ("POST", port, cases [i].path, cases [i].body, (size_t) lens [i],
                              NULL, &resp);
        const cJSON *code = cJSON_GetObjectItemCaseSensitive (resp.json, "code");
        bool refused = rc == 0 && resp.status == 400 && cJSON_IsString (code)
                    && (strcmp (code->valuestring, "INVALID_JSON") == 0
                     || strcmp (code->valuestring, "INVALID_INPUT") == 0);
        if (!refused) {
            fprintf (stderr, "raw NUL case %d (%s): %ld %s\n", i, cases [i].path, resp.status,
                     resp.body ? resp.body : "(no answer)");
            wrong++;
        }
        tk_resp_reset (&resp);
        //  Each case is compared with the state just before it.
        char *after = s_point_snapshot (port, customer);
        if (strcmp (before, after) != 0) {
            fprintf (stderr, "raw NUL case %d changed the points:\n%s\n%s\n", i, before, after);
            wrong++;
        }
        free (before);
        before = after;
    }
    free (before);
    if (wrong)
        fail_msg ("%d raw NUL cases were not refused or changed something", wrong);
}

//  Bug "nul in path": libmicrohttpd decodes %00 in the URL to a NUL byte,
//  which cuts the path, so GET /point/CUST-x%00junk answers CUST-x's points
//  and GET /order/ORD-y%00junk that order. Expected: 400 INVALID_INPUT (not
//  an id) or 404, never another record.
static void
test_bug_nul_in_path (void **state)
{
    int port = s_port (state);
    char customer [64];
    s_new_customer (port, "path-nul", customer, sizeof customer);
    s_charge (port, customer, 10000);
    char body [256];
    snprintf (body, sizeof body, "{\"customerId\":\"%s\",\"menuList\":"
              "[{\"menuId\":\"MENU-00000001\",\"qy\":1}]}", customer);
    tk_resp_t resp;
    s_call (port, "POST", "/order", body, NULL, &resp);
    assert_int_equal (resp.status, 200);
    char order_no [64];
    snprintf (order_no, sizeof order_no, "%s", s_str (resp.json, "orderNo"));
    tk_resp_reset (&resp);
    char paths [2][160];
    snprintf (paths [0], sizeof paths [0], "/point/%s%%00junk", customer);
    snprintf (paths [1], sizeof paths [1], "/order/%s%%00junk", order_no);
    int wrong = 0;
    for (int i = 0; i < 2; i++) {
        s_call (port, "GET", paths [i], NULL, NULL, &resp);
        if ((resp.status != 400 && resp.status != 404) || !s_is_json_type (&resp)) {
            fprintf (stderr, "GET %s answered %ld: %s\n", paths [i], resp.status, resp.body);
            wrong++;
        }
        tk_resp_reset (&resp);
    }
    if (wrong)
        fail_msg ("%d paths with %%00 were answered as if the id ended there", wrong);
}

//  A menuId given twice in one order is one line whose qy is the sum.
static void
test_merge_repeated_menu (void **state)
{
    int port = s_port (state);
    char customer [64];
    s_new_customer (port, "merge", customer, sizeof customer);
    s_charge (port, customer, 100000);
    char body [512];
    snprintf (body, sizeof body, "{\"customerId\":\"%s\",\"menuList\":["
              "{\"menuId\":\"MENU-00000004\",\"qy\":1},{\"menuId\":\"MENU-00000001\",\"qy\":2},"
              "{\"menuId\":\"MENU-00000004\",\"qy\":3}]}", customer);
    tk_resp_t resp;
    s_call (port, "POST", "/order", body, NULL, &resp);
    assert_int_equal (resp.status, 200);
    assert_int_equal (s_int (resp.json, "orderPrice"), 4 * 4500 + 2 * 4200);
    char path [128];
    snprintf (path, sizeof path, "/order/%s", s_str (resp.json, "orderNo"));
    tk_resp_reset (&resp);
    s_call (port, "GET", path, NULL, NULL, &resp);
    assert_int_equal (resp.status, 200);
    const cJSON *lines = cJSON_GetObjectItemCaseSensitive (resp.json, "menuList");
    assert_int_equal (cJSON_GetArraySize (lines), 2);
    const cJSON *line;
    cJSON_ArrayForEach (line, lines) {
        if (strcmp (s_str (line, "menuId"), "MENU-00000004") == 0)
            assert_int_equal (s_int (line, "qy"), 4);
        else
            assert_int_equal (s_int (line, "qy"), 2);
    }
    tk_resp_reset (&resp);
    //  Exactly the per-line maximum after merging is fine.
    snprintf (body, sizeof body, "{\"customerId\":\"%s\",\"menuList\":["
              "{\"menuId\":\"MENU-00000001\",\"qy\":50},{\"menuId\":\"MENU-00000001\",\"qy\":50}]}",
              customer);
    s_charge (port, customer, 420000);
    s_call (port, "POST", "/order", body, NULL, &resp);
    assert_int_equal (resp.status, 200);
    assert_int_equal (s_int (resp.json, "orderPrice"), 420000);
    tk_resp_reset (&resp);
}

//  Same key + same body: the first answer again, nothing changed; same key +
//  other body: 422; keys are per route; a bad key is 400.
static void
test_idempotency_replay (void **state)
{
    int port = s_port (state);
    char customer [64];
    s_new_customer (port, "idem", customer, sizeof customer);

    char charge [256], charge_other [256];
    snprintf (charge, sizeof charge, "{\"customerId\":\"%s\",\"chargeAmt\":30000}", customer);
    snprintf (charge_other, sizeof charge_other, "{\"customerId\":\"%s\",\"chargeAmt\":30001}",
              customer);
    tk_resp_t first, again;
    s_call (port, "POST", "/point", charge, "charge-key-1", &first);
    assert_int_equal (first.status, 200);
    int history = 0;
    assert_int_equal (s_balance (port, customer, &history), 30000);
    for (int i = 0; i < 3; i++) {
        s_call (port, "POST", "/point", charge, "charge-key-1", &again);
        assert_int_equal (again.status, first.status);
        assert_string_equal (again.body, first.body);
        tk_resp_reset (&again);
    }
    int history_after = 0;
    assert_int_equal (s_balance (port, customer, &history_after), 30000);
    assert_int_equal (history_after, history);
    s_call (port, "POST", "/point", charge_other, "charge-key-1", &again);
    s_assert_error (&again, 422, "IDEMPOTENCY_KEY_REUSED", NULL);
    tk_resp_reset (&again);
    //  The same request spelled differently (member order, spaces, 3e4,
    //  an unknown member) is the same request: replayed.
    char respelled [256];
    snprintf (respelled, sizeof respelled, "{ \"chargeAmt\" : 3e4 , \"note\":\"x\","
              " \"customerId\" : \"%s\" }", customer);
    s_call (port, "POST", "/point", respelled, "charge-key-1", &again);
    assert_int_equal (again.status, 200);
    assert_string_equal (again.body, first.body);
    tk_resp_reset (&again);
    tk_resp_reset (&first);
    //  A new key is a new charge.
    s_call (port, "POST", "/point", charge, "charge-key-2", &first);
    assert_int_equal (first.status, 200);
    assert_int_equal (s_int (first.json, "afterChargePoint"), 60000);
    tk_resp_reset (&first);

    char order [256], order_other [256];
    snprintf (order, sizeof order, "{\"customerId\":\"%s\",\"menuList\":"
              "[{\"menuId\":\"MENU-00000005\",\"qy\":2}]}", customer);
    snprintf (order_other, sizeof order_other, "{\"customerId\":\"%s\",\"menuList\":"
              "[{\"menuId\":\"MENU-00000005\",\"qy\":3}]}", customer);
    s_call (port, "POST", "/order", order, "order-key-1", &first);
    assert_int_equal (first.status, 200);
    assert_int_equal (s_balance (port, customer, &history), 60000 - 9000);
    s_call (port, "POST", "/order", order, "order-key-1", &again);
    assert_int_equal (again.status, 200);
    assert_string_equal (again.body, first.body);
    tk_resp_reset (&again);
    assert_int_equal (s_balance (port, customer, &history_after), 60000 - 9000);
    assert_int_equal (history_after, history);
    s_call (port, "POST", "/order", order_other, "order-key-1", &again);
    s_assert_error (&again, 422, "IDEMPOTENCY_KEY_REUSED", NULL);
    tk_resp_reset (&again);
    tk_resp_reset (&first);
    //  Keys are per route: a key used on POST /order is new to POST /point.
    s_call (port, "POST", "/point", charge, "order-key-1", &first);
    assert_int_equal (first.status, 200);
    assert_int_equal (s_int (first.json, "afterChargePoint"), 60000 - 9000 + 30000);
    tk_resp_reset (&first);

    //  An error answer is replayed too, and changes nothing either time.
    char poor [64], poor_order [256];
    s_new_customer (port, "idem-poor", poor, sizeof poor);
    snprintf (poor_order, sizeof poor_order, "{\"customerId\":\"%s\",\"menuList\":"
              "[{\"menuId\":\"MENU-00000005\",\"qy\":1}]}", poor);
    s_call (port, "POST", "/order", poor_order, "order-key-poor", &first);
    s_assert_error (&first, 409, "NO_POINT", NULL);
    s_call (port, "POST", "/order", poor_order, "order-key-poor", &again);
    assert_int_equal (again.status, first.status);
    assert_string_equal (again.body, first.body);
    tk_resp_reset (&again);
    tk_resp_reset (&first);

    //  Malformed keys.
    char long_key [300];
    memset (long_key, 'k', 256);
    long_key [256] = 0;
    const char *bad_keys [] = { long_key, "caf\xc3\xa9" };
    for (size_t i = 0; i < sizeof bad_keys / sizeof bad_keys [0]; i++) {
        s_call (port, "POST", "/point", charge, bad_keys [i], &again);
        s_assert_error (&again, 400, "INVALID_INPUT", "Idempotency-Key");
        tk_resp_reset (&again);
    }
    assert_int_equal (s_balance (port, customer, NULL), 81000);
}

//  One racer of the same-key race.
typedef struct {
    int port;                   //  server port
    const char *body;           //  request body
    const char *key;            //  Idempotency-Key
    pthread_barrier_t *start;   //  released when every racer is ready
    tk_resp_t resp;             //  its answer
    int rc;                     //  tk_http's return
} api_racer_t;

//  Thread body: wait for the others, then send the request.
static void *
s_racer (void *arg)
{
    api_racer_t *racer = (api_racer_t *) arg;
    pthread_barrier_wait (racer->start);
    char header [300];
    snprintf (header, sizeof header, "Idempotency-Key: %s", racer->key);
    const char *headers [] = { header, NULL };
    racer->rc = tk_http ("POST", racer->port, "/order", racer->body, headers, &racer->resp);
    return NULL;
}

//  The order body of race round: all five menus, the last with qy round + 1
//  (many lines make the first request do more work). Returns its price.
static int64_t
s_race_body (const char *customer, int round, char *body, size_t len)
{
    snprintf (body, len, "{\"customerId\":\"%s\",\"menuList\":["
              "{\"menuId\":\"MENU-00000001\",\"qy\":1},{\"menuId\":\"MENU-00000002\",\"qy\":1},"
              "{\"menuId\":\"MENU-00000003\",\"qy\":1},{\"menuId\":\"MENU-00000004\",\"qy\":1},"
              "{\"menuId\":\"MENU-00000005\",\"qy\":%d}]}", customer, round + 1);
    return 4200 + 4200 + 4500 + 4500 + 4500 * (round + 1);
}

//  API_RACE_THREADS threads send body with key at once, alternating between
//  ports [0] and ports [1]. Every answer must be the one identical 200 (whose
//  orderPrice is price) or 409 IDEMPOTENCY_KEY_IN_USE; *ok and *busy count
//  them.
static void
s_race (const int ports [2], const char *body, const char *key, int64_t price, int *ok,
        int *busy)
{
    pthread_barrier_t start;
    pthread_barrier_init (&start, NULL, API_RACE_THREADS);
    api_racer_t racers [API_RACE_THREADS];
    pthread_t threads [API_RACE_THREADS];
    for (int i = 0; i < API_RACE_THREADS; i++) {
        racers [i] = (api_racer_t) { ports [i % 2], body, key, &start, { 0 }, -1 };
        assert_int_equal (pthread_create (&threads [i], NULL, s_racer, &racers [i]), 0);
    }
    for (int i = 0; i < API_RACE_THREADS; i++)
        pthread_join (threads [i], NULL);
    pthread_barrier_destroy (&start);

    const char *winner = NULL;
    *ok = *busy = 0;
    for (int i = 0; i < API_RACE_THREADS; i++) {
        tk_resp_t *resp = &racers [i].resp;
        assert_int_equal (racers [i].rc, 0);
        if (resp->status == 200) {
            if (!winner)
                winner = resp->body;
            assert_string_equal (resp->body, winner);
            (*ok)++;
        }
        else {
            if (resp->status != 409)
                fprintf (stderr, "racer %d: %ld %s\n", i, resp->status, resp->body);
            s_assert_error (resp, 409, "IDEMPOTENCY_KEY_IN_USE", NULL);
            (*busy)++;
        }
    }
    if (winner) {
        cJSON *won = cJSON_Parse (winner);
        assert_int_equal (s_int (won, "orderPrice"), price);
        cJSON_Delete (won);
    }
    for (int i = 0; i < API_RACE_THREADS; i++)
        tk_resp_reset (&racers [i].resp);
}

//  16 threads send the same key and body at once: exactly one order runs;
//  every other answer is 409 (still running) or the identical replay.
static void
test_idempotency_race (void **state)
{
    int port = s_port (state);
    char customer [64];
    s_new_customer (port, "idem-race", customer, sizeof customer);
    s_charge (port, customer, 1000000);
    int history_before = 0;
    int64_t before = s_balance (port, customer, &history_before);

    for (int round = 0; round < 3; round++) {
        char body [512], key [128];
        int64_t price = s_race_body (customer, round, body, sizeof body);
        snprintf (key, sizeof key, "race-%d-%s", round, customer);
        int ok, busy;
        const int ports [2] = { port, port };
        s_race (ports, body, key, price, &ok, &busy);
        fprintf (stderr, "race round %d: %d replayed or ran, %d told the key is in use\n",
                 round, ok, busy);
        assert_true (ok >= 1);
        assert_int_equal (ok + busy, API_RACE_THREADS);
        //  Exactly one order was taken.
        int history = 0;
        int64_t balance = s_balance (port, customer, &history);
        assert_int_equal (balance, before - price);
        assert_int_equal (history, history_before + 1);
        before = balance;
        history_before = history;
    }
}

//  Two instances on one data dir (so one command store), 16 threads split
//  between them with the same key and body: exactly one order runs, every
//  answer is the replay or 409 IDEMPOTENCY_KEY_IN_USE. (A customer's
//  requests meet in one actor per instance, and the key is claimed and
//  finished within microseconds, so a 409 here is rare;
//  test_idempotency_in_use makes one for sure.)
static void
test_idempotency_race_two_instances (void **state)
{
    tk_server_t first, second;
    assert_int_equal (tk_server_start (&first, NULL, NULL), 0);
    const char *order_role [] = { "--role", "order", NULL };
    assert_int_equal (tk_server_start (&second, first.data_dir, order_role), 0);
    char customer [64];
    s_new_customer (first.port, "idem-two", customer, sizeof customer);
    s_charge (second.port, customer, 10000000);
    int history_before = 0;
    int64_t before = s_balance (first.port, customer, &history_before);

    int busy_total = 0;
    for (int round = 0; round < 5; round++) {
        char body [512], key [128];
        int64_t price = s_race_body (customer, round, body, sizeof body);
        snprintf (key, sizeof key, "race2-%d-%s", round, customer);
        int ok, busy;
        const int ports [2] = { first.port, second.port };
        s_race (ports, body, key, price, &ok, &busy);
        busy_total += busy;
        //  Exactly one order was taken, even when every answer was a 409.
        int history = 0;
        int64_t balance = s_balance (first.port, customer, &history);
        assert_int_equal (balance, before - price);
        assert_int_equal (history, history_before + 1);
        before = balance;
        history_before = history;
    }
    fprintf (stderr, "two instances: %d answers were 409 IDEMPOTENCY_KEY_IN_USE\n", busy_total);
    assert_int_equal (tk_server_stop (&second), 0);
    assert_int_equal (tk_server_stop (&first), 0);
}

//  Last test of the group: SIGTERM stops the shared server cleanly.
static void
test_shared_stop (void **state)
{
    api_fixture_t *fixture = (api_fixture_t *) *state;
    assert_int_equal (tk_server_stop (&fixture->server), 0);
}


//  --------------------------------------------------------------------------
//  Tests with a server of their own

//  One charger of the SIGTERM test: what it sent and what came back.
typedef struct {
    int port;                   //  server port
    const char *customer;       //  customer id
    int index;                  //  thread number, makes amounts unique
    atomic_int *answered;       //  200 answers so far, all threads
    int count;                  //  requests sent
    int64_t amount [API_TERM_MAX_OPS];  //  chargeAmt of each
    long status [API_TERM_MAX_OPS];     //  its status (0: transport failure)
    int error [API_TERM_MAX_OPS];       //  its CURLcode when status is 0
} api_charger_t;

//  Thread body: charges unique amounts until the server stops answering.
static void *
s_charger (void *arg)
{
    api_charger_t *self = (api_charger_t *) arg;
    for (int i = 0; i < API_TERM_MAX_OPS; i++) {
        int64_t amount = (int64_t) (self->index + 1) * 100000 + i + 1;
        char body [256];
        snprintf (body, sizeof body, "{\"customerId\":\"%s\",\"chargeAmt\":%" PRId64 "}",
                  self->customer, amount);
        tk_resp_t resp;
        tk_http ("POST", self->port, "/point", body, NULL, &resp);
        self->amount [i] = amount;
        self->status [i] = resp.status;
        self->error [i] = resp.error;
        self->count = i + 1;
        tk_resp_reset (&resp);
        if (self->status [i] == 200)
            atomic_fetch_add (self->answered, 1);
        else
            break;          //  the server is going away
    }
    return NULL;
}

//  Stops the server with sig while 8 threads send charges of unique
//  amounts, restarts it on the same data dir and compares its history with
//  what the clients were told. SIGTERM: exit 0, and every applied charge had
//  its answer delivered. SIGKILL: a charge may be applied with its answer
//  lost, but every 200 survives. Either way the history holds only charges
//  that were sent, each at most once, and sums to the balance.
static void
s_stop_under_load (int sig)
{
    tk_server_t server;
    assert_int_equal (tk_server_start (&server, NULL, NULL), 0);
    char customer [64];
    s_new_customer (server.port, sig == SIGTERM ? "sigterm" : "sigkill", customer,
                    sizeof customer);

    atomic_int answered = 0;
    api_charger_t *chargers = calloc (API_TERM_THREADS, sizeof *chargers);
    assert_non_null (chargers);
    pthread_t threads [API_TERM_THREADS];
    for (int i = 0; i < API_TERM_THREADS; i++) {
        chargers [i].port = server.port;
        chargers [i].customer = customer;
        chargers [i].index = i;
        chargers [i].answered = &answered;
        assert_int_equal (pthread_create (&threads [i], NULL, s_charger, &chargers [i]), 0);
    }
    int64_t deadline = tk_now_ms () + 60000;
    while (atomic_load (&answered) < API_TERM_WARMUP && tk_now_ms () < deadline)
        usleep (1000);
    assert_true (atomic_load (&answered) >= API_TERM_WARMUP);
    assert_int_equal (kill (server.pid, sig), 0);
    int status = tk_wait (server.pid, 30000);
    for (int i = 0; i < API_TERM_THREADS; i++)
        pthread_join (threads [i], NULL);
    int expected_status = sig == SIGTERM ? 0 : 128 + sig;
    if (status != expected_status) {
        fprintf (stderr, "coffee exited with %d after signal %d under load (log %s)\n", status,
                 sig, server.log_path);
        if (status == -1)
            tk_server_kill9 (&server);
    }
    assert_int_equal (status, expected_status);
    server.pid = 0;

    //  What each request got: 200, 503 (refused while stopping), or no answer.
    int ok = 0, refused = 0, dropped = 0;
    for (int t = 0; t < API_TERM_THREADS; t++)
        for (int i = 0; i < chargers [t].count; i++) {
            long st = chargers [t].status [i];
            if (st == 200)
                ok++;
            else
            if (st == 0 && chargers [t].error [i] != 7) {   //  7: could not connect
                fprintf (stderr, "signal %d: charge %" PRId64 " got no answer (curl error %d)\n",
                         sig, chargers [t].amount [i], chargers [t].error [i]);
                dropped++;
            }
            else
            if (st == 0)
                refused++;
            else {
                if (st != 503)
                    fail_msg ("charge during shutdown answered %ld", st);
                refused++;
            }
        }
    fprintf (stderr, "signal %d: %d answered 200, %d refused, %d without answer\n", sig, ok,
             refused, dropped);

    //  Restart on the same data dir and read the history.
    assert_int_equal (tk_server_restart (&server, NULL), 0);
    char path [128];
    snprintf (path, sizeof path, "/point/%s?limit=1000", customer);
    tk_resp_t resp;
    s_call (server.port, "GET", path, NULL, NULL, &resp);
    assert_int_equal (resp.status, 200);
    const cJSON *account = cJSON_GetArrayItem (resp.json, 0);
    const cJSON *detail = cJSON_GetObjectItemCaseSensitive (account, "pointDetail");
    int64_t sum = 0;
    int rows = 0, rows_answered = 0;
    const cJSON *row;
    cJSON_ArrayForEach (row, detail) {
        int64_t amount = s_int (row, "point");
        sum += amount;
        rows++;
        bool found = false;
        for (int t = 0; t < API_TERM_THREADS && !found; t++)
            for (int i = 0; i < chargers [t].count && !found; i++)
                if (chargers [t].amount [i] == amount) {
                    found = true;
                    //  Each amount is sent once, so it appears at most once.
                    chargers [t].amount [i] = -1;
                    if (chargers [t].status [i] == 200)
                        rows_answered++;
                    else
                    if (sig == SIGTERM)
                        fail_msg ("charge %" PRId64 " was applied but its client got %ld "
                                  "(curl error %d)", amount, chargers [t].status [i],
                                  chargers [t].error [i]);
                }
        if (!found)
            fail_msg ("history holds a charge nobody sent (or one twice): %" PRId64, amount);
    }
    //  Every 200 is in the history.
    assert_int_equal (rows_answered, ok);
    if (sig == SIGTERM)
        assert_int_equal (rows, ok);
    assert_int_equal (s_int (account, "point"), sum);
    tk_resp_reset (&resp);
    free (chargers);
    assert_int_equal (tk_server_stop (&server), 0);
}

//  SIGTERM while requests are in flight: they complete, exit 0.
static void
test_sigterm_in_flight (void **state)
{
    s_stop_under_load (SIGTERM);
}

//  kill -9 while requests are in flight: every acknowledged charge survives.
static void
test_kill9_in_flight (void **state)
{
    s_stop_under_load (SIGKILL);
}


//  A client that sent headers and half its body, then stalls: the server
//  keeps answering others, and SIGTERM still ends it cleanly, in bounded
//  time (the stalled request is given up after the request timeout).
static void
test_sigterm_with_stalled_client (void **state)
{
    tk_server_t server;
    const char *extra [] = { "--request-timeout-ms", "1000", NULL };
    assert_int_equal (tk_server_start (&server, NULL, extra), 0);
    int fd = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true (fd >= 0);
    struct sockaddr_in addr;
    memset (&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
    addr.sin_port = htons ((uint16_t) server.port);
    assert_int_equal (connect (fd, (struct sockaddr *) &addr, sizeof addr), 0);
    const char *half = "POST /customer HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                       "Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"custo";
    assert_int_equal (send (fd, half, strlen (half), MSG_NOSIGNAL), (ssize_t) strlen (half));
    usleep (200 * 1000);
    s_assert_alive (server.port);

    int64_t started = tk_now_ms ();
    assert_int_equal (tk_server_stop (&server), 0);
    int64_t took = tk_now_ms () - started;
    fprintf (stderr, "stalled client: stopped in %" PRId64 " ms\n", took);
    assert_true (took < 15000);
    //  The stalled connection was closed, not left hanging.
    struct timeval timeout = { 5, 0 };
    setsockopt (fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    char buf [256];
    ssize_t got = recv (fd, buf, sizeof buf, 0);
    assert_true (got == 0 || (got < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
                 || (got > 0 && strncmp (buf, "HTTP/1.1 ", 9) == 0));
    close (fd);
}


//  Runs one SQL statement on the stopped server's SQLite command store with
//  the sqlite3 shell: the only way to reach a balance near INT64_MAX, which
//  would take 9.2e9 charges through the API.
static int
s_sqlite_exec (const tk_server_t *server, const char *sql)
{
    char db_path [700];
    snprintf (db_path, sizeof db_path, "%s/command.db", server->data_dir);
    const char *argv [] = { "/usr/bin/sqlite3", db_path, sql, NULL };
    pid_t pid = tk_spawn (argv, server->log_path);
    return pid < 0 ? -1 : tk_wait (pid, 30000);
}

//  A charge that would take the balance past INT64_MAX is 400 INVALID_INPUT
//  naming chargeAmt and changes nothing; up to exactly INT64_MAX is fine;
//  an order still works at that balance.
static void
test_balance_overflow (void **state)
{
    if (access ("/usr/bin/sqlite3", X_OK) != 0)
        skip ();
    tk_server_t server;
    assert_int_equal (tk_server_start (&server, NULL, NULL), 0);
    char customer [64];
    s_new_customer (server.port, "overflow", customer, sizeof customer);
    assert_int_equal (tk_server_stop (&server), 0);
    //  9223372036854775807 - 5000: balance and one history row that explains it.
    char sql [1024];
    snprintf (sql, sizeof sql,
              "BEGIN; UPDATE point SET balance = 9223372036854770807 WHERE customer_id = '%s';"
              " INSERT INTO point_history (customer_id, point, type_code, type_name, exp_date,"
              " remark, created_at) VALUES ('%s', 9223372036854770807, 'CHARGE', '충전', NULL,"
              " 'test', 0); COMMIT;", customer, customer);
    assert_int_equal (s_sqlite_exec (&server, sql), 0);
    assert_int_equal (tk_server_restart (&server, NULL), 0);

    char *before = s_point_snapshot (server.port, customer);
    assert_non_null (strstr (before, "\"point\":9223372036854770807"));
    char body [256];
    snprintf (body, sizeof body, "{\"customerId\":\"%s\",\"chargeAmt\":5001}", customer);
    tk_resp_t resp;
    s_call (server.port, "POST", "/point", body, NULL, &resp);
    s_assert_error (&resp, 400, "INVALID_INPUT", "chargeAmt");
    tk_resp_reset (&resp);
    s_call (server.port, "POST", "/point", body, "overflow-key", &resp);
    s_assert_error (&resp, 400, "INVALID_INPUT", "chargeAmt");
    tk_resp_reset (&resp);
    char *after = s_point_snapshot (server.port, customer);
    assert_string_equal (before, after);
    free (after);

    snprintf (body, sizeof body, "{\"customerId\":\"%s\",\"chargeAmt\":5000}", customer);
    s_call (server.port, "POST", "/point", body, NULL, &resp);
    assert_int_equal (resp.status, 200);
    assert_non_null (strstr (resp.body, "9223372036854775807"));
    tk_resp_reset (&resp);
    snprintf (body, sizeof body, "{\"customerId\":\"%s\",\"chargeAmt\":1}", customer);
    s_call (server.port, "POST", "/point", body, NULL, &resp);
    s_assert_error (&resp, 400, "INVALID_INPUT", "chargeAmt");
    tk_resp_reset (&resp);
    snprintf (body, sizeof body, "{\"customerId\":\"%s\",\"menuList\":"
              "[{\"menuId\":\"MENU-00000001\",\"qy\":1}]}", customer);
    s_call (server.port, "POST", "/order", body, NULL, &resp);
    assert_int_equal (resp.status, 200);
    tk_resp_reset (&resp);
    after = s_point_snapshot (server.port, customer);
    assert_non_null (strstr (after, "\"point\":9223372036854771607"));
    free (after);
    free (before);
    assert_int_equal (tk_server_stop (&server), 0);
}


//  Same key while the first request is still running: 409
//  IDEMPOTENCY_KEY_IN_USE and nothing changes; once the key is stale (its
//  process died: 60 s without progress) a retry takes it over and runs once.
//  A running key is planted in the stopped server's store: a request cannot
//  be held between claiming its key and finishing it from outside.
static void
test_idempotency_in_use (void **state)
{
    if (access ("/usr/bin/sqlite3", X_OK) != 0)
        skip ();
    tk_server_t server;
    assert_int_equal (tk_server_start (&server, NULL, NULL), 0);
    char customer [64];
    s_new_customer (server.port, "idem-stuck", customer, sizeof customer);
    s_charge (server.port, customer, 100000);
    char body [256], other [256];
    snprintf (body, sizeof body, "{\"customerId\":\"%s\",\"menuList\":"
              "[{\"menuId\":\"MENU-00000003\",\"qy\":2}]}", customer);
    snprintf (other, sizeof other, "{\"customerId\":\"%s\",\"menuList\":"
              "[{\"menuId\":\"MENU-00000003\",\"qy\":3}]}", customer);
    tk_resp_t resp;
    s_call (server.port, "POST", "/order", body, "seed-key", &resp);
    assert_int_equal (resp.status, 200);
    tk_resp_reset (&resp);
    assert_int_equal (tk_server_stop (&server), 0);
    //  "stuck-key": the same request, claimed just now and never finished.
    const char *plant =
        "INSERT INTO idempotency (route, customer_id, idem_key, request, status, response,"
        " state, created_at, updated_at) SELECT route, customer_id, 'stuck-key', request, NULL,"
        " NULL, 'running',"
        " CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER),"
        " CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)"
        " FROM idempotency WHERE idem_key = 'seed-key';";
    assert_int_equal (s_sqlite_exec (&server, plant), 0);
    assert_int_equal (tk_server_restart (&server, NULL), 0);

    char *before = s_point_snapshot (server.port, customer);
    int history_before = 0;
    int64_t balance_before = s_balance (server.port, customer, &history_before);
    for (int i = 0; i < 3; i++) {
        s_call (server.port, "POST", "/order", body, "stuck-key", &resp);
        s_assert_error (&resp, 409, "IDEMPOTENCY_KEY_IN_USE", NULL);
        tk_resp_reset (&resp);
    }
    s_call (server.port, "POST", "/order", other, "stuck-key", &resp);
    s_assert_error (&resp, 422, "IDEMPOTENCY_KEY_REUSED", NULL);
    tk_resp_reset (&resp);
    char *after = s_point_snapshot (server.port, customer);
    assert_string_equal (before, after);
    free (after);
    free (before);
    assert_int_equal (tk_server_stop (&server), 0);

    //  A minute later (by the server's clock) the key is stale: taken over.
    const char *later [] = { "--clock-skew-ms", "61000", NULL };
    assert_int_equal (tk_server_restart (&server, later), 0);
    s_call (server.port, "POST", "/order", body, "stuck-key", &resp);
    assert_int_equal (resp.status, 200);
    char *first = strdup (resp.body);
    tk_resp_reset (&resp);
    s_call (server.port, "POST", "/order", body, "stuck-key", &resp);
    assert_int_equal (resp.status, 200);
    assert_string_equal (resp.body, first);
    tk_resp_reset (&resp);
    free (first);
    int history = 0;
    assert_int_equal (s_balance (server.port, customer, &history), balance_before - 9000);
    assert_int_equal (history, history_before + 1);
    assert_int_equal (tk_server_stop (&server), 0);
}


//  On the embedded SQLite stores, `coffee serve` runs checkpointer threads
//  for the WAL: orders enough to pass the 1000 pages a checkpoint waits
//  for, and /metrics counts checkpoints by them. How many a writer (the
//  order actor, the relay, the projection) still ran after its commit
//  depends on the machine's load: past 4000 pages, when the checkpointer
//  could not restart the WAL in time, a writer does (test_store_checkpointer
//  proves when each one runs; bench/ measures the share under load).
static void
test_sqlite_checkpoints_in_background (void **state)
{
    (void) state;
    tk_server_t server;
    assert_int_equal (tk_server_start (&server, NULL, NULL), 0);
    char customer [64];
    s_new_customer (server.port, "checkpoints", customer, sizeof customer);
    int64_t price = s_menu_price ("MENU-00000001");
    s_charge (server.port, customer, 300 * price);
    char body [256];
    snprintf (body, sizeof body, "{\"customerId\":\"%s\",\"menuList\":"
              "[{\"menuId\":\"MENU-00000001\",\"qy\":1}]}", customer);
    for (int i = 0; i < 300; i++) {
        tk_resp_t resp;
        s_call (server.port, "POST", "/order", body, NULL, &resp);
        assert_int_equal (resp.status, 200);
        tk_resp_reset (&resp);
    }
    //  The actors count them into /metrics once a second
    int64_t background = -1, by_writers = -1;
    for (int waited = 0; waited < 5000 && background < 1; waited += 100) {
        assert_int_equal (tk_metric (server.port,
                                     "coffee_sqlite_checkpoints_total{by=\"checkpointer\"}",
                                     &background), 200);
        if (background < 1)
            usleep (100 * 1000);
    }
    assert_int_equal (tk_metric (server.port, "coffee_sqlite_checkpoints_total{by=\"writer\"}",
                                 &by_writers), 200);
    fprintf (stderr, "checkpoints after 300 orders: %" PRId64 " by the checkpointers, %"
             PRId64 " by writers\n", background, by_writers);
    assert_true (background >= 1);
    assert_int_equal (tk_server_stop (&server), 0);
}

//  A stop and a restart on the same data dir keep customers, balances,
//  history and orders, and never hand out an id twice.
static void
test_restart_keeps_everything (void **state)
{
    tk_server_t server;
    assert_int_equal (tk_server_start (&server, NULL, NULL), 0);
    char customer [64], order_no [64];
    s_new_customer (server.port, "restart", customer, sizeof customer);
    s_charge (server.port, customer, 50000);
    char body [256];
    snprintf (body, sizeof body, "{\"customerId\":\"%s\",\"menuList\":"
              "[{\"menuId\":\"MENU-00000002\",\"qy\":3}]}", customer);
    tk_resp_t resp;
    s_call (server.port, "POST", "/order", body, "restart-key", &resp);
    assert_int_equal (resp.status, 200);
    char *order_answer = strdup (resp.body);
    snprintf (order_no, sizeof order_no, "%s", s_str (resp.json, "orderNo"));
    tk_resp_reset (&resp);
    char order_path [128];
    snprintf (order_path, sizeof order_path, "/order/%s", order_no);
    s_call (server.port, "GET", order_path, NULL, NULL, &resp);
    assert_int_equal (resp.status, 200);
    char *order_before = strdup (resp.body);
    tk_resp_reset (&resp);
    char *points_before = s_point_snapshot (server.port, customer);

    assert_int_equal (tk_server_stop (&server), 0);
    assert_int_equal (tk_server_restart (&server, NULL), 0);

    char *points_after = s_point_snapshot (server.port, customer);
    assert_string_equal (points_before, points_after);
    s_call (server.port, "GET", order_path, NULL, NULL, &resp);
    assert_int_equal (resp.status, 200);
    assert_string_equal (resp.body, order_before);
    tk_resp_reset (&resp);
    //  The idempotency key survived too.
    s_call (server.port, "POST", "/order", body, "restart-key", &resp);
    assert_int_equal (resp.status, 200);
    assert_string_equal (resp.body, order_answer);
    tk_resp_reset (&resp);
    char *points_replayed = s_point_snapshot (server.port, customer);
    assert_string_equal (points_before, points_replayed);
    //  New ids are new.
    char customer2 [64];
    s_new_customer (server.port, "restart-2", customer2, sizeof customer2);
    assert_string_not_equal (customer2, customer);
    s_call (server.port, "POST", "/order", body, NULL, &resp);
    assert_int_equal (resp.status, 200);
    assert_string_not_equal (s_str (resp.json, "orderNo"), order_no);
    tk_resp_reset (&resp);
    //  The menus are still the five, not seeded twice.
    s_call (server.port, "GET", "/display/menu", NULL, NULL, &resp);
    assert_int_equal (cJSON_GetArraySize (resp.json), API_MENU_COUNT);
    tk_resp_reset (&resp);

    free (points_replayed);
    free (points_after);
    free (points_before);
    free (order_before);
    free (order_answer);
    assert_int_equal (tk_server_stop (&server), 0);
}


//  Runs the groups; non-zero when a test failed.
int
main (void)
{
    const struct CMUnitTest shared [] = {
        cmocka_unit_test (test_menu),
        cmocka_unit_test (test_health),
        cmocka_unit_test (test_access_log),
        cmocka_unit_test (test_metrics),
        cmocka_unit_test (test_protocol_errors),
        cmocka_unit_test (test_flow),
        cmocka_unit_test (test_customer_errors),
        cmocka_unit_test (test_charge_errors),
        cmocka_unit_test (test_order_errors),
        cmocka_unit_test (test_bug_nul_in_strings),
        cmocka_unit_test (test_bug_raw_nul_in_strings),
        cmocka_unit_test (test_bug_nul_in_path),
        cmocka_unit_test (test_merge_repeated_menu),
        cmocka_unit_test (test_idempotency_replay),
        cmocka_unit_test (test_idempotency_race),
        cmocka_unit_test (test_shared_stop),
    };
    const struct CMUnitTest own [] = {
        cmocka_unit_test (test_idempotency_race_two_instances),
        cmocka_unit_test (test_sigterm_in_flight),
        cmocka_unit_test (test_kill9_in_flight),
        cmocka_unit_test (test_sigterm_with_stalled_client),
        cmocka_unit_test (test_restart_keeps_everything),
        cmocka_unit_test (test_balance_overflow),
        cmocka_unit_test (test_idempotency_in_use),
        cmocka_unit_test (test_sqlite_checkpoints_in_background),
    };
    int failed = cmocka_run_group_tests_name ("e2e_api_shared", shared, s_group_setup,
                                              s_group_teardown);
    failed += cmocka_run_group_tests_name ("e2e_api_own_server", own, NULL, NULL);
    return failed ? 1 : 0;
}
