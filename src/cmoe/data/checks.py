"""The data stage's checks of a schema-valid config: MMLU subject keys in `domain_map`, the
MERA release against the hub ids, and the few-shot pool MERA's protocol needs."""

from __future__ import annotations

import difflib
from pathlib import Path

from ..core.domains import subject_domains
from ..core.errors import ConfigError
from .questions import DataSettings, MERA_HUB
from .tiny import TinyModelsSettings

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
    _check_mera(config)


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
    if pool and "file" in pool and not Path(pool["file"]).expanduser().exists():
        raise ConfigError(f"{pool['file']} does not exist", key="data.fewshot_source.file")
