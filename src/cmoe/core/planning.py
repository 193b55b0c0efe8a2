"""The builder a method plans through: the typed contract between ``methods/`` and ``plan/``.

A method's ``plan(b: Builder)`` (and every helper it passes ``b`` to) may use only what this
protocol declares. :class:`cmoe.plan.builder.PlanBuilder` is the one implementation;
``tests/test_layers.py`` checks that it satisfies the protocol, signature by signature, and that
no method's module reaches ``b`` for anything undeclared. The protocol lives in ``core`` so the
methods can name the type without importing the layer above them.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol, runtime_checkable

from .jobs import Block, Labels, Model, Row


@runtime_checkable
class Builder(Protocol):
    # --- what the config says (read once) ----------------------------------------------------
    config: dict  # the validated config, defaults filled in
    teachers: list[str]  # `teachers` keys
    students: list[str]  # causal students (`students` keys)
    seq2seq_students: list[str]  # encoder-decoder students (`arch: seq2seq`)
    intermediates: list[str]  # `intermediates` keys
    replicate: int  # the replicate being planned (0: the run's own paths)

    @property
    def ns(self) -> str:
        """The namespace of what a training seed can change, in the replicate being planned."""

    @property
    def shared_ns(self) -> str:
        """The run's namespace: what no training seed changes."""

    # --- models and settings -----------------------------------------------------------------
    def model(self, name: str) -> Model: ...

    def teacher_model(self, teacher: str) -> Model: ...

    def resources(self, stage: str, entry: dict | None = None) -> dict: ...

    def prompt(self, teacher: str | None = None) -> dict: ...

    def seeded(self, settings: dict) -> dict: ...

    def trained_settings(self, model: Model) -> dict:
        """The effective training settings of a model this plan trains."""

    # --- jobs ----------------------------------------------------------------------------------
    def teacher_traces(
        self, teacher: str, domains: Iterable[str] | None = None, suffix: str = ".jsonl"
    ) -> list[str]: ...

    def teacher_costs(self, teacher: str, domains: Iterable[str] | None = None) -> list[str]: ...

    def train(
        self,
        key: str,
        model: str,
        data: list[str],
        role: str,
        name: str,
        *overrides: dict,
        run_name: str,
        options: dict | None = None,
        extra_inputs: Iterable[str] = (),
    ) -> Model: ...

    def student(
        self, method: str, teacher: str, via: str | None, student: str, data: list[str]
    ) -> Model: ...

    def generate(
        self, key: str, model: Model, domains: Iterable[str], entry: dict, curated_by: str
    ) -> str: ...

    def evaluate(
        self,
        key: str,
        model: Model,
        subset: Any = None,
        questions: str = ...,
        max_length: int | None = None,
    ) -> str: ...

    def add_job(self, kind: str, job: Any) -> Any: ...

    def generation(self, entry: dict, stage: str = "generate") -> dict: ...

    def curate_as(self, stem: str, config_key: str) -> None: ...

    def target(self, path: str) -> None: ...

    # --- rows and comparisons ------------------------------------------------------------------
    def row(
        self,
        key: str,
        model: Model | None,
        labels: dict,
        chain: list | None = None,
        *,
        loglik: bool = True,
        reference_model: str | None = None,
        **evaluation: Any,
    ) -> str: ...

    def rows_where(self, **labels: str) -> list[Row]: ...

    def size_model(self, name: str, path: str) -> None: ...

    def pair(
        self,
        name: str,
        a: Labels,
        b: Labels,
        headline: bool = False,
        control: bool = False,
        items: tuple[str, tuple[str, ...]] | None = None,
    ) -> None: ...

    def note(self, label: str, file: str) -> None: ...

    def block(self, block: Block) -> None: ...
