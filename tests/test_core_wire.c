/*  Tests of the wire format, the order event, and the util helpers.

    ctest bound: COFFEE_TEST_TIMEOUT 60 s. */
#include "testkit.h"
#include <cmocka.h>
#include "coffee.h"

//  A request goes out, arrives whole, and its reply comes back.
static void
test_round_trip (void **state)
{
    char endpoint [64];
    wire_endpoint ("wiretest", 0, endpoint, sizeof endpoint);
    assert_string_equal (endpoint, "inproc://coffee-wiretest-0");
    zsock_t *router = zsock_new_router (endpoint);
    assert_non_null (router);
    zsock_set_rcvtimeo (router, 2000);
    zsock_t *dealer = wire_dealer_new ("wiretest", 0, 2000);
    assert_non_null (dealer);

    wire_request_t req = { .seq = 42, .body = "{\"customerNm\":\"kim\"}" };
    strcpy (req.rid, "r-1");
    strcpy (req.op, WIRE_OP_CUSTOMER_CREATE);
    strcpy (req.cmd.customer_id, "CUST-00000001");
    req.deadline_ms = 123456789;
    strcpy (req.idem, "key-1");
    assert_int_equal (wire_request_send (dealer, &req), 0);

    zframe_t *identity = NULL;
    wire_request_t got;
    assert_int_equal (wire_request_recv (router, &identity, &got), 0);
    assert_non_null (identity);
    assert_string_equal (got.rid, "r-1");
    assert_true (got.seq == 42);
    assert_string_equal (got.op, WIRE_OP_CUSTOMER_CREATE);
    assert_string_equal (got.cmd.customer_id, "CUST-00000001");
    assert_int_equal (got.deadline_ms, 123456789);
    assert_string_equal (got.idem, "key-1");
    assert_string_equal (got.body, "{\"customerNm\":\"kim\"}");

    //  A stale reply first, then ours: wire_call must skip the stale one.
    zframe_t *stale = zframe_dup (identity);
    assert_int_equal (wire_reply_send (router, &stale, 41, 503, "{}"), 0);
    assert_int_equal (wire_reply_send (router, &identity, 42, 200, "{\"ok\":true}"), 0);
    assert_null (identity);
    wire_request_reset (&got);

    uint64_t seq;
    int status;
    char *body;
    assert_int_equal (wire_reply_recv (dealer, &seq, &status, &body), 0);
    assert_true (seq == 41);
    zstr_free (&body);
    assert_int_equal (wire_reply_recv (dealer, &seq, &status, &body), 0);
    assert_int_equal (status, 200);
    assert_string_equal (body, "{\"ok\":true}");
    zstr_free (&body);

    //  wire_call: nobody answers → -1 within the timeout.
    req.seq = 43;
    int64_t start = zclock_mono ();
    assert_int_equal (wire_call (dealer, &req, 200, &status, &body), -1);
    assert_true (zclock_mono () - start < 1500);
    assert_null (body);
    //  drain the request the router got
    assert_int_equal (wire_request_recv (router, &identity, &got), 0);
    zframe_destroy (&identity);
    wire_request_reset (&got);

    //  A malformed request is dropped, not returned.
    zstr_send (dealer, "garbage");
    assert_int_equal (wire_request_recv (router, &identity, &got), -1);
    assert_null (identity);

    zsock_destroy (&dealer);
    zsock_destroy (&router);
}

static void
test_event_codec (void **state)
{
    event_line_t lines [2] = { { "MENU-00000001", 1 }, { "MENU-00000003", 4 } };
    event_order_t ev = { "ORD-00000027", "CUST-00000004", 22200, 1764041200123LL, 2, lines };
    char *json = event_order_encode (&ev);
    assert_non_null (json);
    assert_non_null (strstr (json, "\"orderedAt\":\"2025-11-25T03:26:40.123Z\""));
    event_order_t back;
    assert_int_equal (event_order_decode (json, strlen (json), &back), 0);
    assert_string_equal (back.order_no, "ORD-00000027");
    assert_string_equal (back.customer_id, "CUST-00000004");
    assert_true (back.pay_amt == 22200);
    assert_true (back.ordered_at_ms == 1764041200123LL);
    assert_int_equal (back.line_count, 2);
    assert_string_equal (back.lines [1].menu_id, "MENU-00000003");
    assert_true (back.lines [1].qy == 4);
    event_order_reset (&back);
    free (json);

    const char *bad [] = {
        "", "[]", "{}", "not json",
        "{\"orderNo\":\"O\",\"customerId\":\"C\",\"menuList\":[],\"payAmt\":1,\"orderedAt\":\"2025-11-25T03:26:40.123Z\"}",
        "{\"orderNo\":\"O\",\"customerId\":\"C\",\"menuList\":[{\"menuId\":\"M\",\"qy\":0}],\"payAmt\":1,\"orderedAt\":\"2025-11-25T03:26:40.123Z\"}",
        "{\"orderNo\":\"O\",\"customerId\":\"C\",\"menuList\":[{\"menuId\":\"M\",\"qy\":1}],\"payAmt\":1.5,\"orderedAt\":\"2025-11-25T03:26:40.123Z\"}",
        "{\"orderNo\":\"O\",\"customerId\":\"C\",\"menuList\":[{\"menuId\":\"M\",\"qy\":1}],\"payAmt\":1,\"orderedAt\":\"yesterday\"}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad [0]; i++) {
        assert_int_equal (event_order_decode (bad [i], strlen (bad [i]), &back), -1);
        assert_null (back.lines);
    }
}

static void
test_util (void **state)
{
    int64_t out = 7;
    assert_false (util_add_i64 (INT64_MAX, 1, &out));
    assert_true (out == 7);
    assert_true (util_add_i64 (INT64_MAX - 1, 1, &out) && out == INT64_MAX);
    assert_false (util_mul_i64 (INT64_MAX / 2 + 1, 2, &out));
    assert_true (util_mul_i64 (4500, 100, &out) && out == 450000);

    char buf [UTIL_ISO_MAX];
    assert_string_equal (util_iso8601 (0, buf), "1970-01-01T00:00:00.000Z");
    int64_t ms;
    assert_int_equal (util_parse_iso8601 ("2026-11-25T03:26:40.007Z", &ms), 0);
    assert_string_equal (util_iso8601 (ms, buf), "2026-11-25T03:26:40.007Z");
    assert_int_equal (util_parse_iso8601 ("2026-11-25T03:26:40Z", &ms), 0);
    assert_int_equal (util_parse_iso8601 ("2026-11-25 03:26:40", &ms), -1);
    assert_int_equal (util_parse_iso8601 ("2026-11-25T03:26:40.1Z", &ms), -1);

    cJSON *doc = cJSON_Parse ("[1, 1.5, 9007199254740993, -3, \"4\", 1e3]");
    int64_t v;
    assert_int_equal (util_json_int64 (cJSON_GetArrayItem (doc, 0), &v), 0);
    assert_true (v == 1);
    assert_int_equal (util_json_int64 (cJSON_GetArrayItem (doc, 1), &v), -1);
    assert_int_equal (util_json_int64 (cJSON_GetArrayItem (doc, 2), &v), -1);
    assert_int_equal (util_json_int64 (cJSON_GetArrayItem (doc, 3), &v), 0);
    assert_true (v == -3);
    assert_int_equal (util_json_int64 (cJSON_GetArrayItem (doc, 4), &v), -1);
    assert_int_equal (util_json_int64 (cJSON_GetArrayItem (doc, 5), &v), 0);
    assert_true (v == 1000);
    assert_int_equal (util_json_int64 (NULL, &v), -1);
    cJSON_Delete (doc);

    char *err = util_error_json ("NO_POINT", "2000 포인트가 부족합니다.");
    assert_string_equal (err, "{\"code\":\"NO_POINT\",\"message\":\"2000 포인트가 부족합니다.\"}");
    free (err);
}

static void
test_metrics (void **state)
{
    metrics_t *m = metrics_new ();
    metrics_observe (m, ROUTE_ORDER_CREATE, 200, 0.003);
    metrics_observe (m, ROUTE_ORDER_CREATE, 200, 0.2);
    metrics_observe (m, ROUTE_ORDER_CREATE, 409, 0.001);
    metrics_observe (m, ROUTE_UNMATCHED, 418, 0.001);
    metrics_gauge_add (m, GAUGE_QUEUE_ORDER, 3);
    metrics_gauge_add (m, GAUGE_QUEUE_ORDER, -1);
    char *text = metrics_render (m);
    assert_non_null (strstr (text, "coffee_http_requests_total{method=\"POST\",route=\"/order\",status=\"200\"} 2\n"));
    assert_non_null (strstr (text, "coffee_http_requests_total{method=\"POST\",route=\"/order\",status=\"409\"} 1\n"));
    assert_non_null (strstr (text, "route=\"unmatched\",status=\"other\"} 1\n"));
    assert_non_null (strstr (text, "coffee_http_request_duration_seconds_bucket{method=\"POST\",route=\"/order\",status=\"200\",le=\"0.005\"} 1\n"));
    assert_non_null (strstr (text, "coffee_http_request_duration_seconds_bucket{method=\"POST\",route=\"/order\",status=\"200\",le=\"0.25\"} 2\n"));
    assert_non_null (strstr (text, "coffee_actor_queue_depth{pool=\"order\"} 2\n"));
    assert_non_null (strstr (text, "# TYPE coffee_actor_queue_depth gauge\n"));
    assert_non_null (strstr (text, "coffee_bridge_up -1\n"));
    free (text);
    metrics_destroy (&m);
    metrics_destroy (&m);
    assert_null (m);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_round_trip),
        cmocka_unit_test (test_event_codec),
        cmocka_unit_test (test_util),
        cmocka_unit_test (test_metrics),
    };
    int rc = cmocka_run_group_tests (tests, NULL, NULL);
    zsys_shutdown ();
    return rc;
}
