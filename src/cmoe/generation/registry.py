"""Which generation backends exist, and how one is built from settings.

Each backend is one module of :mod:`cmoe.generation` with one generator class, imported only
when that backend is built (vLLM, httpx and torch stay out of processes that do not use them).
Adding a backend is that module plus one line in :data:`REGISTRY`. What a backend can do is
declared there as capabilities (where it runs, whether it loads the model here, serves
encoder-decoders, shares one engine among adapters); config, plan and CLI ask for the capability,
never for a backend by name (``tests/test_layers.py`` checks this).
"""

from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass

from .base import GenerationSettings, Generator, OpenAISettings, VLLMSettings


@dataclass(frozen=True)
class Backend:
    module: str  # the module of cmoe.generation that implements it
    cls: str  # its Generator class
    requires: str | None = None  # an optional package it needs, probed without importing it
    missing: str = ""  # what to do when ``requires`` is not installed
    # it loads the model in this process (from_pretrained: a config.json, a revision,
    # ``trust_remote_code``); an API backend's model is a name the server knows
    local: bool = True
    adapters: bool = True  # whether it serves LoRA adapters named per conversation
    # its adapters share one loaded engine, so one job serving several of them saves starts
    # (hf merges each adapter into its own copy of the base: nothing to share)
    shares_engine: bool = False
    seq2seq: bool = False  # whether it serves encoder-decoders
    # the settings block of its own under `generation` (its key and class), if any
    section: str | None = None
    settings: type | None = None
    # it shards the model over the GPUs its job asks for (``<section>.tensor_parallel_size``)
    tensor_parallel: bool = False
    environment: str = "cmoe"  # the conda env of its jobs (envs/<environment>.yaml)

    def load(self) -> type:
        return getattr(importlib.import_module(f"{__package__}.{self.module}"), self.cls)


VLLM_MISSING = (
    "vLLM is not installed here: run with `--sdm conda` (envs/generate-vllm.yaml)"
    " or `pip install vllm` on a GPU machine"
)

REGISTRY: dict[str, Backend] = {
    "hf": Backend("hf", "HFGenerator", seq2seq=True),
    "vllm": Backend(
        "vllm",
        "VLLMGenerator",
        requires="vllm",
        missing=VLLM_MISSING,
        shares_engine=True,
        section="vllm",
        settings=VLLMSettings,
        tensor_parallel=True,
        environment="generate-vllm",
    ),
    # The server applies the chat template: no local tokenizer, no remote code.
    "openai": Backend(
        "openai",
        "OpenAIGenerator",
        local=False,
        adapters=False,
        section="openai",
        settings=OpenAISettings,
    ),
}
BACKENDS = tuple(REGISTRY)
SECTIONS = {b.section: b.settings for b in REGISTRY.values() if b.section}  # generation.<key>


def capabilities(backend: str | None) -> Backend:
    """A backend's entry (the default backend's where none is given)."""
    return REGISTRY[backend or GenerationSettings.backend]


def seq2seq_backend() -> str:
    """The first backend that serves encoder-decoders (where a seq2seq model's jobs go)."""
    return next(name for name, b in REGISTRY.items() if b.seq2seq)


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
    if entry.local:  # a backend that loads the model here
        if revision:
            extra["revision"] = revision
        return cls(model_path, settings, trust_remote_code, **extra)
    return cls(model_path, settings, **extra)
