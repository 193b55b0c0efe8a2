"""Where everything lives under ``results/``: one place for the folder layout.

A job is keyed by its output path below ``results/`` (``results/<key>``). Shared stages (data,
tiny models, teacher traces) live directly under ``results/``; everything a config trains or
evaluates lives under its namespace (``results/<namespace>/``), so ablations never overwrite
each other. Every planner builds its paths with these helpers, never with its own f-strings.
"""

from __future__ import annotations

import os

RESULTS = "results"
TRAIN_SPLIT = f"{RESULTS}/data/train.jsonl"
TEST_SPLIT = f"{RESULTS}/data/test.jsonl"
DATA_SUMMARY = f"{RESULTS}/data/summary.json"
FEWSHOT_POOL = f"{RESULTS}/data/fewshot.jsonl"  # MERA's few-shot pool (cmoe prepare-fewshot)
DATA_CARD = f"{RESULTS}/data/card.md"


def results_path(key: str) -> str:
    return f"{RESULTS}/{key}"


def results_key(path: str) -> str:
    """The key of a path below results/ (the inverse of :func:`results_path`)."""
    return path.removeprefix(f"{RESULTS}/")


def join(*parts: str) -> str:
    """A key from its folder levels (one level per wildcard: teacher, intermediate, ...)."""
    return "/".join(p for p in parts if p)


# --- shared stages (no namespace) ----------------------------------------------------------------


def tiny_model(name: str) -> str:
    return join("models", "tiny", name)


def warmup_model(teacher: str) -> str:
    return join("models", "warmup", teacher)


def teacher_dir(teacher: str) -> str:
    return join("traces", "teacher", teacher)


def teacher_shard(teacher: str, domain: str, index: int, count: int) -> str:
    """One shard's stem: <stem>.raw.jsonl and <stem>.cost.json."""
    return join(teacher_dir(teacher), "shards", domain, f"{index}-of-{count}")


def teacher_traces(teacher: str, domain: str) -> str:
    """A domain's stem: <stem>.raw.jsonl (gathered), <stem>.jsonl (kept), <stem>.stats.json."""
    return join(teacher_dir(teacher), domain)


# --- a namespace's own outputs -------------------------------------------------------------------


def models(ns: str, role: str, *parts: str) -> str:
    """A trained model: <ns>/models/<role>/<teacher>/... (role: student/<method>, generalist,
    specialist, ...)."""
    return join(ns, "models", role, *parts)


def traces(ns: str, role: str, *parts: str) -> str:
    """An intermediate's traces: <ns>/traces/<role>/<teacher>/<intermediate>/<domain or group>."""
    return join(ns, "traces", role, *parts)


def evaluation(ns: str, role: str, *parts: str) -> str:
    """An evaluated model or mixture: <ns>/eval/<role>/...: predictions.jsonl + scores.json."""
    return join(ns, "eval", role, *parts)


def looks_like_path(value: str) -> bool:
    """A local folder, not a hub id ("org/name" or "name")."""
    return (
        value.startswith(("/", "./", "../", "~"))
        or value.count("/") > 1
        or value.endswith("/")
        or os.sep != "/"
        and os.sep in value
    )
