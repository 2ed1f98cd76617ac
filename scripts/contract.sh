#!/usr/bin/env bash
# The API contract as tools know it (scripts/test.sh runs this):
#   1. installs the npm tools pinned in tools/package-lock.json (npm ci; again
#      only when the lockfile changed), and Debian's nodejs + npm if missing;
#   2. redocly lint docs/openapi.json and docs/openapi.yaml with the
#      recommended rules (tools/redocly.yaml);
#   3. checks that every operation of docs/openapi.json has a request in
#      docs/coffee.postman_collection.json (tools/collection_covers.js);
#   4. starts `coffee serve` on a free 127.0.0.1 port with a data dir and an
#      admin token file of its own (0600, random), runs the collection with
#      newman against it (baseUrl and adminToken from a newman environment
#      file, 0600, so the token is on no command line; the customers' tokens
#      come from their sign-ups in the run), stops the server (which must
#      exit 0).
#
#   bash scripts/contract.sh                   # coffee from build-test/ (or build-release/)
#   COFFEE_BIN=path/to/coffee bash scripts/contract.sh
#
# Bounds (seconds): npm ci 600, lint 120, server start 30, newman 300, server stop 20.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$(pwd)

say() { printf 'contract.sh: %s\n' "$*"; }
. scripts/bounded.sh
t0=$(date +%s)

work=""
server_pid=""

# Stops the server (by its pid) and removes the scratch folder, on every exit.
cleanup() {
    local rc=$?
    trap - EXIT
    if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
        kill -TERM "$server_pid" 2>/dev/null || true
        for _ in $(seq 1 80); do
            kill -0 "$server_pid" 2>/dev/null || break
            sleep 0.25
        done
        if kill -0 "$server_pid" 2>/dev/null; then
            say "coffee (pid $server_pid) did not stop in 20 s: kill -9"
            kill -KILL "$server_pid" 2>/dev/null || true
        fi
        wait "$server_pid" 2>/dev/null || true
    fi
    if [ -n "$work" ] && [ -d "$work" ]; then
        if [ "$rc" -ne 0 ] && [ -f "$work/serve.log" ]; then
            say "the server's log:"
            tail -n 40 "$work/serve.log" >&2 || true
        fi
        rm -rf -- "$work"
    fi
    say "finished in $(( $(date +%s) - t0 )) s with status $rc"
    exit "$rc"
}
trap cleanup EXIT
trap 'bounded_stop; exit 130' INT
trap 'bounded_stop; exit 143' TERM

# Node and npm: the machine's, or Debian's packages.
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    if [ "$(id -u)" -eq 0 ]; then as_root=(); else as_root=(sudo); fi
    say "installing Debian's nodejs and npm"
    "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -y -q -o DPkg::Lock::Timeout=300 update
    "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -y -q -o DPkg::Lock::Timeout=300 \
        install --no-install-recommends nodejs npm
fi
say "node $(node --version), npm $(npm --version)"

# npm ci takes a minute: skip it while node_modules was made from this very lockfile.
lock_sum=$(sha256sum tools/package-lock.json | cut -d' ' -f1)
stamp=tools/node_modules/.coffee-lock.sha256
if [ "$(cat "$stamp" 2>/dev/null || true)" != "$lock_sum" ]; then
    say "npm ci in tools/ (pinned: $(node -p 'Object.entries(require("./tools/package.json").dependencies).map(e => e.join("@")).join(" ")'))"
    bounded 600 env --chdir=tools npm ci --no-audit --no-fund --loglevel=error
    echo "$lock_sum" > "$stamp"
fi
bin="$root/tools/node_modules/.bin"

say "redocly lint (recommended rules)"
bounded 120 "$bin/redocly" lint --config tools/redocly.yaml \
    docs/openapi.json docs/openapi.yaml

node tools/collection_covers.js docs/openapi.json docs/coffee.postman_collection.json

coffee=${COFFEE_BIN:-}
if [ -z "$coffee" ]; then
    for c in build-test/coffee build-release/coffee build/coffee; do
        if [ -x "$c" ]; then coffee="$root/$c"; break; fi
    done
fi
[ -n "$coffee" ] && [ -x "$coffee" ] || { say "no coffee binary: build first (or set COFFEE_BIN)" >&2; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/coffee-contract.XXXXXX")
port=$(python3 "$root/scripts/free_port.py")
# The operator's credential, and the newman environment that carries it.
(umask 077 && python3 - "$work" "http://127.0.0.1:$port" <<'PY'
import json, os, secrets, sys
work, base = sys.argv[1], sys.argv[2]
token = secrets.token_urlsafe(32)
with open(os.path.join(work, "admin.token"), "w") as f:
    f.write(token + "\n")
with open(os.path.join(work, "newman-env.json"), "w") as f:
    json.dump({"name": "contract.sh", "values": [
        {"key": "baseUrl", "value": base, "enabled": True},
        {"key": "adminToken", "value": token, "type": "secret", "enabled": True}]}, f)
PY
)
say "starting $coffee serve on 127.0.0.1:$port (data in $work/data, admin token in $work/admin.token)"
"$coffee" serve --bind 127.0.0.1 --port "$port" --data-dir "$work/data" \
    --admin-token-file "$work/admin.token" </dev/null >"$work/serve.log" 2>&1 &
server_pid=$!
up=0
for _ in $(seq 1 120); do
    if curl -fsS -o /dev/null --max-time 2 "http://127.0.0.1:$port/health" 2>/dev/null; then
        up=1; break
    fi
    kill -0 "$server_pid" 2>/dev/null || { say "coffee exited during start" >&2; exit 1; }
    sleep 0.25
done
[ "$up" = 1 ] || { say "coffee did not answer /health within 30 s" >&2; exit 1; }

say "newman run docs/coffee.postman_collection.json"
bounded 300 "$bin/newman" run docs/coffee.postman_collection.json \
    --environment "$work/newman-env.json" \
    --timeout-request 10000 --timeout 240000 --color off --disable-unicode

# The server must still be alive after every error case, and stop cleanly
# (exit 0; under ASan, no leak report) on SIGTERM.
kill -0 "$server_pid" 2>/dev/null || { say "coffee died during the run" >&2; exit 1; }
kill -TERM "$server_pid"
for _ in $(seq 1 80); do
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.25
done
kill -0 "$server_pid" 2>/dev/null && { say "coffee did not stop within 20 s of SIGTERM" >&2; exit 1; }
status=0
wait "$server_pid" || status=$?
server_pid=""
[ "$status" -eq 0 ] || { say "coffee exited $status on SIGTERM" >&2; tail -n 40 "$work/serve.log" >&2; exit 1; }
say "coffee stopped cleanly"
