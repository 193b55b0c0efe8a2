"""The `kd` config section, shared by the logit-distillation methods (direct-kd, cmoe-kd),
and which teachers' traces and which students it selects."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

from ...core.errors import ConfigError
from ...core.settings import Settings, defined, from_dict, setting
from ...training.cross_vocab import CrossVocabSettings
from ...training.kd import KDSettings

KD_METHODS = ("direct-kd", "cmoe-kd")
SCORERS = ("generalist", "teacher")
_SCORERS = {
    "oneOf": [
        {"enum": list(SCORERS)},
        {"type": "array", "minItems": 1, "uniqueItems": True, "items": {"enum": list(SCORERS)}},
    ]
}
_NAMES = {"type": ["array", "null"], "items": {"type": "string"}}


@dataclass
class ScoreJobSettings(Settings):
    batch_size: int = setting(8, "the scoring job's batch", minimum=1)
    chunk_examples: int = setting(64, "examples per stored part: the unit of resumption", minimum=1)
    dtype: str = setting("auto", "the scoring model's dtype")


@dataclass
class KDConfig(KDSettings):
    """The config's `kd` section: a KD job's :class:`KDSettings` and what the methods select."""

    direct_teacher: str | list | dict = setting(
        "generalist",
        "`direct-kd`'s scorer: `generalist` (the intermediate), `teacher`, or both "
        "(`[generalist, teacher]`); a mapping gives each teacher its own "
        "(`{llama3.3-70b: teacher}`; unlisted teachers: `generalist`)",
        schema={"oneOf": [_SCORERS, {"type": "object", "additionalProperties": _SCORERS}]},
    )
    teachers: list | None = setting(
        None, "teachers whose traces get KD rows (null: all)", schema=_NAMES
    )
    students: list | None = setting(None, "students that get KD rows (null: all)", schema=_NAMES)
    cross_vocab: CrossVocabSettings = setting(factory=CrossVocabSettings)
    train: dict = defined("train", "overrides of the students' training settings for KD students")
    score: ScoreJobSettings = setting(factory=ScoreJobSettings)

    @property
    def job_settings(self) -> dict:
        names = {f.name for f in fields(KDSettings)}
        return {k: v for k, v in asdict(self).items() if k in names}


SECTIONS = {"kd": KDConfig}


def settings(config: dict) -> KDConfig:
    kd = from_dict(KDConfig, config.get("kd"), "kd")
    by_teacher = kd.direct_teacher if isinstance(kd.direct_teacher, dict) else {}
    for name in by_teacher:
        if name not in config["teachers"]:
            raise ConfigError(f"{name!r} is not defined in teachers", key="kd.direct_teacher")
    for teacher in config["teachers"]:
        scorers = direct_scorers(kd, teacher)
        if not scorers or any(s not in SCORERS for s in scorers):
            raise ConfigError(
                f"{scorers!r}, expected generalist, teacher or both", key="kd.direct_teacher"
            )
    for name in kd.teachers or []:
        if name not in config["teachers"]:
            raise ConfigError(f"{name!r} is not defined in teachers", key="kd.teachers")
    for name in kd.students or []:
        if name not in config["students"]:
            raise ConfigError(f"{name!r} is not defined in students", key="kd.students")
    return kd


def direct_scorers(kd: KDConfig, teacher: str) -> list[str]:
    """Who scores ``teacher``'s traces for direct-kd: "generalist", "teacher" or both."""
    choice = kd.direct_teacher
    if isinstance(choice, dict):
        choice = choice.get(teacher, "generalist")
    return [choice] if isinstance(choice, str) else list(choice)


def selected(names, chosen: list | None) -> list[str]:
    return [n for n in names if chosen is None or n in chosen]


def causal_students(config: dict, method: str | None = None) -> list[str]:
    """Encoder-decoder students (`arch: seq2seq`) learn by the seq2seq method only; a student
    that lists its `methods` learns by those alone (``method``: one of them)."""
    models = config["models"]
    return [
        s
        for s, e in config["students"].items()
        if models[e["model"]]["arch"] != "seq2seq"
        and (method is None or e.get("methods") is None or method in e["methods"])
    ]
