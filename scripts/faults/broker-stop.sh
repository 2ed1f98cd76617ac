#!/usr/bin/env bash
# Fault row: the Kafka broker (coffee-mock-broker, librdkafka's mock
# cluster in its own process) frozen with SIGSTOP for 10 s mid-load, then
# SIGCONT. With MODE=down (broker-down.sh) it is instead taken off the
# network for 10 s (every connection dropped and refused), then back.
# Orders commit to the outbox either way; the relay publishes when the
# broker is back; nothing is lost or applied twice.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
MODE=${MODE:-stop}
fault_init "broker-$MODE"
BROKER=${BROKER_BIN:-$BUILD/coffee-mock-broker}
[ -x "$BROKER" ] || { say "no $BROKER (cmake --build $BUILD --target coffee-mock-broker)"; exit 1; }
"$BROKER" --brokers 1 --partitions 3 --topic order-events >"$ROW_DIR/broker.out" 2>"$ROW_DIR/broker.log" &
broker_pid=$!
ROW_PIDS+=("$broker_pid")
for _ in $(seq 1 150); do grep -q READY "$ROW_DIR/broker.out" && break; sleep 0.1; done
bootstrap=$(awk '/^BOOTSTRAP/ { print $2 }' "$ROW_DIR/broker.out")
control=$(awk '/^CONTROL/ { print $2 }' "$ROW_DIR/broker.out")
[ -n "$bootstrap" ] || { say "broker did not start"; exit 1; }
port=$(free_port)
data="$ROW_DIR/data"
fault_coffee pid "$port" "$ROW_DIR/coffee.log" --data-dir "$data" --bridge kafka \
    --kafka-brokers "$bootstrap"
control_send() {
    python3 - "$control" "$1" <<'PY'
import socket, sys
host, port = sys.argv[1].rsplit(":", 1)
s = socket.create_connection((host, int(port)), timeout=5)
s.sendall((sys.argv[2] + "\n").encode())
print(s.recv(100).decode().strip())
PY
}
# the schedule below needs at least 25 s of load
LOAD_SECONDS=$(( LOAD_SECONDS < 25 ? 25 : LOAD_SECONDS ))
fault_load_start "http://127.0.0.1:$port"
sleep 5
fault_mark start
if [ "$MODE" = stop ]; then
    kill -STOP "$broker_pid"
    sleep 10
    kill -CONT "$broker_pid"
else
    control_send down >/dev/null
    sleep 10
    control_send up >/dev/null
fi
fault_mark end
sleep 8
fault_load_finish
fault_verify "http://127.0.0.1:$port" "$data/collector.jsonl" --data-dir "$data"
