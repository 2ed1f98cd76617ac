/*  eventlog_local — the embedded event log: one SQLite file
    <data_dir>/events.db in WAL mode.

        log(offset INTEGER PRIMARY KEY AUTOINCREMENT, key, payload, created_at)
        group_offset(grp PRIMARY KEY, off)      last committed offset per group

    AUTOINCREMENT and SQLite's single writer make offsets grow in commit
    order, so a reader never sees a later offset before an earlier one.
    A producer binds a PUB socket at an inproc endpoint named after the file
    and sends one frame after each commit; consumers in the same process SUB
    to it and wake at once. Consumers in other processes re-read the file
    every EVENTLOG_LOCAL_POLL_MS. */
#include "eventlog.h"
#include <sqlite3.h>
#include "db.h"

#define LOCAL_BATCH      64         //  rows read ahead by a consumer
#define LOCAL_BUSY_MS    5000       //  SQLite busy timeout

typedef struct {
    sqlite3 *db;                    //  connection to events.db
    sqlite3_stmt *insert;           //  INSERT INTO log
    sqlite3_stmt *select;           //  next rows after a position
    sqlite3_stmt *upsert;           //  group position
    sqlite3_stmt *max;              //  largest offset
    zsock_t *wake;                  //  producer: PUB; consumer: SUB (may be NULL)
    char *group;                    //  consumer group, NULL for a producer
    int64_t committed;              //  consumer: last committed offset
    int64_t read_pos;               //  consumer: last offset handed out by poll
    eventlog_event_t batch [LOCAL_BATCH];   //  read-ahead rows
    size_t batch_count;             //  rows in batch
    size_t batch_next;              //  next row of batch to hand out
} local_t;

//  The inproc endpoint of the wake-up socket for the log at path.
static void
s_wake_endpoint (const char *path, char *buf, size_t len)
{
    uint32_t hash = 2166136261u;
    for (const char *p = path; *p; p++)
        hash = (hash ^ (uint8_t) *p) * 16777619u;
    snprintf (buf, len, "inproc://coffee-eventlog-%08x", hash);
}

//  Prepares sql into *st or fills err.
static int
s_prepare (local_t *self, const char *sql, sqlite3_stmt **st, char *err, size_t errlen)
{
    if (sqlite3_prepare_v2 (self->db, sql, -1, st, NULL) != SQLITE_OK) {
        snprintf (err, errlen, "events.db: %s", sqlite3_errmsg (self->db));
        return -1;
    }
    return 0;
}

//  Frees the consumer's read-ahead rows.
static void
s_batch_clear (local_t *self)
{
    for (size_t i = self->batch_next; i < self->batch_count; i++)
        eventlog_event_reset (&self->batch [i]);
    self->batch_count = 0;
    self->batch_next = 0;
}

//  Closes everything a local_t holds.
static void
s_local_destroy (void **impl_p)
{
    if (!impl_p || !*impl_p)
        return;
    local_t *self = (local_t *) *impl_p;
    s_batch_clear (self);
    sqlite3_finalize (self->insert);
    sqlite3_finalize (self->select);
    sqlite3_finalize (self->upsert);
    sqlite3_finalize (self->max);
    if (self->db)
        sqlite3_close_v2 (self->db);
    zsock_destroy (&self->wake);
    free (self->group);
    free (self);
    *impl_p = NULL;
}

//  Opens events.db under cfg->data_dir, creates the schema, prepares the
//  statements. group is NULL for a producer.
static local_t *
s_local_open (const config_t *cfg, const char *group, char *err, size_t errlen)
{
    local_t *self = (local_t *) zmalloc (sizeof (local_t));
    char path [600];
    char endpoint [64];
    snprintf (path, sizeof path, "%s/events.db", cfg->data_dir [0] ? cfg->data_dir : ".");
    s_wake_endpoint (path, endpoint, sizeof endpoint);

    bool existed = access (path, F_OK) == 0;
    if (sqlite3_open_v2 (path, &self->db,
                         SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                         NULL) != SQLITE_OK) {
        snprintf (err, errlen, "cannot open %s: %s", path,
                  self->db ? sqlite3_errmsg (self->db) : "out of memory");
        goto fail;
    }
    if (db_file_protect (path, existed)) {
        snprintf (err, errlen, "cannot make %s private (chmod 0600): %s", path,
                  strerror (errno));
        goto fail;
    }
    sqlite3_busy_timeout (self->db, LOCAL_BUSY_MS);
    const char *schema =
        "PRAGMA journal_mode=WAL;"
        //  a small page cache per connection, as the stores (db_sqlite.c):
        //  producers append and consumers read near the end of the log
        "PRAGMA cache_size=-256;"
        "CREATE TABLE IF NOT EXISTS log ("
        "  offset INTEGER PRIMARY KEY AUTOINCREMENT,"
        "  key TEXT NOT NULL, payload TEXT NOT NULL, created_at INTEGER NOT NULL);"
        "CREATE TABLE IF NOT EXISTS group_offset ("
        "  grp TEXT PRIMARY KEY, off INTEGER NOT NULL);";
    //  A producer's appends are synced to disk at each commit (FULL), so a
    //  row the relay marks published is in the log even after a power cut.
    //  A consumer only writes its group position; losing the last few on a
    //  power cut means a redelivery, which every sink absorbs, so it skips
    //  the fsync per commit (NORMAL) — two fewer fsyncs per order.
    const char *sync = group ? "PRAGMA synchronous=NORMAL;" : "PRAGMA synchronous=FULL;";
    char *msg = NULL;
    if (sqlite3_exec (self->db, sync, NULL, NULL, &msg) != SQLITE_OK) {
        snprintf (err, errlen, "%s: %s", path, msg ? msg : "unknown error");
        sqlite3_free (msg);
        goto fail;
    }
    if (sqlite3_exec (self->db, schema, NULL, NULL, &msg) != SQLITE_OK) {
        snprintf (err, errlen, "%s schema: %s", path, msg ? msg : "unknown error");
        sqlite3_free (msg);
        goto fail;
    }
    if (s_prepare (self, "INSERT INTO log (key, payload, created_at) VALUES (?, ?, ?)",
                   &self->insert, err, errlen)
    ||  s_prepare (self, "SELECT offset, key, payload FROM log WHERE offset > ? "
                         "ORDER BY offset LIMIT ?", &self->select, err, errlen)
    ||  s_prepare (self, "INSERT INTO group_offset (grp, off) VALUES (?, ?) "
                         "ON CONFLICT (grp) DO UPDATE SET off = excluded.off",
                   &self->upsert, err, errlen)
    ||  s_prepare (self, "SELECT COALESCE(MAX(offset), 0) FROM log", &self->max, err, errlen))
        goto fail;

    if (group) {
        self->group = strdup (group);
        sqlite3_stmt *st = NULL;
        if (s_prepare (self, "SELECT off FROM group_offset WHERE grp = ?", &st, err, errlen))
            goto fail;
        sqlite3_bind_text (st, 1, group, -1, SQLITE_STATIC);
        int rc = sqlite3_step (st);
        if (rc == SQLITE_ROW)
            self->committed = sqlite3_column_int64 (st, 0);
        sqlite3_finalize (st);
        if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
            snprintf (err, errlen, "events.db: %s", sqlite3_errmsg (self->db));
            goto fail;
        }
        self->read_pos = self->committed;
        self->wake = zsock_new_sub (endpoint, "");
        //  Without the socket the consumer still sees rows by re-reading
        if (!self->wake)
            log_warn ("-", "eventlog local: cannot subscribe to %s", endpoint);
    }
    else {
        self->wake = zsock_new (ZMQ_PUB);
        //  A second producer in this process cannot bind the same endpoint;
        //  its consumers then see its rows within EVENTLOG_LOCAL_POLL_MS
        if (self->wake && zsock_bind (self->wake, "%s", endpoint) != 0) {
            log_debug ("-", "eventlog local: %s already bound, no instant wake", endpoint);
            zsock_destroy (&self->wake);
        }
    }
    return self;
fail:
    s_local_destroy ((void **) &self);
    return NULL;
}

//  A producer on <data_dir>/events.db.
static void *
s_producer_new (const config_t *cfg, char *err, size_t errlen)
{
    return s_local_open (cfg, NULL, err, errlen);
}

//  A consumer of group on <data_dir>/events.db.
static void *
s_consumer_new (const config_t *cfg, const char *group, char *err, size_t errlen)
{
    return s_local_open (cfg, group, err, errlen);
}

//  Inserts all msgs in one transaction; once it is committed (durable, WAL
//  with synchronous=FULL) wakes the consumers. Returns count or -1.
static int
s_publish (void *impl, const eventlog_msg_t *msgs, size_t count, int timeout_ms)
{
    local_t *self = (local_t *) impl;
    if (count > INT_MAX)
        count = INT_MAX;
    if (sqlite3_exec (self->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
        log_warn ("-", "eventlog local: begin: %s", sqlite3_errmsg (self->db));
        return -1;
    }
    int64_t now = util_now_ms (0);
    for (size_t i = 0; i < count; i++) {
        sqlite3_reset (self->insert);
        sqlite3_bind_text (self->insert, 1, msgs [i].key ? msgs [i].key : "", -1,
                           SQLITE_STATIC);
        sqlite3_bind_text (self->insert, 2, msgs [i].payload, (int) msgs [i].len,
                           SQLITE_STATIC);
        sqlite3_bind_int64 (self->insert, 3, now);
        int rc = sqlite3_step (self->insert);
        sqlite3_reset (self->insert);
        sqlite3_clear_bindings (self->insert);
        if (rc != SQLITE_DONE) {
            log_warn ("-", "eventlog local: insert: %s", sqlite3_errmsg (self->db));
            sqlite3_exec (self->db, "ROLLBACK", NULL, NULL, NULL);
            return -1;
        }
    }
    if (sqlite3_exec (self->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
        log_warn ("-", "eventlog local: commit: %s", sqlite3_errmsg (self->db));
        sqlite3_exec (self->db, "ROLLBACK", NULL, NULL, NULL);
        return -1;
    }
    if (self->wake)
        zstr_send (self->wake, "W");    //  PUB drops rather than blocks
    return (int) count;
}

//  Reads up to LOCAL_BATCH rows after read_pos into the batch. Returns the
//  row count or -1.
static int
s_batch_fill (local_t *self)
{
    s_batch_clear (self);
    sqlite3_reset (self->select);
    sqlite3_bind_int64 (self->select, 1, self->read_pos);
    sqlite3_bind_int64 (self->select, 2, LOCAL_BATCH);
    int rc;
    while ((rc = sqlite3_step (self->select)) == SQLITE_ROW) {
        eventlog_event_t *ev = &self->batch [self->batch_count];
        const char *key = (const char *) sqlite3_column_text (self->select, 1);
        const char *payload = (const char *) sqlite3_column_text (self->select, 2);
        int len = sqlite3_column_bytes (self->select, 2);
        ev->partition = 0;
        ev->offset = sqlite3_column_int64 (self->select, 0);
        ev->key = strdup (key ? key : "");
        ev->payload = (char *) malloc ((size_t) len + 1);
        if (!ev->key || !ev->payload) {
            eventlog_event_reset (ev);
            break;
        }
        if (len > 0)
            memcpy (ev->payload, payload, (size_t) len);
        ev->payload [len] = 0;
        ev->len = (size_t) len;
        self->batch_count++;
    }
    sqlite3_reset (self->select);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        log_warn ("-", "eventlog local: read: %s", sqlite3_errmsg (self->db));
        s_batch_clear (self);
        return -1;
    }
    return (int) self->batch_count;
}

//  Drops every queued wake-up frame.
static void
s_wake_drain (local_t *self)
{
    while (self->wake && (zsock_events (self->wake) & ZMQ_POLLIN)) {
        char *frame = zstr_recv (self->wake);
        if (!frame)
            break;
        zstr_free (&frame);
    }
}

//  Hands out the next event after the group's read position, waiting up to
//  timeout_ms: on the wake socket in slices of EVENTLOG_LOCAL_POLL_MS at most.
static int
s_poll (void *impl, eventlog_event_t *ev, int timeout_ms)
{
    local_t *self = (local_t *) impl;
    int64_t deadline = zclock_mono () + (timeout_ms > 0 ? timeout_ms : 0);
    while (true) {
        if (self->batch_next == self->batch_count) {
            //  Drain wakes first: a row committed after this read wakes us again
            s_wake_drain (self);
            if (s_batch_fill (self) < 0)
                return -1;
        }
        if (self->batch_next < self->batch_count) {
            *ev = self->batch [self->batch_next];
            memset (&self->batch [self->batch_next], 0, sizeof (eventlog_event_t));
            self->batch_next++;
            self->read_pos = ev->offset;
            return 1;
        }
        int64_t left = deadline - zclock_mono ();
        if (left <= 0)
            return 0;
        int wait = (int) (left < EVENTLOG_LOCAL_POLL_MS ? left : EVENTLOG_LOCAL_POLL_MS);
        if (self->wake) {
            zmq_pollitem_t item = { zsock_resolve (self->wake), 0, ZMQ_POLLIN, 0 };
            zmq_poll (&item, 1, wait);
        }
        else
            zclock_sleep (wait);
    }
}

//  Stores ev's offset as the group's position.
static int
s_commit (void *impl, const eventlog_event_t *ev)
{
    local_t *self = (local_t *) impl;
    if (!self->group)
        return -1;
    sqlite3_reset (self->upsert);
    sqlite3_bind_text (self->upsert, 1, self->group, -1, SQLITE_STATIC);
    sqlite3_bind_int64 (self->upsert, 2, ev->offset);
    int rc = sqlite3_step (self->upsert);
    sqlite3_reset (self->upsert);
    if (rc != SQLITE_DONE) {
        log_warn ("-", "eventlog local: commit %s: %s", self->group, sqlite3_errmsg (self->db));
        return -1;
    }
    self->committed = ev->offset;
    return 0;
}

//  Rows after the group's committed position.
static int64_t
s_lag (void *impl)
{
    local_t *self = (local_t *) impl;
    sqlite3_reset (self->max);
    int rc = sqlite3_step (self->max);
    int64_t max = rc == SQLITE_ROW ? sqlite3_column_int64 (self->max, 0) : -1;
    sqlite3_reset (self->max);
    if (max < 0)
        return -1;
    return max > self->committed ? max - self->committed : 0;
}

const eventlog_backend_t eventlog_local = {
    .name = "local",
    .producer_new = s_producer_new,
    .publish = s_publish,
    .consumer_new = s_consumer_new,
    .poll = s_poll,
    .commit = s_commit,
    .lag = s_lag,
    .destroy = s_local_destroy,
};

//  Deletes, in batches of batch_rows (one short write transaction each,
//  at most batches of them), the rows of <data_dir>/events.db below the
//  committed position of every group in groups (NULL-terminated) and
//  created before before_ms. Nothing goes while a listed group has no
//  position yet: it may still need every row. The row at the lowest
//  position stays, so the log's end (and each group's lag) stays known.
int
eventlog_local_prune (const config_t *cfg, const char **groups, int64_t before_ms,
                      int batch_rows, int batches, int64_t *pruned)
{
    assert (cfg && groups && pruned && batch_rows > 0);
    *pruned = 0;
    char path [600];
    snprintf (path, sizeof path, "%s/events.db", cfg->data_dir [0] ? cfg->data_dir : ".");
    if (!zsys_file_exists (path))
        return 0;           //  no local log here
    sqlite3 *db = NULL;
    sqlite3_stmt *position = NULL, *prune = NULL;
    int result = -1;
    if (sqlite3_open_v2 (path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL)
        != SQLITE_OK)
        goto done;
    sqlite3_busy_timeout (db, LOCAL_BUSY_MS);
    if (sqlite3_prepare_v2 (db, "SELECT off FROM group_offset WHERE grp = ?", -1, &position,
                            NULL) != SQLITE_OK
    ||  sqlite3_prepare_v2 (db, "DELETE FROM log WHERE offset IN (SELECT offset FROM log"
                                " WHERE offset < ? AND created_at < ? ORDER BY offset LIMIT ?)",
                            -1, &prune, NULL) != SQLITE_OK)
        goto done;
    result = 0;
    for (int i = 0; i < batches; i++) {
        if (sqlite3_exec (db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
            result = -1;
            break;
        }
        //  The lowest position, read in the transaction that deletes: a
        //  group only moves forward, so it cannot fall below it meanwhile.
        int64_t lowest = INT64_MAX;
        for (const char **g = groups; *g && lowest > 0; g++) {
            sqlite3_reset (position);
            sqlite3_bind_text (position, 1, *g, -1, SQLITE_STATIC);
            int rc = sqlite3_step (position);
            int64_t off = rc == SQLITE_ROW? sqlite3_column_int64 (position, 0): 0;
            if (rc != SQLITE_ROW && rc != SQLITE_DONE)
                result = -1;
            if (off < lowest)
                lowest = off;
        }
        sqlite3_reset (position);
        int changed = 0;
        if (result == 0 && lowest > 0 && lowest != INT64_MAX) {
            sqlite3_reset (prune);
            sqlite3_bind_int64 (prune, 1, lowest);
            sqlite3_bind_int64 (prune, 2, before_ms);
            sqlite3_bind_int64 (prune, 3, batch_rows);
            if (sqlite3_step (prune) == SQLITE_DONE)
                changed = sqlite3_changes (db);
            else
                result = -1;
            sqlite3_reset (prune);
        }
        if (result == 0 && sqlite3_exec (db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
            result = -1;
        if (result != 0) {
            sqlite3_exec (db, "ROLLBACK", NULL, NULL, NULL);
            break;
        }
        *pruned += changed;
        if (changed < batch_rows)
            break;
    }
done:
    if (result != 0)
        log_warn ("-", "eventlog local: prune %s: %s", path,
                  db? sqlite3_errmsg (db): "cannot open");
    sqlite3_finalize (position);
    sqlite3_finalize (prune);
    if (db)
        sqlite3_close_v2 (db);
    return result;
}
