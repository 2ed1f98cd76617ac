#!/usr/bin/env bash
# Builds coffee (Release) into build/ and runs `coffee serve` in the
# foreground: embedded SQLite store, local event log, file collector, demo
# menus on first start. Arguments are passed through to `coffee serve`.
#
#   bash scripts/run.sh                      # http://127.0.0.1:8080, data in ./var
#   bash scripts/run.sh --port 9090 --order-actors 4
#   COFFEE_DATA_DIR=/srv/coffee bash scripts/run.sh
#
# The admin token (for /console, /metrics and the admin routes) comes from a
# file, never from the command line: the one named by --admin-token-file or
# COFFEE_ADMIN_TOKEN_FILE, else DATA_DIR/admin.token, made here on first
# start (mode 0600, 43 random base64url characters from the kernel's
# CSPRNG). run.sh prints which file it is before coffee starts. Customers
# get their own tokens from POST /customer.
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

# What the flags given say about the data dir and the admin token file
# (getopt_long's two forms: --flag VALUE and --flag=VALUE).
data_dir=$COFFEE_DATA_DIR
port=$COFFEE_PORT
token_file=${COFFEE_ADMIN_TOKEN_FILE:-}
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
    case "${args[$i]}" in
        --data-dir=*) data_dir=${args[$i]#*=} ;;
        --data-dir) data_dir=${args[$((i + 1))]:-$data_dir} ;;
        --port=*) port=${args[$i]#*=} ;;
        --port) port=${args[$((i + 1))]:-$port} ;;
        --admin-token-file=*) token_file=${args[$i]#*=} ;;
        --admin-token-file) token_file=${args[$((i + 1))]:-} ;;
    esac
done
(umask 077 && mkdir -p "$data_dir")

if [ -n "$token_file" ]; then
    [ -r "$token_file" ] || { say "the admin token file $token_file cannot be read" >&2; exit 1; }
    say "admin token file: $token_file (given)"
else
    token_file="$data_dir/admin.token"
    if [ ! -s "$token_file" ]; then
        (umask 077 && python3 -c 'import secrets; print(secrets.token_urlsafe(32))' >"$token_file")
        say "created the admin token file $token_file (mode 0600): its one line is the admin token"
    else
        say "admin token file: $token_file"
    fi
    if [ -n "$(find "$token_file" -perm /077 2>/dev/null)" ]; then
        chmod 600 "$token_file"
        say "$token_file was readable by others: now 0600"
    fi
    export COFFEE_ADMIN_TOKEN_FILE="$token_file"
fi
say "the console (http://127.0.0.1:$port/console) and /metrics take the contents of $token_file;" \
    "e.g. curl -H \"Authorization: Bearer \$(cat $token_file)\" http://127.0.0.1:$port/metrics"

say "starting: build/coffee serve $* (data dir $data_dir, port $port)"
exec build/coffee serve "$@"
