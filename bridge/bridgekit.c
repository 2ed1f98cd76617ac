/*  bridgekit — helpers the bridge actors share. See bridgekit.h. */
#include "bridgekit.h"

//  Handles one command from an actor's pipe; only $TERM is known.
bool
bridgekit_pipe_term (zsock_t *pipe, const char *name)
{
    zmsg_t *msg = zmsg_recv (pipe);
    if (!msg)
        return true;
    char *verb = zmsg_popstr (msg);
    bool term = verb && streq (verb, "$TERM");
    if (!term)
        log_warn ("-", "%s: unknown command %s", name, verb ? verb : "(null)");
    zstr_free (&verb);
    zmsg_destroy (&msg);
    return term;
}

//  Reports a failed start to the actor's owner.
void
bridgekit_start_failed (zsock_t *pipe, const bridge_args_t *args, metrics_gauge_t up)
{
    metrics_gauge_set (args->metrics, up, 0);
    //  Ending now puts the end signal on the pipe: the owner sees a
    //  failed start (and zactor_destroy still returns at once)
    zsock_signal (pipe, 0);
}

//  Grows a retry delay: doubles it, capped (written so it cannot overflow).
int
bridgekit_backoff (int delay_ms, int min_ms, int cap_ms)
{
    if (delay_ms <= 0)
        return min_ms < cap_ms ? min_ms : cap_ms;
    return delay_ms > cap_ms / 2 ? cap_ms : delay_ms * 2;
}

//  Decodes the held event; logs one that is not an event.
int
bridgekit_decode (const eventlog_event_t *held, event_t *ev, const char *name)
{
    if (event_decode (held->payload, held->len, ev) == 0)
        return 0;
    log_warn ("-", "%s: skipping malformed event at offset %" PRId64 " (key %s)",
              name, held->offset, held->key ? held->key : "");
    return -1;
}

//  Commits past the handled event and lets it go, whether or not the
//  commit worked.
void
bridgekit_commit_held (eventlog_t *consumer, eventlog_event_t *held, bool *holding,
                       const char *name)
{
    if (eventlog_commit (consumer, held) != 0)
        log_warn ("-", "%s: commit after %s failed; it may come again", name,
                  held->key ? held->key : "");
    eventlog_event_reset (held);
    *holding = false;
}

//  Refreshes a lag gauge at most every BRIDGEKIT_LAG_EVERY_MS.
void
bridgekit_lag_refresh (eventlog_t *consumer, metrics_t *metrics, metrics_gauge_t gauge,
                       int64_t *lag_at)
{
    if (zclock_mono () - *lag_at < BRIDGEKIT_LAG_EVERY_MS)
        return;
    *lag_at = zclock_mono ();
    int64_t lag = eventlog_lag (consumer);
    if (lag >= 0)
        metrics_gauge_set (metrics, gauge, lag);
}
