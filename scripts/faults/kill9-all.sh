#!/usr/bin/env bash
# Fault row: kill -9 of `coffee serve --role all` mid-load, restarted 2 s
# later on the same data dir. Writes fail (no answer) while it is down;
# afterwards every acknowledged order is there, every event reaches the
# collector and the display, and the unanswered ones are settled by
# retrying with their Idempotency-Key.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
fault_init kill9-all
port=$(free_port)
data="$ROW_DIR/data"
fault_coffee pid "$port" "$ROW_DIR/coffee.log" --data-dir "$data"
# the schedule below needs at least 14 s of load
LOAD_SECONDS=$(( LOAD_SECONDS < 14 ? 14 : LOAD_SECONDS ))
fault_load_start "http://127.0.0.1:$port"
sleep 5
fault_mark start
kill -9 "$pid"
wait "$pid" 2>/dev/null || true
fault_forget "$pid"
sleep 2
fault_mark end
fault_coffee pid "$port" "$ROW_DIR/coffee.log" --data-dir "$data"
sleep 5
fault_load_finish
fault_verify "http://127.0.0.1:$port" "$data/collector.jsonl" --data-dir "$data"
