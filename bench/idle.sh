#!/usr/bin/env bash
# bench/idle.sh BINARY [SECONDS]: server with change-triggered backups on one real fixture graph,
# no scheduled backups; after a 20 s settle, CPU (utime+stime) and read/write syscalls over SECONDS.
set -euo pipefail
BIN=$(realpath "$1"); SECS=${2:-60}
FIXTURE=$(realpath "$(dirname "$0")/../../shared/fixtures/lightrag-real/adamaslan-dickens")
D=$(mktemp -d)
mkdir -p "$D/rag_storage/dickens"
cp "$FIXTURE"/* "$D/rag_storage/dickens/"
cd "$D"
env -i PATH=/usr/bin:/bin HOME="$D" RUST_LOG=warn \
  LIGHTRAG_WORKING_DIR="$D/rag_storage" LIGHTRAG_BACKUP_STORAGE="$D/repo" \
  LIGHTRAG_RECOVERY_DB_URL="sqlite:///cat.db" LIGHTRAG_PORT=0 LIGHTRAG_METRICS_PORT=0 \
  LIGHTRAG_BACKUP_ON_CHANGE=true LIGHTRAG_AUTO_BACKUP_INTERVAL=0 \
  "$BIN" serve > "$D/server.log" 2>&1 &
PID=$!
sleep 20
# one change, backed up on change, then idle
python3 - "$D/rag_storage/dickens/kv_store_doc_status.json" <<'PY'
import json,sys; p=sys.argv[1]; d=json.load(open(p)); d["doc-idle"]={"status":"processed"}; json.dump(d,open(p,"w"))
PY
sleep 10
snaps0=$(ls "$D/repo/snapshots/dickens" 2>/dev/null | wc -l)
read -r u0 s0 < <(awk '{print $14, $15}' /proc/$PID/stat)
io0=$(awk '/syscr|syscw/{s+=$2} END{print s}' /proc/$PID/io)
t0=$(date +%s.%N)
sleep "$SECS"
read -r u1 s1 < <(awk '{print $14, $15}' /proc/$PID/stat)
io1=$(awk '/syscr|syscw/{s+=$2} END{print s}' /proc/$PID/io)
t1=$(date +%s.%N)
snaps1=$(ls "$D/repo/snapshots/dickens" 2>/dev/null | wc -l)
hz=$(getconf CLK_TCK)
python3 -c "import sys; u0,s0,u1,s1,hz,t0,t1=map(float,sys.argv[1:]); print(f'idle {t1-t0:.1f} s: CPU {(u1+s1-u0-s0)/hz/(t1-t0)*100:.3f} % ({int(u1+s1-u0-s0)} ticks)')" $u0 $s0 $u1 $s1 $hz $t0 $t1
echo "read/write syscalls: $((io1-io0)); snapshots before/after idle: $snaps0/$snaps1"
kill $PID; wait $PID 2>/dev/null || true
rm -rf "$D"
