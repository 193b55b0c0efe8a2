"""CMoE's own job kind: the routed mixture of the specialists' predictions (the specialists'
one-engine job: :mod:`cmoe.methods.roles.jobs`)."""

from __future__ import annotations

from dataclasses import dataclass

from ...core.paths import TEST_SPLIT


@dataclass(frozen=True)
class MixtureJob:
    key: str  # output folder below results/: predictions.jsonl + scores.json
    predictions: dict[str, str]  # specialist group -> its predictions.jsonl
    groups: dict[str, list[str]]
    routes: str | None  # None: oracle routing by the question's domain
    routing: str  # its name: oracle, learned or misrouted
    questions: str = TEST_SPLIT
