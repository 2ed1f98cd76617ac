#!/usr/bin/env bash
# docker_stack.sh — proves that docker/ builds images that run (scripts/test.sh
# runs it). With no image registry reachable, everything comes from Debian's
# packages:
#
#   1. installs docker.io, debootstrap and docker-compose if missing; starts
#      dockerd (--bridge=none --iptables=false, its own data-root, exec-root,
#      pidfile and socket) when no Docker engine answers, and stops it after,
#      by its pid;
#   2. `docker-compose config` (Debian's 1.29) of docker/compose.yaml, the
#      deployable stack with the official MySQL and Kafka images;
#   3. when the images named by the FROM lines (debian:12, debian:12-slim) are
#      missing: debootstraps bookworm (minbase) into a folder and
#      `docker import`s it under those names; the rootfs tarball is cached in
#      the state folder, and the images in the engine, between runs;
#   4. builds coffee:local with docker/Dockerfile (--network host) and
#      coffee-mariadb:local with docker/mariadb.Dockerfile;
#   5. runs a stack with host networking only (no container network
#      addresses; every port on 127.0.0.1, picked free): MariaDB, the
#      Kafka-protocol broker (coffee-mock-broker, from the coffee image), the
#      mock collector, two containers of `coffee serve --role order` and one
#      of `--role display` (and one `--role projector`, which feeds it) on
#      the MariaDB stores and the broker, each with the run's admin token
#      mounted read-only as a file (as compose mounts its secret:
#      /run/secrets/coffee_admin_token, owned by the image's user, 0400;
#      never in an environment variable or on a command line); drives
#      customers, charges and orders through them over HTTP, each customer
#      with its own token (scripts/docker_drive.py), checks the credentials
#      across instances, /display/best counts and that the
#      collector received every order;
#   6. removes every container it started (and their volumes), stops dockerd
#      if it started it, and prints its duration.
#
#   bash scripts/docker_stack.sh          # as root (or with sudo)
#
# Environment: COFFEE_DOCKER_STATE (default /var/lib/coffee-docker: the
# engine's data-root and the base rootfs tarball, kept between runs),
# COFFEE_DEBIAN_MIRROR (default: the host's apt mirror), COFFEE_DOCKER_TIMEOUT
# (default 1500: the bound of the whole run, in seconds).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$(pwd)

say() { printf 'docker_stack.sh: %s\n' "$*"; }
. scripts/bounded.sh
die() { say "$*" >&2; exit 1; }
t0=$(date +%s)

# Each wait below has its own bound; this one bounds the run as a whole.
deadline=$(( t0 + ${COFFEE_DOCKER_TIMEOUT:-1500} ))
left() {
    local l=$(( deadline - $(date +%s) ))
    [ "$l" -gt 0 ] || die "out of time (COFFEE_DOCKER_TIMEOUT=${COFFEE_DOCKER_TIMEOUT:-1500} s)"
    echo "$l"
}
# The smaller of a step's own bound and the time the run has left.
bound() {
    local l
    l=$(left)
    if [ "$1" -lt "$l" ]; then echo "$1"; else echo "$l"; fi
}

if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || die "needs root (dockerd, debootstrap): run as root"
    say "not root: running again with sudo"
    exec sudo -n env "COFFEE_DOCKER_STATE=${COFFEE_DOCKER_STATE:-}" \
        "COFFEE_DEBIAN_MIRROR=${COFFEE_DEBIAN_MIRROR:-}" \
        "COFFEE_DOCKER_TIMEOUT=${COFFEE_DOCKER_TIMEOUT:-1500}" bash "$0" "$@"
fi

# Debian's client, which matches Debian's engine (another docker may come first in PATH).
DOCKER=/usr/bin/docker
state=${COFFEE_DOCKER_STATE:-/var/lib/coffee-docker}
[ -n "$state" ] || state=/var/lib/coffee-docker
# Unix socket paths must stay short: the engine's run folder is under /run.
rundir=/run/coffee-docker
work=""
dockerd_pid=""
containers=()

# Everything this run started goes, on every exit: containers (with their
# anonymous volumes), then the engine if this run started it (by its pid).
cleanup() {
    local rc=$?
    trap - EXIT
    if [ "$rc" -ne 0 ] && [ ${#containers[@]} -gt 0 ]; then
        for c in "${containers[@]}"; do
            say "--- last lines of $c"
            timeout -k 5 30 "$DOCKER" logs --tail 25 "$c" 2>&1 | sed 's/^/    /' || true
        done
    fi
    if [ ${#containers[@]} -gt 0 ]; then
        say "removing ${#containers[@]} containers"
        timeout -k 5 120 "$DOCKER" rm -f -v "${containers[@]}" >/dev/null 2>&1 || \
            say "warning: docker rm failed"
    fi
    if [ -n "$dockerd_pid" ] && kill -0 "$dockerd_pid" 2>/dev/null; then
        say "stopping dockerd (pid $dockerd_pid)"
        kill -TERM "$dockerd_pid" 2>/dev/null || true
        for _ in $(seq 1 240); do
            kill -0 "$dockerd_pid" 2>/dev/null || break
            sleep 0.25
        done
        if kill -0 "$dockerd_pid" 2>/dev/null; then
            say "dockerd did not stop in 60 s: kill -9"
            kill -KILL "$dockerd_pid" 2>/dev/null || true
        fi
        wait "$dockerd_pid" 2>/dev/null || true
        # What the engine mounted under its own folders and left behind (its
        # default network namespace): unmounted, deepest first.
        awk -v a="$rundir/" -v b="$state/data" \
            'index($2, a) == 1 || $2 == b || index($2, b "/") == 1 { print $2 }' \
            /proc/mounts | sort -r | while read -r m; do
            umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || say "warning: cannot unmount $m"
        done
        if [ "$rc" -ne 0 ] && [ -f "$work/dockerd.log" ]; then
            tail -n 20 "$work/dockerd.log" | sed 's/^/    dockerd: /' >&2 || true
        fi
    fi
    if [ -n "$work" ] && [ -d "$work" ]; then
        rm -rf -- "$work"
    fi
    say "finished in $(( $(date +%s) - t0 )) s with status $rc"
    exit "$rc"
}
trap cleanup EXIT
trap 'bounded_stop; exit 130' INT
trap 'bounded_stop; exit 143' TERM

# -- 1. packages and the engine ----------------------------------------------

missing=()
for p in docker.io debootstrap docker-compose python3 curl iproute2; do
    status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
    [ "$status" = installed ] || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    say "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    bounded "$(bound 300)" apt-get -y -q -o DPkg::Lock::Timeout=300 update
    bounded "$(bound 900)" apt-get -y -q -o DPkg::Lock::Timeout=300 \
        install --no-install-recommends "${missing[@]}"
fi
[ -x "$DOCKER" ] || DOCKER=$(command -v docker)
export DOCKER_BUILDKIT=1

mkdir -p "$state" "$rundir"
work=$(mktemp -d "$state/run.XXXXXX")

# One run at a time on this machine: they share the engine and the state
# (dockerd does not inherit the lock's descriptor, so it never holds it).
exec 9>"$state/lock"
flock -w "$(bound 1800)" 9 || die "another docker_stack.sh holds $state/lock"

d() { timeout -k 10 "$(bound 120)" "$DOCKER" "$@"; }

if timeout -k 5 20 "$DOCKER" info >/dev/null 2>&1; then
    say "using the Docker engine that runs already (${DOCKER_HOST:-default socket})"
elif DOCKER_HOST="unix://$rundir/docker.sock" timeout -k 5 20 "$DOCKER" info >/dev/null 2>&1; then
    export DOCKER_HOST="unix://$rundir/docker.sock"
    say "using the engine on $DOCKER_HOST that runs already"
else
    export DOCKER_HOST="unix://$rundir/docker.sock"
    mkdir -p "$state/data" "$rundir/exec"
    rm -f "$rundir/docker.sock"
    say "starting dockerd (data-root $state/data, socket $rundir/docker.sock)"
    setsid dockerd --bridge=none --iptables=false \
        --data-root="$state/data" --exec-root="$rundir/exec" \
        --pidfile="$rundir/dockerd.pid" -H "$DOCKER_HOST" \
        --containerd-namespace=coffee-docker --containerd-plugins-namespace=coffee-docker-plugins \
        </dev/null >"$work/dockerd.log" 2>&1 9>&- &
    dockerd_pid=$!
    until timeout -k 5 10 "$DOCKER" info >/dev/null 2>&1; do
        kill -0 "$dockerd_pid" 2>/dev/null || { tail -n 20 "$work/dockerd.log" >&2; die "dockerd exited"; }
        [ $(( $(date +%s) - t0 )) -lt 120 ] || die "dockerd did not answer within 60 s"
        sleep 0.5
    done
fi
say "engine: $(d version --format '{{.Server.Version}}' 2>/dev/null)"

# -- 2. the deployable compose file ------------------------------------------

say "docker-compose config of docker/compose.yaml ($(docker-compose version --short 2>/dev/null))"
timeout -k 5 60 docker-compose -f docker/compose.yaml config -q

# -- 3. the Debian 12 bases ----------------------------------------------------

# Every image named by a FROM line of our Dockerfiles (stage names aside).
bases=$(awk 'toupper($1) == "FROM" { print $2 }' docker/Dockerfile docker/mariadb.Dockerfile | sort -u)
for b in $bases; do
    case "$b" in
        debian:12|debian:12-slim|debian:bookworm|debian:bookworm-slim) ;;
        *) die "FROM $b: only Debian 12 bases can be made here (debootstrap bookworm)" ;;
    esac
done
absent=()
for b in $bases; do
    d image inspect "$b" >/dev/null 2>&1 || absent+=("$b")
done

# The host's Debian mirror (deb822 or one-line sources), else deb.debian.org.
host_mirror() {
    local m=""
    if [ -r /etc/apt/sources.list.d/debian.sources ]; then
        m=$(awk '/^URIs:/ { print $2; exit }' /etc/apt/sources.list.d/debian.sources)
    fi
    if [ -z "$m" ] && [ -r /etc/apt/sources.list ]; then
        m=$(awk '$1 == "deb" && $3 == "bookworm" { print $2; exit }' /etc/apt/sources.list)
    fi
    echo "${m:-http://deb.debian.org/debian}"
}

if [ ${#absent[@]} -gt 0 ]; then
    tarball="$state/debian-12-rootfs.tar"
    if [ ! -s "$tarball" ]; then
        mirror=${COFFEE_DEBIAN_MIRROR:-$(host_mirror)}
        say "debootstrap bookworm (minbase) from $mirror"
        t=$(date +%s)
        bounded "$(bound 900)" debootstrap --variant=minbase bookworm \
            "$work/rootfs" "$mirror" >"$work/debootstrap.log" 2>&1 || {
            tail -n 20 "$work/debootstrap.log" >&2; die "debootstrap failed"; }
        # apt in the images reads the same archive as the host: its Debian
        # sources (with updates and security) when it has deb822 ones.
        if [ -r /etc/apt/sources.list.d/debian.sources ] && [ -z "${COFFEE_DEBIAN_MIRROR:-}" ]; then
            cp /etc/apt/sources.list.d/debian.sources "$work/rootfs/etc/apt/sources.list.d/"
            rm -f "$work/rootfs/etc/apt/sources.list"
        fi
        rm -rf "$work/rootfs/var/cache/apt/archives/"*.deb "$work/rootfs/var/lib/apt/lists/"*
        tar -C "$work/rootfs" -cf "$tarball.tmp" .
        mv "$tarball.tmp" "$tarball"
        rm -rf "$work/rootfs"
        say "debootstrap took $(( $(date +%s) - t )) s; rootfs cached in $tarball"
    fi
    first=${absent[0]}
    say "docker import of the rootfs as ${absent[*]}"
    bounded "$(bound 300)" "$DOCKER" import -c 'CMD ["bash"]' \
        -m "debootstrap --variant=minbase bookworm (scripts/docker_stack.sh)" "$tarball" "$first" >/dev/null
    for b in "${absent[@]:1}"; do
        d tag "$first" "$b"
    done
else
    say "base images present: $(echo $bases)"
fi

# -- 4. the images -------------------------------------------------------------

t=$(date +%s)
say "docker build coffee:local (docker/Dockerfile, --network host)"
bounded "$(bound 1800)" "$DOCKER" build --network host -f docker/Dockerfile \
    -t coffee:local . >"$work/build-coffee.log" 2>&1 || {
    tail -n 40 "$work/build-coffee.log" >&2; die "docker build of coffee:local failed"; }
say "coffee:local built in $(( $(date +%s) - t )) s: $(d run --rm --network host --entrypoint coffee coffee:local --version)"
t=$(date +%s)
say "docker build coffee-mariadb:local (docker/mariadb.Dockerfile)"
bounded "$(bound 900)" "$DOCKER" build --network host -f docker/mariadb.Dockerfile \
    -t coffee-mariadb:local docker >"$work/build-mariadb.log" 2>&1 || {
    tail -n 40 "$work/build-mariadb.log" >&2; die "docker build of coffee-mariadb:local failed"; }
say "coffee-mariadb:local built in $(( $(date +%s) - t )) s"
if [ -n "$dockerd_pid" ]; then
    # Our own engine is the cache: the images these builds replaced go.
    d image prune -f >/dev/null
fi

# -- 5. the stack ----------------------------------------------------------------

# Distinct free TCP ports on 127.0.0.1, below the ephemeral range.
read -r p_db p_broker p_collector p_order1 p_order2 p_display p_projector \
    < <(python3 "$root/scripts/free_port.py" 7)
password=$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')
name="coffee-stack-$$"
# The admin token: a file the container's user (uid 10001, docker/Dockerfile)
# alone reads, mounted where compose puts its secret.
admin_token="$work/admin.token"
(umask 077 && python3 -c 'import secrets; print(secrets.token_urlsafe(32))' >"$admin_token")
chown 10001 "$admin_token"
chmod 0400 "$admin_token"

# Starts a detached container on the host's network; remembers it for cleanup.
run() {
    local cname="$name-$1"
    shift
    containers+=("$cname")
    d run -d --name "$cname" --network host "$@" >/dev/null
}

# Waits (bounded) until a command succeeds.
wait_for() {
    local what=$1 limit=$2
    shift 2
    local until_t=$(( $(date +%s) + $(bound "$limit") ))
    until "$@" >/dev/null 2>&1; do
        [ "$(date +%s)" -lt "$until_t" ] || die "$what: not ready within $limit s"
        sleep 0.5
    done
}

say "MariaDB on 127.0.0.1:$p_db"
run mariadb -e "MARIADB_PORT=$p_db" -e "COFFEE_MYSQL_PASSWORD=$password" coffee-mariadb:local
wait_for "MariaDB" 120 d exec "$name-mariadb" mariadb --protocol=tcp -h 127.0.0.1 -P "$p_db" \
    -ucoffee "-p$password" -e "SELECT 1" coffee

say "coffee-mock-broker on 127.0.0.1:$p_broker (topic order-events, 3 partitions)"
run broker --entrypoint coffee-mock-broker coffee:local \
    --brokers 1 --partitions 3 --topic order-events --port "$p_broker"
broker_ready() { d logs "$name-broker" 2>/dev/null | grep -qx READY; }
wait_for "the broker" 30 broker_ready

say "mock collector on 127.0.0.1:$p_collector"
run collector --entrypoint coffee coffee:local mock-collector --port "$p_collector" --bind 127.0.0.1
wait_for "the collector" 30 curl -fsS --max-time 2 "http://127.0.0.1:$p_collector/orders"

# One coffee instance: ROLE NAME PORT.
coffee() {
    run "$2" -e COFFEE_MYSQL_USER=coffee -e "COFFEE_MYSQL_PASSWORD=$password" \
        -e COFFEE_LOG_LEVEL=info \
        -v "$admin_token:/run/secrets/coffee_admin_token:ro" \
        -e COFFEE_ADMIN_TOKEN_FILE=/run/secrets/coffee_admin_token coffee:local \
        --role "$1" --bind 127.0.0.1 --port "$3" \
        --store "mysql://127.0.0.1:$p_db/coffee" --display-store "mysql://127.0.0.1:$p_db/display" \
        --bridge kafka --kafka-brokers "127.0.0.1:$p_broker" --kafka-topic order-events \
        --collector-url "http://127.0.0.1:$p_collector/collect"
    wait_for "coffee $2" 90 curl -fsS --max-time 2 "http://127.0.0.1:$3/health"
    say "coffee --role $1 ($2) answers on 127.0.0.1:$3"
}
# order-1 first: one instance makes the schema on the fresh databases.
coffee order order-1 "$p_order1"
coffee order order-2 "$p_order2"
coffee projector projector-1 "$p_projector"
coffee display display-1 "$p_display"

# Host networking only: no container has an address of its own, and every
# port the stack listens on is bound to 127.0.0.1.
for c in "${containers[@]}"; do
    mode=$(d inspect -f '{{.HostConfig.NetworkMode}}' "$c")
    addrs=$(d inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' "$c")
    [ "$mode" = host ] && [ -z "$addrs" ] || die "$c: network mode $mode, addresses '$addrs'"
done
for p in "$p_db" "$p_broker" "$p_collector" "$p_order1" "$p_order2" "$p_display" "$p_projector"; do
    listen=$(ss -Htln "sport = :$p" | awk '{ print $4 }' | sort -u | tr '\n' ' ')
    [ "$listen" = "127.0.0.1:$p " ] || die "port $p listens on '$listen', not 127.0.0.1 alone"
done
say "${#containers[@]} containers on the host network, every port on 127.0.0.1"

bounded "$(bound 300)" python3 scripts/docker_drive.py \
    --order "http://127.0.0.1:$p_order1" --order "http://127.0.0.1:$p_order2" \
    --display "http://127.0.0.1:$p_display" --collector "http://127.0.0.1:$p_collector" \
    --admin-token-file "$admin_token" --timeout 120
