#!/usr/bin/env bash
#  bench/run.sh — GET throughput of coffee against a bare libmicrohttpd
#  server answering a body of the same size, in the same run, on loopback.
#
#  Builds Release into build-bench, starts `coffee serve` (temporary data
#  dir, 127.0.0.1, a free port) and bare-mhd with the same thread count,
#  runs wrk against each for GET /display/menu and GET /display/best, and
#  prints req/s of each, the ratio, and coffee's peak RSS (VmHWM). Both
#  servers are stopped by PID on exit.
#
#  Environment (all optional):
#    THREADS=4        HTTP threads of both servers
#    WRK_THREADS=2    wrk threads
#    CONNECTIONS=64   wrk connections
#    DURATION=10      seconds per wrk run
#    ROUNDS=2         wrk runs per server and route, alternating; the best counts
#    LOG_LEVEL=info   coffee's --log-level (info writes one line per request)
#    SKIP_BUILD=1     use the binaries already built
#    BUILD_DIR=…      build folder (default build-bench)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="${BUILD_DIR:-$ROOT/build-bench}"
THREADS="${THREADS:-4}"
WRK_THREADS="${WRK_THREADS:-2}"
CONNECTIONS="${CONNECTIONS:-64}"
DURATION="${DURATION:-10}"
ROUNDS="${ROUNDS:-2}"
LOG_LEVEL="${LOG_LEVEL:-info}"

for tool in cmake wrk curl python3; do
    command -v "$tool" >/dev/null || { echo "bench: $tool is missing" >&2; exit 2; }
done

if [ -z "${SKIP_BUILD:-}" ]; then
    mkdir -p "$BUILD"
    if ! { cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DCOFFEE_SANITIZE=OFF \
           && cmake --build "$BUILD" --target coffee bare-mhd -j2; } >"$BUILD/bench-build.log" 2>&1
    then
        grep -E "error|Error" "$BUILD/bench-build.log" | head -20 >&2
        echo "bench: the Release build failed (full log: $BUILD/bench-build.log)" >&2
        exit 1
    fi
fi

WORK="$(mktemp -d "${TMPDIR:-/tmp}/coffee-bench.XXXXXX")"
COFFEE_PID=""
BARE_PID=""

#  Stops a process we started: SIGTERM, up to 10 s, then SIGKILL.
stop_pid() {
    local pid="$1"
    [ -n "$pid" ] || return 0
    kill -TERM "$pid" 2>/dev/null || return 0
    for _ in $(seq 1 100); do
        kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

cleanup() {
    stop_pid "$BARE_PID"
    stop_pid "$COFFEE_PID"
    rm -rf "$WORK"
}
trap cleanup EXIT

#  A TCP port free on 127.0.0.1 right now.
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

#  Waits up to 30 s until GET url answers with 200.
wait_http() {
    local url="$1"
    for _ in $(seq 1 300); do
        if [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "$url" || true)" = "200" ]; then
            return 0
        fi
        sleep 0.1
    done
    echo "bench: $url did not come up" >&2
    return 1
}

#  Requests per second of one wrk run against url.
wrk_rps() {
    local url="$1" out
    out="$(timeout $((DURATION + 30)) wrk -t"$WRK_THREADS" -c"$CONNECTIONS" -d"${DURATION}s" \
           "$url" 2>&1)" || { echo "bench: wrk failed on $url: $out" >&2; echo 0; return; }
    if echo "$out" | grep -q "Non-2xx"; then
        echo "bench: non-2xx answers from $url:" >&2
        echo "$out" | grep -E "Non-2xx|Socket errors" >&2
    fi
    echo "$out" | awk '/Requests\/sec/ { print $2 }'
}

#  The larger of two req/s figures.
best() {
    python3 -c "print(max(float('${1:-0}' or 0), float('${2:-0}' or 0)))"
}

#  Starts coffee.
COFFEE_PORT="$(free_port)"
"$BUILD/coffee" serve --bind 127.0.0.1 --port "$COFFEE_PORT" --data-dir "$WORK/data" \
    --http-threads "$THREADS" --log-level "$LOG_LEVEL" >"$WORK/coffee.log" 2>&1 &
COFFEE_PID=$!
wait_http "http://127.0.0.1:$COFFEE_PORT/health" || { tail -20 "$WORK/coffee.log" >&2; exit 1; }

#  A few orders, so /display/best has a realistic answer.
BASE="http://127.0.0.1:$COFFEE_PORT"
JSON=(-H 'Content-Type: application/json')
CUSTOMER="$(curl -s "${JSON[@]}" -d '{"customerNm":"bench"}' "$BASE/customer" \
            | python3 -c 'import json,sys; print(json.load(sys.stdin)["customerId"])')"
curl -s -o /dev/null "${JSON[@]}" -d "{\"customerId\":\"$CUSTOMER\",\"chargeAmt\":1000000}" \
     "$BASE/point"
for menus in '1 2 3' '1 2' '1'; do
    lines=""
    for m in $menus; do
        lines="$lines${lines:+,}{\"menuId\":\"MENU-0000000$m\",\"qy\":1}"
    done
    curl -s -o /dev/null "${JSON[@]}" -d "{\"customerId\":\"$CUSTOMER\",\"menuList\":[$lines]}" \
         "$BASE/order"
done
#  Wait until the projection shows them (bounded).
for _ in $(seq 1 100); do
    [ "$(curl -s "$BASE/display/best" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')" = "3" ] && break
    sleep 0.1
done

echo "bench: loopback, $THREADS HTTP threads each, wrk -t$WRK_THREADS -c$CONNECTIONS -d${DURATION}s, best of $ROUNDS, coffee log level $LOG_LEVEL"
printf '%-16s %8s %12s %12s %7s\n' route body coffee_rps bare_rps ratio
for route in /display/menu /display/best; do
    bytes="$(curl -s "$BASE$route" | wc -c)"
    BARE_PORT="$(free_port)"
    "$BUILD/bare-mhd" --port "$BARE_PORT" --threads "$THREADS" --body-bytes "$bytes" \
        >"$WORK/bare.log" 2>&1 &
    BARE_PID=$!
    wait_http "http://127.0.0.1:$BARE_PORT/" || { cat "$WORK/bare.log" >&2; exit 1; }
    #  Alternate the two and keep each one's best round: other load on the
    #  machine then hurts both alike instead of whichever ran at the time.
    bare_rps=0
    coffee_rps=0
    for _ in $(seq 1 "$ROUNDS"); do
        bare_rps="$(best "$bare_rps" "$(wrk_rps "http://127.0.0.1:$BARE_PORT$route")")"
        coffee_rps="$(best "$coffee_rps" "$(wrk_rps "$BASE$route")")"
    done
    stop_pid "$BARE_PID"
    BARE_PID=""
    ratio="$(python3 -c "b=float('$bare_rps' or 0); c=float('$coffee_rps' or 0); print('%.2f' % (c / b) if b else 'n/a')")"
    printf '%-16s %8s %12s %12s %7s\n' "$route" "$bytes" "$coffee_rps" "$bare_rps" "$ratio"
done

hwm="$(awk '/VmHWM/ { print $2, $3 }' "/proc/$COFFEE_PID/status")"
echo "coffee peak RSS (VmHWM): $hwm"
