"""direct-kd: each student learns a teacher's traces from the text and from a teacher's logits.

The logits come from the generalist intermediate (``kd.direct_teacher: generalist``, one row per
intermediate) or from the teacher itself (``teacher``), which must share the student's
vocabulary (checked at start). The teacher scores the traces once (stored top-k log-probs);
the row's cost chain adds that scoring pass to the traces and the training.
"""

from __future__ import annotations

from ...core import paths
from ..direct.plan import generalist_row
from ..kd import plan as distill
from ..kd.settings import settings

NAME = "direct-kd"


def plan(b) -> None:
    kd = settings(b.config)
    for teacher in distill.kd_teachers(b, kd):
        traces = b.teacher_traces(teacher)
        if kd.direct_teacher == "teacher":
            sources = [("-", b.teacher_model(teacher), {"par": b.teacher_costs(teacher)})]
        else:
            sources = [
                (intermediate, *generalist_row(b, teacher, intermediate))
                for intermediate in b.intermediates
            ]
        for via, scorer, chain in sources:
            where = (teacher, via if via != "-" else "teacher")
            key = paths.join(b.ns, "kd", "scores", "direct", *where)
            scores, cost = distill.score(b, key, scorer, traces, kd)
            run = {"settings": kd.job_settings, "scores": [scores]}
            parts = [teacher] if via == "-" else [teacher, via]
            for student in distill.kd_students(b, kd):
                model = distill.student(b, NAME, parts, student, traces, run, [scores])
                labels = {"method": NAME, "teacher": teacher, "via": via, "model": student}
                key = paths.evaluation(b.ns, f"student/{NAME}", *parts, student)
                b.row(key, model, labels, {"seq": [chain, cost, model.path]})
