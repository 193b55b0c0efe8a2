"""The plan's layout check: no two outputs of a plan are one path, and none lies inside another.

Every job is keyed by its output path (a folder, or the stem of its files), so one key inside
another would make one job's output part of another's (Snakemake stops with ChildIOException),
and two jobs of one key would silently become one. The layout rules this out by construction
(:mod:`cmoe.core.paths`: a model's and an evaluation's folder end in a leaf of their own); this
check makes sure of it before the first job, with one line that names both outputs and the
config entries they come from.
"""

from __future__ import annotations

from ..core.errors import ConfigError
from ..core.paths import results_key
from ..methods import REGISTRY, named_sections
from .plan import Plan

# the config sections whose entries name a path's levels (the core's, then the methods')
SECTIONS = ("teachers", "intermediates", "students", "models", *named_sections(REGISTRY.values()))


def tables(plan: Plan) -> dict[str, dict]:
    """The plan's jobs by kind (a rule's name): {kind: {key: job}}."""
    return {
        "make_tiny_model": plan.tiny_models,
        "train": plan.trains,
        "generate": plan.generations,
        "gather": plan.gathers,
        "evaluate": plan.evaluations,
        "evaluate_loglik": plan.logliks,
        "evaluate_benchmark": plan.benchmarks,
        **plan.method_jobs,
    }


def outputs(plan: Plan) -> list[tuple[str, str, object]]:
    """Every output of the plan as (key below results/, job kind, job or None): each job's key
    (its folder, or its files' stem), the curated traces' stems, and the run's final outputs."""
    found = [(k, kind, job) for kind, table in tables(plan).items() for k, job in table.items()]
    generated = {key for key, _, _ in found}
    for stem in plan.curated_by:  # a stem a job generates is curated beside it
        if results_key(stem) not in generated:
            found.append((results_key(stem), "filter", None))
    found += [(results_key(path), "all", None) for path in plan.targets]
    return found


def check_layout(plan: Plan, config: dict) -> None:
    """Raise a one-line :class:`ConfigError` if two outputs of ``plan`` are equal (two different
    jobs of one key) or one lies inside another."""
    for key, first, second in plan.collisions:
        kind = next(kind for kind, table in tables(plan).items() if table.get(key) is first)
        raise ConfigError(
            f"two different {kind} jobs write results/{key} ({_entries(config, first)}), one "
            f"{_source(first)}, one {_source(second)}: rename one of these entries"
        )
    found = sorted(outputs(plan), key=lambda o: o[0].split("/"))
    for (a, kind_a, job_a), (b, kind_b, job_b) in zip(found, found[1:], strict=False):
        if a == b or b.startswith(a + "/"):
            where = "is also" if a == b else "is a parent of"
            raise ConfigError(
                f"output results/{a} ({kind_a}: {_entries(config, job_a, a)}) {where} "
                f"results/{b} ({kind_b}: {_entries(config, job_b, b)}): outputs must not "
                "nest; rename one of these entries"
            )


def _entries(config: dict, job, key: str | None = None) -> str:
    """The config entries an output comes from: its job's `config_key` if it has one, and every
    entry a level of its key names."""
    key = key if key is not None else job.key
    names = [job.config_key] if getattr(job, "config_key", None) else []
    for level in key.split("/"):
        for section in SECTIONS:
            name = f"{section}.{level}"
            if level in (config.get(section) or {}) and name not in names:
                names.append(name)
    return ", ".join(names) or "no config entry"


def _source(job) -> str:
    """What sets a job apart from another of its key: its config key, or the model it runs."""
    if getattr(job, "config_key", None):
        return f"for {job.config_key}"
    model = getattr(job, "model", None)
    return f"of {model.path}" if model is not None else f"of kind {type(job).__name__}"
