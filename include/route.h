/*  route — the one route table. Each route is declared once, as a row:
    method, path, metrics label, the actor pool and op it goes to, which
    roles serve it, whether it takes an Idempotency-Key, its body limit,
    whether it needs the admin token, the page file a static route
    answers with, and whether it needs the token of the customer it acts
    for (or the admin's). The HTTP front matches and dispatches with it, request
    validation checks bodies and path parameters per route, metrics label
    series with it, and the OpenAPI test checks the document against it. */
#ifndef ROUTE_H_INCLUDED
#define ROUTE_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include "config.h"

typedef enum {
    ROUTE_DISPLAY_MENU = 0,     //  GET /display/menu
    ROUTE_DISPLAY_BEST,         //  GET /display/best
    ROUTE_CUSTOMER_CREATE,      //  POST /customer
    ROUTE_CUSTOMER_TOKEN,       //  POST /customer/{customerId}/token
    ROUTE_POINT_CHARGE,         //  POST /point
    ROUTE_POINT_GET,            //  GET /point/{customerId}
    ROUTE_ORDER_CREATE,         //  POST /order
    ROUTE_ORDER_GET,            //  GET /order/{orderNo}
    ROUTE_HEALTH,               //  GET /health
    ROUTE_METRICS,              //  GET /metrics
    ROUTE_PAGE,                 //  GET /: the customer page
    ROUTE_CONSOLE,              //  GET /console: the operator page
    ROUTE_PAGE_CSS,             //  GET /page/style.css
    ROUTE_PAGE_JS,              //  GET /page/app.js
    ROUTE_CONSOLE_JS,           //  GET /page/console.js
    ROUTE_ADMIN_POOLS,          //  PUT /admin/pools/{pool}: resize an actor pool
    ROUTE_POINT_SAVE,           //  POST /admin/point/save: grant SAVE points
    ROUTE_ADMIN_MENU_CREATE,    //  POST /admin/menu: a new menu
    ROUTE_ADMIN_MENU_PATCH,     //  PATCH /admin/menu/{menuId}: change a menu
    ROUTE_ADMIN_MENU_LIST,      //  GET /admin/menu: every menu with its version
    ROUTE_UNMATCHED,            //  anything else (404/405): a metrics label only
    ROUTE_COUNT
} route_id_t;

//  Which roles serve a route.
typedef enum {
    ROUTE_PART_ANY = 0,         //  every role (health, metrics)
    ROUTE_PART_ORDER,           //  roles that run the order side
    ROUTE_PART_DISPLAY,         //  roles that run the display side
    ROUTE_PART_SERVING          //  roles that serve people: all but projector (pages, pools)
} route_part_t;

//  One row of the route table.
typedef struct {
    route_id_t route;           //  the route
    const char *method;         //  "GET", "POST", "PUT" or "PATCH" (GET answers HEAD too)
    const char *path;           //  "/point" or, with has_arg, the prefix "/point/"
    bool has_arg;               //  the path ends with one {id} segment
    const char *label;          //  metrics and OpenAPI name: "/point/{customerId}"
    const char *pool;           //  actor pool it goes to, NULL when the front answers
    const char *op;             //  WIRE_OP_* sent to the pool, NULL when the front answers
    route_part_t part;          //  which roles serve it
    bool takes_idem;            //  reads the Idempotency-Key header
    size_t body_max;            //  bytes of body it takes (0: none); --max-body caps it further
    bool admin;                 //  needs Authorization: Bearer <admin token>
    const char *file;           //  page file the front answers with (page.h), or NULL
    bool customer;              //  needs Bearer <the customer's token> (or the admin's)
    const char *suffix;         //  with has_arg: what follows the {id} ("/token"), or NULL
} route_t;

//  The table: *count rows, in route_id_t order (ROUTE_UNMATCHED not included).
const route_t *route_table (size_t *count);

//  The row of a route; NULL for ROUTE_UNMATCHED and out-of-range values.
const route_t *route_info (route_id_t route);

//  The metrics label of a route ("unmatched" for anything else).
const char *route_label (route_id_t route);

//  The method of a route ("" for unmatched).
const char *route_method (route_id_t route);

//  True when a role serves the part.
bool route_part_served (route_part_t part, config_role_t role);

//  The body limit of a route under --max-body (the smaller of the two).
size_t route_body_max (const route_t *route, size_t max_body);

#endif
