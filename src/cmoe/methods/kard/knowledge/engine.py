"""Where the passage index lives, behind one small interface: a Qdrant Edge shard (the Qdrant
engine in-process, a folder; the default) or a collection on a Qdrant server
(`knowledge.qdrant.url`). Both hold the same named vectors: ``bm25`` (sparse, the IDF half
computed by the engine, `modifier: idf`) and ``dense`` (cosine, an HNSW graph); both search them
alone or fused by reciprocal rank (prefetch + RRF, k = 60).

BM25 terms come from the engine's own tokenizer (`qdrant_edge.Bm25`: words, lower-cased, the
language's stopwords dropped and its Snowball stemmer applied); a term's index is a hash, so no
vocabulary is stored and a query needs nothing but the text.

Several jobs may read one Edge index at once: the shard is opened without a write-ahead log, and
only opening and closing (which rewrite a few of its files with identical bytes) take the
index's ``open.lock``; searches run side by side. A job waits for that lock at most
`knowledge.qdrant.lock_timeout` seconds.
"""

from __future__ import annotations

import fcntl
import logging
import os
import time
from contextlib import contextmanager
from pathlib import Path

from .passages import KnowledgeError
from .settings import KnowledgeSettings, QdrantSettings

log = logging.getLogger(__name__)

SPARSE, DENSE = "bm25", "dense"
RRF_K = 60
_COUNTING_K = 1.0e6  # BM25 with this k and b = 0 weighs a term by its count (to 1e-4 relative)


def bm25_model(settings: KnowledgeSettings, avg_len: float | None = None, counting: bool = False):
    """The engine's BM25 embedder; ``counting``: one whose document weights are term counts."""
    import qdrant_edge as qe

    k, b = (_COUNTING_K, 0.0) if counting else (settings.bm25_k1, settings.bm25_b)
    try:
        return qe.Bm25(qe.Bm25Config(k=k, b=b, avg_len=avg_len or 1.0, language=settings.language))
    except ValueError as exc:
        raise KnowledgeError(f"knowledge.language: {exc}") from None


def term_counts(model, text: str) -> dict[int, int]:
    """A text's terms (hashed) and their counts, from a ``counting`` :func:`bm25_model`."""
    vec = model.embed_document(text)
    return {i: round(v) for i, v in zip(vec.indices, vec.values, strict=True)}


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


@contextmanager
def _locked(lock: Path, timeout: int):
    """An exclusive lock on ``lock`` (waiting up to ``timeout`` s; then a one-line error)."""
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
    t0, waited = time.monotonic(), False
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() - t0 > timeout:
                    raise KnowledgeError(
                        f"{lock}: another process held the index's lock for more than "
                        f"knowledge.qdrant.lock_timeout ({timeout} s)"
                    ) from None
                if not waited:
                    log.info("waiting for %s", lock)
                    waited = True
                time.sleep(0.2)
        yield
    finally:
        os.close(fd)  # releases the lock


def connect(qdrant: QdrantSettings):
    """A client for the configured server; one-line errors."""
    from qdrant_client import QdrantClient

    key = os.environ.get(qdrant.api_key_env) if qdrant.api_key_env else None
    client = QdrantClient(url=qdrant.url, api_key=key or None, timeout=qdrant.timeout)
    try:
        client.get_collections()
    except Exception as exc:  # connection refused, DNS, TLS, 401 ...
        raise KnowledgeError(
            f"knowledge.qdrant.url: cannot reach Qdrant at {qdrant.url} ({_first_line(exc)})"
        ) from None
    return client


class EdgeStore:
    """A Qdrant Edge shard at ``path`` (``create``: a new one; else opened for reading)."""

    def __init__(self, path: str | Path, settings: KnowledgeSettings, create=None):
        import qdrant_edge as qe

        self.qe, self.path, self.settings = qe, Path(path), settings
        self.lock = self.path.parent / "open.lock"
        if create is not None:
            dense_dim, sparse = create
            h = qe.HnswIndexConfig(
                m=settings.hnsw_m,
                ef_construct=settings.hnsw_ef_construct,
                full_scan_threshold=10000,
            )
            config = qe.EdgeConfig(
                vectors=(
                    {DENSE: qe.EdgeVectorParams(size=dense_dim, distance=qe.Distance.Cosine)}
                    if dense_dim
                    else {}
                ),
                sparse_vectors=(
                    {SPARSE: qe.EdgeSparseVectorParams(modifier=qe.Modifier.Idf)} if sparse else {}
                ),
                hnsw_config=h,
                wal_enabled=False,  # durable at each flush(); lets readers open it side by side
            )
            self.shard = qe.EdgeShard.create(str(self.path), config)
            return
        if not (self.path / "edge_config.json").exists():
            raise KnowledgeError(
                f"{self.path}: not a Qdrant Edge index (an index from another version? "
                "delete its folder to rebuild it)"
            )
        with _locked(self.lock, settings.qdrant.lock_timeout):
            try:
                self.shard = qe.EdgeShard.load(str(self.path))
            except Exception as exc:
                raise KnowledgeError(f"{self.path}: cannot open ({_first_line(exc)})") from None

    def upsert(self, points: list[tuple[int, dict, dict]]) -> None:
        qe = self.qe
        batch = []
        for pid, vectors, payload in points:
            vec = {
                k: qe.SparseVector(*v) if isinstance(v, tuple) else list(v)
                for k, v in vectors.items()
            }
            batch.append(qe.Point(pid, vec, payload))
        # One point an operation: a batch is stored in an order of the engine's choosing, which
        # changes from build to build, and with it the last float digit of some BM25 scores
        # (and so the order of passages that tie). Point by point, two builds of the same
        # passages are the same bytes and every search returns the same scores.
        for point in batch:
            self.shard.update(qe.UpdateOperation.upsert_points([point]))

    def flush(self) -> None:
        self.shard.flush()

    def optimize(self) -> None:
        self.shard.optimize()  # builds the HNSW graph once the shard is large enough
        self.shard.flush()

    def count(self) -> int:
        return self.shard.count(self.qe.CountRequest(exact=True))

    def _nearest(self, name: str, vector):
        qe = self.qe
        vector = qe.SparseVector(*vector) if isinstance(vector, tuple) else list(vector)
        return qe.Query.Nearest(vector, using=name)

    def search(self, queries: list[dict], limit: int, exact: bool = False) -> list[list]:
        """``queries``: {bm25: (indices, values), dense: [...]} each; one or both fused."""
        qe = self.qe
        params = qe.SearchParams(hnsw_ef=max(self.settings.search_ef, limit), exact=exact)
        requests = []
        for q in queries:
            stages = [
                qe.Prefetch(limit=limit, query=self._nearest(n, v), params=params)
                for n, v in q.items()
            ]
            if len(stages) == 1:
                req = qe.QueryRequest(
                    limit=limit, query=stages[0].query, params=params, with_payload=True
                )
            else:
                req = qe.QueryRequest(
                    limit=limit, prefetches=stages, query=qe.Fusion.Rrf(k=RRF_K), with_payload=True
                )
            requests.append(req)
        if not requests:
            return []
        results = self.shard.query_batch(qe.QueryBatchRequest(requests))
        return [[(p.score, p.payload) for p in r] for r in results]

    def close(self) -> None:
        with _locked(self.lock, self.settings.qdrant.lock_timeout):
            self.shard.close()
