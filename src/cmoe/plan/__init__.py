"""The plan: a pure function of the validated config that says which jobs and table rows exist.

The Snakemake rules ask the plan which targets exist and read each job's inputs, settings and
resources from it; `cmoe table` rebuilds the same plan from the resolved config file. The shared
stages are planned by :mod:`.teachers` and :mod:`.stages`; each method adds its own jobs, rows
and comparisons through the :class:`~.builder.PlanBuilder` (see "Adding a method" in the README).
"""

from __future__ import annotations

from dataclasses import replace

from .builder import PlanBuilder
from .layout import check_layout
from .plan import Plan


def build_plan(config: dict) -> Plan:
    """The study's jobs and rows for a validated config, defaults filled in (see
    cmoe.config.validate_config)."""
    from ..methods import BASELINE, REGISTRY, method_rank
    from .stages import (
        pair_with_bases,
        plan_bases,
        plan_benchmarks,
        plan_curation,
        plan_loglik,
        plan_teachers,
    )
    from .teachers import plan_teacher

    b = PlanBuilder(config, BASELINE)
    for teacher in b.teachers:
        plan_teacher(b, teacher)
    plan_bases(b)
    plan_teachers(b)
    students, seq2seq_students = b.students, b.seq2seq_students
    # every training replicate plans each method's chain again, in its own namespace (jobs
    # no training seed changes, such as the teachers' traces, are keyed alike and planned once)
    for replicate in range(len(b.plan.replicate_namespaces)):
        b.replicate = replicate
        # in the registry's order, so a method may compare its rows with an earlier method's
        for name in [m for m in REGISTRY if m in config["methods"]]:
            # a student that lists its `methods` is trained by those alone
            b.students = [s for s in students if _trains(config, s, name)]
            b.seq2seq_students = [s for s in seq2seq_students if _trains(config, s, name)]
            REGISTRY[name].plan(b)
    b.replicate = 0
    b.students, b.seq2seq_students = students, seq2seq_students
    pair_with_bases(b)
    plan = b.plan
    plan.rows = sorted(
        (replace(r, rank=method_rank(r.method)) for r in plan.rows),
        key=lambda r: (r.rank, r.teacher, r.via, r.model, r.replicate),
    )
    # Traces longer than the shortest training max_length are counted as over-length.
    lengths = [t.settings["max_length"] for t in plan.trains.values() if t.stage == "train"]
    plan.filter_max_length = min(lengths, default=config["training"]["max_length"])
    plan_curation(b)
    for stage in ("prepare_data", "make_tiny_model", "filter", "table"):
        plan.stage_resources[stage] = b.resources(stage)
    plan_loglik(b)
    plan_benchmarks(b)
    check_layout(plan, config)
    return plan


def _trains(config: dict, student: str, method: str) -> bool:
    methods = config["students"][student].get("methods")
    return methods is None or method in methods


__all__ = ["Plan", "PlanBuilder", "build_plan"]
