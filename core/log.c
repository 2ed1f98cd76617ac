/*  log — one line per event on stderr, with the request id. With a log
    file, stderr is that file: log_open puts it on descriptor 2 with
    dup2(2), which swaps it atomically for every thread, so a reopen on
    SIGHUP needs no lock and no line is lost or split. */
#include "coffee.h"
#include <fcntl.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <unistd.h>

//  The one process-wide setting: written once by main before any thread
//  starts, read-only afterwards.
static log_level_t s_level = LOG_LEVEL_INFO;

//  Sets the lowest level printed.
void
log_set_level (log_level_t level)
{
    s_level = level;
}

//  "debug", "info", "warn", "error" → level, or -1.
int
log_level_parse (const char *name)
{
    if (streq (name, "debug")) return LOG_LEVEL_DEBUG;
    if (streq (name, "info"))  return LOG_LEVEL_INFO;
    if (streq (name, "warn"))  return LOG_LEVEL_WARN;
    if (streq (name, "error")) return LOG_LEVEL_ERROR;
    return -1;
}

//  Writes "<stamp> <LEVEL> rid=<rid> " at line (room for at least
//  S_PREFIX_MAX bytes); returns its length. By hand, and the date and
//  time formatted only when the second changed since this thread's last
//  line: the HTTP threads write a line per request, and printf showed in
//  their profiles.
#define S_RID_MAX     64
#define S_PREFIX_MAX  (UTIL_ISO_MAX + 12 + S_RID_MAX)

static size_t
s_prefix (char *line, log_level_t level, const char *rid)
{
    static __thread int64_t second = -1;
    static __thread char stamp [UTIL_ISO_MAX];
    static __thread size_t stamp_len;
    int64_t ms = util_now_ms (0);
    if (ms < 0 || ms / 1000 != second) {
        util_iso8601 (ms, stamp);
        stamp_len = strlen (stamp);
        second = ms < 0? -1: ms / 1000;
    }
    //  "2026-11-25T03:26:40.123Z": only the three digits before the Z change
    size_t len = stamp_len;
    memcpy (line, stamp, len);
    if (ms >= 0 && len >= 4) {
        int frac = (int) (ms % 1000);
        line [len - 4] = (char) ('0' + frac / 100);
        line [len - 3] = (char) ('0' + frac / 10 % 10);
        line [len - 2] = (char) ('0' + frac % 10);
    }
    static const char *names [] = { " DEBUG rid=", " INFO  rid=", " WARN  rid=", " ERROR rid=" };
    memcpy (line + len, names [level], 11);
    len += 11;
    if (!rid || !*rid)
        rid = "-";
    size_t rid_len = strnlen (rid, S_RID_MAX);
    memcpy (line + len, rid, rid_len);
    len += rid_len;
    line [len++] = ' ';
    return len;
}

//  Replaces newlines in line [from, len) so that a line stays a line, and
//  ends it with one.
static size_t
s_finish (char *line, size_t from, size_t len)
{
    for (size_t i = from; i < len; i++)
        if (line [i] == '\n' || line [i] == '\r')
            line [i] = ' ';
    line [len++] = '\n';
    return len;
}

//  Formats one line (ending in a newline) into line (size bytes, at least
//  LOG_LINE_MAX); returns its length, or 0 when it is not printed at this
//  level or cannot be made.
static size_t
s_format (char *line, size_t size, log_level_t level, const char *rid, const char *fmt,
          va_list args)
{
    if (level < s_level)
        return 0;
    size_t n = s_prefix (line, level, rid);
    int m = vsnprintf (line + n, size - n - 1, fmt, args);
    if (m < 0)
        return 0;
    return s_finish (line, n, n + strlen (line + n));
}

//  Formats and writes one line with a single write(2), so lines of
//  different threads never interleave.
void
log_line (log_level_t level, const char *rid, const char *fmt, ...)
{
    char line [LOG_LINE_MAX];
    va_list args;
    va_start (args, fmt);
    size_t len = s_format (line, sizeof line, level, rid, fmt, args);
    va_end (args);
    if (len) {
        ssize_t rc = write (STDERR_FILENO, line, len);
        (void) rc;
    }
}

//  Where a line of up to need bytes goes at the end of batch: the batch is
//  written first when it would not fit, and an empty one notes when its
//  oldest line came.
static char *
s_batch_room (log_batch_t *batch, size_t need)
{
    if (batch->len + need > sizeof batch->data)
        log_batch_flush (batch);
    if (batch->len == 0)
        batch->since = zclock_mono ();
    return batch->data + batch->len;
}

//  Appends one line to a thread's batch, writing the batch first when the
//  line would not fit.
void
log_batch_line (log_batch_t *batch, log_level_t level, const char *rid, const char *fmt, ...)
{
    char line [LOG_LINE_MAX];
    va_list args;
    va_start (args, fmt);
    size_t len = s_format (line, sizeof line, level, rid, fmt, args);
    va_end (args);
    if (!len)
        return;
    memcpy (s_batch_room (batch, len), line, len);
    batch->len += len;
}

//  Appends the line "<prefix> text" to a thread's batch, with no printf.
void
log_batch_text (log_batch_t *batch, log_level_t level, const char *rid, const char *text)
{
    if (level < s_level)
        return;
    size_t text_len = strnlen (text, LOG_LINE_MAX - S_PREFIX_MAX - 1);
    char *line = s_batch_room (batch, S_PREFIX_MAX + text_len + 1);
    size_t n = s_prefix (line, level, rid);
    memcpy (line + n, text, text_len);
    batch->len += s_finish (line, n, n + text_len);
}

//  Milliseconds until the batch's oldest line is LOG_BATCH_MS old.
int64_t
log_batch_due (const log_batch_t *batch, int64_t now)
{
    if (batch->len == 0)
        return -1;
    int64_t left = batch->since + LOG_BATCH_MS - now;
    return left < 0? 0: left;
}

//  Writes the batch's whole lines with one write(2) and empties it.
void
log_batch_flush (log_batch_t *batch)
{
    size_t done = 0;
    while (done < batch->len) {
        ssize_t rc = write (STDERR_FILENO, batch->data + done, batch->len - done);
        if (rc <= 0)
            break;
        done += (size_t) rc;
    }
    batch->len = 0;
}

//  Opens path for appending (created 0600) and makes it the process's
//  stderr: every later line goes there. Called at start and again on
//  SIGHUP after logrotate moved the file away. Returns 0, or -1 with
//  errno set and stderr unchanged.
int
log_open (const char *path)
{
    int fd = open (path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return -1;
    int rc = fd == STDERR_FILENO? 0: dup2 (fd, STDERR_FILENO);
    int saved = errno;
    if (fd != STDERR_FILENO)
        close (fd);
    errno = saved;
    return rc < 0? -1: 0;
}
