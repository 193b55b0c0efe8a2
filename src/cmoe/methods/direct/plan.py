"""direct: each student learns from all of a teacher's correct traces (the study's baseline).

The generalist (an intermediate trained the same way) is its "direct into the intermediate" row.
"""

from __future__ import annotations

from ...core import paths
from ...core.planning import Builder
from ..roles import BASELINE as NAME
from ..roles.generalist import generalist_row


def plan(b: Builder) -> None:
    for teacher in b.teachers:
        teacher_gen = {"par": b.teacher_costs(teacher)}
        for student in b.students:
            model = b.student(NAME, teacher, None, student, b.teacher_traces(teacher))
            labels = {"method": NAME, "teacher": teacher, "via": "-", "model": student}
            chain = {"seq": [teacher_gen, model.path]}
            key = paths.evaluation(b.ns, f"student/{NAME}", teacher, student)
            b.row(key, model, labels, chain)
            if teacher == b.teachers[0]:
                b.size_model(student, model.path)
        for intermediate in b.intermediates:
            generalist_row(b, teacher, intermediate)
    for teacher in b.teachers:
        curated_alike(b, teacher)


def curated_alike(b: Builder, teacher: str) -> None:
    """A teacher that curates another's generated traces (`traces_from`) against that one,
    student by student: the same answers, two curation chains. Where only the source keeps
    correct answers (its steps have `correct`, the other's not), it is a control: the
    correctness filter must not hurt (README, "The correctness filter, measured")."""
    source = b.config["teachers"][teacher].get("traces_from")
    if source not in b.teachers:
        return
    steps = {t: _curation_steps(b, t) for t in (source, teacher)}
    control = "correct" in steps[source] and "correct" not in steps[teacher]
    how = "only the first keeps correct answers" if control else "curated differently"
    for row in b.rows_where(method=NAME, teacher=teacher):
        b.pair(
            f"{row.model}, {NAME}: {source} − {teacher} (the same generated traces, {how})",
            (NAME, source, "-", row.model),
            tuple(row.labels.values()),
            control=control,
        )


def _curation_steps(b: Builder, teacher: str) -> list[str]:
    own = b.config["teachers"][teacher].get("curation") or {}
    return own.get("steps", b.config["curation"]["steps"])
