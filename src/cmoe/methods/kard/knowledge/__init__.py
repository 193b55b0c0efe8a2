"""Knowledge for KARD: a knowledge base of passages, its index in Qdrant (BM25 sparse vectors,
dense vectors, or both fused), retrieval with the rationale (training) or the question
(inference), and KARD's reranker. See cmoe.methods.kard.plan for how the method uses them."""

from .passages import KnowledgeError, build_knowledge_base, synthetic_passages
from .settings import KardSettings, KnowledgeSettings, QdrantSettings, RerankerSettings

__all__ = [
    "KardSettings",
    "KnowledgeError",
    "KnowledgeSettings",
    "QdrantSettings",
    "RerankerSettings",
    "build_knowledge_base",
    "synthetic_passages",
]
