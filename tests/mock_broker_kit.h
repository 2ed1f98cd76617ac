/*  mock_broker_kit — starts coffee-mock-broker for a test, reads the
    addresses it prints, sends it control commands and stops it by pid.
    Header-only (static inline) so test_bridge_kafka and test_e2e_* share it
    without a library of their own. Include after testkit.h. Nothing here
    uses cmocka's asserts. */
#ifndef MOCK_BROKER_KIT_H_INCLUDED
#define MOCK_BROKER_KIT_H_INCLUDED

#include "testkit.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>

#define MB_START_TIMEOUT_MS   15000     //  for READY after the spawn
#define MB_CONTROL_TIMEOUT_MS 5000      //  for the answer to a command
#define MB_STOP_TIMEOUT_MS    10000     //  for the exit after SIGTERM

//  A running mock broker.
typedef struct {
    pid_t pid;                  //  process id, 0 when not running
    char bootstrap [512];       //  bootstrap.servers for clients
    int control_port;           //  its control port on 127.0.0.1
    char dir [512];             //  temporary folder holding its log
    char log_path [600];        //  its stdout+stderr
} mb_t;

//  Starts coffee-mock-broker with brokers and partitions for topic and
//  waits for READY. Returns 0, or -1 (the log is printed to stderr).
static inline int
mb_start (mb_t *self, int brokers, int partitions, const char *topic)
{
    memset (self, 0, sizeof *self);
    char *dir = tk_tempdir ("coffee-mock-broker");
    if (!dir)
        return -1;
    snprintf (self->dir, sizeof self->dir, "%s", dir);
    free (dir);
    snprintf (self->log_path, sizeof self->log_path, "%s/broker.log", self->dir);
    char brokers_s [16], partitions_s [16];
    snprintf (brokers_s, sizeof brokers_s, "%d", brokers);
    snprintf (partitions_s, sizeof partitions_s, "%d", partitions);
    const char *argv [] = { COFFEE_MOCK_BROKER_BIN, "--brokers", brokers_s,
                            "--partitions", partitions_s, "--topic", topic,
                            "--exit-with-parent", NULL };
    self->pid = tk_spawn (argv, self->log_path);
    if (self->pid <= 0) {
        self->pid = 0;
        return -1;
    }
    int64_t deadline = tk_now_ms () + MB_START_TIMEOUT_MS;
    while (tk_now_ms () < deadline) {
        FILE *file = fopen (self->log_path, "r");
        bool ready = false;
        char line [1024];
        while (file && fgets (line, sizeof line, file)) {
            line [strcspn (line, "\r\n")] = 0;
            if (strncmp (line, "BOOTSTRAP ", 10) == 0 && strlen (line + 10) < sizeof self->bootstrap)
                memcpy (self->bootstrap, line + 10, strlen (line + 10) + 1);
            else
            if (strncmp (line, "CONTROL 127.0.0.1:", 18) == 0)
                self->control_port = atoi (line + 18);
            else
            if (strcmp (line, "READY") == 0)
                ready = true;
        }
        if (file)
            fclose (file);
        if (ready && self->bootstrap [0] && self->control_port > 0)
            return 0;
        if (tk_wait (self->pid, 50) >= 0) {
            self->pid = 0;      //  it exited: reaped by tk_wait
            break;
        }
    }
    fprintf (stderr, "mock broker did not start; log %s\n", self->log_path);
    if (self->pid > 0) {
        kill (self->pid, SIGKILL);
        tk_wait (self->pid, MB_STOP_TIMEOUT_MS);
        self->pid = 0;
    }
    return -1;
}

//  Sends one command line ("down", "up", "down 2", ...) on the control port
//  and returns 0 when the broker answered OK.
static inline int
mb_control (mb_t *self, const char *command)
{
    int fd = socket (AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    struct timeval tv = { MB_CONTROL_TIMEOUT_MS / 1000, 0 };
    setsockopt (fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt (fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    struct sockaddr_in sin = { .sin_family = AF_INET,
                               .sin_port = htons ((uint16_t) self->control_port),
                               .sin_addr = { .s_addr = htonl (INADDR_LOOPBACK) } };
    char line [128];
    snprintf (line, sizeof line, "%s\n", command);
    char reply [128] = "";
    size_t got = 0;
    if (connect (fd, (struct sockaddr *) &sin, sizeof sin) == 0
    &&  send (fd, line, strlen (line), MSG_NOSIGNAL) == (ssize_t) strlen (line)) {
        while (got < sizeof reply - 1 && !memchr (reply, '\n', got)) {
            ssize_t rc = recv (fd, reply + got, sizeof reply - 1 - got, 0);
            if (rc <= 0)
                break;
            got += (size_t) rc;
            reply [got] = 0;
        }
    }
    close (fd);
    if (strncmp (reply, "OK", 2) != 0) {
        fprintf (stderr, "mock broker: '%s' answered '%s'\n", command, reply);
        return -1;
    }
    return 0;
}

//  Stops the broker with SIGTERM (SIGKILL if it does not exit in time) and
//  removes its folder unless keep_log. Returns its exit status or -1.
static inline int
mb_stop (mb_t *self, bool keep_log)
{
    int status = -1;
    if (self->pid > 0) {
        kill (self->pid, SIGTERM);
        status = tk_wait (self->pid, MB_STOP_TIMEOUT_MS);
        if (status < 0) {
            kill (self->pid, SIGKILL);
            tk_wait (self->pid, MB_STOP_TIMEOUT_MS);
        }
        self->pid = 0;
    }
    if (keep_log)
        fprintf (stderr, "mock broker log kept at %s\n", self->log_path);
    else
    if (self->dir [0]) {
        unlink (self->log_path);
        rmdir (self->dir);
    }
    return status;
}

#endif
