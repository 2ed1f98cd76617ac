/*  collector — delivers one order to the data collection platform. Backends
    by cfg->collector_url:
      "" or file:PATH   appends the event JSON as one line to PATH (default
                        <data-dir>/collector.jsonl), flushed to disk
      http(s)://…       libcurl POST of the event JSON with
                        Content-Type: application/json and
                        Idempotency-Key: <orderNo>; 2xx is delivered
    A collector_t belongs to one thread. Retries and backoff are the caller's
    (bridge/collector_sink.c), so a slow collector never blocks anyone else. */
#ifndef COLLECTOR_H_INCLUDED
#define COLLECTOR_H_INCLUDED

#include "coffee.h"

typedef struct _collector_t collector_t;

collector_t *collector_new (const config_t *cfg, char *err, size_t errlen);
void collector_destroy (collector_t **self_p);

//  Delivers one order event (json, len bytes; its key order_no) within
//  timeout_ms. Returns 0 when delivered, -1 when it should be retried.
//  The same as collector_append and then collector_flush.
int collector_deliver (collector_t *self, const char *order_no, const char *json, size_t len,
                       int timeout_ms);

//  Hands one event over: http delivers it at once (0 delivered); the file
//  backend appends its line, delivered only by the next collector_flush.
//  -1: this one was not taken, and on the file backend none of those
//  appended since the last flush were either (the next flush says -1 and
//  clears it): deliver them all again.
int collector_append (collector_t *self, const char *order_no, const char *json, size_t len,
                      int timeout_ms);

//  Forces every line appended since the last flush to disk with one fsync:
//  0 when all are delivered, -1 when none may be counted on (they were cut
//  back and must all be delivered again). http: always 0.
int collector_flush (collector_t *self);

#endif
