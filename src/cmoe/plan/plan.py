"""The plan: every job, row and comparison a config implies (built by
:func:`cmoe.plan.build_plan`, read by the rules). The shared stages' job kinds are its fields; a
method's own kinds live in ``method_jobs`` under names its rules read (:meth:`Plan.jobs_of`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..core.jobs import (
    BenchmarkJob,
    Comparisons,
    EvaluateJob,
    GatherJob,
    GenerateJob,
    LoglikJob,
    Model,
    Row,
    TrainJob,
)
from ..core.paths import RESULTS, data_card, results_path

STATS_FILES = ("stats.json", "contamination.json")  # a teacher's, beside its traces


@dataclass
class Plan:
    """Everything a config implies; built by :func:`cmoe.plan.build_plan`, read by the rules."""

    namespace: str
    # each training replicate's namespace: [namespace, namespace/seed-<s+1>, ...]
    replicate_namespaces: list[str] = field(default_factory=list)
    trains: dict[str, TrainJob] = field(default_factory=dict)
    generations: dict[str, GenerateJob] = field(default_factory=dict)
    gathers: dict[str, GatherJob] = field(default_factory=dict)
    evaluations: dict[str, EvaluateJob] = field(default_factory=dict)
    logliks: dict[str, LoglikJob] = field(default_factory=dict)
    benchmarks: dict[str, BenchmarkJob] = field(default_factory=dict)
    rows: list[Row] = field(default_factory=list)
    comparisons: Comparisons = field(default_factory=Comparisons)
    teacher_traces: dict[str, list[str]] = field(default_factory=dict)  # teacher -> kept files
    teacher_folders: dict[str, str] = field(default_factory=dict)  # teacher -> its curated folder
    # a curated trace stem (results/...) -> the generated file it curates, where that is not
    # the stem's own <stem>.raw.jsonl (a teacher's: generated in a shared, fingerprinted folder)
    raw_traces: dict[str, str] = field(default_factory=dict)
    tiny_models: dict[str, str] = field(default_factory=dict)  # key -> its `models` entry
    economics: dict[str, dict] = field(default_factory=dict)  # teacher -> stats, costs, price
    size_models: list[tuple[str, str]] = field(default_factory=list)  # (model, trained folder)
    filter_max_length: int = 4096
    # curation (cmoe.traces.curation): settings per config key ("" for the `curation` section,
    # "teachers.NAME" or "intermediates.NAME" for their overrides), which of them each generated
    # trace file's stem is curated with, the student tokenizer the `length` step counts in, the
    # evaluated texts `decontaminate` compares with, and the extra sources' file
    curation: dict[str, dict] = field(default_factory=dict)
    curated_by: dict[str, str] = field(default_factory=dict)  # trace stem -> curation key
    curation_tokenizer: Model | None = None
    curation_prompt: dict = field(default_factory=dict)  # the students' prompt
    contamination_index: str | None = None
    contamination_benchmarks: list[dict] = field(default_factory=list)
    extra_sources: list[dict] = field(default_factory=list)
    extra_traces: str | None = None
    extra_max_length: int = 4096
    stage_resources: dict[str, dict] = field(default_factory=dict)  # jobs without a model entry
    # a method's own kinds of job (e.g. KARD's index): kind -> {key: job}, read by its rules
    method_jobs: dict[str, dict] = field(default_factory=dict)
    method_targets: list[str] = field(default_factory=list)  # a method's own final outputs
    # (key, the stored job, another job of that key): see cmoe.plan.layout.check_layout
    collisions: list[tuple[str, Any, Any]] = field(default_factory=list)

    def curation_for(self, traces: str) -> dict:
        """The curation settings of a trace file's stem (results/...): its teacher's or
        intermediate's own, or the `curation` section's."""
        return self.curation.get(self.curated_by.get(traces, ""), self.curation[""])

    def raw_of(self, traces: str) -> str:
        """The generated file a trace stem (results/...) is curated from."""
        return self.raw_traces.get(traces, f"{traces}.raw.jsonl")

    @property
    def curation_inputs(self) -> list[str]:
        """What every curation job reads besides its records."""
        model = list(self.curation_tokenizer.inputs) if self.curation_tokenizer else []
        return model + ([self.contamination_index] if self.contamination_index else [])

    def jobs_of(self, kind: str) -> dict:
        """A method's jobs of one kind (empty when the config plans none)."""
        return self.method_jobs.get(kind, {})

    @property
    def ns(self) -> str:
        return f"{RESULTS}/{self.namespace}"

    @property
    def data_card(self) -> str:
        return results_path(data_card(self.namespace))

    def add(self, table: dict, job) -> Any:
        """Register a job once (methods share jobs, e.g. the generalist); return the stored one.
        Another job of the same key is a collision (:func:`cmoe.plan.layout.check_layout`)."""
        stored = table.setdefault(job.key, job)
        if stored != job:
            self.collisions.append((job.key, stored, job))
        return stored

    @property
    def score_files(self) -> list[str]:
        return [f"{r.eval_dir}/scores.json" for r in self.rows]

    @property
    def loglik_rows(self) -> list[Row]:
        return [r for r in self.rows if r.loglik]

    def table_inputs(self, loglik: bool | str = False) -> dict[str, list[str]]:
        """What a table job reads: each row's scores and predictions, every cost file of
        every row's chain, and the files of the comparisons' notes."""
        from ..reporting.costs import chain_files

        protocol = "mera" if loglik is True else loglik  # False, "mera" or "mera_gen"
        rows = self.loglik_rows if protocol else self.rows
        folders = [self.loglik_dir(r, protocol) if protocol else r.eval_dir for r in rows]
        return {
            "scores": [f"{f}/scores.json" for f in folders],
            "predictions": [f"{f}/predictions.jsonl" for f in folders],
            "costs": sorted({f for r in rows if r.chain for f in chain_files(r.chain)}),
            "notes": [n.file for n in self.comparisons.notes],
        }

    @property
    def targets(self) -> list[str]:
        """Every final output of the run (`rule all`): the tables, figures, the report's
        opening page, the data card, each teacher's statistics and contamination check, and
        the methods' own final outputs."""
        from ..reporting.plots import PLOTS

        ns = self.ns
        tables = ["scores.csv", "scores.md", "comparison.md", "differences.csv"]
        tables += ["claims.csv", "claims.md"]
        tables += ["study_comparison.md", "teacher_economics.csv", "teacher_economics.md"]
        if self.logliks:
            tables += ["scores_loglik.csv", "scores_loglik.md"]
        if any(j.protocol == "mera_gen" for j in self.logliks.values()):
            tables += ["scores_mera_gen.csv", "scores_mera_gen.md"]
        if self.benchmarks:
            tables += ["benchmarks.csv", "benchmarks.md"]
        out = [f"{ns}/tables/{name}" for name in tables]
        out += [f"{ns}/plots/{name}.{ext}" for name in PLOTS for ext in ("svg", "png")]
        out += [f"{ns}/plots/layout.json", f"{ns}/report/summary.rst", self.data_card]
        for folder in self.teacher_folders.values():
            out += [f"{folder}/{f}" for f in STATS_FILES]
        return out + self.method_targets

    def loglik_dir(self, row: Row, protocol: str = "mera") -> str:
        """A row's folder under MERA's protocol: eval_loglik/ (mera) or eval_mera_gen/."""
        folder = "eval_loglik" if protocol == "mera" else f"eval_{protocol}"
        ns = f"{RESULTS}/{self.replicate_namespaces[row.replicate]}"
        return row.eval_dir.replace(f"{ns}/eval/", f"{ns}/{folder}/", 1)
