"""The `kd` config section, shared by the logit-distillation methods (direct-kd, cmoe-kd),
and which teachers' traces and which students it selects."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields

from ...core.errors import ConfigError
from ...core.settings import from_dict
from ...training.cross_vocab import CrossVocabSettings
from ...training.kd import KDSettings, OnPolicySettings

KD_METHODS = ("direct-kd", "cmoe-kd")
SCORERS = ("generalist", "teacher")


@dataclass
class ScoreJobSettings:
    batch_size: int = 8
    chunk_examples: int = 64  # examples per stored part: the unit of resumption
    dtype: str = "auto"


@dataclass
class KDConfig:
    """The config's `kd` section (config/README.md)."""

    divergence: str = "forward_kl"
    beta: float = 0.5
    temperature: float = 1.0
    alpha: float = 0.5
    top_k: int = 20
    on_policy: OnPolicySettings = field(default_factory=OnPolicySettings)
    # direct-kd's teacher: the generalist intermediate ("generalist") or the teacher itself
    # ("teacher"), or both (a list); a mapping gives each teacher its own (unlisted: generalist)
    direct_teacher: str | list | dict = "generalist"
    # teachers whose traces get KD rows (null: every teacher)
    teachers: list | None = None
    # students that get KD rows (null: every student)
    students: list | None = None
    # a teacher and a student of two vocabularies: how the scores are aligned and compared
    cross_vocab: CrossVocabSettings = field(default_factory=CrossVocabSettings)
    # overrides of the students' training settings for KD students
    train: dict = field(default_factory=dict)
    score: ScoreJobSettings = field(default_factory=ScoreJobSettings)

    @property
    def job_settings(self) -> dict:
        names = {f.name for f in fields(KDSettings)}
        return {k: v for k, v in asdict(self).items() if k in names}


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
    from ...training.kd import divergence_beta

    divergence_beta(kd.divergence, kd.beta)
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
        if models[e["model"]].get("arch") != "seq2seq"
        and (method is None or e.get("methods") is None or method in e["methods"])
    ]
