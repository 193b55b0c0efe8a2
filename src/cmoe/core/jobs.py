"""What a plan is made of: the jobs a config implies, the rows of the score table, and the
comparisons the tables and the report's headline draw between rows (the plan itself is
:class:`cmoe.plan.plan.Plan`).

Every job is keyed by its output path below ``results/`` (``Job.key``): a rule whose jobs share
one shape names its wildcards, the others match that key as ``{job}``, and all look everything
else up in the plan. A row carries its labels as fields, so nothing downstream recovers a label
by splitting a path.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .paths import FEWSHOT_POOL, TEST_SPLIT, TRAIN_SPLIT, results_path


@dataclass(frozen=True)
class Model:
    """A model a job loads: where `from_pretrained` finds it and what the workflow builds."""

    name: str  # the `models` key (or a trained folder's label), for messages and sizes
    path: str  # hub id, local folder, or a folder this workflow writes
    inputs: tuple[str, ...] = ()  # files/folders Snakemake must build first
    trust_remote_code: bool = False
    arch: str = "causal"  # or "seq2seq" (an encoder-decoder: the entry's `arch`)
    revision: str | None = None  # a hub id's commit or tag (the entry's `revision`)

    @property
    def identity(self) -> list:
        """What of the model makes its outputs, for the folders named by a fingerprint: a
        revision only where one is given (an unpinned model's folders keep their names)."""
        revision = [self.revision] if self.revision else []
        return [self.path, self.trust_remote_code, self.arch, *revision]


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
    # what a method adds to the trainer: extra `cmoe train` options as (flag, JSON value) (a
    # KD student's teacher scores, an encoder-decoder's target format), and the files or
    # folders those options read
    options: tuple[tuple[str, Any], ...] = ()
    extra_inputs: tuple[str, ...] = ()

    @property
    def out(self) -> str:
        return results_path(self.key)

    def option(self, flag: str):
        """The value of one of the method's options (``--kd``), or None."""
        return dict(self.options).get(flag)


@dataclass(frozen=True)
class GenerateJob:
    key: str  # output stem below results/: <key>.raw.jsonl and <key>.cost.json
    model: Model
    domains: tuple[str, ...]
    shard: tuple[int, int]  # (index, count)
    generation: dict
    prompt: dict
    resources: dict
    questions: str = TRAIN_SPLIT


@dataclass(frozen=True)
class GatherJob:
    key: str  # output stem below results/: <key>.raw.jsonl
    shards: tuple[str, ...]  # the shards' .raw.jsonl files, in order


@dataclass(frozen=True)
class Subset:
    """A model that answers only the questions routed to its group (a specialist): its own
    domains' questions, and those that any of the routes (learned, misrouted) send it."""

    group: str
    groups: dict[str, list[str]]
    routes: tuple[str, ...]


@dataclass(frozen=True)
class EvaluateJob:
    key: str  # output folder below results/: predictions.jsonl + scores.json
    model: Model
    generation: dict
    prompt: dict
    resources: dict
    subset: Subset | None = None
    questions: str = TEST_SPLIT
    max_length: int | None = None  # retrieved passages in the questions are cut to fit this
    samples: int = 1  # k answers per question (sampled) when > 1: avg@k and majority@k


@dataclass(frozen=True)
class LoglikJob:
    key: str
    model: Model
    settings: dict  # k, seed, same_split, batch_size, dtype (+ max_new_tokens for mera_gen)
    resources: dict
    protocol: str = "mera"  # or mera_gen (cmoe.evaluation.loglik)
    questions: str = TEST_SPLIT
    pool: str = FEWSHOT_POOL


@dataclass(frozen=True)
class BenchmarkJob:
    """One lm-eval task on one model (`evaluation.benchmarks`)."""

    key: str  # output folder below results/: scores.json + predictions.jsonl
    model: Model
    label: str  # the model in the benchmark table: base/<model>, student/<method>/<teacher>/...
    task: str
    settings: dict  # BenchmarkSettings of the task (cmoe.evaluation.benchmarks)
    resources: dict


Labels = tuple[str, str, str, str]  # (method, teacher, via, model): a row's identity


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
    # the row this one is compared with in differences.csv and the figures (its method's
    # baseline for the same teacher and model), as labels; None: no comparison
    reference: Labels | None = None
    rank: float = 0.0  # its method's place in the table (untrained bases first; the registry's)
    # its training replicate (`replicates`): rows of equal labels are one table row, the mean
    # over replicates
    replicate: int = 0

    @property
    def labels(self) -> dict[str, str]:
        return {
            "method": self.method,
            "teacher": self.teacher,
            "via": self.via,
            "model": self.model,
        }


@dataclass(frozen=True)
class Pair:
    """A paired comparison of two rows on the same items, as one sentence: ``name`` then the
    difference, its paired-bootstrap interval and McNemar's test. A ``control`` is an effect a
    working pipeline must show (``a`` above ``b``: a trained student above its untrained base,
    right routing above misrouting); the report says which controls were recovered.
    ``items`` (field, values) compares the two on the questions whose field is one of the
    values only (``("kind", ("knowledge",))``: where an effect is planted; ``("domain", ...)``:
    a specialist's own domains); on data without that field, on every question."""

    name: str
    a: Labels
    b: Labels
    control: bool = False
    items: tuple[str, tuple[str, ...]] | None = None


@dataclass(frozen=True)
class Block:
    """A section of comparison.md: a few rows side by side, their difference row, one paired
    sentence and the training-cost ratio of two of them (the study's own comparison)."""

    title: str
    lines: tuple[tuple[str, Labels], ...]  # (line label, row)
    delta: tuple[str, Labels, Labels] | None = None  # (label, a, b): a − b per domain
    pair: Pair | None = None  # the paired test of the two
    cost: tuple[str, Labels, Labels] | None = None  # (label, a, b): a's cost ÷ b's


@dataclass(frozen=True)
class Note:
    """A line of comparison.md read from a result file with ``accuracy`` and ``n``."""

    label: str
    file: str


@dataclass
class Comparisons:
    """What comparison.md and the report's headline compare, as the methods planned it."""

    notes: list[Note] = field(default_factory=list)
    blocks: list[Block] = field(default_factory=list)  # in the order of their titles
    pairs: list[Pair] = field(default_factory=list)  # under the table of every trained model
    headline: list[Pair] = field(default_factory=list)  # the report's first bullets
