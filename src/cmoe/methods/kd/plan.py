"""What the logit-distillation methods (direct-kd, cmoe-kd) plan alike: a teacher's scoring of
training traces (rule `score_teacher`, `cmoe score-teacher`: its top-k log-probs per completion
token, stored), and the KD student that trains on the text and those scores without loading the
teacher (:mod:`cmoe.training.kd`). Each student's `--kd` names, beside each scores folder, the
teacher its manifest must name (:mod:`cmoe.training.score_manifest`), and the student job reads
that teacher's tokenizer to check it.

A student whose vocabulary differs from its teacher's (:mod:`.vocabulary`) takes the
cross-vocabulary path: the teacher scores the rows in that student's chat format and stores its
scores in its own vocabulary with byte spans; students of one vocabulary share those scores.
Their rows carry the method's label with `` (cross-vocab)``."""

from __future__ import annotations

from dataclasses import asdict
from typing import NamedTuple

from ...core import paths
from ...core.jobs import Model
from ...core.paths import results_path
from ...core.planning import Builder
from ...training.settings import train_settings
from ...training.teacher_scores import ScoreSettings
from .jobs import ScoreJob
from .settings import KDConfig, selected, settings
from .vocabulary import cross_vocab, vocabulary

CROSS_VOCAB = " (cross-vocab)"  # the row label's suffix


class Scores(NamedTuple):
    """A planned scoring pass: its folder and cost file, and what a KD student expects of its
    manifest (:mod:`cmoe.training.score_manifest`): the teacher's `models` key, model path,
    revision, and how to load its tokenizer."""

    folder: str
    cost: str
    teacher: dict
    inputs: tuple[str, ...]  # what a student reading them needs: the folder, the teacher's files


def kd_teachers(b: Builder, kd: KDConfig) -> list[str]:
    return selected(b.teachers, kd.teachers)


def kd_students(b: Builder, kd: KDConfig) -> list[str]:
    return selected(b.students, kd.students)


def vocabulary_groups(
    b: Builder, scorer: Model, students: list[str]
) -> list[tuple[str, list[str]]]:
    """``students`` grouped by vocabulary, in order: ("", those of the scorer's vocabulary)
    first if any, then (the first student's name, the students of each other vocabulary)."""
    groups: dict[str, list[str]] = {}
    for student in students:
        model = b.config["students"][student]["model"]
        groups.setdefault(vocabulary(b.config, model), []).append(student)
    own = groups.pop(vocabulary(b.config, scorer.name), None)
    return ([("", own)] if own else []) + [(g[0], g) for g in groups.values()]


def is_cross(b: Builder, scorer: Model, student: str) -> bool:
    return cross_vocab(b.config, scorer.name, b.config["students"][student]["model"])


def score(
    b: Builder,
    key: str,
    model: Model,
    traces: list[str],
    kd: KDConfig,
    students: list[str],
    entry: dict | None = None,
) -> Scores:
    """Plan a teacher's scoring of ``traces`` for ``students`` (one vocabulary); return its
    :class:`Scores`. Students of another vocabulary than the scorer's get the
    cross-vocabulary scores, in the first one's chat format. The job asks for the `evaluate`
    stage's resources, with ``entry``'s own over them (a 70B teacher's GPUs).

    Scored up to the longest max_length of the students: a student with a shorter one uses the
    first tokens of each example, as its trainer truncates them.
    """
    max_length = max(_student_max_length(b, s, kd) for s in students)
    student = None
    if is_cross(b, model, students[0]):
        student = b.model(b.config["students"][students[0]]["model"])
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
        b.resources("evaluate", entry),
        student,
    )
    b.add_job("score_teacher", job)
    teacher = {
        "teacher": model.name,
        "model": model.path,
        "revision": getattr(model, "revision", None),  # a hub id's, as its job loads it
        "trust_remote_code": model.trust_remote_code,
    }
    folder = results_path(key)
    return Scores(folder, f"{folder}.cost.json", teacher, (folder, *model.inputs))


def _student_max_length(b: Builder, student: str, kd: KDConfig) -> int:
    entry = b.config["students"][student]
    return train_settings(b.config, entry.get("train"), kd.train)["max_length"]


def run(kd: KDConfig, scored: list[Scores], cross: bool) -> dict:
    """An offline KD student's `--kd` option: its settings, its scores and the manifest each
    must carry (and, across vocabularies, how they are aligned and compared)."""
    spec = {
        "settings": kd.job_settings,
        "scores": [s.folder for s in scored],
        "manifests": [s.teacher for s in scored],
    }
    return {**spec, "cross_vocab": asdict(kd.cross_vocab)} if cross else spec


def student(
    b: Builder, method: str, parts: list[str], student: str, data, kd: dict, kd_inputs
) -> Model:
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
