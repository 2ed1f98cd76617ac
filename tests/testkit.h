/*  testkit — what the tests share: starting the real binaries on free
    loopback ports with temporary data dirs, HTTP over libcurl, process
    control (SIGTERM, kill -9). Tests include <cmocka.h> after this header. */
#ifndef TESTKIT_H_INCLUDED
#define TESTKIT_H_INCLUDED

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdbool.h>
#include <sys/types.h>
#include <cjson/cJSON.h>
#include "config.h"

//  A `coffee serve` process started by tk_server_start.
typedef struct {
    pid_t pid;                  //  process id (0 when not running)
    int port;                   //  its HTTP port on 127.0.0.1
    char data_dir [512];        //  its --data-dir
    char log_path [600];        //  its stderr, <data_dir>/server-<port>.log
} tk_server_t;

//  An HTTP answer.
typedef struct {
    long status;                //  HTTP status, 0 when the request failed
    char *body;                 //  body text (NUL-terminated, may be "")
    cJSON *json;                //  parsed body, NULL if not JSON
    char content_type [128];    //  Content-Type header
    char *headers;              //  raw response header lines ("Name: value\r\n"…), or NULL
    int error;                  //  CURLcode of a transport failure (status 0), else 0
} tk_resp_t;

//  Every server tk_server_start starts holds an admin token: this test
//  process's own (tk_admin_token, in the 0600 file tk_admin_token_file),
//  unless the extra arguments name an --admin-token-file ("" for none).
//  tk_http sends "Authorization: Bearer <that server's admin token>" unless
//  the request's headers set Authorization themselves ("Authorization:"
//  sends none), so tests of anything but credentials act as the admin.
const char *tk_admin_token (void);
const char *tk_admin_token_file (void);

//  A new empty folder under $TMPDIR (or /tmp); caller frees with free().
char *tk_tempdir (const char *prefix);

//  config_load of `serve` with the arguments after errlen, ended by NULL
//  (at most 30): what config_load returns.
int tk_config_load (config_t *cfg, char *err, size_t errlen, ...);

//  A TCP port free on 127.0.0.1 right now.
int tk_free_port (void);

//  Starts `coffee serve --bind 127.0.0.1 --port <free> --data-dir <dir>`
//  plus extra (NULL-terminated, may be NULL) and waits up to 30 s for GET
//  /health to answer. data_dir NULL makes a new temporary one. Returns 0 or
//  -1 (the log is left at srv->log_path).
int tk_server_start (tk_server_t *srv, const char *data_dir, const char *const *extra);

//  Same, reusing srv->port and srv->data_dir (restart after a stop or kill).
int tk_server_restart (tk_server_t *srv, const char *const *extra);

//  SIGTERM and wait up to 30 s; returns the exit status (0 for a clean stop),
//  or -1 if it had to be killed.
int tk_server_stop (tk_server_t *srv);

//  kill -9 and reap.
void tk_server_kill9 (tk_server_t *srv);

//  Starts argv (argv[0] a path) with stdout+stderr to log_path (NULL:
//  /dev/null) and stdin from /dev/null; returns the pid or -1.
pid_t tk_spawn (const char *const *argv, const char *log_path);

//  Waits up to timeout_ms for pid; returns its exit status, 128+signal when
//  signalled, or -1 on timeout (the process is left running).
int tk_wait (pid_t pid, int timeout_ms);

//  Prints the last lines of the log at log_path (a server's, a
//  command's from tk_spawn) to stderr, so a failure says why in the test
//  output.
void tk_print_log_tail (const char *log_path);

//  One HTTP request to 127.0.0.1:port. body may be NULL; headers is a
//  NULL-terminated list of "Name: value" or NULL. Returns 0 when an answer
//  came (resp filled), -1 on a transport failure (resp->status 0).
int tk_http (const char *method, int port, const char *path, const char *body,
             const char *const *headers, tk_resp_t *resp);
void tk_resp_reset (tk_resp_t *resp);

//  tk_http with a body of body_len bytes that may hold NUL bytes.
int tk_http_len (const char *method, int port, const char *path, const char *body,
                 size_t body_len, const char *const *headers, tk_resp_t *resp);

//  Copies the value of response header name (case-insensitive, last one
//  wins) into value (size bytes). Returns true when the header was present.
bool tk_resp_header (const tk_resp_t *resp, const char *name, char *value, size_t size);

//  Polls GET path until pred(resp, arg) is true or timeout_ms passes.
int tk_http_until (int port, const char *path, bool (*pred) (const tk_resp_t *, void *),
                   void *arg, int timeout_ms);

//  GET /metrics: the value of sample (a whole series name with its labels,
//  e.g. coffee_actor_pool_size{pool="order"}) into *value, -1 when absent.
//  Returns the HTTP status, or -1 when no answer came.
long tk_metric (int port, const char *sample, int64_t *value);

//  Milliseconds on a monotonic clock.
int64_t tk_now_ms (void);

#endif
