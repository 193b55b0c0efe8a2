"""What the logit-distillation methods (direct-kd, cmoe-kd) plan alike: a teacher's scoring of
training traces (rule `score_teacher`, `cmoe score-teacher`: its top-k log-probs per completion
token, stored), and the KD student that trains on the text and those scores without loading the
teacher (:mod:`cmoe.training.kd`)."""

from __future__ import annotations

from dataclasses import asdict

from ...core import paths
from ...core.jobs import Model
from ...core.paths import results_path
from ...training.settings import train_settings
from ...training.teacher_scores import ScoreSettings
from .jobs import ScoreJob
from .settings import KDConfig, selected, settings


def kd_teachers(b, kd: KDConfig) -> list[str]:
    return selected(b.teachers, kd.teachers)


def kd_students(b, kd: KDConfig) -> list[str]:
    return selected(b.students, kd.students)


def score(b, key: str, model: Model, traces: list[str], kd: KDConfig) -> tuple[str, str]:
    """Plan a teacher's scoring of ``traces``; return (scores folder, its cost file).

    Scored up to the longest max_length of the students: a student with a shorter one uses the
    first tokens of each example, as its trainer truncates them.
    """
    max_length = max(_student_max_length(b, s, kd) for s in kd_students(b, kd))
    job_settings = ScoreSettings(
        top_k=kd.top_k,
        batch_size=kd.score.batch_size,
        chunk_examples=kd.score.chunk_examples,
        max_length=max_length,
        dtype=kd.score.dtype,
    )
    job = ScoreJob(
        key,
        model,
        tuple(traces),
        b.prompt(),
        asdict(job_settings),
        b.resources("evaluate"),
    )
    b.add_job("score_teacher", job)
    return results_path(key), f"{results_path(key)}.cost.json"


def _student_max_length(b, student: str, kd: KDConfig) -> int:
    entry = b.config["students"][student]
    return train_settings(b.config, entry.get("train"), kd.train)["max_length"]


def student(b, method: str, parts: list[str], student: str, data, kd: dict, kd_inputs) -> Model:
    """A KD student (its training settings: the student's, then `kd.train`): `cmoe train
    --kd` with the teacher scores (or, on-policy, the teachers) in ``kd_inputs``."""
    return b.train(
        paths.models(b.ns, f"student/{method}", *parts, student),
        b.config["students"][student]["model"],
        data,
        "students",
        student,
        settings(b.config).train,
        run_name="-".join([method, *parts, student]),
        options={"--kd": kd},
        extra_inputs=kd_inputs,
    )
