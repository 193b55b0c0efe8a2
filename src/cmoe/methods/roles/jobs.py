"""The specialists' shared job kind: the specialists (LoRA adapters of one base) served together
by one engine, for their traces and (CMoE) their evaluation."""

from __future__ import annotations

from dataclasses import dataclass

from ...core.jobs import Model
from ...core.paths import TRAIN_SPLIT, join

# The leaf of such a job's key, beside its groups' outputs (a key is never a parent of another
# output: cmoe.plan.layout); a group of this name is refused by the layout check.
ENGINE = "one-engine"


@dataclass(frozen=True)
class AdaptersJob:
    """The specialists of one teacher and intermediate, LoRA adapters of the intermediate's
    model, served by one vLLM engine: each answers the questions of its own group, into the
    files a job of its own would write. Traces: ``results/<folder>/<group>.raw.jsonl`` and
    ``.cost.json`` (the train split, by domain); evaluation: ``results/<folder>/<group>/eval/``
    predictions.jsonl and scores.json (the test split: its domains' questions and those the
    ``routes`` send it)."""

    folder: str  # the folder of the groups' outputs, below results/
    base: Model  # the intermediate's model, which the engine loads
    adapters: tuple[tuple[str, Model], ...]  # (group, its specialist), in the groups' order
    groups: dict[str, list[str]]
    generation: dict
    prompt: dict
    resources: dict
    questions: str = TRAIN_SPLIT
    routes: tuple[str, ...] = ()  # evaluation: the routes files (learned, misrouted)
    samples: int = 1  # evaluation: answers per question (`evaluation.samples`)

    @property
    def key(self) -> str:
        return join(self.folder, ENGINE)

    @property
    def inputs(self) -> tuple[str, ...]:
        """What Snakemake builds first: the base (if built here) and every adapter."""
        models = [self.base, *(m for _, m in self.adapters)]
        return tuple(dict.fromkeys(i for m in models for i in m.inputs))

    @property
    def adapter_folders(self) -> dict[str, str]:
        return {group: model.path for group, model in self.adapters}


def engine_job(wildcards) -> str:
    """The key of the job that writes a folder's groups (the rules' ``{folder}`` wildcard)."""
    return join(wildcards.folder, ENGINE)
