"""What a training job is told: LoRA and trainer settings, and where its curves are logged.

TrainSettings is fingerprinted into every checkpoint (see :mod:`.checkpoints`) and copied into
train_metrics.json, so its fields and defaults are part of a trained model's identity: adding a
field changes the fingerprint of every run. WandbSettings is not: where the curves go never
changes what is trained, so it comes from wandb's own environment variables rather than from the
job's command line (a renamed wandb project must not re-run training).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

WANDB_MODES = ("disabled", "offline", "online")


@dataclass
class LoraSettings:
    r: int = 16
    alpha: int = 32
    dropout: float = 0.05
    target_modules: list[str] | str = "all-linear"
    modules_to_save: list[str] | None = None


@dataclass
class TrainSettings:
    method: str = "lora"  # "lora" or "full"
    lora: LoraSettings = field(default_factory=LoraSettings)
    epochs: float = 2.0
    learning_rate: float = 1e-4
    batch_size: int = 8
    grad_accum: int = 1
    max_length: int = 4096
    warmup_ratio: float = 0.03
    weight_decay: float = 0.0
    lr_scheduler: str = "cosine"
    # "random", "group_by_length" (the CPU answer to padding) or "padding_free" (GPU + flash-attn)
    batching: str = "group_by_length"
    gradient_checkpointing: bool = False
    dtype: str = "auto"
    seed: int = 0
    logging_steps: int = 5
    # "none" (one process), or "ddp" / "fsdp" / "zero3": started by `accelerate launch` with
    # config/accelerate/<x>.yaml over the job's GPUs (see cmoe.training.launch)
    distributed: str = "none"
    # a resumable checkpoint every N optimizer steps in <out>.checkpoints/; 0: none
    save_steps: int = 200
    # checkpoints kept (>= 2, so a kill while writing one always leaves a complete one)
    save_total_limit: int = 2

    @classmethod
    def from_dict(cls, d: dict) -> TrainSettings:
        d = dict(d)
        lora = LoraSettings(**d.pop("lora", {}))
        return cls(lora=lora, **d)


@dataclass
class WandbSettings:
    # "disabled", "offline" or "online": the workflow config's default is offline (runs are kept
    # locally, and never wait for a login); a process started without WANDB_MODE logs nothing
    mode: str = "offline"
    project: str = "cmoe"
    entity: str | None = None

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
