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
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # imported when called: cmoe.training imports this module
    from ..training.settings import WandbSettings

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
    from ..training.settings import WandbSettings

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
