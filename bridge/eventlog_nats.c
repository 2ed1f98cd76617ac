/*  eventlog_nats — the event log on NATS JetStream through libnats (the
    NATS C client), against a nats-server started with -js.

    Layout: one stream per topic (cfg->kafka_topic, default order-events)
    named coffee-TOPIC, file storage, limits retention (every group sees
    every event, as on Kafka), subjects coffee.TOPIC.> with one subject per
    order number (coffee.TOPIC.ORDERNO). The exact key travels in the
    Coffee-Key header, the payload is the message body. Producer and
    consumer both create the stream on start, or update it when it exists
    with other settings, and again after the server lost it.

    Producer: publish() sends the messages in order, each one a JetStream
    publish waiting for the stream's acknowledgement within what is left of
    the caller's timeout, and stops at the first that is not acknowledged:
    what it returns is the acknowledged prefix. Each message carries a
    Nats-Msg-Id made of its key and a hash of its payload, so a retry of an
    event the stream already stored (an acknowledgement that was lost, or a
    copy libnats held in its reconnect buffer during an outage and sent
    later) is dropped by the stream's duplicate window instead of stored
    twice.

    Consumer: one durable pull consumer per group, named after the group,
    created (or updated) by us and then bound, so closing a handle never
    deletes it. Explicit acks: commit() acknowledges, and waits for the
    server to confirm, every message this handle handed out up to ev's
    stream sequence, which is what "commit the group's position past ev"
    means here. AckWait is NATS_ACK_WAIT_S: a message handed out and not
    acknowledged within it (a crashed process, a sink stuck on one event) is
    delivered again, which every sink absorbs. MaxDeliver is unlimited: an
    event is never given up on, since at-least-once must not drop one. A
    handle closed cleanly gives back (NAKs) what it held but did not commit,
    so the group's next member gets it within NATS_NAK_DELAY_MS instead of
    after AckWait. Within one consumer handle events come in stream order,
    which is publish order (a redelivered event may come after newer ones);
    members of one group share the durable and JetStream hands each event
    to one of them. A durable or stream deleted under a running handle is
    noticed (a failed fetch, or a look every NATS_CHECK_EVERY_MS while idle)
    and made again.

    Lag: the consumer's NumPending (not yet delivered) + NumAckPending
    (delivered, not yet acknowledged), from the server.

    Outages: the connection is made with retry-on-failed-connect and
    reconnects forever, so a handle is created even while the server is
    down; every call then fails or times out within its bound (-1 from
    publish and poll) and works again once the server is back. Every
    blocking call has a timeout. Every handle belongs to one thread. */
#include "eventlog.h"
#include <nats/nats.h>

#define NATS_DEFAULT_TOPIC      "order-events"
#define NATS_KEY_HEADER         "Coffee-Key"
#define NATS_ACK_WAIT_S         30          //  redelivery after a silent holder
#define NATS_DUPLICATES_S       120         //  stream duplicate window (Nats-Msg-Id)
#define NATS_BATCH              32          //  messages fetched at once by a consumer
#define NATS_FETCH_SLICE_MS     200         //  longest pull request left at the server
#define NATS_NAK_DELAY_MS       500         //  give-back delay: > NATS_FETCH_SLICE_MS
#define NATS_CONNECT_MS         2000        //  one connect attempt
#define NATS_RECONNECT_WAIT_MS  250         //  between reconnect attempts
#define NATS_SETUP_MS           5000        //  stream / consumer create at most
#define NATS_ACK_MS             5000        //  commit: the server's ack confirmation
#define NATS_INFO_MS            1000        //  lag: consumer info
#define NATS_CLOSE_MS           2000        //  destroy: flush of the NAKs
#define NATS_LOG_EVERY_MS       10000       //  rate limit of repeated error lines
#define NATS_CHECK_EVERY_MS     5000        //  idle consumer: is the durable still there
#define NATS_NS_PER_MS          1000000LL

typedef struct {
    natsConnection *nc;             //  the connection (reconnects by itself)
    jsCtx *js;                      //  JetStream context on nc
    char stream [160];              //  stream name
    char filter [192];              //  subjects of the stream: coffee.TOPIC.>
    char prefix [192];              //  subject of one event: prefix + key token
    char *group;                    //  consumer: durable name; NULL for a producer
    bool stream_ready;              //  the stream is known to exist
    natsSubscription *sub;          //  consumer: bound pull subscription
    natsMsgList fetched;            //  consumer: last fetch
    int fetched_next;               //  next of fetched to hand out
    natsMsg **held;                 //  consumer: handed out, not yet acknowledged
    size_t held_count;              //  entries in held
    size_t held_cap;                //  room in held
    int64_t checked_ms;             //  consumer: when the durable was last seen
    int64_t last_error_log_ms;      //  when an error line was last written
    natsStatus last_error;          //  the error that line was about
} nats_t;

//  Writes an error line unless the same error was logged recently: an
//  outage must give a line now and then, not one per message or poll.
static void
s_log_error (nats_t *self, natsStatus status, const char *what, const char *detail)
{
    int64_t now = util_now_ms (0);
    if (status == self->last_error && now - self->last_error_log_ms < NATS_LOG_EVERY_MS)
        return;
    self->last_error = status;
    self->last_error_log_ms = now;
    const char *last = nats_GetLastError (NULL);
    if (last && !*last)
        last = NULL;
    log_warn (NULL, "nats %s: %s (%s%s%s)", what, natsStatus_GetText (status),
              detail ? detail : "", detail && last ? "; " : "", last ? last : "");
}

//  Connection events, from libnats' own threads (a log line is one write).
static void
s_disconnected_cb (natsConnection *nc, void *closure)
{
    //  Closing a handle disconnects too; only a lost connection is news
    if (natsConnection_Status (nc) == NATS_CONN_STATUS_CLOSED)
        return;
    log_warn (NULL, "nats: disconnected from the server; reconnecting");
}

static void
s_reconnected_cb (natsConnection *nc, void *closure)
{
    log_info (NULL, "nats: reconnected");
}

//  The first connection made in the background (the server was down when
//  the handle was made). Having this callback is what makes libnats retry
//  in the background instead of inside natsConnection_Connect.
static void
s_connected_cb (natsConnection *nc, void *closure)
{
    log_info (NULL, "nats: connected");
}

//  Copies text into buf, replacing what a subject token or a stream or
//  durable name may not hold ('.', '*', '>', '/', '\\', spaces, controls).
static void
s_token (const char *text, char *buf, size_t len)
{
    size_t n = 0;
    for (const char *p = text ? text : ""; *p && n + 1 < len; p++) {
        unsigned char c = (unsigned char) *p;
        buf [n++] = (c <= ' ' || c == '.' || c == '*' || c == '>' || c == '/' || c == '\\'
                     || c == 127) ? '_' : (char) c;
    }
    if (n == 0 && len > 1)
        buf [n++] = '_';
    buf [n] = 0;
}

//  Frees the messages of the last fetch not yet handed out; give_back NAKs
//  them first so the group gets them again at once.
static void
s_fetched_clear (nats_t *self, bool give_back)
{
    for (int i = self->fetched_next; i < self->fetched.Count; i++)
        if (give_back && self->fetched.Msgs [i])
            natsMsg_NakWithDelay (self->fetched.Msgs [i], NATS_NAK_DELAY_MS, NULL);
    natsMsgList_Destroy (&self->fetched);
    memset (&self->fetched, 0, sizeof self->fetched);
    self->fetched_next = 0;
}

//  Destroys a producer or consumer handle. A consumer gives back what it
//  fetched or handed out and did not commit.
static void
s_nats_destroy (void **impl_p)
{
    if (!impl_p || !*impl_p)
        return;
    nats_t *self = (nats_t *) *impl_p;
    bool connected = self->nc && natsConnection_Status (self->nc) == NATS_CONN_STATUS_CONNECTED;
    //  Give back with a delay longer than any pull request of ours can
    //  still be waiting at the server (NATS_FETCH_SLICE_MS): handed to such
    //  a request, a message would go to nobody and wait out AckWait, and
    //  nats-server 2.9 was seen to redeliver one twice in that race. Drop
    //  interest in our requests first, for the same reason.
    if (self->sub && connected) {
        natsSubscription_Unsubscribe (self->sub);
        natsConnection_FlushTimeout (self->nc, NATS_CLOSE_MS);
    }
    bool gave_back = false;
    for (size_t i = 0; i < self->held_count; i++) {
        if (connected) {
            natsMsg_NakWithDelay (self->held [i], NATS_NAK_DELAY_MS, NULL);
            gave_back = true;
        }
        natsMsg_Destroy (self->held [i]);
    }
    free (self->held);
    if (self->fetched.Count > self->fetched_next)
        gave_back = gave_back || connected;
    s_fetched_clear (self, connected);
    if (gave_back)
        natsConnection_FlushTimeout (self->nc, NATS_CLOSE_MS);
    natsSubscription_Destroy (self->sub);
    jsCtx_Destroy (self->js);
    if (self->nc) {
        natsConnection_Close (self->nc);
        natsConnection_Destroy (self->nc);
    }
    free (self->group);
    free (self);
    *impl_p = NULL;
}

//  Connects to cfg->nats_url (in the background when the server is not up
//  yet) and names the stream and subjects after cfg->kafka_topic.
static nats_t *
s_nats_new (const config_t *cfg, const char *group, char *err, size_t errlen)
{
    if (!cfg->nats_url [0]) {
        snprintf (err, errlen, "--bridge nats needs --nats-url");
        return NULL;
    }
    nats_t *self = (nats_t *) zmalloc (sizeof (nats_t));
    char topic [128];
    s_token (cfg->kafka_topic [0] ? cfg->kafka_topic : NATS_DEFAULT_TOPIC, topic, sizeof topic);
    snprintf (self->stream, sizeof self->stream, "coffee-%s", topic);
    snprintf (self->filter, sizeof self->filter, "coffee.%s.>", topic);
    snprintf (self->prefix, sizeof self->prefix, "coffee.%s.", topic);
    if (group) {
        char name [128];
        s_token (group, name, sizeof name);
        self->group = strdup (name);
    }
    natsOptions *opts = NULL;
    natsStatus s = natsOptions_Create (&opts);
    if (s == NATS_OK)
        s = natsOptions_SetURL (opts, cfg->nats_url);
    if (s == NATS_OK)
        s = natsOptions_SetName (opts, group ? "coffee consumer" : "coffee producer");
    if (s == NATS_OK)
        s = natsOptions_SetTimeout (opts, NATS_CONNECT_MS);
    if (s == NATS_OK)
        s = natsOptions_SetAllowReconnect (opts, true);
    if (s == NATS_OK)
        s = natsOptions_SetMaxReconnect (opts, -1);
    if (s == NATS_OK)
        s = natsOptions_SetReconnectWait (opts, NATS_RECONNECT_WAIT_MS);
    if (s == NATS_OK)
        s = natsOptions_SetRetryOnFailedConnect (opts, true, s_connected_cb, NULL);
    if (s == NATS_OK)
        s = natsOptions_SetDisconnectedCB (opts, s_disconnected_cb, NULL);
    if (s == NATS_OK)
        s = natsOptions_SetReconnectedCB (opts, s_reconnected_cb, NULL);
    if (s != NATS_OK) {
        const char *last = nats_GetLastError (NULL);
        snprintf (err, errlen, "nats options (--nats-url %s): %s", cfg->nats_url,
                  last ? last : natsStatus_GetText (s));
        goto fail;
    }
    s = natsConnection_Connect (&self->nc, opts);
    if (s == NATS_NOT_YET_CONNECTED)
        log_warn (NULL, "nats: %s does not answer yet; connecting in the background",
                  cfg->nats_url);
    else
    if (s != NATS_OK) {
        const char *last = nats_GetLastError (NULL);
        snprintf (err, errlen, "nats connect %s: %s", cfg->nats_url,
                  last ? last : natsStatus_GetText (s));
        goto fail;
    }
    s = natsConnection_JetStream (&self->js, self->nc, NULL);
    if (s != NATS_OK) {
        snprintf (err, errlen, "nats JetStream context: %s", natsStatus_GetText (s));
        goto fail;
    }
    natsOptions_Destroy (opts);
    return self;
fail:
    natsOptions_Destroy (opts);
    s_nats_destroy ((void **) &self);
    return NULL;
}

//  True while the connection is up.
static bool
s_connected (nats_t *self)
{
    return natsConnection_Status (self->nc) == NATS_CONN_STATUS_CONNECTED;
}

//  JetStream options with a wait of wait_ms (at least 1).
static void
s_js_opts (jsOptions *jo, int64_t wait_ms)
{
    jsOptions_Init (jo);
    jo->Wait = wait_ms > 0 ? wait_ms : 1;
}

//  Creates the stream, or updates it when it exists with other settings.
//  Returns 0 or -1 (logged).
static int
s_stream_setup (nats_t *self, int64_t wait_ms)
{
    const char *subjects [1] = { self->filter };
    jsStreamConfig sc;
    jsStreamConfig_Init (&sc);
    sc.Name = self->stream;
    sc.Description = "coffee order events";
    sc.Subjects = subjects;
    sc.SubjectsLen = 1;
    sc.Storage = js_FileStorage;
    sc.Retention = js_LimitsPolicy;
    sc.Duplicates = NATS_DUPLICATES_S * 1000 * NATS_NS_PER_MS;
    jsOptions jo;
    s_js_opts (&jo, wait_ms);
    jsErrCode jerr = 0;
    jsStreamInfo *si = NULL;
    natsStatus s = js_AddStream (&si, self->js, &sc, &jo, &jerr);
    if (s != NATS_OK && jerr == JSStreamNameExistErr) {
        jerr = 0;
        s = js_UpdateStream (&si, self->js, &sc, &jo, &jerr);
    }
    jsStreamInfo_Destroy (si);
    if (s != NATS_OK) {
        char detail [256];
        snprintf (detail, sizeof detail, "stream %s, error code %d", self->stream, (int) jerr);
        s_log_error (self, s, "stream setup", detail);
        return -1;
    }
    self->stream_ready = true;
    return 0;
}

//  Creates (or updates) the group's durable consumer and binds a pull
//  subscription to it. Returns 0 or -1 (logged).
static int
s_consumer_setup (nats_t *self, int64_t wait_ms)
{
    int64_t deadline = zclock_mono () + wait_ms;
    if (!self->stream_ready && s_stream_setup (self, wait_ms))
        return -1;
    jsConsumerConfig cc;
    jsConsumerConfig_Init (&cc);
    cc.Durable = self->group;
    cc.Description = "coffee consumer group";
    cc.DeliverPolicy = js_DeliverAll;
    cc.AckPolicy = js_AckExplicit;
    cc.AckWait = NATS_ACK_WAIT_S * 1000 * NATS_NS_PER_MS;
    cc.MaxDeliver = -1;
    cc.FilterSubject = self->filter;
    jsOptions jo;
    s_js_opts (&jo, deadline - zclock_mono ());
    jsErrCode jerr = 0;
    jsConsumerInfo *ci = NULL;
    natsStatus s = js_AddConsumer (&ci, self->js, self->stream, &cc, &jo, &jerr);
    if (s != NATS_OK && jerr == JSConsumerNameExistErr) {
        jerr = 0;
        s = js_UpdateConsumer (&ci, self->js, self->stream, &cc, &jo, &jerr);
    }
    jsConsumerInfo_Destroy (ci);
    if (s != NATS_OK && (jerr == JSStreamNotFoundErr || s == NATS_NOT_FOUND))
        self->stream_ready = false;
    if (s == NATS_OK) {
        jsSubOptions so;
        jsSubOptions_Init (&so);
        so.Stream = self->stream;
        so.Consumer = self->group;
        s_js_opts (&jo, deadline - zclock_mono ());
        s = js_PullSubscribe (&self->sub, self->js, self->filter, self->group, &jo, &so, &jerr);
    }
    if (s != NATS_OK) {
        char detail [256];
        snprintf (detail, sizeof detail, "consumer %s on %s, error code %d", self->group,
                  self->stream, (int) jerr);
        s_log_error (self, s, "consumer setup", detail);
        return -1;
    }
    self->checked_ms = zclock_mono ();
    return 0;
}

//  Forgets the subscription so the next poll makes the stream and the
//  durable again (they were deleted, or the server lost its store).
static void
s_consumer_lost (nats_t *self)
{
    natsSubscription_Destroy (self->sub);
    self->sub = NULL;
    self->stream_ready = false;
}

//  The group's consumer info from the server (jsConsumerInfo_Destroy), or
//  NULL; a durable or stream that is gone makes the next poll set it up.
static jsConsumerInfo *
s_consumer_info (nats_t *self)
{
    jsOptions jo;
    s_js_opts (&jo, NATS_INFO_MS);
    jsConsumerInfo *ci = NULL;
    jsErrCode jerr = 0;
    natsStatus s = js_GetConsumerInfo (&ci, self->js, self->stream, self->group, &jo, &jerr);
    if (s == NATS_OK) {
        self->checked_ms = zclock_mono ();
        return ci;
    }
    s_log_error (self, s, "consumer info", self->group);
    if (jerr == JSConsumerNotFoundErr || jerr == JSStreamNotFoundErr || s == NATS_NOT_FOUND)
        s_consumer_lost (self);
    return NULL;
}

//  A producer; it creates the stream now when the server answers.
static void *
s_producer_new (const config_t *cfg, char *err, size_t errlen)
{
    nats_t *self = s_nats_new (cfg, NULL, err, errlen);
    if (self && s_connected (self))
        s_stream_setup (self, NATS_SETUP_MS);
    return self;
}

//  A consumer of group; it creates the stream and the durable now when the
//  server answers, else on the first poll that finds it up.
static void *
s_consumer_new (const config_t *cfg, const char *group, char *err, size_t errlen)
{
    nats_t *self = s_nats_new (cfg, group, err, errlen);
    if (self && s_connected (self))
        s_consumer_setup (self, NATS_SETUP_MS);
    return self;
}

//  The Nats-Msg-Id of one event: key, length and a hash of the payload, so
//  a retry of the same event is a duplicate and nothing else is.
static void
s_msg_id (const eventlog_msg_t *msg, char *buf, size_t len)
{
    uint64_t hash = 1469598103934665603ULL;
    for (size_t i = 0; i < msg->len; i++)
        hash = (hash ^ (uint8_t) msg->payload [i]) * 1099511628211ULL;
    snprintf (buf, len, "%s#%zu#%016" PRIx64, msg->key ? msg->key : "", msg->len, hash);
}

//  Publishes msgs in order, each acknowledged by the stream before the next
//  is sent; returns the acknowledged prefix length, or -1 when none was.
static int
s_publish (void *impl, const eventlog_msg_t *msgs, size_t count, int timeout_ms)
{
    nats_t *self = (nats_t *) impl;
    assert (self && !self->group);
    if (count > INT_MAX)
        count = INT_MAX;
    int64_t deadline = zclock_mono () + (timeout_ms > 0 ? timeout_ms : 0);
    if (!s_connected (self)) {
        s_log_error (self, NATS_CONNECTION_DISCONNECTED, "publish", "not connected");
        return -1;
    }
    if (!self->stream_ready && s_stream_setup (self, deadline - zclock_mono ()))
        return -1;
    size_t acked = 0;
    while (acked < count) {
        const eventlog_msg_t *msg = &msgs [acked];
        int64_t left = deadline - zclock_mono ();
        if (left <= 0) {
            s_log_error (self, NATS_TIMEOUT, "publish", "no time left for the batch");
            break;
        }
        char token [EVENT_ID_MAX + 8];
        char subject [sizeof self->prefix + sizeof token];
        char id [EVENT_ID_MAX + 64];
        s_token (msg->key, token, sizeof token);
        snprintf (subject, sizeof subject, "%s%s", self->prefix, token);
        s_msg_id (msg, id, sizeof id);
        natsMsg *m = NULL;
        natsStatus s = natsMsg_Create (&m, subject, NULL, msg->payload, (int) msg->len);
        if (s == NATS_OK)
            s = natsMsgHeader_Set (m, NATS_KEY_HEADER, msg->key ? msg->key : "");
        jsPubOptions po;
        jsPubOptions_Init (&po);
        po.MsgId = id;
        po.MaxWait = left;
        po.ExpectStream = self->stream;
        jsPubAck *pa = NULL;
        jsErrCode jerr = 0;
        if (s == NATS_OK)
            s = js_PublishMsg (&pa, self->js, m, &po, &jerr);
        natsMsg_Destroy (m);
        jsPubAck_Destroy (pa);
        if (s != NATS_OK) {
            //  No stream behind the subject (deleted, or a server that lost
            //  its store): set it up again on the next call.
            if (s == NATS_NO_RESPONDERS || jerr == JSStreamNotFoundErr)
                self->stream_ready = false;
            char detail [160];
            snprintf (detail, sizeof detail, "%zu of %zu acknowledged; stopped at %s",
                      acked, count, msg->key ? msg->key : "-");
            s_log_error (self, s, "publish", detail);
            break;
        }
        acked++;
    }
    return acked > 0 ? (int) acked : -1;
}

//  Moves the next fetched message into ev and into held. Returns 1, or -1
//  when it cannot be read (it is given back).
static int
s_hand_out (nats_t *self, eventlog_event_t *ev)
{
    natsMsg *m = self->fetched.Msgs [self->fetched_next];
    self->fetched.Msgs [self->fetched_next] = NULL;
    self->fetched_next++;
    jsMsgMetaData *meta = NULL;
    if (natsMsg_GetMetaData (&meta, m) != NATS_OK) {
        natsMsg_Nak (m, NULL);
        natsMsg_Destroy (m);
        return -1;
    }
    const char *key = NULL;
    if (natsMsgHeader_Get (m, NATS_KEY_HEADER, &key) != NATS_OK)
        key = "";
    int len = natsMsg_GetDataLength (m);
    memset (ev, 0, sizeof *ev);
    ev->partition = 0;
    ev->offset = (int64_t) meta->Sequence.Stream;
    jsMsgMetaData_Destroy (meta);
    ev->key = strdup (key ? key : "");
    ev->payload = (char *) malloc ((size_t) (len > 0 ? len : 0) + 1);
    if (self->held_count == self->held_cap) {
        size_t cap = self->held_cap ? self->held_cap * 2 : NATS_BATCH;
        natsMsg **held = (natsMsg **) realloc (self->held, cap * sizeof (natsMsg *));
        if (held) {
            self->held = held;
            self->held_cap = cap;
        }
    }
    if (!ev->key || !ev->payload || self->held_count == self->held_cap) {
        eventlog_event_reset (ev);
        natsMsg_Nak (m, NULL);
        natsMsg_Destroy (m);
        return -1;
    }
    if (len > 0)
        memcpy (ev->payload, natsMsg_GetData (m), (size_t) len);
    ev->payload [len > 0 ? len : 0] = 0;
    ev->len = (size_t) (len > 0 ? len : 0);
    self->held [self->held_count++] = m;
    return 1;
}

//  Hands out the next event of the group, fetching up to NATS_BATCH at a
//  time and waiting up to timeout_ms: 1, 0 none yet, -1 server unreachable.
static int
s_poll (void *impl, eventlog_event_t *ev, int timeout_ms)
{
    nats_t *self = (nats_t *) impl;
    assert (self && self->group);
    int64_t deadline = zclock_mono () + (timeout_ms > 0 ? timeout_ms : 0);
    while (true) {
        if (self->fetched_next < self->fetched.Count)
            return s_hand_out (self, ev);
        s_fetched_clear (self, false);
        int64_t left = deadline - zclock_mono ();
        if (!s_connected (self)) {
            //  Down: say so after a short wait, so a caller loop does not spin
            if (left > 0)
                zclock_sleep ((int) (left < 100 ? left : 100));
            s_log_error (self, NATS_CONNECTION_DISCONNECTED, "poll", "not connected");
            return -1;
        }
        if (!self->sub) {
            if (s_consumer_setup (self, left > NATS_SETUP_MS ? left : NATS_SETUP_MS))
                return -1;
            left = deadline - zclock_mono ();
        }
        if (left <= 0)
            return 0;
        jsErrCode jerr = 0;
        //  A fetch needs some time for the round trip: wait at least 10 ms
        int64_t slice = left < NATS_FETCH_SLICE_MS ? left : NATS_FETCH_SLICE_MS;
        natsStatus s = natsSubscription_Fetch (&self->fetched, self->sub, NATS_BATCH,
                                               slice > 10 ? slice : 10, &jerr);
        if (s == NATS_TIMEOUT && self->fetched.Count == 0) {
            //  A pull on a deleted durable just times out: look now and then
            if (zclock_mono () - self->checked_ms > NATS_CHECK_EVERY_MS)
                jsConsumerInfo_Destroy (s_consumer_info (self));
            if (deadline - zclock_mono () <= 0)
                return 0;
            continue;
        }
        if (self->fetched.Count > 0)
            self->checked_ms = zclock_mono ();       //  messages: the durable is there
        if (s != NATS_OK && self->fetched.Count == 0) {
            char detail [160];
            snprintf (detail, sizeof detail, "consumer %s, error code %d", self->group,
                      (int) jerr);
            s_log_error (self, s, "fetch", detail);
            //  The consumer or the stream is gone: set them up again
            if (s == NATS_NOT_FOUND || s == NATS_NO_RESPONDERS || jerr == JSConsumerNotFoundErr
            ||  jerr == JSStreamNotFoundErr)
                s_consumer_lost (self);
            return -1;
        }
    }
}

//  Acknowledges, and waits for the server to confirm, every message handed
//  out up to ev's stream sequence. Returns 0, or -1 when an ack was not
//  confirmed (the message then comes again after AckWait).
static int
s_commit (void *impl, const eventlog_event_t *ev)
{
    nats_t *self = (nats_t *) impl;
    assert (self && self->group);
    //  Down: an ack could only wait out its timeout; what stays unacked
    //  comes again after AckWait, which every sink absorbs
    bool connected = s_connected (self);
    int rc = 0;
    size_t kept = 0;
    for (size_t i = 0; i < self->held_count; i++) {
        natsMsg *m = self->held [i];
        jsMsgMetaData *meta = NULL;
        uint64_t seq = natsMsg_GetMetaData (&meta, m) == NATS_OK ? meta->Sequence.Stream : 0;
        jsMsgMetaData_Destroy (meta);
        if (seq > (uint64_t) ev->offset) {
            self->held [kept++] = m;
            continue;
        }
        jsOptions jo;
        s_js_opts (&jo, NATS_ACK_MS);
        jsErrCode jerr = 0;
        natsStatus s = connected ? natsMsg_AckSync (m, &jo, &jerr) : NATS_CONNECTION_DISCONNECTED;
        if (s != NATS_OK) {
            char detail [160];
            snprintf (detail, sizeof detail, "sequence %" PRIu64 " of %s, error code %d", seq,
                      self->group, (int) jerr);
            s_log_error (self, s, "commit", detail);
            rc = -1;
        }
        natsMsg_Destroy (m);
    }
    self->held_count = kept;
    return rc;
}

//  The group's events not yet acknowledged: pending + ack pending, asked of
//  the server; -1 when it does not answer.
static int64_t
s_lag (void *impl)
{
    nats_t *self = (nats_t *) impl;
    assert (self);
    if (!self->group || !s_connected (self))
        return -1;
    if (!self->sub && s_consumer_setup (self, NATS_SETUP_MS))
        return -1;
    jsConsumerInfo *ci = s_consumer_info (self);
    if (!ci)
        return -1;
    int64_t lag = (int64_t) ci->NumPending + ci->NumAckPending;
    jsConsumerInfo_Destroy (ci);
    return lag;
}

const eventlog_backend_t eventlog_nats = {
    .name = "nats",
    .producer_new = s_producer_new,
    .publish = s_publish,
    .consumer_new = s_consumer_new,
    .poll = s_poll,
    .commit = s_commit,
    .lag = s_lag,
    .destroy = s_nats_destroy,
};
