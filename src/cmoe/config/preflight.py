"""Checks that look at models and endpoints, before the first job of a real run and in
`cmoe check`: each stage's and each listed method's preflight (scheduler names, LoRA targets,
endpoints, knowledge bases, vocabularies), and hub ids that cannot be resolved."""

from __future__ import annotations

import os
from pathlib import Path

from ..core.errors import ConfigError
from ..core.paths import looks_like_path
from .validate import intermediates_generate, methods_of


def preflight(config: dict, environ=None) -> None:
    from ..generation import checks as generation
    from ..training import checks as training

    environ = os.environ if environ is None else environ
    training.preflight(config)
    _check_hub_models(config, environ)
    generation.preflight(config, intermediates_generate(config))
    for method in methods_of(config):
        method.preflight(config)


def _check_hub_models(config: dict, environ) -> None:
    from ..core.models import local_config

    offline = environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes")
    for name, spec in config["models"].items():
        path = spec.get("path")
        if not path or looks_like_path(path) or Path(path).is_dir():
            continue
        if local_config(spec) is not None:
            continue  # in the local cache
        if any(_is_api_teacher(config, teacher, name) for teacher in config["teachers"]):
            continue  # a label for an API model, never loaded locally
        key = f"models.{name}.path"
        if offline:
            raise ConfigError(
                f"hub id {path!r} is not in the local cache and HF_HUB_OFFLINE is set; "
                f"pre-download it (`huggingface-cli download {path}`) or unset HF_HUB_OFFLINE",
                key=key,
            )
        try:
            from huggingface_hub import HfApi

            HfApi().model_info(path, timeout=10)
        except Exception as exc:  # any failure means the first job would fail the same way
            raise ConfigError(
                f"hub id {path!r} cannot be resolved ({type(exc).__name__}); log in "
                "(`huggingface-cli login` or HF_TOKEN), pre-download it, or set "
                "HF_HUB_OFFLINE=1 with it in the cache",
                key=key,
            ) from None


def _is_api_teacher(config: dict, teacher: str, model: str) -> bool:
    entry = config["teachers"][teacher]
    return entry["model"] == model and entry["generation"].get("backend") == "openai"
