/*  fuzz_request_arg — request_validate_arg on the {id} of GET
    /point/{customerId} and GET /order/{orderNo}. The first byte picks the
    route; the rest is the path segment. Promises: 200 only for an id of
    the documented shape (PREFIX-<8+ digits>, shorter than COFFEE_ID_MAX),
    else 400 with a JSON error body. */
#include "coffee.h"
#include "request.h"
#include "fuzzkit.h"
#include <ctype.h>

//  The documented shape, checked independently of request.c.
static int
s_shape_ok (const char *arg, const char *prefix)
{
    size_t plen = strlen (prefix);
    if (strncmp (arg, prefix, plen) != 0 || strlen (arg) >= COFFEE_ID_MAX)
        return 0;
    size_t digits = 0;
    for (const char *p = arg + plen; *p; p++, digits++)
        if (!isdigit ((unsigned char) *p))
            return 0;
    return digits >= 8;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    metrics_route_t route = (data [0] & 1)? ROUTE_ORDER_GET: ROUTE_POINT_GET;
    char *arg = fk_cstr (data + 1, size - 1);
    char *error = NULL;
    int status = request_validate_arg (route, arg, &error);
    if (status == 200) {
        FK_CHECK (!error);
        FK_CHECK (s_shape_ok (arg, route == ROUTE_ORDER_GET? "ORD-": "CUST-"));
    }
    else {
        FK_CHECK (status == 400 && error);
        cJSON *parsed = cJSON_Parse (error);
        FK_CHECK (cJSON_IsObject (parsed));
        cJSON_Delete (parsed);
        free (error);
    }
    free (arg);
    return 0;
}
