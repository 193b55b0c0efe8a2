"""The `kd` config section, shared by the logit-distillation methods (direct-kd, cmoe-kd),
and which teachers' traces and which students it selects."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields

from ...core.errors import ConfigError
from ...core.settings import from_dict
from ...training.kd import KDSettings, OnPolicySettings

KD_METHODS = ("direct-kd", "cmoe-kd")


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
    direct_teacher: str = "generalist"
    # teachers whose traces get KD rows (null: every teacher)
    teachers: list | None = None
    # students that get KD rows (null: every student); a student of another family (another
    # tokenizer) cannot learn a teacher's logits and is left out here
    students: list | None = None
    # overrides of the students' training settings for KD students
    train: dict = field(default_factory=dict)
    score: ScoreJobSettings = field(default_factory=ScoreJobSettings)

    @property
    def job_settings(self) -> dict:
        names = {f.name for f in fields(KDSettings)}
        return {k: v for k, v in asdict(self).items() if k in names}


def settings(config: dict) -> KDConfig:
    kd = from_dict(KDConfig, config.get("kd"), "kd")
    if kd.direct_teacher not in ("generalist", "teacher"):
        raise ConfigError(
            f"{kd.direct_teacher!r}, expected generalist or teacher", key="kd.direct_teacher"
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
