"""Where everything lives under ``results/``: one place for the folder layout.

A job is keyed by its output path below ``results/`` (``results/<key>``). Shared stages (data,
tiny models, warmed-up teachers, teachers' generated traces) live directly under ``results/``,
each in a folder named by a short fingerprint of exactly the settings that make it, so a config
that makes one differently writes beside it and one that makes it alike reuses it; everything a
config trains, evaluates or curates lives under its namespace (``results/<namespace>/``), so
ablations never overwrite each other. Every planner builds its paths with these helpers, never
with its own f-strings.

No output lies inside another: a model's or an evaluation's folder ends in a leaf of its own
(``.../<name>/model``, ``.../<name>/eval``), so a chain that is a prefix of another (a teacher's
student named like another chain's intermediate) never nests one folder in another;
:func:`cmoe.plan.layout.check_layout` checks every plan before its first job.
"""

from __future__ import annotations

import os

from .io import digest

RESULTS = "results"
TRAIN_SPLIT = f"{RESULTS}/data/train.jsonl"
TEST_SPLIT = f"{RESULTS}/data/test.jsonl"
DATA_SUMMARY = f"{RESULTS}/data/summary.json"
FEWSHOT_POOL = f"{RESULTS}/data/fewshot.jsonl"  # MERA's few-shot pool (cmoe prepare-fewshot)


def results_path(key: str) -> str:
    return f"{RESULTS}/{key}"


def results_key(path: str) -> str:
    """The key of a path below results/ (the inverse of :func:`results_path`)."""
    return path.removeprefix(f"{RESULTS}/")


MODEL = "model"  # the leaf of every trained model's folder
EVAL = "eval"  # the leaf of every evaluation's folder (predictions.jsonl, scores.json)


def join(*parts: str) -> str:
    """A key from its folder levels (one level per wildcard: teacher, intermediate, ...)."""
    return "/".join(p for p in parts if p)


# --- shared stages (no namespace) ----------------------------------------------------------------


def fingerprint(settings) -> str:
    """A shared stage's folder name: a short digest of exactly the settings that make it."""
    return digest(settings, 10)


def tiny_model(name: str, fingerprint: str) -> str:
    """A tiny model built from its spec: models/tiny/<name>/<fingerprint of the spec>."""
    return join("models", "tiny", name, fingerprint)


def warmup_model(teacher: str, fingerprint: str) -> str:
    """A demo teacher warmed up: models/warmup/<teacher>/<fingerprint of its training job>."""
    return join("models", "warmup", teacher, fingerprint)


def generated_dir(teacher: str, fingerprint: str) -> str:
    """A teacher's generated traces: traces/teacher/<teacher>/<fingerprint of its generation>."""
    return join("traces", "teacher", teacher, fingerprint)


def teacher_shard(generated: str, domain: str, index: int, count: int) -> str:
    """One shard's stem in a :func:`generated_dir`: <stem>.raw.jsonl and <stem>.cost.json."""
    return join(generated, "shards", domain, f"{index}-of-{count}")


def generated_traces(generated: str, domain: str) -> str:
    """A domain's gathered shards in a :func:`generated_dir`: <stem>.raw.jsonl."""
    return join(generated, domain)


# --- a namespace's own outputs -------------------------------------------------------------------


def teacher_dir(ns: str, teacher: str) -> str:
    """A teacher's traces as a run curates them: <ns>/traces/teacher/<teacher>/ (its domains'
    <stem>.jsonl and <stem>.stats.json, stats.json, contamination.json)."""
    return join(ns, "traces", "teacher", teacher)


def teacher_traces(ns: str, teacher: str, domain: str) -> str:
    """A domain's curated stem: <stem>.jsonl (kept) and <stem>.stats.json."""
    return join(teacher_dir(ns, teacher), domain)


def data_card(ns: str) -> str:
    """The golden dataset's card: the run's teachers' traces as it curates them, and its extra
    sources (<ns>/data/card.md)."""
    return join(ns, "data", "card.md")


def models(ns: str, role: str, *parts: str) -> str:
    """A trained model: <ns>/models/<role>/<teacher>/.../model (role: student/<method>,
    generalist, specialist, ...)."""
    return join(ns, "models", role, *parts, MODEL)


def model_label(ns: str, key: str) -> str:
    """A trained model's name in the benchmark table: its folder below <ns>/models/, without
    the leaf (student/<method>/<teacher>/.../<student>)."""
    return key.removeprefix(join(ns, "models") + "/").removesuffix("/" + MODEL)


def traces(ns: str, role: str, *parts: str) -> str:
    """An intermediate's traces: <ns>/traces/<role>/<teacher>/<intermediate>/<domain or group>."""
    return join(ns, "traces", role, *parts)


def evaluation(ns: str, role: str, *parts: str) -> str:
    """An evaluated model or mixture: <ns>/eval/<role>/.../eval: predictions.jsonl +
    scores.json."""
    return join(ns, "eval", role, *parts, EVAL)


def benchmark(ns: str, task: str, label: str) -> str:
    """One lm-eval task on one model (its :func:`model_label`, or base/<model>):
    <ns>/eval_bench/<task>/<label>/eval."""
    return join(ns, "eval_bench", task, label, EVAL)


def looks_like_path(value: str) -> bool:
    """A local folder, not a hub id ("org/name" or "name")."""
    return (
        value.startswith(("/", "./", "../", "~"))
        or value.count("/") > 1
        or value.endswith("/")
        or os.sep != "/"
        and os.sep in value
    )
