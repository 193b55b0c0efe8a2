"""Settings of the knowledge base (`knowledge`) and of the KARD method (`kard`).

`knowledge` says where passages come from, how they are cut, and how they are indexed in
Qdrant; `kard` says how many passages a student sees, how candidates are drawn, and how the
reranker is trained. Defaults here are the one source (config/README.md documents them).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

RETRIEVERS = ("bm25", "dense", "hybrid")


@dataclass
class QdrantSettings:
    """`knowledge.qdrant`: Qdrant Edge (a folder in results/) unless `url` names a server."""

    url: str = ""  # empty: Qdrant Edge, in-process, no server
    api_key_env: str = "QDRANT_API_KEY"  # the variable holding the server's key (may be unset)
    collection: str = ""  # server only; empty: `cmoe-<digest>` of the index's settings
    timeout: int = 30  # seconds per request to a server
    lock_timeout: int = 900  # seconds a job waits for an Edge index another job is opening/closing


@dataclass
class KnowledgeSettings:
    source: dict[str, Any] = field(default_factory=dict)  # {file: ...} or {hub: {...}}
    text_field: str = "text"
    title_field: str = "title"
    max_documents: int = 0  # 0: every document of the source
    chunk_words: int = 100  # a paragraph longer than this is cut into pieces of at most this
    min_words: int = 3  # shorter paragraphs are dropped
    distractors: int = 0  # synthetic off-topic passages appended (the KB-size ablation)
    seed: int = 0
    retriever: str = "bm25"  # bm25 | dense | hybrid (reciprocal rank fusion of both)
    encoder: str = ""  # a `models` key (or hub id / folder) for dense vectors
    bm25_k1: float = 1.2
    bm25_b: float = 0.75
    language: str = "russian"  # BM25 terms: this language's stopwords and Snowball stemmer
    hnsw_m: int = 32  # edges per node of the dense vectors' HNSW graph
    hnsw_ef_construct: int = 200  # candidates while building the graph
    search_ef: int = 256  # candidates while searching it (at least the number of results)
    batch_size: int = 256  # passages per upsert (and per encoder batch)
    qdrant: QdrantSettings = field(default_factory=QdrantSettings)

    def __post_init__(self):
        if self.retriever not in RETRIEVERS:
            raise ValueError(f"retriever must be one of {', '.join(RETRIEVERS)}")


@dataclass
class RerankerSettings:
    """`kard.reranker`: KARD's late-interaction reranker, trained from the question alone."""

    model: str = ""  # a `models` key (or hub id / folder): the encoder
    compression_dim: int = 128
    epochs: int = 3
    learning_rate: float = 1.0e-4
    batch_size: int = 8
    max_length: int = 256  # tokens per question and per passage
    label_tau: float = 0.05  # temperature of the TF-IDF labels' softmax
    score_tau: float = 1.0  # temperature of the reranker scores' softmax
    lora: bool = False  # LoRA on the encoder (the paper's setting) instead of full fine-tuning
    lora_r: int = 16
    lora_alpha: int = 32
    lora_target_modules: list[str] | str = "all-linear"
    heldout_fraction: float = 0.2  # traces kept out of training, for recall@k
    seed: int = 0


@dataclass
class KardSettings:
    n_knowledge: int = 1  # passages in the student's prompt (the paper: 1, 10 for OBQA)
    n_candidates: int = 8  # candidates per training example: half by rationale, half by question
    search_depth: int = 32  # passages retrieved per query to draw candidates from
    train: dict[str, Any] = field(default_factory=dict)  # overrides of the students' training
    reranker: RerankerSettings = field(default_factory=RerankerSettings)
    recall_k: list[int] = field(default_factory=lambda: [1, 3, 5])
    # the knowledge-base-size ablation: variants {distractors, n_knowledge} (either may be left
    # out: `knowledge.distractors` / `n_knowledge`), each its own KARD chain and rows; empty: one
    sweep: list[dict[str, int]] = field(default_factory=list)
    # A negative control: one more row, the KARD student shown passages shuffled between the
    # test questions. Where facts live only in the knowledge base it must score below `kard`.
    shuffled_control: bool = False

    def __post_init__(self):
        for i, variant in enumerate(self.sweep):
            if not isinstance(variant, dict) or not variant:
                raise ValueError(f"sweep[{i}]: a mapping with distractors and/or n_knowledge")
            for key, value in variant.items():
                low = {"distractors": 0, "n_knowledge": 1}.get(key)
                if low is None:
                    raise ValueError(f"sweep[{i}].{key}: not distractors or n_knowledge")
                if not isinstance(value, int) or isinstance(value, bool) or value < low:
                    raise ValueError(f"sweep[{i}].{key}: an integer >= {low}, not {value!r}")
