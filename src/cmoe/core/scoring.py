"""Accuracy per domain and overall from trace records; shared by the filter and evaluation."""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import asdict, dataclass

from .domains import DOMAINS
from .settings import Settings, setting


@dataclass
class BootstrapSettings(Settings):
    """`evaluation.bootstrap`: percentile-bootstrap intervals, computed by the tables."""

    resamples: int = setting(1000, "bootstrap resamples", minimum=100)
    seed: int = setting(0, "resampling seed")
    level: float = setting(0.95, "interval level", exclusiveMinimum=0, exclusiveMaximum=1)
    min_n: int = setting(30, "a cell with fewer items is flagged (†)", minimum=1)


BOOTSTRAP_DEFAULTS = asdict(BootstrapSettings())


def _cell(records: list[dict], bootstrap: dict | None) -> dict:
    """Accuracy of one cell. Records of a k-sample evaluation (``mean_correct``, see
    cmoe.evaluation.generative.combine_samples) score avg@k, the mean over items of each
    item's share of correct samples, with majority@k beside it; their interval resamples items
    with all their samples (cmoe.core.stats.mean_with_ci), covering item and seed variance
    together."""
    n = len(records)
    correct = sum(bool(r["correct"]) for r in records)
    unparseable = sum(r["answer"] is None for r in records)
    per_item = [r.get("mean_correct", float(bool(r["correct"]))) for r in records]
    sampled = any("mean_correct" in r for r in records)
    cell = {
        "n": n,
        "correct": correct,
        "accuracy": sum(per_item) / n if n else None,
        "unparseable": unparseable,
        "unparseable_rate": unparseable / n if n else None,
    }
    if sampled:
        cell["k"] = max(r.get("k", 1) for r in records)
        cell["majority_accuracy"] = correct / n if n else None
    if bootstrap:
        from .stats import accuracy_with_ci, mean_with_ci

        settings = {**BOOTSTRAP_DEFAULTS, **bootstrap}
        if sampled:
            ci = mean_with_ci(per_item, **settings)
        else:
            ci = accuracy_with_ci([bool(r["correct"]) for r in records], **settings)
        cell.update(ci_low=ci["ci_low"], ci_high=ci["ci_high"], flag_small_n=ci["flag_small_n"])
    return cell


def score(records: list[dict], bootstrap: dict | None = None) -> dict:
    """{overall: cell, domains: {domain: cell}[, kinds: {kind: cell}]}; an unparseable answer
    counts as wrong. ``kinds`` is there when the questions carry a kind (``meta.kind``: the
    control tasks' rule and knowledge questions, whose effects differ).

    ``bootstrap`` ({resamples, seed, level, min_n}) adds a percentile-bootstrap interval and a
    small-n flag to every cell.
    """
    by_domain: dict[str, list[dict]] = defaultdict(list)
    for r in records:
        by_domain[r["domain"]].append(r)
    out = {
        "overall": _cell(records, bootstrap),
        "domains": {d: _cell(by_domain[d], bootstrap) for d in DOMAINS if d in by_domain},
    }
    kinds = question_kinds(records)
    if kinds:
        out["kinds"] = {
            k: _cell([r for r in records if r.get("kind") == k], bootstrap) for k in kinds
        }
    return out


def question_kinds(records: list[dict]) -> list[str]:
    """The question kinds among ``records`` (``kind``), sorted; empty when none has one."""
    return sorted({r["kind"] for r in records if r.get("kind")})


def replicate_score(replicates: list[list[dict]], bootstrap: dict | None = None) -> dict:
    """:func:`score` of one row trained several times (one record list per training
    replicate, each over the same questions): every cell is the mean over replicates, its
    interval a two-level bootstrap (replicates, then questions: cmoe.core.stats
    .replicate_bootstrap), and ``by_replicate`` each replicate's own cell."""
    from .stats import replicate_bootstrap

    own = [score(records) for records in replicates]
    ids = sorted(r["id"] for r in replicates[0])
    by_id = [{r["id"]: r for r in records} for records in replicates]
    if any(sorted(b) != ids for b in by_id[1:]):
        raise ValueError("the replicates of a row answered different questions")
    settings = {**BOOTSTRAP_DEFAULTS, **(bootstrap or {})}
    domains = {r["id"]: r["domain"] for r in replicates[0]}

    def cell(subset: list[str], cells: list[dict]) -> dict:
        matrix = [
            [r[i].get("mean_correct", float(bool(r[i]["correct"]))) for i in subset] for r in by_id
        ]
        out = {
            "n": len(subset),
            "accuracy": sum(c["accuracy"] for c in cells) / len(cells) if subset else None,
            "flag_small_n": len(subset) < settings["min_n"],
            "replicates": len(cells),
            "by_replicate": [c["accuracy"] for c in cells],
        }
        if "k" in cells[0]:
            out["k"] = cells[0]["k"]
            out["majority_accuracy"] = sum(c["majority_accuracy"] for c in cells) / len(cells)
        if bootstrap and subset:
            ci = replicate_bootstrap(
                matrix,
                resamples=settings["resamples"],
                seed=settings["seed"],
                level=settings["level"],
            )
            out.update(ci_low=ci["ci_low"], ci_high=ci["ci_high"])
        return out

    out = {
        "overall": cell(ids, [s["overall"] for s in own]),
        "domains": {
            d: cell([i for i in ids if domains[i] == d], [s["domains"][d] for s in own])
            for d in DOMAINS
            if d in own[0]["domains"]
        },
    }
    kinds = {r["id"]: r.get("kind") for r in replicates[0]}
    if "kinds" in own[0]:
        out["kinds"] = {
            k: cell([i for i in ids if kinds[i] == k], [s["kinds"][k] for s in own])
            for k in own[0]["kinds"]
        }
    return out


def cyrillic_share(text: str) -> float | None:
    """Share of Cyrillic letters among the letters of ``text`` (None: no letters at all)."""
    letters = [c for c in text if c.isalpha()]
    if not letters:
        return None
    # Cyrillic, Cyrillic Supplement and Extended-A..C blocks: Russian is U+0400..U+04FF.
    cyrillic = sum(
        "\u0400" <= c <= "\u052f" or "\u2de0" <= c <= "\u2dff" or "\ua640" <= c <= "\ua69f"
        for c in letters
    )
    return cyrillic / len(letters)


def reasoning_language(records: list[dict]) -> float | None:
    """Language consistency of a model's reasoning: the mean over items of the share of
    Cyrillic letters among the letters of its reasoning (all k samples' reasoning together,
    for a sampled evaluation). Items whose reasoning has no letters (no reasoning, or digits
    only) are left out; None when no item has any (e.g. the log-likelihood protocol).

    The mean is over items, not over letters pooled, so one long rambling answer in another
    language weighs as one item: users of Russian reasoning models report models drifting into
    English or Chinese on some questions, and this counts how much of each answer drifted.
    """
    shares = []
    for r in records:
        texts = [x.get("reasoning") or "" for x in r.get("samples") or [r]]
        share = cyrillic_share("".join(texts))
        if share is not None:
            shares.append(share)
    return sum(shares) / len(shares) if shares else None


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
