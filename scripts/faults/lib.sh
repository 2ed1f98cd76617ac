# scripts/faults/lib.sh — what every fault row shares (sourced, not run):
# starting coffee processes on free loopback ports with a data dir of the
# row, the load client (load.py), stopping everything the row started (by
# pid) on exit, and the row's one figure line.
# Every coffee of a row runs with the row's admin token file (0600, in the
# row's dir, random from the kernel's CSPRNG): the load's customers use the
# tokens their sign-ups gave them, and only the operator's reads of
# /metrics use the admin token.
#
# A row: fault_init NAME; fault_coffee … ; fault_load_start …; (inject);
# fault_mark start; (heal); fault_mark end; fault_load_finish; fault_verify.
set -euo pipefail
FAULTS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$FAULTS_DIR/../.." && pwd)
BUILD=${BUILD_DIR:-$ROOT/build-release}
COFFEE=${COFFEE_BIN:-$BUILD/coffee}
LOAD_SECONDS=${LOAD_SECONDS:-25}
LOAD_THREADS=${LOAD_THREADS:-4}
ROW=""
ROW_DIR=""
ADMIN_TOKEN_FILE=""
declare -a ROW_PIDS=()
FAULT_START=""
FAULT_END=""

say() { printf 'faults/%s: %s\n' "$ROW" "$*" >&2; }

free_port() {
    python3 "$ROOT/scripts/free_port.py"
}

# Ends every process the row started (SIGCONT first: a stopped one cannot
# die of SIGTERM), then removes the row's dir unless KEEP=1.
fault_cleanup() {
    local rc=$?
    trap - EXIT
    for pid in "${ROW_PIDS[@]}"; do
        kill -CONT "$pid" 2>/dev/null || true
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "${ROW_PIDS[@]}"; do
        for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
        kill -KILL "$pid" 2>/dev/null || true
    done
    wait 2>/dev/null || true
    [ -n "${ROW_CLEANUP_HOOK:-}" ] && $ROW_CLEANUP_HOOK || true
    if [ "$rc" -ne 0 ] && [ -n "$ROW_DIR" ]; then
        for log in "$ROW_DIR"/*.log; do
            [ -f "$log" ] && { say "tail of $log:"; tail -n 8 "$log" >&2; }
        done
    fi
    if [ "${KEEP:-0}" != 1 ] && [ -n "$ROW_DIR" ]; then
        rm -rf -- "$ROW_DIR"
    fi
    exit "$rc"
}

fault_init() {
    ROW=$1
    [ -x "$COFFEE" ] || { say "no coffee at $COFFEE (build Release: cmake --build build-release)"; exit 1; }
    ROW_DIR=$(mktemp -d "${TMPDIR:-/tmp}/coffee-fault-$ROW.XXXXXX")
    trap fault_cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    fault_admin_token "$ROW_DIR/admin.token"
}

# fault_admin_token FILE: writes a new admin token (43 base64url characters
# from os.urandom) to FILE, mode 0600, and makes it the row's.
fault_admin_token() {
    (umask 077 && python3 -c 'import secrets; print(secrets.token_urlsafe(32))' >"$1")
    ADMIN_TOKEN_FILE=$1
}

# Forgets a pid the row has ended itself.
fault_forget() {
    local gone=$1 kept=()
    for pid in "${ROW_PIDS[@]}"; do [ "$pid" = "$gone" ] || kept+=("$pid"); done
    ROW_PIDS=("${kept[@]}")
}

# fault_coffee VAR PORT LOG ARGS…: starts `coffee serve` on 127.0.0.1:PORT
# with the row's admin token file, waits for /health, sets VAR to its pid.
fault_coffee() {
    local var=$1 port=$2 log=$3
    shift 3
    "$COFFEE" serve --bind 127.0.0.1 --port "$port" --log-level warn \
        --admin-token-file "$ADMIN_TOKEN_FILE" "$@" >>"$log" 2>&1 &
    local started=$!
    ROW_PIDS+=("$started")
    printf -v "$var" '%s' "$started"
    for _ in $(seq 1 150); do
        curl -s -o /dev/null "http://127.0.0.1:$port/health" && return 0
        kill -0 "$started" 2>/dev/null || { say "coffee on $port exited at start"; tail -n 5 "$log" >&2; return 1; }
        sleep 0.1
    done
    say "coffee on $port did not answer /health"
    return 1
}

# Waits until /health on PORT answers anything (the process serves again).
fault_wait_health() {
    for _ in $(seq 1 300); do
        curl -s -o /dev/null "http://127.0.0.1:$1/health" && return 0
        sleep 0.1
    done
    return 1
}

fault_mark() {
    local now
    now=$(date +%s.%N)
    if [ "$1" = start ]; then FAULT_START=$now; else FAULT_END=$now; fi
}

# fault_load_start URL [READ_URL]: the load client in the background.
fault_load_start() {
    local url=$1 read_url=${2:-$1}
    python3 "$FAULTS_DIR/load.py" run "$url" "$ROW_DIR/load" --threads "$LOAD_THREADS" \
        --seconds "$LOAD_SECONDS" --read-url "$read_url" >"$ROW_DIR/load.log" 2>&1 &
    LOAD_PID=$!
    ROW_PIDS+=("$LOAD_PID")
    # wait until its customers exist, so the fault meets a running load
    for _ in $(seq 1 300); do
        [ -s "$ROW_DIR/load/log.jsonl" ] && return 0
        kill -0 "$LOAD_PID" 2>/dev/null || { cat "$ROW_DIR/load.log" >&2; return 1; }
        sleep 0.1
    done
    return 1
}

fault_load_finish() {
    touch "$ROW_DIR/load/stop"
    wait "$LOAD_PID" || true
    fault_forget "$LOAD_PID"
}

# fault_verify URL COLLECTOR_FILE RECONCILE_ARGS…: prints the row's line and
# returns load.py's verdict. DRAIN_URLS (space-separated) names the coffee
# processes whose outbox and consumers must drain first (default URL).
fault_verify() {
    local url=$1 collector=$2
    shift 2
    local figures rc=0 drain=()
    for u in ${DRAIN_URLS:-$url}; do drain+=(--drain-url "$u"); done
    figures=$(python3 "$FAULTS_DIR/load.py" verify "$url" "$ROW_DIR/load" --collector "$collector" \
        "${drain[@]}" \
        ${FAULT_START:+--fault-start "$FAULT_START"} ${FAULT_END:+--fault-end "$FAULT_END"} \
        --admin-token-file "$ADMIN_TOKEN_FILE" --reconcile "$COFFEE" reconcile "$@") || rc=$?
    local verdict=PASS
    [ "$rc" -eq 0 ] || verdict=FAIL
    printf 'fault: %s %s %s\n' "$ROW" "$verdict" "$figures"
    if [ -n "${FAULT_LOG:-}" ]; then
        printf '%s fault: %s %s %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$ROW" "$verdict" "$figures" >>"$FAULT_LOG"
    fi
    return "$rc"
}
