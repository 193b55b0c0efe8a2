"""The `seq2seq` config section."""

from __future__ import annotations

from dataclasses import dataclass, field

from ...core.errors import ConfigError
from ...core.settings import from_dict
from ...training.seq2seq import FORMATS


@dataclass
class Seq2SeqMethodSettings:
    """The `seq2seq` config section."""

    formats: list[str] = field(default_factory=lambda: list(FORMATS))
    alpha: float = 0.5  # step_by_step: alpha * L_predict + (1 - alpha) * L_explain
    teachers: list[str] | None = None  # None: every teacher
    # the cascade variant's target format; null: no cascade rows
    cascade_format: str | None = "step_by_step"
    train: dict = field(default_factory=dict)  # over the students' own `train`


def settings(config: dict) -> Seq2SeqMethodSettings:
    s = from_dict(Seq2SeqMethodSettings, config.get("seq2seq"), "seq2seq")
    for fmt in [*s.formats, *([s.cascade_format] if s.cascade_format else [])]:
        if fmt not in FORMATS:
            raise ConfigError(f"format {fmt!r} is not one of {', '.join(FORMATS)}", key="seq2seq")
    unknown = sorted(set(s.teachers or []) - set(config["teachers"]))
    if unknown:
        raise ConfigError(f"{unknown[0]!r} is not a `teachers` entry", key="seq2seq.teachers")
    return s
