/*  test_actors_pipe — the point, order and display actors through their
    pipes and wire.h, czmq self-test style: each test makes its own data
    dir and config, starts actors with zactor_new, talks to them over a
    DEALER with timeouts (a stuck actor fails the test instead of hanging),
    asserts in the test thread only, then destroys the actors. Requests
    carry the typed command the front would build (actors_testutil.h).

    ctest bound: COFFEE_TEST_TIMEOUT 180 s. */
#include "testkit.h"
#include <cmocka.h>
#include <ftw.h>
#include <stdio.h>
#include <pthread.h>
#include "actor.h"
#include "bridge.h"
#include "display_store.h"
#include "actors_testutil.h"

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


//  Builds a request as the front would (see at_request_fill); deadline_ms
//  is its deadline (zclock_mono, 0 none). Returns 0, or -1 when the front
//  would have refused it (req reset).
static int
s_request (client_t *client, wire_request_t *req, const char *op, const char *arg,
           const char *idem, const char *body, int64_t deadline_ms)
{
    memset (req, 0, sizeof *req);
    snprintf (req->rid, sizeof req->rid, "t-%08" PRIx64, ++client->seq);
    req->seq = client->seq;
    snprintf (req->idem, sizeof req->idem, "%s", idem ? idem : "");
    req->deadline_ms = deadline_ms;
    if (at_request_fill (req, op, arg, body) != 0) {
        wire_request_reset (req);
        return -1;
    }
    return 0;
}


//  One request/reply; never asserts, so threads may use it. A request the
//  front would refuse answers status -2.
static answer_t
s_call (client_t *client, const char *op, const char *arg, const char *idem,
        const char *body, int timeout_ms)
{
    wire_request_t req;
    answer_t answer = { -2, NULL, NULL };
    if (s_request (client, &req, op, arg, idem, body, 0) != 0)
        return answer;
    if (wire_call (client->dealer, &req, timeout_ms, &answer.status, &answer.body) != 0)
        answer.status = -1;
    else
        answer.json = answer.body ? cJSON_Parse (answer.body) : NULL;
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
    s_expect_error (point, WIRE_OP_POINT_GET, "", NULL, NULL, 400, "INVALID_INPUT");
    //  An op of another pool is a front bug: 404, and the actor stays up.
    s_expect_error (point, WIRE_OP_ORDER_CREATE, NULL, NULL, NULL, 404, NULL);
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
    s_expect_error (order, WIRE_OP_ORDER_GET, "", NULL, NULL, 400, "INVALID_INPUT");
    s_expect_error (order, WIRE_OP_POINT_CHARGE, NULL, NULL, NULL, 404, NULL);
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


//  Applies the command store's menus to the display store as their menu
//  events would (the display store has no menus of its own).
static void
s_menus_project (fixture_t *self)
{
    char err [256] = "";
    store_t *command = store_open (self->cfg.store, err, sizeof err);
    assert_non_null (command);
    display_store_t *display = display_store_open (self->cfg.display_store, err, sizeof err);
    assert_non_null (display);
    event_menu_t *menus = NULL;
    size_t count = 0;
    assert_int_equal (store_menus_read (command, &menus, &count), 0);
    for (size_t i = 0; i < count; i++) {
        bool applied = false;
        assert_int_equal (display_store_apply_menu (display, &menus [i], "test", 1,
                                                    (int64_t) i, &applied), 0);
    }
    free (menus);
    display_store_destroy (&display);
    store_destroy (&command);
}


//  The display snapshot: menus, best, and a refresh that shows new events.
static void
test_display_snapshot (void **state)
{
    fixture_t *self = (fixture_t *) *state;
    s_menus_project (self);
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



// ---------------------------------------------------------------------------
//  Group commit and deadlines: requests queued while the actor is busy are
//  taken together and committed as one group.

//  Sends a request without waiting for its answer; returns its seq.
static uint64_t
s_send (client_t *client, const char *op, const char *arg, const char *idem,
        const char *body, int64_t deadline_ms)
{
    wire_request_t req;
    assert_int_equal (s_request (client, &req, op, arg, idem, body, deadline_ms), 0);
    assert_int_equal (wire_request_send (client->dealer, &req), 0);
    uint64_t seq = req.seq;
    wire_request_reset (&req);
    return seq;
}


//  Receives the answers to the count requests sent from first_seq on, in
//  any order, into answers [seq - first_seq].
static void
s_recv_all (client_t *client, uint64_t first_seq, size_t count, answer_t *answers)
{
    for (size_t i = 0; i < count; i++)
        answers [i] = (answer_t) { -1, NULL, NULL };
    zsock_set_rcvtimeo (client->dealer, CALL_TIMEOUT_MS);
    for (size_t got = 0; got < count; got++) {
        uint64_t seq = 0;
        int status = 0;
        char *body = NULL;
        assert_int_equal (wire_reply_recv (client->dealer, &seq, &status, &body), 0);
        assert_true (seq >= first_seq && seq < first_seq + count);
        answer_t *answer = &answers [seq - first_seq];
        assert_int_equal (answer->status, -1);          //  one answer each
        answer->status = status;
        answer->body = body;
        answer->json = body ? cJSON_Parse (body) : NULL;
    }
}


//  Holds the command store's write lock from another connection, so the
//  actor's next write waits in BEGIN IMMEDIATE while more requests queue.
static store_t *
s_lock (fixture_t *self)
{
    char err [256] = "";
    store_t *holder = store_open (self->cfg.store, err, sizeof err);
    assert_non_null (holder);
    assert_int_equal (db_exec (store_db (holder), "BEGIN IMMEDIATE"), DB_OK);
    return holder;
}


//  Lets the write lock go.
static void
s_unlock (store_t **holder_p)
{
    assert_int_equal (db_exec (store_db (*holder_p), "ROLLBACK"), DB_OK);
    store_destroy (holder_p);
}


//  A count from the command store, read on a connection of its own.
static int64_t
s_count (fixture_t *self, const char *sql)
{
    char err [256] = "";
    store_t *store = store_open (self->cfg.store, err, sizeof err);
    assert_non_null (store);
    db_stmt_t *st = db_stmt (store_db (store), sql);
    assert_non_null (st);
    assert_int_equal (db_step (st), DB_ROW);
    int64_t value = db_column_int64 (st, 0);
    db_reset (st);
    store_destroy (&store);
    return value;
}


//  An order body of one line.
static const char *
s_order_body (char *buf, size_t len, const char *customer_id, const char *menu_id, int qy)
{
    snprintf (buf, len, "{\"customerId\":\"%s\",\"menuList\":[{\"menuId\":\"%s\",\"qy\":%d}]}",
              customer_id, menu_id, qy);
    return buf;
}


//  Runs the group bodies [count] through the order actor as one group:
//  a plug order for plug_customer is taken first and waits on the held
//  write lock while the others queue, then the lock goes and the queued
//  ones are taken in one go. answers [0] is the plug's.
static void
s_order_group (fixture_t *self, client_t *order, const char *plug_customer,
               const char *const *bodies, const char *const *keys, size_t count,
               int64_t deadline_ms, answer_t *answers)
{
    store_t *holder = s_lock (self);
    char plug [256];
    uint64_t first = s_send (order, WIRE_OP_ORDER_CREATE, NULL, NULL,
                             s_order_body (plug, sizeof plug, plug_customer, "MENU-00000002", 1), 0);
    zclock_sleep (200);                 //  the actor took the plug and waits for the lock
    for (size_t i = 0; i < count; i++)
        s_send (order, WIRE_OP_ORDER_CREATE, NULL, keys ? keys [i] : NULL, bodies [i],
                deadline_ms);
    zclock_sleep (200);                 //  all queued behind the plug
    s_unlock (&holder);
    s_recv_all (order, first, count + 1, answers);
}


//  Starts a point and an order actor with the relay wake bound; returns
//  their clients.
static void
s_group_fixture (fixture_t *self, client_t **point, client_t **order)
{
    self->pull = zsock_new (ZMQ_PULL);
    assert_non_null (self->pull);
    zsock_set_linger (self->pull, 0);
    assert_int_equal (zsock_bind (self->pull, "%s", BRIDGE_OUTBOX_WAKE), 0);
    s_actor_start (self, point_actor, 0);
    s_actor_start (self, order_actor, 0);
    *point = s_client_open (self, ACTOR_POOL_POINT, 0);
    *order = s_client_open (self, ACTOR_POOL_ORDER, 0);
}


//  A group with failing requests among good ones: only they fail, each with
//  its own answer; the good ones commit together, and one wake follows.
static void
test_group_failures_alone (void **state)
{
    fixture_t *self = (fixture_t *) *state;
    client_t *point, *order;
    s_group_fixture (self, &point, &order);
    char rich [COFFEE_ID_MAX], poor [COFFEE_ID_MAX];
    s_customer_new (point, "Rich", rich, sizeof rich);
    s_customer_new (point, "Poor", poor, sizeof poor);
    s_charge (point, rich, 100000, 0);
    int64_t orders_before = s_count (self, "SELECT COUNT(*) FROM orders");
    s_wakes_drain (self->pull);

    char b [5][256];
    const char *bodies [5] = {
        s_order_body (b [0], 256, rich, "MENU-00000001", 1),            //  200: 4200
        s_order_body (b [1], 256, "CUST-99999999", "MENU-00000001", 1), //  404 customer
        s_order_body (b [2], 256, poor, "MENU-00000001", 1),            //  409 NO_POINT
        s_order_body (b [3], 256, rich, "MENU-99999999", 1),            //  404 menu
        s_order_body (b [4], 256, rich, "MENU-00000003", 2),            //  200: 9000
    };
    answer_t answers [6];
    s_order_group (self, order, rich, bodies, NULL, 5, 0, answers);
    s_expect (&answers [0], 200);                                       //  the plug: 4200
    assert_int_equal (s_int (s_expect (&answers [1], 200), "orderPrice"), 4200);
    assert_string_equal (s_str (s_expect (&answers [2], 404), "code"), "NOT_FOUND_DATA");
    const cJSON *no_point = s_expect (&answers [3], 409);
    assert_string_equal (s_str (no_point, "code"), "NO_POINT");
    assert_int_equal (s_int (no_point, "shortfall"), 4200);
    assert_string_equal (s_str (s_expect (&answers [4], 404), "code"), "NOT_FOUND_DATA");
    assert_int_equal (s_int (s_expect (&answers [5], 200), "orderPrice"), 9000);
    for (int i = 0; i < 6; i++)
        s_answer_reset (&answers [i]);
    assert_true (s_wake_received (self->pull, CALL_TIMEOUT_MS));

    int details = 0;
    assert_int_equal (s_balance (point, rich, &details), 100000 - 4200 - 4200 - 9000);
    assert_int_equal (details, 4);
    assert_int_equal (s_balance (point, poor, &details), 0);
    assert_int_equal (details, 0);
    assert_int_equal (s_count (self, "SELECT COUNT(*) FROM orders"), orders_before + 3);
    assert_int_equal (s_count (self, "SELECT COUNT(*) FROM outbox WHERE kind = 'order'"),
                      orders_before + 3);

    //  The point actor groups its writes the same way: customer, charges.
    store_t *holder = s_lock (self);
    char body [3][200];
    snprintf (body [0], 200, "{\"customerId\":\"%s\",\"chargeAmt\":1}", poor);
    snprintf (body [1], 200, "{\"customerId\":\"CUST-99999999\",\"chargeAmt\":5}");
    snprintf (body [2], 200, "{\"customerId\":\"%s\",\"chargeAmt\":700}", poor);
    uint64_t first = s_send (point, WIRE_OP_POINT_CHARGE, NULL, NULL, body [0], 0);
    zclock_sleep (200);
    s_send (point, WIRE_OP_POINT_CHARGE, NULL, NULL, body [1], 0);
    s_send (point, WIRE_OP_CUSTOMER_CREATE, NULL, NULL, "{\"customerNm\":\"Late\"}", 0);
    s_send (point, WIRE_OP_POINT_CHARGE, NULL, NULL, body [2], 0);
    zclock_sleep (200);
    s_unlock (&holder);
    s_recv_all (point, first, 4, answers);
    assert_int_equal (s_int (s_expect (&answers [0], 200), "afterChargePoint"), 1);
    s_expect (&answers [1], 404);
    assert_true (strncmp (s_str (s_expect (&answers [2], 200), "customerId"), "CUST-", 5) == 0);
    assert_int_equal (s_int (s_expect (&answers [3], 200), "afterChargePoint"), 701);
    for (int i = 0; i < 4; i++)
        s_answer_reset (&answers [i]);
    assert_int_equal (s_balance (point, poor, &details), 701);
    assert_int_equal (details, 2);
}


//  One customer twice in one group with enough for only one: exactly one
//  200, the other 409 NO_POINT with the shortfall after the first; the
//  balance never goes below zero.
static void
test_group_same_customer (void **state)
{
    fixture_t *self = (fixture_t *) *state;
    client_t *point, *order;
    s_group_fixture (self, &point, &order);
    char plug [COFFEE_ID_MAX], id [COFFEE_ID_MAX];
    s_customer_new (point, "Plug", plug, sizeof plug);
    s_customer_new (point, "Twice", id, sizeof id);
    s_charge (point, plug, 10000, 0);
    s_charge (point, id, 5000, 0);

    char b [2][256];
    const char *bodies [2] = {
        s_order_body (b [0], 256, id, "MENU-00000001", 1),
        s_order_body (b [1], 256, id, "MENU-00000002", 1),
    };
    answer_t answers [3];
    s_order_group (self, order, plug, bodies, NULL, 2, 0, answers);
    s_expect (&answers [0], 200);
    int ok = 0, refused = 0;
    for (int i = 1; i < 3; i++) {
        if (answers [i].status == 200)
            ok++;
        else {
            const cJSON *json = s_expect (&answers [i], 409);
            assert_string_equal (s_str (json, "code"), "NO_POINT");
            assert_int_equal (s_int (json, "shortfall"), 4200 - 800);
            refused++;
        }
    }
    for (int i = 0; i < 3; i++)
        s_answer_reset (&answers [i]);
    assert_int_equal (ok, 1);
    assert_int_equal (refused, 1);
    int details = 0;
    assert_int_equal (s_balance (point, id, &details), 800);
    assert_int_equal (details, 2);
}


//  The same Idempotency-Key twice in one group: the second replays the
//  first's answer (written earlier in the same transaction), one charge;
//  the key with another body gets 422.
static void
test_group_idempotency (void **state)
{
    fixture_t *self = (fixture_t *) *state;
    client_t *point, *order;
    s_group_fixture (self, &point, &order);
    char id [COFFEE_ID_MAX];
    s_customer_new (point, "Again", id, sizeof id);
    s_charge (point, id, 50000, 0);

    char b [2][256];
    const char *bodies [3] = {
        s_order_body (b [0], 256, id, "MENU-00000003", 1),
        b [0],
        s_order_body (b [1], 256, id, "MENU-00000003", 2),
    };
    const char *keys [3] = { "group-key", "group-key", "group-key" };
    answer_t answers [4];
    s_order_group (self, order, id, bodies, keys, 3, 0, answers);
    s_expect (&answers [0], 200);                           //  the plug: 4200
    s_expect (&answers [1], 200);
    s_expect (&answers [2], 200);
    assert_string_equal (answers [1].body, answers [2].body);
    assert_string_equal (s_str (s_expect (&answers [3], 422), "code"), "IDEMPOTENCY_KEY_REUSED");
    for (int i = 0; i < 4; i++)
        s_answer_reset (&answers [i]);
    int details = 0;
    assert_int_equal (s_balance (point, id, &details), 50000 - 4200 - 4500);
    assert_int_equal (details, 3);
    assert_int_equal (s_count (self, "SELECT COUNT(*) FROM idempotency WHERE idem_key = 'group-key'"
                                     " AND state = 'done'"), 1);
}


//  A group whose COMMIT fails (a deferred foreign key, checked only at
//  commit, broken by one member): every request of the group is answered
//  503 and none of it is there; nobody wakes the relay. Without the trap
//  the same requests succeed.
static void
test_group_commit_failure (void **state)
{
    fixture_t *self = (fixture_t *) *state;
    client_t *point, *order;
    s_group_fixture (self, &point, &order);
    char plug [COFFEE_ID_MAX], good [COFFEE_ID_MAX], trapped [COFFEE_ID_MAX];
    s_customer_new (point, "Plug", plug, sizeof plug);
    s_customer_new (point, "Good", good, sizeof good);
    s_customer_new (point, "Trapped", trapped, sizeof trapped);
    s_charge (point, plug, 10000, 0);
    s_charge (point, good, 10000, 0);
    s_charge (point, trapped, 10000, 0);

    char err [256] = "", sql [512];
    store_t *admin = store_open (self->cfg.store, err, sizeof err);
    assert_non_null (admin);
    db_t *db = store_db (admin);
    assert_int_equal (db_exec (db, "CREATE TABLE trap_parent (id TEXT PRIMARY KEY)"), DB_OK);
    assert_int_equal (db_exec (db, "CREATE TABLE trap_child (pid TEXT REFERENCES"
                                   " trap_parent (id) DEFERRABLE INITIALLY DEFERRED)"), DB_OK);
    snprintf (sql, sizeof sql, "CREATE TRIGGER trap AFTER INSERT ON point_history"
              " WHEN NEW.customer_id = '%s' BEGIN INSERT INTO trap_child VALUES ('none'); END",
              trapped);
    assert_int_equal (db_exec (db, sql), DB_OK);
    int64_t orders_before = s_count (self, "SELECT COUNT(*) FROM orders");
    s_wakes_drain (self->pull);

    char b [3][256];
    const char *bodies [3] = {
        s_order_body (b [0], 256, good, "MENU-00000001", 1),
        s_order_body (b [1], 256, trapped, "MENU-00000001", 1),
        s_order_body (b [2], 256, good, "MENU-00000003", 1),
    };
    answer_t answers [4];
    s_order_group (self, order, plug, bodies, NULL, 3, 0, answers);
    s_expect (&answers [0], 200);                           //  the plug: its own group
    for (int i = 1; i < 4; i++) {
        assert_string_equal (s_str (s_expect (&answers [i], 503), "code"), "UNAVAILABLE");
        s_answer_reset (&answers [i]);
    }
    s_answer_reset (&answers [0]);
    assert_true (s_wake_received (self->pull, CALL_TIMEOUT_MS));    //  the plug's
    assert_false (s_wake_received (self->pull, 300));
    int details = 0;
    assert_int_equal (s_balance (point, good, &details), 10000);
    assert_int_equal (details, 1);
    assert_int_equal (s_balance (point, trapped, &details), 10000);
    assert_int_equal (details, 1);
    assert_int_equal (s_count (self, "SELECT COUNT(*) FROM orders"), orders_before + 1);
    assert_int_equal (s_count (self, "SELECT COUNT(*) FROM trap_child"), 0);

    //  The trap gone, the same group commits.
    assert_int_equal (db_exec (db, "DROP TRIGGER trap"), DB_OK);
    store_destroy (&admin);
    s_order_group (self, order, plug, bodies, NULL, 3, 0, answers);
    for (int i = 0; i < 4; i++) {
        s_expect (&answers [i], 200);
        s_answer_reset (&answers [i]);
    }
    assert_int_equal (s_balance (point, good, NULL), 10000 - 4200 - 4500);
    assert_int_equal (s_balance (point, trapped, NULL), 10000 - 4200);
    assert_int_equal (s_count (self, "SELECT COUNT(*) FROM orders"), orders_before + 5);
}


//  Deadlines: requests that waited in the queue past their deadline are
//  answered 503 TIMEOUT without running while later ones in the same batch
//  run; a write whose BEGIN waits on another connection's lock gives up at
//  its deadline (not the 5 s busy timeout) with 503 TIMEOUT and nothing
//  changed.
static void
test_deadlines (void **state)
{
    fixture_t *self = (fixture_t *) *state;
    client_t *point, *order;
    s_group_fixture (self, &point, &order);
    char id [COFFEE_ID_MAX];
    s_customer_new (point, "Hurry", id, sizeof id);
    s_charge (point, id, 100000, 0);

    //  Queued behind a plug that waits 1 s: 300 ms deadlines pass, 30 s ones do not.
    store_t *holder = s_lock (self);
    char plug [256], body [256];
    uint64_t first = s_send (order, WIRE_OP_ORDER_CREATE, NULL, NULL,
                             s_order_body (plug, sizeof plug, id, "MENU-00000002", 1), 0);
    zclock_sleep (200);
    s_order_body (body, sizeof body, id, "MENU-00000001", 1);
    int64_t soon = zclock_mono () + 300, later = zclock_mono () + 30000;
    s_send (order, WIRE_OP_ORDER_CREATE, NULL, NULL, body, soon);
    s_send (order, WIRE_OP_ORDER_CREATE, NULL, NULL, body, later);
    s_send (order, WIRE_OP_ORDER_GET, "ORD-00000001", NULL, NULL, soon);
    s_send (order, WIRE_OP_ORDER_CREATE, NULL, NULL, body, soon);
    zclock_sleep (800);
    s_unlock (&holder);
    answer_t answers [5];
    s_recv_all (order, first, 5, answers);
    s_expect (&answers [0], 200);
    assert_string_equal (s_str (s_expect (&answers [1], 503), "code"), "TIMEOUT");
    s_expect (&answers [2], 200);
    assert_string_equal (s_str (s_expect (&answers [3], 503), "code"), "TIMEOUT");
    assert_string_equal (s_str (s_expect (&answers [4], 503), "code"), "TIMEOUT");
    for (int i = 0; i < 5; i++)
        s_answer_reset (&answers [i]);
    int details = 0;
    assert_int_equal (s_balance (point, id, &details), 100000 - 4200 - 4200);
    assert_int_equal (details, 3);

    //  The lock held for 3 s; a charge with 400 ms left waits about 350 ms.
    holder = s_lock (self);
    char charge [200];
    snprintf (charge, sizeof charge, "{\"customerId\":\"%s\",\"chargeAmt\":5}", id);
    int64_t t0 = zclock_mono ();
    first = s_send (point, WIRE_OP_POINT_CHARGE, NULL, "late-key", charge, t0 + 400);
    s_recv_all (point, first, 1, answers);
    int64_t waited = zclock_mono () - t0;
    assert_string_equal (s_str (s_expect (&answers [0], 503), "code"), "TIMEOUT");
    s_answer_reset (&answers [0]);
    print_message ("a write with 400 ms left gave up after %" PRId64 " ms\n", waited);
    assert_true (waited >= 300 && waited < 2000);
    s_unlock (&holder);
    assert_int_equal (s_balance (point, id, &details), 100000 - 4200 - 4200);
    assert_int_equal (details, 3);
    //  Nothing was kept of it, the key included: the retry runs.
    answer_t retry = s_call (point, WIRE_OP_POINT_CHARGE, NULL, "late-key", charge,
                             CALL_TIMEOUT_MS);
    assert_int_equal (s_int (s_expect (&retry, 200), "chargeAmt"), 5);
    s_answer_reset (&retry);
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
        cmocka_unit_test_setup_teardown (test_group_failures_alone, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_group_same_customer, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_group_idempotency, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_group_commit_failure, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_deadlines, s_setup, s_teardown),
    };
    int rc = cmocka_run_group_tests (tests, NULL, NULL);
    zsys_shutdown ();
    return rc;
}
