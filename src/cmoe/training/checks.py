"""The training stage's checks: what every training job of a config will be told.

:func:`check` runs on every parse (dry runs included): encoder-decoders only where the trainer
can take them, and distributed training only over the GPUs its jobs ask for. :func:`preflight`
runs before the first job: scheduler names and the LoRA target modules of every model whose
modules are known here (a tiny spec, a local folder, a cached hub model); the training job
checks a hub model's on loading it.
"""

from __future__ import annotations

from ..core.errors import ConfigError
from ..core.resources import stage_resources
from ..core.tracking import WandbSettings
from .settings import TrainSettings, train_settings

SECTIONS = {"training": TrainSettings, "wandb": WandbSettings}


def training_entries(config: dict):
    """(config key, effective training settings, model entry or None, resources stage) of every
    training: the `training` section alone, students, intermediates, teachers' warm-ups. (A
    method's own overrides over an entry, such as one specialist's, are checked by the method
    through :func:`check_trainings` and :func:`preflight_trainings`.)"""
    yield "training", train_settings(config), None, "train"
    for role in ("students", "intermediates"):
        for name, entry in config.get(role, {}).items():
            yield f"{role}.{name}", train_settings(config, entry.get("train")), entry, "train"
    for name, entry in config["teachers"].items():
        if "warmup" in entry:
            settings = train_settings(config, entry["warmup"])
            yield f"teachers.{name}.warmup", settings, entry, "warmup"


def check(config: dict) -> None:
    models = config["models"]
    # Teachers and intermediates are trained with TRL's SFT and answer through the shared
    # prompt: only students may be encoder-decoders.
    for role in ("teachers", "intermediates"):
        for name, entry in config.get(role, {}).items():
            if models[entry["model"]]["arch"] == "seq2seq":
                raise ConfigError(
                    f"{entry['model']!r} is arch: seq2seq; encoder-decoders can only be students",
                    key=f"{role}.{name}.model",
                )
    for name, m in models.items():
        if m.get("special_tokens") and m["arch"] != "seq2seq":
            raise ConfigError("only for arch: seq2seq models", key=f"models.{name}.special_tokens")
    check_trainings(config, training_entries(config))


def check_trainings(config: dict, trainings) -> None:
    """Distributed training only over the GPUs its jobs ask for, for ``trainings`` as
    :func:`training_entries` yields them."""
    for key, settings, entry, stage in trainings:
        if entry is None:
            continue
        distributed = settings.get("distributed", "none")
        gpus = stage_resources(config, stage, entry)["gpu"]
        if distributed != "none" and gpus < 2:
            raise ConfigError(
                f"training.distributed is {distributed!r} but its training jobs ask for "
                f"{gpus} GPU(s); set resources.gpu >= 2 or distributed: none",
                key=key,
            )


def preflight(config: dict) -> None:
    preflight_trainings(config, training_entries(config))


def preflight_trainings(config: dict, trainings) -> None:
    """Scheduler names and LoRA target modules of ``trainings`` (as :func:`training_entries`)."""
    trainings = list(trainings)
    _check_schedulers(trainings)
    _check_lora_targets(config, trainings)


def _check_schedulers(trainings) -> None:
    from transformers.trainer_utils import SchedulerType

    names = sorted(s.value for s in SchedulerType)
    for key, settings, *_ in trainings:
        if settings["lr_scheduler"] not in names:
            raise ConfigError(
                f"{settings['lr_scheduler']!r} is not a transformers scheduler (one of: "
                f"{', '.join(names)})",
                key=f"{key}.lr_scheduler",
            )


def _check_lora_targets(config: dict, trainings) -> None:
    from ..core.models import check_lora_targets, meta_model
    from ..data.tiny import entry_config

    models: dict = {}  # a `models` key -> its meta model, or None when not on this machine
    for key, settings, entry, _ in trainings:
        if not entry or settings["method"] != "lora":
            continue
        targets, name = settings["lora"]["target_modules"], entry["model"]
        if isinstance(targets, str):
            continue  # "all-linear" (or a regular expression): PEFT resolves it
        if name not in models:
            model_config = entry_config(config, name)
            models[name] = None if model_config is None else meta_model(model_config)
        if models[name] is not None:
            check_lora_targets(targets, models[name], name, f"{key}.lora.target_modules")
