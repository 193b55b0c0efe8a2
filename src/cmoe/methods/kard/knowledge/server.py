"""The passage index as a collection on a Qdrant server (`knowledge.qdrant.url`): the same named
vectors, HNSW settings and queries as the Edge shard (engine.py), through qdrant-client."""

from __future__ import annotations

from .engine import DENSE, RRF_K, SPARSE, connect
from .passages import KnowledgeError
from .settings import KnowledgeSettings


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


class ServerStore:
    """Collection ``name`` on the configured server (``create``: made if missing)."""

    def __init__(self, name: str, settings: KnowledgeSettings, create=None):
        from qdrant_client import models

        self.models, self.name, self.settings = models, name, settings
        self.client = connect(settings.qdrant)
        if create is None:
            return
        dense_dim, sparse = create
        self.existed = check_collection(self.client, name, dense_dim, sparse)
        if self.existed:
            return
        self.client.create_collection(
            name,
            vectors_config=(
                {DENSE: models.VectorParams(size=dense_dim, distance=models.Distance.COSINE)}
                if dense_dim
                else {}
            ),
            sparse_vectors_config=(
                {SPARSE: models.SparseVectorParams(modifier=models.Modifier.IDF)}
                if sparse
                else None
            ),
            hnsw_config=models.HnswConfigDiff(
                m=settings.hnsw_m, ef_construct=settings.hnsw_ef_construct
            ),
        )

    def _vector(self, v):
        if isinstance(v, tuple):
            return self.models.SparseVector(indices=list(v[0]), values=list(v[1]))
        return list(v)

    def upsert(self, points: list[tuple[int, dict, dict]]) -> None:
        structs = [
            self.models.PointStruct(
                id=pid, vector={k: self._vector(v) for k, v in vecs.items()}, payload=payload
            )
            for pid, vecs, payload in points
        ]
        self.client.upsert(self.name, points=structs, wait=True)

    def flush(self) -> None:  # the server's upserts are durable once acknowledged
        pass

    def optimize(self) -> None:  # the server builds its HNSW graph in the background
        pass

    def count(self) -> int:
        return self.client.count(self.name, exact=True).count

    def search(self, queries: list[dict], limit: int, exact: bool = False) -> list[list]:
        m = self.models
        params = m.SearchParams(hnsw_ef=max(self.settings.search_ef, limit), exact=exact)
        requests = []
        for q in queries:
            stages = [
                m.Prefetch(query=self._vector(v), using=n, limit=limit, params=params)
                for n, v in q.items()
            ]
            if len(stages) == 1:
                s = stages[0]
                req = m.QueryRequest(
                    query=s.query, using=s.using, limit=limit, params=params, with_payload=True
                )
            else:
                req = m.QueryRequest(
                    prefetch=stages,
                    query=m.RrfQuery(rrf=m.Rrf(k=RRF_K)),
                    limit=limit,
                    with_payload=True,
                )
            requests.append(req)
        if not requests:
            return []
        results = self.client.query_batch_points(self.name, requests=requests)
        return [[(p.score, p.payload) for p in r.points] for r in results]

    def close(self) -> None:
        self.client.close()
