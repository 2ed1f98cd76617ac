/*  test_http_request — table-driven tests of the HTTP front's route table
    and input validation (http/request.c), without a server.

    ctest bound: COFFEE_TEST_TIMEOUT 60 s. */
#include "testkit.h"
#include <cmocka.h>
#include "request.h"
#include "store.h"

//  One validation case: the input, and what must come out.
typedef struct {
    metrics_route_t route;      //  POST route whose body is checked
    const char *body;           //  request body (NUL-terminated here)
    int status;                 //  expected status
    const char *code;           //  expected error code, NULL on success
    const char *field;          //  expected "field", NULL when none
    const char *canonical;      //  expected canonical JSON on success, NULL to skip
} body_case_t;

//  Runs one body case; on failure prints which one.
static void
s_run_body_case (const body_case_t *c, size_t index)
{
    cJSON *canonical = NULL;
    char *error = NULL;
    int status = request_validate_body (c->route, c->body, c->body? strlen (c->body): 0,
                                        &canonical, &error);
    if (status != c->status)
        print_error ("case %zu (%s): status %d, error %s\n", index,
                     c->body? c->body: "(null)", status, error? error: "-");
    assert_int_equal (status, c->status);
    if (c->status == 200) {
        assert_non_null (canonical);
        assert_null (error);
        if (c->canonical) {
            char *text = cJSON_PrintUnformatted (canonical);
            if (strcmp (text, c->canonical) != 0)
                print_error ("case %zu: canonical %s\n", index, text);
            assert_string_equal (text, c->canonical);
            free (text);
        }
    }
    else {
        assert_null (canonical);
        assert_non_null (error);
        cJSON *json = cJSON_Parse (error);
        assert_non_null (json);
        const cJSON *code = cJSON_GetObjectItemCaseSensitive (json, "code");
        const cJSON *message = cJSON_GetObjectItemCaseSensitive (json, "message");
        const cJSON *field = cJSON_GetObjectItemCaseSensitive (json, "field");
        assert_true (cJSON_IsString (code));
        assert_true (cJSON_IsString (message));
        assert_true (strlen (message->valuestring) > 0);
        assert_string_equal (code->valuestring, c->code);
        if (c->field) {
            if (!cJSON_IsString (field) || strcmp (field->valuestring, c->field) != 0)
                print_error ("case %zu (%s): error %s\n", index, c->body, error);
            assert_true (cJSON_IsString (field));
            assert_string_equal (field->valuestring, c->field);
            //  The message names the field first.
            assert_memory_equal (message->valuestring, c->field, strlen (c->field));
        }
        else
            assert_null (field);
        cJSON_Delete (json);
    }
    cJSON_Delete (canonical);
    free (error);
}

#define OK(route, body, canon)        { route, body, 200, NULL, NULL, canon }
#define BAD(route, body, field)       { route, body, 400, "INVALID_INPUT", field, NULL }
#define BADJSON(route, body)          { route, body, 400, "INVALID_JSON", NULL, NULL }
//  A number RFC 8259 does not allow, in the field named.
#define BADNUM(route, body, field)    { route, body, 400, "INVALID_JSON", field, NULL }

static const body_case_t s_customer_cases [] = {
    OK (ROUTE_CUSTOMER_CREATE, "{\"customerNm\":\"Kim\"}", "{\"customerNm\":\"Kim\"}"),
    OK (ROUTE_CUSTOMER_CREATE, "{\"customerNm\":\"a\"}", NULL),
    OK (ROUTE_CUSTOMER_CREATE, "{\"customerNm\":\"홍길동\"}", "{\"customerNm\":\"홍길동\"}"),
    OK (ROUTE_CUSTOMER_CREATE, "{\"customerNm\":\"\\uD55C\"}", "{\"customerNm\":\"한\"}"),
    OK (ROUTE_CUSTOMER_CREATE, " {\"customerNm\":\" Lee \",\"extra\":[1,{}]} \n",
        "{\"customerNm\":\" Lee \"}"),
    BAD (ROUTE_CUSTOMER_CREATE, "{}", "customerNm"),
    //  cJSON would cut these at the NUL; they must not pass as "a".
    BAD (ROUTE_CUSTOMER_CREATE, "{\"customerNm\":\"a\\u0000b\"}", "customerNm"),
    BAD (ROUTE_CUSTOMER_CREATE, "{\"customerNm\":\"a\\u0000\"}", "customerNm"),
    BAD (ROUTE_CUSTOMER_CREATE, "{\"customerNm\\u0000x\":\"a\"}", "customerNm"),
    //  An escaped backslash followed by "u0000" is plain text.
    OK (ROUTE_CUSTOMER_CREATE, "{\"customerNm\":\"a\\\\u0000\"}",
        "{\"customerNm\":\"a\\\\u0000\"}"),
    OK (ROUTE_CUSTOMER_CREATE, "{\"customerNm\":\"a\",\"note\":\"x\\u0000y\"}",
        "{\"customerNm\":\"a\"}"),
    BAD (ROUTE_CUSTOMER_CREATE, "{\"customerNm\":null}", "customerNm"),
    BAD (ROUTE_CUSTOMER_CREATE, "{\"customerNm\":\"\"}", "customerNm"),
    BAD (ROUTE_CUSTOMER_CREATE, "{\"customerNm\":\"   \"}", "customerNm"),
    BAD (ROUTE_CUSTOMER_CREATE, "{\"customerNm\":\"\\u3000 \\u00a0\"}", "customerNm"),
    BAD (ROUTE_CUSTOMER_CREATE, "{\"customerNm\":\"a\\nb\"}", "customerNm"),
    BAD (ROUTE_CUSTOMER_CREATE, "{\"customerNm\":\"a\\tb\"}", "customerNm"),
    BAD (ROUTE_CUSTOMER_CREATE, "{\"customerNm\":\"\xff\xfe\"}", "customerNm"),
    BAD (ROUTE_CUSTOMER_CREATE, "{\"customerNm\":\"\xc0\xaf\"}", "customerNm"),
    BAD (ROUTE_CUSTOMER_CREATE, "{\"customerNm\":\"\xed\xa0\x80\"}", "customerNm"),
    BAD (ROUTE_CUSTOMER_CREATE, "{\"customerNm\":\"\xe2\x82\"}", "customerNm"),
    BAD (ROUTE_CUSTOMER_CREATE, "{\"customerNm\":5}", "customerNm"),
    BAD (ROUTE_CUSTOMER_CREATE, "{\"customerNm\":true}", "customerNm"),
    BAD (ROUTE_CUSTOMER_CREATE, "{\"customerNm\":[\"a\"]}", "customerNm"),
    BAD (ROUTE_CUSTOMER_CREATE, "{\"customerNm\":{\"a\":1}}", "customerNm"),
    BAD (ROUTE_CUSTOMER_CREATE, "{\"CustomerNm\":\"Kim\"}", "customerNm"),
    BAD (ROUTE_CUSTOMER_CREATE, "{\"customerNm\":\"a\",\"customerNm\":\"b\"}", "customerNm"),
    BAD (ROUTE_CUSTOMER_CREATE, "[{\"customerNm\":\"Kim\"}]", "body"),
    BAD (ROUTE_CUSTOMER_CREATE, "\"Kim\"", "body"),
    BAD (ROUTE_CUSTOMER_CREATE, "null", "body"),
    BAD (ROUTE_CUSTOMER_CREATE, "42", "body"),
    BADJSON (ROUTE_CUSTOMER_CREATE, ""),
    BADJSON (ROUTE_CUSTOMER_CREATE, NULL),
    BADJSON (ROUTE_CUSTOMER_CREATE, "   "),
    BADJSON (ROUTE_CUSTOMER_CREATE, "{"),
    BADJSON (ROUTE_CUSTOMER_CREATE, "{\"customerNm\":\"Kim\"} x"),
    BADJSON (ROUTE_CUSTOMER_CREATE, "{\"customerNm\":\"Kim\"}{}"),
    BADJSON (ROUTE_CUSTOMER_CREATE, "{'customerNm':'Kim'}"),
    BADJSON (ROUTE_CUSTOMER_CREATE, "{\"customerNm\":\"\\ud800\"}"),
    BADJSON (ROUTE_CUSTOMER_CREATE, "customerNm=Kim"),
};

static const body_case_t s_point_cases [] = {
    OK (ROUTE_POINT_CHARGE, "{\"customerId\":\"CUST-00000001\",\"chargeAmt\":1}",
        "{\"customerId\":\"CUST-00000001\",\"chargeAmt\":1}"),
    OK (ROUTE_POINT_CHARGE, "{\"chargeAmt\":1000000000,\"customerId\":\"CUST-00000001\"}",
        "{\"customerId\":\"CUST-00000001\",\"chargeAmt\":1000000000}"),
    OK (ROUTE_POINT_CHARGE, "{\"customerId\":\"CUST-123456789012\",\"chargeAmt\":1e3}",
        "{\"customerId\":\"CUST-123456789012\",\"chargeAmt\":1000}"),
    OK (ROUTE_POINT_CHARGE, "{\"customerId\":\"CUST-00000001\",\"chargeAmt\":5.0,\"x\":null}",
        "{\"customerId\":\"CUST-00000001\",\"chargeAmt\":5}"),
    OK (ROUTE_POINT_CHARGE, "{\"customerId\":\"CUST-00000001\",\"chargeAmt\":2.5e1}",
        "{\"customerId\":\"CUST-00000001\",\"chargeAmt\":25}"),
    BAD (ROUTE_POINT_CHARGE, "{\"customerId\":\"CUST-00000001\",\"chargeAmt\":0}", "chargeAmt"),
    BAD (ROUTE_POINT_CHARGE, "{\"customerId\":\"CUST-00000001\",\"chargeAmt\":-0}", "chargeAmt"),
    BAD (ROUTE_POINT_CHARGE, "{\"customerId\":\"CUST-00000001\",\"chargeAmt\":-1}", "chargeAmt"),
    BAD (ROUTE_POINT_CHARGE, "{\"customerId\":\"CUST-00000001\",\"chargeAmt\":1000000001}",
         "chargeAmt"),
    BAD (ROUTE_POINT_CHARGE, "{\"customerId\":\"CUST-00000001\",\"chargeAmt\":9007199254740992}",
         "chargeAmt"),
    BAD (ROUTE_POINT_CHARGE, "{\"customerId\":\"CUST-00000001\",\"chargeAmt\":9007199254740993}",
         "chargeAmt"),
    BAD (ROUTE_POINT_CHARGE, "{\"customerId\":\"CUST-00000001\",\"chargeAmt\":-9007199254740993}",
         "chargeAmt"),
    BAD (ROUTE_POINT_CHARGE, "{\"customerId\":\"CUST-00000001\",\"chargeAmt\":1e400}", "chargeAmt"),
    BAD (ROUTE_POINT_CHARGE, "{\"customerId\":\"CUST-00000001\",\"chargeAmt\":1.5}", "chargeAmt"),
    BAD (ROUTE_POINT_CHARGE, "{\"customerId\":\"CUST-00000001\",\"chargeAmt\":0.5}", "chargeAmt"),
    BAD (ROUTE_POINT_CHARGE, "{\"customerId\":\"CUST-00000001\",\"chargeAmt\":\"100\"}",
         "chargeAmt"),
    BAD (ROUTE_POINT_CHARGE, "{\"customerId\":\"CUST-00000001\",\"chargeAmt\":null}", "chargeAmt"),
    BAD (ROUTE_POINT_CHARGE, "{\"customerId\":\"CUST-00000001\",\"chargeAmt\":true}", "chargeAmt"),
    BAD (ROUTE_POINT_CHARGE, "{\"customerId\":\"CUST-00000001\",\"chargeAmt\":[1]}", "chargeAmt"),
    BAD (ROUTE_POINT_CHARGE, "{\"customerId\":\"CUST-00000001\"}", "chargeAmt"),
    BAD (ROUTE_POINT_CHARGE, "{\"customerId\":\"CUST-00000001\",\"chargeAmt\":1,\"chargeAmt\":2}",
         "chargeAmt"),
    BAD (ROUTE_POINT_CHARGE, "{\"chargeAmt\":1}", "customerId"),
    BAD (ROUTE_POINT_CHARGE, "{\"customerId\":null,\"chargeAmt\":1}", "customerId"),
    BAD (ROUTE_POINT_CHARGE, "{\"customerId\":1,\"chargeAmt\":1}", "customerId"),
    BAD (ROUTE_POINT_CHARGE, "{\"customerId\":\"\",\"chargeAmt\":1}", "customerId"),
    BAD (ROUTE_POINT_CHARGE, "{\"customerId\":\"CUST-1234567\",\"chargeAmt\":1}", "customerId"),
    BAD (ROUTE_POINT_CHARGE, "{\"customerId\":\"cust-00000001\",\"chargeAmt\":1}", "customerId"),
    BAD (ROUTE_POINT_CHARGE, "{\"customerId\":\"CUST-0000000a\",\"chargeAmt\":1}", "customerId"),
    BAD (ROUTE_POINT_CHARGE, "{\"customerId\":\"CUST-00000001 \",\"chargeAmt\":1}", "customerId"),
    BAD (ROUTE_POINT_CHARGE, "{\"customerId\":\"CUST-00000001\\u0000junk\",\"chargeAmt\":1}",
         "customerId"),
    BAD (ROUTE_POINT_CHARGE, "{\"customerId\":\"MENU-00000001\",\"chargeAmt\":1}", "customerId"),
    BAD (ROUTE_POINT_CHARGE, "{\"customerId\":\"CUST-000000000000000000000000001\",\"chargeAmt\":1}",
         "customerId"),
    BAD (ROUTE_POINT_CHARGE, "{\"customerId\":\"CUST-\\uFF11\\uFF11\\uFF11\\uFF11\\uFF11\\uFF11"
                             "\\uFF11\\uFF11\",\"chargeAmt\":1}", "customerId"),
    BAD (ROUTE_POINT_CHARGE, "[]", "body"),
    BADJSON (ROUTE_POINT_CHARGE, "{\"customerId\":\"CUST-00000001\",\"chargeAmt\":1,}"),
};

static const body_case_t s_order_cases [] = {
    OK (ROUTE_ORDER_CREATE,
        "{\"customerId\":\"CUST-00000004\",\"menuList\":[{\"menuId\":\"MENU-00000001\",\"qy\":1}]}",
        "{\"customerId\":\"CUST-00000004\",\"menuList\":[{\"menuId\":\"MENU-00000001\",\"qy\":1}]}"),
    OK (ROUTE_ORDER_CREATE,
        "{\"menuList\":[{\"qy\":100,\"menuId\":\"MENU-00000002\",\"note\":\"hot\"},"
        "{\"menuId\":\"MENU-00000003\",\"qy\":2.0}],\"customerId\":\"CUST-00000004\",\"x\":1}",
        "{\"customerId\":\"CUST-00000004\",\"menuList\":[{\"menuId\":\"MENU-00000002\",\"qy\":100},"
        "{\"menuId\":\"MENU-00000003\",\"qy\":2}]}"),
    //  A repeated menu stays as sent (the store merges it) while its total fits.
    OK (ROUTE_ORDER_CREATE,
        "{\"customerId\":\"CUST-00000004\",\"menuList\":[{\"menuId\":\"MENU-00000001\",\"qy\":60},"
        "{\"menuId\":\"MENU-00000001\",\"qy\":40}]}", NULL),
    BAD (ROUTE_ORDER_CREATE,
         "{\"customerId\":\"CUST-00000004\",\"menuList\":[{\"menuId\":\"MENU-00000001\",\"qy\":60},"
         "{\"menuId\":\"MENU-00000001\",\"qy\":41}]}", "menuList[1].qy"),
    BAD (ROUTE_ORDER_CREATE, "{\"customerId\":\"CUST-00000004\"}", "menuList"),
    BAD (ROUTE_ORDER_CREATE, "{\"customerId\":\"CUST-00000004\",\"menuList\":null}", "menuList"),
    BAD (ROUTE_ORDER_CREATE, "{\"customerId\":\"CUST-00000004\",\"menuList\":[]}", "menuList"),
    BAD (ROUTE_ORDER_CREATE, "{\"customerId\":\"CUST-00000004\",\"menuList\":{}}", "menuList"),
    BAD (ROUTE_ORDER_CREATE, "{\"customerId\":\"CUST-00000004\",\"menuList\":\"MENU-00000001\"}",
         "menuList"),
    BAD (ROUTE_ORDER_CREATE, "{\"customerId\":\"CUST-00000004\",\"menuList\":[null]}", "menuList[0]"),
    BAD (ROUTE_ORDER_CREATE, "{\"customerId\":\"CUST-00000004\",\"menuList\":[1]}", "menuList[0]"),
    BAD (ROUTE_ORDER_CREATE, "{\"customerId\":\"CUST-00000004\",\"menuList\":[[]]}", "menuList[0]"),
    BAD (ROUTE_ORDER_CREATE,
         "{\"customerId\":\"CUST-00000004\",\"menuList\":[{\"menuId\":\"MENU-00000001\",\"qy\":1},{}]}",
         "menuList[1].menuId"),
    BAD (ROUTE_ORDER_CREATE,
         "{\"customerId\":\"CUST-00000004\",\"menuList\":[{\"menuId\":\"MENU-00000001\",\"qy\":1},"
         "{\"menuId\":\"MENU-00000002\",\"qy\":1.5}]}", "menuList[1].qy"),
    BAD (ROUTE_ORDER_CREATE,
         "{\"customerId\":\"CUST-00000004\",\"menuList\":[{\"menuId\":\"MENU-00000001\",\"qy\":0}]}",
         "menuList[0].qy"),
    BAD (ROUTE_ORDER_CREATE,
         "{\"customerId\":\"CUST-00000004\",\"menuList\":[{\"menuId\":\"MENU-00000001\",\"qy\":-3}]}",
         "menuList[0].qy"),
    BAD (ROUTE_ORDER_CREATE,
         "{\"customerId\":\"CUST-00000004\",\"menuList\":[{\"menuId\":\"MENU-00000001\",\"qy\":101}]}",
         "menuList[0].qy"),
    BAD (ROUTE_ORDER_CREATE,
         "{\"customerId\":\"CUST-00000004\",\"menuList\":[{\"menuId\":\"MENU-00000001\"}]}",
         "menuList[0].qy"),
    BAD (ROUTE_ORDER_CREATE,
         "{\"customerId\":\"CUST-00000004\",\"menuList\":[{\"menuId\":\"MENU-00000001\",\"qy\":\"1\"}]}",
         "menuList[0].qy"),
    BAD (ROUTE_ORDER_CREATE,
         "{\"customerId\":\"CUST-00000004\",\"menuList\":[{\"menuId\":\"MENU-00000001\",\"qy\":null}]}",
         "menuList[0].qy"),
    BAD (ROUTE_ORDER_CREATE,
         "{\"customerId\":\"CUST-00000004\",\"menuList\":[{\"menuId\":\"MENU-1\",\"qy\":1}]}",
         "menuList[0].menuId"),
    BAD (ROUTE_ORDER_CREATE,
         "{\"customerId\":\"CUST-00000004\",\"menuList\":[{\"menuId\":\"MENU-00000001\\u0000\","
         "\"qy\":1}]}", "menuList[0].menuId"),
    BAD (ROUTE_ORDER_CREATE,
         "{\"customerId\":\"CUST-00000004\",\"menuList\":[{\"menuId\":1,\"qy\":1}]}",
         "menuList[0].menuId"),
    BAD (ROUTE_ORDER_CREATE,
         "{\"customerId\":\"CUST-00000004\",\"menuList\":[{\"menuId\":\"CUST-00000001\",\"qy\":1}]}",
         "menuList[0].menuId"),
    BAD (ROUTE_ORDER_CREATE,
         "{\"customerId\":\"CUST-00000004\",\"menuList\":[{\"menuId\":\"MENU-00000001\",\"qy\":1,"
         "\"qy\":2}]}", "menuList[0].qy"),
    BAD (ROUTE_ORDER_CREATE,
         "{\"customerId\":\"CUST-00000004\",\"menuList\":[{\"menuId\":\"MENU-00000001\",\"qy\":"
         "9007199254740993}]}", "menuList[0].qy"),
    BAD (ROUTE_ORDER_CREATE, "{\"menuList\":[{\"menuId\":\"MENU-00000001\",\"qy\":1}]}",
         "customerId"),
    BAD (ROUTE_ORDER_CREATE,
         "{\"customerId\":[\"CUST-00000004\"],\"menuList\":[{\"menuId\":\"MENU-00000001\",\"qy\":1}]}",
         "customerId"),
    BAD (ROUTE_ORDER_CREATE, "true", "body"),
    BADJSON (ROUTE_ORDER_CREATE, "{\"customerId\":\"CUST-00000004\",\"menuList\":[{]}"),
};

//  RFC 8259's number grammar, on every field and on unknown ones: what
//  cJSON takes beyond it (01, 1., 1.e3, -.5) and what it refuses itself
//  (+1, .5, NaN, hex) are both 400 INVALID_JSON naming the field.
#define PT(amount) "{\"customerId\":\"CUST-00000001\",\"chargeAmt\":" amount "}"
#define OQ(qy) "{\"customerId\":\"CUST-00000004\",\"menuList\":[{\"menuId\":\"MENU-00000001\"," \
               "\"qy\":1},{\"menuId\":\"MENU-00000002\",\"qy\":" qy "}]}"
//  A valid number of 70 bytes: read exactly, however long.
#define LONG_ONE "1.000000000000000000000000000000000000000000000000000000000000000000000"
static const body_case_t s_number_cases [] = {
    BADNUM (ROUTE_POINT_CHARGE, PT ("01"), "chargeAmt"),
    BADNUM (ROUTE_POINT_CHARGE, PT ("-01"), "chargeAmt"),
    BADNUM (ROUTE_POINT_CHARGE, PT ("00"), "chargeAmt"),
    BADNUM (ROUTE_POINT_CHARGE, PT ("1."), "chargeAmt"),
    BADNUM (ROUTE_POINT_CHARGE, PT ("1.e3"), "chargeAmt"),
    BADNUM (ROUTE_POINT_CHARGE, PT ("-.5"), "chargeAmt"),
    BADNUM (ROUTE_POINT_CHARGE, PT (".5"), "chargeAmt"),
    BADNUM (ROUTE_POINT_CHARGE, PT ("+1"), "chargeAmt"),
    BADNUM (ROUTE_POINT_CHARGE, PT ("0x10"), "chargeAmt"),
    BADNUM (ROUTE_POINT_CHARGE, PT ("0X1F"), "chargeAmt"),
    BADNUM (ROUTE_POINT_CHARGE, PT ("NaN"), "chargeAmt"),
    BADNUM (ROUTE_POINT_CHARGE, PT ("nan"), "chargeAmt"),
    BADNUM (ROUTE_POINT_CHARGE, PT ("Infinity"), "chargeAmt"),
    BADNUM (ROUTE_POINT_CHARGE, PT ("-Infinity"), "chargeAmt"),
    BADNUM (ROUTE_POINT_CHARGE, PT ("-"), "chargeAmt"),
    BADNUM (ROUTE_POINT_CHARGE, PT ("1e"), "chargeAmt"),
    BADNUM (ROUTE_POINT_CHARGE, PT ("1e+"), "chargeAmt"),
    BADNUM (ROUTE_POINT_CHARGE, PT ("1e5.5"), "chargeAmt"),
    BADNUM (ROUTE_POINT_CHARGE, PT ("1.5.5"), "chargeAmt"),
    BADNUM (ROUTE_POINT_CHARGE, PT ("--1"), "chargeAmt"),
    BADNUM (ROUTE_POINT_CHARGE, PT ("0" LONG_ONE), "chargeAmt"),
    BADNUM (ROUTE_POINT_CHARGE, PT ("+" LONG_ONE), "chargeAmt"),
    OK (ROUTE_POINT_CHARGE, PT ("1" LONG_ONE), "{\"customerId\":\"CUST-00000001\",\"chargeAmt\":11}"),
    BADNUM (ROUTE_ORDER_CREATE, OQ ("01"), "menuList[1].qy"),
    BADNUM (ROUTE_ORDER_CREATE, OQ ("1."), "menuList[1].qy"),
    BADNUM (ROUTE_ORDER_CREATE, OQ ("+2"), "menuList[1].qy"),
    //  Unknown fields are still JSON: their path is named
    BADNUM (ROUTE_CUSTOMER_CREATE, "{\"customerNm\":\"Kim\",\"age\":07}", "age"),
    BADNUM (ROUTE_CUSTOMER_CREATE, "{\"customerNm\":\"Kim\",\"x\":{\"y\":[1,2.]}}", "x.y[1]"),
    BADNUM (ROUTE_CUSTOMER_CREATE, "{\"customerNm\":\"Kim\",\"x\":[[.1]]}", "x[0][0]"),
    BADNUM (ROUTE_CUSTOMER_CREATE, "{\"x\":-0.0e-0,\"a\\\"b\":01,\"customerNm\":\"K\"}", "a\"b"),
    BADNUM (ROUTE_CUSTOMER_CREATE, "{\"\xed\x95\x9c\":01,\"customerNm\":\"K\"}", "???"),
    BADNUM (ROUTE_CUSTOMER_CREATE, "{\"\":{\"\":[01]},\"customerNm\":\"K\"}", "\"\".\"\"[0]"),
    BADNUM (ROUTE_CUSTOMER_CREATE, "{\"customerNm\":\"K\",\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\":"
            "{\"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\":{\"cccccccccccccccccccccccc\":[0.]}}}",
            //  cut at 95 bytes
            "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
            ".ccccccccccccc"),
    //  The first one in document order counts
    BADNUM (ROUTE_POINT_CHARGE, "{\"a\":1,\"b\":01,\"customerId\":\"CUST-00000001\","
                                "\"chargeAmt\":+1}", "b"),
    BADNUM (ROUTE_POINT_CHARGE, "{\"a\":+1,\"b\":01,\"customerId\":\"CUST-00000001\","
                                "\"chargeAmt\":1}", "a"),
    //  Not in a field: the body itself
    BADJSON (ROUTE_CUSTOMER_CREATE, "01"),
    BADJSON (ROUTE_CUSTOMER_CREATE, "+1"),
    //  Not a number at all, or numbers side by side: plain invalid JSON
    BADJSON (ROUTE_POINT_CHARGE, PT ("1 2")),
    BADJSON (ROUTE_POINT_CHARGE, PT ("tru")),
    BADJSON (ROUTE_POINT_CHARGE, PT ("'1'")),
    BADJSON (ROUTE_POINT_CHARGE, "{\"customerId\":\"CUST-00000001\",\"chargeAmt\":}"),
    //  Digits inside strings are never numbers
    OK (ROUTE_CUSTOMER_CREATE, "{\"customerNm\":\"01 1. +1 .5\",\"n\":\"\\\"01\"}",
        "{\"customerNm\":\"01 1. +1 .5\"}"),
    OK (ROUTE_CUSTOMER_CREATE, "{\"customerNm\":\"Kim\",\"x\":[0,-0,0.5,-1.5e-3,1E+2,"
                               "123456789012345678901234567890]}", NULL),
    //  Whole numbers are read exactly from their text, never through a double
    OK (ROUTE_POINT_CHARGE, PT ("1e3"), "{\"customerId\":\"CUST-00000001\",\"chargeAmt\":1000}"),
    OK (ROUTE_POINT_CHARGE, PT ("1.0"), "{\"customerId\":\"CUST-00000001\",\"chargeAmt\":1}"),
    OK (ROUTE_POINT_CHARGE, PT ("10E-1"), "{\"customerId\":\"CUST-00000001\",\"chargeAmt\":1}"),
    OK (ROUTE_POINT_CHARGE, PT ("0.001e3"), "{\"customerId\":\"CUST-00000001\",\"chargeAmt\":1}"),
    OK (ROUTE_POINT_CHARGE, PT ("1000000000.000"),
        "{\"customerId\":\"CUST-00000001\",\"chargeAmt\":1000000000}"),
    OK (ROUTE_POINT_CHARGE, PT ("100000000000000000000e-11"),
        "{\"customerId\":\"CUST-00000001\",\"chargeAmt\":1000000000}"),
    OK (ROUTE_POINT_CHARGE, PT (LONG_ONE), "{\"customerId\":\"CUST-00000001\",\"chargeAmt\":1}"),
    OK (ROUTE_ORDER_CREATE, OQ ("1.00e2"), NULL),
    BAD (ROUTE_ORDER_CREATE, OQ ("1.0000000000000001"), "menuList[1].qy"),
    BAD (ROUTE_ORDER_CREATE, OQ ("100.00000000000001"), "menuList[1].qy"),
    BAD (ROUTE_ORDER_CREATE, OQ ("1.01e2"), "menuList[1].qy"),
    BAD (ROUTE_ORDER_CREATE, OQ ("1" LONG_ONE "1"), "menuList[1].qy"),
    BAD (ROUTE_POINT_CHARGE, PT ("999999999.99999999999"), "chargeAmt"),
    BAD (ROUTE_POINT_CHARGE, PT ("1000000000.0000000001"), "chargeAmt"),
    BAD (ROUTE_POINT_CHARGE, PT ("0.99999999999999999999"), "chargeAmt"),
    BAD (ROUTE_POINT_CHARGE, PT ("1e-400"), "chargeAmt"),
    BAD (ROUTE_POINT_CHARGE, PT ("0e400"), "chargeAmt"),
    //  Past int64 is out of range, never wrapped
    BAD (ROUTE_POINT_CHARGE, PT ("9223372036854775807"), "chargeAmt"),
    BAD (ROUTE_POINT_CHARGE, PT ("9223372036854775808"), "chargeAmt"),
    BAD (ROUTE_POINT_CHARGE, PT ("18446744073709551617"), "chargeAmt"),
    BAD (ROUTE_POINT_CHARGE, PT ("-18446744073709551615"), "chargeAmt"),
    BAD (ROUTE_POINT_CHARGE, PT ("1e19"), "chargeAmt"),
    BAD (ROUTE_POINT_CHARGE, PT ("1e99999999999999999999"), "chargeAmt"),
    BAD (ROUTE_ORDER_CREATE, OQ ("18446744073709551617"), "menuList[1].qy"),
};

//  Runs a table.
static void
s_run_table (const body_case_t *cases, size_t count)
{
    for (size_t i = 0; i < count; i++)
        s_run_body_case (&cases [i], i);
}

static void
test_customer_body (void **state)
{
    s_run_table (s_customer_cases, sizeof (s_customer_cases) / sizeof (s_customer_cases [0]));
}

static void
test_point_body (void **state)
{
    s_run_table (s_point_cases, sizeof (s_point_cases) / sizeof (s_point_cases [0]));
}

static void
test_order_body (void **state)
{
    s_run_table (s_order_cases, sizeof (s_order_cases) / sizeof (s_order_cases [0]));
}

static void
test_number_body (void **state)
{
    s_run_table (s_number_cases, sizeof (s_number_cases) / sizeof (s_number_cases [0]));
}

//  The message of a refused number quotes it and names the field first.
static void
test_number_message (void **state)
{
    cJSON *canonical = NULL;
    char *error = NULL;
    const char *body = PT ("01");
    assert_int_equal (request_validate_body (ROUTE_POINT_CHARGE, body, strlen (body),
                                             &canonical, &error), 400);
    assert_null (canonical);
    cJSON *json = cJSON_Parse (error);
    const char *message = cJSON_GetStringValue (cJSON_GetObjectItem (json, "message"));
    assert_non_null (message);
    assert_non_null (strstr (message, "chargeAmt: 01 is not a JSON number"));
    cJSON_Delete (json);
    free (error);

    //  A bad number and later bad JSON: the number is named, first in the body
    body = "{\"chargeAmt\":+1,\"customerId\":}";
    assert_int_equal (request_validate_body (ROUTE_POINT_CHARGE, body, strlen (body),
                                             &canonical, &error), 400);
    json = cJSON_Parse (error);
    message = cJSON_GetStringValue (cJSON_GetObjectItem (json, "message"));
    assert_non_null (message);
    assert_string_equal (message, "body: +1 is not a JSON number (at byte 13)");
    assert_null (cJSON_GetObjectItem (json, "field"));
    cJSON_Delete (json);
    free (error);

    body = "01";
    assert_int_equal (request_validate_body (ROUTE_POINT_CHARGE, body, strlen (body),
                                             &canonical, &error), 400);
    json = cJSON_Parse (error);
    message = cJSON_GetStringValue (cJSON_GetObjectItem (json, "message"));
    assert_non_null (message);
    assert_memory_equal (message, "body: 01 is not a JSON number", 29);
    cJSON_Delete (json);
    free (error);
}

//  One text for request_number_read and what it must find.
typedef struct {
    const char *text;           //  the token
    request_number_t result;    //  what it is
    int64_t value;              //  its value when WHOLE
    bool negative;              //  its sign when RANGE
} number_case_t;

static const number_case_t s_read_cases [] = {
    { "0", REQUEST_NUMBER_WHOLE, 0, false },
    { "-0", REQUEST_NUMBER_WHOLE, 0, false },
    { "7", REQUEST_NUMBER_WHOLE, 7, false },
    { "-7", REQUEST_NUMBER_WHOLE, -7, false },
    { "1000", REQUEST_NUMBER_WHOLE, 1000, false },
    { "1e3", REQUEST_NUMBER_WHOLE, 1000, false },
    { "1E3", REQUEST_NUMBER_WHOLE, 1000, false },
    { "1e+3", REQUEST_NUMBER_WHOLE, 1000, false },
    { "1.0", REQUEST_NUMBER_WHOLE, 1, false },
    { "10E-1", REQUEST_NUMBER_WHOLE, 1, false },
    { "10000E-1", REQUEST_NUMBER_WHOLE, 1000, false },
    { "0.0001e4", REQUEST_NUMBER_WHOLE, 1, false },
    { "2.5e1", REQUEST_NUMBER_WHOLE, 25, false },
    { "0e-5", REQUEST_NUMBER_WHOLE, 0, false },
    { "0.000e99999999999999999999", REQUEST_NUMBER_WHOLE, 0, false },
    { "9007199254740993", REQUEST_NUMBER_WHOLE, INT64_C (9007199254740993), false },
    { "9223372036854775807", REQUEST_NUMBER_WHOLE, INT64_MAX, false },
    { "922337203685477580.7e1", REQUEST_NUMBER_WHOLE, INT64_MAX, false },
    { "-9223372036854775808", REQUEST_NUMBER_WHOLE, INT64_MIN, false },
    { "1e18", REQUEST_NUMBER_WHOLE, INT64_C (1000000000000000000), false },
    { "100000000000000000000e-2", REQUEST_NUMBER_WHOLE, INT64_C (1000000000000000000), false },
    { "00000", REQUEST_NUMBER_INVALID, 0, false },
    { "1.0000000000000001", REQUEST_NUMBER_FRACTION, 0, false },
    { "999999999.99999999999", REQUEST_NUMBER_FRACTION, 0, false },
    { "0.5", REQUEST_NUMBER_FRACTION, 0, false },
    { "-0.5", REQUEST_NUMBER_FRACTION, 0, true },
    { "1e-1", REQUEST_NUMBER_FRACTION, 0, false },
    { "15e-1", REQUEST_NUMBER_FRACTION, 0, false },
    { "-1.5e-400", REQUEST_NUMBER_FRACTION, 0, true },
    { "1e-99999999999999999999", REQUEST_NUMBER_FRACTION, 0, false },
    { "9223372036854775807.0000000000000000001", REQUEST_NUMBER_FRACTION, 0, false },
    { "9223372036854775808", REQUEST_NUMBER_RANGE, 0, false },
    { "92233720368547758080e-1", REQUEST_NUMBER_RANGE, 0, false },
    { "-9223372036854775809", REQUEST_NUMBER_RANGE, 0, true },
    { "1e19", REQUEST_NUMBER_RANGE, 0, false },
    { "-1e19", REQUEST_NUMBER_RANGE, 0, true },
    { "1.5e400", REQUEST_NUMBER_RANGE, 0, false },
    { "1e99999999999999999999", REQUEST_NUMBER_RANGE, 0, false },
    { "123456789012345678901234567890", REQUEST_NUMBER_RANGE, 0, false },
    { "01", REQUEST_NUMBER_INVALID, 0, false },
    { "-01", REQUEST_NUMBER_INVALID, 0, true },
    { "1.", REQUEST_NUMBER_INVALID, 0, false },
    { ".5", REQUEST_NUMBER_INVALID, 0, false },
    { "-.5", REQUEST_NUMBER_INVALID, 0, true },
    { "1.e3", REQUEST_NUMBER_INVALID, 0, false },
    { "+1", REQUEST_NUMBER_INVALID, 0, false },
    { "0x10", REQUEST_NUMBER_INVALID, 0, false },
    { "1e", REQUEST_NUMBER_INVALID, 0, false },
    { "1e+", REQUEST_NUMBER_INVALID, 0, false },
    { "1e3e3", REQUEST_NUMBER_INVALID, 0, false },
    { "-", REQUEST_NUMBER_INVALID, 0, true },
    { "", REQUEST_NUMBER_INVALID, 0, false },
    { "NaN", REQUEST_NUMBER_INVALID, 0, false },
    { "Infinity", REQUEST_NUMBER_INVALID, 0, false },
    { "-Infinity", REQUEST_NUMBER_INVALID, 0, true },
    { " 1", REQUEST_NUMBER_INVALID, 0, false },
    { "1 ", REQUEST_NUMBER_INVALID, 0, false },
    { "1_000", REQUEST_NUMBER_INVALID, 0, false },
    { "\xd9\xa1", REQUEST_NUMBER_INVALID, 0, false },
};

//  request_number_read: the grammar and exact whole numbers, case by case.
static void
test_number_read (void **state)
{
    for (size_t i = 0; i < sizeof s_read_cases / sizeof s_read_cases [0]; i++) {
        const number_case_t *c = &s_read_cases [i];
        int64_t value = 42;
        bool negative = !c->negative;
        request_number_t result = request_number_read (c->text, strlen (c->text), &value,
                                                       &negative);
        if (result != c->result || value != c->value)
            print_error ("case %zu (%s): result %d value %" PRId64 "\n", i, c->text,
                         (int) result, value);
        assert_int_equal (result, c->result);
        assert_true (value == c->value);
        if (result == REQUEST_NUMBER_RANGE)
            assert_int_equal (negative, c->negative);
    }
    //  Only len bytes are read: "12" of "123"
    int64_t value = 0;
    assert_int_equal (request_number_read ("123", 2, &value, NULL), REQUEST_NUMBER_WHOLE);
    assert_true (value == 12);
}

//  One name for request_name_check and whether it passes.
typedef struct {
    const char *name;           //  UTF-8 bytes
    bool ok;                    //  accepted
} name_case_t;

static const name_case_t s_name_cases [] = {
    { "Kim", true },
    { "홍길동", true },
    { "Kim Min-jun", true },
    { "김 민준", true },
    { " Lee ", true },
    { "Zoë O'Brien", true },
    { "a\xc2\xa0" "b", true },              //  no-break space inside
    { "a\xe2\x80\x8d" "b", true },          //  zero-width joiner inside (emoji, Indic)
    { "\xf0\x9f\x91\xa9\xe2\x80\x8d\xf0\x9f\x92\xbb", true },
    { "\xd8\xb9\xd9\x84\xd9\x8a", true },   //  Arabic is fine; its mark U+061C is not
    { "x\xe3\x80\x80y", true },             //  ideographic space inside
    { "", false },
    { "   ", false },
    { "\xc2\xa0", false },                  //  U+00A0 alone
    { "\xe3\x80\x80 \xc2\xa0", false },     //  U+3000, U+0020, U+00A0
    { "\xe2\x80\x8b", false },              //  U+200B
    { "\xe2\x80\x8b\xe2\x80\x8c\xe2\x80\x8d", false },
    { "\xe2\x81\xa0", false },              //  U+2060
    { "\xef\xbb\xbf", false },              //  U+FEFF
    { "\xe3\x85\xa4", false },              //  U+3164 Hangul filler
    { "\xe1\x85\x9f\xe1\x85\xa0", false },  //  U+115F U+1160
    { "\xef\xbe\xa0", false },              //  U+FFA0
    { "\xc2\xad", false },                  //  soft hyphen
    { "\xe2\x80\x80\xe2\x80\x8a\xe2\x80\xaf\xe2\x81\x9f", false },  //  U+2000 U+200A U+202F U+205F
    { "\xe1\x9a\x80", false },              //  U+1680
    { "\xef\xb8\x8f", false },              //  U+FE0F
    { "\xf3\xa0\x80\x81", false },          //  U+E0001 tag
    { "a\x01" "b", false },
    { "a\tb", false },
    { "a\nb", false },
    { "a\x7f" "b", false },
    { "a\xc2\x80" "b", false },             //  U+0080
    { "a\xc2\x85" "b", false },             //  U+0085 NEL
    { "a\xc2\x9f" "b", false },             //  U+009F
    { "a\xe2\x80\xa8" "b", false },         //  U+2028
    { "a\xe2\x80\xa9" "b", false },         //  U+2029
    { "a\xe2\x80\xaa" "b", false },         //  U+202A
    { "abc\xe2\x80\xae" "cba", false },     //  U+202E right-to-left override
    { "a\xe2\x81\xa6" "b", false },         //  U+2066
    { "a\xe2\x81\xa9" "b", false },         //  U+2069
    { "a\xe2\x80\x8e" "b", false },         //  U+200E
    { "a\xe2\x80\x8f" "b", false },         //  U+200F
    { "a\xd8\x9c" "b", false },             //  U+061C
    { "\xc0\xaf", false },                  //  overlong '/'
    { "\xe0\x80\xaf", false },              //  overlong '/', 3 bytes
    { "\xf0\x80\x80\xaf", false },          //  overlong '/', 4 bytes
    { "\xc1\xbf", false },
    { "\xed\xa0\x80", false },              //  U+D800
    { "\xed\xbf\xbf", false },              //  U+DFFF
    { "\xf4\x90\x80\x80", false },          //  past U+10FFFF
    { "\xff", false },
    { "a\xe2\x82", false },                 //  cut short
    { "\x80", false },
};

//  request_name_check, case by case, and through POST /customer.
static void
test_name_check (void **state)
{
    for (size_t i = 0; i < sizeof s_name_cases / sizeof s_name_cases [0]; i++) {
        const name_case_t *c = &s_name_cases [i];
        const char *reason = "unset";
        int rc = request_name_check (c->name, strlen (c->name), &reason);
        if ((rc == 0) != c->ok)
            print_error ("case %zu: rc %d (%s)\n", i, rc, reason? reason: "-");
        assert_int_equal (rc == 0, c->ok);
        if (c->ok)
            assert_null (reason);
        else
            assert_true (reason && strncmp (reason, "must ", 5) == 0);
        if (!*c->name)
            continue;
        //  The same through the route (escaped as JSON so control
        //  characters reach the check and not the JSON reader)
        cJSON *body_json = cJSON_CreateObject ();
        cJSON_AddStringToObject (body_json, "customerNm", c->name);
        char *body = cJSON_PrintUnformatted (body_json);
        cJSON_Delete (body_json);
        body_case_t route_case = c->ok? (body_case_t) OK (ROUTE_CUSTOMER_CREATE, body, NULL)
                                      : (body_case_t) BAD (ROUTE_CUSTOMER_CREATE, body,
                                                           "customerNm");
        s_run_body_case (&route_case, i);
        free (body);
    }
    //  Only len bytes are checked
    const char *reason;
    assert_int_equal (request_name_check ("ab\xe2\x80\xae", 2, &reason), 0);
    assert_int_equal (request_name_check ("\xe2\x80\x8b" "a", 3, &reason), -1);
}

//  Builds a JSON text: {"customerNm":"<n copies of unit>"}.
static char *
s_name_body (const char *unit, size_t n)
{
    size_t ulen = strlen (unit);
    char *body = malloc (32 + ulen * n);
    assert_non_null (body);
    char *p = body + sprintf (body, "{\"customerNm\":\"");
    for (size_t i = 0; i < n; i++, p += ulen)
        memcpy (p, unit, ulen);
    strcpy (p, "\"}");
    return body;
}

//  customerNm is limited in bytes, not characters.
static void
test_name_length (void **state)
{
    char *body = s_name_body ("a", STORE_NAME_MAX);
    body_case_t at_max = OK (ROUTE_CUSTOMER_CREATE, body, NULL);
    s_run_body_case (&at_max, 0);
    free (body);

    body = s_name_body ("a", STORE_NAME_MAX + 1);
    body_case_t over = BAD (ROUTE_CUSTOMER_CREATE, body, "customerNm");
    s_run_body_case (&over, 1);
    free (body);

    //  A 3-byte Hangul syllable: 33 fit in 99 bytes, 34 take 102.
    body = s_name_body ("한", STORE_NAME_MAX / 3);
    body_case_t fits = OK (ROUTE_CUSTOMER_CREATE, body, NULL);
    s_run_body_case (&fits, 2);
    free (body);

    body = s_name_body ("한", STORE_NAME_MAX / 3 + 1);
    body_case_t too_long = BAD (ROUTE_CUSTOMER_CREATE, body, "customerNm");
    s_run_body_case (&too_long, 3);
    free (body);
}

//  Builds an order with n lines of distinct menus and qy 1.
static char *
s_order_body (int n)
{
    char *body = malloc (64 + (size_t) n * 48);
    assert_non_null (body);
    char *p = body + sprintf (body, "{\"customerId\":\"CUST-00000004\",\"menuList\":[");
    for (int i = 0; i < n; i++)
        p += sprintf (p, "%s{\"menuId\":\"MENU-%08d\",\"qy\":1}", i? ",": "", i + 1);
    strcpy (p, "]}");
    return body;
}

//  menuList holds 1..STORE_LINES_MAX entries.
static void
test_menu_list_length (void **state)
{
    char *body = s_order_body (STORE_LINES_MAX);
    body_case_t at_max = OK (ROUTE_ORDER_CREATE, body, NULL);
    s_run_body_case (&at_max, 0);
    free (body);

    body = s_order_body (STORE_LINES_MAX + 1);
    body_case_t over = BAD (ROUTE_ORDER_CREATE, body, "menuList");
    s_run_body_case (&over, 1);
    free (body);

    body = s_order_body (1000);
    body_case_t far_over = BAD (ROUTE_ORDER_CREATE, body, "menuList");
    s_run_body_case (&far_over, 2);
    free (body);
}

//  The body need not be NUL-terminated, and bytes past len are not read.
static void
test_body_length_respected (void **state)
{
    const char *text = "{\"customerNm\":\"Kim\"}garbage";
    cJSON *canonical = NULL;
    char *error = NULL;
    assert_int_equal (request_validate_body (ROUTE_CUSTOMER_CREATE, text, 20, &canonical,
                                             &error), 200);
    assert_non_null (canonical);
    cJSON_Delete (canonical);
    assert_int_equal (request_validate_body (ROUTE_CUSTOMER_CREATE, text, 21, &canonical,
                                             &error), 400);
    assert_null (canonical);
    assert_non_null (error);
    free (error);

    //  A NUL byte inside the body is not valid JSON.
    const char with_nul [] = "{\"customerNm\":\"Kim\"}\0{}";
    assert_int_equal (request_validate_body (ROUTE_CUSTOMER_CREATE, with_nul,
                                             sizeof (with_nul) - 1, &canonical, &error), 400);
    free (error);

    //  A raw NUL inside a string would cut it (bug "raw nul in strings").
    const char raw_nul [] = "{\"customerId\":\"CUST-00000001\0junk\",\"chargeAmt\":1}";
    assert_int_equal (request_validate_body (ROUTE_POINT_CHARGE, raw_nul, sizeof (raw_nul) - 1,
                                             &canonical, &error), 400);
    assert_non_null (strstr (error, "INVALID_JSON"));
    free (error);
    const char raw_ctl [] = "{\"customerNm\":\"a\x01" "b\"}";
    assert_int_equal (request_validate_body (ROUTE_CUSTOMER_CREATE, raw_ctl, sizeof (raw_ctl) - 1,
                                             &canonical, &error), 400);
    free (error);
    //  Raw whitespace between tokens is fine.
    const char spaced [] = "{\r\n\t\"customerNm\" :\t\"a\"\r\n}";
    assert_int_equal (request_validate_body (ROUTE_CUSTOMER_CREATE, spaced, sizeof (spaced) - 1,
                                             &canonical, &error), 200);
    cJSON_Delete (canonical);

    //  Deep nesting is refused by the parser, not by a crash.
    size_t depth = 5000;
    char *deep = malloc (depth * 2 + 1);
    assert_non_null (deep);
    memset (deep, '[', depth);
    memset (deep + depth, ']', depth);
    deep [depth * 2] = '\0';
    assert_int_equal (request_validate_body (ROUTE_ORDER_CREATE, deep, depth * 2, &canonical,
                                             &error), 400);
    free (error);
    free (deep);
}

//  One path-parameter case.
typedef struct {
    metrics_route_t route;      //  GET route
    const char *arg;            //  path parameter
    int status;                 //  expected status
    const char *field;          //  expected field on 400
} arg_case_t;

static void
test_path_args (void **state)
{
    static const arg_case_t cases [] = {
        { ROUTE_POINT_GET, "CUST-00000001", 200, NULL },
        { ROUTE_POINT_GET, "CUST-99999999999", 200, NULL },
        { ROUTE_POINT_GET, "CUST-0000001", 400, "customerId" },
        { ROUTE_POINT_GET, "CUST-", 400, "customerId" },
        { ROUTE_POINT_GET, "", 400, "customerId" },
        { ROUTE_POINT_GET, NULL, 400, "customerId" },
        { ROUTE_POINT_GET, "ORD-00000001", 400, "customerId" },
        { ROUTE_POINT_GET, "CUST-00000001x", 400, "customerId" },
        { ROUTE_POINT_GET, "CUST--0000001", 400, "customerId" },
        { ROUTE_POINT_GET, "CUST-00000001%00", 400, "customerId" },
        { ROUTE_POINT_GET, "CUST-00000001\x01junk", 400, "customerId" },
        { ROUTE_ORDER_GET, "ORD-00000001\x01", 400, "orderNo" },
        { ROUTE_POINT_GET, "' OR 1=1 --", 400, "customerId" },
        { ROUTE_ORDER_GET, "ORD-00000027", 200, NULL },
        { ROUTE_ORDER_GET, "ORD-0000002", 400, "orderNo" },
        { ROUTE_ORDER_GET, "CUST-00000027", 400, "orderNo" },
        { ROUTE_ORDER_GET, "ord-00000027", 400, "orderNo" },
        { ROUTE_ORDER_GET, "ORD-000000000000000000000000001", 200, NULL },
        { ROUTE_ORDER_GET, "ORD-0000000000000000000000000001", 400, "orderNo" },
        { ROUTE_DISPLAY_MENU, "", 200, NULL },
    };
    for (size_t i = 0; i < sizeof (cases) / sizeof (cases [0]); i++) {
        char *error = NULL;
        int status = request_validate_arg (cases [i].route, cases [i].arg, &error);
        if (status != cases [i].status)
            print_error ("arg case %zu: %d\n", i, status);
        assert_int_equal (status, cases [i].status);
        if (status == 200)
            assert_null (error);
        else {
            cJSON *json = cJSON_Parse (error);
            assert_non_null (json);
            assert_string_equal (cJSON_GetObjectItem (json, "code")->valuestring,
                                 "INVALID_INPUT");
            assert_string_equal (cJSON_GetObjectItem (json, "field")->valuestring,
                                 cases [i].field);
            cJSON_Delete (json);
            free (error);
        }
    }
}

static void
test_idempotency_key (void **state)
{
    char key [REQUEST_IDEM_MAX + 2];
    memset (key, 'k', sizeof (key));
    key [REQUEST_IDEM_MAX] = '\0';

    struct { const char *key; int status; } cases [] = {
        { NULL, 200 },
        { "a", 200 },
        { "order-1 retry#2 ~!", 200 },
        { "550e8400-e29b-41d4-a716-446655440000", 200 },
        { key, 200 },
        { "", 400 },
        { "tab\there", 400 },
        { "new\nline", 400 },
        { "\x7f", 400 },
        { "한글", 400 },
    };
    for (size_t i = 0; i < sizeof (cases) / sizeof (cases [0]); i++) {
        char *error = NULL;
        int status = request_validate_idem (cases [i].key, &error);
        if (status != cases [i].status)
            print_error ("idem case %zu: %d\n", i, status);
        assert_int_equal (status, cases [i].status);
        if (status == 400) {
            cJSON *json = cJSON_Parse (error);
            assert_non_null (json);
            assert_string_equal (cJSON_GetObjectItem (json, "field")->valuestring,
                                 "Idempotency-Key");
            cJSON_Delete (json);
        }
        free (error);
    }
    //  One past the maximum.
    key [REQUEST_IDEM_MAX] = 'k';
    key [REQUEST_IDEM_MAX + 1] = '\0';
    char *error = NULL;
    assert_int_equal (request_validate_idem (key, &error), 400);
    assert_non_null (error);
    free (error);
}

static void
test_request_id (void **state)
{
    char rid [REQUEST_RID_MAX + 2];
    memset (rid, 'a', sizeof (rid));
    rid [REQUEST_RID_MAX] = '\0';
    assert_true (request_rid_ok (rid));
    rid [REQUEST_RID_MAX] = 'a';
    rid [REQUEST_RID_MAX + 1] = '\0';
    assert_false (request_rid_ok (rid));
    assert_true (request_rid_ok ("r-0000002a"));
    assert_true (request_rid_ok ("A.b_C-9"));
    assert_false (request_rid_ok (""));
    assert_false (request_rid_ok (NULL));
    assert_false (request_rid_ok ("a b"));
    assert_false (request_rid_ok ("a/b"));
    assert_false (request_rid_ok ("a\nb"));
    assert_false (request_rid_ok ("é"));
}

static void
test_media_type (void **state)
{
    assert_true (request_media_type_json ("application/json"));
    assert_true (request_media_type_json ("Application/JSON"));
    assert_true (request_media_type_json ("application/json; charset=utf-8"));
    assert_true (request_media_type_json("application/json;charset=UTF-8"));
    assert_true (request_media_type_json (" application/json "));
    assert_false (request_media_type_json (NULL));
    assert_false (request_media_type_json (""));
    assert_false (request_media_type_json ("text/plain"));
    assert_false (request_media_type_json ("application/jsonx"));
    assert_false (request_media_type_json ("application/json-patch+json"));
    assert_false (request_media_type_json ("application/x-www-form-urlencoded"));
    assert_false (request_media_type_json ("multipart/form-data; boundary=x"));
}

//  One routing case.
typedef struct {
    const char *method;         //  request method
    const char *path;           //  request path
    int status;                 //  200, 404 or 405
    metrics_route_t route;      //  route on 200
    const char *arg;            //  arg on 200
    const char *allow;          //  Allow on 405
} match_case_t;

static void
test_route_match (void **state)
{
    static const match_case_t cases [] = {
        { "GET", "/display/menu", 200, ROUTE_DISPLAY_MENU, "", NULL },
        { "HEAD", "/display/menu", 200, ROUTE_DISPLAY_MENU, "", NULL },
        { "GET", "/display/best", 200, ROUTE_DISPLAY_BEST, "", NULL },
        { "POST", "/customer", 200, ROUTE_CUSTOMER_CREATE, "", NULL },
        { "POST", "/point", 200, ROUTE_POINT_CHARGE, "", NULL },
        { "GET", "/point/CUST-00000001", 200, ROUTE_POINT_GET, "CUST-00000001", NULL },
        { "GET", "/point/anything", 200, ROUTE_POINT_GET, "anything", NULL },
        { "POST", "/order", 200, ROUTE_ORDER_CREATE, "", NULL },
        { "GET", "/order/ORD-00000027", 200, ROUTE_ORDER_GET, "ORD-00000027", NULL },
        { "GET", "/health", 200, ROUTE_HEALTH, "", NULL },
        { "GET", "/metrics", 200, ROUTE_METRICS, "", NULL },
        { "GET", "/", 200, ROUTE_PAGE, "", NULL },
        { "HEAD", "/console", 200, ROUTE_CONSOLE, "", NULL },
        { "GET", "/page/app.js", 200, ROUTE_PAGE_JS, "", NULL },
        { "PUT", "/admin/pools/order", 200, ROUTE_ADMIN_POOLS, "order", NULL },
        { "GET", "/admin/pools/order", 405, ROUTE_UNMATCHED, NULL, "PUT" },
        { "PUT", "/admin/pools/", 404, ROUTE_UNMATCHED, NULL, NULL },
        { "GET", "/console/", 404, ROUTE_UNMATCHED, NULL, NULL },
        { "POST", "/display/menu", 405, ROUTE_UNMATCHED, NULL, "GET, HEAD" },
        { "DELETE", "/order/ORD-00000027", 405, ROUTE_UNMATCHED, NULL, "GET, HEAD" },
        { "GET", "/point", 405, ROUTE_UNMATCHED, NULL, "POST" },
        { "PUT", "/order", 405, ROUTE_UNMATCHED, NULL, "POST" },
        { "GET", "/customer", 405, ROUTE_UNMATCHED, NULL, "POST" },
        { "POST", "/point/CUST-00000001", 405, ROUTE_UNMATCHED, NULL, "GET, HEAD" },
        { "POST", "/health", 405, ROUTE_UNMATCHED, NULL, "GET, HEAD" },
        { "get", "/health", 405, ROUTE_UNMATCHED, NULL, "GET, HEAD" },
        { "GET", "", 404, ROUTE_UNMATCHED, NULL, NULL },
        { "GET", "/display", 404, ROUTE_UNMATCHED, NULL, NULL },
        { "GET", "/display/menu/", 404, ROUTE_UNMATCHED, NULL, NULL },
        { "GET", "/display/menux", 404, ROUTE_UNMATCHED, NULL, NULL },
        { "GET", "/point/", 404, ROUTE_UNMATCHED, NULL, NULL },
        { "GET", "/point/CUST-00000001/x", 404, ROUTE_UNMATCHED, NULL, NULL },
        { "GET", "/POINT/CUST-00000001", 404, ROUTE_UNMATCHED, NULL, NULL },
        { "GET", "//health", 404, ROUTE_UNMATCHED, NULL, NULL },
        { NULL, "/health", 404, ROUTE_UNMATCHED, NULL, NULL },
    };
    for (size_t i = 0; i < sizeof (cases) / sizeof (cases [0]); i++) {
        const match_case_t *c = &cases [i];
        const route_t *route = NULL;
        const char *arg = NULL, *allow = NULL;
        int status = request_match (c->method, c->path, &route, &arg, &allow);
        if (status != c->status)
            print_error ("match case %zu (%s %s): %d\n", i, c->method, c->path, status);
        assert_int_equal (status, c->status);
        if (status == 200) {
            assert_non_null (route);
            assert_int_equal (route->route, c->route);
            assert_string_equal (arg, c->arg);
            assert_ptr_equal (route_info (c->route), route);
        }
        else {
            assert_null (route);
            if (c->allow)
                assert_string_equal (allow, c->allow);
            else
                assert_null (allow);
        }
    }
}

//  Each route goes to the pool and op of its part, and roles serve the
//  parts they run.
static void
test_route_table (void **state)
{
    const route_t *r = route_info (ROUTE_ORDER_CREATE);
    assert_string_equal (r->pool, "order");
    assert_string_equal (r->op, WIRE_OP_ORDER_CREATE);
    assert_true (r->takes_idem);
    r = route_info (ROUTE_POINT_CHARGE);
    assert_string_equal (r->pool, "point");
    assert_true (r->takes_idem);
    r = route_info (ROUTE_CUSTOMER_CREATE);
    assert_string_equal (r->op, WIRE_OP_CUSTOMER_CREATE);
    assert_false (r->takes_idem);
    r = route_info (ROUTE_DISPLAY_BEST);
    assert_string_equal (r->pool, "display");
    assert_int_equal (r->part, ROUTE_PART_DISPLAY);
    r = route_info (ROUTE_HEALTH);
    assert_null (r->pool);
    assert_int_equal (r->part, ROUTE_PART_ANY);
    assert_null (route_info (ROUTE_UNMATCHED));
    assert_null (route_info (ROUTE_COUNT));

    assert_true (route_part_served (ROUTE_PART_ORDER, ROLE_ALL));
    assert_true (route_part_served (ROUTE_PART_ORDER, ROLE_ORDER));
    assert_false (route_part_served (ROUTE_PART_ORDER, ROLE_DISPLAY));
    assert_true (route_part_served (ROUTE_PART_DISPLAY, ROLE_DISPLAY));
    assert_false (route_part_served (ROUTE_PART_DISPLAY, ROLE_ORDER));
    assert_true (route_part_served (ROUTE_PART_ANY, ROLE_ORDER));
    assert_true (route_part_served (ROUTE_PART_ANY, ROLE_DISPLAY));
    assert_true (route_part_served (ROUTE_PART_ANY, ROLE_PROJECTOR));
    //  The pages, the console and the pool sizes: not on a projector.
    assert_int_equal (route_info (ROUTE_PAGE)->part, ROUTE_PART_SERVING);
    assert_int_equal (route_info (ROUTE_ADMIN_POOLS)->part, ROUTE_PART_SERVING);
    assert_true (route_part_served (ROUTE_PART_SERVING, ROLE_ALL));
    assert_true (route_part_served (ROUTE_PART_SERVING, ROLE_ORDER));
    assert_true (route_part_served (ROUTE_PART_SERVING, ROLE_DISPLAY));
    assert_false (route_part_served (ROUTE_PART_SERVING, ROLE_PROJECTOR));
}

//  The customer a request names, for routing by hash.
static void
test_customer_id (void **state)
{
    cJSON *canonical = NULL;
    char *error = NULL;
    const char *body = "{\"customerId\":\"CUST-00000042\",\"chargeAmt\":10}";
    assert_int_equal (request_validate_body (ROUTE_POINT_CHARGE, body, strlen (body),
                                             &canonical, &error), 200);
    assert_string_equal (request_customer_id (ROUTE_POINT_CHARGE, canonical, ""),
                         "CUST-00000042");
    assert_null (request_customer_id (ROUTE_CUSTOMER_CREATE, canonical, ""));
    assert_string_equal (request_customer_id (ROUTE_POINT_GET, NULL, "CUST-00000007"),
                         "CUST-00000007");
    assert_null (request_customer_id (ROUTE_ORDER_GET, NULL, "ORD-00000007"));
    cJSON_Delete (canonical);
}

static void
test_error_json (void **state)
{
    char *text = request_error_json ("NOT_FOUND", "say \"hi\"\n", NULL);
    cJSON *json = cJSON_Parse (text);
    assert_non_null (json);
    assert_string_equal (cJSON_GetObjectItem (json, "code")->valuestring, "NOT_FOUND");
    assert_string_equal (cJSON_GetObjectItem (json, "message")->valuestring, "say \"hi\"\n");
    assert_null (cJSON_GetObjectItem (json, "field"));
    cJSON_Delete (json);
    free (text);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_customer_body),
        cmocka_unit_test (test_point_body),
        cmocka_unit_test (test_order_body),
        cmocka_unit_test (test_number_body),
        cmocka_unit_test (test_number_message),
        cmocka_unit_test (test_number_read),
        cmocka_unit_test (test_name_check),
        cmocka_unit_test (test_name_length),
        cmocka_unit_test (test_menu_list_length),
        cmocka_unit_test (test_body_length_respected),
        cmocka_unit_test (test_path_args),
        cmocka_unit_test (test_idempotency_key),
        cmocka_unit_test (test_request_id),
        cmocka_unit_test (test_media_type),
        cmocka_unit_test (test_route_match),
        cmocka_unit_test (test_route_table),
        cmocka_unit_test (test_customer_id),
        cmocka_unit_test (test_error_json),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
