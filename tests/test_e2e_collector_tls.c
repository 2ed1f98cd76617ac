/*  test_e2e_collector_tls — the collector over HTTPS with a CA file and a
    bearer token from a file (issue 9 point 9), on the real binary.

    openssl makes a CA, a certificate for 127.0.0.1 signed by it, and an
    unrelated CA. `coffee mock-collector` serves HTTPS with that
    certificate and wants "Authorization: Bearer <token>". One data dir,
    three runs of coffee serve, two orders placed in the first:
    1. --collector-ca-file the unrelated CA: TLS never completes, the
       collector counts failures and retries, the mock receives nothing;
    2. the right CA but another token: the mock answers 401 (counted), still
       nothing recorded;
    3. the right CA and the right token: both orders arrive — nothing was
       dropped on the way, and each arrives once.

    Skipped when openssl is not installed.
    ctest bound: COFFEE_TEST_TIMEOUT 180 s. */
#include "testkit.h"
#include <cmocka.h>
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <signal.h>
#include <unistd.h>

#define WAIT_MS      20000      //  bound on each wait
#define ADMIN_TOKEN  "collector-admin-token-0123456789"
#define TOKEN        "collector-token-5be1c0ffee"

//  Runs a shell line; its exit status.
static int
s_sh (const char *line)
{
    int rc = system (line);
    return rc == -1 || !WIFEXITED (rc)? -1: WEXITSTATUS (rc);
}

//  Writes one line to path.
static void
s_write (const char *path, const char *line)
{
    FILE *file = fopen (path, "w");
    assert_non_null (file);
    fprintf (file, "%s\n", line);
    fclose (file);
}

//  Appends what libcurl received to a growing string.
static size_t
s_gather (char *ptr, size_t size, size_t nmemb, void *userdata)
{
    char **text = (char **) userdata;
    size_t old = *text? strlen (*text): 0;
    char *grown = realloc (*text, old + size * nmemb + 1);
    if (!grown)
        return 0;
    memcpy (grown + old, ptr, size * nmemb);
    grown [old + size * nmemb] = '\0';
    *text = grown;
    return size * nmemb;
}

//  GET https://127.0.0.1:port/orders verified with ca: the parsed answer,
//  or NULL when it did not answer.
static cJSON *
s_mock_orders (int port, const char *ca)
{
    char url [128];
    snprintf (url, sizeof url, "https://127.0.0.1:%d/orders", port);
    CURL *curl = curl_easy_init ();
    char *text = NULL;
    curl_easy_setopt (curl, CURLOPT_URL, url);
    curl_easy_setopt (curl, CURLOPT_CAINFO, ca);
    curl_easy_setopt (curl, CURLOPT_TIMEOUT_MS, 3000L);
    curl_easy_setopt (curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt (curl, CURLOPT_WRITEFUNCTION, s_gather);
    curl_easy_setopt (curl, CURLOPT_WRITEDATA, &text);
    CURLcode rc = curl_easy_perform (curl);
    curl_easy_cleanup (curl);
    cJSON *json = rc == CURLE_OK && text? cJSON_Parse (text): NULL;
    free (text);
    return json;
}

//  A number field of the mock's /orders answer, -1 when it did not answer.
static int64_t
s_mock_field (int port, const char *ca, const char *name)
{
    cJSON *json = s_mock_orders (port, ca);
    cJSON *item = json? cJSON_GetObjectItem (json, name): NULL;
    int64_t value = cJSON_IsNumber (item)? (int64_t) item->valuedouble: -1;
    cJSON_Delete (json);
    return value;
}

//  The value of metric line name in GET /metrics (admin token), -1 absent.
static int64_t
s_metric (int port, const char *name)
{
    const char *headers [] = { "Authorization: Bearer " ADMIN_TOKEN, NULL };
    tk_resp_t resp;
    tk_http ("GET", port, "/metrics", NULL, headers, &resp);
    int64_t value = -1;
    size_t len = strlen (name);
    for (const char *line = resp.body; line && *line; ) {
        if (strncmp (line, name, len) == 0 && line [len] == ' ')
            value = strtoll (line + len + 1, NULL, 10);
        const char *end = strchr (line, '\n');
        line = end? end + 1: NULL;
    }
    tk_resp_reset (&resp);
    return value;
}

//  Places an order for a new customer (tokens sent when issued); returns
//  its orderNo in no.
static void
s_order (int port, char *no, size_t size)
{
    tk_resp_t resp;
    const char *json [] = { "Content-Type: application/json", NULL, NULL };
    tk_http ("POST", port, "/customer", "{\"customerNm\":\"tls\"}", json, &resp);
    assert_int_equal (resp.status, 200);
    char id [64], auth [600];
    snprintf (id, sizeof id, "%s", cJSON_GetObjectItem (resp.json, "customerId")->valuestring);
    cJSON *token = cJSON_GetObjectItem (resp.json, "token");
    if (cJSON_IsString (token)) {
        snprintf (auth, sizeof auth, "Authorization: Bearer %s", token->valuestring);
        json [1] = auth;
    }
    tk_resp_reset (&resp);
    char body [200];
    snprintf (body, sizeof body, "{\"customerId\":\"%s\",\"chargeAmt\":5000}", id);
    tk_http ("POST", port, "/point", body, json, &resp);
    assert_int_equal (resp.status, 200);
    tk_resp_reset (&resp);
    snprintf (body, sizeof body, "{\"customerId\":\"%s\",\"menuList\":"
              "[{\"menuId\":\"MENU-00000002\",\"qy\":1}]}", id);
    tk_http ("POST", port, "/order", body, json, &resp);
    assert_int_equal (resp.status, 200);
    snprintf (no, size, "%s", cJSON_GetObjectItem (resp.json, "orderNo")->valuestring);
    tk_resp_reset (&resp);
}

//  Wrong CA and wrong token retry; the right ones deliver everything once.
static void
test_collector_tls (void **state)
{
    if (s_sh ("command -v openssl >/dev/null") != 0)
        skip ();
    char *dir = tk_tempdir ("coffee-collector-tls");
    assert_non_null (dir);
    char line [3000];
    snprintf (line, sizeof line,
        "(cd '%s' && printf 'subjectAltName=IP:127.0.0.1\\n' > san.ext && "
        "openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 "
        "  -subj /CN=coffee-test-ca && "
        "openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr "
        "  -subj /CN=127.0.0.1 && "
        "openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial "
        "  -out server.pem -days 2 -extfile san.ext && "
        "openssl req -x509 -newkey rsa:2048 -nodes -keyout other-ca.key -out other-ca.pem "
        "  -days 2 -subj /CN=coffee-other-ca) >'%s/openssl.out' 2>&1", dir, dir);
    assert_int_equal (s_sh (line), 0);
    char ca [600], other_ca [600], cert [600], key [600], token [600], wrong [600];
    char admin [600], data [600], mock_log [600];
    snprintf (ca, sizeof ca, "%s/ca.pem", dir);
    snprintf (other_ca, sizeof other_ca, "%s/other-ca.pem", dir);
    snprintf (cert, sizeof cert, "%s/server.pem", dir);
    snprintf (key, sizeof key, "%s/server.key", dir);
    snprintf (token, sizeof token, "%s/collector.token", dir);
    snprintf (wrong, sizeof wrong, "%s/wrong.token", dir);
    snprintf (admin, sizeof admin, "%s/admin.token", dir);
    snprintf (data, sizeof data, "%s/var", dir);
    snprintf (mock_log, sizeof mock_log, "%s/mock.log", dir);
    s_write (token, TOKEN);
    s_write (wrong, "another-token-entirely");
    s_write (admin, ADMIN_TOKEN);
    assert_int_equal (mkdir (data, 0700), 0);

    //  The HTTPS mock collector.
    int mock_port = tk_free_port ();
    char port_text [16];
    snprintf (port_text, sizeof port_text, "%d", mock_port);
    const char *mock_argv [] = { COFFEE_BIN, "mock-collector", "--port", port_text,
                                 "--tls-cert", cert, "--tls-key", key, "--token-file", token,
                                 NULL };
    pid_t mock = tk_spawn (mock_argv, mock_log);
    assert_true (mock > 0);
    int64_t deadline = tk_now_ms () + WAIT_MS;
    while (s_mock_field (mock_port, ca, "count") < 0 && tk_now_ms () < deadline)
        usleep (50 * 1000);
    assert_int_equal (s_mock_field (mock_port, ca, "count"), 0);

    char url [128];
    snprintf (url, sizeof url, "https://127.0.0.1:%d/collect", mock_port);

    //  1. The wrong CA: retried, nothing arrives.
    const char *run1 [] = { "--collector-url", url, "--collector-ca-file", other_ca,
                            "--collector-token-file", token, "--admin-token-file", admin,
                            "--collector-backoff-max-ms", "200", NULL };
    tk_server_t srv;
    assert_int_equal (tk_server_start (&srv, data, run1), 0);
    char first [64], second [64];
    s_order (srv.port, first, sizeof first);
    s_order (srv.port, second, sizeof second);
    deadline = tk_now_ms () + WAIT_MS;
    while (s_metric (srv.port, "coffee_collector_failures_total") < 3 && tk_now_ms () < deadline)
        usleep (50 * 1000);
    assert_true (s_metric (srv.port, "coffee_collector_failures_total") >= 3);
    assert_int_equal (s_metric (srv.port, "coffee_collector_delivered_total"), 0);
    assert_int_equal (s_mock_field (mock_port, ca, "count"), 0);
    assert_int_equal (s_mock_field (mock_port, ca, "unauthorized"), 0);    //  no TLS, no request
    assert_int_equal (tk_server_stop (&srv), 0);

    //  2. The right CA, another token: 401, retried, nothing recorded.
    const char *run2 [] = { "--collector-url", url, "--collector-ca-file", ca,
                            "--collector-token-file", wrong, "--admin-token-file", admin,
                            "--collector-backoff-max-ms", "200", NULL };
    assert_int_equal (tk_server_restart (&srv, run2), 0);
    deadline = tk_now_ms () + WAIT_MS;
    while (s_mock_field (mock_port, ca, "unauthorized") < 2 && tk_now_ms () < deadline)
        usleep (50 * 1000);
    assert_true (s_mock_field (mock_port, ca, "unauthorized") >= 2);
    assert_int_equal (s_mock_field (mock_port, ca, "count"), 0);
    assert_int_equal (tk_server_stop (&srv), 0);

    //  3. The right CA and token: both orders, once each.
    const char *run3 [] = { "--collector-url", url, "--collector-ca-file", ca,
                            "--collector-token-file", token, "--admin-token-file", admin,
                            "--collector-backoff-max-ms", "200", NULL };
    assert_int_equal (tk_server_restart (&srv, run3), 0);
    deadline = tk_now_ms () + WAIT_MS;
    while (s_mock_field (mock_port, ca, "count") < 2 && tk_now_ms () < deadline)
        usleep (50 * 1000);
    cJSON *orders = s_mock_orders (mock_port, ca);
    assert_non_null (orders);
    char *text = cJSON_PrintUnformatted (orders);
    print_message ("mock: %.300s\n", text);
    assert_int_equal ((int) cJSON_GetObjectItem (orders, "count")->valuedouble, 2);
    assert_non_null (strstr (text, first));
    assert_non_null (strstr (text, second));
    free (text);
    cJSON_Delete (orders);
    assert_int_equal (tk_server_stop (&srv), 0);

    kill (mock, SIGTERM);
    assert_int_equal (tk_wait (mock, 10000), 0);
    free (dir);
}

int
main (void)
{
    curl_global_init (CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_collector_tls),
    };
    int rc = cmocka_run_group_tests (tests, NULL, NULL);
    curl_global_cleanup ();
    return rc;
}
