/*  fuzz_request_body — request_validate_body on every POST route's body.
    The first byte picks the route; the rest is the body as the client sent
    it (not NUL-terminated). Promises checked: 200 comes with a canonical
    object and no error, anything else is 400 with an error body and no
    object; a canonical body printed and validated again is accepted and
    prints the same (the front forwards that print to the actors). Numbers
    (issue 9 point 8): an accepted body is one cJSON parses as it is, and
    each whole number kept (chargeAmt, every qy) is the double cJSON reads
    from the same text (exact below 2^53, so the exact reader and glibc's
    correctly rounded strtod must agree). */
#include "coffee.h"
#include "request.h"
#include "fuzzkit.h"

static const metrics_route_t s_routes [] = {
    ROUTE_CUSTOMER_CREATE, ROUTE_POINT_CHARGE, ROUTE_ORDER_CREATE
};

//  Checks the kept whole numbers of canonical against cJSON's reading of the
//  same body (parsed is the client's body, as cJSON reads it).
static void
s_same_numbers (metrics_route_t route, const cJSON *canonical, const cJSON *parsed)
{
    if (route == ROUTE_POINT_CHARGE) {
        const cJSON *kept = cJSON_GetObjectItemCaseSensitive (canonical, "chargeAmt");
        const cJSON *read = cJSON_GetObjectItemCaseSensitive (parsed, "chargeAmt");
        FK_CHECK (cJSON_IsNumber (kept) && cJSON_IsNumber (read));
        FK_CHECK (kept->valuedouble == read->valuedouble);
    }
    if (route == ROUTE_ORDER_CREATE) {
        const cJSON *kept = cJSON_GetObjectItemCaseSensitive (canonical, "menuList")->child;
        const cJSON *read = cJSON_GetObjectItemCaseSensitive (parsed, "menuList")->child;
        for (; kept && read; kept = kept->next, read = read->next) {
            const cJSON *a = cJSON_GetObjectItemCaseSensitive (kept, "qy");
            const cJSON *b = cJSON_GetObjectItemCaseSensitive (read, "qy");
            FK_CHECK (cJSON_IsNumber (a) && cJSON_IsNumber (b));
            FK_CHECK (a->valuedouble == b->valuedouble);
        }
        FK_CHECK (!kept && !read);
    }
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    metrics_route_t route = s_routes [data [0] % 3];
    //  An exact-size heap copy, so ASan sees any read past the body's end
    char *body = (char *) malloc (size - 1 ? size - 1 : 1);
    FK_CHECK (body);
    memcpy (body, data + 1, size - 1);
    cJSON *canonical = NULL;
    char *error = NULL;
    int status = request_validate_body (route, body, size - 1, &canonical, &error);
    if (status == 200) {
        FK_CHECK (canonical && !error);
        char *text = cJSON_PrintUnformatted (canonical);
        FK_CHECK (text);
        cJSON *again = NULL;
        char *error2 = NULL;
        FK_CHECK (request_validate_body (route, text, strlen (text), &again, &error2) == 200);
        char *text2 = cJSON_PrintUnformatted (again);
        FK_CHECK (text2 && strcmp (text, text2) == 0);
        cJSON *parsed = cJSON_ParseWithLength (body, size - 1);
        FK_CHECK (parsed);
        s_same_numbers (route, canonical, parsed);
        cJSON_Delete (parsed);
        //  Routing by customer never reads past what validation kept
        const char *customer = request_customer_id (route, canonical, "");
        FK_CHECK (route == ROUTE_CUSTOMER_CREATE || (customer && *customer));
        cJSON_free (text2);
        cJSON_Delete (again);
        cJSON_free (text);
        cJSON_Delete (canonical);
    }
    else {
        FK_CHECK (status == 400 && !canonical && error);
        cJSON *parsed = cJSON_Parse (error);
        FK_CHECK (cJSON_IsObject (parsed));
        cJSON_Delete (parsed);
        free (error);
    }
    free (body);
    return 0;
}
