/*  test_e2e_docker — keeps docker/ honest without a Docker engine.

    Runs tests/docker_check.py against the coffee binary this build made:
    every COFFEE_* variable docker/compose.yaml sets must be one `coffee
    --help` lists (with a value the option accepts), every command a real
    subcommand, every port in agreement; the Dockerfile must install the
    package of every library the binary links. A second run breaks copies of
    the files on purpose and passes only if each break is reported, so the
    check itself is known to bite.

    ctest bound: COFFEE_TEST_TIMEOUT 180 s. */
#include "testkit.h"
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <signal.h>

//  How long one checker run may take (it runs coffee --help, readelf and a
//  few dpkg-query calls).
#define CHECK_TIMEOUT_MS 120000

//  Prints a file to stderr, so a failure shows the checker's findings.
static void
s_print_file (const char *path)
{
    FILE *f = fopen (path, "r");
    if (!f)
        return;
    char line [1024];
    while (fgets (line, sizeof line, f))
        fputs (line, stderr);
    fclose (f);
}

//  Runs docker_check.py with one optional extra argument; returns its exit
//  status (-1 when it could not run or took too long), output on stderr.
static int
s_run_check (const char *extra)
{
    char *dir = tk_tempdir ("docker-check");
    assert_non_null (dir);
    char log_path [600];
    snprintf (log_path, sizeof log_path, "%s/check.log", dir);
    const char *argv [] = {
        "/usr/bin/env", "python3", COFFEE_SOURCE_DIR "/tests/docker_check.py",
        "--coffee", COFFEE_BIN, "--source", COFFEE_SOURCE_DIR, extra, NULL
    };
    pid_t pid = tk_spawn (argv, log_path);
    int status = pid > 0 ? tk_wait (pid, CHECK_TIMEOUT_MS) : -1;
    if (pid > 0 && status == -1) {
        kill (pid, SIGKILL);
        tk_wait (pid, 5000);
    }
    s_print_file (log_path);
    unlink (log_path);
    rmdir (dir);
    free (dir);
    return status;
}

//  The files in docker/ agree with the binary and the build.
static void
test_docker_files_agree_with_binary (void **state)
{
    (void) state;
    assert_int_equal (access (COFFEE_BIN, X_OK), 0);
    assert_int_equal (s_run_check (NULL), 0);
}

//  Each known way of breaking them is reported.
static void
test_docker_check_catches_drift (void **state)
{
    (void) state;
    assert_int_equal (s_run_check ("--self-test"), 0);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_docker_files_agree_with_binary),
        cmocka_unit_test (test_docker_check_catches_drift),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
