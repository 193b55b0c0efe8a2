"""Accuracy per domain and overall from trace records; shared by the filter and evaluation."""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import asdict, dataclass

from .domains import DOMAINS


@dataclass
class BootstrapSettings:
    """`evaluation.bootstrap`: percentile-bootstrap intervals, computed by the tables."""

    resamples: int = 1000
    seed: int = 0
    level: float = 0.95
    min_n: int = 30  # cells with fewer items are flagged (†)


BOOTSTRAP_DEFAULTS = asdict(BootstrapSettings())


def _cell(records: list[dict], bootstrap: dict | None) -> dict:
    n = len(records)
    correct = sum(bool(r["correct"]) for r in records)
    unparseable = sum(r["answer"] is None for r in records)
    cell = {
        "n": n,
        "correct": correct,
        "accuracy": correct / n if n else None,
        "unparseable": unparseable,
        "unparseable_rate": unparseable / n if n else None,
    }
    if bootstrap:
        from .stats import accuracy_with_ci

        settings = {**BOOTSTRAP_DEFAULTS, **bootstrap}
        ci = accuracy_with_ci([bool(r["correct"]) for r in records], **settings)
        cell.update(ci_low=ci["ci_low"], ci_high=ci["ci_high"], flag_small_n=ci["flag_small_n"])
    return cell


def score(records: list[dict], bootstrap: dict | None = None) -> dict:
    """{overall: cell, domains: {domain: cell}}; an unparseable answer counts as wrong.

    ``bootstrap`` ({resamples, seed, level, min_n}) adds a percentile-bootstrap interval and a
    small-n flag to every cell.
    """
    by_domain: dict[str, list[dict]] = defaultdict(list)
    for r in records:
        by_domain[r["domain"]].append(r)
    return {
        "overall": _cell(records, bootstrap),
        "domains": {d: _cell(by_domain[d], bootstrap) for d in DOMAINS if d in by_domain},
    }


def by_subject(records: list[dict]) -> dict:
    """Accuracy per MMLU subject: where a teacher is weak, its traces are few."""
    groups: dict[str, list[dict]] = defaultdict(list)
    for r in records:
        groups[r["subject"]].append(r)
    return {s: _cell(groups[s], None) for s in sorted(groups)}


def percentiles(values: list[int], qs=(10, 50, 90, 99)) -> dict:
    if not values:
        return {}
    ordered = sorted(values)
    # Nearest-rank percentiles: always a value that occurs in the data.
    out = {f"p{q}": ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)] for q in qs}
    out.update(mean=round(sum(ordered) / len(ordered), 1), max=ordered[-1])
    return out
