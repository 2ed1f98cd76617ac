/*  log — one line per event on stderr, with the request id. */
#include "coffee.h"
#include <stdarg.h>
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

//  Formats and writes one line with a single write(2), so lines of
//  different threads never interleave.
void
log_line (log_level_t level, const char *rid, const char *fmt, ...)
{
    if (level < s_level)
        return;
    static const char *names [] = { "DEBUG", "INFO ", "WARN ", "ERROR" };
    char line [2048];
    char stamp [UTIL_ISO_MAX];
    util_iso8601 (util_now_ms (0), stamp);
    int n = snprintf (line, sizeof line, "%s %s rid=%s ", stamp, names [level],
                      rid && *rid ? rid : "-");
    if (n < 0)
        return;
    va_list args;
    va_start (args, fmt);
    int m = vsnprintf (line + n, sizeof line - n - 1, fmt, args);
    va_end (args);
    if (m < 0)
        return;
    size_t len = strlen (line);
    for (size_t i = n; i < len; i++)
        if (line [i] == '\n' || line [i] == '\r')
            line [i] = ' ';
    line [len++] = '\n';
    ssize_t rc = write (STDERR_FILENO, line, len);
    (void) rc;
}
