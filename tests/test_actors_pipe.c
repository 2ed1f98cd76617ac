/*  test_actors_pipe — the point, order and display actors through their
    pipes and wire.h, czmq self-test style: each test makes its own data
    dir and config, starts actors with zactor_new, talks to them over a
    DEALER with timeouts (a stuck actor fails the test instead of hanging),
    asserts in the test thread only, then destroys the actors. */
#include "testkit.h"
#include <cmocka.h>
#include <ftw.h>
#include <stdio.h>
#include <pthread.h>
#include "actor.h"
#include "bridge.h"
#include "display_store.h"

//  How long a test waits for one actor reply (sanitizer builds are slow).
#define CALL_TIMEOUT_MS 10000

//  Actors and clients one test may start.
#define FIXTURE_MAX 4

//  One caller: a DEALER to one actor and the next seq to use.
typedef struct {
    zsock_t *dealer;            //  connected to wire_endpoint(pool, index)
    uint64_t seq;               //  last seq sent
} client_t;

//  What every test starts from. Actors and clients live here so teardown
//  stops them even when an assert ended the test early.
typedef struct {
    char *dir;                  //  fresh data dir (removed in teardown)
    config_t cfg;               //  config_load of "serve --data-dir dir"
    metrics_t *metrics;         //  counters handed to the actors
    actor_args_t args [FIXTURE_MAX];    //  one per actor, outlives it
    zactor_t *actors [FIXTURE_MAX];     //  started actors
    size_t actor_count;                 //  entries used in args/actors
    client_t clients [FIXTURE_MAX];     //  open clients
    size_t client_count;                //  entries used in clients
    zsock_t *pull;                      //  bound at BRIDGE_OUTBOX_WAKE, or NULL
} fixture_t;

//  One answer.
typedef struct {
    int status;                 //  HTTP-like status, -1 when no reply came
    char *body;                 //  reply text (zstr_free)
    cJSON *json;                //  parsed body, NULL if not JSON
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


//  Makes a data dir and a config for it.
static int
s_setup (void **state)
{
    fixture_t *self = (fixture_t *) calloc (1, sizeof (fixture_t));
    assert_non_null (self);
    self->dir = tk_tempdir ("coffee-actors");
    assert_non_null (self->dir);
    char *argv [] = { "serve", "--data-dir", self->dir, NULL };
    char err [256] = "";
    assert_int_equal (config_load (&self->cfg, 3, argv, err, sizeof err), 0);
    self->cfg.display_refresh_ms = 100;
    self->metrics = metrics_new ();
    assert_non_null (self->metrics);
    *state = self;
    return 0;
}


//  Removes the data dir and frees the fixture.
static int
s_teardown (void **state)
{
    fixture_t *self = (fixture_t *) *state;
    for (size_t i = 0; i < self->client_count; i++)
        zsock_destroy (&self->clients [i].dealer);
    zsock_destroy (&self->pull);
    for (size_t i = self->actor_count; i > 0; i--)
        zactor_destroy (&self->actors [i - 1]);
    s_remove_tree (self->dir);
    metrics_destroy (&self->metrics);
    free (self->dir);
    free (self);
    return 0;
}


//  Connects a client to one actor; teardown closes it.
static client_t *
s_client_open (fixture_t *self, const char *pool, int index)
{
    assert_true (self->client_count < FIXTURE_MAX);
    client_t *client = &self->clients [self->client_count++];
    client->dealer = wire_dealer_new (pool, index, CALL_TIMEOUT_MS);
    client->seq = 0;
    assert_non_null (client->dealer);
    return client;
}


//  One request/reply; never asserts, so threads may use it.
static answer_t
s_call (client_t *client, const char *op, const char *arg, const char *idem,
        const char *body, int timeout_ms)
{
    wire_request_t req;
    memset (&req, 0, sizeof req);
    snprintf (req.rid, sizeof req.rid, "t-%08" PRIx64, ++client->seq);
    req.seq = client->seq;
    snprintf (req.op, sizeof req.op, "%s", op);
    snprintf (strncmp (arg ? arg : "", "ORD-", 4) == 0 ? req.cmd.order_no : req.cmd.customer_id,
              COFFEE_ID_MAX, "%s", arg ? arg : "");
    snprintf (req.idem, sizeof req.idem, "%s", idem ? idem : "");
    req.body = (char *) (body ? body : "");
    answer_t answer = { -1, NULL, NULL };
    if (wire_call (client->dealer, &req, timeout_ms, &answer.status, &answer.body) != 0) {
        answer.status = -1;
        return answer;
    }
    answer.json = answer.body ? cJSON_Parse (answer.body) : NULL;
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


//  Asserts the answer is status with a JSON body, and returns the JSON.
static const cJSON *
s_expect (const answer_t *answer, int status)
{
    if (answer->status != status)
        print_error ("expected %d, got %d: %s\n", status, answer->status,
                     answer->body ? answer->body : "(no body)");
    assert_int_equal (answer->status, status);
    assert_non_null (answer->json);
    return answer->json;
}


//  Asserts an error answer with status and code.
static void
s_expect_error (client_t *client, const char *op, const char *arg, const char *idem,
                const char *body, int status, const char *code)
{
    answer_t answer = s_call (client, op, arg, idem, body, CALL_TIMEOUT_MS);
    const cJSON *json = s_expect (&answer, status);
    const cJSON *code_item = cJSON_GetObjectItemCaseSensitive (json, "code");
    assert_true (cJSON_IsString (code_item));
    if (code)
        assert_string_equal (code_item->valuestring, code);
    assert_true (cJSON_IsString (cJSON_GetObjectItemCaseSensitive (json, "message")));
    s_answer_reset (&answer);
}


//  Reads a whole-number member or fails the test.
static int64_t
s_int (const cJSON *obj, const char *name)
{
    int64_t value = 0;
    assert_int_equal (util_json_int64 (cJSON_GetObjectItemCaseSensitive (obj, name), &value), 0);
    return value;
}


//  Reads a string member or fails the test.
static const char *
s_str (const cJSON *obj, const char *name)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive (obj, name);
    assert_true (cJSON_IsString (item));
    return item->valuestring;
}


//  Starts an actor; teardown destroys it.
static zactor_t *
s_actor_start (fixture_t *self, zactor_fn *fn, int index)
{
    assert_true (self->actor_count < FIXTURE_MAX);
    actor_args_t *args = &self->args [self->actor_count];
    args->cfg = &self->cfg;
    args->metrics = self->metrics;
    args->index = index;
    zactor_t *actor = zactor_new (fn, args);
    assert_non_null (actor);
    self->actors [self->actor_count++] = actor;
    return actor;
}


//  Creates a customer through a point client; returns its id in buf.
static void
s_customer_new (client_t *point, const char *name, char *buf, size_t len)
{
    char body [200];
    snprintf (body, sizeof body, "{\"customerNm\":\"%s\"}", name);
    answer_t answer = s_call (point, WIRE_OP_CUSTOMER_CREATE, NULL, NULL, body, CALL_TIMEOUT_MS);
    const char *id = s_str (s_expect (&answer, 200), "customerId");
    assert_true (strncmp (id, "CUST-", 5) == 0);
    snprintf (buf, len, "%s", id);
    s_answer_reset (&answer);
}


//  Charges amount and checks before/after; returns the new balance.
static int64_t
s_charge (client_t *point, const char *customer_id, int64_t amount, int64_t before)
{
    char body [200];
    snprintf (body, sizeof body, "{\"customerId\":\"%s\",\"chargeAmt\":%" PRId64 "}",
              customer_id, amount);
    answer_t answer = s_call (point, WIRE_OP_POINT_CHARGE, NULL, NULL, body, CALL_TIMEOUT_MS);
    const cJSON *json = s_expect (&answer, 200);
    assert_int_equal (s_int (json, "beforeChargePoint"), before);
    assert_int_equal (s_int (json, "chargeAmt"), amount);
    assert_int_equal (s_int (json, "afterChargePoint"), before + amount);
    s_answer_reset (&answer);
    return before + amount;
}


//  The balance point.get reports for a customer.
static int64_t
s_balance (client_t *point, const char *customer_id, int *details)
{
    answer_t answer = s_call (point, WIRE_OP_POINT_GET, customer_id, NULL, NULL,
                              CALL_TIMEOUT_MS);
    const cJSON *json = s_expect (&answer, 200);
    assert_true (cJSON_IsArray (json));
    assert_int_equal (cJSON_GetArraySize (json), 1);
    const cJSON *first = cJSON_GetArrayItem (json, 0);
    assert_string_equal (s_str (first, "customerId"), customer_id);
    int64_t balance = s_int (first, "point");
    const cJSON *detail = cJSON_GetObjectItemCaseSensitive (first, "pointDetail");
    assert_true (cJSON_IsArray (detail));
    if (details)
        *details = cJSON_GetArraySize (detail);
    s_answer_reset (&answer);
    return balance;
}


//  Customer create, charge, point get, and the errors of the point pool.
static void
test_point_flow (void **state)
{
    fixture_t *self = (fixture_t *) *state;
    s_actor_start (self, point_actor, 0);
    client_t *point = s_client_open (self, ACTOR_POOL_POINT, 0);

    char id [COFFEE_ID_MAX];
    s_customer_new (point, "Kim", id, sizeof id);
    char other [COFFEE_ID_MAX];
    s_customer_new (point, "Lee", other, sizeof other);
    assert_string_not_equal (id, other);

    int details = -1;
    assert_int_equal (s_balance (point, id, &details), 0);
    assert_int_equal (details, 0);
    int64_t balance = s_charge (point, id, 5000, 0);
    balance = s_charge (point, id, 700, balance);
    assert_int_equal (s_balance (point, id, &details), 5700);
    assert_int_equal (details, 2);
    assert_int_equal (s_balance (point, other, NULL), 0);

    //  Errors: each answers JSON {"code","message"} and changes nothing.
    s_expect_error (point, WIRE_OP_POINT_CHARGE, NULL, NULL,
                    "{\"customerId\":\"CUST-99999999\",\"chargeAmt\":10}", 404, NULL);
    s_expect_error (point, WIRE_OP_POINT_GET, "CUST-99999999", NULL, NULL, 404, NULL);
    s_expect_error (point, WIRE_OP_POINT_CHARGE, NULL, NULL,
                    "{\"customerId\":\"CUST-00000001\"}", 400, "INVALID_INPUT");
    char body [200];
    snprintf (body, sizeof body, "{\"customerId\":\"%s\",\"chargeAmt\":0}", id);
    s_expect_error (point, WIRE_OP_POINT_CHARGE, NULL, NULL, body, 400, "INVALID_INPUT");
    snprintf (body, sizeof body, "{\"customerId\":\"%s\",\"chargeAmt\":-5}", id);
    s_expect_error (point, WIRE_OP_POINT_CHARGE, NULL, NULL, body, 400, "INVALID_INPUT");
    snprintf (body, sizeof body, "{\"customerId\":\"%s\",\"chargeAmt\":1.5}", id);
    s_expect_error (point, WIRE_OP_POINT_CHARGE, NULL, NULL, body, 400, "INVALID_INPUT");
    snprintf (body, sizeof body, "{\"customerId\":\"%s\",\"chargeAmt\":\"10\"}", id);
    s_expect_error (point, WIRE_OP_POINT_CHARGE, NULL, NULL, body, 400, "INVALID_INPUT");
    snprintf (body, sizeof body, "{\"customerId\":\"%s\",\"chargeAmt\":%lld}", id,
              STORE_CHARGE_MAX + 1);
    s_expect_error (point, WIRE_OP_POINT_CHARGE, NULL, NULL, body, 400, "INVALID_INPUT");
    s_expect_error (point, WIRE_OP_POINT_CHARGE, NULL, NULL, "not json", 400, "INVALID_INPUT");
    s_expect_error (point, WIRE_OP_POINT_CHARGE, NULL, NULL, "", 400, "INVALID_INPUT");
    s_expect_error (point, WIRE_OP_POINT_CHARGE, NULL, NULL, "[1,2]", 400, "INVALID_INPUT");
    s_expect_error (point, WIRE_OP_CUSTOMER_CREATE, NULL, NULL, "{}", 400, "INVALID_INPUT");
    s_expect_error (point, WIRE_OP_CUSTOMER_CREATE, NULL, NULL, "{\"customerNm\":7}", 400,
                    "INVALID_INPUT");
    s_expect_error (point, WIRE_OP_POINT_GET, "", NULL, NULL, 400, "INVALID_INPUT");
    //  An op of another pool is a front bug: 404, and the actor stays up.
    s_expect_error (point, WIRE_OP_ORDER_CREATE, NULL, NULL, "{}", 404, NULL);
    assert_int_equal (s_balance (point, id, &details), 5700);
    assert_int_equal (details, 2);

    answer_t answer = s_call (point, WIRE_OP_HEALTH, NULL, NULL, NULL, CALL_TIMEOUT_MS);
    assert_string_equal (s_str (s_expect (&answer, 200), "status"), "UP");
    s_answer_reset (&answer);

}


//  Idempotency-Key on point.charge: replay, 422 for another body.
static void
test_point_idempotency (void **state)
{
    fixture_t *self = (fixture_t *) *state;
    s_actor_start (self, point_actor, 0);
    client_t *point = s_client_open (self, ACTOR_POOL_POINT, 0);
    char id [COFFEE_ID_MAX];
    s_customer_new (point, "Park", id, sizeof id);

    char body [200];
    snprintf (body, sizeof body, "{\"customerId\":\"%s\",\"chargeAmt\":1000}", id);
    answer_t first = s_call (point, WIRE_OP_POINT_CHARGE, NULL, "key-1", body,
                             CALL_TIMEOUT_MS);
    assert_int_equal (s_int (s_expect (&first, 200), "afterChargePoint"), 1000);
    for (int i = 0; i < 3; i++) {
        answer_t again = s_call (point, WIRE_OP_POINT_CHARGE, NULL, "key-1", body,
                                 CALL_TIMEOUT_MS);
        s_expect (&again, 200);
        assert_string_equal (again.body, first.body);
        s_answer_reset (&again);
    }
    assert_int_equal (s_balance (point, id, NULL), 1000);

    char other [200];
    snprintf (other, sizeof other, "{\"customerId\":\"%s\",\"chargeAmt\":2000}", id);
    s_expect_error (point, WIRE_OP_POINT_CHARGE, NULL, "key-1", other, 422, NULL);
    assert_int_equal (s_balance (point, id, NULL), 1000);

    //  Another key is another charge.
    answer_t second = s_call (point, WIRE_OP_POINT_CHARGE, NULL, "key-2", body,
                              CALL_TIMEOUT_MS);
    assert_int_equal (s_int (s_expect (&second, 200), "afterChargePoint"), 2000);
    s_answer_reset (&second);
    s_answer_reset (&first);
    assert_int_equal (s_balance (point, id, NULL), 2000);

}


//  Receives one wake on pull within timeout_ms; true when one came.
static bool
s_wake_received (zsock_t *pull, int timeout_ms)
{
    zsock_set_rcvtimeo (pull, timeout_ms);
    zframe_t *frame = zframe_recv (pull);
    bool got = frame != NULL;
    zframe_destroy (&frame);
    return got;
}


//  Drains wakes already queued.
static void
s_wakes_drain (zsock_t *pull)
{
    while (s_wake_received (pull, 50))
        ;
}


//  Order create and get, the relay wake, errors, idempotency.
static void
test_order_flow (void **state)
{
    fixture_t *self = (fixture_t *) *state;
    self->pull = zsock_new (ZMQ_PULL);
    zsock_t *pull = self->pull;
    assert_non_null (pull);
    zsock_set_linger (pull, 0);
    assert_int_equal (zsock_bind (pull, "%s", BRIDGE_OUTBOX_WAKE), 0);

    s_actor_start (self, point_actor, 0);
    s_actor_start (self, order_actor, 0);
    client_t *point = s_client_open (self, ACTOR_POOL_POINT, 0);
    client_t *order = s_client_open (self, ACTOR_POOL_ORDER, 0);

    char id [COFFEE_ID_MAX];
    s_customer_new (point, "Choi", id, sizeof id);
    int64_t balance = s_charge (point, id, 100000, 0);
    s_wakes_drain (pull);

    char body [400];
    snprintf (body, sizeof body, "{\"customerId\":\"%s\",\"menuList\":["
              "{\"menuId\":\"MENU-00000001\",\"qy\":2},{\"menuId\":\"MENU-00000002\",\"qy\":1}]}",
              id);
    answer_t placed = s_call (order, WIRE_OP_ORDER_CREATE, NULL, NULL, body, CALL_TIMEOUT_MS);
    const cJSON *json = s_expect (&placed, 200);
    char order_no [COFFEE_ID_MAX];
    snprintf (order_no, sizeof order_no, "%s", s_str (json, "orderNo"));
    assert_true (strncmp (order_no, "ORD-", 4) == 0);
    int64_t price = s_int (json, "orderPrice");
    assert_true (price > 0);
    assert_int_equal (s_int (json, "usePoint"), price);
    s_answer_reset (&placed);
    assert_true (s_wake_received (pull, CALL_TIMEOUT_MS));
    balance -= price;
    assert_int_equal (s_balance (point, id, NULL), balance);

    answer_t got = s_call (order, WIRE_OP_ORDER_GET, order_no, NULL, NULL, CALL_TIMEOUT_MS);
    json = s_expect (&got, 200);
    assert_string_equal (s_str (json, "orderNo"), order_no);
    assert_string_equal (s_str (json, "customerId"), id);
    const cJSON *lines = cJSON_GetObjectItemCaseSensitive (json, "menuList");
    assert_true (cJSON_IsArray (lines));
    assert_int_equal (cJSON_GetArraySize (lines), 2);
    s_answer_reset (&got);

    //  Errors change nothing and wake nobody.
    s_expect_error (order, WIRE_OP_ORDER_GET, "ORD-99999999", NULL, NULL, 404, NULL);
    snprintf (body, sizeof body, "{\"customerId\":\"%s\",\"menuList\":["
              "{\"menuId\":\"MENU-99999999\",\"qy\":1}]}", id);
    s_expect_error (order, WIRE_OP_ORDER_CREATE, NULL, NULL, body, 404, NULL);
    s_expect_error (order, WIRE_OP_ORDER_CREATE, NULL, NULL,
                    "{\"customerId\":\"CUST-99999999\",\"menuList\":["
                    "{\"menuId\":\"MENU-00000001\",\"qy\":1}]}", 404, NULL);
    char poor [COFFEE_ID_MAX];
    s_customer_new (point, "Poor", poor, sizeof poor);
    snprintf (body, sizeof body, "{\"customerId\":\"%s\",\"menuList\":["
              "{\"menuId\":\"MENU-00000001\",\"qy\":1}]}", poor);
    answer_t refused = s_call (order, WIRE_OP_ORDER_CREATE, NULL, NULL, body, CALL_TIMEOUT_MS);
    json = s_expect (&refused, 409);
    assert_string_equal (s_str (json, "code"), "NO_POINT");
    s_answer_reset (&refused);
    const char *bad [] = {
        "{}",
        "not json",
        "{\"customerId\":\"CUST-00000001\"}",
        "{\"customerId\":\"CUST-00000001\",\"menuList\":[]}",
        "{\"customerId\":\"CUST-00000001\",\"menuList\":{}}",
        "{\"customerId\":\"CUST-00000001\",\"menuList\":[1]}",
        "{\"customerId\":\"CUST-00000001\",\"menuList\":[{\"menuId\":\"MENU-00000001\"}]}",
        "{\"customerId\":\"CUST-00000001\",\"menuList\":[{\"menuId\":\"MENU-00000001\",\"qy\":0}]}",
        "{\"customerId\":\"CUST-00000001\",\"menuList\":[{\"menuId\":\"MENU-00000001\",\"qy\":101}]}",
        "{\"customerId\":\"CUST-00000001\",\"menuList\":[{\"menuId\":\"MENU-00000001\",\"qy\":1.5}]}",
        "{\"customerId\":\"CUST-00000001\",\"menuList\":[{\"menuId\":5,\"qy\":1}]}",
        "{\"customerId\":null,\"menuList\":[{\"menuId\":\"MENU-00000001\",\"qy\":1}]}",
        NULL
    };
    for (int i = 0; bad [i]; i++)
        s_expect_error (order, WIRE_OP_ORDER_CREATE, NULL, NULL, bad [i], 400, "INVALID_INPUT");
    s_expect_error (order, WIRE_OP_ORDER_GET, "", NULL, NULL, 400, "INVALID_INPUT");
    s_expect_error (order, WIRE_OP_POINT_CHARGE, NULL, NULL, "{}", 404, NULL);
    assert_false (s_wake_received (pull, 200));
    assert_int_equal (s_balance (point, id, NULL), balance);
    assert_int_equal (s_balance (point, poor, NULL), 0);

    //  Idempotent order: one charge of the price, the same answer again.
    snprintf (body, sizeof body, "{\"customerId\":\"%s\",\"menuList\":["
              "{\"menuId\":\"MENU-00000003\",\"qy\":1}]}", id);
    answer_t first = s_call (order, WIRE_OP_ORDER_CREATE, NULL, "order-key", body,
                             CALL_TIMEOUT_MS);
    price = s_int (s_expect (&first, 200), "orderPrice");
    assert_true (s_wake_received (pull, CALL_TIMEOUT_MS));
    answer_t again = s_call (order, WIRE_OP_ORDER_CREATE, NULL, "order-key", body,
                             CALL_TIMEOUT_MS);
    s_expect (&again, 200);
    assert_string_equal (again.body, first.body);
    s_answer_reset (&again);
    s_answer_reset (&first);
    balance -= price;
    assert_int_equal (s_balance (point, id, NULL), balance);
    snprintf (body, sizeof body, "{\"customerId\":\"%s\",\"menuList\":["
              "{\"menuId\":\"MENU-00000003\",\"qy\":2}]}", id);
    s_expect_error (order, WIRE_OP_ORDER_CREATE, NULL, "order-key", body, 422, NULL);
    assert_int_equal (s_balance (point, id, NULL), balance);

    answer_t health = s_call (order, WIRE_OP_HEALTH, NULL, NULL, NULL, CALL_TIMEOUT_MS);
    assert_string_equal (s_str (s_expect (&health, 200), "status"), "UP");
    s_answer_reset (&health);

}


//  True when the top list holds menu_id with count orders.
static bool
s_best_has (const cJSON *best, const char *menu_id, int64_t count)
{
    const cJSON *item;
    cJSON_ArrayForEach (item, best) {
        const cJSON *id = cJSON_GetObjectItemCaseSensitive (item, "menuId");
        int64_t value = 0;
        if (cJSON_IsString (id) && streq (id->valuestring, menu_id)
        &&  util_json_int64 (cJSON_GetObjectItemCaseSensitive (item, "orderCnt"), &value) == 0
        &&  value == count)
            return true;
    }
    return false;
}


//  Applies one single-line order event straight to the display store.
static void
s_apply (display_store_t *store, const char *order_no, const char *menu_id, int64_t at_ms,
         int64_t offset)
{
    event_line_t line;
    memset (&line, 0, sizeof line);
    snprintf (line.menu_id, sizeof line.menu_id, "%s", menu_id);
    line.qy = 3;
    event_order_t ev;
    memset (&ev, 0, sizeof ev);
    snprintf (ev.order_no, sizeof ev.order_no, "%s", order_no);
    snprintf (ev.customer_id, sizeof ev.customer_id, "CUST-00000001");
    ev.pay_amt = 1;
    ev.ordered_at_ms = at_ms;
    ev.line_count = 1;
    ev.lines = &line;
    bool applied = false;
    assert_int_equal (display_store_apply (store, &ev, "test", 0, offset, &applied), 0);
    assert_true (applied);
}


//  The display snapshot: menus, best, and a refresh that shows new events.
static void
test_display_snapshot (void **state)
{
    fixture_t *self = (fixture_t *) *state;
    s_actor_start (self, display_actor, 0);
    client_t *display = s_client_open (self, ACTOR_POOL_DISPLAY, 0);

    answer_t menu = s_call (display, WIRE_OP_DISPLAY_MENU, NULL, NULL, NULL, CALL_TIMEOUT_MS);
    const cJSON *json = s_expect (&menu, 200);
    assert_true (cJSON_IsArray (json));
    assert_int_equal (cJSON_GetArraySize (json), 5);
    const cJSON *item;
    cJSON_ArrayForEach (item, json) {
        assert_true (strncmp (s_str (item, "menuId"), "MENU-", 5) == 0);
        assert_true (strlen (s_str (item, "menuNm")) > 0);
        assert_true (s_int (item, "menuPrice") > 0);
    }
    s_answer_reset (&menu);

    answer_t best = s_call (display, WIRE_OP_DISPLAY_BEST, NULL, NULL, NULL, CALL_TIMEOUT_MS);
    json = s_expect (&best, 200);
    assert_true (cJSON_IsArray (json));
    assert_int_equal (cJSON_GetArraySize (json), 0);
    s_answer_reset (&best);

    //  Events written by "the projection" show within a few refresh periods;
    //  one older than the window never does.
    char err [256] = "";
    display_store_t *store = display_store_open (self->cfg.display_store, err, sizeof err);
    assert_non_null (store);
    int64_t now = util_now_ms (self->cfg.clock_skew_ms);
    s_apply (store, "ORD-T0000001", "MENU-00000003", now - 1000, 0);
    s_apply (store, "ORD-T0000002", "MENU-00000003", now - 2000, 1);
    s_apply (store, "ORD-T0000003", "MENU-00000004", now - 3000, 2);
    s_apply (store, "ORD-T0000004", "MENU-00000005", now - DISPLAY_WINDOW_MS - 60000, 3);
    display_store_destroy (&store);

    //  One refresh period should do; 20 leave room for a loaded sanitizer build.
    int64_t deadline = tk_now_ms () + 20 * self->cfg.display_refresh_ms;
    bool seen = false;
    while (!seen && tk_now_ms () < deadline) {
        best = s_call (display, WIRE_OP_DISPLAY_BEST, NULL, NULL, NULL, CALL_TIMEOUT_MS);
        json = s_expect (&best, 200);
        assert_true (cJSON_IsArray (json));
        seen = s_best_has (json, "MENU-00000003", 2);
        if (seen) {
            assert_int_equal (cJSON_GetArraySize (json), 2);
            assert_string_equal (s_str (cJSON_GetArrayItem (json, 0), "menuId"), "MENU-00000003");
            assert_true (s_best_has (json, "MENU-00000004", 1));
            assert_false (s_best_has (json, "MENU-00000005", 1));
            assert_true (strlen (s_str (cJSON_GetArrayItem (json, 0), "menuNm")) > 0);
        }
        s_answer_reset (&best);
        if (!seen)
            zclock_sleep (self->cfg.display_refresh_ms / 2);
    }
    assert_true (seen);

    answer_t health = s_call (display, WIRE_OP_HEALTH, NULL, NULL, NULL, CALL_TIMEOUT_MS);
    assert_string_equal (s_str (s_expect (&health, 200), "status"), "UP");
    s_answer_reset (&health);
    s_expect_error (display, WIRE_OP_ORDER_GET, "ORD-00000001", NULL, NULL, 404, NULL);

}


//  What one charging thread does and found.
typedef struct {
    int index;                  //  point actor it talks to
    const char *customer_id;    //  who it charges
    int charges;                //  how many charges to send
    int64_t amount;             //  points per charge
    int ok;                     //  charges answered 200
    int failed;                 //  anything else (asserted in the test thread)
} racer_t;


//  Sends charges from its own thread and DEALER; records, never asserts.
static void *
s_racer (void *arg)
{
    racer_t *racer = (racer_t *) arg;
    client_t client = { wire_dealer_new (ACTOR_POOL_POINT, racer->index, CALL_TIMEOUT_MS), 0 };
    if (!client.dealer) {
        racer->failed = racer->charges;
        return NULL;
    }
    char body [200];
    snprintf (body, sizeof body, "{\"customerId\":\"%s\",\"chargeAmt\":%" PRId64 "}",
              racer->customer_id, racer->amount);
    for (int i = 0; i < racer->charges; i++) {
        answer_t answer = s_call (&client, WIRE_OP_POINT_CHARGE, NULL, NULL, body,
                                  CALL_TIMEOUT_MS);
        if (answer.status == 200)
            racer->ok++;
        else
            racer->failed++;
        s_answer_reset (&answer);
    }
    zsock_destroy (&client.dealer);
    return NULL;
}


//  Two point actors on one store file, charged from two threads at once:
//  the balance is exact and equals the history.
static void
test_point_race (void **state)
{
    fixture_t *self = (fixture_t *) *state;
    for (int i = 0; i < 2; i++)
        s_actor_start (self, point_actor, i);
    client_t *point = s_client_open (self, ACTOR_POOL_POINT, 0);
    char id [COFFEE_ID_MAX];
    s_customer_new (point, "Race", id, sizeof id);

    racer_t racers [2] = {
        { .index = 0, .customer_id = id, .charges = 100, .amount = 7 },
        { .index = 1, .customer_id = id, .charges = 100, .amount = 1000 }
    };
    pthread_t threads [2];
    for (int i = 0; i < 2; i++)
        assert_int_equal (pthread_create (&threads [i], NULL, s_racer, &racers [i]), 0);
    for (int i = 0; i < 2; i++)
        pthread_join (threads [i], NULL);

    int64_t expected = 0;
    for (int i = 0; i < 2; i++) {
        assert_int_equal (racers [i].failed, 0);
        assert_int_equal (racers [i].ok, racers [i].charges);
        expected += racers [i].amount * racers [i].charges;
    }
    int details = 0;
    assert_int_equal (s_balance (point, id, &details), expected);
    assert_int_equal (details, 200);

    char err [256] = "";
    store_t *store = store_open (self->cfg.store, err, sizeof err);
    assert_non_null (store);
    int64_t balance = -1, history = -1;
    assert_int_equal (store_balance (store, id, &balance, &history), 0);
    assert_int_equal (balance, expected);
    assert_int_equal (history, expected);
    store_destroy (&store);

}


//  An actor whose store cannot open does not start: nothing answers at its
//  endpoint, and destroying it still works.
static void
test_start_failure (void **state)
{
    fixture_t *self = (fixture_t *) *state;
    //  A regular file where the store's folder should be: nothing can open it.
    char blocker [600];
    snprintf (blocker, sizeof blocker, "%s/not-a-dir", self->dir);
    FILE *file = fopen (blocker, "w");
    assert_non_null (file);
    fclose (file);
    snprintf (self->cfg.store, sizeof self->cfg.store, "sqlite:%s/command.db", blocker);
    snprintf (self->cfg.display_store, sizeof self->cfg.display_store, "sqlite:%s/display.db",
              blocker);
    zactor_fn *fns [] = { point_actor, order_actor, display_actor };
    const char *pools [] = { ACTOR_POOL_POINT, ACTOR_POOL_ORDER, ACTOR_POOL_DISPLAY };
    for (int i = 0; i < 3; i++) {
        zactor_t *actor = s_actor_start (self, fns [i], 7);
        //  The failed actor ended: its end signal waits on the pipe.
        zsock_set_rcvtimeo (actor, 5000);
        assert_int_equal (zsock_wait (actor), 0);
        client_t *client = s_client_open (self, pools [i], 7);
        answer_t answer = s_call (client, WIRE_OP_HEALTH, NULL, NULL, NULL, 300);
        int status = answer.status;
        s_answer_reset (&answer);
        assert_int_equal (status, -1);
    }
}


//  Runs the tests quietly (warnings and errors only).
int
main (void)
{
    log_set_level (LOG_LEVEL_WARN);
    const struct CMUnitTest tests [] = {
        cmocka_unit_test_setup_teardown (test_point_flow, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_point_idempotency, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_order_flow, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_display_snapshot, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_point_race, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_start_failure, s_setup, s_teardown),
    };
    int rc = cmocka_run_group_tests (tests, NULL, NULL);
    zsys_shutdown ();
    return rc;
}
