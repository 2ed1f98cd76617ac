#!/usr/bin/env bash
#  bench/run.sh — throughput of coffee against a ceiling measured in the same
#  run, on loopback, printed as a ratio.
#
#  GET phase (routes menu, best): builds Release into build-bench, starts
#  `coffee serve` (temporary data dir, 127.0.0.1, a free port) and bare-mhd
#  with the same thread count, runs wrk against each for GET /display/menu
#  and GET /display/best, and prints req/s of each, the ratio, and coffee's
#  peak RSS (VmHWM).
#
#  Order phase (route order): starts a fresh `coffee serve` (its own temporary
#  data dir, log level warn), creates one customer per wrk thread and charges
#  each enough points for ORDER_RATE_BOUND orders/s over the run, then runs
#  wrk -s bench/order.lua (POST /order, one MENU-00000001, no
#  Idempotency-Key). coffee is then stopped and bare-store runs the same
#  store_order_create in a loop on its own fresh temporary SQLite store with
#  ORDER_ACTORS threads: coffee's writers for POST /order are its order
#  actors, each with one store connection, so the ceiling gets as many
#  concurrent writers, each with its own connection. Prints coffee's 200
#  answers/s, bare-store's orders/s and the ratio; fails if most of coffee's
#  answers were not 2xx.
#
#  Every process started here is stopped by PID on exit.
#
#  Environment (all optional):
#    ROUTES="menu best order"  which phases run (any of menu, best, order)
#    THREADS=4        HTTP threads of coffee and bare-mhd
#    WRK_THREADS=2    wrk threads (and customers in the order phase)
#    CONNECTIONS=64   wrk connections
#    DURATION=10      seconds per wrk run (and of the bare-store run)
#    ROUNDS=2         GET: wrk runs per server and route, alternating; the best counts
#    LOG_LEVEL=info   coffee's --log-level in the GET phase (info writes one line per request)
#    ORDER_ACTORS=2   coffee's --order-actors in the order phase = bare-store threads
#    ORDER_LOG_LEVEL=warn      coffee's --log-level in the order phase
#    ORDER_RATE_BOUND=50000    orders/s per customer the charged points cover
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
ROUTES="${ROUTES:-menu best order}"
ORDER_ACTORS="${ORDER_ACTORS:-2}"
ORDER_LOG_LEVEL="${ORDER_LOG_LEVEL:-warn}"
ORDER_RATE_BOUND="${ORDER_RATE_BOUND:-50000}"

GET_ROUTES=""
RUN_ORDER=""
for r in $ROUTES; do
    case "$r" in
        menu) GET_ROUTES="$GET_ROUTES /display/menu" ;;
        best) GET_ROUTES="$GET_ROUTES /display/best" ;;
        order) RUN_ORDER=1 ;;
        *) echo "bench: ROUTES: unknown route '$r' (menu, best, order)" >&2; exit 2 ;;
    esac
done

for tool in cmake wrk curl python3; do
    command -v "$tool" >/dev/null || { echo "bench: $tool is missing" >&2; exit 2; }
done

if [ -z "${SKIP_BUILD:-}" ]; then
    mkdir -p "$BUILD"
    if ! { cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DCOFFEE_SANITIZE=OFF \
           && cmake --build "$BUILD" --target coffee bare-mhd bare-store -j2; } >"$BUILD/bench-build.log" 2>&1
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

#  GET phase: coffee and bare-mhd on the routes in GET_ROUTES.
get_phase() {
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
    for route in $GET_ROUTES; do
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
    stop_pid "$COFFEE_PID"
    COFFEE_PID=""
}

#  Waits up to limit seconds for a process we started to end by itself, then
#  stops it. Returns its exit status (or 1 when it had to be stopped).
wait_pid() {
    local pid="$1" limit="$2" rc=0
    for _ in $(seq 1 $((limit * 10))); do
        if ! kill -0 "$pid" 2>/dev/null; then
            wait "$pid" || rc=$?
            return "$rc"
        fi
        sleep 0.1
    done
    echo "bench: process $pid still running after ${limit}s, stopping it" >&2
    stop_pid "$pid"
    return 1
}

#  Order phase: POST /order through coffee, then the same transaction looped
#  by bare-store on its own store.
order_phase() {
    local port base customers=() id price charges ok total out wrk_rps requests non2xx
    local coffee_rps bare_out bare_rps ratio cfg
    port="$(free_port)"
    base="http://127.0.0.1:$port"
    "$BUILD/coffee" serve --bind 127.0.0.1 --port "$port" --data-dir "$WORK/order-data" \
        --http-threads "$THREADS" --order-actors "$ORDER_ACTORS" \
        --log-level "$ORDER_LOG_LEVEL" >"$WORK/coffee-order.log" 2>&1 &
    COFFEE_PID=$!
    wait_http "$base/health" || { tail -20 "$WORK/coffee-order.log" >&2; exit 1; }

    #  One customer per wrk thread, so each thread orders for its own, as each
    #  bare-store thread does.
    for i in $(seq 1 "$WRK_THREADS"); do
        id="$(curl -s -H 'Content-Type: application/json' -d "{\"customerNm\":\"bench-$i\"}" \
              "$base/customer" \
              | python3 -c 'import json,sys; print(json.load(sys.stdin)["customerId"])')" \
            || { echo "bench: POST /customer failed" >&2; exit 1; }
        customers+=("$id")
    done

    #  The price of the benched order, from one probe order after one charge.
    curl -s -o /dev/null -H 'Content-Type: application/json' \
         -d "{\"customerId\":\"${customers[0]}\",\"chargeAmt\":1000000000}" "$base/point"
    price="$(curl -s -H 'Content-Type: application/json' \
             -d "{\"customerId\":\"${customers[0]}\",\"menuList\":[{\"menuId\":\"MENU-00000001\",\"qy\":1}]}" \
             "$base/order" | python3 -c 'import json,sys; print(json.load(sys.stdin)["orderPrice"])')" \
        || { echo "bench: the probe POST /order failed" >&2; exit 1; }

    #  Charges of 1e9 points (the most one POST /point takes) covering
    #  ORDER_RATE_BOUND orders/s per customer for the whole run, sent by one
    #  curl over one keep-alive connection.
    charges=$(( price * ORDER_RATE_BOUND * (DURATION + 1) / 1000000000 + 1 ))
    cfg="$WORK/charges.curl"
    : >"$cfg"
    for id in "${customers[@]}"; do
        for _ in $(seq 1 "$charges"); do
            #  "next" separates two requests; one after the last is an error.
            [ -s "$cfg" ] && echo "next" >>"$cfg"
            printf 'url = "%s/point"\nheader = "Content-Type: application/json"\ndata = "{\\"customerId\\":\\"%s\\",\\"chargeAmt\\":1000000000}"\noutput = "/dev/null"\nwrite-out = "%%{http_code}\\n"\n' \
                "$base" "$id" >>"$cfg"
        done
    done
    total=$(( charges * ${#customers[@]} ))
    ok="$(curl -s -K "$cfg" | grep -c '^200$' || true)"
    if [ "$ok" != "$total" ]; then
        echo "bench: only $ok of $total POST /point answered 200" >&2
        exit 1
    fi

    echo "bench: POST /order, loopback, $THREADS HTTP threads, $ORDER_ACTORS order actors, wrk -t$WRK_THREADS -c$CONNECTIONS -d${DURATION}s, ${#customers[@]} customers charged $charges × 1e9 points each (price $price), coffee log level $ORDER_LOG_LEVEL"
    out="$(ORDER_CUSTOMERS="$(IFS=,; echo "${customers[*]}")" \
           timeout $((DURATION + 30)) wrk -t"$WRK_THREADS" -c"$CONNECTIONS" -d"${DURATION}s" \
           -s "$ROOT/bench/order.lua" "$base/order" 2>&1)" \
        || { echo "bench: wrk failed on POST /order: $out" >&2; exit 1; }
    wrk_rps="$(echo "$out" | awk '/Requests\/sec/ { print $2 }')"
    read -r requests non2xx < <(echo "$out" | awk '/^order.lua: requests/ { print $3, $5 }') || true
    if [ -z "${requests:-}" ] || [ "$requests" -eq 0 ] || [ $((non2xx * 2)) -gt "$requests" ]; then
        echo "bench: POST /order: most answers were not 2xx ($out)" >&2
        echo "bench: the benched request answered now:" >&2
        curl -s -H 'Content-Type: application/json' \
             -d "$(echo "$out" | sed -n 's/^order.lua: body //p' | head -1)" \
             "$base/order" >&2 || true
        echo >&2
        tail -20 "$WORK/coffee-order.log" >&2
        exit 1
    fi
    if [ "$non2xx" -gt 0 ]; then
        echo "bench: POST /order: $non2xx of $requests answers were not 2xx" >&2
    fi
    #  Only 200 answers count, as only 200 replies count in bare-store.
    coffee_rps="$(python3 -c "print('%.2f' % (float('$wrk_rps' or 0) * ($requests - $non2xx) / $requests))")"
    stop_pid "$COFFEE_PID"
    COFFEE_PID=""

    mkdir -p "$WORK/bare-store-data"
    "$BUILD/bare-store" --data-dir "$WORK/bare-store-data" --threads "$ORDER_ACTORS" \
        --duration "$DURATION" --rate-bound "$ORDER_RATE_BOUND" >"$WORK/bare-store.out" 2>&1 &
    BARE_PID=$!
    if ! wait_pid "$BARE_PID" $((DURATION + 120)); then
        BARE_PID=""
        cat "$WORK/bare-store.out" >&2
        echo "bench: bare-store failed" >&2
        exit 1
    fi
    BARE_PID=""
    bare_out="$(cat "$WORK/bare-store.out")"
    echo "$bare_out" | grep -E "^bare-store (orders|failures)" | grep -v "orders/s" || true
    bare_rps="$(echo "$bare_out" | awk '/^bare-store orders\/s:/ { print $3 }')"
    ratio="$(python3 -c "b=float('$bare_rps' or 0); c=float('$coffee_rps' or 0); print('%.2f' % (c / b) if b else 'n/a')")"
    echo "order: coffee $coffee_rps req/s, bare store $bare_rps orders/s, ratio $ratio"
}

if [ -n "$GET_ROUTES" ]; then
    get_phase
fi
if [ -n "$RUN_ORDER" ]; then
    order_phase
fi
