"""What the plan is made of: the jobs a config implies, and the rows of the score table.

Every job is keyed by its output path below ``results/`` (``Job.key``): the rules match that key
as their one wildcard, ``{job}``, and look everything else up here. A row carries its labels as
fields, so nothing downstream recovers a label by splitting a path.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

RESULTS = "results"
FEWSHOT_POOL = f"{RESULTS}/data/fewshot.jsonl"  # MERA's few-shot pool (cmoe prepare-fewshot)


def results_path(key: str) -> str:
    return f"{RESULTS}/{key}"


def results_key(path: str) -> str:
    """The key of a path below results/ (the inverse of :func:`results_path`)."""
    return path.removeprefix(f"{RESULTS}/")


def canonical_json(obj: Any) -> str:
    """Settings as canonical JSON: what the CLI receives and what Snakemake compares."""
    return json.dumps(obj, sort_keys=True, ensure_ascii=False)


def digest(obj: Any, length: int = 16) -> str:
    """A short stable digest of a (large) value, for rerun-triggering params."""
    return hashlib.sha256(canonical_json(obj).encode("utf-8")).hexdigest()[:length]


@dataclass(frozen=True)
class Model:
    """A model a job loads: where `from_pretrained` finds it and what the workflow builds."""

    name: str  # the `models` key (or a trained folder's label), for messages and sizes
    path: str  # hub id, local folder, or a folder this workflow writes
    inputs: tuple[str, ...] = ()  # files/folders Snakemake must build first
    trust_remote_code: bool = False
    arch: str = "causal"  # or "seq2seq" (an encoder-decoder: the entry's `arch`)


@dataclass(frozen=True)
class TrainJob:
    key: str  # output folder below results/
    model: Model
    data: tuple[str, ...]  # trace files (or the train split, for `source: reference`)
    source: str  # "traces" or "reference"
    settings: dict  # effective training settings (defaults filled in)
    prompt: dict
    run_name: str
    resources: dict
    config_key: str  # where its settings live, for messages
    stage: str = "train"  # resources stage ("warmup" for the demo teachers)
    # logit distillation (cmoe.training.kd): settings and teacher scores or teachers, and the
    # folders it reads (stored scores, or the teachers' models on-policy)
    kd: dict | None = None
    kd_inputs: tuple[str, ...] = ()
    seq2seq: dict | None = None  # an encoder-decoder's Seq2SeqSettings (cmoe.training.seq2seq)

    @property
    def out(self) -> str:
        return results_path(self.key)


@dataclass(frozen=True)
class GenerateJob:
    key: str  # output stem below results/: <key>.raw.jsonl and <key>.cost.json
    model: Model
    domains: tuple[str, ...]
    shard: tuple[int, int]  # (index, count)
    generation: dict
    prompt: dict
    resources: dict
    questions: str = "results/data/train.jsonl"


@dataclass(frozen=True)
class GatherJob:
    key: str  # output stem below results/: <key>.raw.jsonl
    shards: tuple[str, ...]  # the shards' .raw.jsonl files, in order


@dataclass(frozen=True)
class Subset:
    """A CMoE specialist answers its own domains' questions plus those routed to it."""

    group: str
    groups: dict[str, list[str]]
    routes: str


@dataclass(frozen=True)
class EvaluateJob:
    key: str  # output folder below results/: predictions.jsonl + scores.json
    model: Model
    generation: dict
    prompt: dict
    resources: dict
    subset: Subset | None = None
    questions: str = "results/data/test.jsonl"
    max_length: int | None = None  # KARD: retrieved passages are cut to fit this
    samples: int = 1  # k answers per question (sampled) when > 1: avg@k and majority@k


@dataclass(frozen=True)
class LoglikJob:
    key: str
    model: Model
    settings: dict  # k, seed, same_split, batch_size, dtype (+ max_new_tokens for mera_gen)
    resources: dict
    protocol: str = "mera"  # or mera_gen (cmoe.loglik)
    questions: str = "results/data/test.jsonl"
    pool: str = FEWSHOT_POOL


@dataclass(frozen=True)
class BenchmarkJob:
    """One lm-eval task on one model (`evaluation.benchmarks`)."""

    key: str  # output folder below results/: scores.json + predictions.jsonl
    model: Model
    label: str  # the model in the benchmark table: base/<model>, student/direct/<teacher>/...
    task: str
    settings: dict  # BenchmarkSettings of the task (cmoe.benchmarks)
    resources: dict


@dataclass(frozen=True)
class MixtureJob:
    key: str
    predictions: dict[str, str]  # specialist group -> its predictions.jsonl
    groups: dict[str, list[str]]
    routes: str | None  # None: oracle routing by the question's domain
    questions: str = "results/data/test.jsonl"


@dataclass(frozen=True)
class Row:
    """One row of the score table: an evaluated model, its labels and its cost chain."""

    eval_dir: str  # holds predictions.jsonl and scores.json
    method: str
    teacher: str
    via: str
    model: str
    chain: Any = None  # cost chain (see cmoe.reporting.costs), None for untrained bases
    loglik: bool = True  # also scored by the log-likelihood protocol

    @property
    def labels(self) -> dict[str, str]:
        return {
            "method": self.method,
            "teacher": self.teacher,
            "via": self.via,
            "model": self.model,
        }


@dataclass
class Plan:
    """Everything a config implies; built by :func:`cmoe.plan.build_plan`, read by the rules."""

    namespace: str
    trains: dict[str, TrainJob] = field(default_factory=dict)
    generations: dict[str, GenerateJob] = field(default_factory=dict)
    gathers: dict[str, GatherJob] = field(default_factory=dict)
    evaluations: dict[str, EvaluateJob] = field(default_factory=dict)
    logliks: dict[str, LoglikJob] = field(default_factory=dict)
    mixtures: dict[str, MixtureJob] = field(default_factory=dict)
    benchmarks: dict[str, BenchmarkJob] = field(default_factory=dict)
    rows: list[Row] = field(default_factory=list)
    teacher_traces: dict[str, list[str]] = field(default_factory=dict)  # teacher -> kept files
    economics: dict[str, dict] = field(default_factory=dict)  # teacher -> stats, costs, price
    size_models: list[tuple[str, str]] = field(default_factory=list)  # (model, trained folder)
    routes: str | None = None  # the learned router's output, when a method routes
    filter_max_length: int = 4096
    # curation (cmoe.filtering): settings per teacher, the student tokenizer the `length` step
    # counts in, the evaluated texts `decontaminate` compares with, and the extra sources' file
    # "" (the `curation` section), "teachers.NAME" or "intermediates.NAME" (their overrides)
    curation: dict[str, dict] = field(default_factory=dict)
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

    def curation_for(self, traces: str) -> dict:
        """The curation settings of a trace file: its teacher's or intermediate's own (a
        generalist's or specialist's traces), or the default."""
        parts = traces.split("/")
        if parts[:3] == [RESULTS, "traces", "teacher"]:
            key = f"teachers.{parts[3]}"
        elif len(parts) > 5 and parts[2] == "traces" and parts[3] in ("generalist", "specialist"):
            key = f"intermediates.{parts[5]}"
        else:
            key = ""
        return self.curation.get(key, self.curation[""])

    @property
    def curation_inputs(self) -> list[str]:
        """What every curation job reads besides its records."""
        model = list(self.curation_tokenizer.inputs) if self.curation_tokenizer else []
        return model + ([self.contamination_index] if self.contamination_index else [])

    def jobs_of(self, kind: str) -> dict:
        return self.method_jobs.setdefault(kind, {})

    @property
    def ns(self) -> str:
        return f"{RESULTS}/{self.namespace}"

    def add(self, table: dict, job) -> Any:
        """Register a job once (methods share jobs, e.g. the generalist); return the stored one."""
        return table.setdefault(job.key, job)

    @property
    def score_files(self) -> list[str]:
        return [f"{r.eval_dir}/scores.json" for r in self.rows]

    @property
    def loglik_rows(self) -> list[Row]:
        return [r for r in self.rows if r.loglik]

    def table_inputs(self, loglik: bool | str = False) -> dict[str, list[str]]:
        """What a table job reads: each row's scores and predictions, every cost file of
        every row's chain, and the learned routes (for the router's accuracy)."""
        from ..reporting.costs import chain_files

        protocol = "mera" if loglik is True else loglik  # False, "mera" or "mera_gen"
        rows = self.loglik_rows if protocol else self.rows
        folders = [self.loglik_dir(r, protocol) if protocol else r.eval_dir for r in rows]
        return {
            "scores": [f"{f}/scores.json" for f in folders],
            "predictions": [f"{f}/predictions.jsonl" for f in folders],
            "costs": sorted({f for r in rows if r.chain for f in chain_files(r.chain)}),
            "routes": [self.routes] if self.routes else [],
        }

    def loglik_dir(self, row: Row, protocol: str = "mera") -> str:
        """A row's folder under MERA's protocol: eval_loglik/ (mera) or eval_mera_gen/."""
        folder = "eval_loglik" if protocol == "mera" else f"eval_{protocol}"
        return row.eval_dir.replace(f"{self.ns}/eval/", f"{self.ns}/{folder}/", 1)
