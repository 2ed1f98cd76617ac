/*  testkit — what the tests share: temporary folders, free loopback ports,
    child processes, the real `coffee serve` binary, and HTTP over libcurl.

    Everything here may be called from several test threads at once, except
    the server functions on one tk_server_t. Nothing here uses cmocka's
    asserts, so it is safe to call from any thread. */

#include "testkit.h"

#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <curl/curl.h>
#include <sodium.h>

extern char **environ;

#ifndef COFFEE_BIN
#   error "COFFEE_BIN must name the coffee binary (set by CMakeLists.txt)"
#endif

//  tk_free_port draws its ports from here up to the ephemeral range.
#define TK_PORT_LOWEST        10000
//  How long a server gets to answer GET /health after it was started.
#define TK_START_TIMEOUT_MS   30000
//  How long a server gets to exit after SIGTERM or SIGKILL.
#define TK_STOP_TIMEOUT_MS    30000
//  Whole-request timeout of tk_http.
#define TK_HTTP_TIMEOUT_MS    30000
//  Request timeout while polling /health during a start, so one stuck poll
//  does not eat the whole start budget.
#define TK_POLL_TIMEOUT_MS    2000
//  Pause between two polls (tk_http_until, server start).
#define TK_POLL_PAUSE_MS      50
//  Lines of the server log printed when a start fails.
#define TK_LOG_TAIL_LINES     40
//  Start attempts with a fresh port when the server exits at once (another
//  process took the port between tk_free_port and the server's bind).
#define TK_START_ATTEMPTS     3
//  Most extra arguments tk_server_start passes on.
#define TK_EXTRA_MAX          64

//  A growing body buffer filled by libcurl's write callback.
typedef struct {
    char *data;                 //  bytes so far, NUL-terminated (NULL until the first byte)
    size_t size;                //  bytes used, without the NUL
    bool failed;                //  an allocation failed: the answer is incomplete
} s_buffer_t;


//  Sleeps ms milliseconds; a signal may cut it short, which callers tolerate
//  because they all loop against a deadline.
static void
s_sleep_ms (int ms)
{
    struct timespec ts = { ms / 1000, (long) (ms % 1000) * 1000000L };
    nanosleep (&ts, NULL);
}


//  Milliseconds on a monotonic clock, for deadlines that a wall-clock jump
//  (or faketime) cannot stretch.
int64_t
tk_now_ms (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}


//  A new empty folder under $TMPDIR (or /tmp), so each test run owns its
//  data and never meets another run's files.
char *
tk_tempdir (const char *prefix)
{
    const char *base = getenv ("TMPDIR");
    if (!base || !*base)
        base = "/tmp";
    if (!prefix || !*prefix)
        prefix = "coffee-test";
    size_t len = strlen (base) + strlen (prefix) + 16;
    char *path = malloc (len);
    if (!path)
        return NULL;
    snprintf (path, len, "%s/%s-XXXXXX", base, prefix);
    if (!mkdtemp (path)) {
        fprintf (stderr, "testkit: mkdtemp %s: %s\n", path, strerror (errno));
        free (path);
        return NULL;
    }
    return path;
}


//  config_load of `serve` with the NULL-terminated arguments.
int
tk_config_load (config_t *cfg, char *err, size_t errlen, ...)
{
    char *argv [32] = { "serve" };
    int argc = 1;
    va_list args;
    va_start (args, errlen);
    char *arg;
    while ((arg = va_arg (args, char *)) && argc < 31)
        argv [argc++] = arg;
    va_end (args);
    return config_load (cfg, argc, argv, err, errlen);
}

//  Binds a socket to port of 127.0.0.1 (0: the kernel picks one) and lets
//  it go: the port it got, or -1 when it is taken.
static int
s_port_probe (int port)
{
    int fd = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    int bound = -1;
    struct sockaddr_in addr;
    memset (&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
    addr.sin_port = htons ((uint16_t) port);
    socklen_t addr_len = sizeof addr;
    if (bind (fd, (struct sockaddr *) &addr, sizeof addr) == 0
    &&  getsockname (fd, (struct sockaddr *) &addr, &addr_len) == 0)
        bound = ntohs (addr.sin_port);
    close (fd);
    return bound;
}

//  A port nobody listens on right now, drawn at random from below the
//  kernel's ephemeral range: a port the kernel hands out for port 0 it
//  also hands to outgoing connections, so a server restarted on it after
//  kill -9 could find it taken by a client, or by a client retrying
//  against it that connected to itself (scripts/free_port.py).
int
tk_free_port (void)
{
    int low = 32768;
    FILE *range = fopen ("/proc/sys/net/ipv4/ip_local_port_range", "r");
    if (range) {
        if (fscanf (range, "%d", &low) != 1)
            low = 32768;
        fclose (range);
    }
    if (sodium_init () < 0 || low - TK_PORT_LOWEST < 1000)
        return s_port_probe (0);        //  no libsodium, or no room below the range
    for (int tries = 0; tries < 200; tries++) {
        int port = TK_PORT_LOWEST
                 + (int) randombytes_uniform ((uint32_t) (low - TK_PORT_LOWEST));
        if (s_port_probe (port) == port)
            return port;
    }
    return -1;
}

//  In the child between fork and exec: only async-signal-safe calls. Puts
//  stdin on /dev/null and stdout+stderr on the log, gives the program a
//  clean signal state (the test may block or ignore signals), closes every
//  other inherited descriptor (libcurl connections of other threads).
static void
s_child_exec (const char *const *argv, char *const *envp, int null_fd, int log_fd)
{
    sigset_t none;
    sigemptyset (&none);
    sigprocmask (SIG_SETMASK, &none, NULL);
    struct sigaction dfl;
    memset (&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    sigemptyset (&dfl.sa_mask);
    for (int sig = 1; sig < NSIG; sig++)
        if (sig != SIGKILL && sig != SIGSTOP)
            sigaction (sig, &dfl, NULL);       //  fails harmlessly for reserved ones

    if (dup2 (null_fd, STDIN_FILENO) < 0
    ||  dup2 (log_fd, STDOUT_FILENO) < 0
    ||  dup2 (log_fd, STDERR_FILENO) < 0)
        _exit (127);
#ifdef SYS_close_range
    if (syscall (SYS_close_range, 3U, ~0U, 0U) != 0)
#endif
    {
        long max_fd = sysconf (_SC_OPEN_MAX);
        if (max_fd < 0 || max_fd > 65536)
            max_fd = 65536;
        for (int fd = 3; fd < max_fd; fd++)
            close (fd);
    }
    execve (argv [0], (char *const *) argv, envp);
    _exit (127);
}


//  tk_spawn with the environment envp.
static pid_t
s_spawn (const char *const *argv, char *const *envp, const char *log_path)
{
    if (!argv || !argv [0])
        return -1;
    //  Open everything before fork: the child of a threaded parent may only
    //  make async-signal-safe calls.
    int null_fd = open ("/dev/null", O_RDWR | O_CLOEXEC);
    if (null_fd < 0)
        return -1;
    int log_fd = log_path
               ? open (log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644)
               : null_fd;
    if (log_fd < 0) {
        fprintf (stderr, "testkit: open %s: %s\n", log_path, strerror (errno));
        close (null_fd);
        return -1;
    }
    fflush (NULL);              //  the child must not flush our buffers twice
    pid_t pid = fork ();
    if (pid == 0)
        s_child_exec (argv, envp, null_fd, log_fd);
    if (pid < 0)
        fprintf (stderr, "testkit: fork: %s\n", strerror (errno));
    if (log_fd != null_fd)
        close (log_fd);
    close (null_fd);
    return pid < 0 ? -1 : pid;
}


//  Starts argv with stdout+stderr appended to log_path (NULL: /dev/null)
//  and stdin from /dev/null, in this process's environment. Returns the pid
//  or -1.
pid_t
tk_spawn (const char *const *argv, const char *log_path)
{
    return s_spawn (argv, environ, log_path);
}


//  Waits up to timeout_ms for pid to end and reaps it. Returns its exit
//  status, 128+signal when a signal ended it, -1 on timeout (still running)
//  or when pid is not our child.
int
tk_wait (pid_t pid, int timeout_ms)
{
    if (pid <= 0)
        return -1;
    int64_t deadline = tk_now_ms () + (timeout_ms > 0 ? timeout_ms : 0);
    while (true) {
        int status = 0;
        pid_t rc = waitpid (pid, &status, WNOHANG);
        if (rc == pid) {
            if (WIFEXITED (status))
                return WEXITSTATUS (status);
            if (WIFSIGNALED (status))
                return 128 + WTERMSIG (status);
            continue;               //  stopped or continued: not an end
        }
        if (rc < 0 && errno != EINTR)
            return -1;              //  ECHILD: not ours or already reaped
        int64_t left = deadline - tk_now_ms ();
        if (left <= 0)
            return -1;
        s_sleep_ms (left < 10 ? (int) left : 10);
    }
}


//  The last lines of a log to stderr (see testkit.h).
void
tk_print_log_tail (const char *log_path)
{
    FILE *file = fopen (log_path, "rb");
    if (!file) {
        fprintf (stderr, "testkit: no log at %s\n", log_path);
        return;
    }
    //  40 lines fit easily in the last 64 KiB of a log.
    const long window = 64 * 1024;
    char *text = malloc ((size_t) window + 1);
    size_t got = 0;
    if (text && fseek (file, 0, SEEK_END) == 0) {
        long end = ftell (file);
        long from = end > window ? end - window : 0;
        if (fseek (file, from, SEEK_SET) == 0)
            got = fread (text, 1, (size_t) window, file);
    }
    fclose (file);
    if (!text)
        return;
    text [got] = 0;
    size_t start = got;
    int lines = 0;
    while (start > 0) {
        //  A newline at the very end closes the last line; it does not count.
        if (text [start - 1] == '\n' && start != got && ++lines == TK_LOG_TAIL_LINES)
            break;
        start--;
    }
    fprintf (stderr, "testkit: ---- last lines of %s ----\n%s%s", log_path, text + start,
             got > 0 && text [got - 1] != '\n' ? "\n" : "");
    fprintf (stderr, "testkit: ---- end of log ----\n");
    free (text);
}


//  libcurl's write callback: appends the received bytes to an s_buffer_t.
static size_t
s_write_cb (char *ptr, size_t size, size_t nmemb, void *userdata)
{
    s_buffer_t *buffer = (s_buffer_t *) userdata;
    size_t bytes = size * nmemb;
    char *grown = realloc (buffer->data, buffer->size + bytes + 1);
    if (!grown) {
        buffer->failed = true;
        return 0;                   //  makes curl fail the transfer
    }
    memcpy (grown + buffer->size, ptr, bytes);
    buffer->data = grown;
    buffer->size += bytes;
    buffer->data [buffer->size] = 0;
    return bytes;
}


// ---------------------------------------------------------------------------
//  The admin token of the servers a test starts

#define TK_PORTS_MAX 256

//  Which admin token each started server holds, by port.
static struct {
    int port;
    char token [256];
} s_admin_of [TK_PORTS_MAX];
static pthread_mutex_t s_admin_lock = PTHREAD_MUTEX_INITIALIZER;
static char s_admin_token [65];
static char s_admin_file [600];

//  The test process's admin token and the file holding it (made once,
//  0600, in a new temporary folder).
const char *
tk_admin_token (void)
{
    pthread_mutex_lock (&s_admin_lock);
    if (!*s_admin_token) {
        unsigned char bytes [24];
        FILE *random = fopen ("/dev/urandom", "rb");
        size_t got = random? fread (bytes, 1, sizeof bytes, random): 0;
        if (random)
            fclose (random);
        if (got != sizeof bytes)
            abort ();
        for (size_t i = 0; i < sizeof bytes; i++)
            snprintf (s_admin_token + 2 * i, 3, "%02x", bytes [i]);
        char *dir = tk_tempdir ("coffee-admin");
        if (!dir)
            abort ();
        snprintf (s_admin_file, sizeof s_admin_file, "%s/admin-token", dir);
        free (dir);
        int fd = open (s_admin_file, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (fd < 0 || write (fd, s_admin_token, strlen (s_admin_token)) < 0 || close (fd) != 0)
            abort ();
    }
    pthread_mutex_unlock (&s_admin_lock);
    return s_admin_token;
}

const char *
tk_admin_token_file (void)
{
    tk_admin_token ();
    return s_admin_file;
}

//  Remembers that the server on port holds token ("" none).
static void
s_admin_remember (int port, const char *token)
{
    pthread_mutex_lock (&s_admin_lock);
    int slot = -1;
    for (int i = 0; i < TK_PORTS_MAX; i++)
        if (s_admin_of [i].port == port || (slot < 0 && s_admin_of [i].port == 0))
            slot = i;
    if (slot >= 0) {
        s_admin_of [slot].port = port;
        snprintf (s_admin_of [slot].token, sizeof s_admin_of [slot].token, "%s", token);
    }
    pthread_mutex_unlock (&s_admin_lock);
}

//  The admin token of the server on port into token (size bytes): "" when
//  it has none or testkit did not start it.
static void
s_admin_for (int port, char *token, size_t size)
{
    *token = '\0';
    pthread_mutex_lock (&s_admin_lock);
    for (int i = 0; i < TK_PORTS_MAX; i++)
        if (s_admin_of [i].port == port)
            snprintf (token, size, "%s", s_admin_of [i].token);
    pthread_mutex_unlock (&s_admin_lock);
}

//  The admin token a server starts with: testkit's own file unless extra
//  names one (its first line is then the token; "" means none).
static void
s_admin_of_extra (const char *const *extra, char *token, size_t size, bool *given)
{
    *given = false;
    for (size_t i = 0; extra && extra [i]; i++)
        if (strcmp (extra [i], "--admin-token-file") == 0 && extra [i + 1]) {
            *given = true;
            *token = '\0';
            FILE *file = *extra [i + 1]? fopen (extra [i + 1], "r"): NULL;
            if (file) {
                if (fgets (token, (int) size, file))
                    token [strcspn (token, "\r\n")] = '\0';
                fclose (file);
            }
            return;
        }
    snprintf (token, size, "%s", tk_admin_token ());
}


//  True when the caller's header list already sets this header name.
static bool
s_has_header (const char *const *headers, const char *name)
{
    size_t len = strlen (name);
    for (size_t i = 0; headers && headers [i]; i++)
        if (strncasecmp (headers [i], name, len) == 0 && headers [i][len] == ':')
            return true;
    return false;
}


//  One request with a given whole-request timeout; tk_http with 30 s.
//  body_len is the body's size in bytes (it may hold NUL bytes).
static int
s_http (const char *method, int port, const char *path, const char *body, size_t body_len,
        const char *const *headers, tk_resp_t *resp, long timeout_ms)
{
    memset (resp, 0, sizeof *resp);
    s_buffer_t buffer = { NULL, 0, false };
    s_buffer_t header_buffer = { NULL, 0, false };
    int error = CURLE_FAILED_INIT;
    struct curl_slist *list = NULL;
    int rc = -1;
    CURL *curl = curl_easy_init ();
    if (!curl || !method || !path)
        goto cleanup;

    char url [1024];
    snprintf (url, sizeof url, "http://127.0.0.1:%d%s", port, path);
    for (size_t i = 0; headers && headers [i]; i++) {
        struct curl_slist *grown = curl_slist_append (list, headers [i]);
        if (!grown)
            goto cleanup;
        list = grown;
    }
    //  Bodies are JSON unless the test says otherwise ("Content-Type: x"
    //  sends x; "Content-Type:" sends none). No "Expect: 100-continue", so
    //  every request is one plain round trip.
    //  Requests act as the admin of a server testkit started unless the
    //  test sends its own Authorization ("Authorization:" sends none).
    char admin [256], bearer [300] = "";
    s_admin_for (port, admin, sizeof admin);
    if (*admin && !s_has_header (headers, "Authorization"))
        snprintf (bearer, sizeof bearer, "Authorization: Bearer %s", admin);
    const char *defaults [] = {
        body && !s_has_header (headers, "Content-Type") ? "Content-Type: application/json" : NULL,
        s_has_header (headers, "Expect") ? NULL : "Expect:",
        *bearer ? bearer : NULL,
    };
    for (size_t i = 0; i < sizeof defaults / sizeof defaults [0]; i++) {
        if (!defaults [i])
            continue;
        struct curl_slist *grown = curl_slist_append (list, defaults [i]);
        if (!grown)
            goto cleanup;
        list = grown;
    }

    curl_easy_setopt (curl, CURLOPT_URL, url);
    curl_easy_setopt (curl, CURLOPT_NOPROXY, "*");
    curl_easy_setopt (curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt (curl, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt (curl, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
    curl_easy_setopt (curl, CURLOPT_HTTPHEADER, list);
    curl_easy_setopt (curl, CURLOPT_WRITEFUNCTION, s_write_cb);
    curl_easy_setopt (curl, CURLOPT_WRITEDATA, &buffer);
    curl_easy_setopt (curl, CURLOPT_HEADERFUNCTION, s_write_cb);
    curl_easy_setopt (curl, CURLOPT_HEADERDATA, &header_buffer);
    if (strcmp (method, "HEAD") == 0)
        curl_easy_setopt (curl, CURLOPT_NOBODY, 1L);
    else
    if (body || strcmp (method, "POST") == 0 || strcmp (method, "PUT") == 0) {
        curl_easy_setopt (curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) (body ? body_len : 0));
        curl_easy_setopt (curl, CURLOPT_POSTFIELDS, body ? body : "");
        curl_easy_setopt (curl, CURLOPT_CUSTOMREQUEST, method);
    }
    else
    if (strcmp (method, "GET") != 0)
        curl_easy_setopt (curl, CURLOPT_CUSTOMREQUEST, method);

    CURLcode code = curl_easy_perform (curl);
    error = code != CURLE_OK ? (int) code : buffer.failed || header_buffer.failed
                                          ? CURLE_OUT_OF_MEMORY : CURLE_OK;
    if (error != CURLE_OK)
        goto cleanup;
    curl_easy_getinfo (curl, CURLINFO_RESPONSE_CODE, &resp->status);
    char *content_type = NULL;
    if (curl_easy_getinfo (curl, CURLINFO_CONTENT_TYPE, &content_type) == CURLE_OK
    &&  content_type)
        snprintf (resp->content_type, sizeof resp->content_type, "%s", content_type);
    resp->body = buffer.data ? buffer.data : strdup ("");
    buffer.data = NULL;
    if (!resp->body)
        goto cleanup;
    resp->json = cJSON_Parse (resp->body);
    resp->headers = header_buffer.data;
    header_buffer.data = NULL;
    rc = 0;

cleanup:
    if (rc != 0) {
        free (resp->body);
        memset (resp, 0, sizeof *resp);
        resp->error = error == CURLE_OK ? CURLE_OUT_OF_MEMORY : error;
    }
    free (buffer.data);
    free (header_buffer.data);
    curl_slist_free_all (list);
    if (curl)
        curl_easy_cleanup (curl);
    return rc;
}


//  One HTTP request to 127.0.0.1:port with a 30 s timeout and no proxy.
//  resp is overwritten (call tk_resp_reset before reusing a filled one).
int
tk_http (const char *method, int port, const char *path, const char *body,
         const char *const *headers, tk_resp_t *resp)
{
    return s_http (method, port, path, body, body ? strlen (body) : 0, headers, resp,
                   TK_HTTP_TIMEOUT_MS);
}


//  tk_http with a body that may hold NUL bytes (to test how they are refused).
int
tk_http_len (const char *method, int port, const char *path, const char *body,
             size_t body_len, const char *const *headers, tk_resp_t *resp)
{
    return s_http (method, port, path, body, body_len, headers, resp, TK_HTTP_TIMEOUT_MS);
}


//  Frees what tk_http put in resp and clears it; safe to call twice.
void
tk_resp_reset (tk_resp_t *resp)
{
    if (!resp)
        return;
    free (resp->body);
    free (resp->headers);
    cJSON_Delete (resp->json);
    memset (resp, 0, sizeof *resp);
}


//  Finds one response header: the last "name: value" line wins, since a
//  100-continue or redirect would put earlier header blocks first.
bool
tk_resp_header (const tk_resp_t *resp, const char *name, char *value, size_t size)
{
    if (!resp || !resp->headers || !name || !value || size == 0)
        return false;
    size_t name_len = strlen (name);
    bool found = false;
    const char *line = resp->headers;
    while (*line) {
        const char *end = strchr (line, '\n');
        size_t line_len = end ? (size_t) (end - line) : strlen (line);
        if (line_len > name_len && strncasecmp (line, name, name_len) == 0
        &&  line [name_len] == ':') {
            const char *from = line + name_len + 1;
            const char *to = line + line_len;
            while (from < to && (*from == ' ' || *from == '\t'))
                from++;
            while (to > from && (to [-1] == '\r' || to [-1] == ' ' || to [-1] == '\t'))
                to--;
            snprintf (value, size, "%.*s", (int) (to - from), from);
            found = true;
        }
        if (!end)
            break;
        line = end + 1;
    }
    return found;
}


//  The value of a sample of GET /metrics (see testkit.h).
long
tk_metric (int port, const char *sample, int64_t *value)
{
    *value = -1;
    tk_resp_t resp;
    if (tk_http ("GET", port, "/metrics", NULL, NULL, &resp) != 0)
        return -1;
    char needle [256];
    snprintf (needle, sizeof needle, "\n%s ", sample);
    const char *at = resp.body ? strstr (resp.body, needle) : NULL;
    if (at)
        *value = strtoll (at + strlen (needle), NULL, 10);
    long status = resp.status;
    tk_resp_reset (&resp);
    return status;
}


//  Polls GET path until pred (NULL: status 200) holds or timeout_ms passes.
//  Returns 0 when it held, -1 on timeout.
int
tk_http_until (int port, const char *path, bool (*pred) (const tk_resp_t *, void *),
               void *arg, int timeout_ms)
{
    int64_t deadline = tk_now_ms () + (timeout_ms > 0 ? timeout_ms : 0);
    while (true) {
        tk_resp_t resp;
        int64_t left = deadline - tk_now_ms ();
        long request_ms = left < TK_HTTP_TIMEOUT_MS ? (long) (left > 100 ? left : 100)
                                                    : TK_HTTP_TIMEOUT_MS;
        if (s_http ("GET", port, path, NULL, 0, NULL, &resp, request_ms) == 0) {
            bool held = pred ? pred (&resp, arg) : resp.status == 200;
            tk_resp_reset (&resp);
            if (held)
                return 0;
        }
        if (tk_now_ms () >= deadline)
            return -1;
        s_sleep_ms (TK_POLL_PAUSE_MS);
    }
}


//  Starts the server on srv->port and srv->data_dir, then waits until GET
//  /health answers. Returns 0; or 1 when the process exited at once (maybe a
//  port taken: the caller may retry with another); or -1 on any other failure.
//  On failure the process is gone and the log tail printed.
static int
s_server_launch (tk_server_t *srv, const char *const *extra)
{
    char port_text [16];
    snprintf (port_text, sizeof port_text, "%d", srv->port);
    const char *argv [TK_EXTRA_MAX + 16];
    size_t argc = 0;
    argv [argc++] = COFFEE_BIN;
    argv [argc++] = "serve";
    argv [argc++] = "--bind";
    argv [argc++] = "127.0.0.1";
    argv [argc++] = "--port";
    argv [argc++] = port_text;
    argv [argc++] = "--data-dir";
    argv [argc++] = srv->data_dir;
    for (size_t i = 0; extra && extra [i]; i++) {
        if (i == TK_EXTRA_MAX) {
            fprintf (stderr, "testkit: more than %d extra arguments\n", TK_EXTRA_MAX);
            return -1;
        }
        argv [argc++] = extra [i];
    }
    char admin [256];
    bool given;
    s_admin_of_extra (extra, admin, sizeof admin, &given);
    if (!given) {
        argv [argc++] = "--admin-token-file";
        argv [argc++] = tk_admin_token_file ();
    }
    s_admin_remember (srv->port, admin);
    argv [argc] = NULL;

    //  The server's settings are the flags above only: a COFFEE_STORE or
    //  COFFEE_PORT left in the developer's shell must not redirect a test.
    //  (COFFEE_TEST_* and the MySQL credentials pass.)
    size_t env_count = 0;
    while (environ [env_count])
        env_count++;
    char **envp = calloc (env_count + 1, sizeof *envp);
    if (!envp)
        return -1;
    size_t kept = 0;
    for (size_t i = 0; i < env_count; i++)
        if (strncmp (environ [i], "COFFEE_", 7) != 0
        ||  strncmp (environ [i], "COFFEE_TEST_", 12) == 0
        ||  strncmp (environ [i], "COFFEE_MYSQL_", 13) == 0)
            envp [kept++] = environ [i];
    srv->pid = s_spawn (argv, envp, srv->log_path);
    free (envp);
    if (srv->pid < 0) {
        srv->pid = 0;
        return -1;
    }
    int64_t deadline = tk_now_ms () + TK_START_TIMEOUT_MS;
    while (tk_now_ms () < deadline) {
        tk_resp_t resp;
        if (s_http ("GET", srv->port, "/health", NULL, 0, NULL, &resp, TK_POLL_TIMEOUT_MS) == 0) {
            tk_resp_reset (&resp);
            return 0;
        }
        int status = tk_wait (srv->pid, 0);
        if (status != -1) {
            fprintf (stderr, "testkit: coffee on port %d exited with %d while starting\n",
                     srv->port, status);
            tk_print_log_tail (srv->log_path);
            srv->pid = 0;
            return 1;
        }
        s_sleep_ms (TK_POLL_PAUSE_MS);
    }
    fprintf (stderr, "testkit: coffee on port %d did not answer /health within %d ms\n",
             srv->port, TK_START_TIMEOUT_MS);
    tk_print_log_tail (srv->log_path);
    tk_server_kill9 (srv);
    return -1;
}


//  Sets srv->log_path for the current port and data dir.
static void
s_server_log_path (tk_server_t *srv)
{
    snprintf (srv->log_path, sizeof srv->log_path, "%s/server-%d.log", srv->data_dir,
              srv->port);
}


//  Starts `coffee serve` on a free port with data_dir (NULL: a new temporary
//  one) plus extra arguments, and waits for it to answer.
int
tk_server_start (tk_server_t *srv, const char *data_dir, const char *const *extra)
{
    if (!srv)
        return -1;
    memset (srv, 0, sizeof *srv);
    if (data_dir)
        snprintf (srv->data_dir, sizeof srv->data_dir, "%s", data_dir);
    else {
        char *dir = tk_tempdir ("coffee-e2e");
        if (!dir)
            return -1;
        snprintf (srv->data_dir, sizeof srv->data_dir, "%s", dir);
        free (dir);
    }
    int rc = -1;
    for (int attempt = 0; attempt < TK_START_ATTEMPTS; attempt++) {
        srv->port = tk_free_port ();
        if (srv->port <= 0)
            return -1;
        s_server_log_path (srv);
        rc = s_server_launch (srv, extra);
        if (rc != 1)
            break;
    }
    return rc == 0 ? 0 : -1;
}


//  Starts the server again on its old port and data dir (after a stop or a
//  kill), as a restarted instance would come back.
int
tk_server_restart (tk_server_t *srv, const char *const *extra)
{
    if (!srv || srv->port <= 0 || !srv->data_dir [0])
        return -1;
    if (srv->pid > 0) {
        fprintf (stderr, "testkit: restart of a running server (pid %d)\n", (int) srv->pid);
        return -1;
    }
    s_server_log_path (srv);
    return s_server_launch (srv, extra) == 0 ? 0 : -1;
}


//  SIGTERM, then wait for a clean exit; kill -9 after 30 s.
int
tk_server_stop (tk_server_t *srv)
{
    if (!srv || srv->pid <= 0)
        return -1;
    if (kill (srv->pid, SIGTERM) != 0) {
        srv->pid = 0;
        return -1;
    }
    int status = tk_wait (srv->pid, TK_STOP_TIMEOUT_MS);
    if (status == -1) {
        fprintf (stderr, "testkit: coffee (pid %d) ignored SIGTERM for %d ms, killing it\n",
                 (int) srv->pid, TK_STOP_TIMEOUT_MS);
        tk_print_log_tail (srv->log_path);
        tk_server_kill9 (srv);
        return -1;
    }
    if (status != 0) {
        fprintf (stderr, "testkit: coffee (pid %d) exited with %d after SIGTERM\n",
                 (int) srv->pid, status);
        tk_print_log_tail (srv->log_path);
    }
    srv->pid = 0;
    return status;
}


//  kill -9 and reap, as a crash would end the process.
void
tk_server_kill9 (tk_server_t *srv)
{
    if (!srv || srv->pid <= 0)
        return;
    kill (srv->pid, SIGKILL);
    tk_wait (srv->pid, TK_STOP_TIMEOUT_MS);
    srv->pid = 0;
}
