#!/usr/bin/env bash
# Fault row: kill -9 of the display role mid-load, restarted 2 s later
# (fault_kill9_split in lib.sh: --role order and --role display on one data dir).
# While the display side is down reads get no answer and orders go on;
# the projection catches up after the restart.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
fault_init kill9-display
fault_kill9_split display
