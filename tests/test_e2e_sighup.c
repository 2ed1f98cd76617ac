/*  test_e2e_sighup — data at rest and SIGHUP, on the real binary over
    loopback (issue 9 points 9 and 10).

    - data at rest: a data dir that exists with mode 0755 is tightened to
      0700 (with a log line), and every file coffee makes in it (the SQLite
      stores with their -wal and -shm, the local event log, the file
      collector's output) is 0600; so is --log-file.
    - SIGHUP: with --log-file and --admin-token-file, the log file is moved
      away (as logrotate does) and the token file replaced; after SIGHUP
      the same process (same pid) answers the new token 200 and the old one
      401, and its lines go to a new file at the old path. A token file
      that turned bad keeps the token in force.

    ctest bound: COFFEE_TEST_TIMEOUT 120 s. */
#include "testkit.h"
#include <cmocka.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define WAIT_MS 10000           //  bound on waiting for a SIGHUP to take effect

//  The permission bits of path, or -1 when it is not there.
static int
s_mode (const char *path)
{
    struct stat st;
    return stat (path, &st) == 0? (int) (st.st_mode & 0777): -1;
}

//  Writes text to path (replacing it through a rename, as an editor or a
//  secret manager does).
static void
s_write (const char *path, const char *text)
{
    char tmp [720];
    snprintf (tmp, sizeof tmp, "%s.tmp", path);
    FILE *file = fopen (tmp, "w");
    assert_non_null (file);
    fputs (text, file);
    fclose (file);
    assert_int_equal (rename (tmp, path), 0);
}

//  The whole of a file, or NULL. Caller frees.
static char *
s_read (const char *path)
{
    FILE *file = fopen (path, "r");
    if (!file)
        return NULL;
    char *text = calloc (1, 1 << 20);
    size_t n = fread (text, 1, (1 << 20) - 1, file);
    text [n] = '\0';
    fclose (file);
    return text;
}

//  True when path holds needle.
static bool
s_file_has (const char *path, const char *needle)
{
    char *text = s_read (path);
    bool found = text && strstr (text, needle);
    free (text);
    return found;
}

//  PUT /admin/pools/point {"actors":2} (the size it has) with token:
//  the status, 0 on a transport failure.
static long
s_admin (int port, const char *token)
{
    char auth [300];
    snprintf (auth, sizeof auth, "Authorization: Bearer %s", token);
    const char *headers [] = { auth, "Content-Type: application/json", NULL };
    tk_resp_t resp;
    tk_http ("PUT", port, "/admin/pools/point", "{\"actors\":2}", headers, &resp);
    long status = resp.status;
    tk_resp_reset (&resp);
    return status;
}

//  A data dir made 0755 beforehand is tightened; every file is 0600.
static void
test_data_at_rest (void **state)
{
    char *dir = tk_tempdir ("coffee-at-rest");
    assert_non_null (dir);
    char data [600], log [700];
    snprintf (data, sizeof data, "%s/var", dir);
    assert_int_equal (mkdir (data, 0755), 0);
    assert_int_equal (chmod (data, 0755), 0);
    snprintf (log, sizeof log, "%s/coffee.log", dir);
    const char *extra [] = { "--log-file", log, NULL };
    tk_server_t srv;
    assert_int_equal (tk_server_start (&srv, data, extra), 0);

    //  One charge, so every store and the event log have written.
    tk_resp_t resp;
    const char *json [] = { "Content-Type: application/json", NULL };
    tk_http ("POST", srv.port, "/customer", "{\"customerNm\":\"at rest\"}", json, &resp);
    assert_int_equal (resp.status, 200);
    tk_resp_reset (&resp);

    assert_int_equal (s_mode (data), 0700);
    assert_true (s_file_has (log, "was mode 0755: tightened to 0700"));
    const char *files [] = {
        "command.db", "command.db-wal", "command.db-shm", "display.db", "display.db-wal",
        "display.db-shm", "events.db", "events.db-wal", "events.db-shm", "collector.jsonl",
    };
    for (size_t i = 0; i < sizeof files / sizeof files [0]; i++) {
        char path [800];
        snprintf (path, sizeof path, "%s/%s", data, files [i]);
        int mode = s_mode (path);
        print_message ("%s %04o\n", files [i], mode);
        if (mode != 0600)
            fail_msg ("%s is mode %04o, not 0600", path, mode);
    }
    assert_int_equal (s_mode (log), 0600);
    assert_int_equal (tk_server_stop (&srv), 0);

    //  A store file left 0644 (by an older release) is tightened at start.
    char db [800];
    snprintf (db, sizeof db, "%s/command.db", data);
    assert_int_equal (chmod (db, 0644), 0);
    assert_int_equal (tk_server_restart (&srv, extra), 0);
    assert_int_equal (s_mode (db), 0600);
    assert_true (s_file_has (log, "command.db was mode 0644: tightened to 0600"));
    assert_int_equal (tk_server_stop (&srv), 0);
    free (dir);
}

//  SIGHUP rereads the admin token and reopens the log; same process.
static void
test_sighup (void **state)
{
    char *dir = tk_tempdir ("coffee-sighup");
    assert_non_null (dir);
    char token_file [700], log [700], rotated [720];
    snprintf (token_file, sizeof token_file, "%s/admin.token", dir);
    snprintf (log, sizeof log, "%s/coffee.log", dir);
    snprintf (rotated, sizeof rotated, "%s.1", log);
    const char *old_token = "old-admin-token-0123456789abcdef";
    const char *new_token = "new-admin-token-fedcba9876543210";
    char line [100];
    snprintf (line, sizeof line, "%s\n", old_token);
    s_write (token_file, line);
    const char *extra [] = { "--admin-token-file", token_file, "--log-file", log, NULL };
    tk_server_t srv;
    assert_int_equal (tk_server_start (&srv, NULL, extra), 0);
    pid_t pid = srv.pid;
    assert_int_equal (s_admin (srv.port, old_token), 200);
    assert_int_equal (s_admin (srv.port, new_token), 401);
    assert_true (s_file_has (log, "serving on"));

    //  logrotate: move the log away; the secret manager: a new token.
    assert_int_equal (rename (log, rotated), 0);
    snprintf (line, sizeof line, "%s\n", new_token);
    s_write (token_file, line);
    assert_int_equal (kill (pid, SIGHUP), 0);
    int64_t deadline = tk_now_ms () + WAIT_MS;
    while (s_admin (srv.port, new_token) != 200 && tk_now_ms () < deadline)
        usleep (50 * 1000);
    assert_int_equal (s_admin (srv.port, new_token), 200);
    assert_int_equal (s_admin (srv.port, old_token), 401);
    assert_int_equal (tk_wait (pid, 0), -1);           //  still running
    assert_int_equal (srv.pid, pid);

    //  The new file at the old path gets the lines from now on; the moved
    //  one keeps what came before.
    deadline = tk_now_ms () + WAIT_MS;
    while (!s_file_has (log, "admin token reread") && tk_now_ms () < deadline)
        usleep (50 * 1000);
    assert_true (s_file_has (log, "admin token reread"));
    assert_int_equal (s_mode (log), 0600);
    assert_true (s_file_has (rotated, "serving on"));
    assert_false (s_file_has (rotated, "admin token reread"));

    //  A token file that turned bad: the token in force stays.
    s_write (token_file, "short\n");
    assert_int_equal (kill (pid, SIGHUP), 0);
    deadline = tk_now_ms () + WAIT_MS;
    while (!s_file_has (log, "the admin token in force stays") && tk_now_ms () < deadline)
        usleep (50 * 1000);
    assert_true (s_file_has (log, "the admin token in force stays"));
    assert_int_equal (s_admin (srv.port, new_token), 200);

    tk_resp_t resp;
    tk_http ("GET", srv.port, "/health", NULL, NULL, &resp);
    assert_int_equal (resp.status, 200);
    tk_resp_reset (&resp);
    assert_int_equal (tk_server_stop (&srv), 0);
    assert_true (s_file_has (log, "stopped"));
    free (dir);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_data_at_rest),
        cmocka_unit_test (test_sighup),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
