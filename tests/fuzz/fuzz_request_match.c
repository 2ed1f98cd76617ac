/*  fuzz_request_match — request_match on the method and path a client
    sends. Input: METHOD, one NUL byte, PATH. Promises: 200 gives a route
    row and, for a route with {id}, a non-empty arg inside path (else ""); 405 gives an Allow value; else
    404. */
#include "coffee.h"
#include "request.h"
#include "fuzzkit.h"

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    char *text = fk_cstr (data, size);
    const char *method = text;
    const char *path = text + strlen (text);
    if ((size_t) (path - text) < size)
        path++;             //  past the NUL that ends the method
    const route_t *route = NULL;
    const char *arg = NULL, *allow = NULL;
    int status = request_match (method, path, &route, &arg, &allow);
    if (status == 200) {
        FK_CHECK (route && arg);
        if (route->has_arg)
            FK_CHECK (arg >= path && arg <= path + strlen (path) && *arg);
        else
            FK_CHECK (*arg == 0);
        FK_CHECK (route_info (route->route) == route);
    }
    else
    if (status == 405)
        FK_CHECK (allow && *allow);
    else
        FK_CHECK (status == 404);
    free (text);
    return 0;
}
