"""KARD's own job kinds: the knowledge base, its index, retrieval, the reranker, and the
accuracy-against-knowledge-base-size figure of a sweep."""

from __future__ import annotations

from dataclasses import dataclass

from ...core.jobs import Model


@dataclass(frozen=True)
class KnowledgeJob:
    key: str  # results/<key>.jsonl: the passages
    settings: dict
    source_file: str | None  # a local source, as an input


@dataclass(frozen=True)
class IndexJob:
    key: str  # results/<key>/ (index) and results/<key>.cost.json
    passages: str
    settings: dict
    encoder: Model | None
    resources: dict


@dataclass(frozen=True)
class RetrieveJob:
    key: str  # results/<key>.jsonl (records with knowledge) and results/<key>.cost.json
    records: tuple[str, ...]
    index: str
    query: str  # "rationale" (training) or "question" (inference)
    settings: dict
    kard: dict
    reranker: str | None
    resources: dict
    shuffle: int | None = None  # a seed: the passages shuffled between records (a control)


@dataclass(frozen=True)
class RerankerJob:
    key: str  # results/<key>/: the reranker, train_metrics.json, recall.json
    traces: tuple[str, ...]
    passages: str
    index: str
    model: Model
    settings: dict
    kard: dict
    resources: dict


@dataclass(frozen=True)
class KbSizePlotJob:
    key: str  # results/<key>.svg (and .png): accuracy against the knowledge base's size
    points: tuple[dict, ...]  # {scores, index, distractors, n_knowledge, reranker, ...}
