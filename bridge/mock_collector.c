/*  mock_collector — `coffee mock-collector`: a real HTTP receiver standing in
    for the data collection platform in tests and demos (libmicrohttpd, one
    thread per connection so a delayed answer delays only its own client).

      POST /collect   the event JSON (any POST path but /control is taken as
                      /collect). Must be JSON with a string orderNo (else
                      400). A known orderNo answers 200 {"duplicate":true} and
                      is not recorded again; a new one is recorded (memory,
                      and one line in --record FILE) and answers 200
                      {"received":true}. While failing (--fail-first N, then
                      --fail-rate R) it answers 503 and records nothing.
      GET /orders     {"count":N,"duplicates":D,"orders":[event, …]} in
                      arrival order
      POST /control   {"failRate":R,"delayMs":D,"failFirst":N} (each
                      optional) changes the behaviour at run time
    Every answer is delayed by delayMs. SIGTERM or SIGINT stops it, exit 0.
    With --tls-cert and --tls-key it serves HTTPS (libmicrohttpd's TLS);
    with --token-file a POST /collect without "Authorization: Bearer
    <the file's first line>" answers 401 and records nothing (counted as
    "unauthorized" in GET /orders).

    The state is shared by the connection threads under one mutex: this is a
    test tool, not part of the server, and the lock is held only briefly. */
#include "bridge.h"
#include <microhttpd.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <arpa/inet.h>

#define MOCK_BODY_MAX    (1024 * 1024)  //  largest request body accepted
#define MOCK_DELAY_MAX   60000          //  largest delayMs accepted

typedef struct {
    pthread_mutex_t lock;       //  guards everything below
    double fail_rate;           //  probability of a 503
    int64_t delay_ms;           //  delay of every answer
    int64_t fail_first;         //  the next N POSTs fail
    unsigned int seed;          //  rand_r state for fail_rate
    zhashx_t *seen;             //  orderNo → (void *) 1
    cJSON *orders;              //  array of recorded events
    int64_t duplicates;         //  duplicate POSTs dropped
    FILE *record;               //  --record file or NULL
    char *token;                //  --token-file's token, or NULL (no check)
    int64_t unauthorized;       //  POSTs refused for a missing or wrong token
} mock_t;

//  Request body being received, per connection request.
typedef struct {
    char *data;                 //  bytes so far (NUL-terminated)
    size_t len;                 //  bytes in data
    bool too_big;               //  passed MOCK_BODY_MAX
} mock_body_t;

//  Queues a JSON answer with status.
static enum MHD_Result
s_answer (struct MHD_Connection *con, unsigned int status, const char *json)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer (
        strlen (json), (void *) json, MHD_RESPMEM_MUST_COPY);
    if (!resp)
        return MHD_NO;
    MHD_add_response_header (resp, "Content-Type", "application/json");
    enum MHD_Result rc = MHD_queue_response (con, status, resp);
    MHD_destroy_response (resp);
    return rc;
}

//  Queues json (which it frees) as the answer with status.
static enum MHD_Result
s_answer_json (struct MHD_Connection *con, unsigned int status, cJSON *json)
{
    char *text = cJSON_PrintUnformatted (json);
    cJSON_Delete (json);
    enum MHD_Result rc = text ? s_answer (con, status, text) : MHD_NO;
    free (text);
    return rc;
}

//  Queues {"code","message"} with status.
static enum MHD_Result
s_error (struct MHD_Connection *con, unsigned int status, const char *code, const char *message)
{
    cJSON *json = cJSON_CreateObject ();
    cJSON_AddStringToObject (json, "code", code);
    cJSON_AddStringToObject (json, "message", message);
    return s_answer_json (con, status, json);
}

//  POST /collect: records a new order or counts a duplicate.
static enum MHD_Result
s_collect (mock_t *self, struct MHD_Connection *con, const mock_body_t *body)
{
    if (self->token) {
        const char *auth = MHD_lookup_connection_value (con, MHD_HEADER_KIND,
                                                        MHD_HTTP_HEADER_AUTHORIZATION);
        bool ok = auth && strncmp (auth, "Bearer ", 7) == 0 && streq (auth + 7, self->token);
        if (!ok) {
            pthread_mutex_lock (&self->lock);
            self->unauthorized++;
            pthread_mutex_unlock (&self->lock);
            return s_error (con, MHD_HTTP_UNAUTHORIZED, "UNAUTHORIZED",
                            "send Authorization: Bearer <token>");
        }
    }
    pthread_mutex_lock (&self->lock);
    bool fail = false;
    if (self->fail_first > 0) {
        self->fail_first--;
        fail = true;
    }
    else
    if (self->fail_rate > 0)
        fail = (double) rand_r (&self->seed) / ((double) RAND_MAX + 1.0) < self->fail_rate;
    pthread_mutex_unlock (&self->lock);
    if (fail)
        return s_error (con, MHD_HTTP_SERVICE_UNAVAILABLE, "UNAVAILABLE",
                        "the collector is failing on purpose");

    cJSON *json = body->data ? cJSON_ParseWithLength (body->data, body->len) : NULL;
    const cJSON *order_no = cJSON_GetObjectItemCaseSensitive (json, "orderNo");
    if (!cJSON_IsObject (json) || !cJSON_IsString (order_no) || !*order_no->valuestring) {
        cJSON_Delete (json);
        return s_error (con, MHD_HTTP_BAD_REQUEST, "INVALID_INPUT",
                        "the body must be a JSON object with a string orderNo");
    }
    pthread_mutex_lock (&self->lock);
    bool duplicate = zhashx_lookup (self->seen, order_no->valuestring) != NULL;
    if (duplicate)
        self->duplicates++;
    else {
        zhashx_insert (self->seen, order_no->valuestring, (void *) 1);
        if (self->record) {
            char *line = cJSON_PrintUnformatted (json);
            if (line) {
                fprintf (self->record, "%s\n", line);
                fflush (self->record);
                free (line);
            }
        }
        cJSON_AddItemToArray (self->orders, json);
        json = NULL;
    }
    pthread_mutex_unlock (&self->lock);
    cJSON_Delete (json);
    return s_answer (con, MHD_HTTP_OK, duplicate ? "{\"duplicate\":true}"
                                                 : "{\"received\":true}");
}

//  GET /orders: what was recorded.
static enum MHD_Result
s_orders (mock_t *self, struct MHD_Connection *con)
{
    pthread_mutex_lock (&self->lock);
    cJSON *json = cJSON_CreateObject ();
    cJSON_AddNumberToObject (json, "count", cJSON_GetArraySize (self->orders));
    cJSON_AddNumberToObject (json, "duplicates", (double) self->duplicates);
    cJSON_AddNumberToObject (json, "unauthorized", (double) self->unauthorized);
    cJSON_AddItemToObject (json, "orders", cJSON_Duplicate (self->orders, true));
    pthread_mutex_unlock (&self->lock);
    return s_answer_json (con, MHD_HTTP_OK, json);
}

//  POST /control: changes failRate, delayMs, failFirst.
static enum MHD_Result
s_control (mock_t *self, struct MHD_Connection *con, const mock_body_t *body)
{
    cJSON *json = body->data ? cJSON_ParseWithLength (body->data, body->len) : NULL;
    if (!cJSON_IsObject (json)) {
        cJSON_Delete (json);
        return s_error (con, MHD_HTTP_BAD_REQUEST, "INVALID_INPUT", "the body must be a JSON object");
    }
    const cJSON *rate = cJSON_GetObjectItemCaseSensitive (json, "failRate");
    const cJSON *delay = cJSON_GetObjectItemCaseSensitive (json, "delayMs");
    const cJSON *first = cJSON_GetObjectItemCaseSensitive (json, "failFirst");
    int64_t delay_ms = 0, fail_first = 0;
    bool bad = (rate && (!cJSON_IsNumber (rate) || !(rate->valuedouble >= 0 && rate->valuedouble <= 1)))
            || (delay && (util_json_int64 (delay, &delay_ms) != 0 || delay_ms < 0
                          || delay_ms > MOCK_DELAY_MAX))
            || (first && (util_json_int64 (first, &fail_first) != 0 || fail_first < 0));
    if (bad) {
        cJSON_Delete (json);
        return s_error (con, MHD_HTTP_BAD_REQUEST, "INVALID_INPUT",
                        "failRate must be 0..1, delayMs 0..60000, failFirst >= 0");
    }
    pthread_mutex_lock (&self->lock);
    if (rate)
        self->fail_rate = rate->valuedouble;
    if (delay)
        self->delay_ms = delay_ms;
    if (first)
        self->fail_first = fail_first;
    char text [160];
    snprintf (text, sizeof text, "{\"failRate\":%g,\"delayMs\":%" PRId64 ",\"failFirst\":%" PRId64 "}",
              self->fail_rate, self->delay_ms, self->fail_first);
    pthread_mutex_unlock (&self->lock);
    cJSON_Delete (json);
    return s_answer (con, MHD_HTTP_OK, text);
}

//  libmicrohttpd's request handler: gathers the body, then answers.
static enum MHD_Result
s_handler (void *cls, struct MHD_Connection *con, const char *url, const char *method,
           const char *version, const char *upload_data, size_t *upload_data_size,
           void **req_cls)
{
    mock_t *self = (mock_t *) cls;
    mock_body_t *body = (mock_body_t *) *req_cls;
    if (!body) {
        body = (mock_body_t *) calloc (1, sizeof (mock_body_t));
        if (!body)
            return MHD_NO;
        *req_cls = body;
        return MHD_YES;
    }
    if (*upload_data_size) {
        if (!body->too_big && body->len + *upload_data_size <= MOCK_BODY_MAX) {
            char *grown = (char *) realloc (body->data, body->len + *upload_data_size + 1);
            if (!grown)
                return MHD_NO;
            body->data = grown;
            memcpy (body->data + body->len, upload_data, *upload_data_size);
            body->len += *upload_data_size;
            body->data [body->len] = 0;
        }
        else
            body->too_big = true;
        *upload_data_size = 0;
        return MHD_YES;
    }
    pthread_mutex_lock (&self->lock);
    int64_t delay_ms = self->delay_ms;
    pthread_mutex_unlock (&self->lock);
    if (delay_ms > 0)
        zclock_sleep ((int) delay_ms);

    if (body->too_big)
        return s_error (con, MHD_HTTP_CONTENT_TOO_LARGE, "TOO_LARGE", "the body is too large");
    if (streq (method, "GET") && streq (url, "/orders"))
        return s_orders (self, con);
    if (streq (method, "POST") && streq (url, "/control"))
        return s_control (self, con, body);
    if (streq (method, "POST"))
        return s_collect (self, con, body);
    if (streq (url, "/orders") || streq (url, "/control"))
        return s_error (con, MHD_HTTP_METHOD_NOT_ALLOWED, "METHOD_NOT_ALLOWED",
                        "use GET /orders or POST /control");
    return s_error (con, MHD_HTTP_NOT_FOUND, "NOT_FOUND", "POST /collect, GET /orders, POST /control");
}

//  Frees the body of a finished request.
static void
s_completed (void *cls, struct MHD_Connection *con, void **req_cls,
             enum MHD_RequestTerminationCode toe)
{
    mock_body_t *body = (mock_body_t *) *req_cls;
    if (body) {
        free (body->data);
        free (body);
        *req_cls = NULL;
    }
}

//  Prints the usage line.
static void
s_usage (FILE *out)
{
    fprintf (out, "usage: coffee mock-collector --port P [--bind 127.0.0.1] [--fail-rate 0..1]\n"
                  "       [--delay-ms D] [--fail-first N] [--record FILE]\n"
                  "       [--tls-cert PEM --tls-key PEM] [--token-file FILE]\n"
                  "POST /collect with an order event; GET /orders; POST /control "
                  "{\"failRate\",\"delayMs\",\"failFirst\"}\n");
}

//  The whole of a file as a string (caller frees), or NULL with a message.
static char *
s_slurp (const char *path, const char *what)
{
    FILE *file = fopen (path, "r");
    char *text = NULL;
    if (file) {
        text = (char *) calloc (1, 65536);
        size_t n = text? fread (text, 1, 65535, file): 0;
        if (text)
            text [n] = '\0';
        fclose (file);
    }
    if (!text || !*text) {
        fprintf (stderr, "mock-collector: %s %s: %s\n", what, path,
                 file? "empty": strerror (errno));
        free (text);
        return NULL;
    }
    return text;
}

//  Parses a whole number in [min, max]; 0 or -1.
static int
s_parse_int (const char *text, int64_t min, int64_t max, int64_t *out)
{
    char *end = NULL;
    errno = 0;
    long long value = strtoll (text, &end, 10);
    if (errno || end == text || *end || value < min || value > max)
        return -1;
    *out = value;
    return 0;
}

//  `coffee mock-collector …`: see the top of this file.
int
bridge_mock_collector_main (int argc, char **argv)
{
    static const struct option options [] = {
        { "port", required_argument, NULL, 'p' },
        { "bind", required_argument, NULL, 'b' },
        { "fail-rate", required_argument, NULL, 'r' },
        { "delay-ms", required_argument, NULL, 'd' },
        { "fail-first", required_argument, NULL, 'f' },
        { "record", required_argument, NULL, 'o' },
        { "tls-cert", required_argument, NULL, 'c' },
        { "tls-key", required_argument, NULL, 'k' },
        { "token-file", required_argument, NULL, 't' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 }
    };
    int64_t port = 0, delay_ms = 0, fail_first = 0;
    double fail_rate = 0;
    const char *bind_addr = "127.0.0.1";
    const char *record = NULL;
    const char *tls_cert = NULL, *tls_key = NULL, *token_file = NULL;
    optind = 0;                 //  GNU getopt: restart scanning
    int opt;
    while ((opt = getopt_long (argc, argv, "", options, NULL)) != -1) {
        char *end = NULL;
        switch (opt) {
            case 'p':
                if (s_parse_int (optarg, 1, 65535, &port)) goto usage;
                break;
            case 'b':
                bind_addr = optarg;
                break;
            case 'r':
                fail_rate = strtod (optarg, &end);
                if (end == optarg || *end || !(fail_rate >= 0 && fail_rate <= 1)) goto usage;
                break;
            case 'd':
                if (s_parse_int (optarg, 0, MOCK_DELAY_MAX, &delay_ms)) goto usage;
                break;
            case 'f':
                if (s_parse_int (optarg, 0, INT64_MAX, &fail_first)) goto usage;
                break;
            case 'o':
                record = optarg;
                break;
            case 'c':
                tls_cert = optarg;
                break;
            case 'k':
                tls_key = optarg;
                break;
            case 't':
                token_file = optarg;
                break;
            case 'h':
                s_usage (stdout);
                return 0;
            default:
                goto usage;
        }
    }
    if (port == 0 || optind < argc || !tls_cert != !tls_key)
        goto usage;

    struct sockaddr_in addr;
    memset (&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons ((uint16_t) port);
    if (inet_pton (AF_INET, bind_addr, &addr.sin_addr) != 1) {
        fprintf (stderr, "mock-collector: --bind must be an IPv4 address\n");
        return 2;
    }
    mock_t self;
    memset (&self, 0, sizeof self);
    char *cert = NULL, *key = NULL;     //  --tls-cert and --tls-key, PEM text
    pthread_mutex_init (&self.lock, NULL);
    self.fail_rate = fail_rate;
    self.delay_ms = delay_ms;
    self.fail_first = fail_first;
    self.seed = (unsigned int) (zclock_usecs () ^ getpid ());
    self.seen = zhashx_new ();
    self.orders = cJSON_CreateArray ();
    int rc = 1;
    struct MHD_Daemon *daemon = NULL;
    if (record && !(self.record = fopen (record, "a"))) {
        fprintf (stderr, "mock-collector: cannot open %s: %s\n", record, strerror (errno));
        goto done;
    }
    if (tls_cert && (!(cert = s_slurp (tls_cert, "--tls-cert"))
                 ||  !(key = s_slurp (tls_key, "--tls-key"))))
        goto done;
    if (token_file) {
        self.token = s_slurp (token_file, "--token-file");
        if (!self.token)
            goto done;
        self.token [strcspn (self.token, "\r\n")] = '\0';
    }
    //  Signals are taken by sigtimedwait below; block them before any
    //  thread starts so every thread inherits the mask
    sigset_t signals;
    sigemptyset (&signals);
    sigaddset (&signals, SIGTERM);
    sigaddset (&signals, SIGINT);
    pthread_sigmask (SIG_BLOCK, &signals, NULL);
    unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION
                       | MHD_USE_ERROR_LOG | (cert? MHD_USE_TLS: 0);
    //  Without TLS the two HTTPS options are left out: MHD_OPTION_END
    //  stands in for the first one and ends the list.
    daemon = MHD_start_daemon (flags, 0, NULL, NULL, s_handler, &self,
                               MHD_OPTION_SOCK_ADDR, (struct sockaddr *) &addr,
                               MHD_OPTION_NOTIFY_COMPLETED, s_completed, NULL,
                               MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int) 30,
                               cert? MHD_OPTION_HTTPS_MEM_CERT: MHD_OPTION_END, cert,
                               MHD_OPTION_HTTPS_MEM_KEY, key,
                               MHD_OPTION_END);
    if (!daemon) {
        fprintf (stderr, "mock-collector: cannot listen on %s:%d\n", bind_addr, (int) port);
        goto done;
    }
    fprintf (stderr, "mock-collector: listening on %s://%s:%d/collect\n", cert? "https": "http",
             bind_addr, (int) port);
    while (true) {
        struct timespec tick = { 1, 0 };
        int sig = sigtimedwait (&signals, NULL, &tick);
        if (sig == SIGTERM || sig == SIGINT)
            break;
    }
    fprintf (stderr, "mock-collector: stopping (%d orders, %" PRId64 " duplicates)\n",
             cJSON_GetArraySize (self.orders), self.duplicates);
    rc = 0;
done:
    if (daemon)
        MHD_stop_daemon (daemon);
    if (self.record)
        fclose (self.record);
    free (cert);
    free (key);
    free (self.token);
    zhashx_destroy (&self.seen);
    cJSON_Delete (self.orders);
    pthread_mutex_destroy (&self.lock);
    return rc;
usage:
    s_usage (stderr);
    return 2;
}
