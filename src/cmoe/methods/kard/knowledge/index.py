"""The passage index: built in batches, resumable, atomic; searched by BM25 (sparse), dense
vectors, or both fused by reciprocal rank, all in the Qdrant engine (engine.py).

By default the index is a Qdrant Edge shard in a folder, ``<out>/shard``, built in
``<out>.partial`` and renamed when complete. After each batch the shard is flushed, then
``<out>.partial/progress.json`` records the passages done, so a killed build resumes there
(upserts are idempotent by passage id: a batch cut mid-way is sent again). Once all passages are
in, the engine builds the HNSW graph (`optimize`). With `knowledge.qdrant.url` the collection
lives on that server and ``<out>`` holds only the manifest. The index's digest covers the
passages' bytes, the retriever, BM25's parameters and language, the HNSW graph's and the
encoder: any change builds a new index, never a mixture; a search with settings other than the
index's is a one-line error.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import time
from pathlib import Path

from ....core.io import atomic_write_json, iter_jsonl, read_json
from .engine import DENSE, SPARSE, EdgeStore, bm25_model, term_counts
from .passages import KnowledgeError
from .settings import KnowledgeSettings

log = logging.getLogger(__name__)

ENGINE = "qdrant-edge"


def file_digest(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:16]


def settings_identity(settings: KnowledgeSettings) -> dict:
    """The settings an index is built for, by their config keys."""
    ident = {"knowledge.retriever": settings.retriever, "knowledge.qdrant.url": settings.qdrant.url}
    if settings.retriever != "dense":
        ident["knowledge.bm25_k1"] = settings.bm25_k1
        ident["knowledge.bm25_b"] = settings.bm25_b
        ident["knowledge.language"] = settings.language
    if settings.retriever != "bm25":
        ident["knowledge.hnsw_m"] = settings.hnsw_m
        ident["knowledge.hnsw_ef_construct"] = settings.hnsw_ef_construct
    return ident


def index_identity(
    passages: str | Path,
    settings: KnowledgeSettings,
    encoder: str | None,
    encoder_revision: str | None = None,
) -> dict:
    from .encoder import encoder_identity

    ident = {"engine": ENGINE, "passages": file_digest(passages), **settings_identity(settings)}
    if settings.retriever != "bm25":
        ident["encoder"] = encoder_identity(encoder or "", encoder_revision)
    return ident


def _digest(ident: dict) -> str:
    return hashlib.sha256(json.dumps(ident, sort_keys=True).encode()).hexdigest()[:16]


def _store(settings: KnowledgeSettings, where: str | Path, name: str, create=None):
    if settings.qdrant.url:
        from .server import ServerStore

        return ServerStore(name, settings, create)
    return EdgeStore(where, settings, create)


def build_index(
    passages: str | Path,
    out: str | Path,
    settings: KnowledgeSettings,
    encoder: str | None = None,
    stop_after: int | None = None,
    cost_out: str | Path | None = None,
    encoder_revision: str | None = None,
) -> dict:
    """Index ``passages`` into ``out`` (see module docstring); return the manifest.
    ``encoder_revision``: a hub encoder's commit (recorded; retrieval loads the same).

    ``stop_after``: stop (as if killed) after that many batches — for tests of resumption.
    ``cost_out``: where the build's cost (wall time over all attempts) goes, beside the index.
    """
    t0 = time.perf_counter()
    out, passages = Path(out), Path(passages)
    sparse = settings.retriever != "dense"
    dense = settings.retriever != "bm25"
    if dense and not encoder:
        raise KnowledgeError(
            f"knowledge.encoder: retriever {settings.retriever!r} needs an encoder (dense vectors)"
        )
    ident = index_identity(passages, settings, encoder, encoder_revision)
    digest = _digest(ident)
    partial = out.with_name(out.name + ".partial")
    progress_file = partial / "progress.json"
    progress = read_json(progress_file) if progress_file.exists() else None
    if progress is None or progress.get("digest") != digest:
        if partial.exists():  # other settings, or killed before its first batch was in
            log.info("discarding a partial index (%s)", (progress or {}).get("digest"))
            shutil.rmtree(partial)
        progress = None
    partial.mkdir(parents=True, exist_ok=True)
    done = progress["done"] if progress else 0
    elapsed = progress.get("elapsed_s", 0.0) if progress else 0.0

    counter = bm25_model(settings, counting=True) if sparse else None
    lengths = [
        sum(term_counts(counter, p["text"]).values()) if counter else 1
        for _, p in iter_jsonl(passages)
    ]
    if not lengths:
        raise KnowledgeError(f"{passages}: the knowledge base is empty")
    avg_len = sum(lengths) / len(lengths)
    bm25 = bm25_model(settings, max(avg_len, 1.0)) if sparse else None
    model = None
    if dense:
        from .encoder import Encoder

        model = Encoder(encoder, revision=encoder_revision)
    dim = model.dim if model else None
    name = (settings.qdrant.collection or f"cmoe-{digest}") if settings.qdrant.url else "passages"
    shard = partial / "shard"
    store = _store(settings, shard, name, create=None if shard.exists() else (dim, sparse))
    try:
        if getattr(store, "existed", False) and done == 0 and store.count() == len(lengths):
            log.info("collection %s already holds all %d passages", name, len(lengths))
            done = len(lengths)
        if done:
            log.info("resuming the index at passage %d of %d", done, len(lengths))
        batch, batches, t_run, stopped = [], 0, time.perf_counter(), False

        def flush(batch, upto):
            vectors = model.encode([p["text"] for p in batch]) if model else None
            points = []
            for i, p in enumerate(batch):
                vector = {}
                if bm25 is not None:
                    v = bm25.embed_document(p["text"])
                    vector[SPARSE] = (list(v.indices), list(v.values))
                if vectors:
                    vector[DENSE] = vectors[i]
                payload = {"pid": p["id"], "title": p.get("title", ""), "text": p["text"]}
                points.append((upto - len(batch) + i, vector, payload))
            store.upsert(points)
            store.flush()  # durable before the progress says so
            spent = elapsed + time.perf_counter() - t_run
            atomic_write_json(progress_file, {"digest": digest, "done": upto, "elapsed_s": spent})

        for lineno, (_, p) in enumerate(iter_jsonl(passages)):
            if lineno < done:
                continue
            batch.append(p)
            if len(batch) == settings.batch_size:
                flush(batch, lineno + 1)
                batch, batches = [], batches + 1
                if stop_after is not None and batches >= stop_after:
                    stopped = True  # left open, as a killed build leaves it
                    return {"stopped_at": lineno + 1}
        if batch:
            flush(batch, len(lengths))
        t_opt = time.perf_counter()
        store.optimize()
        t_opt = time.perf_counter() - t_opt
    finally:
        if not stopped:
            store.close()

    wall = elapsed + time.perf_counter() - t_run
    manifest = {
        "digest": digest,
        "identity": ident,
        "settings": settings_identity(settings),
        "engine": ENGINE,
        "passages": len(lengths),
        "avg_terms": round(avg_len, 3),
        "retriever": settings.retriever,
        "encoder": encoder if dense else None,
        "encoder_revision": encoder_revision if dense else None,
        "dense_dim": dim,
        "collection": name,
        "url": settings.qdrant.url,
        "resumed_from": done if progress else 0,
    }
    atomic_write_json(partial / "manifest.json", manifest)
    cost = {
        "wall_time_s": round(wall, 3),
        "optimize_s": round(t_opt, 3),
        "device_count": 1,
        "passages": len(lengths),
    }
    progress_file.unlink()
    if out.exists():
        shutil.rmtree(out)
    os.replace(partial, out)
    atomic_write_json(cost_out or out / "cost.json", cost)
    log.info("indexed %d passages in %.1fs (setup %.1fs)", len(lengths), wall, t_run - t0)
    return manifest


def check_manifest(index: Path, manifest: dict, settings: KnowledgeSettings) -> None:
    """One line if the index at ``index`` was built for settings other than ``settings``."""
    built = manifest.get("settings")
    if manifest.get("engine") != ENGINE or built is None:
        raise KnowledgeError(
            f"{index}: built by another version of the index (not {ENGINE}); delete it to rebuild"
        )
    for key, value in settings_identity(settings).items():
        if built.get(key) != value:
            raise KnowledgeError(
                f"{index}: built for {key} = {built.get(key)!r}, but it is {value!r} now; "
                "rebuild the index"
            )


class Retriever:
    """Search an index built by :func:`build_index` (close it, or use it as a context manager)."""

    def __init__(self, index: str | Path, settings: KnowledgeSettings):
        self.index = Path(index)
        manifest_file = self.index / "manifest.json"
        if not manifest_file.exists():
            raise KnowledgeError(f"{manifest_file}: no such file; build the index first")
        self.manifest = read_json(manifest_file)
        check_manifest(self.index, self.manifest, settings)
        self.settings = settings
        self.store = _store(settings, self.index / "shard", self.manifest["collection"])
        self.bm25 = bm25_model(settings) if self.manifest["retriever"] != "dense" else None
        self.encoder = None
        if self.manifest["encoder"]:
            from .encoder import Encoder

            self.encoder = Encoder(
                self.manifest["encoder"], revision=self.manifest.get("encoder_revision")
            )

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self) -> None:
        self.store.close()

    def search(self, texts: list[str], limit: int, exact: bool = False) -> list[list[dict]]:
        """The top ``limit`` passages for each text: {pid, title, text, score}, best first.
        ``exact``: dense vectors by brute force instead of the HNSW graph (for measuring it)."""
        dense = self.encoder.encode(texts) if self.encoder else [None] * len(texts)
        queries = []
        for text, vector in zip(texts, dense, strict=True):
            q = {}
            if self.bm25 is not None:
                v = self.bm25.embed_query(text)
                q[SPARSE] = (list(v.indices), list(v.values))
            if vector is not None:
                q[DENSE] = vector
            queries.append(q)
        return [
            [
                {
                    "pid": payload["pid"],
                    "title": payload.get("title", ""),
                    "text": payload["text"],
                    "score": round(float(score), 6),
                }
                for score, payload in hits
            ]
            for hits in self.store.search(queries, limit, exact)
        ]
