"""Questions -> model answers as trace records (teacher traces and evaluation alike), and the
resumable, sharded writer that teacher-scale generation runs through.

Resumption works on whole chunks of ``generator.chunk_size`` questions, in question order.
Each finished chunk is appended to ``<out>.partial`` and fsynced; a job killed at any point
(SIGKILL, node preemption) restarts from the chunks on disk. Sampling is seeded per question
(:func:`cmoe.generation.question_seed`) and chunks never change, so the resumed output is
byte-identical to an uninterrupted run: nothing is duplicated and nothing is lost.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path

from tqdm import tqdm

from ..answers import extract_answer, split_reasoning
from ..io import atomic_write_json, atomic_write_jsonl, dumps, read_json
from ..prompting import PromptSettings, build_messages
from .base import Generator, question_seed

log = logging.getLogger(__name__)

# "knowledge": the passages a KARD student was shown (retrieved, then cut to fit), per question.
QUESTION_FIELDS = (
    *("id", "subject", "subject_name", "domain", "question", "options", "gold", "knowledge"),
)


def _record(q: dict, generator: Generator, c) -> dict:
    reasoning, _ = split_reasoning(c.text)
    answer = extract_answer(c.text)
    return {
        **{k: q[k] for k in QUESTION_FIELDS if k in q},
        "model": generator.model_name,
        "prompt": c.prompt,
        "output": c.text,
        "reasoning": reasoning,
        "answer": answer,
        "correct": answer == q["gold"],
        "prompt_tokens": c.prompt_tokens,
        "completion_tokens": c.completion_tokens,
    }


def answer_questions(
    questions: list[dict],
    generator: Generator,
    prompt: PromptSettings,
    desc: str = "generate",
    seed: int = 0,
    show_progress: bool = True,
) -> Iterator[dict]:
    """Yield one trace record per question, in order (seeded per question)."""
    conversations = [build_messages(q, prompt) for q in questions]
    seeds = [question_seed(seed, q["id"]) for q in questions]
    completions = generator.generate(conversations, prompt.enable_thinking, seeds)
    pairs = zip(questions, completions, strict=True)
    for q, c in tqdm(pairs, total=len(questions), desc=desc, disable=not show_progress):
        yield _record(q, generator, c)


def shard_questions(questions: list[dict], index: int, count: int) -> list[dict]:
    """Shard ``index`` of ``count``: a contiguous block, so gathering is concatenation."""
    if not 0 <= index < count:
        raise ValueError(f"shard {index} of {count} does not exist")
    return questions[len(questions) * index // count : len(questions) * (index + 1) // count]


def _fingerprint(questions: list[dict], generator: Generator, identity: dict) -> str:
    """What a partial file belongs to: a changed model, setting or question set starts over."""
    payload = dumps(
        {
            "ids": [q["id"] for q in questions],
            "model": generator.model_name,
            "chunk_size": generator.chunk_size,
            **identity,
        }
    )
    return hashlib.sha256(payload.encode()).hexdigest()


def _read_partial(path: Path) -> dict[str, dict]:
    """Records of a partial file by question id; a torn last line (killed mid-write) is cut."""
    done: dict[str, dict] = {}
    if not path.exists():
        return done
    with open(path, "rb") as fh:
        data = fh.read()
    good = 0
    for line in data.splitlines(keepends=True):
        if not line.endswith(b"\n"):
            break
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            break
        done[rec["id"]] = rec
        good += len(line)
    if good < len(data):
        log.warning("%s: dropping a torn last record (%d bytes)", path, len(data) - good)
        with open(path, "r+b") as fh:
            fh.truncate(good)
    return done


def generate_resumable(
    questions: list[dict],
    generator: Generator,
    prompt: PromptSettings,
    out: str | Path,
    seed: int = 0,
    identity: dict | None = None,
    desc: str = "generate",
) -> list[dict]:
    """Answer ``questions`` into ``out`` (JSONL, question order), resuming from ``out.partial``.

    ``identity`` is anything else that must match for a partial file to be reused (sampling
    settings, prompt); the model, chunking and question ids always are.
    """
    out = Path(out)
    partial = out.with_name(out.name + ".partial")
    meta_path = out.with_name(out.name + ".partial.meta.json")
    fingerprint = _fingerprint(questions, generator, {"seed": seed, **(identity or {})})
    if meta_path.exists() and read_json(meta_path).get("fingerprint") != fingerprint:
        log.warning("%s: settings changed since the partial run; starting over", out)
        partial.unlink(missing_ok=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(meta_path, {"fingerprint": fingerprint})
    done = _read_partial(partial)
    if done:
        log.info(
            "%s: resuming, %d of %d questions already answered", out, len(done), len(questions)
        )

    size = max(1, generator.chunk_size)
    progress = tqdm(total=len(questions), initial=len(done), desc=desc)
    with open(partial, "a", encoding="utf-8") as fh:
        for start in range(0, len(questions), size):
            chunk = questions[start : start + size]
            if all(q["id"] in done for q in chunk):
                continue
            # The whole chunk is generated again, so a chunk is always generated as a unit;
            # only its missing records are appended.
            new = [
                rec
                for rec in answer_questions(
                    chunk, generator, prompt, seed=seed, show_progress=False
                )
                if rec["id"] not in done
            ]
            fh.write("".join(dumps(rec) + "\n" for rec in new))
            fh.flush()
            os.fsync(fh.fileno())
            done.update((rec["id"], rec) for rec in new)
            progress.update(len(new))
    progress.close()
    records = [done[q["id"]] for q in questions]
    atomic_write_jsonl(out, records)
    partial.unlink(missing_ok=True)
    meta_path.unlink(missing_ok=True)
    return records


def run_cost(records: list[dict], wall_s: float, usage: dict | None = None) -> dict:
    """What a generation run cost: wall time, device and tokens (for the cost columns).

    ``usage`` (from ``Generator.usage()``) adds API requests, retries and a price, if any."""
    import torch

    cuda = torch.cuda.is_available()
    cost = {
        "wall_time_s": round(wall_s, 3),
        "device": torch.cuda.get_device_name(0) if cuda else "cpu",
        "device_count": torch.cuda.device_count() if cuda else 1,
        "questions": len(records),
        "prompt_tokens": sum(r["prompt_tokens"] for r in records),
        "completion_tokens": sum(r["completion_tokens"] for r in records),
    }
    for key in ("requests", "retries", "api_cost_usd"):
        if usage and key in usage:
            cost[key] = usage[key]
    return cost
