/*  eventlog_kafka — the event log on Apache Kafka through librdkafka.

    Producer: idempotent (enable.idempotence=true implies acks=all and
    in-order retries), keyed by order number so one order stays in one
    partition (murmur2 partitioner, as Java clients use). publish() produces
    a batch and serves delivery reports until every message is reported or
    the caller's timeout passes; it returns the acknowledged prefix.
    Messages still in flight when publish() gives up stay tracked by key:
    when the caller retries the same event, we wait on the copy already in
    flight instead of producing it again, so an outage does not pile up
    duplicates in librdkafka's queue.

    Consumer: a balanced group consumer with the cooperative-sticky
    assignor: a rebalance (a projector joining or leaving) assigns and
    revokes only the partitions that move (librdkafka's own rebalance
    handling does the incremental assign and unassign under the cooperative
    protocol; a callback of ours that did the same stalled the first
    assignment on the mock cluster, so there is none), and the members that
    keep theirs never stop consuming. It commits manually only; commit()
    stores (partition, offset + 1) synchronously, with a bounded wait, after
    the caller's own sink transaction committed. A commit the group refuses
    because it rebalanced (generation, member, rebalance errors) is reported
    as done: it can never succeed until the caller polls again, and the
    partition's new owner resumes from the last commit, so the event is at
    worst delivered twice, which every sink applies idempotently.

    Lag: the group's, as the other backends give it: what lies after the
    group's committed offsets, over every partition of the topic, asked of
    the broker. A member's own assignment would not do: between assignments
    (a rebalance after an outage, say) it is empty and its lag read 0 while
    the display fell behind.

    librdkafka before 2.3.0 (Debian 12 has 2.0.2) aborts in
    rd_kafka_sticky_assignor_state_destroy when a cooperative-sticky
    consumer is destroyed after a JoinGroup answer chose its assignor and
    before any SyncGroup answer gave the assignor its state (librdkafka
    issue 4312): a projector stopped while its group keeps rebalancing. So
    a consumer remembers whether it was ever assigned a partition, and one
    that left its group without that, while the group had chosen an
    assignor, is closed but not destroyed: the handle is kept, reachable,
    until the process exits.

    Every handle belongs to the one thread that uses it. */
#include "eventlog.h"
#include <librdkafka/rdkafka.h>

#define KAFKA_DEFAULT_TOPIC     "order-events"
#define KAFKA_MESSAGE_TIMEOUT   "30000"     //  ms a message may wait for delivery
#define KAFKA_LINGER_MS         "5"         //  ms a batch may wait to fill
#define KAFKA_SESSION_TIMEOUT   "10000"     //  ms before a dead member is evicted
#define KAFKA_FLUSH_MS          5000        //  destroy: wait for outstanding messages
#define KAFKA_CLOSE_MS          5000        //  destroy: wait for the group leave
#define KAFKA_COMMIT_MS         10000       //  commit: wait for the broker's answer
#define KAFKA_POLL_SLICE_MS     50          //  publish: delivery report poll slice
#define KAFKA_LOG_EVERY_MS      10000       //  rate limit of repeated error lines
#define KAFKA_ASSIGNED_CHECK_MS 1000        //  poll: how often an unassigned consumer looks
#define KAFKA_LAG_WAIT_MS       1000        //  lag: longest wait for the broker's answers
#define KAFKA_LAG_RETRY_MS      5000        //  lag: after a look that failed, the next no sooner
#define KAFKA_LAG_TOPIC_MS      10000       //  lag: how long a partition count is kept
#define KAFKA_FIXED_4312        0x020300ff  //  first librdkafka that destroys any consumer

//  One event produced and not yet forgotten; the message opaque points here.
typedef struct {
    int state;                      //  0 in flight, 1 acknowledged, -1 failed
    rd_kafka_resp_err_t err;        //  delivery error when failed
} s_flight_t;

typedef struct {
    rd_kafka_t *rk;                 //  librdkafka handle (producer or consumer)
    rd_kafka_conf_t *conf;          //  producer: settings to rebuild rk after a fatal error
    char topic [128];               //  topic of order events
    bool consumer;                  //  true for a consumer handle
    zhashx_t *flights;              //  producer: flight key -> s_flight_t
    rd_kafka_queue_t *commits;      //  consumer: queue of commit results
    uintptr_t commit_seq;           //  consumer: opaque of the last commit sent
    int64_t last_error_log_ms;      //  when an error line was last written
    rd_kafka_resp_err_t last_error; //  the error that line was about
    int64_t last_client_log_ms;     //  when a client error line was last written
    bool assigned;                  //  consumer: ever held a partition
    int64_t assigned_checked_ms;    //  consumer: when assigned was last looked up
    rd_kafka_t *observer;           //  consumer: a client of the group that never joins it (lag)
    rd_kafka_topic_t *rkt;          //  consumer: the topic on observer, for its metadata
    int partitions;                 //  consumer: the topic's partitions as last asked, -1 never
    int64_t partitions_ms;          //  consumer: when they were asked
    int64_t lag_failed_ms;          //  consumer: when a look at the lag last failed, 0 none since
} kafka_t;

//  A consumer handle librdkafka cannot destroy, kept until exit.
typedef struct s_kept_s {
    rd_kafka_t *rk;
    struct s_kept_s *next;
} s_kept_t;

static s_kept_t *s_kept;            //  every kept handle, reachable to the end
static pthread_mutex_t s_kept_lock = PTHREAD_MUTEX_INITIALIZER;

//  Frees a flight record; the destructor of the flights table.
static void
s_flight_destroy (void **item_p)
{
    if (item_p && *item_p) {
        free (*item_p);
        *item_p = NULL;
    }
}

//  The table key of one event: key, length and a hash of the payload, so a
//  retry of the same event finds its copy in flight and nothing else does.
static void
s_flight_key (const eventlog_msg_t *msg, char *buf, size_t len)
{
    uint64_t hash = 1469598103934665603ULL;
    for (size_t i = 0; i < msg->len; i++)
        hash = (hash ^ (uint8_t) msg->payload [i]) * 1099511628211ULL;
    snprintf (buf, len, "%s#%zu#%016" PRIx64, msg->key ? msg->key : "", msg->len, hash);
}

//  Writes an error line unless the same error was logged recently: a broker
//  outage must give a line now and then, not one per message or poll.
static void
s_log_error (kafka_t *self, rd_kafka_resp_err_t err, const char *what, const char *detail)
{
    int64_t now = util_now_ms (0);
    if (err == self->last_error && now - self->last_error_log_ms < KAFKA_LOG_EVERY_MS)
        return;
    self->last_error = err;
    self->last_error_log_ms = now;
    log_warn (NULL, "kafka %s: %s (%s)", what, rd_kafka_err2str (err), detail ? detail : "");
}

//  Delivery report: called from rd_kafka_poll in the producer's thread.
static void
s_delivery_report (rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque)
{
    s_flight_t *flight = (s_flight_t *) msg->_private;
    if (!flight)
        return;
    if (msg->err) {
        flight->state = -1;
        flight->err = msg->err;
    }
    else
        flight->state = 1;
}

//  librdkafka's own log lines, in ours. Called from librdkafka threads; a
//  log line is one write(2), so that is safe.
static void
s_log_cb (const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    //  Connection failures come at LOG_ERR and again through s_error_cb,
    //  rate-limited there; only worse than that is worth a line of its own.
    if (level <= 2)
        log_error (NULL, "rdkafka %s: %s", fac, buf);
    else
        log_debug (NULL, "rdkafka %s: %s", fac, buf);
}

//  Error events of the client (broker down, fatal idempotence errors). The
//  client retries by itself; we only log, rate-limited.
static void
s_error_cb (rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    kafka_t *self = (kafka_t *) opaque;
    if (err == RD_KAFKA_RESP_ERR__FATAL) {
        log_error (NULL, "kafka fatal error: %s", reason);
        return;
    }
    //  An outage raises transport and all-brokers-down errors in turns;
    //  one line per KAFKA_LOG_EVERY_MS says enough.
    int64_t now = util_now_ms (0);
    if (self->last_client_log_ms && now - self->last_client_log_ms < KAFKA_LOG_EVERY_MS)
        return;
    self->last_client_log_ms = now;
    log_warn (NULL, "kafka client: %s (%s)", rd_kafka_err2str ((rd_kafka_resp_err_t) err),
              reason);
}

//  Sets name=value on conf or fills err.
static int
s_conf_set (rd_kafka_conf_t *conf, const char *name, const char *value, char *err,
            size_t errlen)
{
    char errstr [256];
    if (rd_kafka_conf_set (conf, name, value, errstr, sizeof errstr) != RD_KAFKA_CONF_OK) {
        snprintf (err, errlen, "kafka config %s=%s: %s", name, value, errstr);
        return -1;
    }
    return 0;
}

//  Reads a secret value from the first line of path (the @/path form of
//  --kafka-option) into value (size bytes). 0, or -1 with err filled.
static int
s_option_file (const char *key, const char *path, char *value, size_t size, char *err,
               size_t errlen)
{
    FILE *file = fopen (path, "r");
    if (!file) {
        snprintf (err, errlen, "--kafka-option %s=@%s: %s", key, path, strerror (errno));
        return -1;
    }
    bool read = fgets (value, (int) size, file) != NULL;
    fclose (file);
    size_t len = read? strcspn (value, "\r\n"): 0;
    if (!read || len == 0 || len >= size - 1) {
        explicit_bzero (value, size);
        snprintf (err, errlen, "--kafka-option %s=@%s: %s", key, path,
                  len? "the first line is too long": "the first line is empty");
        return -1;
    }
    value [len] = '\0';
    return 0;
}

//  Applies the operator's --kafka-option lines (key=value, value @/path
//  read from that file) on conf, after ours, so they may override them.
//  librdkafka's own message says what is wrong; values are never echoed
//  (sasl.password, ssl.key.password …).
static int
s_conf_options (rd_kafka_conf_t *conf, const char *options, char *err, size_t errlen)
{
    const char *line = options;
    while (line && *line) {
        const char *end = strchr (line, '\n');
        size_t len = end? (size_t) (end - line): strlen (line);
        char item [1024];
        char secret [1024];
        if (len >= sizeof item) {
            snprintf (err, errlen, "--kafka-option: a setting is longer than %zu bytes",
                      sizeof item - 1);
            return -1;
        }
        memcpy (item, line, len);
        item [len] = '\0';
        line = end? end + 1: NULL;
        char *eq = strchr (item, '=');
        if (!eq)
            continue;           //  config.c only lets key=value through
        *eq = '\0';
        const char *key = item, *value = eq + 1;
        if (*value == '@') {
            if (s_option_file (key, value + 1, secret, sizeof secret, err, errlen)) {
                explicit_bzero (item, sizeof item);
                return -1;
            }
            value = secret;
        }
        char errstr [512];
        rd_kafka_conf_res_t rc = rd_kafka_conf_set (conf, key, value, errstr, sizeof errstr);
        explicit_bzero (secret, sizeof secret);
        if (rc != RD_KAFKA_CONF_OK) {
            snprintf (err, errlen, "--kafka-option %s: %s", key, errstr);
            explicit_bzero (item, sizeof item);
            return -1;
        }
        explicit_bzero (item, sizeof item);
    }
    return 0;
}

//  Checks the --kafka-option settings the way producer and consumers will
//  apply them, so a bad key or an unreadable secret file fails the start.
int
eventlog_kafka_check (const config_t *cfg, char *err, size_t errlen)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new ();
    int rc = s_conf_options (conf, cfg->kafka_options, err, errlen);
    rd_kafka_conf_destroy (conf);
    return rc;
}

//  The settings producer and consumer share, then tunables (key, value
//  pairs ended by NULL, or NULL), then the operator's --kafka-option lines,
//  which may override both.
static rd_kafka_conf_t *
s_conf_new (kafka_t *self, const config_t *cfg, const char *const *tunables, char *err,
            size_t errlen)
{
    if (!cfg->kafka_brokers [0]) {
        snprintf (err, errlen, "--bridge kafka needs --kafka-brokers");
        return NULL;
    }
    rd_kafka_conf_t *conf = rd_kafka_conf_new ();
    if (s_conf_set (conf, "bootstrap.servers", cfg->kafka_brokers, err, errlen)
    ||  s_conf_set (conf, "client.id", "coffee", err, errlen)
    //  Come back quickly after an outage; the default waits up to 10 s.
    ||  s_conf_set (conf, "reconnect.backoff.ms", "100", err, errlen)
    ||  s_conf_set (conf, "reconnect.backoff.max.ms", "1000", err, errlen)
    ||  s_conf_set (conf, "log.connection.close", "false", err, errlen)) {
        rd_kafka_conf_destroy (conf);
        return NULL;
    }
    for (int i = 0; tunables && tunables [i]; i += 2)
        if (s_conf_set (conf, tunables [i], tunables [i + 1], err, errlen)) {
            rd_kafka_conf_destroy (conf);
            return NULL;
        }
    if (s_conf_options (conf, cfg->kafka_options, err, errlen)) {
        rd_kafka_conf_destroy (conf);
        return NULL;
    }
    rd_kafka_conf_set_opaque (conf, self);
    rd_kafka_conf_set_log_cb (conf, s_log_cb);
    rd_kafka_conf_set_error_cb (conf, s_error_cb);
    return conf;
}

//  A kafka_t with the topic from cfg.
static kafka_t *
s_kafka_new (const config_t *cfg)
{
    kafka_t *self = (kafka_t *) zmalloc (sizeof (kafka_t));
    snprintf (self->topic, sizeof self->topic, "%s",
              cfg->kafka_topic [0] ? cfg->kafka_topic : KAFKA_DEFAULT_TOPIC);
    self->partitions = -1;
    return self;
}

//  Sets self->assigned when the consumer holds a partition now. A partition
//  comes only with a SyncGroup answer, which gives the assignor its state.
static void
s_check_assigned (kafka_t *self)
{
    self->assigned_checked_ms = zclock_mono ();
    rd_kafka_topic_partition_list_t *parts = NULL;
    if (rd_kafka_assignment (self->rk, &parts) == RD_KAFKA_RESP_ERR_NO_ERROR && parts)
        self->assigned = self->assigned || parts->cnt > 0;
    if (parts)
        rd_kafka_topic_partition_list_destroy (parts);
}

//  True when librdkafka can destroy this closed consumer (see the header):
//  a fixed librdkafka, a consumer that was assigned, or a group that never
//  chose an assignor (after the close none can be chosen any more).
static bool
s_destroy_safe (kafka_t *self)
{
    if (rd_kafka_version () >= KAFKA_FIXED_4312 || self->assigned)
        return true;
    const char *protocol = rd_kafka_rebalance_protocol (self->rk);
    return protocol && streq (protocol, "NONE");
}

//  Keeps a closed consumer handle that librdkafka cannot destroy.
static void
s_keep (rd_kafka_t *rk)
{
    log_warn (NULL, "kafka consumer: left its group before its first assignment; librdkafka "
              "%s aborts when such a handle is destroyed (librdkafka issue 4312, fixed in "
              "2.3.0), so it stays open until the process exits", rd_kafka_version_str ());
    s_kept_t *kept = (s_kept_t *) zmalloc (sizeof (s_kept_t));
    kept->rk = rk;
    pthread_mutex_lock (&s_kept_lock);
    kept->next = s_kept;
    s_kept = kept;
    pthread_mutex_unlock (&s_kept_lock);
}

//  Destroys a producer or consumer handle, waiting a bounded time for
//  outstanding messages (producer) or the group leave (consumer).
static void
s_kafka_destroy (void **impl_p)
{
    if (!impl_p || !*impl_p)
        return;
    kafka_t *self = (kafka_t *) *impl_p;
    if (self->rk && !self->consumer) {
        if (rd_kafka_flush (self->rk, KAFKA_FLUSH_MS) != RD_KAFKA_RESP_ERR_NO_ERROR) {
            log_warn (NULL, "kafka producer: %d messages undelivered at exit; "
                      "the outbox keeps them for the next start", rd_kafka_outq_len (self->rk));
            rd_kafka_purge (self->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
            rd_kafka_poll (self->rk, 0);
        }
        rd_kafka_destroy (self->rk);
    }
    else
    if (self->rk) {
        if (!self->assigned)
            s_check_assigned (self);        //  before the close gives up the partitions
        rd_kafka_queue_t *queue = rd_kafka_queue_new (self->rk);
        rd_kafka_error_t *error = rd_kafka_consumer_close_queue (self->rk, queue);
        if (error) {
            log_warn (NULL, "kafka consumer close: %s", rd_kafka_error_string (error));
            rd_kafka_error_destroy (error);
        }
        else {
            int64_t deadline = zclock_mono () + KAFKA_CLOSE_MS;
            while (!rd_kafka_consumer_closed (self->rk) && zclock_mono () < deadline) {
                rd_kafka_event_t *event = rd_kafka_queue_poll (queue, KAFKA_POLL_SLICE_MS);
                if (event)
                    rd_kafka_event_destroy (event);
            }
            if (!rd_kafka_consumer_closed (self->rk))
                log_warn (NULL, "kafka consumer: group leave timed out");
        }
        rd_kafka_queue_destroy (queue);
        if (self->commits)
            rd_kafka_queue_destroy (self->commits);
        if (s_destroy_safe (self))
            rd_kafka_destroy_flags (self->rk, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
        else
            s_keep (self->rk);
    }
    if (self->rkt)
        rd_kafka_topic_destroy (self->rkt);
    if (self->observer)
        rd_kafka_destroy (self->observer);
    if (self->conf)
        rd_kafka_conf_destroy (self->conf);
    zhashx_destroy (&self->flights);
    free (self);
    *impl_p = NULL;
}

//  Creates the producer handle from self->conf. Returns 0 or -1 with err.
static int
s_producer_start (kafka_t *self, char *err, size_t errlen)
{
    char errstr [256];
    rd_kafka_conf_t *conf = rd_kafka_conf_dup (self->conf);
    self->rk = rd_kafka_new (RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
    if (!self->rk) {
        rd_kafka_conf_destroy (conf);
        snprintf (err, errlen, "kafka producer: %s", errstr);
        return -1;
    }
    return 0;
}

//  An idempotent producer hit a fatal error (e.g. its producer id fenced)
//  and can produce no more: fail what it holds and start a fresh one.
//  Returns 0 or -1.
static int
s_producer_restart (kafka_t *self)
{
    if (self->rk) {
        rd_kafka_purge (self->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
        rd_kafka_poll (self->rk, 0);
        rd_kafka_destroy (self->rk);
        self->rk = NULL;
    }
    //  Reports that did not come are lost with the handle.
    for (s_flight_t *flight = (s_flight_t *) zhashx_first (self->flights); flight;
         flight = (s_flight_t *) zhashx_next (self->flights))
        if (flight->state == 0) {
            flight->state = -1;
            flight->err = RD_KAFKA_RESP_ERR__FATAL;
        }
    char err [512];
    if (s_producer_start (self, err, sizeof err)) {
        log_error (NULL, "%s", err);
        return -1;
    }
    return 0;
}

//  An idempotent producer to cfg->kafka_brokers.
static void *
s_producer_new (const config_t *cfg, char *err, size_t errlen)
{
    kafka_t *self = s_kafka_new (cfg);
    self->flights = zhashx_new ();
    zhashx_set_destructor (self->flights, s_flight_destroy);
    //  Batching and delivery time are the operator's to tune; idempotent,
    //  acknowledged-by-all and keyed delivery are not.
    static const char *const tunables [] = {
        "linger.ms", KAFKA_LINGER_MS,
        "message.timeout.ms", KAFKA_MESSAGE_TIMEOUT,
        NULL
    };
    rd_kafka_conf_t *conf = s_conf_new (self, cfg, tunables, err, errlen);
    if (!conf)
        goto fail;
    if (s_conf_set (conf, "enable.idempotence", "true", err, errlen)
    ||  s_conf_set (conf, "acks", "all", err, errlen)
    ||  s_conf_set (conf, "partitioner", "murmur2_random", err, errlen)) {
        rd_kafka_conf_destroy (conf);
        goto fail;
    }
    rd_kafka_conf_set_dr_msg_cb (conf, s_delivery_report);
    self->conf = conf;
    if (s_producer_start (self, err, errlen))
        goto fail;
    return self;
fail:
    s_kafka_destroy ((void **) &self);
    return NULL;
}

//  Produces one message for flight, retrying a full local queue until
//  deadline. Returns 0 or -1 (flight marked failed).
static int
s_produce (kafka_t *self, const eventlog_msg_t *msg, s_flight_t *flight, int64_t deadline)
{
    while (true) {
        rd_kafka_resp_err_t rc = rd_kafka_producev (
            self->rk,
            RD_KAFKA_V_TOPIC (self->topic),
            RD_KAFKA_V_KEY (msg->key, msg->key ? strlen (msg->key) : 0),
            RD_KAFKA_V_VALUE ((void *) msg->payload, msg->len),
            RD_KAFKA_V_MSGFLAGS (RD_KAFKA_MSG_F_COPY),
            RD_KAFKA_V_OPAQUE (flight),
            RD_KAFKA_V_END);
        if (rc == RD_KAFKA_RESP_ERR_NO_ERROR)
            return 0;
        if (rc != RD_KAFKA_RESP_ERR__QUEUE_FULL || zclock_mono () >= deadline) {
            flight->state = -1;
            flight->err = rc;
            return -1;
        }
        rd_kafka_poll (self->rk, KAFKA_POLL_SLICE_MS);
    }
}

//  Forgets every flight with a final state; those still in flight stay, so
//  their delivery reports find them and a retry can wait on them.
static void
s_flights_sweep (kafka_t *self)
{
    zlistx_t *done = zlistx_new ();
    for (s_flight_t *flight = (s_flight_t *) zhashx_first (self->flights); flight;
         flight = (s_flight_t *) zhashx_next (self->flights))
        if (flight->state != 0)
            zlistx_add_end (done, (void *) zhashx_cursor (self->flights));
    for (const char *key = (const char *) zlistx_first (done); key;
         key = (const char *) zlistx_next (done))
        zhashx_delete (self->flights, key);
    zlistx_destroy (&done);
}

//  Publishes msgs in order; returns the acknowledged prefix length, or -1
//  when none was acknowledged.
static int
s_publish (void *impl, const eventlog_msg_t *msgs, size_t count, int timeout_ms)
{
    kafka_t *self = (kafka_t *) impl;
    assert (self && !self->consumer);
    if (count == 0)
        return 0;
    int64_t deadline = zclock_mono () + (timeout_ms > 0 ? timeout_ms : 0);

    if (!self->rk && s_producer_restart (self))
        return -1;
    char fatal [256];
    rd_kafka_resp_err_t fatal_err = rd_kafka_fatal_error (self->rk, fatal, sizeof fatal);
    if (fatal_err) {
        s_log_error (self, fatal_err, "producer restarted after", fatal);
        if (s_producer_restart (self))
            return -1;
    }
    //  One flight per message: reuse a copy still in flight, else produce.
    s_flight_t **batch = (s_flight_t **) zmalloc (count * sizeof (s_flight_t *));
    size_t produced = 0;
    while (produced < count) {
        char key [EVENT_ID_MAX + 64];
        s_flight_key (&msgs [produced], key, sizeof key);
        s_flight_t *flight = (s_flight_t *) zhashx_lookup (self->flights, key);
        if (flight && flight->state == -1) {
            zhashx_delete (self->flights, key);
            flight = NULL;
        }
        if (!flight) {
            flight = (s_flight_t *) zmalloc (sizeof (s_flight_t));
            zhashx_insert (self->flights, key, flight);
            if (s_produce (self, &msgs [produced], flight, deadline)) {
                batch [produced++] = flight;
                break;          //  later messages could not count anyway
            }
        }
        batch [produced++] = flight;
    }
    //  Serve delivery reports until all are in or time is up.
    while (true) {
        size_t pending = 0;
        for (size_t i = 0; i < produced; i++)
            if (batch [i]->state == 0)
                pending++;
        int64_t left = deadline - zclock_mono ();
        if (pending == 0 || left <= 0)
            break;
        rd_kafka_poll (self->rk, (int) (left < KAFKA_POLL_SLICE_MS ? left : KAFKA_POLL_SLICE_MS));
    }
    size_t prefix = 0;
    while (prefix < produced && batch [prefix]->state == 1)
        prefix++;
    //  One line per batch about what held it back.
    if (prefix < count) {
        char detail [128];
        if (prefix < produced && batch [prefix]->state == -1) {
            snprintf (detail, sizeof detail, "%zu of %zu acknowledged; first failure at %s",
                      prefix, count, msgs [prefix].key ? msgs [prefix].key : "-");
            s_log_error (self, batch [prefix]->err, "delivery", detail);
        }
        else {
            snprintf (detail, sizeof detail, "%zu of %zu acknowledged within %d ms",
                      prefix, count, timeout_ms);
            s_log_error (self, RD_KAFKA_RESP_ERR__TIMED_OUT, "delivery", detail);
        }
    }
    free (batch);
    s_flights_sweep (self);
    return prefix > 0 ? (int) prefix : -1;
}

//  A consumer client of group (tunables as s_conf_new) that commits only
//  when told and reads from the earliest event where the group has no
//  commit; NULL with why in err.
static rd_kafka_t *
s_group_client (kafka_t *self, const config_t *cfg, const char *group,
                const char *const *tunables, char *err, size_t errlen)
{
    rd_kafka_conf_t *conf = s_conf_new (self, cfg, tunables, err, errlen);
    if (!conf)
        return NULL;
    if (s_conf_set (conf, "group.id", group, err, errlen)
    ||  s_conf_set (conf, "enable.auto.commit", "false", err, errlen)
    ||  s_conf_set (conf, "enable.auto.offset.store", "false", err, errlen)
    ||  s_conf_set (conf, "auto.offset.reset", "earliest", err, errlen)) {
        rd_kafka_conf_destroy (conf);
        return NULL;
    }
    char errstr [256];
    rd_kafka_t *rk = rd_kafka_new (RD_KAFKA_CONSUMER, conf, errstr, sizeof errstr);
    if (!rk) {
        rd_kafka_conf_destroy (conf);
        snprintf (err, errlen, "kafka consumer: %s", errstr);
    }
    return rk;
}

//  A consumer of the topic in group, committing only when told.
static void *
s_consumer_new (const config_t *cfg, const char *group, char *err, size_t errlen)
{
    kafka_t *self = s_kafka_new (cfg);
    self->consumer = true;
    rd_kafka_topic_partition_list_t *topics = NULL;
    //  Group timing and the assignor are the operator's to tune
    //  (--kafka-option); what makes delivery at-least-once is not.
    static const char *const tunables [] = {
        "session.timeout.ms", KAFKA_SESSION_TIMEOUT,
        "heartbeat.interval.ms", "1000",
        "partition.assignment.strategy", "cooperative-sticky",
        NULL
    };
    self->rk = s_group_client (self, cfg, group, tunables, err, errlen);
    if (!self->rk)
        goto fail;
    rd_kafka_poll_set_consumer (self->rk);
    self->commits = rd_kafka_queue_new (self->rk);
    topics = rd_kafka_topic_partition_list_new (1);
    rd_kafka_topic_partition_list_add (topics, self->topic, RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t rc = rd_kafka_subscribe (self->rk, topics);
    rd_kafka_topic_partition_list_destroy (topics);
    if (rc) {
        snprintf (err, errlen, "kafka subscribe %s: %s", self->topic, rd_kafka_err2str (rc));
        goto fail;
    }
    //  The lag's client: of the group, to read its commits, but never
    //  subscribed, so it never joins (see s_lag).
    self->observer = s_group_client (self, cfg, group, NULL, err, errlen);
    if (!self->observer)
        goto fail;
    return self;
fail:
    s_kafka_destroy ((void **) &self);
    return NULL;
}

//  Waits up to timeout_ms for the next event: 1 filled, 0 none, -1 error.
static int
s_poll (void *impl, eventlog_event_t *ev, int timeout_ms)
{
    kafka_t *self = (kafka_t *) impl;
    assert (self && self->consumer);
    int64_t deadline = zclock_mono () + (timeout_ms > 0 ? timeout_ms : 0);
    if (!self->assigned && zclock_mono () - self->assigned_checked_ms >= KAFKA_ASSIGNED_CHECK_MS)
        s_check_assigned (self);
    while (true) {
        int64_t left = deadline - zclock_mono ();
        rd_kafka_message_t *msg = rd_kafka_consumer_poll (self->rk, left > 0 ? (int) left : 0);
        if (!msg)
            return 0;
        if (msg->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            rd_kafka_message_destroy (msg);
            if (left <= 0)
                return 0;
            continue;
        }
        if (msg->err) {
            s_log_error (self, msg->err, "consume", rd_kafka_message_errstr (msg));
            rd_kafka_message_destroy (msg);
            return -1;
        }
        self->assigned = true;
        memset (ev, 0, sizeof *ev);
        ev->partition = msg->partition;
        ev->offset = msg->offset;
        ev->key = strndup (msg->key ? (const char *) msg->key : "", msg->key ? msg->key_len : 0);
        ev->payload = (char *) malloc (msg->len + 1);
        if (!ev->key || !ev->payload) {
            rd_kafka_message_destroy (msg);
            eventlog_event_reset (ev);
            return -1;
        }
        if (msg->len)
            memcpy (ev->payload, msg->payload, msg->len);
        ev->payload [msg->len] = 0;
        ev->len = msg->len;
        rd_kafka_message_destroy (msg);
        return 1;
    }
}

//  True for commit errors that mean the group was rebalanced under us.
static bool
s_rebalance_error (rd_kafka_resp_err_t err)
{
    return err == RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS
        || err == RD_KAFKA_RESP_ERR_ILLEGAL_GENERATION
        || err == RD_KAFKA_RESP_ERR_UNKNOWN_MEMBER_ID
        || err == RD_KAFKA_RESP_ERR_FENCED_INSTANCE_ID
        || err == RD_KAFKA_RESP_ERR__ASSIGNMENT_LOST;
}

//  Commits (partition, offset + 1) for the group and waits for the answer.
//  A commit refused because the group rebalanced counts as done: see below.
static int
s_commit (void *impl, const eventlog_event_t *ev)
{
    kafka_t *self = (kafka_t *) impl;
    assert (self && self->consumer);
    //  Results of commits that timed out earlier are of no interest now.
    rd_kafka_event_t *event;
    while ((event = rd_kafka_queue_poll (self->commits, 0)))
        rd_kafka_event_destroy (event);

    rd_kafka_topic_partition_list_t *offsets = rd_kafka_topic_partition_list_new (1);
    rd_kafka_topic_partition_list_add (offsets, self->topic, ev->partition)->offset =
        ev->offset + 1;
    uintptr_t seq = ++self->commit_seq;
    rd_kafka_resp_err_t rc =
        rd_kafka_commit_queue (self->rk, offsets, self->commits, NULL, (void *) seq);
    rd_kafka_topic_partition_list_destroy (offsets);
    if (rc) {
        s_log_error (self, rc, "commit", NULL);
        return -1;
    }
    int64_t deadline = zclock_mono () + KAFKA_COMMIT_MS;
    while (true) {
        int64_t left = deadline - zclock_mono ();
        if (left <= 0) {
            s_log_error (self, RD_KAFKA_RESP_ERR__TIMED_OUT, "commit", "no answer");
            return -1;
        }
        event = rd_kafka_queue_poll (self->commits, (int) left);
        if (!event)
            continue;
        bool ours = rd_kafka_event_type (event) == RD_KAFKA_EVENT_OFFSET_COMMIT
                 && (uintptr_t) rd_kafka_event_opaque (event) == seq;
        if (!ours) {
            rd_kafka_event_destroy (event);
            continue;
        }
        rc = rd_kafka_event_error (event);
        const rd_kafka_topic_partition_list_t *parts =
            rd_kafka_event_topic_partition_list (event);
        if (!rc && parts && parts->cnt > 0)
            rc = parts->elems [0].err;
        rd_kafka_event_destroy (event);
        if (rc && s_rebalance_error (rc)) {
            //  The group moved on: the position can no longer be ours to
            //  commit, and retrying cannot help until the caller polls
            //  again (that is what rejoins the group). Whoever owns the
            //  partition now resumes from the group's last commit, so the
            //  event is at worst delivered again, which every sink applies
            //  idempotently. Report success so the caller goes on polling.
            s_log_error (self, rc, "commit",
                         "partition reassigned; the event will be redelivered to its owner");
            return 0;
        }
        if (rc) {
            s_log_error (self, rc, "commit", NULL);
            return -1;
        }
        return 0;
    }
}

//  Milliseconds left until deadline, at least 1 (librdkafka reads 0 as
//  "do not wait at all").
static int
s_left_ms (int64_t deadline)
{
    int64_t left = deadline - zclock_mono ();
    return left < 1 ? 1 : (int) left;
}

//  The topic's partition count from the broker's metadata, kept for
//  KAFKA_LAG_TOPIC_MS; 0 while the topic does not exist, -1 on failure.
static int
s_partitions (kafka_t *self, int64_t deadline)
{
    if (self->partitions > 0 && zclock_mono () - self->partitions_ms < KAFKA_LAG_TOPIC_MS)
        return self->partitions;
    if (!self->rkt)
        self->rkt = rd_kafka_topic_new (self->observer, self->topic, NULL);
    if (!self->rkt)
        return -1;
    const struct rd_kafka_metadata *md = NULL;
    if (rd_kafka_metadata (self->observer, 0, self->rkt, &md, s_left_ms (deadline)))
        return -1;
    int count = -1;
    if (md->topic_cnt == 1 && streq (md->topics [0].topic, self->topic)) {
        rd_kafka_resp_err_t err = md->topics [0].err;
        if (err == RD_KAFKA_RESP_ERR_NO_ERROR)
            count = md->topics [0].partition_cnt;
        else
        if (err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART)
            count = 0;
    }
    rd_kafka_metadata_destroy (md);
    self->partitions = count;
    self->partitions_ms = zclock_mono ();
    return count;
}

//  The offset of partition in list (as a lookup answered it), or -1 when
//  it is missing or came with an error.
static int64_t
s_offset_of (const rd_kafka_topic_partition_list_t *list, const char *topic, int partition)
{
    const rd_kafka_topic_partition_t *part =
        list ? rd_kafka_topic_partition_list_find (list, topic, partition) : NULL;
    return part && !part->err ? part->offset : -1;
}

//  Events after the group's committed positions, over every partition of
//  the topic, asked of the broker before deadline: the group's commits in
//  one request, the partitions' ends in one request per leader, and the
//  beginnings of partitions the group never committed likewise. -1 when
//  it cannot tell. (A commit below what retention kept counts from the
//  commit: events deleted before the group got to them count as behind.)
static int64_t
s_group_lag (kafka_t *self, int64_t deadline)
{
    int count = s_partitions (self, deadline);
    if (count <= 0)
        return count;           //  no topic yet: nothing to apply
    rd_kafka_topic_partition_list_t *commits = rd_kafka_topic_partition_list_new (count);
    rd_kafka_topic_partition_list_t *ends = rd_kafka_topic_partition_list_new (count);
    rd_kafka_topic_partition_list_t *starts = rd_kafka_topic_partition_list_new (count);
    for (int p = 0; p < count; p++) {
        rd_kafka_topic_partition_list_add (commits, self->topic, p);
        rd_kafka_topic_partition_list_add (ends, self->topic, p)->offset = RD_KAFKA_OFFSET_END;
    }
    int64_t lag = -1;
    if (rd_kafka_committed (self->observer, commits, s_left_ms (deadline)) == 0
    &&  rd_kafka_offsets_for_times (self->observer, ends, s_left_ms (deadline)) == 0) {
        for (int i = 0; i < commits->cnt; i++)
            if (!commits->elems [i].err && commits->elems [i].offset < 0)
                rd_kafka_topic_partition_list_add (starts, self->topic,
                    commits->elems [i].partition)->offset = RD_KAFKA_OFFSET_BEGINNING;
        if (starts->cnt == 0
        ||  rd_kafka_offsets_for_times (self->observer, starts, s_left_ms (deadline)) == 0)
            lag = 0;
    }
    for (int p = 0; lag >= 0 && p < count; p++) {
        int64_t end = s_offset_of (ends, self->topic, p);
        const rd_kafka_topic_partition_t *commit =
            rd_kafka_topic_partition_list_find (commits, self->topic, p);
        int64_t from = !commit || commit->err ? -1
                     : commit->offset >= 0 ? commit->offset
                     : s_offset_of (starts, self->topic, p);
        if (end < 0 || from < 0)
            lag = -1;
        else
        if (end > from)
            lag += end - from;
    }
    rd_kafka_topic_partition_list_destroy (starts);
    rd_kafka_topic_partition_list_destroy (ends);
    rd_kafka_topic_partition_list_destroy (commits);
    return lag;
}

//  What the group has not committed yet, over every partition of the topic
//  and not only those this member holds: the same figure from every member
//  of the group, between assignments and with none (more members than
//  partitions) too. It asks the broker (the topic's partitions, the group's
//  commits, each partition's end) through the observer, a client of the
//  group that never joins it: the member's own rd_kafka_committed queues
//  behind its group state and, while it joins, waits seconds for what the
//  coordinator answers at once. It waits up to KAFKA_LAG_WAIT_MS; -1
//  when it cannot tell, and then -1 without asking for KAFKA_LAG_RETRY_MS,
//  so that a broker outage does not hold the consumer's thread at every
//  look.
static int64_t
s_lag (void *impl)
{
    kafka_t *self = (kafka_t *) impl;
    assert (self);
    if (!self->consumer)
        return -1;
    if (self->lag_failed_ms && zclock_mono () - self->lag_failed_ms < KAFKA_LAG_RETRY_MS)
        return -1;
    int64_t lag = s_group_lag (self, zclock_mono () + KAFKA_LAG_WAIT_MS);
    self->lag_failed_ms = lag < 0 ? zclock_mono () : 0;
    return lag;
}

const eventlog_backend_t eventlog_kafka = {
    .name = "kafka",
    .producer_new = s_producer_new,
    .publish = s_publish,
    .consumer_new = s_consumer_new,
    .poll = s_poll,
    .commit = s_commit,
    .lag = s_lag,
    .destroy = s_kafka_destroy,
};
