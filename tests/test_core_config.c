/*  Tests of core/config.c: defaults, environment, flags, refusals.

    ctest bound: COFFEE_TEST_TIMEOUT 60 s. */
#include "testkit.h"
#include <cmocka.h>
#include "coffee.h"
#include <unistd.h>

static void
test_defaults (void **state)
{
    config_t cfg;
    char err [256] = "";
    assert_int_equal (tk_config_load (&cfg, err, sizeof err, NULL), 0);
    assert_int_equal (cfg.port, 8080);
    assert_string_equal (cfg.data_dir, "./var");
    assert_string_equal (cfg.store, "sqlite:./var/command.db");
    assert_string_equal (cfg.display_store, "sqlite:./var/display.db");
    assert_string_equal (cfg.collector_url, "file:./var/collector.jsonl");
    assert_string_equal (cfg.bridge, "local");
    assert_string_equal (cfg.kafka_topic, "order-events");
    assert_int_equal (cfg.role, ROLE_ALL);
    assert_true (cfg.point_actors >= 1 && cfg.display_actors >= 1);
    assert_int_equal (cfg.order_actors, 1);             //  SQLite has one writer
    assert_int_equal (cfg.lane_requests, 64);           //  a group's worth per lane
    assert_int_equal (cfg.request_timeout_ms, 5000);
    assert_int_equal (cfg.max_body, 65536);
    //  One HTTP worker per online CPU, unless a count is given
    assert_int_equal (cfg.http_threads, (int) sysconf (_SC_NPROCESSORS_ONLN));
    assert_int_equal (tk_config_load (&cfg, err, sizeof err, "--http-threads", "3", NULL), 0);
    assert_int_equal (cfg.http_threads, 3);
    //  On MySQL the order actors default to 2; a count given stands
    assert_int_equal (tk_config_load (&cfg, err, sizeof err, "--store", "mysql://u:p@h:1/coffee",
                                      NULL), 0);
    assert_int_equal (cfg.order_actors, 2);
    assert_int_equal (tk_config_load (&cfg, err, sizeof err, "--order-actors", "3", NULL), 0);
    assert_int_equal (cfg.order_actors, 3);
    setenv ("COFFEE_LANE_REQUESTS", "0", 1);            //  every actor a lane
    assert_int_equal (tk_config_load (&cfg, err, sizeof err, NULL), 0);
    assert_int_equal (cfg.lane_requests, 0);
    unsetenv ("COFFEE_LANE_REQUESTS");
}

static void
test_env_and_flags (void **state)
{
    config_t cfg;
    char err [256] = "";
    setenv ("COFFEE_PORT", "9001", 1);
    setenv ("COFFEE_ORDER_ACTORS", "7", 1);
    setenv ("COFFEE_ROLE", "display", 1);
    assert_int_equal (tk_config_load (&cfg, err, sizeof err, "--port", "9002",
                                      "--data-dir", "/tmp/x", NULL), 0);
    assert_int_equal (cfg.port, 9002);                  //  the flag wins
    assert_int_equal (cfg.order_actors, 7);             //  the environment over the default
    assert_int_equal (cfg.role, ROLE_DISPLAY);
    assert_string_equal (cfg.store, "sqlite:/tmp/x/command.db");
    unsetenv ("COFFEE_PORT");
    unsetenv ("COFFEE_ORDER_ACTORS");
    unsetenv ("COFFEE_ROLE");
}

static void
test_refusals (void **state)
{
    config_t cfg;
    char err [256];
    const char *bad [][3] = {
        { "--port", "0", "--port" }, { "--port", "65536", "--port" }, { "--port", "80x", "--port" },
        { "--point-actors", "0", "--point-actors" }, { "--role", "both", "--role" },
        { "--bridge", "rabbit", "--bridge" }, { "--bridge", "kafka", "--kafka-brokers" },
        { "--store", "postgres://x", "--store" }, { "--collector-url", "ftp://x", "--collector-url" },
        { "--max-body", "-1", "--max-body" }, { "--request-timeout-ms", "", "--request-timeout-ms" },
        { "--nope", "1", "unknown option" }, { "--log-level", "loud", "--log-level" },
        { "--lane-requests", "-1", "--lane-requests" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad [0]; i++) {
        err [0] = 0;
        assert_int_equal (tk_config_load (&cfg, err, sizeof err, bad [i][0], bad [i][1], NULL), -1);
        if (!strstr (err, bad [i][2]))
            fail_msg ("%s %s: %s", bad [i][0], bad [i][1], err);
    }
    err [0] = 0;
    setenv ("COFFEE_HTTP_THREADS", "lots", 1);
    assert_int_equal (tk_config_load (&cfg, err, sizeof err, NULL), -1);
    assert_non_null (strstr (err, "COFFEE_HTTP_THREADS"));
    unsetenv ("COFFEE_HTTP_THREADS");
    assert_int_equal (tk_config_load (&cfg, err, sizeof err, "--store", "sqlite:/a",
                                      "--display-store", "sqlite:/a", NULL), -1);
    assert_int_equal (tk_config_load (&cfg, err, sizeof err, "extra", NULL), -1);
}

static void
test_help_lists_every_variable (void **state)
{
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream (&text, &len);
    config_print_help (out);
    fclose (out);
    const char *expected [] = {
        "--port", "COFFEE_PORT", "--data-dir", "COFFEE_DATA_DIR", "--point-actors",
        "--order-actors", "--display-actors", "--store", "--display-store", "--collector-url",
        "--request-timeout-ms", "--max-body", "COFFEE_MAX_BODY", "--role", "--bridge",
        "--kafka-brokers", "COFFEE_KAFKA_TOPIC", "--admin-token-file", "COFFEE_ADMIN_TOKEN_FILE"
    };
    for (size_t i = 0; i < sizeof expected / sizeof expected [0]; i++)
        assert_non_null (strstr (text, expected [i]));
    free (text);
}

//  Writes text into a new file under dir and returns its path in path.
static void
s_write (const char *dir, const char *name, const char *text, char *path, size_t size)
{
    snprintf (path, size, "%s/%s", dir, name);
    FILE *file = fopen (path, "w");
    assert_non_null (file);
    fputs (text, file);
    fclose (file);
}

//  The admin token comes from the file --admin-token-file (or
//  COFFEE_ADMIN_TOKEN_FILE) names: its first line without the line end;
//  an empty, short, spaced or missing file fails the start with a reason.
static void
test_admin_token_file (void **state)
{
    char dir [] = "/tmp/coffee-config-XXXXXX";
    assert_non_null (mkdtemp (dir));
    config_t cfg;
    char err [256], path [512];
    assert_int_equal (tk_config_load (&cfg, err, sizeof err, NULL), 0);
    assert_string_equal (cfg.admin_token, "");          //  none: admin routes off

    s_write (dir, "good", "s3cret-admin-token-0123456789\nsecond line\n", path, sizeof path);
    assert_int_equal (tk_config_load (&cfg, err, sizeof err, "--admin-token-file", path, NULL), 0);
    assert_string_equal (cfg.admin_token, "s3cret-admin-token-0123456789");
    setenv ("COFFEE_ADMIN_TOKEN_FILE", path, 1);
    assert_int_equal (tk_config_load (&cfg, err, sizeof err, NULL), 0);
    assert_string_equal (cfg.admin_token, "s3cret-admin-token-0123456789");
    unsetenv ("COFFEE_ADMIN_TOKEN_FILE");

    const char *bad [][2] = {
        { "empty", "" }, { "blank", "\n" }, { "short", "abc\n" },
        { "spaced", "a token with spaces in it\n" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad [0]; i++) {
        s_write (dir, bad [i][0], bad [i][1], path, sizeof path);
        err [0] = 0;
        assert_int_equal (tk_config_load (&cfg, err, sizeof err, "--admin-token-file", path,
                                          NULL), -1);
        if (!strstr (err, "--admin-token-file"))
            fail_msg ("%s: %s", bad [i][0], err);
        unlink (path);
    }
    snprintf (path, sizeof path, "%s/missing", dir);
    assert_int_equal (tk_config_load (&cfg, err, sizeof err, "--admin-token-file", path, NULL), -1);
    assert_non_null (strstr (err, "No such file"));
    unlink (strcat (strcpy (path, dir), "/good"));
    rmdir (dir);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_defaults),
        cmocka_unit_test (test_env_and_flags),
        cmocka_unit_test (test_refusals),
        cmocka_unit_test (test_help_lists_every_variable),
        cmocka_unit_test (test_admin_token_file),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
