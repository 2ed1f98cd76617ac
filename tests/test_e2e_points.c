/*  test_e2e_points — the balance invariant under concurrency, end to end:
    many threads (and then two client processes) race orders and charges on
    ONE customer through the real server. From the answers alone the test
    computes what the balance must be:
        final = initial + sum of 200 charges - sum of 200 order prices
    and checks that GET /point says exactly that, that it equals the sum of
    pointDetail and has one history row per success, that every refused
    order was refused for a real shortfall, that order numbers are unique
    and that nothing answered 5xx. Runs with 4 point / 4 order actors, with
    1 / 1, with two client processes, and with two server instances on one
    store.

    ctest bound: COFFEE_TEST_TIMEOUT 600 s. */

#include "testkit.h"
#include <cmocka.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

//  Racing threads in one process.
#define PT_THREADS          64
//  Requests each thread sends.
#define PT_OPS              16
//  Threads of each of the two client processes.
#define PT_PROC_THREADS     16
//  Client processes racing through one server.
#define PT_PROCS            2
//  Balance the customer starts with.
#define PT_INITIAL          50000
//  Threads making customers at once, and customers each makes.
#define PT_CREATORS         32
#define PT_CREATES          4

//  Seeded menu prices, MENU-00000001 … MENU-00000005.
static const int64_t s_prices [5] = { 4200, 4200, 4500, 4500, 4500 };

//  One request a worker sent and what it got.
typedef struct {
    char kind;                  //  'C' charge, 'O' order
    int64_t amount;             //  charge amount, or the order's price computed here
    long status;                //  HTTP status, 0 on a transport failure
    int64_t answer_price;       //  orderPrice answered (orders with 200)
    int64_t shortfall;          //  shortfall answered (409 NO_POINT), else 0
    int64_t before;             //  beforeChargePoint answered (charges with 200)
    int64_t after;              //  afterChargePoint answered (charges with 200)
    char order_no [32];         //  orderNo answered (orders with 200)
    char code [32];             //  error code answered, or ""
} pt_op_t;

//  One racing worker: which ops it sends and what came back.
typedef struct {
    int port;                   //  server port
    const char *customer;       //  the one customer everybody races on
    unsigned seed;              //  makes its requests differ from the others'
    int count;                  //  ops in ops
    pt_op_t ops [PT_OPS];       //  what it sent and got
} pt_worker_t;

//  A tally of all answers.
typedef struct {
    int64_t charged;            //  sum of 200 charges
    int64_t spent;              //  sum of 200 order prices
    int charges_ok;             //  200 charges
    int orders_ok;              //  200 orders
    int no_point;               //  409 NO_POINT orders
    int other;                  //  anything else (must stay 0)
    size_t order_count;         //  entries in order_nos
    char (*order_nos) [32];     //  every orderNo answered
} pt_tally_t;


//  Thread body (no cmocka asserts here: it only records). Even seeds send
//  orders of one or two lines, odd seeds charges of 3000..14999.
static void *
s_worker (void *arg)
{
    pt_worker_t *self = (pt_worker_t *) arg;
    unsigned rng = self->seed * 2654435761u + 1;
    for (int i = 0; i < PT_OPS; i++) {
        pt_op_t *op = &self->ops [i];
        memset (op, 0, sizeof *op);
        rng = rng * 1103515245u + 12345u;
        char body [512];
        const char *path;
        //  Mostly orders, so that the balance runs short and refusals happen.
        if ((self->seed + (unsigned) i) % 3 != 0) {
            int menu_a = (int) ((rng >> 8) % 5), menu_b = (int) ((rng >> 12) % 5);
            int qy_a = 1 + (int) ((rng >> 16) % 3), qy_b = 1 + (int) ((rng >> 20) % 2);
            bool two = (rng >> 24) & 1;
            op->kind = 'O';
            op->amount = s_prices [menu_a] * qy_a + (two ? s_prices [menu_b] * qy_b : 0);
            if (two)
                snprintf (body, sizeof body, "{\"customerId\":\"%s\",\"menuList\":["
                          "{\"menuId\":\"MENU-0000000%d\",\"qy\":%d},"
                          "{\"menuId\":\"MENU-0000000%d\",\"qy\":%d}]}",
                          self->customer, menu_a + 1, qy_a, menu_b + 1, qy_b);
            else
                snprintf (body, sizeof body, "{\"customerId\":\"%s\",\"menuList\":["
                          "{\"menuId\":\"MENU-0000000%d\",\"qy\":%d}]}",
                          self->customer, menu_a + 1, qy_a);
            path = "/order";
        }
        else {
            op->kind = 'C';
            op->amount = 3000 + (int64_t) ((rng >> 8) % 12000);
            snprintf (body, sizeof body, "{\"customerId\":\"%s\",\"chargeAmt\":%" PRId64 "}",
                      self->customer, op->amount);
            path = "/point";
        }
        tk_resp_t resp;
        tk_http ("POST", self->port, path, body, NULL, &resp);
        op->status = resp.status;
        const cJSON *json = resp.json;
        const cJSON *code = cJSON_GetObjectItemCaseSensitive (json, "code");
        if (cJSON_IsString (code))
            snprintf (op->code, sizeof op->code, "%s", code->valuestring);
        if (op->kind == 'O' && resp.status == 200) {
            const cJSON *no = cJSON_GetObjectItemCaseSensitive (json, "orderNo");
            const cJSON *price = cJSON_GetObjectItemCaseSensitive (json, "orderPrice");
            if (cJSON_IsString (no))
                snprintf (op->order_no, sizeof op->order_no, "%s", no->valuestring);
            op->answer_price = cJSON_IsNumber (price) ? (int64_t) price->valuedouble : -1;
        }
        if (op->kind == 'C' && resp.status == 200) {
            const cJSON *before = cJSON_GetObjectItemCaseSensitive (json, "beforeChargePoint");
            const cJSON *after = cJSON_GetObjectItemCaseSensitive (json, "afterChargePoint");
            op->before = cJSON_IsNumber (before) ? (int64_t) before->valuedouble : -1;
            op->after = cJSON_IsNumber (after) ? (int64_t) after->valuedouble : -1;
        }
        const cJSON *shortfall = cJSON_GetObjectItemCaseSensitive (json, "shortfall");
        if (cJSON_IsNumber (shortfall))
            op->shortfall = (int64_t) shortfall->valuedouble;
        tk_resp_reset (&resp);
        self->count = i + 1;
    }
    return NULL;
}

//  Runs count workers as threads and waits for them all.
static void
s_run_workers (pt_worker_t *workers, int count)
{
    pthread_t *threads = calloc ((size_t) count, sizeof *threads);
    assert_non_null (threads);
    for (int i = 0; i < count; i++)
        assert_int_equal (pthread_create (&threads [i], NULL, s_worker, &workers [i]), 0);
    for (int i = 0; i < count; i++)
        pthread_join (threads [i], NULL);
    free (threads);
}

//  Adds the workers' answers to the tally, checking each one.
static void
s_tally (pt_tally_t *tally, const pt_worker_t *workers, int count)
{
    for (int w = 0; w < count; w++)
        for (int i = 0; i < workers [w].count; i++) {
            const pt_op_t *op = &workers [w].ops [i];
            if (op->status >= 500 || op->status == 0)
                fprintf (stderr, "worker %d op %d (%c %" PRId64 "): status %ld %s\n", w, i,
                         op->kind, op->amount, op->status, op->code);
            if (op->kind == 'C' && op->status == 200) {
                //  The balance a charge saw was never negative.
                assert_true (op->before >= 0);
                assert_int_equal (op->after, op->before + op->amount);
                tally->charged += op->amount;
                tally->charges_ok++;
            }
            else
            if (op->kind == 'O' && op->status == 200) {
                assert_int_equal (op->answer_price, op->amount);
                assert_true (strncmp (op->order_no, "ORD-", 4) == 0);
                tally->spent += op->amount;
                tally->orders_ok++;
                tally->order_nos = realloc (tally->order_nos,
                                            (tally->order_count + 1) * sizeof *tally->order_nos);
                assert_non_null (tally->order_nos);
                memcpy (tally->order_nos [tally->order_count++], op->order_no, 32);
            }
            else
            if (op->kind == 'O' && op->status == 409 && strcmp (op->code, "NO_POINT") == 0) {
                //  A refusal names a real shortfall, never more than the price.
                assert_true (op->shortfall >= 1 && op->shortfall <= op->amount);
                tally->no_point++;
            }
            else
                tally->other++;
        }
}

//  Compares two ids (order numbers, customer ids) for qsort.
static int
s_cmp_order_no (const void *a, const void *b)
{
    return strcmp ((const char *) a, (const char *) b);
}

//  Checks the server's view against the tally: balance, history, orders.
static void
s_check (int port, const char *customer, pt_tally_t *tally)
{
    fprintf (stderr, "points: %d charges (%" PRId64 "), %d orders (%" PRId64 "), "
             "%d NO_POINT, %d other\n", tally->charges_ok, tally->charged, tally->orders_ok,
             tally->spent, tally->no_point, tally->other);
    assert_int_equal (tally->other, 0);
    //  Both kinds happened, and the balance ran short at times.
    assert_true (tally->charges_ok > 0);
    assert_true (tally->orders_ok > 0);
    assert_true (tally->no_point > 0);

    //  The whole history, page after page (newest first, 1000 a page)
    char path [160], cursor [32] = "";
    int64_t balance = -1, sum = 0, charge_rows = 0, use_rows = 0;
    int pages = 0;
    do {
        snprintf (path, sizeof path, "/point/%s?limit=1000%s%s", customer,
                  *cursor? "&cursor=": "", cursor);
        tk_resp_t resp;
        assert_int_equal (tk_http ("GET", port, path, NULL, NULL, &resp), 0);
        assert_int_equal (resp.status, 200);
        const cJSON *account = cJSON_GetArrayItem (resp.json, 0);
        const cJSON *point = cJSON_GetObjectItemCaseSensitive (account, "point");
        const cJSON *detail = cJSON_GetObjectItemCaseSensitive (account, "pointDetail");
        const cJSON *next = cJSON_GetObjectItemCaseSensitive (account, "nextCursor");
        assert_true (cJSON_IsNumber (point));
        assert_true (cJSON_IsArray (detail));
        if (balance < 0)
            balance = (int64_t) point->valuedouble;
        assert_int_equal ((int64_t) point->valuedouble, balance);
        const cJSON *row;
        cJSON_ArrayForEach (row, detail) {
            const cJSON *amount = cJSON_GetObjectItemCaseSensitive (row, "point");
            const cJSON *code = cJSON_GetObjectItemCaseSensitive (row, "pointTypeCode");
            assert_true (cJSON_IsNumber (amount) && cJSON_IsString (code));
            sum += (int64_t) amount->valuedouble;
            charge_rows += strcmp (code->valuestring, "CHARGE") == 0;
            use_rows += strcmp (code->valuestring, "USE") == 0;
        }
        snprintf (cursor, sizeof cursor, "%s", cJSON_IsString (next)? next->valuestring: "");
        tk_resp_reset (&resp);
    } while (*cursor && ++pages < 100);
    int64_t expected = PT_INITIAL + tally->charged - tally->spent;
    assert_int_equal (balance, expected);
    assert_true (balance >= 0);
    assert_int_equal (sum, balance);
    assert_int_equal (charge_rows, 1 + tally->charges_ok);
    assert_int_equal (use_rows, tally->orders_ok);

    //  Order numbers are unique, and each order reads back with its price.
    qsort (tally->order_nos, tally->order_count, sizeof *tally->order_nos, s_cmp_order_no);
    for (size_t i = 1; i < tally->order_count; i++)
        if (strcmp (tally->order_nos [i - 1], tally->order_nos [i]) == 0)
            fail_msg ("order number %s handed out twice", tally->order_nos [i]);
    tk_resp_t resp;
    int64_t read_back = 0;
    for (size_t i = 0; i < tally->order_count; i++) {
        snprintf (path, sizeof path, "/order/%s", tally->order_nos [i]);
        assert_int_equal (tk_http ("GET", port, path, NULL, NULL, &resp), 0);
        assert_int_equal (resp.status, 200);
        const cJSON *price = cJSON_GetObjectItemCaseSensitive (resp.json, "orderPrice");
        const cJSON *owner = cJSON_GetObjectItemCaseSensitive (resp.json, "customerId");
        assert_true (cJSON_IsNumber (price) && cJSON_IsString (owner));
        assert_string_equal (owner->valuestring, customer);
        read_back += (int64_t) price->valuedouble;
        tk_resp_reset (&resp);
    }
    assert_int_equal (read_back, tally->spent);
}

//  Starts a server with the given pool sizes, makes the customer and gives
//  it the initial balance.
static void
s_start (tk_server_t *server, const char *actors, char *customer, size_t size)
{
    const char *extra [] = { "--point-actors", actors, "--order-actors", actors, NULL };
    assert_int_equal (tk_server_start (server, NULL, extra), 0);
    tk_resp_t resp;
    assert_int_equal (tk_http ("POST", server->port, "/customer", "{\"customerNm\":\"race\"}",
                               NULL, &resp), 0);
    assert_int_equal (resp.status, 200);
    const cJSON *id = cJSON_GetObjectItemCaseSensitive (resp.json, "customerId");
    assert_true (cJSON_IsString (id));
    snprintf (customer, size, "%s", id->valuestring);
    tk_resp_reset (&resp);
    char body [256];
    snprintf (body, sizeof body, "{\"customerId\":\"%s\",\"chargeAmt\":%d}", customer,
              PT_INITIAL);
    assert_int_equal (tk_http ("POST", server->port, "/point", body, NULL, &resp), 0);
    assert_int_equal (resp.status, 200);
    tk_resp_reset (&resp);
}

//  PT_THREADS threads race on one customer through one server.
static void
s_threads_race (const char *actors)
{
    tk_server_t server;
    char customer [64];
    s_start (&server, actors, customer, sizeof customer);
    pt_worker_t *workers = calloc (PT_THREADS, sizeof *workers);
    assert_non_null (workers);
    for (int i = 0; i < PT_THREADS; i++)
        workers [i] = (pt_worker_t) { .port = server.port, .customer = customer,
                                      .seed = (unsigned) i + 1 };
    s_run_workers (workers, PT_THREADS);
    pt_tally_t tally = { 0 };
    s_tally (&tally, workers, PT_THREADS);
    s_check (server.port, customer, &tally);
    free (tally.order_nos);
    free (workers);
    assert_int_equal (tk_server_stop (&server), 0);
}

//  Two instances on one data dir (one command store), the workers split
//  between them: four writers, in two processes, on one customer.
static void
test_race_two_instances (void **state)
{
    tk_server_t first, second;
    char customer [64];
    s_start (&first, "2", customer, sizeof customer);
    const char *extra [] = { "--role", "order", "--point-actors", "2", "--order-actors", "2",
                             NULL };
    assert_int_equal (tk_server_start (&second, first.data_dir, extra), 0);
    pt_worker_t *workers = calloc (PT_THREADS, sizeof *workers);
    assert_non_null (workers);
    for (int i = 0; i < PT_THREADS; i++)
        workers [i] = (pt_worker_t) { .port = i % 2 ? second.port : first.port,
                                      .customer = customer, .seed = (unsigned) i + 500 };
    s_run_workers (workers, PT_THREADS);
    pt_tally_t tally = { 0 };
    s_tally (&tally, workers, PT_THREADS);
    s_check (second.port, customer, &tally);
    free (tally.order_nos);
    free (workers);
    assert_int_equal (tk_server_stop (&second), 0);
    assert_int_equal (tk_server_stop (&first), 0);
}

//  One creator thread: the ports it alternates between and the ids it got.
typedef struct {
    int ports [2];                      //  the two instances
    long status [PT_CREATES];           //  answers
    char ids [PT_CREATES][32];          //  customerId answered
} pt_creator_t;

//  Thread body: POST /customer PT_CREATES times, alternating instances.
static void *
s_creator (void *arg)
{
    pt_creator_t *self = (pt_creator_t *) arg;
    for (int i = 0; i < PT_CREATES; i++) {
        tk_resp_t resp;
        tk_http ("POST", self->ports [i % 2], "/customer", "{\"customerNm\":\"동시\"}", NULL,
                 &resp);
        self->status [i] = resp.status;
        const cJSON *id = cJSON_GetObjectItemCaseSensitive (resp.json, "customerId");
        if (cJSON_IsString (id))
            snprintf (self->ids [i], sizeof self->ids [i], "%s", id->valuestring);
        tk_resp_reset (&resp);
    }
    return NULL;
}

//  Customer ids are unique when many are made at once on two instances.
static void
test_customer_ids_unique (void **state)
{
    tk_server_t first, second;
    assert_int_equal (tk_server_start (&first, NULL, NULL), 0);
    const char *extra [] = { "--role", "order", NULL };
    assert_int_equal (tk_server_start (&second, first.data_dir, extra), 0);
    pt_creator_t *creators = calloc (PT_CREATORS, sizeof *creators);
    pthread_t *threads = calloc (PT_CREATORS, sizeof *threads);
    assert_true (creators && threads);
    for (int i = 0; i < PT_CREATORS; i++) {
        creators [i].ports [0] = i % 2 ? first.port : second.port;
        creators [i].ports [1] = i % 2 ? second.port : first.port;
        assert_int_equal (pthread_create (&threads [i], NULL, s_creator, &creators [i]), 0);
    }
    for (int i = 0; i < PT_CREATORS; i++)
        pthread_join (threads [i], NULL);
    char (*ids) [32] = calloc (PT_CREATORS * PT_CREATES, sizeof *ids);
    assert_non_null (ids);
    size_t count = 0;
    for (int i = 0; i < PT_CREATORS; i++)
        for (int j = 0; j < PT_CREATES; j++) {
            assert_int_equal (creators [i].status [j], 200);
            assert_true (strncmp (creators [i].ids [j], "CUST-", 5) == 0);
            memcpy (ids [count++], creators [i].ids [j], 32);
        }
    qsort (ids, count, sizeof *ids, s_cmp_order_no);
    for (size_t i = 1; i < count; i++)
        if (strcmp (ids [i - 1], ids [i]) == 0)
            fail_msg ("customer id %s handed out twice", ids [i]);
    free (ids);
    free (threads);
    free (creators);
    assert_int_equal (tk_server_stop (&second), 0);
    assert_int_equal (tk_server_stop (&first), 0);
}

//  With four actors per pool.
static void
test_race_four_actors (void **state)
{
    s_threads_race ("4");
}

//  With one actor per pool.
static void
test_race_one_actor (void **state)
{
    s_threads_race ("1");
}

//  Two forked client processes, each with PT_PROC_THREADS threads, race on
//  one customer through the same server; each child writes its answers to
//  a file the parent tallies.
static void
test_race_processes (void **state)
{
    tk_server_t server;
    char customer [64];
    s_start (&server, "4", customer, sizeof customer);
    pid_t children [PT_PROCS];
    char files [PT_PROCS][700];
    for (int p = 0; p < PT_PROCS; p++) {
        snprintf (files [p], sizeof files [p], "%s/client-%d.bin", server.data_dir, p);
        fflush (NULL);
        children [p] = fork ();
        assert_true (children [p] >= 0);
        if (children [p] == 0) {
            //  The child: no cmocka from here on, only _exit.
            pt_worker_t *workers = calloc (PT_PROC_THREADS, sizeof *workers);
            if (!workers)
                _exit (2);
            for (int i = 0; i < PT_PROC_THREADS; i++)
                workers [i] = (pt_worker_t) { .port = server.port, .customer = customer,
                                              .seed = (unsigned) (1000 * (p + 1) + i) };
            pthread_t threads [PT_PROC_THREADS];
            for (int i = 0; i < PT_PROC_THREADS; i++)
                if (pthread_create (&threads [i], NULL, s_worker, &workers [i]) != 0)
                    _exit (3);
            for (int i = 0; i < PT_PROC_THREADS; i++)
                pthread_join (threads [i], NULL);
            FILE *out = fopen (files [p], "wb");
            size_t written = out ? fwrite (workers, sizeof *workers, PT_PROC_THREADS, out) : 0;
            int rc = out && fclose (out) == 0 && written == PT_PROC_THREADS ? 0 : 4;
            free (workers);
            _exit (rc);
        }
    }
    pt_tally_t tally = { 0 };
    pt_worker_t *workers = calloc (PT_PROC_THREADS, sizeof *workers);
    assert_non_null (workers);
    for (int p = 0; p < PT_PROCS; p++) {
        assert_int_equal (tk_wait (children [p], 300000), 0);
        FILE *in = fopen (files [p], "rb");
        assert_non_null (in);
        assert_int_equal (fread (workers, sizeof *workers, PT_PROC_THREADS, in), PT_PROC_THREADS);
        fclose (in);
        s_tally (&tally, workers, PT_PROC_THREADS);
    }
    free (workers);
    s_check (server.port, customer, &tally);
    free (tally.order_nos);
    assert_int_equal (tk_server_stop (&server), 0);
}


//  Runs the tests; non-zero when one failed.
int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_race_four_actors),
        cmocka_unit_test (test_race_one_actor),
        cmocka_unit_test (test_race_processes),
        cmocka_unit_test (test_race_two_instances),
        cmocka_unit_test (test_customer_ids_unique),
    };
    return cmocka_run_group_tests_name ("e2e_points", tests, NULL, NULL);
}
