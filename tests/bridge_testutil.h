/*  bridge_testutil — helpers shared by the bridge tests: `coffee
    mock-collector` run as its own process. The child is forked from the
    test and runs bridge_mock_collector_main, so the test needs no other
    binary built and always runs the code under test. Fork it before the
    test creates ZeroMQ sockets or threads of its own where possible. */
#ifndef BRIDGE_TESTUTIL_H_INCLUDED
#define BRIDGE_TESTUTIL_H_INCLUDED

#include <signal.h>
#include <sys/wait.h>
#include "bridge.h"

//  True when GET /orders answered 200.
static inline bool
bt_mock_ready (const tk_resp_t *resp, void *arg)
{
    return resp->status == 200;
}

//  Starts a mock collector on port with extra flags (NULL-terminated, may
//  be NULL) and waits until it answers. Returns its pid or -1.
static inline pid_t
bt_mock_start (int port, const char *const *extra)
{
    char port_text [16];
    snprintf (port_text, sizeof port_text, "%d", port);
    char *argv [32] = { "mock-collector", "--port", port_text };
    int argc = 3;
    for (int i = 0; extra && extra [i] && argc < 31; i++)
        argv [argc++] = (char *) extra [i];
    argv [argc] = NULL;
    fflush (NULL);
    pid_t pid = fork ();
    if (pid < 0)
        return -1;
    if (pid == 0)
        _exit (bridge_mock_collector_main (argc, argv));
    if (tk_http_until (port, "/orders", bt_mock_ready, NULL, 10000) != 0) {
        kill (pid, SIGKILL);
        tk_wait (pid, 5000);
        return -1;
    }
    return pid;
}

//  Stops the mock with SIGTERM; returns its exit status (0 for a clean stop).
static inline int
bt_mock_stop (pid_t pid)
{
    if (pid <= 0)
        return -1;
    kill (pid, SIGTERM);
    int status = tk_wait (pid, 10000);
    if (status == -1) {
        kill (pid, SIGKILL);
        tk_wait (pid, 5000);
    }
    return status;
}

//  POST /control with body; returns the HTTP status.
static inline long
bt_mock_control (int port, const char *body)
{
    tk_resp_t resp = { 0 };
    tk_http ("POST", port, "/control", body, NULL, &resp);
    long status = resp.status;
    tk_resp_reset (&resp);
    return status;
}

//  GET /orders: the parsed answer (cJSON_Delete), NULL on failure.
static inline cJSON *
bt_mock_orders (int port)
{
    tk_resp_t resp = { 0 };
    cJSON *json = NULL;
    if (tk_http ("GET", port, "/orders", NULL, NULL, &resp) == 0 && resp.status == 200 && resp.json) {
        json = resp.json;
        resp.json = NULL;
    }
    tk_resp_reset (&resp);
    return json;
}

//  "count" of GET /orders, -1 on failure.
static inline int
bt_mock_count (int port)
{
    cJSON *json = bt_mock_orders (port);
    const cJSON *count = cJSON_GetObjectItemCaseSensitive (json, "count");
    int n = cJSON_IsNumber (count) ? count->valueint : -1;
    cJSON_Delete (json);
    return n;
}

#endif
