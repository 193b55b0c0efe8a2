"""wandb logging of results: score tables as wandb.Table and the resolved config, minus secrets.

Training curves go to wandb through the trainer (`report_to`); this module logs what the
workflow concludes. It never blocks on a login: without WANDB_API_KEY an online run falls back
to offline, and `disabled` (the demo's setting) imports nothing.
"""

from __future__ import annotations

import re
from typing import Any

_SECRET = re.compile(r"key|token|secret|password|credential", re.I)


def redact(obj: Any) -> Any:
    """A copy of a config with every secret-looking key's value replaced."""
    if isinstance(obj, dict):
        return {k: "<redacted>" if _SECRET.search(str(k)) else redact(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [redact(v) for v in obj]
    return obj


def log_tables(
    wandb_settings: dict, run_name: str, tables: dict[str, list[dict]], config: dict | None = None
) -> str | None:
    """Log each {name: rows} as a wandb.Table in one run; returns the run's local dir."""
    from .training import WandbSettings, setup_wandb

    settings = WandbSettings(**wandb_settings)
    if setup_wandb(settings) == ["none"]:
        return None
    import os

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
