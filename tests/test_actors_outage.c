/*  test_actors_outage — the actors when their database goes away and comes
    back: every write answers 503 UNAVAILABLE and changes nothing, health
    says 503, the display actor keeps serving its last snapshot, and all of
    it recovers once the server is back.

    Runs on a private mariadbd started with scripts/mariadb.sh (stopping it
    never disturbs other tests). Like the other MySQL tests it runs only when
    COFFEE_TEST_STORE_URL is set (MySQL tests enabled); otherwise it skips.

    ctest bound: COFFEE_TEST_TIMEOUT 180 s. */
#include "testkit.h"
#include <cmocka.h>
#include <ftw.h>
#include <stdio.h>
#include <sys/wait.h>
#include "actor.h"
#include "actors_testutil.h"

//  How long one actor reply may take.
#define CALL_TIMEOUT_MS 15000

//  The private server, the config on it and the actors under test.
typedef struct {
    char *dir;                  //  temp folder: data dir and the server's folder
    int port;                   //  the server's port
    config_t cfg;               //  stores on the private server
    metrics_t *metrics;         //  counters handed to the actors
    actor_args_t args [3];      //  point, order, display
    zactor_t *actors [3];       //  started actors
    zsock_t *dealers [3];       //  one DEALER per actor
    uint64_t seq;               //  last request seq
} fixture_t;

//  One answer.
typedef struct {
    int status;                 //  status, -1 when no reply came
    char *body;                 //  reply text (zstr_free)
    cJSON *json;                //  parsed body or NULL
} answer_t;


//  Removes one entry of a tree being deleted (nftw callback).
static int
s_remove_entry (const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    remove (path);
    return 0;
}


//  Deletes a temp folder and everything in it, hidden files included.
static void
s_remove_tree (const char *path)
{
    nftw (path, s_remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}


//  Runs scripts/mariadb.sh CMD on the private server; its exit status.
static int
s_mariadb (fixture_t *self, const char *cmd)
{
    char line [1200];
    snprintf (line, sizeof line, "sh '%s/scripts/mariadb.sh' %s '%s/db' %d >/dev/null",
              COFFEE_SOURCE_DIR, cmd, self->dir, self->port);
    int rc = system (line);
    return rc == -1 ? -1 : WEXITSTATUS (rc);
}


//  Starts the server and builds the config; state NULL when MySQL tests are off.
static int
s_setup (void **state)
{
    *state = NULL;
    const char *enabled = getenv ("COFFEE_TEST_STORE_URL");
    if (!enabled || !*enabled)
        return 0;
    fixture_t *self = (fixture_t *) calloc (1, sizeof (fixture_t));
    if (!self)
        return -1;
    *state = self;
    self->dir = tk_tempdir ("coffee-actors-outage");
    self->port = tk_free_port ();
    if (!self->dir || self->port <= 0 || s_mariadb (self, "start") != 0)
        return -1;
    char path [700], pass [128] = "";
    snprintf (path, sizeof path, "%s/db/coffee.password", self->dir);
    FILE *file = fopen (path, "r");
    if (!file)
        return -1;
    char *line = fgets (pass, sizeof pass, file);
    fclose (file);
    if (!line)
        return -1;
    pass [strcspn (pass, "\r\n")] = 0;
    char *argv [] = { "serve", "--data-dir", self->dir, NULL };
    char err [256];
    if (config_load (&self->cfg, 3, argv, err, sizeof err) != 0)
        return -1;
    snprintf (self->cfg.store, sizeof self->cfg.store,
              "mysql://coffee:%s@127.0.0.1:%d/coffee", pass, self->port);
    snprintf (self->cfg.display_store, sizeof self->cfg.display_store,
              "mysql://coffee:%s@127.0.0.1:%d/display", pass, self->port);
    self->cfg.display_refresh_ms = 100;
    self->metrics = metrics_new ();
    return self->metrics ? 0 : -1;
}


//  Stops actors and the server, removes the folder.
static int
s_teardown (void **state)
{
    fixture_t *self = (fixture_t *) *state;
    if (!self)
        return 0;
    for (int i = 0; i < 3; i++)
        zsock_destroy (&self->dealers [i]);
    for (int i = 2; i >= 0; i--)
        zactor_destroy (&self->actors [i]);
    if (self->dir) {
        s_mariadb (self, "stop");
        s_remove_tree (self->dir);
        free (self->dir);
    }
    metrics_destroy (&self->metrics);
    free (self);
    return 0;
}


//  One round trip to actor which (0 point, 1 order, 2 display).
static answer_t
s_call (fixture_t *self, int which, const char *op, const char *arg, const char *body)
{
    wire_request_t req;
    memset (&req, 0, sizeof req);
    req.seq = ++self->seq;
    snprintf (req.rid, sizeof req.rid, "o-%08" PRIx64, req.seq);
    answer_t answer = { -2, NULL, NULL };
    if (at_request_fill (&req, op, arg, body) != 0)
        return answer;              //  the front would have refused it
    if (wire_call (self->dealers [which], &req, CALL_TIMEOUT_MS, &answer.status,
                   &answer.body) != 0)
        answer.status = -1;
    else
        answer.json = cJSON_Parse (answer.body);
    wire_request_reset (&req);
    return answer;
}


//  Frees an answer.
static void
s_answer_reset (answer_t *answer)
{
    zstr_free (&answer->body);
    cJSON_Delete (answer->json);
    answer->json = NULL;
}


//  The status of a call; the answer must be JSON (errors with a code).
static int
s_status (fixture_t *self, int which, const char *op, const char *arg, const char *body,
          char **text)
{
    answer_t answer = s_call (self, which, op, arg, body);
    int status = answer.status;
    bool json_ok = answer.json != NULL;
    if (json_ok && status >= 400) {
        const cJSON *code = cJSON_GetObjectItemCaseSensitive (answer.json, "code");
        json_ok = cJSON_IsString (code);
    }
    if (text) {
        *text = answer.body;
        answer.body = NULL;
    }
    s_answer_reset (&answer);
    if (status != -1 && !json_ok)
        return -2;
    return status;
}


//  Polls op until it answers want, at most timeout_ms; the last status.
static int
s_until (fixture_t *self, int which, const char *op, const char *arg, const char *body,
         int want, int timeout_ms)
{
    int64_t deadline = tk_now_ms () + timeout_ms;
    int status = -1;
    while (true) {
        status = s_status (self, which, op, arg, body, NULL);
        if (status == want || tk_now_ms () >= deadline)
            return status;
        zclock_sleep (100);
    }
}


//  The balance point.get reports, or -1.
static int64_t
s_balance (fixture_t *self, const char *customer_id)
{
    answer_t answer = s_call (self, 0, WIRE_OP_POINT_GET, customer_id, NULL);
    int64_t balance = -1;
    if (answer.status == 200 && cJSON_IsArray (answer.json))
        util_json_int64 (cJSON_GetObjectItemCaseSensitive (
            cJSON_GetArrayItem (answer.json, 0), "point"), &balance);
    s_answer_reset (&answer);
    return balance;
}


//  Stop the database under running actors, then start it again.
static void
test_database_outage (void **state)
{
    fixture_t *self = (fixture_t *) *state;
    if (!self) {
        print_message ("COFFEE_TEST_STORE_URL is not set: skipping (run scripts/mariadb.sh start/env)\n");
        skip ();
    }
    zactor_fn *fns [3] = { point_actor, order_actor, display_actor };
    const char *pools [3] = { ACTOR_POOL_POINT, ACTOR_POOL_ORDER, ACTOR_POOL_DISPLAY };
    for (int i = 0; i < 3; i++) {
        self->args [i] = (actor_args_t) { &self->cfg, self->metrics, 0 };
        self->actors [i] = zactor_new (fns [i], &self->args [i]);
        assert_non_null (self->actors [i]);
        self->dealers [i] = wire_dealer_new (pools [i], 0, CALL_TIMEOUT_MS);
        assert_non_null (self->dealers [i]);
    }

    //  Up: a customer with points and an order.
    char *text = NULL;
    assert_int_equal (s_status (self, 0, WIRE_OP_CUSTOMER_CREATE, NULL,
                                "{\"customerNm\":\"Outage\"}", &text), 200);
    cJSON *json = cJSON_Parse (text);
    zstr_free (&text);
    char id [COFFEE_ID_MAX] = "";
    const cJSON *id_item = cJSON_GetObjectItemCaseSensitive (json, "customerId");
    if (cJSON_IsString (id_item))
        snprintf (id, sizeof id, "%s", id_item->valuestring);
    cJSON_Delete (json);
    assert_true (*id);
    char charge [200], order [300];
    snprintf (charge, sizeof charge, "{\"customerId\":\"%s\",\"chargeAmt\":1000}", id);
    snprintf (order, sizeof order, "{\"customerId\":\"%s\",\"menuList\":"
              "[{\"menuId\":\"MENU-00000001\",\"qy\":1}]}", id);
    for (int i = 0; i < 20; i++)
        assert_int_equal (s_status (self, 0, WIRE_OP_POINT_CHARGE, NULL, charge, NULL), 200);
    assert_int_equal (s_status (self, 1, WIRE_OP_ORDER_CREATE, NULL, order, &text), 200);
    json = cJSON_Parse (text);
    zstr_free (&text);
    int64_t price = -1;
    util_json_int64 (cJSON_GetObjectItemCaseSensitive (json, "orderPrice"), &price);
    cJSON_Delete (json);
    assert_true (price > 0 && price <= 20000);
    int64_t balance = 20000 - price;
    assert_int_equal (s_balance (self, id), balance);
    char *menu_before = NULL;
    assert_int_equal (s_status (self, 2, WIRE_OP_DISPLAY_MENU, NULL, NULL, &menu_before), 200);
    for (int i = 0; i < 3; i++)
        assert_int_equal (s_status (self, i, WIRE_OP_HEALTH, NULL, NULL, NULL), 200);

    //  Down: writes and reads of the command store answer 503, health too.
    assert_int_equal (s_mariadb (self, "stop"), 0);
    assert_int_equal (s_status (self, 0, WIRE_OP_POINT_CHARGE, NULL, charge, NULL), 503);
    assert_int_equal (s_status (self, 1, WIRE_OP_ORDER_CREATE, NULL, order, NULL), 503);
    assert_int_equal (s_status (self, 0, WIRE_OP_CUSTOMER_CREATE, NULL,
                                "{\"customerNm\":\"Nobody\"}", NULL), 503);
    assert_int_equal (s_status (self, 0, WIRE_OP_POINT_GET, id, NULL, NULL), 503);
    assert_int_equal (s_status (self, 0, WIRE_OP_HEALTH, NULL, NULL, NULL), 503);
    assert_int_equal (s_status (self, 1, WIRE_OP_HEALTH, NULL, NULL, NULL), 503);
    //  The display actor notices at its next refresh and keeps its snapshot.
    assert_int_equal (s_until (self, 2, WIRE_OP_HEALTH, NULL, NULL, 503, 10000), 503);
    char *menu_during = NULL;
    assert_int_equal (s_status (self, 2, WIRE_OP_DISPLAY_MENU, NULL, NULL, &menu_during), 200);
    bool same = menu_during && streq (menu_during, menu_before);
    zstr_free (&menu_during);
    zstr_free (&menu_before);
    assert_true (same);
    assert_int_equal (s_status (self, 2, WIRE_OP_DISPLAY_BEST, NULL, NULL, NULL), 200);

    //  Back: everything recovers, and nothing refused above had changed anything.
    assert_int_equal (s_mariadb (self, "start"), 0);
    assert_int_equal (s_until (self, 0, WIRE_OP_HEALTH, NULL, NULL, 200, 20000), 200);
    assert_int_equal (s_until (self, 1, WIRE_OP_HEALTH, NULL, NULL, 200, 20000), 200);
    assert_int_equal (s_until (self, 2, WIRE_OP_HEALTH, NULL, NULL, 200, 20000), 200);
    assert_int_equal (s_balance (self, id), balance);
    assert_int_equal (s_status (self, 0, WIRE_OP_POINT_CHARGE, NULL, charge, NULL), 200);
    assert_int_equal (s_status (self, 1, WIRE_OP_ORDER_CREATE, NULL, order, NULL), 200);
    assert_int_equal (s_balance (self, id), balance + 1000 - price);
}


//  Runs the test quietly (errors only).
int
main (void)
{
    log_set_level (LOG_LEVEL_ERROR);
    const struct CMUnitTest tests [] = {
        cmocka_unit_test_setup_teardown (test_database_outage, s_setup, s_teardown),
    };
    int rc = cmocka_run_group_tests (tests, NULL, NULL);
    zsys_shutdown ();
    return rc;
}
