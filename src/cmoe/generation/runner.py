"""Questions -> model answers as trace records (teacher traces and evaluation alike), and the
resumable, sharded writer that teacher-scale generation runs through.

Resumption works on whole chunks of ``generator.chunk_size`` questions, in question order.
Each finished chunk is appended to ``<out>.partial`` and fsynced; a job killed at any point
(SIGKILL, node preemption) restarts from the chunks on disk; a SIGTERM (Slurm's notice before
it kills, see cmoe.core.signals) lets the chunk in hand finish first. Sampling is seeded per
question and sample index (:func:`sample_seed`) and chunks never change, so the resumed output is
byte-identical to an uninterrupted run: nothing is duplicated and nothing is lost.

With ``samples`` > 1 each question is answered that many times (records in question order, then
sample order, each with its ``sample`` index). Sample 0 has the one-sample run's seed; whether it is
also the one-sample run's answer depends on the backend (the hf backend shares one random stream
per batch, see cmoe.generation.hf, so there the batch matters). Either way pass@1 scores one
sample per question, comparable with one-answer runs.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Callable, Iterator
from pathlib import Path

from tqdm import tqdm

from ..core.answers import extract_answer, split_reasoning
from ..core.io import atomic_write_json, atomic_write_jsonl, dumps, read_json
from ..core.prompting import PromptSettings, build_messages
from ..core.signals import check_stop
from .base import Generator, question_seed

log = logging.getLogger(__name__)

# "knowledge": the passages a KARD student was shown (retrieved, then cut to fit), per question;
# "kind": the question's kind where the data has one (meta.kind), scored apart by the tables.
QUESTION_FIELDS = (
    *("id", "subject", "subject_name", "domain", "kind", "question", "options", "gold"),
    "knowledge",
)


def sample_seed(base_seed: int, question_id: str, sample: int) -> int:
    """The sampling seed of one answer: sample 0 keeps the one-sample seed of the question."""
    return question_seed(base_seed, question_id if sample == 0 else f"{question_id}#{sample}")


def _record(q: dict, generator: Generator, c, sample: int | None) -> dict:
    reasoning, _ = split_reasoning(c.text)
    answer = extract_answer(c.text)
    return {
        **{k: q[k] for k in QUESTION_FIELDS if k in q},
        # only multi-sample runs number their samples: one-sample records are unchanged
        **({"sample": sample} if sample is not None else {}),
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
    samples: int = 1,
    adapter_of: Callable[[dict], str] | None = None,
) -> Iterator[dict]:
    """Yield ``samples`` trace records per question, in question then sample order, each
    seeded by (question, sample index); ``adapter_of(question)``: the LoRA adapter (of those
    the generator serves) that answers it, recorded as ``adapter``."""
    jobs = [(q, k) for q in questions for k in range(samples)]
    conversations = [build_messages(q, prompt) for q, _ in jobs]
    seeds = [sample_seed(seed, q["id"], k) for q, k in jobs]
    if adapter_of is None:
        completions = generator.generate(conversations, prompt.enable_thinking, seeds)
    else:
        adapters = [adapter_of(q) for q, _ in jobs]
        completions = generator.generate(conversations, prompt.enable_thinking, seeds, adapters)
    pairs = zip(jobs, completions, strict=True)
    for (q, k), c in tqdm(pairs, total=len(jobs), desc=desc, disable=not show_progress):
        record = _record(q, generator, c, k if samples > 1 else None)
        if adapter_of is not None:
            record["adapter"] = adapter_of(q)
        yield record


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


def _read_partial(path: Path) -> dict[tuple[str, int], dict]:
    """Records of a partial file by (question id, sample); a torn last line (killed mid-write)
    is cut."""
    done: dict[tuple[str, int], dict] = {}
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
        done[_key(rec)] = rec
        good += len(line)
    if good < len(data):
        log.warning("%s: dropping a torn last record (%d bytes)", path, len(data) - good)
        with open(path, "r+b") as fh:
            fh.truncate(good)
    return done


def _key(rec: dict) -> tuple[str, int]:
    return rec["id"], rec.get("sample", 0)


def generate_resumable(
    questions: list[dict],
    generator: Generator,
    prompt: PromptSettings,
    out: str | Path,
    seed: int = 0,
    identity: dict | None = None,
    desc: str = "generate",
    samples: int = 1,
    adapter_of: Callable[[dict], str] | None = None,
    keep_partial: bool = False,
) -> list[dict]:
    """Answer ``questions`` ``samples`` times each into ``out`` (JSONL, question then sample
    order), resuming from ``out.partial``.

    ``identity`` is anything else that must match for a partial file to be reused (sampling
    settings, prompt, the adapters serving ``adapter_of``); the model, chunking, sample count
    and question ids always are. ``keep_partial``: the partial file outlives ``out`` (a job that
    writes several outputs resumes from it until all are done; :func:`drop_partial` then).
    """
    out = Path(out)
    partial, meta_path = _partial_files(out)
    fingerprint = _fingerprint(
        questions, generator, {"seed": seed, "samples": samples, **(identity or {})}
    )
    if meta_path.exists() and read_json(meta_path).get("fingerprint") != fingerprint:
        log.warning("%s: settings changed since the partial run; starting over", out)
        partial.unlink(missing_ok=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(meta_path, {"fingerprint": fingerprint})
    done = _read_partial(partial)
    if done:
        what = "questions already answered" if samples == 1 else "answers already written"
        total = len(questions) * samples
        log.info("%s: resuming, %d of %d %s", out, len(done), total, what)

    size = max(1, generator.chunk_size)
    progress = tqdm(total=len(questions) * samples, initial=len(done), desc=desc)
    with open(partial, "a", encoding="utf-8") as fh:
        for start in range(0, len(questions), size):
            chunk = questions[start : start + size]
            if all((q["id"], k) in done for q in chunk for k in range(samples)):
                continue
            # a scheduler's SIGTERM (cmoe.core.signals): the chunks so far are on disk
            check_stop(f"with {len(done)} of {len(questions) * samples} answers in {partial}")
            # The whole chunk is generated again, so a chunk is always generated as a unit;
            # only its missing records are appended.
            new = [
                rec
                for rec in answer_questions(
                    chunk,
                    generator,
                    prompt,
                    seed=seed,
                    show_progress=False,
                    samples=samples,
                    adapter_of=adapter_of,
                )
                if _key(rec) not in done
            ]
            fh.write("".join(dumps(rec) + "\n" for rec in new))
            fh.flush()
            os.fsync(fh.fileno())
            done.update((_key(rec), rec) for rec in new)
            progress.update(len(new))
    progress.close()
    records = [done[q["id"], k] for q in questions for k in range(samples)]
    atomic_write_jsonl(out, records)
    if not keep_partial:
        drop_partial(out)
    return records


def _partial_files(out: Path) -> tuple[Path, Path]:
    return out.with_name(out.name + ".partial"), out.with_name(out.name + ".partial.meta.json")


def drop_partial(out: str | Path) -> None:
    """Remove ``out``'s partial file and its fingerprint (its run is done)."""
    for path in _partial_files(Path(out)):
        path.unlink(missing_ok=True)


def run_cost(records: list[dict], wall_s: float, usage: dict | None = None) -> dict:
    """What a generation run cost: wall time, device and tokens (for the cost columns).

    ``usage`` (from ``Generator.usage()``) adds API requests, retries and a price, if any."""
    import torch

    cuda = torch.cuda.is_available()
    cost = {
        "wall_time_s": round(wall_s, 3),
        "device": torch.cuda.get_device_name(0) if cuda else "cpu",
        "device_count": torch.cuda.device_count() if cuda else 1,
        # answers with `samples_per_question` > 1 are numbered: the first of each is a question
        "questions": sum(r.get("sample", 0) == 0 for r in records),
        "samples": len(records),
        "prompt_tokens": sum(r["prompt_tokens"] for r in records),
        "completion_tokens": sum(r["completion_tokens"] for r in records),
    }
    for key in ("requests", "retries", "api_cost_usd"):
        if usage and key in usage:
            cost[key] = usage[key]
    return cost
