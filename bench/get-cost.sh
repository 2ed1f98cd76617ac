#!/usr/bin/env bash
#  bench/get-cost.sh — what one GET costs coffee's own code, counted in
#  instructions rather than timed.
#
#  bench/run.sh times GET /display/* against bare-mhd with wrk, and on a
#  VM whose speed drifts a change of a few percent drowns in that drift.
#  This script counts instead: it runs coffee, then bare-mhd (the same
#  libmicrohttpd, thread count and body size), each under valgrind's
#  callgrind with instrumentation off, warms it up, turns instrumentation
#  on for ROUND seconds of wrk load, and divides the instructions the HTTP
#  threads (those that ran libmicrohttpd) executed in user space by the
#  requests answered. The kernel's share (the socket calls, the same for
#  both) is not counted, nor the actors' work in the background, so the
#  difference between the two figures is what coffee's front adds per
#  request. Runs of the same build agree within about 3 %.
#
#    bash bench/get-cost.sh                  # GET /display/menu
#    TOP=20 SKIP_BUILD=1 bash bench/get-cost.sh
#
#  It counts GET /display/menu on a fresh data dir: /display/best takes
#  the same path (a snapshot in memory) and would answer [] there.
#
#  Environment (all optional): ROUND (5 s of load counted), CONNECTIONS
#  (8: valgrind runs one thread at a time, so more only queue), THREADS
#  (2, HTTP threads of both), LOG_LEVEL (info, a line per request as in
#  bench/run.sh), TOP (0: also list the N functions of coffee's HTTP
#  threads with the most instructions of their own), BUILD (build-bench),
#  SKIP_BUILD (set: use BUILD as it is), KEEP (set: keep the profiles and
#  logs, and say where). Needs valgrind, wrk and curl (bash
#  scripts/deps.sh). Everything listens on 127.0.0.1 and is stopped by
#  PID; temporary files are removed.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="${BUILD:-$ROOT/build-bench}"
ROUTE=/display/menu
ROUND="${ROUND:-5}"
CONNECTIONS="${CONNECTIONS:-8}"
THREADS="${THREADS:-2}"
LOG_LEVEL="${LOG_LEVEL:-info}"
TOP="${TOP:-0}"

die() { echo "get-cost: $*" >&2; exit 1; }
for tool in valgrind callgrind_control callgrind_annotate wrk curl; do
    command -v "$tool" >/dev/null || die "$tool is missing (bash scripts/deps.sh)"
done
for n in ROUND CONNECTIONS THREADS TOP; do
    [[ "${!n}" =~ ^[0-9]+$ ]] || die "$n must be a whole number"
done

if [ -z "${SKIP_BUILD:-}" ]; then
    if ! { cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DCOFFEE_SANITIZE=OFF \
           && cmake --build "$BUILD" --target coffee bare-mhd -j2; } >/dev/null; then
        die "the Release build failed"
    fi
fi
for bin in coffee bare-mhd; do
    [ -x "$BUILD/$bin" ] || die "$BUILD/$bin is missing (run without SKIP_BUILD)"
done

WORK="$(mktemp -d "${TMPDIR:-/tmp}/coffee-cost.XXXXXX")"
PID=""
cleanup() {
    if [ -n "$PID" ]; then
        kill -TERM "$PID" 2>/dev/null || true
        wait "$PID" 2>/dev/null || true
    fi
    if [ -n "${KEEP:-}" ]; then
        echo "get-cost: kept $WORK" >&2
    else
        rm -rf "$WORK"
    fi
}
trap cleanup EXIT

# shellcheck source=bench/ports.sh
source "$ROOT/bench/ports.sh"       #  free_port

#  Waits up to 60 s (valgrind starts slowly) for a 200 at url.
wait_http() {
    for _ in $(seq 1 600); do
        [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$1" || true)" = "200" ] && return 0
        sleep 0.1
    done
    return 1
}

#  Counts one server: $1 a name, then its command line (with PORT in it).
#  Writes "<requests> <instructions>" to $WORK/<name>.result and leaves the
#  profile in $WORK/<name>.out*.
count() {
    local name="$1"; shift
    local port url out requests total
    port="$(free_port)"
    url="http://127.0.0.1:$port$ROUTE"
    valgrind --tool=callgrind --instr-atstart=no --separate-threads=yes \
        --callgrind-out-file="$WORK/$name.out" \
        "${@//PORT/$port}" >"$WORK/$name.log" 2>&1 &
    PID=$!
    wait_http "$url" || { tail -20 "$WORK/$name.log" >&2; die "$name did not start"; }
    wrk -t1 -c"$CONNECTIONS" -d2s "$url" >/dev/null          #  warm up
    callgrind_control -i on "$PID" >/dev/null 2>&1
    out="$(wrk -t1 -c"$CONNECTIONS" -d"${ROUND}s" "$url")"
    callgrind_control -i off "$PID" >/dev/null 2>&1
    callgrind_control -d "$PID" >/dev/null 2>&1
    kill -TERM "$PID"
    wait "$PID" 2>/dev/null || true
    PID=""
    if echo "$out" | grep -q "Non-2xx"; then
        die "$name answered non-2xx: $(echo "$out" | grep Non-2xx)"
    fi
    requests="$(echo "$out" | awk '/requests in/ { print $1 }')"
    [ "${requests:-0}" -gt 0 ] || die "$name answered no request"
    #  The threads that ran libmicrohttpd (the HTTP threads; not the
    #  actors, whose background work per second would count more per
    #  request the slower valgrind happened to answer), in the dump taken
    #  above and the one at exit: instructions are counted only while
    #  instrumentation was on, so their sum is the load's.
    local files
    files="$(grep -l "libmicrohttpd" "$WORK/$name".out* || true)"
    [ -n "$files" ] || die "$name: no profile of an HTTP thread"
    # shellcheck disable=SC2086  # a list of files
    total="$(cat $files | awk '/^totals:/ { s += $2 } END { print s + 0 }')"
    #  memset: libmicrohttpd clears a connection's 32 KiB memory pool for
    #  each request, and valgrind counts its "rep stosb" once per byte,
    #  which makes it most of both totals though it is quick on the CPU.
    memset="$(for f in $files; do callgrind_annotate --inclusive=no --threshold=100 "$f" 2>/dev/null; done \
              | awk '/^ *[0-9][0-9,]* .*memset/ { n = $1; gsub(",", "", n); s += n } END { print s + 0 }')"
    echo "$requests $total $memset" >"$WORK/$name.result"
}

SIZE_PORT="$(free_port)"
"$BUILD/coffee" serve --bind 127.0.0.1 --port "$SIZE_PORT" --http-threads "$THREADS" \
    --data-dir "$WORK/size" >"$WORK/size.log" 2>&1 &
PID=$!
wait_http "http://127.0.0.1:$SIZE_PORT$ROUTE" || die "coffee did not start"
BYTES="$(curl -s "http://127.0.0.1:$SIZE_PORT$ROUTE" | wc -c)"
kill -TERM "$PID"; wait "$PID" 2>/dev/null || true; PID=""

count coffee "$BUILD/coffee" serve --bind 127.0.0.1 --port PORT --http-threads "$THREADS" \
    --data-dir "$WORK/data" --log-level "$LOG_LEVEL"
count bare "$BUILD/bare-mhd" --bind 127.0.0.1 --port PORT --threads "$THREADS" \
    --body-bytes "$BYTES"
read -r c_req c_ir c_set <"$WORK/coffee.result"
read -r b_req b_ir b_set <"$WORK/bare.result"

awk -v route="$ROUTE" -v bytes="$BYTES" -v cr="$c_req" -v ci="$c_ir" -v cs="$c_set" \
    -v br="$b_req" -v bi="$b_ir" -v bs="$b_set" '
BEGIN {
    c = (ci - cs) / cr; b = (bi - bs) / br
    printf "GET %s (%d B), user-space instructions per request (callgrind),\n", route, bytes
    printf "without memset (all / memset in parentheses):\n"
    printf "  coffee   %7.0f  (%.0f / %.0f; %d requests)\n", c, ci / cr, cs / cr, cr
    printf "  bare-mhd %7.0f  (%.0f / %.0f; %d requests)\n", b, bi / br, bs / br, br
    printf "  coffee adds %.0f (%.2f times bare-mhd)\n", c - b, c / b
}'
if [ "$TOP" -gt 0 ]; then
    echo "coffee, the $TOP functions with the most instructions of their own, per request:"
    grep -l "libmicrohttpd" "$WORK"/coffee.out* | while read -r f; do
        callgrind_annotate --inclusive=no --threshold=100 "$f" 2>/dev/null
    done | awk -v r="$c_req" '
        /^ *[0-9][0-9,]* / && !/TOTALS/ {
            n = $1; gsub(",", "", n)
            fn = $NF; if (fn ~ /^\[/) fn = $(NF - 1)
            sub(/.*:/, "", fn)
            sum [fn] += n
        }
        END { for (fn in sum) printf "%8.0f %s\n", sum [fn] / r, fn }' \
    | sort -rn | head -n "$TOP"
fi
