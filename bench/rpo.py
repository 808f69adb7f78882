#!/usr/bin/env python3
"""Recovery point objective of change-triggered backups with the real LightRAG (issue 16).

usage: bench/rpo.sh BINARY            (runs this with the LightRAG venv's Python)

Seeds a graph with the real LightRAG (tests/lightrag/driver.py: fake deterministic models with
latency), starts BINARY (`serve`) with LIGHTRAG_BACKUP_ON_CHANGE=true and a local directory
replication target, inserts DOCS more documents one `ainsert` at a time, then measures:

- per completed LightRAG save (the last file written by one `ainsert`): the delay until the
  first snapshot holding every store at least as new as that save has its manifest in the
  repository, and on the replication target (both directories polled every 50 ms);
- the snapshots marked consistent (`consistent` of the catalog row, issue 16 #2) and how many of
  them are: every snapshot is restored with the CLI and compared with the states LightRAG left
  on disk (recorded by the driver) and with the cross-store invariants of tests/lightrag/check.py;
- idle: the server's CPU (utime+stime of /proc/PID/stat) and its read/write syscalls
  (/proc/PID/io) over IDLE seconds with no change, and the storage-request counter before/after.

Environment (defaults): DOCS (40), SEED (10) documents before the server starts, LLM_DELAY (0.5 s
per LLM call), EMBED_DELAY (0.2 s per embedding call), PAUSES ("0.2,0.2,3,0.2,8": seconds between
documents, cycled), IDLE (60), QUIET / MIN_INTERVAL / MAX_DELAY (the server's defaults when
unset: 2s / 10s / 60s), BENCH_DIR (a temp dir; KEEP=1 keeps it).
"""

import datetime as dt
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
LR = os.path.join(HERE, "..", "tests", "lightrag")
sys.path.insert(0, LR)
import check  # noqa: E402

binary = os.path.abspath(sys.argv[1])
DOCS = int(os.environ.get("DOCS", "40"))
SEED = int(os.environ.get("SEED", "10"))
LLM_DELAY = os.environ.get("LLM_DELAY", "0.5")
EMBED_DELAY = os.environ.get("EMBED_DELAY", "0.2")
PAUSES = os.environ.get("PAUSES", "0.2,0.2,3,0.2,8")
IDLE = int(os.environ.get("IDLE", "60"))

base = os.environ.get("BENCH_DIR") or tempfile.mkdtemp(prefix="lightrag-rpo-")
work = os.path.join(base, "rag_storage")
repo = os.path.join(base, "repo")
replica = os.path.join(base, "replica")
trace = os.path.join(base, "trace.jsonl")
for p in (work, repo, replica):
    os.makedirs(p, exist_ok=True)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def driver(docs, extra, log):
    cmd = [sys.executable, os.path.join(LR, "driver.py"), "--working-dir", work,
           "--workspace", "lr", "--docs", docs, "--trace", trace, *extra]
    with open(os.path.join(base, log), "w") as f:
        subprocess.run(cmd, check=True, stderr=f, env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})


print(f"seeding {SEED} documents into {work}/lr ...", file=sys.stderr)
driver(f"0:{SEED}", [], "seed.log")

api, metrics = free_port(), free_port()
env = {k: v for k, v in os.environ.items() if not k.startswith("LIGHTRAG_")}
env.update({
    "LIGHTRAG_PORT": str(api),
    "LIGHTRAG_METRICS_PORT": str(metrics),
    "LIGHTRAG_WORKING_DIR": work,
    "LIGHTRAG_BACKUP_STORAGE": repo,
    "LIGHTRAG_RECOVERY_DB_URL": f"sqlite:///{base}/recovery.db",
    "LIGHTRAG_AUTO_BACKUP_INTERVAL": "0",
    "LIGHTRAG_BACKUP_ON_CHANGE": "true",
    "LIGHTRAG_REPLICATION_ENABLED": "true",
    "LIGHTRAG_REPLICATION_PATH_ROOTS": base,
    "RUST_LOG": "warn",
})
for k in ("QUIET", "MIN_INTERVAL", "MAX_DELAY"):
    if os.environ.get(k):
        env[f"LIGHTRAG_BACKUP_ON_CHANGE_{k}"] = os.environ[k]
settings = {k: env.get(f"LIGHTRAG_BACKUP_ON_CHANGE_{k}", "default") for k in ("QUIET", "MIN_INTERVAL", "MAX_DELAY")}
server_log = open(os.path.join(base, "server.log"), "w")
server = subprocess.Popen([binary, "serve"], env=env, stdout=server_log, stderr=server_log)
URL = f"http://127.0.0.1:{api}"


def call(path, body=None, method=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(URL + path, data=data, method=method or ("POST" if data else "GET"),
                                 headers={"content-type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read() or b"null")


try:
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(URL + "/readyz", timeout=1)
            break
        except Exception:
            if time.monotonic() > deadline or server.poll() is not None:
                raise SystemExit(f"server did not start; see {base}/server.log")
            time.sleep(0.1)
    call("/api/v1/replication/targets", {"name": "local", "spec": {"kind": "path", "path": replica}})

    # When each snapshot's manifest appears in the repository and on the target (polled every
    # 50 ms by the bench; a manifest is written last, after the data it names): the same clock
    # for both, independent of the catalog.
    seen, seen_primary, stop = {}, {}, threading.Event()

    def watch_replica():
        dirs = ((os.path.join(replica, "snapshots", "lr"), seen),
                (os.path.join(repo, "snapshots", "lr"), seen_primary))
        while not stop.is_set():
            for d, into in dirs:
                if os.path.isdir(d):
                    now = time.time_ns()
                    for name in os.listdir(d):
                        into.setdefault(name, now)
            time.sleep(0.05)

    poller = threading.Thread(target=watch_replica, daemon=True)
    poller.start()

    print(f"inserting {DOCS} documents (LLM {LLM_DELAY} s, embedding {EMBED_DELAY} s, pauses {PAUSES}) ...",
          file=sys.stderr)
    t0 = time.monotonic()
    driver(f"{SEED}:{SEED + DOCS}", ["--llm-delay", LLM_DELAY, "--embed-delay", EMBED_DELAY,
                                     "--pauses", PAUSES], "driver.log")
    ingest_s = time.monotonic() - t0

    def settled():
        w = call("/api/v1/workers")["workers"]
        # A running backup has no catalog row before it ends: the worker's state tells.
        idle = any(x["name"] == "change_backup" and not x["running"]
                   and x["detail"].startswith("0 graph") for x in w)
        rows = call("/api/v1/backups?graph_id=lr&limit=1000")["backups"]
        return idle and not any(b["status"] == "running" for b in rows), rows

    deadline = time.monotonic() + 180
    while True:
        ok, rows = settled()
        newest = rows[0]["snapshot_id"] if rows else None
        if ok and newest and newest in seen:
            break
        if time.monotonic() > deadline:
            raise SystemExit("backups/replication did not settle within 180 s")
        time.sleep(0.5)
    time.sleep(2)
    stop.set()
    poller.join()

    # Idle: no change for IDLE seconds.
    def cpu_ticks():
        with open(f"/proc/{server.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])

    def io():
        with open(f"/proc/{server.pid}/io") as f:
            return {k: int(v) for k, v in (line.split(": ") for line in f.read().splitlines())}

    def storage_requests():
        with urllib.request.urlopen(f"http://127.0.0.1:{metrics}/metrics", timeout=10) as r:
            text = r.read().decode()
        return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                   if line.startswith("lightrag_backup_storage_requests_total"))

    req0 = storage_requests()
    backups_before = len(call("/api/v1/backups?graph_id=lr&limit=1000")["backups"])
    print(f"idle for {IDLE} s ...", file=sys.stderr)
    c0, io0, w0 = cpu_ticks(), io(), time.monotonic()
    time.sleep(IDLE)
    c1, io1, w1 = cpu_ticks(), io(), time.monotonic()
    req1 = storage_requests()
    backups_after = len(call("/api/v1/backups?graph_id=lr&limit=1000")["backups"])
    hz = os.sysconf("SC_CLK_TCK")
    idle_cpu = (c1 - c0) / hz / (w1 - w0) * 100

    # What each snapshot holds: restore it with the CLI and compare with the recorded states.
    rows = sorted(call("/api/v1/backups?graph_id=lr&limit=1000")["backups"], key=lambda b: b["created_at"])
    states = check.read_trace(trace)
    writes = []
    with open(trace) as f:
        for line in f:
            e = json.loads(line)
            if e["ev"] == "write":
                writes.append(e)
    snaps = []
    for b in rows:
        sid = b["snapshot_id"]
        to = os.path.join(base, "restored", sid)
        subprocess.run([binary, "--json", "restore", sid, "--to", to], env=env, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        files = check.hashes(to)
        kind, doc, _t, idx = check.classify(files, states)
        # Per file: the newest write whose content the snapshot holds.
        ver = {}
        for j, w in enumerate(writes):
            if files.get(w["file"]) == w["sha256"]:
                ver[w["file"]] = j
        start = dt.datetime.fromisoformat(b["created_at"].replace("Z", "+00:00")).timestamp()
        fin = seen_primary[sid] / 1e9 if sid in seen_primary else None
        rep = seen.get(sid)
        snaps.append({
            "id": sid, "finished": fin, "duration": fin - start if fin else None, "replicated": rep / 1e9 if rep else None,
            "consistent_flag": b.get("consistent"),
            "actual": kind == "boundary" and not check.invariants(to),
            "kind": kind, "ver": ver,
        })

    # Completed saves of the measured run: the last write of each ainsert.
    saves, last_write = [], None
    with open(trace) as f:
        for line in f:
            e = json.loads(line)
            if e["ev"] == "write":
                last_write = e
            if e["ev"] == "insert_end" and e["doc"] >= SEED:
                saves.append(last_write)
    rpo, rpo_rep, missing = [], [], 0
    for s in saves:
        i_s = writes.index(s)
        need = {}
        for j in range(i_s + 1):
            need[writes[j]["file"]] = j
        holder = next((sn for sn in sorted((x for x in snaps if x["finished"]), key=lambda x: x["finished"])
                       if all(sn["ver"].get(f, -1) >= j for f, j in need.items())), None)
        if holder is None:
            missing += 1
            continue
        rpo.append(holder["finished"] - s["t"] / 1e9)
        if holder["replicated"] is not None:
            rpo_rep.append(holder["replicated"] - s["t"] / 1e9)

    marked = [s for s in snaps if s["consistent_flag"] is True]
    flagged = [s for s in snaps if s["consistent_flag"] is not None]
    result = {
        "settings": settings, "docs": DOCS, "seed": SEED, "llm_delay": LLM_DELAY,
        "embed_delay": EMBED_DELAY, "pauses": PAUSES, "ingest_s": round(ingest_s, 1),
        "saves": len(saves), "saves_in_no_snapshot": missing, "snapshots": len(snaps),
        "backup_duration_median_s": round(statistics.median(s["duration"] for s in snaps if s["duration"] is not None), 2),
        "rpo_median_s": round(statistics.median(rpo), 2) if rpo else None,
        "rpo_worst_s": round(max(rpo), 2) if rpo else None,
        "replica_rpo_median_s": round(statistics.median(rpo_rep), 2) if rpo_rep else None,
        "replica_rpo_worst_s": round(max(rpo_rep), 2) if rpo_rep else None,
        "snapshots_with_flag": len(flagged),
        "marked_consistent": len(marked),
        "marked_consistent_actually": sum(1 for s in marked if s["actual"]),
        "actually_consistent": sum(1 for s in snaps if s["actual"]),
        "kinds": {k: sum(1 for s in snaps if s["kind"] == k) for k in ("boundary", "mid_save", "never")},
        "idle_s": round(w1 - w0, 1), "idle_cpu_percent": round(idle_cpu, 4),
        "idle_cpu_ticks": c1 - c0,
        "idle_syscalls_read_write": (io1["syscr"] - io0["syscr"]) + (io1["syscw"] - io0["syscw"]),
        "idle_bytes_read_written": (io1["rchar"] - io0["rchar"]) + (io1["wchar"] - io0["wchar"]),
        "idle_storage_requests": req1 - req0,
        "idle_new_snapshots": backups_after - backups_before,
        "binary": binary,
    }
    print(json.dumps(result, indent=1))
finally:
    server.send_signal(signal.SIGTERM)
    try:
        server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        server.kill()
    if not os.environ.get("KEEP") and not os.environ.get("BENCH_DIR"):
        shutil.rmtree(base, ignore_errors=True)
