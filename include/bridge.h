/*  bridge — the actors between the command store and the sinks.

    bridge_relay_actor       reads committed outbox rows, publishes them to
                             the event log, marks them published once the log
                             acknowledged them. Woken at once by a message on
                             BRIDGE_OUTBOX_WAKE (order actors PUSH one after
                             each commit), and every BRIDGE_RELAY_IDLE_MS to
                             pick up rows left by a crash.
    bridge_projection_actor  consumes group "display-service" into the display
                             store (display_store_apply), then commits.
    bridge_collector_actor   consumes group "data-collector" and delivers each
                             event with retries and capped exponential backoff.

    Each takes a bridge_args_t and answers $TERM on its pipe; the relay
    waits for unacknowledged messages before it exits. */
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

//  `coffee reconcile [--repair] [--window-hours H] [serve options]`: compares
//  the display store's counts with the command store's order lines; prints a
//  line per menu; exit 0 when equal, 1 on drift (after --repair: 0 if fixed).
int bridge_reconcile_main (int argc, char **argv);

//  `coffee mock-collector --port P [--bind A] [--fail-rate R] [--delay-ms D]
//  [--fail-first N]`: a real HTTP receiver that records orders, drops
//  duplicates by orderNo; GET /orders lists them, POST /control changes
//  fail/delay at run time.
int bridge_mock_collector_main (int argc, char **argv);

#endif
