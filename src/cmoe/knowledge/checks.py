"""Checks of KARD's knowledge input before the first job: an empty local knowledge base, an
unreachable Qdrant server, and a server collection whose dense vectors do not fit the encoder."""

from __future__ import annotations

import json
from pathlib import Path


def knowledge_checks(config: dict) -> None:
    from ..config.validate import ConfigError
    from ..methods.kard import settings
    from .index import check_collection, connect
    from .passages import KnowledgeError

    knowledge, _ = settings(config)
    try:
        source = knowledge.source.get("file")
        if source and not knowledge.distractors:
            path = Path(source)
            if not path.exists():
                raise KnowledgeError(f"knowledge.source.file: {path} does not exist")
            with open(path, encoding="utf-8-sig") as fh:
                if not any(line.strip() for line in fh):
                    raise KnowledgeError(f"knowledge.source.file: {path} is empty")
        if knowledge.qdrant.url:
            client = connect(knowledge.qdrant)
            if knowledge.qdrant.collection and knowledge.retriever != "bm25":
                dim = _encoder_dim(config, knowledge.encoder)
                if dim is not None:
                    check_collection(client, knowledge.qdrant.collection, dim, sparse=False)
            client.close()
    except KnowledgeError as exc:
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
