#!/usr/bin/env bash
# Scale benchmark (issue 15): the lightrag-ops binary against restic and borg on one generated
# LightRAG workspace, and the server's memory on it. Every step is timed with /usr/bin/time
# (wall seconds, peak RSS) with a warm page cache; all tools run in this one run, so ratios are
# comparable even on a busy machine.
#
#   bench/scale.sh                          # 2000 docs (~557 MiB), the release binary
#   DOCS=20000 bench/scale.sh               # ~5-6 GB (generated under BENCH_DIR, deleted after)
#   BIN=target/debug/lightrag-ops DOCS=50   # try the script itself quickly
#   BENCH_DIR=/path KEEP=1 ...              # where data goes (default /tmp/lightrag-scale)
#
# CLI steps (ours: `lightrag-ops backup|restore|verify` with a local repository and a SQLite
# catalog; restic and borg: their own commands with compression on):
#   first backup · incremental after `gen_workspace.py --grow 2` (bytes added) · restore of the
#   latest snapshot, timed until durable (`&& sync` for all three) · verify reading all data.
# Server steps (ours): peak RSS of `lightrag-ops serve` after its first health check, and after
# one recovery-point validation (a restore drill that parses every store).
# Output: a table on stdout, the same rows in $BENCH_DIR/scale-$DOCS.tsv and a chart of them
# in $BENCH_DIR/scale-$DOCS.svg (bench/scale_chart.py; give it several TSVs for one chart).
set -euo pipefail

DOCS=${DOCS:-2000}
GROW=${GROW:-2}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BENCH_DIR=${BENCH_DIR:-/tmp/lightrag-scale}
GEN=${GEN:-$ROOT/../shared/bench/gen_workspace.py}
BIN=${BIN:-}

command -v restic >/dev/null || { echo "installing restic (Debian package)" >&2; apt-get install -y -qq restic >/dev/null; }
command -v borg >/dev/null || { echo "installing borgbackup (Debian package)" >&2; apt-get install -y -qq borgbackup >/dev/null; }
[ -x /usr/bin/time ] || apt-get install -y -qq time >/dev/null
if [ -z "$BIN" ]; then
  echo "building lightrag-ops (release)..." >&2
  cargo build -q --release --bin lightrag-ops --manifest-path "$ROOT/Cargo.toml"
  BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/lightrag-ops"
fi
BIN=$(realpath "$BIN")

mkdir -p "$BENCH_DIR"
D="$BENCH_DIR/run"; rm -rf "$D"; mkdir -p "$D"
WORK="$D/rag_storage"; WS="$WORK/bench"
echo "generating a $DOCS-doc workspace..." >&2
python3 "$GEN" --out "$WS" --docs "$DOCS" -q
sync

export RESTIC_PASSWORD=bench RESTIC_CACHE_DIR="$D/restic-cache" RESTIC_REPOSITORY="$D/repo-restic"
export BORG_PASSPHRASE=bench BORG_REPO="$D/repo-borg" BORG_BASE_DIR="$D/borg-base" BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK=yes
# Ours: the binary with this run's configuration only (no inherited LIGHTRAG_* variable).
for v in $(env | grep -o '^LIGHTRAG_[A-Z_]*' || true); do unset "$v"; done
export LIGHTRAG_WORKING_DIR="$WORK" LIGHTRAG_BACKUP_STORAGE="$D/repo-ours" \
  LIGHTRAG_RECOVERY_DB_URL="sqlite:///$D/catalog.db" RUST_LOG=warn \
  LIGHTRAG_BACKUP_SETTLE=0s  # restic and borg do not wait for a quiet folder either
printf '#!/bin/sh\nexec %q --env-file /dev/null "$@"\n' "$BIN" > "$D/ours" && chmod +x "$D/ours"
ours() { "$D/ours" "$@"; }

RESULTS="$BENCH_DIR/scale-$DOCS.tsv"; : > "$RESULTS"
warm() { cat "$WS"/* > /dev/null; }
size() { du -sb "$1" | cut -f1; }
# run TOOL STEP CMD...: records "tool step wall rss_kb"
run() {
  local tool=$1 step=$2; shift 2
  /usr/bin/time -o "$D/time.txt" -f "%e %M" "$@" > "$D/out.txt" 2>&1 \
    || { cat "$D/out.txt" >&2; echo "$tool $step failed" >&2; exit 1; }
  read -r wall rss < "$D/time.txt"
  printf '%s\t%s\t%s\t%s\n' "$tool" "$step" "$wall" "$rss" >> "$RESULTS"
}

restic init -q >/dev/null
borg init -e none "$BORG_REPO" >/dev/null 2>&1
cd "$WORK"  # restic and borg store paths relative to here

warm; run ours first "$D/ours" backup bench
warm; run restic first restic backup -q bench
warm; run borg first borg create --compression zstd,3 ::first bench
before_ours=$(size "$D/repo-ours"); before_restic=$(size "$RESTIC_REPOSITORY"); before_borg=$(size "$BORG_REPO")

echo "growing the workspace by $GROW%..." >&2
python3 "$GEN" --out "$WS" --grow "$GROW" -q
sync
warm; run ours incremental "$D/ours" backup bench
warm; run restic incremental restic backup -q bench
warm; run borg incremental borg create --compression zstd,3 ::second bench
added_ours=$(( $(size "$D/repo-ours") - before_ours ))
added_restic=$(( $(size "$RESTIC_REPOSITORY") - before_restic ))
added_borg=$(( $(size "$BORG_REPO") - before_borg ))

snap=$(ours --json snapshots | python3 -c 'import json,sys; s=json.load(sys.stdin); s=s if isinstance(s,list) else s.get("snapshots",s); print(sorted(s,key=lambda x:x["created_at"])[-1]["id"])')
sync
run ours restore sh -c "'$D/ours' restore '$snap' --to '$D/out-ours' && sync"
sync
run restic restore sh -c "restic restore latest --target '$D/out-restic' -q && sync"
sync
mkdir -p "$D/out-borg"
run borg restore sh -c "cd '$D/out-borg' && borg extract ::second && sync"
for t in ours restic borg; do
  f=$(find "$D/out-$t" -name vdb_entities.json | head -n 1)
  cmp -s "$WS/vdb_entities.json" "$f" || { echo "restore mismatch ($t)" >&2; exit 1; }
done

run ours verify "$D/ours" verify --read-data
run restic verify restic check --read-data -q
run borg verify borg check --verify-data "$BORG_REPO"

# The server: RSS after the first health check, then after one recovery-point validation.
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
MPORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
LIGHTRAG_PORT="$PORT" LIGHTRAG_METRICS_PORT="$MPORT" LIGHTRAG_AUTO_BACKUP_INTERVAL=0 \
  LIGHTRAG_BACKUP_ON_CHANGE=false "$BIN" --env-file /dev/null serve > "$D/server.log" 2>&1 &
SRV=$!
trap 'kill $SRV 2>/dev/null || true' EXIT
hwm() { awk '/VmHWM/ {print $2}' "/proc/$SRV/status"; }
rss() { awk '/VmRSS/ {print $2}' "/proc/$SRV/status"; }
for _ in $(seq 600); do
  curl -fs "http://127.0.0.1:$PORT/api/v1/health-dashboard/status" 2>/dev/null | grep -q '"graphs":\[{' && break
  sleep 0.2
done
printf '%s\t%s\t%s\t%s\n' server "start-up health" - "$(hwm)" >> "$RESULTS"
point=$(curl -fs -X POST -H 'Content-Type: application/json' "http://127.0.0.1:$PORT/api/v1/recovery/points" \
  -d '{"graph_ids":["bench"],"description":"scale bench"}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
start=$(date +%s.%N)
curl -fs -X POST "http://127.0.0.1:$PORT/api/v1/recovery/points/$point/validate?wait=true" > "$D/validate.json"
end=$(date +%s.%N)
printf '%s\t%s\t%s\t%s\n' server "validation" "$(echo "$end - $start" | bc)" "$(hwm)" >> "$RESULTS"
sleep 5
printf '%s\t%s\t%s\t%s\n' server "idle after validation (RSS)" - "$(rss)" >> "$RESULTS"
kill $SRV; wait $SRV 2>/dev/null || true; trap - EXIT

python3 - "$RESULTS" "$DOCS" "$(size "$WS")" "$added_ours" "$added_restic" "$added_borg" \
  "$(restic version | cut -d' ' -f2)" "$(borg --version | cut -d' ' -f2)" "$("$BIN" --version | cut -d' ' -f2)" <<'PY'
import sys
rows = [l.split("\t") for l in open(sys.argv[1]).read().splitlines()]
docs, ws, ao, ar, ab, rver, bver, over = sys.argv[2:11]
t = {(r[0], r[1]): r[2:] for r in rows}
print(f"\nworkspace: {docs} docs, {int(ws)/2**20:.0f} MiB after growth; lightrag-ops {over}, restic {rver}, borg {bver}")
print(f"| step | ours (s) | restic (s) | borg (s) | ours/restic | ours/borg | peak RSS ours / restic / borg (MiB) |")
print("|---|---|---|---|---|---|---|")
for step in ["first", "incremental", "restore", "verify"]:
    o, r, b = (t[(k, step)] for k in ("ours", "restic", "borg"))
    ow, rw, bw = float(o[0]), float(r[0]), float(b[0])
    mib = lambda x: int(x[1]) / 1024
    print(f"| {step} | {ow:.2f} | {rw:.2f} | {bw:.2f} | {ow/rw:.2f} | {ow/bw:.2f} | {mib(o):.0f} / {mib(r):.0f} / {mib(b):.0f} |")
ao, ar, ab = int(ao), int(ar), int(ab)
print(f"| bytes added by the incremental (MiB) | {ao/2**20:.1f} | {ar/2**20:.1f} | {ab/2**20:.1f} | {ao/ar:.2f} | {ao/ab:.2f} | |")
for k, v in t.items():
    if k[0] == "server":
        wall = "" if v[0] == "-" else f", {float(v[0]):.2f} s"
        print(f"server, {k[1]}: {int(v[1])/1024:.0f} MiB{wall}")
PY
# The chart: this size alone here; every size run so far with
#   bench/scale_chart.py $BENCH_DIR/scale-*.tsv > docs/scale.svg
python3 "$ROOT/bench/scale_chart.py" "$RESULTS" > "$BENCH_DIR/scale-$DOCS.svg"
echo "chart: $BENCH_DIR/scale-$DOCS.svg" >&2
cd /
[ "${KEEP:-0}" = 1 ] || rm -rf "$D"
