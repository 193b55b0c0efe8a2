# Over 300 lines as one module: the chain's steps share their records, counts and removed examples.
"""Curation: the ordered chain of steps that turns generated traces (and extra sources) into
training data, counting what each step removed.

Steps (``curation.steps``, applied in the configured order):

- ``correct``: a parseable answer equal to the gold letter (extra sources pass: they have none);
- ``length``: the whole training example (prompt + completion, in the student's tokenizer, as
  :mod:`cmoe.training.examples` builds it) within [min_tokens, max_tokens]; max_tokens is at
  most the training ``max_length``, so no kept example is silently truncated by the trainer;
- ``language``: at least ``min_cyrillic`` of the reasoning's letters are Cyrillic;
- ``dedup``: near-duplicates (MinHash LSH over word shingles, datasketch) — the first one seen
  is kept, so a sample repeated by greedy decoding or a row two sources share is kept once;
- ``decontaminate``: any word n-gram shared with the test split or an evaluation benchmark
  (:mod:`cmoe.traces.contamination`) removes the trace; the removed items are listed;
- ``select``: per question, all correct traces, the shortest, the one nearest the median
  length (mid-length chains), or the first — up to ``keep_per_question``.

Each step's counts and a few of the records it dropped go into the stats, and from there into
the data card (:mod:`cmoe.reporting.card`).
"""

from __future__ import annotations

import re
import statistics
import zlib
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..core.io import atomic_write_json, atomic_write_jsonl, read_json, read_jsonl
from ..core.scoring import by_subject, percentiles, score
from ..core.settings import Settings, setting

_LETTER = re.compile(r"[^\W\d_]")
_CYRILLIC = re.compile(r"[\u0400-\u04ff]")
STEPS = ("correct", "length", "language", "dedup", "decontaminate", "select")
POLICIES = ("all", "shortest", "median", "first")


@dataclass
class CurationSettings(Settings):
    """`curation`: the chain every generated trace file and extra source goes through."""

    steps: list[str] = setting(
        help="any of `correct`, `length`, `language`, `dedup`, `decontaminate`, `select`, in the "
        "order to apply them",
        factory=lambda: ["correct", "length", "dedup", "decontaminate", "select"],
        uniqueItems=True,
        items={"enum": list(STEPS)},
    )
    min_tokens: int = setting(
        0,
        "`length`: shortest training example kept (prompt and completion, student tokens)",
        minimum=0,
    )
    max_tokens: int | None = setting(
        None,
        "`length`: longest; null means `training.max_length`, a larger value is a config error "
        "(the trainer would cut the example silently)",
        minimum=1,
    )
    tokenizer: str | None = setting(
        None, "`length`: a `models` key whose tokenizer counts; null: the first student's"
    )
    min_cyrillic: float = setting(
        0.5,
        "`language`: least share of Cyrillic letters in the reasoning (an extra source: its "
        "answer)",
        minimum=0,
        maximum=1,
    )
    dedup_threshold: float = setting(
        0.8,
        "`dedup`: estimated Jaccard similarity of word shingles from which two texts (question "
        "and reasoning) are duplicates; the first is kept. MinHash LSH (`datasketch`), linear "
        "in the number of traces",
        exclusiveMinimum=0,
        maximum=1,
    )
    dedup_shingle: int = setting(3, "`dedup`: words per shingle", minimum=1)
    dedup_num_perm: int = setting(
        64, "`dedup`: MinHash permutations (more: a closer estimate, more memory)", minimum=16
    )
    decontaminate_n: int = setting(
        8,
        "`decontaminate`: a training text sharing any word n-gram (case, punctuation and ё/е "
        "normalised) with a test question (stem and options) or a document of an "
        "`evaluation.benchmarks` task is removed and listed in the data card",
        minimum=3,
    )
    decontaminate_benchmarks: bool = setting(
        True, "`decontaminate`: compare with the benchmark tasks too, not only the test split"
    )
    select: str = setting(
        "all",
        "per question, of the traces left: `all`, the `shortest`, the one nearest the `median` "
        "length (mid-length chains), or the `first` generated",
        enum=list(POLICIES),
    )
    keep_per_question: int = setting(
        1,
        "`select`: how many of each question's traces `shortest`, `median` and `first` keep",
        minimum=1,
    )
    dropped_examples: int = setting(
        3, "removed records shown per step in the stats and the data card", minimum=0
    )


class Chain:
    """What the steps need besides the records; a step missing its input is a clear error."""

    def __init__(
        self,
        settings: CurationSettings,
        max_length: int,
        length: Callable[[dict], int] | None = None,
        contamination=None,
    ):
        self.settings, self.max_length = settings, max_length
        self.length, self.contamination = length, contamination
        self.removed: list[dict] = []  # decontamination's removed items, for the data card

    def run(self, records: list[dict], steps=None) -> tuple[list[dict], list[dict]]:
        """(kept records, one count record per step) in the configured order."""
        counts = []
        for step in steps or self.settings.steps:
            before = len(records)
            kept, dropped = getattr(self, f"_{step}")(records)
            counts.append(
                {
                    "step": step,
                    "in": before,
                    "dropped": len(dropped),
                    "out": len(kept),
                    "examples": [_example(r) for r in dropped[: self.settings.dropped_examples]],
                }
            )
            if any("source" in r for r in dropped):  # extra sources: who lost what
                by_source: dict[str, int] = defaultdict(int)
                for r in dropped:
                    by_source[r.get("source", "?")] += 1
                counts[-1]["by_source"] = dict(by_source)
            records = kept
        return records, counts

    # --- the steps: each returns (kept, dropped) --------------------------------------------

    def _correct(self, records):
        return _split(records, lambda r: bool(r.get("correct")))

    def _length(self, records):
        if self.length is None:
            raise ValueError("curation step `length` needs the student's tokenizer")
        lo = self.settings.min_tokens
        hi = min(self.settings.max_tokens or self.max_length, self.max_length)
        for r in records:
            r["tokens"] = self.length(r)
        return _split(records, lambda r: lo <= r["tokens"] <= hi)

    def _language(self, records):
        share = self.settings.min_cyrillic
        return _split(records, lambda r: cyrillic_share(training_text(r)) >= share)

    def _dedup(self, records):
        s = self.settings
        index = NearDuplicates(s.dedup_threshold, s.dedup_num_perm, s.dedup_shingle)
        return _split(records, lambda r: index.add(dedup_text(r)))

    def _decontaminate(self, records):
        if self.contamination is None:
            raise ValueError("curation step `decontaminate` needs the contamination index")
        kept, dropped = [], []
        for r in records:
            hit = self.contamination.match(training_text(r, with_prompt=True))
            if hit is None:
                kept.append(r)
            else:
                dropped.append(r)
                self.removed.append({"id": r["id"], **hit})
        return kept, dropped

    def _select(self, records):
        return select(records, self.settings.select, self.settings.keep_per_question)


def _split(records, keep) -> tuple[list[dict], list[dict]]:
    kept, dropped = [], []
    for r in records:
        (kept if keep(r) else dropped).append(r)
    return kept, dropped


def _example(r: dict) -> dict:
    return {
        "id": r["id"],
        **({"source": r["source"]} if "source" in r else {}),
        **({"sample": r["sample"]} if "sample" in r else {}),
        "text": training_text(r, with_prompt=True)[:160],
    }


def training_text(r: dict, with_prompt: bool = False) -> str:
    """What a record teaches: a trace's reasoning, or an extra source's assistant turns; with
    the question (or user turns) in front if ``with_prompt``."""
    if "messages" in r:
        roles = ("user", "assistant") if with_prompt else ("assistant",)
        return "\n".join(m["content"] for m in r["messages"] if m["role"] in roles)
    body = r.get("reasoning") or r.get("output") or ""
    return f"{r.get('question', '')}\n{body}" if with_prompt else body


def dedup_text(r: dict) -> str:
    return training_text(r, with_prompt=True)


def cyrillic_share(text: str) -> float:
    """Share of Cyrillic letters among all letters (0 for text without letters)."""
    letters = len(_LETTER.findall(text))
    return len(_CYRILLIC.findall(text)) / letters if letters else 0.0


class NearDuplicates:
    """MinHash LSH (datasketch): ``add`` returns False for a near-duplicate of an added text.

    LSH candidates are confirmed by the estimated Jaccard similarity, so the threshold is the
    similarity at which texts count as duplicates, not only LSH's banding target."""

    def __init__(self, threshold: float, num_perm: int, shingle: int):
        from datasketch import MinHash, MinHashLSH

        self.lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
        self.threshold, self.num_perm, self.shingle = threshold, num_perm, shingle
        self.signatures: dict[int, object] = {}
        # drawn once: MinHash would draw the same permutations again for every text
        self.permutations = MinHash(num_perm=num_perm, seed=1).permutations

    def add(self, text: str) -> bool:
        from datasketch import LeanMinHash, MinHash

        from ..data.questions import normalise_text

        words = normalise_text(text).split()
        n = min(self.shingle, max(1, len(words)))
        shingles = {" ".join(words[i : i + n]).encode() for i in range(len(words) - n + 1)}
        # crc32: a stable 32-bit hash in C (datasketch's default, SHA-1, costs more per shingle)
        m = MinHash(self.num_perm, seed=1, hashfunc=zlib.crc32, permutations=self.permutations)
        m.update_batch(list(shingles) or [b""])
        for key in self.lsh.query(m):
            if m.jaccard(self.signatures[key]) >= self.threshold:
                return False
        key = len(self.signatures)
        lean = LeanMinHash(m)
        self.signatures[key] = lean
        self.lsh.insert(key, lean, check_duplication=False)
        return True


def select(records: list[dict], policy: str, keep: int) -> tuple[list[dict], list[dict]]:
    """Per question (records in question, then sample order): keep all, or ``keep`` of them —
    the shortest, the nearest the median length, or the first generated."""
    if policy == "all":
        return records, []
    groups: dict[str, list[dict]] = defaultdict(list)
    for r in records:
        groups[r["id"]].append(r)
    chosen: set[int] = set()
    for group in groups.values():
        if policy == "shortest":
            ranked = sorted(group, key=_length)
        elif policy == "median":
            middle = statistics.median(_length(r) for r in group)
            # a tie goes to the shorter trace (fewer tokens to train on)
            ranked = sorted(group, key=lambda r: (abs(_length(r) - middle), _length(r)))
        elif policy == "first":
            ranked = group
        else:
            raise ValueError(f"curation.select: unknown policy {policy!r} (one of {POLICIES})")
        chosen.update(id(r) for r in ranked[:keep])
    return _split(records, lambda r: id(r) in chosen)


def _length(r: dict) -> int:
    """Student tokens when the length step ran, else the generating model's completion."""
    return r.get("tokens", r.get("completion_tokens", len(training_text(r))))


def student_length(
    tokenizer_path: str, prompt, trust_remote_code: bool = False, revision: str | None = None
):
    """Tokens of a record's whole training example (prompt and completion, chat template
    applied) in the student's tokenizer: what the trainer's max_length is compared with."""
    from ..core.models import load_tokenizer
    from ..training.examples import example_lengths, sft_examples

    tokenizer = load_tokenizer(tokenizer_path, trust_remote_code, revision=revision)
    return lambda r: example_lengths(tokenizer, sft_examples([r], prompt, "traces"))[0][1]


def question_stats(records: list[dict]) -> dict:
    """pass@1 (first sample), pass@n, yield and per-question pass rates of a multi-sample run."""
    by_question: dict[str, list[bool]] = defaultdict(list)
    for r in records:
        by_question[r["id"]].append(bool(r["correct"]))
    n = len(by_question)
    solved = sum(any(c) for c in by_question.values())
    rates = {q: sum(c) / len(c) for q, c in by_question.items()}
    return {
        "questions": n,
        "samples_per_question": max((len(c) for c in by_question.values()), default=0),
        "pass_at_1": sum(c[0] for c in by_question.values()) / n if n else None,
        "pass_at_n": solved / n if n else None,
        "yield": solved,
        "correct_traces": sum(sum(c) for c in by_question.values()),
        "pass_rates": rates,
    }


def filter_traces(
    raw: str | Path,
    out: str | Path,
    stats_out: str | Path,
    max_length: int,
    settings: CurationSettings | None = None,
    length: Callable[[dict], int] | None = None,
    contamination=None,
):
    """Curate generated traces into ``out`` and write their statistics to ``stats_out``.

    ``over_max_length`` counts kept traces whose prompt + completion (in the generating model's
    tokens) exceed the training max_length; with the `length` step it is always 0 in the
    student's tokens.
    """
    settings = settings or CurationSettings(steps=["correct"])
    records = read_jsonl(raw)
    first = [r for r in records if r.get("sample", 0) == 0]  # accuracy is pass@1
    questions = question_stats(records)
    for r in records:
        r["pass_rate"] = questions["pass_rates"][r["id"]]
    chain = Chain(settings, max_length, length, contamination)
    kept, steps = chain.run(records)
    atomic_write_jsonl(out, kept)
    lengths = [r["completion_tokens"] for r in kept]
    stats = {
        **score(first),
        "subjects": by_subject(first),
        **{k: v for k, v in questions.items() if k != "pass_rates"},
        "generated": len(records),
        "kept": len(kept),
        "curation": steps,
        "decontaminated": chain.removed,
        "completion_tokens": percentiles(lengths),
        "max_length": max_length,
        "over_max_length": sum(
            r["prompt_tokens"] + r["completion_tokens"] > max_length for r in kept
        ),
        # ran out of generation budget inside <think>: a truncation, not a wrong answer
        "unfinished_reasoning": sum(
            "<think>" in r["output"] and "</think>" not in r["output"] for r in records
        ),
        "pass_rates": questions["pass_rates"],
    }
    stats["over_max_length_rate"] = stats["over_max_length"] / len(kept) if kept else None
    atomic_write_json(stats_out, stats)
    return stats


def merge_steps(step_lists: list[list[dict]]) -> list[dict]:
    """Per-step counts of several files (same chain) summed; dropped examples pooled."""
    merged: dict[str, dict] = {}
    for steps in step_lists:
        for s in steps:
            m = merged.setdefault(s["step"], {"step": s["step"], "in": 0, "dropped": 0, "out": 0})
            for k in ("in", "dropped", "out"):
                m[k] += s[k]
            m.setdefault("examples", []).extend(s.get("examples", []))
    for m in merged.values():
        m["examples"] = m["examples"][:3]
    return list(merged.values())


def merge_stats(stats_paths: dict[str, str | Path], out: str | Path) -> dict:
    """Combine one teacher's per-domain stats into accuracy per domain and overall."""
    per_domain = {d: read_json(p) for d, p in stats_paths.items()}
    n = sum(s["overall"]["n"] for s in per_domain.values())
    correct = sum(s["overall"]["correct"] for s in per_domain.values())
    unparseable = sum(s["overall"]["unparseable"] for s in per_domain.values())

    def total(key):
        return sum(s.get(key, 0) for s in per_domain.values())

    questions = total("questions")
    merged = {
        "overall": {
            "n": n,
            "correct": correct,
            "accuracy": correct / n if n else None,
            "unparseable": unparseable,
            "unparseable_rate": unparseable / n if n else None,
            "kept": total("kept"),
            "over_max_length": total("over_max_length"),
            "questions": questions,
            "generated": total("generated"),
            "samples_per_question": max(
                (s.get("samples_per_question", 1) for s in per_domain.values()), default=1
            ),
            "pass_at_1": correct / n if n else None,
            "pass_at_n": total("yield") / questions if questions else None,
            "yield": total("yield"),
            "correct_traces": total("correct_traces"),
        },
        "curation": merge_steps([s.get("curation", []) for s in per_domain.values()]),
        "decontaminated": [i for s in per_domain.values() for i in s.get("decontaminated", [])],
        "domains": {d: s["overall"] | {"kept": s["kept"]} for d, s in per_domain.items()},
    }
    atomic_write_json(out, merged)
    return merged
