"""cascade: teacher -> generalist intermediate -> its own correct traces -> student."""

from __future__ import annotations

from ...core import paths
from ...core.domains import DOMAINS
from ...core.paths import results_path
from ...core.planning import Builder
from ..roles import BASELINE
from ..roles.generalist import generalist_row

NAME = "cascade"


def plan(b: Builder) -> None:
    for teacher in b.teachers:
        for intermediate in b.intermediates:
            generalist, generalist_chain = generalist_row(b, teacher, intermediate)
            entry = b.config["intermediates"][intermediate]
            stem = paths.traces(b.ns, "generalist", teacher, intermediate)
            curation = f"intermediates.{intermediate}"
            costs = [b.generate(f"{stem}/{d}", generalist, [d], entry, curation) for d in DOMAINS]
            traces = [results_path(f"{stem}/{d}") + ".jsonl" for d in DOMAINS]
            for student in b.students:
                model = b.student(NAME, teacher, intermediate, student, traces)
                labels = {"method": NAME, "teacher": teacher, "via": intermediate, "model": student}
                chain = {"seq": [generalist_chain, {"par": costs}, model.path]}
                key = paths.evaluation(b.ns, f"student/{NAME}", teacher, intermediate, student)
                b.row(key, model, labels, chain)
                b.pair(
                    f"{student}, {NAME} via {intermediate} − {BASELINE} ({teacher})",
                    (NAME, teacher, intermediate, student),
                    (BASELINE, teacher, "-", student),
                )
