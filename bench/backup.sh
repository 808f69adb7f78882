#!/usr/bin/env bash
# Backup benchmark: lightrag-backup vs restic on the same generated LightRAG workspace.
#
#   bench/backup.sh                 # default workspace: 2000 docs (~557 MiB), then --grow 2
#   DOCS=8000 bench/backup.sh       # linear-cost check
#   BENCH_DIR=/path KEEP=1 ...      # where data goes (default /tmp/lightrag-bench); KEEP=1 keeps it
#   MODE=s3 bench/backup.sh         # ours only: local directory vs a local S3 server (s3s-fs on
#                                   # loopback): backup/restore times and requests per backup
#
# Steps, each timed with /usr/bin/time (wall seconds, peak RSS), warm page cache:
#   first backup, incremental backup after `gen_workspace.py --grow 2` (bytes added to the
#   repository), restore of the latest snapshot, verify reading all data
#   (ours: verify --read-data; restic: check --read-data). Prints a table with ratios ours/restic.
set -euo pipefail

DOCS=${DOCS:-2000}
GROW=${GROW:-2}
BENCH_DIR=${BENCH_DIR:-/tmp/lightrag-bench}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
GEN=${GEN:-$ROOT/../shared/bench/gen_workspace.py}
export RESTIC_PASSWORD=bench RESTIC_CACHE_DIR="$BENCH_DIR/restic-cache"

[ "${MODE:-restic}" = s3 ] || command -v restic >/dev/null || { echo "installing restic (Debian package)"; apt-get install -y -qq restic >/dev/null; }
[ -x /usr/bin/time ] || apt-get install -y -qq time >/dev/null

echo "building the bench driver (release)..." >&2
cargo build -q --release --example bench -p lightrag-backup --manifest-path "$ROOT/Cargo.toml"
OURS="$ROOT/target/release/examples/bench"

mkdir -p "$BENCH_DIR"
BASE="$BENCH_DIR/base-$DOCS"
if [ ! -f "$BASE/.complete" ]; then
  echo "generating $DOCS-doc workspace (cached in $BASE)..." >&2
  rm -rf "$BASE"
  python3 "$GEN" --out "$BASE" --docs "$DOCS" -q
  touch "$BASE/.complete"
fi
WS="$BENCH_DIR/ws"; OUR_REPO="$BENCH_DIR/repo-ours"; RESTIC_REPO="$BENCH_DIR/repo-restic"
rm -rf "$WS" "$OUR_REPO" "$RESTIC_REPO" "$BENCH_DIR"/out-* "$RESTIC_CACHE_DIR"
mkdir -p "$WS" && cp -a "$BASE"/*.json "$BASE"/*.graphml "$WS"/
sync

RESULTS="$BENCH_DIR/results.tsv"; : > "$RESULTS"
warm() { cat "$WS"/* > /dev/null; }
size() { du -sb "$1" | cut -f1; }
# run TOOL STEP CMD...: records "tool step wall rss_kb"
run() {
  local tool=$1 step=$2; shift 2
  /usr/bin/time -o "$BENCH_DIR/time.txt" -f "%e %M" "$@" > "$BENCH_DIR/out.txt" 2>&1 \
    || { cat "$BENCH_DIR/out.txt" >&2; echo "$tool $step failed" >&2; exit 1; }
  read -r wall rss < "$BENCH_DIR/time.txt"
  printf '%s\t%s\t%s\t%s\n' "$tool" "$step" "$wall" "$rss" >> "$RESULTS"
}

if [ "${MODE:-restic}" = s3 ]; then
  # Same workspace and steps, two repositories of ours: a local directory and a bucket of an
  # s3s-fs server on loopback (it stores objects as files under $BENCH_DIR/s3-data).
  command -v s3s-fs >/dev/null || { echo "s3s-fs missing: run scripts/test (or cargo install s3s-fs@0.14.1 --locked --features binary)" >&2; exit 1; }
  S3_DATA="$BENCH_DIR/s3-data"; rm -rf "$S3_DATA"; mkdir -p "$S3_DATA/bench"
  PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  export AWS_ACCESS_KEY_ID=bench-access AWS_SECRET_ACCESS_KEY=bench-secret-key-0123456789
  export LIGHTRAG_S3_ENDPOINT="http://127.0.0.1:$PORT" LIGHTRAG_S3_REGION=us-east-1 \
    LIGHTRAG_S3_PATH_STYLE=true LIGHTRAG_S3_ALLOW_HTTP=true
  s3s-fs --host 127.0.0.1 --port "$PORT" --access-key "$AWS_ACCESS_KEY_ID" \
    --secret-key "$AWS_SECRET_ACCESS_KEY" "$S3_DATA" >/dev/null 2>&1 &
  S3_PID=$!
  trap 'kill $S3_PID 2>/dev/null || true' EXIT
  for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break; sleep 0.1; done
  S3_REPO="s3://bench/repo"
  # runj BACKEND STEP CMD...: like run, also keeps the driver's JSON line (requests)
  runj() { run "$@"; printf '%s\t%s\t%s\n' "$1" "$2" "$(tail -n 1 "$BENCH_DIR/out.txt")" >> "$BENCH_DIR/json.tsv"; }
  : > "$BENCH_DIR/json.tsv"
  "$OURS" init "$OUR_REPO" >/dev/null; "$OURS" init "$S3_REPO" >/dev/null
  for b in local s3; do
    repo=$OUR_REPO; [ $b = s3 ] && repo=$S3_REPO
    warm; runj $b first "$OURS" backup "$repo" "$WS" bench
  done
  echo "growing the workspace by $GROW%..." >&2
  python3 "$GEN" --out "$WS" --grow "$GROW" -q; sync
  for b in local s3; do
    repo=$OUR_REPO; [ $b = s3 ] && repo=$S3_REPO
    warm; runj $b incremental "$OURS" backup "$repo" "$WS" bench
    warm; runj $b unchanged "$OURS" backup "$repo" "$WS" bench
    runj $b restore "$OURS" restore "$repo" "$BENCH_DIR/out-$b" bench
    cmp -s "$WS/vdb_entities.json" "$BENCH_DIR/out-$b/vdb_entities.json" || { echo "restore mismatch ($b)" >&2; exit 1; }
  done
  python3 - "$BENCH_DIR/json.tsv" "$DOCS" "$(size "$WS")" "$(size "$OUR_REPO")" "$(size "$S3_DATA/bench")" <<'PY'
import json, sys
rows = [l.split("\t", 2) for l in open(sys.argv[1]).read().splitlines()]
j = {(b, s): json.loads(x) for b, s, x in rows}
docs, ws, lrepo, srepo = sys.argv[2:6]
print(f"\nworkspace: {docs} docs, {int(ws)/1e6:.1f} MB after growth; repo local {int(lrepo)/1e6:.1f} MB, s3 {int(srepo)/1e6:.1f} MB")
print(f"{'step':<14}{'local (s)':>11}{'s3 (s)':>10}{'ratio':>8}{'s3 requests':>13}")
for step in ["first", "incremental", "unchanged", "restore"]:
    l, s = j[("local", step)], j[("s3", step)]
    print(f"{step:<14}{l['wall_s']:>11.2f}{s['wall_s']:>10.2f}{s['wall_s'] / l['wall_s']:>8.2f}{s['requests']:>13}")
PY
  [ "${KEEP:-0}" = 1 ] || rm -rf "$WS" "$OUR_REPO" "$S3_DATA" "$BENCH_DIR"/out-*
  exit 0
fi

"$OURS" init "$OUR_REPO" >/dev/null
restic -r "$RESTIC_REPO" init -q >/dev/null

warm; run ours first "$OURS" backup "$OUR_REPO" "$WS" bench
warm; run restic first restic -r "$RESTIC_REPO" backup -q "$WS"
ours_before=$(size "$OUR_REPO"); restic_before=$(size "$RESTIC_REPO")

echo "growing the workspace by $GROW%..." >&2
python3 "$GEN" --out "$WS" --grow "$GROW" -q
sync  # the generator's dirty pages must not be written back during the timed steps
warm; run ours incremental "$OURS" backup "$OUR_REPO" "$WS" bench
warm; run restic incremental restic -r "$RESTIC_REPO" backup -q "$WS"
ours_added=$(( $(size "$OUR_REPO") - ours_before )); restic_added=$(( $(size "$RESTIC_REPO") - restic_before ))

run ours restore "$OURS" restore "$OUR_REPO" "$BENCH_DIR/out-ours" bench
run restic restore restic -r "$RESTIC_REPO" restore latest --target "$BENCH_DIR/out-restic" -q
cmp -s "$WS/vdb_entities.json" "$BENCH_DIR/out-ours/vdb_entities.json" || { echo "restore mismatch" >&2; exit 1; }

run ours verify "$OURS" verify "$OUR_REPO"
run restic verify restic -r "$RESTIC_REPO" check --read-data -q

python3 - "$RESULTS" "$ours_added" "$restic_added" "$DOCS" "$(size "$WS")" "$(restic version | cut -d' ' -f2)" "$(size "$OUR_REPO")" "$(size "$RESTIC_REPO")" <<'PY'
import sys
rows = [l.split("\t") for l in open(sys.argv[1]).read().splitlines()]
ours_added, restic_added, docs, ws, rver, orepo, rrepo = sys.argv[2:9]
t = {(r[0], r[1]): (float(r[2]), int(r[3]) / 1024) for r in rows}
print(f"\nworkspace: {docs} docs, {int(ws)/1e6:.1f} MB after growth; restic {rver}")
print(f"{'step':<24}{'ours':>12}{'restic':>12}{'ratio':>8}")
for step in ["first", "incremental", "restore", "verify"]:
    o, r = t[("ours", step)][0], t[("restic", step)][0]
    print(f"{step + ' wall (s)':<24}{o:>12.2f}{r:>12.2f}{o / r:>8.2f}")
o, r = int(ours_added) / 1e6, int(restic_added) / 1e6
print(f"{'incremental added (MB)':<24}{o:>12.1f}{r:>12.1f}{o / r:>8.2f}")
print(f"{'repository total (MB)':<24}{int(orepo)/1e6:>12.1f}{int(rrepo)/1e6:>12.1f}{int(orepo)/int(rrepo):>8.2f}")
for step in ["first", "incremental", "restore", "verify"]:
    o, r = t[("ours", step)][1], t[("restic", step)][1]
    print(f"{'peak RSS ' + step + ' (MiB)':<24}{o:>12.1f}{r:>12.1f}{o / r:>8.2f}")
PY
[ "${KEEP:-0}" = 1 ] || rm -rf "$WS" "$OUR_REPO" "$RESTIC_REPO" "$BENCH_DIR"/out-* "$RESTIC_CACHE_DIR"
