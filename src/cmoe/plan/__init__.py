"""The plan: a pure function of the validated config that says which jobs and table rows exist.

The Snakemake rules ask the plan which targets exist and read each job's inputs, settings and
resources from it; `cmoe table` rebuilds the same plan from the resolved config file. Shared
stages (data, teacher traces, untrained bases) are planned here; each method adds its own jobs
and rows through :mod:`cmoe.methods` (see "Adding a method" in the README).
"""

from __future__ import annotations

from .builder import build_plan
from .jobs import (
    BenchmarkJob,
    EvaluateJob,
    GatherJob,
    GenerateJob,
    LoglikJob,
    MixtureJob,
    Model,
    Plan,
    Row,
    Subset,
    TrainJob,
    canonical_json,
    digest,
)

__all__ = [
    "BenchmarkJob",
    "EvaluateJob",
    "GatherJob",
    "GenerateJob",
    "LoglikJob",
    "MixtureJob",
    "Model",
    "Plan",
    "Row",
    "Subset",
    "TrainJob",
    "build_plan",
    "canonical_json",
    "digest",
]
