/*  End to end: the roles of one binary (issue 10), on the embedded default
    (SQLite stores and the local event log in one shared data dir).

    One `--role order`, one `--role display` and one `--role projector`
    process:
    - each serves only its part: order the customer, point, order and menu
      admin routes; display the GET /display routes; projector /health and /metrics
      only (no page, console or pools);
      the others answer 404 naming the role that serves them. /health says
      the role and shows the parts it runs.
    - a menu created and changed through the order process and orders for
      it show on the display process, which has no consumer: the projector
      applied them to the display store.
    - kill -9 of the projector while menus change and orders come in loses
      nothing: restarted, it applies what it missed and the display shows
      exactly the command store's menus and counts (reconcile exits 0).

    ctest bound: COFFEE_TEST_TIMEOUT 300 s. */
#include "testkit.h"
#include <cmocka.h>
#include <curl/curl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define ROLES_TOKEN     "roles-test-admin-token-0123456789abcdef"
#define ROLES_AUTH      "Authorization: Bearer " ROLES_TOKEN
#define ROLES_SHOW_MS   15000       //  longest wait for a change to show on the display process

typedef struct {
    char *dir;                      //  temp dir: token file, data dir
    char token_file [600];          //  --admin-token-file
    char data_dir [600];            //  --data-dir shared by the three
    tk_server_t order;              //  --role order
    tk_server_t display;            //  --role display
    tk_server_t projector;          //  --role projector
} roles_t;

//  Starts (or restarts) one role's process.
static void
s_start (roles_t *self, tk_server_t *srv, const char *role, bool restart)
{
    const char *extra [] = {
        "--role", role, "--admin-token-file", self->token_file, "--display-refresh-ms", "50",
        "--log-level", "warn", NULL
    };
    if (restart)
        assert_int_equal (tk_server_restart (srv, extra), 0);
    else
        assert_int_equal (tk_server_start (srv, self->data_dir, extra), 0);
}

//  Writes the token file and starts the three roles.
static int
s_setup (void **state)
{
    curl_global_init (CURL_GLOBAL_DEFAULT);
    roles_t *self = calloc (1, sizeof *self);
    assert_non_null (self);
    self->dir = tk_tempdir ("coffee-roles");
    assert_non_null (self->dir);
    snprintf (self->token_file, sizeof self->token_file, "%s/admin.token", self->dir);
    FILE *file = fopen (self->token_file, "w");
    assert_non_null (file);
    fprintf (file, "%s\n", ROLES_TOKEN);
    fclose (file);
    snprintf (self->data_dir, sizeof self->data_dir, "%s/data", self->dir);
    assert_int_equal (mkdir (self->data_dir, 0700), 0);
    s_start (self, &self->order, "order", false);
    s_start (self, &self->projector, "projector", false);
    s_start (self, &self->display, "display", false);
    *state = self;
    return 0;
}

//  Stops what a test left running.
static int
s_teardown (void **state)
{
    roles_t *self = (roles_t *) *state;
    tk_server_t *all [] = { &self->display, &self->projector, &self->order };
    for (size_t i = 0; i < 3; i++)
        if (all [i]->pid)
            tk_server_stop (all [i]);
    free (self->dir);
    free (self);
    curl_global_cleanup ();
    return 0;
}

//  One request; the status is checked when want is not 0.
static void
s_call (int port, const char *method, const char *path, const char *body, long want,
        tk_resp_t *resp)
{
    const char *headers [] = { "Content-Type: application/json", ROLES_AUTH, NULL };
    assert_int_equal (tk_http (method, port, path, body, headers, resp), 0);
    if (want && resp->status != want)
        fail_msg ("%s :%d%s %s: %ld %s (want %ld)", method, port, path, body ? body : "",
                  resp->status, resp->body, want);
}

//  The string member name of obj ("" when missing).
static const char *
s_str (const cJSON *obj, const char *name)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive (obj, name);
    return cJSON_IsString (item) ? item->valuestring : "";
}

//  The number member name of obj (-1 when missing).
static long long
s_num (const cJSON *obj, const char *name)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive (obj, name);
    return cJSON_IsNumber (item) ? (long long) item->valuedouble : -1;
}

//  What the display must show: a body equal to want.
typedef struct {
    const char *want;               //  the exact body
} s_body_t;

//  True when the answer's body is exactly the wanted one.
static bool
s_body_is (const tk_resp_t *resp, void *arg)
{
    const s_body_t *body = (const s_body_t *) arg;
    return resp->status == 200 && resp->body && strcmp (resp->body, body->want) == 0;
}

//  The /display/menu body the command store's menus make (shown ones, by
//  menuId, name and price), from GET /admin/menu on the order process.
static char *
s_expected_menu (roles_t *self)
{
    tk_resp_t resp;
    s_call (self->order.port, "GET", "/admin/menu", NULL, 200, &resp);
    cJSON *list = cJSON_CreateArray ();
    const cJSON *menu;
    cJSON_ArrayForEach (menu, resp.json) {
        if (strcmp (s_str (menu, "useYn"), "Y") != 0)
            continue;
        cJSON *item = cJSON_CreateObject ();
        cJSON_AddStringToObject (item, "menuId", s_str (menu, "menuId"));
        cJSON_AddStringToObject (item, "menuNm", s_str (menu, "menuNm"));
        cJSON_AddNumberToObject (item, "menuPrice", (double) s_num (menu, "menuPrice"));
        cJSON_AddItemToArray (list, item);
    }
    tk_resp_reset (&resp);
    char *text = cJSON_PrintUnformatted (list);
    cJSON_Delete (list);
    return text;
}

//  Waits until the display process serves exactly the command store's menus.
static void
s_wait_menus (roles_t *self)
{
    char *want = s_expected_menu (self);
    s_body_t body = { want };
    if (tk_http_until (self->display.port, "/display/menu", s_body_is, &body, ROLES_SHOW_MS)) {
        tk_resp_t resp;
        s_call (self->display.port, "GET", "/display/menu", NULL, 0, &resp);
        fail_msg ("/display/menu on the display role never became\n%s\nlast: %s", want,
                  resp.body);
    }
    cJSON_free (want);
}

//  A customer with points; its id into id.
static void
s_customer (roles_t *self, char *id, size_t len)
{
    tk_resp_t resp;
    s_call (self->order.port, "POST", "/customer", "{\"customerNm\":\"역할 손님\"}", 200, &resp);
    snprintf (id, len, "%s", s_str (resp.json, "customerId"));
    tk_resp_reset (&resp);
    char body [128];
    snprintf (body, sizeof body, "{\"customerId\":\"%s\",\"chargeAmt\":10000000}", id);
    s_call (self->order.port, "POST", "/point", body, 200, &resp);
    tk_resp_reset (&resp);
}

//  One order of one cup of menu_id through the order process.
static void
s_order (roles_t *self, const char *customer, const char *menu_id)
{
    char body [192];
    snprintf (body, sizeof body, "{\"customerId\":\"%s\",\"menuList\":[{\"menuId\":\"%s\","
              "\"qy\":1}]}", customer, menu_id);
    tk_resp_t resp;
    s_call (self->order.port, "POST", "/order", body, 200, &resp);
    tk_resp_reset (&resp);
}

//  Each role serves its own routes; the others are 404 naming the role.
static void
test_each_role_serves_its_part (void **state)
{
    roles_t *self = (roles_t *) *state;
    static const struct {
        const char *method;
        const char *path;
        const char *body;
        long order, display, projector;     //  status on each role
    } cases [] = {
        { "GET", "/display/menu", NULL, 404, 200, 404 },
        { "GET", "/display/best", NULL, 404, 200, 404 },
        { "POST", "/customer", "{\"customerNm\":\"x\"}", 200, 404, 404 },
        { "GET", "/point/CUST-00000001", NULL, 200, 404, 404 },
        { "GET", "/admin/menu", NULL, 200, 404, 404 },
        { "PATCH", "/admin/menu/MENU-00000001", "{\"menuNm\":\"아이스 아메리카노\"}", 200, 404, 404 },
        { "GET", "/health", NULL, 200, 200, 200 },
        { "GET", "/metrics", NULL, 200, 200, 200 },
        //  A projector serves nobody: no page, no console, no pools to size.
        { "GET", "/", NULL, 200, 200, 404 },
        { "GET", "/console", NULL, 200, 200, 404 },
        { "GET", "/page/app.js", NULL, 200, 200, 404 },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases [0]; i++) {
        int ports [3] = { self->order.port, self->display.port, self->projector.port };
        long want [3] = { cases [i].order, cases [i].display, cases [i].projector };
        for (int r = 0; r < 3; r++) {
            tk_resp_t resp;
            s_call (ports [r], cases [i].method, cases [i].path, cases [i].body, want [r], &resp);
            if (want [r] == 404)
                assert_non_null (strstr (s_str (resp.json, "message"), "role"));
            tk_resp_reset (&resp);
        }
    }
    //  Nor pools to size (the order and display roles resize theirs).
    tk_resp_t pools;
    s_call (self->projector.port, "PUT", "/admin/pools/display", "{\"size\":2}", 404, &pools);
    assert_non_null (strstr (s_str (pools.json, "message"), "order and display roles"));
    tk_resp_reset (&pools);
    const char *roles [3] = { "order", "display", "projector" };
    int ports [3] = { self->order.port, self->display.port, self->projector.port };
    for (int r = 0; r < 3; r++) {
        tk_resp_t resp;
        s_call (ports [r], "GET", "/health", NULL, 200, &resp);
        assert_string_equal (s_str (resp.json, "role"), roles [r]);
        //  The projection runs only in the projector (the display has no consumer)
        bool projection = strstr (resp.body, "projection") != NULL;
        assert_true (projection == (r == 2));
        tk_resp_reset (&resp);
    }
}

//  Menu changes and orders made on the order process reach the display
//  process through the projector.
static void
test_changes_reach_the_display (void **state)
{
    roles_t *self = (roles_t *) *state;
    s_wait_menus (self);                //  the demo menus, as events
    tk_resp_t resp;
    s_call (self->order.port, "POST", "/admin/menu",
            "{\"menuNm\":\"바닐라 라떼\",\"menuPrice\":5200}", 200, &resp);
    assert_string_equal (s_str (resp.json, "menuId"), "MENU-00000006");
    tk_resp_reset (&resp);
    s_call (self->order.port, "PATCH", "/admin/menu/MENU-00000002", "{\"useYn\":\"N\"}", 200,
            &resp);
    tk_resp_reset (&resp);
    s_wait_menus (self);

    char customer [32];
    s_customer (self, customer, sizeof customer);
    for (int i = 0; i < 3; i++)
        s_order (self, customer, "MENU-00000006");
    s_order (self, customer, "MENU-00000001");
    s_body_t best = { "[{\"menuId\":\"MENU-00000006\",\"menuNm\":\"바닐라 라떼\",\"orderCnt\":3},"
                      "{\"menuId\":\"MENU-00000001\",\"menuNm\":\"아이스 아메리카노\","
                      "\"orderCnt\":1}]" };
    if (tk_http_until (self->display.port, "/display/best", s_body_is, &best, ROLES_SHOW_MS)) {
        s_call (self->display.port, "GET", "/display/best", NULL, 0, &resp);
        fail_msg ("/display/best never became %s; last %s", best.want, resp.body);
    }
}

//  Runs `coffee reconcile` on the shared data dir; its exit status.
static int
s_reconcile (roles_t *self)
{
    const char *argv [] = { COFFEE_BIN, "reconcile", "--data-dir", self->data_dir, NULL };
    char log_path [700];
    snprintf (log_path, sizeof log_path, "%s/reconcile.out", self->dir);
    pid_t pid = tk_spawn (argv, log_path);
    assert_true (pid > 0);
    int status = tk_wait (pid, 60000);
    if (status == -1) {
        kill (pid, SIGKILL);
        tk_wait (pid, 5000);
    }
    return status;
}

//  kill -9 of the projector while menus change and orders come in: once it
//  is back, nothing is missing.
static void
test_projector_kill9_loses_nothing (void **state)
{
    roles_t *self = (roles_t *) *state;
    char customer [32];
    s_customer (self, customer, sizeof customer);
    char body [96];
    tk_resp_t resp;
    for (int i = 0; i < 20; i++) {
        if (i == 5)
            tk_server_kill9 (&self->projector);
        snprintf (body, sizeof body, "{\"menuPrice\":%d}", 4000 + i);
        s_call (self->order.port, "PATCH", "/admin/menu/MENU-00000003", body, 200, &resp);
        tk_resp_reset (&resp);
        s_order (self, customer, i % 2 ? "MENU-00000003" : "MENU-00000004");
    }
    assert_int_equal (self->projector.pid, 0);
    s_start (self, &self->projector, "projector", true);
    s_wait_menus (self);
    int64_t until = tk_now_ms () + ROLES_SHOW_MS;
    int status = 1;
    while (status != 0 && tk_now_ms () < until) {
        status = s_reconcile (self);
        if (status != 0)
            usleep (200 * 1000);
    }
    assert_int_equal (status, 0);
    //  The display process serves the counts: 10 each after the kill
    s_body_t best = { "[{\"menuId\":\"MENU-00000003\",\"menuNm\":\"핫 초코\",\"orderCnt\":10},"
                      "{\"menuId\":\"MENU-00000004\",\"menuNm\":\"아이스 초코\",\"orderCnt\":10},"
                      "{\"menuId\":\"MENU-00000006\",\"menuNm\":\"바닐라 라떼\",\"orderCnt\":3}]" };
    if (tk_http_until (self->display.port, "/display/best", s_body_is, &best, ROLES_SHOW_MS)) {
        s_call (self->display.port, "GET", "/display/best", NULL, 0, &resp);
        fail_msg ("/display/best never became %s; last %s", best.want, resp.body);
    }
    assert_int_equal (tk_server_stop (&self->display), 0);
    assert_int_equal (tk_server_stop (&self->projector), 0);
    assert_int_equal (tk_server_stop (&self->order), 0);
}

//  Runs the tests in order; non-zero when one failed.
int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_each_role_serves_its_part),
        cmocka_unit_test (test_changes_reach_the_display),
        cmocka_unit_test (test_projector_kill9_loses_nothing),
    };
    return cmocka_run_group_tests_name ("e2e_roles", tests, s_setup, s_teardown);
}
