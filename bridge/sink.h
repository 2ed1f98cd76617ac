/*  sink — the one consume → decode → apply → commit loop that every sink of
    the event log runs (the projection into the display store, the collector
    sink to the data collection platform). Private to bridge/.

    A sink is a sink_def_t: its consumer group, its gauges, how it opens and
    closes its destination, and a table of the event kinds it takes, each
    with its handler. sink_run owns the rest, the same for every sink:

      poll      the group's next event (at most poll_ms, less when the
                sink's tick asks for it), then, without waiting, those
                already there, up to SINK_BATCH: a turn handles them
                together; an event-log error waits error_wait_ms;
      decode    the envelope (event_decode, core/event.c's kind table); a
                malformed event is logged and committed past, never
                retried, since it would be refused forever and hold up
                every event behind it;
      apply     the handler of its kind; a kind the sink does not take is
                committed past;
      flush     the sink's flush, when it has one, makes what the turn's
                handlers did durable at once (one transaction, one fsync
                for the whole turn);
      commit    only after the handler and the flush are done with it: the
                last event of each partition, once per turn. A handler that
                fails keeps its event: the events before it are flushed and
                committed, the failed one is tried again after a doubling
                backoff (backoff_min_ms up to the sink's cap, with jitter
                when asked), and nothing behind it runs, so per-key order
                holds and nothing is lost. A flush that fails keeps every
                event of the turn. After a failure the loop handles one
                event per turn until it is past the events of the failed
                turn, so one event that keeps failing never holds up the
                ones before it. A failed commit is logged and the events
                let go all the same: the loop goes back to polling, which
                a Kafka consumer must do to get through a rebalance, and
                an event delivered again is handled idempotently by every
                sink.

    The backoff waits on the actor pipe, so $TERM is answered at once. A new
    event kind is a row in core/event.c's table and a row in the kinds table
    of each sink that takes it; a new sink is one file with its sink_def_t
    and a row in bridge_sinks (sink.c). */
#ifndef SINK_H_INCLUDED
#define SINK_H_INCLUDED

#include "bridgekit.h"
#include "event.h"
#include "store.h"

//  Events one turn handles at most: as many as one relay round publishes
//  (relay.c's RELAY_BATCH), so that a round's events take one
//  turn, one flush and one commit. At 64, paced at 2600 orders/s on
//  MariaDB, each relay round of about 65 events took two turns: the
//  projection committed 63 times a second for the relay's 40 rounds and
//  was busy 19 % of the time; at 256 it commits 40 times and is busy 14 %.
#define SINK_BATCH STORE_OUTBOX_MARK_MAX

//  What a sink does with one event of a kind it takes: 0 done (the loop
//  commits past it once the sink's flush, if any, succeeded), -1 keep it
//  and try again after the backoff. raw is the event as the log gave it
//  (partition, offset, key).
typedef int (sink_apply_fn) (void *state, const event_t *ev, const eventlog_event_t *raw);

//  One kind a sink takes.
typedef struct {
    event_kind_t kind;              //  the kind
    sink_apply_fn *apply;           //  its handler
} sink_kind_t;

//  One sink.
typedef struct {
    const char *name;               //  in logs: "projection", "collector sink"
    const char *group;              //  consumer group (BRIDGE_GROUP_*)
    metrics_gauge_t up;             //  1 applying, 0 failing
    metrics_gauge_t lag;            //  the group's lag
    bool log_error_down;            //  an event-log error sets up to 0 too
    int poll_ms;                    //  longest wait for an event before looking at the pipe
    int error_wait_ms;              //  wait after an event-log error
    int backoff_min_ms;             //  first retry delay of a kept event
    bool jitter;                    //  wait half the delay plus a random part of the rest
    const sink_kind_t *kinds;       //  the kinds taken, ended by a row with apply NULL
    //  Opens the sink's destination; NULL with err set.
    void *(*open) (const bridge_args_t *args, char *err, size_t errlen);
    //  Closes what open made; safe with *state_p NULL.
    void (*close) (void **state_p);
    //  The cap of the retry delay for these settings.
    int (*backoff_cap_ms) (const config_t *cfg);
    //  Optional: makes durable what the handlers of a turn did (called
    //  after them, every turn): 0, or -1 when none of it may be counted on
    //  (every event of the turn is kept and tried again). A handler's
    //  failure may leave the flush nothing to keep: it then says -1.
    int (*flush) (void *state);
    //  Optional: called when a poll found nothing (idle) and after each
    //  turn handled; returns how long the next poll may wait at most.
    int (*tick) (void *state, bool idle);
} sink_def_t;

//  The sinks in bridge/: projection.c and collector_sink.c.
extern const sink_def_t sink_projection;
extern const sink_def_t sink_collector;

//  Runs def as an actor on pipe until $TERM: opens the destination and the
//  consumer (a failed start is reported on the pipe: see bridge.h), then
//  loops as above.
void sink_run (zsock_t *pipe, const bridge_args_t *args, const sink_def_t *def);

#endif
