#!/usr/bin/env bash
# Listing benchmark: 10 000 snapshots over 100 graphs in a local repository, listed from every
# manifest (the former path) and from the snapshot header index (issue 15 #2).
#
#   bench/list.sh                          # 10 000 snapshots, 100 graphs, medians of 5 runs
#   SNAPSHOTS=20000 GRAPHS=200 bench/list.sh
#   CHUNKS=13400 bench/list.sh             # manifests the size of the default 584 MB workspace's
#                                          # (default 1000 chunk ids: a ~32 MB graph)
#   BENCH_DIR=/path KEEP=1 bench/list.sh   # where data goes (default: a temp dir); KEEP=1 keeps it
#   TARGET_DIR=/path bench/list.sh         # cargo target dir (default: the workspace's)
#
# Driver: crates/lightrag-backup/examples/list_bench.rs (release). Prints one JSON line per
# step: wall milliseconds (median), storage GETs and LISTs of one run.
set -euo pipefail

SNAPSHOTS=${SNAPSHOTS:-10000}
GRAPHS=${GRAPHS:-100}
RUNS=${RUNS:-5}
CHUNKS=${CHUNKS:-1000}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TARGET_DIR=${TARGET_DIR:-${CARGO_TARGET_DIR:-$ROOT/target}}

echo "building the list driver (release)..." >&2
CARGO_TARGET_DIR="$TARGET_DIR" cargo build -q --release --example list_bench -p lightrag-backup \
  --manifest-path "$ROOT/Cargo.toml"

BENCH_DIR=${BENCH_DIR:-$(mktemp -d /tmp/lightrag-list-bench.XXXXXX)}
mkdir -p "$BENCH_DIR"
[ -z "$(ls -A "$BENCH_DIR")" ] || { echo "$BENCH_DIR is not empty" >&2; exit 1; }
cleanup() { [ "${KEEP:-0}" = 1 ] || rm -rf "$BENCH_DIR"; }
trap cleanup EXIT

"$TARGET_DIR/release/examples/list_bench" "$BENCH_DIR" "$SNAPSHOTS" "$GRAPHS" "$RUNS" "$CHUNKS"
