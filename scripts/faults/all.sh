#!/usr/bin/env bash
# Runs the fault matrix, one row after another (each row is a script of its
# own in this folder that prints one "fault: ROW PASS|FAIL|NOT-RUN {figures}"
# line), and exits 1 if any row failed.
#
#   bash scripts/faults/all.sh            # every row (about 6 minutes)
#   bash scripts/faults/all.sh --cheap    # the rows test.sh runs (about 1 minute)
#   bash scripts/faults/all.sh kill9-all clock-step   # the rows named
#
# Needs the Release build (build-release: coffee, coffee-mock-broker);
# BUILD_DIR picks another. FAULT_LOG appends each line, dated, to a file.
set -uo pipefail
dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
rows=(kill9-all kill9-order kill9-display mariadb-restart broker-stop broker-down
      collector-down fs-full clock-step nats-kill)
if [ "${1:-}" = --cheap ]; then
    rows=(kill9-all broker-stop)
elif [ $# -gt 0 ]; then
    rows=("$@")
fi
failed=0
for row in "${rows[@]}"; do
    out=$(LOAD_SECONDS=${LOAD_SECONDS:-25} bash "$dir/$row.sh" 2>"${TMPDIR:-/tmp}/fault-$row.err")
    rc=$?
    line=$(printf '%s\n' "$out" | grep '^fault: ' | tail -n 1)
    if [ -z "$line" ]; then
        line="fault: $row FAIL {\"reason\": \"no figures (exit $rc)\"}"
        tail -n 15 "${TMPDIR:-/tmp}/fault-$row.err" >&2
    fi
    printf '%s\n' "$line"
    [ "$rc" -eq 0 ] || { failed=1; tail -n 15 "${TMPDIR:-/tmp}/fault-$row.err" >&2; }
    rm -f "${TMPDIR:-/tmp}/fault-$row.err"
done
exit "$failed"
