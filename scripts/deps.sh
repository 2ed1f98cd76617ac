#!/usr/bin/env bash
# Installs every Debian 12 package that building coffee, running it and running
# its tests need. Safe to run again: packages already installed are left alone,
# and apt is not touched at all when nothing is missing.
#
#   bash scripts/deps.sh            # as root, or as a user with sudo
#   COFFEE_DEPS_UPDATE=1 bash scripts/deps.sh   # refresh the lists even if nothing is missing
set -euo pipefail

# Build: compiler, CMake, pkg-config and the -dev packages CMakeLists.txt asks
# pkg-config for (libzmq libczmq libmicrohttpd rdkafka libnats libmariadb
# sqlite3 libcjson libcurl cmocka libsodium).
build_pkgs=(
    build-essential cmake pkg-config
    libzmq3-dev libczmq-dev libmicrohttpd-dev librdkafka-dev libnats-dev libmariadb-dev
    libsqlite3-dev libcjson-dev libcurl4-openssl-dev libcmocka-dev libsodium-dev
)
# Tests and benchmarks: a private MariaDB (scripts/mariadb.sh), a private
# nats-server with JetStream (scripts/nats.sh), wrk for bench/, gnuplot-nox for
# bench/run.sh's plot and the soak curve, sqlite3 and curl for poking at a
# running server, python3 + python3-yaml for the docker/ consistency check
# (tests/docker_check.py); chromium for the browser test of the page
# (tests/browser/page.test.js, which drives it with playwright-core pinned in
# tools/browser/), fonts-nanum so the Korean menu names render in its
# screenshots; clang and its runtime (libFuzzer, sanitizers) for
# scripts/fuzz.sh, libfaketime for scripts/faults/; openssl makes the CA and
# server certificates of the TLS tests (MariaDB, the https collector);
# valgrind counts instructions per request in bench/get-cost.sh. Node.js
# and npm: below.
test_pkgs=(
    mariadb-server mariadb-client nats-server wrk gnuplot-nox sqlite3 curl ca-certificates
    valgrind
    python3 python3-yaml chromium fonts-nanum
    clang libclang-rt-14-dev libfaketime
    openssl
)
pkgs=("${build_pkgs[@]}" "${test_pkgs[@]}")
# Node.js and npm (tools/, tools/browser/) from Debian only where no node
# is installed: a machine that has Node.js from elsewhere (its package also
# named nodejs, with npm inside) cannot take Debian's npm beside it.
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    pkgs+=(nodejs npm)
fi

say() { printf 'deps.sh: %s\n' "$*"; }

if [ ! -r /etc/debian_version ] || ! command -v dpkg-query >/dev/null 2>&1; then
    say "this script needs Debian 12 (apt/dpkg); install the packages above by hand elsewhere" >&2
    exit 1
fi

missing=()
for p in "${pkgs[@]}"; do
    status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
    [ "$status" = installed ] || missing+=("$p")
done

# promtool checks /metrics as Prometheus reads it (test_e2e_api). Debian
# has it only in the prometheus package, with the server, whose maintainer
# scripts would start a Prometheus listening on port 9090 of every
# interface. So only promtool is taken out of that package, into
# /usr/local/lib/coffee/ (a Go binary: it needs only libc).
promtool=/usr/local/lib/coffee/promtool
need_promtool=0
[ -x "$promtool" ] || need_promtool=1

if [ ${#missing[@]} -eq 0 ] && [ "$need_promtool" = 0 ] && [ "${COFFEE_DEPS_UPDATE:-0}" != 1 ]; then
    say "all ${#pkgs[@]} packages and promtool already installed"
    exit 0
fi

# Root runs apt directly (CI, containers); anyone else goes through sudo.
# Only asked for now that something must change.
if [ "$(id -u)" -eq 0 ]; then
    as_root=()
elif command -v sudo >/dev/null 2>&1; then
    as_root=(sudo)
    say "not root: using sudo for apt-get"
else
    say "missing: ${missing[*]:-none}; not root and no sudo: run me as root" >&2
    exit 1
fi

apt_opts=(-y -q -o DPkg::Lock::Timeout=300)
export DEBIAN_FRONTEND=noninteractive
say "apt-get update"
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get "${apt_opts[@]}" update
if [ ${#missing[@]} -gt 0 ]; then
    say "installing: ${missing[*]}"
    # mariadb-server's maintainer scripts may try to start a server; the tests
    # start their own, so a policy-rc.d refusal or failure to start is harmless.
    "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive \
        apt-get "${apt_opts[@]}" install --no-install-recommends "${missing[@]}"
fi

# Check again: a package apt said it installed but dpkg does not list is a bug
# worth stopping for here rather than as a confusing build error later.
still=()
for p in "${missing[@]}"; do
    status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
    [ "$status" = installed ] || still+=("$p")
done
if [ ${#still[@]} -gt 0 ]; then
    say "still missing after install: ${still[*]}" >&2
    exit 1
fi
if [ "$need_promtool" = 1 ]; then
    say "promtool from Debian's prometheus package, into $promtool"
    scratch=$(mktemp -d)
    (cd "$scratch" && timeout -k 10 600 apt-get -q download prometheus)
    dpkg-deb -x "$scratch"/prometheus_*.deb "$scratch/x"
    "${as_root[@]}" install -D -m 0755 "$scratch/x/usr/bin/promtool" "$promtool"
    rm -rf "$scratch"
    "$promtool" --version 2>&1 | sed -n 1p
fi
say "done: ${#pkgs[@]} packages and promtool present"
