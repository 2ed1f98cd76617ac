#!/usr/bin/env bash
#  bench/ports.sh — sourced by bench/run.sh and bench/get-cost.sh, which
#  define die.

#  A TCP port nothing listens on at 127.0.0.1 right now, below Linux's
#  ephemeral range (32768+) so no outgoing connection holds it either.
free_port() {
    local port
    for _ in $(seq 1 100); do
        port=$(( 20000 + RANDOM % 12000 ))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            echo "$port"
            return 0
        fi
    done
    die "no free port found"
}
