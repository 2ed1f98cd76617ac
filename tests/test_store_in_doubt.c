/*  test_store_in_doubt — a group COMMIT whose answer is lost (MariaDB).

    The store talks to the test's MariaDB through a TCP relay of this test
    that knows just enough of the MySQL protocol to see a COM_QUERY
    "COMMIT" go by. Armed, it breaks the connection at that moment:

      after    the COMMIT reaches the server, which commits; its answer
               never comes back. store_group_commit must find the group's
               mark on a new connection and say STORE_OK: the operations
               did happen, and answering them 503 would be a lie. Orders
               placed together answer with the numbers their rows hold.
      before   the COMMIT never reaches the server, which rolls the
               transaction back when the connection drops. STORE_FAILED,
               and nothing of the group is there.
      away     as after, and then the relay refuses every connection for
               longer than STORE_IN_DOUBT_MS: nobody can say, so
               STORE_IN_DOUBT (the actor answers nothing); once the server
               is reachable again the group is there.

    Needs COFFEE_TEST_STORE_URL=mysql://… (scripts/mariadb.sh env prints it);
    without it the tests skip.

    ctest bound: COFFEE_TEST_TIMEOUT 180 s. */
#include "testkit.h"
#include <cmocka.h>
#include "coffee.h"
#include "store.h"
#include "db.h"
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/socket.h>

#define RELAY_BUF       16384
#define COMMIT_WAIT_MS  300         //  "after": time the server gets to commit
#define AWAY_MS         (STORE_IN_DOUBT_MS + 3000)

typedef enum { ARM_NONE = 0, ARM_AFTER, ARM_BEFORE, ARM_AWAY } arm_t;

//  The relay: a listening socket and where it relays to.
typedef struct {
    int listen_fd;                  //  127.0.0.1:port
    int port;                       //  its port
    int server_port;                //  MariaDB's port on 127.0.0.1
    atomic_int arm;                 //  what the next COMMIT does (arm_t)
    atomic_int fired;               //  COMMITs broken so far
    atomic_llong refuse_until;      //  ms (tk_now_ms): connections refused until then
    atomic_bool stop;               //  the accept thread ends
    pthread_t thread;               //  accept thread
} relay_t;

//  One relayed connection.
typedef struct {
    relay_t *relay;                 //  its relay
    int client;                     //  the store's side
    int server;                     //  MariaDB's side
} pair_t;

//  Where the client-to-server packet parser is.
typedef struct {
    unsigned char head [4];         //  header bytes gathered
    size_t head_have;               //  of 4
    size_t left;                    //  payload bytes still to come
    unsigned char start [8];        //  first payload bytes of this packet
    size_t start_have;              //  of 8
    unsigned char tail [8];         //  its last payload bytes so far
} parser_t;

//  Writes all of buf; 0 or -1.
static int
s_write_all (int fd, const unsigned char *buf, size_t len)
{
    while (len > 0) {
        ssize_t rc = send (fd, buf, len, MSG_NOSIGNAL);
        if (rc <= 0)
            return -1;
        buf += rc;
        len -= (size_t) rc;
    }
    return 0;
}

//  Feeds client bytes to the parser. When a COM_QUERY "COMMIT" packet, or
//  one whose statements end with it (the group's mark goes in the same
//  text), completes in buf, returns the offset just past it and sets *packet_at to
//  where in buf its header began (0 if in an earlier read); else 0.
static size_t
s_find_commit (parser_t *p, const unsigned char *buf, size_t len, size_t *packet_at)
{
    for (size_t i = 0; i < len; i++) {
        if (p->left == 0 && p->head_have < 4) {
            if (p->head_have == 0)
                *packet_at = i;
            p->head [p->head_have++] = buf [i];
            if (p->head_have == 4) {
                p->left = (size_t) p->head [0] | (size_t) p->head [1] << 8
                        | (size_t) p->head [2] << 16;
                p->start_have = 0;
                if (p->left == 0)
                    p->head_have = 0;
            }
            continue;
        }
        if (p->start_have < sizeof p->start)
            p->start [p->start_have++] = buf [i];
        memmove (p->tail, p->tail + 1, sizeof p->tail - 1);
        p->tail [sizeof p->tail - 1] = buf [i];
        if (--p->left == 0) {
            size_t size = (size_t) p->head [0] | (size_t) p->head [1] << 8
                        | (size_t) p->head [2] << 16;
            p->head_have = 0;
            if (size == 7 && memcmp (p->start, "\x03" "COMMIT", 7) == 0)
                return i + 1;
            if (size > 8 && p->start [0] == 0x03 && memcmp (p->tail + 1, ";COMMIT", 7) == 0)
                return i + 1;
        }
    }
    return 0;
}

//  Relays one connection until either side closes, breaking it at an
//  armed COMMIT.
static void *
s_pair_run (void *arg)
{
    pair_t *pair = (pair_t *) arg;
    relay_t *relay = pair->relay;
    parser_t parser;
    memset (&parser, 0, sizeof parser);
    unsigned char buf [RELAY_BUF];
    struct pollfd fds [2] = { { pair->client, POLLIN, 0 }, { pair->server, POLLIN, 0 } };
    while (!atomic_load (&relay->stop)) {
        if (poll (fds, 2, 200) < 0)
            break;
        if (fds [1].revents) {
            ssize_t n = recv (pair->server, buf, sizeof buf, 0);
            if (n <= 0 || s_write_all (pair->client, buf, (size_t) n))
                break;
        }
        if (fds [0].revents) {
            ssize_t n = recv (pair->client, buf, sizeof buf, 0);
            if (n <= 0)
                break;
            size_t packet_at = 0;
            size_t end = s_find_commit (&parser, buf, (size_t) n, &packet_at);
            int arm = end ? atomic_load (&relay->arm) : ARM_NONE;
            if (arm == ARM_NONE) {
                if (s_write_all (pair->server, buf, (size_t) n))
                    break;
                continue;
            }
            atomic_store (&relay->arm, ARM_NONE);
            if (arm == ARM_BEFORE) {
                s_write_all (pair->server, buf, packet_at);
                atomic_fetch_add (&relay->fired, 1);
                break;              //  the COMMIT never reaches the server
            }
            if (arm == ARM_AWAY)
                atomic_store (&relay->refuse_until, tk_now_ms () + AWAY_MS);
            s_write_all (pair->server, buf, end);
            zclock_sleep (COMMIT_WAIT_MS);
            atomic_fetch_add (&relay->fired, 1);
            break;                  //  its answer never reaches the store
        }
    }
    close (pair->client);
    close (pair->server);
    free (pair);
    return NULL;
}

//  Accepts connections and starts a relay thread for each; refuses them
//  (closes at once) while refuse_until is ahead.
static void *
s_relay_run (void *arg)
{
    relay_t *relay = (relay_t *) arg;
    while (!atomic_load (&relay->stop)) {
        struct pollfd pfd = { relay->listen_fd, POLLIN, 0 };
        if (poll (&pfd, 1, 100) <= 0)
            continue;
        int client = accept (relay->listen_fd, NULL, NULL);
        if (client < 0)
            continue;
        if (tk_now_ms () < atomic_load (&relay->refuse_until)) {
            close (client);
            continue;
        }
        int server = socket (AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in sin = { .sin_family = AF_INET,
                                   .sin_port = htons ((uint16_t) relay->server_port),
                                   .sin_addr = { .s_addr = htonl (INADDR_LOOPBACK) } };
        if (server < 0 || connect (server, (struct sockaddr *) &sin, sizeof sin)) {
            close (client);
            if (server >= 0)
                close (server);
            continue;
        }
        pair_t *pair = (pair_t *) calloc (1, sizeof (pair_t));
        *pair = (pair_t) { relay, client, server };
        pthread_t thread;
        if (pthread_create (&thread, NULL, s_pair_run, pair) == 0)
            pthread_detach (thread);
        else {
            close (client);
            close (server);
            free (pair);
        }
    }
    return NULL;
}

//  What the tests share.
typedef struct {
    relay_t relay;                  //  the relay
    char relayed_url [512];         //  the test URL with the relay's port
    store_t *store;                 //  through the relay
    db_t *direct;                   //  straight to MariaDB, for checks
    char customer [COFFEE_ID_MAX];  //  a customer of this run
} fixture_t;

static int
s_setup (void **state)
{
    const char *url = getenv ("COFFEE_TEST_STORE_URL");
    if (!url || !*url) {
        *state = NULL;
        return 0;
    }
    fixture_t *fx = (fixture_t *) calloc (1, sizeof (fixture_t));
    char user [64], pass [128], host [64], db [64];
    int port = 0;
    if (sscanf (url, "mysql://%63[^:]:%127[^@]@%63[^:]:%d/%63s", user, pass, host, &port, db)
        != 5)
        return -1;
    fx->relay.server_port = port;
    fx->relay.listen_fd = socket (AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = 0,
                               .sin_addr = { .s_addr = htonl (INADDR_LOOPBACK) } };
    socklen_t len = sizeof sin;
    if (bind (fx->relay.listen_fd, (struct sockaddr *) &sin, sizeof sin)
    ||  listen (fx->relay.listen_fd, 16)
    ||  getsockname (fx->relay.listen_fd, (struct sockaddr *) &sin, &len))
        return -1;
    fx->relay.port = ntohs (sin.sin_port);
    if (pthread_create (&fx->relay.thread, NULL, s_relay_run, &fx->relay))
        return -1;
    snprintf (fx->relayed_url, sizeof fx->relayed_url, "mysql://%s:%s@127.0.0.1:%d/%s", user,
              pass, fx->relay.port, db);
    char err [512] = "";
    fx->store = store_open (fx->relayed_url, err, sizeof err);
    fx->direct = db_open (url, err, sizeof err);
    if (!fx->store || !fx->direct) {
        fprintf (stderr, "open: %s\n", err);
        return -1;
    }
    store_reply_t reply = { 0 };
    int64_t now = util_now_ms (0);
    if (store_customer_create (fx->store, "in doubt", NULL, now, &reply) || reply.status != 200)
        return -1;
    cJSON *json = cJSON_Parse (reply.body);
    const cJSON *id = cJSON_GetObjectItem (json, "customerId");
    snprintf (fx->customer, sizeof fx->customer, "%s", cJSON_IsString (id) ? id->valuestring : "");
    cJSON_Delete (json);
    store_reply_reset (&reply);
    *state = fx;
    return 0;
}

static int
s_teardown (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    if (!fx)
        return 0;
    store_destroy (&fx->store);
    db_destroy (&fx->direct);
    atomic_store (&fx->relay.stop, true);
    pthread_join (fx->relay.thread, NULL);
    close (fx->relay.listen_fd);
    zclock_sleep (300);             //  pair threads see stop and end
    free (fx);
    return 0;
}

//  The customer's balance read straight from MariaDB.
static int64_t
s_balance (fixture_t *fx)
{
    db_stmt_t *st = db_stmt (fx->direct, "SELECT balance FROM point WHERE customer_id = ?");
    assert_non_null (st);
    assert_int_equal (db_bind_text (st, 1, fx->customer), DB_OK);
    int rc = db_step (st);
    int64_t balance = rc == DB_ROW ? db_column_int64 (st, 0) : -1;
    db_reset (st);
    return balance;
}

//  Charges amount in a group and returns what store_group_commit said.
static int
s_group_charge (fixture_t *fx, int64_t amount)
{
    assert_int_equal (store_group_begin (fx->store, 0), STORE_OK);
    store_reply_t reply = { 0 };
    assert_int_equal (store_charge (fx->store, fx->customer, amount, NULL, NULL,
                                    util_now_ms (0), &reply), 0);
    assert_int_equal (reply.status, 200);
    store_reply_reset (&reply);
    return store_group_commit (fx->store);
}

#define NEED_MYSQL() do { \
    if (!*state) { \
        print_message ("COFFEE_TEST_STORE_URL is not set: skipping\n"); \
        skip (); \
    } \
} while (0)

//  The COMMIT reached the server, its answer did not: STORE_OK, and the
//  charge is there.
static void
test_answer_lost_after_commit (void **state)
{
    NEED_MYSQL ();
    fixture_t *fx = (fixture_t *) *state;
    int64_t before = s_balance (fx);
    assert_int_equal (s_group_charge (fx, 100), STORE_OK);
    assert_int_equal (s_balance (fx), before + 100);
    atomic_store (&fx->relay.arm, ARM_AFTER);
    assert_int_equal (s_group_charge (fx, 250), STORE_OK);
    assert_int_equal (atomic_load (&fx->relay.fired), 1);
    assert_int_equal (s_balance (fx), before + 350);
    //  The store goes on, on its new connection.
    assert_int_equal (s_group_charge (fx, 1), STORE_OK);
    assert_int_equal (s_balance (fx), before + 351);
}

//  Orders placed together (store_orders_create) whose COMMIT's answer is
//  lost: STORE_OK, their points taken once, and each order answers 200
//  with the number its row holds, in the order given.
static void
test_batch_answered_after_lost_commit (void **state)
{
    NEED_MYSQL ();
    fixture_t *fx = (fixture_t *) *state;
    enum { ORDERS = 3, PRICE = 4200 };      //  MENU-00000001, seeded
    assert_int_equal (s_group_charge (fx, ORDERS * PRICE), STORE_OK);
    int64_t before = s_balance (fx);
    event_line_t line;
    memset (&line, 0, sizeof line);
    snprintf (line.menu_id, sizeof line.menu_id, "MENU-00000001");
    line.qy = 1;
    store_reply_t replies [ORDERS];
    store_order_req_t reqs [ORDERS];
    memset (replies, 0, sizeof replies);
    for (int i = 0; i < ORDERS; i++)
        reqs [i] = (store_order_req_t) { fx->customer, NULL, &line, 1, NULL, &replies [i], 99 };
    atomic_store (&fx->relay.arm, ARM_AFTER);
    assert_int_equal (store_group_begin (fx->store, 0), STORE_OK);
    store_orders_create (fx->store, reqs, ORDERS, util_now_ms (0));
    assert_int_equal (store_group_commit (fx->store), STORE_OK);
    assert_int_equal (atomic_load (&fx->relay.fired), 1);
    assert_int_equal (s_balance (fx), before - ORDERS * PRICE);

    db_stmt_t *st = db_stmt (fx->direct,
                             "SELECT order_no FROM orders WHERE customer_id = ? ORDER BY id");
    assert_non_null (st);
    assert_int_equal (db_bind_text (st, 1, fx->customer), DB_OK);
    for (int i = 0; i < ORDERS; i++) {
        assert_int_equal (db_step (st), DB_ROW);
        char want [128];
        snprintf (want, sizeof want, "{\"orderNo\":\"%s\",\"orderPrice\":%d,\"usePoint\":%d}",
                  db_column_text (st, 0), PRICE, PRICE);
        assert_int_equal (reqs [i].rc, 0);
        assert_int_equal (replies [i].status, 200);
        assert_string_equal (replies [i].body, want);
        store_reply_reset (&replies [i]);
    }
    assert_int_equal (db_step (st), DB_DONE);
    db_reset (st);
}

//  The COMMIT never reached the server: STORE_FAILED, nothing there.
static void
test_commit_lost_before_server (void **state)
{
    NEED_MYSQL ();
    fixture_t *fx = (fixture_t *) *state;
    int64_t before = s_balance (fx);
    atomic_store (&fx->relay.arm, ARM_BEFORE);
    assert_int_equal (s_group_charge (fx, 500), STORE_FAILED);
    assert_int_equal (atomic_load (&fx->relay.fired), 1);
    assert_int_equal (s_balance (fx), before);
    assert_int_equal (s_group_charge (fx, 2), STORE_OK);
    assert_int_equal (s_balance (fx), before + 2);
}

//  The answer is lost and the server stays out of reach past
//  STORE_IN_DOUBT_MS: STORE_IN_DOUBT, in bounded time; the charge turns
//  out to be there.
static void
test_in_doubt_when_server_away (void **state)
{
    NEED_MYSQL ();
    fixture_t *fx = (fixture_t *) *state;
    int64_t before = s_balance (fx);
    atomic_store (&fx->relay.arm, ARM_AWAY);
    int64_t start = tk_now_ms ();
    assert_int_equal (s_group_charge (fx, 700), STORE_IN_DOUBT);
    int64_t took = tk_now_ms () - start;
    assert_true (took >= STORE_IN_DOUBT_MS && took < STORE_IN_DOUBT_MS + 5000);
    assert_int_equal (s_balance (fx), before + 700);
    //  Once the relay lets connections through again, the store serves.
    while (tk_now_ms () < atomic_load (&fx->relay.refuse_until))
        zclock_sleep (100);
    assert_int_equal (s_group_charge (fx, 3), STORE_OK);
    assert_int_equal (s_balance (fx), before + 703);
}

int
main (void)
{
    log_set_level (LOG_LEVEL_ERROR);
    const struct CMUnitTest tests [] = {
        cmocka_unit_test_setup_teardown (test_answer_lost_after_commit, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_batch_answered_after_lost_commit, s_setup,
                                         s_teardown),
        cmocka_unit_test_setup_teardown (test_commit_lost_before_server, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_in_doubt_when_server_away, s_setup, s_teardown),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
