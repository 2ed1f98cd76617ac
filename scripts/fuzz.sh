#!/usr/bin/env bash
# Builds the libFuzzer harnesses of tests/fuzz/ with clang
# (-fsanitize=fuzzer,address,undefined) into their own build dir and runs
# each for a bounded count, starting from its seed corpus
# (tests/fuzz/corpus/<name>/, never written to). Exits 1 on the first crash,
# leak, sanitizer report or timeout, leaving the input in
# $BUILD_DIR/artifacts/ and the log beside it; prints one figure line per
# harness and one for them all:
#   fuzz: <name> runs=<n> seconds=<s> exec/s=<n> cov=<edges> corpus=<units> status=ok
#   fuzz: <n> harnesses, <n> failed
#
#   bash scripts/fuzz.sh                    # each harness 200000 runs (test.sh)
#   RUNS=10000000 MAX_TIME=3600 nice -n 10 bash scripts/fuzz.sh   # the long run
#   bash scripts/fuzz.sh fuzz_request_body  # only the harnesses named
#
# Knobs: RUNS (default 200000), MAX_TIME per harness in s (default 120),
# BUILD_DIR (default build-fuzz), SKIP_BUILD=1, FUZZ_LOG (append the figure
# lines to this file too).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$(pwd)
runs=${RUNS:-200000}
max_time=${MAX_TIME:-120}
build=${BUILD_DIR:-build-fuzz}
say() { printf 'fuzz.sh: %s\n' "$*"; }

if ! command -v clang >/dev/null 2>&1; then
    say "clang not found (scripts/deps.sh installs it)" >&2
    exit 1
fi
if [ "${SKIP_BUILD:-0}" != 1 ]; then
    say "building the harnesses into $build/ (clang, fuzzer+ASan+UBSan)"
    CC=clang cmake -S . -B "$build" -DCOFFEE_FUZZ=ON -DCOFFEE_SANITIZE=OFF \
        -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
    cmake --build "$build" --target fuzzers -j2 >/dev/null
fi

names=("$@")
if [ ${#names[@]} -eq 0 ]; then
    for src in tests/fuzz/fuzz_*.c; do
        names+=("$(basename "$src" .c)")
    done
fi

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:halt_on_error=1}
export ASAN_OPTIONS="$ASAN_OPTIONS:detect_leaks=1"
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
mkdir -p "$build/artifacts" "$build/logs"
failed=0
for name in "${names[@]}"; do
    bin="$root/$build/$name"
    seeds="$root/tests/fuzz/corpus/$name"
    [ -x "$bin" ] || { say "$name: not built" >&2; exit 1; }
    [ -d "$seeds" ] || { say "$name: no seed corpus in $seeds" >&2; exit 1; }
    # The corpus grows in a scratch dir of the build, seeded afresh
    work="$root/$build/corpus-work/$name"
    rm -rf "$work"
    mkdir -p "$work"
    log="$root/$build/logs/$name.log"
    t0=$(date +%s.%N)
    set +e
    "$bin" -runs="$runs" -max_total_time="$max_time" -timeout=10 -rss_limit_mb=2048 \
        -max_len=4096 -print_final_stats=1 \
        -artifact_prefix="$root/$build/artifacts/$name-" "$work" "$seeds" >"$log" 2>&1
    rc=$?
    set -e
    t1=$(date +%s.%N)
    done_runs=$(grep -Eo 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -Eo '[0-9]+$' || echo 0)
    cov=$(grep -Eo 'cov: [0-9]+' "$log" | tail -n 1 | grep -Eo '[0-9]+' || echo 0)
    units=$(find "$work" -type f | wc -l)
    secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
    rate=$(awk -v n="$done_runs" -v s="$secs" 'BEGIN { printf "%d", (s > 0 ? n / s : 0) }')
    status=ok
    if [ "$rc" -ne 0 ]; then
        status="FAILED(rc=$rc, log $log)"
        failed=$((failed + 1))
        grep -E 'ERROR|broken promise|SUMMARY' "$log" | head -n 5 >&2 || true
    fi
    line="fuzz: $name runs=$done_runs seconds=$secs exec/s=$rate cov=$cov corpus=$units status=$status"
    printf '%s\n' "$line"
    if [ -n "${FUZZ_LOG:-}" ]; then
        printf '%s %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$line" >>"$FUZZ_LOG"
    fi
done
printf 'fuzz: %d harnesses, %d failed\n' "${#names[@]}" "$failed"
exit $(( failed > 0 ))
