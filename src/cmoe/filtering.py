"""Keep a teacher's correct traces and describe what was kept and what was lost."""

from __future__ import annotations

from pathlib import Path

from .io import atomic_write_json, atomic_write_jsonl, read_json, read_jsonl
from .scoring import by_subject, percentiles, score


def filter_traces(raw: str | Path, out: str | Path, stats_out: str | Path, max_length: int):
    """Write correct traces to ``out`` and their statistics to ``stats_out``.

    ``over_max_length`` counts kept traces whose prompt + completion (in the generating model's
    tokens, a close proxy for the student's) exceed the training max_length.
    """
    records = read_jsonl(raw)
    kept = [r for r in records if r["correct"]]
    atomic_write_jsonl(out, kept)
    lengths = [r["completion_tokens"] for r in kept]
    stats = {
        **score(records),
        "subjects": by_subject(records),
        "kept": len(kept),
        "completion_tokens": percentiles(lengths),
        "max_length": max_length,
        "over_max_length": sum(
            r["prompt_tokens"] + r["completion_tokens"] > max_length for r in kept
        ),
        # ran out of generation budget inside <think>: a truncation, not a wrong answer
        "unfinished_reasoning": sum(
            "<think>" in r["output"] and "</think>" not in r["output"] for r in records
        ),
    }
    stats["over_max_length_rate"] = stats["over_max_length"] / len(kept) if kept else None
    atomic_write_json(stats_out, stats)
    return stats


def merge_stats(stats_paths: dict[str, str | Path], out: str | Path) -> dict:
    """Combine one teacher's per-domain stats into accuracy per domain and overall."""
    per_domain = {d: read_json(p) for d, p in stats_paths.items()}
    n = sum(s["overall"]["n"] for s in per_domain.values())
    correct = sum(s["overall"]["correct"] for s in per_domain.values())
    unparseable = sum(s["overall"]["unparseable"] for s in per_domain.values())
    merged = {
        "overall": {
            "n": n,
            "correct": correct,
            "accuracy": correct / n if n else None,
            "unparseable": unparseable,
            "unparseable_rate": unparseable / n if n else None,
            "kept": sum(s["kept"] for s in per_domain.values()),
            "over_max_length": sum(s["over_max_length"] for s in per_domain.values()),
        },
        "domains": {d: s["overall"] | {"kept": s["kept"]} for d, s in per_domain.items()},
    }
    atomic_write_json(out, merged)
    return merged
