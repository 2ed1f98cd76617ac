/*  config — the option table: one row per setting, giving its flag, its
    environment variable, its default and its help. Parsing, defaults and
    `coffee --help` all read this table. */
#include "coffee.h"
#include <getopt.h>
#include <limits.h>
#include <unistd.h>

//  OPT_LIST: a repeatable flag; each value is one line of the field. Its
//  variable holds the whole list, comma-separated, or newline-separated
//  when a value needs a comma; flags, when given, replace that list.
typedef enum { OPT_INT, OPT_I64, OPT_SIZE, OPT_STRING, OPT_CHOICE, OPT_LIST } s_kind_t;

typedef struct {
    const char *flag;           //  long option name
    const char *env;            //  environment variable
    s_kind_t kind;              //  how the value is parsed
    size_t offset;              //  field in config_t
    size_t size;                //  field size (strings)
    int64_t min, max;           //  range (numbers)
    const char *choices;        //  "a|b|c" (OPT_CHOICE)
    const char *fallback;       //  default as text ("" = none / derived)
    const char *help;           //  one line for --help
} s_option_t;

#define FIELD(f) offsetof (config_t, f), sizeof (((config_t *) 0)->f)

#define S_HTTP_THREADS_MAX METRICS_HTTP_WORKERS    //  --http-threads, given or one per online CPU

static const s_option_t s_options [] = {
    { "bind", "COFFEE_BIND", OPT_STRING, FIELD (bind), 0, 0, NULL, "0.0.0.0",
      "address to listen on" },
    { "port", "COFFEE_PORT", OPT_INT, FIELD (port), 1, 65535, NULL, "8080",
      "HTTP port" },
    { "data-dir", "COFFEE_DATA_DIR", OPT_STRING, FIELD (data_dir), 0, 0, NULL, "./var",
      "folder for the SQLite stores, the local event log and the file collector" },
    { "role", "COFFEE_ROLE", OPT_CHOICE, FIELD (role), 0, 0, "all|order|display|projector", "all",
      "all: everything; order: customers, points, orders, menu admin, relay, collector; display: GET /display from the display store; projector: events into the display store (/health, /metrics)" },
    { "http-threads", "COFFEE_HTTP_THREADS", OPT_INT, FIELD (http_threads), 0, S_HTTP_THREADS_MAX,
      NULL, "0",
      "libmicrohttpd worker threads; 0: one per online CPU" },
    { "point-actors", "COFFEE_POINT_ACTORS", OPT_INT, FIELD (point_actors), 1, 64, NULL, "2",
      "point actor threads (customers, charges, balances)" },
    { "order-actors", "COFFEE_ORDER_ACTORS", OPT_INT, FIELD (order_actors), 0, 64, NULL, "0",
      "order actor threads; 0: 1 on an SQLite command store (it has one writer, so a second actor only waits for the first's lock), 2 on MySQL" },
    { "lane-requests", "COFFEE_LANE_REQUESTS", OPT_INT, FIELD (lane_requests), 0, 100000, NULL, "64",
      "requests at a pool per lane: a customer's requests go to one of the pool's first (requests at it / N) + 1 actors, by a hash of its id, so that groups stay large while fewer actors can take the load; 0: every actor is a lane" },
    { "display-actors", "COFFEE_DISPLAY_ACTORS", OPT_INT, FIELD (display_actors), 1, 64, NULL, "2",
      "display actor threads" },
    { "store", "COFFEE_STORE", OPT_STRING, FIELD (store), 0, 0, NULL, "",
      "command store: sqlite:PATH or mysql://USER:PASS@HOST:PORT/coffee (default sqlite:DATA_DIR/command.db)" },
    { "display-store", "COFFEE_DISPLAY_STORE", OPT_STRING, FIELD (display_store), 0, 0, NULL, "",
      "display store: sqlite:PATH or mysql://…/display (default sqlite:DATA_DIR/display.db)" },
    { "bridge", "COFFEE_BRIDGE", OPT_STRING, FIELD (bridge), 0, 0, "local|kafka|nats", "local",
      "event log backend: local (SQLite log in the data dir), kafka or nats (JetStream)" },
    { "kafka-brokers", "COFFEE_KAFKA_BROKERS", OPT_STRING, FIELD (kafka_brokers), 0, 0, NULL, "",
      "Kafka bootstrap servers HOST:PORT,… (required with --bridge kafka)" },
    { "kafka-topic", "COFFEE_KAFKA_TOPIC", OPT_STRING, FIELD (kafka_topic), 0, 0, NULL, "order-events",
      "topic of order events (nats: stream coffee-TOPIC, subjects coffee.TOPIC.>)" },
    { "nats-url", "COFFEE_NATS_URL", OPT_STRING, FIELD (nats_url), 0, 0, NULL, "nats://127.0.0.1:4222",
      "NATS server URL(s) nats://HOST:PORT[,…] for --bridge nats (JetStream enabled)" },
    { "collector-url", "COFFEE_COLLECTOR_URL", OPT_STRING, FIELD (collector_url), 0, 0, NULL, "",
      "data collection platform: http(s)://… (POST) or file:PATH (default file:DATA_DIR/collector.jsonl)" },
    { "collector-backoff-max-ms", "COFFEE_COLLECTOR_BACKOFF_MAX_MS", OPT_INT,
      FIELD (collector_backoff_max_ms), 100, 3600000, NULL, "10000",
      "cap of the collector's retry backoff" },
    { "request-timeout-ms", "COFFEE_REQUEST_TIMEOUT_MS", OPT_INT, FIELD (request_timeout_ms),
      10, 600000, NULL, "5000", "how long a request waits for its actor before 503" },
    { "max-body", "COFFEE_MAX_BODY", OPT_SIZE, FIELD (max_body), 64, 16 * 1024 * 1024, NULL,
      "65536", "largest request body accepted, in bytes (larger: 413)" },
    { "display-refresh-ms", "COFFEE_DISPLAY_REFRESH_MS", OPT_INT, FIELD (display_refresh_ms),
      10, 60000, NULL, "200", "how often display actors refresh their snapshot" },
    { "clock-skew-ms", "COFFEE_CLOCK_SKEW_MS", OPT_I64, FIELD (clock_skew_ms),
      -315360000000LL, 315360000000LL, NULL, "0",
      "shifts the server's clock (testing time windows)" },
    { "log-level", "COFFEE_LOG_LEVEL", OPT_CHOICE, FIELD (log_level), 0, 0,
      "debug|info|warn|error", "info", "lowest log level printed" },
    { "admin-token-file", "COFFEE_ADMIN_TOKEN_FILE", OPT_STRING, FIELD (admin_token_file), 0, 0,
      NULL, "", "file holding the admin token for /admin routes, /metrics and /console (none: admin routes answer 404)" },
    { "auth", "COFFEE_AUTH", OPT_CHOICE, FIELD (auth), 0, 0, "off|on", "on",
      "on: points and orders need the customer's bearer token (or the admin's); off: the original open API" },
    { "metrics-public", "COFFEE_METRICS_PUBLIC", OPT_CHOICE, FIELD (metrics_public), 0, 0,
      "off|on", "off", "on: GET /metrics needs no admin token (keep it off beyond a private network)" },
    { "max-conns-per-address", "COFFEE_MAX_CONNS_PER_ADDRESS", OPT_INT,
      FIELD (max_conns_per_address), -1, 100000, NULL, "-1",
      "connections one client address (IPv6: its /64) may hold; more are refused at accept (-1: a quarter of what the descriptor limit lets the server hold; 0: no limit)" },
    { "read-timeout-ms", "COFFEE_READ_TIMEOUT_MS", OPT_INT, FIELD (read_timeout_ms),
      100, 600000, NULL, "10000",
      "a request's line, headers and body must arrive within this, or the connection is closed" },
    { "rate-per-address", "COFFEE_RATE_PER_ADDRESS", OPT_INT, FIELD (rate_per_address),
      0, 1000000, NULL, "0", "requests per second one client address may send; past it 429 (0: off)" },
    { "rate-burst-per-address", "COFFEE_RATE_BURST_PER_ADDRESS", OPT_INT,
      FIELD (rate_burst_per_address), 0, 1000000, NULL, "0",
      "requests one address may send at once above its rate (0: twice --rate-per-address)" },
    { "rate-per-customer", "COFFEE_RATE_PER_CUSTOMER", OPT_INT, FIELD (rate_per_customer),
      0, 1000000, NULL, "0", "requests per second acting for one customer; past it 429 (0: off)" },
    { "rate-burst-per-customer", "COFFEE_RATE_BURST_PER_CUSTOMER", OPT_INT,
      FIELD (rate_burst_per_customer), 0, 1000000, NULL, "0",
      "requests for one customer at once above its rate (0: twice --rate-per-customer)" },
    //  transport: data in transit, retention, logs
    { "kafka-option", "COFFEE_KAFKA_OPTIONS", OPT_LIST, FIELD (kafka_options), 0, 0, NULL, "",
      "librdkafka setting for producer and consumers (repeatable; VALUE @/path: read from that file), e.g. security.protocol=SASL_SSL" },
    { "collector-ca-file", "COFFEE_COLLECTOR_CA_FILE", OPT_STRING, FIELD (collector_ca_file),
      0, 0, NULL, "", "CA certificates (PEM) that verify an https collector (default: the system's)" },
    { "collector-token-file", "COFFEE_COLLECTOR_TOKEN_FILE", OPT_STRING,
      FIELD (collector_token_file), 0, 0, NULL, "",
      "file whose first line the collector sends as Authorization: Bearer" },
    { "log-file", "COFFEE_LOG_FILE", OPT_STRING, FIELD (log_file), 0, 0, NULL, "",
      "append the log to this file, reopened on SIGHUP (default: stderr)" },
    { "outbox-retention", "COFFEE_OUTBOX_RETENTION", OPT_I64, FIELD (outbox_retention_s),
      0, 3650LL * 86400, NULL, "86400", "seconds a published outbox row is kept" },
    { "eventlog-retention", "COFFEE_EVENTLOG_RETENTION", OPT_I64, FIELD (eventlog_retention_s),
      0, 3650LL * 86400, NULL, "86400",
      "seconds a local event log row that every consumer group passed is kept" },
    { "idem-retention", "COFFEE_IDEM_RETENTION", OPT_I64, FIELD (idem_retention_s),
      60, 3650LL * 86400, NULL, "172800", "seconds a finished Idempotency-Key (and its answer) is kept" },
    { "prune-interval-ms", "COFFEE_PRUNE_INTERVAL_MS", OPT_INT, FIELD (prune_interval_ms),
      0, 86400000, NULL, "60000", "how often old rows are pruned, in bounded batches (0: never)" },
    { "charge-valid-days", "COFFEE_CHARGE_VALID_DAYS", OPT_INT, FIELD (charge_valid_days),
      0, 36500, NULL, "0", "charged points expire after this many of the shop's days (0: never)" },
    { "welcome-points", "COFFEE_WELCOME_POINTS", OPT_I64, FIELD (welcome_points),
      0, 1000000000, NULL, "0", "points a new customer gets as SAVE, \"첫 가입 감사 포인트\" (0: none)" },
    { "welcome-valid-days", "COFFEE_WELCOME_VALID_DAYS", OPT_INT, FIELD (welcome_valid_days),
      0, 36500, NULL, "0", "welcome points expire after this many days (0: never)" },
    { "reward-percent", "COFFEE_REWARD_PERCENT", OPT_INT, FIELD (reward_percent),
      0, 100, NULL, "0", "each order earns this % of its pay amount as SAVE, rounded down (0: none)" },
    { "reward-valid-days", "COFFEE_REWARD_VALID_DAYS", OPT_INT, FIELD (reward_valid_days),
      0, 36500, NULL, "0", "reward points expire after this many days (0: never)" },
    { "expiry-sweep-ms", "COFFEE_EXPIRY_SWEEP_MS", OPT_INT, FIELD (expiry_sweep_ms),
      100, 86400000, NULL, "60000", "how often points past their expiry date are written off" },
};

#define OPTION_COUNT (sizeof s_options / sizeof s_options [0])

//  Appends one key=value line to a list field of size bytes.
static int
s_list_add (char *field, size_t size, const char *value, const char *source, char *err,
            size_t errlen)
{
    const char *eq = strchr (value, '=');
    if (!eq || eq == value || strchr (value, '\n')) {
        snprintf (err, errlen, "%s: expected key=value", source);
        return -1;
    }
    size_t used = strlen (field);
    if (used + strlen (value) + 2 > size) {
        snprintf (err, errlen, "%s: the list is too long (at most %zu bytes)", source, size - 1);
        return -1;
    }
    snprintf (field + used, size - used, "%s\n", value);
    return 0;
}

//  Sets a list option from its variable: items separated by newlines when
//  there is one, else by commas; empty items are skipped.
static int
s_list_set (config_t *cfg, const s_option_t *o, const char *text, char *err, size_t errlen)
{
    char *field = (char *) cfg + o->offset;
    field [0] = '\0';
    const char *separator = strchr (text, '\n')? "\n": ",";
    char *copy = strdup (text);
    if (!copy) {
        snprintf (err, errlen, "%s: out of memory", o->env);
        return -1;
    }
    int rc = 0;
    char *save = NULL;
    for (char *item = strtok_r (copy, separator, &save); item && rc == 0;
         item = strtok_r (NULL, separator, &save)) {
        item [strcspn (item, "\r")] = '\0';
        if (*item)
            rc = s_list_add (field, o->size, item, o->env, err, errlen);
    }
    explicit_bzero (copy, strlen (text));
    free (copy);
    return rc;
}

//  Parses value for option o into cfg; err says why not.
static int
s_set (config_t *cfg, const s_option_t *o, const char *value, const char *source,
       char *err, size_t errlen)
{
    void *field = (char *) cfg + o->offset;
    if (o->kind == OPT_LIST)
        return s_list_add (field, o->size, value, source, err, errlen);
    if (o->kind == OPT_STRING) {
        if (strlen (value) >= o->size) {
            snprintf (err, errlen, "%s: value too long (at most %zu bytes)", source, o->size - 1);
            return -1;
        }
        if (o->choices) {
            char pattern [64];
            snprintf (pattern, sizeof pattern, "|%s|", o->choices);
            char needle [80];
            snprintf (needle, sizeof needle, "|%s|", value);
            if (!*value || !strstr (pattern, needle)) {
                snprintf (err, errlen, "%s: '%s' is not one of %s", source, value, o->choices);
                return -1;
            }
        }
        strcpy ((char *) field, value);
        return 0;
    }
    if (o->kind == OPT_CHOICE) {
        const char *p = o->choices;
        int index = 0;
        size_t n = strlen (value);
        while (p) {
            const char *bar = strchr (p, '|');
            size_t len = bar ? (size_t) (bar - p) : strlen (p);
            if (n && len == n && memcmp (p, value, n) == 0) {
                *(int *) field = index;
                return 0;
            }
            p = bar ? bar + 1 : NULL;
            index++;
        }
        snprintf (err, errlen, "%s: '%s' is not one of %s", source, value, o->choices);
        return -1;
    }
    char *end = NULL;
    errno = 0;
    long long v = strtoll (value, &end, 10);
    if (!*value || *end || errno || v < o->min || v > o->max) {
        snprintf (err, errlen, "%s: '%s' is not a whole number from %" PRId64 " to %" PRId64,
                  source, value, o->min, o->max);
        return -1;
    }
    if (o->kind == OPT_INT)
        *(int *) field = (int) v;
    else
    if (o->kind == OPT_I64)
        *(int64_t *) field = (int64_t) v;
    else
        *(size_t *) field = (size_t) v;
    return 0;
}

//  Reads the admin token from cfg->admin_token_file: the first line,
//  without its line end. The token never comes from the command line,
//  where every user of the machine could read it. Also called on SIGHUP.
int
config_read_admin_token (const config_t *cfg, char *token, size_t size, char *err,
                         size_t errlen)
{
    FILE *file = fopen (cfg->admin_token_file, "r");
    if (!file) {
        snprintf (err, errlen, "--admin-token-file %s: %s", cfg->admin_token_file,
                  strerror (errno));
        return -1;
    }
    char line [sizeof cfg->admin_token + 2];
    bool read = fgets (line, sizeof line, file) != NULL;
    fclose (file);
    size_t len = read? strcspn (line, "\r\n"): 0;
    line [len] = '\0';
    const char *why = !read || len == 0? "the file's first line is empty"
                    : len >= sizeof cfg->admin_token || len >= size
                                     ? "the token is longer than 255 bytes"
                    : len < 16? "the token is shorter than 16 bytes": NULL;
    for (size_t i = 0; !why && i < len; i++)
        if ((unsigned char) line [i] <= 0x20 || (unsigned char) line [i] >= 0x7F)
            why = "the token must be printable ASCII without spaces";
    if (why) {
        snprintf (err, errlen, "--admin-token-file %s: %s", cfg->admin_token_file, why);
        explicit_bzero (line, sizeof line);
        return -1;
    }
    memcpy (token, line, len + 1);
    explicit_bzero (line, sizeof line);
    return 0;
}

//  The CPUs online now, within what --http-threads takes. More workers
//  than CPUs take turns on them, each turn a context switch on some
//  request's path (on the 2-core bench machine four workers gave a higher
//  paced p99 than two: docs/PERFORMANCE.md).
static int
s_online_cpus (void)
{
    long cpus = sysconf (_SC_NPROCESSORS_ONLN);
    return cpus < 1 ? 1 : cpus > S_HTTP_THREADS_MAX ? S_HTTP_THREADS_MAX : (int) cpus;
}

//  Checks what a single option cannot: combinations and URL forms.
static int
s_check (config_t *cfg, char *err, size_t errlen)
{
    if (!*cfg->data_dir) {
        snprintf (err, errlen, "--data-dir: must not be empty");
        return -1;
    }
    if (!*cfg->store)
        snprintf (cfg->store, sizeof cfg->store, "sqlite:%s/command.db", cfg->data_dir);
    if (!*cfg->display_store)
        snprintf (cfg->display_store, sizeof cfg->display_store, "sqlite:%s/display.db",
                  cfg->data_dir);
    if (cfg->http_threads == 0)
        cfg->http_threads = s_online_cpus ();
    if (cfg->order_actors == 0)
        cfg->order_actors = strncmp (cfg->store, "sqlite:", 7) == 0 ? 1 : 2;
    const char *stores [2] = { cfg->store, cfg->display_store };
    const char *names [2] = { "--store", "--display-store" };
    for (int i = 0; i < 2; i++)
        if (strncmp (stores [i], "sqlite:", 7) && strncmp (stores [i], "mysql://", 8)) {
            snprintf (err, errlen, "%s: expected sqlite:PATH or mysql://USER:PASS@HOST:PORT/DB",
                      names [i]);
            return -1;
        }
    if (streq (cfg->store, cfg->display_store)) {
        snprintf (err, errlen, "--display-store: must be a different database from --store (CQRS)");
        return -1;
    }
    if (streq (cfg->bridge, "kafka") && !*cfg->kafka_brokers) {
        snprintf (err, errlen, "--kafka-brokers: required with --bridge kafka");
        return -1;
    }
    if (streq (cfg->bridge, "nats") && !*cfg->nats_url) {
        snprintf (err, errlen, "--nats-url: required with --bridge nats");
        return -1;
    }
    if (!*cfg->kafka_topic) {
        snprintf (err, errlen, "--kafka-topic: must not be empty");
        return -1;
    }
    if (*cfg->collector_url
    &&  strncmp (cfg->collector_url, "file:", 5)
    &&  strncmp (cfg->collector_url, "http://", 7)
    &&  strncmp (cfg->collector_url, "https://", 8)) {
        snprintf (err, errlen, "--collector-url: expected http(s)://… or file:PATH");
        return -1;
    }
    if (!*cfg->collector_url)
        snprintf (cfg->collector_url, sizeof cfg->collector_url, "file:%s/collector.jsonl",
                  cfg->data_dir);
    if (*cfg->admin_token_file
    &&  config_read_admin_token (cfg, cfg->admin_token, sizeof cfg->admin_token, err, errlen))
        return -1;
    return 0;
}

//  Defaults, then environment, then flags, then derived values.
int
config_load (config_t *cfg, int argc, char **argv, char *err, size_t errlen)
{
    memset (cfg, 0, sizeof *cfg);
    char source [96];
    for (size_t i = 0; i < OPTION_COUNT; i++) {
        snprintf (source, sizeof source, "default of --%s", s_options [i].flag);
        if (s_set (cfg, &s_options [i], s_options [i].fallback, source, err, errlen)
        &&  *s_options [i].fallback)
            return -1;
    }
    for (size_t i = 0; i < OPTION_COUNT; i++) {
        const char *value = getenv (s_options [i].env);
        snprintf (source, sizeof source, "%s", s_options [i].env);
        if (value && s_options [i].kind == OPT_LIST) {
            if (s_list_set (cfg, &s_options [i], value, err, errlen))
                return -1;
        }
        else
        if (value && s_set (cfg, &s_options [i], value, source, err, errlen))
            return -1;
    }
    struct option longopts [OPTION_COUNT + 1];
    for (size_t i = 0; i < OPTION_COUNT; i++)
        longopts [i] = (struct option) { s_options [i].flag, required_argument, NULL, (int) i };
    memset (&longopts [OPTION_COUNT], 0, sizeof longopts [0]);
    optind = 0;
    opterr = 0;
    bool listed [OPTION_COUNT] = { false };     //  a list flag replaced its variable's list
    int c;
    while ((c = getopt_long (argc, argv, "+:", longopts, NULL)) != -1) {
        if (c == ':') {
            snprintf (err, errlen, "%s: needs a value", argv [optind - 1]);
            return -1;
        }
        if (c < 0 || (size_t) c >= OPTION_COUNT) {
            snprintf (err, errlen, "unknown option '%s' (see coffee --help)", argv [optind - 1]);
            return -1;
        }
        snprintf (source, sizeof source, "--%s", s_options [c].flag);
        if (s_options [c].kind == OPT_LIST && !listed [c]) {
            *((char *) cfg + s_options [c].offset) = '\0';
            listed [c] = true;
        }
        if (s_set (cfg, &s_options [c], optarg, source, err, errlen))
            return -1;
    }
    if (optind < argc) {
        snprintf (err, errlen, "unexpected argument '%s' (see coffee --help)", argv [optind]);
        return -1;
    }
    return s_check (cfg, err, errlen);
}

//  The usage text, generated from the option table.
void
config_print_help (FILE *out)
{
    fprintf (out,
        "usage: coffee serve [OPTIONS]            run the server\n"
        "       coffee reconcile [--repair] [--window-hours H] [OPTIONS]\n"
        "                                         compare display counts with the command store\n"
        "       coffee mock-collector --port P [--bind A] [--fail-rate R] [--delay-ms D] [--fail-first N] [--record FILE]\n"
        "                                         a data collection platform for demos and tests\n"
        "       coffee --help | --version\n\n"
        "Every option is also an environment variable; the flag wins.\n\n");
    for (size_t i = 0; i < OPTION_COUNT; i++) {
        const s_option_t *o = &s_options [i];
        char flag [64];
        snprintf (flag, sizeof flag, "--%s %s", o->flag,
                  o->choices ? o->choices : o->kind == OPT_LIST ? "KEY=VALUE"
                                          : o->kind == OPT_STRING ? "TEXT" : "N");
        fprintf (out, "  %-36s %s\n  %-36s   env %s", flag, o->help, "", o->env);
        if (*o->fallback)
            fprintf (out, ", default %s", o->fallback);
        fprintf (out, "\n");
    }
    fprintf (out, "\nMySQL credentials may also come from COFFEE_MYSQL_USER and COFFEE_MYSQL_PASSWORD.\n");
}

const char *
config_role_name (config_role_t role)
{
    return role == ROLE_ORDER ? "order" : role == ROLE_DISPLAY ? "display"
         : role == ROLE_PROJECTOR ? "projector" : "all";
}
