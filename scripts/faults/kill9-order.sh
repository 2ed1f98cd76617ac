#!/usr/bin/env bash
# Fault row: kill -9 of the order role mid-load, restarted 2 s later
# (fault_kill9_split in lib.sh: --role order and --role display on one data dir).
# While the order side is down writes get no answer; the display keeps
# answering.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
fault_init kill9-order
fault_kill9_split order
