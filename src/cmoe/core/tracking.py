"""wandb: where the trainer's curves go (setup_wandb), and logging what the workflow concludes.

Training curves go to wandb through the trainer (`report_to`, set up by :func:`setup_wandb`);
:func:`log_tables` logs score tables as wandb.Table with the resolved config, minus secrets.
Nothing here ever blocks on a login: without WANDB_API_KEY an online run falls back to offline,
and `disabled` (the default when WANDB_MODE is unset) imports nothing. Which run is which comes
from wandb's own variables (WandbSettings.from_env), so renaming a project re-runs no job.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from .settings import Settings, setting

WANDB_MODES = ("disabled", "offline", "online")


@dataclass
class WandbSettings(Settings):
    """The `wandb` section: where training curves are logged."""

    mode: str = setting(
        "offline",
        "`disabled`, `offline`, or `online` (exported to every job as `WANDB_MODE`; a hand-run "
        "`cmoe train` without that variable logs nothing). `online` without `WANDB_API_KEY` in "
        "the environment falls back to offline with a warning: a run never waits for a login.",
        enum=list(WANDB_MODES),
    )
    project: str = setting("cmoe", "the wandb project runs go to")
    entity: str | None = setting(None, "the wandb entity (user or team) runs go to")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> WandbSettings:
        """WANDB_MODE, WANDB_PROJECT and WANDB_ENTITY (wandb's own variables), nothing else.

        Unset or empty variables keep the defaults, except the mode: a process started without
        WANDB_MODE (a hand-run `cmoe train`) logs nowhere.
        Only these three are read: the environment also holds secrets (WANDB_API_KEY, API keys
        of teachers), and no other value ever reaches a settings object, a log or an error.
        """
        env = os.environ if environ is None else environ
        mode = env.get("WANDB_MODE") or "disabled"
        if mode not in WANDB_MODES:
            raise ValueError(f"WANDB_MODE={mode!r}: expected one of {', '.join(WANDB_MODES)}")
        return cls(
            mode=mode,
            project=env.get("WANDB_PROJECT") or cls.project,
            entity=env.get("WANDB_ENTITY") or None,
        )


log = logging.getLogger(__name__)

_SECRET = re.compile(r"key|token|secret|password|credential", re.I)


def redact(obj: Any) -> Any:
    """A copy of a config with every secret-looking key's value replaced."""
    if isinstance(obj, dict):
        return {k: "<redacted>" if _SECRET.search(str(k)) else redact(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [redact(v) for v in obj]
    return obj


def setup_wandb(wandb: WandbSettings) -> list[str]:
    """Return report_to; wandb never blocks on a login (no key -> offline).

    Writes the settings into wandb's environment variables, where the trainer's WandbCallback
    (and every `accelerate launch` process) reads them.
    """
    if wandb.mode == "disabled":
        return ["none"]
    mode = wandb.mode
    if mode == "online" and not os.environ.get("WANDB_API_KEY"):
        log.warning("wandb.mode is online but WANDB_API_KEY is not set: logging offline instead")
        mode = "offline"
    os.environ["WANDB_MODE"] = mode
    os.environ["WANDB_PROJECT"] = wandb.project
    if wandb.entity:
        os.environ["WANDB_ENTITY"] = wandb.entity
    os.environ.setdefault("WANDB_SILENT", "true")
    os.environ.setdefault("WANDB_DIR", str(Path("results/wandb").absolute()))
    Path(os.environ["WANDB_DIR"]).mkdir(parents=True, exist_ok=True)
    return ["wandb"]


def log_tables(
    wandb_settings: dict | WandbSettings | None,
    run_name: str,
    tables: dict[str, list[dict]],
    config: dict | None = None,
) -> str | None:
    """Log each {name: rows} as a wandb.Table in one run; returns the run's local dir.

    ``wandb_settings``: WandbSettings, or a dict of overrides over WandbSettings.from_env()
    (None or {}: the environment alone).
    """

    if isinstance(wandb_settings, WandbSettings):
        settings = wandb_settings
    else:
        settings = replace(WandbSettings.from_env(), **(wandb_settings or {}))
    if setup_wandb(settings) == ["none"]:
        return None
    import wandb

    run = wandb.init(
        project=settings.project,
        entity=settings.entity,
        name=run_name,
        mode=os.environ["WANDB_MODE"],
        config=redact(config or {}),
        job_type="eval",
        dir=os.environ["WANDB_DIR"],
    )
    for name, rows in tables.items():
        if rows:
            columns = list(rows[0])
            run.log(
                {
                    name: wandb.Table(
                        columns=columns, data=[[r.get(c) for c in columns] for r in rows]
                    )
                }
            )
    run.finish()
    return run.dir
