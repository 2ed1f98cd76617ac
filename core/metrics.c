/*  metrics — atomic counters rendered as Prometheus text. */
#include "coffee.h"
#include <stdatomic.h>

//  Statuses counted separately; anything else falls in the last slot.
static const int s_statuses [] = { 200, 400, 401, 403, 404, 405, 408, 409, 413, 415, 422, 429,
                                    500, 503, 0 };
#define STATUS_COUNT (sizeof s_statuses / sizeof s_statuses [0])

//  Latency bucket upper bounds in seconds; +Inf is implied.
static const double s_buckets [] = {
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10
};
#define BUCKET_COUNT (sizeof s_buckets / sizeof s_buckets [0])

typedef struct {
    atomic_uint_fast64_t count;                 //  requests
    atomic_uint_fast64_t micros;                //  summed latency, µs
    atomic_uint_fast64_t buckets [BUCKET_COUNT];//  requests at or under each bound
} s_series_t;

struct _metrics_t {
    s_series_t series [ROUTE_COUNT][STATUS_COUNT];  //  per route and status
    atomic_int_fast64_t gauges [GAUGE_COUNT];       //  gauges and bridge counters
    atomic_int http_workers;                        //  series of http_conns rendered
    atomic_int_fast64_t http_conns [METRICS_HTTP_WORKERS];  //  open, per HTTP worker
};

//  name, help, type of each gauge
static const struct { const char *name; const char *help; const char *type; }
s_gauges [GAUGE_COUNT] = {
    { "coffee_actor_queue_depth{pool=\"point\"}", "Requests sent to an actor pool and not yet answered.", "gauge" },
    { "coffee_actor_queue_depth{pool=\"order\"}", NULL, NULL },
    { "coffee_actor_queue_depth{pool=\"display\"}", NULL, NULL },
    { "coffee_outbox_pending", "Outbox rows not yet published (as last seen by the relay).", "gauge" },
    { "coffee_outbox_published_total", "Outbox rows published to the event log.", "counter" },
    { "coffee_projection_applied_total", "Order events applied by the display projection.", "counter" },
    { "coffee_projection_lag", "Events in the log not yet applied by the display projection (-1 unknown).", "gauge" },
    { "coffee_collector_delivered_total", "Orders delivered to the data collection platform.", "counter" },
    { "coffee_collector_failures_total", "Failed delivery attempts to the data collection platform.", "counter" },
    { "coffee_collector_lag", "Events in the log not yet delivered to the collector (-1 unknown).", "gauge" },
    { "coffee_bridge_up", "Outbox relay: 1 publishing, 0 failing, -1 not run in this role.", "gauge" },
    { "coffee_projection_up", "Display projection: 1 applying, 0 failing, -1 not run in this role.", "gauge" },
    { "coffee_collector_up", "Collector sink: 1 delivering, 0 failing, -1 not run in this role.", "gauge" },
    { "coffee_actors_down{pool=\"point\"}", "Actors of a pool whose last health check (every second) failed.", "gauge" },
    { "coffee_actors_down{pool=\"order\"}", NULL, NULL },
    { "coffee_actors_down{pool=\"display\"}", NULL, NULL },
    { "coffee_retention_pruned_total{table=\"outbox\"}", "Rows deleted by retention (--prune-interval-ms), per table.", "counter" },
    { "coffee_retention_pruned_total{table=\"eventlog\"}", NULL, NULL },
    { "coffee_retention_pruned_total{table=\"idempotency\"}", NULL, NULL },
    { "coffee_retention_pruned_total{table=\"idempotency_running\"}", NULL, NULL },
    { "coffee_retention_pruned_total{table=\"commit_mark\"}", NULL, NULL },
    { "coffee_retention_failures_total", "Retention rounds that a store failure cut short.", "counter" },
    { "coffee_sqlite_memory_bytes", "Memory the SQLite store connections of this process hold: page caches (bounded per connection), schemas, statements.", "gauge" },
    { "coffee_sqlite_checkpoints_total{by=\"checkpointer\"}", "WAL checkpoints of the SQLite stores: by their checkpointer threads, or by a writer after its commit (no checkpointer, or it fell behind).", "counter" },
    { "coffee_sqlite_checkpoints_total{by=\"writer\"}", NULL, NULL },
    { "coffee_http_connections_refused_total", "Connections refused at accept because their client address held --max-conns-per-address already (counted within 200 ms).", "counter" },
    { "coffee_http_connections_cut_total", "Connections closed because a request was not read whole within --read-timeout-ms; no answer is possible then (counted within 200 ms).", "counter" },
};

//  All counters zero; the "up" gauges start at -1 (not run) until a bridge
//  actor claims them.
metrics_t *
metrics_new (void)
{
    metrics_t *self = (metrics_t *) zmalloc (sizeof (metrics_t));
    for (int g = GAUGE_BRIDGE_UP; g <= GAUGE_COLLECTOR_UP; g++)
        atomic_store (&self->gauges [g], -1);
    atomic_store (&self->gauges [GAUGE_PROJECTION_LAG], -1);
    atomic_store (&self->gauges [GAUGE_COLLECTOR_LAG], -1);
    return self;
}

void
metrics_destroy (metrics_t **self_p)
{
    if (*self_p) {
        free (*self_p);
        *self_p = NULL;
    }
}

//  Slot of a status in s_statuses.
static size_t
s_status_slot (int status)
{
    for (size_t i = 0; i < STATUS_COUNT - 1; i++)
        if (s_statuses [i] == status)
            return i;
    return STATUS_COUNT - 1;
}

//  Counts one answered request.
void
metrics_observe (metrics_t *self, metrics_route_t route, int status, double seconds)
{
    if ((unsigned) route >= ROUTE_COUNT)
        route = ROUTE_UNMATCHED;
    s_series_t *s = &self->series [route][s_status_slot (status)];
    atomic_fetch_add_explicit (&s->count, 1, memory_order_relaxed);
    atomic_fetch_add_explicit (&s->micros, (uint64_t) (seconds * 1e6), memory_order_relaxed);
    for (size_t b = 0; b < BUCKET_COUNT; b++)
        if (seconds <= s_buckets [b]) {
            atomic_fetch_add_explicit (&s->buckets [b], 1, memory_order_relaxed);
            break;          //  stored per bucket; cumulated when rendered
        }
}

void
metrics_gauge_set (metrics_t *self, metrics_gauge_t gauge, int64_t value)
{
    atomic_store_explicit (&self->gauges [gauge], value, memory_order_relaxed);
}

void
metrics_gauge_add (metrics_t *self, metrics_gauge_t gauge, int64_t delta)
{
    atomic_fetch_add_explicit (&self->gauges [gauge], delta, memory_order_relaxed);
}

int64_t
metrics_gauge_get (metrics_t *self, metrics_gauge_t gauge)
{
    return atomic_load_explicit (&self->gauges [gauge], memory_order_relaxed);
}

void
metrics_http_workers (metrics_t *self, int count)
{
    atomic_store (&self->http_workers, count < 0? 0: count > METRICS_HTTP_WORKERS?
                  METRICS_HTTP_WORKERS: count);
}

void
metrics_http_connections (metrics_t *self, int worker, int64_t count)
{
    if (worker >= 0 && worker < METRICS_HTTP_WORKERS)
        atomic_store_explicit (&self->http_conns [worker], count, memory_order_relaxed);
}

//  The label set of one series: method, route and status ("other" for the
//  statuses not counted on their own).
static const char *
s_labels (int route, size_t slot, char *buf, size_t len)
{
    char status [8];
    if (s_statuses [slot])
        snprintf (status, sizeof status, "%d", s_statuses [slot]);
    else
        snprintf (status, sizeof status, "other");
    snprintf (buf, len, "method=\"%s\",route=\"%s\",status=\"%s\"",
              route_method ((route_id_t) route), route_label ((route_id_t) route), status);
    return buf;
}

//  Prometheus text exposition format 0.0.4.
char *
metrics_render (metrics_t *self)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *out = open_memstream (&buf, &len);
    if (!out)
        return NULL;
    char labels [160];
    fprintf (out, "# HELP coffee_http_requests_total HTTP requests by route and status.\n"
                  "# TYPE coffee_http_requests_total counter\n");
    for (int r = 0; r < ROUTE_COUNT; r++)
        for (size_t st = 0; st < STATUS_COUNT; st++) {
            uint64_t count = atomic_load (&self->series [r][st].count);
            if (count)
                fprintf (out, "coffee_http_requests_total{%s} %" PRIu64 "\n",
                         s_labels (r, st, labels, sizeof labels), count);
        }
    fprintf (out, "# HELP coffee_http_request_duration_seconds HTTP request latency by route and status.\n"
                  "# TYPE coffee_http_request_duration_seconds histogram\n");
    for (int r = 0; r < ROUTE_COUNT; r++)
        for (size_t st = 0; st < STATUS_COUNT; st++) {
            s_series_t *s = &self->series [r][st];
            uint64_t count = atomic_load (&s->count);
            if (!count)
                continue;
            s_labels (r, st, labels, sizeof labels);
            uint64_t cumulated = 0;
            for (size_t b = 0; b < BUCKET_COUNT; b++) {
                cumulated += atomic_load (&s->buckets [b]);
                fprintf (out, "coffee_http_request_duration_seconds_bucket{%s,le=\"%g\"} %" PRIu64 "\n",
                         labels, s_buckets [b], cumulated);
            }
            fprintf (out, "coffee_http_request_duration_seconds_bucket{%s,le=\"+Inf\"} %" PRIu64 "\n",
                     labels, count);
            fprintf (out, "coffee_http_request_duration_seconds_sum{%s} %.6f\n", labels,
                     atomic_load (&s->micros) / 1e6);
            fprintf (out, "coffee_http_request_duration_seconds_count{%s} %" PRIu64 "\n",
                     labels, count);
        }
    for (int g = 0; g < GAUGE_COUNT; g++) {
        if (s_gauges [g].help) {
            char family [96];
            snprintf (family, sizeof family, "%s", s_gauges [g].name);
            char *brace = strchr (family, '{');
            if (brace)
                *brace = 0;
            fprintf (out, "# HELP %s %s\n# TYPE %s %s\n", family, s_gauges [g].help, family,
                     s_gauges [g].type);
        }
        fprintf (out, "%s %" PRId64 "\n", s_gauges [g].name, metrics_gauge_get (self, g));
    }
    int workers = atomic_load (&self->http_workers);
    if (workers > 0)
        fprintf (out, "# HELP coffee_http_connections Client connections each HTTP worker holds"
                      " open (as of its last 200 ms check).\n"
                      "# TYPE coffee_http_connections gauge\n");
    for (int w = 0; w < workers; w++)
        fprintf (out, "coffee_http_connections{worker=\"%d\"} %" PRId64 "\n", w,
                 (int64_t) atomic_load_explicit (&self->http_conns [w], memory_order_relaxed));
    fclose (out);
    return buf;
}
