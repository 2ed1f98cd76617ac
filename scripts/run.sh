#!/usr/bin/env bash
# Builds coffee (Release) into build/ and runs `coffee serve` in the
# foreground: embedded SQLite store, local event log, file collector, demo
# menus on first start. Arguments are passed through to `coffee serve`.
#
#   bash scripts/run.sh                      # http://127.0.0.1:8080, data in ./var
#   bash scripts/run.sh --port 9090 --order-actors 4
#   COFFEE_DATA_DIR=/srv/coffee bash scripts/run.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

say() { printf 'run.sh: %s\n' "$*"; }

if [ "${COFFEE_SKIP_DEPS:-0}" != 1 ]; then
    bash scripts/deps.sh
fi

say "configuring and building build/ (Release)"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DCOFFEE_SANITIZE=OFF
cmake --build build --target coffee -j"$(nproc)"

# Defaults through the environment, so a flag given on the command line still
# wins (coffee reads variables first, then flags).
export COFFEE_DATA_DIR="${COFFEE_DATA_DIR:-./var}"
export COFFEE_PORT="${COFFEE_PORT:-8080}"
mkdir -p "$COFFEE_DATA_DIR"

say "starting: build/coffee serve $* (data dir $COFFEE_DATA_DIR, port $COFFEE_PORT unless overridden)"
exec build/coffee serve "$@"
