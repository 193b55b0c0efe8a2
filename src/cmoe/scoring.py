"""Accuracy per domain and overall from trace records; shared by the filter and evaluation."""

from __future__ import annotations

import math
from collections import defaultdict

from .domains import DOMAINS


def _cell(records: list[dict]) -> dict:
    n = len(records)
    correct = sum(bool(r["correct"]) for r in records)
    unparseable = sum(r["answer"] is None for r in records)
    return {
        "n": n,
        "correct": correct,
        "accuracy": correct / n if n else None,
        "unparseable": unparseable,
        "unparseable_rate": unparseable / n if n else None,
    }


def score(records: list[dict]) -> dict:
    """{overall: cell, domains: {domain: cell}}; an unparseable answer counts as wrong."""
    by_domain: dict[str, list[dict]] = defaultdict(list)
    for r in records:
        by_domain[r["domain"]].append(r)
    return {
        "overall": _cell(records),
        "domains": {d: _cell(by_domain[d]) for d in DOMAINS if d in by_domain},
    }


def percentiles(values: list[int], qs=(10, 50, 90, 99)) -> dict:
    if not values:
        return {}
    ordered = sorted(values)
    # Nearest-rank percentiles: always a value that occurs in the data.
    out = {f"p{q}": ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)] for q in qs}
    out.update(mean=round(sum(ordered) / len(ordered), 1), max=ordered[-1])
    return out
