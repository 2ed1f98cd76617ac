#!/bin/sh
# mariadb.sh — a private MariaDB server for the tests, from Debian's
# mariadb-server package (never the system service).
#
#   scripts/mariadb.sh start   DIR PORT [OPTION…]
#                                         install a datadir under DIR (first time),
#                                         start mariadbd on 127.0.0.1:PORT, wait until
#                                         it answers, create databases coffee and
#                                         display and the user coffee; OPTIONs go to
#                                         mariadbd as they are (e.g. --ssl-ca=… --ssl-cert=…
#                                         --ssl-key=… for a TLS server)
#   scripts/mariadb.sh stop    DIR        shut it down (SIGTERM by pid file) and wait
#   scripts/mariadb.sh restart DIR PORT [OPTION…]   stop + start on the same datadir (outage tests)
#   scripts/mariadb.sh kill    DIR        kill -9 it and wait (crash tests)
#   scripts/mariadb.sh env     DIR PORT   print export lines for the tests:
#       COFFEE_TEST_STORE_URL, COFFEE_TEST_DISPLAY_STORE_URL,
#       COFFEE_TEST_MARIADB_DIR, COFFEE_TEST_MARIADB_PORT
#
# Everything lives under DIR: data/ (the datadir), mysqld.sock, mysqld.pid,
# mysqld.err (the server's log) and coffee.password (made once, reused).
# Running start twice is safe: a running server is left as it is.
set -eu

ME=$(basename "$0")
START_TIMEOUT=60        # seconds to wait for the server to answer
STOP_TIMEOUT=60         # seconds to wait for a clean shutdown before kill -9

die () { echo "$ME: $*" >&2; exit 1; }

usage () {
    echo "usage: $ME start|restart DIR PORT [MARIADBD-OPTION…] | stop|kill DIR | env DIR PORT" >&2
    exit 2
}

# Finds a program in PATH or in the sbin folders Debian puts mariadbd in.
find_prog () {
    for name in "$@"; do
        if command -v "$name" >/dev/null 2>&1; then command -v "$name"; return 0; fi
        for d in /usr/sbin /usr/local/sbin /sbin; do
            if [ -x "$d/$name" ]; then echo "$d/$name"; return 0; fi
        done
    done
    return 1
}

# Sets the paths of one instance from DIR (made when $2 is "create").
set_paths () {
    if [ "${2:-}" = create ]; then
        mkdir -p "$1"
    elif [ ! -d "$1" ]; then
        die "no such folder: $1"
    fi
    DIR=$(cd "$1" && pwd)
    DATADIR="$DIR/data"
    SOCK="$DIR/mysqld.sock"
    PIDFILE="$DIR/mysqld.pid"
    LAUNCHPID="$DIR/mysqld.launch.pid"
    ERRLOG="$DIR/mysqld.err"
    PWFILE="$DIR/coffee.password"
    MARKER="$DIR/.installed"
    # A unix socket path must fit in sun_path (108 bytes).
    [ ${#SOCK} -lt 100 ] || die "DIR too long for a unix socket path: $SOCK"
}

check_port () {
    case "$1" in
        ''|*[!0-9]*) die "PORT must be a number, got '$1'" ;;
    esac
    [ "$1" -ge 1 ] && [ "$1" -le 65535 ] || die "PORT out of range: $1"
}

# Prints the pid of our running mariadbd, or nothing.
running_pid () {
    for f in "$PIDFILE" "$LAUNCHPID"; do
        [ -s "$f" ] || continue
        pid=$(cat "$f" 2>/dev/null || true)
        case "$pid" in ''|*[!0-9]*) continue ;; esac
        if kill -0 "$pid" 2>/dev/null; then
            comm=$(cat "/proc/$pid/comm" 2>/dev/null || echo "")
            case "$comm" in
                mariadbd|mysqld) echo "$pid"; return 0 ;;
            esac
        fi
    done
    return 0
}

# Runs SQL as root over the private socket.
root_sql () {
    "$CLIENT" --no-defaults --protocol=socket --socket="$SOCK" -uroot \
        --connect-timeout=5 --batch --skip-column-names -e "$1"
}

# True once the server answers on its socket.
answers () {
    "$ADMIN" --no-defaults --protocol=socket --socket="$SOCK" -uroot \
        --connect-timeout=2 ping >/dev/null 2>&1
}

# The coffee user's password: made once per DIR, then reused.
password () {
    if [ ! -s "$PWFILE" ]; then
        ( umask 077; od -An -N12 -tx1 /dev/urandom | tr -d ' \n' > "$PWFILE.tmp" )
        mv "$PWFILE.tmp" "$PWFILE"
    fi
    cat "$PWFILE"
}

install_datadir () {
    if [ -f "$MARKER" ] && [ -d "$DATADIR/mysql" ]; then
        return 0
    fi
    # A half-made datadir from an interrupted install: start over.
    rm -rf "$DATADIR"
    mkdir -p "$DATADIR"
    if ! "$INSTALL_DB" --no-defaults --datadir="$DATADIR" --user="$RUN_USER" \
            --auth-root-authentication-method=normal --skip-test-db \
            --skip-name-resolve > "$DIR/install.log" 2>&1; then
        tail -n 30 "$DIR/install.log" >&2
        die "mariadb-install-db failed (log: $DIR/install.log)"
    fi
    touch "$MARKER"
}

do_start () {
    set_paths "$1" create
    check_port "$2"
    PORT=$2
    shift 2
    pid=$(running_pid)
    if [ -z "$pid" ]; then
        install_datadir
        rm -f "$PIDFILE" "$LAUNCHPID" "$SOCK"
        # setsid: the server outlives the shell (and the test) that started it.
        # --innodb-flush-neighbors=0: the setting for SSDs, which InnoDB
        # takes by itself only where the disk says it is one. Virtual disks
        # often say they are rotational (here /sys/block/vda/queue/rotational
        # is 1 on flash that syncs a 4 KiB write in 0.3 ms), and then each
        # page the page cleaner writes takes its dirty neighbours with it:
        # nine in ten of the pages written under the order bench, while the
        # pages every order changes wait for the whole batch
        # (docs/PERFORMANCE.md, "The page cleaner's neighbours").
        setsid "$MARIADBD" --no-defaults \
            --datadir="$DATADIR" --user="$RUN_USER" \
            --bind-address=127.0.0.1 --port="$PORT" --skip-networking=0 \
            --socket="$SOCK" --pid-file="$PIDFILE" --log-error="$ERRLOG" \
            --skip-name-resolve --character-set-server=utf8mb4 \
            --collation-server=utf8mb4_bin --max-connections=500 \
            --max-prepared-stmt-count=65528 \
            --innodb-buffer-pool-size=64M --innodb-flush-neighbors=0 "$@" \
            </dev/null >>"$DIR/mysqld.out" 2>&1 &
        echo $! > "$LAUNCHPID"
        launched=$!
        waited=0
        until answers; do
            if ! kill -0 "$launched" 2>/dev/null; then
                tail -n 30 "$ERRLOG" >&2 2>/dev/null || true
                die "mariadbd exited during start (log: $ERRLOG)"
            fi
            if [ "$waited" -ge $((START_TIMEOUT * 4)) ]; then
                tail -n 30 "$ERRLOG" >&2 2>/dev/null || true
                die "mariadbd did not answer within ${START_TIMEOUT}s (log: $ERRLOG)"
            fi
            sleep 0.25
            waited=$((waited + 1))
        done
    else
        answers || die "mariadbd (pid $pid) runs but does not answer on $SOCK"
        running_port=$(root_sql "SELECT @@port") || die "cannot ask mariadbd $pid its port"
        [ "$running_port" = "$PORT" ] || \
            die "mariadbd $pid already runs for $DIR on port $running_port, not $PORT"
    fi
    pw=$(password)
    root_sql "
        CREATE DATABASE IF NOT EXISTS coffee CHARACTER SET utf8mb4 COLLATE utf8mb4_bin;
        CREATE DATABASE IF NOT EXISTS display CHARACTER SET utf8mb4 COLLATE utf8mb4_bin;
        CREATE USER IF NOT EXISTS 'coffee'@'127.0.0.1' IDENTIFIED BY '$pw';
        CREATE USER IF NOT EXISTS 'coffee'@'localhost' IDENTIFIED BY '$pw';
        ALTER USER 'coffee'@'127.0.0.1' IDENTIFIED BY '$pw';
        ALTER USER 'coffee'@'localhost' IDENTIFIED BY '$pw';
        GRANT ALL PRIVILEGES ON \`coffee%\`.* TO 'coffee'@'127.0.0.1', 'coffee'@'localhost';
        GRANT ALL PRIVILEGES ON \`display%\`.* TO 'coffee'@'127.0.0.1', 'coffee'@'localhost';
        FLUSH PRIVILEGES;" || die "could not create the databases and user"
    echo "$ME: mariadbd $(running_pid) ready on 127.0.0.1:$PORT (datadir $DATADIR)" >&2
}

# Sends sig to the server and waits up to limit seconds for it to exit.
# Returns 1 if it is still there.
signal_and_wait () {
    pid=$1; sig=$2; limit=$3
    kill "-$sig" "$pid" 2>/dev/null || return 0
    waited=0
    while kill -0 "$pid" 2>/dev/null; do
        if [ "$waited" -ge $((limit * 4)) ]; then return 1; fi
        sleep 0.25
        waited=$((waited + 1))
    done
    return 0
}

do_stop () {
    if [ ! -d "$1" ]; then
        echo "$ME: no mariadbd running for $1 (no such folder)" >&2
        return 0
    fi
    set_paths "$1"
    pid=$(running_pid)
    if [ -z "$pid" ]; then
        echo "$ME: no mariadbd running for $DIR" >&2
    elif ! signal_and_wait "$pid" TERM "$STOP_TIMEOUT"; then
        echo "$ME: mariadbd $pid did not stop in ${STOP_TIMEOUT}s; kill -9" >&2
        signal_and_wait "$pid" KILL 10 || die "mariadbd $pid survives kill -9"
    fi
    rm -f "$LAUNCHPID"
}

do_kill () {
    if [ ! -d "$1" ]; then
        echo "$ME: no mariadbd running for $1 (no such folder)" >&2
        return 0
    fi
    set_paths "$1"
    pid=$(running_pid)
    if [ -n "$pid" ]; then
        signal_and_wait "$pid" KILL 10 || die "mariadbd $pid survives kill -9"
    fi
    rm -f "$LAUNCHPID"
}

do_env () {
    set_paths "$1"
    check_port "$2"
    [ -s "$PWFILE" ] || die "no password in $PWFILE: run '$ME start $1 $2' first"
    pw=$(cat "$PWFILE")
    base="mysql://coffee:$pw@127.0.0.1:$2"
    echo "export COFFEE_TEST_STORE_URL='$base/coffee'"
    echo "export COFFEE_TEST_DISPLAY_STORE_URL='$base/display'"
    echo "export COFFEE_TEST_MARIADB_DIR='$DIR'"
    echo "export COFFEE_TEST_MARIADB_PORT='$2'"
}

[ $# -ge 2 ] || usage
cmd=$1
RUN_USER=$(id -un)
MARIADBD=$(find_prog mariadbd mysqld) || die "mariadbd not found (apt-get install mariadb-server)"
INSTALL_DB=$(find_prog mariadb-install-db mysql_install_db) || die "mariadb-install-db not found"
ADMIN=$(find_prog mariadb-admin mysqladmin) || die "mariadb-admin not found"
CLIENT=$(find_prog mariadb mysql) || die "mariadb client not found"

case "$cmd" in
    start)   [ $# -ge 3 ] || usage; dir=$2; port=$3; shift 3; do_start "$dir" "$port" "$@" ;;
    stop)    do_stop "$2" ;;
    kill)    do_kill "$2" ;;
    restart) [ $# -ge 3 ] || usage; dir=$2; port=$3; shift 3
             do_stop "$dir"; do_start "$dir" "$port" "$@" ;;
    env)     [ $# -eq 3 ] || usage; do_env "$2" "$3" ;;
    *)       usage ;;
esac
