#!/usr/bin/env bash
# A soak: the Release coffee under a mixed load (scripts/soak.lua through wrk:
# reads, sign-ups, charges, orders with and without Idempotency-Key, order
# and point lookups; each customer's requests carry the token its sign-up
# gave) for WARMUP + DURATION seconds, its RSS and open descriptors
# sampled every SAMPLE seconds into a CSV; then the load stops, the outbox
# and both consumers must drain (/metrics), coffee stops cleanly, every
# order must be in the collector's file exactly once, and `coffee reconcile`
# must be clean. Pass/fail (exit 0/1) on:
#   - RSS growth over the DURATION measured after the warm-up < 5 % (the
#     warm-up lets the bounded caches fill: about 6 MiB of SQLite pages)
#   - descriptors flat after the warm-up (max - min <= FD_SLACK)
#   - peak RSS < 64 MiB
#   - no 5xx, no 401/403 (a customer's own token is never refused) and no
#     socket errors; drained; every order collected once; reconcile exit 0
# coffee runs with an admin token file made for the run (0600, in the scratch
# dir); /metrics is read with it, as an operator's scraper would, from a
# curl header file so the token is on no command line.
# Prints one figure line and leaves $OUT/soak.csv (t_s,rss_kib,fds,requests)
# and, with PLOT=1, $OUT/soak.png (gnuplot-nox).
#
#   bash scripts/soak.sh                          # 60 s warm-up + 60 s (test.sh)
#   DURATION=600 PLOT=1 OUT=/tmp/soak nice -n 10 bash scripts/soak.sh   # docs/RELIABILITY.md
#
# Knobs: DURATION (60), WARMUP (60; 300 for DURATION over 200), SAMPLE (10),
# CONNECTIONS (8), WRK_THREADS (2), BUILD_DIR (build-release), SKIP_BUILD=1,
# OUT (a temporary dir), PLOT (0), FD_SLACK (4), RSS_LIMIT_KIB (65536),
# GROWTH_PCT (5). Extra arguments go to `coffee serve`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$(pwd)
duration=${DURATION:-60}
sample=${SAMPLE:-10}
if [ -n "${WARMUP:-}" ]; then
    warmup=$WARMUP
elif [ "$duration" -gt 200 ]; then
    warmup=300
else
    warmup=60
fi
total=$(( warmup + duration ))
connections=${CONNECTIONS:-8}
wrk_threads=${WRK_THREADS:-2}
build=${BUILD_DIR:-build-release}
fd_slack=${FD_SLACK:-4}
rss_limit=${RSS_LIMIT_KIB:-65536}
growth_pct=${GROWTH_PCT:-5}
say() { printf 'soak.sh: %s\n' "$*"; }

scratch=$(mktemp -d "${TMPDIR:-/tmp}/coffee-soak.XXXXXX")
out=${OUT:-$scratch}
mkdir -p "$out"
data="$scratch/data"
mkdir -p "$data"
admin_token="$scratch/admin.token"
admin_header="$scratch/admin.header"
(
    umask 077
    python3 -c 'import secrets; print(secrets.token_urlsafe(32))' >"$admin_token"
    printf 'Authorization: Bearer %s\n' "$(cat "$admin_token")" >"$admin_header"
)
coffee_pid=""
wrk_pid=""
sampler_pid=""

# Stops what this script started (by pid) and removes the scratch dir.
cleanup() {
    local rc=$?
    trap - EXIT
    for pid in "$sampler_pid" "$wrk_pid"; do
        [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
    done
    if [ -n "$coffee_pid" ] && kill -0 "$coffee_pid" 2>/dev/null; then
        kill -TERM "$coffee_pid" 2>/dev/null || true
        for _ in $(seq 1 100); do kill -0 "$coffee_pid" 2>/dev/null || break; sleep 0.2; done
        kill -KILL "$coffee_pid" 2>/dev/null || true
    fi
    wait 2>/dev/null || true
    if [ "$rc" -ne 0 ] && [ -f "$data/coffee.log" ]; then
        say "coffee log tail:"; tail -n 20 "$data/coffee.log" >&2 || true
    fi
    rm -rf -- "$scratch"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if [ "${SKIP_BUILD:-0}" != 1 ]; then
    say "building coffee Release into $build/"
    cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DCOFFEE_SANITIZE=OFF >/dev/null
    cmake --build "$build" --target coffee -j2 >/dev/null
fi
coffee="$root/$build/coffee"
command -v wrk >/dev/null || { say "wrk not found (scripts/deps.sh installs it)" >&2; exit 1; }

port=$(python3 "$root/scripts/free_port.py")
"$coffee" serve --bind 127.0.0.1 --port "$port" --data-dir "$data" --log-level warn \
    --admin-token-file "$admin_token" "$@" \
    >"$data/coffee.log" 2>&1 &
coffee_pid=$!
for _ in $(seq 1 150); do
    curl -sf "http://127.0.0.1:$port/health" >/dev/null 2>&1 && break
    sleep 0.2
done
curl -sf "http://127.0.0.1:$port/health" >/dev/null || { say "coffee did not start" >&2; exit 1; }

metric() {
    curl -s -H @"$admin_header" "http://127.0.0.1:$port/metrics" | awk -v n="$1" '$1 == n { print $2 }'
}
requests_total() {
    curl -s -H @"$admin_header" "http://127.0.0.1:$port/metrics" |
        awk '/^coffee_http_requests_total/ { s += $NF } END { printf "%d", s }'
}

say "coffee pid $coffee_pid on 127.0.0.1:$port; load ${warmup} s warm-up + ${duration} s measured, $connections connections, sample every ${sample} s"
csv="$out/soak.csv"
echo "t_s,rss_kib,fds,requests" >"$csv"
start=$(date +%s)
(
    while kill -0 "$coffee_pid" 2>/dev/null; do
        t=$(( $(date +%s) - start ))
        rss=$(awk '/^VmRSS/ { print $2 }' "/proc/$coffee_pid/status" 2>/dev/null || echo 0)
        fds=$(ls "/proc/$coffee_pid/fd" 2>/dev/null | wc -l)
        echo "$t,$rss,$fds,$(requests_total)" >>"$csv"
        [ "$t" -ge "$total" ] && break
        sleep "$sample"
    done
) &
sampler_pid=$!
wrk -t"$wrk_threads" -c"$connections" -d"${total}s" --timeout 10s -s scripts/soak.lua \
    "http://127.0.0.1:$port" >"$out/wrk.txt" 2>&1 &
wrk_pid=$!
wait "$wrk_pid" || true
wrk_pid=""
wait "$sampler_pid" || true
sampler_pid=""
cat "$out/wrk.txt" | grep '^soak.lua' || { say "wrk gave no figures:"; cat "$out/wrk.txt"; exit 1; }

# Drain: the outbox published, both consumers caught up.
drained=no
drain_start=$(date +%s)
for _ in $(seq 1 300); do
    if [ "$(metric coffee_outbox_pending)" = 0 ] && [ "$(metric coffee_projection_lag)" = 0 ] \
       && [ "$(metric coffee_collector_lag)" = 0 ]; then
        drained=yes
        break
    fi
    sleep 0.2
done
drain_s=$(( $(date +%s) - drain_start ))

kill -TERM "$coffee_pid"
stop_rc=0
for _ in $(seq 1 150); do kill -0 "$coffee_pid" 2>/dev/null || break; sleep 0.2; done
if kill -0 "$coffee_pid" 2>/dev/null; then stop_rc=1; fi
wait "$coffee_pid" 2>/dev/null || stop_rc=$?
coffee_pid=""

# Every order in the command store reached the collector exactly once.
orders=$(sqlite3 "$data/command.db" 'SELECT COUNT(*) FROM orders' 2>/dev/null || echo -1)
collected=$(wc -l <"$data/collector.jsonl" 2>/dev/null || echo 0)
distinct=$(grep -o '"orderNo":"[^"]*"' "$data/collector.jsonl" 2>/dev/null | sort -u | wc -l)
set +e
"$coffee" reconcile --data-dir "$data" >"$out/reconcile.txt" 2>&1
reconcile_rc=$?
set -e

# Figures from the CSV.
# (descriptors only while the load runs: its connections close at the end)
read -r rss_warm rss_end rss_max fd_min fd_max < <(awk -F, -v w="$warmup" -v d="$total" '
    NR == 1 { next }
    { if ($2 > max) max = $2 }
    $1 >= w && !seen { warm = $2; seen = 1 }
    $1 >= w && $1 < d { if (fmin == "" || $3 < fmin) fmin = $3; if ($3 > fmax) fmax = $3 }
    { last = $2 }
    END { print warm, last, max, fmin, fmax }' "$csv")
growth=$(awk -v a="$rss_warm" -v b="$rss_end" 'BEGIN { printf "%.1f", (a > 0 ? (b - a) * 100.0 / a : 999) }')
read -r reqs s5 sock refused < <(awk '/^soak.lua: requests/ { print $3, $9, $13, $15 }' "$out/wrk.txt")

fail=()
awk -v g="$growth" -v p="$growth_pct" 'BEGIN { exit !(g < p) }' || fail+=("RSS grew ${growth}% after warm-up")
[ $(( fd_max - fd_min )) -le "$fd_slack" ] || fail+=("descriptors ranged $fd_min..$fd_max after warm-up")
[ "$rss_max" -lt "$rss_limit" ] || fail+=("peak RSS ${rss_max} KiB")
[ "$s5" = 0 ] || fail+=("$s5 answers 5xx")
[ "$sock" = 0 ] || fail+=("$sock socket errors")
[ "$refused" = 0 ] || fail+=("$refused answers 401/403 to customers sending their own token")
[ "$drained" = yes ] || fail+=("outbox or consumers did not drain")
[ "$stop_rc" = 0 ] || fail+=("coffee did not stop cleanly (status $stop_rc)")
[ "$orders" -gt 0 ] && [ "$orders" = "$collected" ] && [ "$orders" = "$distinct" ] \
    || fail+=("orders $orders, collected $collected ($distinct distinct)")
[ "$reconcile_rc" = 0 ] || fail+=("reconcile exit $reconcile_rc")

if [ "${PLOT:-0}" = 1 ]; then
    gnuplot <<GNUPLOT
set terminal pngcairo size 900,480 noenhanced
set output "$out/soak.png"
set datafile separator ","
set title "coffee soak: ${warmup} s warm-up + ${duration} s mixed load, ${connections} connections (Release)"
set xlabel "seconds"
set ylabel "RSS (MiB)"
set y2label "open descriptors"
set ytics nomirror
set y2tics
set yrange [0:*]
set y2range [0:*]
set key top left
set grid
set arrow from ${warmup}, graph 0 to ${warmup}, graph 1 nohead dashtype 2
plot "$csv" using 1:(\$2/1024) skip 1 with linespoints title "RSS (MiB)" axes x1y1, \
     "$csv" using 1:3 skip 1 with lines title "descriptors" axes x1y2, \
     64 with lines dashtype 3 title "64 MiB limit" axes x1y1
GNUPLOT
fi

verdict=PASS
[ ${#fail[@]} -eq 0 ] || verdict=FAIL
printf 'soak: %s warmup=%ss duration=%ss requests=%s rss_warm=%sKiB rss_end=%sKiB growth=%s%% rss_max=%sKiB fds=%s..%s orders=%s collected=%s drained=%s(%ss) reconcile=%s 5xx=%s auth_refused=%s\n' \
    "$verdict" "$warmup" "$duration" "$reqs" "$rss_warm" "$rss_end" "$growth" "$rss_max" "$fd_min" "$fd_max" \
    "$orders" "$collected" "$drained" "$drain_s" "$reconcile_rc" "$s5" "$refused"
for f in "${fail[@]}"; do say "FAIL: $f"; done
[ "$verdict" = PASS ]
