"""direct: each student learns from all of a teacher's correct traces (the study's baseline).

The generalist (an intermediate trained the same way) is its "direct into the intermediate" row.
"""

from __future__ import annotations

NAME = "direct"


def plan(b) -> None:
    ns = b.plan.namespace
    for teacher in b.teachers:
        teacher_gen = {"par": b.teacher_costs(teacher)}
        for student in b.students:
            model = b.student(NAME, teacher, None, student, b.teacher_traces(teacher))
            labels = {"method": NAME, "teacher": teacher, "via": "-", "model": student}
            chain = {"seq": [teacher_gen, model.path]}
            b.row(f"{ns}/eval/student/direct/{teacher}/{student}", model, labels, chain)
            if teacher == b.teachers[0]:
                b.plan.size_models.append((student, model.path))
        for intermediate in b.intermediates:
            generalist_row(b, teacher, intermediate)


def generalist_row(b, teacher: str, intermediate: str):
    """The generalist and its row (shared with cascade); returns its model and cost chain."""
    model, chain = b.generalist(teacher, intermediate)
    labels = {"method": NAME, "teacher": teacher, "via": "-", "model": intermediate}
    b.row(f"{b.plan.namespace}/eval/generalist/{teacher}/{intermediate}", model, labels, chain)
    if teacher == b.teachers[0] and (intermediate, model.path) not in b.plan.size_models:
        b.plan.size_models.append((intermediate, model.path))
    return model, chain
