/*  test_store_tls — the MySQL driver's TLS options against a real MariaDB
    (issue 9 point 9).

    The test makes a CA, a server certificate for 127.0.0.1 signed by it and
    a second, unrelated CA with openssl, then starts a private mariadbd
    (scripts/mariadb.sh, on a free loopback port, in a temporary folder)
    with --ssl-ca/--ssl-cert/--ssl-key:
    - ssl-mode=VERIFY_CA and VERIFY_IDENTITY with the right CA connect, and
      the session is encrypted (Ssl_version is TLS…);
    - the wrong CA fails with the connector's certificate error;
    - a URL parameter we do not know, ssl-mode=VERIFY_CA without a CA, and
      a CA file that is not there fail before connecting;
    then restarts the server without TLS: ssl-mode=REQUIRED fails, DISABLED
    connects. The server is stopped by the pid file scripts/mariadb.sh
    keeps, in the teardown.

    Skipped when mariadbd or openssl is not installed.
    ctest bound: COFFEE_TEST_TIMEOUT 240 s. */
#include "testkit.h"
#include <cmocka.h>
#include "db.h"
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>
#include <unistd.h>

//  The private server and the certificates.
typedef struct {
    char dir [512];             //  temporary folder: certificates and db/
    int port;                   //  mariadbd's port on 127.0.0.1
    char password [64];         //  the coffee user's password
    bool started;               //  mariadb.sh start ran
} fixture_t;

//  Runs a shell line; its exit status.
static int
s_sh (const char *line)
{
    int rc = system (line);
    return rc == -1 || !WIFEXITED (rc)? -1: WEXITSTATUS (rc);
}

//  scripts/mariadb.sh CMD on the private server with extra mariadbd options.
static int
s_mariadb (fixture_t *self, const char *cmd, const char *options)
{
    char line [2400];
    snprintf (line, sizeof line, "sh '%s/scripts/mariadb.sh' %s '%s/db' %d %s >'%s/mariadb.out' 2>&1",
              COFFEE_SOURCE_DIR, cmd, self->dir, self->port, options, self->dir);
    int rc = s_sh (line);
    if (rc != 0) {
        snprintf (line, sizeof line, "tail -n 20 '%s/mariadb.out' >&2", self->dir);
        s_sh (line);
    }
    return rc;
}

//  Makes ca.pem, server.pem/server.key (for 127.0.0.1, signed by ca.pem)
//  and other-ca.pem in the folder.
static int
s_make_certs (const char *dir)
{
    char line [3000];
    snprintf (line, sizeof line,
        "cd '%s' && printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\\n' > san.ext && "
        "openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 "
        "  -subj /CN=coffee-test-ca && "
        "openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr "
        "  -subj /CN=127.0.0.1 && "
        "openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial "
        "  -out server.pem -days 2 -extfile san.ext && "
        "openssl req -x509 -newkey rsa:2048 -nodes -keyout other-ca.key -out other-ca.pem "
        "  -days 2 -subj /CN=coffee-other-ca", dir);
    char quiet [3700];
    snprintf (quiet, sizeof quiet, "(%s) >'%s/openssl.out' 2>&1", line, dir);
    return s_sh (quiet);
}

//  Deletes one entry of a temp tree.
static int
s_remove_entry (const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    return remove (path);
}

//  Starts mariadbd with TLS; state NULL (skip) without mariadbd or openssl.
static int
s_setup (void **state)
{
    *state = NULL;
    if (s_sh ("command -v openssl >/dev/null && "
              "(command -v mariadbd || test -x /usr/sbin/mariadbd) >/dev/null") != 0)
        return 0;
    fixture_t *self = (fixture_t *) calloc (1, sizeof (fixture_t));
    char *dir = tk_tempdir ("coffee-store-tls");
    if (!self || !dir)
        return -1;
    snprintf (self->dir, sizeof self->dir, "%s", dir);
    free (dir);
    self->port = tk_free_port ();
    *state = self;
    if (s_make_certs (self->dir) != 0) {
        fprintf (stderr, "openssl could not make the certificates (see %s/openssl.out)\n",
                 self->dir);
        return -1;
    }
    char options [2000];
    snprintf (options, sizeof options, "--ssl-ca='%s/ca.pem' --ssl-cert='%s/server.pem' "
              "--ssl-key='%s/server.key'", self->dir, self->dir, self->dir);
    self->started = true;
    if (s_mariadb (self, "start", options) != 0)
        return -1;
    char path [700];
    snprintf (path, sizeof path, "%s/db/coffee.password", self->dir);
    FILE *file = fopen (path, "r");
    if (!file || !fgets (self->password, sizeof self->password, file)) {
        if (file)
            fclose (file);
        return -1;
    }
    fclose (file);
    self->password [strcspn (self->password, "\r\n")] = '\0';
    return 0;
}

//  Stops the server (by its pid file) and removes the folder.
static int
s_teardown (void **state)
{
    fixture_t *self = (fixture_t *) *state;
    if (!self)
        return 0;
    if (self->started)
        s_mariadb (self, "stop", "");
    nftw (self->dir, s_remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    free (self);
    return 0;
}

//  The store URL with query (may be "").
static void
s_url (fixture_t *self, const char *query, char *url, size_t size)
{
    snprintf (url, size, "mysql://coffee:%s@127.0.0.1:%d/coffee%s", self->password,
              self->port, query);
}

//  Connects with query and returns the session's TLS version ("" for
//  none), or fails the test with the open error.
static void
s_expect_tls (fixture_t *self, const char *query)
{
    char url [2000], err [512] = "";
    s_url (self, query, url, sizeof url);
    db_t *db = db_open (url, err, sizeof err);
    if (!db)
        fail_msg ("%s: %s", query, err);
    db_stmt_t *st = db_stmt (db, "SHOW SESSION STATUS LIKE 'Ssl_version'");
    assert_non_null (st);
    assert_int_equal (db_step (st), DB_ROW);
    const char *version = db_column_text (st, 1);
    print_message ("%s: Ssl_version %s\n", query, version? version: "(null)");
    assert_non_null (version);
    assert_int_equal (strncmp (version, "TLS", 3), 0);
    db_reset (st);
    db_destroy (&db);
}

//  Opening with query fails; the message holds one of the needles
//  (case-insensitive, '|'-separated) and never the password.
static void
s_expect_refused (fixture_t *self, const char *query, const char *needles)
{
    char url [2000], err [512] = "";
    s_url (self, query, url, sizeof url);
    db_t *db = db_open (url, err, sizeof err);
    if (db) {
        db_destroy (&db);
        fail_msg ("%s: connected", query);
    }
    print_message ("%s: refused: %s\n", query, err);
    assert_null (strstr (err, self->password));
    char copy [256];
    snprintf (copy, sizeof copy, "%s", needles);
    bool found = false;
    char *save = NULL;
    for (char *n = strtok_r (copy, "|", &save); n && !found; n = strtok_r (NULL, "|", &save))
        found = strcasestr (err, n) != NULL;
    if (!found)
        fail_msg ("%s: '%s' names none of %s", query, err, needles);
}

//  Right CA works, wrong CA fails, bad parameters fail before connecting;
//  then a server without TLS: REQUIRED fails, DISABLED works.
static void
test_tls_modes (void **state)
{
    fixture_t *self = (fixture_t *) *state;
    if (!self)
        skip ();
    char query [1200];
    snprintf (query, sizeof query, "?ssl-mode=VERIFY_CA&ssl-ca=%s/ca.pem", self->dir);
    s_expect_tls (self, query);
    snprintf (query, sizeof query, "?ssl-mode=VERIFY_IDENTITY&ssl-ca=%s/ca.pem", self->dir);
    s_expect_tls (self, query);
    //  A CA alone means VERIFY_CA.
    snprintf (query, sizeof query, "?ssl-ca=%s/ca.pem", self->dir);
    s_expect_tls (self, query);
    s_expect_tls (self, "?ssl-mode=REQUIRED");

    snprintf (query, sizeof query, "?ssl-mode=VERIFY_CA&ssl-ca=%s/other-ca.pem", self->dir);
    s_expect_refused (self, query, "certificate|verify|tls|ssl");
    snprintf (query, sizeof query, "?ssl-ca=%s/other-ca.pem", self->dir);
    s_expect_refused (self, query, "certificate|verify|tls|ssl");

    s_expect_refused (self, "?sslmode=REQUIRED", "unknown parameter 'sslmode'");
    s_expect_refused (self, "?ssl-mode=SOMETIMES", "not one of");
    s_expect_refused (self, "?ssl-mode=VERIFY_CA", "needs ssl-ca");
    snprintf (query, sizeof query, "?ssl-mode=VERIFY_CA&ssl-ca=%s/nowhere.pem", self->dir);
    s_expect_refused (self, query, "nowhere.pem");

    //  The same server without TLS.
    assert_int_equal (s_mariadb (self, "restart", ""), 0);
    s_expect_refused (self, "?ssl-mode=REQUIRED", "ssl|tls");
    char url [2000], err [512] = "";
    s_url (self, "?ssl-mode=DISABLED", url, sizeof url);
    db_t *db = db_open (url, err, sizeof err);
    if (!db)
        fail_msg ("DISABLED: %s", err);
    db_stmt_t *st = db_stmt (db, "SHOW SESSION STATUS LIKE 'Ssl_version'");
    assert_non_null (st);
    assert_int_equal (db_step (st), DB_ROW);
    const char *version = db_column_text (st, 1);
    assert_true (!version || !*version);
    db_reset (st);
    db_destroy (&db);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test_setup_teardown (test_tls_modes, s_setup, s_teardown),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
