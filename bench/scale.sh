#!/usr/bin/env bash
# Scale benchmark (issue 15): the lightrag-ops binary against restic and borg on one generated
# LightRAG workspace, and the server's memory on it. Every step is timed with /usr/bin/time
# (wall seconds, peak RSS) with a warm page cache (the workspace before each backup, each tool's
# repository before its restore and verify); all tools run in this one run, so ratios are
# comparable even on a busy machine. First backup, restore and verify run REPS times (default
# 3; the median wall time is kept, every run's is printed).
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
# The machine's floor for the first backup (tar | zstd -1 -T0 to one file) and for the restore
# (cp -a), both until durable: what no tool storing compressed data can beat here.
# Server steps (ours): peak RSS of `lightrag-ops serve` after its first health check, and after
# one recovery-point validation (a restore drill that parses every store).
# Dashboard steps (ours; DASHBOARD=0 skips them, ONLY=dashboard runs them alone): the server
# with 100 graph folders and a repository of 10 000 snapshots (DASH_GRAPHS, DASH_SNAPSHOTS):
# start-up with an empty and with a full catalog, each dashboard page and API path, the page
# in headless Chromium; wall time and the server's peak RSS.
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
command -v zstd >/dev/null || apt-get install -y -qq zstd >/dev/null
if [ -z "$BIN" ]; then
  echo "building lightrag-ops (release)..." >&2
  cargo build -q --release --bin lightrag-ops --manifest-path "$ROOT/Cargo.toml"
  BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/lightrag-ops"
fi
BIN=$(realpath "$BIN")

mkdir -p "$BENCH_DIR"
D="$BENCH_DIR/run"; rm -rf "$D"; mkdir -p "$D"
WORK="$D/rag_storage"; WS="$WORK/bench"
ONLY=${ONLY:-}  # ONLY=dashboard: the fleet-size dashboard steps alone
added_ours=0 added_restic=0 added_borg=0
if [ "$ONLY" != dashboard ]; then
  echo "generating a $DOCS-doc workspace..." >&2
  python3 "$GEN" --out "$WS" --docs "$DOCS" -q
  sync
fi

export RESTIC_PASSWORD=bench RESTIC_CACHE_DIR="$D/restic-cache" RESTIC_REPOSITORY="$D/repo-restic"
export BORG_PASSPHRASE=bench BORG_REPO="$D/repo-borg" BORG_BASE_DIR="$D/borg-base" BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK=yes
# Ours: the binary with this run's configuration only (no inherited LIGHTRAG_* variable).
for v in $(env | grep -o '^LIGHTRAG_[A-Z_]*' || true); do unset "$v"; done
export LIGHTRAG_WORKING_DIR="$WORK" LIGHTRAG_BACKUP_STORAGE="$D/repo-ours" \
  LIGHTRAG_RECOVERY_DB_URL="sqlite:///$D/catalog.db" RUST_LOG=warn \
  LIGHTRAG_BACKUP_SETTLE=0s  # restic and borg do not wait for a quiet folder either
printf '#!/bin/sh\nexec %q --env-file /dev/null "$@"\n' "$BIN" > "$D/ours" && chmod +x "$D/ours"
ours() { "$D/ours" "$@"; }

RESULTS="$BENCH_DIR/scale-$DOCS.tsv"
[ "$ONLY" != dashboard ] || RESULTS="$BENCH_DIR/scale-dashboard.tsv"
: > "$RESULTS"
warm() { cat "$WS"/* > /dev/null; }
size() { du -sb "$1" | cut -f1; }
# the server's peak and current RSS (KiB)
hwm() { awk '/VmHWM/ {print $2}' "/proc/$SRV/status"; }
rss() { awk '/VmRSS/ {print $2}' "/proc/$SRV/status"; }
# run TOOL STEP CMD...: records "tool step wall rss_kb" (one run)
run() {
  local tool=$1 step=$2; shift 2
  /usr/bin/time -o "$D/time.txt" -f "%e %M" "$@" > "$D/out.txt" 2>&1 \
    || { cat "$D/out.txt" >&2; echo "$tool $step failed" >&2; exit 1; }
  read -r wall rss < "$D/time.txt"
  printf '%s\t%s\t%s\t%s\n' "$tool" "$step" "$wall" "$rss" >> "$RESULTS"
}
# runs TOOL STEP PREP CMD...: REPS runs (default 3), each after the untimed shell snippet PREP
# (a fresh repository, an empty target, a warm cache); records the median wall time and the
# largest peak RSS, and prints every run's wall time on stderr.
REPS=${REPS:-3}
[ "$REPS" -ge 1 ] 2>/dev/null || { echo "REPS must be a whole number >= 1 (odd for a true median)" >&2; exit 1; }
runs() {
  local tool=$1 step=$2 prep=$3 walls=() peak=0; shift 3
  for _ in $(seq "$REPS"); do
    sh -c "$prep" > /dev/null 2>&1 || { echo "$tool $step: preparation failed" >&2; exit 1; }
    /usr/bin/time -o "$D/time.txt" -f "%e %M" "$@" > "$D/out.txt" 2>&1 \
      || { cat "$D/out.txt" >&2; echo "$tool $step failed" >&2; exit 1; }
    read -r wall rss < "$D/time.txt"
    walls+=("$wall"); [ "$rss" -gt "$peak" ] && peak=$rss
  done
  echo "$tool $step: ${walls[*]} s" >&2
  wall=$(printf '%s\n' "${walls[@]}" | sort -n | sed -n "$(( (REPS + 1) / 2 ))p")
  printf '%s\t%s\t%s\t%s\n' "$tool" "$step" "$wall" "$peak" >> "$RESULTS"
}

if [ "$ONLY" != dashboard ]; then
cd "$WORK"  # restic and borg store paths relative to here
W="cat '$WS'/* > /dev/null"
runs ours first "rm -rf '$D/repo-ours' '$D'/catalog.db*; $W" "$D/ours" backup bench
runs restic first "rm -rf '$RESTIC_REPOSITORY'; restic init -q; $W" restic backup -q bench
runs borg first "rm -rf '$BORG_REPO'; borg init -e none '$BORG_REPO'; $W" \
  borg create --compression zstd,3 ::first bench
# The first backup's floor on the same data, with no tool in the way: reading the workspace,
# compressing it once (zstd -1 on every core; no chunking, hashing or deduplication) and
# writing it to one file until durable.
runs floor first "rm -f '$D/floor.tar.zst'; $W" \
  bash -o pipefail -c "tar -C '$WORK' -cf - bench | zstd -q -1 -T0 -o '$D/floor.tar.zst' && sync"
rm -f "$D/floor.tar.zst"
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
# Each tool's repository is read into the page cache before its restore and verify (the
# workspace is before each backup): ours writes packs with O_DIRECT, which leaves them out of
# the cache, while restic's and borg's writes stay in it, so without this the comparison
# would be disk reads against memory.
R() { echo "find '$1' -type f -exec cat {} + > /dev/null"; }
runs ours restore "rm -rf '$D/out-ours'; sync; $(R "$D/repo-ours")" \
  sh -c "'$D/ours' restore '$snap' --to '$D/out-ours' && sync"
runs restic restore "rm -rf '$D/out-restic'; sync; $(R "$RESTIC_REPOSITORY")" \
  sh -c "restic restore latest --target '$D/out-restic' -q && sync"
runs borg restore "rm -rf '$D/out-borg'; mkdir -p '$D/out-borg'; sync; $(R "$BORG_REPO")" \
  sh -c "cd '$D/out-borg' && borg extract ::second && sync"
for t in ours restic borg; do
  f=$(find "$D/out-$t" -name vdb_entities.json | head -n 1)
  cmp -s "$WS/vdb_entities.json" "$f" || { echo "restore mismatch ($t)" >&2; exit 1; }
done

# The restore's floor on the same data: `cp -a` of the workspace until durable (no
# decompression, no verification).
runs floor restore "rm -rf '$D/out-floor'; sync; $W" sh -c "cp -a '$WS' '$D/out-floor' && sync"
rm -rf "$D/out-floor"

runs ours verify "$(R "$D/repo-ours")" "$D/ours" verify --read-data
runs restic verify "$(R "$RESTIC_REPOSITORY")" restic check --read-data -q
runs borg verify "$(R "$BORG_REPO")" borg check --verify-data "$BORG_REPO"

# The server: RSS after the first health check, then after one recovery-point validation.
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
MPORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
LIGHTRAG_PORT="$PORT" LIGHTRAG_METRICS_PORT="$MPORT" LIGHTRAG_AUTO_BACKUP_INTERVAL=0 \
  LIGHTRAG_BACKUP_ON_CHANGE=false "$BIN" --env-file /dev/null serve > "$D/server.log" 2>&1 &
SRV=$!
trap 'kill $SRV 2>/dev/null || true' EXIT
for _ in $(seq 600); do
  # Captured first: `curl | grep -q` under pipefail fails when grep exits before curl is done.
  st=$(curl -fs "http://127.0.0.1:$PORT/api/v1/health-dashboard/status" 2>/dev/null || true)
  case $st in *'"graphs":[{'*) break ;; esac
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
fi

# The dashboard at fleet size: 100 graph folders (small generated workspaces g0..g99) and a
# repository of 10 000 snapshots over them (crates/lightrag-backup/examples/list_bench.rs writes
# them as a writer without the header index would: one real backup, the rest modelled on it), a
# fresh catalog. Timed: start-up until the first health report lists all 100 graphs (it
# reconciles the 10 000 snapshots into the empty catalog), then a restart with the catalog full;
# each page and API path the dashboard serves (median of 5 curl requests), and the page loaded
# in headless Chromium (which must show all 100 graphs). Peak RSS is the server's high-water mark.
if [ "${DASHBOARD:-1}" = 1 ]; then
  DG=${DASH_GRAPHS:-100}; DS=${DASH_SNAPSHOTS:-10000}; export DASH_GRAPHS=$DG DASH_SNAPSHOTS=$DS
  DD="$D/dash"; mkdir -p "$DD/rag_storage"
  LB=${LIST_BENCH:-}
  if [ -z "$LB" ]; then
    echo "building the snapshot writer (release example list_bench)..." >&2
    cargo build -q --release --example list_bench -p lightrag-backup --manifest-path "$ROOT/Cargo.toml"
    LB="${CARGO_TARGET_DIR:-$ROOT/target}/release/examples/list_bench"
  fi
  echo "dashboard: $DG graph folders, $DS snapshots..." >&2
  for i in $(seq 0 $((DG - 1))); do
    python3 "$GEN" --out "$DD/rag_storage/g$i" --docs 10 --seed "$i" -q
  done
  "$LB" "$DD/lb" "$DS" "$DG" 0 >/dev/null
  dash_serve() {
    PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    MPORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    LIGHTRAG_WORKING_DIR="$DD/rag_storage" LIGHTRAG_BACKUP_STORAGE="$DD/lb/repo" \
      LIGHTRAG_RECOVERY_DB_URL="sqlite:///$DD/catalog.db" LIGHTRAG_PORT="$PORT" \
      LIGHTRAG_METRICS_PORT="$MPORT" LIGHTRAG_AUTO_BACKUP_INTERVAL=0 LIGHTRAG_BACKUP_ON_CHANGE=false \
      "$BIN" --env-file /dev/null serve > "$DD/server.log" 2>&1 &
    SRV=$!
    trap 'kill $SRV 2>/dev/null || true' EXIT
    local start end
    start=$(date +%s.%N)
    for _ in $(seq 3000); do
      kill -0 "$SRV" 2>/dev/null || { cat "$DD/server.log" >&2; echo "the dashboard server exited" >&2; exit 1; }
      n=$(curl -fs "http://127.0.0.1:$PORT/api/v1/health-dashboard/status" 2>/dev/null \
        | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["graphs"]))' 2>/dev/null || echo 0)
      [ "$n" -ge "$DG" ] && break
      sleep 0.1
    done
    end=$(date +%s.%N)
    [ "$n" -ge "$DG" ] || { cat "$DD/server.log" >&2; echo "dashboard server never listed $DG graphs" >&2; exit 1; }
    printf '%s\t%s\t%s\t%s\n' dashboard "$1" "$(echo "$end - $start" | bc)" "$(hwm)" >> "$RESULTS"
  }
  # median of 5 requests of one path (seconds, curl's total time); records the peak RSS so far
  dash_get() {
    local name=$1 path=$2 t
    t=$(for _ in 1 2 3 4 5; do
      curl -fs -o "$DD/page.out" -w '%{time_total}\n' "http://127.0.0.1:$PORT$path" \
        || { echo "GET $path failed" >&2; exit 1; }
    done | sort -n | sed -n 3p)
    printf '%s\t%s\t%s\t%s\n' dashboard "$name" "$t" "$(hwm)" >> "$RESULTS"
  }
  dash_serve "start-up, empty catalog (reconciles the snapshots)"
  backups=$(curl -fs "http://127.0.0.1:$PORT/api/v1/backups/stats" | python3 -c 'import json,sys; print(json.load(sys.stdin)["stats"]["snapshots"])')
  [ "$backups" -ge "$DS" ] || { echo "the repository lists $backups snapshots, not $DS" >&2; exit 1; }
  kill $SRV; wait $SRV 2>/dev/null || true
  dash_serve "start-up, catalog full"
  dash_get "GET /health (page)" /health
  grep -c 'href="/health/graphs/g' "$DD/page.out" > "$DD/links" || true
  [ "$(cat "$DD/links")" -ge 1 ] || { echo "the dashboard page links no graph" >&2; exit 1; }
  dash_get "GET /health/graphs/g7 (graph page)" /health/graphs/g7
  dash_get "GET /api/v1/health-dashboard/status" /api/v1/health-dashboard/status
  dash_get "GET /api/v1/health-dashboard/backups/summary" /api/v1/health-dashboard/backups/summary
  dash_get "GET /api/v1/backups (first page)" /api/v1/backups
  dash_get "GET /api/v1/backups/stats" /api/v1/backups/stats
  dash_get "GET /api/v1/graphs" /api/v1/graphs
  dash_get "GET /api/v1/events/analytics" /api/v1/events/analytics
  if command -v chromium >/dev/null; then
    # The browser's own start, for scale: about:blank in the same way.
    prof=$(mktemp -d)
    start=$(date +%s.%N)
    timeout 120 chromium --headless --no-sandbox --disable-gpu --disable-background-networking \
      --disable-component-update --disable-sync --no-first-run --user-data-dir="$prof" \
      --dump-dom about:blank > /dev/null 2>&1 || true
    end=$(date +%s.%N)
    rm -rf "$prof"
    printf '%s\t%s\t%s\t%s\n' dashboard "Chromium on about:blank (browser start alone)" "$(echo "$end - $start" | bc)" "$(hwm)" >> "$RESULTS"
    prof=$(mktemp -d)
    start=$(date +%s.%N)
    timeout 120 chromium --headless --no-sandbox --disable-gpu --disable-background-networking \
      --disable-component-update --disable-sync --no-first-run --user-data-dir="$prof" \
      --dump-dom "http://127.0.0.1:$PORT/health" > "$DD/dom.html" 2>/dev/null
    end=$(date +%s.%N)
    rm -rf "$prof"
    # Every graph: a row linking its page, and a history card (each has backups).
    shown=$( { grep -o 'href="/health/graphs/g[0-9]*"' "$DD/dom.html" || true; } | sort -u | wc -l)
    cards=$( { grep -o 'data-history="g[0-9]*"' "$DD/dom.html" || true; } | sort -u | wc -l)
    [ "$shown" -ge "$DG" ] && [ "$cards" -ge "$DG" ] \
      || { echo "Chromium shows $shown graph links and $cards history cards, not $DG" >&2; exit 1; }
    printf '%s\t%s\t%s\t%s\n' dashboard "page in Chromium (incl. browser start)" "$(echo "$end - $start" | bc)" "$(hwm)" >> "$RESULTS"
  fi
  sleep 5
  printf '%s\t%s\t%s\t%s\n' dashboard "idle 5 s after (RSS)" - "$(rss)" >> "$RESULTS"
  kill $SRV; wait $SRV 2>/dev/null || true; trap - EXIT
fi

python3 - "$RESULTS" "$DOCS" "$( [ -d "$WS" ] && size "$WS" || echo 0)" "$added_ours" "$added_restic" "$added_borg" \
  "$(restic version | cut -d' ' -f2)" "$(borg --version | cut -d' ' -f2)" "$("$BIN" --version | cut -d' ' -f2)" <<'PY'
import sys
rows = [l.split("\t") for l in open(sys.argv[1]).read().splitlines()]
docs, ws, ao, ar, ab, rver, bver, over = sys.argv[2:11]
t = {(r[0], r[1]): r[2:] for r in rows}
if ("ours", "first") in t:
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
  for step, how in [("first", "tar | zstd -1 -T0 to one file"), ("restore", "cp -a")]:
      if ("floor", step) in t:
          f, o, r = (float(t[(k, step)][0]) for k in ("floor", "ours", "restic"))
          print(f"floor, {step} ({how}, until durable): {f:.2f} s = {f/r:.2f} x restic; ours = {o/f:.2f} x the floor")
for k, v in t.items():
    if k[0] == "server":
        wall = "" if v[0] == "-" else f", {float(v[0]):.2f} s"
        print(f"server, {k[1]}: {int(v[1])/1024:.0f} MiB{wall}")
dash = [(k[1], v) for k, v in t.items() if k[0] == "dashboard"]
if dash:
    import os
    print(f"\ndashboard ({os.environ['DASH_GRAPHS']} graphs, {os.environ['DASH_SNAPSHOTS']} snapshots):")
    print("| step | wall | server peak RSS (MiB) |")
    print("|---|---|---|")
    for step, v in dash:
        wall = "" if v[0] == "-" else (f"{float(v[0])*1000:.0f} ms" if float(v[0]) < 1 else f"{float(v[0]):.2f} s")
        print(f"| {step} | {wall} | {int(v[1])/1024:.0f} |")
PY
# The chart: this size alone here; every size run so far with
#   bench/scale_chart.py $BENCH_DIR/scale-*.tsv > docs/scale.svg
if [ "$ONLY" != dashboard ]; then
  python3 "$ROOT/bench/scale_chart.py" "$RESULTS" > "$BENCH_DIR/scale-$DOCS.svg"
  echo "chart: $BENCH_DIR/scale-$DOCS.svg" >&2
fi
cd /
[ "${KEEP:-0}" = 1 ] || rm -rf "$D"
