#!/usr/bin/env bash
# Server memory under load (issue 15): `lightrag-ops serve` on one generated graph of about
# 80 MB, then 200 concurrent HTTP clients for 30 s (wrk, keep-alive, a mix of the dashboard,
# health, listing, event and stats endpoints) while backups of the graph run back to back
# through the API (the graph grows 1 % before each). VmRSS is sampled every 0.5 s.
#
#   bench/load.sh BINARY                       # 300 docs (~85 MB), 200 clients, 30 s
#   DOCS=300 CLIENTS=200 SECS=30 bench/load.sh BINARY
#
# Prints: RSS before the load, peak RSS during it (VmHWM), RSS 5 s and 30 s after it, the
# requests served and how many were not 2xx, and the backups completed during the load.
set -euo pipefail
BIN=$(realpath "$1")
DOCS=${DOCS:-300}; CLIENTS=${CLIENTS:-200}; SECS=${SECS:-30}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
GEN=${GEN:-$ROOT/../shared/bench/gen_workspace.py}
command -v wrk >/dev/null || { echo "installing wrk (Debian package)" >&2; apt-get install -y -qq wrk >/dev/null; }

D=$(mktemp -d /tmp/lightrag-load.XXXXXX)
WS="$D/rag_storage/bench"
python3 "$GEN" --out "$WS" --docs "$DOCS" -q
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
PORT=$(port); MPORT=$(port)
for v in $(env | grep -o '^LIGHTRAG_[A-Z_]*' || true); do unset "$v"; done
LIGHTRAG_WORKING_DIR="$D/rag_storage" LIGHTRAG_BACKUP_STORAGE="$D/repo" \
  LIGHTRAG_RECOVERY_DB_URL="sqlite:///$D/catalog.db" RUST_LOG=warn LIGHTRAG_BACKUP_SETTLE=0s \
  LIGHTRAG_PORT="$PORT" LIGHTRAG_METRICS_PORT="$MPORT" LIGHTRAG_AUTO_BACKUP_INTERVAL=0 \
  LIGHTRAG_BACKUP_ON_CHANGE=false "$BIN" --env-file /dev/null serve > "$D/server.log" 2>&1 &
SRV=$!
cleanup() { kill "$SRV" 2>/dev/null || true; [ -n "${BK:-}" ] && kill "$BK" 2>/dev/null; rm -rf "$D"; }
trap cleanup EXIT
rss() { awk '/VmRSS/ {print $2}' "/proc/$SRV/status"; }
hwm() { awk '/VmHWM/ {print $2}' "/proc/$SRV/status"; }
URL="http://127.0.0.1:$PORT"
for _ in $(seq 600); do
  # Captured first: `curl | grep -q` under pipefail fails when grep exits before curl is done.
  st=$(curl -fs "$URL/api/v1/health-dashboard/status" 2>/dev/null || true)
  case $st in *'"graphs":[{'*) break ;; esac
  sleep 0.2
done
# One backup first, so listings, stats and the dashboard have something to show.
curl -fs -X POST "$URL/api/v1/graphs/bench/backups?wait=true" > /dev/null
sleep 5
before=$(rss)

cat > "$D/mix.lua" <<'LUA'
local paths = {
  "/health", "/health/graphs/bench", "/api/v1/health-dashboard/status", "/api/v1/backups",
  "/api/v1/backups/stats", "/api/v1/events?limit=100", "/api/v1/events/analytics",
  "/api/v1/graphs", "/api/v1/jobs", "/readyz", "/api/v1/health-dashboard/backups/summary",
}
local i = 0
request = function()
  i = i + 1
  return wrk.format("GET", paths[(i % #paths) + 1])
end
LUA
# Backups back to back while the clients run.
(
  end=$(( $(date +%s) + SECS ))
  while [ "$(date +%s)" -lt "$end" ]; do
    python3 "$GEN" --out "$WS" --grow 1 -q
    curl -fs -X POST "$URL/api/v1/graphs/bench/backups?wait=true" > /dev/null && echo ok >> "$D/backups"
  done
) &
BK=$!
(
  peak=0
  end=$(( $(date +%s) + SECS + 2 ))
  while [ "$(date +%s)" -lt "$end" ]; do r=$(rss); [ "$r" -gt "$peak" ] && peak=$r; sleep 0.5; done
  echo "$peak" > "$D/peak"
) &
SAMPLER=$!
wrk -t2 -c"$CLIENTS" -d"${SECS}s" --latency -s "$D/mix.lua" "$URL" > "$D/wrk.txt" 2>&1 || true
wait "$BK" || true; BK=
wait "$SAMPLER"
sleep 5; after5=$(rss)
sleep 25; after30=$(rss)
reqs=$(awk '/requests in/ {print $1}' "$D/wrk.txt")
non2xx=$(awk '/Non-2xx/ {print $NF}' "$D/wrk.txt"); non2xx=${non2xx:-0}
errors=$(awk '/Socket errors/ {print $0}' "$D/wrk.txt")
rate=$(awk '/Requests\/sec/ {print $2}' "$D/wrk.txt")
p99=$(awk '/ 99%/ {print $2}' "$D/wrk.txt")
echo "lightrag-ops $("$BIN" --version | cut -d' ' -f2): $DOCS docs ($(du -sm "$WS" | cut -f1) MiB), $CLIENTS clients, ${SECS} s"
echo "RSS before load: $((before / 1024)) MiB; peak sampled during load: $(( $(cat "$D/peak") / 1024 )) MiB (VmHWM $(( $(hwm) / 1024 )) MiB)"
echo "RSS 5 s after: $((after5 / 1024)) MiB; 30 s after: $((after30 / 1024)) MiB"
echo "requests: $reqs ($rate/s, p99 $p99), non-2xx: $non2xx ${errors:+; $errors}; backups completed during load: $(wc -l < "$D/backups" 2>/dev/null || echo 0)"
