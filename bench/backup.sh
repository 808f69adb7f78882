#!/usr/bin/env bash
# Backup benchmark: lightrag-backup vs restic on the same generated LightRAG workspace.
#
#   bench/backup.sh                 # default workspace: 2000 docs (~557 MiB), then --grow 2
#   DOCS=8000 bench/backup.sh       # linear-cost check
#   BENCH_DIR=/path KEEP=1 ...      # where data goes (default /tmp/lightrag-bench); KEEP=1 keeps it
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

command -v restic >/dev/null || { echo "installing restic (Debian package)"; apt-get install -y -qq restic >/dev/null; }
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
