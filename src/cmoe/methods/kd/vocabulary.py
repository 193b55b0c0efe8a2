"""Which models share a vocabulary, decided from the config alone, so the plan knows before any
job which KD pairs take the cross-vocabulary path.

A tiny model's vocabulary is its spec's family and BPE size (the tokenizer is trained on the one
corpus). A `path` model's is its `vocabulary` name (default: one name shared by every path
model, the Qwen3 study's case): two entries with the same name are taken to share a tokenizer,
and preflight checks it against the tokenizers themselves where they can be loaded. A tiny model
never shares a vocabulary with a path model.
"""

from __future__ import annotations

from ...data.tiny import TinyModelsSettings

PATH_DEFAULT = "path-models"


def vocabulary(config: dict, model: str) -> str:
    """The vocabulary name of the `models` entry ``model``."""
    entry = config["models"][model]
    if "tiny" not in entry:
        return str(entry.get("vocabulary", PATH_DEFAULT))
    tiny = config.get("tiny_models", {})
    spec = tiny.get("specs", {}).get(entry["tiny"], {})
    size = spec.get("vocab_size") or tiny.get("vocab_size") or TinyModelsSettings().vocab_size
    return f"tiny/{spec.get('family', 'qwen3')}/{size}"


def cross_vocab(config: dict, teacher: str, student: str) -> bool:
    """Whether logit distillation from `models` entry ``teacher`` into ``student`` crosses
    vocabularies."""
    return vocabulary(config, teacher) != vocabulary(config, student)
