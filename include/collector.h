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
int collector_deliver (collector_t *self, const char *order_no, const char *json, size_t len,
                       int timeout_ms);

#endif
