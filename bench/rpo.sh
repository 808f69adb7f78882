#!/usr/bin/env bash
# Recovery point objective of change-triggered backups with the real LightRAG (issue 16):
# RPO per completed LightRAG save (to the repository and to a local replication target), the
# share of snapshots marked consistent that are, and the server's idle CPU and I/O.
#
#   bench/rpo.sh BINARY                        # e.g. target/release/lightrag-ops (builds nothing)
#   DOCS=40 SEED=10 LLM_DELAY=0.5 EMBED_DELAY=0.2 PAUSES=0.2,0.2,3,0.2,8 IDLE=60 bench/rpo.sh BINARY
#   QUIET=1s MIN_INTERVAL=2s MAX_DELAY=30s bench/rpo.sh BINARY   # change-backup settings
#
# Needs the LightRAG venv that scripts/test provisions (~/.cache/lightrag-venv, lightrag-hku
# 1.5.7), or LIGHTRAG_TEST_PYTHON pointing at a Python that has it. Prints one JSON object;
# see the docstring of bench/rpo.py for what each figure is.
set -euo pipefail
[ $# -eq 1 ] || { sed -n '2,12p' "$0" >&2; exit 2; }
[ -x "$1" ] || { echo "bench/rpo.sh: $1 is not an executable lightrag-ops binary" >&2; exit 2; }
PY=${LIGHTRAG_TEST_PYTHON:-$HOME/.cache/lightrag-venv/bin/python}
"$PY" -c 'import importlib.metadata as m; assert m.version("lightrag-hku") == "1.5.7"' 2>/dev/null \
  || { echo "bench/rpo.sh: no lightrag-hku 1.5.7 at $PY: run scripts/test (or set LIGHTRAG_TEST_PYTHON)" >&2; exit 2; }
export PYTHONDONTWRITEBYTECODE=1
exec "$PY" "$(dirname "$0")/rpo.py" "$1"
