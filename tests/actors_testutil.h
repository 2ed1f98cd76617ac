/*  actors_testutil — what the actor tests share: building a request the
    way the HTTP front does (request_validate_body, request_validate_arg,
    request_cmd_fill), so actors are tested on the typed commands they
    really get. A body the front would refuse is never sent. */
#ifndef ACTORS_TESTUTIL_H_INCLUDED
#define ACTORS_TESTUTIL_H_INCLUDED

#include "request.h"
#include "store.h"

//  The route an actor op serves (the front's table read backwards).
static inline metrics_route_t
at_route_of (const char *op)
{
    for (int route = 0; route < ROUTE_UNMATCHED; route++) {
        const route_t *info = route_info ((metrics_route_t) route);
        if (info && info->op && streq (info->op, op))
            return (metrics_route_t) route;
    }
    return ROUTE_UNMATCHED;
}

//  Fills req (op, cmd, body) as the front would from body (a POST body or
//  NULL) and arg (the path parameter or NULL), acting as the admin: the
//  canonical body goes to
//  req->body (owned; wire_request_reset frees it). Returns 0, or -1 when
//  the front would have refused the request with 400 (nothing filled).
static inline int
at_request_fill (wire_request_t *req, const char *op, const char *arg, const char *body)
{
    metrics_route_t route = at_route_of (op);
    snprintf (req->op, sizeof req->op, "%s", op);
    cJSON *canonical = NULL;
    char *error = NULL;
    if (body && request_validate_body (route, body, strlen (body), &canonical, &error) != 200) {
        free (error);
        return -1;
    }
    if (arg && *arg && request_validate_arg (route, arg, &error) != 200) {
        free (error);
        cJSON_Delete (canonical);
        return -1;
    }
    request_cmd_fill (route, canonical, arg ? arg : "", &req->cmd);
    req->cmd.auth = WIRE_AUTH_ADMIN;    //  as the front marks the admin token
    req->cmd.limit = STORE_PAGE_MAX;    //  GET /point/{id}?limit=1000: whole histories
    char *printed = canonical ? cJSON_PrintUnformatted (canonical) : NULL;
    cJSON_Delete (canonical);
    req->body = strdup (printed ? printed : "");
    free (printed);
    return req->body ? 0 : -1;
}

#endif
