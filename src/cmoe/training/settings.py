"""What a training job is told: LoRA and trainer settings, and where its curves are logged.

TrainSettings is fingerprinted into every checkpoint (see :mod:`.checkpoints`) and copied into
train_metrics.json, so its fields and defaults are part of a trained model's identity: adding a
field changes the fingerprint of every run. Where the curves go (:mod:`cmoe.core.tracking`)
never changes what is trained.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..core.settings import deep_merge


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


def train_settings(config: dict, *overrides: dict | None) -> dict:
    """The global `training` section with a model's own settings merged on top, in order
    (a student's `train`, then a method's overrides such as `kd.train`)."""
    merged = config.get("training", {})
    for override in overrides:
        merged = deep_merge(merged, override or {})
    return merged
