#!/usr/bin/env python3
"""CPU cost of Prometheus scrapes of the server, expressed as overhead at a 15 s interval.

usage: bench/metrics_overhead.py BINARY [GRAPHS] [SCRAPES]
Starts BINARY with GRAPHS copies of a real fixture (and health checks / auto backups off), lets
it settle, then measures the process's CPU time (utime+stime from /proc) over an idle window
and over a window of the same length with SCRAPES scrapes spaced 5.1 s apart (each scrape then
refreshes the gauges from the catalog, as at a 15 s scrape interval).
"""
import os, shutil, socket, subprocess, sys, tempfile, time, urllib.request

binary = sys.argv[1]
graphs = int(sys.argv[2]) if len(sys.argv) > 2 else 100
scrapes = int(sys.argv[3]) if len(sys.argv) > 3 else 10
here = os.path.dirname(os.path.abspath(__file__))
fixture = os.path.join(here, "..", "..", "shared", "fixtures", "lightrag-real", "adamaslan-dickens")
tick = os.sysconf("SC_CLK_TCK")

def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p

def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / tick

tmp = tempfile.mkdtemp()
work = os.path.join(tmp, "rag_storage")
os.makedirs(work)
for i in range(graphs):
    shutil.copytree(fixture, os.path.join(work, f"g{i:03d}"))
port, mport = free_port(), free_port()
env = dict(os.environ, LIGHTRAG_WORKING_DIR=work, LIGHTRAG_BACKUP_STORAGE=os.path.join(tmp, "repo"),
           LIGHTRAG_RECOVERY_DB_URL="sqlite:///" + os.path.join(tmp, "cat.db"),
           LIGHTRAG_PORT=str(port), LIGHTRAG_METRICS_PORT=str(mport),
           LIGHTRAG_AUTO_BACKUP_INTERVAL="0", LIGHTRAG_HEALTH_CHECK_INTERVAL="0",
           LIGHTRAG_VERIFY_INTERVAL="0", LIGHTRAG_RETENTION_INTERVAL="0", RUST_LOG="warn")
p = subprocess.Popen([binary], env=env, cwd=tmp, stderr=subprocess.DEVNULL)
try:
    time.sleep(3)
    url = f"http://127.0.0.1:{mport}/metrics"
    size = len(urllib.request.urlopen(url).read())
    window = scrapes * 5.1
    c0 = cpu_seconds(p.pid); time.sleep(window); idle = cpu_seconds(p.pid) - c0
    c0 = cpu_seconds(p.pid); t0 = time.monotonic(); lat = []
    for _ in range(scrapes):
        s = time.monotonic(); urllib.request.urlopen(url).read(); lat.append((time.monotonic() - s) * 1000)
        time.sleep(5.1)
    busy = cpu_seconds(p.pid) - c0
    per_scrape = max(busy - idle, 0) / scrapes
    print(f"graphs={graphs} scrape size {size/1024:.0f} KiB; scrape latency median {sorted(lat)[len(lat)//2]:.1f} ms, "
          f"max {max(lat):.1f} ms; CPU per scrape {per_scrape*1000:.1f} ms "
          f"(idle {idle:.2f} s vs {busy:.2f} s over {window:.0f} s) = {per_scrape/15*100:.3f} % of one core at a 15 s interval")
finally:
    p.terminate(); p.wait(timeout=30); shutil.rmtree(tmp)
