/*  bridgekit — private helpers the three bridge actors (relay, projection,
    collector sink) share: their $TERM-only pipe, the report of a failed
    start and the doubling retry delay; and, for the two consumers
    (projection, collector sink), the held event's decode, its commit and
    the lag gauge. Private to bridge/. */
#ifndef BRIDGEKIT_H_INCLUDED
#define BRIDGEKIT_H_INCLUDED

#include "bridge.h"
#include "eventlog.h"

#define BRIDGEKIT_LAG_EVERY_MS  500     //  how often a consumer refreshes its lag gauge

//  Reads one command from an actor's pipe. Returns true on $TERM or when
//  the pipe is gone; any other command is logged under name and dropped.
bool bridgekit_pipe_term (zsock_t *pipe, const char *name);

//  Tells the owner that the actor could not start: sets gauge up to 0 and
//  signals the pipe. The actor then returns at once.
void bridgekit_start_failed (zsock_t *pipe, const bridge_args_t *args, metrics_gauge_t up);

//  The retry delay after one more failure, given the last one (0 when
//  healthy): min_ms first, then doubling up to cap_ms.
int bridgekit_backoff (int delay_ms, int min_ms, int cap_ms);

//  Decodes the held event's envelope into ev (event_reset after). Returns
//  0, or -1 when it is not an event of a known kind (logged under name; the
//  caller commits past it, since it would be refused forever and hold up
//  every event behind it).
int bridgekit_decode (const eventlog_event_t *held, event_t *ev, const char *name);

//  Commits past the held event, which is handled (applied, delivered or
//  skipped), and drops it, so the caller polls next. A failed commit is
//  logged under name and the event dropped all the same: retrying the
//  commit without polling stalls a Kafka consumer in a rebalance, and the
//  event delivered again later is handled idempotently.
void bridgekit_commit_held (eventlog_t *consumer, eventlog_event_t *held, bool *holding,
                            const char *name);

//  Sets gauge to the consumer's lag when BRIDGEKIT_LAG_EVERY_MS passed since
//  *lag_at (monotonic ms, updated).
void bridgekit_lag_refresh (eventlog_t *consumer, metrics_t *metrics, metrics_gauge_t gauge,
                            int64_t *lag_at);

#endif
