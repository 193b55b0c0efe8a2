"""The training stage's checks: what every training job of a config will be told.

:func:`check` runs on every parse (dry runs included): encoder-decoders only where the trainer
can take them, and distributed training only over the GPUs its jobs ask for. :func:`preflight`
runs before the first job: scheduler names and the LoRA target modules of local models.
"""

from __future__ import annotations

from ..core.errors import ConfigError
from ..core.resources import stage_resources
from ..core.tracking import WandbSettings
from .settings import TrainSettings, train_settings

SECTIONS = {"training": TrainSettings, "wandb": WandbSettings}


def training_entries(config: dict):
    """(config key, effective training settings, model entry or None) of every training."""
    yield "training", train_settings(config), None
    for role in ("students", "intermediates"):
        for name, entry in config.get(role, {}).items():
            overrides = [s.get("train") for s in entry.get("specialists", {}).values()]
            for override in [None, *overrides]:
                yield f"{role}.{name}", train_settings(config, entry.get("train"), override), entry
    for name, entry in config["teachers"].items():
        if "warmup" in entry:
            yield f"teachers.{name}.warmup", train_settings(config, entry["warmup"]), None


def check(config: dict) -> None:
    models = config["models"]
    # Teachers and intermediates are trained with TRL's SFT and answer through the shared
    # prompt: only students may be encoder-decoders.
    for role in ("teachers", "intermediates"):
        for name, entry in config.get(role, {}).items():
            if models[entry["model"]].get("arch", "causal") == "seq2seq":
                raise ConfigError(
                    f"{entry['model']!r} is arch: seq2seq; encoder-decoders can only be students",
                    key=f"{role}.{name}.model",
                )
    for name, m in models.items():
        if m.get("special_tokens") and m.get("arch", "causal") != "seq2seq":
            raise ConfigError("only for arch: seq2seq models", key=f"models.{name}.special_tokens")
    for key, settings, entry in training_entries(config):
        if entry is None:
            continue
        distributed = settings.get("distributed", "none")
        gpus = stage_resources(config, "train", entry)["gpu"]
        if distributed != "none" and gpus < 2:
            raise ConfigError(
                f"training.distributed is {distributed!r} but its training jobs ask for "
                f"{gpus} GPU(s); set resources.gpu >= 2 or distributed: none",
                key=key,
            )


def preflight(config: dict) -> None:
    _check_schedulers(config)
    _check_lora_targets(config)


def _check_schedulers(config: dict) -> None:
    from transformers.trainer_utils import SchedulerType

    names = sorted(s.value for s in SchedulerType)
    for key, settings, _ in training_entries(config):
        if settings["lr_scheduler"] not in names:
            raise ConfigError(
                f"{settings['lr_scheduler']!r} is not a transformers scheduler (one of: "
                f"{', '.join(names)})",
                key=f"{key}.lr_scheduler",
            )


def _check_lora_targets(config: dict) -> None:
    from ..core.models import local_config, module_names

    checked: dict[str, set] = {}
    for key, settings, entry in training_entries(config):
        if not entry or settings["method"] != "lora":
            continue
        targets = settings["lora"]["target_modules"]
        if isinstance(targets, str):
            continue  # "all-linear" (or a regular expression): PEFT resolves it
        spec = config["models"][entry["model"]]
        model_config = local_config(spec)
        if model_config is None:
            continue
        if entry["model"] not in checked:
            checked[entry["model"]] = {n.rsplit(".", 1)[-1] for n in module_names(model_config)}
        names = checked[entry["model"]]
        unknown = [t for t in targets if t not in names]
        if unknown:
            linear = sorted(n for n in names if n.endswith("_proj"))
            raise ConfigError(
                f"{', '.join(unknown)} not in model {entry['model']} (its projections: "
                f"{', '.join(linear) or 'none found'})",
                key=f"{key}.lora.target_modules",
            )
