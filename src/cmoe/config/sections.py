"""Typed settings: one dataclass per config section, and the one place defaults come from.

Sections a stage owns are defined beside that stage (``DataSettings`` in cmoe.data,
``PromptSettings`` in cmoe.prompting, ``BootstrapSettings`` in cmoe.scoring,
``GenerationSettings``, ``VLLMSettings`` and ``OpenAISettings`` in cmoe.generation.base,
``TrainSettings``/``LoraSettings``/``WandbSettings`` in cmoe.training.settings, ``TinyModelSpec``
in cmoe.tiny); the rest are here. :func:`fill_defaults` writes every default into a validated
config, so the rules, the plan, the CLI and the modules all read the same values, and
config/README.md is checked against these classes by a test.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import asdict, dataclass, field
from typing import Any

from ..data import DataSettings
from ..filtering import CurationSettings
from ..generation.base import GenerationSettings, OpenAISettings, VLLMSettings
from ..prompting import PromptSettings
from ..scoring import BootstrapSettings
from ..tiny import TinyModelSpec
from ..training.settings import LoraSettings, TrainSettings, WandbSettings

NAMESPACE = "main"  # results/<namespace>/ holds everything trained or evaluated
STAGES = ("train", "generate", "warmup", "evaluate")  # stages a model entry's resources override


@dataclass
class LoglikSettings:
    """`evaluation.loglik`: MERA's ruMMLU protocol (cmoe.loglik) beside the generative one."""

    enabled: bool = False
    k: int | None = None  # shots; None: the MERA version's (data.mera_version: v1.2 1, v1.1 5)
    seed: int = 1234  # MERA runs lm-eval with --seed 1234
    batch_size: int = 8
    dtype: str = "auto"
    mera_gen: bool = False  # also the generative variant (greedy until a newline)
    max_new_tokens: int = 256  # mera_gen: lm-eval's default max_gen_toks

    def job_settings(self, mera_version: str, same_split: bool, protocol: str) -> dict:
        """What one scoring job needs: k resolved from the MERA version, and max_new_tokens
        only for the generative variant (so editing it re-runs only those jobs)."""
        from ..loglik import SHOTS

        settings = {
            "k": SHOTS[mera_version] if self.k is None else self.k,
            "seed": self.seed,
            "same_split": same_split,
            "batch_size": self.batch_size,
            "dtype": self.dtype,
        }
        if protocol == "mera_gen":
            settings["max_new_tokens"] = self.max_new_tokens
        return settings


@dataclass
class EvaluationSettings:
    generation: GenerationSettings = field(default_factory=GenerationSettings)
    evaluate_base: bool = True
    loglik: LoglikSettings = field(default_factory=LoglikSettings)
    bootstrap: BootstrapSettings = field(default_factory=BootstrapSettings)
    # k sampled answers per question (temperature and top_p from `generation`); 1: one answer
    samples: int = 1
    # lm-eval tasks run on every trained and base model: names or BenchmarkSettings mappings
    benchmarks: list = field(default_factory=list)


@dataclass
class ResourceSettings:
    """`resources.<stage>` and a model entry's `resources`: how a job runs, never what it
    computes (so editing them re-runs nothing)."""

    threads: int = 1
    mem_mb: int = 4000
    runtime: int = 60  # minutes
    gpu: int = 0
    gpu_model: str = ""  # empty: the cluster's default
    slurm_partition: str = ""  # empty: the cluster's default


@dataclass
class RouterSettings:
    seed: int = 0


@dataclass
class TinyModelsSettings:
    corpus: str = ""
    vocab_size: int = 2048
    specs: dict[str, TinyModelSpec] = field(default_factory=dict)


SECTIONS: dict[str, type] = {
    "data": DataSettings,
    "prompt": PromptSettings,
    "training": TrainSettings,
    "evaluation": EvaluationSettings,
    "router": RouterSettings,
    "wandb": WandbSettings,
    "tiny_models": TinyModelsSettings,
    "curation": CurationSettings,
}
NESTED: dict[str, type] = {
    "generation": GenerationSettings,
    "generation.vllm": VLLMSettings,
    "generation.openai": OpenAISettings,
    "train": TrainSettings,
    "train.lora": LoraSettings,
    "resources": ResourceSettings,
    "tiny_models.specs": TinyModelSpec,
}


class SettingsError(ValueError):
    """A settings value of the wrong name or type; the message names the key."""


def from_dict(cls: type, data: dict | None, where: str):
    """Build settings ``cls`` from a mapping, recursively; unknown keys and wrong types raise
    SettingsError naming ``where.key`` (one line, for the CLI), never a TypeError."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise SettingsError(f"{where}: expected a mapping, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise SettingsError(f"unknown key {where}.{unknown[0]} (known: {', '.join(sorted(names))})")
    values = {}
    for key, value in data.items():
        hint = hints[key]
        if dataclasses.is_dataclass(hint) and isinstance(value, dict):
            value = from_dict(hint, value, f"{where}.{key}")
        elif not _matches(value, hint):
            raise SettingsError(
                f"{where}.{key}: expected {_name(hint)}, got {type(value).__name__} {value!r}"
            )
        values[key] = value
    try:
        return cls(**values)
    except (TypeError, ValueError) as exc:
        raise SettingsError(f"{where}: {exc}") from None


def _matches(value: Any, hint: Any) -> bool:
    origin = typing.get_origin(hint)
    if hint is Any:
        return True
    if origin in (typing.Union, types.UnionType):
        return any(_matches(value, h) for h in typing.get_args(hint))
    if hint is type(None):
        return value is None
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if origin is not None:
        return isinstance(value, origin)
    if dataclasses.is_dataclass(hint):
        return isinstance(value, hint)
    return isinstance(value, hint)


def _name(hint: Any) -> str:
    return getattr(hint, "__name__", None) or str(hint).replace("typing.", "")


def section(config: dict, name: str):
    """A top-level config section as its typed settings, defaults filled in."""
    return from_dict(SECTIONS[name], config.get(name), name)


def fill_defaults(config: dict) -> dict:
    """Write every section's defaults into a validated config, in place, and return it.

    Per-entry settings (a teacher's `generation`, a student's `train`) stay partial: they are
    overrides merged over the filled global sections when a job is planned.
    """
    config.setdefault("namespace", NAMESPACE)
    for name, cls in SECTIONS.items():
        if name == "tiny_models" and name not in config:
            continue
        config[name] = asdict(from_dict(cls, config.get(name), name))
    config["evaluation"]["generation"] = _generation(config["evaluation"]["generation"], "")
    for role in ("teachers", "intermediates"):
        for name, entry in config.get(role, {}).items():
            entry["generation"] = _generation(entry.get("generation"), f"{role}.{name}.")
    return config


def _generation(raw: dict | None, where: str) -> dict:
    """Generation settings with defaults; a backend's own block stays absent unless given, so
    the filled config validates again."""
    filled = asdict(from_dict(GenerationSettings, raw, f"{where}generation"))
    filled.pop("samples_per_question")  # an entry's own key, copied in by the plan
    return {k: v for k, v in filled.items() if v != {} or k not in ("vllm", "openai")}


def resources(config: dict, stage: str, entry: dict | None = None) -> dict:
    """A job's resources: ResourceSettings' defaults, `resources.default`, `resources.<stage>`,
    then the model entry's own `resources` (so a 235B teacher asks for 8 GPUs and a student
    for 1), then the entry's per-stage override (`resources.generate` of a 14B trained on 4)."""
    res = asdict(ResourceSettings())
    res.update(config.get("resources", {}).get("default", {}))
    res.update(config.get("resources", {}).get(stage, {}))
    own = dict((entry or {}).get("resources", {}))
    per_stage = {k: own.pop(k) for k in STAGES if isinstance(own.get(k), dict)}
    res.update(own)
    res.update(per_stage.get(stage, {}))
    return res
