"""kard: knowledge-augmented reasoning distillation (Kang et al., 2023): students learn to
reason from question + retrieved passages; a reranker trained on the teacher's rationales picks
the passages at inference. Its library (knowledge base, Qdrant index, BM25, reranker) is
:mod:`.knowledge`."""

from ..base import Method

METHOD = Method(name="kard", package=__name__, uses=("cmoe.methods.roles",))
