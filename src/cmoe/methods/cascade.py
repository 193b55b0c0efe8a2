"""cascade: teacher -> generalist intermediate -> its own correct traces -> student."""

from __future__ import annotations

from ..domains import DOMAINS
from .direct import generalist_row

NAME = "cascade"


def plan(b) -> None:
    ns = b.plan.namespace
    for teacher in b.teachers:
        for intermediate in b.intermediates:
            generalist, generalist_chain = generalist_row(b, teacher, intermediate)
            entry = b.config["intermediates"][intermediate]
            stem = f"{ns}/traces/generalist/{teacher}/{intermediate}"
            costs = [b.generate(f"{stem}/{d}", generalist, [d], entry) for d in DOMAINS]
            traces = [f"results/{stem}/{d}.jsonl" for d in DOMAINS]
            for student in b.students:
                model = b.student(NAME, teacher, intermediate, student, traces)
                labels = {"method": NAME, "teacher": teacher, "via": intermediate, "model": student}
                chain = {"seq": [generalist_chain, {"par": costs}, model.path]}
                b.row(
                    f"{ns}/eval/student/cascade/{teacher}/{intermediate}/{student}",
                    model,
                    labels,
                    chain,
                )
