#!/usr/bin/env bash
# Fault row: the wall clock stepped back one hour, then forward to one hour
# ahead, then back to true time, under one data dir and a running load. The
# steps are coffee's --clock-skew-ms (the one clock every stamp, window and
# idempotency age reads), each applied by a clean restart (SIGTERM, then
# start again on the same data dir): -3600000 for 8 s, +3600000 for 8 s,
# then 0. Writes sent while it restarts get no answer and are settled by
# their Idempotency-Key. Order numbers stay unique, every order is
# delivered, the popular counts stay exact (reconcile) whatever time stamps
# the events carry, and the stamps show both steps.
# (libfaketime under a running coffee was tried first: its clock_nanosleep
# wrapper fails with EINVAL on Debian 12 and the forward step did not reach
# coffee's stamps, so a row on it would prove nothing.)
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
fault_init clock-step
port=$(free_port)
data="$ROW_DIR/data"
fault_coffee pid "$port" "$ROW_DIR/coffee.log" --data-dir "$data"
# the schedule below needs at least 32 s of load
LOAD_SECONDS=$(( LOAD_SECONDS < 32 ? 32 : LOAD_SECONDS ))
fault_load_start "http://127.0.0.1:$port"
sleep 4
step() {
    kill -TERM "$pid"
    wait "$pid" 2>/dev/null || true
    fault_forget "$pid"
    fault_coffee pid "$port" "$ROW_DIR/coffee.log" --data-dir "$data" --clock-skew-ms "$1"
}
fault_mark start
step -3600000
sleep 8
step 3600000
sleep 8
fault_mark end
step 0
sleep 4
fault_load_finish
# after verify: it waits until the collector has every order
rc=0
fault_verify "http://127.0.0.1:$port" "$data/collector.jsonl" --data-dir "$data" || rc=$?
stamps=$(python3 - "$data/collector.jsonl" <<'PY'
import json, sys, datetime
ts = []
for line in open(sys.argv[1]):
    s = json.loads(line)["orderedAt"]
    ts.append(datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=datetime.timezone.utc).timestamp())
now = datetime.datetime.now(datetime.timezone.utc).timestamp()
print(f"stamps from {min(ts) - now:+.0f} s to {max(ts) - now:+.0f} s of now")
PY
)
say "$stamps"
exit "$rc"
