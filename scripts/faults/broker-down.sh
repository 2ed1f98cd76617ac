#!/usr/bin/env bash
# Fault row: the Kafka broker unreachable for 10 s (see broker-stop.sh).
# The mock broker keeps its log in memory, so a real kill -9 and restart
# would lose the log itself, which no Kafka client can make good: the row
# drops every connection and refuses new ones for 10 s instead, which is
# what a killed broker looks like to coffee while it is down.
MODE=down exec bash "$(dirname "${BASH_SOURCE[0]}")/broker-stop.sh"
