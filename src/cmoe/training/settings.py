"""What a training job is told: LoRA and trainer settings, and where its curves are logged.

TrainSettings is fingerprinted into every checkpoint (see :mod:`.checkpoints`) and copied into
train_metrics.json, so its fields and defaults are part of a trained model's identity: adding a
field changes the fingerprint of every run. Where the curves go (:mod:`cmoe.core.tracking`)
never changes what is trained.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..core.settings import DTYPES, Settings, deep_merge, setting


@dataclass
class LoraSettings(Settings):
    r: int = setting(16, "LoRA rank", minimum=1)
    alpha: int = setting(32, "LoRA alpha", exclusiveMinimum=0)
    dropout: float = setting(0.05, "LoRA dropout", minimum=0, maximum=1)
    target_modules: list[str] | str = setting(
        "all-linear",
        "a list of module names or `all-linear`",
        schema={
            "oneOf": [
                {"type": "string"},
                {"type": "array", "items": {"type": "string"}, "minItems": 1},
            ]
        },
    )
    modules_to_save: list[str] | None = setting(
        None,
        "extra modules trained in full (e.g. `[embed_tokens, lm_head]`)",
        schema={"oneOf": [{"type": "null"}, {"type": "array", "items": {"type": "string"}}]},
    )


@dataclass
class TrainSettings(Settings):
    """The `training` section, and a model's own `train` overrides of it."""

    method: str = setting(
        "lora",
        "`lora` (PEFT) or `full` fine-tuning. Tiny random models need `full`: LoRA on random "
        "weights plateaus.",
        enum=["lora", "full"],
    )
    lora: LoraSettings = setting(factory=LoraSettings)
    epochs: float = setting(2.0, "training epochs", exclusiveMinimum=0)
    learning_rate: float = setting(1e-4, "peak learning rate", exclusiveMinimum=0)
    batch_size: int = setting(8, "per-device batch", minimum=1)
    grad_accum: int = setting(1, "gradient accumulation steps", minimum=1)
    max_length: int = setting(
        4096,
        "tokens per example; longer ones are truncated and *counted* (`train_metrics.json`, "
        "filter stats). TRL's own default of 1024 is never used.",
        minimum=16,
    )
    warmup_ratio: float = setting(0.03, "share of steps for LR warm-up", minimum=0, maximum=0.99)
    weight_decay: float = setting(0.0, "weight decay", minimum=0)
    lr_scheduler: str = setting("cosine", "any transformers scheduler name")
    batching: str = setting(
        "group_by_length",
        "`random`, `group_by_length` (less padding; the CPU choice) or `padding_free` (packing; "
        "needs flash-attention on GPU)",
        enum=["random", "group_by_length", "padding_free"],
    )
    gradient_checkpointing: bool = setting(False, "trade compute for memory on large models")
    dtype: str = setting(
        "auto", "`auto` (bf16 on GPU, fp32 on CPU), `bfloat16`, `float16`, `float32`", enum=DTYPES
    )
    seed: int = setting(0, "training and data-order seed")
    logging_steps: int = setting(5, "loss-curve resolution", minimum=1)
    distributed: str = setting(
        "none",
        "`none`: one process (a model is never spread over GPUs with `device_map` for "
        "training). `ddp`, `fsdp`, `zero3`: the job runs `accelerate launch --config_file "
        "config/accelerate/<x>.yaml --num_processes <resources.gpu>` (see below; "
        "cmoe.training.launch). Needs `resources.gpu` ≥ 2.",
        enum=["none", "ddp", "fsdp", "zero3"],
    )
    save_steps: int = setting(
        200,
        "a resumable checkpoint every N optimizer steps in `<out>.checkpoints/`; 0: none",
        minimum=0,
    )
    save_total_limit: int = setting(
        2,
        "checkpoints kept (at least 2, so a kill while one is written leaves a complete one)",
        minimum=2,
    )


def train_settings(config: dict, *overrides: dict | None) -> dict:
    """The global `training` section with a model's own settings merged on top, in order
    (a student's `train`, then a method's overrides such as `kd.train`)."""
    merged = config.get("training", {})
    for override in overrides:
        merged = deep_merge(merged, override or {})
    return merged
