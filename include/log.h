/*  log — one line per event on stderr:
        2026-11-25T03:26:40.123Z INFO  rid=r-0000002a order.create 200 3.1ms
    Every line carries the request id ("-" when there is none), so one
    request can be followed across the front, the actors and the bridge. */
#ifndef LOG_H_INCLUDED
#define LOG_H_INCLUDED

#include <stddef.h>

typedef enum { LOG_LEVEL_DEBUG = 0, LOG_LEVEL_INFO = 1, LOG_LEVEL_WARN = 2, LOG_LEVEL_ERROR = 3 } log_level_t;

//  Sets the lowest level printed; called once by main before threads start.
void log_set_level (log_level_t level);

//  Parses "debug", "info", "warn", "error"; returns -1 if unknown.
int log_level_parse (const char *name);

//  Writes one line atomically (a single write(2)); newlines in the message
//  are replaced so a line stays a line.
void log_line (log_level_t level, const char *rid, const char *fmt, ...)
    __attribute__ ((format (printf, 3, 4)));

//  Longest line written; longer messages are cut.
#define LOG_LINE_MAX  2048

//  Lines a thread gathers and writes together (one write(2) per batch, each
//  line whole), for the HTTP threads' access log: one write per request,
//  and then one per pass of the loop, was a large share of a read's cost.
//  A batch is written when the next line would not fit, or by its owner
//  once its oldest line is LOG_BATCH_MS old (log_batch_due), and at stop;
//  so a line is late by LOG_BATCH_MS at most, and a kill -9 loses at most
//  that much of the access log.
typedef struct {
    size_t len;                     //  bytes in data
    int64_t since;                  //  zclock_mono of its oldest line (when len > 0)
    char data [16384];              //  whole lines
} log_batch_t;

//  The longest a line waits in a batch, in milliseconds.
#define LOG_BATCH_MS  20

//  Formats one line into batch (flushing first when it is full).
void log_batch_line (log_batch_t *batch, log_level_t level, const char *rid,
                     const char *fmt, ...) __attribute__ ((format (printf, 4, 5)));

//  Appends one line whose message is text as it is (newlines replaced; cut
//  to fit a line): the access log's line per request, with no printf.
void log_batch_text (log_batch_t *batch, log_level_t level, const char *rid,
                     const char *text);

//  Milliseconds until batch must be written (0: now), at now (zclock_mono);
//  -1 when it is empty.
int64_t log_batch_due (const log_batch_t *batch, int64_t now);

//  Writes and empties the batch.
void log_batch_flush (log_batch_t *batch);

//  Makes path (opened for appending, created 0600) the log from now on:
//  at start for --log-file and on SIGHUP, so logrotate can move the file.
//  Returns 0, or -1 with errno set (the log stays where it was).
int log_open (const char *path);

#define log_debug(rid, ...) log_line (LOG_LEVEL_DEBUG, (rid), __VA_ARGS__)
#define log_info(rid, ...)  log_line (LOG_LEVEL_INFO, (rid), __VA_ARGS__)
#define log_warn(rid, ...)  log_line (LOG_LEVEL_WARN, (rid), __VA_ARGS__)
#define log_error(rid, ...) log_line (LOG_LEVEL_ERROR, (rid), __VA_ARGS__)

#endif
