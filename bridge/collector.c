/*  collector — delivers order events to the data collection platform.
    file backend: one JSON line appended per event, to a file only its
    owner may read (0600); collector_flush flushes and fsyncs every line
    appended since the last flush at once.
    http backend: one reused libcurl easy handle; POST with Content-Type and
    Idempotency-Key; 2xx is delivered; redirects are never followed. Over
    https the server is verified against --collector-ca-file (or the
    system's CAs), and --collector-token-file's first line goes along as
    Authorization: Bearer. */
#include "collector.h"
#include <curl/curl.h>
#include <stdio_ext.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

typedef enum { COLLECTOR_FILE = 1, COLLECTOR_HTTP = 2 } collector_kind_t;

struct _collector_t {
    collector_kind_t kind;          //  which backend
    char *target;                   //  file path or URL
    FILE *file;                     //  file backend: opened for append
    CURL *curl;                     //  http backend: reused easy handle
    char curl_err [CURL_ERROR_SIZE];//  libcurl's last error text
    char *auth;                     //  "Authorization: Bearer …" header, or NULL
    off_t batch_start;              //  file: size before the first unflushed line, or -1
    bool broken;                    //  file: an append failed; the batch's lines were cut
};

//  Throws away the response body: only the status matters.
static size_t
s_discard (char *ptr, size_t size, size_t nmemb, void *userdata)
{
    return size * nmemb;
}

//  Opens the file backend on path: created 0600, and tightened to 0600
//  when it exists looser (it holds every customer's orders).
static int
s_file_open (collector_t *self, const char *path, char *err, size_t errlen)
{
    self->kind = COLLECTOR_FILE;
    self->target = strdup (path);
    int fd = open (path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    struct stat st;
    if (fd >= 0 && fstat (fd, &st) == 0 && (st.st_mode & 077)) {
        if (fchmod (fd, 0600) == 0)
            log_warn ("-", "collector: %s was mode %04o: tightened to 0600", path,
                      st.st_mode & 0777);
    }
    self->file = fd >= 0? fdopen (fd, "a"): NULL;
    if (!self->file) {
        snprintf (err, errlen, "collector: cannot open %s: %s", path, strerror (errno));
        if (fd >= 0)
            close (fd);
        return -1;
    }
    return 0;
}

//  Reads the bearer token from the first line of path into the
//  Authorization header. The token never comes from a command line.
static int
s_token_read (collector_t *self, const char *path, char *err, size_t errlen)
{
    FILE *file = fopen (path, "r");
    if (!file) {
        snprintf (err, errlen, "--collector-token-file %s: %s", path, strerror (errno));
        return -1;
    }
    char line [1024];
    bool read = fgets (line, sizeof line, file) != NULL;
    fclose (file);
    size_t len = read? strcspn (line, "\r\n"): 0;
    line [len] = '\0';
    bool printable = len > 0;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char) line [i] <= 0x20 || (unsigned char) line [i] >= 0x7F)
            printable = false;
    if (!printable || len >= sizeof line - 1) {
        explicit_bzero (line, sizeof line);
        snprintf (err, errlen, "--collector-token-file %s: the first line must be one "
                  "token of printable ASCII", path);
        return -1;
    }
    size_t size = len + 32;
    self->auth = (char *) malloc (size);
    if (self->auth)
        snprintf (self->auth, size, "Authorization: Bearer %s", line);
    explicit_bzero (line, sizeof line);
    if (!self->auth) {
        snprintf (err, errlen, "collector: out of memory");
        return -1;
    }
    return 0;
}

//  Sets up the http backend for url.
static int
s_http_open (collector_t *self, const config_t *cfg, const char *url, char *err,
             size_t errlen)
{
    self->kind = COLLECTOR_HTTP;
    self->target = strdup (url);
    self->curl = curl_easy_init ();
    if (!self->curl) {
        snprintf (err, errlen, "collector: libcurl could not start");
        return -1;
    }
    CURL *c = self->curl;
    int rc = 0;
    rc |= curl_easy_setopt (c, CURLOPT_URL, url);
    rc |= curl_easy_setopt (c, CURLOPT_NOSIGNAL, 1L);
    rc |= curl_easy_setopt (c, CURLOPT_FOLLOWLOCATION, 0L);
    rc |= curl_easy_setopt (c, CURLOPT_PROTOCOLS_STR, "http,https");
    rc |= curl_easy_setopt (c, CURLOPT_WRITEFUNCTION, s_discard);
    rc |= curl_easy_setopt (c, CURLOPT_ERRORBUFFER, self->curl_err);
    rc |= curl_easy_setopt (c, CURLOPT_POST, 1L);
    if (rc != CURLE_OK) {
        snprintf (err, errlen, "collector: libcurl refused the URL %s", url);
        return -1;
    }
    if (*cfg->collector_ca_file) {
        if (access (cfg->collector_ca_file, R_OK) != 0) {
            snprintf (err, errlen, "--collector-ca-file %s: %s", cfg->collector_ca_file,
                      strerror (errno));
            return -1;
        }
        if (curl_easy_setopt (c, CURLOPT_CAINFO, cfg->collector_ca_file) != CURLE_OK) {
            snprintf (err, errlen, "--collector-ca-file: libcurl cannot use a CA file");
            return -1;
        }
    }
    if (*cfg->collector_token_file && s_token_read (self, cfg->collector_token_file, err, errlen))
        return -1;
    return 0;
}

//  A collector for cfg->collector_url ("" or file:PATH, or http(s)://…).
collector_t *
collector_new (const config_t *cfg, char *err, size_t errlen)
{
    collector_t *self = (collector_t *) zmalloc (sizeof (collector_t));
    self->batch_start = -1;
    const char *url = cfg->collector_url;
    int rc;
    if (!*url || strncmp (url, "file:", 5) == 0) {
        char path [1100];
        if (*url && url [5])
            snprintf (path, sizeof path, "%s", url + 5);
        else
            snprintf (path, sizeof path, "%s/collector.jsonl",
                      cfg->data_dir [0] ? cfg->data_dir : ".");
        rc = s_file_open (self, path, err, errlen);
    }
    else
    if (strncmp (url, "http://", 7) == 0 || strncmp (url, "https://", 8) == 0)
        rc = s_http_open (self, cfg, url, err, errlen);
    else {
        snprintf (err, errlen, "collector: unsupported URL '%s' (use file:PATH or http(s)://)",
                  url);
        rc = -1;
    }
    if (rc != 0)
        collector_destroy (&self);
    return self;
}

//  Closes the file or libcurl handle.
void
collector_destroy (collector_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    collector_t *self = *self_p;
    if (self->file)
        fclose (self->file);
    if (self->curl)
        curl_easy_cleanup (self->curl);
    if (self->auth) {
        explicit_bzero (self->auth, strlen (self->auth));
        free (self->auth);
    }
    free (self->target);
    free (self);
    *self_p = NULL;
}

//  After a failed append: drops what stdio still buffers and cuts the file
//  back to size bytes (not when size is negative), so the next append
//  starts a clean line.
static void
s_file_undo (collector_t *self, off_t size)
{
    __fpurge (self->file);
    clearerr (self->file);
    if (size >= 0 && ftruncate (fileno (self->file), size) != 0)
        log_warn ("-", "collector: cannot cut %s back to %lld bytes: %s", self->target,
                  (long long) size, strerror (errno));
}

//  Appends json as one line, not yet forced to disk (s_file_flush).
static int
s_file_append (collector_t *self, const char *json, size_t len)
{
    if (memchr (json, '\n', len)) {
        log_error ("-", "collector: event with a newline refused (would split the line)");
        return -1;
    }
    //  Where the batch starts: a failed write (disk full) may leave part of
    //  a line in the file and the rest in stdio's buffer, and the retry
    //  would then glue the whole line onto that fragment, so the event
    //  would be in no line a reader can parse. On failure the whole batch
    //  is cut back: its events are all delivered again.
    if (self->batch_start < 0) {
        struct stat st;
        if (fflush (self->file) != 0 || fstat (fileno (self->file), &st) != 0) {
            log_warn ("-", "collector: write %s: %s", self->target, strerror (errno));
            s_file_undo (self, -1);
            return -1;
        }
        self->batch_start = (off_t) st.st_size;
    }
    if (fwrite (json, 1, len, self->file) != len || fputc ('\n', self->file) == EOF) {
        log_warn ("-", "collector: write %s: %s", self->target, strerror (errno));
        s_file_undo (self, self->batch_start);
        self->batch_start = -1;
        self->broken = true;
        return -1;
    }
    return 0;
}

//  Forces the lines appended since the last flush to disk: one fflush and
//  one fsync for all of them.
static int
s_file_flush (collector_t *self)
{
    if (self->broken) {
        self->broken = false;
        return -1;
    }
    if (self->batch_start < 0)
        return 0;
    int rc = 0;
    if (fflush (self->file) != 0 || fsync (fileno (self->file)) != 0) {
        log_warn ("-", "collector: write %s: %s", self->target, strerror (errno));
        s_file_undo (self, self->batch_start);
        rc = -1;
    }
    self->batch_start = -1;
    return rc;
}

//  POSTs json with its Idempotency-Key; 0 on a 2xx answer.
static int
s_http_deliver (collector_t *self, const char *order_no, const char *json, size_t len,
                int timeout_ms)
{
    char idem [128];
    snprintf (idem, sizeof idem, "Idempotency-Key: %s", order_no ? order_no : "");
    struct curl_slist *headers = curl_slist_append (NULL, "Content-Type: application/json");
    struct curl_slist *more = headers ? curl_slist_append (headers, idem) : NULL;
    if (!more) {
        curl_slist_free_all (headers);
        return -1;
    }
    headers = more;
    if (self->auth) {
        more = curl_slist_append (headers, self->auth);
        if (!more) {
            curl_slist_free_all (headers);
            return -1;
        }
        headers = more;
    }
    CURL *c = self->curl;
    curl_easy_setopt (c, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt (c, CURLOPT_POSTFIELDS, json);
    curl_easy_setopt (c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) len);
    curl_easy_setopt (c, CURLOPT_TIMEOUT_MS, (long) (timeout_ms > 0 ? timeout_ms : 1));
    curl_easy_setopt (c, CURLOPT_CONNECTTIMEOUT_MS, (long) (timeout_ms > 0 ? timeout_ms : 1));
    self->curl_err [0] = 0;
    CURLcode rc = curl_easy_perform (c);
    long status = 0;
    curl_easy_getinfo (c, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_setopt (c, CURLOPT_HTTPHEADER, NULL);
    curl_slist_free_all (headers);
    if (rc != CURLE_OK) {
        log_debug ("-", "collector: POST %s for %s: %s", self->target, order_no,
                   self->curl_err [0] ? self->curl_err : curl_easy_strerror (rc));
        return -1;
    }
    if (status < 200 || status > 299) {
        log_debug ("-", "collector: POST %s for %s answered %ld", self->target, order_no, status);
        return -1;
    }
    return 0;
}

//  Hands one event over (see collector.h).
int
collector_append (collector_t *self, const char *order_no, const char *json, size_t len,
                  int timeout_ms)
{
    assert (self);
    if (!json)
        return -1;
    if (self->kind == COLLECTOR_FILE)
        return s_file_append (self, json, len);
    return s_http_deliver (self, order_no, json, len, timeout_ms);
}

//  Makes what was appended delivered (see collector.h).
int
collector_flush (collector_t *self)
{
    assert (self);
    return self->kind == COLLECTOR_FILE ? s_file_flush (self) : 0;
}

//  Delivers one event; 0 delivered, -1 retry later.
int
collector_deliver (collector_t *self, const char *order_no, const char *json, size_t len,
                   int timeout_ms)
{
    if (collector_append (self, order_no, json, len, timeout_ms) != 0) {
        self->broken = false;
        return -1;
    }
    return collector_flush (self);
}
