#!/usr/bin/env python3
"""Start-up time (process start → first 200 on /livez and /readyz) and idle RSS of the server.

usage: bench/startup.py BINARY [GRAPHS] [RUNS]
Creates GRAPHS copies of a real LightRAG fixture (../shared/fixtures) as workspaces in a temp
working dir, a fresh SQLite catalog and repository, then starts BINARY RUNS times.
"""
import os, shutil, socket, subprocess, sys, tempfile, time, urllib.request

binary = sys.argv[1]
graphs = int(sys.argv[2]) if len(sys.argv) > 2 else 0
runs = int(sys.argv[3]) if len(sys.argv) > 3 else 5
here = os.path.dirname(os.path.abspath(__file__))
fixture = os.path.join(here, "..", "..", "shared", "fixtures", "lightrag-real", "adamaslan-dickens")

def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p

def first_200(url, deadline):
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1) as r:
                if r.status == 200:
                    return time.monotonic()
        except Exception:
            time.sleep(0.002)
    raise SystemExit(f"no 200 from {url}")

def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])

tmp = tempfile.mkdtemp()
work = os.path.join(tmp, "rag_storage")
os.makedirs(work)
for i in range(graphs):
    shutil.copytree(fixture, os.path.join(work, f"g{i:03d}"))
live, ready, rss = [], [], []
for run in range(runs):
    port, mport = free_port(), free_port()
    env = dict(os.environ,
               LIGHTRAG_WORKING_DIR=work,
               LIGHTRAG_BACKUP_STORAGE=os.path.join(tmp, "repo"),
               LIGHTRAG_RECOVERY_DB_URL="sqlite:///" + os.path.join(tmp, "cat.db"),
               LIGHTRAG_PORT=str(port), LIGHTRAG_METRICS_PORT=str(mport),
               LIGHTRAG_AUTO_BACKUP_INTERVAL="0", RUST_LOG="warn")
    t0 = time.monotonic()
    p = subprocess.Popen([binary], env=env, cwd=tmp, stderr=subprocess.DEVNULL)
    try:
        t_live = first_200(f"http://127.0.0.1:{port}/livez", t0 + 30)
        t_ready = first_200(f"http://127.0.0.1:{port}/readyz", t0 + 30)
        live.append((t_live - t0) * 1000); ready.append((t_ready - t0) * 1000)
        time.sleep(5)
        rss.append(rss_kib(p.pid) / 1024)
    finally:
        p.terminate(); p.wait(timeout=30)
med = lambda xs: sorted(xs)[len(xs) // 2]
print(f"graphs={graphs} runs={runs} first-200 /livez median {med(live):.0f} ms (min {min(live):.0f}, max {max(live):.0f}); "
      f"/readyz median {med(ready):.0f} ms; idle RSS after 5 s median {med(rss):.1f} MiB (max {max(rss):.1f})")
shutil.rmtree(tmp)
