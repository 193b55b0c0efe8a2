"""Contamination check: does training text (kept traces) contain test-question text?

The split guarantees that no test question *is* a train question, but a teacher's reasoning for
a train question can still quote a test question (MMLU has near-duplicate stems). A student
trained on such a trace has seen test text. We flag every test item that shares a word n-gram
with the traces, per teacher.
"""

from __future__ import annotations

from pathlib import Path

from ..core.io import atomic_write_json, read_json, read_jsonl
from ..data.questions import normalise_text


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


class ContaminationIndex:
    """Word n-grams of every evaluated item (the test split, each benchmark task), for the
    curation's `decontaminate` step: a training text sharing any n-gram with an item is removed.

    Built once per run (``cmoe contamination-index``) into a JSON file of the items' texts; each
    curation job indexes them again, which takes well under a second for ruMMLU's test split.
    """

    def __init__(self, items: list[dict], n: int):
        self.n, self.items = n, items
        self.owner: dict[tuple[str, ...], int] = {}
        for i, item in enumerate(items):
            for gram in ngrams(item["text"], n):
                self.owner.setdefault(gram, i)

    def match(self, text: str) -> dict | None:
        """The first evaluated item ``text`` shares an n-gram with, or None."""
        words = normalise_text(text).split()
        for i in range(len(words) - self.n + 1):
            hit = self.owner.get(tuple(words[i : i + self.n]))
            if hit is not None:
                item = self.items[hit]
                return {
                    "matched": item["id"],
                    "source": item["source"],
                    "ngram": " ".join(words[i : i + self.n]),
                }
        return None

    @classmethod
    def load(cls, path: str | Path) -> ContaminationIndex:
        data = read_json(path)
        return cls(data["items"], data["n"])


def evaluated_items(test: list[dict], benchmarks: dict[str, list[str]]) -> list[dict]:
    """The texts a student is evaluated on: each test question (stem and options) and each
    benchmark document as its task presents it."""
    items = [
        {
            "id": q["id"],
            "source": "test",
            "text": " ".join([q["question"], *q.get("options", {}).values()]),
        }
        for q in test
    ]
    for task, texts in benchmarks.items():
        items += [
            {"id": f"{task}/{i}", "source": f"benchmark {task}", "text": t}
            for i, t in enumerate(texts)
        ]
    return items


def write_index(test: list[dict], benchmarks: dict[str, list[str]], n: int, out) -> dict:
    items = evaluated_items(test, benchmarks)
    summary = {"n": n, "items": items, "sources": _count_sources(items)}
    atomic_write_json(out, summary)
    return summary


def _count_sources(items: list[dict]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for item in items:
        counts[item["source"]] = counts.get(item["source"], 0) + 1
    return counts
