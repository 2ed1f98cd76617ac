/*  bridgekit — private helpers the bridge actors (the relay and the sink
    loop, sink.h) share: their $TERM-only pipe, the report of a failed start
    and the doubling retry delay. Private to bridge/. */
#ifndef BRIDGEKIT_H_INCLUDED
#define BRIDGEKIT_H_INCLUDED

#include "bridge.h"
#include "eventlog.h"

#define BRIDGEKIT_LAG_EVERY_MS  500     //  how often a sink refreshes its lag gauge

//  Reads one command from an actor's pipe. Returns true on $TERM or when
//  the pipe is gone; any other command is logged under name and dropped.
bool bridgekit_pipe_term (zsock_t *pipe, const char *name);

//  Tells the owner that the actor could not start: sets gauge up to 0 and
//  signals the pipe. The actor then returns at once.
void bridgekit_start_failed (zsock_t *pipe, const bridge_args_t *args, metrics_gauge_t up);

//  The retry delay after one more failure, given the last one (0 when
//  healthy): min_ms first, then doubling up to cap_ms.
int bridgekit_backoff (int delay_ms, int min_ms, int cap_ms);

#endif
