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
