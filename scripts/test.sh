#!/usr/bin/env bash
# Builds everything with AddressSanitizer + UndefinedBehaviorSanitizer
# (-Werror) into build-test/ and the server in Release into build-release/
# (COFFEE_SKIP_RELEASE=1 skips that), starts a private MariaDB for the MySQL tests
# and a private nats-server with JetStream for the NATS tests,
# runs the whole ctest suite (2 jobs) within a time bound, stops what it
# started, and exits with ctest's status. What CI runs (.ci/run).
#
#   bash scripts/test.sh                  # everything
#   bash scripts/test.sh -R store         # extra arguments go to ctest (and skip
#                                         # scripts/contract.sh, docker_stack.sh)
#
# Bounds (seconds, environment): COFFEE_BUILD_TIMEOUT (default 1500) for each
# build, COFFEE_CTEST_TIMEOUT (default 2700) for the whole ctest run,
# COFFEE_SCRIPT_TIMEOUT (default 2100) for each of contract.sh and
# docker_stack.sh; each test also has its own TIMEOUT in CMakeLists.txt.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$(pwd)

say() { printf 'test.sh: %s\n' "$*"; }
t0=$(date +%s)

work=""
mariadb_dir=""
mariadb_port=""
nats_dir=""
summary=""

# Stops the private MariaDB (mariadb.sh stops it by the pid it recorded) and
# removes the scratch folder; runs on every exit, including failures and ^C.
cleanup() {
    local rc=$?
    trap - EXIT
    if [ -n "$mariadb_dir" ]; then
        say "stopping MariaDB on 127.0.0.1:$mariadb_port"
        bash "$root/scripts/mariadb.sh" stop "$mariadb_dir" || \
            say "warning: mariadb.sh stop failed (rc $?)"
    fi
    if [ -n "$nats_dir" ]; then
        say "stopping nats-server"
        bash "$root/scripts/nats.sh" stop "$nats_dir" || say "warning: nats.sh stop failed (rc $?)"
    fi
    if [ -n "$work" ] && [ -d "$work" ]; then
        # A test that starts a server of its own (scripts/mariadb.sh,
        # scripts/nats.sh: each in a session of its own, out of ctest's
        # process group) stops it in its teardown, which a test ended by its
        # bound or by a signal never reaches. Those servers live under the
        # scratch folder: stop each by the pid its script recorded there.
        local launched dir
        while IFS= read -r launched; do
            dir=$(dirname "$launched")
            case "$launched" in
                */mysqld.launch.pid) bash "$root/scripts/mariadb.sh" stop "$dir" 2>/dev/null ;;
                */nats.launch.pid) bash "$root/scripts/nats.sh" stop "$dir" 2>/dev/null ;;
            esac || say "warning: could not stop the server a test left in $dir"
        done < <(find "$work" \( -name mysqld.launch.pid -o -name nats.launch.pid \) 2>/dev/null)
        rm -rf -- "$work"
    fi
    say "finished in $(( $(date +%s) - t0 )) s with status $rc"
    if [ -n "$summary" ]; then
        printf '%s\n' "$summary"
    fi
    exit "$rc"
}
trap cleanup EXIT

# The bounded steps (builds, fuzz, soak, faults, ctest) run under timeout,
# which puts itself and its command in a process group of its own: a ^C or
# a TERM to this script's group does not reach them, and bash runs a trap
# only once its foreground command is done. So each such step runs in the
# background while this script waits for it (a wait that a signal cuts
# short), and the traps hand the signal on to timeout as TERM, which passes
# it to its whole group and ends it; then cleanup stops the servers. The
# step's pid is bounded_pid, which bounded_stop ends (scripts/bounded.sh,
# which contract.sh and docker_stack.sh use for their own steps).
. scripts/bounded.sh
# step LOG CMD…: runs CMD (a timeout command) as above, its output shown and,
# unless LOG is "", kept in LOG too. Returns CMD's status.
step() {
    local log=$1 out tee_pid="" rc=0 pid
    shift
    if [ -n "$log" ]; then
        exec {out}> >(tee "$log")
        tee_pid=$!
    else
        exec {out}>&1
    fi
    # The step gets the pipe as its output only, not as one more open
    # descriptor: a server a test starts as a daemon keeps what it
    # inherits, and an inherited copy of the pipe would keep tee waiting
    # for its end after the step is over.
    "$@" >&"$out" 2>&1 {out}>&- &
    pid=$!
    bounded_pid=$pid
    wait "$pid" || rc=$?
    bounded_pid=""
    # timeout's process group (its pid) outlives it while anything the step
    # started is left in it, such as a server a crashed test started: end
    # them, so that nothing of this run outlives it and the pipe to tee
    # closes.
    if kill -0 -- "-$pid" 2>/dev/null; then
        say "ending processes the step left behind (process group $pid)"
        kill -TERM -- "-$pid" 2>/dev/null || true
        sleep 2
        kill -KILL -- "-$pid" 2>/dev/null || true
    fi
    exec {out}>&-
    if [ -n "$tee_pid" ]; then
        wait "$tee_pid" || true         # LOG is whole before anyone reads it
    fi
    return "$rc"
}
stop_step() {
    [ -z "$bounded_pid" ] || say "stopping the running step (pid $bounded_pid) and what it started"
    bounded_stop
}
trap 'stop_step; exit 130' INT
trap 'stop_step; exit 143' TERM

# A TCP port nobody listens on right now on 127.0.0.1, below the ephemeral
# range (scripts/free_port.py says why).
free_port() {
    python3 "$root/scripts/free_port.py"
}

if [ "${COFFEE_SKIP_DEPS:-0}" != 1 ]; then
    bash scripts/deps.sh
fi

jobs=2
say "configuring build-test/ (COFFEE_SANITIZE=ON: ASan + UBSan, -Werror)"
cmake -S . -B build-test -DCOFFEE_SANITIZE=ON
say "building (bound ${COFFEE_BUILD_TIMEOUT:-1500} s)"
step "" timeout -k 30 "${COFFEE_BUILD_TIMEOUT:-1500}" cmake --build build-test -j"$jobs"

# README command 1 (run.sh) and docker/Dockerfile build Release (-O3), where
# GCC finds warnings -O2 does not (format truncation): build the server that
# way too, so -Werror breaks there fail here first.
if [ "${COFFEE_SKIP_RELEASE:-0}" != 1 ]; then
    say "building coffee Release into build-release/ (as run.sh and the Dockerfile do)"
    cmake -S . -B build-release -DCMAKE_BUILD_TYPE=Release -DCOFFEE_SANITIZE=OFF >/dev/null
    step "" timeout -k 30 "${COFFEE_BUILD_TIMEOUT:-1500}" cmake --build build-release \
        --target coffee --target coffee-mock-broker -j"$jobs"
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/coffee-test.XXXXXX")

# MySQL-backed tests read COFFEE_TEST_STORE_URL & co. from the environment
# that `mariadb.sh env` prints; without them they skip.
if [ -f scripts/mariadb.sh ]; then
    mariadb_port=$(free_port)
    say "starting a private MariaDB on 127.0.0.1:$mariadb_port (data in $work/mariadb)"
    mariadb_dir="$work/mariadb"
    bash scripts/mariadb.sh start "$mariadb_dir" "$mariadb_port"
    env_text=$(bash scripts/mariadb.sh env "$mariadb_dir" "$mariadb_port")
    set -a
    eval "$env_text"
    set +a
    say "MySQL test environment: $(printf '%s\n' "$env_text" | grep -o 'COFFEE_[A-Z_]*' | sort -u | tr '\n' ' ')"
else
    say "scripts/mariadb.sh not found: MySQL tests will skip"
fi

# The NATS tests read COFFEE_TEST_NATS_URL (and _DIR, _PORT to restart it)
# from what `nats.sh env` prints: a private nats-server -js on loopback.
nats_port=$(free_port)
nats_dir="$work/nats"
say "starting a private nats-server (JetStream) on 127.0.0.1:$nats_port (store in $nats_dir)"
bash scripts/nats.sh start "$nats_dir" "$nats_port"
set -a
eval "$(bash scripts/nats.sh env "$nats_dir" "$nats_port")"
set +a

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:halt_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export TMPDIR="$work"

# The libFuzzer harnesses (tests/fuzz/), each for a bounded count, in their
# own clang build (build-fuzz/); COFFEE_SKIP_FUZZ=1 skips them.
# Proof under attack and failure (docs/RELIABILITY.md), each bounded in
# time; a failure here fails the run after ctest has run too.
#  - the libFuzzer harnesses (tests/fuzz/), each for a bounded count, in
#    their own clang build (build-fuzz/); COFFEE_SKIP_FUZZ=1 skips them
#  - the 60 s soak of the Release build and the cheap rows of the fault
#    matrix (both need build-release; COFFEE_SKIP_SOAK=1 skips them)
extra_rc=0
# Each step's verdict lines (and, when it fails, its last lines) go into the
# summary printed last, where a CI log cut to its tail still shows them.
verdicts=""
extra() {
    local name=$1 rc
    shift
    rc=0
    step "$work/extra.log" "$@" || rc=$?
    verdicts+=$(grep -E '^(fuzz: [0-9]+ harnesses|fuzz: .*status=[^o]|soak: |soak.sh: FAIL|fault: )' \
        "$work/extra.log" \
        | sed -E 's/^(fault: [^ ]+ PASS|soak: PASS [^ ]+ [^ ]+ [^ ]+).*/\1/' || true)$'\n'
    if [ "$rc" -ne 0 ]; then
        extra_rc=$rc
        say "$name failed (status $rc)"
        verdicts+="$name failed (status $rc); its last lines:"$'\n'
        verdicts+=$(tail -n 20 "$work/extra.log" | cut -c1-400)$'\n'
    fi
}
if [ "${COFFEE_SKIP_FUZZ:-0}" != 1 ]; then
    say "fuzzing each parser for ${COFFEE_FUZZ_RUNS:-50000} runs (scripts/fuzz.sh)"
    extra scripts/fuzz.sh env RUNS="${COFFEE_FUZZ_RUNS:-50000}" MAX_TIME=60 \
        timeout -k 30 900 bash scripts/fuzz.sh
fi
if [ "${COFFEE_SKIP_RELEASE:-0}" != 1 ] && [ "${COFFEE_SKIP_SOAK:-0}" != 1 ]; then
    #  Five minutes of warm-up: the front answers fast enough that the
    #  bounded SQLite page caches are still filling after one (measured: +10 %
    #  in the minute after a 60 s warm-up, +2.4 % and +3.9 % after 120 s).
    #  With tokens, lots and menu events each order writes more rows, so
    #  the caches fill later: after 180 s the next minute still grew 1.2 %,
    #  4.5 %, 5.0 % and 7.5 % in four runs; the warm-up is 300 s.
    say "soak: 300 s warm-up + 60 s of mixed load on the Release build (scripts/soak.sh)"
    extra scripts/soak.sh env WARMUP=300 DURATION=60 SKIP_BUILD=1 \
        timeout -k 30 540 bash scripts/soak.sh
    say "fault matrix, cheap rows (scripts/faults/all.sh --cheap)"
    extra scripts/faults/all.sh env LOAD_SECONDS=15 \
        timeout -k 30 400 bash scripts/faults/all.sh --cheap
fi

say "running ctest -j$jobs (bound ${COFFEE_CTEST_TIMEOUT:-2700} s)"
# timeout puts itself, ctest and every test process in a process group of
# their own (its pid), which the bound ends as a whole, and step ends what
# a test left in it.
rc=0
step "$work/ctest.log" env --chdir=build-test timeout -k 60 "${COFFEE_CTEST_TIMEOUT:-2700}" \
    ctest --output-on-failure --no-tests=error -j"$jobs" "$@" || rc=$?
# ctest's own summary scrolls up behind the cleanup lines: repeat it last, in
# the plain "N passed, N failed" form.
counts=$(grep -Eo '[0-9]+ tests? failed out of [0-9]+' "$work/ctest.log" | tail -n 1 || true)
if [ -n "$counts" ]; then
    failed=${counts%% *}
    total=${counts##* }
    summary="ctest: $((total - failed)) passed, $failed failed"
fi
if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
    say "ctest did not finish within ${COFFEE_CTEST_TIMEOUT:-2700} s"
fi
# On a full run: the contract as tools know it (redocly, newman) and the
# images, run (docker_stack.sh); each is bounded and stops what it starts,
# also when a signal stops it (scripts/bounded.sh). Each runs as a step, so
# that a signal to this script reaches it at once; the outer bound is a
# backstop past the script's own bounds (contract.sh's add up to 1070 s,
# docker_stack.sh's COFFEE_DOCKER_TIMEOUT to 1500 s), with two minutes
# for its cleanup. COFFEE_SCRIPTS="" skips them.
if [ $# -eq 0 ]; then
    passed=0 failed=0
    for s in ${COFFEE_SCRIPTS-contract docker_stack}; do
        say "running scripts/$s.sh"
        if step "" timeout -k 120 "${COFFEE_SCRIPT_TIMEOUT:-2100}" bash "scripts/$s.sh"; then
            passed=$((passed + 1))
        else
            say "scripts/$s.sh failed"
            failed=$((failed + 1))
            [ "$rc" -ne 0 ] || rc=1
        fi
    done
    nl=$'\n'
    summary="scripts: $passed passed, $failed failed${summary:+$nl$summary}"
fi
if [ -n "$verdicts" ]; then
    summary="$(printf '%s' "$verdicts" | sed '/^$/d')${summary:+$'\n'$summary}"
fi
if [ "$rc" -eq 0 ] && [ "$extra_rc" -ne 0 ]; then
    rc=$extra_rc
fi
exit "$rc"
