"""Checks restored LightRAG graph folders: each opens with the real LightRAG (counts read
through its storages), the cross-store invariants of one save hold, and -- given the driver's
trace -- which on-disk state of the run the folder holds.

    check.py [--trace FILE] [--final DIR] DIR...

Prints one JSON object: {"final": {...}, "results": [{...} per DIR]}. Per folder:
  files       {store file: sha256}
  opened      true when LightRAG initialised its storages on it and read every count
  counts      what LightRAG read (docs per status, chunks, entities, relations, vectors)
  violations  broken cross-store invariants (I1-I5 below), [] when none
  state       "boundary": exactly a state LightRAG left on disk outside a multi-store write
              (its flush, `_insert_done`, or the recovery anchors full_entities+full_relations);
              "mid_save": exactly a state inside one; "never": no state of the run
              (only with --trace)
  state_doc   for "boundary"/"mid_save": the document being inserted at that state (or null)
  state_t, state_index  when that state began (wall ns) and its position in the run

Invariants (P: processed docs, R: processing docs of doc_status):
  I1 doc_status ids are full_docs keys
  I2 chunks of P are text_chunks keys, and text_chunks keys are chunks of P or R
     (with R empty: text_chunks count == sum of chunks_count over P)
  I3 vdb_chunks ids == text_chunks keys
  I4 vdb_entities count == graph nodes, I5 vdb_relationships count == graph edges
"""

import argparse
import asyncio
import hashlib
import json
import os
import sys
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

STORES = [
    "kv_store_full_docs.json",
    "kv_store_doc_status.json",
    "kv_store_text_chunks.json",
    "kv_store_full_entities.json",
    "kv_store_full_relations.json",
    "kv_store_entity_chunks.json",
    "kv_store_relation_chunks.json",
    "kv_store_llm_response_cache.json",
    "vdb_entities.json",
    "vdb_relationships.json",
    "vdb_chunks.json",
    "graph_chunk_entity_relation.graphml",
]


def hashes(folder):
    out = {}
    for name in STORES:
        p = os.path.join(folder, name)
        if os.path.isfile(p):
            with open(p, "rb") as f:
                out[name] = hashlib.sha256(f.read()).hexdigest()
    return out


def load(folder, name, default):
    p = os.path.join(folder, name)
    if not os.path.isfile(p):
        return default
    with open(p, encoding="utf-8") as f:
        return json.load(f)


def vdb_ids(folder, name):
    return {r["__id__"] for r in load(folder, name, {}).get("data", [])}


def graph_counts(folder):
    p = os.path.join(folder, "graph_chunk_entity_relation.graphml")
    if not os.path.isfile(p):
        return 0, 0
    root = ET.parse(p).getroot()
    ns = "{http://graphml.graphdrawing.org/xmlns}"
    g = root.find(f"{ns}graph")
    return len(g.findall(f"{ns}node")), len(g.findall(f"{ns}edge"))


def invariants(folder):
    status = load(folder, "kv_store_doc_status.json", {})
    full_docs = load(folder, "kv_store_full_docs.json", {})
    chunks = set(load(folder, "kv_store_text_chunks.json", {}))
    processed = {k: v for k, v in status.items() if v.get("status") == "processed"}
    processing = {k: v for k, v in status.items() if v.get("status") == "processing"}
    v = []
    missing = sorted(set(status) - set(full_docs))
    if missing:
        v.append(f"I1 doc_status ids without full_docs: {missing}")
    done = {c for d in processed.values() for c in d.get("chunks_list", [])}
    maybe = done | {c for d in processing.values() for c in d.get("chunks_list", [])}
    if not done <= chunks:
        v.append(f"I2 {len(done - chunks)} chunks of processed docs missing from text_chunks")
    if not chunks <= maybe:
        v.append(f"I2 {len(chunks - maybe)} text_chunks of no processed/processing doc")
    want = sum(d.get("chunks_count", 0) for d in processed.values())
    if not processing and len(chunks) != want:
        v.append(f"I2 text_chunks {len(chunks)} != sum chunks_count of processed {want}")
    vc = vdb_ids(folder, "vdb_chunks.json")
    if vc != chunks:
        v.append(f"I3 vdb_chunks {len(vc)} != text_chunks {len(chunks)}")
    nodes, edges = graph_counts(folder)
    ve = len(vdb_ids(folder, "vdb_entities.json"))
    vr = len(vdb_ids(folder, "vdb_relationships.json"))
    if ve != nodes:
        v.append(f"I4 vdb_entities {ve} != graph nodes {nodes}")
    if vr != edges:
        v.append(f"I5 vdb_relationships {vr} != graph edges {edges}")
    return v


async def open_with_lightrag(folder):
    import fakes

    rag = fakes.make_rag(folder)
    await rag.initialize_storages()
    try:
        status = await rag.doc_status.get_status_counts()
        chunk_ids = list(load(folder, "kv_store_text_chunks.json", {}))
        unknown = await rag.text_chunks.filter_keys(set(chunk_ids))
        vectors = [r for r in await rag.chunks_vdb.get_by_ids(chunk_ids) if r]
        nodes = await rag.chunk_entity_relation_graph.get_all_nodes()
        edges = await rag.chunk_entity_relation_graph.get_all_edges()
        # A chunk's own text finds that chunk: the vectors are readable and searchable.
        first = await rag.text_chunks.get_by_id(chunk_ids[0]) if chunk_ids else None
        hits = await rag.chunks_vdb.query(first["content"], top_k=3) if first else []
        return {
            "status": status,
            "text_chunks": len(chunk_ids) - len(unknown),
            "chunk_vectors": len(vectors),
            "nodes": len(nodes),
            "edges": len(edges),
            "query_hits": len(hits),
        }
    finally:
        await rag.finalize_storages()


def read_trace(path):
    """The on-disk states of the run: (hashes, class, doc) after each published file."""
    events = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if line:
                events.append(json.loads(line))
    writes = [e for e in events if e["ev"] == "write"]
    states, cur = [], {}
    for i, w in enumerate(writes):
        cur = dict(cur)
        cur[w["file"]] = w["sha256"]
        nxt = writes[i + 1] if i + 1 < len(writes) else None
        # Inside a flush every state but the last is mid-save; the recovery anchors are a pair.
        mid = (w["flush"] and nxt is not None and nxt["flush"] and nxt["doc"] == w["doc"]
               and not any(e["ev"] == "flush_end" and w["t"] <= e["t"] <= nxt["t"] for e in events))
        mid = mid or (not w["flush"] and w["file"] == "kv_store_full_entities.json" and nxt is not None
                      and nxt["file"] == "kv_store_full_relations.json")
        states.append((cur, "mid_save" if mid else "boundary", w["doc"], w["t"]))
    return states


def classify(files, states):
    """(class, doc, time, index) of the first state equal to `files` (a boundary preferred)."""
    found = None
    for i, (st, kind, doc, t) in enumerate(states):
        if st == files:
            if kind == "boundary":
                return kind, doc, t, i
            found = found or (kind, doc, t, i)
    return found or ("never", None, None, None)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--trace")
    p.add_argument("--final")
    p.add_argument("dirs", nargs="*")
    args = p.parse_args()
    states = read_trace(args.trace) if args.trace else None
    out = {"results": []}
    if args.final:
        out["final"] = hashes(args.final)
    for d in args.dirs:
        r = {"dir": d, "files": hashes(d)}
        r["violations"] = invariants(d)
        try:
            r["counts"] = asyncio.run(open_with_lightrag(d))
            r["opened"] = True
        except Exception as e:  # reported, judged by the caller
            r["opened"] = False
            r["error"] = f"{type(e).__name__}: {e}"
        if states is not None:
            r["state"], r["state_doc"], r["state_t"], r["state_index"] = classify(
                r["files"], states
            )
        out["results"].append(r)
    if states is not None:
        out["states"] = len(states)
    json.dump(out, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
