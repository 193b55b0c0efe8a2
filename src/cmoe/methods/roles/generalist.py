"""The generalist: an intermediate trained on all of a teacher's traces, and its row (labelled
as the baseline's: "direct into the intermediate"). Planned by direct, cascade and direct-kd;
jobs are keyed by output, so it is planned once."""

from __future__ import annotations

from ...core import paths
from ...core.planning import Builder
from . import BASELINE


def generalist(b: Builder, teacher: str, intermediate: str):
    """The intermediate trained on all of a teacher's traces (cascade's first step, and the
    study's "one model on undivided data" baseline); returns it and its cost chain."""
    model = b.train(
        paths.models(b.ns, "generalist", teacher, intermediate),
        b.config["intermediates"][intermediate]["model"],
        b.teacher_traces(teacher),
        "intermediates",
        intermediate,
        run_name=f"generalist-{teacher}-{intermediate}",
    )
    return model, {"seq": [{"par": b.teacher_costs(teacher)}, model.path]}


def generalist_row(b: Builder, teacher: str, intermediate: str):
    """The generalist and its row; returns its model and cost chain."""
    model, chain = generalist(b, teacher, intermediate)
    labels = {"method": BASELINE, "teacher": teacher, "via": "-", "model": intermediate}
    b.row(paths.evaluation(b.ns, "generalist", teacher, intermediate), model, labels, chain)
    if teacher == b.teachers[0]:
        b.size_model(intermediate, model.path)
    return model, chain
