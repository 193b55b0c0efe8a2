"""KARD's config sections, `knowledge` and `kard` (their classes: :mod:`.knowledge.settings`),
and the chains a `kard.sweep` asks for."""

from __future__ import annotations

from ...core.errors import ConfigError
from ...core.settings import from_dict
from .knowledge.settings import KardSettings, KnowledgeSettings


def settings(config: dict) -> tuple[KnowledgeSettings, KardSettings]:
    knowledge = from_dict(KnowledgeSettings, config.get("knowledge"), "knowledge")
    kard = from_dict(KardSettings, config.get("kard"), "kard")
    if not knowledge.source:
        raise ConfigError(
            "method kard needs a knowledge base (file or hub)", key="knowledge.source"
        )
    if not kard.reranker.model:
        raise ConfigError("method kard needs the reranker's encoder", key="kard.reranker.model")
    return knowledge, kard


SECTIONS = {"knowledge": KnowledgeSettings, "kard": KardSettings}


def variants(knowledge: KnowledgeSettings, kard: KardSettings) -> list[tuple[int, int]]:
    """(distractors, n_knowledge) of each KARD chain: ``kard.sweep``, or the one configured."""
    if not kard.sweep:
        return [(knowledge.distractors, kard.n_knowledge)]
    out = []
    for v in kard.sweep:
        pair = (v.get("distractors", knowledge.distractors), v.get("n_knowledge", kard.n_knowledge))
        if pair not in out:
            out.append(pair)
    return out
