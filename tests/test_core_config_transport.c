/*  Tests of core/config.c's transport rows (issue 9 points 9 and 10): the
    defaults of the retention ages and the prune interval, the repeatable
    --kafka-option list (flags, COFFEE_KAFKA_OPTIONS comma- or
    newline-separated, flags replacing the variable's list, refusals), and
    the admin token reader SIGHUP uses.

    ctest bound: COFFEE_TEST_TIMEOUT 60 s. */
#include "testkit.h"
#include <cmocka.h>
#include "coffee.h"
#include <unistd.h>

//  Retention defaults: a day, a day, 48 h, a round a minute.
static void
test_defaults (void **state)
{
    unsetenv ("COFFEE_KAFKA_OPTIONS");
    config_t cfg;
    char err [256] = "";
    assert_int_equal (tk_config_load (&cfg, err, sizeof err, NULL), 0);
    assert_int_equal (cfg.outbox_retention_s, 86400);
    assert_int_equal (cfg.eventlog_retention_s, 86400);
    assert_int_equal (cfg.idem_retention_s, 172800);
    assert_int_equal (cfg.prune_interval_ms, 60000);
    assert_string_equal (cfg.kafka_options, "");
    assert_string_equal (cfg.log_file, "");
    assert_string_equal (cfg.collector_ca_file, "");
    assert_string_equal (cfg.collector_token_file, "");
    assert_int_equal (tk_config_load (&cfg, err, sizeof err, "--idem-retention", "59", NULL), -1);
    assert_non_null (strstr (err, "--idem-retention"));
    assert_int_equal (tk_config_load (&cfg, err, sizeof err, "--prune-interval-ms", "0",
                                      "--outbox-retention", "0", NULL), 0);
    assert_int_equal (cfg.prune_interval_ms, 0);
    assert_int_equal (cfg.outbox_retention_s, 0);
}

//  --kafka-option gathers lines; the variable splits; flags replace it.
static void
test_kafka_options (void **state)
{
    config_t cfg;
    char err [256] = "";
    unsetenv ("COFFEE_KAFKA_OPTIONS");
    assert_int_equal (tk_config_load (&cfg, err, sizeof err,
                                      "--kafka-option", "security.protocol=SSL",
                                      "--kafka-option", "ssl.ca.location=/etc/ca.pem", NULL), 0);
    assert_string_equal (cfg.kafka_options, "security.protocol=SSL\nssl.ca.location=/etc/ca.pem\n");

    setenv ("COFFEE_KAFKA_OPTIONS", "a.b=1,,c.d=x=y", 1);
    assert_int_equal (tk_config_load (&cfg, err, sizeof err, NULL), 0);
    assert_string_equal (cfg.kafka_options, "a.b=1\nc.d=x=y\n");
    //  A newline separates instead, so a value may hold commas.
    setenv ("COFFEE_KAFKA_OPTIONS", "ssl.cipher.suites=A,B\r\nclient.id=z\n", 1);
    assert_int_equal (tk_config_load (&cfg, err, sizeof err, NULL), 0);
    assert_string_equal (cfg.kafka_options, "ssl.cipher.suites=A,B\nclient.id=z\n");
    //  Flags win: the variable's list is replaced, not extended.
    assert_int_equal (tk_config_load (&cfg, err, sizeof err, "--kafka-option", "e.f=2", NULL), 0);
    assert_string_equal (cfg.kafka_options, "e.f=2\n");

    setenv ("COFFEE_KAFKA_OPTIONS", "novalue", 1);
    assert_int_equal (tk_config_load (&cfg, err, sizeof err, NULL), -1);
    assert_non_null (strstr (err, "COFFEE_KAFKA_OPTIONS: expected key=value"));
    unsetenv ("COFFEE_KAFKA_OPTIONS");
    assert_int_equal (tk_config_load (&cfg, err, sizeof err, "--kafka-option", "=v", NULL), -1);
    assert_non_null (strstr (err, "--kafka-option: expected key=value"));
    //  The list is bounded.
    char big [3000];
    memset (big, 'x', sizeof big - 1);
    big [0] = 'k';
    big [1] = '=';
    big [sizeof big - 1] = '\0';
    assert_int_equal (tk_config_load (&cfg, err, sizeof err, "--kafka-option", big,
                                      "--kafka-option", big, NULL), -1);
    assert_non_null (strstr (err, "too long"));
}

//  config_read_admin_token: what SIGHUP rereads.
static void
test_read_admin_token (void **state)
{
    char *dir = tk_tempdir ("config-token");
    assert_non_null (dir);
    config_t cfg;
    memset (&cfg, 0, sizeof cfg);
    snprintf (cfg.admin_token_file, sizeof cfg.admin_token_file, "%s/token", dir);
    char token [256], err [600];
    assert_int_equal (config_read_admin_token (&cfg, token, sizeof token, err, sizeof err), -1);
    assert_non_null (strstr (err, "No such file"));
    FILE *file = fopen (cfg.admin_token_file, "w");
    fputs ("a-token-of-twenty-bytes\r\nsecond line\n", file);
    fclose (file);
    assert_int_equal (config_read_admin_token (&cfg, token, sizeof token, err, sizeof err), 0);
    assert_string_equal (token, "a-token-of-twenty-bytes");
    file = fopen (cfg.admin_token_file, "w");
    fputs ("short\n", file);
    fclose (file);
    assert_int_equal (config_read_admin_token (&cfg, token, sizeof token, err, sizeof err), -1);
    assert_non_null (strstr (err, "shorter than 16"));
    unlink (cfg.admin_token_file);
    rmdir (dir);
    free (dir);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_defaults),
        cmocka_unit_test (test_kafka_options),
        cmocka_unit_test (test_read_admin_token),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
