/*  test_http_front — the HTTP front actor in-process, in front of fake pool
    actors that echo what they receive (so the test sees exactly what the
    front sent: pool, actor index, op, arg, idem, rid, canonical body).
    A fake answers slowly when the Idempotency-Key says "slow-<ms>".
    Covers routing, hashing, timeouts and late replies, health, roles, a
    failed start (the port another socket or another front holds), a burst
    of connections spread over the HTTP workers, and a shutdown with a
    request in flight.

    ctest bound: COFFEE_TEST_TIMEOUT 180 s. */
#include "testkit.h"
#include <cmocka.h>
#include "coffee.h"
#include "actor.h"
#include "http_front.h"
#include <pthread.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <unistd.h>
#include "hostile_kit.h"

//  What a fake actor is.
typedef struct {
    const char *pool;       //  pool name
    int index;              //  index in the pool
} fake_args_t;

//  A fake pool actor: binds the pool's endpoint and echoes each request.
static void
s_fake_actor (zsock_t *pipe, void *args)
{
    fake_args_t *self = (fake_args_t *) args;
    char endpoint [128];
    wire_endpoint (self->pool, self->index, endpoint, sizeof endpoint);
    //  ZeroMQ frees an inproc endpoint when the reaper closes the previous
    //  test's socket, a moment after zsock_destroy: retry for up to 2 s.
    zsock_t *router = zsock_new (ZMQ_ROUTER);
    int bound = -1;
    for (int attempt = 0; router && bound != 0 && attempt < 200; attempt++) {
        bound = zsock_bind (router, "%s", endpoint);
        if (bound != 0)
            zclock_sleep (10);
    }
    if (bound != 0) {
        //  The test sees it as an actor that never answers.
        fprintf (stderr, "fake %s: cannot bind\n", endpoint);
        zsock_destroy (&router);
        zsock_signal (pipe, 0);
        return;
    }
    zpoller_t *poller = zpoller_new (pipe, router, NULL);
    zsock_signal (pipe, 0);
    while (true) {
        void *which = zpoller_wait (poller, 100);
        if (which == pipe) {
            zmsg_t *msg = zmsg_recv (pipe);
            zmsg_destroy (&msg);
            break;
        }
        if (which != router)
            continue;
        zframe_t *identity = NULL;
        wire_request_t req;
        if (wire_request_recv (router, &identity, &req))
            continue;
        //  As the real actors do: work whose deadline passed never starts.
        if (wire_request_expired (&req)) {
            wire_reply_send (router, &identity, req.seq, 503,
                             "{\"code\":\"TIMEOUT\",\"message\":\"not started\"}");
            wire_request_reset (&req);
            continue;
        }
        if (strncmp (req.idem, "slow-", 5) == 0)
            zclock_sleep (atoi (req.idem + 5));
        cJSON *echo = cJSON_CreateObject ();
        cJSON_AddStringToObject (echo, "pool", self->pool);
        cJSON_AddNumberToObject (echo, "index", self->index);
        cJSON_AddStringToObject (echo, "op", req.op);
        cJSON_AddStringToObject (echo, "arg", *req.cmd.order_no ? req.cmd.order_no : req.cmd.customer_id);
        cJSON_AddStringToObject (echo, "idem", req.idem);
        cJSON_AddStringToObject (echo, "rid", req.rid);
        cJSON_AddStringToObject (echo, "body", req.body);
        char *text = cJSON_PrintUnformatted (echo);
        wire_reply_send (router, &identity, req.seq, 200, text);
        free (text);
        cJSON_Delete (echo);
        wire_request_reset (&req);
    }
    zpoller_destroy (&poller);
    zsock_unbind (router, "%s", endpoint);
    zsock_destroy (&router);
}

//  A front and the fakes behind it.
typedef struct {
    config_t cfg;                   //  the front's settings
    metrics_t *metrics;             //  its counters
    http_front_args_t args;         //  its args
    zactor_t *front;                //  the front actor
    fake_args_t fake_args [8];      //  fakes' args
    zactor_t *fakes [8];            //  fake actors
    int fake_count;                 //  fakes running
} rig_t;

//  Starts a fake for pool/index.
static void
s_rig_fake (rig_t *rig, const char *pool, int index)
{
    assert_true (rig->fake_count < 8);
    fake_args_t *args = &rig->fake_args [rig->fake_count];
    args->pool = pool;
    args->index = index;
    rig->fakes [rig->fake_count] = zactor_new (s_fake_actor, args);
    assert_non_null (rig->fakes [rig->fake_count]);
    rig->fake_count++;
}

//  Stops the front first (as main does), then the fakes. Safe to call
//  twice (the teardown calls it after a failed test).
static void
s_rig_stop (rig_t *rig)
{
    zactor_destroy (&rig->front);
    for (int i = 0; i < rig->fake_count; i++)
        zactor_destroy (&rig->fakes [i]);
    rig->fake_count = 0;
    metrics_destroy (&rig->metrics);
}

//  Stops the rig after checking every request let go of its queue slot.
static void
s_rig_finish (rig_t *rig)
{
    zactor_destroy (&rig->front);
    assert_int_equal (metrics_gauge_get (rig->metrics, GAUGE_QUEUE_POINT), 0);
    assert_int_equal (metrics_gauge_get (rig->metrics, GAUGE_QUEUE_ORDER), 0);
    assert_int_equal (metrics_gauge_get (rig->metrics, GAUGE_QUEUE_DISPLAY), 0);
    s_rig_stop (rig);
}

//  cmocka setup: a zeroed rig as the test's state.
static int
s_setup (void **state)
{
    *state = calloc (1, sizeof (rig_t));
    return *state? 0: -1;
}

//  cmocka teardown: stops whatever a (possibly failed) test left running.
static int
s_teardown (void **state)
{
    rig_t *rig = (rig_t *) *state;
    s_rig_stop (rig);
    free (rig);
    return 0;
}

//  Default settings for a rig: one HTTP thread, so one set of DEALERs.
static void
s_rig_config (rig_t *rig)
{
    s_rig_stop (rig);
    memset (rig, 0, sizeof *rig);
    char err [256];
    char *argv [] = { (char *) "serve", NULL };
    assert_int_equal (config_load (&rig->cfg, 1, argv, err, sizeof err), 0);
    snprintf (rig->cfg.bind, sizeof rig->cfg.bind, "127.0.0.1");
    rig->cfg.port = tk_free_port ();
    rig->cfg.http_threads = 1;
    rig->cfg.point_actors = 2;
    rig->cfg.order_actors = 2;
    rig->cfg.display_actors = 1;
    rig->cfg.request_timeout_ms = 400;
    rig->cfg.max_body = 1024;
    rig->cfg.role = ROLE_ALL;
    //  Fake actors check no credential: the open API (tokens are proved
    //  against real stores in test_e2e_auth)
    rig->cfg.auth = 0;
    rig->cfg.metrics_public = 1;
    rig->metrics = metrics_new ();
    assert_non_null (rig->metrics);
}

//  Starts a front on args into *front; returns false when it ended within
//  wait_ms (a front that failed its start ends at once: its pipe turns
//  readable), true when it is listening.
static bool
s_front_start (http_front_args_t *args, zactor_t **front, int wait_ms)
{
    *front = zactor_new (http_front_actor, args);
    assert_non_null (*front);
    zpoller_t *poller = zpoller_new (zactor_sock (*front), NULL);
    bool died = zpoller_wait (poller, wait_ms) != NULL;
    zpoller_destroy (&poller);
    return !died;
}

//  Starts the rig's front; returns true when it is listening.
static bool
s_rig_front (rig_t *rig)
{
    rig->args.cfg = &rig->cfg;
    rig->args.metrics = rig->metrics;
    return s_front_start (&rig->args, &rig->front, 300);
}

//  Starts fakes for every pool the role runs, then the front.
static void
s_rig_start (rig_t *rig)
{
    if (rig->cfg.role != ROLE_DISPLAY) {
        for (int i = 0; i < rig->cfg.point_actors; i++)
            s_rig_fake (rig, ACTOR_POOL_POINT, i);
        for (int i = 0; i < rig->cfg.order_actors; i++)
            s_rig_fake (rig, ACTOR_POOL_ORDER, i);
    }
    if (rig->cfg.role != ROLE_ORDER)
        for (int i = 0; i < rig->cfg.display_actors; i++)
            s_rig_fake (rig, ACTOR_POOL_DISPLAY, i);
    assert_true (s_rig_front (rig));
}

//  One request; asserts the status and returns the response.
static void
s_call (rig_t *rig, const char *method, const char *path, const char *body,
        const char *const *headers, long status, tk_resp_t *resp)
{
    memset (resp, 0, sizeof *resp);
    tk_http (method, rig->cfg.port, path, body, headers, resp);
    if (resp->status != status)
        print_error ("%s %s: %ld %s\n", method, path, resp->status, resp->body);
    assert_int_equal (resp->status, status);
    //  Every answer is JSON (metrics aside) and names its request.
    char rid [128];
    assert_true (tk_resp_header (resp, "X-Request-Id", rid, sizeof rid));
    assert_true (strlen (rid) > 0);
    if (strcmp (path, "/metrics") != 0) {
        assert_string_equal (resp->content_type, "application/json; charset=utf-8");
        assert_non_null (resp->json);
    }
}

//  A string member of the response JSON ("" when absent).
static const char *
s_str (const tk_resp_t *resp, const char *name)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive (resp->json, name);
    return cJSON_IsString (item)? item->valuestring: "";
}

//  The echoed actor index.
static int
s_index (const tk_resp_t *resp)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive (resp->json, "index");
    assert_true (cJSON_IsNumber (item));
    return item->valueint;
}

//  Each route reaches its pool with its op, the canonical body and the
//  headers that matter; bad requests never reach an actor.
static void
test_routes (void **state)
{
    rig_t *rig = (rig_t *) *state;
    s_rig_config (rig);
    s_rig_start (rig);
    tk_resp_t r;

    const char *key [] = { "Idempotency-Key: abc", "X-Request-Id: test.rid-1", NULL };
    s_call (rig, "POST", "/point",
            "{\"chargeAmt\":1e3,\"customerId\":\"CUST-00000001\",\"extra\":[1]}", key, 200, &r);
    assert_string_equal (s_str (&r, "pool"), "point");
    assert_string_equal (s_str (&r, "op"), WIRE_OP_POINT_CHARGE);
    assert_string_equal (s_str (&r, "body"), "{\"customerId\":\"CUST-00000001\",\"chargeAmt\":1000}");
    assert_string_equal (s_str (&r, "idem"), "abc");
    assert_string_equal (s_str (&r, "rid"), "test.rid-1");
    char rid [128];
    tk_resp_header (&r, "X-Request-Id", rid, sizeof rid);
    assert_string_equal (rid, "test.rid-1");
    tk_resp_reset (&r);

    //  The key means nothing on POST /customer: not passed, not checked.
    const char *empty_key [] = { "Idempotency-Key;", NULL };     //  curl: sent empty
    s_call (rig, "POST", "/customer", "{\"customerNm\":\"Kim\"}", key, 200, &r);
    assert_string_equal (s_str (&r, "op"), WIRE_OP_CUSTOMER_CREATE);
    assert_string_equal (s_str (&r, "idem"), "");
    tk_resp_reset (&r);
    s_call (rig, "POST", "/customer", "{\"customerNm\":\"Kim\"}", empty_key, 200, &r);
    tk_resp_reset (&r);
    s_call (rig, "POST", "/order",
            "{\"customerId\":\"CUST-00000001\",\"menuList\":[{\"menuId\":\"MENU-00000001\",\"qy\":1}]}",
            empty_key, 400, &r);
    assert_string_equal (s_str (&r, "field"), "Idempotency-Key");
    tk_resp_reset (&r);

    s_call (rig, "POST", "/order",
            "{\"customerId\":\"CUST-00000001\",\"menuList\":[{\"menuId\":\"MENU-00000001\",\"qy\":2}]}",
            NULL, 200, &r);
    assert_string_equal (s_str (&r, "pool"), "order");
    assert_string_equal (s_str (&r, "op"), WIRE_OP_ORDER_CREATE);
    //  A generated request id.
    assert_memory_equal (s_str (&r, "rid"), "r-", 2);
    tk_resp_reset (&r);

    s_call (rig, "GET", "/point/CUST-00000007", NULL, NULL, 200, &r);
    assert_string_equal (s_str (&r, "op"), WIRE_OP_POINT_GET);
    assert_string_equal (s_str (&r, "arg"), "CUST-00000007");
    tk_resp_reset (&r);
    s_call (rig, "GET", "/order/ORD-00000027", NULL, NULL, 200, &r);
    assert_string_equal (s_str (&r, "op"), WIRE_OP_ORDER_GET);
    assert_string_equal (s_str (&r, "arg"), "ORD-00000027");
    tk_resp_reset (&r);
    s_call (rig, "GET", "/display/menu", NULL, NULL, 200, &r);
    assert_string_equal (s_str (&r, "op"), WIRE_OP_DISPLAY_MENU);
    tk_resp_reset (&r);
    s_call (rig, "GET", "/display/best", NULL, NULL, 200, &r);
    assert_string_equal (s_str (&r, "op"), WIRE_OP_DISPLAY_BEST);
    tk_resp_reset (&r);

    //  Refused before any actor sees them.
    s_call (rig, "GET", "/point/CUST-1", NULL, NULL, 400, &r);
    assert_string_equal (s_str (&r, "field"), "customerId");
    tk_resp_reset (&r);
    s_call (rig, "GET", "/nowhere", NULL, NULL, 404, &r);
    assert_string_equal (s_str (&r, "code"), "NOT_FOUND");
    tk_resp_reset (&r);
    s_call (rig, "DELETE", "/order/ORD-00000027", NULL, NULL, 405, &r);
    assert_string_equal (s_str (&r, "code"), "METHOD_NOT_ALLOWED");
    char allow [64];
    assert_true (tk_resp_header (&r, "Allow", allow, sizeof allow));
    assert_string_equal (allow, "GET, HEAD");
    tk_resp_reset (&r);
    s_call (rig, "GET", "/order", NULL, NULL, 405, &r);
    assert_true (tk_resp_header (&r, "Allow", allow, sizeof allow));
    assert_string_equal (allow, "POST");
    tk_resp_reset (&r);
    const char *text [] = { "Content-Type: text/plain", NULL };
    s_call (rig, "POST", "/customer", "{\"customerNm\":\"Kim\"}", text, 415, &r);
    assert_string_equal (s_str (&r, "code"), "UNSUPPORTED_MEDIA_TYPE");
    tk_resp_reset (&r);
    const char *none [] = { "Content-Type:", NULL };
    s_call (rig, "POST", "/customer", "{\"customerNm\":\"Kim\"}", none, 415, &r);
    tk_resp_reset (&r);
    const char *charset [] = { "Content-Type: application/json; charset=UTF-8", NULL };
    s_call (rig, "POST", "/customer", "{\"customerNm\":\"Kim\"}", charset, 200, &r);
    tk_resp_reset (&r);
    s_call (rig, "POST", "/customer", "", NULL, 400, &r);
    assert_string_equal (s_str (&r, "code"), "INVALID_JSON");
    tk_resp_reset (&r);
    s_call (rig, "POST", "/customer", "{\"customerNm\":", NULL, 400, &r);
    assert_string_equal (s_str (&r, "code"), "INVALID_JSON");
    tk_resp_reset (&r);

    //  Over max_body (1024 here), whether announced or streamed.
    char big [3000];
    memset (big, ' ', sizeof big);
    memcpy (big, "{\"customerNm\":\"Kim\"}", 20);
    big [sizeof big - 1] = '\0';
    s_call (rig, "POST", "/customer", big, NULL, 413, &r);
    assert_string_equal (s_str (&r, "code"), "PAYLOAD_TOO_LARGE");
    tk_resp_reset (&r);
    const char *chunked [] = { "Transfer-Encoding: chunked", NULL };
    s_call (rig, "POST", "/customer", big, chunked, 413, &r);
    tk_resp_reset (&r);
    big [1000] = '\0';
    s_call (rig, "POST", "/customer", big, chunked, 200, &r);
    tk_resp_reset (&r);

    //  Metrics count the answers, errors included.
    s_call (rig, "GET", "/metrics", NULL, NULL, 200, &r);
    assert_non_null (strstr (r.content_type, "text/plain"));
    assert_non_null (strstr (r.body, "/customer"));
    assert_non_null (strstr (r.body, "413"));
    tk_resp_reset (&r);
    s_rig_finish (rig);
}

//  One customer's requests meet in one actor; with every actor a lane
//  (--lane-requests 0), customers spread over the pool.
static void
test_hash_routing (void **state)
{
    rig_t *rig = (rig_t *) *state;
    s_rig_config (rig);
    rig->cfg.http_threads = 2;
    rig->cfg.lane_requests = 0;
    s_rig_start (rig);
    bool used [2] = { false, false };
    for (int c = 1; c <= 16; c++) {
        char body [128], path [64];
        snprintf (body, sizeof body, "{\"customerId\":\"CUST-%08d\",\"chargeAmt\":1}", c);
        snprintf (path, sizeof path, "/point/CUST-%08d", c);
        tk_resp_t r;
        s_call (rig, "POST", "/point", body, NULL, 200, &r);
        int first = s_index (&r);
        tk_resp_reset (&r);
        for (int i = 0; i < 3; i++) {
            s_call (rig, "POST", "/point", body, NULL, 200, &r);
            assert_int_equal (s_index (&r), first);
            tk_resp_reset (&r);
        }
        s_call (rig, "GET", path, NULL, NULL, 200, &r);
        assert_int_equal (s_index (&r), first);
        tk_resp_reset (&r);
        snprintf (body, sizeof body, "{\"customerId\":\"CUST-%08d\",\"menuList\":"
                  "[{\"menuId\":\"MENU-00000001\",\"qy\":1}]}", c);
        s_call (rig, "POST", "/order", body, NULL, 200, &r);
        int order_first = s_index (&r);
        tk_resp_reset (&r);
        s_call (rig, "POST", "/order", body, NULL, 200, &r);
        assert_int_equal (s_index (&r), order_first);
        tk_resp_reset (&r);
        used [first] = true;
    }
    assert_true (used [0] && used [1]);
    s_rig_finish (rig);
}

//  One HTTP thread, one busy actor: a write the actor started answers with
//  its real outcome even past the deadline; one queued behind it whose
//  deadline passed before it started gets 503 TIMEOUT from the actor; and
//  reads go on being answered at once meanwhile (the thread never waits).
static void
s_slow_post (rig_t *rig, const char *key, tk_resp_t *resp)
{
    const char *body = "{\"customerId\":\"CUST-00000003\",\"chargeAmt\":5}";
    const char *headers [] = { key, NULL };
    memset (resp, 0, sizeof *resp);
    tk_http ("POST", rig->cfg.port, "/point", body, headers, resp);
}

//  One POST /point of customer c, on its own thread, that holds its (fake)
//  actor hold_ms.
typedef struct {
    rig_t *rig;             //  the rig
    int customer;           //  CUST-%08d
    int hold_ms;            //  the fake sleeps this long
    tk_resp_t resp;         //  its answer
} post_call_t;

static void *
s_post_thread (void *arg)
{
    post_call_t *call = (post_call_t *) arg;
    char body [128], key [64];
    snprintf (body, sizeof body, "{\"customerId\":\"CUST-%08d\",\"chargeAmt\":1}",
              call->customer);
    snprintf (key, sizeof key, "Idempotency-Key: slow-%d", call->hold_ms);
    const char *headers [] = { key, NULL };
    memset (&call->resp, 0, sizeof call->resp);
    tk_http ("POST", call->rig->cfg.port, "/point", body, headers, &call->resp);
    return NULL;
}

//  Lanes (--lane-requests 2, two point actors): while the pool is idle
//  every customer's requests go to the first actor; with requests queued
//  at it, the second opens and takes the customers whose hash falls
//  there (CUST-00000002, 3, 5 and 7 of 1 to 8), at least two of the six
//  that came while two or more were queued.
static void
test_lanes (void **state)
{
    rig_t *rig = (rig_t *) *state;
    s_rig_config (rig);
    rig->cfg.lane_requests = 2;
    rig->cfg.request_timeout_ms = 5000;
    s_rig_start (rig);
    for (int c = 1; c <= 16; c++) {
        char body [128];
        snprintf (body, sizeof body, "{\"customerId\":\"CUST-%08d\",\"chargeAmt\":1}", c);
        tk_resp_t r;
        s_call (rig, "POST", "/point", body, NULL, 200, &r);
        assert_int_equal (s_index (&r), 0);
        tk_resp_reset (&r);
    }
    post_call_t calls [8];
    pthread_t threads [8];
    for (int i = 0; i < 8; i++) {
        calls [i] = (post_call_t) { rig, i + 1, 100, { 0 } };
        assert_int_equal (pthread_create (&threads [i], NULL, s_post_thread, &calls [i]), 0);
    }
    int second = 0;
    for (int i = 0; i < 8; i++) {
        pthread_join (threads [i], NULL);
        assert_int_equal (calls [i].resp.status, 200);
        int index = s_index (&calls [i].resp);
        if (index == 1) {
            second++;
            int c = calls [i].customer;
            assert_true (c == 2 || c == 3 || c == 5 || c == 7);
        }
        tk_resp_reset (&calls [i].resp);
    }
    assert_true (second >= 2);
    s_rig_finish (rig);
}

typedef struct {
    rig_t *rig;             //  the rig
    const char *key;        //  Idempotency-Key header line
    tk_resp_t resp;         //  its answer
} slow_call_t;

static void *
s_slow_thread (void *arg)
{
    slow_call_t *call = (slow_call_t *) arg;
    s_slow_post (call->rig, call->key, &call->resp);
    return NULL;
}

static void
test_deadline_and_real_outcome (void **state)
{
    rig_t *rig = (rig_t *) *state;
    s_rig_config (rig);
    s_rig_start (rig);
    slow_call_t first = { rig, "Idempotency-Key: slow-700", { 0 } };
    slow_call_t second = { rig, "Idempotency-Key: queued", { 0 } };
    int64_t started = tk_now_ms ();
    pthread_t t1, t2;
    assert_int_equal (pthread_create (&t1, NULL, s_slow_thread, &first), 0);
    zclock_sleep (100);
    assert_int_equal (pthread_create (&t2, NULL, s_slow_thread, &second), 0);
    //  While both wait, the one HTTP thread still answers reads at once.
    zclock_sleep (100);
    for (int i = 0; i < 5; i++) {
        int64_t t = tk_now_ms ();
        tk_resp_t r;
        s_call (rig, "GET", "/display/menu", NULL, NULL, 200, &r);
        assert_true (tk_now_ms () - t < 150);
        tk_resp_reset (&r);
    }
    pthread_join (t1, NULL);
    pthread_join (t2, NULL);
    int64_t took = tk_now_ms () - started;
    assert_int_equal (first.resp.status, 200);      //  started in time: its real outcome
    assert_true (took >= 650 && took < 3000);
    assert_int_equal (second.resp.status, 503);     //  its deadline passed in the queue
    assert_non_null (strstr (second.resp.body, "TIMEOUT"));
    tk_resp_reset (&first.resp);
    tk_resp_reset (&second.resp);

    //  Same customer → same actor, and nothing stale is left on the socket.
    tk_resp_t r;
    const char *next [] = { "Idempotency-Key: next", NULL };
    s_call (rig, "POST", "/point", "{\"customerId\":\"CUST-00000003\",\"chargeAmt\":5}",
            next, 200, &r);
    assert_string_equal (s_str (&r, "idem"), "next");
    tk_resp_reset (&r);
    s_rig_finish (rig);
}

//  GET /health: parts from the pools and the bridge gauges.
static void
test_health (void **state)
{
    rig_t *rig = (rig_t *) *state;
    s_rig_config (rig);
    s_rig_start (rig);
    metrics_gauge_set (rig->metrics, GAUGE_BRIDGE_UP, 1);
    metrics_gauge_set (rig->metrics, GAUGE_PROJECTION_UP, 1);
    metrics_gauge_set (rig->metrics, GAUGE_COLLECTOR_UP, 1);
    tk_resp_t r;
    s_call (rig, "GET", "/health", NULL, NULL, 200, &r);
    assert_string_equal (s_str (&r, "status"), "UP");
    assert_string_equal (s_str (&r, "role"), "all");
    cJSON *parts = cJSON_GetObjectItem (r.json, "parts");
    const char *names [] = { "point", "order", "display", "bridge", "projection", "collector" };
    for (size_t i = 0; i < 6; i++)
        assert_string_equal (cJSON_GetObjectItem (parts, names [i])->valuestring, "UP");
    tk_resp_reset (&r);

    //  A sink down degrades but still takes orders; a part not run is left out.
    metrics_gauge_set (rig->metrics, GAUGE_COLLECTOR_UP, 0);
    metrics_gauge_set (rig->metrics, GAUGE_PROJECTION_UP, -1);
    s_call (rig, "GET", "/health", NULL, NULL, 200, &r);
    assert_string_equal (s_str (&r, "status"), "DEGRADED");
    parts = cJSON_GetObjectItem (r.json, "parts");
    assert_string_equal (cJSON_GetObjectItem (parts, "collector")->valuestring, "DOWN");
    assert_null (cJSON_GetObjectItem (parts, "projection"));
    tk_resp_reset (&r);
    s_rig_finish (rig);

    //  A pool whose actors report themselves down (their store check
    //  failed): 503 at once, without asking any actor.
    s_rig_config (rig);
    s_rig_fake (rig, ACTOR_POOL_POINT, 0);
    s_rig_fake (rig, ACTOR_POOL_POINT, 1);
    s_rig_fake (rig, ACTOR_POOL_ORDER, 0);
    s_rig_fake (rig, ACTOR_POOL_ORDER, 1);
    assert_true (s_rig_front (rig));       //  no display actor bound
    metrics_gauge_set (rig->metrics, GAUGE_DOWN_DISPLAY, 1);
    int64_t started = tk_now_ms ();
    s_call (rig, "GET", "/health", NULL, NULL, 503, &r);
    assert_true (tk_now_ms () - started < 500);
    assert_string_equal (s_str (&r, "status"), "DEGRADED");
    parts = cJSON_GetObjectItem (r.json, "parts");
    assert_string_equal (cJSON_GetObjectItem (parts, "display")->valuestring, "DOWN");
    assert_string_equal (cJSON_GetObjectItem (parts, "point")->valuestring, "UP");
    tk_resp_reset (&r);
    //  A read to the missing pool times out as a 503 too.
    s_call (rig, "GET", "/display/menu", NULL, NULL, 503, &r);
    assert_string_equal (s_str (&r, "code"), "TIMEOUT");
    tk_resp_reset (&r);
    s_rig_finish (rig);
}

//  Routes of a part another role serves are 404 with a hint.
static void
test_roles (void **state)
{
    rig_t *rig = (rig_t *) *state;
    s_rig_config (rig);
    rig->cfg.role = ROLE_ORDER;
    s_rig_start (rig);
    tk_resp_t r;
    s_call (rig, "GET", "/display/best", NULL, NULL, 404, &r);
    assert_non_null (strstr (s_str (&r, "message"), "display role"));
    tk_resp_reset (&r);
    s_call (rig, "GET", "/health", NULL, NULL, 200, &r);
    assert_null (cJSON_GetObjectItem (cJSON_GetObjectItem (r.json, "parts"), "display"));
    assert_string_equal (s_str (&r, "role"), "order");
    tk_resp_reset (&r);
    s_rig_finish (rig);

    s_rig_config (rig);
    rig->cfg.role = ROLE_DISPLAY;
    s_rig_start (rig);
    s_call (rig, "POST", "/order", "{}", NULL, 404, &r);
    assert_non_null (strstr (s_str (&r, "message"), "order role"));
    tk_resp_reset (&r);
    s_call (rig, "GET", "/display/menu", NULL, NULL, 200, &r);
    tk_resp_reset (&r);
    s_rig_finish (rig);
}

//  A port already taken fails the start: the actor ends at once, whether
//  another process's plain socket or another front's holds it.
static void
test_port_in_use (void **state)
{
    rig_t *rig = (rig_t *) *state;
    s_rig_config (rig);
    int fd = socket (AF_INET, SOCK_STREAM, 0);
    assert_true (fd >= 0);
    struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons (rig->cfg.port) };
    inet_pton (AF_INET, "127.0.0.1", &addr.sin_addr);
    assert_int_equal (bind (fd, (struct sockaddr *) &addr, sizeof addr), 0);
    assert_int_equal (listen (fd, 4), 0);
    assert_false (s_rig_front (rig));
    close (fd);
    s_rig_finish (rig);

    //  Two workers listen with SO_REUSEPORT: a second front of two workers
    //  on the same port must still fail, not share the port with the first.
    s_rig_config (rig);
    rig->cfg.http_threads = 2;
    s_rig_start (rig);
    config_t second_cfg = rig->cfg;
    http_front_args_t second_args = { .cfg = &second_cfg, .metrics = rig->metrics };
    zactor_t *second = NULL;
    bool listening = s_front_start (&second_args, &second, 1000);
    zactor_destroy (&second);
    assert_false (listening);
    tk_resp_t r;
    s_call (rig, "GET", "/health", NULL, NULL, 200, &r);
    tk_resp_reset (&r);
    s_rig_finish (rig);
}

//  The connections worker w holds, from /metrics; -1 when absent.
static int64_t
s_worker_conns (rig_t *rig, int w)
{
    char sample [64];
    snprintf (sample, sizeof sample, "coffee_http_connections{worker=\"%d\"}", w);
    int64_t value;
    return tk_metric (rig->cfg.port, sample, &value) == 200? value: -1;
}

//  A burst of keep-alive connections, opened all at once as a client pool
//  or a load balancer opens them, is spread over the HTTP workers: none
//  takes them all while the other has none. Each is served.
static void
test_connections_spread (void **state)
{
    rig_t *rig = (rig_t *) *state;
    s_rig_config (rig);
    rig->cfg.http_threads = 2;
    s_rig_start (rig);
    enum { CONNS = 64 };
    int fds [CONNS];
    for (int i = 0; i < CONNS; i++) {
        fds [i] = hk_connect (rig->cfg.port);
        assert_true (fds [i] >= 0);
    }
    const char *get = "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    for (int i = 0; i < CONNS; i++)
        assert_int_equal (hk_send (fds [i], get, strlen (get), false), 0);
    for (int i = 0; i < CONNS; i++) {
        hk_reply_t reply;
        assert_int_equal (hk_read (fds [i], 1, 0, HK_READ_MS, &reply), 0);
        assert_int_equal (reply.count, 1);
        assert_int_equal (reply.status [0], 200);
        assert_false (reply.closed);
        hk_reply_reset (&reply);
    }
    //  The counts are taken every 200 ms; the /metrics call holds one more.
    int64_t conns [2] = { -1, -1 };
    int64_t deadline = tk_now_ms () + 3000;
    do {
        zclock_sleep (250);
        conns [0] = s_worker_conns (rig, 0);
        conns [1] = s_worker_conns (rig, 1);
    } while (conns [0] + conns [1] < CONNS && tk_now_ms () < deadline);
    fprintf (stderr, "%d connections: worker 0 holds %" PRId64 ", worker 1 %" PRId64 "\n",
             CONNS, conns [0], conns [1]);
    assert_true (conns [0] + conns [1] >= CONNS);
    //  Fewer than 16 of 64 on a side is 1 in 30,000 for a fair coin.
    assert_true (conns [0] >= CONNS / 4);
    assert_true (conns [1] >= CONNS / 4);
    for (int i = 0; i < CONNS; i++)
        close (fds [i]);
    s_rig_finish (rig);
}

//  $TERM lets a request in flight finish, then the port is closed.
static void
test_shutdown_in_flight (void **state)
{
    rig_t *rig = (rig_t *) *state;
    s_rig_config (rig);
    rig->cfg.request_timeout_ms = 3000;
    s_rig_start (rig);
    post_call_t inflight = { rig, 9, 400, { 0 } };
    pthread_t thread;
    assert_int_equal (pthread_create (&thread, NULL, s_post_thread, &inflight), 0);
    zclock_sleep (150);
    int64_t started = tk_now_ms ();
    zactor_destroy (&rig->front);
    int64_t took = tk_now_ms () - started;
    pthread_join (thread, NULL);
    assert_int_equal (inflight.resp.status, 200);
    tk_resp_reset (&inflight.resp);
    assert_true (took >= 100 && took < 3000);
    tk_resp_t r;
    memset (&r, 0, sizeof r);
    assert_int_equal (tk_http ("GET", rig->cfg.port, "/health", NULL, NULL, &r), -1);
    tk_resp_reset (&r);
    s_rig_finish (rig);
}

int
main (void)
{
    //  curl's global init once, before any thread uses it.
    tk_resp_t r;
    memset (&r, 0, sizeof r);
    tk_http ("GET", tk_free_port (), "/", NULL, NULL, &r);
    tk_resp_reset (&r);

    const struct CMUnitTest tests [] = {
        cmocka_unit_test_setup_teardown (test_routes, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_hash_routing, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_lanes, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_deadline_and_real_outcome, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_health, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_roles, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_port_in_use, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_connections_spread, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_shutdown_in_flight, s_setup, s_teardown),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
