"""The traces stage's checks: curation bounds never above what training keeps, a `length`
tokenizer that is a model of the config, and extra sources whose every row maps onto a chat."""

from __future__ import annotations

from ..core.errors import ConfigError
from .curation import CurationSettings
from .extra_sources import check_local_sources

SECTIONS = {"curation": CurationSettings}


def check(config: dict) -> None:
    curation = config.get("curation") or {}
    max_length = (config.get("training") or {}).get("max_length", 4096)
    if (curation.get("max_tokens") or 0) > max_length:
        raise ConfigError(
            f"{curation['max_tokens']} is above training.max_length ({max_length}); longer "
            "examples would be cut silently",
            key="curation.max_tokens",
        )
    if curation.get("tokenizer") and curation["tokenizer"] not in config["models"]:
        raise ConfigError(
            f"{curation['tokenizer']!r} is not a models key", key="curation.tokenizer"
        )
    try:  # every row of a local source, so a bad row stops the run before its first job
        check_local_sources(config["data"].get("extra_sources") or [])
    except FileNotFoundError as exc:
        raise ConfigError(str(exc), key="data.extra_sources") from None
