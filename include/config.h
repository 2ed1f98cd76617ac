/*  config — every setting of `coffee serve`, read once in main into one
    struct. Each option is a flag and an environment variable; the flag wins.
    Defaults live in one place (core/config.c, the option table), and the
    same table prints `coffee --help`. Actors receive a const pointer. */
#ifndef CONFIG_H_INCLUDED
#define CONFIG_H_INCLUDED

#include <stdint.h>
#include <stddef.h>
#include <stdio.h>

//  Roles, as the original design split its servers and its reflection
//  wanted them split next: order (customers, points, orders, menu admin;
//  relay and collector), display (GET /display/* from the display store,
//  no consumer), projector (consumes events into the display store; only
//  /health and /metrics), all (everything in one process).
typedef enum {
    ROLE_ALL = 0, ROLE_ORDER = 1, ROLE_DISPLAY = 2, ROLE_PROJECTOR = 3
} config_role_t;

typedef struct {
    char bind [64];                 //  address to listen on (--bind)
    int port;                       //  HTTP port (--port)
    char data_dir [512];            //  folder for SQLite files and the file collector
    int http_threads;               //  libmicrohttpd worker threads
    int point_actors;               //  point actor threads
    int order_actors;               //  order actor threads (config_load resolves 0 by store)
    int lane_requests;              //  requests at a pool per open lane; 0: every actor
    int display_actors;             //  display actor threads
    char store [1024];              //  command store URL: sqlite:PATH or mysql://…
    char display_store [1024];      //  display store URL
    config_role_t role;             //  which routes and bridge parts run here
    char bridge [16];               //  event log backend: "local", "kafka" or "nats"
    char kafka_brokers [512];       //  bootstrap servers for --bridge kafka
    char kafka_topic [128];         //  topic of order events
    char nats_url [512];            //  NATS server URL(s) for --bridge nats
    char collector_url [1024];      //  "" or file:PATH → JSON lines; http(s)://… → POST
    int collector_backoff_max_ms;   //  cap of the collector's retry backoff
    int request_timeout_ms;         //  how long the front waits for an actor
    size_t max_body;                //  largest request body accepted, bytes
    int display_refresh_ms;         //  display snapshot refresh period
    int64_t clock_skew_ms;          //  shifts the clock; for tests of time windows
    int log_level;                  //  log_level_t
    char admin_token_file [512];    //  file holding the admin token, or "" (admin routes off)
    char admin_token [256];         //  the admin token read from that file at start, or ""
    int auth;                       //  1: customers' routes need their bearer token (--auth on)
    int metrics_public;             //  1: GET /metrics needs no admin token
    int max_conns_per_address;      //  connections one client address may hold (0: no limit, -1: auto)
    int read_timeout_ms;            //  a request's headers and body must arrive within this
    int rate_per_address;           //  requests per second per client address (0: off)
    int rate_burst_per_address;     //  burst of that bucket (0: twice the rate)
    int rate_per_customer;          //  requests per second per customer (0: off)
    int rate_burst_per_customer;    //  burst of that bucket (0: twice the rate)
    //  transport: data in transit and at rest, retention, logs (issue 9 points 9, 10)
    char kafka_options [4096];      //  librdkafka key=value settings, one per line (--kafka-option)
    char collector_ca_file [512];   //  CA bundle for an https collector, or "" (system CAs)
    char collector_token_file [512];//  file holding the collector's bearer token, or ""
    char log_file [512];            //  log to this file (reopened on SIGHUP), or "" (stderr)
    int64_t outbox_retention_s;     //  published outbox rows are kept this long
    int64_t eventlog_retention_s;   //  local event log rows every group passed are kept this long
    int64_t idem_retention_s;       //  finished Idempotency-Keys are kept this long
    int prune_interval_ms;          //  how often retention runs (0: never)
    int charge_valid_days;          //  charged points expire after this many days (0: never)
    int64_t welcome_points;         //  SAVE points a new customer gets (0: none)
    int welcome_valid_days;         //  welcome points expire after this many days (0: never)
    int reward_percent;             //  SAVE this % of each order's pay amount (0: none)
    int reward_valid_days;          //  reward points expire after this many days (0: never)
    int expiry_sweep_ms;            //  how often expired lots are written off
} config_t;

//  Fills cfg with defaults, then environment variables, then the flags in
//  argv (argv[0] is the subcommand name, as getopt expects). Derived values
//  (store URLs under the data dir) are filled last. Returns 0, or -1 with a
//  message for the operator in err (size errlen).
int config_load (config_t *cfg, int argc, char **argv, char *err, size_t errlen);

//  Reads the admin token from cfg->admin_token_file into token (size
//  bytes): its first line, printable ASCII, 16..255 bytes. Used at start
//  and on SIGHUP. Returns 0, or -1 with a message in err.
int config_read_admin_token (const config_t *cfg, char *token, size_t size, char *err,
                             size_t errlen);

//  Prints every option with its variable, default and meaning.
void config_print_help (FILE *out);

//  "all", "order", "display", "projector".
const char *config_role_name (config_role_t role);

//  True when this role serves/runs the part: the order side (its routes,
//  point and order actors, relay, collector sink), the display reads
//  (display actors and routes), the projection (consumer of the log into
//  the display store).
#define config_runs_order(cfg)     ((cfg)->role == ROLE_ALL || (cfg)->role == ROLE_ORDER)
#define config_runs_display(cfg)   ((cfg)->role == ROLE_ALL || (cfg)->role == ROLE_DISPLAY)
#define config_runs_projector(cfg) ((cfg)->role == ROLE_ALL || (cfg)->role == ROLE_PROJECTOR)

#endif
