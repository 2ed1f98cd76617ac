/*  End to end: menus managed at run time (issue 10). The real binary on
    loopback, embedded default (SQLite stores, local event log), with an
    admin token file.

    - The admin routes need the admin token (401 without it or with a wrong
      one); GET /admin/menu lists the five demo menus, each at version 1,
      which reached /display/menu as events.
    - Bad bodies and path ids are 400 naming the field; an unknown menu 404.
    - POST /admin/menu creates MENU-00000006; it shows in /display/menu.
    - Orders take the command store's price at the moment: after a PATCH
      of the price a new order pays the new one, the old order keeps its.
    - A hidden menu (useYn "N"): its order is 409 MENU_NOT_ORDERABLE (an
      unknown one stays 404), /display/menu leaves it out, and
      /display/best leaves it out and fills the top 3 from the rest.
    - After a restart the menus, versions and the display are the same and
      no demo menu was told twice.
    - `coffee reconcile` reports display menus changed or lost behind the
      projection's back (exit 1) and --repair makes them the command
      store's again (exit 0).
    - Price changes while four kept-alive clients read /display/menu as
      fast as they can: every read is 200 with all six menus and one of
      the prices set, the last price shows, and the server stops clean
      (under the sanitizers: no snapshot body freed while a response still
      sends it, none left over).

    ctest bound: COFFEE_TEST_TIMEOUT 240 s. */
#include "testkit.h"
#include <cmocka.h>
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <signal.h>
#include <pthread.h>
#include <stdatomic.h>

#define MENUS_TOKEN     "menus-test-admin-token-0123456789abcdef"
#define MENUS_AUTH      "Authorization: Bearer " MENUS_TOKEN
#define MENUS_SHOW_MS   10000       //  longest wait for a change to show in /display

typedef struct {
    tk_server_t server;             //  coffee serve
    char *dir;                      //  temp dir: token file, data dir
    char token_file [600];          //  --admin-token-file
    char data_dir [600];            //  --data-dir
} menus_fixture_t;

static const char *const s_extra [] = {
    "--admin-token-file", NULL, "--log-level", "warn", NULL
};

//  Starts (or restarts) the server with the token file.
static void
s_start (menus_fixture_t *self, bool restart)
{
    const char *extra [sizeof s_extra / sizeof s_extra [0]];
    memcpy (extra, s_extra, sizeof extra);
    extra [1] = self->token_file;
    if (restart)
        assert_int_equal (tk_server_restart (&self->server, extra), 0);
    else
        assert_int_equal (tk_server_start (&self->server, self->data_dir, extra), 0);
}

//  Writes the token file and starts the server.
static int
s_setup (void **state)
{
    curl_global_init (CURL_GLOBAL_DEFAULT);
    menus_fixture_t *self = calloc (1, sizeof *self);
    assert_non_null (self);
    self->dir = tk_tempdir ("coffee-menus");
    assert_non_null (self->dir);
    snprintf (self->token_file, sizeof self->token_file, "%s/admin.token", self->dir);
    FILE *file = fopen (self->token_file, "w");
    assert_non_null (file);
    fprintf (file, "%s\n", MENUS_TOKEN);
    fclose (file);
    snprintf (self->data_dir, sizeof self->data_dir, "%s/data", self->dir);
    assert_int_equal (mkdir (self->data_dir, 0700), 0);
    s_start (self, false);
    *state = self;
    return 0;
}

//  Stops the server if a test left it running.
static int
s_teardown (void **state)
{
    menus_fixture_t *self = (menus_fixture_t *) *state;
    if (self->server.pid)
        tk_server_stop (&self->server);
    free (self->dir);
    free (self);
    curl_global_cleanup ();
    return 0;
}

//  One request with a JSON body (or none) and an Authorization header (or
//  none); the status is checked when want is not 0.
static void
s_call (menus_fixture_t *self, const char *method, const char *path, const char *body,
        const char *auth, long want, tk_resp_t *resp)
{
    const char *headers [] = { "Content-Type: application/json", auth, NULL };
    assert_int_equal (tk_http (method, self->server.port, path, body, headers, resp), 0);
    if (want && resp->status != want)
        fail_msg ("%s %s %s: %ld %s (want %ld)", method, path, body ? body : "", resp->status,
                  resp->body, want);
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

//  The entry of a JSON array whose menuId is id, or NULL.
static const cJSON *
s_find (const cJSON *list, const char *id)
{
    const cJSON *item;
    cJSON_ArrayForEach (item, list)
        if (strcmp (s_str (item, "menuId"), id) == 0)
            return item;
    return NULL;
}

//  What /display/menu must show for s_shows.
typedef struct {
    const char *id;                 //  menuId
    const char *name;               //  menuNm wanted, or NULL: must be absent
    long long price;                //  menuPrice wanted
} s_want_t;

//  True when /display/menu holds want (or lacks it).
static bool
s_shows (const tk_resp_t *resp, void *arg)
{
    const s_want_t *want = (const s_want_t *) arg;
    if (resp->status != 200 || !cJSON_IsArray (resp->json))
        return false;
    const cJSON *item = s_find (resp->json, want->id);
    if (!want->name)
        return item == NULL;
    return item && strcmp (s_str (item, "menuNm"), want->name) == 0
                && s_num (item, "menuPrice") == want->price;
}

//  Waits until /display/menu shows want.
static void
s_wait_display (menus_fixture_t *self, const char *id, const char *name, long long price)
{
    s_want_t want = { id, name, price };
    if (tk_http_until (self->server.port, "/display/menu", s_shows, &want, MENUS_SHOW_MS) != 0)
        fail_msg ("/display/menu never showed %s as %s %lld", id, name ? name : "(absent)",
                  price);
}

//  A new customer with points; its id into id.
static void
s_customer (menus_fixture_t *self, long long points, char *id, size_t len)
{
    tk_resp_t resp;
    s_call (self, "POST", "/customer", "{\"customerNm\":\"메뉴 손님\"}", NULL, 200, &resp);
    snprintf (id, len, "%s", s_str (resp.json, "customerId"));
    tk_resp_reset (&resp);
    char body [128];
    snprintf (body, sizeof body, "{\"customerId\":\"%s\",\"chargeAmt\":%lld}", id, points);
    s_call (self, "POST", "/point", body, NULL, 200, &resp);
    tk_resp_reset (&resp);
}

//  POST /order of qy cups of menu_id; the status checked, the order into resp.
static void
s_order (menus_fixture_t *self, const char *customer, const char *menu_id, int qy,
         long want, tk_resp_t *resp)
{
    char body [192];
    snprintf (body, sizeof body, "{\"customerId\":\"%s\",\"menuList\":[{\"menuId\":\"%s\","
              "\"qy\":%d}]}", customer, menu_id, qy);
    s_call (self, "POST", "/order", body, NULL, want, resp);
}

//  The admin routes need the admin token; the demo menus are version 1 and
//  reached the display side as events.
static void
test_admin_token_and_demo_menus (void **state)
{
    menus_fixture_t *self = (menus_fixture_t *) *state;
    tk_resp_t resp;
    s_call (self, "GET", "/admin/menu", NULL, "Authorization:", 401, &resp);
    tk_resp_reset (&resp);
    s_call (self, "GET", "/admin/menu", NULL, "Authorization: Bearer wrong-token", 401, &resp);
    tk_resp_reset (&resp);
    s_call (self, "POST", "/admin/menu", "{\"menuNm\":\"x\",\"menuPrice\":1}", "Authorization:", 401, &resp);
    tk_resp_reset (&resp);
    s_call (self, "PATCH", "/admin/menu/MENU-00000001", "{\"menuPrice\":1}", "Authorization:", 401, &resp);
    tk_resp_reset (&resp);

    s_call (self, "GET", "/admin/menu", NULL, MENUS_AUTH, 200, &resp);
    assert_true (cJSON_IsArray (resp.json));
    assert_int_equal (cJSON_GetArraySize (resp.json), 5);
    const cJSON *first = cJSON_GetArrayItem (resp.json, 0);
    assert_string_equal (s_str (first, "menuId"), "MENU-00000001");
    assert_string_equal (s_str (first, "menuNm"), "아이스 아메리카노");
    assert_int_equal (s_num (first, "menuPrice"), 4200);
    assert_string_equal (s_str (first, "useYn"), "Y");
    const cJSON *item;
    cJSON_ArrayForEach (item, resp.json)
        assert_int_equal (s_num (item, "version"), 1);
    tk_resp_reset (&resp);
    s_wait_display (self, "MENU-00000005", "모닝세트1", 4500);
}

//  Bad bodies and ids are 400 naming the field; an unknown menu is 404.
static void
test_admin_refusals (void **state)
{
    menus_fixture_t *self = (menus_fixture_t *) *state;
    static const struct {
        const char *method;
        const char *path;
        const char *body;
        long status;
        const char *field;
    } cases [] = {
        { "POST", "/admin/menu", "{\"menuPrice\":100}", 400, "menuNm" },
        { "POST", "/admin/menu", "{\"menuNm\":\"\",\"menuPrice\":100}", 400, "menuNm" },
        { "POST", "/admin/menu", "{\"menuNm\":\"   \",\"menuPrice\":100}", 400, "menuNm" },
        { "POST", "/admin/menu", "{\"menuNm\":\"라떼\"}", 400, "menuPrice" },
        { "POST", "/admin/menu", "{\"menuNm\":\"라떼\",\"menuPrice\":-1}", 400, "menuPrice" },
        { "POST", "/admin/menu", "{\"menuNm\":\"라떼\",\"menuPrice\":1.5}", 400, "menuPrice" },
        { "POST", "/admin/menu", "{\"menuNm\":\"라떼\",\"menuPrice\":\"5000\"}", 400, "menuPrice" },
        { "POST", "/admin/menu", "{\"menuNm\":\"라떼\",\"menuPrice\":1000000001}", 400,
          "menuPrice" },
        { "POST", "/admin/menu", "{\"menuNm\":\"라떼\",\"menuPrice\":5000,\"useYn\":\"X\"}", 400,
          "useYn" },
        { "POST", "/admin/menu", "{\"menuNm\":\"라떼\",\"menuPrice\":5000,\"useYn\":true}", 400,
          "useYn" },
        { "PATCH", "/admin/menu/MENU-00000001", "{}", 400, "body" },
        { "PATCH", "/admin/menu/MENU-00000001", "{\"menuPrice\":-5}", 400, "menuPrice" },
        { "PATCH", "/admin/menu/MENU-00000001", "{\"useYn\":\"y\"}", 400, "useYn" },
        { "PATCH", "/admin/menu/MENU-1", "{\"menuPrice\":5}", 400, "menuId" },
        { "PATCH", "/admin/menu/CUST-00000001", "{\"menuPrice\":5}", 400, "menuId" },
        { "PATCH", "/admin/menu/MENU-00000099", "{\"menuPrice\":5}", 404, NULL },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases [0]; i++) {
        tk_resp_t resp;
        s_call (self, cases [i].method, cases [i].path, cases [i].body, MENUS_AUTH,
                cases [i].status, &resp);
        if (cases [i].field) {
            assert_string_equal (s_str (resp.json, "code"), "INVALID_INPUT");
            assert_string_equal (s_str (resp.json, "field"), cases [i].field);
        }
        else {
            assert_string_equal (s_str (resp.json, "code"), "NOT_FOUND_DATA");
            assert_string_equal (s_str (resp.json, "menuId"), "MENU-00000099");
        }
        tk_resp_reset (&resp);
    }
    //  Nothing of it changed a menu
    tk_resp_t resp;
    s_call (self, "GET", "/admin/menu", NULL, MENUS_AUTH, 200, &resp);
    assert_int_equal (cJSON_GetArraySize (resp.json), 5);
    const cJSON *item;
    cJSON_ArrayForEach (item, resp.json)
        assert_int_equal (s_num (item, "version"), 1);
    tk_resp_reset (&resp);
}

//  A new menu shows; orders pay the price of the moment; a hidden menu is
//  409 to order and leaves /display; /display/best fills from the rest.
static void
test_menu_lifecycle (void **state)
{
    menus_fixture_t *self = (menus_fixture_t *) *state;
    tk_resp_t resp;
    s_call (self, "POST", "/admin/menu", "{\"menuNm\":\"카페 라떼\",\"menuPrice\":5000}",
            MENUS_AUTH, 200, &resp);
    assert_string_equal (s_str (resp.json, "menuId"), "MENU-00000006");
    assert_string_equal (s_str (resp.json, "menuNm"), "카페 라떼");
    assert_int_equal (s_num (resp.json, "menuPrice"), 5000);
    assert_string_equal (s_str (resp.json, "useYn"), "Y");
    assert_int_equal (s_num (resp.json, "version"), 1);
    tk_resp_reset (&resp);
    s_wait_display (self, "MENU-00000006", "카페 라떼", 5000);

    char customer [32];
    s_customer (self, 100000, customer, sizeof customer);
    s_order (self, customer, "MENU-00000006", 2, 200, &resp);
    assert_int_equal (s_num (resp.json, "orderPrice"), 10000);
    char first_order [32];
    snprintf (first_order, sizeof first_order, "%s", s_str (resp.json, "orderNo"));
    tk_resp_reset (&resp);

    //  A new price: new orders pay it, the placed order keeps its own
    s_call (self, "PATCH", "/admin/menu/MENU-00000006", "{\"menuPrice\":5500}", MENUS_AUTH,
            200, &resp);
    assert_int_equal (s_num (resp.json, "menuPrice"), 5500);
    assert_string_equal (s_str (resp.json, "menuNm"), "카페 라떼");
    assert_int_equal (s_num (resp.json, "version"), 2);
    tk_resp_reset (&resp);
    s_order (self, customer, "MENU-00000006", 1, 200, &resp);
    assert_int_equal (s_num (resp.json, "orderPrice"), 5500);
    tk_resp_reset (&resp);
    char path [64];
    snprintf (path, sizeof path, "/order/%s", first_order);
    s_call (self, "GET", path, NULL, NULL, 200, &resp);
    assert_int_equal (s_num (resp.json, "orderPrice"), 10000);
    tk_resp_reset (&resp);
    s_wait_display (self, "MENU-00000006", "카페 라떼", 5500);

    //  Orders for three other menus, fewer than 6 has, so the hidden one
    //  would be the best
    for (int i = 0; i < 2; i++) {
        s_order (self, customer, "MENU-00000006", 1, 200, &resp);
        tk_resp_reset (&resp);
    }
    const char *others [] = { "MENU-00000001", "MENU-00000002", "MENU-00000003",
                              "MENU-00000001", "MENU-00000002", "MENU-00000001" };
    for (size_t i = 0; i < sizeof others / sizeof others [0]; i++) {
        s_order (self, customer, others [i], 1, 200, &resp);
        tk_resp_reset (&resp);
    }

    //  Hidden: not orderable (409), unknown stays 404, gone from /display
    s_call (self, "PATCH", "/admin/menu/MENU-00000006", "{\"useYn\":\"N\",\"menuNm\":\"라떼\"}",
            MENUS_AUTH, 200, &resp);
    assert_string_equal (s_str (resp.json, "useYn"), "N");
    assert_int_equal (s_num (resp.json, "version"), 3);
    tk_resp_reset (&resp);
    s_order (self, customer, "MENU-00000006", 1, 409, &resp);
    assert_string_equal (s_str (resp.json, "code"), "MENU_NOT_ORDERABLE");
    assert_string_equal (s_str (resp.json, "menuId"), "MENU-00000006");
    tk_resp_reset (&resp);
    s_order (self, customer, "MENU-00000077", 1, 404, &resp);
    assert_string_equal (s_str (resp.json, "code"), "NOT_FOUND_DATA");
    tk_resp_reset (&resp);
    s_wait_display (self, "MENU-00000006", NULL, 0);

    //  Best: 6 had 4 orders but is hidden; 1 (3), 2 (2), 3 (1) fill the top 3
    int64_t until = tk_now_ms () + MENUS_SHOW_MS;
    bool right = false;
    while (!right && tk_now_ms () < until) {
        s_call (self, "GET", "/display/best", NULL, NULL, 200, &resp);
        right = cJSON_GetArraySize (resp.json) == 3
             && strcmp (s_str (cJSON_GetArrayItem (resp.json, 0), "menuId"), "MENU-00000001") == 0
             && s_num (cJSON_GetArrayItem (resp.json, 0), "orderCnt") == 3
             && strcmp (s_str (cJSON_GetArrayItem (resp.json, 1), "menuId"), "MENU-00000002") == 0
             && s_num (cJSON_GetArrayItem (resp.json, 1), "orderCnt") == 2
             && strcmp (s_str (cJSON_GetArrayItem (resp.json, 2), "menuId"), "MENU-00000003") == 0
             && s_num (cJSON_GetArrayItem (resp.json, 2), "orderCnt") == 1;
        if (!right)
            usleep (20 * 1000);
        tk_resp_reset (&resp);
    }
    assert_true (right);

    //  Shown again: it comes back with its count
    s_call (self, "PATCH", "/admin/menu/MENU-00000006", "{\"useYn\":\"Y\"}", MENUS_AUTH, 200,
            &resp);
    assert_int_equal (s_num (resp.json, "version"), 4);
    tk_resp_reset (&resp);
    s_wait_display (self, "MENU-00000006", "라떼", 5500);
    s_call (self, "GET", "/display/best", NULL, NULL, 200, &resp);
    const cJSON *top = cJSON_GetArrayItem (resp.json, 0);
    assert_string_equal (s_str (top, "menuId"), "MENU-00000006");
    assert_int_equal (s_num (top, "orderCnt"), 4);
    tk_resp_reset (&resp);
}

//  After a restart: the same menus and versions, nothing told twice.
static void
test_restart_keeps_menus (void **state)
{
    menus_fixture_t *self = (menus_fixture_t *) *state;
    tk_resp_t before;
    s_call (self, "GET", "/admin/menu", NULL, MENUS_AUTH, 200, &before);
    assert_int_equal (tk_server_stop (&self->server), 0);
    s_start (self, true);
    tk_resp_t after;
    s_call (self, "GET", "/admin/menu", NULL, MENUS_AUTH, 200, &after);
    assert_string_equal (before.body, after.body);
    tk_resp_reset (&before);
    tk_resp_reset (&after);
    s_wait_display (self, "MENU-00000006", "라떼", 5500);
    tk_resp_t resp;
    s_call (self, "GET", "/display/menu", NULL, NULL, 200, &resp);
    assert_int_equal (cJSON_GetArraySize (resp.json), 6);
    tk_resp_reset (&resp);
    assert_int_equal (tk_server_stop (&self->server), 0);
}

//  Runs `coffee reconcile` on the data dir with one extra argument (or
//  none); returns its exit status, its output in out.
static int
s_reconcile (menus_fixture_t *self, const char *arg, char *out, size_t len)
{
    const char *argv [] = { COFFEE_BIN, "reconcile", "--data-dir", self->data_dir, arg, NULL };
    char log_path [700];
    snprintf (log_path, sizeof log_path, "%s/reconcile.out", self->dir);
    pid_t pid = tk_spawn (argv, log_path);
    assert_true (pid > 0);
    int status = tk_wait (pid, 60000);
    if (status == -1) {
        kill (pid, SIGKILL);
        tk_wait (pid, 5000);
    }
    out [0] = 0;
    FILE *file = fopen (log_path, "r");
    if (file) {
        size_t n = fread (out, 1, len - 1, file);
        out [n] = 0;
        fclose (file);
    }
    return status;
}

//  Runs sql on the display store's file.
static void
s_display_sql (menus_fixture_t *self, const char *sql)
{
    char db [700];
    snprintf (db, sizeof db, "%s/display.db", self->data_dir);
    const char *argv [] = { "/usr/bin/sqlite3", db, sql, NULL };
    pid_t pid = tk_spawn (argv, NULL);
    assert_true (pid > 0);
    assert_int_equal (tk_wait (pid, 10000), 0);
}

//  Menus changed and lost on the display side: reconcile finds them,
//  --repair puts the command store's back.
static void
test_reconcile_menus (void **state)
{
    menus_fixture_t *self = (menus_fixture_t *) *state;
    char out [8192];
    assert_int_equal (s_reconcile (self, NULL, out, sizeof out), 0);
    assert_non_null (strstr (out, "reconcile: 6 menus, 0 drifting: OK"));
    s_display_sql (self, "UPDATE display_menu SET menu_price = 1, version = 9"
                         " WHERE menu_id = 'MENU-00000002';"
                         " DELETE FROM display_menu WHERE menu_id = 'MENU-00000006';");
    assert_int_equal (s_reconcile (self, NULL, out, sizeof out), 1);
    assert_non_null (strstr (out, "menu MENU-00000002 command=v1 Y 4200 \"핫 아메리카노\""
                                  " display=v9 Y 1 \"핫 아메리카노\""));
    assert_non_null (strstr (out, "menu MENU-00000006 command=v4 Y 5500 \"라떼\" display=none"));
    assert_non_null (strstr (out, "reconcile: 6 menus, 2 drifting: DRIFT"));
    assert_int_equal (s_reconcile (self, "--repair", out, sizeof out), 0);
    assert_non_null (strstr (out, "reconcile: repaired the menus from 6 menus"));
    assert_int_equal (s_reconcile (self, NULL, out, sizeof out), 0);

    //  The display serves them again
    s_start (self, true);
    s_wait_display (self, "MENU-00000002", "핫 아메리카노", 4200);
    s_wait_display (self, "MENU-00000006", "라떼", 5500);
    assert_int_equal (tk_server_stop (&self->server), 0);
}

//  One client of test_menu_changes_under_reads.
typedef struct {
    int port;
    long long first_price;          //  MENU-00000003's price before the changes
    atomic_int *stop;               //  set when the changes are done
    long reads;                     //  answers read and checked
    char error [256];               //  the first wrong answer, or ""
} s_reader_t;

//  libcurl's write callback: appends to a growing buffer (size 64 KiB).
static size_t
s_reader_write (char *data, size_t size, size_t count, void *arg)
{
    char *buf = (char *) arg;
    size_t have = strlen (buf);
    size_t len = size * count;
    if (have + len >= 65536)
        return 0;
    memcpy (buf + have, data, len);
    buf [have + len] = 0;
    return len;
}

//  Reads /display/menu over one kept-alive connection until stop, checking
//  each answer.
static void *
s_reader (void *arg)
{
    s_reader_t *self = (s_reader_t *) arg;
    CURL *curl = curl_easy_init ();
    char *buf = calloc (1, 65536);
    char url [96];
    snprintf (url, sizeof url, "http://127.0.0.1:%d/display/menu", self->port);
    curl_easy_setopt (curl, CURLOPT_URL, url);
    curl_easy_setopt (curl, CURLOPT_WRITEFUNCTION, s_reader_write);
    curl_easy_setopt (curl, CURLOPT_WRITEDATA, buf);
    curl_easy_setopt (curl, CURLOPT_TIMEOUT_MS, 5000L);
    while (!atomic_load (self->stop) && !self->error [0]) {
        buf [0] = 0;
        CURLcode rc = curl_easy_perform (curl);
        long status = 0;
        curl_easy_getinfo (curl, CURLINFO_RESPONSE_CODE, &status);
        cJSON *json = rc == CURLE_OK? cJSON_Parse (buf): NULL;
        const cJSON *menu = json? s_find (json, "MENU-00000003"): NULL;
        long long price = menu? s_num (menu, "menuPrice"): -1;
        if (rc != CURLE_OK || status != 200 || cJSON_GetArraySize (json) != 6
        ||  (price != self->first_price && (price < 3001 || price > 3040)))
            snprintf (self->error, sizeof self->error, "read %ld: curl %d, status %ld, %.150s",
                      self->reads, (int) rc, status, buf);
        cJSON_Delete (json);
        self->reads++;
    }
    free (buf);
    curl_easy_cleanup (curl);
    return NULL;
}

//  Snapshots replaced under load: each price change makes a new display
//  snapshot that every HTTP thread swaps in while its clients' responses
//  may still send the one before.
static void
test_menu_changes_under_reads (void **state)
{
    menus_fixture_t *self = (menus_fixture_t *) *state;
    s_start (self, true);
    tk_resp_t resp;
    s_call (self, "GET", "/display/menu", NULL, NULL, 200, &resp);
    const cJSON *menu = s_find (resp.json, "MENU-00000003");
    assert_non_null (menu);
    long long first_price = s_num (menu, "menuPrice");
    tk_resp_reset (&resp);

    atomic_int stop = 0;
    s_reader_t readers [4];
    pthread_t threads [4];
    for (int i = 0; i < 4; i++) {
        readers [i] = (s_reader_t) { .port = self->server.port, .first_price = first_price,
                                     .stop = &stop };
        assert_int_equal (pthread_create (&threads [i], NULL, s_reader, &readers [i]), 0);
    }
    for (int k = 1; k <= 40; k++) {
        char body [64];
        snprintf (body, sizeof body, "{\"menuPrice\":%d}", 3000 + k);
        s_call (self, "PATCH", "/admin/menu/MENU-00000003", body, MENUS_AUTH, 200, &resp);
        tk_resp_reset (&resp);
        usleep (20 * 1000);         //  room for each snapshot to reach the threads
    }
    s_wait_display (self, "MENU-00000003", "핫 초코", 3040);
    atomic_store (&stop, 1);
    long reads = 0;
    for (int i = 0; i < 4; i++) {
        pthread_join (threads [i], NULL);
        if (readers [i].error [0])
            fail_msg ("reader %d: %s", i, readers [i].error);
        reads += readers [i].reads;
    }
    print_message ("%ld reads during 40 price changes\n", reads);
    assert_true (reads >= 200);
    assert_int_equal (tk_server_stop (&self->server), 0);
}

//  Runs the tests in order; non-zero when one failed.
int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_admin_token_and_demo_menus),
        cmocka_unit_test (test_admin_refusals),
        cmocka_unit_test (test_menu_lifecycle),
        cmocka_unit_test (test_restart_keeps_menus),
        cmocka_unit_test (test_reconcile_menus),
        cmocka_unit_test (test_menu_changes_under_reads),
    };
    return cmocka_run_group_tests_name ("e2e_menus", tests, s_setup, s_teardown);
}
