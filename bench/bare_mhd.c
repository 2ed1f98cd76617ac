/*  bare-mhd — the ceiling for the GET benchmarks: a libmicrohttpd server
    with the same flags and thread pool as coffee's HTTP front, answering
    every request with one fixed JSON body of a chosen size.

        bare-mhd --port P [--bind A] [--threads N] [--body-bytes B]

    Runs until SIGTERM or SIGINT. Not part of coffee; bench/run.sh uses it. */
#include <microhttpd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>

//  What the server answers with.
typedef struct {
    struct MHD_Response *response;  //  one shared response (MHD counts its uses)
    int seen;                       //  its address marks a request whose headers are in
} bare_t;

//  Answers every request with the fixed response, on the second call like
//  coffee does (an answer queued at the first call makes MHD 0.9.75 close
//  the connection, which would measure TCP setup instead of HTTP).
static enum MHD_Result
s_handle (void *cls, struct MHD_Connection *conn, const char *url, const char *method,
          const char *version, const char *upload_data, size_t *upload_data_size,
          void **con_cls)
{
    bare_t *self = (bare_t *) cls;
    if (*con_cls != &self->seen) {
        *con_cls = &self->seen;
        return MHD_YES;
    }
    if (*upload_data_size) {
        *upload_data_size = 0;
        return MHD_YES;
    }
    return MHD_queue_response (conn, MHD_HTTP_OK, self->response);
}

//  A JSON document of exactly bytes bytes (at least 10): {"pad":"xxx…"}.
static char *
s_body (size_t bytes)
{
    if (bytes < 10)
        bytes = 10;
    char *body = (char *) malloc (bytes + 1);
    if (!body)
        return NULL;
    memcpy (body, "{\"pad\":\"", 8);
    memset (body + 8, 'x', bytes - 10);
    memcpy (body + bytes - 2, "\"}", 2);
    body [bytes] = '\0';
    return body;
}

//  Reads an integer option value; exits on a bad one.
static long
s_number (const char *name, const char *value, long min, long max)
{
    char *end = NULL;
    long v = value? strtol (value, &end, 10): 0;
    if (!value || *end || v < min || v > max) {
        fprintf (stderr, "bare-mhd: %s wants a number in %ld..%ld\n", name, min, max);
        exit (2);
    }
    return v;
}

int
main (int argc, char **argv)
{
    long port = 0, threads = 4, bytes = 364;
    const char *bind = "127.0.0.1";
    for (int i = 1; i < argc; i++) {
        const char *value = i + 1 < argc? argv [i + 1]: NULL;
        if (strcmp (argv [i], "--port") == 0)
            port = s_number ("--port", value, 1, 65535);
        else
        if (strcmp (argv [i], "--threads") == 0)
            threads = s_number ("--threads", value, 1, 256);
        else
        if (strcmp (argv [i], "--body-bytes") == 0)
            bytes = s_number ("--body-bytes", value, 10, 64 * 1024 * 1024);
        else
        if (strcmp (argv [i], "--bind") == 0 && value)
            bind = value;
        else {
            fprintf (stderr, "usage: bare-mhd --port P [--bind A] [--threads N] "
                             "[--body-bytes B]\n");
            return 2;
        }
        i++;
    }
    if (port == 0) {
        fprintf (stderr, "bare-mhd: --port is required\n");
        return 2;
    }

    //  SIGTERM and SIGINT are taken by sigwait below, in every thread.
    sigset_t signals;
    sigemptyset (&signals);
    sigaddset (&signals, SIGTERM);
    sigaddset (&signals, SIGINT);
    pthread_sigmask (SIG_BLOCK, &signals, NULL);
    signal (SIGPIPE, SIG_IGN);

    struct sockaddr_in addr;
    memset (&addr, 0, sizeof (addr));
    addr.sin_family = AF_INET;
    addr.sin_port = htons ((uint16_t) port);
    if (inet_pton (AF_INET, bind, &addr.sin_addr) != 1) {
        fprintf (stderr, "bare-mhd: --bind %s is not an IPv4 address\n", bind);
        return 2;
    }

    bare_t self;
    char *body = s_body ((size_t) bytes);
    self.response = body? MHD_create_response_from_buffer_with_free_callback (
                              strlen (body), body, free): NULL;
    if (!self.response) {
        free (body);
        return 1;
    }
    MHD_add_response_header (self.response, MHD_HTTP_HEADER_CONTENT_TYPE,
                             "application/json; charset=utf-8");

    struct MHD_Daemon *daemon = MHD_start_daemon (
        MHD_USE_EPOLL | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ITC | MHD_USE_ERROR_LOG,
        (uint16_t) port, NULL, NULL, s_handle, &self,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *) &addr,
        MHD_OPTION_THREAD_POOL_SIZE, (unsigned int) threads,
        MHD_OPTION_CONNECTION_TIMEOUT, 30u,
        MHD_OPTION_END);
    if (!daemon) {
        fprintf (stderr, "bare-mhd: cannot listen on %s:%ld: %s\n", bind, port,
                 strerror (errno));
        MHD_destroy_response (self.response);
        return 1;
    }
    fprintf (stderr, "bare-mhd: %s:%ld, %ld threads, %ld-byte body\n", bind, port, threads,
             bytes);
    int sig = 0;
    sigwait (&signals, &sig);
    MHD_stop_daemon (daemon);
    MHD_destroy_response (self.response);
    return 0;
}
