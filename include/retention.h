/*  retention — prunes rows nobody needs any more, in bounded batches (one
    short transaction each, so no lock is held long) on a schedule main
    runs (--prune-interval-ms):

      outbox        published rows older than --outbox-retention; rows not
                    yet published always stay
      idempotency   finished keys older than --idem-retention (a retry of a
                    key still kept replays its answer), and 'running' rows
                    a crash left behind, older than the takeover age
                    STORE_IDEM_STALE_MS
      commit_mark   group commit marks (store/group.c) older than
                    RETENTION_MARK_KEEP_MS: a mark is only looked up in the
                    seconds after a COMMIT whose answer was lost
      event log     local log rows below every consumer group's committed
                    position and older than --eventlog-retention
                    (eventlog_local_prune in bridge/eventlog_local.c)

    Each call deletes at most batches × batch_rows rows and says how many
    it did; the caller counts them in /metrics
    (coffee_retention_pruned_total{table=…}). */
#ifndef RETENTION_H_INCLUDED
#define RETENTION_H_INCLUDED

#include "coffee.h"
#include "store.h"

//  How long group commit marks are kept.
#define RETENTION_MARK_KEEP_MS  3600000

//  Rows one prune transaction deletes at most.
#define RETENTION_BATCH_ROWS    500
//  Transactions one prune call runs at most (the rest waits for the next).
#define RETENTION_MAX_BATCHES   40

//  Deletes published outbox rows published before before_ms. Fills
//  *pruned with the rows deleted; returns 0, or -1 when the store failed
//  (what was deleted before stays deleted).
int retention_prune_outbox (store_t *store, int64_t before_ms, int batch_rows, int batches,
                            int64_t *pruned);

//  Deletes finished Idempotency-Keys last written before done_before_ms
//  and 'running' ones last written before running_before_ms. Fills
//  *done and *running; returns 0 or -1 as above.
int retention_prune_idem (store_t *store, int64_t done_before_ms, int64_t running_before_ms,
                          int batch_rows, int batches, int64_t *done, int64_t *running);

//  Deletes group commit marks made before before_ms. Fills *pruned;
//  returns 0 or -1 as above.
int retention_prune_marks (store_t *store, int64_t before_ms, int batch_rows, int batches,
                           int64_t *pruned);

#endif
