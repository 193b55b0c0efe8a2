"""Contamination check: does training text (kept traces) contain test-question text?

The split guarantees that no test question *is* a train question, but a teacher's reasoning for
a train question can still quote a test question (MMLU has near-duplicate stems). A student
trained on such a trace has seen test text. We flag every test item that shares a word n-gram
with the traces, per teacher.
"""

from __future__ import annotations

from pathlib import Path

from .data import normalise_text
from .io import atomic_write_json, read_jsonl


def ngrams(text: str, n: int) -> set[tuple[str, ...]]:
    words = normalise_text(text).split()
    return {tuple(words[i : i + n]) for i in range(len(words) - n + 1)}


def check(trace_paths: list[str | Path], test: list[dict], n: int = 8) -> dict:
    """Flag test questions sharing an n-gram of ``n`` words with any kept trace."""
    seen: set[tuple[str, ...]] = set()
    traces = 0
    for path in trace_paths:
        for r in read_jsonl(path):
            seen |= ngrams(f"{r['question']} {r.get('output', '')}", n)
            traces += 1
    flagged = []
    for q in test:
        shared = ngrams(q["question"], n) & seen
        if shared:
            flagged.append(
                {
                    "id": q["id"],
                    "subject": q["subject"],
                    "shared_ngrams": len(shared),
                    "example": " ".join(sorted(shared)[0]),
                }
            )
    return {
        "n": n,
        "traces": traces,
        "test_items": len(test),
        "flagged": len(flagged),
        "flagged_rate": len(flagged) / len(test) if test else None,
        "items": flagged,
    }


def write_check(trace_paths, test, out, n: int = 8) -> dict:
    result = check(trace_paths, test, n)
    atomic_write_json(out, result)
    return result
