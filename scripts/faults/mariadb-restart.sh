#!/usr/bin/env bash
# Fault row: the MariaDB server under both stores (command and display
# databases) restarted mid-load (scripts/mariadb.sh restart: SIGTERM, wait,
# start on the same datadir). Writes meanwhile get 503 and change nothing;
# connections come back by themselves.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
fault_init mariadb-restart
command -v mariadbd >/dev/null 2>&1 || [ -x /usr/sbin/mariadbd ] || {
    printf 'fault: mariadb-restart NOT-RUN {"reason": "mariadbd not installed"}\n'; exit 0; }
mdb="$ROW_DIR/mariadb"
mport=$(free_port)
stop_mariadb() { bash "$ROOT/scripts/mariadb.sh" stop "$mdb" >/dev/null 2>&1 || true; }
ROW_CLEANUP_HOOK=stop_mariadb
bash "$ROOT/scripts/mariadb.sh" start "$mdb" "$mport" >"$ROW_DIR/mariadb.log" 2>&1
eval "$(bash "$ROOT/scripts/mariadb.sh" env "$mdb" "$mport")"
port=$(free_port)
data="$ROW_DIR/data"
fault_coffee pid "$port" "$ROW_DIR/coffee.log" --data-dir "$data" \
    --store "$COFFEE_TEST_STORE_URL" --display-store "$COFFEE_TEST_DISPLAY_STORE_URL"
LOAD_SECONDS=40 fault_load_start "http://127.0.0.1:$port"
sleep 5
fault_mark start
bash "$ROOT/scripts/mariadb.sh" restart "$mdb" "$mport" >>"$ROW_DIR/mariadb.log" 2>&1
fault_mark end
sleep 6
fault_load_finish
fault_verify "http://127.0.0.1:$port" "$data/collector.jsonl" --data-dir "$data" \
    --store "$COFFEE_TEST_STORE_URL" --display-store "$COFFEE_TEST_DISPLAY_STORE_URL"
