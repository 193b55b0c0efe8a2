"""KARD's checks: its sections parse and name `models` entries (every parse); before the first
job, the reranker's LoRA targets and the knowledge input: a local knowledge base that is empty
or has a row the knowledge job could not read, an unreachable Qdrant server, and a server
collection whose dense vectors do not fit the encoder."""

from __future__ import annotations

from pathlib import Path

from ...core.errors import ConfigError
from .knowledge.passages import KnowledgeError, documents
from .settings import settings


def check(config: dict) -> None:
    knowledge, kard = settings(config)
    source = knowledge.source.get("file")
    if source and not Path(source).expanduser().exists():
        raise ConfigError(f"{source} does not exist", key="knowledge.source.file")
    named = [("kard.reranker.model", kard.reranker.model)]
    if knowledge.retriever != "bm25":
        named.append(("knowledge.encoder", knowledge.encoder))
    for key, name in named:
        if name not in config["models"]:
            raise ConfigError(f"{name!r} is not defined in models", key=key)
    if kard.shuffled_control and kard.sweep:
        raise ConfigError(
            "the shuffled-passages control runs without a sweep", key="kard.shuffled_control"
        )


def preflight(config: dict) -> None:
    from .knowledge.engine import bm25_model, connect
    from .knowledge.server import check_collection

    knowledge, kard = settings(config)
    _check_reranker_lora(config, kard.reranker)
    try:
        source = knowledge.source.get("file")
        # every document the knowledge job will read: JSON, UTF-8, with its text field
        read = sum(1 for _ in documents(knowledge)) if source else None
        if read == 0 and not knowledge.distractors:
            raise KnowledgeError(f"knowledge.source.file: {source} is empty")
        if knowledge.retriever != "dense":
            bm25_model(knowledge)  # a language the engine's BM25 knows
        if knowledge.qdrant.url:
            client = connect(knowledge.qdrant)
            if knowledge.qdrant.collection and knowledge.retriever != "bm25":
                dim = _encoder_dim(config, knowledge.encoder)
                if dim is not None:
                    check_collection(client, knowledge.qdrant.collection, dim, sparse=False)
            client.close()
    except KnowledgeError as exc:  # raised at job time too; here it stops the run
        raise ConfigError(str(exc)) from None


def _check_reranker_lora(config: dict, reranker) -> None:
    """The reranker's LoRA targets against its encoder's modules, when they are known here (a
    tiny spec, a local folder, a cached hub model); the reranker job checks the others."""
    from transformers import AutoModel

    from ...core.models import check_lora_targets, meta_model
    from ...data.tiny import entry_config

    if not reranker.lora or isinstance(reranker.lora_target_modules, str):
        return
    model_config = entry_config(config, reranker.model)
    if model_config is not None:
        encoder = meta_model(model_config, AutoModel)
        key = "kard.reranker.lora_target_modules"
        check_lora_targets(reranker.lora_target_modules, encoder, reranker.model, key)


def _encoder_dim(config: dict, name: str) -> int | None:
    """The encoder's hidden size when its config is known here (see :func:`entry_config`)."""
    from ...data.tiny import entry_config

    return getattr(entry_config(config, name), "hidden_size", None)
