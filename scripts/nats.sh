#!/bin/sh
# nats.sh — a private NATS server with JetStream for the tests, from Debian's
# nats-server package (never a system service).
#
#   scripts/nats.sh start   DIR PORT   start nats-server -js on 127.0.0.1:PORT with its
#                                      store under DIR and wait until it is ready
#   scripts/nats.sh stop    DIR        stop it (SIGTERM by recorded pid) and wait
#   scripts/nats.sh restart DIR PORT   stop + start on the same store (outage tests)
#   scripts/nats.sh kill    DIR        kill -9 it and wait (crash tests)
#   scripts/nats.sh env     DIR PORT   print export lines for the tests:
#       COFFEE_TEST_NATS_URL, COFFEE_TEST_NATS_DIR, COFFEE_TEST_NATS_PORT
#
# Everything lives under DIR: store/ (JetStream's files), nats.pid (written by
# the server), nats.launch.pid (written here), nats.log (the server's log).
# Running start twice is safe: a running server is left as it is.
set -eu

ME=$(basename "$0")
START_TIMEOUT=30        # seconds to wait for the server to be ready
STOP_TIMEOUT=30         # seconds to wait for a clean shutdown before kill -9

die () { echo "$ME: $*" >&2; exit 1; }

usage () {
    echo "usage: $ME start|restart DIR PORT | stop|kill DIR | env DIR PORT" >&2
    exit 2
}

# Sets the paths of one instance from DIR (made when $2 is "create").
set_paths () {
    if [ "${2:-}" = create ]; then
        mkdir -p "$1"
    elif [ ! -d "$1" ]; then
        die "no such folder: $1"
    fi
    DIR=$(cd "$1" && pwd)
    STORE="$DIR/store"
    PIDFILE="$DIR/nats.pid"
    LAUNCHPID="$DIR/nats.launch.pid"
    LOG="$DIR/nats.log"
}

check_port () {
    case "$1" in
        ''|*[!0-9]*) die "PORT must be a number, got '$1'" ;;
    esac
    [ "$1" -ge 1 ] && [ "$1" -le 65535 ] || die "PORT out of range: $1"
}

# Prints the pid of our running nats-server, or nothing.
running_pid () {
    for f in "$PIDFILE" "$LAUNCHPID"; do
        [ -s "$f" ] || continue
        pid=$(cat "$f" 2>/dev/null || true)
        case "$pid" in ''|*[!0-9]*) continue ;; esac
        if kill -0 "$pid" 2>/dev/null; then
            comm=$(cat "/proc/$pid/comm" 2>/dev/null || echo "")
            case "$comm" in
                nats-server) echo "$pid"; return 0 ;;
            esac
        fi
    done
    return 0
}

# True once the server logged that it is ready (after JetStream started),
# counting only the lines written since this start (the log is appended to).
ready () {
    [ -f "$LOG" ] || return 1
    tail -c +"$((LOG_START + 1))" "$LOG" 2>/dev/null | grep -q "Server is ready"
}

do_start () {
    set_paths "$1" create
    check_port "$2"
    PORT=$2
    pid=$(running_pid)
    if [ -n "$pid" ]; then
        grep -q "Listening for client connections on 127.0.0.1:$PORT" "$LOG" 2>/dev/null || \
            die "nats-server $pid already runs for $DIR, not on port $PORT"
        echo "$ME: nats-server $pid already running on 127.0.0.1:$PORT" >&2
        return 0
    fi
    mkdir -p "$STORE"
    rm -f "$PIDFILE" "$LAUNCHPID"
    LOG_START=0
    [ -f "$LOG" ] && LOG_START=$(wc -c < "$LOG")
    # setsid: the server outlives the shell (and the test) that started it.
    setsid "$SERVER" -a 127.0.0.1 -p "$PORT" -js -sd "$STORE" -P "$PIDFILE" \
        -l "$LOG" </dev/null >>"$DIR/nats.out" 2>&1 &
    launched=$!
    echo "$launched" > "$LAUNCHPID"
    waited=0
    until ready; do
        if ! kill -0 "$launched" 2>/dev/null; then
            tail -n 30 "$LOG" >&2 2>/dev/null || true
            tail -n 30 "$DIR/nats.out" >&2 2>/dev/null || true
            die "nats-server exited during start (log: $LOG)"
        fi
        if [ "$waited" -ge $((START_TIMEOUT * 10)) ]; then
            tail -n 30 "$LOG" >&2 2>/dev/null || true
            kill -9 "$launched" 2>/dev/null || true
            die "nats-server was not ready within ${START_TIMEOUT}s (log: $LOG)"
        fi
        sleep 0.1
        waited=$((waited + 1))
    done
    echo "$ME: nats-server $launched ready on 127.0.0.1:$PORT (JetStream store $STORE)" >&2
}

# Sends sig to the server and waits up to limit seconds for it to exit.
# Returns 1 if it is still there.
signal_and_wait () {
    pid=$1; sig=$2; limit=$3
    kill "-$sig" "$pid" 2>/dev/null || return 0
    waited=0
    while kill -0 "$pid" 2>/dev/null; do
        if [ "$waited" -ge $((limit * 10)) ]; then return 1; fi
        sleep 0.1
        waited=$((waited + 1))
    done
    return 0
}

do_stop () {
    if [ ! -d "$1" ]; then
        echo "$ME: no nats-server running for $1 (no such folder)" >&2
        return 0
    fi
    set_paths "$1"
    pid=$(running_pid)
    if [ -z "$pid" ]; then
        echo "$ME: no nats-server running for $DIR" >&2
    elif ! signal_and_wait "$pid" TERM "$STOP_TIMEOUT"; then
        echo "$ME: nats-server $pid did not stop in ${STOP_TIMEOUT}s; kill -9" >&2
        signal_and_wait "$pid" KILL 10 || die "nats-server $pid survives kill -9"
    fi
    rm -f "$LAUNCHPID" "$PIDFILE"
}

do_kill () {
    if [ ! -d "$1" ]; then
        echo "$ME: no nats-server running for $1 (no such folder)" >&2
        return 0
    fi
    set_paths "$1"
    pid=$(running_pid)
    if [ -n "$pid" ]; then
        signal_and_wait "$pid" KILL 10 || die "nats-server $pid survives kill -9"
    fi
    rm -f "$LAUNCHPID" "$PIDFILE"
}

do_env () {
    set_paths "$1"
    check_port "$2"
    echo "export COFFEE_TEST_NATS_URL='nats://127.0.0.1:$2'"
    echo "export COFFEE_TEST_NATS_DIR='$DIR'"
    echo "export COFFEE_TEST_NATS_PORT='$2'"
}

[ $# -ge 2 ] || usage
cmd=$1
SERVER=""
for d in "" /usr/sbin/ /usr/bin/ /usr/local/bin/ /usr/local/sbin/; do
    if [ -z "$d" ]; then
        SERVER=$(command -v nats-server 2>/dev/null || true)
    elif [ -x "${d}nats-server" ]; then
        SERVER="${d}nats-server"
    fi
    [ -n "$SERVER" ] && break
done
[ -n "$SERVER" ] || die "nats-server not found (apt-get install nats-server)"

case "$cmd" in
    start)   [ $# -eq 3 ] || usage; do_start "$2" "$3" ;;
    stop)    do_stop "$2" ;;
    kill)    do_kill "$2" ;;
    restart) [ $# -eq 3 ] || usage; do_stop "$2"; do_start "$2" "$3" ;;
    env)     [ $# -eq 3 ] || usage; do_env "$2" "$3" ;;
    *)       usage ;;
esac
