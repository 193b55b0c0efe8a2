"""cmoe-kd: routed logit distillation. Each training trace's teacher is the CMoE specialist of
its question's domain (oracle routing: the specialist that wrote the trace); one student learns
from all of them.

- ``cmoe-kd``: each specialist scores its own kept traces once (stored top-k log-probs); the
  student trains on the union with cross-entropy plus the divergence to each trace's specialist.
  Specialists of another vocabulary than the student's score the traces in the student's chat
  format and store their scores in their own vocabulary with byte spans, once per student
  vocabulary (rows ``cmoe-kd (cross-vocab)``).
- ``cmoe-kd (on-policy)`` (``kd.on_policy.enabled``): GKD -- on a fraction ``kd.on_policy.lmbda``
  of the steps the student writes the completion itself, and the routed specialists, loaded
  during training, score whatever the student saw (one vocabulary only: checked at validation).

Rows' cost chains: the specialists' branches (teacher traces, training, their traces), the
scoring passes (offline), and the student.
"""

from __future__ import annotations

from ...core import paths
from ...core.planning import Builder
from ..kd import plan as distill
from ..kd.settings import settings
from ..roles.specialists import specialists

NAME = "cmoe-kd"
ON_POLICY = f"{NAME} (on-policy)"


def plan(b: Builder) -> None:
    kd = settings(b.config)
    for teacher in distill.kd_teachers(b, kd):
        for intermediate in b.intermediates:
            planned = specialists(b, teacher, intermediate)
            traces = [s["traces"] for s in planned]
            parts = [teacher, intermediate]
            students = distill.kd_students(b, kd)
            online = {"par": [{"seq": s["branch"]} for s in planned]}
            scorer = planned[0]["model"]  # every specialist is an `intermediate` model
            for group, members in distill.vocabulary_groups(b, scorer, students):
                scored = []
                for s in planned:
                    where = intermediate + (f"-xv-{group}" if group else "")
                    key = paths.join(b.ns, "kd", "scores", "cmoe", teacher, where, s["group"])
                    scored.append(distill.score(b, key, s["model"], [s["traces"]], kd, members))
                offline = {
                    "par": [
                        {"seq": [*s["branch"], scores.cost]}
                        for s, scores in zip(planned, scored, strict=True)
                    ]
                }
                inputs = list(dict.fromkeys(i for scores in scored for i in scores.inputs))
                run = distill.run(kd, scored, bool(group))
                method = NAME + (distill.CROSS_VOCAB if group else "")
                for student in members:
                    labels = {"teacher": teacher, "via": intermediate, "model": student}
                    model = distill.student(b, NAME, parts, student, traces, run, inputs)
                    key = paths.evaluation(b.ns, f"student/{NAME}", *parts, student)
                    b.row(key, model, {"method": method, **labels}, {"seq": [offline, model.path]})
                    if not kd.on_policy.enabled:
                        continue
                    on_policy_student(b, parts, student, planned, kd, labels, online)


def on_policy_student(b: Builder, parts, student, planned, kd, labels, online) -> None:
    """The on-policy row: the routed specialists loaded beside the student (GKD)."""
    teachers = [s["model"].path for s in planned]
    run = {
        "settings": kd.job_settings,
        "teachers": teachers,
        # the trace file at data[i] is scored by teachers[data_teacher[i]]
        "data_teacher": list(range(len(planned))),
    }
    traces = [s["traces"] for s in planned]
    model = distill.student(b, f"{NAME}-on-policy", parts, student, traces, run, teachers)
    key = paths.evaluation(b.ns, f"student/{NAME}-on-policy", *parts, student)
    b.row(key, model, {"method": ON_POLICY, **labels}, {"seq": [online, model.path]})
