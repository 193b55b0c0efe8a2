"""cmoe-kd: routed logit distillation. Each training trace's teacher is the CMoE specialist of
its question's domain (oracle routing: the specialist that wrote the trace); one student learns
from all of them.

- ``cmoe-kd``: each specialist scores its own kept traces once (stored top-k log-probs); the
  student trains on the union with cross-entropy plus the divergence to each trace's specialist.
- ``cmoe-kd (on-policy)`` (``kd.on_policy.enabled``): GKD -- on a fraction ``kd.on_policy.lmbda``
  of the steps the student writes the completion itself, and the routed specialists, loaded
  during training, score whatever the student saw.

Rows' cost chains: the specialists' branches (teacher traces, training, their traces), the
scoring passes (offline), and the student.
"""

from __future__ import annotations

from ...core import paths
from ..cmoe.plan import specialists
from ..kd import plan as distill
from ..kd.settings import settings

NAME = "cmoe-kd"
ON_POLICY = f"{NAME} (on-policy)"


def plan(b) -> None:
    kd = settings(b.config)
    for teacher in distill.kd_teachers(b, kd):
        for intermediate in b.intermediates:
            planned = specialists(b, teacher, intermediate, evaluate=False)
            traces = [s["traces"] for s in planned]
            scored = []
            for s in planned:
                key = paths.join(b.ns, "kd", "scores", "cmoe", teacher, intermediate, s["group"])
                scored.append(distill.score(b, key, s["model"], [s["traces"]], kd))
            offline = {
                "par": [
                    {"seq": [*s["branch"], c]} for s, (_, c) in zip(planned, scored, strict=True)
                ]
            }
            online = {"par": [{"seq": s["branch"]} for s in planned]}
            parts = [teacher, intermediate]
            for student in distill.kd_students(b, kd):
                labels = {"teacher": teacher, "via": intermediate, "model": student}
                run = {"settings": kd.job_settings, "scores": [d for d, _ in scored]}
                model = distill.student(
                    b, NAME, parts, student, traces, run, [d for d, _ in scored]
                )
                key = paths.evaluation(b.ns, f"student/{NAME}", *parts, student)
                b.row(key, model, {"method": NAME, **labels}, {"seq": [offline, model.path]})
                if not kd.on_policy.enabled:
                    continue
                teachers = [s["model"].path for s in planned]
                run = {
                    "settings": kd.job_settings,
                    "teachers": teachers,
                    # the trace file at data[i] is scored by teachers[data_teacher[i]]
                    "data_teacher": list(range(len(planned))),
                }
                model = distill.student(
                    b, f"{NAME}-on-policy", parts, student, traces, run, teachers
                )
                key = paths.evaluation(b.ns, f"student/{NAME}-on-policy", *parts, student)
                b.row(key, model, {"method": ON_POLICY, **labels}, {"seq": [online, model.path]})
