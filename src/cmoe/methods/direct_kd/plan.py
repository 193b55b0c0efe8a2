"""direct-kd: each student learns a teacher's traces from the text and from a teacher's logits.

The logits come from the generalist intermediate (``kd.direct_teacher: generalist``, one row per
intermediate) or from the teacher itself (``teacher``), or both; a mapping picks per teacher.
The scorer scores the traces once (stored top-k log-probs) for the students of its vocabulary,
and once more for each other vocabulary among the students (the cross-vocabulary path, rows
labelled ``direct-kd (cross-vocab)``). The row's cost chain adds that scoring pass to the traces
and the training.
"""

from __future__ import annotations

from ...core import paths
from ...core.planning import Builder
from ..kd import plan as distill
from ..kd.settings import direct_scorers, settings
from ..roles import BASELINE as DIRECT
from ..roles.generalist import generalist_row

NAME = "direct-kd"


def plan(b: Builder) -> None:
    kd = settings(b.config)
    for teacher in distill.kd_teachers(b, kd):
        traces = b.teacher_traces(teacher)
        sources = []
        if "teacher" in direct_scorers(kd, teacher):
            chain = {"par": b.teacher_costs(teacher)}
            entry = b.config["teachers"][teacher]  # its resources: a 70B needs its GPUs
            sources.append(("-", b.teacher_model(teacher), chain, entry))
        if "generalist" in direct_scorers(kd, teacher):
            sources += [
                (intermediate, *generalist_row(b, teacher, intermediate), None)
                for intermediate in b.intermediates
            ]
        students = distill.kd_students(b, kd)
        for via, scorer, chain, entry in sources:
            where = [teacher, via if via != "-" else "teacher"]
            parts = [teacher] if via == "-" else [teacher, via]
            for group, members in distill.vocabulary_groups(b, scorer, students):
                suffix = f"-xv-{group}" if group else ""
                key = paths.join(b.ns, "kd", "scores", "direct", *where) + suffix
                scores = distill.score(b, key, scorer, traces, kd, members, entry)
                run = distill.run(kd, [scores], bool(group))
                method = NAME + (distill.CROSS_VOCAB if group else "")
                for student in members:
                    model = distill.student(b, NAME, parts, student, traces, run, scores.inputs)
                    labels = {"method": method, "teacher": teacher, "via": via, "model": student}
                    key = paths.evaluation(b.ns, f"student/{NAME}", *parts, student)
                    b.row(key, model, labels, {"seq": [chain, scores.cost, model.path]})
                    logits_add_to_text(b, labels)


def logits_add_to_text(b: Builder, labels: dict) -> None:
    """A control: the student distilled from logits and text above the same student trained
    on the same traces by SFT alone (method direct, planned when the student trains by it).
    Logit distillation claims to add to SFT; beating an untrained base would not show that."""
    teacher, student = labels["teacher"], labels["model"]
    via = "the teacher" if labels["via"] == "-" else labels["via"]
    for sft in b.rows_where(method=DIRECT, teacher=teacher, via="-", model=student):
        b.pair(
            f"{student}, {labels['method']} ({via}'s logits) − {DIRECT}, SFT alone ({teacher})",
            tuple(labels.values()),
            tuple(sft.labels.values()),
            control=True,
        )
