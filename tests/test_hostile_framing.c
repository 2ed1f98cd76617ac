/*  test_hostile_framing — the three framing attacks that let a request
    mean two things to two parsers (request smuggling), asserted as the
    fixed behaviour the lead is building: each must be refused with 400 and
    change nothing, and the server must keep serving.

      1. two Content-Length headers, conflicting or duplicate → 400
      2. Content-Length together with Transfer-Encoding → 400
      3. HTTP/1.1 without Host → 400

    Each body is a request that WOULD succeed under one reading (a new
    customer, a charge), so accepting it shows up as changed state too.
    Expected to fail until http/front.c refuses them; then it must pass.

    ctest bound: COFFEE_TEST_TIMEOUT 120 s. */

#include "testkit.h"
#include <cmocka.h>
#include "hostile_kit.h"

//  The world of the group.
static hk_world_t s_world;

//  Sends one request and asserts a 400 whose connection is not reused,
//  and that the server still answers.
static void
s_assert_refused (const char *what, const char *request)
{
    hk_reply_t reply;
    assert_int_equal (hk_exchange (s_world.server.port, request, strlen (request), false, false,
                                   1, 0, HK_READ_MS, &reply), 0);
    if (reply.count < 1 || reply.status [0] != 400) {
        fprintf (stderr, "%s: expected 400, got %d answer(s) %d: %.200s\n", what, reply.count,
                 reply.count? reply.status [0]: 0, reply.raw? reply.raw: "");
        hk_reply_reset (&reply);
        fail_msg ("%s was not refused with 400", what);
    }
    //  One answer only: nothing smuggled in after the body was served
    assert_int_equal (reply.count, 1);
    hk_reply_reset (&reply);
    hk_assert_up (s_world.server.port);
}

//  Starts the world.
static int
s_setup (void **state)
{
    const char *extra [] = { "--log-level", "warn", NULL };
    hk_world_start (&s_world, extra);
    return 0;
}

//  Stops the server; it must stop cleanly.
static int
s_teardown (void **state)
{
    return tk_server_stop (&s_world.server) == 0? 0: -1;
}

//  Conflicting and duplicate Content-Length: under the first a new
//  customer, under the second a JSON error, and the rest a second request.
static void
test_framing_content_length_twice (void **state)
{
    char *before = hk_snapshot (&s_world);
    const char *body = "{\"customerNm\":\"smuggled\"}";
    char request [1024];
    snprintf (request, sizeof request,
              "POST /customer HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
              "Content-Length: %zu\r\nContent-Length: 2\r\nConnection: close\r\n\r\n%s",
              strlen (body), body);
    s_assert_refused ("conflicting Content-Length (long, short)", request);
    snprintf (request, sizeof request,
              "POST /customer HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
              "Content-Length: 2\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n%s",
              strlen (body), body);
    s_assert_refused ("conflicting Content-Length (short, long)", request);
    snprintf (request, sizeof request,
              "POST /customer HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
              "Content-Length: %zu\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n%s",
              strlen (body), strlen (body), body);
    s_assert_refused ("duplicate equal Content-Length", request);
    snprintf (request, sizeof request,
              "POST /customer HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
              "Content-Length: %zu, %zu\r\nConnection: close\r\n\r\n%s",
              strlen (body), strlen (body), body);
    s_assert_refused ("Content-Length list in one header", request);
    hk_world_check (&s_world, before);
    free (before);
}

//  Content-Length with Transfer-Encoding: chunked, either order: under the
//  chunked reading a charge, under the length reading junk.
static void
test_framing_length_and_chunked (void **state)
{
    char *before = hk_snapshot (&s_world);
    char body [256];
    snprintf (body, sizeof body, "{\"customerId\":\"%s\",\"chargeAmt\":7}", s_world.customers [1]);
    char request [1024];
    snprintf (request, sizeof request,
              "POST /point HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
              "Content-Length: 4\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
              "%zx\r\n%s\r\n0\r\n\r\n", strlen (body), body);
    s_assert_refused ("Content-Length then Transfer-Encoding", request);
    snprintf (request, sizeof request,
              "POST /point HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
              "Transfer-Encoding: chunked\r\nContent-Length: 4\r\nConnection: close\r\n\r\n"
              "%zx\r\n%s\r\n0\r\n\r\n", strlen (body), body);
    s_assert_refused ("Transfer-Encoding then Content-Length", request);
    char *after = hk_snapshot (&s_world);
    assert_string_equal (before, after);
    free (after);
    free (before);
}

//  HTTP/1.1 without Host, on a read and on a write that would succeed.
static void
test_framing_http11_without_host (void **state)
{
    char *before = hk_snapshot (&s_world);
    s_assert_refused ("GET HTTP/1.1 without Host",
                      "GET /display/menu HTTP/1.1\r\nConnection: close\r\n\r\n");
    char body [256];
    snprintf (body, sizeof body, "{\"customerId\":\"%s\",\"chargeAmt\":9}", s_world.customers [2]);
    char request [1024];
    snprintf (request, sizeof request,
              "POST /point HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
              "Connection: close\r\n\r\n%s", strlen (body), body);
    s_assert_refused ("POST HTTP/1.1 without Host", request);
    char *after = hk_snapshot (&s_world);
    assert_string_equal (before, after);
    free (after);
    free (before);
    //  HTTP/1.0 needs no Host: still served
    hk_reply_t reply;
    const char *v10 = "GET /display/menu HTTP/1.0\r\n\r\n";
    assert_int_equal (hk_exchange (s_world.server.port, v10, strlen (v10), false, false, 1, 0,
                                   HK_READ_MS, &reply), 0);
    assert_int_equal (reply.count, 1);
    assert_int_equal (reply.status [0], 200);
    hk_reply_reset (&reply);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_framing_content_length_twice),
        cmocka_unit_test (test_framing_length_and_chunked),
        cmocka_unit_test (test_framing_http11_without_host),
    };
    return cmocka_run_group_tests (tests, s_setup, s_teardown);
}
