"""The generation stage's checks before the first job: every entry that generates text (teachers,
intermediates that write traces, the evaluation) has its backend here, a GPU where vLLM needs
one, its API key's variable set, and an endpoint that answers."""

from __future__ import annotations

import os
from collections.abc import Iterator

from ..core.errors import ConfigError
from ..core.resources import stage_resources
from .base import GenerationSettings


def generation_entries(config: dict, intermediates: bool) -> Iterator[tuple[str, str, dict]]:
    """(config key, resources stage, entry) for every entry that generates text;
    ``intermediates``: whether a planned method generates with the intermediates."""
    for name, entry in config["teachers"].items():
        yield f"teachers.{name}", "generate", entry
    if intermediates:
        for name, entry in config.get("intermediates", {}).items():
            yield f"intermediates.{name}", "generate", entry
    yield "evaluation", "evaluate", config["evaluation"]


def runtime(config: dict, intermediates: bool, uses_conda: bool, environ=None) -> list[str]:
    """Raise ConfigError for what would fail hours later; return warnings. ``uses_conda``: rules
    run in envs/ (`--sdm conda`)."""
    from .registry import backend_available

    environ = os.environ if environ is None else environ
    warnings = []
    for key, stage, entry in generation_entries(config, intermediates):
        gen = entry.get("generation", {})
        backend = gen.get("backend", "hf")
        if backend == "vllm":
            if not uses_conda and not backend_available("vllm"):
                raise ConfigError(
                    "'vllm' is selected but vLLM is not installed here; run Snakemake with "
                    "`--sdm conda` (envs/generate-vllm.yaml) or install vLLM into this "
                    "environment (GPU machines only)",
                    key=f"{key}.generation.backend",
                )
            if stage_resources(config, stage, entry)["gpu"] < 1:
                raise ConfigError(
                    f"the vllm backend needs a GPU; set resources.gpu (in {key}.resources or "
                    f"resources.{stage})",
                    key=key,
                )
        if backend == "openai":
            var = gen["openai"].get("api_key_env")
            if var and not environ.get(var):
                raise ConfigError(
                    f"environment variable {var} is not set (export it before running; the "
                    "key is never written to config or results)",
                    key=f"{key}.generation.openai.api_key_env",
                )
            if not gen["openai"].get("price_per_million"):
                warnings.append(
                    f"{key}: no generation.openai.price_per_million, so its API cost column "
                    "stays empty"
                )
    return warnings


def preflight(config: dict, intermediates: bool) -> None:
    """OpenAI-compatible endpoints answer (a few seconds each)."""
    for key, _, entry in generation_entries(config, intermediates):
        generation = entry.get("generation", {})
        if generation.get("backend") != "openai":
            continue
        from .openai import EndpointError, OpenAIGenerator

        settings = GenerationSettings(**generation)
        try:
            with OpenAIGenerator(settings.openai["model"], settings) as generator:
                generator.check_endpoint(timeout_s=5.0)
        except EndpointError as exc:
            raise ConfigError(str(exc), key=f"{key}.generation.openai") from None
