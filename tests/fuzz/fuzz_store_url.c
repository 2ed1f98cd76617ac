/*  fuzz_store_url — the MySQL store URL parser
    (mysql://[USER[:PASS]@]HOST[:PORT]/DB, percent-escapes) that reads
    --store, --display-store and COFFEE_STORE. It is static in
    store/db_mysql.c, so the harness compiles that file in and calls it
    without connecting; db_open's scheme choice is exercised too with URLs
    that name no backend. Promises: an accepted URL has a host of
    [A-Za-z0-9.-_:], a port in 1..65535, a database name of
    [A-Za-z0-9_$-], a user; a refused one leaves an error message. */
#include "../../store/db_mysql.c"
#include "fuzzkit.h"

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
    //  The user may come from the environment: cover the path past it
    setenv ("COFFEE_MYSQL_USER", "fuzz", 1);
    unsetenv ("COFFEE_MYSQL_PASSWORD");
    return 0;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    char *url = fk_cstr (data, size);
    //  Always the mysql:// parser, whatever the fuzzer wrote first
    char *full = (char *) malloc (size + 9);
    FK_CHECK (full);
    memcpy (full, "mysql://", 8);
    memcpy (full + 8, url, size + 1);
    s_db_t *self = (s_db_t *) calloc (1, sizeof (s_db_t));
    FK_CHECK (self);
    char err [256] = "";
    if (s_parse_url (self, data [0] == 'm'? url: full, err, sizeof err) == 0) {
        FK_CHECK (self->host && *self->host && self->user && *self->user);
        FK_CHECK (strspn (self->host, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                      "0123456789.-_:") == strlen (self->host));
        FK_CHECK (self->port >= 1 && self->port <= 65535);
        FK_CHECK (self->dbname && *self->dbname);
        FK_CHECK (strspn (self->dbname, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                        "0123456789_$-") == strlen (self->dbname));
        FK_CHECK (self->label);
        //  The label goes into every log line: user, host, port and
        //  database only, never the password
        char expect [700];
        bool v6 = strchr (self->host, ':') != NULL;
        snprintf (expect, sizeof expect, "mysql://%s@%s%s%s:%u/%s", self->user, v6? "[": "",
                  self->host, v6? "]": "", self->port, self->dbname);
        FK_CHECK (strncmp (self->label, expect, 599) == 0);
    }
    else
        FK_CHECK (err [0]);
    s_close (&self->base);
    //  A scheme no backend serves is refused before any I/O
    if (strstr (url, "://") && strncmp (url, "mysql://", 8) && strncmp (url, "sqlite:", 7)) {
        char err2 [128] = "";
        FK_CHECK (db_open (url, err2, sizeof err2) == NULL && err2 [0]);
    }
    free (full);
    free (url);
    return 0;
}
