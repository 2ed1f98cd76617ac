#!/usr/bin/env bash
# Fault row: kill -9 of the display role mid-load, restarted 2 s later. Three
# processes share one data dir (SQLite stores, local event log), as the
# original design's order server and display server: --role order takes the
# writes, --role display the reads of /display, and --role projector (the
# original's "display 2") turns the events into the display store.
# While the display side is down reads get no answer and orders go on;
# the projection catches up after the restart.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
fault_init kill9-display
order_port=$(free_port)
display_port=$(free_port)
projector_port=$(free_port)
data="$ROW_DIR/data"
fault_coffee order_pid "$order_port" "$ROW_DIR/order.log" --role order --data-dir "$data"
fault_coffee projector_pid "$projector_port" "$ROW_DIR/projector.log" --role projector --data-dir "$data"
fault_coffee display_pid "$display_port" "$ROW_DIR/display.log" --role display --data-dir "$data"
# the schedule below needs at least 14 s of load
LOAD_SECONDS=$(( LOAD_SECONDS < 14 ? 14 : LOAD_SECONDS ))
fault_load_start "http://127.0.0.1:$order_port" "http://127.0.0.1:$display_port"
sleep 5
fault_mark start
kill -9 "$display_pid"
wait "$display_pid" 2>/dev/null || true
fault_forget "$display_pid"
sleep 2
fault_mark end
fault_coffee display_pid "$display_port" "$ROW_DIR/display.log" --role display --data-dir "$data"
sleep 5
fault_load_finish
DRAIN_URLS="http://127.0.0.1:$order_port http://127.0.0.1:$display_port http://127.0.0.1:$projector_port" \
    fault_verify "http://127.0.0.1:$order_port" "$data/collector.jsonl" --data-dir "$data"
