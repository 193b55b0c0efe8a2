"""Settings of the knowledge base (`knowledge`) and of the KARD method (`kard`).

`knowledge` says where passages come from, how they are cut, and how they are indexed in
Qdrant; `kard` says how many passages a student sees, how candidates are drawn, and how the
reranker is trained. Defaults here are the one source (config/README.md documents them).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ....core.settings import OPEN_UNIT, Settings, defined, setting
from ....data.settings import source_schema

RETRIEVERS = ("bm25", "dense", "hybrid")
_SOURCE = source_schema(exactly_one=False)
_VARIANT = {
    "type": "object",
    "additionalProperties": False,
    "minProperties": 1,
    "properties": {
        "distractors": {"type": "integer", "minimum": 0},
        "n_knowledge": {"type": "integer", "minimum": 1},
    },
}


@dataclass
class QdrantSettings(Settings):
    """`knowledge.qdrant`: Qdrant Edge (a folder in results/) unless `url` names a server."""

    url: str = setting("", "a Qdrant server; empty: Qdrant Edge, no server")
    api_key_env: str = setting(
        "QDRANT_API_KEY", "environment variable holding the server's key (unset: none)"
    )
    collection: str = setting("", "server collection; empty: `cmoe-<digest>` of the index settings")
    timeout: int = setting(30, "seconds per server request", minimum=1)
    lock_timeout: int = setting(
        900,
        "seconds a job waits while another job opens or closes the same Edge index",
        minimum=0,
    )


@dataclass
class KnowledgeSettings(Settings):
    """The `knowledge` section: KARD's knowledge base and its Qdrant index."""

    source: dict[str, Any] = setting(
        help="`{file: passages.jsonl}` or `{hub: {path, name, split}}` (above)",
        factory=dict,
        schema=_SOURCE,
        doc_default="–",
    )
    text_field: str = setting("text", "field of a source row holding the passage")
    title_field: str = setting("title", "field of a source row holding its title")
    max_documents: int = setting(0, "read at most this many documents (0: all)", minimum=0)
    chunk_words: int = setting(
        100, "longer paragraphs are cut into pieces of at most this many words", minimum=1
    )
    min_words: int = setting(3, "shorter paragraphs are dropped", minimum=1)
    distractors: int = setting(
        0, "synthetic off-topic passages appended (the KB-size ablation)", minimum=0
    )
    seed: int = setting(0, "seed of the distractors")
    retriever: str = setting(
        "bm25",
        "`bm25` (sparse, the engine's IDF modifier), `dense` (`encoder`, HNSW), `hybrid` "
        "(both, RRF k = 60)",
        enum=list(RETRIEVERS),
    )
    encoder: str = setting(
        "",
        "a `models` key: dense vectors, mean-pooled `AutoModel` states (dense/hybrid)",
    )
    bm25_k1: float = setting(1.2, "BM25's k1", minimum=0)
    bm25_b: float = setting(0.75, "BM25's b", minimum=0, maximum=1)
    language: str = setting(
        "russian",
        "BM25 terms: the engine's tokenizer with this language's stopwords and Snowball stemmer",
    )
    hnsw_m: int = setting(32, "edges per node of the dense vectors' HNSW graph", minimum=4)
    hnsw_ef_construct: int = setting(200, "candidates while building the graph", minimum=4)
    search_ef: int = setting(
        256, "candidates while searching the graph (at least the results wanted)", minimum=1
    )
    batch_size: int = setting(256, "passages per upsert and per encoder batch", minimum=1)
    qdrant: QdrantSettings = setting(help="the index (below)", factory=QdrantSettings)


@dataclass
class RerankerSettings(Settings):
    """`kard.reranker`: KARD's late-interaction reranker, trained from the question alone."""

    model: str = setting("", "a `models` key: the encoder (required)")
    compression_dim: int = setting(128, "the linear compression of token states", minimum=1)
    epochs: int = setting(3, "training epochs", minimum=1)
    learning_rate: float = setting(1.0e-4, "training learning rate", exclusiveMinimum=0)
    batch_size: int = setting(8, "training batch", minimum=1)
    max_length: int = setting(256, "tokens per question and per passage", minimum=8)
    label_tau: float = setting(0.05, "softmax temperature of the TF-IDF labels", exclusiveMinimum=0)
    score_tau: float = setting(1.0, "softmax temperature of the scores", exclusiveMinimum=0)
    lora: bool = setting(False, "LoRA on the encoder instead of full fine-tuning")
    lora_r: int = setting(16, "LoRA rank", minimum=1)
    lora_alpha: int = setting(32, "LoRA alpha", minimum=1)
    lora_target_modules: list[str] | str = setting(
        "all-linear",
        "LoRA targets",
        schema={"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]},
    )
    heldout_fraction: float = setting(
        0.2,
        "traces kept out of training for recall@k",
        **OPEN_UNIT,
    )
    seed: int = setting(0, "sampling of candidates and initialisation")


@dataclass
class KardSettings(Settings):
    """The `kard` section: how many passages a student sees, how candidates are drawn, and how
    the reranker is trained."""

    n_knowledge: int = setting(
        1, "passages in the student's prompt (the paper: 1; 10 for OBQA)", minimum=1
    )
    n_candidates: int = setting(
        8,
        "reranker candidates per training example, half by rationale, half by question",
        minimum=2,
        multipleOf=2,
    )
    search_depth: int = setting(
        32,
        "passages retrieved per query (candidate pool; inference reranks these)",
        minimum=1,
    )
    train: dict[str, Any] = defined(
        "train", "overrides of the students' training settings for KARD students"
    )
    reranker: RerankerSettings = setting(help="the reranker (below)", factory=RerankerSettings)
    recall_k: list[int] = setting(
        help="k of the reranker's held-out recall@k",
        factory=lambda: [1, 3, 5],
        minItems=1,
        items={"type": "integer", "minimum": 1},
    )
    sweep: list[dict[str, int]] = setting(
        help="the knowledge-base-size ablation (below): variants `{distractors, n_knowledge}` "
        "(either may be left out), each its own KARD chain and rows; empty: one KARD chain",
        factory=list,
        schema={"type": "array", "items": _VARIANT},
    )
    shuffled_control: bool = setting(
        False,
        "a negative control: one more row, `kard (shuffled passages)`, the KARD student with the "
        "retriever's passages of the test questions shuffled between them (a seeded cycle, "
        "`knowledge.seed`: none keeps its own). Where facts live only in the knowledge base it "
        "must score below `kard (no reranker)`, which sees the same passages unshuffled (a "
        "control in comparison.md). Not with `sweep`",
    )

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
        super().__post_init__()
