/*  Tests of the collector backends (bridge/collector.c) and of `coffee
    mock-collector` (bridge/mock_collector.c) run as its own process.

    ctest bound: COFFEE_TEST_TIMEOUT 120 s. */
#include "testkit.h"
#include <cmocka.h>
#include "coffee.h"
#include "collector.h"
#include "bridge_testutil.h"

//  A config on a new temporary data dir with collector_url set to url
//  (NULL keeps config_load's default).
static config_t *
s_cfg_new (const char *url)
{
    char *dir = tk_tempdir ("bridge-collector");
    assert_non_null (dir);
    char *argv [] = { "test", "--data-dir", dir, NULL };
    config_t *cfg = (config_t *) calloc (1, sizeof (config_t));
    char err [256] = "";
    int rc = config_load (cfg, 3, argv, err, sizeof err);
    free (dir);
    assert_int_equal (rc, 0);
    if (url)
        snprintf (cfg->collector_url, sizeof cfg->collector_url, "%s", url);
    return cfg;
}

//  The whole file at path as a string (free).
static char *
s_slurp (const char *path)
{
    FILE *file = fopen (path, "r");
    assert_non_null (file);
    char *text = (char *) calloc (1, 65536);
    size_t n = fread (text, 1, 65535, file);
    text [n] = 0;
    fclose (file);
    return text;
}

//  The file backend appends exactly one line per event, across reopens.
static void
test_file_lines (void **state)
{
    config_t *cfg = s_cfg_new (NULL);
    char path [700];
    snprintf (path, sizeof path, "%s/out.jsonl", cfg->data_dir);
    snprintf (cfg->collector_url, sizeof cfg->collector_url, "file:%s", path);
    char err [256] = "";
    collector_t *collector = collector_new (cfg, err, sizeof err);
    assert_non_null (collector);
    const char *a = "{\"orderNo\":\"ORD-00000001\",\"payAmt\":4200}";
    const char *b = "{\"orderNo\":\"ORD-00000002\",\"payAmt\":100}";
    assert_int_equal (collector_deliver (collector, "ORD-00000001", a, strlen (a), 1000), 0);
    assert_int_equal (collector_deliver (collector, "ORD-00000002", b, strlen (b), 1000), 0);
    //  A newline would split the line: refused
    assert_int_equal (collector_deliver (collector, "ORD-3", "{\n}", 3, 1000), -1);
    collector_destroy (&collector);
    assert_null (collector);
    collector_destroy (&collector);

    collector = collector_new (cfg, err, sizeof err);
    assert_non_null (collector);
    assert_int_equal (collector_deliver (collector, "ORD-00000001", a, strlen (a), 1000), 0);
    collector_destroy (&collector);

    char *text = s_slurp (path);
    char expect [512];
    snprintf (expect, sizeof expect, "%s\n%s\n%s\n", a, b, a);
    assert_string_equal (text, expect);
    free (text);
    free (cfg);
}

//  "" means <data_dir>/collector.jsonl; an unknown scheme is refused.
static void
test_file_default_and_bad_url (void **state)
{
    config_t *cfg = s_cfg_new ("");
    char err [256] = "";
    collector_t *collector = collector_new (cfg, err, sizeof err);
    assert_non_null (collector);
    assert_int_equal (collector_deliver (collector, "ORD-9", "{}", 2, 1000), 0);
    collector_destroy (&collector);
    char path [700];
    snprintf (path, sizeof path, "%s/collector.jsonl", cfg->data_dir);
    char *text = s_slurp (path);
    assert_string_equal (text, "{}\n");
    free (text);

    snprintf (cfg->collector_url, sizeof cfg->collector_url, "ftp://example/x");
    assert_null (collector_new (cfg, err, sizeof err));
    assert_true (strstr (err, "ftp://") != NULL);
    snprintf (cfg->collector_url, sizeof cfg->collector_url, "file:/nonexistent-dir/x/y.jsonl");
    assert_null (collector_new (cfg, err, sizeof err));
    free (cfg);
}

//  The http backend against the mock: delivered, duplicate dropped, 503
//  then success on retry, a slow receiver times out, a down one fails fast.
static void
test_http_against_mock (void **state)
{
    int port = tk_free_port ();
    char *dir = tk_tempdir ("bridge-mock");
    char record [600];
    snprintf (record, sizeof record, "%s/record.jsonl", dir);
    const char *extra [] = { "--record", record, NULL };
    pid_t mock = bt_mock_start (port, extra);
    assert_true (mock > 0);

    char url [128];
    snprintf (url, sizeof url, "http://127.0.0.1:%d/collect", port);
    config_t *cfg = s_cfg_new (url);
    char err [256] = "";
    collector_t *collector = collector_new (cfg, err, sizeof err);
    assert_non_null (collector);

    const char *a = "{\"orderNo\":\"ORD-00000001\",\"payAmt\":4200}";
    const char *b = "{\"orderNo\":\"ORD-00000002\",\"payAmt\":100}";
    assert_int_equal (collector_deliver (collector, "ORD-00000001", a, strlen (a), 2000), 0);
    assert_int_equal (bt_mock_count (port), 1);

    //  The same order again: accepted (2xx) but not recorded twice
    assert_int_equal (collector_deliver (collector, "ORD-00000001", a, strlen (a), 2000), 0);
    cJSON *orders = bt_mock_orders (port);
    assert_non_null (orders);
    assert_int_equal (cJSON_GetObjectItem (orders, "count")->valueint, 1);
    assert_int_equal (cJSON_GetObjectItem (orders, "duplicates")->valueint, 1);
    cJSON *first = cJSON_GetArrayItem (cJSON_GetObjectItem (orders, "orders"), 0);
    assert_string_equal (cJSON_GetObjectItem (first, "orderNo")->valuestring, "ORD-00000001");
    assert_int_equal (cJSON_GetObjectItem (first, "payAmt")->valueint, 4200);
    cJSON_Delete (orders);

    //  Failing twice (503), then delivered on the third attempt
    assert_int_equal (bt_mock_control (port, "{\"failFirst\":2}"), 200);
    assert_int_equal (collector_deliver (collector, "ORD-00000002", b, strlen (b), 2000), -1);
    assert_int_equal (collector_deliver (collector, "ORD-00000002", b, strlen (b), 2000), -1);
    assert_int_equal (bt_mock_count (port), 1);
    assert_int_equal (collector_deliver (collector, "ORD-00000002", b, strlen (b), 2000), 0);
    assert_int_equal (bt_mock_count (port), 2);

    //  Not an order event: the receiver answers 400, the caller must retry
    assert_int_equal (collector_deliver (collector, "X", "not json", 8, 2000), -1);
    assert_int_equal (collector_deliver (collector, "X", "{\"a\":1}", 7, 2000), -1);

    //  A slow receiver: the attempt gives up within its time limit
    assert_int_equal (bt_mock_control (port, "{\"delayMs\":1500}"), 200);
    int64_t start = tk_now_ms ();
    const char *c = "{\"orderNo\":\"ORD-00000003\"}";
    assert_int_equal (collector_deliver (collector, "ORD-00000003", c, strlen (c), 200), -1);
    assert_true (tk_now_ms () - start < 1200);
    assert_int_equal (bt_mock_control (port, "{\"delayMs\":0}"), 200);

    //  Always failing: --fail-rate via control
    assert_int_equal (bt_mock_control (port, "{\"failRate\":1}"), 200);
    assert_int_equal (collector_deliver (collector, "ORD-00000003", c, strlen (c), 2000), -1);
    assert_int_equal (bt_mock_control (port, "{\"failRate\":0}"), 200);
    assert_int_equal (collector_deliver (collector, "ORD-00000003", c, strlen (c), 2000), 0);

    //  Bad control bodies change nothing
    assert_int_equal (bt_mock_control (port, "{\"failRate\":2}"), 400);
    assert_int_equal (bt_mock_control (port, "{\"delayMs\":-1}"), 400);
    assert_int_equal (bt_mock_control (port, "[1]"), 400);
    assert_int_equal (collector_deliver (collector, "ORD-00000004", "{\"orderNo\":\"ORD-00000004\"}",
                                         26, 2000), 0);
    assert_int_equal (bt_mock_count (port), 4);

    //  Clean stop on SIGTERM; the record file holds each order once
    assert_int_equal (bt_mock_stop (mock), 0);
    char *text = s_slurp (record);
    char expect [512];
    snprintf (expect, sizeof expect, "%s\n%s\n%s\n%s\n", a, b, c, "{\"orderNo\":\"ORD-00000004\"}");
    assert_string_equal (text, expect);
    free (text);

    //  Down: fails fast
    start = tk_now_ms ();
    assert_int_equal (collector_deliver (collector, "ORD-00000005", c, strlen (c), 2000), -1);
    assert_true (tk_now_ms () - start < 1000);

    collector_destroy (&collector);
    free (cfg);
    free (dir);
}

//  Bad flags make the mock exit 2 without listening.
static void
test_mock_bad_flags (void **state)
{
    const char *bad [][4] = {
        { "mock-collector", NULL },
        { "mock-collector", "--port", "0", NULL },
        { "mock-collector", "--port", "80x", NULL },
        { "mock-collector", "--port", "8080", "--fail-rate" },
    };
    char *argv4 [] = { "mock-collector", "--port", "8080", "--fail-rate", "1.5", NULL };
    for (size_t i = 0; i < 3; i++) {
        int argc = 0;
        while (argc < 4 && bad [i][argc])
            argc++;
        assert_int_equal (bridge_mock_collector_main (argc, (char **) bad [i]), 2);
    }
    assert_int_equal (bridge_mock_collector_main (5, argv4), 2);
}

int
main (void)
{
    log_set_level (LOG_LEVEL_WARN);
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_file_lines),
        cmocka_unit_test (test_file_default_and_bad_url),
        cmocka_unit_test (test_http_against_mock),
        cmocka_unit_test (test_mock_bad_flags),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
