"""How a training job starts: one `python -m cmoe` process, or `accelerate launch` over its GPUs.

A model's training settings choose `distributed` (none, ddp, fsdp, zero3); the job's GPU count is
the same `resources.gpu` the rule asks the scheduler for. The workflow only calls
:func:`launcher_prefix`; every decision about the command line is made (and tested) here.
"""

from __future__ import annotations

import os
import shlex
from pathlib import Path

# distributed setting -> accelerate config file in config/accelerate/
ACCELERATE_CONFIGS = {"ddp": "ddp.yaml", "fsdp": "fsdp.yaml", "zero3": "zero3.yaml"}
DISTRIBUTED = ("none", *ACCELERATE_CONFIGS)
# The repository's config/accelerate (this file is src/cmoe/training/launch.py in a checkout).
CONFIG_DIR = Path(__file__).resolve().parents[3] / "config" / "accelerate"
SINGLE = "python -m cmoe"


def accelerate_config(distributed: str, config_dir: str | Path | None = None) -> Path:
    """The accelerate config file of a `distributed` setting other than none."""
    if distributed not in ACCELERATE_CONFIGS:
        raise ValueError(
            f"training setting distributed={distributed!r}: "
            f"expected one of {', '.join(DISTRIBUTED)}"
        )
    return Path(config_dir or CONFIG_DIR) / ACCELERATE_CONFIGS[distributed]


def launcher_prefix(
    distributed: str = "none",
    gpus: int = 0,
    *,
    num_processes: int | None = None,
    config_dir: str | Path | None = None,
    relative_to: str | Path | None = None,
) -> str:
    """The shell words that run a `cmoe` subcommand: append `train --model ...` to it.

    ``none`` -> ``python -m cmoe`` (one process; a model is never spread over GPUs with
    device_map for training). Otherwise ``accelerate launch --config_file <x>.yaml
    --num_processes N --num_machines 1 --main_process_port 0 -m cmoe``, with N = ``gpus`` (the
    job's `resources.gpu`) unless ``num_processes`` is given (the CPU tests: 2 gloo processes,
    no GPU). Port 0 lets accelerate pick a free port, so two distributed jobs on one node do not
    collide on 29500. No ``--cpu`` on GPU-less machines: with accelerate 1.15 it selects the
    single-process launcher; torchrun plus `cmoe train`'s use_cpu gives gloo processes instead.

    Fewer than 2 processes with a distributed setting is an error rather than a silent
    single-process run: it means resources.gpu was forgotten (FSDP/ZeRO-3 on one GPU only pay
    off with CPU offload, which these configs do not set up).

    ``relative_to``: write the config path relative to this folder (the workflow's working
    directory), so the command -- a Snakemake param -- does not change when a checkout moves.
    """
    if distributed in (None, "none"):
        return SINGLE
    config = accelerate_config(distributed, config_dir)
    n = gpus if num_processes is None else num_processes
    if n < 2:
        source = "num_processes" if num_processes is not None else "resources.gpu"
        raise ValueError(
            f"training setting distributed={distributed!r} needs at least 2 processes, but "
            f"{source} is {n}: give the model `resources: {{gpu: N}}` with N >= 2, or set "
            "distributed: none"
        )
    if relative_to is not None:
        config = Path(os.path.relpath(config, relative_to))
    words = [
        "accelerate",
        "launch",
        "--config_file",
        str(config),
        "--num_processes",
        str(n),
        "--num_machines",
        "1",
        "--main_process_port",
        "0",
        "-m",
        "cmoe",
    ]
    return shlex.join(words)
