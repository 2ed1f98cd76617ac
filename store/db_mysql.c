/*  db_mysql — the db.h backend for MariaDB and MySQL, on the MariaDB
    Connector/C API (prepared statements for everything with parameters).

    Session: utf8mb4, autocommit outside db_begin, READ COMMITTED (so
    FOR UPDATE SKIP LOCKED claims take no gap locks), UTC time zone, lock
    waits cut at 5 s so they end before the 10 s read timeout, and
    CLIENT_FOUND_ROWS so changes() counts matched rows as SQLite does.

    Deferred statements (db_defer) wait in a script: their texts with the
    bound values written in as literals (texts escaped by the connector),
    sent in one round trip, as a multi-statement text
    (CLIENT_MULTI_STATEMENTS), with the next statement that must answer.
    A transaction's START TRANSACTION waits there too, for its first
    statement.

    A lost connection: the call that sees it returns DB_UNAVAILABLE and marks
    the connection lost; the next call reconnects (never inside a
    transaction: a transaction whose connection died refuses every call until
    db_rollback). Each reconnect bumps a generation counter; a statement
    whose generation is older prepares itself again on its next step. */
#include "db_impl.h"

#include <mysql.h>
#include <mysqld_error.h>
#include <errmsg.h>
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define S_CONNECT_TIMEOUT   5       //  seconds to connect
#define S_RW_TIMEOUT        10      //  seconds a read or write may take
#define S_LOCK_WAIT         5       //  innodb_lock_wait_timeout, below S_RW_TIMEOUT
#define S_TEXT_INITIAL      256     //  first size of a text column buffer

//  TLS modes of ?ssl-mode= (MySQL's names), weakest first.
enum { S_SSL_DISABLED = 0, S_SSL_REQUIRED, S_SSL_VERIFY_CA, S_SSL_VERIFY_IDENTITY };
static const char *s_ssl_modes [] = { "DISABLED", "REQUIRED", "VERIFY_CA", "VERIFY_IDENTITY" };

//  The file parameters of the URL and the connector option each sets.
#define S_SSL_FILES 4
enum { S_SSL_CA = 0, S_SSL_CAPATH, S_SSL_CERT, S_SSL_KEY };
static const struct {
    const char *name;           //  query parameter
    enum mysql_option option;   //  mysql_options() option it sets
} s_ssl_files [S_SSL_FILES] = {
    { "ssl-ca", MYSQL_OPT_SSL_CA },
    { "ssl-capath", MYSQL_OPT_SSL_CAPATH },
    { "ssl-cert", MYSQL_OPT_SSL_CERT },
    { "ssl-key", MYSQL_OPT_SSL_KEY },
};

typedef struct _s_stmt_t s_stmt_t;

//  One MySQL connection.
typedef struct {
    db_t base;                  //  db.c's part (driver, statement cache)
    MYSQL *conn;                //  the connection, NULL while there is none
    char *host;                 //  server host name or address
    unsigned int port;          //  server TCP port
    char *user;                 //  user name
    char *password;             //  password, NULL for none (never printed)
    char *dbname;               //  database
    char *label;                //  "mysql://user@host:port/db" for messages
    int ssl_mode;               //  S_SSL_* from ?ssl-mode=
    char *ssl [S_SSL_FILES];    //  ?ssl-ca= ssl-capath= ssl-cert= ssl-key=, NULL when absent
    uint64_t generation;        //  bumped at each (re)connect
    bool lost;                  //  connection failed: reconnect on next call
    bool in_tx;                 //  between db_begin and commit/rollback
    bool tx_lost;               //  connection died inside the transaction
    int64_t lock_wait_ms;       //  bound set by db_set_lock_wait (every session), 0 none
    bool no_statement_time;     //  server lacks max_statement_time (MySQL)
    int64_t changes;            //  affected rows of the last write
    int64_t last_id;            //  last auto-increment id generated
    char errmsg [512];          //  last error text
    //  Deferred statements (db_defer), sent with the next one that answers
    char *script;               //  their text, values written in, ";" after each
    size_t script_len;          //  bytes in script
    size_t script_cap;          //  room in script
    size_t script_count;        //  statements in script (not counting the BEGIN)
    bool begin_pending;         //  START TRANSACTION heads the script (s_begin)
    s_stmt_t **takers;          //  [i]: the statement that takes statement i's rows, or NULL
    size_t takers_cap;          //  room in takers
} s_db_t;

//  One bound parameter.
typedef struct {
    enum { S_PARAM_NULL, S_PARAM_INT, S_PARAM_TEXT } kind;  //  what is bound
    long long ival;             //  the integer, for S_PARAM_INT
    char *text;                 //  own copy of the text, for S_PARAM_TEXT
    unsigned long length;       //  text length in bytes
} s_param_t;

//  One result column of the current row.
typedef struct {
    bool is_int;                //  bound as LONGLONG (else as STRING)
    bool is_unsigned;           //  integer column is UNSIGNED
    long long ival;             //  integer value
    char *buf;                  //  text value, NUL-terminated after fetch
    unsigned long cap;          //  size of buf
    unsigned long length;       //  real length of the value
    my_bool is_null;            //  SQL NULL
    my_bool error;              //  truncated into buf
    char num [32];              //  ival as text, for column_text on numbers
} s_col_t;

//  The state of a statement between steps.
typedef enum {
    S_IDLE,                     //  ready to bind and execute
    S_ROWS,                     //  executed, rows stored, fetching
    S_DONE                      //  executed, nothing more to fetch
} s_state_t;

//  One prepared statement. Run alone it goes through the binary protocol;
//  run with deferred statements (or deferred itself) its text goes in a
//  script, and rows come back as text (res).
struct _s_stmt_t {
    db_stmt_t base;             //  db.c's part (connection, SQL text)
    MYSQL_STMT *stmt;           //  server statement, NULL until (re)prepared
    uint64_t generation;        //  connection generation it was prepared on
    unsigned int nparams;       //  number of ? markers
    s_param_t *params;          //  their values
    MYSQL_BIND *pbind;          //  parameter binds, built before execute
    unsigned int ncols;         //  result columns (0 for writes)
    s_col_t *cols;              //  their buffers
    MYSQL_BIND *rbind;          //  result binds
    s_state_t state;            //  where it is between steps
    bool stored;                //  a stored result is held client side
    bool returns_rows;          //  its result has columns
    bool deferred;              //  deferred, its rows not taken yet
    MYSQL_RES *res;             //  its rows as text, from a script
    MYSQL_ROW row;              //  the current one
};


//  --------------------------------------------------------------------------
//  Errors

//  True for error codes that mean the connection is gone.
static bool
s_is_lost (unsigned int code)
{
    return code == CR_SERVER_GONE_ERROR || code == CR_SERVER_LOST
        || code == CR_CONNECTION_ERROR || code == CR_CONN_HOST_ERROR
        || code == CR_SERVER_LOST_EXTENDED || code == CR_STMT_CLOSED
        || code == ER_CONNECTION_KILLED || code == ER_SERVER_SHUTDOWN
        || code == CR_COMMANDS_OUT_OF_SYNC;
}

//  Records an error and maps its code to a db.h return code. A lost
//  connection is marked for reconnect (and poisons an open transaction).
static int
s_fail (s_db_t *self, const char *what, unsigned int code, const char *text)
{
    snprintf (self->errmsg, sizeof self->errmsg, "%s: %s: %s (%u)",
              self->label, what, text && *text? text: "unknown error", code);
    if (s_is_lost (code)) {
        self->lost = true;
        if (self->in_tx)
            self->tx_lost = true;
        return DB_UNAVAILABLE;
    }
    //  A lock wait cut by innodb_lock_wait_timeout or max_statement_time
    //  undoes only that statement: the transaction is still there.
    if (code == ER_LOCK_WAIT_TIMEOUT || code == ER_STATEMENT_TIMEOUT)
        return DB_TIMEOUT;
    if (code == ER_LOCK_DEADLOCK)
        return DB_DEADLOCK;
    if (code == ER_CON_COUNT_ERROR || code == ER_TOO_MANY_USER_CONNECTIONS
    ||  code == ER_QUERY_INTERRUPTED)
        return DB_UNAVAILABLE;
    if (code == ER_DUP_ENTRY || code == ER_DUP_ENTRY_WITH_KEY_NAME || code == ER_DUP_KEY)
        return DB_DUPLICATE;
    return DB_ERROR;
}

//  Records that an allocation failed: DB_ERROR.
static int
s_oom (s_db_t *self)
{
    snprintf (self->errmsg, sizeof self->errmsg, "%s: out of memory", self->label);
    return DB_ERROR;
}

//  s_fail for an error on the connection handle.
static int
s_fail_conn (s_db_t *self, const char *what)
{
    return s_fail (self, what, mysql_errno (self->conn), mysql_error (self->conn));
}

//  s_fail for an error on a statement handle.
static int
s_fail_stmt (s_db_t *self, s_stmt_t *st, const char *what)
{
    return s_fail (self, what, mysql_stmt_errno (st->stmt), mysql_stmt_error (st->stmt));
}


//  --------------------------------------------------------------------------
//  URL

//  Value of one hex digit, or -1.
static int
s_hex (char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

//  Percent-decodes len bytes of text into a new string; NULL when an escape
//  is malformed or decodes to NUL.
static char *
s_decode (const char *text, size_t len)
{
    char *out = (char *) malloc (len + 1);
    if (!out)
        return NULL;
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        if (text [i] == '%') {
            int hi = i + 2 < len? s_hex (text [i + 1]): -1;
            int lo = i + 2 < len? s_hex (text [i + 2]): -1;
            if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
                free (out);
                return NULL;
            }
            out [n++] = (char) (hi * 16 + lo);
            i += 2;
        }
        else
            out [n++] = text [i];
    }
    out [n] = 0;
    return out;
}

//  A new copy of len bytes of text.
static char *
s_strndup (const char *text, size_t len)
{
    char *out = (char *) malloc (len + 1);
    if (out) {
        memcpy (out, text, len);
        out [len] = 0;
    }
    return out;
}

//  Overwrites and frees a secret.
static void
s_free_secret (char **secret_p)
{
    if (*secret_p) {
        explicit_bzero (*secret_p, strlen (*secret_p));
        free (*secret_p);
        *secret_p = NULL;
    }
}

//  Reads the URL's query: ssl-mode=DISABLED|REQUIRED|VERIFY_CA|
//  VERIFY_IDENTITY and the files ssl-ca, ssl-capath, ssl-cert, ssl-key
//  (%-escaped). Anything else is refused, so a typo never silently means
//  "no TLS". Without ssl-mode, a CA means VERIFY_CA, else DISABLED.
static int
s_parse_query (s_db_t *self, const char *query, char *err, size_t errlen)
{
    int mode = -1;
    const char *p = query;
    while (*p) {
        const char *amp = strchr (p, '&');
        size_t len = amp? (size_t) (amp - p): strlen (p);
        const char *eq = memchr (p, '=', len);
        if (len == 0 || !eq) {
            snprintf (err, errlen, "mysql URL: expected NAME=VALUE in the query");
            return -1;
        }
        size_t name_len = (size_t) (eq - p);
        char *value = s_decode (eq + 1, len - name_len - 1);
        if (!value) {
            snprintf (err, errlen, "mysql URL: bad %%-escape in the query");
            return -1;
        }
        bool known = false;
        if (name_len == 8 && memcmp (p, "ssl-mode", 8) == 0) {
            known = true;
            for (int m = 0; m < (int) (sizeof s_ssl_modes / sizeof s_ssl_modes [0]); m++)
                if (strcasecmp (value, s_ssl_modes [m]) == 0)
                    mode = m;
            if (mode < 0) {
                snprintf (err, errlen, "mysql URL: ssl-mode '%.40s' is not one of DISABLED, "
                          "REQUIRED, VERIFY_CA, VERIFY_IDENTITY", value);
                free (value);
                return -1;
            }
        }
        for (int f = 0; f < S_SSL_FILES && !known; f++)
            if (strlen (s_ssl_files [f].name) == name_len
            &&  memcmp (p, s_ssl_files [f].name, name_len) == 0) {
                known = true;
                free (self->ssl [f]);
                self->ssl [f] = value;
                value = NULL;
            }
        free (value);
        if (!known) {
            snprintf (err, errlen, "mysql URL: unknown parameter '%.*s' (known: ssl-mode, "
                      "ssl-ca, ssl-capath, ssl-cert, ssl-key)", (int) (name_len < 40? name_len: 40), p);
            return -1;
        }
        p = amp? amp + 1: p + len;
    }
    bool have_ca = self->ssl [S_SSL_CA] || self->ssl [S_SSL_CAPATH];
    self->ssl_mode = mode >= 0? mode: have_ca? S_SSL_VERIFY_CA: S_SSL_DISABLED;
    if (self->ssl_mode >= S_SSL_VERIFY_CA && !have_ca) {
        snprintf (err, errlen, "mysql URL: ssl-mode=%s needs ssl-ca or ssl-capath",
                  s_ssl_modes [self->ssl_mode]);
        return -1;
    }
    for (int f = 0; f < S_SSL_FILES; f++)
        if (self->ssl [f] && access (self->ssl [f], R_OK) != 0) {
            snprintf (err, errlen, "mysql URL: %s %s: %s", s_ssl_files [f].name, self->ssl [f],
                      strerror (errno));
            return -1;
        }
    return 0;
}

//  Fills host, port, user, password, dbname and label from
//  mysql://[USER[:PASS]@]HOST[:PORT]/DB; user and password fall back to
//  COFFEE_MYSQL_USER / COFFEE_MYSQL_PASSWORD. Errors never echo the URL (it
//  may hold a password).
static int
s_parse_url (s_db_t *self, const char *url, char *err, size_t errlen)
{
    const char *prefix = "mysql://";
    if (strncmp (url, prefix, strlen (prefix)) != 0) {
        snprintf (err, errlen, "mysql URL must start with mysql:// (mysql://USER:PASS@HOST:PORT/DB)");
        return -1;
    }
    const char *rest = url + strlen (prefix);
    const char *slash = strchr (rest, '/');
    if (!slash) {
        snprintf (err, errlen, "mysql URL has no /DATABASE (mysql://USER:PASS@HOST:PORT/DB)");
        return -1;
    }
    //  Userinfo ends at the last '@' of the authority.
    const char *at = NULL;
    for (const char *p = rest; p < slash; p++)
        if (*p == '@')
            at = p;
    bool have_password = false;
    if (at) {
        const char *colon = memchr (rest, ':', (size_t) (at - rest));
        size_t user_len = colon? (size_t) (colon - rest): (size_t) (at - rest);
        self->user = s_decode (rest, user_len);
        if (!self->user) {
            snprintf (err, errlen, "mysql URL: bad %%-escape in the user name");
            return -1;
        }
        if (colon) {
            self->password = s_decode (colon + 1, (size_t) (at - colon - 1));
            if (!self->password) {
                snprintf (err, errlen, "mysql URL: bad %%-escape in the password");
                return -1;
            }
            have_password = true;
        }
    }
    //  Host: a name, an IPv4 address, or [IPv6]; then an optional :PORT.
    const char *hp = at? at + 1: rest;
    const char *host_end;
    const char *port_text = NULL;
    if (*hp == '[') {
        const char *close = memchr (hp, ']', (size_t) (slash - hp));
        if (!close) {
            snprintf (err, errlen, "mysql URL: unclosed [ in the host");
            return -1;
        }
        self->host = s_strndup (hp + 1, (size_t) (close - hp - 1));
        host_end = close + 1;
        if (host_end < slash) {
            if (*host_end != ':') {
                snprintf (err, errlen, "mysql URL: junk after ] in the host");
                return -1;
            }
            port_text = host_end + 1;
        }
    }
    else {
        const char *colon = memchr (hp, ':', (size_t) (slash - hp));
        host_end = colon? colon: slash;
        self->host = s_strndup (hp, (size_t) (host_end - hp));
        if (colon)
            port_text = colon + 1;
    }
    if (!self->host || !*self->host) {
        snprintf (err, errlen, "mysql URL has no host (mysql://USER:PASS@HOST:PORT/DB)");
        return -1;
    }
    for (const char *p = self->host; *p; p++)
        if (!isalnum ((unsigned char) *p) && !strchr (".-_:", *p)) {
            snprintf (err, errlen, "mysql URL: bad character in the host");
            return -1;
        }
    self->port = 3306;
    if (port_text) {
        if (port_text == slash) {
            snprintf (err, errlen, "mysql URL: empty port");
            return -1;
        }
        unsigned long port = 0;
        for (const char *p = port_text; p < slash; p++) {
            if (!isdigit ((unsigned char) *p) || port > 65535) {
                snprintf (err, errlen, "mysql URL: the port must be a number 1..65535");
                return -1;
            }
            port = port * 10 + (unsigned long) (*p - '0');
        }
        if (port < 1 || port > 65535) {
            snprintf (err, errlen, "mysql URL: the port must be a number 1..65535");
            return -1;
        }
        self->port = (unsigned int) port;
    }
    //  Database: a plain identifier.
    const char *db = slash + 1;
    if (!*db) {
        snprintf (err, errlen, "mysql URL has an empty database name");
        return -1;
    }
    const char *query = strchr (db, '?');
    size_t db_len = query? (size_t) (query - db): strlen (db);
    if (db_len == 0) {
        snprintf (err, errlen, "mysql URL has an empty database name");
        return -1;
    }
    for (const char *p = db; p < db + db_len; p++)
        if (!isalnum ((unsigned char) *p) && *p != '_' && *p != '$' && *p != '-') {
            snprintf (err, errlen,
                      "mysql URL: the database name may hold only letters, digits, _ $ -");
            return -1;
        }
    self->dbname = s_strndup (db, db_len);
    if (query && s_parse_query (self, query + 1, err, errlen))
        return -1;
    //  User and password from the environment when the URL has none.
    if (!self->user || !*self->user) {
        free (self->user);
        const char *env = getenv ("COFFEE_MYSQL_USER");
        self->user = env && *env? strdup (env): NULL;
        if (!self->user) {
            snprintf (err, errlen, "mysql URL has no user and COFFEE_MYSQL_USER is not set");
            return -1;
        }
    }
    if (!have_password) {
        const char *env = getenv ("COFFEE_MYSQL_PASSWORD");
        if (env)
            self->password = strdup (env);
    }
    char label [600];
    snprintf (label, sizeof label, "mysql://%s@%s%s%s:%u/%s", self->user,
              strchr (self->host, ':')? "[": "", self->host,
              strchr (self->host, ':')? "]": "", self->port, self->dbname);
    self->label = strdup (label);
    if (!self->dbname || !self->label) {
        snprintf (err, errlen, "mysql: out of memory");
        return -1;
    }
    return 0;
}


//  --------------------------------------------------------------------------
//  Connection

//  Sets the connector's TLS options for ssl_mode. REQUIRED: TLS or no
//  connection (MYSQL_OPT_SSL_ENFORCE). VERIFY_CA: also the server's chain
//  against ssl-ca / ssl-capath (the connector verifies the peer whenever
//  a CA is set). VERIFY_IDENTITY: also the host name in its certificate
//  (MYSQL_OPT_SSL_VERIFY_SERVER_CERT).
static void
s_tls_options (s_db_t *self)
{
    if (self->ssl_mode == S_SSL_DISABLED)
        return;
    my_bool on = 1;
    mysql_options (self->conn, MYSQL_OPT_SSL_ENFORCE, &on);
    for (int f = 0; f < S_SSL_FILES; f++)
        if (self->ssl [f])
            mysql_options (self->conn, s_ssl_files [f].option, self->ssl [f]);
    my_bool verify = self->ssl_mode == S_SSL_VERIFY_IDENTITY;
    mysql_options (self->conn, MYSQL_OPT_SSL_VERIFY_SERVER_CERT, &verify);
}

static int s_lock_wait_apply (s_db_t *self, int64_t wait_ms);

//  (Re)connects and sets up the session. DB_OK, or a failure code with
//  errmsg set; on failure the connection stays marked lost.
static int
s_connect (s_db_t *self)
{
    if (self->conn) {
        //  Closing invalidates the old statements; they re-prepare lazily.
        mysql_close (self->conn);
        self->conn = NULL;
    }
    self->lost = true;
    self->conn = mysql_init (NULL);
    if (!self->conn)
        return s_oom (self);
    unsigned int connect_timeout = S_CONNECT_TIMEOUT;
    unsigned int rw_timeout = S_RW_TIMEOUT;
    unsigned int protocol = MYSQL_PROTOCOL_TCP;
    my_bool reconnect = 0;
    my_bool report_truncation = 1;
    mysql_options (self->conn, MYSQL_OPT_CONNECT_TIMEOUT, &connect_timeout);
    mysql_options (self->conn, MYSQL_OPT_READ_TIMEOUT, &rw_timeout);
    mysql_options (self->conn, MYSQL_OPT_WRITE_TIMEOUT, &rw_timeout);
    mysql_options (self->conn, MYSQL_OPT_PROTOCOL, &protocol);
    mysql_options (self->conn, MYSQL_OPT_RECONNECT, &reconnect);
    mysql_options (self->conn, MYSQL_SET_CHARSET_NAME, "utf8mb4");
    mysql_options (self->conn, MYSQL_REPORT_DATA_TRUNCATION, &report_truncation);
    s_tls_options (self);
    if (!mysql_real_connect (self->conn, self->host, self->user, self->password,
                             self->dbname, self->port, NULL,
                             CLIENT_FOUND_ROWS | CLIENT_MULTI_STATEMENTS)) {
        s_fail_conn (self, "connect");
        mysql_close (self->conn);
        self->conn = NULL;
        self->lost = true;
        //  Whatever the reason, a server we cannot use is unavailable.
        return DB_UNAVAILABLE;
    }
    //  The connector goes on without TLS when the server has none, even
    //  with MYSQL_OPT_SSL_ENFORCE (Connector/C 3.3): a session we asked to
    //  be encrypted and is not is refused here, before it carries any data.
    if (self->ssl_mode != S_SSL_DISABLED && !mysql_get_ssl_cipher (self->conn)) {
        snprintf (self->errmsg, sizeof self->errmsg,
                  "%s: ssl-mode=%s but the server did not start TLS (is it set up with "
                  "ssl-cert and ssl-key?)", self->label, s_ssl_modes [self->ssl_mode]);
        mysql_close (self->conn);
        self->conn = NULL;
        self->lost = true;
        return DB_UNAVAILABLE;
    }
    const char *setup [] = {
        "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED",
        "SET SESSION autocommit = 1, time_zone = '+00:00', innodb_lock_wait_timeout = 5",
    };
    //  A bound set before (db_set_lock_wait) holds on the new session too
    int64_t bound = self->lock_wait_ms;
    self->lock_wait_ms = 0;
    int rc = DB_OK;
    for (size_t i = 0; i < sizeof setup / sizeof setup [0] && rc == DB_OK; i++)
        if (mysql_query (self->conn, setup [i]))
            rc = s_fail_conn (self, "session setup");
    if (rc == DB_OK && bound > 0)
        rc = s_lock_wait_apply (self, bound);
    if (rc != DB_OK) {
        mysql_close (self->conn);
        self->conn = NULL;
        self->lost = true;
        self->lock_wait_ms = bound;     //  still wanted at the next try
        return rc;
    }
    self->generation++;
    self->lost = false;
    return DB_OK;
}

//  Makes the connection usable for the next call: refuses inside a
//  transaction whose connection died, reconnects when lost.
static int
s_ready (s_db_t *self)
{
    if (self->tx_lost) {
        snprintf (self->errmsg, sizeof self->errmsg,
                  "%s: connection lost inside a transaction; roll it back", self->label);
        return DB_UNAVAILABLE;
    }
    if (self->lost || !self->conn)
        return s_connect (self);
    return DB_OK;
}

//  --------------------------------------------------------------------------
//  Scripts: deferred statements sent together

//  Keeps what a write reported: the rows it changed, the auto-increment id
//  it made (0: none, the last one stands).
static void
s_wrote (s_db_t *self, my_ulonglong affected, my_ulonglong id)
{
    if (affected != (my_ulonglong) -1)
        self->changes = (int64_t) affected;
    if (id != 0)
        self->last_id = (int64_t) id;
}

//  Makes room for n more bytes and a NUL in the script. DB_OK or DB_ERROR.
static int
s_script_reserve (s_db_t *self, size_t n)
{
    if (self->script_len + n + 1 > self->script_cap) {
        size_t cap = self->script_cap ? self->script_cap : 4096;
        while (cap < self->script_len + n + 1)
            cap *= 2;
        char *grown = (char *) realloc (self->script, cap);
        if (!grown)
            return s_oom (self);
        self->script = grown;
        self->script_cap = cap;
    }
    return DB_OK;
}

//  Appends n bytes of text to the script. DB_OK or DB_ERROR.
static int
s_script_add (s_db_t *self, const char *text, size_t n)
{
    if (s_script_reserve (self, n) != DB_OK)
        return DB_ERROR;
    memcpy (self->script + self->script_len, text, n);
    self->script_len += n;
    self->script [self->script_len] = 0;
    return DB_OK;
}

//  Appends a parameter's value as an SQL literal: texts escaped by the
//  connector for the session's character set and SQL mode.
static int
s_script_value (s_db_t *self, const s_param_t *param)
{
    if (param->kind == S_PARAM_INT) {
        char num [32];
        int n = snprintf (num, sizeof num, "%lld", param->ival);
        return s_script_add (self, num, (size_t) n);
    }
    if (param->kind != S_PARAM_TEXT)
        return s_script_add (self, "NULL", 4);
    //  Room for the quotes and each byte escaped
    size_t room = 2 * (size_t) param->length + 3;
    if (s_script_add (self, "'", 1) != DB_OK || s_script_reserve (self, room) != DB_OK)
        return DB_ERROR;
    unsigned long n = mysql_real_escape_string (self->conn, self->script + self->script_len,
                                                param->text, param->length);
    if (n == (unsigned long) -1) {
        snprintf (self->errmsg, sizeof self->errmsg, "%s: cannot escape a text", self->label);
        return DB_ERROR;
    }
    self->script_len += n;
    return s_script_add (self, "'", 1);
}

//  Appends the statement's SQL with its bound values written in, and ";".
//  A ? outside quotes ('…', "…", `…`) is a parameter, as the server counts
//  them; a count that differs from the server's is refused.
static int
s_script_render (s_db_t *self, s_stmt_t *st)
{
    const char *sql = st->base.sql;
    const char *from = sql;
    unsigned int next = 0;
    char quote = 0;                     //  the quote we are inside, 0 none
    int rc = DB_OK;
    for (const char *p = sql; *p && rc == DB_OK; p++) {
        if (quote) {
            if (*p == quote)
                quote = 0;              //  a doubled quote closes and opens again
        }
        else
        if (*p == '\'' || *p == '"' || *p == '`')
            quote = *p;
        else
        if (*p == '?') {
            rc = s_script_add (self, from, (size_t) (p - from));
            if (rc == DB_OK && next == st->nparams) {
                snprintf (self->errmsg, sizeof self->errmsg,
                          "%s: more markers than the %u parameters", self->label, st->nparams);
                rc = DB_ERROR;
            }
            if (rc == DB_OK)
                rc = s_script_value (self, &st->params [next++]);
            from = p + 1;
        }
    }
    if (rc == DB_OK)
        rc = s_script_add (self, from, strlen (from));
    if (rc == DB_OK && next != st->nparams) {
        snprintf (self->errmsg, sizeof self->errmsg,
                  "%s: %u markers for %u parameters", self->label, next, st->nparams);
        rc = DB_ERROR;
    }
    return rc == DB_OK ? s_script_add (self, ";", 1) : rc;
}

//  Forgets the script (what it held did not run, or has run). A taker
//  whose rows did not come stays deferred: stepping it fails until reset.
static void
s_script_clear (s_db_t *self)
{
    self->script_len = 0;
    self->script_count = 0;
    self->begin_pending = false;
    self->base.deferred_ran = true;     //  their outcomes stay until the next db_defer
}

//  Runs the script in one round trip: the START TRANSACTION s_begin left
//  there, its deferred statements, then, when last, the statement the
//  caller appended after them, whose result it leaves on the connection.
//  Keeps each deferred statement's outcome and hands rows to their takers.
//  DB_OK, or the failure of the first that failed (none after it ran). The
//  script is empty after. When resend, a connection found dead at the
//  START TRANSACTION (server restarted, idle connection timed out) is
//  replaced and the script sent again: nothing of it can have stayed, as
//  the transaction it began died with the connection. Not so for a script
//  that ends with COMMIT.
static int
s_script_run (s_db_t *self, bool last, bool resend, const char *what)
{
    size_t head = self->begin_pending ? 1 : 0;
    size_t count = self->script_count;
    size_t total = head + count + (last ? 1 : 0);
    int rc = s_ready (self);
    if (rc != DB_OK || total == 0) {
        s_script_clear (self);
        return rc;
    }
    //  Without the trailing ";": the server would count an empty statement
    int status = mysql_real_query (self->conn, self->script, self->script_len - 1);
    for (size_t r = 0; r < total; r++) {
        if (r > 0)
            status = mysql_next_result (self->conn);
        if (status > 0 || (r == 0 && status != 0)) {
            size_t i = r - head;
            rc = s_fail_conn (self, r < head ? "begin" : i < count ? "deferred statement" : what);
            if (r == 0 && head && resend && self->lost && s_connect (self) == DB_OK) {
                resend = false;
                self->tx_lost = false;
                status = mysql_real_query (self->conn, self->script, self->script_len - 1);
                rc = DB_OK;
                r = (size_t) -1;        //  from the first result again
                continue;
            }
            break;
        }
        if (status < 0) {
            snprintf (self->errmsg, sizeof self->errmsg,
                      "%s: %s: fewer results than statements", self->label, what);
            rc = DB_ERROR;
            break;
        }
        if (r < head)
            continue;                   //  the START TRANSACTION
        size_t i = r - head;
        if (i == count)
            break;                      //  last: the caller takes its result
        if (mysql_field_count (self->conn) > 0) {
            MYSQL_RES *res = mysql_store_result (self->conn);
            if (!res) {
                rc = s_fail_conn (self, "deferred statement rows");
                break;
            }
            s_stmt_t *taker = self->takers [i];
            if (taker && taker->deferred) {
                taker->res = res;
                taker->deferred = false;
                taker->state = S_ROWS;
            }
            else
                mysql_free_result (res);
            continue;
        }
        my_ulonglong id = mysql_insert_id (self->conn);
        s_wrote (self, mysql_affected_rows (self->conn), id);
        self->base.deferred [i].changes = self->changes;
        self->base.deferred [i].id = (int64_t) id;
    }
    s_script_clear (self);
    return rc;
}

//  Reads and drops the results after the current one: a text of several
//  statements handed to db_exec must not leave the connection out of step.
//  DB_OK, or the failure of the statement that failed.
static int
s_drain (s_db_t *self)
{
    while (mysql_more_results (self->conn)) {
        if (mysql_next_result (self->conn) > 0)
            return s_fail_conn (self, "exec");
        MYSQL_RES *res = mysql_store_result (self->conn);
        if (res)
            mysql_free_result (res);
    }
    return DB_OK;
}

//  Runs sql after what is deferred, in one round trip; its result stays on
//  the connection. resend: see s_script_run. DB_OK or a failure code.
static int
s_query (s_db_t *self, const char *sql, bool resend, const char *what)
{
    if (self->script_count == 0 && !self->begin_pending) {
        if (mysql_real_query (self->conn, sql, (unsigned long) strlen (sql)))
            return s_fail_conn (self, what);
        return DB_OK;
    }
    int rc = s_script_add (self, sql, strlen (sql));
    if (rc == DB_OK)
        rc = s_script_add (self, ";", 1);
    if (rc != DB_OK) {
        s_script_clear (self);
        return rc;
    }
    return s_script_run (self, true, resend, what);
}

//  Runs what is deferred. DB_OK or a failure code.
static int
s_flush (db_t *base)
{
    s_db_t *self = (s_db_t *) base;
    return self->script_count > 0 || self->begin_pending
         ? s_script_run (self, false, true, "flush") : DB_OK;
}

//  Closes the connection and frees it (db.c has freed the statements).
static void
s_close (db_t *base)
{
    s_db_t *self = (s_db_t *) base;
    if (!self)
        return;
    if (self->conn)
        mysql_close (self->conn);
    free (self->host);
    free (self->user);
    s_free_secret (&self->password);
    free (self->dbname);
    free (self->label);
    free (self->script);
    free (self->takers);
    for (int f = 0; f < S_SSL_FILES; f++)
        free (self->ssl [f]);
    free (self);
}

//  Opens a connection for mysql://… (db.c fills the base fields).
static db_t *
s_open (const char *url, char *err, size_t errlen)
{
    s_db_t *self = (s_db_t *) calloc (1, sizeof (s_db_t));
    if (!self) {
        snprintf (err, errlen, "mysql: out of memory");
        return NULL;
    }
    if (s_parse_url (self, url, err, errlen))
        goto fail;
    if (s_connect (self) != DB_OK) {
        snprintf (err, errlen, "%s", self->errmsg);
        goto fail;
    }
    return &self->base;
fail:
    s_close (&self->base);          //  no connection is open here
    return NULL;
}

//  Runs one SQL text without parameters; any rows are discarded.
static int
s_exec (db_t *base, const char *sql)
{
    s_db_t *self = (s_db_t *) base;
    int rc = s_ready (self);
    if (rc != DB_OK)
        return rc;
    rc = s_query (self, sql, true, "exec");
    if (rc != DB_OK)
        return rc;
    if (mysql_field_count (self->conn) > 0) {
        MYSQL_RES *res = mysql_store_result (self->conn);
        if (!res)
            return s_fail_conn (self, "exec");
        mysql_free_result (res);
    }
    else
        s_wrote (self, mysql_affected_rows (self->conn), 0);
    return s_drain (self);
}

//  Starts a transaction (autocommit resumes after commit or rollback).
static int
s_begin (db_t *base)
{
    s_db_t *self = (s_db_t *) base;
    //  MySQL would silently commit the open transaction; SQLite refuses.
    if (self->in_tx && !self->tx_lost) {
        snprintf (self->errmsg, sizeof self->errmsg,
                  "%s: begin inside an open transaction", self->label);
        return DB_ERROR;
    }
    //  A transaction that died with its connection is gone on the server.
    self->tx_lost = false;
    self->in_tx = false;
    int rc = s_flush (base);
    if (rc == DB_OK)
        rc = s_ready (self);
    if (rc != DB_OK)
        return rc;
    //  It goes with the transaction's first statement (s_script_run, which
    //  also replaces a connection found dead there)
    static const char begin [] = "START TRANSACTION;";
    if (s_script_add (self, begin, sizeof begin - 1) != DB_OK)
        return DB_ERROR;
    self->begin_pending = true;
    self->in_tx = true;
    return DB_OK;
}

//  Bounds the session's lock waits. MariaDB: max_statement_time (seconds,
//  fractional) cuts any statement, a lock wait included; MySQL lacks it,
//  so there innodb_lock_wait_timeout takes the bound in whole seconds
//  (at least 1). 0 lifts the bound (innodb_lock_wait_timeout S_LOCK_WAIT
//  still holds).
static int
s_set_lock_wait (db_t *base, int64_t wait_ms)
{
    s_db_t *self = (s_db_t *) base;
    int rc = s_flush (base);
    if (rc == DB_OK)
        rc = s_ready (self);
    if (rc != DB_OK)
        return rc;
    if (wait_ms == self->lock_wait_ms)
        return DB_OK;
    return s_lock_wait_apply (self, wait_ms);
}

//  Sets the session's lock-wait bound (see s_set_lock_wait) on the
//  connection there is.
static int
s_lock_wait_apply (s_db_t *self, int64_t wait_ms)
{
    char sql [96];
    if (!self->no_statement_time) {
        snprintf (sql, sizeof sql, "SET SESSION max_statement_time = %" PRId64 ".%03d",
                  wait_ms / 1000, (int) (wait_ms % 1000));
        if (mysql_query (self->conn, sql) == 0) {
            self->lock_wait_ms = wait_ms;
            return DB_OK;
        }
        if (mysql_errno (self->conn) != ER_UNKNOWN_SYSTEM_VARIABLE)
            return s_fail_conn (self, "set max_statement_time");
        self->no_statement_time = true;
    }
    int64_t seconds = wait_ms > 0 ? (wait_ms + 999) / 1000 : S_LOCK_WAIT;
    snprintf (sql, sizeof sql, "SET SESSION innodb_lock_wait_timeout = %" PRId64, seconds);
    if (mysql_query (self->conn, sql))
        return s_fail_conn (self, "set innodb_lock_wait_timeout");
    self->lock_wait_ms = wait_ms;
    return DB_OK;
}

//  Commits. On failure the transaction is rolled back (or lost with the
//  connection) and the caller answers with an error; its rollback is harmless.
static int
s_commit (db_t *base)
{
    s_db_t *self = (s_db_t *) base;
    int rc = s_ready (self);
    if (rc != DB_OK)
        return rc;
    //  What is deferred goes with the COMMIT; when one of it fails, the
    //  COMMIT does not run
    rc = s_query (self, "COMMIT", false, "commit");
    if (rc == DB_OK) {
        self->in_tx = false;
        return DB_OK;
    }
    if (!self->lost) {
        if (mysql_query (self->conn, "ROLLBACK"))
            self->lost = true;
        self->in_tx = false;
    }
    return rc;
}

//  Rolls back; always leaves the connection outside a transaction.
static void
s_rollback (db_t *base)
{
    s_db_t *self = (s_db_t *) base;
    s_script_clear (self);              //  what was deferred never runs
    if (self->conn && !self->lost && mysql_query (self->conn, "ROLLBACK"))
        s_fail_conn (self, "rollback");
    self->in_tx = false;
    self->tx_lost = false;
}


//  --------------------------------------------------------------------------
//  Statements

//  Frees the result column buffers.
static void
s_cols_free (s_stmt_t *st)
{
    for (unsigned int i = 0; i < st->ncols; i++)
        free (st->cols [i].buf);
    free (st->cols);
    free (st->rbind);
    st->cols = NULL;
    st->rbind = NULL;
    st->ncols = 0;
}

//  Sets up result buffers for the statement's current result metadata:
//  integers as LONGLONG, everything else (DECIMAL, text, dates) as STRING.
static int
s_cols_setup (s_db_t *self, s_stmt_t *st)
{
    MYSQL_RES *meta = mysql_stmt_result_metadata (st->stmt);
    if (!meta) {
        s_cols_free (st);
        return DB_OK;
    }
    unsigned int ncols = mysql_num_fields (meta);
    MYSQL_FIELD *fields = mysql_fetch_fields (meta);
    if (ncols != st->ncols) {
        s_cols_free (st);
        st->cols = (s_col_t *) calloc (ncols, sizeof (s_col_t));
        st->rbind = (MYSQL_BIND *) calloc (ncols, sizeof (MYSQL_BIND));
        if (!st->cols || !st->rbind) {
            free (st->cols);
            free (st->rbind);
            st->cols = NULL;
            st->rbind = NULL;
            mysql_free_result (meta);
            return s_oom (self);
        }
        st->ncols = ncols;
    }
    for (unsigned int i = 0; i < ncols; i++) {
        s_col_t *col = &st->cols [i];
        MYSQL_BIND *b = &st->rbind [i];
        switch (fields [i].type) {
            case MYSQL_TYPE_TINY:
            case MYSQL_TYPE_SHORT:
            case MYSQL_TYPE_LONG:
            case MYSQL_TYPE_INT24:
            case MYSQL_TYPE_LONGLONG:
            case MYSQL_TYPE_YEAR:
                col->is_int = true;
                break;
            default:
                col->is_int = false;
        }
        col->is_unsigned = (fields [i].flags & UNSIGNED_FLAG) != 0;
        memset (b, 0, sizeof *b);
        if (col->is_int) {
            b->buffer_type = MYSQL_TYPE_LONGLONG;
            b->buffer = &col->ival;
            b->is_unsigned = col->is_unsigned;
        }
        else {
            if (!col->buf) {
                col->buf = (char *) malloc (S_TEXT_INITIAL);
                if (!col->buf) {
                    mysql_free_result (meta);
                    return s_oom (self);
                }
                col->cap = S_TEXT_INITIAL;
            }
            b->buffer_type = MYSQL_TYPE_STRING;
            b->buffer = col->buf;
            b->buffer_length = col->cap - 1;    //  room for our NUL
        }
        b->length = &col->length;
        b->is_null = &col->is_null;
        b->error = &col->error;
    }
    mysql_free_result (meta);
    return DB_OK;
}

//  Prepares (or re-prepares after a reconnect) the statement's SQL.
static int
s_prepare_on_server (s_db_t *self, s_stmt_t *st)
{
    if (st->stmt) {
        //  Prepared on an older connection: closing it only frees memory.
        mysql_stmt_close (st->stmt);
        st->stmt = NULL;
    }
    st->stored = false;
    st->stmt = mysql_stmt_init (self->conn);
    if (!st->stmt)
        return s_fail_conn (self, "prepare");
    const char *sql = st->base.sql;
    if (mysql_stmt_prepare (st->stmt, sql, (unsigned long) strlen (sql))) {
        int rc = s_fail_stmt (self, st, "prepare");
        mysql_stmt_close (st->stmt);
        st->stmt = NULL;
        return rc;
    }
    unsigned int nparams = (unsigned int) mysql_stmt_param_count (st->stmt);
    if (st->params && nparams != st->nparams) {
        snprintf (self->errmsg, sizeof self->errmsg,
                  "%s: statement changed its parameter count on re-prepare", self->label);
        return DB_ERROR;
    }
    if (!st->params && nparams > 0) {
        st->params = (s_param_t *) calloc (nparams, sizeof (s_param_t));
        st->pbind = (MYSQL_BIND *) calloc (nparams, sizeof (MYSQL_BIND));
        if (!st->params || !st->pbind)
            return s_oom (self);
    }
    st->nparams = nparams;
    st->returns_rows = mysql_stmt_field_count (st->stmt) > 0;
    st->generation = self->generation;
    return DB_OK;
}

//  Prepares a statement; NULL on failure (db_errmsg says why).
static db_stmt_t *
s_prepare (db_t *base, const char *sql)
{
    s_db_t *self = (s_db_t *) base;
    if (s_ready (self) != DB_OK)
        return NULL;
    s_stmt_t *st = (s_stmt_t *) calloc (1, sizeof (s_stmt_t));
    if (!st) {
        s_oom (self);
        return NULL;
    }
    st->base.db = base;
    st->base.sql = sql;
    if (s_prepare_on_server (self, st) != DB_OK) {
        if (st->stmt)
            mysql_stmt_close (st->stmt);
        free (st->params);
        free (st->pbind);
        free (st);
        return NULL;
    }
    return &st->base;
}

//  Clears the parameter values to NULL.
static void
s_params_clear (s_stmt_t *st)
{
    for (unsigned int i = 0; i < st->nparams; i++) {
        free (st->params [i].text);
        st->params [i].text = NULL;
        st->params [i].kind = S_PARAM_NULL;
    }
}

//  Drops rows as text, and the statement's place as a taker of rows still
//  to come.
static void
s_text_rows_drop (s_stmt_t *st)
{
    if (st->res)
        mysql_free_result (st->res);
    st->res = NULL;
    st->row = NULL;
    if (st->deferred) {
        s_db_t *self = (s_db_t *) st->base.db;
        for (size_t i = 0; i < self->script_count; i++)
            if (self->takers [i] == st)
                self->takers [i] = NULL;
        st->deferred = false;
    }
}

//  Frees a statement (db.c calls this before closing the connection).
static void
s_stmt_free (db_stmt_t *base)
{
    s_stmt_t *st = (s_stmt_t *) base;
    if (!st)
        return;
    if (st->stmt)
        mysql_stmt_close (st->stmt);
    s_text_rows_drop (st);
    s_params_clear (st);
    free (st->params);
    free (st->pbind);
    s_cols_free (st);
    free (st);
}

//  The parameter slot idx (1-based), or NULL with errmsg set.
static s_param_t *
s_param (s_stmt_t *st, int idx)
{
    s_db_t *self = (s_db_t *) st->base.db;
    if (idx < 1 || (unsigned int) idx > st->nparams) {
        snprintf (self->errmsg, sizeof self->errmsg, "%s: bind index %d out of range 1..%u",
                  self->label, idx, st->nparams);
        return NULL;
    }
    s_param_t *param = &st->params [idx - 1];
    free (param->text);
    param->text = NULL;
    param->kind = S_PARAM_NULL;
    return param;
}

//  Binds an integer.
static int
s_bind_int64 (db_stmt_t *base, int idx, int64_t value)
{
    s_param_t *param = s_param ((s_stmt_t *) base, idx);
    if (!param)
        return DB_ERROR;
    param->kind = S_PARAM_INT;
    param->ival = (long long) value;
    return DB_OK;
}

//  Binds a copy of text, or NULL.
static int
s_bind_text (db_stmt_t *base, int idx, const char *text)
{
    s_param_t *param = s_param ((s_stmt_t *) base, idx);
    if (!param)
        return DB_ERROR;
    if (!text)
        return DB_OK;
    size_t len = strlen (text);
    param->text = s_strndup (text, len);
    if (!param->text)
        return s_oom ((s_db_t *) base->db);
    param->length = (unsigned long) len;
    param->kind = S_PARAM_TEXT;
    return DB_OK;
}

//  Fetches the next stored row; grows text buffers of truncated columns.
static int
s_fetch (s_db_t *self, s_stmt_t *st)
{
    if (st->res) {
        st->row = mysql_fetch_row (st->res);
        if (st->row)
            return DB_ROW;
        st->state = S_DONE;
        return DB_DONE;
    }
    int rc = mysql_stmt_fetch (st->stmt);
    if (rc == MYSQL_NO_DATA) {
        st->state = S_DONE;
        return DB_DONE;
    }
    if (rc == 1)
        return s_fail_stmt (self, st, "fetch");
    if (rc == MYSQL_DATA_TRUNCATED) {
        bool rebind = false;
        for (unsigned int i = 0; i < st->ncols; i++) {
            s_col_t *col = &st->cols [i];
            if (col->is_int || !col->error || col->is_null)
                continue;
            unsigned long need = col->length + 1;
            char *grown = (char *) realloc (col->buf, need);
            if (!grown)
                return s_oom (self);
            col->buf = grown;
            col->cap = need;
            st->rbind [i].buffer = col->buf;
            st->rbind [i].buffer_length = col->cap - 1;
            if (mysql_stmt_fetch_column (st->stmt, &st->rbind [i], i, 0))
                return s_fail_stmt (self, st, "fetch column");
            rebind = true;
        }
        //  Later rows land in the grown buffers.
        if (rebind && mysql_stmt_bind_result (st->stmt, st->rbind))
            return s_fail_stmt (self, st, "bind result");
    }
    for (unsigned int i = 0; i < st->ncols; i++) {
        s_col_t *col = &st->cols [i];
        if (!col->is_int && !col->is_null)
            col->buf [col->length < col->cap? col->length: col->cap - 1] = 0;
    }
    return DB_ROW;
}

//  Runs the statement after what is deferred, in one round trip, its rows
//  as text.
static int
s_step_script (s_db_t *self, s_stmt_t *st)
{
    int rc = s_script_render (self, st);
    if (rc != DB_OK) {
        s_script_clear (self);          //  nothing of it ran
        return rc;
    }
    rc = s_script_run (self, true, true, "execute");
    if (rc != DB_OK)
        return rc;
    if (mysql_field_count (self->conn) > 0) {
        st->res = mysql_store_result (self->conn);
        if (!st->res)
            return s_fail_conn (self, "store result");
        st->state = S_ROWS;
        return s_fetch (self, st);
    }
    s_wrote (self, mysql_affected_rows (self->conn), mysql_insert_id (self->conn));
    st->state = S_DONE;
    return DB_DONE;
}

//  Defers a statement or a text (see db_defer): into the script.
static int
s_defer (db_t *base, db_stmt_t *stbase, const char *sql, size_t idx)
{
    s_db_t *self = (s_db_t *) base;
    s_stmt_t *st = (s_stmt_t *) stbase;
    if (idx != self->script_count || (st && st->deferred)) {
        snprintf (self->errmsg, sizeof self->errmsg, "%s: %s", self->label,
                  st && st->deferred ? "deferred again before its rows were read"
                                     : "deferred statements out of step");
        return DB_ERROR;
    }
    int rc = s_ready (self);
    if (rc != DB_OK)
        return rc;
    if (idx >= self->takers_cap) {
        size_t cap = self->takers_cap ? self->takers_cap * 2 : 16;
        s_stmt_t **grown = (s_stmt_t **) realloc (self->takers, cap * sizeof *grown);
        if (!grown)
            return s_oom (self);
        self->takers = grown;
        self->takers_cap = cap;
    }
    size_t mark = self->script_len;
    if (st)
        rc = s_script_render (self, st);
    else {
        rc = s_script_add (self, sql, strlen (sql));
        if (rc == DB_OK)
            rc = s_script_add (self, ";", 1);
    }
    if (rc != DB_OK) {
        self->script_len = mark;
        if (self->script)
            self->script [mark] = 0;
        return rc;
    }
    self->takers [idx] = st && st->returns_rows ? st : NULL;
    if (self->takers [idx]) {
        if (st->res)
            mysql_free_result (st->res);
        st->res = NULL;
        st->state = S_IDLE;
        st->deferred = true;
    }
    self->script_count++;
    return DB_OK;
}

//  Executes the statement on the first call, then walks its rows.
static int
s_step (db_stmt_t *base)
{
    s_stmt_t *st = (s_stmt_t *) base;
    s_db_t *self = (s_db_t *) base->db;
    if (st->deferred) {
        //  Its rows come with the script
        int rc = s_flush (base->db);
        if (rc != DB_OK)
            return rc;
        if (!st->res) {
            snprintf (self->errmsg, sizeof self->errmsg, "%s: a deferred statement's rows "
                      "did not come", self->label);
            return DB_ERROR;
        }
    }
    if (st->state == S_ROWS && st->res)
        return s_fetch (self, st);      //  client side
    if (st->state == S_ROWS) {
        if (self->lost || st->generation != self->generation) {
            snprintf (self->errmsg, sizeof self->errmsg,
                      "%s: connection lost while reading rows", self->label);
            return DB_UNAVAILABLE;
        }
        return s_fetch (self, st);
    }
    if (st->state == S_DONE)
        return DB_DONE;

    int rc = s_ready (self);
    if (rc != DB_OK)
        return rc;
    if (self->script_count > 0 || self->begin_pending)
        return s_step_script (self, st);
    if (!st->stmt || st->generation != self->generation) {
        rc = s_prepare_on_server (self, st);
        if (rc != DB_OK)
            return rc;
    }
    if (st->nparams > 0) {
        for (unsigned int i = 0; i < st->nparams; i++) {
            s_param_t *param = &st->params [i];
            MYSQL_BIND *b = &st->pbind [i];
            memset (b, 0, sizeof *b);
            if (param->kind == S_PARAM_INT) {
                b->buffer_type = MYSQL_TYPE_LONGLONG;
                b->buffer = &param->ival;
            }
            else
            if (param->kind == S_PARAM_TEXT) {
                b->buffer_type = MYSQL_TYPE_STRING;
                b->buffer = param->text;
                b->buffer_length = param->length;
                b->length = &param->length;
            }
            else
                b->buffer_type = MYSQL_TYPE_NULL;
        }
        if (mysql_stmt_bind_param (st->stmt, st->pbind))
            return s_fail_stmt (self, st, "bind");
    }
    if (mysql_stmt_execute (st->stmt))
        return s_fail_stmt (self, st, "execute");

    if (mysql_stmt_field_count (st->stmt) == 0) {
        s_wrote (self, mysql_stmt_affected_rows (st->stmt), mysql_stmt_insert_id (st->stmt));
        st->state = S_DONE;
        return DB_DONE;
    }
    rc = s_cols_setup (self, st);
    if (rc != DB_OK)
        return rc;
    if (mysql_stmt_bind_result (st->stmt, st->rbind))
        return s_fail_stmt (self, st, "bind result");
    //  Store the whole result so other statements can run between steps.
    if (mysql_stmt_store_result (st->stmt)) {
        rc = s_fail_stmt (self, st, "store result");
        mysql_stmt_free_result (st->stmt);
        return rc;
    }
    st->stored = true;
    st->state = S_ROWS;
    return s_fetch (self, st);
}

//  The current row's column col, or NULL when there is none.
static s_col_t *
s_col (db_stmt_t *base, int col)
{
    s_stmt_t *st = (s_stmt_t *) base;
    if (st->res || st->state != S_ROWS || col < 0 || (unsigned int) col >= st->ncols)
        return NULL;
    return &st->cols [col];
}

//  Column col of the current row of rows as text, or NULL (SQL NULL, none).
static const char *
s_col_text (db_stmt_t *base, int col)
{
    s_stmt_t *st = (s_stmt_t *) base;
    if (!st->res || st->state != S_ROWS || !st->row || col < 0
    ||  (unsigned int) col >= mysql_num_fields (st->res))
        return NULL;
    return st->row [col];
}

//  An integer column, or a decimal text (COUNT, SUM) read as an integer.
static int64_t
s_column_int64 (db_stmt_t *base, int idx)
{
    s_col_t *col = s_col (base, idx);
    if (((s_stmt_t *) base)->res) {
        const char *text = s_col_text (base, idx);
        errno = 0;
        long long value = text ? strtoll (text, NULL, 10) : 0;
        return errno ? 0 : (int64_t) value;
    }
    if (!col || col->is_null)
        return 0;
    if (col->is_int)
        return (int64_t) col->ival;
    errno = 0;
    long long value = strtoll (col->buf, NULL, 10);
    return errno? 0: (int64_t) value;
}

//  A column as text (numbers formatted), NULL for SQL NULL.
static const char *
s_column_text (db_stmt_t *base, int idx)
{
    if (((s_stmt_t *) base)->res)
        return s_col_text (base, idx);
    s_col_t *col = s_col (base, idx);
    if (!col || col->is_null)
        return NULL;
    if (col->is_int) {
        if (col->is_unsigned)
            snprintf (col->num, sizeof col->num, "%llu", (unsigned long long) col->ival);
        else
            snprintf (col->num, sizeof col->num, "%lld", col->ival);
        return col->num;
    }
    return col->buf;
}

//  True when the column is SQL NULL (or missing).
static int
s_column_is_null (db_stmt_t *base, int idx)
{
    if (((s_stmt_t *) base)->res)
        return s_col_text (base, idx) == NULL;
    s_col_t *col = s_col (base, idx);
    return !col || col->is_null;
}

//  Drops the stored rows and bindings so the statement can run again.
static void
s_reset (db_stmt_t *base)
{
    s_stmt_t *st = (s_stmt_t *) base;
    if (st->stored && st->stmt)
        mysql_stmt_free_result (st->stmt);     //  client side only
    st->stored = false;
    s_text_rows_drop (st);
    st->state = S_IDLE;
    s_params_clear (st);
}

//  Affected rows of the last write (matched rows for UPDATE).
static int64_t
s_changes (db_t *base)
{
    return ((s_db_t *) base)->changes;
}

//  The last auto-increment id generated on this connection.
static int64_t
s_last_insert_id (db_t *base)
{
    return ((s_db_t *) base)->last_id;
}

//  A round trip to the server; reconnects when the connection is lost.
static int
s_ping (db_t *base)
{
    s_db_t *self = (s_db_t *) base;
    int rc = s_flush (base);
    if (rc == DB_OK)
        rc = s_ready (self);
    if (rc != DB_OK)
        return DB_UNAVAILABLE;
    if (mysql_ping (self->conn) == 0)
        return DB_OK;
    s_fail_conn (self, "ping");
    if (self->lost && !self->in_tx && s_connect (self) == DB_OK)
        return DB_OK;
    return DB_UNAVAILABLE;
}

//  The last error text.
static const char *
s_errmsg (db_t *base)
{
    s_db_t *self = (s_db_t *) base;
    return self->errmsg [0]? self->errmsg: "no error";
}

const db_driver_t db_mysql_driver = {
    .dialect = DB_MYSQL,
    .scheme = "mysql",
    .open = s_open,
    .close = s_close,
    .exec = s_exec,
    .begin = s_begin,
    .commit = s_commit,
    .rollback = s_rollback,
    .set_lock_wait = s_set_lock_wait,
    .defer = s_defer,
    .flush = s_flush,
    .prepare = s_prepare,
    .stmt_free = s_stmt_free,
    .bind_int64 = s_bind_int64,
    .bind_text = s_bind_text,
    .step = s_step,
    .column_int64 = s_column_int64,
    .column_text = s_column_text,
    .column_is_null = s_column_is_null,
    .reset = s_reset,
    .changes = s_changes,
    .last_insert_id = s_last_insert_id,
    .ping = s_ping,
    .errmsg = s_errmsg,
};
