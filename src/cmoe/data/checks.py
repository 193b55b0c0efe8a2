"""The data stage's checks of a schema-valid config: MMLU subject keys in `domain_map`, local
question files (present, not empty, UTF-8), the MERA release against the hub ids, the
few-shot pool MERA's protocol needs, and tiny model shapes their jobs can build."""

from __future__ import annotations

import difflib
from pathlib import Path

from ..core.domains import subject_domains
from ..core.errors import ConfigError, DataError
from ..core.io import iter_lines
from .questions import MERA_HUB
from .settings import DataSettings
from .tiny import TinyModelSpec, TinyModelsSettings

SECTIONS = {"data": DataSettings, "tiny_models": TinyModelsSettings}


def check(config: dict) -> None:
    known = subject_domains()
    for subject in config["data"].get("domain_map") or {}:
        if subject not in known:
            close = difflib.get_close_matches(subject, list(known), n=3, cutoff=0.7)
            hint = f" (did you mean {', '.join(close)}?)" if close else ""
            raise ConfigError(
                f"not an MMLU subject key{hint}", key=f"data.domain_map.{subject}"
            )
    for key in ("source", "fewshot_source"):
        _check_file((config["data"].get(key) or {}).get("file"), f"data.{key}.file")
    _check_mera(config)
    for name, spec in (config.get("tiny_models") or {}).get("specs", {}).items():
        problem = TinyModelSpec(**spec).shape_problem()
        if problem:
            raise ConfigError(problem, key=f"tiny_models.specs.{name}")


def _check_file(file: str | None, key: str) -> None:
    """A local source the data jobs read: it exists, and a JSONL one has a row and is UTF-8
    throughout (read in full: a question file is a few megabytes)."""
    if not file:
        return
    path = Path(file).expanduser()
    if not path.exists():
        raise ConfigError(f"{file} does not exist", key=key)
    if path.suffix == ".parquet":
        return
    try:
        if not sum(1 for _ in iter_lines(path)):
            raise ConfigError(f"{file} is empty", key=key)
    except DataError as exc:
        raise ConfigError(str(exc), key=key) from None


def _check_mera(config: dict) -> None:
    """The MERA version against the hub ids, and the few-shot pool the protocol needs."""
    data = config["data"]
    version = data.get("mera_version", "v1.2")
    releases = {hub[0].lower(): name for name, hub in MERA_HUB.items()}
    for key in ("source", "fewshot_source"):
        hub = (data.get(key) or {}).get("hub")
        release = releases.get(hub["path"].lower()) if hub else None
        if release and release != version:
            raise ConfigError(
                f"{hub['path']} is MERA {release}, but data.mera_version is {version} "
                f"(use {MERA_HUB[version][0]} or set the version)",
                key=f"data.{key}.hub.path",
            )
    pool = data.get("fewshot_source")
    if (config.get("evaluation") or {}).get("loglik", {}).get("enabled") and not pool:
        raise ConfigError(
            "MERA's protocol needs data.fewshot_source (the few-shot pool; "
            f"{version}: {MERA_HUB[version][0]}, split {MERA_HUB[version][3]})",
            key="evaluation.loglik.enabled",
        )
