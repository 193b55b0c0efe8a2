"""The knowledge index's engines side by side: qdrant-client's local mode (the embedded index
before Qdrant Edge) against Qdrant Edge as the project configures it (engine.py), on dense
vectors: build time (inserts, then Edge's HNSW optimisation), query p50/p95 (one query at a
time), recall@5 against exact search (numpy, brute force) and the index's size on disk.

Vectors are random (Gaussian, unit length): the hardest case for an HNSW graph, with no
clusters to follow, so real embeddings do at least as well. Edge is also searched at other
``--ef`` values (the graph is built once per size).

    python perf/bench_index_engines.py --sizes 2000 20000 200000 --local-max 20000
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def vectors(n: int, dim: int, seed: int) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def exact_top(data: np.ndarray, queries: np.ndarray, k: int) -> list[set]:
    return [set(np.argsort(-(data @ q))[:k].tolist()) for q in queries]


def disk_mb(path: Path) -> float:
    out = subprocess.run(["du", "-sk", str(path)], capture_output=True, text=True, check=True)
    return round(int(out.stdout.split()[0]) / 1024, 1)


def timed_queries(search, queries: np.ndarray, k: int, truth: list[set]) -> dict:
    times, found = [], 0
    for q, gold in zip(queries, truth, strict=True):
        t0 = time.perf_counter()
        ids = search(q, k)
        times.append(time.perf_counter() - t0)
        found += len(gold & set(ids))
    cuts = statistics.quantiles(times, n=20)
    return {
        "p50_ms": round(statistics.median(times) * 1000, 2),
        "p95_ms": round(cuts[18] * 1000, 2),
        "recall@5": round(found / (k * len(queries)), 4),
    }


def run_local(work: Path, data: np.ndarray, queries, truth, k: int) -> dict:
    from qdrant_client import QdrantClient, models

    client = QdrantClient(path=str(work / "local"))
    client.create_collection(
        "p", vectors_config=models.VectorParams(size=data.shape[1], distance=models.Distance.COSINE)
    )
    t0 = time.perf_counter()
    for s in range(0, len(data), 256):
        chunk = data[s : s + 256]
        client.upsert(
            "p", points=models.Batch(ids=list(range(s, s + len(chunk))), vectors=chunk.tolist())
        )
    build = time.perf_counter() - t0

    def search(q, k):
        return [p.id for p in client.query_points("p", query=q.tolist(), limit=k).points]

    row = {"engine": "local mode", "build_s": round(build, 1), "optimize_s": 0.0}
    row |= timed_queries(search, queries, k, truth)
    client.close()
    return row | {"disk_mb": disk_mb(work / "local")}


def run_edge(work: Path, data: np.ndarray, queries, truth, k: int, efs: list[int], hnsw) -> list:
    from cmoe.methods.kard.knowledge import KnowledgeSettings
    from cmoe.methods.kard.knowledge.engine import DENSE, EdgeStore

    settings = KnowledgeSettings(retriever="dense")
    if hnsw[0]:
        settings.hnsw_m = hnsw[0]
    if hnsw[1]:
        settings.hnsw_ef_construct = hnsw[1]
    store = EdgeStore(work / "edge" / "shard", settings, create=(data.shape[1], False))
    t0 = time.perf_counter()
    for s in range(0, len(data), 256):
        chunk = data[s : s + 256]
        store.upsert([(s + i, {DENSE: v.tolist()}, {}) for i, v in enumerate(chunk)])
    store.flush()
    insert = time.perf_counter() - t0
    t0 = time.perf_counter()
    store.optimize()
    optimize = time.perf_counter() - t0
    store.close()
    size = disk_mb(work / "edge")
    store = EdgeStore(work / "edge" / "shard", settings)  # opened as a job opens it
    rows = []
    for ef in efs:
        store.settings.search_ef = ef

        def search(q, k):
            return _ids(store, q, k)

        name = f"Edge (m {settings.hnsw_m}, ef_construct {settings.hnsw_ef_construct}, ef {ef})"
        row = {"engine": name, "build_s": round(insert + optimize, 2)}
        row |= {"optimize_s": round(optimize, 2)} | timed_queries(search, queries, k, truth)
        rows.append(row | {"disk_mb": size})
    store.close()
    return rows


def _ids(store, q, k):
    """The shard's search with the project's HNSW settings, ids only (no payload to read)."""
    import qdrant_edge as qe

    params = qe.SearchParams(hnsw_ef=max(store.settings.search_ef, k))
    req = qe.QueryRequest(limit=k, query=qe.Query.Nearest(q.tolist(), using="dense"), params=params)
    return [p.id for p in store.shard.query(req)]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[2000, 20000, 200000])
    p.add_argument("--local-max", type=int, default=20000, help="largest size for local mode")
    p.add_argument("--dim", type=int, default=64)
    p.add_argument("--queries", type=int, default=200)
    p.add_argument("--ef", type=int, nargs="+", default=[128, 256, 512])
    p.add_argument("--m", type=int, default=0, help="HNSW m (0: knowledge.hnsw_m)")
    p.add_argument("--ef-construct", type=int, default=0, help="(0: knowledge.hnsw_ef_construct)")
    p.add_argument("--engines", nargs="+", choices=["edge", "local"], default=["edge", "local"])
    args = p.parse_args()
    k = 5
    for n in args.sizes:
        work = Path(tempfile.mkdtemp(prefix="cmoe-bench-engines-"))
        data, queries = vectors(n, args.dim, 0), vectors(args.queries, args.dim, 1)
        truth = exact_top(data, queries, k)
        rows = (
            run_edge(work, data, queries, truth, k, args.ef, (args.m, args.ef_construct))
            if "edge" in args.engines
            else []
        )
        if n <= args.local_max and "local" in args.engines:
            rows.append(run_local(work, data, queries, truth, k))
        for row in rows:
            print(json.dumps({"passages": n} | row), flush=True)
        shutil.rmtree(work)


if __name__ == "__main__":
    sys.exit(main())
