"""The `seq2seq` config section."""

from __future__ import annotations

from dataclasses import dataclass

from ...core.errors import ConfigError
from ...core.settings import Settings, defined, from_dict, setting
from ...training.seq2seq import FORMATS


@dataclass
class Seq2SeqMethodSettings(Settings):
    """The `seq2seq` config section."""

    formats: list[str] = setting(
        help="target formats, one row each: `rationale` (the reasoning in `<think>` tags, then "
        "`Ответ: X`, as one target: the causal students' completion) and `step_by_step` "
        "(distilling step-by-step: the prompt prefixed `predict: ` → `Ответ: X`, prefixed "
        "`explain: ` → the reasoning; only `predict: ` at inference)",
        factory=lambda: list(FORMATS),
        minItems=1,
        uniqueItems=True,
        items={"enum": list(FORMATS)},
    )
    alpha: float = setting(
        0.5, "step_by_step loss `alpha · L_predict + (1 − alpha) · L_explain`", minimum=0, maximum=1
    )
    teachers: list[str] | None = setting(
        None,
        "the teachers whose traces are learned; null: every teacher (the demo: one, for its "
        "time budget)",
        minItems=1,
    )
    cascade_format: str | None = setting(
        "step_by_step",
        "the format of the cascade variant: the students learn the CMoE specialists' own "
        "correct traces (row `seq2seq (<format>, specialists' traces)`, via the intermediate), "
        "beside the causal `cmoe` student on the same data: architecture or data? null: no "
        "cascade rows",
        enum=[*FORMATS, None],
    )
    train: dict = defined("train", "overrides of the seq2seq students' own `train` settings")


SECTIONS = {"seq2seq": Seq2SeqMethodSettings}


def settings(config: dict) -> Seq2SeqMethodSettings:
    s = from_dict(Seq2SeqMethodSettings, config.get("seq2seq"), "seq2seq")
    for fmt in [*s.formats, *([s.cascade_format] if s.cascade_format else [])]:
        if fmt not in FORMATS:
            raise ConfigError(f"format {fmt!r} is not one of {', '.join(FORMATS)}", key="seq2seq")
    unknown = sorted(set(s.teachers or []) - set(config["teachers"]))
    if unknown:
        raise ConfigError(f"{unknown[0]!r} is not a `teachers` entry", key="seq2seq.teachers")
    return s
