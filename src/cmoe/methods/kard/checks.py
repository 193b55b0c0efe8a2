"""KARD's checks: its sections parse and name `models` entries (every parse); before the first
job, its knowledge input: a local knowledge base that is empty or has a row the knowledge job
could not read, an unreachable Qdrant server, and a server collection whose dense vectors do
not fit the encoder."""

from __future__ import annotations

import json
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


def preflight(config: dict) -> None:
    from .knowledge.index import check_collection, connect

    knowledge, _ = settings(config)
    try:
        source = knowledge.source.get("file")
        # every document the knowledge job will read: JSON, UTF-8, with its text field
        read = sum(1 for _ in documents(knowledge)) if source else None
        if read == 0 and not knowledge.distractors:
            raise KnowledgeError(f"knowledge.source.file: {source} is empty")
        if knowledge.qdrant.url:
            client = connect(knowledge.qdrant)
            if knowledge.qdrant.collection and knowledge.retriever != "bm25":
                dim = _encoder_dim(config, knowledge.encoder)
                if dim is not None:
                    check_collection(client, knowledge.qdrant.collection, dim, sparse=False)
            client.close()
    except KnowledgeError as exc:  # raised at job time too; here it stops the run
        raise ConfigError(str(exc)) from None


def _encoder_dim(config: dict, name: str) -> int | None:
    """The encoder's hidden size: a tiny spec's, a local folder's config, or None."""
    spec = config["models"].get(name, {})
    if "tiny" in spec:
        return config["tiny_models"]["specs"][spec["tiny"]].get("hidden_size")
    config_file = Path(spec.get("path", "")) / "config.json"
    if config_file.exists():
        return json.loads(config_file.read_text("utf-8")).get("hidden_size")
    return None
