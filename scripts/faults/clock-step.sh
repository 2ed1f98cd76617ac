#!/usr/bin/env bash
# Fault row: the wall clock under a running coffee stepped back one hour
# for 10 s, then forward to one hour ahead for 10 s, then back to true time
# (libfaketime from Debian, LD_PRELOADed, reading its offset from a file the
# row rewrites; the monotonic clock is left alone, as a real NTP step
# would). Orders keep committing; order numbers stay unique; the popular
# counts stay exact (reconcile) whatever time stamps the events carry.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
fault_init clock-step
FAKETIME_LIB=${FAKETIME_LIB:-/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1}
[ -f "$FAKETIME_LIB" ] || { say "no $FAKETIME_LIB (scripts/deps.sh installs libfaketime)"; exit 1; }
offset="$ROW_DIR/offset"
echo "+0" >"$offset"
port=$(free_port)
data="$ROW_DIR/data"
LD_PRELOAD="$FAKETIME_LIB" FAKETIME_TIMESTAMP_FILE="$offset" FAKETIME_CACHE_DURATION=1 \
    FAKETIME_DONT_FAKE_MONOTONIC=1 FAKETIME_DONT_RESET=1 \
    fault_coffee pid "$port" "$ROW_DIR/coffee.log" --data-dir "$data"
fault_load_start "http://127.0.0.1:$port"
sleep 4
fault_mark start
echo "-3600" >"$offset"
sleep 10
echo "+3600" >"$offset"
sleep 10
echo "+0" >"$offset"
fault_mark end
sleep 4
fault_load_finish
# What the server saw: the collector's stamps must span the steps
stamps=$(python3 - "$data/collector.jsonl" <<'PY'
import json, sys, datetime
ts = []
for line in open(sys.argv[1]):
    s = json.loads(line)["orderedAt"]
    ts.append(datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.timezone.utc).timestamp())
now = datetime.datetime.now(datetime.timezone.utc).timestamp()
print(f"stamps_min_vs_now_s={min(ts) - now:.0f} stamps_max_vs_now_s={max(ts) - now:.0f}")
PY
)
say "$stamps"
fault_verify "http://127.0.0.1:$port" "$data/collector.jsonl" --data-dir "$data"
