# bounded.sh — sourced by scripts/contract.sh and scripts/docker_stack.sh:
# a bounded command that a signal to the script stops at once (test.sh's
# `step` sets bounded_pid too, and its traps call bounded_stop).
#
# bash runs a trap only once its foreground command is done, and timeout
# runs its command in a process group of its own, which a signal to the
# script's group does not reach. So a ^C, or a TERM from scripts/test.sh,
# used to wait for a docker build to end (up to 30 minutes) before the
# script could clean up. `bounded SECONDS CMD…` runs
# `timeout -k 10 SECONDS CMD…` in the background and waits for it (a wait
# that a signal cuts short), with stdin from /dev/null; `bounded_stop`, in
# the script's INT and TERM traps, hands the signal on to that timeout as
# TERM, which passes it to its whole group.
bounded_pid=""
bounded() {
    local seconds=$1 rc=0
    shift
    timeout -k 10 "$seconds" "$@" </dev/null &
    bounded_pid=$!
    wait "$bounded_pid" || rc=$?
    bounded_pid=""
    return "$rc"
}
bounded_stop() {
    if [ -n "$bounded_pid" ]; then
        kill -TERM "$bounded_pid" 2>/dev/null || true
        wait "$bounded_pid" 2>/dev/null || true
        bounded_pid=""
    fi
}
