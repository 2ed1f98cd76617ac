/*  eventlog — picks the backend named by cfg->bridge and forwards every call
    to it. The kafka backend lives in bridge/eventlog_kafka.c, the nats
    backend (JetStream) in bridge/eventlog_nats.c.

    It is referenced with an ordinary (strong) extern on purpose: the bridge
    is a static archive, and a weak undefined reference does not make the
    linker pull a member out of an archive, so with a weak reference
    eventlog_kafka.o would silently be left out of `coffee` (--bridge kafka
    then "not available"; the same holds for eventlog_nats.o). Since every bridge/ source is globbed into one library, the
    library needs eventlog_kafka.c to compile anyway. */
#include "eventlog.h"

extern const eventlog_backend_t eventlog_local;
extern const eventlog_backend_t eventlog_kafka;
extern const eventlog_backend_t eventlog_nats;

struct _eventlog_t {
    const eventlog_backend_t *backend;  //  the backend's functions
    void *impl;                         //  the backend's handle
};

//  Finds the backend called name, or NULL when it is unknown.
static const eventlog_backend_t *
s_backend_find (const char *name)
{
    const eventlog_backend_t *backends [] = { &eventlog_local, &eventlog_kafka, &eventlog_nats };
    for (size_t i = 0; i < sizeof backends / sizeof backends [0]; i++)
        if (streq (backends [i]->name, name))
            return backends [i];
    return NULL;
}

//  A producer (group NULL) or a consumer of the configured backend.
static eventlog_t *
s_new (const config_t *cfg, const char *group, char *err, size_t errlen)
{
    const char *name = cfg->bridge [0] ? cfg->bridge : "local";
    const eventlog_backend_t *backend = s_backend_find (name);
    if (!backend) {
        snprintf (err, errlen, "event log backend '%s' is not available", name);
        return NULL;
    }
    void *impl = group ? backend->consumer_new (cfg, group, err, errlen)
                       : backend->producer_new (cfg, err, errlen);
    if (!impl)
        return NULL;
    eventlog_t *self = (eventlog_t *) zmalloc (sizeof (eventlog_t));
    self->backend = backend;
    self->impl = impl;
    return self;
}

//  A producer of the configured backend.
eventlog_t *
eventlog_producer_new (const config_t *cfg, char *err, size_t errlen)
{
    return s_new (cfg, NULL, err, errlen);
}

//  A consumer of the configured backend in group.
eventlog_t *
eventlog_consumer_new (const config_t *cfg, const char *group, char *err, size_t errlen)
{
    if (!group || !*group) {
        snprintf (err, errlen, "a consumer needs a group");
        return NULL;
    }
    return s_new (cfg, group, err, errlen);
}

//  Publishes msgs; returns the acknowledged prefix length or -1.
int
eventlog_publish (eventlog_t *self, const eventlog_msg_t *msgs, size_t count, int timeout_ms)
{
    assert (self);
    if (count == 0)
        return 0;
    return self->backend->publish (self->impl, msgs, count, timeout_ms);
}

//  Next event of the group: 1, 0 none yet, -1 unreachable.
int
eventlog_poll (eventlog_t *self, eventlog_event_t *ev, int timeout_ms)
{
    assert (self);
    assert (ev);
    return self->backend->poll (self->impl, ev, timeout_ms);
}

//  Commits the group's position past ev.
int
eventlog_commit (eventlog_t *self, const eventlog_event_t *ev)
{
    assert (self);
    assert (ev);
    return self->backend->commit (self->impl, ev);
}

//  Events still to consume by this group, -1 if unknown.
int64_t
eventlog_lag (eventlog_t *self)
{
    assert (self);
    return self->backend->lag (self->impl);
}

//  Frees the strings of ev and clears it.
void
eventlog_event_reset (eventlog_event_t *ev)
{
    if (!ev)
        return;
    free (ev->key);
    free (ev->payload);
    memset (ev, 0, sizeof *ev);
}

//  Destroys the handle and its backend state.
void
eventlog_destroy (eventlog_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    eventlog_t *self = *self_p;
    self->backend->destroy (&self->impl);
    free (self);
    *self_p = NULL;
}
