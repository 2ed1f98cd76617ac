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

//  Formats one line (ending in a newline) into line (size bytes); returns
//  its length, or 0 when it is not printed at this level or cannot be made.
static size_t
s_format (char *line, size_t size, log_level_t level, const char *rid, const char *fmt,
          va_list args)
{
    if (level < s_level)
        return 0;
    static const char *names [] = { "DEBUG", "INFO ", "WARN ", "ERROR" };
    char stamp [UTIL_ISO_MAX];
    util_iso8601 (util_now_ms (0), stamp);
    int n = snprintf (line, size, "%s %s rid=%s ", stamp, names [level],
                      rid && *rid ? rid : "-");
    if (n < 0 || (size_t) n >= size - 1)
        return 0;
    int m = vsnprintf (line + n, size - n - 1, fmt, args);
    if (m < 0)
        return 0;
    size_t len = strlen (line);
    for (size_t i = n; i < len; i++)
        if (line [i] == '\n' || line [i] == '\r')
            line [i] = ' ';
    line [len++] = '\n';
    return len;
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
    if (batch->len + len > sizeof batch->data)
        log_batch_flush (batch);
    memcpy (batch->data + batch->len, line, len);
    batch->len += len;
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
