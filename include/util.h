/*  util — small helpers shared by every layer: clock, checked int64 maths,
    ISO 8601 time stamps, JSON field access. */
#ifndef UTIL_H_INCLUDED
#define UTIL_H_INCLUDED

#include <stdint.h>
#include <stdbool.h>
#include <stddef.h>
#include <cjson/cJSON.h>

//  Milliseconds since the epoch, shifted by skew_ms (config_t.clock_skew_ms;
//  0 outside tests).
int64_t util_now_ms (int64_t skew_ms);

//  Names the calling thread (printf format; at most 15 bytes are kept), so
//  top -H, ps -L and perf show which actor a thread is.
void util_thread_name (const char *format, ...) __attribute__ ((format (printf, 1, 2)));

//  Lowers the calling thread's CPU share (its nice value raised by
//  UTIL_BACKGROUND_NICE, at most 19): for the bridge's threads and the
//  pruner, whose work trails the requests.
//  Returns 0, or -1 when the kernel refused (the thread runs on as it was).
#define UTIL_BACKGROUND_NICE 5
int util_thread_background (void);

//  Checked int64 arithmetic: return false on overflow, leaving *out untouched.
bool util_add_i64 (int64_t a, int64_t b, int64_t *out);
bool util_mul_i64 (int64_t a, int64_t b, int64_t *out);

//  Formats ms since the epoch as "2026-11-25T03:26:40.123Z" into buf
//  (at least UTIL_ISO_MAX bytes); returns buf.
#define UTIL_ISO_MAX 32
char *util_iso8601 (int64_t ms, char *buf);

//  Parses the format util_iso8601 writes; returns 0 and sets *ms, or -1.
int util_parse_iso8601 (const char *text, int64_t *ms);

//  Reads a JSON number that must be a whole number representable in int64
//  exactly (cJSON keeps numbers as double, so values beyond 2^53 are refused).
//  Returns 0 on success, -1 if the item is missing, not a number or not whole.
int util_json_int64 (const cJSON *item, int64_t *out);

//  A cJSON_Print that returns a zstr-owned copy (free with zstr_free) and
//  never NULL for a valid tree.
char *util_json_print (const cJSON *json);

//  Builds the error body {"code":code,"message":message} (printed, caller
//  frees with zstr_free).
char *util_error_json (const char *code, const char *message);

#endif
