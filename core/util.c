/*  util — small helpers shared by every layer. */
#include "coffee.h"
#include <time.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <math.h>

//  Milliseconds since the epoch, shifted for tests of time windows.
int64_t
util_now_ms (int64_t skew_ms)
{
    struct timespec ts;
    clock_gettime (CLOCK_REALTIME, &ts);
    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000 + skew_ms;
}

//  a + b unless it overflows.
bool
util_add_i64 (int64_t a, int64_t b, int64_t *out)
{
    int64_t r;
    if (__builtin_add_overflow (a, b, &r))
        return false;
    *out = r;
    return true;
}

//  a * b unless it overflows.
bool
util_mul_i64 (int64_t a, int64_t b, int64_t *out)
{
    int64_t r;
    if (__builtin_mul_overflow (a, b, &r))
        return false;
    *out = r;
    return true;
}

//  ISO 8601 UTC with milliseconds, the time format of every API answer.
char *
util_iso8601 (int64_t ms, char *buf)
{
    int64_t secs = ms / 1000;
    int64_t frac = ms % 1000;
    if (frac < 0) {
        frac += 1000;
        secs -= 1;
    }
    //  The civil date of a day count, by arithmetic alone: gmtime_r takes
    //  glibc's global time-zone lock, and every log line of every thread
    //  comes through here.
    int64_t days = secs / 86400;
    int64_t rem = secs % 86400;
    if (rem < 0) {
        rem += 86400;
        days -= 1;
    }
    int64_t z = days + 719468;
    int64_t era = (z >= 0? z: z - 146096) / 146097;
    int64_t doe = z - era * 146097;                                 //  [0, 146096]
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365; //  [0, 399]
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);          //  [0, 365]
    int64_t mp = (5 * doy + 2) / 153;                               //  [0, 11]
    int64_t day = doy - (153 * mp + 2) / 5 + 1;                     //  [1, 31]
    int64_t month = mp < 10? mp + 3: mp - 9;                        //  [1, 12]
    int64_t year = yoe + era * 400 + (month <= 2);
    //  Unsigned remainders bound every field, so the text always fits.
    snprintf (buf, UTIL_ISO_MAX, "%04u-%02u-%02uT%02u:%02u:%02u.%03uZ",
              (unsigned) ((uint64_t) year % 10000u), (unsigned) month % 100u,
              (unsigned) day % 100u, (unsigned) (rem / 3600) % 100u,
              (unsigned) (rem / 60 % 60) % 100u, (unsigned) (rem % 60) % 100u,
              (unsigned) frac % 1000u);
    return buf;
}

//  Reads back what util_iso8601 writes (strptime does the date, we the ms).
int
util_parse_iso8601 (const char *text, int64_t *ms)
{
    if (!text)
        return -1;
    struct tm tm;
    memset (&tm, 0, sizeof tm);
    const char *rest = strptime (text, "%Y-%m-%dT%H:%M:%S", &tm);
    if (!rest)
        return -1;
    int frac = 0;
    if (*rest == '.') {
        rest++;
        int digits = 0;
        while (*rest >= '0' && *rest <= '9' && digits < 3) {
            frac = frac * 10 + (*rest - '0');
            rest++;
            digits++;
        }
        if (digits != 3)
            return -1;
    }
    if (strcmp (rest, "Z") != 0)
        return -1;
    time_t secs = timegm (&tm);
    if (secs == (time_t) -1)
        return -1;
    *ms = (int64_t) secs * 1000 + frac;
    return 0;
}

//  A JSON number that is exactly a whole int64 (cJSON stores doubles, so
//  anything past 2^53 is refused rather than silently rounded).
int
util_json_int64 (const cJSON *item, int64_t *out)
{
    if (!item || !cJSON_IsNumber (item))
        return -1;
    double d = item->valuedouble;
    if (!isfinite (d) || d != floor (d))
        return -1;
    if (d >= 9007199254740992.0 || d <= -9007199254740992.0)
        return -1;
    *out = (int64_t) d;
    return 0;
}

//  cJSON_PrintUnformatted into a zstr-owned string.
char *
util_json_print (const cJSON *json)
{
    char *text = cJSON_PrintUnformatted (json);
    if (!text)
        return NULL;
    char *copy = strdup (text);
    cJSON_free (text);
    return copy;
}

//  {"code":…,"message":…}
char *
util_error_json (const char *code, const char *message)
{
    cJSON *root = cJSON_CreateObject ();
    cJSON_AddStringToObject (root, "code", code);
    cJSON_AddStringToObject (root, "message", message);
    char *text = util_json_print (root);
    cJSON_Delete (root);
    return text;
}

//  Names the calling thread (see util.h).
void
util_thread_name (const char *format, ...)
{
    char name [16];                 //  the kernel keeps 15 bytes and the NUL
    va_list args;
    va_start (args, format);
    vsnprintf (name, sizeof name, format, args);
    va_end (args);
    pthread_setname_np (pthread_self (), name);
}

//  Lowers the calling thread's CPU share (see util.h). On two cores the
//  order actor, the one writer of an SQLite store, sat runnable but not
//  running for a quarter of the time while the relay, the sinks and the
//  HTTP threads had the CPUs (/proc/PID/task/TID/schedstat under
//  PHASES=order-sqlite); the bridge works in batches and catches up as soon
//  as the requests leave it room. Linux keeps a nice value per thread.
int
util_thread_background (void)
{
    id_t tid = (id_t) syscall (SYS_gettid);
    errno = 0;
    int nice = getpriority (PRIO_PROCESS, tid);
    if (nice == -1 && errno != 0)
        return -1;
    nice = nice + UTIL_BACKGROUND_NICE > 19 ? 19 : nice + UTIL_BACKGROUND_NICE;
    return setpriority (PRIO_PROCESS, tid, nice);
}
