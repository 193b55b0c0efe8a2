"""Which generation backends exist, and how one is built from settings.

Each backend is one module of :mod:`cmoe.generation` with one generator class, imported only
when that backend is built (vLLM, httpx and torch stay out of processes that do not use them).
Adding a backend is that module plus one line in :data:`REGISTRY`.
"""

from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass

from .base import GenerationSettings, Generator


@dataclass(frozen=True)
class Backend:
    module: str  # the module of cmoe.generation that implements it
    cls: str  # its Generator class
    requires: str | None = None  # an optional package it needs, probed without importing it
    missing: str = ""  # what to do when ``requires`` is not installed
    trust_remote_code: bool = True  # whether the class takes ``trust_remote_code``
    adapters: bool = True  # whether it serves LoRA adapters named per conversation

    def load(self) -> type:
        return getattr(importlib.import_module(f"{__package__}.{self.module}"), self.cls)


VLLM_MISSING = (
    "vLLM is not installed here: run with `--sdm conda` (envs/generate-vllm.yaml)"
    " or `pip install vllm` on a GPU machine"
)

REGISTRY: dict[str, Backend] = {
    "hf": Backend("hf", "HFGenerator"),
    "vllm": Backend("vllm", "VLLMGenerator", requires="vllm", missing=VLLM_MISSING),
    # The server applies the chat template: no local tokenizer, no remote code.
    "openai": Backend("openai", "OpenAIGenerator", trust_remote_code=False, adapters=False),
}
BACKENDS = tuple(REGISTRY)


def backend_available(backend: str) -> bool:
    """Whether a backend's optional dependency is importable here (vLLM is GPU-only)."""
    entry = REGISTRY.get(backend)
    if entry is None:
        return False
    return entry.requires is None or importlib.util.find_spec(entry.requires) is not None


def make_generator(
    model_path: str,
    settings: GenerationSettings,
    trust_remote_code: bool = False,
    adapters: dict[str, str] | None = None,
    revision: str | None = None,
) -> Generator:
    """A backend's generator for a model; ``adapters`` ({name: LoRA adapter folder of
    ``model_path``}) lets each conversation name the adapter that answers it; ``revision``:
    the hub commit of a local backend's model (an API model has none)."""
    entry = REGISTRY.get(settings.backend)
    if entry is None:
        raise ValueError(
            f"generation backend {settings.backend!r} is not available (have: {BACKENDS})"
        )
    if not backend_available(settings.backend):
        raise RuntimeError(
            f"generation backend {settings.backend!r} is selected but {entry.missing}"
        )
    cls = entry.load()
    if adapters and not entry.adapters:
        raise ValueError(f"generation backend {settings.backend!r} cannot serve LoRA adapters")
    extra = {"adapters": adapters} if adapters else {}
    if entry.trust_remote_code:  # a backend that loads the model here
        if revision:
            extra["revision"] = revision
        return cls(model_path, settings, trust_remote_code, **extra)
    return cls(model_path, settings, **extra)
