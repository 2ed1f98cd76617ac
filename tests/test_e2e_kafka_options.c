/*  test_e2e_kafka_options — --kafka-option reaches librdkafka (issue 9
    point 9), on the real binary with coffee-mock-broker.

    - A key librdkafka does not know fails the start (exit 2) with
      librdkafka's own message, from the flag and from COFFEE_KAFKA_OPTIONS;
      so does a value @/path whose file is not there.
    - With --kafka-option client.id=… and debug=conf (and sasl.username /
      sasl.password=@FILE, which librdkafka keeps but a PLAINTEXT broker
      never asks for), the producer and both consumers print their
      configuration: the client.id we gave appears once per client, the
      secret read from the file never appears, and an order still goes
      through Kafka to the collector.

    ctest bound: COFFEE_TEST_TIMEOUT 180 s. */
#include "testkit.h"
#include "mock_broker_kit.h"
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define START_MS   20000        //  bound on a refused start
#define WAIT_MS    30000        //  bound on an order reaching the collector
#define SECRET     "kafka-secret-never-printed-4711"
#define CLIENT_ID  "coffee-e2e-client-7f3a"

//  The whole of a file, or NULL. Caller frees.
static char *
s_read (const char *path)
{
    FILE *file = fopen (path, "r");
    if (!file)
        return NULL;
    char *text = calloc (1, 4 << 20);
    size_t n = fread (text, 1, (4 << 20) - 1, file);
    text [n] = '\0';
    fclose (file);
    return text;
}

//  Occurrences of needle in text.
static int
s_count (const char *text, const char *needle)
{
    int n = 0;
    for (const char *p = text; p && (p = strstr (p, needle)); p += strlen (needle))
        n++;
    return n;
}

//  Runs coffee serve with args (after the common ones) and expects exit 2
//  with needle in its output.
static void
s_refused (const char *dir, const char *const *args, const char *needle)
{
    char log [700], port [16];
    snprintf (log, sizeof log, "%s/refused.log", dir);
    unlink (log);                   //  this run's output only
    snprintf (port, sizeof port, "%d", tk_free_port ());
    const char *argv [32] = {
        COFFEE_BIN, "serve", "--bind", "127.0.0.1", "--port", port, "--data-dir", dir,
        "--bridge", "kafka", "--kafka-brokers", "127.0.0.1:1"
    };
    int n = 12;
    for (int i = 0; args [i] && n < 31; i++)
        argv [n++] = args [i];
    argv [n] = NULL;
    pid_t pid = tk_spawn (argv, log);
    assert_true (pid > 0);
    int status = tk_wait (pid, START_MS);
    char *text = s_read (log);
    print_message ("exit %d: %s", status, text? text: "");
    assert_int_equal (status, 2);
    assert_non_null (text);
    if (!strstr (text, needle))
        fail_msg ("'%s' not in: %s", needle, text);
    assert_null (strstr (text, SECRET));
    free (text);
}

//  Bad keys and unreadable secret files fail the start.
static void
test_refused (void **state)
{
    char *dir = tk_tempdir ("coffee-kafka-options");
    assert_non_null (dir);
    const char *bad_key [] = { "--kafka-option", "no.such.property=1", NULL };
    s_refused (dir, bad_key, "--kafka-option no.such.property: No such configuration property");
    const char *bad_value [] = { "--kafka-option", "acks=sometimes", NULL };
    s_refused (dir, bad_value, "--kafka-option acks:");
    char missing [700];
    snprintf (missing, sizeof missing, "sasl.password=@%s/nowhere", dir);
    const char *bad_file [] = { "--kafka-option", missing, NULL };
    s_refused (dir, bad_file, "nowhere: No such file or directory");
    const char *not_pair [] = { "--kafka-option", "client.id", NULL };
    s_refused (dir, not_pair, "--kafka-option: expected key=value");

    //  From the environment: comma-separated.
    setenv ("COFFEE_KAFKA_OPTIONS", "client.id=x,bogus.key=y", 1);
    const char *none [] = { NULL };
    s_refused (dir, none, "--kafka-option bogus.key: No such configuration property");
    //  A flag replaces the variable's list.
    const char *flag_wins [] = { "--kafka-option", "other.bogus=1", NULL };
    s_refused (dir, flag_wins, "--kafka-option other.bogus:");
    unsetenv ("COFFEE_KAFKA_OPTIONS");
    free (dir);
}

//  The options reach every client, the secret stays out of the log, and
//  orders flow.
static void
test_options_reach_librdkafka (void **state)
{
    mb_t broker;
    assert_int_equal (mb_start (&broker, 1, 3, "order-events"), 0);
    char *dir = tk_tempdir ("coffee-kafka-options");
    assert_non_null (dir);
    char secret_file [600], secret_opt [700];
    snprintf (secret_file, sizeof secret_file, "%s/sasl.password", dir);
    FILE *file = fopen (secret_file, "w");
    assert_non_null (file);
    fputs (SECRET "\n", file);
    fclose (file);
    snprintf (secret_opt, sizeof secret_opt, "sasl.password=@%s", secret_file);
    const char *extra [] = {
        "--bridge", "kafka", "--kafka-brokers", broker.bootstrap,
        "--kafka-option", "client.id=" CLIENT_ID, "--kafka-option", "debug=conf",
        "--kafka-option", "sasl.username=coffee", "--kafka-option", secret_opt,
        "--log-level", "debug", NULL
    };
    tk_server_t srv;
    assert_int_equal (tk_server_start (&srv, NULL, extra), 0);

    //  An order goes through Kafka to the collector (the file under the
    //  data dir). Tokens, when the server issues them, are sent.
    tk_resp_t resp;
    const char *json [] = { "Content-Type: application/json", NULL, NULL };
    tk_http ("POST", srv.port, "/customer", "{\"customerNm\":\"kafka\"}", json, &resp);
    assert_int_equal (resp.status, 200);
    char id [64], auth [600] = "";
    snprintf (id, sizeof id, "%s", cJSON_GetObjectItem (resp.json, "customerId")->valuestring);
    cJSON *token = cJSON_GetObjectItem (resp.json, "token");
    if (cJSON_IsString (token)) {
        snprintf (auth, sizeof auth, "Authorization: Bearer %s", token->valuestring);
        json [1] = auth;
    }
    tk_resp_reset (&resp);
    char body [200];
    snprintf (body, sizeof body, "{\"customerId\":\"%s\",\"chargeAmt\":5000}", id);
    tk_http ("POST", srv.port, "/point", body, json, &resp);
    assert_int_equal (resp.status, 200);
    tk_resp_reset (&resp);
    snprintf (body, sizeof body, "{\"customerId\":\"%s\",\"menuList\":"
              "[{\"menuId\":\"MENU-00000001\",\"qy\":1}]}", id);
    tk_http ("POST", srv.port, "/order", body, json, &resp);
    assert_int_equal (resp.status, 200);
    char order_no [64];
    snprintf (order_no, sizeof order_no, "%s",
              cJSON_GetObjectItem (resp.json, "orderNo")->valuestring);
    tk_resp_reset (&resp);
    char collected [700];
    snprintf (collected, sizeof collected, "%s/collector.jsonl", srv.data_dir);
    int64_t deadline = tk_now_ms () + WAIT_MS;
    char *text = NULL;
    while (tk_now_ms () < deadline) {
        free (text);
        text = s_read (collected);
        if (text && strstr (text, order_no))
            break;
        usleep (100 * 1000);
    }
    assert_non_null (text);
    assert_non_null (strstr (text, order_no));
    free (text);
    assert_int_equal (tk_server_stop (&srv), 0);

    //  Producer, display consumer and collector consumer each printed
    //  the client.id we set; the secret went nowhere.
    char *log = s_read (srv.log_path);
    assert_non_null (log);
    int clients = s_count (log, "client.id = " CLIENT_ID);
    print_message ("client.id printed by %d clients\n", clients);
    assert_true (clients >= 3);
    assert_null (strstr (log, SECRET));
    free (log);
    free (dir);
    mb_stop (&broker, false);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_refused),
        cmocka_unit_test (test_options_reach_librdkafka),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
