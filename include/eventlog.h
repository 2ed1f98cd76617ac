/*  eventlog — the seam between the outbox relay and the sinks: an ordered,
    durable, partitioned log of order events with consumer groups. Backends:

      local   a log in one SQLite file under the data dir (events.db): the
              embedded default; consumers in this process are woken at once
              through inproc ZeroMQ, other processes on the host within
              EVENTLOG_LOCAL_POLL_MS.
      kafka   librdkafka: idempotent producer, acks=all, topic
              cfg->kafka_topic keyed by order number; consumer groups with
              manual offset commits.
      nats    NATS JetStream (libnats): stream coffee-TOPIC on subjects
              coffee.TOPIC.ORDERNO, file storage, publish waits for the
              stream's ack; one durable pull consumer per group with
              explicit acks (commit = ack).

    A handle is either a producer or a consumer, and belongs to one thread.
    To add a backend, implement eventlog_backend_t in bridge/eventlog_NAME.c
    and list it in bridge/eventlog.c; nothing else changes. The contract
    every backend passes is tests/eventlog_contract.h. */
#ifndef EVENTLOG_H_INCLUDED
#define EVENTLOG_H_INCLUDED

#include "coffee.h"

#define EVENTLOG_LOCAL_POLL_MS 200

//  One message to publish.
typedef struct {
    const char *key;            //  partition key: the order number
    const char *payload;        //  event_order_encode JSON
    size_t len;                 //  payload bytes
} eventlog_msg_t;

//  One consumed event; strings are owned (eventlog_event_reset).
typedef struct {
    int32_t partition;          //  0 for local
    int64_t offset;             //  position in the partition
    char *key;                  //  order number
    char *payload;              //  event JSON
    size_t len;                 //  payload bytes
} eventlog_event_t;

typedef struct {
    const char *name;                                   //  "local", "kafka", "nats"
    void *(*producer_new) (const config_t *cfg, char *err, size_t errlen);
    int (*publish) (void *impl, const eventlog_msg_t *msgs, size_t count, int timeout_ms);
    void *(*consumer_new) (const config_t *cfg, const char *group, char *err, size_t errlen);
    int (*poll) (void *impl, eventlog_event_t *ev, int timeout_ms);
    int (*commit) (void *impl, const eventlog_event_t *ev);
    int64_t (*lag) (void *impl);
    void (*destroy) (void **impl_p);
} eventlog_backend_t;

typedef struct _eventlog_t eventlog_t;

//  A producer of the backend named cfg->bridge. NULL with a message in err.
eventlog_t *eventlog_producer_new (const config_t *cfg, char *err, size_t errlen);

//  Publishes msgs in order and waits up to timeout_ms until the log has
//  durably acknowledged them. Returns how many messages from the start are
//  acknowledged (count when all are), or -1 when the log is unreachable.
//  A caller marks exactly those as published.
int eventlog_publish (eventlog_t *self, const eventlog_msg_t *msgs, size_t count,
                      int timeout_ms);

//  A consumer in group (e.g. "display-service", "data-collector").
eventlog_t *eventlog_consumer_new (const config_t *cfg, const char *group, char *err,
                                   size_t errlen);

//  Waits up to timeout_ms for the next event: 1 with ev filled, 0 none yet,
//  -1 the log is unreachable (try again later).
int eventlog_poll (eventlog_t *self, eventlog_event_t *ev, int timeout_ms);

//  Commits the group's position past ev: call only after the sink's own
//  transaction committed. Returns 0 or -1.
int eventlog_commit (eventlog_t *self, const eventlog_event_t *ev);

//  Events after the group's position still to consume, -1 if unknown.
int64_t eventlog_lag (eventlog_t *self);

//  Retention of the local log (include/retention.h): deletes rows below
//  every listed group's committed position (groups: NULL-terminated; none
//  go while one has no position) and created before before_ms, in at
//  most batches transactions of batch_rows rows. Fills *pruned; 0 or -1.
int eventlog_local_prune (const config_t *cfg, const char **groups, int64_t before_ms,
                          int batch_rows, int batches, int64_t *pruned);

//  Kafka: applies cfg->kafka_options (--kafka-option) to a throwaway
//  librdkafka conf: 0, or -1 with librdkafka's message in err, so a bad
//  key fails the start. Producer and consumers apply the same lines.
int eventlog_kafka_check (const config_t *cfg, char *err, size_t errlen);

void eventlog_event_reset (eventlog_event_t *ev);
void eventlog_destroy (eventlog_t **self_p);

#endif
