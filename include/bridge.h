/*  bridge — the actors between the command store and the sinks.

    bridge_relay_actor       reads committed outbox rows, publishes them to
                             the event log, marks them published once the log
                             acknowledged them. Woken by a message on
                             BRIDGE_OUTBOX_WAKE (order actors PUSH one after
                             each commit): at once, or at most 25 ms later
                             (RELAY_GAP_MS) while drains follow each other,
                             so that a claim takes several commits' rows;
                             and every BRIDGE_RELAY_IDLE_MS to pick up rows
                             left by a crash.
    bridge_projection_actor  consumes group "display-service" into the display
                             store (display_store_apply for orders,
                             display_store_apply_menu for menus), then commits.
                             Runs in the roles all and projector.
    bridge_collector_actor   consumes group "data-collector" and delivers each
                             order event with retries and capped exponential
                             backoff (other kinds are passed by). Runs in the
                             roles all and order.
    The two sinks share one loop (bridge/sink.h) and are listed in
    bridge_sinks, which `coffee serve` starts by role.

    Each takes a bridge_args_t and answers $TERM on its pipe; the relay
    drains the outbox once more (bounded, 5 s) before it exits. An actor
    that cannot open its store, event log or collector signals and ends at
    once, so its owner sees the end signal on the pipe (a failed start).
    Each opens its own connections: nothing is shared between threads.

    How soon a new order or menu change shows in /display (local log, one
    process, role all): the order actor's wake reaches the relay at once;
    publish is one SQLite commit; the log's inproc wake reaches the
    projection at once; the apply is one display-store transaction, after
    which the projection asks a display actor to read the store again and
    push the snapshot to every HTTP worker. Figures and the command that
    measures them: docs/PERFORMANCE.md (bench/visible.c). A display role in
    another process has no consumer: it reads the display store every
    cfg->display_refresh_ms; a projector in another process reads the local
    log file every EVENTLOG_LOCAL_POLL_MS. With Kafka add the producer's
    linger and the consumer's fetch wait. After a relay failure, retries
    back off from 100 ms up to 5 s; without any wake the relay drains every
    BRIDGE_RELAY_IDLE_MS anyway (rows left by a crash). */
#ifndef BRIDGE_H_INCLUDED
#define BRIDGE_H_INCLUDED

#include "coffee.h"

#define BRIDGE_OUTBOX_WAKE       "inproc://coffee-outbox-wake"
#define BRIDGE_RELAY_IDLE_MS     1000
#define BRIDGE_GROUP_DISPLAY     "display-service"
#define BRIDGE_GROUP_COLLECTOR   "data-collector"

typedef struct {
    const config_t *cfg;        //  settings (read only)
    metrics_t *metrics;         //  gauges this actor reports
} bridge_args_t;

void bridge_relay_actor (zsock_t *pipe, void *args);
void bridge_projection_actor (zsock_t *pipe, void *args);
void bridge_collector_actor (zsock_t *pipe, void *args);

//  A sink of the event log: both run the one consume → decode → apply →
//  commit loop (bridge/sink.h); a new sink is its own file and a row in
//  bridge_sinks.
typedef struct {
    const char *name;               //  "projection", "collector"
    zactor_fn *actor;               //  its actor (takes a bridge_args_t)
    config_role_t role;             //  the role that runs it, besides all
} bridge_sink_t;

//  Every sink, ended by a row with name NULL.
extern const bridge_sink_t bridge_sinks [];

//  `coffee reconcile [--repair] [--window-hours H] [serve options]`: compares
//  the display store's counts with the command store's order lines over
//  (now - H hours, now] (H 1..87840, default 168; now shifted by
//  --clock-skew-ms); prints a line per menu
//      MENU-00000001 command=12 display=12 diff=0
//  and a summary; then the menus (command store vs display store: name,
//  price, useYn, version), a line per drifting menu and a summary; exit 0
//  when both are equal, 1 on drift (after --repair: 0 if fixed), 2 on bad arguments or a store error. argv[0] is "reconcile";
//  --repair and --window-hours are taken out first, everything else goes to
//  config_load as serve options (--data-dir, --store, --display-store, …).
int bridge_reconcile_main (int argc, char **argv);

//  `coffee mock-collector --port P [--bind A] [--fail-rate R] [--delay-ms D]
//  [--fail-first N] [--record FILE]`: a real HTTP receiver (libmicrohttpd)
//  for tests and demos. POST /collect (point --collector-url at
//  http://HOST:P/collect) takes an event: 400 unless JSON with a string
//  orderNo; a known orderNo answers 200 {"duplicate":true}; a new one is
//  recorded (and appended to FILE) and answers 200 {"received":true}; while
//  failing (the first N POSTs, then with probability R) it answers 503.
//  GET /orders → {"count":N,"duplicates":D,"orders":[…]} in arrival order;
//  POST /control {"failRate","delayMs","failFirst"} changes behaviour at run
//  time; every answer waits delayMs. SIGTERM/SIGINT: clean stop, exit 0.
//  Own flags only (getopt_long); exit 2 on bad flags.
int bridge_mock_collector_main (int argc, char **argv);

#endif
