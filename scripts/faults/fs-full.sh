#!/usr/bin/env bash
# Fault row: the filesystem of the SQLite data dir full for 10 s mid-load.
# The data dir is a small tmpfs mounted for the row (needs root and mount;
# without them the row prints "not run" and exits 0), filled by one file
# until writes fail with ENOSPC, then the file is removed. Writes meanwhile
# must fail with a status and change nothing; everything recovers after.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
fault_init fs-full
data="$ROW_DIR/data"
mkdir -p "$data"
SIZE_MB=${SIZE_MB:-64}
if ! mount -t tmpfs -o size=${SIZE_MB}m coffee-fs-full "$data" 2>/dev/null; then
    printf 'fault: fs-full NOT-RUN {"reason": "cannot mount a tmpfs here (needs root)"}\n'
    exit 0
fi
unmount_data() { umount -l "$data" 2>/dev/null || true; }
ROW_CLEANUP_HOOK=unmount_data
port=$(free_port)
fault_coffee pid "$port" "$ROW_DIR/coffee.log" --data-dir "$data"
# the schedule below needs at least 24 s of load
LOAD_SECONDS=$(( LOAD_SECONDS < 24 ? 24 : LOAD_SECONDS ))
fault_load_start "http://127.0.0.1:$port"
sleep 5
fault_mark start
dd if=/dev/zero of="$data/filler" bs=1M count=$SIZE_MB >/dev/null 2>&1 || true
say "filesystem full: $(df -k "$data" | awk 'NR == 2 { print $4 }') KiB free"
sleep 10
rm -f "$data/filler"
fault_mark end
sleep 6
fault_load_finish
fault_verify "http://127.0.0.1:$port" "$data/collector.jsonl" --data-dir "$data"
