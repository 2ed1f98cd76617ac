/*  route — the one route table; see include/route.h. */
#include "coffee.h"
#include "route.h"
#include "actor.h"

//  Body limits: a customer name or a charge is well under 1 KiB; an order
//  of STORE_LINES_MAX lines, pretty-printed, under 4 KiB.
#define S_SMALL_BODY  4096
#define S_ORDER_BODY  16384

static const route_t s_routes [] = {
    { ROUTE_DISPLAY_MENU, "GET", "/display/menu", false, "/display/menu",
      ACTOR_POOL_DISPLAY, WIRE_OP_DISPLAY_MENU, ROUTE_PART_DISPLAY, false, 0, false, NULL,
      false, NULL },
    { ROUTE_DISPLAY_BEST, "GET", "/display/best", false, "/display/best",
      ACTOR_POOL_DISPLAY, WIRE_OP_DISPLAY_BEST, ROUTE_PART_DISPLAY, false, 0, false, NULL,
      false, NULL },
    { ROUTE_CUSTOMER_CREATE, "POST", "/customer", false, "/customer",
      ACTOR_POOL_POINT, WIRE_OP_CUSTOMER_CREATE, ROUTE_PART_ORDER, false, S_SMALL_BODY, false, NULL,
      false, NULL },
    { ROUTE_CUSTOMER_TOKEN, "POST", "/customer/", true, "/customer/{customerId}/token",
      ACTOR_POOL_POINT, WIRE_OP_CUSTOMER_TOKEN, ROUTE_PART_ORDER, false, 0, false, NULL,
      true, "/token" },
    { ROUTE_POINT_CHARGE, "POST", "/point", false, "/point",
      ACTOR_POOL_POINT, WIRE_OP_POINT_CHARGE, ROUTE_PART_ORDER, true, S_SMALL_BODY, false, NULL,
      true, NULL },
    { ROUTE_POINT_GET, "GET", "/point/", true, "/point/{customerId}",
      ACTOR_POOL_POINT, WIRE_OP_POINT_GET, ROUTE_PART_ORDER, false, 0, false, NULL,
      true, NULL },
    { ROUTE_ORDER_CREATE, "POST", "/order", false, "/order",
      ACTOR_POOL_ORDER, WIRE_OP_ORDER_CREATE, ROUTE_PART_ORDER, true, S_ORDER_BODY, false, NULL,
      true, NULL },
    { ROUTE_ORDER_GET, "GET", "/order/", true, "/order/{orderNo}",
      ACTOR_POOL_ORDER, WIRE_OP_ORDER_GET, ROUTE_PART_ORDER, false, 0, false, NULL,
      true, NULL },
    { ROUTE_HEALTH, "GET", "/health", false, "/health",
      NULL, NULL, ROUTE_PART_ANY, false, 0, false, NULL,
      false, NULL },
    //  The admin's unless --metrics-public (the front decides).
    { ROUTE_METRICS, "GET", "/metrics", false, "/metrics",
      NULL, NULL, ROUTE_PART_ANY, false, 0, true, NULL,
      false, NULL },
    { ROUTE_PAGE, "GET", "/", false, "/",
      NULL, NULL, ROUTE_PART_SERVING, false, 0, false, "index.html",
      false, NULL },
    { ROUTE_CONSOLE, "GET", "/console", false, "/console",
      NULL, NULL, ROUTE_PART_SERVING, false, 0, false, "console.html",
      false, NULL },
    { ROUTE_PAGE_CSS, "GET", "/page/style.css", false, "/page/style.css",
      NULL, NULL, ROUTE_PART_SERVING, false, 0, false, "style.css",
      false, NULL },
    { ROUTE_PAGE_JS, "GET", "/page/app.js", false, "/page/app.js",
      NULL, NULL, ROUTE_PART_SERVING, false, 0, false, "app.js",
      false, NULL },
    { ROUTE_CONSOLE_JS, "GET", "/page/console.js", false, "/page/console.js",
      NULL, NULL, ROUTE_PART_SERVING, false, 0, false, "console.js",
      false, NULL },
    //  The front sends it to main, which owns the pools (http_front.h).
    { ROUTE_ADMIN_POOLS, "PUT", "/admin/pools/", true, "/admin/pools/{pool}",
      NULL, NULL, ROUTE_PART_SERVING, false, S_SMALL_BODY, true, NULL,
      false, NULL },
    { ROUTE_POINT_SAVE, "POST", "/admin/point/save", false, "/admin/point/save",
      ACTOR_POOL_POINT, WIRE_OP_POINT_SAVE, ROUTE_PART_ORDER, false, S_SMALL_BODY, true, NULL,
      false, NULL },
    //  Menus: the command store owns them, so the order actors serve them.
    { ROUTE_ADMIN_MENU_CREATE, "POST", "/admin/menu", false, "/admin/menu",
      ACTOR_POOL_ORDER, WIRE_OP_MENU_CREATE, ROUTE_PART_ORDER, false, S_SMALL_BODY, true, NULL,
      false, NULL },
    { ROUTE_ADMIN_MENU_PATCH, "PATCH", "/admin/menu/", true, "/admin/menu/{menuId}",
      ACTOR_POOL_ORDER, WIRE_OP_MENU_PATCH, ROUTE_PART_ORDER, false, S_SMALL_BODY, true, NULL,
      false, NULL },
    { ROUTE_ADMIN_MENU_LIST, "GET", "/admin/menu", false, "/admin/menu",
      ACTOR_POOL_ORDER, WIRE_OP_MENU_LIST, ROUTE_PART_ORDER, false, 0, true, NULL,
      false, NULL },
};
#define S_ROUTE_COUNT (sizeof (s_routes) / sizeof (s_routes [0]))
_Static_assert (S_ROUTE_COUNT == ROUTE_UNMATCHED, "a row for every route");

//  The table.
const route_t *
route_table (size_t *count)
{
    *count = S_ROUTE_COUNT;
    return s_routes;
}

//  The row of a route (rows are in route_id_t order).
const route_t *
route_info (route_id_t route)
{
    if ((unsigned) route >= S_ROUTE_COUNT)
        return NULL;
    assert (s_routes [route].route == route);
    return &s_routes [route];
}

//  The label of a route.
const char *
route_label (route_id_t route)
{
    const route_t *row = route_info (route);
    return row? row->label: "unmatched";
}

//  The method of a route.
const char *
route_method (route_id_t route)
{
    const route_t *row = route_info (route);
    return row? row->method: "";
}

//  True when a role serves the part.
bool
route_part_served (route_part_t part, config_role_t role)
{
    if (part == ROUTE_PART_ORDER)
        return role == ROLE_ALL || role == ROLE_ORDER;
    if (part == ROUTE_PART_DISPLAY)
        return role == ROLE_ALL || role == ROLE_DISPLAY;
    if (part == ROUTE_PART_SERVING)
        return role != ROLE_PROJECTOR;
    return true;
}

//  The smaller of the route's limit and --max-body; 0 for a POST that
//  takes no body.
size_t
route_body_max (const route_t *route, size_t max_body)
{
    if (!route->body_max && !streq (route->method, "GET"))
        return 0;
    return route->body_max && route->body_max < max_body? route->body_max: max_body;
}
