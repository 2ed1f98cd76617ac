/*  coffee-mock-broker — a Kafka-protocol broker for tests: librdkafka's mock
    cluster, run as its own process so servers and tests talk to it over
    loopback exactly as to a real broker.

      coffee-mock-broker [--brokers 1|3] [--partitions 3] [--topic order-events]
                         [--port P] [--control-port C] [--exit-with-parent]

    librdkafka 2.0.2 binds every mock broker to 127.0.0.1 on a port the
    kernel picks, and offers no way to choose it. So the broker prints its
    addresses on stdout, one line each, flushed, before it serves:

      BOOTSTRAP 127.0.0.1:40001,127.0.0.1:40002,...   the mock brokers
      LISTEN 127.0.0.1:P                               only with --port P
      CONTROL 127.0.0.1:C                              the control port
      READY

    With --port P it also listens on 127.0.0.1:P and relays each connection
    to broker 1, so "127.0.0.1:P" works as bootstrap.servers: clients learn
    the real broker addresses from the metadata and connect there.

    Control: a line on a TCP connection to the control port (C is picked
    free unless given) is answered with "OK" or "ERR <why>":
      down [ID]   disconnect broker ID (default: all) and refuse connections
      up [ID]     accept connections again
      fail API COUNT ERR
                  answer the next COUNT requests of Kafka API key API
                  (14 SyncGroup, 11 JoinGroup, ...) with error code ERR
                  (27 REBALANCE_IN_PROGRESS, ...), cluster-wide
      quit        stop, like SIGTERM
    SIGUSR1 and SIGUSR2 do "down" and "up" for all brokers. SIGTERM and
    SIGINT stop it cleanly; with --exit-with-parent it gets SIGTERM when the
    process that started it dies, so a crashed test leaves no broker behind.
    stdin is not read (tests give it /dev/null). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#define MOCK_CONTROL_MAX    8           //  control connections at once
#define MOCK_LINE_MAX       128         //  longest control line
#define MOCK_RELAY_MAX      256         //  relayed connections at once
#define MOCK_POLL_MS        200         //  poll slice; how soon a stop is seen
#define MOCK_IO_BUF         65536       //  relay copy buffer

//  A control connection and its partial line.
typedef struct {
    int fd;                             //  socket, -1 when the slot is free
    char line [MOCK_LINE_MAX];          //  bytes read so far
    size_t len;                         //  bytes in line
} control_t;

//  One relayed connection: a client of --port and its link to broker 1.
typedef struct {
    int client;                         //  accepted socket
    int upstream;                       //  socket to broker 1
    pthread_t thread;                   //  copies bytes both ways
    atomic_bool done;                   //  the thread finished
    atomic_bool *stopping;              //  the broker is stopping
} relay_t;

typedef struct {
    rd_kafka_t *rk;                     //  handle that owns the mock cluster
    rd_kafka_mock_cluster_t *cluster;   //  the brokers
    int brokers;                        //  broker count
    struct sockaddr_in broker1;         //  broker 1's address, for the relay
    int signal_fd;                      //  SIGTERM/SIGINT/SIGUSR1/SIGUSR2
    int control_fd;                     //  control listener
    int relay_fd;                       //  --port listener, -1 without --port
    control_t controls [MOCK_CONTROL_MAX];  //  open control connections
    relay_t *relays [MOCK_RELAY_MAX];   //  relayed connections (NULL = free)
    atomic_bool stopping;               //  tells relay threads to finish
    bool quit;                          //  leave the main loop
} broker_t;

//  Prints usage to out.
static void
s_usage (FILE *out)
{
    fprintf (out, "usage: coffee-mock-broker [--brokers N] [--partitions N] [--topic NAME]\n"
                  "                          [--port P] [--control-port C] [--exit-with-parent]\n");
}

//  A TCP listener on 127.0.0.1:port (0 = any free port); -1 on failure.
static int
s_listen (int port)
{
    int fd = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    int on = 1;
    setsockopt (fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
    struct sockaddr_in sin = { .sin_family = AF_INET,
                               .sin_port = htons ((uint16_t) port),
                               .sin_addr = { .s_addr = htonl (INADDR_LOOPBACK) } };
    if (bind (fd, (struct sockaddr *) &sin, sizeof sin) || listen (fd, 64)) {
        close (fd);
        return -1;
    }
    return fd;
}

//  The port a socket is bound to.
static int
s_port_of (int fd)
{
    struct sockaddr_in sin;
    socklen_t len = sizeof sin;
    if (getsockname (fd, (struct sockaddr *) &sin, &len))
        return -1;
    return ntohs (sin.sin_port);
}

//  Parses a decimal int in [min, max]; -1 when it is not one.
static int
s_parse_int (const char *text, int min, int max)
{
    char *end;
    errno = 0;
    long value = strtol (text, &end, 10);
    if (errno || end == text || *end || value < min || value > max)
        return -1;
    return (int) value;
}

//  Writes all of buf to fd; 0 or -1.
static int
s_write_all (int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t rc = send (fd, buf, len, MSG_NOSIGNAL);
        if (rc < 0 && errno == EINTR)
            continue;
        if (rc <= 0)
            return -1;
        buf += rc;
        len -= (size_t) rc;
    }
    return 0;
}

//  Copies bytes both ways between a relayed client and broker 1 until
//  either side closes or the broker stops.
static void *
s_relay_run (void *arg)
{
    relay_t *relay = (relay_t *) arg;
    char *buf = (char *) malloc (MOCK_IO_BUF);
    struct pollfd fds [2] = { { .fd = relay->client, .events = POLLIN },
                              { .fd = relay->upstream, .events = POLLIN } };
    while (buf && !atomic_load (relay->stopping)) {
        int rc = poll (fds, 2, MOCK_POLL_MS);
        if (rc < 0 && errno == EINTR)
            continue;
        if (rc < 0)
            break;
        bool closed = false;
        for (int i = 0; i < 2 && !closed; i++) {
            if (!fds [i].revents)
                continue;
            ssize_t got = recv (fds [i].fd, buf, MOCK_IO_BUF, 0);
            if (got < 0 && errno == EINTR)
                continue;
            if (got <= 0 || s_write_all (fds [1 - i].fd, buf, (size_t) got))
                closed = true;
        }
        if (closed)
            break;
    }
    free (buf);
    shutdown (relay->client, SHUT_RDWR);
    shutdown (relay->upstream, SHUT_RDWR);
    atomic_store (&relay->done, true);
    return NULL;
}

//  Joins and frees a relay whose thread ended (or all, when stopping).
static void
s_relays_reap (broker_t *self, bool all)
{
    for (int i = 0; i < MOCK_RELAY_MAX; i++) {
        relay_t *relay = self->relays [i];
        if (!relay || (!all && !atomic_load (&relay->done)))
            continue;
        pthread_join (relay->thread, NULL);
        close (relay->client);
        close (relay->upstream);
        free (relay);
        self->relays [i] = NULL;
    }
}

//  Accepts a client on --port and starts relaying it to broker 1.
static void
s_relay_accept (broker_t *self)
{
    int client = accept4 (self->relay_fd, NULL, NULL, SOCK_CLOEXEC);
    if (client < 0)
        return;
    s_relays_reap (self, false);
    int slot = 0;
    while (slot < MOCK_RELAY_MAX && self->relays [slot])
        slot++;
    int upstream = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (slot == MOCK_RELAY_MAX || upstream < 0
    ||  connect (upstream, (struct sockaddr *) &self->broker1, sizeof self->broker1)) {
        //  Broker 1 is down (or too many clients): the client sees a close.
        if (upstream >= 0)
            close (upstream);
        close (client);
        return;
    }
    relay_t *relay = (relay_t *) calloc (1, sizeof (relay_t));
    if (!relay) {
        close (client);
        close (upstream);
        return;
    }
    relay->client = client;
    relay->upstream = upstream;
    relay->stopping = &self->stopping;
    atomic_init (&relay->done, false);
    if (pthread_create (&relay->thread, NULL, s_relay_run, relay)) {
        close (client);
        close (upstream);
        free (relay);
        return;
    }
    self->relays [slot] = relay;
}

//  Runs one control command; writes the answer into reply.
static void
s_command (broker_t *self, char *line, char *reply, size_t size)
{
    char *verb = strtok (line, " \t\r");
    char *arg = verb ? strtok (NULL, " \t\r") : NULL;
    if (verb && strcmp (verb, "fail") == 0) {
        char *count_arg = strtok (NULL, " \t\r");
        char *err_arg = count_arg ? strtok (NULL, " \t\r") : NULL;
        int api = arg ? s_parse_int (arg, 0, 1000) : -1;
        int count = count_arg ? s_parse_int (count_arg, 1, 1000000) : -1;
        int code = err_arg ? s_parse_int (err_arg, 1, 1000) : -1;
        if (api < 0 || count < 0 || code < 0) {
            snprintf (reply, size, "ERR usage: fail API COUNT ERR\n");
            return;
        }
        //  The error list is pushed once per request to answer: librdkafka
        //  takes an array of codes, one per request.
        rd_kafka_resp_err_t *codes = calloc ((size_t) count, sizeof *codes);
        if (!codes) {
            snprintf (reply, size, "ERR out of memory\n");
            return;
        }
        for (int i = 0; i < count; i++)
            codes [i] = (rd_kafka_resp_err_t) code;
        rd_kafka_mock_push_request_errors_array (self->cluster, (int16_t) api, (size_t) count,
                                                 codes);
        free (codes);
        fprintf (stderr, "mock-broker: the next %d requests of API %d fail with %d\n", count,
                 api, code);
        snprintf (reply, size, "OK\n");
        return;
    }
    int id = -1;
    if (arg && (id = s_parse_int (arg, 1, self->brokers)) < 0) {
        snprintf (reply, size, "ERR no broker %s\n", arg);
        return;
    }
    rd_kafka_resp_err_t rc = RD_KAFKA_RESP_ERR_NO_ERROR;
    if (!verb)
        snprintf (reply, size, "ERR empty command\n");
    else
    if (strcmp (verb, "down") == 0) {
        rc = rd_kafka_mock_broker_set_down (self->cluster, id);
        fprintf (stderr, "mock-broker: broker %d down\n", id);
    }
    else
    if (strcmp (verb, "up") == 0) {
        rc = rd_kafka_mock_broker_set_up (self->cluster, id);
        fprintf (stderr, "mock-broker: broker %d up\n", id);
    }
    else
    if (strcmp (verb, "quit") == 0)
        self->quit = true;
    else {
        snprintf (reply, size, "ERR unknown command %s (down, up, fail, quit)\n", verb);
        return;
    }
    if (rc)
        snprintf (reply, size, "ERR %s\n", rd_kafka_err2str (rc));
    else
        snprintf (reply, size, "OK\n");
}

//  Reads what a control connection sent and answers each complete line;
//  closes the connection at EOF, on an error or on an overlong line.
static void
s_control_read (broker_t *self, control_t *control)
{
    ssize_t got = recv (control->fd, control->line + control->len,
                        sizeof control->line - 1 - control->len, 0);
    if (got < 0 && errno == EINTR)
        return;
    bool close_it = got <= 0;
    if (got > 0)
        control->len += (size_t) got;
    char *newline;
    while (!close_it && (newline = memchr (control->line, '\n', control->len))) {
        *newline = 0;
        char reply [MOCK_LINE_MAX + 64];
        s_command (self, control->line, reply, sizeof reply);
        if (s_write_all (control->fd, reply, strlen (reply)))
            close_it = true;
        size_t used = (size_t) (newline - control->line) + 1;
        memmove (control->line, newline + 1, control->len - used);
        control->len -= used;
    }
    if (!close_it && control->len == sizeof control->line - 1) {
        s_write_all (control->fd, "ERR line too long\n", 18);
        close_it = true;
    }
    if (close_it) {
        close (control->fd);
        control->fd = -1;
        control->len = 0;
    }
}

//  Accepts a control connection into a free slot (or turns it away).
static void
s_control_accept (broker_t *self)
{
    int fd = accept4 (self->control_fd, NULL, NULL, SOCK_CLOEXEC);
    if (fd < 0)
        return;
    for (int i = 0; i < MOCK_CONTROL_MAX; i++)
        if (self->controls [i].fd < 0) {
            self->controls [i].fd = fd;
            self->controls [i].len = 0;
            return;
        }
    s_write_all (fd, "ERR busy\n", 9);
    close (fd);
}

//  Handles one signal from the signal fd.
static void
s_signal (broker_t *self)
{
    struct signalfd_siginfo info;
    if (read (self->signal_fd, &info, sizeof info) != (ssize_t) sizeof info)
        return;
    if (info.ssi_signo == SIGUSR1) {
        rd_kafka_mock_broker_set_down (self->cluster, -1);
        fprintf (stderr, "mock-broker: all brokers down (SIGUSR1)\n");
    }
    else
    if (info.ssi_signo == SIGUSR2) {
        rd_kafka_mock_broker_set_up (self->cluster, -1);
        fprintf (stderr, "mock-broker: all brokers up (SIGUSR2)\n");
    }
    else
        self->quit = true;
}

//  Serves signals, control connections and the relay listener until told
//  to stop.
static void
s_serve (broker_t *self)
{
    while (!self->quit) {
        struct pollfd fds [3 + MOCK_CONTROL_MAX];
        int count = 0;
        fds [count++] = (struct pollfd) { .fd = self->signal_fd, .events = POLLIN };
        fds [count++] = (struct pollfd) { .fd = self->control_fd, .events = POLLIN };
        fds [count++] = (struct pollfd) { .fd = self->relay_fd, .events = POLLIN };
        for (int i = 0; i < MOCK_CONTROL_MAX; i++)
            fds [count++] = (struct pollfd) { .fd = self->controls [i].fd, .events = POLLIN };
        int rc = poll (fds, (nfds_t) count, MOCK_POLL_MS);
        if (rc < 0 && errno != EINTR) {
            perror ("mock-broker: poll");
            break;
        }
        if (rc <= 0) {
            s_relays_reap (self, false);
            continue;
        }
        if (fds [0].revents)
            s_signal (self);
        if (fds [1].revents)
            s_control_accept (self);
        if (self->relay_fd >= 0 && fds [2].revents)
            s_relay_accept (self);
        for (int i = 0; i < MOCK_CONTROL_MAX; i++)
            if (fds [3 + i].revents && self->controls [i].fd >= 0)
                s_control_read (self, &self->controls [i]);
    }
}

//  Fills self->broker1 from the first entry of the bootstrap list.
static int
s_broker1_address (broker_t *self, const char *bootstraps)
{
    char host [64];
    int port;
    if (sscanf (bootstraps, "%63[^:]:%d", host, &port) != 2)
        return -1;
    memset (&self->broker1, 0, sizeof self->broker1);
    self->broker1.sin_family = AF_INET;
    self->broker1.sin_port = htons ((uint16_t) port);
    //  librdkafka names the mock brokers "localhost" or "127.0.0.1".
    self->broker1.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
    return 0;
}

int
main (int argc, char **argv)
{
    int brokers = 1, partitions = 3, port = -1, control_port = 0;
    bool exit_with_parent = false;
    pid_t parent = getppid ();
    const char *topic = "order-events";
    static const struct option options [] = {
        { "brokers", required_argument, NULL, 'b' },
        { "partitions", required_argument, NULL, 'n' },
        { "topic", required_argument, NULL, 't' },
        { "port", required_argument, NULL, 'p' },
        { "control-port", required_argument, NULL, 'c' },
        { "exit-with-parent", no_argument, NULL, 'e' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 }
    };
    int opt;
    while ((opt = getopt_long (argc, argv, "", options, NULL)) != -1) {
        switch (opt) {
            case 'b': brokers = s_parse_int (optarg, 1, 16); break;
            case 'n': partitions = s_parse_int (optarg, 1, 1024); break;
            case 't': topic = optarg; break;
            case 'p': port = s_parse_int (optarg, 1, 65535); if (port < 0) port = -2; break;
            case 'c': control_port = s_parse_int (optarg, 0, 65535); break;
            case 'e': exit_with_parent = true; break;
            case 'h': s_usage (stdout); return 0;
            default: s_usage (stderr); return 2;
        }
    }
    if (brokers < 0 || partitions < 0 || port == -2 || control_port < 0 || !*topic
    ||  optind != argc) {
        s_usage (stderr);
        return 2;
    }
    broker_t self_store;
    broker_t *self = &self_store;
    memset (self, 0, sizeof *self);
    self->brokers = brokers;
    self->signal_fd = self->control_fd = self->relay_fd = -1;
    atomic_init (&self->stopping, false);
    for (int i = 0; i < MOCK_CONTROL_MAX; i++)
        self->controls [i].fd = -1;
    int status = 1;

    sigset_t mask;
    sigemptyset (&mask);
    sigaddset (&mask, SIGTERM);
    sigaddset (&mask, SIGINT);
    sigaddset (&mask, SIGUSR1);
    sigaddset (&mask, SIGUSR2);
    //  Blocked before librdkafka starts its threads, so they inherit the mask
    //  and every signal reaches the signal fd.
    pthread_sigmask (SIG_BLOCK, &mask, NULL);
    signal (SIGPIPE, SIG_IGN);
    self->signal_fd = signalfd (-1, &mask, SFD_CLOEXEC);
    if (self->signal_fd < 0) {
        perror ("mock-broker: signalfd");
        goto done;
    }
    //  The parent may have died before prctl: then we are already orphaned.
    if (exit_with_parent
    &&  (prctl (PR_SET_PDEATHSIG, SIGTERM) != 0 || getppid () != parent)) {
        fprintf (stderr, "mock-broker: parent gone\n");
        goto done;
    }
    char errstr [256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new ();
    //  This handle only hosts the cluster; it talks to no broker itself.
    if (rd_kafka_conf_set (conf, "log_level", "4", errstr, sizeof errstr)) {
        fprintf (stderr, "mock-broker: %s\n", errstr);
        rd_kafka_conf_destroy (conf);
        goto done;
    }
    self->rk = rd_kafka_new (RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
    if (!self->rk) {
        fprintf (stderr, "mock-broker: %s\n", errstr);
        rd_kafka_conf_destroy (conf);
        goto done;
    }
    self->cluster = rd_kafka_mock_cluster_new (self->rk, brokers);
    if (!self->cluster) {
        fprintf (stderr, "mock-broker: could not create the mock cluster\n");
        goto done;
    }
    rd_kafka_resp_err_t rc = rd_kafka_mock_topic_create (self->cluster, topic, partitions,
                                                         brokers < 3 ? brokers : 3);
    if (rc) {
        fprintf (stderr, "mock-broker: topic %s: %s\n", topic, rd_kafka_err2str (rc));
        goto done;
    }
    const char *bootstraps = rd_kafka_mock_cluster_bootstraps (self->cluster);
    if (s_broker1_address (self, bootstraps)) {
        fprintf (stderr, "mock-broker: unexpected bootstrap list %s\n", bootstraps);
        goto done;
    }
    self->control_fd = s_listen (control_port);
    if (self->control_fd < 0) {
        fprintf (stderr, "mock-broker: control port %d: %s\n", control_port, strerror (errno));
        goto done;
    }
    if (port > 0) {
        self->relay_fd = s_listen (port);
        if (self->relay_fd < 0) {
            fprintf (stderr, "mock-broker: port %d: %s\n", port, strerror (errno));
            goto done;
        }
    }
    printf ("BOOTSTRAP %s\n", bootstraps);
    if (port > 0)
        printf ("LISTEN 127.0.0.1:%d\n", port);
    printf ("CONTROL 127.0.0.1:%d\n", s_port_of (self->control_fd));
    printf ("READY\n");
    fflush (stdout);
    fprintf (stderr, "mock-broker: %d broker(s), topic %s with %d partition(s)\n",
             brokers, topic, partitions);

    s_serve (self);
    status = 0;
done:
    atomic_store (&self->stopping, true);
    s_relays_reap (self, true);
    for (int i = 0; i < MOCK_CONTROL_MAX; i++)
        if (self->controls [i].fd >= 0)
            close (self->controls [i].fd);
    if (self->relay_fd >= 0)
        close (self->relay_fd);
    if (self->control_fd >= 0)
        close (self->control_fd);
    if (self->cluster)
        rd_kafka_mock_cluster_destroy (self->cluster);
    if (self->rk)
        rd_kafka_destroy (self->rk);
    if (self->signal_fd >= 0)
        close (self->signal_fd);
    return status;
}
