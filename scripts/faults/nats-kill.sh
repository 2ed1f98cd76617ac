#!/usr/bin/env bash
# Fault row: nats-server killed (-9) for 10 s under `coffee serve --bridge
# nats` mid-load, then started again on the same port and JetStream store.
# --bridge nats comes from the nats branch; on a coffee without it, or with
# no nats-server installed, the row prints NOT-RUN and exits 0.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
fault_init nats-kill
if ! "$COFFEE" --help 2>&1 | grep -q -- '--bridge local|kafka|nats\|nats-url'; then
    printf 'fault: nats-kill NOT-RUN {"reason": "this coffee has no --bridge nats (branch nats not merged)"}\n'
    exit 0
fi
NATS=${NATS_SERVER:-$(command -v nats-server || true)}
if [ -z "$NATS" ]; then
    printf 'fault: nats-kill NOT-RUN {"reason": "nats-server not installed"}\n'
    exit 0
fi
nport=$(free_port)
start_nats() {
    "$NATS" -a 127.0.0.1 -p "$nport" -js -sd "$ROW_DIR/nats" >>"$ROW_DIR/nats.log" 2>&1 &
    nats_pid=$!
    ROW_PIDS+=("$nats_pid")
    for _ in $(seq 1 100); do
        (exec 3<>"/dev/tcp/127.0.0.1/$nport") 2>/dev/null && return 0
        sleep 0.1
    done
    return 1
}
start_nats
port=$(free_port)
data="$ROW_DIR/data"
fault_coffee pid "$port" "$ROW_DIR/coffee.log" --data-dir "$data" --bridge nats \
    --nats-url "nats://127.0.0.1:$nport"
# the schedule below needs at least 25 s of load
LOAD_SECONDS=$(( LOAD_SECONDS < 25 ? 25 : LOAD_SECONDS ))
fault_load_start "http://127.0.0.1:$port"
sleep 5
fault_mark start
kill -9 "$nats_pid"
wait "$nats_pid" 2>/dev/null || true
fault_forget "$nats_pid"
sleep 10
fault_mark end
start_nats
sleep 8
fault_load_finish
fault_verify "http://127.0.0.1:$port" "$data/collector.jsonl" --data-dir "$data"
