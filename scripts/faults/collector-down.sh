#!/usr/bin/env bash
# Fault row: the data collection platform (coffee mock-collector over HTTP)
# killed for 30 s mid-load, then started again on the same port and record
# file. Orders must not notice (no failed write); the collector sink retries
# with backoff and every order reaches the platform after it is back.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
fault_init collector-down
port=$(free_port)
cport=$(free_port)
data="$ROW_DIR/data"
record="$ROW_DIR/collected.jsonl"
DOWN_SECONDS=${DOWN_SECONDS:-30}
start_collector() {
    "$COFFEE" mock-collector --port "$cport" --bind 127.0.0.1 --record "$record" \
        >>"$ROW_DIR/collector.log" 2>&1 &
    collector_pid=$!
    ROW_PIDS+=("$collector_pid")
    for _ in $(seq 1 100); do
        curl -s -o /dev/null "http://127.0.0.1:$cport/orders" && return 0
        sleep 0.1
    done
    return 1
}
start_collector
fault_coffee pid "$port" "$ROW_DIR/coffee.log" --data-dir "$data" \
    --collector-url "http://127.0.0.1:$cport/collect" --collector-backoff-max-ms 2000
LOAD_SECONDS=$(( DOWN_SECONDS + 15 )) fault_load_start "http://127.0.0.1:$port"
sleep 5
fault_mark start
kill -9 "$collector_pid"
wait "$collector_pid" 2>/dev/null || true
fault_forget "$collector_pid"
sleep "$DOWN_SECONDS"
fault_mark end
start_collector
sleep 5
fault_load_finish
fault_verify "http://127.0.0.1:$port" "$record" --data-dir "$data"
