# Over 300 lines as one module: every call into Qdrant in one place.
"""The passage index in Qdrant: built in batches, resumable, atomic; searched by BM25 (sparse),
dense vectors, or both fused by reciprocal rank (Qdrant's `prefetch` + RRF).

Embedded Qdrant (`QdrantClient(path=...)`, no server) is the default: the index is a folder,
``<out>/qdrant``, built in ``<out>.partial`` and renamed when complete. A killed build resumes
from ``<out>.partial/progress.json`` (the number of passages upserted, written after each
batch; upserts are idempotent by passage id, so a batch cut mid-way is simply sent again).
With `knowledge.qdrant.url` the collection lives on that server and ``<out>`` holds only the
manifest. The index's digest covers the passages' bytes, the retriever, the BM25 parameters and
the encoder: any change builds a new index, never a mixture.
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
from .bm25 import passage_vector, query_vector, tokenize
from .passages import KnowledgeError
from .settings import KnowledgeSettings, QdrantSettings

log = logging.getLogger(__name__)

SPARSE, DENSE = "bm25", "dense"


def file_digest(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:16]


def index_identity(passages: str | Path, settings: KnowledgeSettings, encoder: str | None) -> dict:
    from .encoder import encoder_identity

    ident = {"passages": file_digest(passages), "retriever": settings.retriever}
    if settings.retriever != "dense":
        ident["bm25"] = [settings.bm25_k1, settings.bm25_b, settings.stem_chars]
    if settings.retriever != "bm25":
        ident["encoder"] = encoder_identity(encoder or "")
    return ident


def _digest(ident: dict) -> str:
    return hashlib.sha256(json.dumps(ident, sort_keys=True).encode()).hexdigest()[:16]


def connect(qdrant: QdrantSettings, path: str | Path | None = None):
    """A client for the configured server, or the embedded Qdrant at ``path``; one-line errors."""
    from qdrant_client import QdrantClient

    if qdrant.url:
        key = os.environ.get(qdrant.api_key_env) if qdrant.api_key_env else None
        client = QdrantClient(url=qdrant.url, api_key=key or None, timeout=qdrant.timeout)
        try:
            client.get_collections()
        except Exception as exc:  # connection refused, DNS, TLS, 401 ...
            detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise KnowledgeError(
                f"knowledge.qdrant.url: cannot reach Qdrant at {qdrant.url} ({detail})"
            ) from None
        return client
    t0 = time.monotonic()
    waited = False
    while True:  # one embedded client per folder at a time: wait for another job to close it
        try:
            client = QdrantClient(path=str(path))
        except RuntimeError as exc:
            if "already accessed" not in str(exc):
                raise
            if time.monotonic() - t0 > qdrant.lock_timeout:
                raise KnowledgeError(
                    f"{path}: the embedded index stayed open in another process for more than "
                    f"knowledge.qdrant.lock_timeout ({qdrant.lock_timeout} s)"
                ) from None
            if not waited:
                log.info("waiting for %s: the embedded index is open in another job", path)
                waited = True
            time.sleep(1.0)
            continue
        if waited:
            log.info("opened %s after waiting %.1f s", path, time.monotonic() - t0)
        return client


def check_collection(client, name: str, dense_dim: int | None, sparse: bool) -> bool:
    """True if the collection exists; raise if its vectors do not match this index's."""
    if not client.collection_exists(name):
        return False
    params = client.get_collection(name).config.params
    vectors = params.vectors if isinstance(params.vectors, dict) else {}
    if dense_dim is not None:
        have = vectors.get(DENSE)
        if have is None or have.size != dense_dim:
            has = "no dense vectors" if have is None else f"dense vectors of size {have.size}"
            raise KnowledgeError(
                f"knowledge.qdrant.collection {name!r}: has {has}, but the encoder "
                f"(knowledge.encoder) gives {dense_dim}; name another collection or drop this one"
            )
    if sparse and SPARSE not in (params.sparse_vectors or {}):
        raise KnowledgeError(
            f"knowledge.qdrant.collection {name!r}: has no {SPARSE!r} sparse vectors"
        )
    return True


def _create(client, name: str, dense_dim: int | None, sparse: bool) -> None:
    from qdrant_client import models

    client.create_collection(
        name,
        vectors_config=(
            {DENSE: models.VectorParams(size=dense_dim, distance=models.Distance.COSINE)}
            if dense_dim
            else {}
        ),
        sparse_vectors_config=(
            {SPARSE: models.SparseVectorParams(modifier=models.Modifier.IDF)} if sparse else None
        ),
    )


def build_index(
    passages: str | Path,
    out: str | Path,
    settings: KnowledgeSettings,
    encoder: str | None = None,
    stop_after: int | None = None,
    cost_out: str | Path | None = None,
) -> dict:
    """Index ``passages`` into ``out`` (see module docstring); return the manifest.

    ``stop_after``: stop (as if killed) after that many batches — for tests of resumption.
    ``cost_out``: where the build's cost (wall time over all attempts) goes, beside the index.
    """
    from qdrant_client import models

    t0 = time.perf_counter()
    out, passages = Path(out), Path(passages)
    sparse = settings.retriever != "dense"
    dense = settings.retriever != "bm25"
    if dense and not encoder:
        raise KnowledgeError(
            f"knowledge.encoder: retriever {settings.retriever!r} needs an encoder (dense vectors)"
        )
    ident = index_identity(passages, settings, encoder)
    digest = _digest(ident)
    partial = out.with_name(out.name + ".partial")
    progress_file = partial / "progress.json"
    progress = read_json(progress_file) if progress_file.exists() else None
    if progress is not None and progress.get("digest") != digest:
        log.info("discarding a partial index of other settings (%s)", progress.get("digest"))
        shutil.rmtree(partial)
        progress = None
    partial.mkdir(parents=True, exist_ok=True)
    done = progress["done"] if progress else 0
    elapsed = progress.get("elapsed_s", 0.0) if progress else 0.0

    lengths = [len(tokenize(p["text"], settings.stem_chars)) for _, p in iter_jsonl(passages)]
    if not lengths:
        raise KnowledgeError(f"{passages}: the knowledge base is empty")
    avg_len = sum(lengths) / len(lengths)
    model = None
    if dense:
        from .encoder import Encoder

        model = Encoder(encoder)
    name = (settings.qdrant.collection or f"cmoe-{digest}") if settings.qdrant.url else "passages"
    client = connect(settings.qdrant, partial / "qdrant")
    try:
        exists = check_collection(client, name, model.dim if model else None, sparse)
        if exists and settings.qdrant.url and done == 0:
            count = client.count(name, exact=True).count
            if count == len(lengths):
                log.info("collection %s already holds all %d passages", name, count)
                done = count
        if not exists:
            _create(client, name, model.dim if model else None, sparse)
        if done:
            log.info("resuming the index at passage %d of %d", done, len(lengths))
        batch, batches, t_run = [], 0, time.perf_counter()

        def flush(batch, upto):
            vectors = model.encode([p["text"] for p in batch]) if model else None
            points = []
            for i, p in enumerate(batch):
                vector = {}
                if sparse:
                    terms = tokenize(p["text"], settings.stem_chars)
                    vector[SPARSE] = passage_vector(
                        terms, avg_len, settings.bm25_k1, settings.bm25_b
                    )
                if vectors:
                    vector[DENSE] = vectors[i]
                payload = {"pid": p["id"], "title": p.get("title", ""), "text": p["text"]}
                points.append(
                    models.PointStruct(id=upto - len(batch) + i, vector=vector, payload=payload)
                )
            client.upsert(name, points=points, wait=True)
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
                    return {"stopped_at": lineno + 1}
        if batch:
            flush(batch, len(lengths))
    finally:
        client.close()

    wall = elapsed + time.perf_counter() - t_run
    manifest = {
        "digest": digest,
        "identity": ident,
        "passages": len(lengths),
        "avg_terms": round(avg_len, 3),
        "retriever": settings.retriever,
        "stem_chars": settings.stem_chars,
        "encoder": encoder if dense else None,
        "dense_dim": model.dim if model else None,
        "collection": name,
        "url": settings.qdrant.url,
        "resumed_from": done if progress else 0,
    }
    atomic_write_json(partial / "manifest.json", manifest)
    cost = {"wall_time_s": round(wall, 3), "device_count": 1, "passages": len(lengths)}
    progress_file.unlink()
    if out.exists():
        shutil.rmtree(out)
    os.replace(partial, out)
    atomic_write_json(cost_out or out / "cost.json", cost)
    log.info("indexed %d passages in %.1fs (setup %.1fs)", len(lengths), wall, t_run - t0)
    return manifest


class Retriever:
    """Search an index built by :func:`build_index` (close it, or use it as a context manager)."""

    def __init__(self, index: str | Path, qdrant: QdrantSettings):
        self.index = Path(index)
        self.manifest = read_json(self.index / "manifest.json")
        url = self.manifest["url"]
        if url != qdrant.url:
            raise KnowledgeError(
                f"{self.index}: built on {url or 'embedded Qdrant'}, but knowledge.qdrant.url is "
                f"{qdrant.url or 'empty'}"
            )
        self.client = connect(qdrant, self.index / "qdrant")
        self.name = self.manifest["collection"]
        self.encoder = None
        if self.manifest["encoder"]:
            from .encoder import Encoder

            self.encoder = Encoder(self.manifest["encoder"])

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self) -> None:
        self.client.close()

    def search(self, texts: list[str], limit: int) -> list[list[dict]]:
        """The top ``limit`` passages for each text: {pid, title, text, score}, best first."""
        from qdrant_client import models

        retriever = self.manifest["retriever"]
        dense = self.encoder.encode(texts) if self.encoder else [None] * len(texts)
        requests = []
        for text, vector in zip(texts, dense, strict=True):
            sparse = query_vector(text, self.manifest["stem_chars"])
            if retriever == "bm25":
                req = models.QueryRequest(
                    query=sparse, using=SPARSE, limit=limit, with_payload=True
                )
            elif retriever == "dense":
                req = models.QueryRequest(query=vector, using=DENSE, limit=limit, with_payload=True)
            else:
                req = models.QueryRequest(
                    prefetch=[
                        models.Prefetch(query=sparse, using=SPARSE, limit=limit),
                        models.Prefetch(query=vector, using=DENSE, limit=limit),
                    ],
                    query=models.FusionQuery(fusion=models.Fusion.RRF),
                    limit=limit,
                    with_payload=True,
                )
            requests.append(req)
        results = self.client.query_batch_points(self.name, requests=requests) if requests else []
        return [
            [
                {
                    "pid": p.payload["pid"],
                    "title": p.payload.get("title", ""),
                    "text": p.payload["text"],
                    "score": round(float(p.score), 6),
                }
                for p in r.points
            ]
            for r in results
        ]
