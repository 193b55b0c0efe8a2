"""Retrieval for KARD: the teacher's *rationale* is the query at training time, the *question*
at inference time (then, optionally, the reranker picks among the question's candidates).

Each record gets a ``knowledge`` field: the passages, best first, as {pid, text, score}; the
shared prompt builder (cmoe.core.prompting) puts them in the student's prompt.
"""

from __future__ import annotations

import random
import time
from pathlib import Path

from ....core.io import atomic_write_json, atomic_write_jsonl
from .index import Retriever
from .queries import question_query, rationale_query
from .settings import KnowledgeSettings

QUERIES = ("rationale", "question")


def query_text(record: dict, query: str) -> str:
    if query not in QUERIES:
        raise ValueError(f"query must be one of {QUERIES}, not {query!r}")
    return rationale_query(record) if query == "rationale" else question_query(record)


def _passage(hit: dict, score: float | None = None) -> dict:
    return {
        "pid": hit["pid"],
        "text": hit["text"],
        "score": hit["score"] if score is None else score,
    }


def attach_knowledge(
    records: list[dict],
    retriever: Retriever,
    *,
    query: str,
    n_knowledge: int,
    reranker=None,
    search_depth: int = 32,
    batch_size: int = 64,
) -> list[dict]:
    """Records with their top ``n_knowledge`` passages for ``query`` ("rationale" at training,
    "question" at inference); with a reranker, it reorders the top ``search_depth`` candidates."""
    out = []
    for start in range(0, len(records), batch_size):
        chunk = records[start : start + batch_size]
        texts = [query_text(r, query) for r in chunk]
        depth = search_depth if reranker is not None else n_knowledge
        hits = retriever.search(texts, depth)
        # the whole chunk is scored at once: each distinct candidate passage is encoded once
        ranked = reranker.rank(texts, hits) if reranker is not None else [None] * len(hits)
        for record, candidates, scores in zip(chunk, hits, ranked, strict=True):
            if scores:
                order = sorted(range(len(candidates)), key=lambda i: -scores[i])
                chosen = [_passage(candidates[i], round(scores[i], 6)) for i in order]
            else:
                chosen = [_passage(c) for c in candidates]
            out.append({**record, "knowledge": chosen[:n_knowledge], "knowledge_query": query})
    return out


def shuffle_knowledge(records: list[dict], seed: int) -> list[dict]:
    """The negative control's records: each record gets another record's passages (a seeded
    cycle through a random order, so none keeps its own when there are two or more)."""
    order = list(range(len(records)))
    random.Random(seed).shuffle(order)
    out = list(records)
    for i, j in zip(order, order[1:] + order[:1], strict=True):
        out[i] = {**records[i], "knowledge": records[j]["knowledge"], "knowledge_shuffled": True}
    return out


def retrieve_file(
    records: list[dict],
    index: str | Path,
    settings: KnowledgeSettings,
    out: str | Path,
    *,
    query: str,
    n_knowledge: int,
    reranker_path: str | None = None,
    search_depth: int = 32,
    shuffle_seed: int | None = None,
) -> dict:
    """Write ``out`` (the records with knowledge) and ``<out stem>.cost.json``; return the cost.
    With ``shuffle_seed``, the passages are then shuffled between the records (a negative
    control)."""
    t0 = time.perf_counter()
    reranker = None
    if reranker_path:
        from .reranker import Reranker

        reranker = Reranker.load(reranker_path)
    with Retriever(index, settings) as retriever:
        result = attach_knowledge(
            records,
            retriever,
            query=query,
            n_knowledge=n_knowledge,
            reranker=reranker,
            search_depth=search_depth,
        )
    if shuffle_seed is not None:
        result = shuffle_knowledge(result, shuffle_seed)
    atomic_write_jsonl(out, result)
    cost = {
        "wall_time_s": round(time.perf_counter() - t0, 3),
        "device_count": 1,
        "questions": len(result),
    }
    atomic_write_json(Path(str(out).removesuffix(".jsonl") + ".cost.json"), cost)
    return cost
