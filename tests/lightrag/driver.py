"""Drives the real LightRAG: one `ainsert` per document into WORKING_DIR/WORKSPACE with the
deterministic fake models of fakes.py, and (with --trace) records every file LightRAG
publishes: LightRAG writes each store to a temp file and publishes it with `os.replace`, so
the on-disk states of the graph are exactly the states after those calls.

Trace lines (JSON): {"ev": "write", "t": wall ns, "file": name, "sha256": ..., "flush": bool,
"doc": n} for each published store file of the graph folder; {"ev": "flush_begin"|"flush_end"}
around LightRAG's multi-store flush (`_insert_done`); {"ev": "insert_begin"|"insert_end",
"doc": n} around each `ainsert`.

    driver.py --working-dir DIR --workspace WS --docs 0:30 [--trace FILE]
              [--llm-delay S] [--embed-delay S] [--pauses S,S,...]
"""

import argparse
import asyncio
import hashlib
import json
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fakes  # noqa: E402


class Tracer:
    def __init__(self, path, folder):
        self.out = open(path, "a", encoding="utf-8")
        self.folder = os.path.realpath(folder)
        self.lock = threading.Lock()
        self.flush = False
        self.doc = None

    def event(self, ev, **kw):
        with self.lock:
            self.out.write(json.dumps({"ev": ev, "t": time.time_ns(), **kw}) + "\n")
            self.out.flush()

    def published(self, dst):
        dst = os.path.realpath(os.fspath(dst))
        if os.path.dirname(dst) != self.folder:
            return
        with open(dst, "rb") as f:
            digest = hashlib.sha256(f.read()).hexdigest()
        self.event(
            "write",
            file=os.path.basename(dst),
            sha256=digest,
            flush=self.flush,
            doc=self.doc,
        )


def install(tracer, llm_delay, embed_delay):
    real_replace = os.replace

    def replace(src, dst, *a, **kw):
        real_replace(src, dst, *a, **kw)
        if tracer is not None:
            tracer.published(dst)

    os.replace = replace

    real_llm, real_embed = fakes.llm, fakes.embed

    async def llm(prompt, **kw):
        if llm_delay:
            await asyncio.sleep(llm_delay)
        return await real_llm(prompt, **kw)

    async def embed(texts, **kw):
        if embed_delay:
            await asyncio.sleep(embed_delay)
        return await real_embed(texts, **kw)

    fakes.llm, fakes.embed = llm, embed

    if tracer is not None:
        from lightrag import LightRAG

        real_done = LightRAG._insert_done

        async def insert_done(self, *a, **kw):
            tracer.flush = True
            tracer.event("flush_begin", doc=tracer.doc)
            try:
                await real_done(self, *a, **kw)
            finally:
                tracer.flush = False
                tracer.event("flush_end", doc=tracer.doc)

        LightRAG._insert_done = insert_done


async def run(args, tracer):
    first, last = (int(x) for x in args.docs.split(":"))
    pauses = [float(p) for p in args.pauses.split(",")] if args.pauses else [0.0]
    rag = fakes.make_rag(args.working_dir, args.workspace)
    await rag.initialize_storages()
    try:
        for n in range(first, last):
            if tracer is not None:
                tracer.doc = n
                tracer.event("insert_begin", doc=n)
            await rag.ainsert(fakes.document(n), ids=[f"doc-{n}"], file_paths=[f"doc-{n}.txt"])
            if tracer is not None:
                tracer.event("insert_end", doc=n)
                tracer.doc = None
            await asyncio.sleep(pauses[n % len(pauses)])
    finally:
        await rag.finalize_storages()


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--working-dir", required=True)
    p.add_argument("--workspace", default="")
    p.add_argument("--docs", required=True, help="FIRST:END (END exclusive)")
    p.add_argument("--trace")
    p.add_argument("--llm-delay", type=float, default=0.0)
    p.add_argument("--embed-delay", type=float, default=0.0)
    p.add_argument("--pauses", default="", help="seconds to wait after document n: list[n % len]")
    args = p.parse_args()
    folder = os.path.join(args.working_dir, args.workspace) if args.workspace else args.working_dir
    os.makedirs(folder, exist_ok=True)
    tracer = Tracer(args.trace, folder) if args.trace else None
    install(tracer, args.llm_delay, args.embed_delay)
    asyncio.run(run(args, tracer))


if __name__ == "__main__":
    main()
