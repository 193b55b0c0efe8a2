"""Checks that look at models and endpoints, before the first job of a real run and in
`cmoe check`: models that cannot be read (a local folder without its config.json, a hub id that
cannot be resolved) first, then each stage's and each listed method's preflight (scheduler
names, LoRA targets, endpoints, knowledge bases, vocabularies)."""

from __future__ import annotations

import os

from ..core.errors import ConfigError
from ..generation.registry import capabilities
from .validate import intermediates_generate, methods_of


def preflight(config: dict, environ=None) -> None:
    """The first error names the first cause: models that cannot be read come before every
    check that looks inside them (LoRA targets, vocabularies)."""
    from ..generation import checks as generation
    from ..training import checks as training

    environ = os.environ if environ is None else environ
    _check_models(config, environ)
    training.preflight(config)
    generation.preflight(config, intermediates_generate(config))
    for method in methods_of(config):
        method.preflight(config)


def _check_models(config: dict, environ) -> None:
    """Every `path` model can be read here: a local folder with its config.json, a hub id in
    the cache or on the hub (:func:`cmoe.core.models.unreadable`)."""
    from ..core.models import hub_offline, unreadable

    offline = hub_offline(environ)
    for name, spec in config["models"].items():
        if any(_is_api_teacher(config, teacher, name) for teacher in config["teachers"]):
            continue  # a label for an API model, never loaded locally
        problem = unreadable(spec, offline)
        if problem:
            raise ConfigError(problem, key=f"models.{name}.path")


def _is_api_teacher(config: dict, teacher: str, model: str) -> bool:
    entry = config["teachers"][teacher]
    return entry["model"] == model and not capabilities(entry["generation"].get("backend")).local
