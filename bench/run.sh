#!/usr/bin/env bash
#  bench/run.sh — coffee's performance as ratios against baselines measured
#  in the same run, on loopback (DESIGN.md section 5). Not a test: it prints
#  figures and PASS/BELOW against the targets, and exits 0 unless a phase
#  could not be measured.
#
#      bash bench/run.sh                              # every phase, ~5 minutes
#      PHASES="menu best" DURATION=3 bash bench/run.sh
#      UPDATE_DOCS=1 LABEL="after group commit" bash bench/run.sh
#                                   # also add the results to docs/PERFORMANCE.md
#                                   # and replace docs/orders-vs-actors.{dat,png}
#
#  Run it on a quiet machine: it warns when the load average is above half
#  the CPUs, and records the load average in its results. On a coffee whose
#  POST /customer answers with a "token", every request carries that
#  customer's Authorization: Bearer header.
#
#  Phases (PHASES, default all of them, always run in this order):
#    menu, best     GET /display/menu and /display/best on `coffee serve`
#                   (SQLite, THREADS HTTP threads, a few orders so /best has
#                   three entries) against bare-mhd: libmicrohttpd with the same
#                   thread count answering a fixed body of the same size.
#                   ROUNDS rounds of one GET_DURATION wrk run each, back to
#                   back; the ratio is the median of the rounds' ratios.
#                   Target ≥ 0.9×.
#    order-sqlite   POST /order on SQLite (SQLITE_ORDER_ACTORS order actors)
#                   against bare-store --mode tx with BARE_SQLITE_THREADS (1)
#                   writer: a loop of the balance-update + history-insert
#                   transaction on coffee's schema and SQLite settings. Target
#                   ≥ 0.6×.
#    overload       POST /order on SQLite at CONNECTIONS (the saturating
#                   load) and at twice as many connections on the same coffee:
#                   the p99 at twice the load stays within 2x the p99 at
#                   saturation (bounded queues and deadlines: a request that
#                   cannot be queued or waited past its deadline is answered
#                   503 at once, with Retry-After, and changed nothing).
#    order-mariadb  POST /order on MariaDB (MARIADB_ORDER_ACTORS = 8 order
#                   actors, command and display store on the private server)
#                   against BARE_MARIADB_THREADS (8) threads of that loop on the
#                   same server. Target ≥ 1.0×. Then, on the same coffee, wrk
#                   paced at PACE_FRACTION (0.5) of the peak just measured
#                   (bench/order.lua's delay(); Debian's wrk has no -R):
#                   p50/p99 latency, target p99 < 20 ms.
#    sweep          orders/s at order actors SWEEP_ACTORS (1 2 4 8) on each of
#                   SWEEP_STORES (sqlite mariadb), with the bare loops as
#                   ceilings: OUT_DIR/orders-vs-actors.dat and, with gnuplot,
#                   OUT_DIR/orders-vs-actors.png (bench/orders-vs-actors.gp).
#                   Runs already made by order-* are reused, not repeated.
#    visible        an order's 200 until GET /display/best shows it, and a
#                   menu change's (PATCH /admin/menu) until GET /display/menu does
#                   (visible-latency, VISIBLE_SAMPLES samples on a fresh SQLite
#                   coffee, one order at a time): p50/p99, target p99 < 50 ms.
#    rss            the largest VmHWM (peak RSS, /proc/PID/status) of every
#                   coffee started by the phases above, read under load just
#                   before it is stopped. Target < 64 MiB.
#
#  Every phase prints one line
#      RESULT <phase>: coffee <figure> | baseline <figure> | ratio R | target T | PASS or BELOW
#  and at the end the lines again, plus OUT_DIR/results.md: a Markdown
#  section (date, machine, commit, the exact command, the results table and
#  the orders-vs-actors table) made to paste into docs/PERFORMANCE.md. With
#  UPDATE_DOCS=1 the script puts it there itself, as the newest section right
#  after the marker <!-- bench:results begin --> (older runs stay below it,
#  so before/after comparisons survive; UPDATE_DOCS=replace drops them, up to
#  <!-- bench:results end -->), and copies the .dat and .png into docs/.
#
#  MariaDB phases start a private mariadbd (scripts/mariadb.sh start, its own
#  temporary datadir, a free loopback port; never the system service), give
#  each coffee or bare-store run freshly dropped and recreated databases, and
#  stop the server when the MariaDB phases are over (and on any exit).
#  Every process started here is stopped by PID on exit; temporary files are
#  removed. Everything talks to 127.0.0.1 only.
#
#  Environment (all optional):
#    PHASES="menu best order-sqlite order-mariadb sweep visible rss"
#    DURATION=8       seconds of each wrk run and each bare-store run
#    ROUNDS=15        GET phases: rounds of one wrk run per server; the median
#                     of the rounds' ratios counts
#    GET_DURATION=1   seconds of each of those wrk runs (short runs: a pair
#                     meets the same moment of the VM's drifting speed;
#                     docs/PERFORMANCE.md has the comparison)
#    THREADS=nproc    HTTP threads of coffee and of bare-mhd (coffee's default:
#                     one per online CPU)
#    WRK_THREADS=2    wrk threads
#    CONNECTIONS=64   wrk connections
#    CUSTOMERS=64     customers the POST /order phases spread their orders over
#                     (coffee routes a customer's orders to one order actor,
#                     among the lanes the load opens: --lane-requests)
#    COFFEE_FLAGS=…   more `coffee serve` flags for every coffee started, e.g.
#                     "--lane-requests 0" to spread orders over every actor
#    LOG_LEVEL=info   coffee's --log-level in the GET phases (info: a line per request)
#    ORDER_LOG_LEVEL=warn      coffee's --log-level in the POST /order phases
#    SQLITE_ORDER_ACTORS=1     coffee's --order-actors in order-sqlite and
#                              overload: SQLite has one writer, and a second
#                              order actor only waits for the first's lock
#                              (the sweep shows every count)
#    MARIADB_ORDER_ACTORS=8    coffee's --order-actors in order-mariadb
#    BARE_SQLITE_THREADS=1     bare-store threads on SQLite (one writer)
#    BARE_MARIADB_THREADS=8    bare-store threads on MariaDB
#    BARE_MODE=tx     bare-store --mode: tx (the baseline) or order (coffee's whole
#                     store_order_create, to see where the overhead is)
#    PACE_FRACTION=0.5         the paced run's rate as a fraction of the peak
#    PACE_RATE=…               pace at this many orders/s instead (to compare two
#                              builds or servers at one rate; the verdict then
#                              no longer speaks of half the peak)
#    SWEEP_ACTORS="1 2 4 8"    SWEEP_STORES="sqlite mariadb"
#    VISIBLE_SAMPLES=50        samples of the visible phase
#    ORDER_RATE_BOUND=50000    orders/s (all customers together) the charged points cover
#    MARIADB_PORT=…   port of the private mariadbd (default: a free one)
#    OUT_DIR=…        where results go (default BUILD_DIR/bench-results)
#    UPDATE_DOCS=1    add the results to docs/ (see above); =replace: replace older runs
#    LABEL=…          heading of the results section (default "bench/run.sh")
#    SKIP_BUILD=1     use the binaries already built
#    BUILD_DIR=…      build folder (default build-bench, Release)
#
#  Needs (scripts/deps.sh installs them): cmake and the build deps, wrk, curl,
#  python3 (UPDATE_DOCS), mariadb-server (MariaDB phases), gnuplot-nox (the plot; without it
#  the .dat is still written).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

#  The exact command, with the knobs the caller set, for the results section.
KNOBS="PHASES ROUTES DURATION ROUNDS GET_DURATION THREADS WRK_THREADS CONNECTIONS CUSTOMERS LOG_LEVEL ORDER_LOG_LEVEL
SQLITE_ORDER_ACTORS MARIADB_ORDER_ACTORS BARE_SQLITE_THREADS BARE_MARIADB_THREADS BARE_MODE
PACE_FRACTION PACE_RATE SWEEP_ACTORS SWEEP_STORES VISIBLE_SAMPLES ORDER_RATE_BOUND MARIADB_PORT OUT_DIR
UPDATE_DOCS LABEL SKIP_BUILD BUILD_DIR COFFEE_FLAGS"
COMMAND=""
for k in $KNOBS; do
    if [ -n "${!k+x}" ]; then
        if [[ "${!k}" =~ ^[A-Za-z0-9._/:+,=-]*$ ]]; then
            COMMAND="$COMMAND$k=${!k} "
        else
            COMMAND="$COMMAND$k='${!k//\'/\'\\\'\'}' "
        fi
    fi
done
COMMAND="${COMMAND}bash bench/run.sh${*:+ $*}"

#  ROUTES (the knob before PHASES: menu best order) still picks phases.
if [ -z "${PHASES:-}" ] && [ -n "${ROUTES:-}" ]; then
    PHASES="$(echo " $ROUTES " | sed 's/ order / order-sqlite /g')"
fi
BUILD="${BUILD_DIR:-$ROOT/build-bench}"
PHASES="${PHASES:-menu best order-sqlite order-mariadb overload sweep visible rss}"
DURATION="${DURATION:-8}"
ROUNDS="${ROUNDS:-15}"
GET_DURATION="${GET_DURATION:-1}"
THREADS="${THREADS:-$(nproc)}"
WRK_THREADS="${WRK_THREADS:-2}"
CONNECTIONS="${CONNECTIONS:-64}"
CUSTOMERS="${CUSTOMERS:-64}"
LOG_LEVEL="${LOG_LEVEL:-info}"
ORDER_LOG_LEVEL="${ORDER_LOG_LEVEL:-warn}"
SQLITE_ORDER_ACTORS="${SQLITE_ORDER_ACTORS:-1}"
MARIADB_ORDER_ACTORS="${MARIADB_ORDER_ACTORS:-8}"
BARE_SQLITE_THREADS="${BARE_SQLITE_THREADS:-1}"
BARE_MARIADB_THREADS="${BARE_MARIADB_THREADS:-8}"
BARE_MODE="${BARE_MODE:-tx}"
PACE_FRACTION="${PACE_FRACTION:-0.5}"
SWEEP_ACTORS="${SWEEP_ACTORS:-1 2 4 8}"
SWEEP_STORES="${SWEEP_STORES:-sqlite mariadb}"
VISIBLE_SAMPLES="${VISIBLE_SAMPLES:-50}"
ORDER_RATE_BOUND="${ORDER_RATE_BOUND:-50000}"
OUT_DIR="${OUT_DIR:-$BUILD/bench-results}"
LABEL="${LABEL:-bench/run.sh}"

#  Targets (DESIGN.md section 5).
TARGET_READ=0.9
TARGET_ORDER_SQLITE=0.6
TARGET_ORDER_MARIADB=1.0
TARGET_P99_MS=20
TARGET_VISIBLE_P99_MS=50
TARGET_RSS_MIB=64

die() { echo "bench: $*" >&2; exit 1; }
#  A progress line, with the seconds since the start.
say() { echo "bench [$((SECONDS - T0))s]: $*"; }
T0=$SECONDS

want() { case " $PHASES " in *" $1 "*) return 0 ;; esac; return 1; }
for p in $PHASES; do
    case "$p" in
        menu|best|order-sqlite|order-mariadb|overload|sweep|visible|rss) ;;
        *) echo "bench: PHASES: unknown phase '$p' (menu best order-sqlite order-mariadb overload sweep visible rss)" >&2
           exit 2 ;;
    esac
done
case "$BARE_MODE" in tx|order) ;; *) echo "bench: BARE_MODE is tx or order" >&2; exit 2 ;; esac
for s in $SWEEP_STORES; do
    case "$s" in sqlite|mariadb) ;; *) echo "bench: SWEEP_STORES: sqlite or mariadb, not '$s'" >&2; exit 2 ;; esac
done

for k in DURATION ROUNDS GET_DURATION THREADS WRK_THREADS CONNECTIONS CUSTOMERS SQLITE_ORDER_ACTORS \
         MARIADB_ORDER_ACTORS BARE_SQLITE_THREADS BARE_MARIADB_THREADS VISIBLE_SAMPLES \
         ORDER_RATE_BOUND; do
    [[ "${!k}" =~ ^[1-9][0-9]*$ ]] || { echo "bench: $k must be a whole number ≥ 1, not '${!k}'" >&2; exit 2; }
done
for a in $SWEEP_ACTORS; do
    [[ "$a" =~ ^[1-9][0-9]*$ ]] || { echo "bench: SWEEP_ACTORS: '$a' is not a whole number ≥ 1" >&2; exit 2; }
done
[[ "$PACE_FRACTION" =~ ^(0?\.[0-9]*[1-9][0-9]*|1(\.0*)?)$ ]] \
    || { echo "bench: PACE_FRACTION must be in (0, 1], not '$PACE_FRACTION'" >&2; exit 2; }
[ -z "${PACE_RATE:-}" ] || [[ "$PACE_RATE" =~ ^[1-9][0-9]*$ ]] \
    || { echo "bench: PACE_RATE must be a whole number ≥ 1, not '$PACE_RATE'" >&2; exit 2; }
[ "$WRK_THREADS" -le "$CONNECTIONS" ] || { echo "bench: WRK_THREADS > CONNECTIONS" >&2; exit 2; }

#  Fail now rather than after minutes of other phases.
if want order-mariadb || { want sweep && [[ " $SWEEP_STORES " == *" mariadb "* ]]; }; then
    command -v mariadbd >/dev/null || [ -x /usr/sbin/mariadbd ] \
        || die "mariadbd is missing (bash scripts/deps.sh installs mariadb-server)"
fi

for tool in cmake wrk curl awk; do
    command -v "$tool" >/dev/null || die "$tool is missing (bash scripts/deps.sh)"
done

if [ -z "${SKIP_BUILD:-}" ]; then
    mkdir -p "$BUILD"
    say "building Release in $BUILD"
    if ! { cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DCOFFEE_SANITIZE=OFF \
           && cmake --build "$BUILD" --target coffee bare-mhd bare-store visible-latency -j2; } \
           >"$BUILD/bench-build.log" 2>&1
    then
        grep -E "error|Error" "$BUILD/bench-build.log" | head -20 >&2
        die "the Release build failed (full log: $BUILD/bench-build.log)"
    fi
fi
for bin in coffee bare-mhd bare-store visible-latency; do
    [ -x "$BUILD/$bin" ] || die "$BUILD/$bin is missing (run without SKIP_BUILD)"
done

mkdir -p "$OUT_DIR"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/coffee-bench.XXXXXX")"
COFFEE_PID=""
BARE_PID=""
MARIADB_DIR=""
MARIADB_UP=""
STARTED_AT="$(date -u '+%Y-%m-%d %H:%M UTC')"

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

mariadb_down() {
    if [ -n "$MARIADB_UP" ]; then
        bash "$ROOT/scripts/mariadb.sh" stop "$MARIADB_DIR" >/dev/null 2>&1 || true
        MARIADB_UP=""
    fi
}

cleanup() {
    stop_pid "$BARE_PID"
    stop_pid "$COFFEE_PID"
    mariadb_down
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# shellcheck source=bench/ports.sh
source "$ROOT/bench/ports.sh"       #  free_port

#  Waits up to 30 s until GET url answers with 200.
wait_http() {
    local url="$1"
    for _ in $(seq 1 300); do
        if [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "$url" || true)" = "200" ]; then
            return 0
        fi
        sleep 0.1
    done
    say "$url did not come up" >&2
    return 1
}

#  Arithmetic on figures, in awk (python3 takes a second to start on a
#  loaded machine): calc FORMAT EXPR prints EXPR with printf FORMAT, the
#  named values a, b, c given as a=… arguments.
calc() {
    local fmt="$1" expr="$2"; shift 2
    awk "$@" "BEGIN { printf \"$fmt\", ($expr) }"
}
#  median FORMAT X...: the median of the numbers (the mean of the middle two
#  when their count is even), printed with FORMAT.
median() {
    local fmt="$1"; shift
    printf '%s\n' "$@" | sort -g | awk -v fmt="$fmt" '{ v[NR] = $1 }
        END { if (NR == 0) { printf fmt, 0; exit }
              m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
              printf fmt, m }'
}
#  ratio_of X Y: X/Y to two decimals, or n/a.
ratio_of() {
    awk -v a="$1" -v b="$2" 'BEGIN { if (b + 0 > 0) printf "%.2f", a / b; else printf "n/a" }'
}

#  Peak RSS of a running process in KiB (VmHWM), or 0.
hwm_kib() { awk '/^VmHWM:/ { print $2; found=1 } END { if (!found) print 0 }' "/proc/$1/status" 2>/dev/null || echo 0; }
RSS_MAX_KIB=0
RSS_WHERE=""
#  Records coffee's peak RSS before it is stopped; $1 names the run.
note_rss() {
    local kib
    kib="$(hwm_kib "$COFFEE_PID")"
    if [ "$kib" -gt "$RSS_MAX_KIB" ]; then
        RSS_MAX_KIB="$kib"
        RSS_WHERE="$1"
    fi
}

#  One result: printed now, kept for the summary and results.md.
#  result NAME COFFEE BASELINE RATIO TARGET VERDICT
RESULT_LINES=()
RESULT_ROWS=()
result() {
    local line="RESULT $1: coffee $2 | baseline $3 | ratio $4 | target $5 | $6"
    echo "$line"
    RESULT_LINES+=("$line")
    RESULT_ROWS+=("| $1 | $2 | $3 | $4 | $5 | $6 |")
}
#  verdict VALUE ge|lt LIMIT: PASS, BELOW, or n/a when VALUE is not a number.
verdict() {
    awk -v v="$1" -v op="$2" -v limit="$3" 'BEGIN {
        if (v !~ /^[0-9]+(\.[0-9]*)?$/) { print "n/a"; exit }
        ok = (op == "ge") ? (v + 0 >= limit + 0) : (v + 0 < limit + 0)
        print ok ? "PASS" : "BELOW" }'
}
verdict_ge() { verdict "$1" ge "$2"; }
verdict_lt() { verdict "$1" lt "$2"; }

#  Prints wrk's Requests/sec for url (GET); 0 when wrk failed.
wrk_rps() {
    local url="$1" out
    out="$(timeout $((DURATION + 30)) wrk -t"$WRK_THREADS" -c"$CONNECTIONS" -d"${DURATION}s" \
           "$url" 2>&1)" || { echo "bench: wrk failed on $url: $out" >&2; echo 0; return; }
    if echo "$out" | grep -q "Non-2xx"; then
        say "non-2xx answers from $url:" >&2
        echo "$out" | grep -E "Non-2xx|Socket errors" >&2
    fi
    echo "$out" | awk '/Requests\/sec/ { print $2 }'
}

# ---------------------------------------------------------------------------
#  coffee and its customers

#  Starts coffee serve with the given extra options on a free port; sets
#  COFFEE_PID and BASE. $1 names the log file.
coffee_start() {
    local name="$1"; shift
    local port
    port="$(free_port)"
    BASE="http://127.0.0.1:$port"
    COFFEE_PORT="$port"
    # shellcheck disable=SC2086  # COFFEE_FLAGS is a list of flags
    "$BUILD/coffee" serve --bind 127.0.0.1 --port "$port" --http-threads "$THREADS" "$@" ${COFFEE_FLAGS:-} \
        >"$WORK/$name.log" 2>&1 &
    COFFEE_PID=$!
    if ! wait_http "$BASE/health"; then
        tail -20 "$WORK/$name.log" >&2
        die "coffee ($name) did not start"
    fi
}

coffee_stop() {
    stop_pid "$COFFEE_PID"
    COFFEE_PID=""
}

#  Creates n customers through one curl (keep-alive); sets CUSTOMER_IDS and
#  CUSTOMER_TOKENS (the "token" of each answer when coffee gives one, for
#  an Authorization: Bearer header; "-" when it does not).
make_customers() {
    local n="$1" cfg="$WORK/customers.curl"
    : >"$cfg"
    for i in $(seq 1 "$n"); do
        [ -s "$cfg" ] && echo "next" >>"$cfg"
        printf 'url = "%s/customer"\nheader = "Content-Type: application/json"\ndata = "{\\"customerNm\\":\\"bench-%d\\"}"\nwrite-out = "\\n"\n' \
            "$BASE" "$i" >>"$cfg"
    done
    local rows=() row
    mapfile -t rows < <(curl -s -K "$cfg" | awk '{
        id = ""; token = "-"
        if (match($0, /"customerId":"[^"]*"/)) id = substr($0, RSTART + 14, RLENGTH - 15)
        if (match($0, /"token":"[^"]*"/)) token = substr($0, RSTART + 9, RLENGTH - 10)
        if (id != "") print id, token }')
    [ "${#rows[@]}" = "$n" ] || die "only ${#rows[@]} of $n POST /customer answered with an id"
    CUSTOMER_IDS=()
    CUSTOMER_TOKENS=()
    for row in "${rows[@]}"; do
        CUSTOMER_IDS+=("${row% *}")
        CUSTOMER_TOKENS+=("${row#* }")
    done
}

#  curl arguments for customer i's credentials (none without a token).
auth_args() {
    local token="${CUSTOMER_TOKENS[$1]:--}"
    [ "$token" = "-" ] || printf '%s\n' -H "Authorization: Bearer $token"
}

#  Charges every customer in CUSTOMER_IDS `per` times 1e9 points (the most
#  one POST /point takes), through one curl.
charge_customers() {
    local per="$1" cfg="$WORK/charges.curl" ok total
    : >"$cfg"
    for i in "${!CUSTOMER_IDS[@]}"; do
        for _ in $(seq 1 "$per"); do
            [ -s "$cfg" ] && echo "next" >>"$cfg"
            printf 'url = "%s/point"\nheader = "Content-Type: application/json"\ndata = "{\\"customerId\\":\\"%s\\",\\"chargeAmt\\":1000000000}"\noutput = "/dev/null"\nwrite-out = "%%{http_code}\\n"\n' \
                "$BASE" "${CUSTOMER_IDS[$i]}" >>"$cfg"
            if [ "${CUSTOMER_TOKENS[$i]}" != "-" ]; then
                printf 'header = "Authorization: Bearer %s"\n' "${CUSTOMER_TOKENS[$i]}" >>"$cfg"
            fi
        done
    done
    total=$(( per * ${#CUSTOMER_IDS[@]} ))
    ok="$(curl -s -K "$cfg" | grep -c '^200$' || true)"
    [ "$ok" = "$total" ] || die "only $ok of $total POST /point answered 200"
}

#  Orders one MENU-00000001 for customer index $1; prints its orderPrice.
probe_order() {
    local auth=()
    mapfile -t auth < <(auth_args "$1")
    curl -s -H 'Content-Type: application/json' "${auth[@]}" \
         -d "{\"customerId\":\"${CUSTOMER_IDS[$1]}\",\"menuList\":[{\"menuId\":\"MENU-00000001\",\"qy\":1}]}" \
         "$BASE/order" | grep -o '"orderPrice":[0-9]*' | cut -d: -f2 | grep .
}

#  Customers for the POST /order runs: CUSTOMERS of them, each charged for
#  its share of ORDER_RATE_BOUND orders/s over `seconds`.
order_customers() {
    local seconds="$1" price per
    make_customers "$CUSTOMERS"
    charge_customers 1
    price="$(probe_order 0)" || die "the probe POST /order failed"
    per=$(( price * ORDER_RATE_BOUND * seconds / CUSTOMERS / 1000000000 + 1 ))
    if [ "$per" -gt 1 ]; then
        charge_customers $(( per - 1 ))
    fi
}

#  Runs bench/order.lua against coffee at BASE. With $1 (orders/s) the run is
#  paced. Sets W_RPS (200 answers/s), W_P50, W_P99 (ms), W_NON2XX, W_REQUESTS.
wrk_orders() {
    local rate="${1:-}" out requests non2xx errors seconds
    out="$(ORDER_CUSTOMERS="$(IFS=,; echo "${CUSTOMER_IDS[*]}")" \
           ORDER_TOKENS="$(IFS=,; echo "${CUSTOMER_TOKENS[*]}")" ORDER_RATE="$rate" \
           WRK_THREADS="$WRK_THREADS" \
           timeout $((DURATION + 30)) wrk -t"$WRK_THREADS" -c"$CONNECTIONS" -d"${DURATION}s" \
           -s "$ROOT/bench/order.lua" "$BASE/order" 2>&1)" \
        || die "wrk failed on POST /order: $out"
    read -r requests non2xx errors seconds < <(echo "$out" \
        | awk '/^order.lua: requests/ { print $3, $5, $7, $9 }') || true
    read -r W_P50 W_P99 < <(echo "$out" | awk '/^order.lua: latency_ms/ { print $4, $8 }') || true
    if [ -z "${requests:-}" ] || [ "$requests" -eq 0 ] || [ $((non2xx * 2)) -gt "$requests" ]; then
        say "POST /order: most answers were not 2xx:" >&2
        echo "$out" >&2
        say "the benched request answered now:" >&2
        #  (order.lua's body is the first customer's: its token goes with it)
        local auth=()
        mapfile -t auth < <(auth_args 0)
        curl -s -H 'Content-Type: application/json' "${auth[@]}" \
             -d "$(echo "$out" | sed -n 's/^order.lua: body //p' | head -1)" "$BASE/order" >&2 || true
        echo >&2
        tail -20 "$WORK"/coffee-*.log >&2 || true
        die "POST /order failed"
    fi
    if [ "$non2xx" -gt 0 ] || [ "$errors" -gt 0 ]; then
        say "POST /order: $non2xx of $requests answers were not 2xx, $errors socket errors" >&2
    fi
    W_REQUESTS="$requests"
    W_NON2XX="$non2xx"
    #  Only 200 answers count, as only committed orders count in bare-store.
    W_RPS="$(calc %.0f "(a - b) / c" -v a="$requests" -v b="$non2xx" -v c="$seconds")"
}

# ---------------------------------------------------------------------------
#  MariaDB

mariadb_up() {
    [ -z "$MARIADB_UP" ] || return 0
    command -v mariadbd >/dev/null || [ -x /usr/sbin/mariadbd ] \
        || die "mariadbd is missing (bash scripts/deps.sh installs mariadb-server)"
    MARIADB_DIR="$WORK/mariadb"
    MARIADB_PORT="${MARIADB_PORT:-$(free_port)}"
    say "starting a private mariadbd on 127.0.0.1:$MARIADB_PORT"
    MARIADB_UP=1
    bash "$ROOT/scripts/mariadb.sh" start "$MARIADB_DIR" "$MARIADB_PORT" >"$WORK/mariadb-start.log" 2>&1 \
        || { cat "$WORK/mariadb-start.log" >&2; die "scripts/mariadb.sh start failed"; }
    eval "$(bash "$ROOT/scripts/mariadb.sh" env "$MARIADB_DIR" "$MARIADB_PORT")"
    MARIADB_STORE="$COFFEE_TEST_STORE_URL"
    MARIADB_DISPLAY="$COFFEE_TEST_DISPLAY_STORE_URL"
}

#  Drops and recreates the coffee and display databases, so every run starts
#  from the same empty store (root over the private socket, as mariadb.sh does).
mariadb_fresh() {
    local client
    client="$(command -v mariadb || command -v mysql)" || die "the mariadb client is missing"
    "$client" --no-defaults --protocol=socket --socket="$MARIADB_DIR/mysqld.sock" -uroot \
        --connect-timeout=5 -e "
        DROP DATABASE IF EXISTS coffee; DROP DATABASE IF EXISTS display;
        CREATE DATABASE coffee CHARACTER SET utf8mb4 COLLATE utf8mb4_bin;
        CREATE DATABASE display CHARACTER SET utf8mb4 COLLATE utf8mb4_bin;" \
        || die "could not recreate the MariaDB databases"
}

# ---------------------------------------------------------------------------
#  Measurements, each made once per run and reused by later phases

declare -A ORDERS_RPS ORDERS_P50 ORDERS_P99 PACED_RATE PACED_RPS PACED_P50 PACED_P99 BARE_RPS

#  POST /order peak on store $1 (sqlite|mariadb) with $2 order actors; with
#  $3 = paced also a paced run at PACE_FRACTION of that peak on the same
#  coffee. Fills ORDERS_*[store:actors] (and PACED_*).
measure_orders() {
    local store="$1" actors="$2" paced="${3:-}" key="$1:$2" rate opts=()
    if [ -n "${ORDERS_RPS[$key]:-}" ] && { [ -z "$paced" ] || [ -n "${PACED_P99[$key]:-}" ]; }; then
        return 0
    fi
    case "$store" in
        sqlite)  opts=(--data-dir "$WORK/orders-$store-$actors") ;;
        mariadb) mariadb_up; mariadb_fresh
                 opts=(--data-dir "$WORK/orders-$store-$actors"
                       --store "$MARIADB_STORE" --display-store "$MARIADB_DISPLAY") ;;
    esac
    coffee_start "coffee-orders-$store-$actors" "${opts[@]}" --order-actors "$actors" \
        --log-level "$ORDER_LOG_LEVEL"
    order_customers $(( 2 * DURATION + 2 ))
    wrk_orders
    ORDERS_RPS[$key]="$W_RPS"
    ORDERS_P50[$key]="$W_P50"
    ORDERS_P99[$key]="$W_P99"
    say "POST /order, $store, $actors order actors: $W_RPS orders/s, p50 $W_P50 ms, p99 $W_P99 ms (wrk -t$WRK_THREADS -c$CONNECTIONS -d${DURATION}s, $CUSTOMERS customers)"
    if [ -n "$paced" ]; then
        rate="${PACE_RATE:-$(calc %d "a * b < 1 ? 1 : int(a * b)" -v a="$W_RPS" -v b="$PACE_FRACTION")}"
        wrk_orders "$rate"
        PACED_RATE[$key]="$rate"
        PACED_RPS[$key]="$W_RPS"
        PACED_P50[$key]="$W_P50"
        PACED_P99[$key]="$W_P99"
        say "POST /order, $store, $actors order actors, paced at $rate/s: $W_RPS orders/s, p50 $W_P50 ms, p99 $W_P99 ms"
    fi
    note_rss "POST /order, $store, $actors order actors"
    coffee_stop
    rm -rf "$WORK/orders-$store-$actors"
}

#  bare-store on store $1 with $2 threads; fills BARE_RPS[store:threads].
measure_bare() {
    local store="$1" threads="$2" key="$1:$2" url out
    [ -z "${BARE_RPS[$key]:-}" ] || return 0
    case "$store" in
        sqlite)  mkdir -p "$WORK/bare-sqlite"; url="sqlite:$WORK/bare-sqlite/command.db" ;;
        mariadb) mariadb_up; mariadb_fresh; url="$MARIADB_STORE" ;;
    esac
    "$BUILD/bare-store" --store "$url" --threads "$threads" --mode "$BARE_MODE" \
        --duration "$DURATION" --rate-bound "$ORDER_RATE_BOUND" >"$WORK/bare-store.out" 2>&1 &
    BARE_PID=$!
    local rc=0
    for _ in $(seq 1 $(( (DURATION + 120) * 10 ))); do
        kill -0 "$BARE_PID" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$BARE_PID" 2>/dev/null; then
        stop_pid "$BARE_PID"; rc=1
    else
        wait "$BARE_PID" || rc=$?
    fi
    BARE_PID=""
    out="$(cat "$WORK/bare-store.out")"
    [ "$rc" = 0 ] || { echo "$out" >&2; die "bare-store ($store, $threads threads) failed"; }
    BARE_RPS[$key]="$(echo "$out" | awk '/^bare-store orders\/s:/ { printf "%.0f", $3 }')"
    say "bare-store --mode $BARE_MODE, $store, $threads threads: ${BARE_RPS[$key]} orders/s ($(echo "$out" | sed -n 's/^bare-store orders: //p'))"
    rm -rf "$WORK/bare-sqlite"
}

# ---------------------------------------------------------------------------
#  Phases

#  menu, best: coffee and bare-mhd on the same thread count.
read_phase() {
    local routes=() route bytes bare_port bare_rps coffee_rps r
    want menu && routes+=(/display/menu)
    want best && routes+=(/display/best)
    coffee_start coffee-reads --data-dir "$WORK/reads" --log-level "$LOG_LEVEL"

    #  A few orders, so /display/best has a realistic answer (three menus).
    make_customers 1
    charge_customers 1
    local auth=()
    mapfile -t auth < <(auth_args 0)
    for menus in '1 2 3' '1 2' '1'; do
        local lines=""
        for m in $menus; do
            lines="$lines${lines:+,}{\"menuId\":\"MENU-0000000$m\",\"qy\":1}"
        done
        curl -s -o /dev/null -H 'Content-Type: application/json' "${auth[@]}" \
             -d "{\"customerId\":\"${CUSTOMER_IDS[0]}\",\"menuList\":[$lines]}" "$BASE/order"
    done
    for _ in $(seq 1 100); do
        [ "$(curl -s "$BASE/display/best" | grep -o '"orderCnt"' | wc -l)" = "3" ] && break
        sleep 0.1
    done

    say "GET, $THREADS HTTP threads each, wrk -t$WRK_THREADS -c$CONNECTIONS -d${GET_DURATION}s, median of $ROUNDS rounds, coffee log level $LOG_LEVEL"
    for route in "${routes[@]}"; do
        bytes="$(curl -s "$BASE$route" | wc -c)"
        bare_port="$(free_port)"
        "$BUILD/bare-mhd" --bind 127.0.0.1 --port "$bare_port" --threads "$THREADS" \
            --body-bytes "$bytes" >"$WORK/bare-mhd.log" 2>&1 &
        BARE_PID=$!
        wait_http "http://127.0.0.1:$bare_port/" || { cat "$WORK/bare-mhd.log" >&2; die "bare-mhd did not start"; }
        #  Rounds of one run each, back to back, the first alternating: the
        #  machine's speed drifts over seconds (other guests of a VM), and a
        #  pair run together meets the same drift. The ratio is the median
        #  of the rounds' ratios; the req/s shown are the medians.
        local bare_all="" coffee_all="" ratio_all="" b c order who
        for round in $(seq 1 "$ROUNDS"); do
            order="bare coffee"
            [ $(( round % 2 )) = 0 ] && order="coffee bare"
            for who in $order; do
                if [ "$who" = bare ]; then
                    b="$(DURATION=$GET_DURATION wrk_rps "http://127.0.0.1:$bare_port$route")"
                else
                    c="$(DURATION=$GET_DURATION wrk_rps "$BASE$route")"
                fi
            done
            say "  $route round $round: coffee ${c:-0} req/s, bare-mhd ${b:-0} req/s ($(ratio_of "${c:-0}" "${b:-0}"))"
            bare_all="$bare_all ${b:-0}"
            coffee_all="$coffee_all ${c:-0}"
            ratio_all="$ratio_all $(calc %.4f "b > 0 ? c / b : 0" -v b="${b:-0}" -v c="${c:-0}")"
        done
        stop_pid "$BARE_PID"
        BARE_PID=""
        local bare_rps coffee_rps ratio
        bare_rps="$(median %.0f $bare_all)"
        coffee_rps="$(median %.0f $coffee_all)"
        ratio="$(median %.2f $ratio_all)"
        result "GET $route ($bytes B)" "$coffee_rps req/s" "bare-mhd $bare_rps req/s" \
               "$ratio" "≥ $TARGET_READ" "$(verdict_ge "$ratio" "$TARGET_READ")"
    done
    note_rss "GET /display/*"
    coffee_stop
}

order_sqlite_phase() {
    local a="$SQLITE_ORDER_ACTORS" t="$BARE_SQLITE_THREADS" ratio
    measure_orders sqlite "$a"
    measure_bare sqlite "$t"
    ratio="$(ratio_of "${ORDERS_RPS[sqlite:$a]}" "${BARE_RPS[sqlite:$t]}")"
    result "POST /order, SQLite, $a order actors" "${ORDERS_RPS[sqlite:$a]} orders/s" \
           "bare loop ($BARE_MODE), $t writer: ${BARE_RPS[sqlite:$t]}/s" "$ratio" \
           "≥ $TARGET_ORDER_SQLITE" "$(verdict_ge "$ratio" "$TARGET_ORDER_SQLITE")"
}

order_mariadb_phase() {
    local a="$MARIADB_ORDER_ACTORS" t="$BARE_MARIADB_THREADS" ratio key="mariadb:$MARIADB_ORDER_ACTORS"
    measure_orders mariadb "$a" paced
    measure_bare mariadb "$t"
    ratio="$(ratio_of "${ORDERS_RPS[$key]}" "${BARE_RPS[mariadb:$t]}")"
    result "POST /order, MariaDB, $a order actors" "${ORDERS_RPS[$key]} orders/s" \
           "bare loop ($BARE_MODE), $t threads: ${BARE_RPS[mariadb:$t]}/s" "$ratio" \
           "≥ $TARGET_ORDER_MARIADB" "$(verdict_ge "$ratio" "$TARGET_ORDER_MARIADB")"
    local at
    if [ -n "${PACE_RATE:-}" ]; then
        at="$PACE_RATE/s (PACE_RATE)"
    else
        at="$(calc %d "a * 100" -v a="$PACE_FRACTION")% of peak"
    fi
    result "POST /order p99 at $at, MariaDB" \
           "p99 ${PACED_P99[$key]} ms (p50 ${PACED_P50[$key]} ms, ${PACED_RPS[$key]} of ${PACED_RATE[$key]}/s paced)" \
           "-" "-" "p99 < $TARGET_P99_MS ms" "$(verdict_lt "${PACED_P99[$key]}" "$TARGET_P99_MS")"
}

#  overload: the same coffee at the saturating load and at twice it.
overload_phase() {
    local a="$SQLITE_ORDER_ACTORS" c="$CONNECTIONS" p99_1 rps_1 ratio
    coffee_start coffee-overload --data-dir "$WORK/overload" --order-actors "$a" \
        --log-level "$ORDER_LOG_LEVEL"
    order_customers $(( 4 * DURATION + 2 ))
    wrk_orders
    p99_1="$W_P99"
    rps_1="$W_RPS"
    CONNECTIONS=$((2 * c)) wrk_orders
    note_rss "POST /order at twice the saturating load"
    coffee_stop
    rm -rf "$WORK/overload"
    ratio="$(calc %.2f "b > 0 ? a / b : 0" -v a="$W_P99" -v b="$p99_1")"
    result "POST /order p99 at 2x the saturating load (SQLite, -c$((2 * c)) vs -c$c)" \
           "p99 $W_P99 ms vs $p99_1 ms ($W_RPS vs $rps_1 orders/s, $W_NON2XX of $W_REQUESTS shed)" \
           "-" "$ratio" "≤ 2" "$(verdict_lt "$ratio" 2.005)"
}

#  sweep for one store: coffee at each of SWEEP_ACTORS, and its bare ceiling.
sweep_store() {
    local store="$1" a
    for a in $SWEEP_ACTORS; do
        measure_orders "$store" "$a"
    done
    if [ "$store" = sqlite ]; then
        measure_bare sqlite "$BARE_SQLITE_THREADS"
    else
        measure_bare mariadb "$BARE_MARIADB_THREADS"
    fi
}

#  Writes the .dat, the plot and the sweep's result line.
sweep_report() {
    local dat="$OUT_DIR/orders-vs-actors.dat" a s m sb mb line
    sb="${BARE_RPS[sqlite:$BARE_SQLITE_THREADS]:--}"
    mb="${BARE_RPS[mariadb:$BARE_MARIADB_THREADS]:--}"
    {
        echo "# POST /order orders/s against coffee's --order-actors; bench/run.sh, $STARTED_AT"
        echo "# $MACHINE"
        echo "# command: $COMMAND"
        echo "# columns: actors coffee_sqlite coffee_mariadb bare_sqlite_${BARE_SQLITE_THREADS}_writer bare_mariadb_${BARE_MARIADB_THREADS}_threads (bare-store --mode $BARE_MODE; - = not measured)"
        for a in $SWEEP_ACTORS; do
            s="${ORDERS_RPS[sqlite:$a]:--}"
            m="${ORDERS_RPS[mariadb:$a]:--}"
            echo "$a $s $m $sb $mb"
        done
    } >"$dat"
    line=""
    for a in $SWEEP_ACTORS; do
        line="$line${line:+, }$a: ${ORDERS_RPS[sqlite:$a]:--}/${ORDERS_RPS[mariadb:$a]:--}"
    done
    result "orders/s by order actors (SQLite/MariaDB)" "$line" "bare $sb/$mb" "-" "-" "see plot"
    if command -v gnuplot >/dev/null; then
        gnuplot -e "datafile='$dat'; outfile='$OUT_DIR/orders-vs-actors.png'; subtitle='${LABEL//\'/’}, $STARTED_AT'" \
            "$ROOT/bench/orders-vs-actors.gp" 2>"$WORK/gnuplot.err" \
            || { cat "$WORK/gnuplot.err" >&2; echo "bench: gnuplot failed; the .dat is in $OUT_DIR" >&2; }
    else
        say "gnuplot is missing (gnuplot-nox): no plot, the data is in $dat" >&2
    fi
}

visible_phase() {
    local out p50 p99
    printf 'bench-visible-admin-token-0123456789\n' >"$WORK/visible-admin.token"
    coffee_start coffee-visible --data-dir "$WORK/visible" --log-level "$ORDER_LOG_LEVEL" \
        --admin-token-file "$WORK/visible-admin.token"
    make_customers 1
    charge_customers 1
    local token=()
    [ "${CUSTOMER_TOKENS[0]}" = "-" ] || token=(--token "${CUSTOMER_TOKENS[0]}")
    out="$("$BUILD/visible-latency" --port "$COFFEE_PORT" --customer "${CUSTOMER_IDS[0]}" "${token[@]}" \
           --samples "$VISIBLE_SAMPLES")" || die "visible-latency failed: $out"
    say "$out"
    # A menu change (PATCH /admin/menu, issue 10) until GET /display/menu shows it
    local menu_out menu_p50 menu_p99
    menu_out="$("$BUILD/visible-latency" --port "$COFFEE_PORT" --menu MENU-00000002 \
           --menu-change bench-visible-admin-token-0123456789 --samples "$VISIBLE_SAMPLES")" \
        || die "visible-latency --menu-change failed: $menu_out"
    say "$menu_out"
    note_rss "visible"
    coffee_stop
    p50="$(echo "$out" | awk '{ for (i = 1; i < NF; i++) if ($i == "p50_ms") print $(i+1) }')"
    p99="$(echo "$out" | awk '{ for (i = 1; i < NF; i++) if ($i == "p99_ms") print $(i+1) }')"
    result "order visible in /display/best after its 200" "p99 $p99 ms (p50 $p50 ms, $VISIBLE_SAMPLES orders)" \
           "-" "-" "p99 < $TARGET_VISIBLE_P99_MS ms" "$(verdict_lt "$p99" "$TARGET_VISIBLE_P99_MS")"
    menu_p50="$(echo "$menu_out" | awk '{ for (i = 1; i < NF; i++) if ($i == "p50_ms") print $(i+1) }')"
    menu_p99="$(echo "$menu_out" | awk '{ for (i = 1; i < NF; i++) if ($i == "p99_ms") print $(i+1) }')"
    result "menu change visible in /display/menu after its 200" \
           "p99 $menu_p99 ms (p50 $menu_p50 ms, $VISIBLE_SAMPLES changes)" \
           "-" "-" "p99 < $TARGET_VISIBLE_P99_MS ms" "$(verdict_lt "$menu_p99" "$TARGET_VISIBLE_P99_MS")"
}

rss_phase() {
    local mib
    if [ "$RSS_MAX_KIB" = 0 ]; then
        say "rss: no coffee ran under load in this run (pick another phase too)" >&2
        return 0
    fi
    mib="$(calc %.1f "a / 1024" -v a="$RSS_MAX_KIB")"
    result "coffee peak RSS under load (VmHWM)" "$mib MiB ($RSS_WHERE)" "-" "-" \
           "< $TARGET_RSS_MIB MiB" "$(verdict_lt "$mib" "$TARGET_RSS_MIB")"
}

# ---------------------------------------------------------------------------
#  Results

#  Writes OUT_DIR/results.md; with UPDATE_DOCS=1 puts it into
#  docs/PERFORMANCE.md between the markers and copies the plot and data.
write_results() {
    local md="$OUT_DIR/results.md" a
    {
        echo "### $LABEL — $STARTED_AT"
        echo
        echo "- Machine: $MACHINE; load average (1 min) $LOAD_START at the start, $(cut -d' ' -f1 /proc/loadavg) at the end"
        echo "- Code: commit \`$COMMIT\`"
        echo "- Command: \`$COMMAND\`"
        echo "- Settings: $THREADS HTTP threads, wrk -t$WRK_THREADS -c$CONNECTIONS -d${DURATION}s (GET: median of $ROUNDS rounds of -d${GET_DURATION}s), $CUSTOMERS customers, bare-store --mode $BARE_MODE, log level $LOG_LEVEL (GET) / $ORDER_LOG_LEVEL (orders)"
        echo
        echo "| phase | coffee | baseline | ratio | target | result |"
        echo "|---|---|---|---|---|---|"
        printf '%s\n' "${RESULT_ROWS[@]}"
        if want sweep; then
            echo
            echo "POST /order, orders/s (200 answers) by \`--order-actors\`:"
            echo
            echo "| order actors | SQLite | MariaDB |"
            echo "|---|---|---|"
            for a in $SWEEP_ACTORS; do
                echo "| $a | ${ORDERS_RPS[sqlite:$a]:--} | ${ORDERS_RPS[mariadb:$a]:--} |"
            done
            echo "| bare loop (ceiling) | ${BARE_RPS[sqlite:$BARE_SQLITE_THREADS]:--} ($BARE_SQLITE_THREADS writer) | ${BARE_RPS[mariadb:$BARE_MARIADB_THREADS]:--} ($BARE_MARIADB_THREADS threads) |"
        fi
    } >"$md"
    if [ -n "${UPDATE_DOCS:-}" ]; then
        local doc="$ROOT/docs/PERFORMANCE.md"
        [ -f "$doc" ] || die "UPDATE_DOCS: $doc is missing"
        python3 - "$doc" "$md" "$UPDATE_DOCS" <<'EOF' || die "UPDATE_DOCS: could not rewrite docs/PERFORMANCE.md"
import sys
doc, md, mode = sys.argv[1], sys.argv[2], sys.argv[3]
begin, end = "<!-- bench:results begin -->", "<!-- bench:results end -->"
text = open(doc, encoding="utf-8").read()
i, j = text.find(begin), text.find(end)
if i < 0 or j < i:
    sys.exit("markers not found")
new = open(md, encoding="utf-8").read()
if mode == "replace":
    rest = "\n" + text[j:]
else:
    rest = text[i + len(begin):].lstrip("\n")
    rest = "\n" + rest
open(doc, "w", encoding="utf-8").write(text[:i + len(begin)] + "\n\n" + new + rest)
EOF
        if want sweep; then
            cp "$OUT_DIR/orders-vs-actors.dat" "$ROOT/docs/orders-vs-actors.dat"
            [ -f "$OUT_DIR/orders-vs-actors.png" ] && cp "$OUT_DIR/orders-vs-actors.png" "$ROOT/docs/"
        fi
        say "docs/PERFORMANCE.md updated"
    fi
}

MACHINE="$(nproc) CPUs ($(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)), $(free -h | awk '/^Mem:/ { print $2 }') RAM, $(uname -sr)"
COMMIT="$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C "$ROOT" diff --quiet HEAD -- 2>/dev/null || echo '+dirty')"
LOAD_START="$(cut -d' ' -f1 /proc/loadavg)"
say "$STARTED_AT, $MACHINE, load average $LOAD_START, commit $COMMIT"
if awk -v l="$LOAD_START" -v n="$(nproc)" 'BEGIN { exit !(l > n / 2) }'; then
    say "the machine is busy (load average $LOAD_START on $(nproc) CPUs): figures will be low and noisy"
fi
say "phases: $PHASES"

if want menu || want best; then
    read_phase
fi
if want order-sqlite; then
    order_sqlite_phase
fi
if want sweep && [[ " $SWEEP_STORES " == *" sqlite "* ]]; then
    sweep_store sqlite
fi
if want order-mariadb; then
    order_mariadb_phase
fi
if want sweep && [[ " $SWEEP_STORES " == *" mariadb "* ]]; then
    sweep_store mariadb
fi
mariadb_down
if want sweep; then
    sweep_report
fi
if want overload; then
    overload_phase
fi
if want visible; then
    visible_phase
fi
if want rss; then
    rss_phase
fi

write_results
echo
say "summary ($((SECONDS - T0)) s; results in $OUT_DIR)"
printf '%s\n' "${RESULT_LINES[@]}"
